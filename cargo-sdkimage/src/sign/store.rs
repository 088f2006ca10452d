//! How cosign stores signatures and attestations: an OCI image manifest under the tag
//! `sha256-<hex>.sig` (`.att`) in the image's repository, one layer per signature (the
//! simple-signing payload, its signature base64 in the `dev.cosignproject.cosign/signature`
//! annotation) or per attestation (a DSSE envelope, with an empty signature annotation and a
//! `predicateType` annotation), and a config whose `rootfs.diff_ids` are the layers' digests
//! (the layers are not compressed).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::VerifyError;
use crate::registry::client::sha256_digest;

/// The layer annotation holding a signature (base64 DER).
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The layer annotation naming an attestation's predicate type.
pub const PREDICATE_ANNOTATION: &str = "predicateType";

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub size: u64,
    pub digest: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// A layer and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub descriptor: Descriptor,
    pub bytes: Vec<u8>,
}

impl Layer {
    pub fn new(media_type: &str, bytes: Vec<u8>, annotations: BTreeMap<String, String>) -> Layer {
        Layer {
            descriptor: Descriptor {
                media_type: media_type.to_string(),
                size: bytes.len() as u64,
                digest: sha256_digest(&bytes),
                annotations,
            },
            bytes,
        }
    }
}

/// The config blob of a signature image with these layers (as go-containerregistry's
/// `empty.Image` plus appended layers).
pub fn config_for(layers: &[Descriptor]) -> Vec<u8> {
    let diff_ids: Vec<&str> = layers.iter().map(|l| l.digest.as_str()).collect();
    let history: Vec<serde_json::Value> = layers
        .iter()
        .map(|_| serde_json::json!({"created": "0001-01-01T00:00:00Z"}))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "architecture": "",
        "created": "0001-01-01T00:00:00Z",
        "history": history,
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "config": {},
    }))
    .expect("a config serializes")
}

/// The manifest over `layers` and its config's bytes.
pub fn manifest_for(layers: &[Descriptor]) -> (Vec<u8>, Vec<u8>) {
    let config = config_for(layers);
    let manifest = Manifest {
        schema_version: 2,
        media_type: OCI_MANIFEST.to_string(),
        config: Descriptor {
            media_type: OCI_CONFIG.to_string(),
            size: config.len() as u64,
            digest: sha256_digest(&config),
            annotations: BTreeMap::new(),
        },
        layers: layers.to_vec(),
    };
    let bytes = serde_json::to_vec(&manifest).expect("a manifest serializes");
    (bytes, config)
}

/// The layers of an existing `.sig` manifest with `new` added: a layer already there with the
/// same digest and annotations is not added twice (the same key signs the same payload the
/// same way).
pub fn with_signature(existing: &[Descriptor], new: &Descriptor) -> Vec<Descriptor> {
    let mut layers = existing.to_vec();
    if !layers.contains(new) {
        layers.push(new.clone());
    }
    layers
}

/// The layers of an existing `.att` manifest with `new` in place of any attestation of the
/// same predicate type (one SBOM and one provenance per digest, as `cosign attest --replace`).
pub fn with_attestation(existing: &[Descriptor], new: &Descriptor) -> Vec<Descriptor> {
    let kind = new.annotations.get(PREDICATE_ANNOTATION);
    let mut layers: Vec<Descriptor> = existing
        .iter()
        .filter(|l| l.annotations.get(PREDICATE_ANNOTATION) != kind)
        .cloned()
        .collect();
    layers.push(new.clone());
    layers
}

/// A stored manifest read back.
pub fn parse_manifest(bytes: &[u8]) -> Result<Manifest, VerifyError> {
    serde_json::from_slice(bytes).map_err(|e| VerifyError::NotManifest(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_manifest_holds_its_layer_once() {
        let layer = Layer::new(
            super::super::payload::MEDIA_TYPE,
            b"{}".to_vec(),
            BTreeMap::from([(SIGNATURE_ANNOTATION.to_string(), "c2ln".to_string())]),
        );
        let layers = with_signature(&[], &layer.descriptor);
        let layers = with_signature(&layers, &layer.descriptor);
        assert_eq!(layers.len(), 1);
        let (bytes, config) = manifest_for(&layers);
        let manifest = parse_manifest(&bytes).unwrap();
        assert_eq!(manifest.media_type, OCI_MANIFEST);
        assert_eq!(manifest.config.digest, sha256_digest(&config));
        assert_eq!(manifest.layers[0].annotations[SIGNATURE_ANNOTATION], "c2ln");
        let config: serde_json::Value = serde_json::from_slice(&config).unwrap();
        assert_eq!(config["rootfs"]["diff_ids"][0], layer.descriptor.digest);
    }

    #[test]
    fn an_attestation_replaces_one_of_its_predicate_type() {
        let att = |body: &[u8], kind: &str| {
            Layer::new(
                super::super::dsse::MEDIA_TYPE,
                body.to_vec(),
                BTreeMap::from([
                    (SIGNATURE_ANNOTATION.to_string(), String::new()),
                    (PREDICATE_ANNOTATION.to_string(), kind.to_string()),
                ]),
            )
            .descriptor
        };
        let layers = with_attestation(&[att(b"1", "a"), att(b"2", "b")], &att(b"3", "a"));
        let kinds: Vec<&str> = layers
            .iter()
            .map(|l| l.annotations[PREDICATE_ANNOTATION].as_str())
            .collect();
        assert_eq!(kinds, ["b", "a"]);
    }
}
