//! The whole-context marker: it stands while the Dockerfile and the images its `FROM`s name
//! stay the same, and goes when either changes (an in-memory engine says what the bases are).

use std::sync::Arc;

use super::*;
use crate::commands::{Target, load};
use crate::engine::fake::FakeEngine;
use crate::engine::pool::Member;
use crate::interrupt::Interrupt;
use crate::reference::{ImageRef, Platform};
use crate::report::{MessageFormat, ProgressMode, ReportOptions, Reporter};

const TOP: &str = "ARG FROM_IMAGE\nFROM ${FROM_IMAGE}\nCOPY small.txt /\n";

/// A standalone workspace: `top` on our `base` (through a build arg), built with BuildKit on
/// `engine`.
fn session(dir: &Path, engine: &Arc<FakeEngine>) -> (Session, ImageIndex) {
    let write = |rel: &str, text: &str| crate::manifest::tests::write_under(dir, rel, text);
    write(
        "sdkimage-workspace.toml",
        "version = \"1.0.0\"\nrepository-root = \"fake.local/sel\"\ntags = [\"{version}\"]\ndefault-labels = false\n",
    );
    write("base/Dockerfile", "FROM scratch\n");
    write(
        "base/sdkimage.toml",
        "language = \"base\"\nname = \"base\"\n",
    );
    write("top/Dockerfile", TOP);
    write("top/small.txt", "small\n");
    write(
        "top/sdkimage.toml",
        "language = \"top\"\nname = \"top\"\ndepends-on = [\"base\"]\n\n[build-args]\nFROM_IMAGE = \"{repository_root}/base:{tag}\"\n",
    );
    let target = Target {
        manifest_path: Some(dir.join("sdkimage-workspace.toml")),
        cwd: dir.to_path_buf(),
        selectors: Vec::new(),
        plan: Default::default(),
        cargo: Default::default(),
    };
    let l = load(&target).expect("the workspace loads");
    let native = Platform::parse("linux/amd64").unwrap();
    let member = Member {
        name: "fake".into(),
        api: engine.clone() as Arc<dyn EngineApi>,
        platforms: vec![native.clone()],
        native: native.clone(),
        jobs: 1,
    };
    let top = l
        .plan
        .indexes()
        .find(|&i| l.plan.image(i).name == "top")
        .unwrap();
    let builders = vec![Builder::BuildKit; l.plan.images.len()];
    let reporter = Arc::new(Reporter::new(ReportOptions {
        format: MessageFormat::Human,
        progress: ProgressMode::Off,
        color: false,
        verbose: false,
        quiet: true,
    }));
    let session = Session::new(
        l.ws,
        l.plan,
        vec![member],
        reporter,
        Interrupt::never(),
        builders,
        native,
    );
    (session, top)
}

/// Image `id` in `engine`, tagged as our `base`.
async fn base_is(engine: &FakeEngine, id: &str) {
    engine.insert(id);
    let base = ImageRef::parse("fake.local/sel/base:1.0.0").unwrap();
    engine.tag(id, &base).await.unwrap();
}

#[tokio::test]
async fn the_whole_context_marker_goes_when_the_dockerfile_or_a_base_changes() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(FakeEngine::new("fake", "linux/amd64"));
    let (session, top) = session(dir.path(), &engine);
    let state_dir = session.ws.state_dir();
    let marker = marker(&state_dir, "top");
    base_is(&engine, "sha256:1111").await;
    let paths = |dockerfile: &'static str| {
        let (session, engine) = (&session, engine.clone());
        async move { context_paths(session, &*engine, top, dockerfile).await }
    };
    let selected = paths(TOP).await.expect("the Dockerfile's paths");
    assert!(selected.contains(&"small.txt".to_string()), "{selected:?}");

    // Written with the Dockerfile's digest and the base's id: the whole context from then on.
    remember_whole(&session, &*engine, top, TOP).await.unwrap();
    let written: Stamp = serde_json::from_slice(&std::fs::read(&marker).unwrap()).unwrap();
    assert_eq!(written.dockerfile, text_digest(TOP));
    assert_eq!(
        written.bases,
        BTreeMap::from([(
            "fake.local/sel/base:1.0.0".to_string(),
            Some("sha256:1111".to_string())
        )])
    );
    assert_eq!(paths(TOP).await, None);
    assert_eq!(paths(TOP).await, None);
    assert!(is_whole(&state_dir, "top"));

    // Another Dockerfile: the marker goes, the paths are derived again.
    let changed = "ARG FROM_IMAGE\nFROM ${FROM_IMAGE}\nCOPY small.txt /s\n";
    assert!(paths(changed).await.is_some());
    assert!(!marker.exists());

    // The base built again (another id): the same.
    remember_whole(&session, &*engine, top, TOP).await.unwrap();
    assert_eq!(paths(TOP).await, None);
    base_is(&engine, "sha256:2222").await;
    assert!(paths(TOP).await.is_some());
    assert!(!marker.exists());

    // The empty marker of earlier versions says nothing it was written for: it goes too.
    std::fs::write(&marker, b"").unwrap();
    assert!(paths(TOP).await.is_some());
    assert!(!marker.exists());
}
