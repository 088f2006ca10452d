//! The distribution reference grammar (github.com/distribution/reference) for the image
//! references we produce: `[domain/]path[:tag]`.

use std::fmt;

/// Platforms have their own home; kept reachable here for older paths.
pub use crate::platform::Platform;

/// A full image reference `<repository>:<tag>`, both parts already checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct ImageRef {
    pub repository: String,
    pub tag: String,
}

impl ImageRef {
    /// Check both parts; the error names the part that is wrong.
    pub fn new(repository: &str, tag: &str) -> Result<ImageRef, String> {
        check_repository(repository)?;
        check_tag(tag)?;
        Ok(ImageRef {
            repository: repository.to_string(),
            tag: tag.to_string(),
        })
    }

    /// The registry host this reference lives on (`docker.io` when none is named).
    pub fn registry(&self) -> &str {
        split_domain(&self.repository).0.unwrap_or("docker.io")
    }

    /// The repository path inside its registry (`library/` added on Docker Hub for one part).
    pub fn path(&self) -> String {
        match split_domain(&self.repository) {
            (Some(_), path) => path.to_string(),
            (None, path) if !path.contains('/') => format!("library/{path}"),
            (None, path) => path.to_string(),
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.repository, self.tag)
    }
}

/// Split off the first component when it is a registry host: it holds `.` or `:`, or is `localhost`.
pub fn split_domain(repository: &str) -> (Option<&str>, &str) {
    match repository.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (Some(first), rest)
        }
        _ => (None, repository),
    }
}

/// `[\w][\w.-]{0,127}`
pub fn check_tag(tag: &str) -> Result<(), String> {
    no_control(tag, "tag")?;
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = tag.chars();
    let ok = match chars.next() {
        None => return Err("the tag is empty".to_string()),
        Some(first) => word(first) && chars.all(|c| word(c) || c == '.' || c == '-'),
    };
    if !ok {
        return Err(format!(
            "tag `{tag}` is not valid: a tag starts with a letter, digit or `_` and holds only letters, digits, `_`, `.` and `-`"
        ));
    }
    if tag.len() > 128 {
        return Err(format!("tag `{tag}` is longer than 128 characters"));
    }
    Ok(())
}

/// A repository root: the repository part of a reference before the image name, which may be
/// a registry host alone (`localhost:5000`, `gcr.io`).
pub fn check_repository_root(root: &str) -> Result<(), String> {
    no_control(root, "repository root")?;
    if root.is_empty() {
        return Err("the repository root is empty; leave it out for refs without one".to_string());
    }
    // Checked on the root itself: with the image name joined, a trailing `/` would read as `//`.
    check_slashes(root)?;
    check_repository(&format!("{root}/x")).map_err(|e| e.replace(&format!("{root}/x"), root))
}

/// A value with a control character is named escaped, never printed raw: a newline or an
/// escape sequence in it could forge or hide lines of output.
fn no_control(value: &str, what: &str) -> Result<(), String> {
    match value.chars().find(|c| c.is_control()) {
        Some(c) => Err(format!(
            "{what} {} contains the control character {}; remove it",
            crate::error::quoted(value),
            crate::error::quoted(&c.to_string())
        )),
        None => Ok(()),
    }
}

/// The grammar has no empty path components: no leading or trailing `/`, no `//`.
fn check_slashes(repository: &str) -> Result<(), String> {
    let fix = if repository.starts_with('/') {
        "drop the leading `/`"
    } else if repository.ends_with('/') {
        "drop the trailing `/`"
    } else if repository.contains("//") {
        "write a single `/` between path components"
    } else {
        return Ok(());
    };
    Err(format!("empty path component in `{repository}`: {fix}"))
}

/// `[domain[:port]/]component(/component)*`, at most 255 characters.
pub fn check_repository(repository: &str) -> Result<(), String> {
    no_control(repository, "repository")?;
    if repository.is_empty() {
        return Err("the repository name is empty".to_string());
    }
    if repository.len() > 255 {
        return Err(format!(
            "repository `{repository}` is longer than 255 characters"
        ));
    }
    check_slashes(repository)?;
    let (domain, path) = split_domain(repository);
    if let Some(domain) = domain {
        check_domain(domain)
            .map_err(|e| format!("registry `{domain}` in `{repository}` is not valid: {e}"))?;
    }
    for component in path.split('/') {
        check_path_component(component)
            .map_err(|e| format!("`{component}` in repository `{repository}` is not valid: {e}"))?;
    }
    Ok(())
}

fn check_path_component(component: &str) -> Result<(), String> {
    if let Some(c) = component.chars().find(|c| c.is_ascii_uppercase()) {
        return Err(format!(
            "`{c}` is uppercase; repository names are lowercase"
        ));
    }
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let bytes = component.as_bytes();
    if !bytes.first().is_some_and(|&b| alnum(b)) || !bytes.last().is_some_and(|&b| alnum(b)) {
        return Err("a path component starts and ends with a lowercase letter or digit".into());
    }
    // Separators between alphanumeric runs: `.`, `_`, `__`, or one or more `-`.
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &component[start..i];
        let valid = matches!(sep, "." | "_" | "__") || sep.bytes().all(|b| b == b'-');
        if !valid {
            return Err(format!(
                "`{sep}` is not allowed here; separators are `.`, `_`, `__` or dashes, between lowercase letters and digits"
            ));
        }
    }
    Ok(())
}

fn check_domain(domain: &str) -> Result<(), String> {
    let (host, port) = match domain.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || domain.starts_with('[') => (host, Some(port)),
        _ => (domain, None),
    };
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!("port `{port}` is not a number"));
    }
    if host.starts_with('[') && host.ends_with(']') {
        return host[1..host.len() - 1]
            .parse::<std::net::Ipv6Addr>()
            .map(|_| ())
            .map_err(|_| format!("`{host}` is not an IPv6 address"));
    }
    for part in host.split('.') {
        let b = part.as_bytes();
        let ok = !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-');
        if !ok {
            return Err(format!("`{part}` is not a host name part"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_common_references() {
        for (repo, tag) in [
            ("apache/beam_python3.11_sdk", "2.61.0"),
            ("beam_go_sdk", "latest"),
            ("localhost:5000/beam/beam_java17_sdk", "2.61.0rc1"),
            ("gcr.io/my-project/sdk", "0123abcd"),
            ("a__b/c-d/e.f", "_x"),
            ("[::1]:5000/x", "v1"),
            ("a---b", "A-Z.0_9"),
        ] {
            ImageRef::new(repo, tag).unwrap_or_else(|e| panic!("{repo}:{tag}: {e}"));
        }
    }

    #[test]
    fn rejects_bad_parts_and_names_them() {
        let e = check_repository("Apache/beam").unwrap_err();
        assert!(e.contains("`Apache`") && e.contains("uppercase"), "{e}");
        let e = check_repository("apache/Beam").unwrap_err();
        assert!(e.contains("`Beam`") && e.contains("uppercase"), "{e}");
        assert_eq!(
            check_repository("apache//beam").unwrap_err(),
            "empty path component in `apache//beam`: write a single `/` between path components"
        );
        assert!(
            check_repository("/beam")
                .unwrap_err()
                .contains("drop the leading `/`")
        );
        assert!(check_repository("apache/beam-").is_err());
        assert!(
            check_repository("apache/be___am")
                .unwrap_err()
                .contains("`___`")
        );
        assert!(check_repository("apache/be.-am").is_err());
        assert!(
            check_repository("localhost:50a/x")
                .unwrap_err()
                .contains("port")
        );
        assert!(check_repository(&"a".repeat(256)).is_err());
        assert!(check_tag("-rc1").is_err());
        assert!(check_tag(".x").is_err());
        assert!(check_tag("a:b").is_err());
        assert!(check_tag("").is_err());
        assert!(check_tag(&"a".repeat(129)).is_err());
        assert!(check_tag(&"a".repeat(128)).is_ok());
    }

    #[test]
    fn a_repository_root_may_be_a_registry_host() {
        for root in [
            "localhost:5000",
            "gcr.io",
            "gcr.io/my-project",
            "apache",
            "[::1]:5000",
        ] {
            check_repository_root(root).unwrap_or_else(|e| panic!("{root}: {e}"));
        }
        let e = check_repository_root("Apache").unwrap_err();
        assert!(e.contains("`Apache`"), "{e}");
        assert!(check_repository_root("localhost:50a").is_err());
    }

    #[test]
    fn a_repository_root_has_no_empty_path_component() {
        for (root, fix) in [
            ("localhost:5000/review/", "drop the trailing `/`"),
            ("apache/", "drop the trailing `/`"),
            ("/apache", "drop the leading `/`"),
            ("/", "drop the leading `/`"),
            ("a//b", "write a single `/` between path components"),
            (
                "localhost:5000//b",
                "write a single `/` between path components",
            ),
        ] {
            let e = check_repository_root(root).unwrap_err();
            assert_eq!(e, format!("empty path component in `{root}`: {fix}"));
        }
        assert!(check_repository_root("").unwrap_err().contains("empty"));
    }

    #[test]
    fn registry_and_path() {
        let r = ImageRef::new("localhost:5000/beam/sdk", "1").unwrap();
        assert_eq!(r.registry(), "localhost:5000");
        assert_eq!(r.path(), "beam/sdk");
        let r = ImageRef::new("sdk", "1").unwrap();
        assert_eq!(r.registry(), "docker.io");
        assert_eq!(r.path(), "library/sdk");
        assert_eq!(r.to_string(), "sdk:1");
    }
}
