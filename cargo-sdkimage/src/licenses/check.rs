//! Overrides, then the SPDX standard text where a package declares an SPDX license but ships no
//! text (unless the policy says `require-shipped-texts`), then policy: what may ship, or one
//! error listing every dependency that needs attention with the override entry to paste.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use super::overrides::{self, Action, Overrides};
use super::policy::Policy;
use super::{Ecosystem, Gathered, LicenseEntry, Resolved, identify};
use crate::error::{Error, Result};

/// Read `<licenses_dir>/overrides.toml` and `<licenses_dir>/policy.toml` before anything is
/// built: a malformed file is an input error ([`Error::Invalid`], exit 2) found up front, not
/// after every image was built.
pub fn check_files(licenses_dir: &Path) -> Result<()> {
    Overrides::load(licenses_dir)?;
    Policy::load(licenses_dir)?;
    Ok(())
}

/// Apply `<licenses_dir>/overrides.toml` and `<licenses_dir>/policy.toml` to what was gathered.
/// The same dependency found twice (two cargo sources) is merged. Fails with [`Error::Failed`]
/// when a dependency has no text, or a license the policy does not allow; [`Error::Invalid`]
/// when one of the two files is malformed.
pub fn check(gathered: Gathered, licenses_dir: &Path) -> Result<Vec<Resolved>> {
    let overrides = Overrides::load(licenses_dir)?;
    let policy = Policy::load(licenses_dir)?;
    let mut resolved = Vec::new();
    let mut offenders = Vec::new();
    for mut entry in merge(gathered.entries) {
        match overrides.find(&entry).map(|o| &o.action) {
            Some(Action::Skip) => continue,
            Some(Action::Amend { license, files }) => {
                if let Some(license) = license {
                    entry.license = Some(license.clone());
                }
                for (name, source, contents) in files {
                    entry.add_file(name, source.clone(), contents.clone());
                }
            }
            None => {}
        }
        let shipped_only = policy.as_ref().is_some_and(|p| p.require_shipped_texts);
        if entry.files.is_empty() && !shipped_only {
            add_standard_texts(&mut entry);
        }
        let mut problems = Vec::new();
        if entry.files.is_empty() {
            problems.push(Problem::NoText);
        }
        if let Some(reason) = policy
            .as_ref()
            .and_then(|p| p.verdict(entry.license.as_deref()).err())
        {
            problems.push(Problem::Policy(reason));
        }
        if problems.is_empty() {
            resolved.push(Resolved { entry });
        } else {
            offenders.push(Offender { entry, problems });
        }
    }
    if offenders.is_empty() {
        Ok(resolved)
    } else {
        Err(Error::Failed(render(
            &offenders,
            licenses_dir,
            policy.as_ref(),
        )))
    }
}

/// A package that declares an SPDX license but ships no text gets the SPDX list's text of each
/// license (and exception) of it, marked as the standard text in its source.
fn add_standard_texts(entry: &mut LicenseEntry) {
    let Some(texts) = entry.license.as_deref().and_then(identify::standard_texts) else {
        return;
    };
    for (id, text) in texts {
        entry.add_file(
            &format!("{id}.txt"),
            format!("{}{id}", identify::STANDARD_TEXT),
            text.as_bytes().to_vec(),
        );
    }
}

/// One entry per (ecosystem, name, version), sorted; texts of duplicates are united.
fn merge(entries: Vec<LicenseEntry>) -> Vec<LicenseEntry> {
    let mut merged: BTreeMap<(Ecosystem, String, String), LicenseEntry> = BTreeMap::new();
    for entry in entries {
        let key = (entry.ecosystem, entry.name.clone(), entry.version.clone());
        match merged.get_mut(&key) {
            Some(kept) => {
                for file in entry.files {
                    kept.add_file(&file.path, file.source, file.contents);
                }
                if kept.license.is_none() {
                    kept.license = entry.license;
                }
                let origin = &mut kept.origin;
                origin.download = origin.download.take().or(entry.origin.download);
                origin.sha256 = origin.sha256.take().or(entry.origin.sha256);
                origin.arch = origin.arch.take().or(entry.origin.arch);
            }
            None => {
                merged.insert(key, entry);
            }
        }
    }
    merged.into_values().collect()
}

enum Problem {
    NoText,
    Policy(super::policy::Refusal),
}

struct Offender {
    entry: LicenseEntry,
    problems: Vec<Problem>,
}

fn render(offenders: &[Offender], licenses_dir: &Path, policy: Option<&Policy>) -> String {
    let overrides_path = licenses_dir.join(overrides::FILE);
    let mut out = format!(
        "licenses: {} third-party {} {} attention:\n",
        offenders.len(),
        if offenders.len() == 1 {
            "dependency"
        } else {
            "dependencies"
        },
        if offenders.len() == 1 {
            "needs"
        } else {
            "need"
        },
    );
    for offender in offenders {
        let e = &offender.entry;
        let problems: Vec<String> = offender
            .problems
            .iter()
            .map(|p| match p {
                Problem::NoText => "no license text found".to_string(),
                Problem::Policy(reason) => reason.to_string(),
            })
            .collect();
        let _ = writeln!(
            out,
            "  - {} {} {}: {}",
            e.ecosystem,
            e.name,
            e.version,
            problems.join("; ")
        );
    }
    let (need_text, rejected): (Vec<&Offender>, Vec<&Offender>) = offenders
        .iter()
        .partition(|o| o.problems.iter().any(|p| matches!(p, Problem::NoText)));
    if !need_text.is_empty() {
        let _ = write!(
            out,
            "\nAdd the texts under {} and these entries to {}",
            licenses_dir.join("texts").display(),
            overrides_path.display()
        );
        if let Some(policy) = policy {
            let _ = write!(
                out,
                " (the license must be one {} allows)",
                policy.path.display()
            );
        }
        out.push_str(":\n");
        for offender in &need_text {
            out.push('\n');
            out.push_str(&override_entry(offender));
        }
    }
    if let (false, Some(policy)) = (rejected.is_empty(), policy) {
        let licenses: std::collections::BTreeSet<&str> = rejected
            .iter()
            .filter_map(|o| o.entry.license.as_deref())
            .collect();
        let _ = writeln!(
            out,
            "\nA license {} does not allow: if the release may ship it, add {} to `allow` there. If a detected license is wrong, set the one that applies in {}:",
            policy.path.display(),
            licenses
                .iter()
                .map(|l| format!("\"{l}\""))
                .collect::<Vec<_>>()
                .join(", "),
            overrides_path.display()
        );
        for offender in &rejected {
            out.push('\n');
            out.push_str(&override_entry(offender));
        }
    }
    out
}

/// The `[[override]]` entry that settles `offender` once its text is in place.
fn override_entry(offender: &Offender) -> String {
    let e = &offender.entry;
    let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
    let mut out = String::from("[[override]]\n");
    let _ = writeln!(out, "ecosystem = {}", quote(e.ecosystem.as_str()));
    let _ = writeln!(out, "name = {}", quote(&e.name));
    let _ = writeln!(out, "version = {}", quote(&e.version));
    let spdx = e
        .license
        .as_deref()
        .filter(|l| spdx::Expression::parse(l).is_ok());
    let rejected = offender
        .problems
        .iter()
        .any(|p| matches!(p, Problem::Policy(_)));
    match (spdx, &e.license) {
        (Some(l), _) if rejected => {
            let _ = writeln!(
                out,
                "license = {}  # detected; replace with the license that really applies",
                quote(l)
            );
        }
        (Some(l), _) => {
            let _ = writeln!(out, "license = {}", quote(l));
        }
        (None, Some(declared)) => {
            let _ = writeln!(
                out,
                "license = {}  # declared: {}",
                quote(&license_ref(declared)),
                one_line(declared)
            );
        }
        (None, None) => {
            let _ = writeln!(
                out,
                "license = \"LicenseRef-UNKNOWN\"  # replace with the SPDX expression of the text"
            );
        }
    }
    if offender
        .problems
        .iter()
        .any(|p| matches!(p, Problem::NoText))
    {
        let file = format!("texts/{}/{}-{}/LICENSE", e.ecosystem, e.name, e.version);
        let _ = writeln!(out, "files = [{}]", quote(&file));
    }
    out
}

/// A non-SPDX license name as a valid `LicenseRef-` identifier (`public-domain` ->
/// `LicenseRef-public-domain`), which a policy can then allow by name.
fn license_ref(declared: &str) -> String {
    let id: String = one_line(declared)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let id = id.trim_matches('-');
    format!("LicenseRef-{}", if id.is_empty() { "UNKNOWN" } else { id })
}

fn one_line(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or("")
        .trim()
        .chars()
        .take(80)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::policy;
    use super::*;

    fn entry(
        eco: Ecosystem,
        name: &str,
        license: Option<&str>,
        text: Option<&str>,
    ) -> LicenseEntry {
        let mut e = LicenseEntry::new(eco, name, "1.0", license.map(str::to_string));
        if let Some(t) = text {
            e.add_file("LICENSE", format!("test:{name}"), t.as_bytes().to_vec());
        }
        e
    }

    #[test]
    fn merges_duplicates_and_lists_each_offender_once_with_a_pasteable_entry() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Strict texts: bare declares MIT but ships none.
        std::fs::write(
            dir.path().join(policy::FILE),
            "allow = [\"MIT\"]\nrequire-shipped-texts = true\n",
        )
        .expect("write");
        let gathered = Gathered {
            entries: vec![
                entry(Ecosystem::Cargo, "bare", Some("MIT"), None),
                entry(Ecosystem::Cargo, "bare", Some("MIT"), None),
                entry(
                    Ecosystem::Debian,
                    "tzdata",
                    Some("public-domain"),
                    Some("pd"),
                ),
                entry(Ecosystem::Cargo, "ok", Some("MIT"), Some("a")),
                entry(Ecosystem::Cargo, "ok", Some("MIT"), Some("b")),
            ],
        };
        let message = check(gathered, dir.path())
            .expect_err("offenders")
            .to_string();
        assert_eq!(
            message
                .matches("cargo bare 1.0: no license text found")
                .count(),
            1,
            "{message}"
        );
        assert!(
            message
                .contains("debian tzdata 1.0: license `public-domain` is not an SPDX expression"),
            "{message}"
        );
        assert!(!message.contains("cargo ok"), "{message}");
        // Each suggested entry is valid TOML that the override loader accepts once texts exist.
        let entries: String = message
            .split("\n\n")
            .filter(|block| block.starts_with("[[override]]"))
            .map(|block| {
                format!(
                    "{}\n",
                    block
                        .lines()
                        .take_while(|l| !l.is_empty())
                        .collect::<Vec<_>>()
                        .join("\n")
                )
            })
            .collect();
        std::fs::create_dir_all(dir.path().join("texts/cargo/bare-1.0")).expect("mkdir");
        std::fs::write(dir.path().join("texts/cargo/bare-1.0/LICENSE"), "MIT text").expect("write");
        std::fs::write(dir.path().join(overrides::FILE), entries).expect("write");
        std::fs::write(
            dir.path().join(policy::FILE),
            "allow = [\"MIT\", \"LicenseRef-public-domain\"]\nrequire-shipped-texts = true\n",
        )
        .expect("write");
        let gathered = Gathered {
            entries: vec![
                entry(Ecosystem::Cargo, "bare", Some("MIT"), None),
                entry(
                    Ecosystem::Debian,
                    "tzdata",
                    Some("public-domain"),
                    Some("pd"),
                ),
                entry(Ecosystem::Cargo, "ok", Some("MIT"), Some("a")),
                entry(Ecosystem::Cargo, "ok", Some("MIT"), Some("b")),
            ],
        };
        let resolved = check(gathered, dir.path()).expect("settled by the pasted entries");
        let names: Vec<(&str, usize)> = resolved
            .iter()
            .map(|r| (r.entry().name.as_str(), r.entry().files.len()))
            .collect();
        assert_eq!(names, vec![("bare", 1), ("ok", 2), ("tzdata", 1)]);
    }

    #[test]
    fn skip_drops_and_no_policy_accepts_anything_with_a_text() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join(overrides::FILE),
            "[[override]]\necosystem = \"python\"\nname = \"internal\"\nskip = \"ours\"\n",
        )
        .expect("write");
        let gathered = Gathered {
            entries: vec![
                entry(Ecosystem::Python, "internal", None, None),
                entry(Ecosystem::Debian, "gcc-12-base", None, Some("GCC")),
            ],
        };
        let resolved = check(gathered, dir.path()).expect("accepted");
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].entry().name, "gcc-12-base");
    }
}
