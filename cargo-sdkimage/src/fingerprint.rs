//! Up-to-date checks: a fingerprint of everything that goes into an image, and the state of the
//! last successful build of each image under `target/sdkimage/state/`.
//!
//! File contents are hashed once and remembered by their stat (size, mtime, inode, ctime): a
//! no-op run only stats files, as cargo and git do.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::context::{Context, DiskStat, EntryKind};
use crate::error::{Error, Result};

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

/// Hash the context; reuses hashes of unchanged files from `previous`.
/// Returns the context's digest and the file stamps to remember.
pub fn hash_context(ctx: &Context, previous: Option<&ImageState>) -> Result<(String, Stamps)> {
    // Entries generated in memory are hashed below, with the tree.
    let files: Vec<&crate::context::ContextEntry> = ctx
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::File && e.data.is_none())
        .collect();
    let previous = previous.map(|p| &*p.files);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let chunk = files.len().div_ceil(threads).max(1);
    // Each thread's stamps in the order of `files`; one read buffer per thread, allocated only
    // when a file has to be read.
    let parts: Vec<Result<Vec<FileStamp>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    let mut buf = Vec::new();
                    part.iter()
                        .map(|e| {
                            let previous = previous.and_then(|p| p.get(&e.path));
                            stamp(&e.source, e.disk.as_ref(), previous, &mut buf)
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
    let mut stamps = Vec::with_capacity(files.len());
    for part in parts {
        stamps.extend(part?);
    }
    let mut stamps = stamps.into_iter();
    let mut kept = Vec::with_capacity(files.len());
    let mut h = Sha256::new();
    let mut hex_buf = [0u8; 64];
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
                let digest: [u8; 32] = match &e.data {
                    Some(data) => Sha256::digest(data).into(),
                    None => {
                        // `files` are these entries, in this order.
                        let stamp = stamps.next().expect("one stamp per file");
                        let hash = stamp.hash;
                        kept.push((e.path.clone(), stamp));
                        hash
                    }
                };
                hex::encode_to_slice(digest, &mut hex_buf).expect("64 hex digits");
                h.update(hex_buf);
            }
        }
        h.update(b"\0");
    }
    // Sorted already (the entries are): a bulk build.
    Ok((hex::encode(h.finalize()), kept.into_iter().collect()))
}

/// The stamp of the file at `path`, with `disk` its stat when the walk took it (else it is
/// taken here); `previous` is reused while the stat is the same. `buf` is the read buffer.
fn stamp(
    path: &Path,
    disk: Option<&DiskStat>,
    previous: Option<&FileStamp>,
    buf: &mut Vec<u8>,
) -> Result<FileStamp> {
    let stat = match disk {
        Some(stat) => *stat,
        None => DiskStat::of(
            &std::fs::metadata(path)
                .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?,
        ),
    };
    if let Some(p) = previous
        && p.matches_stat(&stat)
    {
        // A stamp of an older state gets the change time it lacked.
        return Ok(FileStamp {
            ctime_ns: Some(stat.ctime_ns),
            ..*p
        });
    }
    if buf.is_empty() {
        buf.resize(READ_BUF, 0);
    }
    let hash = digest_file(path, buf)?;
    Ok(FileStamp {
        size: stat.size,
        mtime_ns: stat.mtime_ns,
        inode: stat.inode,
        hash,
        ctime_ns: Some(stat.ctime_ns),
    })
}

/// The read buffer of [`digest_file`].
const READ_BUF: usize = 256 * 1024;

/// Streaming SHA-256 of a file, read through `buf`.
fn digest_file(path: &Path, buf: &mut [u8]) -> Result<[u8; 32]> {
    let mut file =
        File::open(path).map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
    let mut h = Sha256::new();
    loop {
        let n = file
            .read(buf)
            .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().into())
}

/// Streaming SHA-256 of a file, in hex.
pub fn hash_file(path: &Path) -> Result<String> {
    Ok(hex::encode(digest_file(path, &mut vec![0u8; READ_BUF])?))
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

/// The state folder of one workspace: `target/sdkimage/state/<image>.state`.
///
/// A state file is [`STATE_MAGIC`], the length of its header (4 bytes, little endian), the
/// header in JSON (everything but the file stamps), then the file stamps in postcard, a compact
/// binary serde format: 20,000 stamps take about 1.6 MB, read without parsing text and written
/// without a copy of the whole document. A state file of an earlier version
/// (`<image>.json`, all JSON) is still read; the next save replaces it.
pub struct StateStore {
    dir: PathBuf,
}

/// The first bytes of a state file (the format's version is in it).
pub const STATE_MAGIC: &[u8] = b"sdkimage-state 3\n";

/// The JSON part of a state file: everything but the file stamps.
#[derive(Serialize, Deserialize)]
struct StateHeader {
    fingerprint: String,
    id: String,
    refs: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    inputs: Option<InputDigests>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    build_ms: Option<u64>,
}

/// A state file of an earlier version: all JSON, each stamp's hash in hex.
#[derive(Deserialize)]
struct JsonState {
    fingerprint: String,
    id: String,
    refs: Vec<String>,
    #[serde(default)]
    files: BTreeMap<String, JsonStamp>,
    #[serde(default)]
    inputs: Option<InputDigests>,
    #[serde(default)]
    build_ms: Option<u64>,
}

#[derive(Deserialize)]
struct JsonStamp {
    size: u64,
    mtime_ns: i128,
    inode: u64,
    hash: String,
    #[serde(default)]
    ctime_ns: Option<i128>,
}

impl JsonState {
    /// A stamp whose hash is not 64 hex digits is dropped: its file is hashed again.
    fn into_state(self) -> ImageState {
        let files = self
            .files
            .into_iter()
            .filter_map(|(path, s)| {
                let mut hash = [0u8; 32];
                hex::decode_to_slice(&s.hash, &mut hash).ok()?;
                let stamp = FileStamp {
                    size: s.size,
                    mtime_ns: s.mtime_ns,
                    inode: s.inode,
                    hash,
                    ctime_ns: s.ctime_ns,
                };
                Some((path, stamp))
            })
            .collect();
        ImageState {
            fingerprint: self.fingerprint,
            id: self.id,
            refs: self.refs,
            files: Arc::new(files),
            inputs: self.inputs,
            build_ms: self.build_ms,
        }
    }
}

/// The length of a state file's header, from the file's first bytes; `None` when it is not
/// a state file.
fn split_state_len(bytes: &[u8]) -> Option<usize> {
    let rest = bytes.strip_prefix(STATE_MAGIC)?;
    let (len, _) = rest.split_first_chunk::<4>()?;
    Some(u32::from_le_bytes(*len) as usize)
}

/// A state file's header and where its stamps start; `None` when it is not one.
fn split_state(bytes: &[u8]) -> Option<(StateHeader, &[u8])> {
    let len = split_state_len(bytes)?;
    let rest = &bytes[STATE_MAGIC.len() + 4..];
    if rest.len() < len {
        return None;
    }
    let (header, stamps) = rest.split_at(len);
    Some((serde_json::from_slice(header).ok()?, stamps))
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

    fn path(&self, image: &str, ext: &str) -> PathBuf {
        self.dir.join(format!("{}.{ext}", file_stem(image)))
    }

    /// The state of `image` with its file stamps; `None` when there is none or it cannot be
    /// read (the image is then built).
    pub fn load(&self, image: &str) -> Option<ImageState> {
        self.load_as(image, true)
    }

    /// [`StateStore::load`] without the file stamps (`files` empty), for what needs only the
    /// id, refs and inputs.
    pub fn load_record(&self, image: &str) -> Option<ImageState> {
        self.load_as(image, false)
    }

    fn load_as(&self, image: &str, with_files: bool) -> Option<ImageState> {
        let mut file = match File::open(self.path(image, "state")) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let text = std::fs::read(self.path(image, "json")).ok()?;
                let state: JsonState = serde_json::from_slice(&text).ok()?;
                return Some(state.into_state());
            }
            Err(_) => return None,
        };
        let (header, files) = match with_files {
            true => {
                let mut bytes = Vec::new();
                file.read_to_end(&mut bytes).ok()?;
                let (header, stamps) = split_state(&bytes)?;
                (header, postcard::from_bytes::<Stamps>(stamps).ok()?)
            }
            // The header only: the stamps are not read.
            false => {
                let mut start = [0u8; STATE_MAGIC.len() + 4];
                file.read_exact(&mut start).ok()?;
                let len = split_state_len(&start)?;
                let mut header = vec![0u8; len];
                file.read_exact(&mut header).ok()?;
                (serde_json::from_slice(&header).ok()?, Stamps::new())
            }
        };
        Some(ImageState {
            fingerprint: header.fingerprint,
            id: header.id,
            refs: header.refs,
            files: Arc::new(files),
            inputs: header.inputs,
            build_ms: header.build_ms,
        })
    }

    /// Written to a temporary file and renamed: a crash never leaves a torn state file. The
    /// stamps are encoded straight into the file. A state file of an earlier version is removed.
    pub fn save(&self, image: &str, state: &ImageState) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| Error::io(format!("cannot create {}", self.dir.display()), e))?;
        let path = self.path(image, "state");
        let tmp = self.dir.join(format!(".{}.state.tmp", file_stem(image)));
        let header = serde_json::to_vec(&StateHeader {
            fingerprint: state.fingerprint.clone(),
            id: state.id.clone(),
            refs: state.refs.clone(),
            inputs: state.inputs.clone(),
            build_ms: state.build_ms,
        })
        .expect("state serializes");
        let write = || -> std::io::Result<()> {
            let mut out = std::io::BufWriter::with_capacity(64 * 1024, File::create(&tmp)?);
            out.write_all(STATE_MAGIC)?;
            out.write_all(&(header.len() as u32).to_le_bytes())?;
            out.write_all(&header)?;
            let mut out = postcard::to_io(&*state.files, out).map_err(std::io::Error::other)?;
            out.flush()?;
            drop(out);
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
        let _ = std::fs::remove_file(self.path(image, "json"));
        Ok(())
    }

    pub fn forget(&self, image: &str) {
        let _ = std::fs::remove_file(self.path(image, "state"));
        let _ = std::fs::remove_file(self.path(image, "json"));
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
    ) -> Result<(String, Stamps)> {
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
            files: Arc::new(stamps.clone()),
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

    /// A same-size rewrite whose mtime is put back (`touch -d`, an unpacked archive) keeps
    /// size, mtime and inode: the change time still tells, and the file is hashed again.
    #[test]
    fn a_same_size_change_with_its_mtime_put_back_is_hashed_again() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "one").unwrap();
        let (fp1, stamps) = compute(&context_of(dir.path()), &Inputs::default(), None).unwrap();
        assert!(stamps["a.txt"].ctime_ns.is_some());
        let state = ImageState {
            fingerprint: fp1.clone(),
            files: Arc::new(stamps),
            ..Default::default()
        };
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        // The change time moves in clock ticks: make sure one passed.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&path, "two").unwrap();
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let (fp2, stamps2) =
            compute(&context_of(dir.path()), &Inputs::default(), Some(&state)).unwrap();
        assert_ne!(fp1, fp2);
        assert_eq!(
            hex::encode(stamps2["a.txt"].hash),
            hash_file(&path).unwrap()
        );
    }

    fn some_stamps() -> Stamps {
        (0..3u8)
            .map(|i| {
                let stamp = FileStamp {
                    size: 1 << (20 + i),
                    mtime_ns: 1_700_000_000_123_456_789 + i as i128,
                    inode: 42 + i as u64,
                    hash: [i; 32],
                    ctime_ns: (i > 0).then_some(-5 - i as i128),
                };
                (format!("data/{i}.bin"), stamp)
            })
            .collect()
    }

    #[test]
    fn state_round_trips_and_is_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path());
        assert!(store.load("a/img").is_none());
        let state = ImageState {
            fingerprint: "f".into(),
            id: "sha256:1".into(),
            refs: vec!["a:b".into()],
            files: Arc::new(some_stamps()),
            inputs: Some(InputDigests {
                context: "c".into(),
                ..Default::default()
            }),
            build_ms: Some(7),
        };
        store.save("a/img", &state).unwrap();
        let file = dir.path().join("state/a%2Fimg.state");
        assert!(std::fs::read(&file).unwrap().starts_with(STATE_MAGIC));
        let back = store.load("a/img").unwrap();
        assert_eq!(back, state);
        // Without the stamps: the same record, no files.
        let record = store.load_record("a/img").unwrap();
        assert_eq!((record.id.as_str(), record.files.len()), ("sha256:1", 0));
        // A torn or foreign file is no state (the image is built).
        let bytes = std::fs::read(&file).unwrap();
        std::fs::write(&file, &bytes[..bytes.len() - 10]).unwrap();
        assert!(store.load("a/img").is_none());
        std::fs::write(&file, b"{}").unwrap();
        assert!(store.load("a/img").is_none());
        store.save("a/img", &state).unwrap();
        store.forget("a/img");
        assert!(store.load("a/img").is_none());
        assert!(!file.exists());
    }

    /// A state written by an earlier version (all JSON, hashes in hex) is read, stamps
    /// included, so the first run after an upgrade reads no file again; the next save
    /// replaces it.
    #[test]
    fn a_state_of_the_earlier_json_format_is_read_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path());
        std::fs::create_dir_all(dir.path().join("state")).unwrap();
        let old = dir.path().join("state/img.json");
        let hash = "ab".repeat(32);
        std::fs::write(
            &old,
            format!(
                r#"{{"fingerprint":"sha256:f","id":"sha256:1","refs":["r:1"],
                "files":{{
                  "a.txt":{{"size":3,"mtime_ns":1700000000000000001,"inode":9,"hash":"{hash}","ctime_ns":1700000000000000002}},
                  "old.txt":{{"size":4,"mtime_ns":5,"inode":10,"hash":"{hash}"}},
                  "bad.txt":{{"size":4,"mtime_ns":5,"inode":11,"hash":"not hex"}}
                }},
                "inputs":{{"dockerfile":"Dockerfile","context":"c","build_args":{{}},"dependency_ids":[],"bases":[],"licenses":null,"builder":"buildkit","platform":null,"target":null}},
                "build_ms":12}}"#
            ),
        )
        .unwrap();
        let state = store.load("img").unwrap();
        assert_eq!((state.id.as_str(), state.build_ms), ("sha256:1", Some(12)));
        assert_eq!(state.inputs.as_ref().unwrap().context, "c");
        assert_eq!(
            state.files["a.txt"],
            FileStamp {
                size: 3,
                mtime_ns: 1_700_000_000_000_000_001,
                inode: 9,
                hash: [0xab; 32],
                ctime_ns: Some(1_700_000_000_000_000_002),
            }
        );
        assert_eq!(state.files["old.txt"].ctime_ns, None);
        // A stamp that cannot be read is dropped: that file is hashed again.
        assert!(!state.files.contains_key("bad.txt"));
        store.save("img", &state).unwrap();
        assert!(!old.exists());
        assert_eq!(store.load("img").unwrap().files, state.files);
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
