//! What the scheduler finds for one platform of an image before it builds it (`Check`), and
//! what `build --print` reports of it (`Found`): `image.rs` makes them, `print.rs` reads them.

use std::collections::BTreeMap;

use std::sync::Arc;

use crate::fingerprint::{ImageState, InputDigests, Inputs, Stamps};
use crate::reference::Platform;

/// What the scheduler finds for one platform before it builds: the inputs, the fingerprint they
/// make, and the recorded build, which stands when it has that fingerprint and the engine still
/// holds its image. `build --print` reads the same.
pub(super) struct Check {
    pub(super) inputs: Inputs,
    /// External `FROM` images, by name (their ids are `inputs.bases`).
    pub(super) bases: Vec<String>,
    pub(super) platform_args: BTreeMap<String, String>,
    /// Whether the engine holds every external base.
    pub(super) bases_complete: bool,
    /// The external bases found, with their ids and registry digests.
    pub(super) found: BTreeMap<String, crate::output::BaseMetadata>,
    pub(super) fingerprint: String,
    pub(super) digests: InputDigests,
    /// The state of the last successful build of this platform.
    pub(super) recorded: Option<ImageState>,
    /// Whether the recorded build stands for these inputs (not asked under `--force`).
    pub(super) standing: bool,
}

/// One platform of an image as `build --print` finds it: what the scheduler would check, and
/// the refs an up-to-date image would be re-tagged under.
pub(super) struct Found {
    /// The platform (`None`: the engine's own, none named).
    pub platform: Option<Platform>,
    /// Whether the image's refs point at this platform (the others get local-only tags).
    pub carries_refs: bool,
    pub check: Check,
    /// The context's files now (path -> stamp with content hash).
    pub files: Arc<Stamps>,
    /// The refs that do not point at the recorded image (asked only when it stands).
    pub refs_elsewhere: Vec<String>,
}
