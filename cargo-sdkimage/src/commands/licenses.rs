//! `licenses --out DIR`: each selected image's license texts and SBOM, built first only when
//! a gatherer reads the image.

use std::sync::Arc;

use super::setup::{self, open_session};
use super::{Target, check_cargo_sources, load, sbom};
use crate::error::{Error, Result};
use crate::interrupt::Interrupt;
use crate::output::EventSink;
use crate::output::Note;
use crate::plan::ImageIndex;
use crate::run::{self, BuildOptions};

/// `licenses --out DIR`: gather the licenses of each selected image that has `[licenses]` into
/// `DIR/<image>/`. Builds (or finds up to date) only when an image-side gatherer needs the image.
pub async fn licenses(
    target: &Target,
    out: &std::path::Path,
    sbom_dir: Option<&std::path::Path>,
    build: &BuildOptions,
    reporter: Arc<dyn EventSink>,
    interrupt: Interrupt,
) -> Result<usize> {
    let l = load(target)?;
    let wanted: Vec<ImageIndex> = l
        .selection
        .iter()
        .copied()
        .filter(|&i| l.plan.manifest_of(i).licenses.is_some())
        .collect();
    if wanted.is_empty() {
        return Err(Error::Usage(
            "no selected image has a [licenses] table".into(),
        ));
    }
    check_cargo_sources(&l)?;
    crate::licenses::check_files(&l.ws.config.licenses_dir)?;
    l.plan.check_labels(&l.ws, &l.selection, &build.labels)?;
    let created = crate::provenance::created(&l.ws.root)?;
    let write = |name: &str, resolved: &[crate::licenses::Resolved]| {
        write_licenses(name, resolved, &created, out, sbom_dir, &*reporter)
    };
    let needs_image = wanted.iter().any(|&i| {
        let spec = l.plan.manifest_of(i).licenses.as_ref().expect("filtered");
        spec.sources.iter().any(crate::licenses::needs_image)
    });
    let mut total = 0;
    if !needs_image {
        let ws = Arc::new(l.ws);
        for &i in &wanted {
            let resolved =
                crate::licenses::gather_licenses(&ws, l.plan.manifest_of(i), None).await?;
            total += write(&l.plan.image(i).name, &resolved)?;
        }
        return Ok(total);
    }
    let (session, selection, _lock) = open_session(
        l,
        build,
        reporter.clone(),
        interrupt,
        setup::Early::default(),
    )
    .await?;
    let failed_before = run::pull_then_prepare(&session, &selection, build).await?;
    let run = run::build(session.clone(), &selection, build, &failed_before).await?;
    if let Some(signal) = run.interrupted {
        return Err(Error::Interrupted(signal));
    }
    if let Some(r) = run.results.iter().find(|r| r.id.is_none()) {
        return Err(Error::Failed(format!(
            "{} was not built, so its licenses cannot be read: {}",
            session.plan.image(r.image).name,
            r.message.clone().unwrap_or_default()
        )));
    }
    for &i in &wanted {
        let pos = selection.iter().position(|&s| s == i).expect("selected");
        let id = run.results[pos].id.clone().expect("built");
        let image = Some((run::holder(&session, &run.results[pos]), id.as_str()));
        let mut signal = session.interrupt.clone();
        // A signal drops the read of the image; its scan container is removed before exit.
        let resolved = tokio::select! {
            resolved = crate::licenses::gather_licenses(&session.ws, session.plan.manifest_of(i), image) => resolved?,
            number = signal.wait() => return Err(Error::Interrupted(number)),
        };
        total += write(&session.plan.image(i).name, &resolved)?;
    }
    Ok(total)
}

fn write_licenses(
    name: &str,
    resolved: &[crate::licenses::Resolved],
    created: &str,
    out: &std::path::Path,
    sbom_dir: Option<&std::path::Path>,
    reporter: &dyn EventSink,
) -> Result<usize> {
    let dir = out.join(name);
    let document = crate::licenses::sbom::document(name, created, resolved)?;
    crate::licenses::write_dir(resolved, &document, &dir)?;
    if let Some(sbom_dir) = sbom_dir {
        sbom::write_one(sbom_dir, name, &document, reporter)?;
    }
    reporter.note(Note::LicensesWritten {
        image: name.to_string(),
        entries: resolved.len(),
        dir: dir.to_path_buf(),
    });
    Ok(resolved.len())
}
