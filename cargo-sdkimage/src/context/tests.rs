use super::tarball::CHUNK_SIZE;
use super::*;
use std::io::Read;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

/// A fresh folder under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!(
            "sdkimage-context-{}-{n}-{name}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// Create the missing folders of `rel` with mode 755, whatever the umask.
    fn mkdirs(&self, rel: &str) {
        let mut path = self.0.clone();
        for part in rel.split('/') {
            path.push(part);
            if fs::create_dir(&path).is_ok() {
                fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
            }
        }
    }

    fn dir(&self, rel: &str, mode: u32) {
        self.mkdirs(rel);
        fs::set_permissions(self.0.join(rel), fs::Permissions::from_mode(mode)).unwrap();
    }

    fn file(&self, rel: &str, contents: &str, mode: u32) {
        let path = self.0.join(rel);
        if let Some((parent, _)) = rel.rsplit_once('/') {
            self.mkdirs(parent);
        }
        fs::write(&path, contents).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn link(&self, rel: &str, target: &str) {
        symlink(target, self.0.join(rel)).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn spec(root: &Path, dockerfile: &str) -> ContextSpec {
    ContextSpec {
        root: root.to_path_buf(),
        dockerfile: root.join(dockerfile),
        copies: Vec::new(),
        skip: Vec::new(),
        workspace: root.to_path_buf(),
    }
}

/// `path kind mode` lines, `kind` being d, f or `l->target`.
fn listing(ctx: &Context) -> Vec<String> {
    ctx.entries
        .iter()
        .map(|e| {
            let kind = match &e.kind {
                EntryKind::Dir => "d".to_string(),
                EntryKind::File => "f".to_string(),
                EntryKind::Symlink { target } => format!("l->{target}"),
            };
            format!("{} {kind} {:o}", e.path, e.mode)
        })
        .collect()
}

fn sorted(lines: &[&str]) -> Vec<String> {
    let mut lines: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    lines.sort();
    lines
}

/// The tree of the first hand experiment against the real CLI.
fn tricky_tree() -> TempDir {
    let t = TempDir::new("tricky");
    t.file("Dockerfile", "FROM scratch\nCOPY . /ctx/\n", 0o644);
    t.file(
        ".dockerignore",
        "# comment\nbuild\n!build/out/app.bin\nnode_modules/\n*/f\n!d\ndocs\n!docs/README.md\n\
         **/*.log\nsrc/gen\n!src/gen/keep*\nDockerfile\n.dockerignore\n",
        0o644,
    );
    for (rel, mode) in [
        ("a-b", 0o755),
        ("keep/sub", 0o755),
        ("build/out", 0o755),
        ("build/tmp", 0o755),
        ("docs", 0o755),
        ("node_modules/pkg", 0o755),
        ("d", 0o755),
        ("src/gen", 0o755),
        ("logs", 0o755),
        ("e", 0o700),
    ] {
        t.dir(rel, mode);
    }
    for rel in [
        "a.txt",
        "a-b/x",
        "keep/sub/keep.txt",
        "keep/other.txt",
        "build/out/app.bin",
        "build/out/app.log",
        "build/tmp/t",
        "docs/README.md",
        "docs/x.md",
        "node_modules/pkg/index.js",
        "d/f",
        "d/g",
        "src/main.rs",
        "src/gen/g.rs",
        "src/gen/keep1.rs",
        "logs/a.log",
        "top.log",
    ] {
        t.file(rel, rel, 0o644);
    }
    t.link("link", "a.txt");
    t.link("dangling", "../nowhere");
    t.file("exe.sh", "x", 0o755);
    t.file("private", "p", 0o600);
    t
}

/// Observed by hand: `DOCKER_BUILDKIT=0 docker build ctx` (docker CLI 28.2.2) against a fake
/// engine socket that saved the body of `POST /build`, listed with `tar -tvf`. Note the
/// excluded directories walked for exceptions (`build`, `build/out`, `docs`, `src/gen`) have
/// no entry of their own, and `d/f` is excluded although `!d` comes last: moby's walker does
/// not remember the skipped exception at `d`.
#[test]
fn matches_what_the_docker_cli_sends() {
    let t = tricky_tree();
    let ctx = collect(&spec(t.path(), "Dockerfile")).unwrap();
    assert_eq!(ctx.dockerfile_in_context, "Dockerfile");
    assert_eq!(
        listing(&ctx),
        sorted(&[
            ".dockerignore f 644",
            "Dockerfile f 644",
            "a-b d 755",
            "a-b/x f 644",
            "a.txt f 644",
            "build/out/app.bin f 644",
            "d d 755",
            "d/g f 644",
            "dangling l->../nowhere 777",
            "docs/README.md f 644",
            "e d 700",
            "exe.sh f 755",
            "keep d 755",
            "keep/other.txt f 644",
            "keep/sub d 755",
            "keep/sub/keep.txt f 644",
            "link l->a.txt 777",
            "logs d 755",
            "private f 600",
            "src d 755",
            "src/gen/keep1.rs f 644",
            "src/main.rs f 644",
        ])
    );
    // Byte order already puts every parent before its children.
    let paths: Vec<&str> = ctx.entries.iter().map(|e| e.path.as_str()).collect();
    let mut expected = paths.clone();
    expected.sort();
    assert_eq!(paths, expected);
}

/// Observed by hand with `.dockerignore` = `sub` + `**/b`: `-f sub/Dockerfile` sends the
/// Dockerfile without a `sub/` entry. With `-f x/y/b/Dockerfile` the CLI's own check misses
/// the exclusion (it looks at one parent only) and sends no Dockerfile at all, so the daemon
/// fails; we send it.
#[test]
fn excluded_dockerfile_is_sent() {
    let t = TempDir::new("subdockerfile");
    t.dir("sub/inner", 0o755);
    t.dir("x/y/b", 0o755);
    t.file("sub/Dockerfile", "FROM scratch\n", 0o644);
    t.file("sub/inner/i", "i", 0o644);
    t.file("sub/s", "s", 0o644);
    t.file("other", "o", 0o644);
    t.file("x/y/b/Dockerfile", "FROM scratch\n", 0o644);
    t.file("x/y/b/z", "z", 0o644);
    t.file(".dockerignore", "sub\n**/b\n", 0o644);

    let ctx = collect(&spec(t.path(), "sub/Dockerfile")).unwrap();
    assert_eq!(ctx.dockerfile_in_context, "sub/Dockerfile");
    assert_eq!(
        listing(&ctx),
        sorted(&[
            ".dockerignore f 644",
            "other f 644",
            "sub/Dockerfile f 644",
            "x d 755",
            "x/y d 755"
        ])
    );

    let ctx = collect(&spec(t.path(), "x/y/b/Dockerfile")).unwrap();
    assert_eq!(ctx.dockerfile_in_context, "x/y/b/Dockerfile");
    assert_eq!(
        listing(&ctx),
        sorted(&[
            ".dockerignore f 644",
            "other f 644",
            "x d 755",
            "x/y d 755",
            "x/y/b/Dockerfile f 644"
        ])
    );
}

/// Observed by hand: with `-f ../df/Dockerfile` the CLI adds the Dockerfile as
/// `.dockerfile.<random>` (mode 600) and appends that name to the `.dockerignore` it sends,
/// creating one (`.dockerignore\n<name>\n`, mode 600) when there is none.
#[test]
fn dockerfile_outside_the_context() {
    let t = TempDir::new("outside");
    t.file("ctx/a", "a", 0o644);
    t.file("df/Dockerfile", "FROM scratch\n", 0o644);
    let spec = ContextSpec {
        root: t.path().join("ctx"),
        dockerfile: t.path().join("df/Dockerfile"),
        copies: Vec::new(),
        skip: Vec::new(),
        workspace: t.path().to_path_buf(),
    };
    let ctx = collect(&spec).unwrap();
    assert_eq!(ctx.dockerfile_in_context, OUTSIDE_DOCKERFILE_NAME);
    assert_eq!(
        listing(&ctx),
        sorted(&[
            ".dockerignore f 600",
            ".sdkimage.Dockerfile f 600",
            "a f 644"
        ])
    );
    assert_eq!(
        ctx.entries[0].data.as_deref(),
        Some(&b".dockerignore\n.sdkimage.Dockerfile\n"[..])
    );
    assert_eq!(ctx.entries[0].size, 35);

    t.file("ctx/.dockerignore", "a\n", 0o640);
    let ctx = collect(&spec).unwrap();
    assert_eq!(
        listing(&ctx),
        sorted(&[".dockerignore f 640", ".sdkimage.Dockerfile f 600"])
    );
    assert_eq!(
        ctx.entries[0].data.as_deref(),
        Some(&b"a\n\n.sdkimage.Dockerfile\n"[..])
    );

    let mut tar = Vec::new();
    write_tar(&ctx, &mut tar).unwrap();
    let mut archive = tar::Archive::new(tar.as_slice());
    let mut files = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut body = String::new();
        entry.read_to_string(&mut body).unwrap();
        files.push((entry.path().unwrap().to_str().unwrap().to_string(), body));
    }
    assert_eq!(
        files,
        [
            (
                ".dockerignore".to_string(),
                "a\n\n.sdkimage.Dockerfile\n".to_string()
            ),
            (
                ".sdkimage.Dockerfile".to_string(),
                "FROM scratch\n".to_string()
            ),
        ]
    );
}

#[test]
fn dockerfile_reached_through_a_symlink() {
    let t = TempDir::new("dflink");
    t.file("real/Dockerfile", "FROM scratch\n", 0o644);
    t.link("Dockerfile", "real/Dockerfile");
    let ctx = collect(&spec(t.path(), "Dockerfile")).unwrap();
    // Like the CLI, the symlink is resolved before relating the Dockerfile to the root.
    assert_eq!(ctx.dockerfile_in_context, "real/Dockerfile");
}

fn build_tree(root: &TempDir, reversed: bool, mtime: SystemTime) {
    let long_dir = "d".repeat(60);
    let long = format!("{long_dir}/{}", "f".repeat(80));
    let mut files = vec![
        ("Dockerfile".to_string(), "FROM scratch\n".to_string()),
        ("a/b.txt".to_string(), "hello".to_string()),
        ("a/c/d.bin".to_string(), "x".repeat(70_000)),
        ("z".to_string(), String::new()),
        (long, "long".to_string()),
    ];
    if reversed {
        files.reverse();
    }
    for (rel, contents) in &files {
        root.file(rel, contents, 0o644);
    }
    root.link("a/link", &"../".repeat(40));
    root.dir("a", 0o750);
    for rel in ["Dockerfile", "a/b.txt", "a/c/d.bin", "z", "a/c", "a"] {
        File::open(root.path().join(rel))
            .unwrap()
            .set_modified(mtime)
            .unwrap();
    }
}

#[test]
fn tar_is_deterministic_and_well_formed() {
    let one = TempDir::new("det1");
    let two = TempDir::new("det2");
    build_tree(
        &one,
        false,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000),
    );
    build_tree(&two, true, SystemTime::now());

    let mut tars = Vec::new();
    for t in [&one, &two] {
        let ctx = collect(&spec(t.path(), "Dockerfile")).unwrap();
        let mut out = Vec::new();
        write_tar(&ctx, &mut out).unwrap();
        tars.push(out);
    }
    assert!(tars[0] == tars[1], "equal trees must give identical bytes");
    assert_eq!(tars[0].len() % 512, 0);

    let mut archive = tar::Archive::new(tars[0].as_slice());
    let mut seen = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let header = entry.header().clone();
        // Directories at 0, files and symlinks at their content's mtime.
        let mtime = header.mtime().unwrap();
        match header.entry_type() {
            tar::EntryType::Directory => assert_eq!(mtime, 0),
            _ => assert!((1..1 << 30).contains(&mtime), "{mtime}"),
        }
        assert_eq!(header.uid().unwrap(), 0);
        assert_eq!(header.gid().unwrap(), 0);
        assert_eq!(header.username().unwrap(), Some(""));
        let path = entry.path().unwrap().to_str().unwrap().to_string();
        let mut body = Vec::new();
        entry.read_to_end(&mut body).unwrap();
        let target = entry
            .link_name()
            .unwrap()
            .map(|t| t.to_str().unwrap().to_string());
        seen.push((
            path,
            header.entry_type(),
            header.mode().unwrap(),
            body.len(),
            target,
        ));
    }
    let long = format!("{}/{}", "d".repeat(60), "f".repeat(80));
    let up = "../".repeat(40);
    use tar::EntryType::{Directory, Regular, Symlink};
    assert_eq!(
        seen,
        [
            ("Dockerfile".into(), Regular, 0o644, 13, None),
            ("a/".into(), Directory, 0o750, 0, None),
            ("a/b.txt".into(), Regular, 0o644, 5, None),
            ("a/c/".into(), Directory, 0o755, 0, None),
            ("a/c/d.bin".into(), Regular, 0o644, 70_000, None),
            ("a/link".into(), Symlink, 0o777, 0, Some(up)),
            (format!("{}/", "d".repeat(60)), Directory, 0o755, 0, None),
            (long, Regular, 0o644, 4, None),
            ("z".into(), Regular, 0o644, 0, None),
        ]
    );
}

#[test]
fn copies_overlay_the_context() {
    let t = TempDir::new("copies");
    t.file("ctx/Dockerfile", "FROM scratch\n", 0o644);
    t.file("ctx/.dockerignore", "target\nassets\n", 0o644);
    t.file("ctx/target/old", "old", 0o644);
    t.file("ctx/lib/a.txt", "context a", 0o644);
    t.file("ctx/lib/keep.txt", "keep", 0o644);
    t.file("ctx/lib/gone/x", "x", 0o644);
    t.file("ctx/replaced/inner", "inner", 0o644);
    t.file("art/bin/tool", "#!/bin/sh\n", 0o755);
    t.dir("art/lib", 0o750);
    t.file("art/lib/a.txt", "copied a", 0o600);
    t.file("art/lib/new.txt", "new", 0o644);
    t.file("art/lib/gone", "now a file", 0o644);
    t.file("art/one", "one", 0o644);
    t.file("art/assets/logo", "logo", 0o644);

    let root = t.path().join("ctx");
    let art = t.path().join("art");
    let mut spec = spec(&root, "Dockerfile");
    spec.copies = vec![
        ContextCopy {
            from: art.join("bin/tool"),
            to: "target/release/tool".into(),
        },
        ContextCopy {
            from: art.join("lib"),
            to: "lib/".into(),
        },
        ContextCopy {
            from: art.join("one"),
            to: "./replaced".into(),
        },
        ContextCopy {
            from: art.join("assets"),
            to: ".".into(),
        },
    ];
    let ctx = collect(&spec).unwrap();
    assert_eq!(
        listing(&ctx),
        sorted(&[
            ".dockerignore f 644",
            "Dockerfile f 644",
            "lib d 750",
            "lib/a.txt f 600",
            "lib/gone f 644",
            "lib/keep.txt f 644",
            "lib/new.txt f 644",
            "logo f 644",
            "replaced f 644",
            "target d 755",
            "target/release d 755",
            "target/release/tool f 755",
        ])
    );
    let a = ctx.entries.iter().find(|e| e.path == "lib/a.txt").unwrap();
    assert_eq!(a.source, art.join("lib/a.txt"));

    spec.copies = vec![ContextCopy {
        from: art.join("one"),
        to: "Dockerfile".into(),
    }];
    assert!(matches!(collect(&spec), Err(ContextError::Copy { .. })));
    spec.copies = vec![ContextCopy {
        from: art.join("one"),
        to: "../x".into(),
    }];
    assert!(matches!(collect(&spec), Err(ContextError::Copy { .. })));
}

#[test]
fn special_files() {
    let t = TempDir::new("special");
    t.file("Dockerfile", "FROM scratch\n", 0o644);
    let _listener = std::os::unix::net::UnixListener::bind(t.path().join("sock")).unwrap();
    let ctx = collect(&spec(t.path(), "Dockerfile")).unwrap();
    assert_eq!(
        listing(&ctx),
        ["Dockerfile f 644"],
        "sockets are skipped like the CLI does"
    );

    let status = std::process::Command::new("mkfifo")
        .arg(t.path().join("fifo"))
        .status()
        .unwrap();
    assert!(status.success());
    match collect(&spec(t.path(), "Dockerfile")) {
        Err(ContextError::SpecialFile { path, kind }) => {
            assert_eq!(path, t.path().join("fifo"));
            assert_eq!(kind, "named pipe");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unreadable_file_is_an_error_naming_it() {
    let t = TempDir::new("unreadable");
    t.file("Dockerfile", "FROM scratch\n", 0o644);
    t.file("secret", "s", 0o000);
    if File::open(t.path().join("secret")).is_ok() {
        return; // running as root: permissions are not enforced
    }
    match collect(&spec(t.path(), "Dockerfile")) {
        Err(ContextError::Io { path, .. }) => assert_eq!(path, t.path().join("secret")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_pattern_reports_line() {
    let t = TempDir::new("badpattern");
    t.file("Dockerfile", "FROM scratch\n", 0o644);
    t.file(".dockerignore", "ok\n\n[x-\n", 0o644);
    match collect(&spec(t.path(), "Dockerfile")) {
        Err(e @ ContextError::Pattern { .. }) => {
            assert_eq!(
                e.to_string(),
                ".dockerignore line 3: invalid pattern \"[x-\": syntax error in pattern"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn file_changed_after_collect() {
    let t = TempDir::new("changed");
    t.file("Dockerfile", "FROM scratch\n", 0o644);
    t.file("grows", "abc", 0o644);
    let ctx = collect(&spec(t.path(), "Dockerfile")).unwrap();
    t.file("grows", "abcdef", 0o644);
    let err = write_tar(&ctx, Vec::new()).unwrap_err();
    assert!(
        matches!(err, ContextError::Changed { ref path } if path.ends_with("grows")),
        "{err}"
    );
    t.file("grows", "a", 0o644);
    let err = write_tar(&ctx, Vec::new()).unwrap_err();
    assert!(matches!(err, ContextError::Changed { .. }), "{err}");
}

#[tokio::test]
async fn stream_yields_the_same_bytes_in_bounded_chunks() {
    use futures_util::StreamExt;
    let t = TempDir::new("stream");
    t.file("Dockerfile", "FROM scratch\n", 0o644);
    t.file("big", &"0123456789".repeat(100_000), 0o644);
    let ctx = collect(&spec(t.path(), "Dockerfile")).unwrap();
    let mut expected = Vec::new();
    write_tar(&ctx, &mut expected).unwrap();

    let mut stream = std::pin::pin!(tar_stream(Arc::new(ctx)));
    let mut got = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        assert!(!chunk.is_empty() && chunk.len() <= CHUNK_SIZE);
        got.extend_from_slice(&chunk);
    }
    assert!(got == expected);
}

#[tokio::test]
async fn stream_delivers_errors_then_ends() {
    use futures_util::StreamExt;
    let t = TempDir::new("streamerr");
    t.file("Dockerfile", "FROM scratch\n", 0o644);
    t.file("vanishes", "v", 0o644);
    let ctx = collect(&spec(t.path(), "Dockerfile")).unwrap();
    fs::remove_file(t.path().join("vanishes")).unwrap();

    let items: Vec<_> = tar_stream(Arc::new(ctx)).collect().await;
    let err = items.last().unwrap().as_ref().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert!(err.to_string().contains("vanishes"), "{err}");
    assert!(items[..items.len() - 1].iter().all(Result::is_ok));
}

#[test]
fn a_non_utf8_name_is_an_error_only_when_it_would_be_sent() {
    use std::os::unix::ffi::OsStrExt;
    let root = TempDir::new("non-utf8");
    root.file("Dockerfile", "FROM scratch\n", 0o644);
    let bad = root
        .path()
        .join(std::ffi::OsStr::from_bytes(b"bad\xff.bin"));
    fs::write(&bad, "x").unwrap();
    root.file(".dockerignore", "*.bin\n", 0o644);
    let ctx = collect(&spec(root.path(), "Dockerfile")).unwrap();
    assert_eq!(
        listing(&ctx).iter().filter(|l| l.contains("bad")).count(),
        0
    );
    fs::write(root.path().join(".dockerignore"), "").unwrap();
    match collect(&spec(root.path(), "Dockerfile")) {
        Err(ContextError::NonUtf8Path { path }) => assert_eq!(path, bad),
        other => panic!("expected a non-UTF-8 error, got {other:?}"),
    }
}

#[test]
fn skipped_folders_are_never_sent() {
    let root = TempDir::new("skip");
    root.file("Dockerfile", "FROM scratch\n", 0o644);
    root.file("target/sdkimage/logs/x.log", "changing", 0o644);
    root.file("target/release/app", "bin", 0o755);
    let mut spec = spec(root.path(), "Dockerfile");
    spec.skip = vec![root.path().join("target/sdkimage")];
    let ctx = collect(&spec).unwrap();
    let paths: Vec<&str> = ctx.entries.iter().map(|e| e.path.as_str()).collect();
    assert!(paths.contains(&"target/release/app"), "{paths:?}");
    assert!(
        !paths.iter().any(|p| p.starts_with("target/sdkimage")),
        "{paths:?}"
    );
}

/// Files of one size that differ in content get different mtimes, equal content (and equal
/// symlink targets) the same one, whatever the path and the mtime on disk.
#[test]
fn mtime_follows_the_content() {
    let t = TempDir::new("mtime");
    t.file("Dockerfile", "FROM scratch\n", 0o644);
    t.file("status-amd64", "Architecture: amd64\n", 0o644);
    t.file("status-arm64", "Architecture: arm64\n", 0o644);
    t.file("rootfs/status", "Architecture: amd64\n", 0o600);
    t.link("l1", "status-amd64");
    t.link("l2", "status-arm64");
    t.link("l3", "status-amd64");
    File::open(t.path().join("rootfs/status"))
        .unwrap()
        .set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(7))
        .unwrap();
    let ctx = collect(&spec(t.path(), "Dockerfile")).unwrap();
    let mut out = Vec::new();
    write_tar(&ctx, &mut out).unwrap();
    let mut mtimes = std::collections::HashMap::new();
    for entry in tar::Archive::new(out.as_slice()).entries().unwrap() {
        let entry = entry.unwrap();
        let path = entry.path().unwrap().to_str().unwrap().to_string();
        mtimes.insert(path, entry.header().mtime().unwrap());
    }
    assert_ne!(mtimes["status-amd64"], mtimes["status-arm64"]);
    assert_eq!(mtimes["status-amd64"], mtimes["rootfs/status"]);
    assert_ne!(mtimes["l1"], mtimes["l2"]);
    assert_eq!(mtimes["l1"], mtimes["l3"]);
    assert_eq!(mtimes["rootfs/"], 0);
}
