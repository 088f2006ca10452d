//! Reading blobs (configs, layers) as streams: `GET /v2/<repository>/blobs/<digest>`, its
//! body never held whole in memory. A child of `client.rs` so it shares its authorization
//! and retries.

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt as _, TryStreamExt as _};
use reqwest::Method;

use super::{Access, Failure, RegistryClient};
use crate::error::{Error, Result};

impl RegistryClient {
    /// The content of blob `digest` in `repository`, streamed; `None` when the registry has no
    /// such blob there. Retried until the response starts; a body that breaks later is an I/O
    /// error of the stream. The caller checks the content against `digest`.
    pub async fn blob_stream(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<Option<BoxStream<'static, std::io::Result<Bytes>>>> {
        let url = format!("{}/v2/{repository}/blobs/{digest}", self.base);
        let response = self
            .retried(|| self.attempt(Method::GET, &url, repository, Access::Pull, None))
            .await;
        match response {
            Ok(response) => Ok(Some(
                response
                    .bytes_stream()
                    .map_err(|e| std::io::Error::other(crate::error::chain(&e)))
                    .boxed(),
            )),
            Err(Failure::NotFound(_)) => Ok(None),
            Err(f) => Err(self.error(f, &format!("cannot read blob {digest} of {repository}"))),
        }
    }

    /// A small blob (an image config) whole, checked against its digest; at most `limit`
    /// bytes.
    pub async fn blob_bytes(
        &self,
        repository: &str,
        digest: &str,
        limit: usize,
    ) -> Result<Option<Vec<u8>>> {
        let Some(mut stream) = self.blob_stream(repository, digest).await? else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                Error::Failed(format!(
                    "cannot read blob {digest} of {repository} on {}: {e}",
                    self.registry
                ))
            })?;
            if bytes.len() + chunk.len() > limit {
                return Err(Error::Failed(format!(
                    "blob {digest} of {repository} on {} is larger than {limit} bytes",
                    self.registry
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        let computed = super::sha256_digest(&bytes);
        if digest.starts_with("sha256:") && computed != digest {
            return Err(Error::Failed(format!(
                "blob {digest} of {repository} on {} hashes to {computed}",
                self.registry
            )));
        }
        Ok(Some(bytes))
    }
}
