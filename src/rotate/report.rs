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
use crate::units::format_size;

use super::apply::{Attempt, FileResult};
use super::archive::ArchiveSummary;
use super::plan::{GroupSummary, PlanFile, Reason};
use super::scan::{Scan, Skipped};

/// The whole report of one run.
#[derive(Serialize)]
pub(crate) struct RotateReport<'a> {
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
    pub files: FilesView<'a>,
    pub totals: Totals,
    pub future_dated: Vec<String>,
    pub archive: Option<ArchiveSummary>,
    pub pruned_dirs: Vec<String>,
    /// Set on a dry run whose real run would be refused by a safety guard.
    pub refusal: Option<String>,
    /// The base dir was removed by something else during the run.
    pub base_dir_removed: bool,
    pub warnings: Vec<String>,
}

/// One rule with its limits and what it selected.
#[derive(Serialize)]
pub(crate) struct RuleView {
    pub glob: String,
    pub days: Option<f64>,
    pub keep: Option<u64>,
    pub max_size: Option<u64>,
    #[serde(flatten)]
    pub summary: GroupSummary,
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

/// The selected files with their results, rendered lazily.
pub(crate) struct FilesView<'a> {
    pub scan: &'a Scan,
    pub selected: &'a [(u32, Reason)],
    /// One attempt per selected file (all `WouldDelete` on a dry run).
    pub results: &'a [Attempt],
    pub rule_labels: &'a [String],
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

impl FilesView<'_> {
    fn age_days(&self, mtime_nanos: i128) -> f64 {
        let days = (self.now_nanos - mtime_nanos) as f64 / 86_400e9;
        (days * 1000.0).round() / 1000.0
    }
}

impl Serialize for FilesView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut sequence = serializer.serialize_seq(Some(self.selected.len()))?;
        for ((index, reason), (result, error)) in self.selected.iter().zip(self.results) {
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

impl RotateReport<'_> {
    fn failed(&self) -> bool {
        self.totals.failed > 0
            || self.totals.interrupted > 0
            || self.totals.quarantined > 0
            || self.base_dir_removed
            || !self.scan.errors.is_empty()
    }
}

impl Report for RotateReport<'_> {
    fn marker(&self) -> Marker {
        let value = if self.totals.interrupted > 0 {
            "INTERRUPTED"
        } else if self.failed() {
            "PARTIAL"
        } else if self.refusal.is_some() {
            "REFUSED"
        } else if self.dry_run {
            "DRYRUN"
        } else {
            "DONE"
        };
        let verdict = if self.totals.interrupted > 0 {
            Verdict::Interrupted
        } else {
            Verdict::from_passed(!self.failed() && self.refusal.is_none())
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
        for ((index, _), (result, error)) in view.selected.iter().zip(view.results) {
            if matches!(result, FileResult::Failed | FileResult::Quarantined) {
                let path = display_path(&view.scan.relative_path(&view.scan.files[*index as usize]));
                let reason = error.as_deref().map_or(String::new(), |error| format!("  ({error})"));
                writeln!(out, "{} {path}{reason}", style.bad(result.label()))?;
            }
        }
        Ok(())
    }

    fn write_text(&self, out: &mut dyn Write, style: &Style) -> io::Result<()> {
        // Thousands of rows: buffer them instead of a write call per line.
        let mut out = BufWriter::with_capacity(64 * 1024, out);
        self.write_body(&mut out, style)?;
        out.flush()
    }
}

impl RotateReport<'_> {
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
        let view = &self.files;
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
        for ((index, reason), (result, error)) in view.selected.iter().zip(view.results) {
            let file = &view.scan.files[*index as usize];
            let label = labels.iter().find(|(kind, _)| kind == result).map_or("", |(_, text)| text.as_str());
            write!(out, "{label} {}", dir_prefixes[file.dir as usize])?;
            write_name(out, view.scan.name(file))?;
            // Age in tenths of a day with integer formatting: float formatting showed in profiles.
            let tenths = ((view.now_nanos - file.mtime_nanos()) as f64 / 8_640e9).round() as i64;
            let sign = if tenths < 0 { "-" } else { "" };
            write!(
                out,
                "  {}  {sign}{}.{} days  {}",
                format_size(file.size),
                tenths.abs() / 10,
                tenths.abs() % 10,
                reason.label()
            )?;
            match error {
                Some(error) => writeln!(out, "  ({error})")?,
                None => writeln!(out)?,
            }
        }
        if let Some(archive) = &self.archive {
            writeln!(
                out,
                "archived {} ({}) into {}",
                count(archive.files, "file"),
                format_size(archive.bytes),
                archive.path
            )?;
        }
        for dir in &self.pruned_dirs {
            writeln!(out, "removed empty folder {dir}")?;
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
        Ok(())
    }
}

/// `days 7, keep 10, max size 1.0 GiB`, or `no limits: files kept`.
fn describe_limits(rule: &RuleView) -> String {
    let mut parts = Vec::new();
    if let Some(days) = rule.days {
        parts.push(format!("days {days}"));
    }
    if let Some(keep) = rule.keep {
        parts.push(format!("keep {keep}"));
    }
    if let Some(max_size) = rule.max_size {
        parts.push(format!("max size {}", format_size(max_size)));
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
