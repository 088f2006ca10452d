//! Publishing through the built binary against real registries: `build --push`, `push`,
//! `verify` (local and `--from-metadata`), `promote`, staging tags, and credentials (an htpasswd
//! registry of our own, `auths` and credential helpers). The registry's own answers (curl) and
//! the engine's `RepoDigests` are the witnesses.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use sdkimage::output::{Event, EventKind};

use crate::support::images::{RemoveImage, build_foreign_image};
use crate::support::{
    RegistryApi, Repo, Run, checked_stdout, counts, docker, docker_image_id, read_metadata,
};

const BEAM_IMAGES: [&str; 4] = [
    "beam_base",
    "beam_go_sdk",
    "beam_python3.10_sdk",
    "beam_python3.11_sdk",
];

/// `digest` of each image's `push-finished` event.
fn pushed_digests(events: &[Event]) -> BTreeMap<String, String> {
    events
        .iter()
        .filter(|e| e.kind() == EventKind::PushFinished)
        .map(|e| {
            (
                e.image().unwrap().to_string(),
                e.digest().expect("push-finished has a digest").to_string(),
            )
        })
        .collect()
}

/// `build go --tag <tag> --push --progress none`, which must succeed.
fn push_go(repo: &Repo, tag: &str) {
    repo.run(&["build", "go", "--tag", tag, "--push", "--progress", "none"])
        .success();
}

/// `build go --tag 1.0 --push --message-format json --progress none` with `env`, which must
/// succeed: the run and the digests it pushed.
fn push_go_json(repo: &Repo, env: &[(&str, &str)]) -> (Run, BTreeMap<String, String>) {
    let run = repo.run_with(
        &[
            "build",
            "go",
            "--tag",
            "1.0",
            "--push",
            "--message-format",
            "json",
            "--progress",
            "none",
        ],
        env,
    );
    run.success();
    let pushed = pushed_digests(&run.events());
    (run, pushed)
}

/// A local image `reference` holding one unique file, built by the docker CLI: content
/// nobody else has.
fn build_intruder(repo: &Repo, reference: &str) {
    build_foreign_image(
        repo,
        "intruder",
        reference,
        "FROM scratch\nCOPY f /f\n",
        &[("f", &format!("not what was released: {reference}\n"))],
    );
}

#[test]
fn build_push_digests_agree_in_events_metadata_registry_and_engine() {
    let repo = Repo::in_registry("beam");
    let meta = repo.file("meta.json");
    let run = repo.run_with(
        &[
            "build",
            "--tag",
            "2.61.0",
            "--tag",
            "latest",
            "--push",
            "--message-format",
            "json",
            "--progress",
            "none",
            "--metadata-file",
            meta.to_str().unwrap(),
        ],
        &[("SOURCE_DATE_EPOCH", "1700000000")],
    );
    run.success();
    let events = run.events();
    let pushed = pushed_digests(&events);
    assert_eq!(
        pushed.keys().map(String::as_str).collect::<Vec<_>>(),
        BEAM_IMAGES,
        "one push-finished per image"
    );
    assert_eq!(run.summary().pushed, 4);
    assert_eq!(run.summary().verified, 4);
    let meta = read_metadata(&meta);
    for event in run.events_of(EventKind::PushFinished) {
        let image = event.image().unwrap();
        assert_eq!(
            event.id(),
            meta[image].id.as_deref(),
            "push-finished id of {image}"
        );
    }
    for image in BEAM_IMAGES {
        let digest = &pushed[image];
        assert!(digest.starts_with("sha256:"), "{digest}");
        let entry = &meta[image];
        assert_eq!(
            entry.digest.as_ref(),
            Some(digest),
            "metadata digest of {image}"
        );
        assert_eq!(
            entry.containerimage_digest.as_ref(),
            Some(digest),
            "bake key of {image}"
        );
        assert!(entry.pushed);
        // Our own push (the default): normalised to SOURCE_DATE_EPOCH. The engine
        // never saw that push, so its RepoDigests do not name the digest; `verify` below
        // reads what we pushed.
        assert_eq!(entry.normalized, Some(true), "{image}");
        assert_eq!(entry.epoch, Some(1_700_000_000), "{image}");
        let repository = format!("{}/{image}", repo.root);
        for tag in ["2.61.0", "latest"] {
            let reference = format!("{repository}:{tag}");
            assert_eq!(
                RegistryApi::digest(&reference).as_deref(),
                Some(digest.as_str()),
                "registry digest of {reference}"
            );
        }
        // Phase one's staging tag stays (one per repository, overwritten by the next run).
        assert_eq!(
            RegistryApi::tags(&repository),
            ["2.61.0", "latest", "sdkimage-staging"]
        );
        assert_eq!(
            RegistryApi::digest(&format!("{repository}:sdkimage-staging")).as_deref(),
            Some(digest.as_str())
        );
    }

    let verify = repo.run(&[
        "verify",
        "--tag",
        "2.61.0",
        "--tag",
        "latest",
        "--message-format",
        "json",
    ]);
    verify.success();
    let verified: BTreeMap<String, String> = verify
        .events_of(EventKind::Verified)
        .into_iter()
        .map(|e| {
            (
                e.image().unwrap().to_string(),
                e.digest().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        verified, pushed,
        "one verified event per image, same digests"
    );
    assert!(verify.events_of(EventKind::Failed).is_empty());
}

#[test]
fn no_staging_pushes_release_tags_only() {
    let repo = Repo::in_registry("beam");
    let run = repo.run(&[
        "build",
        "go",
        "--tag",
        "1.0",
        "--push",
        "--no-staging",
        "--message-format",
        "json",
        "--progress",
        "none",
    ]);
    run.success();
    let pushed = pushed_digests(&run.events());
    for image in ["beam_base", "beam_go_sdk"] {
        let repository = format!("{}/{image}", repo.root);
        assert_eq!(RegistryApi::tags(&repository), ["1.0"], "{repository}");
        assert_eq!(
            RegistryApi::digest(&format!("{repository}:1.0")),
            Some(pushed[image].clone())
        );
    }
    repo.run(&["verify", "go", "--tag", "1.0"]).success();
}

#[test]
fn verify_names_a_tag_that_was_repushed_with_other_content() {
    let repo = Repo::in_registry("beam");
    push_go(&repo, "1.0");
    let go = repo.image_ref("beam_go_sdk", "1.0");
    let released = RegistryApi::digest(&go).expect("go pushed");
    let go_id = docker_image_id(&go).unwrap();

    // Someone else pushes other content over the tag; our local image stays as built.
    let intruder = repo.image_ref("intruder", "x");
    build_intruder(&repo, &intruder);
    let _intruder = RemoveImage(docker_image_id(&intruder).unwrap());
    docker(&["tag", &intruder, &go]);
    docker(&["push", &go]);
    docker(&["tag", &go_id, &go]);
    let foreign = RegistryApi::digest(&go).unwrap();
    assert_ne!(foreign, released);

    let run = repo.run(&["verify", "go", "--tag", "1.0", "--message-format", "json"]);
    run.expect_code(1);
    let err = run.stderr();
    assert!(err.contains(&go), "names the ref: {err}");
    assert!(err.contains(&foreign), "names the registry's digest: {err}");
    assert!(
        err.contains(&released),
        "names the local image's digest: {err}"
    );
    // The base was not touched and still verifies.
    let verified: Vec<Event> = run.events_of(EventKind::Verified);
    assert_eq!(verified.len(), 1, "{}", run.stdout());
    assert_eq!(verified[0].image(), Some("beam_base"));
    let failed = run.events_of(EventKind::Failed);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].image(), Some("beam_go_sdk"));
    // A failed verify still ends with a summary, counting the failure.
    let summary = run.events_of(EventKind::Summary);
    assert_eq!(summary.len(), 1, "{}", run.stdout());
    assert_eq!(counts(&summary[0]).failed, 1);
    assert_eq!(counts(&summary[0]).verified, 0);
}

/// A Dockerfile whose build fails, for the go SDK.
fn break_go(repo: &Repo) {
    repo.write(
        "sdks/go/container/Dockerfile",
        "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo 'missing toolchain' >&2 && exit 7\n",
    );
}

fn assert_nothing_in_registry(repo: &Repo) {
    for image in BEAM_IMAGES {
        let repository = format!("{}/{image}", repo.root);
        assert_eq!(
            RegistryApi::tags(&repository),
            Vec::<String>::new(),
            "{repository} was pushed although a build failed"
        );
    }
}

#[test]
fn nothing_is_pushed_when_one_build_fails() {
    let repo = Repo::in_registry("beam");
    break_go(&repo);
    let run = repo.run(&[
        "build",
        "--tag",
        "t",
        "--push",
        "-j",
        "1",
        "--progress",
        "plain",
    ]);
    run.expect_code(1);
    run.assert_stderr_contains("nothing pushed");
    // The base was built (it comes first) but not pushed.
    assert!(docker_image_id(&repo.image_ref("beam_base", "t")).is_some());
    assert_nothing_in_registry(&repo);
}

#[test]
fn nothing_is_pushed_when_one_build_fails_with_keep_going() {
    let repo = Repo::in_registry("beam");
    break_go(&repo);
    let run = repo.run(&[
        "build",
        "--tag",
        "t",
        "--push",
        "--keep-going",
        "--message-format",
        "json",
        "--progress",
        "none",
    ]);
    run.expect_code(1);
    let summary = run.summary();
    assert_eq!(summary.built, 3, "{summary:?}");
    assert_eq!(summary.failed, 1, "{summary:?}");
    assert_eq!(summary.pushed, 0, "{summary:?}");
    assert!(run.events_of(EventKind::PushFinished).is_empty());
    // Every other image was built and stays local.
    for image in ["beam_base", "beam_python3.10_sdk", "beam_python3.11_sdk"] {
        assert!(
            docker_image_id(&repo.image_ref(image, "t")).is_some(),
            "{image}"
        );
    }
    assert_nothing_in_registry(&repo);
}

#[test]
fn push_of_built_images_and_its_dry_run() {
    let repo = Repo::in_registry("beam");
    repo.run(&["build", "go", "--tag", "1.0", "--progress", "none"])
        .success();

    let dry = repo.run(&["push", "go", "--tag", "1.0", "--dry-run"]);
    dry.success();
    let err = dry.stderr();
    let go = repo.image_ref("beam_go_sdk", "1.0");
    assert!(err.contains("would push") && err.contains(&go), "{err}");
    for image in ["beam_base", "beam_go_sdk"] {
        assert_eq!(
            RegistryApi::tags(&format!("{}/{image}", repo.root)),
            Vec::<String>::new(),
            "--dry-run pushed {image}"
        );
    }

    let run = repo.run(&["push", "go", "--tag", "1.0", "--message-format", "json"]);
    run.success();
    let pushed = pushed_digests(&run.events());
    assert_eq!(pushed.len(), 2, "{}", run.stdout());
    for (image, digest) in &pushed {
        let reference = repo.image_ref(image, "1.0");
        assert_eq!(RegistryApi::digest(&reference).as_ref(), Some(digest));
    }
    // What was pushed is what `verify` finds, though the engine never saw the push.
    repo.run(&["verify", "go", "--tag", "1.0"]).success();
}

#[test]
fn push_of_images_never_built_fails_clearly() {
    let repo = Repo::in_registry("beam");
    let run = repo.run(&["push", "go", "--tag", "never"]);
    run.expect_code(1);
    let err = run.stderr();
    assert!(err.contains("not built"), "{err}");
    assert!(
        err.contains(&repo.image_ref("beam_go_sdk", "never")),
        "{err}"
    );
    assert!(err.contains(&repo.image_ref("beam_base", "never")), "{err}");
    assert!(
        err.contains("cargo sdkimage build"),
        "says what to do: {err}"
    );
    assert_eq!(
        RegistryApi::tags(&format!("{}/beam_go_sdk", repo.root)),
        Vec::<String>::new()
    );
}

#[test]
fn staging_tag_mistakes_stop_the_run_before_anything_is_built() {
    let repo = Repo::in_registry("beam");
    for (args, expect) in [
        (
            &["build", "go", "--push", "--staging-tag", "Bad:tag"][..],
            "--staging-tag",
        ),
        (
            &[
                "build",
                "go",
                "--push",
                "--tag",
                "rc2",
                "--staging-tag",
                "rc2",
            ][..],
            "also a release tag",
        ),
        (
            &["push", "go", "--tag", "rc2", "--staging-tag", "rc2"][..],
            "also a release tag",
        ),
        (
            &["push", "go", "--staging-tag", "x", "--no-staging"][..],
            "cannot be used with",
        ),
    ] {
        let run = repo.run(args);
        run.expect_code(2);
        assert!(run.stderr().contains(expect), "{args:?}: {}", run.stderr());
        assert!(
            !run.stderr().contains("building"),
            "{args:?}: {}",
            run.stderr()
        );
    }
    assert!(docker_image_id(&repo.image_ref("beam_base", "2.61.0")).is_none());
}

#[test]
fn promote_copies_the_release_candidate_and_dry_run_changes_nothing() {
    let repo = Repo::in_registry("beam");
    push_go(&repo, "rc1");
    let rc: BTreeMap<&str, String> = ["beam_base", "beam_go_sdk"]
        .into_iter()
        .map(|i| (i, RegistryApi::digest(&repo.image_ref(i, "rc1")).unwrap()))
        .collect();

    let dry = repo.run(&[
        "promote",
        "go",
        "--from-tag",
        "rc1",
        "--tag",
        "1.0",
        "--tag",
        "latest",
        "--dry-run",
        "--message-format",
        "json",
    ]);
    dry.success();
    assert!(
        dry.events_of(EventKind::Promoted).is_empty(),
        "{}",
        dry.stdout()
    );
    assert_eq!(dry.summary().promoted, 0);
    dry.assert_stderr_contains("would point");
    for image in rc.keys() {
        assert_eq!(
            RegistryApi::tags(&format!("{}/{image}", repo.root)),
            ["rc1", "sdkimage-staging"],
            "--dry-run changed {image}"
        );
    }

    // A release candidate that is not in the registry: nothing changes.
    let missing = repo.run(&["promote", "go", "--from-tag", "rc9", "--tag", "1.0"]);
    missing.expect_code(1);
    missing.assert_stderr_contains(&repo.image_ref("beam_go_sdk", "rc9"));
    assert_eq!(
        RegistryApi::digest(&repo.image_ref("beam_base", "1.0")),
        None
    );

    let run = repo.run(&[
        "promote",
        "go",
        "--from-tag",
        "rc1",
        "--tag",
        "1.0",
        "--tag",
        "latest",
        "--message-format",
        "json",
    ]);
    run.success();
    let promoted = run.events_of(EventKind::Promoted);
    assert_eq!(promoted.len(), 2, "{}", run.stdout());
    assert_eq!(run.summary().promoted, 2);
    for (image, digest) in &rc {
        for tag in ["1.0", "latest"] {
            assert_eq!(
                RegistryApi::digest(&repo.image_ref(image, tag)).as_ref(),
                Some(digest),
                "{image}:{tag}"
            );
        }
        let event = promoted.iter().find(|e| e.image() == Some(*image)).unwrap();
        assert_eq!(event.digest(), Some(digest.as_str()));
    }
}

#[test]
fn verify_from_metadata_needs_no_engine_and_catches_an_edited_digest() {
    let repo = Repo::in_registry("beam");
    let (run, meta) = repo.run_with_metadata(&[
        "build",
        "go",
        "--tag",
        "1.0",
        "--push",
        "--progress",
        "none",
    ]);
    run.success();
    let no_engine = [("DOCKER_HOST", "unix:///nonexistent/docker.sock")];
    // The images a successful `verify [SELECTOR] --from-metadata` reports verified.
    let verified = |selector: &[&str]| -> Vec<String> {
        let mut args = vec!["verify"];
        args.extend(selector);
        args.extend([
            "--from-metadata",
            meta.to_str().unwrap(),
            "--message-format",
            "json",
        ]);
        let run = repo.run_with(&args, &no_engine);
        run.success();
        run.events_of(EventKind::Verified)
            .into_iter()
            .map(|e| {
                e.image()
                    .expect("a verified event names its image")
                    .to_string()
            })
            .collect()
    };
    assert_eq!(verified(&[]), ["beam_base", "beam_go_sdk"]);

    // Claim the go image is the base's manifest.
    let mut doc = read_metadata(&meta);
    let base_digest = doc["beam_base"].digest.clone().unwrap();
    let go_digest = doc["beam_go_sdk"].digest.clone().unwrap();
    doc.get_mut("beam_go_sdk").unwrap().digest = Some(base_digest.clone());
    std::fs::write(&meta, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let run = repo.run_with(
        &["verify", "--from-metadata", meta.to_str().unwrap()],
        &no_engine,
    );
    run.expect_code(1);
    let err = run.stderr();
    let go = repo.image_ref("beam_go_sdk", "1.0");
    assert!(err.contains(&go), "names the ref: {err}");
    assert!(
        err.contains(&go_digest) && err.contains(&base_digest),
        "{err}"
    );
    // A selector narrows the entries checked: the base alone still verifies.
    assert_eq!(verified(&["base"]), ["beam_base"]);
}

// ---------------------------------------------------------------------------------------------
// An htpasswd registry of our own.

pub(crate) const USER: &str = "releaser";
pub(crate) const PASSWORD: &str = "correct-Horse-9f3a";
const WRONG_PASSWORD: &str = "Wr0ng-Secret-71c2e";

/// `docker-registry serve` with htpasswd auth on a free port of 5100-5199; killed on drop.
pub(crate) struct AuthRegistry {
    port: u16,
    dir: tempfile::TempDir,
    child: Child,
    _port_lock: std::fs::File,
}

impl AuthRegistry {
    pub(crate) fn start() -> AuthRegistry {
        let dir = tempfile::tempdir().unwrap();
        let (port, port_lock) = free_port();
        let htpasswd = Command::new("htpasswd")
            .args(["-Bbn", USER, PASSWORD])
            .output()
            .expect("htpasswd (apache2-utils) must be installed");
        assert!(htpasswd.status.success());
        std::fs::write(dir.path().join("htpasswd"), htpasswd.stdout).unwrap();
        std::fs::write(
            dir.path().join("config.yml"),
            format!(
                "version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {data}}}}}\nhttp: {{addr: 127.0.0.1:{port}}}\nauth: {{htpasswd: {{realm: e2e, path: {htpasswd}}}}}\n",
                data = dir.path().join("data").display(),
                htpasswd = dir.path().join("htpasswd").display(),
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("docker-registry (Debian package docker-registry) must be installed");
        let mut registry = AuthRegistry {
            port,
            dir,
            child,
            _port_lock: port_lock,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            let log = std::fs::read_to_string(registry.dir.path().join("registry.log"));
            assert!(
                registry.child.try_wait().unwrap().is_none() && Instant::now() < deadline,
                "docker-registry on {port} did not start: {log:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    pub(crate) fn host(&self) -> String {
        format!("localhost:{}", self.port)
    }

    /// A `DOCKER_CONFIG` folder whose `config.json` is `config`.
    /// (`config` is the docker CLI's file, not our output: a plain JSON value.)
    fn docker_config(&self, parent: &Path, config: serde_json::Value) -> PathBuf {
        let dir = parent.join("docker-config");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
        dir
    }

    /// A `DOCKER_CONFIG` folder in `repo` with `auths` credentials of `USER` and `password` for
    /// this registry.
    pub(crate) fn auths_config(&self, repo: &Repo, password: &str) -> PathBuf {
        self.docker_config(
            repo.path(),
            serde_json::json!({"auths": {self.host(): {"auth": basic_auth(USER, password)}}}),
        )
    }

    /// A private base `<host>/private/base:1`, only in this registry: built here (busybox and a
    /// `version` file), pushed with the credentials of the docker config folder `config`, its
    /// local tag removed; the go image's Dockerfile is made `FROM` it. The base's reference,
    /// its image id, and the guard that removes that image.
    pub(crate) fn private_base(&self, repo: &Repo, config: &Path) -> (String, String, RemoveImage) {
        let base = format!("{}/private/base:1", self.host());
        let id = build_foreign_image(
            repo,
            "private-base",
            &base,
            "FROM scratch\nCOPY busybox /bin/busybox\nCOPY version /version\n",
            &[("version", "private\n")],
        );
        let cleanup = RemoveImage(id.clone());
        checked_stdout(
            Command::new("docker")
                .args(["push", &base])
                .env("DOCKER_CONFIG", config),
        );
        docker(&["rmi", "--no-prune", &base]);
        repo.write(
            "sdks/go/container/Dockerfile",
            &format!("FROM {base}\nCOPY boot.sh /boot\n"),
        );
        (base, id, cleanup)
    }
}

impl Drop for AuthRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port of 5100-5199 that no other test holds (the lock file is shared with the library's
/// registry tests) and nothing listens on.
fn free_port() -> (u16, std::fs::File) {
    let dir = std::env::temp_dir().join("cargo-sdkimage-test-ports");
    std::fs::create_dir_all(&dir).unwrap();
    let start = (std::process::id() % 100) as u16;
    for offset in 0..100 {
        let port = 5100 + (start + offset) % 100;
        let lock = std::fs::File::create(dir.join(format!("{port}.lock"))).unwrap();
        if lock.try_lock().is_ok() && TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return (port, lock);
        }
    }
    panic!("no free port left in 5100-5199");
}

fn basic_auth(user: &str, password: &str) -> String {
    // base64 of `user:password`, with the standard alphabet and padding.
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = format!("{user}:{password}").into_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, b| acc << 8 | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn base64_of_basic_auth_matches_the_docker_cli() {
    // `printf 'releaser:correct-Horse-9f3a' | base64`
    assert_eq!(basic_auth("a", "b"), "YTpi");
    assert_eq!(basic_auth("ab", "c"), "YWI6Yw==");
    assert_eq!(
        basic_auth(USER, PASSWORD),
        "cmVsZWFzZXI6Y29ycmVjdC1Ib3JzZS05ZjNh"
    );
}

#[test]
fn pushes_to_an_htpasswd_registry_with_auths_credentials() {
    let registry = AuthRegistry::start();
    let repo = Repo::in_registry_at("beam", &registry.host());
    let config = registry.auths_config(&repo, PASSWORD);
    let (run, pushed) = push_go_json(&repo, &[("DOCKER_CONFIG", config.to_str().unwrap())]);
    let go = repo.image_ref("beam_go_sdk", "1.0");
    assert_eq!(
        RegistryApi::digest_as(&go, Some((USER, PASSWORD))),
        Some(pushed["beam_go_sdk"].clone())
    );
    assert!(!run.all_output().contains(PASSWORD));
}

#[test]
fn wrong_credentials_fail_naming_the_registry_never_the_password() {
    let registry = AuthRegistry::start();
    let repo = Repo::in_registry_at("beam", &registry.host());
    let config = registry.auths_config(&repo, WRONG_PASSWORD);
    let env = [("DOCKER_CONFIG", config.to_str().unwrap())];
    repo.run(&["build", "go", "--tag", "1.0", "--progress", "none"])
        .success();
    for verbose in [false, true] {
        let mut args = vec!["push", "go", "--tag", "1.0", "--progress", "plain"];
        if verbose {
            args.push("-v");
        }
        let run = repo.run_with(&args, &env);
        run.expect_code(1);
        let all = run.all_output();
        assert!(all.contains(&registry.host()), "names the registry: {all}");
        assert!(
            !all.contains(WRONG_PASSWORD),
            "the password leaked (-v: {verbose}): {all}"
        );
        assert!(
            !all.contains(&basic_auth(USER, WRONG_PASSWORD)),
            "the encoded credentials leaked (-v: {verbose}): {all}"
        );
    }
    // Under `build --push`, images built but refused by the registry count as failed.
    let run = repo.run_with(
        &[
            "build",
            "go",
            "--tag",
            "1.0",
            "--push",
            "--message-format",
            "json",
        ],
        &env,
    );
    run.expect_code(1);
    let counts = run.summary();
    assert_eq!(counts.pushed, 0, "{}", run.stdout());
    assert!(counts.failed >= 1, "{}", run.stdout());
    assert_eq!(counts.up_to_date + counts.retagged, 2);
    assert_eq!(
        RegistryApi::tags_as(
            &format!("{}/beam_go_sdk", repo.root),
            Some((USER, PASSWORD))
        ),
        Vec::<String>::new()
    );
}

#[test]
fn a_credential_helper_on_path_supplies_the_credentials() {
    use std::os::unix::fs::PermissionsExt;
    let registry = AuthRegistry::start();
    let repo = Repo::in_registry_at("beam", &registry.host());
    let bin = repo.file("helper-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-e2e");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nread -r server\necho \"$1 $server\" >> \"$0.log\"\ncase \"$1 $server\" in\n  'get {host}') printf '{{\"ServerURL\":\"{host}\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}' ;;\n  *) echo 'credentials not found in native keychain'; exit 1 ;;\nesac\n",
            host = registry.host()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = registry.docker_config(
        repo.path(),
        serde_json::json!({"credHelpers": {registry.host(): "e2e"}}),
    );
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let (run, pushed) = push_go_json(
        &repo,
        &[("DOCKER_CONFIG", config.to_str().unwrap()), ("PATH", &path)],
    );
    assert_eq!(
        RegistryApi::digest_as(
            &repo.image_ref("beam_go_sdk", "1.0"),
            Some((USER, PASSWORD))
        ),
        Some(pushed["beam_go_sdk"].clone())
    );
    let log = std::fs::read_to_string(bin.join("docker-credential-e2e.log")).unwrap();
    assert!(log.contains(&format!("get {}", registry.host())), "{log}");
    assert!(!run.all_output().contains(PASSWORD));
}

#[test]
fn builds_pull_private_base_images_with_the_configs_credentials() {
    let registry = AuthRegistry::start();
    let repo = Repo::in_registry_at("beam", &registry.host());
    let config = registry.auths_config(&repo, PASSWORD);
    let empty_config = repo.file("empty-docker-config");
    std::fs::create_dir_all(&empty_config).unwrap();
    let (base, _, _cleanup) = registry.private_base(&repo, &config);

    let denied = repo.run_with(
        &["build", "go", "--tag", "1.0", "--progress", "plain"],
        &[("DOCKER_CONFIG", empty_config.to_str().unwrap())],
    );
    denied.expect_code(1);
    assert!(docker_image_id(&base).is_none());

    repo.run_with(
        &["build", "go", "--tag", "1.0", "--progress", "plain"],
        &[("DOCKER_CONFIG", config.to_str().unwrap())],
    )
    .success();
    // BuildKit pulled the base with the session's credentials into its own store (the engine's
    // image list does not show it); the image built on it is there.
    assert!(docker_image_id(&repo.image_ref("beam_go_sdk", "1.0")).is_some());
}

/// A TCP proxy in front of the shared test registry that holds each connection for `delay`
/// before forwarding it: a slow registry, so that a run is reliably caught in phase one.
struct SlowRegistry {
    host: String,
    connected: std::sync::Arc<std::sync::atomic::AtomicBool>,
    _port: std::fs::File,
}

impl SlowRegistry {
    fn start(upstream: &str, delay: Duration) -> SlowRegistry {
        use std::sync::atomic::{AtomicBool, Ordering};
        let (port, lock) = free_port();
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
        let connected = std::sync::Arc::new(AtomicBool::new(false));
        let seen = connected.clone();
        let upstream = upstream.replace("localhost", "127.0.0.1");
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                seen.store(true, Ordering::SeqCst);
                let upstream = upstream.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(delay);
                    let Ok(server) = TcpStream::connect(&upstream) else {
                        return;
                    };
                    for (mut from, mut to) in [
                        (client.try_clone().unwrap(), server.try_clone().unwrap()),
                        (server, client),
                    ] {
                        std::thread::spawn(move || {
                            let _ = std::io::copy(&mut from, &mut to);
                            let _ = to.shutdown(std::net::Shutdown::Write);
                        });
                    }
                });
            }
        });
        SlowRegistry {
            host: format!("127.0.0.1:{port}"),
            connected,
            _port: lock,
        }
    }
}

#[cfg(unix)]
#[test]
fn a_signal_during_phase_one_stops_the_push_and_changes_no_release_tag() {
    use std::sync::atomic::Ordering;
    let real = crate::support::test_registry();
    let slow = SlowRegistry::start(&real, Duration::from_secs(2));
    let repo = Repo::in_registry_at("beam", &slow.host);
    repo.run(&["build", "go", "--tag", "1.0", "--progress", "none"])
        .success();
    let child = crate::support::tool()
        .args([
            "sdkimage",
            "push",
            "go",
            "--tag",
            "1.0",
            "--progress",
            "none",
        ])
        .args(["--repository-root", &repo.root])
        .current_dir(repo.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !slow.connected.load(Ordering::SeqCst) {
        assert!(
            Instant::now() < deadline,
            "the push never reached the registry"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let signalled = Instant::now();
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        signalled.elapsed() < Duration::from_secs(4),
        "{:?}",
        signalled.elapsed()
    );
    assert!(err.contains("no release tag was changed"), "{err}");
    // Whatever the engine still pushes in the background is a staging tag.
    std::thread::sleep(Duration::from_secs(3));
    for image in ["beam_base", "beam_go_sdk"] {
        let repository = format!("{}/{image}", repo.root.replacen(&slow.host, &real, 1));
        let tags = RegistryApi::tags(&repository);
        assert!(!tags.contains(&"1.0".to_string()), "{repository}: {tags:?}");
    }
}
