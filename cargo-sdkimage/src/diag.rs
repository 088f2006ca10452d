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

/// A toml error as a located diagnostic.
pub(crate) fn toml_diag(file: &Path, text: &str, e: &toml::de::Error) -> Error {
    let offset = e.span().map_or(0, |s| s.start);
    let mut message = in_users_words(e.message().trim());
    // The toml crate says only "duplicate key"; its span is the key as written.
    if message == "duplicate key"
        && let Some(key) = e.span().and_then(|s| text.get(s))
    {
        let key = key.trim_matches(['"', '\'']);
        message = format!("duplicate key `{key}`; set it only once");
    }
    Error::invalid(Diagnostic::at(file, text, offset, message))
}
