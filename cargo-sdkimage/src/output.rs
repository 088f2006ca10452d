//! The output contract: every type a user or a tool reads, in one place. The JSON types (events,
//! the `list` array, the `--metadata-file`, `build --print`, `dockerfile` and `diff`) live in
//! the `sdkimage-metadata` crate, so that other tools read them without this library, and are
//! re-exported here; the book's "JSON output" page (docs/src/reference/json-output.md)
//! documents them and the end-to-end tests read the output through them. Here: the sink the
//! library emits through, the notes for people, and the writing of the metadata file.
//!
//! The library emits through [`EventSink`] only; `report/` renders for people and machines.

use std::io::Write;
use std::time::Duration;

mod note;

pub use note::Note;
pub use sdkimage_metadata::event::{self, millis};
pub use sdkimage_metadata::{
    BaseMetadata, BuildPrint, Counts, DockerfileEntry, Event, EventKind, ImageMetadata, ListEntry,
    MetadataEntry, MetadataReadError, NamedSubject, Outcome, PlanStatus, PlatformCheck,
    PlatformMetadata, PrintedImage, SCHEMA, SignatureMetadata, Subject, diff, read_metadata,
    schema,
};

/// One row of the human summary table of a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultRow {
    pub image: String,
    pub outcome: Outcome,
    pub duration: Duration,
    pub id: Option<String>,
}

/// A line of an image's build output, as the builder reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildLog<'a> {
    /// A step starts (`Step 3/7 : RUN make`): the line a progress bar shows.
    Step(&'a str),
    /// Anything else the build printed.
    Output(&'a str),
}

impl BuildLog<'_> {
    pub fn text(&self) -> &str {
        match self {
            BuildLog::Step(t) | BuildLog::Output(t) => t,
        }
    }
}

/// The one way the library emits: lifecycle events, build output, notes for people, and the
/// data a command was asked for. `report::Reporter` renders them (bars, plain lines, JSON).
pub trait EventSink: Send + Sync {
    /// A lifecycle event (a JSON line; the matching progress change for people).
    fn event(&self, event: &Event);
    /// One line of an image's build output (`label` is its selector, `python:3.11`).
    fn build_log(&self, image: &str, label: &str, line: BuildLog<'_>);
    /// A message for people on stderr (progress ones silent under `--progress none`).
    fn note(&self, note: Note);
    /// The data a command was asked for, on stdout (a table, a Dockerfile, a plan).
    fn data(&self, text: &str);
    /// Whether stdout carries JSON events (then plans for people go to stderr).
    fn json(&self) -> bool;
    /// The closing summary of a run: the `summary` event, and for people the table of `rows`
    /// with the totals (a build; publish, verify and promote have no table).
    fn summary(&self, counts: &Counts, rows: Option<&[ResultRow]>, elapsed: Duration) {
        let _ = rows;
        self.event(&Event::Summary(event::Summary {
            duration_ms: millis(elapsed),
            counts: counts.clone(),
        }));
    }
    /// Clear what is drawn (before a final error).
    fn clear(&self) {}
}

/// A sink that counts the images reported `failed` and passes everything on: the failures of
/// a publish, which are reported per image as they happen, counted for its summary.
pub struct Tally<'a> {
    inner: &'a dyn EventSink,
    failed: std::sync::atomic::AtomicUsize,
}

impl<'a> Tally<'a> {
    pub fn new(inner: &'a dyn EventSink) -> Tally<'a> {
        Tally {
            inner,
            failed: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// How many images were reported `failed` through this sink.
    pub fn failed(&self) -> usize {
        self.failed.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl EventSink for Tally<'_> {
    fn event(&self, event: &Event) {
        if let Event::Failed(_) = event {
            self.failed
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        self.inner.event(event);
    }
    fn build_log(&self, image: &str, label: &str, line: BuildLog<'_>) {
        self.inner.build_log(image, label, line);
    }
    fn note(&self, note: Note) {
        self.inner.note(note);
    }
    fn data(&self, text: &str) {
        self.inner.data(text);
    }
    fn json(&self) -> bool {
        self.inner.json()
    }
    fn summary(&self, counts: &Counts, rows: Option<&[ResultRow]>, elapsed: Duration) {
        self.inner.summary(counts, rows, elapsed);
    }
    fn clear(&self) {
        self.inner.clear();
    }
}

/// Write the metadata file of this run at `path` (replacing an earlier one), atomically.
pub fn write_metadata(
    path: &std::path::Path,
    entries: &[(String, ImageMetadata)],
) -> crate::Result<()> {
    let mut all = std::collections::BTreeMap::new();
    for (name, meta) in entries {
        all.insert(
            name.clone(),
            serde_json::to_value(meta).expect("metadata serializes"),
        );
    }
    let text = serde_json::to_vec_pretty(&all).expect("metadata serializes");
    replace_file(path, &text).map_err(|e| {
        crate::Error::io(
            format!("cannot write the metadata file {}", path.display()),
            e,
        )
    })
}

/// Replace the contents of `path` so that a reader never sees half a file: a temporary file
/// of a unique name beside the target, renamed over it. A symlink is followed (its target is
/// replaced, the link stays); what is not a regular file (`/dev/stdout`, a pipe) is written
/// in place.
fn replace_file(path: &std::path::Path, contents: &[u8]) -> std::io::Result<()> {
    let target = match std::fs::canonicalize(path) {
        Ok(real) => real,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => path.to_path_buf(),
        Err(e) => return Err(e),
    };
    if target.exists() && !std::fs::metadata(&target)?.is_file() {
        let mut file = std::fs::OpenOptions::new().write(true).open(&target)?;
        return file.write_all(contents).and_then(|()| file.flush());
    }
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    // An existing file keeps its mode; a new one is readable by all, as `fs::write` makes it.
    let mode = match std::fs::metadata(&target) {
        Ok(m) => m.permissions(),
        Err(_) => {
            use std::os::unix::fs::PermissionsExt;
            std::fs::Permissions::from_mode(0o644)
        }
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".sdkimage-metadata")
        .permissions(mode)
        .tempfile_in(dir)?;
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    tmp.persist(&target).map_err(|e| e.error)?;
    Ok(())
}
