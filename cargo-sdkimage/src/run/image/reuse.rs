//! An image whose recorded build stands: moved from the engine of the pool that holds it, its
//! refs pointed at it (re-tagged where they point elsewhere), its state kept.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Done, ImageJob, Variant};
use crate::error::Result;
use crate::fingerprint::{ImageState, InputDigests, Stamps};
use crate::reference::ImageRef;
use crate::run::Outcome;

impl ImageJob<'_> {
    /// The engine of the pool that has image `id`: its own first, else another that answers.
    pub(super) async fn holder_of(&self, id: &str) -> Result<Option<usize>> {
        crate::run::moves::holder_of(self.session, self.engine_index, id).await
    }

    /// The refs of platform `v` that do not point at image `id` in the engine.
    pub(super) async fn refs_elsewhere(&self, v: &Variant, id: &str) -> Result<Vec<ImageRef>> {
        let mut elsewhere = Vec::new();
        for r in self.refs_of(v) {
            let current = self.engine.image_id(&r.to_string()).await?;
            if current.as_deref() != Some(id) {
                elsewhere.push(r);
            }
        }
        Ok(elsewhere)
    }

    /// Up to date: point every ref at the last build (re-tagging where needed) and remember.
    pub(super) async fn reuse(
        &self,
        v: &Variant,
        prev: &ImageState,
        fingerprint: String,
        digests: InputDigests,
        files: Arc<Stamps>,
    ) -> Result<Done> {
        let engine = self.engine;
        // Up to date on another engine of the pool: moved here rather than built again.
        if let Some(holder) = self.holder_of(&prev.id).await?
            && holder != self.engine_index
        {
            let to = (self.engine_index, self.engine_name);
            crate::run::moves::fetch(self.session, self.image, holder, to, &prev.id).await?;
        }
        let refs = self.refs_of(v);
        let elsewhere = self.refs_elsewhere(v, &prev.id).await?;
        for r in &elsewhere {
            engine.tag(&prev.id, r).await?;
        }
        let retagged = !elsewhere.is_empty();
        let mut all_refs = prev.refs.clone();
        all_refs.extend(refs.iter().map(ToString::to_string));
        all_refs.sort();
        all_refs.dedup();
        let state = ImageState {
            fingerprint,
            id: prev.id.clone(),
            refs: all_refs,
            files,
            inputs: Some(digests),
            build_ms: prev.build_ms,
        };
        // A no-op writes nothing: the record on disk is this one.
        if state != *prev {
            self.store.save(&v.state_key, &state)?;
        }
        Ok(Done {
            outcome: if retagged {
                Outcome::Retagged
            } else {
                Outcome::UpToDate
            },
            id: prev.id.clone(),
            licenses: None,
            bases: BTreeMap::new(),
        })
    }
}
