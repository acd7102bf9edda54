//! What cron-sentinel prints: the task table (text), the JSON document, and the Prometheus file.

use std::io::{self, Write};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::check::{Finding, Status};
use super::config::Task;
use crate::clock::format_utc;
use crate::outcome::Verdict;
use crate::output::{Marker, Report, Style};
use crate::prometheus::{Exposition, MetricType};
use crate::sanitize::{display_path, display_text};
use crate::units::format_duration;

const TOOL: &str = "cron_sentinel";
const KEY: &str = "CRON_SENTINEL";

/// One row of the report.
#[derive(Debug, Serialize)]
pub(crate) struct TaskResult {
    pub name: String,
    /// The path or glob from the config.
    pub artifact: String,
    /// The file actually checked (the newest match for a glob), when one was found.
    pub path: Option<String>,
    pub status: Status,
    pub age_seconds: Option<i64>,
    pub max_age_seconds: Option<u64>,
    pub warn_age_seconds: Option<u64>,
    /// The cron expression, as written.
    pub schedule: Option<String>,
    /// The schedule's IANA zone.
    pub tz: Option<String>,
    pub grace_seconds: Option<u64>,
    /// The latest scheduled start whose grace has run out, RFC 3339 in the task's zone.
    pub last_due: Option<String>,
    /// The next scheduled start, RFC 3339 in the task's zone.
    pub next_due: Option<String>,
    /// Where the artifact time came from: `mtime` or `json:<pointer>`.
    pub timestamp: String,
    /// The artifact time used (RFC 3339, UTC): the mtime unless `timestamp` says otherwise.
    pub artifact_time: Option<String>,
    pub mtime: Option<String>,
    pub size: Option<u64>,
    pub message: Option<String>,
    #[serde(skip)]
    last_due_unix: Option<i64>,
    #[serde(skip)]
    schedule_text: Option<String>,
}

impl TaskResult {
    pub fn new(task: &Task, finding: Finding) -> TaskResult {
        let zone = task.schedule.as_ref().map(|scheduled| scheduled.zone);
        let in_zone = |instant: Option<DateTime<Utc>>| {
            Some(instant?.with_timezone(&zone?).to_rfc3339_opts(SecondsFormat::Secs, false))
        };
        let short = |instant: Option<DateTime<Utc>>| {
            Some(instant?.with_timezone(&zone?).format("%m-%d %H:%M%:z").to_string())
        };
        let schedule_text = task.schedule.as_ref().map(|_| {
            format!(
                "due {}, next {}",
                short(finding.last_due).unwrap_or_else(|| "none".into()),
                short(finding.next_due).unwrap_or_else(|| "none".into())
            )
        });
        TaskResult {
            name: task.name.clone(),
            artifact: task.artifact.clone(),
            path: finding.file.as_ref().map(|facts| display_path(&facts.path)),
            status: finding.status,
            age_seconds: finding.age_seconds,
            max_age_seconds: task.max_age.map(|age| age.as_secs()),
            warn_age_seconds: task.warn_age.map(|age| age.as_secs()),
            schedule: task.schedule.as_ref().map(|scheduled| scheduled.schedule.text().to_string()),
            tz: zone.map(|zone| zone.name().to_string()),
            grace_seconds: task.schedule.as_ref().map(|scheduled| scheduled.grace.as_secs()),
            last_due: in_zone(finding.last_due),
            next_due: in_zone(finding.next_due),
            timestamp: task.timestamp.to_string(),
            artifact_time: finding.file.as_ref().map(|facts| format_utc(facts.time)),
            mtime: finding.file.as_ref().map(|facts| format_utc(facts.modified)),
            size: finding.file.as_ref().map(|facts| facts.size),
            message: finding.message,
            last_due_unix: finding.last_due.map(|due| due.timestamp()),
            schedule_text,
        }
    }

    fn age_text(&self) -> String {
        match self.age_seconds {
            Some(seconds) if seconds >= 0 => format_duration(std::time::Duration::from_secs(seconds as u64)),
            Some(seconds) => {
                format!("-{}", format_duration(std::time::Duration::from_secs(seconds.unsigned_abs())))
            }
            None => "-".into(),
        }
    }
}

/// Counts per status, in a fixed order.
#[derive(Debug, Serialize)]
pub(crate) struct Summary {
    pub total: usize,
    pub fresh: usize,
    pub stale: usize,
    pub missing: usize,
    pub empty: usize,
    pub error: usize,
    pub future: usize,
    pub too_large: usize,
    pub warn: usize,
    pub paused: usize,
}

#[derive(Debug, Serialize)]
pub(crate) struct SentinelReport {
    pub config: String,
    pub now: String,
    pub tasks: Vec<TaskResult>,
    pub summary: Summary,
    #[serde(skip)]
    fail_on_warn: bool,
}

impl SentinelReport {
    pub fn new(
        config: String,
        now: DateTime<Utc>,
        tasks: Vec<TaskResult>,
        fail_on_warn: bool,
    ) -> SentinelReport {
        let count = |status: Status| tasks.iter().filter(|task| task.status == status).count();
        let summary = Summary {
            total: tasks.len(),
            fresh: count(Status::Fresh),
            stale: count(Status::Stale),
            missing: count(Status::Missing),
            empty: count(Status::Empty),
            error: count(Status::Error),
            future: count(Status::Future),
            too_large: count(Status::TooLarge),
            warn: count(Status::Warn),
            paused: count(Status::Paused),
        };
        SentinelReport { config, now: format_utc(now), tasks, summary, fail_on_warn }
    }

    fn passed(&self) -> bool {
        self.tasks.iter().all(|task| task.status.passes(self.fail_on_warn))
    }

    /// `3 tasks: 2 fresh, 1 stale`.
    fn summary_line(&self) -> String {
        let parts: Vec<String> = Status::ALL
            .iter()
            .map(|status| (status, self.tasks.iter().filter(|task| task.status == *status).count()))
            .filter(|(_, count)| *count > 0)
            .map(|(status, count)| format!("{count} {}", status.label().to_lowercase().replace('_', " ")))
            .collect();
        let noun = if self.tasks.len() == 1 { "task" } else { "tasks" };
        format!("{} {noun}: {}", self.tasks.len(), parts.join(", "))
    }

    /// The Prometheus textfile-collector view of the same result.
    pub fn exposition(&self, now: DateTime<Utc>) -> Exposition {
        fn label(task: &TaskResult) -> Vec<(&str, &str)> {
            vec![("task", task.name.as_str())]
        }
        let fresh: Vec<_> = self
            .tasks
            .iter()
            .map(|task| {
                (label(task), f64::from(u8::from(matches!(task.status, Status::Fresh | Status::Warn))))
            })
            .collect();
        let paused: Vec<_> = self
            .tasks
            .iter()
            .map(|task| (label(task), f64::from(u8::from(task.status == Status::Paused))))
            .collect();
        let ages: Vec<_> = self
            .tasks
            .iter()
            .filter_map(|task| task.age_seconds.map(|age| (label(task), age as f64)))
            .collect();
        let max_ages: Vec<_> = self
            .tasks
            .iter()
            .filter_map(|task| task.max_age_seconds.map(|age| (label(task), age as f64)))
            .collect();
        let warn: Vec<_> = self
            .tasks
            .iter()
            .map(|task| (label(task), f64::from(u8::from(task.status == Status::Warn))))
            .collect();
        let last_due: Vec<_> = self
            .tasks
            .iter()
            .filter_map(|task| task.last_due_unix.map(|due| (label(task), due as f64)))
            .collect();
        let mut exposition = Exposition::new();
        exposition
            .metric(
                "mmops_cron_sentinel_task_fresh",
                "1 when the task's artifact is fresh (WARN included), 0 when stale, missing, empty, unreadable, future-dated or paused.",
                MetricType::Gauge,
                &fresh,
            )
            .metric("mmops_cron_sentinel_task_paused", "1 when the task is disabled or paused for maintenance.", MetricType::Gauge, &paused)
            .metric(
                "mmops_cron_sentinel_task_age_seconds",
                "Seconds since the task's artifact was modified (absent when no file was found).",
                MetricType::Gauge,
                &ages,
            )
            .metric("mmops_cron_sentinel_task_max_age_seconds", "The task's configured max_age in seconds.", MetricType::Gauge, &max_ages)
            .metric(
                "mmops_cron_sentinel_task_warn",
                "1 when the task is WARN: older than warn_age but otherwise fresh.",
                MetricType::Gauge,
                &warn,
            )
            .metric(
                "mmops_cron_sentinel_task_last_due_timestamp_seconds",
                "Unix time of the latest scheduled start whose grace has run out (scheduled tasks).",
                MetricType::Gauge,
                &last_due,
            )
            .single(
                "mmops_cron_sentinel_last_run_timestamp_seconds",
                "Unix time of the last cron-sentinel run.",
                MetricType::Gauge,
                now.timestamp() as f64,
            );
        exposition
    }
}

impl Report for SentinelReport {
    fn marker(&self) -> Marker {
        let verdict = Verdict::from_passed(self.passed());
        Marker::new(TOOL, verdict, KEY, verdict.label())
    }

    fn write_text(&self, out: &mut dyn Write, style: &Style) -> io::Result<()> {
        let header = ["TASK", "STATUS", "AGE", "MAX AGE", "ARTIFACT"];
        let rows: Vec<[String; 5]> = self
            .tasks
            .iter()
            .map(|task| {
                [
                    display_text(&task.name, false),
                    task.status.label().to_string(),
                    task.age_text(),
                    task.max_age_seconds.map_or_else(
                        || "-".into(),
                        |age| format_duration(std::time::Duration::from_secs(age)),
                    ),
                    task.path.clone().unwrap_or_else(|| display_text(&task.artifact, false)),
                ]
            })
            .collect();
        let mut widths = header.map(str::len);
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let pad = |text: &str, width: usize| {
            format!("{text}{}", " ".repeat(width.saturating_sub(text.chars().count())))
        };
        let header_line: Vec<String> =
            header.iter().zip(widths).map(|(cell, width)| pad(cell, width)).collect();
        writeln!(out, "{}", style.bold(header_line.join("  ").trim_end()))?;
        for (task, row) in self.tasks.iter().zip(&rows) {
            let mut cells: Vec<String> =
                row.iter().zip(widths).map(|(cell, width)| pad(cell, width)).collect();
            cells[1] = match task.status {
                Status::Fresh => style.good(&cells[1]),
                Status::Paused | Status::Warn => style.dim(&cells[1]),
                _ => style.bad(&cells[1]),
            };
            writeln!(out, "{}", cells.join("  ").trim_end())?;
            if let Some(message) = &task.message {
                writeln!(out, "  {} {}", style.dim("↳"), display_text(message, false))?;
            }
            if let Some(schedule) = &task.schedule_text {
                writeln!(out, "  {} {schedule}", style.dim("↳"))?;
            }
        }
        writeln!(out, "{}", self.summary_line())
    }
}

/// `--check-config`: the validated task list, without looking at any artifact.
#[derive(Debug, Serialize)]
pub(crate) struct ConfigReport {
    pub config: String,
    pub tasks: Vec<ConfiguredTask>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ConfiguredTask {
    pub name: String,
    pub artifact: String,
    pub max_age_seconds: Option<u64>,
    pub warn_age_seconds: Option<u64>,
    pub schedule: Option<String>,
    pub tz: Option<String>,
    pub grace_seconds: Option<u64>,
    pub timestamp: String,
    pub max_size: Option<u64>,
    pub min_size: Option<u64>,
    pub enabled: bool,
    pub paused_until: Option<String>,
}

impl ConfigReport {
    pub fn new(config: String, tasks: &[Task]) -> ConfigReport {
        let tasks = tasks
            .iter()
            .map(|task| ConfiguredTask {
                name: task.name.clone(),
                artifact: task.artifact.clone(),
                max_age_seconds: task.max_age.map(|age| age.as_secs()),
                warn_age_seconds: task.warn_age.map(|age| age.as_secs()),
                schedule: task.schedule.as_ref().map(|scheduled| scheduled.schedule.text().to_string()),
                tz: task.schedule.as_ref().map(|scheduled| scheduled.zone.name().to_string()),
                grace_seconds: task.schedule.as_ref().map(|scheduled| scheduled.grace.as_secs()),
                timestamp: task.timestamp.to_string(),
                max_size: task.max_size,
                min_size: task.min_size,
                enabled: task.enabled,
                paused_until: task.paused_until.map(format_utc),
            })
            .collect();
        ConfigReport { config, tasks }
    }
}

impl Report for ConfigReport {
    fn marker(&self) -> Marker {
        Marker::new(TOOL, Verdict::Pass, KEY, "CONFIG_OK")
    }

    fn write_text(&self, out: &mut dyn Write, _style: &Style) -> io::Result<()> {
        let noun = if self.tasks.len() == 1 { "task" } else { "tasks" };
        writeln!(out, "{}: {} {noun}, valid", self.config, self.tasks.len())?;
        for task in &self.tasks {
            let mut rules: Vec<String> = Vec::new();
            if let Some(age) = task.max_age_seconds {
                rules.push(format!("within {}", format_duration(std::time::Duration::from_secs(age))));
            }
            if let (Some(schedule), Some(tz), Some(grace)) = (&task.schedule, &task.tz, task.grace_seconds) {
                rules.push(format!(
                    "after each run of {} {tz} (+{} grace)",
                    display_text(schedule, false),
                    format_duration(std::time::Duration::from_secs(grace))
                ));
            }
            let state = if task.enabled { "" } else { " (disabled)" };
            writeln!(
                out,
                "  {}: {} {}{state}",
                display_text(&task.name, false),
                display_text(&task.artifact, false),
                rules.join(" and ")
            )?;
        }
        Ok(())
    }
}

/// `--explain TASK`: a schedule's last and next starts, so an expression can be checked.
#[derive(Debug, Serialize)]
pub(crate) struct ExplainReport {
    pub task: String,
    pub schedule: String,
    pub tz: String,
    pub grace_seconds: u64,
    /// The latest start at or before now (null when there was none in 50 years).
    pub last: Option<Start>,
    pub next: Vec<Start>,
}

/// One scheduled start in the task's zone and in UTC.
#[derive(Debug, Serialize)]
pub(crate) struct Start {
    pub local: String,
    pub utc: String,
}

impl Start {
    fn new(instant: DateTime<Utc>, zone: chrono_tz::Tz) -> Start {
        Start {
            local: instant.with_timezone(&zone).to_rfc3339_opts(SecondsFormat::Secs, false),
            utc: format_utc(instant),
        }
    }
}

impl ExplainReport {
    pub fn new(
        task: &str,
        scheduled: &super::config::Scheduled,
        now: DateTime<Utc>,
        runs: usize,
    ) -> ExplainReport {
        let zone = scheduled.zone;
        ExplainReport {
            task: task.to_string(),
            schedule: scheduled.schedule.text().to_string(),
            tz: zone.name().to_string(),
            grace_seconds: scheduled.grace.as_secs(),
            last: scheduled.schedule.latest_at_or_before(zone, now).map(|last| Start::new(last, zone)),
            next: scheduled
                .schedule
                .upcoming(zone, now, runs)
                .into_iter()
                .map(|next| Start::new(next, zone))
                .collect(),
        }
    }
}

impl Report for ExplainReport {
    fn marker(&self) -> Marker {
        Marker::new(TOOL, Verdict::Pass, KEY, "EXPLAINED")
    }

    fn write_text(&self, out: &mut dyn Write, style: &Style) -> io::Result<()> {
        writeln!(
            out,
            "{}: {} in {} (+{} grace)",
            display_text(&self.task, false),
            display_text(&self.schedule, false),
            self.tz,
            format_duration(std::time::Duration::from_secs(self.grace_seconds))
        )?;
        let row = |label: &str, start: &Start| format!("{label:<5} {:<25}  {}", start.local, start.utc);
        match &self.last {
            Some(last) => writeln!(out, "{}", row("last", last))?,
            None => writeln!(out, "{}", style.dim("last  none in the last 50 years"))?,
        }
        for start in &self.next {
            writeln!(out, "{}", row("next", start))?;
        }
        if self.next.is_empty() {
            writeln!(out, "next  none in the next 50 years")?;
        }
        Ok(())
    }
}
