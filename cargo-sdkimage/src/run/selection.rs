//! Which part of an image's context is walked, fingerprinted and served: under BuildKit, only
//! the paths its Dockerfile's `COPY`, `ADD` and `RUN --mount` can read
//! ([`crate::dockerfile::context_use`], over every platform of the image), as the engine asks
//! only for those; the whole context when they are not known, under the classic builder (it
//! gets a tar and cannot ask for more, so nothing would catch a path read that the Dockerfile
//! does not show, such as a base image's `ONBUILD COPY`), and for an image whose build once
//! asked for more ([`remember_whole`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Session;
use crate::dockerfile::ContextUse;
use crate::engine::Builder;
use crate::plan::ImageIndex;

/// The follow-paths to collect image `index`'s context for, with `dockerfile` its text;
/// `None`: the whole context.
pub(super) fn context_paths(
    session: &Session,
    index: ImageIndex,
    dockerfile: &str,
    state_dir: &Path,
) -> Option<Arc<Vec<String>>> {
    if session.builder(index) == Builder::Classic {
        return None;
    }
    let image = session.plan.image(index);
    if is_whole(state_dir, &image.name) {
        return None;
    }
    let platforms: Vec<Option<&crate::platform::Platform>> = match image.platforms.is_empty() {
        true => vec![None],
        false => image.platforms.iter().map(Some).collect(),
    };
    let mut all = ContextUse::Paths(Default::default());
    for platform in platforms {
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

/// The engine asked image `name`'s build for context paths outside those collected: from now
/// on its context is collected whole.
pub(super) fn remember_whole(state_dir: &Path, name: &str) -> std::io::Result<()> {
    let path = marker(state_dir, name);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, b"")
}

/// Whether image `name`'s context is collected whole whatever its Dockerfile says.
pub(super) fn is_whole(state_dir: &Path, name: &str) -> bool {
    marker(state_dir, name).exists()
}

/// `<target>/sdkimage/whole-context/<image>`: present when the image's context is collected
/// whole whatever its Dockerfile says.
fn marker(state_dir: &Path, name: &str) -> PathBuf {
    state_dir
        .join("whole-context")
        .join(crate::fingerprint::file_stem(name))
}
