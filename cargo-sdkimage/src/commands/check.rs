//! `check`: images (of the workspace, or named by reference) against their SDK's contract;
//! `build --check`: each built image, before anything is pushed.

use std::sync::Arc;

use futures_util::StreamExt;

use super::{Loaded, Target};
use crate::check::{self, CheckOptions, ImageCheck, Requirement, record};
use crate::engine::{Engine, EngineApi};
use crate::error::{Error, Result};
use crate::interrupt::Interrupt;
use crate::output::Note;
use crate::output::{Counts, Event, EventSink, Outcome, event};
use crate::plan::ImageIndex;
use crate::plan::contract::{self, ImageContract};
use crate::reference::ImageRef;
use crate::registry::Registries;
use crate::run::{ImageResult, Session};

/// `check`'s options.
#[derive(Debug, Clone)]
pub struct CheckCommand {
    pub check: CheckOptions,
    /// `--contract-of SELECTOR`: the contract image refs named on the command line are
    /// checked against.
    pub contract_of: Option<String>,
    /// `--anonymous`: also check that the registry serves each image's refs without
    /// credentials.
    pub anonymous: bool,
    /// Images checked at the same time.
    pub jobs: usize,
}

/// What one check is about: an image of the workspace, or a ref named on the command line.
struct Subject {
    /// The image name (or the ref), as events name it.
    name: String,
    language: String,
    variant: Option<String>,
    refs: Vec<ImageRef>,
    contract: ImageContract,
}

impl Subject {
    fn subject(&self) -> event::Subject {
        event::Subject {
            image: self.name.clone(),
            language: self.language.clone(),
            variant: self.variant.clone(),
            refs: self.refs.iter().map(ToString::to_string).collect(),
        }
    }
}

/// `check [SELECTOR | REF]...`: each image against its contract; exit 1 when any requirement
/// is not met.
pub async fn check(
    target: &Target,
    cmd: &CheckCommand,
    reporter: Arc<dyn EventSink>,
    mut interrupt: Interrupt,
) -> Result<()> {
    // Selectors are resolved below, where a word that names no image may be a reference.
    let mut everything = target.clone();
    everything.selectors.clear();
    // References need no manifest: a workspace without one still checks them.
    let l = super::load_with(&everything, true)?;
    if target.selectors.is_empty() && l.plan.manifests.is_empty() {
        return Err(Error::Usage(super::no_manifests(&l.ws.root)));
    }
    let subjects = subjects(&l, target, cmd)?;
    let engine = Engine::connect().await?;
    let registries = match cmd.anonymous {
        true => Some(Registries::from_env()?.with_insecure(&engine.insecure_registries().await?)),
        false => None,
    };
    let started = std::time::Instant::now();
    let work = check_all(&engine, registries.as_ref(), &subjects, cmd, &*reporter);
    // A signal drops the checks; their containers are removed before the process exits.
    let (passed, failed) = tokio::select! {
        done = work => done?,
        signal = interrupt.wait() => return Err(Error::Interrupted(signal)),
    };
    let counts = Counts {
        checked: passed,
        failed: failed.len(),
        ..Counts::default()
    };
    reporter.summary(&counts, None, started.elapsed());
    reporter.note(Note::Checked {
        passed,
        failed: failed.len(),
    });
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::Failed(format!(
            "{} image(s) do not meet their contract: {}",
            failed.len(),
            failed.join(", ")
        )))
    }
}

/// Check every subject (up to `jobs` at once), reporting each in order; the number that
/// passed and the names of those that did not.
async fn check_all(
    engine: &dyn EngineApi,
    registries: Option<&Registries>,
    subjects: &[Subject],
    cmd: &CheckCommand,
    reporter: &dyn EventSink,
) -> Result<(usize, Vec<String>)> {
    let mut checks = futures_util::stream::iter(subjects)
        .map(|s| async move {
            let image = s.refs[0].to_string();
            let mut checked = check::check_image(engine, &image, &s.contract, &cmd.check).await;
            if let (Ok(c), Some(registries)) = (&mut checked, registries) {
                for r in &s.refs {
                    c.requirements.push(anonymous_pull(registries, r).await?);
                }
            }
            Ok::<_, Error>((s, checked))
        })
        .buffered(cmd.jobs.max(1));
    let mut passed = 0;
    let mut failed = Vec::new();
    while let Some(done) = checks.next().await {
        let (subject, checked) = done?;
        match checked {
            Ok(c) => {
                if c.requirements.is_empty() {
                    reporter.note(Note::NothingToCheck {
                        image: subject.name.clone(),
                    });
                }
                report(reporter, &c, subject.subject());
                if c.passed() {
                    passed += 1;
                } else {
                    failed.push(subject.name.clone());
                }
            }
            // Not in the engine, say: this image fails, the others are still checked.
            Err(Error::Failed(m)) => {
                reporter.event(&Event::Failed(event::Failed::new(subject.subject(), m)));
                failed.push(subject.name.clone());
            }
            Err(e) => return Err(e),
        }
    }
    Ok((passed, failed))
}

/// One `check-passed` / `check-failed` event per requirement.
fn report(reporter: &dyn EventSink, c: &ImageCheck, subject: event::Subject) {
    for r in &c.requirements {
        let check = event::Check {
            subject: subject.clone(),
            id: c.id.clone(),
            message: r.message.clone(),
            requirement: r.name.clone(),
            output: r.output.clone(),
        };
        reporter.event(&match r.passed {
            true => Event::CheckPassed(check),
            false => Event::CheckFailed(check),
        });
    }
}

/// `--anonymous`: the registry serves `r` to a client that sends no credentials.
async fn anonymous_pull(registries: &Registries, r: &ImageRef) -> Result<Requirement> {
    let name = format!("anonymous pull {r}");
    let client = registries.anonymous_client(r.registry()).await?;
    let (passed, message) = match client.head_manifest(&r.path(), &r.tag).await {
        Ok(Some(digest)) => (true, format!("served without credentials ({digest})")),
        Ok(None) => (false, format!("the registry has no {r}")),
        Err(Error::Failed(m)) => (false, format!("not served without credentials: {m}")),
        Err(e) => return Err(e),
    };
    Ok(Requirement {
        name,
        passed,
        message,
        output: String::new(),
    })
}

/// The images the command line names, each with its contract: images of the workspace by
/// selector (none: all), and image refs, whose contract is `--contract-of`'s, else that of
/// the workspace image with the same repository.
fn subjects(l: &Loaded, target: &Target, cmd: &CheckCommand) -> Result<Vec<Subject>> {
    let version = l.ws.version.as_deref();
    let mut images: Vec<ImageIndex> = Vec::new();
    let mut refs: Vec<ImageRef> = Vec::new();
    if target.selectors.is_empty() {
        // What `build` would build here (in a member folder: what is at or below it).
        images = l.selection.clone();
    }
    for word in &target.selectors {
        match l.plan.named(std::slice::from_ref(word), &target.cwd) {
            Ok(found) => {
                for i in found {
                    if !images.contains(&i) {
                        images.push(i);
                    }
                }
            }
            Err(Error::Usage(m)) => match ImageRef::parse_or_latest(word) {
                Ok(r) => refs.push(r),
                Err(_) => {
                    return Err(Error::Usage(format!(
                        "{m}; or an image reference (`registry/name:tag`) to check"
                    )));
                }
            },
            Err(e) => return Err(e),
        }
    }
    let contracts = contract::effective_all(&l.plan, &images, version)?;
    let mut subjects = Vec::new();
    for (&i, c) in images.iter().zip(contracts) {
        let img = l.plan.image(i);
        subjects.push(Subject {
            name: img.name.clone(),
            language: img.language.clone(),
            variant: img.variant.clone(),
            refs: img.refs.clone(),
            contract: c.map(|c| c.contract).unwrap_or_default(),
        });
    }
    let named = match &cmd.contract_of {
        None => None,
        Some(_) if refs.is_empty() => {
            return Err(Error::Usage(
                "--contract-of is for image refs named on the command line (not images of this workspace, which have their own); name one".into(),
            ));
        }
        Some(selector) => Some(contract_of(l, selector, &target.cwd)?),
    };
    for r in refs {
        let (i, c) = match &named {
            Some((i, c)) => (*i, Some(c.clone())),
            None => {
                let ours = l.plan.indexes().find(|&i| {
                    l.plan
                        .image(i)
                        .refs
                        .iter()
                        .any(|o| o.repository == r.repository)
                });
                let Some(i) = ours else {
                    return Err(Error::Usage(format!(
                        "{r} is not an image of this workspace, so no contract applies to it: name the SDK image whose contract it must meet with --contract-of SELECTOR (e.g. --contract-of python:3.11)"
                    )));
                };
                let c = contract::effective(&l.plan, i, version).map_err(Error::invalid)?;
                (i, c.map(|c| c.contract))
            }
        };
        let img = l.plan.image(i);
        subjects.push(Subject {
            name: r.to_string(),
            language: img.language.clone(),
            variant: img.variant.clone(),
            refs: vec![r],
            contract: c.unwrap_or_default(),
        });
    }
    Ok(subjects)
}

/// `--contract-of SELECTOR`: one image of the workspace, which has a `[contract]`.
fn contract_of(
    l: &Loaded,
    selector: &str,
    cwd: &std::path::Path,
) -> Result<(ImageIndex, ImageContract)> {
    let found = l.plan.named(&[selector.to_string()], cwd)?;
    let &[i] = found.as_slice() else {
        return Err(Error::Usage(format!(
            "--contract-of {selector} names {} images ({}); name one, e.g. language:variant",
            found.len(),
            found
                .iter()
                .map(|&i| l.plan.image(i).label())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    match contract::effective(&l.plan, i, l.ws.version.as_deref()).map_err(Error::invalid)? {
        Some(c) => Ok((i, c.contract)),
        None => Err(Error::Usage(format!(
            "--contract-of {selector}: {} has no [contract] in {}",
            l.plan.image(i).label(),
            l.ws.display_path(&l.plan.manifest_of(i).path)
        ))),
    }
}

/// `build --check`: each image of `results` that was built (or is up to date) is checked
/// against its contract before anything is pushed; an image that fails is marked failed. A
/// pass is remembered with the image's state, and not checked again while the image and its
/// contract stay the same. Returns the signal that stopped the checks, if one did.
pub(super) async fn after_build(
    session: &Session,
    results: &mut [ImageResult],
    opts: &CheckOptions,
    jobs: usize,
) -> Result<Option<i32>> {
    let mut interrupt = session.interrupt.clone();
    tokio::select! {
        done = check_built(session, results, opts, jobs) => done.map(|()| None),
        signal = interrupt.wait() => Ok(Some(signal)),
    }
}

async fn check_built(
    session: &Session,
    results: &mut [ImageResult],
    opts: &CheckOptions,
    jobs: usize,
) -> Result<()> {
    let plan = &session.plan;
    let state_dir = session.ws.state_dir();
    let version = session.ws.version.as_deref();
    let done = [Outcome::Built, Outcome::UpToDate, Outcome::Retagged];
    let mut todo = Vec::new();
    for (pos, r) in results.iter().enumerate() {
        let Some(id) = r.id.clone().filter(|_| done.contains(&r.outcome)) else {
            continue;
        };
        let img = plan.image(r.image);
        let c = contract::effective(plan, r.image, version)
            .map_err(Error::invalid)?
            .map(|c| c.contract)
            .unwrap_or_default();
        if record::passed_before(&state_dir, &img.name, &id, &c) {
            session.reporter.note(Note::ContractPassedBefore {
                label: img.label(),
                id: id.clone(),
            });
            continue;
        }
        // Read on the engine that holds it (with several engines, not always the first).
        todo.push((pos, id, c, crate::run::holder(session, r)));
    }
    let mut checks = futures_util::stream::iter(todo)
        .map(|(pos, id, c, engine)| async move {
            let checked = check::check_image(engine, &id, &c, opts).await;
            (pos, c, checked)
        })
        .buffered(jobs.max(1));
    while let Some((pos, c, checked)) = checks.next().await {
        let r = &mut results[pos];
        let img = plan.image(r.image);
        let why = match checked {
            Ok(check) => {
                report(&*session.reporter, &check, img.subject());
                if check.passed() {
                    let kept = record::CheckRecord {
                        contract: record::contract_digest(&c),
                        id: check.id.clone(),
                        python: check.python,
                    };
                    record::save(&state_dir, &img.name, &kept)?;
                    continue;
                }
                format!(
                    "does not meet its contract: {}; nothing of it is pushed",
                    check.violations().join("; ")
                )
            }
            Err(Error::Failed(m)) => m,
            Err(e) => return Err(e),
        };
        record::forget(&state_dir, &img.name);
        r.outcome = Outcome::Failed;
        r.message = Some(why.clone());
        session.reporter.event(&Event::Failed(event::Failed {
            id: r.id.clone(),
            ..event::Failed::new(img.subject(), why)
        }));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Registries, anonymous_pull};
    use crate::reference::ImageRef;
    use crate::registry::DockerConfig;
    use crate::registry::testutil::TestRegistry;

    /// A registry that wants credentials fails `--anonymous`, even when the Docker config has
    /// them: none are sent.
    #[tokio::test]
    async fn anonymous_pull_sends_no_credentials() {
        let locked = TestRegistry::start_with_htpasswd("alice", "right-pass");
        use base64::Engine as _;
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:right-pass");
        let text = format!(
            r#"{{"auths": {{"http://{}": {{"auth": "{auth}"}}}}}}"#,
            locked.host()
        );
        let config =
            DockerConfig::parse(std::path::Path::new("/test/config.json"), &text, vec![]).unwrap();
        let registries = Registries::new(config, Default::default());
        let r = ImageRef::new(&format!("{}/sdk/runtime", locked.host()), "1").unwrap();
        let checked = anonymous_pull(&registries, &r).await.unwrap();
        assert!(!checked.passed, "{checked:?}");
        assert_eq!(checked.name, format!("anonymous pull {r}"));
        assert!(
            checked
                .message
                .starts_with("not served without credentials"),
            "{}",
            checked.message
        );
        // Without auth, a missing image is named as missing.
        let open = TestRegistry::start();
        let r = ImageRef::new(&format!("{}/sdk/runtime", open.host()), "1").unwrap();
        let checked = anonymous_pull(&registries, &r).await.unwrap();
        assert!(!checked.passed);
        assert!(checked.message.contains("has no"), "{}", checked.message);
    }

    #[test]
    fn refs_on_the_command_line() {
        // As docker reads them: `latest` when no tag is written, no digests.
        let parse_ref = |word: &str| ImageRef::parse_or_latest(word).ok();
        let r = parse_ref("localhost:5000/sdk/python:3.11").unwrap();
        assert_eq!(
            (r.repository.as_str(), r.tag.as_str()),
            ("localhost:5000/sdk/python", "3.11")
        );
        let r = parse_ref("localhost:5000/sdk").unwrap();
        assert_eq!(
            (r.repository.as_str(), r.tag.as_str()),
            ("localhost:5000/sdk", "latest")
        );
        assert!(parse_ref("busybox@sha256:abc").is_none());
        assert!(parse_ref("Upper/Case:1").is_none());
    }
}
