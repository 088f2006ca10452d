//! Setting up a run that talks to the engine, written once: connect, resolve each image's
//! builder and check its platforms and secrets against the engine, hold the state lock.

use std::sync::Arc;

use super::Loaded;
use crate::engine::pool::{self, Member};
use crate::engine::session::SecretSpec;
use crate::engine::{Builder, Engine, EngineApi};
use crate::error::{Error, Result};
use crate::fingerprint::StateLock;
use crate::interrupt::Interrupt;
use crate::output::EventSink;
use crate::output::Note;
use crate::plan::ImageIndex;
use crate::reference::Platform;
use crate::run::{self, Session};

/// The engine-side checks of `build` (builders, platforms) for `list` and `--dry-run`, when an
/// engine answers; without one there is nothing to check them against.
pub(super) async fn check_with_engine_if_any(
    l: &Loaded,
    secrets: &[SecretSpec],
    reporter: &dyn EventSink,
) -> Result<()> {
    check_with_connected(Engine::connect().await, l, secrets, reporter).await
}

/// [`check_with_engine_if_any`] with a connection already tried (`list` starts it before it
/// loads the workspace).
pub(super) async fn check_with_connected(
    connected: Result<Engine>,
    l: &Loaded,
    secrets: &[SecretSpec],
    reporter: &dyn EventSink,
) -> Result<()> {
    match connected {
        Ok(engine) => check_builders(&engine, l, secrets, reporter)
            .await
            .map(|_| ()),
        Err(Error::Unreachable(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Work a build starts before its workspace is loaded, each used when it fits the workspace.
#[derive(Default)]
pub(super) struct Early {
    /// The environment's engine, being connected (when the run names no engines).
    pub engine: Option<pool::EarlyEngine>,
    /// Git's provenance, being read in the likely workspace root (`--force`: the run builds).
    pub provenance: Option<crate::run::EarlyProvenance>,
}

/// What a command that builds starts from, written once: the engine connected, each image's
/// builder and platforms checked against it, the workspace's state lock held. Returns the
/// session, the selection and the lock (held until dropped).
pub(super) async fn open_session(
    l: Loaded,
    opts: &run::BuildOptions,
    reporter: Arc<dyn EventSink>,
    interrupt: Interrupt,
    early: Early,
) -> Result<(Arc<Session>, Vec<ImageIndex>, StateLock)> {
    let provenance = match early.provenance {
        Some(p) if p.root == l.ws.root => Some(p),
        _ => opts
            .force
            .then(|| Session::read_provenance_early(&l.ws.root))
            .flatten(),
    };
    let pool = connect_pool(&l, opts, &*reporter, early.engine).await?;
    let facts = check_builders(&*pool[0].api, &l, &opts.secrets, &*reporter).await?;
    let lock = StateLock::acquire(&l.ws.state_dir(), || reporter.note(Note::WaitingForLock))?;
    let session = Arc::new(
        Session::new(
            l.ws,
            l.plan,
            pool,
            reporter,
            interrupt,
            facts.builders,
            facts.native,
        )
        .with_early_provenance(provenance),
    );
    Ok((session, l.selection, lock))
}

/// The platforms of one image against the engine, before anything is built: an engine builds
/// images of its own OS only (a Linux engine cannot export a Windows image), and the classic
/// builder builds its own platform only. A platform the manifest names is reported there.
fn check_platforms(
    img: &crate::plan::Image,
    m: &crate::manifest::Manifest,
    builder: Builder,
    native: &Platform,
    diags: &mut Vec<crate::error::Diagnostic>,
) -> Result<()> {
    for p in &img.platforms {
        let message = if p.os != native.os {
            format!(
                "platform `{p}` cannot be built: the engine runs {} ({native}) and builds {} images only; build it on a {} engine (DOCKER_HOST) or drop it",
                native.os, native.os, p.os
            )
        } else if builder == Builder::Classic && !p.is_native(native) {
            format!(
                "platform `{p}` cannot be built: the engine's classic builder builds only its own platform, {native}"
            )
        } else {
            continue;
        };
        match m.platforms.iter().find(|s| s.get_ref() == p) {
            Some(span) => diags.push(m.diag(span.span(), message)),
            None => return Err(Error::Usage(format!("{}: {message}", img.label()))),
        }
    }
    Ok(())
}

/// The engines of the run: `--engine`, else the workspace's `engines`, else the environment's
/// one. One that does not answer is exit 3, or with `--keep-going` a note naming it.
pub(super) async fn connect_pool(
    l: &Loaded,
    opts: &run::BuildOptions,
    reporter: &dyn EventSink,
    early: Option<pool::EarlyEngine>,
) -> Result<Vec<Member>> {
    // An `--engine` the workspace also names keeps its `platforms` and `jobs`.
    let specs: Vec<pool::EngineSpec> = match opts.engines.is_empty() {
        true => l.ws.config.engines.clone(),
        false => opts
            .engines
            .iter()
            .map(|e| {
                let known = l.ws.config.engines.iter().find(|w| w.host == e.host);
                known.cloned().unwrap_or_else(|| e.clone())
            })
            .collect(),
    };
    if let Some(twice) = specs
        .iter()
        .enumerate()
        .find(|(i, s)| specs[..*i].iter().any(|o| o.host == s.host))
    {
        return Err(Error::Usage(format!(
            "--engine {} is given twice",
            twice.1.host
        )));
    }
    let connected = pool::connect(&specs, opts.jobs, opts.keep_going, early).await?;
    for (name, why) in &connected.missing {
        reporter.note(Note::EngineNotAnswering {
            engine: name.clone(),
            why: why.to_string(),
        });
    }
    Ok(connected.members)
}

/// `list` with the workspace's `engines`: the engine each selected image would go to (those
/// that answer; none without `engines`, or when none answers).
pub(super) async fn planned_engines(l: &Loaded, reporter: &dyn EventSink) -> Vec<Option<String>> {
    let none = vec![None; l.selection.len()];
    if l.ws.config.engines.is_empty() {
        return none;
    }
    let opts = run::BuildOptions {
        keep_going: true,
        ..list_options()
    };
    let Ok(pool) = connect_pool(l, &opts, reporter, None).await else {
        return none;
    };
    let store = crate::fingerprint::StateStore::new(&l.ws.state_dir());
    let classic = |i| l.plan.image(i).builder == "classic";
    run::planned(
        &l.plan,
        &pool,
        &pool[0].native,
        &classic,
        &store,
        &l.selection,
    )
}

fn list_options() -> run::BuildOptions {
    run::BuildOptions::plain(std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Every build secret of the selection can be read, before anything runs (a missing source
/// is invalid input naming the secret and where it looked); nothing is kept.
pub(super) fn check_secrets(l: &Loaded, cli: &[SecretSpec]) -> Result<()> {
    for &i in &l.selection {
        let specs = run::secret_specs(&l.plan, i, cli)?;
        crate::engine::session::load_all(&specs)?;
    }
    Ok(())
}

/// What the engine decides about a plan: each image's builder, and its own platform.
pub struct EngineFacts {
    pub builders: Vec<Builder>,
    pub native: Platform,
}

/// Resolve each selected image's builder against the engine (`auto`: BuildKit where the engine
/// has it, else the classic builder with a one-line note; `buildkit` on an engine without it
/// is invalid input) and check its platforms: the classic builder builds the engine's own
/// platform only.
pub async fn check_builders(
    engine: &dyn EngineApi,
    l: &Loaded,
    secrets: &[SecretSpec],
    reporter: &dyn EventSink,
) -> Result<EngineFacts> {
    let native = Platform::of_engine(&engine.platform().await?);
    let support = engine.buildkit_support().await?;
    let mut builders = vec![Builder::BuildKit; l.plan.images.len()];
    let mut noted = false;
    let mut diags = Vec::new();
    for &i in &l.selection {
        let img = l.plan.image(i);
        let builder = match (img.builder.as_str(), &support) {
            ("classic", _) => Builder::Classic,
            (_, Ok(())) => Builder::BuildKit,
            ("buildkit", Err(why)) => {
                return Err(Error::Usage(format!(
                    "{} asks for builder \"buildkit\", but {why}; use builder = \"classic\" (or --builder classic)",
                    img.label()
                )));
            }
            (_, Err(why)) => {
                if !noted {
                    reporter.note(Note::ClassicBuilder { why: why.clone() });
                    noted = true;
                }
                Builder::Classic
            }
        };
        builders[i.get()] = builder;
        if builder == Builder::Classic {
            run::check_classic(&l.ws, &l.plan, i, &mut diags);
            let m = l.plan.manifest_of(i);
            if !m.secrets.is_empty() || !secrets.is_empty() {
                return Err(Error::Usage(format!(
                    "{} has build secrets, which the classic builder cannot serve; build it with BuildKit (builder = \"buildkit\" or \"auto\", --builder buildkit)",
                    img.label()
                )));
            }
        }
        check_platforms(img, l.plan.manifest_of(i), builder, &native, &mut diags)?;
    }
    diags.sort_by(|a, b| (&a.path, a.line, a.col).cmp(&(&b.path, b.line, b.col)));
    diags.dedup();
    if diags.is_empty() {
        Ok(EngineFacts { builders, native })
    } else {
        Err(Error::Invalid(diags))
    }
}
