//! `gather_image` on a real image (FROM scratch) holding real Debian packages (downloaded with
//! `apt-get download`, unpacked with `dpkg-deb -x`, with a dpkg status made of their own control
//! files) and real wheels from PyPI. Needs the Docker engine: without one these tests fail, they
//! do not skip.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::Bytes;

use super::{cache_dir, run};
use crate::engine::{BuildRequest, Engine};
use crate::error::Error;
use crate::licenses::gatherer::ImageGatherer;
use crate::licenses::image::gather_image;
use crate::licenses::{Ecosystem, Gathered, LicenseEntry, check, debian, python, write_tar};

fn both() -> Vec<Box<dyn ImageGatherer>> {
    vec![python::test_gatherer(), debian::test_gatherer()]
}

/// hostname: DEP-5, GPL-2. cgroupfs-mount: DEP-5, GPL-3+. gcc-12-base: not DEP-5.
/// libgcc-s1: its doc folder is a symlink to gcc-12-base's.
const DEBS: &[&str] = &["hostname", "cgroupfs-mount", "gcc-12-base", "libgcc-s1"];
/// Only its control file is used: a removed package, left in the status as config-files.
const REMOVED_DEB: &str = "hello";
/// (wheel, folder it is installed into)
const WHEELS: &[(&str, &str)] = &[
    ("six==1.16.0", "usr/lib/python3/dist-packages"),
    ("attrs==25.3.0", "usr/local/lib/python3.11/site-packages"),
    ("packaging==25.0", "usr/local/lib/python3.11/site-packages"),
];

/// The file of `dir` whose name starts with `prefix` and whose extension is `extension`.
fn find_cached(dir: &Path, prefix: &str, extension: &str) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
                && p.extension().is_some_and(|x| x == extension)
        })
}

/// The `.deb` of `package` in the cache, downloaded once.
fn deb(package: &str) -> PathBuf {
    let dir = cache_dir("debs");
    let find = || find_cached(&dir, &format!("{package}_"), "deb");
    if let Some(found) = find() {
        return found;
    }
    run(Command::new("apt-get")
        .arg("download")
        .arg(package)
        .current_dir(&dir));
    find().unwrap_or_else(|| {
        panic!(
            "apt-get download {package} left no .deb in {}",
            dir.display()
        )
    })
}

/// The wheel of `requirement` (`name==version`) in the cache, downloaded once.
fn wheel(requirement: &str) -> PathBuf {
    let dir = cache_dir("wheels");
    let (name, version) = requirement.split_once("==").expect("name==version");
    let prefix = format!("{name}-{version}-");
    let find = || find_cached(&dir, &prefix, "whl");
    if let Some(found) = find() {
        return found;
    }
    run(Command::new("pip")
        .args([
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "-d",
        ])
        .arg(&dir)
        .arg(requirement));
    find().unwrap_or_else(|| {
        panic!(
            "pip download {requirement} left no wheel in {}",
            dir.display()
        )
    })
}

fn control(deb: &Path) -> String {
    run(Command::new("dpkg-deb").arg("-f").arg(deb))
}

fn control_field(control: &str, field: &str) -> String {
    control
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}: ")))
        .unwrap_or_else(|| panic!("no {field} in control:\n{control}"))
        .to_string()
}

/// The image's filesystem, staged on the host; also returns `package -> version`.
fn stage(root: &Path) -> HashMap<String, String> {
    let mut versions = HashMap::new();
    let mut status = String::new();
    for package in DEBS {
        let deb = deb(package);
        run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(root));
        let control = control(&deb);
        versions.insert(package.to_string(), control_field(&control, "Version"));
        status.push_str(&with_status(&control, "install ok installed"));
    }
    status.push_str(&with_status(
        &control(&deb(REMOVED_DEB)),
        "deinstall ok config-files",
    ));
    let dpkg = root.join("var/lib/dpkg");
    std::fs::create_dir_all(&dpkg).expect("mkdir");
    std::fs::write(dpkg.join("status"), status).expect("write status");
    for (requirement, folder) in WHEELS {
        let target = root.join(folder);
        std::fs::create_dir_all(&target).expect("mkdir");
        run(Command::new("python3")
            .args(["-m", "zipfile", "-e"])
            .arg(wheel(requirement))
            .arg(&target));
    }
    versions
}

/// A control file as a dpkg status stanza (Status right after Package, as dpkg writes it).
fn with_status(control: &str, status: &str) -> String {
    let mut out = String::new();
    for line in control.lines() {
        out.push_str(line);
        out.push('\n');
        if line.starts_with("Package: ") {
            out.push_str(&format!("Status: {status}\n"));
        }
    }
    out.push('\n');
    out
}

/// Build `FROM scratch` + `COPY root/ /` through the engine; the image id.
async fn build(engine: &Engine, root: &Path) -> String {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    let dockerfile = b"FROM scratch\nCOPY root/ /\n";
    let mut header = tar::Header::new_gnu();
    header.set_size(dockerfile.len() as u64);
    header.set_mode(0o644);
    builder
        .append_data(&mut header, "Dockerfile", &dockerfile[..])
        .expect("Dockerfile");
    builder.append_dir_all("root", root).expect("staged root");
    let context = Bytes::from(builder.into_inner().expect("context tar"));
    let request = BuildRequest {
        dockerfile: "Dockerfile".into(),
        ..Default::default()
    };
    engine
        .build_to_id(
            &request,
            futures_util::stream::once(async move { Ok(context) }),
        )
        .await
        .unwrap_or_else(|e| panic!("test image build failed: {e}"))
}

async fn remove_image(engine: &Engine, id: &str) {
    engine
        .remove_image_forced(id)
        .await
        .expect("remove the test image");
}

/// Containers created from `id` that still exist.
async fn containers_of(engine: &Engine, id: &str) -> usize {
    engine.containers_of(id).await.expect("list containers")
}

fn find<'a>(gathered: &'a Gathered, ecosystem: Ecosystem, name: &str) -> &'a LicenseEntry {
    gathered
        .entries
        .iter()
        .find(|e| e.ecosystem == ecosystem && e.name == name)
        .unwrap_or_else(|| panic!("no {ecosystem} {name} in {:?}", names(gathered)))
}

fn names(gathered: &Gathered) -> Vec<String> {
    gathered
        .entries
        .iter()
        .map(|e| format!("{} {} {}", e.ecosystem, e.name, e.version))
        .collect()
}

fn files(entry: &LicenseEntry) -> Vec<(&str, &str)> {
    entry
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.source.as_str()))
        .collect()
}

#[tokio::test]
async fn gathers_debian_packages_and_python_dists_from_a_built_image() {
    let engine = Engine::connect()
        .await
        .unwrap_or_else(|e| panic!("these tests need a Docker engine: {e}"));
    let staged = tempfile::tempdir().expect("tempdir");
    let root = staged.path().join("root");
    let versions = stage(&root);
    let id = build(&engine, &root).await;
    let gathered = gather_image(&engine, &id, both()).await;
    let left = containers_of(&engine, &id).await;
    remove_image(&engine, &id).await;
    let gathered = gathered.expect("gather_image");
    assert_eq!(left, 0, "the scan container was not removed");

    // Debian: installed packages only (hello is config-files), versions from the status.
    let debian: Vec<String> = gathered
        .entries
        .iter()
        .filter(|e| e.ecosystem == Ecosystem::Debian)
        .map(|e| e.name.clone())
        .collect();
    assert_eq!(
        debian,
        vec!["cgroupfs-mount", "gcc-12-base", "hostname", "libgcc-s1"]
    );
    let hostname = find(&gathered, Ecosystem::Debian, "hostname");
    assert_eq!(hostname.version, versions["hostname"]);
    assert_eq!(hostname.license.as_deref(), Some("GPL-2.0-only"));
    assert_eq!(
        files(hostname),
        vec![("copyright", "image:/usr/share/doc/hostname/copyright")]
    );
    assert_eq!(
        hostname.files[0].contents,
        std::fs::read(root.join("usr/share/doc/hostname/copyright")).expect("copyright")
    );
    assert_eq!(
        find(&gathered, Ecosystem::Debian, "cgroupfs-mount")
            .license
            .as_deref(),
        Some("GPL-3.0-or-later")
    );
    let gcc = find(&gathered, Ecosystem::Debian, "gcc-12-base");
    assert_eq!(gcc.license, None, "not a DEP-5 file");
    let libgcc = find(&gathered, Ecosystem::Debian, "libgcc-s1");
    assert_eq!(libgcc.version, versions["libgcc-s1"]);
    assert_eq!(
        files(libgcc),
        vec![("copyright", "image:/usr/share/doc/gcc-12-base/copyright")]
    );
    assert_eq!(libgcc.files[0].contents, gcc.files[0].contents);

    // Python: dist-packages and site-packages, PEP 639 `licenses/` and top-level texts.
    let six = find(&gathered, Ecosystem::Python, "six");
    assert_eq!(
        (six.version.as_str(), six.license.as_deref()),
        ("1.16.0", Some("MIT"))
    );
    assert_eq!(
        files(six),
        vec![(
            "LICENSE",
            "image:/usr/lib/python3/dist-packages/six-1.16.0.dist-info/LICENSE"
        )]
    );
    let attrs = find(&gathered, Ecosystem::Python, "attrs");
    assert_eq!(attrs.license.as_deref(), Some("MIT"));
    assert_eq!(
        files(attrs),
        vec![(
            "LICENSE",
            "image:/usr/local/lib/python3.11/site-packages/attrs-25.3.0.dist-info/licenses/LICENSE"
        )]
    );
    let packaging = find(&gathered, Ecosystem::Python, "packaging");
    assert_eq!(
        packaging.license.as_deref(),
        Some("Apache Software License, BSD License")
    );
    let paths: Vec<&str> = packaging.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, vec!["LICENSE", "LICENSE.APACHE", "LICENSE.BSD"]);
    let host_text = root.join(
        "usr/local/lib/python3.11/site-packages/packaging-25.0.dist-info/licenses/LICENSE.APACHE",
    );
    assert_eq!(
        packaging.files[1].contents,
        std::fs::read(host_text).expect("text")
    );
    assert_eq!(gathered.entries.len(), 7, "{:?}", names(&gathered));

    policy_and_overrides(gathered, &versions);
}

/// The policy rejects what it does not allow, overrides settle the rest, the layer is laid out.
fn policy_and_overrides(gathered: Gathered, versions: &HashMap<String, String>) {
    let licenses = tempfile::tempdir().expect("tempdir");
    let dir = licenses.path();
    std::fs::write(
        dir.join("policy.toml"),
        "allow = [\"MIT\", \"Apache-2.0\", \"GPL-2.0-only\"]\n",
    )
    .expect("policy");
    let error = check(gathered.clone(), dir).expect_err("policy violations");
    let Error::Failed(message) = &error else {
        panic!("expected Failed, got {error:?}")
    };
    assert!(
        message.contains("4 third-party dependencies need attention"),
        "{message}"
    );
    let cgroupfs = format!(
        "debian cgroupfs-mount {}: license `GPL-3.0-or-later` needs `GPL-3.0-or-later`",
        versions["cgroupfs-mount"]
    );
    assert!(message.contains(&cgroupfs), "{message}");
    assert!(
        message.contains(&format!(
            "debian libgcc-s1 {}: the license is unknown",
            versions["libgcc-s1"]
        )),
        "{message}"
    );
    assert!(message.contains("python packaging 25.0: license `Apache Software License, BSD License` is not an SPDX expression"), "{message}");
    assert_eq!(message.matches("[[override]]").count(), 4, "{message}");
    assert!(!message.contains("hostname"), "{message}");

    // Overrides: the real license of packaging, the GCC runtime library exception, GPL-3 allowed.
    std::fs::write(
        dir.join("overrides.toml"),
        "[[override]]\necosystem = \"python\"\nname = \"packaging\"\nlicense = \"Apache-2.0 OR BSD-2-Clause\"\n\n\
         [[override]]\necosystem = \"debian\"\nname = \"gcc-12-base\"\nlicense = \"GPL-3.0-or-later WITH GCC-exception-3.1\"\n\n\
         [[override]]\necosystem = \"debian\"\nname = \"libgcc-s1\"\nlicense = \"GPL-3.0-or-later WITH GCC-exception-3.1\"\n",
    )
    .expect("overrides");
    std::fs::write(
        dir.join("policy.toml"),
        "allow = [\"MIT\", \"Apache-2.0\", \"GPL-2.0-only\", \"GPL-3.0-or-later\", \"GPL-3.0-or-later WITH GCC-exception-3.1\"]\n",
    )
    .expect("policy");
    let resolved = check(gathered, dir).expect("settled by the overrides");
    assert_eq!(resolved.len(), 7);

    let sbom = crate::licenses::sbom::document("beam_sdk", "2023-11-14T22:13:20Z", &resolved)
        .expect("sbom");
    let sbom_file = dir.join("sbom.spdx.json");
    std::fs::write(&sbom_file, &sbom).expect("write the sbom");
    super::validate_spdx(&sbom_file);
    let mut layer = Vec::new();
    write_tar(
        &resolved,
        &sbom,
        "/opt/apache/beam/third_party_licenses",
        &mut layer,
    )
    .expect("tar");
    let mut archive = tar::Archive::new(&layer[..]);
    let mut paths = Vec::new();
    let mut index = None;
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let path = entry.path().expect("path").to_string_lossy().into_owned();
        if path.ends_with("/index.json") {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text).expect("index");
            index = Some(text);
        }
        paths.push(path);
    }
    let base = "opt/apache/beam/third_party_licenses";
    for expected in [
        format!(
            "{base}/debian/libgcc-s1-{}/copyright",
            versions["libgcc-s1"]
        ),
        format!("{base}/debian/hostname-{}/copyright", versions["hostname"]),
        format!("{base}/python/packaging-25.0/LICENSE.BSD"),
        format!("{base}/python/six-1.16.0/LICENSE"),
        format!("{base}/index.json"),
    ] {
        assert!(paths.contains(&expected), "{expected} not in {paths:?}");
    }
    let index: serde_json::Value = serde_json::from_str(&index.expect("index.json")).expect("json");
    let packaging = index["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["name"] == "packaging")
        .expect("packaging");
    assert_eq!(packaging["license"], "Apache-2.0 OR BSD-2-Clause");
    assert_eq!(packaging["ecosystem"], "python");
}

#[tokio::test]
async fn nothing_requested_reads_nothing_and_a_missing_image_is_an_error() {
    let engine = Engine::connect()
        .await
        .unwrap_or_else(|e| panic!("these tests need a Docker engine: {e}"));
    let none = gather_image(&engine, "sha256:0000", Vec::new())
        .await
        .expect("no gatherer, no engine call");
    assert!(none.entries.is_empty());
    let missing = "sha256:00000000000000000000000000000000000000000000000000000000deadbeef";
    let error = gather_image(&engine, missing, both())
        .await
        .expect_err("no such image");
    assert_eq!(error.exit_code(), 1, "{error}");
}
