//! One line of `--message-format json` (`build`, `push`, `verify`, `promote`, `check`): an
//! [`Event`], one variant per kind, each with the fields that kind carries.
//!
//! On the wire every event is one flat JSON object: `schema`, `event` (the kind), `image`,
//! `language`, `variant` and `refs` (null and empty for `error` and `summary`), then the
//! kind's own fields. Fields may be added (optional), never renamed or removed without a new
//! [`SCHEMA`](crate::SCHEMA).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Value, json};

use crate::SCHEMA;

/// The kind of an event: the `event` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// An image's build starts.
    BuildStarted,
    /// An image was built (and tagged).
    BuildFinished,
    /// An image's recorded build stands: nothing was sent to the engine.
    UpToDate,
    /// Up to date, and some ref was pointed at it (a new tag).
    Retagged,
    /// An image was pushed; `digest` is its registry manifest digest.
    PushFinished,
    /// Every ref of an image has the expected digest in the registry.
    Verified,
    /// An image's manifest was copied to the final tags inside the registry.
    Promoted,
    /// One image failed (`message` says why); the run goes on or stops.
    Failed,
    /// The run failed (`message`); comes just before `summary`, or alone for invalid input.
    Error,
    /// The totals of a run (`counts`): always the last line once a run started.
    Summary,
    /// One requirement of an image's contract met (`check`, `build --check`).
    CheckPassed,
    /// One requirement of an image's contract not met.
    CheckFailed,
    /// An image moved to another engine of the pool (`engine`: where to; `bytes`,
    /// `duration_ms`; `message`: from where).
    Transferred,
    /// An image whose engine was lost while it ran, or which only that engine held, queued
    /// again for the others (`engine`: the lost one).
    Requeued,
}

impl EventKind {
    /// Every kind, in the order the schema lists them.
    pub const ALL: [EventKind; 14] = [
        EventKind::BuildStarted,
        EventKind::BuildFinished,
        EventKind::UpToDate,
        EventKind::Retagged,
        EventKind::PushFinished,
        EventKind::Verified,
        EventKind::Promoted,
        EventKind::Failed,
        EventKind::Error,
        EventKind::Summary,
        EventKind::CheckPassed,
        EventKind::CheckFailed,
        EventKind::Transferred,
        EventKind::Requeued,
    ];

    /// Whether events of this kind are about no image (`image`, `language` and `variant`
    /// null, `refs` empty).
    pub fn is_general(self) -> bool {
        matches!(self, EventKind::Error | EventKind::Summary)
    }

    /// The name in JSON (`build-finished`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::BuildStarted => "build-started",
            EventKind::BuildFinished => "build-finished",
            EventKind::UpToDate => "up-to-date",
            EventKind::Retagged => "retagged",
            EventKind::PushFinished => "push-finished",
            EventKind::Verified => "verified",
            EventKind::Promoted => "promoted",
            EventKind::Failed => "failed",
            EventKind::Error => "error",
            EventKind::Summary => "summary",
            EventKind::CheckPassed => "check-passed",
            EventKind::CheckFailed => "check-failed",
            EventKind::Transferred => "transferred",
            EventKind::Requeued => "requeued",
        }
    }
}

/// One line of `--message-format json` output.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    BuildStarted(BuildStarted),
    BuildFinished(Finished),
    UpToDate(Finished),
    Retagged(Finished),
    PushFinished(PushFinished),
    Verified(Verified),
    Promoted(Promoted),
    Failed(Failed),
    Error(RunError),
    Summary(Summary),
    CheckPassed(Check),
    CheckFailed(Check),
    Transferred(Transferred),
    Requeued(Requeued),
}

/// The image an event is about, as `list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Subject {
    /// The expanded image name, exactly as `list` shows it.
    pub image: String,
    /// As in `list`.
    pub language: String,
    /// As in `list` (null without variants).
    pub variant: Option<String>,
    /// The image's full references.
    pub refs: Vec<String>,
}

/// The image of a `verified` or `failed` event: a [`Subject`] whose language and variant are
/// null where only the image's name is known (`verify --from-metadata`, `verify --key`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NamedSubject {
    /// The expanded image name, exactly as `list` shows it.
    pub image: String,
    /// As in `list`; null where only the image's name is known.
    pub language: Option<String>,
    /// As in `list` (null without variants).
    pub variant: Option<String>,
    /// The image's full references.
    pub refs: Vec<String>,
}

impl NamedSubject {
    /// An image known by its name and refs only.
    pub fn by_name(image: impl Into<String>, refs: Vec<String>) -> NamedSubject {
        NamedSubject {
            image: image.into(),
            language: None,
            variant: None,
            refs,
        }
    }
}

impl From<Subject> for NamedSubject {
    fn from(s: Subject) -> NamedSubject {
        NamedSubject {
            image: s.image,
            language: Some(s.language),
            variant: s.variant,
            refs: s.refs,
        }
    }
}

/// `build-started`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BuildStarted {
    #[serde(flatten)]
    pub subject: Subject,
    /// With an engine pool (`--engine`, `engines`): the engine it builds on, as named there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

/// `build-finished`, `up-to-date` and `retagged`: an image ready under its refs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Finished {
    #[serde(flatten)]
    pub subject: Subject,
    /// The local image id (`sha256:...`) its refs point at.
    pub id: String,
    /// The time the image took (its build, or its check).
    pub duration_ms: u64,
    /// The image of each platform, `os/arch[/variant]` -> id, for an image that names its
    /// platforms; `id` is the one its refs point at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platforms: Option<BTreeMap<String, String>>,
    /// With an engine pool: the engine it happened on, as named there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

/// `push-finished`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PushFinished {
    #[serde(flatten)]
    pub subject: Subject,
    /// The local image id, when this run built or found it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The registry manifest digest (of the image index, for several platforms).
    pub digest: String,
}

/// `verified`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Verified {
    #[serde(flatten)]
    pub subject: NamedSubject,
    /// The registry manifest digest every ref has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// `promoted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Promoted {
    /// `refs` are the promoted references (the release tags).
    #[serde(flatten)]
    pub subject: Subject,
    /// The registry manifest digest copied to them.
    pub digest: String,
}

/// `failed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Failed {
    #[serde(flatten)]
    pub subject: NamedSubject,
    /// The image that failed its contract check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The digest a registry holds, when a verification found one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The time the image ran before it failed (a build).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Why: the failing step and the engine's message, or what was found.
    pub message: String,
}

impl Failed {
    /// An image failed: why, and nothing else known.
    pub fn new(subject: impl Into<NamedSubject>, message: impl Into<String>) -> Failed {
        Failed {
            subject: subject.into(),
            id: None,
            digest: None,
            duration_ms: None,
            message: message.into(),
        }
    }
}

/// `error`: the run failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RunError {
    /// The error, as printed on stderr.
    pub message: String,
}

/// `summary`: the last line of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    /// The time the run took.
    pub duration_ms: u64,
    pub counts: Counts,
}

/// `check-passed` and `check-failed`: one requirement of an image's contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Check {
    #[serde(flatten)]
    pub subject: Subject,
    /// The image checked.
    pub id: String,
    /// What was found, or why it fails.
    pub message: String,
    /// The requirement (`tool curl`, `entrypoint /boot`, `command python3 --version`).
    pub requirement: String,
    /// What the program run for it printed.
    pub output: String,
}

/// `transferred`: an image moved between the engines of a pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Transferred {
    #[serde(flatten)]
    pub subject: Subject,
    /// The image moved.
    pub id: String,
    /// The time the move took.
    pub duration_ms: u64,
    /// The engine it came from.
    #[serde(rename = "message")]
    pub from: String,
    /// The engine it went to, as named by `--engine` or `engines` (absent for an unnamed one).
    #[serde(rename = "engine", default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The bytes moved.
    pub bytes: u64,
}

/// `requeued`: an image queued again after its engine was lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Requeued {
    #[serde(flatten)]
    pub subject: Subject,
    /// What happened (which engine, which requeue).
    pub message: String,
    /// The engine lost.
    #[serde(rename = "engine")]
    pub lost: String,
}

/// Totals of a run, on the `summary` event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Counts {
    pub built: usize,
    pub up_to_date: usize,
    pub retagged: usize,
    pub failed: usize,
    /// Not attempted: a dependency failed, or the run stopped at the first failure.
    pub skipped: usize,
    pub pushed: usize,
    pub verified: usize,
    pub promoted: usize,
    /// Images whose every contract requirement was met (`check`, `build --check`).
    #[serde(default)]
    pub checked: usize,
}

/// A duration as the `duration_ms` of an event.
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Event {
    /// Its kind (the `event` field).
    pub fn kind(&self) -> EventKind {
        match self {
            Event::BuildStarted(_) => EventKind::BuildStarted,
            Event::BuildFinished(_) => EventKind::BuildFinished,
            Event::UpToDate(_) => EventKind::UpToDate,
            Event::Retagged(_) => EventKind::Retagged,
            Event::PushFinished(_) => EventKind::PushFinished,
            Event::Verified(_) => EventKind::Verified,
            Event::Promoted(_) => EventKind::Promoted,
            Event::Failed(_) => EventKind::Failed,
            Event::Error(_) => EventKind::Error,
            Event::Summary(_) => EventKind::Summary,
            Event::CheckPassed(_) => EventKind::CheckPassed,
            Event::CheckFailed(_) => EventKind::CheckFailed,
            Event::Transferred(_) => EventKind::Transferred,
            Event::Requeued(_) => EventKind::Requeued,
        }
    }

    /// The image it is about, as a [`NamedSubject`] (`None` for `error` and `summary`).
    fn subject(&self) -> Option<SubjectRef<'_>> {
        Some(match self {
            Event::BuildStarted(e) => SubjectRef::Known(&e.subject),
            Event::BuildFinished(e) | Event::UpToDate(e) | Event::Retagged(e) => {
                SubjectRef::Known(&e.subject)
            }
            Event::PushFinished(e) => SubjectRef::Known(&e.subject),
            Event::Promoted(e) => SubjectRef::Known(&e.subject),
            Event::CheckPassed(e) | Event::CheckFailed(e) => SubjectRef::Known(&e.subject),
            Event::Transferred(e) => SubjectRef::Known(&e.subject),
            Event::Requeued(e) => SubjectRef::Known(&e.subject),
            Event::Verified(e) => SubjectRef::Named(&e.subject),
            Event::Failed(e) => SubjectRef::Named(&e.subject),
            Event::Error(_) | Event::Summary(_) => return None,
        })
    }

    /// The expanded image name (`None` for `error` and `summary`).
    pub fn image(&self) -> Option<&str> {
        self.subject().map(|s| match s {
            SubjectRef::Known(s) => s.image.as_str(),
            SubjectRef::Named(s) => s.image.as_str(),
        })
    }

    /// The image's language, where known.
    pub fn language(&self) -> Option<&str> {
        self.subject().and_then(|s| match s {
            SubjectRef::Known(s) => Some(s.language.as_str()),
            SubjectRef::Named(s) => s.language.as_deref(),
        })
    }

    /// The image's variant, where it has one.
    pub fn variant(&self) -> Option<&str> {
        self.subject().and_then(|s| match s {
            SubjectRef::Known(s) => s.variant.as_deref(),
            SubjectRef::Named(s) => s.variant.as_deref(),
        })
    }

    /// The image's references (none for `error` and `summary`).
    pub fn refs(&self) -> &[String] {
        match self.subject() {
            Some(SubjectRef::Known(s)) => &s.refs,
            Some(SubjectRef::Named(s)) => &s.refs,
            None => &[],
        }
    }

    /// The local image id, on the kinds that carry one.
    pub fn id(&self) -> Option<&str> {
        match self {
            Event::BuildFinished(e) | Event::UpToDate(e) | Event::Retagged(e) => Some(&e.id),
            Event::CheckPassed(e) | Event::CheckFailed(e) => Some(&e.id),
            Event::Transferred(e) => Some(&e.id),
            Event::PushFinished(e) => e.id.as_deref(),
            Event::Failed(e) => e.id.as_deref(),
            _ => None,
        }
    }

    /// The registry manifest digest, on the kinds that carry one.
    pub fn digest(&self) -> Option<&str> {
        match self {
            Event::PushFinished(e) => Some(&e.digest),
            Event::Promoted(e) => Some(&e.digest),
            Event::Verified(e) => e.digest.as_deref(),
            Event::Failed(e) => e.digest.as_deref(),
            _ => None,
        }
    }

    /// The `message` field, on the kinds that carry one.
    pub fn message(&self) -> Option<&str> {
        match self {
            Event::Failed(e) => Some(&e.message),
            Event::Error(e) => Some(&e.message),
            Event::CheckPassed(e) | Event::CheckFailed(e) => Some(&e.message),
            Event::Transferred(e) => Some(&e.from),
            Event::Requeued(e) => Some(&e.message),
            _ => None,
        }
    }

    /// The `duration_ms` field, on the kinds that carry one.
    pub fn duration_ms(&self) -> Option<u64> {
        match self {
            Event::BuildFinished(e) | Event::UpToDate(e) | Event::Retagged(e) => {
                Some(e.duration_ms)
            }
            Event::Summary(e) => Some(e.duration_ms),
            Event::Transferred(e) => Some(e.duration_ms),
            Event::Failed(e) => e.duration_ms,
            _ => None,
        }
    }

    /// The `engine` field: with an engine pool, where a build event happened, where a
    /// transfer went, which engine a requeue lost.
    pub fn engine(&self) -> Option<&str> {
        match self {
            Event::BuildStarted(e) => e.engine.as_deref(),
            Event::BuildFinished(e) | Event::UpToDate(e) | Event::Retagged(e) => {
                e.engine.as_deref()
            }
            Event::Transferred(e) => e.to.as_deref(),
            Event::Requeued(e) => Some(&e.lost),
            _ => None,
        }
    }

    /// The totals, on `summary`.
    pub fn counts(&self) -> Option<&Counts> {
        match self {
            Event::Summary(e) => Some(&e.counts),
            _ => None,
        }
    }
}

enum SubjectRef<'a> {
    Known(&'a Subject),
    Named(&'a NamedSubject),
}

/// An event as it is written: `schema` and `event` first, the null image fields of a general
/// event, then the kind's own fields.
#[derive(Serialize)]
struct Line<'a, T> {
    schema: u32,
    event: EventKind,
    #[serde(flatten)]
    general: Option<NoImage>,
    #[serde(flatten)]
    body: &'a T,
}

/// `"image": null, "language": null, "variant": null, "refs": []`.
#[derive(Serialize)]
struct NoImage {
    image: (),
    language: (),
    variant: (),
    refs: [(); 0],
}

fn line<S: Serializer, T: Serialize>(s: S, event: EventKind, body: &T) -> Result<S::Ok, S::Error> {
    let general = event.is_general().then_some(NoImage {
        image: (),
        language: (),
        variant: (),
        refs: [],
    });
    Line {
        schema: SCHEMA,
        event,
        general,
        body,
    }
    .serialize(s)
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let kind = self.kind();
        match self {
            Event::BuildStarted(e) => line(s, kind, e),
            Event::BuildFinished(e) | Event::UpToDate(e) | Event::Retagged(e) => line(s, kind, e),
            Event::PushFinished(e) => line(s, kind, e),
            Event::Verified(e) => line(s, kind, e),
            Event::Promoted(e) => line(s, kind, e),
            Event::Failed(e) => line(s, kind, e),
            Event::Error(e) => line(s, kind, e),
            Event::Summary(e) => line(s, kind, e),
            Event::CheckPassed(e) | Event::CheckFailed(e) => line(s, kind, e),
            Event::Transferred(e) => line(s, kind, e),
            Event::Requeued(e) => line(s, kind, e),
        }
    }
}

/// One branch of the event schema: an object whose `event` is `kind`, with `T`'s fields.
fn branch<T: JsonSchema>(g: &mut SchemaGenerator, kind: EventKind, kinds: &Value) -> Value {
    let mut properties = json!({
        "schema": {
            "description": "The contract's version; a change that breaks readers bumps it.",
            "type": "integer",
            "const": SCHEMA,
        },
        "event": {"const": kind.as_str()},
    });
    let mut required = vec!["schema", "event"];
    if kind.is_general() {
        for field in ["image", "language", "variant"] {
            properties[field] = json!({"type": "null"});
        }
        properties["refs"] = json!({"type": "array", "maxItems": 0});
        required.extend(["image", "language", "variant", "refs"]);
    }
    let description = kinds["oneOf"]
        .as_array()
        .and_then(|all| all.iter().find(|k| k["const"] == kind.as_str()))
        .and_then(|k| k.get("description").cloned())
        .unwrap_or(Value::Null);
    let body = g.subschema_for::<T>().to_value();
    json!({
        "description": description,
        "type": "object",
        "properties": properties,
        "required": required,
        "allOf": [body],
    })
}

impl JsonSchema for Event {
    fn schema_name() -> Cow<'static, str> {
        "Event".into()
    }

    /// One branch per kind (`oneOf`), each an object whose `event` is that kind, with what
    /// that kind carries.
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        let kinds = EventKind::json_schema(g).to_value();
        let branches: Vec<Value> = EventKind::ALL
            .iter()
            .map(|&kind| match kind {
                EventKind::BuildStarted => branch::<BuildStarted>(g, kind, &kinds),
                EventKind::BuildFinished | EventKind::UpToDate | EventKind::Retagged => {
                    branch::<Finished>(g, kind, &kinds)
                }
                EventKind::PushFinished => branch::<PushFinished>(g, kind, &kinds),
                EventKind::Verified => branch::<Verified>(g, kind, &kinds),
                EventKind::Promoted => branch::<Promoted>(g, kind, &kinds),
                EventKind::Failed => branch::<Failed>(g, kind, &kinds),
                EventKind::Error => branch::<RunError>(g, kind, &kinds),
                EventKind::Summary => branch::<Summary>(g, kind, &kinds),
                EventKind::CheckPassed | EventKind::CheckFailed => branch::<Check>(g, kind, &kinds),
                EventKind::Transferred => branch::<Transferred>(g, kind, &kinds),
                EventKind::Requeued => branch::<Requeued>(g, kind, &kinds),
            })
            .collect();
        Schema::try_from(json!({"type": "object", "oneOf": branches}))
            .expect("an object is a schema")
    }
}

#[cfg(test)]
#[path = "event_tests.rs"]
mod tests;
