//! One side of a diff read from the local engine: the image exported (`oci::archive`, streamed
//! into a temporary file, never whole in memory) and its layers read from that file. Or, with
//! [`normalized`], the image as this tool would push it (`oci::normalize`).

use std::path::Path;
use std::sync::Arc;

use super::{Compression, ImageRead, LayerSource, LayerStream};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::oci::{ExportedImage, NormalizedImage};
use crate::output::diff::{DiffSide, DiffSource, LayerFacts};

/// `text` from the engine; `None` when the engine holds no such image.
pub async fn read(engine: &Engine, text: &str) -> Result<Option<ImageRead>> {
    let Some(id) = engine.image_id(text).await? else {
        return Ok(None);
    };
    let dir = tempfile::Builder::new()
        .prefix("sdkimage-diff-")
        .tempdir()
        .map_err(|e| Error::io("cannot make a temporary folder for an exported image", e))?;
    let image = crate::oci::archive::export_and_open(engine, &id, dir.path()).await?;
    let config: serde_json::Value = serde_json::from_slice(&image.config)
        .map_err(|e| Error::Failed(format!("{text}: the image config is not JSON: {e}")))?;
    let layers: Vec<LayerFacts> = image
        .diff_ids
        .iter()
        .map(|d| LayerFacts {
            diff_id: d.clone(),
            digest: None,
        })
        .collect();
    Ok(Some(ImageRead {
        side: DiffSide {
            reference: text.to_string(),
            source: DiffSource::Engine,
            manifest_digest: None,
            config_digest: crate::oci::normalize::sha256_digest(&image.config),
            platform: super::platform_of(&config),
            layers: layers.len(),
        },
        config,
        layers,
        source: Box::new(ExportedLayers {
            image: Arc::new(image),
            _dir: Some(dir),
        }),
    }))
}

/// The image `exported` as `normalized` says it would be pushed: its manifest digest, config
/// and compressed layers (from the normaliser's cache; a base layer passed through is read from
/// the export, its content being the same).
pub fn normalized(
    text: &str,
    exported: Arc<ExportedImage>,
    normalized: &NormalizedImage,
) -> Result<ImageRead> {
    let config: serde_json::Value = serde_json::from_slice(&normalized.config)
        .map_err(|e| Error::Failed(format!("{text}: the normalised config is not JSON: {e}")))?;
    let layers: Vec<LayerFacts> = normalized
        .layers
        .iter()
        .map(|l| LayerFacts {
            diff_id: l.diff_id.clone(),
            digest: Some(l.descriptor.digest.clone()),
        })
        .collect();
    Ok(ImageRead {
        side: DiffSide {
            reference: text.to_string(),
            source: DiffSource::Engine,
            manifest_digest: Some(normalized.manifest.digest.clone()),
            config_digest: normalized.config_descriptor.digest.clone(),
            platform: super::platform_of(&config),
            layers: layers.len(),
        },
        config,
        layers,
        source: Box::new(NormalizedLayers {
            exported,
            blobs: normalized.layers.iter().map(|l| l.blob.clone()).collect(),
            layers: normalized
                .layers
                .iter()
                .map(|l| l.diff_id.clone())
                .collect(),
            digests: normalized
                .layers
                .iter()
                .map(|l| l.descriptor.digest.clone())
                .collect(),
        }),
    })
}

struct ExportedLayers {
    image: Arc<ExportedImage>,
    /// The temporary folder holding the export, removed with the source.
    _dir: Option<tempfile::TempDir>,
}

#[async_trait::async_trait]
impl LayerSource for ExportedLayers {
    async fn open(&self, index: usize) -> Result<LayerStream> {
        exported_layer(&self.image, index)
    }
}

fn exported_layer(image: &ExportedImage, index: usize) -> Result<LayerStream> {
    let raw = image.open_layer(index).map_err(|e| {
        Error::io(
            format!("cannot read layer {index} of {}", image.path().display()),
            e,
        )
    })?;
    Ok(LayerStream {
        raw,
        compression: Compression::None,
        digest: None,
        diff_id: image.diff_ids[index].clone(),
    })
}

struct NormalizedLayers {
    exported: Arc<ExportedImage>,
    blobs: Vec<Option<std::path::PathBuf>>,
    layers: Vec<String>,
    digests: Vec<String>,
}

#[async_trait::async_trait]
impl LayerSource for NormalizedLayers {
    async fn open(&self, index: usize) -> Result<LayerStream> {
        match &self.blobs[index] {
            Some(blob) => Ok(LayerStream {
                raw: Box::new(open_blob(blob)?),
                compression: Compression::Gzip,
                digest: Some(self.digests[index].clone()),
                diff_id: self.layers[index].clone(),
            }),
            None => exported_layer(&self.exported, index),
        }
    }
}

fn open_blob(path: &Path) -> Result<std::io::BufReader<std::fs::File>> {
    std::fs::File::open(path)
        .map(std::io::BufReader::new)
        .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))
}
