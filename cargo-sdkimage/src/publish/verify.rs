//! `verify`: every ref's registry digest against the local image's repo digests, or against
//! the digests a metadata file records (no local image needed).

use std::path::Path;

use futures_util::{StreamExt, stream};

use super::{CHECK_JOBS, image_at, mismatch, registry_digest};
use crate::engine::EngineApi;
use crate::error::{Error, Result};
use crate::output::{Event, EventKind, EventSink};
use crate::plan::{BuildPlan, Image, ImageIndex};
use crate::reference::{ImageRef, Platform};
use crate::registry::Registries;

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
/// recorded for the local image the ref names (its `RepoDigests` entry for that repository).
/// Every mismatch is one line of the error, naming both digests.
pub async fn verify(
    engine: &dyn EngineApi,
    registries: &Registries,
    plan: &BuildPlan,
    selection: &[ImageIndex],
    reporter: &dyn EventSink,
) -> Result<Vec<Verified>> {
    let images: Vec<(ImageIndex, &Image)> = selection
        .iter()
        .map(|&i| image_at(plan, i).map(|image| (i, image)))
        .collect::<Result<_>>()?;
    let checks: Vec<(ImageIndex, Result<Vec<RefCheck>>)> = stream::iter(images.iter().copied())
        .map(|(index, image)| async move {
            let mut checks = Vec::new();
            for r in &image.refs {
                let check = if super::index::is_multi_platform(image) {
                    check_index_against_local(engine, registries, image, r).await
                } else {
                    check_against_local(engine, registries, r).await
                };
                match check {
                    Ok(check) => checks.push(check),
                    Err(e) => return (index, Err(e)),
                }
            }
            (index, Ok(checks))
        })
        .buffered(CHECK_JOBS)
        .collect()
        .await;
    conclude_checks(
        checks.into_iter().map(|(i, c)| (i, plan.image(i), c)),
        reporter,
    )
}

/// Check a `--metadata-file`: every entry's refs must point at its `digest` in the registry.
/// No local image is needed. With `only`, just the entries of those image names (each must be
/// in the file).
pub async fn verify_metadata(
    registries: &Registries,
    file: &Path,
    only: Option<&[String]>,
    reporter: &dyn EventSink,
) -> Result<Vec<VerifiedEntry>> {
    let rules = crate::guarded::Rules::anywhere(crate::guarded::METADATA_CAP, "a metadata file");
    let text = crate::guarded::read_to_string(file, rules)
        .map_err(|e| Error::Usage(format!("cannot read the metadata file {e}")))?;
    let mut entries = parse_metadata(&text)
        .map_err(|e| Error::Usage(format!("metadata file {}: {e}", file.display())))?;
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
    let mut verified = Vec::new();
    let mut problems = Vec::new();
    for entry in entries {
        let mut lines = Vec::new();
        match &entry.digest {
            None => lines.push("no digest recorded (was it pushed?)".to_string()),
            Some(digest) => {
                for r in &entry.refs {
                    let remote = registry_digest(registries, r).await?;
                    if let Some(line) = mismatch(r, remote.as_deref(), digest, "the metadata file")
                    {
                        lines.push(line);
                    }
                }
            }
        }
        let mut event = Event::general(EventKind::Verified, None);
        event.image = Some(entry.name.clone());
        event.refs = entry.refs.iter().map(ToString::to_string).collect();
        event.digest = entry.digest.clone();
        if lines.is_empty() {
            reporter.event(&event);
            verified.push(VerifiedEntry {
                name: entry.name,
                digest: entry.digest.unwrap_or_default(),
                refs: entry.refs,
            });
        } else {
            event.event = EventKind::Failed;
            reporter.event(&event.message(lines.join("; ")));
            // One line per problem; a ref names its image already.
            let named = entry.digest.is_some();
            problems.extend(lines.into_iter().map(|line| match named {
                true => line,
                false => format!("{}: {line}", entry.name),
            }));
        }
    }
    if problems.is_empty() {
        Ok(verified)
    } else {
        Err(Error::Failed(problems.join("\n")))
    }
}

/// The outcome of one ref in `verify`.
struct RefCheck {
    problem: Option<String>,
    remote: Option<String>,
}

async fn check_against_local(
    engine: &dyn EngineApi,
    registries: &Registries,
    r: &ImageRef,
) -> Result<RefCheck> {
    let remote = registry_digest(registries, r).await?;
    let local = engine.repo_digests(&r.to_string()).await?;
    let problem = match (&local, &remote) {
        (None, _) => Some(format!(
            "{r}: no local image (registry: {})",
            remote.as_deref().unwrap_or("no such tag")
        )),
        (Some(digests), _) => {
            let recorded: Vec<&str> = digests
                .iter()
                .filter_map(|d| digest_for(d, &r.repository))
                .collect();
            match remote.as_deref() {
                Some(remote) if recorded.contains(&remote) => None,
                _ if recorded.is_empty() => Some(format!(
                    "{r}: the local image was never pushed to {} (registry: {})",
                    r.repository,
                    remote.as_deref().unwrap_or("no such tag")
                )),
                remote => Some(format!(
                    "{r}: registry has {}, the local image has {}",
                    remote.unwrap_or("no such tag"),
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
    image: &Image,
    r: &ImageRef,
) -> Result<RefCheck> {
    use super::index;
    let client = registries.client(r.registry()).await?;
    let Some(manifest) = client.get_manifest(&r.path(), &r.tag).await? else {
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
                image.platforms.join(", ")
            )),
            remote,
        });
    };
    let children = index::children(&found);
    let platforms = index::platforms_of(image);
    let native = Platform::parse(&engine.platform().await?).unwrap_or_else(|| platforms[0].clone());
    let main = index::main_platform(&platforms, &native);
    let mut problems = Vec::new();
    for p in &platforms {
        let local_ref = index::local_ref(r, p, &main);
        let recorded: Vec<String> = engine
            .repo_digests(&local_ref.to_string())
            .await?
            .unwrap_or_default()
            .iter()
            .filter_map(|d| digest_for(d, &r.repository).map(str::to_string))
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

/// Events and the overall result of `verify`.
fn conclude_checks<'a>(
    checks: impl Iterator<Item = (ImageIndex, &'a Image, Result<Vec<RefCheck>>)>,
    reporter: &dyn EventSink,
) -> Result<Vec<Verified>> {
    let mut verified = Vec::new();
    let mut lines = Vec::new();
    let mut first_error = None;
    for (index, image, result) in checks {
        match result {
            Err(e) => {
                reporter.event(&image.event(EventKind::Failed).message(e.to_string()));
                first_error.get_or_insert(e);
            }
            Ok(checks) => {
                let problems: Vec<String> =
                    checks.iter().filter_map(|c| c.problem.clone()).collect();
                let digest = checks.iter().find_map(|c| c.remote.clone());
                if problems.is_empty() {
                    reporter.event(&image.event(EventKind::Verified).digest(digest.clone()));
                    verified.push(Verified {
                        image: index,
                        digest: digest.unwrap_or_default(),
                        refs: image.refs.clone(),
                    });
                } else {
                    reporter.event(&image.event(EventKind::Failed).message(problems.join("; ")));
                    lines.extend(problems);
                }
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None if lines.is_empty() => Ok(verified),
        None => Err(Error::Failed(lines.join("\n"))),
    }
}

/// `repository@sha256:...` -> the digest, when the repository is `repository` (Docker Hub
/// names compared in their short form).
fn digest_for<'a>(repo_digest: &'a str, repository: &str) -> Option<&'a str> {
    let (repo, digest) = repo_digest.split_once('@')?;
    (familiar(repo) == familiar(repository)).then_some(digest)
}

fn familiar(repository: &str) -> &str {
    let short = repository.strip_prefix("docker.io/").unwrap_or(repository);
    if repository.starts_with("docker.io/") {
        short.strip_prefix("library/").unwrap_or(short)
    } else {
        short
    }
}

/// One image of a metadata file, as `verify --from-metadata` checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MetadataEntry {
    name: String,
    refs: Vec<ImageRef>,
    digest: Option<String>,
}

/// A metadata file, read through the contract's own type ([`crate::output::MetadataEntry`]):
/// each image has `refs` and `digest`, or bake's `image.name` and `containerimage.digest`.
fn parse_metadata(text: &str) -> std::result::Result<Vec<MetadataEntry>, String> {
    let nonempty = |s: Option<String>| s.filter(|s| !s.is_empty());
    let mut entries = Vec::new();
    for (name, entry) in crate::output::read_metadata(text)? {
        let refs: Vec<String> = match entry.refs {
            Some(refs) => refs,
            None => nonempty(entry.image_name)
                .map(|n| n.split(',').map(|r| r.trim().to_string()).collect())
                .unwrap_or_default(),
        };
        let refs = refs
            .iter()
            .map(|r| parse_ref(r))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| format!("`{name}`: {e}"))?;
        let digest = nonempty(entry.digest).or_else(|| nonempty(entry.containerimage_digest));
        entries.push(MetadataEntry { name, refs, digest });
    }
    Ok(entries)
}

/// `repository:tag` (the tag is required).
fn parse_ref(text: &str) -> std::result::Result<ImageRef, String> {
    let slash = text.rfind('/').map_or(0, |i| i + 1);
    let (repository, tag) = match text[slash..].split_once(':') {
        Some((_, tag)) => (&text[..text.len() - tag.len() - 1], tag),
        None => return Err(format!("`{text}` has no tag")),
    };
    ImageRef::new(repository, tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_parse_with_ports_and_tags() {
        let r = parse_ref("localhost:5000/beam/sdk:2.61.0").unwrap();
        assert_eq!(
            (r.repository.as_str(), r.tag.as_str()),
            ("localhost:5000/beam/sdk", "2.61.0")
        );
        assert!(
            parse_ref("localhost:5000/beam/sdk")
                .unwrap_err()
                .contains("no tag")
        );
        assert!(parse_ref("x:").is_err());
        assert!(parse_ref("Upper:1").is_err());
    }

    #[test]
    fn metadata_entries_in_ours_and_bakes_shape() {
        let entries = parse_metadata(
            r#"{"a": {"refs": ["r/a:1", "r/a:2"], "digest": "sha256:aa", "pushed": true},
                "b": {"image.name": "r/b:1,r/b:2", "containerimage.digest": "sha256:bb"},
                "c": {"refs": ["r/c:1"], "digest": null}}"#,
        )
        .unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].refs.len(), 2);
        assert_eq!(entries[1].digest.as_deref(), Some("sha256:bb"));
        assert_eq!(entries[1].refs[1].to_string(), "r/b:2");
        assert_eq!(entries[2].digest, None);
        assert!(parse_metadata("[]").is_err());
        assert!(
            parse_metadata(r#"{"a": {"refs": ["bad ref"]}}"#)
                .unwrap_err()
                .contains("`a`")
        );
    }

    #[test]
    fn repo_digests_match_their_repository() {
        assert_eq!(
            digest_for("localhost:5000/x@sha256:1", "localhost:5000/x"),
            Some("sha256:1")
        );
        assert_eq!(
            digest_for("localhost:5000/y@sha256:1", "localhost:5000/x"),
            None
        );
        assert_eq!(
            digest_for("busybox@sha256:1", "docker.io/library/busybox"),
            Some("sha256:1")
        );
        assert_eq!(
            digest_for("apache/beam@sha256:1", "apache/beam"),
            Some("sha256:1")
        );
        assert_eq!(digest_for("nonsense", "x"), None);
    }
}
