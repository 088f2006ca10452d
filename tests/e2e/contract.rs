//! `cargo sdkimage check` and `build --check` against the real engine (and registry): each
//! kind of violation caught and named, nothing pushed after a failed check, a passed check not
//! run again for an unchanged image, and no container left behind, on a time limit or Ctrl-C
//! too. The test images carry honest stand-ins (busybox scripts) for python3 and curl; see
//! `tests/fixtures/contract/`.

use std::collections::BTreeMap;
use std::time::Duration;

use sdkimage::output::{Event, EventKind, Outcome};

use crate::support::{RegistryApi, Repo, docker};

/// Every requirement checked, by image: requirement -> (passed, message, output).
fn requirements(events: &[Event]) -> BTreeMap<String, BTreeMap<String, (bool, String, String)>> {
    let mut all: BTreeMap<String, BTreeMap<String, (bool, String, String)>> = BTreeMap::new();
    for e in events {
        let (passed, check) = match e {
            Event::CheckPassed(check) => (true, check),
            Event::CheckFailed(check) => (false, check),
            _ => continue,
        };
        let entry = (passed, check.message.clone(), check.output.clone());
        all.entry(check.subject.image.clone())
            .or_default()
            .insert(check.requirement.clone(), entry);
    }
    all
}

/// The requirements `image` failed.
fn failed<'a>(
    all: &'a BTreeMap<String, BTreeMap<String, (bool, String, String)>>,
    image: &str,
) -> Vec<&'a str> {
    all.get(image)
        .unwrap_or_else(|| panic!("{image} was not checked: {all:#?}"))
        .iter()
        .filter(|(_, (passed, ..))| !passed)
        .map(|(name, _)| name.as_str())
        .collect()
}

/// The containers (running or not) made from `reference`: none may outlive a check.
fn containers_of(reference: &str) -> Vec<String> {
    docker(&[
        "ps",
        "-a",
        "-q",
        "--filter",
        &format!("ancestor={reference}"),
    ])
    .lines()
    .map(str::to_string)
    .collect()
}

const VERSION_COMMAND: &str =
    "command python3 -c 'import example_sdk; print(example_sdk.__version__)'";

#[test]
fn check_names_each_violation_and_exits_1() {
    let repo = Repo::new("contract");
    repo.run(&["build", "python"]).success();
    let run = repo.run(&["check", "python", "--message-format", "json"]);
    run.expect_code(1);
    let all = requirements(&run.events());
    // The image that keeps its contract meets every requirement, Python ones included.
    let ok = &all["example_ok_sdk"];
    let names: Vec<&str> = ok.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "artifact /opt/example",
            VERSION_COMMAND,
            "entrypoint /opt/example/boot",
            "python3 -m pip check",
            "python3 not end-of-life",
            "tool curl",
            "tool python3",
        ]
    );
    assert!(ok.values().all(|(passed, ..)| *passed), "{ok:#?}");
    assert_eq!(ok[VERSION_COMMAND].2.trim(), "2.61.0");
    // Each other image breaks exactly one requirement, named with what was found.
    assert_eq!(failed(&all, "example_notool_sdk"), ["tool curl"]);
    assert!(
        all["example_notool_sdk"]["tool curl"]
            .1
            .contains("not on the image's PATH")
    );
    assert_eq!(
        failed(&all, "example_entrypoint_sdk"),
        ["entrypoint /opt/example/boot"]
    );
    let wrong = &all["example_entrypoint_sdk"]["entrypoint /opt/example/boot"].1;
    assert!(wrong.contains(r#"ENTRYPOINT is ["/bin/sh"]"#), "{wrong}");
    assert_eq!(
        failed(&all, "example_noboot_sdk"),
        ["entrypoint /opt/example/boot"]
    );
    let missing = &all["example_noboot_sdk"]["entrypoint /opt/example/boot"].1;
    assert!(missing.contains("does not exist"), "{missing}");
    // The SDK version in the image is not the release's (`expect = "{version}"`).
    assert_eq!(failed(&all, "example_version_sdk"), [VERSION_COMMAND]);
    let (_, message, output) = &all["example_version_sdk"][VERSION_COMMAND];
    assert!(message.contains("\"2.61.0\""), "{message}");
    assert_eq!(output.trim(), "2.60.0");
    assert_eq!(failed(&all, "example_pip_sdk"), ["python3 -m pip check"]);
    let (_, _, conflict) = &all["example_pip_sdk"]["python3 -m pip check"];
    assert!(conflict.contains("has requirement numpy"), "{conflict}");
    assert_eq!(failed(&all, "example_eol_sdk"), ["python3 not end-of-life"]);
    let (_, eol, output) = &all["example_eol_sdk"]["python3 not end-of-life"];
    assert!(eol.contains("3.7") && eol.contains("2023-06-27"), "{eol}");
    assert_eq!(output.trim(), "Python 3.7.17");
    let summary = run.summary();
    assert_eq!((summary.checked, summary.failed), (1, 6));
    assert!(
        run.stderr()
            .contains("6 image(s) do not meet their contract")
    );
    // No container outlives the check.
    for image in all.keys() {
        assert_eq!(
            containers_of(&format!("{}/{image}:2.61.0", repo.root)),
            Vec::<String>::new()
        );
    }
    // For people: one line per requirement, the captured output under a failure.
    let human = repo.run(&["check", "python:pip"]);
    human.expect_code(1);
    let text = human.stderr();
    assert!(
        text.contains("✓ python:pip tool curl: /usr/bin/curl"),
        "{text}"
    );
    assert!(
        text.contains("✗ python:pip python3 -m pip check: installed packages conflict"),
        "{text}"
    );
    assert!(
        text.contains("| example-sdk 2.61.0 has requirement numpy"),
        "{text}"
    );
}

#[test]
fn refs_are_checked_against_their_images_contract_or_contract_of() {
    let repo = Repo::new("contract");
    repo.run(&["build", "python:ok"]).success();
    let ok = format!("{}/example_ok_sdk:2.61.0", repo.root);
    let base = format!("{}/contract_base:2.61.0", repo.root);
    // A ref of one of our images is checked against that image's contract.
    let run = repo.run(&["check", &ok, "--message-format", "json"]);
    run.success();
    let all = requirements(&run.events());
    assert_eq!(all[&ok].len(), 7, "{all:#?}");
    // Any other image, against the contract --contract-of names.
    let run = repo.run(&[
        "check",
        &base,
        "--contract-of",
        "python:ok",
        "--message-format",
        "json",
    ]);
    run.expect_code(1);
    let all = requirements(&run.events());
    assert_eq!(
        failed(&all, &base),
        [
            "artifact /opt/example",
            VERSION_COMMAND,
            "entrypoint /opt/example/boot",
            "tool curl",
            "tool python3"
        ]
    );
    // A command that cannot run is named with the engine's reason.
    assert!(
        all[&base][VERSION_COMMAND].1.contains("cannot run python3"),
        "{all:#?}"
    );
    // Without a contract to apply: exit 2, saying what to do.
    let run = repo.run(&["check", "localhost:5999/elsewhere/runtime:1"]);
    run.expect_code(2);
    run.assert_stderr_contains("--contract-of SELECTOR");
    let run = repo.run(&["check", &base, "--contract-of", "python"]);
    run.expect_code(2);
    run.assert_stderr_contains("names 7 images");
}

#[test]
fn build_check_push_pushes_nothing_when_a_check_fails() {
    let repo = Repo::in_registry("contract");
    let (run, meta) = repo.run_with_metadata(&[
        "build",
        "python:pip",
        "--check",
        "--push",
        "--message-format",
        "json",
    ]);
    run.expect_code(1);
    let all = requirements(&run.events());
    assert_eq!(failed(&all, "example_pip_sdk"), ["python3 -m pip check"]);
    let failures = run.events_of(EventKind::Failed);
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].image(), Some("example_pip_sdk"));
    assert!(
        failures[0]
            .message()
            .unwrap()
            .contains("does not meet its contract")
    );
    assert!(run.events_of(EventKind::PushFinished).is_empty());
    // Nothing is in the registry: not the failed image, not the base that passed, no staging tag.
    for image in ["example_pip_sdk", "contract_base"] {
        assert_eq!(
            RegistryApi::tags(&format!("{}/{image}", repo.root)),
            Vec::<String>::new()
        );
    }
    let meta = crate::support::read_metadata(&meta);
    assert_eq!(meta["example_pip_sdk"].outcome, Outcome::Failed);
    assert!(!meta["example_pip_sdk"].pushed);
    // An image that meets its contract is pushed, and anyone may pull it (`--anonymous`).
    repo.run(&["build", "python:ok", "--check", "--push"])
        .success();
    let ok = repo.image_ref("example_ok_sdk", "2.61.0");
    assert!(RegistryApi::digest(&ok).is_some());
    let run = repo.run(&[
        "check",
        "python:ok",
        "--anonymous",
        "--message-format",
        "json",
    ]);
    run.success();
    let all = requirements(&run.events());
    let (passed, message, _) = &all["example_ok_sdk"][&format!("anonymous pull {ok}")];
    assert!(passed, "{message}");
    assert!(message.contains("sha256:"), "{message}");
}

#[test]
fn a_passed_check_is_not_run_again_for_an_unchanged_image() {
    let repo = Repo::new("contract");
    let json = ["--check", "--message-format", "json"];
    let first = repo.run(&[&["build", "python:ok"], &json[..]].concat());
    first.success();
    assert_eq!(requirements(&first.events())["example_ok_sdk"].len(), 7);
    let again = repo.run(&[&["build", "python:ok"], &json[..]].concat());
    again.success();
    assert_eq!(again.events_of(EventKind::UpToDate).len(), 2);
    assert!(
        requirements(&again.events()).is_empty(),
        "{}",
        again.stdout()
    );
    assert!(
        again
            .stderr()
            .contains("contract check passed before for this image")
    );
    // A changed contract is checked again, on the same image.
    let manifest = repo.file("sdks/python/sdkimage.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    repo.write(
        "sdks/python/sdkimage.toml",
        &text.replace(
            r#"tools = ["python3", "curl"]"#,
            r#"tools = ["python3", "curl", "sh"]"#,
        ),
    );
    let changed = repo.run(&[&["build", "python:ok"], &json[..]].concat());
    changed.success();
    assert_eq!(changed.events_of(EventKind::UpToDate).len(), 2);
    let all = requirements(&changed.events());
    assert!(all["example_ok_sdk"]["tool sh"].0, "{all:#?}");
    // A failed check is not remembered: it runs (and fails) again.
    for _ in 0..2 {
        let run = repo.run(&[&["build", "python:eol"], &json[..]].concat());
        run.expect_code(1);
        assert_eq!(
            failed(&requirements(&run.events()), "example_eol_sdk"),
            ["python3 not end-of-life"]
        );
    }
}

#[cfg(unix)]
#[test]
fn a_time_limit_or_ctrl_c_leaves_no_container() {
    let repo = Repo::new("contract");
    repo.run(&["build", "slow"]).success();
    let slow = format!("{}/contract_slow:2.61.0", repo.root);
    let run = repo.run(&[
        "check",
        "slow",
        "--check-timeout",
        "2",
        "--message-format",
        "json",
    ]);
    run.expect_code(1);
    let all = requirements(&run.events());
    let (passed, message, _) = &all["contract_slow"]["command sleep 300"];
    assert!(
        !passed && message.contains("did not finish within 2 s"),
        "{message}"
    );
    assert_eq!(containers_of(&slow), Vec::<String>::new());
    // Ctrl-C while the command runs: exit 130, the container removed before the tool exits.
    let child = crate::support::tool()
        .args(["sdkimage", "check", "slow", "--repository-root", &repo.root])
        .current_dir(repo.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let running = || {
        !docker(&["ps", "-q", "--filter", &format!("ancestor={slow}")])
            .trim()
            .is_empty()
    };
    assert!(
        crate::graph::wait_for(running, Duration::from_secs(30)),
        "the check's container never started"
    );
    crate::graph::kill(&child, "INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(containers_of(&slow), Vec::<String>::new());
}
