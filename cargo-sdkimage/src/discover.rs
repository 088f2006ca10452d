//! The walk that finds `sdkimage.toml` files below the workspace root.
//!
//! Skips `.git`, `target`, `node_modules`, hidden folders, whatever `.gitignore` ignores, and
//! any folder below the root holding a Cargo workspace or an `sdkimage-workspace.toml` of its own
//! (another monorepo, a fixture).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use ignore::{WalkBuilder, WalkState};

use crate::manifest::MANIFEST_FILE;

const SKIPPED_DIRS: &[&str] = &[".git", "target", "node_modules"];
const CARGO_MANIFEST: &str = "Cargo.toml";

/// Every manifest below `root`, sorted by path.
///
/// The walk is the `ignore` crate's parallel walker (one thread per core, at most 8), so the
/// order in which manifests are met varies; the result is sorted. Files are handled in the
/// walker's entry filter, where each entry is met once it has passed the ignore rules, and the
/// filter turns them down: only folders are queued as work for the walker's threads, not each
/// of the tree's files (on a 200,000-file tree that queue was ~15% of the walk's CPU time).
///
/// Nested workspaces are recognised from the `Cargo.toml` and `sdkimage-workspace.toml` files
/// the walk comes across rather than by probing every folder for one: a probe is a failed
/// `open` for nearly every folder, which made the walk about 15% slower than `find` on a large
/// tree. A manifest below a nested workspace is dropped at the end; folders below a workspace
/// already known are not entered at all. A nested workspace whose files the walk does not
/// report (ignored by a `.gitignore` pattern) is checked when its manifests are, so the result
/// is the same.
pub fn find_manifests(root: &Path) -> Vec<PathBuf> {
    let seen = Arc::new(Seen::default());
    let filter = seen.clone();
    WalkBuilder::new(root)
        .hidden(true)
        .git_ignore(true)
        .git_exclude(true)
        .git_global(false)
        .ignore(false)
        .parents(false)
        .require_git(false)
        .follow_links(false)
        .threads(
            std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .min(8),
        )
        .filter_entry(move |entry| filter.enter(entry))
        // Unreadable folders are passed over, as before: what cannot be read holds no manifest
        // we could load.
        .build_parallel()
        .run(|| Box::new(|_| WalkState::Continue));
    // `run` returns once every thread of the walk has ended.
    let mut found = std::mem::take(&mut *seen.manifests.lock().expect("walk collector"));
    let nested = seen.nested.read().expect("nested workspaces");
    found.retain(|manifest| !below_nested_workspace(root, manifest, &nested));
    found.sort();
    found
}

/// A walk started before the workspace root is known for sure, beside `cargo metadata` (a
/// child process that spends most of its time starting): the folder of `--manifest-path` (or
/// the current folder) when it is a workspace root itself, which it nearly always is. Its
/// result is used only for the root the workspace turns out to have ([`EarlyWalk::finish`]).
pub struct EarlyWalk {
    root: PathBuf,
    walk: std::thread::JoinHandle<Vec<PathBuf>>,
}

impl EarlyWalk {
    /// Start walking the likely root of the workspace `manifest_path` (or the current folder)
    /// belongs to; `None` when that folder declares no workspace (a member's manifest: cargo
    /// knows its root).
    pub fn start(manifest_path: Option<&Path>) -> Option<EarlyWalk> {
        let dir = match manifest_path {
            Some(path) => path.parent()?.to_path_buf(),
            None => std::env::current_dir().ok()?,
        };
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".").canonicalize().ok()?
        } else {
            dir.canonicalize().ok()?
        };
        if !is_nested_workspace(&dir) {
            return None;
        }
        let root = dir.clone();
        let walk = std::thread::Builder::new()
            .name("discover".into())
            .spawn(move || find_manifests(&dir))
            .ok()?;
        Some(EarlyWalk { root, walk })
    }

    /// The manifests below `root` (canonical, as the workspace has it): the early walk's when
    /// it walked `root`, else those of a walk made now.
    pub fn finish(early: Option<EarlyWalk>, root: &Path) -> Vec<PathBuf> {
        match early {
            Some(early) if early.root == root => match early.walk.join() {
                Ok(found) => found,
                Err(_) => find_manifests(root),
            },
            _ => find_manifests(root),
        }
    }
}

/// What the walk's threads have met: manifests, and the roots of nested workspaces.
#[derive(Default)]
struct Seen {
    manifests: Mutex<Vec<PathBuf>>,
    any_nested: AtomicBool,
    nested: RwLock<Vec<PathBuf>>,
}

impl Seen {
    /// The walk's entry filter: whether to queue `entry` (below the root) for the walker's
    /// threads. Folders are, unless skipped; files are looked at here and never queued.
    fn enter(&self, entry: &ignore::DirEntry) -> bool {
        let Some(file_type) = entry.file_type() else {
            return false;
        };
        if file_type.is_dir() {
            let name = entry.file_name().to_str().unwrap_or("");
            return !SKIPPED_DIRS.contains(&name) && !self.below_nested(entry.path());
        }
        let name = entry.file_name();
        // Whatever is named like a manifest is loaded, so a symlink is followed and a FIFO or
        // device is refused by name rather than silently passed over.
        if name == MANIFEST_FILE {
            self.manifests
                .lock()
                .expect("walk collector")
                .push(entry.path().to_path_buf());
        } else if name == CARGO_MANIFEST
            // depth 1 is the root's own Cargo.toml.
            && entry.depth() >= 2
            && (file_type.is_file() || file_type.is_symlink())
            && let Some(dir) = entry.path().parent()
            && declares_workspace(dir)
        {
            self.insert_nested(dir);
        } else if name == crate::workspace::standalone::WORKSPACE_FILE
            && entry.depth() >= 2
            && let Some(dir) = entry.path().parent()
        {
            self.insert_nested(dir);
        }
        false
    }

    fn insert_nested(&self, dir: &Path) {
        self.nested
            .write()
            .expect("nested workspaces")
            .push(dir.to_path_buf());
        self.any_nested.store(true, Ordering::Release);
    }

    /// Whether `dir` is at or below a nested workspace found so far. The walk's paths all
    /// start with the root as given, so a byte prefix up to a separator is a path prefix.
    fn below_nested(&self, dir: &Path) -> bool {
        if !self.any_nested.load(Ordering::Acquire) {
            return false;
        }
        let dir = dir.as_os_str().as_encoded_bytes();
        self.nested
            .read()
            .expect("nested workspaces")
            .iter()
            .any(|n| {
                let n = n.as_os_str().as_encoded_bytes();
                dir.starts_with(n)
                    && dir
                        .get(n.len())
                        .is_none_or(|&b| std::path::is_separator(b as char))
            })
    }
}

/// Whether a folder between `root` (excluded) and `manifest` holds a Cargo workspace. The
/// walk reported most of them; the others (their `Cargo.toml` is gitignored) are probed here,
/// once per manifest folder rather than once per folder of the tree.
fn below_nested_workspace(root: &Path, manifest: &Path, known: &[PathBuf]) -> bool {
    if known.iter().any(|n| manifest.starts_with(n)) {
        return true;
    }
    manifest
        .ancestors()
        .skip(1)
        .take_while(|dir| *dir != root && dir.starts_with(root))
        .any(is_nested_workspace)
}

/// A folder whose `Cargo.toml` declares `[workspace]`, or that has an `sdkimage-workspace.toml`.
fn is_nested_workspace(dir: &Path) -> bool {
    dir.join(crate::workspace::standalone::WORKSPACE_FILE)
        .exists()
        || declares_workspace(dir)
}

/// A folder whose `Cargo.toml` declares `[workspace]`.
fn declares_workspace(dir: &Path) -> bool {
    // Only a regular file of sane size is looked at: a FIFO named Cargo.toml must not hang
    // discovery, and a file that is not one cargo could read declares no workspace.
    let rules = crate::guarded::Rules::anywhere(crate::guarded::CONFIG_CAP, "a Cargo.toml");
    let Ok(text) = crate::guarded::read_to_string(&dir.join(CARGO_MANIFEST), rules) else {
        return false;
    };
    // Without the word (or an escape that could spell it in a quoted key), no table or key
    // can be named `workspace`: skip the parse, as for most package manifests.
    if !text.contains("workspace") && !text.contains('\\') {
        return false;
    }
    match text.parse::<toml::Table>() {
        Ok(table) => table.contains_key("workspace"),
        // An unparsable Cargo.toml is not ours to judge; cargo will complain when it matters.
        Err(_) => text
            .lines()
            .any(|l| l.trim_start().starts_with("[workspace")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn skips_what_it_must() {
        let root = crate::manifest::tests::temp_tree("discover");
        for rel in [
            "sdks/python/container/sdkimage.toml",
            "sdks/go/container/sdkimage.toml",
            "sdkimage.toml",
            ".hidden/sdkimage.toml",
            ".git/sdkimage.toml",
            "target/sdkimage.toml",
            "web/node_modules/x/sdkimage.toml",
            "ignored/sdkimage.toml",
            "build/out/sdkimage.toml",
            "tests/fixture/sdkimage.toml",
            "tests/fixture/sub/sdkimage.toml",
            "crates/member/sdkimage.toml",
            "vendor/beam/sdks/java/container/sdkimage.toml",
        ] {
            touch(&root, rel, "");
        }
        // A repository of its own without cargo: skipped like a nested Cargo workspace.
        touch(&root, "vendor/beam/sdkimage-workspace.toml", "");
        touch(&root, ".gitignore", "/ignored\nbuild/\n");
        touch(
            &root,
            "tests/fixture/Cargo.toml",
            "[workspace]\nmembers = []\n",
        );
        touch(
            &root,
            "crates/member/Cargo.toml",
            "[package]\nname = \"member\"\n",
        );
        let found: Vec<String> = find_manifests(&root)
            .iter()
            .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
            .collect();
        assert_eq!(
            found,
            [
                "crates/member/sdkimage.toml",
                "sdkimage.toml",
                "sdks/go/container/sdkimage.toml",
                "sdks/python/container/sdkimage.toml"
            ]
        );
    }

    /// The walk runs on several threads, so the order in which it meets manifests varies from
    /// run to run; the result must not.
    #[test]
    fn same_sorted_result_every_time() {
        let root = crate::manifest::tests::temp_tree("discover-order");
        let mut want = Vec::new();
        for a in 0..12 {
            for b in 0..6 {
                let rel = format!("g{a:02}/s{b}/x/sdkimage.toml");
                touch(&root, &rel, "");
                touch(&root, &format!("g{a:02}/s{b}/x/other.txt"), "");
                want.push(rel);
            }
            touch(&root, &format!("g{a:02}/sdkimage.toml"), "");
            want.push(format!("g{a:02}/sdkimage.toml"));
        }
        // Reversed on disk (z before a) as well as in creation order.
        touch(&root, "zz/sdkimage.toml", "");
        touch(&root, "a/sdkimage.toml", "");
        want.extend([
            "zz/sdkimage.toml".to_string(),
            "a/sdkimage.toml".to_string(),
        ]);
        want.sort();
        for _ in 0..20 {
            let found: Vec<String> = find_manifests(&root)
                .iter()
                .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
                .collect();
            assert_eq!(found, want);
        }
    }

    #[test]
    fn nested_workspaces_however_they_are_written_or_ignored() {
        let root = crate::manifest::tests::temp_tree("discover-nested");
        for rel in [
            "ok/sdkimage.toml",
            "ok/deep/er/sdkimage.toml",
            "inline/sdkimage.toml",
            "escaped/a/sdkimage.toml",
            "hidden-toml/x/y/sdkimage.toml",
            "outer/inner/sdkimage.toml",
            "broken/sdkimage.toml",
        ] {
            touch(&root, rel, "");
        }
        touch(&root, "Cargo.toml", "[workspace]\n");
        touch(
            &root,
            "ok/Cargo.toml",
            "[package]\nname = \"ok\"\n[dependencies]\nx = { path = \"../y\" }\n",
        );
        touch(&root, "inline/Cargo.toml", "workspace = { members = [] }\n");
        touch(&root, "escaped/Cargo.toml", "\"\\u0077orkspace\" = {}\n");
        // Its Cargo.toml is gitignored, so the walk never reports it: still a workspace.
        touch(&root, "hidden-toml/.gitignore", "Cargo.toml\n");
        touch(&root, "hidden-toml/Cargo.toml", "[workspace]\n");
        touch(
            &root,
            "outer/Cargo.toml",
            "[workspace]\nmembers = [\"inner\"]\n",
        );
        touch(
            &root,
            "outer/inner/Cargo.toml",
            "[package]\nname = \"inner\"\n",
        );
        touch(&root, "broken/Cargo.toml", "[workspace\n");
        let found: Vec<String> = find_manifests(&root)
            .iter()
            .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
            .collect();
        assert_eq!(found, ["ok/deep/er/sdkimage.toml", "ok/sdkimage.toml"]);
    }
}
