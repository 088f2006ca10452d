//! `verify`: every ref's registry digest against the digests the engine recorded for the local
//! image (the one the ref names, else the one the image's last build recorded, which is what a
//! tag made by `promote` was pushed as), or against the digests a metadata file records (no
//! local image needed).

use std::path::Path;

use futures_util::{StreamExt, stream};

use super::{CHECK_JOBS, image_at, mismatch, registry_digest};
use crate::engine::EngineApi;
use crate::error::{Error, Result};
use crate::fingerprint::{self, StateStore};
use crate::output::{Event, EventSink, NamedSubject, event};
use crate::plan::{BuildPlan, Image, ImageIndex};
use crate::platform::Platform;
use crate::reference::{self, ImageRef};
use crate::registry::Registries;
use crate::report::short_id;

/// An image [`verify`] checked: all its refs point at `digest` in the registry, a digest the
/// local image records for their repositories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Index into [`BuildPlan::images`].
    pub image: ImageIndex,
    /// The registry manifest digest (`sha256:...`).
    pub digest: String,
    pub refs: Vec<ImageRef>,
}

/// An entry of a metadata file whose refs all point at its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEntry {
    pub name: String,
    pub digest: String,
    pub refs: Vec<ImageRef>,
}

/// Check every ref of the selection: the registry's manifest digest must be one the engine
/// recorded for the local image (its `RepoDigests` entry for that repository). The local image
/// is the one the ref names, else the one `states` recorded for the image's last build: a tag
/// that `promote` made exists only in the registry. Each problem is one line of the image's
/// `failed` event, naming both digests; the error recaps which images failed.
pub async fn verify(
    engine: &dyn EngineApi,
    registries: &Registries,
    plan: &BuildPlan,
    selection: &[ImageIndex],
    states: &StateStore,
    reporter: &dyn EventSink,
) -> Result<Vec<Verified>> {
    let images: Vec<(ImageIndex, &Image)> = selection
        .iter()
        .map(|&i| image_at(plan, i).map(|image| (i, image)))
        .collect::<Result<_>>()?;
    let checks: Vec<Checked> = stream::iter(images.iter().copied())
        .map(|(_, image)| async move {
            let mut problems = Vec::new();
            let mut digest = None;
            for r in &image.refs {
                let check = if super::index::is_multi_platform(image) {
                    check_index_against_local(engine, registries, states, image, r).await
                } else {
                    check_against_local(engine, registries, states, image, r).await
                };
                match check {
                    Ok(check) => {
                        problems.extend(check.problem);
                        digest = digest.or(check.remote);
                    }
                    Err(stop) => return Checked::Stopped(stop),
                }
            }
            Checked::Done { problems, digest }
        })
        .buffered(CHECK_JOBS)
        .collect()
        .await;
    let events = images
        .iter()
        .map(|(_, image)| NamedSubject::from(image.subject()));
    let verified = conclude(events.zip(checks).collect(), reporter)?;
    Ok(verified
        .into_iter()
        .map(|(position, digest)| {
            let (index, image) = images[position];
            Verified {
                image: index,
                digest,
                refs: image.refs.clone(),
            }
        })
        .collect())
}

/// Check a `--metadata-file`: every entry's refs must point at its `digest` in the registry.
/// No local image is needed. With `only`, just the entries of those image names (each must be
/// in the file). With `tags`, each entry's repositories under those tags instead of the refs
/// the file lists: the tags `promote` pointed at the digests the file records.
pub async fn verify_metadata(
    registries: &Registries,
    file: &Path,
    only: Option<&[String]>,
    tags: &[String],
    reporter: &dyn EventSink,
) -> Result<Vec<VerifiedEntry>> {
    for tag in tags {
        reference::check_tag(tag).map_err(|e| {
            Error::Usage(format!(
                "--tag with --from-metadata takes tags as written (no placeholders): {e}"
            ))
        })?;
    }
    let mut entries = load_metadata(file)?;
    if let Some(names) = only {
        let absent: Vec<&str> = names
            .iter()
            .filter(|n| !entries.iter().any(|e| &e.name == *n))
            .map(String::as_str)
            .collect();
        if !absent.is_empty() {
            return Err(Error::Usage(format!(
                "metadata file {} has no entry for {}; it holds: {}",
                file.display(),
                absent.join(", "),
                entries
                    .iter()
                    .map(|e| e.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        entries.retain(|e| names.contains(&e.name));
    }
    if !tags.is_empty() {
        for entry in &mut entries {
            entry.refs = retagged(&entry.refs, tags);
        }
    }
    let checks: Vec<Checked> = stream::iter(&entries)
        .map(|entry| async move {
            let Some(digest) = &entry.digest else {
                return Checked::Done {
                    problems: vec!["no digest recorded (was it pushed?)".to_string()],
                    digest: None,
                };
            };
            let mut problems = Vec::new();
            for r in &entry.refs {
                match registry_digest(registries, r).await {
                    Ok(remote) => {
                        problems.extend(mismatch(r, remote.as_deref(), digest, "the metadata file"))
                    }
                    Err(error) => return Checked::Stopped(Stop::registry(r, error)),
                }
            }
            Checked::Done {
                problems,
                digest: Some(digest.clone()),
            }
        })
        .buffered(CHECK_JOBS)
        .collect()
        .await;
    let events = entries.iter().map(|entry| {
        let refs = entry.refs.iter().map(ToString::to_string).collect();
        NamedSubject::by_name(entry.name.clone(), refs)
    });
    let verified = conclude(events.zip(checks).collect(), reporter)?;
    Ok(verified
        .into_iter()
        .map(|(position, digest)| VerifiedEntry {
            name: entries[position].name.clone(),
            digest,
            refs: entries[position].refs.clone(),
        })
        .collect())
}

/// Each distinct repository of `refs` under each of `tags`.
fn retagged(refs: &[ImageRef], tags: &[String]) -> Vec<ImageRef> {
    let mut out: Vec<ImageRef> = Vec::new();
    for r in refs {
        for tag in tags {
            let promoted = ImageRef {
                repository: r.repository.clone(),
                tag: tag.clone(),
            };
            if !out.contains(&promoted) {
                out.push(promoted);
            }
        }
    }
    out
}

/// How the check of one image (or metadata entry) ended.
enum Checked {
    /// Every ref was read: what is wrong (nothing, when it verified) and the digest found.
    Done {
        problems: Vec<String>,
        digest: Option<String>,
    },
    /// A registry or the engine could not be read (unreachable, denied, ...): the rest was
    /// not checked.
    Stopped(Stop),
}

/// What stopped a check: the error, and what it came from (`the registry localhost:5000`,
/// `the engine`).
struct Stop {
    source: String,
    error: Error,
}

impl Stop {
    fn registry(r: &ImageRef, error: Error) -> Stop {
        Stop {
            source: format!("the registry {}", r.registry()),
            error,
        }
    }

    fn engine(error: Error) -> Stop {
        Stop {
            source: "the engine".to_string(),
            error,
        }
    }
}

/// One event per image, each problem said once (in its image's `failed` event), and the run's
/// error: an unreachable registry (exit 3, said once per registry) before any mismatch (exit
/// 1), whose error only recaps which images failed. The verified images' positions and
/// digests otherwise.
fn conclude(
    checks: Vec<(NamedSubject, Checked)>,
    reporter: &dyn EventSink,
) -> Result<Vec<(usize, String)>> {
    let total = checks.len();
    let mut verified = Vec::new();
    let mut failed: Vec<String> = Vec::new();
    let mut unreachable: Vec<String> = Vec::new();
    let mut usage = false;
    for (position, (subject, checked)) in checks.into_iter().enumerate() {
        let name = subject.image.clone();
        match checked {
            Checked::Done { problems, digest } if problems.is_empty() => {
                reporter.event(&Event::Verified(event::Verified {
                    subject,
                    digest: digest.clone(),
                }));
                verified.push((position, digest.unwrap_or_default()));
            }
            Checked::Done { problems, digest } => {
                reporter.event(&Event::Failed(event::Failed {
                    digest,
                    ..event::Failed::new(subject, problems.join("; "))
                }));
                failed.push(name);
            }
            Checked::Stopped(Stop { source, error }) => {
                // An unreachable registry or engine is said once, in the error; each image
                // names which one stopped it.
                let message = match &error {
                    Error::Unreachable(text) => {
                        if !unreachable.contains(text) {
                            unreachable.push(text.clone());
                        }
                        format!("not verified: {source} cannot be reached")
                    }
                    e => format!("not verified: {e}"),
                };
                reporter.event(&Event::Failed(event::Failed::new(subject, message)));
                failed.push(name);
                if matches!(error, Error::Usage(_) | Error::Invalid(_)) {
                    usage = true;
                }
            }
        }
    }
    if failed.is_empty() {
        return Ok(verified);
    }
    const NAMED: usize = 10;
    let mut names = failed
        .iter()
        .take(NAMED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if failed.len() > NAMED {
        names.push_str(&format!(" and {} more", failed.len() - NAMED));
    }
    let recap = format!("{} of {total} images did not verify: {names}", failed.len());
    if !unreachable.is_empty() {
        unreachable.push(recap);
        return Err(Error::Unreachable(unreachable.join("\n")));
    }
    // A problem of the input (a Docker config that cannot be used) keeps its exit code.
    Err(if usage {
        Error::Usage(recap)
    } else {
        Error::Failed(recap)
    })
}

/// The outcome of one ref in `verify`.
struct RefCheck {
    problem: Option<String>,
    remote: Option<String>,
}

/// The local image a ref's digests are read from: `local` itself when the engine has it, else
/// the image the build recorded under `state_key`.
struct LocalImage {
    /// How a message names it.
    described: String,
    repo_digests: Vec<String>,
}

async fn local_image(
    engine: &dyn EngineApi,
    states: &StateStore,
    local: &ImageRef,
    state_key: &str,
) -> std::result::Result<Option<LocalImage>, Stop> {
    // The engine's `RepoDigests`, and the pushes this tool made of that image (which the
    // engine never saw).
    let cache = states.state_dir().join("oci");
    let cache = &cache;
    let repo_digests = |image: String| async move {
        let Some(mut digests) = engine.repo_digests(&image).await.map_err(Stop::engine)? else {
            return Ok(None);
        };
        if let Some(id) = engine.image_id(&image).await.map_err(Stop::engine)? {
            digests.extend(crate::oci::push::pushed_digests(cache, &id));
        }
        Ok(Some(digests))
    };
    if let Some(repo_digests) = repo_digests(local.to_string()).await? {
        return Ok(Some(LocalImage {
            described: "the local image".to_string(),
            repo_digests,
        }));
    }
    let Some(state) = states.load_record(state_key) else {
        return Ok(None);
    };
    Ok(repo_digests(state.id.clone())
        .await?
        .map(|repo_digests| LocalImage {
            described: format!("the last built image ({})", short_id(&state.id)),
            repo_digests,
        }))
}

async fn check_against_local(
    engine: &dyn EngineApi,
    registries: &Registries,
    states: &StateStore,
    image: &Image,
    r: &ImageRef,
) -> std::result::Result<RefCheck, Stop> {
    let remote = registry_digest(registries, r)
        .await
        .map_err(|e| Stop::registry(r, e))?;
    let local = local_image(engine, states, r, &image.name).await?;
    let shown_remote = remote.as_deref().unwrap_or("no such tag");
    let problem = match &local {
        None => Some(format!(
            "{r}: no local image: not tagged here and no build of {} recorded; build it, or verify with --from-metadata FILE (registry: {shown_remote})",
            image.name
        )),
        Some(local) => {
            let recorded: Vec<&str> = local
                .repo_digests
                .iter()
                .filter_map(|d| reference::repo_digest(d, &r.repository))
                .collect();
            match remote.as_deref() {
                Some(remote) if recorded.contains(&remote) => None,
                _ if recorded.is_empty() => Some(format!(
                    "{r}: {} was never pushed to {} (registry: {shown_remote})",
                    local.described, r.repository
                )),
                _ => Some(format!(
                    "{r}: registry has {shown_remote}, {} has {}",
                    local.described,
                    recorded.join(", ")
                )),
            }
        }
    };
    Ok(RefCheck { problem, remote })
}

/// An image of several platforms: the ref must name an index whose manifest for each platform
/// is one the engine recorded for that platform's local image.
async fn check_index_against_local(
    engine: &dyn EngineApi,
    registries: &Registries,
    states: &StateStore,
    image: &Image,
    r: &ImageRef,
) -> std::result::Result<RefCheck, Stop> {
    use super::index;
    let read = async {
        let client = registries.client(r.registry()).await?;
        client.get_manifest(&r.path(), &r.tag).await
    };
    let Some(manifest) = read.await.map_err(|e| Stop::registry(r, e))? else {
        return Ok(RefCheck {
            problem: Some(format!("{r}: no such tag in the registry")),
            remote: None,
        });
    };
    let remote = Some(manifest.digest.clone());
    let Some(found) = index::parse_index(&manifest) else {
        return Ok(RefCheck {
            problem: Some(format!(
                "{r}: the registry has a single-platform manifest ({}), not an index of {}",
                manifest.digest,
                crate::platform::join(&image.platforms, ", ")
            )),
            remote,
        });
    };
    let children = index::children(&found);
    let native = Platform::of_engine(&engine.platform().await.map_err(Stop::engine)?);
    let main = crate::platform::main_platform(&image.platforms, &native);
    let mut problems = Vec::new();
    for p in &image.platforms {
        let local_ref = index::local_ref(r, p, main);
        let slug = (Some(p) != main).then(|| p.slug());
        let state_key = fingerprint::state_key(&image.name, slug.as_deref());
        let local = local_image(engine, states, &local_ref, &state_key).await?;
        let recorded: Vec<String> = local
            .iter()
            .flat_map(|l| &l.repo_digests)
            .filter_map(|d| reference::repo_digest(d, &r.repository).map(str::to_string))
            .collect();
        match children.get(&p.to_string()) {
            None => problems.push(format!("{r}: the index has no {p} manifest")),
            Some(child) if !recorded.contains(child) => problems.push(format!(
                "{r}: the index's {p} manifest is {child}, the local {p} image ({local_ref}) has {}",
                if recorded.is_empty() {
                    "none pushed".to_string()
                } else {
                    recorded.join(", ")
                }
            )),
            Some(_) => {}
        }
    }
    Ok(RefCheck {
        problem: (!problems.is_empty()).then(|| problems.join("; ")),
        remote,
    })
}

/// One image of a metadata file, as `verify --from-metadata` checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MetadataEntry {
    name: String,
    refs: Vec<ImageRef>,
    digest: Option<String>,
}

/// Read and check a metadata file before anything is asked of a registry: UTF-8, an object of
/// images, each with refs (none of them a Docker Hub official name) and a valid digest.
fn load_metadata(file: &Path) -> Result<Vec<MetadataEntry>> {
    let rules = crate::guarded::Rules::anywhere(crate::guarded::METADATA_CAP, "a metadata file");
    let bytes = crate::guarded::read(file, rules)
        .map_err(|e| Error::Usage(format!("cannot read the metadata file {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        Error::Usage(format!(
            "metadata file {}: not UTF-8 (invalid byte at offset {}); a metadata file is JSON",
            file.display(),
            e.utf8_error().valid_up_to()
        ))
    })?;
    let entries = parse_metadata(&text)
        .map_err(|e| Error::Usage(format!("metadata file {}: {e}", file.display())))?;
    if entries.is_empty() {
        return Err(Error::Usage(format!(
            "metadata file {} names no image: nothing to verify (write it with `build --push --metadata-file`)",
            file.display()
        )));
    }
    Ok(entries)
}

/// Why a metadata file was refused; `image` is the entry's name, quoted.
#[derive(Debug, thiserror::Error)]
enum MetadataFileError {
    #[error(transparent)]
    Read(#[from] crate::output::MetadataReadError),
    #[error("{image} names no image (neither `refs` nor `image.name`)")]
    NoImage { image: String },
    #[error("{image}: {error}")]
    Reference {
        image: String,
        error: reference::ReferenceError,
    },
    #[error(
        "{image}: {reference} names a Docker Hub official image (no registry, no namespace), where nothing of ours is pushed; the file was written without a repository root"
    )]
    OfficialImage { image: String, reference: String },
}

/// A metadata file, read through the contract's own type ([`crate::output::MetadataEntry`]):
/// each image has `refs` and `digest`, or bake's `image.name` and `containerimage.digest`.
fn parse_metadata(text: &str) -> std::result::Result<Vec<MetadataEntry>, MetadataFileError> {
    let nonempty = |s: Option<String>| s.filter(|s| !s.is_empty());
    let mut entries = Vec::new();
    for (name, entry) in crate::output::read_metadata(text)? {
        let shown = crate::error::quoted(&name);
        let refs: Vec<String> = match entry.refs {
            Some(refs) => refs,
            None => nonempty(entry.image_name)
                .map(|n| n.split(',').map(|r| r.trim().to_string()).collect())
                .unwrap_or_default(),
        };
        if refs.is_empty() {
            return Err(MetadataFileError::NoImage { image: shown });
        }
        let refs = refs
            .iter()
            .map(|r| ImageRef::parse(r))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|error| MetadataFileError::Reference {
                image: shown.clone(),
                error,
            })?;
        if let Some(r) = refs.iter().find(|r| r.is_docker_hub_official()) {
            return Err(MetadataFileError::OfficialImage {
                image: shown,
                reference: r.to_string(),
            });
        }
        let digest = nonempty(entry.digest).or_else(|| nonempty(entry.containerimage_digest));
        if let Some(digest) = &digest {
            reference::check_digest(digest).map_err(|error| MetadataFileError::Reference {
                image: shown.clone(),
                error,
            })?;
        }
        entries.push(MetadataEntry { name, refs, digest });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    #[test]
    fn metadata_entries_in_ours_and_bakes_shape() {
        let text = format!(
            r#"{{"a": {{"refs": ["r/a:1", "r/a:2"], "digest": "{}", "pushed": true}},
                "b": {{"image.name": "r/b:1,r/b:2", "containerimage.digest": "{}"}},
                "c": {{"refs": ["r/c:1"], "digest": null}}}}"#,
            digest('a'),
            digest('b')
        );
        let entries = parse_metadata(&text).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].refs.len(), 2);
        assert_eq!(entries[1].digest, Some(digest('b')));
        assert_eq!(entries[1].refs[1].to_string(), "r/b:2");
        assert_eq!(entries[2].digest, None);
        assert!(parse_metadata("[]").is_err());
        assert!(
            parse_metadata(r#"{"a": {"refs": ["bad ref"]}}"#)
                .unwrap_err()
                .to_string()
                .contains("\"a\"")
        );
        // A tag is required; a port is not one.
        let e = parse_metadata(r#"{"a": {"refs": ["localhost:5000/beam/sdk"]}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("has no tag"), "{e}");
    }

    #[test]
    fn a_metadata_file_without_images_or_with_bad_digests_is_refused() {
        assert_eq!(parse_metadata("{}").unwrap(), Vec::new());
        let e = parse_metadata(r#"{"a": {}}"#).unwrap_err().to_string();
        assert!(e.contains("\"a\" names no image"), "{e}");
        let e = parse_metadata(r#"{"a": {"refs": ["r/a:1"], "digest": "sha256:zz"}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"a\"") && e.contains("\"sha256:zz\""), "{e}");
        let e = parse_metadata(r#"{"a": {"refs": ["go_sdk:latest"], "digest": null}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("Docker Hub official"), "{e}");
    }

    #[test]
    fn promoted_tags_are_each_repository_under_each_tag() {
        let refs = [
            ImageRef::parse("r/a:rc1").unwrap(),
            ImageRef::parse("r/a:x").unwrap(),
            ImageRef::parse("s/a:rc1").unwrap(),
        ];
        let shown: Vec<String> = retagged(&refs, &["1.0".into(), "latest".into()])
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(shown, ["r/a:1.0", "r/a:latest", "s/a:1.0", "s/a:latest"]);
    }
}
