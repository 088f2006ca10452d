//! The shared job helpers: run per-image work with bounded concurrency, then turn the results
//! into `Failed` events and one error for the run.

use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::{StreamExt, stream};

use crate::error::{Error, Result};
use crate::output::{Event, EventSink, event};
use crate::plan::{BuildPlan, Image, ImageIndex};

/// Engine pushes: the first image (in build order, often the base the others are built on)
/// alone, then the rest `jobs` at a time, as [`bounded`] runs them, stopping on a failure.
/// Layers the images share are then in the registry before the parallel pushes start, and the
/// engine mounts them instead of uploading each shared layer once per concurrent push.
pub(super) async fn seeded<T, U, F, Fut>(
    mut work: Vec<(ImageIndex, T)>,
    jobs: usize,
    f: F,
) -> Vec<(ImageIndex, Option<Result<U>>)>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = Result<U>>,
{
    if work.len() < 2 || jobs < 2 {
        return bounded(work, jobs, true, f).await;
    }
    let rest = work.split_off(1);
    let mut results = bounded(work, 1, true, &f).await;
    if results.iter().any(|(_, r)| matches!(r, Some(Err(_)))) {
        results.extend(rest.into_iter().map(|(index, _)| (index, None)));
        return results;
    }
    results.extend(bounded(rest, jobs, true, &f).await);
    results
}

/// Run `f` over `work` with at most `jobs` at once, results in order. With `stop_on_failure`,
/// once one fails the rest that have not started are skipped (`None`).
pub(super) async fn bounded<T, U, F, Fut>(
    work: Vec<(ImageIndex, T)>,
    jobs: usize,
    stop_on_failure: bool,
    f: F,
) -> Vec<(ImageIndex, Option<Result<U>>)>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = Result<U>>,
{
    let stop = AtomicBool::new(false);
    let (stop, f) = (&stop, &f);
    stream::iter(work)
        .map(|(index, item)| async move {
            if stop.load(Ordering::SeqCst) {
                return (index, None);
            }
            let result = f(item).await;
            if result.is_err() && stop_on_failure {
                stop.store(true, Ordering::SeqCst);
            }
            (index, Some(result))
        })
        .buffered(jobs.max(1))
        .collect()
        .await
}

/// All results, or: a `Failed` event per failed image and one error for the run.
pub(super) fn all_or_failure<T>(
    plan: &BuildPlan,
    results: Vec<(ImageIndex, Option<Result<T>>)>,
    reporter: &dyn EventSink,
    consequence: &str,
) -> Result<Vec<(ImageIndex, T)>> {
    let total = results.len();
    let mut done = Vec::new();
    let mut failures = Vec::new();
    let mut skipped = 0;
    for (index, result) in results {
        match result {
            Some(Ok(value)) => done.push((index, value)),
            Some(Err(e)) => failures.push((plan.image(index), e)),
            None => skipped += 1,
        }
    }
    if failures.is_empty() && skipped == 0 {
        return Ok(done);
    }
    let mut note = format!("{} of {total} images failed", failures.len());
    if skipped > 0 {
        note.push_str(&format!(", {skipped} not attempted"));
    }
    if !consequence.is_empty() {
        note.push_str(&format!("; {consequence}"));
    }
    Err(report_failures(failures, reporter, &note))
}

/// A `Failed` event per image; the error keeps the kind of the first failure (unreachable
/// registries exit 3, the rest 1) and lists every failure.
pub(super) fn report_failures(
    failures: Vec<(&Image, Error)>,
    reporter: &dyn EventSink,
    note: &str,
) -> Error {
    let mut lines = Vec::new();
    let mut unreachable = false;
    for (image, e) in &failures {
        reporter.event(&Event::Failed(event::Failed::new(
            image.subject(),
            e.to_string(),
        )));
        unreachable |= matches!(e, Error::Unreachable(_));
        lines.push(format!("{}: {e}", image.name));
    }
    if !note.is_empty() {
        lines.push(note.to_string());
    }
    let text = lines.join("\n");
    if unreachable {
        Error::Unreachable(text)
    } else {
        Error::Failed(text)
    }
}
