//! Shared helpers: fixture monorepos copied to a temp dir, the built binary, the real engine.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use sdkimage::output::{Counts, Event, EventKind, ImageMetadata, ListEntry};

pub mod images;
pub mod licenses;

pub const BIN: &str = env!("CARGO_BIN_EXE_cargo-sdkimage");

/// The built binary as a command. `CARGO_TARGET_DIR` of the test run is not passed on: the tool
/// keeps its state in its workspace's target folder, which must be each fixture's own.
pub fn tool() -> Command {
    let mut command = Command::new(BIN);
    command.env_remove("CARGO_TARGET_DIR");
    command
}

/// A fixture monorepo in a temp dir, with a repository root of its own so tests running at
/// the same time never share an image name. Its images are removed on drop.
pub struct Repo {
    pub dir: tempfile::TempDir,
    pub root: String,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl Repo {
    /// Copy `tests/fixtures/<name>` and add busybox (`vendor/busybox`), the base of every image.
    pub fn new(name: &str) -> Repo {
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures")
            .join(name);
        let dir = tempfile::Builder::new()
            .prefix(&format!("sdkimage-e2e-{name}-"))
            .tempdir()
            .expect("temp dir");
        copy_tree(&src, dir.path());
        let busybox = ["/bin/busybox", "/usr/bin/busybox"].into_iter().find(|p| Path::new(p).exists()).expect(
            "busybox-static is not installed: run the tests through scripts/test, which installs it",
        );
        std::fs::create_dir_all(dir.path().join("vendor")).unwrap();
        std::fs::copy(busybox, dir.path().join("vendor/busybox")).unwrap();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let root = format!(
            "sdkimage-e2e/{}-{}-{n}",
            name.replace('_', "-"),
            std::process::id()
        );
        // BuildKit gives equal inputs equal image ids: a test removing its images must not
        // remove another test's. Bytes after the ELF image make this repo's busybox (and every
        // image built on it) its own; the loader ignores them.
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("vendor/busybox"))
            .unwrap();
        std::io::Write::write_all(&mut file, format!("\n{root}\n").as_bytes()).unwrap();
        Repo { dir, root }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.file(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// `cargo-sdkimage sdkimage <args>` in the repo, with `--repository-root` set to ours unless
    /// the arguments already set one.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[])
    }

    /// As [`Repo::run`], with `--metadata-file <repo>/meta.json` added after `args`; the run and
    /// the metadata file's path.
    pub fn run_with_metadata(&self, args: &[&str]) -> (Run, PathBuf) {
        let meta = self.file("meta.json");
        let run = self.run(&[args, &["--metadata-file", meta.to_str().unwrap()]].concat());
        (run, meta)
    }

    /// `build <args> --push --progress none --metadata-file <a file of its own>` with
    /// `SOURCE_DATE_EPOCH=epoch` and `env`, which must succeed: the metadata, by image.
    #[track_caller]
    pub fn build_push_at_epoch(
        &self,
        args: &[&str],
        epoch: u64,
        env: &[(&str, &str)],
    ) -> BTreeMap<String, ImageMetadata> {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let meta = self.file(&format!("meta-{n}.json"));
        let epoch = epoch.to_string();
        let all = [
            args,
            &["--push", "--progress", "none", "--metadata-file"],
            &[meta.to_str().unwrap()],
        ]
        .concat();
        let env = [&[("SOURCE_DATE_EPOCH", epoch.as_str())], env].concat();
        self.run_with(&all, &env).success();
        read_metadata(&meta)
    }

    /// Adds `line` at the end of the file `rel` (a setting at the end of the workspace's
    /// `Cargo.toml`); the file's text before.
    pub fn append_line(&self, rel: &str, line: &str) -> String {
        let before = std::fs::read_to_string(self.file(rel)).unwrap();
        self.write(rel, &format!("{}\n{line}\n", before.trim_end()));
        before
    }

    /// `list --message-format json <args>`, which must succeed: the images listed.
    #[track_caller]
    pub fn list_json(&self, args: &[&str]) -> Vec<ListEntry> {
        let run = self.run(&[&["list", "--message-format", "json"], args].concat());
        run.success();
        run.list()
    }

    /// Local image id of a reference, via the docker CLI (an independent witness).
    pub fn image_id(&self, reference: &str) -> Option<String> {
        docker_image_id(reference)
    }
}

fn needs_root(args: &[&str]) -> bool {
    matches!(
        args.first(),
        Some(&"build")
            | Some(&"list")
            | Some(&"push")
            | Some(&"verify")
            | Some(&"promote")
            | Some(&"check")
    )
}

impl Drop for Repo {
    fn drop(&mut self) {
        remove_images_under(&self.root, &["-f"]);
    }
}

/// `docker rmi --no-prune <rmi_flags> <refs>` of every local image whose reference is under
/// `root/` (see [`images::remove_image`] for `--no-prune`).
pub fn remove_images_under(root: &str, rmi_flags: &[&str]) {
    let Ok(out) = Command::new("docker")
        .args(["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"])
        .output()
    else {
        return;
    };
    let refs: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(&format!("{root}/")))
        .map(str::to_string)
        .collect();
    if !refs.is_empty() {
        let _ = Command::new("docker")
            .args(["rmi", "--no-prune"])
            .args(rmi_flags)
            .args(&refs)
            .output();
    }
}

/// `--builder <builder> --progress plain --metadata-file <meta>`: the arguments of a build by
/// `builder` whose plain log and metadata a test reads.
pub fn builder_plain_meta<'a>(builder: &'a str, meta: &'a Path) -> [&'a str; 6] {
    [
        "--builder",
        builder,
        "--progress",
        "plain",
        "--metadata-file",
        meta.to_str().unwrap(),
    ]
}

pub fn docker_image_id(reference: &str) -> Option<String> {
    let out = Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", reference])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Run a container of `image` and return its stdout.
pub fn docker_run(image: &str) -> String {
    checked_text(Command::new("docker").args(["run", "--rm", "--network", "none", image]))
}

pub struct Run {
    pub output: Output,
    pub args: Vec<String>,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code(),
            code,
            "`cargo-sdkimage {}` exited {} (expected {code})\n--- stdout\n{}\n--- stderr\n{}",
            self.args.join(" "),
            self.code(),
            self.stdout(),
            self.stderr()
        );
        self
    }

    #[track_caller]
    pub fn success(&self) -> &Self {
        self.expect_code(0)
    }

    /// stdout as JSON events, one a line (`--message-format json`).
    #[track_caller]
    pub fn events(&self) -> Vec<Event> {
        parse_events(&self.stdout())
    }

    /// stdout as the JSON array of `list --message-format json`.
    #[track_caller]
    pub fn list(&self) -> Vec<ListEntry> {
        parse_list(&self.stdout())
    }
}

/// The published schemas (`schemas/<name>.schema.json`), each compiled once.
pub const SCHEMAS: [&str; 6] = ["event", "metadata", "list", "print", "dockerfile", "diff"];

/// Fails the test unless `value` meets the committed schema `schemas/<name>.schema.json`:
/// every JSON output the tests read is checked against the published contract.
#[track_caller]
pub fn assert_meets_schema(name: &str, value: &serde_json::Value) {
    static VALIDATORS: std::sync::OnceLock<BTreeMap<&'static str, jsonschema::Validator>> =
        std::sync::OnceLock::new();
    let validators = VALIDATORS.get_or_init(|| {
        SCHEMAS
            .iter()
            .map(|&name| {
                let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join(format!("../schemas/{name}.schema.json"));
                let schema: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                let validator = jsonschema::validator_for(&schema)
                    .unwrap_or_else(|e| panic!("{} is no valid schema: {e}", path.display()));
                (name, validator)
            })
            .collect()
    });
    let validator = &validators[name];
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{e} (at `{}`)", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "this output does not meet schemas/{name}.schema.json:\n{}\n--- output\n{value:#}",
        errors.join("\n")
    );
}

/// Text as JSON meeting the schema `name`, then as `T`.
#[track_caller]
pub fn parse_checked<T: serde::de::DeserializeOwned>(name: &str, text: &str) -> T {
    let value: serde_json::Value = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("not JSON ({e}), expected {name} output:\n{text}"));
    assert_meets_schema(name, &value);
    serde_json::from_value(value).unwrap_or_else(|e| panic!("not {name} output ({e}):\n{text}"))
}

/// JSON event lines (blank lines skipped); a line that is not an [`Event`] meeting the event
/// schema fails the test.
#[track_caller]
pub fn parse_events(stdout: &str) -> Vec<Event> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let value: serde_json::Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not an output event ({e}): {l}\n--- stdout\n{stdout}"));
            assert_meets_schema("event", &value);
            serde_json::from_value(value)
                .unwrap_or_else(|e| panic!("not an output event ({e}): {l}\n--- stdout\n{stdout}"))
        })
        .collect()
}

/// The JSON array `list --message-format json` prints.
#[track_caller]
pub fn parse_list(stdout: &str) -> Vec<ListEntry> {
    parse_checked("list", stdout)
}

/// A `--metadata-file`, keyed by image name.
#[track_caller]
pub fn read_metadata(path: &Path) -> BTreeMap<String, ImageMetadata> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read the metadata file {}: {e}", path.display()));
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) {
        assert_meets_schema("metadata", &value);
    }
    serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "the metadata file {} is not a map of image metadata ({e}):\n{text}",
            path.display()
        )
    })
}

/// The counts of a `summary` event.
#[track_caller]
pub fn counts(event: &Event) -> &Counts {
    event
        .counts()
        .unwrap_or_else(|| panic!("no counts on {event:?}"))
}

fn copy_tree(src: &Path, dst: &Path) {
    for entry in walkdir::WalkDir::new(src) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(src).unwrap();
        let target = dst.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Registries, credentials and the engine's view of pushed images (publish, licenses, examples).

/// The shared test registry `scripts/test` starts (`SDKIMAGE_TEST_REGISTRY`, by default
/// `localhost:5000`). Panics with what to do when it does not answer: these tests never skip.
pub fn test_registry() -> String {
    let host = std::env::var("SDKIMAGE_TEST_REGISTRY")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost:5000".to_string());
    let probe = Command::new("curl")
        .args(["-fsS", "-o", "/dev/null", &format!("http://{host}/v2/")])
        .output()
        .expect("curl must be installed");
    assert!(
        probe.status.success(),
        "the test registry {host} does not answer ({}); run the tests through scripts/test, or `source scripts/services.sh; ensure_services keep`",
        String::from_utf8_lossy(&probe.stderr).trim()
    );
    host
}

impl Repo {
    /// A fixture repo whose repository root lives in the shared test registry
    /// (`localhost:5000/sdkimage-e2e/<fixture>-<pid>-<n>`).
    pub fn in_registry(name: &str) -> Repo {
        Repo::in_registry_at(name, &test_registry())
    }

    /// A fixture repo whose repository root lives in the registry at `host`.
    pub fn in_registry_at(name: &str, host: &str) -> Repo {
        let mut repo = Repo::new(name);
        repo.root = format!("{host}/{}", repo.root);
        repo
    }

    /// The reference of `image` (a name below the root) with `tag`.
    pub fn image_ref(&self, image: &str, tag: &str) -> String {
        format!("{}/{image}:{tag}", self.root)
    }

    /// As [`Repo::run`], with extra environment variables (`DOCKER_CONFIG`, `DOCKER_HOST`, ...).
    pub fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut all: Vec<&str> = args.to_vec();
        if !args.iter().any(|a| a.starts_with("--repository-root")) && needs_root(args) {
            all.extend(["--repository-root", &self.root]);
        }
        run_sdkimage(self.path(), &all, env)
    }
}

/// `cargo-sdkimage sdkimage <args>` in `dir`, without colours, with `env` added.
pub fn run_sdkimage(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut all: Vec<String> = vec!["sdkimage".into()];
    all.extend(args.iter().map(|s| s.to_string()));
    let output = tool()
        .args(&all)
        .current_dir(dir)
        .env_remove("CARGO_TERM_COLOR")
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .output()
        .expect("run cargo-sdkimage");
    Run { output, args: all }
}

impl Run {
    /// The JSON events of kind `kind` (`PushFinished`, `Verified`, ...).
    #[track_caller]
    pub fn events_of(&self, kind: EventKind) -> Vec<Event> {
        self.events()
            .into_iter()
            .filter(|e| e.kind() == kind)
            .collect()
    }

    /// The counts of the first `summary` event.
    #[track_caller]
    pub fn summary(&self) -> Counts {
        let summaries = self.events_of(EventKind::Summary);
        let first = summaries
            .first()
            .unwrap_or_else(|| panic!("no summary event:\n{}", self.stdout()));
        counts(first).clone()
    }

    /// The images of the events of kind `kind`, in order (`BuildFinished`: what was built).
    #[track_caller]
    pub fn images_of(&self, kind: EventKind) -> Vec<String> {
        self.events_of(kind)
            .iter()
            .filter_map(|e| e.image().map(str::to_string))
            .collect()
    }

    /// Fails the test unless stderr contains `text`; the message shows the whole stderr.
    #[track_caller]
    pub fn assert_stderr_contains(&self, text: &str) -> &Self {
        let stderr = self.stderr();
        assert!(
            stderr.contains(text),
            "stderr lacks {text:?}\n--- stderr\n{stderr}"
        );
        self
    }

    /// stdout and stderr together (for "never printed" checks).
    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout(), self.stderr())
    }
}

/// Runs `cmd`, which must succeed; its stdout. A command that cannot start or fails panics
/// with the command line, its stdout and its stderr.
#[track_caller]
pub fn checked_stdout(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// As [`checked_stdout`], the stdout as text.
#[track_caller]
pub fn checked_text(cmd: &mut Command) -> String {
    String::from_utf8_lossy(&checked_stdout(cmd)).into_owned()
}

/// `docker <args>`; panics with its output when it fails, returns stdout.
#[track_caller]
pub fn docker(args: &[&str]) -> String {
    checked_text(Command::new("docker").args(args))
}

/// The engine's `RepoDigests` of a local image (`repository@sha256:...` entries).
pub fn repo_digests(reference: &str) -> Vec<String> {
    let text = docker(&[
        "image",
        "inspect",
        "--format",
        "{{json .RepoDigests}}",
        reference,
    ]);
    serde_json::from_str::<Option<Vec<String>>>(text.trim())
        .expect("RepoDigests is JSON")
        .unwrap_or_default()
}

/// Basic-auth credentials for [`RegistryApi`].
pub type Login<'a> = Option<(&'a str, &'a str)>;

/// The Registry HTTP API v2 over plain HTTP, asked with curl: an independent witness of what the
/// registry holds.
pub struct RegistryApi;

/// The media types a manifest HEAD/GET accepts (what the engine pushes, and OCI).
const MANIFEST_ACCEPT: &str = "Accept: application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

impl RegistryApi {
    fn curl(args: &[&str], login: Login<'_>) -> String {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "30"]);
        if let Some((user, password)) = login {
            cmd.arg("-u").arg(format!("{user}:{password}"));
        }
        checked_text(cmd.args(args))
    }

    /// `GET http://<host>/v2/<path>/<what>` of `repository` (`host/path`; `what` is
    /// `manifests/<reference>` or `blobs/<digest>`), OCI manifests accepted, redirects
    /// followed: the body, whole. An answer other than 2xx fails the test.
    pub fn get(repository: &str, what: &str, login: Login<'_>) -> Vec<u8> {
        let (host, path) = repository.split_once('/').expect("host/path");
        let mut cmd = Command::new("curl");
        cmd.args(["-sSfL", "--max-time", "60"]);
        if let Some((user, password)) = login {
            cmd.arg("-u").arg(format!("{user}:{password}"));
        }
        checked_stdout(cmd.args([
            "-H",
            "Accept: application/vnd.oci.image.manifest.v1+json",
            &format!("http://{host}/v2/{path}/{what}"),
        ]))
    }

    /// The registry's `Docker-Content-Digest` of `reference` (`host/path:tag`); `None` on 404.
    pub fn digest(reference: &str) -> Option<String> {
        RegistryApi::digest_as(reference, None)
    }

    pub fn digest_as(reference: &str, login: Login<'_>) -> Option<String> {
        let (host, path, tag) = split_ref(reference);
        let headers = RegistryApi::curl(
            &[
                "-I",
                "-H",
                MANIFEST_ACCEPT,
                &format!("http://{host}/v2/{path}/manifests/{tag}"),
            ],
            login,
        );
        let status = headers
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("");
        match status {
            "404" => None,
            "200" => Some(
                headers
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("docker-content-digest")
                            .then(|| v.trim().to_string())
                    })
                    .unwrap_or_else(|| {
                        panic!("no Docker-Content-Digest for {reference}:\n{headers}")
                    }),
            ),
            _ => panic!("HEAD {reference}: unexpected answer\n{headers}"),
        }
    }

    /// The tags of `repository` (`host/path`); empty when the registry does not know it.
    pub fn tags(repository: &str) -> Vec<String> {
        RegistryApi::tags_as(repository, None)
    }

    pub fn tags_as(repository: &str, login: Login<'_>) -> Vec<String> {
        let (host, path) = repository.split_once('/').expect("host/path");
        let body = RegistryApi::curl(&[&format!("http://{host}/v2/{path}/tags/list")], login);
        let value: serde_json::Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("tags of {repository}: not JSON ({e}): {body}"));
        if let Some(errors) = value["errors"].as_array() {
            assert!(
                errors.iter().all(|e| e["code"] == "NAME_UNKNOWN"),
                "tags of {repository}: {body}"
            );
            return Vec::new();
        }
        let mut tags: Vec<String> = value["tags"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        tags.sort();
        tags
    }
}

/// `host/path:tag` -> (host, path, tag).
fn split_ref(reference: &str) -> (&str, &str, &str) {
    let (host, rest) = reference.split_once('/').expect("host/path:tag");
    let (path, tag) = rest.rsplit_once(':').expect("a tag");
    (host, path, tag)
}

/// The manifest `reference` (a tag or digest) of `host/path`, as the registry stores it (its
/// own bytes, read with curl).
pub fn curl_manifest(host: &str, path: &str, reference: &str) -> String {
    RegistryApi::curl(
        &[
            "-H",
            MANIFEST_ACCEPT,
            &format!("http://{host}/v2/{path}/manifests/{reference}"),
        ],
        None,
    )
}
