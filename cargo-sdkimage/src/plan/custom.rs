//! What each custom image (`extends`, `adapt`) stands on, resolved against the plan's images,
//! and its Dockerfile rendered once the refs `FROM` names are known (`crate::custom` renders).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::custom::AdaptSdk;
use crate::error::{Diagnostic, Error, Result};
use crate::manifest::Manifest;

use super::{BuildPlan, Image, ImageIndex};

impl BuildPlan {
    /// Resolve what each custom image stands on: one of ours becomes a dependency; anything else
    /// must look like an image reference. Problems go to `diags`.
    pub(super) fn resolve_custom(
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
                    if let Some(ours) = looks_like_ours(images, &custom.base) {
                        diags.push(m.diag(
                            base_span.clone(),
                            mistaken_selector(images, base_key, &custom.base, &ours),
                        ));
                    } else if let Err(e) = crate::custom::check_base_ref(&custom.base) {
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
                    Ok(None) if looks_like_ours(images, sdk).is_some() => diags.push(m.diag(a.sdk.span(), format!("adapt.sdk `{sdk}` matches none of our images. Known selectors: {}; adapt.sdk must name one of them (its [contract] says which artifacts to copy), and an image from a registry goes in adapt.base, by its full name (`docker.io/library/{sdk}`)", known(images)))),
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

    /// Render the Dockerfile of every custom image of the plan (dependencies are resolved, so
    /// the refs `FROM` names are known).
    /// Every problem is reported at once, located in the template or manifest.
    pub(super) fn render_custom(
        &mut self,
        display: &dyn Fn(&Path) -> String,
        version: Option<&str>,
    ) -> Result<()> {
        let mut diags = Vec::new();
        for i in self.indexes() {
            let Some(custom) = self.image(i).custom.clone() else {
                continue;
            };
            let m = self.manifest_of(i);
            let spec = m.custom.as_ref().expect("custom manifest");
            let from = |ours: Option<ImageIndex>, text: &str| match ours {
                Some(d) => self.image(d).refs[0].to_string(),
                None => text.to_string(),
            };
            let base = from(custom.base_image, &custom.base);
            let adapt = match (custom.sdk_image, &custom.sdk, &spec.adapt) {
                (Some(s), Some(text), Some(a)) => {
                    match self.adapt_sdk(s, from(Some(s), text), version) {
                        Ok(sdk) => Some(sdk),
                        Err(e) => {
                            diags.push(m.diag(a.sdk.span(), e.to_string()));
                            continue;
                        }
                    }
                }
                _ => None,
            };
            let img = self.image(i);
            match crate::custom::render_image(
                spec,
                crate::custom::Rendering {
                    manifest: display(&m.path),
                    name: &img.name,
                    language: &img.language,
                    variant: img.variant.as_deref(),
                    base: &base,
                    adapt,
                },
            ) {
                Ok(text) => {
                    let mut resolved = custom;
                    resolved.dockerfile = text;
                    self.images[i.get()].custom = Some(resolved);
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
        &self,
        sdk: ImageIndex,
        sdk_ref: String,
        version: Option<&str>,
    ) -> std::result::Result<AdaptSdk, AdaptSdkError> {
        let label = self.image(sdk).label();
        let contract = crate::plan::contract::effective(self, sdk, version).map_err(|d| {
            AdaptSdkError::Unexpanded {
                label: label.clone(),
                problem: Box::new(d),
            }
        })?;
        let Some(c) = contract.map(|c| c.contract) else {
            return Err(AdaptSdkError::NoContract { label });
        };
        if c.artifacts.is_empty() {
            return Err(AdaptSdkError::NoArtifacts { label });
        }
        Ok(AdaptSdk {
            sdk: sdk_ref,
            artifacts: c.artifacts,
            entrypoint: c.entrypoint.into_iter().collect(),
        })
    }
}

/// Why the SDK image an `adapt` names gives nothing to copy (shown at `adapt.sdk`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdaptSdkError {
    #[error("adapt.sdk `{label}`: its contract cannot be expanded: {problem}")]
    Unexpanded {
        label: String,
        problem: Box<Diagnostic>,
    },
    #[error(
        "adapt.sdk `{label}`: its manifest declares no [contract], so nothing says what to copy; add [contract] artifacts = [...] and entrypoint = \"...\" to it"
    )]
    NoContract { label: String },
    #[error(
        "adapt.sdk `{label}`: its [contract] declares no `artifacts`, so there is nothing to copy; list the SDK's folders there (e.g. artifacts = [\"/opt/apache/beam\"])"
    )]
    NoArtifacts { label: String },
}

/// The labels of the several images a value names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.join(", "))]
struct Several(Vec<String>);

impl Image {
    /// The SDK image of ours a custom image stands on (`adapt.sdk`, else what `extends` names),
    /// whose contract it inherits.
    pub fn stands_on(&self) -> Option<ImageIndex> {
        let c = self.custom.as_ref()?;
        c.sdk_image.or(c.base_image)
    }

    /// The Dockerfile an image is built from: its rendered one, or its manifest's.
    pub fn dockerfile_path(&self, manifest: &Manifest, state_dir: &Path) -> PathBuf {
        match &self.custom {
            Some(_) => crate::custom::rendered_path(state_dir, &self.name),
            None => manifest.dockerfile.clone(),
        }
    }

    /// For a custom image: its rendered Dockerfile written to disk, with its path and text.
    pub fn write_rendered(&self, state_dir: &Path) -> Result<Option<(PathBuf, String)>> {
        let Some(custom) = &self.custom else {
            return Ok(None);
        };
        let path = crate::custom::write_rendered(state_dir, &self.name, &custom.dockerfile)?;
        Ok(Some((path, custom.dockerfile.clone())))
    }
}

/// Which of `images` a value names: a selector (`python:3.11`, `python`, an image name) or
/// one of their refs. `Err` lists them when it names several.
fn ours(images: &[Image], text: &str) -> std::result::Result<Option<ImageIndex>, Several> {
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
        several => Err(Several(
            several.iter().map(|&i| images[i.get()].label()).collect(),
        )),
    }
}

/// A value with no registry and no namespace (so Docker Hub's official images would take it)
/// whose name is one of our languages or image names: `python:3.13` where `python:3.11` and
/// `python:3.12` are ours, or the typo `python:3.1`. What of ours it names.
fn looks_like_ours(images: &[Image], text: &str) -> Option<String> {
    if text.contains(['/', '@']) {
        return None;
    }
    let name = text.split(':').next().unwrap_or(text);
    images
        .iter()
        .find(|i| i.language == name || i.name == name)
        .map(|i| match i.language == name {
            true => format!("the language `{name}`"),
            false => format!("the image name `{name}`"),
        })
}

/// `extends = "python:3.13"` where no `python:3.13` is ours: a mistaken selector, never a
/// silent fall-back to Docker Hub.
fn mistaken_selector(images: &[Image], key: &str, text: &str, ours: &str) -> String {
    format!(
        "{key} `{text}` looks like a selector of ours ({ours}) but matches none of our images. Known selectors: {}. For an image from a registry, write its full name: `docker.io/library/{text}`",
        known(images)
    )
}

fn known(images: &[Image]) -> String {
    let labels: BTreeSet<String> = images.iter().map(Image::label).collect();
    labels.into_iter().collect::<Vec<_>>().join(", ")
}
