//! The SPDX SBOM through the built binary, on the `licensed` fixture (a crates.io crate, a
//! Debian package and a Python dist): validated by the real SPDX validator (`pyspdxtools`,
//! which `scripts/test` installs), the same bytes in the image, in `--sbom-dir` and from
//! `licenses`, and the same bytes again on a second run with the same `SOURCE_DATE_EPOCH`.

use sdkimage::licenses::sbom::{Document, IMAGE_ID, NOASSERTION};

use crate::licenses::{DEST, licensed_repo, licensed_two_platforms};
use crate::support::Repo;
use crate::support::images::{file_bytes_in, sh};
use crate::support::licenses::{BUILD_PULLING_LICENSES, validate};

const EPOCH: (&str, &str) = ("SOURCE_DATE_EPOCH", "1700000000");

/// `build --pull-licenses --sbom-dir <dir>` with `SOURCE_DATE_EPOCH` set; the file's bytes.
fn build_with_sbom(repo: &Repo, dir: &str, extra: &[&str]) -> Vec<u8> {
    let sbom_dir = repo.file(dir);
    let args = [
        &BUILD_PULLING_LICENSES[..],
        &["--sbom-dir", sbom_dir.to_str().unwrap()],
        extra,
    ]
    .concat();
    repo.run_with(&args, &[EPOCH]).success();
    std::fs::read(sbom_dir.join("licensed_sdk.spdx.json")).expect("--sbom-dir has the SBOM")
}

#[test]
fn build_and_licenses_write_one_valid_deterministic_sbom_which_the_image_holds() {
    let (repo, hostname_version) = licensed_repo();
    let built = build_with_sbom(&repo, "sbom-1", &[]);
    let file = repo.file("sbom-1/licensed_sdk.spdx.json");
    validate(&file);

    let doc: Document = serde_json::from_slice(&built).unwrap();
    assert_eq!(doc.spdx_version, "SPDX-2.3");
    assert_eq!(doc.name, "licensed_sdk");
    assert_eq!(doc.creation_info.created, "2023-11-14T22:13:20Z");
    let purl = |name: &str| {
        let p = doc.packages.iter().find(|p| p.name == name).unwrap();
        (p.external_refs[0].reference_locator.clone(), p)
    };
    let (itoa_purl, itoa) = purl("itoa");
    assert_eq!(itoa_purl, "pkg:cargo/itoa@1.0.18");
    assert_eq!(itoa.license_declared, "MIT OR Apache-2.0");
    assert_eq!(
        itoa.download_location,
        "https://crates.io/api/v1/crates/itoa/1.0.18/download"
    );
    let lock = std::fs::read_to_string(repo.file("Cargo.lock")).unwrap();
    let itoa_lock = &lock[lock.find("name = \"itoa\"").unwrap()..];
    assert!(
        itoa_lock.contains(&format!(
            "checksum = \"{}\"",
            itoa.checksums[0].checksum_value
        )),
        "the checksum is Cargo.lock's: {itoa:?}"
    );
    let (six_purl, six) = purl("six");
    assert_eq!(six_purl, "pkg:pypi/six@1.16.0");
    assert_eq!(six.license_declared, "MIT");
    assert_eq!(six.download_location, NOASSERTION);
    let (hostname_purl, _) = purl("hostname");
    let status = std::fs::read_to_string(repo.file("vendor/rootfs/var/lib/dpkg/status")).unwrap();
    let arch = status
        .lines()
        .find_map(|l| l.strip_prefix("Architecture: "))
        .unwrap();
    assert_eq!(
        hostname_purl,
        format!(
            "pkg:deb/debian/hostname@{}?arch={arch}",
            hostname_version.replace('+', "%2B")
        )
    );
    // The document describes the image, which contains each package.
    let described: Vec<_> = doc
        .relationships
        .iter()
        .filter(|r| r.relationship_type == "DESCRIBES")
        .collect();
    assert_eq!(described.len(), 1);
    assert_eq!(described[0].related_spdx_element, IMAGE_ID);
    let contained = doc
        .relationships
        .iter()
        .filter(|r| r.relationship_type == "CONTAINS" && r.spdx_element_id == IMAGE_ID)
        .count();
    assert_eq!(contained, 3, "{:?}", doc.relationships);

    // The image holds the same bytes.
    let image = format!("{}/licensed_sdk:t", repo.root);
    let (code, in_image) = sh(&image, &format!("cat {DEST}/sbom.spdx.json"));
    assert_eq!(code, 0, "no {DEST}/sbom.spdx.json in the image");
    assert_eq!(
        in_image.as_bytes(),
        built,
        "the image's SBOM is --sbom-dir's"
    );

    // `licenses --out --sbom-dir` from the same inputs: the same bytes, in both places.
    let out = repo.file("out");
    let sbom_dir = repo.file("sbom-licenses");
    let run = repo.run_with(
        &[
            "licenses",
            "--out",
            out.to_str().unwrap(),
            "--sbom-dir",
            sbom_dir.to_str().unwrap(),
            "--repository-root",
            &repo.root,
            "--tag",
            "t",
            "--progress",
            "none",
        ],
        &[EPOCH],
    );
    run.success();
    let from_licenses = std::fs::read(sbom_dir.join("licensed_sdk.spdx.json")).unwrap();
    assert_eq!(
        from_licenses, built,
        "licenses --sbom-dir wrote other bytes"
    );
    let in_out = std::fs::read(out.join("licensed_sdk/sbom.spdx.json")).unwrap();
    assert_eq!(in_out, built, "licenses --out wrote other bytes");

    // A second build (a real one: --force gathers again) gives the same bytes; so does an
    // up-to-date run, which copies the document out of the image.
    assert_eq!(build_with_sbom(&repo, "sbom-2", &["--force"]), built);
    assert_eq!(build_with_sbom(&repo, "sbom-3", &[]), built);
    // Another time is another document.
    let later = repo.run_with(
        &[
            "licenses",
            "--out",
            out.to_str().unwrap(),
            "--sbom-dir",
            sbom_dir.to_str().unwrap(),
            "--repository-root",
            &repo.root,
            "--tag",
            "t",
            "--progress",
            "none",
        ],
        &[("SOURCE_DATE_EPOCH", "1700000001")],
    );
    later.success();
    let later: Document =
        serde_json::from_slice(&std::fs::read(sbom_dir.join("licensed_sdk.spdx.json")).unwrap())
            .unwrap();
    assert_eq!(later.creation_info.created, "2023-11-14T22:13:21Z");
    assert_ne!(later.document_namespace, doc.document_namespace);
}

#[test]
fn bad_sbom_input_is_refused_before_anything_is_built() {
    let (repo, _) = licensed_repo();
    let run = repo.run(&["build", "--sbom-dir", "sbom", "--progress", "plain"]);
    run.expect_code(2);
    run.assert_stderr_contains("--pull-licenses");
    for args in [
        &[
            "build",
            "--pull-licenses",
            "--sbom-dir",
            "sbom",
            "--progress",
            "plain",
        ][..],
        &[
            "licenses",
            "--out",
            "out",
            "--sbom-dir",
            "sbom",
            "--progress",
            "plain",
        ][..],
    ] {
        let run = repo.run_with(args, &[("SOURCE_DATE_EPOCH", "last tuesday")]);
        run.expect_code(2);
        let err = run.stderr();
        assert!(
            err.contains("SOURCE_DATE_EPOCH=\"last tuesday\""),
            "{args:?}: {err}"
        );
        assert!(!err.contains("building"), "{args:?}: {err}");
    }
    assert!(!repo.file("sbom").exists());
}

/// A two-platform image: one document per platform's image, the refs' platform under the
/// image's name, the other with its platform in the file name; each the bytes of its image.
#[test]
fn each_platform_of_an_image_has_its_document() {
    let (repo, _) = licensed_repo();
    // Each platform's dpkg status names its architecture. No RUN: nothing needs emulation.
    let (status, native) = licensed_two_platforms(&repo);
    for arch in ["amd64", "arm64"] {
        // Of one size, differing in these five bytes only. Not byte-equal to the rootfs's
        // status (the trailing newline): engines that ran this test before the context's
        // content-derived mtimes hold cached `COPY status-*` steps with empty layers (see the
        // README's "Changed files and the engine's layer diff"), which BuildKit would reuse.
        let own = status.replace(
            &format!("Architecture: {native}"),
            &format!("Architecture: {arch}"),
        ) + "\n";
        repo.write(&format!("sdk/status-{arch}"), &own);
    }
    let sbom_dir = repo.file("sbom");
    repo.run_with(
        &[
            &BUILD_PULLING_LICENSES[..],
            &["--sbom-dir", sbom_dir.to_str().unwrap()],
        ]
        .concat(),
        &[EPOCH],
    )
    .success();
    let mut files: Vec<String> = std::fs::read_dir(&sbom_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "licensed_sdk.linux-arm64.spdx.json",
            "licensed_sdk.spdx.json"
        ]
    );
    let image = format!("{}/licensed_sdk:t", repo.root);
    for (file, image, arch) in [
        ("licensed_sdk.spdx.json", image.clone(), "amd64"),
        (
            "licensed_sdk.linux-arm64.spdx.json",
            format!("{image}-linux-arm64"),
            "arm64",
        ),
    ] {
        let path = sbom_dir.join(file);
        validate(&path);
        let copied = file_bytes_in(&image, &format!("{DEST}/sbom.spdx.json"));
        assert_eq!(
            copied,
            std::fs::read(&path).unwrap(),
            "{file} is not {image}'s"
        );
        let doc: Document = serde_json::from_slice(&copied).unwrap();
        assert_eq!(
            doc.packages.len(),
            4,
            "{file}: the image and its 3 packages"
        );
        let hostname = doc.packages.iter().find(|p| p.name == "hostname").unwrap();
        let purl = &hostname.external_refs[0].reference_locator;
        assert!(purl.ends_with(&format!("?arch={arch}")), "{file}: {purl}");
    }
}
