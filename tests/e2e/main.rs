//! End-to-end tests: the built binary on fixture monorepos, against the real Docker engine
//! (and, for publishing, a real registry). `scripts/test` starts both when they are missing.

mod base_layers;
mod bases;
mod build;
mod buildkit;
mod cache;
mod cli;
mod context_content;
mod context_paths;
mod contract;
mod custom;
mod diff;
mod dockerfiles;
mod engines;
mod examples;
mod filesync;
mod graph;
mod habits;
mod hardening;
mod input;
mod licenses;
mod licenses_beam;
mod licenses_go_java;
mod podman;
mod print;
mod publish;
mod publish_checks;
mod reproducible;
mod reproducible_engines;
mod sbom;
mod schema;
mod sign;
mod support;
