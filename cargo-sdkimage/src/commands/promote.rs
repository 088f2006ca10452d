//! `promote`: release tags made from a release candidate's inside the registry, optionally signed.

use std::sync::Arc;

use super::{Target, failed_summary, load, summary_of};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::output::Note;
use crate::output::{Counts, EventSink, Tally};
use crate::publish;
use crate::registry::Registries;

/// `promote --from-tag RC --tag FINAL...`: copy manifests inside the registry; no rebuild.
pub async fn promote(
    target: &Target,
    from_tag: &str,
    dry_run: bool,
    sign: Option<publish::sign::SignOptions>,
    reporter: Arc<dyn EventSink>,
) -> Result<()> {
    if target.plan.tags.is_empty() {
        return Err(Error::Usage(
            "promote needs the tags to promote to: --tag FINAL (repeatable)".into(),
        ));
    }
    if let Some(same) = target.plan.tags.iter().find(|t| t.as_str() == from_tag) {
        return Err(Error::Usage(format!(
            "--tag {same} is the tag being promoted (--from-tag)"
        )));
    }
    let l = load(target)?;
    publish::check_publishable(&l.plan, &l.selection)?;
    let mut sign = sign;
    if let Some(sign) = &mut sign {
        sign.ready(&l.ws)?;
    }
    let started = std::time::Instant::now();
    let tally = Tally::new(&*reporter);
    // Learn which registries the engine treats as insecure when one runs; promote itself
    // never needs it.
    let engine = Engine::connect().await.ok();
    let mut registries = Registries::from_env()?;
    if let Some(engine) = &engine {
        registries = registries.with_insecure(&engine.insecure_registries().await?);
    }
    let promoted = publish::promote(
        &registries,
        &l.plan,
        &l.selection,
        from_tag,
        &l.plan.tags,
        dry_run,
        &tally,
    )
    .await;
    let promoted = failed_summary(&tally, started, promoted)?;
    if let (Some(sign), false) = (&sign, dry_run) {
        // The digests are unchanged, so earlier signatures stay valid; `--sign` adds this
        // key's signature of each (the same bytes again when this key signed it already).
        let mut digests: Vec<(String, String)> = Vec::new();
        for p in &promoted {
            for r in &p.refs {
                let entry = (r.repository.clone(), p.digest.clone());
                if !digests.contains(&entry) {
                    digests.push(entry);
                }
            }
        }
        let signed = publish::sign::sign_promoted(&registries, &digests, sign).await;
        let signed = failed_summary(&tally, started, signed)?;
        reporter.note(crate::output::Note::SignedPromoted {
            digests: signed.len(),
        });
    }
    let counts = Counts {
        promoted: if dry_run { 0 } else { promoted.len() },
        ..Counts::default()
    };
    summary_of(&tally, counts, started.elapsed());
    if dry_run {
        reporter.note(Note::PromoteDryRun {
            images: l.selection.len(),
        });
    } else {
        reporter.note(Note::Promoted {
            images: promoted.len(),
            from_tag: from_tag.to_string(),
            tags: l.plan.tags.clone(),
        });
    }
    Ok(())
}
