//! Images between the engines of a pool: a dependency moved (by exact id, then tagged as on
//! the engine that built it) to the engine its dependant runs on, and, at the end of a run,
//! every image gathered on the first engine so `docker run <ref>` works where the user is.

use std::collections::BTreeSet;
use std::time::Duration;

use super::{ImageResult, Session};
use crate::engine::EngineApi;
use crate::error::{Error, Result};
use crate::output::{Event, event, millis};
use crate::plan::{Image, ImageIndex};
use crate::reference::{ImageRef, Platform};

/// Each image of a result with the refs it carries: the one its refs point at, and each other
/// platform under its local-only `<tag>-<platform>` tags.
pub(super) fn variants_of(image: &Image, result: &ImageResult) -> Vec<(String, Vec<ImageRef>)> {
    let Some(id) = &result.id else {
        return Vec::new();
    };
    let mut out = vec![(id.clone(), image.refs.clone())];
    for (platform, pid) in &result.platforms {
        if pid == id {
            continue;
        }
        let Ok(p) = Platform::parse(platform) else {
            continue;
        };
        let refs = image
            .refs
            .iter()
            .map(|r| ImageRef {
                repository: r.repository.clone(),
                tag: format!("{}-{}", r.tag, p.slug()),
            })
            .collect();
        out.push((pid.clone(), refs));
    }
    out
}

/// Move the image(s) of `result` from engine `from` to engine `to` by exact id and tag them
/// there as they are tagged where they were built; the `transferred` event says how much and
/// how long. Returns how long it took.
pub(super) async fn bring(
    session: &Session,
    from: usize,
    to: usize,
    result: &ImageResult,
) -> Result<Duration> {
    let image = session.plan.image(result.image);
    let (source, target) = (&session.pool[from], &session.pool[to]);
    let mut took = Duration::ZERO;
    for (id, refs) in variants_of(image, result) {
        let moved = crate::engine::transfer(&*source.api, &*target.api, &id).await?;
        for r in &refs {
            target.api.tag(&id, r).await?;
        }
        took += moved.duration;
        if moved.bytes > 0 {
            session
                .reporter
                .event(&Event::Transferred(event::Transferred {
                    subject: image.subject(),
                    id: id.clone(),
                    duration_ms: millis(moved.duration),
                    from: source.name.clone(),
                    to: Some(target.name.clone()),
                    bytes: moved.bytes,
                }));
        }
    }
    Ok(took)
}

/// The engine that holds a built image for what reads it after the run (`--check`,
/// `--sbom-dir`, `licenses`): the one that built it (or found it up to date) while it answers,
/// else the first engine that answers, where the gather put every image. One engine: that one.
pub fn holder<'s>(session: &'s Session, result: &ImageResult) -> &'s dyn EngineApi {
    let built_on = result
        .engine
        .as_deref()
        .and_then(|name| session.pool.iter().position(|m| m.name == name))
        .filter(|&e| session.alive(e));
    &*session.pool[built_on.unwrap_or_else(|| home(session))].api
}

/// Where the results are gathered: the first engine of the pool that still answers (the first
/// one when none does).
pub fn home(session: &Session) -> usize {
    (0..session.pool.len())
        .find(|&e| session.alive(e))
        .unwrap_or(0)
}

/// The engine of the pool that has image `id`: `own` first, else another that answers.
pub(super) async fn holder_of(session: &Session, own: usize, id: &str) -> Result<Option<usize>> {
    if session.pool[own].api.image_id(id).await?.is_some() {
        return Ok(Some(own));
    }
    for (e, member) in session.pool.iter().enumerate() {
        if e != own && session.alive(e) && matches!(member.api.image_id(id).await, Ok(Some(_))) {
            return Ok(Some(e));
        }
    }
    Ok(None)
}

/// Image `id` of `image`, up to date on engine `from`, moved to engine `to` (its position and
/// its name in events) rather than built again there.
pub(super) async fn fetch(
    session: &Session,
    image: &Image,
    from: usize,
    to: (usize, Option<&str>),
    id: &str,
) -> Result<()> {
    let source = &session.pool[from];
    let moved = crate::engine::transfer(&*source.api, &*session.pool[to.0].api, id).await?;
    session
        .reporter
        .event(&Event::Transferred(event::Transferred {
            subject: image.subject(),
            id: id.to_string(),
            duration_ms: millis(moved.duration),
            from: source.name.clone(),
            to: to.1.map(str::to_string),
            bytes: moved.bytes,
        }));
    Ok(())
}

/// Every built image also on the first engine (the first that still answers when it was
/// lost), moved from an engine that holds it.
pub(super) async fn gather(
    session: &Session,
    selection: &[ImageIndex],
    results: &[Option<ImageResult>],
    holders: &[BTreeSet<usize>],
) -> Result<()> {
    if session.pool.len() < 2 {
        return Ok(());
    }
    let home = home(session);
    if !session.alive(home) {
        return Ok(());
    }
    let work: Vec<(usize, &ImageResult)> = results
        .iter()
        .enumerate()
        .filter_map(|(pos, r)| Some((pos, r.as_ref()?)))
        .filter(|(pos, r)| r.id.is_some() && !holders[*pos].contains(&home))
        .collect();
    let moves = work.into_iter().map(|(pos, result)| async move {
        let from = holders[pos]
            .iter()
            .copied()
            .find(|&h| session.alive(h))
            .ok_or_else(|| {
                Error::Unreachable(format!(
                    "{} was built on an engine that no longer answers",
                    session.plan.image(selection[pos]).name
                ))
            })?;
        bring(session, from, home, result).await
    });
    for moved in futures_util::future::join_all(moves).await {
        moved?;
    }
    Ok(())
}
