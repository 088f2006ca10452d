//! The one way the tool reads a file the user supplied (manifests, Dockerfiles,
//! `.dockerignore`, the workspace's `Cargo.toml`, `overrides.toml`, `policy.toml`, metadata
//! files): regular files only, never through a symlink that leaves the folder it must stay
//! in, never more than a stated number of bytes, and never blocking (a FIFO is refused
//! before anything waits on it). A file that fails a check is named with the reason; none of
//! its content is ever shown.

use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::Error;

/// `.dockerignore`: the docker CLI has no limit; ours keeps a hostile one from eating memory.
pub const DOCKERIGNORE_CAP: u64 = 1024 * 1024;
/// Manifests, Dockerfiles, the workspace's `Cargo.toml`, license configuration.
pub const CONFIG_CAP: u64 = 8 * 1024 * 1024;
/// A metadata file read back (`verify --from-metadata`).
pub const METADATA_CAP: u64 = 64 * 1024 * 1024;

/// Why a user file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}: {}", path.display(), describe_io(source))]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: is a {kind}, not a regular file; replace it with a regular file", path.display())]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error(
        "{}: is a symlink to {}, outside {}; a symlink may not leave it (copy the file in instead)",
        path.display(), target.display(), within.display()
    )]
    Escapes {
        path: PathBuf,
        target: PathBuf,
        within: PathBuf,
    },
    #[error(
        "{}: is a symlink that loops (too many levels of symbolic links); point it at the file it stands for",
        path.display()
    )]
    Loop { path: PathBuf },
    #[error("{}: is {size} bytes, over the {} limit for {what}", path.display(), human_size(*cap))]
    TooLarge {
        path: PathBuf,
        size: u64,
        cap: u64,
        what: &'static str,
    },
}

impl ReadError {
    /// Whether the file is simply not there (callers with a default treat that as absent).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

impl From<ReadError> for Error {
    /// A file that fails the checks is invalid input (exit 2); a plain I/O failure is exit 1.
    fn from(e: ReadError) -> Error {
        match e {
            ReadError::Io { path, source } => {
                Error::io(format!("cannot read {}", path.display()), source)
            }
            other => Error::Usage(format!("cannot read {other}")),
        }
    }
}

fn describe_io(e: &io::Error) -> String {
    e.to_string()
}

/// `1 MiB`, `8 MiB`, `500 KiB`.
pub fn human_size(bytes: u64) -> String {
    if bytes >= 1024 * 1024 && bytes.is_multiple_of(1024 * 1024) {
        format!("{} MiB", bytes / (1024 * 1024))
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// What a file must be to be read.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// The folder the file (after following symlinks) must stay in; `None` for a file the
    /// user named on the command line, which may live anywhere.
    pub within: Option<&'a Path>,
    pub cap: u64,
    /// What the file is, for the size message (`.dockerignore`, `a manifest`).
    pub what: &'static str,
}

impl<'a> Rules<'a> {
    pub fn new(within: &'a Path, cap: u64, what: &'static str) -> Rules<'a> {
        Rules {
            within: Some(within),
            cap,
            what,
        }
    }

    pub fn anywhere(cap: u64, what: &'static str) -> Rules<'static> {
        Rules {
            within: None,
            cap,
            what,
        }
    }
}

/// An I/O error on `path`; a symlink loop is a refusal of the file, not a failure to read it.
fn io_error(path: &Path, source: io::Error) -> ReadError {
    match source.raw_os_error() {
        Some(libc::ELOOP) => ReadError::Loop {
            path: path.to_path_buf(),
        },
        _ => ReadError::Io {
            path: path.to_path_buf(),
            source,
        },
    }
}

/// Check `path` under `rules` without reading it: where it leads, its type and its size.
/// What `read` refuses, this refuses (so a command that does not read a file yet, `--dry-run`
/// or `list`, refuses it as `build` would).
pub fn check(path: &Path, rules: Rules<'_>) -> Result<(), ReadError> {
    let io_err = |source| io_error(path, source);
    if let Some(within) = rules.within {
        let real = path.canonicalize().map_err(io_err)?;
        let within = within
            .canonicalize()
            .unwrap_or_else(|_| within.to_path_buf());
        if !real.starts_with(&within) {
            return Err(ReadError::Escapes {
                path: path.to_path_buf(),
                target: real,
                within,
            });
        }
    }
    let meta = std::fs::metadata(path).map_err(io_err)?;
    check_type(path, &meta)?;
    check_size(path, meta.len(), rules)
}

/// Read `path` under `rules`.
pub fn read(path: &Path, rules: Rules<'_>) -> Result<Vec<u8>, ReadError> {
    let io_err = |source| io_error(path, source);
    // Refuse what is not a regular file before opening it: opening a FIFO waits for a writer.
    check(path, rules)?;
    // O_NONBLOCK: should the file have been swapped for a FIFO since, open does not wait.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    check_type(path, &meta)?;
    check_size(path, meta.len(), rules)?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(rules.cap + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    check_size(path, bytes.len() as u64, rules)?;
    Ok(bytes)
}

/// Read `path` under `rules` as text; invalid UTF-8 is replaced (callers that must reject it
/// use [`read`]).
pub fn read_to_string(path: &Path, rules: Rules<'_>) -> Result<String, ReadError> {
    let bytes = read(path, rules)?;
    Ok(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

fn check_type(path: &Path, meta: &std::fs::Metadata) -> Result<(), ReadError> {
    let t = meta.file_type();
    if t.is_file() {
        return Ok(());
    }
    let kind = if t.is_dir() {
        "folder"
    } else if t.is_fifo() {
        "named pipe (FIFO)"
    } else if t.is_char_device() {
        "character device"
    } else if t.is_block_device() {
        "block device"
    } else if t.is_socket() {
        "socket"
    } else {
        "special file"
    };
    Err(ReadError::NotRegular {
        path: path.to_path_buf(),
        kind,
    })
}

fn check_size(path: &Path, size: u64, rules: Rules<'_>) -> Result<(), ReadError> {
    if size > rules.cap {
        return Err(ReadError::TooLarge {
            path: path.to_path_buf(),
            size,
            cap: rules.cap,
            what: rules.what,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(dir: &Path) -> Rules<'_> {
        Rules::new(dir, 16, "a test file")
    }

    #[test]
    fn reads_a_regular_file_inside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "hello").unwrap();
        assert_eq!(
            read(&dir.path().join("a"), rules(dir.path())).unwrap(),
            b"hello"
        );
    }

    #[test]
    fn refuses_a_fifo_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("f");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo with a valid, NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let e = read(&fifo, rules(dir.path())).unwrap_err();
        assert!(e.to_string().contains("named pipe (FIFO)"), "{e}");
    }

    #[test]
    fn refuses_a_device_a_symlink_out_and_a_large_file_without_showing_content() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "top-secret-line\n").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("out")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero")).unwrap();
        std::fs::write(dir.path().join("big"), "x".repeat(17)).unwrap();

        let out = read(&dir.path().join("out"), rules(dir.path())).unwrap_err();
        assert!(matches!(out, ReadError::Escapes { .. }), "{out}");
        assert!(!out.to_string().contains("top-secret"));

        let zero = read(&dir.path().join("zero"), Rules::anywhere(16, "x")).unwrap_err();
        assert!(zero.to_string().contains("character device"), "{zero}");

        let big = read(&dir.path().join("big"), rules(dir.path())).unwrap_err();
        assert!(
            big.to_string()
                .contains("is 17 bytes, over the 16 bytes limit for a test file"),
            "{big}"
        );
    }

    #[test]
    fn sizes_are_said_in_round_units() {
        assert_eq!(human_size(DOCKERIGNORE_CAP), "1 MiB");
        assert_eq!(human_size(500 * 1024), "500 KiB");
        assert_eq!(human_size(17), "17 bytes");
    }
}
