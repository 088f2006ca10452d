//! A context file whose content changes but whose size does not is never served stale.
//!
//! The engine (moby 20.10's BuildKit) turns each step's snapshot into a layer by diffing it
//! against its parent (`ChecksumForGraphID`) and shares layers by chain id
//! (`RegisterByGraphID`). When the parent's layer lives in another folder than the one the step
//! was made on, overlay2 falls back to moby's stat-based diff (`ChangesDirs`: mode, owner, size,
//! mtime, never content). With every context entry at mtime 0, a file replaced by one of the
//! same size was then missed: the step's layer came out empty, so the layers (what `docker
//! save` and a push send) held the old bytes, and a shared empty layer could serve another
//! image's. The context tar now gives each file a content-derived mtime (`context/mtime.rs`).
//!
//! Each test checks the bytes in a container (`docker cp`) and in the layers. The `licensed`
//! fixture's rootfs step is in that state on the test engine, so the last test failed before
//! the fix (and does on any engine that built it before a restart); the others build the same
//! shapes from new steps, which this engine did not diff by stat (see the README).

use std::collections::BTreeMap;
use std::io::Read;
use std::process::Command;

use crate::licenses::{licensed_repo, licensed_two_platforms};
use crate::support::images::file_in;
use crate::support::{Repo, checked_stdout};

/// The text of `path` (relative, no leading `/`) as `image`'s layers give it: the last layer
/// of `docker save` that holds it. Those layer tars are what a push sends.
fn file_in_layers(image: &str, path: &str) -> Option<String> {
    let saved = checked_stdout(Command::new("docker").args(["save", image]));
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut archive = tar::Archive::new(saved.as_slice());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        files.insert(name, data);
    }
    let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let mut found = None;
    for layer in manifest[0]["Layers"].as_array().unwrap() {
        let mut layer_tar = tar::Archive::new(files[layer.as_str().unwrap()].as_slice());
        for entry in layer_tar.entries().unwrap() {
            let mut entry = entry.unwrap();
            if entry.path().unwrap().to_string_lossy() == path {
                let mut text = String::new();
                entry.read_to_string(&mut text).unwrap();
                found = Some(text);
            }
        }
    }
    found
}

/// The beam fixture with two images over the same `rootfs/` (made this repo's own by a file
/// naming it): `twin` only copies it (as `./rootfs`: another step, the same layer), `ctx` copies it and then `over` (`over-${TARGETARCH}` with `platforms`) onto
/// `/etc/f`.
fn ctx_repo(platforms: &str) -> Repo {
    let repo = Repo::new("beam");
    repo.write("sdks/twin/rootfs/etc/repo", &repo.root);
    repo.write("sdks/ctx/rootfs/etc/repo", &repo.root);
    repo.write("sdks/twin/Dockerfile", "FROM scratch\nCOPY ./rootfs /\n");
    repo.write(
        "sdks/twin/sdkimage.toml",
        "language = \"twin\"\nname = \"twin\"\n",
    );
    let over = if platforms.is_empty() {
        "over"
    } else {
        "over-${TARGETARCH}"
    };
    repo.write(
        "sdks/ctx/Dockerfile",
        &format!("FROM scratch\nARG TARGETARCH\nCOPY rootfs/ /\nCOPY {over} /etc/f\n"),
    );
    repo.write(
        "sdks/ctx/sdkimage.toml",
        &format!("language = \"ctx\"\nname = \"ctx\"\n{platforms}"),
    );
    repo
}

fn build(repo: &Repo, image: &str) {
    repo.run(&["build", image, "--tag", "t", "--progress", "none"])
        .success();
}

#[track_caller]
fn assert_holds(image: &str, content: &str) {
    assert_eq!(file_in(image, "/etc/f"), content, "{image}, in a container");
    assert_eq!(
        file_in_layers(image, "etc/f").as_deref(),
        Some(content),
        "{image}, in its layers"
    );
}

/// The common case: one platform, the same file rebuilt with new content of the same size.
#[test]
fn a_file_changed_in_content_but_not_size_is_not_served_stale() {
    let repo = ctx_repo("");
    repo.write("sdks/twin/rootfs/etc/f", "first\n");
    repo.write("sdks/ctx/rootfs/etc/f", "first\n");
    build(&repo, "twin");
    let image = format!("{}/ctx:t", repo.root);
    for content in ["first\n", "other\n", "third\n", "first\n"] {
        repo.write("sdks/ctx/over", content);
        build(&repo, "ctx");
        assert_holds(&image, content);
    }
}

/// Two platforms built at the same time from one context, each replacing `rootfs/etc/f` by a
/// file of the same size; the rootfs layer was registered before by `twin`. Each platform's
/// image holds its own file, in a container and in its layers.
#[test]
fn each_platform_gets_its_own_file_of_the_same_size() {
    let repo = ctx_repo("platforms = [\"linux/amd64\", \"linux/arm64\"]\n");
    for dir in ["twin", "ctx"] {
        repo.write(&format!("sdks/{dir}/rootfs/etc/f"), "first\n");
    }
    repo.write("sdks/ctx/over-amd64", "amd64\n");
    repo.write("sdks/ctx/over-arm64", "arm64\n");
    build(&repo, "twin");
    build(&repo, "ctx");
    let image = format!("{}/ctx:t", repo.root);
    assert_holds(&image, "amd64\n");
    assert_holds(&format!("{image}-linux-arm64"), "arm64\n");
}

/// Five letters never used before (a fresh BuildKit cache key for a file holding them).
fn fresh_word() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let mut n = nanos ^ (u128::from(std::process::id()) << 64);
    (0..5)
        .map(|_| {
            let c = (b'a' + (n % 26) as u8) as char;
            n /= 26;
            c
        })
        .collect()
}

/// The shape the SBOM test hit: the `licensed` fixture's rootfs (a layer every run of the
/// licenses tests shares) copied first, then per platform a dpkg status of the same size that
/// differs only in its architecture word. On this project's test engine that rootfs step is in
/// the state that makes moby diff by stat, so before the fix both platforms' `COPY status-*`
/// layers came out empty: containers showed the new file, the layers (what a push sends) the
/// rootfs's. Each word is new, so no cached step from an earlier run answers.
#[test]
fn a_same_size_status_over_the_shared_rootfs_reaches_each_platforms_layers() {
    let (repo, _) = licensed_repo();
    let (status, native) = licensed_two_platforms(&repo);
    let mut expected = Vec::new();
    for arch in ["amd64", "arm64"] {
        let word = format!("{}{}", &fresh_word()[..4], &arch[4..]);
        let own = status.replacen(
            &format!("Architecture: {native}"),
            &format!("Architecture: {word}"),
            1,
        );
        assert_eq!(own.len(), status.len());
        repo.write(&format!("sdk/status-{arch}"), &own);
        expected.push(own);
    }
    repo.run(&["build", "--tag", "t", "--progress", "none"])
        .success();
    let image = format!("{}/licensed_sdk:t", repo.root);
    for (image, own) in [image.clone(), format!("{image}-linux-arm64")]
        .iter()
        .zip(&expected)
    {
        let path = "var/lib/dpkg/status";
        assert_eq!(
            &file_in(image, &format!("/{path}")),
            own,
            "{image}, in a container"
        );
        assert_eq!(
            file_in_layers(image, path).as_ref(),
            Some(own),
            "{image}, in its layers"
        );
    }
}
