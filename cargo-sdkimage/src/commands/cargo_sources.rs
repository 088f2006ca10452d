//! What needs cargo in a workspace that may have none (an `sdkimage-workspace.toml` alone).

use super::Loaded;
use crate::error::Result;

/// A `cargo` license source needs a Cargo workspace: said before anything runs.
pub(super) fn check_cargo_sources(l: &Loaded) -> Result<()> {
    for &i in &l.selection {
        let m = l.plan.manifest_of(i);
        if m.licenses
            .as_ref()
            .is_some_and(|spec| spec.sources.iter().any(|s| s.kind == "cargo"))
        {
            l.ws.cargo_manifest(&format!(
                "the `cargo` license source of {}",
                l.ws.display_path(&m.path)
            ))?;
        }
    }
    Ok(())
}
