//! Licenses for a build: what an image's licenses depend on (for its fingerprint), running
//! the gatherers of a manifest's `[licenses]`, and the final layer that carries them.

use std::sync::Arc;

use super::Resolved;
use super::sources::Reader;
use crate::engine::{BuildRequest, Builder, EngineApi};
use crate::error::{Error, Result};
use crate::fingerprint;
use crate::manifest::Manifest;
use crate::reference::ImageRef;
use crate::workspace::Workspace;

/// What the licenses of an image depend on besides the image itself: the `[licenses]` table,
/// the licenses folder (policy, overrides, texts), the lock file the cargo gatherer resolves, and
/// the workspace settings a source follows (the workspace's `maven-repo`).
pub fn license_inputs(ws: &Workspace, manifest: &Manifest) -> Option<String> {
    let spec = manifest.licenses.as_ref()?;
    let mut paths = vec![ws.config.licenses_dir.clone(), ws.root.join("Cargo.lock")];
    for source in &spec.sources {
        paths.extend(source.paths.values().cloned());
        paths.extend((super::sources::registered(source).workspace_inputs)(
            ws, source,
        ));
    }
    // `sbom=spdx-2.3`: images from before the SBOM rebuild once, to get one.
    Some(format!(
        "{}:{:?}:{}:sbom=spdx-2.3",
        spec.dest,
        spec.sources,
        fingerprint::hash_paths(&paths)
    ))
}

/// Run every gatherer of the manifest's `[licenses]`, then overrides and policy. The
/// image-side gatherers read `image` (engine and image id); host-side ones need neither.
pub async fn gather_licenses(
    ws: &Arc<Workspace>,
    manifest: &Manifest,
    image: Option<(&dyn EngineApi, &str)>,
) -> Result<Vec<Resolved>> {
    let spec = manifest
        .licenses
        .as_ref()
        .expect("the manifest has [licenses]");
    let mut gathered = super::Gathered::default();
    let mut image_side = Vec::new();
    for source in &spec.sources {
        match super::sources::registered(source).reader {
            Reader::Host(gather) => {
                let (ws, source) = (ws.clone(), source.clone());
                let found = tokio::task::spawn_blocking(move || gather(&ws, &source))
                    .await
                    .map_err(|e| Error::Failed(format!("license task failed: {e}")))??;
                gathered.merge(found);
            }
            Reader::Image(make) => image_side.push(make(ws, source)?),
        }
    }
    if !image_side.is_empty() {
        let (engine, id) = image.ok_or_else(|| {
            Error::Failed("the image-side license gatherers need a built image".into())
        })?;
        gathered.merge(super::image::gather_image(engine, id, image_side).await?);
    }
    let dir = ws.config.licenses_dir.clone();
    tokio::task::spawn_blocking(move || super::check(gathered, &dir))
        .await
        .map_err(|e| Error::Failed(format!("license task failed: {e}")))?
}

/// Add the license layout and the SBOM (`sbom`, its bytes) to image `id` as one final layer;
/// returns the new image's id.
pub async fn add_licenses_layer(
    engine: &dyn EngineApi,
    builder: Builder,
    platform: Option<String>,
    id: &str,
    dest: &str,
    resolved: &[Resolved],
    sbom: &[u8],
) -> Result<String> {
    const DOCKERFILE: &str = ".sdkimage.licenses.Dockerfile";
    let failed =
        |e: &dyn std::fmt::Display| Error::Failed(format!("cannot add the licenses layer: {e}"));
    let prefix = dest.trim_matches('/');
    // BuildKit takes a local image by name, not by id: a tag of our own for the time of the
    // build.
    let base = match builder {
        Builder::Classic => None,
        Builder::BuildKit => {
            let hex = id.trim_start_matches("sha256:");
            let tag = ImageRef {
                repository: "sdkimage-licenses-base".into(),
                tag: hex[..hex.len().min(32)].to_string(),
            };
            engine.tag(id, &tag).await?;
            Some(tag)
        }
    };
    let from = base
        .as_ref()
        .map_or_else(|| id.to_string(), ToString::to_string);
    let dockerfile = format!("FROM {from}\nCOPY {prefix} /{prefix}\n");
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_mtime(0);
    header.set_mode(0o644);
    header.set_size(dockerfile.len() as u64);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, DOCKERFILE, dockerfile.as_bytes())
        .map_err(|e| failed(&e))?;
    super::append_to_tar(resolved, sbom, dest, &mut tar).map_err(|e| failed(&e))?;
    let body = tar.into_inner().map_err(|e| failed(&e))?;
    let request = BuildRequest {
        builder,
        dockerfile: DOCKERFILE.to_string(),
        platform,
        ..Default::default()
    };
    let context = futures_util::stream::once(async move { Ok(bytes::Bytes::from(body)) });
    let built = engine.build_to_id(&request, Box::pin(context)).await;
    if let Some(tag) = base {
        engine.untag(&tag.to_string()).await;
    }
    built.map_err(|e| failed(&e))
}
