//! Where the docker CLI keeps its configuration. Both the engine (contexts, TLS material) and
//! the registries (credentials) read from there. Also the plain data both sides exchange
//! through the engine: credentials ([`RegistryAuth`]) and the engine's registry settings
//! ([`EngineRegistryConfig`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

/// The docker CLI's config folder: `DOCKER_CONFIG`, else `~/.docker`.
pub fn docker_config_dir(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    match env("DOCKER_CONFIG").filter(|s| !s.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => home::home_dir().unwrap_or_default().join(".docker"),
    }
}

/// One registry's credentials in the form the engine takes them (`X-Registry-Auth` for a push,
/// one entry of a build's `X-Registry-Config`): the docker CLI's `AuthConfig`, reduced to the
/// fields we fill. The engine converts it to its client's type; secrets are redacted in `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RegistryAuth {
    /// The config key or registry host the credentials are for.
    pub serveraddress: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// An OAuth2 refresh token.
    pub identitytoken: Option<String>,
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("RegistryAuth")
            .field("serveraddress", &self.serveraddress)
            .field("username", &self.username)
            .field("password", &redacted(&self.password))
            .field("identitytoken", &redacted(&self.identitytoken))
            .finish()
    }
}

/// The engine's registry settings (`/info` `RegistryConfig`), as plain data: what decides which
/// registries are spoken to over plain HTTP.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineRegistryConfig {
    /// `InsecureRegistryCIDRs`; `None` when the engine reports none (then the daemon's default,
    /// loopback, applies).
    pub insecure_cidrs: Option<Vec<String>>,
    /// `IndexConfigs[host].Secure`, for the hosts that state it.
    pub index_secure: BTreeMap<String, bool>,
}
