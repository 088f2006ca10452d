//! Under BuildKit only the context paths a Dockerfile's `COPY`, `ADD` and `RUN --mount` can
//! read are walked and fingerprinted: a change elsewhere in the folder leaves the image up to
//! date (the engine would never ask for it, so the image cannot differ), a change to a file a
//! build reads (named, through a wildcard, inside a copied folder, through another stage)
//! rebuilds it with the new content. When the engine asks for more than the Dockerfile shows
//! (a base image's `ONBUILD COPY`), the build is made again with the whole context, which that
//! image keeps until its Dockerfile or its base changes.

use std::process::Command;

use crate::support::Repo;
use crate::support::images::file_in;
use sdkimage::output::EventKind;

/// `build <selector>` as JSON; what happened to `image`.
#[track_caller]
fn build(repo: &Repo, selector: &str, image: &str) -> EventKind {
    let run = repo.run(&[
        "build",
        selector,
        "--tag",
        "t",
        "--builder",
        "buildkit",
        "--message-format",
        "json",
        "--progress",
        "none",
    ]);
    run.success();
    run.events()
        .into_iter()
        .filter(|e| e.image() == Some(image))
        .map(|e| e.kind())
        .find(|k| matches!(k, EventKind::BuildFinished | EventKind::UpToDate))
        .unwrap_or_else(|| panic!("no outcome for {image}:\n{}", run.stdout()))
}

#[test]
fn only_files_a_build_can_read_make_it_stale() {
    let repo = Repo::new("beam-standalone");
    repo.write(
        "sdks/sel/sdkimage.toml",
        "language = \"sel\"\nname = \"sel_img\"\n",
    );
    repo.write(
        "sdks/sel/Dockerfile",
        "FROM scratch AS tree\nCOPY tree /tree/\nFROM scratch\nCOPY small.txt conf/*.cfg /\nCOPY --from=tree /tree /tree/\n",
    );
    for (path, text) in [
        ("small.txt", "one\n"),
        ("conf/a.cfg", "a1\n"),
        ("conf/b.txt", "b1\n"),
        ("tree/x/y.txt", "y1\n"),
        ("unrelated.bin", "u1\n"),
        ("notes/readme.md", "r1\n"),
    ] {
        repo.write(&format!("sdks/sel/{path}"), text);
    }
    let image = format!("{}/sel_img:t", repo.root);
    assert_eq!(build(&repo, "sel", "sel_img"), EventKind::BuildFinished);

    // Files no COPY can read: the image cannot differ.
    repo.write("sdks/sel/unrelated.bin", "u2, longer\n");
    repo.write("sdks/sel/notes/readme.md", "r2\n");
    repo.write("sdks/sel/conf/b.txt", "b2\n");
    repo.write("sdks/sel/new.txt", "new\n");
    assert_eq!(build(&repo, "sel", "sel_img"), EventKind::UpToDate);

    // Through the wildcard, a changed file and a new one.
    repo.write("sdks/sel/conf/a.cfg", "a2\n");
    assert_eq!(build(&repo, "sel", "sel_img"), EventKind::BuildFinished);
    assert_eq!(file_in(&image, "/a.cfg"), "a2\n");
    repo.write("sdks/sel/conf/c.cfg", "c1\n");
    assert_eq!(build(&repo, "sel", "sel_img"), EventKind::BuildFinished);
    assert_eq!(file_in(&image, "/c.cfg"), "c1\n");

    // Inside a folder another stage copies.
    repo.write("sdks/sel/tree/x/y.txt", "y2\n");
    assert_eq!(build(&repo, "sel", "sel_img"), EventKind::BuildFinished);
    assert_eq!(file_in(&image, "/tree/x/y.txt"), "y2\n");

    // A named file, same size.
    repo.write("sdks/sel/small.txt", "two\n");
    assert_eq!(build(&repo, "sel", "sel_img"), EventKind::BuildFinished);
    assert_eq!(file_in(&image, "/small.txt"), "two\n");
    assert_eq!(build(&repo, "sel", "sel_img"), EventKind::UpToDate);
    assert!(
        marker(&repo, "sel_img").is_empty(),
        "the engine never asked for more than the Dockerfile names"
    );
}

/// The paths of image `name`'s whole-context marker in the repo (none or one).
fn marker(repo: &Repo, name: &str) -> Vec<u8> {
    Command::new("find")
        .arg(repo.path())
        .args(["-path", &format!("*/sdkimage/whole-context/{name}")])
        .output()
        .unwrap()
        .stdout
}

#[test]
fn a_base_images_onbuild_copy_gets_the_whole_context() {
    let repo = Repo::new("beam-standalone");
    repo.write(
        "sdks/onbase/sdkimage.toml",
        "language = \"onbase\"\nname = \"onbase\"\n",
    );
    repo.write(
        "sdks/onbase/Dockerfile",
        "FROM scratch\nCOPY base.txt /\nONBUILD COPY extra.txt /\n",
    );
    repo.write("sdks/onbase/base.txt", "base\n");
    assert_eq!(build(&repo, "onbase", "onbase"), EventKind::BuildFinished);

    repo.write(
        "sdks/onb/sdkimage.toml",
        "language = \"onb\"\nname = \"onb\"\n",
    );
    repo.write(
        "sdks/onb/Dockerfile",
        &format!("FROM {}/onbase:t\nCOPY small.txt /\n", repo.root),
    );
    repo.write("sdks/onb/small.txt", "small\n");
    repo.write("sdks/onb/extra.txt", "extra1\n");
    let image = format!("{}/onb:t", repo.root);
    // The engine asks for extra.txt, which the Dockerfile does not name: built again with the
    // whole context, not without the file.
    assert_eq!(build(&repo, "onb", "onb"), EventKind::BuildFinished);
    assert_eq!(file_in(&image, "/extra.txt"), "extra1\n");
    assert!(
        !marker(&repo, "onb").is_empty(),
        "the image is marked for the whole context"
    );
    assert_eq!(build(&repo, "onb", "onb"), EventKind::UpToDate);
    // And the fingerprint covers it while the Dockerfile and its base stay the same.
    repo.write("sdks/onb/extra.txt", "extra2\n");
    assert_eq!(build(&repo, "onb", "onb"), EventKind::BuildFinished);
    assert_eq!(file_in(&image, "/extra.txt"), "extra2\n");

    // The base built again without its ONBUILD: the marker goes, the image is built from the
    // Dockerfile's paths, and extra.txt is no input any more.
    repo.write("sdks/onbase/Dockerfile", "FROM scratch\nCOPY base.txt /\n");
    assert_eq!(build(&repo, "onbase", "onbase"), EventKind::BuildFinished);
    assert_eq!(build(&repo, "onb", "onb"), EventKind::BuildFinished);
    assert!(
        marker(&repo, "onb").is_empty(),
        "the marker went with the base it was written for"
    );
    repo.write("sdks/onb/extra.txt", "extra3\n");
    assert_eq!(build(&repo, "onb", "onb"), EventKind::UpToDate);
}
