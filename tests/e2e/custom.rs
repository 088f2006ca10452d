//! Custom images (`extends`, `[customize]`, `template`): the rendered Dockerfile, what it does
//! in the built image, the dependency on the SDK image it extends, and template errors.

use sdkimage::output::{DockerfileEntry, Event, EventKind};

use crate::support::images::sh_ok;
use crate::support::{Repo, Run, docker_run, parse_checked};

/// `dockerfile <selector> --message-format json`: the one entry it prints.
#[track_caller]
fn dockerfile_json(repo: &Repo, selector: &str) -> DockerfileEntry {
    let run = repo.run(&[
        "dockerfile",
        selector,
        "--repository-root",
        &repo.root,
        "--message-format",
        "json",
    ]);
    run.success();
    let mut entries: Vec<DockerfileEntry> = parse_checked("dockerfile", &run.stdout());
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries.remove(0)
}

/// `build extended --message-format json --progress none`, which must succeed.
fn build_extended(repo: &Repo) -> Run {
    let run = repo.run(&[
        "build",
        "extended",
        "--message-format",
        "json",
        "--progress",
        "none",
    ]);
    run.success();
    run
}

#[test]
fn extends_builds_on_our_sdk_image_and_customize_takes_effect() {
    let repo = Repo::new("custom");
    let sdk_ref = format!("{}/custom_python3.11_sdk:2.61.0", repo.root);
    // The rendered Dockerfile: FROM the SDK image's own ref, one line per customize entry.
    let entry = dockerfile_json(&repo, "extended");
    assert!(entry.rendered);
    assert_eq!(entry.name, "custom_extended");
    let lines: Vec<&str> = entry
        .dockerfile
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect();
    assert_eq!(
        lines,
        [
            format!("FROM {sdk_ref}").as_str(),
            r#"COPY ["files/settings.conf", "/etc/custom/settings.conf"]"#,
            r#"ENV EMPTY="""#,
            r#"ENV GREETING="hello custom""#,
            "WORKDIR /work",
            "RUN echo built-by-run > /opt/sdk/extra",
            "RUN mkdir -p /work && echo $GREETING > /work/greeting",
            "USER 65534",
        ]
    );
    // `extends` makes the SDK image a dependency: selecting the custom image builds it first.
    let listed = repo.list_json(&["extended"]);
    let names: Vec<&str> = listed.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        ["custom_base", "custom_python3.11_sdk", "custom_extended"]
    );
    assert_eq!(listed[2].depends_on, ["custom_python3.11_sdk"]);
    let events = build_extended(&repo).events();
    let at = |kind: EventKind, image: &str| {
        events
            .iter()
            .position(|e| e.kind() == kind && e.image() == Some(image))
            .unwrap_or_else(|| panic!("no {kind:?} of {image}: {events:?}"))
    };
    assert!(
        at(EventKind::BuildFinished, "custom_python3.11_sdk")
            < at(EventKind::BuildStarted, "custom_extended")
    );
    // What each customize key does, seen in the image.
    let image = format!("{}/custom_extended:2.61.0", repo.root);
    let seen = sh_ok(
        &image,
        "id -u; pwd; cat /work/greeting /opt/sdk/extra /etc/custom/settings.conf /opt/sdk/version; echo \"[$EMPTY]\"",
    );
    assert_eq!(
        seen,
        "65534\n/work\nhello custom\nbuilt-by-run\nanswer = 42\nsdk 3.11\n[]\n"
    );
    // The SDK image's entrypoint is kept.
    assert!(docker_run(&image).starts_with("boot: sdk 3.11"));
    // Unchanged: up to date. A changed SDK image rebuilds the custom image on it.
    let built = build_extended(&repo).images_of(EventKind::BuildFinished);
    assert!(built.is_empty(), "rebuilt {built:?}");
    repo.write(
        "sdks/python/boot.sh",
        "#!/bin/sh\necho \"boot v2: $(cat /opt/sdk/version)\"\n",
    );
    let built = build_extended(&repo).images_of(EventKind::BuildFinished);
    assert_eq!(built, ["custom_python3.11_sdk", "custom_extended"]);
}

#[test]
fn a_template_overrides_a_block() {
    let repo = Repo::new("custom");
    let text = repo.run(&["dockerfile", "override"]).success().stdout();
    // The overriding block, then the default's (`super()`), in place of the default alone.
    assert!(
        text.contains(
            "RUN echo \"override for custom_override\" > /opt/sdk/override\nRUN echo from-customize > /opt/sdk/customize\n"
        ),
        "{text}"
    );
    repo.run(&["build", "override", "--progress", "none"])
        .success();
    let image = format!("{}/custom_override:2.61.0", repo.root);
    assert_eq!(
        sh_ok(&image, "cat /opt/sdk/override /opt/sdk/customize"),
        "override for custom_override\nfrom-customize\n"
    );
}

#[test]
fn template_errors_name_the_file_and_line_and_build_nothing() {
    let repo = Repo::new("custom");
    repo.write(
        "custom/override/Dockerfile.j2",
        "{% extends \"sdkimage\" %}\n{% block commands %}\nRUN {{ image.name }}\nRUN {{ typo_here }}\n{% endblock %}\n",
    );
    let template = repo.file("custom/override/Dockerfile.j2");
    for args in [&["build", "override"][..], &["dockerfile", "override"]] {
        let run = repo.run(args);
        run.expect_code(2);
        let want = format!("{}:4:", template.display());
        assert!(
            run.stderr().contains(&want) && run.stderr().contains("undefined"),
            "{want} in:\n{}",
            run.stderr()
        );
    }
    // A syntax error, before anything runs.
    repo.write(
        "custom/override/Dockerfile.j2",
        "{% extends \"sdkimage\" %}\n{% block commands %}\n{% if %}\n{% endblock %}\n",
    );
    let run = repo.run(&["list"]);
    run.expect_code(2);
    run.assert_stderr_contains(&format!("{}:3:", template.display()));
}

#[test]
fn conflicting_or_unresolvable_bases_are_input_errors() {
    let repo = Repo::new("custom");
    let manifest = repo.file("custom/extended/sdkimage.toml");
    // A selector naming several images, and a value that is neither ours nor a reference.
    repo.write(
        "custom/extended/sdkimage.toml",
        "language = \"extended\"\nname = \"custom_extended\"\nextends = \"Not A Ref\"\n",
    );
    let run = repo.run(&["list"]);
    run.expect_code(2);
    assert!(
        run.stderr().contains(&format!("{}:3:", manifest.display()))
            && run.stderr().contains("neither one of our images"),
        "{}",
        run.stderr()
    );
    repo.write(
        "custom/extended/sdkimage.toml",
        "language = \"extended\"\nname = \"custom_extended\"\nextends = \"python:3.11\"\ndockerfile = \"Dockerfile\"\n",
    );
    let run = repo.run(&["list"]);
    run.expect_code(2);
    assert!(
        run.stderr().contains(&format!("{}:4:", manifest.display()))
            && run
                .stderr()
                .contains("`dockerfile` cannot be used with `extends` or `adapt`"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_base_that_looks_like_our_selector_but_matches_none_is_an_input_error() {
    let repo = Repo::new("custom");
    let manifest = repo.file("custom/extended/sdkimage.toml");
    let with_extends = |value: &str| {
        repo.write(
            "custom/extended/sdkimage.toml",
            &format!(
                "language = \"extended\"\nname = \"custom_extended\"\nextends = \"{value}\"\n"
            ),
        )
    };
    // Another version, and a typo: never Docker Hub's `python` without a word.
    for value in ["python:3.13", "python:3.1"] {
        with_extends(value);
        let run = repo.run(&["list"]);
        run.expect_code(2);
        let err = run.stderr();
        assert!(err.contains(&format!("{}:3:", manifest.display())), "{err}");
        assert!(
            err.contains("Known selectors: base, extended, override, python:3.11"),
            "{err}"
        );
        assert!(
            err.contains(&format!("`docker.io/library/{value}`")),
            "{err}"
        );
    }
    // An explicit registry stays external: no dependency, nothing of ours.
    with_extends("docker.io/library/python:3.13");
    let listed = repo.list_json(&["extended"]);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(listed[0].depends_on.is_empty(), "{listed:?}");
    // adapt.sdk names one of ours or nothing.
    repo.write(
        "custom/extended/sdkimage.toml",
        "language = \"extended\"\nname = \"custom_extended\"\nadapt = { base = \"docker.io/library/debian:12\", sdk = \"python:3.13\" }\n",
    );
    let run = repo.run(&["list"]);
    run.expect_code(2);
    run.assert_stderr_contains("adapt.sdk `python:3.13` matches none of our images. Known selectors: base, extended, override, python:3.11");
}

/// `build <args> --message-format json --progress none`.
fn build_json(repo: &Repo, args: &[&str]) -> crate::support::Run {
    let mut all = vec!["build"];
    all.extend(args);
    all.extend(["--message-format", "json", "--progress", "none"]);
    repo.run(&all)
}

/// The requirements of `image` that `events` report with `kind`.
fn requirements(events: &[sdkimage::output::Event], kind: EventKind, image: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.kind() == kind && e.image() == Some(image))
        .filter_map(|e| match e {
            Event::CheckPassed(c) | Event::CheckFailed(c) => Some(c.requirement.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_custom_image_inherits_its_sdk_contract_expanded_for_the_sdk() {
    let repo = Repo::new("custom");
    // Unchanged promises: every requirement of the SDK's contract holds for the custom image.
    let run = build_json(&repo, &["extended", "--check"]);
    run.success();
    let passed = requirements(&run.events(), EventKind::CheckPassed, "custom_extended");
    for want in [
        "entrypoint /opt/sdk/boot",
        "artifact /opt/sdk",
        "tool python3",
        "command cat /opt/sdk/version",
    ] {
        assert!(passed.iter().any(|p| p == want), "{want} not in {passed:?}");
    }
    // A custom image that breaks the SDK's version promise (`sdk {variant}`, expanded for the
    // SDK image: `sdk 3.11`) fails its check; the SDK image itself passes.
    repo.write(
        "custom/override/sdkimage.toml",
        "language = \"override\"\nname = \"custom_override\"\nextends = \"python:3.11\"\n[customize]\nrun = [\"echo 'sdk 9.9' > /opt/sdk/version\"]\n",
    );
    let run = build_json(&repo, &["override", "--check"]);
    run.expect_code(1);
    let events = run.events();
    assert_eq!(
        requirements(&events, EventKind::CheckFailed, "custom_override"),
        ["command cat /opt/sdk/version"],
        "{}",
        run.stdout()
    );
    let violation = events
        .iter()
        .find_map(|e| match e {
            Event::CheckFailed(c) if c.subject.image == "custom_override" => Some(c),
            _ => None,
        })
        .expect("a check-failed event");
    assert!(
        violation.message.contains("sdk 3.11") && violation.output.contains("sdk 9.9"),
        "{violation:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.kind() == EventKind::Failed && e.image() == Some("custom_override")),
        "{}",
        run.stdout()
    );
    assert!(requirements(&events, EventKind::CheckFailed, "custom_python3.11_sdk").is_empty());
}

#[test]
fn adapt_onto_a_base_without_python3_fails_saying_what_is_missing() {
    let repo = Repo::new("custom");
    repo.write(
        "custom/adapted/sdkimage.toml",
        "# The SDK's artifacts on the bare base, which has no python3.\nlanguage = \"adapted\"\nname = \"custom_adapted\"\nadapt = { base = \"base\", sdk = \"python:3.11\" }\n",
    );
    let entry = dockerfile_json(&repo, "adapted");
    let lines: Vec<&str> = entry
        .dockerfile
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect();
    assert_eq!(
        lines,
        [
            format!("FROM {}/custom_python3.11_sdk:2.61.0 AS sdk", repo.root).as_str(),
            format!("FROM {}/custom_base:2.61.0", repo.root).as_str(),
            r#"COPY --from=sdk ["/opt/sdk", "/opt/sdk"]"#,
            r#"ENTRYPOINT ["/opt/sdk/boot"]"#,
        ]
    );
    // No --check: an adapt image is always checked after its build.
    let run = build_json(&repo, &["adapted"]);
    run.expect_code(1);
    let events = run.events();
    assert_eq!(
        requirements(&events, EventKind::CheckFailed, "custom_adapted"),
        ["tool python3"],
        "{}",
        run.stdout()
    );
    let violation = events
        .iter()
        .find(|e| e.kind() == EventKind::CheckFailed && e.image() == Some("custom_adapted"))
        .expect("a check-failed event");
    let message = violation.message().unwrap_or("");
    assert!(
        message.contains("python3 is not on the image's PATH"),
        "{message}"
    );
    let failed = events
        .iter()
        .find(|e| e.kind() == EventKind::Failed && e.image() == Some("custom_adapted"))
        .expect("the adapt image failed");
    assert!(
        failed.message().unwrap_or("").contains("tool python3"),
        "{failed:?}"
    );
    // What the SDK's artifacts and entrypoint brought does work on the base.
    assert!(
        requirements(&events, EventKind::CheckPassed, "custom_adapted")
            .contains(&"entrypoint /opt/sdk/boot".to_string())
    );
    // An SDK without a contract cannot be adapted: nothing says what to copy.
    repo.write(
        "custom/adapted/sdkimage.toml",
        "language = \"adapted\"\nname = \"custom_adapted\"\nadapt = { base = \"python:3.11\", sdk = \"base\" }\n",
    );
    let run = repo.run(&["list"]);
    run.expect_code(2);
    run.assert_stderr_contains("declares no [contract]");
}
