//! Third-party licenses through the built binary: `build --pull-licenses` on the `licensed`
//! fixture, whose image holds real packages (a Debian package unpacked with `dpkg-deb -x` and
//! named in a dpkg status file, a wheel's dist-info, and the crates.io crate its member crate
//! depends on); missing texts, overrides, policy, and `licenses --out`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

// `index.json` (the licenses folder's index) has no public type in the library
// (`licenses/layout.rs` keeps its serializing structs private), so it is read as JSON.
use serde_json::Value;

use crate::support::images::sh;
use crate::support::licenses::{BUILD_PULLING_LICENSES, cached, deb, index_in_image};
use crate::support::{Repo, Run, checked_text, docker_image_id, read_metadata};

pub(crate) const DEST: &str = "/opt/licensed/third_party_licenses";
const DEB: &str = "hostname";
const WHEEL: (&str, &str) = ("six", "1.16.0");

fn wheel(name: &str, version: &str) -> PathBuf {
    cached("wheels", &format!("{name}-{version}-"), ".whl", |tmp| {
        checked_text(
            Command::new("pip")
                .args([
                    "download",
                    "--no-deps",
                    "--only-binary=:all:",
                    "--disable-pip-version-check",
                    "-d",
                ])
                .arg(tmp)
                .arg(format!("{name}=={version}")),
        );
    })
}

/// The version in a `.deb`'s control file.
fn deb_version(deb: &Path) -> String {
    checked_text(Command::new("dpkg-deb").arg("-f").arg(deb).arg("Version"))
        .trim()
        .to_string()
}

/// The `licensed` fixture with its image's packages staged in `vendor/rootfs`: the Debian
/// package unpacked, a dpkg status naming it (installed), and the wheel unpacked into
/// dist-packages. Returns the repo and the Debian package's version.
pub(crate) fn licensed_repo() -> (Repo, String) {
    let repo = Repo::new("licensed");
    let rootfs = repo.file("vendor/rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    let deb = deb(DEB);
    checked_text(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&rootfs));
    let control = checked_text(Command::new("dpkg-deb").arg("-f").arg(&deb));
    let status = control.replacen('\n', "\nStatus: install ok installed\n", 1);
    repo.write("vendor/rootfs/var/lib/dpkg/status", &format!("{status}\n"));
    let site = rootfs.join("usr/lib/python3/dist-packages");
    std::fs::create_dir_all(&site).unwrap();
    checked_text(
        Command::new("unzip")
            .arg("-q")
            .arg(wheel(WHEEL.0, WHEEL.1))
            .arg("-d")
            .arg(&site),
    );
    let version = deb_version(&deb);
    (repo, version)
}

/// The `licensed` fixture's image made two-platform (linux/amd64, linux/arm64): its
/// Dockerfile copies, over the shared rootfs, each platform's busybox and `sdk/status-<arch>`
/// (a dpkg status the caller writes). The rootfs's dpkg status, and the architecture it names.
pub(crate) fn licensed_two_platforms(repo: &Repo) -> (String, String) {
    repo.add_busybox_per_arch("sdk");
    repo.write(
        "sdk/Dockerfile",
        "FROM scratch\nARG TARGETARCH\nCOPY rootfs/ /\nCOPY status-${TARGETARCH} /var/lib/dpkg/status\nCOPY busybox-${TARGETARCH} /bin/busybox\n",
    );
    let manifest = std::fs::read_to_string(repo.file("sdk/sdkimage.toml")).unwrap();
    repo.write(
        "sdk/sdkimage.toml",
        &manifest.replacen(
            "name = \"licensed_sdk\"\n",
            "name = \"licensed_sdk\"\nplatforms = [\"linux/amd64\", \"linux/arm64\"]\n",
            1,
        ),
    );
    let status = std::fs::read_to_string(repo.file("vendor/rootfs/var/lib/dpkg/status")).unwrap();
    let native = status
        .lines()
        .find_map(|l| l.strip_prefix("Architecture: "))
        .unwrap()
        .to_string();
    (status, native)
}

/// `index.json` entries keyed by `ecosystem/name`.
fn entries_by_key(index: &Value) -> BTreeMap<String, Value> {
    index["entries"]
        .as_array()
        .expect("index.json has an entries array")
        .iter()
        .map(|e| {
            (
                format!(
                    "{}/{}",
                    e["ecosystem"].as_str().unwrap(),
                    e["name"].as_str().unwrap()
                ),
                e.clone(),
            )
        })
        .collect()
}

/// The files (relative, sorted) of every entry of an index, as `folder/path`.
fn indexed_files(index: &Value) -> Vec<String> {
    let mut files: Vec<String> = index["entries"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| {
            let folder = e["folder"].as_str().unwrap().to_string();
            e["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |f| format!("{folder}/{}", f["path"].as_str().unwrap()))
        })
        .collect();
    files.sort();
    files
}

/// `build --pull-licenses --tag t --progress plain`.
fn build_pulling_licenses_plain(repo: &Repo) -> Run {
    repo.run(&[
        "build",
        "--pull-licenses",
        "--tag",
        "t",
        "--progress",
        "plain",
    ])
}

/// The `licensed_sdk/index.json` that `licenses --out <out>` wrote.
fn read_index(out: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(out.join("licensed_sdk/index.json")).unwrap()).unwrap()
}

fn expected_files(hostname_version: &str) -> Vec<String> {
    vec![
        "cargo/itoa-1.0.18/LICENSE-APACHE".to_string(),
        "cargo/itoa-1.0.18/LICENSE-MIT".to_string(),
        format!("debian/hostname-{hostname_version}/copyright"),
        "python/six-1.16.0/LICENSE".to_string(),
    ]
}

#[test]
fn pull_licenses_puts_every_text_and_an_index_into_the_image() {
    let (repo, hostname_version) = licensed_repo();
    let (run, meta) = repo.run_with_metadata(&BUILD_PULLING_LICENSES);
    run.success();
    let image = format!("{}/licensed_sdk:t", repo.root);

    let index = index_in_image(&image, DEST);
    let entries = entries_by_key(&index);
    assert_eq!(
        entries.keys().map(String::as_str).collect::<Vec<_>>(),
        ["cargo/itoa", "debian/hostname", "python/six"]
    );
    assert_eq!(entries["cargo/itoa"]["version"], "1.0.18");
    assert_eq!(entries["cargo/itoa"]["license"], "MIT OR Apache-2.0");
    assert_eq!(entries["cargo/itoa"]["folder"], "cargo/itoa-1.0.18");
    assert_eq!(entries["python/six"]["version"], "1.16.0");
    assert_eq!(entries["python/six"]["license"], "MIT");
    assert_eq!(
        entries["debian/hostname"]["version"],
        hostname_version.as_str()
    );

    // The image holds exactly the texts the index names, plus the index.
    let (_, listing) = sh(&image, &format!("cd {DEST} && find . -type f | sort"));
    let mut in_image: Vec<String> = listing
        .lines()
        .map(|l| l.trim_start_matches("./").to_string())
        .collect();
    assert!(in_image.contains(&"index.json".to_string()), "{listing}");
    assert!(
        in_image.contains(&"sbom.spdx.json".to_string()),
        "{listing}"
    );
    in_image.retain(|f| f != "index.json" && f != "sbom.spdx.json");
    assert_eq!(in_image, expected_files(&hostname_version));
    assert_eq!(indexed_files(&index), in_image);

    // The texts are the packages' own.
    let (_, copyright) = sh(
        &image,
        &format!("cat {DEST}/debian/hostname-{hostname_version}/copyright"),
    );
    let original =
        std::fs::read_to_string(repo.file("vendor/rootfs/usr/share/doc/hostname/copyright"))
            .unwrap();
    assert_eq!(copyright, original);
    let (_, six) = sh(&image, &format!("cat {DEST}/python/six-1.16.0/LICENSE"));
    let original = std::fs::read_to_string(
        repo.file("vendor/rootfs/usr/lib/python3/dist-packages/six-1.16.0.dist-info/LICENSE"),
    )
    .unwrap();
    assert_eq!(six, original);
    let (_, mit) = sh(&image, &format!("cat {DEST}/cargo/itoa-1.0.18/LICENSE-MIT"));
    assert!(mit.contains("Permission is hereby granted"), "{mit}");
    let (_, apache) = sh(
        &image,
        &format!("cat {DEST}/cargo/itoa-1.0.18/LICENSE-APACHE"),
    );
    assert!(apache.contains("Apache License"), "{apache}");

    let meta = read_metadata(&meta);
    assert_eq!(
        meta["licensed_sdk"].licenses,
        Some(entries.len()),
        "the metadata's license count is the index's"
    );
}

#[test]
fn without_pull_licenses_nothing_is_added() {
    let (repo, _) = licensed_repo();
    let (run, meta) = repo.run_with_metadata(&["build", "--tag", "t", "--progress", "none"]);
    run.success();
    let image = format!("{}/licensed_sdk:t", repo.root);
    // The image is there (the check below can tell), without the licenses folder.
    assert_eq!(sh(&image, "test -e /usr/share/doc/hostname/copyright").0, 0);
    assert_eq!(sh(&image, "test -e /opt/licensed").0, 1, "{DEST} exists");
    let meta = read_metadata(&meta);
    assert!(meta["licensed_sdk"].licenses.is_none(), "{meta:?}");
}

/// Add a Debian package and a Python dist that ship no license text to the staged image.
fn add_packages_without_texts(repo: &Repo) {
    let status = repo.file("vendor/rootfs/var/lib/dpkg/status");
    let mut text = std::fs::read_to_string(&status).unwrap();
    text.push_str(
        "Package: mystery-tool\nStatus: install ok installed\nVersion: 0.9-1\nArchitecture: amd64\nDescription: a package without a copyright file\n\n",
    );
    std::fs::write(&status, text).unwrap();
    repo.write(
        "vendor/rootfs/usr/lib/python3/dist-packages/nolicense-0.1.dist-info/METADATA",
        "Metadata-Version: 2.1\nName: nolicense\nVersion: 0.1\n",
    );
}

/// The `[[override]]` blocks of an error message (each up to the next blank line).
fn override_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in text.lines() {
        if line.trim() == "[[override]]" {
            if let Some(b) = current.take() {
                blocks.push(b.join("\n"));
            }
            current = Some(vec![line.trim()]);
        } else if let Some(b) = current.as_mut() {
            if line.trim().is_empty() || !line.contains('=') {
                blocks.push(b.join("\n"));
                current = None;
            } else {
                b.push(line.trim());
            }
        }
    }
    if let Some(b) = current {
        blocks.push(b.join("\n"));
    }
    blocks
}

#[test]
fn missing_license_texts_fail_with_the_overrides_to_paste_and_pass_once_pasted() {
    let (repo, _) = licensed_repo();
    add_packages_without_texts(&repo);
    let image = format!("{}/licensed_sdk:t", repo.root);
    let run = build_pulling_licenses_plain(&repo);
    run.expect_code(1);
    let err = run.stderr();
    for offender in ["debian mystery-tool 0.9-1", "python nolicense 0.1"] {
        assert_eq!(
            err.matches(&format!("- {offender}: no license text found"))
                .count(),
            1,
            "{offender} listed once: {err}"
        );
    }
    for fine in ["itoa", "six", "hostname"] {
        assert!(
            !err.contains(&format!(" {fine} ")),
            "{fine} is no offender: {err}"
        );
    }
    assert!(
        docker_image_id(&image).is_none(),
        "a license failure applied the tag"
    );
    // Checked last, so the rest of the flow runs whatever this says.
    let doubled_prefix = err.contains("licenses: licenses:").then(|| err.clone());

    let blocks = override_blocks(&err);
    let mut names: Vec<&str> = blocks
        .iter()
        .map(|b| {
            b.lines()
                .find_map(|l| l.strip_prefix("name = "))
                .unwrap_or("")
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["\"mystery-tool\"", "\"nolicense\""],
        "one entry per offender: {err}"
    );

    // Paste them as printed: put a text where each says, and state the license.
    let mut overrides = String::new();
    for block in &blocks {
        let parsed: toml::Table = toml::from_str(block)
            .unwrap_or_else(|e| panic!("the printed entry is not TOML ({e}):\n{block}"));
        let files = parsed["override"][0]["files"]
            .as_array()
            .expect("the entry names a text file");
        for file in files {
            repo.write(
                &format!("licenses/{}", file.as_str().unwrap()),
                "Permission is hereby granted, free of charge (MIT).\n",
            );
        }
        overrides.push_str(&block.replace("LicenseRef-UNKNOWN", "MIT"));
        overrides.push_str("\n\n");
    }
    repo.write("licenses/overrides.toml", &overrides);

    let run = build_pulling_licenses_plain(&repo);
    run.success();
    let index = index_in_image(&image, DEST);
    let entries = entries_by_key(&index);
    assert_eq!(entries.len(), 5, "{index:#}");
    for key in ["debian/mystery-tool", "python/nolicense"] {
        assert_eq!(entries[key]["license"], "MIT", "{key}");
        assert_eq!(entries[key]["files"][0]["path"], "LICENSE", "{key}");
    }
    assert_eq!(
        doubled_prefix, None,
        "the failure's cause is prefixed `licenses: ` twice"
    );
}

#[test]
fn a_policy_that_does_not_allow_a_license_fails_naming_it() {
    let (repo, hostname_version) = licensed_repo();
    repo.write(
        "licenses/policy.toml",
        "allow = [\"MIT\", \"Apache-2.0\"]\n",
    );
    let run = build_pulling_licenses_plain(&repo);
    run.expect_code(1);
    let err = run.stderr();
    let offender = err
        .lines()
        .find(|l| {
            l.trim_start()
                .starts_with(&format!("- debian hostname {hostname_version}:"))
        })
        .unwrap_or_else(|| panic!("hostname is not named: {err}"));
    assert!(offender.contains("GPL"), "names the license: {offender}");
    assert!(err.contains("policy.toml"), "{err}");
    // What to do is to allow the license (an override of the same license changes nothing).
    assert!(err.contains("add \"GPL"), "{err}");
    assert!(
        !err.contains("Add the texts under"),
        "the texts are there: {err}"
    );
    for allowed in ["itoa", "six"] {
        assert!(
            !err.contains(&format!("- cargo {allowed}"))
                && !err.contains(&format!("- python {allowed}")),
            "{err}"
        );
    }
    assert!(docker_image_id(&format!("{}/licensed_sdk:t", repo.root)).is_none());
}

#[test]
fn licenses_out_writes_the_index_and_texts_of_each_image() {
    let (repo, hostname_version) = licensed_repo();
    let out = repo.file("out/licenses");
    repo.run(&[
        "licenses",
        "--out",
        out.to_str().unwrap(),
        "--progress",
        "none",
    ])
    .success();
    let index = read_index(&out);
    assert_eq!(indexed_files(&index), expected_files(&hostname_version));
    for file in expected_files(&hostname_version) {
        assert!(out.join("licensed_sdk").join(&file).is_file(), "{file}");
    }
}

#[test]
fn licenses_out_of_a_cargo_only_manifest_needs_no_engine() {
    let (repo, _) = licensed_repo();
    let manifest = std::fs::read_to_string(repo.file("sdk/sdkimage.toml")).unwrap();
    let cargo_only = manifest
        .lines()
        .filter(|l| !l.contains("kind = \"python\"") && !l.contains("kind = \"debian\""))
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(cargo_only.trim(), manifest.trim());
    repo.write("sdk/sdkimage.toml", &cargo_only);
    let out = repo.file("out/licenses");
    let run = repo.run_with(
        &["licenses", "--out", out.to_str().unwrap()],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    run.success();
    let index = read_index(&out);
    assert_eq!(
        indexed_files(&index),
        [
            "cargo/itoa-1.0.18/LICENSE-APACHE",
            "cargo/itoa-1.0.18/LICENSE-MIT"
        ]
    );
    let mit =
        std::fs::read_to_string(out.join("licensed_sdk/cargo/itoa-1.0.18/LICENSE-MIT")).unwrap();
    assert!(mit.contains("Permission is hereby granted"));
}

#[test]
fn a_malformed_overrides_or_policy_file_stops_the_run_before_anything_is_built() {
    let (repo, _) = licensed_repo();
    repo.write(
        "licenses/overrides.toml",
        "[[override]]\necosystem = \"pyhton\"\nname = \"six\"\nskip = \"x\"\n",
    );
    for args in [
        &["build", "--pull-licenses", "--progress", "plain"][..],
        &["licenses", "--out", "out", "--progress", "plain"][..],
    ] {
        let run = repo.run(args);
        run.expect_code(2);
        let err = run.stderr();
        assert!(err.contains("overrides.toml:2:13"), "{args:?}: {err}");
        assert!(!err.contains("building"), "{args:?}: {err}");
    }
    repo.write("licenses/overrides.toml", "");
    repo.write("licenses/policy.toml", "allow = [\"MIT\", \"MTI\"]\n");
    let run = repo.run(&["build", "--pull-licenses", "--progress", "plain"]);
    run.expect_code(2);
    run.assert_stderr_contains("policy.toml:1:18");
    // Without --pull-licenses the files are not read.
    repo.run(&["build", "--progress", "none"]).success();
}

/// A dependency added to a crate and `Cargo.lock` not updated yet (`cargo build` would update
/// it): the license gathering resolves on a copy, finds the new crate, and leaves the user's
/// lock file as it was. `--locked` from the user is honoured, as cargo does.
#[test]
fn a_lock_file_behind_its_manifests_neither_fails_nor_changes() {
    let repo = Repo::new("stale-lock");
    let lock = std::fs::read(repo.file("Cargo.lock")).unwrap();

    let locked = repo.run(&[
        "build",
        "--locked",
        "--pull-licenses",
        "--progress",
        "plain",
    ]);
    locked.expect_code(1);
    locked.assert_stderr_contains("--locked was passed");

    let run = build_pulling_licenses_plain(&repo);
    run.success();
    assert_eq!(
        std::fs::read(repo.file("Cargo.lock")).unwrap(),
        lock,
        "Cargo.lock was changed"
    );
    let image = format!("{}/stale_sdk:t", repo.root);
    let index = index_in_image(&image, "/opt/stale/licenses");
    let entries = entries_by_key(&index);
    assert_eq!(
        entries.keys().map(String::as_str).collect::<Vec<_>>(),
        ["cargo/stale-lock-helper"]
    );
    assert_eq!(entries["cargo/stale-lock-helper"]["license"], "MIT");
    let (_, license) = sh(
        &image,
        "cat /opt/stale/licenses/cargo/stale-lock-helper-0.2.0/LICENSE",
    );
    assert!(license.contains("stale-lock fixture"), "{license}");
}
