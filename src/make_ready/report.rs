//! What make-ready reports: the `--format json` document, the text report with its marker rows,
//! the GitHub job summary, and the `--validate` report. Pure rendering of finished results.

use std::io::{self, Write};

use serde::Serialize;

use super::baseline::Comparison;
use super::pre_live::{StepResult, StepStatus};
use super::readiness::{ReadinessDoc, SECTION_MAXIMA, SignOff};
use super::release::ReleaseTag;
use super::reports;
use crate::outcome::Verdict;
use crate::output::{Marker, Report, Style};

/// Readiness: the score, what it rests on, and why it holds.
#[derive(Debug, Serialize)]
pub(crate) struct ReadinessDetail {
    /// GO or HOLD (reference formula); GO, MARGINAL or BLOCKED (with `scoring:`).
    pub status: &'static str,
    /// Who accepted a MARGINAL verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sign_off: Option<SignOff>,
    pub score: f64,
    pub min_score: f64,
    pub file: String,
    pub reports: Vec<String>,
    pub unusable_reports: Vec<String>,
    pub hold_reasons: Vec<String>,
    pub validation_errors: Vec<String>,
    /// The change since `--baseline` / `--baseline-tag`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Comparison>,
}

impl ReadinessDetail {
    pub(crate) fn passed(&self) -> bool {
        (self.status == "GO" || (self.status == "MARGINAL" && self.sign_off.is_some()))
            && self.validation_errors.is_empty()
    }

    pub(crate) fn summary(&self) -> String {
        let mut text = format!(
            "score {} (min {}) from {} of {} reports: {}",
            self.score,
            self.min_score,
            self.reports.len() - self.unusable_reports.len(),
            reports::WINDOW,
            self.status
        );
        if let Some(sign_off) = &self.sign_off {
            text.push_str(&format!("; signed off by {}: {}", sign_off.name, sign_off.reason));
        }
        for reason in self.hold_reasons.iter().chain(&self.validation_errors) {
            text.push_str("; ");
            text.push_str(reason);
        }
        text
    }
}

/// Pre-live totals for the summary table.
#[derive(Debug, Serialize)]
pub(crate) struct PackSummary {
    pub status: &'static str,
    pub ok: usize,
    pub waived: usize,
    pub failed: usize,
    /// Report-only steps that failed (shown, never blocking).
    #[serde(skip_serializing_if = "is_zero")]
    pub report_only: usize,
    pub wall_time: f64,
    pub serial_time: f64,
}

impl PackSummary {
    pub(crate) fn new(results: &[StepResult], wall: f64) -> PackSummary {
        let count = |status| results.iter().filter(|step| step.status == status).count();
        let failed = count(StepStatus::Fail);
        PackSummary {
            status: if failed == 0 { "OK" } else { "FAIL" },
            ok: count(StepStatus::Ok),
            waived: count(StepStatus::Waived),
            failed,
            report_only: count(StepStatus::ReportOnly),
            wall_time: (wall * 1000.0).round() / 1000.0,
            serial_time: (results.iter().map(|step| step.duration).sum::<f64>() * 1000.0).round() / 1000.0,
        }
    }

    fn detail(&self) -> String {
        let report_only = match self.report_only {
            0 => String::new(),
            count => format!(", {count} report-only failing"),
        };
        format!(
            "{} ok, {} waived, {} failed{report_only} in {:.2}s (steps sum {:.2}s)",
            self.ok, self.waived, self.failed, self.wall_time, self.serial_time
        )
    }
}

fn is_zero(count: &usize) -> bool {
    *count == 0
}

/// The `--format json` document and the text report.
#[derive(Debug, Serialize)]
pub(crate) struct MakeReadyReport {
    pub steps: Vec<StepResult>,
    /// Absent when `--skip-pre-live`.
    pub pre_live_pack: Option<PackSummary>,
    /// The readiness JSON exactly as written; absent when interrupted before scoring.
    pub readiness: Option<ReadinessDoc>,
    pub readiness_detail: Option<ReadinessDetail>,
    /// `OK`, `BLOCKED`, `INTERRUPTED`, or `PARTIAL` (an output could not be written after
    /// another was already in place).
    pub verdict: &'static str,
    /// What failed and what was already written, when `PARTIAL`.
    pub partial: Option<String>,
    /// `--tag-rc`: the tag created (or, with `--dry-run`, the one that would be), or why none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<ReleaseTag>,
}

impl MakeReadyReport {
    /// A finished run: OK when every step passed or is waived and readiness passed.
    pub(crate) fn finished(
        steps: Vec<StepResult>,
        pre_live_pack: Option<PackSummary>,
        readiness: ReadinessDoc,
        detail: ReadinessDetail,
    ) -> MakeReadyReport {
        let pack_ok = pre_live_pack.as_ref().is_none_or(|pack| pack.failed == 0);
        let verdict = match (pack_ok && detail.passed(), detail.sign_off.is_some()) {
            (true, false) => "OK",
            // A MARGINAL verdict a named person accepted: passes, and says so.
            (true, true) => "OK_SIGNED_OFF",
            (false, _) => "BLOCKED",
        };
        MakeReadyReport {
            steps,
            pre_live_pack,
            readiness: Some(readiness),
            readiness_detail: Some(detail),
            verdict,
            partial: None,
            release: None,
        }
    }

    /// SIGINT/SIGTERM: the steps as they ended (running ones killed), no readiness written.
    pub(crate) fn interrupted(steps: Vec<StepResult>, pre_live_pack: Option<PackSummary>) -> MakeReadyReport {
        MakeReadyReport {
            steps,
            pre_live_pack,
            readiness: None,
            readiness_detail: None,
            verdict: "INTERRUPTED",
            partial: None,
            release: None,
        }
    }

    pub(crate) fn readiness_failure(&self) -> Option<String> {
        self.readiness_detail.as_ref().filter(|detail| !detail.passed()).map(ReadinessDetail::summary)
    }

    pub(crate) fn markdown_summary(&self) -> String {
        let mut text = format!(
            "## mmops make-ready: MAKE_READY={}\n\n| step | status | time | detail |\n|---|---|---|---|\n",
            self.verdict
        );
        for step in &self.steps {
            let detail = step.notes().join("; ");
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
        if let Some(detail) = &self.readiness_detail {
            text.push_str(&format!(
                "| **readiness** | **{}** | | {} |\n",
                detail.status,
                detail.summary().replace('|', "\\|")
            ));
        }
        if let Some(release) = &self.release {
            text.push_str(&format!(
                "| **release_tag** | **{}** | | {} |\n",
                release.status,
                release.tag.as_deref().unwrap_or("not tagged")
            ));
        }
        if self.readiness_detail.is_some() || self.release.is_some() {
            text.push('\n');
        }
        text
    }
}

impl Report for MakeReadyReport {
    fn marker(&self) -> Marker {
        // PARTIAL is a plain failure (exit 1): something was written, the rest is named.
        let verdict = match self.verdict {
            "OK" | "OK_SIGNED_OFF" => Verdict::Pass,
            "INTERRUPTED" => Verdict::Interrupted,
            _ => Verdict::Fail,
        };
        Marker::new("make_ready", verdict, "MAKE_READY", self.verdict)
    }

    fn write_text(&self, out: &mut dyn Write, style: &Style) -> io::Result<()> {
        let paint = |status: &str| match status {
            "OK" | "GO" => style.good(status),
            "WAIVED" | "REPORT_ONLY" | "MARGINAL" | "OK_SIGNED_OFF" => style.warning(status),
            _ => style.bad(status),
        };
        for step in &self.steps {
            let mut row =
                format!("| {} | {} | {:.2}s |", step.name, paint(step.status.label()), step.duration);
            for note in step.notes() {
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
        let (Some(document), Some(detail)) = (&self.readiness, &self.readiness_detail) else {
            writeln!(
                out,
                "interrupted: running steps were killed with everything they started; no readiness written"
            )?;
            return Ok(());
        };
        let parts: Vec<String> = SECTION_MAXIMA
            .iter()
            .zip(document.sections.named())
            .map(|((name, maximum), (_, value))| format!("{name} {value}/{maximum}"))
            .collect();
        writeln!(out, "readiness: {} (score {}; {})", detail.file, detail.score, parts.join(", "))?;
        if let Some(comparison) = &detail.baseline {
            writeln!(out, "{}", crate::sanitize::display_text(&comparison.summary(), false))?;
        }
        writeln!(
            out,
            "| readiness | {} | READINESS={} |",
            paint(if detail.passed() { "OK" } else { "FAIL" }),
            detail.status
        )?;
        if let Some(sign_off) = &detail.sign_off {
            writeln!(
                out,
                "    {}",
                style.dim(&format!("> MARGINAL signed off by {}: {}", sign_off.name, sign_off.reason))
            )?;
        }
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
        writeln!(out, "| readiness | {} | {} |", paint(detail.status), detail.summary())?;
        if let Some(partial) = &self.partial {
            writeln!(out, "| outputs | {} | {partial} |", paint("PARTIAL"))?;
        }
        if let Some(release) = &self.release {
            write_release(out, release, self.partial.is_none(), style)?;
        }
        Ok(())
    }
}

/// The `release_tag` row (before the final marker) and, for a dry run, the message.
fn write_release(out: &mut dyn Write, release: &ReleaseTag, written: bool, style: &Style) -> io::Result<()> {
    let name = release.tag.as_deref().unwrap_or("NONE");
    match release.status {
        "TAGGED" => {
            // After a PARTIAL the outputs row says what is in place; the checklist may not be.
            if let Some(checklist) = release.checklist.as_ref().filter(|_| written) {
                writeln!(out, "canary checklist: {checklist}")?;
            }
            writeln!(out, "| release_tag | {} | RELEASE_TAG={name} |", style.good("OK"))
        }
        "DRY_RUN" => {
            writeln!(out, "tag {name} on {} (dry run: not created), message:", release.commit)?;
            for line in release.message.as_deref().unwrap_or("").lines() {
                writeln!(out, "    {line}")?;
            }
            writeln!(out, "| release_tag | {} | RELEASE_TAG_DRY_RUN={name} |", style.good("OK"))
        }
        _ => {
            writeln!(out, "| release_tag | {} | RELEASE_TAG=NONE |", style.bad("FAIL"))?;
            writeln!(
                out,
                "    {}",
                style.dim("> not tagged: the release is not ready (MAKE_READY is not OK)")
            )
        }
    }
}

/// `--validate FILE`: the validator on any readiness JSON.
#[derive(Debug, Serialize)]
pub(crate) struct ValidateReport {
    pub file: String,
    pub verdict: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_off: Option<SignOff>,
    pub errors: Vec<String>,
}

impl Report for ValidateReport {
    fn marker(&self) -> Marker {
        let value =
            if !self.errors.is_empty() { "INVALID" } else { self.verdict.as_deref().unwrap_or("INVALID") };
        let passed = value == "GO" || (value == "MARGINAL" && self.signed_off.is_some());
        Marker::new("readiness", Verdict::from_passed(passed), "READINESS", value)
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
