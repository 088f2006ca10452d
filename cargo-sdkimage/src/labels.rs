//! The labels every image gets: the OCI annotation keys filled in without asking (source,
//! revision, version, created, title, licenses), then the user's, from the workspace's
//! `[labels]`, a manifest's `[labels]` and `--label`, each winning over the one before.
//!
//! Labels go to the engine with the build request (both builders). All but the default
//! `revision` and `created` are inputs of the fingerprint: an image that is up to date keeps
//! the revision it was built from, which still describes its inputs, so a new commit (or a new
//! tag) alone rebuilds nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use toml::Spanned;

use crate::error::Diagnostic;
use crate::provenance::Provenance;

pub const SOURCE: &str = "org.opencontainers.image.source";
pub const REVISION: &str = "org.opencontainers.image.revision";
pub const VERSION: &str = "org.opencontainers.image.version";
pub const CREATED: &str = "org.opencontainers.image.created";
pub const TITLE: &str = "org.opencontainers.image.title";
pub const LICENSES: &str = "org.opencontainers.image.licenses";

/// What the workspace says about labels: `default-labels`, `[labels]` in
/// `[workspace.metadata.sdkimage]`, and the `[workspace.package]` keys the defaults use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSettings {
    /// `default-labels` (default `true`): whether the OCI labels are added.
    pub defaults: bool,
    /// `[labels]` of the workspace.
    pub labels: BTreeMap<String, String>,
    /// `[workspace.package] repository` (else the root package's): the source URL.
    pub repository: Option<String>,
    /// `[workspace.package] license` (else the root package's).
    pub license: Option<String>,
}

impl Default for LabelSettings {
    fn default() -> Self {
        LabelSettings {
            defaults: true,
            labels: BTreeMap::new(),
            repository: None,
            license: None,
        }
    }
}

/// Why a label (a `[labels]` entry or `--label`) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("a label needs a non-empty key")]
    EmptyKey,
    #[error(
        "label key {} holds {}; keys are names such as org.opencontainers.image.vendor (no spaces, `=` or control characters)",
        crate::error::quoted(key),
        crate::error::quoted(&character.to_string())
    )]
    Key { key: String, character: char },
    #[error(
        "label {}: the value holds the control character {}; label values must be printable text",
        crate::error::quoted(key),
        crate::error::quoted(&character.to_string())
    )]
    Value { key: String, character: char },
    #[error("`{0}` is not KEY=VALUE")]
    NotKeyValue(String),
}

/// A label key or value as written in a file or flag: `Err` says what is wrong with it.
pub fn check_label(key: &str, value: &str) -> std::result::Result<(), LabelError> {
    if key.is_empty() {
        return Err(LabelError::EmptyKey);
    }
    if let Some(c) = key
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || *c == '=')
    {
        return Err(LabelError::Key {
            key: key.to_string(),
            character: c,
        });
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(LabelError::Value {
            key: key.to_string(),
            character: c,
        });
    }
    Ok(())
}

/// `[labels]` of a TOML file (`file` with text `text`): every entry checked, problems into
/// `diags` at their place; the labels that are valid.
pub fn check_table(
    raw: BTreeMap<Spanned<String>, Spanned<String>>,
    file: &Path,
    text: &str,
    diags: &mut Vec<Diagnostic>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (key, value) in raw {
        match check_label(key.get_ref(), value.get_ref()) {
            Ok(()) => {
                out.insert(key.into_inner(), value.into_inner());
            }
            Err(e) => diags.push(Diagnostic::at(file, text, key.span().start, e.to_string())),
        }
    }
    out
}

/// `--label KEY=VALUE`.
pub fn parse_flag(text: &str) -> std::result::Result<(String, String), LabelError> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| LabelError::NotKeyValue(text.to_string()))?;
    check_label(key, value)?;
    Ok((key.to_string(), value.to_string()))
}

/// The labels of one image, and which of them are not fingerprint inputs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageLabels {
    pub labels: BTreeMap<String, String>,
    /// The default `revision` and `created` (when no user label replaced them).
    volatile: BTreeSet<&'static str>,
}

impl ImageLabels {
    /// The labels that count in the fingerprint: all but the default revision and created.
    pub fn fingerprinted(&self) -> BTreeMap<String, String> {
        self.labels
            .iter()
            .filter(|(k, _)| !self.volatile.contains(k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// What the default labels of an image are made of.
#[derive(Debug, Clone, Copy)]
pub struct Defaults<'a> {
    pub provenance: &'a Provenance,
    /// The workspace version (`{version}`).
    pub version: Option<&'a str>,
    /// The image name.
    pub title: &'a str,
}

/// Merge the labels of an image: the defaults (when `defaults` is given), then the workspace's
/// `[labels]`, the manifest's `[labels]` and `--label`, each winning over the one before.
pub fn merge(
    settings: &LabelSettings,
    defaults: Option<Defaults<'_>>,
    manifest: &BTreeMap<String, String>,
    cli: &[(String, String)],
) -> ImageLabels {
    let mut labels = BTreeMap::new();
    let mut volatile = BTreeSet::new();
    if let Some(d) = defaults.filter(|_| settings.defaults) {
        let source = settings
            .repository
            .as_deref()
            .map(crate::provenance::without_credentials)
            .or_else(|| d.provenance.remote.clone());
        let entries = [
            (SOURCE, source),
            (REVISION, d.provenance.revision.clone()),
            (VERSION, d.version.map(str::to_string)),
            (CREATED, d.provenance.created.clone()),
            (TITLE, Some(d.title.to_string())),
            (LICENSES, settings.license.clone()),
        ];
        for (key, value) in entries {
            if let Some(value) = value {
                labels.insert(key.to_string(), value);
            }
        }
        volatile.extend(
            [REVISION, CREATED]
                .into_iter()
                .filter(|k| labels.contains_key(*k)),
        );
    }
    let user = settings
        .labels
        .iter()
        .chain(manifest)
        .chain(cli.iter().map(|(k, v)| (k, v)));
    for (k, v) in user {
        volatile.remove(k.as_str());
        labels.insert(k.clone(), v.clone());
    }
    ImageLabels { labels, volatile }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provenance() -> Provenance {
        Provenance {
            remote: Some("https://example.com/org/repo.git".into()),
            revision: Some("abc123-dirty".into()),
            created: Some("2023-11-14T22:13:20Z".into()),
        }
    }

    fn settings() -> LabelSettings {
        LabelSettings {
            repository: Some("https://github.com/apache/beam".into()),
            license: Some("Apache-2.0".into()),
            ..Default::default()
        }
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_fill_every_oci_key_and_the_volatile_ones_stay_out_of_the_fingerprint() {
        let p = provenance();
        let d = Defaults {
            provenance: &p,
            version: Some("2.61.0"),
            title: "beam_python3.11_sdk",
        };
        let labels = merge(&settings(), Some(d), &BTreeMap::new(), &[]);
        assert_eq!(
            labels.labels,
            map(&[
                (SOURCE, "https://github.com/apache/beam"),
                (REVISION, "abc123-dirty"),
                (VERSION, "2.61.0"),
                (CREATED, "2023-11-14T22:13:20Z"),
                (TITLE, "beam_python3.11_sdk"),
                (LICENSES, "Apache-2.0"),
            ])
        );
        let fp = labels.fingerprinted();
        assert!(!fp.contains_key(REVISION) && !fp.contains_key(CREATED));
        assert_eq!(fp.len(), 4);
        // Another commit, another time: the same fingerprint inputs.
        let later = Provenance {
            revision: Some("def456".into()),
            created: Some("2024-01-01T00:00:00Z".into()),
            ..p.clone()
        };
        let d2 = Defaults {
            provenance: &later,
            ..d
        };
        assert_eq!(
            merge(&settings(), Some(d2), &BTreeMap::new(), &[]).fingerprinted(),
            fp
        );
        // What an up-to-date check reads (git's remote alone) counts the same.
        let remote_only = Provenance {
            remote: p.remote.clone(),
            ..Default::default()
        };
        let d4 = Defaults {
            provenance: &remote_only,
            ..d
        };
        assert_eq!(
            merge(&settings(), Some(d4), &BTreeMap::new(), &[]).fingerprinted(),
            fp
        );
        // Another version is another input.
        let d3 = Defaults {
            version: Some("2.62.0"),
            ..d
        };
        assert_ne!(
            merge(&settings(), Some(d3), &BTreeMap::new(), &[]).fingerprinted(),
            fp
        );
    }

    #[test]
    fn the_git_remote_is_the_source_when_the_workspace_names_none_and_missing_facts_are_left_out() {
        let p = Provenance {
            remote: Some("https://example.com/org/repo.git".into()),
            revision: None,
            created: None,
        };
        let d = Defaults {
            provenance: &p,
            version: None,
            title: "x",
        };
        let labels = merge(&LabelSettings::default(), Some(d), &BTreeMap::new(), &[]);
        assert_eq!(
            labels.labels,
            map(&[(SOURCE, "https://example.com/org/repo.git"), (TITLE, "x"),])
        );
        // A repository URL with credentials loses them.
        let s = LabelSettings {
            repository: Some("https://u:secret@example.com/r".into()),
            ..Default::default()
        };
        assert_eq!(
            merge(&s, Some(d), &BTreeMap::new(), &[]).labels[SOURCE],
            "https://example.com/r"
        );
    }

    #[test]
    fn workspace_then_manifest_then_flag_win_and_default_labels_false_turns_defaults_off() {
        let p = provenance();
        let d = Defaults {
            provenance: &p,
            version: Some("1.0"),
            title: "img",
        };
        let mut s = settings();
        s.labels = map(&[("team", "sdk"), ("tier", "ws"), (TITLE, "Beam SDK")]);
        let manifest = map(&[("tier", "manifest"), (REVISION, "pinned")]);
        let cli = vec![("tier".to_string(), "cli".to_string())];
        let labels = merge(&s, Some(d), &manifest, &cli);
        assert_eq!(labels.labels["team"], "sdk");
        assert_eq!(labels.labels["tier"], "cli");
        assert_eq!(labels.labels[TITLE], "Beam SDK");
        // A revision the user writes is theirs, and an input like any user label.
        assert_eq!(labels.labels[REVISION], "pinned");
        let fp = labels.fingerprinted();
        assert_eq!(fp[REVISION], "pinned");
        assert!(!fp.contains_key(CREATED));
        assert_eq!(fp["tier"], "cli");
        // default-labels = false: only the user's.
        s.defaults = false;
        let labels = merge(&s, Some(d), &manifest, &cli);
        assert_eq!(
            labels.labels,
            map(&[
                ("team", "sdk"),
                ("tier", "cli"),
                (TITLE, "Beam SDK"),
                (REVISION, "pinned"),
            ])
        );
        assert_eq!(labels.fingerprinted(), labels.labels);
    }

    #[test]
    fn label_flags_and_keys_are_checked() {
        assert_eq!(
            parse_flag("a.b=c=d").unwrap(),
            ("a.b".to_string(), "c=d".to_string())
        );
        assert_eq!(parse_flag("k=").unwrap(), ("k".to_string(), String::new()));
        for bad in ["novalue", "=v", "a b=c", "k=line\nbreak", "k\u{1b}=v"] {
            assert!(parse_flag(bad).is_err(), "{bad:?}");
        }
    }
}
