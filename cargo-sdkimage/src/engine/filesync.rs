//! BuildKit's file sync, the sending side: `moby.filesync.v1.FileSync/DiffCopy`, served in a
//! build session ([`super::session`]) so the engine pulls the context and the Dockerfile
//! instead of receiving a tar of everything (what the docker CLI does with BuildKit).
//!
//! The protocol is fsutil's (`send.go`): the engine's request names a folder (`dir-name`:
//! `context` or `dockerfile`) and may carry `include-patterns` and `followpaths`. We send one
//! stat packet per entry, in fsutil's walk order ([`Context::sync_entries`]), then an empty
//! stat; the engine compares them with its copy of the folder (kept under the session's shared
//! key) and requests the files that differ by id (the index of their stat packet); each is
//! answered with data packets and an empty data packet. The engine ends with `FIN`, answered
//! with `FIN`.
//!
//! A stat's mtime is derived from the file's content ([`crate::context::content_mtime`]), from
//! the digests the up-to-date check already made: sending stats reads no file. A file is read
//! (read(2), in chunks, never whole) only when the engine asks for it. It goes out once, not
//! hashed again: its stat before and after the reading must be the one its digest was made
//! with (size, mtime, inode and change time, which every write moves), or the build fails
//! naming it. A file changed shortly before it was hashed (its change time within
//! [`RACY_NS`] of the hashing) could change again within the same clock tick unseen by its
//! stat: that one is hashed as it goes out and checked against its digest.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::task::Poll;

use bollard_buildkit_proto::fsutil::types::packet::PacketType;
use bollard_buildkit_proto::fsutil::types::{Packet, Stat};
use bollard_buildkit_proto::moby::filesync::v1::file_sync_server::FileSync;
use futures_util::Stream;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::context::{
    CONTEXT_DIR, Context, ContextEntry, ContextError, DOCKERFILE_DIR, EntryKind, SyncRequest,
    content_mtime, go_file_mode,
};
use crate::fingerprint::{FileStamp, Stamps};

/// Size of the data packets (fsutil sends 32 KiB; larger ones cost fewer messages).
const CHUNK: usize = 256 * 1024;
/// Packets buffered between the readers and the connection.
const QUEUE: usize = 16;
/// Files read and sent at the same time (fsutil's sender uses 4).
const SENDERS: usize = 4;
/// A file whose change time is this close to its hashing (or later) is hashed again as it is
/// sent: file times move in clock ticks, so a write in the same tick would not show in its stat.
pub const RACY_NS: i128 = 2_000_000_000;

/// A context served by a session's file sync.
#[derive(Debug, Clone)]
pub struct SyncedContext {
    pub context: Arc<Context>,
    /// The up-to-date check's file stamps (SHA-256 and stat) by path in `context.entries`.
    pub stamps: Arc<Stamps>,
    /// When the stamps were taken (ns since 1970): files changed since [`RACY_NS`] before are
    /// hashed again as they are sent.
    pub hashed_at_ns: i128,
    /// The session's shared key: BuildKit keeps its copy of each folder under it.
    pub shared_key: String,
    /// The follow-paths the context was collected and fingerprinted for (`None`: all of it).
    /// A request for more is refused ([`ContextError::NotSelected`]): the file would go out
    /// without its fingerprint, and a later change to it would leave the image "up to date".
    pub only: Option<Arc<Vec<String>>>,
}

impl SyncedContext {
    /// `folder` is the context folder and `image` the image built from it: BuildKit 0.8 keys
    /// its copy on the shared key alone (not on what a build asks for), and a sync with
    /// fewer files deletes the others from the copy. One key per folder and image keeps two
    /// images of one folder from emptying each other's copy, and a rebuild sends only what
    /// changed.
    pub fn new(
        context: Arc<Context>,
        stamps: Arc<Stamps>,
        hashed_at: std::time::SystemTime,
        folder: &Path,
        image: &str,
    ) -> SyncedContext {
        let mut h = Sha256::new();
        h.update(b"cargo-sdkimage-context\0");
        h.update(folder.as_os_str().as_encoded_bytes());
        h.update(b"\0");
        h.update(image.as_bytes());
        SyncedContext {
            context,
            stamps,
            hashed_at_ns: hashed_at
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i128),
            shared_key: hex::encode(h.finalize()),
            only: None,
        }
    }

    /// Served for the follow-paths `only` its context was collected for.
    pub fn only(mut self, only: Option<Arc<Vec<String>>>) -> SyncedContext {
        self.only = only;
        self
    }
}

/// The first failure of a sync that is ours to report (a file that changed), kept for the
/// build's error message.
pub(super) type SyncFailure = Arc<Mutex<Option<ContextError>>>;

pub(super) struct FileSyncService {
    pub(super) synced: Arc<SyncedContext>,
    pub(super) failure: SyncFailure,
}

type PacketStream =
    std::pin::Pin<Box<dyn Stream<Item = Result<Packet, tonic::Status>> + Send + 'static>>;

#[tonic::async_trait]
impl FileSync for FileSyncService {
    type DiffCopyStream = PacketStream;
    type TarStreamStream = PacketStream;

    async fn diff_copy(
        &self,
        request: tonic::Request<tonic::Streaming<Packet>>,
    ) -> Result<tonic::Response<PacketStream>, tonic::Status> {
        let sync = sync_request(request.metadata());
        if sync.dir != CONTEXT_DIR && sync.dir != DOCKERFILE_DIR {
            return Err(tonic::Status::not_found(format!(
                "no access allowed to dir {:?}",
                sync.dir
            )));
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        let job = Sender {
            synced: self.synced.clone(),
            failure: self.failure.clone(),
            tx,
        };
        tokio::spawn(job.run(sync, request.into_inner()));
        Ok(tonic::Response::new(until_last(rx)))
    }

    async fn tar_stream(
        &self,
        _request: tonic::Request<tonic::Streaming<Packet>>,
    ) -> Result<tonic::Response<PacketStream>, tonic::Status> {
        Err(tonic::Status::unimplemented(
            "FileSync/TarStream is not served; use DiffCopy",
        ))
    }
}

/// The request's folder, include patterns and follow-paths. Exclude patterns are not read:
/// the entries already went through `.dockerignore` ([`crate::context`]).
fn sync_request(metadata: &tonic::metadata::MetadataMap) -> SyncRequest {
    let all = |key: &str| -> Option<Vec<String>> {
        let values: Vec<String> = metadata
            .get_all(key)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        (!values.is_empty()).then_some(values)
    };
    SyncRequest {
        dir: all("dir-name")
            .and_then(|v| v.into_iter().next())
            .unwrap_or_default(),
        include: all("include-patterns"),
        follow: all("followpaths"),
    }
}

/// The packets of `rx`, ending after a `FIN` or `ERR` (fsutil's sender stops there).
fn until_last(mut rx: mpsc::Receiver<Packet>) -> PacketStream {
    let mut done = false;
    Box::pin(futures_util::stream::poll_fn(move |cx| {
        if done {
            return Poll::Ready(None);
        }
        let packet = std::task::ready!(rx.poll_recv(cx));
        if let Some(p) = &packet {
            done = p.r#type == PacketType::PacketFin as i32
                || p.r#type == PacketType::PacketErr as i32;
        }
        Poll::Ready(packet.map(Ok))
    }))
}

fn packet(kind: PacketType) -> Packet {
    Packet {
        r#type: kind as i32,
        ..Default::default()
    }
}

/// One file the engine may ask for, by id.
struct FileJob {
    /// Where it is read from (shown when it changed).
    source: PathBuf,
    size: u64,
    /// Contents generated in memory, sent instead of reading `source`.
    data: Option<Vec<u8>>,
    digest: [u8; 32],
    /// The stat the digest was made with; `None` for contents in memory.
    stamp: Option<FileStamp>,
    /// Hash it again as it goes out (its stamp is too close to the hashing to be trusted).
    verify: bool,
}

/// A file of the context whose content digest the fingerprint's stamps lack.
#[derive(Debug, thiserror::Error)]
#[error("no content digest for {0}")]
struct NoDigest(String);

struct Sender {
    synced: Arc<SyncedContext>,
    failure: SyncFailure,
    tx: mpsc::Sender<Packet>,
}

impl Sender {
    async fn run(self, sync: SyncRequest, mut incoming: tonic::Streaming<Packet>) {
        use futures_util::StreamExt;
        // The build files are always collected (the engine reads `.dockerignore` first).
        let collected = self.synced.only.as_ref().map(|only| {
            let mut all = only.to_vec();
            all.push(".dockerignore".to_string());
            all.push(self.synced.context.dockerfile_in_context.clone());
            all
        });
        if sync.dir == CONTEXT_DIR
            && let Some(only) = &collected
            && let Some(paths) = sync.outside(only)
        {
            let e = ContextError::NotSelected { paths };
            let message = e.to_string();
            if let Ok(mut slot) = self.failure.lock()
                && slot.is_none()
            {
                *slot = Some(e);
            }
            return self.error(message).await;
        }
        // The entries borrow the shared context: a stat packet is made as it goes out and a
        // file's job when the engine asks for it, so a sync holds no copy of the context.
        let entries = self.synced.context.sync_entries(&sync).unwrap_or_default();
        // Requests are read as they come (never left waiting in the connection: the engine's
        // health checks of the session travel on it too) and queued for a few readers.
        let (jobs, queue) = mpsc::unbounded_channel::<(u32, FileJob)>();
        // Each reader is one blocking thread for the whole sync, not one per file.
        let queue = Arc::new(tokio::sync::Mutex::new(queue));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        for _ in 0..SENDERS {
            let queue = queue.clone();
            let tx = self.tx.clone();
            let failure = self.failure.clone();
            let stop = stop.clone();
            tokio::task::spawn_blocking(move || {
                loop {
                    let Some((id, job)) = queue.blocking_lock().blocking_recv() else {
                        return;
                    };
                    if !send_one(id, &job, &tx, &failure, &stop) {
                        return;
                    }
                }
            });
        }
        // Each id is asked for once.
        let mut asked = vec![false; entries.len()];
        // Stats go out while requests come in: the engine asks as soon as it has compared.
        // `next_stat` past the end: the empty stat that ends them is sent.
        let mut next_stat = 0;
        let mut stats_sent = false;
        loop {
            tokio::select! {
                biased;
                p = incoming.next() => {
                    let p = match p {
                        Some(Ok(p)) => p,
                        // The engine went away: nothing more to send.
                        None | Some(Err(_)) => break,
                    };
                    match PacketType::try_from(p.r#type) {
                        Ok(PacketType::PacketReq) => {
                            let id = p.id as usize;
                            // Only a file whose stat went out, once.
                            let job = match entries.get(id) {
                                Some((entry, key)) if id < next_stat && !asked[id] => {
                                    asked[id] = true;
                                    self.job(entry, key)
                                }
                                _ => Ok(None),
                            };
                            let job = match job {
                                Ok(Some(job)) => job,
                                Ok(None) => {
                                    self.error(format!("invalid file id {}", p.id)).await;
                                    break;
                                }
                                Err(e) => {
                                    self.error(e.to_string()).await;
                                    break;
                                }
                            };
                            if jobs.send((p.id, job)).is_err() {
                                break;
                            }
                        }
                        Ok(PacketType::PacketFin) => {
                            // The engine wrote every file it asked for.
                            let _ = self.tx.send(packet(PacketType::PacketFin)).await;
                            break;
                        }
                        Ok(PacketType::PacketErr) => break,
                        _ => {}
                    }
                }
                permit = self.tx.reserve(), if !stats_sent => {
                    let Ok(permit) = permit else { break };
                    let Some((entry, key)) = entries.get(next_stat) else {
                        permit.send(packet(PacketType::PacketStat));
                        stats_sent = true;
                        continue;
                    };
                    match self.stat(entry, key) {
                        Ok(stat) => {
                            let mut p = packet(PacketType::PacketStat);
                            p.stat = Some(stat);
                            permit.send(p);
                            next_stat += 1;
                        }
                        Err(e) => {
                            drop(permit);
                            self.error(e.to_string()).await;
                            break;
                        }
                    }
                }
            }
        }
        // The readers see the queue closed or the stop, and end.
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        drop(jobs);
    }

    /// A file's content digest and, for a file on disk, its stamp.
    fn digest(
        &self,
        entry: &ContextEntry,
        key: &str,
    ) -> Result<([u8; 32], Option<FileStamp>), NoDigest> {
        match &entry.data {
            Some(data) => Ok((Sha256::digest(data).into(), None)),
            None => {
                let stamp = self
                    .synced
                    .stamps
                    .get(key)
                    .ok_or_else(|| NoDigest(key.to_string()))?;
                Ok((stamp.hash, Some(*stamp)))
            }
        }
    }

    /// The stat packet of an entry.
    fn stat(&self, entry: &ContextEntry, key: &str) -> Result<Stat, NoDigest> {
        let (mtime, size, linkname) = match &entry.kind {
            EntryKind::Dir => (0, 0, String::new()),
            EntryKind::Symlink { target } => (
                content_mtime(Sha256::digest(target.as_bytes()).as_slice()),
                0,
                target.clone(),
            ),
            EntryKind::File => {
                let (digest, _) = self.digest(entry, key)?;
                (content_mtime(&digest), entry.size, String::new())
            }
        };
        Ok(Stat {
            path: entry.path.clone(),
            mode: go_file_mode(&entry.kind, entry.mode),
            size: size as i64,
            mod_time: (mtime as i64) * 1_000_000_000,
            linkname,
            ..Default::default()
        })
    }

    /// What sending an entry takes; `None` when it is no file.
    fn job(&self, entry: &ContextEntry, key: &str) -> Result<Option<FileJob>, NoDigest> {
        if entry.kind != EntryKind::File {
            return Ok(None);
        }
        let (digest, stamp) = self.digest(entry, key)?;
        let verify = stamp.as_ref().is_some_and(|s| {
            s.ctime_ns
                .is_none_or(|c| c >= self.synced.hashed_at_ns - RACY_NS)
        });
        Ok(Some(FileJob {
            source: entry.source.clone(),
            size: entry.size,
            data: entry.data.clone(),
            digest,
            stamp,
            verify,
        }))
    }

    async fn error(&self, message: String) {
        let mut p = packet(PacketType::PacketErr);
        p.data = message.into_bytes();
        let _ = self.tx.send(p).await;
    }
}

/// Send one requested file unless the sync stopped; on a failure of ours, keep it for the
/// build's message and tell the engine (`ERR`). Whether to go on.
fn send_one(
    id: u32,
    job: &FileJob,
    tx: &mpsc::Sender<Packet>,
    failure: &SyncFailure,
    stop: &std::sync::atomic::AtomicBool,
) -> bool {
    if stop.load(std::sync::atomic::Ordering::SeqCst) {
        return false;
    }
    let Err(e) = send_file(id, job, tx) else {
        return true;
    };
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    // The engine went away: its own error says why.
    if !matches!(e, ContextError::Write(_)) {
        let mut err = packet(PacketType::PacketErr);
        err.data = e.to_string().into_bytes();
        if let Ok(mut slot) = failure.lock()
            && slot.is_none()
        {
            *slot = Some(e);
        }
        let _ = tx.blocking_send(err);
    }
    false
}

/// Send one file as data packets and the empty packet that ends it. Opened without blocking
/// (a FIFO put in its place is refused, never waited on), read in chunks with read(2). Its
/// stat before and after the reading must be its stamp's (and, when it is hashed again, its
/// content the digest its stat packet was made from), or it changed.
fn send_file(id: u32, job: &FileJob, tx: &mpsc::Sender<Packet>) -> Result<(), ContextError> {
    let data_packet = |data: Vec<u8>| Packet {
        r#type: PacketType::PacketData as i32,
        id,
        data,
        ..Default::default()
    };
    let changed = || ContextError::Changed {
        path: job.source.clone(),
    };
    // The receiver is gone: stop quietly, the build fails on its own.
    let gone = || ContextError::Write(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
    if let Some(data) = &job.data {
        for chunk in data.chunks(CHUNK) {
            tx.blocking_send(data_packet(chunk.to_vec()))
                .map_err(|_| gone())?;
        }
        return tx
            .blocking_send(data_packet(Vec::new()))
            .map_err(|_| gone());
    }
    let path = &job.source;
    let io = |source| ContextError::Io {
        path: path.clone(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io)?;
    let before = file.metadata().map_err(io)?;
    let same_file = |meta: &std::fs::Metadata| {
        meta.is_file() && job.stamp.as_ref().is_none_or(|s| s.matches(meta))
    };
    if !same_file(&before) {
        return Err(changed());
    }
    let mut hasher = job.verify.then(Sha256::new);
    let mut left = job.size;
    loop {
        // One byte more than expected at the end, to see a file that grew.
        let want = (left as usize).clamp(1, CHUNK);
        let mut buf = Vec::with_capacity(want);
        let n = (&file)
            .take(want as u64)
            .read_to_end(&mut buf)
            .map_err(io)?;
        if n == 0 {
            break;
        }
        if n as u64 > left {
            return Err(changed());
        }
        left -= n as u64;
        if let Some(h) = &mut hasher {
            h.update(&buf[..n]);
        }
        tx.blocking_send(data_packet(buf)).map_err(|_| gone())?;
    }
    if left != 0 || !same_file(&file.metadata().map_err(io)?) {
        return Err(changed());
    }
    if let Some(h) = hasher
        && h.finalize().as_slice() != job.digest
    {
        return Err(changed());
    }
    tx.blocking_send(data_packet(Vec::new()))
        .map_err(|_| gone())
}

#[cfg(test)]
mod tests;
