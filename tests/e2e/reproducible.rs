//! Our own push with normalisation: two builds of the same commit with no cache give the same
//! digests, and no file in a pushed layer is newer than the epoch.

use crate::support::images::newest_entry;
use crate::support::{RegistryApi, Repo, repo_digests};

const EPOCH: u64 = 1_700_000_000;

fn build_push(repo: &Repo, tag: &str) -> std::collections::BTreeMap<String, String> {
    repo.build_push_at_epoch(
        &["build", "go", "--no-cache", "--force", "--tag", tag],
        EPOCH,
        &[],
    )
    .into_iter()
    .map(|(image, entry)| {
        assert_eq!(entry.normalized, Some(true), "{image}");
        assert_eq!(entry.epoch, Some(EPOCH), "{image}");
        (image, entry.digest.unwrap())
    })
    .collect()
}

#[test]
fn two_builds_without_cache_push_the_same_digests_with_no_mtime_after_the_epoch() {
    let repo = Repo::in_registry("beam");
    let first = build_push(&repo, "one");
    let second = build_push(&repo, "two");
    assert_eq!(first.len(), 2, "{first:?}");
    assert_eq!(
        first, second,
        "the same commit, built twice, pushes the same digests"
    );
    for (image, digest) in &first {
        let repository = format!("{}/{image}", repo.root);
        assert_eq!(
            RegistryApi::digest(&format!("{repository}:two")).as_ref(),
            Some(digest)
        );
        let manifest: serde_json::Value = serde_json::from_slice(&RegistryApi::get(
            &repository,
            &format!("manifests/{digest}"),
            None,
        ))
        .unwrap();
        assert_eq!(
            manifest["mediaType"],
            "application/vnd.oci.image.manifest.v1+json"
        );
        let blob = |digest: &str| RegistryApi::get(&repository, &format!("blobs/{digest}"), None);
        let config_digest = manifest["config"]["digest"].as_str().unwrap();
        let config: serde_json::Value = serde_json::from_slice(&blob(config_digest)).unwrap();
        assert_eq!(config["created"], "2023-11-14T22:13:20Z");
        for layer in manifest["layers"].as_array().unwrap() {
            let (mtime, path) = newest_entry(&blob(layer["digest"].as_str().unwrap()));
            assert!(mtime <= EPOCH, "{image}: {path} has mtime {mtime}");
        }
    }
    // `verify` reads what we pushed.
    repo.run(&["verify", "go", "--tag", "two"]).success();
}

/// `--push-via engine`: the engine pushes, as before; its RepoDigests name the digest, which
/// the metadata says is not normalised.
#[test]
fn push_via_engine_pushes_the_engines_image() {
    let repo = Repo::in_registry("beam");
    let metadata = repo.build_push_at_epoch(
        &["build", "go", "--tag", "1.0", "--push-via", "engine"],
        EPOCH,
        &[],
    );
    for (image, entry) in metadata {
        assert_eq!(entry.normalized, Some(false), "{image}");
        assert_eq!(entry.epoch, None, "{image}");
        let digest = entry.digest.unwrap();
        let reference = repo.image_ref(&image, "1.0");
        assert!(
            repo_digests(&reference).contains(&format!("{}/{image}@{digest}", repo.root)),
            "{reference}: {:?} lacks {digest}",
            repo_digests(&reference)
        );
    }
    repo.run(&["verify", "go", "--tag", "1.0"]).success();
}
