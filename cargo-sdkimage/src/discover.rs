//! The walk that finds `sdkimage.toml` files below the workspace root.
//!
//! Skips `.git`, `target`, `node_modules`, hidden folders, whatever `.gitignore` ignores, and
//! any folder below the root holding a Cargo workspace or an `sdkimage-workspace.toml` of its own
//! (another monorepo, a fixture).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::manifest::MANIFEST_FILE;

const SKIPPED_DIRS: &[&str] = &[".git", "target", "node_modules"];
const CARGO_MANIFEST: &str = "Cargo.toml";

/// Every manifest below `root`, sorted by path.
///
/// A parallel walk of our own (one thread per core, at most 8), written for this one question
/// rather than for every file: each folder is read once (`getdents`, no `stat` of its entries:
/// the entry's type comes with the listing), and only folders and the few files whose names
/// matter (`sdkimage.toml`, `Cargo.toml`, `sdkimage-workspace.toml`) are matched against the
/// `.gitignore` rules; whether `README.md` is ignored cannot change the answer. A folder's
/// `.gitignore` (and `.git/info/exclude` where a `.git` is listed) is read only when its listing
/// names one, never probed for. The `ignore` crate's walker did the same job with a path join,
/// an ignore match and a probe per entry, which cost more than the listing itself on a
/// 200,000-file tree.
///
/// Nested workspaces are recognised from the listing of their own folder (a `Cargo.toml` that
/// declares `[workspace]`, gitignored or not, or an `sdkimage-workspace.toml`): such a folder is
/// neither searched nor entered. Since the order in which threads meet manifests varies, the
/// result is sorted.
pub fn find_manifests(root: &Path) -> Vec<PathBuf> {
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(8);
    let walk = Walk {
        queue: Mutex::new(Queue {
            dirs: vec![Folder {
                path: root.to_path_buf(),
                depth: 0,
                rules: None,
            }],
            busy: 0,
        }),
        ready: Condvar::new(),
        found: Mutex::new(Vec::new()),
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(|| walk.work());
        }
        walk.work();
    });
    let mut found = walk.found.into_inner().unwrap_or_else(|e| e.into_inner());
    found.sort();
    found
}

/// One folder waiting to be read, with the ignore rules that apply in it.
struct Folder {
    path: PathBuf,
    depth: usize,
    rules: Option<Arc<Rules>>,
}

/// The `.gitignore` rules of one folder and those of the folders above it (up to the root):
/// the nearest folder's match decides, as in git; `.git/info/exclude` rules come last.
struct Rules {
    gitignore: Gitignore,
    exclude: bool,
    parent: Option<Arc<Rules>>,
}

impl Rules {
    fn ignored(rules: &Option<Arc<Rules>>, path: &Path, is_dir: bool) -> bool {
        let mut excludes = Vec::new();
        let mut next = rules.as_deref();
        while let Some(r) = next {
            if r.exclude {
                excludes.push(&r.gitignore);
            } else {
                match r.gitignore.matched(path, is_dir) {
                    Match::Ignore(_) => return true,
                    Match::Whitelist(_) => return false,
                    Match::None => {}
                }
            }
            next = r.parent.as_deref();
        }
        excludes
            .iter()
            .find_map(|gi| match gi.matched(path, is_dir) {
                Match::Ignore(_) => Some(true),
                Match::Whitelist(_) => Some(false),
                Match::None => None,
            })
            .unwrap_or(false)
    }

    /// `rules` with the ignore file at `file` (rooted at `dir`) added on top, when it holds
    /// any rule. An unreadable or malformed file adds what it can, as git does.
    fn with(
        rules: Option<Arc<Rules>>,
        dir: &Path,
        file: &Path,
        exclude: bool,
    ) -> Option<Arc<Rules>> {
        let mut builder = GitignoreBuilder::new(dir);
        let _ = builder.add(file);
        match builder.build() {
            Ok(gitignore) if !gitignore.is_empty() => Some(Arc::new(Rules {
                gitignore,
                exclude,
                parent: rules,
            })),
            _ => rules,
        }
    }
}

struct Queue {
    dirs: Vec<Folder>,
    /// Folders taken from the queue and not yet finished: the walk is over when the queue is
    /// empty and none is busy.
    busy: usize,
}

struct Walk {
    queue: Mutex<Queue>,
    ready: Condvar,
    found: Mutex<Vec<PathBuf>>,
}

impl Walk {
    fn work(&self) {
        let mut found = Vec::new();
        while let Some(folder) = self.next() {
            let subfolders = read_folder(folder, &mut found);
            let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            queue.busy -= 1;
            let woken = subfolders.len();
            queue.dirs.extend(subfolders);
            let done = queue.dirs.is_empty() && queue.busy == 0;
            drop(queue);
            if done || woken > 1 {
                self.ready.notify_all();
            } else if woken == 1 {
                self.ready.notify_one();
            }
        }
        self.found
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(found);
    }

    /// The next folder to read, waiting while other threads may still queue some; `None` when
    /// the walk is over.
    fn next(&self) -> Option<Folder> {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(folder) = queue.dirs.pop() {
                queue.busy += 1;
                return Some(folder);
            }
            if queue.busy == 0 {
                return None;
            }
            queue = self.ready.wait(queue).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Read one folder: its manifest (when not ignored) goes to `found`, and the folders to walk
/// next are returned. A folder that cannot be read is passed over: what cannot be read holds
/// no manifest we could load.
fn read_folder(folder: Folder, found: &mut Vec<PathBuf>) -> Vec<Folder> {
    let Ok(listing) = std::fs::read_dir(&folder.path) else {
        return Vec::new();
    };
    let mut dirs = Vec::new();
    let (mut manifest, mut gitignore, mut git) = (false, false, false);
    let (mut cargo, mut standalone) = (false, false);
    for entry in listing.flatten() {
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        let name = entry.file_name();
        let bytes = name.as_encoded_bytes();
        if bytes.first() == Some(&b'.') {
            match bytes {
                b".gitignore" => gitignore = true,
                b".git" => git = true,
                _ => {}
            }
            continue;
        }
        if file_type.is_dir() {
            if !SKIPPED_DIRS.iter().any(|d| d.as_bytes() == bytes) {
                dirs.push(name);
            }
        } else if bytes == MANIFEST_FILE.as_bytes() {
            manifest = true;
        } else if bytes == CARGO_MANIFEST.as_bytes()
            && (file_type.is_file() || file_type.is_symlink())
        {
            cargo = true;
        } else if bytes == crate::workspace::standalone::WORKSPACE_FILE.as_bytes() {
            standalone = true;
        }
    }
    // A folder below the root that is a workspace of its own (another monorepo, a fixture).
    if folder.depth > 0 && (standalone || (cargo && declares_workspace(&folder.path))) {
        return Vec::new();
    }
    let mut rules = folder.rules;
    if git {
        let exclude = folder.path.join(".git/info/exclude");
        if exclude.is_file() {
            rules = Rules::with(rules, &folder.path, &exclude, true);
        }
    }
    if gitignore {
        rules = Rules::with(rules, &folder.path, &folder.path.join(".gitignore"), false);
    }
    if manifest {
        let path = folder.path.join(MANIFEST_FILE);
        if !Rules::ignored(&rules, &path, false) {
            found.push(path);
        }
    }
    dirs.into_iter()
        .filter_map(|name| {
            let path = folder.path.join(name);
            (!Rules::ignored(&rules, &path, true)).then(|| Folder {
                path,
                depth: folder.depth + 1,
                rules: rules.clone(),
            })
        })
        .collect()
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
        let dir = likely_root(manifest_path)?;
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

/// The folder of `manifest_path` (or the current folder), canonical, when it is a workspace
/// root itself, which it nearly always is: what work started before `cargo metadata` answers
/// may assume, and check against the real root afterwards.
pub fn likely_root(manifest_path: Option<&Path>) -> Option<PathBuf> {
    let dir = match manifest_path {
        Some(path) => path.parent()?.to_path_buf(),
        None => std::env::current_dir().ok()?,
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".").canonicalize().ok()?
    } else {
        dir.canonicalize().ok()?
    };
    is_nested_workspace(&dir).then_some(dir)
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

    use crate::manifest::tests::write_under as touch;

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

    /// The `ignore` crate's walker (what the walk used before, serial here) as the reference
    /// for the `.gitignore` rules: nested files, negations, folder-only and anchored patterns,
    /// `.git/info/exclude`, and hidden folders.
    #[test]
    fn ignore_rules_as_the_ignore_crate_reads_them() {
        let root = crate::manifest::tests::temp_tree("discover-rules");
        let mut all = Vec::new();
        for dir in [
            "",
            "a",
            "a/b",
            "a/b/c",
            "logs",
            "logs/keep",
            "x/logs",
            "y",
            "y/z",
            "gen",
            "gen/out",
            "anch",
            "sub/anch",
            "w",
            "w/v",
            "ex",
            ".hid",
            "n",
            "cfg",
            "w/cfg",
        ] {
            let rel = if dir.is_empty() {
                MANIFEST_FILE.to_string()
            } else {
                format!("{dir}/{MANIFEST_FILE}")
            };
            touch(&root, &rel, "");
            all.push(rel);
        }
        touch(
            &root,
            ".gitignore",
            "logs/\n/anch\n*.tmp\ny/*\n!y/z\nn\ncfg\n",
        );
        touch(&root, "logs/.gitignore", "!keep\n");
        touch(&root, "a/.gitignore", "b/c\n");
        // A nearer folder's negation wins over a farther folder's pattern.
        touch(&root, "w/.gitignore", "/v/\n!cfg\n");
        touch(&root, "gen/.gitignore", "*\n!out/\n!sdkimage.toml\n");
        touch(&root, ".git/info/exclude", "ex\n");
        // A file that is no folder, named like one a pattern names.
        touch(&root, "n2/n", "");
        let mut reference: Vec<PathBuf> = ignore::WalkBuilder::new(&root)
            .hidden(true)
            .git_ignore(true)
            .git_exclude(true)
            .git_global(false)
            .ignore(false)
            .parents(false)
            .require_git(false)
            .follow_links(false)
            .build()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name() == MANIFEST_FILE)
            .map(|e| e.into_path())
            .collect();
        reference.sort();
        let found = find_manifests(&root);
        assert_eq!(found, reference);
        // Not vacuous: some were ignored and some kept.
        assert!(found.len() > 5 && found.len() < all.len(), "{found:?}");
    }

    #[cfg(unix)]
    #[test]
    fn symlinked_folders_are_not_followed_and_unreadable_ones_passed_over() {
        let root = crate::manifest::tests::temp_tree("discover-links");
        touch(&root, "real/sdkimage.toml", "");
        std::os::unix::fs::symlink(root.join("real"), root.join("link")).unwrap();
        touch(&root, "locked/sdkimage.toml", "");
        let locked = root.join("locked");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        let found = find_manifests(&root);
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
        let found: Vec<String> = found
            .iter()
            .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
            .collect();
        // root reads every folder: the locked one is then found like any other.
        let running_as_root = std::fs::read_dir(&locked).is_ok();
        if running_as_root {
            assert_eq!(found, ["locked/sdkimage.toml", "real/sdkimage.toml"]);
        } else {
            assert_eq!(found, ["real/sdkimage.toml"]);
        }
    }
}
