//! The JSON contract of `cargo-sdkimage`, as Rust types: what other tools read of its output,
//! without depending on the tool itself.
//!
//! - [`Event`]: one line of `--message-format json` (`build`, `push`, `verify`, `promote`,
//!   `check`), one variant per kind;
//! - [`ImageMetadata`]: one image of the `--metadata-file` (an object keyed by image name), and
//!   [`read_metadata`], which reads our file and the one `docker buildx bake --metadata-file`
//!   writes;
//! - [`ListEntry`] (`list --message-format json`), [`BuildPrint`] (`build --print`),
//!   [`DockerfileEntry`] (`dockerfile --message-format json`), [`ImageDiff`] (`diff
//!   --message-format json`);
//! - [`schema`]: the JSON Schema of each, derived from these types and committed as
//!   `schemas/*.schema.json` at the repository root.
//!
//! Every type serializes to exactly what the tool writes and deserializes from it; fields may
//! be added (optional), never renamed or removed without a new [`SCHEMA`]. The book's "JSON
//! output" page (`docs/src/reference/json-output.md`) documents each field.
//!
//! Reading a metadata file:
//!
//! ```
//! let text = r#"{"go_sdk": {"refs": ["localhost:5000/go_sdk:1"], "id": "sha256:1a",
//!     "digest": "sha256:2b", "pushed": true, "licenses": 12, "duration_ms": 4400,
//!     "outcome": "built", "image.name": "localhost:5000/go_sdk:1",
//!     "containerimage.digest": "sha256:2b", "containerimage.config.digest": "sha256:1a"}}"#;
//! let images = sdkimage_metadata::read_metadata(text)?;
//! let go = &images["go_sdk"];
//! assert_eq!(go.digest.as_deref(), Some("sha256:2b"));
//! assert_eq!(go.outcome, Some(sdkimage_metadata::Outcome::Built));
//! # Ok::<(), sdkimage_metadata::MetadataReadError>(())
//! ```
//!
//! Reading events:
//!
//! ```
//! use sdkimage_metadata::{Event, EventKind};
//!
//! let stdout = r#"{"schema":1,"event":"up-to-date","image":"go_sdk","language":"go","variant":null,"refs":["localhost:5000/go_sdk:1"],"id":"sha256:1a","duration_ms":3}
//! {"schema":1,"event":"summary","image":null,"language":null,"variant":null,"refs":[],"duration_ms":9,"counts":{"built":0,"up_to_date":1,"retagged":0,"failed":0,"skipped":0,"pushed":0,"verified":0,"promoted":0,"checked":0}}"#;
//! let events: Vec<Event> = stdout
//!     .lines()
//!     .map(serde_json::from_str)
//!     .collect::<Result<_, _>>()?;
//! match &events[0] {
//!     Event::UpToDate(e) => assert_eq!((e.subject.image.as_str(), e.id.as_str()), ("go_sdk", "sha256:1a")),
//!     other => panic!("{other:?}"),
//! }
//! assert_eq!(events[1].kind(), EventKind::Summary);
//! assert_eq!(events[1].counts().map(|c| c.up_to_date), Some(1));
//! # Ok::<(), serde_json::Error>(())
//! ```

pub mod diff;
mod dockerfile;
pub mod event;
mod list;
mod metadata;
mod print;
pub mod schema;

pub use diff::ImageDiff;
pub use dockerfile::DockerfileEntry;
pub use event::{Counts, Event, EventKind, NamedSubject, Subject};
pub use list::ListEntry;
pub use metadata::{
    BaseMetadata, ImageMetadata, MetadataEntry, MetadataReadError, Outcome, PlatformMetadata,
    SignatureMetadata, read_metadata,
};
pub use print::{BuildPrint, PlanStatus, PlatformCheck, PrintedImage};

/// Version of the JSON contract (the `schema` field of events, `build --print` and `diff`).
pub const SCHEMA: u32 = 1;
