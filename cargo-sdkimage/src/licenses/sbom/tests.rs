use super::*;
use crate::licenses::Origin;

fn entry(ecosystem: Ecosystem, name: &str, version: &str, license: Option<&str>) -> LicenseEntry {
    LicenseEntry::new(ecosystem, name, version, license.map(str::to_string))
}

fn resolved(entries: Vec<LicenseEntry>) -> Vec<Resolved> {
    entries
        .into_iter()
        .map(|entry| Resolved { entry })
        .collect()
}

/// One package of each ecosystem, with what each gatherer knows of its origin, and licenses
/// that are SPDX, not SPDX, and missing.
fn sample() -> Vec<Resolved> {
    let mut itoa = entry(
        Ecosystem::Cargo,
        "itoa",
        "1.0.18",
        Some("MIT OR Apache-2.0"),
    );
    itoa.origin = Origin {
        download: Some("https://crates.io/api/v1/crates/itoa/1.0.18/download".into()),
        sha256: Some("4A5F13B858C8D314EE3E8F639011F7CCEFE71F97F96E50151FB991F267928E2C".into()),
        arch: None,
    };
    let mut hostname = entry(
        Ecosystem::Debian,
        "hostname",
        "1:3.23+nmu1",
        Some("GPL-2+ AND public-domain"),
    );
    hostname.origin.arch = Some("amd64".into());
    let packaging = entry(
        Ecosystem::Python,
        "Packaging_Tools",
        "25.0",
        Some("Apache Software License, BSD License"),
    );
    let mystery = entry(Ecosystem::Debian, "mystery", "0.9-1", None);
    resolved(vec![mystery, packaging, hostname, itoa])
}

fn parse(bytes: &[u8]) -> Document {
    serde_json::from_slice(bytes).expect("the SBOM is JSON of the document type")
}

#[test]
fn purls_per_ecosystem() {
    let sample = sample();
    let purls: Vec<String> = sample.iter().filter_map(|r| purl(r.entry())).collect();
    assert_eq!(
        purls,
        [
            "pkg:deb/debian/mystery@0.9-1",
            "pkg:pypi/packaging-tools@25.0",
            "pkg:deb/debian/hostname@1:3.23%2Bnmu1?arch=amd64",
            "pkg:cargo/itoa@1.0.18",
        ]
    );
    let go = entry(Ecosystem::Go, "github.com/Example/Beta", "v0.3.1", None);
    let maven = entry(Ecosystem::Maven, "org.slf4j:slf4j-api", "1.7.32", None);
    let bare_jar = entry(Ecosystem::Maven, "app.jar", "sha256-0123456789abcdef", None);
    assert_eq!(
        [&go, &maven, &bare_jar].map(purl),
        [
            // packageurl lowercases a golang namespace, as purl-spec says for the type.
            Some("pkg:golang/github.com/example/Beta@v0.3.1".to_string()),
            Some("pkg:maven/org.slf4j/slf4j-api@1.7.32".to_string()),
            None,
        ]
    );
}

#[test]
fn declared_licenses_become_valid_expressions() {
    let mut refs = LicenseRefs::default();
    let mut expr = |declared: Option<&str>| refs.expression(declared);
    assert_eq!(expr(Some("MIT OR Apache-2.0")), "MIT OR Apache-2.0");
    assert_eq!(expr(Some("MIT/Apache-2.0")), "MIT OR Apache-2.0");
    assert_eq!(
        expr(Some("GPL-3.0-or-later WITH GCC-exception-3.1")),
        "GPL-3.0-or-later WITH GCC-exception-3.1"
    );
    assert_eq!(
        expr(Some("(MIT or Apache-2.0) and BSD-3-Clause")),
        "(MIT OR Apache-2.0) AND BSD-3-Clause"
    );
    assert_eq!(expr(None), NOASSERTION);
    assert_eq!(expr(Some("  ")), NOASSERTION);
    assert_eq!(expr(Some("LicenseRef-UNKNOWN")), "LicenseRef-UNKNOWN");
    // A name that is no SPDX id is a reference of its own, kept apart from the SPDX ids.
    assert_eq!(
        expr(Some("MIT AND public-domain")),
        "MIT AND LicenseRef-public-domain"
    );
    // A name that had to change to fit gets a hash, so `a b` and `a_b` stay apart.
    let spaced = expr(Some("Apache Software License, BSD License"));
    assert!(
        spaced.starts_with("LicenseRef-Apache-Software-License--BSD-License-"),
        "{spaced}"
    );
    assert_ne!(expr(Some("a b")), expr(Some("a_b")));
    // An exception that SPDX does not know cannot be a reference (2.3): the whole declaration
    // is one.
    let exception = expr(Some("MIT WITH Our-exception"));
    assert!(
        exception.starts_with("LicenseRef-MIT-WITH-Our-exception-"),
        "{exception}"
    );
    let infos = refs.into_infos();
    let ids: Vec<&str> = infos.iter().map(|i| i.license_id.as_str()).collect();
    assert!(ids.contains(&"LicenseRef-UNKNOWN"), "{ids:?}");
    assert!(ids.contains(&"LicenseRef-public-domain"), "{ids:?}");
    assert!(ids.contains(&spaced.as_str()), "{ids:?}");
    let public = infos
        .iter()
        .find(|i| i.license_id == "LicenseRef-public-domain")
        .expect("listed");
    assert_eq!(public.extracted_text, "public-domain");
    for info in &infos {
        assert!(
            spdx::Expression::parse(&info.license_id).is_ok(),
            "{info:?}"
        );
    }
}

#[test]
fn the_document_describes_the_image_which_contains_each_package() {
    let doc = parse(&document("python_sdk", "2023-11-14T22:13:20Z", &sample()).expect("sbom"));
    assert_eq!(doc.spdx_version, "SPDX-2.3");
    assert_eq!(doc.data_license, "CC0-1.0");
    assert_eq!(doc.name, "python_sdk");
    assert_eq!(doc.creation_info.created, "2023-11-14T22:13:20Z");
    assert_eq!(doc.packages.len(), 5);
    assert_eq!(doc.packages[0].spdx_id, IMAGE_ID);
    assert_eq!(doc.packages[0].name, "python_sdk");
    assert_eq!(
        (
            doc.relationships[0].spdx_element_id.as_str(),
            doc.relationships[0].relationship_type.as_str(),
            doc.relationships[0].related_spdx_element.as_str()
        ),
        ("SPDXRef-DOCUMENT", "DESCRIBES", IMAGE_ID)
    );
    let contained: Vec<&str> = doc.relationships[1..]
        .iter()
        .inspect(|r| {
            assert_eq!(
                (r.spdx_element_id.as_str(), r.relationship_type.as_str()),
                (IMAGE_ID, "CONTAINS")
            );
        })
        .map(|r| r.related_spdx_element.as_str())
        .collect();
    let packages: Vec<&str> = doc.packages[1..]
        .iter()
        .map(|p| p.spdx_id.as_str())
        .collect();
    assert_eq!(contained, packages);
    // Sorted by ecosystem, name and version, whatever the gathering's order.
    assert_eq!(
        packages,
        [
            "SPDXRef-Package-cargo-itoa-1.0.18",
            "SPDXRef-Package-debian-hostname-1-3.23-nmu1",
            "SPDXRef-Package-debian-mystery-0.9-1",
            "SPDXRef-Package-python-Packaging-Tools-25.0",
        ]
    );
    let itoa = &doc.packages[1];
    assert_eq!(itoa.version_info.as_deref(), Some("1.0.18"));
    assert_eq!(itoa.license_declared, "MIT OR Apache-2.0");
    assert_eq!(
        itoa.download_location,
        "https://crates.io/api/v1/crates/itoa/1.0.18/download"
    );
    assert_eq!(itoa.checksums[0].algorithm, "SHA256");
    assert_eq!(
        itoa.checksums[0].checksum_value,
        "4a5f13b858c8d314ee3e8f639011f7ccefe71f97f96e50151fb991f267928e2c"
    );
    assert_eq!(
        itoa.external_refs[0].reference_locator,
        "pkg:cargo/itoa@1.0.18"
    );
    let mystery = &doc.packages[3];
    assert_eq!(mystery.license_declared, NOASSERTION);
    assert_eq!(mystery.download_location, NOASSERTION);
    assert!(mystery.checksums.is_empty());
    assert!(!mystery.files_analyzed);
    let used: Vec<&str> = doc
        .has_extracted_licensing_infos
        .iter()
        .map(|i| i.license_id.as_str())
        .collect();
    // `GPL-2+` (as Debian writes it), `public-domain`, and the whole of packaging's.
    assert_eq!(used.len(), 3, "{used:?}");
    assert_eq!(used[2], "LicenseRef-public-domain");
    assert_eq!(
        doc.packages[2].license_declared,
        format!("{} AND LicenseRef-public-domain", used[1])
    );
    assert!(used[1].starts_with("LicenseRef-GPL-2-"), "{used:?}");
}

#[test]
fn same_inputs_same_bytes_and_the_namespace_follows_the_content() {
    let created = "2023-11-14T22:13:20Z";
    let first = document("python_sdk", created, &sample()).expect("sbom");
    let mut reversed = sample();
    reversed.reverse();
    assert_eq!(
        first,
        document("python_sdk", created, &reversed).expect("sbom")
    );
    let namespace = |bytes: &[u8]| parse(bytes).document_namespace;
    let ns = namespace(&first);
    assert!(
        ns.starts_with("https://sdkimage.invalid/spdx/python_sdk-"),
        "{ns}"
    );
    assert!(!ns.contains('#'));
    let later = document("python_sdk", "2023-11-14T22:13:21Z", &sample()).expect("sbom");
    assert_ne!(namespace(&later), ns, "another time, another document");
    let mut fewer = sample();
    fewer.pop();
    let other = document("python_sdk", created, &fewer).expect("sbom");
    assert_ne!(namespace(&other), ns, "other packages, another document");
    assert!(first.ends_with(b"}\n"));
}

#[test]
fn the_real_validator_accepts_the_document() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("python_sdk.spdx.json");
    let mut entries = sample();
    entries.extend(resolved(vec![
        entry(Ecosystem::Python, "a_b", "1", Some("a b")),
        entry(Ecosystem::Python, "a-b", "1", Some("a_b")),
        entry(
            Ecosystem::Debian,
            "gcc",
            "12",
            Some("GPL-3.0-or-later WITH GCC-exception-3.1"),
        ),
        entry(
            Ecosystem::Cargo,
            "odd",
            "0.1.0",
            Some("MIT WITH Our-exception"),
        ),
        entry(
            Ecosystem::Cargo,
            "unknown",
            "0.1.0",
            Some("LicenseRef-UNKNOWN"),
        ),
    ]));
    std::fs::write(
        &file,
        document("python_sdk", "2023-11-14T22:13:20Z", &entries).expect("sbom"),
    )
    .expect("write");
    crate::licenses::tests::validate_spdx(&file);
}
