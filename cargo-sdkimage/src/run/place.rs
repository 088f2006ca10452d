//! Placement over an engine pool, pure: which ready image starts next (the longest remaining
//! chain of recorded build times first) and on which engine (one that builds its platforms
//! natively; where its dependencies already are, unless another engine is idle and moving
//! them costs less than waiting; within each engine's `jobs`).

use std::time::Duration;

/// What placement knows of one image.
#[derive(Debug, Clone, Default)]
pub struct Node {
    /// Positions (in the same slice) of the selected images it depends on.
    pub deps: Vec<usize>,
    /// Its estimated build time: the last recorded one, else [`UNKNOWN_COST`].
    pub cost: Duration,
    /// For each engine of the pool: whether it builds every platform of this image natively.
    pub native_on: Vec<bool>,
    /// It must be built natively (the classic builder builds only its engine's own platform).
    pub native_only: bool,
}

/// The estimate of an image never built here.
pub const UNKNOWN_COST: Duration = Duration::from_secs(10);

/// The estimate of moving one image between engines before any was moved.
pub const TRANSFER_GUESS: Duration = Duration::from_secs(2);

/// What placement knows of one engine right now.
#[derive(Debug, Clone, Default)]
pub struct EngineLoad {
    pub alive: bool,
    pub running: usize,
    pub jobs: usize,
    /// The soonest one of its running builds is expected to end.
    pub frees_in: Duration,
}

impl EngineLoad {
    fn free(&self) -> bool {
        self.alive && self.running < self.jobs
    }
}

/// Each image's priority: its cost plus the longest chain of costs of what depends on it.
pub fn priorities(nodes: &[Node]) -> Vec<Duration> {
    let mut prio: Vec<Option<Duration>> = vec![None; nodes.len()];
    let mut dependants: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        for &d in &n.deps {
            dependants[d].push(i);
        }
    }
    fn visit(
        i: usize,
        nodes: &[Node],
        dependants: &[Vec<usize>],
        prio: &mut [Option<Duration>],
    ) -> Duration {
        if let Some(p) = prio[i] {
            return p;
        }
        let tail = dependants[i]
            .iter()
            .map(|&d| visit(d, nodes, dependants, prio))
            .max()
            .unwrap_or_default();
        let p = nodes[i].cost + tail;
        prio[i] = Some(p);
        p
    }
    (0..nodes.len())
        .map(|i| visit(i, nodes, &dependants, &mut prio))
        .collect()
}

/// The engines that may build `node`: those that answer and build its platforms natively,
/// else (emulation, unless it must be native) every one that answers.
fn candidates(node: &Node, engines: &[EngineLoad]) -> Vec<usize> {
    let alive: Vec<usize> = (0..engines.len()).filter(|&e| engines[e].alive).collect();
    let native: Vec<usize> = alive
        .iter()
        .copied()
        .filter(|&e| node.native_on.get(e).copied().unwrap_or(false))
        .collect();
    if native.is_empty() && !node.native_only {
        alive
    } else {
        native
    }
}

/// Whether some engine left can build `node` at all (else it would wait for ever).
pub fn placeable(node: &Node, engines: &[EngineLoad]) -> bool {
    !candidates(node, engines).is_empty()
}

/// Where image `node` goes now, or `None` to wait. `holds[d][e]`: engine `e` holds dependency
/// `d`'s image; `transfer` is the estimate of moving one image.
pub fn choose(
    node: &Node,
    engines: &[EngineLoad],
    holds: &dyn Fn(usize, usize) -> bool,
    transfer: Duration,
) -> Option<usize> {
    // Emulation only when no engine left builds it natively.
    let candidates = candidates(node, engines);
    let missing = |e: usize| node.deps.iter().filter(|&&d| !holds(d, e)).count() as u32;
    // Locality: the engine holding most of its dependencies, then the least loaded.
    let preferred = candidates.iter().copied().min_by_key(|&e| {
        let load = &engines[e];
        (missing(e), load.running * 1000 / load.jobs.max(1), e)
    })?;
    if engines[preferred].free() {
        return Some(preferred);
    }
    let wait = engines[preferred].frees_in;
    candidates
        .iter()
        .copied()
        .filter(|&e| engines[e].free())
        .filter(|&e| transfer * missing(e).saturating_sub(missing(preferred)) < wait)
        .min_by_key(|&e| (missing(e), engines[e].running, e))
}

/// Where each image would go if every build took its estimated time: the scheduler's own
/// choices replayed on a clock (`list` and `build --print` show it). `None`: no engine can
/// build it.
pub fn simulate(nodes: &[Node], engines: &[EngineLoad]) -> Vec<Option<usize>> {
    let priority = priorities(nodes);
    let n = nodes.len();
    let mut placed: Vec<Option<usize>> = vec![None; n];
    let mut started = vec![false; n];
    let mut finished = vec![false; n];
    let mut holders: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut running: Vec<(Duration, usize, usize)> = Vec::new();
    let mut now = Duration::ZERO;
    loop {
        let mut ready: Vec<usize> = (0..n)
            .filter(|&p| !started[p] && nodes[p].deps.iter().all(|&d| finished[d]))
            .collect();
        ready.sort_by_key(|&p| (std::cmp::Reverse(priority[p]), p));
        for p in ready {
            let loads: Vec<EngineLoad> = (0..engines.len())
                .map(|e| {
                    let here = running.iter().filter(|(_, _, on)| *on == e);
                    EngineLoad {
                        running: here.clone().count(),
                        frees_in: here
                            .map(|(t, _, _)| t.saturating_sub(now))
                            .min()
                            .unwrap_or_default(),
                        ..engines[e].clone()
                    }
                })
                .collect();
            if !placeable(&nodes[p], &loads) {
                started[p] = true;
                finished[p] = true;
                continue;
            }
            let holds = |d: usize, e: usize| holders[d].contains(&e);
            if let Some(e) = choose(&nodes[p], &loads, &holds, TRANSFER_GUESS) {
                started[p] = true;
                placed[p] = Some(e);
                running.push((now + nodes[p].cost, p, e));
                for &d in &nodes[p].deps {
                    holders[d].push(e);
                }
            }
        }
        let Some(next) = (0..running.len()).min_by_key(|&i| (running[i].0, running[i].1)) else {
            break;
        };
        let (t, p, e) = running.remove(next);
        now = t;
        finished[p] = true;
        holders[p].push(e);
    }
    placed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn node(deps: &[usize], cost: u64, native_on: &[bool]) -> Node {
        Node {
            deps: deps.to_vec(),
            cost: secs(cost),
            native_on: native_on.to_vec(),
            native_only: false,
        }
    }

    fn idle(jobs: usize) -> EngineLoad {
        EngineLoad {
            alive: true,
            running: 0,
            jobs,
            frees_in: Duration::ZERO,
        }
    }

    #[test]
    fn the_longest_chain_goes_first() {
        // 0 -> 1 -> 2 (a chain of 3 × 5 s) and 3 (one image of 12 s).
        let nodes = [
            node(&[], 5, &[true]),
            node(&[0], 5, &[true]),
            node(&[1], 5, &[true]),
            node(&[], 12, &[true]),
        ];
        let p = priorities(&nodes);
        assert_eq!(p[0], secs(15));
        assert_eq!(p[3], secs(12));
        assert!(p[0] > p[3] && p[1] == secs(10));
    }

    #[test]
    fn dependants_stay_where_their_dependencies_are() {
        let n = node(&[0], 5, &[true, true]);
        let on_second = |_d: usize, e: usize| e == 1;
        assert_eq!(
            choose(&n, &[idle(2), idle(2)], &on_second, TRANSFER_GUESS),
            Some(1)
        );
    }

    #[test]
    fn an_idle_engine_takes_work_when_moving_is_cheaper_than_waiting() {
        let n = node(&[0], 5, &[true, true]);
        let on_first = |_d: usize, e: usize| e == 0;
        let busy = |frees_in| EngineLoad {
            alive: true,
            running: 1,
            jobs: 1,
            frees_in,
        };
        // The first is busy for 30 s; moving one image (2 s) to the idle second is cheaper.
        assert_eq!(
            choose(&n, &[busy(secs(30)), idle(1)], &on_first, TRANSFER_GUESS),
            Some(1)
        );
        // Busy for one more second only: wait for it.
        assert_eq!(
            choose(&n, &[busy(secs(1)), idle(1)], &on_first, TRANSFER_GUESS),
            None
        );
    }

    #[test]
    fn native_engines_first_emulation_as_fallback() {
        let arm = node(&[], 5, &[false, true]);
        let none = |_: usize, _: usize| false;
        assert_eq!(
            choose(&arm, &[idle(4), idle(1)], &none, TRANSFER_GUESS),
            Some(1)
        );
        // The native one is busy: wait for it rather than emulate.
        let mut busy = idle(1);
        busy.running = 1;
        busy.frees_in = secs(60);
        assert_eq!(
            choose(&arm, &[idle(4), busy.clone()], &none, TRANSFER_GUESS),
            None
        );
        // The native one is gone: emulate.
        busy.alive = false;
        assert_eq!(
            choose(&arm, &[idle(4), busy.clone()], &none, TRANSFER_GUESS),
            Some(0)
        );
        // ... unless only a native build will do (the classic builder).
        let classic = Node {
            native_only: true,
            ..arm
        };
        assert_eq!(
            choose(&classic, &[idle(4), busy.clone()], &none, TRANSFER_GUESS),
            None
        );
        assert!(!placeable(&classic, &[idle(4), busy]));
    }

    #[test]
    fn a_replay_places_a_chain_and_a_fan_out_over_two_engines() {
        // 0 -> 1 -> 2 and 0 -> 3, 4, 5; the second engine takes the leaves while the first
        // builds the chain where its base is.
        let both = [true, true];
        let nodes = [
            node(&[], 5, &both),
            node(&[0], 5, &both),
            node(&[1], 5, &both),
            node(&[0], 5, &both),
            node(&[0], 5, &both),
            node(&[0], 5, &both),
        ];
        let placed = simulate(&nodes, &[idle(1), idle(1)]);
        assert_eq!(placed[..3], [Some(0), Some(0), Some(0)]);
        assert!(placed[3..].contains(&Some(1)), "{placed:?}");
        // An arm64-only image goes to the arm64 engine, one no engine can build nowhere.
        let arm = Node {
            native_only: true,
            ..node(&[], 5, &[false, true])
        };
        let nowhere = Node {
            native_only: true,
            ..node(&[], 5, &[false, false])
        };
        assert_eq!(
            simulate(&[arm, nowhere], &[idle(1), idle(1)]),
            [Some(1), None]
        );
    }

    #[test]
    fn per_engine_jobs_bound_what_runs() {
        let n = node(&[], 5, &[true, true]);
        let none = |_: usize, _: usize| false;
        let full = EngineLoad {
            alive: true,
            running: 2,
            jobs: 2,
            frees_in: secs(5),
        };
        assert_eq!(
            choose(&n, &[full.clone(), idle(1)], &none, TRANSFER_GUESS),
            Some(1)
        );
        let mut second_full = full.clone();
        second_full.jobs = 2;
        assert_eq!(
            choose(&n, &[full, second_full], &none, TRANSFER_GUESS),
            None
        );
    }
}
