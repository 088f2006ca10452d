//! End-to-end tests: the built binary on fixture monorepos, against the real Docker engine
//! (and, for publishing, a real registry). `scripts/test` starts both when they are missing.

mod bases;
mod build;
mod buildkit;
mod cache;
mod context_content;
mod contract;
mod custom;
mod engines;
mod examples;
mod graph;
mod habits;
mod hardening;
mod input;
mod licenses;
mod print;
mod publish;
mod sbom;
mod support;
