//! Typed mirrors of every `mmops rotate --format json` document (the report, the LOCKED report,
//! the `--explain` report, the report of a run with several `--base-dir` and the error document,
//! the last re-exported from `global.rs` as every subcommand shares it), read with
//! `Run::json_as`. Every struct denies unknown fields and names
//! every field `src/rotate/report.rs` (and the printer) writes, so a field added, renamed or
//! dropped fails the tests that read a document instead of passing silently.
//!
//! Two kinds of optional field: one that is always written and may be `null` is read with
//! [`nullable`] (its key missing is an error); one that is only written in some runs
//! (`skip_serializing_if`: `min_free`, the rule's `keep_*`, `tz`, `companions`, `unit`, `order`,
//! a file row's `error`) has `#[serde(default)]`.

// A mirror names every field so `deny_unknown_fields` and the missing-field checks guard the
// whole document; not every test reads every field.
#![allow(dead_code)]

use serde::Deserialize;

use crate::global::mirror::nullable;
/// The error document, the same for every subcommand (one definition, in `global.rs`).
pub(crate) use crate::global::mirror::{ErrorDocument, Location};

/// The `status` every report document carries (one definition for every subcommand).
pub use crate::global::mirror::Status;

/// Why a file was selected (`plan.rs` `Reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Reason {
    Ttl,
    Count,
    Size,
    Retention,
    Orphan,
    MinFree,
}

/// What happened to a selected file (`apply.rs` `FileResult`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FileResult {
    WouldDelete,
    Deleted,
    Vanished,
    Changed,
    Failed,
    Interrupted,
    Quarantined,
}

/// Declares a rotated base dir's report with the fields every such report has, plus `$extra`,
/// and its `rows()`. serde cannot combine `flatten` with `deny_unknown_fields`, so [`Document`]
/// (a single base dir's report, with the printer's `tool` and `marker`) and [`RanRoot`] (one
/// section of a several-roots document) share their fields through this macro.
macro_rules! rotated_report {
    ($(#[$meta:meta])* $name:ident { $($extra:tt)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(crate) struct $name {
            pub base_dir: String,
            pub dry_run: bool,
            pub now: String,
            #[serde(deserialize_with = "nullable")]
            pub policy: Option<String>,
            pub default_policy: bool,
            pub rules: Vec<RuleRow>,
            pub uncovered: Group,
            pub scan: ScanView,
            pub files: Vec<FileRow>,
            pub totals: Totals,
            pub future_dated: Vec<String>,
            #[serde(deserialize_with = "nullable")]
            pub archive: Option<Archive>,
            #[serde(deserialize_with = "nullable")]
            pub would_archive: Option<Archive>,
            pub by_reason: Vec<ReasonCount>,
            pub pruned_dirs: Vec<String>,
            #[serde(deserialize_with = "nullable")]
            pub refusal: Option<String>,
            pub base_dir_removed: bool,
            pub left_in_quarantine: Vec<String>,
            #[serde(deserialize_with = "nullable")]
            pub output_error: Option<String>,
            /// Only with `--min-free` or a policy's `min_free`.
            #[serde(default)]
            pub min_free: Option<MinFree>,
            pub warnings: Vec<String>,
            $($extra)*
        }

        impl $name {
            /// The selected files as (path, reason, result), in the report's order.
            pub fn rows(&self) -> Vec<(String, Reason, FileResult)> {
                self.files.iter().map(|row| (row.path.clone(), row.reason, row.result)).collect()
            }
        }
    };
}

rotated_report! {
    /// The report of a run that got as far as a plan (`RotateReport` plus the printer's `tool`,
    /// `status` and `marker`).
    Document {
        pub tool: String,
        pub status: Status,
        pub marker: String,
    }
}

impl Document {
    /// The selected files' paths, in the report's order.
    pub fn paths(&self) -> Vec<String> {
        self.files.iter().map(|row| row.path.clone()).collect()
    }

    /// What the run wrote on stderr besides errors: one `mmops: warning:` line per warning.
    pub fn warning_lines(&self) -> String {
        self.warnings.iter().map(|warning| format!("mmops: warning: {warning}\n")).collect()
    }
}

/// One rule with its limits and its summary (`RuleView`, the `GroupSummary` flattened in).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleRow {
    pub glob: String,
    #[serde(deserialize_with = "nullable")]
    pub days: Option<f64>,
    #[serde(deserialize_with = "nullable")]
    pub keep: Option<u64>,
    #[serde(deserialize_with = "nullable")]
    pub max_size: Option<u64>,
    #[serde(default)]
    pub keep_last: Option<u64>,
    #[serde(default)]
    pub keep_hourly: Option<u64>,
    #[serde(default)]
    pub keep_daily: Option<u64>,
    #[serde(default)]
    pub keep_weekly: Option<u64>,
    #[serde(default)]
    pub keep_monthly: Option<u64>,
    #[serde(default)]
    pub keep_yearly: Option<u64>,
    #[serde(default)]
    pub keep_within_seconds: Option<f64>,
    /// Written when the rule has a `keep_*` period.
    #[serde(default)]
    pub tz: Option<String>,
    #[serde(default)]
    pub companions: Vec<String>,
    /// `dir` for folder units.
    #[serde(default)]
    pub unit: Option<String>,
    /// `name` or `name-numeric`; absent for the default mtime order.
    #[serde(default)]
    pub order: Option<String>,
    pub files: u64,
    pub bytes: u64,
    pub selected_files: u64,
    pub selected_bytes: u64,
    pub kept_files: u64,
    pub kept_bytes: u64,
    pub future_files: u64,
    pub unmet: Vec<String>,
}

/// Totals of the files no rule covers (`GroupSummary`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Group {
    pub files: u64,
    pub bytes: u64,
    pub selected_files: u64,
    pub selected_bytes: u64,
    pub kept_files: u64,
    pub kept_bytes: u64,
    pub future_files: u64,
    pub unmet: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScanView {
    pub files: u64,
    pub bytes: u64,
    pub dirs: u64,
    pub skipped: Skipped,
    pub errors: Vec<PathError>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Skipped {
    pub symlinks: u64,
    pub hidden: u64,
    pub excluded: u64,
    pub mounts: u64,
    pub special: u64,
    pub archive_dir: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PathError {
    pub path: String,
    pub error: String,
}

/// One selected file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileRow {
    pub path: String,
    pub size: u64,
    pub mtime: String,
    pub age_days: f64,
    pub rule: String,
    pub reason: Reason,
    pub result: FileResult,
    /// Only on a file that could not be deleted.
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
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
    pub quarantined: u64,
}

/// The zip written (`archive`) or that a real run would write (`would_archive`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Archive {
    pub path: String,
    pub files: u64,
    pub bytes: u64,
}

/// `by_reason`: selected files counted by rule, reason and result.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReasonCount {
    pub rule: String,
    pub reason: Reason,
    pub result: FileResult,
    pub files: u64,
    pub bytes: u64,
}

/// The `--min-free` target and what it took (`MinFreeView`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MinFree {
    pub target: String,
    pub target_bytes: u64,
    pub total_bytes: u64,
    pub available_bytes: u64,
    pub projected_bytes: u64,
    pub selected_files: u64,
    pub selected_bytes: u64,
    pub shortfall_bytes: u64,
}

/// A real run that found the run lock held (`LockedReport`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Locked {
    pub base_dir: String,
    pub lock: String,
    pub holder: String,
    pub waited_seconds: f64,
    pub error: String,
    pub tool: String,
    pub status: Status,
    pub marker: String,
}

/// `--explain PATH` (`ExplainReport`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Explained {
    pub path: String,
    /// `selected`, `kept` or `not_a_candidate`.
    pub decision: String,
    #[serde(deserialize_with = "nullable")]
    pub rule: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub reason: Option<Reason>,
    pub why: Vec<String>,
    pub tool: String,
    pub status: Status,
    pub marker: String,
}

/// The report of a run with several `--base-dir` (`roots.rs` `RootsReport` plus the printer's
/// `tool`, `status` and `marker`): one section per root, in the order given.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RootsDocument {
    pub roots: Vec<RootSection>,
    pub tool: String,
    pub status: Status,
    pub marker: String,
}

/// One root's section (`roots.rs` `Section`). Untagged: each variant's struct denies unknown
/// fields and requires all of its own, so exactly one variant matches a section the binary
/// writes (a `Failed` section has no `lock`/`holder`, a `Locked` one no `dry_run`), and a
/// section with a field added, renamed or dropped matches none and fails the test.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub(crate) enum RootSection {
    /// Rotated (or planned, on a dry run).
    Ran(Box<RanRoot>),
    /// Its lock was held by another run.
    Locked(LockedRoot),
    /// Not started: the run was interrupted before it.
    NotRun(NotRunRoot),
    /// Not rotated: an error before anything was deleted under it.
    Failed(FailedRoot),
}

impl RootSection {
    /// The rotated root's section; panics (printing the section) for any other kind.
    #[track_caller]
    pub fn ran(&self) -> &RanRoot {
        match self {
            RootSection::Ran(ran) => ran,
            other => panic!("expected a rotated root's section, got {other:#?}"),
        }
    }

    /// The LOCKED root's section; panics (printing the section) for any other kind.
    #[track_caller]
    pub fn locked(&self) -> &LockedRoot {
        match self {
            RootSection::Locked(locked) => locked,
            other => panic!("expected a LOCKED root's section, got {other:#?}"),
        }
    }
}

rotated_report! {
    /// A rotated root's section: the single-root [`Document`] without `tool` and `marker`, with
    /// its own `status`.
    RanRoot {
        pub status: Status,
    }
}

/// A root whose lock another run held: the single-root [`Locked`] document without `tool` and
/// `marker`, with its own `status`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LockedRoot {
    pub base_dir: String,
    pub lock: String,
    pub holder: String,
    pub waited_seconds: f64,
    pub error: String,
    pub status: Status,
}

/// A root not reached because the run was interrupted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NotRunRoot {
    pub base_dir: String,
    pub not_run: String,
    pub status: Status,
}

/// A root that could not be rotated (an error before anything was deleted in it).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FailedRoot {
    pub base_dir: String,
    pub error: String,
    pub status: Status,
}
