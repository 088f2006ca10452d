//! The SBOM of an image: one SPDX 2.3 JSON document made from the same gathering as the
//! license layout (the packages that passed overrides and policy), written into the image as
//! `<dest>/sbom.spdx.json` and, on request, next to it on disk.
//!
//! The bytes depend only on the image name, the creation time and the packages: packages are
//! sorted, the document namespace is derived from a hash of the rest of the document, and the
//! creation time is the caller's (`provenance::created`: `SOURCE_DATE_EPOCH`, else the time of
//! the workspace's git commit).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Ecosystem, LicenseEntry, Resolved, canonical_spdx};
use crate::error::{Error, Result};

/// The document's file name inside the licenses folder of an image.
pub const FILE: &str = "sbom.spdx.json";
/// `NOASSERTION`: SPDX's word for "not known".
pub const NOASSERTION: &str = "NOASSERTION";
/// The image package's id (the document DESCRIBES it; it CONTAINS every other package).
pub const IMAGE_ID: &str = "SPDXRef-Image";
const DOCUMENT_ID: &str = "SPDXRef-DOCUMENT";
/// Where document namespaces live: a reserved domain (RFC 2606), never resolved; SPDX asks for
/// a unique URI, not a reachable one.
const NAMESPACE_BASE: &str = "https://sdkimage.invalid/spdx/";

/// An SPDX 2.3 document (JSON), with the fields this tool writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    pub spdx_version: String,
    pub data_license: String,
    #[serde(rename = "SPDXID")]
    pub spdx_id: String,
    pub name: String,
    pub document_namespace: String,
    pub creation_info: CreationInfo,
    pub packages: Vec<Package>,
    pub relationships: Vec<Relationship>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub has_extracted_licensing_infos: Vec<ExtractedLicense>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreationInfo {
    /// RFC 3339, UTC, seconds: `2023-11-14T22:13:20Z`.
    pub created: String,
    pub creators: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Package {
    #[serde(rename = "SPDXID")]
    pub spdx_id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_info: Option<String>,
    pub download_location: String,
    /// Always false: no file of a package is listed (else a verification code is required).
    pub files_analyzed: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checksums: Vec<Checksum>,
    pub license_concluded: String,
    pub license_declared: String,
    pub copyright_text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_refs: Vec<ExternalRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_package_purpose: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checksum {
    pub algorithm: String,
    pub checksum_value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalRef {
    pub reference_category: String,
    pub reference_type: String,
    pub reference_locator: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Relationship {
    pub spdx_element_id: String,
    pub relationship_type: String,
    pub related_spdx_element: String,
}

/// A `LicenseRef-` of the document: a declared license that is not on the SPDX list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtractedLicense {
    pub license_id: String,
    /// The license as the package declares it (the texts themselves are in the image's
    /// licenses folder, next to this document).
    pub extracted_text: String,
    pub name: String,
}

/// The SBOM of image `image` as pretty JSON with a final newline.
pub fn document(image: &str, created: &str, resolved: &[Resolved]) -> Result<Vec<u8>> {
    let mut entries: Vec<&LicenseEntry> = resolved.iter().map(Resolved::entry).collect();
    entries.sort_by(|a, b| a.key().cmp(&b.key()));
    let mut refs = LicenseRefs::default();
    let mut ids = Ids::default();
    let mut packages = vec![image_package(image)];
    let mut relationships = vec![relationship(DOCUMENT_ID, "DESCRIBES", IMAGE_ID)];
    for e in entries {
        let package = package(e, &mut ids, &mut refs);
        relationships.push(relationship(IMAGE_ID, "CONTAINS", &package.spdx_id));
        packages.push(package);
    }
    let mut doc = Document {
        spdx_version: "SPDX-2.3".into(),
        data_license: "CC0-1.0".into(),
        spdx_id: DOCUMENT_ID.into(),
        name: image.to_string(),
        document_namespace: String::new(),
        creation_info: CreationInfo {
            created: created.to_string(),
            creators: vec![format!(
                "Tool: cargo-sdkimage-{}",
                env!("CARGO_PKG_VERSION")
            )],
        },
        packages,
        relationships,
        has_extracted_licensing_infos: refs.into_infos(),
    };
    let failed = |e: serde_json::Error| Error::Failed(format!("cannot write the SBOM: {e}"));
    let unnamed = serde_json::to_vec(&doc).map_err(failed)?;
    doc.document_namespace = format!(
        "{NAMESPACE_BASE}{image}-{}",
        hex::encode(Sha256::digest(&unnamed))
    );
    let mut json = serde_json::to_vec_pretty(&doc).map_err(failed)?;
    json.push(b'\n');
    Ok(json)
}

fn image_package(image: &str) -> Package {
    Package {
        spdx_id: IMAGE_ID.into(),
        name: image.to_string(),
        version_info: None,
        download_location: NOASSERTION.into(),
        files_analyzed: false,
        checksums: Vec::new(),
        license_concluded: NOASSERTION.into(),
        license_declared: NOASSERTION.into(),
        copyright_text: NOASSERTION.into(),
        external_refs: Vec::new(),
        primary_package_purpose: Some("CONTAINER".into()),
    }
}

fn package(e: &LicenseEntry, ids: &mut Ids, refs: &mut LicenseRefs) -> Package {
    let checksums = e
        .origin
        .sha256
        .iter()
        .map(|sha| Checksum {
            algorithm: "SHA256".into(),
            checksum_value: sha.to_ascii_lowercase(),
        })
        .collect();
    let external_refs = purl(e)
        .into_iter()
        .map(|locator| ExternalRef {
            reference_category: "PACKAGE-MANAGER".into(),
            reference_type: "purl".into(),
            reference_locator: locator,
        })
        .collect();
    Package {
        spdx_id: ids.next(e),
        name: e.name.clone(),
        version_info: Some(e.version.clone()),
        download_location: e
            .origin
            .download
            .clone()
            .unwrap_or_else(|| NOASSERTION.into()),
        files_analyzed: false,
        checksums,
        license_concluded: NOASSERTION.into(),
        license_declared: refs.expression(e.license.as_deref()),
        copyright_text: NOASSERTION.into(),
        external_refs,
        primary_package_purpose: Some("LIBRARY".into()),
    }
}

fn relationship(from: &str, kind: &str, to: &str) -> Relationship {
    Relationship {
        spdx_element_id: from.into(),
        relationship_type: kind.into(),
        related_spdx_element: to.into(),
    }
}

/// The package URL of an entry: `pkg:cargo/itoa@1.0.18`, `pkg:pypi/six@1.16.0`,
/// `pkg:deb/debian/hostname@3.23?arch=amd64`, `pkg:golang/github.com/pkg/errors@v0.9.1`,
/// `pkg:maven/org.slf4j/slf4j-api@1.7.32`. `None` for a name purl cannot hold (a jar without
/// Maven coordinates).
pub fn purl(e: &LicenseEntry) -> Option<String> {
    let (namespace, name) = match e.ecosystem {
        Ecosystem::Debian => (Some("debian"), e.name.as_str()),
        Ecosystem::Go => match e.name.rsplit_once('/') {
            Some((namespace, name)) => (Some(namespace), name),
            None => (None, e.name.as_str()),
        },
        Ecosystem::Maven => {
            let (group, artifact) = e.name.split_once(':')?;
            (Some(group), artifact)
        }
        Ecosystem::Cargo | Ecosystem::Python => (None, e.name.as_str()),
    };
    let mut purl = packageurl::PackageUrl::new(e.ecosystem.purl_type(), name).ok()?;
    if let Some(namespace) = namespace {
        purl.with_namespace(namespace).ok()?;
    }
    if !e.version.is_empty() {
        purl.with_version(e.version.as_str()).ok()?;
    }
    if let (Ecosystem::Debian, Some(arch)) = (e.ecosystem, &e.origin.arch) {
        purl.add_qualifier("arch", arch.as_str()).ok()?;
    }
    Some(purl.to_string())
}

/// Unique package ids from ecosystem, name and version: `SPDXRef-Package-cargo-itoa-1.0.18`.
#[derive(Default)]
struct Ids {
    taken: BTreeMap<String, usize>,
}

impl Ids {
    fn next(&mut self, e: &LicenseEntry) -> String {
        let base = format!(
            "SPDXRef-Package-{}-{}-{}",
            e.ecosystem,
            id_chars(&e.name),
            id_chars(&e.version)
        );
        let n = self.taken.entry(base.clone()).or_insert(0);
        *n += 1;
        if *n == 1 { base } else { format!("{base}-{n}") }
    }
}

/// Only what SPDX ids may hold (letters, digits, `.`, `-`); anything else becomes `-`.
fn id_chars(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The `LicenseRef-`s a document uses, with the declared names they stand for.
#[derive(Default)]
struct LicenseRefs {
    names: BTreeMap<String, String>,
}

impl LicenseRefs {
    /// A declared license as a valid SPDX 2.3 expression: SPDX identifiers and operators as
    /// they are, every other name as a `LicenseRef-` of its own (recorded for the document's
    /// extracted licensing infos), `NOASSERTION` when nothing is declared. What still does
    /// not parse becomes one `LicenseRef-` for the whole declaration.
    fn expression(&mut self, declared: Option<&str>) -> String {
        let Some(declared) = declared.map(str::trim).filter(|d| !d.is_empty()) else {
            return NOASSERTION.into();
        };
        if declared == NOASSERTION || declared == "NONE" {
            return declared.into();
        }
        let start = canonical_spdx(declared).unwrap_or_else(|| declared.to_string());
        let mut found = Vec::new();
        if let Some(expression) = convert(&start, &mut found) {
            for (id, name) in found {
                self.names.entry(id).or_insert(name);
            }
            return expression;
        }
        let id = license_ref(declared);
        self.names
            .entry(id.clone())
            .or_insert_with(|| declared.to_string());
        id
    }

    fn into_infos(self) -> Vec<ExtractedLicense> {
        self.names
            .into_iter()
            .map(|(id, name)| ExtractedLicense {
                license_id: id,
                extracted_text: name.clone(),
                name,
            })
            .collect()
    }
}

/// `text` token by token (see [`LicenseRefs::expression`]); `None` when the result is not a
/// valid SPDX 2.3 expression. `found` gets each `LicenseRef-` used, with its declared name.
fn convert(text: &str, found: &mut Vec<(String, String)>) -> Option<String> {
    let mut out: Vec<String> = Vec::new();
    let mut after_with = false;
    for token in tokens(text) {
        let upper = token.to_ascii_uppercase();
        let converted = if token == "(" || token == ")" {
            token.to_string()
        } else if matches!(upper.as_str(), "AND" | "OR" | "WITH") {
            upper
        } else if after_with {
            spdx::exception_id(token)?.name.to_string()
        } else if let Some(id) = spdx::license_id(token) {
            let plus = if token.ends_with('+') { "+" } else { "" };
            format!("{}{plus}", id.name)
        } else if let Some(rest) = token.strip_prefix("LicenseRef-")
            && !rest.is_empty()
            && id_chars(rest) == rest
        {
            found.push((token.to_string(), token.to_string()));
            token.to_string()
        } else {
            let id = license_ref(token);
            found.push((id.clone(), token.to_string()));
            id
        };
        after_with = converted == "WITH";
        out.push(converted);
    }
    let expression = out.join(" ").replace("( ", "(").replace(" )", ")");
    let parsed = spdx::Expression::parse(&expression).ok()?;
    // SPDX 2.3 has no `AdditionRef-` and no references into other documents.
    let plain = parsed.requirements().all(|r| {
        let license = match &r.req.license {
            spdx::LicenseItem::Spdx { .. } => true,
            spdx::LicenseItem::Other(other) => other.doc_ref.is_none(),
        };
        license && matches!(r.req.addition, None | Some(spdx::AdditionItem::Spdx(_)))
    });
    plain.then_some(expression)
}

/// Parentheses, and the words between whitespace and parentheses.
fn tokens(text: &str) -> Vec<&str> {
    let mut tokens = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() || c == '(' || c == ')' {
            if let Some(s) = start.take() {
                tokens.push(&text[s..i]);
            }
            if !c.is_whitespace() {
                tokens.push(&text[i..i + 1]);
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        tokens.push(&text[s..]);
    }
    tokens
}

/// `LicenseRef-<name>` for a declared name that is not an SPDX identifier; a name that had to
/// be changed to fit (spaces, `_`, ...) also gets a short hash of itself, so two names never
/// share a reference.
fn license_ref(name: &str) -> String {
    let cleaned = id_chars(name);
    if cleaned == name {
        format!("LicenseRef-{cleaned}")
    } else {
        let hash = hex::encode(&Sha256::digest(name.as_bytes())[..4]);
        format!("LicenseRef-{}-{hash}", cleaned.trim_matches('-'))
    }
}

#[cfg(test)]
mod tests;
