//! The keys of a custom image, whose Dockerfile the tool renders: `extends`, `adapt`,
//! `template` and `[customize]`. The rendering itself is `crate::custom`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::{Checker, PathKind};
use crate::template::Template;

/// What a custom image stands on and adds.
#[derive(Debug, Clone)]
pub struct Custom {
    /// `extends`: a selector of one of our images (`python:3.11`) or any image reference. A
    /// value shaped like a selector of ours that matches none (`python:3.13`) is refused by the
    /// plan (`plan/custom.rs`): an external image is written with its registry.
    pub extends: Option<Spanned<Template>>,
    /// `adapt = { base, sdk }`: the SDK's artifacts copied onto another image.
    pub adapt: Option<Adapt>,
    /// `template`: a file that extends the default template and overrides blocks.
    pub template: Option<TemplateFile>,
    pub customize: Customize,
}

#[derive(Debug, Clone)]
pub struct Adapt {
    /// The image made SDK-compatible: a selector of ours or any reference.
    pub base: Spanned<Template>,
    /// The SDK image whose contract artifacts and entrypoint are copied: a selector of ours.
    pub sdk: Spanned<Template>,
}

/// A `template` file: where it is and its text (read when the manifest is loaded).
#[derive(Debug, Clone)]
pub struct TemplateFile {
    pub path: PathBuf,
    pub text: String,
}

/// `[customize]`, checked: every value is one line of printable text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Customize {
    /// Debian package names (`curl`, `curl=7.88.1-10`).
    pub apt: Vec<String>,
    /// `.deb` files or folders of them, relative to the build context (copied in, installed
    /// with no package index needed).
    pub apt_local: Vec<String>,
    /// pip requirement specifiers.
    pub pip: Vec<String>,
    /// A requirements file, relative to the build context.
    pub requirements: Option<String>,
    pub env: BTreeMap<String, String>,
    /// `COPY from to`: `from` relative to the context, `to` in the image.
    pub copy: Vec<(String, String)>,
    /// Shell lines, each one `RUN`.
    pub run: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAdapt {
    base: Spanned<String>,
    sdk: Spanned<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCustomize {
    #[serde(default)]
    apt: Vec<Spanned<String>>,
    #[serde(default)]
    pip: Vec<Spanned<String>>,
    requirements: Option<Spanned<String>>,
    #[serde(default)]
    env: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    copy: Vec<Spanned<RawCustomCopy>>,
    #[serde(default)]
    run: Vec<Spanned<String>>,
    user: Option<Spanned<String>>,
    workdir: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCustomCopy {
    from: Spanned<String>,
    to: Spanned<String>,
}

/// The raw custom keys of one file.
#[derive(Default)]
pub(super) struct RawCustom {
    pub extends: Option<Spanned<String>>,
    pub adapt: Option<Spanned<RawAdapt>>,
    pub template: Option<Spanned<String>>,
    pub customize: Option<Spanned<RawCustomize>>,
}

impl RawCustom {
    /// Whether the tool renders this manifest's Dockerfile.
    pub(super) fn is_rendered(&self) -> bool {
        self.extends.is_some() || self.adapt.is_some()
    }
}

/// A Debian package name, with an optional `:arch` and `=version`.
fn is_package_name(s: &str) -> bool {
    let (name, version) = s.split_once('=').unwrap_or((s, ""));
    let name = name.split_once(':').map_or(name, |(n, _)| n);
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".+:~-".contains(c))
}

impl Checker<'_> {
    /// `dockerfile` and `context`, or for a rendered Dockerfile the manifest itself (the
    /// image's rendered file is decided by the plan) and the manifest's folder.
    pub(super) fn dockerfile_and_context(
        &mut self,
        raw: &super::RawManifest,
    ) -> (Option<PathBuf>, Option<PathBuf>) {
        if raw.custom.is_rendered() {
            return (Some(self.path.to_path_buf()), Some(self.dir.to_path_buf()));
        }
        self.paths(raw.dockerfile.as_ref(), raw.context.as_ref(), &raw.present)
    }

    /// The custom keys: `extends` or `adapt` (not both), and only with them `template` and
    /// `[customize]`; a custom image's Dockerfile is rendered, so `dockerfile` and `context`
    /// are not for it. `copy_tos` are the `[[copy]]` destinations (sources that exist only in
    /// the context).
    pub(super) fn custom(
        &mut self,
        raw: RawCustom,
        (dockerfile, context): (Option<Spanned<String>>, Option<Spanned<String>>),
        copies: &[super::CopySpec],
    ) -> Option<Custom> {
        let copy_tos: Vec<String> = copies.iter().map(|c| c.to.clone()).collect();
        let rendered = raw.is_rendered();
        if let (Some(_), Some(a)) = (&raw.extends, &raw.adapt) {
            self.error(
                a.span().start,
                "`adapt` and `extends` cannot both be set: `extends` builds on an SDK image, `adapt` makes another image SDK-compatible; keep one",
            );
        }
        if rendered {
            for (key, value) in [("dockerfile", dockerfile), ("context", context)] {
                if let Some(at) = value.map(|v| v.span().start) {
                    self.error(at, format!("`{key}` cannot be used with `extends` or `adapt`: the tool renders this image's Dockerfile and builds it with the manifest's folder as context; remove `{key}` (override blocks with `template = \"Dockerfile.j2\"`)"));
                }
            }
        } else {
            if let Some(t) = &raw.template {
                self.error(t.span().start, "`template` needs `extends` or `adapt`: it overrides blocks of the Dockerfile the tool renders for them");
            }
            if let Some(c) = &raw.customize {
                self.error(c.span().start, "[customize] needs `extends` or `adapt`: it adds to the Dockerfile the tool renders for them (e.g. extends = \"python:3.11\")");
            }
            return None;
        }
        let extends = raw
            .extends
            .as_ref()
            .and_then(|e| self.image_template(e, "extends"));
        let adapt = raw.adapt.and_then(|a| {
            let a = a.into_inner();
            let base = self.image_template(&a.base, "adapt.base");
            let sdk = self.image_template(&a.sdk, "adapt.sdk");
            Some(Adapt {
                base: base?,
                sdk: sdk?,
            })
        });
        let template = raw.template.and_then(|t| self.template_file(&t));
        let customize = raw
            .customize
            .map(|c| self.customize(c.into_inner(), &copy_tos))
            .unwrap_or_default();
        Some(Custom {
            extends,
            adapt,
            template,
            customize,
        })
    }

    /// An image an `extends` or `adapt` value names: a template (`{variant}`, `{tag}`, ...).
    fn image_template(&mut self, text: &Spanned<String>, what: &str) -> Option<Spanned<Template>> {
        if text.get_ref().trim().is_empty() {
            self.error(text.span().start, format!("`{what}` is empty; name one of our images (`python:3.11`) or an image reference"));
            return None;
        }
        self.template(text, what)
            .map(|t| Spanned::new(text.span(), t))
    }

    /// `template`: a file next to the manifest, read and parsed now so its syntax errors
    /// come before anything runs.
    fn template_file(&mut self, rel: &Spanned<String>) -> Option<TemplateFile> {
        let path = self.check_path(rel, PathKind::File, "template")?;
        let rules = crate::guarded::Rules::new(self.root, crate::guarded::CONFIG_CAP, "a template");
        match crate::guarded::read_to_string(&path, rules) {
            Ok(text) => {
                if let Err(d) = crate::custom_template::check_syntax(&path, &text) {
                    self.diags.push(d);
                }
                Some(TemplateFile { path, text })
            }
            Err(e) => {
                self.error(rel.span().start, format!("template: {e}"));
                None
            }
        }
    }

    /// One line of printable text (a Dockerfile line cannot hold a newline).
    fn one_line(&mut self, value: &Spanned<String>, what: &str) -> bool {
        let v = value.get_ref();
        if v.trim().is_empty() {
            self.error(value.span().start, format!("{what} is empty"));
            return false;
        }
        if let Some(c) = v.chars().find(|c| c.is_control()) {
            self.error(
                value.span().start,
                format!(
                    "{what} {} holds the control character {}; each value is one line of text (write several `run` entries for several commands)",
                    crate::error::quoted(v),
                    crate::error::quoted(&c.to_string())
                ),
            );
            return false;
        }
        true
    }

    /// A path inside the build context (the manifest's folder), which exists there or is a
    /// `[[copy]]` artifact.
    fn context_path(
        &mut self,
        value: &Spanned<String>,
        what: &str,
        copy_tos: &[String],
    ) -> Option<String> {
        let Some(inner) = crate::paths::normalize_inner(value.get_ref().trim_end_matches('/'))
        else {
            self.error(value.span().start, format!("{what} `{}` must be a relative path inside the build context (the manifest's folder), with no `..` out of it", value.get_ref()));
            return None;
        };
        let artifact = copy_tos
            .iter()
            .any(|to| inner == *to || inner.starts_with(&format!("{to}/")));
        if !artifact && std::fs::symlink_metadata(self.dir.join(&inner)).is_err() {
            self.error(value.span().start, format!("{what} `{}` does not exist in the build context (looked for {}; a [[copy]] destination counts too)", value.get_ref(), self.dir.join(&inner).display()));
            return None;
        }
        // As the context's rules: a symlink leading out of it would be sent as a link only.
        let context = self
            .dir
            .canonicalize()
            .unwrap_or_else(|_| self.dir.to_path_buf());
        if !artifact
            && let Ok(real) = self.dir.join(&inner).canonicalize()
            && !real.starts_with(&context)
        {
            self.error(value.span().start, format!("{what} `{}` leaves the build context through a symlink (it resolves to {}); only the link would be sent: put the file itself in the context, or bring it in with a [[copy]]", value.get_ref(), real.display()));
            return None;
        }
        Some(inner)
    }

    /// `[customize]`.
    fn customize(&mut self, raw: RawCustomize, copy_tos: &[String]) -> Customize {
        let mut c = Customize::default();
        for p in &raw.apt {
            if !self.one_line(p, "customize.apt entry") {
                continue;
            }
            let v = p.get_ref();
            if v.ends_with(".deb") || v.contains('/') {
                c.apt_local
                    .extend(self.context_path(p, "customize.apt file", copy_tos));
            } else if is_package_name(v) {
                c.apt.push(v.clone());
            } else {
                self.error(p.span().start, format!("customize.apt `{v}` is neither a Debian package name (`curl`, `curl=7.88.1-10`) nor a `.deb` file or folder in the build context (`debs/tool.deb`, `debs/`)"));
            }
        }
        for p in &raw.pip {
            if self.one_line(p, "customize.pip entry") {
                c.pip.push(p.get_ref().clone());
            }
        }
        if let Some(r) = &raw.requirements
            && self.one_line(r, "customize.requirements")
        {
            c.requirements = self.context_path(r, "customize.requirements", copy_tos);
        }
        for (k, v) in &raw.env {
            let name_ok = k
                .get_ref()
                .chars()
                .next()
                .is_some_and(|ch| ch.is_ascii_alphabetic() || ch == '_')
                && k.get_ref()
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
            if !name_ok {
                self.error(k.span().start, format!("customize.env name `{}` must be letters, digits and `_`, not starting with a digit", k.get_ref()));
                continue;
            }
            if !v.get_ref().is_empty() && !self.one_line(v, "customize.env value") {
                continue;
            }
            c.env.insert(k.get_ref().clone(), v.get_ref().clone());
        }
        for cp in &raw.copy {
            let cp = cp.get_ref();
            let ok = self.one_line(&cp.from, "customize.copy from")
                & self.one_line(&cp.to, "customize.copy to");
            if ok && let Some(from) = self.context_path(&cp.from, "customize.copy from", copy_tos) {
                c.copy.push((from, cp.to.get_ref().clone()));
            }
        }
        for r in &raw.run {
            if self.one_line(r, "customize.run entry") {
                c.run.push(r.get_ref().clone());
            }
        }
        if let Some(u) = &raw.user
            && self.one_line(u, "customize.user")
        {
            c.user = Some(u.get_ref().clone());
        }
        if let Some(w) = &raw.workdir
            && self.one_line(w, "customize.workdir")
        {
            c.workdir = Some(w.get_ref().clone());
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::is_package_name;

    #[test]
    fn package_names() {
        for ok in [
            "curl",
            "libc6:amd64",
            "curl=7.88.1-10+deb12u5",
            "g++",
            "python3.11",
        ] {
            assert!(is_package_name(ok), "{ok}");
        }
        for bad in ["Curl", "c", "-x", "curl;rm", "a b", "curl=1 2"] {
            assert!(!is_package_name(bad), "{bad}");
        }
    }
}
