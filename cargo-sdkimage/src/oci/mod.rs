//! Images as OCI content, read and written by this tool rather than by the engine: `archive`
//! exports a built image from the engine and reads its `docker save` layout (config, diff ids,
//! each layer's tar); `normalize` turns it into the reproducible OCI manifest, config and
//! compressed layers a push uploads, without pushing; `gzip` compresses a layer on every core
//! into the same bytes whatever the number of threads.

pub mod archive;
pub mod gzip;
pub mod normalize;

pub use archive::ExportedImage;
pub use normalize::{BaseLayer, NormalizedImage, normalize};
pub mod push;
