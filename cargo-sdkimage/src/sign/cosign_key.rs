//! cosign's encrypted private key: a PEM block (`ENCRYPTED SIGSTORE PRIVATE KEY`, or
//! `ENCRYPTED COSIGN PRIVATE KEY` from older cosign) whose body is the JSON of
//! go-securesystemslib's `encrypted` package: an scrypt KDF (`N`, `r`, `p`, salt) and a NaCl
//! secretbox (XSalsa20-Poly1305) nonce and ciphertext, all byte strings in standard base64. The
//! plaintext is the PKCS#8 DER of the EC key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Nonce, XSalsa20Poly1305};
use serde::{Deserialize, Serialize};

use super::error::KeyError;
pub use super::error::PASSWORD_ENV;

/// The PEM labels of cosign's encrypted keys, newest first.
pub const LABELS: [&str; 2] = [
    "ENCRYPTED SIGSTORE PRIVATE KEY",
    "ENCRYPTED COSIGN PRIVATE KEY",
];

#[derive(Debug, Serialize, Deserialize)]
struct Encrypted {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct ScryptParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Debug, Serialize, Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

/// The secretbox key scrypt derives from `password`.
fn derive(password: &str, salt: &[u8], params: &ScryptParams) -> Result<[u8; 32], KeyError> {
    if !params.n.is_power_of_two() || params.n < 2 {
        return Err(KeyError::ScryptN { n: params.n });
    }
    let log_n = params.n.trailing_zeros() as u8;
    let scrypt_params =
        scrypt::Params::new(log_n, params.r, params.p).map_err(|_| KeyError::ScryptParams)?;
    let mut key = [0u8; 32];
    scrypt::scrypt(password.as_bytes(), salt, &scrypt_params, &mut key)
        .map_err(|_| KeyError::Scrypt)?;
    Ok(key)
}

/// The PKCS#8 DER inside an encrypted key's PEM body (`json`).
pub fn decrypt(json: &[u8], password: &str) -> Result<Vec<u8>, KeyError> {
    let data: Encrypted = serde_json::from_slice(json).map_err(|_| KeyError::CosignNotJson)?;
    if data.kdf.name != "scrypt" || data.cipher.name != "nacl/secretbox" {
        return Err(KeyError::CosignAlgorithms {
            kdf: data.kdf.name,
            cipher: data.cipher.name,
        });
    }
    let b64 = |s: &str, what| {
        STANDARD
            .decode(s)
            .map_err(|_| KeyError::CosignNotBase64 { what })
    };
    let salt = b64(&data.kdf.salt, "salt")?;
    let nonce = b64(&data.cipher.nonce, "nonce")?;
    let ciphertext = b64(&data.ciphertext, "ciphertext")?;
    if nonce.len() != 24 {
        return Err(KeyError::CosignNonceLength);
    }
    let key = derive(password, &salt, &data.kdf.params)?;
    XSalsa20Poly1305::new(&key.into())
        .decrypt(Nonce::from_slice(&nonce), ciphertext.as_slice())
        .map_err(|_| KeyError::WrongPassword)
}

/// Encrypt `pkcs8_der` as cosign does (N = 32768, r = 8, p = 1), with the given salt and
/// nonce; the PEM text. Used by tests and to check decryption both ways.
pub fn encrypt(pkcs8_der: &[u8], password: &str, salt: [u8; 32], nonce: [u8; 24]) -> String {
    let params = ScryptParams {
        n: 32768,
        r: 8,
        p: 1,
    };
    let key = derive(password, &salt, &params).expect("cosign's parameters are valid");
    let ciphertext = XSalsa20Poly1305::new(&key.into())
        .encrypt(Nonce::from_slice(&nonce), pkcs8_der)
        .expect("secretbox encrypts");
    let data = Encrypted {
        kdf: Kdf {
            name: "scrypt".into(),
            params,
            salt: STANDARD.encode(salt),
        },
        cipher: Cipher {
            name: "nacl/secretbox".into(),
            nonce: STANDARD.encode(nonce),
        },
        ciphertext: STANDARD.encode(ciphertext),
    };
    let json = serde_json::to_vec(&data).expect("serializes");
    let body = STANDARD.encode(json);
    let mut pem = format!("-----BEGIN {}-----\n", LABELS[0]);
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {}-----\n", LABELS[0]));
    pem
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::key::parse_private_key;
    use p256::pkcs8::EncodePrivateKey as _;

    #[test]
    fn an_encrypted_key_decrypts_with_its_password_only() {
        let plain = parse_private_key(include_str!("testdata/ec.pem"), None).unwrap();
        let secret = plain.secret_key();
        let der = secret.to_pkcs8_der().unwrap();
        let pem = encrypt(der.as_bytes(), "hunter2", [7; 32], [9; 24]);
        let key = parse_private_key(&pem, Some("hunter2")).unwrap();
        assert_eq!(key.verifying_key(), plain.verifying_key());
        let e = parse_private_key(&pem, Some("wrong"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("wrong password"), "{e}");
        assert!(!e.contains("hunter2"));
    }
}
