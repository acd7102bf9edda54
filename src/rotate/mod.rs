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
mod remote;
mod report;
mod retention;
mod scan;

use std::path::Path;
use std::time::Duration;

use std::io::Write as _;

use anyhow::{Context as _, Result, bail};
use rustix::fs::{AtFlags, CWD, fstat, statat};

use crate::atomic_write::AtomicFile;
use crate::cli::RotateArgs;
use crate::context::Context;
use crate::outcome::Verdict;
use crate::progress::Progress;
use crate::prometheus::{Exposition, MetricType};
use crate::sanitize::display_path;

use apply::{Attempt, FileResult, MAX_WAIT_LOCK, Quarantine, RunLock};
use plan::{GuardInput, GuardRule, PlanFile as _, check_guards};
use policy::Source;
use report::{FilesView, PathError, RotateReport, RuleView, ScanView, Totals};
use scan::{BaseDir, Identity, ScanOptions};

/// Deleting at least this many files draws a progress bar (on a terminal only).
const PROGRESS_THRESHOLD: u64 = 2_000;
/// How many future-dated files a warning names before summarising.
const FUTURE_NAMES_SHOWN: usize = 5;

pub fn run(args: &RotateArgs, context: &Context) -> Result<Verdict> {
    let printer = &context.printer;
    if let Some(wait) = args.wait_lock.filter(|&wait| wait > MAX_WAIT_LOCK) {
        bail!(
            "--wait-lock {}: at most {} (7 days) is accepted; a longer wait is a typo, not a plan",
            crate::units::format_duration(wait),
            crate::units::format_duration(MAX_WAIT_LOCK)
        );
    }
    let retention = policy::resolve(args)?;
    if let Some(url) = crate::object_storage::StoreUrl::from_path(&args.base_dir) {
        return remote::run(args, context, url?, retention);
    }
    if args.no_lock {
        bail!("--no-lock applies to object storage only; a local run always takes its lock file");
    }
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
    if !args.dry_run {
        report_restored(printer, &base, &apply::restore_dead_quarantines(&base));
    }

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
    let refusal = check_guards(&GuardInput {
        selected: plan.selected.len() as u64,
        candidates: candidate_count,
        rules: retention
            .rules
            .iter()
            .zip(&plan.groups)
            .map(|(rule, summary)| GuardRule { label: &rule.label, limits: rule.limits, summary })
            .collect(),
        // Sorted oldest first: the last file is the newest.
        newest: scan.files.last().map(|file| (display_path(&scan.relative_path(file)), file.mtime_nanos())),
        now_nanos,
        allow_delete_all: args.allow_delete_all,
        max_delete: args.max_delete,
    });

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
    let mut prom_output = None;
    let mut base_dir_removed = false;

    if args.dry_run {
        if let Some(refusal) = &refusal {
            dry_run_refusal = Some(refusal.message());
        }
        if args.prom_file.is_some() {
            warnings.push("--prom-file is not written on a dry run (a dry run writes nothing)".to_string());
        }
    } else {
        if let Some(refusal) = refusal {
            bail!("{}; nothing was deleted", refusal.message());
        }
        // Every output is prepared (its folder checked, its temporary file made) before the first
        // delete, so a bad output path fails with nothing changed.
        if let Some(path) = &args.prom_file {
            prom_output = Some(AtomicFile::create(path).context("--prom-file: nothing was deleted")?);
        }
        let mut archived: Vec<Option<Attempt>> = vec![None; selected_indices.len()];
        let mut archive_file = None;
        let mut archive_dir = None;
        if let Some(dir) = &args.archive {
            // Opened even when nothing is selected, so a killed run's temporary files go.
            archive_dir = archive::ArchiveDir::open(dir, !selected_indices.is_empty())?;
            if let Some(opened) = &archive_dir {
                for removed in &opened.stale_temp_files_removed {
                    printer.note(crate::atomic_write::temp_file_note(removed, true));
                }
                if !selected_indices.is_empty() {
                    archive_file = Some(opened.prepare(context.now)?);
                }
            }
        }
        let quarantine = if selected_indices.is_empty() {
            None
        } else {
            match Quarantine::create(&base) {
                Ok(quarantine) => Some(quarantine),
                // The base dir went between the scan and here: nothing of the plan is left to
                // delete, and the report below says the run failed with true totals.
                Err(_) if base_was_removed(&base) => None,
                Err(error) => return Err(error),
            }
        };
        if let Some(atomic) = archive_file {
            archive_summary =
                Some(archive::write_archive(atomic, &base, &scan, &selected_indices, &mut archived)?);
        }
        drop(archive_dir);
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
        let watch = crate::interrupt::Watch::start()?;
        let mut deleted = match &quarantine {
            Some(quarantine) => apply::delete_files(&base, &scan, quarantine, &to_delete, || {
                progress.advance(1);
                !watch.requested()
            }),
            None => to_delete.iter().map(|_| (FileResult::Vanished, None)).collect(),
        }
        .into_iter();
        if watch.requested() {
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
            let path = || shown_relative(&base, &scan.relative_path(&scan.files[*index as usize]));
            match result {
                FileResult::Failed => printer.problem(format!(
                    "cannot delete {}: {}",
                    path(),
                    error.as_deref().unwrap_or("unknown error")
                )),
                FileResult::Quarantined => printer.problem(format!(
                    "{}: {}; move it back by hand",
                    path(),
                    error.as_deref().unwrap_or("kept in the quarantine")
                )),
                _ => {}
            }
        }
        if let Some(quarantine) = quarantine {
            quarantine.finish(&base);
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
        base_dir_removed = base_was_removed(&base);
        if base_dir_removed {
            printer.problem(format!(
                "the base dir {} was removed during the run (by something else); the files this run did not \
                 delete went with it",
                display_path(&base.path)
            ));
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
            FileResult::Quarantined => totals.quarantined += 1,
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
    if base_dir_removed {
        // Nothing is kept: whatever this run did not delete was removed along with the folder.
        totals.kept_files = 0;
        totals.kept_bytes = 0;
    } else {
        totals.kept_files = candidate_count - gone.0;
        totals.kept_bytes = scanned_bytes - gone.1;
    }

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
        base_dir_removed,
        warnings,
    };
    let changed_disk = report.totals.deleted_files > 0 || report.archive.is_some();
    let done = || {
        format!(
            "{} {} deleted ({}){}",
            report.totals.deleted_files,
            if report.totals.deleted_files == 1 { "file was" } else { "files were" },
            crate::units::format_size(report.totals.deleted_bytes),
            report
                .archive
                .as_ref()
                .map_or(String::new(), |archive| format!(", archived into {}", archive.path))
        )
    };
    if let Some(mut atomic) = prom_output {
        let written = atomic
            .write_all(prom_text(&report, context).as_bytes())
            .context("cannot write --prom-file")
            .and_then(|()| atomic.commit());
        if let Err(error) = written {
            // Too late for "nothing changed": say what was done, then fail PARTIAL.
            let _ = printer.emit(&report);
            return Err(partial(error.context(format!("{}; ROTATE=PARTIAL", done()))));
        }
    }
    if let Some(refusal) = &report.refusal {
        // The pre-live step dry-runs the policy: it must fail as the real run would (exit 2). In
        // JSON the error document is the one document on stdout; in text the plan comes first.
        if printer.format() == crate::cli::Format::Text {
            printer.emit(&report)?;
        }
        bail!("a real run would be refused: {refusal}");
    }
    match printer.emit(&report) {
        Ok(verdict) => Ok(verdict),
        Err(error) if changed_disk => {
            printer.problem(format!("{}; | rotate | FAIL | ROTATE=PARTIAL |", done()));
            Err(partial(error))
        }
        Err(error) => Err(error),
    }
}

/// A failure after something irreversible: exit 1, never "nothing changed" (exit 2).
fn partial(error: anyhow::Error) -> anyhow::Error {
    let message = crate::output::error_line(&error);
    anyhow::Error::new(crate::outcome::Partial(message))
}

/// Tells what the restore of a killed run's quarantine did.
fn report_restored(printer: &crate::output::Printer, base: &BaseDir, restored: &apply::Restored) {
    if restored.restored > 0 {
        printer.warn(format!(
            "put back {} {} that an interrupted run had moved into its quarantine folder in {}",
            restored.restored,
            if restored.restored == 1 { "file" } else { "files" },
            display_path(&base.path)
        ));
    }
    for left in &restored.left {
        printer.problem(format!(
            "{} stays in the quarantine of an interrupted run: its name is taken or its folder is gone; \
             move it back by hand",
            shown_relative(base, left)
        ));
    }
    for live in &restored.live {
        printer.warn(format!(
            "{} belongs to a process that still runs; left alone",
            shown_relative(base, Path::new(live))
        ));
    }
}

/// Bytes of selected files that someone else removed first (they are gone all the same).
/// A removed folder keeps its open handle but has no link left.
fn base_was_removed(base: &BaseDir) -> bool {
    fstat(&base.handle).is_ok_and(|stat| stat.st_nlink == 0)
}

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
fn prom_text(report: &RotateReport<'_>, context: &Context) -> String {
    let base = report.base_dir.as_str();
    let labels = || vec![("base_dir", base)];
    let totals = &report.totals;
    let failures = totals.failed
        + totals.quarantined
        + report.scan.errors.len() as u64
        + u64::from(report.base_dir_removed);
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
    exposition.as_str().to_string()
}

/// Parses a retention policy file; the fuzz target's way in.
pub(crate) fn fuzz_policy(path: &std::path::Path) {
    let _ = policy::load_policy(path, &mut Vec::new());
}
