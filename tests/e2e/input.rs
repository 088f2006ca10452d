//! Invalid input: every problem named at `file:line:col`, exit 2, nothing built.

use sdkimage::output::EventKind;

use crate::support::{BIN, Repo, checked_stdout, parse_list, run_sdkimage};

#[test]
fn list_shows_the_expanded_images_as_a_table_and_as_json() {
    let repo = Repo::new("beam");
    let run = repo.run(&["list", "--tag", "2.26.0-custom", "--message-format", "json"]);
    run.success();
    let list = run.list();
    let names: Vec<&str> = list.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "beam_base",
            "beam_go_sdk",
            "beam_python3.10_sdk",
            "beam_python3.11_sdk"
        ]
    );
    let py = &list[3];
    assert_eq!(py.language, "python");
    assert_eq!(py.variant.as_deref(), Some("3.11"));
    assert_eq!(
        py.refs[0],
        format!("{}/beam_python3.11_sdk:2.26.0-custom", repo.root)
    );
    assert_eq!(py.manifest, "sdks/python/container/sdkimage.toml");
    assert_eq!(py.depends_on[0], "beam_base");

    let run = repo.run(&["list", "go"]);
    run.success();
    let out = run.stdout();
    assert!(out.starts_with("IMAGE"), "{out}");
    assert!(
        out.contains("beam_go_sdk") && out.contains("beam_base"),
        "{out}"
    );
    assert!(!out.contains("python"), "{out}");
}

#[test]
fn defaults_come_from_the_workspace_metadata() {
    let repo = Repo::new("beam");
    let list = repo.list_json(&["--repository-root=", "python:3.10"]);
    // An empty --repository-root means no root at all.
    assert_eq!(list[1].refs[0], "beam_python3.10_sdk:2.61.0");
    let run = crate::support::tool()
        .args([
            "sdkimage",
            "list",
            "--message-format",
            "json",
            "python:3.10",
        ])
        .current_dir(repo.path())
        .output()
        .unwrap();
    let list = parse_list(&String::from_utf8_lossy(&run.stdout));
    assert_eq!(list[1].refs[0], "apache/beam_python3.10_sdk:2.61.0");
}

#[test]
fn runs_as_a_cargo_subcommand_and_with_manifest_path() {
    let repo = Repo::new("beam");
    let bin_dir = std::path::Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = checked_stdout(
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "sdkimage",
                "list",
                "--message-format",
                "json",
                "--manifest-path",
            ])
            .arg(repo.file("Cargo.toml"))
            .current_dir(std::env::temp_dir())
            .env("PATH", path),
    );
    let list = parse_list(&String::from_utf8_lossy(&out));
    assert_eq!(list.len(), 4);
    // Without the `sdkimage` word too.
    checked_stdout(
        crate::support::tool()
            .args(["list", "--manifest-path"])
            .arg(repo.file("Cargo.toml")),
    );
}

#[test]
fn unknown_selector_lists_what_exists() {
    let repo = Repo::new("beam");
    let run = repo.run(&["build", "java"]);
    run.expect_code(2);
    let err = run.stderr();
    assert!(err.contains("no image matches `java`"), "{err}");
    for known in ["python:3.11", "beam_go_sdk", "base"] {
        assert!(err.contains(known), "{err}");
    }
}

/// Write `text` as the go manifest and expect exit 2 with each of `expected` in stderr.
fn expect_invalid(repo: &Repo, manifest: &str, text: &str, expected: &[&str]) {
    repo.write(manifest, text);
    let run = repo.run(&["list"]);
    run.expect_code(2);
    let err = run.stderr();
    for e in expected {
        assert!(err.contains(e), "expected `{e}` in:\n{err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

const GO: &str = "sdks/go/container/sdkimage.toml";

#[test]
fn manifest_errors_name_file_line_and_column_all_at_once() {
    let repo = Repo::new("beam");
    expect_invalid(
        &repo,
        GO,
        "language = \"go\"\nname = \"beam_go{varient}_sdk\"\nfrobnicate = true\ndockerfile = \"Nope\"\n[build-args]\nX = 1\n",
        &[
            "sdks/go/container/sdkimage.toml:2:16: name: unknown placeholder `{varient}`",
            "sdks/go/container/sdkimage.toml:3:1: unknown key `frobnicate`",
            "sdks/go/container/sdkimage.toml:4:14: dockerfile `Nope` does not exist",
            "sdks/go/container/sdkimage.toml:6:5: `build-args`: invalid type: integer `1`, expected a string",
        ],
    );
    expect_invalid(
        &repo,
        GO,
        "language = \"go\"\nname = \"beam_go_sdk\"\n[build-args]\nA = \"{tag\"\n",
        &["4:6: build arg `A`: unclosed placeholder"],
    );
    expect_invalid(
        &repo,
        GO,
        "language = \"go\"\nname = \"beam_go_sdk\"\ncontext = \"../../../..\"\n",
        &["3:11: context `../../../..` leaves the workspace root"],
    );
    expect_invalid(
        &repo,
        GO,
        "language = \"go\"\nname = \"Beam_Go\"\n",
        &["2:8: image name `Beam_Go`", "uppercase"],
    );
    expect_invalid(
        &repo,
        GO,
        "language = \"go\"\nname = \"beam_go_sdk\"\ndepends-on = [\"java\"]\n",
        &["3:15: depends-on `java` names nothing"],
    );
    expect_invalid(
        &repo,
        GO,
        "language = \"go\"\nname = \"beam_base\"\n",
        &["image name `beam_base` is also produced by"],
    );
    expect_invalid(
        &repo,
        GO,
        "language = \"go\"\nname = \"beam_go_sdk\"\ndepends-on = [\"python\"]\n[build-args]\nX = \"{version\"\n",
        &["unclosed placeholder"],
    );
    expect_invalid(
        &repo,
        GO,
        "language = \"go\nname = 1\n",
        &["sdks/go/container/sdkimage.toml:1:"],
    );
    // A cycle through two manifests.
    repo.write("sdks/base/sdkimage.toml", "language = \"base\"\nname = \"beam_base\"\ndepends-on = [\"go\"]\n[[copy]]\nfrom = \"../../vendor/busybox\"\nto = \"busybox\"\n");
    expect_invalid(
        &repo,
        GO,
        "language = \"go\"\nname = \"beam_go_sdk\"\ndepends-on = [\"base\"]\n",
        &["depends-on makes a cycle: beam_base -> beam_go_sdk -> beam_base"],
    );
}

#[cfg(unix)]
#[test]
fn a_symlink_out_of_the_workspace_is_rejected() {
    let repo = Repo::new("beam");
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("Dockerfile"), "FROM scratch\n").unwrap();
    std::os::unix::fs::symlink(outside.path(), repo.file("sdks/go/container/ext")).unwrap();
    expect_invalid(
        &repo,
        GO,
        "language = \"go\"\nname = \"beam_go_sdk\"\ndockerfile = \"ext/Dockerfile\"\n",
        &["3:14: dockerfile `ext/Dockerfile` leaves the workspace root through a symlink"],
    );
}

#[test]
fn bad_workspace_metadata_and_flags() {
    let repo = Repo::new("beam");
    let cargo = std::fs::read_to_string(repo.file("Cargo.toml")).unwrap();
    repo.write(
        "Cargo.toml",
        &cargo.replace(
            "tags = [\"{version}\"]",
            "tags = [\"{version}\"]\nregistry = \"x\"",
        ),
    );
    let run = repo.run(&["list"]);
    run.expect_code(2);
    run.assert_stderr_contains("Cargo.toml:14:1: unknown field `registry`");
    repo.write("Cargo.toml", &cargo);

    let run = repo.run(&["list", "--tag=-rc1"]);
    run.expect_code(2);
    run.assert_stderr_contains("tag `-rc1` is not valid");
    let run = repo.run(&["list", "--repository-root", "Example/Repo"]);
    run.expect_code(2);
    assert!(
        run.stderr().contains("`Example`") && run.stderr().contains("uppercase"),
        "{}",
        run.stderr()
    );
    let run = repo.run(&["build", "--jobs", "many"]);
    run.expect_code(2);
}

#[test]
fn workspace_tags_and_repository_root_errors_are_located() {
    let repo = Repo::new("beam");
    let cargo = std::fs::read_to_string(repo.file("Cargo.toml")).unwrap();
    for (from, to, expected) in [
        (
            "tags = [\"{version}\"]",
            "tags = [\"{version}\", \"bad tag\"]",
            "Cargo.toml:13:22: tags: tag `bad tag` is not valid",
        ),
        (
            "repository-root = \"apache\"",
            "repository-root = \"localhost:5000/review/\"",
            "Cargo.toml:12:19: repository-root: empty path component in `localhost:5000/review/`: drop the trailing `/`",
        ),
    ] {
        repo.write("Cargo.toml", &cargo.replace(from, to));
        let run = repo.run(&["list"]);
        run.expect_code(2);
        run.assert_stderr_contains(expected);
    }
}

#[test]
fn a_repository_root_flag_with_an_empty_path_component_is_rejected() {
    let repo = Repo::new("beam");
    for (root, fix) in [
        ("localhost:5000/review/", "drop the trailing `/`"),
        ("a//b", "write a single `/` between path components"),
        ("//", "drop the leading `/`"),
    ] {
        let run = repo.run(&["list", "--repository-root", root]);
        run.expect_code(2);
        let expected =
            format!("--repository-root `{root}`: empty path component in `{root}`: {fix}");
        run.assert_stderr_contains(&expected);
    }
}

#[test]
fn json_mode_reports_invalid_input_as_an_error_event() {
    let repo = Repo::new("beam");
    let run = repo.run(&["build", "nothing-here", "--message-format", "json"]);
    run.expect_code(2);
    let events = run.events();
    assert_eq!(events.len(), 1);
    assert!(run.stdout().starts_with(r#"{"schema":1,"event":"error","#));
    assert_eq!(events[0].kind(), EventKind::Error);
    assert!(events[0].message().unwrap().contains("nothing-here"));
}

#[test]
fn an_unreachable_engine_is_one_sentence_and_exit_3() {
    let repo = Repo::new("beam");
    let out = crate::support::tool()
        .args(["sdkimage", "build", "go"])
        .current_dir(repo.path())
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "cannot reach the Docker engine at unix:///nonexistent/docker.sock (DOCKER_HOST)"
        ),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // Nothing ran: the prepare step of python would have written out/.
    assert!(!repo.file("out").exists());
}

#[test]
fn dry_run_touches_nothing() {
    let repo = Repo::new("beam");
    let run = repo.run(&["build", "python:3.11", "--dry-run", "--tag", "rc1"]);
    run.success();
    let out = run.stdout();
    assert!(out.contains("prepare  python: sh -c"), "{out}");
    assert!(
        out.contains("build    base:") && out.contains("build    python:3.11:"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "tag      python:3.11: {}/beam_python3.11_sdk:rc1",
            repo.root
        )),
        "{out}"
    );
    assert!(out.find("build    base:").unwrap() < out.find("build    python:3.11:").unwrap());
    assert!(
        !repo.file("out").exists(),
        "prepare must not run under --dry-run"
    );
    assert!(!repo.file("target/sdkimage").exists());
    assert!(
        repo.image_id(&format!("{}/beam_base:rc1", repo.root))
            .is_none()
    );
}

#[test]
fn a_platform_other_than_the_engines_is_invalid() {
    let repo = Repo::new("beam");
    repo.write(
        GO,
        "language = \"go\"\nname = \"beam_go_sdk\"\nbuilder = \"classic\"\nplatforms = [\"linux/s390x\"]\n",
    );
    let run = repo.run(&["build", "go"]);
    run.expect_code(2);
    run.assert_stderr_contains("sdkimage.toml:4:14: platform `linux/s390x` cannot be built");
}

#[test]
fn a_registry_host_is_a_valid_repository_root_and_names_may_nest() {
    let repo = Repo::new("beam");
    repo.write(GO, "language = \"go\"\nname = \"beam/go_sdk\"\n");
    let list = repo.list_json(&["--repository-root", "localhost:5000", "beam/go_sdk"]);
    assert_eq!(list[0].refs[0], "localhost:5000/beam/go_sdk:2.61.0");
    // A folder above several manifests selects them all.
    let list = repo.list_json(&["sdks/python"]);
    assert_eq!(list.len(), 3, "{list:?}");
}

#[test]
fn promote_needs_target_tags_other_than_its_source() {
    let repo = Repo::new("beam");
    let run = repo.run(&["promote", "--from-tag", "rc1", "--tag", "rc1"]);
    run.expect_code(2);
    run.assert_stderr_contains("--tag rc1 is the tag being promoted");
}

#[test]
fn a_manifest_that_is_not_utf8_is_invalid_input() {
    let repo = Repo::new("beam");
    std::fs::write(repo.file(GO), b"language = \"go\"\nname = \"x\xff\"\n").unwrap();
    let run = repo.run(&["list"]);
    run.expect_code(2);
    run.assert_stderr_contains("sdks/go/container/sdkimage.toml:2:10: the file is not valid UTF-8");
}

/// A workspace with no `sdkimage.toml` anywhere: the commands that need images are exit 2
/// pointing at `init`; `list` succeeds with the same line on stderr (nothing is listed).
#[test]
fn an_empty_workspace_points_at_init() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("sdkimage-workspace.toml"),
        "version = \"1.0.0\"\nrepository-root = \"localhost:5000/empty\"\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("docs")).unwrap();
    let root = dir.path().canonicalize().unwrap();
    let expected = format!(
        "no sdkimage.toml found under {}; run `cargo sdkimage init <dir>`",
        root.display()
    );
    let commands: [&[&str]; 8] = [
        &["build"],
        &["licenses", "--out", "licenses-out"],
        &["build", "--dry-run"],
        &["push"],
        &["verify"],
        &["promote", "--from-tag", "rc1", "--tag", "1.0.0"],
        &["check"],
        &["dockerfile"],
    ];
    for args in commands {
        let run = run_sdkimage(dir.path(), args, &[]);
        run.expect_code(2);
        assert!(
            run.stderr().contains(&expected),
            "{args:?}: {}",
            run.stderr()
        );
    }
    // In JSON mode it is the error event, as any input error.
    let run = run_sdkimage(dir.path(), &["build", "--message-format", "json"], &[]);
    run.expect_code(2);
    let events = run.events();
    assert_eq!(events[0].kind(), EventKind::Error);
    assert_eq!(events[0].message(), Some(expected.as_str()));
    // From a folder below the root, the root is named.
    let run = run_sdkimage(&dir.path().join("docs"), &["build"], &[]);
    run.expect_code(2);
    run.assert_stderr_contains(&expected);

    let list = run_sdkimage(dir.path(), &["list"], &[]);
    list.success();
    list.assert_stderr_contains(&expected);
    let list = run_sdkimage(dir.path(), &["list", "--message-format", "json"], &[]);
    list.success();
    assert!(list.list().is_empty());
    list.assert_stderr_contains(&expected);
}
