//! Dockerfiles written for BuildKit, built through the engine's own BuildKit: platform args in
//! `COPY` and `FROM`, cache mounts, stages, secrets, and multi-platform images pushed as one
//! index per tag.

use std::process::Command;

use sdkimage::output::{Event, EventKind, Outcome};

use crate::support::images::{build_foreign_image, remove_image};
use crate::support::{Repo, checked_stdout, docker, docker_run, read_metadata};

/// A base image that is not ours, `name:latest-<arch>`, built with the docker CLI from busybox.
fn arch_base(repo: &Repo, name: &str, arch: &str) -> String {
    let reference = format!("{name}:latest-{arch}");
    build_foreign_image(
        repo,
        &format!("arch-base-{arch}"),
        &reference,
        &format!("FROM scratch\nCOPY busybox /bin/busybox\nLABEL base-arch={arch}\n"),
        &[],
    );
    reference
}

/// Beam's launcher layout: `target/launcher/${TARGETOS}_${TARGETARCH}/boot`, and a base picked
/// by `FROM ...:latest-${TARGETARCH}`, under both builders.
#[test]
fn platform_args_reach_copy_and_from_under_both_builders() {
    let repo = Repo::new("beam");
    let base = format!("sdkimage-e2e-archbase-{}", std::process::id());
    let amd = arch_base(&repo, &base, "amd64");
    repo.write(
        "sdks/launcher/Dockerfile",
        &format!(
            "ARG TARGETARCH\nFROM {base}:latest-${{TARGETARCH}}\nARG TARGETOS\nARG TARGETARCH\nARG TARGETPLATFORM\nCOPY target/launcher/${{TARGETOS}}_${{TARGETARCH}}/boot /opt/boot\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo $TARGETPLATFORM >> /opt/boot\"]\nCMD [\"/bin/busybox\", \"cat\", \"/opt/boot\"]\n"
        ),
    );
    repo.write(
        "sdks/launcher/target/launcher/linux_amd64/boot",
        "launcher for linux_amd64\n",
    );
    repo.write(
        "sdks/launcher/sdkimage.toml",
        "language = \"launcher\"\nname = \"beam_launcher\"\n",
    );
    for builder in ["buildkit", "classic"] {
        let run = repo.run(&[
            "build",
            "launcher",
            "--builder",
            builder,
            "--tag",
            builder,
            "--progress",
            "plain",
        ]);
        run.success();
        let image = format!("{}/beam_launcher:{builder}", repo.root);
        assert_eq!(
            docker_run(&image),
            "launcher for linux_amd64\nlinux/amd64\n",
            "{builder}"
        );
        let label = docker(&[
            "image",
            "inspect",
            "--format",
            "{{index .Config.Labels \"base-arch\"}}",
            &image,
        ]);
        assert_eq!(
            label.trim(),
            "amd64",
            "{builder}: the base picked by TARGETARCH"
        );
    }
    remove_image(&amd);
}

/// `RUN --mount=type=cache` keeps its cache across builds.
#[test]
fn a_cache_mount_is_reused_across_builds() {
    let repo = Repo::new("beam");
    let id = format!("sdkimage-e2e-cache-{}", std::process::id());
    repo.write(
        "sdks/cached/Dockerfile",
        &format!(
            "FROM scratch\nCOPY busybox /bin/busybox\nARG RUN\nRUN --mount=type=cache,id={id},target=/cache [\"/bin/busybox\", \"sh\", \"-c\", \"echo $RUN >> /cache/runs; /bin/busybox wc -l < /cache/runs > /runs\"]\nCMD [\"/bin/busybox\", \"cat\", \"/runs\"]\n"
        ),
    );
    repo.write(
        "sdks/cached/sdkimage.toml",
        "language = \"cached\"\nname = \"cached\"\n[[copy]]\nfrom = \"../../vendor/busybox\"\nto = \"busybox\"\n",
    );
    let build = |run: &str| {
        repo.run(&["build", "cached", "--build-arg", run, "--progress", "none"])
            .success();
    };
    build("RUN=1");
    let image = format!("{}/cached:2.61.0", repo.root);
    let first: u32 = docker_run(&image).trim().parse().unwrap();
    // Another arg reruns the step; the cache mount still holds the first run's file.
    build("RUN=2");
    let second: u32 = docker_run(&image).trim().parse().unwrap();
    assert_eq!(
        second,
        first + 1,
        "the cache mount kept the first run's file"
    );
}

/// `target` builds one stage; stages it does not need are never run (one that would fail).
#[test]
fn target_builds_one_stage_and_skips_the_others() {
    let repo = Repo::new("beam");
    repo.write(
        "sdks/staged/Dockerfile",
        "FROM scratch AS base\nCOPY busybox /bin/busybox\n\nFROM base AS broken\nRUN [\"/bin/busybox\", \"false\"]\n\nFROM base AS distroless\nCMD [\"/bin/busybox\", \"echo\", \"distroless flavour\"]\n\nFROM base AS ml\nCMD [\"/bin/busybox\", \"echo\", \"ml flavour\"]\n",
    );
    repo.write(
        "sdks/staged/sdkimage.toml",
        "language = \"staged\"\nname = \"staged{variant}\"\ntarget = \"ml\"\n[variants]\n\"-ml\" = {}\n\"-distroless\" = {}\n[targets]\n\"-distroless\" = \"distroless\"\n[[copy]]\nfrom = \"../../vendor/busybox\"\nto = \"busybox\"\n",
    );
    let list = repo.run(&["list", "staged", "--message-format", "json"]);
    list.success();
    let targets: Vec<Option<String>> = list.list().into_iter().map(|e| e.target).collect();
    assert_eq!(
        targets,
        [Some("distroless".to_string()), Some("ml".to_string())]
    );
    repo.run(&["build", "staged", "--progress", "none"])
        .success();
    assert_eq!(
        docker_run(&format!("{}/staged-distroless:2.61.0", repo.root)),
        "distroless flavour\n"
    );
    assert_eq!(
        docker_run(&format!("{}/staged-ml:2.61.0", repo.root)),
        "ml flavour\n"
    );
    // The target is an input: changing it rebuilds.
    let text = std::fs::read_to_string(repo.file("sdks/staged/sdkimage.toml")).unwrap();
    repo.write(
        "sdks/staged/sdkimage.toml",
        &text.replace("target = \"ml\"", "target = \"distroless\""),
    );
    let run = repo.run(&[
        "build",
        "staged:-ml",
        "--message-format",
        "json",
        "--progress",
        "none",
    ]);
    run.success();
    assert_eq!(run.events_of(EventKind::BuildFinished).len(), 1);
    assert_eq!(
        docker_run(&format!("{}/staged-ml:2.61.0", repo.root)),
        "distroless flavour\n"
    );
}

/// A failing step is named, with BuildKit's words, and the image owns no tag.
#[test]
fn a_failing_buildkit_step_is_named() {
    let repo = Repo::new("beam");
    repo.write(
        "sdks/failing/Dockerfile",
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo about to fail; exit 3\"]\n",
    );
    repo.write(
        "sdks/failing/sdkimage.toml",
        "language = \"failing\"\nname = \"failing\"\n[[copy]]\nfrom = \"../../vendor/busybox\"\nto = \"busybox\"\n",
    );
    let run = repo.run(&["build", "failing", "--progress", "plain"]);
    run.expect_code(1);
    let err = run.stderr();
    assert!(err.contains("build failed at [2/2] RUN"), "{err}");
    assert!(
        err.contains("RUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo about to fail; exit 3\"]"),
        "{err}"
    );
    assert!(err.contains("about to fail"), "{err}");
    assert!(crate::support::docker_image_id(&format!("{}/failing:2.61.0", repo.root)).is_none());
}

/// Two platforms, pushed as one index per tag, verified; the pushed ref runs as arm64 under
/// the engine's emulation.
#[test]
fn a_two_platform_image_is_pushed_as_one_index_and_runs_as_arm64() {
    let repo = Repo::in_registry("beam");
    repo.add_two_platform_busybox_image("CMD [\"/bin/busybox\", \"uname\", \"-m\"]\n");
    let meta = repo.file("meta.json");
    let run = repo.run(&[
        "build",
        "multi",
        "--tag",
        "1.0",
        "--tag",
        "latest",
        "--push",
        "--metadata-file",
        meta.to_str().unwrap(),
        "--message-format",
        "json",
        "--progress",
        "none",
    ]);
    run.success();
    let finished = run.events_of(EventKind::BuildFinished);
    let Event::BuildFinished(finished) = &finished[0] else {
        unreachable!()
    };
    let platforms = finished.platforms.clone().expect("platform ids");
    assert_eq!(
        platforms.keys().collect::<Vec<_>>(),
        ["linux/amd64", "linux/arm64"]
    );
    // Locally: the ref is the engine's own platform, the other one has a local-only tag.
    let reference = repo.image_ref("multi", "1.0");
    let arch = |r: &str| docker(&["image", "inspect", "--format", "{{.Architecture}}", r]);
    assert_eq!(arch(&reference).trim(), "amd64");
    assert_eq!(arch(&format!("{reference}-linux-arm64")).trim(), "arm64");
    // The registry: one index per release tag, each child of the right architecture, and no
    // tag named after a platform.
    let pushed = run.events_of(EventKind::PushFinished);
    let index_digest = pushed[0].digest().expect("index digest").to_string();
    let metadata = read_metadata(&meta);
    let entry = &metadata["multi"];
    assert_eq!(entry.outcome, Outcome::Built);
    assert_eq!(
        entry.containerimage_digest.as_deref(),
        Some(index_digest.as_str())
    );
    assert_eq!(entry.platforms.len(), 2);
    for tag in ["1.0", "latest"] {
        let r = repo.image_ref("multi", tag);
        assert_eq!(
            crate::support::RegistryApi::digest(&r).as_deref(),
            Some(index_digest.as_str())
        );
    }
    let (host, path) = reference
        .rsplit_once(':')
        .map(|(repo_part, _)| repo_part.split_once('/').unwrap())
        .unwrap();
    let index: serde_json::Value =
        serde_json::from_str(&crate::support::curl_manifest(host, path, &index_digest)).unwrap();
    // The registry's own bytes, parsed by hand: an OCI index over both platforms.
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let mut children: Vec<(String, String)> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["platform"]["architecture"].as_str().unwrap().to_string(),
                m["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    children.sort();
    assert_eq!(children[0].0, "amd64");
    assert_eq!(children[1].0, "arm64");
    assert_eq!(
        entry.platforms["linux/arm64"].digest.as_deref(),
        Some(children[1].1.as_str())
    );
    let tags = crate::support::RegistryApi::tags(&format!("{host}/{path}"));
    assert!(
        tags.iter()
            .all(|t| t == "1.0" || t == "latest" || t.starts_with("sdkimage-staging")),
        "{tags:?}"
    );
    // verify checks the index against the local images of both platforms; promote copies it.
    repo.run(&["verify", "multi", "--tag", "1.0"]).success();
    repo.run(&["promote", "multi", "--from-tag", "1.0", "--tag", "stable"])
        .success();
    assert_eq!(
        crate::support::RegistryApi::digest(&repo.image_ref("multi", "stable")).as_deref(),
        Some(index_digest.as_str())
    );
    // The promoted tag is only in the registry: verified through each platform's recorded build.
    repo.run(&["verify", "multi", "--tag", "stable"]).success();
    // Pulled by platform from the registry, it runs as arm64 under emulation.
    remove_image(&format!("{reference}-linux-arm64"));
    let out = docker(&[
        "run",
        "--rm",
        "--platform",
        "linux/arm64",
        "--pull",
        "always",
        &reference,
    ]);
    assert_eq!(out.trim(), "aarch64");
}

/// A build secret reaches `RUN --mount=type=secret` and appears nowhere else: not in the
/// image (layers, history, config: `docker save`), the output, the events, the metadata file,
/// the logs or the fingerprints.
#[test]
fn a_secret_is_served_to_the_build_and_found_nowhere_after() {
    let repo = Repo::new("beam");
    let canary = format!("canary-{}-tweet", std::process::id());
    let secret_file = repo.file("secrets/token.txt");
    repo.write("secrets/token.txt", &canary);
    // The step checks the value without writing it (its command line is in the history).
    repo.write(
        "sdks/secret/Dockerfile",
        "FROM scratch\nCOPY busybox /bin/busybox\nARG EXPECTED_SHA\nRUN --mount=type=secret,id=token,required=true --mount=type=secret,id=npm,required=true [\"/bin/busybox\", \"sh\", \"-c\", \"test \\\"$(/bin/busybox sha256sum /run/secrets/token | /bin/busybox cut -c1-64)\\\" = $EXPECTED_SHA && test -s /run/secrets/npm && echo secret ok > /ok\"]\nCMD [\"/bin/busybox\", \"cat\", \"/ok\"]\n",
    );
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(canary.as_bytes()))
    };
    repo.write(
        "sdks/secret/sdkimage.toml",
        &format!("language = \"secret\"\nname = \"secret\"\n[build-args]\nEXPECTED_SHA = \"{sha}\"\n[secrets]\nnpm = {{ env = \"SDKIMAGE_E2E_NPM_TOKEN\" }}\n[[copy]]\nfrom = \"../../vendor/busybox\"\nto = \"busybox\"\n"),
    );
    let meta = repo.file("meta.json");
    let secret_arg = format!("id=token,src={}", secret_file.display());
    let run = repo.run_with(
        &[
            "build",
            "secret",
            "--secret",
            &secret_arg,
            "--metadata-file",
            meta.to_str().unwrap(),
            "--message-format",
            "json",
            "--progress",
            "plain",
            "-v",
        ],
        &[("SDKIMAGE_E2E_NPM_TOKEN", &canary)],
    );
    run.success();
    let image = format!("{}/secret:2.61.0", repo.root);
    assert_eq!(docker_run(&image), "secret ok\n");
    assert!(!run.all_output().contains(&canary), "printed");
    // Every file the tool wrote.
    for entry in walkdir::WalkDir::new(repo.file("target/sdkimage"))
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().to_path_buf())
        .chain([meta])
    {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes.windows(canary.len()).any(|w| w == canary.as_bytes()),
            "{} holds the secret",
            entry.display()
        );
    }
    // The image: every layer, its history and config.
    let saved = checked_stdout(Command::new("docker").args(["save", &image]));
    assert!(
        !saved.windows(canary.len()).any(|w| w == canary.as_bytes()),
        "the image holds the secret"
    );
    // Under the classic builder, secrets are invalid input.
    let classic = repo.run_with(
        &[
            "build",
            "secret",
            "--builder",
            "classic",
            "--secret",
            &secret_arg,
        ],
        &[("SDKIMAGE_E2E_NPM_TOKEN", &canary)],
    );
    classic.expect_code(2);
    classic.assert_stderr_contains("BuildKit");
    // A missing source: exit 2 before anything runs, naming the secret and where it looked.
    let missing = repo.run(&["build", "secret", "--secret", &secret_arg]);
    missing.expect_code(2);
    let err = missing.stderr();
    assert!(err.contains("npm"), "{err}");
    assert!(err.contains("SDKIMAGE_E2E_NPM_TOKEN"), "{err}");
    assert!(!err.contains(&canary), "{err}");
}

/// Syntax newer than the engine's built-in frontend (heredocs, `COPY --link`) fails naming the
/// Dockerfile, the line and the reason.
#[test]
fn syntax_newer_than_the_engine_names_the_line_and_the_reason() {
    let repo = Repo::new("beam");
    repo.write(
        "sdks/newer/sdkimage.toml",
        "language = \"newer\"\nname = \"newer\"\n",
    );
    repo.write("sdks/newer/a", "a\n");
    for (dockerfile, line) in [
        (
            "FROM scratch\nCOPY --link a /a\n",
            "sdks/newer/Dockerfile:2: Unknown flag: link",
        ),
        (
            "FROM scratch\n\nCOPY <<EOT /a\nhello\nEOT\n",
            "sdks/newer/Dockerfile:4:",
        ),
    ] {
        repo.write("sdks/newer/Dockerfile", dockerfile);
        let run = repo.run(&["build", "newer", "--progress", "none"]);
        run.expect_code(1);
        let err = run.stderr();
        assert!(err.contains(line), "{err}");
        assert!(err.contains("built-in Dockerfile frontend"), "{err}");
    }
}
