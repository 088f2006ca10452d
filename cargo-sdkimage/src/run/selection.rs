//! Which part of an image's context is walked, fingerprinted and served: under BuildKit, only
//! the paths its Dockerfile's `COPY`, `ADD` and `RUN --mount` can read
//! ([`crate::dockerfile::context_use`], over every platform of the image), as the engine asks
//! only for those; the whole context when they are not known, under the classic builder (it
//! gets a tar and cannot ask for more, so nothing would catch a path read that the Dockerfile
//! does not show, such as a base image's `ONBUILD COPY`), and for an image whose build
//! asked for more ([`remember_whole`]) while neither its Dockerfile nor the images its `FROM`s
//! name changed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::Session;
use crate::dockerfile::ContextUse;
use crate::engine::{Builder, EngineApi};
use crate::plan::ImageIndex;

/// The follow-paths to collect image `index`'s context for, with `dockerfile` its text;
/// `None`: the whole context. A whole-context marker written for another Dockerfile or other
/// base images is removed (`engine` says what the bases are now).
pub(super) async fn context_paths(
    session: &Session,
    engine: &dyn EngineApi,
    index: ImageIndex,
    dockerfile: &str,
) -> Option<Arc<Vec<String>>> {
    if session.builder(index) == Builder::Classic {
        return None;
    }
    let image = session.plan.image(index);
    if marker_stands(session, engine, index, dockerfile).await {
        return None;
    }
    let mut all = ContextUse::Paths(Default::default());
    for platform in platforms(session, index) {
        let automatic = platform.unwrap_or(&session.native).args(&session.native);
        let mut args = image.build_args.clone();
        args.extend(
            super::bases::platform_inputs(session, index, platform, dockerfile).platform_args,
        );
        let used =
            crate::dockerfile::context_use(dockerfile, image.target.as_deref(), &args, &automatic);
        all = all.union(used);
    }
    match all {
        ContextUse::Paths(paths) => Some(Arc::new(paths.into_iter().collect())),
        ContextUse::Whole(_) => None,
    }
}

/// What a whole-context marker was written for: the digest of the Dockerfile the build read
/// and the id of each image its `FROM`s name (on any platform of the image), as the engine
/// had them (`None`: it had none, or did not answer). The engine's request for a path that
/// the Dockerfile does not show comes from these (a base image's `ONBUILD`), so the marker
/// stands while they are the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    dockerfile: String,
    bases: BTreeMap<String, Option<String>>,
}

impl Stamp {
    async fn now(
        session: &Session,
        engine: &dyn EngineApi,
        index: ImageIndex,
        dockerfile: &str,
    ) -> Stamp {
        let mut bases = BTreeMap::new();
        for platform in platforms(session, index) {
            for image in super::bases::from_images(session, index, platform, dockerfile) {
                bases.entry(image).or_insert(None);
            }
        }
        for (image, id) in &mut bases {
            *id = engine.image_id(image).await.ok().flatten();
        }
        Stamp {
            dockerfile: text_digest(dockerfile),
            bases,
        }
    }
}

/// The engine asked image `index`'s build (of Dockerfile `dockerfile`) for context paths
/// outside those collected: its context is collected whole as long as the Dockerfile and the
/// images its `FROM`s name stay the same.
pub(super) async fn remember_whole(
    session: &Session,
    engine: &dyn EngineApi,
    index: ImageIndex,
    dockerfile: &str,
) -> std::io::Result<()> {
    let stamp = Stamp::now(session, engine, index, dockerfile).await;
    let path = marker(&session.ws.state_dir(), &session.plan.image(index).name);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_vec_pretty(&stamp).map_err(std::io::Error::other)?;
    std::fs::write(path, text)
}

/// Whether image `name` has a whole-context marker. Right after a build, that is one this
/// build wrote: one written for another Dockerfile or other bases went when the context was
/// selected ([`context_paths`]).
pub(super) fn is_whole(state_dir: &Path, name: &str) -> bool {
    marker(state_dir, name).exists()
}

/// Whether image `index` has a whole-context marker written for `dockerfile` and the images
/// its `FROM`s name now; one written for others (or unreadable, as the empty markers of
/// earlier versions) is removed.
async fn marker_stands(
    session: &Session,
    engine: &dyn EngineApi,
    index: ImageIndex,
    dockerfile: &str,
) -> bool {
    let path = marker(&session.ws.state_dir(), &session.plan.image(index).name);
    let Ok(text) = std::fs::read(&path) else {
        return false;
    };
    let stands = match serde_json::from_slice::<Stamp>(&text) {
        // The Dockerfile first: it needs no engine request.
        Ok(written) if written.dockerfile == text_digest(dockerfile) => {
            written == Stamp::now(session, engine, index, dockerfile).await
        }
        _ => false,
    };
    if !stands {
        let _ = std::fs::remove_file(&path);
    }
    stands
}

fn text_digest(text: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(text)))
}

/// The platforms image `index` is built for (`None`: the engine's own, not named).
fn platforms(session: &Session, index: ImageIndex) -> Vec<Option<&crate::platform::Platform>> {
    let image = session.plan.image(index);
    match image.platforms.is_empty() {
        true => vec![None],
        false => image.platforms.iter().map(Some).collect(),
    }
}

/// `<target>/sdkimage/whole-context/<image>`: present when the image's context is collected
/// whole whatever its Dockerfile says; it holds the [`Stamp`] it was written for.
fn marker(state_dir: &Path, name: &str) -> PathBuf {
    state_dir
        .join("whole-context")
        .join(crate::fingerprint::file_stem(name))
}

#[cfg(test)]
mod tests;
