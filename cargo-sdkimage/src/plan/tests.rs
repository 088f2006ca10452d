use super::*;
use crate::workspace::WorkspaceConfig;

fn workspace(root: &Path) -> Workspace {
    Workspace {
        root: root.to_path_buf(),
        manifest_path: root.join("Cargo.toml"),
        cargo_manifest: Some(root.join("Cargo.toml")),
        target_dir: root.join("target"),
        version: Some("2.61.0".into()),
        config: WorkspaceConfig {
            repository_root: Some("apache".into()),
            tags: None,
            licenses_dir: root.join("licenses"),
            builder: None,
            platforms: vec![],
            ..Default::default()
        },
        cargo: Default::default(),
    }
}

fn write_manifest(root: &Path, dir: &str, text: &str) -> Manifest {
    let d = root.join(dir);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("Dockerfile"), "FROM scratch\n").unwrap();
    std::fs::write(d.join("sdkimage.toml"), text).unwrap();
    Manifest::parse(&d.join("sdkimage.toml"), root, text.to_string()).unwrap()
}

fn beam(name: &str) -> (crate::manifest::tests::TempTree, Vec<Manifest>) {
    let root = crate::manifest::tests::temp_tree(name);
    let ms = vec![
        write_manifest(
            &root,
            "sdks/base",
            "language = \"base\"\nname = \"beam_base\"\n",
        ),
        write_manifest(
            &root,
            "sdks/python/container",
            "language = \"python\"\nname = \"beam_python{variant}_sdk\"\ndepends-on = [\"base\"]\n[variants]\n\"3.10\" = { py_version = \"3.10\" }\n\"3.11\" = { py_version = \"3.11\" }\n[build-args]\nBASE_IMAGE = \"{repository_root}/beam_base:{tag}\"\n",
        ),
        write_manifest(
            &root,
            "sdks/go/container",
            "language = \"go\"\nname = \"beam_go_sdk\"\n[build-args]\nB = \"{repository_root}/beam_base:{tag}\"\n",
        ),
    ];
    (root, ms)
}

fn names(plan: &BuildPlan, sel: &[ImageIndex]) -> Vec<String> {
    sel.iter().map(|&i| plan.image(i).name.clone()).collect()
}

#[test]
fn expands_variants_refs_and_args() {
    let (root, ms) = beam("plan-expand");
    let opts = PlanOptions {
        repository_root: Some("example-repo".into()),
        tags: vec!["2.26.0-custom".into(), "{version}".into()],
        build_args: vec![],
        ..PlanOptions::default()
    };
    let plan = BuildPlan::new(&workspace(&root), ms, &opts).unwrap();
    let py = plan
        .images
        .iter()
        .find(|i| i.name == "beam_python3.11_sdk")
        .unwrap();
    assert_eq!(
        py.refs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "example-repo/beam_python3.11_sdk:2.26.0-custom",
            "example-repo/beam_python3.11_sdk:2.61.0"
        ]
    );
    assert_eq!(py.build_args["py_version"], "3.11");
    assert_eq!(
        py.build_args["BASE_IMAGE"],
        "example-repo/beam_base:2.26.0-custom"
    );
    assert_eq!(py.image_args.len(), 1);
    // go names the base through a build arg only: it still depends on it.
    let go = plan
        .images
        .iter()
        .find(|i| i.name == "beam_go_sdk")
        .unwrap();
    assert_eq!(go.deps.len(), 1);
}

#[test]
fn a_from_naming_our_ref_is_a_dependency_written_or_through_an_arg_default() {
    let (root, ms) = beam("plan-from");
    let mut ms = ms;
    // go: the ref written in FROM (Docker Hub's long spelling); python: through a quoted ARG
    // default; base: an external image of the same name elsewhere is not ours.
    let dir = root.join("sdks/go/container");
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM docker.io/apache/beam_base:2.61.0 AS b\nFROM b\n",
    )
    .unwrap();
    std::fs::write(
        root.join("sdks/python/container/Dockerfile"),
        "ARG R=apache\nARG BASE=\"${R}/beam_go_sdk\":2.61.0\nFROM $BASE\n",
    )
    .unwrap();
    ms[1] = write_manifest_keeping_dockerfile(
        &root,
        "sdks/python/container",
        "language = \"python\"\nname = \"beam_python{variant}_sdk\"\n[variants]\n\"3.11\" = { py_version = \"3.11\" }\n",
    );
    ms[2] = write_manifest_keeping_dockerfile(
        &root,
        "sdks/go/container",
        "language = \"go\"\nname = \"beam_go_sdk\"\n",
    );
    std::fs::write(
        root.join("sdks/base/Dockerfile"),
        "FROM other/beam_base:2.61.0\n",
    )
    .unwrap();
    let plan = BuildPlan::new(&workspace(&root), ms, &PlanOptions::default()).unwrap();
    let deps_of = |name: &str| {
        let img = plan.images.iter().find(|i| i.name == name).unwrap();
        img.deps
            .iter()
            .map(|&d| plan.image(d).name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(deps_of("beam_go_sdk"), ["beam_base"]);
    assert_eq!(deps_of("beam_python3.11_sdk"), ["beam_go_sdk"]);
    assert!(deps_of("beam_base").is_empty());
    let sel = plan.select(&["python".into()], &root).unwrap();
    assert_eq!(
        names(&plan, &sel),
        ["beam_base", "beam_go_sdk", "beam_python3.11_sdk"]
    );
}

fn write_manifest_keeping_dockerfile(root: &Path, dir: &str, text: &str) -> Manifest {
    let d = root.join(dir);
    std::fs::write(d.join("sdkimage.toml"), text).unwrap();
    Manifest::parse(&d.join("sdkimage.toml"), root, text.to_string()).unwrap()
}

#[test]
fn selection_brings_dependencies_in_order() {
    let (root, ms) = beam("plan-select");
    let plan = BuildPlan::new(&workspace(&root), ms, &PlanOptions::default()).unwrap();
    let sel = plan.select(&["python:3.11".into()], &root).unwrap();
    assert_eq!(names(&plan, &sel), ["beam_base", "beam_python3.11_sdk"]);
    let sel = plan.select(&["python".into()], &root).unwrap();
    assert_eq!(
        names(&plan, &sel),
        ["beam_base", "beam_python3.10_sdk", "beam_python3.11_sdk"]
    );
    let sel = plan.select(&["beam_go_sdk".into()], &root).unwrap();
    assert_eq!(names(&plan, &sel), ["beam_base", "beam_go_sdk"]);
    let sel = plan.select(&["sdks/go/container".into()], &root).unwrap();
    assert_eq!(names(&plan, &sel), ["beam_base", "beam_go_sdk"]);
    let sel = plan
        .select(&["container".into()], &root.join("sdks/python"))
        .unwrap();
    assert_eq!(sel.len(), 3);
    assert_eq!(plan.select(&[], &root).unwrap().len(), 4);
    let e = plan.select(&["java".into()], &root).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(
        e.to_string().contains("python:3.10") && e.to_string().contains("beam_go_sdk"),
        "{e}"
    );
}

#[test]
fn unknown_dependency_cycle_and_duplicates() {
    let root = crate::manifest::tests::temp_tree("plan-errors");
    let ms = vec![
        write_manifest(
            &root,
            "a",
            "language = \"a\"\nname = \"img_a\"\ndepends-on = [\"b\"]\n",
        ),
        write_manifest(
            &root,
            "b",
            "language = \"b\"\nname = \"img_b\"\ndepends-on = [\"img_a\"]\n",
        ),
    ];
    let e = BuildPlan::new(&workspace(&root), ms, &PlanOptions::default()).unwrap_err();
    assert!(
        e.to_string().contains("cycle: img_a -> img_b -> img_a"),
        "{e}"
    );
    assert!(e.to_string().contains("a/sdkimage.toml:3:15"), "{e}");

    let ms = vec![
        write_manifest(
            &root,
            "a",
            "language = \"a\"\nname = \"img\"\ndepends-on = [\"nothing\"]\n",
        ),
        write_manifest(&root, "b", "language = \"b\"\nname = \"img\"\n"),
    ];
    let e = BuildPlan::new(&workspace(&root), ms, &PlanOptions::default()).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("a/sdkimage.toml:3:15: depends-on `nothing` names nothing"),
        "{text}"
    );
    assert!(
        text.contains("b/sdkimage.toml:2:8: image name `img` is also produced by"),
        "{text}"
    );
    assert_eq!(e.exit_code(), 2);
}

#[test]
fn bad_references_and_tags() {
    let root = crate::manifest::tests::temp_tree("plan-refs");
    let ms = vec![write_manifest(
        &root,
        "a",
        "language = \"a\"\nname = \"Img\"\n",
    )];
    let e = BuildPlan::new(&workspace(&root), ms.clone(), &PlanOptions::default()).unwrap_err();
    assert!(
        e.to_string()
            .contains("a/sdkimage.toml:2:8: image name `Img`"),
        "{e}"
    );
    let ms = vec![write_manifest(
        &root,
        "a",
        "language = \"a\"\nname = \"img\"\n",
    )];
    let opts = PlanOptions {
        tags: vec!["-bad".into()],
        ..Default::default()
    };
    let e = BuildPlan::new(&workspace(&root), ms.clone(), &opts).unwrap_err();
    assert!(e.to_string().contains("--tag: tag `-bad`"), "{e}");
    let opts = PlanOptions {
        repository_root: Some("Bad Root".into()),
        ..Default::default()
    };
    assert_eq!(
        BuildPlan::new(&workspace(&root), ms.clone(), &opts)
            .unwrap_err()
            .exit_code(),
        2
    );
    let mut ws = workspace(&root);
    ws.version = None;
    let plan = BuildPlan::new(&ws, ms, &PlanOptions::default()).unwrap();
    assert_eq!(plan.tags, ["latest"]);
}

#[test]
fn without_selectors_a_member_folder_selects_what_is_at_or_below_it() {
    let (root, ms) = beam("plan-member");
    let plan = BuildPlan::new(&workspace(&root), ms, &PlanOptions::default()).unwrap();
    std::fs::create_dir_all(root.join("sdks/go/container/src")).unwrap();
    std::fs::create_dir_all(root.join("docs")).unwrap();
    let pick = |rel: &str| {
        let cwd = root.join(rel);
        let selectors = plan.default_selectors(&root, &cwd);
        names(&plan, &plan.select(&selectors, &cwd).unwrap())
    };
    let everything = pick("");
    assert_eq!(everything.len(), 4);
    // At or below the folder, with what it depends on.
    assert_eq!(
        pick("sdks/python"),
        ["beam_base", "beam_python3.10_sdk", "beam_python3.11_sdk"]
    );
    assert_eq!(pick("sdks/base"), ["beam_base"]);
    // Inside a manifest's folder: that manifest (its build arg names the base).
    assert_eq!(pick("sdks/go/container/src"), ["beam_base", "beam_go_sdk"]);
    // Nothing at, below or above it: everything, as at the root.
    assert_eq!(pick("docs"), everything);
    assert_eq!(pick("sdks"), everything);
}
