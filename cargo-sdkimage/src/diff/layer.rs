//! One layer's tar read as a stream: each entry's facts (kind, size, mode, owner, mtime, a
//! sha256 of a file's content, a link's target, xattrs), never a file's content kept; and two
//! such listings compared path by path.

use std::collections::BTreeMap;
use std::io::{self, Read};

use sha2::{Digest, Sha256};

use crate::output::diff::{FileChange, FileDiff, FileFacts};

/// Every entry of a layer by path (a later entry for the same path replaces an earlier one,
/// as it does when the layer is applied).
pub type Listing = BTreeMap<String, FileFacts>;

/// Read the uncompressed layer tar `reader` to its end; each entry's facts by path.
pub fn list(reader: impl Read) -> io::Result<Listing> {
    let mut archive = tar::Archive::new(reader);
    let mut listing = Listing::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = clean_path(&String::from_utf8_lossy(&entry.path_bytes()));
        let (mtime_secs, mtime_nanos, xattrs) = pax_facts(&mut entry)?;
        let header = entry.header();
        let kind = kind_of(header.entry_type());
        let link = entry
            .link_name_bytes()
            .map(|l| String::from_utf8_lossy(&l).into_owned());
        let facts_head = FileFacts {
            kind: kind.to_string(),
            size: entry.size(),
            mode: header.mode()? & 0o7777,
            uid: header.uid()?,
            gid: header.gid()?,
            mtime: match mtime_secs {
                Some(s) => s,
                None => header.mtime()? as i64,
            },
            mtime_nanos,
            sha256: None,
            link: link.filter(|_| matches!(kind, "symlink" | "hardlink")),
            xattrs,
        };
        let sha256 = if kind == "file" {
            let mut hasher = Sha256::new();
            io::copy(&mut entry, &mut HashWriter(&mut hasher))?;
            Some(format!("sha256:{}", hex::encode(hasher.finalize())))
        } else {
            None
        };
        listing.insert(
            path,
            FileFacts {
                sha256,
                ..facts_head
            },
        );
    }
    Ok(listing)
}

struct HashWriter<'a>(&'a mut Sha256);

impl io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `./a/b/` and `/a/b` are both `a/b`; the root is `.`.
fn clean_path(path: &str) -> String {
    let trimmed = path.trim_start_matches("./").trim_start_matches('/');
    let trimmed = trimmed.trim_end_matches('/');
    if trimmed.is_empty() || trimmed == "." {
        ".".to_string()
    } else {
        trimmed.to_string()
    }
}

fn kind_of(t: tar::EntryType) -> &'static str {
    use tar::EntryType as T;
    match t {
        T::Regular | T::Continuous | T::GNUSparse => "file",
        T::Directory => "dir",
        T::Symlink => "symlink",
        T::Link => "hardlink",
        T::Char => "char",
        T::Block => "block",
        T::Fifo => "fifo",
        _ => "other",
    }
}

type PaxFacts = (Option<i64>, Option<u32>, BTreeMap<String, String>);

/// The PAX records that carry facts: `mtime` (with its fraction) and `SCHILY.xattr.*`.
fn pax_facts<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<PaxFacts> {
    let mut secs = None;
    let mut nanos = None;
    let mut xattrs = BTreeMap::new();
    if let Some(records) = entry.pax_extensions()? {
        for record in records {
            let record = record?;
            let Ok(key) = record.key() else { continue };
            if key == "mtime" {
                if let Some((s, n)) = std::str::from_utf8(record.value_bytes())
                    .ok()
                    .and_then(parse_pax_time)
                {
                    secs = Some(s);
                    nanos = n;
                }
            } else if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                let digest = hex::encode(Sha256::digest(record.value_bytes()));
                xattrs.insert(name.to_string(), format!("sha256:{digest}"));
            }
        }
    }
    Ok((secs, nanos, xattrs))
}

/// `1700000000.5` → (1700000000, Some(500000000)); `-1.25` rounds towards minus infinity as
/// Go's archive/tar does.
fn parse_pax_time(text: &str) -> Option<(i64, Option<u32>)> {
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (text, None),
    };
    let secs: i64 = whole.parse().ok()?;
    let Some(fraction) = fraction.filter(|f| !f.is_empty()) else {
        return Some((secs, None));
    };
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: String = fraction
        .chars()
        .chain(std::iter::repeat('0'))
        .take(9)
        .collect();
    let mut n: u32 = digits.parse().ok()?;
    let mut s = secs;
    if whole.starts_with('-') && n > 0 {
        s -= 1;
        n = 1_000_000_000 - n;
    }
    Some((s, Some(n)))
}

/// Which facts of two entries at the same path differ, in the documented order.
pub fn differing_facts(a: &FileFacts, b: &FileFacts) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |name: &str, differs: bool| {
        if differs {
            out.push(name.to_string());
        }
    };
    check("kind", a.kind != b.kind);
    check("size", a.size != b.size);
    check("mode", a.mode != b.mode);
    check("uid", a.uid != b.uid);
    check("gid", a.gid != b.gid);
    check(
        "mtime",
        (a.mtime, a.mtime_nanos.unwrap_or(0)) != (b.mtime, b.mtime_nanos.unwrap_or(0)),
    );
    check("content", a.sha256 != b.sha256);
    check("link", a.link != b.link);
    check("xattrs", a.xattrs != b.xattrs);
    out
}

/// The entries that differ between two listings of the same layer position, by path.
pub fn compare(a: &Listing, b: &Listing) -> Vec<FileDiff> {
    let mut out = Vec::new();
    let mut left = a.iter().peekable();
    let mut right = b.iter().peekable();
    loop {
        let order = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some((pa, _)), Some((pb, _))) => pa.cmp(pb),
        };
        match order {
            std::cmp::Ordering::Less => {
                let (path, facts) = left.next().expect("peeked");
                out.push(FileDiff {
                    path: path.clone(),
                    change: FileChange::Removed,
                    differs: Vec::new(),
                    a: Some(facts.clone()),
                    b: None,
                });
            }
            std::cmp::Ordering::Greater => {
                let (path, facts) = right.next().expect("peeked");
                out.push(FileDiff {
                    path: path.clone(),
                    change: FileChange::Added,
                    differs: Vec::new(),
                    a: None,
                    b: Some(facts.clone()),
                });
            }
            std::cmp::Ordering::Equal => {
                let (path, fa) = left.next().expect("peeked");
                let (_, fb) = right.next().expect("peeked");
                let differs = differing_facts(fa, fb);
                if !differs.is_empty() {
                    out.push(FileDiff {
                        path: path.clone(),
                        change: FileChange::Changed,
                        differs,
                        a: Some(fa.clone()),
                        b: Some(fb.clone()),
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar of `(path, content, mtime, mode)` regular files, plus a `dir/` directory.
    fn layer(files: &[(&str, &[u8], u64, u32)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut dir = tar::Header::new_ustar();
        dir.set_entry_type(tar::EntryType::Directory);
        dir.set_path("dir/").unwrap();
        dir.set_mode(0o755);
        dir.set_mtime(1);
        dir.set_size(0);
        dir.set_uid(0);
        dir.set_gid(0);
        dir.set_cksum();
        builder.append(&dir, io::empty()).unwrap();
        for (path, content, mtime, mode) in files {
            let mut h = tar::Header::new_ustar();
            h.set_path(path).unwrap();
            h.set_size(content.len() as u64);
            h.set_mtime(*mtime);
            h.set_mode(*mode);
            h.set_uid(0);
            h.set_gid(0);
            h.set_cksum();
            builder.append(&h, *content).unwrap();
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn lists_each_entry_with_its_facts() {
        let tar = layer(&[("dir/a", b"hello", 10, 0o644), ("./stamp", b"1", 20, 0o600)]);
        let listing = list(&tar[..]).unwrap();
        assert_eq!(
            listing.keys().collect::<Vec<_>>(),
            ["dir", "dir/a", "stamp"]
        );
        let a = &listing["dir/a"];
        assert_eq!(
            (a.kind.as_str(), a.size, a.mode, a.mtime),
            ("file", 5, 0o644, 10)
        );
        assert_eq!(
            a.sha256.as_deref(),
            Some("sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
        );
        assert_eq!(listing["dir"].kind, "dir");
        assert_eq!(listing["dir"].sha256, None);
    }

    #[test]
    fn same_layers_have_no_differences() {
        let tar = layer(&[("a", b"x", 1, 0o644)]);
        assert!(compare(&list(&tar[..]).unwrap(), &list(&tar[..]).unwrap()).is_empty());
    }

    #[test]
    fn names_the_file_and_the_facts_that_differ() {
        let a = list(&layer(&[("a", b"same", 1, 0o644), ("stamp", b"111", 5, 0o644)])[..]).unwrap();
        let b = list(&layer(&[("a", b"same", 1, 0o644), ("stamp", b"222", 6, 0o644)])[..]).unwrap();
        let diffs = compare(&a, &b);
        assert_eq!(diffs.len(), 1);
        assert_eq!(diffs[0].path, "stamp");
        assert_eq!(diffs[0].change, FileChange::Changed);
        assert_eq!(diffs[0].differs, ["mtime", "content"]);
    }

    #[test]
    fn added_removed_and_mode_changes() {
        let a = list(&layer(&[("gone", b"", 1, 0o644), ("x", b"1", 1, 0o644)])[..]).unwrap();
        let b = list(&layer(&[("new", b"", 1, 0o644), ("x", b"1", 1, 0o755)])[..]).unwrap();
        let diffs = compare(&a, &b);
        let summary: Vec<(&str, FileChange, Vec<String>)> = diffs
            .iter()
            .map(|d| (d.path.as_str(), d.change, d.differs.clone()))
            .collect();
        assert_eq!(
            summary,
            [
                ("gone", FileChange::Removed, vec![]),
                ("new", FileChange::Added, vec![]),
                ("x", FileChange::Changed, vec!["mode".to_string()]),
            ]
        );
    }

    #[test]
    fn a_later_entry_for_a_path_wins() {
        let tar = layer(&[("a", b"first", 1, 0o644), ("a", b"second!", 1, 0o644)]);
        assert_eq!(list(&tar[..]).unwrap()["a"].size, 7);
    }

    #[test]
    fn pax_mtimes_keep_their_fraction() {
        let mut builder = tar::Builder::new(Vec::new());
        builder
            .append_pax_extensions([("mtime", b"1700000000.25".as_slice())])
            .unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_path("f").unwrap();
        h.set_size(0);
        h.set_mtime(1_700_000_000);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        builder.append(&h, io::empty()).unwrap();
        let tar = builder.into_inner().unwrap();
        let f = &list(&tar[..]).unwrap()["f"];
        assert_eq!((f.mtime, f.mtime_nanos), (1_700_000_000, Some(250_000_000)));
        assert_eq!(parse_pax_time("-1.25"), Some((-2, Some(750_000_000))));
        assert_eq!(parse_pax_time("12"), Some((12, None)));
        assert_eq!(parse_pax_time("x"), None);
    }

    #[test]
    fn a_truncated_layer_is_an_error() {
        let tar = layer(&[("a", &[7u8; 4000], 1, 0o644)]);
        assert!(list(&tar[..1000]).is_err());
    }
}
