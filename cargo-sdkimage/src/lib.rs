//! cargo-sdkimage: find a monorepo's SDK container manifests, build their images through the
//! Docker engine, gather licenses, push and verify. The binary only parses flags and renders.

pub mod discover;
pub mod error;
pub mod manifest;
pub mod plan;
pub mod reference;
pub mod template;
pub mod workspace;

pub use error::{Diagnostic, Error, Result};
