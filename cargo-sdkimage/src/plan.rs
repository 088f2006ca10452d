//! Manifests + overrides -> the images to build (names, refs, build args, dependencies), the
//! graph between them, and the selection a command works on.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use toml::Spanned;

use crate::error::{Diagnostic, Error, Result};
use crate::manifest::Manifest;
use crate::platform::Platform;
use crate::reference::{self, ImageRef};
use crate::template::Template;
use crate::workspace::Workspace;

/// Overrides from the command line.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// `--repository-root`; replaces the workspace default.
    pub repository_root: Option<String>,
    /// `--tag` (repeatable); replaces the workspace default list. May use `{version}`.
    pub tags: Vec<String>,
    /// `--build-arg K=V`, for every image; wins over the manifests.
    pub build_args: Vec<(String, String)>,
    /// `--builder`: wins over the manifests and the workspace.
    pub builder: Option<String>,
    /// `--platform` (repeatable or comma-separated): wins over the manifests and the workspace.
    pub platforms: Vec<Platform>,
    /// `--pull-licenses`: the value of the `{pull_licenses}` placeholder.
    pub pull_licenses: bool,
}

/// An image of the build graph: its place in [`BuildPlan::images`] (see [`BuildPlan::image`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageIndex(usize);

impl ImageIndex {
    /// The image at `i` of [`BuildPlan::images`].
    pub const fn new(i: usize) -> ImageIndex {
        ImageIndex(i)
    }

    /// Its place in [`BuildPlan::images`].
    pub fn get(self) -> usize {
        self.0
    }
}

/// A manifest of the plan: its place in [`BuildPlan::manifests`] (see [`BuildPlan::manifest`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ManifestIndex(usize);

impl ManifestIndex {
    /// The manifest at `i` of [`BuildPlan::manifests`].
    pub const fn new(i: usize) -> ManifestIndex {
        ManifestIndex(i)
    }

    /// Its place in [`BuildPlan::manifests`].
    pub fn get(self) -> usize {
        self.0
    }
}

/// What a custom image stands on, once the plan resolved it.
#[derive(Debug, Clone, Default)]
pub struct CustomImage {
    /// `extends`, or `adapt.base`, expanded.
    pub base: String,
    /// `adapt.sdk`, expanded (adapt only).
    pub sdk: Option<String>,
    /// The image of ours `base` names, if any (a dependency).
    pub base_image: Option<ImageIndex>,
    /// The SDK image of ours `sdk` names (adapt; a dependency).
    pub sdk_image: Option<ImageIndex>,
    /// The rendered Dockerfile.
    pub dockerfile: String,
}

/// One image to build: a manifest, or one variant of it.
#[derive(Debug, Clone)]
pub struct Image {
    /// Its manifest in [`BuildPlan::manifests`].
    pub manifest: ManifestIndex,
    pub language: String,
    pub variant: Option<String>,
    /// The expanded image name, below the repository root.
    pub name: String,
    pub refs: Vec<ImageRef>,
    pub build_args: BTreeMap<String, String>,
    /// Build args whose value is a ref of another image of ours: arg -> that image.
    pub image_args: BTreeMap<String, ImageIndex>,
    /// Images that must be built first (direct dependencies), sorted.
    pub deps: Vec<ImageIndex>,
    /// `auto`, `buildkit` or `classic`: `--builder`, else the manifest's, else the workspace's.
    pub builder: String,
    /// The platforms to build, each once; empty: the engine's own.
    pub platforms: Vec<Platform>,
    /// The Dockerfile stage to build.
    pub target: Option<String>,
    /// `extends`/`adapt`: what it stands on and its rendered Dockerfile.
    pub custom: Option<CustomImage>,
}

impl Image {
    /// `language` or `language:variant`, as selectors and log prefixes write it.
    pub fn label(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}:{v}", self.language),
            None => self.language.clone(),
        }
    }

    /// The refs under which the engine holds this image locally: its refs, or, when every
    /// platform it names is foreign to the engine (`native`), the first platform's
    /// `<tag>-<platform>` tags: a foreign build never takes the plain tags.
    pub fn local_refs(&self, native: &Platform) -> Vec<ImageRef> {
        match self.platforms.first() {
            Some(first) if crate::platform::main_platform(&self.platforms, native).is_none() => {
                self.refs
                    .iter()
                    .map(|r| ImageRef {
                        repository: r.repository.clone(),
                        tag: crate::platform::local_tag(&r.tag, first, None),
                    })
                    .collect()
            }
            _ => self.refs.clone(),
        }
    }

    /// This image as its events name it.
    pub fn subject(&self) -> crate::output::Subject {
        crate::output::Subject {
            image: self.name.clone(),
            language: self.language.clone(),
            variant: self.variant.clone(),
            refs: self.refs.iter().map(ToString::to_string).collect(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct BuildPlan {
    pub manifests: Vec<Manifest>,
    pub images: Vec<Image>,
    pub repository_root: Option<String>,
    pub tags: Vec<String>,
}

impl BuildPlan {
    /// Expand every manifest into images and resolve the graph; every problem is reported at once.
    pub fn new(ws: &Workspace, manifests: Vec<Manifest>, opts: &PlanOptions) -> Result<BuildPlan> {
        check_flag_values(opts)?;
        if let Some(b) = &opts.builder
            && !crate::manifest::BUILDERS.contains(&b.as_str())
        {
            return Err(Error::Usage(format!(
                "--builder {}: expected one of {}",
                crate::error::quoted(b),
                crate::manifest::BUILDERS.join(", ")
            )));
        }
        let repository_root = match &opts.repository_root {
            // `--repository-root=`: refs without a root.
            Some(r) if r.is_empty() => None,
            Some(r) => {
                reference::check_repository_root(r)
                    .map_err(|e| Error::Usage(format!("--repository-root `{r}`: {e}")))?;
                Some(r.clone())
            }
            None => ws.config.repository_root.clone(),
        };
        let tags = resolve_tags(ws, opts)?;
        let version = ws.version.clone();
        let first_tag = tags[0].clone();

        let mut diags = Vec::new();
        let mut images = Vec::new();
        // The spans each image's name came from, for duplicate errors.
        for (mi, m) in manifests.iter().enumerate() {
            let variants: Vec<Option<&String>> = if m.variants.is_empty() {
                vec![None]
            } else {
                m.variants.keys().map(Some).collect()
            };
            for variant in variants {
                let lookup = |p: &str| -> Option<String> {
                    match p {
                        "variant" => Some(variant.cloned().unwrap_or_default()),
                        "language" => Some(m.language.clone()),
                        "tag" => Some(first_tag.clone()),
                        "repository_root" => repository_root.clone(),
                        "version" => version.clone(),
                        "pull_licenses" => Some(opts.pull_licenses.to_string()),
                        _ => None,
                    }
                };
                let name = match expand(m, &m.name, &lookup) {
                    Ok(name) => name,
                    Err(d) => {
                        diags.push(d);
                        continue;
                    }
                };
                let repository = match &repository_root {
                    Some(root) => format!("{root}/{name}"),
                    None => name.clone(),
                };
                if let Err(e) = reference::check_repository(&repository) {
                    diags.push(m.diag(m.name.span(), format!("image name `{name}`: {e}")));
                    continue;
                }
                let refs = tags
                    .iter()
                    .map(|t| ImageRef {
                        repository: repository.clone(),
                        tag: t.clone(),
                    })
                    .collect();
                let mut build_args = BTreeMap::new();
                let variant_args = variant.and_then(|v| m.variants.get(v));
                for (k, t) in m
                    .build_args
                    .iter()
                    .chain(variant_args.into_iter().flatten())
                {
                    match expand(m, t, &lookup) {
                        Ok(v) => {
                            build_args.insert(k.clone(), v);
                        }
                        Err(d) => diags.push(d),
                    }
                }
                for (k, v) in &opts.build_args {
                    build_args.insert(k.clone(), v.clone());
                }
                let builder = opts
                    .builder
                    .clone()
                    .or_else(|| m.builder.as_ref().map(|b| b.get_ref().clone()))
                    .or_else(|| ws.config.builder.clone())
                    .unwrap_or_else(|| "auto".to_string());
                let platforms = if !opts.platforms.is_empty() {
                    opts.platforms.clone()
                } else if !m.platforms.is_empty() {
                    m.platforms.iter().map(|p| p.get_ref().clone()).collect()
                } else {
                    ws.config.platforms.clone()
                };
                let target = variant
                    .and_then(|v| m.targets.get(v))
                    .or(m.target.as_ref())
                    .cloned();
                let custom = m.custom.as_ref().map(|c| {
                    crate::custom::expand(c, &|t| expand(m, t, &lookup))
                        .map(|(base, sdk)| CustomImage {
                            base,
                            sdk,
                            ..CustomImage::default()
                        })
                        .map_err(|d| diags.push(d))
                });
                images.push(Image {
                    manifest: ManifestIndex(mi),
                    language: m.language.clone(),
                    variant: variant.cloned(),
                    name,
                    refs,
                    build_args,
                    image_args: BTreeMap::new(),
                    deps: Vec::new(),
                    builder,
                    platforms: dedup(platforms),
                    target,
                    custom: custom.and_then(Result::ok),
                });
            }
        }

        // Control characters in the values build args end up with, from any source.
        for img in &images {
            let m = &manifests[img.manifest.get()];
            for (k, v) in &img.build_args {
                if let Some(c) = control_char(k).or_else(|| control_char(v)) {
                    let span = m.build_args.get(k).map_or(0..0, |t| t.span());
                    diags.push(m.diag(
                        span,
                        format!(
                            "build arg {} of {}: contains the control character {}; build args must be printable text",
                            crate::error::quoted(k),
                            img.label(),
                            crate::error::quoted(&c.to_string())
                        ),
                    ));
                }
            }
        }

        // Two manifests giving one selector (`dockerfile python:3.11` could not tell them apart),
        // or producing one image name.
        let clash = |key: &dyn Fn(&Image) -> String,
                     message: &dyn Fn(&Image, &Image, String) -> String| {
            let mut first_of: BTreeMap<String, usize> = BTreeMap::new();
            let mut found = Vec::new();
            for (i, img) in images.iter().enumerate() {
                let first = *first_of.entry(key(img)).or_insert(i);
                let other = &images[first];
                if first != i && other.manifest != img.manifest {
                    let o = &manifests[other.manifest.get()];
                    let (line, col) = crate::error::line_col(&o.source, o.name.span().start);
                    let m = &manifests[img.manifest.get()];
                    let at = format!("{}:{line}:{col}", o.path.display());
                    found.push(m.diag(m.name.span(), message(img, other, at)));
                }
            }
            found
        };
        diags.extend(clash(&|img| img.label(), &|img, other, at| {
            format!(
                "selector `{}` (image `{}`) is also given by {at} (image `{}`); give one of them another language or variant",
                img.label(),
                img.name,
                other.name
            )
        }));
        diags.extend(clash(&|img| img.name.clone(), &|img, _, at| {
            format!(
                "image name `{}` is also produced by {at}; give one of them another name",
                img.name
            )
        }));

        // depends-on, build args that name one of our images, and FROMs that do.
        let mut deps: Vec<BTreeSet<ImageIndex>> = vec![BTreeSet::new(); images.len()];
        let mut image_args: Vec<BTreeMap<String, ImageIndex>> = vec![BTreeMap::new(); images.len()];
        let mut by_ref: BTreeMap<String, ImageIndex> = BTreeMap::new();
        for (i, img) in images.iter().enumerate() {
            for r in &img.refs {
                by_ref.insert(r.to_string(), ImageIndex(i));
            }
        }
        for (i, img) in images.iter().enumerate() {
            let m = &manifests[img.manifest.get()];
            for entry in &m.depends_on {
                let targets = resolve_dependency(&images, entry.get_ref());
                if targets.is_empty() {
                    diags.push(m.diag(
                        entry.span(),
                        format!("depends-on `{}` names nothing; it must be a language, a `language:variant` or an image name. Known: {}", entry.get_ref(), known_list(&images)),
                    ));
                }
                deps[i].extend(targets);
            }
            for (k, v) in &img.build_args {
                if let Some(&target) = by_ref.get(v)
                    && target != ImageIndex(i)
                {
                    image_args[i].insert(k.clone(), target);
                    deps[i].insert(target);
                }
            }
        }
        froms::add_from_dependencies(&ws.root, &manifests, &images, &mut deps);
        Self::resolve_custom(&manifests, &mut images, &mut deps, &mut diags);
        if !diags.is_empty() {
            diags.sort_by(|a, b| (&a.path, a.line, a.col).cmp(&(&b.path, b.line, b.col)));
            diags.dedup();
            return Err(Error::Invalid(diags));
        }
        for img in &images {
            check_build_args_fit(img)?;
        }
        for (i, img) in images.iter_mut().enumerate() {
            img.deps = deps[i].iter().copied().collect();
            img.image_args = std::mem::take(&mut image_args[i]);
        }
        let mut plan = BuildPlan {
            manifests,
            images,
            repository_root,
            tags,
        };
        plan.check_cycles()?;
        plan.render_custom(&|p| ws.display_path(p), ws.version.as_deref())?;
        Ok(plan)
    }

    fn check_cycles(&self) -> Result<()> {
        // Depth-first search with colours; report the first cycle found, at its first image's
        // depends-on entry.
        #[derive(Clone, Copy, PartialEq)]
        enum Colour {
            White,
            Grey,
            Black,
        }
        fn visit(
            plan: &BuildPlan,
            i: ImageIndex,
            colour: &mut [Colour],
            stack: &mut Vec<ImageIndex>,
        ) -> Option<Vec<ImageIndex>> {
            colour[i.get()] = Colour::Grey;
            stack.push(i);
            for &d in &plan.image(i).deps {
                match colour[d.get()] {
                    Colour::Grey => {
                        let start = stack.iter().position(|&s| s == d).unwrap_or(0);
                        let mut cycle = stack[start..].to_vec();
                        cycle.push(d);
                        return Some(cycle);
                    }
                    Colour::White => {
                        if let Some(c) = visit(plan, d, colour, stack) {
                            return Some(c);
                        }
                    }
                    Colour::Black => {}
                }
            }
            stack.pop();
            colour[i.get()] = Colour::Black;
            None
        }
        let mut colour = vec![Colour::White; self.images.len()];
        for i in self.indexes() {
            if colour[i.get()] == Colour::White
                && let Some(cycle) = visit(self, i, &mut colour, &mut Vec::new())
            {
                let names: Vec<&str> = cycle.iter().map(|&c| self.image(c).name.as_str()).collect();
                let m = self.manifest_of(cycle[0]);
                let span = m.depends_on.first().map_or(m.name.span(), Spanned::span);
                return Err(Error::invalid(m.diag(
                    span,
                    format!(
                        "depends-on makes a cycle: {}; remove one of these dependencies",
                        names.join(" -> ")
                    ),
                )));
            }
        }
        Ok(())
    }

    /// The images the selectors name, with everything they depend on, in build order.
    /// No selector selects everything.
    pub fn select(&self, selectors: &[String], cwd: &Path) -> Result<Vec<ImageIndex>> {
        let mut chosen: BTreeSet<ImageIndex> = self.named(selectors, cwd)?.into_iter().collect();
        let mut stack: Vec<ImageIndex> = chosen.iter().copied().collect();
        while let Some(i) = stack.pop() {
            for &d in &self.image(i).deps {
                if chosen.insert(d) {
                    stack.push(d);
                }
            }
        }
        Ok(self.build_order(&chosen))
    }

    /// The images the selectors name themselves (no dependencies), sorted; none = all.
    pub fn named(&self, selectors: &[String], cwd: &Path) -> Result<Vec<ImageIndex>> {
        if selectors.is_empty() {
            return Ok(self.indexes().collect());
        }
        let mut chosen = BTreeSet::new();
        for selector in selectors {
            let found = self.resolve_selector(selector, cwd);
            if found.is_empty() {
                return Err(Error::Usage(format!(
                    "no image matches `{selector}`. Selectors are a language, `language:variant`, an image name or a manifest folder. Known: {}",
                    known_list(&self.images)
                )));
            }
            chosen.extend(found);
        }
        Ok(chosen.into_iter().collect())
    }

    /// Topological order of `chosen` (dependencies first), stable by manifest path and variant.
    pub fn build_order(&self, chosen: &BTreeSet<ImageIndex>) -> Vec<ImageIndex> {
        let mut done = BTreeSet::new();
        let mut order = Vec::new();
        while order.len() < chosen.len() {
            let before = order.len();
            for &i in chosen {
                if !done.contains(&i)
                    && self
                        .image(i)
                        .deps
                        .iter()
                        .all(|d| done.contains(d) || !chosen.contains(d))
                {
                    order.push(i);
                }
            }
            done.extend(order[before..].iter().copied());
            if order.len() == before {
                break; // cannot happen: cycles are rejected in new()
            }
        }
        order
    }

    fn resolve_selector(&self, selector: &str, cwd: &Path) -> Vec<ImageIndex> {
        // Names first: an image name may hold a `/`.
        let named = resolve_dependency(&self.images, selector);
        if !named.is_empty() {
            return named;
        }
        let looks_like_path =
            selector.contains('/') || selector.starts_with('.') || cwd.join(selector).is_dir();
        if looks_like_path {
            let dir: PathBuf = cwd.join(selector);
            let dir = dir.canonicalize().unwrap_or(dir);
            let dir = if dir
                .file_name()
                .is_some_and(|n| n == crate::manifest::MANIFEST_FILE)
            {
                dir.parent().map(Path::to_path_buf).unwrap_or(dir)
            } else {
                dir
            };
            // A manifest's folder, or any folder above manifests (`sdks`, `.`).
            return self
                .indexes()
                .filter(|&i| self.manifest_of(i).dir.starts_with(&dir))
                .collect();
        }
        Vec::new()
    }

    /// Image `i` of the graph.
    pub fn image(&self, i: ImageIndex) -> &Image {
        &self.images[i.0]
    }

    /// Every image of the graph, in plan order.
    pub fn indexes(&self) -> impl Iterator<Item = ImageIndex> + use<> {
        (0..self.images.len()).map(ImageIndex)
    }

    /// Manifest `m` of the plan.
    pub fn manifest(&self, m: ManifestIndex) -> &Manifest {
        &self.manifests[m.0]
    }

    pub fn manifest_of(&self, image: ImageIndex) -> &Manifest {
        self.manifest(self.image(image).manifest)
    }
}

/// A language, `language:variant` or image name -> the images it means.
pub(crate) fn resolve_dependency(images: &[Image], text: &str) -> Vec<ImageIndex> {
    let matches = |img: &Image| match text.split_once(':') {
        Some((lang, variant)) => img.language == lang && img.variant.as_deref() == Some(variant),
        None => img.language == text || img.name == text,
    };
    (0..images.len())
        .filter(|&i| matches(&images[i]))
        .map(ImageIndex)
        .collect()
}

fn known_list(images: &[Image]) -> String {
    let mut known = BTreeSet::new();
    for img in images {
        known.insert(img.language.clone());
        known.insert(img.label());
        known.insert(img.name.clone());
    }
    if known.is_empty() {
        return "(no sdkimage.toml found in this workspace)".to_string();
    }
    known.into_iter().collect::<Vec<_>>().join(", ")
}

/// Expand a manifest value. With no repository root, `{repository_root}/x` becomes `x`, the
/// reference of an image with no root.
fn expand(
    m: &Manifest,
    t: &Spanned<Template>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, Diagnostic> {
    let no_root = lookup("repository_root").is_none();
    let with_root = |p: &str| {
        if p == "repository_root" && no_root {
            Some(String::new())
        } else {
            lookup(p)
        }
    };
    let expanded = t.get_ref().expand(with_root);
    let expanded = match expanded {
        Ok(v) if no_root && t.get_ref().starts_with_placeholder("repository_root") => {
            Ok(v.trim_start_matches('/').to_string())
        }
        other => other,
    };
    expanded.map_err(|missing| {
        let missing = missing.placeholder;
        let why = match missing.as_str() {
            "version" => "the workspace has no version: set [workspace.package] version or the root package's version (in Cargo.toml), or `version` in sdkimage-workspace.toml",
            _ => "it has no value here",
        };
        m.diag(t.span(), format!("`{{{missing}}}` cannot be expanded: {why}"))
    })
}

/// `--tag`s, else the workspace's `tags`, else `{version}`, else `latest`; expanded and checked.
/// `items` in order, each once.
fn dedup<T: Ord + Clone>(items: Vec<T>) -> Vec<T> {
    let mut seen = BTreeSet::new();
    items
        .into_iter()
        .filter(|i| seen.insert(i.clone()))
        .collect()
}

/// The first control character of `s` (a newline, an escape), if any.
fn control_char(s: &str) -> Option<char> {
    s.chars().find(|c| c.is_control())
}

/// Flag values that are text: no control characters, which could forge or hide lines of
/// output and never belong in a tag, a registry path or a build arg.
fn check_flag_values(opts: &PlanOptions) -> Result<()> {
    // (flag, value, the value as shown: a secret-looking build arg masked, `masking.rs`)
    let mut values: Vec<(&str, String, String)> = Vec::new();
    if let Some(root) = &opts.repository_root {
        values.push(("--repository-root", root.clone(), root.clone()));
    }
    for t in &opts.tags {
        values.push(("--tag", t.clone(), t.clone()));
    }
    for (k, v) in &opts.build_args {
        let shown = crate::masking::shown_pair(k, v);
        values.push(("--build-arg", format!("{k}={v}"), shown));
    }
    for (flag, value, shown) in values {
        if let Some(c) = control_char(&value) {
            return Err(Error::Usage(format!(
                "{flag} {}: contains the control character {}; remove it",
                crate::error::quoted(&shown),
                crate::error::quoted(&c.to_string())
            )));
        }
    }
    Ok(())
}

/// The engine's API takes build args as JSON in the URL's query string, and a URL has at most
/// 65,534 bytes (hyper's limit, both sides). The budget left for build args, once the other
/// parameters (tags, labels, platform, target) have their share.
pub const BUILD_ARGS_URL_BUDGET: usize = 60 * 1024;

/// How many bytes `s` takes in a URL query (form encoding: unreserved bytes as they are, a
/// space as `+`, any other byte as `%XX`).
pub(crate) fn url_encoded_len(s: &str) -> usize {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"*-._ ".contains(&b) {
                1
            } else {
                3
            }
        })
        .sum()
}

/// Build args that cannot travel to the engine are an error before anything runs, naming the
/// largest one.
fn check_build_args_fit(img: &Image) -> Result<()> {
    let json = serde_json::to_string(&img.build_args).expect("build args serialize");
    let total = url_encoded_len(&json);
    if total <= BUILD_ARGS_URL_BUDGET {
        return Ok(());
    }
    let (name, value) = img
        .build_args
        .iter()
        .max_by_key(|(k, v)| url_encoded_len(k) + url_encoded_len(v))
        .expect("over the budget, so not empty");
    Err(Error::Usage(format!(
        "{}: build arg {} is {} bytes ({} encoded; all build args {total}), over the engine API's limit of {} for build args in the request URL; pass a large value through a file in the build context instead",
        img.label(),
        crate::error::quoted(name),
        value.len(),
        url_encoded_len(value),
        crate::guarded::human_size(BUILD_ARGS_URL_BUDGET as u64),
    )))
}

fn resolve_tags(ws: &Workspace, opts: &PlanOptions) -> Result<Vec<String>> {
    let (templates, source): (Vec<Template>, &str) = if !opts.tags.is_empty() {
        let parsed = opts
            .tags
            .iter()
            .map(|t| {
                Template::parse_with(t, &["version"])
                    .map_err(|e| Error::Usage(format!("--tag `{t}`: {}", e.message)))
            })
            .collect::<Result<_>>()?;
        (parsed, "--tag")
    } else if let Some(tags) = &ws.config.tags {
        (tags.clone(), "the workspace's tags")
    } else if ws.version.is_some() {
        (
            vec![Template::parse("{version}").expect("valid")],
            "the workspace version",
        )
    } else {
        (
            vec![Template::parse("latest").expect("valid")],
            "the default tag",
        )
    };
    let mut tags = Vec::new();
    for t in templates {
        let tag = t
            .expand(|p| {
                if p == "version" {
                    ws.version.clone()
                } else {
                    None
                }
            })
            .map_err(|_| {
                Error::Usage(format!(
                    "{source}: `{t}` uses {{version}}, but the workspace has no version; {}",
                    ws.version_hint()
                ))
            })?;
        reference::check_tag(&tag).map_err(|e| Error::Usage(format!("{source}: {e}")))?;
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    Ok(tags)
}

mod cache;
pub mod contract;
mod custom;
mod froms;
mod labels;
mod member;
#[cfg(test)]
mod tests;
