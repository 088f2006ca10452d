//! The `java` gatherer: every `*.jar` and `*.war` of the image, and the jars nested in them.
//! Each `META-INF/maven/<group>/<artifact>/pom.properties` is a Maven package (a shaded jar holds
//! several); a jar without one is listed by file name and hash.
//!
//! The license: the POM's `<licenses>` (mapped to SPDX exactly, `pom.rs`), else its parents'
//! through the local Maven repository (`maven-repo` of the source, else of the workspace, else
//! `~/.m2/repository`), else the one license the jar's own texts are identified as. The texts:
//! the jar's `META-INF/LICENSE*` and `NOTICE*` (else, in `check`, the SPDX list's standard text
//! of a declared SPDX license, else overrides).

mod pom;

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::gatherer::ImageGatherer;
use super::snapshot::Snapshot;
use super::{Ecosystem, LicenseEntry, identify, is_license_file_name};
use crate::error::{Error, Result};
use crate::manifest::LicenseSource;
use crate::workspace::Workspace;

use pom::{Coordinates, Pom};

/// How deep jars nested in jars are opened.
const MAX_NESTING: usize = 3;
/// How many parent POMs are followed.
const MAX_PARENTS: usize = 10;
/// The largest member (text, POM or nested jar) read out of a jar.
const MAX_MEMBER: u64 = 512 << 20;

/// The registered reader of a `java` source.
pub(super) fn gatherer(ws: &Workspace, source: &LicenseSource) -> Result<Box<dyn ImageGatherer>> {
    let repo = maven_repo(ws, source);
    Ok(Box::new(Java {
        repo,
        entries: Vec::new(),
    }))
}

/// The Maven repository of a `java` source: its own `maven-repo`, else the workspace's, else
/// `~/.m2/repository`.
pub(super) fn maven_repo(ws: &Workspace, source: &LicenseSource) -> Option<PathBuf> {
    source
        .path("maven-repo")
        .or(ws.config.maven_repo.as_deref())
        .map(Path::to_path_buf)
        .or_else(|| home::home_dir().map(|h| h.join(".m2/repository")))
}

/// What a `java` source reads besides its own keys (for the image's fingerprint): the
/// workspace's `maven-repo` when the source follows it (the default `~/.m2/repository` is not
/// hashed: it is the host's, and large).
pub(super) fn workspace_inputs(ws: &Workspace, source: &LicenseSource) -> Vec<PathBuf> {
    match (source.path("maven-repo"), &ws.config.maven_repo) {
        (None, Some(repo)) => vec![repo.clone()],
        _ => Vec::new(),
    }
}

struct Java {
    repo: Option<PathBuf>,
    entries: Vec<LicenseEntry>,
}

fn is_archive(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.ends_with(".jar") || lower.ends_with(".war")
}

impl ImageGatherer for Java {
    fn inspects(&self, path: &str, _mode: u32, _head: &[u8]) -> bool {
        is_archive(path)
    }

    fn inspect(&mut self, path: &str, contents: &[u8]) -> Result<()> {
        let entries = read_jar(path, contents, self.repo.as_deref(), 0)?;
        self.entries.extend(entries);
        Ok(())
    }

    fn gather(self: Box<Self>, _: &Snapshot) -> Result<Vec<LicenseEntry>> {
        Ok(self.entries)
    }
}

/// What one jar holds: its packages (with their POMs), texts and nested jars.
#[derive(Default)]
struct JarContents {
    packages: Vec<(Coordinates, Option<Pom>)>,
    /// `(member path, contents)` of `META-INF/LICENSE*`, `NOTICE*`, ...
    texts: Vec<(String, Vec<u8>)>,
    nested: Vec<(String, Vec<u8>)>,
}

/// The entries of the jar at `path` (`outer.jar!/inner.jar` when nested).
pub(crate) fn read_jar(
    path: &str,
    contents: &[u8],
    repo: Option<&Path>,
    depth: usize,
) -> Result<Vec<LicenseEntry>> {
    let bad = |e: &dyn std::fmt::Display| {
        Error::Failed(format!(
            "java licenses: {path} in the image is not a readable jar: {e}"
        ))
    };
    let jar = contents_of(contents).map_err(|e| bad(&e))?;
    let sha256 = hex::encode(Sha256::digest(contents));
    let mut entries = Vec::new();
    let file_name = path.rsplit(['/', '!']).next().unwrap_or(path);
    if jar.packages.is_empty() {
        let mut entry = LicenseEntry::new(
            Ecosystem::Maven,
            file_name,
            &format!("sha256-{}", &sha256[..16]),
            None,
        );
        entry.origin.sha256 = Some(sha256.clone());
        add_texts(&mut entry, path, &jar.texts);
        identify_license(&mut entry);
        entries.push(entry);
    }
    let single = jar.packages.len() == 1;
    for (coordinates, pom) in &jar.packages {
        let declared = pom
            .as_ref()
            .and_then(|p| pom::expression(&p.licenses))
            .or_else(|| {
                let parent = pom.as_ref()?.parent.as_ref()?;
                parent_license(repo?, parent)
            });
        let mut entry = LicenseEntry::new(
            Ecosystem::Maven,
            &coordinates.name(),
            &coordinates.version,
            declared,
        );
        if single {
            entry.origin.sha256 = Some(sha256.clone());
        }
        add_texts(&mut entry, path, &jar.texts);
        if entry.license.is_none() {
            identify_license(&mut entry);
        }
        entries.push(entry);
    }
    if depth < MAX_NESTING {
        for (member, bytes) in &jar.nested {
            entries.extend(read_jar(
                &format!("{path}!/{member}"),
                bytes,
                repo,
                depth + 1,
            )?);
        }
    }
    Ok(entries)
}

fn add_texts(entry: &mut LicenseEntry, jar: &str, texts: &[(String, Vec<u8>)]) {
    for (member, contents) in texts {
        let name = member.rsplit('/').next().unwrap_or(member);
        entry.add_file(name, format!("image:{jar}!/{member}"), contents.clone());
    }
}

fn identify_license(entry: &mut LicenseEntry) {
    if let Some((id, from)) = identify::identify_files(&entry.files) {
        entry.license = Some(id);
        entry.identified_from = Some(from);
    }
}

/// Why a jar cannot be read.
#[derive(Debug, thiserror::Error)]
enum JarError {
    #[error(transparent)]
    Zip(#[from] zip::result::ZipError),
    #[error("{name} is {size} bytes, more than {MAX_MEMBER}")]
    TooLarge { name: String, size: u64 },
    #[error("{name}: {source}")]
    Read {
        name: String,
        source: std::io::Error,
    },
    #[error("{name}: {source}")]
    Pom { name: String, source: pom::PomError },
}

fn contents_of(bytes: &[u8]) -> std::result::Result<JarContents, JarError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))?;
    let mut jar = JarContents::default();
    let mut poms: Vec<(String, Pom)> = Vec::new();
    let mut properties: Vec<(String, Coordinates)> = Vec::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i)?;
        if !file.is_file() {
            continue;
        }
        let name = file.name()?.into_owned();
        let parts: Vec<&str> = name.split('/').collect();
        let wanted = match parts.as_slice() {
            ["META-INF", "maven", _, _, "pom.properties" | "pom.xml"] => true,
            ["META-INF", text] => is_license_file_name(text),
            _ => is_archive(&name),
        };
        if !wanted {
            continue;
        }
        if file.size() > MAX_MEMBER {
            return Err(JarError::TooLarge {
                name,
                size: file.size(),
            });
        }
        let mut data = Vec::with_capacity(usize::try_from(file.size()).unwrap_or(0));
        if let Err(source) = file.read_to_end(&mut data) {
            return Err(JarError::Read { name, source });
        }
        let folder = parts[..parts.len() - 1].join("/");
        match parts.as_slice() {
            [.., "pom.properties"] => {
                if let Some(c) = pom::properties(&data) {
                    properties.push((folder, c));
                }
            }
            [.., "pom.xml"] => {
                let pom = match pom::parse(&String::from_utf8_lossy(&data)) {
                    Ok(pom) => pom,
                    Err(source) => return Err(JarError::Pom { name, source }),
                };
                poms.push((folder, pom));
            }
            ["META-INF", _] => jar.texts.push((name, data)),
            _ => jar.nested.push((name, data)),
        }
    }
    properties.sort();
    for (folder, coordinates) in properties {
        let pom = poms
            .iter()
            .find(|(f, _)| *f == folder)
            .map(|(_, p)| p.clone());
        jar.packages.push((coordinates, pom));
    }
    Ok(jar)
}

/// The licenses a parent chain declares, nearest first, from `<repo>/<group path>/<artifact>/
/// <version>/<artifact>-<version>.pom`; `None` when a parent is missing or none declares any.
fn parent_license(repo: &Path, parent: &Coordinates) -> Option<String> {
    let mut next = Some(parent.clone());
    for _ in 0..MAX_PARENTS {
        let c = next.take()?;
        let path = repo
            .join(c.group.replace('.', "/"))
            .join(&c.artifact)
            .join(&c.version)
            .join(format!("{}-{}.pom", c.artifact, c.version));
        let text = std::fs::read_to_string(&path).ok()?;
        let pom = pom::parse(&text).ok()?;
        if let Some(expression) = pom::expression(&pom.licenses) {
            return Some(expression);
        }
        next = pom.parent;
    }
    None
}

#[cfg(test)]
mod tests;
