//! Each image's build cache, resolved from the workspace's, its manifest's and the flags'
//! settings (`crate::cache` holds the settings themselves and their syntax).

use crate::cache::{CacheConfig, ImageCache};
use crate::error::{Error, Result};

use super::{BuildPlan, ImageIndex};

impl BuildPlan {
    /// Image `i`'s cache: the sources of the most specific level that names any (`--cache-from`,
    /// else the manifest's `cache-from`, else the workspace's), after its own first ref under
    /// `cache = "registry"`; the inline export when any level asks for it.
    pub fn cache_of(
        &self,
        i: ImageIndex,
        workspace: &CacheConfig,
        flags: &CacheConfig,
    ) -> ImageCache {
        let manifest = &self.manifest_of(i).cache;
        let mut from = Vec::new();
        if workspace.registry
            && let Some(own) = self.image(i).refs.first()
        {
            from.push(own.to_string());
        }
        let named = [&flags.from, &manifest.from, &workspace.from]
            .into_iter()
            .find(|f| !f.is_empty());
        for r in named.into_iter().flatten() {
            if !from.contains(r) {
                from.push(r.clone());
            }
        }
        ImageCache {
            from,
            inline: flags.inline || manifest.inline || workspace.inline || workspace.registry,
        }
    }

    /// Where image `i`'s cache settings come from, for messages.
    fn cache_origin(&self, i: ImageIndex, workspace: &CacheConfig, flags: &CacheConfig) -> String {
        if !flags.from.is_empty() || flags.inline {
            "--cache-from/--cache-to".to_string()
        } else if !self.manifest_of(i).cache.is_unset() {
            format!(
                "cache-from/cache-to in {}",
                self.manifest_of(i).path.display()
            )
        } else if workspace.registry {
            "cache = \"registry\" in the workspace's Cargo.toml".to_string()
        } else {
            "cache-from/cache-to in the workspace's Cargo.toml".to_string()
        }
    }

    /// A build cache needs BuildKit: an image of the selection that would be built by the classic
    /// builder (`classic(i)`) with cache settings is invalid input.
    pub fn check_cache_builders(
        &self,
        selection: &[ImageIndex],
        workspace: &CacheConfig,
        flags: &CacheConfig,
        classic: impl Fn(ImageIndex) -> bool,
    ) -> Result<()> {
        for &i in selection {
            if classic(i) && !self.cache_of(i, workspace, flags).is_empty() {
                return Err(Error::Usage(format!(
                    "{} is built by the classic builder, which cannot import or export a build cache ({}); build it with BuildKit (builder = \"buildkit\" or \"auto\", --builder buildkit), or drop the cache settings for it",
                    self.image(i).label(),
                    self.cache_origin(i, workspace, flags)
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plan of two manifests in a temp tree: `a` with the manifest keys `a_keys`, `b` without.
    fn plan(a_keys: &str, ws_cache: CacheConfig) -> (crate::manifest::tests::TempTree, BuildPlan) {
        let root = crate::manifest::tests::temp_tree("cache-plan");
        let mut manifests = Vec::new();
        for (dir, keys) in [("a", a_keys), ("b", "")] {
            let d = root.join(dir);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("Dockerfile"), "FROM scratch\n").unwrap();
            let text = format!("language = \"{dir}\"\nname = \"img_{dir}\"\n{keys}");
            let m = crate::manifest::Manifest::parse(&d.join("sdkimage.toml"), &root, text);
            manifests.push(m.unwrap());
        }
        let ws = crate::workspace::Workspace {
            root: root.to_path_buf(),
            manifest_path: root.join("Cargo.toml"),
            cargo_manifest: Some(root.join("Cargo.toml")),
            target_dir: root.join("target"),
            version: Some("1.0".into()),
            config: crate::workspace::WorkspaceConfig {
                repository_root: Some("localhost:5000/r".into()),
                cache: ws_cache,
                ..Default::default()
            },
            cargo: Default::default(),
        };
        let opts = crate::plan::PlanOptions {
            tags: vec!["2.0".into(), "latest".into()],
            ..Default::default()
        };
        let plan = BuildPlan::new(&ws, manifests, &opts).unwrap();
        (root, plan)
    }

    #[test]
    fn the_most_specific_sources_win_and_registry_mode_adds_the_own_ref() {
        let ws = CacheConfig {
            from: vec!["localhost:5000/shared:cache".into()],
            inline: false,
            registry: true,
        };
        let keys = "cache-from = [\"type=registry,ref=localhost:5000/a:cache\"]\ncache-to = [\"type=inline\"]\n";
        let (_root, plan) = plan(keys, ws.clone());
        let (a, b) = (ImageIndex::new(0), ImageIndex::new(1));
        assert_eq!(
            plan.manifest_of(a).cache.from,
            vec!["localhost:5000/a:cache"]
        );
        assert!(plan.manifest_of(a).cache.inline);
        let none = CacheConfig::default();
        let got = plan.cache_of(a, &ws, &none);
        assert_eq!(
            got.from,
            vec!["localhost:5000/r/img_a:2.0", "localhost:5000/a:cache"]
        );
        assert!(got.inline);
        // b names no sources: the workspace's, after its own first release ref.
        let got = plan.cache_of(b, &ws, &none);
        assert_eq!(
            got.from,
            vec!["localhost:5000/r/img_b:2.0", "localhost:5000/shared:cache"]
        );
        assert!(got.inline, "cache = \"registry\" exports the inline cache");
        // Flags replace every file's sources.
        let flags = CacheConfig {
            from: vec!["localhost:5000/flag:1".into()],
            ..Default::default()
        };
        assert_eq!(
            plan.cache_of(a, &none, &flags).from,
            vec!["localhost:5000/flag:1"]
        );
        assert!(plan.cache_of(b, &none, &none).is_empty());
        // The classic builder with any cache setting is refused, naming where it came from.
        let all = [a, b];
        let e = plan
            .check_cache_builders(&all, &ws, &none, |i| i == b)
            .unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("cache = \"registry\""), "{e}");
        let e = plan
            .check_cache_builders(&all, &none, &none, |i| i == a)
            .unwrap_err();
        assert!(e.to_string().contains("a/sdkimage.toml"), "{e}");
        assert!(
            plan.check_cache_builders(&all, &none, &none, |i| i == b)
                .is_ok()
        );
    }
}
