//! Issue 22's guarantee across engines: the same commit, cloned twice (two checkouts, two
//! state folders, other checkout mtimes) and built on two engines with no shared cache (the
//! shared engine and a cold one of `scripts/services.sh`), pushes the same manifest digest
//! for every image and platform and the same index digest. With `reproducible = false` the
//! same two builds push different digests: the equality is the normalisation's doing.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::cache::ColdEngine;
use crate::support::images::arm64_busybox;
use crate::support::{Repo, checked_stdout, read_metadata, run_sdkimage};

/// The fixed commit time of the fixture's one commit: the epoch (no `SOURCE_DATE_EPOCH`).
const COMMIT_TIME: u64 = 1_700_000_000;

fn git(dir: &Path, args: &[&str]) {
    let date = format!("@{COMMIT_TIME} +0000");
    checked_stdout(
        Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com"),
    );
}

/// Per image: the pushed digest (the index's for `multi`) and each platform's manifest
/// digest.
type Pushed = BTreeMap<String, (String, BTreeMap<String, String>)>;

/// `build --push` (or `push`, `command`) in `dir` on `engine` (`None`: the shared one) into
/// `root`; what the metadata file (`meta-<name>.json`) says was pushed.
fn push(
    dir: &Path,
    name: &str,
    command: &[&str],
    root: &str,
    engine: Option<&ColdEngine>,
) -> Pushed {
    let meta = dir.join(format!("meta-{name}.json"));
    let mut args = command.to_vec();
    args.extend([
        "--repository-root",
        root,
        "--progress",
        "none",
        "--metadata-file",
        meta.to_str().unwrap(),
    ]);
    let env: Vec<(&str, &str)> = match engine {
        Some(engine) => vec![("DOCKER_HOST", engine.host.as_str())],
        None => Vec::new(),
    };
    let run = run_sdkimage(dir, &args, &env);
    run.success();
    read_metadata(&meta)
        .into_iter()
        .map(|(image, entry)| {
            let platforms = entry
                .platforms
                .iter()
                .map(|(p, m)| (p.clone(), m.digest.clone().unwrap_or_default()))
                .collect();
            (image, (entry.digest.expect("pushed"), platforms))
        })
        .collect()
}

/// `cargo sdkimage diff` of the two pushes of `image` (`platform`): why they differ.
fn explain(dir: &Path, a: &str, b: &str, platform: &str) -> String {
    let run = run_sdkimage(
        dir,
        &[
            "diff",
            a,
            b,
            "--a-from",
            "registry",
            "--b-from",
            "registry",
            "--platform",
            platform,
            "--progress",
            "none",
        ],
        &[],
    );
    format!("{}{}", run.stdout(), run.stderr())
}

/// Panics, with `cargo sdkimage diff` of each image and platform that differs, unless the two
/// pushes (`tag` under each root) have the same digests.
fn assert_same(dir: &Path, (a, root_a): (&Pushed, &str), (b, root_b): (&Pushed, &str), tag: &str) {
    if a != b {
        let mut why = String::new();
        for (image, (digest, platforms)) in a {
            for platform in platforms
                .keys()
                .map(String::as_str)
                .chain(platforms.is_empty().then_some("linux/amd64"))
            {
                let other = &b[image];
                if platforms.get(platform) != other.1.get(platform) || digest != &other.0 {
                    why.push_str(&explain(
                        dir,
                        &format!("{root_a}/{image}:{tag}"),
                        &format!("{root_b}/{image}:{tag}"),
                        platform,
                    ));
                }
            }
        }
        panic!("two engines pushed different digests:\n{a:#?}\n{b:#?}\n{why}");
    }
}

#[test]
fn one_commit_on_two_engines_pushes_equal_manifest_and_index_digests() {
    let repo = Repo::in_registry("repro");
    // The arm64 busybox, made this repository's own as `Repo` does with the amd64 one.
    let mut arm64 = std::fs::read(arm64_busybox()).unwrap();
    arm64.extend(format!("\n{}\n", repo.root).as_bytes());
    std::fs::write(repo.file("multi/busybox-arm64"), arm64).unwrap();
    std::fs::set_permissions(
        repo.file("multi/busybox-arm64"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::fs::copy(
        repo.file("vendor/busybox"),
        repo.file("multi/busybox-amd64"),
    )
    .unwrap();
    git(repo.path(), &["init", "-q"]);
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-q", "-m", "fixture"]);
    // The second checkout: a clone, with its own (later) file times and state folder.
    let clone = tempfile::Builder::new()
        .prefix("sdkimage-e2e-repro-clone-")
        .tempdir()
        .unwrap();
    git(
        Path::new("/"),
        &[
            "clone",
            "-q",
            repo.path().to_str().unwrap(),
            clone.path().to_str().unwrap(),
        ],
    );
    // Both checkouts come from one remote, as two CI runners' do: the source label (the
    // origin's URL) is the same.
    let origin = "https://example.com/repro.git";
    git(repo.path(), &["remote", "add", "origin", origin]);
    git(clone.path(), &["remote", "set-url", "origin", origin]);
    let cold = ColdEngine::start();
    let (root_a, root_b) = (format!("{}/a", repo.root), format!("{}/b", repo.root));
    let build = ["build", "--no-cache", "--force", "--push"];
    let a = push(repo.path(), "build", &build, &root_a, None);
    let b = push(clone.path(), "build", &build, &root_b, Some(&cold));
    assert_eq!(a.len(), 2, "{a:?}");
    assert_eq!(a["multi"].1.len(), 2, "two platform manifests: {a:?}");
    assert!(a["single"].1.is_empty(), "{a:?}");
    assert_same(repo.path(), (&a, &root_a), (&b, &root_b), "1.0.0");
    for (image, (digest, _)) in &a {
        let meta = read_metadata(&repo.path().join("meta-build.json"));
        assert_eq!(meta[image].normalized, Some(true), "{image}");
        assert_eq!(meta[image].epoch, Some(COMMIT_TIME), "{image}");
        assert!(digest.starts_with("sha256:"));
    }

    // The classic builder too: its config names the intermediate image of the last step
    // (`config.Image`), another id on every build.
    let classic = [
        "build",
        "single",
        "--builder",
        "classic",
        "--no-cache",
        "--force",
        "--push",
        "--tag",
        "classic",
    ];
    let classic_a = push(repo.path(), "classic", &classic, &root_a, None);
    let classic_b = push(clone.path(), "classic", &classic, &root_b, Some(&cold));
    assert_eq!(classic_a.len(), 1, "{classic_a:?}");
    assert_same(
        repo.path(),
        (&classic_a, &root_a),
        (&classic_b, &root_b),
        "classic",
    );

    // The same two builds pushed without normalisation differ.
    for dir in [repo.path(), clone.path()] {
        let manifest = dir.join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        std::fs::write(
            &manifest,
            text.replace(
                "[workspace.metadata.sdkimage]\n",
                "[workspace.metadata.sdkimage]\nreproducible = false\n",
            ),
        )
        .unwrap();
    }
    let push_raw = ["push"];
    let raw_a = push(repo.path(), "raw", &push_raw, &root_a, None);
    let raw_b = push(clone.path(), "raw", &push_raw, &root_b, Some(&cold));
    for (image, (digest, platforms)) in &raw_a {
        assert_ne!(digest, &raw_b[image].0, "{image} without normalisation");
        assert_ne!(digest, &a[image].0, "{image}");
        for (platform, digest) in platforms {
            assert_ne!(
                Some(digest),
                raw_b[image].1.get(platform),
                "{image} {platform} without normalisation"
            );
        }
    }
}
