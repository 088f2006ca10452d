//! `cargo sdkimage init [DIR]`: an `sdkimage.toml` for an existing Dockerfile, from what the
//! Dockerfile says (its `ARG`s and `FROM`s) and the folder's name. It never overwrites, and it
//! says what it guessed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::manifest::{MANIFEST_FILE, Manifest};
use crate::workspace::standalone::WORKSPACE_FILE;

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
    /// The workspace it belongs to: found, written by `init`, or missing.
    pub workspace: WorkspaceFound,
}

/// The workspace a new manifest belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkspaceFound {
    /// An `sdkimage-workspace.toml` or a `Cargo.toml` at or above the folder.
    Existing,
    /// None was found: `init` wrote this `sdkimage-workspace.toml` at the git top level.
    Created(PathBuf),
    /// None was found and the folder is in no git repository, so no root is known.
    Missing,
}

impl Initialized {
    /// What to do next, for people.
    pub fn next_step(&self) -> crate::output::Note {
        crate::output::Note::InitWroteManifest {
            path: self.path.clone(),
            workspace: !matches!(self.workspace, WorkspaceFound::Missing),
        }
    }
}

/// Write `DIR/sdkimage.toml` for `DIR/Dockerfile`. The proposal names no path outside `DIR`,
/// so it is checked against `DIR` alone. When no workspace holds `DIR`, an
/// `sdkimage-workspace.toml` is written at the git top level too (never over one).
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
    if !dockerfile.exists() && !dockerfile.is_symlink() {
        return Err(Error::Usage(no_dockerfile(&dir)));
    }
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
    create_new(&path, &manifest)?;
    let workspace = ensure_workspace(&dir)?;
    Ok(Initialized {
        path,
        text: manifest,
        guesses,
        workspace,
    })
}

fn create_new(path: &Path, text: &str) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| Error::io(format!("init: cannot create {}", path.display()), e))?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .map_err(|e| Error::io(format!("init: cannot write {}", path.display()), e))
}

/// What `init` says in a folder without a Dockerfile: what it looks for, and the folders
/// below that have one (a few, gitignored ones left out).
fn no_dockerfile(dir: &Path) -> String {
    let mut found: Vec<String> = ignore::WalkBuilder::new(dir)
        .max_depth(Some(6))
        .build()
        .filter_map(std::result::Result::ok)
        .filter(|e| e.file_name() == "Dockerfile" && e.file_type().is_some_and(|t| t.is_file()))
        .filter_map(|e| {
            let parent = e.path().parent()?.strip_prefix(dir).ok()?;
            (!parent.as_os_str().is_empty()).then(|| parent.display().to_string())
        })
        .collect();
    found.sort();
    let mut message = format!(
        "init: no Dockerfile in {}. init looks for a file named `Dockerfile` in the folder it is given (default: the current one) and writes sdkimage.toml next to it",
        dir.display()
    );
    match found.as_slice() {
        [] => message.push_str("; none was found below this folder either"),
        some => {
            let shown: Vec<String> = some.iter().take(8).map(|d| format!("`{d}`")).collect();
            let more = some.len().saturating_sub(8);
            message.push_str(&format!(
                "; folders below with one: {}{}. Run it once for each: `cargo sdkimage init {}`",
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                },
                some[0]
            ));
        }
    }
    message
}

/// The workspace `dir` belongs to; when there is none, an `sdkimage-workspace.toml` written
/// at the git top level (create-new: never over a file another process just wrote).
fn ensure_workspace(dir: &Path) -> Result<WorkspaceFound> {
    let has = |name: &str| dir.ancestors().any(|d| d.join(name).is_file());
    if has(WORKSPACE_FILE) || has("Cargo.toml") {
        return Ok(WorkspaceFound::Existing);
    }
    let Some(top) = git_top_level(dir) else {
        return Ok(WorkspaceFound::Missing);
    };
    let file = top.join(WORKSPACE_FILE);
    create_new(&file, WORKSPACE_TEXT)?;
    Ok(WorkspaceFound::Created(file))
}

/// What `init` writes as a new workspace file: keys only as comments, so it just marks the root.
const WORKSPACE_TEXT: &str = "\
# The root of this repository's SDK images: every sdkimage.toml below belongs to it.
# Written by `cargo sdkimage init`; the keys are those of [workspace.metadata.sdkimage]
# (see the book: docs/src/reference/workspace.md, \"Without Cargo\"). For example:
# version = \"1.0.0\"                             # {version} in names and tags
# repository-root = \"registry.example.com/team\"  # where images are pushed
# tags = [\"{version}\", \"latest\"]
";

/// `git rev-parse --show-toplevel` in `dir`, when git answers.
fn git_top_level(dir: &Path) -> Option<PathBuf> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--show-toplevel"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let top = text.trim_end_matches(['\n', '\r']);
    (out.status.success() && !top.is_empty()).then(|| PathBuf::from(top))
}

/// An ARG whose name says it holds a version (`py_version`, `JAVA_VERSION`, `version`).
fn looks_like_version(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == "version" || lower.ends_with("_version") || lower.ends_with("-version")
}

/// An ARG that switches license gathering on (`pull_licenses`, `PULL_LICENSES`): what
/// `--pull-licenses` sets through `{pull_licenses}`.
fn looks_like_license_switch(name: &str) -> bool {
    name.to_ascii_lowercase().contains("license")
}

/// A version to show in a commented `[variants]` example.
fn example_version(language: &str) -> &'static str {
    match language {
        "python" => "3.11",
        "java" => "17",
        "go" => "1.22",
        _ => "1",
    }
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
            "init: cannot make an image name of the folder name `{named_after}`; write {} by hand (see the book's manifest page, docs/src/reference/manifest.md)",
            MANIFEST_FILE
        ))
    })?;
    let args = crate::dockerfile::arg_list(text);
    let bases = bases(text);
    let mut guesses = vec![format!(
        "language `{language}`, from the folder `{named_after}`"
    )];
    let version_arg = args.iter().find(|a| looks_like_version(&a.name));
    let variant = version_arg.and_then(|a| {
        let d = a.default.as_deref()?;
        let usable = !d.is_empty() && !d.contains(['$', ':', '/', ' ', '"', '\'', '\\']);
        usable.then(|| (a.name.clone(), d.to_string()))
    });
    // With a version ARG the name takes `{variant}`, so the proposed variants (written or in a
    // comment) give one image each.
    let name = if version_arg.is_some() {
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
    for f in &bases {
        let _ = writeln!(out, "# Builds on {}.", describe_base(f));
    }
    if !bases.is_empty() {
        guesses.push(format!(
            "builds on {}",
            bases
                .iter()
                .map(describe_base)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
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
        (Some(a), None) => {
            let example = example_version(&language);
            let _ = writeln!(
                out,
                "\n# `{arg}` looks like a version but has no usable default: one image per value,\n# for example:\n# [variants]\n# \"{example}\" = {{ {arg} = \"{example}\" }}",
                arg = a.name
            );
            guesses.push(format!(
                "ARG {} looks like a version; [variants] proposed in a comment (no default to start from)",
                a.name
            ));
        }
        _ => {}
    }
    build_args(
        &mut out,
        &mut guesses,
        &args,
        &bases,
        version_arg.map(|a| a.name.as_str()),
    );
    Ok((out, guesses))
}

/// The `FROM`s that are neither `scratch` nor a stage of the Dockerfile (read without build
/// args: one that only an ARG names is kept), each as written once.
fn bases(text: &str) -> Vec<crate::dockerfile::From> {
    let none = std::collections::BTreeMap::new();
    let mut stages = std::collections::BTreeSet::new();
    let mut out: Vec<crate::dockerfile::From> = Vec::new();
    for f in crate::dockerfile::froms(text, &none, &none) {
        let lower = f.image.to_ascii_lowercase();
        let stage = f.stage.clone();
        if lower != "scratch" && !stages.contains(&lower) && !out.iter().any(|o| o.raw == f.raw) {
            out.push(f);
        }
        stages.extend(stage);
    }
    out
}

/// `python:"${py_version}"-bullseye` (external; it depends on ARG py_version), or a base an
/// ARG alone names (`${BASE_IMAGE}`), which may be one of ours.
fn describe_base(f: &crate::dockerfile::From) -> String {
    let uses: Vec<String> = f.uses.iter().map(|u| format!("ARG {u}")).collect();
    match (uses.is_empty(), f.image.is_empty()) {
        (true, _) => format!("`{}` (external)", f.raw),
        (false, true) => format!("`{}` (the image {} names)", f.raw, uses.join(", ")),
        (false, false) => format!("`{}` (external; it depends on {})", f.raw, uses.join(", ")),
    }
}

/// `[build-args]`: a license switch mapped to `{pull_licenses}`, and, as comments, the ARGs a
/// `FROM` needs without a default (the build fails without a value).
fn build_args(
    out: &mut String,
    guesses: &mut Vec<String>,
    args: &[crate::dockerfile::ArgDeclaration],
    bases: &[crate::dockerfile::From],
    version_arg: Option<&str>,
) {
    let switches: Vec<&str> = args
        .iter()
        .filter(|a| looks_like_license_switch(&a.name))
        .map(|a| a.name.as_str())
        .collect();
    let needed: Vec<&str> = args
        .iter()
        .filter(|a| {
            a.default.is_none()
                && a.global
                && Some(a.name.as_str()) != version_arg
                && !crate::dockerfile::PLATFORM_ARGS.contains(&a.name.as_str())
                && bases.iter().any(|f| f.uses.contains(&a.name))
        })
        .map(|a| a.name.as_str())
        .collect();
    if switches.is_empty() && needed.is_empty() {
        return;
    }
    if switches.is_empty() {
        let _ = writeln!(out, "\n# [build-args]");
    } else {
        let _ = writeln!(out, "\n[build-args]");
        for s in &switches {
            let _ = writeln!(
                out,
                "# `{s}` switches the Dockerfile's license step: \"true\" with `--pull-licenses`, else \"false\".\n{s} = \"{{pull_licenses}}\""
            );
            guesses.push(format!(
                "ARG {s} is a license switch: [build-args] {s} = \"{{pull_licenses}}\""
            ));
        }
    }
    if !needed.is_empty() {
        let _ = writeln!(
            out,
            "# A FROM needs these and the Dockerfile gives no default: set them (`{{repository_root}}`,\n# `{{tag}}` and `{{variant}}` may be used; naming one of our images makes it a dependency)."
        );
        for a in &needed {
            let _ = writeln!(out, "# {a} = \"...\"");
            guesses.push(format!(
                "ARG {a} is used in FROM without a default: [build-args] proposed in a comment"
            ));
        }
    }
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
        // Ready for the variants: uncommented, they give one image each.
        assert!(
            done.text.contains("name = \"java{variant}_sdk\""),
            "{}",
            done.text
        );
        assert!(
            done.text.contains("# \"17\" = { py_version = \"17\" }"),
            "{}",
            done.text
        );
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
