//! Test helpers: a real `docker-registry` on a free port of 5100-5199 and fake credential
//! helpers.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

/// A `docker-registry serve` process with its own storage; killed on drop, and the local images
/// that point into it removed.
pub(crate) struct TestRegistry {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    _port_lock: std::fs::File,
}

impl TestRegistry {
    pub fn start() -> TestRegistry {
        TestRegistry::start_with_auth(None)
    }

    /// A registry that wants `user`/`password` (htpasswd, bcrypt).
    pub fn start_with_htpasswd(user: &str, password: &str) -> TestRegistry {
        TestRegistry::start_with_auth(Some((user, password)))
    }

    fn start_with_auth(auth: Option<(&str, &str)>) -> TestRegistry {
        let dir = tempfile::tempdir().expect("temp dir");
        let (port, port_lock) = free_port();
        let mut config = format!(
            "version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {}}}, delete: {{enabled: true}}}}\nhttp: {{addr: 127.0.0.1:{port}}}\n",
            dir.path().join("data").display()
        );
        if let Some((user, password)) = auth {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("htpasswd (apache2-utils) must be installed");
            assert!(out.status.success(), "htpasswd failed");
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, out.stdout).expect("write htpasswd");
            config.push_str(&format!(
                "auth: {{htpasswd: {{realm: test, path: {}}}}}\n",
                file.display()
            ));
        }
        std::fs::write(dir.path().join("config.yml"), config).expect("write registry config");
        let mut registry = TestRegistry {
            port,
            dir,
            child: None,
            _port_lock: port_lock,
        };
        registry.start_again();
        registry
    }

    /// `localhost:PORT`, as image references name it.
    pub fn host(&self) -> String {
        format!("localhost:{}", self.port)
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// (Re)start on the same port and storage; returns once it accepts connections.
    pub fn start_again(&mut self) {
        self.stop();
        let log =
            std::fs::File::create(self.dir.path().join("registry.log")).expect("registry log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("docker-registry (Debian package docker-registry) must be installed");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() > deadline {
                panic!(
                    "docker-registry on port {} did not start: {}",
                    self.port,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(100));
        let exited = self
            .child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten());
        assert!(
            exited.is_none(),
            "docker-registry on port {} exited: {}",
            self.port,
            self.log()
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// The digest the registry serves for `repository:reference`, asked with plain HTTP.
    pub async fn digest(
        &self,
        repository: &str,
        reference: &str,
        auth: Option<(&str, &str)>,
    ) -> Option<String> {
        crate::init_tls();
        let url = format!(
            "http://127.0.0.1:{}/v2/{repository}/manifests/{reference}",
            self.port
        );
        let mut request = reqwest::Client::new()
            .head(url)
            .header("Accept", crate::registry::client::MANIFEST_TYPES.join(", "));
        if let Some((user, password)) = auth {
            request = request.basic_auth(user, Some(password));
        }
        let response = request.send().await.expect("registry answers");
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return None;
        }
        assert!(
            response.status().is_success(),
            "HEAD {reference}: {}",
            response.status()
        );
        Some(
            response.headers()["docker-content-digest"]
                .to_str()
                .unwrap()
                .to_string(),
        )
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.stop();
        remove_local_images(&format!("localhost:{}/", self.port));
    }
}

/// A port of 5100-5199 no other test (in this or another process) holds: its lock file is
/// held for the registry's life, and nothing listens on it.
fn free_port() -> (u16, std::fs::File) {
    let dir = std::env::temp_dir().join("cargo-sdkimage-test-ports");
    std::fs::create_dir_all(&dir).expect("port lock dir");
    let start = NEXT_PORT.fetch_add(1, Ordering::SeqCst) % 100 + (std::process::id() % 100) as u16;
    for offset in 0..100 {
        let port = 5100 + (start + offset) % 100;
        let lock = std::fs::File::create(dir.join(format!("{port}.lock"))).expect("port lock file");
        if lock.try_lock().is_ok() && TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return (port, lock);
        }
    }
    panic!("no free port left in 5100-5199");
}

/// Remove every local image with a reference under `prefix`, tagged or not (a tag moved by a
/// test leaves its old image with only a repo digest). Best effort. The tests' images hold
/// content unique to them, so nothing another test uses goes with them.
fn remove_local_images(prefix: &str) {
    let Ok(out) = Command::new("docker")
        .args([
            "image",
            "ls",
            "--no-trunc",
            "--format",
            "{{.Repository}} {{.ID}}",
        ])
        .output()
    else {
        return;
    };
    let mut ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(repository, _)| repository.starts_with(prefix))
        .map(|(_, id)| id.to_string())
        .collect();
    ids.sort();
    ids.dedup();
    if !ids.is_empty() {
        let _ = Command::new("docker")
            .args(["rmi", "--force", "--no-prune"])
            .args(&ids)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A fake `docker-credential-<name>` in `dir` answering `get` (and `list`) from `entries`
/// (server, username, secret); it appends `<command> <server>` to `<dir>/docker-credential-<name>.log`.
pub(crate) fn fake_helper(dir: &Path, name: &str, entries: &[(&str, &str, &str)]) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let mut cases = String::new();
    for (server, user, secret) in entries {
        cases.push_str(&format!(
            "  '{server}') printf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{secret}\"}}' \"$server\" ;;\n"
        ));
    }
    let list: Vec<String> = entries
        .iter()
        .map(|(s, u, _)| format!("\"{s}\":\"{u}\""))
        .collect();
    let script = format!(
        "#!/bin/sh\nread -r server\necho \"$1 $server\" >> \"$0.log\"\nif [ \"$1\" = list ]; then printf '{{{}}}'; exit 0; fi\ncase \"$server\" in\n{cases}  *) echo 'credentials not found in native keychain'; exit 1 ;;\nesac\n",
        list.join(",")
    );
    let path = dir.join(format!("docker-credential-{name}"));
    std::fs::write(&path, script).expect("write helper");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod helper");
    path
}
