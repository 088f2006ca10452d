//! The keys that say how an image is built by the engine: `builder`, `platforms`, `target`
//! and `[targets]`, `[secrets]`.

use std::collections::BTreeMap;
use std::path::Path;

use toml::Spanned;

use super::{Checker, SecretFrom, Variants};

/// The values `builder` takes, in the workspace and in a manifest.
pub const BUILDERS: &[&str] = &["auto", "buildkit", "classic"];

/// A `builder` value, in the workspace or a manifest: one of [`BUILDERS`].
pub fn check_builder(name: &str) -> std::result::Result<(), UnknownBuilder> {
    if BUILDERS.contains(&name) {
        Ok(())
    } else {
        Err(UnknownBuilder(name.to_string()))
    }
}

/// A `builder` value that is not one of [`BUILDERS`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("builder {} is not one of {}", crate::error::quoted(.0), BUILDERS.join(", "))]
pub struct UnknownBuilder(pub String);

impl Checker<'_> {
    /// `platforms`: each a known `os/arch` or `os/arch/variant`, parsed once here.
    /// (`depends-on` names other manifests; it is checked once all of them are read.)
    pub(super) fn platforms(
        &mut self,
        platforms: &[Spanned<String>],
    ) -> Vec<Spanned<crate::platform::Platform>> {
        let mut parsed = Vec::new();
        for p in platforms {
            match crate::platform::Platform::parse(p.get_ref()) {
                Ok(platform) => parsed.push(Spanned::new(p.span(), platform)),
                Err(e) => self.error(p.span().start, format!("platforms: {e}")),
            }
        }
        parsed
    }

    /// One build arg (`[build-args]` or a variant's, `what` names which): its name is a name
    /// (not empty, no `=`, which would make `NAME=VALUE` ambiguous), its value a template. A
    /// value whose name looks secret is never shown in the message (`masking.rs`).
    pub(super) fn build_arg(
        &mut self,
        name: &Spanned<String>,
        value: &Spanned<String>,
        what: &str,
    ) -> Option<crate::template::Template> {
        let k = name.get_ref();
        if k.is_empty() || k.contains('=') {
            self.error(
                name.span().start,
                format!(
                    "{what} name {} is not a name: it must be non-empty and hold no `=` (write `NAME = \"VALUE\"`)",
                    crate::error::quoted(k)
                ),
            );
            return None;
        }
        if !crate::masking::looks_secret(k) {
            return self.template(value, &format!("{what} `{k}`"));
        }
        match crate::template::Template::parse(value.get_ref()) {
            Ok(t) => Some(t),
            Err(e) => {
                self.error(
                    value.span().start + 1 + e.offset,
                    format!(
                        "{what} `{k}`: a `{{` or `}}` at character {} is not a valid placeholder (the value is not shown: the name looks secret); write `{{{{` or `}}}}` for a literal brace",
                        e.offset + 1
                    ),
                );
                None
            }
        }
    }

    /// `builder`: one of the builder names.
    pub(super) fn builder(&mut self, builder: Option<&Spanned<String>>) {
        if let Some(b) = builder
            && let Err(e) = check_builder(b.get_ref())
        {
            self.error(b.span().start, e.to_string());
        }
    }

    /// `[secrets]`: each names exactly one source, `env` or `file`.
    pub(super) fn secrets(&mut self, secrets: &BTreeMap<String, Spanned<SecretFrom>>) {
        for (id, from) in secrets {
            let valid_id = !id.is_empty()
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
            if !valid_id {
                self.error(
                    from.span().start,
                    format!(
                        "secret id {} may hold only letters, digits, `_`, `-` and `.`",
                        crate::error::quoted(id)
                    ),
                );
            }
            let f = from.get_ref();
            if f.env.is_some() == f.file.is_some() {
                self.error(
                    from.span().start,
                    format!("secret `{id}` needs exactly one source: {{ env = \"VAR\" }} or {{ file = \"path\" }}"),
                );
            }
        }
    }

    /// `target` and `[targets]` (per variant): stage names; a variant in `[targets]` must exist.
    pub(super) fn targets(
        &mut self,
        target: Option<Spanned<String>>,
        targets: BTreeMap<Spanned<String>, Spanned<String>>,
        variants: &Variants,
    ) -> (Option<String>, BTreeMap<String, String>) {
        let stage_ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        };
        let check = |c: &mut Self, t: &Spanned<String>| {
            if !stage_ok(t.get_ref()) {
                c.error(
                    t.span().start,
                    format!(
                        "target {} is not a stage name (letters, digits, `_`, `-`, `.`)",
                        crate::error::quoted(t.get_ref())
                    ),
                );
            }
        };
        if let Some(t) = &target {
            check(self, t);
        }
        let mut out = BTreeMap::new();
        for (variant, t) in targets {
            check(self, &t);
            if !variants.contains_key(variant.get_ref()) {
                self.error(
                    variant.span().start,
                    format!(
                        "[targets] names variant `{}`, which [variants] does not have",
                        variant.get_ref()
                    ),
                );
            }
            out.insert(variant.into_inner(), t.into_inner());
        }
        (target.map(Spanned::into_inner), out)
    }
}

/// The two files the engine reads from the context, as context-relative paths: a copy may not
/// replace them.
pub(super) fn build_files(dockerfile: Option<&Path>, context: Option<&Path>) -> Vec<String> {
    dockerfile
        .zip(context)
        .and_then(|(d, ctx)| d.strip_prefix(ctx).ok())
        .and_then(|rel| rel.to_str())
        .map(str::to_string)
        .into_iter()
        .chain([".dockerignore".to_string()])
        .collect()
}
