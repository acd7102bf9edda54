//! Typed mirrors of the documents `mmops make-ready` writes: the `--format json` document of a
//! run and of `--validate`, and the readiness document (`readiness.json`, also the run
//! document's `readiness`). Each uses `deny_unknown_fields`, so a field added, renamed or dropped
//! fails the tests that read it. They are written from the documented format, not borrowed from
//! the crate, so a change on the binary's side cannot carry the tests along with it.
//! Fields the binary leaves out when they do not apply are `Option` (or a defaulted `Vec`/count);
//! the tests that expect them assert their presence.

use serde::Deserialize;

/// The `status` every report document carries (one definition for every subcommand).
pub use crate::global::mirror::Status;

/// `mmops make-ready --format json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MakeReadyDoc {
    pub steps: Vec<Step>,
    /// `null` under `--skip-pre-live`.
    pub pre_live_pack: Option<PackSummary>,
    /// The readiness document exactly as written; `null` when interrupted before scoring.
    pub readiness: Option<Readiness>,
    pub readiness_detail: Option<ReadinessDetail>,
    pub verdict: MakeReadyVerdict,
    /// What failed and what was already written, when `PARTIAL`.
    pub partial: Option<String>,
    /// With `--tag-rc` only.
    pub release: Option<ReleaseTag>,
    pub tool: String,
    pub status: Status,
    pub marker: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE", deny_unknown_fields)]
pub enum MakeReadyVerdict {
    Ok,
    OkSignedOff,
    Blocked,
    Interrupted,
    Partial,
}

/// One pre-live step's row.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub name: String,
    pub status: StepStatus,
    /// Seconds, millisecond precision.
    pub duration: f64,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    pub waiver: Option<String>,
    pub output_tail: Vec<String>,
    pub output_bytes: u64,
    pub output_elided_bytes: u64,
    /// With `retries` only (left out when empty).
    #[serde(default)]
    pub attempts: Vec<Attempt>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE", deny_unknown_fields)]
pub enum StepStatus {
    Ok,
    Fail,
    Waived,
    ReportOnly,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attempt {
    pub duration: f64,
    pub exit_code: Option<i32>,
    /// `null` for the attempt that passed.
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackSummary {
    /// `OK` or `FAIL`.
    pub status: String,
    pub ok: usize,
    pub waived: usize,
    pub failed: usize,
    /// Left out when no report-only step failed.
    #[serde(default)]
    pub report_only: usize,
    pub wall_time: f64,
    pub serial_time: f64,
}

/// The readiness document: `readiness.json` and the run document's `readiness`.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Readiness {
    pub runtime: Runtime,
    pub score: f64,
    /// With a `scoring:` section in the config only.
    pub scoring: Option<ScoringRecord>,
    pub sections: Sections,
    /// A MARGINAL verdict someone accepted, only.
    pub sign_off: Option<SignOff>,
    pub verdict: ReadinessVerdict,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runtime {
    pub utc: String,
    pub version: String,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sections {
    pub chaos: f64,
    pub edge: f64,
    pub guards: f64,
    pub latency: f64,
    pub taker: f64,
    pub tests: f64,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoringRecord {
    pub critical: Vec<String>,
    pub go_at: f64,
    pub marginal_at: f64,
    pub min_reports: u32,
    pub weights: Sections,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignOff {
    pub name: String,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE", deny_unknown_fields)]
pub enum ReadinessVerdict {
    Go,
    Hold,
    Marginal,
    Blocked,
}

/// Readiness as judged: the score, what it rests on, why it holds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadinessDetail {
    /// GO or HOLD; GO, MARGINAL or BLOCKED with `scoring:`.
    pub status: String,
    pub sign_off: Option<SignOff>,
    pub score: f64,
    pub min_score: f64,
    pub file: String,
    pub reports: Vec<String>,
    pub unusable_reports: Vec<String>,
    pub hold_reasons: Vec<String>,
    pub validation_errors: Vec<String>,
    /// With `--baseline` / `--baseline-tag` only.
    pub baseline: Option<Comparison>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    pub source: String,
    pub version: String,
    pub utc: String,
    pub verdict: String,
    pub score: Change,
    pub sections: Vec<Change>,
    pub different_rules: bool,
    pub drops: Vec<String>,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    pub name: String,
    pub baseline: f64,
    pub current: f64,
    pub change: f64,
    /// With a configured `max_drop` only.
    pub max_drop: Option<f64>,
}

/// `--tag-rc`: the tag made (or that would be), or why none.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseTag {
    /// `TAGGED`, `DRY_RUN` or `NOT_TAGGED`.
    pub status: String,
    pub tag: Option<String>,
    pub commit: String,
    pub message: Option<String>,
    pub checklist: Option<String>,
    pub bundles: Vec<Bundle>,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    pub file: String,
    pub sha256: String,
}

/// `mmops make-ready --validate FILE --format json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateDoc {
    pub file: String,
    pub verdict: Option<String>,
    pub signed_off: Option<SignOff>,
    pub errors: Vec<String>,
    pub tool: String,
    pub status: Status,
    pub marker: String,
}
