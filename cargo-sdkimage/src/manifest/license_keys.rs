//! `licenses.sources`: each entry's `kind` and the keys that kind takes, checked at their place
//! in the file. The kinds and their keys are the table [`KINDS`]; the gatherer behind each kind
//! is registered beside it in `licenses/sources.rs` (a test keeps the two lists equal).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::{Checker, PathKind};

/// One entry of `licenses.sources` as written: `kind` and the kind's own keys.
pub(super) type RawLicenseSource = BTreeMap<String, Spanned<String>>;

/// A license source: its kind and the paths its keys name (absolute, checked to exist inside
/// the workspace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseSource {
    pub kind: &'static str,
    pub paths: BTreeMap<&'static str, PathBuf>,
}

impl LicenseSource {
    /// A source of `kind` without keys (`python`, `debian`, `java` without `maven-repo`).
    pub fn plain(kind: &'static str) -> LicenseSource {
        LicenseSource {
            kind,
            paths: BTreeMap::new(),
        }
    }

    /// The path given for `key`, if any.
    pub fn path(&self, key: &str) -> Option<&Path> {
        self.paths.get(key).map(PathBuf::as_path)
    }
}

/// A key a kind takes: a path relative to the manifest's folder.
pub struct KindKey {
    pub key: &'static str,
    /// A folder (else a file).
    pub folder: bool,
    pub required: bool,
    /// What the path is, for messages.
    pub what: &'static str,
}

/// A license source kind and its keys.
pub struct Kind {
    pub name: &'static str,
    pub keys: &'static [KindKey],
}

/// Every kind `licenses.sources` knows.
pub const KINDS: &[Kind] = &[
    Kind {
        name: "cargo",
        keys: &[KindKey {
            key: "manifest",
            folder: false,
            required: true,
            what: "the Cargo.toml of the crate whose dependencies ship in the image",
        }],
    },
    Kind {
        name: "debian",
        keys: &[],
    },
    Kind {
        name: "go",
        keys: &[KindKey {
            key: "module",
            folder: true,
            required: false,
            what: "the folder of the Go main module (its go.mod) the image's binaries are built from",
        }],
    },
    Kind {
        name: "java",
        keys: &[KindKey {
            key: "maven-repo",
            folder: true,
            required: false,
            what: "a local Maven repository folder for parent POMs (default ~/.m2/repository)",
        }],
    },
    Kind {
        name: "python",
        keys: &[],
    },
];

impl Checker<'_> {
    /// One entry of `licenses.sources`: a known `kind`, its required keys, no others.
    pub(super) fn license_source(&mut self, s: Spanned<RawLicenseSource>) -> Option<LicenseSource> {
        let span = s.span();
        let mut raw = s.into_inner();
        let names = || {
            KINDS
                .iter()
                .map(|k| format!("`{}`", k.name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let Some(kind_value) = raw.remove("kind") else {
            self.error(
                span.start,
                format!("a license source needs `kind`, one of {}", names()),
            );
            return None;
        };
        let Some(kind) = KINDS.iter().find(|k| k.name == kind_value.get_ref()) else {
            self.error(
                kind_value.span().start,
                format!(
                    "unknown license source kind `{}`; expected one of {}",
                    kind_value.get_ref(),
                    names()
                ),
            );
            return None;
        };
        let mut source = LicenseSource::plain(kind.name);
        let mut ok = true;
        for (key, value) in raw {
            let Some(spec) = kind.keys.iter().find(|k| k.key == key) else {
                let takes = if kind.keys.is_empty() {
                    "no other key".to_string()
                } else {
                    kind.keys
                        .iter()
                        .map(|k| format!("`{}`", k.key))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                self.error(
                    value.span().start,
                    format!(
                        "`{key}` is not a key of a `{}` license source (it takes {takes})",
                        kind.name
                    ),
                );
                ok = false;
                continue;
            };
            let path_kind = if spec.folder {
                PathKind::Dir
            } else {
                PathKind::File
            };
            let what = format!("licenses {} {}", kind.name, spec.key);
            match self.check_path(&value, path_kind, &what) {
                Some(path) => {
                    source.paths.insert(spec.key, path);
                }
                None => ok = false,
            }
        }
        for spec in kind.keys.iter().filter(|k| k.required) {
            if ok && !source.paths.contains_key(spec.key) {
                self.error(
                    span.start,
                    format!(
                        "a `{}` license source needs `{}`, {}",
                        kind.name, spec.key, spec.what
                    ),
                );
                ok = false;
            }
        }
        ok.then_some(source)
    }
}
