//! The gatherers against real packages: crates from crates.io, Debian packages from the Debian
//! mirror and wheels from PyPI, the last two inside a real image built by the Docker engine.
//! Downloads are cached under the target folder, so reruns are fast.

mod cargo_lock;
mod cargo_registry;
mod image_packages;

use std::path::{Path, PathBuf};
use std::process::Command;

/// `<target>/<profile>/sdkimage-test-cache/licenses/<what>`, created.
fn cache_dir(what: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // <target>/<profile>/deps/<test binary>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile folder");
    let dir = profile_dir
        .join("sdkimage-test-cache")
        .join("licenses")
        .join(what);
    std::fs::create_dir_all(&dir).expect("create the test cache folder");
    dir
}

/// Run a command to completion; panic with its output when it fails.
fn run(cmd: &mut Command) -> String {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        output.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Copy a folder tree (files and folders only).
fn copy_tree(from: &Path, to: &Path) {
    for item in walkdir::WalkDir::new(from) {
        let item = item.expect("walk the template");
        let rel = item.path().strip_prefix(from).expect("inside the template");
        let target = to.join(rel);
        if item.file_type().is_dir() {
            std::fs::create_dir_all(&target).expect("create a folder");
        } else {
            std::fs::copy(item.path(), &target).expect("copy a file");
        }
    }
}

/// Validate an SPDX document with the real validator (`pyspdxtools -i`, PyPI's spdx-tools):
/// `SDKIMAGE_PYSPDXTOOLS` names it (`scripts/test` installs it and sets it). Panics with the
/// validator's findings when the document is invalid, and when the validator is missing.
pub(crate) fn validate_spdx(file: &Path) {
    let tool = std::env::var_os("SDKIMAGE_PYSPDXTOOLS").unwrap_or_else(|| {
        panic!(
            "SDKIMAGE_PYSPDXTOOLS is not set: the SBOM tests need the SPDX validator; run them through scripts/test, which installs spdx-tools and sets it"
        )
    });
    let output = Command::new(&tool)
        .arg("-i")
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", Path::new(&tool).display()));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && !said.contains("invalid") && !said.contains("Invalid"),
        "{} is not a valid SPDX document ({}):\n{said}",
        file.display(),
        output.status
    );
}
