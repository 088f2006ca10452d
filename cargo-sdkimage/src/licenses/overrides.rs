//! `licenses/overrides.toml`: per-dependency corrections, checked into the repository.
//!
//! ```toml
//! [[override]]
//! ecosystem = "cargo"                # cargo | python | debian
//! name = "ring"
//! version = "0.17.8"                 # optional: every version when absent
//! license = "MIT AND ISC AND OpenSSL" # optional: replaces the detected license (SPDX)
//! files = ["texts/ring-LICENSE"]     # optional: texts added, relative to the licenses folder
//!
//! [[override]]
//! ecosystem = "debian"
//! name = "tzdata"
//! skip = "data only, no code"        # leave the dependency out entirely
//! ```

use std::path::{Component, Path};

use serde::Deserialize;
use toml::Spanned;

use super::{Ecosystem, LicenseEntry};
use crate::error::{Diagnostic, Error, Result};

pub(crate) const FILE: &str = "overrides.toml";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(rename = "override", default)]
    overrides: Vec<Spanned<RawOverride>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverride {
    ecosystem: Ecosystem,
    name: String,
    version: Option<String>,
    license: Option<Spanned<String>>,
    #[serde(default)]
    files: Vec<Spanned<String>>,
    skip: Option<Spanned<String>>,
}

/// What an override does to the dependencies it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Leave the dependency out (the reason is for people reading the file).
    Skip,
    Amend {
        license: Option<String>,
        /// `(file name in the entry folder, source label, contents)`.
        files: Vec<(String, String, Vec<u8>)>,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Override {
    ecosystem: Ecosystem,
    name: String,
    version: Option<String>,
    pub action: Action,
}

#[derive(Debug, Default)]
pub(crate) struct Overrides {
    list: Vec<Override>,
}

impl Overrides {
    /// `<dir>/overrides.toml`; none when the file does not exist. Every problem is reported at its
    /// `path:line:col`.
    pub fn load(dir: &Path) -> Result<Overrides> {
        let path = dir.join(FILE);
        let rules = crate::guarded::Rules::new(dir, crate::guarded::CONFIG_CAP, "overrides.toml");
        let text = match crate::guarded::read_to_string(&path, rules) {
            Ok(text) => text,
            Err(e) if e.is_not_found() => return Ok(Overrides::default()),
            Err(e) => return Err(e.into()),
        };
        let raw: RawFile =
            toml::from_str(&text).map_err(|e| crate::diag::toml_diag(&path, &text, &e))?;
        let mut diags = Vec::new();
        let mut list: Vec<Override> = Vec::new();
        for item in raw.overrides {
            let span = item.span();
            let item = item.into_inner();
            let diag =
                |offset: usize, message: String| Diagnostic::at(&path, &text, offset, message);
            if list.iter().any(|o| {
                o.ecosystem == item.ecosystem && o.name == item.name && o.version == item.version
            }) {
                diags.push(diag(
                    span.start,
                    format!(
                        "a second override for {} {}{}",
                        item.ecosystem,
                        item.name,
                        version_suffix(&item.version)
                    ),
                ));
                continue;
            }
            match action(dir, item.license, item.files, item.skip) {
                Ok(action) => list.push(Override {
                    ecosystem: item.ecosystem,
                    name: item.name,
                    version: item.version,
                    action,
                }),
                Err((offset, message)) => diags.push(diag(offset.unwrap_or(span.start), message)),
            }
        }
        if diags.is_empty() {
            Ok(Overrides { list })
        } else {
            Err(Error::Invalid(diags))
        }
    }

    /// The override for `entry`: one naming its version, else one for every version.
    pub fn find(&self, entry: &LicenseEntry) -> Option<&Override> {
        let matching = |o: &&Override| o.ecosystem == entry.ecosystem && o.name == entry.name;
        let exact = self
            .list
            .iter()
            .filter(matching)
            .find(|o| o.version.as_deref() == Some(entry.version.as_str()));
        exact.or_else(|| {
            self.list
                .iter()
                .filter(matching)
                .find(|o| o.version.is_none())
        })
    }
}

fn version_suffix(version: &Option<String>) -> String {
    version
        .as_deref()
        .map_or_else(|| " (every version)".to_string(), |v| format!(" {v}"))
}

type Located = (Option<usize>, String);

fn action(
    dir: &Path,
    license: Option<Spanned<String>>,
    files: Vec<Spanned<String>>,
    skip: Option<Spanned<String>>,
) -> std::result::Result<Action, Located> {
    if let Some(skip) = skip {
        if let Some(other) = license
            .as_ref()
            .map(Spanned::span)
            .or_else(|| files.first().map(Spanned::span))
        {
            return Err((
                Some(other.start),
                "`skip` leaves the dependency out; it cannot be combined with `license` or `files`"
                    .into(),
            ));
        }
        if skip.get_ref().trim().is_empty() {
            return Err((
                Some(skip.span().start),
                "`skip` needs a reason (why this dependency ships without a license review)".into(),
            ));
        }
        return Ok(Action::Skip);
    }
    if license.is_none() && files.is_empty() {
        return Err((
            None,
            "this override changes nothing; give `license`, `files` or `skip`".into(),
        ));
    }
    let license = match license {
        Some(l) => match spdx::Expression::parse(l.get_ref()) {
            Ok(_) => Some(l.into_inner()),
            Err(e) => {
                return Err((
                    Some(l.span().start + 1),
                    format!(
                        "`license` must be an SPDX expression (use LicenseRef-<name> for others): {}",
                        e.reason
                    ),
                ));
            }
        },
        None => None,
    };
    let files = files
        .iter()
        .map(|f| text(dir, f))
        .collect::<std::result::Result<_, _>>()?;
    Ok(Action::Amend { license, files })
}

/// Read one override text: a relative path that stays inside the licenses folder.
fn text(
    dir: &Path,
    file: &Spanned<String>,
) -> std::result::Result<(String, String, Vec<u8>), Located> {
    let at = Some(file.span().start + 1);
    let rel = Path::new(file.get_ref());
    if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err((
            at,
            format!(
                "`{}` must be a relative path inside the licenses folder, without `..`",
                file.get_ref()
            ),
        ));
    }
    let path = dir.join(rel);
    let rules = crate::guarded::Rules::new(dir, crate::guarded::CONFIG_CAP, "a license text");
    let contents = crate::guarded::read(&path, rules)
        .map_err(|e| (at, format!("cannot read license text {e}")))?;
    let name = rel.file_name().map_or_else(
        || file.get_ref().clone(),
        |n| n.to_string_lossy().into_owned(),
    );
    let folder = dir
        .file_name()
        .map_or_else(String::new, |n| format!("{}/", n.to_string_lossy()));
    Ok((
        name,
        format!("override:{folder}{}", file.get_ref()),
        contents,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Overrides> {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("texts")).expect("mkdir");
        std::fs::write(dir.path().join("texts/ring-LICENSE"), "ring text").expect("write");
        std::fs::write(dir.path().join(FILE), text).expect("write");
        Overrides::load(dir.path())
    }

    fn message(result: Result<Overrides>) -> String {
        match result {
            Err(e) => e.to_string(),
            Ok(o) => panic!("expected an error, got {o:?}"),
        }
    }

    #[test]
    fn loads_and_matches_exact_version_first() {
        let o = load(
            "[[override]]\necosystem = \"cargo\"\nname = \"ring\"\nlicense = \"ISC\"\n\n\
             [[override]]\necosystem = \"cargo\"\nname = \"ring\"\nversion = \"0.17.8\"\nlicense = \"MIT AND ISC AND OpenSSL\"\nfiles = [\"texts/ring-LICENSE\"]\n",
        )
        .expect("valid");
        let mut entry = LicenseEntry::new(Ecosystem::Cargo, "ring", "0.17.8", None);
        let Some(Override {
            action: Action::Amend { license, files },
            ..
        }) = o.find(&entry)
        else {
            panic!("no match")
        };
        assert_eq!(license.as_deref(), Some("MIT AND ISC AND OpenSSL"));
        assert_eq!(files[0].0, "ring-LICENSE");
        assert!(
            files[0].1.starts_with("override:") && files[0].1.ends_with("/texts/ring-LICENSE"),
            "{}",
            files[0].1
        );
        assert_eq!(files[0].2, b"ring text");
        entry.version = "0.16.0".into();
        let Some(Override {
            action: Action::Amend { license, .. },
            ..
        }) = o.find(&entry)
        else {
            panic!("no match")
        };
        assert_eq!(license.as_deref(), Some("ISC"));
        entry.ecosystem = Ecosystem::Python;
        assert!(o.find(&entry).is_none());
    }

    #[test]
    fn errors_are_located() {
        let m = message(load(
            "[[override]]\necosystem = \"cargo\"\nname = \"x\"\nlicence = \"MIT\"\n",
        ));
        assert!(
            m.contains("overrides.toml:4:1") && m.contains("licence"),
            "{m}"
        );
        let m = message(load(
            "[[override]]\necosystem = \"npm\"\nname = \"x\"\nskip = \"y\"\n",
        ));
        assert!(m.contains("overrides.toml:2:13"), "{m}");
        let m = message(load(
            "[[override]]\necosystem = \"cargo\"\nname = \"x\"\nlicense = \"Apache 2\"\n",
        ));
        assert!(
            m.contains("overrides.toml:4:12") && m.contains("SPDX"),
            "{m}"
        );
        let m = message(load(
            "[[override]]\necosystem = \"cargo\"\nname = \"x\"\nfiles = [\"../secret\"]\n",
        ));
        assert!(m.contains("overrides.toml:4:11") && m.contains(".."), "{m}");
        let m = message(load(
            "[[override]]\necosystem = \"cargo\"\nname = \"x\"\nfiles = [\"texts/none\"]\n",
        ));
        assert!(
            m.contains("overrides.toml:4:11") && m.contains("cannot read"),
            "{m}"
        );
        let m = message(load(
            "[[override]]\necosystem = \"cargo\"\nname = \"x\"\nskip = \"y\"\nlicense = \"MIT\"\n",
        ));
        assert!(m.contains("overrides.toml:5:11"), "{m}");
        let m = message(load("[[override]]\necosystem = \"cargo\"\nname = \"x\"\n"));
        assert!(m.contains("changes nothing"), "{m}");
        let twice = "[[override]]\necosystem = \"cargo\"\nname = \"x\"\nskip = \"y\"\n";
        let m = message(load(&format!("{twice}{twice}")));
        assert!(
            m.contains("overrides.toml:5:1") && m.contains("second override"),
            "{m}"
        );
    }
}
