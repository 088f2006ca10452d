//! Test-only: an engine in memory behind [`EngineApi`]. Builds take a set time and give an id
//! derived from the request; images move between fakes by id (`save_image`/`load_image`);
//! pushes upload a small real image to a real registry; the engine can be made to die (every
//! call then fails as an unreachable engine does), after some builds or at once.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::api::{BuildStream, ByteStream, EngineApi};
use super::{
    BuildFailure, BuildOutput, BuildRequest, ContextBody, EngineError, EngineHost, ImageConfig,
    LocalImage, PathStat, ProbeOutput, Throwaway,
};
use crate::dockerconfig::{EngineRegistryConfig, RegistryAuth};
use crate::error::{Error, Result};
use crate::reference::ImageRef;

/// An engine in memory.
pub struct FakeEngine {
    host: EngineHost,
    platform: String,
    build_time: Duration,
    /// Dies when this many builds have started (the last one fails as the engine goes).
    die_at_build: Option<usize>,
    /// Hangs instead: that build never ends, and pings stop answering.
    hang_at_build: Option<usize>,
    dead: AtomicBool,
    push_fails: AtomicBool,
    builds: AtomicUsize,
    /// id -> the build's description; tag -> id.
    images: Mutex<BTreeMap<String, String>>,
    tags: Mutex<BTreeMap<String, String>>,
    /// What was built here, by Dockerfile path, in order.
    pub built: Mutex<Vec<String>>,
    pub pushed: Mutex<Vec<String>>,
    /// What was pulled here: `reference platform`.
    pub pulled: Mutex<Vec<String>>,
}

impl FakeEngine {
    pub fn new(name: &str, platform: &str) -> FakeEngine {
        FakeEngine {
            host: EngineHost {
                host: format!("fake://{name}"),
                tls: None,
                source: format!("the fake engine {name}"),
            },
            platform: platform.to_string(),
            build_time: Duration::from_millis(20),
            die_at_build: None,
            hang_at_build: None,
            dead: AtomicBool::new(false),
            push_fails: AtomicBool::new(false),
            builds: AtomicUsize::new(0),
            images: Mutex::default(),
            tags: Mutex::default(),
            built: Mutex::default(),
            pushed: Mutex::default(),
            pulled: Mutex::default(),
        }
    }

    pub fn build_time(mut self, d: Duration) -> Self {
        self.build_time = d;
        self
    }

    pub fn die_at_build(mut self, n: usize) -> Self {
        self.die_at_build = Some(n);
        self
    }

    pub fn hang_at_build(mut self, n: usize) -> Self {
        self.hang_at_build = Some(n);
        self
    }

    pub fn kill(&self) {
        self.dead.store(true, Ordering::SeqCst);
    }

    pub fn fail_pushes(&self) {
        self.push_fails.store(true, Ordering::SeqCst);
    }

    pub fn has(&self, id: &str) -> bool {
        self.images.lock().unwrap().contains_key(id)
    }

    pub fn tagged(&self, reference: &str) -> Option<String> {
        self.tags.lock().unwrap().get(reference).cloned()
    }

    /// Put an image there as if built.
    pub fn insert(&self, id: &str) {
        self.images.lock().unwrap().insert(id.into(), id.into());
    }

    fn gone(&self) -> Error {
        Error::Unreachable(format!("lost the Docker engine at {}", self.host.host))
    }

    fn check(&self) -> Result<()> {
        match self.dead.load(Ordering::SeqCst) {
            true => Err(self.gone()),
            false => Ok(()),
        }
    }

    fn check_engine(&self) -> std::result::Result<(), EngineError> {
        self.check()
            .map_err(|e| EngineError::Unreachable(e.to_string()))
    }
}

fn id_of(text: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
}

#[async_trait::async_trait]
impl EngineApi for FakeEngine {
    fn host(&self) -> &EngineHost {
        &self.host
    }
    async fn ping(&self) -> Result<()> {
        self.check()
    }
    async fn platform(&self) -> Result<String> {
        self.check()?;
        Ok(self.platform.clone())
    }
    async fn buildkit_support(&self) -> Result<std::result::Result<(), super::NoBuildKit>> {
        self.check()?;
        Ok(Ok(()))
    }
    fn build<'a>(&'a self, request: &BuildRequest, context: ContextBody) -> BuildStream<'a> {
        let described = format!(
            "{} {:?} {:?} {:?}",
            request.dockerfile, request.build_args, request.platform, request.labels
        );
        let dockerfile = request.dockerfile.clone();
        futures_util::stream::once(async move {
            let n = self.builds.fetch_add(1, Ordering::SeqCst) + 1;
            let fail = |e: EngineError| BuildFailure {
                step: None,
                error: e,
            };
            self.check_engine().map_err(fail)?;
            // The context is read as an engine reads it.
            let mut context = context;
            while let Some(chunk) = context.next().await {
                chunk.map_err(|e| fail(EngineError::Failed(e.to_string())))?;
            }
            if self.hang_at_build.is_some_and(|at| n >= at) {
                self.kill();
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(self.build_time).await;
            if self.die_at_build.is_some_and(|at| n >= at) {
                self.kill();
            }
            self.check_engine().map_err(fail)?;
            let id = id_of(&described);
            self.images.lock().unwrap().insert(id.clone(), described);
            self.built.lock().unwrap().push(dockerfile);
            Ok(BuildOutput::ImageId(id))
        })
        .boxed()
    }
    async fn tag(&self, id: &str, reference: &ImageRef) -> Result<()> {
        self.check()?;
        if !self.has(id) {
            return Err(Error::Failed(format!("no such image: {id}")));
        }
        self.tags
            .lock()
            .unwrap()
            .insert(reference.to_string(), id.to_string());
        Ok(())
    }
    async fn image_id(&self, image: &str) -> Result<Option<String>> {
        self.check()?;
        if self.has(image) {
            return Ok(Some(image.to_string()));
        }
        Ok(self.tagged(image))
    }
    async fn diff_ids(&self, _image: &str) -> Result<Vec<String>> {
        self.check()?;
        Ok(Vec::new())
    }
    async fn untag(&self, reference: &str) {
        self.tags.lock().unwrap().remove(reference);
    }
    async fn remove_container(&self, _id: &str) {}
    async fn push(
        &self,
        reference: &ImageRef,
        _credentials: Option<RegistryAuth>,
    ) -> std::result::Result<String, EngineError> {
        self.check_engine()?;
        if self.push_fails.load(Ordering::SeqCst) {
            return Err(EngineError::Failed(format!(
                "the fake engine refuses to push {reference}"
            )));
        }
        let id = self.tagged(&reference.to_string()).ok_or_else(|| {
            EngineError::Failed(format!(
                "An image does not exist locally with the tag: {reference}"
            ))
        })?;
        let digest = upload(reference, &id).await?;
        self.pushed.lock().unwrap().push(reference.to_string());
        Ok(digest)
    }
    async fn repo_digests(&self, image: &str) -> Result<Option<Vec<String>>> {
        Ok(self.image_id(image).await?.map(|_| Vec::new()))
    }
    async fn insecure_registries(&self) -> Result<EngineRegistryConfig> {
        self.check()?;
        Ok(EngineRegistryConfig::default())
    }
    async fn pull(
        &self,
        reference: &str,
        platform: Option<&str>,
        _credentials: Option<RegistryAuth>,
    ) -> std::result::Result<Option<String>, EngineError> {
        self.check_engine()?;
        // An image standing for the reference, tagged as it (a base from a registry).
        let id = id_of(&format!("pulled {reference}"));
        self.images
            .lock()
            .unwrap()
            .insert(id.clone(), format!("pulled {reference}"));
        self.tags.lock().unwrap().insert(reference.to_string(), id);
        self.pulled
            .lock()
            .unwrap()
            .push(format!("{reference} {}", platform.unwrap_or("-")));
        Ok(None)
    }
    async fn local_image(&self, image: &str) -> Result<Option<LocalImage>> {
        Ok(self.image_id(image).await?.map(|id| LocalImage {
            id,
            repo_digests: Vec::new(),
        }))
    }
    async fn image_config(&self, image: &str) -> Result<Option<ImageConfig>> {
        Ok(self.image_id(image).await?.map(|id| ImageConfig {
            id,
            entrypoint: Vec::new(),
            env: Vec::new(),
        }))
    }
    async fn stat_path(
        &self,
        _id: &str,
        _path: &str,
    ) -> std::result::Result<Option<PathStat>, EngineError> {
        Err(EngineError::Failed(
            "the fake engine has no containers".into(),
        ))
    }
    async fn run_probe(
        &self,
        _id: &str,
        _cap: usize,
    ) -> std::result::Result<ProbeOutput, EngineError> {
        Err(EngineError::Failed(
            "the fake engine has no containers".into(),
        ))
    }
    async fn create_throwaway(
        &self,
        _image_id: &str,
        _entrypoint: Option<Vec<String>>,
        _cmd: Vec<String>,
        _labels: &[(&str, &str)],
    ) -> std::result::Result<Throwaway, EngineError> {
        Err(EngineError::Failed(
            "the fake engine has no containers".into(),
        ))
    }
    fn export_container(&self, _id: &str) -> ByteStream {
        futures_util::stream::once(async {
            Err(EngineError::Failed(
                "the fake engine has no containers".into(),
            ))
        })
        .boxed()
    }
    async fn archive_of(
        &self,
        _id: &str,
        _path: &str,
        _cap: usize,
    ) -> std::result::Result<Option<Vec<u8>>, EngineError> {
        Err(EngineError::Failed(
            "the fake engine has no containers".into(),
        ))
    }
    /// The "tar" of a fake image is its id and description, in two chunks.
    fn save_image(&self, id: &str) -> ByteStream {
        let found = self.check_engine().and_then(|()| {
            let images = self.images.lock().unwrap();
            let described = images
                .get(id)
                .ok_or_else(|| EngineError::Failed(format!("no such image: {id}")))?;
            Ok(vec![
                Ok(Bytes::from(format!("{id}\n"))),
                Ok(Bytes::from(described.clone())),
            ])
        });
        match found {
            Ok(chunks) => futures_util::stream::iter(chunks).boxed(),
            Err(e) => futures_util::stream::once(async { Err(e) }).boxed(),
        }
    }
    async fn load_image(&self, mut body: ByteStream) -> std::result::Result<(), EngineError> {
        self.check_engine()?;
        let mut all = Vec::new();
        while let Some(chunk) = body.next().await {
            all.extend_from_slice(&chunk?);
        }
        let text = String::from_utf8_lossy(&all);
        let (id, described) = text
            .split_once('\n')
            .ok_or_else(|| EngineError::Failed("not an image archive".into()))?;
        self.images
            .lock()
            .unwrap()
            .insert(id.to_string(), described.to_string());
        Ok(())
    }
}

/// Push a one-layer image standing for `id` to the registry of `reference` (plain HTTP, no
/// auth: the test registry), as an engine would; its manifest digest.
async fn upload(reference: &ImageRef, id: &str) -> std::result::Result<String, EngineError> {
    let failed = |e: reqwest::Error| EngineError::Failed(e.to_string());
    crate::init_tls();
    let client = reqwest::Client::new();
    let base = format!("http://{}/v2/{}", reference.registry(), reference.path());
    let blob = |bytes: Vec<u8>| {
        let client = client.clone();
        let base = base.clone();
        async move {
            let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
            let started = client
                .post(format!("{base}/blobs/uploads/"))
                .send()
                .await
                .map_err(failed)?;
            let location = started
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .ok_or_else(|| EngineError::Failed("no upload location".into()))?
                .to_string();
            let location = match location.starts_with("http") {
                true => location,
                false => format!("http://{}{location}", reference.registry()),
            };
            let sep = if location.contains('?') { '&' } else { '?' };
            let put = client
                .put(format!("{location}{sep}digest={digest}"))
                .body(bytes.clone())
                .send()
                .await
                .map_err(failed)?;
            if !put.status().is_success() {
                return Err(EngineError::Failed(format!(
                    "blob upload: {}",
                    put.status()
                )));
            }
            Ok::<_, EngineError>((digest, bytes.len()))
        }
    };
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Labels":{{"fake.id":"{id}"}}}},"rootfs":{{"type":"layers","diff_ids":[]}}}}"#
    );
    let (config_digest, config_size) = blob(config.into_bytes()).await?;
    let (layer_digest, layer_size) = blob(format!("layer of {id}").into_bytes()).await?;
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":{config_size},"digest":"{config_digest}"}},"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":{layer_size},"digest":"{layer_digest}"}}]}}"#
    );
    let digest = format!(
        "sha256:{}",
        hex::encode(Sha256::digest(manifest.as_bytes()))
    );
    let put = client
        .put(format!("{base}/manifests/{}", reference.tag))
        .header(
            "content-type",
            "application/vnd.docker.distribution.manifest.v2+json",
        )
        .body(manifest)
        .send()
        .await
        .map_err(failed)?;
    if !put.status().is_success() {
        return Err(EngineError::Failed(format!(
            "manifest upload: {}",
            put.status()
        )));
    }
    Ok(digest)
}
