//! The JSON Schemas of the output contract, derived from the types of `output.rs` with
//! schemars (draft 2020-12, as the types serialize). `docs/schema/*.schema.json` are these
//! exactly; a test fails when they differ (`SDKIMAGE_UPDATE_SCHEMAS=1 cargo test --lib
//! output::schema` writes them again).
//!
//! [`Event`] stays one struct of optional fields (the documented contract, JSON lines that
//! every reader already parses); what each kind always carries is in the event schema as an
//! `if`/`then` per `event` value, from [`EventKind::carries`].

use std::collections::BTreeMap;

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use super::{BuildPrint, DockerfileEntry, Event, EventKind, ImageMetadata, ListEntry, SCHEMA};

/// Where the schemas are published, relative to the repository root.
pub const SCHEMA_DIR: &str = "docs/schema";

/// Each published schema: its file name under [`SCHEMA_DIR`] and the schema.
pub fn schemas() -> Vec<(&'static str, Value)> {
    vec![
        ("event.schema.json", event()),
        ("metadata.schema.json", metadata()),
        ("list.schema.json", list()),
        ("print.schema.json", print()),
        ("dockerfile.schema.json", dockerfile()),
        ("diff.schema.json", diff()),
    ]
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

    /// The fields an event of this kind always carries with a value (not `null`), besides
    /// `schema`, `event` and `refs`, which every event has.
    pub fn carries(self) -> &'static [&'static str] {
        match self {
            EventKind::BuildStarted => &["image", "language"],
            EventKind::BuildFinished | EventKind::UpToDate | EventKind::Retagged => {
                &["image", "language", "id", "duration_ms"]
            }
            EventKind::PushFinished | EventKind::Promoted => &["image", "language", "digest"],
            // `verify --from-metadata` knows an image by its name only.
            EventKind::Verified => &["image"],
            EventKind::Failed => &["image", "message"],
            EventKind::Error => &["message"],
            EventKind::Summary => &["counts", "duration_ms"],
            EventKind::CheckPassed | EventKind::CheckFailed => &[
                "image",
                "language",
                "id",
                "message",
                "requirement",
                "output",
            ],
            EventKind::Transferred => &["image", "id", "bytes", "duration_ms", "message"],
            EventKind::Requeued => &["image", "engine", "message"],
        }
    }

    /// Whether events of this kind are about no image (`image`, `language` and `variant` null).
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

/// The root schema of `T` as it serializes, with a title and a description.
fn root<T: JsonSchema>(id: &str, title: &str, description: &str) -> Value {
    let schema = SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<T>();
    let mut value = schema.to_value();
    let object = value.as_object_mut().expect("a root schema is an object");
    let mut head = serde_json::Map::new();
    for key in ["$schema"] {
        if let Some(v) = object.remove(key) {
            head.insert(key.to_string(), v);
        }
    }
    head.insert("$id".into(), json!(id));
    head.insert("title".into(), json!(title));
    head.insert("description".into(), json!(description));
    object.remove("title");
    object.remove("description");
    head.extend(std::mem::take(object));
    Value::Object(head)
}

/// `schema` is the contract's version: the one value [`SCHEMA`].
fn pin_schema_version(value: &mut Value) {
    if let Some(field) = value.pointer_mut("/properties/schema") {
        field["const"] = json!(SCHEMA);
    }
}

/// One line of `--message-format json`, with what each kind carries as `if`/`then`.
fn event() -> Value {
    let mut value = root::<Event>(
        "event.schema.json",
        "cargo-sdkimage event",
        "One line of `--message-format json` output (build, push, verify, promote, check). \
         Fields may be added (optional), never renamed or removed without a new `schema`.",
    );
    pin_schema_version(&mut value);
    let rules: Vec<Value> = EventKind::ALL
        .iter()
        .map(|&kind| {
            let mut properties = serde_json::Map::new();
            for field in kind.carries() {
                properties.insert(field.to_string(), json!({"not": {"type": "null"}}));
            }
            if kind.is_general() {
                for field in ["image", "language", "variant"] {
                    properties.insert(field.to_string(), json!({"type": "null"}));
                }
            }
            json!({
                "if": {"properties": {"event": {"const": kind.as_str()}}},
                "then": {"required": kind.carries(), "properties": properties},
            })
        })
        .collect();
    value["allOf"] = Value::Array(rules);
    value
}

/// `--metadata-file`: one object keyed by image name.
fn metadata() -> Value {
    root::<BTreeMap<String, ImageMetadata>>(
        "metadata.schema.json",
        "cargo-sdkimage metadata file",
        "The file `--metadata-file` writes: one object per image, keyed by image name. The \
         dotted keys are those `docker buildx bake --metadata-file` writes.",
    )
}

fn list() -> Value {
    root::<Vec<ListEntry>>(
        "list.schema.json",
        "cargo-sdkimage list",
        "`list --message-format json`: the selected images, in build order.",
    )
}

fn print() -> Value {
    let mut value = root::<BuildPrint>(
        "print.schema.json",
        "cargo-sdkimage build plan",
        "`build --print`: the resolved plan and what a build would do with each image.",
    );
    pin_schema_version(&mut value);
    value
}

fn dockerfile() -> Value {
    root::<Vec<DockerfileEntry>>(
        "dockerfile.schema.json",
        "cargo-sdkimage dockerfile",
        "`dockerfile --message-format json`: each selected image's effective Dockerfile and \
         build args.",
    )
}

fn diff() -> Value {
    let mut value = root::<super::diff::ImageDiff>(
        "diff.schema.json",
        "cargo-sdkimage diff",
        "`diff --message-format json`: two images, whether their content is the same, and the \
         config fields, layers and files that differ.",
    );
    pin_schema_version(&mut value);
    value
}

/// A schema as it is committed: pretty JSON with a final newline.
pub fn render(schema: &Value) -> String {
    let mut text = serde_json::to_string_pretty(schema).expect("a schema serializes");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::output::Counts;

    fn dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(SCHEMA_DIR)
    }

    /// The committed files are the schemas the types give; with `SDKIMAGE_UPDATE_SCHEMAS` set,
    /// they are written again instead.
    #[test]
    fn the_committed_schemas_are_the_derived_ones() {
        let update = std::env::var_os("SDKIMAGE_UPDATE_SCHEMAS").is_some();
        let mut stale = Vec::new();
        for (file, schema) in schemas() {
            let path = dir().join(file);
            let text = render(&schema);
            if update {
                std::fs::create_dir_all(dir()).unwrap();
                std::fs::write(&path, &text).unwrap();
            } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                stale.push(format!("{SCHEMA_DIR}/{file}"));
            }
        }
        assert!(
            stale.is_empty(),
            "{} differ from the types in output.rs: run `SDKIMAGE_UPDATE_SCHEMAS=1 cargo test --lib output::schema` and commit them",
            stale.join(", ")
        );
        let mut present: Vec<String> = std::fs::read_dir(dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".schema.json"))
            .collect();
        present.sort();
        let mut derived: Vec<String> = schemas().iter().map(|(f, _)| f.to_string()).collect();
        derived.sort();
        assert_eq!(present, derived, "a schema file no type derives");
    }

    #[test]
    fn every_kind_is_named_as_serde_names_it() {
        for kind in EventKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
        }
    }

    fn validator() -> jsonschema::Validator {
        jsonschema::validator_for(&event()).unwrap()
    }

    #[test]
    fn events_as_the_library_makes_them_are_valid() {
        let v = validator();
        let finished = Event::for_image(
            EventKind::BuildFinished,
            "go_sdk",
            "go",
            None,
            vec!["r/go_sdk:1".into()],
        )
        .id(Some("sha256:1".into()))
        .duration(std::time::Duration::from_millis(5));
        let mut summary =
            Event::general(EventKind::Summary, None).duration(std::time::Duration::from_millis(9));
        summary.counts = Some(Counts::default());
        let error = Event::general(EventKind::Error, Some("bad".into()));
        for event in [finished, summary, error] {
            let value = serde_json::to_value(&event).unwrap();
            let errors: Vec<String> = v.iter_errors(&value).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{value}: {errors:?}");
        }
    }

    #[test]
    fn an_event_without_what_its_kind_carries_is_invalid() {
        let v = validator();
        // `failed` without its message; `build-finished` without its id.
        let failed = Event::for_image(EventKind::Failed, "go_sdk", "go", None, vec![]);
        let finished = Event::for_image(EventKind::BuildFinished, "go_sdk", "go", None, vec![])
            .duration(std::time::Duration::from_millis(5));
        // `summary` about an image.
        let mut summary = Event::for_image(EventKind::Summary, "go_sdk", "go", None, vec![])
            .duration(std::time::Duration::from_millis(5));
        summary.counts = Some(Counts::default());
        for event in [failed, finished, summary] {
            let value = serde_json::to_value(&event).unwrap();
            assert!(!v.is_valid(&value), "{value} passed");
        }
        // Another schema version.
        let mut value =
            serde_json::to_value(Event::general(EventKind::Error, Some("x".into()))).unwrap();
        value["schema"] = json!(2);
        assert!(!v.is_valid(&value));
    }
}
