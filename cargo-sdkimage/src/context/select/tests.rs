use crate::context::{CONTEXT_DIR, Context, ContextSpec, SyncRequest, collect, collect_only};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, text).unwrap();
}

fn spec(root: &Path) -> ContextSpec {
    ContextSpec {
        root: root.to_path_buf(),
        dockerfile: root.join("Dockerfile"),
        copies: vec![],
        skip: vec![],
        workspace: root.to_path_buf(),
    }
}

fn sent(ctx: &Context, follow: &[&str]) -> Vec<(String, String)> {
    let request = SyncRequest {
        dir: CONTEXT_DIR.to_string(),
        include: None,
        follow: Some(follow.iter().map(|s| s.to_string()).collect()),
    };
    ctx.sync_entries(&request)
        .unwrap()
        .into_iter()
        .map(|(e, _)| (e.path.to_string(), format!("{:?} {:o}", e.kind, e.mode)))
        .collect()
}

/// For any follow-paths, the file sync sends the same entries from the selected walk as from
/// the whole one: wildcards, parents, folders in full, symlinks on the way (and their targets),
/// `.dockerignore` and its exceptions.
#[test]
fn the_selected_walk_serves_what_the_whole_walk_would() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "Dockerfile", "FROM scratch\n");
    write(
        root,
        ".dockerignore",
        "data/ignored*\n!data/ignored-keep\nskipped\n!skipped/keep\n",
    );
    write(root, "small.txt", "s");
    for f in [
        "data/a.bin",
        "data/b.txt",
        "data/sub/c.txt",
        "data/sub/deep/d.txt",
    ] {
        write(root, f, f);
    }
    write(root, "data/ignored1", "i");
    write(root, "data/ignored-keep", "k");
    write(root, "skipped/x", "x");
    write(root, "skipped/keep", "k");
    write(root, "other/x", "x");
    write(root, "lib/y", "y");
    symlink("data/sub", root.join("link")).unwrap();
    symlink("../other/x", root.join("data/linkfile")).unwrap();
    symlink("/lib", root.join("abs")).unwrap();
    let whole = collect(&spec(root)).unwrap();
    let cases: &[&[&str]] = &[
        &["small.txt"],
        &["data/*.txt"],
        &["data/[ab].*", "data/ignored*"],
        &["link/c.txt"],
        &["link"],
        &["data"],
        &["data/linkfile"],
        &["abs/y"],
        &["d*/sub"],
        &["skipped"],
        &["skipped/keep"],
        &["nope", "data/sub/deep"],
    ];
    for follow in cases {
        let paths: Vec<String> = follow.iter().map(|s| s.to_string()).collect();
        let selected = collect_only(&spec(root), Some(&paths)).unwrap();
        assert_eq!(
            sent(&selected, follow),
            sent(&whole, follow),
            "follow {follow:?}"
        );
        assert!(selected.entries.len() < whole.entries.len(), "{follow:?}");
    }
    // Only the file, its build files and nothing of `data/`.
    let selected = collect_only(&spec(root), Some(&["small.txt".to_string()])).unwrap();
    let names: Vec<&str> = selected.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(names, [".dockerignore", "Dockerfile", "small.txt"]);
}
