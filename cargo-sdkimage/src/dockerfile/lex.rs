//! BuildKit's shell lexer for one word (`frontend/dockerfile/shell/lex.go` in moby/buildkit,
//! which the classic builder vendors too): what a `FROM` image or an `ARG` default becomes.
//! Quotes are removed after expansion (a value's own quotes stay), the escape character
//! escapes outside quotes and, inside double quotes, `"`, `$` and itself; `$name`, `${name}`,
//! `${name:-word}`, `${name-word}`, `${name:+word}`, `${name+word}`, `${name:?msg}`,
//! `${name?msg}`, `${name#pattern}`, `${name##pattern}`, `${name%pattern}`,
//! `${name%%pattern}`, `${name/pattern/replacement}` and `${name//pattern/replacement}`.
//! No word splitting: `ProcessWord`, not `ProcessWords`.

use std::collections::BTreeSet;

/// A word after expansion, and every variable name it looked up (set or not), in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub value: String,
    pub names: Vec<String>,
}

/// BuildKit's own message for a word it cannot process.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to process {word:?}: {message}")]
pub struct LexError {
    pub word: String,
    pub message: LexProblem,
}

/// What is wrong with a word, in BuildKit's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LexProblem {
    #[error("unexpected end of statement while looking for matching {0}")]
    Unclosed(char),
    #[error("unexpected end of statement while looking for matching single-quote")]
    UnclosedSingleQuote,
    #[error("unexpected end of statement while looking for matching double-quote")]
    UnclosedDoubleQuote,
    #[error("syntax error: missing '{0}'")]
    Missing(char),
    #[error("syntax error: missing '/' in ${{}}")]
    MissingSlash,
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    #[error("unsupported modifier ({0}) in substitution")]
    UnsupportedModifier(String),
    /// `${name:?message}` (or `?`) on an unset (or empty) variable.
    #[error("{name}: {message}")]
    Required { name: String, message: String },
    #[error("invalid pattern ({pattern}) in substitution: invalid escape '\\{escaped}'")]
    InvalidEscape { pattern: String, escaped: String },
    #[error(
        "a pattern substitution on a value of over {PATTERN_VALUE_CAP} characters is not worked out here"
    )]
    PatternValueTooLong,
}

/// Expand `word` as BuildKit does, with `escape` (`\`, or `` ` `` under `# escape=`) and the
/// variables `env` gives.
pub fn process_word(
    word: &str,
    escape: char,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Word, LexError> {
    let mut lexer = Lexer {
        chars: word.chars().collect(),
        pos: 0,
        escape,
        raw_escapes: false,
        env,
        names: Vec::new(),
        seen: BTreeSet::new(),
    };
    match lexer.stop_on(None, false) {
        Ok(value) => Ok(Word {
            value,
            names: lexer.names,
        }),
        Err(message) => Err(LexError {
            word: word.to_string(),
            message,
        }),
    }
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    raw_escapes: bool,
    env: &'a dyn Fn(&str) -> Option<String>,
    names: Vec<String>,
    seen: BTreeSet<String>,
}

type Lexed = Result<String, LexProblem>;

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn get(&mut self, name: &str) -> Option<String> {
        if self.seen.insert(name.to_string()) {
            self.names.push(name.to_string());
        }
        (self.env)(name)
    }

    /// `processStopOn`: up to `stop` (consumed), or the end of the word when `stop` is `None`.
    fn stop_on(&mut self, stop: Option<char>, raw_escapes: bool) -> Lexed {
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let result = self.stop_on_inner(stop);
        self.raw_escapes = saved;
        result
    }

    fn stop_on_inner(&mut self, stop: Option<char>) -> Lexed {
        let mut result = String::new();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.next();
                return Ok(result);
            }
            match ch {
                '$' => result.push_str(&self.dollar()?),
                '\'' => result.push_str(&self.single_quote()?),
                '"' => result.push_str(&self.double_quote()?),
                _ => {
                    self.next();
                    if ch == self.escape {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        // The escape character escapes anything, except the end of the word.
                        match self.next() {
                            Some(escaped) => result.push(escaped),
                            None => break,
                        }
                    } else {
                        result.push(ch);
                    }
                }
            }
        }
        match stop {
            Some(stop) => Err(LexProblem::Unclosed(stop)),
            None => Ok(result),
        }
    }

    fn single_quote(&mut self) -> Lexed {
        self.next();
        let mut result = String::new();
        loop {
            match self.next() {
                None => {
                    return Err(LexProblem::UnclosedSingleQuote);
                }
                Some('\'') => return Ok(result),
                Some(c) => result.push(c),
            }
        }
    }

    fn double_quote(&mut self) -> Lexed {
        self.next();
        let mut result = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(LexProblem::UnclosedDoubleQuote);
                }
                Some('"') => {
                    self.next();
                    return Ok(result);
                }
                Some('$') => result.push_str(&self.dollar()?),
                Some(_) => {
                    let mut ch = self.next().expect("peeked");
                    if ch == self.escape {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            // A lone escape at the end: the missing quote is the error.
                            None => continue,
                            Some(c) if c == '"' || c == '$' || c == self.escape => {
                                ch = self.next().expect("peeked");
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    fn dollar(&mut self) -> Lexed {
        self.next();
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(self.get(&name).unwrap_or_default());
        }
        self.next();
        match self.peek() {
            None => return Err(LexProblem::Missing('}')),
            Some('{' | '}' | ':') => return Err(LexProblem::BadSubstitution),
            Some(_) => {}
        }
        let name = self.name();
        let mut modifier = match self.next() {
            None => return Err(LexProblem::Missing('}')),
            Some('}') => return Ok(self.get(&name).unwrap_or_default()),
            Some(c) => c,
        };
        let mut null_is_unset = false;
        let mut written = modifier.to_string();
        if modifier == ':' {
            null_is_unset = true;
            modifier = self.next().ok_or(LexProblem::Missing('}'))?;
            written.push(modifier);
        }
        match modifier {
            '+' | '-' | '?' | '#' | '%' => {
                let raw = modifier == '#' || modifier == '%';
                if null_is_unset && raw {
                    return Err(LexProblem::UnsupportedModifier(written));
                }
                let word = self
                    .stop_on(Some('}'), raw)
                    .map_err(|e| self.missing(e, '}'))?;
                let value = self.get(&name);
                let unset = match &value {
                    None => true,
                    Some(v) => null_is_unset && v.is_empty(),
                };
                match modifier {
                    '-' => Ok(if unset {
                        word
                    } else {
                        value.unwrap_or_default()
                    }),
                    '+' => Ok(if unset { String::new() } else { word }),
                    '?' => match value {
                        None => Err(LexProblem::Required {
                            name,
                            message: or_default(word, "is not allowed to be unset"),
                        }),
                        Some(v) if null_is_unset && v.is_empty() => Err(LexProblem::Required {
                            name,
                            message: or_default(word, "is not allowed to be empty"),
                        }),
                        Some(v) => Ok(v),
                    },
                    _ => {
                        let (greedy, pattern) = match word.strip_prefix(modifier) {
                            Some(rest) => (true, rest.to_string()),
                            None => (false, word),
                        };
                        let pattern = Pattern::parse(&pattern)?;
                        let value = value.unwrap_or_default();
                        check_pattern_size(&value)?;
                        Ok(if modifier == '#' {
                            pattern.trim_prefix(&value, greedy)
                        } else {
                            pattern.trim_suffix(&value, greedy)
                        })
                    }
                }
            }
            '/' if !null_is_unset => {
                let all = self.peek() == Some('/');
                if all {
                    self.next();
                }
                let pattern = self
                    .stop_on(Some('/'), true)
                    .map_err(|e| self.missing(e, '/'))?;
                let replacement = self
                    .stop_on(Some('}'), true)
                    .map_err(|e| self.missing(e, '}'))?;
                let value = self.get(&name).unwrap_or_default();
                let pattern = Pattern::parse(&pattern)?;
                check_pattern_size(&value)?;
                Ok(pattern.replace(&value, &replacement, all))
            }
            _ => Err(LexProblem::UnsupportedModifier(written)),
        }
    }

    /// At the end of the word, BuildKit says which closing character is missing.
    fn missing(&self, error: LexProblem, closing: char) -> LexProblem {
        if self.peek().is_none() {
            match closing {
                '/' => LexProblem::MissingSlash,
                c => LexProblem::Missing(c),
            }
        } else {
            error
        }
    }

    /// A variable name: letters, digits and `_`; all digits (`$10`); or one special parameter.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_numeric() {
                while let Some(d) = self.peek().filter(|c| c.is_numeric()) {
                    name.push(d);
                    self.next();
                }
                return name;
            }
            if name.is_empty() && "@*#?-$!0".contains(ch) {
                self.next();
                return ch.to_string();
            }
            if !(ch.is_alphabetic() || ch.is_numeric() || ch == '_') {
                break;
            }
            name.push(ch);
            self.next();
        }
        name
    }
}

/// Pattern substitutions are worked out on values up to this many characters: the matcher
/// takes time growing with the square of the length. A longer value (never a real image name)
/// is an error, and the `FROM` is then kept as written.
const PATTERN_VALUE_CAP: usize = 4096;

fn check_pattern_size(value: &str) -> Result<(), LexProblem> {
    match value.chars().count() > PATTERN_VALUE_CAP {
        true => Err(LexProblem::PatternValueTooLong),
        false => Ok(()),
    }
}

fn or_default(word: String, default: &str) -> String {
    if word.is_empty() {
        default.to_string()
    } else {
        word
    }
}

/// A shell pattern of `${name#...}` and friends: `*`, `?`, and literal characters (`\*`,
/// `\?`, `\\`; a `\` before `}` or `/` only kept them in the word). BuildKit turns it into a
/// Go regular expression matched leftmost-first; a backtracking match in the same order of
/// preference gives the same results.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Star,
    Any,
    Char(char),
}

struct Pattern(Vec<Token>);

impl Pattern {
    fn parse(text: &str) -> Result<Pattern, LexProblem> {
        let mut tokens = Vec::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => tokens.push(Token::Star),
                '?' => tokens.push(Token::Any),
                '\\' => match chars.peek() {
                    Some('}' | '/') => {}
                    Some(&e @ ('*' | '?' | '\\')) => {
                        chars.next();
                        tokens.push(Token::Char(e));
                    }
                    other => {
                        return Err(LexProblem::InvalidEscape {
                            pattern: text.to_string(),
                            escaped: other.map(|c| c.to_string()).unwrap_or_default(),
                        });
                    }
                },
                c => tokens.push(Token::Char(c)),
            }
        }
        Ok(Pattern(tokens))
    }

    /// Where a match of the tokens starting at `s[i]` ends, the first in the order a
    /// backtracking matcher tries (stars longest first when `greedy`, shortest otherwise).
    /// Each (token, position) is worked out once, so no pattern takes exponential time.
    fn end(tokens: &[Token], s: &[char], i: usize, greedy: bool) -> Option<usize> {
        let mut memo = vec![None; (tokens.len() + 1) * (s.len() + 1)];
        Pattern::end_from(tokens, 0, s, i, greedy, &mut memo)
    }

    fn end_from(
        tokens: &[Token],
        t: usize,
        s: &[char],
        i: usize,
        greedy: bool,
        memo: &mut [Option<Option<usize>>],
    ) -> Option<usize> {
        let key = t * (s.len() + 1) + i;
        if let Some(known) = memo[key] {
            return known;
        }
        let found = match tokens.get(t) {
            None => Some(i),
            Some(Token::Star) => {
                let mut lengths: Box<dyn Iterator<Item = usize>> = if greedy {
                    Box::new((i..=s.len()).rev())
                } else {
                    Box::new(i..=s.len())
                };
                lengths.find_map(|j| Pattern::end_from(tokens, t + 1, s, j, greedy, memo))
            }
            Some(Token::Any) if i < s.len() => {
                Pattern::end_from(tokens, t + 1, s, i + 1, greedy, memo)
            }
            Some(Token::Char(c)) if s.get(i) == Some(c) => {
                Pattern::end_from(tokens, t + 1, s, i + 1, greedy, memo)
            }
            Some(_) => None,
        };
        memo[key] = Some(found);
        found
    }

    fn trim_prefix(&self, value: &str, greedy: bool) -> String {
        let s: Vec<char> = value.chars().collect();
        match Pattern::end(&self.0, &s, 0, greedy) {
            Some(end) => s[end..].iter().collect(),
            None => value.to_string(),
        }
    }

    /// Reversed pattern on the reversed value: the shortest (or longest) suffix.
    fn trim_suffix(&self, value: &str, greedy: bool) -> String {
        let reversed = Pattern(self.0.iter().rev().cloned().collect());
        let s: Vec<char> = value.chars().rev().collect();
        match Pattern::end(&reversed.0, &s, 0, greedy) {
            Some(end) => s[end..].iter().rev().collect(),
            None => value.to_string(),
        }
    }

    /// The first (or every) leftmost match replaced, stars greedy.
    fn replace(&self, value: &str, replacement: &str, all: bool) -> String {
        let s: Vec<char> = value.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        let mut replaced = false;
        // Where a match from (token, position) ends does not depend on where it started.
        let mut memo = vec![None; (self.0.len() + 1) * (s.len() + 1)];
        while i <= s.len() {
            let found = if replaced && !all {
                None
            } else {
                Pattern::end_from(&self.0, 0, &s, i, true, &mut memo)
            };
            if let Some(end) = found {
                replaced = true;
                out.push_str(replacement);
                if end > i {
                    i = end;
                    continue;
                }
            }
            if let Some(&c) = s.get(i) {
                out.push(c);
            }
            i += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn lex(word: &str, vars: &[(&str, &str)]) -> Result<String, LexError> {
        let vars: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        process_word(word, '\\', &|n| vars.get(n).cloned()).map(|w| w.value)
    }

    #[test]
    fn beams_quoted_from_line() {
        let w = process_word("python:\"${py_version}\"-bookworm", '\\', &|n| {
            (n == "py_version").then(|| "3.11".to_string())
        })
        .unwrap();
        assert_eq!(w.value, "python:3.11-bookworm");
        assert_eq!(w.names, ["py_version"]);
    }

    #[test]
    fn quotes_are_removed_after_expansion_and_values_keep_theirs() {
        let v = [("Q", "\"x\""), ("A", "a b")];
        assert_eq!(lex("img:$Q", &v).unwrap(), "img:\"x\"");
        assert_eq!(lex("'$A'\"$A\"", &v).unwrap(), "$Aa b");
        assert_eq!(lex("a\\ b\\$A\\", &v).unwrap(), "a b$A");
        assert_eq!(lex("\"\\$A \\\" \\x\"", &v).unwrap(), "$A \" \\x");
    }

    #[test]
    fn the_backtick_escape() {
        let w = process_word("a`$B`\"c", '`', &|_| Some("no".into())).unwrap();
        assert_eq!(w.value, "a$B\"c");
    }

    #[test]
    fn modifiers() {
        let v = [("A", "x"), ("E", ""), ("P", "a/b/c.tar.gz")];
        assert_eq!(
            lex("${A}-${E:-d}-${E-d}-${A:+p}-${U+p}-${U:-${A}y}", &v).unwrap(),
            "x-d--p--xy"
        );
        assert_eq!(lex("${A:?}", &v).unwrap(), "x");
        assert_eq!(
            lex("${U:?must be set}", &v)
                .unwrap_err()
                .message
                .to_string(),
            "U: must be set"
        );
        assert_eq!(
            lex("${E:?}", &v).unwrap_err().message.to_string(),
            "E: is not allowed to be empty"
        );
        assert_eq!(lex("${P#*/}|${P##*/}", &v).unwrap(), "b/c.tar.gz|c.tar.gz");
        assert_eq!(lex("${P%.*}|${P%%.*}", &v).unwrap(), "a/b/c.tar|a/b/c");
        assert_eq!(
            lex("${P/\\//-}|${P//\\//-}", &v).unwrap(),
            "a-b/c.tar.gz|a-b-c.tar.gz"
        );
        assert_eq!(lex("$1$@x", &v).unwrap(), "x");
        // A pattern that backtracks exponentially without memoising ends at once.
        let long = "a".repeat(400);
        let stars = format!("${{L#{}b}}", "*a".repeat(30));
        let w = process_word(&stars, '\\', &|_| Some(long.clone())).unwrap();
        assert_eq!(w.value, long);
        assert_eq!(lex("a$", &v).unwrap(), "a$");
    }

    #[test]
    fn errors_as_buildkit_words_them() {
        let v = [];
        assert_eq!(
            lex("${", &v).unwrap_err().message.to_string(),
            "syntax error: missing '}'"
        );
        assert_eq!(
            lex("${A", &v).unwrap_err().message.to_string(),
            "syntax error: missing '}'"
        );
        assert_eq!(
            lex("${:x}", &v).unwrap_err().message.to_string(),
            "syntax error: bad substitution"
        );
        assert_eq!(
            lex("'open", &v).unwrap_err().message.to_string(),
            "unexpected end of statement while looking for matching single-quote"
        );
        assert_eq!(
            lex("\"open", &v).unwrap_err().message.to_string(),
            "unexpected end of statement while looking for matching double-quote"
        );
        assert_eq!(
            lex("${A:#x}", &v).unwrap_err().message.to_string(),
            "unsupported modifier (:#) in substitution"
        );
        assert_eq!(
            lex("${A^x}", &v).unwrap_err().to_string(),
            "failed to process \"${A^x}\": unsupported modifier (^) in substitution"
        );
    }
}
