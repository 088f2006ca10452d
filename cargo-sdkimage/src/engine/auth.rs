//! Our plain registry data (from `dockerconfig`) in bollard's types and back: credentials for
//! pushes and builds, and the engine's registry settings.

use std::collections::HashMap;

use bollard::auth::DockerCredentials;
use bollard::models::RegistryServiceConfig;

use crate::dockerconfig::{EngineRegistryConfig, RegistryAuth};

/// One registry's credentials as bollard sends them.
pub(super) fn to_bollard(auth: RegistryAuth) -> DockerCredentials {
    let RegistryAuth {
        serveraddress,
        username,
        password,
        identitytoken,
    } = auth;
    DockerCredentials {
        serveraddress,
        username,
        password,
        identitytoken,
        ..Default::default()
    }
}

/// A build's credentials (`X-Registry-Config`), by registry address.
pub(super) fn to_bollard_map(
    auths: HashMap<String, RegistryAuth>,
) -> HashMap<String, DockerCredentials> {
    auths
        .into_iter()
        .map(|(key, auth)| (key, to_bollard(auth)))
        .collect()
}

/// The engine's `/info` `RegistryConfig` as plain data: the CIDRs as reported (none stays
/// none), and the index configs that state whether they are secure.
pub(super) fn registry_config(config: RegistryServiceConfig) -> EngineRegistryConfig {
    EngineRegistryConfig {
        insecure_cidrs: config.insecure_registry_cidrs,
        index_secure: config
            .index_configs
            .into_iter()
            .flatten()
            .filter_map(|(name, info)| Some((name, info.secure?)))
            .collect(),
    }
}

/// The build credentials as a BuildKit session hands them out: registry host ->
/// (username, password or identity token).
pub fn registry_auths(credentials: &super::BuildCredentials) -> super::session::RegistryAuths {
    credentials
        .iter()
        .filter_map(|(server, c)| {
            let host = server
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .split('/')
                .next()
                .unwrap_or(server)
                .to_string();
            let secret = c
                .identitytoken
                .clone()
                .filter(|t| !t.is_empty())
                .or_else(|| c.password.clone())?;
            Some((host, (c.username.clone().unwrap_or_default(), secret)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use bollard::models::IndexInfo;

    use super::*;

    #[test]
    fn credentials_keep_every_field() {
        let auth = RegistryAuth {
            serveraddress: Some("localhost:5000".into()),
            username: Some("u".into()),
            password: Some("p".into()),
            identitytoken: Some("t".into()),
        };
        let docker = to_bollard(auth);
        assert_eq!(docker.serveraddress.as_deref(), Some("localhost:5000"));
        assert_eq!(docker.username.as_deref(), Some("u"));
        assert_eq!(docker.password.as_deref(), Some("p"));
        assert_eq!(docker.identitytoken.as_deref(), Some("t"));
        assert_eq!(
            (docker.auth, docker.email, docker.registrytoken),
            (None, None, None)
        );
    }

    #[test]
    fn registry_config_keeps_stated_security_only() {
        let info = |secure| IndexInfo {
            secure,
            ..Default::default()
        };
        let config = RegistryServiceConfig {
            insecure_registry_cidrs: Some(vec!["10.0.0.0/8".into()]),
            index_configs: Some(HashMap::from([
                ("docker.io".to_string(), info(Some(true))),
                ("myreg:5000".to_string(), info(Some(false))),
                ("unstated:1".to_string(), info(None)),
            ])),
            ..Default::default()
        };
        assert_eq!(
            registry_config(config),
            EngineRegistryConfig {
                insecure_cidrs: Some(vec!["10.0.0.0/8".into()]),
                index_secure: BTreeMap::from([
                    ("docker.io".to_string(), true),
                    ("myreg:5000".to_string(), false),
                ]),
            }
        );
        assert_eq!(
            registry_config(RegistryServiceConfig::default()),
            EngineRegistryConfig::default(),
            "no CIDRs reported stays None (the daemon's loopback default)"
        );
    }
}
