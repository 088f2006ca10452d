//! The typed errors of the library and the exit codes they map to (the book: docs/src/reference/exit-codes.md).

use std::fmt;
use std::path::PathBuf;

/// A problem in a file the user wrote, located at `path:line:col`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub path: PathBuf,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl Diagnostic {
    /// Locate byte offset `offset` of `source` (the text of `path`).
    pub fn at(
        path: &std::path::Path,
        source: &str,
        offset: usize,
        message: impl Into<String>,
    ) -> Self {
        let (line, col) = line_col(source, offset);
        Diagnostic {
            path: path.to_path_buf(),
            line,
            col,
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path.display(),
            self.line,
            self.col,
            self.message
        )
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let mut offset = offset;
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

/// Every failure the library reports. Each maps to one documented exit code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad manifests or workspace configuration: all problems found, in file order.
    #[error("{}", render_diagnostics(.0))]
    Invalid(Vec<Diagnostic>),
    /// A bad flag or selector value (not located in a file).
    #[error("{0}")]
    Usage(String),
    /// The Docker engine (or a registry) cannot be reached at all.
    #[error("{0}")]
    Unreachable(String),
    /// A build, push, verify or license step failed; details were already reported per image.
    #[error("{0}")]
    Failed(String),
    /// The run was interrupted by a signal (SIGINT = 2, SIGTERM = 15).
    #[error("interrupted by {}", crate::interrupt::name(*.0))]
    Interrupted(i32),
    /// A build context that cannot be sent (a file that vanished or cannot be read, a FIFO):
    /// a `context::ContextError`, kept whole.
    #[error("{0}")]
    Context(Box<dyn std::error::Error + Send + Sync>),
    /// An I/O problem outside a build (state folder, metadata file, ...).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn render_diagnostics(diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for (i, d) in diags.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&d.to_string());
    }
    out
}

impl Error {
    /// The process exit code (the book: docs/src/reference/exit-codes.md).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Invalid(_) | Error::Usage(_) => 2,
            Error::Unreachable(_) => 3,
            Error::Failed(_) | Error::Io { .. } | Error::Context(_) => 1,
            Error::Interrupted(signal) => 128 + signal,
        }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub fn invalid(diag: Diagnostic) -> Self {
        Error::Invalid(vec![diag])
    }
}

/// A user-supplied value inside a message, the same way everywhere: quoted, with control
/// characters escaped (`"a\nb"`), so a newline or an escape sequence in a tag or a build arg
/// can never forge or hide a line of output.
pub fn quoted(value: &str) -> String {
    format!("{value:?}")
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error and its sources on one line, each source once (libraries often repeat them).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let s = "a = 1\nbé = 2\n";
        assert_eq!(line_col(s, 0), (1, 1));
        assert_eq!(line_col(s, 6), (2, 1));
        assert_eq!(line_col(s, 9), (2, 3));
        assert_eq!(line_col(s, 1000), (3, 1));
    }

    /// Where `text` has `Result<.., String>` (or `Ok::<_, String>`, `Err::<_, String>`): a
    /// generic whose last argument, at its own nesting level, is `String`. Line comments
    /// are skipped.
    fn string_errors(text: &str) -> Vec<(usize, String)> {
        let mut found = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            let mut rest = code;
            while let Some(at) = ["Result<", "Ok::<", "Err::<"]
                .iter()
                .filter_map(|head| rest.find(head).map(|i| (i, i + head.len())))
                .min()
            {
                let (start, open) = at;
                let mut depth = 1;
                let mut args = vec![String::new()];
                let mut end = open;
                // A signature may span lines: read on in the whole text from here.
                let offset = text.lines().take(n).map(|l| l.len() + 1).sum::<usize>()
                    + (code.len() - rest.len());
                for (i, c) in text[offset + open..].char_indices() {
                    end = open + i + c.len_utf8();
                    match c {
                        '<' | '(' | '[' => depth += 1,
                        '>' | ')' | ']' => depth -= 1,
                        ',' if depth == 1 => {
                            args.push(String::new());
                            continue;
                        }
                        _ => {}
                    }
                    if depth == 0 {
                        break;
                    }
                    args.last_mut().expect("one").push(c);
                }
                // A trailing comma leaves an empty last argument.
                if args.len() > 1 && args.last().is_some_and(|a| a.trim().is_empty()) {
                    args.pop();
                }
                let last: String = args
                    .last()
                    .expect("one")
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect();
                if args.len() == 2 && matches!(last.as_str(), "String" | "std::string::String") {
                    found.push((
                        n + 1,
                        text[offset + start..offset + end.min(text.len() - offset)].to_string(),
                    ));
                }
                rest = &rest[start + 1..];
            }
        }
        found
    }

    #[test]
    fn string_errors_are_found_in_signatures_closures_and_aliases() {
        let e = concat!("Str", "ing");
        let bad = format!(
            "fn a() -> Result<(u8, Vec<u8>), {e}> {{}}\ntype L = std::result::Result<String, {e}>;\nlet f = || Ok::<_, {e}>(1);\nfn b(\n) -> Result<\n    Vec<u8>,\n    {e},\n> {{}}\n"
        );
        let found: Vec<usize> = string_errors(&bad).into_iter().map(|(n, _)| n).collect();
        assert_eq!(found, [1, 2, 3, 5]);
        let good = format!(
            "fn a() -> Result<{e}> {{}}\nfn b() -> Result<Vec<{e}>, Error> {{}}\n// Result<(), {e}>\nfn c() -> Result<BTreeMap<u8, {e}>> {{}}\n"
        );
        assert_eq!(string_errors(&good), []);
    }

    /// No function of the library or the binary returns `Result<_, String>`: every failure
    /// is a typed error (issue 25), the parsers of user text included.
    #[test]
    fn no_function_returns_a_string_error() {
        fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
            let mut entries: Vec<_> = std::fs::read_dir(dir)
                .expect("read src")
                .map(|e| e.expect("an entry").path())
                .collect();
            entries.sort();
            for path in entries {
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).expect("read a source file");
                    for (line, found) in string_errors(&text) {
                        out.push(format!("{}:{line}: {found}", path.display()));
                    }
                }
            }
        }
        let mut found = Vec::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut found,
        );
        assert!(
            found.is_empty(),
            "these return a String as their error; give the concern a thiserror enum (see src/error.rs):\n{}",
            found.join("\n")
        );
    }

    #[test]
    fn exit_codes_follow_design() {
        assert_eq!(Error::Usage("x".into()).exit_code(), 2);
        assert_eq!(Error::Invalid(vec![]).exit_code(), 2);
        assert_eq!(Error::Unreachable("x".into()).exit_code(), 3);
        assert_eq!(Error::Failed("x".into()).exit_code(), 1);
        assert_eq!(Error::Interrupted(2).exit_code(), 130);
        assert_eq!(Error::Interrupted(15).exit_code(), 143);
    }
}
