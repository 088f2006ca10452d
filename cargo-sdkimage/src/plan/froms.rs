//! `FROM` lines that name one of our images: a dependency, exactly as a build arg naming one
//! of our refs is, whether the ref is written in the `FROM` or comes from an `ARG` default or
//! a build arg. The dependency then orders the builds and puts its image id in the dependant's
//! fingerprint (`run::image`), and `list` shows it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::manifest::Manifest;
use crate::reference::ref_key;

use super::{Image, ImageIndex};

/// Add to `deps` every image of ours that a `FROM` of another image's Dockerfile names (after
/// expansion with its build args, the `ARG` defaults, and the platform args of each platform
/// it builds for). Custom images are left out: what they stand on is resolved from `extends`
/// and `adapt`. A Dockerfile that cannot be read adds nothing; its build says why.
pub(super) fn add_from_dependencies(
    root: &Path,
    manifests: &[Manifest],
    images: &[Image],
    deps: &mut [BTreeSet<ImageIndex>],
) {
    let mut by_key: BTreeMap<String, ImageIndex> = BTreeMap::new();
    for (i, img) in images.iter().enumerate() {
        for r in &img.refs {
            by_key.insert(ref_key(&r.to_string()), ImageIndex::new(i));
        }
    }
    let mut texts: BTreeMap<usize, Option<String>> = BTreeMap::new();
    for (i, img) in images.iter().enumerate() {
        if img.custom.is_some() {
            continue;
        }
        let m = img.manifest.get();
        let text = texts.entry(m).or_insert_with(|| {
            let rules =
                crate::guarded::Rules::new(root, crate::guarded::CONFIG_CAP, "a Dockerfile");
            crate::guarded::read_to_string(&manifests[m].dockerfile, rules).ok()
        });
        let Some(text) = text.as_deref() else {
            continue;
        };
        let platforms: Vec<BTreeMap<String, String>> = match img.platforms.as_slice() {
            [] => vec![BTreeMap::new()],
            some => some.iter().map(|p| p.args(p)).collect(),
        };
        for automatic in &platforms {
            for from in crate::dockerfile::external_froms(text, &img.build_args, automatic) {
                if let Some(&target) = by_key.get(&ref_key(&from.image))
                    && target != ImageIndex::new(i)
                {
                    deps[i].insert(target);
                }
            }
        }
    }
}
