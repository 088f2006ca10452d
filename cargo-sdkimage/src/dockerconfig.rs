//! Where the docker CLI keeps its configuration. Both the engine (contexts, TLS material) and
//! the registries (credentials) read from there.

use std::path::PathBuf;

/// The docker CLI's config folder: `DOCKER_CONFIG`, else `~/.docker`.
pub fn docker_config_dir(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    match env("DOCKER_CONFIG").filter(|s| !s.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => home::home_dir().unwrap_or_default().join(".docker"),
    }
}
