//! `verify`: the selection's refs (or a metadata file's digests) against the registry, and
//! with a key their signatures and attestations.

use std::path::PathBuf;
use std::sync::Arc;

use super::{Target, engine_registries, failed_summary, load, summary_of};
use crate::engine::Engine;
use crate::error::Result;
use crate::output::{Counts, EventSink, Tally};
use crate::publish;
use crate::registry::Registries;

/// `verify --key PUB [--attestations]`.
#[derive(Debug, Clone)]
pub struct KeyCheck {
    pub key: PathBuf,
    pub attestations: bool,
}

/// `verify`: every ref of the selection, registry digest == the local image's repo digest;
/// or, with a metadata file, the file's digests against the registry (no local images needed).
/// With `key`, each verified digest's signatures (and attestations) too.
pub async fn verify(
    target: &Target,
    from_metadata: Option<&std::path::Path>,
    key: Option<KeyCheck>,
    reporter: Arc<dyn EventSink>,
) -> Result<()> {
    let started = std::time::Instant::now();
    let tally = Tally::new(&*reporter);
    let public = match &key {
        Some(k) => Some(crate::sign::load_public_key(&k.key)?),
        None => None,
    };
    let mut signed_targets = Vec::new();
    let (verified, registries) = match from_metadata {
        Some(file) => {
            // Selectors need the workspace to mean something; without them, every entry.
            let only: Option<Vec<String>> = if target.selectors.is_empty() {
                None
            } else {
                let l = load(target)?;
                Some(
                    l.selection
                        .iter()
                        .map(|&i| l.plan.image(i).name.clone())
                        .collect(),
                )
            };
            let registries = Registries::from_env()?;
            let verified = publish::verify_metadata(
                &registries,
                file,
                only.as_deref(),
                &target.plan.tags,
                &tally,
            )
            .await;
            let verified = failed_summary(&tally, started, verified)?;
            for v in &verified {
                signed_targets.push(publish::sign::KeyTarget {
                    name: v.name.clone(),
                    refs: v.refs.clone(),
                    digest: v.digest.clone(),
                });
            }
            (verified.len(), registries)
        }
        None => {
            let l = load(target)?;
            publish::check_publishable(&l.plan, &l.selection)?;
            let engine = Engine::connect().await?;
            let registries = engine_registries(&engine).await?;
            // A tag `promote` made is not a local tag: the image's last build says which
            // local image it was pushed as.
            let states = crate::fingerprint::StateStore::new(&l.ws.state_dir());
            let verified =
                publish::verify(&engine, &registries, &l.plan, &l.selection, &states, &tally).await;
            let verified = failed_summary(&tally, started, verified)?;
            for v in &verified {
                signed_targets.push(publish::sign::KeyTarget {
                    name: l.plan.image(v.image).name.clone(),
                    refs: v.refs.clone(),
                    digest: v.digest.clone(),
                });
            }
            (verified.len(), registries)
        }
    };
    if let (Some(public), Some(k)) = (&public, &key) {
        let checked = publish::sign::verify_signed(
            &registries,
            &signed_targets,
            public,
            k.attestations,
            &tally,
        )
        .await;
        failed_summary(&tally, started, checked)?;
    }
    summary_of(
        &tally,
        Counts {
            verified,
            ..Counts::default()
        },
        started.elapsed(),
    );
    Ok(())
}
