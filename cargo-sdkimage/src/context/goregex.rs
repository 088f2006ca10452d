//! Just enough of Go's `regexp` package (RE2 syntax, `syntax.Perl` flags) to evaluate the
//! expressions moby's patternmatcher builds from `.dockerignore` patterns.
//!
//! moby copies `[`, `]` and escaped characters of a pattern into the expression verbatim, so
//! a pattern such as `[a*]` yields `^[a[^/]*]$`, which Go parses as the class `[a[^/]`
//! followed by `*` and a literal `]`. Reproducing those corner cases needs Go's parser rules
//! (not the `regex` crate's, which nests classes), hence this small engine: a parser for the
//! subset that can occur and a Thompson-NFA simulation, linear in the path length.
//! Constructs moby can produce but that are not implemented here (`\p{..}` Unicode classes,
//! `\C`, `\x{..}`) are reported as errors rather than guessed.

/// Largest Unicode scalar value.
const MAX_CHAR: u32 = 0x10_FFFF;

/// Why an expression does not compile, in Go's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RegexError {
    #[error("invalid nested repetition operator")]
    NestedRepetition,
    #[error("missing argument to repetition operator")]
    MissingRepetitionArgument,
    #[error("unsupported group flags")]
    UnsupportedGroupFlags,
    #[error("unexpected )")]
    UnexpectedParen,
    #[error("alternation is not supported")]
    Alternation,
    #[error("missing closing )")]
    MissingParen,
    #[error("trailing backslash at end of expression")]
    TrailingBackslash,
    #[error("missing closing ]")]
    MissingBracket,
    #[error("unsupported escape sequence: \\{0}")]
    UnsupportedEscape(char),
    #[error("invalid escape sequence: \\{0}")]
    InvalidEscape(char),
    #[error("invalid character class range: {0}")]
    InvalidClassRange(String),
}

#[derive(Debug, Clone)]
pub(crate) struct Regex {
    prog: Vec<Inst>,
}

#[derive(Debug, Clone)]
enum Inst {
    /// Consume one character that lies in one of the (sorted, disjoint) ranges.
    Char(Vec<(u32, u32)>),
    Assert(Assertion),
    Split(usize, usize),
    Jmp(usize),
    Match,
}

#[derive(Debug, Clone, Copy)]
enum Assertion {
    BeginText,
    EndText,
    WordBoundary,
    NotWordBoundary,
}

#[derive(Debug)]
enum Node {
    Class(Vec<(u32, u32)>),
    Assert(Assertion),
    Group(Vec<Node>),
    Repeat(Box<Node>, Repeat),
}

#[derive(Debug, Clone, Copy)]
enum Repeat {
    Star,
    Plus,
    Quest,
}

impl Regex {
    /// Compile `expr` as Go's `regexp.Compile` would; the error text mirrors Go's wording.
    pub(crate) fn new(expr: &str) -> Result<Regex, RegexError> {
        let mut parser = Parser {
            chars: expr.chars().collect(),
            pos: 0,
        };
        let seq = parser.parse_seq(0)?;
        let mut prog = Vec::new();
        for node in &seq {
            emit(node, &mut prog);
        }
        prog.push(Inst::Match);
        Ok(Regex { prog })
    }

    /// Go's `MatchString`: whether the expression matches anywhere in `text`. Every expression
    /// moby builds starts with `^`, so only matches starting at offset 0 are tried.
    pub(crate) fn is_match(&self, text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        let mut marks = vec![usize::MAX; self.prog.len()];
        let mut current = Vec::new();
        let mut next = Vec::new();
        self.add_thread(&mut current, &mut marks, 0, 0, 0, &chars);
        for pos in 0..=chars.len() {
            if current
                .iter()
                .any(|&pc| matches!(self.prog[pc], Inst::Match))
            {
                return true;
            }
            let Some(&c) = chars.get(pos) else { break };
            next.clear();
            for &pc in &current {
                if let Inst::Char(ranges) = &self.prog[pc]
                    && class_contains(ranges, c)
                {
                    self.add_thread(&mut next, &mut marks, pos + 1, pc + 1, pos + 1, &chars);
                }
            }
            std::mem::swap(&mut current, &mut next);
            if current.is_empty() {
                return false;
            }
        }
        false
    }

    fn add_thread(
        &self,
        list: &mut Vec<usize>,
        marks: &mut [usize],
        generation: usize,
        pc: usize,
        pos: usize,
        chars: &[char],
    ) {
        if marks[pc] == generation {
            return;
        }
        marks[pc] = generation;
        match &self.prog[pc] {
            Inst::Jmp(target) => self.add_thread(list, marks, generation, *target, pos, chars),
            Inst::Split(a, b) => {
                self.add_thread(list, marks, generation, *a, pos, chars);
                self.add_thread(list, marks, generation, *b, pos, chars);
            }
            Inst::Assert(assertion) => {
                if assertion_holds(*assertion, pos, chars) {
                    self.add_thread(list, marks, generation, pc + 1, pos, chars);
                }
            }
            Inst::Char(_) | Inst::Match => list.push(pc),
        }
    }
}

fn assertion_holds(assertion: Assertion, pos: usize, chars: &[char]) -> bool {
    let at_boundary = || {
        let before = pos > 0 && is_word_char(chars[pos - 1]);
        let after = chars.get(pos).is_some_and(|&c| is_word_char(c));
        before != after
    };
    match assertion {
        Assertion::BeginText => pos == 0,
        Assertion::EndText => pos == chars.len(),
        Assertion::WordBoundary => at_boundary(),
        Assertion::NotWordBoundary => !at_boundary(),
    }
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn class_contains(ranges: &[(u32, u32)], c: char) -> bool {
    let c = c as u32;
    ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi)
}

fn emit(node: &Node, prog: &mut Vec<Inst>) {
    match node {
        Node::Class(ranges) => prog.push(Inst::Char(ranges.clone())),
        Node::Assert(assertion) => prog.push(Inst::Assert(*assertion)),
        Node::Group(seq) => seq.iter().for_each(|n| emit(n, prog)),
        Node::Repeat(inner, Repeat::Star) => {
            let split = prog.len();
            prog.push(Inst::Jmp(0));
            emit(inner, prog);
            prog.push(Inst::Jmp(split));
            prog[split] = Inst::Split(split + 1, prog.len());
        }
        Node::Repeat(inner, Repeat::Plus) => {
            let start = prog.len();
            emit(inner, prog);
            prog.push(Inst::Split(start, prog.len() + 1));
        }
        Node::Repeat(inner, Repeat::Quest) => {
            let split = prog.len();
            prog.push(Inst::Jmp(0));
            emit(inner, prog);
            prog[split] = Inst::Split(split + 1, prog.len());
        }
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    fn parse_seq(&mut self, depth: usize) -> Result<Vec<Node>, RegexError> {
        let mut seq = Vec::new();
        let mut after_repeat = false;
        while let Some(c) = self.peek() {
            let repeat = match c {
                '*' => Some(Repeat::Star),
                '+' => Some(Repeat::Plus),
                '?' => Some(Repeat::Quest),
                _ => None,
            };
            if let Some(repeat) = repeat {
                self.pos += 1;
                // A `?` right after a repetition makes it non-greedy: same yes/no answer.
                if self.peek() == Some('?') {
                    self.pos += 1;
                }
                if after_repeat {
                    return Err(RegexError::NestedRepetition);
                }
                let Some(prev) = seq.pop() else {
                    return Err(RegexError::MissingRepetitionArgument);
                };
                seq.push(Node::Repeat(Box::new(prev), repeat));
                after_repeat = true;
                continue;
            }
            after_repeat = false;
            match c {
                '(' => {
                    self.pos += 1;
                    if self.peek() == Some('?') {
                        return Err(RegexError::UnsupportedGroupFlags);
                    }
                    let inner = self.parse_seq(depth + 1)?;
                    seq.push(Node::Group(inner));
                }
                ')' => {
                    if depth == 0 {
                        return Err(RegexError::UnexpectedParen);
                    }
                    self.pos += 1;
                    return Ok(seq);
                }
                '|' => return Err(RegexError::Alternation),
                '^' => {
                    self.pos += 1;
                    seq.push(Node::Assert(Assertion::BeginText));
                }
                '$' => {
                    self.pos += 1;
                    seq.push(Node::Assert(Assertion::EndText));
                }
                '.' => {
                    self.pos += 1;
                    // `.` does not match a newline without the `s` flag.
                    seq.push(Node::Class(vec![(0, 9), (11, MAX_CHAR)]));
                }
                '[' => {
                    let class = self.parse_class()?;
                    seq.push(Node::Class(class));
                }
                '\\' => self.parse_escape_outside_class(&mut seq)?,
                c => {
                    self.pos += 1;
                    seq.push(Node::Class(single(c)));
                }
            }
        }
        if depth > 0 {
            return Err(RegexError::MissingParen);
        }
        Ok(seq)
    }

    fn parse_escape_outside_class(&mut self, seq: &mut Vec<Node>) -> Result<(), RegexError> {
        let assertion = match self.peek_at(1) {
            Some('A') => Some(Assertion::BeginText),
            Some('z') => Some(Assertion::EndText),
            Some('b') => Some(Assertion::WordBoundary),
            Some('B') => Some(Assertion::NotWordBoundary),
            _ => None,
        };
        if let Some(assertion) = assertion {
            self.pos += 2;
            seq.push(Node::Assert(assertion));
            return Ok(());
        }
        match self.peek_at(1) {
            Some('Q') => {
                // \Q...\E quotes everything up to \E (or the end) literally.
                self.pos += 2;
                while let Some(c) = self.bump() {
                    if c == '\\' && self.peek() == Some('E') {
                        self.pos += 1;
                        break;
                    }
                    seq.push(Node::Class(single(c)));
                }
                return Ok(());
            }
            Some(c @ ('p' | 'P' | 'C')) => {
                return Err(RegexError::UnsupportedEscape(c));
            }
            Some(c) => {
                if let Some(class) = perl_class(c) {
                    self.pos += 2;
                    seq.push(Node::Class(class));
                    return Ok(());
                }
            }
            None => {}
        }
        let c = self.parse_escape()?;
        seq.push(Node::Class(single(c)));
        Ok(())
    }

    /// Go's `parseEscape`: the parser sits on a backslash.
    fn parse_escape(&mut self) -> Result<char, RegexError> {
        self.pos += 1;
        let Some(c) = self.bump() else {
            return Err(RegexError::TrailingBackslash);
        };
        let invalid = |c: char| Err(RegexError::InvalidEscape(c));
        match c {
            c if c.is_ascii() && !c.is_ascii_alphanumeric() => Ok(c),
            '1'..='7' if !matches!(self.peek(), Some('0'..='7')) => invalid(c),
            '0'..='7' => {
                let mut value = c as u32 - '0' as u32;
                for _ in 1..3 {
                    match self.peek() {
                        Some(d @ '0'..='7') => {
                            value = value * 8 + (d as u32 - '0' as u32);
                            self.pos += 1;
                        }
                        _ => break,
                    }
                }
                char::from_u32(value).ok_or(RegexError::InvalidEscape(c))
            }
            'x' => {
                let hi = self.bump().and_then(|d| d.to_digit(16));
                let lo = self.bump().and_then(|d| d.to_digit(16));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => Ok(char::from_u32(hi * 16 + lo).unwrap_or('\0')),
                    _ => invalid('x'),
                }
            }
            'a' => Ok('\x07'),
            'f' => Ok('\x0c'),
            'n' => Ok('\n'),
            'r' => Ok('\r'),
            't' => Ok('\t'),
            'v' => Ok('\x0b'),
            c => invalid(c),
        }
    }

    /// Go's `parseClass`: the parser sits on `[`.
    fn parse_class(&mut self) -> Result<Vec<(u32, u32)>, RegexError> {
        self.pos += 1;
        let negated = self.peek() == Some('^');
        if negated {
            self.pos += 1;
        }
        let mut ranges = Vec::new();
        let mut first = true;
        loop {
            match self.peek() {
                None => return Err(RegexError::MissingBracket),
                Some(']') if !first => {
                    self.pos += 1;
                    break;
                }
                _ => {}
            }
            first = false;

            if self.peek() == Some('[') && self.peek_at(1) == Some(':') && self.peek_at(2).is_some()
            {
                // Go looks for the closing `:]` anywhere in the rest of the expression.
                let rest = &self.chars[self.pos + 2..];
                if let Some(end) = rest.windows(2).position(|w| w == [':', ']']) {
                    let name: String = self.chars[self.pos..self.pos + 2 + end + 2]
                        .iter()
                        .collect();
                    let Some(group) = posix_class(&name) else {
                        return Err(RegexError::InvalidClassRange(name));
                    };
                    ranges.extend(group);
                    self.pos += 2 + end + 2;
                    continue;
                }
            }
            if self.peek() == Some('\\') {
                match self.peek_at(1) {
                    Some(c @ ('p' | 'P')) => {
                        return Err(RegexError::UnsupportedEscape(c));
                    }
                    Some(c) => {
                        if let Some(class) = perl_class(c) {
                            self.pos += 2;
                            ranges.extend(class);
                            continue;
                        }
                    }
                    None => {}
                }
            }

            let lo = self.class_char()?;
            let mut hi = lo;
            if self.peek() == Some('-') && self.peek_at(1).is_some_and(|c| c != ']') {
                self.pos += 1;
                hi = self.class_char()?;
                if hi < lo {
                    return Err(RegexError::InvalidClassRange(format!("{lo}-{hi}")));
                }
            }
            ranges.push((lo as u32, hi as u32));
        }
        let ranges = normalize(ranges);
        Ok(if negated { complement(&ranges) } else { ranges })
    }

    fn class_char(&mut self) -> Result<char, RegexError> {
        match self.peek() {
            None => Err(RegexError::MissingBracket),
            Some('\\') => self.parse_escape(),
            Some(c) => {
                self.pos += 1;
                Ok(c)
            }
        }
    }
}

fn single(c: char) -> Vec<(u32, u32)> {
    vec![(c as u32, c as u32)]
}

/// `\d`, `\s`, `\w` and their negations, as Go defines them (ASCII only).
fn perl_class(c: char) -> Option<Vec<(u32, u32)>> {
    let ranges: &[(u8, u8)] = match c.to_ascii_lowercase() {
        'd' => &[(b'0', b'9')],
        's' => &[(b'\t', b'\n'), (0x0c, b'\r'), (b' ', b' ')],
        'w' => &[(b'0', b'9'), (b'A', b'Z'), (b'_', b'_'), (b'a', b'z')],
        _ => return None,
    };
    let ranges: Vec<(u32, u32)> = ranges
        .iter()
        .map(|&(lo, hi)| (lo.into(), hi.into()))
        .collect();
    Some(if c.is_ascii_uppercase() {
        complement(&ranges)
    } else {
        ranges
    })
}

/// POSIX classes such as `[:alpha:]` and `[:^alpha:]`.
fn posix_class(name: &str) -> Option<Vec<(u32, u32)>> {
    let inner = name.strip_prefix("[:")?.strip_suffix(":]")?;
    let (negated, inner) = match inner.strip_prefix('^') {
        Some(rest) => (true, rest),
        None => (false, inner),
    };
    let ranges: &[(u8, u8)] = match inner {
        "alnum" => &[(b'0', b'9'), (b'A', b'Z'), (b'a', b'z')],
        "alpha" => &[(b'A', b'Z'), (b'a', b'z')],
        "ascii" => &[(0, 0x7f)],
        "blank" => &[(b'\t', b'\t'), (b' ', b' ')],
        "cntrl" => &[(0, 0x1f), (0x7f, 0x7f)],
        "digit" => &[(b'0', b'9')],
        "graph" => &[(b'!', b'~')],
        "lower" => &[(b'a', b'z')],
        "print" => &[(b' ', b'~')],
        "punct" => &[(b'!', b'/'), (b':', b'@'), (b'[', b'`'), (b'{', b'~')],
        "space" => &[(b'\t', b'\r'), (b' ', b' ')],
        "upper" => &[(b'A', b'Z')],
        "word" => &[(b'0', b'9'), (b'A', b'Z'), (b'a', b'z'), (b'_', b'_')],
        "xdigit" => &[(b'0', b'9'), (b'A', b'F'), (b'a', b'f')],
        _ => return None,
    };
    let ranges: Vec<(u32, u32)> = ranges
        .iter()
        .map(|&(lo, hi)| (lo.into(), hi.into()))
        .collect();
    Some(if negated {
        complement(&normalize(ranges))
    } else {
        ranges
    })
}

fn normalize(mut ranges: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    ranges.sort_unstable();
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match out.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// Complement of normalized ranges within `0..=MAX_CHAR`.
fn complement(ranges: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let ranges = normalize(ranges.to_vec());
    let mut out = Vec::new();
    let mut next = 0u32;
    for (lo, hi) in ranges {
        if lo > next {
            out.push((next, lo - 1));
        }
        next = hi + 1;
    }
    if next <= MAX_CHAR {
        out.push((next, MAX_CHAR));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::Regex;

    fn m(expr: &str, text: &str) -> bool {
        Regex::new(expr).unwrap().is_match(text)
    }

    #[test]
    fn basics() {
        assert!(m("^[^/]*$", "abc"));
        assert!(!m("^[^/]*$", "a/c"));
        assert!(m("^(.*/)?file[^/]*txt$", "dir/dir/file.txt"));
        assert!(m("^(.*/)?file[^/]*txt$", "file.txt"));
        assert!(!m("^(.*/)?file[^/]*txt$", "dir/afile.txt"));
        assert!(m("^a[b-d]e$", "ace"));
        assert!(!m("^a[^b-d]e$", "ace"));
        assert!(
            m("^a[^b-d]e$", "a\ne"),
            "negated classes match newline in Go"
        );
        assert!(!m("^a.e$", "a\ne"), "dot does not match newline in Go");
        assert!(m("^\\.[^/]*$", ".foo"));
        assert!(m("^a\\*b$", "a*b"));
    }

    #[test]
    fn go_class_quirks() {
        // `[a*]` becomes `^[a[^/]*]$`: the class `[a[^/]` repeated, then a literal `]`.
        assert!(m("^[a[^/]*]$", "]"));
        assert!(m("^[a[^/]*]$", "a[^/]"));
        assert!(!m("^[a[^/]*]$", "a"));
        assert!(m("^[[:alpha:]]$", "x"));
        assert!(!m("^[[:alpha:]]$", "1"));
        assert!(m("^[[:^alpha:]]$", "1"));
        assert!(m("^[\\d]x$", "7x"));
        assert!(!m("^a^b$", "a^b"), "a caret after the start is an anchor");
        assert!(m("^(.*/)?^foo$", "foo"));
    }

    #[test]
    fn errors() {
        assert!(
            Regex::new("^[Local-Only]$").is_err(),
            "l-O is an inverted range"
        );
        assert!(Regex::new("^a[").is_err());
        assert!(Regex::new("^\\pL$").is_err());
        assert!(Regex::new("^a**$").is_err());
        assert!(Regex::new("^\\q$").is_err());
    }
}
