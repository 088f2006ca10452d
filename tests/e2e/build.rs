//! Building through the real engine: order, tags, context rules, failures, events.

use sdkimage::output::{EventKind, Outcome};

use crate::support::{Repo, builder_plain_meta, docker_image_id, docker_run, read_metadata};

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
    // (BuildKit's plain progress: `#3 [2/4] COPY boot.sh ...`.)
    let err = run.stderr();
    assert!(err.contains("[python:3.11] #"), "{err}");
    assert!(
        err.find("[base] #").unwrap() < err.find("[python:3.11] #").unwrap(),
        "{err}"
    );
    // The full log of each image is kept.
    let log =
        std::fs::read_to_string(repo.file("target/sdkimage/logs/beam_python3.11_sdk.log")).unwrap();
    assert!(log.contains("] COPY boot.sh"), "{log}");
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
    let (run, meta) = repo.run_with_metadata(&[
        "build",
        "go",
        "--tag",
        "1.0",
        "--message-format",
        "json",
        "--progress",
        "none",
    ]);
    run.success();
    let events = run.events();
    let kinds: Vec<(EventKind, &str)> = events
        .iter()
        .map(|e| (e.kind(), e.image().unwrap_or("")))
        .collect();
    assert_eq!(
        kinds,
        [
            (EventKind::BuildStarted, "beam_base"),
            (EventKind::BuildFinished, "beam_base"),
            (EventKind::BuildStarted, "beam_go_sdk"),
            (EventKind::BuildFinished, "beam_go_sdk"),
            (EventKind::Summary, "")
        ]
    );
    for line in run.stdout().lines() {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(e["schema"], 1);
    }
    let go = &events[3];
    assert_eq!(go.language(), Some("go"));
    assert!(go.variant().is_none());
    assert_eq!(go.refs()[0], format!("{}/beam_go_sdk:1.0", repo.root));
    let id = go.id().unwrap();
    assert_eq!(
        docker_image_id(&format!("{}/beam_go_sdk:1.0", repo.root)).as_deref(),
        Some(id)
    );
    assert!(go.duration_ms().is_some());
    assert_eq!(events[4].counts().unwrap().built, 2);

    let meta = read_metadata(&meta);
    let go = &meta["beam_go_sdk"];
    assert_eq!(go.id.as_deref(), Some(id));
    assert_eq!(go.outcome, Outcome::Built);
    assert_eq!(go.image_name, format!("{}/beam_go_sdk:1.0", repo.root));
    assert_eq!(go.containerimage_config_digest.as_deref(), Some(id));
    assert!(!go.pushed);
}

/// `Step 4/7 : RUN x` -> `Step 4 : RUN x`: the classic builder counts each label it is given
/// as a step of its own, at the end (`org.opencontainers.image.*`, see README "Provenance").
fn without_step_total(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("Step ") {
        let (before, after) = rest.split_at(at + "Step ".len());
        out.push_str(before);
        let digits = after.chars().take_while(char::is_ascii_digit).count();
        out.push_str(&after[..digits]);
        rest = &after[digits..];
        if let Some(total) = rest.strip_prefix('/') {
            rest = total.trim_start_matches(|c: char| c.is_ascii_digit());
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn a_failed_build_owns_no_tag_and_names_its_step() {
    // Each builder names the step in its own words.
    for (builder, step, code) in [
        (
            "buildkit",
            "[3/3] RUN echo 'missing toolchain' >&2 && exit 7",
            "exit code: 7",
        ),
        (
            "classic",
            "Step 4/5 : RUN echo 'missing toolchain' >&2 && exit 7",
            "returned a non-zero code: 7",
        ),
    ] {
        let repo = Repo::new("beam");
        repo.write(
            "sdks/go/container/Dockerfile",
            "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo compiling go sdk\nRUN echo 'missing toolchain' >&2 && exit 7\nENTRYPOINT [\"true\"]\n",
        );
        let meta = repo.file("meta.json");
        let run = repo.run(
            &[
                &["build", "--tag", "bad"][..],
                &builder_plain_meta(builder, &meta),
                &["-j", "1"],
            ]
            .concat(),
        );
        run.expect_code(1);
        let err = run.stderr();
        assert!(
            without_step_total(&err).contains(&without_step_total(&format!(
                "failed go: build failed at {step}"
            ))),
            "{builder}: {err}"
        );
        assert!(err.contains(code), "{builder}: {err}");
        assert!(
            err.contains("target/sdkimage/logs/beam_go_sdk.log"),
            "{err}"
        );
        assert!(docker_image_id(&format!("{}/beam_go_sdk:bad", repo.root)).is_none());
        let log =
            std::fs::read_to_string(repo.file("target/sdkimage/logs/beam_go_sdk.log")).unwrap();
        assert!(log.contains("missing toolchain"), "{log}");
        let meta = read_metadata(&meta);
        assert_eq!(meta["beam_go_sdk"].outcome, Outcome::Failed);
        assert!(meta["beam_go_sdk"].id.is_none());
    }
}

#[test]
fn a_failing_prepare_step_fails_its_images_and_keep_going_builds_the_rest() {
    let repo = Repo::new("beam");
    repo.write(
        "sdks/python/container/sdkimage.toml",
        "language = \"python\"\nname = \"beam_python_sdk\"\ndepends-on = [\"base\"]\n[[prepare]]\nrun = [\"sh\", \"-c\", \"echo wheel build broke >&2; exit 3\"]\n",
    );
    let json = ["--message-format", "json", "--progress", "none"];
    let run = repo.run(&[&["build"][..], &json].concat());
    run.expect_code(1);
    let err = run.stderr();
    assert!(err.contains("prepare step of sdks/python/container/sdkimage.toml failed: `sh -c 'echo wheel build broke >&2; exit 3'`"), "{err}");
    assert!(err.contains("| wheel build broke"), "{err}");
    // The prepare step's images failed; the first failure stopped the run before any build.
    let failed = run.events_of(EventKind::Failed);
    assert_eq!(failed.len(), 1, "{}", run.stdout());
    assert_eq!(failed[0].image(), Some("beam_python_sdk"));
    assert!(
        run.events_of(EventKind::BuildStarted).is_empty(),
        "{}",
        run.stdout()
    );
    let summary = run.summary();
    assert_eq!((summary.failed, summary.skipped), (1, 2));

    // `-q` keeps errors: what failed and why, and nothing else.
    let run = repo.run(&["build", "-q"]);
    run.expect_code(1);
    run.assert_stderr_contains("| wheel build broke");
    assert!(!run.stderr().contains("prepare: sh"), "{}", run.stderr());

    // With --keep-going, what does not depend on the failed step is built.
    let run = repo.run(&[&["build", "--keep-going"][..], &json].concat());
    run.expect_code(1);
    let summary = run.summary();
    assert_eq!((summary.failed, summary.built), (1, 2), "{}", run.stdout());
    assert!(docker_image_id(&format!("{}/beam_go_sdk:2.61.0", repo.root)).is_some());
    assert!(docker_image_id(&format!("{}/beam_python_sdk:2.61.0", repo.root)).is_none());
    // A failed run's stream ends with its `error`, then the `summary`.
    let events = run.events();
    let kinds: Vec<EventKind> = events.iter().map(|e| e.kind()).collect();
    assert_eq!(
        kinds[kinds.len() - 2..],
        [EventKind::Error, EventKind::Summary],
        "{kinds:?}"
    );
    let message = events[events.len() - 2].message().unwrap();
    assert_eq!(message, "1 image(s) failed: beam_python_sdk");
}

#[test]
fn machine_output_stays_json_and_is_never_silently_lost() {
    let repo = Repo::new("beam");
    // An argument error clap finds is an `error` event too (`events()` fails on a line that
    // is not JSON, or not an event).
    let run = repo.run(&["build", "--jobs", "0", "--message-format", "json"]);
    run.expect_code(2);
    let events = run.events();
    assert_eq!(events.len(), 1, "{}", run.stdout());
    assert_eq!(events[0].kind(), EventKind::Error);
    assert!(
        events[0].message().unwrap().contains("--jobs"),
        "{events:?}"
    );
    // A dry run's plan goes to stderr: stdout is only events.
    let run = repo.run(&["build", "go", "--dry-run", "--message-format", "json"]);
    run.success();
    let _ = run.events();
    run.assert_stderr_contains("build    go: dockerfile");
    // Output that cannot be written is an error, not a silent success.
    let full = std::fs::File::options()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = crate::support::tool()
        .args([
            "sdkimage",
            "list",
            "--message-format",
            "json",
            "--repository-root",
            &repo.root,
        ])
        .current_dir(repo.path())
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot write to standard output"), "{err}");
}

#[test]
fn the_metadata_file_is_replaced_whole_through_symlinks_sparing_its_neighbours() {
    let repo = Repo::new("beam");
    let dir = repo.path().join("meta");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("images.tmp"), "notes").unwrap();
    std::fs::write(dir.join("real.json"), "old").unwrap();
    std::os::unix::fs::symlink("real.json", dir.join("images.json")).unwrap();
    let run = repo.run(&[
        "build",
        "base",
        "--metadata-file",
        "meta/images.json",
        "--progress",
        "none",
    ]);
    run.success();
    assert_eq!(
        std::fs::read_to_string(dir.join("images.tmp")).unwrap(),
        "notes"
    );
    assert!(
        std::fs::symlink_metadata(dir.join("images.json"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let meta = read_metadata(&dir.join("real.json"));
    assert_eq!(meta["beam_base"].outcome, Outcome::Built);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["images.json", "images.tmp", "real.json"],
        "no temporary file left"
    );
}

#[test]
fn a_bad_dockerignore_pattern_stops_the_run_before_anything_is_built() {
    let repo = Repo::new("beam");
    repo.write("sdks/go/container/.dockerignore", "# fine\n*.md\n[\n");
    let run = repo.run(&["build", "--message-format", "json", "--progress", "none"]);
    run.expect_code(2);
    let err = run.stderr();
    assert!(
        err.contains("sdks/go/container/.dockerignore:3:1: invalid pattern \"[\""),
        "{err}"
    );
    assert!(
        run.events_of(EventKind::BuildStarted).is_empty(),
        "{}",
        run.stdout()
    );
    assert!(docker_image_id(&format!("{}/beam_base:2.61.0", repo.root)).is_none());
}
