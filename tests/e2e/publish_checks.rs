//! What `verify`, `promote` and `build --push` check before and while they talk to registries,
//! through the built binary against the real engine and registry: refs nobody can push to,
//! registries that do not answer (one retry budget per registry, whatever the image count),
//! verify after promote, and metadata files that are empty, malformed or not UTF-8.

use std::time::{Duration, Instant};

use sdkimage::output::EventKind;

use crate::support::{Repo, read_metadata};

/// A registry address nothing listens on.
const DEAD: &str = "127.0.0.1:9";

/// The beam fixture's images (base, go, python 3.10 and 3.11).
const BEAM_IMAGES: usize = 4;

/// After `build --push --tag 1.0.0rc1` and `promote --from-tag 1.0.0rc1 --tag 1.0.0 --tag
/// latest`, `verify --tag 1.0.0 --tag latest` passes: the promoted tags exist only in the
/// registry, and are checked against the digests the last build recorded (or a metadata file
/// holds). A ref that does not verify is said once on stderr.
#[test]
fn verify_after_promote_passes_and_says_each_problem_once() {
    let repo = Repo::in_registry("beam");
    let (run, meta) = repo.run_with_metadata(&[
        "build",
        "go",
        "--tag",
        "1.0.0rc1",
        "--push",
        "--progress",
        "none",
    ]);
    run.success();
    repo.run(&[
        "promote",
        "go",
        "--from-tag",
        "1.0.0rc1",
        "--tag",
        "1.0.0",
        "--tag",
        "latest",
    ])
    .success();
    let run = repo.run(&[
        "verify",
        "go",
        "--tag",
        "1.0.0",
        "--tag",
        "latest",
        "--message-format",
        "json",
    ]);
    run.success();
    assert_eq!(
        run.events_of(EventKind::Verified).len(),
        2,
        "{}",
        run.stdout()
    );
    assert!(run.events_of(EventKind::Failed).is_empty());

    // The same against the release candidate's metadata file, no engine needed.
    let meta = meta.to_str().unwrap();
    let no_engine = [("DOCKER_HOST", "unix:///nonexistent/docker.sock")];
    let run = repo.run_with(
        &[
            "verify",
            "--from-metadata",
            meta,
            "--tag",
            "1.0.0",
            "--tag",
            "latest",
        ],
        &no_engine,
    );
    run.success();

    // A tag that was never promoted: each ref's problem once, the error a recap.
    let run = repo.run(&["verify", "go", "--tag", "9.9", "--progress", "none"]);
    run.expect_code(1);
    let err = run.stderr();
    for image in ["beam_base", "beam_go_sdk"] {
        let r = repo.image_ref(image, "9.9");
        assert_eq!(err.matches(&r).count(), 1, "{r} said once: {err}");
    }
    assert!(err.contains("2 of 2 images did not verify"), "{err}");
    let doc = read_metadata(std::path::Path::new(meta));
    let run = repo.run_with(
        &["verify", "--from-metadata", meta, "--tag", "9.9"],
        &no_engine,
    );
    run.expect_code(1);
    let err = run.stderr();
    for (image, entry) in &doc {
        let r = repo.image_ref(image, "9.9");
        assert_eq!(err.matches(&r).count(), 1, "{r} said once: {err}");
        assert!(err.contains(entry.digest.as_deref().unwrap()), "{err}");
    }
}

/// Refs with no registry and no namespace name Docker Hub official images, which nobody can
/// push to: `verify`, `promote` and `build --push` say so at once (exit 2), naming the setting.
#[test]
fn refs_without_registry_or_namespace_are_refused_at_once() {
    let repo = Repo::new("beam");
    for args in [
        vec!["verify", "go"],
        vec!["promote", "go", "--from-tag", "rc1", "--tag", "1.0"],
        vec!["build", "go", "--push"],
        vec!["push", "go"],
    ] {
        let mut args = args;
        args.extend(["--repository-root", "", "--progress", "none"]);
        let started = Instant::now();
        let run = repo.run(&args);
        run.expect_code(2);
        assert!(started.elapsed() < Duration::from_secs(10), "{args:?}");
        let err = run.stderr();
        assert!(
            err.contains("beam_base:")
                && err.contains("--repository-root")
                && err.contains("`repository-root`"),
            "{args:?}: {err}"
        );
    }
}

/// `build --push` asks every target registry for `/v2/` before building: one that does not
/// answer stops the run with exit 3 naming it, and nothing is built.
#[test]
fn build_push_to_a_registry_that_is_down_stops_before_building() {
    let repo = Repo::new("beam");
    let root = format!("{DEAD}/{}", repo.root);
    let started = Instant::now();
    let run = repo.run(&[
        "build",
        "go",
        "--push",
        "--repository-root",
        &root,
        "--message-format",
        "json",
        "--progress",
        "none",
    ]);
    run.expect_code(3);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    run.assert_stderr_contains(DEAD);
    let built: Vec<_> = run
        .events()
        .into_iter()
        .filter(|e| {
            matches!(
                e.kind(),
                EventKind::BuildStarted | EventKind::BuildFinished | EventKind::UpToDate
            )
        })
        .collect();
    assert!(built.is_empty(), "nothing is built: {}", run.stdout());
    assert!(repo.image_id(&format!("{root}/beam_base:2.61.0")).is_none());
}

/// `verify` with the registry down gives up within one retry budget whatever the number of
/// images (it took about 15 s per image), and reports every image, naming the registry once.
#[test]
fn verify_of_every_image_on_a_registry_that_is_down_gives_up_at_once() {
    let repo = Repo::new("beam");
    let root = format!("{DEAD}/{}", repo.root);
    let started = Instant::now();
    let run = repo.run(&[
        "verify",
        "--repository-root",
        &root,
        "--message-format",
        "json",
    ]);
    let took = started.elapsed();
    run.expect_code(3);
    // One budget is about 3 s of retries; one per image was 60 s for these 4.
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let failed = run.events_of(EventKind::Failed);
    assert_eq!(failed.len(), BEAM_IMAGES, "{}", run.stdout());
    let err = run.stderr();
    assert_eq!(err.matches("cannot reach the registry").count(), 1, "{err}");
    assert!(
        err.contains(&format!("{BEAM_IMAGES} of {BEAM_IMAGES} images")),
        "{err}"
    );

    // The same for a metadata file of as many entries.
    let digest = format!("sha256:{}", "1".repeat(64));
    let entries: serde_json::Map<String, serde_json::Value> = (0..BEAM_IMAGES)
        .map(|i| {
            let r = format!("{root}/img{i}:1");
            (
                format!("img{i}"),
                serde_json::json!({"refs": [r], "digest": digest}),
            )
        })
        .collect();
    repo.write("down.json", &serde_json::Value::Object(entries).to_string());
    let started = Instant::now();
    let run = repo.run(&["verify", "--from-metadata", "down.json"]);
    run.expect_code(3);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(run.stderr().matches("cannot reach the registry").count(), 1);
}

/// A metadata file that names no image, a digest that is not one, and bytes that are not
/// UTF-8 are refused before any registry is asked (exit 2), naming the file or the value.
#[test]
fn metadata_files_that_cannot_be_verified_are_refused_at_load() {
    let repo = Repo::new("beam");
    let root = format!("{DEAD}/{}", repo.root);
    let verify = |file: &str| {
        let started = Instant::now();
        let run = repo.run(&["verify", "--from-metadata", file]);
        run.expect_code(2);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{file}: no registry asked"
        );
        run.stderr()
    };
    repo.write("empty.json", "{}");
    let err = verify("empty.json");
    assert!(
        err.contains("empty.json") && err.contains("names no image"),
        "{err}"
    );
    repo.write("imageless.json", r#"{"a": {"pushed": true}}"#);
    let err = verify("imageless.json");
    assert!(
        err.contains("imageless.json") && err.contains("\"a\""),
        "{err}"
    );
    repo.write(
        "zz.json",
        &format!(r#"{{"a": {{"refs": ["{root}/a:1"], "digest": "sha256:zz"}}}}"#),
    );
    let err = verify("zz.json");
    assert!(err.contains("\"sha256:zz\""), "{err}");
    std::fs::write(
        repo.file("latin1.json"),
        b"{\"a\": {\"refs\": [\"x/a:1\"], \"digest\": \"caf\xe9\"}}",
    )
    .unwrap();
    let err = verify("latin1.json");
    assert!(
        err.contains("latin1.json") && err.contains("not UTF-8"),
        "{err}"
    );
}
