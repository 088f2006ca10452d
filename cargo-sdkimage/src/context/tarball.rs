//! The deterministic, streamed tar of a [`Context`]: what the classic builder gets as its
//! build context (`POST /build` body), written entry by entry as the engine reads it.

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::mtime::HashWriter;
use super::{Context, ContextEntry, ContextError, EntryKind, content_mtime, io_error};

/// Size of the chunks [`tar_stream`] yields.
pub(super) const CHUNK_SIZE: usize = 64 * 1024;
/// Chunks buffered between the tar writer and the HTTP body.
const CHANNEL_CHUNKS: usize = 4;

/// Write the deterministic, uncompressed tar of `ctx` to `out`. File contents are streamed;
/// a file whose size changed since [`collect`] is an error.
pub fn write_tar<W: Write>(ctx: &Context, out: W) -> Result<(), ContextError> {
    let mut builder = tar::Builder::new(Guarded {
        inner: out,
        poisoned: false,
    });
    for entry in &ctx.entries {
        if let Err(e) = append_entry(&mut builder, entry) {
            // Keep tar::Builder's drop from appending the end-of-archive marker to a broken tar.
            builder.get_mut().poisoned = true;
            return Err(e);
        }
    }
    builder.finish().map_err(ContextError::Write)?;
    builder.get_mut().inner.flush().map_err(ContextError::Write)
}

fn append_entry<W: Write>(
    builder: &mut tar::Builder<W>,
    entry: &ContextEntry,
) -> Result<(), ContextError> {
    let mut header = tar::Header::new_gnu();
    header.set_mode(entry.mode);
    // Files and symlinks get theirs below.
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    match &entry.kind {
        EntryKind::Dir => {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
            builder
                .append_data(&mut header, format!("{}/", entry.path), io::empty())
                .map_err(ContextError::Write)
        }
        EntryKind::Symlink { target } => {
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            header.set_mtime(content_mtime(Sha256::digest(target.as_bytes()).as_slice()));
            // Store short targets verbatim (set_link_name would normalize them); long ones
            // go through the GNU long-link extension.
            if target.len() <= 100 && header.set_link_name_literal(target).is_ok() {
                builder.append_data(&mut header, &entry.path, io::empty())
            } else {
                builder.append_link(&mut header, &entry.path, target)
            }
            .map_err(ContextError::Write)
        }
        EntryKind::File => {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(entry.size);
            if let Some(data) = &entry.data {
                header.set_mtime(content_mtime(Sha256::digest(data).as_slice()));
                return builder
                    .append_data(&mut header, &entry.path, data.as_slice())
                    .map_err(ContextError::Write);
            }
            // Read twice: once for the mtime the header needs first, once to send; the two
            // readings must agree, or the file changed while it was being sent.
            let mut file = File::open(&entry.source).map_err(io_error(&entry.source))?;
            let mut hasher = Sha256::new();
            let hashed = io::copy(
                &mut (&mut file).take(entry.size),
                &mut HashWriter(&mut hasher),
            )
            .map_err(io_error(&entry.source))?;
            let digest = hasher.finalize();
            if hashed != entry.size {
                return Err(ContextError::Changed {
                    path: entry.source.clone(),
                });
            }
            header.set_mtime(content_mtime(digest.as_slice()));
            file.seek(io::SeekFrom::Start(0))
                .map_err(io_error(&entry.source))?;
            let mut reader = SizedReader {
                inner: file.take(entry.size),
                read_error: None,
                hasher: Sha256::new(),
            };
            if let Err(e) = builder.append_data(&mut header, &entry.path, &mut reader) {
                return Err(match reader.read_error.take() {
                    Some(source) => ContextError::Io {
                        path: entry.source.clone(),
                        source,
                    },
                    None => ContextError::Write(e),
                });
            }
            let changed = reader.inner.limit() != 0
                || reader.hasher.finalize_reset() != digest
                || reader
                    .inner
                    .get_ref()
                    .metadata()
                    .map_err(io_error(&entry.source))?
                    .len()
                    != entry.size;
            if changed {
                return Err(ContextError::Changed {
                    path: entry.source.clone(),
                });
            }
            Ok(())
        }
    }
}

/// Reads at most the recorded size and remembers read errors so they can be told apart from
/// errors of the output.
/// Hashes what it reads, to tell a file whose content changed while it was sent.
struct SizedReader {
    inner: io::Take<File>,
    read_error: Option<io::Error>,
    hasher: Sha256,
}

impl Read for SizedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf).inspect_err(|e| {
            self.read_error = Some(io::Error::new(e.kind(), e.to_string()));
        })?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Refuses writes once poisoned.
struct Guarded<W> {
    inner: W,
    poisoned: bool,
}

impl<W: Write> Write for Guarded<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.poisoned {
            return Err(io::Error::other(
                "build context writer stopped after an error",
            ));
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The tar of `ctx` as a stream of chunks for an HTTP body. [`write_tar`] runs on a blocking
/// thread (spawned on first poll, so a Tokio runtime is needed then) and feeds a bounded
/// channel, so memory stays at a few chunks whatever the context size. An error is delivered
/// as one `Err` item, after which the stream ends; dropping the stream stops the writer.
pub fn tar_stream(
    ctx: Arc<Context>,
) -> impl Stream<Item = Result<Bytes, io::Error>> + Send + 'static {
    let (tx, mut rx) = mpsc::channel(CHANNEL_CHUNKS);
    let finished = Arc::new(AtomicBool::new(false));
    let mut pending = Some((ctx, tx, finished.clone()));
    let mut ended = false;
    futures_util::stream::poll_fn(move |cx| {
        if ended {
            return Poll::Ready(None);
        }
        if let Some((ctx, tx, finished)) = pending.take() {
            tokio::task::spawn_blocking(move || produce(&ctx, tx, &finished));
        }
        let item = match std::task::ready!(rx.poll_recv(cx)) {
            Some(Ok(chunk)) => return Poll::Ready(Some(Ok(chunk))),
            Some(Err(e)) => Some(Err(e)),
            None if finished.load(Ordering::SeqCst) => None,
            None => Some(Err(io::Error::other(
                "the build context writer stopped unexpectedly",
            ))),
        };
        ended = true;
        Poll::Ready(item)
    })
}

fn produce(ctx: &Context, tx: mpsc::Sender<io::Result<Bytes>>, finished: &AtomicBool) {
    let mut writer = ChannelWriter {
        tx: tx.clone(),
        buf: BytesMut::with_capacity(CHUNK_SIZE),
    };
    let result =
        write_tar(ctx, &mut writer).and_then(|()| writer.send().map_err(ContextError::Write));
    match result {
        Ok(()) => finished.store(true, Ordering::SeqCst),
        Err(e) => {
            let kind = match &e {
                ContextError::Io { source, .. } | ContextError::Write(source) => source.kind(),
                _ => io::ErrorKind::Other,
            };
            // Fails only if the stream was dropped, and then nobody is listening.
            let _ = tx.blocking_send(Err(io::Error::new(kind, e)));
        }
    }
}

/// Cuts the tar into [`CHUNK_SIZE`] pieces and sends them, waiting while the channel is full.
struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: BytesMut,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, BytesMut::with_capacity(CHUNK_SIZE)).freeze();
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the build context stream was dropped",
            )
        })
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK_SIZE - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK_SIZE {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Chunks are sent when full or at the end; flushing early would only make them smaller.
        Ok(())
    }
}
