//! What an image-side license source implements: a gatherer fed by one streamed read of the
//! built image's filesystem. Its own module, so that the registry of sources (`sources.rs`)
//! and the ecosystems it registers both import it without importing each other.

use super::LicenseEntry;
use super::snapshot::Snapshot;
use crate::error::Result;

/// A gatherer that reads a built image's filesystem, in one streamed pass shared by every
/// image-side source of the manifest.
pub(crate) trait ImageGatherer: Send {
    /// Whether the snapshot keeps the (small) file at `path` whole for [`ImageGatherer::gather`].
    fn keeps(&self, _path: &str) -> bool {
        false
    }
    /// Whether the regular file at `path`, with permission bits `mode` and first bytes `head`
    /// (up to 4), is read once as it streams by and handed to [`ImageGatherer::inspect`]
    /// (executables, archives); it is not kept.
    fn inspects(&self, _path: &str, _mode: u32, _head: &[u8]) -> bool {
        false
    }
    /// One file [`ImageGatherer::inspects`] asked for, whole.
    fn inspect(&mut self, _path: &str, _contents: &[u8]) -> Result<()> {
        Ok(())
    }
    /// The entries, once the whole filesystem was read.
    fn gather(self: Box<Self>, snapshot: &Snapshot) -> Result<Vec<LicenseEntry>>;
}
