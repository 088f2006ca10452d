//! A BuildKit build session that serves build secrets (`RUN --mount=type=secret,id=...`).
//!
//! The engine's BuildKit asks the client for a secret over a *session*: the client hijacks
//! `POST /session` (an h2c upgrade naming the session id and the gRPC methods it serves),
//! then acts as the gRPC *server* on that connection, the daemon being the client. A build
//! sent as `POST /build?version=2&session=<id>` finds the session by its id. bollard's own
//! session serves registry auth only, so this module opens and serves its own:
//! `grpc.health.v1.Health/Check` and `moby.buildkit.secrets.v1.Secrets/GetSecret`.
//!
//! Where a secret comes from follows `docker build --secret`: [`SecretSpec::parse`] reads
//! `id=NAME,src=PATH` / `id=NAME,env=VAR` (with an optional `type=file|env`), [`load`] reads
//! the value. A secret's value is never logged, never part of a message or of `Debug`
//! output, and is overwritten with zeros when dropped.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bollard_buildkit_proto::health::health_check_response::ServingStatus;
use bollard_buildkit_proto::health::health_server::{Health, HealthServer};
use bollard_buildkit_proto::health::{HealthCheckRequest, HealthCheckResponse};
use bollard_buildkit_proto::health::{HealthListRequest, HealthListResponse};
use bollard_buildkit_proto::moby::buildkit::secrets::v1::secrets_server::{Secrets, SecretsServer};
use bollard_buildkit_proto::moby::buildkit::secrets::v1::{GetSecretRequest, GetSecretResponse};
use bollard_buildkit_proto::moby::filesync::v1::auth_server::{Auth, AuthServer};
use bollard_buildkit_proto::moby::filesync::v1::file_sync_server::FileSyncServer;
use bollard_buildkit_proto::moby::filesync::v1::{
    CredentialsRequest, CredentialsResponse, FetchTokenRequest, FetchTokenResponse,
    GetTokenAuthorityRequest, GetTokenAuthorityResponse, VerifyTokenAuthorityRequest,
    VerifyTokenAuthorityResponse,
};
use futures_util::{StreamExt, stream};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::server::Connected;

use super::EngineHost;
use super::filesync::{FileSyncService, SyncFailure, SyncedContext};
use crate::context::ContextError;
use crate::error::{Error, Result, quoted};
use crate::guarded;

/// BuildKit's own limit on a secret's size (`MaxSecretSize`, 500 KiB).
pub const MAX_SECRET_SIZE: u64 = 500 * 1024;

/// How long opening the session (connect, upgrade answer) may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`BuildSession::close`] waits for the daemon to take the session down.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The gRPC methods the session serves, announced in the upgrade request.
const METHODS: &[&str] = &[
    "/grpc.health.v1.Health/Check",
    "/moby.buildkit.secrets.v1.Secrets/GetSecret",
    "/moby.filesync.v1.Auth/Credentials",
    "/moby.filesync.v1.Auth/FetchToken",
    "/moby.filesync.v1.Auth/GetTokenAuthority",
    "/moby.filesync.v1.Auth/VerifyTokenAuthority",
];
/// Served as well when the session sends the build context.
const FILE_SYNC_METHOD: &str = "/moby.filesync.v1.FileSync/DiffCopy";

/// Registry credentials a session hands to BuildKit when it pulls a base: registry host
/// (`localhost:5000`, `docker.io`) -> (username, secret: a password or an identity token).
pub type RegistryAuths = BTreeMap<String, (String, String)>;

/// How `--secret` is written, for error messages.
const SYNTAX: &str =
    "`id=NAME,src=PATH` or `id=NAME,env=VAR` (optionally with `type=file` or `type=env`)";

// ---------------------------------------------------------------------------------------------
// Secrets

/// The value of one build secret. Not `Clone`; its `Debug` shows only its size; the bytes are
/// overwritten with zeros when it is dropped.
pub struct Secret {
    bytes: Vec<u8>,
}

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Secret {
        Secret { bytes }
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.bytes.fill(0);
        // Keep the zeroing from being optimised away as a dead store.
        std::hint::black_box(&mut self.bytes);
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes, redacted>)", self.bytes.len())
    }
}

/// Where a secret's value is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// A regular file (`~/` already expanded).
    File(PathBuf),
    /// An environment variable, by name.
    Env(String),
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::File(path) => write!(f, "the file {}", path.display()),
            SecretSource::Env(var) => write!(f, "the environment variable {}", quoted(var)),
        }
    }
}

/// One `--secret`: the id a Dockerfile mounts (`RUN --mount=type=secret,id=NAME`) and where
/// its value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSpec {
    pub id: String,
    pub source: SecretSource,
}

impl SecretSpec {
    /// Parse docker build's `--secret` syntax: comma-separated `key=value` fields, keys
    /// `id`, `src`/`source`, `env`, `type` (`file` or `env`). As with docker: `type=env` with
    /// `src=X` reads the variable `X`; without `src`/`env`, `type=file` reads the file named
    /// like the id and `type=env` the variable named like the id; with neither a type nor a
    /// source, the variable named like the id if it is set, else the file. A leading `~/` is
    /// the home folder.
    pub fn parse(text: &str) -> Result<SecretSpec> {
        let home = home::home_dir();
        parse_in(text, home.as_deref(), &|var| {
            std::env::var_os(var).is_some()
        })
    }
}

impl FromStr for SecretSpec {
    type Err = Error;

    fn from_str(text: &str) -> Result<SecretSpec> {
        SecretSpec::parse(text)
    }
}

fn parse_in(
    text: &str,
    home: Option<&Path>,
    env_is_set: &dyn Fn(&str) -> bool,
) -> Result<SecretSpec> {
    let bad = |problem: String| {
        Error::Usage(format!(
            "build secret {}: {problem}; expected {SYNTAX}",
            quoted(text)
        ))
    };
    if text.trim().is_empty() {
        return Err(bad("is empty".into()));
    }
    let mut id = None;
    let mut kind = None;
    let mut src = None;
    let mut env = None;
    for field in text.split(',') {
        let Some((key, value)) = field.split_once('=') else {
            return Err(bad(format!("{} is not a key=value field", quoted(field))));
        };
        let key = key.trim().to_ascii_lowercase();
        let slot = match key.as_str() {
            "id" => &mut id,
            "type" => &mut kind,
            "src" | "source" => &mut src,
            "env" => &mut env,
            _ => {
                return Err(bad(format!(
                    "unknown key {} (the keys are id, src, source, env and type)",
                    quoted(&key)
                )));
            }
        };
        if slot.is_some() {
            return Err(bad(format!("{key} is given twice")));
        }
        if value.is_empty() {
            return Err(bad(format!("{key} is empty")));
        }
        *slot = Some(value.to_string());
    }
    let Some(id) = id else {
        return Err(bad("has no id".into()));
    };
    let source = match (kind.as_deref(), src, env) {
        (Some(other), _, _) if other != "file" && other != "env" => {
            return Err(bad(format!(
                "type {} is not supported (file or env)",
                quoted(other)
            )));
        }
        (_, Some(_), Some(_)) => {
            return Err(bad(
                "names both a file (src=) and an environment variable (env=); give one".into(),
            ));
        }
        (Some("file"), None, Some(_)) => {
            return Err(bad("type=file takes src=PATH, not env=".into()));
        }
        (Some("env"), Some(var), None) | (_, None, Some(var)) => SecretSource::Env(var),
        (_, Some(path), None) => {
            SecretSource::File(expand_home(&path, home).map_err(|e| bad(e.to_string()))?)
        }
        (Some("env"), None, None) => SecretSource::Env(id.clone()),
        (Some(_), None, None) => {
            SecretSource::File(expand_home(&id, home).map_err(|e| bad(e.to_string()))?)
        }
        (None, None, None) if env_is_set(&id) => SecretSource::Env(id.clone()),
        (None, None, None) => {
            SecretSource::File(expand_home(&id, home).map_err(|e| bad(e.to_string()))?)
        }
    };
    Ok(SecretSpec { id, source })
}

/// A path starting with `~` where the home folder is unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} starts with ~ but the home folder is unknown", quoted(.path))]
pub struct HomeUnknown {
    pub path: String,
}

/// `~` and `~/rest` are the home folder; anything else is taken as written.
pub fn expand_home(path: &str, home: Option<&Path>) -> std::result::Result<PathBuf, HomeUnknown> {
    let rest = match path.strip_prefix('~') {
        Some("") => "",
        Some(rest) if rest.starts_with('/') => rest.trim_start_matches('/'),
        _ => return Ok(PathBuf::from(path)),
    };
    match home {
        Some(home) => Ok(home.join(rest)),
        None => Err(HomeUnknown {
            path: path.to_string(),
        }),
    }
}

/// Read the value of `spec`: a regular file of at most [`MAX_SECRET_SIZE`] (read through
/// [`guarded::read`]), or an environment variable. A missing source is a usage error that
/// names the secret and where it looked.
pub fn load(spec: &SecretSpec) -> Result<Secret> {
    load_in(spec, &|var| std::env::var_os(var))
}

/// [`load`] every spec, keyed by id; an id given twice is a usage error.
pub fn load_all<'a>(
    specs: impl IntoIterator<Item = &'a SecretSpec>,
) -> Result<BTreeMap<String, Secret>> {
    let mut secrets = BTreeMap::new();
    for spec in specs {
        if secrets.contains_key(&spec.id) {
            return Err(Error::Usage(format!(
                "build secret {} is given twice; give each id once",
                quoted(&spec.id)
            )));
        }
        secrets.insert(spec.id.clone(), load(spec)?);
    }
    Ok(secrets)
}

fn load_in(spec: &SecretSpec, env: &dyn Fn(&str) -> Option<OsString>) -> Result<Secret> {
    let id = quoted(&spec.id);
    match &spec.source {
        SecretSource::File(path) => {
            match guarded::read(
                path,
                guarded::Rules::anywhere(MAX_SECRET_SIZE, "a build secret"),
            ) {
                Ok(bytes) => Ok(Secret::new(bytes)),
                Err(e) if e.is_not_found() => Err(Error::Usage(format!(
                    "build secret {id}: the file {} does not exist",
                    path.display()
                ))),
                Err(guarded::ReadError::Io { path, source }) => Err(Error::io(
                    format!("build secret {id}: cannot read {}", path.display()),
                    source,
                )),
                Err(e) => Err(Error::Usage(format!("build secret {id}: cannot read {e}"))),
            }
        }
        SecretSource::Env(var) => {
            let Some(value) = env(var) else {
                return Err(Error::Usage(format!(
                    "build secret {id}: the environment variable {} is not set",
                    quoted(var)
                )));
            };
            let secret = Secret::new(std::os::unix::ffi::OsStringExt::into_vec(value));
            if secret.len() as u64 > MAX_SECRET_SIZE {
                return Err(Error::Usage(format!(
                    "build secret {id}: the environment variable {} is {} bytes, over the {} limit for a build secret",
                    quoted(var),
                    secret.len(),
                    guarded::human_size(MAX_SECRET_SIZE)
                )));
            }
            Ok(secret)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The session

/// An open build session serving secrets. Pass [`BuildSession::id`] as the build's `session`
/// parameter (with `version=2`). Dropping it (or [`BuildSession::close`]) ends the session.
pub struct BuildSession {
    id: String,
    secret_ids: Vec<String>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    /// A second handle on the connection: tonic serves it in a task of its own, which
    /// neither the shutdown signal (when not awaited) nor aborting our task reaches.
    closer: Option<Closer>,
    /// Where the file sync leaves a failure of ours (a file that changed), when the session
    /// sends the build context.
    sync_failure: Option<SyncFailure>,
}

/// What the upgrade request announces.
struct Announce<'a> {
    id: &'a str,
    shared_key: &'a str,
    file_sync: bool,
}

impl fmt::Debug for BuildSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuildSession")
            .field("id", &self.id)
            .field("secrets", &self.secret_ids)
            .finish()
    }
}

impl BuildSession {
    /// Open a session on the engine at `host` that serves `secrets` (by id) until it is
    /// dropped or closed. The engine must be reachable at a `unix://` socket or a plain
    /// `tcp://` / `http://` address (the session does not speak TLS).
    pub async fn start(
        host: &EngineHost,
        secrets: BTreeMap<String, Secret>,
        auths: RegistryAuths,
    ) -> Result<BuildSession> {
        Self::open(host, secrets, auths, None).await
    }

    /// [`BuildSession::start`], and the session also sends `context` through BuildKit's file
    /// sync ([`super::filesync`]): the build then names it with
    /// [`super::BuildRequest::context_from_session`].
    pub async fn start_with_context(
        host: &EngineHost,
        secrets: BTreeMap<String, Secret>,
        auths: RegistryAuths,
        context: SyncedContext,
    ) -> Result<BuildSession> {
        Self::open(host, secrets, auths, Some(context)).await
    }

    /// Why the file sync failed the build, when it did for a reason of ours (a context file
    /// that changed while it was sent); taken once.
    pub fn take_sync_failure(&self) -> Option<ContextError> {
        self.sync_failure.as_ref()?.lock().ok()?.take()
    }

    async fn open(
        host: &EngineHost,
        secrets: BTreeMap<String, Secret>,
        auths: RegistryAuths,
        context: Option<SyncedContext>,
    ) -> Result<BuildSession> {
        let id = new_session_id();
        let unreachable = |detail: String| {
            Error::Unreachable(format!(
                "cannot open a build session (for build secrets) on the Docker engine at {} ({}): {detail}",
                host.host, host.source
            ))
        };
        let secret_ids: Vec<String> = secrets.keys().cloned().collect();
        let store = SecretStore { secrets, auths };
        let sync_failure = context.as_ref().map(|_| SyncFailure::default());
        let files = context.map(|c| FileSyncService {
            synced: std::sync::Arc::new(c),
            failure: sync_failure.clone().unwrap_or_default(),
        });
        let shared_key = files
            .as_ref()
            .map_or(id.clone(), |f| f.synced.shared_key.clone());
        let announce = Announce {
            id: &id,
            shared_key: &shared_key,
            file_sync: files.is_some(),
        };
        let opened = if let Some(path) = host.host.strip_prefix("unix://") {
            let connect = tokio::net::UnixStream::connect(path);
            let open = open_with(
                connect,
                |c| c.into_std(),
                |s| s.try_clone(),
                tokio::net::UnixStream::from_std,
                &announce,
                host,
                &unreachable,
            );
            let (conn, closer) = with_timeout(open, &unreachable).await?;
            (serve(conn, store, files), Closer::Unix(closer))
        } else if let Some(addr) = plain_tcp_address(host) {
            let connect = tokio::net::TcpStream::connect(addr);
            let open = open_with(
                connect,
                |c| c.into_std(),
                |s| s.try_clone(),
                tokio::net::TcpStream::from_std,
                &announce,
                host,
                &unreachable,
            );
            let (conn, closer) = with_timeout(open, &unreachable).await?;
            (serve(conn, store, files), Closer::Tcp(closer))
        } else {
            return Err(Error::Usage(format!(
                "build secrets need the engine's local socket (unix://) or a plain tcp:// address, but the engine at {} ({}) is reached {}; point DOCKER_HOST at the engine's socket to build with secrets",
                host.host,
                host.source,
                if host.tls.is_some() || host.host.starts_with("https://") {
                    "over TLS, which the build session does not speak"
                } else {
                    "in a way the build session does not support"
                }
            )));
        };
        let ((stop, task), closer) = opened;
        Ok(BuildSession {
            id,
            secret_ids,
            stop: Some(stop),
            task: Some(task),
            closer: Some(closer),
            sync_failure,
        })
    }

    /// The session id: the build's `session` parameter.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The ids of the secrets this session serves.
    pub fn secret_ids(&self) -> &[String] {
        &self.secret_ids
    }

    /// End the session cleanly (an HTTP/2 GOAWAY the daemon sees at once), waiting a few
    /// seconds at most; dropping the session ends it too, by closing the connection.
    pub async fn close(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(CLOSE_TIMEOUT, task).await.is_err() {
                abort.abort();
            }
        }
        if let Some(closer) = self.closer.take() {
            closer.shutdown();
        }
    }
}

impl Drop for BuildSession {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
        if let Some(closer) = self.closer.take() {
            closer.shutdown();
        }
    }
}

/// A duplicate of the session connection's socket, to shut the connection down for sure.
enum Closer {
    Unix(std::os::unix::net::UnixStream),
    Tcp(std::net::TcpStream),
}

impl Closer {
    fn shutdown(self) {
        let _ = match &self {
            Closer::Unix(s) => s.shutdown(std::net::Shutdown::Both),
            Closer::Tcp(s) => s.shutdown(std::net::Shutdown::Both),
        };
    }
}

/// Turn a tokio stream (already made std) into a tokio stream plus a std duplicate of it.
/// Connect, upgrade the connection to a session, and keep a duplicate of the socket that can
/// shut it down however tonic holds the connection.
async fn open_with<T, S>(
    connect: impl Future<Output = std::io::Result<T>>,
    into_std: impl Fn(T) -> std::io::Result<S>,
    clone: impl Fn(&S) -> std::io::Result<S>,
    from_std: impl Fn(S) -> std::io::Result<T>,
    announce: &Announce<'_>,
    host: &EngineHost,
    unreachable: &(dyn Fn(String) -> Error + Sync),
) -> Result<(T, S)>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let mut conn = connect.await.map_err(|e| unreachable(e.to_string()))?;
    handshake(&mut conn, announce, host).await?;
    keep_closer(into_std(conn), clone, from_std).map_err(|e| unreachable(e.to_string()))
}

fn keep_closer<S, T>(
    std_stream: std::io::Result<S>,
    clone: impl Fn(&S) -> std::io::Result<S>,
    to_tokio: impl Fn(S) -> std::io::Result<T>,
) -> std::io::Result<(T, S)> {
    let std_stream = std_stream?;
    let duplicate = clone(&std_stream)?;
    Ok((to_tokio(std_stream)?, duplicate))
}

/// `tcp://host:port` or `http://host:port` without TLS -> `host:port`.
fn plain_tcp_address(host: &EngineHost) -> Option<&str> {
    if host.tls.is_some() {
        return None;
    }
    let rest = host
        .host
        .strip_prefix("tcp://")
        .or_else(|| host.host.strip_prefix("http://"))?;
    Some(rest.trim_end_matches('/'))
}

async fn with_timeout<T>(
    open: impl Future<Output = Result<T>>,
    unreachable: &(dyn Fn(String) -> Error + Sync),
) -> Result<T> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, open)
        .await
        .map_err(|_| {
            unreachable(format!(
                "no answer within {} s",
                HANDSHAKE_TIMEOUT.as_secs()
            ))
        })?
}

/// Unique per call: the process, a counter, the time and the process's random hash keys.
fn new_session_id() -> String {
    static SERIAL: AtomicU64 = AtomicU64::new(0);
    let serial = SERIAL.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u64(serial);
    hasher.write_u128(nanos);
    format!("sdkimage-{:016x}{:x}", hasher.finish(), serial)
}

/// `POST /session` with an h2c upgrade; returns once the engine answered `101`.
async fn handshake<IO: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut IO,
    announce: &Announce<'_>,
    host: &EngineHost,
) -> Result<()> {
    let Announce { id, shared_key, .. } = announce;
    let lost = |e: std::io::Error| {
        Error::Unreachable(format!(
            "lost the Docker engine at {} ({}) while opening a build session: {e}",
            host.host, host.source
        ))
    };
    let mut request = format!(
        "POST /session HTTP/1.1\r\n\
         Host: docker\r\n\
         User-Agent: cargo-sdkimage/{}\r\n\
         Content-Length: 0\r\n\
         Connection: Upgrade\r\n\
         Upgrade: h2c\r\n\
         X-Docker-Expose-Session-Uuid: {id}\r\n\
         X-Docker-Expose-Session-Name: cargo-sdkimage\r\n\
         X-Docker-Expose-Session-Sharedkey: {shared_key}\r\n",
        env!("CARGO_PKG_VERSION")
    );
    let file_sync = announce.file_sync.then_some(&FILE_SYNC_METHOD);
    for method in METHODS.iter().chain(file_sync) {
        request.push_str(&format!(
            "X-Docker-Expose-Session-Grpc-Method: {method}\r\n"
        ));
    }
    request.push_str("\r\n");
    conn.write_all(request.as_bytes()).await.map_err(lost)?;
    conn.flush().await.map_err(lost)?;
    // Byte by byte up to the blank line: what follows is the daemon's HTTP/2, not ours to read.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(conn.read_u8().await.map_err(lost)?);
        if head.len() > 16 * 1024 {
            return Err(refused(host, "an answer head over 16 KiB", ""));
        }
    }
    let head = String::from_utf8_lossy(&head);
    let status = head.lines().next().unwrap_or_default().trim();
    if status.split_whitespace().nth(1) == Some("101") {
        return Ok(());
    }
    // An error answer carries a short body (`{"message":"..."}`); read it for the message.
    let length = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())
        .unwrap_or(0)
        .min(4096);
    let mut body = vec![0; length];
    let body = match tokio::time::timeout(Duration::from_secs(2), conn.read_exact(&mut body)).await
    {
        Ok(Ok(_)) => body_message(&body),
        _ => String::new(),
    };
    Err(refused(host, status, &body))
}

fn refused(host: &EngineHost, answer: &str, message: &str) -> Error {
    let message = if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    };
    Error::Failed(format!(
        "the Docker engine at {} ({}) refused a build session (needed for build secrets; engines since API 1.39 serve one): {}{message}",
        host.host,
        host.source,
        quoted(answer)
    ))
}

/// `{"message":"..."}` -> the message; anything else as text.
fn body_message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message")?.as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string())
}

/// Serve Health, Secrets, Auth (and FileSync, for a context) on the upgraded connection until
/// told to stop.
fn serve<IO>(
    conn: IO,
    store: SecretStore,
    files: Option<FileSyncService>,
) -> (oneshot::Sender<()>, JoinHandle<()>)
where
    IO: AsyncRead + AsyncWrite + Connected + Unpin + Send + 'static,
{
    let store = std::sync::Arc::new(store);
    let router = tonic::transport::Server::builder()
        .add_service(HealthServer::new(Healthy))
        .add_service(SecretsServer::from_arc(store.clone()))
        .add_service(AuthServer::from_arc(store))
        .add_optional_service(files.map(FileSyncServer::new));
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        // A one-item stream would end `serve` at once (the connection then runs detached,
        // beyond the reach of the shutdown signal): keep the stream open instead.
        let incoming = stream::iter([Ok::<_, std::io::Error>(conn)]).chain(stream::pending());
        let _ = router
            .serve_with_incoming_shutdown(incoming, async {
                let _ = stopped.await;
            })
            .await;
    });
    (stop, task)
}

struct SecretStore {
    secrets: BTreeMap<String, Secret>,
    auths: RegistryAuths,
}

#[tonic::async_trait]
impl Auth for SecretStore {
    /// The credentials for a registry host; none (anonymous) when the Docker config has none.
    async fn credentials(
        &self,
        request: tonic::Request<CredentialsRequest>,
    ) -> std::result::Result<tonic::Response<CredentialsResponse>, tonic::Status> {
        let host = &request.get_ref().host;
        let docker_hub = ["registry-1.docker.io", "index.docker.io", "docker.io"];
        let found = self.auths.get(host).or_else(|| {
            docker_hub
                .contains(&host.as_str())
                .then(|| docker_hub.iter().find_map(|h| self.auths.get(*h)))
                .flatten()
        });
        let (username, secret) = found.cloned().unwrap_or_default();
        Ok(tonic::Response::new(CredentialsResponse {
            username,
            secret,
        }))
    }

    async fn fetch_token(
        &self,
        _request: tonic::Request<FetchTokenRequest>,
    ) -> std::result::Result<tonic::Response<FetchTokenResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented(
            "Auth/FetchToken is not served; use Credentials",
        ))
    }

    async fn get_token_authority(
        &self,
        _request: tonic::Request<GetTokenAuthorityRequest>,
    ) -> std::result::Result<tonic::Response<GetTokenAuthorityResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented(
            "Auth/GetTokenAuthority is not served",
        ))
    }

    async fn verify_token_authority(
        &self,
        _request: tonic::Request<VerifyTokenAuthorityRequest>,
    ) -> std::result::Result<tonic::Response<VerifyTokenAuthorityResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented(
            "Auth/VerifyTokenAuthority is not served",
        ))
    }
}

#[tonic::async_trait]
impl Secrets for SecretStore {
    async fn get_secret(
        &self,
        request: tonic::Request<GetSecretRequest>,
    ) -> std::result::Result<tonic::Response<GetSecretResponse>, tonic::Status> {
        let id = &request.get_ref().id;
        match self.secrets.get(id) {
            Some(secret) => Ok(tonic::Response::new(GetSecretResponse {
                data: secret.bytes.clone(),
            })),
            None => Err(tonic::Status::not_found(format!(
                "no build secret with id {} was given to this build",
                quoted(id)
            ))),
        }
    }
}

struct Healthy;

#[tonic::async_trait]
impl Health for Healthy {
    async fn check(
        &self,
        _request: tonic::Request<HealthCheckRequest>,
    ) -> std::result::Result<tonic::Response<HealthCheckResponse>, tonic::Status> {
        Ok(tonic::Response::new(HealthCheckResponse {
            status: ServingStatus::Serving as i32,
        }))
    }

    async fn list(
        &self,
        _request: tonic::Request<HealthListRequest>,
    ) -> std::result::Result<tonic::Response<HealthListResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("Health/List is not served"))
    }

    type WatchStream = stream::Empty<std::result::Result<HealthCheckResponse, tonic::Status>>;

    async fn watch(
        &self,
        _request: tonic::Request<HealthCheckRequest>,
    ) -> std::result::Result<tonic::Response<Self::WatchStream>, tonic::Status> {
        Err(tonic::Status::unimplemented("Health/Watch is not served"))
    }
}

#[cfg(test)]
mod tests;
