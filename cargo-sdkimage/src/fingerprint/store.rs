//! The state of each image's last successful build under `target/sdkimage/state/`: the
//! state file (a JSON header, the stamps in postcard), the earlier all-JSON format still read,
//! writes atomic; the key and file name each image and platform is kept under.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{FileStamp, ImageState, InputDigests, Stamps};
use crate::error::{Error, Result};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
