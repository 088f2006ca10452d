//! The one place a license source is registered: its manifest `kind` (whose keys are in
//! `manifest/license_keys.rs`), its ecosystem, and whether it reads the host or the built
//! image. Gathering, `index.json`, the layout, overrides, policy and the SBOM all go by the
//! ecosystem of the entries a source gives; nothing else names a source kind.

use std::path::PathBuf;

use super::gatherer::ImageGatherer;
use super::{Gathered, cargo, debian, go, java, python};
use crate::error::Result;
use crate::manifest::LicenseSource;
use crate::workspace::Workspace;

/// How a source reads.
pub(crate) enum Reader {
    /// On the host, without the image.
    Host(fn(&Workspace, &LicenseSource) -> Result<Gathered>),
    /// The built image's filesystem; the gatherer is made from the workspace and the source.
    Image(fn(&Workspace, &LicenseSource) -> Result<Box<dyn ImageGatherer>>),
}

/// One registered source kind; the entries it gives carry their [`super::Ecosystem`] (`java` gives
/// `maven` packages).
pub(crate) struct Registered {
    /// The manifest's `kind`.
    pub kind: &'static str,
    pub reader: Reader,
    /// What the source reads besides the paths of its own keys, from the workspace's settings
    /// (part of the image's fingerprint).
    pub workspace_inputs: fn(&Workspace, &LicenseSource) -> Vec<PathBuf>,
}

/// A source that reads nothing of the workspace's settings.
fn no_inputs(_: &Workspace, _: &LicenseSource) -> Vec<PathBuf> {
    Vec::new()
}

/// Every source kind. Adding an ecosystem: a module with its gatherer, a row here, its keys in
/// `manifest/license_keys.rs`, its name and purl type in [`super::Ecosystem`] (and its purl's
/// namespace in `sbom::purl` when it has one).
pub(crate) const REGISTERED: &[Registered] = &[
    Registered {
        kind: "cargo",
        reader: Reader::Host(cargo::gather_source),
        workspace_inputs: no_inputs,
    },
    Registered {
        kind: "debian",
        reader: Reader::Image(debian::gatherer),
        workspace_inputs: no_inputs,
    },
    Registered {
        kind: "go",
        reader: Reader::Image(go::gatherer),
        workspace_inputs: no_inputs,
    },
    Registered {
        kind: "java",
        reader: Reader::Image(java::gatherer),
        workspace_inputs: java::workspace_inputs,
    },
    Registered {
        kind: "python",
        reader: Reader::Image(python::gatherer),
        workspace_inputs: no_inputs,
    },
];

/// The registration of a manifest's source (the manifest only admits registered kinds).
pub(crate) fn registered(source: &LicenseSource) -> &'static Registered {
    REGISTERED
        .iter()
        .find(|r| r.kind == source.kind)
        .expect("the manifest admits registered kinds only")
}

/// Whether gathering `source` needs the built image.
pub fn needs_image(source: &LicenseSource) -> bool {
    matches!(registered(source).reader, Reader::Image(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_manifest_kind_is_registered_once() {
        let kinds: Vec<&str> = crate::manifest::LICENSE_KINDS
            .iter()
            .map(|k| k.name)
            .collect();
        let registered: Vec<&str> = REGISTERED.iter().map(|r| r.kind).collect();
        assert_eq!(kinds, registered);
    }
}
