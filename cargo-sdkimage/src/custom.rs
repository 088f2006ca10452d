//! Custom images: the Dockerfile of an `extends` or `adapt` manifest, rendered with minijinja
//! from a default template whose named blocks (`base`, `system_packages`, `python_packages`,
//! `files`, `environment`, `commands`, `entrypoint`) a `template` file may override.
//!
//! The plan decides what each custom image stands on ([`resolve`]: a selector of ours becomes
//! a dependency, anything else is an image reference) and renders its Dockerfile once
//! ([`render_all`]); a build writes that text under the state folder and builds it with the
//! manifest's folder as context, so it is fingerprinted like any Dockerfile.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;
use toml::Spanned;

use crate::error::{Diagnostic, Error, Result};
use crate::manifest::Manifest;
use crate::manifest::custom::Custom;
use crate::plan::{BuildPlan, Image, ImageIndex};
use crate::template::Template;

/// The name a `template` file extends: `{% extends "sdkimage" %}`.
pub const TEMPLATE_NAME: &str = "sdkimage";

/// The default template. Every block renders nothing when its keys are empty.
pub const DEFAULT_TEMPLATE: &str = r#"# Rendered by cargo sdkimage from {{ manifest }}; edit the manifest, not this file.
{% block base %}
{% if adapt %}
FROM {{ adapt.sdk }} AS sdk
FROM {{ base }}
{% for path in adapt.artifacts %}
COPY --from=sdk {{ [path, path] | json }}
{% endfor %}
{% else %}
FROM {{ base }}
{% endif %}
{% endblock %}
{% block system_packages %}
{% if apt_local %}
COPY {{ (apt_local + ["/tmp/sdkimage-debs/"]) | json }}
{% endif %}
{% if apt or apt_local %}
RUN {% if apt %}apt-get update && {% endif %}DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends{% for p in apt %} {{ p | sh }}{% endfor %}{% if apt_local %} /tmp/sdkimage-debs/*.deb{% endif %} && rm -rf /var/lib/apt/lists/* /tmp/sdkimage-debs
{% endif %}
{% endblock %}
{% block python_packages %}
{% if requirements %}
COPY {{ [requirements, "/tmp/sdkimage-requirements.txt"] | json }}
RUN PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --no-cache-dir -r /tmp/sdkimage-requirements.txt && rm /tmp/sdkimage-requirements.txt
{% endif %}
{% if pip %}
RUN PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --no-cache-dir{% for p in pip %} {{ p | sh }}{% endfor %}

{% endif %}
{% endblock %}
{% block files %}
{% for c in copy %}
COPY {{ [c.from, c.to] | json }}
{% endfor %}
{% endblock %}
{% block environment %}
{% for name, value in env | items %}
ENV {{ name }}={{ value | json }}
{% endfor %}
{% endblock %}
{% block commands %}
{% if workdir %}
WORKDIR {{ workdir }}
{% endif %}
{% for line in run %}
RUN {{ line }}
{% endfor %}
{% if user %}
USER {{ user }}
{% endif %}
{% endblock %}
{% block entrypoint %}
{% if adapt and adapt.entrypoint %}
ENTRYPOINT {{ adapt.entrypoint | json }}
{% endif %}
{% endblock %}
"#;

/// The instructions one rendering may run (a Dockerfile takes a few thousand).
const TEMPLATE_FUEL: u64 = 5_000_000;

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

/// The SDK's side of an `adapt`: what is copied and how the container starts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AdaptSdk {
    pub sdk: String,
    pub artifacts: Vec<String>,
    pub entrypoint: Vec<String>,
}

/// The values a template sees.
#[derive(Serialize)]
struct TemplateContext<'a> {
    manifest: String,
    image: ImageValues<'a>,
    base: &'a str,
    adapt: Option<AdaptSdk>,
    apt: &'a [String],
    apt_local: &'a [String],
    pip: &'a [String],
    requirements: Option<&'a str>,
    env: &'a BTreeMap<String, String>,
    copy: Vec<CopyValue<'a>>,
    run: &'a [String],
    user: Option<&'a str>,
    workdir: Option<&'a str>,
}

impl<'a> TemplateContext<'a> {
    fn new(
        spec: &'a Custom,
        manifest: String,
        image: ImageValues<'a>,
        base: &'a str,
        adapt: Option<AdaptSdk>,
    ) -> Self {
        let c = &spec.customize;
        TemplateContext {
            manifest,
            image,
            base,
            adapt,
            apt: &c.apt,
            apt_local: &c.apt_local,
            pip: &c.pip,
            requirements: c.requirements.as_deref(),
            env: &c.env,
            copy: c
                .copy
                .iter()
                .map(|(from, to)| CopyValue { from, to })
                .collect(),
            run: &c.run,
            user: c.user.as_deref(),
            workdir: c.workdir.as_deref(),
        }
    }
}

#[derive(Serialize)]
struct ImageValues<'a> {
    name: &'a str,
    language: &'a str,
    variant: Option<&'a str>,
}

#[derive(Serialize)]
struct CopyValue<'a> {
    from: &'a str,
    to: &'a str,
}

/// The environment every rendering uses: blocks on their own lines leave no blank lines,
/// an undefined name is an error (a typo in an override fails instead of rendering nothing),
/// nothing is HTML-escaped.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_syntax(
        SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .expect("default delimiters"),
    );
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // A template that loops without end stops with an error instead of hanging the tool.
    env.set_fuel(Some(TEMPLATE_FUEL));
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    // A JSON string or array: Dockerfile exec form, COPY with spaces, quoted ENV values.
    env.add_filter("json", |v: minijinja::Value| -> String { to_json(&v) });
    // One shell word.
    env.add_filter(
        "sh",
        |s: String| -> std::result::Result<String, minijinja::Error> {
            shlex::try_quote(&s).map(|q| q.into_owned()).map_err(|e| {
                minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
            })
        },
    );
    env.add_template(TEMPLATE_NAME, DEFAULT_TEMPLATE)
        .expect("the default template parses");
    env
}

/// A value as JSON, arrays with `, ` between items as Dockerfiles are usually written.
fn to_json(v: &minijinja::Value) -> String {
    use minijinja::value::ValueKind;
    match (v.kind(), v.try_iter()) {
        (ValueKind::Seq | ValueKind::Iterable, Ok(items)) => {
            let items: Vec<String> = items.map(|i| to_json(&i)).collect();
            format!("[{}]", items.join(", "))
        }
        _ => serde_json::to_string(v).unwrap_or_default(),
    }
}

/// A minijinja error in `path` (of text `text`) as a located diagnostic; an error inside the
/// default template names it.
fn diagnostic(path: &Path, text: &str, e: &minijinja::Error) -> Diagnostic {
    let what = match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    };
    if e.name() == Some(TEMPLATE_NAME) {
        return Diagnostic {
            path: path.to_path_buf(),
            line: 1,
            col: 1,
            message: format!(
                "rendering the default template (line {} of `{TEMPLATE_NAME}`): {what}",
                e.line().unwrap_or(0)
            ),
        };
    }
    match e.range() {
        Some(r) => Diagnostic::at(path, text, r.start, format!("template: {what}")),
        None => Diagnostic {
            path: path.to_path_buf(),
            line: e.line().unwrap_or(1),
            col: 1,
            message: format!("template: {what}"),
        },
    }
}

/// Parse a `template` file (at `path`): its syntax errors, located in it.
pub fn check_syntax(path: &Path, text: &str) -> std::result::Result<(), Diagnostic> {
    let mut env = environment();
    let name = path.display().to_string();
    env.add_template_owned(name, text.to_string())
        .map_err(|e| diagnostic(path, text, &e))
}

/// Expand `extends` / `adapt` of one image with the plan's placeholders.
pub fn expand(
    c: &Custom,
    expand: &dyn Fn(&Spanned<Template>) -> std::result::Result<String, Diagnostic>,
) -> std::result::Result<CustomImage, Diagnostic> {
    let (base, sdk) = match (&c.extends, &c.adapt) {
        (Some(e), _) => (expand(e)?, None),
        (None, Some(a)) => (expand(&a.base)?, Some(expand(&a.sdk)?)),
        (None, None) => unreachable!("a custom manifest has extends or adapt"),
    };
    Ok(CustomImage {
        base,
        sdk,
        ..CustomImage::default()
    })
}

/// Which of `images` a value names: a selector (`python:3.11`, `python`, an image name) or
/// one of their refs. `Err` lists them when it names several.
fn ours(images: &[Image], text: &str) -> std::result::Result<Option<ImageIndex>, String> {
    let by_ref = (0..images.len())
        .map(ImageIndex::new)
        .find(|&i| images[i.get()].refs.iter().any(|r| r.to_string() == text));
    if by_ref.is_some() {
        return Ok(by_ref);
    }
    let found = crate::plan::resolve_dependency(images, text);
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        several => Err(several
            .iter()
            .map(|&i| images[i.get()].label())
            .collect::<Vec<_>>()
            .join(", ")),
    }
}

/// Resolve what each custom image stands on: one of ours becomes a dependency; anything else
/// must look like an image reference. Problems go to `diags`.
pub fn resolve(
    manifests: &[Manifest],
    images: &mut [Image],
    deps: &mut [BTreeSet<ImageIndex>],
    diags: &mut Vec<Diagnostic>,
) {
    for i in 0..images.len() {
        let Some(custom) = images[i].custom.clone() else {
            continue;
        };
        let m = &manifests[images[i].manifest.get()];
        let spec = m
            .custom
            .as_ref()
            .expect("a custom image has a custom manifest");
        let (base_key, base_span) = match (&spec.extends, &spec.adapt) {
            (Some(e), _) => ("extends", e.span()),
            (_, Some(a)) => ("adapt.base", a.base.span()),
            _ => continue,
        };
        let mut resolved = custom.clone();
        match ours(images, &custom.base) {
            Ok(Some(b)) if b.get() == i => diags.push(m.diag(
                base_span.clone(),
                format!("{base_key} `{}` names this image itself", custom.base),
            )),
            Ok(Some(b)) => {
                resolved.base_image = Some(b);
                deps[i].insert(b);
            }
            Ok(None) => {
                if let Err(e) = check_base_ref(&custom.base) {
                    diags.push(m.diag(base_span.clone(), format!("{base_key} `{}` is neither one of our images (a `language`, `language:variant` or image name) nor an image reference: {e}", custom.base)));
                }
            }
            Err(several) => diags.push(m.diag(
                base_span.clone(),
                format!(
                    "{base_key} `{}` names several images ({several}); name one",
                    custom.base
                ),
            )),
        }
        if let (Some(sdk), Some(a)) = (&custom.sdk, &spec.adapt) {
            match ours(images, sdk) {
                Ok(Some(s)) if s.get() != i => {
                    resolved.sdk_image = Some(s);
                    deps[i].insert(s);
                }
                Ok(_) => diags.push(m.diag(a.sdk.span(), format!("adapt.sdk `{sdk}` must name one of our SDK images (`python:3.11`): its [contract] says which artifacts to copy and which entrypoint to set. Known: {}", known(images)))),
                Err(several) => diags.push(m.diag(
                    a.sdk.span(),
                    format!("adapt.sdk `{sdk}` names several images ({several}); name one"),
                )),
            }
        }
        images[i].custom = Some(resolved);
    }
}

/// An image reference a `FROM` line can name: `repository[:tag][@digest]`.
fn check_base_ref(text: &str) -> std::result::Result<(), String> {
    let (name, digest) = text.split_once('@').unwrap_or((text, ""));
    if !digest.is_empty() {
        let (algorithm, hex) = digest.split_once(':').unwrap_or(("", ""));
        if algorithm.is_empty() || hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!("digest `{digest}` is not `algorithm:hex`"));
        }
    }
    let last = name.rsplit('/').next().unwrap_or(name);
    let (repository, tag) = match last.split_once(':') {
        Some((_, tag)) => (&name[..name.len() - tag.len() - 1], Some(tag)),
        None => (name, None),
    };
    crate::reference::check_repository(repository)?;
    if let Some(tag) = tag {
        crate::reference::check_tag(tag)?;
    }
    Ok(())
}

fn known(images: &[Image]) -> String {
    let labels: BTreeSet<String> = images.iter().map(Image::label).collect();
    labels.into_iter().collect::<Vec<_>>().join(", ")
}

/// Render the Dockerfile of every custom image of the plan (dependencies are resolved, so
/// the refs `FROM` names are known).
/// Every problem is reported at once, located in the template or manifest.
pub fn render_all(
    plan: &mut BuildPlan,
    display: &dyn Fn(&Path) -> String,
    version: Option<&str>,
) -> Result<()> {
    let mut diags = Vec::new();
    for i in plan.indexes() {
        let Some(custom) = plan.image(i).custom.clone() else {
            continue;
        };
        let m = plan.manifest_of(i);
        let spec = m.custom.as_ref().expect("custom manifest");
        let from = |ours: Option<ImageIndex>, text: &str| match ours {
            Some(d) => plan.image(d).refs[0].to_string(),
            None => text.to_string(),
        };
        let base = from(custom.base_image, &custom.base);
        let adapt = match (custom.sdk_image, &custom.sdk, &spec.adapt) {
            (Some(s), Some(text), Some(a)) => {
                match adapt_sdk(plan, s, from(Some(s), text), version) {
                    Ok(sdk) => Some(sdk),
                    Err(e) => {
                        diags.push(m.diag(a.sdk.span(), e));
                        continue;
                    }
                }
            }
            _ => None,
        };
        let img = plan.image(i);
        let values = ImageValues {
            name: &img.name,
            language: &img.language,
            variant: img.variant.as_deref(),
        };
        let ctx = TemplateContext::new(spec, display(&m.path), values, &base, adapt);
        match render(spec, &ctx) {
            Ok(text) => {
                let mut resolved = custom;
                resolved.dockerfile = text;
                plan.images[i.get()].custom = Some(resolved);
            }
            Err(d) => diags.push(d),
        }
    }
    if diags.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(diags))
    }
}

/// The SDK side of an `adapt`: the artifacts and entrypoint the SDK image's contract declares.
fn adapt_sdk(
    plan: &BuildPlan,
    sdk: ImageIndex,
    sdk_ref: String,
    version: Option<&str>,
) -> std::result::Result<AdaptSdk, String> {
    let label = plan.image(sdk).label();
    let contract = crate::contract::effective(plan, sdk, version)
        .map_err(|d| format!("adapt.sdk `{label}`: its contract cannot be expanded: {d}"))?;
    let Some(c) = contract.map(|c| c.contract) else {
        return Err(format!(
            "adapt.sdk `{label}`: its manifest declares no [contract], so nothing says what to copy; add [contract] artifacts = [...] and entrypoint = \"...\" to it"
        ));
    };
    if c.artifacts.is_empty() {
        return Err(format!(
            "adapt.sdk `{label}`: its [contract] declares no `artifacts`, so there is nothing to copy; list the SDK's folders there (e.g. artifacts = [\"/opt/apache/beam\"])"
        ));
    }
    Ok(AdaptSdk {
        sdk: sdk_ref,
        artifacts: c.artifacts,
        entrypoint: c.entrypoint.into_iter().collect(),
    })
}

/// The SDK image of ours a custom image stands on (`adapt.sdk`, else what `extends` names),
/// whose contract it inherits.
pub fn stands_on(image: &Image) -> Option<ImageIndex> {
    let c = image.custom.as_ref()?;
    c.sdk_image.or(c.base_image)
}

/// The contract of a custom image: the one it inherits (expanded for the SDK image that
/// declares it) with its own `[contract]` added: its own entrypoint wins, its artifacts,
/// tools and commands are checked too. Neither: none.
pub fn inherit(
    inherited: Option<crate::contract::EffectiveContract>,
    own: Option<crate::contract::EffectiveContract>,
) -> Option<crate::contract::EffectiveContract> {
    let (mut merged, own) = match (inherited, own) {
        (Some(i), Some(o)) => (i, o),
        (i, o) => return i.or(o),
    };
    let (to, from) = (&mut merged.contract, own.contract);
    if from.entrypoint.is_some() {
        to.entrypoint = from.entrypoint;
    }
    for a in from.artifacts {
        if !to.artifacts.contains(&a) {
            to.artifacts.push(a);
        }
    }
    for t in from.tools {
        if !to.tools.contains(&t) {
            to.tools.push(t);
        }
    }
    for c in from.commands {
        if !to.commands.contains(&c) {
            to.commands.push(c);
        }
    }
    Some(merged)
}

/// Render one Dockerfile: the `template` file when there is one, else the default.
fn render(spec: &Custom, ctx: &TemplateContext<'_>) -> std::result::Result<String, Diagnostic> {
    let mut env = environment();
    let value = minijinja::Value::from(minijinja::value::Serde(ctx));
    let (name, located) = match &spec.template {
        Some(t) => {
            let name = t.path.display().to_string();
            env.add_template_owned(name.clone(), t.text.clone())
                .map_err(|e| diagnostic(&t.path, &t.text, &e))?;
            (name, Some(t))
        }
        None => (TEMPLATE_NAME.to_string(), None),
    };
    let at = |e: &minijinja::Error| match located {
        Some(t) => diagnostic(&t.path, &t.text, e),
        None => Diagnostic {
            path: PathBuf::from(TEMPLATE_NAME),
            line: e.line().unwrap_or(1),
            col: 1,
            message: e.to_string(),
        },
    };
    let template = env.get_template(&name).map_err(|e| at(&e))?;
    let text = template.render(value).map_err(|e| at(&e))?;
    Ok(format!("{}\n", text.trim_end()))
}

/// Where an image's rendered Dockerfile is written: `<state>/dockerfiles/<image>.Dockerfile`.
pub fn rendered_path(state_dir: &Path, image: &str) -> PathBuf {
    let stem = crate::fingerprint::file_stem(image);
    state_dir
        .join("dockerfiles")
        .join(format!("{stem}.Dockerfile"))
}

/// The Dockerfile an image is built from: its rendered one, or its manifest's.
pub fn dockerfile_path(image: &Image, manifest: &Manifest, state_dir: &Path) -> PathBuf {
    match &image.custom {
        Some(_) => rendered_path(state_dir, &image.name),
        None => manifest.dockerfile.clone(),
    }
}

/// For a custom image: its rendered Dockerfile written to disk, with its path and text.
pub fn write_for(image: &Image, state_dir: &Path) -> Result<Option<(PathBuf, String)>> {
    let Some(custom) = &image.custom else {
        return Ok(None);
    };
    let path = write_rendered(state_dir, &image.name, &custom.dockerfile)?;
    Ok(Some((path, custom.dockerfile.clone())))
}

/// Write an image's rendered Dockerfile under `state_dir/dockerfiles/` (only when it changed,
/// so a no-op build only stats it) and return its path.
pub fn write_rendered(state_dir: &Path, image: &str, text: &str) -> Result<PathBuf> {
    let path = rendered_path(state_dir, image);
    let dir = path.parent().expect("under the state folder").to_path_buf();
    if std::fs::read(&path).is_ok_and(|old| old == text.as_bytes()) {
        return Ok(path);
    }
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
    let tmp = tempfile::NamedTempFile::new_in(&dir)
        .map_err(|e| Error::io(format!("cannot write in {}", dir.display()), e))?;
    std::fs::write(tmp.path(), text)
        .map_err(|e| Error::io(format!("cannot write {}", tmp.path().display()), e))?;
    tmp.persist(&path)
        .map_err(|e| Error::io(format!("cannot write {}", path.display()), e.error))?;
    Ok(path)
}

#[cfg(test)]
mod tests;
