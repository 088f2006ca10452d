//! Signing keys: a PEM EC P-256 private key, SEC1 (`EC PRIVATE KEY`, what `openssl ecparam
//! -genkey` writes, with or without its `EC PARAMETERS` block) or PKCS#8 (`PRIVATE KEY`), or
//! cosign's encrypted key (`ENCRYPTED SIGSTORE PRIVATE KEY`, `ENCRYPTED COSIGN PRIVATE KEY`)
//! with the password from `COSIGN_PASSWORD`. Public keys: SPKI PEM (`PUBLIC KEY`, cosign.pub).
//!
//! A key is a secret: no message quotes its bytes, `Debug` shows none of it.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey};

use crate::error::{Error, Result};

/// The largest key file read (a PEM key is a few hundred bytes).
const KEY_CAP: u64 = 64 * 1024;

pub use super::error::KeyError;

/// An ECDSA P-256 private key.
pub struct KeySigner {
    key: SigningKey,
}

impl std::fmt::Debug for KeySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeySigner(<secret>)")
    }
}

impl KeySigner {
    pub fn verifying_key(&self) -> VerifyingKey {
        *self.key.verifying_key()
    }

    /// The key itself (tests write it in other encodings).
    #[cfg(test)]
    pub(crate) fn secret_key(&self) -> p256::SecretKey {
        p256::SecretKey::from(&self.key)
    }
}

impl super::Signer for KeySigner {
    fn sign(&self, message: &[u8]) -> Vec<u8> {
        // RFC 6979: the same key and message give the same signature, so signing again
        // (a rerun, `promote --sign`) writes the same layer.
        let signature: Signature = self.key.sign(message);
        signature.to_der().as_bytes().to_vec()
    }
}

/// One PEM block: its label and decoded body.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PemBlock {
    pub label: String,
    pub der: Vec<u8>,
}

/// Every PEM block of `text`, in order (headers such as `Proc-Type` are refused as bodies
/// that are not base64).
pub(crate) fn pem_blocks(text: &str) -> std::result::Result<Vec<PemBlock>, KeyError> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        let mut closed = false;
        for line in lines.by_ref() {
            if line == end {
                closed = true;
                break;
            }
            body.push_str(line);
        }
        if !closed {
            return Err(KeyError::UnclosedBlock {
                label: label.to_string(),
            });
        }
        let der = STANDARD
            .decode(body.as_bytes())
            .map_err(|_| KeyError::BlockNotBase64 {
                label: label.to_string(),
            })?;
        blocks.push(PemBlock {
            label: label.to_string(),
            der,
        });
    }
    Ok(blocks)
}

fn read_key_file(path: &Path, what: &'static str) -> Result<String> {
    let rules = crate::guarded::Rules::anywhere(KEY_CAP, what);
    let bytes = crate::guarded::read(path, rules)
        .map_err(|e| Error::Usage(format!("cannot read the {what} {e}")))?;
    String::from_utf8(bytes).map_err(|_| {
        Error::Usage(format!(
            "{}: not a PEM file (not text); expected an EC P-256 key in PEM",
            path.display()
        ))
    })
}

/// Load the private key at `path`; `password` is used for cosign's encrypted keys only
/// (`None`: `COSIGN_PASSWORD` is not set).
/// `shown` says where the path came from in messages (`--sign-key 'k.pem'`).
pub fn load_private_key(path: &Path, password: Option<&str>, shown: &str) -> Result<KeySigner> {
    let rules = crate::guarded::Rules::anywhere(KEY_CAP, "signing key");
    let bytes = crate::guarded::read(path, rules)
        .map_err(|e| Error::Usage(format!("{shown}: cannot read the signing key {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::Usage(format!("{shown}: not a PEM file (not text)")))?;
    parse_private_key(&text, password).map_err(|why| Error::Usage(format!("{shown}: {why}")))
}

/// The private key of a PEM text (see the module doc); the error says why not, without any
/// of the key's bytes.
pub fn parse_private_key(
    text: &str,
    password: Option<&str>,
) -> std::result::Result<KeySigner, KeyError> {
    let blocks = pem_blocks(text)?;
    let wrong_curve = |what| KeyError::WrongCurve { what };
    for block in &blocks {
        let key = match block.label.as_str() {
            "EC PRIVATE KEY" => p256::SecretKey::from_sec1_der(&block.der)
                .map_err(|_| wrong_curve("EC PRIVATE KEY"))?,
            "PRIVATE KEY" => p256::SecretKey::from_pkcs8_der(&block.der)
                .map_err(|_| wrong_curve("PKCS#8 PRIVATE KEY"))?,
            label if super::cosign_key::LABELS.contains(&label) => {
                let Some(password) = password else {
                    return Err(KeyError::NoPassword);
                };
                let der = super::cosign_key::decrypt(&block.der, password)?;
                p256::SecretKey::from_pkcs8_der(&der)
                    .map_err(|_| wrong_curve("decrypted cosign key"))?
            }
            "ENCRYPTED PRIVATE KEY" => {
                return Err(KeyError::EncryptedPkcs8);
            }
            _ => continue,
        };
        return Ok(KeySigner {
            key: SigningKey::from(key),
        });
    }
    Err(match blocks.is_empty() {
        true => KeyError::NoPemBlock,
        false => KeyError::NoPrivateKey {
            labels: blocks.into_iter().map(|b| b.label).collect(),
        },
    })
}

/// The public key at `path` (`PUBLIC KEY`, SPKI PEM, as cosign.pub and `openssl ec -pubout`).
pub fn load_public_key(path: &Path) -> Result<VerifyingKey> {
    let text = read_key_file(path, "public key")?;
    parse_public_key(&text).map_err(|why| {
        Error::Usage(format!(
            "--key {}: {why}",
            crate::error::quoted(&path.display().to_string())
        ))
    })
}

pub fn parse_public_key(text: &str) -> std::result::Result<VerifyingKey, KeyError> {
    let blocks = pem_blocks(text)?;
    let block = blocks
        .iter()
        .find(|b| b.label == "PUBLIC KEY")
        .ok_or(KeyError::NoPublicKey)?;
    VerifyingKey::from_public_key_der(&block.der).map_err(|_| KeyError::PublicKeyWrongCurve)
}

/// Whether `signature` (DER) is `key`'s signature of `message`.
pub fn verifies(key: &VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
    Signature::from_der(signature).is_ok_and(|s| key.verify(message, &s).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::Signer as _;

    // Made with `openssl ecparam -genkey -name prime256v1` (test only).
    const SEC1: &str = include_str!("testdata/ec.pem");

    #[test]
    fn a_sec1_key_with_its_parameters_block_signs_and_verifies() {
        let signer = parse_private_key(SEC1, None).unwrap();
        let sig = signer.sign(b"payload");
        assert!(verifies(&signer.verifying_key(), b"payload", &sig));
        assert!(!verifies(&signer.verifying_key(), b"payloae", &sig));
        // Deterministic (RFC 6979).
        assert_eq!(sig, signer.sign(b"payload"));
        assert_eq!(format!("{signer:?}"), "KeySigner(<secret>)");
    }

    #[test]
    fn a_pkcs8_key_is_the_same_key() {
        use p256::pkcs8::EncodePrivateKey as _;
        let signer = parse_private_key(SEC1, None).unwrap();
        let pkcs8 = signer
            .secret_key()
            .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
            .unwrap();
        let again = parse_private_key(&pkcs8, None).unwrap();
        assert_eq!(again.verifying_key(), signer.verifying_key());
    }

    #[test]
    fn public_keys_and_refusals() {
        use p256::pkcs8::EncodePublicKey as _;
        let signer = parse_private_key(SEC1, None).unwrap();
        let pem = signer
            .verifying_key()
            .to_public_key_pem(p256::pkcs8::LineEnding::LF)
            .unwrap();
        assert_eq!(parse_public_key(&pem).unwrap(), signer.verifying_key());
        let e = parse_private_key(&pem, None).unwrap_err().to_string();
        assert!(
            e.contains("no private key among its PEM blocks (PUBLIC KEY)"),
            "{e}"
        );
        let e = parse_private_key("hello", None).unwrap_err().to_string();
        assert!(e.contains("no PEM block"), "{e}");
        let e = parse_public_key(SEC1).unwrap_err().to_string();
        assert!(e.contains("no PUBLIC KEY"), "{e}");
        let e = parse_private_key("-----BEGIN EC PRIVATE KEY-----\nAAAA\n", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no END line"), "{e}");
        let e = parse_private_key("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\ne30=\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n", None).unwrap_err().to_string();
        assert!(e.contains("COSIGN_PASSWORD"), "{e}");
    }
}
