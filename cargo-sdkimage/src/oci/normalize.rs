//! Reproducible images: an exported image ([`ExportedImage`]) turned into the OCI manifest,
//! config and compressed layer blobs this tool pushes, without pushing anything
//! ([`normalize`]), so `build --reproduce` and `diff` can ask for the digest a push would give.
//!
//! With an epoch (seconds since 1970, `provenance::source_date`):
//! - each layer tar is rewritten as a stream ([`rewrite_layer`]): every mtime newer than the
//!   epoch is clamped to it (header and PAX `mtime`), PAX `atime`/`ctime` records and GNU
//!   atime/ctime fields are dropped, everything else (order, names, uid, gid, modes, links,
//!   xattrs) is copied byte for byte;
//! - the config's `created` and every history entry's `created` become the epoch,
//!   `rootfs.diff_ids` the rewritten layers' digests, and the keys only the engine that built
//!   it writes (`container`, `container_config`, `docker_version`, and the classic builder's
//!   parent id in `config.Image`) are dropped;
//! - the leading layers equal to an external base's ([`BaseLayer`]) are passed through
//!   untouched, keeping the base's blob digests when the base's registry manifest is known.
//!
//! Without one (`reproducible = false`), layers and config are kept as the engine wrote them.
//! Either way layers are compressed deterministically on every core ([`gzip`]: level 6 in
//! fixed-size blocks, one gzip member, no name, no time, OS byte 255) and cached by (diff id, epoch) under the state folder, so a second push of
//! an unchanged layer compresses nothing.

use std::fs;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::archive::ExportedImage;
use super::gzip::{self, COMPRESSOR};
use crate::error::{Error, Result};
use crate::registry::RegistryManifest;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// A content descriptor (OCI image spec).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

/// A layer of an external base the image builds on, with the blob the base's registry manifest
/// lists for it when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseLayer {
    pub diff_id: String,
    pub descriptor: Option<Descriptor>,
}

/// How to normalise.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    /// `Some(seconds)`: normalise to that epoch; `None`: keep the engine's layers and config.
    pub epoch: Option<u64>,
    /// The layers of the image's external base, base first.
    pub base: &'a [BaseLayer],
    /// The cache folder (`<target>/sdkimage/oci`).
    pub cache: &'a Path,
}

/// One layer of a normalised image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// The digest of the uncompressed tar (as pushed).
    pub diff_id: String,
    pub descriptor: Descriptor,
    /// The compressed blob on disk; `None` for a base layer taken from the base's repository
    /// (mounted), unless it was copied into the cache.
    pub blob: Option<PathBuf>,
    /// Whether the tar was rewritten (false for base layers and with normalisation off).
    pub rewritten: bool,
}

/// An image as it would be pushed.
#[derive(Debug, Clone)]
pub struct NormalizedImage {
    /// The OCI image manifest: exact bytes, media type, digest.
    pub manifest: RegistryManifest,
    /// The config blob.
    pub config: Bytes,
    pub config_descriptor: Descriptor,
    pub layers: Vec<Layer>,
    /// Whether an epoch was applied.
    pub normalized: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OciManifest<'a> {
    schema_version: u32,
    media_type: &'a str,
    config: &'a Descriptor,
    layers: Vec<&'a Descriptor>,
}

/// What the cache records of one compressed layer.
#[derive(Debug, Serialize, Deserialize)]
struct Cached {
    diff_id: String,
    digest: String,
    size: u64,
}

/// The manifest, config and layer blobs `image` would be pushed as (blobs written to the
/// cache); nothing is pushed.
pub fn normalize(image: &ExportedImage, opts: &Options<'_>) -> Result<NormalizedImage> {
    let passthrough = opts
        .base
        .iter()
        .zip(&image.diff_ids)
        .take_while(|(base, id)| &base.diff_id == *id)
        .count();
    let work: Vec<usize> = (0..image.layer_count()).collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(work.len().max(1));
    let mut results: Vec<Option<Result<Layer>>> = (0..work.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let chunks: Vec<Vec<usize>> = (0..threads)
            .map(|t| work.iter().copied().skip(t).step_by(threads).collect())
            .collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|indices| {
                scope.spawn(move || {
                    indices
                        .into_iter()
                        .map(|i| (i, layer(image, i, i < passthrough, opts)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for handle in handles {
            for (i, result) in handle.join().expect("a layer thread panicked") {
                results[i] = Some(result);
            }
        }
    });
    let layers = results
        .into_iter()
        .map(|r| r.expect("every layer was handled"))
        .collect::<Result<Vec<Layer>>>()?;
    let config = match opts.epoch {
        Some(epoch) => {
            let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.clone()).collect();
            rewrite_config(&image.config, epoch, &diff_ids).map_err(|e| {
                Error::Failed(format!(
                    "the config of {} does not read as an image config: {e}",
                    image.path().display()
                ))
            })?
        }
        None => image.config.clone(),
    };
    let config = Bytes::from(config);
    let config_descriptor = Descriptor {
        media_type: OCI_CONFIG.to_string(),
        digest: sha256_digest(&config),
        size: config.len() as u64,
    };
    let manifest = OciManifest {
        schema_version: 2,
        media_type: OCI_MANIFEST,
        config: &config_descriptor,
        layers: layers.iter().map(|l| &l.descriptor).collect(),
    };
    let bytes = Bytes::from(serde_json::to_vec(&manifest).expect("a manifest serializes"));
    Ok(NormalizedImage {
        manifest: RegistryManifest {
            digest: sha256_digest(&bytes),
            bytes,
            media_type: OCI_MANIFEST.to_string(),
        },
        config,
        config_descriptor,
        layers,
        normalized: opts.epoch.is_some(),
    })
}

/// Layer `index` of `image`: a base layer with a known blob as it is, else compressed (and
/// rewritten when normalising and not a base layer), through the cache.
fn layer(image: &ExportedImage, index: usize, base: bool, opts: &Options<'_>) -> Result<Layer> {
    let diff_id = &image.diff_ids[index];
    if base && let Some(descriptor) = &opts.base[index].descriptor {
        let media_type = match descriptor.media_type.as_str() {
            DOCKER_LAYER_GZIP => OCI_LAYER_GZIP.to_string(),
            other => other.to_string(),
        };
        // The base's blob, when it was copied into the cache (from another registry).
        let blob = blob_path(opts.cache, &descriptor.digest);
        let copied = fs::metadata(&blob).is_ok_and(|m| m.len() == descriptor.size);
        return Ok(Layer {
            diff_id: diff_id.clone(),
            descriptor: Descriptor {
                media_type,
                ..descriptor.clone()
            },
            blob: copied.then_some(blob),
            rewritten: false,
        });
    }
    let epoch = if base { None } else { opts.epoch };
    let io_error = |source| Error::Io {
        context: format!(
            "cannot compress layer {diff_id} of {} into {}",
            image.path().display(),
            opts.cache.display()
        ),
        source,
    };
    let (cached, blob) = compress_cached(opts.cache, diff_id, epoch, || image.open_layer(index))
        .map_err(io_error)?;
    Ok(Layer {
        diff_id: cached.diff_id,
        descriptor: Descriptor {
            media_type: OCI_LAYER_GZIP.to_string(),
            digest: cached.digest,
            size: cached.size,
        },
        blob: Some(blob),
        rewritten: epoch.is_some(),
    })
}

/// Where the cache keeps the blob of `digest`.
pub fn blob_path(cache: &Path, digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    cache.join("blobs").join("sha256").join(hex)
}

/// The compressed (and, with an epoch, rewritten) form of the layer `diff_id`, from the cache
/// or made from `open()` and cached.
fn compress_cached(
    cache: &Path,
    diff_id: &str,
    epoch: Option<u64>,
    open: impl FnOnce() -> io::Result<Box<dyn Read + Send>>,
) -> io::Result<(Cached, PathBuf)> {
    let hex = diff_id.strip_prefix("sha256:").unwrap_or(diff_id);
    let mode = match epoch {
        Some(epoch) => format!("e{epoch}"),
        None => "raw".to_string(),
    };
    let record = cache
        .join("layers")
        .join(format!("{hex}.{mode}.{COMPRESSOR}.json"));
    if let Ok(text) = fs::read(&record)
        && let Ok(cached) = serde_json::from_slice::<Cached>(&text)
    {
        let blob = blob_path(cache, &cached.digest);
        if fs::metadata(&blob).is_ok_and(|m| m.len() == cached.size) {
            return Ok((cached, blob));
        }
    }
    let blobs = cache.join("blobs").join("sha256");
    fs::create_dir_all(&blobs)?;
    fs::create_dir_all(record.parent().expect("a parent"))?;
    let partial = tempfile::NamedTempFile::new_in(&blobs)?;
    let (diff_id, digest, size) = {
        let file = BufWriter::with_capacity(256 * 1024, partial.as_file());
        let input = open()?;
        let (compressed, plain_digest) = gzip::compress(Hashing::new(file), |gzip| {
            let mut plain = Hashing::new(gzip);
            match epoch {
                Some(epoch) => rewrite_layer(input, &mut plain, epoch)?,
                None => {
                    io::copy(&mut io::BufReader::new(input), &mut plain)?;
                }
            }
            Ok(plain.finish().1)
        })?;
        let (mut file, digest, size) = compressed.finish();
        file.flush()?;
        (plain_digest, digest, size)
    };
    let blob = blobs.join(digest.strip_prefix("sha256:").unwrap_or(&digest));
    partial.persist(&blob).map_err(|e| e.error)?;
    let cached = Cached {
        diff_id,
        digest,
        size,
    };
    let tmp = record.with_extension("json.partial");
    fs::write(&tmp, serde_json::to_vec(&cached).expect("serializes"))?;
    fs::rename(&tmp, &record)?;
    Ok((cached, blob))
}

/// A writer that hashes (sha256) and counts what goes through it.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    count: u64,
}

impl<W: Write> Hashing<W> {
    fn new(inner: W) -> Self {
        Hashing {
            inner,
            hash: Sha256::new(),
            count: 0,
        }
    }

    fn finish(self) -> (W, String, u64) {
        let digest = format!("sha256:{}", hex::encode(self.hash.finalize()));
        (self.inner, digest, self.count)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Rewrite the layer tar `input` into `out`, entry by entry in order: mtimes newer than
/// `epoch` clamped to it (headers and PAX `mtime` records), PAX `atime`/`ctime` records and
/// GNU atime/ctime header fields removed; all else copied as it is. Ends with the two zero
/// blocks of a tar's end.
pub fn rewrite_layer(input: impl Read, mut out: impl Write, epoch: u64) -> io::Result<()> {
    let mut archive = tar::Archive::new(input);
    let zeros = [0u8; 512];
    for entry in archive.entries()?.raw(true) {
        let mut entry = entry?;
        let mut header = entry.header().clone();
        let kind = header.entry_type();
        let mut data = Vec::new();
        let pax = kind.is_pax_local_extensions() || kind.is_pax_global_extensions();
        if pax {
            entry.read_to_end(&mut data)?;
            data = rewrite_pax(&data, epoch)?;
            if data.is_empty() {
                // Nothing left to say: the extended header goes.
                continue;
            }
            header.set_size(data.len() as u64);
        }
        let mut changed = pax;
        if let Ok(mtime) = header.mtime()
            && mtime > epoch
        {
            header.set_mtime(epoch);
            changed = true;
        }
        if let Some(gnu) = header.as_gnu_mut()
            && (gnu.atime().is_ok_and(|t| t != 0) || gnu.ctime().is_ok_and(|t| t != 0))
        {
            gnu.set_atime(0);
            gnu.set_ctime(0);
            changed = true;
        }
        if changed {
            header.set_cksum();
        }
        out.write_all(header.as_bytes())?;
        let size = if pax {
            out.write_all(&data)?;
            data.len() as u64
        } else {
            io::copy(&mut entry, &mut out)?
        };
        let padding = (512 - (size % 512) as usize) % 512;
        out.write_all(&zeros[..padding])?;
    }
    out.write_all(&zeros)?;
    out.write_all(&zeros)?;
    out.flush()
}

/// PAX records without `atime`/`ctime`, `mtime` clamped to `epoch`; the others as they are.
fn rewrite_pax(data: &[u8], epoch: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len());
    for record in tar::PaxExtensions::new(data) {
        let record = record?;
        let key = record.key_bytes();
        if key == b"atime" || key == b"ctime" {
            continue;
        }
        let clamped;
        let value = if key == b"mtime" && pax_time_after(record.value_bytes(), epoch) {
            clamped = epoch.to_string();
            clamped.as_bytes()
        } else {
            record.value_bytes()
        };
        pax_record(&mut out, key, value);
    }
    Ok(out)
}

/// Whether a PAX time (`secs[.fraction]`) is after `epoch`; an unreadable one counts as after.
fn pax_time_after(value: &[u8], epoch: u64) -> bool {
    let text = String::from_utf8_lossy(value);
    let (secs, fraction) = text.split_once('.').unwrap_or((&text, ""));
    match secs.parse::<i64>() {
        Ok(secs) if secs < 0 => false,
        Ok(secs) => {
            let secs = secs as u64;
            secs > epoch || (secs == epoch && fraction.bytes().any(|b| b != b'0'))
        }
        Err(_) => true,
    }
}

/// `"<len> <key>=<value>\n"`, where `<len>` counts the whole record, itself included.
fn pax_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = rest + 1;
    while len.to_string().len() + rest != len {
        len += 1;
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// The config with `created` and every history `created` at `epoch`, `rootfs.diff_ids`
/// replaced, and the engine-only keys dropped.
pub fn rewrite_config(
    config: &[u8],
    epoch: u64,
    diff_ids: &[String],
) -> std::result::Result<Vec<u8>, ConfigError> {
    let mut value: serde_json::Value = serde_json::from_slice(config)?;
    let object = value.as_object_mut().ok_or(ConfigError::NotObject)?;
    let created = serde_json::Value::String(epoch_rfc3339(epoch));
    object.insert("created".into(), created.clone());
    for key in ["container", "container_config", "docker_version"] {
        object.remove(key);
    }
    forget_parent(object);
    if let Some(history) = object.get_mut("history").and_then(|h| h.as_array_mut()) {
        for entry in history.iter_mut().filter_map(|e| e.as_object_mut()) {
            entry.insert("created".into(), created.clone());
        }
    }
    let rootfs = object
        .entry("rootfs")
        .or_insert_with(|| serde_json::json!({"type": "layers"}));
    let rootfs = rootfs.as_object_mut().ok_or(ConfigError::RootfsNotObject)?;
    rootfs.insert("diff_ids".into(), serde_json::json!(diff_ids));
    Ok(serde_json::to_vec(&value)?)
}

/// Why an image config cannot be rewritten.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error("not a JSON object")]
    NotObject,
    #[error("`rootfs` is not an object")]
    RootfsNotObject,
}

/// Drop `config.Image`: the classic builder writes there the id of the intermediate image its
/// last step ran on, which has a `created` time of its own, so it differs between any two
/// builds (two engines, or `--no-cache`) of the same content. Nothing runs from it.
fn forget_parent(config: &mut serde_json::Map<String, serde_json::Value>) {
    if let Some(run) = config.get_mut("config").and_then(|c| c.as_object_mut()) {
        run.remove("Image");
    }
}

/// `epoch` as the RFC 3339 text `provenance` writes.
pub fn epoch_rfc3339(epoch: u64) -> String {
    crate::provenance::rfc3339(UNIX_EPOCH + Duration::from_secs(epoch))
}

/// The one `sha256:<hex>` of bytes, the registry client's.
pub use crate::registry::client::sha256_digest;

#[cfg(test)]
mod tests;
