//! Multi-platform images: one OCI image index per release tag, over the platform manifests
//! phase one pushed (each under `<staging tag>-<platform>`). The engine's image store holds one
//! platform per image, so the index is written here, as `docker buildx` would push it.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::engine::EngineApi;
use crate::error::{Error, Result};
use crate::plan::Image;
use crate::platform::Platform;
use crate::reference::ImageRef;
use crate::registry::RegistryManifest;
use crate::registry::client::sha256_digest;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// An OCI image index (`application/vnd.oci.image.index.v1+json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciIndex {
    pub schema_version: u32,
    #[serde(default)]
    pub media_type: String,
    pub manifests: Vec<Descriptor>,
}

/// One platform manifest of an index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    pub platform: IndexPlatform,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexPlatform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl IndexPlatform {
    pub fn to_platform(&self) -> Platform {
        Platform {
            os: self.os.clone(),
            arch: self.architecture.clone(),
            variant: self.variant.clone(),
        }
    }
}

/// Whether `image` is published as an index: it names more than one platform.
pub fn is_multi_platform(image: &Image) -> bool {
    image.platforms.len() > 1
}

/// The local ref of one platform's image: `r` itself for the main platform (the engine's
/// own), else the local-only `<tag>-<platform>` tag (`platform::local_tag`).
pub fn local_ref(r: &ImageRef, platform: &Platform, main: Option<&Platform>) -> ImageRef {
    ImageRef {
        repository: r.repository.clone(),
        tag: crate::platform::local_tag(&r.tag, platform, main),
    }
}

/// The local image id of each platform of `image` (through the refs' first ref).
pub async fn local_ids(engine: &dyn EngineApi, image: &Image) -> Result<Vec<(Platform, String)>> {
    let native = Platform::of_engine(&engine.platform().await?);
    let main = crate::platform::main_platform(&image.platforms, &native);
    let first = image
        .refs
        .first()
        .ok_or_else(|| Error::Failed(format!("{} has no ref", image.name)))?;
    let mut ids = Vec::new();
    for p in &image.platforms {
        let r = local_ref(first, p, main);
        let id = engine.image_id(&r.to_string()).await?.ok_or_else(|| {
            Error::Failed(format!(
                "{}: no local {p} image ({r}); build it first (`cargo sdkimage build`)",
                image.name
            ))
        })?;
        ids.push((p.clone(), id));
    }
    Ok(ids)
}

/// The index over `children` (platform, its manifest as the registry stores it), as the
/// registry will store it: deterministic bytes, so its digest is known before the PUT.
pub fn index_of(children: &[(Platform, RegistryManifest)]) -> RegistryManifest {
    let index = OciIndex {
        schema_version: 2,
        media_type: OCI_INDEX.to_string(),
        manifests: children
            .iter()
            .map(|(p, m)| Descriptor {
                media_type: m.media_type.clone(),
                digest: m.digest.clone(),
                size: m.bytes.len() as u64,
                platform: IndexPlatform {
                    architecture: p.arch.clone(),
                    os: p.os.clone(),
                    variant: p.variant.clone(),
                },
            })
            .collect(),
    };
    let bytes = Bytes::from(serde_json::to_vec(&index).expect("an index serializes"));
    RegistryManifest {
        digest: sha256_digest(&bytes),
        bytes,
        media_type: OCI_INDEX.to_string(),
    }
}

/// Read `manifest` as an index (OCI or Docker manifest list); `None` for a plain manifest.
pub fn parse_index(manifest: &RegistryManifest) -> Option<OciIndex> {
    if manifest.media_type != OCI_INDEX && manifest.media_type != DOCKER_LIST {
        return None;
    }
    serde_json::from_slice(&manifest.bytes).ok()
}

/// Platform -> manifest digest of an index.
pub fn children(index: &OciIndex) -> BTreeMap<String, String> {
    index
        .manifests
        .iter()
        .map(|d| (d.platform.to_platform().to_string(), d.digest.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_lists_each_platform_manifest_by_digest_and_size() {
        let child = |body: &'static [u8]| RegistryManifest {
            bytes: Bytes::from_static(body),
            media_type: "application/vnd.docker.distribution.manifest.v2+json".into(),
            digest: sha256_digest(body),
        };
        let amd = Platform::parse("linux/amd64").unwrap();
        let arm = Platform::parse("linux/arm/v7").unwrap();
        let index = index_of(&[(amd, child(b"{}")), (arm, child(b"{ }"))]);
        assert_eq!(index.digest, sha256_digest(&index.bytes));
        let parsed = parse_index(&index).expect("an index");
        assert_eq!(parsed.manifests.len(), 2);
        assert_eq!(parsed.manifests[1].size, 3);
        assert_eq!(parsed.manifests[1].platform.variant.as_deref(), Some("v7"));
        let kids = children(&parsed);
        assert_eq!(kids["linux/amd64"], sha256_digest(b"{}"));
        // The same children give the same bytes.
        assert_eq!(
            index_of(&[
                (Platform::parse("linux/amd64").unwrap(), child(b"{}")),
                (Platform::parse("linux/arm/v7").unwrap(), child(b"{ }"))
            ]),
            index
        );
    }
}
