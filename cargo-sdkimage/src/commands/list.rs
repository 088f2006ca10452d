//! `list`: the selected images with their refs, dependencies, platforms and engines.

use super::setup::check_with_connected;
use super::{Target, load_with, no_manifests_note, setup};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::output::{EventSink, ListEntry};

/// `list`: the selected images. Builders and platforms are checked as `build` checks them
/// when an engine answers; without one, what the files say is checked.
pub async fn list(target: &Target, reporter: &dyn EventSink) -> Result<Vec<ListEntry>> {
    // The engine's handshake (a few requests, slow on a busy engine) goes on while the
    // workspace is discovered and loaded.
    let connecting = tokio::spawn(Engine::connect());
    let l = match load_with(target, true) {
        Ok(l) => l,
        Err(e) => {
            connecting.abort();
            return Err(e);
        }
    };
    if l.plan.manifests.is_empty() {
        connecting.abort();
        reporter.note(no_manifests_note(&l.ws.root));
        return Ok(Vec::new());
    }
    let connected = connecting.await.unwrap_or_else(|e| {
        Err(Error::Unreachable(format!(
            "connecting to the Docker engine stopped: {e}"
        )))
    });
    check_with_connected(connected, &l, &[], reporter).await?;
    let engines = setup::planned_engines(&l, reporter).await;
    Ok(l.selection
        .iter()
        .zip(engines)
        .map(|(&i, engine)| {
            let img = l.plan.image(i);
            ListEntry {
                language: img.language.clone(),
                variant: img.variant.clone(),
                name: img.name.clone(),
                refs: img.refs.iter().map(ToString::to_string).collect(),
                manifest: l.ws.display_path(&l.plan.manifest_of(i).path),
                depends_on: img
                    .deps
                    .iter()
                    .map(|&d| l.plan.image(d).name.clone())
                    .collect(),
                platforms: img.platforms.iter().map(ToString::to_string).collect(),
                target: img.target.clone(),
                engine,
            }
        })
        .collect())
}
