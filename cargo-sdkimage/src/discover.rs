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
/// Nested workspaces are recognised from the `Cargo.toml` files the walk comes across rather
/// than by probing every folder for one: a probe is a failed `open` for nearly every folder,
/// which made the walk about 15% slower than `find` on a large tree. A manifest below a
/// nested workspace is dropped at the end; folders below a workspace already known are not
/// entered at all. A nested workspace whose `Cargo.toml` the walk does not report (ignored by
/// a `.gitignore` pattern) is checked when its manifests are, so the result is the same.
pub fn find_manifests(root: &Path) -> Vec<PathBuf> {
    let found = Mutex::new(Vec::new());
    let nested = Arc::new(Nested::default());
    let pruned = nested.clone();
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
        .filter_entry(move |entry| {
            if entry.depth() == 0 || !entry.file_type().is_some_and(|t| t.is_dir()) {
                return true;
            }
            let name = entry.file_name().to_str().unwrap_or("");
            !SKIPPED_DIRS.contains(&name) && !pruned.contains(entry.path())
        })
        .build_parallel()
        .run(|| {
            let (found, nested) = (&found, &nested);
            Box::new(move |entry| {
                let Ok(entry) = entry else {
                    return WalkState::Continue;
                };
                let Some(file_type) = entry.file_type() else {
                    return WalkState::Continue;
                };
                let name = entry.file_name();
                // Whatever is named like a manifest is loaded, so a symlink is followed and a
                // FIFO or device is refused by name rather than silently passed over.
                if name == MANIFEST_FILE && !file_type.is_dir() {
                    found
                        .lock()
                        .expect("walk collector")
                        .push(entry.into_path());
                } else if name == CARGO_MANIFEST
                    // depth 1 is the root's own Cargo.toml.
                    && entry.depth() >= 2
                    && (file_type.is_file() || file_type.is_symlink())
                    && let Some(dir) = entry.path().parent()
                    && is_nested_workspace(dir)
                {
                    nested.insert(dir.to_path_buf());
                } else if name == crate::workspace::standalone::WORKSPACE_FILE
                    && entry.depth() >= 2
                    && let Some(dir) = entry.path().parent()
                {
                    nested.insert(dir.to_path_buf());
                }
                WalkState::Continue
            })
        });
    let mut found = found.into_inner().expect("walk collector");
    let nested = nested.dirs.read().expect("nested workspaces");
    found.retain(|manifest| !below_nested_workspace(root, manifest, &nested));
    found.sort();
    found
}

/// Roots of the nested workspaces found so far, shared by the walker threads.
#[derive(Default)]
struct Nested {
    any: AtomicBool,
    dirs: RwLock<Vec<PathBuf>>,
}

impl Nested {
    fn insert(&self, dir: PathBuf) {
        self.dirs.write().expect("nested workspaces").push(dir);
        self.any.store(true, Ordering::Release);
    }

    fn contains(&self, dir: &Path) -> bool {
        self.any.load(Ordering::Acquire)
            && self
                .dirs
                .read()
                .expect("nested workspaces")
                .iter()
                .any(|n| dir.starts_with(n))
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
    if dir
        .join(crate::workspace::standalone::WORKSPACE_FILE)
        .exists()
    {
        return true;
    }
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
