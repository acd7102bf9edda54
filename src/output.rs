//! The printer: the only place that writes to stdout and stderr.
//!
//! A subcommand builds a [`Report`] (a serde-serializable struct that can also render itself as
//! text) and hands it to [`Printer::emit`]. Text output is the report's body followed by its
//! marker row; `--quiet` prints nothing on a passing run and the problem lines plus the marker row
//! on a failing one; `--marker-only` prints just the marker row; `--format json` prints one
//! document with the same facts plus `tool`, `status` and `marker`. Results go to stdout, diagnostics to stderr.

#![allow(clippy::print_stderr)]
#![allow(
    clippy::disallowed_methods,
    reason = "output.rs is the printer, the one writer to stdout and stderr (clippy.toml)"
)]

use std::fmt;
use std::io::{self, IsTerminal, Write};

use serde::Serialize;

use crate::cli::{ColorChoice, Format};
use crate::outcome::{Exit, Located, Verdict};

/// The last line of every text output: `| <tool> | OK | <KEY>=<VALUE> |`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    pub tool: &'static str,
    pub verdict: Verdict,
    pub key: &'static str,
    pub value: String,
}

impl Marker {
    pub fn new(tool: &'static str, verdict: Verdict, key: &'static str, value: impl Into<String>) -> Marker {
        Marker { tool, verdict, key, value: value.into() }
    }

    /// `KEY=VALUE`, the part CI greps for.
    pub fn assignment(&self) -> String {
        format!("{}={}", self.key, self.value)
    }
}

impl fmt::Display for Marker {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "| {} | {} | {} |", self.tool, self.verdict.label(), self.assignment())
    }
}

/// What a subcommand prints. The serialized form must be a JSON object: it is the `--format json`
/// document, to which the printer adds `tool`, `status` and `marker`.
pub trait Report: Serialize {
    /// The closing marker row; its verdict decides exit 0 or 1.
    fn marker(&self) -> Marker;

    /// The human-readable body printed before the marker row (skipped by `--marker-only`, and by
    /// `--quiet` on a passing run).
    fn write_text(&self, out: &mut dyn Write, style: &Style) -> io::Result<()>;

    /// What `--quiet` prints of a failing run before the marker row: the lines that say what is
    /// wrong. The whole body unless a report has a shorter way to say it.
    fn write_problems(&self, out: &mut dyn Write, style: &Style) -> io::Result<()> {
        self.write_text(out, style)
    }
    /// Whether the `--format json` document is written while it is serialized (fields in
    /// declaration order, then `tool`, `status`, `marker`) instead of built in memory first with
    /// sorted keys: for reports with a row per file, where the in-memory document cost 7× the
    /// text output's peak memory at a million files.
    fn streams_json(&self) -> bool {
        false
    }
}

/// The streamed form of a report's JSON document.
#[derive(Serialize)]
struct StreamedDocument<'a, R> {
    #[serde(flatten)]
    report: &'a R,
    tool: &'a str,
    status: &'a str,
    marker: String,
}

/// Colour for one stream, decided once.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    color: bool,
}

impl Style {
    pub fn plain() -> Style {
        Style { color: false }
    }

    /// Colour when asked to, or on a terminal with `NO_COLOR` unset or empty and `TERM` not `dumb`.
    pub fn detect(choice: ColorChoice, is_terminal: bool) -> Style {
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                is_terminal
                    && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
                    && std::env::var_os("TERM").is_none_or(|term| term != "dumb")
            }
        };
        Style { color }
    }

    pub fn is_colored(&self) -> bool {
        self.color
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() }
    }

    pub fn good(&self, text: &str) -> String {
        self.paint("32", text)
    }

    pub fn bad(&self, text: &str) -> String {
        self.paint("31", text)
    }

    pub fn warning(&self, text: &str) -> String {
        self.paint("33", text)
    }

    pub fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }

    pub fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }

    /// Green for a pass, red for a fail.
    pub fn verdict(&self, verdict: Verdict, text: &str) -> String {
        match verdict {
            Verdict::Pass => self.good(text),
            Verdict::Fail | Verdict::Interrupted => self.bad(text),
        }
    }
}

/// Writes results to stdout and diagnostics to stderr, honouring `--format`, `--quiet` and colour.
#[derive(Debug, Clone)]
pub struct Printer {
    format: Format,
    quiet: bool,
    marker_only: bool,
    stdout_style: Style,
    stderr_style: Style,
    stderr_is_terminal: bool,
}

impl Printer {
    pub fn new(format: Format, quiet: bool, color: ColorChoice) -> Printer {
        let stderr_is_terminal = io::stderr().is_terminal();
        Printer {
            format,
            quiet,
            marker_only: false,
            stdout_style: Style::detect(color, io::stdout().is_terminal()),
            stderr_style: Style::detect(color, stderr_is_terminal),
            stderr_is_terminal,
        }
    }

    /// `--marker-only`: the marker row alone, pass or fail; warnings and notes suppressed.
    pub fn with_marker_only(mut self, marker_only: bool) -> Printer {
        self.marker_only = marker_only;
        self
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// `--quiet` or `--marker-only`: no warnings, notes or progress.
    pub fn is_quiet(&self) -> bool {
        self.quiet || self.marker_only
    }

    /// Whether progress bars may be drawn: stderr is a terminal and output is not quiet.
    pub fn shows_progress(&self) -> bool {
        self.stderr_is_terminal && !self.is_quiet()
    }

    /// Prints the report and returns its verdict. A closed stdout (`mmops … | head`) is not an
    /// error: the verdict still decides the exit code.
    pub fn emit<R: Report>(&self, report: &R) -> anyhow::Result<Verdict> {
        let marker = report.marker();
        let mut stdout = io::stdout().lock();
        let written = match self.format {
            Format::Json if report.streams_json() => {
                let document = StreamedDocument {
                    report,
                    tool: marker.tool,
                    status: marker.verdict.label(),
                    marker: marker.assignment(),
                };
                let mut buffered = io::BufWriter::with_capacity(64 * 1024, &mut stdout);
                serde_json::to_writer_pretty(&mut buffered, &document)
                    .map_err(io::Error::from)
                    .and_then(|()| writeln!(buffered))
                    .and_then(|()| buffered.flush())
            }
            Format::Json => {
                let document = json_document(report, &marker)?;
                writeln!(stdout, "{document}")
            }
            Format::Text => self.write_text(&mut stdout, report, &marker),
        };
        match written.and_then(|()| stdout.flush()) {
            Err(error) if error.kind() != io::ErrorKind::BrokenPipe => {
                Err(anyhow::Error::new(error).context("cannot write to stdout"))
            }
            _ => Ok(marker.verdict),
        }
    }

    fn write_text<R: Report>(&self, out: &mut dyn Write, report: &R, marker: &Marker) -> io::Result<()> {
        if self.quiet && marker.verdict.passed() {
            return Ok(());
        }
        if self.quiet {
            report.write_problems(out, &self.stdout_style)?;
        } else if !self.marker_only {
            report.write_text(out, &self.stdout_style)?;
        }
        let row = marker.to_string();
        writeln!(out, "{}", self.stdout_style.verdict(marker.verdict, &row))
    }

    /// A warning on stderr (`mmops: warning: …`); suppressed by `--quiet`.
    pub fn warn(&self, message: impl fmt::Display) {
        if !self.is_quiet() {
            let label = self.stderr_style.warning("warning:");
            let message = crate::sanitize::bounded_message(&message.to_string());
            let _ = writeln!(io::stderr().lock(), "mmops: {label} {message}");
        }
    }

    /// A problem the run survived but that makes it fail (a file that could not be deleted);
    /// always printed, even with `--quiet`.
    pub fn problem(&self, message: impl fmt::Display) {
        let label = self.stderr_style.bad("error:");
        let message = crate::sanitize::bounded_message(&message.to_string());
        let _ = writeln!(io::stderr().lock(), "mmops: {label} {message}");
    }

    /// A progress note on stderr (`mmops: …`), for long runs; suppressed by `--quiet` and in JSON mode.
    pub fn note(&self, message: impl fmt::Display) {
        if !self.is_quiet() && self.format == Format::Text {
            let _ = writeln!(io::stderr().lock(), "mmops: {message}");
        }
    }

    /// A raw line on stderr for CI systems (GitHub `::error::` workflow commands), printed as is,
    /// even with `--quiet` and in JSON mode (stdout stays one document).
    pub fn annotation(&self, line: &str) {
        let _ = writeln!(io::stderr().lock(), "{line}");
    }

    /// The one line printed for an error that ended the run: the message and its cause chain.
    /// With `--format json`, stdout also gets a JSON document saying so, so `mmops … | jq` never
    /// reads an empty stdout.
    pub fn fatal(&self, error: &anyhow::Error, exit: Exit) {
        let label = self.stderr_style.bad("error:");
        let line = error_line(error);
        let _ = writeln!(io::stderr().lock(), "mmops: {label} {line}");
        let reported = error.chain().any(|cause| cause.is::<crate::outcome::Reported>());
        if self.format == Format::Json && !reported {
            let location = error.chain().find_map(|cause| cause.downcast_ref::<Located>());
            let _ = writeln!(io::stdout().lock(), "{}", error_document(&line, exit, location));
        }
    }
}

/// The `--format json` document of a run that could not start or failed with an error.
pub fn error_document(message: &str, exit: Exit, location: Option<&Located>) -> String {
    let location = location.map(
        |located| serde_json::json!({"file": located.file, "line": located.line, "column": located.column}),
    );
    let status = if exit == Exit::Interrupted { "interrupted" } else { "error" };
    let document = serde_json::json!({
        "status": status,
        "exit_code": exit.code(),
        "error": message,
        "location": location,
    });
    serde_json::to_string_pretty(&document).unwrap_or_default()
}

/// A command-line error from clap: its own text on stderr (or help/version on stdout, exit 0),
/// and with `--format json` among the arguments also the JSON error document on stdout.
pub fn command_line_error(error: clap::Error) -> std::process::ExitCode {
    use clap::error::ErrorKind;
    if matches!(error.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = error.print();
        return std::process::ExitCode::SUCCESS;
    }
    let _ = error.print();
    if wants_json(std::env::args_os().skip(1)) {
        let message =
            error.kind().as_str().map_or_else(|| "invalid command line".to_string(), str::to_string);
        let summary = clap_error_summary(&error.render().to_string());
        let summary = if summary.is_empty() { message } else { summary };
        let _ = writeln!(io::stdout().lock(), "{}", error_document(&summary, Exit::Usage, None));
    }
    Exit::Usage.into()
}

/// clap's message up to its first blank line, on one line: "the following required arguments were
/// not provided: --input <FILE>", not just the first line that names nothing.
fn clap_error_summary(rendered: &str) -> String {
    rendered
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
        .trim_start_matches("error: ")
        .to_string()
}

/// Whether the raw arguments ask for `--format json` (clap could not parse them, so they are
/// read by hand).
fn wants_json(args: impl Iterator<Item = std::ffi::OsString>) -> bool {
    let args: Vec<std::ffi::OsString> = args.collect();
    args.iter().enumerate().any(|(index, arg)| {
        arg == "--format=json"
            || (arg == "--format" && args.get(index + 1).is_some_and(|next| next == "json"))
    })
}

/// Writes a generated document (a completion script, a man page) to stdout byte for byte, for
/// the commands whose output is that document and nothing else. A closed pipe is a normal end.
pub fn write_verbatim(bytes: &[u8]) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// `outer: cause: root cause`, with repeated texts dropped (a context that already quotes its
/// source is not printed twice), bounded by [`crate::sanitize::bounded_message`]: however large
/// the input a message quotes, the line stays short.
pub fn error_line(error: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|previous| previous.contains(&text)) {
            parts.push(text);
        }
    }
    crate::sanitize::bounded_message(&parts.join(": "))
}

/// The `--format json` document: the report's fields plus `tool`, `status` and `marker`,
/// pretty-printed, keys sorted (serde_json's map is ordered), so the bytes are stable.
pub fn json_document<R: Report>(report: &R, marker: &Marker) -> anyhow::Result<String> {
    let mut value = serde_json::to_value(report)?;
    let object =
        value.as_object_mut().ok_or_else(|| anyhow::anyhow!("a report must serialize to a JSON object"))?;
    object.insert("tool".into(), marker.tool.into());
    object.insert("status".into(), marker.verdict.label().into());
    object.insert("marker".into(), marker.assignment().into());
    Ok(serde_json::to_string_pretty(&value)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Sample {
        count: u32,
    }

    impl Report for Sample {
        fn marker(&self) -> Marker {
            Marker::new("sample", Verdict::from_passed(self.count == 0), "SAMPLE", "X")
        }

        fn write_text(&self, out: &mut dyn Write, _style: &Style) -> io::Result<()> {
            writeln!(out, "count {}", self.count)
        }
    }

    #[test]
    fn marker_row_format() {
        let marker = Marker::new("cron_sentinel", Verdict::Pass, "CRON_SENTINEL", "OK");
        assert_eq!(marker.to_string(), "| cron_sentinel | OK | CRON_SENTINEL=OK |");
        let marker = Marker::new("make_ready", Verdict::Fail, "MAKE_READY", "BLOCKED");
        assert_eq!(marker.to_string(), "| make_ready | FAIL | MAKE_READY=BLOCKED |");
    }

    #[test]
    fn json_document_adds_status_and_marker() {
        let report = Sample { count: 2 };
        let document = json_document(&report, &report.marker()).unwrap();
        let value: serde_json::Value = serde_json::from_str(&document).unwrap();
        assert_eq!(value["status"], "FAIL");
        assert_eq!(value["marker"], "SAMPLE=X");
        assert_eq!(value["tool"], "sample");
        assert_eq!(value["count"], 2);
    }

    #[test]
    fn text_is_body_then_marker() {
        let report = Sample { count: 0 };
        let printer = Printer::new(Format::Text, false, ColorChoice::Never);
        let mut out = Vec::new();
        printer.write_text(&mut out, &report, &report.marker()).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "count 0\n| sample | OK | SAMPLE=X |\n");
    }

    #[test]
    fn quiet_is_silent_on_a_pass_and_marker_only_keeps_the_row() {
        let mut printer = Printer::new(Format::Text, true, ColorChoice::Never);
        let passing = Sample { count: 0 };
        let mut out = Vec::new();
        printer.write_text(&mut out, &passing, &passing.marker()).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "");
        let failing = Sample { count: 3 };
        let mut out = Vec::new();
        printer.write_text(&mut out, &failing, &failing.marker()).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "count 3\n| sample | FAIL | SAMPLE=X |\n");
        printer = Printer::new(Format::Text, false, ColorChoice::Never).with_marker_only(true);
        for report in [passing, failing] {
            let mut out = Vec::new();
            printer.write_text(&mut out, &report, &report.marker()).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), format!("{}\n", report.marker()));
        }
    }

    #[test]
    fn error_documents_carry_code_and_location() {
        let located = Located { file: "c.yaml".into(), line: 4, column: 5, message: "unknown field".into() };
        let document: serde_json::Value =
            serde_json::from_str(&error_document("c.yaml:4:5: unknown field", Exit::Usage, Some(&located)))
                .unwrap();
        assert_eq!(
            document,
            serde_json::json!({"status": "error", "exit_code": 2, "error": "c.yaml:4:5: unknown field",
                "location": {"file": "c.yaml", "line": 4, "column": 5}})
        );
        assert_eq!(
            clap_error_summary(
                "error: the following required arguments were not provided:\n  --input <FILE>\n\nUsage: mmops edge-sim --input <FILE>\n"
            ),
            "the following required arguments were not provided: --input <FILE>"
        );
        assert!(wants_json(["--format", "json", "rotate"].iter().map(std::ffi::OsString::from)));
        assert!(wants_json(["rotate", "--format=json"].iter().map(std::ffi::OsString::from)));
        assert!(!wants_json(["--format", "text"].iter().map(std::ffi::OsString::from)));
    }

    #[test]
    fn error_line_joins_causes_once() {
        let error = anyhow::anyhow!("root").context("cannot read x").context("cannot load config");
        assert_eq!(error_line(&error), "cannot load config: cannot read x: root");
    }
}
