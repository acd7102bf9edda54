//! The pre-live pack runner: steps run on `jobs` worker threads; each external step runs in its
//! own process group so a timeout kills it with everything it started. Judging a step (pass,
//! waived, fail) is pure and separate from running it.

use std::io::{Read, Seek};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use serde::Serialize;

use super::checks;
use super::config::{Action, Step, Waiver};
use crate::output::Printer;

/// How many output lines a failing step shows.
pub(crate) const TAIL_LINES: usize = 20;
/// How often a running step is polled for exit or timeout.
const POLL: Duration = Duration::from_millis(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub(crate) enum StepStatus {
    Ok,
    Fail,
    Waived,
}

impl StepStatus {
    pub(crate) fn label(self) -> &'static str {
        match self {
            StepStatus::Ok => "OK",
            StepStatus::Fail => "FAIL",
            StepStatus::Waived => "WAIVED",
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
    pub output: String,
    pub duration: Duration,
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
}

/// Pass, waived or fail: a failure is waived only while `until` (inclusive, UTC) has not passed.
pub(crate) fn judge(step: &Step, outcome: Outcome, today: NaiveDate) -> StepResult {
    let (status, waiver) = match (&outcome.passed, &step.waiver) {
        (true, _) => (StepStatus::Ok, None),
        (false, None) => (StepStatus::Fail, None),
        (false, Some(Waiver { until, reason })) if today <= *until => {
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
        output_tail: tail(&outcome.output, TAIL_LINES),
    }
}

/// The last `count` non-empty lines, control characters escaped.
pub(crate) fn tail(output: &str, count: usize) -> Vec<String> {
    let lines: Vec<&str> = output.lines().filter(|line| !line.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(count)..]
        .iter()
        .map(|line| crate::sanitize::display_text(line, false))
        .collect()
}

/// Runs every step, `jobs` at a time, and returns results in config order.
/// `interrupted` is set by SIGINT/SIGTERM: running steps are killed with their groups and no new
/// step starts (their process groups would otherwise outlive a cancelled CI job).
pub(crate) fn run_all(
    steps: &[Step],
    jobs: usize,
    today: NaiveDate,
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
                            output: String::new(),
                            duration: Duration::ZERO,
                        }
                    } else {
                        run_step(step, interrupted)
                    };
                    let result = judge(step, outcome, today);
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

fn run_step(step: &Step, interrupted: &AtomicBool) -> Outcome {
    let started = Instant::now();
    let finished = |passed: bool, exit_code: Option<i32>, reason: Option<String>, output: String| Outcome {
        passed,
        exit_code,
        reason,
        output,
        duration: started.elapsed(),
    };
    let findings = |result: anyhow::Result<Vec<String>>| match result {
        Ok(lines) if lines.is_empty() => finished(true, None, None, String::new()),
        Ok(lines) => {
            let reason = format!("{} finding{}", lines.len(), if lines.len() == 1 { "" } else { "s" });
            finished(false, None, Some(reason), lines.join("\n"))
        }
        Err(error) => {
            finished(false, None, Some("cannot run the check".into()), crate::output::error_line(&error))
        }
    };
    match &step.action {
        Action::RollbackVsAlerts { alerts, policy } => findings(checks::rollback_vs_alerts(alerts, policy)),
        Action::SecretScan { files } => findings(Ok(checks::secret_scan(files))),
        Action::Command { argv, dir, timeout } => {
            let (exit_code, reason, output) = run_command(argv, dir.as_deref(), *timeout, interrupted);
            finished(reason.is_none(), exit_code, reason, output)
        }
    }
}

/// Runs argv in its own process group with stdout+stderr captured in one temporary file
/// (a file, not a pipe, so a grandchild holding it open cannot stall us). Returns the exit
/// code, the failure reason (None = success) and the output.
fn run_command(
    argv: &[String],
    dir: Option<&Path>,
    timeout: Duration,
    interrupted: &AtomicBool,
) -> (Option<i32>, Option<String>, String) {
    use std::os::unix::process::CommandExt;

    let program = match argv[0].as_str() {
        "mmops" => match std::env::current_exe() {
            Ok(path) => path,
            Err(error) => {
                return (
                    None,
                    Some(format!("cannot start: cannot locate mmops itself: {error}")),
                    String::new(),
                );
            }
        },
        other => other.into(),
    };
    let log = match tempfile::tempfile() {
        Ok(file) => file,
        Err(error) => {
            return (
                None,
                Some(format!("cannot start: cannot create an output file: {error}")),
                String::new(),
            );
        }
    };
    let mut command = Command::new(&program);
    command.args(&argv[1..]).stdin(Stdio::null()).process_group(0);
    match (log.try_clone(), log.try_clone()) {
        (Ok(out), Ok(err)) => command.stdout(out).stderr(err),
        (Err(error), _) | (_, Err(error)) => {
            return (
                None,
                Some(format!("cannot start: cannot share the output file: {error}")),
                String::new(),
            );
        }
    };
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) => {
            let place = dir.map(|dir| format!(" in {}", dir.display())).unwrap_or_default();
            return (None, Some(format!("cannot start {}{place}: {error}", argv[0])), String::new());
        }
    };
    let group = rustix::process::Pid::from_child(&child);
    let started = Instant::now();
    let (exit_code, reason) = loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let reason = match status.code() {
                    Some(0) => None,
                    Some(code) => Some(format!("exit {code}")),
                    None => Some(signal_reason(&status)),
                };
                break (status.code(), reason);
            }
            Ok(None) if started.elapsed() >= timeout => {
                // Kill the whole group: a shell's children must not outlive a timed-out step.
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
                let _ = child.wait();
                break (
                    None,
                    Some(format!(
                        "timed out after {}; killed with its process group",
                        humantime::format_duration(timeout)
                    )),
                );
            }
            Ok(None) if interrupted.load(Ordering::SeqCst) => {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
                let _ = child.wait();
                break (None, Some("interrupted; killed with its process group".into()));
            }
            Ok(None) => std::thread::sleep(POLL.min(timeout.saturating_sub(started.elapsed()))),
            Err(error) => {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
                let _ = child.wait();
                break (None, Some(format!("cannot wait for the step: {error}")));
            }
        }
    };
    // Whatever the step left running in its group is stopped with it (ESRCH when nothing is).
    let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    let mut output = String::new();
    let mut log = log;
    let mut bytes = Vec::new();
    if log.rewind().is_ok() && log.read_to_end(&mut bytes).is_ok() {
        output = String::from_utf8_lossy(&bytes).into_owned();
    }
    (exit_code, reason, output)
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
    use std::path::PathBuf;

    fn step(waiver: Option<Waiver>) -> Step {
        Step { name: "s".into(), action: Action::SecretScan { files: vec![PathBuf::from("x")] }, waiver }
    }

    fn outcome(passed: bool) -> Outcome {
        Outcome {
            passed,
            exit_code: Some(1),
            reason: None,
            output: "a\n\nb\n".into(),
            duration: Duration::from_micros(1500),
        }
    }

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn waiver_holds_through_its_last_day_then_is_ignored_and_says_so() {
        let waived = step(Some(Waiver { until: day("2026-12-31"), reason: "flaky upstream".into() }));
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
    fn tail_keeps_last_non_empty_lines_and_rounds_duration() {
        let result = judge(&step(None), outcome(false), day("2026-01-01"));
        assert_eq!(result.output_tail, ["a", "b"]);
        assert_eq!(result.duration, 0.002);
        assert_eq!(tail("1\n2\n3\n", 2), ["2", "3"]);
    }
}
