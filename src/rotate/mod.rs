//! `mmops rotate`: artifact retention that is safe with other people's files, and fast.
//!
//! One run: resolve the limits (flags, `--policy`, or the shipped default policy) → open the base
//! dir → take the run lock (real runs only) → scan → plan (pure, [`plan`]) → safety guards →
//! archive (optional) → delete, re-checking each file against the plan → prune empty folders →
//! report. A dry run stops after the guards and writes nothing at all.

mod apply;
mod archive;
mod explain;
mod items;
mod plan;
mod policy;
mod remote;
mod report;
mod retention;
mod roots;
mod scan;
mod stat_pool;

use std::path::{Path, PathBuf};
use std::time::Duration;

use std::io::Write as _;

use anyhow::{Context as _, Result, bail};
use rustix::fs::{AtFlags, CWD, fstat, statat};

use crate::atomic_write::AtomicFile;
use crate::cli::RotateArgs;
use crate::context::Context;
use crate::outcome::Verdict;
use crate::progress::Progress;
use crate::prometheus::{Exposition, MetricType, PromFile};
use crate::sanitize::display_path;

use apply::{Attempt, FileResult, MAX_WAIT_LOCK, Quarantine, RunLock};
use plan::{GuardInput, GuardRule, PlanFile as _, check_guards};
use policy::Source;
use report::{FilesView, PathError, RotateReport, RuleView, ScanView, Totals};
use scan::{BaseDir, Identity, ScanOptions};

/// Selected files counted by (rule, reason, result), in rule order, then reason, then result.
pub(super) fn reason_counts(
    retention: &policy::Retention,
    scan: &scan::Scan,
    selected: &[(u32, plan::Reason)],
    attempts: &[Attempt],
) -> Vec<report::ReasonCount> {
    let mut counts: std::collections::BTreeMap<(usize, u8, u8), report::ReasonCount> = Default::default();
    for ((index, reason), (result, _)) in selected.iter().zip(attempts) {
        let file = &scan.files[*index as usize];
        let rule = file.rule().unwrap_or(usize::MAX);
        let entry =
            counts.entry((rule, *reason as u8, *result as u8)).or_insert_with(|| report::ReasonCount {
                rule: retention.rules.get(rule).map_or_else(|| "-".to_string(), |rule| rule.label.clone()),
                reason: *reason,
                result: *result,
                files: 0,
                bytes: 0,
            });
        entry.files += 1;
        entry.bytes += file.size;
    }
    counts.into_values().collect()
}

/// Deleting at least this many files draws a progress bar (on a terminal only).
const PROGRESS_THRESHOLD: u64 = 2_000;
/// How many deleted files are named on stderr when the report itself cannot be printed.
const DELETED_NAMES_SHOWN: usize = 100;
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
    if let Some(path) = &args.prom_file {
        let others: Vec<(&str, &Path)> =
            args.policy.iter().map(|policy| ("--policy", policy.as_path())).collect();
        PromFile::check_path(path, &others)?;
    }
    let retention = policy::resolve(args)?;
    if args.base_dirs.len() > 1 {
        return roots::run(args, context, &retention);
    }
    let base_dir = args.base_dir();
    if let Some(url) = crate::object_storage::StoreUrl::from_path(base_dir) {
        return remote::run(args, context, url?, retention);
    }
    if args.no_lock {
        bail!("--no-lock applies to object storage only; a local run always takes its lock file");
    }
    let base = BaseDir::open(base_dir)?;
    let archive_identity = check_root(args, &base)?;
    let options = RootOptions { watch: None, prepare_prom: true, warning_prefix: None, archives_taken: &[] };
    let RootRun { mut report, prom_output } =
        match run_root(args, context, &retention, &base, archive_identity, &options)? {
            RootEnd::Ran(run) => *run,
            RootEnd::Locked(locked) => return printer.emit(&locked),
            RootEnd::Explained(verdict) => return Ok(verdict),
            // Only a shared watch stops a lock wait, and a single run has none.
            RootEnd::Stopped => bail!("interrupted while waiting for the lock; nothing was deleted"),
        };
    let changed_disk = report.changed_disk();
    // The outputs are committed before the report is printed, so the report can say whether
    // they were: a failure here comes after the deletions, so the run is PARTIAL (exit 1), never
    // "nothing changed".
    if let Some(atomic) = prom_output {
        let text = prom_text(&[&report], &[], context);
        if let Err(message) = commit_prom(atomic, &text) {
            printer.problem(format!("{message}; {}; ROTATE=PARTIAL", done_line(&report)));
            report.output_error = Some(message);
        }
    }
    if let Some(refusal) = &report.refusal {
        // The pre-live step dry-runs the policy: it must fail as the real run would (exit 2),
        // after printing the plan with the refusal (in JSON: one document with both).
        let refusal = format!("a real run would be refused: {refusal}");
        printer.emit(&report)?;
        return Err(anyhow::Error::new(crate::outcome::Reported(refusal)));
    }
    match printer.emit(&report) {
        Ok(verdict) => Ok(verdict),
        Err(error) if changed_disk => {
            // The report is lost: the paths deleted go to stderr (bounded), then PARTIAL.
            print_deleted(printer, &base, &report);
            printer.problem(format!("{}; | rotate | FAIL | ROTATE=PARTIAL |", done_line(&report)));
            Err(partial(error))
        }
        Err(error) => Err(error),
    }
}

/// `3 files were deleted (3.0 MiB), archived into …`: what a run did, for the lines that must
/// say so when its report could not be completed.
fn done_line(report: &RotateReport) -> String {
    format!(
        "{} {} deleted ({}){}",
        report.totals.deleted_files,
        if report.totals.deleted_files == 1 { "file was" } else { "files were" },
        crate::units::format_size(report.totals.deleted_bytes),
        report.archive.as_ref().map_or(String::new(), |archive| format!(", archived into {}", archive.path))
    )
}

/// Writes and commits a prepared `--prom-file`; the error line when it could not be.
fn commit_prom(mut atomic: AtomicFile, text: &str) -> std::result::Result<(), String> {
    atomic
        .write_all(text.as_bytes())
        .context("cannot write --prom-file")
        .and_then(|()| atomic.commit())
        .map_err(|error| crate::output::error_line(&error))
}

/// The paths a run deleted, on stderr (bounded), for when its report could not be printed.
fn print_deleted(printer: &crate::output::Printer, base: &BaseDir, report: &RotateReport) {
    let files = &report.files;
    let deleted: Vec<String> = files
        .selected
        .iter()
        .zip(&files.results)
        .filter(|(_, (result, _))| *result == FileResult::Deleted)
        .map(|((index, _), _)| {
            shown_relative(base, &files.scan.relative_path(&files.scan.files[*index as usize]))
        })
        .collect();
    for path in deleted.iter().take(DELETED_NAMES_SHOWN) {
        printer.problem(format!("deleted {path}"));
    }
    if deleted.len() > DELETED_NAMES_SHOWN {
        printer.problem(format!("and {} more deleted files", deleted.len() - DELETED_NAMES_SHOWN));
    }
}

/// The checks of one opened base dir against the other paths of the run (`--prom-file` must not
/// lie inside it, `--archive` must not be it); returns the archive folder's identity.
fn check_root(args: &RotateArgs, base: &BaseDir) -> Result<Option<Identity>> {
    if let Some(path) = args.prom_file.as_deref().filter(|path| lies_under(path, base.identity)) {
        bail!(
            "--prom-file {} is inside --base-dir {}, where the rotation would count it as an artifact and \
             delete it; write it to node_exporter's textfile folder instead; nothing was deleted",
            display_path(path),
            display_path(&base.path)
        );
    }
    if args.explain.is_none() {
        apply::check_lock_file(base)?;
    }
    let archive_identity = match &args.archive {
        Some(dir) => existing_identity(dir)?,
        None => None,
    };
    if let (Some(dir), Some(_), None) = (&args.archive, archive_identity, &args.explain) {
        let lock = dir.join(archive::ARCHIVE_LOCK_NAME);
        apply::check_lock_at(rustix::fs::CWD, &lock, &lock)?;
    }
    if archive_identity == Some(base.identity) {
        bail!(
            "--archive must not be the base dir itself (its zips would become candidates); use a folder such as {}/archive or one outside it",
            display_path(&base.path)
        );
    }
    Ok(archive_identity)
}

/// How one base dir is run: alone, or as one root of a run with several `--base-dir`.
struct RootOptions<'a> {
    /// The interrupt watch of a run with several roots: started by the first root that reaches
    /// its deletes, then kept for the others. `None`: the root starts its own there.
    watch: Option<&'a std::cell::OnceCell<crate::interrupt::Watch>>,
    /// Whether the root prepares the `--prom-file` itself (a run with several roots prepares the
    /// one file for all of them before the first).
    prepare_prom: bool,
    /// Put before each warning on stderr, naming the root when there are several.
    warning_prefix: Option<&'a str>,
    /// The zips the earlier roots of a dry run would write (a real run finds them on disk).
    archives_taken: &'a [String],
}

/// How one base dir's run ended.
enum RootEnd {
    Ran(Box<RootRun>),
    /// Another run holds the lock (already said on stderr).
    Locked(report::LockedReport),
    /// `--explain` printed its report.
    Explained(Verdict),
    /// Interrupted while waiting for its lock (a run with several roots): nothing done.
    Stopped,
}

/// A base dir that was rotated (or dry-run): its report, and the `--prom-file` prepared for it.
struct RootRun {
    report: RotateReport,
    prom_output: Option<AtomicFile>,
}

/// One base dir's scan, plan and guard verdict: what a run would do, before anything is done.
struct Planned {
    scan: scan::Scan,
    plan: plan::Plan,
    shaped: items::ShapedPlan,
    min_free: Option<items::MinFreeView>,
    candidate_count: u64,
    refusal: Option<plan::Refusal>,
}

/// Scans `base` and plans it: the plain and retention planners, `--min-free`, the guards.
/// Reads only. `scan_problems`: say each folder the scan could not read on stderr.
fn plan_root(
    args: &RotateArgs,
    context: &Context,
    retention: &policy::Retention,
    base: &BaseDir,
    archive_identity: Option<Identity>,
    scan_problems: bool,
) -> Result<Planned> {
    let mut scan = scan::scan(
        base,
        &ScanOptions { include_hidden: args.include_hidden, retention, archive_dir: archive_identity },
    );
    if scan_problems {
        for error in &scan.errors {
            context.printer.problem(format!(
                "cannot read {}: {}",
                shown_relative(base, &error.path),
                error.message
            ));
        }
    }

    scan.sort_oldest_first();
    let now_nanos = now_nanos(context);
    // Plain rules go through the plain planner; rules with keep_* periods, companions, an order
    // or folder units through the retention planner (items.rs), merged into one plan.
    let limits: Vec<plan::Limits> = retention
        .rules
        .iter()
        .map(|rule| if rule.is_shaped() { plan::Limits::default() } else { rule.limits })
        .collect();
    let mut plan = plan::plan(&scan.files, |a, b| scan.compare_paths(a, b), &limits, now_nanos);
    let mut shaped = items::plan_shaped(&scan, &retention.rules, now_nanos, retention.min_free.is_some());
    items::merge(&mut plan, &mut shaped);
    let min_free = match retention.min_free {
        Some(target) => {
            let space = free_space(base)?;
            let plain_offers: Vec<bool> =
                retention.rules.iter().map(|rule| !rule.is_shaped() && rule.has_limit()).collect();
            Some(items::apply_min_free(
                &mut plan,
                &mut shaped,
                &scan,
                &plain_offers,
                now_nanos,
                space,
                target,
            ))
        }
        None => None,
    };
    let candidate_count = scan.files.len() as u64;
    let refusal = check_guards(&GuardInput {
        selected: plan.selected.len() as u64,
        candidates: candidate_count,
        rules: retention
            .rules
            .iter()
            .zip(&plan.groups)
            .map(|(rule, summary)| GuardRule {
                label: &rule.label,
                limits: rule.limits,
                within_days: rule.within_only_days(),
                summary,
            })
            .collect(),
        // Sorted oldest first: the last file is the newest.
        newest: scan.files.last().map(|file| (display_path(&scan.relative_path(file)), file.mtime_nanos())),
        now_nanos,
        allow_delete_all: args.allow_delete_all,
        max_delete: args.max_delete,
    });
    Ok(Planned { scan, plan, shaped, min_free, candidate_count, refusal })
}

/// The run's "now" in nanoseconds since the epoch.
fn now_nanos(context: &Context) -> i128 {
    i128::from(context.now.timestamp()) * 1_000_000_000 + i128::from(context.now.timestamp_subsec_nanos())
}

/// One base dir's run, exactly as a run with one `--base-dir` does it: the lock, the restore of
/// a killed run's quarantine, scan, plan, guards, archive, deletes, prune, and the report (not
/// printed: the caller prints it, alone or as a section).
fn run_root(
    args: &RotateArgs,
    context: &Context,
    retention: &policy::Retention,
    base: &BaseDir,
    archive_identity: Option<Identity>,
    options: &RootOptions<'_>,
) -> Result<RootEnd> {
    let printer = &context.printer;
    // One deadline for every lock of the run (the run lock, then the archive folder's).
    let wait_lock = args.wait_lock.unwrap_or(Duration::ZERO);
    let lock_deadline = apply::lock_deadline(wait_lock);
    // --explain reads only: no lock, no quarantine recovery, nothing deleted.
    let read_only = args.dry_run || args.explain.is_some();
    let _lock = if read_only {
        None
    } else {
        let stop = || options.watch.and_then(std::cell::OnceCell::get).is_some_and(|watch| watch.requested());
        match RunLock::acquire(base, lock_deadline, wait_lock, &stop) {
            Ok(lock) => Some(lock),
            // Exit 1 with a marker row like every other run, not a bare error line.
            Err(error) => match error.downcast::<apply::LockHeld>() {
                Ok(held) => {
                    // With several base dirs, say which one (like every other warning then).
                    printer.problem(format!("{}{held}", options.warning_prefix.unwrap_or_default()));
                    return Ok(RootEnd::Locked(report::LockedReport::new(display_path(&base.path), held)));
                }
                Err(error) if error.is::<apply::LockWaitStopped>() => return Ok(RootEnd::Stopped),
                Err(error) => return Err(error),
            },
        }
    };
    let mut warnings = Vec::new();
    // Files that stay in a quarantine folder (an interrupted run's or this run's): a failure.
    let mut left_in_quarantine: Vec<PathBuf> = Vec::new();
    if !read_only {
        let restored = apply::restore_dead_quarantines(base);
        report_restored(printer, base, &restored, &mut warnings);
        left_in_quarantine.extend(restored.left);
    }

    let Planned { scan, plan, mut shaped, min_free, candidate_count, refusal } =
        plan_root(args, context, retention, base, archive_identity, true)?;
    let now_nanos = now_nanos(context);

    if let Some(path) = &args.explain {
        let target = explain::relative_target(&base.path, path);
        return Ok(RootEnd::Explained(
            printer.emit(&explain::explain(&base.path, &target, &scan, &plan, retention, now_nanos)?)?,
        ));
    }
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
    shaped.held_folders.sort();
    for folder in &shaped.held_folders {
        warnings.push(format!(
            "folder {folder} holds something rotate does not delete (a hidden or excluded file, a symlink, a \
             special file, a mount, an unreadable folder or a file of another rule), so it cannot go whole; kept"
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
    let mut folder_dirs_removed: Vec<std::path::PathBuf> = Vec::new();

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
        if let Some(path) = args.prom_file.as_ref().filter(|_| options.prepare_prom) {
            prom_output = Some(AtomicFile::create(path).context("--prom-file: nothing was deleted")?);
        }
        let mut archived: Vec<Option<Attempt>> = vec![None; selected_indices.len()];
        let mut archive_file = None;
        let mut archive_dir = None;
        if let Some(dir) = &args.archive {
            // Opened even when nothing is selected, so a killed run's temporary files go.
            archive_dir = archive::ArchiveDir::open(dir, !selected_indices.is_empty(), lock_deadline)?;
            if let Some(opened) = &archive_dir {
                for removed in &opened.stale_temp_files_removed {
                    printer.note(crate::atomic_write::temp_file_note(removed, true));
                }
                if !selected_indices.is_empty() {
                    archive_file = Some(opened.prepare(context.now)?);
                }
            }
        }
        // Made before the archive, so a base dir where it cannot be made fails with nothing
        // changed (no archive written either); removed on drop when empty, whatever path the run
        // leaves by (an archive that fails, exit 2, leaves no quarantine behind).
        let quarantine = if selected_indices.is_empty() {
            None
        } else {
            match Quarantine::create(base) {
                Ok(quarantine) => Some(quarantine),
                // The base dir went between the scan and here: nothing of the plan is left to
                // delete, and the report below says the run failed with true totals.
                Err(_) if base_was_removed(base) => None,
                Err(error) => return Err(error),
            }
        };
        if let Some(atomic) = archive_file {
            archive_summary =
                Some(archive::write_archive(atomic, base, &scan, &selected_indices, &mut archived)?);
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
        let started;
        let watch = match options.watch {
            Some(shared) => match shared.get() {
                Some(watch) => watch,
                None => {
                    let watch = crate::interrupt::Watch::start()?;
                    shared.get_or_init(|| watch)
                }
            },
            None => {
                started = crate::interrupt::Watch::start()?;
                &started
            }
        };
        // A signal that came before this root's first delete (caught by the watch an earlier
        // root of a run with several started) deletes nothing here.
        let stopped_before = watch.requested();
        let on_each = || {
            progress.advance(1);
            !watch.requested()
        };
        let mut deleted = match &quarantine {
            Some(_) if stopped_before => to_delete.iter().map(|_| (FileResult::Interrupted, None)).collect(),
            Some(quarantine) if shaped.folders.is_empty() && shaped.companions.is_empty() => {
                apply::delete_files(base, &scan, quarantine, &to_delete, on_each)
            }
            Some(quarantine) => {
                let (attempts, removed, problems) = delete_with_units(
                    base,
                    &scan,
                    quarantine,
                    &to_delete,
                    &shaped.folders,
                    &shaped.companions,
                    on_each,
                );
                folder_dirs_removed = removed;
                warnings.extend(problems);
                attempts
            }
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
            let path = || shown_relative(base, &scan.relative_path(&scan.files[*index as usize]));
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
            left_in_quarantine.extend(quarantine.finish());
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
            let (removed, problems) = apply::prune_empty_dirs(base, &scan, &touched);
            pruned_dirs = removed.iter().map(|path| display_path(path)).collect();
            warnings.extend(problems);
        }
        if !folder_dirs_removed.is_empty() {
            pruned_dirs.extend(folder_dirs_removed.iter().map(|path| display_path(path)));
            pruned_dirs.sort();
            pruned_dirs.dedup();
        }
        base_dir_removed = base_was_removed(base);
        if base_dir_removed {
            // Whatever this run found changed went with the folder: gone, not kept.
            for attempt in &mut attempts {
                if attempt.0 == FileResult::Changed {
                    *attempt = (FileResult::Vanished, None);
                }
            }
            printer.problem(format!(
                "the base dir {} was removed during the run (by something else); the files this run did not \
                 delete went with it",
                display_path(&base.path)
            ));
        }
    }
    for warning in &warnings {
        match options.warning_prefix {
            Some(prefix) => printer.warn(format_args!("{prefix}{warning}")),
            None => printer.warn(warning),
        }
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
    let views = plan_views(retention, &plan, &scan, candidate_count, scanned_bytes);
    left_in_quarantine.sort();
    left_in_quarantine.dedup();
    let by_reason = reason_counts(retention, &scan, &plan.selected, &attempts);
    let would_archive = match (&args.archive, args.dry_run && !plan.selected.is_empty()) {
        (Some(dir), true) => Some(archive::ArchiveSummary {
            path: display_path(&archive::free_archive_name_besides(dir, context.now, options.archives_taken)),
            files: totals.selected_files,
            bytes: totals.selected_bytes,
        }),
        _ => None,
    };
    let report = RotateReport {
        would_archive,
        by_reason,
        summary_only: args.summary,
        base_dir: display_path(&base.path),
        dry_run: args.dry_run,
        now: crate::clock::format_utc(context.now),
        policy: views.policy,
        default_policy: views.default_policy,
        rules: views.rules,
        uncovered: plan.uncovered.clone(),
        scan: views.scan,
        files: FilesView { scan, selected: plan.selected, results: attempts, rule_labels, now_nanos },
        totals,
        future_dated: views.future_dated,
        archive: archive_summary,
        pruned_dirs,
        refusal: dry_run_refusal,
        base_dir_removed,
        left_in_quarantine: left_in_quarantine.iter().map(|path| display_path(path)).collect(),
        output_error: None,
        min_free,
        warnings,
    };
    if let Some(view) = report.min_free.as_ref().filter(|view| view.shortfall_bytes > 0) {
        printer.problem(format!(
            "the free-space target {} ({}) cannot be met: {} short {} every file a rule with a limit keeps",
            view.target,
            crate::units::format_size(view.target_bytes),
            crate::units::format_size(view.shortfall_bytes),
            if args.dry_run { "even after deleting" } else { "after deleting" }
        ));
    }
    Ok(RootEnd::Ran(Box::new(RootRun { report, prom_output })))
}

/// Deletes the planned files when some belong to `unit: dir` folders or are companions: plain
/// files and primaries first, then each folder whole ([`apply::delete_folder_unit`]), then the
/// companions whose primary went (deleted, or removed by someone else); a companion whose
/// primary was kept (it changed, or the run stopped) is kept too. Returns one attempt per entry
/// of `to_delete`, the folders removed and the problems to warn about.
fn delete_with_units(
    base: &BaseDir,
    scan: &scan::Scan,
    quarantine: &Quarantine,
    to_delete: &[u32],
    folders: &[items::FolderUnit],
    companions: &[(u32, u32)],
    on_each: impl Fn() -> bool + Sync,
) -> (Vec<Attempt>, Vec<std::path::PathBuf>, Vec<String>) {
    use std::collections::HashMap;
    let in_folder: HashMap<u32, usize> = folders
        .iter()
        .enumerate()
        .flat_map(|(unit, folder)| folder.files.iter().map(move |&index| (index, unit)))
        .collect();
    let wanted: std::collections::HashSet<u32> = to_delete.iter().copied().collect();
    let root_of: HashMap<u32, u32> =
        companions.iter().copied().filter(|(companion, _)| wanted.contains(companion)).collect();
    let plain: Vec<u32> = to_delete
        .iter()
        .copied()
        .filter(|index| !in_folder.contains_key(index) && !root_of.contains_key(index))
        .collect();
    let mut results: HashMap<u32, Attempt> = HashMap::new();
    let attempts = apply::delete_files(base, scan, quarantine, &plain, &on_each);
    let mut going = !attempts.iter().any(|(result, _)| *result == FileResult::Interrupted);
    results.extend(plain.iter().copied().zip(attempts));
    let mut problems = Vec::new();
    let mut followers = Vec::new();
    for &index in to_delete.iter().filter(|index| root_of.contains_key(index)) {
        let root = root_of[&index];
        match results.get(&root).map(|(result, _)| *result) {
            Some(FileResult::Deleted | FileResult::Vanished) if going => followers.push(index),
            Some(FileResult::Deleted | FileResult::Vanished) | Some(FileResult::Interrupted) => {
                results.insert(index, (FileResult::Interrupted, None));
            }
            _ => {
                let primary = display_path(&scan.relative_path(&scan.files[root as usize]));
                results
                    .insert(index, (FileResult::Changed, Some(format!("kept with its primary {primary}"))));
            }
        }
    }
    if !followers.is_empty() {
        let attempts = apply::delete_files(base, scan, quarantine, &followers, &on_each);
        going = !attempts.iter().any(|(result, _)| *result == FileResult::Interrupted);
        for (&index, attempt) in followers.iter().zip(&attempts) {
            if attempt.0 == FileResult::Changed {
                let root = root_of[&index];
                problems.push(format!(
                    "{} changed during the run and is kept, though its primary {} was deleted; the next run \
                     selects it as an orphan",
                    display_path(&scan.relative_path(&scan.files[index as usize])),
                    display_path(&scan.relative_path(&scan.files[root as usize]))
                ));
            }
        }
        results.extend(followers.iter().copied().zip(attempts));
    }
    let mut removed = Vec::new();
    let children = if folders.is_empty() { Vec::new() } else { apply::folder_children(scan) };
    for folder in folders {
        let shown = display_path(&scan.dirs[folder.dir as usize].relative);
        if !going {
            results.extend(folder.files.iter().map(|&index| (index, (FileResult::Interrupted, None))));
            continue;
        }
        if folder.files.iter().any(|index| !wanted.contains(index)) {
            // The archive found one of its files changed: the folder no longer goes whole.
            let why =
                format!("a file of folder {shown} changed while being archived; the folder is kept whole");
            results
                .extend(folder.files.iter().map(|&index| (index, (FileResult::Changed, Some(why.clone())))));
            problems.push(why);
            continue;
        }
        let outcome =
            apply::delete_folder_unit(base, scan, quarantine, &children, folder.dir, &folder.files, &on_each);
        going = !outcome.attempts.iter().any(|(result, _)| *result == FileResult::Interrupted);
        results.extend(folder.files.iter().copied().zip(outcome.attempts));
        removed.extend(outcome.removed);
        problems.extend(outcome.problem);
    }
    let attempts = to_delete
        .iter()
        .map(|index| results.remove(index).unwrap_or((FileResult::Failed, Some("not attempted".to_string()))))
        .collect();
    (attempts, removed, problems)
}

/// The space on the filesystem holding the base dir (`statvfs` on its open handle).
fn free_space(base: &BaseDir) -> Result<retention::Space> {
    let stat = rustix::fs::fstatvfs(&base.handle).map_err(|errno| {
        anyhow::anyhow!(
            "--min-free: cannot read the free space of {}: {}",
            display_path(&base.path),
            std::io::Error::from(errno)
        )
    })?;
    let block = stat.f_frsize.max(1);
    Ok(retention::Space {
        total_bytes: stat.f_blocks.saturating_mul(block),
        available_bytes: stat.f_bavail.saturating_mul(block),
    })
}

/// A failure after something irreversible: exit 1, never "nothing changed" (exit 2).
fn partial(error: anyhow::Error) -> anyhow::Error {
    let message = crate::output::error_line(&error);
    anyhow::Error::new(crate::outcome::Partial(message))
}

/// Tells what the restore of a killed run's quarantine did: warnings for what was put back or
/// left alone, an error line for each file that could not go back.
fn report_restored(
    printer: &crate::output::Printer,
    base: &BaseDir,
    restored: &apply::Restored,
    warnings: &mut Vec<String>,
) {
    if restored.restored > 0 {
        warnings.push(format!(
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
        warnings
            .push(format!("{} belongs to a process that still runs; left alone", shown_relative(base, live)));
    }
    for (name, reason) in &restored.foreign {
        warnings.push(format!(
            "{} is named like a quarantine folder but {reason}; left alone (not entered, nothing in it touched)",
            shown_relative(base, name)
        ));
    }
}

/// Bytes of selected files that someone else removed first (they are gone all the same).
/// The parts of the report a local run and an object-store run describe the same way: where the
/// rules came from, each rule's summary, the scan, and the future-dated files.
pub(super) struct PlanViews {
    pub policy: Option<String>,
    pub default_policy: bool,
    pub rules: Vec<RuleView>,
    pub scan: ScanView,
    pub future_dated: Vec<String>,
}

pub(super) fn plan_views(
    retention: &policy::Retention,
    plan: &plan::Plan,
    scan: &scan::Scan,
    candidate_count: u64,
    scanned_bytes: u64,
) -> PlanViews {
    let (policy, default_policy) = match &retention.source {
        Source::Flags => (None, false),
        Source::Policy { path, default } => (Some(display_path(path)), *default),
    };
    PlanViews {
        policy,
        default_policy,
        rules: retention
            .rules
            .iter()
            .zip(&plan.groups)
            .map(|(rule, summary)| RuleView::new(rule, summary.clone()))
            .collect(),
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
        future_dated: plan
            .future
            .iter()
            .map(|&index| display_path(&scan.relative_path(&scan.files[index as usize])))
            .collect(),
    }
}

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
            bail!("cannot stat the archive folder {}: {}", display_path(path), std::io::Error::from(errno))
        }
    }
}

/// Whether `path` would be created somewhere under the folder `base`: its nearest existing
/// ancestor is resolved (symlinks, `..`) and it and each folder above it compared by identity.
fn lies_under(path: &Path, base: Identity) -> bool {
    let Ok(absolute) = std::path::absolute(path) else { return false };
    let resolved = absolute.ancestors().skip(1).find_map(|ancestor| ancestor.canonicalize().ok());
    resolved.is_some_and(|folder| {
        folder
            .ancestors()
            .any(|dir| statat(CWD, dir, AtFlags::empty()).is_ok_and(|stat| Identity::of(&stat) == base))
    })
}

/// A path under the base dir as the operator would type it.
fn shown_relative(base: &BaseDir, relative: &Path) -> String {
    display_path(&base.path.join(relative))
}

/// The Prometheus textfile: what was deleted and kept, failures, and when this ran; one series per
/// base dir (label `base_dir`). `not_run`: the base dirs of a run with several that were not
/// rotated (lock held, an error, an interrupt): only their failure and success series.
fn prom_text(reports: &[&RotateReport], not_run: &[&str], context: &Context) -> String {
    // This run's quarantined files are also in `left_in_quarantine`: counted once.
    let failures = |report: &RotateReport| {
        report.totals.failed
            + report.totals.quarantined.max(report.left_in_quarantine.len() as u64)
            + report.scan.errors.len() as u64
            + u64::from(report.base_dir_removed)
    };
    let series = |value: &dyn Fn(&RotateReport) -> f64, for_not_run: Option<f64>| {
        let mut samples: Vec<(Vec<(&str, &str)>, f64)> = reports
            .iter()
            .map(|report| (vec![("base_dir", report.base_dir.as_str())], value(report)))
            .collect();
        if let Some(fixed) = for_not_run {
            samples.extend(not_run.iter().map(|base| (vec![("base_dir", *base)], fixed)));
        }
        samples
    };
    let mut exposition = Exposition::new();
    for (name, help, value, for_not_run) in [
        (
            "mmops_rotate_deleted_files",
            "Files deleted by the last rotation.",
            (|report: &RotateReport| report.totals.deleted_files) as fn(&RotateReport) -> u64,
            None,
        ),
        (
            "mmops_rotate_deleted_bytes",
            "Bytes freed by the last rotation.",
            |report| report.totals.deleted_bytes,
            None,
        ),
        (
            "mmops_rotate_kept_files",
            "Candidate files kept by the last rotation.",
            |report| report.totals.kept_files,
            None,
        ),
        (
            "mmops_rotate_kept_bytes",
            "Bytes of candidate files kept by the last rotation.",
            |report| report.totals.kept_bytes,
            None,
        ),
        (
            "mmops_rotate_failures",
            "Files or folders the last rotation could not read or delete.",
            failures,
            Some(1.0),
        ),
    ] {
        exposition.metric(
            name,
            help,
            MetricType::Gauge,
            &series(&|report| value(report) as f64, for_not_run),
        );
    }
    exposition.metric(
        "mmops_rotate_success",
        "1 when the last rotation finished without failures, else 0.",
        MetricType::Gauge,
        // An interrupted rotation did not finish (ROTATE=INTERRUPTED): not a success either.
        &series(
            &|report| if failures(report) == 0 && report.totals.interrupted == 0 { 1.0 } else { 0.0 },
            Some(0.0),
        ),
    );
    exposition.metric(
        "mmops_rotate_last_run_timestamp_seconds",
        "When the last rotation ran (Unix seconds).",
        MetricType::Gauge,
        &series(&|_| context.now.timestamp() as f64, None),
    );
    exposition.as_str().to_string()
}

/// Parses a retention policy file; the fuzz target's way in.
pub(crate) fn fuzz_policy(path: &std::path::Path) {
    let _ = policy::load_policy(path, &mut Vec::new());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rotate::policy::Retention;
    use std::fs;

    /// A primary that changed after the plan is kept, and so are its companions: they are
    /// deleted only after their primary went.
    #[test]
    fn a_companion_is_kept_when_its_primary_changed_after_the_plan() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a.zip", "a.zip.sha256", "a.zip.sha256.minisig", "b.zip", "b.zip.sha256"] {
            fs::write(dir.path().join(name), "planned").unwrap();
        }
        let base = BaseDir::open(dir.path()).unwrap();
        let retention = Retention::select_everything();
        let scan = scan::scan(
            &base,
            &ScanOptions { include_hidden: false, retention: &retention, archive_dir: None },
        );
        let index = |name: &str| scan.files.iter().position(|file| scan.name(file) == name).unwrap() as u32;
        let to_delete: Vec<u32> = (0..scan.files.len() as u32).collect();
        let companions = [
            (index("a.zip.sha256"), index("a.zip")),
            (index("a.zip.sha256.minisig"), index("a.zip")),
            (index("b.zip.sha256"), index("b.zip")),
        ];
        fs::write(dir.path().join("a.zip"), "rewritten after the plan").unwrap();
        let quarantine = Quarantine::create(&base).unwrap();
        let (attempts, removed, problems) =
            delete_with_units(&base, &scan, &quarantine, &to_delete, &[], &companions, || true);
        let result = |name: &str| attempts[index(name) as usize].clone();
        assert_eq!(result("a.zip").0, FileResult::Changed);
        assert_eq!(result("a.zip.sha256"), (FileResult::Changed, Some("kept with its primary a.zip".into())));
        assert_eq!(result("a.zip.sha256.minisig").0, FileResult::Changed);
        assert_eq!((result("b.zip").0, result("b.zip.sha256").0), (FileResult::Deleted, FileResult::Deleted));
        assert!(removed.is_empty() && problems.is_empty(), "{problems:?}");
        quarantine.finish();
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["a.zip", "a.zip.sha256", "a.zip.sha256.minisig"]);
    }
}
