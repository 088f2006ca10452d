//! The external bases of a build: the `FROM` images an image's Dockerfile builds on for one
//! platform (not a stage, not `scratch`, not one of our images), pulled through the engine
//! before anything is built when asked (`--pull`, `pull = true`), and what each one is (its id
//! for the fingerprint; its id and registry digest for the metadata file).

use std::collections::{BTreeMap, BTreeSet};

use futures_util::StreamExt;

use super::Session;
use crate::engine::{Builder, EngineApi, EngineError};
use crate::error::{Error, Result};
use crate::output::BaseMetadata;
use crate::plan::ImageIndex;
use crate::reference::{Platform, Reference};
use crate::registry::{Failure, Registries};

/// What the Dockerfile means for one platform.
pub(super) struct PlatformInputs {
    /// External `FROM` images, by name.
    pub bases: Vec<String>,
    /// The platform args given as build args (where the Dockerfile declares them).
    pub platform_args: BTreeMap<String, String>,
}

/// The Dockerfile `dockerfile` of image `index` for `platform` (`None`: the engine's own): its
/// external bases and the platform args it declares.
pub(super) fn platform_inputs(
    session: &Session,
    index: ImageIndex,
    platform: Option<&Platform>,
    dockerfile: &str,
) -> PlatformInputs {
    let PlatformInputs {
        bases: mut images,
        platform_args,
    } = from_inputs(session, index, platform, dockerfile);
    images.retain(|b| !session.own_refs.contains(&crate::reference::ref_key(b)));
    PlatformInputs {
        bases: images,
        platform_args,
    }
}

/// Every image the `FROM`s of image `index`'s Dockerfile `dockerfile` name for `platform`
/// (`None`: the engine's own): its external bases and the images of ours it stands on.
pub(super) fn from_images(
    session: &Session,
    index: ImageIndex,
    platform: Option<&Platform>,
    dockerfile: &str,
) -> Vec<String> {
    from_inputs(session, index, platform, dockerfile).bases
}

/// [`platform_inputs`] with the images of ours among the bases.
fn from_inputs(
    session: &Session,
    index: ImageIndex,
    platform: Option<&Platform>,
    dockerfile: &str,
) -> PlatformInputs {
    let platform = platform.unwrap_or(&session.native);
    let automatic = platform.args(&session.native);
    let build_args = &session.plan.image(index).build_args;
    // The platform args go as build args wherever the Dockerfile declares them: the classic
    // builder has none of its own, and the engine's BuildKit (0.8) empties one that a global
    // `ARG TARGETARCH` re-declares, which `FROM ...-${TARGETARCH}` needs. (Only global ones
    // reach the classic builder's `FROM` lines.)
    let declared = crate::dockerfile::declared_args(dockerfile);
    let platform_args: BTreeMap<String, String> = automatic
        .iter()
        .filter(|(k, _)| declared.contains(*k) && !build_args.contains_key(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let from_scope = match session.builder(index) {
        Builder::BuildKit => automatic,
        Builder::Classic => BTreeMap::new(),
    };
    let mut args = build_args.clone();
    args.extend(platform_args.clone());
    PlatformInputs {
        bases: crate::dockerfile::external_bases(dockerfile, &args, &from_scope),
        platform_args,
    }
}

/// The Dockerfile the classic builder is sent for `text`: when a `FROM` (or a global `ARG`
/// default) uses a platform arg that no global `ARG` declares, the classic builder would leave
/// it empty (BuildKit fills it), so `ARG <names>` is declared on a blank or comment line
/// before the first `FROM` (every line keeps its number, so the builder's messages point at
/// the user's lines) and the platform args then go as build args. `None`: sent as it is.
/// `Err`: no such line; the message names the `FROM`'s line and what to add.
pub fn classic_dockerfile(
    path: &std::path::Path,
    text: &str,
) -> std::result::Result<Option<String>, crate::error::Diagnostic> {
    let undeclared = crate::dockerfile::undeclared_platform_args(text);
    let Some(&(_, line)) = undeclared.first() else {
        return Ok(None);
    };
    let names: Vec<String> = undeclared.into_iter().map(|(n, _)| n).collect();
    crate::dockerfile::declare_global_args(text, &names)
        .map(Some)
        .map_err(|first_from| crate::error::Diagnostic {
            path: path.to_path_buf(),
            line,
            col: 1,
            message: format!(
                "this line uses {}, which the classic builder defines only where a global ARG declares it (BuildKit fills it by itself), and there is no blank or comment line before the first FROM (line {first_from}) to declare it on; add `ARG {}` before the first FROM (or build with BuildKit)",
                names.join(", "),
                names.join(" ")
            ),
        })
}

/// The Dockerfile text a build of the Dockerfile at `path` reads: under the classic builder
/// (`classic`: the state folder and the image's name), the [`classic_dockerfile`] one,
/// written under the state folder, where `sent` then points.
pub(super) fn for_classic(
    classic: Option<(std::path::PathBuf, String)>,
    path: &std::path::Path,
    text: String,
    sent: &mut std::path::PathBuf,
) -> Result<String> {
    let Some((state_dir, name)) = classic else {
        return Ok(text);
    };
    match classic_dockerfile(path, &text).map_err(Error::invalid)? {
        Some(amended) => {
            *sent =
                crate::custom::write_rendered(&state_dir, &format!("{name}.classic"), &amended)?;
            Ok(amended)
        }
        None => Ok(text),
    }
}

/// [`classic_dockerfile`] of image `i`'s Dockerfile, checked before anything runs: a
/// Dockerfile that cannot be amended is a diagnostic. Custom images' Dockerfiles are ours.
pub fn check_classic(
    ws: &crate::workspace::Workspace,
    plan: &crate::plan::BuildPlan,
    i: ImageIndex,
    diags: &mut Vec<crate::error::Diagnostic>,
) {
    if plan.image(i).custom.is_some() {
        return;
    }
    let path = &plan.manifest_of(i).dockerfile;
    let rules = crate::guarded::Rules::new(&ws.root, crate::guarded::CONFIG_CAP, "a Dockerfile");
    // One that cannot be read fails its build, which says why.
    if let Ok(text) = crate::guarded::read_to_string(path, rules)
        && let Err(d) = classic_dockerfile(path, &text)
    {
        diags.push(d);
    }
}

/// The engine's id of each external base into `ids` (`absent` for one it does not hold), and
/// each base the engine holds with its id and registry digest; whether every base was found.
pub(super) async fn resolve(
    engine: &dyn EngineApi,
    bases: &[String],
    ids: &mut Vec<String>,
) -> Result<(bool, BTreeMap<String, BaseMetadata>)> {
    let mut complete = true;
    let mut found = BTreeMap::new();
    ids.clear();
    for base in bases {
        let id = match engine.local_image(base).await {
            Ok(Some(local)) => {
                let meta = BaseMetadata {
                    id: local.id.clone(),
                    digest: registry_digest(base, &local.repo_digests),
                };
                found.insert(base.clone(), meta);
                local.id
            }
            Err(e @ Error::Unreachable(_)) => return Err(e),
            // Not in the engine, or a name the engine cannot parse: the build will say.
            Ok(None) | Err(_) => {
                complete = false;
                "absent".to_string()
            }
        };
        ids.push(id);
    }
    Ok((complete, found))
}

/// Pull every external base of the selection through the engines that may build an image on
/// it (with several engines: each that answers and builds the image's platforms natively,
/// else every one, since placement decides only as the run goes), each for every platform
/// that builds on it (the engine's own last, so that its tag names the image local builds
/// use), in parallel up to `jobs`. A registry that cannot be reached is
/// [`Error::Unreachable`] naming it; any other failure stops the run too, naming the base
/// and the images on it.
pub(super) async fn pull(session: &Session, selection: &[ImageIndex], jobs: usize) -> Result<()> {
    // base -> (platforms, images on it, engines that may build them)
    type Wanted = (BTreeSet<String>, BTreeSet<String>, BTreeSet<usize>);
    let mut wanted: BTreeMap<String, Wanted> = BTreeMap::new();
    for &i in selection {
        let image = session.plan.image(i);
        let path = &session.plan.manifest_of(i).dockerfile;
        let rules = crate::guarded::Rules::new(
            &session.ws.root,
            crate::guarded::CONFIG_CAP,
            "a Dockerfile",
        );
        // A Dockerfile that cannot be read fails its image's build, which says why.
        let Ok(text) = crate::guarded::read_to_string(path, rules) else {
            continue;
        };
        let platforms: Vec<Option<Platform>> = if image.platforms.is_empty() {
            vec![None]
        } else {
            image.platforms.iter().cloned().map(Some).collect()
        };
        let engines = engines_for(session, &platforms);
        for p in &platforms {
            let name = p.as_ref().unwrap_or(&session.native).to_string();
            for base in platform_inputs(session, i, p.as_ref(), &text).bases {
                let entry = wanted.entry(base).or_default();
                entry.0.insert(name.clone());
                entry.1.insert(image.name.clone());
                entry.2.extend(engines.iter().copied());
            }
        }
    }
    if wanted.is_empty() {
        return Ok(());
    }
    let registries = Registries::from_env()?;
    let registries = &registries;
    let work = wanted
        .into_iter()
        .flat_map(|(base, (platforms, images, engines))| {
            engines
                .into_iter()
                .map(move |e| (base.clone(), platforms.clone(), images.clone(), e))
        });
    let mut pulls = futures_util::stream::iter(work)
        .map(|(base, platforms, images, e)| async move {
            let native = session.pool[e].native.to_string();
            let mut order: Vec<&String> = platforms.iter().filter(|p| **p != native).collect();
            order.extend(platforms.get(&native));
            for platform in order {
                pull_one(session, e, registries, &base, platform, &images).await?;
            }
            Ok::<(), Error>(())
        })
        .buffer_unordered(jobs.max(1));
    let mut first_error = None;
    while let Some(result) = pulls.next().await {
        if let Err(e) = result {
            // An unreachable registry says the most about what to do; it wins.
            let replace = matches!(e, Error::Unreachable(_))
                && !matches!(first_error, Some(Error::Unreachable(_)));
            if first_error.is_none() || replace {
                first_error = Some(e);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// The engines of the pool that may build an image of `platforms` (`None`: the first engine's
/// own): those that answer and build them all natively, else every one that answers.
fn engines_for(session: &Session, platforms: &[Option<Platform>]) -> BTreeSet<usize> {
    let alive: BTreeSet<usize> = (0..session.pool.len())
        .filter(|&e| session.alive(e))
        .collect();
    let native: BTreeSet<usize> = alive
        .iter()
        .copied()
        .filter(|&e| {
            platforms
                .iter()
                .all(|p| session.pool[e].builds_natively(p.as_ref().unwrap_or(&session.native)))
        })
        .collect();
    if native.is_empty() { alive } else { native }
}

/// Pull one base for one platform, retrying what may pass (no connection, a busy registry).
async fn pull_one(
    session: &Session,
    on: usize,
    registries: &Registries,
    base: &str,
    platform: &str,
    images: &BTreeSet<String>,
) -> Result<()> {
    let registry = Reference::parse(base)
        .map_err(|e| Error::Usage(format!("base image {base}: {e}")))?
        .registry()
        .to_string();
    let registry = registry.as_str();
    let credentials = registries.credentials(registry).await?;
    let auth = credentials
        .as_ref()
        .map(|c| c.to_docker(&crate::registry::credentials::config_key(registry)));
    // Several engines: say which one pulls.
    let at = session
        .engine_name(on)
        .filter(|_| session.pool.len() > 1)
        .map(str::to_string);
    session.reporter.note(crate::output::Note::Pulling {
        base: base.to_string(),
        platform: platform.to_string(),
        on: at.clone(),
    });
    let engine = &session.pool[on].api;
    let result = registries
        .retry()
        .run(|| async {
            match engine.pull(base, Some(platform), auth.clone()).await {
                Ok(digest) => Ok(Ok(digest)),
                // The engine itself went away: nothing to retry.
                Err(EngineError::Unreachable(m)) => Ok(Err(m)),
                Err(EngineError::Failed(m)) => Err(Failure::from_engine_message(&m)),
            }
        })
        .await;
    let on = images.iter().cloned().collect::<Vec<_>>().join(", ");
    match result {
        Ok(Ok(digest)) => {
            session.reporter.note(crate::output::Note::Pulled {
                base: base.to_string(),
                platform: platform.to_string(),
                digest,
                on: at,
            });
            Ok(())
        }
        Ok(Err(lost)) => Err(Error::Unreachable(lost)),
        Err(Failure::Connection(m)) => Err(Error::Unreachable(format!(
            "cannot pull base image {base} (of {on}): registry {registry} unreachable after {} attempts: {m}. Check the registry, or build without --pull (and without `pull = true`) from the engine's local images",
            registries.retry().attempts
        ))),
        Err(Failure::Denied(m)) => {
            let why = match credentials {
                None => format!(
                    "the Docker config has no credentials for {registry} (run `docker login {registry}`)"
                ),
                Some(_) => {
                    format!("the credentials the Docker config holds for {registry} were rejected")
                }
            };
            Err(Error::Failed(format!(
                "registry {registry} denied the pull of base image {base} (of {on}): {why} (engine: {m})"
            )))
        }
        Err(other) => Err(Error::Failed(format!(
            "cannot pull base image {base} for {platform} (of {on}): {}",
            other.message()
        ))),
    }
}

/// The registry digest a base was pulled (or pushed) as: the digest it is pinned to, else
/// the engine's `RepoDigests` entry of its repository; `None` for an image that never came
/// from a registry (built or loaded locally).
fn registry_digest(base: &str, repo_digests: &[String]) -> Option<String> {
    let base = Reference::parse(base).ok()?;
    if let Some(digest) = base.digest {
        return Some(digest);
    }
    repo_digests
        .iter()
        .find_map(|entry| crate::reference::repo_digest(entry, &base.repository))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_digest_is_the_repo_digest_of_the_base_repository() {
        let d = |n: char| format!("sha256:{}", n.to_string().repeat(64));
        let digests = vec![
            format!("localhost:5000/other@{}", d('0')),
            format!("localhost:5000/team/base@{}", d('1')),
        ];
        assert_eq!(
            registry_digest("localhost:5000/team/base:1", &digests),
            Some(d('1'))
        );
        assert_eq!(registry_digest("team/base:1", &digests), None);
        // Docker Hub names, written either way.
        let hub = vec![format!("busybox@{}", d('2'))];
        assert_eq!(
            registry_digest("docker.io/library/busybox:1", &hub),
            Some(d('2'))
        );
        assert_eq!(registry_digest("busybox", &hub), Some(d('2')));
        // Pinned: that digest.
        assert_eq!(registry_digest(&format!("x@{}", d('3')), &[]), Some(d('3')));
        // Built locally: none.
        assert_eq!(registry_digest("local/base:1", &[]), None);
    }
}
