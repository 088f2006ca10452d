//! `diff A B` through the built binary, against the real engine and the shared test registry:
//! two builds of a fixture whose `RUN` writes the time differ in that one file; an image
//! against itself does not; the same image read from the registry and from the engine; bad
//! references are exit 2, an unreachable registry exit 3.

use sdkimage::output::diff::{DiffSource, FileChange, ImageDiff};

use crate::support::{Repo, Run, parse_checked};

/// `build --no-cache --push --tag <tag>` with a fixed `SOURCE_DATE_EPOCH` (so the push
/// normalises), which must succeed: the pushed reference.
fn build_and_push(repo: &Repo, tag: &str) -> String {
    repo.run_with(
        &[
            "build",
            "--no-cache",
            "--push",
            "--tag",
            tag,
            "--progress",
            "none",
        ],
        &[("SOURCE_DATE_EPOCH", "1700000000")],
    )
    .success();
    repo.image_ref("stamp_sdk", tag)
}

/// `diff --message-format json <args>`: the run and its diff (checked against the schema).
fn diff_json(repo: &Repo, args: &[&str]) -> (Run, ImageDiff) {
    let run = repo.run(&[&["diff", "--message-format", "json"], args].concat());
    let diff = parse_checked("diff", &run.stdout());
    (run, diff)
}

/// The paths that differ in more than their mtime, over every layer.
fn changed_beyond_mtime(diff: &ImageDiff) -> Vec<String> {
    diff.layers
        .iter()
        .flat_map(|l| &l.files)
        .filter(|f| f.change != FileChange::Changed || f.differs != ["mtime"])
        .map(|f| f.path.clone())
        .collect()
}

#[test]
fn two_builds_of_a_stamping_run_differ_in_that_file_only() {
    let repo = Repo::in_registry("stamp");
    let a = build_and_push(&repo, "a");
    let b = build_and_push(&repo, "b");
    let (run, diff) = diff_json(
        &repo,
        &[&a, &b, "--a-from", "registry", "--b-from", "registry"],
    );
    run.expect_code(1);
    assert!(!diff.same, "{diff:#?}");
    assert_eq!(diff.same_manifest, Some(false));
    // Both pushed normalised (times clamped to the epoch): /stamp is the one difference, in
    // the one layer of the RUN, and the configs are the same but for that layer's diff id.
    let files: Vec<&str> = diff
        .layers
        .iter()
        .flat_map(|l| &l.files)
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(files, ["stamp"], "{diff:#?}");
    assert!(diff.config.is_empty(), "{diff:#?}");
    let stamp = diff
        .layers
        .iter()
        .flat_map(|l| &l.files)
        .find(|f| f.path == "stamp")
        .unwrap();
    assert!(stamp.differs.contains(&"content".to_string()), "{stamp:?}");
    let (sa, sb) = (stamp.a.as_ref().unwrap(), stamp.b.as_ref().unwrap());
    assert_ne!(sa.sha256, sb.sha256);
    assert_eq!((sa.kind.as_str(), sa.mode), ("file", 0o644));

    // Read from the engine (which holds both: `auto`), the same file differs.
    let (run, local) = diff_json(&repo, &[&a, &b]);
    run.expect_code(1);
    assert_eq!(
        (local.a.source, local.b.source),
        (DiffSource::Engine, DiffSource::Engine)
    );
    assert_eq!(local.same_manifest, None);
    assert_eq!(changed_beyond_mtime(&local), ["stamp"], "{local:#?}");

    // The human output names the file too.
    let human = repo.run(&[
        "diff", &a, &b, "--a-from", "registry", "--b-from", "registry",
    ]);
    human.expect_code(1);
    assert!(human.stdout().contains("/stamp  "), "{}", human.stdout());
}

#[test]
fn an_image_against_itself_and_across_engine_and_registry_is_the_same() {
    let repo = Repo::in_registry("stamp");
    let a = build_and_push(&repo, "a");
    let (run, diff) = diff_json(
        &repo,
        &[&a, &a, "--a-from", "registry", "--b-from", "registry"],
    );
    run.expect_code(0);
    assert!(
        diff.same && diff.layers.is_empty() && diff.config.is_empty(),
        "{diff:#?}"
    );
    assert_eq!(diff.same_manifest, Some(true));
    let human = repo.run(&[
        "diff", &a, &a, "--a-from", "registry", "--b-from", "registry",
    ]);
    human.expect_code(0);
    assert!(
        human.stdout().contains("same content"),
        "{}",
        human.stdout()
    );
}

#[test]
fn bad_references_are_exit_2_and_an_unreachable_registry_exit_3() {
    let repo = Repo::new("stamp");
    let run = repo.run(&["diff", "Not A Ref", "localhost:5000/x:1"]);
    run.expect_code(2);
    run.assert_stderr_contains("A \"Not A Ref\" is not an image reference");
    let run = repo.run(&["diff", "localhost:5000/x:1", "a@sha256:12"]);
    run.expect_code(2);
    run.assert_stderr_contains("B \"a@sha256:12\"");
    let missing = format!("{}/nothing-here:1", crate::support::test_registry());
    let run = repo.run(&["diff", &missing, &missing, "--a-from", "registry"]);
    run.expect_code(2);
    run.assert_stderr_contains("has no such manifest");
    // Port 9 (discard) on loopback: nothing listens there.
    let run = repo.run(&[
        "diff",
        "127.0.0.1:9/x:1",
        "127.0.0.1:9/x:1",
        "--a-from",
        "registry",
        "--b-from",
        "registry",
    ]);
    run.expect_code(3);
    run.assert_stderr_contains("cannot reach the registry");
}

#[test]
fn build_reproduce_fails_with_the_diff_when_a_run_writes_the_time() {
    let repo = Repo::in_registry("stamp");
    let epoch = [("SOURCE_DATE_EPOCH", "1700000000")];
    // Nothing pushed under this version yet: nothing to compare with.
    let run = repo.run_with(
        &["build", "--reproduce", "--tag", "r", "--progress", "none"],
        &epoch,
    );
    run.expect_code(1);
    run.assert_stderr_contains("has no such manifest (push this version first)");
    build_and_push(&repo, "r");
    let run = repo.run_with(
        &["build", "--reproduce", "--tag", "r", "--progress", "none"],
        &epoch,
    );
    run.expect_code(1);
    assert!(run.stdout().contains("/stamp  "), "{}", run.stdout());
    run.assert_stderr_contains("not reproduced (epoch 1700000000)");
}

#[test]
fn build_reproduce_passes_when_nothing_a_run_writes_differs() {
    let repo = Repo::in_registry("stamp");
    repo.write(
        "sdk/Dockerfile",
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"mkdir\", \"/data\"]\n",
    );
    let epoch = [("SOURCE_DATE_EPOCH", "1700000000")];
    let args = [
        "build",
        "--no-cache",
        "--push",
        "--tag",
        "r",
        "--progress",
        "none",
    ];
    repo.run_with(&args, &epoch).success();
    let run = repo.run_with(
        &["build", "--reproduce", "--tag", "r", "--progress", "none"],
        &epoch,
    );
    run.expect_code(0);
    run.assert_stderr_contains("reproduced ");
}
