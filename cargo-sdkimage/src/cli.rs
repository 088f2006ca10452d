//! Flags -> library option structs. No clap type goes past `cli.rs` and `cli/`: here the
//! argument structs clap parses into; `convert.rs` turns them into library options;
//! `dispatch.rs` runs the command and renders its end.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod convert;
mod dispatch;
mod pages;
mod values;

pub use dispatch::main;

use sdkimage::Error;
use values::{Jobs, parse_build_arg, parse_jobs};

#[derive(Parser)]
#[command(name = "cargo", bin_name = "cargo", styles = clap::builder::styling::Styles::styled())]
enum CargoCli {
    /// Build, license, push and verify the SDK container images of a monorepo.
    Sdkimage(SdkimageCli),
}

#[derive(Args)]
#[command(version, about, long_about = None, after_help = "Exit codes: 0 success, 1 a build/push/verify/license step failed, 2 invalid input, 3 engine or registry unreachable, 130/143 interrupted.")]
struct SdkimageCli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// cargo's output flags: accepted before the subcommand too (`cargo sdkimage -vv list`).
#[derive(Args)]
struct GlobalArgs {
    /// More output: every log line; `-vv` also the engine's raw build stream.
    #[arg(long, short = 'v', action = clap::ArgAction::Count, global = true, conflicts_with = "quiet")]
    verbose: u8,
    /// Only errors on stderr.
    #[arg(long, short = 'q', global = true)]
    quiet: bool,
    /// Coloring: auto, always, never (default from CARGO_TERM_COLOR).
    #[arg(long, value_enum, value_name = "WHEN", global = true)]
    color: Option<Color>,
}

#[derive(Subcommand)]
enum Command {
    /// List the images the selection would build (dependencies included).
    List {
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Prepare, build and tag the selected images (and what they depend on).
    Build {
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        build: BuildArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Push already-built images (all their tags, dependencies included), in two phases.
    Push {
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        publish: PublishArgs,
        /// Say what would be pushed; push nothing.
        #[arg(long)]
        dry_run: bool,
        /// Images pushed at the same time (default: 5; pushing waits on the network, not
        /// the CPUs).
        #[arg(long, short = 'j', value_name = "N", value_parser = parse_jobs)]
        jobs: Option<Jobs>,
        /// Write per-image results (refs, local id, pushed digest) as JSON to FILE, as
        /// `build --metadata-file` does.
        #[arg(long, value_name = "FILE")]
        metadata_file: Option<PathBuf>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Check that the registry holds exactly the local images (digests); exit 1 on a mismatch.
    Verify {
        #[command(flatten)]
        target: TargetArgs,
        /// Check a metadata file's digests against the registry (no local images needed).
        #[arg(long, value_name = "FILE")]
        from_metadata: Option<PathBuf>,
        /// Also check each digest's cosign signature with this public key (PEM, cosign.pub).
        #[arg(long, value_name = "PUB.PEM")]
        key: Option<PathBuf>,
        /// With --key: also check each digest's attestations (DSSE, in-toto).
        #[arg(long, requires = "key")]
        attestations: bool,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Copy the selection's manifests from one tag to the `--tag`s inside the registry.
    #[command(mut_arg("tags", |a| a.help("The final tags to point at the `--from-tag` manifests (repeatable; at least one). May use `{version}`")))]
    Promote {
        #[command(flatten)]
        target: TargetArgs,
        /// The tag to promote (a release candidate, e.g. 2.61.0rc1).
        #[arg(long, value_name = "TAG")]
        from_tag: String,
        /// Say what would be promoted; change nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        sign: SignArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Gather the third-party licenses of the selection into a folder.
    Licenses {
        #[command(flatten)]
        target: TargetArgs,
        /// Where to write `<image>/<ecosystem>/<name>-<version>/...` and `<image>/index.json`.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Also write each image's SPDX 2.3 SBOM as `DIR/<image name>.spdx.json`.
        #[arg(long, value_name = "DIR")]
        sbom_dir: Option<PathBuf>,
        #[command(flatten)]
        build: BuildFlags,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Check images against their SDK contract in throwaway containers (no network): the
    /// entrypoint, tools, commands, pip conflicts, an end-of-life Python. Takes selectors or
    /// image refs.
    Check {
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        check: CheckArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Show the effective Dockerfile (rendered for extends/adapt) and the build context listing
    /// of one image (`--message-format json`: the Dockerfile of each selected image)
    Dockerfile {
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Compare two images (refs read from the engine when it holds them, else from their
    /// registry): the config fields, layers and files (size, mode, mtime, content) that differ.
    /// Exit 0 when their content is the same, 1 when it differs.
    Diff {
        #[command(flatten)]
        diff: DiffArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Write an sdkimage.toml next to an existing Dockerfile (never overwrites).
    Init {
        /// The folder holding the Dockerfile (default: the current folder).
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Print a shell completion script for `cargo-sdkimage` to stdout.
    Completions {
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) of `cargo-sdkimage`, or of one command, to stdout; with
    /// `--out-dir`, write every page (`cargo-sdkimage.1`, `cargo-sdkimage-build.1`, ...) there.
    Man {
        /// The command whose page to print (`build`); none: the top page.
        #[arg(value_name = "COMMAND", conflicts_with = "out_dir")]
        command: Option<String>,
        /// Write every page into DIR instead (for `man -M` or packaging).
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

#[derive(Args)]
struct TargetArgs {
    /// A language (`python`), `language:variant` (`python:3.11`), an image name or a manifest
    /// folder. None: every image.
    #[arg(value_name = "SELECTOR")]
    selectors: Vec<String>,
    /// Repository root of the image references (overrides `repository-root`).
    #[arg(long, value_name = "ROOT")]
    repository_root: Option<String>,
    /// Tag of the images (repeatable; replaces the workspace's `tags`). May use `{version}`.
    #[arg(long = "tag", short = 't', value_name = "TAG")]
    tags: Vec<String>,
    /// Build argument for every image (repeatable); wins over the manifests. A bare `KEY`
    /// takes its value from the environment, as docker does.
    #[arg(long = "build-arg", value_name = "KEY[=VALUE]", value_parser = parse_build_arg)]
    build_args: Vec<(String, String)>,
    /// The workspace's Cargo.toml or sdkimage-workspace.toml (default: found from the
    /// current folder upwards).
    #[arg(long, value_name = "PATH")]
    manifest_path: Option<PathBuf>,
    /// Builder: auto (BuildKit where the engine has it), buildkit or classic (overrides
    /// `builder` of the workspace and manifests).
    #[arg(long, value_name = "BUILDER")]
    builder: Option<String>,
    /// Platform to build, `os/arch[/variant]` (repeatable or comma-separated; overrides
    /// `platforms` of the workspace and manifests).
    #[arg(long = "platform", value_name = "PLATFORM", value_delimiter = ',', value_parser = parse_platform)]
    platforms: Vec<sdkimage::platform::Platform>,
    /// Fail rather than update Cargo.lock (as cargo's; passed to every cargo call). Without
    /// it, a stale Cargo.lock is resolved on a copy, never rewritten.
    #[arg(long)]
    locked: bool,
    /// Run cargo without the network (as cargo's; passed to every cargo call).
    #[arg(long)]
    offline: bool,
    /// --locked and --offline together (as cargo's).
    #[arg(long)]
    frozen: bool,
}

/// How images are built, for every command that builds.
#[derive(Args)]
struct BuildFlags {
    /// Images built at the same time (default: the number of CPUs; `--push` pushes 5 at a
    /// time unless -j is given).
    #[arg(long, short = 'j', value_name = "N", value_parser = parse_jobs)]
    jobs: Option<Jobs>,
    /// Build without the engine's layer cache (implies a rebuild).
    #[arg(long)]
    no_cache: bool,
    /// After a failure, go on building what does not depend on it.
    #[arg(long)]
    keep_going: bool,
    /// Rebuild even when an image is up to date.
    #[arg(long)]
    force: bool,
    /// A build secret for `RUN --mount=type=secret,id=NAME` (BuildKit), as docker build writes
    /// it: `id=NAME,src=PATH` or `id=NAME,env=VAR` (repeatable).
    #[arg(long = "secret", value_name = "SPEC", value_parser = parse_secret)]
    secrets: Vec<sdkimage::engine::session::SecretSpec>,
    /// Pull each external base image (not our own) through the engine before building.
    #[arg(long)]
    pull: bool,
    /// Label of every image (repeatable); wins over the workspace's and manifests' [labels].
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = sdkimage::labels::parse_flag)]
    labels: Vec<(String, String)>,
    /// An engine of the pool to build on (repeatable): unix://, tcp:// (TLS from
    /// DOCKER_TLS_VERIFY/DOCKER_CERT_PATH), ssh://[user@]host or a docker context name.
    /// Replaces the workspace's `engines`; none: the engine DOCKER_HOST/DOCKER_CONTEXT names.
    #[arg(long = "engine", value_name = "ENGINE", value_parser = parse_engine)]
    engines: Vec<String>,
    /// With several engines: leave each image on the engine that built it (by default every
    /// image is also loaded into the first engine at the end).
    #[arg(long)]
    no_gather: bool,
}

fn parse_engine(s: &str) -> std::result::Result<String, sdkimage::engine::pool::EngineValueError> {
    sdkimage::engine::pool::check_host(s).map(|()| s.to_string())
}

fn parse_cache_to(s: &str) -> std::result::Result<String, sdkimage::cache::CacheSpecError> {
    sdkimage::cache::parse_to(s).map(|()| s.to_string())
}

fn parse_secret(s: &str) -> std::result::Result<sdkimage::engine::session::SecretSpec, Error> {
    s.parse()
}

#[derive(Args)]
struct BuildArgs {
    #[command(flatten)]
    flags: BuildFlags,
    /// Print what would run and touch nothing (not even prepare steps).
    #[arg(long)]
    dry_run: bool,
    /// Print the resolved plan as JSON (images, refs, platforms, dependencies, build args,
    /// what is up to date and why not), like `docker buildx bake --print`; build nothing.
    #[arg(long, conflicts_with_all = ["dry_run", "push", "metadata_file"])]
    print: bool,
    /// Gather third-party license texts into each image that has `[licenses]`.
    #[arg(long)]
    pull_licenses: bool,
    /// Copy each image's SPDX 2.3 SBOM (`<dest>/sbom.spdx.json`) to `DIR/<image name>.spdx.json`.
    #[arg(long, value_name = "DIR", requires = "pull_licenses")]
    sbom_dir: Option<PathBuf>,
    /// Write per-image results (refs, id, digest, outcome) as JSON to FILE, also on failure.
    #[arg(long, value_name = "FILE")]
    metadata_file: Option<PathBuf>,
    /// Push every tag once all selected builds succeeded (two-phase; see `push`).
    #[arg(long)]
    push: bool,
    /// A build cache source (BuildKit), as docker writes it: `type=registry,ref=REF` or a bare
    /// REF (repeatable; replaces the manifests' and the workspace's `cache-from`).
    #[arg(long = "cache-from", value_name = "SPEC", value_parser = sdkimage::cache::parse_from)]
    cache_from: Vec<String>,
    /// Export the build cache (BuildKit): `type=inline`, in the image, the one export the
    /// engine's own BuildKit has.
    #[arg(long = "cache-to", value_name = "SPEC", value_parser = parse_cache_to)]
    cache_to: Vec<String>,
    /// Check each built image against its contract (see `check`) before anything is pushed.
    #[arg(long)]
    check: bool,
    /// Build with no cache, then compare each image, normalised as a push makes it, with the
    /// manifest its registry holds under its ref (this version): exit 0 when the digests are
    /// equal, 1 with the `diff` when not.
    #[arg(long, conflicts_with_all = ["push", "print", "dry_run"])]
    reproduce: bool,
    /// With --check: seconds each program run for a check may take.
    #[arg(long, value_name = "SECONDS", default_value_t = 60, requires = "check", value_parser = clap::value_parser!(u64).range(1..))]
    check_timeout: u64,
    #[command(flatten)]
    publish: PublishArgs,
}

#[derive(Args)]
struct DiffArgs {
    /// The first image: `[registry/]path[:tag][@digest]`.
    #[arg(value_name = "A")]
    a: String,
    /// The second image.
    #[arg(value_name = "B")]
    b: String,
    /// Where to read A: auto (the engine when it holds it, else its registry), engine or
    /// registry.
    #[arg(long, value_enum, default_value = "auto", value_name = "WHERE")]
    a_from: ReadFrom,
    /// Where to read B (as --a-from).
    #[arg(long, value_enum, default_value = "auto", value_name = "WHERE")]
    b_from: ReadFrom,
    /// The platform read from an index, `os/arch[/variant]` (default: the engine's own).
    #[arg(long, value_name = "PLATFORM", value_parser = parse_platform)]
    platform: Option<sdkimage::platform::Platform>,
}

#[derive(Clone, Copy, ValueEnum)]
enum ReadFrom {
    Auto,
    Engine,
    Registry,
}

#[derive(Args)]
struct CheckArgs {
    /// The contract that image refs named on the command line must meet: that of this image
    /// of the workspace (default: the workspace image with the same repository).
    #[arg(long, value_name = "SELECTOR")]
    contract_of: Option<String>,
    /// Also check that the registry serves each image's refs without credentials.
    #[arg(long)]
    anonymous: bool,
    /// Seconds each program run for a check may take.
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    check_timeout: u64,
    /// Images checked at the same time (default: the number of CPUs).
    #[arg(long, short = 'j', value_name = "N", value_parser = parse_jobs)]
    jobs: Option<Jobs>,
}

#[derive(Args)]
struct PublishArgs {
    /// The tag phase one pushes under, before release tags move.
    #[arg(
        long,
        value_name = "NAME",
        default_value = sdkimage::publish::DEFAULT_STAGING_TAG,
        conflicts_with = "no_staging"
    )]
    staging_tag: String,
    /// Push release tags directly (registries with immutable tags).
    #[arg(long)]
    no_staging: bool,
    #[command(flatten)]
    sign: SignArgs,
    /// Who uploads the images: this tool (normalised, reproducible digests) or the engine's
    /// own push (for registries our client cannot serve).
    #[arg(long, value_enum, value_name = "WHO", default_value = "tool")]
    push_via: PushViaArg,
}

#[derive(Clone, Copy, ValueEnum)]
enum PushViaArg {
    Tool,
    Engine,
}

#[derive(Args)]
struct SignArgs {
    /// Sign each pushed digest and attach its attestations (SLSA provenance, the SBOM) as
    /// cosign does, before the release tags move.
    #[arg(long)]
    sign: bool,
    /// The private key to sign with (PEM EC P-256, or cosign's encrypted key with
    /// COSIGN_PASSWORD); default: `sign-key` of the workspace settings.
    #[arg(long, value_name = "PATH", requires = "sign")]
    sign_key: Option<PathBuf>,
}

#[derive(Args)]
struct OutputArgs {
    /// Output format of results on stdout.
    #[arg(long, value_enum, default_value = "human", value_name = "FMT")]
    message_format: Format,
    /// Progress on stderr: `auto` draws bars on a terminal outside CI, else plain lines.
    #[arg(long, value_enum, default_value = "auto", value_name = "WHEN")]
    progress: Progress,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Human,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum Progress {
    Auto,
    Tty,
    Plain,
    None,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Color {
    Auto,
    Always,
    Never,
}

fn parse_platform(
    s: &str,
) -> std::result::Result<sdkimage::platform::Platform, sdkimage::platform::PlatformError> {
    s.parse()
}

/// The command line as `cargo-sdkimage <command>`: what completions and the man page
/// describe. (A completion script for `cargo` itself would replace cargo's own.)
fn direct_command() -> clap::Command {
    use clap::{Args as _, CommandFactory as _};
    let about = CargoCli::command()
        .find_subcommand("sdkimage")
        .and_then(|c| c.get_about().cloned());
    let mut command = SdkimageCli::augment_args(clap::Command::new("cargo-sdkimage"))
        .bin_name("cargo-sdkimage")
        .version(env!("CARGO_PKG_VERSION"));
    if let Some(about) = about {
        command = command.about(about);
    }
    command
}
