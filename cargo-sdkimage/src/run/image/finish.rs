//! After a build: the licenses layer when asked, the tags (the plain refs or the platform's
//! local-only ones), the state recorded.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Done, ImageJob, Variant};
use crate::error::Result;
use crate::fingerprint::{ImageState, InputDigests, Stamps};
use crate::output::BuildLog;
use crate::run::{BuildOptions, Outcome};

impl ImageJob<'_> {
    /// After a build: the licenses layer when asked, the tags, the state, the event.
    pub(super) async fn finish(
        &self,
        v: &Variant,
        id: String,
        fingerprint: String,
        digests: InputDigests,
        files: Arc<Stamps>,
        opts: &BuildOptions,
    ) -> Result<Done> {
        let session = self.session;
        let image = self.image;
        let manifest = session.plan.manifest_of(self.index);
        let label = image.label();
        let say = |text: &str| {
            session
                .reporter
                .build_log(&image.name, &label, BuildLog::Output(text));
        };
        let (id, licenses) = match (&manifest.licenses, opts.pull_licenses) {
            (Some(spec), true) => {
                say("gathering third-party licenses");
                let resolved = crate::licenses::gather_licenses(
                    &session.ws,
                    manifest,
                    Some((self.engine, &id)),
                )
                .await?;
                // The time of the `created` label, else now (no commit, no SOURCE_DATE_EPOCH).
                let created = match session.provenance(true).await?.created {
                    Some(created) => created,
                    None => crate::provenance::created(&session.ws.root)?,
                };
                let sbom = crate::licenses::sbom::document(&image.name, &created, &resolved)?;
                let final_id = crate::licenses::add_licenses_layer(
                    self.engine,
                    self.builder(),
                    v.platform.as_ref().map(ToString::to_string),
                    &id,
                    &spec.dest,
                    &resolved,
                    &sbom,
                )
                .await?;
                say(&format!(
                    "added {} license entries and {} under {}",
                    resolved.len(),
                    crate::licenses::sbom::FILE,
                    spec.dest
                ));
                (final_id, Some(resolved.len()))
            }
            _ => (id, None),
        };
        let refs = self.refs_of(v);
        for r in &refs {
            self.engine.tag(&id, r).await?;
        }
        let state = ImageState {
            fingerprint,
            id: id.clone(),
            refs: refs.iter().map(ToString::to_string).collect(),
            files,
            inputs: Some(digests),
            build_ms: Some(self.started.elapsed().as_millis() as u64),
        };
        self.store.save(&v.state_key, &state)?;
        Ok(Done {
            outcome: Outcome::Built,
            id,
            licenses,
            bases: BTreeMap::new(),
        })
    }
}
