//! The distribution reference grammar (github.com/distribution/reference): every image
//! reference the tool reads or writes is parsed and checked here, and the questions asked of
//! one (which registry, which path on it, is it a Docker Hub official image, is it the same
//! repository as a `RepoDigests` entry) are answered here only.

use std::fmt;

/// Docker Hub, the registry of a reference that names none.
pub const DOCKER_HUB: &str = "docker.io";

/// Why a written reference was refused. The message names the reference or the part that is
/// wrong and says what to write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// A part breaks the grammar; the message names the part.
    #[error("{0}")]
    Invalid(String),
    /// A tag is required here and none is written.
    #[error("`{0}` has no tag; write `{0}:TAG`")]
    NoTag(String),
    /// A digest is written where only a tag is taken.
    #[error("`{0}` is pinned to a digest; name it by tag here (`name:tag`)")]
    Pinned(String),
}

/// A reference as written on a command line, in a `FROM` line or a metadata file:
/// `[registry/]path[:tag][@digest]`, each part checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl Reference {
    /// Parse and check `text`: the tag is what follows the last `:` after the last `/` (so a
    /// registry port is never read as a tag), the digest what follows `@`.
    pub fn parse(text: &str) -> Result<Reference, ReferenceError> {
        no_control(text, "reference")?;
        let (name, digest) = match text.split_once('@') {
            Some((name, digest)) => (name, Some(digest)),
            None => (text, None),
        };
        if let Some(digest) = digest {
            check_digest(digest).map_err(|e| ReferenceError::Invalid(format!("`{text}`: {e}")))?;
        }
        let slash = name.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match name[slash..].split_once(':') {
            Some((_, tag)) => (&name[..name.len() - tag.len() - 1], Some(tag)),
            None => (name, None),
        };
        check_repository(repository)?;
        if let Some(tag) = tag {
            check_tag(tag).map_err(|e| ReferenceError::Invalid(format!("`{text}`: {e}")))?;
        }
        Ok(Reference {
            repository: repository.to_string(),
            tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
        })
    }

    /// The registry host this reference lives on (`docker.io` when none is named).
    pub fn registry(&self) -> &str {
        registry_of(&self.repository)
    }

    /// `repository:tag`: a tag is required, a digest refused.
    pub fn tagged(self) -> Result<ImageRef, ReferenceError> {
        let text = self.to_string();
        match (self.tag, self.digest) {
            (_, Some(_)) => Err(ReferenceError::Pinned(text)),
            (None, None) => Err(ReferenceError::NoTag(text)),
            (Some(tag), None) => Ok(ImageRef {
                repository: self.repository,
                tag,
            }),
        }
    }

    /// `repository:tag`, `latest` when no tag is written (as docker reads a name); a digest
    /// refused.
    pub fn tagged_or_latest(mut self) -> Result<ImageRef, ReferenceError> {
        if self.digest.is_none() {
            self.tag.get_or_insert_with(|| "latest".to_string());
        }
        self.tagged()
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

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
    pub fn new(repository: &str, tag: &str) -> Result<ImageRef, ReferenceError> {
        check_repository(repository)?;
        check_tag(tag)?;
        Ok(ImageRef {
            repository: repository.to_string(),
            tag: tag.to_string(),
        })
    }

    /// `repository:tag` written as one word; the tag is required, a digest refused.
    pub fn parse(text: &str) -> Result<ImageRef, ReferenceError> {
        Reference::parse(text)?.tagged()
    }

    /// `repository[:tag]` as docker reads it on a command line: `latest` when no tag is
    /// written; a digest refused.
    pub fn parse_or_latest(text: &str) -> Result<ImageRef, ReferenceError> {
        Reference::parse(text)?.tagged_or_latest()
    }

    /// The registry host this reference lives on (`docker.io` when none is named).
    pub fn registry(&self) -> &str {
        registry_of(&self.repository)
    }

    /// The repository path inside its registry (`library/` added on Docker Hub for one part).
    pub fn path(&self) -> String {
        path_of(&self.repository)
    }

    /// Whether this names a Docker Hub official image (`go_sdk:latest`, `library/x`,
    /// `docker.io/x`): nobody but Docker pushes there.
    pub fn is_docker_hub_official(&self) -> bool {
        is_docker_hub_official(&self.repository)
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

/// The registry host of a repository: its first component when that is a host, else Docker
/// Hub (`index.docker.io`, Docker Hub's old name, is read as `docker.io`).
pub fn registry_of(repository: &str) -> &str {
    match split_domain(repository).0 {
        None | Some("index.docker.io") => DOCKER_HUB,
        Some(domain) => domain,
    }
}

/// The path of a repository inside its registry: on Docker Hub a one-part name is under
/// `library/`.
pub fn path_of(repository: &str) -> String {
    let path = split_domain(repository).1;
    if registry_of(repository) == DOCKER_HUB && !path.contains('/') {
        format!("library/{path}")
    } else {
        path.to_string()
    }
}

/// Whether a repository is a Docker Hub official image: no registry (or Docker Hub's) and no
/// namespace (or `library/`).
pub fn is_docker_hub_official(repository: &str) -> bool {
    registry_of(repository) == DOCKER_HUB
        && path_of(repository)
            .strip_prefix("library/")
            .is_some_and(|name| !name.contains('/'))
}

/// The form two spellings of one image reference share: Docker Hub's implicit registry and
/// `library/` dropped, `:latest` added where no tag or digest is given.
pub fn ref_key(reference: &str) -> String {
    let short = [
        "docker.io/library/",
        "index.docker.io/library/",
        "docker.io/",
        "index.docker.io/",
    ]
    .iter()
    .find_map(|p| reference.strip_prefix(p))
    .unwrap_or(reference);
    let last = short.rsplit('/').next().unwrap_or(short);
    if last.contains(':') || last.contains('@') {
        short.to_string()
    } else {
        format!("{short}:latest")
    }
}

/// Whether two repositories are the same one however written (`busybox`,
/// `docker.io/library/busybox` and `index.docker.io/busybox` are).
pub fn same_repository(a: &str, b: &str) -> bool {
    registry_of(a) == registry_of(b) && path_of(a) == path_of(b)
}

/// The digest of a `RepoDigests` entry (`repository@sha256:...`) when its repository is
/// `repository`; `None` for another repository or an entry that is not one.
pub fn repo_digest<'a>(entry: &'a str, repository: &str) -> Option<&'a str> {
    let (repo, digest) = entry.split_once('@')?;
    (same_repository(repo, repository) && check_digest(digest).is_ok()).then_some(digest)
}

/// A content digest, `algorithm:hex`, of an algorithm registries use (sha256, sha384,
/// sha512) with its exact length of lowercase hex.
pub fn check_digest(digest: &str) -> Result<(), ReferenceError> {
    let shown = crate::error::quoted(digest);
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err(ReferenceError::Invalid(format!(
            "digest {shown} is not `algorithm:hex` (e.g. `sha256:` and 64 hex digits)"
        )));
    };
    let length = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => {
            return Err(ReferenceError::Invalid(format!(
                "digest {shown}: the algorithm is not sha256, sha384 or sha512"
            )));
        }
    };
    if hex.len() != length
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(ReferenceError::Invalid(format!(
            "digest {shown} is not valid: {algorithm} takes {length} lowercase hex digits"
        )));
    }
    Ok(())
}

/// `[\w][\w.-]{0,127}`
pub fn check_tag(tag: &str) -> Result<(), ReferenceError> {
    no_control(tag, "tag")?;
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = tag.chars();
    let ok = match chars.next() {
        None => return Err(ReferenceError::Invalid("the tag is empty".to_string())),
        Some(first) => word(first) && chars.all(|c| word(c) || c == '.' || c == '-'),
    };
    if !ok {
        return Err(ReferenceError::Invalid(format!(
            "tag `{tag}` is not valid: a tag starts with a letter, digit or `_` and holds only letters, digits, `_`, `.` and `-`"
        )));
    }
    if tag.len() > 128 {
        return Err(ReferenceError::Invalid(format!(
            "tag `{tag}` is longer than 128 characters"
        )));
    }
    Ok(())
}

/// A repository root: the repository part of a reference before the image name, which may be
/// a registry host alone (`localhost:5000`, `gcr.io`).
pub fn check_repository_root(root: &str) -> Result<(), ReferenceError> {
    no_control(root, "repository root")?;
    if root.is_empty() {
        return Err(ReferenceError::Invalid(
            "the repository root is empty; leave it out for refs without one".to_string(),
        ));
    }
    // Checked on the root itself: with the image name joined, a trailing `/` would read as `//`.
    check_slashes(root)?;
    check_repository(&format!("{root}/x"))
        .map_err(|e| ReferenceError::Invalid(e.to_string().replace(&format!("{root}/x"), root)))
}

/// A value with a control character is named escaped, never printed raw: a newline or an
/// escape sequence in it could forge or hide lines of output.
fn no_control(value: &str, what: &str) -> Result<(), ReferenceError> {
    match value.chars().find(|c| c.is_control()) {
        Some(c) => Err(ReferenceError::Invalid(format!(
            "{what} {} contains the control character {}; remove it",
            crate::error::quoted(value),
            crate::error::quoted(&c.to_string())
        ))),
        None => Ok(()),
    }
}

/// The grammar has no empty path components: no leading or trailing `/`, no `//`.
fn check_slashes(repository: &str) -> Result<(), ReferenceError> {
    let fix = if repository.starts_with('/') {
        "drop the leading `/`"
    } else if repository.ends_with('/') {
        "drop the trailing `/`"
    } else if repository.contains("//") {
        "write a single `/` between path components"
    } else {
        return Ok(());
    };
    Err(ReferenceError::Invalid(format!(
        "empty path component in `{repository}`: {fix}"
    )))
}

/// `[domain[:port]/]component(/component)*`, at most 255 characters.
pub fn check_repository(repository: &str) -> Result<(), ReferenceError> {
    no_control(repository, "repository")?;
    if repository.is_empty() {
        return Err(ReferenceError::Invalid(
            "the repository name is empty".to_string(),
        ));
    }
    if repository.len() > 255 {
        return Err(ReferenceError::Invalid(format!(
            "repository `{repository}` is longer than 255 characters"
        )));
    }
    check_slashes(repository)?;
    let (domain, path) = split_domain(repository);
    if let Some(domain) = domain {
        check_domain(domain).map_err(|e| {
            ReferenceError::Invalid(format!(
                "registry `{domain}` in `{repository}` is not valid: {e}"
            ))
        })?;
    }
    for component in path.split('/') {
        check_path_component(component).map_err(|e| {
            ReferenceError::Invalid(format!(
                "`{component}` in repository `{repository}` is not valid: {e}"
            ))
        })?;
    }
    Ok(())
}

fn check_path_component(component: &str) -> Result<(), ReferenceError> {
    if let Some(c) = component.chars().find(|c| c.is_ascii_uppercase()) {
        return Err(ReferenceError::Invalid(format!(
            "`{c}` is uppercase; repository names are lowercase"
        )));
    }
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let bytes = component.as_bytes();
    if !bytes.first().is_some_and(|&b| alnum(b)) || !bytes.last().is_some_and(|&b| alnum(b)) {
        return Err(ReferenceError::Invalid(
            "a path component starts and ends with a lowercase letter or digit".into(),
        ));
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
            return Err(ReferenceError::Invalid(format!(
                "`{sep}` is not allowed here; separators are `.`, `_`, `__` or dashes, between lowercase letters and digits"
            )));
        }
    }
    Ok(())
}

fn check_domain(domain: &str) -> Result<(), ReferenceError> {
    let (host, port) = match domain.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || domain.starts_with('[') => (host, Some(port)),
        _ => (domain, None),
    };
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(ReferenceError::Invalid(format!(
            "port `{port}` is not a number"
        )));
    }
    if host.starts_with('[') && host.ends_with(']') {
        return host[1..host.len() - 1]
            .parse::<std::net::Ipv6Addr>()
            .map(|_| ())
            .map_err(|_| ReferenceError::Invalid(format!("`{host}` is not an IPv6 address")));
    }
    for part in host.split('.') {
        let b = part.as_bytes();
        let ok = !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-');
        if !ok {
            return Err(ReferenceError::Invalid(format!(
                "`{part}` is not a host name part"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn spellings_of_one_reference() {
        assert_eq!(ref_key("docker.io/library/python:3.13"), "python:3.13");
        assert_eq!(ref_key("python"), "python:latest");
        assert_eq!(ref_key("localhost:5000/a/b"), "localhost:5000/a/b:latest");
        assert_eq!(ref_key("docker.io/apache/beam:1"), "apache/beam:1");
        assert_eq!(ref_key("a/b@sha256:00"), "a/b@sha256:00");
    }

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
        let e = check_repository("Apache/beam").unwrap_err().to_string();
        assert!(e.contains("`Apache`") && e.contains("uppercase"), "{e}");
        let e = check_repository("apache/Beam").unwrap_err().to_string();
        assert!(e.contains("`Beam`") && e.contains("uppercase"), "{e}");
        assert_eq!(
            check_repository("apache//beam").unwrap_err().to_string(),
            "empty path component in `apache//beam`: write a single `/` between path components"
        );
        assert!(
            check_repository("/beam")
                .unwrap_err()
                .to_string()
                .contains("drop the leading `/`")
        );
        assert!(check_repository("apache/beam-").is_err());
        assert!(
            check_repository("apache/be___am")
                .unwrap_err()
                .to_string()
                .contains("`___`")
        );
        assert!(check_repository("apache/be.-am").is_err());
        assert!(
            check_repository("localhost:50a/x")
                .unwrap_err()
                .to_string()
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
        let e = check_repository_root("Apache").unwrap_err().to_string();
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
            let e = check_repository_root(root).unwrap_err().to_string();
            assert_eq!(e, format!("empty path component in `{root}`: {fix}"));
        }
        assert!(
            check_repository_root("")
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
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

    #[test]
    fn one_parser_for_every_written_reference() {
        let r = Reference::parse("localhost:5000/beam/sdk:2.61.0").unwrap();
        assert_eq!(r.repository, "localhost:5000/beam/sdk");
        assert_eq!(r.tag.as_deref(), Some("2.61.0"));
        assert_eq!(r.registry(), "localhost:5000");
        // A port is never a tag.
        let r = Reference::parse("localhost:5000/beam/sdk").unwrap();
        assert_eq!(
            (r.repository.as_str(), r.tag),
            ("localhost:5000/beam/sdk", None)
        );
        let pinned = format!("x/y:1@sha256:{}", "a".repeat(64));
        let r = Reference::parse(&pinned).unwrap();
        assert_eq!(r.repository, "x/y");
        assert_eq!(r.to_string(), pinned);
        assert_eq!(
            Reference::parse("debian:bookworm").unwrap().registry(),
            "docker.io"
        );
        assert_eq!(
            Reference::parse("127.0.0.1:9/x").unwrap().registry(),
            "127.0.0.1:9"
        );
        for bad in ["Upper:1", "x:", "x:a:b", "x@sha256:zz", "a b:1", "x\n:1"] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
        // What each use asks of a parsed reference.
        assert_eq!(
            ImageRef::parse("localhost:5000/sdk").unwrap_err(),
            ReferenceError::NoTag("localhost:5000/sdk".into())
        );
        assert!(matches!(
            ImageRef::parse_or_latest(&pinned),
            Err(ReferenceError::Pinned(_))
        ));
        let r = ImageRef::parse_or_latest("localhost:5000/sdk").unwrap();
        assert_eq!(r.to_string(), "localhost:5000/sdk:latest");
        let e = Reference::parse("x:").unwrap_err().to_string();
        assert!(e.contains("`x:`") && e.contains("empty"), "{e}");
    }

    #[test]
    fn docker_hub_official_names_are_recognised_however_written() {
        for official in [
            "go_sdk",
            "library/go_sdk",
            "docker.io/go_sdk",
            "index.docker.io/library/x",
        ] {
            assert!(is_docker_hub_official(official), "{official}");
        }
        for pushable in [
            "apache/go_sdk",
            "localhost:5000/go_sdk",
            "gcr.io/p/x",
            "docker.io/apache/x",
        ] {
            assert!(!is_docker_hub_official(pushable), "{pushable}");
        }
        assert!(
            ImageRef::parse("go_sdk:latest")
                .unwrap()
                .is_docker_hub_official()
        );
    }

    #[test]
    fn repositories_compare_in_their_normal_form() {
        assert!(same_repository("busybox", "docker.io/library/busybox"));
        assert!(same_repository(
            "index.docker.io/busybox",
            "library/busybox"
        ));
        assert!(same_repository("apache/beam", "docker.io/apache/beam"));
        assert!(!same_repository("localhost:5000/x", "localhost:5000/y"));
        assert!(!same_repository("localhost:5000/x", "x"));
        let d = format!("sha256:{}", "1".repeat(64));
        let entry = format!("localhost:5000/x@{d}");
        assert_eq!(repo_digest(&entry, "localhost:5000/x"), Some(d.as_str()));
        assert_eq!(repo_digest(&entry, "localhost:5000/y"), None);
        assert_eq!(
            repo_digest(&format!("busybox@{d}"), "docker.io/library/busybox"),
            Some(d.as_str())
        );
        assert_eq!(repo_digest("nonsense", "x"), None);
        assert_eq!(repo_digest("x@sha256:1", "x"), None);
    }

    #[test]
    fn digests_have_their_algorithms_length() {
        check_digest(&format!("sha256:{}", "0a".repeat(32))).unwrap();
        check_digest(&format!("sha512:{}", "f".repeat(128))).unwrap();
        for bad in ["sha256:zz", "sha256:", "sha256", "md5:00", "sha256:ABCDEF"] {
            let e = check_digest(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("{bad:?}")), "names {bad}: {e}");
        }
        assert!(check_digest(&format!("sha256:{}", "A".repeat(64))).is_err());
    }
}
