//! The engine seam: [`EngineApi`], everything the scheduler (`run/`), publishing (`publish/`),
//! contract checks (`check/`) and license scans ask of an engine. [`Engine`] (bollard, a real
//! daemon) implements it by delegating to its own methods; the test-only fake of `fake.rs`
//! implements it in memory, so placement, requeueing and the two-phase publish are unit-tested
//! without a daemon.

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::{
    BuildFailure, BuildOutput, BuildRequest, ContextBody, Engine, EngineError, EngineHost,
    ImageConfig, LocalImage, PathStat, ProbeOutput, Throwaway,
};
use crate::dockerconfig::{EngineRegistryConfig, RegistryAuth};
use crate::error::Result;
use crate::reference::ImageRef;

/// A build's progress, as [`Engine::build`] streams it.
pub type BuildStream<'a> = BoxStream<'a, std::result::Result<BuildOutput, BuildFailure>>;

/// Bytes out of an engine (an image saved, a container's filesystem).
pub type ByteStream = BoxStream<'static, std::result::Result<Bytes, EngineError>>;

/// What the library asks of one engine; mirrors [`Engine`]'s public methods.
#[async_trait::async_trait]
pub trait EngineApi: Send + Sync {
    /// Where the engine is and where that came from (messages, the BuildKit session).
    fn host(&self) -> &EngineHost;
    async fn ping(&self) -> Result<()>;
    /// The engine's own platform, `os/arch`.
    async fn platform(&self) -> Result<String>;
    async fn buildkit_support(&self) -> Result<std::result::Result<(), super::NoBuildKit>>;
    /// Build without a tag (see [`Engine::build`]); dropping the stream cancels the build.
    fn build<'a>(&'a self, request: &BuildRequest, context: ContextBody) -> BuildStream<'a>;
    /// Build and wait for the image id (see [`Engine::build_to_id`]).
    async fn build_to_id(
        &self,
        request: &BuildRequest,
        context: ContextBody,
    ) -> std::result::Result<String, BuildFailure> {
        let mut stream = self.build(request, context);
        let mut id = None;
        while let Some(item) = stream.next().await {
            if let BuildOutput::ImageId(found) = item? {
                id = Some(found);
            }
        }
        id.ok_or_else(|| BuildFailure {
            step: None,
            error: EngineError::Failed("the engine reported no image id".into()),
        })
    }
    async fn tag(&self, id: &str, reference: &ImageRef) -> Result<()>;
    async fn image_id(&self, image: &str) -> Result<Option<String>>;
    async fn diff_ids(&self, image: &str) -> Result<Vec<String>>;
    async fn untag(&self, reference: &str);
    async fn remove_container(&self, id: &str);
    async fn push(
        &self,
        reference: &ImageRef,
        credentials: Option<RegistryAuth>,
    ) -> std::result::Result<String, EngineError>;
    async fn repo_digests(&self, image: &str) -> Result<Option<Vec<String>>>;
    async fn insecure_registries(&self) -> Result<EngineRegistryConfig>;
    async fn pull(
        &self,
        reference: &str,
        platform: Option<&str>,
        credentials: Option<RegistryAuth>,
    ) -> std::result::Result<Option<String>, EngineError>;
    async fn local_image(&self, image: &str) -> Result<Option<LocalImage>>;
    async fn image_config(&self, image: &str) -> Result<Option<ImageConfig>>;
    async fn stat_path(
        &self,
        id: &str,
        path: &str,
    ) -> std::result::Result<Option<PathStat>, EngineError>;
    async fn run_probe(
        &self,
        id: &str,
        cap: usize,
    ) -> std::result::Result<ProbeOutput, EngineError>;
    async fn create_throwaway(
        &self,
        image_id: &str,
        entrypoint: Option<Vec<String>>,
        cmd: Vec<String>,
        labels: &[(&str, &str)],
    ) -> std::result::Result<Throwaway, EngineError>;
    /// A container's filesystem as a tar stream.
    fn export_container(&self, id: &str) -> ByteStream;
    async fn archive_of(
        &self,
        id: &str,
        path: &str,
        cap: usize,
    ) -> std::result::Result<Option<Vec<u8>>, EngineError>;
    /// Image `id` as the tar `docker save` writes (`GET /images/get?names=<id>`), streamed.
    fn save_image(&self, id: &str) -> ByteStream;
    /// Load a `docker save` tar (`POST /images/load`), streamed from `body`.
    async fn load_image(&self, body: ByteStream) -> std::result::Result<(), EngineError>;
}

#[async_trait::async_trait]
impl EngineApi for Engine {
    fn host(&self) -> &EngineHost {
        Engine::host(self)
    }
    async fn ping(&self) -> Result<()> {
        Engine::ping(self).await
    }
    async fn platform(&self) -> Result<String> {
        Engine::platform(self).await
    }
    async fn buildkit_support(&self) -> Result<std::result::Result<(), super::NoBuildKit>> {
        Engine::buildkit_support(self).await
    }
    fn build<'a>(&'a self, request: &BuildRequest, context: ContextBody) -> BuildStream<'a> {
        Engine::build(self, request, context).boxed()
    }
    async fn tag(&self, id: &str, reference: &ImageRef) -> Result<()> {
        Engine::tag(self, id, reference).await
    }
    async fn image_id(&self, image: &str) -> Result<Option<String>> {
        Engine::image_id(self, image).await
    }
    async fn diff_ids(&self, image: &str) -> Result<Vec<String>> {
        Engine::diff_ids(self, image).await
    }
    async fn untag(&self, reference: &str) {
        Engine::untag(self, reference).await
    }
    async fn remove_container(&self, id: &str) {
        Engine::remove_container(self, id).await
    }
    async fn push(
        &self,
        reference: &ImageRef,
        credentials: Option<RegistryAuth>,
    ) -> std::result::Result<String, EngineError> {
        Engine::push(self, reference, credentials).await
    }
    async fn repo_digests(&self, image: &str) -> Result<Option<Vec<String>>> {
        Engine::repo_digests(self, image).await
    }
    async fn insecure_registries(&self) -> Result<EngineRegistryConfig> {
        Engine::insecure_registries(self).await
    }
    async fn pull(
        &self,
        reference: &str,
        platform: Option<&str>,
        credentials: Option<RegistryAuth>,
    ) -> std::result::Result<Option<String>, EngineError> {
        Engine::pull(self, reference, platform, credentials).await
    }
    async fn local_image(&self, image: &str) -> Result<Option<LocalImage>> {
        Engine::local_image(self, image).await
    }
    async fn image_config(&self, image: &str) -> Result<Option<ImageConfig>> {
        Engine::image_config(self, image).await
    }
    async fn stat_path(
        &self,
        id: &str,
        path: &str,
    ) -> std::result::Result<Option<PathStat>, EngineError> {
        Engine::stat_path(self, id, path).await
    }
    async fn run_probe(
        &self,
        id: &str,
        cap: usize,
    ) -> std::result::Result<ProbeOutput, EngineError> {
        Engine::run_probe(self, id, cap).await
    }
    async fn create_throwaway(
        &self,
        image_id: &str,
        entrypoint: Option<Vec<String>>,
        cmd: Vec<String>,
        labels: &[(&str, &str)],
    ) -> std::result::Result<Throwaway, EngineError> {
        Engine::create_throwaway(self, image_id, entrypoint, cmd, labels).await
    }
    fn export_container(&self, id: &str) -> ByteStream {
        self.docker
            .export_container(id)
            .map(|item| item.map_err(|e| EngineError::Failed(super::error_text(&e))))
            .boxed()
    }
    async fn archive_of(
        &self,
        id: &str,
        path: &str,
        cap: usize,
    ) -> std::result::Result<Option<Vec<u8>>, EngineError> {
        Engine::archive_of(self, id, path, cap).await
    }
    fn save_image(&self, id: &str) -> ByteStream {
        Engine::save_image(self, id)
    }
    async fn load_image(&self, body: ByteStream) -> std::result::Result<(), EngineError> {
        Engine::load_image(self, body).await
    }
}
