//! Blobs: `HEAD` to ask whether a repository has one, and uploads (`POST` an upload session,
//! then one `PUT` of the whole blob, streamed from its file: the monolithic upload every
//! Registry API v2 server serves, in two requests).

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use reqwest::{Method, StatusCode};

use super::{Access, RegistryClient};
use crate::error::{Error, Result};
use crate::registry::Failure;

/// How long one blob PUT may take: a layer of gigabytes to a distant registry.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Where the bytes of a blob come from.
#[derive(Debug, Clone, Copy)]
pub enum BlobSource<'a> {
    /// A file, streamed (a compressed layer).
    File(&'a Path),
    /// Small bytes in memory (a config).
    Bytes(&'a Bytes),
}

impl RegistryClient {
    /// Whether `repository` has blob `digest`.
    pub async fn has_blob(&self, repository: &str, digest: &str) -> Result<bool> {
        let url = format!("{}/v2/{repository}/blobs/{digest}", self.base);
        let head = self
            .retried(|| self.attempt(Method::HEAD, &url, repository, Access::Pull, None))
            .await;
        match head {
            Ok(_) => Ok(true),
            Err(Failure::NotFound(_)) => Ok(false),
            Err(f) => Err(self.error(f, &format!("cannot ask for {digest} in {repository}"))),
        }
    }

    /// Upload blob `digest` (`size` bytes from `source`) into `repository`. The registry checks
    /// the digest; a failed attempt starts a new upload session.
    pub async fn upload_blob(
        &self,
        repository: &str,
        digest: &str,
        size: u64,
        source: BlobSource<'_>,
    ) -> Result<()> {
        let start = format!("{}/v2/{repository}/blobs/uploads/", self.base);
        let uploaded = self
            .retried(|| async {
                let session = self
                    .attempt(Method::POST, &start, repository, Access::Push, None)
                    .await?;
                let location = session
                    .headers()
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .ok_or_else(|| {
                        Failure::Other("the registry opened no upload session (no Location)".into())
                    })?;
                let mut url = match location.starts_with('/') {
                    true => format!("{}{location}", self.base),
                    false => location.to_string(),
                };
                url.push(if url.contains('?') { '&' } else { '?' });
                url.push_str("digest=");
                url.push_str(digest);
                let response = self
                    .attempt_with(Method::PUT, &url, repository, Access::Push, |request| {
                        let request = request
                            .timeout(UPLOAD_TIMEOUT)
                            .header(CONTENT_TYPE, "application/octet-stream")
                            .header(CONTENT_LENGTH, size);
                        Ok(match source {
                            BlobSource::Bytes(bytes) => request.body(bytes.clone()),
                            BlobSource::File(path) => {
                                let file = std::fs::File::open(path).map_err(|e| {
                                    Failure::Other(format!("cannot read {}: {e}", path.display()))
                                })?;
                                request.body(reqwest::Body::from(tokio::fs::File::from_std(file)))
                            }
                        })
                    })
                    .await?;
                match response.status() {
                    StatusCode::CREATED | StatusCode::NO_CONTENT | StatusCode::OK => Ok(()),
                    other => Err(Failure::Other(format!(
                        "the registry answered the upload with HTTP {other}"
                    ))),
                }
            })
            .await;
        uploaded.map_err(|f| match f {
            Failure::Other(m) if m.starts_with("cannot read ") => Error::Failed(m),
            f => self.error(f, &format!("cannot upload {digest} into {repository}")),
        })
    }
}
