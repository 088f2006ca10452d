//! Pulling an image through the engine (`POST /images/create`), and what the engine knows of
//! where a local image came from (its id and registry digests). Used for the external bases of
//! a build: an engine pull puts the image in the engine's own store, where builds (both
//! builders) and `docker image ls` find it, unlike a base BuildKit fetches by itself.

use bollard::errors::Error as BollardError;
use futures_util::StreamExt;

use super::{Engine, EngineError, auth, classify_error};
use crate::dockerconfig::RegistryAuth;
use crate::error::Result;

/// A local image: its id and its `RepoDigests` (`repository@sha256:...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalImage {
    pub id: String,
    pub repo_digests: Vec<String>,
}

impl Engine {
    /// Pull `reference` (`name[:tag][@digest]`; no tag and no digest is `latest`, never every
    /// tag) for `platform` (`os/arch[/variant]`), with `credentials` as `X-Registry-Auth`.
    /// Returns the digest the engine reports having pulled, when it says one.
    pub async fn pull(
        &self,
        reference: &str,
        platform: Option<&str>,
        credentials: Option<RegistryAuth>,
    ) -> std::result::Result<Option<String>, EngineError> {
        let named = reference.contains('@')
            || reference
                .rsplit('/')
                .next()
                .is_some_and(|last| last.contains(':'));
        let options = bollard::query_parameters::CreateImageOptions {
            from_image: Some(reference.to_string()),
            // The API pulls every tag of a name given without one.
            tag: (!named).then(|| "latest".to_string()),
            platform: platform.unwrap_or_default().to_string(),
            ..Default::default()
        };
        let mut stream =
            self.docker
                .create_image(Some(options), None, credentials.map(auth::to_bollard));
        let mut digest = None;
        while let Some(item) = stream.next().await {
            let info = match item {
                Ok(info) => info,
                Err(e) if digest.is_some() && super::is_trailing_line_end(&e) => break,
                Err(e) => return Err(classify_error(e, &self.host)),
            };
            if let Some(found) = info
                .status
                .as_deref()
                .and_then(|s| s.strip_prefix("Digest: "))
            {
                digest = Some(found.trim().to_string());
            }
        }
        Ok(digest)
    }

    /// The id and registry digests of a local image (by reference or id); `None` when the
    /// engine has no such image.
    pub async fn local_image(&self, image: &str) -> Result<Option<LocalImage>> {
        match self.docker.inspect_image(image).await {
            Ok(inspect) => Ok(inspect.id.map(|id| LocalImage {
                id,
                repo_digests: inspect.repo_digests.unwrap_or_default(),
            })),
            Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(self.classify(e)),
        }
    }
}
