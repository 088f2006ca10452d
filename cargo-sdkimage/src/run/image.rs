//! Building one image: its inputs and fingerprint, reuse when up to date (re-tagging when
//! asked for new tags), else a build through the engine, the licenses layer, and the tags,
//! which only a complete build gets.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use futures_util::StreamExt;

use super::{BuildOptions, ImageResult, Outcome, Session};
use crate::context::{self, Context};
use crate::engine::{BuildOutput, BuildRequest, Engine};
use crate::error::{Error, Result};
use crate::fingerprint::{self, FileStamp, ImageState, Inputs, StateStore};
use crate::output::{BuildLog, EventKind};
use crate::plan::Image;

/// Build (or reuse) image `index`; a failure is reported as its `failed` event.
pub(super) async fn build_one(
    session: &Session,
    store: &StateStore,
    logs: &Path,
    index: usize,
    dep_ids: BTreeMap<usize, String>,
    opts: &BuildOptions,
) -> ImageResult {
    let started = Instant::now();
    let image = &session.plan.images[index];
    let job = ImageJob {
        session,
        store,
        index,
        image,
        started,
    };
    match job.run(logs, &dep_ids, opts).await {
        Ok(r) => r,
        Err(e) => {
            let message = e.to_string();
            // Whatever failed (build, licenses, tagging), the last good build no longer
            // stands for this image's refs.
            store.forget(&image.name);
            session.reporter.event(
                &image
                    .event(EventKind::Failed)
                    .duration(started.elapsed())
                    .message(message.clone()),
            );
            ImageResult::failed(index, message, started.elapsed())
        }
    }
}

/// One image being built.
struct ImageJob<'a> {
    session: &'a Session,
    store: &'a StateStore,
    index: usize,
    image: &'a Image,
    started: Instant,
}

/// What the context and Dockerfile of an image were found to be.
struct Prepared {
    ctx: Context,
    /// The digest of the context's entries.
    digest: String,
    files: BTreeMap<String, FileStamp>,
    previous: Option<ImageState>,
    /// External `FROM` images, by name.
    bases: Vec<String>,
}

impl ImageJob<'_> {
    async fn run(
        &self,
        logs: &Path,
        dep_ids: &BTreeMap<usize, String>,
        opts: &BuildOptions,
    ) -> Result<ImageResult> {
        let mut inputs = self.inputs(dep_ids, opts);
        let prepared = self.prepare().await?;
        inputs.dockerfile = prepared.ctx.dockerfile_in_context.clone();
        // A base the engine lacks is a cache miss: the build pulls it, and the fingerprint is
        // taken again afterwards with its id.
        let bases_complete =
            resolve_bases(&self.session.engine, &prepared.bases, &mut inputs.bases).await?;
        let fingerprint = fingerprint::fingerprint(&inputs, &prepared.digest);
        if !opts.force && bases_complete {
            let previous = prepared.previous.as_ref();
            if let Some(prev) = previous.filter(|p| p.fingerprint == fingerprint)
                && self.session.engine.image_id(&prev.id).await?.is_some()
            {
                return self.reuse(prev, fingerprint, prepared.files).await;
            }
        }
        let Prepared {
            ctx,
            digest,
            files,
            bases,
            ..
        } = prepared;
        let id = self.build(logs, ctx, opts).await?;
        let fingerprint = if bases_complete {
            fingerprint
        } else {
            resolve_bases(&self.session.engine, &bases, &mut inputs.bases).await?;
            fingerprint::fingerprint(&inputs, &digest)
        };
        self.finish(id, fingerprint, files, opts).await
    }

    /// The non-file inputs: build args (ours by id), dependency ids, the license inputs.
    fn inputs(&self, dep_ids: &BTreeMap<usize, String>, opts: &BuildOptions) -> Inputs {
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
        };
        for (arg, dep) in &self.image.image_args {
            if let Some(id) = dep_ids.get(dep) {
                inputs.build_args.insert(arg.clone(), id.clone());
            }
        }
        inputs
    }

    /// Collect the context, read the Dockerfile's bases and hash the context, off the runtime.
    async fn prepare(&self) -> Result<Prepared> {
        let session = self.session;
        let manifest = session.plan.manifest_of(self.index);
        let spec = manifest.context_spec(
            self.image.variant.as_deref(),
            &session.ws.root,
            &session.ws.state_dir(),
        );
        let previous = self.store.load(&self.image.name);
        let dockerfile = manifest.dockerfile.clone();
        let (root, build_args) = (session.ws.root.clone(), self.image.build_args.clone());
        // Our own images count as dependencies, by id, already.
        let own_refs: BTreeSet<String> = session
            .plan
            .images
            .iter()
            .flat_map(|i| i.refs.iter().map(ToString::to_string))
            .collect();
        tokio::task::spawn_blocking(move || -> Result<Prepared> {
            let ctx = context::collect(&spec)?;
            let rules =
                crate::guarded::Rules::new(&root, crate::guarded::CONFIG_CAP, "a Dockerfile");
            let text = crate::guarded::read_to_string(&dockerfile, rules)
                .map_err(|e| Error::Failed(format!("cannot read {e}")))?;
            let mut bases = crate::dockerfile::external_bases(&text, &build_args, &BTreeMap::new());
            bases.retain(|b| !own_refs.contains(b));
            let (digest, files) = fingerprint::hash_context(&ctx, previous.as_ref())?;
            Ok(Prepared {
                ctx,
                digest,
                files,
                previous,
                bases,
            })
        })
        .await
        .map_err(|e| Error::Failed(format!("context task failed: {e}")))?
    }

    /// Up to date: point every ref at the last build (re-tagging where needed) and remember.
    async fn reuse(
        &self,
        prev: &ImageState,
        fingerprint: String,
        files: BTreeMap<String, FileStamp>,
    ) -> Result<ImageResult> {
        let engine = &self.session.engine;
        let mut retagged = false;
        for r in &self.image.refs {
            let current = engine.image_id(&r.to_string()).await?;
            if current.as_deref() != Some(prev.id.as_str()) {
                engine.tag(&prev.id, r).await?;
                retagged = true;
            }
        }
        let mut all_refs = prev.refs.clone();
        all_refs.extend(self.image.refs.iter().map(ToString::to_string));
        all_refs.sort();
        all_refs.dedup();
        let state = ImageState {
            fingerprint,
            id: prev.id.clone(),
            refs: all_refs,
            files,
        };
        self.store.save(&self.image.name, &state)?;
        let (kind, outcome) = if retagged {
            (EventKind::Retagged, Outcome::Retagged)
        } else {
            (EventKind::UpToDate, Outcome::UpToDate)
        };
        self.session.reporter.event(
            &self
                .image
                .event(kind)
                .id(Some(prev.id.clone()))
                .duration(self.started.elapsed()),
        );
        Ok(ImageResult {
            image: self.index,
            outcome,
            id: Some(prev.id.clone()),
            duration: self.started.elapsed(),
            message: None,
            licenses: None,
        })
    }

    /// Build through the engine, untagged; the full log goes to `logs/<image>.log`.
    async fn build(&self, logs: &Path, ctx: Context, opts: &BuildOptions) -> Result<String> {
        let session = self.session;
        let image = self.image;
        session
            .reporter
            .event(&image.event(EventKind::BuildStarted));
        let log_path = logs.join(format!("{}.log", fingerprint::file_stem(&image.name)));
        let mut log = std::fs::File::create(&log_path)
            .map(std::io::BufWriter::new)
            .map_err(|e| Error::io(format!("cannot write {}", log_path.display()), e))?;
        let request = BuildRequest {
            dockerfile: ctx.dockerfile_in_context.clone(),
            build_args: image.build_args.clone(),
            no_cache: opts.no_cache,
            credentials: Some(session.build_credentials().await),
        };
        let label = image.label();
        let mut stream = Box::pin(session.engine.build(&request, context::tar_stream(ctx)));
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
        let _ = log.flush();
        let log_hint = format!("full log: {}", session.ws.display_path(&log_path));
        match (failure, id) {
            (Some(f), _) => {
                self.store.forget(&image.name);
                let at = f.step.map(|s| format!(" at {s}")).unwrap_or_default();
                Err(Error::Failed(format!(
                    "build failed{at}: {} ({log_hint})",
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
        id: String,
        fingerprint: String,
        files: BTreeMap<String, FileStamp>,
        opts: &BuildOptions,
    ) -> Result<ImageResult> {
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
                    Some((&session.engine, &id)),
                )
                .await?;
                let final_id = crate::licenses::add_licenses_layer(
                    &session.engine,
                    &id,
                    &spec.dest,
                    &resolved,
                )
                .await?;
                say(&format!(
                    "added {} license entries under {}",
                    resolved.len(),
                    spec.dest
                ));
                (final_id, Some(resolved.len()))
            }
            _ => (id, None),
        };
        for r in &image.refs {
            session.engine.tag(&id, r).await?;
        }
        let state = ImageState {
            fingerprint,
            id: id.clone(),
            refs: image.refs.iter().map(ToString::to_string).collect(),
            files,
        };
        self.store.save(&image.name, &state)?;
        session.reporter.event(
            &image
                .event(EventKind::BuildFinished)
                .id(Some(id.clone()))
                .duration(self.started.elapsed()),
        );
        Ok(ImageResult {
            image: self.index,
            outcome: Outcome::Built,
            id: Some(id),
            duration: self.started.elapsed(),
            message: None,
            licenses,
        })
    }
}

/// The engine's id of each external base into `ids` (`absent` for one it does not hold);
/// whether every base was found.
async fn resolve_bases(engine: &Engine, bases: &[String], ids: &mut Vec<String>) -> Result<bool> {
    let mut complete = true;
    ids.clear();
    for base in bases {
        let id = match engine.image_id(base).await {
            Ok(Some(id)) => id,
            Err(e @ Error::Unreachable(_)) => return Err(e),
            // Not in the engine, or a name the engine cannot parse: the build will say.
            Ok(None) | Err(_) => {
                complete = false;
                "absent".to_string()
            }
        };
        ids.push(id);
    }
    Ok(complete)
}
