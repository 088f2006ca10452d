//! A build cache that travels through a registry, so a cold CI runner reuses the layers an
//! earlier build pushed: `cache-from` / `cache-to` (workspace, manifest, flags) in docker's
//! syntax, `cache = "registry"` in the workspace, and what each image's build asks of the
//! engine's BuildKit.
//!
//! The engine's built-in BuildKit (Docker 20.10: BuildKit 0.8) takes cache sources through the
//! build API's `cachefrom` parameter, each a registry ref, and exports only the inline cache
//! (`BUILDKIT_INLINE_CACHE=1`: cache metadata in the image's config, pushed with the image).
//! Every other exporter (`registry`, `local`, `gha`, `s3`, `azblob`) needs a BuildKit of its
//! own (buildx); asking for one is invalid input that says so.

use std::path::Path;

use toml::Spanned;

use crate::error::Diagnostic;

/// Cache settings of one level (the workspace, a manifest, the flags), checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheConfig {
    /// `cache-from`: registry refs to import the cache of.
    pub from: Vec<String>,
    /// `cache-to = ["type=inline"]`: export the inline cache with the image.
    pub inline: bool,
    /// `cache = "registry"` (workspace only): each image's own first ref is a cache source,
    /// and the inline cache is exported.
    pub registry: bool,
}

/// What one image's build asks of the engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageCache {
    /// Registry refs whose cache the build imports, in order, without repeats.
    pub from: Vec<String>,
    /// Export the inline cache (in the image's config).
    pub inline: bool,
}

impl ImageCache {
    pub fn is_empty(&self) -> bool {
        self.from.is_empty() && !self.inline
    }

    /// `from REF, REF; export inline`, for `--dry-run`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.from.is_empty() {
            parts.push(format!("from {}", self.from.join(", ")));
        }
        if self.inline {
            parts.push("export inline".to_string());
        }
        parts.join("; ")
    }
}

/// The values `cache` takes in the workspace.
pub const MODES: &[&str] = &["registry"];

/// Why a `cache-from` or `cache-to` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheSpecError {
    #[error("`{part}` is not a key=value pair (write `type=registry,ref=REF`)")]
    NotKeyValue { part: String },
    #[error(
        "type=inline is a cache export (cache-to); to import an inline cache, name the pushed image: `type=registry,ref=REF`"
    )]
    InlineImport,
    #[error(
        "the engine's built-in BuildKit imports cache from a registry only (`type=registry,ref=REF`), not type={kind}; a {kind} cache needs a BuildKit of its own (docker buildx)"
    )]
    SourceType { kind: String },
    #[error(
        "`{attribute}` is not an attribute the engine's built-in BuildKit takes for a registry cache source; write `type=registry,ref=REF`"
    )]
    SourceAttribute { attribute: String },
    #[error("a registry cache source needs `ref=REF`")]
    NoRef,
    #[error("a cache export needs a type: `type=inline`")]
    NoType,
    #[error(
        "type=inline takes no attributes (`{attribute}`): the engine's BuildKit exports the inline cache in mode=min only"
    )]
    InlineAttribute { attribute: String },
    #[error(
        "the engine's built-in BuildKit (Docker 20.10) cannot export a {kind} cache, only `type=inline` (the cache travels inside the pushed image; import it elsewhere with cache-from = the image's ref, or use cache = \"registry\" in the workspace); a {kind} cache export needs a BuildKit of its own (docker buildx)"
    )]
    ExportType { kind: String },
    #[error("the cache ref is empty")]
    EmptyRef,
    #[error("cache ref `{reference}`: {error}")]
    Ref {
        reference: String,
        error: crate::reference::ReferenceError,
    },
}

/// `key=value` pairs of docker's cache syntax (`type=registry,ref=...`); a value without `=`
/// is a bare ref.
fn attributes(spec: &str) -> std::result::Result<Option<Vec<(&str, &str)>>, CacheSpecError> {
    if !spec.contains('=') {
        return Ok(None);
    }
    spec.split(',')
        .map(|part| {
            part.split_once('=')
                .map(|(k, v)| (k.trim(), v.trim()))
                .ok_or_else(|| CacheSpecError::NotKeyValue {
                    part: part.to_string(),
                })
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map(Some)
}

/// One `cache-from` value: `type=registry,ref=REF` or a bare `REF`. Returns the ref.
pub fn parse_from(spec: &str) -> std::result::Result<String, CacheSpecError> {
    let spec = spec.trim();
    let Some(attrs) = attributes(spec)? else {
        check_ref(spec)?;
        return Ok(spec.to_string());
    };
    let kind = attrs
        .iter()
        .find(|(k, _)| *k == "type")
        .map_or("registry", |(_, v)| *v);
    match kind {
        "registry" => {}
        "inline" => {
            return Err(CacheSpecError::InlineImport);
        }
        other => {
            return Err(CacheSpecError::SourceType {
                kind: other.to_string(),
            });
        }
    }
    let mut reference = None;
    for (k, v) in &attrs {
        match *k {
            "type" => {}
            "ref" => reference = Some(*v),
            other => {
                return Err(CacheSpecError::SourceAttribute {
                    attribute: other.to_string(),
                });
            }
        }
    }
    let reference = reference.ok_or(CacheSpecError::NoRef)?;
    check_ref(reference)?;
    Ok(reference.to_string())
}

/// One `cache-to` value: only `type=inline` can be exported by the engine's built-in BuildKit.
pub fn parse_to(spec: &str) -> std::result::Result<(), CacheSpecError> {
    let spec = spec.trim();
    let kind = match attributes(spec)? {
        None => "registry",
        Some(attrs) => {
            let kind = attrs
                .iter()
                .find(|(k, _)| *k == "type")
                .map(|(_, v)| *v)
                .ok_or(CacheSpecError::NoType)?;
            if kind == "inline"
                && let Some((k, _)) = attrs.iter().find(|(k, _)| *k != "type")
            {
                return Err(CacheSpecError::InlineAttribute {
                    attribute: k.to_string(),
                });
            }
            kind
        }
    };
    if kind == "inline" {
        return Ok(());
    }
    Err(CacheSpecError::ExportType {
        kind: kind.to_string(),
    })
}

/// A cache ref: `repository[:tag][@digest]` as the reference grammar allows.
fn check_ref(reference: &str) -> std::result::Result<(), CacheSpecError> {
    if reference.is_empty() {
        return Err(CacheSpecError::EmptyRef);
    }
    crate::reference::Reference::parse(reference)
        .map(|_| ())
        .map_err(|error| CacheSpecError::Ref {
            reference: reference.to_string(),
            error,
        })
}

/// `cache-from`, `cache-to` (and in the workspace `cache`) of one file, each problem at its
/// place in `file`.
pub fn from_file(
    from: &[Spanned<String>],
    to: &[Spanned<String>],
    mode: Option<&Spanned<String>>,
    file: &Path,
    text: &str,
    diags: &mut Vec<Diagnostic>,
) -> CacheConfig {
    let mut config = CacheConfig::default();
    for spec in from {
        match parse_from(spec.get_ref()) {
            Ok(r) => config.from.push(r),
            Err(e) => diags.push(Diagnostic::at(
                file,
                text,
                spec.span().start,
                format!("cache-from: {e}"),
            )),
        }
    }
    for spec in to {
        match parse_to(spec.get_ref()) {
            Ok(()) => config.inline = true,
            Err(e) => diags.push(Diagnostic::at(
                file,
                text,
                spec.span().start,
                format!("cache-to: {e}"),
            )),
        }
    }
    if let Some(m) = mode {
        if MODES.contains(&m.get_ref().as_str()) {
            config.registry = true;
        } else {
            diags.push(Diagnostic::at(
                file,
                text,
                m.span().start,
                format!(
                    "cache {} is not one of {} (remove the key for no shared cache)",
                    crate::error::quoted(m.get_ref()),
                    MODES.join(", ")
                ),
            ));
        }
    }
    config
}

impl CacheConfig {
    pub(crate) fn is_unset(&self) -> bool {
        *self == CacheConfig::default()
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_sources_in_docker_syntax() {
        assert_eq!(
            parse_from("type=registry,ref=localhost:5000/a/b:1").unwrap(),
            "localhost:5000/a/b:1"
        );
        assert_eq!(
            parse_from("ref=r.io/x:cache,type=registry").unwrap(),
            "r.io/x:cache"
        );
        assert_eq!(
            parse_from("localhost:5000/a/b").unwrap(),
            "localhost:5000/a/b"
        );
        assert_eq!(
            parse_from(&format!("r.io/x@sha256:{}", "a".repeat(64))).unwrap(),
            format!("r.io/x@sha256:{}", "a".repeat(64))
        );
        let local = parse_from("type=local,src=/tmp/cache")
            .unwrap_err()
            .to_string();
        assert!(
            local.contains("type=local") && local.contains("buildx"),
            "{local}"
        );
        assert!(
            parse_from("type=inline")
                .unwrap_err()
                .to_string()
                .contains("cache-to")
        );
        assert!(
            parse_from("type=registry")
                .unwrap_err()
                .to_string()
                .contains("ref=REF")
        );
        assert!(
            parse_from("type=registry,ref=x,mode=max")
                .unwrap_err()
                .to_string()
                .contains("`mode`")
        );
        assert!(
            parse_from("Upper/Case")
                .unwrap_err()
                .to_string()
                .contains("Upper/Case")
        );
        assert!(
            parse_from("r.io/x@sha256:12")
                .unwrap_err()
                .to_string()
                .contains("digest")
        );
        assert!(
            parse_from("type=registry,ref=a,junk")
                .unwrap_err()
                .to_string()
                .contains("`junk`")
        );
    }

    #[test]
    fn only_the_inline_cache_is_exported() {
        assert!(parse_to("type=inline").is_ok());
        for spec in [
            "type=registry,ref=r.io/x:cache",
            "type=local,dest=/tmp/c",
            "type=gha",
            "r.io/x:cache",
        ] {
            let e = parse_to(spec).unwrap_err().to_string();
            assert!(
                e.contains("cannot export") && e.contains("type=inline"),
                "{spec}: {e}"
            );
        }
        assert!(
            parse_to("type=inline,mode=max")
                .unwrap_err()
                .to_string()
                .contains("mode=min")
        );
        assert!(
            parse_to("mode=max")
                .unwrap_err()
                .to_string()
                .contains("needs a type")
        );
    }

    #[test]
    fn file_values_point_at_their_place() {
        let text = "cache-from = [\"type=gha\"]\ncache = \"remote\"\n";
        let from = vec![Spanned::new(14..24, "type=gha".to_string())];
        let mode = Spanned::new(34..42, "remote".to_string());
        let mut diags = Vec::new();
        let c = from_file(
            &from,
            &[],
            Some(&mode),
            Path::new("Cargo.toml"),
            text,
            &mut diags,
        );
        assert!(c.is_unset());
        let shown: Vec<String> = diags.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 2, "{shown:?}");
        assert!(shown[0].starts_with("Cargo.toml:1:15"), "{shown:?}");
        assert!(
            shown[1].starts_with("Cargo.toml:2:9") && shown[1].contains("registry"),
            "{shown:?}"
        );
    }

    #[test]
    fn manifest_values_are_checked_at_their_place() {
        let root = crate::manifest::tests::temp_tree("cache-manifest");
        let d = root.join("a");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("Dockerfile"), "FROM scratch\n").unwrap();
        let text = "language = \"a\"\nname = \"a\"\ncache-to = [\"type=registry,ref=r.io/a:c\"]\n";
        let e = crate::manifest::Manifest::parse(&d.join("sdkimage.toml"), &root, text.into())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("sdkimage.toml:3:13") && e.contains("cannot export"),
            "{e}"
        );
    }

    #[test]
    fn the_inline_export_is_a_fingerprint_input_and_absent_when_off() {
        use crate::fingerprint::{Inputs, fingerprint};
        let off = Inputs::default();
        let json = serde_json::to_string(&off).unwrap();
        assert!(!json.contains("inline_cache"), "{json}");
        let on = Inputs {
            inline_cache: true,
            ..Default::default()
        };
        assert_ne!(fingerprint(&off, "ctx"), fingerprint(&on, "ctx"));
    }
}
