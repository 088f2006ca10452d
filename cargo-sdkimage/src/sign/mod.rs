//! Signing what is pushed, in the formats cosign and in-toto read: cosign's simple-signing
//! payload under `sha256-<hex>.sig`, in-toto statements (SPDX SBOM, SLSA v1 provenance) in DSSE
//! envelopes under `sha256-<hex>.att`, and their verification with a public key.
//!
//! One file per concern: `key` (PEM EC P-256 keys, SEC1 or PKCS#8, and cosign's encrypted
//! key through `cosign_key`), `payload` (the simple-signing JSON), `dsse` (envelopes), `statement`
//! (in-toto statements and the provenance predicate), `store` (the OCI manifests cosign stores
//! them in), `check` (verification, independent of the registry).
//!
//! Everything that signs goes through the [`Signer`] trait: a key file today; keyless signing
//! (a Fulcio certificate, a Rekor entry) would be another implementation that also returns the
//! certificate and bundle annotations cosign puts on each layer ([`Signer::annotations`]).

pub mod check;
pub mod cosign_key;
pub mod dsse;
pub mod error;
pub mod key;
pub mod payload;
pub mod statement;
pub mod store;

use std::collections::BTreeMap;

pub use key::{KeySigner, load_private_key, load_public_key};

/// Something that signs bytes as ECDSA P-256 over SHA-256, ASN.1 DER encoded (what cosign
/// writes and verifies).
pub trait Signer: Send + Sync {
    /// The DER signature of `message`.
    fn sign(&self, message: &[u8]) -> Vec<u8>;
    /// Extra layer annotations a signature carries (keyless: `dev.sigstore.cosign/certificate`,
    /// `dev.sigstore.cosign/chain`, `dev.sigstore.cosign/bundle`); none for a key.
    fn annotations(&self) -> BTreeMap<String, String> {
        BTreeMap::new()
    }
}

/// The tag cosign stores the signatures of `digest` under: `sha256-<hex>.sig`.
pub fn signature_tag(digest: &str) -> String {
    format!("{}.sig", digest.replacen(':', "-", 1))
}

/// The tag cosign stores the attestations of `digest` under: `sha256-<hex>.att`.
pub fn attestation_tag(digest: &str) -> String {
    format!("{}.att", digest.replacen(':', "-", 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_cosigns() {
        let d = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(signature_tag(&d), format!("sha256-{}.sig", "ab".repeat(32)));
        assert_eq!(
            attestation_tag(&d),
            format!("sha256-{}.att", "ab".repeat(32))
        );
    }
}
