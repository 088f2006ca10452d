//! `push --metadata-file`: the keys `build --metadata-file` writes, for a push.

use crate::output::{self, ImageMetadata, Outcome};
use crate::plan::{BuildPlan, ImageIndex};
use crate::publish::Published;

/// The metadata file entries of a `push`: the images as they were found locally (`outcome`
/// `up-to-date`: push builds nothing) with the digests of those pushed.
pub(super) fn push_metadata(
    plan: &BuildPlan,
    built: &[(ImageIndex, String)],
    pushed: &[Published],
) -> Vec<(String, ImageMetadata)> {
    built
        .iter()
        .map(|(i, id)| {
            let img = plan.image(*i);
            let refs: Vec<String> = img.refs.iter().map(ToString::to_string).collect();
            let published = pushed.iter().find(|p| p.image == *i);
            let meta = ImageMetadata {
                image_name: refs.join(","),
                refs,
                id: Some(id.clone()),
                digest: published.map(|p| p.digest.clone()),
                pushed: published.is_some(),
                licenses: None,
                duration_ms: 0,
                outcome: Outcome::UpToDate,
                containerimage_digest: published.map(|p| p.digest.clone()),
                // What was pushed: our own push's config, else the engine's (its id).
                containerimage_config_digest: Some(
                    published
                        .and_then(|p| p.configs.get(id))
                        .unwrap_or(id)
                        .clone(),
                ),
                platforms: published
                    .map(|p| {
                        p.platforms
                            .iter()
                            .map(|(platform, digest)| {
                                let entry = output::PlatformMetadata {
                                    id: None,
                                    digest: Some(digest.clone()),
                                    engine: None,
                                };
                                (platform.clone(), entry)
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                // Push reads no Dockerfile: `build --metadata-file` records the bases.
                bases: Default::default(),
                engine: None,
                requeued_from: Vec::new(),
                signatures: published.map(|p| p.signatures.clone()).unwrap_or_default(),
                normalized: published.map(|p| p.normalized),
                epoch: published.and_then(|p| p.epoch.filter(|_| p.normalized)),
            };
            (img.name.clone(), meta)
        })
        .collect()
}
