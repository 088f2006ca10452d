//! The habits users bring (issue 15): a repository that is no Cargo workspace
//! (`sdkimage-workspace.toml`, Beam's layout), runs from a member folder, cargo's flags,
//! `push --metadata-file`, completions, the man page and `init`.

use std::collections::BTreeSet;

use sdkimage::output::EventKind;

use crate::support::{
    RegistryApi, Repo, Run, docker_image_id, docker_run, read_metadata, run_sdkimage,
};

/// `cargo-sdkimage sdkimage <args>` in `rel` below the repo, with the repo's repository root
/// for the commands that name images.
fn run_in(repo: &Repo, rel: &str, args: &[&str]) -> Run {
    let mut all = args.to_vec();
    if args
        .iter()
        .any(|a| ["build", "list", "push", "verify"].contains(a))
    {
        all.extend(["--repository-root", &repo.root]);
    }
    run_sdkimage(&repo.file(rel), &all, &[])
}

fn names_of(run: &Run) -> Vec<String> {
    run.list().into_iter().map(|e| e.name).collect()
}

fn built_names(run: &Run) -> BTreeSet<String> {
    run.events_of(EventKind::BuildFinished)
        .into_iter()
        .filter_map(|e| e.image().map(str::to_string))
        .collect()
}

#[test]
fn beam_layout_without_cargo_builds_from_the_root_and_from_a_member_folder() {
    let repo = Repo::in_registry("beam-standalone");
    assert!(!repo.file("Cargo.toml").exists());
    let python = ["beam_base", "beam_python3.10_sdk", "beam_python3.11_sdk"];

    // `list` in a member folder shows what `build` there selects: what is below it, and
    // what that depends on.
    let list = run_in(&repo, "sdks/python", &["list", "--message-format", "json"]);
    assert_eq!(names_of(list.success()), python);
    let all = run_in(&repo, "", &["list", "--message-format", "json"]);
    let all = all.success().list();
    assert_eq!(all.len(), 4);
    // The version comes from sdkimage-workspace.toml.
    let go = all.iter().find(|e| e.name == "beam_go_sdk").unwrap();
    assert_eq!(go.refs, [repo.image_ref("beam_go_sdk", "2.61.0")]);

    let run = run_in(
        &repo,
        "sdks/python",
        &["build", "--message-format", "json", "--progress", "plain"],
    );
    run.success();
    assert_eq!(built_names(&run), python.map(String::from).into());
    assert_eq!(run.summary().built, 3);
    let out = docker_run(&repo.image_ref("beam_python3.11_sdk", "2.61.0"));
    assert!(out.contains("beam boot: python 3.11"), "{out}");
    // Without cargo, the state lives in <root>/target/sdkimage.
    assert!(repo.file("target/sdkimage/logs").is_dir());

    // At the root: everything; only go is new.
    let run = run_in(&repo, "", &["build", "--message-format", "json"]);
    run.success();
    assert_eq!(
        built_names(&run),
        BTreeSet::from(["beam_go_sdk".to_string()])
    );
    assert_eq!(run.summary().up_to_date, 3);
    assert!(docker_run(&repo.image_ref("beam_go_sdk", "2.61.0")).contains("beam boot: go"));

    // `push --metadata-file` from go's folder: go and its base, with the pushed digests.
    let meta = repo.file("pushed.json");
    let run = run_in(
        &repo,
        "sdks/go/container",
        &[
            "push",
            "--message-format",
            "json",
            "--metadata-file",
            meta.to_str().unwrap(),
        ],
    );
    run.success();
    assert_eq!(run.summary().pushed, 2);
    let written = read_metadata(&meta);
    assert_eq!(
        written.keys().cloned().collect::<Vec<_>>(),
        ["beam_base", "beam_go_sdk"]
    );
    for (name, entry) in &written {
        let reference = repo.image_ref(name, "2.61.0");
        assert!(entry.pushed, "{name}: {entry:?}");
        assert_eq!(entry.refs, std::slice::from_ref(&reference));
        assert_eq!(entry.id, docker_image_id(&reference), "{name}");
        assert_eq!(entry.digest, RegistryApi::digest(&reference), "{name}");
        assert!(entry.digest.is_some(), "{name}");
    }
    // The file is one `verify --from-metadata` reads.
    run_in(
        &repo,
        "",
        &["verify", "--from-metadata", meta.to_str().unwrap()],
    )
    .success();
}

#[test]
fn cargo_sdkimage_runs_with_no_cargo_toml_and_takes_flags_before_the_subcommand() {
    let repo = Repo::new("beam-standalone");
    let bin_dir = std::path::Path::new(crate::support::BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = crate::support::checked_text(
        std::process::Command::new(cargo)
            .args(["sdkimage", "-vv", "list", "--message-format", "json"])
            .current_dir(repo.file("sdks/go"))
            .env("PATH", path)
            .env_remove("CARGO_TARGET_DIR"),
    );
    let list = crate::support::parse_list(&out);
    let names: Vec<&str> = list.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["beam_base", "beam_go_sdk"]);

    // --manifest-path names the file; the folder of that file is where the run starts from.
    let file = repo.file("sdkimage-workspace.toml");
    for dir in [std::env::temp_dir(), repo.file("sdks/go")] {
        let args = [
            "list",
            "--message-format",
            "json",
            "--manifest-path",
            file.to_str().unwrap(),
        ];
        assert_eq!(run_sdkimage(&dir, &args, &[]).success().list().len(), 4);
    }
    let args = [
        "list",
        "--manifest-path",
        "../nothere/sdkimage-workspace.toml",
    ];
    let run = run_sdkimage(&repo.file("sdks/go"), &args, &[]);
    run.expect_code(2);
    run.assert_stderr_contains("no such file");

    // -v, -q and --color before the subcommand as after it; -v and -q exclude each other.
    for args in [
        &["-q", "--color", "never", "list"][..],
        &["list", "-v", "--color=always"],
        &["-v", "-v", "list"],
    ] {
        run_in(&repo, "", args).success();
    }
    let run = run_in(&repo, "", &["-v", "-q", "list"]);
    run.expect_code(2);
    run.assert_stderr_contains("cannot be used with");

    // -vv adds the engine's raw stream to the log; without it there is none.
    let run = run_in(&repo, "", &["-vv", "build", "base", "--progress", "plain"]);
    run.success();
    run.assert_stderr_contains("engine: BuildInfo");
    let run = run_in(&repo, "", &["build", "go", "--progress", "plain", "-v"]);
    run.success();
    run.assert_stderr_contains("[go]");
    assert!(
        !run.stderr().contains("engine: BuildInfo"),
        "{}",
        run.stderr()
    );
}

#[test]
fn settings_in_both_files_are_refused_and_one_file_is_used() {
    let repo = Repo::new("beam-standalone");
    let list =
        |rel: &str| run_sdkimage(&repo.file(rel), &["list", "--message-format", "json"], &[]);
    repo.write(
        "Cargo.toml",
        "[workspace]\nmembers = []\n\n[workspace.package]\nversion = \"9.9.9\"\n\n[workspace.metadata.sdkimage]\nrepository-root = \"from-cargo\"\n",
    );
    for rel in ["", "sdks/python/container"] {
        let run = list(rel);
        run.expect_code(2);
        let err = run.stderr();
        let ws_file = repo.file("sdkimage-workspace.toml");
        let cargo_file = repo.file("Cargo.toml");
        assert!(err.contains(&ws_file.display().to_string()), "{err}");
        assert!(err.contains(&cargo_file.display().to_string()), "{err}");
        assert!(err.contains("repository-root"), "{err}");
    }
    // Keys in Cargo.toml only: those, with cargo's version.
    repo.write("sdkimage-workspace.toml", "# the root\n");
    let run = list("");
    let refs: Vec<String> = run
        .success()
        .list()
        .into_iter()
        .flat_map(|e| e.refs)
        .collect();
    assert!(
        refs.contains(&"from-cargo/beam_go_sdk:9.9.9".to_string()),
        "{refs:?}"
    );
    // Keys in the file only: the file's (the version still cargo's when the file has none).
    repo.write(
        "Cargo.toml",
        "[workspace]\nmembers = []\n\n[workspace.package]\nversion = \"9.9.9\"\n",
    );
    repo.write(
        "sdkimage-workspace.toml",
        "repository-root = \"from-file\"\n",
    );
    let refs: Vec<String> = list("")
        .success()
        .list()
        .into_iter()
        .flat_map(|e| e.refs)
        .collect();
    assert!(
        refs.contains(&"from-file/beam_go_sdk:9.9.9".to_string()),
        "{refs:?}"
    );
    // A Cargo workspace nested below the root is a workspace of its own, from inside it; from
    // the root, discovery skips it.
    repo.write(
        "sdks/rust/Cargo.toml",
        "[workspace]\nmembers = []\n\n[workspace.metadata.sdkimage]\nrepository-root = \"rusty\"\ntags = [\"1\"]\n",
    );
    repo.write(
        "sdks/rust/container/sdkimage.toml",
        "language = \"rust\"\nname = \"rust_sdk\"\n",
    );
    repo.write("sdks/rust/container/Dockerfile", "FROM scratch\n");
    let nested: Vec<String> = list("sdks/rust/container")
        .success()
        .list()
        .into_iter()
        .flat_map(|e| e.refs)
        .collect();
    assert_eq!(nested, ["rusty/rust_sdk:1"]);
    assert_eq!(list("sdks/go").success().list().len(), 2);
    assert_eq!(list("").success().list().len(), 4);
    // `version` belongs to sdkimage-workspace.toml, not to cargo's metadata.
    repo.write(
        "Cargo.toml",
        "[workspace]\nmembers = []\n\n[workspace.metadata.sdkimage]\nversion = \"1.0\"\n",
    );
    repo.write("sdkimage-workspace.toml", "");
    let run = list("");
    run.expect_code(2);
    run.assert_stderr_contains("Cargo.toml:5:11");
    run.assert_stderr_contains("[workspace.package] version");
}

#[test]
fn without_cargo_what_needs_cargo_says_so_and_bad_keys_point_at_the_file() {
    let repo = Repo::new("beam-standalone");
    let ws_file = repo.file("sdkimage-workspace.toml").display().to_string();
    // `{version}` with no version and no cargo to take it from.
    repo.write("sdkimage-workspace.toml", "tags = [\"{version}\"]\n");
    let run = repo.run(&["list"]);
    run.expect_code(2);
    run.assert_stderr_contains("no version");
    run.assert_stderr_contains(&format!("`version = \"...\"` in {ws_file}"));
    // An unknown key, at its line.
    repo.write(
        "sdkimage-workspace.toml",
        "version = \"1\"\nrepo-root = \"x\"\n",
    );
    let run = repo.run(&["list"]);
    run.expect_code(2);
    run.assert_stderr_contains(&format!("{ws_file}:2:1"));
    // A `cargo` license source.
    repo.write("sdkimage-workspace.toml", "version = \"1\"\n");
    repo.write(
        "sdks/go/boot/Cargo.toml",
        "[package]\nname = \"boot\"\nversion = \"0.1.0\"\n",
    );
    repo.write(
        "sdks/go/container/sdkimage.toml",
        "language = \"go\"\nname = \"beam_go_sdk\"\n[licenses]\ndest = \"/opt/licenses\"\nsources = [{ kind = \"cargo\", manifest = \"../boot/Cargo.toml\" }]\n",
    );
    let out = repo.file("licenses-out");
    let run = repo.run(&["licenses", "go", "--out", out.to_str().unwrap()]);
    run.expect_code(2);
    let err = run.stderr();
    assert!(err.contains("sdks/go/container/sdkimage.toml"), "{err}");
    assert!(err.contains("needs cargo"), "{err}");
    assert!(!out.exists());
    let run = repo.run(&["build", "go", "--pull-licenses"]);
    run.expect_code(2);
    run.assert_stderr_contains("needs cargo");
}

#[test]
fn init_writes_a_manifest_that_loads_and_never_overwrites() {
    let repo = Repo::new("beam-standalone");
    let manifest = repo.file("sdks/java/container/sdkimage.toml");
    assert!(!manifest.exists());
    let run = run_sdkimage(&repo.file("sdks/java/container"), &["init"], &[]);
    run.success();
    let err = run.stderr();
    for said in [
        "guessed language `java`",
        "java_version",
        "BASE_IMAGE",
        "wrote",
    ] {
        assert!(err.contains(said), "`{said}` in:\n{err}");
    }
    let text = std::fs::read_to_string(&manifest).unwrap();
    assert!(
        text.contains("\"11\" = { java_version = \"11\" }"),
        "{text}"
    );
    // It loads: `list` shows it, with its variant.
    let list = repo.list_json(&[]);
    let java = list
        .iter()
        .find(|e| e.language == "java")
        .expect("java listed");
    assert_eq!(java.name, "java11_sdk");
    assert_eq!(java.variant.as_deref(), Some("11"));
    // Never overwrites: an existing manifest is exit 2, and stays as it was.
    repo.write(
        "sdks/java/container/sdkimage.toml",
        "# mine\nlanguage = \"java\"\nname = \"j\"\n",
    );
    let run = repo.run(&["init", "sdks/java/container"]);
    run.expect_code(2);
    run.assert_stderr_contains("exists already");
    assert!(
        std::fs::read_to_string(&manifest)
            .unwrap()
            .starts_with("# mine")
    );
    // Beam's Python Dockerfile: `ARG py_version` without a default, `FROM ${BASE_IMAGE}`.
    std::fs::remove_file(repo.file("sdks/python/container/sdkimage.toml")).unwrap();
    repo.run(&["init", "sdks/python/container"]).success();
    let text = std::fs::read_to_string(repo.file("sdks/python/container/sdkimage.toml")).unwrap();
    assert!(
        text.contains("# [variants]\n# \"3.11\" = { py_version = \"3.11\" }"),
        "{text}"
    );
    assert!(text.contains("# BASE_IMAGE = \"...\""), "{text}");
    let list = repo.list_json(&["python"]);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].name, "python_sdk");
    // No Dockerfile: exit 2, nothing written.
    let run = repo.run(&["init", "sdks"]);
    run.expect_code(2);
    run.assert_stderr_contains("Dockerfile");
    assert!(!repo.file("sdks/sdkimage.toml").exists());
}

#[test]
fn completions_and_the_man_page_are_printed() {
    let repo = Repo::new("beam-standalone");
    for shell in ["bash", "zsh", "fish"] {
        let run = repo.run(&["completions", shell]);
        run.success();
        let out = run.stdout();
        for word in ["cargo-sdkimage", "init", "metadata-file", "repository-root"] {
            assert!(out.contains(word), "{shell}: `{word}` in:\n{out}");
        }
    }
    repo.run(&["completions", "tcsh"]).expect_code(2);
    let run = repo.run(&["man"]);
    run.success();
    let out = run.stdout();
    assert!(out.contains(".TH cargo-sdkimage 1"), "{out}");
    for word in ["completions", "init", "verify"] {
        assert!(out.contains(word), "`{word}` in:\n{out}");
    }
}
