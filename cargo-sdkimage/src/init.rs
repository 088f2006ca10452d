//! `cargo sdkimage init [DIR]`: an `sdkimage.toml` for an existing Dockerfile, from what the
//! Dockerfile says (its `ARG`s and `FROM`s) and the folder's name. It never overwrites, and it
//! says what it guessed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::manifest::{MANIFEST_FILE, Manifest};

/// Folder names that say where a Dockerfile lives, not what it builds: the image is named
/// after the folder above (`sdks/python/container` → `python`).
const GENERIC_DIRS: &[&str] = &[
    "container",
    "containers",
    "docker",
    "image",
    "images",
    "build",
];

/// What `init` wrote.
#[derive(Debug, Clone)]
pub struct Initialized {
    pub path: PathBuf,
    pub text: String,
    /// Each guess, for people.
    pub guesses: Vec<String>,
}

/// Write `DIR/sdkimage.toml` for `DIR/Dockerfile`. The proposal names no path outside `DIR`,
/// so it is checked against `DIR` alone; no workspace is needed to write it.
pub fn init(dir: &Path) -> Result<Initialized> {
    let dir = dir.canonicalize().map_err(|e| {
        Error::Usage(format!(
            "init: cannot open the folder {}: {e}",
            dir.display()
        ))
    })?;
    let path = dir.join(MANIFEST_FILE);
    if path.exists() || path.is_symlink() {
        return Err(Error::Usage(format!(
            "init: {} exists already; init never overwrites a manifest (edit it, or remove it first)",
            path.display()
        )));
    }
    let dockerfile = dir.join("Dockerfile");
    let rules = crate::guarded::Rules::anywhere(crate::guarded::CONFIG_CAP, "a Dockerfile");
    let text = crate::guarded::read_to_string(&dockerfile, rules).map_err(|e| {
        Error::Usage(format!(
            "init: cannot read {}: {e}. init writes an sdkimage.toml next to an existing Dockerfile.",
            dockerfile.display()
        ))
    })?;
    let (manifest, guesses) = propose(&dir, &text)?;
    // The proposal must load as any manifest does before it is written.
    Manifest::parse(&path, &dir, manifest.clone())?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| Error::io(format!("init: cannot create {}", path.display()), e))?;
    std::io::Write::write_all(&mut file, manifest.as_bytes())
        .map_err(|e| Error::io(format!("init: cannot write {}", path.display()), e))?;
    Ok(Initialized {
        path,
        text: manifest,
        guesses,
    })
}

/// An ARG whose name says it holds a version (`py_version`, `JAVA_VERSION`, `version`).
fn looks_like_version(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == "version" || lower.ends_with("_version") || lower.ends_with("-version")
}

/// The manifest text for the Dockerfile `text` in `dir`, and what was guessed.
fn propose(dir: &Path, text: &str) -> Result<(String, Vec<String>)> {
    let folder = |d: &Path| {
        d.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let own = folder(dir);
    let named_after = if GENERIC_DIRS.contains(&own.to_ascii_lowercase().as_str()) {
        dir.parent().map(folder).unwrap_or(own)
    } else {
        own
    };
    let language = slug(&named_after).ok_or_else(|| {
        Error::Usage(format!(
            "init: cannot make an image name of the folder name `{named_after}`; write {} by hand (see the README's manifest section)",
            MANIFEST_FILE
        ))
    })?;
    let args: Vec<(String, Option<String>)> = crate::dockerfile::arg_list(text)
        .into_iter()
        .map(|a| (a.name, a.default))
        .collect();
    let froms: Vec<String> =
        crate::dockerfile::froms(text, &Default::default(), &Default::default())
            .into_iter()
            .map(|f| f.raw)
            .collect();
    let mut guesses = vec![format!(
        "language `{language}`, from the folder `{named_after}`"
    )];
    let version_arg = args.iter().find(|(name, _)| looks_like_version(name));
    let variant = version_arg.and_then(|(name, default)| {
        let d = default.as_deref()?;
        let usable = !d.is_empty() && !d.contains(['$', ':', '/', ' ', '"', '\\']);
        usable.then(|| (name.clone(), d.to_string()))
    });
    let name = if variant.is_some() {
        format!("{language}{{variant}}_sdk")
    } else {
        format!("{language}_sdk")
    };
    guesses.push(format!("image name `{name}`"));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Written by `cargo sdkimage init` from Dockerfile; check the guesses below."
    );
    let _ = writeln!(out, "language = {}", quote(&language));
    let _ = writeln!(out, "name = {}", quote(&name));
    match (version_arg, &variant) {
        (Some(_), Some((arg, value))) => {
            let _ = writeln!(
                out,
                "\n# `{arg}` looks like a version: one image per value. Add a line per version.\n[variants]\n{} = {{ {arg} = {} }}",
                quote(value),
                quote(value)
            );
            guesses.push(format!(
                "[variants] from ARG {arg} (its default `{value}` is the one variant so far)"
            ));
        }
        (Some((arg, _)), None) => {
            let _ = writeln!(
                out,
                "\n# `{arg}` looks like a version but has no usable default: one image per value,\n# for example:\n# [variants]\n# \"3.11\" = {{ {arg} = \"3.11\" }}"
            );
            guesses.push(format!(
                "ARG {arg} looks like a version; [variants] proposed in a comment (no default to start from)"
            ));
        }
        _ => {}
    }
    // ARGs a FROM needs and that have no default: the build fails without a value.
    let from_args: Vec<&String> = args
        .iter()
        .filter(|(name, default)| {
            default.is_none()
                && Some(name) != version_arg.map(|(n, _)| n)
                && froms
                    .iter()
                    .any(|f| f.contains(&format!("${{{name}}}")) || f.contains(&format!("${name}")))
        })
        .map(|(name, _)| name)
        .collect();
    if !from_args.is_empty() {
        let _ = writeln!(
            out,
            "\n# A FROM needs these and the Dockerfile gives no default: set them (`{{repository_root}}`,\n# `{{tag}}` and `{{variant}}` may be used; naming one of our images makes it a dependency).\n# [build-args]"
        );
        for a in &from_args {
            let _ = writeln!(out, "# {a} = \"...\"");
            guesses.push(format!(
                "ARG {a} is used in FROM without a default: [build-args] proposed in a comment"
            ));
        }
    }
    let bases: Vec<&String> = froms
        .iter()
        .filter(|f| !f.contains('$') && !f.eq_ignore_ascii_case("scratch"))
        .collect();
    if !bases.is_empty() {
        guesses.push(format!(
            "builds on {} (external, or a stage of its own)",
            bases
                .iter()
                .map(|b| format!("`{b}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok((out, guesses))
}

/// `Python SDK` → `python-sdk`: what `language` accepts (lowercase letters, digits, `_`, `.`,
/// `-`, starting with a letter or digit).
fn slug(name: &str) -> Option<String> {
    let mapped: String = name
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = mapped
        .trim_start_matches(['_', '.', '-'])
        .trim_end_matches('-');
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(dockerfile: &str) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("sdks/java/container");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
        root
    }

    #[test]
    fn names_from_the_folder_and_proposes_variants() {
        let root = tree(
            "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nARG java_version=11\nRUN echo $java_version\n",
        );
        let dir = root.path().join("sdks/java/container");
        let done = init(&dir).unwrap();
        assert!(done.text.contains("language = \"java\""), "{}", done.text);
        assert!(
            done.text.contains("name = \"java{variant}_sdk\""),
            "{}",
            done.text
        );
        assert!(
            done.text
                .contains("[variants]\n\"11\" = { java_version = \"11\" }"),
            "{}",
            done.text
        );
        assert!(done.text.contains("# BASE_IMAGE = "), "{}", done.text);
        assert!(done.guesses.iter().any(|g| g.contains("java_version")));
        let loaded = Manifest::load(&done.path, root.path()).unwrap();
        assert_eq!(loaded.language, "java");
        assert_eq!(loaded.variants.len(), 1);
        // Never overwrites.
        let again = init(&dir).unwrap_err();
        assert!(matches!(again, Error::Usage(_)), "{again}");
        assert!(again.to_string().contains("exists already"), "{again}");
    }

    #[test]
    fn without_a_default_the_variants_are_a_comment() {
        let root = tree("FROM scratch\nARG py_version\n");
        let dir = root.path().join("sdks/java/container");
        let done = init(&dir).unwrap();
        assert!(done.text.contains("# [variants]"), "{}", done.text);
        assert!(done.text.contains("name = \"java_sdk\""), "{}", done.text);
        assert!(
            Manifest::load(&done.path, root.path())
                .unwrap()
                .variants
                .is_empty()
        );
    }

    #[test]
    fn no_dockerfile_is_a_usage_error() {
        let root = tempfile::tempdir().unwrap();
        let err = init(root.path()).unwrap_err();
        assert!(matches!(err, Error::Usage(_)), "{err}");
        assert!(err.to_string().contains("Dockerfile"), "{err}");
        assert!(!root.path().join(MANIFEST_FILE).exists());
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("Python SDK").as_deref(), Some("python-sdk"));
        assert_eq!(slug("__go").as_deref(), Some("go"));
        assert_eq!(slug("--"), None);
    }
}
