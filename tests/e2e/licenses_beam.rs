//! The Beam-like fixture `beam-go-java`, shaped like Apache Beam's SDK containers today: the
//! `boot` launcher of the Go and Java images is a Go binary of the one module at `sdks/go.mod`
//! (built here offline by Debian's `golang-go`, its two requirements `replace`d by local
//! folders), and the Java image holds Debian's commons-lang3 and slf4j-api jars in
//! `/opt/apache/beam/jars`, their parent POMs followed through the workspace's `maven-repo`,
//! plus a jar made here whose only license is in its parent POM in that repository (MIT), so it
//! ships the SPDX standard text. Built with `--pull-licenses`, each image's `index.json` and
//! SBOM hold its Go modules and jars.

use std::io::Write as _;

use crate::support::images::sh;
use crate::support::licenses::{
    BUILD_PULLING_LICENSES, entry, go_build, index_in_image, purls, read_sbom, sha256_hex,
    stage_debian_jars,
};
use crate::support::{Repo, docker_run};

const DEST: &str = "/opt/apache/beam/third_party_licenses";

/// The fixture with each container's `target/boot`, the Java image's `target/jars/` and the
/// workspace's `vendor/maven-repo` staged, as Beam's Gradle tasks stage them.
fn beam_repo() -> Repo {
    let repo = Repo::new("beam-go-java");
    for lang in ["go", "java"] {
        let out = repo.file(&format!("sdks/{lang}/container/target/boot"));
        go_build(
            &repo.file("sdks"),
            &format!("./{lang}/container"),
            "amd64",
            &out,
        );
    }
    let jars = repo.file("sdks/java/container/target/jars");
    stage_debian_jars(&repo, &jars);
    // A jar whose POM declares no license and names a parent that declares MIT.
    repo.write(
        "vendor/maven-repo/org/example/example-parent/3/example-parent-3.pom",
        "<project><groupId>org.example</groupId><artifactId>example-parent</artifactId>\
         <version>3</version><licenses><license><name>MIT License</name>\
         <url>https://opensource.org/licenses/MIT</url></license></licenses></project>",
    );
    let mut jar = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let pom = "<project><parent><groupId>org.example</groupId>\
               <artifactId>example-parent</artifactId><version>3</version></parent>\
               <artifactId>harness-util</artifactId><version>1.0</version></project>";
    for (name, data) in [
        (
            "META-INF/maven/org.example/harness-util/pom.properties",
            "groupId=org.example\nartifactId=harness-util\nversion=1.0\n",
        ),
        ("META-INF/maven/org.example/harness-util/pom.xml", pom),
    ] {
        jar.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        jar.write_all(data.as_bytes()).unwrap();
    }
    let bytes = jar.finish().unwrap().into_inner();
    std::fs::write(jars.join("harness-util-1.0.jar"), bytes).unwrap();
    repo
}

#[test]
fn the_beam_go_and_java_images_hold_their_go_modules_and_jars() {
    let repo = beam_repo();
    let sbom_dir = repo.file("sbom");
    repo.run_with(
        &[
            &BUILD_PULLING_LICENSES[..],
            &["--sbom-dir", sbom_dir.to_str().unwrap()],
        ]
        .concat(),
        &[
            ("SOURCE_DATE_EPOCH", "1700000000"),
            ("GOMODCACHE", "/nonexistent"),
        ],
    )
    .success();

    for (image, lang) in [("beam_go_sdk", "go"), ("beam_java11_sdk", "java")] {
        let tag = format!("{}/{image}:t", repo.root);
        // The launcher is the real Go binary, and it runs.
        let out = docker_run(&tag);
        assert_eq!(out.trim(), format!("beam boot: {lang} flags retry"));

        let index = index_in_image(&tag, DEST);
        assert!(
            !index.to_string().contains("github.com/apache/beam/sdks/v2"),
            "the main module is first-party: {index:#}"
        );
        let flags = entry(&index, "go", "example.com/flags", "v1.4.0");
        assert_eq!(flags["license"], "MIT");
        assert_eq!(
            flags["files"][0]["source"],
            "module-source:../third_party/flags/LICENSE"
        );
        let retry = entry(&index, "go", "github.com/Example/Retry", "v0.2.1");
        assert_eq!(retry["license"], "BSD-3-Clause");
        let folder = retry["folder"].as_str().unwrap();
        let (code, text) = sh(&tag, &format!("cat '{DEST}/{folder}/LICENSE'"));
        assert_eq!(code, 0);
        assert!(text.contains("The Retry Authors"), "{text}");

        let file = sbom_dir.join(format!("{image}.spdx.json"));
        let doc = read_sbom(&file);
        let purls = purls(&doc);
        assert!(
            purls.contains(&"pkg:golang/example.com/flags@v1.4.0"),
            "{image}: {purls:?}"
        );
        assert!(
            purls
                .iter()
                .any(|p| p.starts_with("pkg:golang/github.com/") && p.ends_with("@v0.2.1")),
            "{image}: {purls:?}"
        );
        let has_jars = purls.iter().any(|p| p.starts_with("pkg:maven/"));
        assert_eq!(has_jars, lang == "java", "{image}: {purls:?}");
        if lang == "go" {
            continue;
        }

        // The jars: commons-lang3 from its own texts, slf4j-api through the override (its POM
        // and Debian's parent POM, found through the workspace's maven-repo, declare none).
        let lang3 = entry(
            &index,
            "maven",
            "org.apache.commons:commons-lang3",
            "3.12.0",
        );
        assert_eq!(lang3["license"], "Apache-2.0");
        assert_eq!(
            lang3["files"][0]["source"],
            "image:/opt/apache/beam/jars/commons-lang3-3.12.0.jar!/META-INF/LICENSE.txt"
        );
        let slf4j = entry(&index, "maven", "org.slf4j:slf4j-api", "1.7.32");
        assert_eq!(slf4j["license"], "MIT");
        // The parent POM in the workspace's maven-repo gives the license; the jar ships no
        // text, so the SPDX list's standard text stands in, marked as such.
        let util = entry(&index, "maven", "org.example:harness-util", "1.0");
        assert_eq!(util["license"], "MIT");
        assert_eq!(util["files"][0]["source"], "spdx-standard-text:MIT");
        for wanted in [
            "pkg:maven/org.apache.commons/commons-lang3@3.12.0",
            "pkg:maven/org.slf4j/slf4j-api@1.7.32",
            "pkg:maven/org.example/harness-util@1.0",
        ] {
            assert!(purls.contains(&wanted), "{wanted} not in {purls:?}");
        }
        let jar = repo.file("sdks/java/container/target/jars/commons-lang3-3.12.0.jar");
        let sha = sha256_hex(&jar);
        let lang3 = doc
            .packages
            .iter()
            .find(|p| p.name == "org.apache.commons:commons-lang3")
            .unwrap();
        assert_eq!(lang3.checksums[0].checksum_value, sha);
    }
}
