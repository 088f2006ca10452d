//! Shared helpers: fixture monorepos copied to a temp dir, the built binary, the real engine.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

pub const BIN: &str = env!("CARGO_BIN_EXE_cargo-sdkimage");

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
        let mut all: Vec<String> = vec!["sdkimage".into()];
        all.extend(args.iter().map(|s| s.to_string()));
        if !args.iter().any(|a| a.starts_with("--repository-root")) && needs_root(args) {
            all.push("--repository-root".into());
            all.push(self.root.clone());
        }
        let output = Command::new(BIN)
            .args(&all)
            .current_dir(self.path())
            .env_remove("CARGO_TERM_COLOR")
            .env("NO_COLOR", "1")
            .output()
            .expect("run cargo-sdkimage");
        Run { output, args: all }
    }

    /// Local image id of a reference, via the docker CLI (an independent witness).
    pub fn image_id(&self, reference: &str) -> Option<String> {
        docker_image_id(reference)
    }
}

fn needs_root(args: &[&str]) -> bool {
    matches!(
        args.first(),
        Some(&"build") | Some(&"list") | Some(&"push") | Some(&"verify") | Some(&"promote")
    )
}

impl Drop for Repo {
    fn drop(&mut self) {
        let out = Command::new("docker")
            .args(["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"])
            .output();
        if let Ok(out) = out {
            let refs: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| l.starts_with(&format!("{}/", self.root)))
                .map(str::to_string)
                .collect();
            if !refs.is_empty() {
                let _ = Command::new("docker")
                    .arg("rmi")
                    .arg("-f")
                    .args(&refs)
                    .output();
            }
        }
    }
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
    let out = Command::new("docker")
        .args(["run", "--rm", "--network", "none", image])
        .output()
        .expect("docker run");
    assert!(
        out.status.success(),
        "docker run {image} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
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

    /// stdout as JSON lines.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.stdout()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
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
