//! What trying to break the tool found, each reproduction as a test: a changed external base,
//! guarded reads of user files, `--no-cache` and the fingerprint, unclear errors, secrets.

use std::process::Command;
use std::time::{Duration, Instant};

use sdkimage::output::EventKind;

use crate::support::images::{build_foreign_image, remove_image};
use crate::support::{BIN, Repo, Run, docker};

/// `cargo-sdkimage sdkimage <args>` in `repo`, killed after 60 s so that a hang fails the test
/// instead of stalling the suite.
fn run_bounded(repo: &Repo, args: &[&str]) -> (Run, Duration) {
    let mut all: Vec<String> = vec!["60".into(), BIN.into(), "sdkimage".into()];
    all.extend(args.iter().map(|s| s.to_string()));
    let started = Instant::now();
    let output = Command::new("timeout")
        .args(&all)
        .env_remove("CARGO_TARGET_DIR")
        .current_dir(repo.path())
        .env("NO_COLOR", "1")
        .output()
        .expect("run cargo-sdkimage under timeout");
    (
        Run {
            output,
            args: all[2..].to_vec(),
        },
        started.elapsed(),
    )
}

/// The last event other than `build-started` of the image whose name ends in `image_suffix`.
fn outcome(run: &Run, image_suffix: &str) -> EventKind {
    run.events()
        .iter()
        .filter(|e| e.image().is_some_and(|i| i.ends_with(image_suffix)))
        .filter(|e| e.kind() != EventKind::BuildStarted)
        .map(|e| e.kind())
        .next_back()
        .unwrap_or_else(|| panic!("no outcome for {image_suffix}:\n{}", run.stdout()))
}

/// An image that is not ours, built with the docker CLI from busybox: `CMD` tells versions apart.
fn build_foreign_base(repo: &Repo, reference: &str, cmd: &str) {
    build_foreign_image(
        repo,
        &format!("foreign-{}", cmd.replace(' ', "-")),
        reference,
        &format!(
            "FROM scratch\nCOPY busybox /bin/busybox\nCMD [\"/bin/busybox\", \"echo\", \"{cmd}\"]\n"
        ),
        &[],
    );
}

#[test]
fn a_changed_external_base_rebuilds_its_images_and_no_cache_records_an_ordinary_fingerprint() {
    let repo = Repo::new("beam");
    let base = format!("sdkimage-e2e-probe-base-{}:1", std::process::id());
    build_foreign_base(&repo, &base, "one");
    // The base is named through a global ARG, as real Dockerfiles do.
    repo.write(
        "sdks/probe/Dockerfile",
        "ARG PROBE_BASE\nFROM ${PROBE_BASE} AS first\nFROM first\nLABEL probe=1\n",
    );
    repo.write(
        "sdks/probe/sdkimage.toml",
        &format!(
            "language = \"probe\"\nname = \"probe_x\"\n[build-args]\nPROBE_BASE = \"{base}\"\n"
        ),
    );
    let json = ["--message-format", "json", "--progress", "none"];
    let build = |extra: &[&str]| {
        let mut args = vec!["build", "probe", "base"];
        args.extend(extra);
        args.extend(json);
        let run = repo.run(&args);
        run.success();
        run
    };
    let first = build(&[]);
    assert_eq!(outcome(&first, "probe_x"), EventKind::BuildFinished);
    assert_eq!(outcome(&build(&[]), "probe_x"), EventKind::UpToDate);

    // The same name now holds another image: the probe is rebuilt on it, the base is not.
    build_foreign_base(&repo, &base, "two");
    let after = build(&[]);
    assert_eq!(outcome(&after, "probe_x"), EventKind::BuildFinished);
    assert_eq!(outcome(&after, "beam_base"), EventKind::UpToDate);
    let probe = format!("{}/probe_x:2.61.0", repo.root);
    let cmd = docker(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Cmd}}",
        &probe,
    ]);
    assert!(cmd.contains("two"), "the image carries the new base: {cmd}");

    // --no-cache rebuilds, and the next ordinary build finds it up to date.
    assert_eq!(
        outcome(&build(&["--no-cache"]), "probe_x"),
        EventKind::BuildFinished
    );
    assert_eq!(outcome(&build(&[]), "probe_x"), EventKind::UpToDate);
    remove_image(&base);
}

#[test]
fn our_own_image_named_in_from_keeps_the_image_up_to_date() {
    let repo = Repo::new("beam");
    // Our own base, named by its ref as a foreign image would be: FROM resolves it by id.
    repo.write("sdks/probe/Dockerfile", "ARG B\nFROM $B\nLABEL probe=1\n");
    repo.write(
        "sdks/probe/sdkimage.toml",
        "language = \"probe\"\nname = \"probe_y\"\ndepends-on = [\"base\"]\n[build-args]\nB = \"{repository_root}/beam_base:{tag}\"\n",
    );
    let json = ["--message-format", "json", "--progress", "none"];
    let mut args = vec!["build", "probe"];
    args.extend(json);
    let run = repo.run(&args);
    run.success();
    assert_eq!(outcome(&run, "probe_y"), EventKind::BuildFinished);
    let again = repo.run(&args);
    again.success();
    assert_eq!(outcome(&again, "probe_y"), EventKind::UpToDate);
}

/// The `.dockerignore` of the python manifest's context, replaced by `make`.
fn with_dockerignore(make: impl FnOnce(&std::path::Path)) -> Repo {
    let repo = Repo::new("beam");
    let path = repo.file("sdks/python/container/.dockerignore");
    let _ = std::fs::remove_file(&path);
    make(&path);
    repo
}

#[track_caller]
fn refused(repo: &Repo, reason: &str) -> String {
    let (run, took) = run_bounded(repo, &["list"]);
    run.expect_code(2);
    assert!(took < Duration::from_secs(30), "took {took:?}");
    let err = run.stderr();
    assert!(err.contains("sdks/python/container/.dockerignore"), "{err}");
    assert!(err.contains(reason), "{err}");
    err
}

#[test]
fn a_fifo_dockerignore_is_refused_at_once() {
    let repo = with_dockerignore(|p| {
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo with a valid, NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    });
    refused(&repo, "is a named pipe (FIFO), not a regular file");
}

#[test]
fn a_device_dockerignore_is_refused() {
    // /dev/zero is outside the workspace too; inside it, a device is refused as a device.
    let repo = with_dockerignore(|p| std::os::unix::fs::symlink("/dev/zero", p).unwrap());
    refused(&repo, "outside");
}

#[test]
fn a_dockerignore_symlinked_out_of_the_workspace_is_refused_and_never_echoed() {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.txt");
    std::fs::write(&secret, "[unclosed-secret-line\n").unwrap();
    let repo = with_dockerignore(|p| std::os::unix::fs::symlink(&secret, p).unwrap());
    let err = refused(&repo, "a symlink may not leave it");
    assert!(!err.contains("unclosed-secret-line"), "{err}");
}

#[test]
fn an_oversized_dockerignore_is_refused_naming_the_cap() {
    let repo = with_dockerignore(|p| std::fs::write(p, "# x\n".repeat(300_000)).unwrap());
    refused(&repo, "over the 1 MiB limit for .dockerignore");
}

#[test]
fn a_fifo_manifest_is_refused_by_name() {
    let repo = Repo::new("beam");
    let manifest = repo.file("sdks/go/container/sdkimage.toml");
    std::fs::remove_file(&manifest).unwrap();
    let c = std::ffi::CString::new(manifest.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid, NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let (run, took) = run_bounded(&repo, &["list"]);
    run.expect_code(2);
    assert!(took < Duration::from_secs(30), "took {took:?}");
    let err = run.stderr();
    assert!(err.contains("sdks/go/container/sdkimage.toml"), "{err}");
    assert!(err.contains("named pipe (FIFO)"), "{err}");
}

#[test]
fn a_device_named_as_the_metadata_file_is_refused() {
    let repo = Repo::new("beam");
    let (run, took) = run_bounded(&repo, &["verify", "--from-metadata", "/dev/zero"]);
    run.expect_code(2);
    assert!(took < Duration::from_secs(30), "took {took:?}");
    let err = run.stderr();
    assert!(err.contains("/dev/zero"), "{err}");
    assert!(
        err.contains("is a character device, not a regular file"),
        "{err}"
    );
}

#[test]
fn errors_name_the_culprit_before_anything_runs() {
    let repo = Repo::new("beam");
    // A build arg too long for the engine's query string.
    let long = format!("X={}", "a".repeat(100_000));
    let run = repo.run(&["build", "base", "--build-arg", &long]);
    run.expect_code(2);
    run.assert_stderr_contains("build arg \"X\"");
    run.assert_stderr_contains("limit");

    // Control characters in build args, tags and repository roots.
    for args in [
        vec!["list", "--build-arg", "A=one\ntwo"],
        vec!["list", "--tag", "v1\nFAKE"],
        vec!["list", "--repository-root", "reg\u{1b}[31m"],
    ] {
        let run = repo.run(&args);
        run.expect_code(2);
        let err = run.stderr();
        assert!(err.contains("control character"), "{args:?}: {err}");
        assert!(
            !err.contains('\u{1b}') && !err.contains("\nFAKE") && !err.contains("one\ntwo"),
            "{err}"
        );
    }

    // Two manifests giving the same selector.
    repo.write(
        "sdks/python2/sdkimage.toml",
        "language = \"python\"\nname = \"other_python{variant}\"\n[variants]\n\"3.11\" = {}\n",
    );
    repo.write("sdks/python2/Dockerfile", "FROM scratch\n");
    let run = repo.run(&["list"]);
    run.expect_code(2);
    let err = run.stderr();
    assert!(err.contains("sdks/python2/sdkimage.toml"), "{err}");
    assert!(err.contains("sdks/python/container/sdkimage.toml"), "{err}");
    assert!(err.contains("python:3.11"), "{err}");
    std::fs::remove_dir_all(repo.file("sdks/python2")).unwrap();

    // --manifest-path at a file that is not a Cargo.toml.
    let run = repo.run(&["list", "--manifest-path", "sdks/base/sdkimage.toml"]);
    run.expect_code(2);
    let err = run.stderr();
    assert!(err.contains("Cargo.toml"), "{err}");
    assert!(!err.contains("-Zscript"), "{err}");

    // [[prepare]] run = [] is located at its line.
    repo.write(
        "sdks/base/sdkimage.toml",
        "language = \"base\"\nname = \"beam_base\"\n\n[[prepare]]\nrun = []\n",
    );
    let run = repo.run(&["list"]);
    run.expect_code(2);
    run.assert_stderr_contains("sdks/base/sdkimage.toml:5:");
}

#[test]
fn a_wrong_type_for_the_workspace_table_is_said_in_the_users_words() {
    let repo = Repo::new("beam");
    let path = repo.file("Cargo.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replace(
        "[workspace.metadata.sdkimage]\nrepository-root = \"apache\"\ntags = [\"{version}\"]\n",
        "[workspace.metadata]\nsdkimage = \"apache\"\n",
    );
    std::fs::write(&path, text).unwrap();
    let run = repo.run(&["list"]);
    run.expect_code(2);
    let err = run.stderr();
    assert!(!err.contains("RawConfig"), "{err}");
    assert!(err.contains("a table"), "{err}");
}

#[test]
fn secret_looking_build_args_are_masked_and_warned_about() {
    let repo = Repo::new("beam");
    let run = repo.run(&[
        "build",
        "base",
        "--dry-run",
        "--build-arg",
        "NPM_AUTH=npm-canary",
        "--build-arg",
        "DB_PASS=db-canary",
        "--build-arg",
        "GITHUB_PAT=pat-canary",
        "--build-arg",
        "SSH_KEY=key-canary",
        "--build-arg",
        "PATH_PREFIX=/opt",
    ]);
    run.success();
    let all = run.all_output();
    for canary in ["npm-canary", "db-canary", "pat-canary", "key-canary"] {
        assert!(!all.contains(canary), "{canary} printed:\n{all}");
    }
    assert!(all.contains("PATH_PREFIX=/opt"), "{all}");
    let warning = all.matches("docker history").count();
    assert_eq!(warning, 1, "one warning per run:\n{all}");
    assert!(all.contains("NPM_AUTH"), "{all}");
}
