//! The scheduler over an engine pool with in-memory engines (`engine::fake`): a real
//! workspace and plan on disk, no daemon. Placement spreads a chain and a fan-out, moves each
//! dependency to its dependant's engine by id, gathers every image on the first engine, and
//! requeues what a lost engine held.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::commands::{Target, load};
use crate::engine::fake::FakeEngine;
use crate::engine::{Builder, EngineApi};
use crate::interrupt::Interrupt;
use crate::reference::Platform;
use crate::report::{MessageFormat, ProgressMode, ReportOptions, Reporter};

/// A standalone workspace: `base` -> `mid` -> `top`, and `base` -> `leaf:1..3`.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let write = |rel: &str, text: &str| crate::manifest::tests::write_under(dir.path(), rel, text);
    write(
        "sdkimage-workspace.toml",
        "version = \"1.0.0\"\nrepository-root = \"fake.local/pool\"\ntags = [\"{version}\"]\ndefault-labels = false\nbuilder = \"classic\"\n",
    );
    write("base/Dockerfile", "FROM scratch\nCOPY f /f\n");
    write("base/f", "base");
    write(
        "base/sdkimage.toml",
        "language = \"base\"\nname = \"base\"\n",
    );
    for (name, on) in [("mid", "base"), ("top", "mid")] {
        write(
            &format!("{name}/Dockerfile"),
            "ARG FROM_IMAGE\nFROM ${FROM_IMAGE}\n",
        );
        write(
            &format!("{name}/sdkimage.toml"),
            &format!(
                "language = \"{name}\"\nname = \"{name}\"\ndepends-on = [\"{on}\"]\n\n[build-args]\nFROM_IMAGE = \"{{repository_root}}/{on}:{{tag}}\"\n"
            ),
        );
    }
    write(
        "leaf/Dockerfile",
        "ARG FROM_IMAGE\nFROM ${FROM_IMAGE}\nARG N\n",
    );
    write(
        "leaf/sdkimage.toml",
        "language = \"leaf\"\nname = \"leaf{variant}\"\ndepends-on = [\"base\"]\n\n[variants]\n\"1\" = {}\n\"2\" = {}\n\"3\" = {}\n\n[build-args]\nFROM_IMAGE = \"{repository_root}/base:{tag}\"\nN = \"{variant}\"\n",
    );
    dir
}

fn member(name: &str, fake: &Arc<FakeEngine>) -> Member {
    let native = Platform::parse("linux/amd64").unwrap();
    Member {
        name: name.into(),
        api: fake.clone() as Arc<dyn EngineApi>,
        platforms: vec![native.clone()],
        native,
        jobs: 1,
    }
}

fn options() -> BuildOptions {
    BuildOptions::plain(1)
}

/// A session over `pool` for the whole workspace at `dir`, and its selection.
fn session_over(dir: &std::path::Path, pool: Vec<Member>) -> (Arc<Session>, Vec<ImageIndex>) {
    let target = Target {
        manifest_path: Some(dir.join("sdkimage-workspace.toml")),
        cwd: dir.to_path_buf(),
        selectors: Vec::new(),
        plan: Default::default(),
        cargo: Default::default(),
    };
    let l = load(&target).expect("the workspace loads");
    let builders = vec![Builder::Classic; l.plan.images.len()];
    let reporter = Arc::new(Reporter::new(ReportOptions {
        format: MessageFormat::Human,
        progress: ProgressMode::Off,
        color: false,
        verbose: false,
        quiet: true,
    }));
    let session = Arc::new(Session::new(
        l.ws,
        l.plan,
        pool,
        reporter,
        Interrupt::never(),
        builders,
        Platform::parse("linux/amd64").unwrap(),
    ));
    (session, l.selection)
}

/// Build the whole workspace at `dir` over `pool`.
async fn build_over(dir: &std::path::Path, pool: Vec<Member>) -> (Arc<Session>, BuildRun) {
    let (session, selection) = session_over(dir, pool);
    let run = build(session.clone(), &selection, &options(), &BTreeMap::new())
        .await
        .expect("the run ends");
    (session, run)
}

fn by_name<'a>(session: &Session, run: &'a BuildRun) -> BTreeMap<String, &'a ImageResult> {
    run.results
        .iter()
        .map(|r| (session.plan.image(r.image).name.clone(), r))
        .collect()
}

#[tokio::test]
async fn a_chain_and_a_fan_out_spread_over_two_engines() {
    let dir = workspace();
    let slow = Duration::from_millis(300);
    let one = Arc::new(FakeEngine::new("one", "linux/amd64").build_time(slow));
    let two = Arc::new(FakeEngine::new("two", "linux/amd64").build_time(slow));
    let (session, run) =
        build_over(dir.path(), vec![member("one", &one), member("two", &two)]).await;
    let results = by_name(&session, &run);
    assert!(
        results.values().all(|r| r.outcome == Outcome::Built),
        "{results:#?}"
    );
    // The critical path first: base, then mid (its chain is the longest) where base is; the
    // leaves go to the idle engine rather than wait.
    assert_eq!(results["base"].engine.as_deref(), Some("one"));
    assert_eq!(results["mid"].engine.as_deref(), Some("one"));
    assert!(
        !two.built.lock().unwrap().is_empty(),
        "the idle engine takes work"
    );
    for (name, r) in &results {
        let id = r.id.clone().unwrap();
        assert!(one.has(&id), "{name} gathered on the first engine");
        if r.engine.as_deref() == Some("two") {
            // Its dependency came to the second engine by id, under its ref.
            let base = results["base"].id.clone().unwrap();
            assert!(two.has(&base));
            assert_eq!(two.tagged("fake.local/pool/base:1.0.0"), Some(base));
        }
    }
    assert!(run.lost.is_empty() && run.no_engine.is_none());
}

#[tokio::test]
async fn an_engine_lost_mid_run_has_its_image_built_again_on_the_other() {
    let dir = workspace();
    let slow = Duration::from_millis(200);
    let one = Arc::new(FakeEngine::new("one", "linux/amd64").build_time(slow));
    let two = Arc::new(
        FakeEngine::new("two", "linux/amd64")
            .build_time(slow)
            .die_at_build(1),
    );
    let (session, run) =
        build_over(dir.path(), vec![member("one", &one), member("two", &two)]).await;
    let results = by_name(&session, &run);
    assert!(
        results.values().all(|r| r.outcome == Outcome::Built),
        "{results:#?}"
    );
    assert_eq!(run.lost, ["two"]);
    let requeued: Vec<&&ImageResult> = results
        .values()
        .filter(|r| !r.requeued_from.is_empty())
        .collect();
    assert_eq!(requeued.len(), 1, "{results:#?}");
    assert_eq!(requeued[0].requeued_from, ["two"]);
    assert_eq!(requeued[0].engine.as_deref(), Some("one"));
    assert!(results.values().all(|r| one.has(r.id.as_deref().unwrap())));
}

#[tokio::test]
async fn no_engine_left_ends_the_run_with_nothing_tagged_on_the_lost_ones() {
    let dir = workspace();
    let one = Arc::new(FakeEngine::new("one", "linux/amd64").die_at_build(1));
    let two = Arc::new(FakeEngine::new("two", "linux/amd64").die_at_build(1));
    let (session, run) =
        build_over(dir.path(), vec![member("one", &one), member("two", &two)]).await;
    assert!(run.no_engine.is_some());
    assert_eq!(run.lost.len(), 2);
    let results = by_name(&session, &run);
    assert!(results.values().all(|r| r.id.is_none()), "{results:#?}");
    assert_eq!(one.tagged("fake.local/pool/base:1.0.0"), None);
}

#[tokio::test]
async fn an_image_loses_its_engine_at_most_three_times() {
    let dir = workspace();
    let pool: Vec<Arc<FakeEngine>> = (0..4)
        .map(|i| Arc::new(FakeEngine::new(&format!("e{i}"), "linux/amd64").die_at_build(1)))
        .collect();
    let members = pool
        .iter()
        .enumerate()
        .map(|(i, f)| member(&format!("e{i}"), f))
        .collect();
    let (session, run) = build_over(dir.path(), members).await;
    let results = by_name(&session, &run);
    let base = results["base"];
    assert_eq!(base.outcome, Outcome::Failed);
    assert_eq!(base.requeued_from.len(), 3, "{base:#?}");
    assert!(
        base.message
            .as_deref()
            .unwrap()
            .contains("lost its engine 3 times")
    );
}

#[tokio::test]
async fn an_engine_that_hangs_is_found_lost_and_its_build_requeued() {
    let dir = workspace();
    let slow = Duration::from_millis(200);
    let one = Arc::new(FakeEngine::new("one", "linux/amd64").build_time(slow));
    let two = Arc::new(
        FakeEngine::new("two", "linux/amd64")
            .build_time(slow)
            .hang_at_build(1),
    );
    let run = tokio::time::timeout(
        Duration::from_secs(60),
        build_over(dir.path(), vec![member("one", &one), member("two", &two)]),
    );
    let (session, run) = run.await.expect("a hung engine does not hang the run");
    let results = by_name(&session, &run);
    assert!(
        results.values().all(|r| r.outcome == Outcome::Built),
        "{results:#?}"
    );
    assert_eq!(run.lost, ["two"]);
    assert!(results.values().any(|r| r.requeued_from == ["two"]));
}

#[tokio::test]
async fn an_image_up_to_date_on_another_engine_is_moved_not_rebuilt() {
    let dir = workspace();
    let one = Arc::new(FakeEngine::new("one", "linux/amd64"));
    let two = Arc::new(FakeEngine::new("two", "linux/amd64"));
    build_over(dir.path(), vec![member("one", &one)]).await;
    let built = one.built.lock().unwrap().len();
    // Now `two` comes first: what `one` holds is moved there, nothing is built again.
    let (session, run) =
        build_over(dir.path(), vec![member("two", &two), member("one", &one)]).await;
    let results = by_name(&session, &run);
    // Up to date; its refs are new on `two`, so pointed there (`retagged`).
    assert!(
        results
            .values()
            .all(|r| matches!(r.outcome, Outcome::UpToDate | Outcome::Retagged)),
        "{results:#?}"
    );
    assert!(two.built.lock().unwrap().is_empty());
    assert_eq!(one.built.lock().unwrap().len(), built);
    assert!(results.values().all(|r| two.has(r.id.as_deref().unwrap())));
}

#[tokio::test]
async fn what_reads_a_built_image_reads_it_where_it_is() {
    let dir = workspace();
    let slow = Duration::from_millis(200);
    let one = Arc::new(FakeEngine::new("one", "linux/amd64").build_time(slow));
    let two = Arc::new(FakeEngine::new("two", "linux/amd64").build_time(slow));
    let (session, run) =
        build_over(dir.path(), vec![member("one", &one), member("two", &two)]).await;
    let on_two = run
        .results
        .iter()
        .find(|r| r.engine.as_deref() == Some("two"))
        .expect("the second engine built one");
    let at = |api: &dyn EngineApi| api.host().host.clone();
    // `--check`, `--sbom-dir` and `licenses` read an image on the engine that built it...
    assert_eq!(at(holder(&session, on_two)), "fake://two");
    // ... and, once that one is lost, on the first that answers (the gather put it there).
    session.lose(1);
    assert_eq!(at(holder(&session, on_two)), "fake://one");
    session.lose(0);
    assert_eq!(home(&session), 0);
}

#[tokio::test]
async fn bases_are_pulled_on_every_engine_that_may_build_on_them() {
    let dir = workspace();
    std::fs::write(
        dir.path().join("base/Dockerfile"),
        "FROM fake.local/ext/os:1\nCOPY f /f\n",
    )
    .unwrap();
    let one = Arc::new(FakeEngine::new("one", "linux/amd64"));
    let two = Arc::new(FakeEngine::new("two", "linux/amd64"));
    let arm = Arc::new(FakeEngine::new("arm", "linux/arm64"));
    let mut arm_member = member("arm", &arm);
    arm_member.native = Platform::parse("linux/arm64").unwrap();
    arm_member.platforms = vec![arm_member.native.clone()];
    let (session, selection) = session_over(
        dir.path(),
        vec![member("one", &one), member("two", &two), arm_member],
    );
    let mut opts = options();
    opts.pull = true;
    pull_then_prepare(&session, &selection, &opts)
        .await
        .expect("pulled");
    let pulled = |f: &FakeEngine| f.pulled.lock().unwrap().clone();
    // Both amd64 engines may build `base`; the arm64 one would only emulate it.
    assert_eq!(pulled(&one), ["fake.local/ext/os:1 linux/amd64"]);
    assert_eq!(pulled(&two), ["fake.local/ext/os:1 linux/amd64"]);
    assert!(pulled(&arm).is_empty());
}
