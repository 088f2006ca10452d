//! Why a key does not load (`KeyError`) and why a stored signature or attestation does not
//! verify (`VerifyError`). No message holds a byte of a key or a password.

/// The environment variable cosign reads the password of an encrypted key from (here, beside
/// the messages that name it; `cosign_key` re-exports it).
pub const PASSWORD_ENV: &str = "COSIGN_PASSWORD";

/// What is wrong with a key file's text (a private key, cosign's encrypted key, a public key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the {label} block has no END line")]
    UnclosedBlock { label: String },
    #[error("the {label} block is not base64")]
    BlockNotBase64 { label: String },
    /// A private key block of the right label that is not an EC P-256 key; `what` names the
    /// block (`EC PRIVATE KEY`, `PKCS#8 PRIVATE KEY`, `decrypted cosign key`).
    #[error(
        "the {what} is not an EC P-256 (prime256v1) key; cosign keys and `openssl ecparam -genkey -name prime256v1` keys are"
    )]
    WrongCurve { what: &'static str },
    #[error(
        "it is cosign's encrypted key; set {} to its password (it may be empty: COSIGN_PASSWORD=)",
        PASSWORD_ENV
    )]
    NoPassword,
    #[error(
        "an encrypted PKCS#8 key is not supported; decrypt it (`openssl pkcs8 -in KEY -out PLAIN`) or use cosign's encrypted key"
    )]
    EncryptedPkcs8,
    #[error(
        "no PEM block; expected an EC P-256 private key in PEM (`EC PRIVATE KEY`, `PRIVATE KEY` or cosign's `ENCRYPTED SIGSTORE PRIVATE KEY`)"
    )]
    NoPemBlock,
    #[error(
        "no private key among its PEM blocks ({}); expected `EC PRIVATE KEY`, `PRIVATE KEY` or cosign's `ENCRYPTED SIGSTORE PRIVATE KEY`",
        .labels.join(", ")
    )]
    NoPrivateKey { labels: Vec<String> },
    #[error(
        "no PUBLIC KEY block; expected an EC P-256 public key in PEM (cosign.pub, `openssl ec -in KEY -pubout`)"
    )]
    NoPublicKey,
    #[error("the PUBLIC KEY is not an EC P-256 (prime256v1) key")]
    PublicKeyWrongCurve,
    #[error("cosign's encrypted key is not the JSON cosign writes (kdf, cipher, ciphertext)")]
    CosignNotJson,
    #[error(
        "cosign's encrypted key uses {kdf} and {cipher}; only scrypt and nacl/secretbox (what cosign writes) are known"
    )]
    CosignAlgorithms { kdf: String, cipher: String },
    #[error("cosign's encrypted key: its {what} is not base64")]
    CosignNotBase64 { what: &'static str },
    #[error("cosign's encrypted key: its nonce is not 24 bytes")]
    CosignNonceLength,
    #[error("its scrypt N ({n}) is not a power of two")]
    ScryptN { n: u64 },
    #[error("its scrypt parameters are out of range")]
    ScryptParams,
    #[error("scrypt failed")]
    Scrypt,
    #[error("{} does not decrypt it (wrong password)", PASSWORD_ENV)]
    WrongPassword,
}

/// Why a stored signature or attestation does not verify with the key. `verify` shows it after
/// the image and manifest it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the signed payload is not cosign's simple-signing JSON ({0})")]
    PayloadNotJson(String),
    #[error("the signed payload's type is {found:?}, not {expected:?}")]
    PayloadType {
        found: String,
        expected: &'static str,
    },
    #[error("the signed payload names {named}, not {digest} (a signature of another image)")]
    OtherDigest { named: String, digest: String },
    #[error("its signature manifest holds no signature")]
    NoSignature,
    #[error(
        "none of its {total} signature(s) verifies with the key ({unsigned} signed by another key or changed after signing)"
    )]
    NoSignatureVerifies { total: usize, unsigned: usize },
    #[error("the attestation is not a DSSE envelope ({0})")]
    NotEnvelope(String),
    #[error("the envelope's payload is not base64")]
    EnvelopePayloadNotBase64,
    #[error("none of the envelope's {count} signature(s) verifies with the key")]
    NoEnvelopeSignatureVerifies { count: usize },
    /// An attestation layer (named by its predicate type) and what is wrong with it.
    #[error("{what}: {problem}")]
    Attestation {
        what: String,
        problem: Box<VerifyError>,
    },
    #[error("its bytes do not match its digest")]
    DigestMismatch,
    #[error("the envelope holds {0}, not an in-toto statement")]
    NotInToto(String),
    #[error("not an in-toto statement ({0})")]
    NotStatement(String),
    #[error("the statement is about {subjects}, not {digest}")]
    OtherSubject { subjects: String, digest: String },
    #[error("its attestation manifest holds no attestation")]
    NoAttestation,
    #[error("not an OCI image manifest ({0})")]
    NotManifest(String),
}
