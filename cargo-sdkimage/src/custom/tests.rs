use super::*;
use crate::manifest::Manifest;
use crate::manifest::tests::temp_tree;

fn manifest(root: &Path, text: &str) -> crate::Result<Manifest> {
    std::fs::create_dir_all(root.join("sdk")).unwrap();
    Manifest::parse(&root.join("sdk/sdkimage.toml"), root, text.to_string())
}

fn errors(root: &Path, text: &str) -> Vec<String> {
    match manifest(root, text) {
        Err(Error::Invalid(d)) => d.iter().map(ToString::to_string).collect(),
        other => panic!("expected problems, got {other:?}"),
    }
}

/// Render the custom image of the manifest `text` on `base`.
fn rendered(
    root: &Path,
    text: &str,
    adapt: Option<AdaptSdk>,
) -> std::result::Result<String, Diagnostic> {
    let m = manifest(root, text).expect("valid manifest");
    let spec = m.custom.as_ref().expect("custom");
    let values = ImageValues {
        name: "custom",
        language: "custom",
        variant: None,
    };
    let ctx = TemplateContext::new(
        spec,
        "sdk/sdkimage.toml".into(),
        values,
        "repo/sdk:1",
        adapt,
    );
    render(spec, &ctx)
}

#[test]
fn customize_renders_each_block_in_order() {
    let root = temp_tree("custom-render");
    std::fs::create_dir_all(root.join("sdk/conf")).unwrap();
    std::fs::write(root.join("sdk/requirements.txt"), "six\n").unwrap();
    let text = rendered(
        &root,
        r#"
language = "x"
name = "x"
extends = "python:3.11"
[customize]
apt = ["curl", "debs/"]
pip = ["numpy==2.1", "a b"]
requirements = "requirements.txt"
env = { A = "say \"hi\"", B = "" }
copy = [{ from = "conf", to = "/etc/x" }]
run = ["echo one", "echo two"]
user = "1000"
workdir = "/w"
[[copy]]
from = "conf"
to = "debs"
"#,
        None,
    )
    .unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        lines,
        [
            "FROM repo/sdk:1",
            r#"COPY ["debs", "/tmp/sdkimage-debs/"]"#,
            "RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends curl /tmp/sdkimage-debs/*.deb && rm -rf /var/lib/apt/lists/* /tmp/sdkimage-debs",
            r#"COPY ["requirements.txt", "/tmp/sdkimage-requirements.txt"]"#,
            "RUN PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --no-cache-dir -r /tmp/sdkimage-requirements.txt && rm /tmp/sdkimage-requirements.txt",
            "RUN PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --no-cache-dir 'numpy==2.1' 'a b'",
            r#"COPY ["conf", "/etc/x"]"#,
            r#"ENV A="say \"hi\"""#,
            r#"ENV B="""#,
            "WORKDIR /w",
            "RUN echo one",
            "RUN echo two",
            "USER 1000",
        ]
    );
}

#[test]
fn adapt_copies_the_artifacts_and_sets_the_entrypoint() {
    let root = temp_tree("custom-adapt");
    let sdk = AdaptSdk {
        sdk: "repo/python_sdk:1".into(),
        artifacts: vec!["/opt/apache/beam".into()],
        entrypoint: vec!["/opt/apache/beam/boot".into()],
    };
    let text = rendered(
        &root,
        "language = \"x\"\nname = \"x\"\nadapt = { base = \"nvidia/cuda:12\", sdk = \"python:3.11\" }\n",
        Some(sdk),
    )
    .unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        lines,
        [
            "FROM repo/python_sdk:1 AS sdk",
            "FROM repo/sdk:1",
            r#"COPY --from=sdk ["/opt/apache/beam", "/opt/apache/beam"]"#,
            r#"ENTRYPOINT ["/opt/apache/beam/boot"]"#,
        ]
    );
}

#[test]
fn a_template_overrides_one_block_and_keeps_the_others() {
    let root = temp_tree("custom-block");
    std::fs::create_dir_all(root.join("sdk")).unwrap();
    std::fs::write(
        root.join("sdk/Dockerfile.j2"),
        "{% extends \"sdkimage\" %}\n{% block environment %}\nENV MINE=1\n{% endblock %}\n",
    )
    .unwrap();
    let text = rendered(
        &root,
        "language = \"x\"\nname = \"x\"\nextends = \"base\"\ntemplate = \"Dockerfile.j2\"\n[customize]\nenv = { GONE = \"1\" }\nrun = [\"true\"]\n",
        None,
    )
    .unwrap();
    assert!(text.contains("ENV MINE=1\nRUN true\n"), "{text}");
    assert!(!text.contains("GONE"), "{text}");
}

#[test]
fn template_errors_name_the_file_and_line() {
    let root = temp_tree("custom-template-error");
    std::fs::create_dir_all(root.join("sdk")).unwrap();
    // A syntax error: found when the manifest is read.
    std::fs::write(
        root.join("sdk/Dockerfile.j2"),
        "{% extends \"sdkimage\" %}\n\n{% block commands %}\nRUN {{ oops \n{% endblock %}\n",
    )
    .unwrap();
    let manifest_text =
        "language = \"x\"\nname = \"x\"\nextends = \"base\"\ntemplate = \"Dockerfile.j2\"\n";
    let problems = errors(&root, manifest_text);
    let at = format!("{}:5:", root.join("sdk/Dockerfile.j2").display());
    assert!(problems.iter().any(|p| p.starts_with(&at)), "{problems:?}");
    // An undefined name: found when it renders.
    std::fs::write(
        root.join("sdk/Dockerfile.j2"),
        "{% extends \"sdkimage\" %}\n{% block commands %}\n\nRUN {{ no_such_value }}\n{% endblock %}\n",
    )
    .unwrap();
    let d = rendered(&root, manifest_text, None).unwrap_err();
    assert_eq!(
        (d.path.clone(), d.line),
        (root.join("sdk/Dockerfile.j2"), 4),
        "{d}"
    );
    assert!(d.message.contains("undefined"), "{d}");
}

#[test]
fn conflicting_and_bad_keys_are_named() {
    let root = temp_tree("custom-conflicts");
    std::fs::write(root.join("Dockerfile"), "FROM scratch\n").unwrap();
    let p = errors(
        &root,
        "language = \"x\"\nname = \"x\"\nextends = \"a\"\nadapt = { base = \"b\", sdk = \"c\" }\ndockerfile = \"../Dockerfile\"\n",
    );
    assert!(
        p.iter()
            .any(|p| p.contains(":4:") && p.contains("`adapt` and `extends` cannot both be set")),
        "{p:?}"
    );
    assert!(
        p.iter().any(|p| p.contains(":5:")
            && p.contains("`dockerfile` cannot be used with `extends` or `adapt`")),
        "{p:?}"
    );
    std::fs::write(root.join("sdk/Dockerfile"), "FROM scratch\n").unwrap();
    let p = errors(
        &root,
        "language = \"x\"\nname = \"x\"\n[customize]\nrun = [\"true\"]\n",
    );
    assert!(
        p.iter()
            .any(|p| p.contains("[customize] needs `extends` or `adapt`")),
        "{p:?}"
    );
    let p = errors(
        &root,
        "language = \"x\"\nname = \"x\"\nextends = \"a\"\n[customize]\napt = [\"Bad Name\"]\nenv = { \"1X\" = \"v\" }\nrun = [\"a\\nb\"]\ncopy = [{ from = \"missing\", to = \"/x\" }]\n",
    );
    for want in [
        "customize.apt `Bad Name` is neither a Debian package name",
        "customize.env name `1X`",
        "customize.run entry \"a\\nb\" holds the control character",
        "customize.copy from `missing` does not exist",
    ] {
        assert!(p.iter().any(|p| p.contains(want)), "{want}: {p:?}");
    }
}

#[test]
fn base_references_are_checked() {
    assert!(check_base_ref("apache/beam_python3.11_sdk:2.61.0").is_ok());
    assert!(check_base_ref("localhost:5000/x/y:1").is_ok());
    assert!(check_base_ref("python").is_ok());
    assert!(check_base_ref(&format!("x@sha256:{}", "ab".repeat(32))).is_ok());
    assert!(check_base_ref("x@sha256:abcdef").is_err());
    assert!(check_base_ref("Bad Ref").is_err());
    assert!(check_base_ref("x:bad tag").is_err());
}

#[test]
fn a_template_that_never_ends_is_an_error() {
    let root = temp_tree("custom-fuel");
    std::fs::create_dir_all(root.join("sdk")).unwrap();
    std::fs::write(
        root.join("sdk/Dockerfile.j2"),
        "{% extends \"sdkimage\" %}\n{% block commands %}\n{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}\n{% endblock %}\n",
    )
    .unwrap();
    let d = rendered(
        &root,
        "language = \"x\"\nname = \"x\"\nextends = \"base\"\ntemplate = \"Dockerfile.j2\"\n",
        None,
    )
    .unwrap_err();
    assert_eq!(d.line, 3, "{d}");
    assert!(d.message.contains("fuel"), "{d}");
}
