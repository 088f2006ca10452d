//! Lexical path normalisation, shared by the manifest and workspace checks.

use std::path::{Component, Path, PathBuf};

/// Lexically resolve `.` and `..` (no file system access).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Normalize a relative `/`-separated path that must stay inside its base; None if it escapes,
/// is absolute or is empty.
pub fn normalize_inner(path: &str) -> Option<String> {
    if path.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        None
    } else {
        Some(parts.join("/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_inner_rules() {
        assert_eq!(normalize_inner("a/./b/../c"), Some("a/c".into()));
        assert_eq!(normalize_inner("../a"), None);
        assert_eq!(normalize_inner("/a"), None);
        assert_eq!(normalize_inner("."), None);
    }
}
