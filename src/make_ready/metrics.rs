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
            "1 when the last make-ready verdict was OK, 0 when BLOCKED.",
            MetricType::Gauge,
            f64::from(u8::from(report.verdict == "OK")),
        );
    if let Some(detail) = &report.readiness_detail {
        exposition
            .single(
                "mmops_make_ready_readiness_score",
                "Readiness score of the last run, out of 100.",
                MetricType::Gauge,
                detail.score,
            )
            .single(
                "mmops_make_ready_readiness_min_score",
                "Lowest readiness score that counts as GO (--min-score).",
                MetricType::Gauge,
                detail.min_score,
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
