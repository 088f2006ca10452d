//! Custom images: the Dockerfile of an `extends` or `adapt` manifest, rendered with minijinja
//! from a default template whose named blocks (`base`, `system_packages`, `python_packages`,
//! `files`, `environment`, `commands`, `entrypoint`) a `template` file may override.
//!
//! The plan decides what each custom image stands on (`plan/custom.rs`: a selector of ours
//! becomes a dependency, anything else is an image reference) and renders its Dockerfile once
//! through [`render_image`]; a build writes that text under the state folder ([`write_rendered`])
//! and builds it with the manifest's folder as context, so it is fingerprinted like any
//! Dockerfile. `custom_template.rs` holds the template environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use toml::Spanned;

use crate::error::{Diagnostic, Error, Result};
use crate::manifest::custom::Custom;
use crate::template::Template;

pub use crate::custom_template::{DEFAULT_TEMPLATE, TEMPLATE_NAME};
use crate::custom_template::{diagnostic, environment};

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

/// Expand `extends` / `adapt` of one image with the plan's placeholders: what it stands on
/// (`extends` or `adapt.base`) and, for `adapt`, the SDK.
pub fn expand(
    c: &Custom,
    expand: &dyn Fn(&Spanned<Template>) -> std::result::Result<String, Diagnostic>,
) -> std::result::Result<(String, Option<String>), Diagnostic> {
    match (&c.extends, &c.adapt) {
        (Some(e), _) => Ok((expand(e)?, None)),
        (None, Some(a)) => Ok((expand(&a.base)?, Some(expand(&a.sdk)?))),
        (None, None) => unreachable!("a custom manifest has extends or adapt"),
    }
}

/// The name, language and variant of the image being rendered.
pub struct Rendering<'a> {
    /// The manifest, as shown to the user (the rendered file's first line names it).
    pub manifest: String,
    pub name: &'a str,
    pub language: &'a str,
    pub variant: Option<&'a str>,
    /// The ref `FROM` names.
    pub base: &'a str,
    pub adapt: Option<AdaptSdk>,
}

/// Render the Dockerfile of the custom image `spec` describes.
pub fn render_image(spec: &Custom, r: Rendering<'_>) -> std::result::Result<String, Diagnostic> {
    let values = ImageValues {
        name: r.name,
        language: r.language,
        variant: r.variant,
    };
    let ctx = TemplateContext::new(spec, r.manifest, values, r.base, r.adapt);
    render(spec, &ctx)
}

/// An image reference a `FROM` line can name: `repository[:tag][@digest]`.
pub(crate) fn check_base_ref(
    text: &str,
) -> std::result::Result<(), crate::reference::ReferenceError> {
    crate::reference::Reference::parse(text).map(|_| ())
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
