//! Up-to-date checks: a fingerprint of everything that goes into an image, and the state of the
//! last successful build of each image under `target/sdkimage/state/`.
//!
//! File contents are hashed once and remembered by (size, mtime, inode, mode): a no-op run only
//! stats files, as cargo and git do.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::context::{Context, EntryKind};
use crate::error::{Error, Result};

/// What is remembered of one image's last successful build.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ImageState {
    pub fingerprint: String,
    pub id: String,
    /// The refs the image was tagged with.
    pub refs: Vec<String>,
    /// Content hashes of context files by path, keyed with their stat.
    #[serde(default)]
    pub files: BTreeMap<String, FileStamp>,
    /// What the fingerprint was made of, input by input, so `build --print` can say which
    /// input changed (absent in states written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<InputDigests>,
    /// How long its last real build took, in milliseconds (the scheduler's cost estimate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStamp {
    pub size: u64,
    pub mtime_ns: i128,
    pub inode: u64,
    pub hash: String,
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

/// Hash the context; reuses hashes of unchanged files from `previous`.
/// Returns the context's digest and the file stamps to remember.
pub fn hash_context(
    ctx: &Context,
    previous: Option<&ImageState>,
) -> Result<(String, BTreeMap<String, FileStamp>)> {
    // Entries generated in memory are hashed below, with the tree.
    let files: Vec<&crate::context::ContextEntry> = ctx
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::File && e.data.is_none())
        .collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let chunk = files.len().div_ceil(threads).max(1);
    let stamps: Vec<Result<Vec<(String, FileStamp)>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|e| {
                            stamp(&e.source, previous.and_then(|p| p.files.get(&e.path)))
                                .map(|s| (e.path.clone(), s))
                        })
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("hash thread"))
            .collect()
    });
    let mut stamp_map = BTreeMap::new();
    for part in stamps {
        stamp_map.extend(part?);
    }
    let mut h = Sha256::new();
    for e in &ctx.entries {
        h.update(e.path.as_bytes());
        h.update(b"\0");
        h.update(e.mode.to_le_bytes());
        match &e.kind {
            EntryKind::Dir => h.update(b"d"),
            EntryKind::Symlink { target } => {
                h.update(b"l");
                h.update(target.as_bytes());
            }
            EntryKind::File => {
                h.update(b"f");
                match &e.data {
                    Some(data) => h.update(hex::encode(Sha256::digest(data)).as_bytes()),
                    None => h.update(stamp_map[&e.path].hash.as_bytes()),
                }
            }
        }
        h.update(b"\0");
    }
    Ok((hex::encode(h.finalize()), stamp_map))
}

fn stamp(path: &Path, previous: Option<&FileStamp>) -> Result<FileStamp> {
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
    let (mtime_ns, inode) = stat_key(&meta);
    if let Some(p) = previous
        && p.size == meta.len()
        && p.mtime_ns == mtime_ns
        && p.inode == inode
    {
        return Ok(p.clone());
    }
    let hash = hash_file(path)?;
    Ok(FileStamp {
        size: meta.len(),
        mtime_ns,
        inode,
        hash,
    })
}

#[cfg(unix)]
fn stat_key(meta: &std::fs::Metadata) -> (i128, u64) {
    use std::os::unix::fs::MetadataExt;
    (
        meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
        meta.ino(),
    )
}

#[cfg(not(unix))]
fn stat_key(meta: &std::fs::Metadata) -> (i128, u64) {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i128);
    (mtime, 0)
}

/// Streaming SHA-256 of a file.
pub fn hash_file(path: &Path) -> Result<String> {
    let mut file =
        File::open(path).map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Hash of a set of files by content (missing files count as absent), for license inputs.
pub fn hash_paths(paths: &[PathBuf]) -> String {
    let mut h = Sha256::new();
    for p in paths {
        h.update(p.to_string_lossy().as_bytes());
        h.update(b"\0");
        if p.is_file() {
            h.update(hash_file(p).unwrap_or_default().as_bytes());
        } else if p.is_dir() {
            for entry in walkdir::WalkDir::new(p)
                .sort_by_file_name()
                .into_iter()
                .flatten()
            {
                if entry.file_type().is_file() {
                    h.update(entry.path().to_string_lossy().as_bytes());
                    h.update(hash_file(entry.path()).unwrap_or_default().as_bytes());
                }
            }
        }
    }
    hex::encode(h.finalize())
}

/// An image name as a file name: a `/` (allowed in image names) is escaped.
pub fn file_stem(image: &str) -> String {
    image.replace('%', "%25").replace('/', "%2F")
}

/// The key one platform of an image is recorded under: the image's name for its main platform
/// (the one its refs name locally), `<name>@<platform slug>` for another (`slug`).
pub fn state_key(image: &str, slug: Option<&str>) -> String {
    match slug {
        None => image.to_string(),
        Some(slug) => format!("{image}@{slug}"),
    }
}

/// The state folder of one workspace: `target/sdkimage/state/<image>.json`.
pub struct StateStore {
    dir: PathBuf,
}

impl StateStore {
    /// `<target>/sdkimage`, the folder holding this store.
    pub fn state_dir(&self) -> &Path {
        self.dir.parent().unwrap_or(&self.dir)
    }

    pub fn new(state_dir: &Path) -> StateStore {
        StateStore {
            dir: state_dir.join("state"),
        }
    }

    pub fn load(&self, image: &str) -> Option<ImageState> {
        let text = std::fs::read(self.dir.join(format!("{}.json", file_stem(image)))).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Written to a temporary file and renamed: a crash never leaves a torn state file.
    pub fn save(&self, image: &str, state: &ImageState) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| Error::io(format!("cannot create {}", self.dir.display()), e))?;
        let path = self.dir.join(format!("{}.json", file_stem(image)));
        let tmp = self.dir.join(format!(".{}.json.tmp", file_stem(image)));
        std::fs::write(&tmp, serde_json::to_vec(state).expect("state serializes"))
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))
    }

    pub fn forget(&self, image: &str) {
        let _ = std::fs::remove_file(self.dir.join(format!("{}.json", file_stem(image))));
    }
}

/// An exclusive lock on the workspace's state, held for the whole run.
pub struct StateLock {
    _file: File,
}

impl StateLock {
    /// Take the lock; when another run holds it, say so and wait.
    pub fn acquire(state_dir: &Path, on_wait: impl FnOnce()) -> Result<StateLock> {
        std::fs::create_dir_all(state_dir)
            .map_err(|e| Error::io(format!("cannot create {}", state_dir.display()), e))?;
        let path = state_dir.join("lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                on_wait();
                file.lock()
                    .map_err(|e| Error::io(format!("cannot lock {}", path.display()), e))?;
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Error::io(format!("cannot lock {}", path.display()), e));
            }
        }
        Ok(StateLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{ContextSpec, collect};

    fn compute(
        ctx: &Context,
        inputs: &Inputs,
        previous: Option<&ImageState>,
    ) -> Result<(String, BTreeMap<String, FileStamp>)> {
        let (digest, stamps) = hash_context(ctx, previous)?;
        Ok((fingerprint(inputs, &digest), stamps))
    }

    fn context_of(dir: &Path) -> Context {
        collect(&ContextSpec {
            root: dir.to_path_buf(),
            dockerfile: dir.join("Dockerfile"),
            copies: vec![],
            skip: vec![],
            workspace: dir.to_path_buf(),
        })
        .unwrap()
    }

    #[test]
    fn fingerprint_follows_contents_modes_and_inputs_and_reuses_hashes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::write(dir.path().join("a.txt"), "one").unwrap();
        let inputs = Inputs::default();
        let (fp1, stamps) = compute(&context_of(dir.path()), &inputs, None).unwrap();
        let state = ImageState {
            fingerprint: fp1.clone(),
            id: "sha256:x".into(),
            refs: vec![],
            files: stamps.clone(),
            inputs: None,
            build_ms: None,
        };
        // Unchanged: same fingerprint; the stamps are reused as they are.
        let (fp2, stamps2) = compute(&context_of(dir.path()), &inputs, Some(&state)).unwrap();
        assert_eq!(fp1, fp2);
        assert_eq!(stamps, stamps2);
        // A stale stamp with the same stat would be trusted: that is the point of stamps.
        // A content change (new size) is seen.
        std::fs::write(dir.path().join("a.txt"), "two!").unwrap();
        let (fp3, _) = compute(&context_of(dir.path()), &inputs, Some(&state)).unwrap();
        assert_ne!(fp1, fp3);
        // Build args count.
        let mut other = Inputs::default();
        other.build_args.insert("A".into(), "1".into());
        let (fp4, _) = compute(&context_of(dir.path()), &other, None).unwrap();
        assert_ne!(fp3, fp4);
        // So do external bases, by id.
        let mut based = Inputs {
            bases: vec!["sha256:1".into()],
            ..Default::default()
        };
        let (fp_b1, _) = compute(&context_of(dir.path()), &based, None).unwrap();
        based.bases = vec!["sha256:2".into()];
        let (fp_b2, _) = compute(&context_of(dir.path()), &based, None).unwrap();
        assert_ne!(fp_b1, fp_b2);
        assert_ne!(fp3, fp_b1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                dir.path().join("a.txt"),
                std::fs::Permissions::from_mode(0o600),
            )
            .unwrap();
            let (fp5, _) = compute(&context_of(dir.path()), &inputs, None).unwrap();
            assert_ne!(fp3, fp5);
        }
    }

    #[test]
    fn state_round_trips_and_is_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path());
        assert!(store.load("img").is_none());
        let state = ImageState {
            fingerprint: "f".into(),
            id: "sha256:1".into(),
            refs: vec!["a:b".into()],
            files: BTreeMap::new(),
            inputs: None,
            build_ms: None,
        };
        store.save("img", &state).unwrap();
        assert_eq!(store.load("img").unwrap().id, "sha256:1");
        store.forget("img");
        assert!(store.load("img").is_none());
    }

    #[test]
    fn a_second_run_waits_for_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let first =
            StateLock::acquire(dir.path(), || panic!("the first run does not wait")).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let path = dir.path().to_path_buf();
        let second = std::thread::spawn(move || {
            let waited = std::sync::atomic::AtomicBool::new(false);
            let lock = StateLock::acquire(&path, || {
                waited.store(true, std::sync::atomic::Ordering::SeqCst)
            })
            .unwrap();
            tx.send(()).unwrap();
            drop(lock);
            waited.load(std::sync::atomic::Ordering::SeqCst)
        });
        // The second run is blocked while the first holds the lock.
        assert!(
            rx.recv_timeout(std::time::Duration::from_millis(300))
                .is_err()
        );
        drop(first);
        rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        assert!(second.join().unwrap(), "the second run said it was waiting");
    }
}
