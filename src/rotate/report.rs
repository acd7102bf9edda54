//! What `mmops rotate` prints: the text body (scan summary, one line per selected file, totals)
//! and the `--format json` document with the same facts. File rows are rendered as they are
//! written, not collected first, so printing 100,000 rows costs no extra memory per file.

use std::io::{self, BufWriter, Write};

use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer};

use crate::clock::format_utc;
use crate::outcome::Verdict;
use crate::output::{Marker, Report, Style};
use crate::sanitize::display_path;
use crate::units::{TypedSize, format_size, format_size_exact};

use super::apply::{Attempt, FileResult};
use super::archive::ArchiveSummary;
use super::items::MinFreeView;
use super::plan::{GroupSummary, PlanFile, Reason};
use super::policy::{Rule, Unit};
use super::retention::Order;
use super::scan::{Scan, Skipped};

/// The whole report of one run.
#[derive(Serialize)]
pub(crate) struct RotateReport {
    pub base_dir: String,
    pub dry_run: bool,
    pub now: String,
    /// The policy file used, if any.
    pub policy: Option<String>,
    /// Whether that policy was picked because no limit was given.
    pub default_policy: bool,
    pub rules: Vec<RuleView>,
    /// Candidates no rule covers: kept.
    pub uncovered: GroupSummary,
    pub scan: ScanView,
    pub files: FilesView,
    pub totals: Totals,
    pub future_dated: Vec<String>,
    pub archive: Option<ArchiveSummary>,
    /// On a dry run with `--archive`: the zip a real run would write and what would go in it.
    pub would_archive: Option<ArchiveSummary>,
    /// Selected files counted by rule, reason and result (`--summary` prints these instead of
    /// one row per file).
    pub by_reason: Vec<ReasonCount>,
    /// `--summary`: the counts instead of one row per file (rows stay for files that failed,
    /// changed or vanished).
    #[serde(skip)]
    pub summary_only: bool,
    pub pruned_dirs: Vec<String>,
    /// Set on a dry run whose real run would be refused by a safety guard.
    pub refusal: Option<String>,
    /// The base dir was removed by something else during the run.
    pub base_dir_removed: bool,
    /// Files still in a quarantine folder after the run (an interrupted run's that could not go
    /// back, or this run's), relative to the base dir, sorted: for the operator to move back.
    pub left_in_quarantine: Vec<String>,
    /// An output (`--prom-file`) that could not be written after the deletions.
    pub output_error: Option<String>,
    /// The `--min-free` target and what it took, when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_free: Option<MinFreeView>,
    pub warnings: Vec<String>,
}

/// A real run that found the lock held by another run for all of its `--wait-lock`.
#[derive(Serialize)]
pub(crate) struct LockedReport {
    pub base_dir: String,
    pub lock: String,
    pub holder: String,
    pub waited_seconds: f64,
    pub error: String,
}

impl LockedReport {
    pub fn new(base_dir: String, held: super::apply::LockHeld) -> LockedReport {
        LockedReport {
            base_dir,
            error: held.to_string(),
            waited_seconds: held.waited.as_secs_f64(),
            lock: held.lock,
            holder: held.holder,
        }
    }
}

impl Report for LockedReport {
    fn marker(&self) -> Marker {
        Marker::new("rotate", Verdict::Fail, "ROTATE", "LOCKED")
    }

    /// The error line on stderr says it all; stdout carries only the marker row.
    fn write_text(&self, _out: &mut dyn Write, _style: &Style) -> io::Result<()> {
        Ok(())
    }
}

/// How many selected files one rule selected for one reason, and what became of them.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub(crate) struct ReasonCount {
    pub rule: String,
    pub reason: Reason,
    pub result: FileResult,
    pub files: u64,
    pub bytes: u64,
}

/// One rule with its limits and what it selected.
#[derive(Serialize)]
pub(crate) struct RuleView {
    pub glob: String,
    pub days: Option<f64>,
    pub keep: Option<u64>,
    pub max_size: Option<u64>,
    /// The issue-17 fields, present only when the rule uses them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_hourly: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_daily: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_weekly: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_monthly: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_yearly: Option<u64>,
    /// `keep_within` in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_within_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub companions: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<&'static str>,
    /// `max_size` as typed (`2GB`), for the text line `max size 2GB (1.86 GiB)`.
    #[serde(skip)]
    pub max_size_typed: Option<String>,
    #[serde(flatten)]
    pub summary: GroupSummary,
}

impl RuleView {
    pub fn new(rule: &Rule, summary: GroupSummary) -> RuleView {
        let calendar = &rule.shape.calendar;
        let periods = calendar.period_counts().iter().any(Option::is_some);
        RuleView {
            glob: rule.label.clone(),
            days: rule.limits.days,
            keep: rule.limits.keep,
            max_size: rule.limits.max_size,
            max_size_typed: rule.max_size_typed.clone(),
            keep_last: calendar.last,
            keep_hourly: calendar.hourly,
            keep_daily: calendar.daily,
            keep_weekly: calendar.weekly,
            keep_monthly: calendar.monthly,
            keep_yearly: calendar.yearly,
            keep_within_seconds: calendar.within_nanos.map(|nanos| nanos as f64 / 1e9),
            tz: periods.then(|| calendar.tz.name().to_string()),
            companions: rule
                .shape
                .companions
                .iter()
                .map(|suffix| String::from_utf8_lossy(suffix).into_owned())
                .collect(),
            unit: (rule.shape.unit == Unit::Dir).then_some("dir"),
            order: match rule.shape.order {
                Order::Mtime => None,
                Order::Name => Some("name"),
                Order::NameNumeric => Some("name-numeric"),
            },
            summary,
        }
    }
}

#[derive(Serialize)]
pub(crate) struct ScanView {
    pub files: u64,
    pub bytes: u64,
    pub dirs: u64,
    pub skipped: Skipped,
    pub errors: Vec<PathError>,
}

#[derive(Serialize)]
pub(crate) struct PathError {
    pub path: String,
    pub error: String,
}

#[derive(Serialize, Default)]
pub(crate) struct Totals {
    pub selected_files: u64,
    pub selected_bytes: u64,
    pub deleted_files: u64,
    pub deleted_bytes: u64,
    pub kept_files: u64,
    pub kept_bytes: u64,
    pub vanished: u64,
    pub changed: u64,
    pub failed: u64,
    pub interrupted: u64,
    /// Replaced while being deleted and kept in the quarantine folder.
    pub quarantined: u64,
}

/// The selected files with their results, rendered lazily. It owns the scan, so a finished
/// root's report can wait for the others of a run with several `--base-dir`.
pub(crate) struct FilesView {
    pub scan: Scan,
    pub selected: Vec<(u32, Reason)>,
    /// One attempt per selected file (all `WouldDelete` on a dry run).
    pub results: Vec<Attempt>,
    pub rule_labels: Vec<String>,
    pub now_nanos: i128,
}

/// One file row in the JSON document.
#[derive(Serialize)]
struct FileRow<'a> {
    path: String,
    size: u64,
    mtime: String,
    age_days: f64,
    rule: &'a str,
    reason: Reason,
    result: FileResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

impl FilesView {
    fn age_days(&self, mtime_nanos: i128) -> f64 {
        let days = (self.now_nanos - mtime_nanos) as f64 / 86_400e9;
        (days * 1000.0).round() / 1000.0
    }
}

impl Serialize for FilesView {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut sequence = serializer.serialize_seq(Some(self.selected.len()))?;
        for ((index, reason), (result, error)) in self.selected.iter().zip(&self.results) {
            let file = &self.scan.files[*index as usize];
            let mtime = chrono::DateTime::from_timestamp(file.mtime_seconds, file.mtime_nanos)
                .map(format_utc)
                .unwrap_or_default();
            sequence.serialize_element(&FileRow {
                path: display_path(&self.scan.relative_path(file)),
                size: file.size,
                mtime,
                age_days: self.age_days(file.mtime_nanos()),
                rule: file.rule().map_or("", |rule| self.rule_labels[rule].as_str()),
                reason: *reason,
                result: *result,
                error: error.as_deref(),
            })?;
        }
        sequence.end()
    }
}

impl RotateReport {
    /// Whether the run changed the disk: deleted a file or wrote an archive.
    pub(crate) fn changed_disk(&self) -> bool {
        self.totals.deleted_files > 0 || self.archive.is_some()
    }

    pub(crate) fn failed(&self) -> bool {
        self.totals.failed > 0
            || self.totals.interrupted > 0
            || self.totals.quarantined > 0
            || self.base_dir_removed
            || !self.scan.errors.is_empty()
            || !self.left_in_quarantine.is_empty()
            || self.output_error.is_some()
    }
}

impl Report for RotateReport {
    fn marker(&self) -> Marker {
        let short_of_space = self.min_free.as_ref().is_some_and(|view| view.shortfall_bytes > 0);
        let value = if self.totals.interrupted > 0 {
            "INTERRUPTED"
        } else if self.failed() {
            "PARTIAL"
        } else if self.refusal.is_some() {
            "REFUSED"
        } else if short_of_space {
            "MIN_FREE_UNMET"
        } else if self.dry_run {
            "DRYRUN"
        } else {
            "DONE"
        };
        let verdict = if self.totals.interrupted > 0 {
            Verdict::Interrupted
        } else {
            Verdict::from_passed(!self.failed() && self.refusal.is_none() && !short_of_space)
        };
        Marker::new("rotate", verdict, "ROTATE", value)
    }

    fn streams_json(&self) -> bool {
        true
    }

    fn write_problems(&self, out: &mut dyn Write, style: &Style) -> io::Result<()> {
        // `--quiet` on a failing run: the refusal and the files that went wrong, nothing else.
        if let Some(refusal) = &self.refusal {
            writeln!(out, "{}", style.warning(&format!("a real run would stop here: {refusal}")))?;
        }
        let view = &self.files;
        for ((index, _), (result, error)) in view.selected.iter().zip(&view.results) {
            if matches!(result, FileResult::Failed | FileResult::Quarantined) {
                let path = display_path(&view.scan.relative_path(&view.scan.files[*index as usize]));
                let reason = error.as_deref().map_or(String::new(), |error| format!("  ({error})"));
                writeln!(out, "{} {path}{reason}", style.bad(result.label()))?;
            }
        }
        self.write_leftovers(out, style)
    }

    fn write_text(&self, out: &mut dyn Write, style: &Style) -> io::Result<()> {
        // Thousands of rows: buffer them instead of a write call per line.
        let mut out = BufWriter::with_capacity(64 * 1024, out);
        self.write_body(&mut out, style)?;
        out.flush()
    }
}

impl RotateReport {
    fn write_body(&self, out: &mut impl Write, style: &Style) -> io::Result<()> {
        let skipped = &self.scan.skipped;
        let mut skipped_parts = Vec::new();
        for (count, singular, plural) in [
            (skipped.symlinks, "symlink", "symlinks"),
            (skipped.hidden, "hidden", "hidden"),
            (skipped.excluded, "excluded", "excluded"),
            (skipped.mounts, "other filesystem", "other filesystems"),
            (skipped.special, "special file", "special files"),
            (skipped.archive_dir, "archive folder", "archive folders"),
        ] {
            if count > 0 {
                skipped_parts.push(format!("{count} {}", if count == 1 { singular } else { plural }));
            }
        }
        let skipped_text = if skipped_parts.is_empty() {
            String::new()
        } else {
            format!("; skipped {}", skipped_parts.join(", "))
        };
        writeln!(
            out,
            "scanned {}: {}, {} in {}{skipped_text}",
            self.base_dir,
            count(self.scan.files, "file"),
            format_size(self.scan.bytes),
            count(self.scan.dirs, "folder")
        )?;
        match &self.policy {
            Some(policy) if self.default_policy => writeln!(
                out,
                "policy {policy} (the default: no --days, --keep, --max-size or --policy given)"
            )?,
            Some(policy) => writeln!(out, "policy {policy}")?,
            None => {}
        }
        for rule in &self.rules {
            let summary = &rule.summary;
            let name = if self.policy.is_some() {
                format!("  rule {} ({})", rule.glob, describe_limits(rule))
            } else {
                format!("limits ({})", describe_limits(rule))
            };
            writeln!(
                out,
                "{name}: {}, {} selected, {} kept ({})",
                count(summary.files, "file"),
                summary.selected_files,
                summary.kept_files,
                format_size(summary.kept_bytes)
            )?;
        }
        if self.uncovered.files > 0 {
            writeln!(
                out,
                "  not covered by any rule (kept): {}, {}",
                count(self.uncovered.files, "file"),
                format_size(self.uncovered.bytes)
            )?;
        }
        // The archive comes first: it is written (and read back) before anything is deleted.
        if let Some(archive) = &self.archive {
            writeln!(
                out,
                "archived {} ({}) into {}",
                count(archive.files, "file"),
                format_size(archive.bytes),
                archive.path
            )?;
        }
        if let Some(archive) = &self.would_archive {
            writeln!(
                out,
                "would archive {} ({}) into {}",
                count(archive.files, "file"),
                format_size(archive.bytes),
                archive.path
            )?;
        }
        if self.summary_only {
            self.write_reason_counts(out, style)?;
        }
        self.write_rows(out, style)?;
        for dir in &self.pruned_dirs {
            writeln!(out, "removed empty folder {dir}")?;
        }
        if let Some(view) = &self.min_free {
            let mut line = format!(
                "free space: {} available of {}, target {} ({}); {} {} after this run",
                format_size(view.available_bytes),
                format_size(view.total_bytes),
                view.target,
                format_size(view.target_bytes),
                if self.dry_run { "would be" } else { "projected" },
                format_size(view.projected_bytes),
            );
            if view.selected_files > 0 {
                line.push_str(&format!(
                    " ({} taken for it, {})",
                    count(view.selected_files, "file"),
                    format_size(view.selected_bytes)
                ));
            }
            if view.shortfall_bytes > 0 {
                line.push_str(&format!("; {} short", format_size(view.shortfall_bytes)));
            }
            writeln!(out, "{line}")?;
        }
        let totals = &self.totals;
        if self.dry_run {
            writeln!(
                out,
                "would free {}, {}; would keep {}, {}",
                count(totals.selected_files, "file"),
                format_size(totals.selected_bytes),
                count(totals.kept_files, "file"),
                format_size(totals.kept_bytes)
            )?;
            if let Some(refusal) = &self.refusal {
                writeln!(out, "{}", style.warning(&format!("a real run would stop here: {refusal}")))?;
            }
        } else {
            let mut line = format!(
                "freed {}, {}; kept {}, {}",
                count(totals.deleted_files, "file"),
                format_size(totals.deleted_bytes),
                count(totals.kept_files, "file"),
                format_size(totals.kept_bytes)
            );
            for (count, what) in [
                (totals.vanished, "vanished"),
                (totals.changed, "changed and kept"),
                (totals.failed, "failed"),
                (totals.quarantined, "kept in the quarantine"),
            ] {
                if count > 0 {
                    line.push_str(&format!("; {count} {what}"));
                }
            }
            writeln!(out, "{line}")?;
        }
        self.write_leftovers(out, style)
    }

    /// What makes a run PARTIAL beyond its file rows: files left in a quarantine folder, an
    /// output that could not be written.
    fn write_leftovers(&self, out: &mut dyn Write, style: &Style) -> io::Result<()> {
        for path in &self.left_in_quarantine {
            writeln!(out, "{} {path}  (move it back by hand)", style.bad("left in a quarantine folder:"))?;
        }
        if let Some(error) = &self.output_error {
            writeln!(out, "{} {error}", style.bad("output not written:"))?;
        }
        Ok(())
    }
}

/// The widest path column a row is padded to: past it a long path pushes its own row's columns
/// right instead of every row's.
const MAX_PATH_COLUMN: usize = 100;

impl RotateReport {
    /// One row per selected file, columns aligned: `would delete  logs/a.log  1.0 MiB  11.0 days  ttl`.
    /// With `--summary`, only the files that did not go as planned (failed, changed, vanished…).
    fn write_rows(&self, out: &mut impl Write, style: &Style) -> io::Result<()> {
        let view = &self.files;
        let shown = |result: FileResult| {
            !self.summary_only || !matches!(result, FileResult::WouldDelete | FileResult::Deleted)
        };
        // Per-run constants, so each of possibly 100,000s of rows costs no path joins and no
        // label formatting: folder prefixes as printed, and one painted label per result.
        let dir_prefixes: Vec<String> = view
            .scan
            .dirs
            .iter()
            .map(|dir| {
                if dir.relative.as_os_str().is_empty() {
                    String::new()
                } else {
                    format!("{}/", display_path(&dir.relative))
                }
            })
            .collect();
        let label = |result: FileResult| {
            let padded = format!("{:<13}", result.label());
            match result {
                FileResult::WouldDelete | FileResult::Deleted => style.bold(&padded),
                FileResult::Failed | FileResult::Quarantined => style.bad(&padded),
                FileResult::Changed | FileResult::Vanished | FileResult::Interrupted => {
                    style.warning(&padded)
                }
            }
        };
        let labels: Vec<(FileResult, String)> = [
            FileResult::WouldDelete,
            FileResult::Deleted,
            FileResult::Vanished,
            FileResult::Changed,
            FileResult::Failed,
            FileResult::Interrupted,
            FileResult::Quarantined,
        ]
        .into_iter()
        .map(|result| (result, label(result)))
        .collect();
        // Age in tenths of a day with integer formatting: float formatting showed in profiles.
        let tenths = |file: &super::scan::FileEntry| {
            ((view.now_nanos - file.mtime_nanos()) as f64 / 8_640e9).round() as i64
        };
        let prefix_widths: Vec<usize> = dir_prefixes.iter().map(|prefix| prefix.chars().count()).collect();
        // `{sign}{whole}.{tenth}`: its length by arithmetic.
        let age_len = |tenths: i64| {
            let whole = tenths.unsigned_abs() / 10;
            usize::from(tenths < 0) + whole.checked_ilog10().unwrap_or(0) as usize + 1 + 2
        };
        // A first pass for the column widths (lengths only, nothing formatted or kept).
        let (mut path_width, mut size_width, mut age_width) = (0, 0, 0);
        for ((index, _), (result, _)) in view.selected.iter().zip(&view.results) {
            if !shown(*result) {
                continue;
            }
            let file = &view.scan.files[*index as usize];
            let path = prefix_widths[file.dir as usize] + name_width(view.scan.name(file));
            path_width = path_width.max(path.min(MAX_PATH_COLUMN));
            size_width = size_width.max(crate::units::format_size_width(file.size));
            age_width = age_width.max(age_len(tenths(file)));
        }
        let mut size_text = String::with_capacity(16);
        for ((index, reason), (result, error)) in view.selected.iter().zip(&view.results) {
            if !shown(*result) {
                continue;
            }
            let file = &view.scan.files[*index as usize];
            let label = labels.iter().find(|(kind, _)| kind == result).map_or("", |(_, text)| text.as_str());
            let prefix = &dir_prefixes[file.dir as usize];
            write!(out, "{label} {prefix}")?;
            let name = view.scan.name(file);
            write_name(out, name)?;
            let padding = path_width.saturating_sub(prefix_widths[file.dir as usize] + name_width(name));
            let tenths = tenths(file);
            let sign = if tenths < 0 { "-" } else { "" };
            // One buffer for every row's size: no allocation per row.
            size_text.clear();
            crate::units::push_size(&mut size_text, file.size);
            write!(
                out,
                "{:padding$}  {:>size_width$}  {:>age_pad$}{sign}{}.{} days  {}",
                "",
                size_text,
                "",
                tenths.unsigned_abs() / 10,
                tenths.unsigned_abs() % 10,
                reason.label(),
                age_pad = age_width - age_len(tenths),
            )?;
            match error {
                Some(error) => writeln!(out, "  ({error})")?,
                None => writeln!(out)?,
            }
        }
        Ok(())
    }

    /// `--summary`: one aligned row per rule, reason and result, restic-style.
    fn write_reason_counts(&self, out: &mut impl Write, style: &Style) -> io::Result<()> {
        let widest = |pick: fn(&ReasonCount) -> usize| self.by_reason.iter().map(pick).max().unwrap_or(0);
        let number_width = widest(|row| row.files.to_string().len());
        let size_width = widest(|row| format_size(row.bytes).len());
        let rule_width = widest(|row| row.rule.chars().count());
        for row in &self.by_reason {
            let label = style.bold(&format!("{:<13}", row.result.label()));
            let noun = if row.files == 1 { "file" } else { "files" };
            writeln!(
                out,
                "{label} {:>number_width$} {noun:<5}  {:>size_width$}  rule {:<rule_width$}  {}",
                row.files,
                format_size(row.bytes),
                row.rule,
                row.reason.label()
            )?;
        }
        Ok(())
    }
}

/// How many columns a file name takes once printed (escapes included).
fn name_width(name: &std::ffi::OsStr) -> usize {
    let bytes = name.as_encoded_bytes();
    if bytes.iter().all(|&byte| (0x20..0x7f).contains(&byte) && byte != b'\\') {
        bytes.len()
    } else {
        display_path(std::path::Path::new(name)).chars().count()
    }
}

/// `days 7, keep 10, max size 2GB (1.86 GiB)`, or `no limits: files kept`.
fn describe_limits(rule: &RuleView) -> String {
    let mut parts = Vec::new();
    if let Some(days) = rule.days {
        parts.push(format!("days {days}"));
    }
    if let Some(keep) = rule.keep {
        parts.push(format!("keep {keep}"));
    }
    if let Some(max_size) = rule.max_size {
        let described = match &rule.max_size_typed {
            Some(typed) => TypedSize { bytes: max_size, typed: typed.clone() }.describe(),
            None => format_size_exact(max_size),
        };
        parts.push(format!("max size {described}"));
    }
    for (value, name) in [
        (rule.keep_last, "keep_last"),
        (rule.keep_hourly, "keep_hourly"),
        (rule.keep_daily, "keep_daily"),
        (rule.keep_weekly, "keep_weekly"),
        (rule.keep_monthly, "keep_monthly"),
        (rule.keep_yearly, "keep_yearly"),
    ] {
        if let Some(value) = value {
            parts.push(format!("{name} {value}"));
        }
    }
    if let Some(seconds) = rule.keep_within_seconds {
        parts.push(format!(
            "keep_within {}",
            crate::units::format_duration(std::time::Duration::from_secs_f64(seconds))
        ));
    }
    if let Some(tz) = rule.tz.as_deref().filter(|&tz| tz != "UTC") {
        parts.push(format!("tz {tz}"));
    }
    if let Some(order) = rule.order {
        parts.push(format!("order {order}"));
    }
    if let Some(unit) = rule.unit {
        parts.push(format!("unit {unit}"));
    }
    if !rule.companions.is_empty() {
        parts.push(format!("companions {}", rule.companions.join(" ")));
    }
    if parts.is_empty() { "no limits: files kept".to_string() } else { parts.join(", ") }
}

use crate::units::count_noun as count;

/// Writes a file name from the disk: printable ASCII as is (the common case, no allocation),
/// anything else escaped by [`display_path`].
fn write_name(out: &mut impl Write, name: &std::ffi::OsStr) -> io::Result<()> {
    let bytes = name.as_encoded_bytes();
    if bytes.iter().all(|&byte| (0x20..0x7f).contains(&byte) && byte != b'\\') {
        out.write_all(bytes)
    } else {
        out.write_all(display_path(std::path::Path::new(name)).as_bytes())
    }
}
