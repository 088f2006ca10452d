//! A small Registry HTTP API v2 client: ping, token/basic auth challenges, manifest HEAD, GET and
//! PUT. Enough to point tags at manifests already in a registry and to read digests back.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};
use sha2::{Digest, Sha256};

use super::{Credentials, Failure, RetryPolicy};
use crate::error::{Error, Result};

/// Every manifest type we accept and copy: Docker v2 schema 2 and OCI, images and indexes.
pub const MANIFEST_TYPES: [&str; 4] = [
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
];

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const DIGEST_HEADER: &str = "docker-content-digest";

/// A manifest as the registry stores it: the exact bytes, their media type and digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryManifest {
    pub bytes: Bytes,
    pub media_type: String,
    pub digest: String,
}

/// How a registry asks us to authenticate (`WWW-Authenticate` on `/v2/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic {
        realm: String,
    },
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Pull,
    Push,
}

impl Access {
    fn scope(self, repository: &str) -> String {
        match self {
            Access::Pull => format!("repository:{repository}:pull"),
            Access::Push => format!("repository:{repository}:pull,push"),
        }
    }
}

/// One registry. Learns its auth challenge once, caches bearer tokens per scope.
pub struct RegistryClient {
    registry: String,
    base: String,
    http: reqwest::Client,
    credentials: Option<Credentials>,
    retry: RetryPolicy,
    challenge: tokio::sync::OnceCell<Option<Challenge>>,
    tokens: Mutex<HashMap<String, String>>,
    /// Set when the retry budget for reaching the registry is spent: one budget per registry
    /// and run, not per request, so later requests fail at once with the same message.
    unreachable: std::sync::OnceLock<String>,
    /// When blobs go up in chunks (`client/chunked.rs`).
    upload: UploadPolicy,
    /// Set when the registry refused a chunked upload: later blobs go up in one piece.
    chunks_refused: std::sync::atomic::AtomicBool,
}

impl RegistryClient {
    /// `registry` is the host of image references (`docker.io` means Docker Hub's API host);
    /// `insecure` selects plain HTTP.
    pub fn new(
        registry: &str,
        insecure: bool,
        credentials: Option<Credentials>,
        retry: RetryPolicy,
    ) -> Result<RegistryClient> {
        crate::init_tls();
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("cargo-sdkimage/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Failed(format!("cannot set up an HTTP client: {e}")))?;
        let api_host = match registry {
            "docker.io" | "index.docker.io" => "registry-1.docker.io",
            other => other,
        };
        let scheme = if insecure { "http" } else { "https" };
        Ok(RegistryClient {
            registry: registry.to_string(),
            base: format!("{scheme}://{api_host}"),
            http,
            credentials,
            retry,
            challenge: tokio::sync::OnceCell::new(),
            tokens: Mutex::default(),
            unreachable: std::sync::OnceLock::new(),
            upload: UploadPolicy::default(),
            chunks_refused: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The same client with another threshold and length for chunked uploads.
    pub fn with_upload_policy(mut self, upload: UploadPolicy) -> RegistryClient {
        self.upload = upload;
        self
    }

    /// `http(s)://host[:port]`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Check that the registry answers `/v2/` (and learn how it wants us to authenticate).
    pub async fn ping(&self) -> Result<()> {
        self.challenge()
            .await
            .map(|_| ())
            .map_err(|f| self.error(f, "cannot reach the registry"))
    }

    /// The digest `reference` (a tag or digest) points at; `None` when there is no such manifest.
    pub async fn head_manifest(&self, repository: &str, reference: &str) -> Result<Option<String>> {
        let url = self.manifest_url(repository, reference);
        let head = self
            .retried(|| self.attempt(Method::HEAD, &url, repository, Access::Pull, None))
            .await;
        match head {
            Ok(response) => match header_digest(response.headers()) {
                Some(digest) => Ok(Some(digest)),
                None => Ok(self
                    .get_manifest(repository, reference)
                    .await?
                    .map(|m| m.digest)),
            },
            Err(Failure::NotFound(_)) => Ok(None),
            Err(f) => Err(self.error(f, &format!("cannot read {repository}:{reference}"))),
        }
    }

    /// The manifest `reference` points at; `None` when there is none. Fetched by digest, its
    /// content is checked against that digest.
    pub async fn get_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<RegistryManifest>> {
        let url = self.manifest_url(repository, reference);
        let fetched = self
            .retried(|| async {
                let response = self
                    .attempt(Method::GET, &url, repository, Access::Pull, None)
                    .await?;
                let headers = response.headers().clone();
                let bytes = response
                    .bytes()
                    .await
                    .map_err(|e| Failure::Connection(crate::error::chain(&e)))?;
                Ok((headers, bytes))
            })
            .await;
        let (headers, bytes) = match fetched {
            Ok(fetched) => fetched,
            Err(Failure::NotFound(_)) => return Ok(None),
            Err(f) => return Err(self.error(f, &format!("cannot read {repository}:{reference}"))),
        };
        manifest_from(&headers, bytes, reference)
            .map(Some)
            .map_err(|e| Error::Failed(format!("{}/{repository}:{reference}: {e}", self.registry)))
    }

    /// Store `manifest` under `tag` (a small PUT: its blobs are already in the repository).
    /// Returns the digest the registry stored it under, checked against the manifest's.
    pub async fn put_manifest(
        &self,
        repository: &str,
        tag: &str,
        manifest: &RegistryManifest,
    ) -> Result<String> {
        let url = self.manifest_url(repository, tag);
        let response = self
            .retried(|| self.attempt(Method::PUT, &url, repository, Access::Push, Some(manifest)))
            .await
            .map_err(|f| self.error(f, &format!("cannot tag {repository}:{tag}")))?;
        let digest = header_digest(response.headers()).unwrap_or_else(|| manifest.digest.clone());
        if digest != manifest.digest {
            return Err(Error::Failed(format!(
                "{}/{repository}:{tag} was stored as {digest}, expected {}",
                self.registry, manifest.digest
            )));
        }
        Ok(digest)
    }

    /// Mount blob `digest` of repository `from` into `repository` (same registry), uploading
    /// nothing; whether the registry mounted it. A registry that answers with an upload session
    /// instead (it does not have the blob there, or the credentials may not read `from`) has
    /// that session cancelled: a mount is only ever a shortcut.
    pub async fn mount_blob(&self, repository: &str, digest: &str, from: &str) -> Result<bool> {
        let url = format!(
            "{}/v2/{repository}/blobs/uploads/?mount={digest}&from={from}",
            self.base
        );
        let response = self
            .retried(|| self.attempt(Method::POST, &url, repository, Access::Push, None))
            .await
            .map_err(|f| self.error(f, &format!("cannot mount {digest} into {repository}")))?;
        if response.status() == StatusCode::CREATED {
            return Ok(true);
        }
        let session = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(|l| match l.starts_with('/') {
                true => format!("{}{l}", self.base),
                false => l.to_string(),
            });
        if let Some(session) = session {
            // Best effort: an abandoned upload session expires on its own.
            let _ = self
                .attempt(Method::DELETE, &session, repository, Access::Push, None)
                .await;
        }
        Ok(false)
    }

    /// `op` under the retry policy, unless the registry's budget for connections is already
    /// spent; a connection failure that spends it is remembered for every later request.
    async fn retried<T, F, Fut>(&self, op: F) -> std::result::Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, Failure>>,
    {
        if let Some(m) = self.unreachable.get() {
            return Err(Failure::Unreachable(m.clone()));
        }
        match self.retry.run(op).await {
            Err(Failure::Connection(m)) => {
                let m = self.unreachable.get_or_init(|| m).clone();
                Err(Failure::Unreachable(m))
            }
            other => other,
        }
    }

    fn manifest_url(&self, repository: &str, reference: &str) -> String {
        format!("{}/v2/{repository}/manifests/{reference}", self.base)
    }

    /// One request with whatever authorization the registry wants; a cached bearer token the
    /// registry refuses (expired) is replaced once.
    async fn attempt(
        &self,
        method: Method,
        url: &str,
        repository: &str,
        access: Access,
        body: Option<&RegistryManifest>,
    ) -> std::result::Result<Response, Failure> {
        self.attempt_with(method, url, repository, access, |request| {
            Ok(match body {
                Some(manifest) => request
                    .header(CONTENT_TYPE, &manifest.media_type)
                    .body(manifest.bytes.clone()),
                None => request,
            })
        })
        .await
    }

    /// [`Self::attempt`] with the request finished by `finish` (a body, headers), called
    /// again for each try.
    async fn attempt_with(
        &self,
        method: Method,
        url: &str,
        repository: &str,
        access: Access,
        finish: impl Fn(
            reqwest::RequestBuilder,
        ) -> std::result::Result<reqwest::RequestBuilder, Failure>,
    ) -> std::result::Result<Response, Failure> {
        let mut fresh = false;
        loop {
            let auth = self.authorization(repository, access, fresh).await?;
            let request = self
                .http
                .request(method.clone(), url)
                .header(ACCEPT, MANIFEST_TYPES.join(", "));
            let mut request = finish(request)?;
            if let Some(auth) = &auth {
                request = request.header(AUTHORIZATION, auth);
            }
            let response = request.send().await.map_err(|e| send_failure(&e))?;
            let cached_token = auth.as_deref().is_some_and(|a| a.starts_with("Bearer "));
            if response.status() == StatusCode::UNAUTHORIZED && cached_token && !fresh {
                fresh = true;
                continue;
            }
            return self.check(response, repository, access).await;
        }
    }

    async fn check(
        &self,
        response: Response,
        repository: &str,
        access: Access,
    ) -> std::result::Result<Response, Failure> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        match status {
            StatusCode::NOT_FOUND => Err(Failure::NotFound(format!("{repository}: not found"))),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Err(Failure::Denied(self.denied(repository, access)))
            }
            _ => {
                let detail = error_detail(response.text().await.unwrap_or_default());
                Err(status_failure(status, &detail))
            }
        }
    }

    fn denied(&self, repository: &str, access: Access) -> String {
        let action = if access == Access::Push {
            "push"
        } else {
            "pull"
        };
        match self.credentials {
            None => format!(
                "registry {} denied {action} access to {repository}: the Docker config has no credentials for {} (run `docker login {}`)",
                self.registry, self.registry, self.registry
            ),
            Some(_) => format!(
                "registry {} denied {action} access to {repository} with the credentials the Docker config holds for it (wrong credentials, or no {action} permission)",
                self.registry
            ),
        }
    }

    async fn challenge(&self) -> std::result::Result<Option<Challenge>, Failure> {
        self.challenge
            .get_or_try_init(|| self.retried(|| self.fetch_challenge()))
            .await
            .cloned()
    }

    async fn fetch_challenge(&self) -> std::result::Result<Option<Challenge>, Failure> {
        let response = self
            .http
            .get(format!("{}/v2/", self.base))
            .send()
            .await
            .map_err(|e| send_failure(&e))?;
        match response.status() {
            s if s.is_success() => Ok(None),
            StatusCode::UNAUTHORIZED => Ok(response
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|h| h.to_str().ok())
                .and_then(parse_challenge)),
            s => Err(status_failure(s, "")),
        }
    }

    /// The `Authorization` header for `access` to `repository`, if the registry wants one.
    async fn authorization(
        &self,
        repository: &str,
        access: Access,
        fresh: bool,
    ) -> std::result::Result<Option<String>, Failure> {
        let (realm, service) = match self.challenge().await? {
            None => return Ok(None),
            Some(Challenge::Basic { .. }) => {
                return Ok(match &self.credentials {
                    Some(Credentials::Basic { username, password }) => Some(format!(
                        "Basic {}",
                        STANDARD.encode(format!("{username}:{password}"))
                    )),
                    _ => None,
                });
            }
            Some(Challenge::Bearer { realm, service, .. }) => (realm, service),
        };
        let scope = access.scope(repository);
        let cached = if fresh {
            None
        } else {
            self.tokens
                .lock()
                .expect("token cache")
                .get(&scope)
                .cloned()
        };
        if let Some(token) = cached {
            return Ok(Some(format!("Bearer {token}")));
        }
        let token = self
            .retried(|| self.fetch_token(&realm, service.as_deref(), &scope))
            .await?;
        self.tokens
            .lock()
            .expect("token cache")
            .insert(scope, token.clone());
        Ok(Some(format!("Bearer {token}")))
    }

    /// A bearer token from the realm: an identity token is exchanged (OAuth2 refresh grant),
    /// basic credentials are sent as such, none asks for anonymous access.
    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> std::result::Result<String, Failure> {
        let mut url = reqwest::Url::parse(realm).map_err(|_| {
            Failure::Other(format!(
                "registry {} named a token server that is not a URL",
                self.registry
            ))
        })?;
        let request = match &self.credentials {
            Some(Credentials::IdentityToken(token)) => {
                let form = form_encode(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token),
                    ("service", service.unwrap_or_default()),
                    ("scope", scope),
                    ("client_id", "cargo-sdkimage"),
                ]);
                self.http
                    .post(url)
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(form)
            }
            basic => {
                {
                    let mut query = url.query_pairs_mut();
                    if let Some(service) = service {
                        query.append_pair("service", service);
                    }
                    query.append_pair("scope", scope);
                }
                let request = self.http.get(url);
                match basic {
                    Some(Credentials::Basic { username, password }) => {
                        request.basic_auth(username, Some(password))
                    }
                    _ => request,
                }
            }
        };
        let response = request.send().await.map_err(|e| send_failure(&e))?;
        match response.status() {
            s if s.is_success() => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                let repository = scope.split(':').nth(1).unwrap_or(scope);
                let access = if scope.ends_with("push") {
                    Access::Push
                } else {
                    Access::Pull
                };
                return Err(Failure::Denied(self.denied(repository, access)));
            }
            s => return Err(status_failure(s, "from the token server")),
        }
        let body: serde_json::Value = response.json().await.map_err(|_| {
            Failure::Other(format!(
                "the token server of {} answered something that is not JSON",
                self.registry
            ))
        })?;
        body.get("token")
            .or_else(|| body.get("access_token"))
            .and_then(|t| t.as_str())
            .map(String::from)
            .ok_or_else(|| {
                Failure::Other(format!(
                    "the token server of {} sent no token",
                    self.registry
                ))
            })
    }

    fn error(&self, failure: Failure, what: &str) -> Error {
        match failure {
            Failure::Connection(m) | Failure::Unreachable(m) => Error::Unreachable(format!(
                "cannot reach the registry {} at {} (tried {} times): {m}",
                self.registry, self.base, self.retry.attempts
            )),
            Failure::Denied(m) => Error::Failed(m),
            other => other.into_error(&format!("{what} on {}", self.registry)),
        }
    }
}

/// Parse a `WWW-Authenticate` header: `Bearer realm="..",service="..",scope=".."` or `Basic realm=".."`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header
        .split_once(char::is_whitespace)
        .unwrap_or((header, ""));
    let params = parse_params(rest);
    let get = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.clone())
    };
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic {
            realm: get("realm").unwrap_or_default(),
        }),
        "bearer" => Some(Challenge::Bearer {
            realm: get("realm")?,
            service: get("service"),
            scope: get("scope"),
        }),
        _ => None,
    }
}

/// `k="v", k2=token, ...`; quoted values may hold commas and `\"`.
fn parse_params(text: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace() || *c == ',').is_some() {}
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        if chars.next_if_eq(&'=').is_none() {
            return params;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => value.extend(chars.next()),
                    c => value.push(c),
                }
            }
        } else {
            value.extend(std::iter::from_fn(|| chars.next_if(|c| *c != ',')));
        }
        params.push((key.trim().to_string(), value.trim().to_string()));
    }
}

fn header_digest(headers: &HeaderMap) -> Option<String> {
    headers
        .get(DIGEST_HEADER)?
        .to_str()
        .ok()
        .map(|d| d.trim().to_string())
        .filter(|d| !d.is_empty())
}

pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Why fetched bytes are not the manifest asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("the manifest's content hashes to {computed}, not to {digest}")]
    Hash { computed: String, digest: String },
    #[error("asked for {asked}, got {digest}")]
    OtherDigest { asked: String, digest: String },
    #[error("the manifest's media type is unknown")]
    MediaType,
}

/// The fetched bytes as a [`RegistryManifest`], its digest checked when asked for by digest.
fn manifest_from(
    headers: &HeaderMap,
    bytes: Bytes,
    reference: &str,
) -> std::result::Result<RegistryManifest, ManifestError> {
    let computed = sha256_digest(&bytes);
    let digest = header_digest(headers).unwrap_or_else(|| computed.clone());
    if digest.starts_with("sha256:") && digest != computed {
        return Err(ManifestError::Hash { computed, digest });
    }
    if reference.contains(':') && reference != digest {
        return Err(ManifestError::OtherDigest {
            asked: reference.to_string(),
            digest,
        });
    }
    let media_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_string())
        .filter(|t| MANIFEST_TYPES.contains(&t.as_str()))
        .or_else(|| {
            let json: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
            json.get("mediaType")?.as_str().map(String::from)
        })
        .ok_or(ManifestError::MediaType)?;
    Ok(RegistryManifest {
        bytes,
        media_type,
        digest,
    })
}

fn send_failure(e: &reqwest::Error) -> Failure {
    if e.is_builder() {
        Failure::Other(crate::error::chain(e))
    } else {
        Failure::Connection(crate::error::chain(e))
    }
}

fn status_failure(status: StatusCode, detail: &str) -> Failure {
    let message = format!("HTTP {status} {detail}").trim_end().to_string();
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        Failure::Busy(message)
    } else {
        Failure::Other(message)
    }
}

/// The registry's `{"errors": [{"code", "message"}]}` on one line.
fn error_detail(body: String) -> String {
    let parsed: Option<Vec<String>> = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            let errors = v.get("errors")?.as_array()?;
            Some(
                errors
                    .iter()
                    .map(|e| {
                        let field = |k: &str| e.get(k).and_then(|x| x.as_str()).unwrap_or_default();
                        format!("{}: {}", field("code"), field("message"))
                    })
                    .collect(),
            )
        });
    match parsed {
        Some(errors) => errors.join("; "),
        None => body
            .chars()
            .take(200)
            .collect::<String>()
            .trim()
            .to_string(),
    }
}

/// `application/x-www-form-urlencoded`.
fn form_encode(pairs: &[(&str, &str)]) -> String {
    let encode = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_string(),
                b => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

mod blobs;
pub use blobs::{BlobSource, Upload};
mod chunked;
pub use chunked::UploadPolicy;
mod read_blob;

#[cfg(test)]
pub(crate) mod tests;
