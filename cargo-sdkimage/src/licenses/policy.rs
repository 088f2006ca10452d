//! `licenses/policy.toml`: the licenses a release may ship.
//!
//! ```toml
//! allow = ["MIT", "Apache-2.0", "Apache-2.0 WITH LLVM-exception", "BSD-3-Clause", "ISC"]
//! require-shipped-texts = true   # optional: no SPDX standard text for a package that ships none
//! ```
//!
//! A dependency's SPDX expression passes when it can be satisfied with allowed licenses alone
//! (`MIT OR GPL-3.0-only` passes with MIT allowed; `MIT AND Zlib` needs both). An exception must
//! be allowed with its license (`Apache-2.0 WITH LLVM-exception`). Without the file, or without
//! `allow`, every license is accepted.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::error::{Diagnostic, Error, Result};

pub(crate) const FILE: &str = "policy.toml";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    allow: Option<Vec<Spanned<String>>>,
    #[serde(default, rename = "require-shipped-texts")]
    require_shipped_texts: bool,
}

#[derive(Debug)]
pub(crate) struct Policy {
    pub path: PathBuf,
    /// `None`: every license is accepted.
    allow: Option<Vec<spdx::Licensee>>,
    /// A package that ships no text fails even when the SPDX list has its license's text.
    pub require_shipped_texts: bool,
}

impl Policy {
    /// `<dir>/policy.toml`, or `None` when there is none (every license accepted).
    pub fn load(dir: &Path) -> Result<Option<Policy>> {
        let path = dir.join(FILE);
        let rules = crate::guarded::Rules::new(dir, crate::guarded::CONFIG_CAP, "policy.toml");
        let text = match crate::guarded::read_to_string(&path, rules) {
            Ok(text) => text,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let raw: RawPolicy =
            toml::from_str(&text).map_err(|e| crate::diag::toml_diag(&path, &text, &e))?;
        let mut diags = Vec::new();
        let mut allow = Vec::new();
        for item in raw.allow.iter().flatten() {
            match spdx::Licensee::parse(item.get_ref()) {
                Ok(licensee) => allow.push(licensee),
                Err(e) => diags.push(Diagnostic::at(
                    &path,
                    &text,
                    item.span().start + 1 + e.span.start,
                    format!(
                        "`{}` is not an SPDX license (with an optional `WITH` exception): {}",
                        item.get_ref(),
                        e.reason
                    ),
                )),
            }
        }
        if diags.is_empty() {
            Ok(Some(Policy {
                path,
                allow: raw.allow.is_some().then_some(allow),
                require_shipped_texts: raw.require_shipped_texts,
            }))
        } else {
            Err(Error::Invalid(diags))
        }
    }

    /// `Ok` when `license` is allowed, else why not.
    pub fn verdict(&self, license: Option<&str>) -> std::result::Result<(), Refusal> {
        let Some(allow) = &self.allow else {
            return Ok(());
        };
        let Some(license) = license else {
            return Err(Refusal::Unknown);
        };
        let expression = spdx::Expression::parse(license).map_err(|e| Refusal::NotSpdx {
            license: license.to_string(),
            reason: e.reason.to_string(),
        })?;
        expression
            .evaluate_with_failures(|req| allow.iter().any(|a| a.satisfies(req)))
            .map_err(|failed| Refusal::NotAllowed {
                license: license.to_string(),
                needs: failed.iter().map(|r| r.req.to_string()).collect(),
            })
    }
}

/// Why the policy refuses a license.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the license is unknown (no machine-readable license declared)")]
    Unknown,
    #[error("license `{license}` is not an SPDX expression ({reason})")]
    NotSpdx { license: String, reason: String },
    #[error(
        "license `{license}` needs {} that {FILE} does not allow",
        .needs.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(", ")
    )]
    NotAllowed { license: String, needs: Vec<String> },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(text: &str) -> Result<Option<Policy>> {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(FILE), text).expect("write");
        Policy::load(dir.path())
    }

    #[test]
    fn evaluates_or_and_with() {
        let p =
            policy("allow = [\"MIT\", \"Apache-2.0 WITH LLVM-exception\", \"GPL-2.0-or-later\"]\n")
                .expect("valid")
                .expect("present");
        assert!(p.verdict(Some("MIT")).is_ok());
        assert!(p.verdict(Some("MIT OR GPL-3.0-only")).is_ok());
        assert!(p.verdict(Some("Apache-2.0 WITH LLVM-exception")).is_ok());
        let e = p
            .verdict(Some("GPL-3.0-only"))
            .expect_err("rejected")
            .to_string();
        assert!(e.contains("`GPL-3.0-only`"), "{e}");
        assert!(p.verdict(Some("MIT AND Zlib")).is_err());
        assert!(p.verdict(Some("Apache-2.0")).is_err());
        assert!(p.verdict(Some("GPL-2.0-or-later")).is_ok());
        let e = p
            .verdict(Some("public-domain"))
            .expect_err("not spdx")
            .to_string();
        assert!(e.contains("not an SPDX expression"), "{e}");
        assert!(p.verdict(None).is_err());
    }

    #[test]
    fn no_file_means_no_policy_and_errors_are_located() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(Policy::load(dir.path()).expect("no file").is_none());
        let e = policy("allow = [\"MIT\", \"Apache 2\"]\n")
            .expect_err("invalid")
            .to_string();
        assert!(e.contains("policy.toml:1:18"), "{e}");
        let only_texts = policy("require-shipped-texts = true\n")
            .expect("valid")
            .expect("present");
        assert!(only_texts.require_shipped_texts && only_texts.verdict(None).is_ok());
        let e = policy("allow = [\"MIT\"]\ndeny = []\n")
            .expect_err("unknown key")
            .to_string();
        assert!(e.contains("policy.toml:2:1") && e.contains("deny"), "{e}");
    }
}
