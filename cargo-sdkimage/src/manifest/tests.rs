use super::*;

/// A temporary folder (canonical path), removed when dropped.
pub(crate) struct TempTree {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl AsRef<Path> for TempTree {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl std::ops::Deref for TempTree {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

pub(crate) fn temp_tree(name: &str) -> TempTree {
    let dir = tempfile::Builder::new()
        .prefix(&format!("sdkimage-test-{name}-"))
        .tempdir()
        .unwrap();
    let path = dir.path().canonicalize().unwrap();
    TempTree { _dir: dir, path }
}

/// Write `text` to `root/rel`, creating its folders: the set-up of every test tree.
pub(crate) fn write_under(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn parse(root: &Path, text: &str) -> Result<Manifest> {
    Manifest::parse(&root.join("sdk/sdkimage.toml"), root, text.to_string())
}

fn errors(root: &Path, text: &str) -> Vec<String> {
    match parse(root, text) {
        Err(Error::Invalid(d)) => d
            .into_iter()
            .map(|d| format!("{}:{}: {}", d.line, d.col, d.message))
            .collect(),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("expected errors"),
    }
}

fn tree(name: &str) -> TempTree {
    let root = temp_tree(name);
    std::fs::create_dir_all(root.join("sdk/boot")).unwrap();
    std::fs::write(root.join("sdk/Dockerfile"), "FROM scratch\n").unwrap();
    std::fs::write(root.join("sdk/boot/boot"), "x").unwrap();
    root
}

#[test]
fn full_manifest_parses() {
    let root = tree("full");
    let m = parse(
        &root,
        r#"
language = "python"
name = "beam_python{variant}_sdk"
depends-on = ["base"]
platforms = ["linux/amd64"]
[variants]
"3.10" = { py_version = "3.10" }
"3.11" = { py_version = "3.11" }
[build-args]
BASE_IMAGE = "{repository_root}/beam_base:{tag}"
[[prepare]]
run = ["true"]
[[copy]]
from = "boot"
to = "target/./boot"
[licenses]
dest = "/opt/apache/beam/third_party_licenses/"
sources = [{ kind = "python" }, { kind = "debian" }]
"#,
    )
    .unwrap();
    assert_eq!(m.language, "python");
    assert_eq!(m.dockerfile, root.join("sdk/Dockerfile"));
    assert_eq!(m.context, root.join("sdk"));
    assert_eq!(m.variants.len(), 2);
    assert_eq!(
        m.copies,
        vec![CopySpec {
            from: root.join("sdk/boot"),
            to: "target/boot".into(),
            variant: None,
        }]
    );
    assert_eq!(m.prepare[0].cwd, root.join("sdk"));
    let l = m.licenses.unwrap();
    assert_eq!(l.dest, "/opt/apache/beam/third_party_licenses");
    assert_eq!(
        l.sources,
        vec![
            LicenseSource::plain("python"),
            LicenseSource::plain("debian")
        ]
    );
}

#[test]
fn all_errors_of_a_manifest_are_reported_with_positions() {
    let root = tree("errors");
    let errs = errors(
        &root,
        "language = \"python\"\nname = \"x{varient}\"\nfoo = 1\ncontext = \"../..\"\n[build-args]\nA = 3\n",
    );
    assert_eq!(errs.len(), 4, "{errs:#?}");
    assert!(errs[1].starts_with("3:1: unknown key `foo`"), "{errs:#?}");
    assert!(
        errs.iter()
            .any(|e| e.starts_with("4:11: context `../..` leaves the workspace root")),
        "{errs:#?}"
    );
    assert!(
        errs.iter().any(|e| e.starts_with("6:5: `build-args`")),
        "{errs:#?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.starts_with("2:10: name: unknown placeholder `{varient}`")),
        "{errs:#?}"
    );
}

#[test]
fn missing_keys_and_paths() {
    let root = tree("missing");
    let errs = errors(&root, "dockerfile = \"nope/Dockerfile\"\n");
    assert!(
        errs.iter()
            .any(|e| e.contains("missing required key `language`")),
        "{errs:#?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.contains("missing required key `name`"))
    );
    assert!(
        errs.iter()
            .any(|e| e.starts_with("1:14: dockerfile `nope/Dockerfile` does not exist")),
        "{errs:#?}"
    );
}

#[test]
fn a_key_of_the_wrong_type_is_not_also_missing() {
    let root = temp_tree("wrongtype");
    std::fs::create_dir_all(root.join("sdk")).unwrap();
    let errs = errors(&root, "language = 1\nname = 5\ndockerfile = 3\n");
    assert_eq!(errs.len(), 3, "{errs:#?}");
    assert!(
        errs[0].starts_with("1:12: `language`: invalid type"),
        "{errs:#?}"
    );
    assert!(
        errs[1].starts_with("2:8: `name`: invalid type"),
        "{errs:#?}"
    );
    assert!(
        errs[2].starts_with("3:14: `dockerfile`: invalid type"),
        "{errs:#?}"
    );
}

#[test]
fn a_duplicate_key_is_named() {
    let root = tree("duplicate");
    let errs = errors(&root, "language = \"go\"\nname = \"x\"\n\nname = \"y\"\n");
    assert_eq!(errs, ["4:1: duplicate key `name`; set it only once"]);
    let errs = errors(
        &root,
        "language = \"go\"\nname = \"x\"\n[variants]\n\"3.10\" = {}\n'3.10' = {}\n",
    );
    assert_eq!(errs, ["5:1: duplicate key `3.10`; set it only once"]);
    let errs = errors(
        &root,
        "language = \"go\"\nname = \"x\"\n[licenses]\n[licenses]\n",
    );
    assert_eq!(errs, ["4:2: duplicate key `licenses`; set it only once"]);
}

#[test]
fn nested_unknown_keys_and_wrong_types() {
    let root = tree("nested");
    let errs = errors(
        &root,
        "language = \"go\"\nname = \"x\"\n[[copy]]\nfrom = \"boot\"\nto = \"b\"\ninto = 1\n[licenses]\ndest = 5\n",
    );
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(
        errs[0].starts_with("6:1: `copy`: unknown field `into`"),
        "{errs:#?}"
    );
    assert!(
        errs[1].starts_with("8:8: `licenses`: invalid type"),
        "{errs:#?}"
    );
}

#[test]
fn copy_to_and_dest_must_stay_inside() {
    let root = tree("copyto");
    let errs = errors(
        &root,
        "language = \"go\"\nname = \"x\"\n[[copy]]\nfrom = \"boot\"\nto = \"../x\"\n[licenses]\ndest = \"opt/x\"\n",
    );
    assert!(errs[0].contains("copy.to `../x`"), "{errs:#?}");
    assert!(errs[1].contains("licenses.dest `opt/x`"), "{errs:#?}");
}

#[test]
fn copy_from_may_name_a_per_variant_artifact() {
    let root = tree("copyvariant");
    std::fs::write(root.join("sdk/boot-a"), "a").unwrap();
    std::fs::write(root.join("sdk/boot-b"), "b").unwrap();
    let path = root.join("sdk/sdkimage.toml");
    std::fs::write(
        &path,
        "language = \"go\"\nname = \"x{variant}\"\n[variants]\na = {}\nb = {}\n[[copy]]\nfrom = \"boot-{variant}\"\nto = \"boot\"\n[[copy]]\nfrom = \"boot\"\nto = \"shared\"\n",
    )
    .unwrap();
    let m = Manifest::load(&path, &root).unwrap();
    let copied = |variant| -> Vec<(PathBuf, String)> {
        m.copies_for(Some(variant))
            .map(|c| (c.from.clone(), c.to.clone()))
            .collect()
    };
    assert_eq!(
        copied("a"),
        [
            (root.join("sdk/boot-a"), "boot".to_string()),
            (root.join("sdk/boot"), "shared".to_string())
        ]
    );
    assert_eq!(
        copied("b")[0],
        (root.join("sdk/boot-b"), "boot".to_string())
    );

    // Only `{variant}`, only with variants, and every expansion must exist.
    let errs = errors(
        &root,
        "language = \"go\"\nname = \"x\"\n[[copy]]\nfrom = \"boot-{variant}\"\nto = \"b\"\n[[copy]]\nfrom = \"{tag}\"\nto = \"c\"\n",
    );
    assert!(
        errs[0].starts_with("4:8: copy.from uses `{variant}`, but this manifest has no [variants]"),
        "{errs:#?}"
    );
    assert!(errs[1].starts_with("7:9: copy.from:"), "{errs:#?}");
    let errs = errors(
        &root,
        "language = \"go\"\nname = \"x{variant}\"\n[variants]\na = {}\nc = {}\n[[copy]]\nfrom = \"boot-{variant}\"\nto = \"b\"\n",
    );
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(errs[0].contains("boot-c"), "{errs:#?}");
}

#[test]
fn copy_to_may_not_replace_the_dockerfile_or_dockerignore() {
    let root = tree("copybuild");
    let errs = errors(
        &root,
        "language = \"go\"\nname = \"x\"\n[[copy]]\nfrom = \"boot\"\nto = \"Dockerfile\"\n[[copy]]\nfrom = \"boot\"\nto = \"./.dockerignore\"\n",
    );
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(
        errs[0].starts_with("5:6: copy.to `Dockerfile` would replace"),
        "{errs:#?}"
    );
    assert!(
        errs[1].starts_with("8:6: copy.to `.dockerignore` would replace"),
        "{errs:#?}"
    );
}

#[cfg(unix)]
#[test]
fn symlink_escape_is_caught() {
    let root = tree("symlink");
    let outside = temp_tree("symlink-outside");
    std::os::unix::fs::symlink(&outside, root.join("sdk/out")).unwrap();
    let errs = errors(
        &root,
        "language = \"go\"\nname = \"x\"\ncontext = \"out\"\n",
    );
    assert!(
        errs[0].contains("leaves the workspace root through a symlink"),
        "{errs:#?}"
    );
}

#[test]
fn several_variants_need_the_placeholder() {
    let root = tree("variants");
    let errs = errors(
        &root,
        "language = \"py\"\nname = \"x\"\n[variants]\na = {}\nb = {}\n",
    );
    assert!(errs[0].contains("must use `{variant}`"), "{errs:#?}");
}

#[test]
fn license_sources_are_checked() {
    let root = tree("licsrc");
    let errs = errors(
        &root,
        "language = \"py\"\nname = \"x\"\n[licenses]\ndest = \"/l\"\nsources = [{ kind = \"cargo\" }, { kind = \"npm\" }, { kind = \"python\", manifest = \"x\" }]\n",
    );
    // Every problem at once, each at its place.
    assert_eq!(errs.len(), 3, "{errs:#?}");
    assert!(
        errs[0].starts_with("5:12: ") && errs[0].contains("needs `manifest`"),
        "{errs:#?}"
    );
    assert!(
        errs[1].starts_with("5:41: ") && errs[1].contains("unknown license source kind `npm`"),
        "{errs:#?}"
    );
    assert!(
        errs[2].starts_with("5:80: ") && errs[2].contains("`manifest` is not a key of a `python`"),
        "{errs:#?}"
    );
    let errs = errors(
        &root,
        "language = \"go\"\nname = \"x\"\n[licenses]\ndest = \"/l\"\nsources = [{ kind = \"go\", module = \"nowhere\" }, { kind = \"java\", module = \".\" }, { kind = \"java\", maven-repo = \"/abs\" }]\n",
    );
    assert_eq!(errs.len(), 3, "{errs:#?}");
    assert!(
        errs[0].contains("licenses go module `nowhere`"),
        "{errs:#?}"
    );
    assert!(
        errs[1]
            .contains("`module` is not a key of a `java` license source (it takes `maven-repo`)"),
        "{errs:#?}"
    );
    assert!(
        errs[2].contains("licenses java maven-repo `/abs` must be relative"),
        "{errs:#?}"
    );
    let m = parse(
        &root,
        "language = \"go\"\nname = \"x\"\n[licenses]\ndest = \"/l\"\nsources = [{ kind = \"go\", module = \"boot\" }, { kind = \"java\" }]\n",
    );
    let sources = m.expect("valid").licenses.expect("licenses").sources;
    assert_eq!(sources[0].kind, "go");
    assert_eq!(
        sources[0].path("module"),
        Some(root.join("sdk/boot").as_path())
    );
    assert_eq!(sources[1], LicenseSource::plain("java"));
}
