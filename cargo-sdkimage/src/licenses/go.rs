//! The `go` gatherer: the modules linked into the Go binaries among the image's executables,
//! from their build information (`buildinfo.rs`). The main module is first-party and left out.
//!
//! Texts, first found wins: the module's source in the workspace (`module = "..."` names the main
//! module's folder; its go.mod `replace` directives to local folders and its `vendor/` folder are
//! followed), then the host's module cache (`modules.rs`), then overrides. Go modules declare no
//! license, so the license is identified from the texts found, when the matcher is sure.

mod buildinfo;
mod modules;

use std::collections::BTreeMap;

use base64::Engine as _;

use super::gatherer::ImageGatherer;
use super::snapshot::Snapshot;
use super::{Ecosystem, LicenseEntry, identify};
use crate::error::Result;
use crate::manifest::LicenseSource;
use crate::workspace::Workspace;

use buildinfo::{BuildInfo, Module};
use modules::Texts;

/// The registered reader of a `go` source.
pub(super) fn gatherer(_: &Workspace, source: &LicenseSource) -> Result<Box<dyn ImageGatherer>> {
    Ok(Box::new(Go {
        texts: Texts::new(source.path("module"))?,
        binaries: BTreeMap::new(),
    }))
}

struct Go {
    texts: Texts,
    /// Build information by path in the image.
    binaries: BTreeMap<String, BuildInfo>,
}

impl ImageGatherer for Go {
    fn inspects(&self, _path: &str, mode: u32, head: &[u8]) -> bool {
        mode & 0o111 != 0 && buildinfo::is_executable_head(head)
    }

    fn inspect(&mut self, path: &str, contents: &[u8]) -> Result<()> {
        if let Some(info) = buildinfo::read(contents) {
            self.binaries.insert(path.to_string(), info);
        }
        Ok(())
    }

    fn gather(self: Box<Self>, _: &Snapshot) -> Result<Vec<LicenseEntry>> {
        let mut entries = Vec::new();
        for info in self.binaries.values() {
            let main = info.main.as_ref().map(|m| m.path.as_str());
            for dep in &info.deps {
                // The main module listed as its own dependency (through a replace) is still
                // first-party.
                if Some(dep.path.as_str()) == main {
                    continue;
                }
                entries.push(self.entry(dep)?);
            }
        }
        Ok(entries)
    }
}

impl Go {
    fn entry(&self, dep: &Module) -> Result<LicenseEntry> {
        let mut entry = LicenseEntry::new(Ecosystem::Go, &dep.path, &dep.version, None);
        // The sum of what was linked: the replacement's when there is one.
        let sum = dep
            .replace
            .as_ref()
            .map_or(dep.sum.as_deref(), |r| r.sum.as_deref());
        entry.origin.sha256 = sum.and_then(h1_hex);
        for (rel, source, contents) in self.texts.find(dep)? {
            entry.add_file(&rel, source, contents);
        }
        if let Some((id, from)) = identify::identify_files(&entry.files) {
            entry.license = Some(id);
            entry.identified_from = Some(from);
        }
        Ok(entry)
    }
}

/// A go.sum `h1:` hash (base64 of a SHA-256) as hex.
fn h1_hex(sum: &str) -> Option<String> {
    let encoded = sum.strip_prefix("h1:")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    (bytes.len() == 32).then(|| hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h1_sums_become_hex_sha256() {
        assert_eq!(
            h1_hex("h1:olpwvP2KacW1ZWvsR7uQhoyTYvKAupfQrRGBFM352Gk=").as_deref(),
            Some("a25a70bcfd8a69c5b5656bec47bb90868c9362f280ba97d0ad118114cdf9d869")
        );
        assert_eq!(h1_hex("h1:short"), None);
        assert_eq!(
            h1_hex("h2:olpwvP2KacW1ZWvsR7uQhoyTYvKAupfQrRGBFM352Gk="),
            None
        );
    }
}
