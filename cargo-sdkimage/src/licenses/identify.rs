//! License ids from license texts, and texts from license ids, both from the SPDX list the
//! `spdx` crate carries (its `detection` module is askalono, as cargo-about uses it).
//!
//! Used only where a package declares nothing machine-readable (a Go module; a jar whose POM
//! and parents name no license) or declares an id but ships no text (a jar). Nothing is
//! guessed: a text is identified only at [`CONFIDENCE`] or more, as a whole license (not a
//! header), and several texts only when they agree on one id.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use sha2::{Digest, Sha256};

use spdx::detection::{LicenseType, Store, TextData};

use super::LicenseFile;

/// The lowest matcher score accepted.
pub(crate) const CONFIDENCE: f32 = 0.9;
/// The `source` of a standard text in the index: `spdx-standard-text:Apache-2.0`.
pub(crate) const STANDARD_TEXT: &str = "spdx-standard-text:";

/// The matcher's store, loaded once (a few hundred milliseconds) when first needed.
fn store() -> Option<&'static Store> {
    static STORE: OnceLock<Option<Store>> = OnceLock::new();
    STORE.get_or_init(|| Store::load_inline().ok()).as_ref()
}

/// The SPDX id of one license text, when the matcher is sure enough. Each distinct text is
/// matched once per process: an image's jars and Go modules repeat the same few texts, and a
/// match costs far more than reading a jar.
pub(crate) fn identify(text: &[u8]) -> Option<String> {
    static SEEN: Mutex<BTreeMap<[u8; 32], Option<String>>> = Mutex::new(BTreeMap::new());
    let key: [u8; 32] = Sha256::digest(text).into();
    if let Some(found) = SEEN.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return found.clone();
    }
    let found = matched(text);
    SEEN.lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, found.clone());
    found
}

fn matched(text: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(text).ok()?;
    if text.trim().is_empty() {
        return None;
    }
    let found = store()?.analyze(&TextData::new(text));
    (found.score >= CONFIDENCE && matches!(found.license_type, LicenseType::Original))
        .then(|| found.name.to_string())
}

/// The one license the `LICENSE*`/`COPYING*` texts among `files` agree on (`NOTICE` files are
/// not licenses and are not asked), with the path of the first text that gave it.
pub(crate) fn identify_files(files: &[LicenseFile]) -> Option<(String, String)> {
    let mut found: Option<(String, String)> = None;
    for file in files {
        let name = file.path.rsplit('/').next().unwrap_or(&file.path);
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("notice") {
            continue;
        }
        let id = identify(&file.contents)?;
        match &found {
            Some((kept, _)) if *kept != id => return None,
            Some(_) => {}
            None => found = Some((id, file.path.clone())),
        }
    }
    found
}

/// The SPDX list's standard text of every license of `expression`: `(id, text)`; `None` when
/// the expression is not SPDX or names a license the list has no text for (`LicenseRef-`).
pub(crate) fn standard_texts(expression: &str) -> Option<Vec<(String, &'static str)>> {
    let parsed = spdx::Expression::parse(expression).ok()?;
    let mut texts: Vec<(String, &'static str)> = Vec::new();
    for req in parsed.requirements() {
        let spdx::LicenseItem::Spdx { id, .. } = req.req.license else {
            return None;
        };
        if !texts.iter().any(|(name, _)| name == id.name) {
            texts.push((id.name.to_string(), id.text()));
        }
        if let Some(spdx::AdditionItem::Spdx(exception)) = &req.req.addition
            && !texts.iter().any(|(name, _)| name == exception.name)
        {
            texts.push((exception.name.to_string(), exception.text()));
        }
    }
    (!texts.is_empty()).then_some(texts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifies_whole_texts_only_and_gives_standard_texts() {
        let apache = spdx::license_id("Apache-2.0").expect("id").text();
        assert_eq!(identify(apache.as_bytes()).as_deref(), Some("Apache-2.0"));
        let mit = spdx::license_id("MIT").expect("id").text();
        assert_eq!(identify(mit.as_bytes()).as_deref(), Some("MIT"));
        assert_eq!(identify(b"All rights reserved. Ask us."), None);
        let file = |path: &str, text: &str| LicenseFile {
            path: path.into(),
            source: "test".into(),
            contents: text.as_bytes().to_vec(),
        };
        let agreed = identify_files(&[
            file("NOTICE.txt", "Apache Commons"),
            file("LICENSE.txt", apache),
        ]);
        assert_eq!(agreed, Some(("Apache-2.0".into(), "LICENSE.txt".into())));
        assert_eq!(
            identify_files(&[file("LICENSE-MIT", mit), file("LICENSE-APACHE", apache)]),
            None
        );
        let texts = standard_texts("MIT OR Apache-2.0 WITH LLVM-exception").expect("spdx");
        let ids: Vec<&str> = texts.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["MIT", "Apache-2.0", "LLVM-exception"]);
        assert_eq!(standard_texts("LicenseRef-x"), None);
        assert_eq!(standard_texts("not spdx at all"), None);
    }
}
