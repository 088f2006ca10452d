//! The scheduler: the image graph in parallel (dependencies first, up to `-j`), a signal
//! cancelling what runs. Preparing a manifest is `prepare.rs`; building one image (inputs,
//! reuse, build, tag) is `image.rs`.

mod bases;
mod image;
mod moves;
pub mod place;
mod prepare;
mod print;
mod schedule;
mod selection;
mod status;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use crate::engine::pool::Member;
use crate::engine::{BuildCredentials, EngineApi};
use crate::error::{Error, Result};
use crate::interrupt::Interrupt;
use crate::output::EventSink;
use crate::output::Note;
pub use crate::output::Outcome;
use crate::plan::{BuildPlan, ImageIndex};
use crate::workspace::Workspace;

pub use bases::check_classic;
pub use moves::{holder, home};
pub use prepare::prepare;
pub use print::{PREPARE_NOT_RUN, print, print_without_engine};

#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub jobs: usize,
    pub no_cache: bool,
    pub keep_going: bool,
    pub force: bool,
    pub pull_licenses: bool,
    /// `--secret`: build secrets for every image (a manifest's `[secrets]` of the same id
    /// loses).
    pub secrets: Vec<crate::engine::session::SecretSpec>,
    /// `--cache-from` / `--cache-to` (wins over the manifests and the workspace).
    pub cache: crate::cache::CacheConfig,
    /// `--pull`: pull external bases through the engine before building (or `pull = true`).
    pub pull: bool,
    /// `--label KEY=VALUE`: wins over the workspace's and manifests' `[labels]`.
    pub labels: Vec<(String, String)>,
    /// `-vv`: every message of the engine's build stream as a log line too.
    pub raw_stream: bool,
    /// `--engine` (repeatable): the engine pool; empty: the workspace's `engines`, else the
    /// environment's engine.
    pub engines: Vec<crate::engine::pool::EngineSpec>,
    /// `--no-gather` unset: every image built elsewhere is also loaded into the first engine.
    pub gather: bool,
}

impl BuildOptions {
    /// What a build asks for when no flag says otherwise: `jobs` at once, the cache used,
    /// nothing forced, pulled or licensed, the results gathered on the first engine.
    pub fn plain(jobs: usize) -> BuildOptions {
        BuildOptions {
            jobs,
            no_cache: false,
            keep_going: false,
            force: false,
            pull_licenses: false,
            secrets: Vec::new(),
            cache: Default::default(),
            pull: false,
            labels: Vec::new(),
            raw_stream: false,
            engines: Vec::new(),
            gather: true,
        }
    }
}

/// Pull the selection's external bases when asked (`--pull`, `pull = true`), then run the
/// prepare steps ([`prepare`]). A pull that fails stops the run before anything is built.
pub async fn pull_then_prepare(
    session: &Session,
    selection: &[ImageIndex],
    opts: &BuildOptions,
) -> Result<BTreeMap<ImageIndex, String>> {
    if opts.pull || session.ws.config.pull {
        bases::pull(session, selection, opts.jobs).await?;
    }
    Ok(prepare(session, selection, opts.keep_going).await)
}

/// The build secrets of image `index`: its manifest's `[secrets]` (a `file` relative to the
/// manifest's folder, `~/` for the home folder), then `--secret`, which wins.
pub fn secret_specs(
    plan: &BuildPlan,
    index: ImageIndex,
    cli: &[crate::engine::session::SecretSpec],
) -> Result<Vec<crate::engine::session::SecretSpec>> {
    use crate::engine::session::{SecretSource, SecretSpec, expand_home};
    let m = plan.manifest_of(index);
    let mut specs: BTreeMap<String, SecretSpec> = BTreeMap::new();
    for (id, from) in &m.secrets {
        let from = from.get_ref();
        let source = match (&from.env, &from.file) {
            (Some(var), _) => SecretSource::Env(var.clone()),
            (None, Some(file)) => {
                let path = expand_home(file, home::home_dir().as_deref())
                    .map_err(|e| Error::Usage(e.to_string()))?;
                SecretSource::File(m.dir.join(path))
            }
            (None, None) => continue,
        };
        specs.insert(
            id.clone(),
            SecretSpec {
                id: id.clone(),
                source,
            },
        );
    }
    for spec in cli {
        specs.insert(spec.id.clone(), spec.clone());
    }
    Ok(specs.into_values().collect())
}

#[derive(Debug, Clone)]
pub struct ImageResult {
    pub image: ImageIndex,
    pub outcome: Outcome,
    pub id: Option<String>,
    pub duration: Duration,
    pub message: Option<String>,
    pub licenses: Option<usize>,
    /// The image of each platform built, `os/arch[/variant]` -> id, when the image names its
    /// platforms (`platforms = [...]`); `id` is then the one the refs point at.
    pub platforms: BTreeMap<String, String>,
    /// The external bases of the platform the refs point at, by reference.
    pub bases: BTreeMap<String, crate::output::BaseMetadata>,
    /// With an engine pool: the engine that built it (or found it up to date).
    pub engine: Option<String>,
    /// With an engine pool: the engines lost while it ran there.
    pub requeued_from: Vec<String>,
}

/// What every build task shares.
pub struct Session {
    pub ws: Arc<Workspace>,
    pub plan: Arc<BuildPlan>,
    /// The first engine of the pool: where the results are gathered. What reads a built
    /// image afterwards asks [`holder`] for the engine that has it.
    pub engine: Arc<dyn EngineApi>,
    /// Every engine of the run (the first is [`Session::engine`]).
    pub pool: Vec<Member>,
    /// Whether the engines were named (`--engine`, `engines`): events and the metadata file
    /// then name each image's engine.
    pub named_engines: bool,
    /// Which engines still answer, by position in `pool`.
    alive: Vec<std::sync::atomic::AtomicBool>,
    pub reporter: Arc<dyn EventSink>,
    /// Registry credentials handed to builds, so private base images can be pulled; read
    /// (credential helpers run) once, when the first image is really built.
    build_credentials: tokio::sync::OnceCell<BuildCredentials>,
    pub interrupt: Interrupt,
    /// The builder of each image (by index), resolved against the engine; see
    /// [`Session::builder`].
    builders: Vec<crate::engine::Builder>,
    /// The engine's own platform.
    pub native: crate::reference::Platform,
    /// Every ref of the plan's images (as `reference::ref_key` spells it): a `FROM` naming one is
    /// ours, a dependency already counted by id (`plan/froms.rs`), not an external base.
    own_refs: BTreeSet<String>,
    /// The git remote, read once, when the first image needs its labels' fingerprint.
    remote: tokio::sync::OnceCell<Option<String>>,
    /// Git and the timestamp rule, read once, when the first image is really built.
    provenance: tokio::sync::OnceCell<crate::provenance::Provenance>,
    /// That reading, started before the engine was connected when the run will build
    /// ([`Session::read_provenance_early`]).
    early_provenance: std::sync::Mutex<Option<EarlyProvenance>>,
}

/// Git's provenance being read in a thread of its own, for the workspace root `root`.
pub struct EarlyProvenance {
    pub root: std::path::PathBuf,
    read: std::thread::JoinHandle<Result<crate::provenance::Provenance>>,
}

impl Session {
    /// The builder of image `i`, resolved against the engine.
    pub fn builder(&self, i: ImageIndex) -> crate::engine::Builder {
        self.builders[i.get()]
    }

    async fn build_credentials(&self) -> BuildCredentials {
        let read = || async {
            tokio::task::spawn_blocking(crate::registry::credentials::for_build)
                .await
                .unwrap_or_default()
        };
        self.build_credentials.get_or_init(read).await.clone()
    }

    /// What git says for the labels of an image being built (`building`), or, for its
    /// fingerprint only, the remote alone: an up-to-date run never waits for `git status`.
    async fn provenance(&self, building: bool) -> Result<crate::provenance::Provenance> {
        let root = self.ws.root.clone();
        if !building {
            // Read already for an image being built: no second `git remote`.
            if let Some(known) = self.provenance.get() {
                return Ok(crate::provenance::Provenance {
                    remote: known.remote.clone(),
                    ..Default::default()
                });
            }
            let read = || async {
                tokio::task::spawn_blocking(move || crate::provenance::remote_url(&root))
                    .await
                    .unwrap_or_default()
            };
            let remote = self.remote.get_or_init(read).await.clone();
            return Ok(crate::provenance::Provenance {
                remote,
                ..Default::default()
            });
        }
        let early = self
            .early_provenance
            .lock()
            .ok()
            .and_then(|mut early| early.take());
        let read = || async {
            tokio::task::spawn_blocking(move || match early.map(|e| e.read.join()) {
                Some(Ok(read)) => read,
                _ => crate::provenance::Provenance::read(&root),
            })
            .await
            .map_err(|e| Error::Failed(format!("reading git provenance stopped: {e}")))?
        };
        self.provenance.get_or_try_init(read).await.cloned()
    }

    /// Whether pool engine `e` still answers.
    pub fn alive(&self, e: usize) -> bool {
        self.alive[e].load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Mark pool engine `e` lost; `true` the first time.
    fn lose(&self, e: usize) -> bool {
        self.alive[e].swap(false, std::sync::atomic::Ordering::SeqCst)
    }

    /// The name of pool engine `e` as events and the metadata file show it (named pools only).
    pub fn engine_name(&self, e: usize) -> Option<&str> {
        self.named_engines.then(|| self.pool[e].name.as_str())
    }

    pub fn new(
        ws: Workspace,
        plan: BuildPlan,
        pool: Vec<Member>,
        reporter: Arc<dyn EventSink>,
        interrupt: Interrupt,
        builders: Vec<crate::engine::Builder>,
        native: crate::reference::Platform,
    ) -> Session {
        assert!(!pool.is_empty(), "a session has an engine");
        let own_refs = plan
            .images
            .iter()
            .flat_map(|i| {
                i.refs
                    .iter()
                    .map(|r| crate::reference::ref_key(&r.to_string()))
            })
            .collect();
        Session {
            own_refs,
            ws: Arc::new(ws),
            plan: Arc::new(plan),
            engine: pool[0].api.clone(),
            named_engines: pool.len() > 1 || pool[0].name != "default",
            alive: pool
                .iter()
                .map(|_| std::sync::atomic::AtomicBool::new(true))
                .collect(),
            pool,
            reporter,
            build_credentials: tokio::sync::OnceCell::new(),
            interrupt,
            builders,
            native,
            remote: tokio::sync::OnceCell::new(),
            provenance: tokio::sync::OnceCell::new(),
            early_provenance: std::sync::Mutex::new(None),
        }
    }

    /// Start reading git's provenance now, in a thread of its own, for a run that will build
    /// (`--force`): the git commands then overlap connecting to the engine instead of
    /// following it. A run that may find everything up to date never starts them.
    pub fn read_provenance_early(root: &std::path::Path) -> Option<EarlyProvenance> {
        let dir = root.to_path_buf();
        let read = std::thread::Builder::new()
            .name("provenance".into())
            .spawn(move || crate::provenance::Provenance::read(&dir))
            .ok()?;
        Some(EarlyProvenance {
            root: root.to_path_buf(),
            read,
        })
    }

    /// The reading [`Session::read_provenance_early`] started, for this session to use.
    /// The caller checked it was read in this session's root (`commands/setup.rs`).
    pub fn with_early_provenance(self, early: Option<EarlyProvenance>) -> Session {
        if let Ok(mut slot) = self.early_provenance.lock() {
            *slot = early;
        }
        self
    }
}

/// A human description of what `build` would do, for `--dry-run`. Touches nothing.
pub fn describe(
    ws: &Workspace,
    plan: &BuildPlan,
    selection: &[ImageIndex],
    opts: &BuildOptions,
) -> String {
    let mut out = String::new();
    if opts.pull || ws.config.pull {
        out.push_str("pull     the external bases of these images, through the engine\n");
    }
    let mut prepared = BTreeSet::new();
    for &i in selection {
        let m = plan.manifest_of(i);
        if prepared.insert(plan.image(i).manifest) {
            for p in &m.prepare {
                out.push_str(&format!(
                    "prepare  {}: {} (in {})\n",
                    m.language,
                    shell_words(&p.run),
                    ws.display_path(&p.cwd)
                ));
            }
        }
    }
    for &i in selection {
        let img = plan.image(i);
        let m = plan.manifest_of(i);
        let mut line = format!(
            "build    {}: dockerfile {}, context {}",
            img.label(),
            ws.display_path(&m.dockerfile),
            ws.display_path(&m.context)
        );
        for (k, v) in &img.build_args {
            line.push_str(&format!(", --build-arg {k}={}", shown_arg(k, v)));
        }
        for c in m.copies_for(img.variant.as_deref()) {
            line.push_str(&format!(", + {} -> {}", ws.display_path(&c.from), c.to));
        }
        if let Some(target) = &img.target {
            line.push_str(&format!(", --target {target}"));
        }
        if !img.platforms.is_empty() {
            line.push_str(&format!(
                ", --platform {}",
                crate::platform::join(&img.platforms, ",")
            ));
        }
        if img.builder != "auto" {
            line.push_str(&format!(", builder {}", img.builder));
        }
        if opts.no_cache {
            line.push_str(", --no-cache");
        }
        for (k, v) in &opts.labels {
            line.push_str(&format!(", --label {k}={v}"));
        }
        out.push_str(&line);
        out.push('\n');
        if opts.pull_licenses
            && let Some(l) = &m.licenses
        {
            out.push_str(&format!(
                "licenses {}: into {} (with {})\n",
                img.label(),
                l.dest,
                crate::licenses::sbom::FILE
            ));
        }
        let cache = plan.cache_of(i, &ws.config.cache, &opts.cache);
        if !cache.is_empty() {
            out.push_str(&format!("cache    {}: {}\n", img.label(), cache.describe()));
        }
        for r in &img.refs {
            out.push_str(&format!("tag      {}: {r}\n", img.label()));
        }
    }
    out
}

pub use schedule::{BuildRun, build, planned};

impl ImageResult {
    pub fn failed(image: ImageIndex, message: String, duration: Duration) -> ImageResult {
        ImageResult {
            image,
            outcome: Outcome::Failed,
            id: None,
            duration,
            message: Some(message),
            licenses: None,
            platforms: BTreeMap::new(),
            bases: BTreeMap::new(),
            engine: None,
            requeued_from: Vec::new(),
        }
    }

    pub fn skipped(image: ImageIndex, message: String) -> ImageResult {
        ImageResult {
            image,
            outcome: Outcome::Skipped,
            id: None,
            duration: Duration::ZERO,
            message: Some(message),
            licenses: None,
            platforms: BTreeMap::new(),
            bases: BTreeMap::new(),
            engine: None,
            requeued_from: Vec::new(),
        }
    }
}

pub use crate::masking::{looks_secret, shown_arg};

/// One note per run when build args look like secrets: their values stay in the image's
/// history, where anyone who pulls it can read them.
pub fn secret_args_warning(plan: &BuildPlan, selection: &[ImageIndex]) -> Option<Note> {
    let names: BTreeSet<&str> = selection
        .iter()
        .flat_map(|&i| plan.image(i).build_args.keys())
        .map(String::as_str)
        .filter(|k| looks_secret(k))
        .collect();
    if names.is_empty() {
        return None;
    }
    Some(Note::SecretBuildArgs {
        names: names.into_iter().map(str::to_string).collect(),
    })
}

pub use crate::report::human::shell_words;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_shown_quoted() {
        let words = ["sh", "-c", "echo 'a b'", ""].map(String::from);
        assert_eq!(shell_words(&words), "sh -c 'echo '\\''a b'\\''' ''");
    }
}

#[cfg(test)]
mod pool_tests;
