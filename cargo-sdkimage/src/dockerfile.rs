//! What the tool needs to know of a Dockerfile without building it: the external images its
//! `FROM` lines name, after `ARG` expansion, as both builders see them.
//!
//! Only the Dockerfile's structure is read (parser directives, comments, line continuations,
//! the instruction word, `ARG` and `FROM`, and for [`context_use`] the sources of `COPY`, `ADD`
//! and `RUN --mount` with `ENV`); everything else is left to the engine's builder.
//! Every word is expanded by one lexer, BuildKit's (`lex.rs`), which the classic builder
//! shares: every reader of `FROM` and `ARG` (external bases, dependencies, `init`) goes
//! through [`froms`] or [`global_args`].

use std::collections::{BTreeMap, BTreeSet};

mod context_paths;
mod lex;

pub use context_paths::{ContextUse, context_use};
pub use lex::{LexError, Word, process_word};

/// The args a builder defines for the platform of a build, without a declaration under
/// BuildKit; the classic builder knows only those a global `ARG` declares.
pub const PLATFORM_ARGS: &[&str] = &[
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
];

/// One `FROM` of a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// The image after expansion (`python:3.11-slim`), or a stage name, or `scratch`. A word
    /// the lexer refuses stays as written (the build says why).
    pub image: String,
    /// `AS <name>`, lowercased as the builders compare it.
    pub stage: Option<String>,
    /// 1-based line of the instruction.
    pub line: usize,
    /// The image as written (`python:"${py_version}"-bookworm`).
    pub raw: String,
    /// The variables the image word uses, in order.
    pub uses: Vec<String>,
}

/// An instruction: its keyword (uppercased), its arguments (continuations joined) and line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Instruction {
    keyword: String,
    args: String,
    line: usize,
}

/// A Dockerfile split into instructions, with its escape character and the lines that hold
/// no instruction (blank or comment lines, not parser directives, not inside one).
struct Parsed {
    escape: char,
    /// A `# syntax=` directive names a frontend image, which reads the Dockerfile its own way.
    syntax: bool,
    instructions: Vec<Instruction>,
    free_lines: Vec<usize>,
}

/// Split a Dockerfile into instructions as the builders' parser does: an `# escape=`
/// directive, comment lines dropped (inside continuations too), lines ending in the escape
/// character joined to the next.
fn parse(text: &str) -> Parsed {
    let mut escape = '\\';
    let mut syntax = false;
    let mut lines = text.lines().enumerate().peekable();
    // Parser directives: `# key=value` lines at the very top.
    while let Some((_, line)) = lines.peek() {
        let Some(rest) = line.trim_start().strip_prefix('#') else {
            break;
        };
        let Some((key, value)) = rest.split_once('=') else {
            break;
        };
        let key = key.trim().to_ascii_lowercase();
        if key.contains(char::is_whitespace) || key.is_empty() {
            break;
        }
        if key == "escape" && value.trim() == "`" {
            escape = '`';
        }
        syntax |= key == "syntax";
        lines.next();
    }
    let mut out = Vec::new();
    let mut free_lines = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (index, line) in lines {
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') || (current.is_none() && trimmed.is_empty()) {
            if current.is_none() {
                free_lines.push(index + 1);
            }
            continue;
        }
        let body = line.trim_end();
        let (body, continues) = match body.strip_suffix(escape) {
            Some(b) => (b, true),
            None => (body, false),
        };
        let (start, mut text) = current.take().unwrap_or((index + 1, String::new()));
        text.push_str(body);
        if continues {
            current = Some((start, text));
            continue;
        }
        if let Some(i) = instruction_of(start, &text) {
            out.push(i);
        }
    }
    if let Some((start, text)) = current
        && let Some(i) = instruction_of(start, &text)
    {
        out.push(i);
    }
    Parsed {
        escape,
        syntax,
        instructions: out,
        free_lines,
    }
}

fn instruction_of(line: usize, text: &str) -> Option<Instruction> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let (keyword, args) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    Some(Instruction {
        keyword: keyword.to_ascii_uppercase(),
        args: args.trim().to_string(),
        line,
    })
}

/// The global scope the `FROM` lines of `text` see: the args declared before the first `FROM`
/// (a build arg's value as given, else the default expanded by the lexer against the args
/// before it, else `automatic`, the platform args a builder defines there), with `automatic`
/// underneath. A default the lexer refuses leaves its arg unset.
pub fn global_args(
    text: &str,
    build_args: &BTreeMap<String, String>,
    automatic: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let parsed = parse(text);
    scope(&parsed, build_args, automatic)
}

fn scope(
    parsed: &Parsed,
    build_args: &BTreeMap<String, String>,
    automatic: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut global: BTreeMap<String, String> = automatic.clone();
    for ins in &parsed.instructions {
        match ins.keyword.as_str() {
            "FROM" => break,
            "ARG" => {
                for (name, default) in arg_declarations(&ins.args, parsed.escape) {
                    let value = build_args
                        .get(&name)
                        .cloned()
                        .or_else(|| automatic.get(&name).cloned())
                        .or_else(|| {
                            let d = default?;
                            let w = process_word(&d, parsed.escape, &|n| global.get(n).cloned());
                            w.ok().map(|w| w.value)
                        });
                    match value {
                        Some(v) => global.insert(name, v),
                        None => global.remove(&name),
                    };
                }
            }
            _ => {}
        }
    }
    global
}

/// Every `FROM` of `text`, expanded in the global scope of [`global_args`].
pub fn froms(
    text: &str,
    build_args: &BTreeMap<String, String>,
    automatic: &BTreeMap<String, String>,
) -> Vec<From> {
    let parsed = parse(text);
    let global = scope(&parsed, build_args, automatic);
    parsed
        .instructions
        .iter()
        .filter(|ins| ins.keyword == "FROM")
        .filter_map(|ins| {
            // The builders split FROM on whitespace (quotes do not group), then take flags.
            let words: Vec<&str> = ins
                .args
                .split_whitespace()
                .filter(|w| !w.starts_with("--"))
                .collect();
            let raw = *words.first()?;
            let stage = match words.as_slice() {
                [_, as_, name, ..] if as_.eq_ignore_ascii_case("as") => {
                    Some(name.to_ascii_lowercase())
                }
                _ => None,
            };
            let (image, uses) = match process_word(raw, parsed.escape, &|n| global.get(n).cloned())
            {
                Ok(w) => (w.value, w.names),
                Err(_) => (raw.to_string(), Vec::new()),
            };
            Some(From {
                image,
                stage,
                line: ins.line,
                raw: raw.to_string(),
                uses,
            })
        })
        .collect()
}

/// Every name an `ARG` of the Dockerfile declares, in any stage.
pub fn declared_args(text: &str) -> BTreeSet<String> {
    let parsed = parse(text);
    parsed
        .instructions
        .iter()
        .filter(|i| i.keyword == "ARG")
        .flat_map(|i| arg_declarations(&i.args, parsed.escape))
        .map(|(name, _)| name)
        .collect()
}

/// One `ARG` name of a Dockerfile, for `cargo sdkimage init`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDeclaration {
    pub name: String,
    /// The default, expanded by the lexer against the defaults before it (quotes removed);
    /// `None` without one (or one the lexer refuses).
    pub default: Option<String>,
    /// Declared before the first `FROM`, where `FROM` lines can use it.
    pub global: bool,
}

/// Every `ARG` declaration, in order, each name once (its first declaration).
pub fn arg_list(text: &str) -> Vec<ArgDeclaration> {
    let parsed = parse(text);
    let mut seen_from = false;
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    let mut out: Vec<ArgDeclaration> = Vec::new();
    for ins in &parsed.instructions {
        match ins.keyword.as_str() {
            "FROM" => seen_from = true,
            "ARG" => {
                for (name, default) in arg_declarations(&ins.args, parsed.escape) {
                    let default = default.and_then(|d| {
                        process_word(&d, parsed.escape, &|n| env.get(n).cloned())
                            .ok()
                            .map(|w| w.value)
                    });
                    if let Some(d) = &default {
                        env.entry(name.clone()).or_insert_with(|| d.clone());
                    }
                    if !out.iter().any(|a| a.name == name) {
                        out.push(ArgDeclaration {
                            name,
                            default,
                            global: !seen_from,
                        });
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The images a Dockerfile builds on that are neither `scratch` nor one of its own stages,
/// in order, each once.
pub fn external_bases(
    text: &str,
    build_args: &BTreeMap<String, String>,
    automatic: &BTreeMap<String, String>,
) -> Vec<String> {
    external_froms(text, build_args, automatic)
        .into_iter()
        .map(|f| f.image)
        .collect()
}

/// The `FROM`s of [`external_bases`], each image once (its first `FROM`).
pub fn external_froms(
    text: &str,
    build_args: &BTreeMap<String, String>,
    automatic: &BTreeMap<String, String>,
) -> Vec<From> {
    let mut stages = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for f in froms(text, build_args, automatic) {
        let lower = f.image.to_ascii_lowercase();
        let stage = f.stage.clone();
        if !(lower == "scratch" || lower.is_empty() || stages.contains(&lower))
            && seen.insert(f.image.clone())
        {
            out.push(f);
        }
        if let Some(stage) = stage {
            stages.insert(stage);
        }
    }
    out
}

/// The platform args that a `FROM` of `text` (or a global `ARG` default it uses) reads and
/// that no global `ARG` declares, each with the line of its first use: BuildKit fills them,
/// the classic builder leaves them empty.
pub fn undeclared_platform_args(text: &str) -> Vec<(String, usize)> {
    let parsed = parse(text);
    let mut declared = BTreeSet::new();
    let mut used: Vec<(String, usize)> = Vec::new();
    let note = |names: Vec<String>, line: usize, used: &mut Vec<(String, usize)>| {
        for n in names {
            if PLATFORM_ARGS.contains(&n.as_str()) && !used.iter().any(|(u, _)| *u == n) {
                used.push((n, line));
            }
        }
    };
    let mut seen_from = false;
    for ins in &parsed.instructions {
        match ins.keyword.as_str() {
            "ARG" if !seen_from => {
                for (name, default) in arg_declarations(&ins.args, parsed.escape) {
                    if let Some(w) =
                        default.and_then(|d| process_word(&d, parsed.escape, &|_| None).ok())
                    {
                        note(w.names, ins.line, &mut used);
                    }
                    declared.insert(name);
                }
            }
            "FROM" => {
                seen_from = true;
                if let Some(raw) = ins.args.split_whitespace().find(|w| !w.starts_with("--"))
                    && let Ok(w) = process_word(raw, parsed.escape, &|_| None)
                {
                    note(w.names, ins.line, &mut used);
                }
            }
            _ => {}
        }
    }
    used.retain(|(n, _)| !declared.contains(n));
    used
}

/// `text` with `ARG <names>` declared on a line before its first `FROM` that holds no
/// instruction (a blank or comment line, not a parser directive), so that every other line
/// keeps its number. `Err` with the first `FROM`'s line when there is no such line.
pub fn declare_global_args(text: &str, names: &[String]) -> std::result::Result<String, usize> {
    let parsed = parse(text);
    let first_from = parsed
        .instructions
        .iter()
        .find(|i| i.keyword == "FROM")
        .map_or(usize::MAX, |i| i.line);
    let Some(&free) = parsed.free_lines.iter().find(|&&l| l < first_from) else {
        return Err(first_from);
    };
    let mut out = String::with_capacity(text.len() + 32);
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if i + 1 == free {
            let ending = &line[line.trim_end_matches(['\r', '\n']).len()..];
            out.push_str(&format!("ARG {}{ending}", names.join(" ")));
        } else {
            out.push_str(line);
        }
    }
    Ok(out)
}

/// `ARG a`, `ARG a=1 b="two words"`: names with their optional defaults, as written (quotes
/// and escapes kept: the lexer reads them when the default is used).
fn arg_declarations(args: &str, escape: char) -> Vec<(String, Option<String>)> {
    split_words(args, escape)
        .into_iter()
        .map(|word| match word.split_once('=') {
            Some((name, value)) => (name.to_string(), Some(value.to_string())),
            None => (word, None),
        })
        .collect()
}

/// The parser's `parseWords`: whitespace-separated words where quotes group, with quotes
/// and escapes kept in the word.
fn split_words(s: &str, escape: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut blank_ok = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            None if c.is_whitespace() => {
                if blank_ok || !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
                blank_ok = false;
            }
            None => {
                if c == '\'' || c == '"' {
                    quote = Some(c);
                    blank_ok = true;
                }
                if c == escape {
                    if let Some(n) = chars.next() {
                        word.push(c);
                        word.push(n);
                    }
                    continue;
                }
                word.push(c);
            }
            Some(q) => {
                if c == q {
                    quote = None;
                }
                word.push(c);
                if c == escape
                    && q != '\''
                    && let Some(n) = chars.next()
                {
                    word.push(n);
                }
            }
        }
    }
    if blank_ok || !word.is_empty() {
        out.push(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn external_bases_skip_stages_and_scratch_and_expand_global_args() {
        let text = "\
# syntax is not read
ARG BASE=debian:bookworm
ARG PY=3.11
FROM ${BASE} AS build
RUN echo $BASE
FROM build AS second
from --platform=$BUILDPLATFORM python:${PY}-slim as Tools
FROM scratch
COPY --from=tools / /
FROM \\
  busybox:${MISSING:-stable}
FROM Second
";
        assert_eq!(
            external_bases(text, &args(&[("PY", "3.13")]), &BTreeMap::new()),
            ["debian:bookworm", "python:3.13-slim", "busybox:stable"]
        );
    }

    #[test]
    fn args_after_the_first_from_do_not_reach_from_lines() {
        let text = "FROM a\nARG X=late\nFROM img:${X}\n";
        assert_eq!(
            external_bases(text, &args(&[("X", "given")]), &BTreeMap::new()),
            ["a", "img:"]
        );
    }

    #[test]
    fn automatic_platform_args_and_the_backtick_escape() {
        let text = "# escape=`\nARG TARGETARCH\nFROM base:latest-${TARGETARCH} `\n  AS b\n";
        assert_eq!(
            froms(text, &BTreeMap::new(), &args(&[("TARGETARCH", "arm64")])),
            [From {
                image: "base:latest-arm64".into(),
                stage: Some("b".into()),
                line: 3,
                raw: "base:latest-${TARGETARCH}".into(),
                uses: vec!["TARGETARCH".into()],
            }]
        );
    }

    #[test]
    fn declared_args_of_every_stage() {
        let text = "ARG A\nFROM x\nARG TARGETARCH B=1\nFROM y\narg c\n";
        let names: Vec<String> = declared_args(text).into_iter().collect();
        assert_eq!(names, ["A", "B", "TARGETARCH", "c"]);
    }

    #[test]
    fn arg_declarations_take_quotes_and_several_names() {
        assert_eq!(
            arg_declarations(r#"A=1 B="two words" C D=a\ b"#, '\\'),
            [
                ("A".to_string(), Some("1".to_string())),
                ("B".to_string(), Some("\"two words\"".to_string())),
                ("C".to_string(), None),
                ("D".to_string(), Some("a\\ b".to_string())),
            ]
        );
    }

    #[test]
    fn beams_quoted_from_line_and_quoted_defaults() {
        let text =
            "ARG py_version=\"3.11\"\nFROM python:\"${py_version}\"-bookworm AS beam\nFROM beam\n";
        let froms = external_froms(text, &BTreeMap::new(), &BTreeMap::new());
        assert_eq!(froms.len(), 1);
        assert_eq!(froms[0].image, "python:3.11-bookworm");
        assert_eq!(froms[0].raw, "python:\"${py_version}\"-bookworm");
        assert_eq!(froms[0].uses, ["py_version"]);
        assert_eq!(
            external_bases(text, &args(&[("py_version", "3.12")]), &BTreeMap::new()),
            ["python:3.12-bookworm"]
        );
        // A value's own quotes stay (a build arg is not lexed).
        assert_eq!(
            external_bases(text, &args(&[("py_version", "'3'")]), &BTreeMap::new()),
            ["python:'3'-bookworm"]
        );
        let text = "ARG A='x y' B=\"${A}\"z\nFROM img:\"$B\"\n";
        assert_eq!(
            global_args(text, &BTreeMap::new(), &BTreeMap::new())["B"],
            "x yz"
        );
        assert_eq!(
            arg_list(text),
            [
                ArgDeclaration {
                    name: "A".into(),
                    default: Some("x y".into()),
                    global: true
                },
                ArgDeclaration {
                    name: "B".into(),
                    default: Some("x yz".into()),
                    global: true
                }
            ]
        );
    }

    #[test]
    fn platform_args_declared_on_a_free_line() {
        let text = "# syntax=x\n# licence\n\nARG BASE=stage-${TARGETARCH}\nFROM $BASE AS a\nFROM b-${TARGETOS}\n";
        assert_eq!(
            undeclared_platform_args(text),
            [("TARGETARCH".to_string(), 4), ("TARGETOS".to_string(), 6)]
        );
        let names = ["TARGETARCH".to_string(), "TARGETOS".to_string()];
        let amended = declare_global_args(text, &names).unwrap();
        assert_eq!(
            amended,
            "# syntax=x\nARG TARGETARCH TARGETOS\n\nARG BASE=stage-${TARGETARCH}\nFROM $BASE AS a\nFROM b-${TARGETOS}\n"
        );
        assert!(undeclared_platform_args(&amended).is_empty());
        assert_eq!(
            external_bases(
                &amended,
                &args(&[("TARGETARCH", "arm64"), ("TARGETOS", "linux")]),
                &BTreeMap::new()
            ),
            ["stage-arm64", "b-linux"]
        );
        // No free line before the first FROM (directives are not free; continuations neither).
        let tight = "# escape=\\\nFROM a-$TARGETARCH \\\n# in\n  AS x\n# after\n";
        assert_eq!(declare_global_args(tight, &names), Err(2));
        assert!(undeclared_platform_args("ARG TARGETARCH\nFROM a-$TARGETARCH\n").is_empty());
    }
}
