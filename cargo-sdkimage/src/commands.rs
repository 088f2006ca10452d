//! One function per command: plain option structs in, events and a typed result out.
//! The binary's `cli.rs` builds these options from flags; nothing here knows about clap.

use std::path::PathBuf;
use std::sync::Arc;

use crate::engine::{Engine, EngineApi};
use crate::error::{Error, Result};
use crate::interrupt::Interrupt;
use crate::manifest::Manifest;
use crate::output::Note;
use crate::output::{self, Counts, EventSink, ImageMetadata, ListEntry, Outcome, ResultRow, Tally};
use crate::plan::{BuildPlan, ImageIndex, PlanOptions};
use crate::publish::{self, PublishOptions, Published};
use crate::registry::Registries;
use crate::report;
use crate::run::{self, BuildOptions, ImageResult, Session};
use crate::workspace::Workspace;
use crate::{context, discover};

mod cargo_sources;
mod check;
mod custom;
pub mod diff;
mod dockerfile;
mod print;
mod push_metadata;
mod sbom;
mod setup;

use cargo_sources::check_cargo_sources;
pub use check::{CheckCommand, check};
pub use dockerfile::{dockerfile, dockerfiles};
use push_metadata::push_metadata;

pub use setup::{EngineFacts, check_builders};
use setup::{check_secrets, check_with_connected, check_with_engine_if_any, open_session};

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

/// `list`: the selected images. Builders and platforms are checked as `build` checks them
/// when an engine answers; without one, what the files say is checked.
pub async fn list(target: &Target, reporter: &dyn EventSink) -> Result<Vec<ListEntry>> {
    // The engine's handshake (a few requests, slow on a busy engine) goes on while the
    // workspace is discovered and loaded.
    let connecting = tokio::spawn(Engine::connect());
    let l = match load_with(target, true) {
        Ok(l) => l,
        Err(e) => {
            connecting.abort();
            return Err(e);
        }
    };
    if l.plan.manifests.is_empty() {
        connecting.abort();
        reporter.note(no_manifests_note(&l.ws.root));
        return Ok(Vec::new());
    }
    let connected = connecting.await.unwrap_or_else(|e| {
        Err(Error::Unreachable(format!(
            "connecting to the Docker engine stopped: {e}"
        )))
    });
    check_with_connected(connected, &l, &[], reporter).await?;
    let engines = setup::planned_engines(&l, reporter).await;
    Ok(l.selection
        .iter()
        .zip(engines)
        .map(|(&i, engine)| {
            let img = l.plan.image(i);
            ListEntry {
                language: img.language.clone(),
                variant: img.variant.clone(),
                name: img.name.clone(),
                refs: img.refs.iter().map(ToString::to_string).collect(),
                manifest: l.ws.display_path(&l.plan.manifest_of(i).path),
                depends_on: img
                    .deps
                    .iter()
                    .map(|&d| l.plan.image(d).name.clone())
                    .collect(),
                platforms: img.platforms.iter().map(ToString::to_string).collect(),
                target: img.target.clone(),
                engine,
            }
        })
        .collect())
}

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

/// `opts` with what our own push takes from the workspace: the epoch (`SOURCE_DATE_EPOCH`,
/// else the commit's time; without either nothing is normalised), the cache folder, and per
/// image whether it is normalised (`reproducible` of its manifest, else of the workspace's
/// settings, else on) and which external bases it may stand on.
fn for_workspace(
    opts: &PublishOptions,
    ws: &crate::workspace::Workspace,
    plan: &BuildPlan,
) -> Result<PublishOptions> {
    let mut opts = opts.clone();
    opts.cache_dir = ws.state_dir().join("oci");
    if opts.push_via != publish::PushVia::Tool {
        return Ok(opts);
    }
    let mut any = false;
    for (i, image) in plan.images.iter().enumerate() {
        let index = ImageIndex::new(i);
        let reproducible = plan
            .manifest_of(index)
            .reproducible
            .or(ws.config.reproducible)
            .unwrap_or(true);
        any |= reproducible;
        let push = publish::ImagePush {
            not_reproducible: !reproducible,
            bases: publish::bases::candidates(&ws.root, plan, index),
        };
        opts.images.insert(image.name.clone(), push);
    }
    if any {
        opts.epoch = crate::provenance::epoch_seconds(&ws.root)?;
    }
    Ok(opts)
}

/// Phase one and two of a publish, with the registries of the environment.
async fn publish_images(
    engines: publish::Holders<'_>,
    plan: &BuildPlan,
    built: &[(ImageIndex, String)],
    opts: &PublishOptions,
    sink: &dyn EventSink,
    interrupt: &Interrupt,
) -> Result<Vec<Published>> {
    let registries = engine_registries(engines.first).await?;
    publish::push(engines, &registries, plan, built, opts, sink, interrupt).await
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

/// `push`: publish images that are already built (dependencies included); with
/// `metadata_file`, their refs, local ids and pushed digests are written there (also when
/// the publish fails, then with `pushed: false`).
pub async fn push(
    target: &Target,
    opts: &PublishOptions,
    metadata_file: Option<&std::path::Path>,
    reporter: Arc<dyn EventSink>,
    interrupt: Interrupt,
) -> Result<Vec<Published>> {
    let l = load(target)?;
    let mut opts = opts.clone();
    if let Some(sign) = &mut opts.sign {
        sign.ready(&l.ws)?;
    }
    let opts = &opts;
    opts.check(&l.plan, l.selection.iter().copied())?;
    let started = std::time::Instant::now();
    let tally = Tally::new(&*reporter);
    let engine = Engine::connect().await?;
    // Only what a ref names locally is pushed: a tag whose build failed owns nothing. The
    // engine is asked about every ref at once.
    let native = crate::platform::Platform::of_engine(&engine.platform().await?);
    let lookups = l.selection.iter().map(|&i| {
        let engine = &engine;
        let img = l.plan.image(i);
        let refs = img.local_refs(&native);
        async move {
            let mut local = Vec::new();
            for r in &refs {
                local.push((r.to_string(), engine.image_id(&r.to_string()).await?));
            }
            Ok::<_, Error>((i, img, local))
        }
    });
    let mut built = Vec::new();
    let mut missing = Vec::new();
    for (index, img, local) in futures_util::future::try_join_all(lookups).await? {
        let mut found: Option<String> = None;
        for (r, id) in local {
            match (id, &found) {
                (None, _) => missing.push(r),
                (Some(id), None) => found = Some(id),
                (Some(id), Some(first)) if &id != first => {
                    return Err(Error::Failed(format!(
                        "the tags of {} point at different local images ({} and {}); rebuild it with `cargo sdkimage build`",
                        img.name,
                        report::short_id(first),
                        report::short_id(&id)
                    )));
                }
                _ => {}
            }
        }
        built.push((index, found.unwrap_or_default()));
    }
    if !missing.is_empty() {
        return Err(Error::Failed(format!(
            "not built, nothing pushed: {}. Build them first (`cargo sdkimage build`), or use `build --push`.",
            missing.join(", ")
        )));
    }
    // Nothing is built: no builder to choose, no session to set up.
    let holders = publish::Holders::one(&engine);
    let opts = &for_workspace(opts, &l.ws, &l.plan)?;
    let pushed = publish_images(holders, &l.plan, &built, opts, &tally, &interrupt).await;
    let written = match metadata_file {
        Some(path) if !opts.dry_run => {
            let done = pushed.as_deref().unwrap_or_default();
            output::write_metadata(path, &push_metadata(&l.plan, &built, done))
        }
        _ => Ok(()),
    };
    let pushed = failed_summary(&tally, started, pushed)?;
    written?;
    summary_of(
        &tally,
        Counts {
            pushed: pushed.len(),
            verified: pushed.len(),
            ..Counts::default()
        },
        started.elapsed(),
    );
    Ok(pushed)
}

/// `build --push --sign`: the signing key loaded once, before anything is built.
fn with_signing_key(cmd: &BuildCommand, ws: &crate::workspace::Workspace) -> Result<BuildCommand> {
    let mut cmd = cmd.clone();
    if let Some(sign) = cmd.push.as_mut().and_then(|p| p.sign.as_mut()) {
        sign.ready(ws)?;
    }
    Ok(cmd)
}

/// `verify --key PUB [--attestations]`.
#[derive(Debug, Clone)]
pub struct KeyCheck {
    pub key: PathBuf,
    pub attestations: bool,
}

/// `verify`: every ref of the selection, registry digest == the local image's repo digest;
/// or, with a metadata file, the file's digests against the registry (no local images needed).
/// With `key`, each verified digest's signatures (and attestations) too.
pub async fn verify(
    target: &Target,
    from_metadata: Option<&std::path::Path>,
    key: Option<KeyCheck>,
    reporter: Arc<dyn EventSink>,
) -> Result<()> {
    let started = std::time::Instant::now();
    let tally = Tally::new(&*reporter);
    let public = match &key {
        Some(k) => Some(crate::sign::load_public_key(&k.key)?),
        None => None,
    };
    let mut signed_targets = Vec::new();
    let (verified, registries) = match from_metadata {
        Some(file) => {
            // Selectors need the workspace to mean something; without them, every entry.
            let only: Option<Vec<String>> = if target.selectors.is_empty() {
                None
            } else {
                let l = load(target)?;
                Some(
                    l.selection
                        .iter()
                        .map(|&i| l.plan.image(i).name.clone())
                        .collect(),
                )
            };
            let registries = Registries::from_env()?;
            let verified = publish::verify_metadata(
                &registries,
                file,
                only.as_deref(),
                &target.plan.tags,
                &tally,
            )
            .await;
            let verified = failed_summary(&tally, started, verified)?;
            for v in &verified {
                signed_targets.push(publish::sign::KeyTarget {
                    name: v.name.clone(),
                    refs: v.refs.clone(),
                    digest: v.digest.clone(),
                });
            }
            (verified.len(), registries)
        }
        None => {
            let l = load(target)?;
            publish::check_publishable(&l.plan, &l.selection)?;
            let engine = Engine::connect().await?;
            let registries = engine_registries(&engine).await?;
            // A tag `promote` made is not a local tag: the image's last build says which
            // local image it was pushed as.
            let states = crate::fingerprint::StateStore::new(&l.ws.state_dir());
            let verified =
                publish::verify(&engine, &registries, &l.plan, &l.selection, &states, &tally).await;
            let verified = failed_summary(&tally, started, verified)?;
            for v in &verified {
                signed_targets.push(publish::sign::KeyTarget {
                    name: l.plan.image(v.image).name.clone(),
                    refs: v.refs.clone(),
                    digest: v.digest.clone(),
                });
            }
            (verified.len(), registries)
        }
    };
    if let (Some(public), Some(k)) = (&public, &key) {
        let checked = publish::sign::verify_signed(
            &registries,
            &signed_targets,
            public,
            k.attestations,
            &tally,
        )
        .await;
        failed_summary(&tally, started, checked)?;
    }
    summary_of(
        &tally,
        Counts {
            verified,
            ..Counts::default()
        },
        started.elapsed(),
    );
    Ok(())
}

/// `promote --from-tag RC --tag FINAL...`: copy manifests inside the registry; no rebuild.
pub async fn promote(
    target: &Target,
    from_tag: &str,
    dry_run: bool,
    sign: Option<publish::sign::SignOptions>,
    reporter: Arc<dyn EventSink>,
) -> Result<()> {
    if target.plan.tags.is_empty() {
        return Err(Error::Usage(
            "promote needs the tags to promote to: --tag FINAL (repeatable)".into(),
        ));
    }
    if let Some(same) = target.plan.tags.iter().find(|t| t.as_str() == from_tag) {
        return Err(Error::Usage(format!(
            "--tag {same} is the tag being promoted (--from-tag)"
        )));
    }
    let l = load(target)?;
    publish::check_publishable(&l.plan, &l.selection)?;
    let mut sign = sign;
    if let Some(sign) = &mut sign {
        sign.ready(&l.ws)?;
    }
    let started = std::time::Instant::now();
    let tally = Tally::new(&*reporter);
    // Learn which registries the engine treats as insecure when one runs; promote itself
    // never needs it.
    let engine = Engine::connect().await.ok();
    let mut registries = Registries::from_env()?;
    if let Some(engine) = &engine {
        registries = registries.with_insecure(&engine.insecure_registries().await?);
    }
    let promoted = publish::promote(
        &registries,
        &l.plan,
        &l.selection,
        from_tag,
        &l.plan.tags,
        dry_run,
        &tally,
    )
    .await;
    let promoted = failed_summary(&tally, started, promoted)?;
    if let (Some(sign), false) = (&sign, dry_run) {
        // The digests are unchanged, so earlier signatures stay valid; `--sign` adds this
        // key's signature of each (the same bytes again when this key signed it already).
        let mut digests: Vec<(String, String)> = Vec::new();
        for p in &promoted {
            for r in &p.refs {
                let entry = (r.repository.clone(), p.digest.clone());
                if !digests.contains(&entry) {
                    digests.push(entry);
                }
            }
        }
        let signed = publish::sign::sign_promoted(&registries, &digests, sign).await;
        let signed = failed_summary(&tally, started, signed)?;
        reporter.note(crate::output::Note::SignedPromoted {
            digests: signed.len(),
        });
    }
    let counts = Counts {
        promoted: if dry_run { 0 } else { promoted.len() },
        ..Counts::default()
    };
    summary_of(&tally, counts, started.elapsed());
    if dry_run {
        reporter.note(Note::PromoteDryRun {
            images: l.selection.len(),
        });
    } else {
        reporter.note(Note::Promoted {
            images: promoted.len(),
            from_tag: from_tag.to_string(),
            tags: l.plan.tags.clone(),
        });
    }
    Ok(())
}

/// `licenses --out DIR`: gather the licenses of each selected image that has `[licenses]` into
/// `DIR/<image>/`. Builds (or finds up to date) only when an image-side gatherer needs the image.
pub async fn licenses(
    target: &Target,
    out: &std::path::Path,
    sbom_dir: Option<&std::path::Path>,
    build: &BuildOptions,
    reporter: Arc<dyn EventSink>,
    interrupt: Interrupt,
) -> Result<usize> {
    let l = load(target)?;
    let wanted: Vec<ImageIndex> = l
        .selection
        .iter()
        .copied()
        .filter(|&i| l.plan.manifest_of(i).licenses.is_some())
        .collect();
    if wanted.is_empty() {
        return Err(Error::Usage(
            "no selected image has a [licenses] table".into(),
        ));
    }
    check_cargo_sources(&l)?;
    crate::licenses::check_files(&l.ws.config.licenses_dir)?;
    l.plan.check_labels(&l.ws, &l.selection, &build.labels)?;
    let created = crate::provenance::created(&l.ws.root)?;
    let write = |name: &str, resolved: &[crate::licenses::Resolved]| {
        write_licenses(name, resolved, &created, out, sbom_dir, &*reporter)
    };
    let needs_image = wanted.iter().any(|&i| {
        let spec = l.plan.manifest_of(i).licenses.as_ref().expect("filtered");
        spec.sources.iter().any(crate::licenses::needs_image)
    });
    let mut total = 0;
    if !needs_image {
        let ws = Arc::new(l.ws);
        for &i in &wanted {
            let resolved =
                crate::licenses::gather_licenses(&ws, l.plan.manifest_of(i), None).await?;
            total += write(&l.plan.image(i).name, &resolved)?;
        }
        return Ok(total);
    }
    let (session, selection, _lock) = open_session(
        l,
        build,
        reporter.clone(),
        interrupt,
        setup::Early::default(),
    )
    .await?;
    let failed_before = run::pull_then_prepare(&session, &selection, build).await?;
    let run = run::build(session.clone(), &selection, build, &failed_before).await?;
    if let Some(signal) = run.interrupted {
        return Err(Error::Interrupted(signal));
    }
    if let Some(r) = run.results.iter().find(|r| r.id.is_none()) {
        return Err(Error::Failed(format!(
            "{} was not built, so its licenses cannot be read: {}",
            session.plan.image(r.image).name,
            r.message.clone().unwrap_or_default()
        )));
    }
    for &i in &wanted {
        let pos = selection.iter().position(|&s| s == i).expect("selected");
        let id = run.results[pos].id.clone().expect("built");
        let image = Some((run::holder(&session, &run.results[pos]), id.as_str()));
        let mut signal = session.interrupt.clone();
        // A signal drops the read of the image; its scan container is removed before exit.
        let resolved = tokio::select! {
            resolved = crate::licenses::gather_licenses(&session.ws, session.plan.manifest_of(i), image) => resolved?,
            number = signal.wait() => return Err(Error::Interrupted(number)),
        };
        total += write(&session.plan.image(i).name, &resolved)?;
    }
    Ok(total)
}

fn write_licenses(
    name: &str,
    resolved: &[crate::licenses::Resolved],
    created: &str,
    out: &std::path::Path,
    sbom_dir: Option<&std::path::Path>,
    reporter: &dyn EventSink,
) -> Result<usize> {
    let dir = out.join(name);
    let document = crate::licenses::sbom::document(name, created, resolved)?;
    crate::licenses::write_dir(resolved, &document, &dir)?;
    if let Some(sbom_dir) = sbom_dir {
        sbom::write_one(sbom_dir, name, &document, reporter)?;
    }
    reporter.note(Note::LicensesWritten {
        image: name.to_string(),
        entries: resolved.len(),
        dir: dir.to_path_buf(),
    });
    Ok(resolved.len())
}
