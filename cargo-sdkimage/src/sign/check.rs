//! Verification of stored signatures and attestations, given their layers' bytes (the
//! registry side is `publish/sign.rs`): what `cosign verify --key` and `cosign
//! verify-attestation --key` check, without the transparency log.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::VerifyingKey;

use super::error::VerifyError;
use super::store::{Descriptor, SIGNATURE_ANNOTATION};
use super::{dsse, payload, statement};
use crate::registry::client::sha256_digest;

/// Whether one of the signature layers is `key`'s signature of a payload naming `digest`;
/// else what failed.
pub fn signatures(
    layers: &[(Descriptor, Vec<u8>)],
    key: &VerifyingKey,
    digest: &str,
) -> Result<(), VerifyError> {
    let mut other_digest = None;
    let mut unsigned = 0;
    let mut total = 0;
    for (descriptor, bytes) in layers {
        if descriptor.media_type != payload::MEDIA_TYPE {
            continue;
        }
        total += 1;
        if sha256_digest(bytes) != descriptor.digest {
            unsigned += 1;
            continue;
        }
        let signature = descriptor
            .annotations
            .get(SIGNATURE_ANNOTATION)
            .and_then(|s| STANDARD.decode(s).ok());
        if !signature.is_some_and(|sig| super::key::verifies(key, bytes, &sig)) {
            unsigned += 1;
            continue;
        }
        let signed = payload::parse(bytes)?;
        let named = signed.critical.image.docker_manifest_digest;
        if named == digest {
            return Ok(());
        }
        other_digest = Some(named);
    }
    if let Some(named) = other_digest {
        return Err(VerifyError::OtherDigest {
            named,
            digest: digest.to_string(),
        });
    }
    Err(match total {
        0 => VerifyError::NoSignature,
        _ => VerifyError::NoSignatureVerifies { total, unsigned },
    })
}

/// The predicate types of the attestations, when every attestation layer is an envelope
/// `key` signed over an in-toto statement naming `digest` (and there is at least one); else
/// what failed.
pub fn attestations(
    layers: &[(Descriptor, Vec<u8>)],
    key: &VerifyingKey,
    digest: &str,
) -> Result<Vec<String>, VerifyError> {
    let mut kinds = Vec::new();
    for (descriptor, bytes) in layers {
        if descriptor.media_type != dsse::MEDIA_TYPE {
            continue;
        }
        let what = descriptor
            .annotations
            .get(super::store::PREDICATE_ANNOTATION)
            .cloned()
            .unwrap_or_else(|| "an attestation".to_string());
        let about = |problem| VerifyError::Attestation {
            what: what.clone(),
            problem: Box::new(problem),
        };
        if sha256_digest(bytes) != descriptor.digest {
            return Err(about(VerifyError::DigestMismatch));
        }
        let (payload_type, payload) = dsse::open(bytes, key).map_err(about)?;
        if payload_type != dsse::IN_TOTO {
            return Err(about(VerifyError::NotInToto(payload_type)));
        }
        let statement: statement::Statement = serde_json::from_slice(&payload)
            .map_err(|e| about(VerifyError::NotStatement(e.to_string())))?;
        if !statement::names_digest(&statement, digest) {
            return Err(about(VerifyError::OtherSubject {
                subjects: statement
                    .subject
                    .iter()
                    .flat_map(|s| s.digest.iter().map(|(a, h)| format!("{a}:{h}")))
                    .collect::<Vec<_>>()
                    .join(", "),
                digest: digest.to_string(),
            }));
        }
        kinds.push(statement.predicate_type);
    }
    if kinds.is_empty() {
        return Err(VerifyError::NoAttestation);
    }
    Ok(kinds)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::sign::Signer as _;
    use crate::sign::key::parse_private_key;
    use crate::sign::store::Layer;

    fn digest(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn signed(payload: Vec<u8>, sig: &[u8]) -> (Descriptor, Vec<u8>) {
        let layer = Layer::new(
            payload::MEDIA_TYPE,
            payload,
            BTreeMap::from([(SIGNATURE_ANNOTATION.to_string(), STANDARD.encode(sig))]),
        );
        (layer.descriptor, layer.bytes)
    }

    #[test]
    fn signatures_fail_for_tampering_another_digest_and_another_key() {
        let key = parse_private_key(include_str!("testdata/ec.pem"), None).unwrap();
        let public = key.verifying_key();
        let body = payload::simple_signing("r/a", &digest('a'));
        let good = signed(body.clone(), &key.sign(&body));
        assert_eq!(
            signatures(std::slice::from_ref(&good), &public, &digest('a')),
            Ok(())
        );
        // Another digest's signature, copied.
        let e = signatures(std::slice::from_ref(&good), &public, &digest('b'))
            .unwrap_err()
            .to_string();
        assert!(e.contains("names sha256:aaaa"), "{e}");
        // A flipped byte.
        let mut flipped = body.clone();
        flipped[20] ^= 1;
        let bad = signed(flipped, &key.sign(&body));
        let e = signatures(&[bad], &public, &digest('a'))
            .unwrap_err()
            .to_string();
        assert!(e.contains("none of its 1 signature(s)"), "{e}");
        // A changed signature.
        let mut sig = key.sign(&body);
        let last = sig.len() - 1;
        sig[last] ^= 1;
        assert!(signatures(&[signed(body, &sig)], &public, &digest('a')).is_err());
        assert!(
            signatures(&[], &public, &digest('a'))
                .unwrap_err()
                .to_string()
                .contains("no signature")
        );
    }

    #[test]
    fn attestations_must_name_the_digest() {
        let key = parse_private_key(include_str!("testdata/ec.pem"), None).unwrap();
        let statement =
            statement::statement("r/a", &digest('a'), statement::SPDX, serde_json::json!({}));
        let envelope = dsse::seal(&key, dsse::IN_TOTO, &statement);
        let layer = Layer::new(dsse::MEDIA_TYPE, envelope, BTreeMap::new());
        let layers = [(layer.descriptor, layer.bytes)];
        assert_eq!(
            attestations(&layers, &key.verifying_key(), &digest('a')).unwrap(),
            [statement::SPDX]
        );
        let e = attestations(&layers, &key.verifying_key(), &digest('b'))
            .unwrap_err()
            .to_string();
        assert!(e.contains("is about sha256:aaaa"), "{e}");
    }
}
