//! Building one image: its inputs and fingerprint, reuse when up to date (re-tagging when
//! asked for new tags), else a build through the engine, the licenses layer, and the tags,
//! which only a complete build gets. Here: the job over every platform and its outcome;
//! `check.rs` what a platform is made of and whether its recorded build stands, `reuse.rs`
//! the up-to-date path, `build.rs` the engine's build, `finish.rs` licenses, tags and state.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use super::bases;
use super::status::{Check, Found};
use super::{BuildOptions, ImageResult, Outcome, Session};
use crate::context::Context;
use crate::engine::{Builder, EngineApi};
use crate::error::Result;
use crate::fingerprint::{self, ImageState, InputDigests, Stamps, StateStore};
use crate::output::{Event, event, millis};
use crate::plan::{Image, ImageIndex};
use crate::platform::Platform;
use crate::reference::ImageRef;

mod build;
mod check;
mod finish;
mod reuse;

/// Build (or reuse) image `index` for each of its platforms; one event reports the image (a
/// failure as its `failed` event).
pub(super) async fn build_one(
    session: &Session,
    engine: usize,
    store: &StateStore,
    logs: &Path,
    index: ImageIndex,
    dep_ids: BTreeMap<ImageIndex, String>,
    opts: &BuildOptions,
) -> ImageResult {
    let started = Instant::now();
    let image = session.plan.image(index);
    let job = ImageJob {
        session,
        engine: &*session.pool[engine].api,
        engine_index: engine,
        engine_name: session.engine_name(engine),
        store,
        index,
        image,
        started,
        announced: AtomicBool::new(false),
    };
    // The scheduler reports a failure (it may requeue it when the engine was lost).
    match job.run_all(logs, &dep_ids, opts).await {
        Ok(r) => r,
        Err(e) => ImageResult::failed(index, e.to_string(), started.elapsed()),
    }
}

/// One platform of an image: the platform asked for (`None`: the engine's own, not named),
/// where its state is kept, and whether the image's plain refs point at it (else it has
/// local-only `<tag>-<platform>` tags).
struct Variant {
    platform: Option<Platform>,
    state_key: String,
    carries_refs: bool,
    /// The image's main platform (`platform::main_platform`), for its local tags.
    main: Option<Platform>,
}

/// One image being built.
struct ImageJob<'a> {
    session: &'a Session,
    /// The engine of the pool it is built on, and its position there.
    engine: &'a dyn EngineApi,
    engine_index: usize,
    /// Its name, in events (named pools only).
    engine_name: Option<&'a str>,
    store: &'a StateStore,
    index: ImageIndex,
    image: &'a Image,
    started: Instant,
    /// Whether `build-started` was reported (once per image, by its first real build).
    announced: AtomicBool,
}

/// What one platform's build or reuse gave.
struct Done {
    outcome: Outcome,
    id: String,
    licenses: Option<usize>,
    /// The external bases it was built on, with their ids and registry digests.
    bases: BTreeMap<String, crate::output::BaseMetadata>,
}

/// What the context and Dockerfile of an image were found to be: read and hashed once per
/// image, whatever its number of platforms.
struct Sources {
    /// Shared with the build's file sync, not copied.
    ctx: Arc<Context>,
    /// The digest of the context's entries.
    digest: String,
    files: Arc<Stamps>,
    /// The state of the image's main platform, read once for the hashing above and taken by
    /// that platform's check ([`ImageJob::check`]), so it is not read again.
    previous: std::sync::Mutex<Option<ImageState>>,
    /// When the files were hashed (the file sync trusts older stamps).
    hashed_at: std::time::SystemTime,
    /// The Dockerfile's text.
    dockerfile: String,
    /// The follow-paths the context was collected for (`None`: all of it).
    only: Option<Arc<Vec<String>>>,
}

impl ImageJob<'_> {
    /// Every platform of the image, at the same time; the refs point at the engine's own
    /// platform (else the first), the others get local-only tags (`<tag>-linux-arm64`).
    async fn run_all(
        &self,
        logs: &Path,
        dep_ids: &BTreeMap<ImageIndex, String>,
        opts: &BuildOptions,
    ) -> Result<ImageResult> {
        let variants = self.variants();
        // A forced build needs git's provenance for its labels: read it while the context is
        // walked, not after.
        let provenance = async {
            if opts.force && self.session.ws.config.labels.defaults {
                let _ = self.session.provenance(true).await;
            }
        };
        let (sources, ()) = tokio::join!(self.sources(), provenance);
        let sources = match sources {
            Ok(sources) => sources,
            Err(e) => {
                for v in &variants {
                    self.store.forget(&v.state_key);
                }
                return Err(e);
            }
        };
        let mut sources = sources;
        let done = loop {
            let runs = variants
                .iter()
                .map(|v| self.run(v, &sources, logs, dep_ids, opts));
            let done = futures_util::future::join_all(runs).await;
            // The engine asked for context paths the Dockerfile does not show (a base image's
            // ONBUILD trigger): once more, with the whole context walked and fingerprinted.
            let state_dir = self.session.ws.state_dir();
            if sources.only.is_some()
                && done.iter().any(Result::is_err)
                && super::selection::is_whole(&state_dir, &self.image.name)
            {
                match self.sources().await {
                    Ok(whole) => sources = whole,
                    Err(e) => {
                        for v in &variants {
                            self.store.forget(&v.state_key);
                        }
                        return Err(e);
                    }
                }
                continue;
            }
            break done;
        };
        let mut results = Vec::new();
        let mut first_error = None;
        for (v, d) in variants.iter().zip(done) {
            match d {
                Ok(d) => results.push((v, d)),
                Err(e) => {
                    // Whatever failed (build, licenses, tagging), the last good build no
                    // longer stands for this image's refs.
                    self.store.forget(&v.state_key);
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        let outcome = if results.iter().any(|(_, d)| d.outcome == Outcome::Built) {
            Outcome::Built
        } else if results.iter().any(|(_, d)| d.outcome == Outcome::Retagged) {
            Outcome::Retagged
        } else {
            Outcome::UpToDate
        };
        // The platform the refs point at; with only foreign platforms, none does, and the
        // image is the first platform's.
        let (_, main) = results
            .iter()
            .find(|(v, _)| v.carries_refs)
            .unwrap_or(&results[0]);
        let id = main.id.clone();
        let licenses = main.licenses;
        let bases = main.bases.clone();
        let platforms: BTreeMap<String, String> = results
            .iter()
            .filter_map(|(v, d)| Some((v.platform.as_ref()?.to_string(), d.id.clone())))
            .collect();
        let finished = event::Finished {
            subject: self.image.subject(),
            id: id.clone(),
            duration_ms: millis(self.started.elapsed()),
            platforms: (!platforms.is_empty()).then(|| platforms.clone()),
            engine: self.engine_name.map(str::to_string),
        };
        let event = match outcome {
            Outcome::Built => Event::BuildFinished(finished),
            Outcome::Retagged => Event::Retagged(finished),
            _ => Event::UpToDate(finished),
        };
        self.session.reporter.event(&event);
        Ok(ImageResult {
            image: self.index,
            outcome,
            id: Some(id),
            duration: self.started.elapsed(),
            message: None,
            licenses,
            platforms,
            bases,
            engine: None,
            requeued_from: Vec::new(),
        })
    }

    /// The platforms of the image: none named is one build for the engine's own platform.
    /// The plain refs point at the engine's own platform only (`platform::main_platform`).
    fn variants(&self) -> Vec<Variant> {
        let platforms = &self.image.platforms;
        if platforms.is_empty() {
            return vec![Variant {
                platform: None,
                state_key: self.image.name.clone(),
                carries_refs: true,
                main: None,
            }];
        }
        let main = crate::platform::main_platform(platforms, &self.session.native);
        platforms
            .iter()
            .map(|p| {
                let is_main = main == Some(p);
                Variant {
                    state_key: fingerprint::state_key(
                        &self.image.name,
                        (!is_main).then(|| p.slug()).as_deref(),
                    ),
                    carries_refs: is_main,
                    main: main.cloned(),
                    platform: Some(p.clone()),
                }
            })
            .collect()
    }

    /// The refs of one platform: the image's refs, or their local-only `-<platform>` tags.
    fn refs_of(&self, v: &Variant) -> Vec<ImageRef> {
        self.image
            .refs
            .iter()
            .map(|r| match &v.platform {
                Some(p) if !v.carries_refs => ImageRef {
                    repository: r.repository.clone(),
                    tag: crate::platform::local_tag(&r.tag, p, v.main.as_ref()),
                },
                _ => r.clone(),
            })
            .collect()
    }

    async fn run(
        &self,
        v: &Variant,
        sources: &Sources,
        logs: &Path,
        dep_ids: &BTreeMap<ImageIndex, String>,
        opts: &BuildOptions,
    ) -> Result<Done> {
        let Check {
            mut inputs,
            bases,
            platform_args,
            bases_complete,
            mut found,
            fingerprint,
            digests,
            recorded,
            standing,
        } = self.check(v, sources, dep_ids, opts).await?;
        if !opts.force
            && standing
            && let Some(prev) = &recorded
        {
            let mut done = self
                .reuse(v, prev, fingerprint, digests, sources.files.clone())
                .await?;
            done.bases = found;
            return Ok(done);
        }
        // Its file stamps are not needed through the build.
        drop(recorded);
        let labels = self.labels(opts, true).await?.labels;
        let id = self
            .build(v, logs, sources, platform_args, labels, opts)
            .await?;
        let engine = self.engine;
        let (fingerprint, digests) = if bases_complete {
            (fingerprint, digests)
        } else {
            found = bases::resolve(engine, &bases, &mut inputs.bases).await?.1;
            (
                fingerprint::fingerprint(&inputs, &sources.digest),
                InputDigests::of(&inputs, &sources.digest),
            )
        };
        let mut done = self
            .finish(v, id, fingerprint, digests, sources.files.clone(), opts)
            .await?;
        done.bases = found;
        Ok(done)
    }

    /// The builder this image is built with.
    fn builder(&self) -> Builder {
        self.session.builder(self.index)
    }

    /// Its build cache (BuildKit only: the classic builder with cache settings is refused
    /// before anything runs).
    fn cache(&self, opts: &BuildOptions) -> crate::cache::ImageCache {
        match self.builder() {
            Builder::BuildKit => {
                self.session
                    .plan
                    .cache_of(self.index, &self.session.ws.config.cache, &opts.cache)
            }
            Builder::Classic => Default::default(),
        }
    }
}

/// `build --print`: the scheduler's checks of every platform of image `index`, with `dep_ids`
/// the ids its dependencies are known to have; nothing is built, tagged or recorded.
pub(super) async fn check_one(
    session: &Session,
    store: &StateStore,
    index: ImageIndex,
    dep_ids: &BTreeMap<ImageIndex, String>,
    opts: &BuildOptions,
) -> Result<Vec<Found>> {
    let job = ImageJob {
        session,
        engine: &*session.engine,
        engine_index: 0,
        engine_name: None,
        store,
        index,
        image: session.plan.image(index),
        started: Instant::now(),
        announced: AtomicBool::new(false),
    };
    let sources = job.sources().await?;
    let mut found = Vec::new();
    for v in job.variants() {
        let check = job.check(&v, &sources, dep_ids, opts).await?;
        let refs_elsewhere = match (&check.recorded, check.standing) {
            (Some(prev), true) => job
                .refs_elsewhere(&v, &prev.id)
                .await?
                .iter()
                .map(ToString::to_string)
                .collect(),
            _ => Vec::new(),
        };
        found.push(Found {
            carries_refs: v.carries_refs,
            platform: v.platform,
            check,
            files: sources.files.clone(),
            refs_elsewhere,
        });
    }
    Ok(found)
}
