//! `push`, `verify` and `promote` against a real `docker-registry` and the real engine (both
//! required: these fail without). The registry comes from `registry::testutil`; the engine,
//! the tiny images built through it and the plans naming them are made here.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::engine::{BuildRequest, Engine};
use crate::error::Result;
use crate::interrupt::Interrupt;
use crate::plan::{BuildPlan, Image, ImageIndex, ManifestIndex};
use crate::reference::ImageRef;
use crate::registry::testutil::{TestRegistry, fake_helper};
use crate::registry::{DockerConfig, InsecureRegistries, Registries, RetryPolicy};
use crate::report::{MessageFormat, ProgressMode, ReportOptions, Reporter};

/// The engine the environment names; these tests need one and fail without it.
async fn engine() -> Engine {
    Engine::connect()
        .await
        .unwrap_or_else(|e| panic!("these tests need a running Docker engine: {e}"))
}

/// Build a `FROM scratch` image holding one file with `content` (made unique per call).
async fn build_image(engine: &Engine, content: &str) -> String {
    static SERIAL: AtomicU32 = AtomicU32::new(0);
    let unique = format!(
        "{content}\n{} {}\n",
        std::process::id(),
        SERIAL.fetch_add(1, Ordering::SeqCst)
    );
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("Dockerfile", "FROM scratch\nCOPY f /f\n"),
        ("f", unique.as_str()),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, data.as_bytes())
            .expect("tar");
    }
    let context = Bytes::from(tar.into_inner().expect("tar"));
    let request = BuildRequest {
        dockerfile: "Dockerfile".into(),
        ..Default::default()
    };
    engine
        .build_to_id(&request, futures_util::stream::once(async { Ok(context) }))
        .await
        .expect("test image builds")
}

/// A plan of images `(name, repository)`, each tagged with every tag of `tags`.
fn plan(images: &[(&str, &str)], tags: &[&str]) -> BuildPlan {
    let images = images
        .iter()
        .map(|(name, repository)| Image {
            manifest: ManifestIndex::new(0),
            language: (*name).to_string(),
            variant: None,
            name: (*name).to_string(),
            refs: tags
                .iter()
                .map(|t| ImageRef::new(repository, t).expect("valid ref"))
                .collect(),
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
        tags: tags.iter().map(|t| (*t).to_string()).collect(),
    }
}

fn quiet_reporter() -> Reporter {
    Reporter::new(ReportOptions {
        format: MessageFormat::Human,
        progress: ProgressMode::Off,
        color: false,
        verbose: false,
        quiet: true,
    })
}

/// Every event it is sent, kept for the test to read; nothing is shown.
#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<crate::output::Event>>);

impl Recorder {
    /// The messages of the `failed` events, in order.
    fn failures(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                crate::output::Event::Failed(f) => Some(f.message.clone()),
                _ => None,
            })
            .collect()
    }
}

impl crate::output::EventSink for Recorder {
    fn event(&self, event: &crate::output::Event) {
        self.0.lock().unwrap().push(event.clone());
    }
    fn build_log(&self, _: &str, _: &str, _: crate::output::BuildLog<'_>) {}
    fn note(&self, _: crate::output::Note) {}
    fn data(&self, _: &str) {}
    fn json(&self) -> bool {
        false
    }
}

/// `verify` where no build was ever recorded (a fresh state folder).
async fn verify_unrecorded(
    engine: &Engine,
    registries: &Registries,
    plan: &BuildPlan,
    selection: &[ImageIndex],
    reporter: &dyn crate::output::EventSink,
) -> Result<Vec<Verified>> {
    let dir = tempfile::tempdir().expect("temp dir");
    let states = crate::fingerprint::StateStore::new(dir.path());
    verify(engine, registries, plan, selection, &states, reporter).await
}

/// `config` with the registries the engine treats as insecure.
async fn registries(engine: &Engine, config: DockerConfig) -> Registries {
    let insecure = engine.insecure_registries().await.expect("engine /info");
    Registries::new(config, InsecureRegistries::default()).with_insecure(&insecure)
}

/// Image 0 of a plan with its local id.
fn first(ids: &[String]) -> Vec<(ImageIndex, String)> {
    vec![(ImageIndex::new(0), ids[0].clone())]
}

/// Images 0 and 1 of a plan with their local ids.
fn both(ids: &[String]) -> Vec<(ImageIndex, String)> {
    vec![
        (ImageIndex::new(0), ids[0].clone()),
        (ImageIndex::new(1), ids[1].clone()),
    ]
}

/// `built` pushed with `opts`, never interrupted.
async fn push_quietly(
    engine: &Engine,
    registries: &Registries,
    plan: &BuildPlan,
    built: &[(ImageIndex, String)],
    opts: &PublishOptions,
) -> Result<Vec<Published>> {
    push(
        Holders::one(engine),
        registries,
        plan,
        built,
        opts,
        &quiet_reporter(),
        &Interrupt::never(),
    )
    .await
}

/// The first image of `plan` pushed with the default options, nothing reported.
async fn push_first(
    engine: &Engine,
    registries: &Registries,
    plan: &BuildPlan,
    ids: &[String],
) -> Result<Vec<Published>> {
    push(
        Holders::one(engine),
        registries,
        plan,
        &first(ids),
        &PublishOptions::default(),
        &quiet_reporter(),
        &Interrupt::never(),
    )
    .await
}

fn basic_auth_config(host: &str, user: &str, password: &str) -> DockerConfig {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let text = format!(r#"{{"auths": {{"http://{host}": {{"auth": "{auth}"}}}}}}"#);
    DockerConfig::parse(Path::new("/test/config.json"), &text, vec![]).unwrap()
}

#[tokio::test]
async fn two_phase_push_points_every_tag_at_the_pushed_digest() {
    let (engine, reg) = (engine().await, TestRegistry::start());
    let host = reg.host();
    let plan = plan(
        &[
            ("a", &format!("{host}/sdk/a")),
            ("b", &format!("{host}/sdk/b")),
        ],
        &["1.0", "latest"],
    );
    let ids = vec![
        build_image(&engine, "a").await,
        build_image(&engine, "b").await,
    ];
    let registries = registries(&engine, DockerConfig::default()).await;
    let reporter = quiet_reporter();
    let opts = PublishOptions {
        jobs: 2,
        ..Default::default()
    };

    let dry_run = PublishOptions {
        dry_run: true,
        ..opts.clone()
    };
    assert!(
        push(
            Holders::one(&engine),
            &registries,
            &plan,
            &both(&ids),
            &dry_run,
            &reporter,
            &Interrupt::never()
        )
        .await
        .unwrap()
        .is_empty()
    );
    assert_eq!(
        reg.digest("sdk/a", DEFAULT_STAGING_TAG, None).await,
        None,
        "a dry run pushes nothing"
    );

    let published = push_quietly(&engine, &registries, &plan, &both(&ids), &opts)
        .await
        .unwrap();
    assert_eq!(published.len(), 2);
    assert_ne!(published[0].digest, published[1].digest);
    for (p, path) in published.iter().zip(["sdk/a", "sdk/b"]) {
        assert!(p.digest.starts_with("sha256:"));
        for tag in ["1.0", "latest", DEFAULT_STAGING_TAG] {
            assert_eq!(
                reg.digest(path, tag, None).await.as_deref(),
                Some(p.digest.as_str()),
                "{path}:{tag}"
            );
        }
    }
    let verified = verify_unrecorded(
        &engine,
        &registries,
        &plan,
        &[ImageIndex::new(0), ImageIndex::new(1)],
        &reporter,
    )
    .await
    .unwrap();
    assert_eq!(
        verified.iter().map(|v| &v.digest).collect::<Vec<_>>(),
        published.iter().map(|p| &p.digest).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn no_staging_pushes_every_ref_through_the_engine() {
    let (engine, reg) = (engine().await, TestRegistry::start());
    let plan = plan(&[("a", &format!("{}/direct", reg.host()))], &["1", "2"]);
    let ids = vec![build_image(&engine, "direct").await];
    let registries = registries(&engine, DockerConfig::default()).await;
    let opts = PublishOptions {
        staging_tag: None,
        ..Default::default()
    };
    let published = push(
        Holders::one(&engine),
        &registries,
        &plan,
        &first(&ids),
        &opts,
        &quiet_reporter(),
        &Interrupt::never(),
    )
    .await
    .unwrap();
    for tag in ["1", "2"] {
        assert_eq!(
            reg.digest("direct", tag, None).await,
            Some(published[0].digest.clone())
        );
    }
    assert_eq!(reg.digest("direct", DEFAULT_STAGING_TAG, None).await, None);
}

#[tokio::test]
async fn verify_catches_a_tag_repushed_with_other_content() {
    let (engine, reg) = (engine().await, TestRegistry::start());
    let plan = plan(
        &[("a", &format!("{}/sdk/v", reg.host()))],
        &["1.0", "latest"],
    );
    let ids = vec![build_image(&engine, "original").await];
    let registries = registries(&engine, DockerConfig::default()).await;
    let published = push_first(&engine, &registries, &plan, &ids).await.unwrap();

    // Someone else pushes other content under 1.0; the local tag still names our image.
    let other = build_image(&engine, "intruder").await;
    let r = &plan.image(ImageIndex::new(0)).refs[0];
    engine.tag(&other, r).await.unwrap();
    let intruder = engine.push(r, None).await.unwrap();
    engine.tag(&ids[0], r).await.unwrap();

    let recorder = Recorder::default();
    let e = verify_unrecorded(
        &engine,
        &registries,
        &plan,
        &[ImageIndex::new(0)],
        &recorder,
    )
    .await
    .unwrap_err();
    assert_eq!(e.exit_code(), 1);
    // The problem is said once, in the image's event; the error only recaps.
    assert_eq!(e.to_string(), "1 of 1 images did not verify: a");
    let failures = recorder.failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
    let text = &failures[0];
    assert!(
        text.contains(&format!("{r}:"))
            && text.contains(&intruder)
            && text.contains(&published[0].digest),
        "{text}"
    );
    assert_eq!(
        text.matches("; ").count(),
        0,
        "only the re-pushed ref is wrong: {text}"
    );
}

#[tokio::test]
async fn a_failure_in_phase_one_changes_no_release_tag() {
    let engine = engine().await;
    let (open, locked) = (
        TestRegistry::start(),
        TestRegistry::start_with_htpasswd("u", "p"),
    );
    let plan = plan(
        &[
            ("a", &format!("{}/sdk/a", open.host())),
            ("b", &format!("{}/sdk/b", locked.host())),
        ],
        &["1.0"],
    );
    let registries = registries(&engine, DockerConfig::default()).await;
    let old = vec![build_image(&engine, "old a").await];
    let before = push_first(&engine, &registries, &plan, &old).await.unwrap();

    let ids = vec![
        build_image(&engine, "new a").await,
        build_image(&engine, "new b").await,
    ];
    let opts = PublishOptions {
        jobs: 2,
        ..Default::default()
    };
    let e = push_quietly(&engine, &registries, &plan, &both(&ids), &opts)
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), 1);
    let text = e.to_string();
    assert!(
        text.contains(&locked.host()) && text.contains("no credentials"),
        "{text}"
    );
    assert!(text.contains("no release tag was changed"), "{text}");
    assert_eq!(
        open.digest("sdk/a", "1.0", None).await,
        Some(before[0].digest.clone()),
        "the old release stays"
    );
    assert_eq!(locked.digest("sdk/b", "1.0", Some(("u", "p"))).await, None);
}

#[tokio::test]
async fn promote_copies_manifests_and_keeps_digests() {
    let (engine, reg) = (engine().await, TestRegistry::start());
    let plan = plan(&[("a", &format!("{}/sdk/p", reg.host()))], &["rc1"]);
    let ids = vec![build_image(&engine, "promote me").await];
    let registries = registries(&engine, DockerConfig::default()).await;
    let reporter = quiet_reporter();
    let pushed = push_first(&engine, &registries, &plan, &ids).await.unwrap();
    let to = vec!["1.0".to_string(), "latest".to_string()];
    let selection = [ImageIndex::new(0)];
    let promote_from = |from: &'static str, dry_run: bool| {
        promote(
            &registries,
            &plan,
            &selection,
            from,
            &to,
            dry_run,
            &reporter,
        )
    };

    let dry = promote_from("rc1", true).await.unwrap();
    assert_eq!(dry[0].digest, pushed[0].digest);
    assert_eq!(
        reg.digest("sdk/p", "1.0", None).await,
        None,
        "a dry run changes nothing"
    );

    let missing = promote_from("rc9", false).await.unwrap_err();
    assert!(missing.to_string().contains("rc9"), "{missing}");
    assert_eq!(reg.digest("sdk/p", "1.0", None).await, None);

    let promoted = promote_from("rc1", false).await.unwrap();
    assert_eq!(promoted[0].digest, pushed[0].digest);
    assert_eq!(
        promoted[0]
            .refs
            .iter()
            .map(|r| r.tag.as_str())
            .collect::<Vec<_>>(),
        ["1.0", "latest"]
    );
    for tag in ["rc1", "1.0", "latest"] {
        assert_eq!(
            reg.digest("sdk/p", tag, None).await,
            Some(pushed[0].digest.clone()),
            "{tag}"
        );
    }
}

#[tokio::test]
async fn htpasswd_auth_through_a_docker_config_dir() {
    let (engine, reg) = (
        engine().await,
        TestRegistry::start_with_htpasswd("alice", "right-pass"),
    );
    let host = reg.host();
    let plan = plan(&[("a", &format!("{host}/private"))], &["1"]);
    let ids = vec![build_image(&engine, "private").await];
    let reporter = quiet_reporter();

    let wrong = registries(&engine, basic_auth_config(&host, "alice", "wrong-pass")).await;
    let e = push_first(&engine, &wrong, &plan, &ids).await.unwrap_err();
    let text = e.to_string();
    assert_eq!(e.exit_code(), 1);
    assert!(
        text.contains(&host) && text.contains("rejected") && !text.contains("wrong-pass"),
        "{text}"
    );

    let dir = tempfile::tempdir().unwrap();
    let auth = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode("alice:right-pass")
    };
    std::fs::write(
        dir.path().join("config.json"),
        format!(r#"{{"auths": {{"{host}": {{"auth": "{auth}"}}}}}}"#),
    )
    .unwrap();
    let right = registries(&engine, DockerConfig::load(dir.path(), vec![]).unwrap()).await;
    let published = push_first(&engine, &right, &plan, &ids).await.unwrap();
    assert_eq!(
        reg.digest("private", "1", Some(("alice", "right-pass")))
            .await,
        Some(published[0].digest.clone())
    );
    verify_unrecorded(&engine, &right, &plan, &[ImageIndex::new(0)], &reporter)
        .await
        .unwrap();

    let anonymous = registries(&engine, DockerConfig::default()).await;
    let recorder = Recorder::default();
    let e = verify_unrecorded(&engine, &anonymous, &plan, &[ImageIndex::new(0)], &recorder)
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), 1);
    let failures = recorder.failures();
    assert!(failures[0].contains("docker login"), "{failures:?}");
}

#[tokio::test]
async fn htpasswd_auth_through_a_credential_helper() {
    let (engine, reg) = (
        engine().await,
        TestRegistry::start_with_htpasswd("bob", "helper-pass"),
    );
    let host = reg.host();
    let plan = plan(&[("a", &format!("{host}/helped"))], &["1"]);
    let ids = vec![build_image(&engine, "helped").await];
    let (config_dir, helper_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    fake_helper(helper_dir.path(), "test", &[(&host, "bob", "helper-pass")]);
    std::fs::write(
        config_dir.path().join("config.json"),
        format!(r#"{{"credHelpers": {{"{host}": "test"}}}}"#),
    )
    .unwrap();
    let config =
        DockerConfig::load(config_dir.path(), vec![helper_dir.path().to_path_buf()]).unwrap();
    let registries = registries(&engine, config).await;
    let reporter = quiet_reporter();
    let published = push_first(&engine, &registries, &plan, &ids).await.unwrap();
    assert_eq!(
        reg.digest("helped", "1", Some(("bob", "helper-pass")))
            .await,
        Some(published[0].digest.clone())
    );
    verify_unrecorded(
        &engine,
        &registries,
        &plan,
        &[ImageIndex::new(0)],
        &reporter,
    )
    .await
    .unwrap();
    let log =
        std::fs::read_to_string(helper_dir.path().join("docker-credential-test.log")).unwrap();
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        [format!("get {host}")],
        "looked up once"
    );
}

#[tokio::test]
async fn pushes_survive_a_registry_that_is_briefly_down() {
    let (engine, mut reg) = (engine().await, TestRegistry::start());
    let plan = plan(&[("a", &format!("{}/flaky", reg.host()))], &["1"]);
    let ids = vec![build_image(&engine, "flaky").await];
    let registries = registries(&engine, DockerConfig::default()).await;
    reg.stop();
    let restart = tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_secs(1));
        reg.start_again();
        reg
    });
    let published = push_first(&engine, &registries, &plan, &ids).await;
    let reg = restart.await.unwrap();
    let published = published.unwrap();
    assert_eq!(
        reg.digest("flaky", "1", None).await,
        Some(published[0].digest.clone())
    );
}

#[tokio::test]
async fn an_unreachable_registry_exits_3_after_retries() {
    let engine = engine().await;
    let mut reg = TestRegistry::start();
    let plan = plan(&[("a", &format!("{}/gone", reg.host()))], &["1"]);
    let ids = vec![build_image(&engine, "gone").await];
    reg.stop();
    let fast = RetryPolicy {
        attempts: 2,
        first_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(10),
    };
    let registries = registries(&engine, DockerConfig::default())
        .await
        .with_retry(fast);
    let reporter = quiet_reporter();
    let e = push_first(&engine, &registries, &plan, &ids)
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), 3, "{e}");
    let e = verify_unrecorded(
        &engine,
        &registries,
        &plan,
        &[ImageIndex::new(0)],
        &reporter,
    )
    .await
    .unwrap_err();
    assert_eq!(e.exit_code(), 3, "{e}");
}

#[tokio::test]
async fn metadata_digests_are_checked_without_local_images() {
    let (engine, reg) = (engine().await, TestRegistry::start());
    let plan = plan(&[("a", &format!("{}/meta", reg.host()))], &["1", "2"]);
    let ids = vec![build_image(&engine, "meta").await];
    let registries = registries(&engine, DockerConfig::default()).await;
    let reporter = quiet_reporter();
    let published = push_first(&engine, &registries, &plan, &ids).await.unwrap();
    let refs: Vec<String> = plan
        .image(ImageIndex::new(0))
        .refs
        .iter()
        .map(ToString::to_string)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("metadata.json");
    let write = |digest: &str| {
        let json = serde_json::json!({"a": {"refs": refs, "digest": digest, "pushed": true}});
        std::fs::write(&file, json.to_string()).unwrap();
    };

    write(&published[0].digest);
    let no_engine = Registries::new(DockerConfig::default(), InsecureRegistries::default());
    let ok = verify_metadata(&no_engine, &file, None, &[], &reporter)
        .await
        .unwrap();
    assert_eq!(ok[0].digest, published[0].digest);

    let wrong = format!("sha256:{}", "0".repeat(64));
    write(&wrong);
    let recorder = Recorder::default();
    let e = verify_metadata(&no_engine, &file, None, &[], &recorder)
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), 1);
    assert_eq!(e.to_string(), "1 of 1 images did not verify: a");
    let failures = recorder.failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(
        failures[0].split("; ").count(),
        2,
        "one problem per ref: {failures:?}"
    );
    assert!(
        failures[0].contains(&wrong) && failures[0].contains(&published[0].digest),
        "{failures:?}"
    );
}

/// After `promote`, the release tags exist only in the registry: `verify` of them reads the
/// digests of the image the last build recorded, and passes; with no build recorded it says
/// so once per ref, in the image's event.
#[tokio::test]
async fn verify_after_promote_reads_the_recorded_build() {
    let (engine, reg) = (engine().await, TestRegistry::start());
    let rc = plan(&[("a", &format!("{}/sdk/vp", reg.host()))], &["rc1"]);
    let ids = vec![build_image(&engine, "verify after promote").await];
    let registries = registries(&engine, DockerConfig::default()).await;
    let reporter = quiet_reporter();
    let pushed = push_first(&engine, &registries, &rc, &ids).await.unwrap();
    let to = vec!["1.0".to_string(), "latest".to_string()];
    let selection = [ImageIndex::new(0)];
    promote(&registries, &rc, &selection, "rc1", &to, false, &reporter)
        .await
        .unwrap();
    let release = plan(
        &[("a", &format!("{}/sdk/vp", reg.host()))],
        &["1.0", "latest"],
    );

    let recorder = Recorder::default();
    let e = verify_unrecorded(&engine, &registries, &release, &selection, &recorder)
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), 1);
    let failures = recorder.failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(
        failures[0].contains("no build of a recorded"),
        "{failures:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let states = crate::fingerprint::StateStore::new(dir.path());
    let state = crate::fingerprint::ImageState {
        id: ids[0].clone(),
        ..Default::default()
    };
    states.save("a", &state).unwrap();
    let verified = verify(
        &engine,
        &registries,
        &release,
        &selection,
        &states,
        &reporter,
    )
    .await
    .unwrap();
    assert_eq!(verified[0].digest, pushed[0].digest);
}

/// One retry budget per registry: with the registry gone, `verify` of many images gives up
/// within one budget, not one per image, and reports every image, naming the registry once.
#[tokio::test]
async fn verify_of_many_images_gives_up_on_an_unreachable_registry_at_once() {
    let engine = engine().await;
    let mut reg = TestRegistry::start();
    let host = reg.host();
    let names: Vec<String> = (0..12).map(|i| format!("gone{i}")).collect();
    let images: Vec<(&str, String)> = names
        .iter()
        .map(|n| (n.as_str(), format!("{host}/{n}")))
        .collect();
    let images: Vec<(&str, &str)> = images.iter().map(|(n, r)| (*n, r.as_str())).collect();
    let plan = plan(&images, &["1", "2"]);
    reg.stop();
    let budget = RetryPolicy {
        attempts: 3,
        first_delay: Duration::from_millis(200),
        max_delay: Duration::from_millis(200),
    };
    let registries = registries(&engine, DockerConfig::default())
        .await
        .with_retry(budget);
    let selection: Vec<ImageIndex> = (0..names.len()).map(ImageIndex::new).collect();
    let recorder = Recorder::default();
    let started = std::time::Instant::now();
    let e = verify_unrecorded(&engine, &registries, &plan, &selection, &recorder)
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(e.exit_code(), 3, "{e}");
    // One budget is 0.4 s of waits; one per image (or per request) would be several seconds.
    assert!(took < Duration::from_secs(2), "took {took:?}");
    let text = e.to_string();
    assert_eq!(
        text.matches("cannot reach the registry").count(),
        1,
        "{text}"
    );
    assert!(
        text.contains("12 of 12 images did not verify: gone0, ") && text.contains("and 2 more"),
        "{text}"
    );
    let failures = recorder.failures();
    assert_eq!(failures.len(), 12, "{failures:?}");
    for f in &failures {
        assert_eq!(
            f,
            &format!("not verified: the registry {host} cannot be reached")
        );
    }
}

/// Refs that name Docker Hub official images cannot be published: refused before anything
/// runs. A registry that does not answer is found before anything is built.
#[tokio::test]
async fn official_names_and_unreachable_registries_are_refused_up_front() {
    let bare = plan(&[("go", "go_sdk")], &["latest"]);
    let e = check_publishable(&bare, &[ImageIndex::new(0)]).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(
        e.to_string().contains("go_sdk:latest") && e.to_string().contains("--repository-root"),
        "{e}"
    );
    let e = PublishOptions::default()
        .check(&bare, [ImageIndex::new(0)])
        .unwrap_err();
    assert_eq!(e.exit_code(), 2);
    let namespaced = plan(&[("go", "apache/go_sdk")], &["latest"]);
    check_publishable(&namespaced, &[ImageIndex::new(0)]).unwrap();

    let mut reg = TestRegistry::start();
    let up = TestRegistry::start();
    let host = reg.host();
    reg.stop();
    let two = plan(
        &[
            ("a", &format!("{host}/a")),
            ("b", &format!("{}/b", up.host())),
        ],
        &["1"],
    );
    let fast = RetryPolicy {
        attempts: 2,
        first_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(10),
    };
    let registries =
        Registries::new(DockerConfig::default(), InsecureRegistries::default()).with_retry(fast);
    let e = check_registries(&registries, &two, &[ImageIndex::new(0), ImageIndex::new(1)])
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), 3, "{e}");
    assert!(e.to_string().contains(&host), "{e}");
    assert!(!e.to_string().contains(&up.host()), "{e}");
    check_registries(&registries, &two, &[ImageIndex::new(1)])
        .await
        .unwrap();
}
