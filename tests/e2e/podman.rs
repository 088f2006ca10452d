//! Podman's Docker-compatible API (`podman system service`, Debian's podman 4.3), a real one
//! on a socket of its own: it answers as API 1.41 but has no BuildKit, so `auto` must build
//! with the classic builder there and `buildkit` is invalid input saying why.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sdkimage::output::EventKind;

use crate::support::Repo;

/// A `podman system service` of our own: its storage (vfs, which works on any file system),
/// run root and socket in a temp dir; stopped and removed on drop.
struct Podman {
    child: Child,
    dir: tempfile::TempDir,
}

impl Podman {
    fn start() -> Podman {
        let podman = which("podman").expect(
            "podman is not installed: run the tests through scripts/test, which installs Debian's podman",
        );
        let dir = tempfile::Builder::new()
            .prefix("sdkimage-podman-")
            .tempdir()
            .unwrap();
        let path = dir.path();
        let log = std::fs::File::create(path.join("podman.log")).unwrap();
        let child = Command::new(podman)
            .arg("--root")
            .arg(path.join("storage"))
            .arg("--runroot")
            .arg(path.join("run"))
            .args([
                "--storage-driver",
                "vfs",
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "file",
                "--tmpdir",
            ])
            .arg(path.join("tmp"))
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", path.join("podman.sock").display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let podman = Podman { child, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !podman.answers() {
            assert!(
                Instant::now() < deadline,
                "podman system service did not answer on {}: {}",
                podman.host(),
                std::fs::read_to_string(podman.dir.path().join("podman.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        podman
    }

    /// The `DOCKER_HOST` of this service.
    fn host(&self) -> String {
        format!("unix://{}", self.dir.path().join("podman.sock").display())
    }

    fn answers(&self) -> bool {
        Command::new("curl")
            .args(["-fsS", "-o", "/dev/null", "--unix-socket"])
            .arg(self.dir.path().join("podman.sock"))
            .arg("http://podman/_ping")
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        // SIGTERM: the service shuts down cleanly; only what we started is stopped.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
}

#[test]
fn auto_builds_on_podman_with_the_classic_builder() {
    let podman = Podman::start();
    let host = podman.host();
    let repo = Repo::new("cold");
    let env = [("DOCKER_HOST", host.as_str())];

    let first = repo.run_with(&["build", "--progress", "plain"], &env);
    first.success();
    let note = "note: building with the classic builder: the engine is Podman Engine";
    assert_eq!(
        first.stderr().matches(note).count(),
        1,
        "{}",
        first.stderr()
    );
    first.assert_stderr_contains("built sdk");

    // Up to date on the next run, in JSON mode (the note stays on stderr).
    let second = repo.run_with(&["build", "--message-format", "json"], &env);
    second.success();
    assert_eq!(
        second.events_of(EventKind::UpToDate).len(),
        1,
        "{}",
        second.stdout()
    );
    second.assert_stderr_contains(note);

    // BuildKit asked for: exit 2, saying why, before anything is built.
    let buildkit = repo.run_with(&["build", "--builder", "buildkit", "--no-cache"], &env);
    buildkit.expect_code(2);
    let err = buildkit.stderr();
    assert!(err.contains("asks for builder \"buildkit\""), "{err}");
    assert!(err.contains("Podman Engine"), "{err}");
    assert!(err.contains("no BuildKit"), "{err}");
    assert!(err.contains("--builder classic"), "{err}");
}
