//! The repository's own examples (`sdk-manifests/`, in the real workspace at the repository
//! root): built with licenses under a root and tag of this test, each entrypoint run, and the
//! `dockerfile` view of one of them. The Debian bases come from `scripts/make-rootfs`
//! (debootstrap, cached in `target/rootfs/`).

use std::path::{Path, PathBuf};

// `index.json` (the licenses folder's index) has no public type in the library
// (`licenses/layout.rs` keeps its serializing structs private), so it is read as JSON.
use serde_json::Value;

use sdkimage::output::EventKind;

use crate::support::{Run, docker, docker_run, remove_images_under, run_sdkimage};

const DEST: &str = "/opt/apache/beam/third_party_licenses";

/// The repository's own `Cargo.toml`.
fn workspace_manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../Cargo.toml")
        .canonicalize()
        .unwrap()
}

/// `cargo-sdkimage sdkimage <args>` from a folder outside the workspace (only
/// `--manifest-path` leads to it).
fn sdkimage(args: &[&str]) -> Run {
    run_sdkimage(&std::env::temp_dir(), args, &[])
}

/// Removes every local image whose reference is under `root/` when dropped.
struct RemoveImagesUnder {
    root: String,
}

impl Drop for RemoveImagesUnder {
    fn drop(&mut self) {
        remove_images_under(&self.root, &[]);
    }
}

#[test]
fn examples_build_with_licenses_and_their_entrypoints_run() {
    let root = format!("sdkimage-e2e/examples-{}", std::process::id());
    let tag = format!("e2e-{}", std::process::id());
    let _cleanup = RemoveImagesUnder { root: root.clone() };
    let manifest = workspace_manifest();
    let run = sdkimage(&[
        "build",
        "--manifest-path",
        manifest.to_str().unwrap(),
        "--pull-licenses",
        // Really build and gather here, not re-tag what an earlier run in this workspace made.
        "--force",
        "--repository-root",
        &root,
        "--tag",
        &tag,
        "--message-format",
        "json",
        "--progress",
        "none",
    ]);
    run.success();
    let mut done: Vec<String> = run
        .events_of(EventKind::BuildFinished)
        .into_iter()
        .map(|e| e.image().unwrap().to_string())
        .collect();
    done.sort();
    assert_eq!(
        done,
        [
            "example_adapted_bookworm",
            "example_base_bookworm",
            "example_base_trixie",
            "example_elyra_runtime",
            "example_go_sdk",
            "example_python3.11_extra",
            "example_python3.11_sdk",
            "example_python3.13_sdk",
            "example_rust_sdk",
        ]
    );
    // The custom images of sdk-manifests/custom/: what each adds works in it (the adapt image
    // was checked against the Python SDK's contract by the build itself).
    let custom = [
        (
            "example_python3.11_extra",
            "python3",
            "import example_extra; print(example_extra.greet())",
            "example_extra 0.1.0 beside example_sdk 0.1.0",
        ),
        ("example_elyra_runtime", "curl", "--version", "curl 7."),
        (
            "example_adapted_bookworm",
            "python3",
            "import example_sdk; print(example_sdk.__version__)",
            "0.1.0",
        ),
    ];
    for (image, program, arg, want) in custom {
        let reference = format!("{root}/{image}:{tag}");
        let args: Vec<&str> = match program {
            "python3" => vec!["-c", arg],
            _ => vec![arg],
        };
        let out = docker(
            &[
                &[
                    "run",
                    "--rm",
                    "--network",
                    "none",
                    "--entrypoint",
                    program,
                    &reference,
                ][..],
                &args,
            ]
            .concat(),
        );
        assert!(out.contains(want), "{image}: {out}");
    }

    let sdks = [
        (
            "example_python3.11_sdk",
            "python",
            "python worker harness 0.1.0 on Python 3.11.",
        ),
        (
            "example_python3.13_sdk",
            "python",
            "python worker harness 0.1.0 on Python 3.13.",
        ),
        ("example_go_sdk", "go", "go harness ready"),
        ("example_rust_sdk", "rust", r#""harness":"rust""#),
    ];
    for (image, language, harness) in sdks {
        let reference = format!("{root}/{image}:{tag}");
        let out = docker_run(&reference);
        let mut lines = out.lines();
        let boot = lines.next().unwrap_or_default();
        assert!(
            boot.starts_with(&format!("example {language} SDK ")) && boot.ends_with(" boot"),
            "{image}: {out}"
        );
        assert!(
            lines.any(|l| l.contains(harness)),
            "{image} harness line: {out}"
        );

        let index = docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            "cat",
            &reference,
            &format!("{DEST}/index.json"),
        ]);
        let index: Value = serde_json::from_str(&index).unwrap();
        let entries = index["entries"].as_array().unwrap();
        let has = |ecosystem: &str, name: &str| {
            entries
                .iter()
                .any(|e| e["ecosystem"] == ecosystem && e["name"] == name)
        };
        assert!(has("cargo", "anyhow"), "{image}: the boot binary's crates");
        assert!(has("debian", "python3"), "{image}: the base's packages");
        assert!(
            entries
                .iter()
                .all(|e| !e["files"].as_array().unwrap().is_empty()),
            "{image}: an entry without texts"
        );
        if language == "rust" {
            assert!(has("cargo", "serde_json"), "{image}: the worker's crates");
        }
    }

    // `dockerfile`: the Dockerfile as it is, then the context with sizes (copies included).
    let run = sdkimage(&[
        "dockerfile",
        "python:3.11",
        "--manifest-path",
        manifest.to_str().unwrap(),
    ]);
    run.success();
    let out = run.stdout();
    let python = manifest.parent().unwrap().join("sdk-manifests/python");
    let dockerfile = std::fs::read_to_string(python.join("Dockerfile")).unwrap();
    assert!(
        out.starts_with("# example_python3.11_sdk (python:3.11)\n"),
        "{out}"
    );
    assert!(out.contains(&dockerfile), "{out}");
    let (_, listing) = out.split_once("\n# context: ").expect("a context listing");
    let size_of = |path: &str| {
        listing.lines().find_map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            (fields.len() == 3 && fields[2] == path).then(|| fields[1].parse::<u64>().unwrap())
        })
    };
    let boot = manifest.parent().unwrap().join("target/release/sdk-boot");
    assert_eq!(
        size_of("Dockerfile"),
        Some(dockerfile.len() as u64),
        "{listing}"
    );
    assert_eq!(
        size_of("boot"),
        Some(std::fs::metadata(boot).unwrap().len()),
        "{listing}"
    );
    assert!(
        size_of("dist/example_sdk-0.1.0-py3-none-any.whl").is_some(),
        "{listing}"
    );
    assert_eq!(size_of("make_wheel.py"), None, ".dockerignore'd: {listing}");
}
