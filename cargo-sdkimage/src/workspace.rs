//! The monorepo: its root (from `cargo metadata --no-deps`), its version and the repo-wide
//! defaults in `[workspace.metadata.sdkimage]`.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::error::{Diagnostic, Error, Result};
use crate::template::Template;

/// Repo-wide defaults from the root `Cargo.toml`.
#[derive(Debug, Clone, Default)]
pub struct WorkspaceConfig {
    pub repository_root: Option<String>,
    /// Default tags, as templates (only `{version}` may appear).
    pub tags: Option<Vec<Template>>,
    /// Absolute path of the license policy and overrides folder.
    pub licenses_dir: PathBuf,
    /// `builder = "auto" | "buildkit" | "classic"`: the default of every manifest.
    pub builder: Option<String>,
    /// Default `platforms` of every manifest (`os/arch[/variant]`).
    pub platforms: Vec<String>,
    /// `cache-from`, `cache-to` and `cache = "registry"` (see `cache.rs`).
    pub cache: crate::cache::CacheConfig,
}

/// A workspace member: first-party code.
#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    pub version: String,
    pub manifest_path: PathBuf,
}

/// cargo's `--locked`, `--offline` and `--frozen`, passed to every cargo call the tool makes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CargoFlags {
    pub locked: bool,
    pub offline: bool,
    pub frozen: bool,
}

impl CargoFlags {
    /// The flags as cargo arguments. `lock_exists`: a release never rewrites `Cargo.lock`, so
    /// a resolving call passes `--locked` whenever there is one.
    pub fn args(&self, lock_exists: bool) -> Vec<String> {
        let mut args = Vec::new();
        if self.frozen {
            args.push("--frozen".to_string());
        } else {
            if self.locked || lock_exists {
                args.push("--locked".to_string());
            }
            if self.offline {
                args.push("--offline".to_string());
            }
        }
        args
    }
}

#[derive(Debug, Clone)]
pub struct Workspace {
    /// Canonical workspace root.
    pub root: PathBuf,
    /// The root `Cargo.toml`.
    pub manifest_path: PathBuf,
    /// Cargo's target directory; our state lives in `<target>/sdkimage/`.
    pub target_dir: PathBuf,
    /// `[workspace.package] version`, else the root package's version.
    pub version: Option<String>,
    pub config: WorkspaceConfig,
    pub members: Vec<Member>,
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
}

#[derive(Deserialize)]
struct WorkspaceMetadata {
    sdkimage: Option<RawConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawConfig {
    repository_root: Option<Spanned<String>>,
    tags: Option<Vec<Spanned<String>>>,
    licenses_dir: Option<Spanned<String>>,
    builder: Option<Spanned<String>>,
    platforms: Option<Vec<Spanned<String>>>,
    cache_from: Option<Vec<Spanned<String>>>,
    cache_to: Option<Vec<Spanned<String>>>,
    cache: Option<Spanned<String>>,
}

impl Workspace {
    /// Find the workspace the way cargo does: from `manifest_path`, or from the current folder.
    pub fn load(manifest_path: Option<&Path>, cargo: CargoFlags) -> Result<Workspace> {
        if let Some(path) = manifest_path
            && path.file_name() != Some(std::ffi::OsStr::new("Cargo.toml"))
        {
            return Err(Error::Usage(format!(
                "--manifest-path {}: expected the path of a Cargo.toml (the workspace's root manifest or a member's), not {}",
                crate::error::quoted(&path.display().to_string()),
                path.file_name().map_or_else(
                    || "a folder".to_string(),
                    |n| format!(
                        "a file named {}",
                        crate::error::quoted(&n.to_string_lossy())
                    )
                )
            )));
        }
        let mut cmd = cargo_metadata::MetadataCommand::new();
        cmd.no_deps();
        cmd.other_options(cargo.args(false));
        if let Some(path) = manifest_path {
            cmd.manifest_path(path);
        }
        let metadata = cmd.exec().map_err(|e| {
            let detail = match &e {
                cargo_metadata::Error::CargoMetadata { stderr } => stderr.trim().to_string(),
                other => other.to_string(),
            };
            Error::Usage(format!(
                "cannot read the Cargo workspace{}: {detail}\nRun cargo sdkimage inside a Cargo workspace, or pass --manifest-path <path/to/Cargo.toml>.",
                manifest_path.map(|p| format!(" at {}", p.display())).unwrap_or_default()
            ))
        })?;
        let root = metadata.workspace_root.clone().into_std_path_buf();
        let root = root.canonicalize().map_err(|e| {
            Error::io(
                format!("cannot open the workspace root {}", root.display()),
                e,
            )
        })?;
        let root_manifest = root.join("Cargo.toml");
        let rules =
            crate::guarded::Rules::new(&root, crate::guarded::CONFIG_CAP, "the workspace manifest");
        let text = crate::guarded::read_to_string(&root_manifest, rules)?;
        let parsed: RootToml =
            toml::from_str(&text).map_err(|e| crate::diag::toml_diag(&root_manifest, &text, &e))?;
        let (package, raw) = match parsed.workspace {
            Some(ws) => (ws.package, ws.metadata.and_then(|m| m.sdkimage)),
            None => (None, None),
        };
        let version = package
            .and_then(|p| p.version)
            .or_else(|| metadata.root_package().map(|p| p.version.to_string()));
        let config =
            WorkspaceConfig::from_raw(raw, &root, version.as_deref(), &root_manifest, &text)?;
        let members = metadata
            .workspace_packages()
            .into_iter()
            .map(|p| Member {
                name: p.name.to_string(),
                version: p.version.to_string(),
                manifest_path: p.manifest_path.clone().into_std_path_buf(),
            })
            .collect();
        Ok(Workspace {
            root,
            manifest_path: root_manifest,
            target_dir: metadata.target_directory.into_std_path_buf(),
            version,
            config,
            members,
            cargo,
        })
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
            diags.push(Diagnostic::at(file, text, b.span().start, e));
        }
        let platforms: Vec<String> = raw
            .platforms
            .unwrap_or_default()
            .into_iter()
            .map(|p| {
                if let Err(e) = crate::reference::check_platform(p.get_ref()) {
                    diags.push(Diagnostic::at(
                        file,
                        text,
                        p.span().start,
                        format!("platforms: {e}"),
                    ));
                }
                p.into_inner()
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
        if !diags.is_empty() {
            return Err(Error::Invalid(diags));
        }
        Ok(WorkspaceConfig {
            repository_root,
            tags,
            licenses_dir,
            builder: raw.builder.map(Spanned::into_inner),
            platforms,
            cache,
        })
    }
}
