//! Building through the real engine: order, tags, context rules, failures, events.

use crate::support::{Repo, docker_image_id, docker_run};

#[test]
fn builds_one_variant_after_its_base_with_overrides() {
    let repo = Repo::new("beam");
    let run = repo.run(&[
        "build",
        "python:3.11",
        "--tag",
        "2.26.0-custom",
        "--tag",
        "latest",
        "--progress",
        "plain",
    ]);
    run.success();
    let base = format!("{}/beam_base:2.26.0-custom", repo.root);
    let py = format!("{}/beam_python3.11_sdk:2.26.0-custom", repo.root);
    let base_id = docker_image_id(&base).expect("base image tagged");
    let py_id = docker_image_id(&py).expect("python image tagged");
    assert_eq!(
        docker_image_id(&format!("{}/beam_python3.11_sdk:latest", repo.root)).as_deref(),
        Some(py_id.as_str())
    );
    assert_ne!(base_id, py_id);
    // Nothing else was built.
    assert!(docker_image_id(&format!("{}/beam_python3.10_sdk:2.26.0-custom", repo.root)).is_none());
    assert!(docker_image_id(&format!("{}/beam_go_sdk:2.26.0-custom", repo.root)).is_none());
    // The entrypoint runs, the variant's build arg and the prepared artifact are inside.
    assert_eq!(docker_run(&py).trim(), "beam boot: python 3.11");
    // Plain progress prefixes log lines with the image.
    let err = run.stderr();
    assert!(err.contains("[python:3.11] Step 1/"), "{err}");
    assert!(
        err.find("[base] Step 1/").unwrap() < err.find("[python:3.11] Step 1/").unwrap(),
        "{err}"
    );
    // The full log of each image is kept.
    let log =
        std::fs::read_to_string(repo.file("target/sdkimage/logs/beam_python3.11_sdk.log")).unwrap();
    assert!(log.contains("Step 1/"), "{log}");
}

#[test]
fn context_follows_dockerignore_and_adds_copies() {
    let repo = Repo::new("beam");
    repo.write("sdks/python/container/junk/big.bin", "junk");
    repo.write("sdks/python/container/notes.tmp", "tmp");
    repo.write("sdks/python/container/kept.txt", "kept");
    repo.write(
        "sdks/python/container/Dockerfile",
        "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY . /ctx/\nRUN find /ctx | sort > /listing\nENTRYPOINT [\"cat\", \"/listing\"]\n",
    );
    let run = repo.run(&["build", "python:3.10", "--tag", "t"]);
    run.success();
    let listing = docker_run(&format!("{}/beam_python3.10_sdk:t", repo.root));
    let entries: Vec<&str> = listing.lines().collect();
    assert_eq!(
        entries,
        [
            "/ctx",
            "/ctx/.dockerignore",
            "/ctx/Dockerfile",
            "/ctx/boot.sh",
            "/ctx/kept.txt",
            "/ctx/sdkimage.toml",
            "/ctx/target",
            "/ctx/target/sdk.txt"
        ]
    );
}

#[test]
fn json_events_and_metadata_file() {
    let repo = Repo::new("beam");
    let meta = repo.file("meta.json");
    let run = repo.run(&[
        "build",
        "go",
        "--tag",
        "1.0",
        "--message-format",
        "json",
        "--progress",
        "none",
        "--metadata-file",
        meta.to_str().unwrap(),
    ]);
    run.success();
    let events = run.events();
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap(),
                e["image"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("build-started", "beam_base"),
            ("build-finished", "beam_base"),
            ("build-started", "beam_go_sdk"),
            ("build-finished", "beam_go_sdk"),
            ("summary", "")
        ]
    );
    for e in &events {
        assert_eq!(e["schema"], 1);
    }
    let go = &events[3];
    assert_eq!(go["language"], "go");
    assert!(go["variant"].is_null());
    assert_eq!(go["refs"][0], format!("{}/beam_go_sdk:1.0", repo.root));
    let id = go["id"].as_str().unwrap();
    assert_eq!(
        docker_image_id(&format!("{}/beam_go_sdk:1.0", repo.root)).as_deref(),
        Some(id)
    );
    assert!(go["duration_ms"].as_u64().is_some());
    assert_eq!(events[4]["counts"]["built"], 2);

    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    let go = &meta["beam_go_sdk"];
    assert_eq!(go["id"], id);
    assert_eq!(go["outcome"], "built");
    assert_eq!(go["image.name"], format!("{}/beam_go_sdk:1.0", repo.root));
    assert_eq!(go["containerimage.config.digest"], id);
    assert_eq!(go["pushed"], false);
}

#[test]
fn a_failed_build_owns_no_tag_and_names_its_step() {
    let repo = Repo::new("beam");
    repo.write(
        "sdks/go/container/Dockerfile",
        "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo compiling go sdk\nRUN echo 'missing toolchain' >&2 && exit 7\nENTRYPOINT [\"true\"]\n",
    );
    let meta = repo.file("meta.json");
    let run = repo.run(&[
        "build",
        "--tag",
        "bad",
        "--progress",
        "plain",
        "--metadata-file",
        meta.to_str().unwrap(),
        "-j",
        "1",
    ]);
    run.expect_code(1);
    let err = run.stderr();
    assert!(
        err.contains(
            "failed go: build failed at Step 4/5 : RUN echo 'missing toolchain' >&2 && exit 7"
        ),
        "{err}"
    );
    assert!(err.contains("returned a non-zero code: 7"), "{err}");
    assert!(
        err.contains("target/sdkimage/logs/beam_go_sdk.log"),
        "{err}"
    );
    assert!(docker_image_id(&format!("{}/beam_go_sdk:bad", repo.root)).is_none());
    let log = std::fs::read_to_string(repo.file("target/sdkimage/logs/beam_go_sdk.log")).unwrap();
    assert!(log.contains("missing toolchain"), "{log}");
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    assert_eq!(meta["beam_go_sdk"]["outcome"], "failed");
    assert!(meta["beam_go_sdk"]["id"].is_null());
}

#[test]
fn a_failing_prepare_step_names_the_command_and_shows_its_output() {
    let repo = Repo::new("beam");
    repo.write(
        "sdks/python/container/sdkimage.toml",
        "language = \"python\"\nname = \"beam_python_sdk\"\n[[prepare]]\nrun = [\"sh\", \"-c\", \"echo wheel build broke >&2; exit 3\"]\n",
    );
    let run = repo.run(&["build", "python"]);
    run.expect_code(1);
    let err = run.stderr();
    assert!(err.contains("prepare step of sdks/python/container/sdkimage.toml failed: `sh -c 'echo wheel build broke >&2; exit 3'`"), "{err}");
    assert!(err.contains("| wheel build broke"), "{err}");
}
