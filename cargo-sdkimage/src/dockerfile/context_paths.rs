//! Which paths of the build context a BuildKit build of a Dockerfile can read, found without
//! building it, so the up-to-date check walks and hashes only those.
//!
//! BuildKit's Dockerfile frontend (`dockerfile2llb/convert.go` in moby/buildkit 0.8, the one in
//! Docker 20.10) collects `ctxPaths` while it converts the stages the target reaches (the target
//! and, through `FROM <stage>`, `COPY --from` and `RUN --mount from=`, the stages it depends
//! on): the sources of `COPY` without `--from`, of `ADD` but URLs, and of `RUN --mount`s of type
//! `bind` or `tmpfs` without `from` (`path.Join("/", source)`), each after expansion with the
//! stage's variables. When one of them is the root, the engine asks for the whole context; else
//! it asks only for those paths (the local source's `followpaths`). This reads the Dockerfile
//! the same way and answers with a superset of those paths, or with [`ContextUse::Whole`]
//! whenever something cannot be known here: a `# syntax=` frontend, an `ONBUILD` (its trigger
//! runs in a later stage), a heredoc or an instruction this does not read, a variable that
//! only a base image's environment could set, a `--from` or mount option that uses a variable.
//! An `ONBUILD` trigger of an external base image is invisible here: the file sync refuses a
//! request for paths outside the set (`engine/filesync.rs`).

use std::collections::{BTreeMap, BTreeSet};

use super::{Instruction, arg_declarations, parse, process_word, scope, split_words};

/// What of the build context a build reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextUse {
    /// These paths (relative to the context, cleaned, `/`-separated, possibly with wildcards)
    /// and everything below them.
    Paths(BTreeSet<String>),
    /// The whole context, and why.
    Whole(WholeContext),
}

/// Why a build may read the whole context (as far as this reader can tell).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WholeContext {
    #[error("a `# syntax=` frontend reads the Dockerfile")]
    Syntax,
    #[error("no FROM")]
    NoFrom,
    #[error("no stage named {0:?}")]
    NoStage(String),
    #[error("{0:?} is the whole context")]
    RootSource(String),
    #[error("line {line}: {why}")]
    At { line: usize, why: LineReason },
}

/// Why one instruction may read any part of the context.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineReason {
    #[error("an ONBUILD trigger runs in a later stage")]
    Onbuild,
    #[error("{0} is not an instruction read here")]
    NotRead(String),
    #[error("a heredoc")]
    Heredoc,
    #[error("a source list not read here")]
    SourceList,
    #[error("no destination")]
    NoDestination,
    #[error("FROM without an image")]
    FromWithoutImage,
    #[error("{0}")]
    Word(#[from] super::LexError),
    #[error("the value of ${0} is not known before the build")]
    UnknownVariable(String),
    #[error("a mount not read here ({0})")]
    Mount(String),
}

impl ContextUse {
    /// Both uses together: the paths of both, or the whole context if either needs it.
    pub fn union(self, other: ContextUse) -> ContextUse {
        match (self, other) {
            (ContextUse::Whole(why), _) | (_, ContextUse::Whole(why)) => ContextUse::Whole(why),
            (ContextUse::Paths(mut a), ContextUse::Paths(b)) => {
                a.extend(b);
                ContextUse::Paths(a)
            }
        }
    }
}

/// The instructions this reads or knows to be irrelevant to the context.
const KNOWN: &[&str] = &[
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "MAINTAINER",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
];

/// The `PATH` BuildKit gives a stage built on `scratch` (`system.DefaultPathEnv`).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A stage's variables as its `COPY` sources see them.
#[derive(Debug, Clone)]
struct Env {
    /// Known values; `None`: set to something not known here.
    vars: BTreeMap<String, Option<String>>,
    /// The stage builds on an external image, whose environment may set any other name.
    open: bool,
}

struct Stage {
    /// The stage it builds on (`FROM <stage>`).
    base: Option<usize>,
    /// `--from` values of `COPY` and `RUN --mount`, resolved once every stage is named.
    from: Vec<String>,
    paths: Vec<String>,
    env: Env,
}

/// The context paths a BuildKit build of Dockerfile `text` for stage `target` (`None`: the
/// last) can read, with `build_args` the build args sent and `automatic` the platform args
/// BuildKit defines for the platform built.
pub fn context_use(
    text: &str,
    target: Option<&str>,
    build_args: &BTreeMap<String, String>,
    automatic: &BTreeMap<String, String>,
) -> ContextUse {
    match read(text, target, build_args, automatic) {
        Ok(paths) => ContextUse::Paths(paths),
        Err(why) => ContextUse::Whole(why),
    }
}

fn read(
    text: &str,
    target: Option<&str>,
    build_args: &BTreeMap<String, String>,
    automatic: &BTreeMap<String, String>,
) -> Result<BTreeSet<String>, WholeContext> {
    let parsed = parse(text);
    if parsed.syntax {
        return Err(WholeContext::Syntax);
    }
    let escape = parsed.escape;
    // The global args (and the platform args), which a stage's `ARG <name>` takes its value from.
    let meta = scope(&parsed, build_args, automatic);
    let mut stages: Vec<Stage> = Vec::new();
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for ins in &parsed.instructions {
        let at = |why: LineReason| WholeContext::At {
            line: ins.line,
            why,
        };
        let keyword = ins.keyword.as_str();
        if keyword == "ONBUILD" {
            return Err(at(LineReason::Onbuild));
        }
        if !KNOWN.contains(&keyword) {
            return Err(at(LineReason::NotRead(keyword.to_string())));
        }
        if matches!(keyword, "COPY" | "ADD" | "RUN") && ins.args.contains("<<") {
            return Err(at(LineReason::Heredoc));
        }
        if keyword == "FROM" {
            let stage = from_stage(ins, escape, &meta, &stages, &names).map_err(at)?;
            if let Some(name) = stage.1 {
                names.insert(name, stages.len());
            }
            stages.push(stage.0);
            continue;
        }
        let Some(stage) = stages.last_mut() else {
            // Before the first FROM only ARG is allowed; the global scope read it already.
            continue;
        };
        match keyword {
            "ARG" => {
                for (name, default) in arg_declarations(&ins.args, escape) {
                    let value = match build_args.get(&name) {
                        Some(v) => Some(Some(v.clone())),
                        None => match default {
                            Some(d) => Some(expand(&d, escape, &stage.env).ok()),
                            None => meta.get(&name).map(|v| Some(v.clone())),
                        },
                    };
                    if let Some(v) = value {
                        stage.env.vars.insert(name, v);
                    }
                }
            }
            "ENV" => env_instruction(&ins.args, escape, &mut stage.env),
            "COPY" | "ADD" => {
                let (flags, rest) = split_flags(&ins.args);
                if let Some(from) = flag(&flags, "from")
                    && !from.is_empty()
                    && keyword == "COPY"
                {
                    stage.from.push(from);
                    continue;
                }
                let words = list(rest).ok_or_else(|| at(LineReason::SourceList))?;
                if words.len() < 2 {
                    return Err(at(LineReason::NoDestination));
                }
                for source in &words[..words.len() - 1] {
                    let source = expand(source, escape, &stage.env).map_err(at)?;
                    if keyword == "ADD"
                        && (source.starts_with("http://") || source.starts_with("https://"))
                    {
                        continue;
                    }
                    stage.paths.push(source);
                }
            }
            "RUN" => {
                let (flags, _) = split_flags(&ins.args);
                for (name, value) in flags {
                    if name != "mount" {
                        continue;
                    }
                    let mount = Mount::parse(&value).map_err(at)?;
                    match mount.from {
                        Some(from) => stage.from.push(from),
                        None if matches!(mount.kind.as_str(), "bind" | "tmpfs") => {
                            stage.paths.push(mount.source)
                        }
                        None => {}
                    }
                }
            }
            _ => {}
        }
    }
    if stages.is_empty() {
        return Err(WholeContext::NoFrom);
    }
    let target = match target {
        None => stages.len() - 1,
        Some(t) => *names
            .get(&t.to_ascii_lowercase())
            .ok_or_else(|| WholeContext::NoStage(t.to_string()))?,
    };
    // The stages the target reaches, as BuildKit's `isReachable`.
    let mut reached = BTreeSet::new();
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if !reached.insert(i) {
            continue;
        }
        let stage = &stages[i];
        todo.extend(stage.base);
        for from in &stage.from {
            if from.contains('$') {
                // A newer frontend expands it: it may name any stage.
                todo.extend(0..stages.len());
            } else if let Ok(index) = from.parse::<usize>() {
                todo.extend((index < stages.len()).then_some(index));
            } else if let Some(&index) = names.get(&from.to_ascii_lowercase()) {
                todo.push(index);
            }
        }
    }
    let mut paths = BTreeSet::new();
    for i in reached {
        for source in &stages[i].paths {
            let clean = clean_rooted(source);
            if clean == "/" {
                return Err(WholeContext::RootSource(source.clone()));
            }
            paths.insert(clean[1..].to_string());
        }
    }
    Ok(paths)
}

/// A `FROM`: the stage with the environment of what it builds on, and its name.
fn from_stage(
    ins: &Instruction,
    escape: char,
    meta: &BTreeMap<String, String>,
    stages: &[Stage],
    names: &BTreeMap<String, usize>,
) -> Result<(Stage, Option<String>), LineReason> {
    let words: Vec<&str> = ins
        .args
        .split_whitespace()
        .filter(|w| !w.starts_with("--"))
        .collect();
    let raw = words.first().ok_or(LineReason::FromWithoutImage)?;
    let base = process_word(raw, escape, &|n| meta.get(n).cloned())?.value;
    let name = match words.as_slice() {
        [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some(name.to_ascii_lowercase()),
        _ => None,
    };
    let base_index = names.get(&base.to_ascii_lowercase()).copied();
    let env = match base_index {
        Some(i) => stages[i].env.clone(),
        None if base.eq_ignore_ascii_case("scratch") => Env {
            vars: BTreeMap::from([("PATH".to_string(), Some(DEFAULT_PATH.to_string()))]),
            open: false,
        },
        None => Env {
            vars: BTreeMap::new(),
            open: true,
        },
    };
    Ok((
        Stage {
            base: base_index,
            from: Vec::new(),
            paths: Vec::new(),
            env,
        },
        name,
    ))
}

/// Expand one word with the stage's variables; `Err` naming a variable whose value is not
/// known here.
fn expand(word: &str, escape: char, env: &Env) -> Result<String, LineReason> {
    let unknown = std::cell::RefCell::new(None::<String>);
    let expanded = process_word(word, escape, &|name| match env.vars.get(name) {
        Some(Some(v)) => Some(v.clone()),
        Some(None) => {
            unknown.borrow_mut().get_or_insert_with(|| name.to_string());
            None
        }
        None => {
            if env.open {
                unknown.borrow_mut().get_or_insert_with(|| name.to_string());
            }
            None
        }
    })?;
    match unknown.into_inner() {
        Some(name) => Err(LineReason::UnknownVariable(name)),
        None => Ok(expanded.value),
    }
}

/// `ENV a=1 b="two words"` or the legacy `ENV a value with spaces`.
fn env_instruction(args: &str, escape: char, env: &mut Env) {
    let words = split_words(args, escape);
    let pairs: Vec<(String, String)> = match words.first() {
        Some(first) if first.contains('=') => words
            .iter()
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        Some(first) => {
            let rest = args.trim_start()[first.len()..].trim();
            vec![(first.clone(), rest.to_string())]
        }
        None => Vec::new(),
    };
    for (key, value) in pairs {
        let value = expand(&value, escape, env).ok();
        env.vars.insert(key, value);
    }
}

/// The builder flags at the start of an instruction (`--from=build`), by name, and the rest.
fn split_flags(args: &str) -> (Vec<(String, String)>, &str) {
    let mut flags = Vec::new();
    let mut rest = args.trim_start();
    while let Some(after) = rest.strip_prefix("--") {
        // The end of the word: whitespace outside quotes.
        let mut quote = None;
        let end = after
            .char_indices()
            .find(|&(_, c)| match quote {
                Some(q) => {
                    if c == q {
                        quote = None;
                    }
                    false
                }
                None if c == '"' || c == '\'' => {
                    quote = Some(c);
                    false
                }
                None => c.is_whitespace(),
            })
            .map_or(after.len(), |(i, _)| i);
        let word = &after[..end];
        let (name, value) = word.split_once('=').unwrap_or((word, ""));
        flags.push((name.to_ascii_lowercase(), value.to_string()));
        rest = after[end..].trim_start();
    }
    (flags, rest)
}

fn flag(flags: &[(String, String)], name: &str) -> Option<String> {
    flags
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.trim_matches(['"', '\'']).to_string())
}

/// The words of `COPY`/`ADD` after the flags: a JSON array of strings, else split on
/// whitespace (quotes do not group: the lexer removes them from each word). `None`: JSON that is
/// no array of strings.
fn list(rest: &str) -> Option<Vec<String>> {
    if rest.starts_with('[') {
        match serde_json::from_str::<serde_json::Value>(rest) {
            Ok(serde_json::Value::Array(items)) => {
                return items
                    .into_iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect();
            }
            Ok(_) => return None,
            Err(_) => {}
        }
    }
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// One `RUN --mount=...` as far as the context is concerned.
struct Mount {
    kind: String,
    from: Option<String>,
    source: String,
}

impl Mount {
    /// BuildKit's `parseMount`: comma-separated `key=value` fields, `type` first by default
    /// `bind`; a cache mount without `from` mounts `scratch`; secrets and SSH use no context.
    fn parse(value: &str) -> Result<Mount, LineReason> {
        if value.contains(['"', '\'', '$']) {
            return Err(LineReason::Mount(value.to_string()));
        }
        let mut mount = Mount {
            kind: "bind".into(),
            from: None,
            source: String::new(),
        };
        for field in value.split(',') {
            let (key, v) = field.split_once('=').unwrap_or((field, ""));
            match key.to_ascii_lowercase().as_str() {
                "type" => mount.kind = v.to_ascii_lowercase(),
                "from" => mount.from = Some(v.to_string()).filter(|f| !f.is_empty()),
                "source" | "src" => mount.source = v.to_string(),
                _ => {}
            }
        }
        if mount.kind == "cache" && mount.from.is_none() {
            mount.from = Some("scratch".into());
        }
        Ok(mount)
    }
}

/// Go's `path.Join("/", p)`: rooted, cleaned (`..` stops at the root).
fn clean_rooted(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests;
