//! The renderer: what the library emits ([`EventSink`]) -> people (indicatif bars or plain
//! prefixed lines on stderr) and machines (JSON lines on stdout). It only renders; the types
//! it renders are the contract in `output.rs`. What the lines say is `human.rs`; the JSON
//! lines are `json.rs`; this module decides where and when they are drawn.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::output::{
    BuildLog, Counts, Event, EventKind, EventSink, Note, ResultRow, event, millis,
};

pub mod diff;
pub mod human;
pub mod json;
#[cfg(test)]
mod snapshot_tests;

pub use human::{TAIL_LINES, format_duration, list_table, printable, short_id, table};

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

/// Where the rendered text goes: the process's stdout and stderr, or (for tests) a buffer.
enum Streams {
    Std,
    Captured(Arc<Mutex<Captured>>),
}

/// What a capturing [`Reporter`] was given to print (see [`Reporter::capturing`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Captured {
    pub stdout: String,
    pub stderr: String,
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
    streams: Streams,
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
            streams: Streams::Std,
        }
    }

    /// A reporter that draws no bars and keeps what it would print in the returned buffer
    /// (the snapshot tests of the human output).
    pub fn capturing(opts: ReportOptions) -> (Reporter, Arc<Mutex<Captured>>) {
        let captured = Arc::new(Mutex::new(Captured::default()));
        let mut reporter = Reporter::new(opts);
        reporter.multi = None;
        reporter.streams = Streams::Captured(captured.clone());
        (reporter, captured)
    }

    pub fn options(&self) -> ReportOptions {
        self.opts
    }

    /// A lifecycle event: JSON on stdout, and the matching progress change on stderr.
    pub fn event(&self, event: &Event) {
        if self.opts.format == MessageFormat::Json {
            let line = json::event_line(event);
            if event.kind() == EventKind::Summary {
                *self.summary.lock().expect("summary") = Some(line);
            } else {
                self.out(&line);
            }
        }
        // Errors are printed once, by the caller that ends the run.
        let Some(image) = event.image() else {
            return;
        };
        let color = self.opts.color;
        let label = human::label_of(event);
        match event {
            Event::BuildStarted(_) => self.start_bar(image, &label),
            Event::CheckPassed(c) => self.note_text(&human::check(color, true, c, &label)),
            // A failed requirement is shown under `-q` too.
            Event::CheckFailed(c) => self.say(&human::check(color, false, c, &label)),
            Event::Transferred(moved) => self.note_text(&human::transferred(moved, &label)),
            Event::Requeued(r) => self.say(&human::requeued(color, r, &label)),
            Event::Failed(failed) => {
                let tail: Vec<String> = self
                    .tails
                    .lock()
                    .expect("tails")
                    .remove(image)
                    .map(Vec::from)
                    .unwrap_or_default();
                // A failure is an error, not progress: shown under `--progress none` too.
                self.finish_bar(image, &human::failed(color, failed, &label), true);
                if self.opts.progress != ProgressMode::Plain
                    && let Some(text) = human::tail(&label, &tail)
                {
                    self.say(&text);
                }
            }
            _ => {
                if let Some(line) = human::done(color, event, &label) {
                    self.finish_bar(image, &line, false);
                }
            }
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
            ProgressMode::Plain if !self.opts.quiet => self.err_line(&human::log_line(label, line)),
            ProgressMode::Bars => {
                if let Some((bar, _)) = self.bars.lock().expect("bars").get(image)
                    && (is_step || self.opts.verbose)
                {
                    bar.set_message(human::truncate(line, 90));
                }
                if self.opts.verbose {
                    self.note_text(&human::log_line(label, line));
                }
            }
            _ => {}
        }
    }

    /// A note for people, rendered: progress ones (a prepare step starting, ...) are silent
    /// under `--progress none`.
    pub fn note(&self, note: Note) {
        if note.is_progress() && self.opts.progress == ProgressMode::Off {
            return;
        }
        self.note_text(&human::note(&note));
    }

    /// A message for people on stderr, printed above the bars (silent under `-q`).
    fn note_text(&self, text: &str) {
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
            _ => self.err_line(text),
        }
    }

    /// One line on stderr (or the capture).
    fn err_line(&self, text: &str) {
        match &self.streams {
            Streams::Std => stderr_line(text),
            Streams::Captured(c) => {
                let mut c = c.lock().expect("captured");
                c.stderr.push_str(&printable(text));
                c.stderr.push('\n');
            }
        }
    }

    /// Data for stdout. A closed stdout (a pipe whose reader left, as with `| head`) is not an
    /// error of ours; any other failure to write is kept for [`Reporter::finish`].
    pub fn out(&self, text: &str) {
        if let Streams::Captured(c) = &self.streams {
            c.lock().expect("captured").stdout.push_str(text);
            return;
        }
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
                self.event(&Event::Error(event::RunError {
                    message: message.to_string(),
                }));
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

    /// The final error of a run on stderr, whatever `-q` says (the caller clears the bars).
    pub fn error(&self, text: &str) {
        for line in human::error(self.opts.color, text) {
            self.err_line(&line);
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
                self.note_text(&human::started(label));
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
            self.say(&human::finished_line(line));
        } else if self.opts.progress != ProgressMode::Off {
            self.note_text(&human::finished_line(line));
        }
    }

    pub fn paint(&self, text: &str, sgr: &str) -> String {
        human::paint(self.opts.color, text, sgr)
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

impl EventSink for Reporter {
    fn event(&self, event: &Event) {
        Reporter::event(self, event);
    }

    fn build_log(&self, image: &str, label: &str, line: BuildLog<'_>) {
        self.log(image, label, line);
    }

    fn note(&self, note: Note) {
        Reporter::note(self, note);
    }

    fn data(&self, text: &str) {
        self.out(text);
    }

    fn json(&self) -> bool {
        self.opts.format == MessageFormat::Json
    }

    /// The `summary` event; for people also the table of images and the totals.
    fn summary(&self, counts: &Counts, rows: Option<&[ResultRow]>, elapsed: Duration) {
        let summary = Event::Summary(event::Summary {
            duration_ms: millis(elapsed),
            counts: counts.clone(),
        });
        Reporter::event(self, &summary);
        let Some(rows) = rows else { return };
        if self.opts.format != MessageFormat::Human {
            return;
        }
        Reporter::note_text(self, &human::summary(counts, rows, elapsed));
    }

    fn clear(&self) {
        Reporter::clear(self);
    }
}

/// One line on stderr; never panics when stderr is closed.
pub fn stderr_line(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{}", printable(text));
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
