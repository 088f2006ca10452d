//! Containers that are created and never started: made from an image to read its filesystem
//! (an export), then removed.

use std::collections::HashMap;

use bollard::errors::Error as BollardError;
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptions, DownloadFromContainerOptionsBuilder, RemoveContainerOptions,
};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::{Engine, EngineError, error_text};

impl Engine {
    /// Create (never start) a container of image `image_id` running `command`, with no network
    /// and `labels`; its id. An image without a shell or default command can still be created.
    /// The error is the engine's message.
    pub async fn create_scan_container(
        &self,
        image_id: &str,
        command: &str,
        labels: &[(&str, &str)],
    ) -> Result<String, EngineError> {
        let body = ContainerCreateBody {
            image: Some(image_id.to_string()),
            cmd: Some(vec![command.to_string()]),
            network_disabled: Some(true),
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
            .map_err(|e| EngineError::Failed(error_text(&e)))
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
