use std::path::Path;

use super::*;
use crate::manifest::Manifest;
use crate::manifest::tests::{TempTree, temp_tree};
use crate::plan::PlanOptions;
use crate::workspace::{Workspace, WorkspaceConfig};

fn workspace(root: &Path, version: Option<&str>) -> Workspace {
    Workspace {
        root: root.to_path_buf(),
        manifest_path: root.join("Cargo.toml"),
        cargo_manifest: Some(root.join("Cargo.toml")),
        target_dir: root.join("target"),
        version: version.map(str::to_string),
        config: WorkspaceConfig {
            repository_root: Some("apache".into()),
            tags: None,
            licenses_dir: root.join("licenses"),
            builder: None,
            platforms: vec![],
            ..Default::default()
        },
        cargo: Default::default(),
    }
}

fn tree(name: &str) -> TempTree {
    let root = temp_tree(name);
    std::fs::create_dir_all(root.join("sdk")).unwrap();
    std::fs::write(root.join("sdk/Dockerfile"), "FROM scratch\n").unwrap();
    root
}

fn parse(root: &Path, text: &str) -> Result<Manifest> {
    Manifest::parse(&root.join("sdk/sdkimage.toml"), root, text.to_string())
}

fn errors(root: &Path, text: &str) -> Vec<String> {
    match parse(root, text) {
        Err(Error::Invalid(d)) => d
            .into_iter()
            .map(|d| format!("{}:{}: {}", d.line, d.col, d.message))
            .collect(),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("expected errors"),
    }
}

const PYTHON: &str = r#"language = "python"
name = "example_python{variant}_sdk"
[variants]
"3.11" = {}
"3.13" = {}
[contract]
entrypoint = "/opt/{language}/boot"
artifacts = ["/opt/{language}", "/usr/lib/python{variant}/site-packages/example_sdk"]
tools = ["python{variant}", "curl"]
commands = [
  { run = ["python3", "-c", "import example_sdk; print(example_sdk.__version__)"], expect = "{version}" },
  { run = ["true"] },
]
"#;

#[test]
fn contract_expands_with_each_images_values() {
    let root = tree("contract-expand");
    let m = parse(&root, PYTHON).unwrap();
    let ws = workspace(&root, Some("2.61.0"));
    let plan = BuildPlan::new(&ws, vec![m], &PlanOptions::default()).unwrap();
    let all: Vec<ImageIndex> = plan.indexes().collect();
    let contracts = effective_all(&plan, &all, ws.version.as_deref()).unwrap();
    let c311 = contracts[0].as_ref().unwrap();
    assert_eq!(c311.declared_by, all[0]);
    assert_eq!(
        c311.contract.entrypoint.as_deref(),
        Some("/opt/python/boot")
    );
    assert_eq!(
        c311.contract.artifacts,
        [
            "/opt/python",
            "/usr/lib/python3.11/site-packages/example_sdk"
        ]
    );
    assert_eq!(c311.contract.tools, ["python3.11", "curl"]);
    assert_eq!(c311.contract.commands[0].expect.as_deref(), Some("2.61.0"));
    assert_eq!(c311.contract.commands[1].run, ["true"]);
    assert_eq!(c311.contract.commands[1].expect, None);
    let c313 = contracts[1].as_ref().unwrap();
    assert_eq!(c313.contract.tools, ["python3.13", "curl"]);
}

#[test]
fn version_without_a_workspace_version_is_an_error_at_its_place() {
    let root = tree("contract-noversion");
    let m = parse(&root, PYTHON).unwrap();
    let ws = workspace(&root, None);
    let plan = BuildPlan::new(&ws, vec![m], &PlanOptions::default()).unwrap();
    let all: Vec<ImageIndex> = plan.indexes().collect();
    let Err(Error::Invalid(d)) = effective_all(&plan, &all, None) else {
        panic!("expected an error");
    };
    assert_eq!((d[0].line, d[0].col), (11, 93), "{d:?}");
    assert!(d[0].message.contains("{version}"), "{}", d[0].message);
    assert!(d[0].message.contains("[workspace.package] version"));
}

#[test]
fn an_unexpandable_value_is_a_typed_error_carrying_its_span() {
    let root = tree("contract-expand-error");
    let m = parse(&root, PYTHON).unwrap();
    let contract = m.contract.as_ref().unwrap();
    let values = |variant, version| crate::manifest::contract::ContractValues {
        variant,
        version,
        language: "python",
    };
    let e = contract.expand(values(None, Some("1"))).unwrap_err();
    assert_eq!(e.placeholder, "variant");
    assert_eq!(
        &PYTHON[e.span.clone()],
        r#""/usr/lib/python{variant}/site-packages/example_sdk""#
    );
    assert_eq!(
        e.to_string(),
        "contract: `{variant}` cannot be expanded: this image has no variant"
    );
    let e = contract.expand(values(Some("3.11"), None)).unwrap_err();
    assert_eq!(
        (e.placeholder.as_str(), &PYTHON[e.span]),
        ("version", r#""{version}""#)
    );
}

#[test]
fn no_contract_is_none() {
    let root = tree("contract-none");
    let m = parse(&root, "language = \"go\"\nname = \"go_sdk\"\n").unwrap();
    let ws = workspace(&root, Some("1"));
    let plan = BuildPlan::new(&ws, vec![m], &PlanOptions::default()).unwrap();
    assert_eq!(effective(&plan, ImageIndex::new(0), Some("1")), Ok(None));
}

#[test]
fn bad_contract_values_are_named_at_file_line_col() {
    let root = tree("contract-bad");
    let e = errors(
        &root,
        r#"language = "go"
name = "go_sdk"
[contract]
entrypoint = "boot"
artifacts = ["/", "/opt/../..", "/opt/x\u001b"]
tools = ["/usr/bin/curl", "{tag}"]
commands = [{ run = [] }, { run = ["go", "version"], expect = " " }, { run = ["x"], expect = "{variant}" }]
"#,
    );
    assert_eq!(e.len(), 9, "{e:#?}");
    assert!(e[0].starts_with("4:14: contract entrypoint \"boot\" must be an absolute path"));
    assert!(e[1].starts_with("5:14: contract artifact \"/\""));
    assert!(e[2].starts_with("5:19: contract artifact \"/opt/../..\""));
    assert!(
        e[3].starts_with("5:33: contract artifact \"/opt/x\\u{1b}\""),
        "{}",
        e[3]
    );
    let e = &e[1..];
    assert!(e[3].starts_with("6:10: contract tool \"/usr/bin/curl\" must be a program name"));
    assert!(
        e[4].starts_with("6:28: contract tool: unknown placeholder `{tag}`"),
        "{}",
        e[4]
    );
    assert!(e[4].contains("{variant}, {version}, {language}"));
    assert!(e[5].starts_with("7:21: contract command `run` needs a program"));
    assert!(e[6].starts_with("7:63: contract command `expect` is empty"));
    assert!(
        e[7].starts_with(
            "7:94: contract command expect uses `{variant}`, but this manifest has no [variants]"
        ),
        "{}",
        e[7]
    );
}

#[test]
fn unknown_contract_keys_and_types_are_errors() {
    let root = tree("contract-keys");
    let e = errors(
        &root,
        "language = \"go\"\nname = \"go_sdk\"\n[contract]\nentrypoint = 1\n",
    );
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(e[0].starts_with("4:14: `contract`:"), "{}", e[0]);
    let e = errors(
        &root,
        "language = \"go\"\nname = \"go_sdk\"\n[contract]\ntool = [\"curl\"]\n",
    );
    assert!(e[0].contains("unknown field `tool`"), "{}", e[0]);
    assert!(e[0].contains("tools"), "{}", e[0]);
}
