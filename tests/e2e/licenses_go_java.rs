//! Go and Java licenses through the built binary, read from what the image holds: the
//! `licensed-go-java` fixture's image has a Go launcher built here by Debian's `golang-go`
//! (offline, its two requirements `replace`d by local folders with LICENSE files), the same
//! launcher cross-built for arm64 (read, never run), and Debian's commons-lang3 and slf4j-api
//! jars, with Debian's parent POMs as the Maven repository.

use crate::support::Repo;
use crate::support::images::sh;
use crate::support::licenses::{
    BUILD_PULLING_LICENSES, entry, go_build, index_in_image, purls, read_sbom, sha256_hex,
    stage_debian_jars,
};

const DEST: &str = "/opt/apache/beam/third_party_licenses";
const EPOCH: (&str, &str) = ("SOURCE_DATE_EPOCH", "1700000000");

/// The fixture with `vendor/payload` (Go binaries, jars) and `vendor/maven-repo` staged.
fn go_java_repo() -> Repo {
    let repo = Repo::new("licensed-go-java");
    let payload = repo.file("vendor/payload");
    std::fs::create_dir_all(&payload).unwrap();
    go_build(&repo.file("boot"), ".", "amd64", &payload.join("boot"));
    // The arm64 build requires another alpha version, so its modules are told apart from the
    // amd64 binary's in the index.
    let go_mod = std::fs::read_to_string(repo.file("boot/go.mod")).unwrap();
    repo.write(
        "boot/go.mod",
        &go_mod.replace("example.com/alpha v1.2.0", "example.com/alpha v1.3.0"),
    );
    go_build(
        &repo.file("boot"),
        ".",
        "arm64",
        &payload.join("boot-arm64"),
    );
    stage_debian_jars(&repo, &payload.join("jars"));
    repo
}

#[test]
fn go_modules_and_jars_land_in_the_image_and_its_sbom() {
    let repo = go_java_repo();
    let build = |extra: &[&str]| {
        let args = [&BUILD_PULLING_LICENSES[..], extra].concat();
        repo.run_with(&args, &[EPOCH, ("GOMODCACHE", "/nonexistent")])
    };
    // slf4j-api 1.7.32: no license text in the jar, no license in its POM nor in Debian's
    // parent POM. Missing, by its Maven coordinates, until an override names it.
    let failed = build(&[]);
    failed.expect_code(1);
    failed.assert_stderr_contains("maven org.slf4j:slf4j-api 1.7.32: no license text found");
    assert!(
        failed
            .stderr()
            .contains("ecosystem = \"maven\"\nname = \"org.slf4j:slf4j-api\""),
        "the entry to paste: {}",
        failed.stderr()
    );
    std::fs::rename(
        repo.file("licenses/overrides.toml.later"),
        repo.file("licenses/overrides.toml"),
    )
    .unwrap();
    let sbom_dir = repo.file("sbom");
    build(&["--sbom-dir", sbom_dir.to_str().unwrap()]).success();

    let image = format!("{}/gojava_sdk:t", repo.root);
    let index = index_in_image(&image, DEST);

    // Go: both binaries' modules (arm64 read without running it), the main module left out.
    assert!(
        !index.to_string().contains("example.com/beam/boot"),
        "the main module is first-party: {index:#}"
    );
    for version in ["v1.2.0", "v1.3.0"] {
        let alpha = entry(&index, "go", "example.com/alpha", version);
        assert_eq!(alpha["license"], "MIT");
        assert_eq!(alpha["license_identified_from"], "LICENSE");
        assert_eq!(
            alpha["files"][0]["source"],
            "module-source:../third_party/alpha/LICENSE"
        );
    }
    let beta = entry(&index, "go", "github.com/Example/Beta", "v0.3.1");
    assert_eq!(beta["license"], "BSD-3-Clause");
    let folder = beta["folder"].as_str().unwrap();
    let (code, text) = sh(&image, &format!("cat '{DEST}/{folder}/LICENSE'"));
    assert_eq!(code, 0);
    assert!(text.contains("The Beta Authors"), "{text}");

    // Java: commons-lang3's own META-INF texts; its license identified from LICENSE.txt.
    let lang = entry(
        &index,
        "maven",
        "org.apache.commons:commons-lang3",
        "3.12.0",
    );
    assert_eq!(lang["license"], "Apache-2.0");
    assert_eq!(lang["license_identified_from"], "LICENSE.txt");
    let sources: Vec<&str> = lang["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["source"].as_str().unwrap())
        .collect();
    assert_eq!(
        sources,
        [
            "image:/opt/apache/beam/jars/commons-lang3-3.12.0.jar!/META-INF/LICENSE.txt",
            "image:/opt/apache/beam/jars/commons-lang3-3.12.0.jar!/META-INF/NOTICE.txt",
        ]
    );
    let folder = lang["folder"].as_str().unwrap();
    let (_, text) = sh(&image, &format!("cat '{DEST}/{folder}/LICENSE.txt'"));
    assert!(text.contains("Apache License"), "{text}");
    let slf4j = entry(&index, "maven", "org.slf4j:slf4j-api", "1.7.32");
    assert_eq!(slf4j["license"], "MIT");
    assert!(
        slf4j["files"][0]["source"]
            .as_str()
            .unwrap()
            .ends_with("texts/slf4j-LICENSE.txt")
    );

    // The SBOM: valid, with golang and maven purls and the jar's sha256.
    let file = sbom_dir.join("gojava_sdk.spdx.json");
    let doc = read_sbom(&file);
    let purls = purls(&doc);
    for wanted in [
        "pkg:golang/example.com/alpha@v1.2.0",
        "pkg:golang/example.com/alpha@v1.3.0",
        "pkg:maven/org.apache.commons/commons-lang3@3.12.0",
        "pkg:maven/org.slf4j/slf4j-api@1.7.32",
    ] {
        assert!(purls.contains(&wanted), "{wanted} not in {purls:?}");
    }
    assert!(
        purls
            .iter()
            .any(|p| p.starts_with("pkg:golang/github.com/") && p.ends_with("@v0.3.1")),
        "{purls:?}"
    );
    let jar = repo.file("vendor/payload/jars/commons-lang3-3.12.0.jar");
    let sha = sha256_hex(&jar);
    let lang = doc
        .packages
        .iter()
        .find(|p| p.name == "org.apache.commons:commons-lang3")
        .unwrap();
    assert_eq!(lang.checksums[0].checksum_value, sha);
    assert_eq!(lang.license_declared, "Apache-2.0");
}
