//! Platforms, `os/arch[/variant]`: parsed once from the user's text and checked against the
//! known values (Go's `GOOS/GOARCH` pairs, which the OCI image spec follows, plus the `arm`
//! variants v5–v8, `arm64/v8` and the `amd64` variants v1–v4); which platform an image's plain
//! refs point at locally; and the tag of every other platform, `<tag>-<os>-<arch>[-<variant>]`.
//! The plan holds [`Platform`]s from here on; nothing parses a platform again.

use std::fmt;
use std::str::FromStr;

/// `go tool dist list` (the `GOOS/GOARCH` pairs of Go's `cmd/dist`), one per line.
const GO_DIST_LIST: &str = include_str!("platform/go_dist_list.txt");

/// The variants the OCI image spec and containerd know, per architecture.
const VARIANTS: &[(&str, &[&str])] = &[
    ("arm", &["v5", "v6", "v7", "v8"]),
    ("arm64", &["v8"]),
    ("amd64", &["v1", "v2", "v3", "v4"]),
];

/// Names other tools give an architecture, and ours (`uname -m`, Debian's ports).
const ARCH_ALIASES: &[(&str, &str)] = &[
    ("x86_64", "amd64"),
    ("x86-64", "amd64"),
    ("x64", "amd64"),
    ("aarch64", "arm64"),
    ("armhf", "arm/v7"),
    ("armel", "arm/v5"),
    ("i386", "386"),
    ("i686", "386"),
    ("x86", "386"),
];

/// A platform, `os/arch[/variant]`, as BuildKit and the OCI image spec name it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

/// A platform the user wrote that is not one: the text (escaped when shown) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("platform {} {why}", crate::error::quoted(text))]
pub struct PlatformError {
    pub text: String,
    pub why: String,
}

impl Platform {
    /// Parse and check `text` against the known platforms; the error lists the known values
    /// nearest to it.
    pub fn parse(text: &str) -> Result<Platform, PlatformError> {
        let error = |why: String| PlatformError {
            text: text.to_string(),
            why,
        };
        let parts: Vec<&str> = text.split('/').collect();
        let shaped = (2..=3).contains(&parts.len())
            && parts
                .iter()
                .all(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        if !shaped {
            return Err(error(
                "must look like `os/arch` or `os/arch/variant` (e.g. linux/amd64)".to_string(),
            ));
        }
        let platform = Platform {
            os: parts[0].to_string(),
            arch: parts[1].to_string(),
            variant: parts.get(2).map(|v| v.to_string()),
        };
        if !known_pair(&platform.os, &platform.arch) {
            return Err(error(format!(
                "is not a known platform{}",
                suggestion(&platform)
            )));
        }
        if let Some(v) = &platform.variant {
            let known = variants_of(&platform.arch);
            if !known.contains(&v.as_str()) {
                let pair = format!("{}/{}", platform.os, platform.arch);
                return Err(error(if known.is_empty() {
                    format!("has a variant, but {pair} has none; write {pair}")
                } else {
                    format!(
                        "is not a known variant of {pair}; known: {}",
                        known
                            .iter()
                            .map(|k| format!("{pair}/{k}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }));
            }
        }
        Ok(platform)
    }

    /// The engine's own platform as it reports it (`/version`'s `Os` and `Arch`), taken as
    /// it is: the engine is not the user's text.
    pub fn of_engine(text: &str) -> Platform {
        let mut parts = text.split('/');
        Platform {
            os: parts
                .next()
                .filter(|s| !s.is_empty())
                .unwrap_or("linux")
                .into(),
            arch: parts
                .next()
                .filter(|s| !s.is_empty())
                .unwrap_or("amd64")
                .into(),
            variant: parts.next().map(str::to_string),
        }
    }

    /// `linux-arm64`, `linux-arm-v7`: the suffix of the local-only tags of a platform the
    /// plain refs do not point at.
    pub fn slug(&self) -> String {
        self.to_string().replace('/', "-")
    }

    /// Whether `self` is `native` as far as an image is concerned: the same OS and
    /// architecture (the engine reports no variant).
    pub fn is_native(&self, native: &Platform) -> bool {
        self.os == native.os && self.arch == native.arch
    }

    /// The platform args BuildKit defines for a build of `self` on `build` (the engine's own
    /// platform): `TARGETPLATFORM`, `TARGETOS`, `TARGETARCH`, `TARGETVARIANT`, and the `BUILD*`
    /// ones.
    pub fn args(&self, build: &Platform) -> std::collections::BTreeMap<String, String> {
        let mut args = std::collections::BTreeMap::new();
        for (prefix, p) in [("TARGET", self), ("BUILD", build)] {
            args.insert(format!("{prefix}PLATFORM"), p.to_string());
            args.insert(format!("{prefix}OS"), p.os.clone());
            args.insert(format!("{prefix}ARCH"), p.arch.clone());
            args.insert(
                format!("{prefix}VARIANT"),
                p.variant.clone().unwrap_or_default(),
            );
        }
        args
    }
}

impl FromStr for Platform {
    type Err = PlatformError;

    fn from_str(s: &str) -> Result<Platform, PlatformError> {
        Platform::parse(s)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// The platform an image's plain refs point at locally: the engine's own, when the image is
/// built for it. `None` when every platform is foreign: then no platform gets the plain refs,
/// and a foreign build never replaces the engine's own image under them.
pub fn main_platform<'a>(platforms: &'a [Platform], native: &Platform) -> Option<&'a Platform> {
    platforms.iter().find(|p| p.is_native(native))
}

/// The local tag of `platform`'s image for the release tag `tag`: `tag` itself for the main
/// platform, else `<tag>-<os>-<arch>[-<variant>]` (also the staging tag of each platform).
pub fn local_tag(tag: &str, platform: &Platform, main: Option<&Platform>) -> String {
    if main == Some(platform) {
        tag.to_string()
    } else {
        format!("{tag}-{}", platform.slug())
    }
}

/// `linux/amd64, linux/arm64`: platforms as a message or a table shows them.
pub fn join(platforms: &[Platform], separator: &str) -> String {
    platforms
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(separator)
}

/// Every known platform: the Go pairs, and each with its variants.
pub fn known() -> Vec<String> {
    let mut all = Vec::new();
    for pair in GO_DIST_LIST
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        all.push(pair.to_string());
        let arch = pair.split('/').nth(1).unwrap_or_default();
        for v in variants_of(arch) {
            all.push(format!("{pair}/{v}"));
        }
    }
    all
}

fn known_pair(os: &str, arch: &str) -> bool {
    GO_DIST_LIST
        .lines()
        .any(|l| l.trim().split_once('/') == Some((os, arch)))
}

fn variants_of(arch: &str) -> &'static [&'static str] {
    VARIANTS
        .iter()
        .find(|(a, _)| *a == arch)
        .map_or(&[], |(_, v)| v)
}

/// `; did you mean linux/amd64?` and the known values near an unknown platform: by edit
/// distance (strsim), else an alias (`x86_64`), else the architectures of its OS.
fn suggestion(p: &Platform) -> String {
    let text = p.to_string();
    if let Some((_, arch)) = ARCH_ALIASES.iter().find(|(alias, _)| *alias == p.arch) {
        let fixed = format!("{}/{arch}", p.os);
        if Platform::parse(&fixed).is_ok() {
            return format!("; did you mean {fixed}?");
        }
    }
    let mut near: Vec<(usize, String)> = known()
        .into_iter()
        .filter(|k| k.matches('/').count() == text.matches('/').count())
        .map(|k| (strsim::damerau_levenshtein(&k, &text), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 5))
        .collect();
    near.sort();
    near.truncate(5);
    if let Some((_, best)) = near.first() {
        let mut out = format!("; did you mean {best}?");
        if near.len() > 1 {
            let rest: Vec<&str> = near[1..].iter().map(|(_, k)| k.as_str()).collect();
            out.push_str(&format!(" (also near: {})", rest.join(", ")));
        }
        return out;
    }
    let of_os: Vec<String> = GO_DIST_LIST
        .lines()
        .map(str::trim)
        .filter(|l| l.split('/').next() == Some(p.os.as_str()))
        .map(str::to_string)
        .collect();
    if of_os.is_empty() {
        let mut oses: Vec<&str> = GO_DIST_LIST
            .lines()
            .filter_map(|l| l.trim().split('/').next())
            .filter(|o| !o.is_empty())
            .collect();
        oses.dedup();
        format!("; `{}` is no known OS (known: {})", p.os, oses.join(", "))
    } else {
        format!("; known for {}: {}", p.os, of_os.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_platforms_parse() {
        for ok in [
            "linux/amd64",
            "linux/arm64",
            "linux/arm64/v8",
            "linux/arm/v7",
            "linux/arm/v5",
            "linux/amd64/v3",
            "linux/s390x",
            "linux/ppc64le",
            "linux/riscv64",
            "windows/amd64",
            "darwin/arm64",
            "wasip1/wasm",
        ] {
            let p = Platform::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(p.to_string(), ok);
        }
        assert_eq!(
            Platform::parse("linux/arm/v7").unwrap().slug(),
            "linux-arm-v7"
        );
    }

    #[test]
    fn a_typo_is_refused_with_the_known_values_near_it() {
        let e = Platform::parse("linux/amd46").unwrap_err().to_string();
        assert!(
            e.starts_with("platform \"linux/amd46\" is not a known platform"),
            "{e}"
        );
        assert!(e.contains("did you mean linux/amd64?"), "{e}");
        let e = Platform::parse("linux/x86_64").unwrap_err().to_string();
        assert!(e.contains("did you mean linux/amd64?"), "{e}");
        let e = Platform::parse("linux/arm/v9").unwrap_err().to_string();
        assert!(
            e.contains("linux/arm/v5, linux/arm/v6, linux/arm/v7, linux/arm/v8"),
            "{e}"
        );
        let e = Platform::parse("linux/amd64/v5").unwrap_err().to_string();
        assert!(e.contains("linux/amd64/v4"), "{e}");
        let e = Platform::parse("linux/s390x/v1").unwrap_err().to_string();
        assert!(e.contains("has none; write linux/s390x"), "{e}");
        let e = Platform::parse("linux/zzzzzzz").unwrap_err().to_string();
        assert!(e.contains("known for linux: linux/386, linux/amd64"), "{e}");
        let e = Platform::parse("haiku/amd64").unwrap_err().to_string();
        assert!(e.contains("no known OS"), "{e}");
        let e = Platform::parse("linux").unwrap_err().to_string();
        assert!(e.contains("must look like `os/arch`"), "{e}");
        let e = Platform::parse("linux/amd64\n").unwrap_err().to_string();
        assert!(e.contains("\\n") && !e.contains('\n'), "{e}");
    }

    #[test]
    fn the_plain_tag_belongs_to_the_engines_own_platform_only() {
        let native = Platform::of_engine("linux/amd64");
        let amd = Platform::parse("linux/amd64").unwrap();
        let arm = Platform::parse("linux/arm64").unwrap();
        let both = [arm.clone(), amd.clone()];
        let main = main_platform(&both, &native);
        assert_eq!(main, Some(&amd));
        assert_eq!(local_tag("1.0", &amd, main), "1.0");
        assert_eq!(local_tag("1.0", &arm, main), "1.0-linux-arm64");
        // Only foreign platforms: none of them takes the plain tag.
        let foreign = [arm.clone()];
        let main = main_platform(&foreign, &native);
        assert_eq!(main, None);
        assert_eq!(local_tag("1.0", &arm, main), "1.0-linux-arm64");
    }
}
