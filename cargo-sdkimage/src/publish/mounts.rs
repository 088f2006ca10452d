//! Cross-repository blob mounts ahead of the engine's pushes. Once the first image of a push is
//! in the registry, the layers the other images share with it are mounted into their
//! repositories here, many at once, so the engine finds each of them there with one blob
//! check. Left to the engine, each shared layer costs a check, a mount and another check,
//! inside its five upload slots for the whole daemon (`max-concurrent-uploads`), and first
//! up to three mount attempts from repositories its memory names and the registry may no
//! longer have: on a registry tens of milliseconds away, round trips waiting in line.
//! Best effort throughout: a mount that does not happen leaves the layer to the engine.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::{StreamExt, stream};

use super::Pushed;
use super::index::is_multi_platform;
use super::repositories;
use crate::engine::EngineApi;
use crate::plan::Image;
use crate::registry::Registries;

/// Mounts in flight at once: small POSTs the registry answers from its metadata.
const MOUNT_JOBS: usize = 16;

/// The layers (diff ids) of each local image, asked of the engine all at once; empty for an
/// image of several platforms (not mounted into) or one the engine cannot describe.
pub(super) async fn layers_of(images: &[(&Image, &str, &dyn EngineApi)]) -> Vec<Vec<String>> {
    let asks = images.iter().map(|(image, id, engine)| async move {
        match is_multi_platform(image) {
            true => Vec::new(),
            false => engine.diff_ids(id).await.unwrap_or_default(),
        }
    });
    futures_util::future::join_all(asks).await
}

/// Mount into the repositories of `rest` (images with their layers, from [`layers_of`]) every
/// layer they share with `seed` (its layers `seed_layers`), which phase one pushed as `pushed`.
pub(super) async fn share_layers(
    registries: &Registries,
    seed: &Image,
    seed_layers: &[String],
    pushed: &[Pushed],
    rest: &[(&Image, Vec<String>)],
) {
    if is_multi_platform(seed) || seed_layers.is_empty() {
        return;
    }
    // Where each of the seed's layers is now: registry, repository path, diff id -> blob.
    let mut sources: Vec<(&str, String, BTreeMap<&str, String>)> = Vec::new();
    for p in pushed {
        let (Some(manifest), Some(r)) = (
            &p.manifest,
            seed.refs.iter().find(|r| r.repository == p.repository),
        ) else {
            continue;
        };
        let blobs = layer_digests(&manifest.bytes);
        // A schema 2 or OCI manifest lists one blob per layer of the image, in order.
        if blobs.len() != seed_layers.len() {
            continue;
        }
        let by_layer = seed_layers.iter().map(String::as_str).zip(blobs).collect();
        sources.push((r.registry(), r.path(), by_layer));
    }
    let mut mounts: BTreeSet<(&str, String, String, String)> = BTreeSet::new();
    let mut planned: BTreeSet<(String, String)> = BTreeSet::new();
    for (image, layers) in rest {
        for repository in repositories(image) {
            let Some(target) = image.refs.iter().find(|r| r.repository == repository) else {
                continue;
            };
            for (registry, from, by_layer) in &sources {
                if *registry != target.registry() || *from == target.path() {
                    continue;
                }
                for layer in layers {
                    if let Some(blob) = by_layer.get(layer.as_str())
                        && planned.insert((target.path(), blob.clone()))
                    {
                        mounts.insert((registry, target.path(), blob.clone(), from.clone()));
                    }
                }
            }
        }
    }
    stream::iter(mounts)
        .map(|(registry, target, blob, from)| async move {
            if let Ok(client) = registries.client(registry).await {
                let _ = client.mount_blob(&target, &blob, &from).await;
            }
        })
        .buffer_unordered(MOUNT_JOBS)
        .collect::<()>()
        .await;
}

/// The layer blobs a schema 2 or OCI image manifest lists, in order (none for anything else).
fn layer_digests(manifest: &[u8]) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Manifest {
        #[serde(default)]
        layers: Vec<Layer>,
    }
    #[derive(serde::Deserialize)]
    struct Layer {
        digest: String,
    }
    serde_json::from_slice::<Manifest>(manifest)
        .map(|m| m.layers.into_iter().map(|l| l.digest).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn layer_blobs_are_read_in_order() {
        let manifest = br#"{"schemaVersion":2,"config":{"digest":"sha256:c"},
            "layers":[{"digest":"sha256:a","size":1},{"digest":"sha256:b","size":2}]}"#;
        assert_eq!(super::layer_digests(manifest), ["sha256:a", "sha256:b"]);
        assert!(super::layer_digests(br#"{"manifests":[]}"#).is_empty());
        assert!(super::layer_digests(b"not json").is_empty());
    }
}
