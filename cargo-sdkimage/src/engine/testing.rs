//! What tests ask of the engine beyond what the library does: cleaning up and counting.

use bollard::query_parameters::{ListContainersOptions, RemoveImageOptions};

use super::{Engine, EngineError, error_text};

impl Engine {
    /// Remove image `id`, forced.
    pub(crate) async fn remove_image_forced(&self, id: &str) -> Result<(), EngineError> {
        // Its untagged parents stay (see `tests/e2e/support/images.rs`, `remove_image`).
        let options = RemoveImageOptions {
            force: true,
            noprune: true,
            ..Default::default()
        };
        self.docker
            .remove_image(id, Some(options), None)
            .await
            .map(drop)
            .map_err(|e| EngineError::Failed(error_text(&e)))
    }

    /// How many containers of image `id` exist, running or not.
    pub(crate) async fn containers_of(&self, id: &str) -> Result<usize, EngineError> {
        let filters =
            std::collections::HashMap::from([("ancestor".to_string(), vec![id.to_string()])]);
        let options = ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        };
        self.docker
            .list_containers(Some(options))
            .await
            .map(|list| list.len())
            .map_err(|e| EngineError::Failed(error_text(&e)))
    }
}
