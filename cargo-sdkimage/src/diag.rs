//! Diagnostics for TOML files the user wrote: a parse or deserialize error of the `toml` crate
//! as a located [`Diagnostic`], in the user's words rather than Rust's.

use std::path::Path;

use crate::error::{Diagnostic, Error};

/// serde names the Rust type it expected (`expected struct RawConfig`); say what the file
/// must hold instead.
fn in_users_words(message: &str) -> String {
    const TABLES: &[(&str, &str)] = &[
        (
            "struct RawConfig",
            "a table with the keys `repository-root`, `tags`, `licenses-dir`, `builder` and `platforms` ([workspace.metadata.sdkimage])",
        ),
        (
            "struct RawPrepare",
            "a [[prepare]] table with the keys `run`, `cwd` and `env`",
        ),
        (
            "struct RawCopy",
            "a [[copy]] table with the keys `from` and `to`",
        ),
        (
            "struct RawLicenses",
            "a [licenses] table with the keys `dest` and `sources`",
        ),
        (
            "struct RawLicenseSource",
            "a table with `kind` (and `manifest` for cargo)",
        ),
        ("struct RawOverride", "an [[override]] table"),
        ("struct RawPolicy", "a table with the key `allow`"),
        ("struct RawFile", "a table of [[override]] entries"),
        ("struct WorkspaceMetadata", "a table"),
        ("struct RootWorkspace", "a table"),
    ];
    let mut message = message.to_string();
    for (rust, words) in TABLES {
        message = message.replace(rust, words);
    }
    message
}

/// The known name nearest to `word` (a misspelled key), if one is near enough: by
/// Jaro-Winkler similarity (strsim), as clap suggests subcommands.
pub fn did_you_mean<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (strsim::jaro_winkler(word, k), k))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

/// serde's words for a value of the wrong type or an unknown key, said as the user would fix
/// them: a single value where a list belongs shows the list (`platforms = ["linux/amd64"]`),
/// and an unknown key gets the nearest known one (`did you mean `platforms`?`). `span` is the
/// value's (or the key's) place in `text`.
pub(crate) fn explain(message: &str, text: &str, span: Option<std::ops::Range<usize>>) -> String {
    if message.starts_with("invalid type:") && message.ends_with("expected a sequence") {
        let value = span
            .as_ref()
            .and_then(|s| text.get(s.clone()))
            .map(str::trim);
        let key = span.as_ref().and_then(|s| {
            let line_start = text[..s.start.min(text.len())]
                .rfind('\n')
                .map_or(0, |i| i + 1);
            let (key, _) = text[line_start..s.start.min(text.len())].split_once('=')?;
            let key = key.trim().trim_matches(['"', '\'']);
            (!key.is_empty()).then_some(key)
        });
        return match (key, value) {
            (Some(key), Some(value)) if !value.contains('\n') => {
                format!("`{key}` is a list, even of one value: write `{key} = [{value}]`")
            }
            _ => "a list is expected here (`[...]`), even of one value".to_string(),
        };
    }
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((word, expected)) = rest.split_once('`')
    {
        let known = expected.split('`').skip(1).step_by(2);
        if let Some(near) = did_you_mean(word, known) {
            return format!("{message}; did you mean `{near}`?");
        }
    }
    message.to_string()
}

/// The error of a manifest key's value, led by the key unless the explanation names it.
pub(crate) fn value_message(
    key: &str,
    message: &str,
    text: &str,
    span: Option<std::ops::Range<usize>>,
) -> String {
    let message = explain(message.trim(), text, span);
    match message.starts_with(&format!("`{key}`")) {
        true => message,
        false => format!("`{key}`: {message}"),
    }
}

/// An unknown top-level key: the nearest known one, else all of them.
pub(crate) fn unknown_key(key: &str, known: &[&str]) -> String {
    match did_you_mean(key, known.iter().copied()) {
        Some(near) => format!("unknown key `{key}`; did you mean `{near}`?"),
        None => format!("unknown key `{key}`; expected one of: {}", known.join(", ")),
    }
}

/// A toml error as a located diagnostic.
pub(crate) fn toml_diag(file: &Path, text: &str, e: &toml::de::Error) -> Error {
    let offset = e.span().map_or(0, |s| s.start);
    let mut message = explain(&in_users_words(e.message().trim()), text, e.span());
    // The toml crate says only "duplicate key"; its span is the key as written.
    if message == "duplicate key"
        && let Some(key) = e.span().and_then(|s| text.get(s))
    {
        let key = key.trim_matches(['"', '\'']);
        message = format!("duplicate key `{key}`; set it only once");
    }
    Error::invalid(Diagnostic::at(file, text, offset, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_value_where_a_list_belongs_shows_the_list() {
        let text = "a = 1\nplatforms = \"linux/amd64\"\n";
        let start = text.find('"').unwrap();
        let span = start..start + "\"linux/amd64\"".len();
        assert_eq!(
            explain(
                "invalid type: string \"linux/amd64\", expected a sequence",
                text,
                Some(span)
            ),
            "`platforms` is a list, even of one value: write `platforms = [\"linux/amd64\"]`"
        );
    }

    #[test]
    fn an_unknown_key_gets_the_nearest_known_one() {
        let m = "unknown field `platfroms`, expected one of `version`, `tags`, `platforms`";
        assert_eq!(
            explain(m, "", None),
            format!("{m}; did you mean `platforms`?")
        );
        let m = "unknown field `zzz`, expected one of `version`, `tags`, `platforms`";
        assert_eq!(explain(m, "", None), m);
        assert_eq!(
            did_you_mean("dockerfiel", ["dockerfile", "context"]),
            Some("dockerfile")
        );
    }
}
