//! Snapshot tests of what people read (insta file snapshots in `snapshots/`): the lines
//! rendered from typed events and notes through a capturing [`Reporter`], `list`'s table,
//! `--dry-run`'s plan, `--print`'s document and the final errors of real library calls (a
//! workspace on disk, no engine, or an engine that cannot answer). Ids, digests, times and
//! temporary paths are filtered. A missing or changed snapshot fails `cargo test`; review the
//! `.snap.new` file and move it over the `.snap` one (or use `cargo insta review`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::{Captured, MessageFormat, ProgressMode, ReportOptions, Reporter, human};
use crate::commands::{Target, load};
use crate::output::{
    Counts, Event, EventSink, ListEntry, Note, Outcome, ResultRow, Subject, event,
};

const ID_A: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const ID_B: &str = "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

/// Ids, digests, durations and temporary folders, which change from run to run.
fn filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"sha256:[0-9a-f]{64}", "sha256:[DIGEST]"),
        (r"\b[0-9a-f]{12}\b", "[ID]"),
        (r"\b\d+\.\ds\b", "[TIME]"),
        (r"\b\d+m\d{2}s\b", "[TIME]"),
        (r"/tmp/\.tmp[A-Za-z0-9]+", "[TEMP]"),
    ]
}

macro_rules! snapshot {
    ($name:expr, $text:expr) => {
        insta::with_settings!({filters => filters(), prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!($name, $text);
        })
    };
}

fn options(progress: ProgressMode) -> ReportOptions {
    ReportOptions {
        format: MessageFormat::Human,
        progress,
        color: false,
        verbose: false,
        quiet: false,
    }
}

fn capture(opts: ReportOptions, f: impl FnOnce(&Reporter)) -> Captured {
    let (reporter, captured) = Reporter::capturing(opts);
    f(&reporter);
    let guard = captured.lock().unwrap();
    guard.clone()
}

/// stderr, then stdout when there is any.
fn both(c: &Captured) -> String {
    match c.stdout.is_empty() {
        true => c.stderr.clone(),
        false => format!("--- stderr\n{}--- stdout\n{}", c.stderr, c.stdout),
    }
}

fn image(name: &str, language: &str, variant: Option<&str>) -> Subject {
    Subject {
        image: name.into(),
        language: language.into(),
        variant: variant.map(str::to_string),
        refs: vec![format!("localhost:5000/sdk/{name}:1.0")],
    }
}

fn python() -> Subject {
    image("python-3.11-sdk", "python", Some("3.11"))
}

fn go() -> Subject {
    image("go-sdk", "go", None)
}

fn started(subject: Subject, engine: Option<&str>) -> Event {
    Event::BuildStarted(event::BuildStarted {
        subject,
        engine: engine.map(str::to_string),
    })
}

fn finished(subject: Subject, id: &str, ms: u64, engine: Option<&str>) -> event::Finished {
    event::Finished {
        subject,
        id: id.into(),
        duration_ms: ms,
        platforms: None,
        engine: engine.map(str::to_string),
    }
}

fn check(message: &str, requirement: &str, output: &str) -> event::Check {
    event::Check {
        subject: python(),
        id: ID_A.into(),
        message: message.into(),
        requirement: requirement.into(),
        output: output.into(),
    }
}

fn rows() -> Vec<ResultRow> {
    vec![
        ResultRow {
            image: "python-3.11-sdk".into(),
            outcome: Outcome::Built,
            duration: Duration::from_millis(2300),
            id: Some(ID_A.into()),
        },
        ResultRow {
            image: "go-sdk".into(),
            outcome: Outcome::Failed,
            duration: Duration::from_millis(900),
            id: None,
        },
        ResultRow {
            image: "rust-sdk".into(),
            outcome: Outcome::Skipped,
            duration: Duration::ZERO,
            id: None,
        },
    ]
}

/// A build where one image is built, one fails at a step, and a dependant is skipped.
fn a_build(r: &Reporter) {
    r.event(&started(python(), None));
    r.event(&started(go(), None));
    r.log(
        "python-3.11-sdk",
        "python:3.11",
        crate::output::BuildLog::Step("Step 1/2 : FROM scratch"),
    );
    r.log(
        "go-sdk",
        "go",
        crate::output::BuildLog::Step("Step 1/3 : FROM busybox"),
    );
    r.log(
        "go-sdk",
        "go",
        crate::output::BuildLog::Output("go: cannot find main module"),
    );
    r.event(&Event::BuildFinished(finished(python(), ID_A, 2300, None)));
    r.event(&Event::Failed(event::Failed {
        duration_ms: Some(900),
        ..event::Failed::new(go(), "step 3/3 `RUN go build`: exit code 1")
    }));
    let counts = Counts {
        built: 1,
        failed: 1,
        skipped: 1,
        ..Counts::default()
    };
    r.summary(&counts, Some(&rows()), Duration::from_millis(3500));
}

#[test]
fn build_plain_progress_and_summary() {
    snapshot!(
        "build_plain",
        both(&capture(options(ProgressMode::Plain), a_build))
    );
}

#[test]
fn build_without_progress_shows_failures_and_their_log_tail() {
    snapshot!(
        "build_progress_none",
        both(&capture(options(ProgressMode::Off), a_build))
    );
}

#[test]
fn build_quiet_shows_only_what_failed() {
    let opts = ReportOptions {
        quiet: true,
        ..options(ProgressMode::Plain)
    };
    snapshot!("build_quiet", both(&capture(opts, a_build)));
}

#[test]
fn build_in_colour() {
    let opts = ReportOptions {
        color: true,
        ..options(ProgressMode::Plain)
    };
    let text = both(&capture(opts, a_build)).replace('\u{1b}', "␛");
    snapshot!("build_colour", text);
}

#[test]
fn build_reuse_and_retag() {
    let text = both(&capture(options(ProgressMode::Plain), |r| {
        r.event(&Event::UpToDate(finished(python(), ID_A, 40, None)));
        r.event(&Event::Retagged(finished(go(), ID_B, 75_000, None)));
        let counts = Counts {
            up_to_date: 1,
            retagged: 1,
            pushed: 2,
            ..Counts::default()
        };
        let rows = vec![
            ResultRow {
                image: "python-3.11-sdk".into(),
                outcome: Outcome::UpToDate,
                duration: Duration::from_millis(40),
                id: Some(ID_A.into()),
            },
            ResultRow {
                image: "go-sdk".into(),
                outcome: Outcome::Retagged,
                duration: Duration::from_millis(75_000),
                id: Some(ID_B.into()),
            },
        ];
        r.summary(&counts, Some(&rows), Duration::from_millis(75_100));
    }));
    snapshot!("build_up_to_date_retagged", text);
}

#[test]
fn publish_lines() {
    let text = both(&capture(options(ProgressMode::Plain), |r| {
        r.event(&Event::PushFinished(event::PushFinished {
            subject: python(),
            id: Some(ID_A.into()),
            digest: ID_B.into(),
        }));
        r.event(&Event::Verified(event::Verified {
            subject: python().into(),
            digest: Some(ID_B.into()),
        }));
        r.event(&Event::Promoted(event::Promoted {
            subject: go(),
            digest: ID_B.into(),
        }));
        r.event(&Event::Failed(event::Failed::new(
            go(),
            "localhost:5000/sdk/go-sdk:1.0 points at another digest",
        )));
        let counts = Counts {
            pushed: 1,
            verified: 1,
            promoted: 1,
            failed: 1,
            ..Counts::default()
        };
        // publish, verify and promote have no table.
        r.summary(&counts, None, Duration::from_millis(1500));
    }));
    snapshot!("publish", text);
}

#[test]
fn engine_pool_lines() {
    let text = both(&capture(options(ProgressMode::Plain), |r| {
        r.event(&started(python(), Some("big")));
        r.event(&Event::Requeued(event::Requeued {
            subject: python(),
            message: "engine big was lost; queued again".into(),
            lost: "big".into(),
        }));
        r.event(&Event::Transferred(event::Transferred {
            subject: python(),
            id: ID_A.into(),
            duration_ms: 800,
            from: "big".into(),
            to: Some("small".into()),
            bytes: 12_345_678,
        }));
        r.event(&Event::BuildFinished(finished(
            python(),
            ID_A,
            4100,
            Some("small"),
        )));
        r.note(Note::EngineLost {
            engine: "big".into(),
            why: "no answer to a ping within 5 s".into(),
        });
        r.note(Note::EnginesLostDuringRun {
            engines: vec!["big".into()],
            all_built: true,
        });
        r.note(Note::EngineNotAnswering {
            engine: "far".into(),
            why: "connection refused".into(),
        });
        r.note(Note::GatherFailed {
            error: "cannot load python-3.11-sdk into one: disk full".into(),
        });
    }));
    snapshot!("engine_pool", text);
}

#[test]
fn check_lines_and_totals() {
    let text = both(&capture(options(ProgressMode::Plain), |r| {
        r.event(&Event::CheckPassed(check(
            "found",
            "tool curl",
            "/usr/bin/curl\n",
        )));
        r.event(&Event::CheckFailed(check(
            "exit code 127",
            "command `make --version`",
            "sh: make: not found\n",
        )));
        r.note(Note::NothingToCheck {
            image: "go-sdk".into(),
        });
        r.note(Note::ContractPassedBefore {
            label: "rust".into(),
            id: ID_B.into(),
        });
        let counts = Counts {
            checked: 1,
            failed: 1,
            ..Counts::default()
        };
        r.summary(&counts, None, Duration::from_millis(700));
        r.note(Note::Checked {
            passed: 1,
            failed: 1,
        });
    }));
    snapshot!("check", text);
}

#[test]
fn check_under_quiet_shows_the_failed_requirement() {
    let opts = ReportOptions {
        quiet: true,
        ..options(ProgressMode::Plain)
    };
    let text = both(&capture(opts, |r| {
        r.event(&Event::CheckPassed(check(
            "found",
            "tool curl",
            "/usr/bin/curl",
        )));
        r.event(&Event::CheckFailed(check(
            "not found",
            "entrypoint /boot",
            "",
        )));
        r.note(Note::Checked {
            passed: 0,
            failed: 1,
        });
    }));
    snapshot!("check_quiet", text);
}

#[test]
fn build_notes() {
    let text = both(&capture(options(ProgressMode::Plain), |r| {
        r.note(Note::SecretBuildArgs {
            names: vec!["API_TOKEN".into()],
        });
        r.note(Note::SecretBuildArgs {
            names: vec!["API_TOKEN".into(), "DB_PASSWORD".into()],
        });
        r.note(Note::WaitingForLock);
        r.note(Note::ClassicBuilder {
            why: crate::engine::NoBuildKit::OldApi { api: "1.38".into() },
        });
        r.note(Note::Pulling {
            base: "debian:bookworm".into(),
            platform: "linux/arm64".into(),
            on: None,
        });
        r.note(Note::Pulled {
            base: "debian:bookworm".into(),
            platform: "linux/arm64".into(),
            digest: Some(ID_B.into()),
            on: Some("arm64-host".into()),
        });
        r.note(Note::Prepare {
            language: "rust".into(),
            run: vec![
                "cargo".into(),
                "build".into(),
                "--release".into(),
                "a b".into(),
            ],
        });
        r.note(Note::NothingPushedNoEngine);
        r.note(Note::NothingPushedFailed);
        r.note(Note::SbomWritten {
            image: "python-3.11-sdk".into(),
            path: "sboms/python-3.11-sdk.spdx.json".into(),
        });
        r.note(Note::NoSbom);
        r.note(Note::LicensesWritten {
            image: "python-3.11-sdk".into(),
            entries: 42,
            dir: "licenses-out/python-3.11-sdk".into(),
        });
        r.note(Note::PrintWithoutEngine {
            why: "cannot reach the Docker engine".into(),
        });
    }));
    snapshot!("notes_build", text);
}

#[test]
fn progress_notes_are_silent_under_progress_none() {
    let text = both(&capture(options(ProgressMode::Off), |r| {
        r.note(Note::Pulling {
            base: "debian:bookworm".into(),
            platform: "linux/amd64".into(),
            on: None,
        });
        r.note(Note::Prepare {
            language: "rust".into(),
            run: vec!["make".into()],
        });
        r.note(Note::WaitingForLock);
    }));
    snapshot!("notes_progress_none", text);
}

#[test]
fn publish_notes() {
    let text = both(&capture(options(ProgressMode::Plain), |r| {
        r.note(Note::WouldPush {
            id: ID_A.into(),
            refs: vec!["localhost:5000/sdk/go-sdk:1.0".into()],
            staged: None,
        });
        r.note(Note::WouldPush {
            id: ID_A.into(),
            refs: vec![
                "localhost:5000/sdk/go-sdk:1.0".into(),
                "localhost:5000/sdk/go-sdk:latest".into(),
            ],
            staged: Some(vec!["localhost:5000/sdk/go-sdk:staging".into()]),
        });
        r.note(Note::InterruptedDirectPush);
        r.note(Note::InterruptedStagingOnly);
        r.note(Note::SignalDuringRelease {
            signal: "SIGINT".into(),
        });
        r.note(Note::WouldPoint {
            target: "localhost:5000/sdk/go-sdk:1.0".into(),
            digest: ID_B.into(),
            now: None,
        });
        r.note(Note::PromoteDryRun { images: 2 });
        r.note(Note::Promoted {
            images: 2,
            from_tag: "rc1".into(),
            tags: vec!["1.0".into(), "latest".into()],
        });
    }));
    snapshot!("notes_publish", text);
}

#[test]
fn signing_and_diff_notes() {
    let text = both(&capture(options(ProgressMode::Plain), |r| {
        r.note(Note::Signed {
            image: "go".into(),
            digests: 3,
        });
        r.note(Note::SignedPromoted { digests: 3 });
        r.note(Note::SignaturesVerified {
            image: "go".into(),
            digests: 3,
            attestations: true,
        });
        r.note(Note::SignaturesVerified {
            image: "python".into(),
            digests: 1,
            attestations: false,
        });
        r.note(Note::DiffFromRegistries {
            why: "the Docker engine does not answer".into(),
        });
        r.note(Note::Reproduced {
            image: "localhost:5000/sdk/go-sdk:1.0".into(),
            digest: ID_B.into(),
            epoch: 1_700_000_000,
        });
    }));
    snapshot!("notes_signing_and_diff", text);
}

#[test]
fn init_notes() {
    let text = both(&capture(options(ProgressMode::Plain), |r| {
        r.note(Note::InitGuessed {
            guess: "language `python` from the base image python:3.11".into(),
        });
        r.note(Note::InitWroteWorkspace {
            file: "/repo/sdkimage-workspace.toml".into(),
        });
        r.note(Note::InitWroteManifest {
            path: "/repo/python/sdkimage.toml".into(),
            workspace: true,
        });
        r.note(Note::InitWroteManifest {
            path: "/elsewhere/sdkimage.toml".into(),
            workspace: false,
        });
    }));
    snapshot!("notes_init", text);
}

#[test]
fn list_table_of_entries() {
    let entry = |name: &str, language: &str, variant: Option<&str>, deps: &[&str]| ListEntry {
        language: language.into(),
        variant: variant.map(str::to_string),
        name: name.into(),
        refs: vec![format!("localhost:5000/sdk/{name}:1.0")],
        manifest: format!("{language}/sdkimage.toml"),
        depends_on: deps.iter().map(|d| d.to_string()).collect(),
        platforms: Vec::new(),
        target: None,
        engine: None,
    };
    let plain = vec![
        entry("base-sdk", "base", None, &[]),
        entry("python-3.11-sdk", "python", Some("3.11"), &["base-sdk"]),
    ];
    snapshot!("list_table", human::list_table(&plain));
    let mut wide = plain.clone();
    wide[1].platforms = vec!["linux/amd64".into(), "linux/arm64".into()];
    wide[0].target = Some("runtime".into());
    wide[1].engine = Some("big".into());
    snapshot!(
        "list_table_platforms_target_engine",
        human::list_table(&wide)
    );
    snapshot!("list_table_empty", human::list_table(&[]));
}

// --- Real library calls on a workspace on disk --------------------------------------------

/// A standalone workspace: `base`, and `python` (two variants) on it.
fn workspace(extra: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut files = vec![
        (
            "sdkimage-workspace.toml",
            "version = \"1.0.0\"\nrepository-root = \"localhost:5000/snap\"\ntags = [\"{version}\"]\ndefault-labels = false\nbuilder = \"classic\"\n",
        ),
        ("base/Dockerfile", "FROM scratch\nCOPY f /f\n"),
        ("base/f", "base"),
        (
            "base/sdkimage.toml",
            "language = \"base\"\nname = \"base\"\n",
        ),
        (
            "python/Dockerfile",
            "ARG FROM_IMAGE\nFROM ${FROM_IMAGE}\nARG PY\n",
        ),
        (
            "python/sdkimage.toml",
            "language = \"python\"\nname = \"python-{variant}\"\ndepends-on = [\"base\"]\n\n[variants]\n\"3.11\" = {}\n\"3.12\" = {}\n\n[build-args]\nFROM_IMAGE = \"{repository_root}/base:{tag}\"\nPY = \"{variant}\"\nAPI_TOKEN = \"t0ps3cret\"\n",
        ),
    ];
    for (rel, text) in extra {
        files.retain(|(r, _)| r != rel);
        files.push((rel, text));
    }
    for (rel, text) in files {
        crate::manifest::tests::write_under(dir.path(), rel, text);
    }
    dir
}

fn target(dir: &Path, selectors: &[&str]) -> Target {
    Target {
        manifest_path: Some(dir.join("sdkimage-workspace.toml")),
        cwd: dir.to_path_buf(),
        selectors: selectors.iter().map(|s| s.to_string()).collect(),
        plan: Default::default(),
        cargo: Default::default(),
    }
}

/// The final error of loading `dir`, as `cargo sdkimage` prints it, its folder as `[WS]`.
fn load_error(dir: &tempfile::TempDir, selectors: &[&str]) -> String {
    let Err(e) = load(&target(dir.path(), selectors)) else {
        panic!("the workspace loads");
    };
    error_text(&e, dir.path())
}

fn error_text(e: &crate::Error, root: &Path) -> String {
    let text = capture(options(ProgressMode::Plain), |r| r.error(&e.to_string())).stderr;
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    format!(
        "exit code {}\n{}",
        e.exit_code(),
        text.replace(&*root.to_string_lossy(), "[WS]")
    )
}

#[test]
fn error_unknown_manifest_key() {
    let dir = workspace(&[(
        "base/sdkimage.toml",
        "language = \"base\"\nname = \"base\"\ndepends_on = [\"x\"]\n",
    )]);
    snapshot!("error_unknown_manifest_key", load_error(&dir, &[]));
}

#[test]
fn error_unknown_selector() {
    let dir = workspace(&[]);
    snapshot!("error_unknown_selector", load_error(&dir, &["pyton:3.11"]));
}

#[test]
fn error_unknown_variant() {
    let dir = workspace(&[]);
    snapshot!("error_unknown_variant", load_error(&dir, &["python:3.13"]));
}

#[test]
fn error_bad_platform() {
    let dir = workspace(&[(
        "base/sdkimage.toml",
        "language = \"base\"\nname = \"base\"\nplatforms = [\"linux/amd46\"]\n",
    )]);
    snapshot!("error_bad_platform", load_error(&dir, &[]));
}

#[test]
fn error_toml_syntax() {
    let dir = workspace(&[("base/sdkimage.toml", "language = \"base\nname = \"base\"\n")]);
    snapshot!("error_toml_syntax", load_error(&dir, &[]));
}

#[test]
fn error_dependency_cycle() {
    let dir = workspace(&[(
        "base/sdkimage.toml",
        "language = \"base\"\nname = \"base\"\ndepends-on = [\"python\"]\n",
    )]);
    snapshot!("error_dependency_cycle", load_error(&dir, &[]));
}

#[test]
fn error_missing_dockerfile() {
    let dir = workspace(&[]);
    std::fs::remove_file(dir.path().join("base/Dockerfile")).unwrap();
    snapshot!("error_missing_dockerfile", load_error(&dir, &[]));
}

#[test]
fn error_bad_repository_root() {
    let dir = workspace(&[(
        "sdkimage-workspace.toml",
        "version = \"1.0.0\"\nrepository-root = \"localhost:5000/Snap\"\ntags = [\"{version}\"]\n",
    )]);
    snapshot!("error_bad_repository_root", load_error(&dir, &[]));
}

#[test]
fn error_no_manifests() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("sdkimage-workspace.toml"),
        "repository-root = \"localhost:5000/snap\"\n",
    )
    .unwrap();
    snapshot!("error_no_manifests", load_error(&dir, &[]));
}

#[tokio::test]
async fn error_engine_down() {
    let dir = tempfile::tempdir().unwrap();
    let host = crate::engine::host::EngineHost {
        host: format!("unix://{}/docker.sock", dir.path().display()),
        tls: None,
        source: "DOCKER_HOST".into(),
    };
    let Err(e) = crate::engine::Engine::connect_to(host).await else {
        panic!("nothing listens there");
    };
    snapshot!("error_engine_down", error_text(&e, dir.path()));
}

#[test]
fn dry_run_plan() {
    let dir = workspace(&[]);
    let l = load(&target(dir.path(), &[])).unwrap();
    let opts = crate::run::BuildOptions::plain(2);
    let text = crate::run::describe(&l.ws, &l.plan, &l.selection, &opts);
    let root = dir.path().canonicalize().unwrap();
    snapshot!(
        "build_dry_run",
        text.replace(&*root.to_string_lossy(), "[WS]")
    );
}

#[test]
fn print_without_an_engine() {
    let dir = workspace(&[]);
    let l = load(&target(dir.path(), &["python:3.11"])).unwrap();
    let opts = crate::run::BuildOptions::plain(2);
    let printed = crate::run::print_without_engine(&l.ws, &l.plan, &l.selection, &opts);
    let text = super::human::note(&Note::PrintWithoutEngine {
        why: "cannot reach the Docker engine".into(),
    }) + "\n"
        + &serde_json::to_string_pretty(&printed).unwrap();
    snapshot!("build_print_without_engine", text);
}

/// A real run of the scheduler over an in-memory engine, rendered as plain progress.
#[tokio::test]
async fn build_run_over_a_fake_engine() {
    use crate::engine::fake::FakeEngine;
    use crate::engine::{Builder, EngineApi};
    use crate::reference::Platform;

    let dir = workspace(&[]);
    let l = load(&target(dir.path(), &[])).unwrap();
    let native = Platform::parse("linux/amd64").unwrap();
    let fake = Arc::new(FakeEngine::new("one", "linux/amd64"));
    let pool = vec![crate::engine::pool::Member {
        name: "one".into(),
        api: fake.clone() as Arc<dyn EngineApi>,
        platforms: vec![native.clone()],
        native: native.clone(),
        jobs: 1,
    }];
    let (reporter, captured) = Reporter::capturing(options(ProgressMode::Plain));
    let reporter = Arc::new(reporter);
    let builders = vec![Builder::Classic; l.plan.images.len()];
    let session = Arc::new(crate::run::Session::new(
        l.ws,
        l.plan,
        pool,
        reporter.clone(),
        crate::interrupt::Interrupt::never(),
        builders,
        native,
    ));
    let opts = crate::run::BuildOptions::plain(1);
    let run = crate::run::build(session.clone(), &l.selection, &opts, &BTreeMap::new())
        .await
        .expect("the run ends");
    let rows: Vec<ResultRow> = run
        .results
        .iter()
        .map(|r| ResultRow {
            image: session.plan.image(r.image).name.clone(),
            outcome: r.outcome,
            // A real duration's width would move the table's columns from run to run.
            duration: Duration::from_millis(100),
            id: r.id.clone(),
        })
        .collect();
    let counts = Counts {
        built: rows.iter().filter(|r| r.outcome == Outcome::Built).count(),
        ..Counts::default()
    };
    reporter.summary(&counts, Some(&rows), Duration::from_millis(1));
    let text = both(&captured.lock().unwrap());
    snapshot!("build_run_fake_engine", text);
}
