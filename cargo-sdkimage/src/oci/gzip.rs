//! The deterministic gzip of every layer we compress, on every core, as pigz makes it: the
//! plain stream is cut into [`BLOCK_SIZE`] blocks; each is deflated on its own (raw deflate,
//! zlib-rs through flate2, level [`GZIP_LEVEL`]) with the previous block's last 32 KiB as its
//! dictionary, and ends on a byte boundary (a sync flush), the last one with the final block.
//! A writer thread puts them in order into ONE gzip member (no name, mtime 0, OS byte 255) and
//! the trailer is the blocks' CRC-32s combined and the size.
//!
//! Where a block starts depends only on the bytes (never on how they were written, nor on
//! flushes, which are ignored), and each block's deflate only on its bytes and its dictionary
//! (the compressor is reset before each), so the same plain stream gives the same compressed
//! bytes on any machine, whatever the number of threads. Memory stays bounded: at most about
//! seven blocks per thread are in flight, the caller waits for room.

use std::io::{self, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// The gzip level of every layer we compress. Part of what a digest depends on: changing it
/// (or the compressor, zlib-rs through flate2, pinned by Cargo.lock) changes every digest.
pub const GZIP_LEVEL: u32 = 6;
/// The plain bytes each block deflates. Part of what a digest depends on, like the level.
pub const BLOCK_SIZE: usize = 256 * 1024;
/// Deflate's window: what a block is primed with from the one before.
const DICTIONARY: usize = 32 * 1024;
/// Names the compressed form in cache keys, so a change of level, block size or compressor
/// misses.
pub const COMPRESSOR: &str = "pgzip6-b256k-zlibrs1";
/// At most this many compressing threads, however many cores.
const MAX_THREADS: usize = 32;
/// The gzip header: deflate, no flags (no name, no comment), mtime 0, XFL 0 (a middle level),
/// OS 255 (unknown).
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

/// The compressing threads this machine gets: one per core.
pub fn threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_THREADS)
}

/// Compresses what `fill` writes into `out` as one deterministic gzip member on [`threads`]
/// threads, and gives back `out` and what `fill` returned.
pub fn compress<W, T>(
    out: W,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<T>,
) -> io::Result<(W, T)>
where
    W: Write + Send,
{
    compress_on(threads(), out, fill)
}

/// One block to deflate, and where its result goes.
struct Job {
    plain: Vec<u8>,
    dictionary: Option<Vec<u8>>,
    last: bool,
    done: SyncSender<io::Result<Deflated>>,
}

/// A block deflated: its bytes and the CRC-32 of its plain bytes.
struct Deflated {
    bytes: Vec<u8>,
    crc: Crc,
}

/// [`compress`] on `threads` threads (at least one); the bytes do not depend on it.
pub fn compress_on<W, T>(
    threads: usize,
    mut out: W,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<T>,
) -> io::Result<(W, T)>
where
    W: Write + Send,
{
    let threads = threads.clamp(1, MAX_THREADS);
    std::thread::scope(|scope| {
        // Queues a few blocks deep, so a thread the scheduler wakes late finds work waiting.
        let (jobs, queue) = sync_channel::<Job>(2 * threads);
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..threads {
            let queue = queue.clone();
            scope.spawn(move || deflate_jobs(&queue));
        }
        let (order, results) = sync_channel::<Receiver<io::Result<Deflated>>>(4 * threads);
        let writer = scope.spawn(move || -> io::Result<(W, Crc)> {
            out.write_all(&HEADER)?;
            let mut crc = Crc::new();
            for result in results {
                let block = result
                    .recv()
                    .map_err(|_| io::Error::other("a compressing thread stopped"))??;
                out.write_all(&block.bytes)?;
                crc.combine(&block.crc);
            }
            Ok((out, crc))
        });
        let mut blocks = Blocks {
            plain: Vec::with_capacity(BLOCK_SIZE),
            dictionary: None,
            jobs,
            order,
        };
        let filled = fill(&mut blocks).and_then(|value| blocks.send(true).map(|()| value));
        // Closing the queues ends the threads once they are through what was sent.
        drop(blocks);
        let written = writer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        // The writer's error first: it is why sending failed, when it did.
        let (mut out, crc) = written?;
        let value = filled?;
        out.write_all(&crc.sum().to_le_bytes())?;
        out.write_all(&crc.amount().to_le_bytes())?;
        Ok((out, value))
    })
}

/// A compressing thread: takes blocks off the queue until it closes.
fn deflate_jobs(queue: &Mutex<Receiver<Job>>) {
    let mut compress = Compress::new(Compression::new(GZIP_LEVEL), false);
    loop {
        // The lock is held only while waiting for the next job.
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let result = deflate(&mut compress, &job);
        // The writer may have stopped on an error of its own; nobody waits then.
        let _ = job.done.send(result);
    }
}

/// One block as raw deflate from a fresh state primed with its dictionary, ending on a byte
/// boundary (sync flush), or with the final block when it is the last.
fn deflate(compress: &mut Compress, job: &Job) -> io::Result<Deflated> {
    compress.reset();
    if let Some(dictionary) = &job.dictionary {
        compress
            .set_dictionary(dictionary)
            .map_err(io::Error::other)?;
    }
    let flush = if job.last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let input = &job.plain;
    let mut bytes = Vec::with_capacity(input.len() + input.len() / 16 + 64);
    let start = compress.total_in();
    loop {
        let consumed = (compress.total_in() - start) as usize;
        let status = compress
            .compress_vec(&input[consumed..], &mut bytes, flush)
            .map_err(io::Error::other)?;
        let consumed = (compress.total_in() - start) as usize;
        let room = bytes.len() < bytes.capacity();
        // A flush is complete when all input is in and the output did not fill up.
        let done = match flush {
            FlushCompress::Finish => status == Status::StreamEnd,
            _ => consumed == input.len() && room,
        };
        if done {
            break;
        }
        if !room {
            bytes.reserve(bytes.capacity() / 2 + 64);
        }
    }
    let mut crc = Crc::new();
    crc.update(input);
    Ok(Deflated { bytes, crc })
}

/// The caller's side: what it writes, cut into blocks and sent off in order.
struct Blocks {
    plain: Vec<u8>,
    dictionary: Option<Vec<u8>>,
    jobs: SyncSender<Job>,
    order: SyncSender<Receiver<io::Result<Deflated>>>,
}

impl Blocks {
    /// Sends the block gathered so far (full, or the last one, which may be short or empty).
    fn send(&mut self, last: bool) -> io::Result<()> {
        let plain = std::mem::replace(
            &mut self.plain,
            Vec::with_capacity(if last { 0 } else { BLOCK_SIZE }),
        );
        let next_dictionary = (!last).then(|| plain[plain.len() - DICTIONARY..].to_vec());
        let dictionary = std::mem::replace(&mut self.dictionary, next_dictionary);
        let (done, result) = sync_channel(1);
        let stopped = |_| io::Error::other("the compressed output stopped");
        self.order.send(result).map_err(stopped)?;
        self.jobs
            .send(Job {
                plain,
                dictionary,
                last,
                done,
            })
            .map_err(|_| io::Error::other("the compressing threads stopped"))
    }
}

impl Write for Blocks {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // A full block goes once more bytes come, so the last block is never empty (unless
        // everything is).
        if self.plain.len() == BLOCK_SIZE {
            self.send(false)?;
        }
        let n = buf.len().min(BLOCK_SIZE - self.plain.len());
        self.plain.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    /// Does nothing: a block ends where its size says, never where a flush was asked for.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
