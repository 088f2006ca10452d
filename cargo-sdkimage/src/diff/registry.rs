//! One side of a diff read from a registry: the manifest (the platform's, under an index),
//! the config, and each layer's blob as a stream, decompressed and checked as it is read.

use std::sync::Arc;

use serde::Deserialize;

use super::{Compression, ImageRead, LayerSource, LayerStream};
use crate::error::{Error, Result};
use crate::oci::normalize::Descriptor;
use crate::output::diff::{DiffSide, DiffSource, LayerFacts};
use crate::platform::Platform;
use crate::reference::Reference;
use crate::registry::{Registries, RegistryClient};

/// The largest image config read (they are a few KiB).
const CONFIG_LIMIT: usize = 16 << 20;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Vec<IndexEntry>,
}

#[derive(Deserialize)]
struct IndexEntry {
    digest: String,
    #[serde(default)]
    platform: Option<IndexPlatform>,
}

#[derive(Deserialize)]
struct IndexPlatform {
    os: String,
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

/// One platform's image as its registry holds it: the manifest (the platform's, under an
/// index), its config, and its layers' descriptors, one per diff id of the config.
pub struct PlatformImage {
    pub client: Arc<RegistryClient>,
    /// The repository's path in its registry.
    pub repository: String,
    pub manifest_digest: String,
    pub config_digest: String,
    pub config: serde_json::Value,
    pub diff_ids: Vec<String>,
    pub layers: Vec<crate::oci::normalize::Descriptor>,
}

/// `reference` from its registry (by its digest, else its tag, else `latest`); `None` when the
/// registry has no such manifest. Under an index, the manifest of `platform` (any variant when
/// `platform` names none). `text` is the reference as the user wrote it, for messages.
pub async fn platform_image(
    registries: &Registries,
    reference: &Reference,
    text: &str,
    platform: &Platform,
) -> Result<Option<PlatformImage>> {
    let client = registries.client(reference.registry()).await?;
    let repository = crate::reference::path_of(&reference.repository);
    let wanted = reference
        .digest
        .clone()
        .or_else(|| reference.tag.clone())
        .unwrap_or_else(|| "latest".to_string());
    let Some(mut fetched) = client.get_manifest(&repository, &wanted).await? else {
        return Ok(None);
    };
    let mut manifest = parse(&fetched.bytes, text)?;
    if !manifest.manifests.is_empty() {
        let entry = manifest
            .manifests
            .iter()
            .find(|m| {
                m.platform.as_ref().is_some_and(|p| {
                    p.os == platform.os
                        && p.architecture == platform.arch
                        && (platform.variant.is_none() || p.variant == platform.variant)
                })
            })
            .ok_or_else(|| {
                let have: Vec<String> = manifest
                    .manifests
                    .iter()
                    .filter_map(|m| m.platform.as_ref())
                    .map(|p| match &p.variant {
                        Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
                        None => format!("{}/{}", p.os, p.architecture),
                    })
                    .collect();
                Error::Usage(format!(
                    "{} is an index without {platform}; it has {}: pass one with --platform",
                    crate::error::quoted(text),
                    have.join(", ")
                ))
            })?;
        let digest = entry.digest.clone();
        fetched = client
            .get_manifest(&repository, &digest)
            .await?
            .ok_or_else(|| {
                Error::Failed(format!(
                    "{text}: the index names {digest}, which the registry does not have"
                ))
            })?;
        manifest = parse(&fetched.bytes, text)?;
    }
    let config = manifest.config.as_ref().ok_or_else(|| {
        Error::Failed(format!(
            "{text}: manifest {} ({}) has no config",
            fetched.digest,
            manifest.media_type.as_deref().unwrap_or("no media type")
        ))
    })?;
    let config_bytes = client
        .blob_bytes(&repository, &config.digest, CONFIG_LIMIT)
        .await?
        .ok_or_else(|| {
            Error::Failed(format!(
                "{text}: the registry has no config blob {}",
                config.digest
            ))
        })?;
    let config_json: serde_json::Value = serde_json::from_slice(&config_bytes)
        .map_err(|e| Error::Failed(format!("{text}: the image config is not JSON: {e}")))?;
    let diff_ids = super::diff_ids_of(&config_json);
    if diff_ids.len() != manifest.layers.len() {
        return Err(Error::Failed(format!(
            "{text}: the manifest has {} layers, its config names {}",
            manifest.layers.len(),
            diff_ids.len()
        )));
    }
    Ok(Some(PlatformImage {
        client,
        repository,
        manifest_digest: fetched.digest,
        config_digest: config.digest.clone(),
        config: config_json,
        diff_ids,
        layers: manifest.layers,
    }))
}

/// `reference` from its registry, as one side of a diff; `None` when the registry has no such
/// manifest. Under an index, the manifest of `platform`.
pub async fn read(
    registries: &Registries,
    reference: &Reference,
    text: &str,
    platform: &Platform,
) -> Result<Option<ImageRead>> {
    let Some(image) = platform_image(registries, reference, text, platform).await? else {
        return Ok(None);
    };
    let layers: Vec<LayerFacts> = image
        .layers
        .iter()
        .zip(&image.diff_ids)
        .map(|(l, d)| LayerFacts {
            diff_id: d.clone(),
            digest: Some(l.digest.clone()),
        })
        .collect();
    let side = DiffSide {
        reference: text.to_string(),
        source: DiffSource::Registry,
        manifest_digest: Some(image.manifest_digest),
        config_digest: image.config_digest,
        platform: super::platform_of(&image.config),
        layers: layers.len(),
    };
    let media_types = image.layers.iter().map(|l| l.media_type.clone()).collect();
    Ok(Some(ImageRead {
        side,
        config: image.config,
        layers: layers.clone(),
        source: Box::new(RegistryLayers {
            client: image.client,
            repository: image.repository,
            layers,
            media_types,
        }),
    }))
}

fn parse(bytes: &[u8], text: &str) -> Result<Manifest> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::Failed(format!("{text}: the manifest is not one we can read: {e}")))
}

/// A layer media type `diff` cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("layers of media type {0} cannot be read (gzip or uncompressed tar only)")]
pub struct UnreadableLayer(pub String);

/// How a layer blob is compressed, from its media type.
pub fn compression_of(media_type: &str) -> std::result::Result<Compression, UnreadableLayer> {
    match media_type {
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
        | "application/vnd.oci.image.layer.v1.tar+gzip"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Ok(Compression::Gzip),
        "application/vnd.oci.image.layer.v1.tar"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar" => Ok(Compression::None),
        other => Err(UnreadableLayer(other.to_string())),
    }
}

struct RegistryLayers {
    client: Arc<RegistryClient>,
    repository: String,
    layers: Vec<LayerFacts>,
    media_types: Vec<String>,
}

#[async_trait::async_trait]
impl LayerSource for RegistryLayers {
    async fn open(&self, index: usize) -> Result<LayerStream> {
        let layer = &self.layers[index];
        let digest = layer.digest.clone().unwrap_or_default();
        let compression = compression_of(&self.media_types[index])
            .map_err(|e| Error::Failed(format!("layer {index} ({digest}): {e}")))?;
        let stream = self
            .client
            .blob_stream(&self.repository, &digest)
            .await?
            .ok_or_else(|| {
                Error::Failed(format!(
                    "the registry has no blob {digest} in {} (layer {index})",
                    self.repository
                ))
            })?;
        let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream));
        Ok(LayerStream {
            raw: Box::new(reader),
            compression,
            digest: Some(digest),
            diff_id: layer.diff_id.clone(),
        })
    }
}
