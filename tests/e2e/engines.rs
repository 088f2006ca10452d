//! One release over two engines: the shared engine and a second dockerd with its own data
//! root, exec root and socket in its own network namespace (`start_cold_engine`). A chain and
//! a fan-out built over both, dependants on their dependency's exact image; the second engine
//! killed mid-run; an engine reached over tcp:// with TLS; an engine that does not answer.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use sdkimage::output::{Event, EventKind, ImageMetadata, Outcome};

use crate::cache::ColdEngine;
use crate::support::{Repo, checked_stdout, docker, read_metadata, tool};

/// The shared engine, as an `--engine` value.
fn home() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string())
}

/// The layers (diff ids) of image `id` as `docker` (of one engine) reports them.
fn layers(docker: &dyn Fn(&[&str]) -> String, id: &str) -> Vec<String> {
    let text = docker(&[
        "image",
        "inspect",
        "--format",
        "{{json .RootFS.Layers}}",
        id,
    ]);
    serde_json::from_str(text.trim()).expect("RootFS.Layers is JSON")
}

/// `(dependant, dependency)` of the pool fixture.
const EDGES: &[(&str, &str)] = &[
    ("pool_mid", "pool_base"),
    ("pool_top", "pool_mid"),
    ("pool_leaf1", "pool_base"),
    ("pool_leaf2", "pool_base"),
    ("pool_leaf3", "pool_base"),
];

#[test]
fn a_chain_and_a_fan_out_over_two_engines_each_on_its_dependencys_exact_image() {
    let repo = Repo::in_registry("pool");
    let second = ColdEngine::start();
    let (home, other) = (home(), second.host.clone());
    let (run, meta) = repo.run_with_metadata(&[
        "build",
        "--engine",
        &home,
        "--engine",
        &other,
        "-j",
        "1",
        "--push",
        "--message-format",
        "json",
    ]);
    run.success();
    let meta = read_metadata(&meta);
    let engine_of = |name: &str| meta[name].engine.clone().expect("the engine is named");
    let used: std::collections::BTreeSet<String> = meta.keys().map(|n| engine_of(n)).collect();
    assert_eq!(
        used,
        [home.clone(), other.clone()].into(),
        "both engines build: {meta:#?}"
    );
    // At least one dependency moved to the second engine, with its size and time.
    let moved: Vec<Event> = run.events_of(EventKind::Transferred);
    assert!(
        moved.iter().any(|e| matches!(e, Event::Transferred(t)
                if t.to.as_deref() == Some(other.as_str()) && t.bytes > 0)),
        "{moved:#?}"
    );
    let on_other = |args: &[&str]| second.docker(args);
    for (dependant, dependency) in EDGES {
        let (dep_id, base_id) = (
            meta[*dependant].id.clone().unwrap(),
            meta[*dependency].id.clone().unwrap(),
        );
        // Built where the metadata says, on the very image of its dependency (whose layers,
        // stamped by a `date` no rebuild repeats, start its own), by id on that engine.
        let built_on: &dyn Fn(&[&str]) -> String = if engine_of(dependant) == other {
            &on_other
        } else {
            &docker
        };
        let own = layers(built_on, &dep_id);
        let base = layers(built_on, &base_id);
        assert!(
            own.starts_with(&base) && own.len() > base.len(),
            "{dependant} ({dep_id}) on {} is not built on {dependency} ({base_id})",
            engine_of(dependant)
        );
        assert_eq!(
            layers(&docker, &base_id),
            base,
            "{dependency} is the same image on both"
        );
    }
    // Every image is also on the first engine, under its ref.
    for (name, m) in &meta {
        let reference = &m.refs[0];
        let id = docker(&["image", "inspect", "--format", "{{.Id}}", reference]);
        assert_eq!(
            Some(id.trim().to_string()),
            m.id,
            "{name} on the first engine"
        );
        assert!(m.pushed, "{name} pushed");
    }
    repo.run(&["verify"]).success();
}

/// The second engine is killed while it builds: its image is built again on the first, the
/// run ends with everything built, and the metadata names the lost engine.
/// `build --engine <each of engines> -j 1 --message-format json <extra>` started in the repo,
/// its stdout and stderr piped: a run the test reads event by event and may interrupt.
fn spawn_build_on(repo: &Repo, engines: &[&str], extra: &[&str]) -> Child {
    let mut command = tool();
    command.args(["sdkimage", "build"]);
    for engine in engines {
        command.args(["--engine", engine]);
    }
    command
        .args(["-j", "1", "--repository-root", &repo.root])
        .args(["--message-format", "json"])
        .args(extra)
        .current_dir(repo.path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run cargo-sdkimage")
}

#[test]
fn losing_the_second_engine_mid_run_requeues_its_images_on_the_first() {
    let repo = Repo::in_registry("pool");
    let second = ColdEngine::start();
    let (home, other) = (home(), second.host.clone());
    let meta_path = repo.file("meta.json");
    let mut child = spawn_build_on(
        &repo,
        &[&home, &other],
        &["--metadata-file", meta_path.to_str().unwrap()],
    );
    let mut killed = false;
    let mut lines = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let event: Event = serde_json::from_str(&line).expect("an event");
        if !killed
            && event.kind() == EventKind::BuildStarted
            && event.engine() == Some(other.as_str())
        {
            kill_dockerd(&second.dir);
            killed = true;
        }
        lines.push(line);
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(killed, "the second engine never started a build:\n{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}\n{}", lines.join("\n"));
    assert!(
        stderr.contains(&format!("engine {other} was lost")),
        "{stderr}"
    );
    let meta: BTreeMap<String, ImageMetadata> = read_metadata(&meta_path);
    assert!(
        meta.values()
            .all(|m| m.outcome == Outcome::Built && m.id.is_some()),
        "{meta:#?}"
    );
    let requeued: Vec<&ImageMetadata> = meta
        .values()
        .filter(|m| !m.requeued_from.is_empty())
        .collect();
    assert!(!requeued.is_empty(), "{meta:#?}");
    for m in requeued {
        assert_eq!(m.requeued_from, std::slice::from_ref(&other));
        assert_eq!(m.engine.as_deref(), Some(home.as_str()));
    }
    for m in meta.values() {
        let id = docker(&["image", "inspect", "--format", "{{.Id}}", &m.refs[0]]);
        assert_eq!(Some(id.trim().to_string()), m.id);
    }
}

/// `kill -9` of the dockerd `start_cold_engine` started in `dir`.
fn kill_dockerd(dir: &Path) {
    let pid = std::fs::read_to_string(dir.join("dockerd.pid")).expect("dockerd.pid");
    let status = Command::new("kill")
        .args(["-9", pid.trim()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl in
/// `dir` (`ca.pem`, `server-cert.pem`, `server-key.pem`, `cert.pem`, `key.pem`).
fn make_certs(dir: &Path) {
    let script = r#"set -e
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=sdkimage-test-ca -keyout ca-key.pem -out ca.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server-key.pem -out server.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 1 -extfile server.ext -out server-cert.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=client -keyout key.pem -out client.csr 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' > client.ext
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 1 -extfile client.ext -out cert.pem 2>/dev/null
"#;
    checked_stdout(Command::new("sh").arg("-c").arg(script).current_dir(dir));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn an_engine_over_tcp_with_tls() {
    let certs = tempfile::tempdir().unwrap();
    make_certs(certs.path());
    let port = free_port().to_string();
    let c = |f: &str| certs.path().join(f).display().to_string();
    let args = format!(
        "--tlsverify --tlscacert {} --tlscert {} --tlskey {} -H tcp://127.0.0.1:{port}",
        c("ca.pem"),
        c("server-cert.pem"),
        c("server-key.pem")
    );
    let second = ColdEngine::start_with(&[
        ("COLD_ENGINE_ARGS", args.as_str()),
        ("COLD_ENGINE_EXPOSE", port.as_str()),
    ]);
    let repo = Repo::new("pool");
    let url = format!("tcp://127.0.0.1:{port}");
    let cert_path = certs.path().display().to_string();
    let tls = [
        ("DOCKER_TLS_VERIFY", "1"),
        ("DOCKER_CERT_PATH", cert_path.as_str()),
    ];
    let meta = repo.file("meta.json");
    let args = [
        "build",
        "base",
        "--engine",
        url.as_str(),
        "--metadata-file",
        meta.to_str().unwrap(),
    ];
    repo.run_with(&args, &tls).success();
    let built = &read_metadata(&meta)["pool_base"];
    assert_eq!(built.engine.as_deref(), Some(url.as_str()));
    // The image is on the TLS engine, by id.
    let id = built.id.clone().unwrap();
    second.docker(&["image", "inspect", &id]);
    // Without the TLS settings the engine does not answer: exit 3, naming it.
    let refused = repo.run(&["build", "base", "--engine", url.as_str()]);
    refused.expect_code(3);
    refused.assert_stderr_contains(&url);
}

#[test]
fn an_engine_that_does_not_answer_is_exit_3_or_with_keep_going_a_note() {
    let repo = Repo::new("pool");
    let missing = "unix:///tmp/sdkimage-no-such-engine.sock";
    let run = repo.run(&["build", "base", "--engine", &home(), "--engine", missing]);
    run.expect_code(3);
    run.assert_stderr_contains(missing);
    let run = repo.run(&[
        "build",
        "base",
        "--engine",
        &home(),
        "--engine",
        missing,
        "--keep-going",
    ]);
    run.success();
    run.assert_stderr_contains(&format!("engine {missing} does not answer"));
}

/// The processes of build steps (`sh`, `sleep`: what the fixture's `RUN`s run) below the
/// dockerd `start_cold_engine` started in `dir`, as `pid comm`: BuildKit runs each step's
/// container through runc, a child of that dockerd.
fn steps_below(dir: &Path) -> Vec<String> {
    let dockerd: u32 = std::fs::read_to_string(dir.join("dockerd.pid"))
        .expect("dockerd.pid")
        .trim()
        .parse()
        .expect("a pid");
    // pid -> (parent, name), from /proc/<pid>/stat: `pid (comm) state ppid ...`.
    let mut procs: BTreeMap<u32, (u32, String)> = BTreeMap::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_string();
        let ppid = stat[close + 2..]
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        procs.insert(pid, (ppid, comm));
    }
    let below = |mut pid: u32| {
        while let Some((parent, _)) = procs.get(&pid) {
            if *parent == dockerd {
                return true;
            }
            pid = *parent;
        }
        false
    };
    procs
        .iter()
        .filter(|(pid, (_, comm))| ["sh", "sleep"].contains(&comm.as_str()) && below(**pid))
        .map(|(pid, (_, comm))| format!("{pid} {comm}"))
        .collect()
}

/// Ctrl-C while both engines build: exit 130, neither running image is tagged on either
/// engine, and no step of theirs is left running on the second (the first is shared with
/// other tests, so its processes say nothing about this one).
#[test]
fn ctrl_c_stops_the_builds_on_every_engine() {
    let repo = Repo::in_registry("pool");
    let second = ColdEngine::start();
    let (home, other) = (home(), second.host.clone());
    let mut child = spawn_build_on(&repo, &[&home, &other], &[]);
    let mut building: BTreeMap<String, String> = BTreeMap::new();
    let mut reader = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in reader.by_ref() {
        let event: Event = serde_json::from_str(&line.unwrap()).expect("an event");
        match event.kind() {
            EventKind::BuildStarted => {
                building.insert(event.engine().unwrap().to_string(), event.refs()[0].clone());
            }
            EventKind::BuildFinished => building.retain(|_, r| *r != event.refs()[0]),
            _ => {}
        }
        if building.len() == 2 {
            break;
        }
    }
    assert_eq!(building.len(), 2, "both engines build at once");
    // The second engine's build is in its RUN step (a `sleep` of 1 to 3 s) before the signal.
    for _ in 0..100 {
        if !steps_below(&second.dir).is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        !steps_below(&second.dir).is_empty(),
        "a step runs on the second engine"
    );
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // A build that finished as the signal came (its `build-finished` still on its way) is
    // tagged, rightly: only the ones the signal cut must not be.
    for line in reader {
        let event: Event = serde_json::from_str(&line.unwrap()).expect("an event");
        if event.kind() == EventKind::BuildFinished {
            building.retain(|_, r| *r != event.refs()[0]);
        }
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The engine stops a cancelled step's container as the build's connection closes; a
    // moment at most, never the rest of the step's sleep.
    let mut left = steps_below(&second.dir);
    for _ in 0..40 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        left = steps_below(&second.dir);
    }
    assert!(
        left.is_empty(),
        "build steps left running on the second engine: {left:?}"
    );
    for reference in building.values() {
        let tagged =
            |docker: &dyn Fn(&[&str]) -> Option<String>| docker(&["image", "inspect", reference]);
        let here = |args: &[&str]| {
            let out = Command::new("docker").args(args).output().unwrap();
            out.status.success().then(String::new)
        };
        let there = |args: &[&str]| {
            let out = Command::new("docker")
                .args(["-H", &other])
                .args(args)
                .output()
                .unwrap();
            out.status.success().then(String::new)
        };
        assert_eq!(
            tagged(&here),
            None,
            "{reference} tagged on the first engine"
        );
        assert_eq!(
            tagged(&there),
            None,
            "{reference} tagged on the second engine"
        );
    }
}

/// An `ssh://` engine: a local sshd (Debian's openssh-server) whose `docker system dial-stdio`
/// reaches the shared engine. `ssh` is found on PATH, as the docker CLI finds it: a wrapper
/// there gives it this test's keys and known hosts.
#[test]
fn an_engine_over_ssh_through_docker_system_dial_stdio() {
    let sshd = Path::new("/usr/sbin/sshd");
    assert!(
        sshd.exists(),
        "this test needs Debian's openssh-server (apt-get install openssh-server)"
    );
    let dir = tempfile::tempdir().unwrap();
    let d = |f: &str| dir.path().join(f).display().to_string();
    let keygen = |file: &str| {
        checked_stdout(Command::new("ssh-keygen").args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-f",
            &d(file),
        ]));
    };
    keygen("host_key");
    keygen("id");
    std::fs::copy(d("id.pub"), d("authorized_keys")).unwrap();
    let port = free_port();
    std::fs::write(
        d("sshd_config"),
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\nPidFile {}\n",
            d("host_key"),
            d("authorized_keys"),
            d("sshd.pid")
        ),
    )
    .unwrap();
    std::fs::create_dir_all("/run/sshd").unwrap();
    /// The sshd, stopped whatever the test did.
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _sshd = Stop(
        Command::new(sshd)
            .args(["-D", "-e", "-f", &d("sshd_config")])
            .stderr(Stdio::null())
            .spawn()
            .expect("sshd"),
    );
    // `ssh` on PATH with this test's client key and known hosts.
    let host_pub = std::fs::read_to_string(d("host_key.pub")).unwrap();
    std::fs::write(d("known_hosts"), format!("[127.0.0.1]:{port} {host_pub}")).unwrap();
    std::fs::create_dir_all(d("bin")).unwrap();
    std::fs::write(
        d("bin/ssh"),
        format!(
            "#!/bin/sh\nexec /usr/bin/ssh -i '{}' -o UserKnownHostsFile='{}' -o IdentitiesOnly=yes \"$@\"\n",
            d("id"),
            d("known_hosts")
        ),
    )
    .unwrap();
    Command::new("chmod")
        .args(["755", &d("bin/ssh")])
        .status()
        .unwrap();
    let path = format!("{}:{}", d("bin"), std::env::var("PATH").unwrap_or_default());
    // sshd takes a moment to listen.
    for _ in 0..50 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let repo = Repo::new("pool");
    let url = format!("ssh://root@127.0.0.1:{port}");
    let meta = repo.file("meta.json");
    let args = [
        "build",
        "base",
        "--engine",
        url.as_str(),
        "--metadata-file",
        meta.to_str().unwrap(),
    ];
    repo.run_with(&args, &[("PATH", path.as_str())]).success();
    let built = &read_metadata(&meta)["pool_base"];
    assert_eq!(built.engine.as_deref(), Some(url.as_str()));
    // The engine behind the ssh host is the shared one: the image is there, by id.
    let id = docker(&["image", "inspect", "--format", "{{.Id}}", &built.refs[0]]);
    assert_eq!(Some(id.trim().to_string()), built.id);
}
