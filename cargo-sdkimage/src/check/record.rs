//! A passed check, remembered beside the image's state (`target/sdkimage/state/<image>.check.json`)
//! so that `build --check` does not check an unchanged image again: the image id and the
//! contract it met must both be the same, and the Python version found must still be supported
//! today.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::manifest::contract::ImageContract;

/// What is remembered of a passed check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRecord {
    /// The image id that passed.
    pub id: String,
    /// [`contract_digest`] of the contract it met.
    pub contract: String,
    /// The Python version found, re-judged against the end-of-life table on reuse.
    pub python: Option<(u32, u32)>,
}

/// A digest of an expanded contract (and of what `check` verifies besides it).
pub fn contract_digest(contract: &ImageContract) -> String {
    let mut h = Sha256::new();
    h.update(b"sdkimage-check-v1\0");
    h.update(serde_json::to_vec(contract).expect("contracts serialize"));
    format!("sha256:{}", hex::encode(h.finalize()))
}

fn path(state_dir: &Path, image: &str) -> PathBuf {
    state_dir.join("state").join(format!(
        "{}.check.json",
        crate::fingerprint::file_stem(image)
    ))
}

/// Whether image `image` (now `id`) passed a check of `contract` before, and still would.
pub fn passed_before(state_dir: &Path, image: &str, id: &str, contract: &ImageContract) -> bool {
    let Some(record) = std::fs::read(path(state_dir, image))
        .ok()
        .and_then(|text| serde_json::from_slice::<CheckRecord>(&text).ok())
    else {
        return false;
    };
    record.id == id
        && record.contract == contract_digest(contract)
        && record.python.is_none_or(|(major, minor)| {
            super::python::verdict(major, minor, super::python::today()).is_supported()
        })
}

/// Remember that `image` (`record.id`) passed.
pub fn save(state_dir: &Path, image: &str, record: &CheckRecord) -> crate::Result<()> {
    let file = path(state_dir, image);
    let dir = file.parent().expect("inside the state folder");
    std::fs::create_dir_all(dir)
        .map_err(|e| crate::Error::io(format!("cannot create {}", dir.display()), e))?;
    let tmp = dir.join(format!(".{}.tmp", crate::fingerprint::file_stem(image)));
    std::fs::write(&tmp, serde_json::to_vec(record).expect("records serialize"))
        .and_then(|()| std::fs::rename(&tmp, &file))
        .map_err(|e| crate::Error::io(format!("cannot write {}", file.display()), e))
}

/// Forget a pass of `image` (its check failed).
pub fn forget(state_dir: &Path, image: &str) {
    let _ = std::fs::remove_file(path(state_dir, image));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_counts_for_the_same_image_and_contract_only() {
        let dir = tempfile::tempdir().unwrap();
        let contract = ImageContract {
            tools: vec!["curl".into()],
            ..Default::default()
        };
        assert!(!passed_before(dir.path(), "img", "sha256:1", &contract));
        let record = CheckRecord {
            id: "sha256:1".into(),
            contract: contract_digest(&contract),
            python: Some((3, 13)),
        };
        save(dir.path(), "img", &record).unwrap();
        assert!(passed_before(dir.path(), "img", "sha256:1", &contract));
        assert!(!passed_before(dir.path(), "img", "sha256:2", &contract));
        let other = ImageContract {
            tools: vec!["wget".into()],
            ..Default::default()
        };
        assert!(!passed_before(dir.path(), "img", "sha256:1", &other));
        // A Python that reached its end of life since is checked again.
        let old = CheckRecord {
            python: Some((3, 7)),
            ..record
        };
        save(dir.path(), "img", &old).unwrap();
        assert!(!passed_before(dir.path(), "img", "sha256:1", &contract));
        forget(dir.path(), "img");
        assert!(!passed_before(dir.path(), "img", "sha256:1", &contract));
    }
}
