//! A build cache through the registry: build and push with the inline cache on the shared
//! engine, then build again on a second, empty engine (a cold CI runner: its own dockerd, data
//! root and socket, started by `scripts/services.sh`'s `start_cold_engine`), whose steps must
//! all come from the registry's cache.

use std::path::{Path, PathBuf};
use std::process::Command;

use sdkimage::output::EventKind;

use crate::support::{Repo, Run, docker, test_registry};

/// A second dockerd with nothing in it, stopped and its data removed when dropped, whatever
/// the test did.
pub(crate) struct ColdEngine {
    pub(crate) dir: PathBuf,
    pub(crate) host: String,
}

fn services_sh() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/services.sh")
}

impl ColdEngine {
    /// Start one whose loopback forwards the test registry's port to the host's.
    pub(crate) fn start() -> ColdEngine {
        ColdEngine::start_with(&[])
    }

    /// As [`ColdEngine::start`], with `env` for `start_cold_engine` (`COLD_ENGINE_ARGS`,
    /// `COLD_ENGINE_EXPOSE`).
    pub(crate) fn start_with(env: &[(&str, &str)]) -> ColdEngine {
        let registry = test_registry();
        let port = registry.rsplit_once(':').map_or("5000", |(_, p)| p);
        // Short: the socket's path must fit in 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("sdkcold-")
            .tempdir_in("/tmp")
            .expect("temp dir")
            .keep();
        let mut engine = ColdEngine {
            dir,
            host: String::new(),
        };
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                ". '{}' && start_cold_engine '{}' {port}",
                services_sh().display(),
                engine.dir.display()
            ))
            .envs(env.iter().copied())
            .output()
            .expect("bash");
        assert!(
            out.status.success(),
            "start_cold_engine failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        engine.host = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(engine.host.starts_with("unix://"), "{}", engine.host);
        engine
    }

    /// `docker -H <this engine> <args>`, which must succeed: its stdout.
    #[track_caller]
    pub(crate) fn docker(&self, args: &[&str]) -> String {
        let out = Command::new("docker")
            .args(["-H", &self.host])
            .args(args)
            .output()
            .expect("docker CLI");
        assert!(
            out.status.success(),
            "docker -H {} {} failed: {}",
            self.host,
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The tool, in `repo`, against this engine.
    fn run(&self, repo: &Repo, args: &[&str]) -> Run {
        repo.run_with(args, &[("DOCKER_HOST", &self.host)])
    }
}

impl Drop for ColdEngine {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg("-c")
            .arg(format!(
                ". '{}' && stop_cold_engine '{}'",
                services_sh().display(),
                self.dir.display()
            ))
            .output();
    }
}

/// The BuildKit steps of `label`'s plain progress (`[label] #3 [build 2/2] RUN ...`): for each,
/// its line and whether it ended `CACHED`.
fn steps(stderr: &str, label: &str) -> Vec<(String, bool)> {
    let prefix = format!("[{label}] #");
    let lines: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .collect();
    lines
        .iter()
        .filter_map(|l| {
            let (n, rest) = l.split_once(' ')?;
            (rest.starts_with('[') && !rest.starts_with("[internal]")).then_some((n, rest))
        })
        .map(|(n, rest)| {
            let cached = lines.contains(&format!("{n} CACHED").as_str());
            (rest.to_string(), cached)
        })
        .collect()
}

/// The layers (diff ids) of `reference` on the engine `docker` asks.
fn layers(docker: impl Fn(&[&str]) -> String, reference: &str) -> Vec<String> {
    let text = docker(&[
        "image",
        "inspect",
        "--format",
        "{{json .RootFS.Layers}}",
        reference,
    ]);
    serde_json::from_str(text.trim()).expect("RootFS.Layers is JSON")
}

/// Build on the shared engine with `first` and push; build on a cold engine with `cold`: every
/// step must come from the registry's cache, with the pushed layers.
fn cold_runner_reuses_the_pushed_cache(repo: &Repo, first: &[&str], cold: &[&str]) {
    let reference = repo.image_ref("cold_sdk", "1.0.0");
    let warm = repo.run(&[&["build", "--push", "--progress", "plain"], first].concat());
    warm.success();
    let pushed_layers = layers(docker, &reference);
    let artifact = docker(&["run", "--rm", "--network", "none", &reference]);

    let engine = ColdEngine::start();
    assert!(
        engine.docker(&["image", "ls", "-q"]).trim().is_empty(),
        "the second engine is not empty"
    );
    let run = engine.run(
        repo,
        &[
            &["build", "--progress", "plain", "--message-format", "json"],
            cold,
        ]
        .concat(),
    );
    run.success();
    assert_eq!(run.summary().built, 1, "{}", run.stdout());
    assert_eq!(run.events_of(EventKind::BuildFinished).len(), 1);
    let stderr = run.stderr();
    let steps = steps(&stderr, "sdk");
    // Both stages' steps: the build stage's COPY and RUN, the final stage's COPY, RUN and
    // COPY --from (the stages' common COPY busybox is one step).
    assert!(steps.len() >= 4, "too few steps in the progress:\n{stderr}");
    let ran: Vec<&String> = steps.iter().filter(|(_, c)| !c).map(|(s, _)| s).collect();
    assert!(
        ran.is_empty(),
        "on the cold engine these steps ran instead of coming from the cache: {ran:?}\n{stderr}"
    );
    assert!(
        stderr.contains("importing cache manifest from"),
        "no cache import in the progress:\n{stderr}"
    );
    // The very layers that were pushed (a rebuild's RUN layers would differ: file times), and
    // the build stage's artifact of the first build.
    let cold_docker = |args: &[&str]| engine.docker(args);
    assert_eq!(layers(cold_docker, &reference), pushed_layers);
    assert_eq!(
        engine.docker(&["run", "--rm", "--network", "none", &reference]),
        artifact
    );
}

/// `cache = "registry"` in the workspace: each image's first release ref is its cache source
/// and the inline cache is exported, with no flag.
#[test]
fn workspace_registry_cache_warms_a_cold_runner() {
    let repo = Repo::in_registry("cold");
    let manifest = repo.file("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, format!("{text}cache = \"registry\"\n")).unwrap();
    // --dry-run says what each image imports and exports.
    let run = repo.run(&["build", "--dry-run"]);
    run.success();
    let own = repo.image_ref("cold_sdk", "1.0.0");
    assert!(
        run.stdout()
            .contains(&format!("cache    sdk: from {own}; export inline")),
        "{}",
        run.stdout()
    );
    cold_runner_reuses_the_pushed_cache(&repo, &[], &[]);
}

/// A manifest's `cache-from` (in docker's syntax) and the `--cache-to type=inline` flag. The
/// first build's source does not exist yet, which only warms nothing; the cold build uses the
/// manifest's source, with no flag.
#[test]
fn manifest_cache_from_and_cache_to_flag_warm_a_cold_runner() {
    let repo = Repo::in_registry("cold");
    let reference = repo.image_ref("cold_sdk", "1.0.0");
    let manifest = repo.file("sdk/sdkimage.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        format!("cache-from = [\"type=registry,ref={reference}\"]\n{text}"),
    )
    .unwrap();
    cold_runner_reuses_the_pushed_cache(&repo, &["--cache-to", "type=inline"], &[]);
}

/// What the engine's BuildKit cannot do is invalid input (exit 2) that says what to use, as is
/// any cache setting under the classic builder.
#[test]
fn unsupported_cache_settings_exit_2() {
    let repo = Repo::new("cold");
    for (args, wanted) in [
        (
            vec!["--cache-to", "type=registry,ref=localhost:5000/x:cache"],
            "type=inline",
        ),
        (vec!["--cache-to", "type=local,dest=/tmp/c"], "buildx"),
        (vec!["--cache-from", "type=local,src=/tmp/c"], "registry"),
        (vec!["--cache-from", "type=gha"], "type=gha"),
        (
            vec!["--builder", "classic", "--cache-from", "localhost:5000/x:1"],
            "classic builder",
        ),
    ] {
        let run = repo.run(&[&["build", "--dry-run"], &args[..]].concat());
        run.expect_code(2);
        assert!(
            run.stderr().contains(wanted),
            "{args:?}: {wanted} not said:\n{}",
            run.stderr()
        );
    }
    // In a manifest and in the workspace: the file, line and column.
    repo.write(
        "sdk/sdkimage.toml",
        "language = \"sdk\"\nname = \"cold_sdk\"\ncache-to = [\"type=gha\"]\n",
    );
    let run = repo.run(&["build", "--dry-run"]);
    run.expect_code(2);
    run.assert_stderr_contains("sdk/sdkimage.toml:3:13");
    let manifest = repo.file("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, format!("{text}cache = \"s3\"\n")).unwrap();
    let run = repo.run(&["list"]);
    run.expect_code(2);
    assert!(
        run.stderr().contains("Cargo.toml:12:9") && run.stderr().contains("registry"),
        "{}",
        run.stderr()
    );
}
