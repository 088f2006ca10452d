//! `push`: images already built published; what our own push takes from the workspace,
//! shared with `build --push`.

use std::sync::Arc;

use super::push_metadata::push_metadata;
use super::{Target, engine_registries, failed_summary, load, summary_of};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::interrupt::Interrupt;
use crate::output::{self, Counts, EventSink, Tally};
use crate::plan::{BuildPlan, ImageIndex};
use crate::publish::{self, PublishOptions, Published};
use crate::report;

/// `opts` with what our own push takes from the workspace: the epoch (`SOURCE_DATE_EPOCH`,
/// else the commit's time; without either nothing is normalised), the cache folder, and per
/// image whether it is normalised (`reproducible` of its manifest, else of the workspace's
/// settings, else on) and which external bases it may stand on.
pub(super) fn for_workspace(
    opts: &PublishOptions,
    ws: &crate::workspace::Workspace,
    plan: &BuildPlan,
) -> Result<PublishOptions> {
    let mut opts = opts.clone();
    opts.cache_dir = ws.state_dir().join("oci");
    if opts.push_via != publish::PushVia::Tool {
        return Ok(opts);
    }
    let mut any = false;
    for (i, image) in plan.images.iter().enumerate() {
        let index = ImageIndex::new(i);
        let reproducible = plan
            .manifest_of(index)
            .reproducible
            .or(ws.config.reproducible)
            .unwrap_or(true);
        any |= reproducible;
        let push = publish::ImagePush {
            not_reproducible: !reproducible,
            bases: publish::bases::candidates(&ws.root, plan, index),
        };
        opts.images.insert(image.name.clone(), push);
    }
    if any {
        opts.epoch = crate::provenance::epoch_seconds(&ws.root)?;
    }
    Ok(opts)
}

/// Phase one and two of a publish, with the registries of the environment.
pub(super) async fn publish_images(
    engines: publish::Holders<'_>,
    plan: &BuildPlan,
    built: &[(ImageIndex, String)],
    opts: &PublishOptions,
    sink: &dyn EventSink,
    interrupt: &Interrupt,
) -> Result<Vec<Published>> {
    let registries = engine_registries(engines.first).await?;
    publish::push(engines, &registries, plan, built, opts, sink, interrupt).await
}

/// `push`: publish images that are already built (dependencies included); with
/// `metadata_file`, their refs, local ids and pushed digests are written there (also when
/// the publish fails, then with `pushed: false`).
pub async fn push(
    target: &Target,
    opts: &PublishOptions,
    metadata_file: Option<&std::path::Path>,
    reporter: Arc<dyn EventSink>,
    interrupt: Interrupt,
) -> Result<Vec<Published>> {
    let l = load(target)?;
    let mut opts = opts.clone();
    if let Some(sign) = &mut opts.sign {
        sign.ready(&l.ws)?;
    }
    let opts = &opts;
    opts.check(&l.plan, l.selection.iter().copied())?;
    let started = std::time::Instant::now();
    let tally = Tally::new(&*reporter);
    let engine = Engine::connect().await?;
    // Only what a ref names locally is pushed: a tag whose build failed owns nothing. The
    // engine is asked about every ref at once.
    let native = crate::platform::Platform::of_engine(&engine.platform().await?);
    let lookups = l.selection.iter().map(|&i| {
        let engine = &engine;
        let img = l.plan.image(i);
        let refs = img.local_refs(&native);
        async move {
            let mut local = Vec::new();
            for r in &refs {
                local.push((r.to_string(), engine.image_id(&r.to_string()).await?));
            }
            Ok::<_, Error>((i, img, local))
        }
    });
    let mut built = Vec::new();
    let mut missing = Vec::new();
    for (index, img, local) in futures_util::future::try_join_all(lookups).await? {
        let mut found: Option<String> = None;
        for (r, id) in local {
            match (id, &found) {
                (None, _) => missing.push(r),
                (Some(id), None) => found = Some(id),
                (Some(id), Some(first)) if &id != first => {
                    return Err(Error::Failed(format!(
                        "the tags of {} point at different local images ({} and {}); rebuild it with `cargo sdkimage build`",
                        img.name,
                        report::short_id(first),
                        report::short_id(&id)
                    )));
                }
                _ => {}
            }
        }
        built.push((index, found.unwrap_or_default()));
    }
    if !missing.is_empty() {
        return Err(Error::Failed(format!(
            "not built, nothing pushed: {}. Build them first (`cargo sdkimage build`), or use `build --push`.",
            missing.join(", ")
        )));
    }
    // Nothing is built: no builder to choose, no session to set up.
    let holders = publish::Holders::one(&engine);
    let opts = &for_workspace(opts, &l.ws, &l.plan)?;
    let pushed = publish_images(holders, &l.plan, &built, opts, &tally, &interrupt).await;
    let written = match metadata_file {
        Some(path) if !opts.dry_run => {
            let done = pushed.as_deref().unwrap_or_default();
            output::write_metadata(path, &push_metadata(&l.plan, &built, done))
        }
        _ => Ok(()),
    };
    let pushed = failed_summary(&tally, started, pushed)?;
    written?;
    summary_of(
        &tally,
        Counts {
            pushed: pushed.len(),
            verified: pushed.len(),
            ..Counts::default()
        },
        started.elapsed(),
    );
    Ok(pushed)
}
