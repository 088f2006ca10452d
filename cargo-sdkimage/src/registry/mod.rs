//! Talking to registries: credentials from the Docker config, the Registry HTTP API v2 client,
//! the insecure (plain HTTP) decision, and retries of transient failures.

pub mod client;
pub mod credentials;
pub mod insecure;
#[cfg(test)]
pub(crate) mod testutil;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use client::{RegistryClient, RegistryManifest};
pub use credentials::{Credentials, DockerConfig};
pub use insecure::InsecureRegistries;

use crate::dockerconfig::EngineRegistryConfig;
use crate::error::{Error, Result};

/// How transient failures are retried: `attempts` tries in all, waiting `first_delay`, then
/// twice as long each time, at most `max_delay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            first_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (0-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt).unwrap_or(u32::MAX);
        self.first_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// Run `op` until it succeeds, fails permanently, or the attempts are used up.
    pub async fn run<T, F, Fut>(&self, mut op: F) -> std::result::Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, Failure>>,
    {
        let mut attempt = 0;
        loop {
            match op().await {
                Err(e) if e.is_transient() && attempt + 1 < self.attempts.max(1) => {
                    tokio::time::sleep(self.delay(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// Why one request to a registry (or one push through the engine) failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No connection, or it broke or timed out: retried, then the registry is unreachable.
    Connection(String),
    /// The registry's retry budget for connections was already spent in this run: never
    /// retried, the registry is unreachable.
    Unreachable(String),
    /// 429 or 5xx: retried, then a failure.
    Busy(String),
    /// 401/403: never retried.
    Denied(String),
    /// 404: never retried.
    NotFound(String),
    Other(String),
}

impl Failure {
    pub fn is_transient(&self) -> bool {
        matches!(self, Failure::Connection(_) | Failure::Busy(_))
    }

    pub fn message(&self) -> &str {
        match self {
            Failure::Connection(m)
            | Failure::Unreachable(m)
            | Failure::Busy(m)
            | Failure::Denied(m)
            | Failure::NotFound(m)
            | Failure::Other(m) => m,
        }
    }

    /// Into the library's error: unreachable -> exit 3, everything else -> exit 1.
    pub fn into_error(self, context: &str) -> Error {
        match self {
            Failure::Connection(m) | Failure::Unreachable(m) => {
                Error::Unreachable(format!("{context}: {m}"))
            }
            other => Error::Failed(format!("{context}: {}", other.message())),
        }
    }

    /// Classify the error text the engine reports for a push.
    pub fn from_engine_message(message: &str) -> Failure {
        const CONNECTION: &[&str] = &[
            "connection refused",
            "connection reset",
            "no such host",
            "i/o timeout",
            "handshake timeout",
            "network is unreachable",
            "broken pipe",
            "unexpected EOF",
            ": EOF",
            "server misbehaving",
            "Client.Timeout exceeded",
            "context deadline exceeded",
            "TLS handshake timeout",
        ];
        const BUSY: &[&str] = &[
            "toomanyrequests",
            "429 Too Many Requests",
            "500 Internal Server Error",
            "502 Bad Gateway",
            "503 Service Unavailable",
            "504 Gateway Timeout",
        ];
        const DENIED: &[&str] = &[
            "no basic auth credentials",
            "unauthorized",
            "denied",
            "authentication required",
            "403 Forbidden",
        ];
        let has = |needles: &[&str]| needles.iter().any(|n| message.contains(n));
        let m = message.to_string();
        if has(CONNECTION) {
            Failure::Connection(m)
        } else if has(BUSY) {
            Failure::Busy(m)
        } else if has(DENIED) {
            Failure::Denied(m)
        } else {
            Failure::Other(m)
        }
    }
}

/// Everything needed to reach registries: the Docker config, the engine's insecure registries,
/// the retry policy, and one client per registry (sharing tokens across requests).
pub struct Registries {
    config: DockerConfig,
    insecure: InsecureRegistries,
    retry: RetryPolicy,
    credentials: Mutex<HashMap<String, Option<Credentials>>>,
    clients: tokio::sync::Mutex<HashMap<String, Arc<RegistryClient>>>,
}

impl Registries {
    pub fn new(config: DockerConfig, insecure: InsecureRegistries) -> Registries {
        Registries {
            config,
            insecure,
            retry: RetryPolicy::default(),
            credentials: Mutex::default(),
            clients: tokio::sync::Mutex::default(),
        }
    }

    /// The Docker config from the environment; as insecure registries the daemon's defaults
    /// (loopback) until [`Registries::with_insecure`] hands in the engine's.
    pub fn from_env() -> Result<Registries> {
        let config = DockerConfig::from_env()?;
        Ok(Registries::new(config, InsecureRegistries::default()))
    }

    /// Speak plain HTTP to the registries the engine does: `engine_config` is its `/info`
    /// `RegistryConfig`.
    pub fn with_insecure(mut self, engine_config: &EngineRegistryConfig) -> Registries {
        self.insecure = InsecureRegistries::from_engine_config(engine_config);
        self
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Registries {
        self.retry = retry;
        self
    }

    pub fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    /// The credentials for `registry` (looked up once; helpers run off the async threads).
    pub async fn credentials(&self, registry: &str) -> Result<Option<Credentials>> {
        if let Some(found) = self
            .credentials
            .lock()
            .expect("credentials cache")
            .get(registry)
        {
            return Ok(found.clone());
        }
        let config = self.config.clone();
        let host = registry.to_string();
        let found = tokio::task::spawn_blocking(move || config.lookup(&host))
            .await
            .map_err(|e| {
                Error::Failed(format!("credential lookup for {registry} stopped: {e}"))
            })??;
        self.credentials
            .lock()
            .expect("credentials cache")
            .insert(registry.to_string(), found.clone());
        Ok(found)
    }

    /// A client for `registry` that sends no credentials: what anyone may pull.
    pub async fn anonymous_client(&self, registry: &str) -> Result<RegistryClient> {
        let insecure = self.insecure.is_insecure(registry).await;
        RegistryClient::new(registry, insecure, None, self.retry)
    }

    /// The API client for `registry` (as in image references: `host[:port]`, `docker.io`).
    pub async fn client(&self, registry: &str) -> Result<Arc<RegistryClient>> {
        let mut clients = self.clients.lock().await;
        if let Some(client) = clients.get(registry) {
            return Ok(client.clone());
        }
        let insecure = self.insecure.is_insecure(registry).await;
        let credentials = self.credentials(registry).await?;
        let client = Arc::new(RegistryClient::new(
            registry,
            insecure,
            credentials,
            self.retry,
        )?);
        clients.insert(registry.to_string(), client.clone());
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_and_are_capped() {
        let p = RetryPolicy::default();
        let ms: Vec<u128> = (0..7).map(|i| p.delay(i).as_millis()).collect();
        assert_eq!(ms, [200, 400, 800, 1600, 3200, 5000, 5000]);
        assert_eq!(p.delay(40), p.max_delay);
    }

    #[test]
    fn engine_messages_are_classified() {
        let c = Failure::from_engine_message;
        assert!(matches!(
            c(
                r#"Get "http://localhost:5150/v2/": dial tcp 127.0.0.1:5150: connect: connection refused"#
            ),
            Failure::Connection(_)
        ));
        assert!(matches!(
            c("received unexpected HTTP status: 503 Service Unavailable"),
            Failure::Busy(_)
        ));
        assert!(matches!(c("toomanyrequests: slow down"), Failure::Busy(_)));
        assert!(matches!(c("no basic auth credentials"), Failure::Denied(_)));
        assert!(matches!(
            c("unauthorized: authentication required"),
            Failure::Denied(_)
        ));
        assert!(matches!(
            c("denied: requested access to the resource is denied"),
            Failure::Denied(_)
        ));
        assert!(matches!(c("manifest invalid"), Failure::Other(_)));
    }

    #[test]
    fn only_connection_and_busy_are_transient() {
        assert!(Failure::Connection(String::new()).is_transient());
        assert!(Failure::Busy(String::new()).is_transient());
        assert!(!Failure::Denied(String::new()).is_transient());
        assert!(!Failure::NotFound(String::new()).is_transient());
        assert!(!Failure::Other(String::new()).is_transient());
        assert!(!Failure::Unreachable(String::new()).is_transient());
        assert_eq!(
            Failure::Unreachable("x".into()).into_error("r").exit_code(),
            3
        );
        assert_eq!(
            Failure::Connection("x".into()).into_error("r").exit_code(),
            3
        );
        assert_eq!(Failure::Busy("x".into()).into_error("r").exit_code(), 1);
        assert_eq!(Failure::Denied("x".into()).into_error("r").exit_code(), 1);
    }

    #[tokio::test]
    async fn retries_transient_failures_only() {
        let fast = RetryPolicy {
            attempts: 4,
            first_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        };
        let mut calls = 0;
        let r: std::result::Result<(), _> = fast
            .run(|| {
                calls += 1;
                async { Err(Failure::Busy("503".into())) }
            })
            .await;
        assert!(r.is_err());
        assert_eq!(calls, 4);
        calls = 0;
        let r: std::result::Result<(), _> = fast
            .run(|| {
                calls += 1;
                async { Err(Failure::Denied("401".into())) }
            })
            .await;
        assert!(matches!(r, Err(Failure::Denied(_))));
        assert_eq!(calls, 1);
        calls = 0;
        let r = fast
            .run(|| {
                calls += 1;
                let n = calls;
                async move {
                    if n < 3 {
                        Err(Failure::Connection("refused".into()))
                    } else {
                        Ok(n)
                    }
                }
            })
            .await;
        assert_eq!(r, Ok(3));
    }
}
