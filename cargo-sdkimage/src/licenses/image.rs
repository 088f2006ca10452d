//! Reading a built image's filesystem: the export of a created, never-started container, streamed
//! through a tar parser on a blocking thread. Only the few small files the gatherers keep are held
//! in memory (dpkg status, copyright files, `*.dist-info` metadata and texts), plus every link, so
//! paths through symlinked folders (`/usr/share/doc/libgcc-s1 -> gcc-12-base`) resolve. Files a
//! gatherer inspects (executables, jars) are read whole one at a time and dropped after.

use std::io::{self, Read};

use bytes::{Buf, Bytes};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::Gathered;
use super::gatherer::ImageGatherer;
use super::snapshot::{Link, Snapshot, normalize};
use crate::engine::{EngineApi, Throwaway};
use crate::error::{Error, Result};

/// The largest file kept; anything bigger on a path we read is an error, not a silent skip.
const MAX_FILE: u64 = 64 << 20;
/// The largest executable or archive read through once (Beam's fat jars are a few hundred MB).
const MAX_INSPECTED: u64 = 2 << 30;
/// Chunks of the export stream in flight between the engine and the tar parser.
const CHANNEL_CHUNKS: usize = 16;

/// Run the image-side `gatherers` over image `image_id`, in one read of its filesystem. The scan
/// container is removed whatever happens (also when this future is dropped).
pub(crate) async fn gather_image(
    engine: &dyn EngineApi,
    image_id: &str,
    gatherers: Vec<Box<dyn ImageGatherer>>,
) -> Result<Gathered> {
    if gatherers.is_empty() {
        return Ok(Gathered::default());
    }
    let container = scan_container(engine, image_id).await?;
    let scanned = export(engine, container.id(), gatherers).await;
    let removed = remove(container).await;
    let (snapshot, gatherers) = scanned?;
    removed?;
    tokio::task::spawn_blocking(move || {
        let mut gathered = Gathered::default();
        for gatherer in gatherers {
            gathered.entries.extend(gatherer.gather(&snapshot)?);
        }
        Ok(gathered)
    })
    .await
    .map_err(|e| Error::Failed(format!("licenses: the image reader stopped: {e}")))?
}

/// The file at `path` (absolute) in image `image_id`, read through a created, never-started
/// container as `docker cp` reads it; `None` when the image has no regular file there.
pub async fn read_image_file(
    engine: &dyn EngineApi,
    image_id: &str,
    path: &str,
) -> Result<Option<Vec<u8>>> {
    let container = scan_container(engine, image_id).await?;
    let archive = engine
        .archive_of(container.id(), path, MAX_FILE as usize)
        .await;
    let removed = remove(container).await;
    let archive = archive
        .map_err(|e| Error::Failed(format!("cannot read {path} of image {image_id}: {e}")))?;
    removed?;
    let Some(archive) = archive else {
        return Ok(None);
    };
    let bad = |e: io::Error| Error::Failed(format!("cannot read {path} of image {image_id}: {e}"));
    let mut tar = tar::Archive::new(&archive[..]);
    for entry in tar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        if entry.header().entry_type().is_file() {
            let mut contents = Vec::new();
            entry.read_to_end(&mut contents).map_err(bad)?;
            return Ok(Some(contents));
        }
    }
    Ok(None)
}

/// A container of `image_id` for a license scan, never run (an image without a shell or
/// default command can still be created).
async fn scan_container(engine: &dyn EngineApi, image_id: &str) -> Result<Throwaway> {
    engine
        .create_throwaway(
            image_id,
            None,
            vec!["/sdkimage-license-scan".to_string()],
            &[("org.sdkimage.purpose", "license-scan")],
        )
        .await
        .map_err(|e| {
            Error::Failed(format!(
                "licenses: cannot create a container of image {image_id}: {e}"
            ))
        })
}

/// Remove a scan container.
async fn remove(container: Throwaway) -> Result<()> {
    let id = container.id().to_string();
    container
        .remove()
        .await
        .map_err(|e| Error::Failed(format!("licenses: cannot remove scan container {id}: {e}")))
}

/// Stream the container's export into the tar parser (on a blocking thread) through a bounded
/// channel: memory stays at a few chunks whatever the image size.
async fn export(
    engine: &dyn EngineApi,
    container: &str,
    gatherers: Gatherers,
) -> Result<(Snapshot, Gatherers)> {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(CHANNEL_CHUNKS);
    let parser = tokio::task::spawn_blocking(move || {
        scan(
            ChannelReader {
                rx,
                chunk: Bytes::new(),
            },
            gatherers,
        )
    });
    let mut stream = Box::pin(engine.export_container(container));
    while let Some(item) = stream.next().await {
        let item =
            item.map_err(|e| io::Error::other(format!("export of the scan container failed: {e}")));
        let failed = item.is_err();
        // A send error means the parser stopped (end of archive, or its own error).
        if tx.send(item).await.is_err() || failed {
            break;
        }
    }
    drop(tx);
    parser
        .await
        .map_err(|e| Error::Failed(format!("licenses: the image reader stopped: {e}")))?
}

/// A blocking [`Read`] over the chunks the async side sends.
struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    chunk: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(chunk) => self.chunk = chunk?,
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk.advance(n);
        Ok(n)
    }
}

type Gatherers = Vec<Box<dyn ImageGatherer>>;

/// Read a filesystem tar (a container export): keep the files a gatherer keeps, hand each file
/// a gatherer inspects to it as it streams by.
pub(crate) fn scan<R: Read>(reader: R, mut gatherers: Gatherers) -> Result<(Snapshot, Gatherers)> {
    let bad =
        |e: io::Error| Error::Failed(format!("licenses: cannot read the image filesystem: {e}"));
    let mut archive = tar::Archive::new(reader);
    let mut snapshot = Snapshot::default();
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let path = normalize(&String::from_utf8_lossy(&entry.path_bytes()));
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            let Some(target) = entry.link_name_bytes() else {
                continue;
            };
            let target = String::from_utf8_lossy(&target).into_owned();
            let link = if kind.is_symlink() {
                Link::Symbolic(target)
            } else {
                Link::Hard(normalize(&target))
            };
            snapshot.insert_link(path, link);
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        let size = entry.header().size().map_err(bad)?;
        if gatherers.iter().any(|g| g.keeps(&path)) {
            if size > MAX_FILE {
                return Err(Error::Failed(format!(
                    "licenses: {path} in the image is {size} bytes, more than the {MAX_FILE} a license or metadata file may be"
                )));
            }
            let mut contents = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            entry.read_to_end(&mut contents).map_err(bad)?;
            snapshot.insert_file(path, contents);
            continue;
        }
        let mode = entry.header().mode().map_err(bad)?;
        let mut head = Vec::with_capacity(4);
        (&mut entry).take(4).read_to_end(&mut head).map_err(bad)?;
        let wanted: Vec<usize> = (0..gatherers.len())
            .filter(|&i| gatherers[i].inspects(&path, mode, &head))
            .collect();
        if wanted.is_empty() {
            continue;
        }
        if size > MAX_INSPECTED {
            return Err(Error::Failed(format!(
                "licenses: {path} in the image is {size} bytes, more than the {MAX_INSPECTED} a binary or archive read for licenses may be"
            )));
        }
        let mut contents = head;
        contents.reserve(usize::try_from(size).unwrap_or(0));
        entry.read_to_end(&mut contents).map_err(bad)?;
        for i in wanted {
            gatherers[i].inspect(&path, &contents)?;
        }
    }
    Ok((snapshot, gatherers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_truncated_archive_is_an_error_not_a_panic() {
        let mut data = Vec::new();
        {
            let mut builder = tar::Builder::new(&mut data);
            let mut header = tar::Header::new_gnu();
            header.set_size(4);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, "var/lib/dpkg/status", &b"abcd"[..])
                .expect("append");
        }
        data.truncate(600);
        let gatherers = vec![super::super::debian::test_gatherer()];
        assert!(scan(&data[..], gatherers).is_err());
    }
}
