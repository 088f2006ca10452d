//! An image exported from an engine (`GET /images/get?names=<id>`, the seam's
//! `EngineApi::save_image`) streamed into a file under the state folder, never whole in
//! memory, and read back in place: the outer tar is indexed once (each member's offset and
//! size), then `manifest.json`, the config and every layer are read from the file by seeking.
//!
//! Both layouts `docker save` writes are read: the legacy one (`<id>/layer.tar`, the config as
//! `<hex>.json`, Docker ≤ 24) and the OCI layout one (`blobs/sha256/<hex>`, Docker ≥ 25, where
//! `<id>/layer.tar` may be a symlink into `blobs/`). A layer stored compressed (gzip) is
//! decompressed when opened, so [`ExportedImage::open_layer`] always yields the uncompressed
//! tar whose digest is the layer's diff id.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use futures_util::StreamExt;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use crate::engine::{EngineApi, EngineError};
use crate::error::{Error, Result};

/// One image as the engine exported it, kept in a file and read in place.
#[derive(Debug)]
pub struct ExportedImage {
    /// The `docker save` tar on disk.
    path: PathBuf,
    /// The config blob, byte for byte (its sha256 is the engine's image id).
    pub config: Vec<u8>,
    /// `rootfs.diff_ids` of the config: the digests of the uncompressed layer tars, base first.
    pub diff_ids: Vec<String>,
    /// Where each layer's bytes are in the file, in `diff_ids` order.
    layers: Vec<Member>,
}

/// A regular file inside the outer tar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Member {
    offset: u64,
    size: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SaveManifestEntry {
    config: String,
    layers: Vec<String>,
}

#[derive(Deserialize)]
struct ConfigRootfs {
    rootfs: Rootfs,
}

#[derive(Deserialize)]
struct Rootfs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

/// The file an image id is exported to under `dir`.
pub fn export_path(dir: &Path, id: &str) -> PathBuf {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    dir.join(format!("{hex}.tar"))
}

/// Remove the exports in `dir` no run has used since `since` (a push's start): an export is
/// kept only for the next push of the same image (which then needs no export), so the folder
/// holds at most the images of the last push, not one full image per version ever pushed.
/// Best effort.
pub fn prune_exports(dir: &Path, since: std::time::SystemTime) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|modified| modified < since);
        if stale && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Export image `id` from `engine` into `dest` (written beside it, then renamed, so a file at
/// `dest` is always complete), streamed chunk by chunk.
pub async fn export(engine: &dyn EngineApi, id: &str, dest: &Path) -> Result<()> {
    let io_error = |context: String| move |source| Error::Io { context, source };
    if let Some(parent) = dest.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(io_error(format!("cannot create {}", parent.display())))?;
    }
    let partial = dest.with_extension("tar.partial");
    let mut file = tokio::fs::File::create(&partial)
        .await
        .map_err(io_error(format!("cannot create {}", partial.display())))?;
    let mut stream = engine.save_image(id);
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                drop(file);
                let _ = tokio::fs::remove_file(&partial).await;
                return Err(match e {
                    EngineError::Unreachable(m) => Error::Unreachable(m),
                    EngineError::Failed(m) => Error::Failed(format!(
                        "cannot export image {id} from {}: {m}",
                        engine.host().host
                    )),
                });
            }
        };
        file.write_all(&chunk)
            .await
            .map_err(io_error(format!("cannot write {}", partial.display())))?;
    }
    file.flush()
        .await
        .map_err(io_error(format!("cannot write {}", partial.display())))?;
    drop(file);
    tokio::fs::rename(&partial, dest)
        .await
        .map_err(io_error(format!("cannot rename {}", partial.display())))?;
    Ok(())
}

/// Export image `id` into `dir` (see [`export_path`]) unless a complete export is there already,
/// and open it.
pub async fn export_and_open(
    engine: &dyn EngineApi,
    id: &str,
    dir: &Path,
) -> Result<ExportedImage> {
    let dest = export_path(dir, id);
    if dest.is_file() {
        // Used by this run: [`prune_exports`] keeps it.
        let _ = std::fs::File::options()
            .write(true)
            .open(&dest)
            .and_then(|f| f.set_modified(std::time::SystemTime::now()));
    } else {
        export(engine, id, &dest).await?;
    }
    let opened = {
        let dest = dest.clone();
        tokio::task::spawn_blocking(move || ExportedImage::open(&dest))
            .await
            .map_err(|e| Error::Failed(format!("reading an exported image: {e}")))?
    };
    match opened {
        Ok(image) => Ok(image),
        // A file left by an older run that does not read: export again, once.
        Err(_) => {
            export(engine, id, &dest).await?;
            tokio::task::spawn_blocking(move || ExportedImage::open(&dest))
                .await
                .map_err(|e| Error::Failed(format!("reading an exported image: {e}")))?
        }
    }
}

impl ExportedImage {
    /// Index the `docker save` tar at `path` and read its manifest and config.
    pub fn open(path: &Path) -> Result<ExportedImage> {
        let bad = |what: String| {
            Error::Failed(format!(
                "{} is not an image as `docker save` writes it: {what}",
                path.display()
            ))
        };
        let io_error = |source| Error::Io {
            context: format!("cannot read {}", path.display()),
            source,
        };
        let members = index(path).map_err(io_error)?;
        let resolve = |name: &str| -> Result<Member> {
            members
                .resolve(name)
                .ok_or_else(|| bad(format!("it has no member `{name}`")))
        };
        let manifest = read_member(path, resolve("manifest.json")?).map_err(io_error)?;
        let entries: Vec<SaveManifestEntry> = serde_json::from_slice(&manifest)
            .map_err(|e| bad(format!("manifest.json does not parse: {e}")))?;
        let [entry] = <[SaveManifestEntry; 1]>::try_from(entries)
            .map_err(|v| bad(format!("manifest.json lists {} images, not one", v.len())))?;
        let config = read_member(path, resolve(&entry.config)?).map_err(io_error)?;
        let parsed: ConfigRootfs = serde_json::from_slice(&config)
            .map_err(|e| bad(format!("the config `{}` does not parse: {e}", entry.config)))?;
        let diff_ids = parsed.rootfs.diff_ids;
        if diff_ids.len() != entry.layers.len() {
            return Err(bad(format!(
                "the config has {} diff ids but manifest.json lists {} layers",
                diff_ids.len(),
                entry.layers.len()
            )));
        }
        let layers = entry
            .layers
            .iter()
            .map(|name| resolve(name))
            .collect::<Result<Vec<_>>>()?;
        Ok(ExportedImage {
            path: path.to_path_buf(),
            config,
            diff_ids,
            layers,
        })
    }

    /// The file the image was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of layers.
    pub fn layer_count(&self) -> usize {
        self.layers.len()
    }

    /// Layer `index`'s uncompressed tar (its sha256 is `diff_ids[index]`), read from the file.
    pub fn open_layer(&self, index: usize) -> io::Result<Box<dyn Read + Send>> {
        let member =
            self.layers.get(index).copied().ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, format!("no layer {index}"))
            })?;
        let mut file = File::open(&self.path)?;
        file.seek(SeekFrom::Start(member.offset))?;
        let mut reader = BufReader::with_capacity(256 * 1024, file.take(member.size));
        let mut magic = [0u8; 2];
        let peeked = {
            use std::io::BufRead;
            let buf = reader.fill_buf()?;
            let n = buf.len().min(2);
            magic[..n].copy_from_slice(&buf[..n]);
            n
        };
        if peeked == 2 && magic == [0x1f, 0x8b] {
            Ok(Box::new(flate2::bufread::MultiGzDecoder::new(reader)))
        } else {
            Ok(Box::new(reader))
        }
    }
}

/// Every member of the outer tar: regular files by offset and size, links by target.
#[derive(Debug, Default)]
struct Members {
    files: HashMap<String, Member>,
    /// A link's member path → the member path it points at (symlinks resolved from their folder).
    links: HashMap<String, String>,
}

impl Members {
    /// `name` (a member path), following links a few times.
    fn resolve(&self, name: &str) -> Option<Member> {
        let mut name = normalize(Path::new(name))?;
        for _ in 0..8 {
            if let Some(member) = self.files.get(&name) {
                return Some(*member);
            }
            name = self.links.get(&name)?.clone();
        }
        None
    }
}

/// A member path without `./`, `..` resolved lexically; `None` when it climbs out.
fn normalize(path: &Path) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    Some(parts.join("/"))
}

fn index(path: &Path) -> io::Result<Members> {
    let file = BufReader::with_capacity(64 * 1024, File::open(path)?);
    let mut archive = tar::Archive::new(file);
    let mut members = Members::default();
    for entry in archive.entries()? {
        let entry = entry?;
        let Some(name) = normalize(&entry.path()?) else {
            continue;
        };
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                members.files.insert(
                    name,
                    Member {
                        offset: entry.raw_file_position(),
                        size: entry.size(),
                    },
                );
            }
            tar::EntryType::Symlink => {
                if let Some(target) = entry.link_name()? {
                    let base = Path::new(&name)
                        .parent()
                        .unwrap_or(Path::new(""))
                        .to_path_buf();
                    if let Some(target) = normalize(&base.join(target)) {
                        members.links.insert(name, target);
                    }
                }
            }
            tar::EntryType::Link => {
                // A hard link names another member by its path from the root.
                if let Some(target) = entry.link_name()?
                    && let Some(target) = normalize(&target)
                {
                    members.links.insert(name, target);
                }
            }
            _ => {}
        }
    }
    Ok(members)
}

/// A small member (manifest.json, the config) read whole.
fn read_member(path: &Path, member: Member) -> io::Result<Vec<u8>> {
    const CAP: u64 = 64 * 1024 * 1024;
    if member.size > CAP {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a {} byte metadata member (over {CAP})", member.size),
        ));
    }
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(member.offset))?;
    let mut bytes = Vec::with_capacity(member.size as usize);
    file.take(member.size).read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
pub(crate) mod tests;
