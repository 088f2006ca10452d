//! `sdkimage.toml`: the serde types, and every check that can be made on one manifest alone.
//! All problems in a manifest are collected and reported together, each at `path:line:col`.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{DeserializeOwned, IntoDeserializer};
use toml::Spanned;

use crate::error::{Diagnostic, Error, Result};
use crate::paths::{normalize, normalize_inner};
use crate::template::Template;

pub const MANIFEST_FILE: &str = "sdkimage.toml";

/// One SDK container, as written in its `sdkimage.toml`, checked and with absolute paths.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Absolute path of the `sdkimage.toml`.
    pub path: PathBuf,
    /// Its folder.
    pub dir: PathBuf,
    /// The file's text, to locate later errors (`depends-on`, duplicates).
    pub source: String,
    pub language: String,
    pub name: Spanned<Template>,
    pub dockerfile: PathBuf,
    pub context: PathBuf,
    pub depends_on: Vec<Spanned<String>>,
    pub platforms: Vec<Spanned<String>>,
    /// Variant name -> its extra build args. Empty: one image without a variant.
    pub variants: BTreeMap<String, BTreeMap<String, Spanned<Template>>>,
    pub build_args: BTreeMap<String, Spanned<Template>>,
    pub prepare: Vec<Prepare>,
    pub copies: Vec<CopySpec>,
    pub licenses: Option<Licenses>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepare {
    pub run: Vec<String>,
    /// Absolute working folder (default: the manifest's folder).
    pub cwd: PathBuf,
    pub env: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySpec {
    /// Absolute file or folder on disk.
    pub from: PathBuf,
    /// Normalized `/`-separated path inside the context.
    pub to: String,
    /// The variant this copy is for, when `from` uses `{variant}`; else every image.
    pub variant: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Licenses {
    /// Absolute folder inside the image.
    pub dest: String,
    pub sources: Vec<LicenseSource>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LicenseSource {
    /// Rust dependencies of the crate whose `Cargo.toml` this is (absolute path).
    Cargo { manifest: PathBuf },
    /// Python distributions installed in the built image.
    Python,
    /// Debian packages installed in the built image.
    Debian,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrepare {
    run: Spanned<Vec<Spanned<String>>>,
    cwd: Option<Spanned<String>>,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCopy {
    from: Spanned<String>,
    to: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLicenses {
    dest: Spanned<String>,
    #[serde(default)]
    sources: Vec<Spanned<RawLicenseSource>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLicenseSource {
    kind: Spanned<LicenseKind>,
    manifest: Option<Spanned<String>>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum LicenseKind {
    Cargo,
    Python,
    Debian,
}

const KEYS: &[&str] = &[
    "language",
    "name",
    "dockerfile",
    "context",
    "depends-on",
    "platforms",
    "variants",
    "build-args",
    "prepare",
    "copy",
    "licenses",
];

/// Collects the problems of one file.
struct Checker<'a> {
    path: &'a Path,
    source: &'a str,
    diags: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn error(&mut self, offset: usize, message: impl Into<String>) {
        self.diags
            .push(Diagnostic::at(self.path, self.source, offset, message));
    }

    /// Deserialize one value, recording the error at its location.
    fn value<T: DeserializeOwned>(
        &mut self,
        key: &str,
        value: Spanned<toml::de::DeValue<'_>>,
    ) -> Option<T> {
        let start = value.span().start;
        match T::deserialize(value.into_deserializer()) {
            Ok(v) => Some(v),
            Err(e) => {
                let offset = e.span().map_or(start, |s| s.start);
                self.error(offset, format!("`{key}`: {}", e.message().trim()));
                None
            }
        }
    }

    fn template(&mut self, text: &Spanned<String>, what: &str) -> Option<Template> {
        match Template::parse(text.get_ref()) {
            Ok(t) => Some(t),
            Err(e) => {
                // +1 skips the opening quote of a basic string.
                self.error(
                    text.span().start + 1 + e.offset,
                    format!("{what}: {}", e.message),
                );
                None
            }
        }
    }
}

/// What a manifest path must be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PathKind {
    File,
    Dir,
    Any,
    /// Like `Any`, but it may be missing until the manifest's prepare steps have run.
    Artifact,
}

impl Manifest {
    /// Read, parse and check `path` (an absolute `sdkimage.toml`) inside workspace `root`.
    pub fn load(path: &Path, root: &Path) -> Result<Manifest> {
        let rules = crate::guarded::Rules::new(root, crate::guarded::CONFIG_CAP, "a manifest");
        let bytes = crate::guarded::read(path, rules)?;
        match String::from_utf8(bytes) {
            Ok(source) => Self::parse(path, root, source),
            Err(e) => {
                let valid = String::from_utf8_lossy(&e.as_bytes()[..e.utf8_error().valid_up_to()])
                    .into_owned();
                Err(Error::invalid(Diagnostic::at(
                    path,
                    &valid,
                    valid.len(),
                    "the file is not valid UTF-8; save it as UTF-8",
                )))
            }
        }
    }

    pub fn parse(path: &Path, root: &Path, source: String) -> Result<Manifest> {
        let dir = path.parent().unwrap_or(root).to_path_buf();
        let table = match toml::de::DeTable::parse(&source) {
            Ok(t) => t,
            Err(e) => return Err(crate::diag::toml_diag(path, &source, &e)),
        };
        let mut c = Checker {
            path,
            source: &source,
            diags: Vec::new(),
        };

        let mut language: Option<Spanned<String>> = None;
        let mut name: Option<Spanned<String>> = None;
        let mut dockerfile: Option<Spanned<String>> = None;
        let mut context: Option<Spanned<String>> = None;
        let mut depends_on: Vec<Spanned<String>> = Vec::new();
        let mut platforms: Vec<Spanned<String>> = Vec::new();
        let mut raw_variants: BTreeMap<Spanned<String>, BTreeMap<String, Spanned<String>>> =
            BTreeMap::new();
        let mut raw_args: BTreeMap<String, Spanned<String>> = BTreeMap::new();
        let mut raw_prepare: Vec<RawPrepare> = Vec::new();
        let mut raw_copy: Vec<RawCopy> = Vec::new();
        let mut raw_licenses: Option<RawLicenses> = None;
        // Keys written in the file, even with a value of the wrong type: such a key is not missing.
        let mut present = BTreeSet::new();

        for (key, value) in table.into_inner() {
            let key_start = key.span().start;
            let key = key.into_inner();
            present.insert(key.clone());
            match key.as_ref() {
                "language" => language = c.value(&key, value),
                "name" => name = c.value(&key, value),
                "dockerfile" => dockerfile = c.value(&key, value),
                "context" => context = c.value(&key, value),
                "depends-on" => depends_on = c.value(&key, value).unwrap_or_default(),
                "platforms" => platforms = c.value(&key, value).unwrap_or_default(),
                "variants" => raw_variants = c.value(&key, value).unwrap_or_default(),
                "build-args" => raw_args = c.value(&key, value).unwrap_or_default(),
                "prepare" => raw_prepare = c.value(&key, value).unwrap_or_default(),
                "copy" => raw_copy = c.value(&key, value).unwrap_or_default(),
                "licenses" => raw_licenses = c.value(&key, value),
                other => c.error(
                    key_start,
                    format!(
                        "unknown key `{other}`; expected one of: {}",
                        KEYS.join(", ")
                    ),
                ),
            }
        }

        let language = match language {
            Some(l) => {
                let ok = l
                    .get_ref()
                    .chars()
                    .next()
                    .is_some_and(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit())
                    && l.get_ref().chars().all(|ch| {
                        ch.is_ascii_lowercase() || ch.is_ascii_digit() || "_.-".contains(ch)
                    });
                if !ok {
                    c.error(
                        l.span().start,
                        format!(
                            "language `{}` must be lowercase letters, digits, `_`, `.` or `-`",
                            l.get_ref()
                        ),
                    );
                }
                l.into_inner()
            }
            None => {
                if !present.contains("language") {
                    c.error(
                        0,
                        "missing required key `language` (e.g. language = \"python\")",
                    );
                }
                String::new()
            }
        };
        let name_template = match &name {
            Some(n) => c.template(n, "name").map(|t| Spanned::new(n.span(), t)),
            None => {
                if !present.contains("name") {
                    c.error(
                        0,
                        "missing required key `name` (e.g. name = \"beam_python{variant}_sdk\")",
                    );
                }
                None
            }
        };

        let mut paths = PathChecker { root, dir: &dir };
        let dockerfile = match &dockerfile {
            Some(d) => paths.check(&mut c, d, PathKind::File, "dockerfile"),
            // Written with the wrong type: that error is enough, the default is not looked for.
            None if present.contains("dockerfile") => None,
            None => paths.check(
                &mut c,
                &Spanned::new(0..0, "Dockerfile".to_string()),
                PathKind::File,
                "dockerfile",
            ),
        };
        let context = match &context {
            Some(d) => paths.check(&mut c, d, PathKind::Dir, "context"),
            None => Some(dir.clone()),
        };

        for p in &platforms {
            let parts: Vec<&str> = p.get_ref().split('/').collect();
            let ok = (2..=3).contains(&parts.len())
                && parts.iter().all(|s| {
                    !s.is_empty() && s.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
                });
            if !ok {
                c.error(p.span().start, format!("platform `{}` must look like `os/arch` or `os/arch/variant` (e.g. linux/amd64)", p.get_ref()));
            }
        }

        let mut variants = BTreeMap::new();
        for (variant, args) in raw_variants {
            if variant.get_ref().is_empty() || variant.get_ref().contains([':', '/', ' ']) {
                c.error(
                    variant.span().start,
                    format!(
                        "variant `{}` must be non-empty and hold no `:`, `/` or space",
                        variant.get_ref()
                    ),
                );
            }
            let mut expanded = BTreeMap::new();
            for (k, v) in args {
                if let Some(t) = c.template(
                    &v,
                    &format!("variant `{}` build arg `{k}`", variant.get_ref()),
                ) {
                    expanded.insert(k, Spanned::new(v.span(), t));
                }
            }
            variants.insert(variant.into_inner(), expanded);
        }
        if let (Some(n), Some(t)) = (&name, &name_template)
            && variants.len() > 1
            && !t.get_ref().uses("variant")
        {
            c.error(n.span().start, "name must use `{variant}` when there are several variants, or every variant gets the same image name");
        }
        let mut build_args = BTreeMap::new();
        for (k, v) in raw_args {
            if let Some(t) = c.template(&v, &format!("build arg `{k}`")) {
                build_args.insert(k, Spanned::new(v.span(), t));
            }
        }

        let mut prepare = Vec::new();
        for p in raw_prepare {
            if p.run.get_ref().is_empty() || p.run.get_ref()[0].get_ref().is_empty() {
                c.error(p.run.span().start, "[[prepare]] `run` needs a program and its arguments, e.g. run = [\"cargo\", \"build\"]");
                continue;
            }
            let cwd = match &p.cwd {
                Some(cwd) => paths.check(&mut c, cwd, PathKind::Dir, "prepare cwd"),
                None => Some(dir.clone()),
            };
            if let Some(cwd) = cwd {
                prepare.push(Prepare {
                    run: p
                        .run
                        .into_inner()
                        .into_iter()
                        .map(Spanned::into_inner)
                        .collect(),
                    cwd,
                    env: p.env,
                });
            }
        }

        // An artifact a prepare step makes may not exist yet; it is checked again after prepare.
        let copy_kind = if prepare.is_empty() {
            PathKind::Any
        } else {
            PathKind::Artifact
        };
        // The daemon reads these two from the context: a copy may not replace them.
        let build_files: Vec<String> = dockerfile
            .as_ref()
            .zip(context.as_ref())
            .and_then(|(d, ctx)| d.strip_prefix(ctx).ok())
            .and_then(|rel| rel.to_str())
            .map(str::to_string)
            .into_iter()
            .chain([".dockerignore".to_string()])
            .collect();
        let mut copies = Vec::new();
        for cp in raw_copy {
            // `from` may name a per-variant artifact with `{variant}`: one copy per variant.
            let from_variants: Vec<(Option<String>, Spanned<String>)> =
                match Template::parse_with(cp.from.get_ref(), &["variant"]) {
                    Err(e) => {
                        c.error(
                            cp.from.span().start + 1 + e.offset,
                            format!(
                                "copy.from: {} (copy.from may use only `{{variant}}`)",
                                e.message
                            ),
                        );
                        continue;
                    }
                    Ok(t) if t.uses("variant") => {
                        if variants.is_empty() {
                            c.error(
                                cp.from.span().start,
                                "copy.from uses `{variant}`, but this manifest has no [variants]",
                            );
                            continue;
                        }
                        variants
                            .keys()
                            .map(|v| {
                                let text = t.expand(|_| Some(v.clone())).unwrap_or_default();
                                (Some(v.clone()), Spanned::new(cp.from.span(), text))
                            })
                            .collect()
                    }
                    Ok(_) => vec![(None, cp.from.clone())],
                };
            let to = match normalize_inner(cp.to.get_ref()) {
                Some(to) => Some(to),
                None => {
                    c.error(
                        cp.to.span().start,
                        format!("copy.to `{}` must be a relative path inside the context (no leading `/`, no `..` out of it)", cp.to.get_ref()),
                    );
                    None
                }
            };
            if let Some(to) = to.as_ref().filter(|to| build_files.contains(to)) {
                c.error(
                    cp.to.span().start,
                    format!("copy.to `{to}` would replace the build's own `{to}`, which the engine reads from the context; copy to another path"),
                );
                continue;
            }
            for (variant, from) in from_variants {
                let from = paths.check(&mut c, &from, copy_kind, "copy.from");
                if let (Some(from), Some(to)) = (from, to.clone()) {
                    copies.push(CopySpec { from, to, variant });
                }
            }
        }

        let licenses = raw_licenses.map(|raw| {
            let dest = raw.dest.get_ref().clone();
            if !dest.starts_with('/') || normalize_inner(dest.trim_start_matches('/')).is_none() {
                c.error(raw.dest.span().start, format!("licenses.dest `{dest}` must be an absolute folder inside the image, e.g. /opt/apache/beam/third_party_licenses"));
            }
            let mut sources = Vec::new();
            for s in raw.sources {
                let span = s.span();
                let s = s.into_inner();
                match (*s.kind.get_ref(), &s.manifest) {
                    (LicenseKind::Cargo, Some(m)) => {
                        if let Some(m) = paths.check(&mut c, m, PathKind::File, "licenses cargo manifest") {
                            sources.push(LicenseSource::Cargo { manifest: m });
                        }
                    }
                    (LicenseKind::Cargo, None) => c.error(span.start, "a `cargo` license source needs `manifest`, the Cargo.toml of the crate whose dependencies ship in the image"),
                    (_, Some(m)) => c.error(m.span().start, "`manifest` is only for `cargo` license sources"),
                    (LicenseKind::Python, None) => sources.push(LicenseSource::Python),
                    (LicenseKind::Debian, None) => sources.push(LicenseSource::Debian),
                }
            }
            Licenses { dest: format!("/{}", normalize_inner(dest.trim_start_matches('/')).unwrap_or_default()), sources }
        });

        if !c.diags.is_empty() {
            c.diags.sort_by_key(|d| (d.line, d.col));
            return Err(Error::Invalid(c.diags));
        }
        Ok(Manifest {
            path: path.to_path_buf(),
            dir,
            language,
            name: name_template.expect("checked above"),
            dockerfile: dockerfile.expect("checked above"),
            context: context.expect("checked above"),
            depends_on,
            platforms,
            variants,
            build_args,
            prepare,
            copies,
            licenses,
            source,
        })
    }

    /// After the prepare steps ran: every `[[copy]]` source must exist and stay inside the
    /// workspace root (also through symlinks).
    pub fn check_artifacts(&self, root: &Path) -> Result<()> {
        let mut problems = Vec::new();
        for copy in &self.copies {
            match copy.from.canonicalize() {
                Ok(real) if real.starts_with(root) => {}
                Ok(real) => problems.push(format!("copy.from {} leaves the workspace root through a symlink (it resolves to {})", copy.from.display(), real.display())),
                Err(_) => problems.push(format!("copy.from {} does not exist after the prepare steps ran; check that they produce it", copy.from.display())),
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Failed(format!(
                "{}: {}",
                self.path.display(),
                problems.join("; ")
            )))
        }
    }

    /// The `[[copy]]` entries of the image of `variant`.
    pub fn copies_for<'a>(&'a self, variant: Option<&'a str>) -> impl Iterator<Item = &'a CopySpec> {
        self.copies
            .iter()
            .filter(move |c| c.variant.is_none() || c.variant.as_deref() == variant)
    }

    /// What the build context of this manifest's image of `variant` is made of; `state_dir`
    /// (our own state and logs) is never part of it.
    pub fn context_spec(
        &self,
        variant: Option<&str>,
        workspace: &Path,
        state_dir: &Path,
    ) -> crate::context::ContextSpec {
        crate::context::ContextSpec {
            root: self.context.clone(),
            dockerfile: self.dockerfile.clone(),
            copies: self
                .copies_for(variant)
                .map(|c| crate::context::ContextCopy {
                    from: c.from.clone(),
                    to: c.to.clone(),
                })
                .collect(),
            skip: vec![state_dir.to_path_buf()],
            workspace: workspace.to_path_buf(),
        }
    }

    /// A diagnostic located at `span` of this manifest.
    pub fn diag(&self, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        Diagnostic::at(&self.path, &self.source, span.start, message)
    }
}

struct PathChecker<'a> {
    root: &'a Path,
    dir: &'a Path,
}

impl PathChecker<'_> {
    /// Resolve a manifest-relative path; it must exist and stay inside the workspace root,
    /// also after symlinks are followed.
    fn check(
        &mut self,
        c: &mut Checker<'_>,
        rel: &Spanned<String>,
        kind: PathKind,
        what: &str,
    ) -> Option<PathBuf> {
        let at = rel.span().start;
        let text = rel.get_ref();
        if Path::new(text).is_absolute() {
            c.error(
                at,
                format!("{what} `{text}` must be relative to the manifest's folder"),
            );
            return None;
        }
        let joined = normalize(&self.dir.join(text));
        if !joined.starts_with(self.root) {
            c.error(
                at,
                format!("{what} `{text}` leaves the workspace root through `..`"),
            );
            return None;
        }
        let real = match joined.canonicalize() {
            Ok(real) => real,
            Err(_) if kind == PathKind::Artifact && std::fs::symlink_metadata(&joined).is_err() => {
                return Some(joined);
            }
            Err(_) => {
                c.error(
                    at,
                    format!(
                        "{what} `{text}` does not exist (looked for {})",
                        joined.display()
                    ),
                );
                return None;
            }
        };
        if !real.starts_with(self.root) {
            c.error(at, format!("{what} `{text}` leaves the workspace root through a symlink (it resolves to {})", real.display()));
            return None;
        }
        let ok = match kind {
            PathKind::File => real.is_file(),
            PathKind::Dir => real.is_dir(),
            PathKind::Any | PathKind::Artifact => true,
        };
        if !ok {
            let expected = if kind == PathKind::File {
                "a file"
            } else {
                "a folder"
            };
            c.error(at, format!("{what} `{text}` is not {expected}"));
            return None;
        }
        Some(joined)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A temporary folder (canonical path), removed when dropped.
    pub(crate) struct TempTree {
        _dir: tempfile::TempDir,
        path: PathBuf,
    }

    impl AsRef<Path> for TempTree {
        fn as_ref(&self) -> &Path {
            &self.path
        }
    }

    impl std::ops::Deref for TempTree {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.path
        }
    }

    pub(crate) fn temp_tree(name: &str) -> TempTree {
        let dir = tempfile::Builder::new()
            .prefix(&format!("sdkimage-test-{name}-"))
            .tempdir()
            .unwrap();
        let path = dir.path().canonicalize().unwrap();
        TempTree { _dir: dir, path }
    }

    fn parse(root: &Path, text: &str) -> Result<Manifest> {
        Manifest::parse(&root.join("sdk/sdkimage.toml"), root, text.to_string())
    }

    fn errors(root: &Path, text: &str) -> Vec<String> {
        match parse(root, text) {
            Err(Error::Invalid(d)) => d
                .into_iter()
                .map(|d| format!("{}:{}: {}", d.line, d.col, d.message))
                .collect(),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("expected errors"),
        }
    }

    fn tree(name: &str) -> TempTree {
        let root = temp_tree(name);
        std::fs::create_dir_all(root.join("sdk/boot")).unwrap();
        std::fs::write(root.join("sdk/Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::write(root.join("sdk/boot/boot"), "x").unwrap();
        root
    }

    #[test]
    fn full_manifest_parses() {
        let root = tree("full");
        let m = parse(
            &root,
            r#"
language = "python"
name = "beam_python{variant}_sdk"
depends-on = ["base"]
platforms = ["linux/amd64"]
[variants]
"3.10" = { py_version = "3.10" }
"3.11" = { py_version = "3.11" }
[build-args]
BASE_IMAGE = "{repository_root}/beam_base:{tag}"
[[prepare]]
run = ["true"]
[[copy]]
from = "boot"
to = "target/./boot"
[licenses]
dest = "/opt/apache/beam/third_party_licenses/"
sources = [{ kind = "python" }, { kind = "debian" }]
"#,
        )
        .unwrap();
        assert_eq!(m.language, "python");
        assert_eq!(m.dockerfile, root.join("sdk/Dockerfile"));
        assert_eq!(m.context, root.join("sdk"));
        assert_eq!(m.variants.len(), 2);
        assert_eq!(
            m.copies,
            vec![CopySpec {
                from: root.join("sdk/boot"),
                to: "target/boot".into(),
                variant: None,
            }]
        );
        assert_eq!(m.prepare[0].cwd, root.join("sdk"));
        let l = m.licenses.unwrap();
        assert_eq!(l.dest, "/opt/apache/beam/third_party_licenses");
        assert_eq!(
            l.sources,
            vec![LicenseSource::Python, LicenseSource::Debian]
        );
    }

    #[test]
    fn all_errors_of_a_manifest_are_reported_with_positions() {
        let root = tree("errors");
        let errs = errors(
            &root,
            "language = \"python\"\nname = \"x{varient}\"\nfoo = 1\ncontext = \"../..\"\n[build-args]\nA = 3\n",
        );
        assert_eq!(errs.len(), 4, "{errs:#?}");
        assert!(errs[1].starts_with("3:1: unknown key `foo`"), "{errs:#?}");
        assert!(
            errs.iter()
                .any(|e| e.starts_with("4:11: context `../..` leaves the workspace root")),
            "{errs:#?}"
        );
        assert!(
            errs.iter().any(|e| e.starts_with("6:5: `build-args`")),
            "{errs:#?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.starts_with("2:10: name: unknown placeholder `{varient}`")),
            "{errs:#?}"
        );
    }

    #[test]
    fn missing_keys_and_paths() {
        let root = tree("missing");
        let errs = errors(&root, "dockerfile = \"nope/Dockerfile\"\n");
        assert!(
            errs.iter()
                .any(|e| e.contains("missing required key `language`")),
            "{errs:#?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.contains("missing required key `name`"))
        );
        assert!(
            errs.iter()
                .any(|e| e.starts_with("1:14: dockerfile `nope/Dockerfile` does not exist")),
            "{errs:#?}"
        );
    }

    #[test]
    fn a_key_of_the_wrong_type_is_not_also_missing() {
        let root = temp_tree("wrongtype");
        std::fs::create_dir_all(root.join("sdk")).unwrap();
        let errs = errors(&root, "language = 1\nname = 5\ndockerfile = 3\n");
        assert_eq!(errs.len(), 3, "{errs:#?}");
        assert!(
            errs[0].starts_with("1:12: `language`: invalid type"),
            "{errs:#?}"
        );
        assert!(
            errs[1].starts_with("2:8: `name`: invalid type"),
            "{errs:#?}"
        );
        assert!(
            errs[2].starts_with("3:14: `dockerfile`: invalid type"),
            "{errs:#?}"
        );
    }

    #[test]
    fn a_duplicate_key_is_named() {
        let root = tree("duplicate");
        let errs = errors(&root, "language = \"go\"\nname = \"x\"\n\nname = \"y\"\n");
        assert_eq!(errs, ["4:1: duplicate key `name`; set it only once"]);
        let errs = errors(
            &root,
            "language = \"go\"\nname = \"x\"\n[variants]\n\"3.10\" = {}\n'3.10' = {}\n",
        );
        assert_eq!(errs, ["5:1: duplicate key `3.10`; set it only once"]);
        let errs = errors(
            &root,
            "language = \"go\"\nname = \"x\"\n[licenses]\n[licenses]\n",
        );
        assert_eq!(errs, ["4:2: duplicate key `licenses`; set it only once"]);
    }

    #[test]
    fn nested_unknown_keys_and_wrong_types() {
        let root = tree("nested");
        let errs = errors(
            &root,
            "language = \"go\"\nname = \"x\"\n[[copy]]\nfrom = \"boot\"\nto = \"b\"\ninto = 1\n[licenses]\ndest = 5\n",
        );
        assert_eq!(errs.len(), 2, "{errs:#?}");
        assert!(
            errs[0].starts_with("6:1: `copy`: unknown field `into`"),
            "{errs:#?}"
        );
        assert!(
            errs[1].starts_with("8:8: `licenses`: invalid type"),
            "{errs:#?}"
        );
    }

    #[test]
    fn copy_to_and_dest_must_stay_inside() {
        let root = tree("copyto");
        let errs = errors(
            &root,
            "language = \"go\"\nname = \"x\"\n[[copy]]\nfrom = \"boot\"\nto = \"../x\"\n[licenses]\ndest = \"opt/x\"\n",
        );
        assert!(errs[0].contains("copy.to `../x`"), "{errs:#?}");
        assert!(errs[1].contains("licenses.dest `opt/x`"), "{errs:#?}");
    }

    #[test]
    fn copy_from_may_name_a_per_variant_artifact() {
        let root = tree("copyvariant");
        std::fs::write(root.join("sdk/boot-a"), "a").unwrap();
        std::fs::write(root.join("sdk/boot-b"), "b").unwrap();
        let path = root.join("sdk/sdkimage.toml");
        std::fs::write(
            &path,
            "language = \"go\"\nname = \"x{variant}\"\n[variants]\na = {}\nb = {}\n[[copy]]\nfrom = \"boot-{variant}\"\nto = \"boot\"\n[[copy]]\nfrom = \"boot\"\nto = \"shared\"\n",
        )
        .unwrap();
        let m = Manifest::load(&path, &root).unwrap();
        let copied = |variant| -> Vec<(PathBuf, String)> {
            m.copies_for(Some(variant))
                .map(|c| (c.from.clone(), c.to.clone()))
                .collect()
        };
        assert_eq!(
            copied("a"),
            [
                (root.join("sdk/boot-a"), "boot".to_string()),
                (root.join("sdk/boot"), "shared".to_string())
            ]
        );
        assert_eq!(
            copied("b")[0],
            (root.join("sdk/boot-b"), "boot".to_string())
        );

        // Only `{variant}`, only with variants, and every expansion must exist.
        let errs = errors(
            &root,
            "language = \"go\"\nname = \"x\"\n[[copy]]\nfrom = \"boot-{variant}\"\nto = \"b\"\n[[copy]]\nfrom = \"{tag}\"\nto = \"c\"\n",
        );
        assert!(
            errs[0].starts_with(
                "4:8: copy.from uses `{variant}`, but this manifest has no [variants]"
            ),
            "{errs:#?}"
        );
        assert!(errs[1].starts_with("7:9: copy.from:"), "{errs:#?}");
        let errs = errors(
            &root,
            "language = \"go\"\nname = \"x{variant}\"\n[variants]\na = {}\nc = {}\n[[copy]]\nfrom = \"boot-{variant}\"\nto = \"b\"\n",
        );
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert!(errs[0].contains("boot-c"), "{errs:#?}");
    }

    #[test]
    fn copy_to_may_not_replace_the_dockerfile_or_dockerignore() {
        let root = tree("copybuild");
        let errs = errors(
            &root,
            "language = \"go\"\nname = \"x\"\n[[copy]]\nfrom = \"boot\"\nto = \"Dockerfile\"\n[[copy]]\nfrom = \"boot\"\nto = \"./.dockerignore\"\n",
        );
        assert_eq!(errs.len(), 2, "{errs:#?}");
        assert!(
            errs[0].starts_with("5:6: copy.to `Dockerfile` would replace"),
            "{errs:#?}"
        );
        assert!(
            errs[1].starts_with("8:6: copy.to `.dockerignore` would replace"),
            "{errs:#?}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlink_escape_is_caught() {
        let root = tree("symlink");
        let outside = temp_tree("symlink-outside");
        std::os::unix::fs::symlink(&outside, root.join("sdk/out")).unwrap();
        let errs = errors(
            &root,
            "language = \"go\"\nname = \"x\"\ncontext = \"out\"\n",
        );
        assert!(
            errs[0].contains("leaves the workspace root through a symlink"),
            "{errs:#?}"
        );
    }

    #[test]
    fn several_variants_need_the_placeholder() {
        let root = tree("variants");
        let errs = errors(
            &root,
            "language = \"py\"\nname = \"x\"\n[variants]\na = {}\nb = {}\n",
        );
        assert!(errs[0].contains("must use `{variant}`"), "{errs:#?}");
    }

    #[test]
    fn license_sources_are_checked() {
        let root = tree("licsrc");
        let errs = errors(
            &root,
            "language = \"py\"\nname = \"x\"\n[licenses]\ndest = \"/l\"\nsources = [{ kind = \"cargo\" }, { kind = \"npm\" }, { kind = \"python\", manifest = \"x\" }]\n",
        );
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert!(errs[0].contains("unknown variant `npm`"), "{errs:#?}");
        let errs = errors(
            &root,
            "language = \"py\"\nname = \"x\"\n[licenses]\ndest = \"/l\"\nsources = [{ kind = \"cargo\" }, { kind = \"python\", manifest = \"x\" }]\n",
        );
        assert!(errs[0].contains("needs `manifest`"), "{errs:#?}");
        assert!(errs[1].contains("only for `cargo`"), "{errs:#?}");
    }
}
