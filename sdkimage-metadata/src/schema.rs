//! The JSON Schemas of the contract (draft 2020-12, as the types serialize), derived from the
//! types of this crate with schemars. `schemas/*.schema.json` at the repository root are these
//! exactly; a test fails when they differ (`SDKIMAGE_UPDATE_SCHEMAS=1 cargo test -p
//! sdkimage-metadata schema` writes them again).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use crate::{BuildPrint, DockerfileEntry, Event, ImageDiff, ImageMetadata, ListEntry, SCHEMA};

/// Where the schemas are committed, relative to the repository root.
pub const SCHEMA_DIR: &str = "schemas";

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

/// One line of `--message-format json`: one branch per kind.
pub fn event() -> Value {
    root::<Event>(
        "event.schema.json",
        "cargo-sdkimage event",
        "One line of `--message-format json` output (build, push, verify, promote, check): one \
         object, whose `event` says which of the branches below it is. Fields may be added \
         (optional), never renamed or removed without a new `schema`.",
    )
}

/// `--metadata-file`: one object keyed by image name.
pub fn metadata() -> Value {
    root::<BTreeMap<String, ImageMetadata>>(
        "metadata.schema.json",
        "cargo-sdkimage metadata file",
        "The file `--metadata-file` writes: one object per image, keyed by image name. The \
         dotted keys are those `docker buildx bake --metadata-file` writes.",
    )
}

/// `list --message-format json`.
pub fn list() -> Value {
    root::<Vec<ListEntry>>(
        "list.schema.json",
        "cargo-sdkimage list",
        "`list --message-format json`: the selected images, in build order.",
    )
}

/// `build --print`.
pub fn print() -> Value {
    let mut value = root::<BuildPrint>(
        "print.schema.json",
        "cargo-sdkimage build plan",
        "`build --print`: the resolved plan and what a build would do with each image.",
    );
    pin_schema_version(&mut value);
    value
}

/// `dockerfile --message-format json`.
pub fn dockerfile() -> Value {
    root::<Vec<DockerfileEntry>>(
        "dockerfile.schema.json",
        "cargo-sdkimage dockerfile",
        "`dockerfile --message-format json`: each selected image's effective Dockerfile and \
         build args.",
    )
}

/// `diff --message-format json`.
pub fn diff() -> Value {
    let mut value = root::<ImageDiff>(
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
            "{} differ from the types of sdkimage-metadata: run `SDKIMAGE_UPDATE_SCHEMAS=1 cargo test -p sdkimage-metadata schema` and commit them",
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
    fn every_schema_compiles() {
        for (file, schema) in schemas() {
            if let Err(e) = jsonschema::validator_for(&schema) {
                panic!("{file}: {e}");
            }
        }
    }
}
