//! `[labels]`: labels of the manifest's images, over the workspace's and under `--label`
//! (see `crate::labels`).

use std::collections::BTreeMap;

use toml::Spanned;

use super::Checker;

impl Checker<'_> {
    /// `[labels]`: each key a label name, each value printable text.
    pub(super) fn labels(
        &mut self,
        raw: BTreeMap<Spanned<String>, Spanned<String>>,
    ) -> BTreeMap<String, String> {
        crate::labels::check_table(raw, self.path, self.source, &mut self.diags)
    }
}

#[cfg(test)]
mod tests {
    use crate::error::Error;
    use crate::manifest::Manifest;

    #[test]
    fn labels_parse_and_bad_ones_are_named_at_their_place() {
        let root = crate::manifest::tests::temp_tree("labels");
        std::fs::create_dir_all(root.join("sdk")).unwrap();
        std::fs::write(root.join("sdk/Dockerfile"), "FROM scratch\n").unwrap();
        let path = root.join("sdk/sdkimage.toml");
        let ok = "language = \"go\"\nname = \"go\"\n[labels]\n\"org.opencontainers.image.vendor\" = \"Apache\"\nteam = \"sdk\"\n";
        let m = Manifest::parse(&path, &root, ok.to_string()).unwrap();
        assert_eq!(m.labels["org.opencontainers.image.vendor"], "Apache");
        assert_eq!(m.labels["team"], "sdk");
        let bad = "language = \"go\"\nname = \"go\"\n[labels]\nok = \"x\"\n\"two words\" = \"x\"\nctl = \"a\\u0007b\"\nnum = 3\n";
        let Err(Error::Invalid(diags)) = Manifest::parse(&path, &root, bad.to_string()) else {
            panic!("expected problems");
        };
        let lines: Vec<String> = diags
            .iter()
            .map(|d| format!("{}:{}: {}", d.line, d.col, d.message))
            .collect();
        assert_eq!(lines.len(), 1, "{lines:?}");
        // A value of the wrong type is a type error of the table, at its place.
        assert!(lines[0].contains("`labels`"), "{lines:?}");
        let bad = "language = \"go\"\nname = \"go\"\n[labels]\nok = \"x\"\n\"two words\" = \"x\"\nctl = \"a\\u0007b\"\n";
        let Err(Error::Invalid(diags)) = Manifest::parse(&path, &root, bad.to_string()) else {
            panic!("expected problems");
        };
        let lines: Vec<String> = diags
            .iter()
            .map(|d| format!("{}:{}: {}", d.line, d.col, d.message))
            .collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].starts_with("5:1: label key \"two words\""),
            "{lines:?}"
        );
        assert!(
            lines[1].starts_with("6:1: label \"ctl\": the value holds the control character"),
            "{lines:?}"
        );
    }
}
