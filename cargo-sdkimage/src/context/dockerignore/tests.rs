use super::*;

fn ignore(patterns: &[&str]) -> DockerIgnore {
    let mut ignore = DockerIgnore::default();
    for p in patterns {
        ignore.push(p, 1).unwrap_or_else(|e| panic!("{p:?}: {e}"));
    }
    ignore
}

/// Walk `text`'s parents first like the archive walker does, then match `text`.
fn matches_walking(ignore: &DockerIgnore, text: &str) -> bool {
    let mut info: Option<MatchInfo> = None;
    for (i, _) in text.match_indices('/') {
        if i == 0 {
            continue;
        }
        info = Some(ignore.matches_with_parent(&text[..i], info.as_ref()).1);
    }
    ignore.matches_with_parent(text, info.as_ref()).0
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Pass {
    Fail,
    Exact,
    Inexact,
}
use Pass::*;

/// moby/patternmatcher `TestMatches`.
const MATCHES: &[(&str, &str, Pass)] = &[
    ("**", "file", Exact),
    ("**", "file/", Exact),
    ("**/", "file", Exact),
    ("**/", "file/", Exact),
    ("**", "/", Exact),
    ("**/", "/", Exact),
    ("**", "dir/file", Exact),
    ("**/", "dir/file", Exact),
    ("**", "dir/file/", Exact),
    ("**/", "dir/file/", Exact),
    ("**/**", "dir/file", Exact),
    ("**/**", "dir/file/", Exact),
    ("dir/**", "dir/file", Exact),
    ("dir/**", "dir/file/", Exact),
    ("dir/**", "dir/dir2/file", Exact),
    ("dir/**", "dir/dir2/file/", Exact),
    ("**/dir", "dir", Exact),
    ("**/dir", "dir/file", Inexact),
    ("**/dir2/*", "dir/dir2/file", Exact),
    ("**/dir2/*", "dir/dir2/file/", Inexact),
    ("**/dir2/**", "dir/dir2/dir3/file", Exact),
    ("**/dir2/**", "dir/dir2/dir3/file/", Exact),
    ("**file", "file", Exact),
    ("**file", "dir/file", Exact),
    ("**/file", "dir/file", Exact),
    ("**file", "dir/dir/file", Exact),
    ("**/file", "dir/dir/file", Exact),
    ("**/file*", "dir/dir/file", Exact),
    ("**/file*", "dir/dir/file.txt", Exact),
    ("**/file*txt", "dir/dir/file.txt", Exact),
    ("**/file*.txt", "dir/dir/file.txt", Exact),
    ("**/file*.txt*", "dir/dir/file.txt", Exact),
    ("**/**/*.txt", "dir/dir/file.txt", Exact),
    ("**/**/*.txt2", "dir/dir/file.txt", Fail),
    ("**/*.txt", "file.txt", Exact),
    ("**/**/*.txt", "file.txt", Exact),
    ("a**/*.txt", "a/file.txt", Exact),
    ("a**/*.txt", "a/dir/file.txt", Exact),
    ("a**/*.txt", "a/dir/dir/file.txt", Exact),
    ("a/*.txt", "a/dir/file.txt", Fail),
    ("a/*.txt", "a/file.txt", Exact),
    ("a/*.txt**", "a/file.txt", Exact),
    ("a[b-d]e", "ae", Fail),
    ("a[b-d]e", "ace", Exact),
    ("a[b-d]e", "aae", Fail),
    ("a[^b-d]e", "aze", Exact),
    (".*", ".foo", Exact),
    (".*", "foo", Fail),
    ("abc.def", "abcdef", Fail),
    ("abc.def", "abc.def", Exact),
    ("abc.def", "abcZdef", Fail),
    ("abc?def", "abcZdef", Exact),
    ("abc?def", "abcdef", Fail),
    ("**/foo/bar", "foo/bar", Exact),
    ("**/foo/bar", "dir/foo/bar", Exact),
    ("**/foo/bar", "dir/dir2/foo/bar", Exact),
    ("abc/**", "abc", Fail),
    ("abc/**", "abc/def", Exact),
    ("abc/**", "abc/def/ghi", Exact),
    ("**/.foo", ".foo", Exact),
    ("**/.foo", "bar.foo", Fail),
    ("a(b)c/def", "a(b)c/def", Exact),
    ("a(b)c/def", "a(b)c/xyz", Fail),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", Exact),
    (
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        Exact,
    ),
    (
        "dist/*.whl",
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        Exact,
    ),
    ("a\\\\", "a\\", Exact),
    ("a\\*b", "a*b", Exact),
];

const MULTI: &[(&[&str], &str, bool)] = &[
    (&["**", "!util/docker/web"], "util/docker/web/foo", false),
    (
        &["**", "!util/docker/web", "util/docker/web/foo"],
        "util/docker/web/foo",
        true,
    ),
    (
        &[
            "**",
            "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        ],
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        false,
    ),
    (
        &["**", "!dist/*.whl"],
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        false,
    ),
];

#[test]
fn moby_matches_table() {
    for &(pattern, text, pass) in MATCHES {
        let ig = ignore(&[pattern]);
        let exact = ig.patterns[0].matches(text);
        assert_eq!(exact, pass == Exact, "MatchesExact {pattern:?} {text:?}");
        assert_eq!(
            ig.is_excluded_raw(text),
            pass != Fail,
            "MatchesOrParentMatches {pattern:?} {text:?}"
        );
        assert_eq!(
            matches_walking(&ig, text),
            pass != Fail,
            "MatchesUsingParentResults {pattern:?} {text:?}"
        );
        let (no_context, _) = ig.matches_with_parent(text, None);
        assert_eq!(no_context, pass != Fail, "no context {pattern:?} {text:?}");
    }
    for &(patterns, text, pass) in MULTI {
        let ig = ignore(patterns);
        assert_eq!(ig.is_excluded_raw(text), pass, "{patterns:?} {text:?}");
        assert_eq!(matches_walking(&ig, text), pass, "{patterns:?} {text:?}");
    }
}

impl DockerIgnore {
    /// `MatchesOrParentMatches` without the package function's cleaning of the path,
    /// as moby's table tests call it.
    fn is_excluded_raw(&self, file: &str) -> bool {
        let mut matched = false;
        for pattern in &self.patterns {
            if pattern.exclusion != matched {
                continue;
            }
            if pattern.matches(file) || pattern.matches_a_parent(file) {
                matched = !pattern.exclusion;
            }
        }
        matched
    }
}

/// moby/patternmatcher `TestMatch` (Go's filepath.Match cases, through `Matches`).
#[test]
fn moby_match_table() {
    let cases: &[(&str, &str, Option<bool>)] = &[
        ("abc", "abc", Some(true)),
        ("*", "abc", Some(true)),
        ("*c", "abc", Some(true)),
        ("a*", "a", Some(true)),
        ("a*", "abc", Some(true)),
        ("a*", "ab/c", Some(true)),
        ("a*/b", "abc/b", Some(true)),
        ("a*/b", "a/c/b", Some(false)),
        ("a*b*c*d*e*/f", "axbxcxdxe/f", Some(true)),
        ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Some(true)),
        ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Some(false)),
        ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", Some(false)),
        ("a*b?c*x", "abxbbxdbxebxczzx", Some(true)),
        ("a*b?c*x", "abxbbxdbxebxczzy", Some(false)),
        ("ab[c]", "abc", Some(true)),
        ("ab[b-d]", "abc", Some(true)),
        ("ab[e-g]", "abc", Some(false)),
        ("ab[^c]", "abc", Some(false)),
        ("ab[^b-d]", "abc", Some(false)),
        ("ab[^e-g]", "abc", Some(true)),
        ("a\\*b", "a*b", Some(true)),
        ("a\\*b", "ab", Some(false)),
        ("a?b", "a☺b", Some(true)),
        ("a[^a]b", "a☺b", Some(true)),
        ("a???b", "a☺b", Some(false)),
        ("a[^a][^a][^a]b", "a☺b", Some(false)),
        ("[a-ζ]*", "α", Some(true)),
        ("*[a-ζ]", "A", Some(false)),
        ("a?b", "a/b", Some(false)),
        ("a*b", "a/b", Some(false)),
        ("[\\]a]", "]", Some(true)),
        ("[\\-]", "-", Some(true)),
        ("[x\\-]", "x", Some(true)),
        ("[x\\-]", "-", Some(true)),
        ("[x\\-]", "z", Some(false)),
        ("[\\-x]", "x", Some(true)),
        ("[\\-x]", "-", Some(true)),
        ("[\\-x]", "a", Some(false)),
        ("[]a]", "]", None),
        ("[-]", "-", None),
        ("[x-]", "x", None),
        ("[x-]", "-", None),
        ("[x-]", "z", None),
        ("[-x]", "x", None),
        ("[-x]", "-", None),
        ("[-x]", "a", None),
        ("\\", "a", None),
        ("[a-b-c]", "a", None),
        ("[", "a", None),
        ("[^", "a", None),
        ("[^bc", "a", None),
        ("a[", "a", None),
        ("a[", "ab", None),
        ("*x", "xxx", Some(true)),
    ];
    for &(pattern, text, want) in cases {
        let mut ig = DockerIgnore::default();
        match (ig.push(pattern, 1), want) {
            (Ok(()), Some(want)) => {
                assert_eq!(ig.matches_legacy(text), want, "{pattern:?} {text:?}")
            }
            (Err(_), None) => {}
            (got, want) => panic!("{pattern:?} {text:?}: got {got:?}, want {want:?}"),
        }
    }
}

/// moby/patternmatcher `TestCompile`: the match kinds and expressions.
#[test]
fn moby_compile_table() {
    let cases: &[(&str, &str)] = &[
        ("*", "regex"),
        ("file*", "regex"),
        ("**", "suffix"),
        ("**/**", "regex"),
        ("dir/**", "prefix"),
        ("**/dir", "suffix"),
        ("**/dir2/*", "regex"),
        ("**file", "suffix"),
        ("**/file*txt", "regex"),
        ("a[b-d]e", "regex"),
        (".*", "regex"),
        ("abc.def", "exact"),
        ("abc?def", "regex"),
        ("**/foo/bar", "suffix"),
        ("a(b)c/def", "exact"),
        ("a.|)$(}+{bc", "exact"),
    ];
    for &(pattern, want) in cases {
        let kind = match compile(&go_clean(pattern)).unwrap() {
            Matcher::Exact => "exact",
            Matcher::Prefix(_) => "prefix",
            Matcher::Suffix(_) => "suffix",
            Matcher::Regex(_) => "regex",
        };
        assert_eq!(kind, want, "{pattern:?}");
    }
}

#[test]
fn read_all_like_ignorefile() {
    // moby/patternmatcher ignorefile `TestReadAll`.
    let text =
        "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! ";
    let got: Vec<String> = read_all(text).into_iter().map(|(_, p)| p).collect();
    assert_eq!(
        got,
        [
            "test1",
            "test2",
            "a/file/here",
            "lastfile",
            "!inverted/abs/path",
            "!",
            "!"
        ]
    );
    let got = read_all("\u{feff}a\r\n  # not a comment\n./b/../c/\n/\n");
    assert_eq!(
        got,
        [
            (1, "a".into()),
            (2, "# not a comment".into()),
            (3, "c".into()),
            (4, "/".into())
        ]
    );
}

#[test]
fn parse_errors_carry_pattern_and_line() {
    let err = DockerIgnore::parse("ok\n# c\n\nfoo[\n").unwrap_err();
    match err {
        ContextError::Pattern { pattern, line, .. } => {
            assert_eq!((pattern.as_str(), line), ("foo[", 4));
        }
        other => panic!("{other}"),
    }
    assert!(
        DockerIgnore::parse("a\n!\n").is_err(),
        "a lone ! is illegal"
    );
    assert!(
        DockerIgnore::parse("!/\n").is_err(),
        "!/ cleans to a lone !"
    );
    // Passes Go's glob check but Go's regexp rejects the inverted range l-O (moby#52203).
    assert!(DockerIgnore::parse("[Local-Only]/\n").is_err());
}

#[test]
fn cleaning_and_anchoring() {
    let ig = DockerIgnore::parse("/foo\n./bar/\nbaz/../qux\n").unwrap();
    assert!(ig.is_excluded("foo"));
    assert!(ig.is_excluded("foo/x"));
    assert!(
        !ig.is_excluded("a/foo"),
        "patterns are anchored at the root"
    );
    assert!(ig.is_excluded("bar/y"));
    assert!(ig.is_excluded("qux"));
    assert!(!ig.is_excluded("baz"));
    assert!(!ig.is_excluded("."));
    assert!(ig.is_excluded("./foo/"), "the path is cleaned too");
}

#[test]
fn exceptions_last_match_wins() {
    let ig = DockerIgnore::parse("docs\n!docs/README.md\n*.md\n").unwrap();
    assert!(ig.is_excluded("docs/a.txt"));
    assert!(
        !ig.is_excluded("docs/README.md"),
        "`*.md` does not cross a `/`"
    );
    assert!(ig.is_excluded("x.md"));
    let ig = DockerIgnore::parse("*.go\n!fileutils.go\n").unwrap();
    assert!(!ig.is_excluded("fileutils.go"));
    assert!(ig.is_excluded("main.go"));
    let ig = DockerIgnore::parse("!fileutils.go\n*.go\n").unwrap();
    assert!(ig.is_excluded("fileutils.go"));
    assert!(ig.has_exclusions());
    assert!(!ig.must_walk_excluded_dir("x"));
    let ig = DockerIgnore::parse("a\n!a/b/c\n").unwrap();
    assert!(ig.must_walk_excluded_dir("a"));
    assert!(ig.must_walk_excluded_dir("a/b"));
    assert!(!ig.must_walk_excluded_dir("a/c"));
}

#[test]
fn walker_semantics_differ_from_parent_matching() {
    // At the directory `d`, the exception `!d` is skipped (nothing matched yet), so the
    // walker does not remember it; `MatchesOrParentMatches` re-checks parents and does.
    let ig = DockerIgnore::parse("*/f\n!d\n").unwrap();
    assert!(!ig.is_excluded("d/f"));
    assert!(matches_walking(&ig, "d/f"));
}

#[test]
fn legacy_matches_checks_one_parent_only() {
    let ig = DockerIgnore::parse("**/b\n").unwrap();
    assert!(!ig.matches_legacy("x/y/b/Dockerfile"));
    assert!(ig.is_excluded("x/y/b/Dockerfile"));
}

#[test]
fn go_clean_cases() {
    for (input, want) in [
        ("", "."),
        ("a/b/../c", "a/c"),
        ("../../a", "../../a"),
        ("/../a", "/a"),
        ("a/../..", ".."),
        ("./", "."),
        ("//a//b/", "/a/b"),
        ("!./foo", "!./foo"),
        ("!a/..", "."),
    ] {
        assert_eq!(go_clean(input), want, "{input:?}");
    }
}
