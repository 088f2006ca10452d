//! `{placeholder}` strings of the manifest: `{variant}`, `{language}`, `{tag}`,
//! `{repository_root}`, `{version}`. `{{` and `}}` stand for literal braces.

use std::fmt;

/// The placeholders a manifest value may use.
pub const PLACEHOLDERS: &[&str] = &[
    "variant",
    "language",
    "tag",
    "repository_root",
    "version",
    "pull_licenses",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Placeholder(String),
}

/// A checked template: every placeholder is known and every brace is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    segments: Vec<Segment>,
}

/// Why a template is wrong, and the byte offset inside the string where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub offset: usize,
    pub message: String,
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        Self::parse_with(text, PLACEHOLDERS)
    }

    /// Parse, accepting only the placeholders in `allowed`.
    pub fn parse_with(text: &str, allowed: &[&str]) -> Result<Template, TemplateError> {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|&(_, c)| c) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|&(_, c)| c) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let rest = &text[i + 1..];
                    let Some(end) = rest.find('}') else {
                        return Err(TemplateError {
                            offset: i,
                            message: format!(
                                "unclosed placeholder in `{text}`: add `}}` (or write `{{{{` for a literal brace)"
                            ),
                        });
                    };
                    let name = &rest[..end];
                    if !allowed.contains(&name) {
                        return Err(TemplateError {
                            offset: i,
                            message: format!(
                                "unknown placeholder `{{{name}}}`; known here: {}",
                                allowed
                                    .iter()
                                    .map(|p| format!("{{{p}}}"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        });
                    }
                    if !literal.is_empty() {
                        segments.push(Segment::Literal(std::mem::take(&mut literal)));
                    }
                    segments.push(Segment::Placeholder(name.to_string()));
                    for _ in 0..name.chars().count() + 1 {
                        chars.next();
                    }
                }
                '}' => {
                    return Err(TemplateError {
                        offset: i,
                        message: format!(
                            "unmatched `}}` in `{text}` (write `}}}}` for a literal brace)"
                        ),
                    });
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        Ok(Template { segments })
    }

    /// The placeholders this template uses.
    pub fn placeholders(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Placeholder(p) => Some(p.as_str()),
            Segment::Literal(_) => None,
        })
    }

    pub fn starts_with_placeholder(&self, placeholder: &str) -> bool {
        matches!(self.segments.first(), Some(Segment::Placeholder(p)) if p == placeholder)
    }

    pub fn uses(&self, placeholder: &str) -> bool {
        self.placeholders().any(|p| p == placeholder)
    }

    /// Expand with `lookup`; a placeholder it cannot resolve is returned as the error.
    pub fn expand(&self, lookup: impl Fn(&str) -> Option<String>) -> Result<String, Unresolved> {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Literal(l) => out.push_str(l),
                Segment::Placeholder(p) => out.push_str(&lookup(p).ok_or_else(|| Unresolved {
                    placeholder: p.clone(),
                })?),
            }
        }
        Ok(out)
    }
}

/// A placeholder that has no value where a template is expanded; the caller says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{{{placeholder}}}` cannot be expanded")]
pub struct Unresolved {
    pub placeholder: String,
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for segment in &self.segments {
            match segment {
                Segment::Literal(l) => write!(f, "{}", l.replace('{', "{{").replace('}', "}}"))?,
                Segment::Placeholder(p) => write!(f, "{{{p}}}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<String> {
        match name {
            "variant" => Some("3.11".into()),
            "tag" => Some("2.61.0".into()),
            _ => None,
        }
    }

    #[test]
    fn expands_known_placeholders_and_escapes() {
        let t = Template::parse("beam_python{variant}_sdk:{tag}{{x}}").unwrap();
        assert_eq!(t.expand(lookup).unwrap(), "beam_python3.11_sdk:2.61.0{x}");
        assert!(t.uses("variant"));
        assert_eq!(t.to_string(), "beam_python{variant}_sdk:{tag}{{x}}");
    }

    #[test]
    fn unknown_placeholder_names_it_and_its_offset() {
        let e = Template::parse("a{verison}").unwrap_err();
        assert_eq!(e.offset, 1);
        assert!(e.message.contains("`{verison}`"), "{}", e.message);
        assert!(e.message.contains("{version}"));
    }

    #[test]
    fn unclosed_and_unmatched_braces() {
        assert_eq!(Template::parse("ab{tag").unwrap_err().offset, 2);
        assert!(
            Template::parse("ab{tag")
                .unwrap_err()
                .message
                .contains("unclosed")
        );
        assert_eq!(Template::parse("a}b").unwrap_err().offset, 1);
    }

    #[test]
    fn restricted_set() {
        assert!(Template::parse_with("{variant}", &["version"]).is_err());
        assert!(Template::parse_with("{version}", &["version"]).is_ok());
    }

    #[test]
    fn unresolved_placeholder_is_reported() {
        let t = Template::parse("{version}").unwrap();
        assert_eq!(t.expand(lookup).unwrap_err().placeholder, "version");
    }
}
