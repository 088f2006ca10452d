//! `gather_cargo` with a `Cargo.lock` behind its manifests (the e2e fixture `stale-lock`: a
//! path dependency added, the lock file not updated): never a failure where `cargo build`
//! would succeed, the user's lock file untouched where a copy can resolve, cargo's own
//! refusal under `--locked`.

use std::path::Path;

use super::copy_tree;
use crate::error::Error;
use crate::licenses::gather_cargo;
use crate::workspace::{CargoFlags, Workspace};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/stale-lock");

fn names(ws: &Workspace) -> Vec<String> {
    gather_cargo(ws, &ws.root.join("app/Cargo.toml"))
        .expect("gather")
        .entries
        .into_iter()
        .map(|e| format!("{} {}", e.name, e.version))
        .collect()
}

#[test]
fn a_stale_lock_is_resolved_on_a_copy_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(Path::new(FIXTURE), dir.path());
    let lock = std::fs::read(dir.path().join("Cargo.lock")).unwrap();
    let ws = Workspace::load(Some(&dir.path().join("Cargo.toml")), CargoFlags::default()).unwrap();
    assert_eq!(names(&ws), ["stale-lock-helper 0.2.0"]);
    assert_eq!(std::fs::read(dir.path().join("Cargo.lock")).unwrap(), lock);

    // `--locked` from the user: cargo's refusal, as `cargo build --locked` refuses.
    let locked = CargoFlags {
        locked: true,
        ..CargoFlags::default()
    };
    let ws = Workspace::load(Some(&dir.path().join("Cargo.toml")), locked).unwrap();
    match gather_cargo(&ws, &ws.root.join("app/Cargo.toml")) {
        Err(Error::Failed(m)) => assert!(m.contains("--locked"), "{m}"),
        other => panic!("expected cargo's refusal, got {other:?}"),
    }
    assert_eq!(std::fs::read(dir.path().join("Cargo.lock")).unwrap(), lock);
}

/// A relative path dependency outside the workspace root cannot be reached from the copy:
/// cargo then resolves in place and updates the lock file, as `cargo build` would.
#[test]
fn a_path_dependency_out_of_the_root_still_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let ws_dir = dir.path().join("ws");
    copy_tree(Path::new(FIXTURE), &ws_dir);
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(outside.join("src")).unwrap();
    std::fs::write(
        outside.join("Cargo.toml"),
        "[package]\nname = \"outside-dep\"\nversion = \"1.0.0\"\nedition = \"2024\"\nlicense = \"MIT\"\n",
    )
    .unwrap();
    std::fs::write(outside.join("src/lib.rs"), "").unwrap();
    std::fs::write(outside.join("LICENSE"), "MIT, the outside crate\n").unwrap();
    let app = ws_dir.join("app/Cargo.toml");
    let text = std::fs::read_to_string(&app).unwrap();
    std::fs::write(
        &app,
        format!("{text}outside-dep = {{ path = \"../../outside\" }}\n"),
    )
    .unwrap();
    let ws = Workspace::load(Some(&ws_dir.join("Cargo.toml")), CargoFlags::default()).unwrap();
    assert_eq!(names(&ws), ["outside-dep 1.0.0", "stale-lock-helper 0.2.0"]);
    let lock = std::fs::read_to_string(ws_dir.join("Cargo.lock")).unwrap();
    assert!(lock.contains("outside-dep"), "{lock}");
}
