//! The two-phase publish over an engine pool, with in-memory engines (`engine::fake`) and a
//! real `docker-registry`: no daemon.

use std::collections::BTreeMap;

use super::*;
use crate::engine::EngineApi;
use crate::engine::fake::FakeEngine;
use crate::interrupt::Interrupt;
use crate::plan::{BuildPlan, Image, ImageIndex, ManifestIndex};
use crate::reference::ImageRef;
use crate::registry::testutil::TestRegistry;
use crate::registry::{DockerConfig, InsecureRegistries, Registries};
use crate::report::{MessageFormat, ProgressMode, ReportOptions, Reporter};

fn plan(images: &[(&str, String)], tag: &str) -> BuildPlan {
    let images = images
        .iter()
        .map(|(name, repository)| Image {
            manifest: ManifestIndex::new(0),
            language: (*name).to_string(),
            variant: None,
            name: (*name).to_string(),
            refs: vec![ImageRef::new(repository, tag).expect("valid ref")],
            build_args: BTreeMap::new(),
            image_args: BTreeMap::new(),
            deps: Vec::new(),
            builder: "auto".into(),
            platforms: Vec::new(),
            target: None,
            custom: None,
        })
        .collect();
    BuildPlan {
        manifests: Vec::new(),
        images,
        repository_root: None,
        tags: vec![tag.to_string()],
    }
}

fn quiet() -> Reporter {
    Reporter::new(ReportOptions {
        format: MessageFormat::Human,
        progress: ProgressMode::Off,
        color: false,
        verbose: false,
        quiet: true,
    })
}

/// Image `a` on engine `one`, `b` on engine `two`, pushed as one release.
async fn push_split(
    reg: &TestRegistry,
    one: &FakeEngine,
    two: &FakeEngine,
) -> crate::Result<Vec<Published>> {
    let plan = plan(
        &[
            ("a", format!("{}/pool/a", reg.host())),
            ("b", format!("{}/pool/b", reg.host())),
        ],
        "1.0",
    );
    one.insert("sha256:aa");
    two.insert("sha256:bb");
    let by_image: [(ImageIndex, &dyn EngineApi); 1] = [(ImageIndex::new(1), two)];
    let holders = Holders {
        first: one,
        by_image: &by_image,
    };
    crate::init_tls();
    let registries = Registries::new(DockerConfig::default(), InsecureRegistries::default());
    let built = [
        (ImageIndex::new(0), "sha256:aa".to_string()),
        (ImageIndex::new(1), "sha256:bb".to_string()),
    ];
    push(
        holders,
        &registries,
        &plan,
        &built,
        &PublishOptions::default(),
        &quiet(),
        &Interrupt::never(),
    )
    .await
}

#[tokio::test]
async fn each_image_is_staged_from_the_engine_holding_it() {
    let reg = TestRegistry::start();
    let (one, two) = (
        FakeEngine::new("one", "linux/amd64"),
        FakeEngine::new("two", "linux/amd64"),
    );
    let published = push_split(&reg, &one, &two).await.expect("published");
    let staged = |e: &FakeEngine| e.pushed.lock().unwrap().clone();
    assert_eq!(
        staged(&one),
        [format!("{}/pool/a:{DEFAULT_STAGING_TAG}", reg.host())]
    );
    assert_eq!(
        staged(&two),
        [format!("{}/pool/b:{DEFAULT_STAGING_TAG}", reg.host())]
    );
    for (p, repo) in published.iter().zip(["pool/a", "pool/b"]) {
        assert_eq!(reg.digest(repo, "1.0", None).await, Some(p.digest.clone()));
    }
}

#[tokio::test]
async fn no_release_tag_moves_unless_every_engine_staged() {
    let reg = TestRegistry::start();
    let (one, two) = (
        FakeEngine::new("one", "linux/amd64"),
        FakeEngine::new("two", "linux/amd64"),
    );
    two.fail_pushes();
    let e = push_split(&reg, &one, &two).await.unwrap_err();
    assert_eq!(e.exit_code(), 1, "{e}");
    // `a` was staged by the first engine, but its release tag was not written.
    assert!(
        reg.digest("pool/a", DEFAULT_STAGING_TAG, None)
            .await
            .is_some()
    );
    assert_eq!(reg.digest("pool/a", "1.0", None).await, None);
    assert_eq!(reg.digest("pool/b", "1.0", None).await, None);
}

#[tokio::test]
async fn a_lost_engine_stops_the_publish_before_any_release_tag() {
    let reg = TestRegistry::start();
    let (one, two) = (
        FakeEngine::new("one", "linux/amd64"),
        FakeEngine::new("two", "linux/amd64"),
    );
    two.kill();
    assert!(push_split(&reg, &one, &two).await.is_err());
    assert_eq!(reg.digest("pool/a", "1.0", None).await, None);
}
