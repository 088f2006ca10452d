//! BuildKit through the engine (`POST /build?version=2`): the engine's own BuildKit, no buildx,
//! no extra daemon, no builder image. The context is streamed in the request body as for the
//! classic builder; BuildKit's status stream (`moby.buildkit.trace`: vertexes, their logs) is
//! turned into the same typed progress, in the shape of BuildKit's plain progress output:
//!
//! ```text
//! #3 [2/3] RUN make
//! #3 0.412 compiling ...
//! #3 DONE 1.2s
//! #4 [3/3] COPY --from=build /out /
//! #4 CACHED
//! ```
//!
//! Secrets are served by a session ([`super::session`]) whose id the request names.

use std::collections::HashMap;

use bollard::models::{BuildInfo, BuildInfoAux};
use bollard::query_parameters::{BuildImageOptions, BuilderVersion};
use bollard_stubs::moby::buildkit::v1::StatusResponse;

use super::{BuildFailure, BuildOutput, BuildRequest, EngineError};

/// The request's options for BuildKit.
pub(super) fn options(request: &BuildRequest) -> BuildImageOptions {
    let mut buildargs: std::collections::HashMap<String, String> =
        request.build_args.clone().into_iter().collect();
    // The engine's BuildKit (moby's builder-next) exports the inline cache exactly when this
    // build arg is true; it is no Dockerfile ARG, so no step's cache key changes.
    if request.inline_cache {
        buildargs.insert("BUILDKIT_INLINE_CACHE".into(), "1".into());
    }
    BuildImageOptions {
        dockerfile: request.dockerfile.clone(),
        t: None,
        nocache: request.no_cache,
        // Each entry a registry ref: the built-in frontend reads them as `type=registry`.
        cachefrom: (!request.cache_from.is_empty()).then(|| request.cache_from.clone()),
        buildargs: Some(buildargs),
        labels: Some(request.labels.clone().into_iter().collect()),
        platform: request.platform.clone().unwrap_or_default(),
        target: request.target.clone().unwrap_or_default(),
        version: BuilderVersion::BuilderBuildKit,
        session: request.session.clone(),
        // What the docker CLI sends when its session serves the context (`build_buildkit.go`).
        remote: request
            .context_from_session
            .then(|| "client-session".to_string()),
        ..Default::default()
    }
}

impl super::ReadStream for Trace {
    fn read(&mut self, info: BuildInfo, out: &mut super::Outputs) {
        match info.aux {
            Some(BuildInfoAux::BuildKit(status)) => self.read_status(&status, out),
            Some(BuildInfoAux::Default(aux)) => {
                out.extend(aux.id.map(|id| Ok(BuildOutput::ImageId(id))));
            }
            None => {}
        }
        if let Some(detail) = info.error_detail.and_then(|d| d.message) {
            out.push(Err(self.failure(EngineError::Failed(detail))));
        }
    }

    fn failure(&mut self, error: EngineError) -> BuildFailure {
        Trace::failure(self, error)
    }
}

/// What is known of BuildKit's vertexes (one per step), by digest.
#[derive(Default)]
pub(super) struct Trace {
    /// Digest -> its number in the output (`#3`), in order of appearance.
    numbers: HashMap<String, usize>,
    names: HashMap<String, String>,
    /// Vertexes whose start, end or cache hit was already reported.
    started: std::collections::HashSet<String>,
    ended: std::collections::HashSet<String>,
    /// Unfinished log text per vertex (a line may arrive in pieces).
    partial: HashMap<String, String>,
    /// The step that failed (its name), once one did.
    failed: Option<String>,
    /// The last step that started, for a failure the trace does not attribute.
    last_started: Option<String>,
}

type Out = Vec<Result<BuildOutput, BuildFailure>>;

impl Trace {
    fn number(&mut self, digest: &str) -> usize {
        let next = self.numbers.len() + 1;
        *self.numbers.entry(digest.to_string()).or_insert(next)
    }

    fn read_status(&mut self, status: &StatusResponse, out: &mut Out) {
        for v in &status.vertexes {
            let n = self.number(&v.digest);
            self.names.insert(v.digest.clone(), v.name.clone());
            let started = v.started.is_some() || v.cached || v.completed.is_some();
            if started && self.started.insert(v.digest.clone()) {
                // Internal vertexes (loading the Dockerfile, metadata) are not steps.
                let step = (v.name.starts_with('[') && !v.name.starts_with("[internal]"))
                    || v.name.starts_with("FROM");
                let line = format!("#{n} {}", v.name);
                if step {
                    self.last_started = Some(v.name.clone());
                    out.push(Ok(BuildOutput::Step(line)));
                } else {
                    out.push(Ok(BuildOutput::Line(line)));
                }
            }
            if v.completed.is_some() && self.ended.insert(v.digest.clone()) {
                self.flush(&v.digest, n, out);
                if !v.error.is_empty() {
                    // A cache source that cannot be read warms nothing; the build goes on, so
                    // a later failure is not this step's.
                    if !v.name.starts_with("importing cache manifest") {
                        self.failed = Some(v.name.clone());
                    }
                    out.push(Ok(BuildOutput::Line(format!("#{n} ERROR: {}", v.error))));
                } else if v.cached {
                    out.push(Ok(BuildOutput::Line(format!("#{n} CACHED"))));
                } else {
                    let took = match (&v.started, &v.completed) {
                        (Some(s), Some(c)) => {
                            let ms = (c.seconds - s.seconds) * 1000
                                + i64::from(c.nanos - s.nanos) / 1_000_000;
                            format!(" {:.1}s", ms.max(0) as f64 / 1000.0)
                        }
                        _ => String::new(),
                    };
                    out.push(Ok(BuildOutput::Line(format!("#{n} DONE{took}"))));
                }
            }
        }
        for log in &status.logs {
            let n = self.number(&log.vertex);
            let text = String::from_utf8_lossy(&log.msg);
            let partial = self.partial.entry(log.vertex.clone()).or_default();
            partial.push_str(&text);
            while let Some(pos) = partial.find('\n') {
                let line: String = partial.drain(..=pos).collect();
                let line = super::strip_ansi(line.trim_end_matches(['\n', '\r']));
                out.push(Ok(BuildOutput::Line(format!("#{n} {line}"))));
            }
        }
    }

    /// The rest of a vertex's log, when it ends without a newline.
    fn flush(&mut self, digest: &str, n: usize, out: &mut Out) {
        if let Some(rest) = self.partial.remove(digest)
            && !rest.is_empty()
        {
            out.push(Ok(BuildOutput::Line(format!(
                "#{n} {}",
                super::strip_ansi(&rest)
            ))));
        }
    }

    fn failure(&mut self, error: EngineError) -> BuildFailure {
        BuildFailure {
            step: self.failed.clone().or_else(|| self.last_started.clone()),
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_sources_and_the_inline_export_reach_the_request() {
        let request = BuildRequest {
            cache_from: vec!["localhost:5000/x:1".into()],
            inline_cache: true,
            ..Default::default()
        };
        let o = options(&request);
        assert_eq!(o.cachefrom, Some(vec!["localhost:5000/x:1".to_string()]));
        let args = o.buildargs.expect("build args");
        assert_eq!(
            args.get("BUILDKIT_INLINE_CACHE").map(String::as_str),
            Some("1")
        );
        let o = options(&BuildRequest::default());
        assert_eq!(o.cachefrom, None);
        assert!(
            !o.buildargs
                .expect("build args")
                .contains_key("BUILDKIT_INLINE_CACHE")
        );
    }

    #[test]
    fn an_unreadable_cache_source_is_not_the_failing_step() {
        use bollard_stubs::moby::buildkit::v1::Vertex;
        let done = Some(Default::default());
        let status = StatusResponse {
            vertexes: vec![
                Vertex {
                    digest: "a".into(),
                    name: "importing cache manifest from r/x:1".into(),
                    started: done,
                    completed: done,
                    error: "not found".into(),
                    ..Default::default()
                },
                Vertex {
                    digest: "b".into(),
                    name: "[2/2] RUN false".into(),
                    started: done,
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let mut trace = Trace::default();
        let mut out = Vec::new();
        trace.read_status(&status, &mut out);
        let failure = trace.failure(EngineError::Failed("exit code 1".into()));
        assert_eq!(failure.step.as_deref(), Some("[2/2] RUN false"));
    }
}
