//! The contract an image of the plan must meet: the `[contract]` of the manifest that declares
//! it, expanded with the values (`{variant}`, `{version}`, `{language}`) of the image that
//! declares it. `check` and `build --check` verify it; custom images inherit it.

use crate::error::{Diagnostic, Error, Result};
use crate::plan::{BuildPlan, ImageIndex};

pub use crate::manifest::contract::{
    CommandCheck, Contract, ContractCommand, ContractValues, ImageContract,
};

/// The contract an image must meet, and the image whose manifest declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveContract {
    pub contract: ImageContract,
    /// The image whose `[contract]` this is, expanded with its values: the image itself, or
    /// the SDK image a custom image stands on.
    pub declared_by: ImageIndex,
}

/// The contract image `i` of `plan` must meet (`None`: it has none); `version` is the
/// workspace's version (`{version}`). A value that cannot be expanded is an error at its place
/// in the declaring manifest.
///
/// This is the one place that decides which contract applies to an image: the image's own
/// `[contract]`, and for a custom image (`extends`, `adapt`) the contract of the SDK image it
/// stands on, expanded for that SDK image (see [`inherit`]).
pub fn effective(
    plan: &BuildPlan,
    i: ImageIndex,
    version: Option<&str>,
) -> std::result::Result<Option<EffectiveContract>, Diagnostic> {
    let own = declared(plan, i, version)?;
    let inherited = match plan.image(i).stands_on() {
        Some(sdk) => effective(plan, sdk, version)?,
        None => None,
    };
    Ok(inherit(inherited, own))
}

/// The image's own `[contract]`, expanded with its values.
fn declared(
    plan: &BuildPlan,
    i: ImageIndex,
    version: Option<&str>,
) -> std::result::Result<Option<EffectiveContract>, Diagnostic> {
    let declared_by = i;
    let image = plan.image(declared_by);
    let manifest = plan.manifest(image.manifest);
    let Some(contract) = &manifest.contract else {
        return Ok(None);
    };
    let values = ContractValues {
        variant: image.variant.as_deref(),
        version,
        language: &image.language,
    };
    match contract.expand(values) {
        Ok(contract) => Ok(Some(EffectiveContract {
            contract,
            declared_by,
        })),
        Err(e) => Err(manifest.diag(e.span.clone(), e.to_string())),
    }
}

/// The contract of a custom image: the one it inherits (expanded for the SDK image that
/// declares it) with its own `[contract]` added: its own entrypoint wins, its artifacts,
/// tools and commands are checked too. Neither: none.
fn inherit(
    inherited: Option<EffectiveContract>,
    own: Option<EffectiveContract>,
) -> Option<EffectiveContract> {
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

/// [`effective`] for each of `images`, in order; every problem at once (exit 2).
pub fn effective_all(
    plan: &BuildPlan,
    images: &[ImageIndex],
    version: Option<&str>,
) -> Result<Vec<Option<EffectiveContract>>> {
    let mut diags = Vec::new();
    let mut out = Vec::new();
    for &i in images {
        match effective(plan, i, version) {
            Ok(c) => out.push(c),
            Err(d) => {
                diags.push(d);
                out.push(None);
            }
        }
    }
    if diags.is_empty() {
        Ok(out)
    } else {
        diags.dedup();
        Err(Error::Invalid(diags))
    }
}

#[cfg(test)]
mod tests;
