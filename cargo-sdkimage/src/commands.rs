//! One function per command: plain option structs in, events and a typed result out.
//! The binary's `cli.rs` builds these options from flags; nothing here knows about clap.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use crate::discover;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::fingerprint::StateLock;
use crate::manifest::Manifest;
use crate::plan::{BuildPlan, PlanOptions};
use crate::report::{self, Counts, Event, EventKind, MessageFormat, Reporter};
use crate::run::{self, BuildOptions, ImageResult, Outcome, Session};
use crate::workspace::Workspace;

/// What every command starts from: where the workspace is and what is selected.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub manifest_path: Option<PathBuf>,
    /// The folder selectors given as paths are relative to.
    pub cwd: PathBuf,
    pub selectors: Vec<String>,
    pub plan: PlanOptions,
}

/// A loaded workspace with its plan and the selected images (in build order).
pub struct Loaded {
    pub ws: Workspace,
    pub plan: BuildPlan,
    pub selection: Vec<usize>,
}

/// Find the workspace, discover and check every manifest, expand the plan, apply selectors.
/// Every manifest problem of every file is reported at once.
pub fn load(target: &Target) -> Result<Loaded> {
    let ws = Workspace::load(target.manifest_path.as_deref())?;
    let mut manifests = Vec::new();
    let mut diags = Vec::new();
    for path in discover::find_manifests(&ws.root) {
        match Manifest::load(&path, &ws.root) {
            Ok(m) => manifests.push(m),
            Err(Error::Invalid(d)) => diags.extend(d),
            Err(e) => return Err(e),
        }
    }
    if !diags.is_empty() {
        return Err(Error::Invalid(diags));
    }
    let plan = BuildPlan::new(&ws, manifests, &target.plan)?;
    let selection = plan.select(&target.selectors, &target.cwd)?;
    Ok(Loaded {
        ws,
        plan,
        selection,
    })
}

/// One entry of `list --message-format json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ListEntry {
    pub language: String,
    pub variant: Option<String>,
    pub name: String,
    pub refs: Vec<String>,
    pub manifest: String,
    pub depends_on: Vec<String>,
}

pub fn list(target: &Target) -> Result<Vec<ListEntry>> {
    let l = load(target)?;
    Ok(l.selection
        .iter()
        .map(|&i| {
            let img = &l.plan.images[i];
            ListEntry {
                language: img.language.clone(),
                variant: img.variant.clone(),
                name: img.name.clone(),
                refs: img.refs.iter().map(ToString::to_string).collect(),
                manifest: l.ws.display_path(&l.plan.manifest_of(i).path),
                depends_on: img
                    .deps
                    .iter()
                    .map(|&d| l.plan.images[d].name.clone())
                    .collect(),
            }
        })
        .collect())
}

/// Render `list` for people.
pub fn list_table(entries: &[ListEntry]) -> String {
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.name.clone(),
                match &e.variant {
                    Some(v) => format!("{}:{v}", e.language),
                    None => e.language.clone(),
                },
                e.refs.join(", "),
                e.manifest.clone(),
                if e.depends_on.is_empty() {
                    "-".into()
                } else {
                    e.depends_on.join(", ")
                },
            ]
        })
        .collect();
    report::table(
        &["IMAGE", "SELECTOR", "REFS", "MANIFEST", "DEPENDS ON"],
        &rows,
    )
}

#[derive(Debug, Clone, Default)]
pub struct BuildCommand {
    pub build: Option<BuildOptions>,
    pub dry_run: bool,
    pub metadata_file: Option<PathBuf>,
}

/// `build`: prepare, build, tag; then the summary. Exit 1 when any image failed.
pub async fn build(
    target: &Target,
    cmd: &BuildCommand,
    reporter: Arc<Reporter>,
) -> Result<Vec<ImageResult>> {
    let l = load(target)?;
    let opts = cmd.build.clone().expect("build options");
    if cmd.dry_run {
        let text = run::describe(&l.ws, &l.plan, &l.selection, &opts);
        reporter.out(&text);
        return Ok(Vec::new());
    }
    let engine = Engine::connect().await?;
    check_platforms(&engine, &l).await?;
    let _lock = StateLock::acquire(&l.ws.state_dir(), || {
        reporter.note("waiting for another cargo sdkimage run in this workspace to finish (lock: target/sdkimage/lock)")
    })?;
    let started = std::time::Instant::now();
    let session = Arc::new(Session::new(l.ws, l.plan, engine, reporter.clone()));
    run::prepare(&session, &l.selection).await?;
    let results = run::build(session.clone(), &l.selection, &opts).await?;
    if let Some(path) = &cmd.metadata_file {
        report::write_metadata(path, &metadata_of(&session.plan, &results))?;
    }
    summarize(&session, &results, started.elapsed());
    let failed: Vec<&str> = results
        .iter()
        .filter(|r| r.outcome == Outcome::Failed)
        .map(|r| session.plan.images[r.image].name.as_str())
        .collect();
    if !failed.is_empty() {
        return Err(Error::Failed(format!(
            "{} image(s) failed: {}",
            failed.len(),
            failed.join(", ")
        )));
    }
    Ok(results)
}

/// The metadata file entries of a build's results.
pub fn metadata_of(
    plan: &BuildPlan,
    results: &[ImageResult],
) -> Vec<(String, report::ImageMetadata)> {
    results
        .iter()
        .map(|r| {
            let img = &plan.images[r.image];
            let refs: Vec<String> = img.refs.iter().map(ToString::to_string).collect();
            let meta = report::ImageMetadata {
                image_name: refs.join(","),
                refs,
                id: r.id.clone(),
                digest: None,
                pushed: false,
                licenses: r.licenses,
                duration_ms: r.duration.as_millis() as u64,
                outcome: serde_json::to_value(r.outcome)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                containerimage_digest: r.id.clone(),
                containerimage_config_digest: r.id.clone(),
            };
            (img.name.clone(), meta)
        })
        .collect()
}

/// The classic builder builds the engine's own platform only.
async fn check_platforms(engine: &Engine, l: &Loaded) -> Result<()> {
    let own = engine.platform().await?;
    let mut diags = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for &i in &l.selection {
        let m = l.plan.manifest_of(i);
        if !seen.insert(&m.path) {
            continue;
        }
        for p in &m.platforms {
            if !p.get_ref().starts_with(&own) {
                diags.push(m.diag(
                    p.span(),
                    format!("platform `{}` cannot be built: the engine's classic builder builds only its own platform, {own}", p.get_ref()),
                ));
            }
        }
    }
    if diags.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(diags))
    }
}

fn summarize(session: &Session, results: &[ImageResult], elapsed: std::time::Duration) {
    let mut counts = Counts::default();
    for r in results {
        match r.outcome {
            Outcome::Built => counts.built += 1,
            Outcome::UpToDate => counts.up_to_date += 1,
            Outcome::Retagged => counts.retagged += 1,
            Outcome::Failed => counts.failed += 1,
            Outcome::Skipped => counts.skipped += 1,
        }
    }
    let reporter = &session.reporter;
    let mut summary = Event::general(EventKind::Summary, None).duration(elapsed);
    summary.counts = Some(counts.clone());
    reporter.event(&summary);
    if reporter.options().format == MessageFormat::Human {
        let rows: Vec<Vec<String>> = results
            .iter()
            .map(|r| {
                let img = &session.plan.images[r.image];
                vec![
                    img.name.clone(),
                    serde_json::to_value(r.outcome)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    report::format_duration(r.duration),
                    r.id.as_deref()
                        .map(report::short_id)
                        .unwrap_or("-")
                        .to_string(),
                ]
            })
            .collect();
        reporter.note(&format!(
            "\n{}{} built, {} up to date, {} retagged, {} failed, {} skipped in {}",
            report::table(&["IMAGE", "RESULT", "TIME", "ID"], &rows),
            counts.built,
            counts.up_to_date,
            counts.retagged,
            counts.failed,
            counts.skipped,
            report::format_duration(elapsed)
        ));
    }
}

/// `dockerfile`: the effective Dockerfile and what the context would send, for one image.
pub fn dockerfile(target: &Target) -> Result<String> {
    let l = load(target)?;
    let named = l.plan.named(&target.selectors, &target.cwd)?;
    let image = match (target.selectors.is_empty(), named.as_slice()) {
        (false, &[one]) => one,
        _ => {
            return Err(Error::Usage(format!(
                "`dockerfile` shows one image; name one of: {}",
                named
                    .iter()
                    .map(|&i| l.plan.images[i].label())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    };
    let m = l.plan.manifest_of(image);
    let img = &l.plan.images[image];
    let text = std::fs::read_to_string(&m.dockerfile)
        .map_err(|e| Error::io(format!("cannot read {}", m.dockerfile.display()), e))?;
    let spec = crate::context::ContextSpec {
        root: m.context.clone(),
        dockerfile: m.dockerfile.clone(),
        copies: m
            .copies
            .iter()
            .map(|c| crate::context::CopySpec {
                from: c.from.clone(),
                to: c.to.clone(),
            })
            .collect(),
    };
    let ctx = crate::context::collect(&spec).map_err(|e| Error::Failed(e.to_string()))?;
    let mut out = format!(
        "# {} ({})\n# dockerfile: {}\n",
        img.name,
        img.label(),
        l.ws.display_path(&m.dockerfile)
    );
    for (k, v) in &img.build_args {
        out.push_str(&format!("# --build-arg {k}={v}\n"));
    }
    out.push_str(&text);
    if !text.ends_with('\n') {
        out.push('\n');
    }
    let total: u64 = ctx.entries.iter().map(|e| e.size).sum();
    out.push_str(&format!(
        "\n# context: {} ({} entries, {} bytes)\n",
        l.ws.display_path(&m.context),
        ctx.entries.len(),
        total
    ));
    for e in &ctx.entries {
        let kind = match &e.kind {
            crate::context::EntryKind::Dir => "dir ".to_string(),
            crate::context::EntryKind::File => format!("{:>10}", e.size),
            crate::context::EntryKind::Symlink { target } => format!("-> {target}"),
        };
        out.push_str(&format!("{:04o} {kind:>10}  {}\n", e.mode & 0o7777, e.path));
    }
    Ok(out)
}
