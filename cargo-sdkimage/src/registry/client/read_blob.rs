//! Reading blobs (configs, layers, signatures): `GET /v2/<repository>/blobs/<digest>`. One
//! request for both readers (authorization, the registry's redirects, retries, errors): a
//! layer is streamed ([`RegistryClient::blob_stream`], its body never held whole in memory,
//! the caller checks the content), a small blob is read whole, capped and checked against
//! its digest ([`RegistryClient::blob_bytes`]). A child of `client.rs` so it shares its
//! authorization and retries.

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt as _, TryStreamExt as _};
use reqwest::{Method, Response};
use sha2::{Digest as _, Sha384, Sha512};

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
        let response = self
            .retried(|| self.blob_response(repository, digest))
            .await;
        match response {
            Ok(response) => Ok(Some(
                response
                    .bytes_stream()
                    .map_err(|e| std::io::Error::other(crate::error::chain(&e)))
                    .boxed(),
            )),
            Err(Failure::NotFound(_)) => Ok(None),
            Err(f) => Err(self.blob_error(f, repository, digest)),
        }
    }

    /// A small blob (an image config, a signature or attestation layer) whole, at most `limit`
    /// bytes, checked against its digest; `None` when the registry has no such blob there.
    /// A body that breaks is read again from the start, under the retry policy.
    pub async fn blob_bytes(
        &self,
        repository: &str,
        digest: &str,
        limit: usize,
    ) -> Result<Option<Vec<u8>>> {
        crate::reference::check_digest(digest).map_err(|e| {
            Error::Failed(format!(
                "cannot read a blob of {repository} on {}: {e}",
                self.registry
            ))
        })?;
        let fetched = self
            .retried(|| async {
                let response = self.blob_response(repository, digest).await?;
                read_capped(response, limit).await
            })
            .await;
        let bytes = match fetched {
            Ok(bytes) => bytes,
            Err(Failure::NotFound(_)) => return Ok(None),
            Err(f) => return Err(self.blob_error(f, repository, digest)),
        };
        let computed = digest_of(digest, &bytes);
        if computed != digest {
            return Err(Error::Failed(format!(
                "blob {digest} of {repository} on {} hashes to {computed}",
                self.registry
            )));
        }
        Ok(Some(bytes))
    }

    /// One try of the `GET`: the response once its status is a success.
    async fn blob_response(
        &self,
        repository: &str,
        digest: &str,
    ) -> std::result::Result<Response, Failure> {
        let url = format!("{}/v2/{repository}/blobs/{digest}", self.base);
        self.attempt(Method::GET, &url, repository, Access::Pull, None)
            .await
    }

    fn blob_error(&self, failure: Failure, repository: &str, digest: &str) -> Error {
        self.error(
            failure,
            &format!("cannot read blob {digest} of {repository}"),
        )
    }
}

/// The whole body, refused (not retried) once it passes `limit` bytes, or before reading
/// when its announced length does; a body that breaks is a connection failure (retried).
async fn read_capped(response: Response, limit: usize) -> std::result::Result<Vec<u8>, Failure> {
    let too_large = || Failure::Other(format!("the blob is larger than {limit} bytes"));
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(too_large());
    }
    let mut stream = response.bytes_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Failure::Connection(crate::error::chain(&e)))?;
        if bytes.len() + chunk.len() > limit {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// `bytes`' digest in the algorithm of `digest` (one that `check_digest` accepts).
fn digest_of(digest: &str, bytes: &[u8]) -> String {
    match digest.split_once(':').map(|(algorithm, _)| algorithm) {
        Some("sha384") => format!("sha384:{}", hex::encode(Sha384::digest(bytes))),
        Some("sha512") => format!("sha512:{}", hex::encode(Sha512::digest(bytes))),
        _ => super::sha256_digest(bytes),
    }
}
