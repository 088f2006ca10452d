//! The monorepo: its root (cargo's, read by [`cargo_root`] or `cargo metadata --no-deps`, or
//! the folder of an `sdkimage-workspace.toml`), its version and the repo-wide defaults in
//! `[workspace.metadata.sdkimage]` or `sdkimage-workspace.toml` (one raw type, [`RawConfig`]).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::error::{Diagnostic, Error, Result};
use crate::template::Template;

pub mod cargo_root;
pub mod standalone;

use cargo_root::CargoFacts;

/// Repo-wide defaults from the root `Cargo.toml` or `sdkimage-workspace.toml`.
#[derive(Debug, Clone, Default)]
pub struct WorkspaceConfig {
    pub repository_root: Option<String>,
    /// Default tags, as templates (only `{version}` may appear).
    pub tags: Option<Vec<Template>>,
    /// Absolute path of the license policy and overrides folder.
    pub licenses_dir: PathBuf,
    /// `builder = "auto" | "buildkit" | "classic"`: the default of every manifest.
    pub builder: Option<String>,
    /// Default `platforms` of every manifest.
    pub platforms: Vec<crate::platform::Platform>,
    /// `cache-from`, `cache-to` and `cache = "registry"` (see `cache.rs`).
    pub cache: crate::cache::CacheConfig,
    /// `pull = true`: pull external bases before building, as `--pull` does.
    pub pull: bool,
    /// `reproducible = false`: our own push uploads the engine's layers and config as they
    /// are, not normalised (`oci::normalize`); unset means on.
    pub reproducible: Option<bool>,
    /// `default-labels`, `[labels]`, and the `[workspace.package]` keys the labels use.
    pub labels: crate::labels::LabelSettings,
    /// `engines = [...]`: the engine pool (`--engine` wins); empty: the environment's engine.
    pub engines: Vec<crate::engine::pool::EngineSpec>,
    /// `maven-repo = "..."`: the local Maven repository every `java` license source without its
    /// own `maven-repo` follows parent POMs through (absolute; checked to be a folder).
    pub maven_repo: Option<PathBuf>,
    /// `sign-key = "PATH"`: the key `--sign` signs with when `--sign-key` is not given.
    pub sign_key: Option<SignKeySetting>,
}

/// `sign-key`: the key's path (relative paths from the workspace root) and where it is set
/// (`file:line:col: sign-key 'PATH'`), for messages. The key is read only by `--sign`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignKeySetting {
    pub path: PathBuf,
    pub at: String,
}

/// cargo's `--locked`, `--offline` and `--frozen`, passed to every cargo call the tool makes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CargoFlags {
    pub locked: bool,
    pub offline: bool,
    pub frozen: bool,
}

impl CargoFlags {
    /// The flags the user gave, as cargo arguments; nothing is added (cargo's own default is to
    /// update `Cargo.lock` when it must, and so is ours).
    pub fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if self.frozen {
            args.push("--frozen".to_string());
        } else {
            if self.locked {
                args.push("--locked".to_string());
            }
            if self.offline {
                args.push("--offline".to_string());
            }
        }
        args
    }

    /// Whether the user forbade cargo to change `Cargo.lock` (`--locked` or `--frozen`).
    pub fn lock_fixed(&self) -> bool {
        self.locked || self.frozen
    }
}

#[derive(Debug, Clone)]
pub struct Workspace {
    /// Canonical workspace root.
    pub root: PathBuf,
    /// The file the workspace's settings come from: the root `Cargo.toml`, or the
    /// `sdkimage-workspace.toml` that sets them.
    pub manifest_path: PathBuf,
    /// The root `Cargo.toml` when the root is a Cargo workspace (None: no cargo at all).
    pub cargo_manifest: Option<PathBuf>,
    /// Cargo's target directory; our state lives in `<target>/sdkimage/`.
    pub target_dir: PathBuf,
    /// `[workspace.package] version`, else the root package's version.
    pub version: Option<String>,
    pub config: WorkspaceConfig,
    pub cargo: CargoFlags,
}

#[derive(Deserialize)]
struct RootToml {
    workspace: Option<RootWorkspace>,
}

#[derive(Deserialize)]
struct RootWorkspace {
    package: Option<WorkspacePackage>,
    metadata: Option<WorkspaceMetadata>,
}

#[derive(Deserialize)]
struct WorkspacePackage {
    version: Option<String>,
    repository: Option<String>,
    license: Option<String>,
}

#[derive(Deserialize)]
struct WorkspaceMetadata {
    sdkimage: Option<RawConfig>,
}

/// The keys of `[workspace.metadata.sdkimage]` and of `sdkimage-workspace.toml` (one type, so
/// every key works in both files).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawConfig {
    /// `sdkimage-workspace.toml` only: the version `{version}` expands to.
    version: Option<Spanned<String>>,
    repository_root: Option<Spanned<String>>,
    tags: Option<Vec<Spanned<String>>>,
    licenses_dir: Option<Spanned<String>>,
    builder: Option<Spanned<String>>,
    platforms: Option<Vec<Spanned<String>>>,
    cache_from: Option<Vec<Spanned<String>>>,
    cache_to: Option<Vec<Spanned<String>>>,
    cache: Option<Spanned<String>>,
    pull: Option<bool>,
    reproducible: Option<bool>,
    default_labels: Option<bool>,
    labels: Option<std::collections::BTreeMap<Spanned<String>, Spanned<String>>>,
    engines: Option<Vec<Spanned<crate::engine::pool::RawEngine>>>,
    sign_key: Option<Spanned<String>>,
    maven_repo: Option<Spanned<String>>,
}

impl Workspace {
    /// Find the workspace the way cargo does: from `manifest_path` (a `Cargo.toml` or an
    /// `sdkimage-workspace.toml`), or from the current folder upwards. The nearest
    /// `sdkimage-workspace.toml` marks the root; without one, `cargo metadata` finds it.
    pub fn load(manifest_path: Option<&Path>, cargo: CargoFlags) -> Result<Workspace> {
        let named = |path: &Path, name: &str| path.file_name() == Some(std::ffi::OsStr::new(name));
        if let Some(path) = manifest_path {
            check_manifest_path(path)?;
        }
        let file = match manifest_path {
            Some(path) if named(path, standalone::WORKSPACE_FILE) => Some(path.to_path_buf()),
            Some(path) if named(path, "Cargo.toml") => None,
            Some(path) => {
                return Err(Error::Usage(format!(
                    "--manifest-path {}: expected the path of a Cargo.toml (the workspace's root manifest or a member's) or of an {}, not {}",
                    crate::error::quoted(&path.display().to_string()),
                    standalone::WORKSPACE_FILE,
                    path.file_name().map_or_else(
                        || "a folder".to_string(),
                        |n| format!(
                            "a file named {}",
                            crate::error::quoted(&n.to_string_lossy())
                        )
                    )
                )));
            }
            None => {
                let cwd = std::env::current_dir()
                    .map_err(|e| Error::io("cannot read the current folder", e))?;
                standalone::find_up(&cwd)
                    .filter(|file| !standalone::cargo_nearer(&cwd, file, cargo))
            }
        };
        match file {
            Some(file) => {
                let root = file.parent().unwrap_or(Path::new(".")).to_path_buf();
                let root = canonical_root(if root.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    &root
                })?;
                let cargo_toml = root.join("Cargo.toml");
                // A Cargo workspace counts only when its root is this folder.
                let metadata = if cargo_toml.is_file() {
                    let m = cargo_facts(Some(&cargo_toml), cargo)?;
                    let same = canonical_root(&m.root).ok() == Some(root.clone());
                    same.then_some(m)
                } else {
                    None
                };
                Workspace::assemble(
                    root.clone(),
                    Some(root.join(standalone::WORKSPACE_FILE)),
                    metadata,
                    cargo,
                )
            }
            None => {
                let metadata = cargo_facts(manifest_path, cargo)?;
                let root = canonical_root(&metadata.root)?;
                let file = root.join(standalone::WORKSPACE_FILE);
                let file = file.is_file().then_some(file);
                Workspace::assemble(root, file, Some(metadata), cargo)
            }
        }
    }

    /// The workspace at `root` from its Cargo metadata and its `sdkimage-workspace.toml`,
    /// either or both.
    fn assemble(
        root: PathBuf,
        file: Option<PathBuf>,
        metadata: Option<CargoFacts>,
        cargo: CargoFlags,
    ) -> Result<Workspace> {
        let rules =
            crate::guarded::Rules::new(&root, crate::guarded::CONFIG_CAP, "the workspace manifest");
        let mut cargo_side = None;
        // `[workspace.package]` repository and license (else the root package's), for labels.
        let mut package_facts = (None, None);
        if let Some(metadata) = &metadata {
            let root_manifest = root.join("Cargo.toml");
            let text = crate::guarded::read_to_string(&root_manifest, rules)?;
            let parsed: RootToml = toml::from_str(&text)
                .map_err(|e| crate::diag::toml_diag(&root_manifest, &text, &e))?;
            let (package, raw) = match parsed.workspace {
                Some(ws) => (ws.package, ws.metadata.and_then(|m| m.sdkimage)),
                None => (None, None),
            };
            if let Some(v) = raw.as_ref().and_then(|r| r.version.as_ref()) {
                return Err(Error::invalid(Diagnostic::at(
                    &root_manifest,
                    &text,
                    v.span().start,
                    format!(
                        "`version` is not a key of [workspace.metadata.sdkimage]: in a Cargo workspace the version is [workspace.package] version (`version` is for {})",
                        standalone::WORKSPACE_FILE
                    ),
                )));
            }
            let root_package = metadata.package.as_ref();
            package_facts = package
                .as_ref()
                .map_or((None, None), |p| (p.repository.clone(), p.license.clone()));
            package_facts.0 = package_facts.0.or_else(|| root_package?.repository.clone());
            package_facts.1 = package_facts.1.or_else(|| root_package?.license.clone());
            let version = package
                .and_then(|p| p.version)
                .or_else(|| root_package.map(|p| p.version.clone()));
            let keys = standalone::cargo_keys(&text);
            cargo_side = Some((root_manifest, text, raw, version, keys));
        }
        let mut file_side = None;
        if let Some(file) = file {
            let text = crate::guarded::read_to_string(&file, rules)?;
            let (raw, keys) = standalone::parse(&file, &text)?;
            file_side = Some((file, text, raw, keys));
        }
        if let (Some((cargo_file, _, _, _, cargo_keys)), Some((file, _, _, file_keys))) =
            (&cargo_side, &file_side)
            && !cargo_keys.is_empty()
            && !file_keys.is_empty()
        {
            return Err(Error::Usage(format!(
                "the settings of cargo sdkimage are given twice: [workspace.metadata.sdkimage] in {} sets {} and {} sets {}. Keep them in one of the two files.",
                cargo_file.display(),
                cargo_keys.join(", "),
                file.display(),
                file_keys.join(", ")
            )));
        }
        let cargo_version = cargo_side.as_ref().and_then(|c| c.3.clone());
        let (manifest_path, mut config, version) = match (file_side, cargo_side) {
            // The file sets keys (or there is no cargo): it is the source.
            (Some((file, text, mut raw, keys)), cargo_side)
                if !keys.is_empty() || cargo_side.is_none() =>
            {
                if let Some(v) = &raw.version
                    && let Some(c) = v.get_ref().chars().find(|c| c.is_control())
                {
                    let message = format!(
                        "`version` {} contains the control character {}; a version is one line of text",
                        crate::error::quoted(v.get_ref()),
                        crate::error::quoted(&c.to_string())
                    );
                    let at = Diagnostic::at(&file, &text, v.span().start, message);
                    return Err(Error::invalid(at));
                }
                let version = raw
                    .version
                    .take()
                    .map(Spanned::into_inner)
                    .or(cargo_version);
                let config =
                    WorkspaceConfig::from_raw(Some(raw), &root, version.as_deref(), &file, &text)?;
                (file, config, version)
            }
            (_, Some((root_manifest, text, raw, version, _))) => {
                let config = WorkspaceConfig::from_raw(
                    raw,
                    &root,
                    version.as_deref(),
                    &root_manifest,
                    &text,
                )?;
                (root_manifest, config, version)
            }
            // No keys in the file and no cargo is the first arm; nothing at all cannot be.
            (_, None) => unreachable!("a workspace has a Cargo.toml or a workspace file"),
        };
        (config.labels.repository, config.labels.license) = package_facts;
        // Without cargo, the state lives where cargo's would: `<root>/target`.
        let target_dir = metadata
            .as_ref()
            .map_or_else(|| root.join("target"), |m| m.target_dir.clone());
        Ok(Workspace {
            cargo_manifest: metadata.is_some().then(|| root.join("Cargo.toml")),
            root,
            manifest_path,
            target_dir,
            version,
            config,
            cargo,
        })
    }

    /// The root `Cargo.toml`, for what needs cargo (`what`); a clear error when the workspace
    /// is an `sdkimage-workspace.toml` without one.
    pub fn cargo_manifest(&self, what: &str) -> Result<&Path> {
        self.cargo_manifest.as_deref().ok_or_else(|| {
            Error::Usage(format!(
                "{what} needs cargo, but {} is not a Cargo workspace (it has an {} and no Cargo.toml). Add a Cargo workspace at the root, or remove what needs cargo.",
                self.root.display(),
                standalone::WORKSPACE_FILE
            ))
        })
    }

    /// Where a missing version is set, for messages.
    pub fn version_hint(&self) -> String {
        if self.cargo_manifest.is_some() {
            format!(
                "set [workspace.package] version in {}",
                self.root.join("Cargo.toml").display()
            )
        } else {
            format!(
                "set `version = \"...\"` in {} (there is no Cargo workspace to take it from)",
                self.root.join(standalone::WORKSPACE_FILE).display()
            )
        }
    }

    /// `<target>/sdkimage`: logs, fingerprints and the lock.
    pub fn state_dir(&self) -> PathBuf {
        self.target_dir.join("sdkimage")
    }

    /// A path shown to people: relative to the workspace root when inside it.
    pub fn display_path(&self, path: &Path) -> String {
        match path.strip_prefix(&self.root) {
            Ok(rel) if rel.as_os_str().is_empty() => ".".to_string(),
            Ok(rel) => rel.display().to_string(),
            Err(_) => path.display().to_string(),
        }
    }
}

/// Cargo's facts about the workspace at `manifest_path` (or the current folder): read from its
/// root manifest when they are all there ([`cargo_root::read`]), else `cargo metadata`'s.
fn cargo_facts(manifest_path: Option<&Path>, cargo: CargoFlags) -> Result<CargoFacts> {
    let env = |k: &str| std::env::var(k).ok();
    let read = std::env::current_dir()
        .ok()
        .and_then(|cwd| cargo_root::read(manifest_path, &cwd, &env));
    match read {
        Some(facts) => Ok(facts),
        None => cargo_metadata(manifest_path, cargo).map(CargoFacts::from),
    }
}

/// `cargo metadata --no-deps` of the workspace at `manifest_path` (or the current folder).
fn cargo_metadata(
    manifest_path: Option<&Path>,
    cargo: CargoFlags,
) -> Result<cargo_metadata::Metadata> {
    let mut cmd = cargo_metadata::MetadataCommand::new();
    cmd.no_deps();
    cmd.other_options(cargo.args());
    if let Some(path) = manifest_path {
        cmd.manifest_path(path);
    }
    cmd.exec().map_err(|e| {
        let detail = match &e {
            cargo_metadata::Error::CargoMetadata { stderr } => stderr.trim().to_string(),
            other => other.to_string(),
        };
        Error::Usage(format!(
            "cannot read the Cargo workspace{}: {detail}\nRun cargo sdkimage inside a Cargo workspace or below an {} (a repository that is no Cargo workspace puts one at its root), or pass --manifest-path <path/to/Cargo.toml or {}>.",
            manifest_path.map(|p| format!(" at {}", p.display())).unwrap_or_default(),
            standalone::WORKSPACE_FILE,
            standalone::WORKSPACE_FILE,
        ))
    })
}

/// `--manifest-path` names a regular file that exists: a FIFO, a folder or a device is said to
/// be one (cargo would wait forever on a FIFO), a missing file is "no such file".
fn check_manifest_path(path: &Path) -> Result<()> {
    let shown = crate::error::quoted(&path.display().to_string());
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::Usage(format!(
            "--manifest-path {shown}: no such file"
        ))),
        _ => {
            let rules = crate::guarded::Rules::anywhere(crate::guarded::CONFIG_CAP, "a manifest");
            crate::guarded::check(path, rules)
                .map_err(|e| Error::Usage(format!("--manifest-path {e}")))
        }
    }
}

/// The workspace's `engines`, each checked at its `file:line:col`.
fn engines_of(
    raw: Vec<Spanned<crate::engine::pool::RawEngine>>,
    file: &Path,
    text: &str,
    diags: &mut Vec<Diagnostic>,
) -> Vec<crate::engine::pool::EngineSpec> {
    use crate::engine::pool::{EngineSpec, RawEngine, check_host};
    let mut at = |offset: usize, message: String| {
        diags.push(Diagnostic::at(
            file,
            text,
            offset,
            format!("engines: {message}"),
        ));
    };
    let mut specs = Vec::new();
    for entry in raw {
        let start = entry.span().start;
        let (host, host_at, platforms, jobs) = match entry.into_inner() {
            RawEngine::Host(h) => (h, start, Vec::new(), None),
            RawEngine::Table(t) => {
                let host_at = t.host.span().start;
                (t.host.into_inner(), host_at, t.platforms, t.jobs)
            }
        };
        if let Err(e) = check_host(&host) {
            at(host_at, e.to_string());
        }
        if specs.iter().any(|s: &EngineSpec| s.host == host) {
            at(host_at, format!("`{host}` is named twice"));
        }
        let platforms = platforms
            .into_iter()
            .filter_map(|p| match crate::platform::Platform::parse(p.get_ref()) {
                Ok(platform) => Some(platform),
                Err(e) => {
                    at(p.span().start, format!("platforms: {e}"));
                    None
                }
            })
            .collect();
        let jobs = jobs.and_then(|j| match usize::try_from(*j.get_ref()) {
            Ok(n) if n >= 1 => Some(n),
            _ => {
                at(
                    j.span().start,
                    format!("jobs = {} must be 1 or more", j.get_ref()),
                );
                None
            }
        });
        specs.push(EngineSpec {
            host,
            platforms,
            jobs,
        });
    }
    specs
}

fn canonical_root(root: &Path) -> Result<PathBuf> {
    root.canonicalize().map_err(|e| {
        Error::io(
            format!("cannot open the workspace root {}", root.display()),
            e,
        )
    })
}

impl WorkspaceConfig {
    fn from_raw(
        raw: Option<RawConfig>,
        root: &Path,
        version: Option<&str>,
        file: &Path,
        text: &str,
    ) -> Result<WorkspaceConfig> {
        let Some(raw) = raw else {
            return Ok(WorkspaceConfig {
                licenses_dir: root.join("licenses"),
                ..Default::default()
            });
        };
        let mut diags = Vec::new();
        let repository_root = raw.repository_root.map(|r| {
            if let Err(e) = crate::reference::check_repository_root(r.get_ref()) {
                diags.push(Diagnostic::at(
                    file,
                    text,
                    r.span().start,
                    format!("repository-root: {e}"),
                ));
            }
            r.into_inner()
        });
        let tags = raw.tags.map(|tags| {
            if tags.is_empty() {
                diags.push(Diagnostic::at(
                    file,
                    text,
                    0,
                    "tags: the list is empty; give at least one tag or remove the key",
                ));
            }
            tags.iter()
                .filter_map(|t| match Template::parse_with(t.get_ref(), &["version"]) {
                    Ok(template) => {
                        // Without a version, the plan says so if these tags are used.
                        if let Ok(tag) = template.expand(|_| version.map(str::to_string))
                            && let Err(e) = crate::reference::check_tag(&tag)
                        {
                            diags.push(Diagnostic::at(
                                file,
                                text,
                                t.span().start,
                                format!("tags: {e}"),
                            ));
                        }
                        Some(template)
                    }
                    Err(e) => {
                        diags.push(Diagnostic::at(
                            file,
                            text,
                            t.span().start + 1 + e.offset,
                            format!("tags: {}", e.message),
                        ));
                        None
                    }
                })
                .collect()
        });
        let licenses_dir = match raw.licenses_dir {
            Some(dir) => {
                let rel = Path::new(dir.get_ref());
                let joined = crate::paths::normalize(&root.join(rel));
                if rel.is_absolute() || !joined.starts_with(root) {
                    diags.push(Diagnostic::at(
                        file,
                        text,
                        dir.span().start,
                        format!(
                            "licenses-dir `{}` must be a folder inside the workspace root",
                            dir.get_ref()
                        ),
                    ));
                }
                joined
            }
            None => root.join("licenses"),
        };
        if let Some(b) = &raw.builder
            && let Err(e) = crate::manifest::check_builder(b.get_ref())
        {
            diags.push(Diagnostic::at(file, text, b.span().start, e.to_string()));
        }
        let platforms = raw
            .platforms
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| match crate::platform::Platform::parse(p.get_ref()) {
                Ok(platform) => Some(platform),
                Err(e) => {
                    let at = Diagnostic::at(file, text, p.span().start, format!("platforms: {e}"));
                    diags.push(at);
                    None
                }
            })
            .collect();
        let cache = crate::cache::from_file(
            raw.cache_from.as_deref().unwrap_or_default(),
            raw.cache_to.as_deref().unwrap_or_default(),
            raw.cache.as_ref(),
            file,
            text,
            &mut diags,
        );
        let labels = crate::labels::LabelSettings {
            defaults: raw.default_labels.unwrap_or(true),
            labels: raw.labels.map_or_else(Default::default, |l| {
                crate::labels::check_table(l, file, text, &mut diags)
            }),
            ..Default::default()
        };
        let engines = raw
            .engines
            .map(|e| engines_of(e, file, text, &mut diags))
            .unwrap_or_default();
        let sign_key = raw.sign_key.and_then(|key| {
            if key.get_ref().trim().is_empty() {
                diags.push(Diagnostic::at(
                    file,
                    text,
                    key.span().start,
                    "sign-key is empty; give the path of an EC P-256 private key in PEM",
                ));
                return None;
            }
            let shown = format!("sign-key {}", crate::error::quoted(key.get_ref()));
            Some(SignKeySetting {
                path: root.join(key.get_ref()),
                at: Diagnostic::at(file, text, key.span().start, shown).to_string(),
            })
        });
        let maven_repo = raw
            .maven_repo
            .and_then(|r| maven_repo_of(&r, root, file, text, &mut diags));
        if !diags.is_empty() {
            return Err(Error::Invalid(diags));
        }
        Ok(WorkspaceConfig {
            sign_key,
            engines,
            repository_root,
            tags,
            licenses_dir,
            builder: raw.builder.map(Spanned::into_inner),
            platforms,
            cache,
            pull: raw.pull.unwrap_or(false),
            reproducible: raw.reproducible,
            labels,
            maven_repo,
        })
    }
}

/// `maven-repo`: a folder, relative to the workspace root, absolute, or under `~/`. Unlike the
/// manifests' paths it may lie outside the workspace, as the default `~/.m2/repository` does.
fn maven_repo_of(
    value: &Spanned<String>,
    root: &Path,
    file: &Path,
    text: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<PathBuf> {
    let written = value.get_ref();
    let path = match written.strip_prefix("~/") {
        Some(rest) => home::home_dir().map(|h| h.join(rest)),
        None => Some(root.join(written)),
    };
    let problem = match &path {
        None => "`~` is not known here (no home folder)".to_string(),
        Some(p) if p.is_dir() => return Some(crate::paths::normalize(p)),
        Some(p) if p.exists() => format!("{} is not a folder", p.display()),
        Some(p) => format!("{} does not exist", p.display()),
    };
    diags.push(Diagnostic::at(
        file,
        text,
        value.span().start,
        format!(
            "maven-repo `{written}`: {problem}; give a local Maven repository folder (the one \
             holding `<group path>/<artifact>/<version>/*.pom`), or remove the key for \
             ~/.m2/repository"
        ),
    ));
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(root: &Path, text: &str) -> Result<WorkspaceConfig> {
        let file = root.join("sdkimage-workspace.toml");
        let (raw, _) = standalone::parse(&file, text)?;
        WorkspaceConfig::from_raw(Some(raw), root, None, &file, text)
    }

    #[test]
    fn maven_repo_is_a_folder_relative_to_the_root_or_absolute() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("vendor/m2")).unwrap();
        std::fs::write(root.join("vendor/file"), "").unwrap();
        let found = config(root, "maven-repo = \"vendor/m2\"\n").unwrap();
        assert_eq!(found.maven_repo, Some(root.join("vendor/m2")));
        let outside = tempfile::tempdir().unwrap();
        let text = format!("maven-repo = \"{}\"\n", outside.path().display());
        let found = config(root, &text).unwrap();
        assert_eq!(found.maven_repo.as_deref(), Some(outside.path()));
        assert_eq!(config(root, "").unwrap().maven_repo, None);

        let err = config(root, "version = \"1\"\nmaven-repo = \"vendor/nope\"\n")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("sdkimage-workspace.toml:2:14"), "{err}");
        assert!(err.contains("vendor/nope does not exist"), "{err}");
        let err = config(root, "maven-repo = \"vendor/file\"\n")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains(":1:14"), "{err}");
        assert!(err.contains("is not a folder"), "{err}");
    }
}
