//! What people read: every line the renderer draws on stderr and the tables it prints on
//! stdout, as pure functions of the typed events (no terminal, no state), so that each can be
//! snapshot-tested.

use std::time::Duration;

use crate::output::{Counts, Event, EventKind, ListEntry, Note, ResultRow, event};

/// How many log lines of a failed image are shown.
pub const TAIL_LINES: usize = 15;

/// `text` in the colour `sgr` (an SGR parameter string, `1;31`) when `color` is on.
pub fn paint(color: bool, text: &str, sgr: &str) -> String {
    if color {
        format!("\x1b[{sgr}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// The selector an event's image is shown by (`python:3.11`), else its name.
pub fn label_of(event: &Event) -> String {
    match (event.language(), event.variant()) {
        (Some(l), Some(v)) => format!("{l}:{v}"),
        (Some(l), None) => l.to_string(),
        _ => event.image().unwrap_or_default().to_string(),
    }
}

/// A build starting, in plain progress (`[python:3.11] building`).
pub fn started(label: &str) -> String {
    format!("[{label}] building")
}

/// One line of an image's build output, in plain progress.
pub fn log_line(label: &str, line: &str) -> String {
    format!("[{label}] {line}")
}

/// One requirement of a contract check (`  ✓ python:3.11 tool curl: /usr/bin/curl`) and the
/// last lines of the output captured for it.
pub fn check(color: bool, passed: bool, check: &event::Check, label: &str) -> String {
    let mark = match passed {
        true => paint(color, "✓", "1;32"),
        false => paint(color, "✗", "1;31"),
    };
    let requirement = &check.requirement;
    let mut text = format!("  {mark} {label} {requirement}");
    text.push_str(&format!(": {}", check.message));
    let output = check.output.trim_end();
    let lines: Vec<&str> = output.lines().collect();
    for line in &lines[lines.len().saturating_sub(TAIL_LINES)..] {
        text.push_str(&format!("\n      | {line}"));
    }
    text
}

/// An image moved between the engines of a pool.
pub fn transferred(moved: &event::Transferred, label: &str) -> String {
    let to = moved.to.as_deref().unwrap_or("?");
    let from = &moved.from;
    let took = Duration::from_millis(moved.duration_ms);
    format!(
        "moved {label} from {from} to {to}: {} in {}",
        format_bytes(moved.bytes),
        format_duration(took)
    )
}

/// An image queued again after its engine was lost.
pub fn requeued(color: bool, requeued: &event::Requeued, label: &str) -> String {
    let message = &requeued.message;
    format!("{} {label}: {message}", paint(color, "requeued", "1;33"))
}

/// An image that failed (the line its bar collapses to, indented by [`finished_line`]).
pub fn failed(color: bool, failed: &event::Failed, label: &str) -> String {
    let message = &failed.message;
    format!("{} {label}: {message}", paint(color, "failed", "1;31"))
}

/// The last log lines of a failed image, when any of them says something.
pub fn tail(label: &str, tail: &[String]) -> Option<String> {
    if !tail.iter().any(|l| !l.trim().is_empty()) {
        return None;
    }
    let mut text = format!("last log lines of {label}:");
    for line in tail {
        text.push_str(&format!("\n  | {line}"));
    }
    Some(text)
}

/// What an image's bar collapses to when it is done (`built python:3.11 in 2.0s (0123...)`),
/// for the kinds that finish an image; `None` for the others.
pub fn done(color: bool, event: &Event, label: &str) -> Option<String> {
    let word = match event.kind() {
        EventKind::BuildFinished => paint(color, "built", "1;32"),
        EventKind::UpToDate => paint(color, "up to date", "1;32"),
        EventKind::Retagged => paint(color, "retagged", "1;32"),
        EventKind::PushFinished => paint(color, "pushed", "1;32"),
        EventKind::Verified => paint(color, "verified", "1;32"),
        EventKind::Promoted => paint(color, "promoted", "1;32"),
        _ => return None,
    };
    let mut line = format!("{word} {label}");
    if let Some(engine) = event.engine() {
        line.push_str(&format!(" on {engine}"));
    }
    if let Some(d) = event.duration_ms() {
        line.push_str(&format!(
            " in {}",
            format_duration(Duration::from_millis(d))
        ));
    }
    if let Some(digest) = event.digest().or(event.id()) {
        line.push_str(&format!(" ({})", short_id(digest)));
    }
    if let Some(m) = event.message() {
        line.push_str(&format!(": {m}"));
    }
    Some(line)
}

/// A finished image's permanent line, above the running ones.
pub fn finished_line(line: &str) -> String {
    format!("  {line}")
}

/// The closing table of a build and its totals.
pub fn summary(counts: &Counts, rows: &[ResultRow], elapsed: Duration) -> String {
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.image.clone(),
                r.outcome.as_str().to_string(),
                format_duration(r.duration),
                r.id.as_deref().map(short_id).unwrap_or("-").to_string(),
            ]
        })
        .collect();
    let pushed = if counts.pushed > 0 {
        format!(", {} pushed", counts.pushed)
    } else {
        String::new()
    };
    format!(
        "\n{}{} built, {} up to date, {} retagged, {} failed, {} skipped{pushed} in {}",
        table(&["IMAGE", "RESULT", "TIME", "ID"], &table_rows),
        counts.built,
        counts.up_to_date,
        counts.retagged,
        counts.failed,
        counts.skipped,
        format_duration(elapsed)
    )
}

/// The final error of a run: `error: ` and its first line, then the rest as they are.
pub fn error(color: bool, text: &str) -> Vec<String> {
    let text = text.trim_end();
    let mut lines = text.lines();
    let mut out = vec![format!(
        "{} {}",
        paint(color, "error:", "1;31"),
        lines.next().unwrap_or("")
    )];
    out.extend(lines.map(str::to_string));
    out
}

/// The sentence of a note.
pub fn note(note: &Note) -> String {
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    match note {
        Note::DiffFromRegistries { why } => {
            format!("note: reading both images from registries: {why}")
        }
        Note::Reproduced {
            image,
            digest,
            epoch,
        } => format!("reproduced {image}: {digest} (epoch {epoch})"),
        Note::SignedPromoted { digests } => format!("signed {digests} promoted digest(s)"),
        Note::Signed { image, digests } => {
            format!("{image}: signed and attested {digests} digest(s)")
        }
        Note::SignaturesVerified {
            image,
            digests,
            attestations,
        } => {
            let what = match attestations {
                true => "signatures and attestations",
                false => "signatures",
            };
            format!("{image}: {what} of {digests} digest(s) verified with the key")
        }
        Note::NoManifests { root } => format!(
            "no sdkimage.toml found under {}; run `cargo sdkimage init <dir>`",
            root.display()
        ),
        Note::SecretBuildArgs { names } => format!(
            "warning: build arg{} {} look{} like a secret; build args are recorded in the image (`docker history` shows them to anyone who pulls it); pass secrets as build secrets instead (`--secret id=NAME,env=VAR` or a manifest's [secrets], read with `RUN --mount=type=secret,id=NAME`)",
            plural(names.len()),
            names.join(", "),
            if names.len() > 1 { "" } else { "s" },
        ),
        Note::DryRunPlan { text } => text.trim_end().to_string(),
        Note::EnginesLostDuringRun { engines, all_built } => format!(
            "note: engine{} {} lost during the run; {} images were built on the others",
            if engines.len() > 1 { "s" } else { "" },
            engines.join(", "),
            if *all_built { "all" } else { "its" },
        ),
        Note::NothingPushedNoEngine => "nothing pushed: no engine is left".to_string(),
        Note::NothingPushedFailed => "nothing pushed: not every selected image was built (and, with --check, met its contract)".to_string(),
        Note::PromoteDryRun { images } => {
            format!("dry run: {images} image(s) would be promoted")
        }
        Note::Promoted {
            images,
            from_tag,
            tags,
        } => format!(
            "promoted {images} image(s) from {from_tag} to {}",
            tags.join(", ")
        ),
        Note::WouldPoint {
            target,
            digest,
            now,
        } => format!(
            "would point {target} at {digest} (now: {})",
            now.as_deref().unwrap_or("absent")
        ),
        Note::LicensesWritten {
            image,
            entries,
            dir,
        } => format!("{image}: {entries} license entries in {}", dir.display()),
        Note::WouldPush { id, refs, staged } => match staged {
            Some(staged) => format!(
                "would push {} as {}, then point {} at its digest",
                short_id(id),
                staged.join(", "),
                refs.join(", ")
            ),
            None => format!("would push {} as {}", short_id(id), refs.join(", ")),
        },
        Note::InterruptedDirectPush => {
            "interrupted: without a staging tag, the refs pushed so far stay pushed".to_string()
        }
        Note::InterruptedStagingOnly => {
            "interrupted: only staging tags were pushed; no release tag was changed".to_string()
        }
        Note::SignalDuringRelease { signal } => format!(
            "{signal} arrived while the release tags were being written; that was finished, so every release tag points at its new digest"
        ),
        Note::InitGuessed { guess } => format!("guessed {guess}"),
        Note::InitWroteWorkspace { file } => format!(
            "wrote {}: no workspace held this folder, so this file marks the repository's root (git's top level)",
            file.display()
        ),
        Note::InitWroteManifest { path, workspace } => match workspace {
            true => format!(
                "wrote {}: check it, then `cargo sdkimage list`",
                path.display()
            ),
            false => format!(
                "wrote {}: check it. No workspace holds it (no {} or Cargo.toml at or above it, and no git repository to find the root by): create an empty {} at your repository's root, then `cargo sdkimage list`",
                path.display(),
                crate::workspace::standalone::WORKSPACE_FILE,
                crate::workspace::standalone::WORKSPACE_FILE,
            ),
        },
        Note::EngineLost { engine, why } => format!(
            "engine {engine} was lost ({why}); its images are built again on the other engines"
        ),
        Note::GatherFailed { error } => {
            format!("note: not every image could be loaded into the first engine: {error}")
        }
        Note::PrintWithoutEngine { why } => format!(
            "note: no engine answers ({why}); the plan is printed without what is up to date"
        ),
        Note::Checked { passed, failed } => format!(
            "checked {} image(s): {passed} meet their contract, {failed} do not",
            passed + failed
        ),
        Note::NothingToCheck { image } => {
            format!("  {image}: nothing to check (no [contract], no python3 on PATH)")
        }
        Note::ContractPassedBefore { label, id } => format!(
            "  {label}: contract check passed before for this image ({}); not run again",
            short_id(id)
        ),
        Note::SbomWritten { image, path } => format!("{image}: SBOM in {}", path.display()),
        Note::NoSbom => {
            "--sbom-dir: no built image has a [licenses] table, so no SBOM was written".to_string()
        }
        Note::WaitingForLock => "waiting for another cargo sdkimage run in this workspace to finish (lock: target/sdkimage/lock)".to_string(),
        Note::EngineNotAnswering { engine, why } => {
            format!("note: engine {engine} does not answer ({why}); building on the others")
        }
        Note::ClassicBuilder { why } => format!("note: building with the classic builder: {why}"),
        Note::Pulling { base, platform, on } => format!("pulling {base} ({platform}){}", on_engine(on)),
        Note::Pulled {
            base,
            platform,
            digest,
            on,
        } => {
            let digest = digest.as_ref().map(|d| format!(" {d}")).unwrap_or_default();
            format!("pulled {base} ({platform}){digest}{}", on_engine(on))
        }
        Note::Prepare { language, run } => format!("[{language}] prepare: {}", shell_words(run)),
    }
}

/// `a b "c d"` for showing a command.
pub fn shell_words(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            if w.is_empty() || w.contains(|c: char| c.is_whitespace() || "\"'$`\\".contains(c)) {
                format!("'{}'", w.replace('\'', "'\\''"))
            } else {
                w.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `list` for people: one row per image.
pub fn list_table(entries: &[ListEntry]) -> String {
    // The platform and target columns appear when some image names them.
    let platforms = entries.iter().any(|e| !e.platforms.is_empty());
    let targets = entries.iter().any(|e| e.target.is_some());
    let engines = entries.iter().any(|e| e.engine.is_some());
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let mut row = vec![
                e.name.clone(),
                match &e.variant {
                    Some(v) => format!("{}:{v}", e.language),
                    None => e.language.clone(),
                },
                e.refs.join(", "),
                e.manifest.clone(),
                if e.depends_on.is_empty() {
                    "-".into()
                } else {
                    e.depends_on.join(", ")
                },
            ];
            if platforms {
                row.push(if e.platforms.is_empty() {
                    "-".into()
                } else {
                    e.platforms.join(", ")
                });
            }
            if targets {
                row.push(e.target.clone().unwrap_or_else(|| "-".into()));
            }
            if engines {
                row.push(e.engine.clone().unwrap_or_else(|| "-".into()));
            }
            row
        })
        .collect();
    let mut header = vec!["IMAGE", "SELECTOR", "REFS", "MANIFEST", "DEPENDS ON"];
    if platforms {
        header.push("PLATFORMS");
    }
    if targets {
        header.push("TARGET");
    }
    if engines {
        header.push("ENGINE");
    }
    table(&header, &rows)
}

/// `text` with every control character but line breaks, tabs and our own colour sequences
/// escaped as Rust does (`\u{1b}`), the same way everywhere: what a user or a build wrote
/// cannot move the cursor, clear the screen or recolour the terminal.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t' && c != '\u{1b}';
    let has_foreign_escape = text.contains('\u{1b}') && !only_sgr_escapes(text);
    if !text.chars().any(unsafe_char) && !has_foreign_escape {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) || (c == '\u{1b}' && has_foreign_escape) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Whether every escape in `text` is a colour sequence (`ESC [ digits;... m`), as `paint` writes.
fn only_sgr_escapes(text: &str) -> bool {
    text.split('\u{1b}').skip(1).all(|rest| {
        let Some(body) = rest.strip_prefix('[') else {
            return false;
        };
        let end = body.find(|c: char| !(c.is_ascii_digit() || c == ';'));
        matches!(end.map(|i| &body[i..i + 1]), Some("m"))
    })
}

/// `sha256:0123456789ab...` -> `0123456789ab`.
pub fn short_id(id: &str) -> &str {
    let hex = id.split_once(':').map_or(id, |(_, h)| h);
    &hex[..hex.len().min(12)]
}

pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

/// `line` cut to `max` characters, an ellipsis marking the cut (a bar's message).
pub fn truncate(line: &str, max: usize) -> String {
    if line.chars().count() <= max {
        return line.to_string();
    }
    let mut s: String = line.chars().take(max - 1).collect();
    s.push('…');
    s
}

/// Render rows as an aligned text table.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let render = |cells: &mut dyn Iterator<Item = &str>, out: &mut String| {
        let mut line = String::new();
        for (i, cell) in cells.enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            line.push_str(&" ".repeat(widths[i].saturating_sub(cell.chars().count())));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    };
    render(&mut header.iter().copied(), &mut out);
    for row in rows {
        render(&mut row.iter().map(String::as_str), &mut out);
    }
    out
}

/// `1.5 MB`, `320 kB`, `12 B`.
pub fn format_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1_000_000 => format!("{:.1} MB", b as f64 / 1e6),
        b if b >= 1_000 => format!("{} kB", b / 1_000),
        b => format!("{b} B"),
    }
}

/// ` on <engine>`, when a note names the engine (a run over several).
fn on_engine(on: &Option<String>) -> String {
    on.as_ref().map(|n| format!(" on {n}")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_but_our_colours_and_lines_stay() {
        assert_eq!(printable("a\nb\tc"), "a\nb\tc");
        assert_eq!(
            printable("\u{1b}[1;31merror:\u{1b}[0m x"),
            "\u{1b}[1;31merror:\u{1b}[0m x"
        );
        assert_eq!(printable("tag\u{7}\r"), "tag\\u{7}\\r");
        assert_eq!(printable("x\u{1b}]0;title\u{7}"), "x\\u{1b}]0;title\\u{7}");
    }

    #[test]
    fn table_aligns() {
        let t = table(&["a", "bb"], &[vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "a    bb\nxxx  y\n");
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
    }
}
