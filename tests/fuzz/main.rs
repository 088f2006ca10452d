//! Property tests standing in for a fuzzer (the machines have no nightly toolchain for
//! `cargo fuzz`): the parsers that read what users write must never panic, whatever they get.
//!
//! - the manifest parser (`sdkimage.toml`), from raw text and from manifests assembled out of
//!   the real keys with hostile values;
//! - the `.dockerignore` parser and matcher;
//! - the Dockerfile `FROM`/`ARG` reader.
//!
//! `cargo test --test fuzz` runs a short round (a few seconds, in `scripts/test`).
//! `SDKIMAGE_FUZZ_SECONDS=600 cargo test --release --test fuzz -- --nocapture` keeps going
//! for ten minutes and prints how many inputs each target took.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use sdkimage::context::DockerIgnore;
use sdkimage::manifest::Manifest;

/// How long each target runs: a short round by default, `SDKIMAGE_FUZZ_SECONDS` when set.
fn budget() -> Option<Duration> {
    std::env::var("SDKIMAGE_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
}

/// Run `test` on values of `strategy` until the budget is spent (or for `cases` cases), and
/// say how many inputs it took. A panic fails the test with the shrunk input.
fn fuzz<S: Strategy>(name: &str, cases: u32, strategy: S, test: impl Fn(S::Value))
where
    S::Value: std::fmt::Debug,
{
    let deadline = budget().map(|b| Instant::now() + b);
    let mut total = 0u64;
    loop {
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        let result = runner.run(&strategy, |value| {
            test(value);
            Ok(())
        });
        if let Err(e) = result {
            panic!("{name}: {e}");
        }
        total += u64::from(cases);
        match deadline {
            Some(d) if Instant::now() < d => continue,
            _ => break,
        }
    }
    eprintln!("fuzz {name}: {total} inputs, no panic");
}

/// A workspace with the folders and files manifests may name.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for d in ["sdk", "sdk/ctx", "sdk/sub", "other"] {
        std::fs::create_dir_all(dir.path().join(d)).unwrap();
    }
    for f in [
        "sdk/Dockerfile",
        "sdk/ctx/Dockerfile",
        "sdk/a.txt",
        "other/Cargo.toml",
    ] {
        std::fs::write(dir.path().join(f), "FROM scratch\n").unwrap();
    }
    dir
}

fn parse_manifest(root: &Path, text: String) {
    let path = root.join("sdk/sdkimage.toml");
    // Errors are fine; a panic is not. An error must render.
    if let Err(e) = Manifest::parse(&path, root, text) {
        let _ = e.to_string();
    }
}

/// Values the manifest's keys see, hostile ones included.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\"\"".to_string()),
        Just("\"{\"".to_string()),
        Just("\"}{\"".to_string()),
        Just("\"{variant}\"".to_string()),
        Just("\"{unknown}\"".to_string()),
        Just("\"..\"".to_string()),
        Just("\"../../..\"".to_string()),
        Just("\"/\"".to_string()),
        Just("\"ctx\"".to_string()),
        Just("\"Dockerfile\"".to_string()),
        Just("[]".to_string()),
        Just("[\"\"]".to_string()),
        Just("{}".to_string()),
        Just("1".to_string()),
        Just("-1".to_string()),
        Just("true".to_string()),
        Just("1979-05-27".to_string()),
        Just("\"\\u0000\\n\"".to_string()),
        Just("\"linux/amd64\"".to_string()),
        "\"[ -~]{0,12}\"".prop_map(|s| s.replace('\\', "/")),
        any::<i64>().prop_map(|n| n.to_string()),
        prop::collection::vec("\"[a-z{}:./]{0,8}\"", 0..4)
            .prop_map(|v| format!("[{}]", v.join(", "))),
        prop::collection::btree_map("[a-zA-Z_]{1,6}", "\"[a-z{}.0-9]{0,6}\"", 0..3).prop_map(
            |m| format!(
                "{{ {} }}",
                m.iter()
                    .map(|(k, v)| format!("{k} = {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        ),
    ]
}

/// The manifest's own keys, and one it does not know.
fn top_keys() -> Vec<&'static str> {
    let mut keys = sdkimage::manifest::KEYS.to_vec();
    keys.push("unknown-key");
    keys
}
const TABLES: &[(&str, &[&str])] = &[
    ("[variants]", &["\"3.11\"", "\"\"", "\"a:b\"", "x"]),
    ("[build-args]", &["A", "B_C", "\"\"", "\"x y\""]),
    ("[[prepare]]", &["run", "cwd", "env", "other"]),
    ("[[copy]]", &["from", "to", "other"]),
    ("[licenses]", &["dest", "sources", "other"]),
    (
        "[contract]",
        &["entrypoint", "artifacts", "tools", "commands", "other"],
    ),
];

/// A manifest assembled from the real keys and tables with values of any kind.
fn structured_manifest() -> impl Strategy<Value = String> {
    let top = prop::collection::vec((prop::sample::select(top_keys()), value()), 0..8);
    let tables = prop::collection::vec(
        (
            prop::sample::select(TABLES),
            prop::collection::vec((0usize..4, value()), 0..4),
        ),
        0..4,
    );
    (top, tables).prop_map(|(top, tables)| {
        let mut text = String::new();
        for (k, v) in top {
            text.push_str(&format!("{k} = {v}\n"));
        }
        for ((header, keys), entries) in tables {
            text.push_str(header);
            text.push('\n');
            for (i, v) in entries {
                text.push_str(&format!("{} = {v}\n", keys[i % keys.len()]));
            }
        }
        text
    })
}

#[test]
fn the_manifest_parser_never_panics_on_raw_text() {
    let ws = workspace();
    fuzz("manifest (raw text)", 512, any::<String>(), |text| {
        parse_manifest(ws.path(), text)
    });
}

#[test]
fn the_manifest_parser_never_panics_on_manifests_made_of_its_keys() {
    let ws = workspace();
    // Most inputs start valid, so that the checks past the TOML layer are reached.
    let valid_start = "language = \"python\"\nname = \"img{variant}\"\n";
    fuzz(
        "manifest (structured)",
        512,
        (any::<bool>(), structured_manifest()),
        |(prefix, body)| {
            let text = if prefix {
                format!("{valid_start}{body}")
            } else {
                body
            };
            parse_manifest(ws.path(), text)
        },
    );
}

fn ignore_line() -> impl Strategy<Value = String> {
    prop_oneof![
        "[-*?\\[\\]\\\\!a-c/.^$ ]{0,10}",
        Just("**".to_string()),
        Just("!**/x".to_string()),
        Just("[".to_string()),
        Just("\\".to_string()),
        Just("a/**/b/../c".to_string()),
        Just("[^a-]".to_string()),
        Just("[]a]".to_string()),
        any::<String>(),
    ]
}

#[test]
fn the_dockerignore_parser_and_matcher_never_panic() {
    fuzz(
        ".dockerignore",
        1024,
        (
            prop::collection::vec(ignore_line(), 0..8),
            prop::collection::vec("[a-c/.*\\[\\]\\\\]{0,10}", 0..6),
        ),
        |(lines, paths)| {
            if let Ok(mut ignore) = DockerIgnore::parse(&lines.join("\n")) {
                for p in &paths {
                    let _ = ignore.matches_legacy(p);
                    let _ = ignore.add_exception(p);
                }
            }
        },
    );
}

#[test]
fn the_dockerfile_reader_never_panics() {
    let line = prop_oneof![
        "(FROM|ARG|from|RUN|# escape=`|#) [ -~]{0,20}",
        "FROM \\$\\{[A-Z:+\\-]{0,6}\\}[a-z]{0,3}( AS [a-z]{1,3})?",
        Just("ARG A=${A:-x}".to_string()),
        Just("FROM \\".to_string()),
        any::<String>(),
    ];
    fuzz(
        "Dockerfile",
        1024,
        (
            prop::collection::vec(line, 0..8),
            prop::collection::btree_map("[A-Z]{1,2}", "[a-z$\\{\\}]{0,4}", 0..3),
        ),
        |(lines, args): (Vec<String>, BTreeMap<String, String>)| {
            let text = lines.join("\n");
            let _ = sdkimage::dockerfile::external_bases(&text, &args, &BTreeMap::new());
        },
    );
}
