//! Parsing and loading of `--secret` specs, and the session against the real engine (the
//! engine tests need a running Docker engine and fail without; they build `FROM scratch`
//! images holding the host's static busybox).

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::BuildInfoAux;
use bollard::query_parameters::{BuildImageOptionsBuilder, BuilderVersion, RemoveImageOptions};
use bytes::Bytes;

use super::*;
use crate::engine::{Engine, EngineError};

// ---------------------------------------------------------------------------------------------
// Parsing

fn parse(text: &str) -> Result<SecretSpec> {
    parse_in(text, Some(Path::new("/home/me")), &|var| var == "SET_VAR")
}

fn file(id: &str, path: &str) -> SecretSpec {
    SecretSpec {
        id: id.into(),
        source: SecretSource::File(path.into()),
    }
}

fn env(id: &str, var: &str) -> SecretSpec {
    SecretSpec {
        id: id.into(),
        source: SecretSource::Env(var.into()),
    }
}

#[test]
fn specs_in_docker_build_syntax() {
    assert_eq!(
        parse("id=tok,src=/run/tok").unwrap(),
        file("tok", "/run/tok")
    );
    assert_eq!(
        parse("id=tok,source=rel/tok").unwrap(),
        file("tok", "rel/tok")
    );
    assert_eq!(parse("source=/a,id=tok").unwrap(), file("tok", "/a"));
    assert_eq!(parse("ID=tok,SRC=/a").unwrap(), file("tok", "/a"));
    assert_eq!(parse("id=tok,type=file,src=/a").unwrap(), file("tok", "/a"));
    assert_eq!(parse("id=tok,env=TOKEN").unwrap(), env("tok", "TOKEN"));
    assert_eq!(
        parse("id=tok,type=env,env=TOKEN").unwrap(),
        env("tok", "TOKEN")
    );
    // docker: with type=env, src names the variable.
    assert_eq!(
        parse("type=env,id=tok,src=TOKEN").unwrap(),
        env("tok", "TOKEN")
    );
    // No source: named like the id.
    assert_eq!(parse("id=tok,type=file").unwrap(), file("tok", "tok"));
    assert_eq!(parse("id=tok,type=env").unwrap(), env("tok", "tok"));
    assert_eq!(parse("id=SET_VAR").unwrap(), env("SET_VAR", "SET_VAR"));
    assert_eq!(parse("id=unset").unwrap(), file("unset", "unset"));
    // The home folder.
    assert_eq!(
        parse("id=t,src=~/.tok").unwrap(),
        file("t", "/home/me/.tok")
    );
    assert_eq!(parse("id=t,src=~").unwrap(), file("t", "/home/me"));
    assert_eq!(parse("id=t,src=~other/x").unwrap(), file("t", "~other/x"));
    assert_eq!(parse("id=t,src=/a/~/b").unwrap(), file("t", "/a/~/b"));
    // FromStr (clap's value parser) is the same parse.
    assert_eq!(
        "id=x,src=/y".parse::<SecretSpec>().unwrap(),
        file("x", "/y")
    );
}

#[test]
fn bad_specs_name_the_bad_value_and_the_syntax() {
    let cases = [
        ("", "is empty"),
        ("id=a,foo=b", "unknown key \"foo\""),
        ("id=a,src", "\"src\" is not a key=value field"),
        ("src=/x", "has no id"),
        ("id=,src=/x", "id is empty"),
        ("id=a,src=", "src is empty"),
        ("id=a,id=b", "id is given twice"),
        ("id=a,src=/x,source=/y", "source is given twice"),
        (
            "id=a,type=ssh",
            "type \"ssh\" is not supported (file or env)",
        ),
        (
            "id=a,src=/x,env=V",
            "names both a file (src=) and an environment variable",
        ),
        ("id=a,type=file,env=V", "type=file takes src=PATH, not env="),
    ];
    for (text, problem) in cases {
        let e = parse(text).unwrap_err();
        assert_eq!(e.exit_code(), 2, "{text}: {e}");
        let message = e.to_string();
        assert!(message.contains(problem), "{text}: {message}");
        assert!(message.contains(&quoted(text)), "{text}: {message}");
        assert!(message.contains("`id=NAME,src=PATH`"), "{text}: {message}");
    }
    let e = parse_in("id=a,src=~/x", None, &|_| false).unwrap_err();
    assert!(e.to_string().contains("the home folder is unknown"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Loading

fn no_env(_: &str) -> Option<OsString> {
    None
}

#[test]
fn a_file_secret_is_read_whole_up_to_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tok");
    std::fs::write(&path, b"s3cr3t\n").unwrap();
    let secret = load_in(&file("tok", path.to_str().unwrap()), &no_env).unwrap();
    assert_eq!(secret.bytes, b"s3cr3t\n");
    assert_eq!(format!("{secret:?}"), "Secret(<7 bytes, redacted>)");

    let max = dir.path().join("max");
    std::fs::write(&max, vec![b'x'; MAX_SECRET_SIZE as usize]).unwrap();
    assert_eq!(
        load_in(&file("max", max.to_str().unwrap()), &no_env)
            .unwrap()
            .len(),
        MAX_SECRET_SIZE as usize
    );
}

#[test]
fn a_file_secret_that_cannot_be_used_is_named_without_its_content() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let e = load_in(&file("tok", missing.to_str().unwrap()), &no_env).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert_eq!(
        e.to_string(),
        format!(
            "build secret \"tok\": the file {} does not exist",
            missing.display()
        )
    );

    let big = dir.path().join("big");
    std::fs::write(&big, vec![b'Q'; MAX_SECRET_SIZE as usize + 1]).unwrap();
    let e = load_in(&file("big", big.to_str().unwrap()), &no_env).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    let message = e.to_string();
    assert!(message.contains("build secret \"big\""), "{message}");
    assert!(
        message.contains("over the 500 KiB limit for a build secret"),
        "{message}"
    );
    assert!(!message.contains("QQ"), "{message}");

    let e = load_in(&file("dir", dir.path().to_str().unwrap()), &no_env).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(
        e.to_string().contains("is a folder, not a regular file"),
        "{e}"
    );
}

#[test]
fn an_env_secret_is_read_from_the_variable() {
    let vars: HashMap<&str, &str> = HashMap::from([("TOKEN", "from-env")]);
    let lookup = |var: &str| vars.get(var).map(OsString::from);
    let secret = load_in(&env("tok", "TOKEN"), &lookup).unwrap();
    assert_eq!(secret.bytes, b"from-env");

    let e = load_in(&env("tok", "NOT_THERE"), &lookup).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert_eq!(
        e.to_string(),
        "build secret \"tok\": the environment variable \"NOT_THERE\" is not set"
    );

    let huge = "Z".repeat(MAX_SECRET_SIZE as usize + 1);
    let e = load_in(&env("tok", "HUGE"), &|_| Some(OsString::from(&huge))).unwrap_err();
    assert!(e.to_string().contains("over the 500 KiB limit"), "{e}");
    assert!(!e.to_string().contains("ZZ"), "{e}");
}

#[test]
fn load_all_keys_by_id_and_refuses_an_id_given_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a");
    std::fs::write(&path, b"A").unwrap();
    let a = file("a", path.to_str().unwrap());
    let b = file("b", path.to_str().unwrap());
    let all = load_all([&a, &b]).unwrap();
    assert_eq!(all.keys().collect::<Vec<_>>(), ["a", "b"]);
    let e = load_all([&a, &b, &a]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "build secret \"a\" is given twice; give each id once"
    );
}

// ---------------------------------------------------------------------------------------------
// Hosts the session refuses before connecting

fn host(address: &str) -> EngineHost {
    EngineHost {
        host: address.into(),
        tls: None,
        source: "a test".into(),
    }
}

#[tokio::test]
async fn tls_and_unknown_hosts_are_usage_errors() {
    let mut tls = host("tcp://engine:2376");
    tls.tls = Some(crate::engine::host::TlsFiles {
        ca: "/c/ca.pem".into(),
        cert: "/c/cert.pem".into(),
        key: "/c/key.pem".into(),
    });
    for (h, why) in [
        (tls, "over TLS"),
        (host("https://engine:2376"), "over TLS"),
        (
            host("ssh://me@engine"),
            "in a way the build session does not support",
        ),
    ] {
        let e = BuildSession::start(&h, BTreeMap::new(), BTreeMap::new())
            .await
            .unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e}");
        let message = e.to_string();
        assert!(
            message.contains("build secrets need the engine's local socket"),
            "{message}"
        );
        assert!(message.contains(why), "{message}");
        assert!(message.contains(&h.host), "{message}");
    }
    let e = BuildSession::start(
        &host("unix:///nonexistent/docker.sock"),
        BTreeMap::new(),
        BTreeMap::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.exit_code(), 3, "{e}");
    assert!(
        e.to_string().contains("unix:///nonexistent/docker.sock"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------------
// Against the engine

const CANARY: &str = "tweet-canary-42";

/// The step compares the mounted secret with `tweet-canary-$((40+2))`, not with the value
/// itself: the image's history keeps each step's command line, so a literal value in the
/// Dockerfile would be found in `docker save` whatever the secret mount does.
const CANARY_DOCKERFILE: &str = r#"FROM scratch
COPY busybox /bin/busybox
RUN --mount=type=secret,id=canary ["/bin/busybox","sh","-c","test \"$(/bin/busybox cat /run/secrets/canary)\" = tweet-canary-$((40+2)) && /bin/busybox echo ok"]
"#;

/// `required=true`: BuildKit itself fails the step, naming the id it could not get.
const UNKNOWN_ID_DOCKERFILE: &str = r#"FROM scratch
COPY busybox /bin/busybox
RUN --mount=type=secret,id=never-given-7,required=true ["/bin/busybox","true"]
"#;

async fn engine() -> Engine {
    Engine::connect()
        .await
        .unwrap_or_else(|e| panic!("these tests need a running Docker engine: {e}"))
}

fn canary_secrets() -> BTreeMap<String, Secret> {
    BTreeMap::from([(
        "canary".to_string(),
        Secret::new(CANARY.as_bytes().to_vec()),
    )])
}

/// A context of `dockerfile` and the host's busybox, as a stream of 64 KiB chunks.
fn context(
    dockerfile: &str,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    let busybox = std::fs::read("/bin/busybox").expect("these tests need /bin/busybox");
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data, mode) in [
        ("Dockerfile", dockerfile.as_bytes(), 0o644),
        ("busybox", busybox.as_slice(), 0o755),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_cksum();
        tar.append_data(&mut header, name, data).expect("tar");
    }
    let tar = Bytes::from(tar.into_inner().expect("tar"));
    let chunks: Vec<_> = (0..tar.len())
        .step_by(64 * 1024)
        .map(|at| Ok(tar.slice(at..tar.len().min(at + 64 * 1024))))
        .collect();
    stream::iter(chunks)
}

/// A BuildKit build in `session`; the image id, or the engine's error text.
/// Each build gets an `ENV` of its own, so that parallel tests neither share (and remove) an
/// image nor run one merged step: BuildKit runs identical steps of concurrent builds once,
/// asking the first build's session for the secret.
async fn build(
    docker: &Docker,
    session: &str,
    dockerfile: &str,
) -> std::result::Result<String, EngineError> {
    static SERIAL: AtomicU64 = AtomicU64::new(0);
    let unique = format!(
        "FROM scratch\nENV SDKIMAGE_TEST={}-{}\n",
        std::process::id(),
        SERIAL.fetch_add(1, Ordering::SeqCst)
    );
    let dockerfile = dockerfile.replacen("FROM scratch\n", &unique, 1);
    let options = BuildImageOptionsBuilder::default()
        .version(BuilderVersion::BuilderBuildKit)
        .session(session)
        .nocache(true)
        .build();
    let body = bollard::body_try_stream(context(&dockerfile));
    let mut stream = docker.build_image(options, None, Some(body));
    let mut id = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(BuildInfoAux::Default(image)) = info.aux
                    && let Some(found) = image.id
                {
                    id = Some(found);
                }
            }
            Err(e) => return Err(EngineError::Failed(crate::engine::error_text(&e))),
        }
    }
    id.ok_or_else(|| EngineError::Failed("the engine reported no image id".into()))
}

async fn remove_image(docker: &Docker, id: &str) {
    let options = RemoveImageOptions {
        force: true,
        noprune: false,
        ..Default::default()
    };
    let _ = docker.remove_image(id, Some(options), None).await;
}

async fn saved(docker: &Docker, id: &str) -> Vec<u8> {
    let mut stream = docker.export_image(id);
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.expect("docker save"));
    }
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The entries of a `docker save` tar that hold `needle` (for the failure message).
fn entries_holding(saved: &[u8], needle: &[u8]) -> Vec<String> {
    let mut archive = tar::Archive::new(saved);
    let mut found = Vec::new();
    for entry in archive.entries().expect("saved tar") {
        let mut entry = entry.expect("saved tar entry");
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).expect("saved tar entry");
        if contains(&data, needle) {
            found.push(entry.path().expect("entry path").display().to_string());
        }
    }
    found
}

#[tokio::test]
async fn a_run_step_reads_the_secret_and_the_image_keeps_none_of_it() {
    let engine = engine().await;
    let docker = &engine.docker;
    let session = BuildSession::start(engine.host(), canary_secrets(), BTreeMap::new())
        .await
        .expect("session opens");
    let debug = format!("{session:?}");
    assert!(
        debug.contains(session.id()) && debug.contains("canary"),
        "{debug}"
    );
    assert!(!debug.contains(CANARY), "{debug}");

    let built = build(docker, session.id(), CANARY_DOCKERFILE).await;
    let unknown = build(docker, session.id(), UNKNOWN_ID_DOCKERFILE).await;
    let image = match &built {
        Ok(id) => saved(docker, id).await,
        Err(_) => Vec::new(),
    };
    if let Ok(id) = &built {
        remove_image(docker, id).await;
    }
    if let Ok(id) = &unknown {
        remove_image(docker, id).await;
    }

    let id = built.expect("the build with the secret succeeds");
    assert!(id.starts_with("sha256:"), "{id}");
    let e = unknown
        .expect_err("a build asking for a secret not given fails")
        .to_string();
    assert!(e.contains("never-given-7"), "{e}");
    assert!(!image.is_empty());
    assert!(
        !contains(&image, CANARY.as_bytes()),
        "the saved image holds the secret, in {:?}",
        entries_holding(&image, CANARY.as_bytes())
    );

    // Once closed, the session is gone: the same build cannot get its secret any more.
    let id = session.id().to_string();
    session.close().await;
    let after = build(docker, &id, CANARY_DOCKERFILE).await;
    if let Ok(image) = &after {
        remove_image(docker, image).await;
    }
    let e = after
        .expect_err("a closed session still served the secret")
        .to_string();
    // As for a dropped session (below), the wording depends on timing.
    assert!(e.contains("session") || e.contains("connection"), "{e}");
}

#[tokio::test]
async fn a_dropped_session_is_gone() {
    let engine = engine().await;
    let docker = &engine.docker;
    let session = BuildSession::start(engine.host(), canary_secrets(), BTreeMap::new())
        .await
        .expect("session opens");
    let id = session.id().to_string();
    drop(session);
    let after = build(docker, &id, CANARY_DOCKERFILE).await;
    if let Ok(image) = &after {
        remove_image(docker, image).await;
    }
    let e = after
        .expect_err("a dropped session still served the secret")
        .to_string();
    // Depending on how far the daemon got in noticing: `no active session for <id>`, or
    // `connection closed` / `only one connection allowed` from its gRPC client.
    assert!(e.contains("session") || e.contains("connection"), "{e}");
}

/// A plain `tcp://` engine address works too: through a forwarder to the local socket.
#[tokio::test]
async fn a_session_over_plain_tcp() {
    let engine = engine().await;
    let socket = engine
        .host()
        .host
        .strip_prefix("unix://")
        .expect("the test engine is on a unix socket")
        .to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let forwarder = tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let socket = socket.clone();
            tokio::spawn(async move {
                if let Ok(mut unix) = tokio::net::UnixStream::connect(&socket).await {
                    let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
                }
            });
        }
    });
    let session = BuildSession::start(
        &host(&format!("tcp://127.0.0.1:{port}")),
        canary_secrets(),
        BTreeMap::new(),
    )
    .await
    .expect("session opens over tcp");
    let built = build(&engine.docker, session.id(), CANARY_DOCKERFILE).await;
    if let Ok(id) = &built {
        remove_image(&engine.docker, id).await;
    }
    drop(session);
    forwarder.abort();
    built.expect("the build with the secret succeeds over tcp");
}
