//! cargo-sdkimage: find a monorepo's SDK container manifests, build their images through the
//! Docker engine, gather licenses, push and verify. The binary only parses flags and renders.

pub mod cache;
pub mod check;
pub mod commands;
pub mod context;
pub mod custom;
pub mod custom_template;
pub mod diag;
pub mod diff;
pub mod discover;
pub mod dockerconfig;
pub mod dockerfile;
pub mod engine;
pub mod error;
pub mod fingerprint;
pub mod guarded;
pub mod init;
pub mod interrupt;
pub mod labels;
pub mod licenses;
pub mod manifest;
pub mod masking;
pub mod memory;
pub mod oci;
pub mod output;
pub mod paths;
pub mod plan;
pub mod platform;
pub mod provenance;
pub mod publish;
pub mod reference;
pub mod registry;
pub mod report;
pub mod run;
pub mod sign;
pub mod template;
pub mod workspace;

pub use error::{Diagnostic, Error, Result};

/// Install the process-wide TLS crypto provider (ring) once; HTTPS clients need it.
pub fn init_tls() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
