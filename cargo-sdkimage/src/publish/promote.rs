//! `promote`: point final tags at the manifests a release-candidate tag names, inside the
//! registry; nothing is rebuilt or pushed through the engine.

use futures_util::{StreamExt, stream};

use super::jobs::report_failures;
use super::{CHECK_JOBS, image_at, mismatch, repositories};
use crate::error::{Error, Result};
use crate::output::{Event, EventSink, Subject, event};
use crate::plan::{BuildPlan, Image, ImageIndex};
use crate::reference::{self, ImageRef};
use crate::registry::{Registries, RegistryManifest};

/// An image whose promoted refs (the `to_tags` of each of its repositories) point at `digest`;
/// after a dry run, the refs that would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promoted {
    /// Index into [`BuildPlan::images`].
    pub image: ImageIndex,
    /// The manifest digest `from_tag` names (`sha256:...`).
    pub digest: String,
    pub refs: Vec<ImageRef>,
}

/// Point `to_tags` at the manifest `from_tag` names, inside the registry, digests unchanged.
/// Every source is read before anything changes; `dry_run` only reads.
pub async fn promote(
    registries: &Registries,
    plan: &BuildPlan,
    selection: &[ImageIndex],
    from_tag: &str,
    to_tags: &[String],
    dry_run: bool,
    reporter: &dyn EventSink,
) -> Result<Vec<Promoted>> {
    reference::check_tag(from_tag).map_err(|e| Error::Usage(format!("--from-tag: {e}")))?;
    for tag in to_tags {
        reference::check_tag(tag).map_err(|e| Error::Usage(format!("--tag: {e}")))?;
    }
    let mut sources = Vec::new();
    for &index in selection {
        let image = image_at(plan, index)?;
        for repository in repositories(image) {
            sources.push((
                index,
                image,
                ImageRef::new(repository, from_tag).map_err(|e| Error::Usage(e.to_string()))?,
            ));
        }
    }
    let fetched: Vec<(ImageIndex, &Image, Result<RegistryManifest>)> = stream::iter(sources)
        .map(|(index, image, source)| async move {
            (index, image, fetch_source(registries, &source).await)
        })
        .buffered(CHECK_JOBS)
        .collect()
        .await;
    let mut manifests = Vec::new();
    let mut failures = Vec::new();
    for (index, image, manifest) in fetched {
        match manifest {
            Ok(manifest) => manifests.push((index, image, manifest)),
            Err(e) => failures.push((image, e)),
        }
    }
    if !failures.is_empty() {
        return Err(report_failures(failures, reporter, "no tag was changed"));
    }
    let mut promoted: Vec<Promoted> = Vec::new();
    for (index, image, manifest) in manifests {
        let result = promote_one(registries, image, &manifest, to_tags, dry_run, reporter).await;
        let refs = match result {
            Ok(refs) => refs,
            Err(e) => return Err(report_failures(vec![(image, e)], reporter, "")),
        };
        match promoted.iter_mut().find(|p| p.image == index) {
            Some(p) => p.refs.extend(refs),
            None => promoted.push(Promoted {
                image: index,
                digest: manifest.digest.clone(),
                refs,
            }),
        }
    }
    if !dry_run {
        for p in &promoted {
            let subject = Subject {
                refs: p.refs.iter().map(ToString::to_string).collect(),
                ..plan.image(p.image).subject()
            };
            reporter.event(&Event::Promoted(event::Promoted {
                subject,
                digest: p.digest.clone(),
            }));
        }
    }
    Ok(promoted)
}

async fn fetch_source(registries: &Registries, source: &ImageRef) -> Result<RegistryManifest> {
    let client = registries.client(source.registry()).await?;
    client
        .get_manifest(&source.path(), &source.tag)
        .await?
        .ok_or_else(|| Error::Failed(format!("{source} is not in the registry")))
}

/// PUT `manifest` under every `to_tags` of its repository and check them (or, dry, say so).
async fn promote_one(
    registries: &Registries,
    image: &Image,
    manifest: &RegistryManifest,
    to_tags: &[String],
    dry_run: bool,
    reporter: &dyn EventSink,
) -> Result<Vec<ImageRef>> {
    let mut refs = Vec::new();
    for repository in repositories(image) {
        for tag in to_tags {
            let target = ImageRef::new(repository, tag).map_err(|e| Error::Usage(e.to_string()))?;
            let client = registries.client(target.registry()).await?;
            if dry_run {
                let now = client.head_manifest(&target.path(), tag).await?;
                reporter.note(crate::output::Note::WouldPoint {
                    target: target.to_string(),
                    digest: manifest.digest.to_string(),
                    now,
                });
            } else {
                client.put_manifest(&target.path(), tag, manifest).await?;
                let now = client.head_manifest(&target.path(), tag).await?;
                if let Some(line) =
                    mismatch(&target, now.as_deref(), &manifest.digest, "the source")
                {
                    return Err(Error::Failed(line));
                }
            }
            refs.push(target);
        }
    }
    Ok(refs)
}
