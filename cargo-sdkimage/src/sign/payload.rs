//! cosign's simple-signing payload (sigstore's `payload.Cosign`, "Red Hat simple signing"):
//!
//! ```json
//! {"critical":{"identity":{"docker-reference":"REPO"},"image":{"docker-manifest-digest":"sha256:..."},"type":"cosign container image signature"},"optional":null}
//! ```
//!
//! Written byte for byte as Go's `json.Marshal` writes it (field order, no spaces, `optional`
//! null), since the signature is over these exact bytes.

use serde::{Deserialize, Serialize};

use super::error::VerifyError;

/// `critical.type` of every cosign signature.
pub const TYPE: &str = "cosign container image signature";

/// The media type of a signature layer.
pub const MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimpleSigning {
    pub critical: Critical,
    pub optional: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Critical {
    pub identity: Identity,
    pub image: ImageDigest,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    #[serde(rename = "docker-reference")]
    pub docker_reference: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageDigest {
    #[serde(rename = "docker-manifest-digest")]
    pub docker_manifest_digest: String,
}

/// The payload signing `digest` in `repository` (`localhost:5000/beam/go_sdk`, no tag).
pub fn simple_signing(repository: &str, digest: &str) -> Vec<u8> {
    let payload = SimpleSigning {
        critical: Critical {
            identity: Identity {
                docker_reference: repository.to_string(),
            },
            image: ImageDigest {
                docker_manifest_digest: digest.to_string(),
            },
            kind: TYPE.to_string(),
        },
        optional: None,
    };
    serde_json::to_vec(&payload).expect("a payload serializes")
}

/// A payload read back; the error says what is wrong with it.
pub fn parse(bytes: &[u8]) -> Result<SimpleSigning, VerifyError> {
    let payload: SimpleSigning =
        serde_json::from_slice(bytes).map_err(|e| VerifyError::PayloadNotJson(e.to_string()))?;
    if payload.critical.kind != TYPE {
        return Err(VerifyError::PayloadType {
            found: payload.critical.kind,
            expected: TYPE,
        });
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_is_cosigns_bytes() {
        let d = format!("sha256:{}", "0".repeat(64));
        let bytes = simple_signing("localhost:5000/beam/go_sdk", &d);
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"localhost:5000/beam/go_sdk"}},"image":{{"docker-manifest-digest":"{d}"}},"type":"cosign container image signature"}},"optional":null}}"#
            )
        );
        let back = parse(&bytes).unwrap();
        assert_eq!(back.critical.image.docker_manifest_digest, d);
        assert!(parse(br#"{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"x"},"type":"other"}}"#).unwrap_err().to_string().contains("type"));
        assert!(parse(b"nope").is_err());
    }
}
