//! Executes a build: prepare steps, then the image graph in parallel (dependencies first),
//! skipping what is up to date, tagging only complete builds, and reporting every step.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use crate::context;
use crate::engine::{BuildOutput, BuildRequest, Engine, EngineError};
use crate::error::{Error, Result};
use crate::fingerprint::{self, ImageState, Inputs, StateStore};
use crate::interrupt::Interrupt;
use crate::licenses;
use crate::manifest::{LicenseSource, Manifest};
use crate::plan::BuildPlan;
use crate::report::{Event, EventKind, Reporter};
use crate::workspace::Workspace;

#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub jobs: usize,
    pub no_cache: bool,
    pub keep_going: bool,
    pub force: bool,
    pub pull_licenses: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Built,
    UpToDate,
    Retagged,
    Failed,
    /// Not attempted: a dependency failed, or the run stopped after a failure.
    Skipped,
}

impl Outcome {
    /// The name used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Built => "built",
            Outcome::UpToDate => "up-to-date",
            Outcome::Retagged => "retagged",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ImageResult {
    pub image: usize,
    pub outcome: Outcome,
    pub id: Option<String>,
    pub duration: Duration,
    pub message: Option<String>,
    pub licenses: Option<usize>,
}

/// What every build task shares.
pub struct Session {
    pub ws: Arc<Workspace>,
    pub plan: Arc<BuildPlan>,
    pub engine: Engine,
    pub reporter: Arc<Reporter>,
    /// The step container each running build is in (from the classic builder's
    /// `---> Running in <id>` lines), so a cancelled run can stop them on the engine.
    pub step_containers: std::sync::Mutex<BTreeMap<usize, String>>,
    /// Registry credentials handed to builds, so private base images can be pulled; read
    /// (credential helpers run) once, when the first image is really built.
    build_credentials: tokio::sync::OnceCell<HashMap<String, bollard::auth::DockerCredentials>>,
    pub interrupt: Interrupt,
}

impl Session {
    async fn build_credentials(&self) -> HashMap<String, bollard::auth::DockerCredentials> {
        let read = || async {
            tokio::task::spawn_blocking(crate::registry::credentials::for_build)
                .await
                .unwrap_or_default()
        };
        self.build_credentials.get_or_init(read).await.clone()
    }

    pub fn new(
        ws: Workspace,
        plan: BuildPlan,
        engine: Engine,
        reporter: Arc<Reporter>,
        interrupt: Interrupt,
    ) -> Session {
        Session {
            ws: Arc::new(ws),
            plan: Arc::new(plan),
            engine,
            reporter,
            step_containers: Default::default(),
            build_credentials: tokio::sync::OnceCell::new(),
            interrupt,
        }
    }
}

/// A human description of what `build` would do, for `--dry-run`. Touches nothing.
pub fn describe(
    ws: &Workspace,
    plan: &BuildPlan,
    selection: &[usize],
    opts: &BuildOptions,
) -> String {
    let mut out = String::new();
    let mut prepared = BTreeSet::new();
    for &i in selection {
        let m = plan.manifest_of(i);
        if prepared.insert(plan.images[i].manifest) {
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
        let img = &plan.images[i];
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
        if opts.no_cache {
            line.push_str(", --no-cache");
        }
        out.push_str(&line);
        out.push('\n');
        if opts.pull_licenses
            && let Some(l) = &m.licenses
        {
            out.push_str(&format!("licenses {}: into {}\n", img.label(), l.dest));
        }
        for r in &img.refs {
            out.push_str(&format!("tag      {}: {r}\n", img.label()));
        }
    }
    out
}

/// Run each selected manifest's `[[prepare]]` commands once, in build order, and check the
/// artifacts its `[[copy]]` entries bring in. Returns, per image of a manifest whose step
/// failed, why: those images fail, their dependants are skipped. The first failure stops the
/// remaining steps unless `keep_going`.
pub async fn prepare(
    session: &Session,
    selection: &[usize],
    keep_going: bool,
) -> BTreeMap<usize, String> {
    let mut done = BTreeSet::new();
    let mut failed_manifests = BTreeMap::new();
    for &i in selection {
        let mi = session.plan.images[i].manifest;
        if !done.insert(mi) {
            continue;
        }
        if let Err(message) = prepare_manifest(session, &session.plan.manifests[mi]).await {
            failed_manifests.insert(mi, message);
            if !keep_going {
                break;
            }
        }
    }
    selection
        .iter()
        .filter_map(|&i| {
            let why = failed_manifests.get(&session.plan.images[i].manifest)?;
            Some((i, why.clone()))
        })
        .collect()
}

async fn prepare_manifest(
    session: &Session,
    m: &crate::manifest::Manifest,
) -> std::result::Result<(), String> {
    let manifest = session.ws.display_path(&m.path);
    for p in &m.prepare {
        let words = shell_words(&p.run);
        session
            .reporter
            .progress_note(&format!("[{}] prepare: {words}", m.language));
        let program = if p.run[0] == "cargo" {
            std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
        } else {
            p.run[0].clone()
        };
        let mut command = tokio::process::Command::new(&program);
        command
            .args(&p.run[1..])
            .current_dir(&p.cwd)
            .envs(&p.env)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let output = run_in_own_group(command)
            .await
            .map_err(|e| format!("prepare step of {manifest} failed: cannot run `{words}`: {e}"))?;
        if !output.status.success() {
            let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&output.stderr));
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(40)..]
                .iter()
                .map(|l| format!("  | {l}"))
                .collect::<Vec<_>>()
                .join("\n");
            return Err(format!(
                "prepare step of {manifest} failed: `{words}` ({}) in {}\n{tail}",
                output.status,
                session.ws.display_path(&p.cwd),
            ));
        }
    }
    m.check_artifacts(&session.ws.root)
        .map_err(|e| e.to_string())
}

/// The results of a build run: one per selected image, in selection order.
pub struct BuildRun {
    pub results: Vec<ImageResult>,
    /// The signal that cancelled the run, if one did.
    pub interrupted: Option<i32>,
}

/// Run a prepare command in a process group of its own and collect its output. When the run
/// is cancelled (this future dropped), the whole group is stopped: the command's children
/// (compilers a `cargo build` started, a shell's `sleep`) do not outlive us.
async fn run_in_own_group(
    mut command: tokio::process::Command,
) -> std::io::Result<std::process::Output> {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    #[cfg(unix)]
    command.process_group(0);
    let child = command.spawn()?;
    struct GroupGuard(Option<u32>);
    impl Drop for GroupGuard {
        fn drop(&mut self) {
            #[cfg(unix)]
            if let Some(pid) = self.0.and_then(|p| i32::try_from(p).ok()) {
                stop_group(pid);
            }
        }
    }
    let mut guard = GroupGuard(child.id());
    let output = child.wait_with_output().await;
    guard.0 = None;
    output
}

/// How long a cancelled prepare step's processes get to end on SIGTERM before SIGKILL.
const PREPARE_GRACE: Duration = Duration::from_secs(2);

/// Stop process group `pgid` for good: SIGTERM now; SIGKILL to what is left after
/// [`PREPARE_GRACE`]; the group leader (our child) reaped. Runs as a deferred cleanup, which
/// the end of the run waits for, so nothing of the step outlives the tool.
#[cfg(unix)]
fn stop_group(pgid: i32) {
    // SAFETY: kill(2) with a negative pid signals the process group we created.
    unsafe {
        libc::kill(-pgid, libc::SIGTERM);
    }
    let reap = move || {
        let mut status = 0;
        // SAFETY: waitpid on our own child, without blocking.
        unsafe { libc::waitpid(pgid, &mut status, libc::WNOHANG) };
    };
    let group_alive = move || {
        reap();
        // SAFETY: signal 0 only checks whether any process of the group exists.
        unsafe { libc::kill(-pgid, 0) == 0 }
    };
    crate::interrupt::defer_cleanup(async move {
        let deadline = Instant::now() + PREPARE_GRACE;
        while group_alive() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if group_alive() {
            // SAFETY: as above; the group ignored SIGTERM.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
            let deadline = Instant::now() + Duration::from_millis(500);
            while group_alive() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    });
}

/// Build the selection: independent images in parallel up to `jobs`, dependants as soon as
/// their dependencies are done. A signal cancels running builds (on the engine too).
/// Images in `failed_before` (their prepare step failed) are reported failed and not built.
pub async fn build(
    session: Arc<Session>,
    selection: &[usize],
    opts: &BuildOptions,
    failed_before: &BTreeMap<usize, String>,
) -> Result<BuildRun> {
    let store = Arc::new(StateStore::new(&session.ws.state_dir()));
    let logs = session.ws.state_dir().join("logs");
    std::fs::create_dir_all(&logs)
        .map_err(|e| Error::io(format!("cannot create {}", logs.display()), e))?;
    let selected: BTreeSet<usize> = selection.iter().copied().collect();
    let mut results: HashMap<usize, ImageResult> = HashMap::new();
    let mut waiting: Vec<usize> = selection.to_vec();
    let mut running: JoinSet<ImageResult> = JoinSet::new();
    // When each image started, for the duration of one a signal cancels.
    let mut started: HashMap<usize, Instant> = HashMap::new();
    let mut stopping = false;
    let mut interrupt = session.interrupt.clone();
    let mut interrupted = None;
    let jobs = opts.jobs.max(1);
    for (&img, message) in failed_before {
        waiting.retain(|&w| w != img);
        session.reporter.event(
            &Event::for_image(EventKind::Failed, &session.plan.images[img])
                .message(message.clone()),
        );
        results.insert(
            img,
            ImageResult::failed(img, message.clone(), Duration::ZERO),
        );
        stopping |= !opts.keep_going;
    }

    loop {
        // Start every image whose dependencies are done, up to `jobs`.
        if !stopping {
            let mut i = 0;
            while i < waiting.len() && running.len() < jobs {
                let img = waiting[i];
                let deps: Vec<usize> = session.plan.images[img]
                    .deps
                    .iter()
                    .copied()
                    .filter(|d| selected.contains(d))
                    .collect();
                let failed_dep = deps
                    .iter()
                    .find(|d| results.get(d).is_some_and(|r| r.id.is_none()));
                if let Some(&d) = failed_dep {
                    waiting.remove(i);
                    let message = format!(
                        "not built: dependency {} failed",
                        session.plan.images[d].name
                    );
                    results.insert(img, ImageResult::skipped(img, message));
                    continue;
                }
                if deps.iter().all(|d| results.contains_key(d)) {
                    waiting.remove(i);
                    let dep_ids: BTreeMap<usize, String> = deps
                        .iter()
                        .map(|d| (*d, results[d].id.clone().expect("dependency succeeded")))
                        .collect();
                    let (session, store, logs, opts) =
                        (session.clone(), store.clone(), logs.clone(), opts.clone());
                    started.insert(img, Instant::now());
                    running.spawn(async move {
                        build_one(&session, &store, &logs, img, dep_ids, &opts).await
                    });
                    continue;
                }
                i += 1;
            }
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            joined = running.join_next() => {
                let result = match joined {
                    Some(Ok(result)) => result,
                    Some(Err(e)) => return Err(Error::Failed(format!("a build task stopped unexpectedly: {e}"))),
                    None => continue,
                };
                if result.outcome == Outcome::Failed && !opts.keep_going {
                    stopping = true;
                }
                results.insert(result.image, result);
            }
            signal = interrupt.wait() => {
                running.abort_all();
                while running.join_next().await.is_some() {}
                // Dropping a build's connection makes the engine cancel it, in its own time;
                // stop the step containers now so nothing outlives the run.
                let containers: Vec<(usize, String)> =
                    std::mem::take(&mut *session.step_containers.lock().expect("containers")).into_iter().collect();
                for (_, id) in &containers {
                    session.engine.remove_container(id).await;
                }
                session.reporter.clear();
                let name = crate::interrupt::name(signal);
                for &img in selection {
                    if results.contains_key(&img) || waiting.contains(&img) {
                        continue;
                    }
                    let message = format!("cancelled by {name}; nothing was tagged");
                    let ran = started.get(&img).map(Instant::elapsed).unwrap_or_default();
                    session.reporter.event(&Event::for_image(EventKind::Failed, &session.plan.images[img]).message(message.clone()).duration(ran));
                    results.insert(img, ImageResult::failed(img, message, ran));
                }
                interrupted = Some(signal);
                break;
            }
        }
    }
    let why = if interrupted.is_some() {
        "not built: the run was interrupted"
    } else {
        "not built: the run stopped after a failure (use --keep-going to build the rest)"
    };
    for img in waiting {
        results.insert(img, ImageResult::skipped(img, why.into()));
    }
    let results = selection
        .iter()
        .map(|i| results.remove(i).expect("every image has a result"))
        .collect();
    Ok(BuildRun {
        results,
        interrupted,
    })
}

impl ImageResult {
    pub fn failed(image: usize, message: String, duration: Duration) -> ImageResult {
        ImageResult {
            image,
            outcome: Outcome::Failed,
            id: None,
            duration,
            message: Some(message),
            licenses: None,
        }
    }

    pub fn skipped(image: usize, message: String) -> ImageResult {
        ImageResult {
            image,
            outcome: Outcome::Skipped,
            id: None,
            duration: Duration::ZERO,
            message: Some(message),
            licenses: None,
        }
    }
}

async fn build_one(
    session: &Session,
    store: &StateStore,
    logs: &std::path::Path,
    index: usize,
    dep_ids: BTreeMap<usize, String>,
    opts: &BuildOptions,
) -> ImageResult {
    let started = Instant::now();
    let image = &session.plan.images[index];
    let result = build_image(session, store, logs, index, &dep_ids, opts, started).await;
    match result {
        Ok(r) => r,
        Err(message) => {
            // Whatever failed (build, licenses, tagging), the last good build no longer
            // stands for this image's refs.
            store.forget(&image.name);
            session.reporter.event(
                &Event::for_image(EventKind::Failed, image)
                    .duration(started.elapsed())
                    .message(message.clone()),
            );
            ImageResult::failed(index, message, started.elapsed())
        }
    }
}

async fn build_image(
    session: &Session,
    store: &StateStore,
    logs: &std::path::Path,
    index: usize,
    dep_ids: &BTreeMap<usize, String>,
    opts: &BuildOptions,
    started: Instant,
) -> std::result::Result<ImageResult, String> {
    let plan = &session.plan;
    let image = &plan.images[index];
    let manifest = plan.manifest_of(index);
    let spec = manifest.context_spec(
        image.variant.as_deref(),
        &session.ws.root,
        &session.ws.state_dir(),
    );
    let previous = store.load(&image.name);
    let mut inputs = Inputs {
        dockerfile: String::new(),
        build_args: image.build_args.clone(),
        dependency_ids: dep_ids.values().cloned().collect(),
        bases: Vec::new(),
        licenses: if opts.pull_licenses {
            license_inputs(&session.ws, manifest)
        } else {
            None
        },
    };
    for (arg, dep) in &image.image_args {
        if let Some(id) = dep_ids.get(dep) {
            inputs.build_args.insert(arg.clone(), id.clone());
        }
    }
    let dockerfile = manifest.dockerfile.clone();
    let (root, build_args) = (session.ws.root.clone(), image.build_args.clone());
    let own_refs: BTreeSet<String> = plan
        .images
        .iter()
        .flat_map(|i| i.refs.iter().map(ToString::to_string))
        .collect();
    let (ctx, digest, files, previous, bases) =
        tokio::task::spawn_blocking(move || -> std::result::Result<_, String> {
            let ctx = context::collect(&spec).map_err(|e| e.to_string())?;
            let rules =
                crate::guarded::Rules::new(&root, crate::guarded::CONFIG_CAP, "a Dockerfile");
            let text = crate::guarded::read_to_string(&dockerfile, rules)
                .map_err(|e| format!("cannot read {e}"))?;
            let mut bases = crate::dockerfile::external_bases(&text, &build_args, &BTreeMap::new());
            // Our own images count as dependencies, by id, already.
            bases.retain(|b| !own_refs.contains(b));
            let (digest, files) =
                fingerprint::hash_context(&ctx, previous.as_ref()).map_err(|e| e.to_string())?;
            Ok((ctx, digest, files, previous, bases))
        })
        .await
        .map_err(|e| format!("context task failed: {e}"))??;
    inputs.dockerfile = ctx.dockerfile_in_context.clone();
    // A base the engine lacks is a cache miss: the build pulls it, and the fingerprint is
    // taken again afterwards with its id.
    let bases_complete = resolve_bases(&session.engine, &bases, &mut inputs.bases).await?;
    let mut fingerprint = fingerprint::fingerprint(&inputs, &digest);

    let refs: Vec<String> = image.refs.iter().map(ToString::to_string).collect();
    if !opts.force
        && bases_complete
        && let Some(prev) = previous.filter(|p| p.fingerprint == fingerprint)
        && session
            .engine
            .image_id(&prev.id)
            .await
            .map_err(|e| e.to_string())?
            .is_some()
    {
        let mut retagged = false;
        for r in &image.refs {
            let current = session
                .engine
                .image_id(&r.to_string())
                .await
                .map_err(|e| e.to_string())?;
            if current.as_deref() != Some(prev.id.as_str()) {
                session
                    .engine
                    .tag(&prev.id, r)
                    .await
                    .map_err(|e| e.to_string())?;
                retagged = true;
            }
        }
        let mut all_refs = prev.refs.clone();
        all_refs.extend(refs.iter().cloned());
        all_refs.sort();
        all_refs.dedup();
        let state = ImageState {
            fingerprint,
            id: prev.id.clone(),
            refs: all_refs,
            files,
        };
        store.save(&image.name, &state).map_err(|e| e.to_string())?;
        let kind = if retagged {
            EventKind::Retagged
        } else {
            EventKind::UpToDate
        };
        session.reporter.event(
            &Event::for_image(kind, image)
                .id(Some(prev.id.clone()))
                .duration(started.elapsed()),
        );
        let outcome = if retagged {
            Outcome::Retagged
        } else {
            Outcome::UpToDate
        };
        return Ok(ImageResult {
            image: index,
            outcome,
            id: Some(prev.id),
            duration: started.elapsed(),
            message: None,
            licenses: None,
        });
    }

    session
        .reporter
        .event(&Event::for_image(EventKind::BuildStarted, image));
    let log_path = logs.join(format!("{}.log", fingerprint::file_stem(&image.name)));
    let mut log = std::fs::File::create(&log_path)
        .map(std::io::BufWriter::new)
        .map_err(|e| format!("cannot write {}: {e}", log_path.display()))?;
    let request = BuildRequest {
        dockerfile: ctx.dockerfile_in_context.clone(),
        build_args: image.build_args.clone(),
        no_cache: opts.no_cache,
    };
    let label = image.label();
    let mut stream = Box::pin(session.engine.build(
        &request,
        context::tar_stream(ctx),
        Some(session.build_credentials().await),
    ));
    let mut id = None;
    let mut step = None::<String>;
    let mut error = None::<String>;
    while let Some(item) = stream.next().await {
        match item {
            Ok(BuildOutput::Line(line)) => {
                let _ = writeln!(log, "{line}");
                if line.starts_with("Step ") {
                    step = Some(line.clone());
                }
                if let Some(id) = line.trim_start().strip_prefix("---> Running in ") {
                    session
                        .step_containers
                        .lock()
                        .expect("containers")
                        .insert(index, id.trim().to_string());
                } else if line.starts_with("Removing intermediate container") {
                    session
                        .step_containers
                        .lock()
                        .expect("containers")
                        .remove(&index);
                }
                session.reporter.log(&image.name, &label, &line);
            }
            Ok(BuildOutput::ImageId(i)) => id = Some(i),
            Err(EngineError::Failed(m)) | Err(EngineError::Unreachable(m)) => {
                let _ = writeln!(log, "ERROR: {m}");
                session
                    .reporter
                    .log(&image.name, &label, &format!("ERROR: {m}"));
                error = Some(m);
                break;
            }
        }
    }
    drop(stream);
    session
        .step_containers
        .lock()
        .expect("containers")
        .remove(&index);
    let _ = log.flush();
    let log_hint = format!("full log: {}", session.ws.display_path(&log_path));
    let id = match (error, id) {
        (Some(m), _) => {
            store.forget(&image.name);
            let at = step.map(|s| format!(" at {s}")).unwrap_or_default();
            return Err(format!("build failed{at}: {m} ({log_hint})"));
        }
        (None, None) => {
            return Err(format!(
                "the engine finished the build without reporting an image id ({log_hint})"
            ));
        }
        (None, Some(id)) => id,
    };
    if !bases_complete {
        resolve_bases(&session.engine, &bases, &mut inputs.bases).await?;
        fingerprint = fingerprint::fingerprint(&inputs, &digest);
    }
    let (id, licenses) = match (&manifest.licenses, opts.pull_licenses) {
        (Some(spec), true) => {
            session
                .reporter
                .log(&image.name, &label, "gathering third-party licenses");
            let resolved = gather_licenses(&session.ws, manifest, Some((&session.engine, &id)))
                .await
                .map_err(|e| e.to_string())?;
            let final_id = add_licenses_layer(session, &id, &spec.dest, &resolved).await?;
            session.reporter.log(
                &image.name,
                &label,
                &format!(
                    "added {} license entries under {}",
                    resolved.len(),
                    spec.dest
                ),
            );
            (final_id, Some(resolved.len()))
        }
        _ => (id, None),
    };
    for r in &image.refs {
        session
            .engine
            .tag(&id, r)
            .await
            .map_err(|e| e.to_string())?;
    }
    let state = ImageState {
        fingerprint,
        id: id.clone(),
        refs,
        files,
    };
    store.save(&image.name, &state).map_err(|e| e.to_string())?;
    session.reporter.event(
        &Event::for_image(EventKind::BuildFinished, image)
            .id(Some(id.clone()))
            .duration(started.elapsed()),
    );
    Ok(ImageResult {
        image: index,
        outcome: Outcome::Built,
        id: Some(id),
        duration: started.elapsed(),
        message: None,
        licenses,
    })
}

/// The engine's id of each external base into `ids` (`absent` for one it does not hold);
/// whether every base was found.
async fn resolve_bases(
    engine: &Engine,
    bases: &[String],
    ids: &mut Vec<String>,
) -> std::result::Result<bool, String> {
    let mut complete = true;
    ids.clear();
    for base in bases {
        let id = match engine.image_id(base).await {
            Ok(Some(id)) => id,
            Err(e @ Error::Unreachable(_)) => return Err(e.to_string()),
            // Not in the engine, or a name the engine cannot parse: the build will say.
            Ok(None) | Err(_) => {
                complete = false;
                "absent".to_string()
            }
        };
        ids.push(id);
    }
    Ok(complete)
}

/// What the licenses of an image depend on besides the image itself: the `[licenses]` table,
/// the licenses folder (policy, overrides, texts), and the lock file the cargo gatherer resolves.
fn license_inputs(ws: &Workspace, manifest: &Manifest) -> Option<String> {
    let spec = manifest.licenses.as_ref()?;
    let mut paths = vec![ws.config.licenses_dir.clone(), ws.root.join("Cargo.lock")];
    for source in &spec.sources {
        if let LicenseSource::Cargo { manifest } = source {
            paths.push(manifest.clone());
        }
    }
    Some(format!(
        "{}:{:?}:{}",
        spec.dest,
        spec.sources,
        fingerprint::hash_paths(&paths)
    ))
}

/// Run every gatherer of the manifest's `[licenses]`, then overrides and policy. The
/// image-side gatherers read `image` (engine and image id); host-side ones need neither.
pub async fn gather_licenses(
    ws: &Arc<Workspace>,
    manifest: &Manifest,
    image: Option<(&Engine, &str)>,
) -> Result<Vec<licenses::Resolved>> {
    let spec = manifest
        .licenses
        .as_ref()
        .expect("the manifest has [licenses]");
    let mut gathered = licenses::Gathered::default();
    let (mut python, mut debian) = (false, false);
    for source in &spec.sources {
        match source {
            LicenseSource::Cargo { manifest } => {
                let (ws, manifest) = (ws.clone(), manifest.clone());
                let found =
                    tokio::task::spawn_blocking(move || licenses::gather_cargo(&ws, &manifest))
                        .await
                        .map_err(|e| Error::Failed(format!("license task failed: {e}")))??;
                gathered.merge(found);
            }
            LicenseSource::Python => python = true,
            LicenseSource::Debian => debian = true,
        }
    }
    if python || debian {
        let (engine, id) = image.ok_or_else(|| {
            Error::Failed("the python and debian license gatherers need a built image".into())
        })?;
        gathered.merge(licenses::gather_image(engine, id, python, debian).await?);
    }
    let dir = ws.config.licenses_dir.clone();
    tokio::task::spawn_blocking(move || licenses::check(gathered, &dir))
        .await
        .map_err(|e| Error::Failed(format!("license task failed: {e}")))?
}

/// Add the license layout to image `id` as one final layer; returns the new image's id.
async fn add_licenses_layer(
    session: &Session,
    id: &str,
    dest: &str,
    resolved: &[licenses::Resolved],
) -> std::result::Result<String, String> {
    const DOCKERFILE: &str = ".sdkimage.licenses.Dockerfile";
    let prefix = dest.trim_matches('/');
    let dockerfile = format!("FROM {id}\nCOPY {prefix} /{prefix}\n");
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_mtime(0);
    header.set_mode(0o644);
    header.set_size(dockerfile.len() as u64);
    header.set_entry_type(tar::EntryType::Regular);
    builder
        .append_data(&mut header, DOCKERFILE, dockerfile.as_bytes())
        .map_err(|e| e.to_string())?;
    licenses::append_to_tar(resolved, dest, &mut builder).map_err(|e| e.to_string())?;
    let body = builder.into_inner().map_err(|e| e.to_string())?;
    let request = BuildRequest {
        dockerfile: DOCKERFILE.to_string(),
        ..Default::default()
    };
    let context = futures_util::stream::once(async move { Ok(bytes::Bytes::from(body)) });
    let mut stream = Box::pin(session.engine.build(&request, context, None));
    let mut new_id = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(BuildOutput::ImageId(i)) => new_id = Some(i),
            Ok(BuildOutput::Line(_)) => {}
            Err(e) => return Err(format!("cannot add the licenses layer: {e}")),
        }
    }
    new_id.ok_or_else(|| "the engine reported no image id for the licenses layer".to_string())
}

/// A build arg's value as shown to people: masked when its name says it is a secret, since
/// dry runs and `dockerfile` output end up in CI logs.
pub fn shown_arg<'a>(name: &str, value: &'a str) -> &'a str {
    if looks_secret(name) { "***" } else { value }
}

/// Whether a build arg's name says it holds a secret. The name is cut into parts at `_`, `-`,
/// `.` and camelCase humps; it is secret when a part starts with `TOKEN`, `PASS`, `SECRET`,
/// `AUTH` or `CRED`, starts or ends with `KEY` or ends with `TOKEN`, or is `PAT`
/// (`NPM_AUTH`, `DB_PASS`, `GITHUB_PAT`, `PRIVATE_KEY`, `apiKey`; not `PATH`).
/// Masking more than needed costs a `***`; less leaks a credential into CI logs.
pub fn looks_secret(name: &str) -> bool {
    name_parts(name).iter().any(|part| {
        ["TOKEN", "PASS", "SECRET", "AUTH", "CRED"]
            .iter()
            .any(|p| part.starts_with(p))
            || part.starts_with("KEY")
            || part.ends_with("KEY")
            || part.ends_with("TOKEN")
            || part == "PAT"
    })
}

/// `npmAuthToken` -> NPM, AUTH, TOKEN; `DB_PASS` -> DB, PASS.
fn name_parts(name: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut part = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() {
            parts.push(std::mem::take(&mut part));
            previous_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && previous_lower {
            parts.push(std::mem::take(&mut part));
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        part.push(c.to_ascii_uppercase());
    }
    parts.push(part);
    parts.retain(|p| !p.is_empty());
    parts
}

/// One note per run when build args look like secrets: their values stay in the image's
/// history, where anyone who pulls it can read them.
pub fn secret_args_warning(plan: &BuildPlan, selection: &[usize]) -> Option<String> {
    let names: BTreeSet<&str> = selection
        .iter()
        .flat_map(|&i| plan.images[i].build_args.keys())
        .map(String::as_str)
        .filter(|k| looks_secret(k))
        .collect();
    if names.is_empty() {
        return None;
    }
    let names: Vec<&str> = names.into_iter().collect();
    Some(format!(
        "warning: build arg{} {} look{} like a secret; build args are recorded in the image (`docker history` shows them to anyone who pulls it); pass secrets as build secrets instead",
        if names.len() > 1 { "s" } else { "" },
        names.join(", "),
        if names.len() > 1 { "" } else { "s" },
    ))
}

/// `a b "c d"` for showing a command.
pub fn shell_words(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            if w.is_empty() || w.contains(|c: char| c.is_whitespace() || "\"'$`\\".contains(c)) {
                format!("'{}'", w.replace('\'', "'\\''"))
            } else {
                w.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_looking_build_args_are_masked_when_shown() {
        assert_eq!(shown_arg("GITHUB_TOKEN", "ghp_x"), "***");
        assert_eq!(shown_arg("npm_password", "x"), "***");
        assert_eq!(shown_arg("py_version", "3.11"), "3.11");
        for secret in [
            "NPM_AUTH",
            "DB_PASS",
            "GITHUB_PAT",
            "PRIVATE_KEY",
            "SSH_KEY",
            "apiKey",
            "npmAuthToken",
            "AWS_SECRET_ACCESS_KEY",
            "REGISTRY_CREDENTIALS",
            "PASSWORD",
        ] {
            assert!(looks_secret(secret), "{secret}");
        }
        for plain in [
            "PATH_PREFIX",
            "PATH",
            "py_version",
            "BASE_IMAGE",
            "MONTH",
            "PATTERN",
        ] {
            assert!(!looks_secret(plain), "{plain}");
        }
    }

    #[test]
    fn commands_are_shown_quoted() {
        let words = ["sh", "-c", "echo 'a b'", ""].map(String::from);
        assert_eq!(shell_words(&words), "sh -c 'echo '\\''a b'\\''' ''");
    }
}
