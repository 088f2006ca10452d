//! The output layout: `<dest>/<ecosystem>/<name>-<version>/<files>`, `<dest>/index.json` and
//! `<dest>/sbom.spdx.json` (the SBOM, made by `sbom.rs`), as deterministic tar entries (a final image layer) or as files in a folder.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Ecosystem, Resolved};
use crate::error::{Error, Result};

const INDEX: &str = "index.json";

/// `index.json`: one object with an `entries` array, in layout order.
#[derive(Serialize)]
struct Index<'a> {
    entries: Vec<IndexEntry<'a>>,
}

#[derive(Serialize)]
struct IndexEntry<'a> {
    name: &'a str,
    version: &'a str,
    ecosystem: Ecosystem,
    /// SPDX when known, else the declared name; null when nothing is declared.
    license: Option<&'a str>,
    /// The text (a path in `files`) the license was identified from, when the package declares
    /// none; absent when the license is the declared one.
    #[serde(skip_serializing_if = "Option::is_none")]
    license_identified_from: Option<&'a str>,
    /// The entry's folder, relative to the index.
    folder: String,
    files: Vec<IndexFile<'a>>,
}

#[derive(Serialize)]
struct IndexFile<'a> {
    /// Relative to the entry's folder.
    path: String,
    source: &'a str,
    /// The SPDX list's text of a license the package declares, not a text the package ships.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    standard_text: bool,
}

/// A folder (`None`) or a file of the layout, by `/`-separated path relative to `dest`.
type Tree<'a> = BTreeMap<String, Option<Cow<'a, [u8]>>>;

/// The whole layout, parents before children (sorted paths); `sbom` is the SBOM's bytes.
fn tree<'a>(resolved: &'a [Resolved], sbom: &'a [u8]) -> Result<Tree<'a>> {
    let mut tree: Tree<'_> = BTreeMap::new();
    let mut index = Index {
        entries: Vec::new(),
    };
    let mut sorted: Vec<&Resolved> = resolved.iter().collect();
    sorted.sort_by(|a, b| a.entry.key().cmp(&b.entry.key()));
    for r in sorted {
        let e = &r.entry;
        let folder = format!(
            "{}/{}-{}",
            e.ecosystem,
            component(&e.name),
            component(&e.version)
        );
        let mut files = Vec::new();
        for file in &e.files {
            let path = relative(&file.path);
            add_file(
                &mut tree,
                format!("{folder}/{path}"),
                Cow::Borrowed(&file.contents),
            );
            files.push(IndexFile {
                path,
                source: &file.source,
                standard_text: file.source.starts_with(super::identify::STANDARD_TEXT),
            });
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        index.entries.push(IndexEntry {
            name: &e.name,
            version: &e.version,
            ecosystem: e.ecosystem,
            license: e.license.as_deref(),
            license_identified_from: e.identified_from.as_deref(),
            folder,
            files,
        });
    }
    let mut json = serde_json::to_vec_pretty(&index)
        .map_err(|e| Error::Failed(format!("cannot write {INDEX}: {e}")))?;
    json.push(b'\n');
    tree.insert(INDEX.to_string(), Some(Cow::Owned(json)));
    tree.insert(super::sbom::FILE.to_string(), Some(Cow::Borrowed(sbom)));
    Ok(tree)
}

/// Insert a file and every folder above it.
fn add_file<'a>(tree: &mut Tree<'a>, path: String, contents: Cow<'a, [u8]>) {
    let mut end = 0;
    while let Some(slash) = path[end..].find('/') {
        end += slash;
        tree.entry(path[..end].to_string()).or_insert(None);
        end += 1;
    }
    tree.insert(path, Some(contents));
}

/// One path component from a name or version read from an image or a registry: no separators,
/// no `.`/`..`, only the characters package names and versions use (`:` of Debian epochs, `+`,
/// `~`, `!` of PEP 440 epochs are kept); anything else becomes `_`.
fn component(raw: &str) -> String {
    let cleaned: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._+~:!-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() || cleaned.chars().all(|c| c == '.') {
        format!("_{cleaned}")
    } else {
        cleaned
    }
}

/// A text's path inside its entry folder, each component cleaned.
fn relative(raw: &str) -> String {
    let parts: Vec<String> = raw
        .split(['/', '\\'])
        .filter(|p| !p.is_empty() && *p != ".")
        .map(component)
        .collect();
    if parts.is_empty() {
        "LICENSE".to_string()
    } else {
        parts.join("/")
    }
}

/// Append the layout under `dest` (an absolute folder inside the image) to `builder`: sorted
/// entries, mtime 0, uid/gid 0, mode 0644 for files and 0755 for folders. The folders above
/// `dest` are not added, so a layer made of these entries leaves them as they are.
pub fn append_to_tar<W: Write>(
    resolved: &[Resolved],
    sbom: &[u8],
    dest: &str,
    builder: &mut tar::Builder<W>,
) -> Result<()> {
    let prefix = dest.trim_matches('/');
    let full = |rel: &str| {
        if prefix.is_empty() {
            rel.to_string()
        } else {
            format!("{prefix}/{rel}")
        }
    };
    let failed = |e: std::io::Error| Error::io("cannot write the licenses layer", e);
    if !prefix.is_empty() {
        append(builder, prefix, None).map_err(failed)?;
    }
    for (path, contents) in &tree(resolved, sbom)? {
        append(builder, &full(path), contents.as_deref()).map_err(failed)?;
    }
    Ok(())
}

fn append<W: Write>(
    builder: &mut tar::Builder<W>,
    path: &str,
    contents: Option<&[u8]>,
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    match contents {
        Some(data) => {
            // The mtime follows the content, as in the build context: the engine's stat-based
            // layer diff would otherwise miss a license text replaced by one of the same size
            // (an image built on one of ours holds its licenses at the same paths).
            header.set_mtime(crate::context::content_mtime(&Sha256::digest(data)));
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(0o644);
            header.set_size(data.len() as u64);
            builder.append_data(&mut header, path, data)
        }
        None => {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
            builder.append_data(&mut header, format!("{path}/"), std::io::empty())
        }
    }
}

/// The layout as a complete tar archive written to `out` (see [`append_to_tar`]).
pub fn write_tar<W: Write>(resolved: &[Resolved], sbom: &[u8], dest: &str, out: W) -> Result<()> {
    let mut builder = tar::Builder::new(out);
    append_to_tar(resolved, sbom, dest, &mut builder)?;
    builder
        .finish()
        .map_err(|e| Error::io("cannot write the licenses layer", e))
}

/// The layout as files under `out_dir` (created when missing; files of the layout overwritten,
/// nothing else removed).
pub fn write_dir(resolved: &[Resolved], sbom: &[u8], out_dir: &Path) -> Result<()> {
    std::fs::create_dir_all(out_dir)
        .map_err(|e| Error::io(format!("cannot create {}", out_dir.display()), e))?;
    for (path, contents) in &tree(resolved, sbom)? {
        let target = out_dir.join(path);
        let done = match contents {
            None => std::fs::create_dir_all(&target),
            Some(data) => std::fs::write(&target, data),
        };
        done.map_err(|e| Error::io(format!("cannot write {}", target.display()), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::LicenseEntry;
    use super::*;

    fn resolved() -> Vec<Resolved> {
        let mut a = LicenseEntry::new(
            Ecosystem::Debian,
            "hostname",
            "1:3.23+nmu1",
            Some("GPL-2.0-only".into()),
        );
        a.add_file(
            "copyright",
            "image:/usr/share/doc/hostname/copyright".into(),
            b"gpl".to_vec(),
        );
        let mut b = LicenseEntry::new(Ecosystem::Python, "../evil", "1.0", None);
        b.add_file("../../etc/passwd", "image:/x".into(), b"x".to_vec());
        let mut c = LicenseEntry::new(
            Ecosystem::Cargo,
            "itoa",
            "1.0.18",
            Some("MIT OR Apache-2.0".into()),
        );
        c.add_file(
            "LICENSE-MIT",
            "crate:itoa-1.0.18/LICENSE-MIT".into(),
            b"mit".to_vec(),
        );
        c.add_file(
            "LICENSE-APACHE",
            "crate:itoa-1.0.18/LICENSE-APACHE".into(),
            b"apache".to_vec(),
        );
        vec![a, b, c]
            .into_iter()
            .map(|entry| Resolved { entry })
            .collect()
    }

    #[test]
    fn tar_is_sorted_deterministic_and_stays_under_dest() {
        let mut first = Vec::new();
        write_tar(&resolved(), b"{}", "/opt/licenses/", &mut first).expect("tar");
        let mut reversed = resolved();
        reversed.reverse();
        let mut second = Vec::new();
        write_tar(&reversed, b"{}", "/opt/licenses", &mut second).expect("tar");
        assert_eq!(first, second);
        let mut archive = tar::Archive::new(&first[..]);
        let mut paths = Vec::new();
        for entry in archive.entries().expect("entries") {
            let mut entry = entry.expect("entry");
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).expect("read");
            let h = entry.header();
            // Directories at 0; a file's mtime follows its content.
            let mtime = if h.entry_type().is_dir() {
                0
            } else {
                crate::context::content_mtime(&Sha256::digest(&data))
            };
            assert_eq!(
                (h.mtime().ok(), h.uid().ok(), h.gid().ok()),
                (Some(mtime), Some(0), Some(0))
            );
            let mode = h.mode().expect("mode");
            assert_eq!(
                mode,
                if h.entry_type().is_dir() {
                    0o755
                } else {
                    0o644
                }
            );
            paths.push(entry.path().expect("path").to_string_lossy().into_owned());
        }
        let expected = [
            "opt/licenses/",
            "opt/licenses/cargo/",
            "opt/licenses/cargo/itoa-1.0.18/",
            "opt/licenses/cargo/itoa-1.0.18/LICENSE-APACHE",
            "opt/licenses/cargo/itoa-1.0.18/LICENSE-MIT",
            "opt/licenses/debian/",
            "opt/licenses/debian/hostname-1:3.23+nmu1/",
            "opt/licenses/debian/hostname-1:3.23+nmu1/copyright",
            "opt/licenses/index.json",
            "opt/licenses/python/",
            "opt/licenses/python/.._evil-1.0/",
            "opt/licenses/python/.._evil-1.0/_../",
            "opt/licenses/python/.._evil-1.0/_../_../",
            "opt/licenses/python/.._evil-1.0/_../_../etc/",
            "opt/licenses/python/.._evil-1.0/_../_../etc/passwd",
            "opt/licenses/sbom.spdx.json",
        ];
        assert_eq!(paths, expected);
        assert!(
            paths
                .iter()
                .all(|p| p.starts_with("opt/licenses/") && !p.split('/').any(|c| c == "..")),
            "{paths:?}"
        );
    }

    #[test]
    fn dir_and_index_describe_every_text() {
        let out = tempfile::tempdir().expect("tempdir");
        write_dir(&resolved(), b"{\"sbom\": 1}\n", out.path()).expect("write");
        let sbom = std::fs::read(out.path().join("sbom.spdx.json")).expect("sbom");
        assert_eq!(sbom, b"{\"sbom\": 1}\n");
        let mit = std::fs::read(out.path().join("cargo/itoa-1.0.18/LICENSE-MIT")).expect("text");
        assert_eq!(mit, b"mit");
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.path().join(INDEX)).expect("index"))
                .expect("json");
        let entries = index["entries"].as_array().expect("entries");
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0]["name"], "itoa");
        assert_eq!(entries[0]["ecosystem"], "cargo");
        assert_eq!(entries[0]["license"], "MIT OR Apache-2.0");
        assert_eq!(entries[0]["folder"], "cargo/itoa-1.0.18");
        assert_eq!(entries[0]["files"][0]["path"], "LICENSE-APACHE");
        assert_eq!(
            entries[0]["files"][0]["source"],
            "crate:itoa-1.0.18/LICENSE-APACHE"
        );
        assert_eq!(entries[2]["license"], serde_json::Value::Null);
    }
}
