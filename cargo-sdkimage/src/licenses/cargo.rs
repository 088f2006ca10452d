//! The `cargo` gatherer: the third-party crates a crate of the workspace links, with the texts
//! from their unpacked sources.
//!
//! `cargo metadata` (without `--no-deps`) downloads every package of the resolve that is missing
//! and unpacks it under `$CARGO_HOME/registry/src/` (it also re-unpacks a source folder that was
//! removed while its `.crate` is cached), so once it succeeds each `manifest_path` exists. No
//! separate `cargo fetch` is needed, and none would fetch less.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::path::Path;
use std::process::Command;

use cargo_metadata::{DependencyKind, Metadata, MetadataCommand, Package, PackageId};

use serde::Deserialize;

use super::{Ecosystem, Gathered, LicenseEntry, Origin, canonical_spdx, is_license_file_name};
use crate::error::{Error, Result};
use crate::manifest::LicenseSource;
use crate::workspace::Workspace;

/// The registered reader of a `cargo` source (its `manifest` key).
pub(super) fn gather_source(ws: &Workspace, source: &LicenseSource) -> Result<Gathered> {
    let manifest = source
        .path("manifest")
        .expect("the manifest requires `manifest` for cargo");
    gather_cargo(ws, manifest)
}

/// The third-party crates `crate_manifest` (a workspace member's `Cargo.toml`) depends on for the
/// host platform: normal dependencies, followed transitively (also through first-party members,
/// which are not listed themselves); dev and build dependencies do not ship and are left out.
pub fn gather_cargo(ws: &Workspace, crate_manifest: &Path) -> Result<Gathered> {
    let cargo_manifest = ws.cargo_manifest("a `cargo` license source")?;
    let host = host_triple()?;
    let (metadata, checksums) = resolve(ws, cargo_manifest, &host)?;
    let root = find_package(&metadata, crate_manifest)?;
    let mut gathered = Gathered::default();
    for id in third_party_dependencies(&metadata, &root.id)? {
        let package = &metadata[&id];
        let mut entry = entry(package)?;
        entry.origin = origin(package, &checksums);
        gathered.entries.push(entry);
    }
    Ok(gathered)
}

/// `cargo metadata` of the whole resolve, with the lock file's checksums, never failing where
/// `cargo build` would succeed and never changing the user's `Cargo.lock`:
/// - with `--locked`/`--frozen` from the user, exactly that, in place (cargo's refusal stands);
/// - else, in place with `--locked` added when the lock file is up to date (it is then only read);
/// - else, on a copy: a temporary folder of links to the workspace root's entries beside a copy
///   of its `Cargo.lock`, which cargo updates there (`shadow_resolve`);
/// - and when even that fails (a relative path dependency out of the workspace root cannot be
///   reached from the copy), in place without `--locked`, as `cargo build` would: cargo then
///   updates `Cargo.lock` itself.
fn resolve(ws: &Workspace, cargo_manifest: &Path, host: &str) -> Result<(Metadata, Checksums)> {
    let flags = ws.cargo;
    let failed = |detail: ResolveError| {
        Error::Failed(format!(
            "cargo licenses: cannot resolve the dependencies of {}: {detail}",
            cargo_manifest.display()
        ))
    };
    let in_place = |locked: bool| {
        let mut options = flags.args();
        if locked {
            options.push("--locked".to_string());
        }
        cargo_metadata_of(cargo_manifest, options, host)
    };
    if flags.lock_fixed() {
        let metadata = in_place(false).map_err(failed)?;
        return Ok((metadata, lock_checksums(&ws.root)?));
    }
    if ws.root.join("Cargo.lock").is_file() {
        match in_place(true) {
            Ok(metadata) => return Ok((metadata, lock_checksums(&ws.root)?)),
            // Anything but "the lock file needs an update" fails the same on a copy.
            Err(detail) if !detail.to_string().contains("--locked") => {
                return Err(failed(detail));
            }
            Err(_) => {}
        }
    }
    if let Ok(found) = shadow_resolve(ws, host) {
        return Ok(found);
    }
    let metadata = in_place(false).map_err(failed)?;
    Ok((metadata, lock_checksums(&ws.root)?))
}

/// Why the dependencies could not be resolved.
#[derive(Debug, thiserror::Error)]
enum ResolveError {
    /// cargo ran and refused: its message.
    #[error("{0}")]
    Cargo(String),
    /// cargo could not be run or its output not read.
    #[error(transparent)]
    Metadata(cargo_metadata::Error),
    /// The copy of the workspace root could not be made.
    #[error(transparent)]
    Shadow(#[from] std::io::Error),
    /// The copy's `Cargo.lock` could not be read.
    #[error(transparent)]
    Lock(Box<Error>),
}

/// `cargo metadata` (the whole resolve, for `host`) of `manifest` with `options`; cargo's
/// message on failure.
fn cargo_metadata_of(
    manifest: &Path,
    mut options: Vec<String>,
    host: &str,
) -> std::result::Result<Metadata, ResolveError> {
    options.extend(["--filter-platform".to_string(), host.to_string()]);
    MetadataCommand::new()
        .manifest_path(manifest)
        .other_options(options)
        .exec()
        .map_err(|e| match e {
            cargo_metadata::Error::CargoMetadata { stderr } => {
                ResolveError::Cargo(stderr.trim().to_string())
            }
            other => ResolveError::Metadata(other),
        })
}

/// The resolve on a copy: a temporary folder holding a link to every entry of the workspace
/// root but `Cargo.lock`, and a copy of `Cargo.lock` (when there is one) that cargo may update.
/// Paths inside the workspace resolve through the links (a crate's folder canonicalizes to the
/// real one); the user's lock file is never opened for writing.
fn shadow_resolve(
    ws: &Workspace,
    host: &str,
) -> std::result::Result<(Metadata, Checksums), ResolveError> {
    let shadow = tempfile::Builder::new()
        .prefix("sdkimage-cargo-resolve-")
        .tempdir()?;
    let entries = std::fs::read_dir(&ws.root)?;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let target = shadow.path().join(&name);
        if name == "Cargo.lock" {
            std::fs::copy(entry.path(), &target)?;
        } else {
            std::os::unix::fs::symlink(entry.path(), &target)?;
        }
    }
    let mut metadata = cargo_metadata_of(&shadow.path().join("Cargo.toml"), ws.cargo.args(), host)?;
    let checksums = lock_checksums(shadow.path()).map_err(|e| ResolveError::Lock(Box::new(e)))?;
    // The copy goes away: paths through it become the workspace's own.
    let real = |path: &mut cargo_metadata::camino::Utf8PathBuf| {
        if let Ok(rest) = path.strip_prefix(shadow.path())
            && let Some(root) = cargo_metadata::camino::Utf8Path::from_path(&ws.root)
        {
            *path = root.join(rest);
        }
    };
    real(&mut metadata.workspace_root);
    for package in &mut metadata.packages {
        real(&mut package.manifest_path);
    }
    Ok((metadata, checksums))
}

/// `(name, version, source) -> checksum`.
type Checksums = HashMap<(String, String, String), String>;

/// `Cargo.lock`'s packages, for their checksums.
#[derive(Deserialize)]
struct Lock {
    #[serde(default)]
    package: Vec<LockedPackage>,
}

#[derive(Deserialize)]
struct LockedPackage {
    name: String,
    version: String,
    source: Option<String>,
    checksum: Option<String>,
}

/// `(name, version, source) -> checksum` of the registry packages of the workspace's
/// `Cargo.lock` (the sha256 of the `.crate` file); empty without a lock file.
fn lock_checksums(root: &Path) -> Result<Checksums> {
    let path = root.join("Cargo.lock");
    let rules = crate::guarded::Rules::new(root, crate::guarded::METADATA_CAP, "Cargo.lock");
    let text = match crate::guarded::read_to_string(&path, rules) {
        Ok(text) => text,
        Err(e) if e.is_not_found() => return Ok(HashMap::new()),
        Err(e) => return Err(e.into()),
    };
    let lock: Lock = toml::from_str(&text).map_err(|e| {
        Error::Usage(format!(
            "cannot read {}: {}; let cargo rewrite it (`cargo update --workspace`)",
            path.display(),
            e.message()
        ))
    })?;
    Ok(lock
        .package
        .into_iter()
        .filter_map(|p| Some(((p.name, p.version, p.source?), p.checksum?)))
        .collect())
}

/// A crate's download location and checksum: crates.io's download URL and the lock file's
/// sha256 for a crates.io crate, the lock's checksum alone for another registry's, the
/// repository at its commit for a git dependency, nothing for a path dependency.
fn origin(package: &Package, checksums: &Checksums) -> Origin {
    let Some(source) = &package.source else {
        return Origin::default();
    };
    let (name, version) = (package.name.to_string(), package.version.to_string());
    let sha256 = checksums
        .get(&(name.clone(), version.clone(), source.repr.clone()))
        .cloned();
    let crates_io = matches!(
        source.repr.as_str(),
        "registry+https://github.com/rust-lang/crates.io-index" | "sparse+https://index.crates.io/"
    );
    let download = if crates_io {
        Some(format!(
            "https://crates.io/api/v1/crates/{name}/{version}/download"
        ))
    } else {
        git_location(&source.repr)
    };
    Origin {
        download,
        sha256,
        arch: None,
    }
}

/// `git+https://host/repo?branch=main#<commit>` as SPDX writes a VCS location:
/// `git+https://host/repo@<commit>`.
fn git_location(source: &str) -> Option<String> {
    let rest = source.strip_prefix("git+")?;
    let (url, commit) = rest.split_once('#')?;
    let url = url.split('?').next().unwrap_or(url);
    Some(format!("git+{url}@{commit}"))
}

/// The host target triple, from `cargo -vV` (the platform the crate is built for).
fn host_triple() -> Result<String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .arg("-vV")
        .output()
        .map_err(|e| Error::io(format!("cannot run {} -vV", cargo.to_string_lossy()), e))?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(|host| host.trim().to_string())
        .ok_or_else(|| {
            Error::Failed(format!(
                "cannot find the host platform in the output of `{} -vV`",
                cargo.to_string_lossy()
            ))
        })
}

fn find_package<'a>(metadata: &'a Metadata, crate_manifest: &Path) -> Result<&'a Package> {
    let wanted = crate_manifest.canonicalize().map_err(|e| {
        Error::io(
            format!(
                "cannot open the cargo license source {}",
                crate_manifest.display()
            ),
            e,
        )
    })?;
    metadata
        .workspace_packages()
        .into_iter()
        .find(|p| p.manifest_path.as_std_path().canonicalize().is_ok_and(|m| m == wanted))
        .ok_or_else(|| {
            Error::Usage(format!(
                "cargo license source {} is not a member of the workspace at {}; list its crate in `[workspace] members`",
                crate_manifest.display(),
                metadata.workspace_root
            ))
        })
}

/// Breadth-first over the resolve graph from `root`, along normal dependency edges only; the
/// packages that are not workspace members, sorted (by name, then version).
fn third_party_dependencies(metadata: &Metadata, root: &PackageId) -> Result<Vec<PackageId>> {
    let resolve = metadata.resolve.as_ref().ok_or_else(|| {
        Error::Failed(
            "cargo metadata returned no dependency graph (was it run with --no-deps?)".into(),
        )
    })?;
    let nodes: HashMap<&PackageId, _> = resolve.nodes.iter().map(|n| (&n.id, n)).collect();
    let members: HashSet<&PackageId> = metadata.workspace_members.iter().collect();
    let mut seen: HashSet<&PackageId> = HashSet::from([root]);
    let mut queue = VecDeque::from([root]);
    let mut found = BTreeSet::new();
    while let Some(id) = queue.pop_front() {
        let Some(node) = nodes.get(id) else { continue };
        let normal = node
            .deps
            .iter()
            .filter(|d| d.dep_kinds.iter().any(|k| k.kind == DependencyKind::Normal));
        for dep in normal {
            if seen.insert(&dep.pkg) {
                queue.push_back(&dep.pkg);
                if !members.contains(&dep.pkg) {
                    let package = &metadata[&dep.pkg];
                    found.insert((
                        package.name.to_string(),
                        package.version.clone(),
                        dep.pkg.clone(),
                    ));
                }
            }
        }
    }
    Ok(found.into_iter().map(|(_, _, id)| id).collect())
}

/// A crate's entry: the declared license and every license file in its source folder (top-level
/// `LICENSE*`, `LICENCE*`, `COPYING*`, `NOTICE*`, ..., the files of a REUSE `LICENSES/` folder,
/// and the manifest's `license-file`).
fn entry(package: &Package) -> Result<LicenseEntry> {
    let name = package.name.to_string();
    let version = package.version.to_string();
    let license = package
        .license
        .as_deref()
        .map(|l| canonical_spdx(l).unwrap_or_else(|| l.to_string()));
    let mut entry = LicenseEntry::new(Ecosystem::Cargo, &name, &version, license);
    let Some(dir) = package.manifest_path.parent() else {
        return Ok(entry);
    };
    let dir = dir.as_std_path();
    let source = |rel: &str| format!("crate:{name}-{version}/{rel}");
    for (rel, path) in license_files(dir)? {
        let contents = std::fs::read(&path)
            .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
        let file_name = rel.rsplit('/').next().unwrap_or(&rel).to_string();
        entry.add_file(&file_name, source(&rel), contents);
    }
    if let Some(file) = package.license_file() {
        let path = file.as_std_path();
        let contents = std::fs::read(path).map_err(|e| {
            Error::Failed(format!(
                "crate {name} {version} names license-file `{}`, which cannot be read: {e}",
                package
                    .license_file
                    .as_ref()
                    .map(|f| f.as_str())
                    .unwrap_or_default()
            ))
        })?;
        let file_name = path
            .file_name()
            .map_or("LICENSE".into(), |n| n.to_string_lossy().into_owned());
        let rel = path.strip_prefix(dir).map_or_else(
            |_| file_name.clone(),
            |r| r.to_string_lossy().replace('\\', "/"),
        );
        entry.add_file(&file_name, source(&rel), contents);
    }
    Ok(entry)
}

/// `(path relative to dir, absolute path)` of the license files in a crate's folder, sorted.
fn license_files(dir: &Path) -> Result<Vec<(String, std::path::PathBuf)>> {
    let mut found = Vec::new();
    for (name, path, is_dir) in sorted_dir(dir)? {
        if is_dir && name.eq_ignore_ascii_case("LICENSES") {
            for (inner, inner_path, inner_is_dir) in sorted_dir(&path)? {
                if !inner_is_dir {
                    found.push((format!("{name}/{inner}"), inner_path));
                }
            }
        } else if !is_dir && is_license_file_name(&name) {
            found.push((name, path));
        }
    }
    Ok(found)
}

fn sorted_dir(dir: &Path) -> Result<Vec<(String, std::path::PathBuf, bool)>> {
    let read = std::fs::read_dir(dir)
        .map_err(|e| Error::io(format!("cannot list {}", dir.display()), e))?;
    let mut out = Vec::new();
    for item in read {
        let item = item.map_err(|e| Error::io(format!("cannot list {}", dir.display()), e))?;
        let path = item.path();
        // Follows symlinks: a crate may link LICENSE to a shared file.
        let is_dir = path.is_dir();
        out.push((
            item.file_name().to_string_lossy().into_owned(),
            path,
            is_dir,
        ));
    }
    out.sort();
    Ok(out)
}
