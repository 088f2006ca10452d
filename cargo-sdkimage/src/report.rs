//! The renderer: what the library emits ([`EventSink`]) -> people (indicatif bars or plain
//! prefixed lines on stderr) and machines (JSON lines on stdout). It only renders; the types
//! it renders are the contract in `output.rs`.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::output::{BuildLog, Counts, Event, EventKind, EventSink, ListEntry, ResultRow};

pub mod diff;

/// How many log lines of a failed image are shown.
pub const TAIL_LINES: usize = 15;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MessageFormat {
    #[default]
    Human,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressRequest {
    #[default]
    Auto,
    Tty,
    Plain,
    None,
}

/// What is actually drawn on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    Bars,
    Plain,
    Off,
}

/// Decided once: `auto` draws bars on a terminal outside CI, else plain lines.
pub fn progress_mode(requested: ProgressRequest, stderr_is_tty: bool, in_ci: bool) -> ProgressMode {
    match requested {
        ProgressRequest::Tty => ProgressMode::Bars,
        ProgressRequest::Plain => ProgressMode::Plain,
        ProgressRequest::None => ProgressMode::Off,
        ProgressRequest::Auto if stderr_is_tty && !in_ci => ProgressMode::Bars,
        ProgressRequest::Auto => ProgressMode::Plain,
    }
}

/// Whether the environment says we run in CI (the variables CI services set).
pub fn in_ci(env: &dyn Fn(&str) -> Option<String>) -> bool {
    [
        "CI",
        "GITHUB_ACTIONS",
        "GITLAB_CI",
        "BUILDKITE",
        "JENKINS_URL",
        "TF_BUILD",
    ]
    .iter()
    .any(|k| env(k).is_some_and(|v| !v.is_empty() && v != "false" && v != "0"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportOptions {
    pub format: MessageFormat,
    pub progress: ProgressMode,
    pub color: bool,
    pub verbose: bool,
    pub quiet: bool,
}

/// Renders events and log lines. Shared by every task of a run.
pub struct Reporter {
    opts: ReportOptions,
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<String, (ProgressBar, Instant)>>,
    tails: Mutex<HashMap<String, VecDeque<String>>>,
    /// The `summary` event, held back so that it is the last line (after an `error`).
    summary: Mutex<Option<String>>,
    /// The first error writing to stdout: the data a caller asked for did not all arrive.
    stdout_error: Mutex<Option<std::io::Error>>,
}

impl Reporter {
    pub fn new(opts: ReportOptions) -> Reporter {
        let multi = (opts.progress == ProgressMode::Bars && !opts.quiet)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Reporter {
            opts,
            multi,
            bars: Mutex::default(),
            tails: Mutex::default(),
            summary: Mutex::default(),
            stdout_error: Mutex::default(),
        }
    }

    pub fn options(&self) -> ReportOptions {
        self.opts
    }

    /// A lifecycle event: JSON on stdout, and the matching progress change on stderr.
    pub fn event(&self, event: &Event) {
        if self.opts.format == MessageFormat::Json {
            let mut line = serde_json::to_string(event).expect("events serialize");
            line.push('\n');
            if event.event == EventKind::Summary {
                *self.summary.lock().expect("summary") = Some(line);
            } else {
                self.out(&line);
            }
        }
        // Errors are printed once, by the caller that ends the run.
        let Some(image) = &event.image else {
            return;
        };
        let label = label_of(event);
        match event.event {
            EventKind::BuildStarted => self.start_bar(image, &label),
            EventKind::CheckPassed | EventKind::CheckFailed => self.check_line(event, &label),
            EventKind::Transferred => {
                let to = event.engine.as_deref().unwrap_or("?");
                let from = event.message.as_deref().unwrap_or("?");
                let took = Duration::from_millis(event.duration_ms.unwrap_or_default());
                self.note(&format!(
                    "moved {label} from {from} to {to}: {} in {}",
                    format_bytes(event.bytes.unwrap_or_default()),
                    format_duration(took)
                ));
            }
            EventKind::Requeued => {
                let message = event.message.clone().unwrap_or_default();
                self.say(&format!(
                    "{} {label}: {message}",
                    self.paint("requeued", "1;33")
                ));
            }
            EventKind::Failed => {
                let tail: Vec<String> = self
                    .tails
                    .lock()
                    .expect("tails")
                    .remove(image)
                    .map(Vec::from)
                    .unwrap_or_default();
                let message = event.message.clone().unwrap_or_default();
                // A failure is an error, not progress: shown under `--progress none` too.
                self.finish_bar(
                    image,
                    &format!("{} {label}: {message}", self.paint("failed", "1;31")),
                    true,
                );
                if tail.iter().any(|l| !l.trim().is_empty())
                    && self.opts.progress != ProgressMode::Plain
                {
                    let mut text = format!("last log lines of {label}:");
                    for line in tail {
                        text.push_str(&format!("\n  | {line}"));
                    }
                    self.say(&text);
                }
            }
            kind => {
                let word = match kind {
                    EventKind::BuildFinished => self.paint("built", "1;32"),
                    EventKind::UpToDate => self.paint("up to date", "1;32"),
                    EventKind::Retagged => self.paint("retagged", "1;32"),
                    EventKind::PushFinished => self.paint("pushed", "1;32"),
                    EventKind::Verified => self.paint("verified", "1;32"),
                    EventKind::Promoted => self.paint("promoted", "1;32"),
                    _ => return,
                };
                let mut line = format!("{word} {label}");
                if let Some(engine) = &event.engine {
                    line.push_str(&format!(" on {engine}"));
                }
                if let Some(d) = event.duration_ms {
                    line.push_str(&format!(
                        " in {}",
                        format_duration(Duration::from_millis(d))
                    ));
                }
                if let Some(digest) = event.digest.as_ref().or(event.id.as_ref()) {
                    line.push_str(&format!(" ({})", short_id(digest)));
                }
                if let Some(m) = &event.message {
                    line.push_str(&format!(": {m}"));
                }
                self.finish_bar(image, &line, false);
            }
        }
    }

    /// One requirement of a contract check (`✓ python:3.11 tool curl: /usr/bin/curl`) and the
    /// output captured for it; a failure is shown under `-q` too.
    fn check_line(&self, event: &Event, label: &str) {
        let passed = event.event == EventKind::CheckPassed;
        let mark = match passed {
            true => self.paint("✓", "1;32"),
            false => self.paint("✗", "1;31"),
        };
        let requirement = event.requirement.as_deref().unwrap_or_default();
        let mut text = format!("  {mark} {label} {requirement}");
        if let Some(m) = &event.message {
            text.push_str(&format!(": {m}"));
        }
        let output = event.output.as_deref().unwrap_or_default().trim_end();
        let lines: Vec<&str> = output.lines().collect();
        for line in &lines[lines.len().saturating_sub(TAIL_LINES)..] {
            text.push_str(&format!("\n      | {line}"));
        }
        if passed {
            self.note(&text)
        } else {
            self.say(&text)
        }
    }

    /// One line of an image's build output.
    pub fn log(&self, image: &str, label: &str, line: BuildLog<'_>) {
        let is_step = matches!(line, BuildLog::Step(_));
        let line = line.text();
        {
            let mut tails = self.tails.lock().expect("tails");
            let tail = tails.entry(image.to_string()).or_default();
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line.to_string());
        }
        match self.opts.progress {
            ProgressMode::Plain if !self.opts.quiet => stderr_line(&format!("[{label}] {line}")),
            ProgressMode::Bars => {
                if let Some((bar, _)) = self.bars.lock().expect("bars").get(image)
                    && (is_step || self.opts.verbose)
                {
                    bar.set_message(truncate(line, 90));
                }
                if self.opts.verbose {
                    self.note(&format!("[{label}] {line}"));
                }
            }
            _ => {}
        }
    }

    /// Progress for people (a prepare step starting, ...): a note, except under
    /// `--progress none`.
    pub fn progress_note(&self, text: &str) {
        if self.opts.progress != ProgressMode::Off {
            self.note(text);
        }
    }

    /// A message for people on stderr, printed above the bars.
    pub fn note(&self, text: &str) {
        if self.opts.quiet && !text.starts_with("error") {
            return;
        }
        self.say(text);
    }

    /// A line on stderr whatever `-q` says (what failed, and why).
    fn say(&self, text: &str) {
        match &self.multi {
            // Bars forced (`--progress tty`) on a stderr that is not a terminal are hidden;
            // messages still go through.
            Some(multi) if !multi.is_hidden() => {
                let _ = multi.println(printable(text));
            }
            _ => stderr_line(text),
        }
    }

    /// Data for stdout. A closed stdout (a pipe whose reader left, as with `| head`) is not an
    /// error of ours; any other failure to write is kept for [`Reporter::finish`].
    pub fn out(&self, text: &str) {
        let written = self.suspend(|| {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes()).and_then(|()| out.flush())
        });
        if let Some(e) = written
            .err()
            .filter(|e| e.kind() != std::io::ErrorKind::BrokenPipe)
        {
            self.stdout_error
                .lock()
                .expect("stdout error")
                .get_or_insert(e);
        }
    }

    /// End the run's machine output: in JSON mode the `error` event of a failed run, then the
    /// held-back `summary`. Fails when anything written to stdout was lost (a full disk, a
    /// closed pipe): automation must not take a partial stream for a whole one.
    pub fn finish(&self, error: Option<&str>) -> std::io::Result<()> {
        if self.opts.format == MessageFormat::Json {
            if let Some(message) = error {
                let event = Event::general(EventKind::Error, Some(message.to_string()));
                self.event(&event);
            }
            if let Some(summary) = self.summary.lock().expect("summary").take() {
                self.out(&summary);
            }
        }
        match self.stdout_error.lock().expect("stdout error").take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Run `f` with the bars cleared (for output that must not interleave with them).
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.multi {
            Some(multi) => multi.suspend(f),
            None => f(),
        }
    }

    fn start_bar(&self, image: &str, label: &str) {
        match &self.multi {
            Some(multi) => {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner:.cyan} {prefix:.bold} [{elapsed}] {wide_msg}",
                    )
                    .expect("valid template"),
                );
                bar.set_prefix(label.to_string());
                bar.set_message("sending context");
                bar.enable_steady_tick(Duration::from_millis(120));
                self.bars
                    .lock()
                    .expect("bars")
                    .insert(image.to_string(), (bar, Instant::now()));
            }
            None if self.opts.progress == ProgressMode::Plain => {
                self.note(&format!("[{label}] building"));
            }
            None => {}
        }
    }

    /// A finished image collapses to one permanent line above the running ones.
    fn finish_bar(&self, image: &str, line: &str, always: bool) {
        let bar = self.bars.lock().expect("bars").remove(image);
        if let (Some((bar, _)), Some(multi)) = (bar, &self.multi) {
            bar.finish_and_clear();
            multi.remove(&bar);
        }
        if always {
            self.say(&format!("  {line}"));
        } else if self.opts.progress != ProgressMode::Off {
            self.note(&format!("  {line}"));
        }
    }

    pub fn paint(&self, text: &str, sgr: &str) -> String {
        if self.opts.color {
            format!("\x1b[{sgr}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// Stop drawing: leaves the terminal clean (used on errors and signals).
    pub fn clear(&self) {
        for (_, (bar, _)) in self.bars.lock().expect("bars").drain() {
            bar.abandon();
        }
        if let Some(multi) = &self.multi {
            let _ = multi.clear();
        }
    }
}

/// One line on stderr; never panics when stderr is closed.
impl EventSink for Reporter {
    fn event(&self, event: &Event) {
        Reporter::event(self, event);
    }

    fn build_log(&self, image: &str, label: &str, line: BuildLog<'_>) {
        self.log(image, label, line);
    }

    fn note(&self, text: &str) {
        Reporter::note(self, text);
    }

    fn progress_note(&self, text: &str) {
        Reporter::progress_note(self, text);
    }

    fn data(&self, text: &str) {
        self.out(text);
    }

    fn json(&self) -> bool {
        self.opts.format == MessageFormat::Json
    }

    /// The `summary` event; for people also the table of images and the totals.
    fn summary(&self, counts: &Counts, rows: Option<&[ResultRow]>, elapsed: Duration) {
        let mut summary = Event::general(EventKind::Summary, None).duration(elapsed);
        summary.counts = Some(counts.clone());
        Reporter::event(self, &summary);
        let Some(rows) = rows else { return };
        if self.opts.format != MessageFormat::Human {
            return;
        }
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
        Reporter::note(
            self,
            &format!(
                "\n{}{} built, {} up to date, {} retagged, {} failed, {} skipped{pushed} in {}",
                table(&["IMAGE", "RESULT", "TIME", "ID"], &table_rows),
                counts.built,
                counts.up_to_date,
                counts.retagged,
                counts.failed,
                counts.skipped,
                format_duration(elapsed)
            ),
        );
    }

    fn clear(&self) {
        Reporter::clear(self);
    }
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

pub fn stderr_line(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{}", printable(text));
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

fn label_of(event: &Event) -> String {
    match (&event.language, &event.variant) {
        (Some(l), Some(v)) => format!("{l}:{v}"),
        (Some(l), None) => l.clone(),
        _ => event.image.clone().unwrap_or_default(),
    }
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

fn truncate(line: &str, max: usize) -> String {
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
fn format_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1_000_000 => format!("{:.1} MB", b as f64 / 1e6),
        b if b >= 1_000 => format!("{} kB", b / 1_000),
        b => format!("{b} B"),
    }
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
    fn progress_is_decided_once_from_tty_ci_and_flag() {
        use ProgressMode::*;
        use ProgressRequest as R;
        assert_eq!(progress_mode(R::Auto, true, false), Bars);
        assert_eq!(progress_mode(R::Auto, true, true), Plain);
        assert_eq!(progress_mode(R::Auto, false, false), Plain);
        assert_eq!(progress_mode(R::Tty, false, true), Bars);
        assert_eq!(progress_mode(R::Plain, true, false), Plain);
        assert_eq!(progress_mode(R::None, true, false), Off);
    }

    #[test]
    fn ci_detection() {
        assert!(in_ci(&|k| (k == "CI").then(|| "true".to_string())));
        assert!(!in_ci(&|k| (k == "CI").then(|| "false".to_string())));
        assert!(!in_ci(&|_| None));
    }

    #[test]
    fn event_json_shape() {
        let e = Event::general(EventKind::UpToDate, None);
        let v: serde_json::Value = serde_json::to_value(&e).unwrap();
        assert_eq!(v["schema"], 1);
        assert_eq!(v["event"], "up-to-date");
        assert!(v["image"].is_null() && v["variant"].is_null());
        assert!(v.get("digest").is_none());
        let back: Event = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn table_aligns() {
        let t = table(&["a", "bb"], &[vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "a    bb\nxxx  y\n");
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
    }
}
