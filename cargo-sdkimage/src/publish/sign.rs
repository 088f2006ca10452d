//! `--sign`: after phase one staged every image and before phase two moves a release tag,
//! each pushed manifest digest (each platform manifest and the index) is signed and attested
//! as cosign stores it (`sha256-<hex>.sig`, `.att` tags in the same repository), so a failure
//! to sign moves no release tag. `verify --key` reads them back. The formats are `crate::sign`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use p256::ecdsa::VerifyingKey;

use super::Pushed;
use super::holders::Holders;
use super::index;
use crate::error::{Error, Result};
use crate::output::{Event, EventSink, NamedSubject, SignatureMetadata, event};
use crate::plan::{BuildPlan, Image, ImageIndex};
use crate::reference::ImageRef;
use crate::registry::client::sha256_digest;
use crate::registry::{Registries, RegistryClient, RegistryManifest};
use crate::sign::statement::{self, BuildFacts};
use crate::sign::store::{self, Descriptor, Layer};
use crate::sign::{Signer, dsse, payload};

/// The most `verify --key` reads of one signature or attestation layer: an attestation's
/// SPDX document of a large image stays far below it.
const LAYER_LIMIT: usize = 64 << 20;

/// What signs, and where the facts of the provenance come from.
pub struct Signing {
    signer: Arc<dyn Signer>,
    root: PathBuf,
    state_dir: PathBuf,
}

/// `--sign [--sign-key PATH]`: the key path given (else the workspace's `sign-key`), and the
/// key once [`SignOptions::ready`] loaded it. `Debug` shows no key.
#[derive(Clone, Default)]
pub struct SignOptions {
    pub key: Option<PathBuf>,
    signing: Option<Arc<Signing>>,
}

impl std::fmt::Debug for SignOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignOptions")
            .field("key", &self.key)
            .field("loaded", &self.signing.is_some())
            .finish()
    }
}

impl PartialEq for SignOptions {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
            && match (&self.signing, &other.signing) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
    }
}

impl Eq for SignOptions {}

impl SignOptions {
    /// `--sign`, with `--sign-key` when given; the key is loaded by [`SignOptions::ready`].
    pub fn new(key: Option<PathBuf>) -> SignOptions {
        SignOptions { key, signing: None }
    }

    /// Load the key: `--sign-key`, else `sign-key` of the workspace settings (a problem then
    /// names its `file:line:col`), with `COSIGN_PASSWORD` for cosign's encrypted keys.
    pub fn ready(&mut self, ws: &crate::workspace::Workspace) -> Result<()> {
        let (path, shown) = match (&self.key, &ws.config.sign_key) {
            (Some(path), _) => (
                path.clone(),
                format!(
                    "--sign-key {}",
                    crate::error::quoted(&path.display().to_string())
                ),
            ),
            (None, Some(setting)) => (setting.path.clone(), setting.at.clone()),
            (None, None) => {
                return Err(Error::Usage(
                    "--sign needs a key: --sign-key PATH, or sign-key = \"PATH\" in [workspace.metadata.sdkimage] (or sdkimage-workspace.toml)".into(),
                ));
            }
        };
        let password = std::env::var(crate::sign::cosign_key::PASSWORD_ENV).ok();
        let signer = crate::sign::load_private_key(&path, password.as_deref(), &shown)?;
        self.signing = Some(Arc::new(Signing {
            signer: Arc::new(signer),
            root: ws.root.clone(),
            state_dir: ws.state_dir(),
        }));
        Ok(())
    }

    fn signing(&self) -> Result<&Signing> {
        self.signing
            .as_deref()
            .ok_or_else(|| Error::Usage("--sign: the signing key was not loaded".into()))
    }
}

/// One digest to sign: where, and what its attestations say.
struct Subject {
    repository: String,
    digest: String,
    platform: Option<String>,
    facts: BuildFacts,
    sbom: Option<serde_json::Value>,
}

/// Sign and attest every digest phase one staged (each platform manifest and the index of a
/// multi-platform image, in every repository); what was written, per image.
pub(super) async fn sign_staged(
    engines: Holders<'_>,
    registries: &Registries,
    plan: &BuildPlan,
    staged: &[(ImageIndex, Vec<Pushed>)],
    built: &[(ImageIndex, String)],
    sign: &SignOptions,
    reporter: &dyn EventSink,
) -> Result<Vec<(ImageIndex, SignatureMetadata)>> {
    let signing = sign.signing()?;
    let source = crate::provenance::Provenance::read(&signing.root)?;
    let states = crate::fingerprint::StateStore::new(&signing.state_dir);
    let mut written = Vec::new();
    for (index, pushed) in staged {
        let image = plan.image(*index);
        let engine = engines.of(*index);
        let native = crate::platform::Platform::of_engine(&engine.platform().await?);
        let main = crate::platform::main_platform(&image.platforms, &native).cloned();
        // Each platform's local image: its facts and its SBOM.
        let ids: Vec<(Option<crate::platform::Platform>, String)> =
            if index::is_multi_platform(image) {
                index::local_ids(engine, image)
                    .await?
                    .into_iter()
                    .map(|(p, id)| (Some(p), id))
                    .collect()
            } else {
                let id = built.iter().find(|(i, _)| i == index);
                vec![(None, id.map(|(_, id)| id.clone()).unwrap_or_default())]
            };
        let mut per_platform = BTreeMap::new();
        for (platform, id) in &ids {
            let slug = platform
                .as_ref()
                .filter(|p| Some(*p) != main.as_ref())
                .map(|p| p.slug());
            let key = crate::fingerprint::state_key(&image.name, slug.as_deref());
            let facts = facts_of(image, platform.as_ref(), states.load_record(&key), &source);
            let sbom = sbom_of(plan, *index, engine, id).await?;
            per_platform.insert(platform.as_ref().map(ToString::to_string), (facts, sbom));
        }
        for p in pushed {
            let mut subjects = Vec::new();
            if p.platforms.is_empty() {
                let (facts, sbom) = per_platform.values().next().cloned().unwrap_or_default();
                subjects.push(Subject {
                    repository: p.repository.clone(),
                    digest: p.digest.clone(),
                    platform: None,
                    facts,
                    sbom,
                });
            } else {
                // The index: the provenance of the image as a whole (its main platform's
                // inputs), no SBOM (each platform has its own).
                let main_key = main.as_ref().map(ToString::to_string);
                let mut facts = per_platform
                    .get(&main_key)
                    .map(|(f, _)| f.clone())
                    .unwrap_or_default();
                facts.platform = None;
                subjects.push(Subject {
                    repository: p.repository.clone(),
                    digest: p.digest.clone(),
                    platform: None,
                    facts,
                    sbom: None,
                });
                for (platform, manifest) in &p.platforms {
                    let (facts, sbom) = per_platform
                        .get(&Some(platform.to_string()))
                        .cloned()
                        .unwrap_or_default();
                    subjects.push(Subject {
                        repository: p.repository.clone(),
                        digest: manifest.digest.clone(),
                        platform: Some(platform.to_string()),
                        facts,
                        sbom,
                    });
                }
            }
            for subject in subjects {
                let meta = sign_subject(registries, &*signing.signer, &subject, true)
                    .await
                    .map_err(|e| {
                        Error::Failed(format!(
                            "{}: cannot sign {}@{}: {e}; no release tag was changed",
                            image.name, subject.repository, subject.digest
                        ))
                    })?;
                written.push((*index, meta));
            }
        }
        reporter.note(crate::output::Note::Signed {
            image: image.name.clone(),
            digests: written.iter().filter(|(i, _)| i == index).count(),
        });
    }
    Ok(written)
}

/// `promote --sign`: sign each promoted digest (and an index's platform manifests) in each
/// repository; the attestations the push wrote stay where they are (same digests).
pub async fn sign_promoted(
    registries: &Registries,
    promoted: &[(String, String)],
    sign: &SignOptions,
) -> Result<Vec<SignatureMetadata>> {
    let signing = sign.signing()?;
    let mut written = Vec::new();
    for (repository, digest) in promoted {
        let (client, path) = client_of(registries, repository).await?;
        for (platform, digest) in with_children(&client, &path, digest).await? {
            let subject = Subject {
                repository: repository.clone(),
                digest,
                platform,
                facts: BuildFacts::default(),
                sbom: None,
            };
            written.push(sign_subject(registries, &*signing.signer, &subject, false).await?);
        }
    }
    Ok(written)
}

/// Sign one digest and, with `attest`, write its attestations.
async fn sign_subject(
    registries: &Registries,
    signer: &dyn Signer,
    subject: &Subject,
    attest: bool,
) -> Result<SignatureMetadata> {
    let (client, path) = client_of(registries, &subject.repository).await?;
    let body = payload::simple_signing(&subject.repository, &subject.digest);
    let mut annotations = signer.annotations();
    annotations.insert(
        store::SIGNATURE_ANNOTATION.to_string(),
        base64_of(&signer.sign(&body)),
    );
    let layer = Layer::new(payload::MEDIA_TYPE, body, annotations);
    let tag = crate::sign::signature_tag(&subject.digest);
    let signature = put_layers(&client, &path, &tag, &[layer], store::with_signature).await?;
    let mut attestations = None;
    if attest {
        let mut layers = Vec::new();
        let provenance = statement::provenance(&subject.facts);
        layers.push(attestation(
            signer,
            subject,
            statement::SLSA_PROVENANCE,
            provenance,
        ));
        if let Some(sbom) = &subject.sbom {
            layers.push(attestation(signer, subject, statement::SPDX, sbom.clone()));
        }
        let tag = crate::sign::attestation_tag(&subject.digest);
        attestations =
            Some(put_layers(&client, &path, &tag, &layers, store::with_attestation).await?);
    }
    Ok(SignatureMetadata {
        repository: subject.repository.clone(),
        subject: subject.digest.clone(),
        platform: subject.platform.clone(),
        signature,
        attestations,
    })
}

fn attestation(
    signer: &dyn Signer,
    subject: &Subject,
    predicate_type: &str,
    predicate: serde_json::Value,
) -> Layer {
    let statement = statement::statement(
        &subject.repository,
        &subject.digest,
        predicate_type,
        predicate,
    );
    let envelope = dsse::seal(signer, dsse::IN_TOTO, &statement);
    let annotations = BTreeMap::from([
        (store::SIGNATURE_ANNOTATION.to_string(), String::new()),
        (
            store::PREDICATE_ANNOTATION.to_string(),
            predicate_type.to_string(),
        ),
    ]);
    Layer::new(dsse::MEDIA_TYPE, envelope, annotations)
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Add `new` to the manifest under `tag` (made when absent) with `merge`; its digest.
async fn put_layers(
    client: &RegistryClient,
    path: &str,
    tag: &str,
    new: &[Layer],
    merge: fn(&[Descriptor], &Descriptor) -> Vec<Descriptor>,
) -> Result<String> {
    let mut layers = match client.get_manifest(path, tag).await? {
        Some(m) => store::parse_manifest(&m.bytes)
            .map(|m| m.layers)
            .unwrap_or_default(),
        None => Vec::new(),
    };
    for layer in new {
        client.put_blob(path, &layer.bytes).await?;
        layers = merge(&layers, &layer.descriptor);
    }
    let (manifest, config) = store::manifest_for(&layers);
    client.put_blob(path, &config).await?;
    let manifest = RegistryManifest {
        digest: sha256_digest(&manifest),
        bytes: manifest.into(),
        media_type: store::OCI_MANIFEST.to_string(),
    };
    client.put_manifest(path, tag, &manifest).await
}

async fn client_of(
    registries: &Registries,
    repository: &str,
) -> Result<(Arc<RegistryClient>, String)> {
    let r = ImageRef::new(repository, "latest").map_err(|e| Error::Usage(e.to_string()))?;
    Ok((registries.client(r.registry()).await?, r.path()))
}

/// `digest`, and when it names an index, each platform manifest it lists.
async fn with_children(
    client: &RegistryClient,
    path: &str,
    digest: &str,
) -> Result<Vec<(Option<String>, String)>> {
    let mut all = vec![(None, digest.to_string())];
    if let Some(manifest) = client.get_manifest(path, digest).await?
        && let Some(found) = index::parse_index(&manifest)
    {
        all.extend(
            index::children(&found)
                .into_iter()
                .map(|(p, d)| (Some(p), d)),
        );
    }
    Ok(all)
}

/// The provenance facts of one platform of `image`, from its recorded build.
fn facts_of(
    image: &Image,
    platform: Option<&crate::platform::Platform>,
    state: Option<crate::fingerprint::ImageState>,
    source: &crate::provenance::Provenance,
) -> BuildFacts {
    let inputs = state.and_then(|s| s.inputs);
    BuildFacts {
        image: image.name.clone(),
        platform: platform.map(ToString::to_string),
        target: image.target.clone(),
        builder: image.builder.clone(),
        build_args: image
            .build_args
            .iter()
            .filter(|(name, _)| !crate::masking::looks_secret(name))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        dockerfile_digest: inputs.as_ref().map(|i| i.dockerfile.clone()),
        context_digest: inputs.as_ref().map(|i| i.context.clone()),
        bases: inputs.as_ref().map(|i| i.bases.clone()).unwrap_or_default(),
        dependencies: inputs
            .as_ref()
            .map(|i| i.dependency_ids.clone())
            .unwrap_or_default(),
        source_repository: source.remote.clone(),
        source_revision: source.revision.clone(),
        created: source.created.clone(),
    }
}

/// The SPDX document inside image `id`, when its manifest has `[licenses]` and the image
/// carries one (built with `--pull-licenses`).
async fn sbom_of(
    plan: &BuildPlan,
    index: ImageIndex,
    engine: &dyn crate::engine::EngineApi,
    id: &str,
) -> Result<Option<serde_json::Value>> {
    let Some(spec) = &plan.manifest_of(index).licenses else {
        return Ok(None);
    };
    if id.is_empty() {
        return Ok(None);
    }
    let path = format!(
        "{}/{}",
        spec.dest.trim_end_matches('/'),
        crate::licenses::sbom::FILE
    );
    let Some(bytes) = crate::licenses::read_image_file(engine, id, &path).await? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        Error::Failed(format!(
            "{}: the SBOM in the image ({path}) is not JSON: {e}",
            plan.image(index).name
        ))
    })
}

/// `verify --key`: what one image (or metadata entry) is checked as.
pub struct KeyTarget {
    pub name: String,
    pub refs: Vec<ImageRef>,
    pub digest: String,
}

/// Check the signature (and, with `attestations`, the attestations) of every target's digest
/// in each of its repositories, and of each platform manifest when the digest is an index.
/// A problem is a `failed` event naming the ref and what failed; any is exit 1.
pub async fn verify_signed(
    registries: &Registries,
    targets: &[KeyTarget],
    key: &VerifyingKey,
    attestations: bool,
    reporter: &dyn EventSink,
) -> Result<()> {
    let mut failed = Vec::new();
    for target in targets {
        let mut problems = Vec::new();
        let mut checked = 0;
        let mut seen: Vec<&str> = Vec::new();
        for r in &target.refs {
            if seen.contains(&r.repository.as_str()) {
                continue;
            }
            seen.push(&r.repository);
            let found = check_repository(registries, r, &target.digest, key, attestations).await;
            match found {
                Ok((n, lines)) => {
                    checked += n;
                    problems.extend(lines);
                }
                Err(e) => problems.push(format!("{r}: not verified: {e}")),
            }
        }
        if problems.is_empty() {
            reporter.note(crate::output::Note::SignaturesVerified {
                image: target.name.clone(),
                digests: checked,
                attestations,
            });
        } else {
            let refs = target.refs.iter().map(ToString::to_string).collect();
            reporter.event(&Event::Failed(event::Failed {
                digest: Some(target.digest.clone()),
                ..event::Failed::new(
                    NamedSubject::by_name(target.name.clone(), refs),
                    problems.join("; "),
                )
            }));
            failed.push(target.name.clone());
        }
    }
    if failed.is_empty() {
        return Ok(());
    }
    Err(Error::Failed(format!(
        "{} of {} images did not verify with the key: {}",
        failed.len(),
        targets.len(),
        failed.join(", ")
    )))
}

/// One repository of a target: how many digests were checked and what failed.
async fn check_repository(
    registries: &Registries,
    r: &ImageRef,
    digest: &str,
    key: &VerifyingKey,
    attestations: bool,
) -> Result<(usize, Vec<String>)> {
    let (client, path) = client_of(registries, &r.repository).await?;
    let digests = with_children(&client, &path, digest).await?;
    let mut problems = Vec::new();
    for (platform, d) in &digests {
        let shown = match platform {
            Some(p) => format!("{r} ({p} manifest {d})"),
            None => format!("{r} ({d})"),
        };
        let tag = crate::sign::signature_tag(d);
        match layers_of(&client, &path, &tag).await? {
            None => problems.push(format!("{shown}: no signature (no tag {tag})")),
            Some(layers) => {
                if let Err(why) = crate::sign::check::signatures(&layers, key, d) {
                    problems.push(format!("{shown}: signature: {why}"));
                }
            }
        }
        if attestations {
            let tag = crate::sign::attestation_tag(d);
            match layers_of(&client, &path, &tag).await? {
                None => problems.push(format!("{shown}: no attestations (no tag {tag})")),
                Some(layers) => {
                    if let Err(why) = crate::sign::check::attestations(&layers, key, d) {
                        problems.push(format!("{shown}: attestation: {why}"));
                    }
                }
            }
        }
    }
    Ok((digests.len(), problems))
}

/// The layers (descriptor and bytes) of the manifest under `tag`; `None` without one.
async fn layers_of(
    client: &RegistryClient,
    path: &str,
    tag: &str,
) -> Result<Option<Vec<(Descriptor, Vec<u8>)>>> {
    let Some(manifest) = client.get_manifest(path, tag).await? else {
        return Ok(None);
    };
    let manifest = store::parse_manifest(&manifest.bytes)
        .map_err(|e| Error::Failed(format!("{path}:{tag}: {e}")))?;
    let mut layers = Vec::new();
    for descriptor in manifest.layers {
        let bytes = client
            .blob_bytes(path, &descriptor.digest, LAYER_LIMIT)
            .await?
            .unwrap_or_default();
        layers.push((descriptor, bytes));
    }
    Ok(Some(layers))
}
