//! BuildKit builds pull the context through the session's file sync: only the files a build
//! needs, and of those only what changed, are read. Measured with the bytes the tool read
//! (`rchar` of `/proc/<pid>/io`, the tool's counts added to its parent's when reaped).

use std::path::Path;
use std::process::Command;

use crate::support::{BIN, Repo, docker};

const MIB: u64 = 1024 * 1024;
/// The unrelated data next to the files the images copy.
const BIG: u64 = 32 * MIB;

/// Write `size` bytes of a pattern that `seed` makes different.
fn write_bytes(path: &Path, size: u64, seed: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let block: Vec<u8> = (0..MIB).map(|i| (i % 251) as u8 ^ seed).collect();
    let mut data = Vec::with_capacity(size as usize);
    while (data.len() as u64) < size {
        data.extend_from_slice(&block);
    }
    data.truncate(size as usize);
    std::fs::write(path, data).unwrap();
}

/// Two images on one context folder: one copies a small file, the other everything.
fn bulk_repo() -> Repo {
    let repo = Repo::new("beam-standalone");
    repo.write("sdks/bulk/small.txt", "small\n");
    write_bytes(&repo.file("sdks/bulk/data/big.bin"), BIG, 1);
    write_bytes(&repo.file("sdks/bulk/data/mid.bin"), MIB, 2);
    for (folder, copy) in [("small", "small.txt /"), ("all", ". /ctx/")] {
        repo.write(
            &format!("sdks/bulk/{folder}/sdkimage.toml"),
            &format!("language = \"{folder}\"\nname = \"bulk_{folder}\"\ncontext = \"..\"\n"),
        );
        repo.write(
            &format!("sdks/bulk/{folder}/Dockerfile"),
            &format!("FROM scratch\nCOPY {copy}\n"),
        );
    }
    repo
}

/// `build <args>` in the repo; the bytes the tool read.
#[track_caller]
fn build_reading(repo: &Repo, args: &[&str]) -> u64 {
    let io = repo.file("io.txt");
    // The shell reaps the tool, then reads its own counts, which now hold the tool's.
    let script = r#"out="$1"; shift; "$@"; s=$?; cat /proc/$$/io > "$out"; exit $s"#;
    let output = Command::new("sh")
        .args(["-c", script, "sh"])
        .arg(&io)
        .arg(BIN)
        .args(["sdkimage", "build", "--progress", "none", "--tag", "t"])
        .args(["--repository-root", &repo.root])
        .args(args)
        .current_dir(repo.path())
        .env_remove("CARGO_TARGET_DIR")
        .env("NO_COLOR", "1")
        .output()
        .expect("run sh");
    assert!(
        output.status.success(),
        "build {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let counts = std::fs::read_to_string(&io).unwrap();
    counts
        .lines()
        .find_map(|l| l.strip_prefix("rchar: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no rchar in {counts}"))
}

#[test]
fn a_rebuild_reads_only_what_the_engine_asks_for_and_images_sharing_a_folder_keep_their_copies() {
    let repo = bulk_repo();
    // First builds read the context to hash it, and send what each image copies.
    build_reading(&repo, &["all"]);
    build_reading(&repo, &["small"]);

    // Forced rebuilds: the files are known by their stamps and the engine's copies are
    // current. `bulk_small`'s sync (one file) did not empty `bulk_all`'s copy of the folder.
    for image in ["all", "small"] {
        let read = build_reading(&repo, &[image, "--force"]);
        assert!(
            read < 4 * MIB,
            "a forced rebuild of {image} read {read} bytes of a {BIG}-byte context"
        );
    }

    // One 1 MiB file changed: hashed again, and sent to the image that copies it.
    write_bytes(&repo.file("sdks/bulk/data/mid.bin"), MIB, 3);
    for image in ["small", "all"] {
        let read = build_reading(&repo, &[image]);
        assert!(
            read < 6 * MIB,
            "the rebuild of {image} after a 1 MiB change read {read} bytes"
        );
    }
}

/// The entries under `ctx/` of an image's filesystem, as `tar -tv` lists them (type, name,
/// link target).
fn ctx_listing(image: &str) -> Vec<String> {
    let id = docker(&["create", image, "unused"]).trim().to_string();
    let tar = Command::new("sh")
        .args(["-c", r#"docker export "$1" | tar -tvf -"#, "sh", &id])
        .output()
        .expect("docker export");
    docker(&["rm", &id]);
    String::from_utf8_lossy(&tar.stdout)
        .lines()
        .filter_map(|line| {
            let kind = line.chars().next()?;
            let name = line
                .split_whitespace()
                .skip(5)
                .collect::<Vec<_>>()
                .join(" ");
            name.starts_with("ctx/").then(|| format!("{kind} {name}"))
        })
        .collect()
}

#[test]
fn links_arrive_as_links_copies_arrive_and_nothing_outside_the_folder_is_sent() {
    let repo = Repo::new("beam-standalone");
    repo.write("sdks/links/a.txt", "a\n");
    repo.write("outside/secret.txt", "never sent\n");
    repo.write("art/tool", "tool\n");
    let dir = repo.file("sdks/links");
    std::os::unix::fs::symlink("a.txt", dir.join("in")).unwrap();
    std::os::unix::fs::symlink("../../outside/secret.txt", dir.join("out")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", dir.join("abs")).unwrap();
    repo.write(
        "sdks/links/sdkimage.toml",
        "language = \"links\"\nname = \"links\"\n\n[[copy]]\nfrom = \"../../art/tool\"\nto = \"bin/tool\"\n",
    );
    repo.write("sdks/links/Dockerfile", "FROM scratch\nCOPY . /ctx/\n");
    repo.run(&["build", "links", "--tag", "t", "--progress", "none"])
        .success();
    let mut listing = ctx_listing(&format!("{}/links:t", repo.root));
    listing.sort();
    assert_eq!(
        listing,
        [
            "- ctx/Dockerfile",
            "- ctx/a.txt",
            "- ctx/bin/tool",
            "- ctx/sdkimage.toml",
            "d ctx/",
            "d ctx/bin/",
            "l ctx/abs -> /etc/hostname",
            "l ctx/in -> a.txt",
            "l ctx/out -> ../../outside/secret.txt",
        ],
        "{listing:#?}"
    );
}
