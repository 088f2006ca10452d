//! Each kind serialises to the very line the struct of optional fields (schema 1, before the
//! typed events) wrote for it, byte for byte, reads back to the same event, and meets the
//! derived schema; an event without what its kind carries does not.

use serde_json::json;

use super::*;

/// build-started, as the struct of optional fields wrote it.
const BUILD_STARTED: &str = r#"{"schema":1,"event":"build-started","image":"python_sdk","language":"python","variant":"3.11","refs":["r/python_sdk:1"],"engine":"big"}"#;

/// build-started, no engine, as the struct of optional fields wrote it.
const BUILD_STARTED_NO_ENGINE: &str = r#"{"schema":1,"event":"build-started","image":"go_sdk","language":"go","variant":null,"refs":["r/go_sdk:1","r/go_sdk:latest"]}"#;

/// build-finished, platforms, as the struct of optional fields wrote it.
const BUILD_FINISHED_PLATFORMS: &str = r#"{"schema":1,"event":"build-finished","image":"python_sdk","language":"python","variant":"3.11","refs":["r/python_sdk:1"],"id":"sha256:a","duration_ms":1500,"platforms":{"linux/amd64":"sha256:a","linux/arm64":"sha256:b"}}"#;

/// up-to-date, as the struct of optional fields wrote it.
const UP_TO_DATE: &str = r#"{"schema":1,"event":"up-to-date","image":"go_sdk","language":"go","variant":null,"refs":["r/go_sdk:1","r/go_sdk:latest"],"id":"sha256:a","duration_ms":3}"#;

/// retagged, engine, as the struct of optional fields wrote it.
const RETAGGED_ENGINE: &str = r#"{"schema":1,"event":"retagged","image":"go_sdk","language":"go","variant":null,"refs":["r/go_sdk:1","r/go_sdk:latest"],"id":"sha256:a","duration_ms":3,"engine":"big"}"#;

/// push-finished, as the struct of optional fields wrote it.
const PUSH_FINISHED: &str = r#"{"schema":1,"event":"push-finished","image":"go_sdk","language":"go","variant":null,"refs":["r/go_sdk:1","r/go_sdk:latest"],"id":"sha256:a","digest":"sha256:d"}"#;

/// push-finished, no id, as the struct of optional fields wrote it.
const PUSH_FINISHED_NO_ID: &str = r#"{"schema":1,"event":"push-finished","image":"go_sdk","language":"go","variant":null,"refs":["r/go_sdk:1","r/go_sdk:latest"],"digest":"sha256:d"}"#;

/// verified, as the struct of optional fields wrote it.
const VERIFIED: &str = r#"{"schema":1,"event":"verified","image":"go_sdk","language":"go","variant":null,"refs":["r/go_sdk:1","r/go_sdk:latest"],"digest":"sha256:d"}"#;

/// verified, by name, as the struct of optional fields wrote it.
const VERIFIED_BY_NAME: &str = r#"{"schema":1,"event":"verified","image":"go_sdk","language":null,"variant":null,"refs":["r/go_sdk:1"],"digest":"sha256:d"}"#;

/// verified, no digest, as the struct of optional fields wrote it.
const VERIFIED_NO_DIGEST: &str = r#"{"schema":1,"event":"verified","image":"go_sdk","language":"go","variant":null,"refs":["r/go_sdk:1","r/go_sdk:latest"]}"#;

/// promoted, as the struct of optional fields wrote it.
const PROMOTED: &str = r#"{"schema":1,"event":"promoted","image":"go_sdk","language":"go","variant":null,"refs":["r/go_sdk:2"],"digest":"sha256:d"}"#;

/// failed, build, as the struct of optional fields wrote it.
const FAILED_BUILD: &str = r#"{"schema":1,"event":"failed","image":"python_sdk","language":"python","variant":"3.11","refs":["r/python_sdk:1"],"duration_ms":12,"message":"step 3: exit 1"}"#;

/// failed, push, as the struct of optional fields wrote it.
const FAILED_PUSH: &str = r#"{"schema":1,"event":"failed","image":"go_sdk","language":"go","variant":null,"refs":["r/go_sdk:1","r/go_sdk:latest"],"message":"denied"}"#;

/// failed, verify, as the struct of optional fields wrote it.
const FAILED_VERIFY: &str = r#"{"schema":1,"event":"failed","image":"go_sdk","language":"go","variant":null,"refs":["r/go_sdk:1","r/go_sdk:latest"],"digest":"sha256:d","message":"r/go_sdk:1 is sha256:e"}"#;

/// failed, by name, as the struct of optional fields wrote it.
const FAILED_BY_NAME: &str = r#"{"schema":1,"event":"failed","image":"go_sdk","language":null,"variant":null,"refs":["r/go_sdk:1"],"digest":"sha256:d","message":"no signature"}"#;

/// failed, check, as the struct of optional fields wrote it.
const FAILED_CHECK: &str = r#"{"schema":1,"event":"failed","image":"go_sdk","language":"go","variant":null,"refs":["r/go_sdk:1","r/go_sdk:latest"],"id":"sha256:a","message":"does not meet its contract"}"#;

/// error, as the struct of optional fields wrote it.
const ERROR: &str = r#"{"schema":1,"event":"error","image":null,"language":null,"variant":null,"refs":[],"message":"bad input"}"#;

/// summary, as the struct of optional fields wrote it.
const SUMMARY: &str = r#"{"schema":1,"event":"summary","image":null,"language":null,"variant":null,"refs":[],"duration_ms":9000,"counts":{"built":1,"up_to_date":2,"retagged":3,"failed":4,"skipped":5,"pushed":6,"verified":7,"promoted":8,"checked":9}}"#;

/// check-passed, as the struct of optional fields wrote it.
const CHECK_PASSED: &str = r#"{"schema":1,"event":"check-passed","image":"go_sdk","language":"go","variant":null,"refs":["r/go_sdk:1","r/go_sdk:latest"],"id":"sha256:a","message":"found","requirement":"tool curl","output":"/usr/bin/curl\n"}"#;

/// check-failed, as the struct of optional fields wrote it.
const CHECK_FAILED: &str = r#"{"schema":1,"event":"check-failed","image":"go_sdk","language":"go","variant":null,"refs":["r/go_sdk:1","r/go_sdk:latest"],"id":"sha256:a","message":"not found","requirement":"tool jq","output":""}"#;

/// transferred, as the struct of optional fields wrote it.
const TRANSFERRED: &str = r#"{"schema":1,"event":"transferred","image":"go_sdk","language":"go","variant":null,"refs":["r/go_sdk:1","r/go_sdk:latest"],"id":"sha256:a","duration_ms":70,"message":"big","engine":"small","bytes":1024}"#;

/// transferred, first engine, as the struct of optional fields wrote it.
const TRANSFERRED_FIRST_ENGINE: &str = r#"{"schema":1,"event":"transferred","image":"go_sdk","language":"go","variant":null,"refs":["r/go_sdk:1","r/go_sdk:latest"],"id":"sha256:a","duration_ms":70,"message":"big","bytes":1024}"#;

/// requeued, as the struct of optional fields wrote it.
const REQUEUED: &str = r#"{"schema":1,"event":"requeued","image":"python_sdk","language":"python","variant":"3.11","refs":["r/python_sdk:1"],"message":"engine big was lost; queued again on the others (requeue 1 of 3)","engine":"big"}"#;

fn py() -> Subject {
    Subject {
        image: "python_sdk".into(),
        language: "python".into(),
        variant: Some("3.11".into()),
        refs: vec!["r/python_sdk:1".into()],
    }
}

fn go() -> Subject {
    Subject {
        image: "go_sdk".into(),
        language: "go".into(),
        variant: None,
        refs: vec!["r/go_sdk:1".into(), "r/go_sdk:latest".into()],
    }
}

fn by_name() -> NamedSubject {
    NamedSubject::by_name("go_sdk", vec!["r/go_sdk:1".into()])
}

fn finished(subject: Subject, duration_ms: u64, engine: Option<&str>) -> Finished {
    Finished {
        subject,
        id: "sha256:a".into(),
        duration_ms,
        platforms: None,
        engine: engine.map(str::to_string),
    }
}

fn failed(subject: NamedSubject, message: &str) -> Failed {
    Failed::new(subject, message)
}

fn check(message: &str, requirement: &str, output: &str) -> Check {
    Check {
        subject: go(),
        id: "sha256:a".into(),
        message: message.into(),
        requirement: requirement.into(),
        output: output.into(),
    }
}

fn transferred(to: Option<&str>) -> Transferred {
    Transferred {
        subject: go(),
        id: "sha256:a".into(),
        duration_ms: 70,
        from: "big".into(),
        to: to.map(str::to_string),
        bytes: 1024,
    }
}

/// Every golden line and the event that must write it.
fn goldens() -> Vec<(&'static str, Event)> {
    let platforms = BTreeMap::from([
        ("linux/amd64".to_string(), "sha256:a".to_string()),
        ("linux/arm64".to_string(), "sha256:b".to_string()),
    ]);
    vec![
        (
            BUILD_STARTED,
            Event::BuildStarted(BuildStarted {
                subject: py(),
                engine: Some("big".into()),
            }),
        ),
        (
            BUILD_STARTED_NO_ENGINE,
            Event::BuildStarted(BuildStarted {
                subject: go(),
                engine: None,
            }),
        ),
        (
            BUILD_FINISHED_PLATFORMS,
            Event::BuildFinished(Finished {
                platforms: Some(platforms),
                ..finished(py(), 1500, None)
            }),
        ),
        (UP_TO_DATE, Event::UpToDate(finished(go(), 3, None))),
        (
            RETAGGED_ENGINE,
            Event::Retagged(finished(go(), 3, Some("big"))),
        ),
        (
            PUSH_FINISHED,
            Event::PushFinished(PushFinished {
                subject: go(),
                id: Some("sha256:a".into()),
                digest: "sha256:d".into(),
            }),
        ),
        (
            PUSH_FINISHED_NO_ID,
            Event::PushFinished(PushFinished {
                subject: go(),
                id: None,
                digest: "sha256:d".into(),
            }),
        ),
        (
            VERIFIED,
            Event::Verified(Verified {
                subject: go().into(),
                digest: Some("sha256:d".into()),
            }),
        ),
        (
            VERIFIED_BY_NAME,
            Event::Verified(Verified {
                subject: by_name(),
                digest: Some("sha256:d".into()),
            }),
        ),
        (
            VERIFIED_NO_DIGEST,
            Event::Verified(Verified {
                subject: go().into(),
                digest: None,
            }),
        ),
        (
            PROMOTED,
            Event::Promoted(Promoted {
                subject: Subject {
                    refs: vec!["r/go_sdk:2".into()],
                    ..go()
                },
                digest: "sha256:d".into(),
            }),
        ),
        (
            FAILED_BUILD,
            Event::Failed(Failed {
                duration_ms: Some(12),
                ..failed(py().into(), "step 3: exit 1")
            }),
        ),
        (FAILED_PUSH, Event::Failed(failed(go().into(), "denied"))),
        (
            FAILED_VERIFY,
            Event::Failed(Failed {
                digest: Some("sha256:d".into()),
                ..failed(go().into(), "r/go_sdk:1 is sha256:e")
            }),
        ),
        (
            FAILED_BY_NAME,
            Event::Failed(Failed {
                digest: Some("sha256:d".into()),
                ..failed(by_name(), "no signature")
            }),
        ),
        (
            FAILED_CHECK,
            Event::Failed(Failed {
                id: Some("sha256:a".into()),
                ..failed(go().into(), "does not meet its contract")
            }),
        ),
        (
            ERROR,
            Event::Error(RunError {
                message: "bad input".into(),
            }),
        ),
        (
            SUMMARY,
            Event::Summary(Summary {
                duration_ms: 9000,
                counts: Counts {
                    built: 1,
                    up_to_date: 2,
                    retagged: 3,
                    failed: 4,
                    skipped: 5,
                    pushed: 6,
                    verified: 7,
                    promoted: 8,
                    checked: 9,
                },
            }),
        ),
        (
            CHECK_PASSED,
            Event::CheckPassed(check("found", "tool curl", "/usr/bin/curl\n")),
        ),
        (
            CHECK_FAILED,
            Event::CheckFailed(check("not found", "tool jq", "")),
        ),
        (TRANSFERRED, Event::Transferred(transferred(Some("small")))),
        (
            TRANSFERRED_FIRST_ENGINE,
            Event::Transferred(transferred(None)),
        ),
        (
            REQUEUED,
            Event::Requeued(Requeued {
                subject: py(),
                message: "engine big was lost; queued again on the others (requeue 1 of 3)".into(),
                lost: "big".into(),
            }),
        ),
    ]
}

#[test]
fn every_kind_writes_the_line_schema_1_wrote() {
    for (golden, event) in goldens() {
        assert_eq!(serde_json::to_string(&event).unwrap(), golden);
    }
}

#[test]
fn every_golden_line_reads_back_as_its_event() {
    for (golden, event) in goldens() {
        let back: Event = serde_json::from_str(golden).unwrap();
        assert_eq!(back, event, "{golden}");
    }
}

#[test]
fn the_goldens_cover_every_kind() {
    let mut kinds: Vec<EventKind> = goldens().iter().map(|(_, e)| e.kind()).collect();
    kinds.dedup();
    assert_eq!(kinds, EventKind::ALL);
}

#[test]
fn every_kind_is_named_as_serde_names_it() {
    for kind in EventKind::ALL {
        assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
    }
}

#[test]
fn a_field_added_later_is_read_past() {
    let line = SUMMARY.replace("\"counts\"", "\"new_field\":[1],\"counts\"");
    let back: Event = serde_json::from_str(&line).unwrap();
    assert_eq!(back.kind(), EventKind::Summary);
}

#[test]
fn the_accessors_read_the_wire_fields() {
    for (golden, event) in goldens() {
        let wire: serde_json::Value = serde_json::from_str(golden).unwrap();
        let text = |key: &str| wire.get(key).and_then(|v| v.as_str());
        assert_eq!(event.image(), text("image"), "{golden}");
        assert_eq!(event.language(), text("language"), "{golden}");
        assert_eq!(event.variant(), text("variant"), "{golden}");
        assert_eq!(event.id(), text("id"), "{golden}");
        assert_eq!(event.digest(), text("digest"), "{golden}");
        assert_eq!(event.message(), text("message"), "{golden}");
        assert_eq!(event.engine(), text("engine"), "{golden}");
        assert_eq!(
            event.duration_ms(),
            wire.get("duration_ms").and_then(|v| v.as_u64()),
            "{golden}"
        );
        let refs: Vec<String> = serde_json::from_value(wire["refs"].clone()).unwrap();
        assert_eq!(event.refs(), refs, "{golden}");
    }
}

fn validator() -> jsonschema::Validator {
    jsonschema::validator_for(&crate::schema::event()).unwrap()
}

#[test]
fn every_golden_line_meets_the_event_schema() {
    let v = validator();
    for (golden, _) in goldens() {
        let value: serde_json::Value = serde_json::from_str(golden).unwrap();
        let errors: Vec<String> = v.iter_errors(&value).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{golden}: {errors:?}");
    }
}

#[test]
fn an_event_without_what_its_kind_carries_is_invalid() {
    let v = validator();
    let without = |golden: &str, key: &str| {
        let mut value: serde_json::Value = serde_json::from_str(golden).unwrap();
        value.as_object_mut().unwrap().remove(key);
        value
    };
    let with = |golden: &str, key: &str, new: serde_json::Value| {
        let mut value: serde_json::Value = serde_json::from_str(golden).unwrap();
        value[key] = new;
        value
    };
    for value in [
        without(FAILED_PUSH, "message"),
        without(UP_TO_DATE, "id"),
        without(CHECK_PASSED, "requirement"),
        without(TRANSFERRED, "bytes"),
        without(REQUEUED, "engine"),
        with(BUILD_STARTED, "language", json!(null)),
        with(SUMMARY, "image", json!("go_sdk")),
        with(ERROR, "refs", json!(["r/go_sdk:1"])),
        with(ERROR, "schema", json!(2)),
        with(ERROR, "event", json!("no-such-kind")),
    ] {
        assert!(!v.is_valid(&value), "{value} passed");
    }
}
