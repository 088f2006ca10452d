//! `sdkimage-workspace.toml`: the workspace of a repository that is not a Cargo workspace (as
//! cargo-dist's `dist-workspace.toml`). It holds the keys of `[workspace.metadata.sdkimage]`
//! (the same [`RawConfig`]) plus `version`, and is found like cargo finds its workspace: from
//! the current folder upwards.

use std::path::{Path, PathBuf};

use super::RawConfig;
use crate::error::Result;

/// The file's name.
pub const WORKSPACE_FILE: &str = "sdkimage-workspace.toml";

/// The workspace file of the nearest folder at or above `start` that has one.
pub fn find_up(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(WORKSPACE_FILE))
        .find(|file| file.exists())
}

/// Whether a Cargo workspace nested below the folder of `file` holds `cwd`: it is then the
/// workspace (as cargo's nearest one is), just as discovery from `file`'s folder skips it.
pub(super) fn cargo_nearer(cwd: &Path, file: &Path, cargo: super::CargoFlags) -> bool {
    let Some(top) = file.parent() else {
        return false;
    };
    let below = |dir: &Path| dir != top && dir.starts_with(top);
    // Only when a Cargo.toml lies between: most runs of a Beam-like repo never ask cargo.
    if !cwd
        .ancestors()
        .take_while(|d| below(d))
        .any(|d| d.join("Cargo.toml").is_file())
    {
        return false;
    }
    let top = top.canonicalize().unwrap_or_else(|_| top.to_path_buf());
    super::cargo_facts(None, cargo)
        .ok()
        .and_then(|m| m.root.canonicalize().ok())
        .is_some_and(|root| root != top && root.starts_with(&top))
}

/// The file's settings, checked against the keys we know (at `file:line:col`), and the keys
/// it sets, sorted.
pub(super) fn parse(file: &Path, text: &str) -> Result<(RawConfig, Vec<String>)> {
    let raw: RawConfig =
        toml::from_str(text).map_err(|e| crate::diag::toml_diag(file, text, &e))?;
    let keys = toml::from_str::<toml::Table>(text)
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default();
    Ok((raw, keys))
}

/// The keys a root `Cargo.toml` sets in `[workspace.metadata.sdkimage]`.
pub(super) fn cargo_keys(text: &str) -> Vec<String> {
    let Ok(table) = toml::from_str::<toml::Table>(text) else {
        return Vec::new();
    };
    table
        .get("workspace")
        .and_then(|w| w.get("metadata"))
        .and_then(|m| m.get("sdkimage"))
        .and_then(toml::Value::as_table)
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_from_a_folder_below() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("sdks/python/container");
        std::fs::create_dir_all(&deep).unwrap();
        assert!(find_up(&deep).is_none_or(|f| !f.starts_with(dir.path())));
        std::fs::write(dir.path().join(WORKSPACE_FILE), "").unwrap();
        assert_eq!(find_up(&deep), Some(dir.path().join(WORKSPACE_FILE)));
        // The nearest wins.
        std::fs::write(dir.path().join("sdks").join(WORKSPACE_FILE), "").unwrap();
        assert_eq!(
            find_up(&deep),
            Some(dir.path().join("sdks").join(WORKSPACE_FILE))
        );
    }

    #[test]
    fn keys_and_unknown_keys() {
        let file = Path::new("/r/sdkimage-workspace.toml");
        let (raw, keys) =
            parse(file, "version = \"1.2.3\"\nrepository-root = \"apache\"\n").unwrap();
        assert_eq!(keys, ["repository-root", "version"]);
        assert_eq!(
            raw.version.map(|v| v.into_inner()).as_deref(),
            Some("1.2.3")
        );
        let err = parse(file, "version = \"1\"\nrepo-root = \"x\"\n")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("sdkimage-workspace.toml:2:1"), "{err}");
        assert!(err.contains("repo-root"), "{err}");
        assert_eq!(
            cargo_keys("[workspace.metadata.sdkimage]\ntags = [\"a\"]\n"),
            ["tags"]
        );
        assert!(cargo_keys("[workspace]\nmembers = []\n").is_empty());
    }
}
