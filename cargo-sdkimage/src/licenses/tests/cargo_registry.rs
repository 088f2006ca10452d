//! `gather_cargo` on a fixture workspace that depends on real crates.io crates.

use std::path::Path;

use super::{copy_tree, run};
use crate::error::Error;
use crate::licenses::{Ecosystem, check, gather_cargo, write_dir};
use crate::workspace::Workspace;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/src/licenses/testdata/cargo-fixture"
);

/// The fixture copied to a temporary folder (cargo writes a lock file there).
fn fixture() -> (tempfile::TempDir, Workspace) {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(Path::new(FIXTURE), dir.path());
    let ws = Workspace::load(Some(&dir.path().join("ws/Cargo.toml")), Default::default())
        .expect("fixture workspace");
    (dir, ws)
}

/// The unpacked source folder of a crate cargo resolved, from `cargo metadata` itself.
fn crate_dir(ws: &Workspace, name: &str) -> std::path::PathBuf {
    let json = run(std::process::Command::new(
        std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()),
    )
    .args(["metadata", "--format-version", "1", "--manifest-path"])
    .arg(&ws.manifest_path));
    let metadata: cargo_metadata::Metadata = serde_json::from_str(&json).expect("metadata json");
    let package = metadata
        .packages
        .iter()
        .find(|p| p.name.as_str() == name)
        .expect("package in the resolve");
    package
        .manifest_path
        .parent()
        .expect("crate folder")
        .as_std_path()
        .to_path_buf()
}

#[test]
fn gathers_normal_third_party_dependencies_with_every_text() {
    let (_dir, ws) = fixture();
    let gathered = gather_cargo(&ws, &ws.root.join("app/Cargo.toml")).expect("gather");
    let names: Vec<(&str, &str)> = gathered
        .entries
        .iter()
        .map(|e| (e.name.as_str(), e.version.as_str()))
        .collect();
    // Not: app and helper (members), cfg-if (build), ryu (dev), fnv (windows only).
    assert_eq!(
        names,
        vec![
            ("bare", "2.0.0"),
            ("equivalent", "1.0.3"),
            ("itoa", "1.0.18"),
            ("scopeguard", "1.2.0"),
            ("vendored", "0.3.1")
        ]
    );
    assert!(
        gathered
            .entries
            .iter()
            .all(|e| e.ecosystem == Ecosystem::Cargo)
    );

    let itoa = gathered
        .entries
        .iter()
        .find(|e| e.name == "itoa")
        .expect("itoa");
    assert_eq!(itoa.license.as_deref(), Some("MIT OR Apache-2.0"));
    let files: Vec<(&str, &str)> = itoa
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.source.as_str()))
        .collect();
    assert_eq!(
        files,
        vec![
            ("LICENSE-APACHE", "crate:itoa-1.0.18/LICENSE-APACHE"),
            ("LICENSE-MIT", "crate:itoa-1.0.18/LICENSE-MIT")
        ]
    );
    let src = crate_dir(&ws, "itoa");
    for file in &itoa.files {
        assert_eq!(
            file.contents,
            std::fs::read(src.join(&file.path)).expect("crate text"),
            "{}",
            file.path
        );
    }

    let vendored = gathered
        .entries
        .iter()
        .find(|e| e.name == "vendored")
        .expect("vendored");
    assert_eq!(vendored.license, None);
    assert_eq!(vendored.files.len(), 1);
    assert_eq!(vendored.files[0].path, "VENDORED-TERMS.txt");
    assert_eq!(
        vendored.files[0].source,
        "crate:vendored-0.3.1/terms/VENDORED-TERMS.txt"
    );

    let bare = gathered
        .entries
        .iter()
        .find(|e| e.name == "bare")
        .expect("bare");
    assert_eq!(bare.license.as_deref(), Some("MIT"));
    assert!(bare.files.is_empty());
    // A path dependency has no known download location nor checksum (the SBOM says
    // NOASSERTION); a crates.io crate has its download URL and Cargo.lock's checksum.
    assert_eq!(bare.origin, crate::licenses::Origin::default());
    let itoa = gathered
        .entries
        .iter()
        .find(|e| e.name == "itoa")
        .expect("itoa");
    assert_eq!(
        itoa.origin.download.as_deref(),
        Some("https://crates.io/api/v1/crates/itoa/1.0.18/download")
    );
    let lock = std::fs::read_to_string(ws.root.join("Cargo.lock")).expect("lock file");
    let block = &lock[lock.find("name = \"itoa\"").expect("itoa in the lock")..];
    let checksum = block
        .lines()
        .find_map(|l| l.strip_prefix("checksum = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("itoa's checksum");
    assert_eq!(itoa.origin.sha256.as_deref(), Some(checksum));
}

#[test]
fn a_crate_without_text_gets_the_standard_text_or_fails_until_overridden() {
    let (dir, ws) = fixture();
    let gathered = gather_cargo(&ws, &ws.root.join("app/Cargo.toml")).expect("gather");
    let licenses = &ws.config.licenses_dir;
    std::fs::create_dir_all(licenses).expect("mkdir");

    // bare declares MIT and ships no text: the SPDX list's MIT text, marked as such.
    let resolved = check(gathered.clone(), licenses).expect("the standard text");
    let bare = resolved
        .iter()
        .map(|r| r.entry())
        .find(|e| e.name == "bare")
        .expect("bare");
    assert_eq!(bare.files.len(), 1);
    assert_eq!(bare.files[0].path, "MIT.txt");
    assert_eq!(bare.files[0].source, "spdx-standard-text:MIT");
    let out = dir.path().join("standard");
    write_dir(&resolved, b"{}", &out).expect("write the layout");
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("index.json")).expect("index"))
            .expect("json");
    let entry = index["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["name"] == "bare")
        .expect("bare");
    assert_eq!(entry["files"][0]["standard_text"], true);

    // `require-shipped-texts` keeps the strict failure.
    std::fs::write(
        licenses.join("policy.toml"),
        "require-shipped-texts = true\n",
    )
    .expect("write");
    let error = check(gathered.clone(), &ws.config.licenses_dir).expect_err("bare has no text");
    assert_eq!(error.exit_code(), 1);
    let Error::Failed(message) = &error else {
        panic!("expected Failed, got {error:?}")
    };
    assert!(
        message.contains("1 third-party dependency needs attention"),
        "{message}"
    );
    assert!(
        message.contains("  - cargo bare 2.0.0: no license text found"),
        "{message}"
    );
    let suggested = &message[message.find("[[override]]").expect("an override entry")..];
    assert_eq!(
        suggested,
        "[[override]]\necosystem = \"cargo\"\nname = \"bare\"\nversion = \"2.0.0\"\nlicense = \"MIT\"\nfiles = [\"texts/cargo/bare-2.0.0/LICENSE\"]\n"
    );

    // Paste the entry, add the text: the check passes and the text lands in the layout.
    std::fs::create_dir_all(licenses.join("texts/cargo/bare-2.0.0")).expect("mkdir");
    std::fs::write(
        licenses.join("texts/cargo/bare-2.0.0/LICENSE"),
        "MIT License\n\nCopyright (c) bare\n",
    )
    .expect("write");
    std::fs::write(licenses.join("overrides.toml"), suggested).expect("write");
    let resolved = check(gathered, licenses).expect("settled");
    assert_eq!(resolved.len(), 5);
    let out = dir.path().join("out");
    let sbom = crate::licenses::sbom::document("bare_sdk", "2023-11-14T22:13:20Z", &resolved)
        .expect("sbom");
    write_dir(&resolved, &sbom, &out).expect("write the layout");
    super::validate_spdx(&out.join("sbom.spdx.json"));
    let doc: crate::licenses::sbom::Document =
        serde_json::from_slice(&sbom).expect("the SBOM is a document");
    let itoa = doc
        .packages
        .iter()
        .find(|p| p.name == "itoa")
        .expect("itoa");
    assert_eq!(itoa.checksums.len(), 1, "{itoa:?}");
    assert_eq!(
        itoa.external_refs[0].reference_locator,
        "pkg:cargo/itoa@1.0.18"
    );
    let text =
        std::fs::read_to_string(out.join("cargo/bare-2.0.0/LICENSE")).expect("override text");
    assert!(text.contains("Copyright (c) bare"));
    assert!(out.join("cargo/itoa-1.0.18/LICENSE-APACHE").is_file());
    assert!(out.join("cargo/itoa-1.0.18/LICENSE-MIT").is_file());
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("index.json")).expect("index"))
            .expect("json");
    let bare = index["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["name"] == "bare")
        .expect("bare");
    let dir_name = licenses.file_name().expect("name").to_string_lossy();
    assert_eq!(
        bare["files"][0]["source"],
        format!("override:{dir_name}/texts/cargo/bare-2.0.0/LICENSE")
    );
}

#[test]
fn a_crate_outside_the_workspace_is_a_usage_error() {
    let (dir, ws) = fixture();
    let error =
        gather_cargo(&ws, &dir.path().join("outside/bare/Cargo.toml")).expect_err("not a member");
    assert_eq!(error.exit_code(), 2, "{error}");
}

/// The figures of this project's own dependency tree (run with `--ignored --nocapture`).
#[test]
#[ignore = "reads the whole dependency tree of cargo-sdkimage; run by hand for figures"]
fn own_dependency_tree_figures() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let ws = Workspace::load(Some(&manifest), Default::default()).expect("workspace");
    let started = std::time::Instant::now();
    let gathered = gather_cargo(&ws, &manifest).expect("gather");
    let elapsed = started.elapsed();
    let with_text = gathered
        .entries
        .iter()
        .filter(|e| !e.files.is_empty())
        .count();
    let texts: usize = gathered.entries.iter().map(|e| e.files.len()).sum();
    let missing: Vec<String> = gathered
        .entries
        .iter()
        .filter(|e| e.files.is_empty())
        .map(|e| format!("{} {}", e.name, e.version))
        .collect();
    let no_spdx: Vec<String> = gathered
        .entries
        .iter()
        .filter(|e| {
            e.license
                .as_deref()
                .is_none_or(|l| spdx::Expression::parse(l).is_err())
        })
        .map(|e| format!("{} {} ({:?})", e.name, e.version, e.license))
        .collect();
    eprintln!(
        "{} crates, {with_text} with texts ({texts} texts), in {elapsed:?}; without text: {missing:?}; license not SPDX: {no_spdx:?}",
        gathered.entries.len()
    );
}
