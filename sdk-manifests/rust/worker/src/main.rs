//! The Rust SDK's worker harness: reports itself as JSON, as a worker would to its runner.

fn main() {
    let status = serde_json::json!({ "harness": "rust", "version": env!("CARGO_PKG_VERSION"), "ready": true });
    println!("{status}");
}
