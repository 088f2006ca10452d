//! What a new user meets first: platforms checked before anything runs, flag and manifest
//! messages, completions and man pages, secret-looking values masked, refusals of the guarded
//! reader (issue 19: items 4, 7, 13, 14, 16, 18, 20).

use crate::support::{Repo, docker};

/// A `FROM scratch` image of the beam fixture, `sdks/solo`, with nothing to run (so any
/// platform builds without emulation).
fn solo(repo: &Repo, extra: &str) {
    std::fs::create_dir_all(repo.file("sdks/solo")).unwrap();
    std::fs::copy(repo.file("vendor/busybox"), repo.file("sdks/solo/busybox")).unwrap();
    repo.write(
        "sdks/solo/Dockerfile",
        "FROM scratch\nCOPY busybox /bin/busybox\n",
    );
    repo.write(
        "sdks/solo/sdkimage.toml",
        &format!("language = \"solo\"\nname = \"solo\"\n{extra}"),
    );
}

fn arch(reference: &str) -> String {
    docker(&[
        "image",
        "inspect",
        "--format",
        "{{.Architecture}}",
        reference,
    ])
    .trim()
    .to_string()
}

#[test]
fn a_foreign_platform_never_takes_the_plain_local_tag() {
    let repo = Repo::new("beam");
    solo(&repo, "");
    let plain = format!("{}/solo:1.0", repo.root);
    repo.run(&["build", "solo", "--tag", "1.0", "--progress", "none"])
        .success();
    let native = repo.image_id(&plain).expect("built");
    repo.run(&[
        "build",
        "solo",
        "--tag",
        "1.0",
        "--platform",
        "linux/arm64",
        "--progress",
        "none",
    ])
    .success();
    assert_eq!(repo.image_id(&plain), Some(native), "the plain tag moved");
    assert_eq!(arch(&plain), "amd64");
    assert_eq!(arch(&format!("{plain}-linux-arm64")), "arm64");
}

#[test]
fn a_mistyped_platform_is_refused_before_anything_runs_with_the_known_values_near_it() {
    let repo = Repo::new("beam");
    solo(&repo, "");
    let run = repo.run(&["build", "solo", "--platform", "linux/amd46"]);
    run.expect_code(2);
    assert!(
        run.stderr().contains("did you mean linux/amd64?"),
        "{}",
        run.stderr()
    );
    assert!(
        repo.image_id(&format!("{}/solo:2.61.0", repo.root))
            .is_none()
    );
    // The manifest's and the workspace's at file:line:col.
    solo(&repo, "platforms = [\"linux/amd46\"]\n");
    let run = repo.run(&["list", "solo"]);
    run.expect_code(2);
    assert!(
        run.stderr().contains(
            "sdks/solo/sdkimage.toml:3:14: platforms: platform \"linux/amd46\" is not a known platform; did you mean linux/amd64?"
        ),
        "{}",
        run.stderr()
    );
    solo(&repo, "");
    let cargo = std::fs::read_to_string(repo.file("Cargo.toml")).unwrap();
    repo.write(
        "Cargo.toml",
        &format!("{}\nplatforms = [\"linux/arm/v9\"]\n", cargo.trim_end()),
    );
    let run = repo.run(&["list", "solo"]);
    run.expect_code(2);
    assert!(
        run.stderr().contains("Cargo.toml:14:14: platforms: platform \"linux/arm/v9\" is not a known variant of linux/arm; known: linux/arm/v5, linux/arm/v6, linux/arm/v7, linux/arm/v8"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_platform_of_another_os_is_refused_before_building_naming_the_engines() {
    let repo = Repo::new("beam");
    solo(&repo, "");
    let run = repo.run(&[
        "build",
        "solo",
        "--platform",
        "windows/amd64",
        "--message-format",
        "json",
        "--progress",
        "none",
    ]);
    run.expect_code(2);
    assert!(
        run.stderr().contains(
            "platform `windows/amd64` cannot be built: the engine runs linux (linux/amd64)"
        ),
        "{}",
        run.stderr()
    );
    assert!(
        run.events()
            .iter()
            .all(|e| e.event != sdkimage::output::EventKind::BuildStarted)
    );
}
