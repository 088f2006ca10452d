//! Publishing built images (DESIGN.md section 5, "Two-phase publish"): push under a staging tag,
//! then point the release tags at the pushed manifests with small manifest PUTs; verify digests
//! against the local images or a metadata file; promote tags inside the registry.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::{StreamExt, stream};

use crate::engine::{Engine, EngineError};
use crate::error::{Error, Result};
use crate::interrupt::Interrupt;
use crate::plan::{BuildPlan, Image};
use crate::reference::{self, ImageRef};
use crate::registry::credentials::config_key;
use crate::registry::{Failure, Registries, RegistryManifest};
use crate::report::{Event, EventKind, Reporter, short_id};

/// The tag phase one pushes under, one per repository, overwritten by every run.
pub const DEFAULT_STAGING_TAG: &str = "sdkimage-staging";

/// How many registry API calls (phase two, `verify`, `promote`) run at once. They are small
/// HTTP requests the registry answers from its metadata, so they are not bounded by `--jobs`,
/// which bounds the engine's pushes (compression and uploads).
const CHECK_JOBS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishOptions {
    /// Images pushed at once (at least one).
    pub jobs: usize,
    /// `None` (`--no-staging`): push every release ref through the engine directly.
    pub staging_tag: Option<String>,
    /// Say what would be pushed; push nothing.
    pub dry_run: bool,
}

impl Default for PublishOptions {
    fn default() -> Self {
        PublishOptions {
            jobs: 4,
            staging_tag: Some(DEFAULT_STAGING_TAG.to_string()),
            dry_run: false,
        }
    }
}

/// An image whose refs all point at `digest` in the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// Index into [`BuildPlan::images`].
    pub image: usize,
    /// The registry manifest digest (`sha256:...`).
    pub digest: String,
    pub refs: Vec<ImageRef>,
}

/// An entry of a metadata file whose refs all point at its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEntry {
    pub name: String,
    pub digest: String,
    pub refs: Vec<ImageRef>,
}

/// One repository of one image and the digest it was pushed as.
#[derive(Debug, Clone)]
struct Pushed {
    repository: String,
    digest: String,
}

/// Push already-built local images: `built` pairs an index into `plan.images` with the local
/// image id to push for it.
///
/// With a staging tag: phase one pushes each image as `<repository>:<staging tag>` through the
/// engine (at most `jobs` at once); any failure there stops before a release tag changes. Phase
/// two fetches each manifest by the digest phase one returned and PUTs it under every release
/// tag, then checks every ref. Without one, every ref is pushed through the engine.
pub async fn push(
    engine: &Engine,
    registries: &Registries,
    plan: &BuildPlan,
    built: &[(usize, String)],
    opts: &PublishOptions,
    reporter: &Reporter,
    interrupt: &Interrupt,
) -> Result<Vec<Published>> {
    opts.check(plan, built.iter().map(|(index, _)| *index))?;
    let mut work = Vec::new();
    for (index, id) in built {
        let index = *index;
        let image = image_at(plan, index)?;
        if !image.refs.is_empty() {
            work.push((index, (image, id.as_str())));
        }
    }
    if opts.dry_run {
        for (_, (image, id)) in &work {
            reporter.note(&describe_push(image, id, opts.staging_tag.as_deref()));
        }
        return Ok(Vec::new());
    }
    let pushed = match &opts.staging_tag {
        Some(tag) => {
            // A signal stops phase one at once (only staging tags were written) and keeps
            // phase two from starting. Phase two, a few small manifest PUTs, is not cut
            // short: stopping half-way would leave some release tags old and some new.
            let mut signal = interrupt.clone();
            let staged = tokio::select! {
                staged = seeded(work, opts.jobs, |(image, id)| {
                    stage(engine, registries, image, id, tag)
                }) => staged,
                number = signal.wait() => return Err(stopped_before_release(number, reporter)),
            };
            let staged = all_or_failure(plan, staged, reporter, "no release tag was changed")?;
            if let Some(number) = interrupt.received() {
                return Err(stopped_before_release(number, reporter));
            }
            let staged = staged
                .into_iter()
                .map(|(index, pushed)| (index, (&plan.images[index], pushed)))
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
                pushed = seeded(work, opts.jobs, |(image, id)| {
                    push_direct(engine, registries, image, id)
                }) => pushed,
                number = signal.wait() => {
                    reporter.note("interrupted: without a staging tag, the refs pushed so far stay pushed");
                    return Err(Error::Interrupted(number));
                }
            };
            all_or_failure(plan, pushed, reporter, "")?
        }
    };
    if let Some(number) = interrupt.received() {
        reporter.note(&format!(
            "{} arrived while the release tags were being written; that was finished, so every release tag points at its new digest",
            crate::interrupt::name(number)
        ));
    }
    Ok(pushed
        .into_iter()
        .map(|(index, pushed)| {
            let image = &plan.images[index];
            let digest = pushed.first().map(|p| p.digest.clone()).unwrap_or_default();
            let id = built
                .iter()
                .find(|(i, _)| *i == index)
                .map(|(_, id)| id.clone());
            reporter.event(
                &Event::for_image(EventKind::PushFinished, image)
                    .id(id)
                    .digest(Some(digest.clone())),
            );
            Published {
                image: index,
                digest,
                refs: image.refs.clone(),
            }
        })
        .collect())
}

impl PublishOptions {
    /// Check the options against the images to publish, before anything runs: the staging
    /// tag must be a valid tag and none of their release tags (phase one would overwrite a
    /// release tag, which a failure in phase one must never change).
    pub fn check(&self, plan: &BuildPlan, images: impl IntoIterator<Item = usize>) -> Result<()> {
        let Some(staging) = &self.staging_tag else {
            return Ok(());
        };
        reference::check_tag(staging).map_err(|e| Error::Usage(format!("--staging-tag: {e}")))?;
        for index in images {
            let image = image_at(plan, index)?;
            if let Some(r) = image.refs.iter().find(|r| &r.tag == staging) {
                return Err(Error::Usage(format!(
                    "--staging-tag {staging} is also a release tag ({r}); phase one would overwrite it before the release is complete. Choose another staging tag"
                )));
            }
        }
        Ok(())
    }
}

/// The error of a publish stopped by a signal before any release tag changed.
fn stopped_before_release(number: i32, reporter: &Reporter) -> Error {
    reporter.note("interrupted: only staging tags were pushed; no release tag was changed");
    Error::Interrupted(number)
}

/// Check every ref of the selection: the registry's manifest digest must be one the engine
/// recorded for the local image the ref names (its `RepoDigests` entry for that repository).
/// Every mismatch is one line of the error, naming both digests.
pub async fn verify(
    engine: &Engine,
    registries: &Registries,
    plan: &BuildPlan,
    selection: &[usize],
    reporter: &Reporter,
) -> Result<Vec<Published>> {
    let images: Vec<(usize, &Image)> = selection
        .iter()
        .map(|&i| image_at(plan, i).map(|image| (i, image)))
        .collect::<Result<_>>()?;
    let checks: Vec<(usize, Result<Vec<RefCheck>>)> = stream::iter(images.iter().copied())
        .map(|(index, image)| async move {
            let mut checks = Vec::new();
            for r in &image.refs {
                match check_against_local(engine, registries, r).await {
                    Ok(check) => checks.push(check),
                    Err(e) => return (index, Err(e)),
                }
            }
            (index, Ok(checks))
        })
        .buffered(CHECK_JOBS)
        .collect()
        .await;
    conclude_checks(
        checks.into_iter().map(|(i, c)| (i, &plan.images[i], c)),
        reporter,
    )
}

/// Check a `--metadata-file`: every entry's refs must point at its `digest` in the registry.
/// No local image is needed. With `only`, just the entries of those image names (each must be
/// in the file).
pub async fn verify_metadata(
    registries: &Registries,
    file: &Path,
    only: Option<&[String]>,
    reporter: &Reporter,
) -> Result<Vec<VerifiedEntry>> {
    let rules = crate::guarded::Rules::anywhere(crate::guarded::METADATA_CAP, "a metadata file");
    let text = crate::guarded::read_to_string(file, rules)
        .map_err(|e| Error::Usage(format!("cannot read the metadata file {e}")))?;
    let mut entries = parse_metadata(&text)
        .map_err(|e| Error::Usage(format!("metadata file {}: {e}", file.display())))?;
    if let Some(names) = only {
        let absent: Vec<&str> = names
            .iter()
            .filter(|n| !entries.iter().any(|e| &e.name == *n))
            .map(String::as_str)
            .collect();
        if !absent.is_empty() {
            return Err(Error::Usage(format!(
                "metadata file {} has no entry for {}; it holds: {}",
                file.display(),
                absent.join(", "),
                entries
                    .iter()
                    .map(|e| e.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        entries.retain(|e| names.contains(&e.name));
    }
    let mut verified = Vec::new();
    let mut problems = Vec::new();
    for entry in entries {
        let mut lines = Vec::new();
        match &entry.digest {
            None => lines.push("no digest recorded (was it pushed?)".to_string()),
            Some(digest) => {
                for r in &entry.refs {
                    let remote = registry_digest(registries, r).await?;
                    if let Some(line) = mismatch(r, remote.as_deref(), digest, "the metadata file")
                    {
                        lines.push(line);
                    }
                }
            }
        }
        let mut event = Event::general(EventKind::Verified, None);
        event.image = Some(entry.name.clone());
        event.refs = entry.refs.iter().map(ToString::to_string).collect();
        event.digest = entry.digest.clone();
        if lines.is_empty() {
            reporter.event(&event);
            verified.push(VerifiedEntry {
                name: entry.name,
                digest: entry.digest.unwrap_or_default(),
                refs: entry.refs,
            });
        } else {
            event.event = EventKind::Failed;
            reporter.event(&event.message(lines.join("; ")));
            // One line per problem; a ref names its image already.
            let named = entry.digest.is_some();
            problems.extend(lines.into_iter().map(|line| match named {
                true => line,
                false => format!("{}: {line}", entry.name),
            }));
        }
    }
    if problems.is_empty() {
        Ok(verified)
    } else {
        Err(Error::Failed(problems.join("\n")))
    }
}

/// Point `to_tags` at the manifest `from_tag` names, inside the registry, digests unchanged.
/// Every source is read before anything changes; `dry_run` only reads.
pub async fn promote(
    registries: &Registries,
    plan: &BuildPlan,
    selection: &[usize],
    from_tag: &str,
    to_tags: &[String],
    dry_run: bool,
    reporter: &Reporter,
) -> Result<Vec<Published>> {
    reference::check_tag(from_tag).map_err(|e| Error::Usage(format!("--from-tag: {e}")))?;
    for tag in to_tags {
        reference::check_tag(tag).map_err(|e| Error::Usage(format!("--tag: {e}")))?;
    }
    let mut sources = Vec::new();
    for &index in selection {
        let image = image_at(plan, index)?;
        for repository in repositories(image) {
            sources.push((
                index,
                image,
                ImageRef::new(repository, from_tag).map_err(Error::Usage)?,
            ));
        }
    }
    let fetched: Vec<(usize, &Image, Result<RegistryManifest>)> = stream::iter(sources)
        .map(|(index, image, source)| async move {
            (index, image, fetch_source(registries, &source).await)
        })
        .buffered(CHECK_JOBS)
        .collect()
        .await;
    let mut manifests = Vec::new();
    let mut failures = Vec::new();
    for (index, image, manifest) in fetched {
        match manifest {
            Ok(manifest) => manifests.push((index, image, manifest)),
            Err(e) => failures.push((image, e)),
        }
    }
    if !failures.is_empty() {
        return Err(report_failures(failures, reporter, "no tag was changed"));
    }
    let mut promoted: Vec<Published> = Vec::new();
    for (index, image, manifest) in manifests {
        let result = promote_one(registries, image, &manifest, to_tags, dry_run, reporter).await;
        let refs = match result {
            Ok(refs) => refs,
            Err(e) => return Err(report_failures(vec![(image, e)], reporter, "")),
        };
        match promoted.iter_mut().find(|p| p.image == index) {
            Some(p) => p.refs.extend(refs),
            None => promoted.push(Published {
                image: index,
                digest: manifest.digest.clone(),
                refs,
            }),
        }
    }
    if !dry_run {
        for p in &promoted {
            let mut event = Event::for_image(EventKind::Promoted, &plan.images[p.image])
                .digest(Some(p.digest.clone()));
            event.refs = p.refs.iter().map(ToString::to_string).collect();
            reporter.event(&event);
        }
    }
    Ok(promoted)
}

/// Phase one for one image: tag it `<repository>:<staging>` and push that, per repository. The
/// local release refs are pointed at it too, so the engine's view matches what is published.
async fn stage(
    engine: &Engine,
    registries: &Registries,
    image: &Image,
    id: &str,
    staging: &str,
) -> Result<Vec<Pushed>> {
    for r in &image.refs {
        engine.tag(id, r).await?;
    }
    let mut pushed = Vec::new();
    for repository in repositories(image) {
        let staging_ref = ImageRef::new(repository, staging).map_err(Error::Usage)?;
        engine.tag(id, &staging_ref).await?;
        let digest = engine_push(engine, registries, &staging_ref).await?;
        let client = registries.client(staging_ref.registry()).await?;
        if client
            .head_manifest(&staging_ref.path(), &digest)
            .await?
            .as_deref()
            != Some(digest.as_str())
        {
            return Err(Error::Failed(format!(
                "{staging_ref} was pushed as {digest}, but the registry has no manifest with that digest"
            )));
        }
        pushed.push(Pushed {
            repository: repository.to_string(),
            digest,
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
        let manifest = client
            .get_manifest(&path, &p.digest)
            .await?
            .ok_or_else(|| {
                Error::Failed(format!(
                    "{}@{} is no longer in the registry",
                    p.repository, p.digest
                ))
            })?;
        for r in image.refs.iter().filter(|r| r.repository == p.repository) {
            client.put_manifest(&path, &r.tag, &manifest).await?;
        }
    }
    check_refs(registries, image, &pushed).await?;
    Ok(pushed)
}

/// `--no-staging`: tag and push every ref through the engine, then check them.
async fn push_direct(
    engine: &Engine,
    registries: &Registries,
    image: &Image,
    id: &str,
) -> Result<Vec<Pushed>> {
    let mut pushed: Vec<Pushed> = Vec::new();
    for r in &image.refs {
        engine.tag(id, r).await?;
        let digest = engine_push(engine, registries, r).await?;
        if !pushed.iter().any(|p| p.repository == r.repository) {
            pushed.push(Pushed {
                repository: r.repository.clone(),
                digest,
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

/// Push one ref through the engine with the registry's credentials, retrying transient failures.
async fn engine_push(
    engine: &Engine,
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

/// The outcome of one ref in `verify`.
struct RefCheck {
    problem: Option<String>,
    remote: Option<String>,
}

async fn check_against_local(
    engine: &Engine,
    registries: &Registries,
    r: &ImageRef,
) -> Result<RefCheck> {
    let remote = registry_digest(registries, r).await?;
    let local = engine.repo_digests(&r.to_string()).await?;
    let problem = match (&local, &remote) {
        (None, _) => Some(format!(
            "{r}: no local image (registry: {})",
            remote.as_deref().unwrap_or("no such tag")
        )),
        (Some(digests), _) => {
            let recorded: Vec<&str> = digests
                .iter()
                .filter_map(|d| digest_for(d, &r.repository))
                .collect();
            match remote.as_deref() {
                Some(remote) if recorded.contains(&remote) => None,
                _ if recorded.is_empty() => Some(format!(
                    "{r}: the local image was never pushed to {} (registry: {})",
                    r.repository,
                    remote.as_deref().unwrap_or("no such tag")
                )),
                remote => Some(format!(
                    "{r}: registry has {}, the local image has {}",
                    remote.unwrap_or("no such tag"),
                    recorded.join(", ")
                )),
            }
        }
    };
    Ok(RefCheck { problem, remote })
}

/// Events and the overall result of `verify`.
fn conclude_checks<'a>(
    checks: impl Iterator<Item = (usize, &'a Image, Result<Vec<RefCheck>>)>,
    reporter: &Reporter,
) -> Result<Vec<Published>> {
    let mut verified = Vec::new();
    let mut lines = Vec::new();
    let mut first_error = None;
    for (index, image, result) in checks {
        match result {
            Err(e) => {
                reporter.event(&Event::for_image(EventKind::Failed, image).message(e.to_string()));
                first_error.get_or_insert(e);
            }
            Ok(checks) => {
                let problems: Vec<String> =
                    checks.iter().filter_map(|c| c.problem.clone()).collect();
                let digest = checks.iter().find_map(|c| c.remote.clone());
                if problems.is_empty() {
                    reporter.event(
                        &Event::for_image(EventKind::Verified, image).digest(digest.clone()),
                    );
                    verified.push(Published {
                        image: index,
                        digest: digest.unwrap_or_default(),
                        refs: image.refs.clone(),
                    });
                } else {
                    reporter.event(
                        &Event::for_image(EventKind::Failed, image).message(problems.join("; ")),
                    );
                    lines.extend(problems);
                }
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None if lines.is_empty() => Ok(verified),
        None => Err(Error::Failed(lines.join("\n"))),
    }
}

/// One line when `r` does not point at `expected` (`remote` is what the registry has).
fn mismatch(r: &ImageRef, remote: Option<&str>, expected: &str, source: &str) -> Option<String> {
    match remote {
        Some(remote) if remote == expected => None,
        Some(remote) => Some(format!(
            "{r}: registry has {remote}, {source} has {expected}"
        )),
        None => Some(format!(
            "{r}: the registry has no such tag, {source} has {expected}"
        )),
    }
}

async fn registry_digest(registries: &Registries, r: &ImageRef) -> Result<Option<String>> {
    registries
        .client(r.registry())
        .await?
        .head_manifest(&r.path(), &r.tag)
        .await
}

async fn fetch_source(registries: &Registries, source: &ImageRef) -> Result<RegistryManifest> {
    let client = registries.client(source.registry()).await?;
    client
        .get_manifest(&source.path(), &source.tag)
        .await?
        .ok_or_else(|| Error::Failed(format!("{source} is not in the registry")))
}

/// PUT `manifest` under every `to_tags` of its repository and check them (or, dry, say so).
async fn promote_one(
    registries: &Registries,
    image: &Image,
    manifest: &RegistryManifest,
    to_tags: &[String],
    dry_run: bool,
    reporter: &Reporter,
) -> Result<Vec<ImageRef>> {
    let mut refs = Vec::new();
    for repository in repositories(image) {
        for tag in to_tags {
            let target = ImageRef::new(repository, tag).map_err(Error::Usage)?;
            let client = registries.client(target.registry()).await?;
            if dry_run {
                let now = client.head_manifest(&target.path(), tag).await?;
                reporter.note(&format!(
                    "would point {target} at {} (now: {})",
                    manifest.digest,
                    now.as_deref().unwrap_or("absent")
                ));
            } else {
                client.put_manifest(&target.path(), tag, manifest).await?;
                let now = client.head_manifest(&target.path(), tag).await?;
                if let Some(line) =
                    mismatch(&target, now.as_deref(), &manifest.digest, "the source")
                {
                    return Err(Error::Failed(line));
                }
            }
            refs.push(target);
        }
    }
    Ok(refs)
}

/// Run `f` over `work` with at most `jobs` at once, results in order. With `stop_on_failure`,
/// once one fails the rest that have not started are skipped (`None`).
/// Engine pushes: the first image (in build order, often the base the others are built on)
/// alone, then the rest `jobs` at a time. Layers the images share are then in the registry
/// before the parallel pushes start, and the engine mounts them instead of uploading each
/// shared layer once per concurrent push.
async fn seeded<T, U, F, Fut>(
    mut work: Vec<(usize, T)>,
    jobs: usize,
    f: F,
) -> Vec<(usize, Option<Result<U>>)>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = Result<U>>,
{
    if work.len() < 2 || jobs < 2 {
        return bounded(work, jobs, true, f).await;
    }
    let rest = work.split_off(1);
    let mut results = bounded(work, 1, true, &f).await;
    if results.iter().any(|(_, r)| matches!(r, Some(Err(_)))) {
        results.extend(rest.into_iter().map(|(index, _)| (index, None)));
        return results;
    }
    results.extend(bounded(rest, jobs, true, &f).await);
    results
}

async fn bounded<T, U, F, Fut>(
    work: Vec<(usize, T)>,
    jobs: usize,
    stop_on_failure: bool,
    f: F,
) -> Vec<(usize, Option<Result<U>>)>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = Result<U>>,
{
    let stop = AtomicBool::new(false);
    let (stop, f) = (&stop, &f);
    stream::iter(work)
        .map(|(index, item)| async move {
            if stop.load(Ordering::SeqCst) {
                return (index, None);
            }
            let result = f(item).await;
            if result.is_err() && stop_on_failure {
                stop.store(true, Ordering::SeqCst);
            }
            (index, Some(result))
        })
        .buffered(jobs.max(1))
        .collect()
        .await
}

/// All results, or: a `Failed` event per failed image and one error for the run.
fn all_or_failure<T>(
    plan: &BuildPlan,
    results: Vec<(usize, Option<Result<T>>)>,
    reporter: &Reporter,
    consequence: &str,
) -> Result<Vec<(usize, T)>> {
    let total = results.len();
    let mut done = Vec::new();
    let mut failures = Vec::new();
    let mut skipped = 0;
    for (index, result) in results {
        match result {
            Some(Ok(value)) => done.push((index, value)),
            Some(Err(e)) => failures.push((&plan.images[index], e)),
            None => skipped += 1,
        }
    }
    if failures.is_empty() && skipped == 0 {
        return Ok(done);
    }
    let mut note = format!("{} of {total} images failed", failures.len());
    if skipped > 0 {
        note.push_str(&format!(", {skipped} not attempted"));
    }
    if !consequence.is_empty() {
        note.push_str(&format!("; {consequence}"));
    }
    Err(report_failures(failures, reporter, &note))
}

/// A `Failed` event per image; the error keeps the kind of the first failure (unreachable
/// registries exit 3, the rest 1) and lists every failure.
fn report_failures(failures: Vec<(&Image, Error)>, reporter: &Reporter, note: &str) -> Error {
    let mut lines = Vec::new();
    let mut unreachable = false;
    for (image, e) in &failures {
        reporter.event(&Event::for_image(EventKind::Failed, image).message(e.to_string()));
        unreachable |= matches!(e, Error::Unreachable(_));
        lines.push(format!("{}: {e}", image.name));
    }
    if !note.is_empty() {
        lines.push(note.to_string());
    }
    let text = lines.join("\n");
    if unreachable {
        Error::Unreachable(text)
    } else {
        Error::Failed(text)
    }
}

fn describe_push(image: &Image, id: &str, staging: Option<&str>) -> String {
    let refs: Vec<String> = image.refs.iter().map(ToString::to_string).collect();
    match staging {
        Some(tag) => {
            let staged: Vec<String> = repositories(image)
                .iter()
                .map(|r| format!("{r}:{tag}"))
                .collect();
            format!(
                "would push {} as {}, then point {} at its digest",
                short_id(id),
                staged.join(", "),
                refs.join(", ")
            )
        }
        None => format!("would push {} as {}", short_id(id), refs.join(", ")),
    }
}

/// The distinct repositories of an image's refs, in order.
fn repositories(image: &Image) -> Vec<&str> {
    let mut repos: Vec<&str> = Vec::new();
    for r in &image.refs {
        if !repos.contains(&r.repository.as_str()) {
            repos.push(&r.repository);
        }
    }
    repos
}

fn image_at(plan: &BuildPlan, index: usize) -> Result<&Image> {
    plan.images
        .get(index)
        .ok_or_else(|| Error::Usage(format!("no image #{index} in the plan")))
}

/// `repository@sha256:...` -> the digest, when the repository is `repository` (Docker Hub
/// names compared in their short form).
fn digest_for<'a>(repo_digest: &'a str, repository: &str) -> Option<&'a str> {
    let (repo, digest) = repo_digest.split_once('@')?;
    (familiar(repo) == familiar(repository)).then_some(digest)
}

fn familiar(repository: &str) -> &str {
    let short = repository.strip_prefix("docker.io/").unwrap_or(repository);
    if repository.starts_with("docker.io/") {
        short.strip_prefix("library/").unwrap_or(short)
    } else {
        short
    }
}

/// One image of a metadata file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MetadataEntry {
    name: String,
    refs: Vec<ImageRef>,
    digest: Option<String>,
}

/// An object keyed by image name; each value has `refs` and `digest` (or bake's `image.name`
/// and `containerimage.digest`).
fn parse_metadata(text: &str) -> std::result::Result<Vec<MetadataEntry>, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not valid JSON ({e})"))?;
    let object = value
        .as_object()
        .ok_or("expected an object keyed by image name")?;
    let mut entries = Vec::new();
    for (name, entry) in object {
        let field = |k: &str| {
            entry
                .get(k)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
        };
        let refs: Vec<&str> = match entry.get("refs").and_then(|v| v.as_array()) {
            Some(refs) => refs.iter().filter_map(|r| r.as_str()).collect(),
            None => field("image.name")
                .map(|n| n.split(',').map(str::trim).collect())
                .unwrap_or_default(),
        };
        let refs = refs
            .into_iter()
            .map(parse_ref)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| format!("`{name}`: {e}"))?;
        let digest = field("digest")
            .or_else(|| field("containerimage.digest"))
            .map(String::from);
        entries.push(MetadataEntry {
            name: name.clone(),
            refs,
            digest,
        });
    }
    Ok(entries)
}

/// `repository:tag` (the tag is required).
fn parse_ref(text: &str) -> std::result::Result<ImageRef, String> {
    let slash = text.rfind('/').map_or(0, |i| i + 1);
    let (repository, tag) = match text[slash..].split_once(':') {
        Some((_, tag)) => (&text[..text.len() - tag.len() - 1], tag),
        None => return Err(format!("`{text}` has no tag")),
    };
    ImageRef::new(repository, tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_parse_with_ports_and_tags() {
        let r = parse_ref("localhost:5000/beam/sdk:2.61.0").unwrap();
        assert_eq!(
            (r.repository.as_str(), r.tag.as_str()),
            ("localhost:5000/beam/sdk", "2.61.0")
        );
        assert!(
            parse_ref("localhost:5000/beam/sdk")
                .unwrap_err()
                .contains("no tag")
        );
        assert!(parse_ref("x:").is_err());
        assert!(parse_ref("Upper:1").is_err());
    }

    #[test]
    fn metadata_entries_in_ours_and_bakes_shape() {
        let entries = parse_metadata(
            r#"{"a": {"refs": ["r/a:1", "r/a:2"], "digest": "sha256:aa", "pushed": true},
                "b": {"image.name": "r/b:1,r/b:2", "containerimage.digest": "sha256:bb"},
                "c": {"refs": ["r/c:1"], "digest": null}}"#,
        )
        .unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].refs.len(), 2);
        assert_eq!(entries[1].digest.as_deref(), Some("sha256:bb"));
        assert_eq!(entries[1].refs[1].to_string(), "r/b:2");
        assert_eq!(entries[2].digest, None);
        assert!(parse_metadata("[]").is_err());
        assert!(
            parse_metadata(r#"{"a": {"refs": ["bad ref"]}}"#)
                .unwrap_err()
                .contains("`a`")
        );
    }

    #[test]
    fn repo_digests_match_their_repository() {
        assert_eq!(
            digest_for("localhost:5000/x@sha256:1", "localhost:5000/x"),
            Some("sha256:1")
        );
        assert_eq!(
            digest_for("localhost:5000/y@sha256:1", "localhost:5000/x"),
            None
        );
        assert_eq!(
            digest_for("busybox@sha256:1", "docker.io/library/busybox"),
            Some("sha256:1")
        );
        assert_eq!(
            digest_for("apache/beam@sha256:1", "apache/beam"),
            Some("sha256:1")
        );
        assert_eq!(digest_for("nonsense", "x"), None);
    }
}

/// Against a real `docker-registry` and the real engine (both required: these fail without).
#[cfg(test)]
mod registry_tests {
    use std::time::Duration;

    use super::*;

    use crate::registry::testutil::{
        TestRegistry, build_image, engine, fake_helper, plan, quiet_reporter,
    };
    use crate::registry::{DockerConfig, InsecureRegistries, RetryPolicy};

    /// `config` with the registries the engine treats as insecure.
    async fn registries(engine: &Engine, config: DockerConfig) -> Registries {
        let insecure = engine.insecure_registries().await.expect("engine /info");
        Registries::new(config, InsecureRegistries::default()).with_insecure(&insecure)
    }

    /// Image 0 of a plan with its local id.
    fn first(ids: &[String]) -> Vec<(usize, String)> {
        vec![(0, ids[0].clone())]
    }

    /// Images 0 and 1 of a plan with their local ids.
    fn both(ids: &[String]) -> Vec<(usize, String)> {
        vec![(0, ids[0].clone()), (1, ids[1].clone())]
    }

    /// The first image of `plan` pushed with the default options, nothing reported.
    async fn push_first(
        engine: &Engine,
        registries: &Registries,
        plan: &BuildPlan,
        ids: &[String],
    ) -> Result<Vec<Published>> {
        push(
            engine,
            registries,
            plan,
            &first(ids),
            &PublishOptions::default(),
            &quiet_reporter(),
            &Interrupt::never(),
        )
        .await
    }

    fn basic_auth_config(host: &str, user: &str, password: &str) -> DockerConfig {
        use base64::Engine as _;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let text = format!(r#"{{"auths": {{"http://{host}": {{"auth": "{auth}"}}}}}}"#);
        DockerConfig::parse(Path::new("/test/config.json"), &text, vec![]).unwrap()
    }

    #[tokio::test]
    async fn two_phase_push_points_every_tag_at_the_pushed_digest() {
        let (engine, reg) = (engine().await, TestRegistry::start());
        let host = reg.host();
        let plan = plan(
            &[
                ("a", &format!("{host}/sdk/a")),
                ("b", &format!("{host}/sdk/b")),
            ],
            &["1.0", "latest"],
        );
        let ids = vec![
            build_image(&engine, "a").await,
            build_image(&engine, "b").await,
        ];
        let registries = registries(&engine, DockerConfig::default()).await;
        let reporter = quiet_reporter();
        let opts = PublishOptions {
            jobs: 2,
            ..Default::default()
        };

        let dry_run = PublishOptions {
            dry_run: true,
            ..opts.clone()
        };
        assert!(
            push(
                &engine,
                &registries,
                &plan,
                &both(&ids),
                &dry_run,
                &reporter,
                &Interrupt::never()
            )
            .await
            .unwrap()
            .is_empty()
        );
        assert_eq!(
            reg.digest("sdk/a", DEFAULT_STAGING_TAG, None).await,
            None,
            "a dry run pushes nothing"
        );

        let published = push(
            &engine,
            &registries,
            &plan,
            &both(&ids),
            &opts,
            &reporter,
            &Interrupt::never(),
        )
        .await
        .unwrap();
        assert_eq!(published.len(), 2);
        assert_ne!(published[0].digest, published[1].digest);
        for (p, path) in published.iter().zip(["sdk/a", "sdk/b"]) {
            assert!(p.digest.starts_with("sha256:"));
            for tag in ["1.0", "latest", DEFAULT_STAGING_TAG] {
                assert_eq!(
                    reg.digest(path, tag, None).await.as_deref(),
                    Some(p.digest.as_str()),
                    "{path}:{tag}"
                );
            }
        }
        let verified = verify(&engine, &registries, &plan, &[0, 1], &reporter)
            .await
            .unwrap();
        assert_eq!(
            verified.iter().map(|v| &v.digest).collect::<Vec<_>>(),
            published.iter().map(|p| &p.digest).collect::<Vec<_>>()
        );
    }

    #[tokio::test]
    async fn no_staging_pushes_every_ref_through_the_engine() {
        let (engine, reg) = (engine().await, TestRegistry::start());
        let plan = plan(&[("a", &format!("{}/direct", reg.host()))], &["1", "2"]);
        let ids = vec![build_image(&engine, "direct").await];
        let registries = registries(&engine, DockerConfig::default()).await;
        let opts = PublishOptions {
            staging_tag: None,
            ..Default::default()
        };
        let published = push(
            &engine,
            &registries,
            &plan,
            &first(&ids),
            &opts,
            &quiet_reporter(),
            &Interrupt::never(),
        )
        .await
        .unwrap();
        for tag in ["1", "2"] {
            assert_eq!(
                reg.digest("direct", tag, None).await,
                Some(published[0].digest.clone())
            );
        }
        assert_eq!(reg.digest("direct", DEFAULT_STAGING_TAG, None).await, None);
    }

    #[tokio::test]
    async fn verify_catches_a_tag_repushed_with_other_content() {
        let (engine, reg) = (engine().await, TestRegistry::start());
        let plan = plan(
            &[("a", &format!("{}/sdk/v", reg.host()))],
            &["1.0", "latest"],
        );
        let ids = vec![build_image(&engine, "original").await];
        let registries = registries(&engine, DockerConfig::default()).await;
        let reporter = quiet_reporter();
        let published = push_first(&engine, &registries, &plan, &ids).await.unwrap();

        // Someone else pushes other content under 1.0; the local tag still names our image.
        let other = build_image(&engine, "intruder").await;
        let r = &plan.images[0].refs[0];
        engine.tag(&other, r).await.unwrap();
        let intruder = engine.push(r, None).await.unwrap();
        engine.tag(&ids[0], r).await.unwrap();

        let e = verify(&engine, &registries, &plan, &[0], &reporter)
            .await
            .unwrap_err();
        assert_eq!(e.exit_code(), 1);
        let text = e.to_string();
        assert!(
            text.contains(&format!("{r}:"))
                && text.contains(&intruder)
                && text.contains(&published[0].digest),
            "{text}"
        );
        assert_eq!(
            text.lines().count(),
            1,
            "only the re-pushed ref is wrong: {text}"
        );
    }

    #[tokio::test]
    async fn a_failure_in_phase_one_changes_no_release_tag() {
        let engine = engine().await;
        let (open, locked) = (
            TestRegistry::start(),
            TestRegistry::start_with_htpasswd("u", "p"),
        );
        let plan = plan(
            &[
                ("a", &format!("{}/sdk/a", open.host())),
                ("b", &format!("{}/sdk/b", locked.host())),
            ],
            &["1.0"],
        );
        let registries = registries(&engine, DockerConfig::default()).await;
        let reporter = quiet_reporter();
        let old = vec![build_image(&engine, "old a").await];
        let before = push_first(&engine, &registries, &plan, &old).await.unwrap();

        let ids = vec![
            build_image(&engine, "new a").await,
            build_image(&engine, "new b").await,
        ];
        let opts = PublishOptions {
            jobs: 2,
            ..Default::default()
        };
        let e = push(
            &engine,
            &registries,
            &plan,
            &both(&ids),
            &opts,
            &reporter,
            &Interrupt::never(),
        )
        .await
        .unwrap_err();
        assert_eq!(e.exit_code(), 1);
        let text = e.to_string();
        assert!(
            text.contains(&locked.host()) && text.contains("no credentials"),
            "{text}"
        );
        assert!(text.contains("no release tag was changed"), "{text}");
        assert_eq!(
            open.digest("sdk/a", "1.0", None).await,
            Some(before[0].digest.clone()),
            "the old release stays"
        );
        assert_eq!(locked.digest("sdk/b", "1.0", Some(("u", "p"))).await, None);
    }

    #[tokio::test]
    async fn promote_copies_manifests_and_keeps_digests() {
        let (engine, reg) = (engine().await, TestRegistry::start());
        let plan = plan(&[("a", &format!("{}/sdk/p", reg.host()))], &["rc1"]);
        let ids = vec![build_image(&engine, "promote me").await];
        let registries = registries(&engine, DockerConfig::default()).await;
        let reporter = quiet_reporter();
        let pushed = push_first(&engine, &registries, &plan, &ids).await.unwrap();
        let to = vec!["1.0".to_string(), "latest".to_string()];

        let dry = promote(&registries, &plan, &[0], "rc1", &to, true, &reporter)
            .await
            .unwrap();
        assert_eq!(dry[0].digest, pushed[0].digest);
        assert_eq!(
            reg.digest("sdk/p", "1.0", None).await,
            None,
            "a dry run changes nothing"
        );

        let missing = promote(&registries, &plan, &[0], "rc9", &to, false, &reporter)
            .await
            .unwrap_err();
        assert!(missing.to_string().contains("rc9"), "{missing}");
        assert_eq!(reg.digest("sdk/p", "1.0", None).await, None);

        let promoted = promote(&registries, &plan, &[0], "rc1", &to, false, &reporter)
            .await
            .unwrap();
        assert_eq!(promoted[0].digest, pushed[0].digest);
        assert_eq!(
            promoted[0]
                .refs
                .iter()
                .map(|r| r.tag.as_str())
                .collect::<Vec<_>>(),
            ["1.0", "latest"]
        );
        for tag in ["rc1", "1.0", "latest"] {
            assert_eq!(
                reg.digest("sdk/p", tag, None).await,
                Some(pushed[0].digest.clone()),
                "{tag}"
            );
        }
    }

    #[tokio::test]
    async fn htpasswd_auth_through_a_docker_config_dir() {
        let (engine, reg) = (
            engine().await,
            TestRegistry::start_with_htpasswd("alice", "right-pass"),
        );
        let host = reg.host();
        let plan = plan(&[("a", &format!("{host}/private"))], &["1"]);
        let ids = vec![build_image(&engine, "private").await];
        let reporter = quiet_reporter();

        let wrong = registries(&engine, basic_auth_config(&host, "alice", "wrong-pass")).await;
        let e = push_first(&engine, &wrong, &plan, &ids).await.unwrap_err();
        let text = e.to_string();
        assert_eq!(e.exit_code(), 1);
        assert!(
            text.contains(&host) && text.contains("rejected") && !text.contains("wrong-pass"),
            "{text}"
        );

        let dir = tempfile::tempdir().unwrap();
        let auth = {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode("alice:right-pass")
        };
        std::fs::write(
            dir.path().join("config.json"),
            format!(r#"{{"auths": {{"{host}": {{"auth": "{auth}"}}}}}}"#),
        )
        .unwrap();
        let right = registries(&engine, DockerConfig::load(dir.path(), vec![]).unwrap()).await;
        let published = push_first(&engine, &right, &plan, &ids).await.unwrap();
        assert_eq!(
            reg.digest("private", "1", Some(("alice", "right-pass")))
                .await,
            Some(published[0].digest.clone())
        );
        verify(&engine, &right, &plan, &[0], &reporter)
            .await
            .unwrap();

        let anonymous = registries(&engine, DockerConfig::default()).await;
        let e = verify(&engine, &anonymous, &plan, &[0], &reporter)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("docker login"), "{e}");
    }

    #[tokio::test]
    async fn htpasswd_auth_through_a_credential_helper() {
        let (engine, reg) = (
            engine().await,
            TestRegistry::start_with_htpasswd("bob", "helper-pass"),
        );
        let host = reg.host();
        let plan = plan(&[("a", &format!("{host}/helped"))], &["1"]);
        let ids = vec![build_image(&engine, "helped").await];
        let (config_dir, helper_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        fake_helper(helper_dir.path(), "test", &[(&host, "bob", "helper-pass")]);
        std::fs::write(
            config_dir.path().join("config.json"),
            format!(r#"{{"credHelpers": {{"{host}": "test"}}}}"#),
        )
        .unwrap();
        let config =
            DockerConfig::load(config_dir.path(), vec![helper_dir.path().to_path_buf()]).unwrap();
        let registries = registries(&engine, config).await;
        let reporter = quiet_reporter();
        let published = push_first(&engine, &registries, &plan, &ids).await.unwrap();
        assert_eq!(
            reg.digest("helped", "1", Some(("bob", "helper-pass")))
                .await,
            Some(published[0].digest.clone())
        );
        verify(&engine, &registries, &plan, &[0], &reporter)
            .await
            .unwrap();
        let log =
            std::fs::read_to_string(helper_dir.path().join("docker-credential-test.log")).unwrap();
        assert_eq!(
            log.lines().collect::<Vec<_>>(),
            [format!("get {host}")],
            "looked up once"
        );
    }

    #[tokio::test]
    async fn pushes_survive_a_registry_that_is_briefly_down() {
        let (engine, mut reg) = (engine().await, TestRegistry::start());
        let plan = plan(&[("a", &format!("{}/flaky", reg.host()))], &["1"]);
        let ids = vec![build_image(&engine, "flaky").await];
        let registries = registries(&engine, DockerConfig::default()).await;
        reg.stop();
        let restart = tokio::task::spawn_blocking(move || {
            std::thread::sleep(Duration::from_secs(1));
            reg.start_again();
            reg
        });
        let published = push_first(&engine, &registries, &plan, &ids).await;
        let reg = restart.await.unwrap();
        let published = published.unwrap();
        assert_eq!(
            reg.digest("flaky", "1", None).await,
            Some(published[0].digest.clone())
        );
    }

    #[tokio::test]
    async fn an_unreachable_registry_exits_3_after_retries() {
        let engine = engine().await;
        let mut reg = TestRegistry::start();
        let plan = plan(&[("a", &format!("{}/gone", reg.host()))], &["1"]);
        let ids = vec![build_image(&engine, "gone").await];
        reg.stop();
        let fast = RetryPolicy {
            attempts: 2,
            first_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(10),
        };
        let registries = registries(&engine, DockerConfig::default())
            .await
            .with_retry(fast);
        let reporter = quiet_reporter();
        let e = push_first(&engine, &registries, &plan, &ids)
            .await
            .unwrap_err();
        assert_eq!(e.exit_code(), 3, "{e}");
        let e = verify(&engine, &registries, &plan, &[0], &reporter)
            .await
            .unwrap_err();
        assert_eq!(e.exit_code(), 3, "{e}");
    }

    #[tokio::test]
    async fn metadata_digests_are_checked_without_local_images() {
        let (engine, reg) = (engine().await, TestRegistry::start());
        let plan = plan(&[("a", &format!("{}/meta", reg.host()))], &["1", "2"]);
        let ids = vec![build_image(&engine, "meta").await];
        let registries = registries(&engine, DockerConfig::default()).await;
        let reporter = quiet_reporter();
        let published = push_first(&engine, &registries, &plan, &ids).await.unwrap();
        let refs: Vec<String> = plan.images[0]
            .refs
            .iter()
            .map(ToString::to_string)
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("metadata.json");
        let write = |digest: &str| {
            let json = serde_json::json!({"a": {"refs": refs, "digest": digest, "pushed": true}});
            std::fs::write(&file, json.to_string()).unwrap();
        };

        write(&published[0].digest);
        let no_engine = Registries::new(DockerConfig::default(), InsecureRegistries::default());
        let ok = verify_metadata(&no_engine, &file, None, &reporter)
            .await
            .unwrap();
        assert_eq!(ok[0].digest, published[0].digest);

        let wrong = format!("sha256:{}", "0".repeat(64));
        write(&wrong);
        let e = verify_metadata(&no_engine, &file, None, &reporter)
            .await
            .unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert_eq!(e.to_string().lines().count(), 2, "one line per ref: {e}");
        assert!(
            e.to_string().contains(&wrong) && e.to_string().contains(&published[0].digest),
            "{e}"
        );
    }
}
