use std::io::Write;

use super::*;

fn jar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in members {
        writer.start_file(*name, options).expect("start");
        writer.write_all(data).expect("write");
    }
    writer.finish().expect("finish").into_inner()
}

fn props(group: &str, artifact: &str, version: &str) -> Vec<u8> {
    format!("groupId={group}\nartifactId={artifact}\nversion={version}\n").into_bytes()
}

#[test]
fn a_shaded_jar_lists_every_package_with_the_jars_texts() {
    let apache = spdx::license_id("Apache-2.0").expect("id").text();
    let bytes = jar(&[
        ("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\n"),
        ("META-INF/LICENSE.txt", apache.as_bytes()),
        (
            "META-INF/maven/com.example/app/pom.properties",
            &props("com.example", "app", "2.0"),
        ),
        (
            "META-INF/maven/org.dep/dep/pom.properties",
            &props("org.dep", "dep", "1.1"),
        ),
        (
            "META-INF/maven/org.dep/dep/pom.xml",
            b"<project><licenses><license><name>MIT License</name></license></licenses></project>",
        ),
        ("com/example/App.class", b"\xca\xfe\xba\xbe"),
    ]);
    let entries = read_jar("/opt/app.jar", &bytes, None, 0).expect("read");
    let got: Vec<(&str, &str, Option<&str>)> = entries
        .iter()
        .map(|e| (e.name.as_str(), e.version.as_str(), e.license.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("com.example:app", "2.0", Some("Apache-2.0")),
            ("org.dep:dep", "1.1", Some("MIT"))
        ]
    );
    assert_eq!(entries[0].identified_from.as_deref(), Some("LICENSE.txt"));
    assert_eq!(entries[1].identified_from, None);
    assert_eq!(
        entries[0].files[0].source,
        "image:/opt/app.jar!/META-INF/LICENSE.txt"
    );
    // Several packages: the jar's hash is no package's own.
    assert_eq!(entries[0].origin.sha256, None);
}

#[test]
fn a_parent_pom_in_the_maven_repo_gives_the_license_and_the_standard_text() {
    let repo = tempfile::tempdir().expect("tempdir");
    let write = |rel: &str, text: &str| {
        let path = repo.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    };
    write(
        "org/example/base/1/base-1.pom",
        "<project><groupId>org.example</groupId><artifactId>base</artifactId><version>1</version>\
         <licenses><license><name>MIT License</name><url>https://opensource.org/licenses/MIT</url></license></licenses></project>",
    );
    write(
        "org/example/parent/7/parent-7.pom",
        "<project><parent><groupId>org.example</groupId><artifactId>base</artifactId><version>1</version></parent>\
         <artifactId>parent</artifactId></project>",
    );
    let bytes = jar(&[
        ("META-INF/maven/org.example/lib/pom.properties", &props("org.example", "lib", "3.1")),
        (
            "META-INF/maven/org.example/lib/pom.xml",
            b"<project><parent><groupId>org.example</groupId><artifactId>parent</artifactId><version>7</version></parent><artifactId>lib</artifactId></project>",
        ),
    ]);
    let entries = read_jar("/jars/lib.jar", &bytes, Some(repo.path()), 0).expect("read");
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(
        (e.name.as_str(), e.license.as_deref()),
        ("org.example:lib", Some("MIT"))
    );
    // No text in the jar: `check` gives the standard text of the declared license.
    assert!(e.files.is_empty());
    let licenses = tempfile::tempdir().expect("tempdir");
    let gathered = super::super::Gathered {
        entries: entries.clone(),
    };
    let resolved = super::super::check(gathered, licenses.path()).expect("standard text");
    let files = &resolved[0].entry().files;
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].source, "spdx-standard-text:MIT");
    assert_eq!(
        e.origin.sha256.as_deref(),
        Some(hex::encode(Sha256::digest(&bytes)).as_str())
    );
    // Without the repository the parent cannot be read: no license, no text.
    let alone = read_jar("/jars/lib.jar", &bytes, None, 0).expect("read");
    assert_eq!(
        (alone[0].license.as_deref(), alone[0].files.len()),
        (None, 0)
    );
}

#[test]
fn nested_jars_are_opened_and_a_jar_without_coordinates_is_named_by_file_and_hash() {
    let inner = jar(&[("META-INF/NOTICE", b"inner notice")]);
    let outer = jar(&[
        ("BOOT-INF/lib/inner-lib.jar", &inner),
        (
            "META-INF/maven/a.b/outer/pom.properties",
            &props("a.b", "outer", "1"),
        ),
    ]);
    let entries = read_jar("/app/outer.war", &outer, None, 0).expect("read");
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].name, "a.b:outer");
    let nested = &entries[1];
    assert_eq!(nested.name, "inner-lib.jar");
    let hash = hex::encode(Sha256::digest(&inner));
    assert_eq!(nested.version, format!("sha256-{}", &hash[..16]));
    assert_eq!(nested.origin.sha256.as_deref(), Some(hash.as_str()));
    assert_eq!(
        nested.files[0].source,
        "image:/app/outer.war!/BOOT-INF/lib/inner-lib.jar!/META-INF/NOTICE"
    );
    let e = read_jar("/x.jar", b"not a zip", None, 0)
        .expect_err("bad jar")
        .to_string();
    assert!(
        e.contains("/x.jar") && e.contains("not a readable jar"),
        "{e}"
    );
}
