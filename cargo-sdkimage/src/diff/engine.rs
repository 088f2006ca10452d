//! One side of a diff read from the local engine.

use super::ImageRead;
use crate::engine::Engine;
use crate::error::{Error, Result};

/// `text` from the engine; `None` when the engine holds no such image.
pub async fn read(engine: &Engine, text: &str) -> Result<Option<ImageRead>> {
    match engine.image_id(text).await? {
        None => Ok(None),
        Some(_) => Err(Error::Failed(format!(
            "{text} is in the engine, and reading images from the engine is not there yet: read it from its registry with --a-from/--b-from registry"
        ))),
    }
}
