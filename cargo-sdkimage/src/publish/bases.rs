//! The layers an image takes from its external bases, for our own push: which of its leading
//! layers are a base's (by diff id), and, when the base came from a registry we can read, the
//! blobs that registry's manifest lists for them, which the push reuses untouched (mounted from
//! the base's repository, never compressed again).
//!
//! - **Candidates** ([`candidates`]): the external bases of the image's Dockerfile and of its
//!   dependencies' (one of ours stands on the bases of the image it is built `FROM`), for each
//!   of its platforms; our own refs are not bases.
//! - **Which one** ([`base_layers`]): the candidate whose layers are the longest prefix of the
//!   image's; a multi-stage Dockerfile names builder stages' bases too, and they do not match.
//! - **From a registry**: the engine's `RepoDigests` (or a pinned digest) say which manifest it
//!   was pulled (or pushed) as; under an index, the manifest of the image's platform. Its
//!   config's diff ids must be the image's first layers, else the registry is not used.
//! - **Only local** (built or loaded, never pushed or pulled): the engine's diff ids; those
//!   layers are passed through byte for byte (not rewritten, so their diff ids stay the
//!   base's) and compressed like ours (deterministic gzip).

use std::collections::BTreeSet;
use std::path::Path;

use crate::engine::EngineApi;
use crate::oci::BaseLayer;
use crate::oci::normalize::Descriptor;
use crate::oci::push::BlobHomes;
use crate::plan::{BuildPlan, ImageIndex};
use crate::reference::Reference;
use crate::registry::Registries;

/// The external bases image `index` may stand on: those its Dockerfile names and those of its
/// dependencies (transitively), for each of its platforms, each once, ours left out. A
/// Dockerfile that cannot be read adds none (its build said why).
pub fn candidates(root: &Path, plan: &BuildPlan, index: ImageIndex) -> Vec<String> {
    let own: BTreeSet<String> = plan
        .images
        .iter()
        .flat_map(|i| i.refs.iter())
        .map(|r| crate::reference::ref_key(&r.to_string()))
        .collect();
    let mut out: Vec<String> = Vec::new();
    let mut todo = vec![index];
    let mut seen = BTreeSet::new();
    while let Some(i) = todo.pop() {
        if !seen.insert(i) {
            continue;
        }
        let image = plan.image(i);
        todo.extend(image.deps.iter().copied());
        let text = match &image.custom {
            Some(custom) => custom.dockerfile.clone(),
            None => {
                let rules =
                    crate::guarded::Rules::new(root, crate::guarded::CONFIG_CAP, "a Dockerfile");
                match crate::guarded::read_to_string(&plan.manifest_of(i).dockerfile, rules) {
                    Ok(text) => text,
                    Err(_) => continue,
                }
            }
        };
        let platforms: Vec<Option<&crate::platform::Platform>> = if image.platforms.is_empty() {
            vec![None]
        } else {
            image.platforms.iter().map(Some).collect()
        };
        for platform in platforms {
            let automatic = platform.map(|p| p.args(p)).unwrap_or_default();
            let mut args = image.build_args.clone();
            for (k, v) in &automatic {
                args.entry(k.clone()).or_insert_with(|| v.clone());
            }
            for base in crate::dockerfile::external_bases(&text, &args, &automatic) {
                if !own.contains(&crate::reference::ref_key(&base)) && !out.contains(&base) {
                    out.push(base);
                }
            }
        }
    }
    out
}

/// The layers image `diff_ids` (whose config is `config`) takes from the best of `candidates`
/// (see the module's text); empty when none is found. Best effort: a base the engine does not
/// hold, or a registry that does not answer, only means those layers are treated as ours.
/// Blobs of a base in a registry are recorded in `homes` under the base's repository, so the
/// push mounts them from there; a base in another registry than one of `targets` (the
/// registries the image goes to) cannot be mounted there, so its blobs are copied into the
/// cache (`<cache>/blobs`, checked against their digests) for the push to upload.
pub async fn base_layers(
    engine: &dyn EngineApi,
    registries: &Registries,
    candidates: &[String],
    image: (&[u8], &[String]),
    targets: &[&str],
    cache: &Path,
    homes: &BlobHomes,
) -> Vec<BaseLayer> {
    let (config, diff_ids) = image;
    let platform = serde_json::from_slice::<serde_json::Value>(config)
        .map(|c| crate::diff::platform_of(&c))
        .unwrap_or_default();
    let mut best: Vec<BaseLayer> = Vec::new();
    for base in candidates {
        let Ok(Some(local)) = engine.local_image(base).await else {
            continue;
        };
        let from_registry =
            match registry_layers(registries, base, &local.repo_digests, &platform).await {
                Some((home, layers)) if is_prefix(&layers, diff_ids) => Some((home, layers)),
                _ => None,
            };
        let layers = match from_registry {
            Some(((registry, repository), layers)) => {
                if layers.len() <= best.len() {
                    continue;
                }
                let elsewhere = targets.iter().any(|t| *t != registry);
                let mut copied = true;
                for layer in layers.iter().filter_map(|l| l.descriptor.as_ref()) {
                    homes.record(&registry, &layer.digest, &repository);
                    if elsewhere {
                        copied &= copy_blob(registries, &registry, &repository, layer, cache)
                            .await
                            .is_ok();
                    }
                }
                if !copied {
                    // Not copied: passed through from the engine's export instead.
                    layers
                        .into_iter()
                        .map(|l| BaseLayer {
                            diff_id: l.diff_id,
                            descriptor: None,
                        })
                        .collect()
                } else {
                    layers
                }
            }
            None => {
                let Ok(ids) = engine.diff_ids(&local.id).await else {
                    continue;
                };
                let layers: Vec<BaseLayer> = ids
                    .into_iter()
                    .map(|diff_id| BaseLayer {
                        diff_id,
                        descriptor: None,
                    })
                    .collect();
                if !is_prefix(&layers, diff_ids) {
                    continue;
                }
                layers
            }
        };
        if layers.len() > best.len() {
            best = layers;
        }
    }
    best
}

/// Blob `layer` of `repository` in `registry` into the cache (where `normalize` finds a base
/// layer's blob to upload), unless it is there; streamed, checked against its digest.
async fn copy_blob(
    registries: &Registries,
    registry: &str,
    repository: &str,
    layer: &Descriptor,
    cache: &Path,
) -> crate::error::Result<()> {
    use futures_util::StreamExt as _;
    use sha2::Digest as _;
    use std::io::Write as _;
    let path = crate::oci::normalize::blob_path(cache, &layer.digest);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() == layer.size) {
        return Ok(());
    }
    let io = |source| crate::error::Error::Io {
        context: format!("cannot copy blob {} into {}", layer.digest, cache.display()),
        source,
    };
    let folder = path.parent().expect("a parent");
    std::fs::create_dir_all(folder).map_err(io)?;
    let client = registries.client(registry).await?;
    let mut stream = client
        .blob_stream(repository, &layer.digest)
        .await?
        .ok_or_else(|| {
            crate::error::Error::Failed(format!(
                "{registry}/{repository} has no blob {}",
                layer.digest
            ))
        })?;
    let mut partial = tempfile::NamedTempFile::new_in(folder).map_err(io)?;
    let mut hash = sha2::Sha256::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(io)?;
        hash.update(&chunk);
        partial.write_all(&chunk).map_err(io)?;
    }
    let digest = format!("sha256:{}", hex::encode(hash.finalize()));
    if digest != layer.digest {
        return Err(crate::error::Error::Failed(format!(
            "blob {} of {registry}/{repository} hashes to {digest}",
            layer.digest
        )));
    }
    partial.persist(&path).map_err(|e| io(e.error))?;
    Ok(())
}

/// Whether `base`'s layers are the first of `diff_ids` (a base of no layer is no base).
fn is_prefix(base: &[BaseLayer], diff_ids: &[String]) -> bool {
    !base.is_empty()
        && base.len() <= diff_ids.len()
        && base.iter().zip(diff_ids).all(|(b, d)| &b.diff_id == d)
}

/// The layers of `base` as its registry lists them, for `platform` (`os/arch[/variant]`), read
/// by the digest the engine knows it as (pinned, else a `RepoDigests` entry of its repository),
/// with the registry and repository path they live in; `None` when it never came from a
/// registry or the registry cannot tell.
async fn registry_layers(
    registries: &Registries,
    base: &str,
    repo_digests: &[String],
    platform: &str,
) -> Option<((String, String), Vec<BaseLayer>)> {
    let reference = Reference::parse(base).ok()?;
    let digest = match &reference.digest {
        Some(d) => d.clone(),
        None => repo_digests
            .iter()
            .find_map(|e| crate::reference::repo_digest(e, &reference.repository))?
            .to_string(),
    };
    let pinned = Reference {
        digest: Some(digest),
        ..reference
    };
    let platform = crate::platform::Platform::parse(platform).ok()?;
    let image = crate::diff::registry::platform_image(registries, &pinned, base, &platform)
        .await
        .ok()??;
    let registry = pinned.registry().to_string();
    let layers = image
        .diff_ids
        .into_iter()
        .zip(image.layers)
        .map(|(diff_id, descriptor)| BaseLayer {
            diff_id,
            descriptor: Some(descriptor),
        })
        .collect();
    let repository = image.repository;
    Some(((registry, repository), layers))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(id: &str) -> BaseLayer {
        BaseLayer {
            diff_id: id.to_string(),
            descriptor: None,
        }
    }

    #[test]
    fn a_base_is_a_prefix_of_the_image_layers() {
        let image = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        assert!(is_prefix(&[layer("a"), layer("b")], &image));
        assert!(is_prefix(&[layer("a"), layer("b"), layer("c")], &image));
        assert!(!is_prefix(&[layer("b")], &image));
        assert!(!is_prefix(&[], &image));
        let longer = [layer("a"), layer("b"), layer("c"), layer("d")];
        assert!(!is_prefix(&longer, &image));
    }
}
