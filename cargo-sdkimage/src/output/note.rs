//! What the library tells people besides events: typed notes, one variant per kind, with the
//! values they name. `report::human::note` renders each as the sentence people read (on
//! stderr, above the bars); the library never writes those sentences itself.

use std::path::PathBuf;

/// A message for people. [`Note::is_progress`] ones are silent under `--progress none`; every
/// note is silent under `-q`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// `list` in a workspace without any `sdkimage.toml`.
    NoManifests { root: PathBuf },
    /// Build args whose names look secret (`TOKEN`, ...), sorted, without their values.
    SecretBuildArgs { names: Vec<String> },
    /// `build --dry-run --message-format json`: the plan for people, as `--dry-run` prints it.
    DryRunPlan { text: String },
    /// Engines of the pool lost during a build; `all_built` when every image was built anyway.
    EnginesLostDuringRun {
        engines: Vec<String>,
        all_built: bool,
    },
    /// `build --push` pushes nothing: no engine is left.
    NothingPushedNoEngine,
    /// `build --push` pushes nothing: some selected image failed (or its contract check).
    NothingPushedFailed,
    /// `promote --dry-run`: how many images would be promoted.
    PromoteDryRun { images: usize },
    /// `promote`: images promoted from one tag to the release tags.
    Promoted {
        images: usize,
        from_tag: String,
        tags: Vec<String>,
    },
    /// `promote --dry-run`: one ref and the digest it would point at (`now`: what it points at).
    WouldPoint {
        target: String,
        digest: String,
        now: Option<String>,
    },
    /// `licenses --out`: an image's license entries written.
    LicensesWritten {
        image: String,
        entries: usize,
        dir: PathBuf,
    },
    /// `push --dry-run`: an image (`id`) and the refs it would be pushed as; with a staging tag,
    /// the staging refs (`staged`) pushed first.
    WouldPush {
        id: String,
        refs: Vec<String>,
        staged: Option<Vec<String>>,
    },
    /// A signal stopped a push without a staging tag: what was pushed stays pushed.
    InterruptedDirectPush,
    /// A signal stopped a push in phase one: only staging tags were pushed.
    InterruptedStagingOnly,
    /// A signal (`SIGINT`, ...) arrived during phase two, which was finished.
    SignalDuringRelease { signal: String },
    /// `init`: something guessed from the Dockerfile (`base image python:3.11`).
    InitGuessed { guess: String },
    /// `init`: a workspace file written at the repository's root.
    InitWroteWorkspace { file: PathBuf },
    /// `init`: the manifest written, and what to do next (`workspace`: whether a workspace
    /// holds it).
    InitWroteManifest { path: PathBuf, workspace: bool },
    /// An engine of the pool lost during a build; its images go to the others.
    EngineLost { engine: String, why: String },
    /// Gathering the images on the first engine at the end of a build failed.
    GatherFailed { error: String },
    /// `build --print` with no engine answering.
    PrintWithoutEngine { why: String },
    /// `check`: the totals.
    Checked { passed: usize, failed: usize },
    /// `check`: an image with nothing to check.
    NothingToCheck { image: String },
    /// `build --check`: an image whose contract check passed before (`id`: the image).
    ContractPassedBefore { label: String, id: String },
    /// `--sbom-dir`: an image's SBOM written.
    SbomWritten { image: String, path: PathBuf },
    /// `--sbom-dir`: no built image has a `[licenses]` table.
    NoSbom,
    /// Another run holds the workspace's lock.
    WaitingForLock,
    /// An engine of the pool does not answer (`--keep-going`); the others build.
    EngineNotAnswering { engine: String, why: String },
    /// BuildKit cannot be used (`why`, what the engine lacks): the classic builder builds.
    ClassicBuilder { why: crate::engine::NoBuildKit },
    /// `--pull`: an external base being pulled for a platform.
    /// `on`: the engine pulling it, named when the run has several.
    Pulling {
        base: String,
        platform: String,
        on: Option<String>,
    },
    /// `--pull`: an external base pulled (`digest`: the registry's, when known).
    Pulled {
        base: String,
        platform: String,
        digest: Option<String>,
        on: Option<String>,
    },
    /// A `[[prepare]]` step of a manifest (`language`) starting: its program and arguments.
    Prepare { language: String, run: Vec<String> },
    /// `diff`: no engine answers, so both sides are read from their registries.
    DiffFromRegistries { why: String },
    /// `build --reproduce`: the rebuilt image normalises to the pushed digest.
    Reproduced {
        image: String,
        digest: String,
        epoch: u64,
    },
    /// `promote --sign`: how many promoted digests were signed.
    SignedPromoted { digests: usize },
    /// `--sign`: an image's digests signed and attested.
    Signed { image: String, digests: usize },
    /// `verify --key`: an image's signatures (and attestations) checked with the key.
    SignaturesVerified {
        image: String,
        digests: usize,
        attestations: bool,
    },
}

impl Note {
    /// Progress rather than news: silent under `--progress none`.
    pub fn is_progress(&self) -> bool {
        matches!(
            self,
            Note::Pulling { .. }
                | Note::Pulled { .. }
                | Note::Prepare { .. }
                | Note::ContractPassedBefore { .. }
        )
    }
}
