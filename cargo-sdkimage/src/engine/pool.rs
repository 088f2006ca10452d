//! Several engines as one pool: each named by `--engine` or the workspace's `engines` (a
//! `DOCKER_HOST`-style URL or a docker context name), with the platforms it builds natively
//! besides its own and how many builds it takes at once. None named: the one engine the
//! environment names, as always.

use std::sync::Arc;

use serde::Deserialize;

use super::{Engine, EngineApi, host};
use crate::error::{Error, Result};
use crate::reference::Platform;

/// One engine of the pool as the user names it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EngineSpec {
    /// The `--engine` value or the workspace's `host`: a URL or a docker context name. Events
    /// and the metadata file name the engine by it.
    pub host: String,
    /// Platforms it builds without emulation besides its own (`platforms = [...]`).
    pub platforms: Vec<Platform>,
    /// Builds at once on it (`jobs`); `None`: `-j`.
    pub jobs: Option<usize>,
}

/// The workspace's `{ host = "...", platforms = [...], jobs = N }` form of an engine.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEngineTable {
    pub host: toml::Spanned<String>,
    #[serde(default)]
    pub platforms: Vec<toml::Spanned<String>>,
    pub jobs: Option<toml::Spanned<i64>>,
}

/// One entry of the workspace's `engines`: a string (the host) or a table.
pub(crate) enum RawEngine {
    Host(String),
    Table(RawEngineTable),
}

impl<'de> Deserialize<'de> for RawEngine {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawEngine;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "an engine: a URL or docker context name, or { host = \"...\", platforms = [...], jobs = N }",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<RawEngine, E> {
                Ok(RawEngine::Host(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<RawEngine, A::Error> {
                RawEngineTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawEngine::Table)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Why an engine value (`--engine`, an `engines` entry's `host`) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineValueError {
    #[error(
        "an engine is a URL (unix://, tcp://, ssh://) or a docker context name, not an empty string"
    )]
    Empty,
    #[error(
        "engine `{value}`: the scheme {scheme}:// is not supported; use unix://, tcp:// (TLS from DOCKER_TLS_VERIFY and DOCKER_CERT_PATH), ssh:// or a docker context name"
    )]
    Scheme { value: String, scheme: String },
}

/// Check one value as `--engine` or `host` takes it; `Err` says what is wrong.
pub fn check_host(value: &str) -> std::result::Result<(), EngineValueError> {
    if value.trim().is_empty() {
        return Err(EngineValueError::Empty);
    }
    if let Some((scheme, _)) = value.split_once("://")
        && !["unix", "tcp", "ssh", "http", "https"].contains(&scheme)
    {
        return Err(EngineValueError::Scheme {
            value: value.to_string(),
            scheme: scheme.to_string(),
        });
    }
    Ok(())
}

/// One connected engine of the pool.
#[derive(Clone)]
pub struct Member {
    /// How the user named it (`--engine` value or context name); `None` named: `default`.
    pub name: String,
    pub api: Arc<dyn EngineApi>,
    /// Its own platform.
    pub native: Platform,
    /// Platforms it builds without emulation: its own and the declared ones.
    pub platforms: Vec<Platform>,
    /// Builds at once.
    pub jobs: usize,
}

impl Member {
    /// Whether it builds `platform` without emulation.
    pub fn builds_natively(&self, platform: &Platform) -> bool {
        let same = |p: &Platform| p.os == platform.os && p.arch == platform.arch;
        same(&self.native) || self.platforms.iter().any(same)
    }
}

/// The pool a run starts with: the engines that answered, and a note for each that did not.
pub struct Connected {
    pub members: Vec<Member>,
    /// `(name, why)` of each engine that did not answer (`keep_going` only).
    pub missing: Vec<(String, String)>,
}

/// Connect to every engine of `specs` (none: the environment's, named `default`). An engine
/// that does not answer is exit 3 naming it; with `keep_going` the others are used and it is
/// listed in `missing` (all missing is still exit 3).
/// A connection to the environment's engine started before the workspace is loaded
/// ([`connect_early`]).
pub type EarlyEngine = tokio::task::JoinHandle<Result<Engine>>;

/// Start connecting to the environment's engine (`DOCKER_HOST`, the context, the default
/// socket) now, beside loading the workspace; [`connect`] uses it when the run names no engines.
pub fn connect_early() -> EarlyEngine {
    tokio::spawn(Engine::connect())
}

/// `early`: a connection to the environment's engine already under way (started while the
/// workspace loaded), used when `specs` is empty.
pub async fn connect(
    specs: &[EngineSpec],
    jobs: usize,
    keep_going: bool,
    early: Option<EarlyEngine>,
) -> Result<Connected> {
    if specs.is_empty() {
        let engine = match early {
            Some(early) => match early.await {
                Ok(connected) => connected?,
                // The task was cancelled or panicked: connect now.
                Err(_) => Engine::connect().await?,
            },
            None => Engine::connect().await?,
        };
        let native = native_of(&engine).await?;
        return Ok(Connected {
            members: vec![Member {
                name: "default".into(),
                api: Arc::new(engine),
                platforms: vec![native.clone()],
                native,
                jobs,
            }],
            missing: Vec::new(),
        });
    }
    let env = |k: &str| std::env::var(k).ok();
    let tries = specs.iter().map(|spec| async {
        let host = host::resolve_value(&spec.host, "engine", &env)
            .map_err(|e| Error::Usage(e.to_string()))?;
        let engine = Engine::connect_to(host).await?;
        let native = native_of(&engine).await?;
        let mut platforms = vec![native.clone()];
        platforms.extend(spec.platforms.iter().cloned());
        Ok::<_, Error>(Member {
            name: spec.host.clone(),
            api: Arc::new(engine) as Arc<dyn EngineApi>,
            native,
            platforms,
            jobs: spec.jobs.unwrap_or(jobs).max(1),
        })
    });
    let answers = futures_util::future::join_all(tries).await;
    let mut members = Vec::new();
    let mut missing = Vec::new();
    for (spec, answer) in specs.iter().zip(answers) {
        match answer {
            Ok(member) => members.push(member),
            Err(Error::Unreachable(why)) if keep_going => missing.push((spec.host.clone(), why)),
            Err(Error::Unreachable(why)) => {
                return Err(Error::Unreachable(format!(
                    "engine {} does not answer: {why} (--keep-going builds on the engines that answer)",
                    spec.host
                )));
            }
            Err(e) => return Err(e),
        }
    }
    if members.is_empty() {
        let names: Vec<&str> = missing.iter().map(|(n, _)| n.as_str()).collect();
        return Err(Error::Unreachable(format!(
            "no engine answers ({}): {}",
            names.join(", "),
            missing.first().map(|(_, w)| w.as_str()).unwrap_or_default()
        )));
    }
    Ok(Connected { members, missing })
}

async fn native_of(engine: &dyn EngineApi) -> Result<Platform> {
    let own = engine.platform().await?;
    Ok(Platform::parse(&own).unwrap_or(Platform {
        os: "linux".into(),
        arch: "amd64".into(),
        variant: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Doc {
        engines: Vec<toml::Spanned<RawEngine>>,
    }

    #[test]
    fn engines_are_strings_or_tables() {
        let doc: Doc = toml::from_str(
            r#"engines = ["unix:///a.sock", { host = "ssh://arm", platforms = ["linux/arm64"], jobs = 4 }]"#,
        )
        .unwrap();
        assert!(matches!(doc.engines[0].get_ref(), RawEngine::Host(h) if h == "unix:///a.sock"));
        let RawEngine::Table(t) = doc.engines[1].get_ref() else {
            panic!("a table")
        };
        assert_eq!(t.host.get_ref(), "ssh://arm");
        assert_eq!(t.jobs.as_ref().map(|j| *j.get_ref()), Some(4));
        let e = toml::from_str::<Doc>(r#"engines = [{ host = "x", cpus = 2 }]"#)
            .err()
            .unwrap();
        assert!(e.to_string().contains("cpus"), "{e}");
    }

    #[test]
    fn hosts_are_checked() {
        assert!(check_host("tcp://10.0.0.2:2376").is_ok());
        assert!(check_host("arm-builder").is_ok());
        assert!(
            check_host("npipe:////./pipe/docker")
                .unwrap_err()
                .to_string()
                .contains("npipe://")
        );
        assert!(check_host(" ").is_err());
    }
}
