//! `make-ready --prom-file`: the release gate's result as a Prometheus textfile — the verdict, the
//! readiness score and each section, each pre-live step's status and duration, and the branch
//! and version it ran for (so an alert can page only for the release branch).

use chrono::{DateTime, Utc};

use super::pre_live::StepStatus;
use super::readiness::SECTION_MAXIMA;
use super::report::MakeReadyReport;
use crate::prometheus::{Exposition, MetricType, unix_seconds};

/// The branch being released: `GITHUB_REF_NAME` in GitHub Actions, else the branch checked out in
/// `./.git` (a detached HEAD, or no repository, gives an empty label).
pub(super) fn current_branch() -> String {
    if let Some(name) = std::env::var("GITHUB_REF_NAME").ok().filter(|name| !name.trim().is_empty()) {
        return name.trim().to_string();
    }
    let git = std::path::Path::new(".git");
    // A worktree's `.git` is a file `gitdir: PATH`; a clone's is the folder itself.
    let git_dir = match crate::limits::read_string_limited(git, crate::limits::LOCK_INFO_MAX, "git link") {
        Ok(text) => match text.trim().strip_prefix("gitdir:") {
            Some(dir) => std::path::PathBuf::from(dir.trim()),
            None => return String::new(),
        },
        Err(_) => git.to_path_buf(),
    };
    crate::limits::read_string_limited(&git_dir.join("HEAD"), crate::limits::LOCK_INFO_MAX, "git HEAD")
        .ok()
        .and_then(|head| head.trim().strip_prefix("ref: refs/heads/").map(str::to_string))
        .unwrap_or_default()
}

pub(super) fn exposition(
    report: &MakeReadyReport,
    version: &str,
    branch: &str,
    now: DateTime<Utc>,
) -> Exposition {
    let mut exposition = Exposition::new();
    exposition
        .metric(
            "mmops_make_ready_info",
            "The version and branch of the last make-ready run (always 1).",
            MetricType::Gauge,
            &[(vec![("branch", branch), ("version", version)], 1.0)],
        )
        .single(
            "mmops_make_ready_success",
            "1 when the last make-ready run passed (MAKE_READY=OK or OK_SIGNED_OFF), 0 when BLOCKED.",
            MetricType::Gauge,
            f64::from(u8::from(passed(report.verdict))),
        )
        .single(
            "mmops_make_ready_signed_off",
            "1 when the last run passed only because a person signed off a MARGINAL score (OK_SIGNED_OFF).",
            MetricType::Gauge,
            f64::from(u8::from(report.verdict == "OK_SIGNED_OFF")),
        );
    if let Some(detail) = &report.readiness_detail {
        // The thresholds the verdict was judged by: a scored config's own, else --min-score.
        let scoring = report.readiness.as_ref().and_then(|document| document.scoring.as_ref());
        let (go_at, marginal_at) =
            scoring.map_or((detail.min_score, detail.min_score), |record| (record.go_at, record.marginal_at));
        exposition
            .single(
                "mmops_make_ready_readiness_score",
                "Readiness score of the last run, out of 100.",
                MetricType::Gauge,
                detail.score,
            )
            .single(
                "mmops_make_ready_readiness_go_threshold",
                "Lowest readiness score that is GO: scoring.go_at when the config has a scoring section, else --min-score.",
                MetricType::Gauge,
                go_at,
            )
            .single(
                "mmops_make_ready_readiness_marginal_threshold",
                "Lowest readiness score that is MARGINAL (passes only with --sign-off): scoring.marginal_at; equal to the GO threshold when there is no MARGINAL band.",
                MetricType::Gauge,
                marginal_at,
            );
    }
    let scores: Vec<_> = report
        .readiness
        .iter()
        .flat_map(|document| document.sections.named())
        .map(|(name, value)| (vec![("section", name)], value))
        .collect();
    let maxima: Vec<_> =
        SECTION_MAXIMA.iter().map(|(name, maximum)| (vec![("section", *name)], *maximum)).collect();
    exposition
        .metric(
            "mmops_make_ready_readiness_section_score",
            "Score of one readiness section.",
            MetricType::Gauge,
            &scores,
        )
        .metric(
            "mmops_make_ready_readiness_section_max_score",
            "Highest score one readiness section can reach.",
            MetricType::Gauge,
            &maxima,
        );
    let mut steps: Vec<_> = report.steps.iter().collect();
    steps.sort_by(|a, b| a.name.cmp(&b.name));
    let statuses: Vec<_> = steps
        .iter()
        .flat_map(|step| {
            [StepStatus::Ok, StepStatus::Waived, StepStatus::ReportOnly, StepStatus::Fail].map(|status| {
                (
                    vec![("step", step.name.as_str()), ("status", status.label())],
                    f64::from(u8::from(step.status == status)),
                )
            })
        })
        .collect();
    let durations: Vec<_> =
        steps.iter().map(|step| (vec![("step", step.name.as_str())], step.duration)).collect();
    exposition
        .metric(
            "mmops_make_ready_step_status",
            "1 for the status (OK, WAIVED, REPORT_ONLY, FAIL) each pre-live step ended with, 0 for the others.",
            MetricType::Gauge,
            &statuses,
        )
        .metric(
            "mmops_make_ready_step_duration_seconds",
            "How long each pre-live step ran.",
            MetricType::Gauge,
            &durations,
        );
    if let Some(pack) = &report.pre_live_pack {
        exposition.single(
            "mmops_make_ready_pre_live_duration_seconds",
            "Wall-clock time of the whole pre-live pack.",
            MetricType::Gauge,
            pack.wall_time,
        );
    }
    exposition.single(
        "mmops_make_ready_last_run_timestamp_seconds",
        "When the last make-ready run finished (Unix seconds).",
        MetricType::Gauge,
        unix_seconds(now),
    );
    exposition
}

/// Whether a make-ready verdict lets the release go: OK, or a MARGINAL score a person signed off
/// (the run exits 0 either way; a signed-off release must not page as BLOCKED).
fn passed(verdict: &str) -> bool {
    matches!(verdict, "OK" | "OK_SIGNED_OFF")
}

#[cfg(test)]
mod tests {
    use super::passed;

    #[test]
    fn a_signed_off_release_counts_as_passed() {
        assert!(passed("OK"));
        assert!(passed("OK_SIGNED_OFF"));
        for verdict in ["BLOCKED", "INTERRUPTED", "PARTIAL"] {
            assert!(!passed(verdict), "{verdict}");
        }
    }
}
