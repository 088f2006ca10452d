//! `.dockerignore` with the docker CLI's semantics: `ignorefile.ReadAll` to read the lines and
//! moby's `patternmatcher` to match, ported rule by rule (not gitignore semantics).

use super::ContextError;
use super::goregex::Regex;

/// The patterns of a `.dockerignore`, compiled.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

/// Per-pattern results for a directory, handed down to its children while walking
/// (patternmatcher's `MatchInfo`).
#[derive(Debug, Clone, Default)]
pub struct MatchInfo {
    parent_matched: Vec<bool>,
}

#[derive(Debug, Clone)]
struct Pattern {
    /// The cleaned pattern without its leading `!`.
    cleaned: String,
    /// Number of `/`-separated components of `cleaned`.
    dirs: usize,
    exclusion: bool,
    matcher: Matcher,
}

#[derive(Debug, Clone)]
enum Matcher {
    Exact,
    Prefix(String),
    Suffix(String),
    Regex(Regex),
}

impl DockerIgnore {
    /// Parse the text of a `.dockerignore`. Errors name the offending line (1-based).
    pub fn parse(text: &str) -> Result<DockerIgnore, ContextError> {
        let mut ignore = DockerIgnore::default();
        for (line, pattern) in read_all(text) {
            ignore.push(&pattern, line)?;
        }
        Ok(ignore)
    }

    /// Whether `rel_path` (relative to the context root, `/`-separated) is excluded, the path
    /// itself or any of its parent directories considered (patternmatcher's
    /// `MatchesOrParentMatches`). The context root itself is never excluded.
    pub fn is_excluded(&self, rel_path: &str) -> bool {
        let file = go_clean(rel_path);
        if file == "." {
            return false;
        }
        let mut matched = false;
        for pattern in &self.patterns {
            if pattern.exclusion != matched {
                continue;
            }
            if pattern.matches(&file) || pattern.matches_a_parent(&file) {
                matched = !pattern.exclusion;
            }
        }
        matched
    }

    /// patternmatcher's deprecated `Matches`, which checks only the parent directory with as
    /// many components as the pattern has. The docker CLI still uses it to decide whether the
    /// Dockerfile and `.dockerignore` need an exception (`TrimBuildFilesFromExcludes`).
    pub fn matches_legacy(&self, rel_path: &str) -> bool {
        let file = go_clean(rel_path);
        if file == "." {
            return false;
        }
        let parent = parent_dir(&file);
        let parent_dirs: Vec<&str> = parent.split('/').collect();
        let mut matched = false;
        for pattern in &self.patterns {
            if pattern.exclusion != matched {
                continue;
            }
            let mut hit = pattern.matches(&file);
            if !hit && parent != "." && pattern.dirs <= parent_dirs.len() {
                hit = pattern.matches(&parent_dirs[..pattern.dirs].join("/"));
            }
            if hit {
                matched = !pattern.exclusion;
            }
        }
        matched
    }

    /// patternmatcher's `MatchesUsingParentResults`, which the archive walker of moby uses:
    /// `parent` is the [`MatchInfo`] of the directory containing `rel_path` (`None` at the top
    /// level). Returns whether the path is excluded and the info to hand to its children.
    pub fn matches_with_parent(
        &self,
        rel_path: &str,
        parent: Option<&MatchInfo>,
    ) -> (bool, MatchInfo) {
        let mut info = MatchInfo {
            parent_matched: vec![false; self.patterns.len()],
        };
        let mut matched = false;
        for (i, pattern) in self.patterns.iter().enumerate() {
            let mut hit = parent.is_some_and(|p| p.parent_matched.get(i).copied().unwrap_or(false));
            if !hit {
                if pattern.exclusion != matched {
                    continue;
                }
                hit = pattern.matches(rel_path);
                if !hit && parent.is_none() {
                    hit = pattern.matches_a_parent(rel_path);
                }
            }
            info.parent_matched[i] = hit;
            if hit {
                matched = !pattern.exclusion;
            }
        }
        (matched, info)
    }

    /// Whether any pattern is an exception (`!...`).
    pub fn has_exclusions(&self) -> bool {
        self.exclusions
    }

    /// moby's walker still enters an excluded directory when an exception pattern starts with
    /// the directory's path; the directory entry itself is not sent in that case.
    pub fn must_walk_excluded_dir(&self, rel_dir: &str) -> bool {
        if !self.exclusions {
            return false;
        }
        let dir_slash = format!("{rel_dir}/");
        self.patterns
            .iter()
            .filter(|p| p.exclusion)
            .any(|p| format!("{}/", p.cleaned).starts_with(&dir_slash))
    }

    /// Append the exception `!rel_path`, as the CLI does for the Dockerfile and
    /// `.dockerignore` when they are excluded.
    pub fn add_exception(&mut self, rel_path: &str) -> Result<(), ContextError> {
        self.push(&format!("!{rel_path}"), 0)
    }

    /// patternmatcher's `New` for one pattern.
    fn push(&mut self, raw: &str, line: usize) -> Result<(), ContextError> {
        let error = |reason: &str| ContextError::Pattern {
            pattern: raw.to_string(),
            line,
            reason: reason.to_string(),
        };
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Ok(());
        }
        let cleaned = go_clean(trimmed);
        let (exclusion, body) = match cleaned.strip_prefix('!') {
            Some("") => return Err(error("illegal exclusion pattern: \"!\"")),
            Some(rest) => (true, rest),
            None => (false, cleaned.as_str()),
        };
        // patternmatcher's syntax check, `filepath.Match(pattern, ".")`.
        if super::gomatch::go_match(body, ".").is_err() {
            return Err(error("syntax error in pattern"));
        }
        let matcher =
            compile(body).map_err(|e| error(&format!("syntax error in pattern ({e})")))?;
        self.exclusions |= exclusion;
        self.patterns.push(Pattern {
            cleaned: body.to_string(),
            dirs: body.split('/').count(),
            exclusion,
            matcher,
        });
        Ok(())
    }
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        match &self.matcher {
            Matcher::Exact => path == self.cleaned,
            Matcher::Prefix(prefix) => path.starts_with(prefix.as_str()),
            Matcher::Suffix(suffix) => {
                path.ends_with(suffix.as_str())
                    || suffix.strip_prefix('/').is_some_and(|s| path == s)
            }
            Matcher::Regex(re) => re.is_match(path),
        }
    }

    /// Whether the pattern matches one of the parent directories of `path`.
    fn matches_a_parent(&self, path: &str) -> bool {
        let parent = parent_dir(path);
        if parent == "." {
            return false;
        }
        parent
            .match_indices('/')
            .map(|(i, _)| &parent[..i])
            .chain(std::iter::once(parent))
            .any(|prefix| self.matches(prefix))
    }
}

/// `filepath.Dir` for a clean relative path.
fn parent_dir(path: &str) -> &str {
    path.rfind('/').map_or(".", |i| &path[..i])
}

/// `ignorefile.ReadAll`: the patterns of a `.dockerignore` with their 1-based line numbers.
/// Comment lines start with `#` before trimming; a leading `/` is dropped after cleaning.
pub(crate) fn read_all(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (index, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut cleaned = String::new();
        if !pattern.is_empty() {
            cleaned = go_clean(pattern);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
        }
        if invert {
            cleaned.insert(0, '!');
        }
        out.push((index + 1, cleaned));
    }
    out
}

/// Go's `filepath.Clean` (Unix).
pub(crate) fn go_clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|last| *last != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    if rooted {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".to_string()
    } else {
        joined
    }
}

/// patternmatcher's `compile`: classify the pattern and, for the regexp kind, build the same
/// expression moby does and compile it with Go's rules.
fn compile(pattern: &str) -> Result<Matcher, super::goregex::RegexError> {
    #[derive(PartialEq)]
    enum Kind {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }
    let mut expr = String::from("^");
    let mut kind = Kind::Exact;
    let mut chars = pattern.chars().peekable();
    let mut index = 0;
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                if chars.peek() == Some(&'/') {
                    chars.next();
                }
                if chars.peek().is_none() {
                    if kind == Kind::Exact {
                        kind = Kind::Prefix;
                    } else {
                        expr.push_str(".*");
                        kind = Kind::Regex;
                    }
                } else {
                    expr.push_str("(.*/)?");
                    kind = Kind::Regex;
                }
                if index == 0 {
                    kind = Kind::Suffix;
                }
            }
            '*' => {
                expr.push_str("[^/]*");
                kind = Kind::Regex;
            }
            '?' => {
                expr.push_str("[^/]");
                kind = Kind::Regex;
            }
            '.' | '+' | '(' | ')' | '|' | '{' | '}' | '$' => {
                expr.push('\\');
                expr.push(c);
            }
            '\\' => match chars.next() {
                Some(next) => {
                    expr.push('\\');
                    expr.push(next);
                    kind = Kind::Regex;
                }
                None => expr.push('\\'),
            },
            '[' | ']' => {
                expr.push(c);
                kind = Kind::Regex;
            }
            c => expr.push(c),
        }
        index += 1;
    }
    Ok(match kind {
        Kind::Exact => Matcher::Exact,
        Kind::Prefix => Matcher::Prefix(pattern[..pattern.len() - 2].to_string()),
        Kind::Suffix => Matcher::Suffix(pattern[2..].to_string()),
        Kind::Regex => {
            expr.push('$');
            Matcher::Regex(Regex::new(&expr)?)
        }
    })
}

#[cfg(test)]
mod tests;
