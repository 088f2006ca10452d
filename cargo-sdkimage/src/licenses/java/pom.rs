//! What a jar's Maven metadata says: `pom.properties` (coordinates) and `pom.xml` (coordinates,
//! parent, `<licenses>`), and POM license names and URLs as SPDX ids through an exact table.

use std::collections::HashMap;

/// `group:artifact` at a version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Coordinates {
    pub group: String,
    pub artifact: String,
    pub version: String,
}

impl Coordinates {
    pub fn name(&self) -> String {
        format!("{}:{}", self.group, self.artifact)
    }
}

/// One `<license>` of a POM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PomLicense {
    pub name: Option<String>,
    pub url: Option<String>,
}

/// The parts of a POM the gatherer reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Pom {
    pub group: Option<String>,
    pub artifact: Option<String>,
    pub version: Option<String>,
    pub parent: Option<Coordinates>,
    pub licenses: Vec<PomLicense>,
}

/// The coordinates of a `pom.properties` (`groupId`, `artifactId`, `version`, all required).
pub(crate) fn properties(text: &[u8]) -> Option<Coordinates> {
    let map: HashMap<String, String> = java_properties::read(text).ok()?;
    let get = |key: &str| {
        map.get(key)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    Some(Coordinates {
        group: get("groupId")?,
        artifact: get("artifactId")?,
        version: get("version")?,
    })
}

/// A POM that is not well-formed XML: the XML parser's reason.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub(crate) struct PomError(#[from] roxmltree::Error);

/// Parse a POM; `Err` with the XML parser's reason when it is not well-formed.
pub(crate) fn parse(text: &str) -> Result<Pom, PomError> {
    let doc = roxmltree::Document::parse(text)?;
    let project = doc.root_element();
    fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
        node.children()
            .find(|c| c.is_element() && c.tag_name().name() == name)
    }
    let text_of = |node: roxmltree::Node<'_, '_>, name: &str| {
        child(node, name)
            .and_then(|c| c.text())
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
    };
    let parent = child(project, "parent").and_then(|p| {
        Some(Coordinates {
            group: text_of(p, "groupId")?,
            artifact: text_of(p, "artifactId")?,
            version: text_of(p, "version")?,
        })
    });
    let licenses = child(project, "licenses")
        .map(|ls| {
            ls.children()
                .filter(|l| l.is_element() && l.tag_name().name() == "license")
                .map(|l| PomLicense {
                    name: text_of(l, "name"),
                    url: text_of(l, "url"),
                })
                .filter(|l| l.name.is_some() || l.url.is_some())
                .collect()
        })
        .unwrap_or_default();
    Ok(Pom {
        group: text_of(project, "groupId"),
        artifact: text_of(project, "artifactId"),
        version: text_of(project, "version"),
        parent,
        licenses,
    })
}

/// A POM's licenses as one expression: SPDX ids joined with `OR` (Maven reads several licenses
/// as a choice) when every one maps exactly, else the declared names as written.
pub(crate) fn expression(licenses: &[PomLicense]) -> Option<String> {
    if licenses.is_empty() {
        return None;
    }
    let ids: Option<Vec<&str>> = licenses.iter().map(spdx_id).collect();
    if let Some(mut ids) = ids {
        ids.dedup();
        return Some(ids.join(" OR "));
    }
    let names: Vec<&str> = licenses
        .iter()
        .filter_map(|l| l.name.as_deref().or(l.url.as_deref()))
        .collect();
    Some(names.join(", "))
}

/// One POM license as its SPDX id: its name, else its URL, in the exact table; a name that
/// already is a current SPDX id, exactly as written, also counts.
pub(crate) fn spdx_id(license: &PomLicense) -> Option<&'static str> {
    let by_name = license.name.as_deref().and_then(|name| {
        name_id(name).or_else(|| {
            spdx::license_id(name)
                .filter(|id| id.name == name && !id.is_deprecated())
                .map(|id| id.name)
        })
    });
    by_name.or_else(|| license.url.as_deref().and_then(url_id))
}

fn name_id(name: &str) -> Option<&'static str> {
    Some(match name.trim() {
        "Apache License, Version 2.0"
        | "The Apache License, Version 2.0"
        | "The Apache Software License, Version 2.0"
        | "Apache Software License - Version 2.0"
        | "Apache License Version 2.0"
        | "Apache License 2.0"
        | "Apache 2.0"
        | "Apache 2"
        | "Apache-2.0" => "Apache-2.0",
        "MIT License" | "The MIT License" | "The MIT License (MIT)" | "MIT" => "MIT",
        "BSD 3-Clause License"
        | "The BSD 3-Clause License"
        | "3-Clause BSD License"
        | "BSD-3-Clause" => "BSD-3-Clause",
        "BSD 2-Clause License"
        | "The BSD 2-Clause License"
        | "2-Clause BSD License"
        | "BSD-2-Clause" => "BSD-2-Clause",
        "Eclipse Public License - v 1.0" | "Eclipse Public License 1.0" => "EPL-1.0",
        "Eclipse Public License - v 2.0" | "Eclipse Public License v2.0" | "EPL 2.0" => "EPL-2.0",
        "Mozilla Public License, Version 2.0"
        | "Mozilla Public License Version 2.0"
        | "MPL 2.0" => "MPL-2.0",
        "ISC License" => "ISC",
        "The Unlicense" => "Unlicense",
        "CC0 1.0 Universal" | "CC0" => "CC0-1.0",
        "Universal Permissive License, Version 1.0" => "UPL-1.0",
        _ => return None,
    })
}

fn url_id(url: &str) -> Option<&'static str> {
    let trimmed = url.trim();
    let bare = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))?
        .trim_end_matches('/');
    let bare = bare.strip_prefix("www.").unwrap_or(bare);
    Some(match bare {
        "apache.org/licenses/LICENSE-2.0"
        | "apache.org/licenses/LICENSE-2.0.txt"
        | "apache.org/licenses/LICENSE-2.0.html" => "Apache-2.0",
        "opensource.org/licenses/MIT"
        | "opensource.org/licenses/mit-license.php"
        | "opensource.org/license/mit" => "MIT",
        "opensource.org/licenses/BSD-3-Clause" | "opensource.org/license/bsd-3-clause" => {
            "BSD-3-Clause"
        }
        "opensource.org/licenses/BSD-2-Clause" | "opensource.org/license/bsd-2-clause" => {
            "BSD-2-Clause"
        }
        "eclipse.org/legal/epl-v10.html" => "EPL-1.0",
        "eclipse.org/legal/epl-2.0" | "eclipse.org/legal/epl-v20.html" => "EPL-2.0",
        "mozilla.org/MPL/2.0" => "MPL-2.0",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_coordinates_parent_and_licenses() {
        let pom = parse(
            r#"<?xml version="1.0"?>
<!-- Licensed to the Apache Software Foundation; this comment is no declaration. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <parent><groupId>org.example</groupId><artifactId>parent</artifactId><version>3</version></parent>
  <artifactId>child</artifactId>
  <licenses>
    <license><name>The Apache Software License, Version 2.0</name><url>http://x</url></license>
    <license><url>https://opensource.org/licenses/MIT</url></license>
  </licenses>
</project>"#,
        )
        .expect("pom");
        assert_eq!(pom.group, None);
        assert_eq!(pom.artifact.as_deref(), Some("child"));
        assert_eq!(
            pom.parent.as_ref().expect("parent").name(),
            "org.example:parent"
        );
        assert_eq!(
            expression(&pom.licenses).as_deref(),
            Some("Apache-2.0 OR MIT")
        );
        assert!(parse("<project><unclosed></project>").is_err());
        assert_eq!(parse("<project/>").expect("empty").licenses, Vec::new());
    }

    #[test]
    fn maps_exact_forms_only() {
        let l = |name: Option<&str>, url: Option<&str>| PomLicense {
            name: name.map(str::to_string),
            url: url.map(str::to_string),
        };
        assert_eq!(
            spdx_id(&l(Some("Apache License, Version 2.0"), None)),
            Some("Apache-2.0")
        );
        assert_eq!(
            spdx_id(&l(
                None,
                Some("https://www.apache.org/licenses/LICENSE-2.0.txt")
            )),
            Some("Apache-2.0")
        );
        assert_eq!(spdx_id(&l(Some("EPL-2.0"), None)), Some("EPL-2.0"));
        assert_eq!(spdx_id(&l(Some("Apache"), None)), None);
        assert_eq!(
            spdx_id(&l(Some("GPL"), Some("https://example.com/gpl"))),
            None
        );
        assert_eq!(
            expression(&[
                l(Some("Bouncy Castle Licence"), None),
                l(Some("MIT License"), None)
            ])
            .as_deref(),
            Some("Bouncy Castle Licence, MIT License")
        );
        assert_eq!(expression(&[]), None);
    }

    #[test]
    fn properties_need_all_three_coordinates() {
        let c = properties(
            b"#Generated by Maven\nversion=1.7.32\ngroupId=org.slf4j\nartifactId=slf4j-api\n",
        )
        .expect("coordinates");
        assert_eq!(
            (c.name().as_str(), c.version.as_str()),
            ("org.slf4j:slf4j-api", "1.7.32")
        );
        assert!(properties(b"groupId=a\nartifactId=b\n").is_none());
    }
}
