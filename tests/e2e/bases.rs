//! Release provenance: OCI labels without asking (and the user's), `--pull` of external bases
//! through the engine, and the bases each image was built on in the metadata file.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use sdkimage::output::{EventKind, Outcome};

use crate::publish::{AuthRegistry, PASSWORD, USER};
use crate::support::images::{RemoveImage, build_foreign_image};
use crate::support::{RegistryApi, Repo, checked_text, docker, docker_image_id, read_metadata};

const SOURCE: &str = "org.opencontainers.image.source";
const REVISION: &str = "org.opencontainers.image.revision";
const VERSION: &str = "org.opencontainers.image.version";
const CREATED: &str = "org.opencontainers.image.created";
const TITLE: &str = "org.opencontainers.image.title";
const LICENSES: &str = "org.opencontainers.image.licenses";

/// `SOURCE_DATE_EPOCH` of these tests, and the `created` label it gives.
const EPOCH: (&str, &str) = ("SOURCE_DATE_EPOCH", "1700000000");
const CREATED_AT: &str = "2023-11-14T22:13:20Z";

/// `git <args>` in the repo, which must succeed; its stdout.
#[track_caller]
fn git(dir: &Path, args: &[&str]) -> String {
    checked_text(
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.name=e2e", "-c", "user.email=e2e@example.com"])
            .args(args),
    )
    .trim()
    .to_string()
}

/// Make the repo a git checkout with one commit; `HEAD`'s commit.
fn commit_all(repo: &Repo, message: &str) -> String {
    if !repo.file(".git").exists() {
        git(repo.path(), &["init", "-q"]);
    }
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-q", "-m", message]);
    git(repo.path(), &["rev-parse", "HEAD"])
}

/// The labels of a local image, as the engine has them (`docker image inspect`).
#[track_caller]
fn labels_of(reference: &str) -> BTreeMap<String, String> {
    let text = docker(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Labels}}",
        reference,
    ]);
    serde_json::from_str::<Option<BTreeMap<String, String>>>(text.trim())
        .expect("labels are JSON")
        .unwrap_or_default()
}

/// The outcome of each image of a JSON run, by name.
#[track_caller]
fn outcomes(run: &crate::support::Run) -> BTreeMap<String, EventKind> {
    run.events()
        .into_iter()
        .filter(|e| {
            matches!(
                e.kind(),
                EventKind::BuildFinished | EventKind::UpToDate | EventKind::Retagged
            )
        })
        .map(|e| (e.image().unwrap().to_string(), e.kind()))
        .collect()
}

/// Replace `from` by `to` in the repo's file `rel` (which must hold it).
fn edit(repo: &Repo, rel: &str, from: &str, to: &str) {
    let text = std::fs::read_to_string(repo.file(rel)).unwrap();
    assert!(text.contains(from), "{rel} has no {from:?}");
    repo.write(rel, &text.replacen(from, to, 1));
}

#[test]
fn images_carry_oci_labels_and_the_users_and_only_real_changes_rebuild() {
    let repo = Repo::new("beam");
    edit(
        &repo,
        "Cargo.toml",
        "version = \"2.61.0\"\n",
        "version = \"2.61.0\"\nlicense = \"Apache-2.0\"\n",
    );
    // The go image by the classic builder, with a label of its manifest.
    edit(
        &repo,
        "sdks/go/container/sdkimage.toml",
        "depends-on = [\"base\"]\n",
        "depends-on = [\"base\"]\nbuilder = \"classic\"\n\n[labels]\nteam = \"go\"\n\"org.opencontainers.image.vendor\" = \"Apache\"\n",
    );
    let head = commit_all(&repo, "one");
    git(
        repo.path(),
        &[
            "remote",
            "add",
            "origin",
            "https://bot:ghp_secret@example.com/apache/beam.git",
        ],
    );
    let build = |args: &[&str]| {
        let all = [&["build", "go", "--message-format", "json"], args].concat();
        let run = repo.run_with(&all, &[EPOCH]);
        run.success();
        run
    };
    let base = |tag: &str| repo.image_ref("beam_base", tag);
    let go = |tag: &str| repo.image_ref("beam_go_sdk", tag);

    let first = build(&[]);
    assert_eq!(
        outcomes(&first).values().collect::<Vec<_>>(),
        [&EventKind::BuildFinished; 2]
    );
    let expected = |title: &str| {
        BTreeMap::from([
            (
                SOURCE.to_string(),
                "https://example.com/apache/beam.git".to_string(),
            ),
            (REVISION.to_string(), head.clone()),
            (VERSION.to_string(), "2.61.0".to_string()),
            (CREATED.to_string(), CREATED_AT.to_string()),
            (TITLE.to_string(), title.to_string()),
            (LICENSES.to_string(), "Apache-2.0".to_string()),
        ])
    };
    // BuildKit (the base) and the classic builder (go) both label.
    assert_eq!(labels_of(&base("2.61.0")), expected("beam_base"));
    let mut go_expected = expected("beam_go_sdk");
    go_expected.insert("team".into(), "go".into());
    go_expected.insert("org.opencontainers.image.vendor".into(), "Apache".into());
    assert_eq!(labels_of(&go("2.61.0")), go_expected);
    assert!(!first.all_output().contains("ghp_secret"));

    // A new commit and a new tag alone rebuild nothing: the images keep the revision and the
    // time they were built with.
    repo.write("README.md", "a new commit\n");
    let second_head = commit_all(&repo, "two");
    let retag = build(&["--tag", "2.61.0", "--tag", "rc2"]);
    assert_eq!(
        outcomes(&retag).values().collect::<Vec<_>>(),
        [&EventKind::Retagged; 2]
    );
    assert_eq!(labels_of(&go("rc2")), go_expected);
    assert_eq!(labels_of(&go("rc2"))[REVISION], head);

    // `--label` wins over the manifest's `[labels]` and rebuilds every image it labels; the
    // build has the new revision, and a file changed but not committed makes it dirty.
    edit(&repo, "sdks/go/container/boot.sh", "beam", "beam!");
    let flagged = build(&["--label", "team=cli", "--label", "extra=1"]);
    assert_eq!(
        outcomes(&flagged).values().collect::<Vec<_>>(),
        [&EventKind::BuildFinished; 2]
    );
    let go_labels = labels_of(&go("2.61.0"));
    assert_eq!(go_labels["team"], "cli");
    assert_eq!(go_labels["extra"], "1");
    assert_eq!(go_labels[REVISION], format!("{second_head}-dirty"));
    assert_eq!(labels_of(&base("2.61.0"))["extra"], "1");
    // The same flags again: up to date.
    let again = build(&["--label", "team=cli", "--label", "extra=1"]);
    assert_eq!(
        outcomes(&again).values().collect::<Vec<_>>(),
        [&EventKind::UpToDate; 2]
    );

    // The workspace's [labels] (a change rebuilds), and default-labels = false: only the
    // user's labels are left.
    edit(
        &repo,
        "Cargo.toml",
        "tags = [\"{version}\"]\n",
        "tags = [\"{version}\"]\ndefault-labels = false\nlabels = { team = \"workspace\", tier = \"1\" }\n",
    );
    let plain = build(&[]);
    assert_eq!(
        outcomes(&plain).values().collect::<Vec<_>>(),
        [&EventKind::BuildFinished; 2]
    );
    assert_eq!(
        labels_of(&base("2.61.0")),
        BTreeMap::from([
            ("team".to_string(), "workspace".to_string()),
            ("tier".to_string(), "1".to_string()),
        ])
    );
    let go_labels = labels_of(&go("2.61.0"));
    assert_eq!(
        go_labels["team"], "go",
        "the manifest's wins over the workspace's"
    );
    assert_eq!(go_labels["tier"], "1");
    assert!(!go_labels.contains_key(TITLE) && !go_labels.contains_key(REVISION));
}

#[test]
fn bad_labels_and_a_bad_source_date_epoch_are_invalid_input() {
    let repo = Repo::new("beam");
    let run = repo.run(&["build", "base", "--label", "no-value"]);
    run.expect_code(2);
    run.assert_stderr_contains("no-value");
    repo.write(
        "sdks/base/sdkimage.toml",
        "language = \"base\"\nname = \"beam_base\"\n\n[labels]\n\"two words\" = \"x\"\n",
    );
    let run = repo.run(&["build", "base"]);
    run.expect_code(2);
    run.assert_stderr_contains("sdks/base/sdkimage.toml:5:1: label key \"two words\"");
    repo.write(
        "sdks/base/sdkimage.toml",
        "language = \"base\"\nname = \"beam_base\"\n\n[[copy]]\nfrom = \"../../vendor/busybox\"\nto = \"busybox\"\n",
    );
    let run = repo.run_with(&["build", "base"], &[("SOURCE_DATE_EPOCH", "yesterday")]);
    run.expect_code(2);
    run.assert_stderr_contains("SOURCE_DATE_EPOCH=\"yesterday\"");
    assert!(docker_image_id(&repo.image_ref("beam_base", "2.61.0")).is_none());

    // No git checkout and no SOURCE_DATE_EPOCH: no revision, no created label, and a forced
    // rebuild of the same inputs is the same image.
    let base = repo.image_ref("beam_base", "2.61.0");
    repo.run(&["build", "base"]).success();
    let labels = labels_of(&base);
    assert_eq!(labels[TITLE], "beam_base");
    assert_eq!(labels[VERSION], "2.61.0");
    assert!(
        !labels.contains_key(REVISION) && !labels.contains_key(CREATED),
        "{labels:?}"
    );
    let id = docker_image_id(&base);
    repo.run(&["build", "base", "--force"]).success();
    assert_eq!(docker_image_id(&base), id);
}

/// Build `reference` with the docker CLI from a scratch context holding busybox and a file
/// `version` with `text`; the image id.
fn build_external_base(repo: &Repo, reference: &str, text: &str) -> String {
    build_foreign_image(
        repo,
        "external-base",
        reference,
        "FROM scratch\nCOPY busybox /bin/busybox\nCOPY version /version\n",
        &[("version", text)],
    )
}

#[test]
fn pull_rebuilds_exactly_the_images_on_a_changed_base_and_the_metadata_names_it() {
    let repo = Repo::in_registry("beam");
    // An external base in the registry (not one of the workspace's images).
    let external = repo.image_ref("external/base", "1");
    let v1 = build_external_base(&repo, &external, "one\n");
    docker(&["push", &external]);
    let d1 = RegistryApi::digest(&external).expect("pushed");
    repo.write(
        "sdks/go/container/Dockerfile",
        &format!("FROM {external}\nCOPY boot.sh /opt/apache/beam/boot\n"),
    );
    let args = ["build", "--pull", "--message-format", "json"];
    let (first, meta) = repo.run_with_metadata(&args);
    first.success();
    assert_eq!(first.summary().built, 4);
    let m = read_metadata(&meta);
    let go_bases = &m["beam_go_sdk"].bases;
    assert_eq!(go_bases.len(), 1, "{go_bases:?}");
    assert_eq!(go_bases[&external].id, v1);
    assert_eq!(go_bases[&external].digest.as_deref(), Some(d1.as_str()));
    // Our own images are no external bases, and were never pulled.
    for name in ["beam_base", "beam_python3.10_sdk", "beam_python3.11_sdk"] {
        assert!(m[name].bases.is_empty(), "{name}: {:?}", m[name].bases);
    }
    let err = first.stderr();
    assert!(err.contains(&format!("pulling {external}")), "{err}");
    // Only that one was pulled: our own images never are.
    assert_eq!(err.matches("pulling ").count(), 1, "{err}");

    // Someone pushes a changed base under the same tag; this engine still holds the old one.
    let v2 = build_external_base(&repo, &external, "two\n");
    docker(&["push", &external]);
    let d2 = RegistryApi::digest(&external).expect("pushed");
    assert_ne!(d1, d2);
    docker(&["tag", &v1, &external]);
    let _cleanup = [RemoveImage(v1.clone()), RemoveImage(v2.clone())];

    // Without --pull: offline, from the engine's own images; all up to date.
    let (offline, meta) = repo.run_with_metadata(&["build", "--message-format", "json"]);
    offline.success();
    assert_eq!(offline.summary().up_to_date, 4);
    assert_eq!(read_metadata(&meta)["beam_go_sdk"].bases[&external].id, v1);
    // A build without --pull uses the engine's base, not the registry's newer one.
    let go = repo.image_ref("beam_go_sdk", "2.61.0");
    let version = || {
        docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            "/bin/busybox",
            &go,
            "cat",
            "/version",
        ])
    };
    repo.run(&["build", "go", "--force"]).success();
    assert_eq!(version(), "one\n");

    // --pull brings the new base, which rebuilds the image on it and nothing else.
    let (pulled, meta) = repo.run_with_metadata(&args);
    pulled.success();
    let kinds = outcomes(&pulled);
    assert_eq!(kinds["beam_go_sdk"], EventKind::BuildFinished);
    for name in ["beam_base", "beam_python3.10_sdk", "beam_python3.11_sdk"] {
        assert_eq!(kinds[name], EventKind::UpToDate, "{name}");
    }
    assert_eq!(docker_image_id(&external).as_deref(), Some(v2.as_str()));
    let m = read_metadata(&meta);
    assert_eq!(m["beam_go_sdk"].outcome, Outcome::Built);
    assert_eq!(m["beam_go_sdk"].bases[&external].id, v2);
    assert_eq!(
        m["beam_go_sdk"].bases[&external].digest.as_deref(),
        Some(d2.as_str())
    );
    // And the image is really built on it.
    assert_eq!(version(), "two\n");
}

#[test]
fn pull_from_an_unreachable_registry_exits_3_naming_it() {
    let repo = Repo::new("beam");
    repo.write(
        "sdks/go/container/Dockerfile",
        "FROM 127.0.0.1:9/sdkimage-e2e/missing:1\nCOPY boot.sh /boot\n",
    );
    // A dry run says it would pull, and asks no registry.
    let dry = repo.run(&["build", "go", "--pull", "--label", "k=v", "--dry-run"]);
    dry.success();
    assert!(
        dry.stdout().starts_with("pull     the external bases"),
        "{}",
        dry.stdout()
    );
    assert!(dry.stdout().contains(", --label k=v"), "{}", dry.stdout());
    let (run, meta) =
        repo.run_with_metadata(&["build", "go", "--pull", "--message-format", "json"]);
    run.expect_code(3);
    run.assert_stderr_contains("registry 127.0.0.1:9 unreachable");
    assert!(run.stderr().contains("127.0.0.1:9/sdkimage-e2e/missing:1"));
    // Nothing was built, and the run still closed with its summary and metadata file.
    assert_eq!(run.summary().built, 0);
    let m = read_metadata(&meta);
    assert_eq!(m["beam_go_sdk"].outcome, Outcome::Skipped);
    assert_eq!(m["beam_base"].outcome, Outcome::Skipped);
    assert!(docker_image_id(&repo.image_ref("beam_base", "2.61.0")).is_none());
    // `pull = true` in the workspace asks the same.
    edit(
        &repo,
        "Cargo.toml",
        "tags = [\"{version}\"]\n",
        "tags = [\"{version}\"]\npull = true\n",
    );
    let run = repo.run(&["build", "go"]);
    run.expect_code(3);
    assert!(run.stderr().contains("registry 127.0.0.1:9 unreachable"));
}

#[test]
fn pull_takes_the_docker_configs_credentials_and_a_denied_pull_names_the_registry() {
    let registry = AuthRegistry::start();
    let repo = Repo::in_registry_at("beam", &registry.host());
    let config = registry.auths_config(&repo, PASSWORD);
    let empty = repo.file("empty-docker-config");
    std::fs::create_dir_all(&empty).unwrap();
    let (base, id, _cleanup) = registry.private_base(&repo, &config);
    let args = ["build", "go", "--pull", "--progress", "plain"];

    let denied = repo.run_with(&args, &[("DOCKER_CONFIG", empty.to_str().unwrap())]);
    denied.expect_code(1);
    let err = denied.stderr();
    assert!(
        err.contains(&format!(
            "registry {} denied the pull of base image {base}",
            registry.host()
        )),
        "{err}"
    );
    assert!(err.contains("docker login"), "{err}");
    assert!(docker_image_id(&base).is_none());

    let meta = repo.file("meta.json");
    let meta_arg = meta.to_str().unwrap();
    let pulled = repo.run_with(
        &[&args[..], &["--metadata-file", meta_arg]].concat(),
        &[("DOCKER_CONFIG", config.to_str().unwrap())],
    );
    pulled.success();
    // Pulled through the engine: in its image list, under the base's name.
    assert_eq!(docker_image_id(&base).as_deref(), Some(id.as_str()));
    let recorded = &read_metadata(&meta)["beam_go_sdk"].bases[&base];
    assert_eq!(recorded.id, id);
    assert_eq!(
        recorded.digest,
        RegistryApi::digest_as(&base, Some((USER, PASSWORD)))
    );
    assert!(!pulled.all_output().contains(PASSWORD));
}
