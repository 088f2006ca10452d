//! What the tool reads of a Dockerfile: `FROM` lines and the `ARG` defaults they use, read as
//! BuildKit's lexer reads them; a `FROM` naming one of our images is a dependency.

use std::process::Command;

use sdkimage::output::{BuildPrint, Event, EventKind, PlanStatus};

use crate::support::images::{RemoveImage, build_foreign_image};
use crate::support::{Repo, checked_stdout, docker, docker_image_id, read_metadata};

fn json(repo: &Repo, args: &[&str]) -> crate::support::Run {
    let mut all = args.to_vec();
    all.extend(["--message-format", "json", "--progress", "none"]);
    repo.run(&all)
}

/// Where `event` of `image` comes in the run's events.
#[track_caller]
fn position(events: &[Event], event: EventKind, image: &str) -> usize {
    events
        .iter()
        .position(|e| e.kind() == event && e.image() == Some(image))
        .unwrap_or_else(|| panic!("no {event:?} for {image} in {events:?}"))
}

/// The last event of `image` (its outcome).
#[track_caller]
fn outcome(events: &[Event], image: &str) -> EventKind {
    events
        .iter()
        .rev()
        .find(|e| e.image() == Some(image))
        .unwrap_or_else(|| panic!("no event for {image} in {events:?}"))
        .kind()
}

/// `/base-version` in `image`.
fn base_version(image: &str) -> String {
    docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "/bin/busybox",
        image,
        "cat",
        "/base-version",
    ])
}

#[test]
fn a_from_naming_our_image_is_a_dependency_and_its_change_rebuilds_the_image_on_it() {
    let repo = Repo::new("beam");
    let base = format!("{}/beam_base:2.61.0", repo.root);
    let go = format!("{}/beam_go_sdk:2.61.0", repo.root);
    // go names the base only in its Dockerfile: an ARG default, no depends-on, no build arg.
    repo.write(
        "sdks/go/container/sdkimage.toml",
        "language = \"go\"\nname = \"beam_go_sdk\"\n",
    );
    repo.write(
        "sdks/go/container/Dockerfile",
        &format!("ARG BASE=\"{base}\"\nFROM ${{BASE}}\nCOPY boot.sh /opt/apache/beam/boot\n"),
    );
    let set_base_version = |v: &str| {
        repo.write(
            "sdks/base/Dockerfile",
            &format!(
                "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nRUN echo {v} > /base-version\n"
            ),
        )
    };
    set_base_version("one");
    let listed = repo.list_json(&["go"]);
    let go_entry = listed.iter().find(|e| e.name == "beam_go_sdk").unwrap();
    assert_eq!(go_entry.depends_on, ["beam_base"]);
    assert_eq!(listed.len(), 2, "the selection brings the base: {listed:?}");

    // This engine holds no image of this repository root: the base is built first.
    let first = json(&repo, &["build", "go", "-j", "4"]);
    first.success();
    let events = first.events();
    assert!(
        position(&events, EventKind::BuildFinished, "beam_base")
            < position(&events, EventKind::BuildStarted, "beam_go_sdk"),
        "{events:?}"
    );
    assert_eq!(base_version(&go), "one\n");

    // The base changes: rebuilding go rebuilds it on the new base.
    set_base_version("two");
    let second = json(&repo, &["build", "go"]);
    second.success();
    let events = second.events();
    assert_eq!(outcome(&events, "beam_base"), EventKind::BuildFinished);
    assert_eq!(outcome(&events, "beam_go_sdk"), EventKind::BuildFinished);
    assert_eq!(base_version(&go), "two\n");
    // The same: both up to date, and the base is no external base in the metadata.
    let (third, meta) = repo.run_with_metadata(&["build", "go", "--message-format", "json"]);
    third.success();
    assert_eq!(third.summary().up_to_date, 2, "{}", third.stdout());
    assert!(read_metadata(&meta)["beam_go_sdk"].bases.is_empty());
    assert!(docker_image_id(&base).is_some());
}

#[test]
fn beams_quoted_from_is_read_as_buildkit_reads_it_and_stays_up_to_date() {
    let repo = Repo::new("beam");
    // A local base under the name Beam's line makes, with a version of this test's own.
    let version = format!("3.11-e2e{}", std::process::id());
    let external = format!("python:{version}-bookworm");
    let base_id = build_foreign_image(
        &repo,
        "external-base",
        &external,
        "FROM scratch\nCOPY busybox /bin/busybox\n",
        &[],
    );
    let _cleanup = RemoveImage(external.clone());
    repo.write(
        "sdks/quoted/sdkimage.toml",
        "language = \"quoted\"\nname = \"quoted_sdk\"\n",
    );
    // Beam's exact FROM line, with a quoted default as well.
    repo.write(
        "sdks/quoted/Dockerfile",
        &format!(
            "ARG py_version=\"{version}\"\nFROM python:\"${{py_version}}\"-bookworm\nLABEL sdk=quoted\n"
        ),
    );
    for builder in ["buildkit", "classic"] {
        let args = [
            "build",
            "quoted",
            "--builder",
            builder,
            "--message-format",
            "json",
        ];
        let (first, meta) = repo.run_with_metadata(&args);
        first.success();
        let bases = &read_metadata(&meta)["quoted_sdk"].bases;
        assert_eq!(bases.len(), 1, "{bases:?}");
        assert_eq!(bases[&external].id, base_id);
        let (second, _) = repo.run_with_metadata(&args);
        second.success();
        assert_eq!(
            second.summary().up_to_date,
            1,
            "{builder}: {}",
            second.stdout()
        );
        let print = repo.run(&["build", "quoted", "--builder", builder, "--print"]);
        print.success();
        let plan: BuildPrint = serde_json::from_str(&print.stdout()).unwrap();
        assert_eq!(plan.images[0].status, PlanStatus::UpToDate, "{plan:#?}");
        assert!(
            !print.stdout().contains("not in the engine"),
            "{}",
            print.stdout()
        );
    }
}

#[test]
fn init_on_beams_dockerfiles_names_the_real_bases_and_makes_the_workspace() {
    let repo = Repo::new("init-beam");
    let git = |args: &[&str]| {
        checked_stdout(Command::new("git").arg("-C").arg(repo.path()).args(args));
    };
    git(&["init", "-q"]);
    let workspace = repo.file("sdkimage-workspace.toml");
    // At the root, with no Dockerfile: what init looks for, and where there are some.
    let run = repo.run(&["init"]);
    run.expect_code(2);
    let err = run.stderr();
    assert!(err.contains("looks for a file named `Dockerfile`"), "{err}");
    assert!(
        err.contains("`sdks/go/container`, `sdks/java/container`, `sdks/python/container`"),
        "{err}"
    );
    assert!(!workspace.exists());

    // Python: the real base with the arg it depends on, no stage names; a name ready for the
    // variants it proposes; the license switch mapped; the workspace written at the git root.
    let run = repo.run(&["init", "sdks/python/container"]);
    run.success();
    let err = run.stderr();
    assert!(
        err.contains(
            "builds on `python:\"${py_version}\"-bullseye` (external; it depends on ARG py_version)"
        ),
        "{err}"
    );
    assert!(!err.contains("`beam`"), "{err}");
    assert!(
        err.contains(&format!("wrote {}", workspace.display())),
        "{err}"
    );
    assert!(err.contains("then `cargo sdkimage list`"), "{err}");
    let python = repo.file("sdks/python/container/sdkimage.toml");
    let text = std::fs::read_to_string(&python).unwrap();
    assert!(text.contains("name = \"python{variant}_sdk\""), "{text}");
    assert!(
        text.contains("pull_licenses = \"{pull_licenses}\""),
        "{text}"
    );
    assert!(
        text.contains("# \"3.11\" = { py_version = \"3.11\" }"),
        "{text}"
    );
    assert!(!text.contains("TARGETARCH ="), "{text}");
    let written = std::fs::read_to_string(&workspace).unwrap();

    // Java and Go: the workspace is there now, and is never written again.
    let run = repo.run(&["init", "sdks/java/container"]);
    run.success();
    let err = run.stderr();
    assert!(
        err.contains(
            "builds on `openjdk:${java_version}` (external; it depends on ARG java_version)"
        ),
        "{err}"
    );
    assert!(!err.contains("sdkimage-workspace.toml"), "{err}");
    repo.run(&["init", "sdks/go/container"]).success();
    let go = std::fs::read_to_string(repo.file("sdks/go/container/sdkimage.toml")).unwrap();
    assert!(
        go.contains("# Builds on `debian:bookworm` (external)."),
        "{go}"
    );
    assert!(go.contains("name = \"go_sdk\""), "{go}");
    assert_eq!(std::fs::read_to_string(&workspace).unwrap(), written);

    // `list` works at once; uncommenting the proposed variants gives one image per version,
    // with the license switch following --pull-licenses.
    assert_eq!(repo.list_json(&[]).len(), 3);
    std::fs::write(
        &python,
        text.replace("# [variants]\n# \"3.11\"", "[variants]\n\"3.11\""),
    )
    .unwrap();
    let listed = repo.list_json(&["python"]);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].name, "python3.11_sdk");
    let print = repo.run(&["build", "python", "--print", "--pull-licenses"]);
    print.success();
    let plan: BuildPrint = serde_json::from_str(&print.stdout()).unwrap();
    assert_eq!(plan.images[0].build_args["pull_licenses"], "true");
    assert_eq!(plan.images[0].build_args["py_version"], "3.11");
}

#[test]
fn the_classic_builder_gets_the_platform_args_a_from_uses() {
    let repo = Repo::new("beam");
    let go = format!("{}/beam_go_sdk:2.61.0", repo.root);
    // No global `ARG TARGETARCH`: BuildKit fills it, the classic builder would not.
    let dockerfile = "# Stages per architecture.\nARG BASE_IMAGE\nFROM ${BASE_IMAGE} AS stage-amd64\nRUN echo amd64 > /base-version\nFROM ${BASE_IMAGE} AS stage-arm64\nRUN echo arm64 > /base-version\nFROM stage-${TARGETARCH}\nCOPY boot.sh /opt/apache/beam/boot\n";
    repo.write("sdks/go/container/Dockerfile", dockerfile);
    let args = [
        "build",
        "go",
        "--builder",
        "classic",
        "--message-format",
        "json",
    ];
    repo.run(&args).success();
    let arch = docker(&["image", "inspect", "--format", "{{.Architecture}}", &go]);
    assert_eq!(base_version(&go).trim(), arch.trim());
    let again = repo.run(&args);
    again.success();
    assert_eq!(again.summary().up_to_date, 2, "{}", again.stdout());
    // The user's Dockerfile is untouched.
    assert_eq!(
        std::fs::read_to_string(repo.file("sdks/go/container/Dockerfile")).unwrap(),
        dockerfile
    );

    // No blank or comment line before the first FROM to declare it on: exit 2 at the line,
    // before anything is built.
    let tight = dockerfile.replacen("# Stages per architecture.\n", "", 1);
    repo.write("sdks/go/container/Dockerfile", &tight);
    let run = repo.run(&["build", "go", "--builder", "classic", "--force"]);
    run.expect_code(2);
    let err = run.stderr();
    let at = format!(
        "{}:6:1",
        repo.file("sdks/go/container/Dockerfile").display()
    );
    assert!(err.contains(&at), "{err}");
    assert!(
        err.contains("add `ARG TARGETARCH` before the first FROM"),
        "{err}"
    );
    assert!(!err.contains("beam_base built"), "{err}");
}
