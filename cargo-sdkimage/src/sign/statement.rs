//! in-toto statements (v1) about one image digest, and the SLSA v1 provenance predicate of a
//! build by this tool.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The statement type written.
pub const STATEMENT: &str = "https://in-toto.io/Statement/v1";
/// The predicate type of an SPDX document (cosign's `--type spdxjson`).
pub const SPDX: &str = "https://spdx.dev/Document";
/// The predicate type of SLSA v1 provenance (cosign's `--type slsaprovenance1`).
pub const SLSA_PROVENANCE: &str = "https://slsa.dev/provenance/v1";
/// The build type our provenance names.
pub const BUILD_TYPE: &str = "urn:cargo-sdkimage:build:v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    #[serde(rename = "_type")]
    pub kind: String,
    pub subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    pub predicate: Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    pub name: String,
    pub digest: BTreeMap<String, String>,
}

/// The statement that `predicate` (of `predicate_type`) is about `digest` in `repository`.
pub fn statement(
    repository: &str,
    digest: &str,
    predicate_type: &str,
    predicate: Value,
) -> Vec<u8> {
    let (algorithm, hex) = digest.split_once(':').unwrap_or(("sha256", digest));
    let statement = Statement {
        kind: STATEMENT.to_string(),
        subject: vec![Subject {
            name: repository.to_string(),
            digest: BTreeMap::from([(algorithm.to_string(), hex.to_string())]),
        }],
        predicate_type: predicate_type.to_string(),
        predicate,
    };
    serde_json::to_vec(&statement).expect("a statement serializes")
}

/// Whether a statement names `digest` among its subjects.
pub fn names_digest(statement: &Statement, digest: &str) -> bool {
    let (algorithm, hex) = digest.split_once(':').unwrap_or(("sha256", digest));
    statement
        .subject
        .iter()
        .any(|s| s.digest.get(algorithm).is_some_and(|d| d == hex))
}

/// What the provenance of one image (one platform) says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildFacts {
    /// The image's name in the workspace.
    pub image: String,
    pub platform: Option<String>,
    pub target: Option<String>,
    /// `buildkit` or `classic`.
    pub builder: String,
    /// Build args, those that look secret left out.
    pub build_args: BTreeMap<String, String>,
    /// The digests the build recorded: the Dockerfile and the context.
    pub dockerfile_digest: Option<String>,
    pub context_digest: Option<String>,
    /// External bases, by the id or digest the build recorded.
    pub bases: Vec<String>,
    /// Our images it was built on, by image id.
    pub dependencies: Vec<String>,
    /// The source: `git remote get-url origin` (no credentials) and the commit.
    pub source_repository: Option<String>,
    pub source_revision: Option<String>,
    /// The build's time (`SOURCE_DATE_EPOCH` or the commit's), RFC 3339.
    pub created: Option<String>,
}

/// A `sha256:<hex>` digest as an in-toto digest set.
fn digest_set(digest: &str) -> Value {
    match digest.split_once(':') {
        Some((algorithm, hex)) => json!({ algorithm: hex }),
        None => json!({ "sha256": digest }),
    }
}

/// The SLSA v1 provenance predicate of `facts`.
pub fn provenance(facts: &BuildFacts) -> Value {
    let mut dependencies = Vec::new();
    if let (Some(repo), Some(rev)) = (&facts.source_repository, &facts.source_revision) {
        let commit = rev.trim_end_matches("-dirty");
        dependencies.push(json!({
            "uri": format!("git+{repo}@{rev}"),
            "digest": { "gitCommit": commit },
        }));
    }
    if let Some(d) = &facts.dockerfile_digest {
        dependencies.push(json!({ "name": "Dockerfile", "digest": digest_set(d) }));
    }
    if let Some(d) = &facts.context_digest {
        dependencies.push(json!({ "name": "context", "digest": digest_set(d) }));
    }
    for base in &facts.bases {
        dependencies.push(json!({ "name": "base", "digest": digest_set(base) }));
    }
    for dep in &facts.dependencies {
        dependencies.push(json!({ "name": "dependency", "digest": digest_set(dep) }));
    }
    let mut external = json!({
        "image": facts.image,
        "buildArgs": facts.build_args,
    });
    if let Some(p) = &facts.platform {
        external["platform"] = json!(p);
    }
    if let Some(t) = &facts.target {
        external["target"] = json!(t);
    }
    if facts.source_repository.is_some() || facts.source_revision.is_some() {
        external["source"] = json!({
            "repository": facts.source_repository,
            "revision": facts.source_revision,
        });
    }
    let mut metadata = json!({});
    if let Some(created) = &facts.created {
        metadata["finishedOn"] = json!(created);
    }
    json!({
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": external,
            "internalParameters": { "builder": facts.builder },
            "resolvedDependencies": dependencies,
        },
        "runDetails": {
            "builder": {
                "id": concat!("https://crates.io/crates/cargo-sdkimage@", env!("CARGO_PKG_VERSION")),
            },
            "metadata": metadata,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provenance_statement_names_its_subject_and_inputs() {
        let facts = BuildFacts {
            image: "go_sdk".into(),
            builder: "buildkit".into(),
            build_args: BTreeMap::from([("GO_VERSION".into(), "1.22".into())]),
            dockerfile_digest: Some(format!("sha256:{}", "d".repeat(64))),
            context_digest: Some(format!("sha256:{}", "c".repeat(64))),
            source_repository: Some("https://github.com/apache/beam".into()),
            source_revision: Some("abc123-dirty".into()),
            ..BuildFacts::default()
        };
        let digest = format!("sha256:{}", "a".repeat(64));
        let bytes = statement("r/go_sdk", &digest, SLSA_PROVENANCE, provenance(&facts));
        let back: Statement = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back.kind, STATEMENT);
        assert!(names_digest(&back, &digest));
        assert!(!names_digest(&back, &format!("sha256:{}", "b".repeat(64))));
        let deps = &back.predicate["buildDefinition"]["resolvedDependencies"];
        assert_eq!(deps[0]["digest"]["gitCommit"], "abc123");
        assert_eq!(deps[1]["digest"]["sha256"], "d".repeat(64));
        assert_eq!(
            back.predicate["buildDefinition"]["externalParameters"]["buildArgs"]["GO_VERSION"],
            "1.22"
        );
    }
}
