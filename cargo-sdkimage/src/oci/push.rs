//! Pushing an image ourselves: exported from its engine, normalised (`normalize`), then its
//! blobs uploaded with the registry client (each asked for with `HEAD` first; one this run
//! already put into another repository of the registry is mounted from there instead) and its
//! manifest PUT under a tag. Blobs of one image go up concurrently; images are pushed
//! concurrently by the caller (`publish::push`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use futures_util::{StreamExt, TryStreamExt, stream};

use super::normalize::{self, NormalizedImage, Options};
use super::{BaseLayer, archive};
use crate::engine::EngineApi;
use crate::error::{Error, Result};
use crate::registry::client::BlobSource;
use crate::registry::{RegistryClient, RegistryManifest};

/// Blob uploads (and mounts) in flight at once for one image.
const BLOB_JOBS: usize = 6;

/// Where this run has put each blob: `(registry, digest)` → repository path, so another
/// repository of the same registry mounts it instead of uploading it again.
#[derive(Debug, Default)]
pub struct BlobHomes {
    homes: Mutex<HashMap<(String, String), String>>,
}

impl BlobHomes {
    fn home(&self, registry: &str, digest: &str) -> Option<String> {
        self.homes
            .lock()
            .expect("blob homes")
            .get(&(registry.to_string(), digest.to_string()))
            .cloned()
    }

    /// Record that `repository` (a path in `registry`) holds blob `digest`: the layers of an
    /// external base are mounted from the base's repository.
    pub fn record(&self, registry: &str, digest: &str, repository: &str) {
        self.homes
            .lock()
            .expect("blob homes")
            .entry((registry.to_string(), digest.to_string()))
            .or_insert_with(|| repository.to_string());
    }
}

/// Export image `id` from `engine` into `<cache>/exports` and normalise it (`epoch`: `None`
/// keeps the engine's layers and config), blobs into `<cache>/blobs`.
pub async fn prepare(
    engine: &dyn EngineApi,
    id: &str,
    cache: &Path,
    epoch: Option<u64>,
    base: Vec<BaseLayer>,
) -> Result<NormalizedImage> {
    let exported = archive::export_and_open(engine, id, &cache.join("exports")).await?;
    normalize_exported(exported, cache, epoch, base).await
}

/// [`normalize::normalize`] of an image already exported, off the async threads.
pub async fn normalize_exported(
    exported: archive::ExportedImage,
    cache: &Path,
    epoch: Option<u64>,
    base: Vec<BaseLayer>,
) -> Result<NormalizedImage> {
    let cache = cache.to_path_buf();
    tokio::task::spawn_blocking(move || {
        normalize::normalize(
            &exported,
            &Options {
                epoch,
                base: &base,
                cache: &cache,
            },
        )
    })
    .await
    .map_err(|e| Error::Failed(format!("normalising an image: {e}")))?
}

/// Put every blob of `image` into `repository` (a path in `client`'s registry), then its
/// manifest under `tag`; the manifest as stored (its digest checked by the registry's answer).
pub async fn push_image(
    client: &RegistryClient,
    registry: &str,
    repository: &str,
    tag: &str,
    image: &NormalizedImage,
    homes: &BlobHomes,
) -> Result<RegistryManifest> {
    upload_blobs(client, registry, repository, image, homes).await?;
    client
        .put_manifest(repository, tag, &image.manifest)
        .await?;
    Ok(image.manifest.clone())
}

/// The blobs of `image` (layers, then the config) into `repository`.
pub async fn upload_blobs(
    client: &RegistryClient,
    registry: &str,
    repository: &str,
    image: &NormalizedImage,
    homes: &BlobHomes,
) -> Result<()> {
    let config = &image.config;
    let mut blobs: Vec<(String, u64, Option<BlobSource<'_>>)> = image
        .layers
        .iter()
        .map(|l| {
            (
                l.descriptor.digest.clone(),
                l.descriptor.size,
                l.blob.as_deref().map(BlobSource::File),
            )
        })
        .collect();
    blobs.push((
        image.config_descriptor.digest.clone(),
        image.config_descriptor.size,
        Some(BlobSource::Bytes(config)),
    ));
    let mut seen = std::collections::BTreeSet::new();
    blobs.retain(|(digest, _, _)| seen.insert(digest.clone()));
    stream::iter(blobs)
        .map(|(digest, size, source)| async move {
            put_blob(client, registry, repository, &digest, size, source, homes).await
        })
        .buffer_unordered(BLOB_JOBS)
        .try_collect::<()>()
        .await
}

async fn put_blob(
    client: &RegistryClient,
    registry: &str,
    repository: &str,
    digest: &str,
    size: u64,
    source: Option<BlobSource<'_>>,
    homes: &BlobHomes,
) -> Result<()> {
    if client.has_blob(repository, digest).await? {
        homes.record(registry, digest, repository);
        return Ok(());
    }
    if let Some(from) = homes.home(registry, digest)
        && from != repository
        && client
            .mount_blob(repository, digest, &from)
            .await
            .unwrap_or(false)
    {
        return Ok(());
    }
    let Some(source) = source else {
        return Err(Error::Failed(format!(
            "{registry}/{repository} lacks the base layer {digest}, and it could not be mounted from the base's repository (can the credentials for {registry} read it?); push the base to {registry}, or push with --push-via engine"
        )));
    };
    client.upload_blob(repository, digest, size, source).await?;
    homes.record(registry, digest, repository);
    Ok(())
}

/// The file recording where image `id` was pushed by us.
fn pushed_record(cache: &Path, id: &str) -> std::path::PathBuf {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    cache.join("pushed").join(format!("{hex}.json"))
}

/// Record that image `id` was pushed to `repository` (full, with the registry) as `digest`:
/// the engine never saw that push, so its `RepoDigests` do not say it; `verify` reads this
/// too ([`pushed_digests`]). Best effort.
pub fn record_pushed(cache: &Path, id: &str, repository: &str, digest: &str) {
    let path = pushed_record(cache, id);
    let mut entries = pushed_digests(cache, id);
    let entry = format!("{repository}@{digest}");
    entries.retain(|e| {
        e.rsplit_once('@')
            .is_none_or(|(repo, _)| repo != repository)
    });
    entries.push(entry);
    entries.sort();
    if let Some(parent) = path.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let tmp = path.with_extension("json.partial");
    if std::fs::write(&tmp, serde_json::to_vec(&entries).expect("serializes")).is_ok() {
        let _ = std::fs::rename(&tmp, &path);
    }
}

/// Where this tool pushed image `id`, as `RepoDigests` entries (`repository@digest`).
pub fn pushed_digests(cache: &Path, id: &str) -> Vec<String> {
    std::fs::read(pushed_record(cache, id))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}
