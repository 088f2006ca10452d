//! What a new user meets first: platforms checked before anything runs, flag and manifest
//! messages, completions and man pages, secret-looking values masked, refusals of the guarded
//! reader (issue 19: items 4, 7, 13, 14, 16, 18, 20).

use crate::support::{Repo, checked_stdout, checked_text, docker, tool};

/// Every subcommand.
const COMMANDS: [&str; 12] = [
    "list",
    "build",
    "push",
    "verify",
    "promote",
    "licenses",
    "check",
    "dockerfile",
    "diff",
    "init",
    "completions",
    "man",
];

/// A `FROM scratch` image of the beam fixture, `sdks/solo`, with nothing to run (so any
/// platform builds without emulation).
fn solo(repo: &Repo, extra: &str) {
    std::fs::create_dir_all(repo.file("sdks/solo")).unwrap();
    std::fs::copy(repo.file("vendor/busybox"), repo.file("sdks/solo/busybox")).unwrap();
    repo.write(
        "sdks/solo/Dockerfile",
        "FROM scratch\nCOPY busybox /bin/busybox\n",
    );
    repo.write(
        "sdks/solo/sdkimage.toml",
        &format!("language = \"solo\"\nname = \"solo\"\n{extra}"),
    );
}

fn arch(reference: &str) -> String {
    docker(&[
        "image",
        "inspect",
        "--format",
        "{{.Architecture}}",
        reference,
    ])
    .trim()
    .to_string()
}

#[test]
fn a_foreign_platform_never_takes_the_plain_local_tag() {
    let repo = Repo::new("beam");
    solo(&repo, "");
    let plain = format!("{}/solo:1.0", repo.root);
    repo.run(&["build", "solo", "--tag", "1.0", "--progress", "none"])
        .success();
    let native = repo.image_id(&plain).expect("built");
    repo.run(&[
        "build",
        "solo",
        "--tag",
        "1.0",
        "--platform",
        "linux/arm64",
        "--progress",
        "none",
    ])
    .success();
    assert_eq!(repo.image_id(&plain), Some(native), "the plain tag moved");
    assert_eq!(arch(&plain), "amd64");
    assert_eq!(arch(&format!("{plain}-linux-arm64")), "arm64");
}

#[test]
fn a_mistyped_platform_is_refused_before_anything_runs_with_the_known_values_near_it() {
    let repo = Repo::new("beam");
    solo(&repo, "");
    let run = repo.run(&["build", "solo", "--platform", "linux/amd46"]);
    run.expect_code(2);
    run.assert_stderr_contains("did you mean linux/amd64?");
    assert!(
        repo.image_id(&format!("{}/solo:2.61.0", repo.root))
            .is_none()
    );
    // The manifest's and the workspace's at file:line:col.
    solo(&repo, "platforms = [\"linux/amd46\"]\n");
    let run = repo.run(&["list", "solo"]);
    run.expect_code(2);
    assert!(
        run.stderr().contains(
            "sdks/solo/sdkimage.toml:3:14: platforms: platform \"linux/amd46\" is not a known platform; did you mean linux/amd64?"
        ),
        "{}",
        run.stderr()
    );
    solo(&repo, "");
    repo.append_line("Cargo.toml", "platforms = [\"linux/arm/v9\"]");
    let run = repo.run(&["list", "solo"]);
    run.expect_code(2);
    assert!(
        run.stderr().contains("Cargo.toml:14:14: platforms: platform \"linux/arm/v9\" is not a known variant of linux/arm; known: linux/arm/v5, linux/arm/v6, linux/arm/v7, linux/arm/v8"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_platform_of_another_os_is_refused_before_building_naming_the_engines() {
    let repo = Repo::new("beam");
    solo(&repo, "");
    let run = repo.run(&[
        "build",
        "solo",
        "--platform",
        "windows/amd64",
        "--message-format",
        "json",
        "--progress",
        "none",
    ]);
    run.expect_code(2);
    run.assert_stderr_contains(
        "platform `windows/amd64` cannot be built: the engine runs linux (linux/amd64)",
    );
    assert!(
        run.events()
            .iter()
            .all(|e| e.kind() != sdkimage::output::EventKind::BuildStarted)
    );
}

/// The generated bash function, run as bash runs it on <TAB>: the candidates for `words`
/// with the cursor on the last one.
fn bash_complete(script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let cur = words.last().unwrap();
    let prev = words[words.len() - 2];
    let program = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\n_cargo__sdkimage cargo-sdkimage '{cur}' '{prev}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        quoted.join(" "),
        words.len() - 1
    );
    checked_text(std::process::Command::new("bash").arg("-c").arg(program))
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn options_complete_for_every_subcommand_in_bash_zsh_and_fish() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("cargo-sdkimage.bash");
    std::fs::write(
        &script,
        checked_stdout(tool().args(["completions", "bash"])),
    )
    .unwrap();
    for command in COMMANDS {
        let got = bash_complete(&script, &["cargo-sdkimage", command, "--"]);
        assert!(got.contains(&"--help".to_string()), "{command}: {got:?}");
    }
    assert_eq!(
        bash_complete(&script, &["cargo-sdkimage", "build", "--pla"]),
        ["--platform"]
    );
    assert_eq!(
        bash_complete(&script, &["cargo-sdkimage", "verify", "--from-m"]),
        ["--from-metadata"]
    );
    assert_eq!(
        bash_complete(&script, &["cargo-sdkimage", "list", "--message-format", ""]),
        ["human", "json"]
    );
    // zsh and fish: each subcommand's options are offered under that subcommand.
    let text = |shell: &str| {
        let out = tool().args(["completions", shell]).output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let zsh = text("zsh");
    let build = &zsh[zsh.find("\n(build)\n").expect("a build case")..];
    let build = &build[..build.find("\n;;").unwrap()];
    assert!(build.contains("'*--platform=["), "{build}");
    let fish = text("fish");
    for command in COMMANDS {
        assert!(
            fish.contains(&format!(
                "-n \"__fish_cargo_sdkimage_using_subcommand {command}\" -s h -l help"
            )),
            "{command}"
        );
    }
    assert!(fish.contains("__fish_cargo_sdkimage_using_subcommand build\" -l platform"));
}

#[test]
fn man_prints_each_commands_page_and_writes_every_page_the_top_one_names() {
    let page = checked_text(tool().args(["man", "build"]));
    assert!(page.contains(".TH cargo-sdkimage-build 1"), "{page}");
    assert!(page.contains("\\-\\-platform"), "{page}");
    let out = tool().args(["man", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let dir = tempfile::tempdir().unwrap();
    let status = tool()
        .args(["man", "--out-dir"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    let top = std::fs::read_to_string(dir.path().join("cargo-sdkimage.1")).unwrap();
    let named: Vec<&str> = top.lines().filter_map(|l| l.strip_suffix("(1)")).collect();
    assert!(named.len() >= 10, "{named:?}");
    for page in named {
        let file = format!("{}.1", page.replace("\\-", "-"));
        assert!(
            dir.path().join(&file).exists(),
            "{file} is named but missing"
        );
    }
}

/// `--help` of every command, together.
fn all_help() -> String {
    let mut all = String::new();
    for command in COMMANDS {
        all.push_str(&checked_text(tool().args([command, "--help"])));
    }
    all
}

#[test]
fn help_and_the_book_agree_with_the_tool() {
    let help = |command: &str| {
        let out = tool().args([command, "--help"]).output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let build = help("build");
    assert!(!build.contains("promote"), "{build}");
    assert!(
        build.contains("Cargo.toml or sdkimage-workspace.toml"),
        "{build}"
    );
    assert!(help("push").contains("--metadata-file"));
    assert!(help("promote").contains("The final tags to point at the `--from-tag` manifests"));
    // Every option the book's options table names is one some command takes.
    let page = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/src/reference/commands.md"
    ))
    .unwrap();
    assert!(!page.contains("`push` takes no `--metadata-file`"));
    let table = &page[page.find("Options (each command takes").unwrap()..];
    let table = &table[table.find("\n\n").unwrap() + 2..];
    let table = &table[..table.find("\n\n").unwrap_or(table.len())];
    let help = all_help();
    let mut named = 0;
    for row in table.lines().filter(|l| l.starts_with("| `")) {
        let cell = row.split('|').nth(1).unwrap();
        for word in cell.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
            if word.starts_with("--") {
                named += 1;
                assert!(
                    help.contains(word),
                    "docs/src/reference/commands.md names {word}, no command takes it"
                );
            }
        }
    }
    assert!(named > 20, "{named}");
}

#[test]
fn flag_and_manifest_messages_say_what_to_write() {
    let repo = Repo::new("beam");
    solo(&repo, "");
    let run = repo.run(&["build", "solo", "--jobs", "0"]);
    run.expect_code(2);
    run.assert_stderr_contains("--jobs must be at least 1");
    // A single value where a list belongs, and a misspelled key.
    solo(&repo, "platforms = \"linux/amd64\"\nplatfroms = []\n");
    let run = repo.run(&["list", "solo"]);
    run.expect_code(2);
    let err = run.stderr();
    assert!(
        err.contains("sdkimage.toml:3:13: `platforms` is a list, even of one value: write `platforms = [\"linux/amd64\"]`"),
        "{err}"
    );
    assert!(
        err.contains("sdkimage.toml:4:1: unknown key `platfroms`; did you mean `platforms`?"),
        "{err}"
    );
    // The same in the workspace's settings.
    solo(&repo, "");
    let cargo = repo.append_line("Cargo.toml", "platfroms = [\"linux/amd64\"]");
    let run = repo.run(&["list", "solo"]);
    run.expect_code(2);
    run.assert_stderr_contains("did you mean `platforms`?");
    repo.write("Cargo.toml", &cargo);
    // `--build-arg NAME`: the value from the environment, as docker takes it.
    let run = repo.run_with(
        &["build", "solo", "--dry-run", "--build-arg", "SOLO_FLAVOUR"],
        &[("SOLO_FLAVOUR", "mint")],
    );
    run.success();
    assert!(
        run.stdout().contains("--build-arg SOLO_FLAVOUR=mint"),
        "{}",
        run.stdout()
    );
    let run = repo.run(&[
        "build",
        "solo",
        "--dry-run",
        "--build-arg",
        "SOLO_UNSET_VARIABLE_X",
    ]);
    run.expect_code(2);
    run.assert_stderr_contains("the environment variable SOLO_UNSET_VARIABLE_X is not set");
}

#[test]
fn secret_looking_build_arg_values_are_masked_in_every_message() {
    let repo = Repo::new("beam");
    solo(&repo, "");
    for (arg, shown) in [
        ("NPM_TOKEN=s3cr3t-value\nx", "NPM_TOKEN=***"),
        ("DB_PASS=s3cr3t-value\u{1}", "DB_PASS=***"),
        ("GITHUB_PAT=s3cr3t-value\u{1b}", "GITHUB_PAT=***"),
    ] {
        let run = repo.run(&["build", "solo", "--dry-run", "--build-arg", arg]);
        run.expect_code(2);
        let all = format!("{}{}", run.stdout(), run.stderr());
        assert!(!all.contains("s3cr3t"), "{all}");
        assert!(all.contains(shown), "{all}");
    }
    // From the environment, too.
    let run = repo.run_with(
        &["build", "solo", "--dry-run", "--build-arg", "NPM_TOKEN"],
        &[("NPM_TOKEN", "s3cr3t-value\nx")],
    );
    run.expect_code(2);
    assert!(!run.stderr().contains("s3cr3t"), "{}", run.stderr());
    // A manifest value with a bad placeholder.
    solo(&repo, "[build-args]\nNPM_TOKEN = \"s3cr{3t\"\n");
    let run = repo.run(&["list", "solo"]);
    run.expect_code(2);
    assert!(!run.stderr().contains("s3cr"), "{}", run.stderr());
    run.assert_stderr_contains("sdkimage.toml:4:18: build arg `NPM_TOKEN`");
}

#[test]
fn manifest_build_arg_names_that_are_no_names_are_refused_where_written() {
    let repo = Repo::new("beam");
    solo(
        &repo,
        "[build-args]\n\"\" = \"x\"\n\"A=B\" = \"y\"\n[variants.one]\n\"C=D\" = \"z\"\n",
    );
    let run = repo.run(&["list", "solo"]);
    run.expect_code(2);
    let err = run.stderr();
    assert!(
        err.contains("sdkimage.toml:4:1: build arg name \"\" is not a name"),
        "{err}"
    );
    assert!(
        err.contains("sdkimage.toml:5:1: build arg name \"A=B\" is not a name"),
        "{err}"
    );
    assert!(
        err.contains("sdkimage.toml:7:1: variant `one` build arg name \"C=D\" is not a name"),
        "{err}"
    );
}

#[test]
fn what_the_guarded_reader_refuses_is_exit_2_in_list_dry_run_and_build() {
    let repo = Repo::new("beam");
    solo(&repo, "");
    // A 9 MiB Dockerfile: over the cap for every command, before anything runs.
    let mut big = "FROM scratch\n".to_string();
    big.push_str(&format!("# {}\n", "x".repeat(9 * 1024 * 1024)));
    repo.write("sdks/solo/Dockerfile", &big);
    for args in [
        &["list", "solo"][..],
        &["build", "solo", "--dry-run"],
        &["build", "solo", "--progress", "none"],
    ] {
        let run = repo.run(args);
        run.expect_code(2);
        assert!(
            run.stderr()
                .contains("over the 8 MiB limit for a Dockerfile"),
            "{args:?}: {}",
            run.stderr()
        );
    }
    // An sdkimage.toml that is a symlink to itself.
    solo(&repo, "");
    std::fs::create_dir_all(repo.file("sdks/loop")).unwrap();
    std::os::unix::fs::symlink("sdkimage.toml", repo.file("sdks/loop/sdkimage.toml")).unwrap();
    for args in [&["list"][..], &["build", "--dry-run"]] {
        let run = repo.run(args);
        run.expect_code(2);
        assert!(
            run.stderr().contains("is a symlink that loops"),
            "{args:?}: {}",
            run.stderr()
        );
    }
}

#[test]
fn manifest_path_naming_a_fifo_says_so() {
    let repo = Repo::new("beam");
    let dir = repo.file("elsewhere");
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["sdkimage-workspace.toml", "Cargo.toml"] {
        let fifo = dir.join(name);
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let run = repo.run(&["list", "--manifest-path", fifo.to_str().unwrap()]);
        run.expect_code(2);
        assert!(
            run.stderr()
                .contains("is a named pipe (FIFO), not a regular file"),
            "{name}: {}",
            run.stderr()
        );
        assert!(!run.stderr().contains("no such file"), "{}", run.stderr());
    }
}

#[test]
fn a_workspace_version_with_a_newline_is_named_at_its_file() {
    let repo = Repo::new("beam-standalone");
    let file = repo.file("sdkimage-workspace.toml");
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("version = \"2.61.0\"", "version = \"2.61.0\\nx\"");
    std::fs::write(&file, text).unwrap();
    let run = repo.run(&["list"]);
    run.expect_code(2);
    run.assert_stderr_contains(
            "sdkimage-workspace.toml:4:11: `version` \"2.61.0\\nx\" contains the control character \"\\n\""
        );
}

#[test]
fn customize_files_that_are_symlinks_out_of_the_context_are_refused_at_load() {
    let repo = Repo::new("custom");
    let outside = repo.file("outside.txt");
    std::fs::write(&outside, "secret\n").unwrap();
    let dir = repo.file("custom/extended");
    std::os::unix::fs::symlink(&outside, dir.join("requirements.txt")).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("files/linked.conf")).unwrap();
    repo.write(
        "custom/extended/sdkimage.toml",
        "language = \"extended\"\nname = \"custom_extended\"\nextends = \"python:3.11\"\n\n[customize]\nrequirements = \"requirements.txt\"\ncopy = [{ from = \"files/linked.conf\", to = \"/etc/linked.conf\" }]\n",
    );
    let run = repo.run(&["list"]);
    run.expect_code(2);
    let err = run.stderr();
    assert!(
        err.contains("sdkimage.toml:6:16: customize.requirements `requirements.txt` leaves the build context through a symlink"),
        "{err}"
    );
    assert!(
        err.contains("sdkimage.toml:7:18: customize.copy from `files/linked.conf` leaves the build context through a symlink"),
        "{err}"
    );
}
