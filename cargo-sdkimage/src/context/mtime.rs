//! The mtime a context entry is sent with: derived from its content, see [`content_mtime`].

use std::io::{self, Write};

use sha2::{Digest, Sha256};

/// Feeds a hasher as an [`io::Write`].
pub(super) struct HashWriter<'a>(pub(super) &'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The mtime sent for a file or symlink whose content (or target) has SHA-256 `digest`: from
/// 1 to 2^30 - 1 seconds (1970 to 2004), the same for the same content.
///
/// Not 0 for all: the engine (moby 20.10) turns a BuildKit step into a layer by diffing it
/// against its parent, and when the parent's layer was first registered from another
/// snapshot that diff is moby's stat-based one (`pkg/archive` `ChangesDirs`: mode, owner,
/// size and mtime, never content). A file replaced by one of the same size and the same mtime
/// then looks unchanged: the layer misses it, and an empty layer is shared with another
/// image's, so the image (locally and as pushed) holds the old bytes. With the mtime following
/// the content, a changed file always differs in mtime (but for a 1 in 2^30 coincidence);
/// equal content still gives equal bytes, and BuildKit's cache keys ignore mtimes.
pub fn content_mtime(digest: &[u8]) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    1 + u64::from_be_bytes(first) % ((1 << 30) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_content_equal_mtime_other_content_other_mtime() {
        let m = |b: &[u8]| content_mtime(Sha256::digest(b).as_slice());
        assert_eq!(m(b"amd64\n"), m(b"amd64\n"));
        assert_ne!(m(b"amd64\n"), m(b"arm64\n"));
        for b in [&b""[..], b"x", b"amd64\n", b"arm64\n"] {
            assert!((1..1 << 30).contains(&m(b)), "{b:?}");
        }
        let mut h = Sha256::new();
        io::copy(&mut &b"amd64\n"[..], &mut HashWriter(&mut h)).unwrap();
        assert_eq!(content_mtime(h.finalize().as_slice()), m(b"amd64\n"));
    }
}
