use super::*;
use crate::context::{ContextCopy, ContextSpec, collect};
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, text).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
}

fn context_of(root: &Path, dockerfile: &Path, copies: Vec<ContextCopy>) -> Context {
    collect(&ContextSpec {
        root: root.to_path_buf(),
        dockerfile: dockerfile.to_path_buf(),
        copies,
        skip: vec![],
        workspace: root.parent().unwrap().to_path_buf(),
    })
    .unwrap()
}

fn request(dir: &str, include: &[&str], follow: &[&str]) -> SyncRequest {
    let list = |v: &[&str]| (!v.is_empty()).then(|| v.iter().map(|s| s.to_string()).collect());
    SyncRequest {
        dir: dir.to_string(),
        include: list(include),
        follow: list(follow),
    }
}

fn paths(ctx: &Context, r: &SyncRequest) -> Vec<String> {
    ctx.sync_entries(r)
        .expect("served")
        .into_iter()
        .map(|(e, _)| e.path.clone())
        .collect()
}

#[test]
fn entries_come_in_fsutils_order_parents_first() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("ctx");
    for rel in ["a/b", "a.b", "a-b", "a/c/d", "Dockerfile"] {
        write(&root, rel, rel);
    }
    let ctx = context_of(&root, &root.join("Dockerfile"), vec![]);
    // The tar's order is by the whole path ("a.b" before "a/b"); fsutil's receiver wants a
    // folder's children right after it.
    assert_eq!(
        paths(&ctx, &request(CONTEXT_DIR, &[], &[])),
        ["Dockerfile", "a", "a/b", "a/c", "a/c/d", "a-b", "a.b"]
    );
    assert_eq!(compare_path("a/b", "a.b"), Ordering::Less);
    assert_eq!(compare_path("a.b", "a"), Ordering::Greater);
    assert!(ctx.sync_entries(&request("elsewhere", &[], &[])).is_none());
}

#[test]
fn follow_paths_send_only_what_a_copy_names_and_the_links_on_the_way() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("ctx");
    write(&root, "Dockerfile", "FROM scratch\n");
    write(&root, "small.txt", "small\n");
    write(&root, "data/big/1.bin", "1");
    write(&root, "data/big/2.bin", "2");
    write(&root, "real/target.txt", "t");
    write(&root, "real/other.txt", "o");
    write(&root, "notes.md", "n");
    symlink("real/target.txt", root.join("lnk")).unwrap();
    symlink("../../etc", root.join("up")).unwrap();
    let ctx = context_of(&root, &root.join("Dockerfile"), vec![]);
    let r = |follow: &[&str]| paths(&ctx, &request(CONTEXT_DIR, &[], follow));
    assert_eq!(r(&["small.txt"]), ["small.txt"]);
    // A folder matched in full is sent whole; one on the way to a pattern, alone.
    assert_eq!(
        r(&["data"]),
        ["data", "data/big", "data/big/1.bin", "data/big/2.bin"]
    );
    assert_eq!(
        r(&["data/big/2.bin"]),
        ["data", "data/big", "data/big/2.bin"]
    );
    // The link and what it points at.
    assert_eq!(r(&["lnk"]), ["lnk", "real", "real/target.txt"]);
    // Wildcards match names with Go's rules.
    assert_eq!(r(&["*.txt"]), ["small.txt"]);
    assert_eq!(r(&["*.md", "small.txt"]), ["notes.md", "small.txt"]);
    // A link leading out of the tree is resolved inside it: nothing outside is ever named.
    assert_eq!(r(&["up"]), ["up"]);
    // `.` is no filter at all.
    assert_eq!(
        r(&["."]).len(),
        paths(&ctx, &request(CONTEXT_DIR, &[], &[])).len()
    );
    // Include patterns as fsutil reads them.
    assert_eq!(
        paths(&ctx, &request(CONTEXT_DIR, &["real/*.txt"], &[])),
        ["real", "real/other.txt", "real/target.txt"]
    );
    assert!(r(&["missing"]).is_empty());
}

#[test]
fn folders_walked_for_an_exception_are_sent_before_their_files() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("ctx");
    write(&root, "Dockerfile", "FROM scratch\n");
    write(&root, ".dockerignore", "build\n!build/out/app.bin\n");
    write(&root, "build/out/app.bin", "app");
    write(&root, "build/tmp", "tmp");
    let ctx = context_of(&root, &root.join("Dockerfile"), vec![]);
    // The tar has no entry for `build` nor `build/out`.
    assert!(!ctx.entries.iter().any(|e| e.path == "build"));
    let sent = ctx.sync_entries(&request(CONTEXT_DIR, &[], &[])).unwrap();
    let listing: Vec<(String, u32)> = sent.iter().map(|(e, _)| (e.path.clone(), e.mode)).collect();
    assert_eq!(
        listing,
        [
            (".dockerignore".to_string(), 0o644),
            ("Dockerfile".to_string(), 0o644),
            ("build".to_string(), 0o755),
            ("build/out".to_string(), 0o755),
            ("build/out/app.bin".to_string(), 0o644),
        ]
    );
}

#[test]
fn an_outside_dockerfile_travels_in_its_own_folder_and_the_context_is_left_as_it_is() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("ctx");
    write(&root, ".dockerignore", "secret\n");
    write(&root, "app.txt", "app");
    write(
        &t.path().join("docker"),
        "build.Dockerfile",
        "FROM scratch\n",
    );
    write(&t.path().join("art"), "tool", "tool");
    let copies = vec![ContextCopy {
        from: t.path().join("art/tool"),
        to: "bin/tool".into(),
    }];
    let ctx = context_of(&root, &t.path().join("docker/build.Dockerfile"), copies);
    // The tar carries the Dockerfile and a .dockerignore naming it.
    assert_eq!(ctx.dockerfile_in_context, OUTSIDE_DOCKERFILE_NAME);
    let sent = ctx.sync_entries(&request(CONTEXT_DIR, &[], &[])).unwrap();
    let names: Vec<&str> = sent.iter().map(|(e, _)| e.path.as_str()).collect();
    assert_eq!(names, [".dockerignore", "app.txt", "bin", "bin/tool"]);
    let ignore = &sent[0].0;
    assert_eq!(ignore.data.as_deref(), Some(&b"secret\n"[..]));
    assert_eq!(ignore.size, 7);
    // The Dockerfile folder holds the Dockerfile alone, under its own name, whatever the
    // frontend asks for.
    assert_eq!(ctx.dockerfile_name(), "build.Dockerfile");
    let follow = ["build.Dockerfile", "build.Dockerfile.dockerignore"];
    let sent = ctx
        .sync_entries(&request(DOCKERFILE_DIR, &[], &follow))
        .unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0.path, "build.Dockerfile");
    // Its stamp is the one the tar's entry has.
    assert_eq!(sent[0].1, OUTSIDE_DOCKERFILE_NAME);
}

#[test]
fn modes_are_gos_file_modes() {
    assert_eq!(go_file_mode(&EntryKind::File, 0o644), 0o644);
    assert_eq!(go_file_mode(&EntryKind::Dir, 0o755), (1 << 31) | 0o755);
    let link = EntryKind::Symlink { target: "x".into() };
    assert_eq!(go_file_mode(&link, 0o777), (1 << 27) | 0o777);
    assert_eq!(
        go_file_mode(&EntryKind::File, 0o6755),
        (1 << 23) | (1 << 22) | 0o755
    );
    assert_eq!(
        go_file_mode(&EntryKind::Dir, 0o1777),
        (1 << 31) | (1 << 20) | 0o777
    );
}

#[test]
fn what_a_request_asks_beyond_the_collected_paths() {
    let only = [
        "small.txt".to_string(),
        "conf/*.cfg".to_string(),
        "tree".to_string(),
    ];
    assert_eq!(
        request(CONTEXT_DIR, &[], &[]).outside(&only),
        Some(vec![".".to_string()])
    );
    assert_eq!(
        request(
            CONTEXT_DIR,
            &[],
            &["small.txt", "./conf/*.cfg", "tree/x/y", "treehouse"]
        )
        .outside(&only),
        Some(vec!["treehouse".to_string()])
    );
    assert_eq!(
        request(CONTEXT_DIR, &["tree/a"], &["small.txt"]).outside(&only),
        None
    );
    assert_eq!(
        request(CONTEXT_DIR, &["conf/a.cfg"], &[]).outside(&only),
        Some(vec!["conf/a.cfg".to_string()])
    );
}
