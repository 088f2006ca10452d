//! The classic builder (`POST /build`, version 1): its JSON stream turned into typed progress.
//!
//! What is read from the builder's text is read here and nowhere else: `Step N/M : ...` lines
//! start a step, `---> Running in <id>` names the container a step runs in, and `Removing
//! intermediate container` ends it. The stream stops that container when it is dropped
//! mid-step (a cancelled run): dropping the connection makes the engine cancel the build only
//! in its own time.

use bollard::Docker;
use bollard::models::{BuildInfo, BuildInfoAux};
use bollard::query_parameters::{BuildImageOptions, BuilderVersion};

use super::{BuildFailure, BuildOutput, BuildRequest, Engine, EngineError};

/// The request's options for the classic builder.
pub(super) fn options(request: &BuildRequest) -> BuildImageOptions {
    BuildImageOptions {
        dockerfile: request.dockerfile.clone(),
        t: None,
        rm: true,
        forcerm: true,
        nocache: request.no_cache,
        buildargs: Some(request.build_args.clone().into_iter().collect()),
        labels: Some(request.labels.clone().into_iter().collect()),
        version: BuilderVersion::BuilderV1,
        ..Default::default()
    }
}

/// How the classic builder's stream is read, for a build on `engine`.
pub(super) fn reader(engine: &Engine) -> impl super::ReadStream + use<> {
    Progress {
        partial: String::new(),
        step: None,
        container: StepContainer {
            docker: engine.docker.clone(),
            id: None,
        },
    }
}

impl super::ReadStream for Progress {
    fn read(&mut self, info: BuildInfo, out: &mut super::Outputs) {
        if let Some(text) = info.stream {
            self.partial.push_str(&text);
            while let Some(pos) = self.partial.find('\n') {
                let line: String = self.partial.drain(..=pos).collect();
                out.push(Ok(self.line(super::strip_ansi(line.trim_end()))));
            }
        }
        if let Some(detail) = info.error_detail.and_then(|d| d.message) {
            out.push(Err(self.failure(EngineError::Failed(detail))));
        }
        if let Some(BuildInfoAux::Default(aux)) = info.aux
            && let Some(id) = aux.id
        {
            out.push(Ok(BuildOutput::ImageId(id)));
        }
    }

    fn failure(&mut self, error: EngineError) -> BuildFailure {
        Progress::failure(self, error)
    }
}

/// What the stream has seen so far.
struct Progress {
    /// Text after the last newline.
    partial: String,
    /// The step running now (`Step 3/7 : RUN make`).
    step: Option<String>,
    container: StepContainer,
}

impl Progress {
    fn line(&mut self, line: String) -> BuildOutput {
        if let Some(id) = line.trim_start().strip_prefix("---> Running in ") {
            self.container.id = Some(id.trim().to_string());
        } else if line.starts_with("Removing intermediate container") {
            self.container.id = None;
        }
        if line.starts_with("Step ") {
            self.step = Some(line.clone());
            BuildOutput::Step(line)
        } else {
            BuildOutput::Line(line)
        }
    }

    fn failure(&mut self, error: EngineError) -> BuildFailure {
        // The engine removes a failed step's container itself (forcerm).
        self.container.id = None;
        BuildFailure {
            step: self.step.clone(),
            error,
        }
    }
}

/// The container the current step runs in: stopped and removed if the build is dropped while
/// the step runs (the removal is awaited before the process exits).
struct StepContainer {
    docker: Docker,
    id: Option<String>,
}

impl Drop for StepContainer {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let docker = self.docker.clone();
            crate::interrupt::defer_cleanup(async move {
                super::remove_container_with(&docker, &id).await;
            });
        }
    }
}
