//! Which engine to talk to, found the way the docker CLI finds it: `DOCKER_HOST` (with
//! `DOCKER_TLS_VERIFY`/`DOCKER_CERT_PATH`), else `DOCKER_CONTEXT`, else the config's
//! `currentContext`, else the default socket.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::dockerconfig::docker_config_dir;

pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// TLS material for a tcp endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The engine address and where it came from (for error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineHost {
    pub host: String,
    pub tls: Option<TlsFiles>,
    pub source: String,
}

/// The engine address schemes we can speak.
const SCHEMES: &[&str] = &["unix://", "tcp://", "http://", "https://", "ssh://"];

/// Why the engine's address could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error(
        "the engine address `{host}` (from {from}) is not supported: use unix://, tcp:// or ssh://"
    )]
    Unsupported { host: String, from: String },
    #[error(
        "docker context `{name}` cannot be read ({}: {error}); list contexts with `docker context ls`",
        path.display()
    )]
    ContextUnreadable {
        name: String,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("docker context `{name}`: {} is not valid JSON: {error}", path.display())]
    ContextNotJson {
        name: String,
        path: PathBuf,
        error: serde_json::Error,
    },
    #[error("docker context `{name}` has no docker endpoint host in {}", path.display())]
    ContextWithoutHost { name: String, path: PathBuf },
}

pub fn resolve(env: &dyn Fn(&str) -> Option<String>) -> Result<EngineHost, HostError> {
    checked(resolve_unchecked(env)?)
}

fn checked(host: EngineHost) -> Result<EngineHost, HostError> {
    if !SCHEMES.iter().any(|s| host.host.starts_with(s)) {
        return Err(HostError::Unsupported {
            host: host.host,
            from: host.source,
        });
    }
    Ok(host)
}

/// One engine of a pool as `--engine` or the workspace's `engines` names it: a `DOCKER_HOST`
/// style URL (a `tcp://` one with `DOCKER_TLS_VERIFY`/`DOCKER_CERT_PATH` as for
/// `DOCKER_HOST`), or a docker context's name (`default`: the default socket).
pub fn resolve_value(
    value: &str,
    from: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<EngineHost, HostError> {
    let source = format!("{from} {value}");
    if value.contains("://") {
        let tls = (value.starts_with("tcp://") || value.starts_with("https://"))
            .then(|| tls_from_env(env))
            .flatten();
        return checked(EngineHost {
            host: value.to_string(),
            tls,
            source,
        });
    }
    if value == "default" {
        return Ok(EngineHost {
            host: DEFAULT_HOST.to_string(),
            tls: None,
            source,
        });
    }
    let (host, tls) = read_context(&docker_config_dir(env), value)?;
    checked(EngineHost {
        host,
        tls,
        source: format!("{from} {value} (docker context)"),
    })
}

fn tls_from_env(env: &dyn Fn(&str) -> Option<String>) -> Option<TlsFiles> {
    if !env("DOCKER_TLS_VERIFY").is_some_and(|v| !v.is_empty() && v != "0") {
        return None;
    }
    let dir = env("DOCKER_CERT_PATH")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| docker_config_dir(env));
    Some(TlsFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    })
}

fn resolve_unchecked(env: &dyn Fn(&str) -> Option<String>) -> Result<EngineHost, HostError> {
    if let Some(host) = env("DOCKER_HOST").filter(|h| !h.is_empty()) {
        let tls = tls_from_env(env);
        return Ok(EngineHost {
            host,
            tls,
            source: "DOCKER_HOST".to_string(),
        });
    }
    let config_dir = docker_config_dir(env);
    let (context, source) = match env("DOCKER_CONTEXT").filter(|c| !c.is_empty()) {
        Some(c) => (Some(c), "DOCKER_CONTEXT"),
        None => (current_context(&config_dir), "the current docker context"),
    };
    match context {
        Some(name) if name != "default" => {
            let (host, tls) = read_context(&config_dir, &name)?;
            Ok(EngineHost {
                host,
                tls,
                source: format!("docker context `{name}` ({source})"),
            })
        }
        _ => Ok(EngineHost {
            host: DEFAULT_HOST.to_string(),
            tls: None,
            source: "the default socket".to_string(),
        }),
    }
}

fn current_context(config_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(config_dir.join("config.json")).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value
        .get("currentContext")?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// `contexts/meta/<sha256(name)>/meta.json` -> `Endpoints.docker.Host`; TLS files beside it.
fn read_context(config_dir: &Path, name: &str) -> Result<(String, Option<TlsFiles>), HostError> {
    let id = hex::encode(Sha256::digest(name.as_bytes()));
    let meta_path = config_dir.join("contexts/meta").join(&id).join("meta.json");
    let text =
        std::fs::read_to_string(&meta_path).map_err(|error| HostError::ContextUnreadable {
            name: name.to_string(),
            path: meta_path.clone(),
            error,
        })?;
    let meta: serde_json::Value =
        serde_json::from_str(&text).map_err(|error| HostError::ContextNotJson {
            name: name.to_string(),
            path: meta_path.clone(),
            error,
        })?;
    let docker = &meta["Endpoints"]["docker"];
    let host = docker["Host"]
        .as_str()
        .ok_or_else(|| HostError::ContextWithoutHost {
            name: name.to_string(),
            path: meta_path.clone(),
        })?
        .to_string();
    let tls_dir = config_dir.join("contexts/tls").join(&id).join("docker");
    let tls = tls_dir.join("cert.pem").is_file().then(|| TlsFiles {
        ca: tls_dir.join("ca.pem"),
        cert: tls_dir.join("cert.pem"),
        key: tls_dir.join("key.pem"),
    });
    Ok((host, tls))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn docker_host_wins_with_tls() {
        let env = env_of(&[
            ("DOCKER_HOST", "tcp://h:2376"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", "/certs"),
            ("DOCKER_CONTEXT", "x"),
        ]);
        let h = resolve(&env).unwrap();
        assert_eq!(h.host, "tcp://h:2376");
        assert_eq!(h.tls.unwrap().ca, PathBuf::from("/certs/ca.pem"));
    }

    #[test]
    fn unsupported_schemes_are_named() {
        let e = resolve(&env_of(&[("DOCKER_HOST", "npipe:////./pipe/x")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`npipe:////./pipe/x` (from DOCKER_HOST) is not supported"),
            "{e}"
        );
        assert!(resolve(&env_of(&[("DOCKER_HOST", "ssh://me@host")])).is_ok());
    }

    #[test]
    fn engine_values_are_urls_or_contexts() {
        let env = env_of(&[("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CERT_PATH", "/c")]);
        let h = resolve_value("tcp://10.0.0.2:2376", "--engine", &env).unwrap();
        assert_eq!(h.tls.unwrap().cert, PathBuf::from("/c/cert.pem"));
        let h = resolve_value("unix:///tmp/e.sock", "--engine", &env).unwrap();
        assert!(h.tls.is_none() && h.source == "--engine unix:///tmp/e.sock");
        assert_eq!(
            resolve_value("default", "--engine", &env).unwrap().host,
            DEFAULT_HOST
        );
        let e = resolve_value("nope", "--engine", &env_of(&[("DOCKER_CONFIG", "/none")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("docker context `nope`"), "{e}");
    }

    #[test]
    fn context_from_env_and_from_config() {
        let dir = crate::manifest::tests::temp_tree("docker-ctx");
        let id = hex::encode(Sha256::digest(b"remote"));
        let meta = dir.join("contexts/meta").join(&id);
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            r#"{"Name":"remote","Endpoints":{"docker":{"Host":"unix:///tmp/other.sock"}}}"#,
        )
        .unwrap();
        let d = dir.display().to_string();
        let h = resolve(&env_of(&[
            ("DOCKER_CONFIG", &d),
            ("DOCKER_CONTEXT", "remote"),
        ]))
        .unwrap();
        assert_eq!(h.host, "unix:///tmp/other.sock");
        assert!(h.source.contains("DOCKER_CONTEXT"));
        std::fs::write(dir.join("config.json"), r#"{"currentContext":"remote"}"#).unwrap();
        let h = resolve(&env_of(&[("DOCKER_CONFIG", &d)])).unwrap();
        assert_eq!(h.host, "unix:///tmp/other.sock");
        let e = resolve(&env_of(&[
            ("DOCKER_CONFIG", &d),
            ("DOCKER_CONTEXT", "nope"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(e.contains("docker context `nope`"), "{e}");
        let h = resolve(&env_of(&[
            ("DOCKER_CONFIG", &d),
            ("DOCKER_CONTEXT", "default"),
        ]))
        .unwrap();
        assert_eq!(h.host, DEFAULT_HOST);
    }
}
