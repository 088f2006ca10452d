//! `dockerfile --message-format json`: a JSON array of [`DockerfileEntry`], one per image.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One element of `dockerfile --message-format json` (a JSON array of these, one per image).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DockerfileEntry {
    pub name: String,
    pub language: String,
    pub variant: Option<String>,
    /// The file the build reads: the manifest's Dockerfile, or the rendered one under the
    /// state folder (`target/sdkimage/dockerfiles/`).
    pub path: String,
    /// Whether the tool rendered it (`extends` / `adapt`).
    pub rendered: bool,
    /// Its text.
    pub dockerfile: String,
    /// The build args the image gets (secret-looking values as `***`).
    pub build_args: BTreeMap<String, String>,
}
