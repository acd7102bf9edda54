//! `RELEASE_SUMMARY.md`: what a reviewer reads first — the version, the files with short hashes,
//! and, when the bundle carries them, the readiness verdict and the soak KPIs. Pure: it gets the
//! report bytes, never reads the disk.

use std::fmt::Write as _;

use serde_json::Value;

use super::manifest::{Generator, ManifestFile};
use crate::readiness_doc::ReadinessDoc;
use crate::units::format_size;

/// The KPIs the soak section shows, as medians.
const SOAK_KPIS: [&str; 3] = ["edge_net_bps", "order_age_p95_ms", "taker_share_pct"];

/// What the summary is made from.
pub(crate) struct SummaryInputs<'a> {
    pub(crate) name: &'a str,
    pub(crate) version: &'a str,
    pub(crate) created_at: &'a str,
    pub(crate) generator: &'a Generator,
    pub(crate) files: &'a [ManifestFile],
    /// `(name in the zip, bytes)` of `reports/readiness.json`, when bundled.
    pub(crate) readiness: Option<(&'a str, &'a [u8])>,
    /// `(name in the zip, bytes)` of `reports/soak_metrics.json`, when bundled.
    pub(crate) soak_metrics: Option<(&'a str, &'a [u8])>,
    /// Name in the zip of `reports/SOAK_RESULTS.md`, when bundled.
    pub(crate) soak_results: Option<&'a str>,
}

/// Renders the Markdown.
pub(crate) fn render(inputs: &SummaryInputs<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Release {} v{}\n", inputs.name, inputs.version);
    let _ = writeln!(out, "- Version: `{}`", inputs.version);
    let _ = writeln!(out, "- Created: {}", inputs.created_at);
    let _ = writeln!(out, "- Generator: {}", inputs.generator.short());
    let _ = writeln!(out, "- Files: {}; MANIFEST.json has the full SHA-256 of each\n", inputs.files.len());
    let _ = writeln!(out, "## Files\n");
    let _ = writeln!(out, "| Path | Size | SHA-256 |");
    let _ = writeln!(out, "|---|---:|---|");
    for file in inputs.files {
        let _ = writeln!(
            out,
            "| {} | {} | `{}` |",
            escape_cell(&file.path),
            format_size(file.size),
            short_hash(&file.sha256)
        );
    }
    let _ = writeln!(out, "\n## Readiness\n");
    match inputs.readiness {
        None => {
            let _ = writeln!(out, "No readiness report in this bundle.");
        }
        Some((name, bytes)) => render_readiness(&mut out, name, bytes),
    }
    let _ = writeln!(out, "\n## Soak\n");
    match (inputs.soak_metrics, inputs.soak_results) {
        (None, None) => {
            let _ = writeln!(out, "No soak reports in this bundle.");
        }
        (None, Some(results)) => {
            let _ = writeln!(out, "No soak_metrics.json in this bundle; see `{}`.", escape_cell(results));
        }
        (Some((name, bytes)), results) => {
            render_soak(&mut out, name, bytes);
            if let Some(results) = results {
                let _ = writeln!(out, "\nDetails: `{}`.", escape_cell(results));
            }
        }
    }
    out
}

/// The first 12 hex digits: enough to tell files apart at a glance.
pub(crate) fn short_hash(sha256: &str) -> &str {
    &sha256[..sha256.len().min(12)]
}

fn escape_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn render_readiness(out: &mut String, name: &str, bytes: &[u8]) {
    // The shared typed document: the summary shows only a verdict make-ready could have written.
    let document = match ReadinessDoc::parse(bytes) {
        Ok(document) => document,
        Err(errors) => {
            let first = errors.first().map(String::as_str).unwrap_or("invalid");
            let _ = writeln!(
                out,
                "`{}` is not a valid readiness document ({}); no verdict shown.",
                escape_cell(name),
                escape_cell(first)
            );
            return;
        }
    };
    let _ = writeln!(
        out,
        "Verdict: **{}**, score {} / 100 (from `{}`)",
        document.verdict.label(),
        format_number(document.score),
        escape_cell(name)
    );
    let _ = writeln!(out, "\n| Section | Score |");
    let _ = writeln!(out, "|---|---:|");
    for (section, score) in document.sections.named() {
        let _ = writeln!(out, "| {section} | {} |", format_number(score));
    }
}

fn render_soak(out: &mut String, name: &str, bytes: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
        let _ = writeln!(out, "`{}` is not valid JSON; no KPIs shown.", escape_cell(name));
        return;
    };
    let runs = soak_runs(&value);
    let _ = writeln!(
        out,
        "Medians over {} soak run{} (from `{}`):\n",
        runs.len(),
        plural(runs.len()),
        escape_cell(name)
    );
    let _ = writeln!(out, "| KPI | Median |");
    let _ = writeln!(out, "|---|---:|");
    for kpi in SOAK_KPIS {
        let values: Vec<f64> = runs.iter().flat_map(|run| kpi_values(run, kpi)).collect();
        let median = crate::stats::median(&values).map_or("n/a".to_string(), format_number);
        let _ = writeln!(out, "| {kpi} | {median} |");
    }
}

/// The runs in a soak metrics file: an array of runs, an object holding one under `runs`,
/// `reports` or `days`, or a single object (whose KPI fields may themselves be arrays).
fn soak_runs(value: &Value) -> Vec<&Value> {
    if let Some(array) = value.as_array() {
        return array.iter().collect();
    }
    for key in ["runs", "reports", "days"] {
        if let Some(array) = value.get(key).and_then(Value::as_array) {
            return array.iter().collect();
        }
    }
    vec![value]
}

/// A KPI in one run: a finite number, or an array of them (non-finite and non-numbers skipped).
fn kpi_values(run: &Value, kpi: &str) -> Vec<f64> {
    match run.get(kpi) {
        Some(Value::Array(items)) => {
            items.iter().filter_map(Value::as_f64).filter(|v| v.is_finite()).collect()
        }
        Some(value) => value.as_f64().filter(|v| v.is_finite()).into_iter().collect(),
        None => Vec::new(),
    }
}

/// Up to 6 decimals, trailing zeros dropped: `2.5`, `100`, `0.333333`.
fn format_number(value: f64) -> String {
    let text = format!("{value:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" { "0".into() } else { text.into() }
}

use crate::units::plural_s as plural;

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> Vec<ManifestFile> {
        vec![ManifestFile {
            path: "VERSION".into(),
            sha256: "0123456789abcdef".repeat(4),
            size: 6,
            description: "Version file".into(),
        }]
    }

    fn inputs<'a>(generator: &'a Generator, files: &'a [ManifestFile]) -> SummaryInputs<'a> {
        SummaryInputs {
            name: "mm-bot",
            version: "1.4.0",
            created_at: "2025-10-11T12:00:00Z",
            generator,
            files,
            readiness: None,
            soak_metrics: None,
            soak_results: None,
        }
    }

    #[test]
    fn without_reports_says_so() {
        let generator = Generator::current(6);
        let files = files();
        let text = render(&inputs(&generator, &files));
        assert!(
            text.starts_with(
                "# Release mm-bot v1.4.0\n\n- Version: `1.4.0`\n- Created: 2025-10-11T12:00:00Z\n"
            )
        );
        assert!(text.contains("| VERSION | 6 B | `0123456789ab` |\n"), "{text}");
        assert!(text.contains("No readiness report in this bundle."));
        assert!(text.contains("No soak reports in this bundle."));
    }

    #[test]
    fn readiness_and_soak_medians() {
        let generator = Generator::current(6);
        let files = files();
        let readiness = br#"{"runtime":{"utc":"2026-11-28T12:00:00Z","version":"1.4.0"},"score":87.5,"sections":{"chaos":10,"edge":30,"guards":10,"latency":12.5,"taker":15,"tests":10},"verdict":"HOLD"}"#;
        let soak = br#"[{"edge_net_bps":2.0,"order_age_p95_ms":300,"taker_share_pct":10},
                        {"edge_net_bps":3.0,"order_age_p95_ms":500},
                        {"edge_net_bps":"bad","order_age_p95_ms":400,"taker_share_pct":12}]"#;
        let mut summary = inputs(&generator, &files);
        summary.readiness = Some(("reports/readiness.json", readiness));
        summary.soak_metrics = Some(("reports/soak_metrics.json", soak));
        summary.soak_results = Some("reports/SOAK_RESULTS.md");
        let text = render(&summary);
        assert!(
            text.contains("Verdict: **HOLD**, score 87.5 / 100 (from `reports/readiness.json`)\n"),
            "{text}"
        );
        assert!(
            text.contains("| chaos | 10 |\n| edge | 30 |\n| guards | 10 |\n| latency | 12.5 |\n"),
            "{text}"
        );
        assert!(text.contains("Medians over 3 soak runs"));
        assert!(
            text.contains("| edge_net_bps | 2.5 |\n| order_age_p95_ms | 400 |\n| taker_share_pct | 11 |\n"),
            "{text}"
        );
        assert!(text.contains("Details: `reports/SOAK_RESULTS.md`."));
    }

    #[test]
    fn kpi_arrays_in_one_object_and_bad_json() {
        let generator = Generator::current(6);
        let files = files();
        let mut summary = inputs(&generator, &files);
        summary.soak_metrics = Some(("m.json", br#"{"edge_net_bps":[1,2,3,10]}"#));
        let text = render(&summary);
        assert!(text.contains("| edge_net_bps | 2.5 |\n| order_age_p95_ms | n/a |"), "{text}");
        summary.readiness = Some(("r.json", b"{not json"));
        assert!(render(&summary).contains("`r.json` is not a valid readiness document (not valid JSON: "));
        // Regression: a duplicate key used to show whichever value serde_json kept last.
        summary.readiness = Some(("r.json", br#"{"verdict":"HOLD","verdict":"GO"}"#));
        assert!(
            render(&summary)
                .contains("`r.json` is not a valid readiness document (duplicate key \"verdict\""),
            "{}",
            render(&summary)
        );
    }
}
