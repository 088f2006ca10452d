//! Containers made for a moment from an image (a license scan reads its filesystem, a
//! contract check runs a program in it), never networked, then removed: [`Throwaway`].

use std::collections::HashMap;

use bollard::errors::Error as BollardError;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, DownloadFromContainerOptionsBuilder, RemoveContainerOptions,
};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::{Engine, EngineError, classify_error, error_text};

impl Engine {
    /// Create (not start) a container of image `image_id` with no network (`--network none`),
    /// `entrypoint` (`None`: the image's) and `cmd` replacing the image's, stdout and stderr
    /// attachable, and `labels`. An image without a shell or default command can still be
    /// created.
    pub async fn create_throwaway(
        &self,
        image_id: &str,
        entrypoint: Option<Vec<String>>,
        cmd: Vec<String>,
        labels: &[(&str, &str)],
    ) -> Result<Throwaway, EngineError> {
        let body = ContainerCreateBody {
            image: Some(image_id.to_string()),
            entrypoint,
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
        let id = self
            .docker
            .create_container(None::<CreateContainerOptions>, body)
            .await
            .map(|created| created.id)
            .map_err(|e| classify_error(e, &self.host))?;
        Ok(Throwaway {
            engine: self.clone(),
            id,
            removed: false,
        })
    }

    /// The filesystem of container `id` as a tar stream (`GET /containers/{id}/export`); an
    /// error item carries the engine's message.
    pub fn export_container<'a>(
        &'a self,
        id: &'a str,
    ) -> impl Stream<Item = Result<Bytes, EngineError>> + Send + 'a {
        self.docker
            .export_container(id)
            .map(|item| item.map_err(|e| EngineError::Failed(error_text(&e))))
    }

    /// The tar archive the engine makes of `path` in container `id` (`GET
    /// /containers/{id}/archive`, as `docker cp` reads it); `Ok(None)` when there is no such
    /// path. More than `cap` bytes is an error.
    pub async fn archive_of(
        &self,
        id: &str,
        path: &str,
        cap: usize,
    ) -> Result<Option<Vec<u8>>, EngineError> {
        let options = DownloadFromContainerOptionsBuilder::new()
            .path(path)
            .build();
        let mut stream = Box::pin(self.docker.download_from_container(id, Some(options)));
        let mut archive = Vec::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => archive.extend_from_slice(&bytes),
                Err(BollardError::DockerResponseServerError {
                    status_code: 404, ..
                }) => return Ok(None),
                Err(e) => return Err(EngineError::Failed(error_text(&e))),
            }
            if archive.len() > cap {
                return Err(EngineError::Failed(format!(
                    "{path} in container {id} is larger than {cap} bytes"
                )));
            }
        }
        Ok(Some(archive))
    }

    /// Remove container `id` (forced, with its volumes) and report how that went, without
    /// the time limit of the best-effort [`Engine::remove_container`].
    pub async fn remove_container_checked(&self, id: &str) -> Result<(), EngineError> {
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            link: false,
        };
        self.docker
            .remove_container(id, Some(options))
            .await
            .map_err(|e| EngineError::Failed(error_text(&e)))
    }
}

/// A container made for a moment; removed by [`Throwaway::remove`], or in the background when
/// dropped (a cancelled run), before the process exits.
pub struct Throwaway {
    engine: Engine,
    id: String,
    removed: bool,
}

impl Throwaway {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub async fn remove(mut self) -> Result<(), EngineError> {
        self.removed = true;
        self.engine.remove_container_checked(&self.id).await
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        let engine = self.engine.clone();
        let id = std::mem::take(&mut self.id);
        crate::interrupt::defer_cleanup(async move {
            let _ = engine.remove_container_checked(&id).await;
        });
    }
}
