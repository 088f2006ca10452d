//! Content hashing: a context's digest over its entries, each file's stamp (its SHA-256 and
//! the stat it was read with, reused while the stat is the same), files hashed on up to eight
//! threads; single files and license inputs hashed by content.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{FileStamp, ImageState, Stamps};
use crate::context::{Context, DiskStat, EntryKind};
use crate::error::{Error, Result};

/// Hash the context; reuses hashes of unchanged files from `previous`.
/// Returns the context's digest and the file stamps to remember.
pub fn hash_context(ctx: &Context, previous: Option<&ImageState>) -> Result<(String, Stamps)> {
    // Entries generated in memory are hashed below, with the tree.
    let files: Vec<&crate::context::ContextEntry> = ctx
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::File && e.data.is_none())
        .collect();
    let previous = previous.map(|p| &*p.files);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let chunk = files.len().div_ceil(threads).max(1);
    // Each thread's stamps in the order of `files`; one read buffer per thread, allocated only
    // when a file has to be read.
    let parts: Vec<Result<Vec<FileStamp>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    let mut buf = Vec::new();
                    part.iter()
                        .map(|e| {
                            let previous = previous.and_then(|p| p.get(&e.path));
                            stamp(&e.source, e.disk.as_ref(), previous, &mut buf)
                        })
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("hash thread"))
            .collect()
    });
    let mut stamps = Vec::with_capacity(files.len());
    for part in parts {
        stamps.extend(part?);
    }
    let mut stamps = stamps.into_iter();
    let mut kept = Vec::with_capacity(files.len());
    let mut h = Sha256::new();
    let mut hex_buf = [0u8; 64];
    for e in &ctx.entries {
        h.update(e.path.as_bytes());
        h.update(b"\0");
        h.update(e.mode.to_le_bytes());
        match &e.kind {
            EntryKind::Dir => h.update(b"d"),
            EntryKind::Symlink { target } => {
                h.update(b"l");
                h.update(target.as_bytes());
            }
            EntryKind::File => {
                h.update(b"f");
                let digest: [u8; 32] = match &e.data {
                    Some(data) => Sha256::digest(data).into(),
                    None => {
                        // `files` are these entries, in this order.
                        let stamp = stamps.next().expect("one stamp per file");
                        let hash = stamp.hash;
                        kept.push((e.path.clone(), stamp));
                        hash
                    }
                };
                hex::encode_to_slice(digest, &mut hex_buf).expect("64 hex digits");
                h.update(hex_buf);
            }
        }
        h.update(b"\0");
    }
    // Sorted already (the entries are): a bulk build.
    Ok((hex::encode(h.finalize()), kept.into_iter().collect()))
}

/// The stamp of the file at `path`, with `disk` its stat when the walk took it (else it is
/// taken here); `previous` is reused while the stat is the same. `buf` is the read buffer.
fn stamp(
    path: &Path,
    disk: Option<&DiskStat>,
    previous: Option<&FileStamp>,
    buf: &mut Vec<u8>,
) -> Result<FileStamp> {
    let stat = match disk {
        Some(stat) => *stat,
        None => DiskStat::of(
            &std::fs::metadata(path)
                .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?,
        ),
    };
    if let Some(p) = previous
        && p.matches_stat(&stat)
    {
        // A stamp of an older state gets the change time it lacked.
        return Ok(FileStamp {
            ctime_ns: Some(stat.ctime_ns),
            ..*p
        });
    }
    if buf.is_empty() {
        buf.resize(READ_BUF, 0);
    }
    let hash = digest_file(path, buf)?;
    Ok(FileStamp {
        size: stat.size,
        mtime_ns: stat.mtime_ns,
        inode: stat.inode,
        hash,
        ctime_ns: Some(stat.ctime_ns),
    })
}

/// The read buffer of [`digest_file`].
const READ_BUF: usize = 256 * 1024;

/// Streaming SHA-256 of a file, read through `buf`.
fn digest_file(path: &Path, buf: &mut [u8]) -> Result<[u8; 32]> {
    let mut file =
        File::open(path).map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
    let mut h = Sha256::new();
    loop {
        let n = file
            .read(buf)
            .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().into())
}

/// Streaming SHA-256 of a file, in hex.
pub fn hash_file(path: &Path) -> Result<String> {
    Ok(hex::encode(digest_file(path, &mut vec![0u8; READ_BUF])?))
}

/// Hash of a set of files by content (missing files count as absent), for license inputs.
pub fn hash_paths(paths: &[PathBuf]) -> String {
    let mut h = Sha256::new();
    for p in paths {
        h.update(p.to_string_lossy().as_bytes());
        h.update(b"\0");
        if p.is_file() {
            h.update(hash_file(p).unwrap_or_default().as_bytes());
        } else if p.is_dir() {
            for entry in walkdir::WalkDir::new(p)
                .sort_by_file_name()
                .into_iter()
                .flatten()
            {
                if entry.file_type().is_file() {
                    h.update(entry.path().to_string_lossy().as_bytes());
                    h.update(hash_file(entry.path()).unwrap_or_default().as_bytes());
                }
            }
        }
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::context::{ContextSpec, collect};
    use crate::fingerprint::{Inputs, fingerprint};

    fn compute(
        ctx: &Context,
        inputs: &Inputs,
        previous: Option<&ImageState>,
    ) -> Result<(String, Stamps)> {
        let (digest, stamps) = hash_context(ctx, previous)?;
        Ok((fingerprint(inputs, &digest), stamps))
    }

    fn context_of(dir: &Path) -> Context {
        collect(&ContextSpec {
            root: dir.to_path_buf(),
            dockerfile: dir.join("Dockerfile"),
            copies: vec![],
            skip: vec![],
            workspace: dir.to_path_buf(),
        })
        .unwrap()
    }

    #[test]
    fn fingerprint_follows_contents_modes_and_inputs_and_reuses_hashes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::write(dir.path().join("a.txt"), "one").unwrap();
        let inputs = Inputs::default();
        let (fp1, stamps) = compute(&context_of(dir.path()), &inputs, None).unwrap();
        let state = ImageState {
            fingerprint: fp1.clone(),
            id: "sha256:x".into(),
            refs: vec![],
            files: Arc::new(stamps.clone()),
            inputs: None,
            build_ms: None,
        };
        // Unchanged: same fingerprint; the stamps are reused as they are.
        let (fp2, stamps2) = compute(&context_of(dir.path()), &inputs, Some(&state)).unwrap();
        assert_eq!(fp1, fp2);
        assert_eq!(stamps, stamps2);
        // A stale stamp with the same stat would be trusted: that is the point of stamps.
        // A content change (new size) is seen.
        std::fs::write(dir.path().join("a.txt"), "two!").unwrap();
        let (fp3, _) = compute(&context_of(dir.path()), &inputs, Some(&state)).unwrap();
        assert_ne!(fp1, fp3);
        // Build args count.
        let mut other = Inputs::default();
        other.build_args.insert("A".into(), "1".into());
        let (fp4, _) = compute(&context_of(dir.path()), &other, None).unwrap();
        assert_ne!(fp3, fp4);
        // So do external bases, by id.
        let mut based = Inputs {
            bases: vec!["sha256:1".into()],
            ..Default::default()
        };
        let (fp_b1, _) = compute(&context_of(dir.path()), &based, None).unwrap();
        based.bases = vec!["sha256:2".into()];
        let (fp_b2, _) = compute(&context_of(dir.path()), &based, None).unwrap();
        assert_ne!(fp_b1, fp_b2);
        assert_ne!(fp3, fp_b1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                dir.path().join("a.txt"),
                std::fs::Permissions::from_mode(0o600),
            )
            .unwrap();
            let (fp5, _) = compute(&context_of(dir.path()), &inputs, None).unwrap();
            assert_ne!(fp3, fp5);
        }
    }

    /// A same-size rewrite whose mtime is put back (`touch -d`, an unpacked archive) keeps
    /// size, mtime and inode: the change time still tells, and the file is hashed again.
    #[test]
    fn a_same_size_change_with_its_mtime_put_back_is_hashed_again() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "one").unwrap();
        let (fp1, stamps) = compute(&context_of(dir.path()), &Inputs::default(), None).unwrap();
        assert!(stamps["a.txt"].ctime_ns.is_some());
        let state = ImageState {
            fingerprint: fp1.clone(),
            files: Arc::new(stamps),
            ..Default::default()
        };
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        // The change time moves in clock ticks: make sure one passed.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&path, "two").unwrap();
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let (fp2, stamps2) =
            compute(&context_of(dir.path()), &Inputs::default(), Some(&state)).unwrap();
        assert_ne!(fp1, fp2);
        assert_eq!(
            hex::encode(stamps2["a.txt"].hash),
            hash_file(&path).unwrap()
        );
    }
}
