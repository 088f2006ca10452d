//! The JSON contract against its published schemas (`schemas/`): the real output of a
//! release's commands, every event kind but the checks' (the contract tests read those through
//! the same checked parser), the metadata file, `list`, `dockerfile` and `build --print`.

use std::collections::BTreeSet;

use sdkimage::output::{BuildPrint, DockerfileEntry, EventKind};

use crate::support::{Repo, Run, parse_checked, read_metadata};

const JSON: [&str; 4] = ["--message-format", "json", "--progress", "none"];

/// `args` with JSON events; every line already meets the event schema when read.
fn json_run(repo: &Repo, args: &[&str]) -> Run {
    repo.run(&[args, &JSON[..]].concat())
}

#[test]
fn real_output_meets_the_published_schemas() {
    let repo = Repo::in_registry("cold");
    let mut seen = BTreeSet::new();
    let mut note = |run: &Run| {
        for event in run.events() {
            seen.insert(event.kind().as_str());
        }
    };

    let (built, meta) =
        repo.run_with_metadata(&[&["build", "--push", "--tag", "rc1"], &JSON[..]].concat());
    built.success();
    note(&built);
    let metadata = read_metadata(&meta);
    assert!(metadata["cold_sdk"].pushed, "{metadata:?}");

    let up_to_date = json_run(&repo, &["build", "--tag", "rc1"]);
    up_to_date.success();
    note(&up_to_date);
    let retagged = json_run(&repo, &["build", "--tag", "rc1", "--tag", "rc1b"]);
    retagged.success();
    note(&retagged);
    let verified = json_run(&repo, &["verify", "--tag", "rc1"]);
    verified.success();
    note(&verified);
    let promoted = json_run(&repo, &["promote", "--from-tag", "rc1", "--tag", "1.0.0"]);
    promoted.success();
    note(&promoted);

    // A failing build: `failed`, then `error`, then `summary`.
    let dockerfile = repo.file("sdk/Dockerfile");
    let text = std::fs::read_to_string(&dockerfile).unwrap();
    std::fs::write(
        &dockerfile,
        format!("{text}RUN [\"/bin/busybox\", \"false\"]\n"),
    )
    .unwrap();
    let (failed, meta) = repo.run_with_metadata(&[&["build", "--tag", "rc2"], &JSON[..]].concat());
    failed.expect_code(1);
    note(&failed);
    read_metadata(&meta);
    // Invalid input: the error event alone.
    let invalid = json_run(&repo, &["build", "no-such-image"]);
    invalid.expect_code(2);
    note(&invalid);

    // The check kinds come from the contract tests, the pool's (`transferred`, `requeued`)
    // from the engines tests; their events pass the same validation in `support.rs`.
    let all: BTreeSet<&str> = EventKind::ALL
        .iter()
        .filter(|k| {
            !matches!(
                k,
                EventKind::CheckPassed
                    | EventKind::CheckFailed
                    | EventKind::Transferred
                    | EventKind::Requeued
            )
        })
        .map(|k| k.as_str())
        .collect();
    assert_eq!(seen, all, "event kinds met");

    repo.list_json(&[]);
    let dockerfiles = repo.run(&["dockerfile", "--message-format", "json"]);
    dockerfiles.success();
    let entries: Vec<DockerfileEntry> = parse_checked("dockerfile", &dockerfiles.stdout());
    assert_eq!(entries.len(), 1);
    let print = repo.run(&["build", "--print"]);
    print.success();
    let plan: BuildPrint = parse_checked("print", &print.stdout());
    assert_eq!(plan.images.len(), 1);
}
