//! `--sbom-dir DIR`: each image's SPDX document on disk as `DIR/<image name>.spdx.json`.
//! `build` copies the document out of the built (or up-to-date) image, so the file is the
//! image's own bytes; `licenses` writes the document it made from its gathering.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::licenses::sbom;
use crate::output::EventSink;
use crate::output::Note;
use crate::run::{ImageResult, Session};

/// `DIR/<image name>.spdx.json`; another platform than the refs' one of a multi-platform
/// image gets its platform too: `DIR/<image name>.linux-arm64.spdx.json`.
pub(super) fn sbom_path(dir: &Path, image: &str, platform: Option<&str>) -> PathBuf {
    let file = match platform {
        None => format!("{image}.spdx.json"),
        Some(p) => format!("{image}.{}.spdx.json", p.replace('/', "-")),
    };
    dir.join(file)
}

/// Write `bytes` to `path`, creating its folder (image names may hold `/`).
pub(super) fn write_sbom(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::io(format!("cannot create {}", parent.display()), e))?;
    }
    std::fs::write(path, bytes)
        .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))
}

/// After a `build --pull-licenses --sbom-dir DIR`: the document of every image that has
/// `[licenses]` and was built or found up to date, read from the image (each platform's).
pub(super) async fn copy_from_images(
    session: &Session,
    results: &[ImageResult],
    dir: &Path,
) -> Result<usize> {
    let mut written = 0;
    for r in results {
        let Some(id) = &r.id else { continue };
        let Some(spec) = &session.plan.manifest_of(r.image).licenses else {
            continue;
        };
        let name = &session.plan.image(r.image).name;
        let in_image = format!("{}/{}", spec.dest.trim_end_matches('/'), sbom::FILE);
        let mut images = vec![(None, id.as_str())];
        images.extend(
            r.platforms
                .iter()
                .filter(|(_, pid)| *pid != id)
                .map(|(p, pid)| (Some(p.as_str()), pid.as_str())),
        );
        let engine = crate::run::holder(session, r);
        for (platform, image_id) in images {
            let bytes = crate::licenses::read_image_file(engine, image_id, &in_image)
                .await?
                .ok_or_else(|| {
                    Error::Failed(format!(
                        "{name}: image {image_id} has no {in_image}; rebuild it with --pull-licenses --force"
                    ))
                })?;
            let path = sbom_path(dir, name, platform);
            write_sbom(&path, &bytes)?;
            session.reporter.note(Note::SbomWritten {
                image: name.to_string(),
                path: path.clone(),
            });
            written += 1;
        }
    }
    if written == 0 {
        session.reporter.note(Note::NoSbom);
    }
    Ok(written)
}

/// `licenses --sbom-dir DIR`: the document `licenses` made for image `name`.
pub(super) fn write_one(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    reporter: &dyn EventSink,
) -> Result<()> {
    let path = sbom_path(dir, name, None);
    write_sbom(&path, bytes)?;
    reporter.note(Note::SbomWritten {
        image: name.to_string(),
        path: path.clone(),
    });
    Ok(())
}
