//! The pre-live pack runner: steps run on `jobs` worker threads; each external step runs under
//! the step launcher (`launcher.rs`) in its own process group, so a timeout, an interrupt or the
//! death of make-ready kills it with everything it started. Its output is captured bounded
//! (`capture.rs`). Judging a step (pass, waived, fail) is pure and separate from running it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::capture::Capture;
use super::checks;
use super::config::{Action, Step, Waiver};
use super::launcher;
use crate::output::Printer;

/// How many output lines a failing step shows.
pub(crate) const TAIL_LINES: usize = 20;
/// How often a running step is polled for exit or timeout.
const POLL: Duration = Duration::from_millis(5);
/// How long a launcher told to stop may take to kill its step's tree before its group is killed.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// How long the output pipe may stay open after the step's tree is gone.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub(crate) enum StepStatus {
    Ok,
    Fail,
    Waived,
    /// Failed, but the step is `report_only`: shown, never blocks.
    #[serde(rename = "REPORT_ONLY")]
    ReportOnly,
}

impl StepStatus {
    pub(crate) fn label(self) -> &'static str {
        match self {
            StepStatus::Ok => "OK",
            StepStatus::Fail => "FAIL",
            StepStatus::Waived => "WAIVED",
            StepStatus::ReportOnly => "REPORT_ONLY",
        }
    }
}

/// What running a step produced, before judging.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outcome {
    pub passed: bool,
    pub exit_code: Option<i32>,
    /// Why it failed: `exit 1`, `timed out after 5s`, `cannot start: …`, `3 findings`.
    pub reason: Option<String>,
    pub output: Captured,
    pub duration: Duration,
    /// Every attempt when the step has `retries` (empty otherwise).
    pub attempts: Vec<Attempt>,
}

/// One attempt of a retried step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Attempt {
    /// Seconds, millisecond precision.
    pub duration: f64,
    pub exit_code: Option<i32>,
    /// Why it failed; `None` = passed.
    pub reason: Option<String>,
}

/// Bounded output: the kept text (head, elision note, tail) and how many bytes there were.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Captured {
    pub text: String,
    pub bytes: u64,
    pub elided_bytes: u64,
}

impl Captured {
    fn from_text(text: String) -> Captured {
        Captured { bytes: text.len() as u64, text, elided_bytes: 0 }
    }
}

/// One step's row in every output.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct StepResult {
    pub name: String,
    pub status: StepStatus,
    /// Seconds, millisecond precision.
    pub duration: f64,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    /// Waiver in force, or a note that an expired one was ignored.
    pub waiver: Option<String>,
    pub output_tail: Vec<String>,
    /// Bytes the step wrote, and how many of them were counted but not kept.
    pub output_bytes: u64,
    pub output_elided_bytes: u64,
    /// The kept output (first and last 64 KiB) for JUnit; not in the JSON report.
    #[serde(skip)]
    pub output: String,
    /// Each attempt, when the step has `retries`: a flaky pass stays visible.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Attempt>,
}

impl StepResult {
    /// The notes shown after a step's row: why it failed, its waiver, its attempts, report-only.
    pub(crate) fn notes(&self) -> Vec<String> {
        let mut notes: Vec<String> =
            [self.reason.clone(), self.waiver.clone()].into_iter().flatten().collect();
        if self.attempts.len() > 1 {
            let each: Vec<&str> =
                self.attempts.iter().map(|attempt| attempt.reason.as_deref().unwrap_or("OK")).collect();
            notes.push(format!("{} attempts: {}", self.attempts.len(), each.join(", ")));
        }
        if self.status == StepStatus::ReportOnly {
            notes.push("report only: does not block".into());
        }
        notes
    }
}

/// Pass, waived or fail: a failure is waived only while the waiver has not ended (a
/// `YYYY-MM-DD` holds through that UTC day).
pub(crate) fn judge(step: &Step, outcome: Outcome, now: DateTime<Utc>) -> StepResult {
    let (status, waiver) = match (&outcome.passed, &step.waiver) {
        (true, _) => (StepStatus::Ok, None),
        (false, _) if step.report_only => (StepStatus::ReportOnly, None),
        (false, None) => (StepStatus::Fail, None),
        (false, Some(Waiver { ends, until, reason })) if now < *ends => {
            (StepStatus::Waived, Some(format!("waived until {until}: {reason}")))
        }
        (false, Some(Waiver { until, .. })) => {
            (StepStatus::Fail, Some(format!("waiver expired on {until} and is ignored")))
        }
    };
    StepResult {
        name: step.name.clone(),
        status,
        duration: (outcome.duration.as_secs_f64() * 1000.0).round() / 1000.0,
        exit_code: outcome.exit_code,
        reason: outcome.reason,
        waiver,
        output_tail: tail(&outcome.output.text, TAIL_LINES),
        output_bytes: outcome.output.bytes,
        output_elided_bytes: outcome.output.elided_bytes,
        output: outcome.output.text,
        attempts: outcome.attempts,
    }
}

/// The last `count` non-empty lines, control characters escaped.
pub(crate) fn tail(output: &str, count: usize) -> Vec<String> {
    let lines: Vec<&str> = output.lines().filter(|line| !line.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(count)..]
        .iter()
        .map(|line| defuse_markers(&crate::sanitize::display_text(line, false)))
        .collect()
}

/// make-ready's own marker keys, which CI greps for (`grep MAKE_READY=OK`, as documented).
const OWN_MARKER_KEYS: [&str; 3] = ["MAKE_READY=", "READINESS=", "PRE_LIVE_PACK="];

/// A step's quoted output must not carry make-ready's verdict: a failing step that prints
/// `MAKE_READY=OK` would otherwise satisfy that grep on a BLOCKED run. `KEY=` becomes `KEY\=`.
fn defuse_markers(line: &str) -> String {
    let mut line = line.to_string();
    for key in OWN_MARKER_KEYS {
        if line.contains(key) {
            line = line.replace(key, &format!("{}\\=", &key[..key.len() - 1]));
        }
    }
    line
}

/// Runs every step, `jobs` at a time, and returns results in config order.
/// `interrupted` is set by SIGINT/SIGTERM: running steps are killed with their groups and no new
/// step starts (their process groups would otherwise outlive a cancelled CI job).
pub(crate) fn run_all(
    steps: &[Step],
    jobs: usize,
    now: DateTime<Utc>,
    printer: &Printer,
    interrupted: &AtomicBool,
) -> Vec<StepResult> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<StepResult>>> = Mutex::new(vec![None; steps.len()]);
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, steps.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some(step) = steps.get(index) else { break };
                    let outcome = if interrupted.load(Ordering::SeqCst) {
                        Outcome {
                            passed: false,
                            exit_code: None,
                            reason: Some("not started: interrupted".into()),
                            output: Captured::default(),
                            duration: Duration::ZERO,
                            attempts: Vec::new(),
                        }
                    } else {
                        run_step(step, interrupted)
                    };
                    let result = judge(step, outcome, now);
                    printer.note(format!(
                        "  {} {} ({:.2}s)",
                        step.name,
                        result.status.label(),
                        result.duration
                    ));
                    results.lock().unwrap_or_else(|poison| poison.into_inner())[index] = Some(result);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|poison| poison.into_inner())
        .into_iter()
        .map(|result| result.expect("every step index is taken by exactly one worker"))
        .collect()
}

/// Runs a step, and again after a failure up to `retries` times (`retry_delay` apart, never
/// after an interrupt). The last attempt decides; every attempt is recorded when retries are on.
fn run_step(step: &Step, interrupted: &AtomicBool) -> Outcome {
    let started = crate::clock::monotonic();
    let mut attempts = Vec::new();
    let mut attempt = 0u32;
    loop {
        let outcome = run_once(step, interrupted);
        if step.retries > 0 {
            attempts.push(Attempt {
                duration: (outcome.duration.as_secs_f64() * 1000.0).round() / 1000.0,
                exit_code: outcome.exit_code,
                reason: outcome.reason.clone(),
            });
        }
        // The attempt count, not `attempts` (empty without retries), bounds the loop.
        let last = outcome.passed || attempt >= step.retries || !pause(step.retry_delay, interrupted);
        if last {
            return Outcome { duration: started.elapsed(), attempts, ..outcome };
        }
        attempt += 1;
    }
}

/// Sleeps `delay` unless interrupted first; returns whether to go on.
fn pause(delay: Duration, interrupted: &AtomicBool) -> bool {
    let started = crate::clock::monotonic();
    while started.elapsed() < delay {
        if interrupted.load(Ordering::SeqCst) {
            return false;
        }
        std::thread::sleep(POLL.min(delay.saturating_sub(started.elapsed())));
    }
    !interrupted.load(Ordering::SeqCst)
}

fn run_once(step: &Step, interrupted: &AtomicBool) -> Outcome {
    let started = crate::clock::monotonic();
    let finished = |passed: bool, exit_code: Option<i32>, reason: Option<String>, output: Captured| Outcome {
        passed,
        exit_code,
        reason,
        output,
        duration: started.elapsed(),
        attempts: Vec::new(),
    };
    let findings = |result: anyhow::Result<Vec<String>>| match result {
        Ok(lines) if lines.is_empty() => finished(true, None, None, Captured::default()),
        Ok(lines) => {
            let reason = crate::units::count_noun(lines.len() as u64, "finding");
            finished(false, None, Some(reason), Captured::from_text(lines.join("\n")))
        }
        Err(error) => finished(
            false,
            None,
            Some("cannot run the check".into()),
            Captured::from_text(crate::output::error_line(&error)),
        ),
    };
    match &step.action {
        Action::RollbackVsAlerts { alerts, policy } => findings(checks::rollback_vs_alerts(alerts, policy)),
        Action::SecretScan { files: Some(files) } => findings(Ok(checks::secret_scan(files))),
        Action::SecretScan { files: None } => {
            findings(bundle_files(interrupted).map(|files| checks::secret_scan(&files)))
        }
        Action::Command { argv, dir, timeout } => {
            let (exit_code, reason, output) = run_command(argv, dir.as_deref(), *timeout, interrupted);
            finished(reason.is_none(), exit_code, reason, output)
        }
    }
}

/// The files `mmops bundle` would pack, asked of `mmops bundle --dry-run --format json
/// --no-reports` as a child like any other step: the bundle config stays bundle's business, and
/// the scan follows it (globs, `required`) with no copy of the list to keep in step. Reports are
/// left out: they are this run's and the soak's outputs, not repository files.
fn bundle_files(interrupted: &AtomicBool) -> anyhow::Result<Vec<PathBuf>> {
    #[derive(serde::Deserialize)]
    struct DryRun {
        files: Vec<DryRunFile>,
    }
    #[derive(serde::Deserialize)]
    struct DryRunFile {
        path: String,
    }
    let argv: Vec<String> =
        ["mmops", "bundle", "--dry-run", "--no-reports", "--format", "json"].map(String::from).into();
    let (_, reason, output) = run_command(&argv, None, Duration::from_secs(120), interrupted);
    let shown = || crate::sanitize::display_text(output.text.trim(), false);
    if let Some(reason) = reason {
        anyhow::bail!("cannot list the bundle's files with `mmops bundle --dry-run`: {reason}: {}", shown());
    }
    if output.elided_bytes > 0 {
        anyhow::bail!(
            "the bundle's file list from `mmops bundle --dry-run` is too large ({} bytes)",
            output.bytes
        );
    }
    let dry_run: DryRun = serde_json::from_str(&output.text).map_err(|error| {
        anyhow::anyhow!("cannot read the bundle's file list from `mmops bundle --dry-run`: {error}")
    })?;
    // MANIFEST.json and RELEASE_SUMMARY.md are written by bundle itself, never read from disk.
    Ok(dry_run
        .files
        .into_iter()
        .map(|file| file.path)
        .filter(|path| path != "MANIFEST.json" && path != "RELEASE_SUMMARY.md")
        .map(PathBuf::from)
        .collect())
}

/// Runs argv through the step launcher, in its own process group, with stdout+stderr captured
/// bounded through one pipe. Returns the exit code, the failure reason (None = success) and the
/// output.
fn run_command(
    argv: &[String],
    dir: Option<&Path>,
    timeout: Duration,
    interrupted: &AtomicBool,
) -> (Option<i32>, Option<String>, Captured) {
    use std::os::unix::process::CommandExt;

    let cannot = |why: String| (None, Some(why), Captured::default());
    let myself = match std::env::current_exe() {
        Ok(path) => path,
        Err(error) => return cannot(format!("cannot start: cannot locate mmops itself: {error}")),
    };
    let program = match argv[0].as_str() {
        "mmops" => myself.clone().into_os_string(),
        other => other.into(),
    };
    let (reader, writer) = match std::io::pipe() {
        Ok(pair) => pair,
        Err(error) => return cannot(format!("cannot start: cannot create an output pipe: {error}")),
    };
    let writer_too = match writer.try_clone() {
        Ok(writer) => writer,
        Err(error) => return cannot(format!("cannot start: cannot share the output pipe: {error}")),
    };
    let mut command = Command::new(&myself);
    command
        .arg(launcher::LAUNCHER)
        .arg("--parent")
        .arg(std::process::id().to_string())
        .arg("--")
        .arg(&program)
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer_too)
        .process_group(0);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let spawned = command.spawn();
    // Our copies of the write end must close, or the reader never sees the end of the output.
    drop(command);
    let mut child = match spawned {
        Ok(child) => child,
        Err(error) => {
            let place = dir.map(|dir| format!(" in {}", dir.display())).unwrap_or_default();
            return cannot(format!("cannot start {}{place}: {error}", argv[0]));
        }
    };
    let capture = Arc::new(Mutex::new(Capture::default()));
    let (done_sender, done) = std::sync::mpsc::channel::<()>();
    {
        let capture = Arc::clone(&capture);
        let mut reader = reader;
        // Detached on purpose: if something still holds the pipe open after the step's tree is
        // gone, we stop waiting for it (DRAIN_GRACE) rather than hang.
        std::thread::spawn(move || {
            Capture::read_all(&mut reader, &capture);
            let _ = done_sender.send(());
        });
    }
    let launcher_pid = rustix::process::Pid::from_child(&child);
    let started = crate::clock::monotonic();
    let stop = |child: &mut std::process::Child| {
        // The launcher kills and reaps the step's whole tree (setsid escapees too) on SIGHUP;
        // the group kill is the fallback should it not finish in time.
        let _ = rustix::process::kill_process(launcher_pid, launcher::STOP_SIGNAL);
        let asked = crate::clock::monotonic();
        while asked.elapsed() < STOP_GRACE {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(POLL);
        }
        let _ = rustix::process::kill_process_group(launcher_pid, rustix::process::Signal::KILL);
        let _ = child.wait();
    };
    let (exit_code, reason) = loop {
        match child.try_wait() {
            Ok(Some(status)) => break judge_exit(&status),
            Ok(None) if started.elapsed() >= timeout => {
                stop(&mut child);
                break (
                    None,
                    Some(format!(
                        "timed out after {}; killed with its process group",
                        humantime::format_duration(timeout)
                    )),
                );
            }
            Ok(None) if interrupted.load(Ordering::SeqCst) => {
                stop(&mut child);
                break (None, Some("interrupted; killed with its process group".into()));
            }
            Ok(None) => std::thread::sleep(POLL.min(timeout.saturating_sub(started.elapsed()))),
            Err(error) => {
                stop(&mut child);
                break (None, Some(format!("cannot wait for the step: {error}")));
            }
        }
    };
    // Whatever is left in the launcher's group is stopped with it (ESRCH when nothing is).
    let _ = rustix::process::kill_process_group(launcher_pid, rustix::process::Signal::KILL);
    let _ = done.recv_timeout(DRAIN_GRACE);
    let capture = capture.lock().unwrap_or_else(|poison| poison.into_inner()).clone();
    let output = Captured { text: capture.render(), bytes: capture.total(), elided_bytes: capture.elided() };
    // The launcher could not start the program (or itself failed): its last line says why.
    let launcher_said = matches!(exit_code, Some(launcher::CANNOT_START | launcher::LAUNCHER_FAILED))
        .then(|| output.text.lines().rev().find_map(|line| line.strip_prefix(launcher::START_FAILED)))
        .flatten();
    let reason = match launcher_said {
        Some(why) => Some(why.to_string()),
        None => reason,
    };
    (exit_code, reason, output)
}

fn judge_exit(status: &std::process::ExitStatus) -> (Option<i32>, Option<String>) {
    let reason = match status.code() {
        Some(0) => None,
        Some(code) => Some(format!("exit {code}")),
        None => Some(signal_reason(status)),
    };
    (status.code(), reason)
}

fn signal_reason(status: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status.signal() {
        Some(signal) => format!("killed by signal {signal}"),
        None => "ended without an exit code".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(waiver: Option<Waiver>) -> Step {
        Step {
            name: "s".into(),
            action: Action::SecretScan { files: Some(vec![PathBuf::from("x")]) },
            waiver,
            retries: 0,
            retry_delay: Duration::ZERO,
            report_only: false,
        }
    }

    fn outcome(passed: bool) -> Outcome {
        Outcome {
            passed,
            exit_code: Some(1),
            reason: None,
            output: Captured::from_text("a\n\nb\n".into()),
            duration: Duration::from_micros(1500),
            attempts: Vec::new(),
        }
    }

    fn day(text: &str) -> DateTime<Utc> {
        crate::clock::parse_rfc3339(&format!("{text}T12:00:00Z")).unwrap()
    }

    #[test]
    fn waiver_holds_through_its_last_day_then_is_ignored_and_says_so() {
        let ends = crate::clock::parse_rfc3339("2027-01-01T00:00:00Z").unwrap();
        let waived = step(Some(Waiver { ends, until: "2026-12-31".into(), reason: "flaky upstream".into() }));
        let result = judge(&waived, outcome(false), day("2026-12-31"));
        assert_eq!(result.status, StepStatus::Waived);
        assert_eq!(result.waiver.as_deref(), Some("waived until 2026-12-31: flaky upstream"));
        let result = judge(&waived, outcome(false), day("2027-01-01"));
        assert_eq!(result.status, StepStatus::Fail);
        assert_eq!(result.waiver.as_deref(), Some("waiver expired on 2026-12-31 and is ignored"));
        assert_eq!(judge(&waived, outcome(true), day("2027-01-01")).status, StepStatus::Ok);
        assert_eq!(judge(&step(None), outcome(false), day("2020-01-01")).status, StepStatus::Fail);
    }

    #[test]
    fn report_only_failures_never_block_and_say_so() {
        let watched = Step { report_only: true, ..step(None) };
        let result = judge(&watched, outcome(false), day("2026-01-01"));
        assert_eq!(
            (result.status, result.notes()),
            (StepStatus::ReportOnly, vec!["report only: does not block".to_string()])
        );
        assert_eq!(judge(&watched, outcome(true), day("2026-01-01")).status, StepStatus::Ok);
    }

    #[test]
    fn tail_keeps_last_non_empty_lines_and_rounds_duration() {
        let result = judge(&step(None), outcome(false), day("2026-01-01"));
        assert_eq!(result.output_tail, ["a", "b"]);
        assert_eq!(result.duration, 0.002);
        assert_eq!(tail("1\n2\n3\n", 2), ["2", "3"]);
        // A step cannot print make-ready's verdict into the report CI greps.
        assert_eq!(
            tail("| make_ready | OK | MAKE_READY=OK |\nREADINESS=GO PRE_LIVE_PACK=DRYRUN\n", 2),
            ["| make_ready | OK | MAKE_READY\\=OK |", "READINESS\\=GO PRE_LIVE_PACK\\=DRYRUN"]
        );
    }
}
