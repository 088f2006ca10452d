//! Where a Go module's license texts are on the host: the workspace's module source (local
//! `replace` targets of the main module's go.mod, its `vendor/` folder), then the module cache.
//!
//! Source labels name folders relative to the main module or the cache, never the host's
//! absolute paths, so the index in the image is the same on every machine.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::buildinfo::Module;
use crate::error::{Error, Result};
use crate::licenses::is_license_file_name;

/// The largest license text read from the host.
const MAX_TEXT: u64 = 4 << 20;

/// One `replace` directive of a go.mod: `path [version] => target [version]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Replace {
    pub path: String,
    pub version: Option<String>,
    pub target: String,
}

impl Replace {
    /// A replacement by a folder (`./x`, `../x`, `/x`), not by another module.
    fn is_local(&self) -> bool {
        is_local_path(&self.target)
    }
}

fn is_local_path(target: &str) -> bool {
    target.starts_with("./") || target.starts_with("../") || target.starts_with('/')
}

/// `(path in the entry folder, source label, contents)` of one text.
pub(super) type Text = (String, String, Vec<u8>);

/// Where texts are looked for.
pub(super) struct Texts {
    /// The main module's folder and its go.mod's replace directives.
    main: Option<(PathBuf, Vec<Replace>)>,
    /// The module cache (`GOMODCACHE`).
    cache: Option<PathBuf>,
}

impl Texts {
    pub fn new(module: Option<&Path>) -> Result<Texts> {
        let main = match module {
            None => None,
            Some(dir) => {
                let go_mod = dir.join("go.mod");
                let text = std::fs::read_to_string(&go_mod).map_err(|e| {
                    Error::Usage(format!(
                        "the go license source's module folder {} has no readable go.mod ({e}); name the folder of the main module",
                        dir.display()
                    ))
                })?;
                Some((dir.to_path_buf(), replaces(&text)))
            }
        };
        Ok(Texts {
            main,
            cache: module_cache(),
        })
    }

    /// The texts of `dep`, from the first place that has any.
    pub fn find(&self, dep: &Module) -> Result<Vec<Text>> {
        if let Some((dir, replaces)) = &self.main {
            let local = replaces
                .iter()
                .filter(|r| r.path == dep.path && r.is_local())
                .find(|r| r.version.as_deref().is_none_or(|v| v == dep.version))
                .map(|r| r.target.clone())
                .or_else(|| {
                    dep.replace
                        .as_ref()
                        .filter(|r| is_local_path(&r.path))
                        .map(|r| r.path.clone())
                });
            if let Some(target) = local {
                let found = texts_in(
                    &dir.join(&target),
                    &format!("module-source:{}", target.trim_end_matches('/')),
                )?;
                if !found.is_empty() {
                    return Ok(found);
                }
            }
            let vendored = dir.join("vendor").join(&dep.path);
            let found = texts_in(&vendored, &format!("vendor:{}", dep.path))?;
            if !found.is_empty() {
                return Ok(found);
            }
        }
        let Some(cache) = &self.cache else {
            return Ok(Vec::new());
        };
        let (path, version) = match dep.replace.as_ref().filter(|r| !is_local_path(&r.path)) {
            Some(r) => (&r.path, &r.version),
            None => (&dep.path, &dep.version),
        };
        let folder = format!("{}@{}", escape(path), escape(version));
        texts_in(&cache.join(&folder), &format!("gomodcache:{folder}"))
    }
}

/// `GOMODCACHE`, else what `go env GOMODCACHE` says, else `~/go/pkg/mod`.
fn module_cache() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("GOMODCACHE").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let asked = Command::new("go")
        .args(["env", "GOMODCACHE"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|d| !d.is_empty());
    asked
        .map(PathBuf::from)
        .or_else(|| home::home_dir().map(|h| h.join("go/pkg/mod")))
}

/// Go's escaping of module paths and versions in the cache: each capital letter becomes `!` and
/// its lower case (`github.com/Sirupsen/logrus` -> `github.com/!sirupsen/logrus`).
pub(super) fn escape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c.is_ascii_uppercase() {
            out.push('!');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The license files at the top of `dir` (regular files, symlinks followed), sorted by name.
fn texts_in(dir: &Path, label: &str) -> Result<Vec<Text>> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut names: Vec<(String, PathBuf)> = read
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(|(name, _)| is_license_file_name(name))
        .collect();
    names.sort();
    let mut found = Vec::new();
    for (name, path) in names {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        if meta.len() > MAX_TEXT {
            return Err(Error::Failed(format!(
                "go licenses: {} is {} bytes, more than the {MAX_TEXT} a license text may be",
                path.display(),
                meta.len()
            )));
        }
        let contents = std::fs::read(&path)
            .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
        found.push((name.clone(), format!("{label}/{name}"), contents));
    }
    Ok(found)
}

/// The `replace` directives of a go.mod, single-line and in blocks; comments dropped.
pub(super) fn replaces(go_mod: &str) -> Vec<Replace> {
    let mut out = Vec::new();
    let mut in_block = false;
    for line in go_mod.lines() {
        let line = line.split("//").next().unwrap_or("").trim();
        if in_block {
            if line == ")" {
                in_block = false;
            } else if let Some(r) = replace_line(line) {
                out.push(r);
            }
            continue;
        }
        let Some(rest) = line.strip_prefix("replace") else {
            continue;
        };
        let rest = rest.trim();
        if rest == "(" {
            in_block = true;
        } else if let Some(r) = replace_line(rest) {
            out.push(r);
        }
    }
    out
}

/// `path [version] => target [version]`.
fn replace_line(line: &str) -> Option<Replace> {
    let (left, right) = line.split_once("=>")?;
    let unquote = |s: &str| s.trim_matches('"').to_string();
    let mut left = left.split_whitespace().map(unquote);
    let mut right = right.split_whitespace().map(unquote);
    Some(Replace {
        path: left.next()?,
        version: left.next(),
        target: right.next()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_replace_directives_in_both_forms() {
        let go_mod = "module example.com/boot\n\ngo 1.19\n\nrequire example.com/alpha v1.2.0\n\
                      replace example.com/alpha => ../alpha // local\n\
                      replace (\n\texample.com/Beta v0.3.1 => ./third_party/beta\n\t\"example.com/c\" => example.com/c-fork v1.0.0\n)\n";
        let r = replaces(go_mod);
        assert_eq!(r.len(), 3);
        assert_eq!(
            (
                r[0].path.as_str(),
                r[0].version.as_deref(),
                r[0].target.as_str()
            ),
            ("example.com/alpha", None, "../alpha")
        );
        assert_eq!(r[1].version.as_deref(), Some("v0.3.1"));
        assert!(r[1].is_local() && !r[2].is_local());
        assert_eq!(r[2].path, "example.com/c");
    }

    #[test]
    fn escapes_capitals_as_go_does() {
        assert_eq!(
            escape("github.com/Sirupsen/logrus"),
            "github.com/!sirupsen/logrus"
        );
        assert_eq!(escape("v1.0.0-RC1"), "v1.0.0-!r!c1");
    }

    #[test]
    fn finds_texts_in_replacements_vendor_then_the_cache() {
        let root = tempfile::tempdir().expect("tempdir");
        let main = root.path().join("main");
        let write = |rel: &str, text: &str| {
            let path = root.path().join(rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        };
        write("main/go.mod", "module m\nreplace example.com/a => ../a\n");
        write("a/LICENSE", "a license");
        write("a/a.go", "package a");
        write("main/vendor/example.com/v/COPYING", "vendored");
        write("cache/github.com/!big/mod@v1.0.0/LICENSE.txt", "cached");
        let texts = Texts {
            main: Some((main.clone(), replaces("replace example.com/a => ../a\n"))),
            cache: Some(root.path().join("cache")),
        };
        let module = |path: &str, version: &str| Module {
            path: path.into(),
            version: version.into(),
            sum: None,
            replace: None,
        };
        let found = texts
            .find(&module("example.com/a", "v0.1.0"))
            .expect("find");
        assert_eq!(
            found,
            vec![(
                "LICENSE".to_string(),
                "module-source:../a/LICENSE".to_string(),
                b"a license".to_vec()
            )]
        );
        let found = texts
            .find(&module("example.com/v", "v1.0.0"))
            .expect("find");
        assert_eq!(found[0].1, "vendor:example.com/v/COPYING");
        let found = texts
            .find(&module("github.com/Big/mod", "v1.0.0"))
            .expect("find");
        assert_eq!(
            found[0].1,
            "gomodcache:github.com/!big/mod@v1.0.0/LICENSE.txt"
        );
        assert!(
            texts
                .find(&module("example.com/none", "v1.0.0"))
                .expect("find")
                .is_empty()
        );
    }
}
