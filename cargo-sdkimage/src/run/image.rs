//! Building one image: its inputs and fingerprint, reuse when up to date (re-tagging when
//! asked for new tags), else a build through the engine, the licenses layer, and the tags,
//! which only a complete build gets.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use futures_util::StreamExt;

use std::sync::atomic::{AtomicBool, Ordering};

use super::bases::{self, PlatformInputs};
use super::status::{Check, Found};
use super::{BuildOptions, ImageResult, Outcome, Session};
use crate::context::{self, Context};
use crate::engine::SyncedContext;
use crate::engine::session::BuildSession;
use crate::engine::{BuildOutput, BuildRequest, Builder, EngineApi};
use crate::error::{Error, Result};
use crate::fingerprint::{self, ImageState, InputDigests, Inputs, Stamps, StateStore};
use crate::output::{BuildLog, Event, event, millis};
use crate::plan::{Image, ImageIndex};
use crate::platform::Platform;
use crate::reference::ImageRef;

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

    /// The inputs and fingerprint of platform `v`, and whether its recorded build stands.
    async fn check(
        &self,
        v: &Variant,
        sources: &Sources,
        dep_ids: &BTreeMap<ImageIndex, String>,
        opts: &BuildOptions,
    ) -> Result<Check> {
        let mut inputs = self.inputs(v, dep_ids, opts);
        inputs.dockerfile = sources.ctx.dockerfile_in_context.clone();
        inputs.labels = self.labels(opts, false).await?.fingerprinted();
        let PlatformInputs {
            bases,
            platform_args,
        } = bases::platform_inputs(
            self.session,
            self.index,
            v.platform.as_ref(),
            &sources.dockerfile,
        );
        // A base the engine lacks is a cache miss: the build pulls it, and the fingerprint is
        // taken again afterwards with its id.
        let engine = self.engine;
        let (bases_complete, found) = bases::resolve(engine, &bases, &mut inputs.bases).await?;
        let fingerprint = fingerprint::fingerprint(&inputs, &sources.digest);
        let digests = InputDigests::of(&inputs, &sources.digest);
        // The main platform's state was read with the sources.
        let taken = match v.state_key == self.image.name {
            true => sources.previous.lock().ok().and_then(|mut p| p.take()),
            false => None,
        };
        let recorded = taken.or_else(|| self.store.load(&v.state_key));
        // Whether the recorded image still stands: one engine request, which `--force` (it
        // builds anyway) does without.
        let standing = match &recorded {
            Some(prev) if !opts.force && bases_complete && prev.fingerprint == fingerprint => {
                self.holder_of(&prev.id).await?.is_some()
            }
            _ => false,
        };
        Ok(Check {
            inputs,
            bases,
            platform_args,
            bases_complete,
            found,
            fingerprint,
            digests,
            recorded,
            standing,
        })
    }

    /// The labels of this image: the defaults from git and the workspace, then the user's.
    /// Not `building`: the labels that count in the fingerprint only are complete.
    async fn labels(
        &self,
        opts: &BuildOptions,
        building: bool,
    ) -> Result<crate::labels::ImageLabels> {
        let session = self.session;
        let settings = &session.ws.config.labels;
        let provenance = match settings.defaults {
            true => Some(session.provenance(building).await?),
            false => None,
        };
        let defaults = provenance
            .as_ref()
            .map(|provenance| crate::labels::Defaults {
                provenance,
                version: session.ws.version.as_deref(),
                title: &self.image.name,
            });
        let manifest = &session.plan.manifest_of(self.index).labels;
        Ok(crate::labels::merge(
            settings,
            defaults,
            manifest,
            &opts.labels,
        ))
    }

    /// The non-file inputs: build args (ours by id), dependency ids, the license inputs.
    fn inputs(
        &self,
        v: &Variant,
        dep_ids: &BTreeMap<ImageIndex, String>,
        opts: &BuildOptions,
    ) -> Inputs {
        let manifest = self.session.plan.manifest_of(self.index);
        let mut inputs = Inputs {
            dockerfile: String::new(),
            build_args: self.image.build_args.clone(),
            dependency_ids: dep_ids.values().cloned().collect(),
            bases: Vec::new(),
            licenses: if opts.pull_licenses {
                crate::licenses::license_inputs(&self.session.ws, manifest)
            } else {
                None
            },
            builder: self.builder().as_str().to_string(),
            platform: v.platform.as_ref().map(ToString::to_string),
            target: self.image.target.clone(),
            inline_cache: self.cache(opts).inline,
            labels: BTreeMap::new(),
        };
        for (arg, dep) in &self.image.image_args {
            if let Some(id) = dep_ids.get(dep) {
                inputs.build_args.insert(arg.clone(), id.clone());
            }
        }
        inputs
    }

    /// Collect the context, read the Dockerfile and hash the context, off the runtime; file
    /// hashes of the last build (of the platform the refs name) are reused where files did not
    /// change.
    async fn sources(&self) -> Result<Sources> {
        let session = self.session;
        let manifest = session.plan.manifest_of(self.index);
        let mut spec = manifest.context_spec(
            self.image.variant.as_deref(),
            &session.ws.root,
            &session.ws.state_dir(),
        );
        // A custom image's Dockerfile is rendered: written under the state folder, sent from there.
        let rendered = self.image.write_rendered(&session.ws.state_dir())?;
        if let Some((path, _)) = &rendered {
            spec.dockerfile = path.clone();
        }
        let previous = self.store.load(&self.image.name);
        let path = manifest.dockerfile.clone();
        let root = session.ws.root.clone();
        let classic = match self.builder() {
            Builder::Classic => Some((session.ws.state_dir(), self.image.name.clone())),
            Builder::BuildKit => None,
        };
        let failed = |e: tokio::task::JoinError| Error::Failed(format!("context task failed: {e}"));
        let (dockerfile, spec) = tokio::task::spawn_blocking(move || -> Result<_> {
            let rules =
                crate::guarded::Rules::new(&root, crate::guarded::CONFIG_CAP, "a Dockerfile");
            let dockerfile = match rendered {
                Some((_, text)) => text,
                None => {
                    let text = crate::guarded::read_to_string(&path, rules)
                        .map_err(|e| Error::Failed(format!("cannot read {e}")))?;
                    bases::for_classic(classic, &path, text, &mut spec.dockerfile)?
                }
            };
            Ok((dockerfile, spec))
        })
        .await
        .map_err(failed)??;
        // Only what the Dockerfile can read, when that is known.
        let only =
            super::selection::context_paths(session, self.engine, self.index, &dockerfile).await;
        let selected = only.clone();
        tokio::task::spawn_blocking(move || -> Result<Sources> {
            let hashed_at = std::time::SystemTime::now();
            let ctx = context::collect_only(&spec, selected.as_deref().map(Vec::as_slice))?;
            let (digest, files) = fingerprint::hash_context(&ctx, previous.as_ref())?;
            Ok(Sources {
                ctx: Arc::new(ctx),
                digest,
                files: Arc::new(files),
                previous: std::sync::Mutex::new(previous),
                hashed_at,
                dockerfile,
                only: selected,
            })
        })
        .await
        .map_err(failed)?
    }

    /// The engine of the pool that has image `id`: its own first, else another that answers.
    async fn holder_of(&self, id: &str) -> Result<Option<usize>> {
        super::moves::holder_of(self.session, self.engine_index, id).await
    }

    /// The refs of platform `v` that do not point at image `id` in the engine.
    async fn refs_elsewhere(&self, v: &Variant, id: &str) -> Result<Vec<ImageRef>> {
        let mut elsewhere = Vec::new();
        for r in self.refs_of(v) {
            let current = self.engine.image_id(&r.to_string()).await?;
            if current.as_deref() != Some(id) {
                elsewhere.push(r);
            }
        }
        Ok(elsewhere)
    }

    /// Up to date: point every ref at the last build (re-tagging where needed) and remember.
    async fn reuse(
        &self,
        v: &Variant,
        prev: &ImageState,
        fingerprint: String,
        digests: InputDigests,
        files: Arc<Stamps>,
    ) -> Result<Done> {
        let engine = self.engine;
        // Up to date on another engine of the pool: moved here rather than built again.
        if let Some(holder) = self.holder_of(&prev.id).await?
            && holder != self.engine_index
        {
            let to = (self.engine_index, self.engine_name);
            super::moves::fetch(self.session, self.image, holder, to, &prev.id).await?;
        }
        let refs = self.refs_of(v);
        let elsewhere = self.refs_elsewhere(v, &prev.id).await?;
        for r in &elsewhere {
            engine.tag(&prev.id, r).await?;
        }
        let retagged = !elsewhere.is_empty();
        let mut all_refs = prev.refs.clone();
        all_refs.extend(refs.iter().map(ToString::to_string));
        all_refs.sort();
        all_refs.dedup();
        let state = ImageState {
            fingerprint,
            id: prev.id.clone(),
            refs: all_refs,
            files,
            inputs: Some(digests),
            build_ms: prev.build_ms,
        };
        // A no-op writes nothing: the record on disk is this one.
        if state != *prev {
            self.store.save(&v.state_key, &state)?;
        }
        Ok(Done {
            outcome: if retagged {
                Outcome::Retagged
            } else {
                Outcome::UpToDate
            },
            id: prev.id.clone(),
            licenses: None,
            bases: BTreeMap::new(),
        })
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

    /// Build through the engine, untagged; the full log goes to `logs/<image>.log`.
    async fn build(
        &self,
        v: &Variant,
        logs: &Path,
        sources: &Sources,
        platform_args: BTreeMap<String, String>,
        labels: BTreeMap<String, String>,
        opts: &BuildOptions,
    ) -> Result<String> {
        let session = self.session;
        let image = self.image;
        if !self.announced.swap(true, Ordering::SeqCst) {
            session
                .reporter
                .event(&Event::BuildStarted(event::BuildStarted {
                    subject: image.subject(),
                    engine: self.engine_name.map(str::to_string),
                }));
        }
        let log_path = logs.join(format!("{}.log", fingerprint::file_stem(&v.state_key)));
        let mut log = std::fs::File::create(&log_path)
            .map(std::io::BufWriter::new)
            .map_err(|e| Error::io(format!("cannot write {}", log_path.display()), e))?;
        let mut build_args = image.build_args.clone();
        build_args.extend(platform_args);
        let credentials = session.build_credentials().await;
        let ctx = &sources.ctx;
        // A BuildKit build calls back for registry credentials, secrets and the files of its
        // context through a session of ours, open for the time of the build.
        let build_session = match self.builder() {
            Builder::Classic => None,
            Builder::BuildKit => {
                let specs = super::secret_specs(&session.plan, self.index, &opts.secrets)?;
                let secrets = crate::engine::session::load_all(&specs)?;
                let auths = crate::engine::registry_auths(&credentials);
                let folder = &session.plan.manifest_of(self.index).context;
                let synced = SyncedContext::new(
                    ctx.clone(),
                    sources.files.clone(),
                    sources.hashed_at,
                    folder,
                    &image.name,
                )
                .only(sources.only.clone());
                let host = self.engine.host();
                match BuildSession::start_with_context(host, secrets, auths, synced).await {
                    Ok(s) => Some(s),
                    // An engine the session cannot reach (TLS): builds without secrets still
                    // run, pulling what needs no credentials.
                    Err(Error::Usage(_)) if specs.is_empty() => None,
                    Err(e) => return Err(e),
                }
            }
        };
        let cache = self.cache(opts);
        // Without a session (an engine reached over TLS) the context goes as a tar.
        let from_session = build_session.is_some();
        let request = BuildRequest {
            builder: self.builder(),
            dockerfile: match from_session {
                true => ctx.dockerfile_name(),
                false => ctx.dockerfile_in_context.clone(),
            },
            context_from_session: from_session,
            build_args,
            no_cache: opts.no_cache,
            credentials: Some(credentials),
            // BuildKit fills the platform args of `FROM` lines only for a platform it is given:
            // the engine's own when the image names none.
            platform: match self.builder() {
                Builder::BuildKit => {
                    Some(v.platform.as_ref().unwrap_or(&session.native).to_string())
                }
                Builder::Classic => None,
            },
            target: image.target.clone(),
            session: build_session.as_ref().map(|s| s.id().to_string()),
            // --no-cache uses no cache, so none is fetched.
            cache_from: match opts.no_cache {
                true => Vec::new(),
                false => cache.from,
            },
            inline_cache: cache.inline,
            labels,
            raw_stream: opts.raw_stream,
        };
        let label = match (&v.platform, v.carries_refs) {
            (Some(p), false) => format!("{} {p}", image.label()),
            _ => image.label(),
        };
        let body = match from_session {
            true => futures_util::stream::empty().left_stream(),
            false => context::tar_stream(ctx.clone()).right_stream(),
        };
        let mut stream = Box::pin(self.engine.build(&request, Box::pin(body)));
        let mut id = None;
        let mut failure = None;
        while let Some(item) = stream.next().await {
            let line = match item {
                Ok(BuildOutput::Step(line)) => {
                    session
                        .reporter
                        .build_log(&image.name, &label, BuildLog::Step(&line));
                    line
                }
                Ok(BuildOutput::Line(line)) => {
                    session
                        .reporter
                        .build_log(&image.name, &label, BuildLog::Output(&line));
                    line
                }
                Ok(BuildOutput::ImageId(i)) => {
                    id = Some(i);
                    continue;
                }
                Err(f) => {
                    let line = format!("ERROR: {}", f.error);
                    session
                        .reporter
                        .build_log(&image.name, &label, BuildLog::Output(&line));
                    let _ = writeln!(log, "{line}");
                    failure = Some(f);
                    break;
                }
            };
            let _ = writeln!(log, "{line}");
        }
        drop(stream);
        // A context file that changed while it was sent: the engine only says the transfer
        // failed; our own error names the file.
        let sync_failure = build_session.as_ref().and_then(|s| s.take_sync_failure());
        if let Some(s) = build_session {
            s.close().await;
        }
        let _ = log.flush();
        let log_hint = format!("full log: {}", session.ws.display_path(&log_path));
        match (failure, id) {
            (Some(_), _) if let Some(e) = sync_failure => {
                self.store.forget(&v.state_key);
                if matches!(e, crate::context::ContextError::NotSelected { .. }) {
                    let state_dir = session.ws.state_dir();
                    let dockerfile = &sources.dockerfile;
                    super::selection::remember_whole(session, self.engine, self.index, dockerfile)
                        .await
                        .map_err(|e| {
                            Error::io(format!("cannot write under {}", state_dir.display()), e)
                        })?;
                }
                Err(Error::Failed(format!("build failed: {e} ({log_hint})")))
            }
            (Some(f), _) => {
                self.store.forget(&v.state_key);
                let manifest = session.plan.manifest_of(self.index);
                if let Some(parse) = dockerfile_parse_error(&f.error.to_string()) {
                    return Err(Error::Failed(format!(
                        "{}:{parse} ({log_hint})",
                        session.ws.display_path(
                            &image.dockerfile_path(manifest, &session.ws.state_dir())
                        )
                    )));
                }
                let at = f.step.map(|s| format!(" at {s}")).unwrap_or_default();
                let hint = emulation_hint(&f.error.to_string(), v.platform.as_ref());
                Err(Error::Failed(format!(
                    "build failed{at}: {}{hint} ({log_hint})",
                    f.error
                )))
            }
            (None, None) => Err(Error::Failed(format!(
                "the engine finished the build without reporting an image id ({log_hint})"
            ))),
            (None, Some(id)) => Ok(id),
        }
    }

    /// After a build: the licenses layer when asked, the tags, the state, the event.
    async fn finish(
        &self,
        v: &Variant,
        id: String,
        fingerprint: String,
        digests: InputDigests,
        files: Arc<Stamps>,
        opts: &BuildOptions,
    ) -> Result<Done> {
        let session = self.session;
        let image = self.image;
        let manifest = session.plan.manifest_of(self.index);
        let label = image.label();
        let say = |text: &str| {
            session
                .reporter
                .build_log(&image.name, &label, BuildLog::Output(text));
        };
        let (id, licenses) = match (&manifest.licenses, opts.pull_licenses) {
            (Some(spec), true) => {
                say("gathering third-party licenses");
                let resolved = crate::licenses::gather_licenses(
                    &session.ws,
                    manifest,
                    Some((self.engine, &id)),
                )
                .await?;
                // The time of the `created` label, else now (no commit, no SOURCE_DATE_EPOCH).
                let created = match session.provenance(true).await?.created {
                    Some(created) => created,
                    None => crate::provenance::created(&session.ws.root)?,
                };
                let sbom = crate::licenses::sbom::document(&image.name, &created, &resolved)?;
                let final_id = crate::licenses::add_licenses_layer(
                    self.engine,
                    self.builder(),
                    v.platform.as_ref().map(ToString::to_string),
                    &id,
                    &spec.dest,
                    &resolved,
                    &sbom,
                )
                .await?;
                say(&format!(
                    "added {} license entries and {} under {}",
                    resolved.len(),
                    crate::licenses::sbom::FILE,
                    spec.dest
                ));
                (final_id, Some(resolved.len()))
            }
            _ => (id, None),
        };
        let refs = self.refs_of(v);
        for r in &refs {
            self.engine.tag(&id, r).await?;
        }
        let state = ImageState {
            fingerprint,
            id: id.clone(),
            refs: refs.iter().map(ToString::to_string).collect(),
            files,
            inputs: Some(digests),
            build_ms: Some(self.started.elapsed().as_millis() as u64),
        };
        self.store.save(&v.state_key, &state)?;
        Ok(Done {
            outcome: Outcome::Built,
            id,
            licenses,
            bases: BTreeMap::new(),
        })
    }
}

/// BuildKit's `dockerfile parse error line N: reason` as `N: reason`, with what to do when the
/// syntax is newer than the engine's built-in frontend.
fn dockerfile_parse_error(error: &str) -> Option<String> {
    let rest = &error
        [error.find("dockerfile parse error line ")? + "dockerfile parse error line ".len()..];
    let (line, reason) = rest.split_once(':')?;
    let line: usize = line.trim().parse().ok()?;
    let reason = reason.trim();
    let newer = reason.contains("Unknown flag: link")
        || reason.starts_with("unknown instruction")
        || reason.contains("heredoc");
    let hint = if newer {
        "; the engine's built-in Dockerfile frontend does not know this syntax (heredocs and `COPY --link` need a newer engine, or a `# syntax=` frontend image the engine can pull)"
    } else {
        ""
    };
    Some(format!("{line}: {reason}{hint}"))
}

/// A step that could not start its program on a foreign platform: the engine's host has no
/// emulation for it.
fn emulation_hint(error: &str, platform: Option<&Platform>) -> String {
    match platform {
        Some(p) if error.contains("exec format error") => format!(
            "; the engine's host cannot run {p} programs: install qemu-user-static there (Debian: `apt-get install qemu-user-static binfmt-support`) to build {p} images with RUN steps"
        ),
        _ => String::new(),
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
