//! DSSE envelopes (secure-systems-lab/dsse v1): the signature is over the pre-authentication
//! encoding `DSSEv1 <len(type)> <type> <len(body)> <body>`; the envelope is
//! `{"payloadType":..., "payload": base64, "signatures":[{"keyid":"", "sig": base64}]}`, as
//! cosign writes it (an empty `keyid`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::VerifyingKey;
use serde::{Deserialize, Serialize};

use super::Signer;
use super::error::VerifyError;

/// The payload type of an in-toto statement.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";

/// The media type of an attestation layer.
pub const MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    pub payload: String,
    pub signatures: Vec<EnvelopeSignature>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    #[serde(default)]
    pub keyid: String,
    pub sig: String,
}

/// The pre-authentication encoding DSSE signs.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// `payload` signed by `signer`, as the envelope's JSON bytes.
pub fn seal(signer: &dyn Signer, payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let sig = signer.sign(&pae(payload_type, payload));
    let envelope = Envelope {
        payload_type: payload_type.to_string(),
        payload: STANDARD.encode(payload),
        signatures: vec![EnvelopeSignature {
            keyid: String::new(),
            sig: STANDARD.encode(sig),
        }],
    };
    serde_json::to_vec(&envelope).expect("an envelope serializes")
}

/// The payload of an envelope one of whose signatures `key` made; else why not.
pub fn open(bytes: &[u8], key: &VerifyingKey) -> Result<(String, Vec<u8>), VerifyError> {
    let envelope: Envelope =
        serde_json::from_slice(bytes).map_err(|e| VerifyError::NotEnvelope(e.to_string()))?;
    let payload = STANDARD
        .decode(&envelope.payload)
        .map_err(|_| VerifyError::EnvelopePayloadNotBase64)?;
    let signed = pae(&envelope.payload_type, &payload);
    let ok = envelope.signatures.iter().any(|s| {
        STANDARD
            .decode(&s.sig)
            .is_ok_and(|sig| super::key::verifies(key, &signed, &sig))
    });
    if !ok {
        return Err(VerifyError::NoEnvelopeSignatureVerifies {
            count: envelope.signatures.len(),
        });
    }
    Ok((envelope.payload_type, payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::key::parse_private_key;

    #[test]
    fn pae_is_the_specs() {
        // The example of the DSSE protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn an_envelope_opens_with_its_key_only() {
        let signer = parse_private_key(include_str!("testdata/ec.pem"), None).unwrap();
        let bytes = seal(&signer, IN_TOTO, b"{}");
        let (kind, payload) = open(&bytes, &signer.verifying_key()).unwrap();
        assert_eq!(
            (kind.as_str(), payload.as_slice()),
            (IN_TOTO, b"{}".as_slice())
        );
        let mut envelope: Envelope = serde_json::from_slice(&bytes).unwrap();
        envelope.payload = STANDARD.encode(b"{ }");
        let tampered = serde_json::to_vec(&envelope).unwrap();
        assert!(open(&tampered, &signer.verifying_key()).is_err());
    }
}
