//! What the license gatherers read of an image's filesystem: the kept files, by absolute path,
//! and every link, so paths through symlinked folders (`/usr/share/doc/libgcc-s1 -> gcc-12-base`)
//! resolve. Filled by the image reader, read by the Debian and Python gatherers.

use std::collections::{BTreeMap, HashMap};

/// Symlink hops allowed while resolving one path (as Linux's MAXSYMLINKS).
const MAX_HOPS: usize = 40;

/// A link in the image's filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Link {
    /// A symbolic link: its target as written (relative or absolute).
    Symbolic(String),
    /// A hard link: the absolute path of the file it shares contents with.
    Hard(String),
}

/// The kept files of an image's filesystem, by absolute path, and all its links.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    files: BTreeMap<String, Vec<u8>>,
    links: HashMap<String, Link>,
}

impl Snapshot {
    /// The file at `path` after following symlinks (also in its folders) and hard links: its real
    /// path and contents; `None` when absent or not kept.
    pub fn read(&self, path: &str) -> Option<(String, &[u8])> {
        let real = self.resolve(path)?;
        self.files.get(&real).map(|c| (real, c.as_slice()))
    }

    /// The kept files whose path starts with `prefix`, in path order.
    pub fn files_under<'a>(
        &'a self,
        prefix: &str,
    ) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        let prefix = prefix.to_string();
        self.files
            .range(prefix.clone()..)
            .take_while(move |(p, _)| p.starts_with(&prefix))
            .map(|(p, c)| (p.as_str(), c.as_slice()))
    }

    /// Keep the contents of the file at `path` (absolute, normalized).
    pub(super) fn insert_file(&mut self, path: String, contents: Vec<u8>) {
        self.files.insert(path, contents);
    }

    /// Record the link at `path` (absolute, normalized).
    pub(super) fn insert_link(&mut self, path: String, link: Link) {
        self.links.insert(path, link);
    }

    /// All kept files, in path order.
    pub fn files(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.files.iter().map(|(p, c)| (p.as_str(), c.as_slice()))
    }

    fn resolve(&self, path: &str) -> Option<String> {
        let mut hops = 0;
        let mut pending: Vec<String> = components(path).map(str::to_string).collect();
        pending.reverse();
        let mut resolved: Vec<String> = Vec::new();
        while let Some(component) = pending.pop() {
            match component.as_str() {
                "." => continue,
                ".." => {
                    resolved.pop();
                    continue;
                }
                _ => {}
            }
            resolved.push(component);
            let current = join_absolute(&resolved);
            let target = match self.links.get(&current) {
                None => continue,
                Some(Link::Hard(target)) if pending.is_empty() => target.clone(),
                Some(Link::Hard(_)) => continue,
                Some(Link::Symbolic(target)) => target.clone(),
            };
            hops += 1;
            if hops > MAX_HOPS {
                return None;
            }
            resolved.pop();
            if target.starts_with('/') {
                resolved.clear();
            }
            pending.extend(components(&target).rev().map(str::to_string));
        }
        Some(join_absolute(&resolved))
    }
}

fn components(path: &str) -> impl DoubleEndedIterator<Item = &str> {
    path.split('/').filter(|c| !c.is_empty())
}

fn join_absolute(components: &[String]) -> String {
    format!("/{}", components.join("/"))
}

/// A tar member path as an absolute, normalized path: `./usr/lib/` -> `/usr/lib`.
pub(super) fn normalize(raw: &str) -> String {
    let parts: Vec<&str> = components(raw).filter(|c| *c != ".").collect();
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(files: &[(&str, &str)], links: &[(&str, Link)]) -> Snapshot {
        Snapshot {
            files: files
                .iter()
                .map(|(p, c)| (p.to_string(), c.as_bytes().to_vec()))
                .collect(),
            links: links
                .iter()
                .map(|(p, l)| (p.to_string(), l.clone()))
                .collect(),
        }
    }

    #[test]
    fn resolves_symlinked_folders_relative_and_absolute() {
        let s = snapshot(
            &[("/usr/share/doc/gcc-12-base/copyright", "gcc")],
            &[
                (
                    "/usr/share/doc/libgcc-s1",
                    Link::Symbolic("gcc-12-base".into()),
                ),
                (
                    "/usr/share/doc/abs",
                    Link::Symbolic("/usr/share/doc/gcc-12-base".into()),
                ),
                (
                    "/usr/share/doc/up",
                    Link::Symbolic("../doc/./libgcc-s1".into()),
                ),
                ("/share", Link::Symbolic("usr/share".into())),
            ],
        );
        for path in [
            "/usr/share/doc/libgcc-s1/copyright",
            "/usr/share/doc/abs/copyright",
            "/usr/share/doc/up/copyright",
            "/share/doc/libgcc-s1/copyright",
        ] {
            let (real, contents) = s
                .read(path)
                .unwrap_or_else(|| panic!("{path} did not resolve"));
            assert_eq!(real, "/usr/share/doc/gcc-12-base/copyright");
            assert_eq!(contents, b"gcc");
        }
    }

    #[test]
    fn resolves_hard_links_and_stops_on_loops() {
        let s = snapshot(
            &[("/a/copyright", "text")],
            &[
                ("/b/copyright", Link::Hard("/a/copyright".into())),
                ("/loop", Link::Symbolic("loop".into())),
            ],
        );
        assert_eq!(
            s.read("/b/copyright").map(|(p, _)| p),
            Some("/a/copyright".to_string())
        );
        assert_eq!(s.read("/loop/x"), None);
        assert_eq!(s.read("/missing"), None);
    }

    #[test]
    fn normalizes_member_paths() {
        assert_eq!(normalize("./usr/lib/"), "/usr/lib");
        assert_eq!(normalize("usr//share/./doc"), "/usr/share/doc");
        assert_eq!(normalize("./"), "/");
    }
}
