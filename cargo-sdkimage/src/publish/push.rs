//! `push`: phase one pushes every image under the staging tag through the engine, phase two
//! points the release tags at the pushed manifests inside the registry (or, `--no-staging`,
//! every ref is pushed through the engine).

use super::jobs::{all_or_failure, bounded, seeded};
use super::{
    CHECK_JOBS, PublishOptions, PushVia, Pushed, image_at, mismatch, registry_digest, repositories,
};
use crate::oci::push::BlobHomes;
use std::collections::BTreeMap;

use super::holders::Holders;
use super::index::{self, index_of, is_multi_platform};
use crate::engine::{EngineApi, EngineError};
use crate::error::{Error, Result};
use crate::interrupt::Interrupt;
use crate::output::Note;
use crate::output::{Event, EventSink, event};
use crate::plan::{BuildPlan, Image, ImageIndex};
use crate::reference::ImageRef;
use crate::registry::credentials::config_key;
use crate::registry::{Failure, Registries};

/// An image [`push`] published: all its refs point at `digest` in the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// Index into [`BuildPlan::images`].
    pub image: ImageIndex,
    /// The registry manifest digest (`sha256:...`): of the image index, for an image of
    /// several platforms.
    pub digest: String,
    pub refs: Vec<ImageRef>,
    /// For an image of several platforms: platform -> the digest of its manifest.
    pub platforms: BTreeMap<String, String>,
    /// With `--sign`: the signatures and attestations written for its digests.
    pub signatures: Vec<crate::output::SignatureMetadata>,
    /// Whether its layers and config were normalised to `epoch` (our own push with one).
    pub normalized: bool,
    /// Our own push: each engine image id pushed (one per platform) and the digest of the
    /// config pushed for it; empty for the engine's push, whose config digest is the id.
    pub configs: BTreeMap<String, String>,
    /// The epoch of the push (see [`PublishOptions::epoch`]).
    pub epoch: Option<u64>,
}

/// Push already-built local images: `built` pairs an image of the plan ([`ImageIndex`]) with
/// the local image id to push for it; `engines` says which engine holds each (an engine pool
/// stages each image from the engine that built it).
///
/// With a staging tag: phase one pushes each image as `<repository>:<staging tag>` through the
/// engine (at most `jobs` at once); any failure there stops before a release tag changes. Phase
/// two fetches each manifest by the digest phase one returned and PUTs it under every release
/// tag, then checks every ref. Without one, every ref is pushed through the engine.
pub async fn push(
    engines: Holders<'_>,
    registries: &Registries,
    plan: &BuildPlan,
    built: &[(ImageIndex, String)],
    opts: &PublishOptions,
    reporter: &dyn EventSink,
    interrupt: &Interrupt,
) -> Result<Vec<Published>> {
    opts.check(plan, built.iter().map(|(index, _)| *index))?;
    let started = std::time::SystemTime::now();
    let mut work = Vec::new();
    for (index, id) in built {
        let index = *index;
        let image = image_at(plan, index)?;
        if !image.refs.is_empty() {
            work.push((index, (image, id.as_str(), engines.of(index))));
        }
    }
    if opts.dry_run {
        for (_, (image, id, _)) in &work {
            reporter.note(describe_push(image, id, opts.staging_tag.as_deref()));
        }
        return Ok(Vec::new());
    }
    let mut signed = Vec::new();
    let homes = BlobHomes::default();
    let homes = &homes;
    let pushed = match &opts.staging_tag {
        Some(tag) => {
            // A signal stops phase one at once (only staging tags were written) and keeps
            // phase two from starting. Phase two, a few small manifest PUTs, is not cut
            // short: stopping half-way would leave some release tags old and some new.
            let mut signal = interrupt.clone();
            let staged = tokio::select! {
                staged = stage_all(registries, work, opts, tag, homes) => staged,
                number = signal.wait() => return Err(stopped_before_release(number, reporter)),
            };
            let staged = all_or_failure(plan, staged, reporter, "no release tag was changed")?;
            if let Some(sign) = &opts.sign {
                signed = super::sign::sign_staged(
                    engines, registries, plan, &staged, built, sign, reporter,
                )
                .await?;
            }
            if let Some(number) = interrupt.received() {
                return Err(stopped_before_release(number, reporter));
            }
            let staged = staged
                .into_iter()
                .map(|(index, pushed)| (index, (plan.image(index), pushed)))
                .collect();
            let released = bounded(staged, CHECK_JOBS, false, |(image, pushed)| {
                release(registries, image, pushed)
            })
            .await;
            all_or_failure(
                plan,
                released,
                reporter,
                "the release tags of the other images point at their new digests",
            )?
        }
        None => {
            let mut signal = interrupt.clone();
            let pushed = tokio::select! {
                pushed = seeded(work, opts.jobs, |(image, id, engine)| {
                    push_direct(engine, registries, image, id, opts, homes)
                }) => pushed,
                number = signal.wait() => {
                    reporter.note(Note::InterruptedDirectPush);
                    return Err(Error::Interrupted(number));
                }
            };
            all_or_failure(plan, pushed, reporter, "")?
        }
    };
    if opts.push_via == PushVia::Engine {
        record_on_first(engines, registries, &pushed).await;
    } else {
        crate::oci::archive::prune_exports(&opts.cache_dir.join("exports"), started);
    }
    if let Some(number) = interrupt.received() {
        reporter.note(Note::SignalDuringRelease {
            signal: crate::interrupt::name(number).to_string(),
        });
    }
    Ok(pushed
        .into_iter()
        .map(|(index, pushed)| {
            let image = plan.image(index);
            let digest = pushed.first().map(|p| p.digest.clone()).unwrap_or_default();
            let id = built
                .iter()
                .find(|(i, _)| *i == index)
                .map(|(_, id)| id.clone());
            reporter.event(&Event::PushFinished(event::PushFinished {
                subject: image.subject(),
                id,
                digest: digest.clone(),
            }));
            let platforms = pushed
                .first()
                .map(|p| {
                    p.platforms
                        .iter()
                        .map(|(platform, m)| (platform.to_string(), m.digest.clone()))
                        .collect()
                })
                .unwrap_or_default();
            Published {
                image: index,
                digest,
                refs: image.refs.clone(),
                platforms,
                signatures: signed
                    .iter()
                    .filter(|(i, _)| *i == index)
                    .map(|(_, s)| s.clone())
                    .collect(),
                normalized: opts.epoch_of(image).is_some(),
                epoch: opts.epoch,
                configs: pushed
                    .first()
                    .map(|p| p.configs.iter().cloned().collect())
                    .unwrap_or_default(),
            }
        })
        .collect())
}

/// Phase one for every image: the first (in build order, often the base the others are built
/// on) alone, then the layers the others share with it mounted into their repositories, then
/// the rest `jobs` at a time; stops at the first failure.
async fn stage_all<'a>(
    registries: &Registries,
    mut work: Vec<(ImageIndex, Staged<'a>)>,
    opts: &PublishOptions,
    tag: &str,
    homes: &BlobHomes,
) -> Vec<(ImageIndex, Option<Result<Vec<Pushed>>>)> {
    let jobs = opts.jobs;
    let stage_one =
        |(image, id, engine): Staged<'a>| stage(engine, registries, image, id, tag, opts, homes);
    if work.len() < 2 {
        return bounded(work, jobs, true, stage_one).await;
    }
    let rest = work.split_off(1);
    let seed = work[0].1;
    // The images' layers are learnt while the first one is pushed.
    let all: Vec<Staged<'a>> = std::iter::once(seed)
        .chain(rest.iter().map(|(_, item)| *item))
        .collect();
    let (mut results, mut layers) = tokio::join!(
        bounded(work, 1, true, stage_one),
        super::mounts::layers_of(&all)
    );
    let Some((_, Some(Ok(pushed)))) = results.first() else {
        results.extend(rest.into_iter().map(|(index, _)| (index, None)));
        return results;
    };
    let seed_layers = layers.remove(0);
    let others: Vec<(&Image, Vec<String>)> = rest
        .iter()
        .map(|(_, (image, _, _))| *image)
        .zip(layers)
        .collect();
    super::mounts::share_layers(registries, seed.0, &seed_layers, pushed, &others).await;
    results.extend(bounded(rest, jobs, true, stage_one).await);
    results
}

/// An image pushed from another engine of a pool is also in the first (gathered there), but
/// that engine never saw it pushed: a pull by digest (nothing to download) records the
/// registry digest there too, so `verify` and `docker inspect` on the first engine agree.
/// Best effort: `verify` says so when it did not happen.
async fn record_on_first(
    engines: Holders<'_>,
    registries: &Registries,
    pushed: &[(ImageIndex, Vec<Pushed>)],
) {
    for (index, repositories) in pushed {
        if std::ptr::addr_eq(engines.of(*index), engines.first) {
            continue;
        }
        for p in repositories.iter().filter(|p| p.platforms.is_empty()) {
            let Ok(reference) = ImageRef::new(&p.repository, "latest") else {
                continue;
            };
            let credentials = registries
                .credentials(reference.registry())
                .await
                .ok()
                .flatten()
                .map(|c| c.to_docker(&config_key(reference.registry())));
            let by_digest = format!("{}@{}", p.repository, p.digest);
            let _ = engines.first.pull(&by_digest, None, credentials).await;
        }
    }
}

/// One image to stage: the image, its local id and the engine holding it.
type Staged<'a> = (&'a Image, &'a str, &'a dyn EngineApi);

/// The error of a publish stopped by a signal before any release tag changed.
fn stopped_before_release(number: i32, reporter: &dyn EventSink) -> Error {
    reporter.note(Note::InterruptedStagingOnly);
    Error::Interrupted(number)
}

/// Phase one for one image: tag it `<repository>:<staging>` and push that, per repository. The
/// local release refs are pointed at it too, so the engine's view matches what is published.
async fn stage(
    engine: &dyn EngineApi,
    registries: &Registries,
    image: &Image,
    id: &str,
    staging: &str,
    opts: &PublishOptions,
    homes: &BlobHomes,
) -> Result<Vec<Pushed>> {
    if is_multi_platform(image) {
        return stage_platforms(engine, registries, image, staging, opts, homes).await;
    }
    let native = crate::platform::Platform::of_engine(&engine.platform().await?);
    for r in &image.local_refs(&native) {
        engine.tag(id, r).await?;
    }
    let mut pushed = Vec::new();
    if opts.push_via == PushVia::Tool {
        let normalized = prepare(engine, registries, image, id, opts, homes).await?;
        let config = normalized.config_descriptor.digest.clone();
        for repository in repositories(image) {
            let staging_ref =
                ImageRef::new(repository, staging).map_err(|e| Error::Usage(e.to_string()))?;
            let manifest = push_ours(registries, &staging_ref, &normalized, homes).await?;
            crate::oci::push::record_pushed(&opts.cache_dir, id, repository, &manifest.digest);
            pushed.push(Pushed {
                repository: repository.to_string(),
                digest: manifest.digest.clone(),
                platforms: Vec::new(),
                manifest: Some(manifest),
                configs: vec![(id.to_string(), config.clone())],
            });
        }
        return Ok(pushed);
    }
    for repository in repositories(image) {
        let staging_ref =
            ImageRef::new(repository, staging).map_err(|e| Error::Usage(e.to_string()))?;
        engine.tag(id, &staging_ref).await?;
        let digest = engine_push(engine, registries, &staging_ref).await?;
        let client = registries.client(staging_ref.registry()).await?;
        // Read back by its digest (checked against it): phase two PUTs these bytes.
        let manifest = client
            .get_manifest(&staging_ref.path(), &digest)
            .await?
            .filter(|m| m.digest == digest)
            .ok_or_else(|| {
                Error::Failed(format!(
                    "{staging_ref} was pushed as {digest}, but the registry has no manifest with that digest"
                ))
            })?;
        pushed.push(Pushed {
            repository: repository.to_string(),
            digest,
            platforms: Vec::new(),
            manifest: Some(manifest),
            configs: Vec::new(),
        });
    }
    Ok(pushed)
}

/// Phase one for an image of several platforms: each platform's image is pushed as
/// `<repository>:<staging>-<platform>`; the index that phase two writes over them is known
/// (and its digest) once all are in.
async fn stage_platforms(
    engine: &dyn EngineApi,
    registries: &Registries,
    image: &Image,
    staging: &str,
    opts: &PublishOptions,
    homes: &BlobHomes,
) -> Result<Vec<Pushed>> {
    let ids = index::local_ids(engine, image).await?;
    let mut pushed = Vec::new();
    let mut prepared = Vec::new();
    if opts.push_via == PushVia::Tool {
        let all = ids
            .iter()
            .map(|(_, id)| prepare(engine, registries, image, id, opts, homes));
        prepared = futures_util::future::try_join_all(all).await?;
    }
    for repository in repositories(image) {
        let mut children = Vec::new();
        for (i, (platform, id)) in ids.iter().enumerate() {
            let tag = crate::platform::local_tag(staging, platform, None);
            let staging_ref =
                ImageRef::new(repository, &tag).map_err(|e| Error::Usage(e.to_string()))?;
            if let Some(normalized) = prepared.get(i) {
                let manifest = push_ours(registries, &staging_ref, normalized, homes).await?;
                crate::oci::push::record_pushed(&opts.cache_dir, id, repository, &manifest.digest);
                children.push((platform.clone(), manifest));
                continue;
            }
            engine.tag(id, &staging_ref).await?;
            let digest = engine_push(engine, registries, &staging_ref).await?;
            let client = registries.client(staging_ref.registry()).await?;
            let manifest = client
                .get_manifest(&staging_ref.path(), &digest)
                .await?
                .ok_or_else(|| {
                    Error::Failed(format!(
                        "{staging_ref} was pushed as {digest}, but the registry has no manifest with that digest"
                    ))
                })?;
            children.push((platform.clone(), manifest));
        }
        let index = index_of(&children);
        let configs = ids
            .iter()
            .zip(&prepared)
            .map(|((_, id), n)| (id.clone(), n.config_descriptor.digest.clone()))
            .collect();
        pushed.push(Pushed {
            repository: repository.to_string(),
            digest: index.digest,
            platforms: children,
            manifest: None,
            configs,
        });
    }
    Ok(pushed)
}

/// Phase two for one image: every release tag gets the manifest phase one pushed, fetched by
/// its digest; then every ref is checked.
async fn release(
    registries: &Registries,
    image: &Image,
    pushed: Vec<Pushed>,
) -> Result<Vec<Pushed>> {
    for p in &pushed {
        let Some(first) = image.refs.iter().find(|r| r.repository == p.repository) else {
            continue;
        };
        let client = registries.client(first.registry()).await?;
        let path = first.path();
        let manifest = if let Some(manifest) = &p.manifest {
            manifest.clone()
        } else if p.platforms.is_empty() {
            client
                .get_manifest(&path, &p.digest)
                .await?
                .ok_or_else(|| {
                    Error::Failed(format!(
                        "{}@{} is no longer in the registry",
                        p.repository, p.digest
                    ))
                })?
        } else {
            index_of(&p.platforms)
        };
        for r in image.refs.iter().filter(|r| r.repository == p.repository) {
            client.put_manifest(&path, &r.tag, &manifest).await?;
        }
    }
    check_refs(registries, image, &pushed).await?;
    Ok(pushed)
}

/// `--no-staging`: tag and push every ref through the engine, then check them.
async fn push_direct(
    engine: &dyn EngineApi,
    registries: &Registries,
    image: &Image,
    id: &str,
    opts: &PublishOptions,
    homes: &BlobHomes,
) -> Result<Vec<Pushed>> {
    let mut pushed: Vec<Pushed> = Vec::new();
    let normalized = match opts.push_via {
        PushVia::Tool => Some(prepare(engine, registries, image, id, opts, homes).await?),
        PushVia::Engine => None,
    };
    for r in &image.refs {
        engine.tag(id, r).await?;
        let digest = match &normalized {
            Some(normalized) => {
                let digest = push_ours(registries, r, normalized, homes).await?.digest;
                crate::oci::push::record_pushed(&opts.cache_dir, id, &r.repository, &digest);
                digest
            }
            None => engine_push(engine, registries, r).await?,
        };
        if !pushed.iter().any(|p| p.repository == r.repository) {
            pushed.push(Pushed {
                repository: r.repository.clone(),
                digest,
                platforms: Vec::new(),
                manifest: None,
                configs: normalized
                    .iter()
                    .map(|n| (id.to_string(), n.config_descriptor.digest.clone()))
                    .collect(),
            });
        }
    }
    check_refs(registries, image, &pushed).await?;
    Ok(pushed)
}

/// Every ref of `image` must point at the digest its repository was pushed as.
async fn check_refs(registries: &Registries, image: &Image, pushed: &[Pushed]) -> Result<()> {
    let mut lines = Vec::new();
    for r in &image.refs {
        let Some(expected) = pushed.iter().find(|p| p.repository == r.repository) else {
            continue;
        };
        let remote = registry_digest(registries, r).await?;
        lines.extend(mismatch(r, remote.as_deref(), &expected.digest, "the push"));
    }
    if lines.is_empty() {
        Ok(())
    } else {
        Err(Error::Failed(lines.join("; ")))
    }
}

/// Image `id` (of `image`) exported from `engine` and normalised to its epoch, ready to
/// upload: its first layers that are an external base's passed through (`bases`), with the
/// base's blobs when the base came from a registry (recorded in `homes` to be mounted).
async fn prepare(
    engine: &dyn EngineApi,
    registries: &Registries,
    image: &Image,
    id: &str,
    opts: &PublishOptions,
    homes: &BlobHomes,
) -> Result<crate::oci::NormalizedImage> {
    let exports = opts.cache_dir.join("exports");
    let exported = crate::oci::archive::export_and_open(engine, id, &exports).await?;
    let targets: Vec<&str> = image.refs.iter().map(|r| r.registry()).collect();
    let base = super::bases::base_layers(
        engine,
        registries,
        opts.bases_of(image),
        (&exported.config, &exported.diff_ids),
        &targets,
        &opts.cache_dir,
        homes,
    )
    .await;
    let epoch = opts.epoch_of(image);
    crate::oci::push::normalize_exported(exported, &opts.cache_dir, epoch, base).await
}

/// Our own push of `normalized` as `reference`: blobs (HEAD first, mounted when this run put
/// them into another repository), then the manifest; the manifest as stored.
async fn push_ours(
    registries: &Registries,
    reference: &ImageRef,
    normalized: &crate::oci::NormalizedImage,
    homes: &BlobHomes,
) -> Result<crate::registry::RegistryManifest> {
    let registry = reference.registry();
    let client = registries.client(registry).await?;
    crate::oci::push::push_image(
        &client,
        registry,
        &reference.path(),
        &reference.tag,
        normalized,
        homes,
    )
    .await
    .map_err(|e| match e {
        Error::Failed(m) => Error::Failed(format!("cannot push {reference}: {m}")),
        other => other,
    })
}

/// Push one ref through the engine with the registry's credentials, retrying transient failures.
async fn engine_push(
    engine: &dyn EngineApi,
    registries: &Registries,
    reference: &ImageRef,
) -> Result<String> {
    let registry = reference.registry();
    let credentials = registries.credentials(registry).await?;
    let docker_credentials = credentials
        .as_ref()
        .map(|c| c.to_docker(&config_key(registry)));
    let result = registries
        .retry()
        .run(|| async {
            engine
                .push(reference, docker_credentials.clone())
                .await
                .map_err(|e| match e {
                    EngineError::Unreachable(m) => Failure::Connection(m),
                    EngineError::Failed(m) => Failure::from_engine_message(&m),
                })
        })
        .await;
    result.map_err(|failure| match failure {
        Failure::Denied(m) => {
            let why = match credentials {
                None => format!("the Docker config has no credentials for {registry} (run `docker login {registry}`)"),
                Some(_) => format!("the credentials the Docker config holds for {registry} were rejected"),
            };
            Error::Failed(format!("registry {registry} denied the push of {reference}: {why} (engine: {m})"))
        }
        Failure::Connection(m) => Error::Unreachable(format!(
            "cannot push {reference}: registry {registry} unreachable after {} attempts: {m}",
            registries.retry().attempts
        )),
        other => other.into_error(&format!("cannot push {reference}")),
    })
}

fn describe_push(image: &Image, id: &str, staging: Option<&str>) -> Note {
    Note::WouldPush {
        id: id.to_string(),
        refs: image.refs.iter().map(ToString::to_string).collect(),
        staged: staging.map(|tag| {
            repositories(image)
                .iter()
                .map(|r| format!("{r}:{tag}"))
                .collect()
        }),
    }
}
