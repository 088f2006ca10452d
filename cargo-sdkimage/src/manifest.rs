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
use license_keys::RawLicenseSource;

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
    pub platforms: Vec<Spanned<crate::platform::Platform>>,
    /// `builder = "auto" | "buildkit" | "classic"`.
    pub builder: Option<Spanned<String>>,
    /// `target`: the Dockerfile stage to build; `[targets]` per variant wins.
    pub target: Option<String>,
    pub targets: BTreeMap<String, String>,
    /// `[secrets]`: build secrets by id, each from a file or an environment variable.
    pub secrets: BTreeMap<String, Spanned<SecretFrom>>,
    /// Variant name -> its extra build args. Empty: one image without a variant.
    pub variants: BTreeMap<String, BTreeMap<String, Spanned<Template>>>,
    pub build_args: BTreeMap<String, Spanned<Template>>,
    pub prepare: Vec<Prepare>,
    pub copies: Vec<CopySpec>,
    pub licenses: Option<Licenses>,
    /// `cache-from` / `cache-to` (see `manifest/cache_keys.rs`).
    pub cache: crate::cache::CacheConfig,
    pub labels: BTreeMap<String, String>,
    pub contract: Option<contract::Contract>,
    pub custom: Option<custom::Custom>,
    /// `reproducible = false`: our own push uploads this manifest's images as the engine wrote
    /// them (not normalised); unset: the workspace's `reproducible` (default on).
    pub reproducible: Option<bool>,
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

/// Where a `[secrets]` entry comes from: `{ env = "NPM_TOKEN" }` or `{ file = "~/.netrc" }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretFrom {
    pub env: Option<String>,
    pub file: Option<String>,
}

/// Every top-level key a manifest may have.
pub const KEYS: &[&str] = &[
    "language",
    "name",
    "dockerfile",
    "context",
    "depends-on",
    "platforms",
    "builder",
    "target",
    "targets",
    "secrets",
    "variants",
    "build-args",
    "prepare",
    "copy",
    "licenses",
    "cache-from",
    "cache-to",
    "labels",
    "contract",
    "extends",
    "adapt",
    "template",
    "customize",
    "reproducible",
];

/// The keys of one file, each deserialized to its raw type: `None` or empty when absent or of
/// the wrong type.
#[derive(Default)]
struct RawManifest {
    language: Option<Spanned<String>>,
    name: Option<Spanned<String>>,
    dockerfile: Option<Spanned<String>>,
    context: Option<Spanned<String>>,
    depends_on: Vec<Spanned<String>>,
    platforms: Vec<Spanned<String>>,
    builder: Option<Spanned<String>>,
    target: Option<Spanned<String>>,
    targets: BTreeMap<Spanned<String>, Spanned<String>>,
    secrets: BTreeMap<String, Spanned<SecretFrom>>,
    variants: BTreeMap<Spanned<String>, BTreeMap<Spanned<String>, Spanned<String>>>,
    build_args: BTreeMap<Spanned<String>, Spanned<String>>,
    prepare: Vec<RawPrepare>,
    copy: Vec<RawCopy>,
    licenses: Option<RawLicenses>,
    cache: [Vec<Spanned<String>>; 2],
    labels: BTreeMap<Spanned<String>, Spanned<String>>,
    contract: Option<Spanned<contract::RawContract>>,
    custom: custom::RawCustom,
    reproducible: Option<bool>,
    /// Keys written in the file, even with a value of the wrong type: such a key is not missing.
    present: BTreeSet<String>,
}

type Variants = BTreeMap<String, BTreeMap<String, Spanned<Template>>>;

pub use build_keys::{BUILDERS, check_builder};

/// Collects the problems of one file.
struct Checker<'a> {
    path: &'a Path,
    source: &'a str,
    /// The workspace root, which no path may leave.
    root: &'a Path,
    /// The manifest's folder, which its paths are relative to.
    dir: &'a Path,
    diags: Vec<Diagnostic>,
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

    /// Parse and check the text `source` of `path`: one checker method per group of keys. Every
    /// check runs; the problems are reported together, sorted by place (problems at the same
    /// place keep the order in which the checks below run).
    pub fn parse(path: &Path, root: &Path, source: String) -> Result<Manifest> {
        let dir = path.parent().unwrap_or(root).to_path_buf();
        let table = match toml::de::DeTable::parse(&source) {
            Ok(t) => t,
            Err(e) => return Err(crate::diag::toml_diag(path, &source, &e)),
        };
        let mut c = Checker {
            path,
            source: &source,
            root,
            dir: &dir,
            diags: Vec::new(),
        };
        let raw = c.keys(table.into_inner());
        let (dockerfile, context) = c.dockerfile_and_context(&raw);
        let language = c.language(raw.language, &raw.present);
        let name = c.name(raw.name.as_ref(), &raw.present);
        let platforms = c.platforms(&raw.platforms);
        c.builder(raw.builder.as_ref());
        c.secrets(&raw.secrets);
        let variants = c.variants(raw.variants, name.as_ref());
        let (target, targets) = c.targets(raw.target, raw.targets, &variants);
        let build_args = c.build_args(raw.build_args);
        let prepare = c.prepare(raw.prepare);
        // An artifact a prepare step makes may not exist yet; it is checked again after prepare.
        let copy_kind = if prepare.is_empty() {
            PathKind::Any
        } else {
            PathKind::Artifact
        };
        let build_files = build_keys::build_files(dockerfile.as_deref(), context.as_deref());
        let copies = c.copies(raw.copy, &variants, copy_kind, &build_files);
        let licenses = raw.licenses.map(|l| c.licenses(l));
        let cache = c.cache(&raw.cache[0], &raw.cache[1]);
        let labels = c.labels(raw.labels);
        let contract = raw.contract.and_then(|k| c.contract(k, &variants));
        let custom = c.custom(raw.custom, (raw.dockerfile, raw.context), &copies);
        c.finish()?;
        Ok(Manifest {
            path: path.to_path_buf(),
            dir,
            language,
            name: name.expect("checked above"),
            dockerfile: dockerfile.expect("checked above"),
            context: context.expect("checked above"),
            depends_on: raw.depends_on,
            platforms,
            builder: raw.builder,
            target,
            targets,
            secrets: raw.secrets,
            variants,
            build_args,
            prepare,
            copies,
            licenses,
            cache,
            labels,
            contract,
            custom,
            reproducible: raw.reproducible,
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
    pub fn copies_for<'a>(
        &'a self,
        variant: Option<&'a str>,
    ) -> impl Iterator<Item = &'a CopySpec> {
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

impl Checker<'_> {
    fn error(&mut self, offset: usize, message: impl Into<String>) {
        self.diags
            .push(Diagnostic::at(self.path, self.source, offset, message));
    }

    /// The problems found, in file order; `Ok` when there are none.
    fn finish(mut self) -> Result<()> {
        if self.diags.is_empty() {
            return Ok(());
        }
        self.diags.sort_by_key(|d| (d.line, d.col));
        Err(Error::Invalid(self.diags))
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
                let message = crate::diag::value_message(key, e.message(), self.source, e.span());
                self.error(offset, message);
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

    /// Every top-level key, deserialized; an unknown key is an error.
    fn keys(&mut self, table: toml::de::DeTable<'_>) -> RawManifest {
        let mut raw = RawManifest::default();
        for (key, value) in table {
            let key_start = key.span().start;
            let key = key.into_inner();
            raw.present.insert(key.to_string());
            match key.as_ref() {
                "language" => raw.language = self.value(&key, value),
                "name" => raw.name = self.value(&key, value),
                "dockerfile" => raw.dockerfile = self.value(&key, value),
                "context" => raw.context = self.value(&key, value),
                "depends-on" => raw.depends_on = self.value(&key, value).unwrap_or_default(),
                "platforms" => raw.platforms = self.value(&key, value).unwrap_or_default(),
                "builder" => raw.builder = self.value(&key, value),
                "target" => raw.target = self.value(&key, value),
                "targets" => raw.targets = self.value(&key, value).unwrap_or_default(),
                "secrets" => raw.secrets = self.value(&key, value).unwrap_or_default(),
                "variants" => raw.variants = self.value(&key, value).unwrap_or_default(),
                "build-args" => raw.build_args = self.value(&key, value).unwrap_or_default(),
                "prepare" => raw.prepare = self.value(&key, value).unwrap_or_default(),
                "copy" => raw.copy = self.value(&key, value).unwrap_or_default(),
                "licenses" => raw.licenses = self.value(&key, value),
                "cache-from" => raw.cache[0] = self.value(&key, value).unwrap_or_default(),
                "cache-to" => raw.cache[1] = self.value(&key, value).unwrap_or_default(),
                "labels" => raw.labels = self.value(&key, value).unwrap_or_default(),
                "contract" => raw.contract = self.value(&key, value),
                "extends" => raw.custom.extends = self.value(&key, value),
                "adapt" => raw.custom.adapt = self.value(&key, value),
                "template" => raw.custom.template = self.value(&key, value),
                "customize" => raw.custom.customize = self.value(&key, value),
                "reproducible" => raw.reproducible = self.value(&key, value),
                other => self.error(key_start, crate::diag::unknown_key(other, KEYS)),
            }
        }
        raw
    }

    /// `language`: required; lowercase letters, digits, `_`, `.` or `-`.
    fn language(
        &mut self,
        language: Option<Spanned<String>>,
        present: &BTreeSet<String>,
    ) -> String {
        let Some(l) = language else {
            if !present.contains("language") {
                self.error(
                    0,
                    "missing required key `language` (e.g. language = \"python\")",
                );
            }
            return String::new();
        };
        let ok = l
            .get_ref()
            .chars()
            .next()
            .is_some_and(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit())
            && l.get_ref()
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "_.-".contains(ch));
        if !ok {
            self.error(
                l.span().start,
                format!(
                    "language `{}` must be lowercase letters, digits, `_`, `.` or `-`",
                    l.get_ref()
                ),
            );
        }
        l.into_inner()
    }

    /// `name`: required; a template.
    fn name(
        &mut self,
        name: Option<&Spanned<String>>,
        present: &BTreeSet<String>,
    ) -> Option<Spanned<Template>> {
        let Some(n) = name else {
            if !present.contains("name") {
                self.error(
                    0,
                    "missing required key `name` (e.g. name = \"beam_python{variant}_sdk\")",
                );
            }
            return None;
        };
        self.template(n, "name").map(|t| Spanned::new(n.span(), t))
    }

    /// `dockerfile` (default `Dockerfile`) and `context` (default the manifest's folder).
    fn paths(
        &mut self,
        dockerfile: Option<&Spanned<String>>,
        context: Option<&Spanned<String>>,
        present: &BTreeSet<String>,
    ) -> (Option<PathBuf>, Option<PathBuf>) {
        let dockerfile = match dockerfile {
            Some(d) => self.check_path(d, PathKind::File, "dockerfile"),
            // Written with the wrong type: that error is enough, the default is not looked for.
            None if present.contains("dockerfile") => None,
            None => self.check_path(
                &Spanned::new(0..0, "Dockerfile".to_string()),
                PathKind::File,
                "dockerfile",
            ),
        };
        let context = match context {
            Some(d) => self.check_path(d, PathKind::Dir, "context"),
            None => Some(self.dir.to_path_buf()),
        };
        (dockerfile, context)
    }

    /// `[variants]`: names fit in a tag, build args are templates, and with several variants
    /// the image `name` must tell them apart.
    fn variants(
        &mut self,
        raw: BTreeMap<Spanned<String>, BTreeMap<Spanned<String>, Spanned<String>>>,
        name: Option<&Spanned<Template>>,
    ) -> Variants {
        let mut variants = BTreeMap::new();
        for (variant, args) in raw {
            if variant.get_ref().is_empty() || variant.get_ref().contains([':', '/', ' ']) {
                self.error(
                    variant.span().start,
                    format!(
                        "variant `{}` must be non-empty and hold no `:`, `/` or space",
                        variant.get_ref()
                    ),
                );
            }
            let what = format!("variant `{}` build arg", variant.get_ref());
            let args = self.templates(args, &what);
            variants.insert(variant.into_inner(), args);
        }
        if let Some(n) = name
            && variants.len() > 1
            && !n.get_ref().uses("variant")
        {
            self.error(n.span().start, "name must use `{variant}` when there are several variants, or every variant gets the same image name");
        }
        variants
    }

    /// `[build-args]`: each a template.
    fn build_args(
        &mut self,
        raw: BTreeMap<Spanned<String>, Spanned<String>>,
    ) -> BTreeMap<String, Spanned<Template>> {
        self.templates(raw, "build arg")
    }

    /// Build args as templates; `what` names them in errors (`<what> `<key>``).
    fn templates(
        &mut self,
        raw: BTreeMap<Spanned<String>, Spanned<String>>,
        what: &str,
    ) -> BTreeMap<String, Spanned<Template>> {
        let mut args = BTreeMap::new();
        for (k, v) in raw {
            if let Some(t) = self.build_arg(&k, &v, what) {
                args.insert(k.into_inner(), Spanned::new(v.span(), t));
            }
        }
        args
    }

    /// `[[prepare]]`: a program to run, in a folder inside the workspace.
    fn prepare(&mut self, raw: Vec<RawPrepare>) -> Vec<Prepare> {
        let mut prepare = Vec::new();
        for p in raw {
            if p.run.get_ref().is_empty() || p.run.get_ref()[0].get_ref().is_empty() {
                self.error(p.run.span().start, "[[prepare]] `run` needs a program and its arguments, e.g. run = [\"cargo\", \"build\"]");
                continue;
            }
            let cwd = match &p.cwd {
                Some(cwd) => self.check_path(cwd, PathKind::Dir, "prepare cwd"),
                None => Some(self.dir.to_path_buf()),
            };
            if let Some(cwd) = cwd {
                let run = p.run.into_inner().into_iter().map(Spanned::into_inner);
                prepare.push(Prepare {
                    run: run.collect(),
                    cwd,
                    env: p.env,
                });
            }
        }
        prepare
    }

    /// `[[copy]]`: sources of kind `kind`, destinations inside the context other than
    /// `build_files`.
    fn copies(
        &mut self,
        raw: Vec<RawCopy>,
        variants: &Variants,
        kind: PathKind,
        build_files: &[String],
    ) -> Vec<CopySpec> {
        let mut copies = Vec::new();
        for cp in raw {
            copies.extend(self.copy(cp, variants, kind, build_files));
        }
        copies
    }

    /// One `[[copy]]` entry: one copy per variant when `from` uses `{variant}`.
    fn copy(
        &mut self,
        cp: RawCopy,
        variants: &Variants,
        kind: PathKind,
        build_files: &[String],
    ) -> Vec<CopySpec> {
        let Some(sources) = self.copy_sources(&cp.from, variants) else {
            return Vec::new();
        };
        let to = normalize_inner(cp.to.get_ref());
        if to.is_none() {
            self.error(
                cp.to.span().start,
                format!("copy.to `{}` must be a relative path inside the context (no leading `/`, no `..` out of it)", cp.to.get_ref()),
            );
        }
        if let Some(to) = to.as_ref().filter(|to| build_files.contains(to)) {
            self.error(
                cp.to.span().start,
                format!("copy.to `{to}` would replace the build's own `{to}`, which the engine reads from the context; copy to another path"),
            );
            return Vec::new();
        }
        let mut copies = Vec::new();
        for (variant, from) in sources {
            let from = self.check_path(&from, kind, "copy.from");
            if let (Some(from), Some(to)) = (from, to.clone()) {
                copies.push(CopySpec { from, to, variant });
            }
        }
        copies
    }

    /// `copy.from` may name a per-variant artifact with `{variant}`: the path for each variant
    /// (`None`: every image); `None` after an error.
    fn copy_sources(
        &mut self,
        from: &Spanned<String>,
        variants: &Variants,
    ) -> Option<Vec<(Option<String>, Spanned<String>)>> {
        match Template::parse_with(from.get_ref(), &["variant"]) {
            Err(e) => {
                self.error(
                    from.span().start + 1 + e.offset,
                    format!(
                        "copy.from: {} (copy.from may use only `{{variant}}`)",
                        e.message
                    ),
                );
                None
            }
            Ok(t) if t.uses("variant") => {
                if variants.is_empty() {
                    self.error(
                        from.span().start,
                        "copy.from uses `{variant}`, but this manifest has no [variants]",
                    );
                    return None;
                }
                let expand = |v: &String| {
                    let text = t.expand(|_| Some(v.clone())).unwrap_or_default();
                    (Some(v.clone()), Spanned::new(from.span(), text))
                };
                Some(variants.keys().map(expand).collect())
            }
            Ok(_) => Some(vec![(None, from.clone())]),
        }
    }

    /// `[licenses]`: an absolute folder inside the image, and where the texts come from.
    fn licenses(&mut self, raw: RawLicenses) -> Licenses {
        let dest = raw.dest.get_ref().clone();
        let inner = normalize_inner(dest.trim_start_matches('/'));
        if !dest.starts_with('/') || inner.is_none() {
            self.error(raw.dest.span().start, format!("licenses.dest `{dest}` must be an absolute folder inside the image, e.g. /opt/apache/beam/third_party_licenses"));
        }
        let sources = raw
            .sources
            .into_iter()
            .filter_map(|s| self.license_source(s))
            .collect();
        Licenses {
            dest: format!("/{}", inner.unwrap_or_default()),
            sources,
        }
    }

    /// Resolve a manifest-relative path; it must exist and stay inside the workspace root,
    /// also after symlinks are followed.
    fn check_path(&mut self, rel: &Spanned<String>, kind: PathKind, what: &str) -> Option<PathBuf> {
        let at = rel.span().start;
        let text = rel.get_ref();
        if Path::new(text).is_absolute() {
            self.error(
                at,
                format!("{what} `{text}` must be relative to the manifest's folder"),
            );
            return None;
        }
        let joined = normalize(&self.dir.join(text));
        if !joined.starts_with(self.root) {
            self.error(
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
                self.error(
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
            self.error(at, format!("{what} `{text}` leaves the workspace root through a symlink (it resolves to {})", real.display()));
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
            self.error(at, format!("{what} `{text}` is not {expected}"));
            return None;
        }
        Some(joined)
    }
}

mod build_keys;
mod cache_keys;
pub mod contract;
pub mod custom;
mod labels;
mod license_keys;
pub use license_keys::{KINDS as LICENSE_KINDS, LicenseSource};
#[cfg(test)]
pub(crate) mod tests;
