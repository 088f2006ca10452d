//! The file sync against the real engine (needs a running Docker engine): what arrives, and a
//! file that changed after it was hashed.

use std::collections::BTreeMap;
use std::path::Path;

use futures_util::StreamExt;

use super::*;
use crate::context::{ContextSpec, collect};
use crate::engine::session::BuildSession;
use crate::engine::{BuildOutput, BuildRequest, Builder, Engine};

/// The engine, an empty context folder and a name no other run uses (for labels and tags).
async fn set_up() -> (Engine, tempfile::TempDir, String) {
    let engine = Engine::connect()
        .await
        .unwrap_or_else(|e| panic!("this test needs a running Docker engine: {e}"));
    let unique = format!("{}-{:?}", std::process::id(), std::time::SystemTime::now());
    (engine, tempfile::tempdir().unwrap(), unique)
}

/// Building `synced` fails with our failure, naming `small.txt` as changed while it was sent.
async fn fails_naming_the_changed_file(engine: &Engine, synced: SyncedContext) {
    let (text, failure) = build(engine, synced)
        .await
        .expect_err("a changed file fails");
    let failure = failure.unwrap_or_else(|| panic!("no failure of ours; the engine said {text}"));
    let message = failure.to_string();
    assert!(
        message.contains("small.txt") && message.contains("changed"),
        "{message}"
    );
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn synced(root: &Path, image: &str) -> SyncedContext {
    let ctx = collect(&ContextSpec {
        root: root.to_path_buf(),
        dockerfile: root.join("Dockerfile"),
        copies: vec![],
        skip: vec![],
        workspace: root.to_path_buf(),
    })
    .unwrap();
    let hashed_at = std::time::SystemTime::now();
    let (_, stamps) = crate::fingerprint::hash_context(&ctx, None).unwrap();
    SyncedContext::new(
        std::sync::Arc::new(ctx),
        std::sync::Arc::new(stamps),
        hashed_at,
        root,
        image,
    )
}

/// Build through a session that sends the context; the image id, or the error text and the
/// session's own failure.
async fn build(
    engine: &Engine,
    synced: SyncedContext,
) -> std::result::Result<String, (String, Option<ContextError>)> {
    let dockerfile = synced.context.dockerfile_name();
    let session =
        BuildSession::start_with_context(engine.host(), BTreeMap::new(), BTreeMap::new(), synced)
            .await
            .expect("session opens");
    let request = BuildRequest {
        builder: Builder::BuildKit,
        dockerfile,
        no_cache: true,
        session: Some(session.id().to_string()),
        context_from_session: true,
        ..Default::default()
    };
    let mut stream = Box::pin(engine.build(&request, futures_util::stream::empty()));
    let mut result = Err((String::from("no image id"), None));
    while let Some(item) = stream.next().await {
        match item {
            Ok(BuildOutput::ImageId(id)) => result = Ok(id),
            Ok(_) => {}
            Err(f) => {
                result = Err((f.error.to_string(), None));
                break;
            }
        }
    }
    drop(stream);
    if let Err((text, _)) = result {
        result = Err((text, session.take_sync_failure()));
    }
    session.close().await;
    result
}

#[tokio::test]
async fn the_engine_gets_the_files_a_copy_names_and_a_changed_file_fails_naming_it() {
    let (engine, t, unique) = set_up().await;
    let root = t.path();
    write(
        root,
        "Dockerfile",
        &format!("FROM scratch\nLABEL t={unique:?}\nCOPY small.txt sub /out/\n"),
    );
    write(root, "small.txt", "small\n");
    write(root, "sub/a.txt", "a\n");
    write(root, "other.bin", "never asked for\n");
    let image = format!("filesync-test-{unique}");

    let id = build(&engine, synced(root, &image))
        .await
        .unwrap_or_else(|(e, _)| panic!("the build fails: {e}"));
    let _ = engine.remove_image_forced(&id).await;

    // Hashed, then changed (same size): the data no longer matches its stat. (Another image:
    // a fresh copy on the engine's side, which asks for every file.)
    let synced = synced(root, &format!("{image}-2"));
    write(root, "small.txt", "SMALL\n");
    fails_naming_the_changed_file(&engine, synced).await;
}

/// The engine asks for every file of a fresh copy at once: thousands of requests, read as they
/// come, or they fill the connection the session's health checks need too (12,000 files was
/// a cancelled build).
#[tokio::test]
async fn thousands_of_files_arrive() {
    let (engine, t, unique) = set_up().await;
    let root = t.path();
    write(
        root,
        "Dockerfile",
        &format!("FROM scratch\nLABEL t={unique:?}\nCOPY data /data/\n"),
    );
    for i in 0..12_000 {
        write(
            root,
            &format!("data/d{:02}/f{i:05}", i / 500),
            &i.to_string(),
        );
    }
    let id = build(&engine, synced(root, &format!("filesync-many-{unique}")))
        .await
        .unwrap_or_else(|(e, _)| panic!("the build fails: {e}"));
    let _ = engine.remove_image_forced(&id).await;
}

/// A file sent on the strength of its stat (hashed long enough ago) is not hashed again: a
/// change of the same size with its mtime put back is still seen, by its change time.
#[tokio::test]
async fn a_same_size_change_with_its_mtime_put_back_fails_naming_the_file() {
    let (engine, t, unique) = set_up().await;
    let root = t.path();
    write(
        root,
        "Dockerfile",
        &format!("FROM scratch\nLABEL t={unique:?}\nCOPY small.txt /\n"),
    );
    write(root, "small.txt", "small\n");
    let mut synced = synced(root, &format!("filesync-stat-{unique}"));
    // As if hashed well after the file's last change: its stamp is trusted, not re-hashed.
    synced.hashed_at_ns += 10 * RACY_NS;
    let path = root.join("small.txt");
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    // The change time moves in clock ticks: make sure one passed.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&path, "SMALL\n").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    fails_naming_the_changed_file(&engine, synced).await;
}

/// A context collected for some paths only: a request for another is refused, naming it, and
/// nothing of it is sent without its fingerprint.
#[tokio::test]
async fn a_request_outside_the_collected_paths_is_refused_naming_them() {
    let (engine, t, unique) = set_up().await;
    let root = t.path();
    write(
        root,
        "Dockerfile",
        &format!("FROM scratch\nLABEL t={unique:?}\nCOPY small.txt other.bin /out/\n"),
    );
    write(root, "small.txt", "small\n");
    write(root, "other.bin", "not collected\n");
    let only = vec!["small.txt".to_string()];
    let ctx = crate::context::collect_only(
        &ContextSpec {
            root: root.to_path_buf(),
            dockerfile: root.join("Dockerfile"),
            copies: vec![],
            skip: vec![],
            workspace: root.to_path_buf(),
        },
        Some(&only),
    )
    .unwrap();
    let (_, stamps) = crate::fingerprint::hash_context(&ctx, None).unwrap();
    let synced = SyncedContext::new(
        std::sync::Arc::new(ctx),
        std::sync::Arc::new(stamps),
        std::time::SystemTime::now(),
        root,
        &format!("filesync-test-{unique}"),
    )
    .only(Some(std::sync::Arc::new(only)));
    let (text, failure) = build(&engine, synced)
        .await
        .expect_err("a path outside the selection fails");
    let failure = failure.unwrap_or_else(|| panic!("no failure of ours; the engine said {text}"));
    assert!(
        matches!(&failure, ContextError::NotSelected { paths } if paths == &["other.bin"]),
        "{failure}"
    );
}
