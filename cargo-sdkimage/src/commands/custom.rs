//! What `build` does for custom images beyond building them: an `adapt` image is checked
//! against the SDK's contract after its build even without `--check`, since meeting that
//! contract is what it is for.

use crate::check::CheckOptions;
use crate::error::Result;
use crate::run::{ImageResult, Session};

/// Check the adapt images among `results` (as `build --check` would, with the default time
/// limit): one that fails is marked failed, saying what is missing. Returns the signal that
/// stopped the checks, if one did.
pub(super) async fn check_adapted(
    session: &Session,
    results: &mut [ImageResult],
    jobs: usize,
) -> Result<Option<i32>> {
    let adapted = |r: &ImageResult| {
        let m = session.plan.manifest_of(r.image);
        m.custom.as_ref().is_some_and(|c| c.adapt.is_some())
    };
    let positions: Vec<usize> = (0..results.len())
        .filter(|&p| adapted(&results[p]))
        .collect();
    if positions.is_empty() {
        return Ok(None);
    }
    let mut picked: Vec<ImageResult> = positions.iter().map(|&p| results[p].clone()).collect();
    let signal =
        super::check::after_build(session, &mut picked, &CheckOptions::default(), jobs).await?;
    for (p, r) in positions.into_iter().zip(picked) {
        results[p] = r;
    }
    Ok(signal)
}
