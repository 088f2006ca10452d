//! Why two images are not the same: their configs field by field, and each layer position
//! whose content differs opened on both sides and compared entry by entry (`layer.rs`).
//! Layers are read as streams (gzip-decoded as they arrive, each checked against its digest
//! and diff id); only each entry's facts are kept, never a file's content.

pub mod engine;
pub mod layer;
pub mod registry;

use std::io::{self, Read};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::output::SCHEMA;
use crate::output::diff::{ConfigChange, DiffSide, ImageDiff, LayerDiff, LayerFacts};

/// Opens the layers of one image, each as a blocking reader of its blob.
#[async_trait::async_trait]
pub trait LayerSource: Send + Sync {
    /// Layer `index` (0-based, bottom up).
    async fn open(&self, index: usize) -> Result<LayerStream>;
}

/// How a layer's bytes are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
}

/// One layer's bytes as they come (to be read off the async threads), and what they must hash
/// to.
pub struct LayerStream {
    pub raw: Box<dyn Read + Send>,
    pub compression: Compression,
    /// The blob's digest (compressed), when known.
    pub digest: Option<String>,
    pub diff_id: String,
}

impl LayerStream {
    /// The uncompressed tar; reading it to its end checks the blob's digest and the diff id.
    /// Decoding starts at once, so call this off the async threads.
    pub fn into_tar(self) -> Box<dyn Read + Send> {
        let raw: Box<dyn Read + Send> = match &self.digest {
            Some(digest) => Box::new(Verified::new(self.raw, digest, "blob digest")),
            None => self.raw,
        };
        let tar: Box<dyn Read + Send> = match self.compression {
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(raw)),
            Compression::None => raw,
        };
        Box::new(Verified::new(tar, &self.diff_id, "diff id"))
    }
}

/// One side of a diff: what was read of it, and where its layers come from.
pub struct ImageRead {
    pub side: DiffSide,
    pub config: serde_json::Value,
    pub layers: Vec<LayerFacts>,
    pub source: Box<dyn LayerSource>,
}

/// The config's `rootfs.diff_ids`.
pub fn diff_ids_of(config: &serde_json::Value) -> Vec<String> {
    config
        .pointer("/rootfs/diff_ids")
        .and_then(|d| d.as_array())
        .map(|ids| {
            ids.iter()
                .filter_map(|i| i.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// `os/arch[/variant]` of a config.
pub fn platform_of(config: &serde_json::Value) -> String {
    let field = |k: &str| config.get(k).and_then(|v| v.as_str()).unwrap_or_default();
    let mut text = format!("{}/{}", field("os"), field("architecture"));
    if !field("variant").is_empty() {
        text.push('/');
        text.push_str(field("variant"));
    }
    text
}

/// A reader that hashes what goes through and, at its end, fails unless the sha256 is
/// `expected` (a `sha256:` digest; other algorithms are not checked).
pub struct Verified<R> {
    inner: R,
    hasher: Option<Sha256>,
    expected: String,
    what: &'static str,
}

impl<R: Read> Verified<R> {
    pub fn new(inner: R, expected: &str, what: &'static str) -> Self {
        Verified {
            inner,
            hasher: expected.starts_with("sha256:").then(Sha256::new),
            expected: expected.to_string(),
            what,
        }
    }
}

impl<R: Read> Read for Verified<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            if let Some(h) = &mut self.hasher {
                h.update(&buf[..n]);
            }
        } else if !buf.is_empty()
            && let Some(h) = self.hasher.take()
        {
            let got = format!("sha256:{}", hex::encode(h.finalize()));
            if got != self.expected {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the content hashes to {got}, not to its {} {}",
                        self.what, self.expected
                    ),
                ));
            }
        }
        Ok(n)
    }
}

/// Every entry of a layer, read to its very end (so its digests are checked).
pub fn list_layer(mut reader: impl Read) -> io::Result<layer::Listing> {
    let listing = layer::list(&mut reader)?;
    io::copy(&mut reader, &mut io::sink())?;
    Ok(listing)
}

/// The config fields that differ, as JSON pointers; `/rootfs/diff_ids` is left to the layers.
pub fn compare_configs(a: &serde_json::Value, b: &serde_json::Value) -> Vec<ConfigChange> {
    let mut out = Vec::new();
    walk(String::new(), Some(a), Some(b), &mut out);
    out
}

fn walk(
    path: String,
    a: Option<&serde_json::Value>,
    b: Option<&serde_json::Value>,
    out: &mut Vec<ConfigChange>,
) {
    use serde_json::Value;
    if path == "/rootfs/diff_ids" || a == b {
        return;
    }
    let escape = |k: &str| k.replace('~', "~0").replace('/', "~1");
    match (a, b) {
        (Some(Value::Object(ma)), Some(Value::Object(mb))) => {
            let keys: std::collections::BTreeSet<&String> = ma.keys().chain(mb.keys()).collect();
            for k in keys {
                walk(format!("{path}/{}", escape(k)), ma.get(k), mb.get(k), out);
            }
        }
        (Some(Value::Array(va)), Some(Value::Array(vb))) => {
            for i in 0..va.len().max(vb.len()) {
                walk(format!("{path}/{i}"), va.get(i), vb.get(i), out);
            }
        }
        _ => out.push(ConfigChange {
            path: if path.is_empty() { "/".into() } else { path },
            a: a.cloned(),
            b: b.cloned(),
        }),
    }
}

/// Compare two images: configs, then every layer position whose diff ids differ, both sides
/// listed at once.
pub async fn compare(a: &ImageRead, b: &ImageRead) -> Result<ImageDiff> {
    let same = a.side.config_digest == b.side.config_digest;
    let same_manifest = match (&a.side.manifest_digest, &b.side.manifest_digest) {
        (Some(x), Some(y)) => Some(x == y),
        _ => None,
    };
    let mut diff = ImageDiff {
        schema: SCHEMA,
        a: a.side.clone(),
        b: b.side.clone(),
        same,
        same_manifest,
        config: Vec::new(),
        layers: Vec::new(),
    };
    if same {
        return Ok(diff);
    }
    diff.config = compare_configs(&a.config, &b.config);
    for index in 0..a.layers.len().max(b.layers.len()) {
        let la = a.layers.get(index);
        let lb = b.layers.get(index);
        if la.map(|l| &l.diff_id) == lb.map(|l| &l.diff_id) {
            continue;
        }
        let (files_a, files_b) = tokio::try_join!(listing(a, index), listing(b, index))?;
        diff.layers.push(LayerDiff {
            index,
            a: la.cloned(),
            b: lb.cloned(),
            files: layer::compare(&files_a, &files_b),
        });
    }
    Ok(diff)
}

/// The listing of layer `index` of `image`; empty when it has no such layer.
async fn listing(image: &ImageRead, index: usize) -> Result<layer::Listing> {
    if index >= image.layers.len() {
        return Ok(layer::Listing::new());
    }
    let reader = image.source.open(index).await?;
    let what = format!(
        "layer {index} ({}) of {}",
        image.layers[index].diff_id, image.side.reference
    );
    tokio::task::spawn_blocking(move || list_layer(reader.into_tar()))
        .await
        .map_err(|e| Error::Failed(format!("reading {what} stopped: {e}")))?
        .map_err(|e| Error::Failed(format!("cannot read {what}: {e}")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn config_changes_are_json_pointers() {
        let a = json!({
            "created": "2026-01-01T00:00:00Z",
            "config": {"Env": ["PATH=/bin", "A=1"], "Labels": {"x/y": "1"}},
            "history": [{"created": "t1", "created_by": "RUN x"}],
            "rootfs": {"type": "layers", "diff_ids": ["sha256:a"]},
        });
        let b = json!({
            "created": "2026-01-02T00:00:00Z",
            "config": {"Env": ["PATH=/bin"], "Labels": {"x/y": "2"}},
            "history": [{"created": "t2", "created_by": "RUN x"}],
            "rootfs": {"type": "layers", "diff_ids": ["sha256:b"]},
        });
        let changes: Vec<(String, Option<serde_json::Value>, Option<serde_json::Value>)> =
            compare_configs(&a, &b)
                .into_iter()
                .map(|c| (c.path, c.a, c.b))
                .collect();
        assert_eq!(
            changes,
            [
                ("/config/Env/1".into(), Some(json!("A=1")), None),
                (
                    "/config/Labels/x~1y".into(),
                    Some(json!("1")),
                    Some(json!("2"))
                ),
                (
                    "/created".into(),
                    Some(json!("2026-01-01T00:00:00Z")),
                    Some(json!("2026-01-02T00:00:00Z"))
                ),
                (
                    "/history/0/created".into(),
                    Some(json!("t1")),
                    Some(json!("t2"))
                ),
            ]
        );
        assert!(compare_configs(&a, &a).is_empty());
    }

    #[test]
    fn a_reader_is_checked_against_its_digest_at_its_end() {
        let data = b"hello";
        let good = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        let mut out = Vec::new();
        Verified::new(&data[..], good, "blob")
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
        let bad = format!("sha256:{}", "0".repeat(64));
        let err = Verified::new(&data[..], &bad, "diff id")
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(err.to_string().contains("not to its diff id"), "{err}");
    }

    #[test]
    fn platform_and_diff_ids_from_a_config() {
        let c = json!({"os": "linux", "architecture": "arm64", "variant": "v8",
                       "rootfs": {"diff_ids": ["sha256:1", "sha256:2"]}});
        assert_eq!(platform_of(&c), "linux/arm64/v8");
        assert_eq!(diff_ids_of(&c), ["sha256:1", "sha256:2"]);
    }
}
