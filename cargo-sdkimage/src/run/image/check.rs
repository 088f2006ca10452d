//! What one platform of an image is made of and whether its recorded build stands: the
//! context collected and hashed (once per image), the Dockerfile read, the non-file inputs and
//! labels, the fingerprint against the recorded state.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{ImageJob, Sources, Variant};
use crate::context;
use crate::engine::Builder;
use crate::error::{Error, Result};
use crate::fingerprint::{self, InputDigests, Inputs};
use crate::plan::ImageIndex;
use crate::run::BuildOptions;
use crate::run::bases::{self, PlatformInputs};
use crate::run::status::Check;

impl ImageJob<'_> {
    /// The inputs and fingerprint of platform `v`, and whether its recorded build stands.
    pub(super) async fn check(
        &self,
        v: &Variant,
        sources: &Sources,
        dep_ids: &BTreeMap<ImageIndex, String>,
        opts: &BuildOptions,
    ) -> Result<Check> {
        let mut inputs = self.inputs(v, dep_ids, opts);
        inputs.dockerfile = sources.ctx.dockerfile_in_context.clone();
        inputs.labels = self.labels(opts, false).await?.fingerprinted();
        let PlatformInputs {
            bases,
            platform_args,
        } = bases::platform_inputs(
            self.session,
            self.index,
            v.platform.as_ref(),
            &sources.dockerfile,
        );
        // A base the engine lacks is a cache miss: the build pulls it, and the fingerprint is
        // taken again afterwards with its id.
        let engine = self.engine;
        let (bases_complete, found) = bases::resolve(engine, &bases, &mut inputs.bases).await?;
        let fingerprint = fingerprint::fingerprint(&inputs, &sources.digest);
        let digests = InputDigests::of(&inputs, &sources.digest);
        // The main platform's state was read with the sources.
        let taken = match v.state_key == self.image.name {
            true => sources.previous.lock().ok().and_then(|mut p| p.take()),
            false => None,
        };
        let recorded = taken.or_else(|| self.store.load(&v.state_key));
        // Whether the recorded image still stands: one engine request, which `--force` (it
        // builds anyway) does without.
        let standing = match &recorded {
            Some(prev) if !opts.force && bases_complete && prev.fingerprint == fingerprint => {
                self.holder_of(&prev.id).await?.is_some()
            }
            _ => false,
        };
        Ok(Check {
            inputs,
            bases,
            platform_args,
            bases_complete,
            found,
            fingerprint,
            digests,
            recorded,
            standing,
        })
    }

    /// The labels of this image: the defaults from git and the workspace, then the user's.
    /// Not `building`: the labels that count in the fingerprint only are complete.
    pub(super) async fn labels(
        &self,
        opts: &BuildOptions,
        building: bool,
    ) -> Result<crate::labels::ImageLabels> {
        let session = self.session;
        let settings = &session.ws.config.labels;
        let provenance = match settings.defaults {
            true => Some(session.provenance(building).await?),
            false => None,
        };
        let defaults = provenance
            .as_ref()
            .map(|provenance| crate::labels::Defaults {
                provenance,
                version: session.ws.version.as_deref(),
                title: &self.image.name,
            });
        let manifest = &session.plan.manifest_of(self.index).labels;
        Ok(crate::labels::merge(
            settings,
            defaults,
            manifest,
            &opts.labels,
        ))
    }

    /// The non-file inputs: build args (ours by id), dependency ids, the license inputs.
    fn inputs(
        &self,
        v: &Variant,
        dep_ids: &BTreeMap<ImageIndex, String>,
        opts: &BuildOptions,
    ) -> Inputs {
        let manifest = self.session.plan.manifest_of(self.index);
        let mut inputs = Inputs {
            dockerfile: String::new(),
            build_args: self.image.build_args.clone(),
            dependency_ids: dep_ids.values().cloned().collect(),
            bases: Vec::new(),
            licenses: if opts.pull_licenses {
                crate::licenses::license_inputs(&self.session.ws, manifest)
            } else {
                None
            },
            builder: self.builder().as_str().to_string(),
            platform: v.platform.as_ref().map(ToString::to_string),
            target: self.image.target.clone(),
            inline_cache: self.cache(opts).inline,
            labels: BTreeMap::new(),
        };
        for (arg, dep) in &self.image.image_args {
            if let Some(id) = dep_ids.get(dep) {
                inputs.build_args.insert(arg.clone(), id.clone());
            }
        }
        inputs
    }

    /// Collect the context, read the Dockerfile and hash the context, off the runtime; file
    /// hashes of the last build (of the platform the refs name) are reused where files did not
    /// change.
    pub(super) async fn sources(&self) -> Result<Sources> {
        let session = self.session;
        let manifest = session.plan.manifest_of(self.index);
        let mut spec = manifest.context_spec(
            self.image.variant.as_deref(),
            &session.ws.root,
            &session.ws.state_dir(),
        );
        // A custom image's Dockerfile is rendered: written under the state folder, sent from there.
        let rendered = self.image.write_rendered(&session.ws.state_dir())?;
        if let Some((path, _)) = &rendered {
            spec.dockerfile = path.clone();
        }
        let previous = self.store.load(&self.image.name);
        let path = manifest.dockerfile.clone();
        let root = session.ws.root.clone();
        let classic = match self.builder() {
            Builder::Classic => Some((session.ws.state_dir(), self.image.name.clone())),
            Builder::BuildKit => None,
        };
        let failed = |e: tokio::task::JoinError| Error::Failed(format!("context task failed: {e}"));
        let (dockerfile, spec) = tokio::task::spawn_blocking(move || -> Result<_> {
            let rules =
                crate::guarded::Rules::new(&root, crate::guarded::CONFIG_CAP, "a Dockerfile");
            let dockerfile = match rendered {
                Some((_, text)) => text,
                None => {
                    let text = crate::guarded::read_to_string(&path, rules)
                        .map_err(|e| Error::Failed(format!("cannot read {e}")))?;
                    bases::for_classic(classic, &path, text, &mut spec.dockerfile)?
                }
            };
            Ok((dockerfile, spec))
        })
        .await
        .map_err(failed)??;
        // Only what the Dockerfile can read, when that is known.
        let only =
            crate::run::selection::context_paths(session, self.engine, self.index, &dockerfile)
                .await;
        let selected = only.clone();
        tokio::task::spawn_blocking(move || -> Result<Sources> {
            let hashed_at = std::time::SystemTime::now();
            let ctx = context::collect_only(&spec, selected.as_deref().map(Vec::as_slice))?;
            let (digest, files) = fingerprint::hash_context(&ctx, previous.as_ref())?;
            Ok(Sources {
                ctx: Arc::new(ctx),
                digest,
                files: Arc::new(files),
                previous: std::sync::Mutex::new(previous),
                hashed_at,
                dockerfile,
                only: selected,
            })
        })
        .await
        .map_err(failed)?
    }
}
