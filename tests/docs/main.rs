//! The README and the book (`docs/src/`) have no broken relative link: every link's file
//! exists, every `#anchor` is a heading id of its page, every book page is a chapter of
//! `SUMMARY.md`. mdBook itself checks none of this (`mdbook build docs` in `scripts/test`
//! checks only that the chapters exist), so this test reads the Markdown as mdBook does: with
//! its parser (pulldown-cmark) and options, `{{#include}}`s expanded, and heading ids made by
//! its rule (`mdbook-html`'s `id_from_content` and `unique_id`). Files outside the book (the
//! README) get GitHub's ids, which differ only in having no smart punctuation.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Component, Path, PathBuf};

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn book_src() -> PathBuf {
    root().join("docs/src")
}

/// `mdbook_markdown::new_cmark_parser`'s options (mdBook 0.5.4, default `[output.html]`),
/// smart punctuation only in the book.
fn options(in_book: bool) -> Options {
    let mut opts = Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_HEADING_ATTRIBUTES
        | Options::ENABLE_DEFINITION_LIST
        | Options::ENABLE_GFM;
    if in_book {
        opts |= Options::ENABLE_SMART_PUNCTUATION;
    }
    opts
}

/// mdBook's `id_from_content`.
fn id_from_content(content: &str) -> String {
    content
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|ch| {
            if ch.is_alphanumeric() || ch == '_' || ch == '-' {
                Some(ch)
            } else if ch.is_whitespace() {
                Some('-')
            } else {
                None
            }
        })
        .collect()
}

/// mdBook's `unique_id`: a repeated id gets `-1`, `-2`, ...
fn unique_id(id: &str, used: &mut HashSet<String>) -> String {
    if used.insert(id.to_string()) {
        return id.to_string();
    }
    (1..)
        .map(|n| format!("{id}-{n}"))
        .find(|candidate| used.insert(candidate.clone()))
        .unwrap()
}

struct Link {
    dest: String,
    line: usize,
}

struct Page {
    ids: BTreeSet<String>,
    links: Vec<Link>,
}

/// The text mdBook renders for `path`: its `{{#include FILE}}` and `{{#include FILE:A:B}}`
/// lines replaced by that file (lines A to B), read relative to `path`'s folder.
fn expanded(path: &Path) -> String {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("{{#include ") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find("}}")
            .unwrap_or_else(|| panic!("{}: an unclosed {{{{#include", path.display()));
        let spec = rest[start + "{{#include ".len()..start + end].trim();
        let mut parts = spec.split(':');
        let file = path.parent().unwrap().join(parts.next().unwrap());
        let included = std::fs::read_to_string(&file).unwrap_or_else(|e| {
            panic!(
                "{}: {{{{#include {spec}}}}}: cannot read {}: {e}",
                path.display(),
                file.display()
            )
        });
        let from = parts.next().and_then(|a| a.parse::<usize>().ok());
        let to = parts.next().and_then(|b| b.parse::<usize>().ok());
        let lines: Vec<&str> = included.lines().collect();
        let from = from.unwrap_or(1).max(1) - 1;
        let to = to.unwrap_or(lines.len()).min(lines.len());
        out.push_str(&lines[from.min(to)..to].join("\n"));
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

fn read_page(path: &Path, in_book: bool) -> Page {
    let text = expanded(path);
    let line_of = |offset: usize| text[..offset].matches('\n').count() + 1;
    let mut ids = BTreeSet::new();
    let mut used = HashSet::new();
    let mut links = Vec::new();
    // The heading (or definition term) being read: its explicit id, and its text so far.
    let mut heading: Option<(Option<String>, String)> = None;
    for (event, range) in Parser::new_ext(&text, options(in_book)).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading { id, .. }) => {
                heading = Some((id.map(|id| id.to_string()), String::new()));
            }
            Event::Start(Tag::DefinitionListTitle) => heading = Some((None, String::new())),
            Event::End(TagEnd::Heading(_) | TagEnd::DefinitionListTitle) => {
                if let Some((explicit, content)) = heading.take() {
                    let id = match explicit {
                        Some(id) => id,
                        None => unique_id(&id_from_content(&content), &mut used),
                    };
                    ids.insert(id);
                }
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some((_, content)) = heading.as_mut() {
                    content.push_str(&t);
                }
            }
            Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => {
                links.push(Link {
                    dest: dest_url.to_string(),
                    line: line_of(range.start),
                })
            }
            _ => {}
        }
    }
    Page { ids, links }
}

fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            markdown_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
}

/// `a/b/../c` as `a/c`, without touching the disk (the target may not exist).
fn normalized(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn is_external(dest: &str) -> bool {
    let scheme = dest.split(['/', '#']).next().unwrap_or("");
    scheme.contains(':')
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Every problem of every link of `files`, one line each.
fn broken_links(files: &[PathBuf], chapters: &BTreeSet<PathBuf>) -> Vec<String> {
    let src = book_src();
    let mut pages: BTreeMap<PathBuf, Page> = BTreeMap::new();
    fn page<'a>(pages: &'a mut BTreeMap<PathBuf, Page>, path: &Path, src: &Path) -> &'a Page {
        pages
            .entry(path.to_path_buf())
            .or_insert_with(|| read_page(path, path.starts_with(src)))
    }
    let mut problems = Vec::new();
    for file in files {
        let in_book = file.starts_with(&src);
        let links: Vec<(String, usize)> = page(&mut pages, file, &src)
            .links
            .iter()
            .map(|l| (l.dest.clone(), l.line))
            .collect();
        for (dest, line) in links {
            if dest.is_empty() || is_external(&dest) {
                continue;
            }
            let at = format!("{}:{line}: ({dest})", relative(file));
            let (target, anchor) = match dest.split_once('#') {
                Some((t, a)) => (t, Some(a)),
                None => (dest.as_str(), None),
            };
            let target_path = if target.is_empty() {
                file.clone()
            } else if target.starts_with('/') {
                problems.push(format!(
                    "{at}: an absolute path; write it relative to this file"
                ));
                continue;
            } else {
                normalized(&file.parent().unwrap().join(target))
            };
            if !target_path.exists() {
                problems.push(format!("{at}: {} does not exist", relative(&target_path)));
                continue;
            }
            let is_md = target_path.extension().is_some_and(|e| e == "md");
            if in_book && is_md && !target.is_empty() {
                if !target_path.starts_with(&src) {
                    problems.push(format!(
                        "{at}: a Markdown file outside the book (mdBook links it as .html, which it does not render)"
                    ));
                    continue;
                }
                if !chapters.contains(&target_path) {
                    problems.push(format!(
                        "{at}: {} is no chapter of docs/src/SUMMARY.md, so mdBook does not render it",
                        relative(&target_path)
                    ));
                }
            }
            if let Some(anchor) = anchor {
                if !is_md {
                    problems.push(format!("{at}: an anchor into a file that is not Markdown"));
                } else if !page(&mut pages, &target_path, &src).ids.contains(anchor) {
                    let ids = &page(&mut pages, &target_path, &src).ids;
                    problems.push(format!(
                        "{at}: no heading of {} has the id {anchor:?}; its ids: {}",
                        relative(&target_path),
                        ids.iter().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
        }
    }
    problems
}

/// The chapters `SUMMARY.md` links to.
fn chapters() -> BTreeSet<PathBuf> {
    let summary = book_src().join("SUMMARY.md");
    read_page(&summary, true)
        .links
        .iter()
        .filter(|l| !l.dest.is_empty() && !is_external(&l.dest))
        .map(|l| normalized(&book_src().join(l.dest.split('#').next().unwrap())))
        .collect()
}

#[test]
fn every_relative_link_and_anchor_of_the_readme_and_the_book_resolves() {
    let mut files = vec![root().join("README.md")];
    markdown_files(&book_src(), &mut files);
    files.sort();
    let chapters = chapters();
    let problems = broken_links(&files, &chapters);
    assert!(
        problems.is_empty(),
        "broken links ({}):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn every_page_of_the_book_is_a_chapter() {
    let mut files = Vec::new();
    markdown_files(&book_src(), &mut files);
    let chapters = chapters();
    let summary = book_src().join("SUMMARY.md");
    let orphans: Vec<String> = files
        .iter()
        .filter(|f| **f != summary && !chapters.contains(*f))
        .map(|f| relative(f))
        .collect();
    assert!(
        orphans.is_empty(),
        "pages under docs/src/ that docs/src/SUMMARY.md does not list (mdBook would not render them): {}",
        orphans.join(", ")
    );
}

#[test]
fn heading_ids_follow_mdbook() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("p.md");
    std::fs::write(
        &page,
        "# The SDK contract: `check` and `build --check`\n\n## Don't -- stop\n\n## Don't -- stop\n\n## Own {#custom}\n",
    )
    .unwrap();
    let book = read_page(&page, true);
    let ids: Vec<&str> = book.ids.iter().map(String::as_str).collect();
    // Smart punctuation turns `'` and `--` into ’ and –, which the id drops.
    assert_eq!(
        ids,
        [
            "custom",
            "dont--stop",
            "dont--stop-1",
            "the-sdk-contract-check-and-build---check"
        ]
    );
    let github = read_page(&page, false);
    assert!(github.ids.contains("dont----stop"), "{:?}", github.ids);
}

/// Every module file of the library and the binary (tests and test data aside) is named in
/// `docs/architecture.md`, the map of the code: by its path below `src/` (`context/goregex.rs`),
/// or by its file name (`goregex.rs`) in its folder's row.
#[test]
fn the_architecture_names_every_module() {
    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            if path.is_dir() {
                if name != "tests" && name != "testdata" {
                    rust_files(&path, out);
                }
            } else if name.ends_with(".rs") && name != "tests.rs" && !name.ends_with("_tests.rs") {
                out.push(path);
            }
        }
    }
    let map = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let mut missing = Vec::new();
    for crate_dir in std::fs::read_dir(root()).unwrap() {
        let src = crate_dir.unwrap().path().join("src");
        if !src.join("lib.rs").is_file() && !src.join("main.rs").is_file() {
            continue;
        }
        if !src.parent().unwrap().join("Cargo.toml").is_file() {
            continue;
        }
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        for file in files {
            let rel = file
                .strip_prefix(&src)
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            let name = file.file_name().unwrap().to_str().unwrap();
            if !map.contains(&rel)
                && !map.contains(&format!("`{name}`"))
                && !map.contains(&format!("/{name}"))
            {
                missing.push(file.strip_prefix(root()).unwrap().display().to_string());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/architecture.md does not name these modules; add each to the row of its concern: {missing:?}"
    );
}
