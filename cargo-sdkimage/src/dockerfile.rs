//! What the tool needs to know of a Dockerfile without building it: the external images its
//! `FROM` lines name, after `ARG` expansion, as both builders see them.
//!
//! Only the Dockerfile's structure is read (parser directives, comments, line continuations,
//! the instruction word, `ARG` and `FROM`); everything else is left to the engine's builder.

use std::collections::{BTreeMap, BTreeSet};

/// One `FROM` of a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// The image after expansion (`python:3.11-slim`), or a stage name, or `scratch`.
    pub image: String,
    /// `AS <name>`, lowercased as the builders compare it.
    pub stage: Option<String>,
    /// 1-based line of the instruction.
    pub line: usize,
}

/// An instruction: its keyword (uppercased), its arguments (continuations joined) and line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Instruction {
    keyword: String,
    args: String,
    line: usize,
}

/// Split a Dockerfile into instructions as the builders' parser does: an `# escape=`
/// directive, comment lines dropped (inside continuations too), lines ending in the escape
/// character joined to the next.
fn instructions(text: &str) -> Vec<Instruction> {
    let mut escape = '\\';
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
        lines.next();
    }
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (index, line) in lines {
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') {
            continue;
        }
        if current.is_none() && trimmed.is_empty() {
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
    out
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

/// Every `FROM` of `text`, expanded with the args declared before the first `FROM` (their
/// defaults, overridden by `build_args` and then by `automatic`, the platform args a builder
/// defines in the global scope).
pub fn froms(
    text: &str,
    build_args: &BTreeMap<String, String>,
    automatic: &BTreeMap<String, String>,
) -> Vec<From> {
    let mut global: BTreeMap<String, String> = automatic.clone();
    let mut seen_from = false;
    let mut out = Vec::new();
    for ins in instructions(text) {
        match ins.keyword.as_str() {
            "ARG" if !seen_from => {
                for (name, default) in arg_declarations(&ins.args) {
                    let value = build_args
                        .get(&name)
                        .cloned()
                        .or_else(|| automatic.get(&name).cloned())
                        .or_else(|| default.map(|d| expand(&d, &global)));
                    match value {
                        Some(v) => global.insert(name, v),
                        None => global.remove(&name),
                    };
                }
            }
            "FROM" => {
                seen_from = true;
                let words: Vec<&str> = ins
                    .args
                    .split_whitespace()
                    .filter(|w| !w.starts_with("--"))
                    .collect();
                let Some(image) = words.first() else { continue };
                let stage = match words.as_slice() {
                    [_, as_, name, ..] if as_.eq_ignore_ascii_case("as") => {
                        Some(name.to_ascii_lowercase())
                    }
                    _ => None,
                };
                out.push(From {
                    image: expand(image, &global),
                    stage,
                    line: ins.line,
                });
            }
            _ => {}
        }
    }
    out
}

/// Every name an `ARG` of the Dockerfile declares, in any stage.
pub fn declared_args(text: &str) -> BTreeSet<String> {
    instructions(text)
        .into_iter()
        .filter(|i| i.keyword == "ARG")
        .flat_map(|i| arg_declarations(&i.args))
        .map(|(name, _)| name)
        .collect()
}

/// Every `ARG` declaration with its default (quotes removed), in order, each name once; and
/// the `FROM` images as written (before expansion). For `cargo sdkimage init`.
pub fn args_and_raw_froms(text: &str) -> (Vec<(String, Option<String>)>, Vec<String>) {
    let mut args: Vec<(String, Option<String>)> = Vec::new();
    let mut froms = Vec::new();
    for ins in instructions(text) {
        match ins.keyword.as_str() {
            "ARG" => {
                for (name, default) in arg_declarations(&ins.args) {
                    if !args.iter().any(|(n, _)| *n == name) {
                        args.push((name, default));
                    }
                }
            }
            "FROM" => {
                if let Some(image) = ins.args.split_whitespace().find(|w| !w.starts_with("--")) {
                    froms.push(image.to_string());
                }
            }
            _ => {}
        }
    }
    (args, froms)
}

/// The images a Dockerfile builds on that are neither `scratch` nor one of its own stages,
/// in order, each once.
pub fn external_bases(
    text: &str,
    build_args: &BTreeMap<String, String>,
    automatic: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut stages = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for f in froms(text, build_args, automatic) {
        let lower = f.image.to_ascii_lowercase();
        if !(lower == "scratch" || lower.is_empty() || stages.contains(&lower))
            && seen.insert(f.image.clone())
        {
            out.push(f.image);
        }
        if let Some(stage) = f.stage {
            stages.insert(stage);
        }
    }
    out
}

/// `ARG a`, `ARG a=1 b="two words"`: names with their optional defaults (quotes removed).
fn arg_declarations(args: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for word in split_words(args) {
        match word.split_once('=') {
            Some((name, value)) => out.push((name.to_string(), Some(value.to_string()))),
            None => out.push((word, None)),
        }
    }
    out
}

/// Whitespace-separated words, with `"..."` and `'...'` quoting (quotes removed).
fn split_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => {
                if let Some(n) = chars.next() {
                    word.push(n);
                }
            }
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(word);
    }
    out
}

/// Expand `$name`, `${name}`, `${name:-word}`, `${name-word}`, `${name:+word}` and
/// `${name+word}` as the Dockerfile frontend does; an unset name expands to nothing.
pub fn expand(s: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && chars.get(i + 1) == Some(&'$') {
            out.push('$');
            i += 2;
            continue;
        }
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        if chars.get(i + 1) == Some(&'{') {
            let Some(close) = chars[i + 2..].iter().position(|&c| c == '}') else {
                out.extend(&chars[i..]);
                break;
            };
            let inner: String = chars[i + 2..i + 2 + close].iter().collect();
            out.push_str(&expand_braced(&inner, vars));
            i += close + 3;
            continue;
        }
        let name: String = chars[i + 1..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
            .collect();
        if name.is_empty() {
            out.push('$');
            i += 1;
        } else {
            out.push_str(vars.get(&name).map_or("", String::as_str));
            i += 1 + name.chars().count();
        }
    }
    out
}

fn expand_braced(inner: &str, vars: &BTreeMap<String, String>) -> String {
    let name_len = inner
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(inner.len());
    let (name, op) = inner.split_at(name_len);
    let value = vars.get(name);
    let word = |w: &str| expand(w, vars);
    if let Some(w) = op.strip_prefix(":-") {
        value
            .filter(|v| !v.is_empty())
            .cloned()
            .unwrap_or_else(|| word(w))
    } else if let Some(w) = op.strip_prefix(":+") {
        if value.is_some_and(|v| !v.is_empty()) {
            word(w)
        } else {
            String::new()
        }
    } else if let Some(w) = op.strip_prefix('-') {
        value.cloned().unwrap_or_else(|| word(w))
    } else if let Some(w) = op.strip_prefix('+') {
        if value.is_some() {
            word(w)
        } else {
            String::new()
        }
    } else {
        value.cloned().unwrap_or_default()
    }
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
                line: 3
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
    fn expansion_forms() {
        let vars = args(&[("A", "x"), ("E", "")]);
        assert_eq!(
            expand("$A-${A}-${E:-d}-${E-d}-${A:+p}-${U+p}-\\$A", &vars),
            "x-x-d--p--$A"
        );
        assert_eq!(expand("${unclosed", &vars), "${unclosed");
        assert_eq!(expand("a$", &vars), "a$");
    }

    #[test]
    fn arg_declarations_take_quotes_and_several_names() {
        assert_eq!(
            arg_declarations(r#"A=1 B="two words" C"#),
            [
                ("A".to_string(), Some("1".to_string())),
                ("B".to_string(), Some("two words".to_string())),
                ("C".to_string(), None)
            ]
        );
    }
}
