//! The process's way through: argv parsed (cargo's `sdkimage` argument accepted or added), the
//! report set up, the command run under the signal watch, the final error and exit code.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use sdkimage::commands;
use sdkimage::interrupt::Interrupt;
use sdkimage::output::Note;
use sdkimage::output::{Event, event};
use sdkimage::report::{self, Reporter};
use sdkimage::{Error, Result};

use super::convert::{check_options, default_jobs, push_jobs};
use super::{CargoCli, Command, Format, OutputArgs, Progress, pages};

/// Parse argv, run the command, render the error; returns the exit code.
pub fn main() -> i32 {
    sdkimage::memory::tune_allocator();
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // `cargo sdkimage ...` runs `cargo-sdkimage sdkimage ...`; accept `cargo-sdkimage ...` too.
    if args.get(1).is_none_or(|a| a != "sdkimage") {
        args.insert(1, "sdkimage".into());
    }
    let CargoCli::Sdkimage(cli) = match CargoCli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            if e.use_stderr() && json_requested(&args) {
                // Automation reading the events learns why there are none.
                let message = e.render().to_string();
                let event = Event::Error(event::RunError {
                    message: message.trim_end().into(),
                });
                let line = serde_json::to_string(&event).expect("events serialize");
                println!("{line}");
            }
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let output = match &cli.command {
        Command::List { output, .. }
        | Command::Build { output, .. }
        | Command::Push { output, .. }
        | Command::Verify { output, .. }
        | Command::Promote { output, .. }
        | Command::Licenses { output, .. }
        | Command::Check { output, .. }
        | Command::Dockerfile { output, .. }
        | Command::Diff { output, .. } => Some(output),
        Command::Init { .. } | Command::Completions { .. } | Command::Man { .. } => None,
    };
    let report_opts = match output {
        Some(output) => output.to_lib(&cli.global),
        // Commands that only write a file or print text: people's defaults.
        None => OutputArgs {
            message_format: Format::Human,
            progress: Progress::Auto,
        }
        .to_lib(&cli.global),
    };
    let raw_stream = cli.global.verbose >= 2;
    let reporter = Arc::new(Reporter::new(report_opts));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            report::stderr_line(&format!("error: cannot start the async runtime: {e}"));
            return 1;
        }
    };
    sdkimage::init_tls();
    let result = runtime.block_on(async {
        let mut interrupt =
            Interrupt::install().map_err(|e| Error::io("cannot watch SIGINT and SIGTERM", e))?;
        let result = {
            let command = run(cli.command, raw_stream, reporter.clone(), interrupt.clone());
            tokio::pin!(command);
            tokio::select! {
                result = &mut command => result,
                signal = interrupt.wait() => {
                    // Builds cancel themselves (and stop their step containers); give the
                    // command a moment to do so, then drop whatever else it was doing. A
                    // command that finishes in that time says itself what the signal changed
                    // (a publish completes its release tags rather than leave them half-moved).
                    match tokio::time::timeout(Duration::from_secs(5), &mut command).await {
                        Ok(result) => result,
                        Err(_) => Err(Error::Interrupted(signal)),
                    }
                }
            }
        };
        // What the dropped command left to clean up (a scan container) is removed before exit.
        sdkimage::interrupt::finish_cleanups(Duration::from_secs(10)).await;
        result
    });
    let text = result
        .as_ref()
        .err()
        .map(|e| e.to_string().trim_end().to_string());
    let finished = reporter.finish(text.as_deref());
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            reporter.clear();
            // Per-image failures were already reported; the final line is a short recap.
            reporter.error(&text.unwrap_or_default());
            e.exit_code()
        }
    };
    match finished {
        Err(e) => {
            report::stderr_line(&format!(
                "{} cannot write to standard output: {e}; the output above is incomplete",
                reporter.paint("error:", "1;31")
            ));
            if code == 0 { 1 } else { code }
        }
        Ok(()) => code,
    }
}

/// Whether the raw arguments ask for `--message-format json` (for errors clap found, before
/// any option was parsed).
fn json_requested(args: &[std::ffi::OsString]) -> bool {
    let args: Vec<&str> = args.iter().filter_map(|a| a.to_str()).collect();
    args.windows(2)
        .any(|w| w[0] == "--message-format" && w[1] == "json")
        || args.contains(&"--message-format=json")
}

async fn run(
    command: Command,
    raw_stream: bool,
    reporter: Arc<Reporter>,
    interrupt: Interrupt,
) -> Result<i32> {
    let done = match command {
        Command::Diff { diff, output } => {
            let diff = commands::diff::diff(&diff.to_lib(), &*reporter).await?;
            match output.message_format {
                Format::Json => {
                    let text = serde_json::to_string_pretty(&diff)
                        .map_err(|e| Error::Failed(e.to_string()))?;
                    reporter.out(&format!("{text}\n"));
                }
                Format::Human => reporter.out(&report::diff::diff_text(&diff)),
            }
            // Like diff(1): 1 when they differ, with no error (the output says how).
            return Ok(if diff.same { 0 } else { 1 });
        }
        Command::List { target, output } => {
            let entries = commands::list(&target.to_lib(), &*reporter).await?;
            match output.message_format {
                Format::Json => {
                    let text = serde_json::to_string_pretty(&entries)
                        .map_err(|e| Error::Failed(e.to_string()))?;
                    reporter.out(&format!("{text}\n"));
                }
                Format::Human => reporter.out(&report::list_table(&entries)),
            }
            Ok(())
        }
        Command::Build { target, build, .. } => {
            let mut target = target.to_lib();
            target.plan.pull_licenses = build.pull_licenses;
            let mut cmd = build.to_lib();
            cmd.build.raw_stream = raw_stream;
            if build.reproduce {
                cmd.build.no_cache = true;
                cmd.build.force = true;
            }
            let results = commands::build(&target, &cmd, reporter.clone(), interrupt).await?;
            match build.reproduce {
                true => commands::diff::reproduce(&target, &results, &*reporter).await,
                false => Ok(()),
            }
        }
        Command::Push {
            target,
            publish,
            jobs,
            dry_run,
            metadata_file,
            ..
        } => {
            let opts = publish.to_lib(push_jobs(jobs), dry_run);
            let metadata_file = metadata_file.as_deref();
            commands::push(&target.to_lib(), &opts, metadata_file, reporter, interrupt)
                .await
                .map(|_| ())
        }
        Command::Verify {
            target,
            from_metadata,
            key,
            attestations,
            ..
        } => {
            let key = key.map(|key| commands::KeyCheck { key, attestations });
            commands::verify(&target.to_lib(), from_metadata.as_deref(), key, reporter).await
        }
        Command::Promote {
            target,
            from_tag,
            dry_run,
            sign,
            ..
        } => {
            let sign = sign.to_lib();
            commands::promote(&target.to_lib(), &from_tag, dry_run, sign, reporter).await
        }
        Command::Licenses {
            target,
            out,
            sbom_dir,
            build,
            ..
        } => {
            let mut opts = build.to_lib(false);
            opts.raw_stream = raw_stream;
            let sbom_dir = sbom_dir.as_deref();
            commands::licenses(&target.to_lib(), &out, sbom_dir, &opts, reporter, interrupt)
                .await
                .map(|_| ())
        }
        Command::Check { target, check, .. } => {
            let cmd = commands::CheckCommand {
                check: check_options(check.check_timeout),
                contract_of: check.contract_of,
                anonymous: check.anonymous,
                jobs: default_jobs(check.jobs),
            };
            commands::check(&target.to_lib(), &cmd, reporter, interrupt).await
        }
        Command::Dockerfile { target, output } => {
            match output.message_format {
                Format::Json => {
                    let entries = commands::dockerfiles(&target.to_lib())?;
                    let text = serde_json::to_string_pretty(&entries)
                        .map_err(|e| Error::Failed(e.to_string()))?;
                    reporter.out(&format!("{text}\n"));
                }
                Format::Human => reporter.out(&commands::dockerfile(&target.to_lib())?),
            }
            Ok(())
        }
        Command::Init { dir } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from("."));
            let done = sdkimage::init::init(&dir)?;
            for guess in &done.guesses {
                reporter.note(Note::InitGuessed {
                    guess: guess.clone(),
                });
            }
            if let sdkimage::init::WorkspaceFound::Created(file) = &done.workspace {
                reporter.note(Note::InitWroteWorkspace { file: file.clone() });
            }
            reporter.note(done.next_step());
            Ok(())
        }
        Command::Completions { shell } => {
            reporter.out(&pages::completion_script(shell));
            Ok(())
        }
        Command::Man { command, out_dir } => match out_dir {
            Some(dir) => pages::write_man_pages(&dir),
            None => {
                reporter.out(&pages::man_page(command.as_deref())?);
                Ok(())
            }
        },
    };
    done.map(|()| 0)
}
