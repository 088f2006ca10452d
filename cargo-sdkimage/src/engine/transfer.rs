//! Images between engines: an image saved by its exact id on one engine (`GET /images/get`)
//! and loaded into another (`POST /images/load`), streamed through this process, never whole
//! in memory. Image ids are content digests, so the loaded image has the same id.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::api::{ByteStream, EngineApi};
use super::{Engine, EngineError, classify_error};

/// What one transfer moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Transferred {
    pub bytes: u64,
    pub duration: Duration,
}

impl Engine {
    /// Image `id` as `docker save` writes it, streamed.
    pub fn save_image(&self, id: &str) -> ByteStream {
        let host = self.host.clone();
        self.docker
            .export_images(&[id])
            .map(move |item| item.map_err(|e| classify_error(e, &host)))
            .boxed()
    }

    /// Load a `docker save` tar streamed from `body`. Whether the engine then holds the image is
    /// the caller's to check ([`transfer`] does).
    pub async fn load_image(&self, body: ByteStream) -> Result<(), EngineError> {
        let options = bollard::query_parameters::ImportImageOptions {
            quiet: true,
            ..Default::default()
        };
        let mut stream = Box::pin(self.docker.import_image_stream(options, body, None));
        while let Some(item) = stream.next().await {
            let info = match item {
                // `transfer` checks the loaded id: a lost line end is no lost image.
                Err(e) if super::is_trailing_line_end(&e) => break,
                item => item.map_err(|e| classify_error(e, &self.host))?,
            };
            if let Some(error) = info.error_detail.and_then(|d| d.message) {
                return Err(EngineError::Failed(error));
            }
        }
        Ok(())
    }
}

/// Copy image `id` from `from` to `to` (nothing when `to` has it already) and check that `to`
/// now has exactly that id.
pub async fn transfer(
    from: &dyn EngineApi,
    to: &dyn EngineApi,
    id: &str,
) -> crate::Result<Transferred> {
    if to.image_id(id).await?.as_deref() == Some(id) {
        return Ok(Transferred::default());
    }
    let started = Instant::now();
    let counted = Arc::new(AtomicU64::new(0));
    let counter = counted.clone();
    let body = from
        .save_image(id)
        .inspect(move |chunk| {
            if let Ok(bytes) = chunk {
                counter.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            }
        })
        .boxed();
    to.load_image(body).await.map_err(|e| match e {
        EngineError::Unreachable(m) => crate::Error::Unreachable(m),
        EngineError::Failed(m) => crate::Error::Failed(format!(
            "cannot move image {id} from {} to {}: {m}",
            from.host().host,
            to.host().host
        )),
    })?;
    match to.image_id(id).await? {
        Some(found) if found == id => Ok(Transferred {
            bytes: counted.load(Ordering::Relaxed),
            duration: started.elapsed(),
        }),
        other => Err(crate::Error::Failed(format!(
            "image {id} was loaded into {}, which then holds {} instead",
            to.host().host,
            other.unwrap_or_else(|| "nothing by that id".into())
        ))),
    }
}
