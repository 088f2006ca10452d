//! `build`: load, check, open the session, build; `--check`, `--sbom-dir` and `--push` after
//! the builds; the metadata file and the summary on every way out.

use std::path::PathBuf;
use std::sync::Arc;

use super::push::{for_workspace, publish_images};
use super::setup::{check_secrets, check_with_engine_if_any, open_session};
use super::{
    Target, check, check_cargo_sources, custom, engine_registries, load, print, sbom, setup,
};
use crate::discover;
use crate::engine::EngineApi;
use crate::error::{Error, Result};
use crate::interrupt::Interrupt;
use crate::output::Note;
use crate::output::{self, Counts, EventSink, ImageMetadata, Outcome, ResultRow, Tally};
use crate::plan::{BuildPlan, ImageIndex};
use crate::publish::{self, PublishOptions};
use crate::run::{self, BuildOptions, ImageResult, Session};

#[derive(Debug, Clone)]
pub struct BuildCommand {
    pub build: BuildOptions,
    pub dry_run: bool,
    pub print: bool, // the plan as JSON (`commands/print.rs`); nothing runs
    pub metadata_file: Option<PathBuf>,
    /// `--push`: publish after every selected build succeeded.
    pub push: Option<PublishOptions>,
    /// `--sbom-dir`: each image's SPDX document, copied out of the image, as
    /// `DIR/<image name>.spdx.json` (with `--pull-licenses`).
    pub sbom_dir: Option<PathBuf>,
    /// `--check`: check each built image against its contract before anything is pushed.
    pub check: Option<crate::check::CheckOptions>,
}

/// `build`: prepare, build, tag; then the summary. Exit 1 when any image failed.
pub async fn build(
    target: &Target,
    cmd: &BuildCommand,
    reporter: Arc<dyn EventSink>,
    interrupt: Interrupt,
) -> Result<Vec<ImageResult>> {
    // Connecting to the environment's engine overlaps loading the workspace (`cargo
    // metadata`); unused when the run names engines, prints or stops before building.
    let early = if cmd.print || cmd.dry_run {
        setup::Early::default()
    } else {
        setup::Early {
            engine: cmd
                .build
                .engines
                .is_empty()
                .then(crate::engine::pool::connect_early),
            provenance: cmd
                .build
                .force
                .then(|| discover::likely_root(target.manifest_path.as_deref()))
                .flatten()
                .and_then(|root| Session::read_provenance_early(&root)),
        }
    };
    let l = load(target)?;
    let cmd = &with_signing_key(cmd, &l.ws)?;
    let opts = &cmd.build;
    if let Some(push) = &cmd.push {
        push.check(&l.plan, l.selection.iter().copied())?;
    }
    if opts.pull_licenses {
        check_cargo_sources(&l)?;
        crate::licenses::check_files(&l.ws.config.licenses_dir)?;
        crate::provenance::created(&l.ws.root)?;
    }
    if let Some(warning) = run::secret_args_warning(&l.plan, &l.selection) {
        reporter.note(warning);
    }
    if cmd.print {
        return print::print(l, opts, reporter, interrupt)
            .await
            .map(|()| Vec::new());
    }
    check_secrets(&l, &opts.secrets)?;
    let ws_cache = l.ws.config.cache.clone();
    let classic = |i| l.plan.image(i).builder == "classic";
    l.plan
        .check_cache_builders(&l.selection, &ws_cache, &opts.cache, classic)?;
    l.plan.check_labels(&l.ws, &l.selection, &opts.labels)?;
    if cmd.check.is_some() {
        crate::plan::contract::effective_all(&l.plan, &l.selection, l.ws.version.as_deref())?;
    }
    if cmd.dry_run {
        check_with_engine_if_any(&l, &opts.secrets, &*reporter).await?;
        let text = run::describe(&l.ws, &l.plan, &l.selection, opts);
        // stdout carries only events in JSON mode; the plan is for people.
        if reporter.json() {
            reporter.note(Note::DryRunPlan { text });
        } else {
            reporter.data(&text);
        }
        return Ok(Vec::new());
    }
    let (session, selection, _lock) =
        open_session(l, opts, reporter.clone(), interrupt.clone(), early).await?;
    if cmd.push.is_some() {
        // A registry that cannot take the push is found before anything is built.
        let registries = engine_registries(&*session.engine).await?;
        publish::check_registries(&registries, &session.plan, &selection).await?;
    }
    let classic = |i| session.builder(i) == crate::engine::Builder::Classic;
    session
        .plan
        .check_cache_builders(&selection, &ws_cache, &opts.cache, classic)?;
    let started = std::time::Instant::now();
    // Failures of a publish are reported per image as they happen; counted for the summary.
    let tally = Tally::new(&*reporter);
    let mut interrupt = interrupt;
    let mut pushed = Vec::new();
    // Every way out of the run below writes the metadata file and the summary.
    let (results, error) = match tokio::select! {
        failed = run::pull_then_prepare(&session, &selection, opts) => failed,
        signal = interrupt.wait() => Err(Error::Interrupted(signal)),
    } {
        Err(e) => {
            let why = match &e {
                Error::Interrupted(_) => {
                    "not built: the run was interrupted during the prepare steps".to_string()
                }
                e => format!("not built: {e}"),
            };
            (
                selection
                    .iter()
                    .map(|&i| run::ImageResult::skipped(i, why.clone()))
                    .collect(),
                Some(e),
            )
        }
        Ok(failed_before) => {
            let mut run = run::build(session.clone(), &selection, opts, &failed_before).await?;
            if let Some(c) = &cmd.check
                && run.interrupted.is_none()
            {
                run.interrupted =
                    check::after_build(&session, &mut run.results, c, opts.jobs).await?;
            } else if run.interrupted.is_none() {
                run.interrupted =
                    custom::check_adapted(&session, &mut run.results, opts.jobs).await?;
            }
            let sbom_error = match (&cmd.sbom_dir, run.interrupted) {
                (Some(dir), None) => sbom::copy_from_images(&session, &run.results, dir)
                    .await
                    .err(),
                _ => None,
            };
            let failed: Vec<&str> = run
                .results
                .iter()
                .filter(|r| r.outcome == Outcome::Failed)
                .map(|r| session.plan.image(r.image).name.as_str())
                .collect();
            if !run.lost.is_empty() && run.no_engine.is_none() {
                reporter.note(Note::EnginesLostDuringRun {
                    engines: run.lost.clone(),
                    all_built: run.results.iter().all(|r| r.id.is_some()),
                });
            }
            let error = if let Some(signal) = run.interrupted {
                Some(Error::Interrupted(signal))
            } else if let Some(why) = &run.no_engine {
                if cmd.push.is_some() {
                    reporter.note(Note::NothingPushedNoEngine);
                }
                Some(Error::Unreachable(format!(
                    "no engine is left ({}): {why}",
                    run.lost.join(", ")
                )))
            } else if !failed.is_empty() {
                if cmd.push.is_some() {
                    reporter.note(Note::NothingPushedFailed);
                }
                let failed = format!("{} image(s) failed: {}", failed.len(), failed.join(", "));
                // Builds fail with the engine's words; an engine that went away is exit 3.
                Some(match session.engine.ping().await {
                    Err(Error::Unreachable(lost)) => {
                        Error::Unreachable(format!("{failed}: {lost}"))
                    }
                    _ => Error::Failed(failed),
                })
            } else if sbom_error.is_some() {
                sbom_error
            } else if let Some(push) = &cmd.push {
                let built: Vec<(ImageIndex, String)> = run
                    .results
                    .iter()
                    .map(|r| (r.image, r.id.clone().unwrap_or_default()))
                    .collect();
                // Each image is staged from the engine that built it.
                let by_image: Vec<(ImageIndex, &dyn EngineApi)> = run
                    .results
                    .iter()
                    .filter_map(|r| {
                        // An image of several platforms is staged from the first engine,
                        // which has them gathered under the tags its own platform decides.
                        if opts.gather && r.platforms.len() > 1 {
                            return None;
                        }
                        let name = r.engine.as_deref()?;
                        let member = session.pool.iter().find(|m| m.name == name)?;
                        Some((r.image, &*member.api))
                    })
                    .collect();
                let holders = publish::Holders {
                    first: &*session.pool[run::home(&session)].api,
                    by_image: &by_image,
                };
                // The publish watches for signals itself: it never stops half-way through
                // pointing the release tags.
                let push = &for_workspace(push, &session.ws, &session.plan)?;
                match publish_images(
                    holders,
                    &session.plan,
                    &built,
                    push,
                    &tally,
                    &session.interrupt,
                )
                .await
                {
                    Ok(p) => {
                        pushed = p;
                        None
                    }
                    Err(e) => Some(e),
                }
            } else {
                None
            };
            (run.results, error)
        }
    };
    let mut metadata = metadata_of(&session.plan, &results);
    for p in &pushed {
        let name = &session.plan.image(p.image).name;
        if let Some((_, meta)) = metadata.iter_mut().find(|(n, _)| n == name) {
            meta.digest = Some(p.digest.clone());
            meta.pushed = true;
            meta.containerimage_digest = Some(p.digest.clone());
            meta.signatures = p.signatures.clone();
            meta.normalized = Some(p.normalized);
            meta.epoch = p.epoch.filter(|_| p.normalized);
            if let Some(config) = meta.id.as_ref().and_then(|id| p.configs.get(id)) {
                meta.containerimage_config_digest = Some(config.clone());
            }
            for (platform, digest) in &p.platforms {
                if let Some(entry) = meta.platforms.get_mut(platform) {
                    entry.digest = Some(digest.clone());
                }
            }
        }
    }
    if let Some(path) = &cmd.metadata_file {
        output::write_metadata(path, &metadata)?;
    }
    summarize(
        &session,
        &results,
        pushed.len(),
        tally.failed(),
        started.elapsed(),
    );
    match error {
        Some(e) => Err(e),
        None => Ok(results),
    }
}

/// The metadata file entries of a build's results.
pub fn metadata_of(plan: &BuildPlan, results: &[ImageResult]) -> Vec<(String, ImageMetadata)> {
    results
        .iter()
        .map(|r| {
            let img = plan.image(r.image);
            let refs: Vec<String> = img.refs.iter().map(ToString::to_string).collect();
            let meta = ImageMetadata {
                image_name: refs.join(","),
                refs,
                id: r.id.clone(),
                digest: None,
                pushed: false,
                licenses: r.licenses,
                duration_ms: r.duration.as_millis() as u64,
                outcome: r.outcome,
                // A manifest digest exists only once pushed; the id is the config digest.
                containerimage_digest: None,
                containerimage_config_digest: r.id.clone(),
                platforms: r
                    .platforms
                    .iter()
                    .map(|(p, id)| {
                        let meta = output::PlatformMetadata {
                            id: Some(id.clone()),
                            digest: None,
                            engine: r.engine.clone(),
                        };
                        (p.clone(), meta)
                    })
                    .collect(),
                bases: r.bases.clone(),
                engine: r.engine.clone(),
                requeued_from: r.requeued_from.clone(),
                signatures: Vec::new(),
                normalized: None,
                epoch: None,
            };
            (img.name.clone(), meta)
        })
        .collect()
}

fn summarize(
    session: &Session,
    results: &[ImageResult],
    pushed: usize,
    failed_pushes: usize,
    elapsed: std::time::Duration,
) {
    // Every ref of a pushed image was checked against the registry before it counted.
    let mut counts = Counts {
        pushed,
        verified: pushed,
        ..Counts::default()
    };
    for r in results {
        match r.outcome {
            Outcome::Built => counts.built += 1,
            Outcome::UpToDate => counts.up_to_date += 1,
            Outcome::Retagged => counts.retagged += 1,
            Outcome::Failed => counts.failed += 1,
            Outcome::Skipped => counts.skipped += 1,
        }
    }
    // Images whose build succeeded but whose push failed (`build --push`) failed too.
    counts.failed = counts.failed.max(failed_pushes);
    let rows: Vec<ResultRow> = results
        .iter()
        .map(|r| ResultRow {
            image: session.plan.image(r.image).name.clone(),
            outcome: r.outcome,
            duration: r.duration,
            id: r.id.clone(),
        })
        .collect();
    session
        .reporter
        .summary(&counts, Some(rows.as_slice()), elapsed);
}

/// `build --push --sign`: the signing key loaded once, before anything is built.
fn with_signing_key(cmd: &BuildCommand, ws: &crate::workspace::Workspace) -> Result<BuildCommand> {
    let mut cmd = cmd.clone();
    if let Some(sign) = cmd.push.as_mut().and_then(|p| p.sign.as_mut()) {
        sign.ready(ws)?;
    }
    Ok(cmd)
}
