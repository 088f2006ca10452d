//! One platform built through the engine, untagged: the build session (secrets, credentials,
//! the context's file sync) or the context as a tar, the progress into the log and the events,
//! a failure told in the user's terms (a Dockerfile's line, a changed context file, emulation).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::Ordering;

use futures_util::StreamExt;

use super::{ImageJob, Sources, Variant};
use crate::context;
use crate::engine::SyncedContext;
use crate::engine::session::BuildSession;
use crate::engine::{BuildOutput, BuildRequest, Builder};
use crate::error::{Error, Result};
use crate::fingerprint;
use crate::output::{BuildLog, Event, event};
use crate::platform::Platform;
use crate::run::BuildOptions;

impl ImageJob<'_> {
    /// Build through the engine, untagged; the full log goes to `logs/<image>.log`.
    pub(super) async fn build(
        &self,
        v: &Variant,
        logs: &Path,
        sources: &Sources,
        platform_args: BTreeMap<String, String>,
        labels: BTreeMap<String, String>,
        opts: &BuildOptions,
    ) -> Result<String> {
        let session = self.session;
        let image = self.image;
        if !self.announced.swap(true, Ordering::SeqCst) {
            session
                .reporter
                .event(&Event::BuildStarted(event::BuildStarted {
                    subject: image.subject(),
                    engine: self.engine_name.map(str::to_string),
                }));
        }
        let log_path = logs.join(format!("{}.log", fingerprint::file_stem(&v.state_key)));
        let mut log = std::fs::File::create(&log_path)
            .map(std::io::BufWriter::new)
            .map_err(|e| Error::io(format!("cannot write {}", log_path.display()), e))?;
        let mut build_args = image.build_args.clone();
        build_args.extend(platform_args);
        let credentials = session.build_credentials().await;
        let ctx = &sources.ctx;
        // A BuildKit build calls back for registry credentials, secrets and the files of its
        // context through a session of ours, open for the time of the build.
        let build_session = match self.builder() {
            Builder::Classic => None,
            Builder::BuildKit => {
                let specs = crate::run::secret_specs(&session.plan, self.index, &opts.secrets)?;
                let secrets = crate::engine::session::load_all(&specs)?;
                let auths = crate::engine::registry_auths(&credentials);
                let folder = &session.plan.manifest_of(self.index).context;
                let synced = SyncedContext::new(
                    ctx.clone(),
                    sources.files.clone(),
                    sources.hashed_at,
                    folder,
                    &image.name,
                )
                .only(sources.only.clone());
                let host = self.engine.host();
                match BuildSession::start_with_context(host, secrets, auths, synced).await {
                    Ok(s) => Some(s),
                    // An engine the session cannot reach (TLS): builds without secrets still
                    // run, pulling what needs no credentials.
                    Err(Error::Usage(_)) if specs.is_empty() => None,
                    Err(e) => return Err(e),
                }
            }
        };
        let cache = self.cache(opts);
        // Without a session (an engine reached over TLS) the context goes as a tar.
        let from_session = build_session.is_some();
        let request = BuildRequest {
            builder: self.builder(),
            dockerfile: match from_session {
                true => ctx.dockerfile_name(),
                false => ctx.dockerfile_in_context.clone(),
            },
            context_from_session: from_session,
            build_args,
            no_cache: opts.no_cache,
            credentials: Some(credentials),
            // BuildKit fills the platform args of `FROM` lines only for a platform it is given:
            // the engine's own when the image names none.
            platform: match self.builder() {
                Builder::BuildKit => {
                    Some(v.platform.as_ref().unwrap_or(&session.native).to_string())
                }
                Builder::Classic => None,
            },
            target: image.target.clone(),
            session: build_session.as_ref().map(|s| s.id().to_string()),
            // --no-cache uses no cache, so none is fetched.
            cache_from: match opts.no_cache {
                true => Vec::new(),
                false => cache.from,
            },
            inline_cache: cache.inline,
            labels,
            raw_stream: opts.raw_stream,
        };
        let label = match (&v.platform, v.carries_refs) {
            (Some(p), false) => format!("{} {p}", image.label()),
            _ => image.label(),
        };
        let body = match from_session {
            true => futures_util::stream::empty().left_stream(),
            false => context::tar_stream(ctx.clone()).right_stream(),
        };
        let mut stream = Box::pin(self.engine.build(&request, Box::pin(body)));
        let mut id = None;
        let mut failure = None;
        while let Some(item) = stream.next().await {
            let line = match item {
                Ok(BuildOutput::Step(line)) => {
                    session
                        .reporter
                        .build_log(&image.name, &label, BuildLog::Step(&line));
                    line
                }
                Ok(BuildOutput::Line(line)) => {
                    session
                        .reporter
                        .build_log(&image.name, &label, BuildLog::Output(&line));
                    line
                }
                Ok(BuildOutput::ImageId(i)) => {
                    id = Some(i);
                    continue;
                }
                Err(f) => {
                    let line = format!("ERROR: {}", f.error);
                    session
                        .reporter
                        .build_log(&image.name, &label, BuildLog::Output(&line));
                    let _ = writeln!(log, "{line}");
                    failure = Some(f);
                    break;
                }
            };
            let _ = writeln!(log, "{line}");
        }
        drop(stream);
        // A context file that changed while it was sent: the engine only says the transfer
        // failed; our own error names the file.
        let sync_failure = build_session.as_ref().and_then(|s| s.take_sync_failure());
        if let Some(s) = build_session {
            s.close().await;
        }
        let _ = log.flush();
        let log_hint = format!("full log: {}", session.ws.display_path(&log_path));
        match (failure, id) {
            (Some(_), _) if let Some(e) = sync_failure => {
                self.store.forget(&v.state_key);
                if matches!(e, crate::context::ContextError::NotSelected { .. }) {
                    let state_dir = session.ws.state_dir();
                    let dockerfile = &sources.dockerfile;
                    crate::run::selection::remember_whole(
                        session,
                        self.engine,
                        self.index,
                        dockerfile,
                    )
                    .await
                    .map_err(|e| {
                        Error::io(format!("cannot write under {}", state_dir.display()), e)
                    })?;
                }
                Err(Error::Failed(format!("build failed: {e} ({log_hint})")))
            }
            (Some(f), _) => {
                self.store.forget(&v.state_key);
                let manifest = session.plan.manifest_of(self.index);
                if let Some(parse) = dockerfile_parse_error(&f.error.to_string()) {
                    return Err(Error::Failed(format!(
                        "{}:{parse} ({log_hint})",
                        session.ws.display_path(
                            &image.dockerfile_path(manifest, &session.ws.state_dir())
                        )
                    )));
                }
                let at = f.step.map(|s| format!(" at {s}")).unwrap_or_default();
                let hint = emulation_hint(&f.error.to_string(), v.platform.as_ref());
                Err(Error::Failed(format!(
                    "build failed{at}: {}{hint} ({log_hint})",
                    f.error
                )))
            }
            (None, None) => Err(Error::Failed(format!(
                "the engine finished the build without reporting an image id ({log_hint})"
            ))),
            (None, Some(id)) => Ok(id),
        }
    }
}

/// BuildKit's `dockerfile parse error line N: reason` as `N: reason`, with what to do when the
/// syntax is newer than the engine's built-in frontend.
fn dockerfile_parse_error(error: &str) -> Option<String> {
    let rest = &error
        [error.find("dockerfile parse error line ")? + "dockerfile parse error line ".len()..];
    let (line, reason) = rest.split_once(':')?;
    let line: usize = line.trim().parse().ok()?;
    let reason = reason.trim();
    let newer = reason.contains("Unknown flag: link")
        || reason.starts_with("unknown instruction")
        || reason.contains("heredoc");
    let hint = if newer {
        "; the engine's built-in Dockerfile frontend does not know this syntax (heredocs and `COPY --link` need a newer engine, or a `# syntax=` frontend image the engine can pull)"
    } else {
        ""
    };
    Some(format!("{line}: {reason}{hint}"))
}

/// A step that could not start its program on a foreign platform: the engine's host has no
/// emulation for it.
fn emulation_hint(error: &str, platform: Option<&Platform>) -> String {
    match platform {
        Some(p) if error.contains("exec format error") => format!(
            "; the engine's host cannot run {p} programs: install qemu-user-static there (Debian: `apt-get install qemu-user-static binfmt-support`) to build {p} images with RUN steps"
        ),
        _ => String::new(),
    }
}
