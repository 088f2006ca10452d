//! A walk of only the context paths a build can read ([`crate::dockerfile::context_use`]), with
//! the same `.dockerignore` rules as the whole walk: what the engine's file sync can ask for
//! when the Dockerfile's sources are its follow-paths, and nothing else.
//!
//! fsutil's walker (github.com/tonistiigi/fsutil `walker.go`, `followlinks.go`) turns the
//! follow-paths into include patterns: the paths themselves (wildcards matched per component,
//! Go's `filepath.Match`), and the targets of the symlinks on their way, resolved inside the
//! context. A folder is entered when a pattern's first components match it; below a folder a
//! pattern matches in full, everything is sent. This walk enters exactly those folders, then
//! resolves the follow-paths through the symlinks it found, as the file sync does
//! ([`super::fsview`]), and walks again while that adds patterns. So what the file sync sends
//! for those follow-paths from these entries is what it would send from the whole walk.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::dockerignore::go_clean;
use super::{ContextEntry, ContextError, DockerIgnore, walk_context};

/// Walks before giving up on symlinks leading to more symlinks (then the whole context).
const MAX_ROUNDS: usize = 8;

/// Walk the entries of `root` that `follow` (relative, cleaned paths, possibly with
/// wildcards) reaches, `.dockerignore` applied, into `out`.
pub(super) fn walk(
    root: &Path,
    follow: &[String],
    ignore: &DockerIgnore,
    skip: &[PathBuf],
    out: &mut BTreeMap<String, ContextEntry>,
) -> Result<(), ContextError> {
    let follow: Vec<String> = follow.iter().map(|p| go_clean(p)).collect();
    let mut patterns: BTreeSet<String> = follow.iter().cloned().collect();
    for _ in 0..MAX_ROUNDS {
        if patterns.contains(".") {
            break;
        }
        let list: Vec<String> = patterns.iter().cloned().collect();
        let mut entries = BTreeMap::new();
        walk_context(root, "", None, Some(&list), ignore, skip, &mut entries)?;
        // A symlink to the root: everything.
        let Some(resolved) = super::fsview::follow_patterns(&entries, &follow) else {
            break;
        };
        let before = patterns.len();
        patterns.extend(resolved);
        if patterns.len() == before {
            out.extend(entries);
            return Ok(());
        }
    }
    walk_context(root, "", None, None, ignore, skip, out)
}

#[cfg(test)]
mod tests;
