//! Tests of the registry client: auth challenges, status classes, manifest digests, form
//! encoding, and token auth and retries against a minimal token registry on a local port.

use reqwest::header::HeaderValue;

use super::*;

#[test]
fn bearer_and_basic_challenges() {
    let c = parse_challenge(
        r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/x:pull,push""#,
    );
    assert_eq!(
        c,
        Some(Challenge::Bearer {
            realm: "https://auth.docker.io/token".into(),
            service: Some("registry.docker.io".into()),
            scope: Some("repository:library/x:pull,push".into()),
        })
    );
    assert_eq!(
        parse_challenge(r#"Basic realm="r""#),
        Some(Challenge::Basic { realm: "r".into() })
    );
    assert_eq!(
        parse_challenge("basic"),
        Some(Challenge::Basic {
            realm: String::new()
        })
    );
    assert_eq!(
        parse_challenge(r#"bearer realm=https://t/x , service="a\"b""#),
        Some(Challenge::Bearer {
            realm: "https://t/x".into(),
            service: Some("a\"b".into()),
            scope: None
        })
    );
    assert_eq!(
        parse_challenge("Bearer service=x"),
        None,
        "a bearer challenge needs a realm"
    );
    assert_eq!(parse_challenge("Negotiate abc"), None);
    assert_eq!(parse_challenge(""), None);
    assert_eq!(
        parse_params(r#"a="unterminated"#),
        vec![("a".into(), "unterminated".into())]
    );
}

#[test]
fn statuses_are_classified() {
    assert!(status_failure(StatusCode::SERVICE_UNAVAILABLE, "").is_transient());
    assert!(status_failure(StatusCode::TOO_MANY_REQUESTS, "").is_transient());
    assert!(!status_failure(StatusCode::BAD_REQUEST, "").is_transient());
    assert_eq!(
        error_detail(
            r#"{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid"}]}"#.into()
        ),
        "MANIFEST_INVALID: manifest invalid"
    );
}

#[test]
fn manifests_are_checked_against_their_digest() {
    let bytes = Bytes::from_static(
        br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#,
    );
    let digest = sha256_digest(&bytes);
    let mut headers = HeaderMap::new();
    let m = manifest_from(&headers, bytes.clone(), &digest).unwrap();
    assert_eq!(
        m.media_type, "application/vnd.oci.image.manifest.v1+json",
        "from the body"
    );
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.docker.distribution.manifest.v2+json"),
    );
    headers.insert(DIGEST_HEADER, HeaderValue::from_str(&digest).unwrap());
    let m = manifest_from(&headers, bytes.clone(), "latest").unwrap();
    assert_eq!(
        (m.media_type.as_str(), m.digest.as_str()),
        (MANIFEST_TYPES[0], digest.as_str())
    );
    assert!(
        manifest_from(&headers, Bytes::from_static(b"{}"), "latest")
            .unwrap_err()
            .to_string()
            .contains("hashes to")
    );
    headers.remove(DIGEST_HEADER);
    let other = sha256_digest(b"other");
    assert!(
        manifest_from(&headers, bytes, &other)
            .unwrap_err()
            .to_string()
            .contains("asked for")
    );
}

#[test]
fn forms_are_encoded() {
    assert_eq!(
        form_encode(&[("a b", "x/y:z"), ("k", "~.-_")]),
        "a+b=x%2Fy%3Az&k=~.-_"
    );
}

#[test]
fn docker_hub_uses_its_api_host() {
    let c = RegistryClient::new("docker.io", false, None, RetryPolicy::default()).unwrap();
    assert_eq!(c.base_url(), "https://registry-1.docker.io");
    let c = RegistryClient::new("localhost:5000", true, None, RetryPolicy::default()).unwrap();
    assert_eq!(c.base_url(), "http://localhost:5000");
}

/// What a client sent on `conn` up to the end of its request head (`\r\n\r\n`), with any
/// body bytes that came in the same reads; all of it when the connection ends first.
pub(crate) async fn read_head<R: tokio::io::AsyncRead + Unpin>(conn: &mut R) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut request = Vec::new();
    let mut buf = [0u8; 65536];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let Ok(n @ 1..) = conn.read(&mut buf).await else {
            break;
        };
        request.extend_from_slice(&buf[..n]);
    }
    request
}

/// A minimal token-auth registry: `/v2/` challenges with Bearer, `/token` wants `user:pass`
/// (or a refresh grant), manifests want the token and answer 503 `busy` times first.
async fn token_registry(busy: usize) -> (String, std::sync::Arc<Mutex<Vec<String>>>) {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let log = std::sync::Arc::new(Mutex::new(Vec::new()));
    let (realm, seen) = (format!("http://{host}/token"), log.clone());
    tokio::spawn(async move {
        let mut busy = busy;
        while let Ok((mut conn, _)) = listener.accept().await {
            let request = read_head(&mut conn).await;
            let text = String::from_utf8_lossy(&request).to_string();
            let line = text.lines().next().unwrap_or_default().to_string();
            let auth = text
                .lines()
                .find_map(|l| l.strip_prefix("authorization: "))
                .unwrap_or_default()
                .to_string();
            seen.lock().unwrap().push(format!("{line} [{auth}]"));
            let basic = format!("Basic {}", STANDARD.encode("user:pass"));
            let (status, headers, body) = if line.starts_with("GET /v2/ ") {
                (
                    "401",
                    format!("WWW-Authenticate: Bearer realm=\"{realm}\",service=\"fake\"\r\n"),
                    "",
                )
            } else if line.starts_with("GET /token?service=fake&scope=repository%3Ax%3Apull ")
                && auth == basic
            {
                (
                    "200",
                    "Content-Type: application/json\r\n".into(),
                    r#"{"token":"T1"}"#,
                )
            } else if line.starts_with("POST /token ") {
                (
                    "200",
                    "Content-Type: application/json\r\n".into(),
                    r#"{"access_token":"T1"}"#,
                )
            } else if line.starts_with("HEAD /v2/x/manifests/1 ") && auth == "Bearer T1" {
                if busy > 0 {
                    busy -= 1;
                    ("503", String::new(), "")
                } else {
                    ("200", "Docker-Content-Digest: sha256:abc\r\n".into(), "")
                }
            } else {
                ("401", String::new(), "")
            };
            let response = format!(
                "HTTP/1.1 {status} X\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(response.as_bytes()).await;
        }
    });
    (host, log)
}

fn fast() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        first_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(10),
    }
}

#[tokio::test]
async fn bearer_tokens_are_fetched_with_basic_credentials_and_cached() {
    let (host, log) = token_registry(1).await;
    let creds = Credentials::Basic {
        username: "user".into(),
        password: "pass".into(),
    };
    let client = RegistryClient::new(&host, true, Some(creds), fast()).unwrap();
    assert_eq!(
        client.head_manifest("x", "1").await.unwrap().as_deref(),
        Some("sha256:abc")
    );
    assert_eq!(
        client.head_manifest("x", "1").await.unwrap().as_deref(),
        Some("sha256:abc")
    );
    let log = log.lock().unwrap().clone();
    assert_eq!(
        log.iter().filter(|l| l.starts_with("GET /token")).count(),
        1,
        "{log:?}"
    );
    assert_eq!(
        log.iter().filter(|l| l.starts_with("HEAD")).count(),
        3,
        "one 503 retried: {log:?}"
    );
}

#[tokio::test]
async fn identity_tokens_use_the_refresh_grant() {
    let (host, log) = token_registry(0).await;
    let client = RegistryClient::new(
        &host,
        true,
        Some(Credentials::IdentityToken("r".into())),
        fast(),
    )
    .unwrap();
    assert_eq!(
        client.head_manifest("x", "1").await.unwrap().as_deref(),
        Some("sha256:abc")
    );
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with("POST /token"))
    );
}

#[tokio::test]
async fn wrong_credentials_are_denied_without_retries_or_secrets() {
    let (host, log) = token_registry(0).await;
    let creds = Credentials::Basic {
        username: "user".into(),
        password: "hunter2".into(),
    };
    let client = RegistryClient::new(&host, true, Some(creds), fast()).unwrap();
    let e = client.head_manifest("x", "1").await.unwrap_err();
    assert_eq!(e.exit_code(), 1);
    let text = e.to_string();
    assert!(
        text.contains(&host) && text.contains("credentials") && !text.contains("hunter2"),
        "{text}"
    );
    assert_eq!(
        log.lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with("GET /token"))
            .count(),
        1
    );
}

#[tokio::test]
async fn nothing_listening_is_unreachable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = RegistryClient::new(&format!("127.0.0.1:{port}"), true, None, fast()).unwrap();
    let e = client.ping().await.unwrap_err();
    assert_eq!(e.exit_code(), 3, "{e}");
    assert!(e.to_string().contains("tried 3 times"), "{e}");
}

/// One retry budget per registry, not per request: a registry that accepts connections and
/// drops them is tried `attempts` times in all, however many requests follow, and each later
/// request fails at once with the same exit code.
#[tokio::test]
async fn an_unreachable_registry_spends_one_retry_budget_for_every_request() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(socket);
        }
    });
    let client = RegistryClient::new(&host, true, None, fast()).unwrap();
    let e = client.head_manifest("x", "1").await.unwrap_err();
    assert_eq!(e.exit_code(), 3, "{e}");
    assert!(e.to_string().contains("tried 3 times"), "{e}");
    let first = accepted.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        first, 3,
        "the first request spends the budget once, not once per retry"
    );
    for _ in 0..10 {
        let again = client.head_manifest("y", "2").await.unwrap_err();
        assert_eq!(again.exit_code(), 3);
        assert_eq!(again.to_string(), e.to_string());
        assert_eq!(
            client.get_manifest("y", "2").await.unwrap_err().exit_code(),
            3
        );
    }
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        first,
        "later requests never connect again"
    );
}

/// A file of `size` bytes that compresses badly, and its digest.
fn blob_file(dir: &std::path::Path, size: usize) -> (std::path::PathBuf, String) {
    let mut bytes = Vec::with_capacity(size);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while bytes.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    bytes.truncate(size);
    let path = dir.join("blob");
    std::fs::write(&path, &bytes).unwrap();
    (path, sha256_digest(&bytes))
}

/// The real registry the end-to-end tests use (`SDKIMAGE_TEST_REGISTRY`, `localhost:5000`).
fn shared_registry() -> String {
    std::env::var("SDKIMAGE_TEST_REGISTRY")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost:5000".into())
}

#[tokio::test]
async fn a_blob_above_the_threshold_goes_up_in_several_patches_to_the_real_registry() {
    let registry = shared_registry();
    let policy = UploadPolicy {
        chunked_above: 1024 * 1024,
        chunk_length: 1024 * 1024,
    };
    let client = RegistryClient::new(&registry, true, None, fast())
        .unwrap()
        .with_upload_policy(policy);
    client
        .ping()
        .await
        .unwrap_or_else(|e| panic!("this test needs the registry at {registry}: {e}"));
    let dir = tempfile::tempdir().unwrap();
    let (path, digest) = blob_file(dir.path(), 3 * 1024 * 1024 + 512 * 1024);
    let repository = format!(
        "sdkimage-unit/chunked-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    assert!(!client.has_blob(&repository, &digest).await.unwrap());
    let size = std::fs::metadata(&path).unwrap().len();
    let upload = client
        .upload_blob(&repository, &digest, size, BlobSource::File(&path))
        .await
        .unwrap();
    assert_eq!(upload, Upload::Chunked { patches: 4 });
    assert!(client.has_blob(&repository, &digest).await.unwrap());
    // The registry's copy hashes to the digest (`blob_bytes` checks it).
    let back = client
        .blob_bytes(&repository, &digest, 4 << 20)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back.len() as u64, size);
    // At or below the threshold: one PUT.
    let small_dir = dir.path().join("small");
    std::fs::create_dir(&small_dir).unwrap();
    let (small, small_digest) = blob_file(&small_dir, 1024 * 1024);
    let upload = client
        .upload_blob(
            &repository,
            &small_digest,
            1024 * 1024,
            BlobSource::File(&small),
        )
        .await
        .unwrap();
    assert_eq!(upload, Upload::Monolithic);
    // A wrong digest is refused by the registry at the closing PUT, not taken.
    let wrong = sha256_digest(b"something else");
    let err = client
        .upload_blob(&repository, &wrong, size, BlobSource::File(&path))
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&wrong), "{err}");
}

/// A registry refusing chunks: the session opens (with `OCI-Chunk-Min-Length`), a `PATCH` gets
/// 416, a `PUT` with the digest takes the whole body. Logs `METHOD path [content-range] bytes`.
async fn chunkless_registry() -> (String, std::sync::Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let log = std::sync::Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let request = read_head(&mut conn).await;
            let end = request
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .unwrap_or(0)
                + 4;
            let text = String::from_utf8_lossy(&request[..end]).to_lowercase();
            let header = |name: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                    .unwrap_or_default()
                    .trim()
                    .to_string()
            };
            let length: usize = header("content-length").parse().unwrap_or(0);
            let mut body = request.len() - end;
            let mut buf = [0u8; 65536];
            while body < length {
                let Ok(n @ 1..) = conn.read(&mut buf).await else {
                    break;
                };
                body += n;
            }
            let line = text.lines().next().unwrap_or_default().to_string();
            let mut words = line.split(' ');
            let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
            seen.lock().unwrap().push(
                format!("{method} {path} [{}] {body}", header("content-range")).to_uppercase(),
            );
            let (status, headers) = match method {
                "get" => ("200", String::new()),
                "post" => (
                    "202",
                    "Location: /v2/x/blobs/uploads/u1\r\nOCI-Chunk-Min-Length: 100\r\n".into(),
                ),
                "patch" => ("416", String::new()),
                "delete" => ("204", String::new()),
                "put" => ("201", String::new()),
                _ => ("404", String::new()),
            };
            let response = format!(
                "HTTP/1.1 {status} X\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = conn.write_all(response.as_bytes()).await;
        }
    });
    (host, log)
}

#[tokio::test]
async fn a_registry_refusing_chunks_gets_the_blob_in_one_put_from_then_on() {
    let (host, log) = chunkless_registry().await;
    let client = RegistryClient::new(&host, true, None, fast())
        .unwrap()
        .with_upload_policy(UploadPolicy {
            chunked_above: 100,
            chunk_length: 64,
        });
    let dir = tempfile::tempdir().unwrap();
    let (path, digest) = blob_file(dir.path(), 1000);
    for _ in 0..2 {
        let upload = client
            .upload_blob("x", &digest, 1000, BlobSource::File(&path))
            .await
            .unwrap();
        assert_eq!(upload, Upload::Monolithic);
    }
    let log = log.lock().unwrap().clone();
    let put = format!(
        "PUT /V2/X/BLOBS/UPLOADS/U1?DIGEST={} [] 1000",
        digest.to_uppercase()
    );
    assert_eq!(
        log,
        vec![
            "GET /V2/ [] 0".to_string(),
            "POST /V2/X/BLOBS/UPLOADS/ [] 0".into(),
            // Our chunk (64 bytes) raised to the registry's minimum (100).
            "PATCH /V2/X/BLOBS/UPLOADS/U1 [0-99] 100".into(),
            "DELETE /V2/X/BLOBS/UPLOADS/U1 [] 0".into(),
            "POST /V2/X/BLOBS/UPLOADS/ [] 0".into(),
            put.clone(),
            // The second blob: no chunks tried.
            "POST /V2/X/BLOBS/UPLOADS/ [] 0".into(),
            put,
        ]
    );
}

/// A registry of blobs: `GET /v2/x/blobs/<digest>` answers with the content `blobs` holds
/// under that digest (404 without one); the first answer for a digest in `broken` announces
/// its length and closes after half the body. Logs each request line.
async fn blob_registry(
    blobs: Vec<(String, Vec<u8>)>,
    broken: Vec<String>,
) -> (String, std::sync::Arc<Mutex<Vec<String>>>) {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let log = std::sync::Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    tokio::spawn(async move {
        let mut broken = broken;
        while let Ok((mut conn, _)) = listener.accept().await {
            let request = read_head(&mut conn).await;
            let text = String::from_utf8_lossy(&request).to_string();
            let line = text.lines().next().unwrap_or_default().to_string();
            seen.lock().unwrap().push(line.clone());
            let path = line.split(' ').nth(1).unwrap_or_default();
            let found = path
                .strip_prefix("/v2/x/blobs/")
                .and_then(|d| blobs.iter().find(|(digest, _)| digest == d));
            let (status, body, sent) = match (path, found) {
                ("/v2/", _) => ("200", Vec::new(), 0),
                (_, Some((digest, body))) => {
                    let sent = match broken.iter().position(|b| b == digest) {
                        Some(i) => {
                            broken.remove(i);
                            body.len() / 2
                        }
                        None => body.len(),
                    };
                    ("200", body.clone(), sent)
                }
                _ => ("404", Vec::new(), 0),
            };
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(head.as_bytes()).await;
            let _ = conn.write_all(&body[..sent]).await;
        }
    });
    (host, log)
}

#[tokio::test]
async fn a_blob_read_whole_is_capped_checked_against_its_digest_and_read_again_when_cut() {
    let content = b"a small config blob".to_vec();
    let good = sha256_digest(&content);
    let sha512 = format!("sha512:{}", hex::encode(sha2::Sha512::digest(&content)));
    let lying = sha256_digest(b"something else");
    let cut = sha256_digest(b"a body cut once");
    let (host, log) = blob_registry(
        vec![
            (good.clone(), content.clone()),
            (sha512.clone(), content.clone()),
            (lying.clone(), content.clone()),
            (cut.clone(), b"a body cut once".to_vec()),
        ],
        vec![cut.clone()],
    )
    .await;
    let client = RegistryClient::new(&host, true, None, fast()).unwrap();
    let read = |digest: String, limit| {
        let client = &client;
        async move { client.blob_bytes("x", &digest, limit).await }
    };
    assert_eq!(
        read(good.clone(), 1024).await.unwrap(),
        Some(content.clone())
    );
    // Another algorithm's digest of the same content: checked with sha512.
    assert_eq!(read(sha512, 1024).await.unwrap(), Some(content.clone()));
    let err = read(lying.clone(), 1024).await.unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("blob {lying} of x on {host} hashes to {good}")),
        "{err}"
    );
    assert_eq!(err.exit_code(), 1);
    let err = read(good.clone(), 5).await.unwrap_err();
    assert!(err.to_string().contains("larger than 5 bytes"), "{err}");
    assert_eq!(err.exit_code(), 1);
    // Cut once after half its body: read again from the start.
    assert_eq!(
        read(cut.clone(), 1024).await.unwrap().as_deref(),
        Some(&b"a body cut once"[..])
    );
    let missing = sha256_digest(b"not there");
    assert_eq!(read(missing, 1024).await.unwrap(), None);
    let err = read("sha256:abc".into(), 1024).await.unwrap_err();
    assert!(err.to_string().contains("sha256:abc"), "{err}");
    let log = log.lock().unwrap().clone();
    assert_eq!(
        log.iter()
            .filter(|l| l.starts_with(&format!("GET /v2/x/blobs/{cut} ")))
            .count(),
        2,
        "{log:?}"
    );
    assert!(
        !log.iter().any(|l| l.contains("sha256:abc")),
        "a malformed digest is never asked for: {log:?}"
    );
}
