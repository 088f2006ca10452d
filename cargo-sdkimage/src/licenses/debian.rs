//! The `debian` gatherer: each installed package of `/var/lib/dpkg/status` (or the per-package
//! files of `/var/lib/dpkg/status.d/`, as distroless images have), with its
//! `/usr/share/doc/<package>/copyright`. A machine-readable (DEP-5) copyright file gives the
//! license; its short names become SPDX identifiers only where the match is exact.

use std::collections::BTreeSet;

use super::gatherer::ImageGatherer;
use super::snapshot::Snapshot;
use super::{Ecosystem, LicenseEntry};
use crate::error::{Error, Result};
use crate::manifest::LicenseSource;
use crate::workspace::Workspace;

/// The registered reader of a `debian` source.
pub(super) fn gatherer(_: &Workspace, _: &LicenseSource) -> Result<Box<dyn ImageGatherer>> {
    Ok(Box::new(Debian))
}

struct Debian;

#[cfg(test)]
pub(super) fn test_gatherer() -> Box<dyn ImageGatherer> {
    Box::new(Debian)
}

impl ImageGatherer for Debian {
    fn keeps(&self, path: &str) -> bool {
        reads(path)
    }

    fn gather(self: Box<Self>, snapshot: &Snapshot) -> Result<Vec<LicenseEntry>> {
        gather(snapshot)
    }
}

const STATUS: &str = "/var/lib/dpkg/status";
const STATUS_DIR: &str = "/var/lib/dpkg/status.d/";
const DOC: &str = "/usr/share/doc/";

/// Whether the image file at `path` is one this gatherer reads.
pub(crate) fn reads(path: &str) -> bool {
    if path == STATUS {
        return true;
    }
    if let Some(name) = path.strip_prefix(STATUS_DIR) {
        return !name.contains('/');
    }
    path.strip_prefix(DOC)
        .and_then(|rest| rest.strip_suffix("/copyright"))
        .is_some_and(|package| !package.is_empty() && !package.contains('/'))
}

/// One entry per installed package (name and version), in name order, with its architecture
/// when dpkg records one.
pub(crate) fn gather(snapshot: &Snapshot) -> Result<Vec<LicenseEntry>> {
    let mut sources: Vec<&[u8]> = snapshot.read(STATUS).map(|(_, c)| c).into_iter().collect();
    sources.extend(snapshot.files_under(STATUS_DIR).map(|(_, c)| c));
    if sources.is_empty() {
        return Err(Error::Failed(format!(
            "debian licenses: the image has no {STATUS} (nor {STATUS_DIR}); is it Debian-based? Remove the `debian` license source otherwise"
        )));
    }
    let packages: BTreeSet<(String, String, Option<String>)> = sources
        .into_iter()
        .flat_map(|text| installed(&String::from_utf8_lossy(text)))
        .collect();
    let mut entries: Vec<LicenseEntry> = Vec::new();
    for (name, version, arch) in packages {
        // One entry per name and version (a multi-arch package installed twice is one).
        if entries
            .last()
            .is_some_and(|e| e.name == name && e.version == version)
        {
            continue;
        }
        let mut entry = entry(snapshot, &name, &version);
        entry.origin.arch = arch;
        entries.push(entry);
    }
    Ok(entries)
}

fn entry(snapshot: &Snapshot, name: &str, version: &str) -> LicenseEntry {
    let copyright = snapshot.read(&format!("{DOC}{name}/copyright"));
    let license = copyright
        .as_ref()
        .and_then(|(_, text)| dep5_license(&String::from_utf8_lossy(text)));
    let mut entry = LicenseEntry::new(Ecosystem::Debian, name, version, license);
    if let Some((path, text)) = copyright {
        entry.add_file("copyright", format!("image:{path}"), text.to_vec());
    }
    entry
}

/// The `(Package, Version, Architecture)` of the installed stanzas of a dpkg status file.
fn installed(status: &str) -> Vec<(String, String, Option<String>)> {
    paragraphs(status)
        .into_iter()
        .filter(|fields| {
            field(fields, "Status").is_none_or(|s| s.split_whitespace().last() == Some("installed"))
        })
        .filter_map(|fields| {
            Some((
                field(&fields, "Package")?.to_string(),
                field(&fields, "Version")?.to_string(),
                field(&fields, "Architecture").map(str::to_string),
            ))
        })
        .collect()
}

/// Deb822 paragraphs: `Field: value` lines, continuation lines start with whitespace, paragraphs
/// separated by blank lines; comment lines (`#`) are skipped.
fn paragraphs(text: &str) -> Vec<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut current: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
        } else if line.starts_with('#') {
            continue;
        } else if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = current.last_mut() {
                value.push('\n');
                value.push_str(line.trim());
            }
        } else if let Some((key, value)) = line.split_once(':') {
            current.push((key.trim().to_string(), value.trim().to_string()));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn field<'a>(fields: &'a [(String, String)], key: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

/// The license of a DEP-5 copyright file: the header's `License` when given (the package as a
/// whole), else every distinct `License` of the `Files` paragraphs joined with AND. SPDX when
/// every short name maps exactly, else the names as written. `None` for other copyright files.
fn dep5_license(text: &str) -> Option<String> {
    let paragraphs = paragraphs(text);
    let header = paragraphs.first()?;
    let format = field(header, "Format").or_else(|| field(header, "Format-Specification"))?;
    if !format.contains("copyright-format") && !format.contains("dep5") && !format.contains("DEP-5")
    {
        return None;
    }
    let names: Vec<&str> = match short_name(header) {
        Some(whole) => vec![whole],
        None => {
            let mut names: Vec<&str> = Vec::new();
            for name in paragraphs
                .iter()
                .filter(|p| field(p, "Files").is_some())
                .filter_map(|p| short_name(p))
            {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            names
        }
    };
    match names.as_slice() {
        [] => None,
        [single] => Some(to_spdx(single).unwrap_or_else(|| single.to_string())),
        several => {
            let spdx: Option<Vec<String>> = several
                .iter()
                .map(|n| to_spdx(n).map(|s| group(&s)))
                .collect();
            Some(match spdx {
                Some(parts) => parts.join(" AND "),
                None => several
                    .iter()
                    .map(|n| group(n))
                    .collect::<Vec<_>>()
                    .join(" AND "),
            })
        }
    }
}

/// The first line of a paragraph's `License` field: the short name expression.
fn short_name(fields: &[(String, String)]) -> Option<&str> {
    field(fields, "License")
        .and_then(|l| l.lines().next())
        .map(str::trim)
        .filter(|l| !l.is_empty())
}

/// Parenthesize an expression that has an operator, so joining it with AND keeps its meaning.
fn group(expression: &str) -> String {
    if expression.contains(' ') {
        format!("({expression})")
    } else {
        expression.to_string()
    }
}

/// A DEP-5 license expression (`GPL-2+ or Artistic-2.0`) as SPDX, when every name maps exactly
/// and the operators are plain `or`/`and` (no `with` exception, no comma grouping).
fn to_spdx(dep5: &str) -> Option<String> {
    if dep5.contains([',', '(', ')']) {
        return None;
    }
    let mut out = Vec::new();
    for token in dep5.split_whitespace() {
        out.push(match token.to_ascii_lowercase().as_str() {
            "or" => "OR".to_string(),
            "and" => "AND".to_string(),
            _ => short_name_to_spdx(token)?,
        });
    }
    let expression = out.join(" ");
    spdx::Expression::parse(&expression)
        .ok()
        .map(|_| expression)
}

/// One DEP-5 short name as its exact SPDX identifier (`GPL-2+` -> `GPL-2.0-or-later`, `Expat`
/// -> `MIT`, `BSD-3-clause` -> `BSD-3-Clause`); `None` when there is no exact match
/// (`public-domain`, `Artistic` without a version, `GFDL-NIV-1.2`, ...).
fn short_name_to_spdx(name: &str) -> Option<String> {
    let (base, plus) = match name.strip_suffix('+') {
        Some(base) => (base, true),
        None => (name, false),
    };
    let lower = base.to_ascii_lowercase();
    if let Some(spdx) = gnu(&lower, plus) {
        return Some(spdx);
    }
    let fixed = match lower.as_str() {
        "expat" => Some("MIT"),
        "bsd-2-clause" => Some("BSD-2-Clause"),
        "bsd-3-clause" => Some("BSD-3-Clause"),
        "bsd-4-clause" => Some("BSD-4-Clause"),
        "zlib" => Some("Zlib"),
        "cc0" | "cc0-1.0" => Some("CC0-1.0"),
        _ => None,
    };
    let id = match fixed {
        Some(id) => spdx::license_id(id)?,
        // Otherwise only a name that already is a current SPDX identifier, exactly as written.
        None => spdx::license_id(base).filter(|id| id.name == base && !id.is_deprecated())?,
    };
    if plus && id.is_gnu() {
        return None;
    }
    Some(if plus {
        format!("{}+", id.name)
    } else {
        id.name.to_string()
    })
}

/// GNU licenses: `GPL-2`, `GPL-2.0`, `LGPL-2.1+`, `AGPL-3`, `GFDL-1.3+`.
fn gnu(lower: &str, plus: bool) -> Option<String> {
    let (family, version) = lower.split_once('-')?;
    let family = match family {
        "gpl" => "GPL",
        "lgpl" => "LGPL",
        "agpl" => "AGPL",
        "gfdl" => "GFDL",
        _ => return None,
    };
    let version = match version {
        "1" | "1.0" => "1.0",
        "1.1" => "1.1",
        "1.2" => "1.2",
        "1.3" => "1.3",
        "2" | "2.0" => "2.0",
        "2.1" => "2.1",
        "3" | "3.0" => "3.0",
        _ => return None,
    };
    let id = format!(
        "{family}-{version}-{}",
        if plus { "or-later" } else { "only" }
    );
    spdx::license_id(&id).map(|l| l.name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_exact_short_names_only() {
        for (dep5, spdx) in [
            ("GPL-2+", Some("GPL-2.0-or-later")),
            ("GPL-2", Some("GPL-2.0-only")),
            ("LGPL-2.1+", Some("LGPL-2.1-or-later")),
            ("GPL-3.0+", Some("GPL-3.0-or-later")),
            ("Expat", Some("MIT")),
            ("BSD-3-clause", Some("BSD-3-Clause")),
            ("Apache-2.0", Some("Apache-2.0")),
            ("MPL-1.1+", Some("MPL-1.1+")),
            ("ISC", Some("ISC")),
            ("GPL-2.0-only", Some("GPL-2.0-only")),
            ("public-domain", None),
            ("Artistic", None),
            ("GFDL-NIV-1.2", None),
            ("mit", None),
        ] {
            assert_eq!(short_name_to_spdx(dep5).as_deref(), spdx, "{dep5}");
        }
        assert_eq!(
            to_spdx("GPL-2+ or Artistic-2.0").as_deref(),
            Some("GPL-2.0-or-later OR Artistic-2.0")
        );
        assert_eq!(to_spdx("GPL-2+ with OpenSSL exception"), None);
        assert_eq!(to_spdx("GPL-1+ or Artistic, and BSD-3-clause"), None);
    }

    #[test]
    fn dep5_license_combines_files_paragraphs() {
        let text = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
                    Upstream-Name: x\n\nFiles: *\nCopyright: 2020 A\nLicense: GPL-2+\n\n\
                    Files: debian/*\nCopyright: 2021 B\nLicense: Expat or GPL-2+\n\n\
                    Files: lib/*\nLicense: GPL-2+\n\n\
                    License: GPL-2+\n This program is free software.\n";
        assert_eq!(
            dep5_license(text).as_deref(),
            Some("GPL-2.0-or-later AND (MIT OR GPL-2.0-or-later)")
        );
        let mixed = text.replace("Expat or GPL-2+", "public-domain");
        assert_eq!(
            dep5_license(&mixed).as_deref(),
            Some("GPL-2+ AND public-domain")
        );
        assert_eq!(
            dep5_license("This is the Debian GNU/Linux prepackaged version of GCC.\n"),
            None
        );
    }

    #[test]
    fn status_keeps_installed_packages_only() {
        let status = "Package: hostname\nStatus: install ok installed\nVersion: 3.23+nmu1\nArchitecture: amd64\nDescription: x\n more\n\n\
                      Package: hello\nStatus: deinstall ok config-files\nVersion: 2.10-3\n\n\
                      Package: nover\nStatus: install ok installed\n";
        assert_eq!(
            installed(status),
            vec![(
                "hostname".to_string(),
                "3.23+nmu1".to_string(),
                Some("amd64".to_string())
            )]
        );
    }

    #[test]
    fn reads_status_and_copyright_files_only() {
        assert!(reads("/var/lib/dpkg/status"));
        assert!(reads("/var/lib/dpkg/status.d/tzdata"));
        assert!(reads("/usr/share/doc/hostname/copyright"));
        assert!(!reads("/usr/share/doc/hostname/changelog.gz"));
        assert!(!reads("/usr/share/doc/a/b/copyright"));
        assert!(!reads("/var/lib/dpkg/status-old"));
    }
}
