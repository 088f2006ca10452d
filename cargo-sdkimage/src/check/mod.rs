//! `check`: an image against its contract, in throwaway containers through the engine. Paths
//! (the entrypoint, artifacts, tools on `PATH`) are read through the engine's archive API from
//! a container that is created and never started, so images without a shell are checked too;
//! each command runs in a container of its own, with no network and a time limit. When
//! `python3` is on the image's `PATH`, its version must not be past its end of life and
//! `python3 -m pip check` must pass (when pip is installed). Every container is removed on
//! every path, a dropped (interrupted) check included.

pub mod python;
pub mod record;

use std::time::Duration;

use crate::engine::{EngineApi, PathStat, ProbeOutput, Throwaway};
use crate::error::{Error, Result};
use crate::manifest::contract::ImageContract;

/// The label on every container `check` makes.
pub const CHECK_LABEL: (&str, &str) = ("org.sdkimage.purpose", "check");
/// Output kept of each program run (each stream).
const OUTPUT_CAP: usize = 64 * 1024;
/// The engine's `PATH` for an image that sets none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Symlink hops followed while resolving a path (as Linux's MAXSYMLINKS).
const MAX_HOPS: usize = 40;
/// The time a program of a check may run, unless `--check-timeout` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
pub struct CheckOptions {
    /// The time each program run in a container may take.
    pub timeout: Duration,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// One requirement of the contract, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// What is required: `tool curl`, `entrypoint /opt/apache/beam/boot`, `command ...`.
    pub name: String,
    pub passed: bool,
    /// What was found, or why it fails.
    pub message: String,
    /// What the program printed (stdout and stderr as they came), if one ran.
    pub output: String,
}

impl Requirement {
    fn pass(name: impl Into<String>, message: impl Into<String>, output: String) -> Self {
        Requirement {
            name: name.into(),
            passed: true,
            message: message.into(),
            output,
        }
    }
    fn fail(name: impl Into<String>, message: impl Into<String>, output: String) -> Self {
        Requirement {
            name: name.into(),
            passed: false,
            message: message.into(),
            output,
        }
    }
}

/// The check of one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageCheck {
    /// The image id checked.
    pub id: String,
    pub requirements: Vec<Requirement>,
    /// The Python version found (`major`, `minor`), when `python3` is on `PATH`.
    pub python: Option<(u32, u32)>,
}

impl ImageCheck {
    pub fn passed(&self) -> bool {
        self.requirements.iter().all(|r| r.passed)
    }

    /// The names of the requirements not met.
    pub fn violations(&self) -> Vec<&str> {
        self.requirements
            .iter()
            .filter(|r| !r.passed)
            .map(|r| r.name.as_str())
            .collect()
    }
}

/// Check local image `image` (an id or reference) against `contract`. An image the engine
/// does not have is an error (exit 1); an engine that went away, exit 3.
pub async fn check_image(
    engine: &dyn EngineApi,
    image: &str,
    contract: &ImageContract,
    opts: &CheckOptions,
) -> Result<ImageCheck> {
    let Some(config) = engine.image_config(image).await? else {
        return Err(Error::Failed(format!(
            "{image} is not in the engine: build it first (`cargo sdkimage build`), or pull it"
        )));
    };
    let id = config.id.clone();
    let path_var = config
        .env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH)
        .to_string();
    let mut requirements = Vec::new();

    // Paths, read from a container that is never started.
    let python3;
    {
        let probe = Probe::create(engine, &id, vec!["/sdkimage-check".into()], vec![]).await?;
        if let Some(entrypoint) = &contract.entrypoint {
            requirements
                .push(entrypoint_requirement(&probe, entrypoint, &config.entrypoint).await?);
        }
        for artifact in &contract.artifacts {
            let name = format!("artifact {artifact}");
            requirements.push(match probe.resolve(artifact).await? {
                Some((stat, real)) => {
                    Requirement::pass(name, describe(artifact, &real, &stat), String::new())
                }
                None => Requirement::fail(
                    name,
                    format!("{artifact} does not exist in the image"),
                    String::new(),
                ),
            });
        }
        for tool in &contract.tools {
            let name = format!("tool {tool}");
            requirements.push(match probe.find_on_path(tool, &path_var).await? {
                Some(found) => Requirement::pass(name, found, String::new()),
                None => Requirement::fail(
                    name,
                    format!("{tool} is not on the image's PATH ({path_var})"),
                    String::new(),
                ),
            });
        }
        python3 = probe.find_on_path("python3", &path_var).await?.is_some();
        probe.remove().await?;
    }

    for command in &contract.commands {
        let shown = shlex::try_join(command.run.iter().map(String::as_str))
            .unwrap_or_else(|_| command.run.join(" "));
        let name = format!("command {shown}");
        let ran = run(engine, &id, &command.run, opts).await?;
        requirements.push(match ran {
            Err(why) => Requirement::fail(name, why.to_string(), String::new()),
            Ok(out) if out.exit_code != 0 => {
                Requirement::fail(name, format!("exited with {}", out.exit_code), out.combined)
            }
            Ok(out) => match &command.expect {
                Some(expect) if !out.stdout.lines().any(|l| l.trim() == expect.trim()) => {
                    Requirement::fail(
                        name,
                        format!(
                            "expected a line {}, which it did not print",
                            crate::error::quoted(expect)
                        ),
                        out.combined,
                    )
                }
                Some(expect) => Requirement::pass(
                    name,
                    format!("printed {}", crate::error::quoted(expect)),
                    out.combined,
                ),
                None => Requirement::pass(name, "exited with 0", out.combined),
            },
        });
    }

    let mut python = None;
    if python3 {
        let (requirement, version) = python_version(engine, &id, opts).await?;
        python = version;
        requirements.push(requirement);
        requirements.extend(pip_check(engine, &id, opts).await?);
    }
    Ok(ImageCheck {
        id,
        requirements,
        python,
    })
}

/// The image's `ENTRYPOINT` runs `entrypoint`, which is an executable file.
async fn entrypoint_requirement(
    probe: &Probe<'_>,
    entrypoint: &str,
    configured: &[String],
) -> Result<Requirement> {
    let name = format!("entrypoint {entrypoint}");
    let shown = serde_json::to_string(configured).expect("strings serialize");
    if configured.first().map(String::as_str) != Some(entrypoint) {
        let what = if configured.is_empty() {
            "the image has no ENTRYPOINT".to_string()
        } else {
            format!("the image's ENTRYPOINT is {shown}")
        };
        return Ok(Requirement::fail(
            name,
            format!("{what}; the contract says ENTRYPOINT [\"{entrypoint}\"]"),
            String::new(),
        ));
    }
    Ok(match probe.resolve(entrypoint).await? {
        None => Requirement::fail(
            name,
            format!("ENTRYPOINT is {shown}, but {entrypoint} does not exist in the image"),
            String::new(),
        ),
        Some((stat, real)) if !stat.is_file() || !stat.is_executable() => Requirement::fail(
            name,
            format!(
                "{} is not an executable file",
                describe(entrypoint, &real, &stat)
            ),
            String::new(),
        ),
        Some((stat, real)) => Requirement::pass(
            name,
            format!("ENTRYPOINT {shown}, {}", describe(entrypoint, &real, &stat)),
            String::new(),
        ),
    })
}

/// `path (-> real), mode 0755` or `path, a folder`.
fn describe(path: &str, real: &str, stat: &PathStat) -> String {
    let link = if real != path {
        format!(" -> {real}")
    } else {
        String::new()
    };
    if stat.is_dir() {
        format!("{path}{link}, a folder")
    } else {
        format!("{path}{link}, mode {:04o}", stat.permissions())
    }
}

/// `python3 --version`, and its end of life.
async fn python_version(
    engine: &dyn EngineApi,
    id: &str,
    opts: &CheckOptions,
) -> Result<(Requirement, Option<(u32, u32)>)> {
    let name = "python3 not end-of-life";
    let argv = ["python3".to_string(), "--version".to_string()];
    let out = match run(engine, id, &argv, opts).await? {
        Err(why) => {
            return Ok((
                Requirement::fail(name, why.to_string(), String::new()),
                None,
            ));
        }
        Ok(out) => out,
    };
    let Some((major, minor, full)) = python::parse_version(&out.combined) else {
        let why = format!(
            "`python3 --version` exited with {} and printed no version",
            out.exit_code
        );
        return Ok((Requirement::fail(name, why, out.combined), None));
    };
    let verdict = python::verdict(major, minor, python::today());
    let requirement = match verdict.is_supported() {
        true => Requirement::pass(name, format!("Python {full}, {verdict}"), out.combined),
        false => Requirement::fail(name, format!("Python {full}: {verdict}"), out.combined),
    };
    Ok((requirement, Some((major, minor))))
}

/// `python3 -m pip check`, when pip is installed (`None` when it is not).
async fn pip_check(
    engine: &dyn EngineApi,
    id: &str,
    opts: &CheckOptions,
) -> Result<Option<Requirement>> {
    let name = "python3 -m pip check";
    let argv: Vec<String> = ["python3", "-m", "pip", "check"]
        .iter()
        .map(ToString::to_string)
        .collect();
    Ok(Some(match run(engine, id, &argv, opts).await? {
        Err(why) => Requirement::fail(name, why.to_string(), String::new()),
        Ok(out) if out.combined.contains("No module named pip") => return Ok(None),
        Ok(out) if out.exit_code == 0 => {
            Requirement::pass(name, "no conflicting requirements", out.combined)
        }
        Ok(out) => Requirement::fail(
            name,
            format!("installed packages conflict (exit {})", out.exit_code),
            out.combined,
        ),
    }))
}

/// Run `argv` in a container of image `id` (no network, at most `opts.timeout`); the
/// container is removed afterwards. `Ok(Err(why))`: the program could not run or timed out.
async fn run(
    engine: &dyn EngineApi,
    id: &str,
    argv: &[String],
    opts: &CheckOptions,
) -> Result<std::result::Result<ProbeOutput, NotRun>> {
    let probe = match Probe::create(engine, id, argv[..1].to_vec(), argv[1..].to_vec()).await {
        Ok(p) => p,
        Err(Error::Failed(m)) => return Ok(Err(NotRun::NoContainer(m))),
        Err(e) => return Err(e),
    };
    let ran = tokio::time::timeout(opts.timeout, engine.run_probe(&probe.id, OUTPUT_CAP)).await;
    let result = match ran {
        Err(_) => Ok(Err(NotRun::TimedOut(opts.timeout))),
        Ok(Ok(out)) => Ok(Ok(out)),
        Ok(Err(crate::engine::EngineError::Failed(m))) => {
            // `exec: "curl": executable file not found in $PATH` and the like.
            Ok(Err(NotRun::Failed {
                program: argv[0].clone(),
                message: m,
            }))
        }
        Ok(Err(e)) => Err(Error::from(e)),
    };
    probe.remove().await?;
    result
}

/// Why a check's program did not run to its end (a requirement's failure, not the run's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum NotRun {
    #[error("cannot create a container: {0}")]
    NoContainer(String),
    #[error("did not finish within {} s", .0.as_secs_f64())]
    TimedOut(std::time::Duration),
    #[error("cannot run {program}: {message}")]
    Failed { program: String, message: String },
}

/// A container made by `check` (an engine [`Throwaway`]: removed on every path).
struct Probe<'a> {
    engine: &'a dyn EngineApi,
    container: Throwaway,
    id: String,
}

impl<'a> Probe<'a> {
    async fn create(
        engine: &'a dyn EngineApi,
        image: &str,
        entrypoint: Vec<String>,
        cmd: Vec<String>,
    ) -> Result<Probe<'a>> {
        let container = engine
            .create_throwaway(image, Some(entrypoint), cmd, &[CHECK_LABEL])
            .await
            .map_err(|e| match e {
                crate::engine::EngineError::Failed(m) => Error::Failed(format!(
                    "check: cannot create a container of image {image}: {m}"
                )),
                other => other.into(),
            })?;
        Ok(Probe {
            engine,
            id: container.id().to_string(),
            container,
        })
    }

    async fn remove(self) -> Result<()> {
        let id = self.id;
        self.container
            .remove()
            .await
            .map_err(|e| Error::Failed(format!("check: cannot remove container {id}: {e}")))
    }

    /// The file at `path` after following symlinks: its stat and real path.
    async fn resolve(&self, path: &str) -> Result<Option<(PathStat, String)>> {
        let mut current = path.to_string();
        for _ in 0..MAX_HOPS {
            let Some(stat) = self.engine.stat_path(&self.id, &current).await? else {
                return Ok(None);
            };
            if !stat.is_symlink() {
                return Ok(Some((stat, current)));
            }
            if stat.link_target.is_empty() || stat.link_target == current {
                return Ok(None);
            }
            current = stat.link_target;
        }
        Ok(None)
    }

    /// Where `tool` is found on `path_var`, as `exec` finds it: the first executable file.
    async fn find_on_path(&self, tool: &str, path_var: &str) -> Result<Option<String>> {
        for dir in path_var.split(':').filter(|d| d.starts_with('/')) {
            let candidate = format!("{}/{tool}", dir.trim_end_matches('/'));
            if let Some((stat, real)) = self.resolve(&candidate).await?
                && stat.is_file()
                && stat.is_executable()
            {
                return Ok(Some(describe(&candidate, &real, &stat)));
            }
        }
        Ok(None)
    }
}
