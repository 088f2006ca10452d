//! `build --print`: the resolved plan as JSON, with what is up to date and why not, and
//! nothing prepared, built, tagged or recorded.

use sdkimage::output::{BuildPrint, PlanStatus, PrintedImage};
use sdkimage::run::PREPARE_NOT_RUN;

use crate::support::*;

#[track_caller]
fn plan_of(run: &Run) -> BuildPrint {
    run.success();
    parse_checked("print", &run.stdout())
}

#[track_caller]
fn image<'a>(plan: &'a BuildPrint, name: &str) -> &'a PrintedImage {
    plan.images
        .iter()
        .find(|i| i.name == name)
        .unwrap_or_else(|| panic!("no {name} in the plan: {plan:#?}"))
}

#[test]
fn print_shows_the_resolved_plan_masks_secret_args_and_runs_nothing() {
    let repo = Repo::new("beam");
    let secret = "s3cr3t-print-value";
    let run = repo.run(&[
        "build",
        "--print",
        "--build-arg",
        &format!("NPM_TOKEN={secret}"),
        "--message-format",
        "json",
    ]);
    let plan = plan_of(&run);
    assert_eq!(plan.schema, 1);
    let names: Vec<&str> = plan.images.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names[0], "beam_base", "build order, dependencies first");
    assert_eq!(names.len(), 4, "{names:?}");

    let base = image(&plan, "beam_base");
    assert_eq!(base.refs, [repo.image_ref("beam_base", "2.61.0")]);
    assert_eq!(base.builder, "buildkit");
    assert_eq!(base.platforms.len(), 1, "the engine's own platform");
    assert_eq!(base.status, PlanStatus::Build);
    assert!(
        base.reasons[0].starts_with("no recorded build"),
        "{:?}",
        base.reasons
    );
    assert!(base.checks[0].fingerprint.is_some());

    let go = image(&plan, "beam_go_sdk");
    assert_eq!(go.depends_on, ["beam_base"]);
    assert_eq!(go.build_args["NPM_TOKEN"], "***");
    assert_eq!(
        go.build_args["BASE_IMAGE"],
        repo.image_ref("beam_base", "2.61.0")
    );
    assert!(
        !run.all_output().contains(secret),
        "a secret-looking arg's value is never shown:\n{}",
        run.all_output()
    );

    // The python images take an artifact their prepare step makes: not run, so not known.
    let py = image(&plan, "beam_python3.11_sdk");
    assert_eq!(py.status, PlanStatus::Unknown);
    assert!(
        py.reasons[0].starts_with(PREPARE_NOT_RUN),
        "{:?}",
        py.reasons
    );
    assert_eq!(py.build_args["py_version"], "3.11");
    assert_eq!(py.prepare.len(), 1);

    // Nothing ran: no prepare output, no image, no recorded state.
    assert!(
        !repo.file("out/python-sdk.txt").exists(),
        "a prepare step ran"
    );
    for i in &plan.images {
        for r in &i.refs {
            assert_eq!(repo.image_id(r), None, "{r} was built");
        }
    }
    assert!(!repo.file("target/sdkimage/state").exists());
}

#[test]
fn print_says_what_is_up_to_date_and_which_input_changed() {
    let repo = Repo::new("beam");
    repo.run(&["build", "go", "--progress", "none"]).success();
    let base_ref = repo.image_ref("beam_base", "2.61.0");
    let go_ref = repo.image_ref("beam_go_sdk", "2.61.0");
    let go_id = repo.image_id(&go_ref).expect("built");

    let plan = plan_of(&repo.run(&["build", "go", "--print"]));
    assert_eq!(plan.images.len(), 2);
    for i in &plan.images {
        assert_eq!(i.status, PlanStatus::UpToDate, "{i:#?}");
        assert!(i.reasons.is_empty());
    }
    assert_eq!(
        image(&plan, "beam_go_sdk").checks[0].id.as_deref(),
        Some(go_id.as_str())
    );
    assert_eq!(
        image(&plan, "beam_base").checks[0].id,
        repo.image_id(&base_ref)
    );

    // A changed context file and a new build arg are named; the base stays up to date.
    std::fs::write(
        repo.file("sdks/go/container/boot.sh"),
        "#!/bin/sh\necho changed\n",
    )
    .unwrap();
    let plan = plan_of(&repo.run(&["build", "go", "--print"]));
    assert_eq!(image(&plan, "beam_base").status, PlanStatus::UpToDate);
    let go = image(&plan, "beam_go_sdk");
    assert_eq!(go.status, PlanStatus::Build);
    assert_eq!(
        go.reasons,
        ["its context changed: modified boot.sh"],
        "{go:#?}"
    );
    let plan = plan_of(&repo.run(&["build", "base", "--print", "--build-arg", "X=1"]));
    assert_eq!(image(&plan, "beam_base").reasons, ["build arg X is new"]);

    // A new tag alone re-tags; nothing was built by any of these.
    let plan = plan_of(&repo.run(&["build", "base", "--print", "--tag", "next"]));
    let base = image(&plan, "beam_base");
    assert_eq!(base.status, PlanStatus::Retag, "{base:#?}");
    assert_eq!(repo.image_id(&repo.image_ref("beam_base", "next")), None);
    assert_eq!(repo.image_id(&go_ref).as_deref(), Some(go_id.as_str()));

    // The scheduler agrees: the go image is rebuilt, the base is not.
    let run = repo.run(&["build", "go", "--message-format", "json"]);
    run.success();
    let summary = run.summary();
    assert_eq!((summary.built, summary.up_to_date), (1, 1), "{summary:?}");
}
