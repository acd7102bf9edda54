//! `mmops rotate`: artifact retention that is safe with other people's files, and fast.
//!
//! One run: resolve the limits (flags, `--policy`, or the shipped default policy) → open the base
//! dir → take the run lock (real runs only) → scan → plan (pure, [`plan`]) → safety guards →
//! archive (optional) → delete, re-checking each file against the plan → prune empty folders →
//! report. A dry run stops after the guards and writes nothing at all.

mod apply;
mod archive;
mod plan;
mod policy;
mod report;
mod retention;
mod scan;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use rustix::fs::{AtFlags, CWD, statat};

use crate::cli::RotateArgs;
use crate::context::Context;
use crate::outcome::Verdict;
use crate::progress::Progress;
use crate::prometheus::{Exposition, MetricType};
use crate::sanitize::display_path;

use apply::{Attempt, FileResult, RunLock};
use plan::check_guards;
use policy::Source;
use report::{FilesView, PathError, RotateReport, RuleView, ScanView, Totals};
use scan::{BaseDir, Identity, ScanOptions};

/// Deleting at least this many files draws a progress bar (on a terminal only).
const PROGRESS_THRESHOLD: u64 = 2_000;
/// How many future-dated files a warning names before summarising.
const FUTURE_NAMES_SHOWN: usize = 5;

pub fn run(args: &RotateArgs, context: &Context) -> Result<Verdict> {
    let printer = &context.printer;
    let retention = policy::resolve(args)?;
    let base = BaseDir::open(&args.base_dir)?;
    let archive_identity = match &args.archive {
        Some(dir) => existing_identity(dir)?,
        None => None,
    };
    if archive_identity == Some(base.identity) {
        bail!(
            "--archive must not be the base dir itself (its zips would become candidates); use a folder such as {}/archive or one outside it",
            args.base_dir.display()
        );
    }

    let _lock = if args.dry_run {
        None
    } else {
        Some(RunLock::acquire(&base, args.wait_lock.unwrap_or(Duration::ZERO))?)
    };

    let mut scan = scan::scan(
        &base,
        &ScanOptions {
            include_hidden: args.include_hidden,
            retention: &retention,
            archive_dir: archive_identity,
        },
    );
    for error in &scan.errors {
        printer.problem(format!("cannot read {}: {}", shown_relative(&base, &error.path), error.message));
    }

    scan.sort_oldest_first();
    let now_nanos = i128::from(context.now.timestamp()) * 1_000_000_000
        + i128::from(context.now.timestamp_subsec_nanos());
    let limits: Vec<plan::Limits> = retention.rules.iter().map(|rule| rule.limits).collect();
    let plan = plan::plan(&scan.files, |a, b| scan.compare_paths(a, b), &limits, now_nanos);
    let candidate_count = scan.files.len() as u64;
    let refusal =
        check_guards(plan.selected.len() as u64, candidate_count, args.allow_delete_all, args.max_delete);

    let mut warnings = Vec::new();
    if !plan.future.is_empty() {
        let names: Vec<String> = plan
            .future
            .iter()
            .take(FUTURE_NAMES_SHOWN)
            .map(|&index| display_path(&scan.relative_path(&scan.files[index as usize])))
            .collect();
        let more = plan.future.len().saturating_sub(FUTURE_NAMES_SHOWN);
        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
        warnings.push(format!(
            "{} dated in the future (clock skew?) and kept: {}{more}",
            if plan.future.len() == 1 {
                "1 file is".to_string()
            } else {
                format!("{} files are", plan.future.len())
            },
            names.join(", ")
        ));
    }
    for (rule, summary) in retention.rules.iter().zip(&plan.groups) {
        if !summary.unmet.is_empty() {
            warnings.push(format!(
                "rule {}: the kept files still exceed {} because future-dated files are never deleted",
                rule.label,
                summary.unmet.join(" and ")
            ));
        }
    }

    let selected_indices: Vec<u32> = plan.selected.iter().map(|(index, _)| *index).collect();
    let mut attempts: Vec<Attempt> = vec![(FileResult::WouldDelete, None); selected_indices.len()];
    let mut archive_summary = None;
    let mut pruned_dirs = Vec::new();
    let mut dry_run_refusal = None;

    if args.dry_run {
        if let Some(refusal) = &refusal {
            warnings.push(format!("a real run would be refused: {}", refusal.message()));
            dry_run_refusal = Some(refusal.message());
        }
        if args.prom_file.is_some() {
            warnings.push("--prom-file is not written on a dry run (a dry run writes nothing)".to_string());
        }
    } else {
        if let Some(refusal) = refusal {
            bail!("{}; nothing was deleted", refusal.message());
        }
        let mut archived: Vec<Option<Attempt>> = vec![None; selected_indices.len()];
        if let Some(dir) = &args.archive {
            // Opened even when nothing is selected, so a killed run's temporary files go.
            let archive_dir = archive::ArchiveDir::open(dir, !selected_indices.is_empty())?;
            for name in archive_dir.iter().flat_map(|opened| &opened.stale_temp_files_removed) {
                printer.note(format!(
                    "removed {name}, a temporary file left by an interrupted run, from {}",
                    dir.display()
                ));
            }
            if let (Some(archive_dir), false) = (&archive_dir, selected_indices.is_empty()) {
                archive_summary = Some(archive::write_archive(
                    archive_dir,
                    context.now,
                    &base,
                    &scan,
                    &selected_indices,
                    &mut archived,
                )?);
            }
        }
        // Files that changed, vanished or could not be read while archiving are not deleted.
        let to_delete: Vec<u32> = selected_indices
            .iter()
            .zip(&archived)
            .filter(|(_, outcome)| outcome.is_none())
            .map(|(index, _)| *index)
            .collect();
        let progress = Progress::items(printer, to_delete.len() as u64, PROGRESS_THRESHOLD, "deleting");
        // From here on SIGINT/SIGTERM stop the run between two files, so the report says exactly
        // what was deleted and the lock is released by a normal exit.
        let interrupted = Arc::new(AtomicBool::new(false));
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(signal, Arc::clone(&interrupted))
                .context("cannot install the SIGINT/SIGTERM handler")?;
        }
        let mut deleted = apply::delete_files(&base, &scan, &to_delete, || {
            progress.advance(1);
            !interrupted.load(Ordering::Relaxed)
        })
        .into_iter();
        if interrupted.load(Ordering::Relaxed) {
            printer.problem("interrupted: stopped between two files; the files not yet deleted are kept");
        }
        progress.finish();
        for (attempt, outcome) in attempts.iter_mut().zip(archived) {
            *attempt = match outcome {
                Some(outcome) => outcome,
                None => deleted.next().unwrap_or((FileResult::Failed, None)),
            };
        }
        for ((index, _), (result, error)) in plan.selected.iter().zip(&attempts) {
            if *result == FileResult::Failed {
                let path = scan.relative_path(&scan.files[*index as usize]);
                printer.problem(format!(
                    "cannot delete {}: {}",
                    shown_relative(&base, &path),
                    error.as_deref().unwrap_or("unknown error")
                ));
            }
        }
        if args.prune_empty_dirs {
            let mut touched: Vec<u32> = plan
                .selected
                .iter()
                .zip(&attempts)
                .filter(|(_, (result, _))| *result == FileResult::Deleted)
                .map(|((index, _), _)| scan.files[*index as usize].dir)
                .collect();
            touched.sort_unstable();
            touched.dedup();
            let (removed, problems) = apply::prune_empty_dirs(&base, &scan, &touched);
            pruned_dirs = removed.iter().map(|path| display_path(path)).collect();
            warnings.extend(problems);
        }
    }
    for warning in &warnings {
        printer.warn(warning);
    }

    let mut totals = Totals {
        selected_files: plan.selected.len() as u64,
        selected_bytes: plan.selected_bytes(&scan.files),
        ..Totals::default()
    };
    for ((index, _), (result, _)) in plan.selected.iter().zip(&attempts) {
        match result {
            FileResult::Deleted => {
                totals.deleted_files += 1;
                totals.deleted_bytes += scan.files[*index as usize].size;
            }
            FileResult::Vanished => totals.vanished += 1,
            FileResult::Changed => totals.changed += 1,
            FileResult::Failed => totals.failed += 1,
            FileResult::Interrupted => totals.interrupted += 1,
            FileResult::WouldDelete => {}
        }
    }
    let scanned_bytes = scan.total_bytes();
    let gone = if args.dry_run {
        (totals.selected_files, totals.selected_bytes)
    } else {
        (
            totals.deleted_files + totals.vanished,
            totals.deleted_bytes + vanished_bytes(&plan, &scan, &attempts),
        )
    };
    totals.kept_files = candidate_count - gone.0;
    totals.kept_bytes = scanned_bytes - gone.1;

    let rule_labels: Vec<String> = retention.rules.iter().map(|rule| rule.label.clone()).collect();
    let (policy, default_policy) = match &retention.source {
        Source::Flags => (None, false),
        Source::Policy { path, default } => (Some(path.display().to_string()), *default),
    };
    let report = RotateReport {
        base_dir: args.base_dir.display().to_string(),
        dry_run: args.dry_run,
        now: crate::clock::format_utc(context.now),
        policy,
        default_policy,
        rules: retention
            .rules
            .iter()
            .zip(&plan.groups)
            .map(|(rule, summary)| RuleView {
                glob: rule.label.clone(),
                days: rule.limits.days,
                keep: rule.limits.keep,
                max_size: rule.limits.max_size,
                summary: summary.clone(),
            })
            .collect(),
        uncovered: plan.uncovered.clone(),
        scan: ScanView {
            files: candidate_count,
            bytes: scanned_bytes,
            dirs: scan.dirs.len() as u64,
            skipped: scan.skipped.clone(),
            errors: scan
                .errors
                .iter()
                .map(|error| PathError { path: display_path(&error.path), error: error.message.clone() })
                .collect(),
        },
        files: FilesView {
            scan: &scan,
            selected: &plan.selected,
            results: &attempts,
            rule_labels: &rule_labels,
            now_nanos,
        },
        totals,
        future_dated: plan
            .future
            .iter()
            .map(|&index| display_path(&scan.relative_path(&scan.files[index as usize])))
            .collect(),
        archive: archive_summary,
        pruned_dirs,
        refusal: dry_run_refusal,
        warnings,
    };
    if let (Some(path), false) = (&args.prom_file, args.dry_run) {
        write_prom_file(path, &report, context)?;
    }
    printer.emit(&report)
}

/// Bytes of selected files that someone else removed first (they are gone all the same).
fn vanished_bytes(plan: &plan::Plan, scan: &scan::Scan, attempts: &[Attempt]) -> u64 {
    plan.selected
        .iter()
        .zip(attempts)
        .filter(|(_, (result, _))| *result == FileResult::Vanished)
        .map(|((index, _), _)| scan.files[*index as usize].size)
        .sum()
}

/// The identity of a folder that exists, `None` when it does not exist yet.
fn existing_identity(path: &Path) -> Result<Option<Identity>> {
    match statat(CWD, path, AtFlags::empty()) {
        Ok(stat) => Ok(Some(Identity::of(&stat))),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(errno) => {
            bail!("cannot stat the archive folder {}: {}", path.display(), std::io::Error::from(errno))
        }
    }
}

/// A path under the base dir as the operator would type it.
fn shown_relative(base: &BaseDir, relative: &Path) -> String {
    display_path(&base.path.join(relative))
}

/// The Prometheus textfile: what was deleted and kept, failures, and when this ran.
fn write_prom_file(path: &Path, report: &RotateReport<'_>, context: &Context) -> Result<()> {
    let base = report.base_dir.as_str();
    let labels = || vec![("base_dir", base)];
    let totals = &report.totals;
    let failures = totals.failed + report.scan.errors.len() as u64;
    let mut exposition = Exposition::new();
    for (name, help, value) in [
        ("mmops_rotate_deleted_files", "Files deleted by the last rotation.", totals.deleted_files),
        ("mmops_rotate_deleted_bytes", "Bytes freed by the last rotation.", totals.deleted_bytes),
        ("mmops_rotate_kept_files", "Candidate files kept by the last rotation.", totals.kept_files),
        ("mmops_rotate_kept_bytes", "Bytes of candidate files kept by the last rotation.", totals.kept_bytes),
        ("mmops_rotate_failures", "Files or folders the last rotation could not read or delete.", failures),
    ] {
        exposition.metric(name, help, MetricType::Gauge, &[(labels(), value as f64)]);
    }
    exposition.metric(
        "mmops_rotate_success",
        "1 when the last rotation finished without failures, else 0.",
        MetricType::Gauge,
        &[(labels(), if failures == 0 { 1.0 } else { 0.0 })],
    );
    exposition.metric(
        "mmops_rotate_last_run_timestamp_seconds",
        "When the last rotation ran (Unix seconds).",
        MetricType::Gauge,
        &[(labels(), context.now.timestamp() as f64)],
    );
    exposition.write_to(path)
}

/// Parses a retention policy file; the fuzz target's way in.
pub(crate) fn fuzz_policy(path: &std::path::Path) {
    let _ = policy::load_policy(path, &mut Vec::new());
}
