//! The build context sent to the engine's `POST /build`: the same entries the docker CLI's
//! classic builder (`DOCKER_BUILDKIT=0 docker build`) would send, written as a deterministic,
//! streamed tar.
//!
//! What is reproduced from the CLI (docker/cli `cli/command/image/build` and moby's archive
//! walker `TarWithOptions`):
//! - `.dockerignore` patterns with patternmatcher semantics ([`DockerIgnore`]);
//! - an excluded directory is still walked when an exception pattern starts with its path,
//!   but the directory entry itself is then not sent;
//! - the Dockerfile and `.dockerignore` are always sent (`TrimBuildFilesFromExcludes`);
//! - a Dockerfile outside the context is added under a fixed name and that name is appended
//!   to the `.dockerignore` sent, so the daemon drops it again (`AddDockerfileToBuildContext`);
//! - symlinks are sent as symlinks, sockets are skipped.
//!
//! Deliberate differences: entries are sorted by path with uid/gid 0 and no owner names, and
//! a file's or symlink's mtime is derived from its content ([`content_mtime`]; directories get
//! 0), so equal trees give identical bytes; hard links are sent as separate files;
//! FIFOs and device nodes are rejected instead of being sent; unreadable files are errors
//! instead of being skipped with a log line.

mod dockerignore;
mod fsview;
mod gomatch;
mod goregex;
mod mtime;
mod select;
mod tarball;

pub use dockerignore::{DockerIgnore, MatchInfo};
pub use fsview::{CONTEXT_DIR, DOCKERFILE_DIR, SyncRequest, compare_path, go_file_mode};
pub use mtime::content_mtime;
pub use tarball::{tar_stream, write_tar};

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Name under which a Dockerfile that lies outside the context root is sent.
pub const OUTSIDE_DOCKERFILE_NAME: &str = ".sdkimage.Dockerfile";

const DOCKERIGNORE: &str = ".dockerignore";
/// Mode the CLI gives to the Dockerfile (and a created `.dockerignore`) it adds to the tar.
const ADDED_FILE_MODE: u32 = 0o600;
/// Mode of the parent directories created for copies.
const CREATED_DIR_MODE: u32 = 0o755;

/// What to put in a build context.
#[derive(Debug, Clone)]
pub struct ContextSpec {
    /// Absolute path of the context folder.
    pub root: PathBuf,
    /// Absolute path of the Dockerfile, inside or outside `root`.
    pub dockerfile: PathBuf,
    /// Extra artifacts added to the context; applied in order, later ones win.
    pub copies: Vec<ContextCopy>,
    /// Absolute folders never sent, whatever `.dockerignore` says: our own state and logs,
    /// which change while a build runs when the context holds the workspace's `target/`.
    pub skip: Vec<PathBuf>,
    /// The workspace root: a `.dockerignore` symlink may not lead out of it.
    pub workspace: PathBuf,
}

/// A file or folder from disk added to the context at `to`, regardless of `.dockerignore`.
#[derive(Debug, Clone)]
pub struct ContextCopy {
    /// Absolute path of a file or folder (followed if it is a symlink).
    pub from: PathBuf,
    /// Relative, `/`-separated destination inside the context (`""` or `"."` merges a folder
    /// into the root).
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    File,
    Symlink { target: String },
}

/// One entry of the tar.
#[derive(Debug, Clone)]
pub struct ContextEntry {
    /// `/`-separated relative path, no leading `./`, directories without trailing slash.
    pub path: String,
    pub kind: EntryKind,
    /// Permission bits (including setuid/setgid/sticky) as on disk.
    pub mode: u32,
    /// Size in bytes of the contents (0 for directories and symlinks).
    pub size: u64,
    /// Where the contents are read from (empty for directories created for copies).
    pub source: PathBuf,
    /// Contents generated in memory, sent instead of reading `source` (only the
    /// `.dockerignore` rewritten for a Dockerfile outside the context).
    pub data: Option<Vec<u8>>,
    /// A file's stat as the walk saw it: the up-to-date check compares it with the file's
    /// stamp without a second stat.
    pub disk: Option<DiskStat>,
}

/// The parts of a file's stat that tell whether it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskStat {
    pub size: u64,
    pub mtime_ns: i128,
    /// The inode's change time: every write moves it, and no one can set it back.
    pub ctime_ns: i128,
    pub inode: u64,
}

impl DiskStat {
    pub fn of(meta: &fs::Metadata) -> DiskStat {
        DiskStat {
            size: meta.len(),
            mtime_ns: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
            ctime_ns: meta.ctime() as i128 * 1_000_000_000 + meta.ctime_nsec() as i128,
            inode: meta.ino(),
        }
    }
}

/// The entries of a build context, sorted by path (so parents precede their children).
#[derive(Debug, Clone)]
pub struct Context {
    pub entries: Vec<ContextEntry>,
    /// The value of the `dockerfile` build parameter.
    pub dockerfile_in_context: String,
    /// Set when the Dockerfile lies outside the context folder.
    pub outside: Option<OutsideDockerfile>,
}

/// A Dockerfile from outside the context: the tar carries it as [`OUTSIDE_DOCKERFILE_NAME`]
/// and a `.dockerignore` that drops it again; the file sync sends it in a folder of its own
/// and the context as it is.
#[derive(Debug, Clone)]
pub struct OutsideDockerfile {
    /// `.dockerignore` as it is in the context folder (its text in `data`), if there is one.
    pub dockerignore: Option<ContextEntry>,
}

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(".dockerignore line {line}: invalid pattern {pattern:?}: {reason}")]
    Pattern {
        pattern: String,
        line: usize,
        reason: String,
    },
    #[error("{}: file name is not valid UTF-8", path.display())]
    NonUtf8Path { path: PathBuf },
    #[error("{}: cannot send a {kind} in a build context", path.display())]
    SpecialFile { path: PathBuf, kind: &'static str },
    #[error("{}: the build context root is not a directory", path.display())]
    RootNotDir { path: PathBuf },
    #[error("{}: the Dockerfile is not a regular file", path.display())]
    DockerfileNotFile { path: PathBuf },
    #[error("copying {} to {to:?}: {reason}", from.display())]
    Copy {
        from: PathBuf,
        to: String,
        reason: String,
    },
    #[error("{}: file changed while the build context was being sent; build again once it is no longer being written", path.display())]
    Changed { path: PathBuf },
    #[error("the engine asked for {} of the build context, which no COPY, ADD or RUN --mount of the Dockerfile names (an ONBUILD trigger of a base image?): the up-to-date check did not cover it, so it is not sent; this image's context is walked and fingerprinted whole from now on", paths.join(", "))]
    NotSelected { paths: Vec<String> },
    #[error("writing the build context: {0}")]
    Write(#[source] io::Error),
    #[error("cannot read {0}")]
    Guarded(#[from] crate::guarded::ReadError),
}

impl From<ContextError> for crate::error::Error {
    fn from(e: ContextError) -> Self {
        crate::error::Error::Context(Box::new(e))
    }
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> ContextError + '_ {
    move |source| ContextError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Read the `.dockerignore` of context folder `root` through the guarded reader: a regular
/// file of at most 1 MiB that does not lead out of `workspace`. `None` when there is none.
pub fn read_dockerignore(
    root: &Path,
    workspace: &Path,
) -> Result<Option<Vec<u8>>, crate::guarded::ReadError> {
    let path = root.join(DOCKERIGNORE);
    if fs::symlink_metadata(&path).is_err_and(|e| e.kind() == io::ErrorKind::NotFound) {
        return Ok(None);
    }
    let rules =
        crate::guarded::Rules::new(workspace, crate::guarded::DOCKERIGNORE_CAP, ".dockerignore");
    match crate::guarded::read(&path, rules) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Check the `.dockerignore` of a context folder before anything runs: it must pass the
/// guarded reader's checks and every pattern must compile, as the docker CLI requires.
pub fn check_dockerignore(root: &Path, workspace: &Path) -> crate::error::Result<()> {
    let path = root.join(DOCKERIGNORE);
    let Some(bytes) = read_dockerignore(root, workspace)? else {
        return Ok(());
    };
    match DockerIgnore::parse(&String::from_utf8_lossy(&bytes)) {
        Err(ContextError::Pattern {
            pattern,
            line,
            reason,
        }) => Err(crate::error::Error::invalid(crate::error::Diagnostic {
            path,
            line,
            col: 1,
            message: format!(
                "invalid pattern {}: {reason}; fix the pattern or escape the character with `\\`",
                crate::error::quoted(&pattern)
            ),
        })),
        _ => Ok(()),
    }
}

/// Walk the context, apply `.dockerignore`, overlay the copies, sort. Reads metadata only: a
/// file whose permission bits deny reading is opened, to fail here naming it (the CLI opens
/// every file); each file's stat is kept for the up-to-date check ([`ContextEntry::disk`]).
pub fn collect(spec: &ContextSpec) -> Result<Context, ContextError> {
    collect_only(spec, None)
}

/// [`collect`] of only what follow-paths `only` reach (`None`: everything): the paths a
/// build can read ([`crate::dockerfile::context_use`]), their parents, and what is below them,
/// as the file sync sends them for those follow-paths; the Dockerfile, `.dockerignore` and
/// the copies are always in.
pub fn collect_only(spec: &ContextSpec, only: Option<&[String]>) -> Result<Context, ContextError> {
    // The CLI resolves symlinks in both paths before relating them.
    let root = fs::canonicalize(&spec.root).map_err(io_error(&spec.root))?;
    if !fs::metadata(&root).map_err(io_error(&root))?.is_dir() {
        return Err(ContextError::RootNotDir { path: root });
    }
    let dockerfile = fs::canonicalize(&spec.dockerfile).map_err(io_error(&spec.dockerfile))?;
    let dockerfile_meta = fs::metadata(&dockerfile).map_err(io_error(&dockerfile))?;
    if !dockerfile_meta.is_file() {
        return Err(ContextError::DockerfileNotFile { path: dockerfile });
    }
    let dockerfile_rel = match dockerfile.strip_prefix(&root) {
        Ok(rel) if !rel.as_os_str().is_empty() => Some(utf8(rel, &dockerfile)?.to_string()),
        _ => None,
    };

    let ignore_text = read_dockerignore(&root, &spec.workspace)?;
    let mut ignore = match &ignore_text {
        Some(bytes) => DockerIgnore::parse(&String::from_utf8_lossy(bytes))?,
        None => DockerIgnore::default(),
    };
    // TrimBuildFilesFromExcludes. A path that does not compile as a pattern is still sent
    // by the fallback below.
    if ignore.matches_legacy(DOCKERIGNORE) {
        let _ = ignore.add_exception(DOCKERIGNORE);
    }
    if let Some(rel) = &dockerfile_rel
        && ignore.matches_legacy(rel)
    {
        let _ = ignore.add_exception(rel);
    }

    let mut entries = BTreeMap::new();
    match only {
        None => walk_context(&root, "", None, None, &ignore, &spec.skip, &mut entries)?,
        Some(paths) => select::walk(&root, paths, &ignore, &spec.skip, &mut entries)?,
    }

    // The CLI relies on the exceptions above; its check can miss (it only looks at one parent
    // directory), in which case it would fail the build. Send the files regardless. Copies
    // may not replace them: the daemon reads both.
    let mut protected = BTreeSet::new();
    let mut build_files = vec![DOCKERIGNORE.to_string()];
    build_files.extend(dockerfile_rel.clone());
    for rel in build_files {
        protected.insert(rel.clone());
        if !entries.contains_key(&rel) {
            let abs = root.join(&rel);
            match fs::symlink_metadata(&abs) {
                Ok(_) => {
                    if let Some(entry) = entry_from_disk(&abs, rel.clone())? {
                        entries.insert(rel.clone(), entry);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => return Err(ContextError::Io { path: abs, source }),
            }
        }
    }

    let mut outside = None;
    let dockerfile_in_context = match dockerfile_rel {
        Some(rel) => rel,
        None => {
            let name = OUTSIDE_DOCKERFILE_NAME.to_string();
            remove_subtree(&mut entries, &name);
            entries.insert(
                name.clone(),
                ContextEntry {
                    path: name.clone(),
                    kind: EntryKind::File,
                    mode: ADDED_FILE_MODE,
                    size: dockerfile_meta.len(),
                    source: dockerfile,
                    data: None,
                    disk: Some(DiskStat::of(&dockerfile_meta)),
                },
            );
            outside = Some(OutsideDockerfile {
                dockerignore: entries.get(DOCKERIGNORE).map(|e| {
                    let mut original = e.clone();
                    if let (EntryKind::File, Some(text)) = (&original.kind, &ignore_text) {
                        original.size = text.len() as u64;
                        original.data = Some(text.clone());
                    }
                    original
                }),
            });
            let mut data = ignore_text.unwrap_or_else(|| DOCKERIGNORE.as_bytes().to_vec());
            data.extend_from_slice(format!("\n{name}\n").as_bytes());
            let mode = match entries.get(DOCKERIGNORE) {
                Some(e) if e.kind == EntryKind::File => e.mode,
                _ => ADDED_FILE_MODE,
            };
            entries.insert(
                DOCKERIGNORE.to_string(),
                ContextEntry {
                    path: DOCKERIGNORE.to_string(),
                    kind: EntryKind::File,
                    mode,
                    size: data.len() as u64,
                    source: root.join(DOCKERIGNORE),
                    data: Some(data),
                    disk: None,
                },
            );
            protected.insert(name.clone());
            name
        }
    };

    for copy in &spec.copies {
        apply_copy(&mut entries, copy, &protected)?;
    }

    Ok(Context {
        entries: entries.into_values().collect(),
        dockerfile_in_context,
        outside,
    })
}

/// moby's `TarWithOptions` walk: children in name order, `.dockerignore` decided with the
/// parent's match results, excluded directories entered only for exception patterns.
///
/// `reach`: `None` walks everything; `Some(patterns)` (fsutil include patterns, for
/// [`select`]) only the entries a pattern's first components match, and everything below an
/// entry a pattern matches in full.
fn walk_context(
    dir: &Path,
    rel_dir: &str,
    parent: Option<&MatchInfo>,
    reach: Option<&[String]>,
    ignore: &DockerIgnore,
    skip: &[PathBuf],
    out: &mut BTreeMap<String, ContextEntry>,
) -> Result<(), ContextError> {
    for (name, abs, is_dir) in read_dir_sorted(dir)? {
        if skip.contains(&abs) {
            continue;
        }
        let rel = join_rel(rel_dir, &name);
        // The patterns that still decide below this entry (`None`: everything is reached).
        let below = match reach {
            None => None,
            Some(patterns) => {
                let matched: Vec<bool> = patterns
                    .iter()
                    .filter_map(|p| fsview::match_prefix(p, &rel))
                    .collect();
                if matched.is_empty() {
                    continue;
                }
                // Some pattern matches in full: everything below is reached.
                (!matched.contains(&false)).then_some(patterns)
            }
        };
        let (excluded, info) = ignore.matches_with_parent(&rel, parent);
        if excluded {
            if is_dir && ignore.must_walk_excluded_dir(&rel) {
                walk_context(&abs, &rel, Some(&info), below, ignore, skip, out)?;
            }
            continue;
        }
        // A name that is not UTF-8 is matched by its lossy form; it is an error only when
        // the entry would really be sent.
        if abs.file_name().and_then(|n| n.to_str()).is_none() {
            return Err(ContextError::NonUtf8Path { path: abs });
        }
        if let Some(entry) = entry_from_disk(&abs, rel.clone())? {
            out.insert(rel.clone(), entry);
        }
        if is_dir {
            walk_context(&abs, &rel, Some(&info), below, ignore, skip, out)?;
        }
    }
    Ok(())
}

/// Every entry under `dir` (for copies), parents before children.
fn walk_all(dir: &Path, rel_dir: &str, out: &mut Vec<ContextEntry>) -> Result<(), ContextError> {
    for (name, abs, is_dir) in read_dir_sorted(dir)? {
        if abs.file_name().and_then(|n| n.to_str()).is_none() {
            return Err(ContextError::NonUtf8Path { path: abs });
        }
        let rel = join_rel(rel_dir, &name);
        if let Some(entry) = entry_from_disk(&abs, rel.clone())? {
            out.push(entry);
        }
        if is_dir {
            walk_all(&abs, &rel, out)?;
        }
    }
    Ok(())
}

fn join_rel(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// Children of `dir` as (name, path, is a real directory), sorted by name bytes like Go's
/// `os.ReadDir`.
fn read_dir_sorted(dir: &Path) -> Result<Vec<(String, PathBuf, bool)>, ContextError> {
    let mut children = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_dir = entry.file_type().map_err(io_error(&path))?.is_dir();
        children.push((name, path, is_dir));
    }
    children.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(children)
}

/// The entry for `abs` (not following symlinks), `None` for a socket, which the CLI skips.
fn entry_from_disk(abs: &Path, rel: String) -> Result<Option<ContextEntry>, ContextError> {
    let meta = fs::symlink_metadata(abs).map_err(io_error(abs))?;
    let file_type = meta.file_type();
    let (kind, size) = if file_type.is_dir() {
        (EntryKind::Dir, 0)
    } else if file_type.is_file() {
        // Fail early, naming the file, rather than halfway through the upload.
        check_readable(abs, &meta)?;
        (EntryKind::File, meta.len())
    } else if file_type.is_symlink() {
        let target = fs::read_link(abs).map_err(io_error(abs))?;
        let target = utf8(&target, abs)?.to_string();
        (EntryKind::Symlink { target }, 0)
    } else if file_type.is_socket() {
        return Ok(None);
    } else {
        let kind = if file_type.is_fifo() {
            "named pipe"
        } else if file_type.is_char_device() {
            "character device"
        } else {
            "block device"
        };
        return Err(ContextError::SpecialFile {
            path: abs.to_path_buf(),
            kind,
        });
    };
    let disk = (kind == EntryKind::File).then(|| DiskStat::of(&meta));
    Ok(Some(ContextEntry {
        path: rel,
        kind,
        mode: meta.mode() & 0o7777,
        size,
        source: abs.to_path_buf(),
        data: None,
        disk,
    }))
}

/// Whether we may read regular file `abs`: decided from its mode bits when they allow it (no
/// open and close for each of a large context's files), else by opening it, so an ACL that
/// grants more than the bits is honoured and an error names the file.
fn check_readable(abs: &Path, meta: &fs::Metadata) -> Result<(), ContextError> {
    struct Ids {
        uid: u32,
        groups: Vec<u32>,
    }
    static IDS: std::sync::OnceLock<Ids> = std::sync::OnceLock::new();
    let ids = IDS.get_or_init(|| {
        // SAFETY: geteuid, getegid and getgroups only read the process's credentials.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let mut groups = vec![gid];
        let n = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
        if n > 0 {
            let mut more = vec![0 as libc::gid_t; n as usize];
            let got = unsafe { libc::getgroups(n, more.as_mut_ptr()) };
            if got > 0 {
                more.truncate(got as usize);
                groups.extend(more);
            }
        }
        Ids { uid, groups }
    });
    let mode = meta.mode();
    let readable = ids.uid == 0
        || if meta.uid() == ids.uid {
            mode & 0o400 != 0
        } else if ids.groups.contains(&meta.gid()) {
            mode & 0o040 != 0
        } else {
            mode & 0o004 != 0
        };
    if !readable {
        File::open(abs).map_err(io_error(abs))?;
    }
    Ok(())
}

fn utf8<'a>(path: &'a Path, report: &Path) -> Result<&'a str, ContextError> {
    path.to_str().ok_or_else(|| ContextError::NonUtf8Path {
        path: report.to_path_buf(),
    })
}

fn apply_copy(
    entries: &mut BTreeMap<String, ContextEntry>,
    copy: &ContextCopy,
    protected: &BTreeSet<String>,
) -> Result<(), ContextError> {
    let fail = |reason: String| ContextError::Copy {
        from: copy.from.clone(),
        to: copy.to.clone(),
        reason,
    };
    let mut parts = Vec::new();
    for part in copy.to.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(fail("the destination must stay inside the context".into())),
            part => parts.push(part),
        }
    }
    let to = parts.join("/");

    let meta = fs::metadata(&copy.from).map_err(io_error(&copy.from))?;
    let mut new_entries = Vec::new();
    if meta.is_dir() {
        if !to.is_empty() {
            new_entries.push(ContextEntry {
                path: to.clone(),
                kind: EntryKind::Dir,
                mode: meta.mode() & 0o7777,
                size: 0,
                source: copy.from.clone(),
                data: None,
                disk: None,
            });
        }
        walk_all(&copy.from, &to, &mut new_entries)?;
    } else if meta.is_file() {
        if to.is_empty() {
            return Err(fail("a file needs a destination path".into()));
        }
        File::open(&copy.from).map_err(io_error(&copy.from))?;
        new_entries.push(ContextEntry {
            path: to,
            kind: EntryKind::File,
            mode: meta.mode() & 0o7777,
            size: meta.len(),
            source: copy.from.clone(),
            data: None,
            disk: Some(DiskStat::of(&meta)),
        });
    } else {
        return Err(fail("only files and folders can be copied".into()));
    }

    let conflict = |path: &str| {
        fail(format!(
            "it would replace {path:?}, which the build needs (Dockerfile or .dockerignore)"
        ))
    };
    for entry in new_entries {
        for (i, _) in entry.path.match_indices('/') {
            let parent = &entry.path[..i];
            match entries.get(parent) {
                Some(existing) if existing.kind == EntryKind::Dir => {}
                existing => {
                    if existing.is_some() && protected.contains(parent) {
                        return Err(conflict(parent));
                    }
                    entries.insert(
                        parent.to_string(),
                        ContextEntry {
                            path: parent.to_string(),
                            kind: EntryKind::Dir,
                            mode: CREATED_DIR_MODE,
                            size: 0,
                            source: PathBuf::new(),
                            data: None,
                            disk: None,
                        },
                    );
                }
            }
        }
        if protected.contains(&entry.path) {
            return Err(conflict(&entry.path));
        }
        if entry.kind != EntryKind::Dir {
            let prefix = format!("{}/", entry.path);
            if let Some(hit) = protected.iter().find(|p| p.starts_with(&prefix)) {
                return Err(conflict(hit));
            }
            remove_subtree(entries, &entry.path);
        }
        entries.insert(entry.path.clone(), entry);
    }
    Ok(())
}

/// Remove the entries strictly under `path`.
fn remove_subtree(entries: &mut BTreeMap<String, ContextEntry>, path: &str) {
    let prefix = format!("{path}/");
    let doomed: Vec<String> = entries
        .range(prefix.clone()..)
        .map(|(k, _)| k)
        .take_while(|k| k.starts_with(&prefix))
        .cloned()
        .collect();
    for key in doomed {
        entries.remove(&key);
    }
}

#[cfg(test)]
mod tests;
