//! `build --print`: the resolved plan ([`BuildPrint`]), one JSON object on stdout.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `build --print`: the resolved plan, one JSON object on stdout; nothing is prepared, built,
/// tagged or recorded. The book's "JSON output" page (docs/src/reference/json-output.md) documents it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BuildPrint {
    pub schema: u32,
    /// The selected images, in build order (dependencies first).
    pub images: Vec<PrintedImage>,
}

/// One image of [`BuildPrint`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PrintedImage {
    pub name: String,
    pub language: String,
    pub variant: Option<String>,
    pub refs: Vec<String>,
    /// Paths relative to the workspace root.
    pub manifest: String,
    pub dockerfile: String,
    pub context: String,
    /// Image names, as in `list`.
    pub depends_on: Vec<String>,
    /// The platforms built: those named, else the engine's own (empty when no engine answers
    /// and none are named).
    pub platforms: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `buildkit` or `classic` as resolved against the engine; `auto` when no engine answers.
    pub builder: String,
    /// The resolved build args; secret-looking ones are `***`.
    pub build_args: BTreeMap<String, String>,
    /// The ids of its build secrets (never their values or sources).
    pub secrets: Vec<String>,
    /// The commands of its manifest's `[[prepare]]` steps, which `--print` does not run.
    pub prepare: Vec<String>,
    /// Whether a build would reuse it: the least settled of its platforms.
    pub status: PlanStatus,
    /// Why it is not up to date (or why that cannot be known); each platform's reasons,
    /// prefixed with the platform when it has several.
    pub reasons: Vec<String>,
    /// What the status rests on when it is not the whole truth (prepare steps not run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Each platform's own check.
    pub checks: Vec<PlatformCheck>,
    /// With an engine pool: the engine it would be built on (every platform of an image goes
    /// to one engine), as placement replays it with the recorded build times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

/// One platform of a [`PrintedImage`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlatformCheck {
    pub platform: String,
    pub status: PlanStatus,
    pub reasons: Vec<String>,
    /// The recorded image, when it would be reused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The fingerprint of its inputs now, when it can be computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

/// What a build would do with an image, as `build --print` sees it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum PlanStatus {
    /// The recorded build stands: nothing is sent to the engine.
    UpToDate,
    /// Up to date, and some ref is pointed at it (a new tag).
    Retag,
    /// Cannot be known without running something first (prepare steps, a dependency's build,
    /// an engine to ask).
    Unknown,
    /// Built.
    Build,
}
