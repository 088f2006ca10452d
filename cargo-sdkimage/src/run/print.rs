//! `build --print`: what a build would do with each image, found by the scheduler's own checks
//! ([`image::check_one`]: the same inputs, fingerprint and recorded state), with nothing
//! prepared, built, tagged or recorded; and, for an image that is not up to date, why.

use std::collections::{BTreeMap, BTreeSet};

use super::image;
use super::status::Found;
use super::{BuildOptions, Session};
use crate::error::{Error, Result};
use crate::fingerprint::{FileStamp, ImageState, InputDigests, StateStore};
use crate::output::{BuildPrint, PlanStatus, PlatformCheck, PrintedImage, SCHEMA};
use crate::plan::{BuildPlan, ImageIndex};
use crate::report::short_id;
use crate::workspace::Workspace;

/// The reason of an image whose `[[prepare]]` steps make an input that does not exist yet.
pub const PREPARE_NOT_RUN: &str = "unknown: prepare steps have not run";

/// The reason of every image when no engine answers.
pub const NO_ENGINE: &str =
    "unknown: no engine answers, so nothing can be compared with the images it holds";

/// The plan of `selection` with what a build would do with each image, asking the engine of
/// `session` as the scheduler does.
pub async fn print(
    session: &Session,
    selection: &[ImageIndex],
    opts: &BuildOptions,
) -> Result<BuildPrint> {
    let plan = &session.plan;
    let store = StateStore::new(&session.ws.state_dir());
    let selected: BTreeSet<ImageIndex> = selection.iter().copied().collect();
    // The id each image will have once the build reaches it, where that is known now (it is
    // up to date); a dependant of any other image depends on the id its build gives.
    let mut known: BTreeMap<ImageIndex, String> = BTreeMap::new();
    let mut images = Vec::new();
    for &i in selection {
        let img = plan.image(i);
        let platforms = if img.platforms.is_empty() {
            vec![session.native.to_string()]
        } else {
            img.platforms.iter().map(ToString::to_string).collect()
        };
        let builder = session.builder(i).as_str();
        let mut printed = describe(&session.ws, plan, i, builder, platforms.clone(), opts);
        let m = plan.manifest_of(i);
        let unmade: Vec<String> = m
            .copies_for(img.variant.as_deref())
            .filter(|c| !m.prepare.is_empty() && !c.from.exists())
            .map(|c| session.ws.display_path(&c.from))
            .collect();
        if !unmade.is_empty() {
            let reason = format!(
                "{PREPARE_NOT_RUN} (they make {}, which does not exist yet)",
                unmade.join(", ")
            );
            settle(&mut printed, unknown_checks(&platforms, &reason));
            images.push(printed);
            continue;
        }
        if !m.prepare.is_empty() {
            printed.note = Some(
                "its [[prepare]] steps did not run: the status holds for their outputs as they are now, and a build runs them first".into(),
            );
        }
        let deps: Vec<ImageIndex> = img
            .deps
            .iter()
            .copied()
            .filter(|d| selected.contains(d))
            .collect();
        let dep_ids: BTreeMap<ImageIndex, String> = deps
            .iter()
            .filter_map(|d| Some((*d, known.get(d)?.clone())))
            .collect();
        let pending: Vec<ImageIndex> = deps
            .iter()
            .copied()
            .filter(|d| !dep_ids.contains_key(d))
            .collect();
        let (checks, main) = match image::check_one(session, &store, i, &dep_ids, opts).await {
            Ok(found) => (
                found
                    .iter()
                    .map(|f| judge(plan, i, f, &pending, opts, &session.native))
                    .collect::<Vec<_>>(),
                found.iter().position(|f| f.carries_refs),
            ),
            Err(e @ Error::Unreachable(_)) => return Err(e),
            // What the build would fail on (an unreadable context) is said, not fatal here.
            Err(e) => (
                unknown_checks(&platforms, &format!("cannot be checked: {e}")),
                None,
            ),
        };
        // A dependant counts the image the refs point at, as the scheduler gives it.
        if let Some(id) = main.and_then(|k| checks[k].id.clone()) {
            known.insert(i, id);
        }
        settle(&mut printed, checks);
        images.push(printed);
    }
    Ok(BuildPrint {
        schema: SCHEMA,
        images,
    })
}

/// The plan alone, when no engine answers: nothing can be compared with what it holds, so
/// every image is `unknown` (and has no per-platform checks).
pub fn print_without_engine(
    ws: &Workspace,
    plan: &BuildPlan,
    selection: &[ImageIndex],
    opts: &BuildOptions,
) -> BuildPrint {
    let images = selection
        .iter()
        .map(|&i| {
            let img = plan.image(i);
            let platforms = img.platforms.iter().map(ToString::to_string).collect();
            let mut printed = describe(ws, plan, i, &img.builder, platforms, opts);
            printed.reasons = vec![NO_ENGINE.to_string()];
            printed
        })
        .collect();
    BuildPrint {
        schema: SCHEMA,
        images,
    }
}

/// What the plan says of image `i`, before any check.
fn describe(
    ws: &Workspace,
    plan: &BuildPlan,
    i: ImageIndex,
    builder: &str,
    platforms: Vec<String>,
    opts: &BuildOptions,
) -> PrintedImage {
    let img = plan.image(i);
    let m = plan.manifest_of(i);
    // The manifest's and `--secret`'s, as the build would serve them.
    let mut secrets: BTreeSet<String> = m.secrets.keys().cloned().collect();
    secrets.extend(opts.secrets.iter().map(|s| s.id.clone()));
    PrintedImage {
        name: img.name.clone(),
        language: img.language.clone(),
        variant: img.variant.clone(),
        refs: img.refs.iter().map(ToString::to_string).collect(),
        manifest: ws.display_path(&m.path),
        dockerfile: ws.display_path(&m.dockerfile),
        context: ws.display_path(&m.context),
        depends_on: img
            .deps
            .iter()
            .map(|&d| plan.image(d).name.clone())
            .collect(),
        platforms,
        target: img.target.clone(),
        builder: builder.to_string(),
        build_args: img
            .build_args
            .iter()
            .map(|(k, v)| (k.clone(), super::shown_arg(k, v).to_string()))
            .collect(),
        secrets: secrets.into_iter().collect(),
        prepare: m
            .prepare
            .iter()
            .map(|p| super::shell_words(&p.run))
            .collect(),
        status: PlanStatus::Unknown,
        reasons: Vec::new(),
        note: None,
        checks: Vec::new(),
        engine: None,
    }
}

/// Every platform unknown, for one reason.
fn unknown_checks(platforms: &[String], reason: &str) -> Vec<PlatformCheck> {
    platforms
        .iter()
        .map(|p| PlatformCheck {
            platform: p.clone(),
            status: PlanStatus::Unknown,
            reasons: vec![reason.to_string()],
            id: None,
            fingerprint: None,
        })
        .collect()
}

/// The image's status is its least settled platform's; its reasons are theirs (prefixed with
/// the platform when there are several).
fn settle(printed: &mut PrintedImage, checks: Vec<PlatformCheck>) {
    printed.status = checks
        .iter()
        .map(|c| c.status)
        .max()
        .unwrap_or(PlanStatus::Unknown);
    let several = checks.len() > 1;
    printed.reasons = checks
        .iter()
        .flat_map(|c| {
            c.reasons.iter().map(move |r| match several {
                true => format!("{}: {r}", c.platform),
                false => r.clone(),
            })
        })
        .collect();
    printed.checks = checks;
}

/// What a build would do with one platform of image `i`, and why. `pending` are the
/// dependencies whose id is known only once they are built.
fn judge(
    plan: &BuildPlan,
    i: ImageIndex,
    f: &Found,
    pending: &[ImageIndex],
    opts: &BuildOptions,
    native: &crate::reference::Platform,
) -> PlatformCheck {
    let c = &f.check;
    let platform = f.platform.as_ref().unwrap_or(native).to_string();
    let done = |status, reasons: Vec<String>, id: Option<String>| PlatformCheck {
        platform: platform.clone(),
        status,
        reasons,
        id,
        fingerprint: Some(c.fingerprint.clone()),
    };
    if opts.force {
        let why = if opts.no_cache {
            "--no-cache rebuilds it"
        } else {
            "--force rebuilds it"
        };
        return done(PlanStatus::Build, vec![why.into()], None);
    }
    let Some(prev) = &c.recorded else {
        let why = "no recorded build: never built here, or its last build failed or was cancelled";
        return done(PlanStatus::Build, vec![why.into()], None);
    };
    let mut reasons: Vec<String> = c
        .bases
        .iter()
        .zip(&c.inputs.bases)
        .filter(|(_, id)| *id == "absent")
        .map(|(name, _)| format!("base image {name} is not in the engine: the build pulls it"))
        .collect();
    let img = plan.image(i);
    if !pending.is_empty() {
        let skip_args: BTreeSet<&str> = img
            .image_args
            .iter()
            .filter(|(_, d)| pending.contains(d))
            .map(|(k, _)| k.as_str())
            .collect();
        reasons.extend(changes(plan, i, prev, f, &skip_args, true).unwrap_or_default());
        if !reasons.is_empty() {
            return done(PlanStatus::Build, reasons, None);
        }
        let names: Vec<&str> = pending
            .iter()
            .map(|&d| plan.image(d).name.as_str())
            .collect();
        let why = format!(
            "depends on {}, which is not up to date: this image is up to date only if that build gives the image id it had",
            names.join(", ")
        );
        return done(PlanStatus::Unknown, vec![why], None);
    }
    if c.standing {
        if f.refs_elsewhere.is_empty() {
            return done(PlanStatus::UpToDate, Vec::new(), Some(prev.id.clone()));
        }
        let why = format!(
            "up to date; {} will be pointed at {}",
            f.refs_elsewhere.join(", "),
            short_id(&prev.id)
        );
        return done(PlanStatus::Retag, vec![why], Some(prev.id.clone()));
    }
    if reasons.is_empty() && prev.fingerprint == c.fingerprint {
        reasons.push(format!(
            "its inputs are unchanged, but the recorded image {} is no longer in the engine",
            short_id(&prev.id)
        ));
    } else if reasons.is_empty() {
        reasons = changes(plan, i, prev, f, &BTreeSet::new(), false).unwrap_or_else(|| {
            vec![
                "its inputs changed (its recorded build predates the record of which input did)"
                    .into(),
            ]
        });
        if reasons.is_empty() {
            reasons.push("its inputs changed".into());
        }
    }
    done(PlanStatus::Build, reasons, None)
}

/// Which inputs differ from the recorded build's, in words; `None` when the record does not
/// say (a state written before inputs were recorded). Build args in `skip_args` and, with
/// `skip_deps`, the dependencies' ids are left out (they are not known yet).
fn changes(
    plan: &BuildPlan,
    i: ImageIndex,
    prev: &ImageState,
    f: &Found,
    skip_args: &BTreeSet<&str>,
    skip_deps: bool,
) -> Option<Vec<String>> {
    let before = prev.inputs.as_ref()?;
    let now: &InputDigests = &f.check.digests;
    let mut out = Vec::new();
    if before.context != now.context {
        out.push(context_change(&prev.files, &f.files));
    }
    if before.dockerfile != now.dockerfile {
        out.push(format!(
            "the Dockerfile is now {} in the context (was {})",
            now.dockerfile, before.dockerfile
        ));
    }
    let names: BTreeSet<&String> = before
        .build_args
        .keys()
        .chain(now.build_args.keys())
        .collect();
    for name in names {
        if skip_args.contains(name.as_str()) {
            continue;
        }
        match (before.build_args.get(name), now.build_args.get(name)) {
            (None, Some(_)) => out.push(format!("build arg {name} is new")),
            (Some(_), None) => out.push(format!("build arg {name} was removed")),
            (Some(a), Some(b)) if a != b => out.push(format!("build arg {name} changed")),
            _ => {}
        }
    }
    let labels: BTreeSet<&String> = before.labels.keys().chain(now.labels.keys()).collect();
    for name in labels {
        if before.labels.get(name) != now.labels.get(name) {
            out.push(format!("label {name} changed"));
        }
    }
    if before.inline_cache != now.inline_cache {
        out.push("the inline cache export changed".into());
    }
    if !skip_deps && before.dependency_ids != now.dependency_ids {
        let deps: Vec<&str> = plan
            .image(i)
            .deps
            .iter()
            .map(|&d| plan.image(d).name.as_str())
            .collect();
        out.push(format!(
            "a dependency's image changed ({}: {} -> {})",
            deps.join(", "),
            short_ids(&before.dependency_ids),
            short_ids(&now.dependency_ids)
        ));
    }
    if before.bases != now.bases {
        let changed: Vec<String> = f
            .check
            .bases
            .iter()
            .enumerate()
            .filter(|(k, _)| before.bases.get(*k) != now.bases.get(*k))
            .map(|(_, name)| name.clone())
            .collect();
        out.push(format!(
            "its base images changed in the engine ({}: {} -> {})",
            changed.join(", "),
            short_ids(&before.bases),
            short_ids(&now.bases)
        ));
    }
    match (&before.licenses, &now.licenses) {
        (None, Some(_)) => out.push("--pull-licenses adds its licenses layer".into()),
        (Some(_), None) => out.push("built with --pull-licenses before, without now".into()),
        (Some(a), Some(b)) if a != b => out.push(
            "its license inputs changed ([licenses], the licenses folder or Cargo.lock)".into(),
        ),
        _ => {}
    }
    let mut differs = |what: &str, a: Option<&str>, b: Option<&str>| {
        if a != b {
            let show = |v: Option<&str>| v.unwrap_or("none").to_string();
            out.push(format!("{what} changed ({} -> {})", show(a), show(b)));
        }
    };
    differs(
        "the builder",
        Some(before.builder.as_str()),
        Some(now.builder.as_str()),
    );
    differs(
        "the platform",
        before.platform.as_deref(),
        now.platform.as_deref(),
    );
    differs(
        "the target stage",
        before.target.as_deref(),
        now.target.as_deref(),
    );
    Some(out)
}

/// The context's files that differ from the recorded build's, named (a few of each kind).
fn context_change(
    before: &BTreeMap<String, FileStamp>,
    now: &BTreeMap<String, FileStamp>,
) -> String {
    let modified: Vec<&str> = now
        .iter()
        .filter(|(p, s)| before.get(*p).is_some_and(|b| b.hash != s.hash))
        .map(|(p, _)| p.as_str())
        .collect();
    let added: Vec<&str> = now
        .keys()
        .filter(|p| !before.contains_key(*p))
        .map(String::as_str)
        .collect();
    let removed: Vec<&str> = before
        .keys()
        .filter(|p| !now.contains_key(*p))
        .map(String::as_str)
        .collect();
    let mut parts = Vec::new();
    for (what, paths) in [
        ("modified", modified),
        ("added", added),
        ("removed", removed),
    ] {
        if paths.is_empty() {
            continue;
        }
        const SHOWN: usize = 5;
        let mut text = paths[..paths.len().min(SHOWN)].join(", ");
        if paths.len() > SHOWN {
            text.push_str(&format!(" and {} more", paths.len() - SHOWN));
        }
        parts.push(format!("{what} {text}"));
    }
    if parts.is_empty() {
        "its context changed (a file's mode, a folder or a link)".into()
    } else {
        format!("its context changed: {}", parts.join("; "))
    }
}

fn short_ids(ids: &[String]) -> String {
    let shown: Vec<&str> = ids
        .iter()
        .map(|id| {
            if id == "absent" {
                "absent"
            } else {
                short_id(id)
            }
        })
        .collect();
    match shown.as_slice() {
        [] => "none".into(),
        _ => shown.join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn stamp(hash: &str) -> FileStamp {
        FileStamp {
            size: 1,
            mtime_ns: 0,
            inode: 0,
            hash: Sha256::digest(hash).into(),
            ctime_ns: None,
        }
    }

    #[test]
    fn context_changes_name_the_files() {
        let before: BTreeMap<String, FileStamp> = [("a", "1"), ("b", "2"), ("gone", "3")]
            .map(|(p, h)| (p.to_string(), stamp(h)))
            .into_iter()
            .collect();
        let mut now = before.clone();
        now.remove("gone");
        now.insert("b".into(), stamp("changed"));
        now.insert("new".into(), stamp("4"));
        assert_eq!(
            context_change(&before, &now),
            "its context changed: modified b; added new; removed gone"
        );
        assert_eq!(
            context_change(&before, &before),
            "its context changed (a file's mode, a folder or a link)"
        );
        let many: BTreeMap<String, FileStamp> =
            (0..7).map(|i| (format!("f{i}"), stamp("x"))).collect();
        assert_eq!(
            context_change(&BTreeMap::new(), &many),
            "its context changed: added f0, f1, f2, f3, f4 and 2 more"
        );
    }

    #[test]
    fn an_image_is_as_settled_as_its_least_settled_platform() {
        let check = |platform: &str, status, reason: &str| PlatformCheck {
            platform: platform.into(),
            status,
            reasons: if reason.is_empty() {
                vec![]
            } else {
                vec![reason.into()]
            },
            id: None,
            fingerprint: None,
        };
        let mut printed = PrintedImage {
            name: "x".into(),
            language: "x".into(),
            variant: None,
            refs: vec![],
            manifest: String::new(),
            dockerfile: String::new(),
            context: String::new(),
            depends_on: vec![],
            platforms: vec![],
            target: None,
            builder: "buildkit".into(),
            build_args: BTreeMap::new(),
            secrets: vec![],
            prepare: vec![],
            status: PlanStatus::Unknown,
            reasons: vec![],
            note: None,
            checks: vec![],
            engine: None,
        };
        settle(
            &mut printed,
            vec![
                check("linux/amd64", PlanStatus::UpToDate, ""),
                check("linux/arm64", PlanStatus::Retag, "new tag"),
            ],
        );
        assert_eq!(printed.status, PlanStatus::Retag);
        assert_eq!(printed.reasons, ["linux/arm64: new tag"]);
        settle(
            &mut printed,
            vec![
                check("linux/amd64", PlanStatus::Unknown, "dep"),
                check("linux/arm64", PlanStatus::Build, "changed"),
            ],
        );
        assert_eq!(printed.status, PlanStatus::Build);
        settle(
            &mut printed,
            vec![check("linux/amd64", PlanStatus::Build, "changed")],
        );
        assert_eq!(printed.reasons, ["changed"], "one platform: no prefix");
    }
}
