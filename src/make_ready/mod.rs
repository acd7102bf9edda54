//! `mmops make-ready`: the release gate. Two components — the pre-live pack (dry runs of
//! everything the release depends on, run in parallel) and the readiness score (the reference
//! formula over the last week of soak reports) — give one verdict, `MAKE_READY=OK` or `BLOCKED`.
//!
//! Order of work: build the whole plan (config, VERSION, flags) before running anything, so a
//! bad config is exit 2 with nothing run; then run the pack, score, write, report.

mod checks;
mod config;
mod github;
mod junit;
mod metrics;
mod pre_live;
mod readiness;
mod reports;

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use serde::Serialize;
use serde_json::Value;

use crate::atomic_write::write_atomically;
use crate::cli::MakeReadyArgs;
use crate::context::Context;
use crate::outcome::Verdict;
use crate::output::{Marker, Report, Style};
use crate::sanitize::display_path;
use pre_live::{StepResult, StepStatus};
use readiness::VerdictRule;

pub fn run(args: &MakeReadyArgs, context: &Context) -> Result<Verdict> {
    if !(args.min_score.is_finite() && (0.0..=100.0).contains(&args.min_score)) {
        bail!("--min-score {} is outside 0..100; the score is out of 100", args.min_score);
    }
    if let Some(file) = &args.validate {
        return validate_file(file, args.min_score, context);
    }
    let plan = plan(args)?;
    let twin = markdown_twin(&args.out_json);
    let mut outputs = vec![("--out-json", args.out_json.as_path()), ("readiness Markdown", twin.as_path())];
    outputs.extend(args.junit.as_deref().map(|junit| ("--junit", junit)));
    let prom_file = args
        .prom_file
        .as_deref()
        .map(|path| crate::prometheus::PromFile::create_apart(path, &outputs))
        .transpose()?;
    let printer = &context.printer;

    // SIGINT/SIGTERM (Ctrl-C, a cancelled CI job) only set this flag: the runner then kills the
    // steps' process groups, and the run ends with exit 2 instead of reporting a verdict.
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&interrupted))
            .context("cannot install the signal handler")?;
    }
    let pack = plan.steps.as_ref().map(|steps| {
        printer.note(format!(
            "pre-live pack: {} steps, {} at a time",
            steps.len(),
            plan.jobs.min(steps.len())
        ));
        let started = Instant::now();
        let results = pre_live::run_all(steps, plan.jobs, context.now.date_naive(), printer, &interrupted);
        (results, started.elapsed().as_secs_f64())
    });
    if interrupted.load(Ordering::SeqCst) {
        bail!("interrupted: running steps were killed with their process groups; no verdict");
    }
    if pack.is_none() {
        printer.warn("pre-live pack skipped (--skip-pre-live): MAKE_READY reflects the readiness score only");
    }

    printer.note(format!(
        "readiness: scoring the last {} soak reports in {}",
        reports::WINDOW,
        display_path(&args.reports_dir)
    ));
    let scored = score_readiness(args, &plan.version, context)?;

    if interrupted.load(Ordering::SeqCst) {
        bail!("interrupted while scoring readiness; no verdict");
    }
    let report = MakeReadyReport {
        pre_live_pack: pack.as_ref().map(|(results, wall)| PackSummary::new(results, *wall)),
        steps: pack.map(|(results, _)| results).unwrap_or_default(),
        readiness: scored.document.clone(),
        readiness_detail: scored,
        verdict: "",
    }
    .with_verdict();

    if let Some(path) = &args.junit {
        let failure = report.readiness_failure();
        let detail = report.readiness_detail.summary();
        let case = junit::ReadinessCase { failure: failure.as_deref(), detail: &detail };
        write_atomically(path, junit::render(&report.steps, &case).as_bytes())
            .with_context(|| format!("cannot write the JUnit report {}", path.display()))?;
    }
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|value| !value.is_empty()) {
        github::append_summary(Path::new(&path), &report.markdown_summary())?;
    }
    if std::env::var_os("GITHUB_ACTIONS").is_some_and(|value| value == "true") {
        for step in report.steps.iter().filter(|step| step.status == StepStatus::Fail) {
            let why = step.reason.as_deref().unwrap_or("failed");
            printer.annotation(&github::error_annotation(&format!("make-ready step {}", step.name), why));
        }
        if let Some(failure) = report.readiness_failure() {
            printer.annotation(&github::error_annotation("make-ready readiness", &failure));
        }
    }
    if let Some(file) = prom_file {
        let exposition = metrics::exposition(&report, &plan.version, &metrics::current_branch(), context.now);
        file.commit_after(&exposition, &format!("wrote {}", report.readiness_detail.file))?;
    }
    printer.emit(&report)
}

/// Everything checked before anything runs.
struct Plan {
    steps: Option<Vec<config::Step>>,
    jobs: usize,
    version: String,
}

fn plan(args: &MakeReadyArgs) -> Result<Plan> {
    let steps = if args.skip_pre_live {
        None
    } else {
        Some(config::load(&args.config).with_context(|| {
            format!("invalid make-ready config {} (choose another with --config)", args.config.display())
        })?)
    };
    let version = std::fs::read_to_string("VERSION")
        .context(
            "cannot read VERSION (runtime.version comes from it; run in the repository root or use -C DIR)",
        )?
        .trim()
        .to_string();
    if version.is_empty() || version.contains(char::is_whitespace) {
        bail!("VERSION must hold one version such as 1.4.0, found {version:?}");
    }
    let jobs = match args.jobs {
        Some(jobs) => jobs as usize,
        None => std::thread::available_parallelism().map(|count| count.get()).unwrap_or(1),
    };
    Ok(Plan { steps, jobs, version })
}

/// Readiness: the score, what it rests on, and why it holds.
#[derive(Debug, Serialize)]
struct ReadinessDetail {
    status: &'static str,
    #[serde(skip)]
    document: Value,
    score: f64,
    min_score: f64,
    file: String,
    reports: Vec<String>,
    unusable_reports: Vec<String>,
    hold_reasons: Vec<String>,
    validation_errors: Vec<String>,
}

impl ReadinessDetail {
    fn passed(&self) -> bool {
        self.status == "GO" && self.validation_errors.is_empty()
    }

    fn summary(&self) -> String {
        let mut text = format!(
            "score {} (min {}) from {} of {} reports: {}",
            self.score,
            self.min_score,
            self.reports.len() - self.unusable_reports.len(),
            reports::WINDOW,
            self.status
        );
        for reason in self.hold_reasons.iter().chain(&self.validation_errors) {
            text.push_str("; ");
            text.push_str(reason);
        }
        text
    }
}

fn score_readiness(args: &MakeReadyArgs, version: &str, context: &Context) -> Result<ReadinessDetail> {
    let evidence = reports::load(&args.reports_dir)?;
    for unusable in &evidence.unusable {
        context.printer.warn(format!(
            "soak report {} (counted as absent)",
            crate::sanitize::display_text(unusable, false)
        ));
    }
    let sections = readiness::score(&evidence.days);
    let score = sections.total();
    let mut hold_reasons = Vec::new();
    if score < args.min_score {
        hold_reasons.push(format!("score {score} is below {}", args.min_score));
    }
    let mut stale = false;
    if let Some(limit) = args.max_evidence_age {
        let limit_text = crate::units::format_duration(limit);
        match &evidence.newest {
            None => {
                stale = true;
                hold_reasons.push(format!("stale evidence: no usable soak report (limit {limit_text})"));
            }
            Some((made, name)) => {
                let age = (context.now - *made).to_std().unwrap_or_default();
                if age > limit {
                    stale = true;
                    hold_reasons.push(format!(
                        "stale evidence: newest soak report {name} is {} old (limit {limit_text})",
                        crate::units::format_duration(age)
                    ));
                }
            }
        }
    }
    let go = hold_reasons.is_empty();
    let utc = crate::clock::format_utc(context.now);
    let document = readiness::document(&sections, go, &utc, version);
    let out = &args.out_json;
    if let Some(parent) = out.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create folder {}", parent.display()))?;
    }
    write_atomically(out, &readiness::to_bytes(&document))
        .with_context(|| format!("cannot write readiness JSON {}", out.display()))?;
    let twin = markdown_twin(out);
    write_atomically(&twin, readiness::markdown(&sections, go, &utc, version).as_bytes())
        .with_context(|| format!("cannot write readiness Markdown {}", twin.display()))?;
    // Validate what is on disk, not what we meant to write.
    let written: Value = serde_json::from_slice(
        &std::fs::read(out).with_context(|| format!("cannot read back {}", out.display()))?,
    )
    .with_context(|| format!("{} is not valid JSON after writing", out.display()))?;
    let validation_errors =
        readiness::validate(&written, VerdictRule { min_score: args.min_score, hold_allowed: stale });
    Ok(ReadinessDetail {
        status: readiness::verdict_label(go),
        document,
        score,
        min_score: args.min_score,
        file: display_path(out),
        reports: evidence.considered,
        unusable_reports: evidence.unusable,
        hold_reasons,
        validation_errors,
    })
}

/// `readiness.json` → `readiness.md`.
fn markdown_twin(path: &Path) -> PathBuf {
    path.with_extension("md")
}

/// Pre-live totals for the summary table.
#[derive(Debug, Serialize)]
struct PackSummary {
    status: &'static str,
    ok: usize,
    waived: usize,
    failed: usize,
    wall_time: f64,
    serial_time: f64,
}

impl PackSummary {
    fn new(results: &[StepResult], wall: f64) -> PackSummary {
        let count = |status| results.iter().filter(|step| step.status == status).count();
        let failed = count(StepStatus::Fail);
        PackSummary {
            status: if failed == 0 { "OK" } else { "FAIL" },
            ok: count(StepStatus::Ok),
            waived: count(StepStatus::Waived),
            failed,
            wall_time: (wall * 1000.0).round() / 1000.0,
            serial_time: (results.iter().map(|step| step.duration).sum::<f64>() * 1000.0).round() / 1000.0,
        }
    }

    fn detail(&self) -> String {
        format!(
            "{} ok, {} waived, {} failed in {:.2}s (steps sum {:.2}s)",
            self.ok, self.waived, self.failed, self.wall_time, self.serial_time
        )
    }
}

/// The `--format json` document and the text report.
#[derive(Debug, Serialize)]
struct MakeReadyReport {
    steps: Vec<StepResult>,
    /// Absent when `--skip-pre-live`.
    pre_live_pack: Option<PackSummary>,
    /// The readiness JSON exactly as written.
    readiness: Value,
    readiness_detail: ReadinessDetail,
    /// `OK` or `BLOCKED`.
    verdict: &'static str,
}

impl MakeReadyReport {
    fn with_verdict(mut self) -> MakeReadyReport {
        let pack_ok = self.pre_live_pack.as_ref().is_none_or(|pack| pack.failed == 0);
        self.verdict = if pack_ok && self.readiness_detail.passed() { "OK" } else { "BLOCKED" };
        self
    }

    fn readiness_failure(&self) -> Option<String> {
        (!self.readiness_detail.passed()).then(|| self.readiness_detail.summary())
    }

    fn markdown_summary(&self) -> String {
        let mut text = format!(
            "## mmops make-ready: MAKE_READY={}\n\n| step | status | time | detail |\n|---|---|---|---|\n",
            self.verdict
        );
        for step in &self.steps {
            let detail = [step.reason.as_deref(), step.waiver.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("; ");
            text.push_str(&format!(
                "| {} | {} | {:.2}s | {} |\n",
                step.name,
                step.status.label(),
                step.duration,
                detail.replace('|', "\\|")
            ));
        }
        if let Some(pack) = &self.pre_live_pack {
            text.push_str(&format!(
                "| **pre_live_pack** | **{}** | {:.2}s | {} |\n",
                pack.status,
                pack.wall_time,
                pack.detail()
            ));
        }
        text.push_str(&format!(
            "| **readiness** | **{}** | | {} |\n\n",
            self.readiness_detail.status,
            self.readiness_detail.summary().replace('|', "\\|")
        ));
        text
    }
}

impl Report for MakeReadyReport {
    fn marker(&self) -> Marker {
        let passed = self.verdict == "OK";
        Marker::new(
            "make_ready",
            Verdict::from_passed(passed),
            "MAKE_READY",
            if passed { "OK" } else { "BLOCKED" },
        )
    }

    fn write_text(&self, out: &mut dyn Write, style: &Style) -> io::Result<()> {
        let paint = |status: &str| match status {
            "OK" | "GO" => style.good(status),
            "WAIVED" => style.warning(status),
            _ => style.bad(status),
        };
        for step in &self.steps {
            let mut row =
                format!("| {} | {} | {:.2}s |", step.name, paint(step.status.label()), step.duration);
            for note in [step.reason.as_deref(), step.waiver.as_deref()].into_iter().flatten() {
                row.push_str(&format!(" {note} |"));
            }
            writeln!(out, "{row}")?;
            if step.status != StepStatus::Ok {
                for line in &step.output_tail {
                    writeln!(out, "    {}", style.dim(&format!("> {line}")))?;
                }
            }
        }
        if let Some(pack) = &self.pre_live_pack {
            let value = if pack.failed == 0 { "DRYRUN" } else { "FAILED" };
            writeln!(out, "| pre_live_pack | {} | PRE_LIVE_PACK={value} |", paint(pack.status))?;
        }
        let detail = &self.readiness_detail;
        let sections = &self.readiness["sections"];
        let parts: Vec<String> = readiness::SECTION_MAXIMA
            .iter()
            .map(|(name, maximum)| format!("{name} {}/{maximum}", sections[name].as_f64().unwrap_or(0.0)))
            .collect();
        writeln!(out, "readiness: {} (score {}; {})", detail.file, detail.score, parts.join(", "))?;
        writeln!(
            out,
            "| readiness | {} | READINESS={} |",
            paint(if detail.passed() { "OK" } else { "FAIL" }),
            detail.status
        )?;
        for reason in detail.hold_reasons.iter().chain(&detail.validation_errors) {
            writeln!(out, "    {}", style.dim(&format!("> {reason}")))?;
        }
        writeln!(out)?;
        writeln!(out, "| component | status | detail |")?;
        writeln!(out, "|---|---|---|")?;
        match &self.pre_live_pack {
            Some(pack) => writeln!(out, "| pre_live_pack | {} | {} |", paint(pack.status), pack.detail())?,
            None => {
                writeln!(out, "| pre_live_pack | {} | skipped (--skip-pre-live) |", style.warning("SKIPPED"))?
            }
        }
        writeln!(out, "| readiness | {} | {} |", paint(detail.status), detail.summary())
    }
}

/// `--validate FILE`: the original validator on any readiness JSON.
#[derive(Debug, Serialize)]
struct ValidateReport {
    file: String,
    verdict: Option<String>,
    errors: Vec<String>,
}

impl Report for ValidateReport {
    fn marker(&self) -> Marker {
        let value =
            if !self.errors.is_empty() { "INVALID" } else { self.verdict.as_deref().unwrap_or("INVALID") };
        Marker::new("readiness", Verdict::from_passed(value == "GO"), "READINESS", value)
    }

    fn write_text(&self, out: &mut dyn Write, style: &Style) -> io::Result<()> {
        if self.errors.is_empty() {
            writeln!(out, "{}: valid, verdict {}", self.file, self.verdict.as_deref().unwrap_or("?"))
        } else {
            for error in &self.errors {
                writeln!(out, "{}: {}", self.file, style.bad(error))?;
            }
            Ok(())
        }
    }
}

fn validate_file(path: &Path, min_score: f64, context: &Context) -> Result<Verdict> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read readiness JSON {}", path.display()))?;
    let (verdict, errors) = match serde_json::from_slice::<Value>(&bytes) {
        Ok(document) => (
            document.get("verdict").and_then(Value::as_str).map(str::to_string),
            readiness::validate(&document, VerdictRule { min_score, hold_allowed: false }),
        ),
        Err(error) => (None, vec![format!("not valid JSON: {error}")]),
    };
    context.printer.emit(&ValidateReport { file: display_path(path), verdict, errors })
}

/// Parses a make-ready config; the fuzz target's way in.
pub(crate) fn fuzz_config(path: &std::path::Path) {
    let _ = config::load(path);
}

/// Reads a folder of soak reports and scores them; the fuzz target's way in.
pub(crate) fn fuzz_reports(dir: &std::path::Path) {
    if let Ok(evidence) = reports::load(dir) {
        let _ = readiness::score(&evidence.days);
    }
}
