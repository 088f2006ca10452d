//! The `python` gatherer: every `*.dist-info` under a `site-packages` or `dist-packages` folder
//! of the image. The license comes from `License-Expression` (PEP 639), else a `License` field
//! that is an SPDX expression, else a single license classifier with an exact SPDX equivalent,
//! else the declared name as written. Texts: the `License-File` entries and the `licenses/`
//! folder, else the `LICENSE*`-like files of the dist-info folder.

use std::collections::BTreeSet;

use super::gatherer::ImageGatherer;
use super::snapshot::Snapshot;
use super::{Ecosystem, LicenseEntry, canonical_spdx, is_license_file_name};
use crate::error::Result;
use crate::manifest::LicenseSource;
use crate::workspace::Workspace;

/// The registered reader of a `python` source.
pub(super) fn gatherer(_: &Workspace, _: &LicenseSource) -> Result<Box<dyn ImageGatherer>> {
    Ok(Box::new(Python))
}

struct Python;

#[cfg(test)]
pub(super) fn test_gatherer() -> Box<dyn ImageGatherer> {
    Box::new(Python)
}

impl ImageGatherer for Python {
    fn keeps(&self, path: &str) -> bool {
        reads(path)
    }

    fn gather(self: Box<Self>, snapshot: &Snapshot) -> Result<Vec<LicenseEntry>> {
        Ok(gather(snapshot))
    }
}

const DIST_INFO: &str = ".dist-info";
const LICENSES_DIR: &str = "licenses";
/// Top-level dist-info files that are never license texts (RECORD can be large).
const NOT_TEXTS: &[&str] = &[
    "RECORD",
    "INSTALLER",
    "WHEEL",
    "REQUESTED",
    "direct_url.json",
    "entry_points.txt",
];

/// Whether the image file at `path` belongs to an installed dist's metadata or license texts.
pub(crate) fn reads(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let Some(at) = dist_info_index(&parts) else {
        return false;
    };
    match &parts[at + 1..] {
        [file] => !NOT_TEXTS.contains(file),
        [dir, _, ..] => *dir == LICENSES_DIR,
        [] => false,
    }
}

/// The index of the `*.dist-info` component right below a `site-packages`/`dist-packages` one.
fn dist_info_index(parts: &[&str]) -> Option<usize> {
    parts
        .windows(2)
        .position(|w| {
            matches!(w[0], "site-packages" | "dist-packages") && w[1].ends_with(DIST_INFO)
        })
        .map(|i| i + 1)
}

/// One entry per installed dist (the first of equal name and version, in path order).
pub(crate) fn gather(snapshot: &Snapshot) -> Vec<LicenseEntry> {
    let mut seen = BTreeSet::new();
    let mut entries = Vec::new();
    let metadata_files: Vec<(&str, &[u8])> = snapshot
        .files()
        .filter(|(path, _)| path.ends_with("/METADATA") && reads(path))
        .filter(|(path, _)| {
            path.rsplit('/')
                .nth(1)
                .is_some_and(|dir| dir.ends_with(DIST_INFO))
        })
        .collect();
    for (path, contents) in metadata_files {
        let dist_info = &path[..path.len() - "/METADATA".len()];
        let entry = dist_entry(snapshot, dist_info, &String::from_utf8_lossy(contents));
        if seen.insert((entry.name.to_lowercase(), entry.version.clone())) {
            entries.push(entry);
        }
    }
    entries
}

fn dist_entry(snapshot: &Snapshot, dist_info: &str, metadata: &str) -> LicenseEntry {
    let headers = parse_headers(metadata);
    let folder = dist_info
        .rsplit('/')
        .next()
        .unwrap_or(dist_info)
        .trim_end_matches(DIST_INFO);
    let (folder_name, folder_version) = folder.split_once('-').unwrap_or((folder, ""));
    let name = first(&headers, "Name").unwrap_or(folder_name);
    let version = first(&headers, "Version").unwrap_or(folder_version);
    let mut entry = LicenseEntry::new(Ecosystem::Python, name, version, license(&headers));
    for (rel, path, contents) in texts(snapshot, dist_info, &headers) {
        entry.add_file(&rel, format!("image:{path}"), contents.to_vec());
    }
    entry
}

/// `(path in the entry folder, image path, contents)` of the dist's license texts.
fn texts<'a>(
    snapshot: &'a Snapshot,
    dist_info: &str,
    headers: &[(String, String)],
) -> Vec<(String, String, &'a [u8])> {
    let mut found: Vec<(String, String, &[u8])> = Vec::new();
    let push =
        |found: &mut Vec<(String, String, &'a [u8])>, rel: &str, path: &str, contents: &'a [u8]| {
            if !found.iter().any(|(_, p, _)| p == path) {
                found.push((rel.to_string(), path.to_string(), contents));
            }
        };
    // PEP 639 puts License-File paths under `licenses/`; older setuptools at the top level.
    for rel in all(headers, "License-File") {
        let rel = rel.trim_start_matches("./");
        for candidate in [
            format!("{dist_info}/{LICENSES_DIR}/{rel}"),
            format!("{dist_info}/{rel}"),
        ] {
            if let Some((path, contents)) = snapshot.read(&candidate) {
                push(&mut found, rel, &path, contents);
                break;
            }
        }
    }
    let licenses_prefix = format!("{dist_info}/{LICENSES_DIR}/");
    for (path, contents) in snapshot.files_under(&licenses_prefix) {
        push(&mut found, &path[licenses_prefix.len()..], path, contents);
    }
    if found.is_empty() {
        let top_prefix = format!("{dist_info}/");
        for (path, contents) in snapshot.files_under(&top_prefix) {
            let rel = &path[top_prefix.len()..];
            if !rel.contains('/') && is_license_file_name(rel) {
                push(&mut found, rel, path, contents);
            }
        }
    }
    found
}

/// The license, in order of trust (see the module documentation).
fn license(headers: &[(String, String)]) -> Option<String> {
    if let Some(expression) = first(headers, "License-Expression") {
        return Some(canonical_spdx(expression).unwrap_or_else(|| expression.to_string()));
    }
    let declared = first(headers, "License")
        .map(|l| l.lines().next().unwrap_or("").trim())
        .filter(|l| !l.is_empty() && !l.eq_ignore_ascii_case("UNKNOWN"));
    if let Some(text) = declared.filter(|l| spdx::Expression::parse(l).is_ok()) {
        return Some(text.to_string());
    }
    let classifiers: Vec<&str> = all(headers, "Classifier")
        .filter_map(|c| c.strip_prefix("License ::"))
        .map(|c| c.rsplit("::").next().unwrap_or(c).trim())
        .collect();
    if let [single] = classifiers.as_slice()
        && let Some(id) = classifier_spdx(single)
    {
        return Some(id.to_string());
    }
    declared
        .map(str::to_string)
        .or_else(|| (!classifiers.is_empty()).then(|| classifiers.join(", ")))
}

/// License classifiers whose SPDX equivalent is exact (the version is part of the classifier).
/// `Apache Software License` and `BSD License` name no version or variant and stay unmapped.
fn classifier_spdx(classifier: &str) -> Option<&'static str> {
    Some(match classifier {
        "MIT License" => "MIT",
        "MIT No Attribution License (MIT-0)" => "MIT-0",
        "ISC License (ISCL)" => "ISC",
        "The Unlicense (Unlicense)" => "Unlicense",
        "Boost Software License 1.0 (BSL-1.0)" => "BSL-1.0",
        "CC0 1.0 Universal (CC0 1.0) Public Domain Dedication" => "CC0-1.0",
        "Mozilla Public License 1.1 (MPL 1.1)" => "MPL-1.1",
        "Mozilla Public License 2.0 (MPL 2.0)" => "MPL-2.0",
        "Eclipse Public License 2.0 (EPL-2.0)" => "EPL-2.0",
        "European Union Public Licence 1.2 (EUPL 1.2)" => "EUPL-1.2",
        "Universal Permissive License (UPL)" => "UPL-1.0",
        "Historical Permission Notice and Disclaimer (HPND)" => "HPND",
        "GNU General Public License v2 (GPLv2)" => "GPL-2.0-only",
        "GNU General Public License v2 or later (GPLv2+)" => "GPL-2.0-or-later",
        "GNU General Public License v3 (GPLv3)" => "GPL-3.0-only",
        "GNU General Public License v3 or later (GPLv3+)" => "GPL-3.0-or-later",
        "GNU Lesser General Public License v2 (LGPLv2)" => "LGPL-2.0-only",
        "GNU Lesser General Public License v2 or later (LGPLv2+)" => "LGPL-2.0-or-later",
        "GNU Lesser General Public License v3 (LGPLv3)" => "LGPL-3.0-only",
        "GNU Lesser General Public License v3 or later (LGPLv3+)" => "LGPL-3.0-or-later",
        "GNU Affero General Public License v3" => "AGPL-3.0-only",
        "GNU Affero General Public License v3 or later (AGPLv3+)" => "AGPL-3.0-or-later",
        _ => return None,
    })
}

/// The header fields of a core-metadata file (RFC 822 style: `Key: value`, continuation lines
/// start with whitespace, the body after the first blank line is the description).
fn parse_headers(text: &str) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push('\n');
                value.push_str(line.trim());
            }
        } else if let Some((key, value)) = line.split_once(':') {
            headers.push((key.trim().to_string(), value.trim().to_string()));
        }
    }
    headers
}

fn all<'a>(headers: &'a [(String, String)], key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .iter()
        .filter(move |(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

fn first<'a>(headers: &'a [(String, String)], key: &'a str) -> Option<&'a str> {
    all(headers, key).next().filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(text: &str) -> Vec<(String, String)> {
        parse_headers(text)
    }

    #[test]
    fn reads_only_dist_info_metadata_and_texts() {
        assert!(reads(
            "/usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA"
        ));
        assert!(reads(
            "/usr/lib/python3/dist-packages/six-1.16.0.dist-info/LICENSE"
        ));
        assert!(reads(
            "/usr/local/lib/python3.11/site-packages/attrs-25.3.0.dist-info/licenses/LICENSE"
        ));
        assert!(reads(
            "/venv/lib/python3.11/site-packages/x-1.dist-info/licenses/sub/COPYING"
        ));
        assert!(!reads(
            "/usr/lib/python3/dist-packages/six-1.16.0.dist-info/RECORD"
        ));
        assert!(!reads("/usr/lib/python3/dist-packages/six.py"));
        assert!(!reads("/home/six-1.16.0.dist-info/METADATA"));
        assert!(!reads(
            "/usr/lib/python3/dist-packages/x-1.dist-info/other/LICENSE"
        ));
    }

    #[test]
    fn license_prefers_expression_then_spdx_field_then_exact_classifier() {
        let h = headers("Name: a\nLicense-Expression: MIT OR Apache-2.0\nLicense: BSD\n");
        assert_eq!(license(&h).as_deref(), Some("MIT OR Apache-2.0"));
        let h = headers(
            "Name: six\nLicense: MIT\nClassifier: License :: OSI Approved :: MIT License\n",
        );
        assert_eq!(license(&h).as_deref(), Some("MIT"));
        let h = headers(
            "Name: a\nLicense: Apache 2.0\nClassifier: License :: OSI Approved :: MIT License\n",
        );
        assert_eq!(license(&h).as_deref(), Some("MIT"));
        let h = headers(
            "Name: packaging\nClassifier: License :: OSI Approved :: Apache Software License\nClassifier: License :: OSI Approved :: BSD License\n",
        );
        assert_eq!(
            license(&h).as_deref(),
            Some("Apache Software License, BSD License")
        );
        let h = headers("Name: a\nLicense: Proprietary\n  second line\n");
        assert_eq!(license(&h).as_deref(), Some("Proprietary"));
        assert_eq!(license(&headers("Name: a\nLicense: UNKNOWN\n")), None);
    }

    #[test]
    fn headers_stop_at_the_body_and_fold_continuations() {
        let h = headers("Name: a\nLicense: line one\n        line two\n\nLicense: in the body\n");
        assert_eq!(
            all(&h, "license").collect::<Vec<_>>(),
            vec!["line one\nline two"]
        );
    }
}
