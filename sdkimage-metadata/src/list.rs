//! `list --message-format json`: a JSON array of [`ListEntry`], in build order.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One entry of `list --message-format json` (a JSON array of these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ListEntry {
    /// The selector's language (`python`).
    pub language: String,
    /// The selector's variant (`3.11`), null without variants.
    pub variant: Option<String>,
    /// The expanded image name.
    pub name: String,
    /// Its full references.
    pub refs: Vec<String>,
    /// Its `sdkimage.toml`, relative to the workspace root.
    pub manifest: String,
    /// The names of the images it builds on (ours only).
    pub depends_on: Vec<String>,
    /// The platforms built, when the image names them (else the engine's own).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    /// The Dockerfile stage built, when one is named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// With the workspace's `engines`: the engine it would be built on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}
