//! Images a test makes or reads outside the tool: foreign bases built with the docker CLI,
//! their removal, the arm64 busybox, and files read out of an image.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Output};

use super::{Repo, checked_stdout, checked_text, docker};

/// A local image `reference` that is none of the workspace's, built by the engine's classic
/// builder from the folder `<repo>/<folder>`: the repo's busybox as `busybox` (for
/// `COPY busybox /bin/busybox`), `files` (name, text) and `dockerfile`. `--no-cache`: the
/// classic builder's cache lookup reads every image on the same parent (here every
/// `FROM scratch` image), and another test's `docker rmi` between its listing and its read
/// fails the build ("unable to find image sha256:…"). The image id.
#[track_caller]
pub fn build_foreign_image(
    repo: &Repo,
    folder: &str,
    reference: &str,
    dockerfile: &str,
    files: &[(&str, &str)],
) -> String {
    let dir = repo.file(folder);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(repo.file("vendor/busybox"), dir.join("busybox")).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    checked_stdout(
        Command::new("docker")
            .args(["build", "-q", "--no-cache", "-t", reference])
            .arg(&dir)
            .env("DOCKER_BUILDKIT", "0"),
    );
    super::docker_image_id(reference).expect("the image just built")
}

/// `docker rmi -f --no-prune <reference or id>`, whatever it answers (the image may be gone
/// already). `--no-prune` keeps its untagged parents: the classic builder's cache of a build
/// another test runs at the same time may stand on them, and pruning them mid-build fails that
/// build with "unable to find image" (seen in CI-like runs).
pub fn remove_image(reference: &str) {
    let _ = Command::new("docker")
        .args(["rmi", "-f", "--no-prune", reference])
        .output();
}

/// Removes a local image (by reference or id) when dropped: an image a test made outside its
/// repository root, or one no tag holds any more, which the `Repo` helper does not see.
pub struct RemoveImage(pub String);

impl Drop for RemoveImage {
    fn drop(&mut self) {
        remove_image(&self.0);
    }
}

/// The arm64 busybox `scripts/test` unpacks from Debian's busybox-static:arm64.
#[track_caller]
pub fn arm64_busybox() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/arm64/busybox");
    assert!(
        path.exists(),
        "{} is missing: run the tests through scripts/test, which unpacks Debian's busybox-static:arm64 there",
        path.display()
    );
    path
}

impl Repo {
    /// The repo's busybox as `<folder>/busybox-amd64` and the arm64 one as
    /// `<folder>/busybox-arm64`, for a two-platform `COPY busybox-${TARGETARCH} /bin/busybox`.
    #[track_caller]
    pub fn add_busybox_per_arch(&self, folder: &str) {
        std::fs::create_dir_all(self.file(folder)).unwrap();
        std::fs::copy(
            self.file("vendor/busybox"),
            self.file(&format!("{folder}/busybox-amd64")),
        )
        .unwrap();
        std::fs::copy(
            arm64_busybox(),
            self.file(&format!("{folder}/busybox-arm64")),
        )
        .unwrap();
    }
}

impl Repo {
    /// `sdks/multi`: the image `multi` for linux/amd64 and linux/arm64, each platform's busybox
    /// as its `/bin/busybox`, then `more` (Dockerfile lines).
    pub fn add_two_platform_busybox_image(&self, more: &str) {
        self.add_busybox_per_arch("sdks/multi");
        self.write(
            "sdks/multi/Dockerfile",
            &format!(
                "FROM scratch\nARG TARGETARCH\nCOPY busybox-${{TARGETARCH}} /bin/busybox\n{more}"
            ),
        );
        self.write(
            "sdks/multi/sdkimage.toml",
            "language = \"multi\"\nname = \"multi\"\nplatforms = [\"linux/amd64\", \"linux/arm64\"]\n",
        );
    }
}

/// The bytes of the file `path` in `image`'s filesystem, copied out of a created (never
/// started) container.
#[track_caller]
pub fn file_bytes_in(image: &str, path: &str) -> Vec<u8> {
    // An image without a default command needs one to be created.
    let id = docker(&["create", image, "/nothing"]);
    let id = id.trim();
    let out = Command::new("docker")
        .args(["cp", &format!("{id}:{path}"), "-"])
        .output()
        .unwrap();
    docker(&["rm", id]);
    assert!(
        out.status.success(),
        "docker cp {path} of {image}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut archive = tar::Archive::new(out.stdout.as_slice());
    let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes).unwrap();
    bytes
}

/// As [`file_bytes_in`], as text.
#[track_caller]
pub fn file_in(image: &str, path: &str) -> String {
    String::from_utf8(file_bytes_in(image, path)).unwrap()
}

/// `sh -c script` in a throwaway container of `image` (its entrypoint replaced, no network).
fn sh_output(image: &str, script: &str) -> Output {
    sh_command(image, script).output().unwrap()
}

fn sh_command(image: &str, script: &str) -> Command {
    let mut cmd = Command::new("docker");
    cmd.args([
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "/bin/sh",
        image,
        "-c",
        script,
    ]);
    cmd
}

/// `sh -c script` in a throwaway container of `image`: (exit code, stdout).
pub fn sh(image: &str, script: &str) -> (i32, String) {
    let out = sh_output(image, script);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// `sh -c script` in a throwaway container of `image`, which must succeed: its stdout.
#[track_caller]
pub fn sh_ok(image: &str, script: &str) -> String {
    checked_text(&mut sh_command(image, script))
}

/// The largest mtime of the entries of a gzip layer blob, with the path that has it.
pub fn newest_entry(layer: &[u8]) -> (u64, String) {
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(layer)
        .read_to_end(&mut tar)
        .unwrap();
    let mut archive = tar::Archive::new(&tar[..]);
    let mut newest = (0, String::new());
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let mtime = entry.header().mtime().unwrap();
        if mtime >= newest.0 {
            newest = (mtime, entry.path().unwrap().display().to_string());
        }
    }
    newest
}
