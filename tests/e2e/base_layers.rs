//! Our own push and the layers an image does not own: an external base's layers keep the
//! base's blob digests (mounted from its repository), a dependency of ours gives the same
//! layer digests it was pushed with, and `reproducible = false` (in a manifest or the
//! workspace) pushes the engine's layers; the metadata file says which.

use crate::publish::{AuthRegistry, PASSWORD, USER};
use crate::support::images::{RemoveImage, build_foreign_image, newest_entry};
use crate::support::{RegistryApi, Repo, curl_manifest, docker, test_registry};

const EPOCH: u64 = 1_700_000_000;

/// `host/path` of a full repository name.
fn split(repository: &str) -> (&str, &str) {
    repository.split_once('/').unwrap()
}

/// The manifest `reference` of `repository` from the registry, as JSON.
fn manifest(repository: &str, reference: &str) -> serde_json::Value {
    let (host, path) = split(repository);
    serde_json::from_str(&curl_manifest(host, path, reference)).unwrap()
}

/// The layer digests a manifest lists, in order.
fn layer_digests(manifest: &serde_json::Value) -> Vec<String> {
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

/// Blob `digest` of `repository`, whole.
fn blob(repository: &str, digest: &str) -> Vec<u8> {
    RegistryApi::get(repository, &format!("blobs/{digest}"), None)
}

/// Build `reference` with the engine (classic builder) from busybox and a file written by a
/// `RUN` (so its times are the build's, after the epoch), and push it with the engine.
fn external_base(repo: &Repo, reference: &str) {
    build_foreign_image(
        repo,
        "external-base",
        reference,
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo base > /base.txt\"]\n",
        &[],
    );
    docker(&["push", reference]);
}

#[test]
fn an_external_bases_layers_keep_the_bases_digests_and_the_rest_is_normalised() {
    let repo = Repo::in_registry("beam");
    let external = format!("{}/external/base", repo.root);
    let external_ref = format!("{external}:1");
    external_base(&repo, &external_ref);
    let _cleanup = RemoveImage(external_ref.clone());
    repo.write(
        "sdks/go/container/Dockerfile",
        &format!(
            "FROM {external_ref}\nCOPY boot.sh /opt/apache/beam/boot\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo go > /go.txt\"]\n"
        ),
    );
    let metadata = repo.build_push_at_epoch(&["build", "go", "--tag", "1"], EPOCH, &[]);
    let base_layers = layer_digests(&manifest(&external, "1"));
    assert_eq!(base_layers.len(), 2, "{base_layers:?}");

    let entry = &metadata["beam_go_sdk"];
    assert_eq!(entry.normalized, Some(true));
    let go = format!("{}/beam_go_sdk", repo.root);
    let pushed = manifest(&go, entry.digest.as_deref().unwrap());
    let layers = layer_digests(&pushed);
    assert_eq!(layers.len(), 4, "{layers:?}");
    assert_eq!(
        layers[..2],
        base_layers[..],
        "the base's layers are pushed as the base's blobs"
    );
    // Their blobs were put into the image's repository (mounted), byte for byte the base's.
    for digest in &base_layers {
        assert_eq!(blob(&go, digest), blob(&external, digest), "{digest}");
    }
    // The base's layers were not rewritten: its RUN wrote a file after the epoch.
    let (base_newest, _) = newest_entry(&blob(&external, &base_layers[1]));
    assert!(
        base_newest > EPOCH,
        "the base's RUN layer is newer than the epoch"
    );
    // The image's own layers were.
    for digest in &layers[2..] {
        let (mtime, path) = newest_entry(&blob(&go, digest));
        assert!(mtime <= EPOCH, "{path} has mtime {mtime}");
    }
    // The config names the base's diff ids first, and is the one the metadata names.
    let config_digest = pushed["config"]["digest"].as_str().unwrap();
    assert_eq!(
        entry.containerimage_config_digest.as_deref(),
        Some(config_digest)
    );
    assert_ne!(entry.id.as_deref(), Some(config_digest));
    let config: serde_json::Value = serde_json::from_slice(&blob(&go, config_digest)).unwrap();
    let base_manifest = manifest(&external, "1");
    let base_config: serde_json::Value = serde_json::from_slice(&blob(
        &external,
        base_manifest["config"]["digest"].as_str().unwrap(),
    ))
    .unwrap();
    assert_eq!(
        config["rootfs"]["diff_ids"].as_array().unwrap()[..2],
        base_config["rootfs"]["diff_ids"].as_array().unwrap()[..]
    );
}

#[test]
fn reproducible_false_pushes_the_engines_layers_and_a_dependency_keeps_its_digests() {
    let repo = Repo::in_registry("beam");
    let push = |tag: &str| repo.build_push_at_epoch(&["build", "go", "--tag", tag], EPOCH, &[]);
    let go = format!("{}/beam_go_sdk", repo.root);
    let base = format!("{}/beam_base", repo.root);

    // Normalised: go's first layers are the ones pushed for beam_base, its FROM.
    let normalised = push("1");
    let go_entry = &normalised["beam_go_sdk"];
    assert_eq!(go_entry.normalized, Some(true));
    assert_eq!(go_entry.epoch, Some(EPOCH));
    let go_layers = layer_digests(&manifest(&go, go_entry.digest.as_deref().unwrap()));
    let base_layers = layer_digests(&manifest(
        &base,
        normalised["beam_base"].digest.as_deref().unwrap(),
    ));
    assert_eq!(go_layers[..base_layers.len()], base_layers[..]);
    let go_config = manifest(&go, "1")["config"]["digest"].clone();
    assert_eq!(
        go_entry.containerimage_config_digest.as_deref(),
        go_config.as_str()
    );

    // `reproducible = false` in go's manifest: go goes up as the engine wrote it, beam_base
    // stays normalised.
    let toml = repo.file("sdks/go/container/sdkimage.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(&toml, format!("reproducible = false\n{text}")).unwrap();
    let raw = push("2");
    let go_entry = &raw["beam_go_sdk"];
    assert_eq!(go_entry.normalized, Some(false));
    assert_eq!(go_entry.epoch, None);
    assert_eq!(raw["beam_base"].normalized, Some(true));
    assert_eq!(raw["beam_base"].digest, normalised["beam_base"].digest);
    assert_ne!(go_entry.digest, normalised["beam_go_sdk"].digest);
    let pushed = manifest(&go, "2");
    let config_digest = pushed["config"]["digest"].as_str().unwrap();
    // The engine's config, pushed as it is: its digest is the image id.
    assert_eq!(go_entry.id.as_deref(), Some(config_digest));
    assert_eq!(
        go_entry.containerimage_config_digest.as_deref(),
        Some(config_digest)
    );
    let config: serde_json::Value = serde_json::from_slice(&blob(&go, config_digest)).unwrap();
    assert_ne!(config["created"], "2023-11-14T22:13:20Z");

    // A value that is not a boolean is refused where it is written.
    std::fs::write(&toml, format!("reproducible = \"no\"\n{text}")).unwrap();
    let run = repo.run(&["build", "go", "--dry-run"]);
    run.expect_code(2);
    run.assert_stderr_contains("sdkimage.toml:1:");

    // The workspace's `reproducible = false` is every manifest's default.
    std::fs::write(&toml, &text).unwrap();
    let cargo = repo.file("Cargo.toml");
    let cargo_text = std::fs::read_to_string(&cargo).unwrap();
    std::fs::write(
        &cargo,
        cargo_text.replace(
            "[workspace.metadata.sdkimage]",
            "[workspace.metadata.sdkimage]\nreproducible = false",
        ),
    )
    .unwrap();
    assert!(
        std::fs::read_to_string(&cargo)
            .unwrap()
            .contains("reproducible = false"),
        "the fixture has [workspace.metadata.sdkimage]"
    );
    let off = push("3");
    for (image, entry) in &off {
        assert_eq!(entry.normalized, Some(false), "{image}");
        assert_eq!(entry.containerimage_config_digest, entry.id, "{image}");
    }
    assert_ne!(off["beam_base"].digest, normalised["beam_base"].digest);
}

#[test]
fn a_base_in_another_registry_is_copied_with_its_digests() {
    let registry = AuthRegistry::start();
    let repo = Repo::in_registry_at("beam", &registry.host());
    let config = registry.auths_config(&repo, PASSWORD);
    // The base lives in the shared registry, the image goes to the other one: no mount.
    let external = format!(
        "{}/{}-ext/base",
        test_registry(),
        repo.root.split_once('/').unwrap().1
    );
    let external_ref = format!("{external}:1");
    external_base(&repo, &external_ref);
    let _cleanup = RemoveImage(external_ref.clone());
    repo.write(
        "sdks/go/container/Dockerfile",
        &format!("FROM {external_ref}\nCOPY boot.sh /opt/apache/beam/boot\n"),
    );
    let metadata = repo.build_push_at_epoch(
        &["build", "go", "--tag", "1"],
        EPOCH,
        &[("DOCKER_CONFIG", config.to_str().unwrap())],
    );
    let base_layers = layer_digests(&manifest(&external, "1"));
    let digest = metadata["beam_go_sdk"].digest.clone().unwrap();
    // The image's repository in the other registry, read as the test user.
    let go = format!("{}/beam_go_sdk", repo.root);
    let get_as_user = |what: &str| RegistryApi::get(&go, what, Some((USER, PASSWORD)));
    let pushed: serde_json::Value =
        serde_json::from_slice(&get_as_user(&format!("manifests/{digest}"))).unwrap();
    let layers = layer_digests(&pushed);
    assert_eq!(layers[..2], base_layers[..], "{layers:?}");
    for d in &base_layers {
        assert_eq!(
            get_as_user(&format!("blobs/{d}")),
            blob(&external, d),
            "{d}"
        );
    }
}
