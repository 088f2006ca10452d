//! The output contract: every type a user or a tool reads, in one place. JSON events on
//! stdout (`--message-format json`), the `list` array, the `--metadata-file` (written and read
//! through the same types), the outcome of an image, and the schema version. The book's
//! "JSON output" page (docs/src/reference/json-output.md) documents them; the end-to-end tests read the output through them.
//!
//! The library emits through [`EventSink`] only; `report.rs` renders for people and machines.

use std::io::Write;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub mod diff;
mod note;
pub mod schema;

pub use note::Note;

/// Version of the JSON event and list schema.
pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// An image's build starts.
    BuildStarted,
    /// An image was built (and tagged).
    BuildFinished,
    /// An image's recorded build stands: nothing was sent to the engine.
    UpToDate,
    /// Up to date, and some ref was pointed at it (a new tag).
    Retagged,
    /// An image was pushed; `digest` is its registry manifest digest.
    PushFinished,
    /// Every ref of an image has the expected digest in the registry.
    Verified,
    /// An image's manifest was copied to the final tags inside the registry.
    Promoted,
    /// One image failed (`message` says why); the run goes on or stops.
    Failed,
    /// The run failed (`message`); comes just before `summary`, or alone for invalid input.
    Error,
    /// The totals of a run (`counts`): always the last line once a run started.
    Summary,
    /// One requirement of an image's contract met (`check`, `build --check`).
    CheckPassed,
    /// One requirement of an image's contract not met.
    CheckFailed,
    /// An image moved to another engine of the pool (`engine`: where to; `bytes`,
    /// `duration_ms`; `message`: from where).
    Transferred,
    /// An image whose engine was lost while it ran, or which only that engine held, queued
    /// again for the others (`engine`: the lost one).
    Requeued,
}

/// One line of `--message-format json` output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Event {
    /// The contract's version; a change that breaks readers bumps it.
    pub schema: u32,
    pub event: EventKind,
    /// The expanded image name, exactly as `list` shows it (null for `error`/`summary`).
    pub image: Option<String>,
    /// As in `list` (null for `error`/`summary`).
    pub language: Option<String>,
    /// As in `list` (null without variants).
    pub variant: Option<String>,
    /// The image's full references.
    pub refs: Vec<String>,
    /// The local image id (`sha256:...`), where known (build events, `push-finished`, checks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The registry manifest digest (`push-finished`, `verified`, `promoted`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The time the step took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// On `failed` (the failing step and the engine's message), `error`, and checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Only on `summary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<Counts>,
    /// The image of each platform, `os/arch[/variant]` -> id, for an image that names its
    /// platforms (`build-finished`, `up-to-date`, `retagged`); `id` is the one its refs point at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platforms: Option<std::collections::BTreeMap<String, String>>,
    /// On `check-passed` / `check-failed`: the requirement (`tool curl`, `entrypoint /boot`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requirement: Option<String>,
    /// On `check-passed` / `check-failed`: what the program run for it printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// With an engine pool (`--engine`, `engines`): the engine it happened on, as named there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// On `transferred`: the bytes moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

/// Totals of a run, on the `summary` event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Counts {
    pub built: usize,
    pub up_to_date: usize,
    pub retagged: usize,
    pub failed: usize,
    /// Not attempted: a dependency failed, or the run stopped at the first failure.
    pub skipped: usize,
    pub pushed: usize,
    pub verified: usize,
    pub promoted: usize,
    /// Images whose every contract requirement was met (`check`, `build --check`).
    #[serde(default)]
    pub checked: usize,
}

impl Event {
    /// An event about one image: its name, selector parts and refs.
    pub fn for_image(
        kind: EventKind,
        name: &str,
        language: &str,
        variant: Option<&str>,
        refs: Vec<String>,
    ) -> Event {
        Event {
            schema: SCHEMA,
            event: kind,
            image: Some(name.to_string()),
            language: Some(language.to_string()),
            variant: variant.map(str::to_string),
            refs,
            id: None,
            digest: None,
            duration_ms: None,
            message: None,
            counts: None,
            platforms: None,
            requirement: None,
            output: None,
            engine: None,
            bytes: None,
        }
    }

    pub fn general(kind: EventKind, message: Option<String>) -> Event {
        Event {
            schema: SCHEMA,
            event: kind,
            image: None,
            language: None,
            variant: None,
            refs: Vec::new(),
            id: None,
            digest: None,
            duration_ms: None,
            message,
            counts: None,
            platforms: None,
            requirement: None,
            output: None,
            engine: None,
            bytes: None,
        }
    }

    /// A `check-passed` / `check-failed` event's requirement and captured output.
    pub fn requirement(mut self, requirement: &str, output: &str) -> Self {
        self.requirement = Some(requirement.to_string());
        self.output = Some(output.to_string());
        self
    }

    pub fn with_bytes(mut self, bytes: u64) -> Self {
        self.bytes = Some(bytes);
        self
    }

    pub fn engine(mut self, engine: Option<&str>) -> Self {
        self.engine = engine.map(str::to_string);
        self
    }

    pub fn id(mut self, id: Option<String>) -> Self {
        self.id = id;
        self
    }

    pub fn digest(mut self, digest: Option<String>) -> Self {
        self.digest = digest;
        self
    }

    pub fn duration(mut self, d: Duration) -> Self {
        self.duration_ms = Some(d.as_millis() as u64);
        self
    }

    pub fn message(mut self, m: impl Into<String>) -> Self {
        self.message = Some(m.into());
        self
    }
}

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
    pub build_args: std::collections::BTreeMap<String, String>,
}

/// One row of the human summary table of a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultRow {
    pub image: String,
    pub outcome: Outcome,
    pub duration: Duration,
    pub id: Option<String>,
}

/// A line of an image's build output, as the builder reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildLog<'a> {
    /// A step starts (`Step 3/7 : RUN make`): the line a progress bar shows.
    Step(&'a str),
    /// Anything else the build printed.
    Output(&'a str),
}

impl BuildLog<'_> {
    pub fn text(&self) -> &str {
        match self {
            BuildLog::Step(t) | BuildLog::Output(t) => t,
        }
    }
}

/// The one way the library emits: lifecycle events, build output, notes for people, and the
/// data a command was asked for. `report::Reporter` renders them (bars, plain lines, JSON).
pub trait EventSink: Send + Sync {
    /// A lifecycle event (a JSON line; the matching progress change for people).
    fn event(&self, event: &Event);
    /// One line of an image's build output (`label` is its selector, `python:3.11`).
    fn build_log(&self, image: &str, label: &str, line: BuildLog<'_>);
    /// A message for people on stderr (progress ones silent under `--progress none`).
    fn note(&self, note: Note);
    /// The data a command was asked for, on stdout (a table, a Dockerfile, a plan).
    fn data(&self, text: &str);
    /// Whether stdout carries JSON events (then plans for people go to stderr).
    fn json(&self) -> bool;
    /// The closing summary of a run: the `summary` event, and for people the table of `rows`
    /// with the totals (a build; publish, verify and promote have no table).
    fn summary(&self, counts: &Counts, rows: Option<&[ResultRow]>, elapsed: Duration) {
        let _ = rows;
        let mut summary = Event::general(EventKind::Summary, None).duration(elapsed);
        summary.counts = Some(counts.clone());
        self.event(&summary);
    }
    /// Clear what is drawn (before a final error).
    fn clear(&self) {}
}

/// A sink that counts the images reported `failed` and passes everything on: the failures of
/// a publish, which are reported per image as they happen, counted for its summary.
pub struct Tally<'a> {
    inner: &'a dyn EventSink,
    failed: std::sync::atomic::AtomicUsize,
}

impl<'a> Tally<'a> {
    pub fn new(inner: &'a dyn EventSink) -> Tally<'a> {
        Tally {
            inner,
            failed: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// How many images were reported `failed` through this sink.
    pub fn failed(&self) -> usize {
        self.failed.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl EventSink for Tally<'_> {
    fn event(&self, event: &Event) {
        if event.event == EventKind::Failed && event.image.is_some() {
            self.failed
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        self.inner.event(event);
    }
    fn build_log(&self, image: &str, label: &str, line: BuildLog<'_>) {
        self.inner.build_log(image, label, line);
    }
    fn note(&self, note: Note) {
        self.inner.note(note);
    }
    fn data(&self, text: &str) {
        self.inner.data(text);
    }
    fn json(&self) -> bool {
        self.inner.json()
    }
    fn summary(&self, counts: &Counts, rows: Option<&[ResultRow]>, elapsed: Duration) {
        self.inner.summary(counts, rows, elapsed);
    }
    fn clear(&self) {
        self.inner.clear();
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
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub platforms: std::collections::BTreeMap<String, PlatformMetadata>,
    /// The external base images it was built on (`FROM` images that are not a stage, not
    /// `scratch` and not one of ours), by reference as the Dockerfile names them, for the
    /// platform its refs point at.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub bases: std::collections::BTreeMap<String, BaseMetadata>,
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

/// Write the metadata file of this run at `path` (replacing an earlier one), atomically.
pub fn write_metadata(
    path: &std::path::Path,
    entries: &[(String, ImageMetadata)],
) -> crate::Result<()> {
    let mut all = std::collections::BTreeMap::new();
    for (name, meta) in entries {
        all.insert(
            name.clone(),
            serde_json::to_value(meta).expect("metadata serializes"),
        );
    }
    let text = serde_json::to_vec_pretty(&all).expect("metadata serializes");
    replace_file(path, &text).map_err(|e| {
        crate::Error::io(
            format!("cannot write the metadata file {}", path.display()),
            e,
        )
    })
}

/// Replace the contents of `path` so that a reader never sees half a file: a temporary file
/// of a unique name beside the target, renamed over it. A symlink is followed (its target is
/// replaced, the link stays); what is not a regular file (`/dev/stdout`, a pipe) is written
/// in place.
fn replace_file(path: &std::path::Path, contents: &[u8]) -> std::io::Result<()> {
    let target = match std::fs::canonicalize(path) {
        Ok(real) => real,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => path.to_path_buf(),
        Err(e) => return Err(e),
    };
    if target.exists() && !std::fs::metadata(&target)?.is_file() {
        let mut file = std::fs::OpenOptions::new().write(true).open(&target)?;
        return file.write_all(contents).and_then(|()| file.flush());
    }
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    // An existing file keeps its mode; a new one is readable by all, as `fs::write` makes it.
    let mode = match std::fs::metadata(&target) {
        Ok(m) => m.permissions(),
        Err(_) => {
            use std::os::unix::fs::PermissionsExt;
            std::fs::Permissions::from_mode(0o644)
        }
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".sdkimage-metadata")
        .permissions(mode)
        .tempfile_in(dir)?;
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    tmp.persist(&target).map_err(|e| e.error)?;
    Ok(())
}

/// Read a metadata file's text: an object keyed by image name. Our own files and the ones
/// `docker buildx bake --metadata-file` writes (which have only `image.name` and
/// `containerimage.digest` of these keys) both read, so every key may be missing.
pub fn read_metadata(
    text: &str,
) -> Result<std::collections::BTreeMap<String, MetadataEntry>, MetadataReadError> {
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
    pub build_args: std::collections::BTreeMap<String, String>,
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
