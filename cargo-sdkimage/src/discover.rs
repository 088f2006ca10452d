//! The walk that finds `sdkimage.toml` files below the workspace root.
//!
//! Skips `.git`, `target`, `node_modules`, hidden folders, whatever `.gitignore` ignores, and
//! any folder below the root holding a Cargo workspace of its own (another monorepo, a fixture).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ignore::{WalkBuilder, WalkState};

use crate::manifest::MANIFEST_FILE;

const SKIPPED_DIRS: &[&str] = &[".git", "target", "node_modules"];

/// Every manifest below `root`, sorted by path.
pub fn find_manifests(root: &Path) -> Vec<PathBuf> {
    let found = Mutex::new(Vec::new());
    let root_owned = root.to_path_buf();
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
            if !entry.file_type().is_some_and(|t| t.is_dir()) {
                return true;
            }
            if entry.depth() == 0 {
                return true;
            }
            let name = entry.file_name().to_str().unwrap_or("");
            !(SKIPPED_DIRS.contains(&name)
                || entry.path() != root_owned && is_nested_workspace(entry.path()))
        })
        .build_parallel()
        .run(|| {
            let found = &found;
            Box::new(move |entry| {
                if let Ok(entry) = entry
                    && entry.file_name() == MANIFEST_FILE
                    && entry.file_type().is_some_and(|t| t.is_file())
                {
                    found
                        .lock()
                        .expect("walk collector")
                        .push(entry.into_path());
                }
                WalkState::Continue
            })
        });
    let mut found = found.into_inner().expect("walk collector");
    found.sort();
    found
}

/// A folder whose `Cargo.toml` declares `[workspace]`.
fn is_nested_workspace(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
        return false;
    };
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
        ] {
            touch(&root, rel, "");
        }
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
}
