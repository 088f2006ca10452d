//! Up-to-date checks: a fingerprint of everything that goes into an image, and the state of the
//! last successful build of each image under `target/sdkimage/state/`.
//!
//! File contents are hashed once and remembered by their stat (size, mtime, inode, ctime): a
//! no-op run only stats files, as cargo and git do.
//!
//! Here: what a state holds and what a fingerprint is made of; `hash.rs` the hashing and the
//! stamps, `store.rs` the state files, `lock.rs` the workspace lock.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::context::DiskStat;

mod hash;
mod lock;
mod store;

pub use hash::{hash_context, hash_file, hash_paths};
pub use lock::StateLock;
pub use store::{STATE_MAGIC, StateStore, file_stem, state_key};

/// The file stamps of a context by path ([`hash_context`]).
pub type Stamps = BTreeMap<String, FileStamp>;

/// What is remembered of one image's last successful build (stored by [`StateStore`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageState {
    pub fingerprint: String,
    pub id: String,
    /// The refs the image was tagged with.
    pub refs: Vec<String>,
    /// Content hashes of context files by path, keyed with their stat; shared, not copied,
    /// between the up-to-date check, the file sync and the state written after the build.
    pub files: Arc<Stamps>,
    /// What the fingerprint was made of, input by input, so `build --print` can say which
    /// input changed (absent in states written before it existed).
    pub inputs: Option<InputDigests>,
    /// How long its last real build took, in milliseconds (the scheduler's cost estimate).
    pub build_ms: Option<u64>,
}

/// The parts of a fingerprint, each on its own: the [`Inputs`] with build arg values and the
/// license inputs as digests (a state file holds no build arg's value), and the context's
/// digest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputDigests {
    pub dockerfile: String,
    pub context: String,
    /// Build arg -> digest of its value (ours by image id).
    pub build_args: BTreeMap<String, String>,
    pub dependency_ids: Vec<String>,
    pub bases: Vec<String>,
    pub licenses: Option<String>,
    pub builder: String,
    pub platform: Option<String>,
    pub target: Option<String>,
    #[serde(default)]
    pub inline_cache: bool,
    /// Label -> digest of its value (the labels that count in the fingerprint).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl InputDigests {
    pub fn of(inputs: &Inputs, context_digest: &str) -> InputDigests {
        let digest = |v: &str| hex::encode(Sha256::digest(v.as_bytes()));
        InputDigests {
            dockerfile: inputs.dockerfile.clone(),
            context: context_digest.to_string(),
            build_args: inputs
                .build_args
                .iter()
                .map(|(k, v)| (k.clone(), digest(v)))
                .collect(),
            dependency_ids: inputs.dependency_ids.clone(),
            bases: inputs.bases.clone(),
            licenses: inputs.licenses.clone(),
            builder: inputs.builder.clone(),
            platform: inputs.platform.clone(),
            target: inputs.target.clone(),
            inline_cache: inputs.inline_cache,
            labels: inputs
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), digest(v)))
                .collect(),
        }
    }
}

/// A file's SHA-256 (`hash`, 32 bytes) and the stat it was read with. The stamp stands for
/// the file while its stat is the same ([`FileStamp::matches`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStamp {
    pub size: u64,
    pub mtime_ns: i128,
    pub inode: u64,
    pub hash: [u8; 32],
    /// The inode's change time: every write moves it, and no one can set it back (`touch -d`
    /// sets mtime only). Absent in states written before it was recorded.
    pub ctime_ns: Option<i128>,
}

impl FileStamp {
    /// Whether a file with stat `meta` is still the file this stamp was made of.
    pub fn matches(&self, meta: &std::fs::Metadata) -> bool {
        self.matches_stat(&DiskStat::of(meta))
    }

    /// [`FileStamp::matches`] of a stat already taken.
    pub fn matches_stat(&self, stat: &DiskStat) -> bool {
        self.size == stat.size
            && self.mtime_ns == stat.mtime_ns
            && self.inode == stat.inode
            && self.ctime_ns.is_none_or(|c| c == stat.ctime_ns)
    }
}

/// The non-file inputs of an image.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Inputs {
    pub dockerfile: String,
    /// Build args with args that name one of our images replaced by that image's id.
    pub build_args: BTreeMap<String, String>,
    /// Ids of the images this one depends on.
    pub dependency_ids: Vec<String>,
    /// The engine's id of each external `FROM` image (after arg expansion), in order, so a
    /// base that changed under the same name rebuilds the images on it. By id only: the names
    /// are in the Dockerfile and build args already, and a new tag of the same base is no
    /// change. `--no-cache` is not an input: it forces a rebuild of the same inputs, and the
    /// next ordinary build matches.
    pub bases: Vec<String>,
    /// A digest of the license inputs, when licenses are pulled into the image.
    pub licenses: Option<String>,
    /// `buildkit` or `classic`: the builders make different images of the same inputs.
    pub builder: String,
    /// The platform built (`None`: the engine's own, with no platform asked for).
    pub platform: Option<String>,
    /// The Dockerfile stage built.
    pub target: Option<String>,
    /// The inline cache is exported: it is written into the image's config (a different image
    /// id), and an image built without it gives a cold runner nothing to import. Cache sources
    /// (`cache-from`) are no input: they change where layers come from, not what is built.
    /// Absent when off, so fingerprints recorded before it existed still match.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub inline_cache: bool,
    /// The image's labels but the default revision and created (`crate::labels`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// The fingerprint of an image: its non-file inputs and the digest of its context
/// ([`hash_context`]).
pub fn fingerprint(inputs: &Inputs, context_digest: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"sdkimage-fingerprint-v2\0");
    h.update(serde_json::to_vec(inputs).expect("inputs serialize"));
    h.update(context_digest.as_bytes());
    format!("sha256:{}", hex::encode(h.finalize()))
}
