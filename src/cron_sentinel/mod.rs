//! `mmops cron-sentinel`: are the files scheduled jobs produce fresh?
//!
//! Loads the task list, finds each task's artifact, classifies it against "now", optionally
//! writes a Prometheus textfile, and reports. Exit 0 when every checked task is FRESH or PAUSED.

mod check;
mod config;
mod remote;
mod report;
mod schedule;

use anyhow::Result;

use crate::cli::CronSentinelArgs;
use crate::context::Context;
use crate::outcome::Verdict;
use crate::prometheus::PromFile;
use crate::sanitize::display_path;

use check::{classify, find_artifact, read_artifact_time};
use report::{ConfigReport, ExplainReport, SentinelReport, TaskResult};

pub fn run(args: &CronSentinelArgs, context: &Context) -> Result<Verdict> {
    if let Some(name) = &args.explain {
        let tasks = config::load(&args.config, std::slice::from_ref(name))?;
        let task = &tasks[0];
        let Some(scheduled) = &task.schedule else {
            anyhow::bail!(
                "task {:?} in {} has no schedule to explain; add schedule: \"<cron expression>\"",
                task.name,
                display_path(&args.config)
            );
        };
        return context.printer.emit(&ExplainReport::new(
            &task.name,
            scheduled,
            context.now,
            usize::from(args.runs),
        ));
    }
    let tasks = config::load(&args.config, &args.tasks)?;
    let config_path = display_path(&args.config);
    if args.check_config {
        return context.printer.emit(&ConfigReport::new(config_path, &tasks));
    }
    // Prepared before the tasks are looked at: a name node_exporter would ignore, or the task
    // list's own path, is refused with nothing written.
    if let Some(prom) = args.prom_file.as_deref()
        && let Some(task) = tasks.iter().find(|task| {
            !task.is_glob()
                && crate::atomic_write::same_destination(std::path::Path::new(&task.artifact), prom)
        })
    {
        // The sentinel would rewrite the artifact it checks on every run: always FRESH.
        anyhow::bail!(
            "--prom-file {} is the artifact of task {:?}; the sentinel would keep it fresh itself: give \
             the Prometheus file its own path",
            display_path(prom),
            task.name
        );
    }
    let prom_file = args
        .prom_file
        .as_deref()
        .map(|path| PromFile::create_apart(path, &[("--config", args.config.as_path())]))
        .transpose()?;
    // Object-store artifacts share one listing per prefix; a store error is exit 2.
    let mut finder = remote::Finder::default();
    let results: Vec<TaskResult> = tasks
        .iter()
        .map(|task| {
            let paused = task.pause_at(context.now).is_some();
            let lookup = match finder.find(task, !paused)? {
                Some(lookup) => lookup,
                None if paused => find_artifact(task, args.prom_file.as_deref()),
                None => read_artifact_time(task, find_artifact(task, args.prom_file.as_deref())),
            };
            Ok(TaskResult::new(task, classify(task, lookup, context.now)))
        })
        .collect::<Result<_>>()?;
    let report = SentinelReport::new(config_path, context.now, results, args.fail_on_warn);
    if let Some(file) = prom_file {
        file.commit(&report.exposition(context.now))?;
    }
    context.printer.emit(&report)
}

/// Parses a task list from text; the fuzz target's way in.
pub(crate) fn fuzz_config(text: &str) {
    let _ = crate::config_file::parse::<config::SentinelConfig>(text, "fuzz.yaml")
        .and_then(|config| config.into_tasks("fuzz.yaml"));
}

/// One schedule evaluated at one instant: `(next start after, latest start at or before)` in
/// Unix seconds, or the parse error. For the fuzz target and the differential test against
/// cronsim (`tests/cli/cron_reference.py`); not a stable API.
#[doc(hidden)]
pub fn schedule_probe(
    expression: &str,
    zone: &str,
    unix_seconds: i64,
) -> Result<(Option<i64>, Option<i64>), String> {
    let schedule = schedule::Schedule::parse(expression).map_err(|error| error.to_string())?;
    let zone: chrono_tz::Tz = zone.parse().map_err(|_| format!("unknown zone {zone:?}"))?;
    let instant = crate::clock::from_unix(unix_seconds, 0).map_err(|error| error.to_string())?;
    Ok((
        schedule.next_after(zone, instant).map(|next| next.timestamp()),
        schedule.latest_at_or_before(zone, instant).map(|latest| latest.timestamp()),
    ))
}
