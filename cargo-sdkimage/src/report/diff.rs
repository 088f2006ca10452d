//! `diff`'s output for people: each side, then what differs (config fields, then each layer
//! with its files and the facts that differ), user text escaped.

use std::fmt::Write as _;

use super::{printable, short_id};
use crate::output::diff::{DiffSide, FileChange, FileFacts, ImageDiff};

/// The whole text of one diff, ending with a newline.
pub fn diff_text(diff: &ImageDiff) -> String {
    let mut out = String::new();
    for (label, side) in [("A", &diff.a), ("B", &diff.b)] {
        let _ = writeln!(out, "{label}: {}", side_line(side));
    }
    if diff.same {
        let manifests = match diff.same_manifest {
            Some(false) => " (the manifest digests differ: compression or media types only)",
            _ => "",
        };
        let _ = writeln!(
            out,
            "same content: config {}{manifests}",
            short_id(&diff.a.config_digest)
        );
        return out;
    }
    let files: usize = diff.layers.iter().map(|l| l.files.len()).sum();
    let _ = writeln!(
        out,
        "different: {} config field{}, {} layer{} ({} file{})",
        diff.config.len(),
        plural(diff.config.len()),
        diff.layers.len(),
        plural(diff.layers.len()),
        files,
        plural(files)
    );
    if !diff.config.is_empty() {
        let _ = writeln!(out, "\nconfig:");
        for change in &diff.config {
            let show = |v: &Option<serde_json::Value>| {
                v.as_ref().map_or("(none)".to_string(), |v| v.to_string())
            };
            let _ = writeln!(
                out,
                "  {}: {} -> {}",
                change.path,
                show(&change.a),
                show(&change.b)
            );
        }
    }
    for layer in &diff.layers {
        let id = |l: &Option<crate::output::diff::LayerFacts>| {
            l.as_ref()
                .map_or("(none)".to_string(), |l| short_id(&l.diff_id).to_string())
        };
        let _ = writeln!(
            out,
            "\nlayer {} (A {}, B {}):",
            layer.index,
            id(&layer.a),
            id(&layer.b)
        );
        if layer.files.is_empty() {
            let _ = writeln!(
                out,
                "  no entry differs (the tars differ in order or padding)"
            );
        }
        // Many entries that differ in their mtime alone (a whole `RUN`'s output built at
        // another time) say one thing: one line for them; the JSON lists each.
        let mtime_only = |f: &&crate::output::diff::FileDiff| {
            f.change == FileChange::Changed && f.differs == ["mtime"]
        };
        let touched: Vec<&str> = layer
            .files
            .iter()
            .filter(mtime_only)
            .map(|f| f.path.as_str())
            .collect();
        let collapse = touched.len() > MTIME_ONLY_SHOWN;
        if collapse {
            let examples: Vec<String> = touched
                .iter()
                .take(MTIME_ONLY_SHOWN)
                .map(|p| format!("/{p}"))
                .collect();
            let _ = writeln!(
                out,
                "  ~ {} entries differ in their mtime only ({}, ...)",
                touched.len(),
                examples.join(", ")
            );
        }
        for file in layer.files.iter().filter(|f| !(collapse && mtime_only(f))) {
            let (mark, what) = match file.change {
                FileChange::Added => ("+", "only in B".to_string()),
                FileChange::Removed => ("-", "only in A".to_string()),
                FileChange::Changed => ("~", file.differs.join(", ")),
            };
            let _ = writeln!(out, "  {mark} /{}  {what}", file.path);
            if file.change == FileChange::Changed {
                for (label, facts) in [("A", &file.a), ("B", &file.b)] {
                    if let Some(facts) = facts {
                        let _ = writeln!(out, "      {label}: {}", facts_line(facts));
                    }
                }
            }
        }
    }
    printable(&out).into_owned()
}

/// Entries differing in their mtime alone that are listed one by one; more become one line.
const MTIME_ONLY_SHOWN: usize = 5;

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn side_line(side: &DiffSide) -> String {
    let mut line = format!("{} ({}", side.reference, side.source.as_str());
    if let Some(m) = &side.manifest_digest {
        let _ = write!(line, ", manifest {}", short_id(m));
    }
    let _ = write!(
        line,
        ", config {}, {}, {} layer{})",
        short_id(&side.config_digest),
        side.platform,
        side.layers,
        plural(side.layers)
    );
    line
}

/// `file 11 B 0644 0:0 2026-12-05T23:00:00.5Z sha256:0123456789ab`.
pub fn facts_line(f: &FileFacts) -> String {
    let mut line = format!(
        "{} {} B {:04o} {}:{} {}",
        f.kind,
        f.size,
        f.mode,
        f.uid,
        f.gid,
        mtime_text(f.mtime, f.mtime_nanos)
    );
    if let Some(sha) = &f.sha256 {
        let _ = write!(line, " {}", short_id(sha));
    }
    if let Some(link) = &f.link {
        let _ = write!(line, " -> {link}");
    }
    if !f.xattrs.is_empty() {
        let names: Vec<&str> = f.xattrs.keys().map(String::as_str).collect();
        let _ = write!(line, " xattrs {}", names.join(","));
    }
    line
}

fn mtime_text(secs: i64, nanos: Option<u32>) -> String {
    let Ok(whole) = u64::try_from(secs) else {
        return format!("{secs}s");
    };
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(whole);
    let text = humantime::format_rfc3339_seconds(at).to_string();
    match nanos.filter(|n| *n > 0) {
        Some(n) => {
            let fraction = format!("{n:09}");
            format!(
                "{}.{}Z",
                text.trim_end_matches('Z'),
                fraction.trim_end_matches('0')
            )
        }
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mtimes_are_rfc3339() {
        assert_eq!(mtime_text(0, None), "1970-01-01T00:00:00Z");
        assert_eq!(mtime_text(1, Some(500_000_000)), "1970-01-01T00:00:01.5Z");
    }
}
