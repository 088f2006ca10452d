//! Images as OCI content, read and written by this tool rather than by the engine: `archive`
//! exports a built image from the engine and reads its `docker save` layout (config, diff ids,
//! each layer's tar).

pub mod archive;

pub use archive::ExportedImage;
