//! What the tool needs of a Cargo workspace: its root, its target folder and its root
//! package's version, repository and license. `cargo metadata --no-deps` answers all of it,
//! but costs a process (two, through rustup's proxy), on the path of every run. When the
//! `Cargo.toml` cargo starts from is itself the workspace root and nothing could move the
//! target folder, the answer is in that file alone, and we read it there. Anything else
//! (a member's manifest, `CARGO_TARGET_DIR`, a cargo config naming `target-dir` or including
//! other files, a key in a shape we do not read) asks cargo, as before.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Cargo's facts about a workspace, from `cargo metadata` or from its root manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CargoFacts {
    /// The workspace root as cargo names it (not canonical).
    pub root: PathBuf,
    /// Cargo's target folder.
    pub target_dir: PathBuf,
    /// The root manifest's `[package]`, when it has one.
    pub package: Option<RootPackage>,
}

/// The keys of a root `[package]` the labels and `{version}` use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RootPackage {
    pub version: String,
    pub repository: Option<String>,
    pub license: Option<String>,
}

impl From<cargo_metadata::Metadata> for CargoFacts {
    fn from(m: cargo_metadata::Metadata) -> Self {
        let package = m.root_package().map(|p| RootPackage {
            version: p.version.to_string(),
            repository: p.repository.clone(),
            license: p.license.clone(),
        });
        CargoFacts {
            root: m.workspace_root.clone().into_std_path_buf(),
            target_dir: m.target_directory.clone().into_std_path_buf(),
            package,
        }
    }
}

/// Read the facts from the manifest cargo would start from (`manifest_path`, else the nearest
/// `Cargo.toml` at or above `cwd`), when they are all in it; `None`: ask cargo.
pub fn read(
    manifest_path: Option<&Path>,
    cwd: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<CargoFacts> {
    if ["CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR"]
        .iter()
        .any(|k| env(k).is_some())
    {
        return None;
    }
    let manifest = match manifest_path {
        Some(p) => absolute(p, cwd),
        None => cwd
            .ancestors()
            .map(|d| d.join("Cargo.toml"))
            .find(|f| f.is_file())?,
    };
    if config_may_move_target(cwd, env) {
        return None;
    }
    let text = std::fs::read_to_string(&manifest).ok()?;
    let parsed: Manifest = toml::from_str(&text).ok()?;
    let workspace = parsed.workspace?;
    let package = match parsed.package {
        None => None,
        Some(p) => {
            if p.workspace.is_some() {
                return None;
            }
            let inherited = workspace.package.unwrap_or_default();
            Some(RootPackage {
                // Cargo's default when `[package]` has no version.
                version: Key::resolve(p.version, inherited.version)?
                    .unwrap_or_else(|| "0.0.0".to_string()),
                repository: Key::resolve(p.repository, inherited.repository)?,
                license: Key::resolve(p.license, inherited.license)?,
            })
        }
    };
    let root = manifest.parent()?.to_path_buf();
    Some(CargoFacts {
        target_dir: root.join("target"),
        root,
        package,
    })
}

fn absolute(path: &Path, cwd: &Path) -> PathBuf {
    match path.is_absolute() {
        true => path.to_path_buf(),
        false => cwd.join(path),
    }
}

/// Whether a cargo config cargo reads from `cwd` (`.cargo/config[.toml]` at or above it, then
/// `$CARGO_HOME`'s) could set the target folder: it names `target-dir`, or includes others.
fn config_may_move_target(cwd: &Path, env: &dyn Fn(&str) -> Option<String>) -> bool {
    let home = env("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| Path::new(&h).join(".cargo")));
    let dirs = cwd.ancestors().map(|d| d.join(".cargo")).chain(home);
    dirs.flat_map(|d| [d.join("config"), d.join("config.toml")])
        .any(|file| match std::fs::read_to_string(&file) {
            Ok(text) => text.contains("target-dir") || text.contains("include"),
            // Missing is the usual case; unreadable is cargo's to report.
            Err(e) => e.kind() != std::io::ErrorKind::NotFound,
        })
}

#[derive(Deserialize)]
struct Manifest {
    package: Option<Package>,
    workspace: Option<Workspace>,
}

#[derive(Deserialize)]
struct Package {
    version: Option<Key>,
    repository: Option<Key>,
    license: Option<Key>,
    /// `package.workspace`: the root is elsewhere.
    workspace: Option<toml::Value>,
}

#[derive(Deserialize)]
struct Workspace {
    package: Option<Inherited>,
}

#[derive(Deserialize, Default)]
struct Inherited {
    version: Option<String>,
    repository: Option<String>,
    license: Option<String>,
}

/// A `[package]` key: a value, or `{ workspace = true }`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Key {
    Value(String),
    Inherit { workspace: bool },
}

impl Key {
    /// The key's value (`Some(None)`: unset); `None` when it inherits a value the workspace
    /// lacks (cargo's error, so cargo's to report).
    fn resolve(key: Option<Key>, inherited: Option<String>) -> Option<Option<String>> {
        match key {
            None => Some(None),
            Some(Key::Value(v)) => Some(Some(v)),
            Some(Key::Inherit { workspace: true }) => inherited.map(Some),
            Some(Key::Inherit { workspace: false }) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    struct Tree(tempfile::TempDir);

    impl Tree {
        fn new(root_manifest: &str) -> Tree {
            let t = Tree(tempfile::tempdir().unwrap());
            t.write("Cargo.toml", root_manifest);
            t
        }
        fn write(&self, rel: &str, text: &str) {
            crate::manifest::tests::write_under(self.root(), rel, text);
        }
        fn root(&self) -> &Path {
            self.0.path()
        }
        /// The facts cargo itself gives, from `cwd`, with HOME inside the tree.
        fn cargo(&self, cwd: &Path) -> CargoFacts {
            let out = std::process::Command::new(env!("CARGO"))
                .args(["metadata", "--no-deps", "--format-version", "1"])
                .current_dir(cwd)
                .env("CARGO_HOME", self.root().join("home/.cargo"))
                .env_remove("CARGO_TARGET_DIR")
                .env_remove("CARGO_BUILD_TARGET_DIR")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let m: cargo_metadata::Metadata = serde_json::from_slice(&out.stdout).unwrap();
            CargoFacts::from(m)
        }
        fn ours(&self, cwd: &Path) -> Option<CargoFacts> {
            let home = self.root().join("home/.cargo").display().to_string();
            let env = move |k: &str| (k == "CARGO_HOME").then(|| home.clone());
            read(None, cwd, &env)
        }
    }

    /// Ours agrees with `cargo metadata` wherever we answer.
    #[test]
    fn a_root_manifest_answers_as_cargo_does() {
        let cases = [
            "[workspace]\nmembers = []\n",
            "[workspace]\n[workspace.package]\nversion = \"2.1.0\"\nrepository = \"https://x/r\"\nlicense = \"Apache-2.0\"\n",
            "[package]\nname = \"app\"\nversion = \"1.2.3\"\nlicense = \"MIT\"\nedition = \"2021\"\n[workspace]\n",
            "[package]\nname = \"app\"\nversion.workspace = true\nrepository.workspace = true\nedition = \"2021\"\n[workspace.package]\nversion = \"3.0.0\"\nrepository = \"https://x/y\"\n[workspace]\n",
            "[package]\nname = \"app\"\nedition = \"2021\"\n[workspace]\n",
        ];
        for manifest in cases {
            let t = Tree::new(manifest);
            if manifest.contains("[package]") {
                t.write("src/lib.rs", "");
            }
            let ours = t
                .ours(t.root())
                .unwrap_or_else(|| panic!("no answer for {manifest}"));
            assert_eq!(ours, t.cargo(t.root()), "{manifest}");
        }
    }

    #[test]
    fn from_a_folder_below_the_root_the_nearest_manifest_is_read() {
        let t = Tree::new("[workspace]\n");
        std::fs::create_dir_all(t.root().join("sdks/python")).unwrap();
        let below = t.root().join("sdks/python");
        assert_eq!(t.ours(&below).unwrap(), t.cargo(&below));
    }

    #[test]
    fn what_only_cargo_knows_is_asked_of_cargo() {
        // A member's manifest: its root is elsewhere.
        let t = Tree::new("[workspace]\nmembers = [\"m\"]\n");
        t.write(
            "m/Cargo.toml",
            "[package]\nname = \"m\"\nversion = \"1.0.0\"\n",
        );
        assert_eq!(t.ours(&t.root().join("m")), None);
        // A config that names the target folder, at or above the folder cargo runs in...
        let t = Tree::new("[workspace]\n");
        t.write(".cargo/config.toml", "[build]\ntarget-dir = \"out\"\n");
        assert_eq!(t.ours(t.root()), None);
        // ...or in CARGO_HOME.
        let t = Tree::new("[workspace]\n");
        t.write(
            "home/.cargo/config.toml",
            "[build]\ntarget-dir = \"/tmp/x\"\n",
        );
        assert_eq!(t.ours(t.root()), None);
        // The environment.
        let t = Tree::new("[workspace]\n");
        let env = |k: &str| (k == "CARGO_TARGET_DIR").then(|| "/tmp/t".to_string());
        assert_eq!(read(None, t.root(), &env), None);
        // A key inherited from a workspace that lacks it, and a manifest cargo would refuse.
        let t = Tree::new("[package]\nname = \"a\"\nversion.workspace = true\n[workspace]\n");
        assert_eq!(t.ours(t.root()), None);
        let t = Tree::new("[workspace\n");
        assert_eq!(t.ours(t.root()), None);
        assert_eq!(
            read(
                Some(Path::new("/nonexistent/Cargo.toml")),
                t.root(),
                &no_env
            ),
            None
        );
    }
}
