//! One function per command: plain option structs in, events and a typed result out; each
//! command (or group of commands) in its own submodule. Here: loading the workspace and the
//! plan, and what the publishing commands share (their registries, their summary).
//! The binary's `cli.rs` builds these options from flags; nothing here knows about clap.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::output::Note;
use crate::output::{Counts, EventSink, Tally};
use crate::plan::{BuildPlan, ImageIndex, PlanOptions};
use crate::registry::Registries;
use crate::workspace::Workspace;
use crate::{context, discover};

mod build;
mod cargo_sources;
mod check;
mod custom;
pub mod diff;
mod dockerfile;
mod licenses;
mod list;
mod print;
mod promote;
mod push;
mod push_metadata;
mod sbom;
mod setup;
mod verify;

pub use build::{BuildCommand, build, metadata_of};
use cargo_sources::check_cargo_sources;
pub use check::{CheckCommand, check};
pub use dockerfile::{dockerfile, dockerfiles};
pub use licenses::licenses;
pub use list::list;
pub use promote::promote;
pub use push::push;
pub use verify::{KeyCheck, verify};

pub use setup::{EngineFacts, check_builders};

/// What every command starts from: where the workspace is and what is selected.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub manifest_path: Option<PathBuf>,
    /// The folder selectors given as paths are relative to.
    pub cwd: PathBuf,
    pub selectors: Vec<String>,
    pub plan: PlanOptions,
    /// `--locked`, `--offline`, `--frozen`: for every cargo call.
    pub cargo: crate::workspace::CargoFlags,
}

/// A loaded workspace with its plan and the selected images (in build order).
pub struct Loaded {
    pub ws: Workspace,
    pub plan: BuildPlan,
    pub selection: Vec<ImageIndex>,
}

/// Find the workspace, discover and check every manifest, expand the plan, apply selectors.
/// Every manifest problem of every file is reported at once. A workspace without any
/// `sdkimage.toml` is exit 2 ([`no_manifests`]): there is nothing to build, push or verify.
pub fn load(target: &Target) -> Result<Loaded> {
    load_with(target, false)
}

/// What a command that needs images says of a workspace with no manifest at all; `list` says
/// it too, as a note.
pub fn no_manifests(root: &std::path::Path) -> String {
    crate::report::human::note(&no_manifests_note(root))
}

fn no_manifests_note(root: &std::path::Path) -> Note {
    Note::NoManifests {
        root: root.to_path_buf(),
    }
}

/// [`load`]; with `allow_empty`, a workspace without manifests loads (nothing selected).
fn load_with(target: &Target, allow_empty: bool) -> Result<Loaded> {
    // The walk runs while `cargo metadata` does.
    let early = discover::EarlyWalk::start(target.manifest_path.as_deref());
    let ws = Workspace::load(target.manifest_path.as_deref(), target.cargo)?;
    let paths = discover::EarlyWalk::finish(early, &ws.root);
    if paths.is_empty() && !allow_empty {
        return Err(Error::Usage(no_manifests(&ws.root)));
    }
    let mut manifests = Vec::new();
    let mut diags = Vec::new();
    for path in paths {
        match Manifest::load(&path, &ws.root) {
            Ok(m) => {
                match context::check_dockerignore(&m.context, &ws.root) {
                    Ok(()) => {}
                    Err(Error::Invalid(d)) => diags.extend(d),
                    Err(e) => return Err(e),
                }
                manifests.push(m);
            }
            Err(Error::Invalid(d)) => diags.extend(d),
            Err(e) => return Err(e),
        }
    }
    if !diags.is_empty() {
        return Err(Error::Invalid(diags));
    }
    check_dockerfiles(&ws, &manifests)?;
    let plan = BuildPlan::new(&ws, manifests, &target.plan)?;
    if plan.manifests.is_empty() {
        return Ok(Loaded {
            ws,
            plan,
            selection: Vec::new(),
        });
    }
    // No selector in a member folder: what is at or below it, as cargo does. With
    // --manifest-path, the folder of that manifest is the one cargo would start from.
    let selectors = if target.selectors.is_empty() {
        let here = match target.manifest_path.as_deref().and_then(|p| p.parent()) {
            Some(dir) => target.cwd.join(dir),
            None => target.cwd.clone(),
        };
        plan.default_selectors(&ws.root, &here)
    } else {
        target.selectors.clone()
    };
    let selection = plan.select(&selectors, &target.cwd)?;
    Ok(Loaded {
        ws,
        plan,
        selection,
    })
}

/// Every Dockerfile a build would read passes the guarded reader's checks (inside the
/// workspace, a regular file, under the size cap), so `list` and `--dry-run` refuse what
/// `build` would, with the same exit code (2), before anything runs.
fn check_dockerfiles(ws: &Workspace, manifests: &[Manifest]) -> Result<()> {
    let rules = crate::guarded::Rules::new(&ws.root, crate::guarded::CONFIG_CAP, "a Dockerfile");
    for m in manifests.iter().filter(|m| m.custom.is_none()) {
        crate::guarded::check(&m.dockerfile, rules)?;
    }
    Ok(())
}

/// The registries of the environment, spoken to over plain HTTP where the engine does.
async fn engine_registries(engine: &dyn crate::engine::EngineApi) -> Result<Registries> {
    Ok(Registries::from_env()?.with_insecure(&engine.insecure_registries().await?))
}

/// Totals of a publish, verify or promote run as the `summary` event.
fn summary_of(sink: &dyn EventSink, counts: Counts, elapsed: std::time::Duration) {
    sink.summary(&counts, None, elapsed);
}

/// The summary that closes a publish, verify or promote run which failed after it started:
/// the images reported `failed`, nothing counted as done.
fn failed_summary<T>(
    tally: &Tally<'_>,
    started: std::time::Instant,
    result: Result<T>,
) -> Result<T> {
    if result.is_err() {
        let counts = Counts {
            failed: tally.failed(),
            ..Counts::default()
        };
        summary_of(tally, counts, started.elapsed());
    }
    result
}
