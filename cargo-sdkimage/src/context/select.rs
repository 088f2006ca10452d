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
use super::{
    ContextEntry, ContextError, DockerIgnore, MatchInfo, entry_from_disk, join_rel,
    read_dir_sorted, walk_context,
};

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
        walk_dir(root, "", None, &list, ignore, skip, &mut entries)?;
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
    walk_context(root, "", None, ignore, skip, out)
}

/// `walk_context` entering only what a pattern reaches; below a folder a pattern matches in
/// full, `walk_context` itself.
fn walk_dir(
    dir: &Path,
    rel_dir: &str,
    parent: Option<&MatchInfo>,
    patterns: &[String],
    ignore: &DockerIgnore,
    skip: &[PathBuf],
    out: &mut BTreeMap<String, ContextEntry>,
) -> Result<(), ContextError> {
    for (name, abs, is_dir) in read_dir_sorted(dir)? {
        if skip.contains(&abs) {
            continue;
        }
        let rel = join_rel(rel_dir, &name);
        let mut reached = false;
        let mut full = false;
        for pattern in patterns {
            if let Some(partial) = super::fsview::match_prefix(pattern, &rel) {
                reached = true;
                if !partial {
                    full = true;
                    break;
                }
            }
        }
        if !reached {
            continue;
        }
        let (excluded, info) = ignore.matches_with_parent(&rel, parent);
        if excluded {
            if is_dir && ignore.must_walk_excluded_dir(&rel) {
                if full {
                    walk_context(&abs, &rel, Some(&info), ignore, skip, out)?;
                } else {
                    walk_dir(&abs, &rel, Some(&info), patterns, ignore, skip, out)?;
                }
            }
            continue;
        }
        if abs.file_name().and_then(|n| n.to_str()).is_none() {
            return Err(ContextError::NonUtf8Path { path: abs });
        }
        if let Some(entry) = entry_from_disk(&abs, rel.clone())? {
            out.insert(rel.clone(), entry);
        }
        if is_dir {
            if full {
                walk_context(&abs, &rel, Some(&info), ignore, skip, out)?;
            } else {
                walk_dir(&abs, &rel, Some(&info), patterns, ignore, skip, out)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
