//! Run from a member folder, like cargo: without selectors, the manifests at or below the
//! current folder (else the one whose folder holds it); at the root, or outside the
//! workspace, every image.

use std::path::Path;

use super::BuildPlan;

impl BuildPlan {
    /// The selectors a run without any means from `cwd` in the workspace at `root`: none
    /// (every image), or the folder whose manifests it builds.
    pub fn default_selectors(&self, root: &Path, cwd: &Path) -> Vec<String> {
        let cwd = cwd.canonicalize().unwrap_or_else(|_| cwd.to_path_buf());
        if cwd == root || !cwd.starts_with(root) {
            return Vec::new();
        }
        let dirs: Vec<&Path> = self.manifests.iter().map(|m| m.dir.as_path()).collect();
        let folder = if dirs.iter().any(|d| d.starts_with(&cwd)) {
            // `sdks/python`: every manifest at or below it.
            Some(cwd.as_path())
        } else {
            // Inside a manifest's folder (`sdks/python/container/src`): that manifest, as
            // cargo builds the package whose folder holds the current one.
            dirs.iter()
                .copied()
                .filter(|d| cwd.starts_with(d))
                .max_by_key(|d| d.components().count())
        };
        // A folder with no manifest at, below or above it (`docs/`): every image, as cargo
        // builds the default members there.
        folder
            .map(|f| vec![f.display().to_string()])
            .unwrap_or_default()
    }
}
