//! Third-party packages and their licenses, for the license and SBOM tests: downloads cached
//! across runs, Go binaries built offline, Debian's jars, the build that pulls licenses, and
//! what it leaves (the image's `index.json`, the SBOM).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use serde_json::Value;

use sdkimage::licenses::sbom::Document;

use super::images::sh;
use super::{Repo, checked_stdout, checked_text};

/// `build --pull-licenses --tag t --progress none`: the build whose licenses folder and SBOM a
/// test reads.
pub const BUILD_PULLING_LICENSES: [&str; 6] = [
    "build",
    "--pull-licenses",
    "--tag",
    "t",
    "--progress",
    "none",
];

/// `<target>/<profile>/sdkimage-test-cache/licenses/<what>` (shared with the library's license
/// tests), created.
pub fn cache_dir(what: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().and_then(Path::parent).unwrap();
    let dir = profile.join("sdkimage-test-cache/licenses").join(what);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The cached file of `dir` whose name starts with `prefix` and ends with `suffix`; else
/// `download(tmp)` runs in a private folder and its result is moved in (tests run in parallel).
pub fn cached(dir: &str, prefix: &str, suffix: &str, download: impl Fn(&Path)) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = cache_dir(dir);
    let find = |d: &Path| {
        std::fs::read_dir(d)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| {
                let name = p.file_name().unwrap().to_string_lossy();
                name.starts_with(prefix) && name.ends_with(suffix)
            })
    };
    if let Some(found) = find(&dir) {
        return found;
    }
    let tmp = tempfile::tempdir_in(&dir).unwrap();
    download(tmp.path());
    let got = find(tmp.path()).unwrap_or_else(|| panic!("the download left no {prefix}*{suffix}"));
    let target = dir.join(got.file_name().unwrap());
    std::fs::rename(&got, &target).unwrap();
    target
}

/// The `.deb` of Debian's `package`, downloaded once (`apt-get download`) into the cache.
pub fn deb(package: &str) -> PathBuf {
    cached("debs", &format!("{package}_"), ".deb", |tmp| {
        checked_stdout(
            Command::new("apt-get")
                .args(["download", package])
                .current_dir(tmp),
        );
    })
}

/// `go build` of `package` in the Go module at `dir` into `out`, offline, for `goarch`.
pub fn go_build(dir: &Path, package: &str, goarch: &str, out: &Path) {
    let go_path = cache_dir("gopath");
    let status = Command::new("go")
        .args(["build", "-o"])
        .arg(out)
        .arg(package)
        .current_dir(dir)
        .env("GOPROXY", "off")
        .env("GOFLAGS", "-mod=mod")
        .env("GOARCH", goarch)
        .env("CGO_ENABLED", "0")
        .env("GOPATH", &go_path)
        .env("GOCACHE", go_path.join("cache"))
        .status()
        .expect(
            "golang-go is not installed: run the tests through scripts/test, which installs it",
        );
    assert!(
        status.success(),
        "go build of {package} for {goarch} failed"
    );
}

/// The one file of `dir` whose name is `<prefix><digit>...<suffix>` (a versioned jar, not its
/// unversioned symlink).
pub fn versioned(dir: &Path, prefix: &str) -> std::path::PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
                && name.ends_with(".jar")
        })
        .unwrap_or_else(|| panic!("no {prefix}<version>.jar in {}", dir.display()))
}

/// The entry of a licenses `index.json` for `ecosystem` `name` `version`.
pub fn entry<'a>(index: &'a Value, ecosystem: &str, name: &str, version: &str) -> &'a Value {
    index["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["ecosystem"] == ecosystem && e["name"] == name && e["version"] == version)
        .unwrap_or_else(|| panic!("no {ecosystem} {name} {version} in {index:#}"))
}

/// Validate `file` with `pyspdxtools -i` (PyPI's spdx-tools, path in SDKIMAGE_PYSPDXTOOLS).
/// Fails, never skips, when the validator is missing.
#[track_caller]
pub fn validate(file: &Path) {
    let tool = std::env::var_os("SDKIMAGE_PYSPDXTOOLS").expect(
        "SDKIMAGE_PYSPDXTOOLS is not set: the SBOM tests need the SPDX validator; run them through scripts/test, which installs spdx-tools and sets it",
    );
    let out = Command::new(&tool)
        .arg("-i")
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", Path::new(&tool).display()));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && !said.to_lowercase().contains("invalid"),
        "{} is not a valid SPDX 2.3 document ({}):\n{said}",
        file.display(),
        out.status
    );
}

/// Debian's commons-lang3 and slf4j-api jars (`libcommons-lang3-java`, `libslf4j-java`) copied
/// into `jars`, and Debian's Maven repository (their parent POMs) as `<repo>/vendor/maven-repo`.
pub fn stage_debian_jars(repo: &Repo, jars: &Path) {
    let unpacked = tempfile::tempdir().unwrap();
    for package in ["libcommons-lang3-java", "libslf4j-java"] {
        checked_stdout(
            Command::new("dpkg-deb")
                .arg("-x")
                .arg(deb(package))
                .arg(unpacked.path()),
        );
    }
    std::fs::create_dir_all(jars).unwrap();
    let java = unpacked.path().join("usr/share/java");
    for prefix in ["commons-lang3-", "slf4j-api-"] {
        let jar = versioned(&java, prefix);
        std::fs::copy(&jar, jars.join(jar.file_name().unwrap())).unwrap();
    }
    checked_stdout(
        Command::new("cp")
            .arg("-r")
            .arg(unpacked.path().join("usr/share/maven-repo"))
            .arg(repo.file("vendor/maven-repo")),
    );
}

/// The licenses folder's `index.json` in `image` (the folder at `dest`), as JSON; fails the
/// test when the image has none.
#[track_caller]
pub fn index_in_image(image: &str, dest: &str) -> Value {
    let (code, text) = sh(image, &format!("cat {dest}/index.json"));
    assert_eq!(code, 0, "no {dest}/index.json in {image}");
    serde_json::from_str(&text).unwrap()
}

/// The SPDX document `file`, valid by `pyspdxtools` (see [`validate`]).
#[track_caller]
pub fn read_sbom(file: &Path) -> Document {
    validate(file);
    serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap()
}

/// The package URLs of every package of an SBOM.
pub fn purls(doc: &Document) -> Vec<&str> {
    doc.packages
        .iter()
        .flat_map(|p| p.external_refs.iter().map(|r| r.reference_locator.as_str()))
        .collect()
}

/// The sha256 of `file` in hex, by `sha256sum` (an independent witness).
pub fn sha256_hex(file: &Path) -> String {
    let out = checked_text(Command::new("sha256sum").arg(file));
    out.split_whitespace().next().unwrap().to_string()
}
