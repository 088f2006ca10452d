//! The file `--metadata-file` writes: one [`ImageMetadata`] per image, keyed by image name,
//! and [`read_metadata`], which also reads the file `docker buildx bake --metadata-file` writes.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What happened to one image in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Built,
    UpToDate,
    Retagged,
    Failed,
    /// Not attempted: a dependency failed, or the run stopped after a failure.
    Skipped,
}

impl Outcome {
    /// The name used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Built => "built",
            Outcome::UpToDate => "up-to-date",
            Outcome::Retagged => "retagged",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
        }
    }
}

/// One image in the `--metadata-file` JSON (keyed by image name). The dotted keys are the ones
/// `docker buildx bake --metadata-file` writes, so tools that read bake's file read ours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ImageMetadata {
    /// Its full references.
    pub refs: Vec<String>,
    /// The engine's image id (`sha256:...`) its refs point at; null when the build failed.
    pub id: Option<String>,
    /// The registry manifest digest, once pushed.
    pub digest: Option<String>,
    /// Whether it was pushed in this run (`build --push`, `push`).
    pub pushed: bool,
    /// Number of license entries added to the image, when licenses were pulled.
    pub licenses: Option<usize>,
    /// The time its build (or check) took.
    pub duration_ms: u64,
    pub outcome: Outcome,
    /// Its references, comma-separated (as bake writes it).
    #[serde(rename = "image.name")]
    pub image_name: String,
    #[serde(
        rename = "containerimage.digest",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub containerimage_digest: Option<String>,
    /// The digest of the image config: once pushed, of the config in the registry (our own
    /// push normalises it, so it is not `id` then); before, the engine's (`id`). For an image
    /// of several platforms, the config of the platform `id` is.
    #[serde(
        rename = "containerimage.config.digest",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub containerimage_config_digest: Option<String>,
    /// For an image of several platforms, each platform's image id and, once pushed, its
    /// manifest digest (`containerimage.digest` is then the digest of the image index).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub platforms: BTreeMap<String, PlatformMetadata>,
    /// The external base images it was built on (`FROM` images that are not a stage, not
    /// `scratch` and not one of ours), by reference as the Dockerfile names them, for the
    /// platform its refs point at.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bases: BTreeMap<String, BaseMetadata>,
    /// With an engine pool: the engine that built it (or found it up to date), as named by
    /// `--engine` or `engines`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// With an engine pool: the engines lost while it ran there, one per requeue.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requeued_from: Vec<String>,
    /// Once pushed: whether its layers and config were normalised (our own push with an
    /// epoch), so `digest` is reproducible; false for `--push-via engine` and
    /// `reproducible = false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalized: Option<bool>,
    /// Once pushed with normalisation: the epoch (seconds since 1970) mtimes were clamped to
    /// and the config's times set to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
    /// With `--sign`: each signed digest (the index and each platform manifest, per
    /// repository) and the digests of the signature and attestation manifests written for it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<SignatureMetadata>,
}

/// One signed digest in the metadata file: cosign's `sha256-<hex>.sig` manifest (and `.att`)
/// in `repository`, by digest. No key material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SignatureMetadata {
    pub repository: String,
    /// The manifest digest signed (`sha256:...`).
    pub subject: String,
    /// The platform of a platform manifest; absent for an image's own digest (or index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The digest of the signature manifest (tag `sha256-<hex>.sig`).
    pub signature: String,
    /// The digest of the attestation manifest (tag `sha256-<hex>.att`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestations: Option<String>,
}

/// One external base image in the metadata file: the engine's id of it and, when it came from
/// a registry (pulled, or pushed from here), the registry's manifest digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BaseMetadata {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// One platform of an image in the metadata file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlatformMetadata {
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// With an engine pool: the engine that built this platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

/// Read a metadata file's text: an object keyed by image name. Our own files and the ones
/// `docker buildx bake --metadata-file` writes (which have only `image.name` and
/// `containerimage.digest` of these keys) both read, so every key may be missing.
pub fn read_metadata(text: &str) -> Result<BTreeMap<String, MetadataEntry>, MetadataReadError> {
    serde_json::from_str(text).map_err(|e| {
        if e.classify() == serde_json::error::Category::Data {
            MetadataReadError::NotAnObject(e)
        } else {
            MetadataReadError::NotJson(e)
        }
    })
}

/// Why a metadata file's text was refused.
#[derive(Debug, thiserror::Error)]
pub enum MetadataReadError {
    /// JSON, but not an object keyed by image name of metadata entries.
    #[error("expected an object keyed by image name ({0})")]
    NotAnObject(serde_json::Error),
    #[error("not valid JSON ({0})")]
    NotJson(serde_json::Error),
}

/// One image of a metadata file as read back: [`ImageMetadata`] with every key optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct MetadataEntry {
    pub refs: Option<Vec<String>>,
    pub id: Option<String>,
    pub digest: Option<String>,
    pub pushed: Option<bool>,
    pub licenses: Option<usize>,
    pub duration_ms: Option<u64>,
    pub outcome: Option<Outcome>,
    #[serde(rename = "image.name")]
    pub image_name: Option<String>,
    #[serde(rename = "containerimage.digest")]
    pub containerimage_digest: Option<String>,
    #[serde(rename = "containerimage.config.digest")]
    pub containerimage_config_digest: Option<String>,
}
