//! Blobs: `HEAD` to ask whether a repository has one, uploads (`POST` an upload session,
//! then one `PUT` of the whole blob, streamed from its file: the monolithic upload every
//! Registry API v2 server serves, in two requests; or, for a file above the threshold of
//! `chunked.rs`, one `PATCH` per chunk and a closing `PUT`, falling back to one `PUT` when the
//! registry refuses chunks), and small blobs (a signature image's) stored (`read_blob.rs`
//! reads them back).

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, HeaderMap, LOCATION};
use reqwest::{Method, StatusCode};
use tokio_util::io::ReaderStream;

use super::chunked;
use super::{Access, RegistryClient, sha256_digest};
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

/// How a blob went up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upload {
    /// In one `PUT`.
    Monolithic,
    /// In chunks: this many `PATCH`es, then a `PUT` with the digest.
    Chunked { patches: u64 },
}

/// `path` opened for an upload's body, from byte `offset`.
fn open(path: &Path, offset: u64) -> std::result::Result<tokio::fs::File, Failure> {
    use std::io::{Seek, SeekFrom};
    let file = std::fs::File::open(path)
        .and_then(|mut f| f.seek(SeekFrom::Start(offset)).map(|_| f))
        .map_err(|e| Failure::Other(format!("cannot read {}: {e}", path.display())))?;
    Ok(tokio::fs::File::from_std(file))
}

impl RegistryClient {
    /// Whether `repository` has blob `digest`. Asked with push access: it comes before an
    /// upload, which then reuses the same token, and a refusal names the push.
    pub async fn has_blob(&self, repository: &str, digest: &str) -> Result<bool> {
        let url = format!("{}/v2/{repository}/blobs/{digest}", self.base);
        let head = self
            .retried(|| self.attempt(Method::HEAD, &url, repository, Access::Push, None))
            .await;
        match head {
            Ok(_) => Ok(true),
            Err(Failure::NotFound(_)) => Ok(false),
            Err(f) => Err(self.error(f, &format!("cannot ask for {digest} in {repository}"))),
        }
    }

    /// Upload blob `digest` (`size` bytes from `source`) into `repository`: a file larger
    /// than the client's [`UploadPolicy`] threshold in chunks ([`Self::upload_chunked`]),
    /// unless this registry refused chunks before; anything else, or after a refusal, in one
    /// `PUT`. The registry checks the digest; a failed attempt starts a new upload session.
    pub async fn upload_blob(
        &self,
        repository: &str,
        digest: &str,
        size: u64,
        source: BlobSource<'_>,
    ) -> Result<Upload> {
        if let BlobSource::File(path) = source
            && self.upload.chunked(size)
            && !self.chunks_refused.load(Ordering::Relaxed)
        {
            match self.upload_chunked(repository, digest, size, path).await? {
                Some(patches) => return Ok(Upload::Chunked { patches }),
                None => self.chunks_refused.store(true, Ordering::Relaxed),
            }
        }
        self.upload_monolithic(repository, digest, size, source)
            .await?;
        Ok(Upload::Monolithic)
    }

    /// `POST` an upload session: its URL and the registry's `OCI-Chunk-Min-Length`.
    async fn open_session(
        &self,
        repository: &str,
    ) -> std::result::Result<(String, Option<u64>), Failure> {
        let start = format!("{}/v2/{repository}/blobs/uploads/", self.base);
        let session = self
            .attempt(Method::POST, &start, repository, Access::Push, None)
            .await?;
        let url = self.location(session.headers())?;
        Ok((url, chunked::min_chunk_length(session.headers())))
    }

    /// The absolute URL of a response's `Location` (an upload session's next request).
    fn location(&self, headers: &HeaderMap) -> std::result::Result<String, Failure> {
        let location = headers
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .ok_or_else(|| {
                Failure::Other("the registry opened no upload session (no Location)".into())
            })?;
        Ok(match location.starts_with('/') {
            true => format!("{}{location}", self.base),
            false => location.to_string(),
        })
    }

    async fn upload_monolithic(
        &self,
        repository: &str,
        digest: &str,
        size: u64,
        source: BlobSource<'_>,
    ) -> Result<()> {
        let uploaded = self
            .retried(|| async {
                let (mut url, _) = self.open_session(repository).await?;
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
                                request.body(reqwest::Body::from(open(path, 0)?))
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
        uploaded.map_err(|f| self.upload_error(f, digest, repository))
    }

    /// The file `path` uploaded in chunks: a session, one `PATCH` per chunk (`Content-Range`,
    /// each answered with the `Range` the registry then holds, which must be the bytes sent so
    /// far, and the `Location` of the next request), then a `PUT` with the digest and no body.
    /// The number of `PATCH`es; `None` when the registry refused the first chunk (a client
    /// error other than 401/403/404/429, or a `Range` that is not what was sent): the session
    /// is cancelled, and the caller uploads in one piece.
    async fn upload_chunked(
        &self,
        repository: &str,
        digest: &str,
        size: u64,
        path: &Path,
    ) -> Result<Option<u64>> {
        let uploaded = self
            .retried(|| async {
                let (mut url, min) = self.open_session(repository).await?;
                let length = self.upload.chunk_length(min);
                let mut patches = 0;
                for (offset, len) in chunked::chunks(size, length) {
                    let sent = self
                        .attempt_with(Method::PATCH, &url, repository, Access::Push, |request| {
                            let body = tokio::io::AsyncReadExt::take(open(path, offset)?, len);
                            Ok(request
                                .timeout(UPLOAD_TIMEOUT)
                                .header(CONTENT_TYPE, "application/octet-stream")
                                .header(CONTENT_LENGTH, len)
                                .header(CONTENT_RANGE, chunked::content_range(offset, len))
                                .body(reqwest::Body::wrap_stream(ReaderStream::new(body))))
                        })
                        .await;
                    let refused = match &sent {
                        Err(Failure::Other(_)) => true,
                        Ok(response) => chunked::received(response.headers()) != Some(offset + len),
                        Err(_) => false,
                    };
                    if refused && patches == 0 {
                        // Best effort: an abandoned upload session expires on its own.
                        let _ = self
                            .attempt(Method::DELETE, &url, repository, Access::Push, None)
                            .await;
                        return Ok(None);
                    }
                    let response = sent?;
                    if refused {
                        return Err(Failure::Other(format!(
                            "the registry holds {:?} bytes of the upload after chunk {}, not {}",
                            chunked::received(response.headers()),
                            chunked::content_range(offset, len),
                            offset + len
                        )));
                    }
                    patches += 1;
                    url = self.location(response.headers())?;
                }
                url.push(if url.contains('?') { '&' } else { '?' });
                url.push_str("digest=");
                url.push_str(digest);
                self.attempt_with(Method::PUT, &url, repository, Access::Push, |request| {
                    Ok(request
                        .header(CONTENT_TYPE, "application/octet-stream")
                        .header(CONTENT_LENGTH, 0))
                })
                .await?;
                Ok(Some(patches))
            })
            .await;
        uploaded.map_err(|f| self.upload_error(f, digest, repository))
    }

    fn upload_error(&self, failure: Failure, digest: &str, repository: &str) -> Error {
        match failure {
            Failure::Other(m) if m.starts_with("cannot read ") => Error::Failed(m),
            f => self.error(f, &format!("cannot upload {digest} into {repository}")),
        }
    }

    /// Store `bytes` as a blob of `repository` (nothing is sent when it is already there);
    /// its digest.
    pub async fn put_blob(&self, repository: &str, bytes: &[u8]) -> Result<String> {
        let digest = sha256_digest(bytes);
        if !self.has_blob(repository, &digest).await? {
            let body = Bytes::copy_from_slice(bytes);
            let size = body.len() as u64;
            self.upload_blob(repository, &digest, size, BlobSource::Bytes(&body))
                .await?;
        }
        Ok(digest)
    }
}
