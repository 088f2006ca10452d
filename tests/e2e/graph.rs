//! The build graph: order under `-j`, up-to-date skipping, invalidation, re-tagging,
//! `--keep-going`, and cancellation by signal.

use std::time::{Duration, Instant};

use sdkimage::output::{Event, EventKind, Outcome};

use crate::support::{
    Repo, builder_plain_meta, counts, docker_image_id, parse_events, read_metadata,
};

/// `cargo-sdkimage sdkimage <args> --message-format json --progress none`.
fn json_run(repo: &Repo, args: &[&str]) -> crate::support::Run {
    let mut all = args.to_vec();
    all.extend(["--message-format", "json", "--progress", "none"]);
    repo.run(&all)
}

/// `(event, image)` pairs of a JSON run, summary excluded.
fn timeline(events: &[Event]) -> Vec<(EventKind, String)> {
    events
        .iter()
        .filter_map(|e| Some((e.kind(), e.image()?.to_string())))
        .collect()
}

fn position(timeline: &[(EventKind, String)], event: EventKind, image: &str) -> usize {
    timeline
        .iter()
        .position(|(e, i)| *e == event && i == image)
        .unwrap_or_else(|| panic!("no {event:?} for {image} in {timeline:?}"))
}

/// The last event of each image other than `build-started`.
fn outcomes(events: &[Event]) -> std::collections::BTreeMap<String, EventKind> {
    events
        .iter()
        .filter(|e| e.kind() != EventKind::BuildStarted)
        .filter_map(|e| Some((e.image()?.to_string(), e.kind())))
        .collect()
}

/// Make every SDK image take a moment, so parallel builds overlap visibly.
fn slow_sdks(repo: &Repo) {
    for dir in ["sdks/go/container", "sdks/python/container"] {
        let path = format!("{dir}/Dockerfile");
        let text = std::fs::read_to_string(repo.file(&path)).unwrap();
        repo.write(
            &path,
            &text.replace("ENTRYPOINT", "RUN sleep 1\nENTRYPOINT"),
        );
    }
}

#[test]
fn dependencies_first_and_independent_images_in_parallel() {
    let repo = Repo::new("beam");
    slow_sdks(&repo);
    let run = json_run(&repo, &["build", "-j", "3", "--tag", "t"]);
    run.success();
    let t = timeline(&run.events());
    let base_done = position(&t, EventKind::BuildFinished, "beam_base");
    for sdk in ["beam_go_sdk", "beam_python3.10_sdk", "beam_python3.11_sdk"] {
        assert!(
            position(&t, EventKind::BuildStarted, sdk) > base_done,
            "{sdk} started before its base: {t:?}"
        );
    }
    // The three SDK images ran at the same time: all started before any finished.
    let first_sdk_finished = ["beam_go_sdk", "beam_python3.10_sdk", "beam_python3.11_sdk"]
        .iter()
        .map(|s| position(&t, EventKind::BuildFinished, s))
        .min()
        .unwrap();
    for sdk in ["beam_go_sdk", "beam_python3.10_sdk", "beam_python3.11_sdk"] {
        assert!(
            position(&t, EventKind::BuildStarted, sdk) < first_sdk_finished,
            "not parallel: {t:?}"
        );
    }

    // -j 1: one at a time.
    let run = json_run(&repo, &["build", "-j", "1", "--force", "--tag", "t"]);
    run.success();
    let t = timeline(&run.events());
    for pair in t.chunks(2) {
        assert_eq!(pair[0].0, EventKind::BuildStarted, "{t:?}");
        assert_eq!(
            pair[1],
            (EventKind::BuildFinished, pair[0].1.clone()),
            "{t:?}"
        );
    }
}

#[test]
fn up_to_date_images_are_skipped_and_changes_rebuild_only_what_they_touch() {
    let repo = Repo::new("beam");
    repo.run(&["build", "--tag", "1.0", "--progress", "none"])
        .success();
    let ids = |tag: &str| -> Vec<Option<String>> {
        [
            "beam_base",
            "beam_go_sdk",
            "beam_python3.10_sdk",
            "beam_python3.11_sdk",
        ]
        .iter()
        .map(|n| docker_image_id(&format!("{}/{n}:{tag}", repo.root)))
        .collect()
    };
    let first = ids("1.0");
    assert!(first.iter().all(Option::is_some));

    // Nothing changed: all up to date, nothing sent to the engine, fast.
    let started = Instant::now();
    let run = json_run(&repo, &["build", "--tag", "1.0"]);
    run.success();
    assert!(started.elapsed() < Duration::from_secs(5));
    let o = outcomes(&run.events());
    assert!(o.values().all(|v| *v == EventKind::UpToDate), "{o:?}");
    assert_eq!(counts(run.events().last().unwrap()).up_to_date, 4);

    // A new release tag alone rebuilds nothing: the images are re-tagged (the python and go
    // images name the base by ref in a build arg, which counts by the base's id).
    let run = json_run(&repo, &["build", "--tag", "2.0"]);
    run.success();
    let o = outcomes(&run.events());
    assert!(o.values().all(|v| *v == EventKind::Retagged), "{o:?}");
    assert_eq!(ids("2.0"), first);

    // A change in the python context rebuilds both python variants, nothing else.
    repo.write(
        "sdks/python/container/boot.sh",
        "#!/bin/sh\necho changed boot\n",
    );
    let run = json_run(&repo, &["build", "--tag", "2.0"]);
    run.success();
    let o = outcomes(&run.events());
    assert_eq!(o["beam_base"], EventKind::UpToDate);
    assert_eq!(o["beam_go_sdk"], EventKind::UpToDate);
    assert_eq!(o["beam_python3.10_sdk"], EventKind::BuildFinished);
    assert_eq!(o["beam_python3.11_sdk"], EventKind::BuildFinished);

    // A mode change counts too.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            repo.file("sdks/go/container/boot.sh"),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        let run = json_run(&repo, &["build", "go", "--tag", "2.0"]);
        let o = outcomes(&run.events());
        assert_eq!(o["beam_go_sdk"], EventKind::BuildFinished, "{o:?}");
    }

    // A change to the base rebuilds the base and everything that depends on it.
    repo.write("sdks/base/Dockerfile", "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nENV CHANGED=1\n");
    let run = json_run(&repo, &["build", "--tag", "2.0"]);
    run.success();
    let o = outcomes(&run.events());
    assert!(o.values().all(|v| *v == EventKind::BuildFinished), "{o:?}");

    // A new build arg value rebuilds; --force rebuilds even when up to date.
    let run = json_run(
        &repo,
        &["build", "go", "--tag", "2.0", "--build-arg", "EXTRA=1"],
    );
    assert_eq!(
        outcomes(&run.events())["beam_go_sdk"],
        EventKind::BuildFinished
    );
    let run = json_run(
        &repo,
        &[
            "build",
            "go",
            "--tag",
            "2.0",
            "--build-arg",
            "EXTRA=1",
            "--force",
        ],
    );
    let o = outcomes(&run.events());
    assert_eq!(o["beam_base"], EventKind::BuildFinished);
    assert_eq!(o["beam_go_sdk"], EventKind::BuildFinished);

    // An image removed from the engine behind our back is rebuilt.
    let go = format!("{}/beam_go_sdk:2.0", repo.root);
    let out = std::process::Command::new("docker")
        .args(["rmi", "-f", "--no-prune", &go])
        .output()
        .unwrap();
    assert!(out.status.success());
    let run = json_run(
        &repo,
        &["build", "go", "--tag", "2.0", "--build-arg", "EXTRA=1"],
    );
    assert_eq!(
        outcomes(&run.events())["beam_go_sdk"],
        EventKind::BuildFinished
    );
    assert!(docker_image_id(&go).is_some());
}

fn break_go(repo: &Repo) {
    repo.write(
        "sdks/go/container/Dockerfile",
        "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN exit 1\n",
    );
}

#[test]
fn the_first_failure_stops_new_builds_unless_keep_going() {
    let repo = Repo::new("beam");
    break_go(&repo);
    // -j 1 builds in order base, go, python: go fails, python is never started.
    let run = json_run(&repo, &["build", "-j", "1", "--tag", "k"]);
    run.expect_code(1);
    let events = run.events();
    let o = outcomes(&events);
    assert_eq!(o["beam_go_sdk"], EventKind::Failed);
    assert!(!o.contains_key("beam_python3.10_sdk"), "{o:?}");
    let counts = counts(
        events
            .iter()
            .find(|e| e.kind() == EventKind::Summary)
            .unwrap(),
    );
    assert_eq!((counts.built, counts.failed, counts.skipped), (1, 1, 2));
    run.assert_stderr_contains("beam_go_sdk");

    // --keep-going builds everything that does not depend on the failure.
    let run = json_run(&repo, &["build", "-j", "1", "--tag", "k", "--keep-going"]);
    run.expect_code(1);
    let o = outcomes(&run.events());
    assert_eq!(o["beam_go_sdk"], EventKind::Failed);
    assert_eq!(o["beam_python3.10_sdk"], EventKind::BuildFinished);
    assert_eq!(o["beam_python3.11_sdk"], EventKind::BuildFinished);
    assert!(docker_image_id(&format!("{}/beam_go_sdk:k", repo.root)).is_none());
    assert!(docker_image_id(&format!("{}/beam_python3.11_sdk:k", repo.root)).is_some());
}

#[test]
fn a_failed_base_skips_its_dependants() {
    let repo = Repo::new("beam");
    repo.write(
        "sdks/base/Dockerfile",
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"false\"]\n",
    );
    let run = json_run(&repo, &["build", "--keep-going", "--tag", "s"]);
    run.expect_code(1);
    let events = run.events();
    assert_eq!(
        outcomes(&events).len(),
        1,
        "only the base was attempted: {events:?}"
    );
    let summary = events
        .iter()
        .find(|e| e.kind() == EventKind::Summary)
        .unwrap();
    assert_eq!(counts(summary).skipped, 3);
}

/// Start `cargo-sdkimage sdkimage <args>` in the repo and return once a stderr line holds
/// `marker` (the rest of stderr is dropped).
#[cfg(unix)]
/// Waits until the prepare step is `running`, sends Ctrl-C to `child` and waits for it to exit
/// with 130: its output and when the signal went out.
#[track_caller]
fn interrupt_once_running(
    child: std::process::Child,
    running: impl Fn() -> bool,
) -> (std::process::Output, Instant) {
    assert!(
        wait_for(running, Duration::from_secs(10)),
        "the prepare step never started"
    );
    let started = Instant::now();
    kill(&child, "INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    (out, started)
}

fn spawn_until(repo: &Repo, args: &[&str], marker: &str) -> std::process::Child {
    spawn_until_with(repo, args, marker, &[])
}

fn spawn_until_with(
    repo: &Repo,
    args: &[&str],
    marker: &str,
    env: &[(&str, &str)],
) -> std::process::Child {
    let mut child = crate::support::tool()
        .arg("sdkimage")
        .args(args)
        .args(["--repository-root", &repo.root])
        .envs(env.iter().copied())
        .current_dir(repo.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let marker = marker.to_string();
    let seen = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut seen = Vec::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let found = line.contains(&marker);
            seen.push(line);
            if found {
                return Ok(());
            }
        }
        Err(seen)
    });
    if let Err(seen) = seen.join().unwrap() {
        panic!("the run ended before printing the marker: {seen:#?}");
    }
    child
}

/// Whether a process whose command line contains `pattern` runs.
fn process_running(pattern: &str) -> bool {
    let ps = std::process::Command::new("pgrep")
        .args(["-f", pattern])
        .output()
        .unwrap();
    !String::from_utf8_lossy(&ps.stdout).trim().is_empty()
}

/// Poll `condition` until it holds or `limit` passes; whether it held.
pub(crate) fn wait_for(condition: impl Fn() -> bool, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while !condition() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    condition()
}

#[cfg(unix)]
pub(crate) fn kill(child: &std::process::Child, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[cfg(unix)]
#[test]
fn a_signal_cancels_running_builds_and_tags_nothing() {
    // SIGINT under BuildKit (the default), SIGTERM under the classic builder.
    for (signal, code, builder) in [("INT", 130, "buildkit"), ("TERM", 143, "classic")] {
        let repo = Repo::new("beam");
        repo.write(
            "sdks/go/container/Dockerfile",
            "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo long-step-started && sleep 60\n",
        );
        let meta = repo.file("meta.json");
        let args = [
            &["build", "go", "--tag", "sig"][..],
            &builder_plain_meta(builder, &meta),
        ]
        .concat();
        // The step's start (BuildKit: `#6 [2/2] RUN echo long-step-started ...`) or its
        // output (classic).
        let child = spawn_until(&repo, &args, " long-step-started");
        let started = Instant::now();
        kill(&child, signal);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(code));
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "cancellation took {:?}",
            started.elapsed()
        );
        assert!(docker_image_id(&format!("{}/beam_go_sdk:sig", repo.root)).is_none());
        let meta = read_metadata(&meta);
        assert_eq!(meta["beam_go_sdk"].outcome, Outcome::Failed);
        assert!(meta["beam_go_sdk"].duration_ms > 0, "{meta:?}");
        // The engine stopped the step's container.
        let ps = std::process::Command::new("docker")
            .args(["ps", "--no-trunc", "--format", "{{.Command}}"])
            .output()
            .unwrap();
        assert!(
            !String::from_utf8_lossy(&ps.stdout).contains("long-step-started"),
            "container still running"
        );
    }
}

#[cfg(unix)]
#[test]
fn a_signal_during_prepare_still_writes_the_metadata_file_and_summary() {
    let repo = Repo::new("beam");
    repo.write(
        "sdks/python/container/sdkimage.toml",
        "language = \"python\"\nname = \"beam_python_sdk\"\n[[prepare]]\nrun = [\"sh\", \"-c\", \"echo preparing >&2; sleep 59\"]\n",
    );
    let meta = repo.file("meta.json");
    let meta_arg = meta.to_str().unwrap();
    let args = [
        "build",
        "python",
        "--message-format",
        "json",
        "--metadata-file",
        meta_arg,
    ];
    let child = spawn_until(&repo, &args, "prepare:");
    // The prepare step's own process is running before the signal.
    let running = || process_running("sleep 59");
    let (out, started) = interrupt_once_running(child, running);
    assert!(started.elapsed() < Duration::from_secs(10));
    let meta = read_metadata(&meta);
    assert_eq!(meta["beam_python_sdk"].outcome, Outcome::Skipped);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        parse_events(&stdout)
            .iter()
            .any(|e| e.kind() == EventKind::Summary),
        "{stdout}"
    );
    // The prepare step's processes (the shell and its `sleep`) were stopped with us.
    assert!(
        wait_for(|| !running(), Duration::from_secs(5)),
        "prepare step still running"
    );
}

/// A prepare step that ignores SIGTERM (and its child, which inherits that) is gone when the
/// tool exits after Ctrl-C: SIGKILL to its process group after a grace of 2 s.
#[cfg(unix)]
#[test]
fn a_prepare_step_that_ignores_sigterm_is_killed_before_the_tool_exits() {
    let repo = Repo::new("beam");
    let marker = format!("sleep 57.{}", std::process::id());
    repo.write(
        "sdks/python/container/sdkimage.toml",
        &format!("language = \"python\"\nname = \"beam_python_sdk\"\n[[prepare]]\nrun = [\"sh\", \"-c\", \"trap '' TERM; echo preparing >&2; {marker}; true\"]\n"),
    );
    let args = ["build", "python", "--progress", "plain"];
    let child = spawn_until(&repo, &args, "prepare:");
    let running = || process_running(&marker);
    let (_, started) = interrupt_once_running(child, running);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // Gone when we exited (a moment for init to reap what it inherited).
    assert!(
        wait_for(|| !running(), Duration::from_millis(500)),
        "the prepare step outlived the tool"
    );
}

/// A unix socket that forwards to the real engine until `cut`, which drops every connection:
/// an engine that goes away in the middle of a run.
#[cfg(unix)]
struct EngineProxy {
    path: std::path::PathBuf,
    conns: std::sync::Arc<std::sync::Mutex<Vec<std::os::unix::net::UnixStream>>>,
}

#[cfg(unix)]
impl EngineProxy {
    fn start(path: std::path::PathBuf) -> EngineProxy {
        use std::os::unix::net::{UnixListener, UnixStream};
        let engine = match std::env::var("DOCKER_HOST") {
            Ok(h) if h.starts_with("unix://") => h["unix://".len()..].to_string(),
            _ => "/var/run/docker.sock".to_string(),
        };
        let listener = UnixListener::bind(&path).unwrap();
        let conns = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = conns.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let Ok(upstream) = UnixStream::connect(&engine) else {
                    return;
                };
                let mut all = kept.lock().unwrap();
                all.extend([client.try_clone().unwrap(), upstream.try_clone().unwrap()]);
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), upstream.try_clone().unwrap()),
                    (upstream, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Write);
                    });
                }
            }
        });
        EngineProxy { path, conns }
    }

    fn cut(&self) {
        let _ = std::fs::remove_file(&self.path);
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }
}

#[cfg(unix)]
#[test]
fn an_engine_lost_mid_build_exits_3_and_tags_nothing() {
    let repo = Repo::new("beam");
    repo.write(
        "sdks/go/container/Dockerfile",
        "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo long-step-started && sleep 30\n",
    );
    let socket = repo.path().join("engine.sock");
    let proxy = EngineProxy::start(socket.clone());
    let host = format!("unix://{}", socket.display());
    let args = [
        "build",
        "go",
        "--tag",
        "lost",
        "--progress",
        "plain",
        "--message-format",
        "json",
    ];
    let child = spawn_until_with(
        &repo,
        &args,
        " long-step-started",
        &[("DOCKER_HOST", &host)],
    );
    proxy.cut();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    let error = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Event>(l).ok())
        .find(|e| e.kind() == EventKind::Error)
        .expect("an error event");
    let message = error.message().unwrap();
    assert!(
        message.starts_with("1 image(s) failed: beam_go_sdk"),
        "{message}"
    );
    assert!(
        message.contains(&host),
        "names the engine's address: {message}"
    );
    assert!(docker_image_id(&format!("{}/beam_go_sdk:lost", repo.root)).is_none());
    // The step's container is the engine's to stop once the connection is gone.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let ps = std::process::Command::new("docker")
            .args(["ps", "--no-trunc", "--format", "{{.Command}}"])
            .output()
            .unwrap();
        if !String::from_utf8_lossy(&ps.stdout).contains("long-step-started") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the step container outlived the run"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
