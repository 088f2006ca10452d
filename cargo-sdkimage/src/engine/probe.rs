//! Throwaway containers that probe an image for `check`: its configuration, the files at paths
//! (stat through the archive API, no shell needed, the container never started) and programs
//! run with no network, their output captured.

use std::collections::HashMap;

use bollard::errors::Error as BollardError;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    AttachContainerOptions, ContainerArchiveInfoOptions, CreateContainerOptions,
    StartContainerOptions,
};
use futures_util::StreamExt;

use super::{Engine, EngineError, classify_error, error_text};

/// What `check` reads of an image's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    pub id: String,
    /// `ENTRYPOINT` (exec form as the engine stores it; empty: none).
    pub entrypoint: Vec<String>,
    /// `ENV`, `KEY=value` each.
    pub env: Vec<String>,
}

/// A path in a container, as the engine's archive API stats it (symlinks not followed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStat {
    /// Go's `os.FileMode`: permission bits below, type bits at the top.
    pub mode: u32,
    /// Where a symlink leads, resolved by the engine inside the container ("" otherwise).
    pub link_target: String,
}

/// Go's `os.ModeDir` and `os.ModeSymlink`, and the bits that make a file not regular.
const GO_MODE_DIR: u32 = 1 << 31;
const GO_MODE_SYMLINK: u32 = 1 << 27;
const GO_MODE_TYPE: u32 = GO_MODE_DIR
    | GO_MODE_SYMLINK
    | (1 << 25) // named pipe
    | (1 << 24) // socket
    | (1 << 26) // device
    | (1 << 21) // char device
    | (1 << 19); // irregular

impl PathStat {
    pub fn is_symlink(&self) -> bool {
        self.mode & GO_MODE_SYMLINK != 0
    }
    pub fn is_dir(&self) -> bool {
        self.mode & GO_MODE_DIR != 0
    }
    pub fn is_file(&self) -> bool {
        self.mode & GO_MODE_TYPE == 0
    }
    /// Any of the execute bits.
    pub fn is_executable(&self) -> bool {
        self.mode & 0o111 != 0
    }
    /// The permission bits.
    pub fn permissions(&self) -> u32 {
        self.mode & 0o7777
    }
}

/// What a program run in a probe container did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeOutput {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
    /// Both streams in the order they arrived.
    pub combined: String,
    /// Output beyond the cap was dropped.
    pub truncated: bool,
}

impl Engine {
    /// The configuration of a local image (by id or reference); `None` when the engine has no
    /// such image.
    pub async fn image_config(&self, image: &str) -> crate::Result<Option<ImageConfig>> {
        match self.docker.inspect_image(image).await {
            Ok(inspect) => {
                let config = inspect.config.unwrap_or_default();
                Ok(Some(ImageConfig {
                    id: inspect.id.unwrap_or_default(),
                    entrypoint: config.entrypoint.unwrap_or_default(),
                    env: config.env.unwrap_or_default(),
                }))
            }
            Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(self.classify(e)),
        }
    }

    /// Create (not start) a container of image `image_id` with no network (`--network none`),
    /// `entrypoint` and `cmd` replacing the image's, stdout and stderr attachable, `labels`.
    pub async fn create_probe_container(
        &self,
        image_id: &str,
        entrypoint: Vec<String>,
        cmd: Vec<String>,
        labels: &[(&str, &str)],
    ) -> Result<String, EngineError> {
        let body = ContainerCreateBody {
            image: Some(image_id.to_string()),
            entrypoint: Some(entrypoint),
            cmd: Some(cmd),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(false),
            network_disabled: Some(true),
            host_config: Some(HostConfig {
                network_mode: Some("none".to_string()),
                ..Default::default()
            }),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<HashMap<_, _>>(),
            ),
            ..Default::default()
        };
        self.docker
            .create_container(None::<CreateContainerOptions>, body)
            .await
            .map(|created| created.id)
            .map_err(|e| classify_error(e, &self.host))
    }

    /// Stat `path` in container `id` (started or not); `None` when nothing is there. Symlinks
    /// are not followed, but a link's target is resolved by the engine.
    pub async fn stat_path(&self, id: &str, path: &str) -> Result<Option<PathStat>, EngineError> {
        let options = ContainerArchiveInfoOptions {
            path: path.to_string(),
        };
        match self
            .docker
            .get_container_archive_info(id, Some(options))
            .await
        {
            Ok(stat) => Ok(Some(PathStat {
                mode: stat.file_mode,
                link_target: stat.link_target,
            })),
            // HEAD answers carry no body: 404 is "no such path" (or, rarely, no container).
            Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(classify_error(e, &self.host)),
        }
    }

    /// Start container `id`, collect what it prints (at most `cap` bytes of each stream) until
    /// it exits, and its exit code. The caller bounds the time and removes the container.
    pub async fn run_probe(&self, id: &str, cap: usize) -> Result<ProbeOutput, EngineError> {
        // Attached before the start, as `docker run` does: the stream carries everything. (With
        // `logs` too, the engine may replay what the stream also carries.)
        let options = AttachContainerOptions {
            stdout: true,
            stderr: true,
            stream: true,
            logs: false,
            ..Default::default()
        };
        let attached = self
            .docker
            .attach_container(id, Some(options))
            .await
            .map_err(|e| classify_error(e, &self.host))?;
        self.docker
            .start_container(id, None::<StartContainerOptions>)
            .await
            .map_err(|e| EngineError::Failed(error_text(&e)))?;
        let mut out = ProbeOutput::default();
        let mut stream = attached.output;
        while let Some(item) = stream.next().await {
            let item = item.map_err(|e| classify_error(e, &self.host))?;
            let (text, target) = match item {
                bollard::container::LogOutput::StdOut { message }
                | bollard::container::LogOutput::Console { message } => (message, &mut out.stdout),
                bollard::container::LogOutput::StdErr { message } => (message, &mut out.stderr),
                bollard::container::LogOutput::StdIn { .. } => continue,
            };
            let room = cap.saturating_sub(target.len());
            let text = String::from_utf8_lossy(&text);
            let kept = if text.len() > room {
                out.truncated = true;
                let mut end = room;
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                &text[..end]
            } else {
                &text[..]
            };
            target.push_str(kept);
            if out.combined.len() < 2 * cap {
                out.combined.push_str(kept);
            }
        }
        let mut wait = Box::pin(
            self.docker
                .wait_container(id, None::<bollard::query_parameters::WaitContainerOptions>),
        );
        out.exit_code = match wait.next().await {
            Some(Ok(r)) => r.status_code,
            // bollard reports a non-zero exit as an error carrying the code.
            Some(Err(BollardError::DockerContainerWaitError { code, .. })) => code,
            Some(Err(e)) => return Err(classify_error(e, &self.host)),
            None => {
                return Err(EngineError::Failed(
                    "the engine did not report how the container exited".into(),
                ));
            }
        };
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_file_modes() {
        let file = PathStat {
            mode: 0o755,
            link_target: String::new(),
        };
        assert!(file.is_file() && file.is_executable() && !file.is_dir());
        let dir = PathStat {
            mode: GO_MODE_DIR | 0o755,
            link_target: String::new(),
        };
        assert!(dir.is_dir() && !dir.is_file());
        let link = PathStat {
            mode: GO_MODE_SYMLINK | 0o777,
            link_target: "/bin/busybox".into(),
        };
        assert!(link.is_symlink() && !link.is_file());
        assert_eq!(link.permissions(), 0o777);
        let plain = PathStat {
            mode: 0o644,
            link_target: String::new(),
        };
        assert!(!plain.is_executable());
    }
}
