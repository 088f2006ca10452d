//! Publishing built images in two phases: push each image under a staging tag, then point the
//! release tags at the pushed manifests with small manifest PUTs, so a failure before the second
//! phase never changes a release tag. Also: verify registry digests against the local images or a
//! metadata file, and promote tags inside the registry.
//!
//! [`push`] lives in `push`, [`verify`] and [`verify_metadata`] in `verify`, [`promote`] in
//! `promote`; `jobs` runs their work concurrently and turns failures into events and one error.

pub mod bases;
mod holders;
pub mod index;
mod jobs;
mod mounts;
mod promote;
mod push;
pub mod sign;
mod verify;

#[cfg(test)]
mod tests;

use crate::error::{Error, Result};
use crate::plan::{BuildPlan, Image, ImageIndex};
use crate::reference::{self, ImageRef, Platform};
use crate::registry::{Registries, RegistryManifest};

/// One repository of one image and the digest it was pushed as.
#[derive(Debug, Clone)]
struct Pushed {
    pub repository: String,
    digest: String,
    /// The platform manifests the index `digest` holds (several platforms only).
    platforms: Vec<(Platform, RegistryManifest)>,
    /// The manifest pushed under the staging tag (one platform), as read back by its digest.
    pub manifest: Option<RegistryManifest>,
    /// Our own push: each engine image id pushed and the digest of the config pushed for it
    /// (normalised, so not the id).
    configs: Vec<(String, String)>,
}

pub use holders::Holders;
pub use promote::{Promoted, promote};
pub use push::{Published, push};
pub use verify::{Verified, VerifiedEntry, verify, verify_metadata};

/// The tag phase one pushes under, one per repository, overwritten by every run.
pub const DEFAULT_STAGING_TAG: &str = "sdkimage-staging";

/// Images pushed at once when `-j` is not given. Pushing waits on the network, not on this
/// machine's CPUs, so it does not follow the core count as builds do: the engine uploads at
/// most 5 layers at a time whatever the number of pushes (dockerd's `max-concurrent-uploads`
/// default), and pushing more images than that at once only queues their layers in the engine,
/// while fewer leaves the per-image round trips (blob checks, mounts, manifest PUTs) waiting
/// one behind the other on a distant registry.
pub const DEFAULT_PUSH_JOBS: usize = 5;

/// How many registry API calls (phase two, `verify`, `promote`) run at once. They are small
/// HTTP requests the registry answers from its metadata, so they are not bounded by `--jobs`,
/// which bounds the engine's pushes (compression and uploads).
const CHECK_JOBS: usize = 8;

/// How [`push`] publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishOptions {
    /// Images pushed at once (at least one).
    pub jobs: usize,
    /// `None` (`--no-staging`): push every release ref through the engine directly.
    pub staging_tag: Option<String>,
    /// Say what would be pushed; push nothing.
    pub dry_run: bool,
    /// `--sign`: sign and attest every pushed digest before the release tags move.
    pub sign: Option<sign::SignOptions>,
    /// Who uploads the images (`--push-via`).
    pub push_via: PushVia,
    /// Our own push: the epoch layers and config are normalised to (seconds since 1970,
    /// `provenance::source_date`); `None` pushes them as the engine wrote them
    /// (`reproducible = false`).
    pub epoch: Option<u64>,
    /// Our own push: where exports and compressed blobs are kept (`<target>/sdkimage/oci`).
    pub cache_dir: std::path::PathBuf,
    /// Our own push, per image name: what its manifest and Dockerfile say (`commands` fills it from
    /// the workspace). An image missing here is normalised and has no known external base.
    pub images: std::collections::BTreeMap<String, ImagePush>,
}

/// What our own push of one image takes from the workspace.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImagePush {
    /// `reproducible = false` in its manifest (or, unset there, in the workspace): pushed as
    /// the engine wrote it, not normalised.
    pub not_reproducible: bool,
    /// The external bases its first layers may come from ([`bases::candidates`]).
    pub bases: Vec<String>,
}

/// Who uploads the images of phase one. The command line's default is [`PushVia::Tool`]
/// (`--push-via tool`); the library's is the engine, which its fake engine can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PushVia {
    /// This tool: exported from the engine, normalised, uploaded with the registry client.
    Tool,
    /// The engine's own push (`POST /images/{name}/push`), for registries our client cannot
    /// serve; digests are the engine's, not normalised.
    #[default]
    Engine,
}

impl Default for PublishOptions {
    fn default() -> Self {
        PublishOptions {
            jobs: DEFAULT_PUSH_JOBS,
            staging_tag: Some(DEFAULT_STAGING_TAG.to_string()),
            dry_run: false,
            sign: None,
            push_via: PushVia::default(),
            epoch: None,
            cache_dir: std::env::temp_dir().join("sdkimage-oci"),
            images: std::collections::BTreeMap::new(),
        }
    }
}

impl PublishOptions {
    /// The epoch `image` is normalised to: `None` with `--push-via engine`, without an
    /// epoch, or with `reproducible = false` for it.
    pub fn epoch_of(&self, image: &Image) -> Option<u64> {
        let off = self
            .images
            .get(&image.name)
            .is_some_and(|i| i.not_reproducible);
        self.epoch
            .filter(|_| self.push_via == PushVia::Tool && !off)
    }

    /// The external bases `image` may stand on.
    pub fn bases_of(&self, image: &Image) -> &[String] {
        self.images
            .get(&image.name)
            .map_or(&[], |i| i.bases.as_slice())
    }

    /// Check the options against the images to publish, before anything runs: the staging
    /// tag must be a valid tag and none of their release tags (phase one would overwrite a
    /// release tag, which a failure in phase one must never change).
    pub fn check(
        &self,
        plan: &BuildPlan,
        images: impl IntoIterator<Item = ImageIndex>,
    ) -> Result<()> {
        let images: Vec<ImageIndex> = images.into_iter().collect();
        check_publishable(plan, &images)?;
        if self.sign.is_some() && self.staging_tag.is_none() {
            return Err(Error::Usage(
                "--sign cannot be used with --no-staging: signatures are written after every image is staged and before a release tag moves; drop --no-staging".into(),
            ));
        }
        let Some(staging) = &self.staging_tag else {
            // Each platform of a multi-platform image is pushed under a tag of its own before
            // the index: without staging, those would be release-looking tags.
            for index in images {
                let image = image_at(plan, index)?;
                if index::is_multi_platform(image) {
                    return Err(Error::Usage(format!(
                        "--no-staging cannot publish {} ({} platforms): each platform is pushed under a staging tag before one index per release tag points at them; drop --no-staging",
                        image.name,
                        image.platforms.len()
                    )));
                }
            }
            return Ok(());
        };
        reference::check_tag(staging).map_err(|e| Error::Usage(format!("--staging-tag: {e}")))?;
        for index in images {
            let image = image_at(plan, index)?;
            if let Some(r) = image.refs.iter().find(|r| &r.tag == staging) {
                return Err(Error::Usage(format!(
                    "--staging-tag {staging} is also a release tag ({r}); phase one would overwrite it before the release is complete. Choose another staging tag"
                )));
            }
        }
        Ok(())
    }
}

/// Refuse refs that name Docker Hub official images (`go_sdk:latest`: no registry, no
/// namespace) before anything runs: nobody can push there, so a push, verify or promote of
/// them can only fail, after a minute of retries on a machine without Docker Hub.
pub fn check_publishable(plan: &BuildPlan, images: &[ImageIndex]) -> Result<()> {
    let mut official = Vec::new();
    for &index in images {
        for r in &image_at(plan, index)?.refs {
            if r.is_docker_hub_official() {
                official.push(r.to_string());
            }
        }
    }
    let Some(first) = official.first() else {
        return Ok(());
    };
    let more = match official.len() {
        1 => String::new(),
        n => format!(" (and {} more)", n - 1),
    };
    Err(Error::Usage(format!(
        "{first}{more} has no registry and no namespace: it names a Docker Hub official image, which nobody can push to. Set where the images go with --repository-root (e.g. --repository-root localhost:5000/beam) or `repository-root` in the workspace's [workspace.metadata.sdkimage] (or sdkimage-workspace.toml)"
    )))
}

/// Before building anything to push: every registry the images' refs name must answer
/// `/v2/`. All are asked at once; an unreachable one is [`Error::Unreachable`] naming it.
pub async fn check_registries(
    registries: &Registries,
    plan: &BuildPlan,
    images: &[ImageIndex],
) -> Result<()> {
    let mut hosts: Vec<&str> = Vec::new();
    for &index in images {
        for r in &image_at(plan, index)?.refs {
            if !hosts.contains(&r.registry()) {
                hosts.push(r.registry());
            }
        }
    }
    let answers = futures_util::future::join_all(hosts.iter().map(|host| async move {
        let client = registries.client(host).await?;
        client.ping().await
    }))
    .await;
    let failures: Vec<Error> = answers.into_iter().filter_map(|a| a.err()).collect();
    let unreachable = failures.iter().any(|e| matches!(e, Error::Unreachable(_)));
    let mut lines: Vec<String> = failures.iter().map(ToString::to_string).collect();
    if lines.is_empty() {
        return Ok(());
    }
    lines.push("nothing was built or pushed: --push needs every registry it pushes to".into());
    let text = lines.join("\n");
    Err(if unreachable {
        Error::Unreachable(text)
    } else {
        Error::Failed(text)
    })
}

/// One line when `r` does not point at `expected` (`remote` is what the registry has).
fn mismatch(r: &ImageRef, remote: Option<&str>, expected: &str, source: &str) -> Option<String> {
    match remote {
        Some(remote) if remote == expected => None,
        Some(remote) => Some(format!(
            "{r}: registry has {remote}, {source} has {expected}"
        )),
        None => Some(format!(
            "{r}: the registry has no such tag, {source} has {expected}"
        )),
    }
}

/// The digest the registry serves for `r`; `None` when it has no such tag.
async fn registry_digest(registries: &Registries, r: &ImageRef) -> Result<Option<String>> {
    registries
        .client(r.registry())
        .await?
        .head_manifest(&r.path(), &r.tag)
        .await
}

/// The distinct repositories of an image's refs, in order.
fn repositories(image: &Image) -> Vec<&str> {
    let mut repos: Vec<&str> = Vec::new();
    for r in &image.refs {
        if !repos.contains(&r.repository.as_str()) {
            repos.push(&r.repository);
        }
    }
    repos
}

/// Image `index` of the plan, or a usage error.
fn image_at(plan: &BuildPlan, index: ImageIndex) -> Result<&Image> {
    plan.images
        .get(index.get())
        .ok_or_else(|| Error::Usage(format!("no image #{} in the plan", index.get())))
}

#[cfg(test)]
mod pool_tests;
