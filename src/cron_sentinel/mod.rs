//! `mmops cron-sentinel`: are the files scheduled jobs produce fresh?
//!
//! Loads the task list, finds each task's artifact, classifies it against "now", optionally
//! writes a Prometheus textfile, and reports. Exit 0 when every checked task is FRESH or PAUSED.

mod check;
mod config;
mod report;

use anyhow::{Context as _, Result};

use crate::cli::CronSentinelArgs;
use crate::context::Context;
use crate::outcome::Verdict;
use crate::sanitize::display_path;

use check::{classify, find_artifact};
use report::{ConfigReport, SentinelReport, TaskResult};

pub fn run(args: &CronSentinelArgs, context: &Context) -> Result<Verdict> {
    let tasks = config::load(&args.config, &args.tasks)?;
    let config_path = display_path(&args.config);
    if args.check_config {
        return context.printer.emit(&ConfigReport::new(config_path, &tasks));
    }
    let results: Vec<TaskResult> = tasks
        .iter()
        .map(|task| TaskResult::new(task, classify(task, find_artifact(task), context.now)))
        .collect();
    let report = SentinelReport::new(config_path, context.now, results);
    if let Some(path) = &args.prom_file {
        report
            .exposition(context.now)
            .write_to(path)
            .with_context(|| format!("cannot write the Prometheus file {} (--prom-file)", path.display()))?;
    }
    context.printer.emit(&report)
}

/// Parses a task list from text; the fuzz target's way in.
pub(crate) fn fuzz_config(text: &str) {
    let _ = crate::config_file::parse::<config::SentinelConfig>(text, "fuzz.yaml");
}
