//! Blobs: what storing a small artifact (a signature image) needs besides manifests: check,
//! upload in one request (monolithic), read back checked against its digest.

use bytes::Bytes;
use reqwest::Method;

use super::{Access, RegistryClient, RegistryManifest, sha256_digest};
use crate::error::{Error, Result};
use crate::registry::Failure;

impl RegistryClient {
    /// Whether `repository` has blob `digest`.
    pub async fn has_blob(&self, repository: &str, digest: &str) -> Result<bool> {
        let url = format!("{}/v2/{repository}/blobs/{digest}", self.base);
        match self
            .retried(|| self.attempt(Method::HEAD, &url, repository, Access::Pull, None))
            .await
        {
            Ok(_) => Ok(true),
            Err(Failure::NotFound(_)) => Ok(false),
            Err(f) => Err(self.error(f, &format!("cannot read blob {digest} of {repository}"))),
        }
    }

    /// Store `bytes` as a blob of `repository` (nothing is sent when it is already there);
    /// its digest.
    pub async fn put_blob(&self, repository: &str, bytes: &[u8]) -> Result<String> {
        let digest = sha256_digest(bytes);
        if self.has_blob(repository, &digest).await? {
            return Ok(digest);
        }
        let what = format!("cannot upload blob {digest} to {repository}");
        let start = format!("{}/v2/{repository}/blobs/uploads/", self.base);
        let response = self
            .retried(|| self.attempt(Method::POST, &start, repository, Access::Push, None))
            .await
            .map_err(|f| self.error(f, &what))?;
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(|l| match l.starts_with('/') {
                true => format!("{}{l}", self.base),
                false => l.to_string(),
            })
            .ok_or_else(|| {
                Error::Failed(format!("{what}: the registry sent no upload location"))
            })?;
        let separator = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{separator}digest={digest}");
        let body = RegistryManifest {
            bytes: Bytes::copy_from_slice(bytes),
            media_type: "application/octet-stream".to_string(),
            digest: digest.clone(),
        };
        // An upload session is single-use: no retry of the PUT.
        self.attempt(Method::PUT, &url, repository, Access::Push, Some(&body))
            .await
            .map_err(|f| self.error(f, &what))?;
        Ok(digest)
    }

    /// Blob `digest` of `repository`, checked against it; `None` when it is not there.
    pub async fn get_blob(&self, repository: &str, digest: &str) -> Result<Option<Vec<u8>>> {
        let url = format!("{}/v2/{repository}/blobs/{digest}", self.base);
        let fetched = self
            .retried(|| async {
                let response = self
                    .attempt(Method::GET, &url, repository, Access::Pull, None)
                    .await?;
                response
                    .bytes()
                    .await
                    .map_err(|e| Failure::Connection(crate::error::chain(&e)))
            })
            .await;
        let bytes = match fetched {
            Ok(bytes) => bytes,
            Err(Failure::NotFound(_)) => return Ok(None),
            Err(f) => {
                return Err(self.error(f, &format!("cannot read blob {digest} of {repository}")));
            }
        };
        if sha256_digest(&bytes) != digest {
            return Err(Error::Failed(format!(
                "{}/{repository}: blob {digest} has other content than its digest says",
                self.registry
            )));
        }
        Ok(Some(bytes.to_vec()))
    }
}
