//! The scheduler over the engine pool: images start when their dependencies are done, the
//! longest remaining chain first, each on the engine `place.rs` picks (within its `jobs`); the
//! dependencies it lacks are moved there first (`moves.rs`). An engine lost mid-run has its
//! running images, and the finished ones only it held, queued again on the others (at most
//! twice per image). A signal cancels every running build, on every engine.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::place::{self, EngineLoad, Node};
use super::{BuildOptions, ImageResult, Outcome, Session, image, moves};
use crate::engine::Builder;
use crate::engine::pool::Member;
use crate::error::{Error, Result};
use crate::fingerprint::StateStore;
use crate::output::{Event, event, millis};
use crate::plan::{BuildPlan, ImageIndex};
use crate::reference::Platform;

/// How often an image may be queued again after losing its engine.
const MAX_REQUEUES: u32 = 2;

/// How often the engines that run builds are asked whether they still answer: an engine that
/// hangs (rather than closing its connections) is found lost this way.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// The results of a build run: one per selected image, in selection order.
pub struct BuildRun {
    pub results: Vec<ImageResult>,
    /// The signal that cancelled the run, if one did.
    pub interrupted: Option<i32>,
    /// The engines lost during the run, by name.
    pub lost: Vec<String>,
    /// Every engine was lost: why the last one was.
    pub no_engine: Option<String>,
}

/// One image's try on one engine.
struct Attempt {
    pos: usize,
    engine: usize,
    result: ImageResult,
    /// An engine found lost during the try (its own, or the one a dependency came from).
    lost: Option<(usize, String)>,
    /// Dependencies (positions) the engine now holds too.
    moved: Vec<usize>,
    /// How long the last move took.
    moved_in: Option<Duration>,
}

/// The placement facts of each selected image: its dependencies among them, its cost (the last
/// recorded build time), the engines that build its platforms natively (none named: the
/// first engine's own), and whether only a native build will do (the classic builder).
pub fn nodes_of(
    plan: &BuildPlan,
    pool: &[Member],
    native: &Platform,
    classic: &dyn Fn(ImageIndex) -> bool,
    store: &StateStore,
    selection: &[ImageIndex],
) -> Vec<Node> {
    selection
        .iter()
        .map(|&i| {
            let image = plan.image(i);
            let deps = image
                .deps
                .iter()
                .filter_map(|d| selection.iter().position(|s| s == d))
                .collect();
            let cost = store
                .load_record(&image.name)
                .and_then(|s| s.build_ms)
                .map_or(place::UNKNOWN_COST, Duration::from_millis);
            let mut platforms: Vec<Platform> = image.platforms.clone();
            if platforms.is_empty() {
                platforms.push(native.clone());
            }
            let native_on = pool
                .iter()
                .map(|m| platforms.iter().all(|p| m.builds_natively(p)))
                .collect();
            Node {
                deps,
                cost,
                native_on,
                native_only: classic(i),
            }
        })
        .collect()
}

/// The engine each selected image would go to (by name), as `list` and `build --print` show
/// it: the scheduler's placement replayed with the recorded build times.
pub fn planned(
    plan: &BuildPlan,
    pool: &[Member],
    native: &Platform,
    classic: &dyn Fn(ImageIndex) -> bool,
    store: &StateStore,
    selection: &[ImageIndex],
) -> Vec<Option<String>> {
    let nodes = nodes_of(plan, pool, native, classic, store, selection);
    let engines: Vec<EngineLoad> = pool
        .iter()
        .map(|m| EngineLoad {
            alive: true,
            running: 0,
            jobs: m.jobs,
            frees_in: Duration::ZERO,
        })
        .collect();
    place::simulate(&nodes, &engines)
        .into_iter()
        .map(|e| e.map(|e| pool[e].name.clone()))
        .collect()
}

/// Mutable state of one run.
struct Run<'a> {
    session: &'a Session,
    selection: &'a [ImageIndex],
    opts: &'a BuildOptions,
    nodes: Vec<Node>,
    results: Vec<Option<ImageResult>>,
    /// The engines that hold each image.
    holders: Vec<BTreeSet<usize>>,
    waiting: Vec<usize>,
    requeued_from: Vec<Vec<String>>,
    /// What runs on each engine, and since when.
    running_on: Vec<Vec<(usize, Instant)>>,
    started: BTreeMap<usize, Instant>,
    lost: Vec<String>,
    stopping: bool,
}

impl Run<'_> {
    fn name(&self, pos: usize) -> &str {
        &self.session.plan.image(self.selection[pos]).name
    }

    fn loads(&self) -> Vec<EngineLoad> {
        (0..self.session.pool.len())
            .map(|e| EngineLoad {
                alive: self.session.alive(e),
                running: self.running_on[e].len(),
                jobs: self.session.pool[e].jobs,
                frees_in: self.running_on[e]
                    .iter()
                    .map(|(p, since)| self.nodes[*p].cost.saturating_sub(since.elapsed()))
                    .min()
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// Report image `pos` failed for good.
    fn fail(&mut self, pos: usize, message: String) {
        let ran = self
            .started
            .get(&pos)
            .map(Instant::elapsed)
            .unwrap_or_default();
        let image = self.session.plan.image(self.selection[pos]);
        self.session.reporter.event(&Event::Failed(event::Failed {
            duration_ms: Some(millis(ran)),
            ..event::Failed::new(image.subject(), message.clone())
        }));
        let mut result = ImageResult::failed(self.selection[pos], message, ran);
        result.requeued_from = self.requeued_from[pos].clone();
        self.results[pos] = Some(result);
        self.stopping |= !self.opts.keep_going;
    }

    /// Queue image `pos` again: engine `lost` went away while it ran or while only it held it.
    fn requeue(&mut self, pos: usize, lost: usize) {
        let name = self.session.pool[lost].name.clone();
        self.requeued_from[pos].push(name.clone());
        self.holders[pos].clear();
        self.results[pos] = None;
        let tries = self.requeued_from[pos].len() as u32;
        if tries > MAX_REQUEUES {
            let message = format!(
                "lost its engine {tries} times ({}); not queued again",
                self.requeued_from[pos].join(", ")
            );
            self.fail(pos, message);
            return;
        }
        let image = self.session.plan.image(self.selection[pos]);
        self.session.reporter.event(&Event::Requeued(event::Requeued {
            subject: image.subject(),
            message: format!(
                "engine {name} was lost; queued again on the others (requeue {tries} of {MAX_REQUEUES})"
            ),
            lost: name,
        }));
        self.waiting.push(pos);
    }

    /// Image `pos` moved to engine `to` (the gather while the run goes on): it holds it, if
    /// that is still the image's result (not one lost and queued again since).
    fn gathered(&mut self, (pos, to, id): (usize, usize, Option<String>)) {
        let current = self.results[pos].as_ref().and_then(|r| r.id.as_ref());
        if id.is_some() && current == id.as_ref() {
            self.holders[pos].insert(to);
        }
    }

    /// Engine `e` is gone: the finished images only it held are queued again.
    fn lose(&mut self, e: usize, why: &str) {
        if !self.session.lose(e) {
            return;
        }
        let name = self.session.pool[e].name.clone();
        self.session.reporter.note(crate::output::Note::EngineLost {
            engine: name.clone(),
            why: why.to_string(),
        });
        self.lost.push(name);
        for pos in 0..self.results.len() {
            let held_only_there = !self.holders[pos].is_empty()
                && self.holders[pos].iter().all(|&h| !self.session.alive(h));
            if held_only_there && self.results[pos].as_ref().is_some_and(|r| r.id.is_some()) {
                self.requeue(pos, e);
            }
        }
    }
}

/// Build the selection over the session's engines: independent images in parallel, up to
/// each engine's `jobs`; dependants as soon as their dependencies are done. A signal cancels
/// running builds (on every engine). Images in `failed_before` (their prepare step failed) are
/// reported failed and not built.
pub async fn build(
    session: Arc<Session>,
    selection: &[ImageIndex],
    opts: &BuildOptions,
    failed_before: &BTreeMap<ImageIndex, String>,
) -> Result<BuildRun> {
    let store = Arc::new(StateStore::new(&session.ws.state_dir()));
    let logs = session.ws.state_dir().join("logs");
    std::fs::create_dir_all(&logs)
        .map_err(|e| Error::io(format!("cannot create {}", logs.display()), e))?;
    let classic = |i| session.builder(i) == Builder::Classic;
    let nodes = nodes_of(
        &session.plan,
        &session.pool,
        &session.native,
        &classic,
        &store,
        selection,
    );
    let priority = place::priorities(&nodes);
    let n = selection.len();
    let mut run = Run {
        session: &session,
        selection,
        opts,
        nodes,
        results: vec![None; n],
        holders: vec![BTreeSet::new(); n],
        waiting: (0..n).collect(),
        requeued_from: vec![Vec::new(); n],
        running_on: vec![Vec::new(); session.pool.len()],
        started: BTreeMap::new(),
        lost: Vec::new(),
        stopping: false,
    };
    let mut running: JoinSet<Attempt> = JoinSet::new();
    // Images moved to the first engine as soon as they are built elsewhere (the gather, while
    // the other builds still run): `(position, engine moved to, the id that arrived)`.
    let mut gathering: JoinSet<(usize, usize, Option<String>)> = JoinSet::new();
    let mut handles: BTreeMap<usize, tokio::task::AbortHandle> = BTreeMap::new();
    let (lost_tx, mut lost_rx) = tokio::sync::mpsc::unbounded_channel();
    let watchdog = tokio::spawn(watch(session.clone(), lost_tx));
    let _stop_watchdog = AbortOnDrop(watchdog.abort_handle());
    let mut interrupt = session.interrupt.clone();
    let mut interrupted = None;
    let mut no_engine = None;
    let mut transfer_estimate = place::TRANSFER_GUESS;
    for (&img, message) in failed_before {
        if let Some(pos) = selection.iter().position(|&s| s == img) {
            run.waiting.retain(|&w| w != pos);
            run.fail(pos, message.clone());
        }
    }

    loop {
        if !run.stopping {
            let mut ready: Vec<usize> = run
                .waiting
                .iter()
                .copied()
                .filter(|&p| run.nodes[p].deps.iter().all(|&d| run.results[d].is_some()))
                .collect();
            ready.sort_by_key(|&p| (Reverse(priority[p]), p));
            for p in ready {
                let failed_dep = run.nodes[p]
                    .deps
                    .iter()
                    .copied()
                    .find(|&d| run.results[d].as_ref().is_some_and(|r| r.id.is_none()));
                if let Some(d) = failed_dep {
                    run.waiting.retain(|&w| w != p);
                    let message = format!("not built: dependency {} failed", run.name(d));
                    run.results[p] = Some(ImageResult::skipped(selection[p], message));
                    continue;
                }
                let loads = run.loads();
                if !place::placeable(&run.nodes[p], &loads) {
                    run.waiting.retain(|&w| w != p);
                    let message = "no engine left that can build its platforms natively (the classic builder builds only its engine's own platform)".to_string();
                    run.fail(p, message);
                    continue;
                }
                let holders = &run.holders;
                let holds = |d: usize, e: usize| holders[d].contains(&e);
                let Some(e) = place::choose(&run.nodes[p], &loads, &holds, transfer_estimate)
                else {
                    continue;
                };
                run.waiting.retain(|&w| w != p);
                run.running_on[e].push((p, Instant::now()));
                run.started.entry(p).or_insert_with(Instant::now);
                let mut dep_ids = BTreeMap::new();
                let mut moves = Vec::new();
                for &d in &run.nodes[p].deps {
                    let result = run.results[d].clone().expect("dependency done");
                    dep_ids.insert(selection[d], result.id.clone().expect("dependency built"));
                    if !run.holders[d].contains(&e) {
                        let from = run.holders[d]
                            .iter()
                            .copied()
                            .find(|&h| session.alive(h))
                            .expect("a finished image is held by an engine that answers");
                        moves.push((d, from, result));
                    }
                }
                let job = Job {
                    session: session.clone(),
                    store: store.clone(),
                    logs: logs.clone(),
                    index: selection[p],
                    pos: p,
                    engine: e,
                    dep_ids,
                    moves,
                    opts: opts.clone(),
                };
                handles.insert(p, running.spawn(job.run()));
            }
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            joined = running.join_next_with_id() => {
                let (task, attempt) = match joined {
                    Some(Ok(done)) => done,
                    // Stopped because its engine stopped answering: already queued again.
                    Some(Err(e)) if e.is_cancelled() => continue,
                    Some(Err(e)) => return Err(Error::Failed(format!("a build task stopped unexpectedly: {e}"))),
                    None => continue,
                };
                // A try whose engine was found lost before it ended was queued again already.
                if handles.get(&attempt.pos).map(tokio::task::AbortHandle::id) != Some(task) {
                    continue;
                }
                let Attempt { pos, engine, mut result, lost, moved, moved_in } = attempt;
                handles.remove(&pos);
                run.running_on[engine].retain(|(p, _)| *p != pos);
                for d in moved {
                    run.holders[d].insert(engine);
                }
                if let Some(took) = moved_in {
                    transfer_estimate = (transfer_estimate + took) / 2;
                }
                // One engine: a lost engine is a failed run, exit 3, as it always was.
                if let Some((gone, why)) = lost.filter(|_| session.pool.len() > 1) {
                    run.lose(gone, &why);
                    run.requeue(pos, gone);
                    if (0..session.pool.len()).all(|e| !session.alive(e)) {
                        no_engine = Some(why);
                        run.stopping = true;
                    }
                    continue;
                }
                result.engine = session.engine_name(engine).map(str::to_string);
                result.requeued_from = run.requeued_from[pos].clone();
                if result.outcome == Outcome::Failed {
                    let message = result.message.clone().unwrap_or_default();
                    run.fail(pos, message);
                } else {
                    run.holders[pos].insert(engine);
                    let home = moves::home(&session);
                    if opts.gather && result.id.is_some() && !run.holders[pos].contains(&home) {
                        let (session, result) = (session.clone(), result.clone());
                        gathering.spawn(async move {
                            let moved = moves::bring(&session, engine, home, &result).await;
                            (pos, home, moved.ok().and(result.id))
                        });
                    }
                    run.results[pos] = Some(result);
                }
            }
            Some(gathered) = gathering.join_next(), if !gathering.is_empty() => {
                // One that failed is moved again by the gather at the end.
                if let Ok(gathered) = gathered {
                    run.gathered(gathered);
                }
            }
            Some((gone, why)) = lost_rx.recv() => {
                if !session.alive(gone) {
                    continue;
                }
                // Its builds hang with it: stopped here (dropping them cancels what still can
                // be), queued again on the others.
                run.lose(gone, &why);
                for (p, _) in std::mem::take(&mut run.running_on[gone]) {
                    if let Some(handle) = handles.remove(&p) {
                        handle.abort();
                    }
                    run.requeue(p, gone);
                }
                if (0..session.pool.len()).all(|e| !session.alive(e)) {
                    no_engine = Some(why);
                    run.stopping = true;
                }
            }
            signal = interrupt.wait() => {
                // Dropping a build stops it on its engine (and the container of its running
                // step, awaited before the process exits), whichever engine that is.
                running.abort_all();
                gathering.abort_all();
                while running.join_next().await.is_some() {}
                while gathering.join_next().await.is_some() {}
                session.reporter.clear();
                let name = crate::interrupt::name(signal);
                let cancelled: Vec<usize> = run.running_on.iter().flatten().map(|(p, _)| *p).collect();
                for p in cancelled {
                    run.fail(p, format!("cancelled by {name}; nothing was tagged"));
                }
                interrupted = Some(signal);
                break;
            }
        }
    }
    let why = if interrupted.is_some() {
        "not built: the run was interrupted".to_string()
    } else if let Some(why) = &no_engine {
        format!("not built: no engine is left ({why})")
    } else {
        "not built: the run stopped after a failure (use --keep-going to build the rest)".into()
    };
    for p in std::mem::take(&mut run.waiting) {
        if run.results[p].is_none() {
            run.results[p] = Some(ImageResult::skipped(selection[p], why.clone()));
        }
    }
    // What was still moving to the first engine when the last build ended.
    while let Some(gathered) = gathering.join_next().await {
        if let Ok(gathered) = gathered {
            run.gathered(gathered);
        }
    }
    if interrupted.is_none() && no_engine.is_none() && opts.gather {
        // Every image stays where it was built either way: a move that fails is a note, not a
        // failed run.
        if let Err(e) = moves::gather(&session, selection, &run.results, &run.holders).await {
            session.reporter.note(crate::output::Note::GatherFailed {
                error: e.to_string(),
            });
        }
    }
    let lost = std::mem::take(&mut run.lost);
    let results = run
        .results
        .into_iter()
        .map(|r| r.expect("every image has a result"))
        .collect();
    Ok(BuildRun {
        results,
        interrupted,
        lost,
        no_engine,
    })
}

/// One image's try on one engine, owned by its task.
struct Job {
    session: Arc<Session>,
    store: Arc<StateStore>,
    logs: PathBuf,
    index: ImageIndex,
    pos: usize,
    engine: usize,
    dep_ids: BTreeMap<ImageIndex, String>,
    /// `(position, engine holding it, result)` of each dependency to move here first.
    moves: Vec<(usize, usize, ImageResult)>,
    opts: BuildOptions,
}

impl Job {
    async fn run(self) -> Attempt {
        let session = &self.session;
        let mut attempt = Attempt {
            pos: self.pos,
            engine: self.engine,
            result: ImageResult::failed(self.index, String::new(), Duration::ZERO),
            lost: None,
            moved: Vec::new(),
            moved_in: None,
        };
        for (d, from, dep) in &self.moves {
            match moves::bring(session, *from, self.engine, dep).await {
                Ok(took) => {
                    attempt.moved.push(*d);
                    attempt.moved_in = Some(took);
                }
                Err(e) => {
                    attempt.lost = lost_of(session, &[self.engine, *from]).await;
                    attempt.result.message = Some(e.to_string());
                    return attempt;
                }
            }
        }
        attempt.result = image::build_one(
            session,
            self.engine,
            &self.store,
            &self.logs,
            self.index,
            self.dep_ids,
            &self.opts,
        )
        .await;
        if attempt.result.outcome == Outcome::Failed {
            attempt.lost = lost_of(session, &[self.engine]).await;
        }
        attempt
    }
}

/// Ask every engine that answers, every [`WATCH_EVERY`], whether it still does; report the
/// ones that stopped.
async fn watch(session: Arc<Session>, lost: tokio::sync::mpsc::UnboundedSender<(usize, String)>) {
    if session.pool.len() < 2 {
        return;
    }
    loop {
        tokio::time::sleep(WATCH_EVERY).await;
        let asks = (0..session.pool.len())
            .filter(|&e| session.alive(e))
            .map(|e| {
                let session = session.clone();
                async move { (e, session.pool[e].api.ping().await) }
            });
        for (e, answer) in futures_util::future::join_all(asks).await {
            if let Err(Error::Unreachable(why)) = answer
                && lost.send((e, why)).is_err()
            {
                return;
            }
        }
    }
}

/// Aborts a task when dropped (the watchdog, whatever way the run ends).
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The first of `engines` that no longer answers, and why.
async fn lost_of(session: &Session, engines: &[usize]) -> Option<(usize, String)> {
    for &e in engines {
        if let Err(Error::Unreachable(why)) = session.pool[e].api.ping().await {
            return Some((e, why));
        }
    }
    None
}
