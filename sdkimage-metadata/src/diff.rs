//! `diff --message-format json`: why two images are not the same, as one JSON object
//! ([`ImageDiff`]). Its schema is `schemas/diff.schema.json`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Two images compared: each side, whether their content is the same, and what differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ImageDiff {
    /// The contract's version.
    pub schema: u32,
    pub a: DiffSide,
    pub b: DiffSide,
    /// The same content: the configs are byte for byte equal (so are the layers, which the
    /// config names by their diff ids). Manifest digests may still differ (compression, media
    /// types); `same_manifest` says whether they do.
    pub same: bool,
    /// Both sides have a manifest digest (read from a registry, or normalised) and it is
    /// the same. Null when a side has none (an engine image that was never pushed).
    pub same_manifest: Option<bool>,
    /// The config's fields that differ, as JSON pointers (`/created`, `/history/3/created`,
    /// `/config/Env/2`); the layer list (`/rootfs/diff_ids`) is left to `layers`.
    pub config: Vec<ConfigChange>,
    /// Each layer that differs (by position), with the files inside it that differ.
    pub layers: Vec<LayerDiff>,
}

/// One image as it was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DiffSide {
    /// The reference as given.
    pub reference: String,
    /// Where it was read: `engine` or `registry`.
    pub source: DiffSource,
    /// The registry's manifest digest; null for an image read from the engine.
    pub manifest_digest: Option<String>,
    /// The config's digest (the engine's image id).
    pub config_digest: String,
    /// The platform (`os/arch[/variant]`) of the config.
    pub platform: String,
    /// How many layers the image has.
    pub layers: usize,
}

/// Where one side of a diff was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DiffSource {
    Engine,
    Registry,
}

impl DiffSource {
    pub fn as_str(self) -> &'static str {
        match self {
            DiffSource::Engine => "engine",
            DiffSource::Registry => "registry",
        }
    }
}

/// One config field that differs: its value on each side (null where absent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConfigChange {
    /// A JSON pointer into the image config.
    pub path: String,
    pub a: Option<serde_json::Value>,
    pub b: Option<serde_json::Value>,
}

/// One layer position whose content differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LayerDiff {
    /// 0-based, from the bottom.
    pub index: usize,
    /// The layer on side A; null when A has fewer layers.
    pub a: Option<LayerFacts>,
    pub b: Option<LayerFacts>,
    /// The entries that differ, sorted by path.
    pub files: Vec<FileDiff>,
}

/// A layer's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LayerFacts {
    /// The digest of the uncompressed tar.
    pub diff_id: String,
    /// The registry blob's digest (compressed); null for a layer read from the engine.
    pub digest: Option<String>,
}

/// One path that differs inside a layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FileDiff {
    /// The path inside the image, without a leading `/` (as in the tar).
    pub path: String,
    pub change: FileChange,
    /// For `changed`: which facts differ (`kind`, `size`, `mode`, `uid`, `gid`, `mtime`,
    /// `content`, `link`, `xattrs`), in that order.
    pub differs: Vec<String>,
    /// The entry in A's layer; null when only B has it.
    pub a: Option<FileFacts>,
    pub b: Option<FileFacts>,
}

/// What happened to a path between A and B.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FileChange {
    /// Only in B's layer.
    Added,
    /// Only in A's layer.
    Removed,
    /// In both, with some fact different.
    Changed,
}

/// What a layer's tar says of one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FileFacts {
    /// `file`, `dir`, `symlink`, `hardlink`, `char`, `block`, `fifo` or `other`.
    pub kind: String,
    pub size: u64,
    /// Permission bits (with setuid, setgid, sticky), as a number.
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Seconds since the epoch (the header's, or the PAX record's whole seconds).
    pub mtime: i64,
    /// The PAX record's fraction of a second, in nanoseconds, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime_nanos: Option<u32>,
    /// `sha256:<hex>` of a regular file's content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// A link's target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Extended attributes (PAX `SCHILY.xattr.*`): name → `sha256:<hex>` of the value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub xattrs: BTreeMap<String, String>,
}
