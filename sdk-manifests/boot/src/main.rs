//! `/opt/apache/beam/boot`: the entrypoint of every example SDK container. Like Beam's boot
//! program, it reports what it is and hands over to the language's worker harness.

use std::os::unix::process::CommandExt;
use std::process::Command;

use anyhow::{Context, Result, bail};

fn main() -> Result<()> {
    let language = std::env::var("SDK_LANGUAGE").context("SDK_LANGUAGE is not set in the image")?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    println!("example {language} SDK {} boot", env!("CARGO_PKG_VERSION"));
    if args.first().map(String::as_str) == Some("--version") {
        return Ok(());
    }
    let mut harness = match language.as_str() {
        "python" => {
            let mut c = Command::new("python3");
            c.args(["-m", "example_sdk.worker"]);
            c
        }
        "rust" => Command::new("/opt/apache/beam/worker"),
        "go" => {
            println!("go harness ready: no pipeline binary given");
            return Ok(());
        }
        other => bail!("unknown SDK language {other}"),
    };
    let err = harness.args(&args).exec();
    Err(err).context("cannot start the worker harness")
}
