//! Third-party licenses: gather the license texts of what ships in an image (Rust crates on the
//! host side; Python dists, Debian packages, Go binaries and jars read from the built image; each
//! source registered once in `sources.rs`), apply the overrides and
//! the policy of the `licenses/` folder, and lay the result out as
//! `<dest>/<ecosystem>/<name>-<version>/<files>` plus `<dest>/index.json`.
//!
//! No text is ever downloaded: everything comes from unpacked crate sources, the image's own
//! filesystem, the host's Go module cache and Maven repository, the SPDX list the `spdx` crate
//! carries, or the override texts checked into `licenses/`.

mod cargo;
mod check;
mod debian;
mod gather;
mod gatherer;
mod go;
mod identify;
mod image;
mod java;
mod layout;
mod overrides;
mod policy;
mod python;
pub mod sbom;
mod snapshot;
mod sources;

#[cfg(test)]
mod tests;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use cargo::gather_cargo;
pub use check::{check, check_files};
pub use gather::{add_licenses_layer, gather_licenses, license_inputs};
pub use image::read_image_file;
pub use layout::{append_to_tar, write_dir, write_tar};
pub use sources::needs_image;

/// Where a dependency comes from. Ordered by name, as the layout's folders are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ecosystem {
    Cargo,
    Debian,
    Go,
    Maven,
    Python,
}

impl Ecosystem {
    /// The name in `index.json`, `overrides.toml` and the layout's folders.
    pub fn as_str(self) -> &'static str {
        match self {
            Ecosystem::Cargo => "cargo",
            Ecosystem::Debian => "debian",
            Ecosystem::Go => "go",
            Ecosystem::Maven => "maven",
            Ecosystem::Python => "python",
        }
    }

    /// The package URL type (purl-spec's `PURL-TYPES`).
    pub fn purl_type(self) -> &'static str {
        match self {
            Ecosystem::Cargo => "cargo",
            Ecosystem::Debian => "deb",
            Ecosystem::Go => "golang",
            Ecosystem::Maven => "maven",
            Ecosystem::Python => "pypi",
        }
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One license text of a dependency, held in memory (texts are small).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseFile {
    /// `/`-separated path inside the entry's folder (`LICENSE-MIT`, `copyright`).
    pub path: String,
    /// Where the text came from: `crate:itoa-1.0.18/LICENSE-MIT`,
    /// `image:/usr/share/doc/hostname/copyright`, `override:licenses/texts/ring-LICENSE`.
    pub source: String,
    pub contents: Vec<u8>,
}

/// One third-party dependency and its license texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseEntry {
    pub name: String,
    pub version: String,
    pub ecosystem: Ecosystem,
    /// An SPDX expression when the declared license is one, else the name as declared; `None`
    /// when nothing is declared (a copyright file that is not machine-readable).
    pub license: Option<String>,
    pub files: Vec<LicenseFile>,
    /// Where the package came from, as far as the gatherer knows (for the SBOM).
    pub origin: Origin,
    /// The text `license` was identified from by the matcher, when nothing declared one.
    pub identified_from: Option<String>,
}

/// What a gatherer knows of a package's origin besides its name and version: the SBOM's
/// download location, checksum and purl qualifiers. Not part of the license layout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// An SPDX download location (`https://crates.io/api/v1/crates/itoa/1.0.18/download`,
    /// `git+https://github.com/o/r@<rev>`), when known.
    pub download: Option<String>,
    /// The sha256 (hex) of what `download` gives (Cargo.lock's checksum of a registry crate).
    pub sha256: Option<String>,
    /// The architecture the package was built for (dpkg's `Architecture`).
    pub arch: Option<String>,
}

impl LicenseEntry {
    pub fn new(ecosystem: Ecosystem, name: &str, version: &str, license: Option<String>) -> Self {
        LicenseEntry {
            name: name.to_string(),
            version: version.to_string(),
            ecosystem,
            license,
            files: Vec::new(),
            origin: Origin::default(),
            identified_from: None,
        }
    }

    /// Add a text; an identical text already kept is not added twice, and a different text
    /// under a taken path gets a numbered path (`LICENSE.2`), so no text is ever lost.
    pub fn add_file(&mut self, path: &str, source: String, contents: Vec<u8>) {
        if self.files.iter().any(|f| f.contents == contents) {
            return;
        }
        let mut candidate = path.to_string();
        let mut n = 2;
        while self.files.iter().any(|f| f.path == candidate) {
            candidate = format!("{path}.{n}");
            n += 1;
        }
        self.files.push(LicenseFile {
            path: candidate,
            source,
            contents,
        });
    }

    fn key(&self) -> (Ecosystem, &str, &str) {
        (self.ecosystem, &self.name, &self.version)
    }
}

/// What the gatherers found, before overrides and policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gathered {
    pub entries: Vec<LicenseEntry>,
}

impl Gathered {
    /// Add another gatherer's findings (the same dependency found twice is merged by [`check`]).
    pub fn merge(&mut self, other: Gathered) {
        self.entries.extend(other.entries);
    }
}

/// A dependency that passed [`check`]: it has at least one text and a license the policy allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    entry: LicenseEntry,
}

impl Resolved {
    pub fn entry(&self) -> &LicenseEntry {
        &self.entry
    }
}

/// File names that hold license texts, matched case-insensitively on the name's start:
/// `LICENSE`, `LICENSE-MIT`, `licence.txt`, `COPYING`, `NOTICE`, `UNLICENSE`, `COPYRIGHT`.
pub(crate) fn is_license_file_name(name: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "license",
        "licence",
        "copying",
        "notice",
        "unlicense",
        "copyright",
    ];
    let lower = name.to_ascii_lowercase();
    PREFIXES.iter().any(|p| lower.starts_with(p))
}

/// A license string as an SPDX expression when it is one (after the usual fix-ups: `MIT/Apache-2.0`,
/// `GPL-2.0+`, lowercase operators), else `None`.
pub(crate) fn canonical_spdx(text: &str) -> Option<String> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let canonical = match spdx::Expression::canonicalize(text) {
        Ok(Some(c)) => c,
        Ok(None) => text.to_string(),
        Err(_) => return None,
    };
    spdx::Expression::parse(&canonical).ok().map(|_| canonical)
}
