//! The parsed flags turned into the library's plain option structs (`to_lib`), and the
//! defaults that depend on the machine (`-j`).

use std::io::IsTerminal;
use std::time::Duration;

use sdkimage::commands::{self, BuildCommand, Target};
use sdkimage::plan::PlanOptions;
use sdkimage::publish::PublishOptions;
use sdkimage::report::{self, MessageFormat, ProgressRequest, ReportOptions};
use sdkimage::run::BuildOptions;

use super::values::Jobs;
use super::{
    BuildArgs, BuildFlags, Color, DiffArgs, Format, GlobalArgs, OutputArgs, Progress, PublishArgs,
    PushViaArg, ReadFrom, SignArgs, TargetArgs,
};

impl BuildFlags {
    pub(super) fn to_lib(&self, pull_licenses: bool) -> BuildOptions {
        BuildOptions {
            jobs: default_jobs(self.jobs),
            no_cache: self.no_cache,
            keep_going: self.keep_going,
            force: self.force || self.no_cache,
            pull_licenses,
            secrets: self.secrets.clone(),
            cache: Default::default(),
            pull: self.pull,
            labels: self.labels.clone(),
            raw_stream: false,
            engines: self
                .engines
                .iter()
                .map(|host| sdkimage::engine::pool::EngineSpec {
                    host: host.clone(),
                    ..Default::default()
                })
                .collect(),
            gather: !self.no_gather,
        }
    }
}

impl DiffArgs {
    pub(super) fn to_lib(&self) -> commands::diff::DiffCommand {
        let from = |f: ReadFrom| match f {
            ReadFrom::Auto => commands::diff::ReadFrom::Auto,
            ReadFrom::Engine => commands::diff::ReadFrom::Engine,
            ReadFrom::Registry => commands::diff::ReadFrom::Registry,
        };
        commands::diff::DiffCommand {
            a: self.a.clone(),
            b: self.b.clone(),
            a_from: from(self.a_from),
            b_from: from(self.b_from),
            platform: self.platform.clone(),
        }
    }
}

pub(super) fn check_options(seconds: u64) -> sdkimage::check::CheckOptions {
    sdkimage::check::CheckOptions {
        timeout: Duration::from_secs(seconds),
    }
}

impl PublishArgs {
    pub(super) fn to_lib(&self, jobs: usize, dry_run: bool) -> PublishOptions {
        PublishOptions {
            jobs,
            staging_tag: (!self.no_staging).then(|| self.staging_tag.clone()),
            dry_run,
            sign: self.sign.to_lib(),
            push_via: match self.push_via {
                PushViaArg::Tool => sdkimage::publish::PushVia::Tool,
                PushViaArg::Engine => sdkimage::publish::PushVia::Engine,
            },
            ..PublishOptions::default()
        }
    }
}

impl SignArgs {
    pub(super) fn to_lib(&self) -> Option<sdkimage::publish::sign::SignOptions> {
        self.sign
            .then(|| sdkimage::publish::sign::SignOptions::new(self.sign_key.clone()))
    }
}

pub(super) fn default_jobs(jobs: Option<Jobs>) -> usize {
    jobs.map(std::num::NonZeroUsize::get)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Images pushed at once: `-j` when given, else the push default (not the CPU count: a push
/// waits on the network).
pub(super) fn push_jobs(jobs: Option<Jobs>) -> usize {
    jobs.map_or(
        sdkimage::publish::DEFAULT_PUSH_JOBS,
        std::num::NonZeroUsize::get,
    )
}

impl TargetArgs {
    pub(super) fn to_lib(&self) -> Target {
        Target {
            manifest_path: self.manifest_path.clone(),
            cargo: sdkimage::workspace::CargoFlags {
                locked: self.locked,
                offline: self.offline,
                frozen: self.frozen,
            },
            cwd: std::env::current_dir().unwrap_or_default(),
            selectors: self.selectors.clone(),
            plan: PlanOptions {
                repository_root: self.repository_root.clone(),
                tags: self.tags.clone(),
                build_args: self.build_args.clone(),
                builder: self.builder.clone(),
                platforms: self.platforms.clone(),
                pull_licenses: false,
            },
        }
    }
}

impl BuildArgs {
    pub(super) fn to_lib(&self) -> BuildCommand {
        let mut build = self.flags.to_lib(self.pull_licenses);
        build.cache = sdkimage::cache::CacheConfig {
            from: self.cache_from.clone(),
            inline: !self.cache_to.is_empty(),
            registry: false,
        };
        BuildCommand {
            push: self
                .push
                .then(|| self.publish.to_lib(push_jobs(self.flags.jobs), false)),
            build,
            dry_run: self.dry_run,
            print: self.print,
            metadata_file: self.metadata_file.clone(),
            sbom_dir: self.sbom_dir.clone(),
            check: self.check.then(|| check_options(self.check_timeout)),
        }
    }
}

impl OutputArgs {
    pub(super) fn to_lib(&self, global: &GlobalArgs) -> ReportOptions {
        let env = |k: &str| std::env::var(k).ok();
        let stderr_tty = std::io::stderr().is_terminal();
        let color = match global
            .color
            .or_else(|| match env("CARGO_TERM_COLOR").as_deref() {
                Some("always") => Some(Color::Always),
                Some("never") => Some(Color::Never),
                _ => None,
            }) {
            Some(Color::Always) => true,
            Some(Color::Never) => false,
            _ => stderr_tty && env("NO_COLOR").is_none(),
        };
        let requested = match self.progress {
            Progress::Auto => ProgressRequest::Auto,
            Progress::Tty => ProgressRequest::Tty,
            Progress::Plain => ProgressRequest::Plain,
            Progress::None => ProgressRequest::None,
        };
        ReportOptions {
            format: match self.message_format {
                Format::Human => MessageFormat::Human,
                Format::Json => MessageFormat::Json,
            },
            progress: report::progress_mode(requested, stderr_tty, report::in_ci(&env)),
            color,
            verbose: global.verbose > 0,
            quiet: global.quiet,
        }
    }
}
