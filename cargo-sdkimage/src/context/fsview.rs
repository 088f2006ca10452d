//! The build context as BuildKit's file sync asks for it: the entries of [`Context`] (the
//! same walk and rules as the tar) in the order and shape of fsutil's walker (`walker.go`,
//! `followlinks.go` in github.com/tonistiigi/fsutil, the version BuildKit 0.8 uses), filtered
//! by the include patterns and follow-paths of the engine's request.
//!
//! Two folders are served, as the docker CLI does (`build_buildkit.go`): `context` and
//! `dockerfile`. The context is sent as it is on disk: a Dockerfile from outside it travels in
//! the `dockerfile` folder only, and `.dockerignore` is not rewritten (the tar needs both
//! tricks, the file sync neither). Exclude patterns of the request are not applied: the
//! entries already went through `.dockerignore` with the docker CLI's rules, and `[[copy]]`
//! entries are sent whatever it says.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use super::dockerignore::go_clean;
use super::gomatch::go_match;
use super::{CREATED_DIR_MODE, Context, ContextEntry, EntryKind, OUTSIDE_DOCKERFILE_NAME};

/// The `dir-name` of the build context.
pub const CONTEXT_DIR: &str = "context";
/// The `dir-name` of the folder holding the Dockerfile.
pub const DOCKERFILE_DIR: &str = "dockerfile";

/// What the engine asks of one folder: its `dir-name`, `include-patterns` and `followpaths`
/// (`None` when the request carries none, which is no filter).
#[derive(Debug, Clone, Default)]
pub struct SyncRequest {
    pub dir: String,
    pub include: Option<Vec<String>>,
    pub follow: Option<Vec<String>>,
}

impl SyncRequest {
    /// What of this request lies outside follow-paths `only` (the paths the context was
    /// collected and fingerprinted for): the request's include patterns and follow-paths that
    /// are neither one of them nor below one; `["."]` for a request of everything. `None`:
    /// nothing.
    pub fn outside(&self, only: &[String]) -> Option<Vec<String>> {
        if self.include.is_none() && self.follow.is_none() {
            return Some(vec![".".to_string()]);
        }
        let covered = |p: &str| {
            only.iter().any(|s| {
                let s = go_clean(s);
                p == s || (p.starts_with(s.as_str()) && p.as_bytes().get(s.len()) == Some(&b'/'))
            })
        };
        let outside: Vec<String> = self
            .include
            .iter()
            .chain(self.follow.iter())
            .flatten()
            .map(|p| go_clean(p))
            .filter(|p| !covered(p))
            .collect();
        (!outside.is_empty()).then_some(outside)
    }
}

impl Context {
    /// The Dockerfile's name in the `dockerfile` folder: its own file name.
    pub fn dockerfile_name(&self) -> String {
        self.dockerfile_entry()
            .and_then(|e| e.source.file_name()?.to_str().map(str::to_string))
            .unwrap_or_else(|| "Dockerfile".to_string())
    }

    fn dockerfile_entry(&self) -> Option<&ContextEntry> {
        self.entries
            .iter()
            .find(|e| e.path == self.dockerfile_in_context)
    }

    /// The entries sent for `request`, in fsutil's order (parents first, then by name, `/`
    /// before any other byte), each with the path it has in [`Context::entries`] (the key of
    /// its file stamp). Borrowed from the context, not copied. `None` for a folder that is not
    /// served.
    pub fn sync_entries(&self, request: &SyncRequest) -> Option<Vec<SyncEntry<'_>>> {
        let all: Vec<SyncEntry<'_>> = match request.dir.as_str() {
            CONTEXT_DIR => self.context_as_on_disk(),
            DOCKERFILE_DIR => {
                let entry = self.dockerfile_entry()?;
                let mut sent = entry.clone();
                sent.path = self.dockerfile_name();
                vec![(Cow::Owned(sent), Cow::Borrowed(entry.path.as_str()))]
            }
            _ => return None,
        };
        let mut all = with_parents(all);
        all.sort_by(|a, b| compare_path(&a.0.path, &b.0.path));
        Some(filter(all, request))
    }

    fn context_as_on_disk(&self) -> Vec<SyncEntry<'_>> {
        let mut out = Vec::with_capacity(self.entries.len());
        for e in &self.entries {
            if let Some(outside) = &self.outside {
                if e.path == OUTSIDE_DOCKERFILE_NAME {
                    continue;
                }
                if e.path == super::DOCKERIGNORE {
                    if let Some(original) = &outside.dockerignore {
                        out.push((Cow::Borrowed(original), Cow::Borrowed(e.path.as_str())));
                    }
                    continue;
                }
            }
            out.push((Cow::Borrowed(e), Cow::Borrowed(e.path.as_str())));
        }
        out
    }
}

/// One entry sent by the file sync and the key of its file stamp (its path in
/// [`Context::entries`]).
pub type SyncEntry<'a> = (Cow<'a, ContextEntry>, Cow<'a, str>);

/// fsutil's `ComparePath`: byte order, but `/` before every other byte.
pub fn compare_path(a: &str, b: &str) -> Ordering {
    let key = |c: u8| if c == b'/' { 0u16 } else { u16::from(c) + 1 };
    a.bytes().map(key).cmp(b.bytes().map(key))
}

/// Add the folders the walk entered without sending them (excluded, but holding an exception
/// of `.dockerignore`): fsutil's receiver wants every parent before its children. The tar
/// leaves them to the engine, which creates them with mode 755; so do we.
fn with_parents(entries: Vec<SyncEntry<'_>>) -> Vec<SyncEntry<'_>> {
    let dirs: BTreeSet<&str> = entries
        .iter()
        .filter(|(e, _)| e.kind == EntryKind::Dir)
        .map(|(e, _)| e.path.as_str())
        .collect();
    let mut missing = BTreeSet::new();
    for (e, _) in &entries {
        for (i, _) in e.path.match_indices('/') {
            let parent = &e.path[..i];
            if !dirs.contains(parent) {
                missing.insert(parent.to_string());
            }
        }
    }
    let mut entries = entries;
    for path in missing {
        entries.push((
            Cow::Owned(ContextEntry {
                path: path.clone(),
                kind: EntryKind::Dir,
                mode: CREATED_DIR_MODE,
                size: 0,
                source: Default::default(),
                data: None,
                disk: None,
            }),
            Cow::Owned(path),
        ));
    }
    entries
}

/// fsutil's `Walk` with include patterns: an entry is sent when a pattern matches it (or,
/// for a folder, the start of a pattern does); a folder that no pattern reaches is skipped
/// with everything in it; below a folder matched in full, everything is sent.
fn filter<'a>(sorted: Vec<SyncEntry<'a>>, request: &SyncRequest) -> Vec<SyncEntry<'a>> {
    let Some(patterns) = include_patterns(&sorted, request) else {
        return sorted;
    };
    let mut out = Vec::new();
    let mut skipped_dir: Option<String> = None;
    let mut included_dir: Option<String> = None;
    for item in sorted {
        let path = &item.0.path;
        let is_dir = item.0.kind == EntryKind::Dir;
        let below = |dir: &Option<String>| {
            dir.as_ref().is_some_and(|d| {
                path.len() > d.len()
                    && path.starts_with(d.as_str())
                    && path.as_bytes()[d.len()] == b'/'
            })
        };
        if below(&skipped_dir) {
            continue;
        }
        if !below(&included_dir) {
            let mut matched = false;
            let mut partial = true;
            for pattern in &patterns {
                if let Some(p) = match_prefix(pattern, path) {
                    matched = true;
                    if !p {
                        partial = false;
                        break;
                    }
                }
            }
            if !matched {
                if is_dir {
                    skipped_dir = Some(path.clone());
                }
                continue;
            }
            if !partial && is_dir {
                included_dir = Some(path.clone());
            }
        }
        out.push(item);
    }
    out
}

/// The include patterns fsutil's walker uses: the request's, cleaned, and the follow-paths
/// with the symlinks on their way resolved (`FollowLinks`). `None`: no filter.
fn include_patterns(sorted: &[SyncEntry<'_>], request: &SyncRequest) -> Option<Vec<String>> {
    let mut patterns: Option<Vec<String>> = request
        .include
        .as_ref()
        .map(|p| p.iter().map(|p| go_clean(p)).collect());
    if let Some(follow) = &request.follow {
        let by_path: BTreeMap<&str, &ContextEntry> = sorted
            .iter()
            .map(|(e, _)| (e.path.as_str(), &**e))
            .collect();
        let mut resolver = Resolver {
            entries: &by_path,
            resolved: BTreeSet::new(),
        };
        for path in follow {
            resolver.append(path);
        }
        let targets: Vec<String> = resolver.resolved.into_iter().collect();
        if let Some(targets) = dedupe_paths(targets) {
            let mut all = patterns.unwrap_or_default();
            all.extend(targets);
            patterns = dedupe_paths(all);
        }
    }
    patterns
}

/// The include patterns follow-paths `follow` become over `entries` (the symlinks on their
/// way resolved), for [`super::select`]; `None`: everything.
pub(super) fn follow_patterns(
    entries: &BTreeMap<String, ContextEntry>,
    follow: &[String],
) -> Option<Vec<String>> {
    let by_path: BTreeMap<&str, &ContextEntry> =
        entries.iter().map(|(k, e)| (k.as_str(), e)).collect();
    let mut resolver = Resolver {
        entries: &by_path,
        resolved: BTreeSet::new(),
    };
    for path in follow {
        resolver.append(path);
    }
    dedupe_paths(resolver.resolved.into_iter().collect())
}

/// fsutil's `matchPrefix`: `Some(partial)` when `pattern` matches `name`, `partial` when only
/// its first components (as many as `name` has) did.
pub(super) fn match_prefix(pattern: &str, name: &str) -> Option<bool> {
    let count = name.matches('/').count();
    let mut pattern = pattern;
    let mut partial = false;
    if pattern.matches('/').count() > count {
        let cut = pattern
            .match_indices('/')
            .nth(count)
            .map_or(pattern.len(), |(i, _)| i);
        pattern = &pattern[..cut];
        partial = true;
    }
    go_match(pattern, name).unwrap_or(false).then_some(partial)
}

/// fsutil's `dedupePaths` (expects sorted input): drops paths below an earlier one; `None`
/// when `.` is among them (no filter at all).
fn dedupe_paths(paths: Vec<String>) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(paths.len());
    let mut last = String::new();
    for p in paths {
        if p == "." {
            return None;
        }
        if p.starts_with(&format!("{last}/")) {
            continue;
        }
        last = p.clone();
        out.push(p);
    }
    Some(out)
}

/// fsutil's `symlinkResolver`, over the entries sent instead of the disk (copies included).
struct Resolver<'a> {
    entries: &'a BTreeMap<&'a str, &'a ContextEntry>,
    resolved: BTreeSet<String>,
}

impl Resolver<'_> {
    fn append(&mut self, p: &str) {
        let mut p = go_clean(&format!("./{p}"));
        let mut current = ".".to_string();
        loop {
            let (first, rest) = match p.split_once('/') {
                Some((a, b)) => (a.to_string(), b.to_string()),
                None => (p.clone(), String::new()),
            };
            current = join(&current, &first);
            let targets = self.read_symlink(&current, true);
            p = rest;
            if (p.is_empty() || targets.is_some()) && self.resolved.contains(&current) {
                return;
            }
            if let Some(targets) = targets {
                self.resolved.insert(current.clone());
                for target in targets {
                    self.append(&join(&target, &p));
                }
                return;
            }
            if p.is_empty() {
                self.resolved.insert(current);
                return;
            }
        }
    }

    /// The targets of the symlink at `p` (of each symlink matching it, for a wildcard last
    /// component), as paths from the root; `None` when there is none.
    fn read_symlink(&self, p: &str, wildcard: bool) -> Option<Vec<String>> {
        let (dir, base) = match p.rsplit_once('/') {
            Some((d, b)) => (d, b),
            None => (".", p),
        };
        if wildcard && contains_wildcards(base) {
            let prefix = if dir == "." {
                String::new()
            } else {
                format!("{dir}/")
            };
            let mut out = Vec::new();
            for (path, _) in self.entries.range(prefix.as_str()..) {
                let Some(name) = path.strip_prefix(prefix.as_str()) else {
                    break;
                };
                if name.contains('/') || !go_match(base, name).unwrap_or(false) {
                    continue;
                }
                out.extend(self.read_symlink(path, false).unwrap_or_default());
            }
            return (!out.is_empty()).then_some(out);
        }
        let EntryKind::Symlink { target } = &self.entries.get(p)?.kind else {
            return None;
        };
        let link = go_clean(target);
        Some(vec![if link.starts_with('/') {
            link
        } else {
            go_clean(&format!("/{}", join(dir, &link)))
        }])
    }
}

/// Go's `path.Join` of two parts.
fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => String::new(),
        (true, false) => go_clean(b),
        (false, true) => go_clean(a),
        (false, false) => go_clean(&format!("{a}/{b}")),
    }
}

fn contains_wildcards(name: &str) -> bool {
    let bytes = name.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'*' | b'?' | b'[' => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

/// The mode fsutil sends: Go's `os.FileMode` (permission bits, and flags for the type and for
/// setuid, setgid and sticky).
pub fn go_file_mode(kind: &EntryKind, unix_mode: u32) -> u32 {
    const MODE_DIR: u32 = 1 << 31;
    const MODE_SYMLINK: u32 = 1 << 27;
    const MODE_SETUID: u32 = 1 << 23;
    const MODE_SETGID: u32 = 1 << 22;
    const MODE_STICKY: u32 = 1 << 20;
    let mut mode = unix_mode & 0o777;
    if unix_mode & 0o4000 != 0 {
        mode |= MODE_SETUID;
    }
    if unix_mode & 0o2000 != 0 {
        mode |= MODE_SETGID;
    }
    if unix_mode & 0o1000 != 0 {
        mode |= MODE_STICKY;
    }
    match kind {
        EntryKind::Dir => mode | MODE_DIR,
        EntryKind::Symlink { .. } => mode | MODE_SYMLINK,
        EntryKind::File => mode,
    }
}

#[cfg(test)]
mod tests;
