//! Deciding one task's status: finding its artifact on disk, then classifying it against "now".
//!
//! [`find_artifact`] is the only part that touches the disk; [`classify`] is pure.

use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use globset::GlobBuilder;
use serde::Serialize;
use walkdir::WalkDir;

use super::config::{Task, Timestamp};
use crate::clock;
use crate::sanitize::display_path;
use crate::units::{format_duration, format_size};

/// How far in the future a modification time may lie before the clock is distrusted.
pub(crate) const FUTURE_TOLERANCE: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum Status {
    Fresh,
    Stale,
    Missing,
    Empty,
    Error,
    Future,
    TooLarge,
    Warn,
    Paused,
}

impl Status {
    pub const ALL: [Status; 9] = [
        Status::Fresh,
        Status::Warn,
        Status::Stale,
        Status::Missing,
        Status::Empty,
        Status::TooLarge,
        Status::Error,
        Status::Future,
        Status::Paused,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Status::Fresh => "FRESH",
            Status::Stale => "STALE",
            Status::Missing => "MISSING",
            Status::Empty => "EMPTY",
            Status::Error => "ERROR",
            Status::Future => "FUTURE",
            Status::TooLarge => "TOO_LARGE",
            Status::Warn => "WARN",
            Status::Paused => "PAUSED",
        }
    }

    /// Fresh and paused tasks do not fail the check; WARN does not unless `--fail-on-warn`.
    pub fn passes(self, fail_on_warn: bool) -> bool {
        match self {
            Status::Fresh | Status::Paused => true,
            Status::Warn => !fail_on_warn,
            _ => false,
        }
    }
}

/// The facts about the file that was checked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FileFacts {
    pub path: PathBuf,
    pub modified: DateTime<Utc>,
    pub size: u64,
    /// The artifact's time: the mtime, or the time read from the file (`timestamp: json:…`).
    pub time: DateTime<Utc>,
}

/// Largest file read for `timestamp: json:…` (a report, not a data dump).
pub(crate) const TIMESTAMP_JSON_MAX: u64 = 16 * 1024 * 1024;

/// What looking for the artifact found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lookup {
    Found(FileFacts),
    Missing(String),
    Failed {
        path: PathBuf,
        reason: String,
    },
    /// A regular file whose time names no representable instant (an mtime of year 262,000 on
    /// tmpfs, or `timestamp: json:` epoch seconds as large); `what` names that time.
    OutOfRange {
        path: PathBuf,
        what: String,
        error: clock::OutOfRange,
    },
}

/// A classified task: status plus what a person needs to act on it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Finding {
    pub status: Status,
    pub file: Option<FileFacts>,
    /// Seconds since the artifact time; negative when it is dated in the future.
    pub age_seconds: Option<i64>,
    pub message: Option<String>,
    /// For a scheduled task: the latest start whose grace has run out, and the next start.
    pub last_due: Option<DateTime<Utc>>,
    pub next_due: Option<DateTime<Utc>>,
}

/// Classifies a task from what was found on disk. Order of precedence: paused, then missing or
/// unreadable, then a future date (freshness cannot be trusted), then too small, then age.
pub(crate) fn classify(task: &Task, lookup: Lookup, now: DateTime<Utc>) -> Finding {
    let file = match &lookup {
        Lookup::Found(facts) => Some(facts.clone()),
        _ => None,
    };
    let age_seconds = file.as_ref().map(|facts| (now - facts.time).num_seconds());
    let (last_due, next_due) = match &task.schedule {
        None => (None, None),
        Some(scheduled) => {
            let grace = chrono::Duration::from_std(scheduled.grace).ok();
            let due_by = grace.and_then(|grace| now.checked_sub_signed(grace));
            (
                due_by.and_then(|due_by| scheduled.schedule.latest_at_or_before(scheduled.zone, due_by)),
                scheduled.schedule.next_after(scheduled.zone, now),
            )
        }
    };
    let (status, message) = match (task.pause_at(now), lookup) {
        (Some(pause), _) => (Status::Paused, Some(pause.to_string())),
        (None, Lookup::Missing(reason)) => (Status::Missing, Some(reason)),
        (None, Lookup::Failed { path, reason }) => {
            (Status::Error, Some(format!("cannot check {}: {reason}", display_path(&path))))
        }
        (None, Lookup::Found(facts)) => classify_file(task, &facts, now, last_due),
        (None, Lookup::OutOfRange { path, what, error }) if error.is_future() => (
            Status::Future,
            Some(format!(
                "{}: {what} {error}; a clock is wrong, freshness cannot be trusted",
                display_path(&path)
            )),
        ),
        (None, Lookup::OutOfRange { path, what, error }) => {
            (Status::Error, Some(format!("cannot check {}: its {what} {error}", display_path(&path))))
        }
    };
    Finding { status, file, age_seconds, message, last_due, next_due }
}

fn classify_file(
    task: &Task,
    facts: &FileFacts,
    now: DateTime<Utc>,
    last_due: Option<DateTime<Utc>>,
) -> (Status, Option<String>) {
    let ahead = (facts.time - now).to_std().unwrap_or_default();
    if ahead > FUTURE_TOLERANCE {
        let what = if task.timestamp == Timestamp::Mtime { "modified" } else { "dated" };
        return (
            Status::Future,
            Some(format!(
                "{what} {} in the future; a clock is wrong, freshness cannot be trusted",
                format_duration(ahead)
            )),
        );
    }
    if let Some(min_size) = task.min_size.as_ref().filter(|min| facts.size < min.bytes) {
        return (
            Status::Empty,
            Some(format!("size {} is below min_size {}", format_size(facts.size), min_size.describe())),
        );
    }
    if let Some(max_size) = task.max_size.as_ref().filter(|max| facts.size > max.bytes) {
        return (
            Status::TooLarge,
            Some(format!("size {} is above max_size {}", format_size(facts.size), max_size.describe())),
        );
    }
    let age = (now - facts.time).to_std().unwrap_or_default();
    if let Some(max_age) = task.max_age.filter(|max_age| age > *max_age) {
        return (
            Status::Stale,
            Some(format!(
                "{} older than max_age {}",
                format_duration(age - max_age),
                format_duration(max_age)
            )),
        );
    }
    if let (Some(scheduled), Some(due)) = (&task.schedule, last_due)
        && facts.time < due
    {
        return (
            Status::Stale,
            Some(format!(
                "no output since the run due {} {} (+{} grace)",
                due.with_timezone(&scheduled.zone).format("%Y-%m-%d %H:%M"),
                scheduled.zone.name(),
                format_duration(scheduled.grace)
            )),
        );
    }
    if let Some(warn_age) = task.warn_age.filter(|warn_age| age > *warn_age) {
        return (
            Status::Warn,
            Some(format!(
                "{} older than warn_age {}",
                format_duration(age - warn_age),
                format_duration(warn_age)
            )),
        );
    }
    (Status::Fresh, None)
}

/// Replaces a found file's time with the one its contents give (`timestamp: json:<pointer>`);
/// a file that cannot supply it becomes an error naming the file and the pointer.
pub(crate) fn read_artifact_time(task: &Task, lookup: Lookup) -> Lookup {
    let (Timestamp::Json(pointer), Lookup::Found(facts)) = (&task.timestamp, lookup.clone()) else {
        return lookup;
    };
    let failed = |reason: String| Lookup::Failed { path: facts.path.clone(), reason };
    let bytes = match crate::limits::read_limited(&facts.path, TIMESTAMP_JSON_MAX, "artifact") {
        Ok(bytes) => bytes,
        Err(error) => return failed(format!("timestamp json:{pointer}: {error:#}")),
    };
    facts.time_from_json(pointer, &bytes)
}

impl FileFacts {
    /// These facts with the time at `pointer` in the file's bytes (`timestamp: json:<pointer>`):
    /// the same for a local file and an object.
    pub(crate) fn time_from_json(mut self, pointer: &str, bytes: &[u8]) -> Lookup {
        match time_from_json(pointer, bytes) {
            Ok(time) => {
                self.time = time;
                Lookup::Found(self)
            }
            Err(JsonTime::Invalid(reason)) => Lookup::Failed { path: self.path, reason },
            Err(JsonTime::OutOfRange(error)) => {
                Lookup::OutOfRange { path: self.path, what: format!("time at json:{pointer}"), error }
            }
        }
    }
}

/// Why a JSON document gives no usable time.
enum JsonTime {
    /// No value, the wrong type, not a time: the reason.
    Invalid(String),
    /// Epoch seconds outside the representable range: FUTURE (or ERROR before it), as an mtime.
    OutOfRange(clock::OutOfRange),
}

impl From<String> for JsonTime {
    fn from(reason: String) -> JsonTime {
        JsonTime::Invalid(reason)
    }
}

/// The time at `pointer` in a JSON document (`timestamp: json:<pointer>`), or why there is none.
fn time_from_json(pointer: &str, bytes: &[u8]) -> Result<DateTime<Utc>, JsonTime> {
    let document: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(document) => document,
        Err(error) => return Err(format!("timestamp json:{pointer}: not valid JSON ({error})").into()),
    };
    match document.pointer(pointer) {
        None => Err(format!("timestamp json:{pointer}: the file has no value at {pointer}").into()),
        Some(serde_json::Value::String(text)) => crate::clock::parse_rfc3339(text).map_err(|error| {
            format!(
                "timestamp json:{pointer}: {:?} is not an RFC 3339 time ({error})",
                crate::sanitize::excerpt(text, 64)
            )
            .into()
        }),
        Some(serde_json::Value::Number(number)) => match epoch_seconds(number) {
            Some(Ok(time)) => Ok(time),
            Some(Err(error)) => Err(JsonTime::OutOfRange(error)),
            None => {
                Err(format!("timestamp json:{pointer}: {number} is not a usable number of epoch seconds")
                    .into())
            }
        },
        Some(other) => Err(format!(
            "timestamp json:{pointer}: the value is {}, not an RFC 3339 string or epoch seconds",
            json_kind(other)
        )
        .into()),
    }
}

/// Epoch seconds (integer or fractional) as an instant; `Err` when an exact number of seconds
/// lies outside the representable range (see [`clock::OutOfRange::is_future`]), `None` when not
/// a usable number at all (not finite, or a float too large to hold whole seconds).
fn epoch_seconds(number: &serde_json::Number) -> Option<Result<DateTime<Utc>, clock::OutOfRange>> {
    if let Some(whole) = number.as_i64() {
        return Some(clock::from_unix(whole, 0));
    }
    if let Some(whole) = number.as_u64() {
        // Above i64::MAX seconds: far beyond any representable instant.
        return Some(Err(clock::OutOfRange { seconds: i128::from(whole), nanos: 0 }));
    }
    let value = number.as_f64().filter(|value| value.is_finite())?;
    let whole = value.floor();
    if whole.abs() > 9.0e15 {
        // Past 2^53 a float no longer holds whole seconds exactly: not a time anyone wrote.
        return None;
    }
    let nanos = ((value - whole) * 1e9).round().min(999_999_999.0) as u32;
    Some(clock::from_unix(whole as i64, nanos))
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Finds the file a task's artifact names: the path itself, or for a glob the newest match.
/// `own_output` (the run's `--prom-file`) never counts as a match: the sentinel rewrites it on
/// every run, so a task whose glob covers it would always be FRESH.
pub(crate) fn find_artifact(task: &Task, own_output: Option<&Path>) -> Lookup {
    if task.is_glob() {
        find_newest_match(&task.artifact, own_output)
    } else {
        inspect(Path::new(&task.artifact))
    }
}

/// Looks at one path, following symlinks; a dangling link is missing, not an error.
fn inspect(path: &Path) -> Lookup {
    if let Err(error) = path.symlink_metadata() {
        return match error.kind() {
            io::ErrorKind::NotFound => Lookup::Missing(format!("{} does not exist", display_path(path))),
            _ => Lookup::Failed { path: path.to_path_buf(), reason: io_reason(&error) },
        };
    }
    match path.metadata() {
        Ok(metadata) if metadata.is_file() => match metadata.modified() {
            Ok(modified) => file_lookup(path, modified, metadata.len()),
            Err(error) => Lookup::Failed { path: path.to_path_buf(), reason: io_reason(&error) },
        },
        Ok(_) => Lookup::Failed { path: path.to_path_buf(), reason: "not a regular file".into() },
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            let target = std::fs::read_link(path).map(|target| display_path(&target)).unwrap_or_default();
            Lookup::Missing(format!("{} is a dangling symlink to {target}", display_path(path)))
        }
        Err(error) => Lookup::Failed { path: path.to_path_buf(), reason: io_reason(&error) },
    }
}

/// A regular file's facts, or why its mtime cannot be used.
fn file_lookup(path: &Path, modified: std::time::SystemTime, size: u64) -> Lookup {
    match clock::from_system_time(modified) {
        Ok(modified) => Lookup::Found(FileFacts { path: path.to_path_buf(), modified, size, time: modified }),
        Err(error) => {
            Lookup::OutOfRange { path: path.to_path_buf(), what: "modification time".into(), error }
        }
    }
}

/// Walks from the pattern's literal prefix and keeps the newest regular file that matches
/// (ties broken by path, so the choice is deterministic).
fn find_newest_match(pattern: &str, own_output: Option<&Path>) -> Lookup {
    let matcher = match GlobBuilder::new(pattern).literal_separator(true).build() {
        Ok(glob) => glob.compile_matcher(),
        Err(error) => {
            return Lookup::Failed { path: PathBuf::from(pattern), reason: format!("invalid glob: {error}") };
        }
    };
    let base = literal_prefix(pattern);
    if !base.exists() {
        return Lookup::Missing(format!(
            "no file matches {pattern} ({} does not exist)",
            display_path(&base)
        ));
    }
    let mut newest: Option<FileFacts> = None;
    // A file dated beyond the representable range is newer than any other match.
    let mut beyond_range: Option<Lookup> = None;
    let mut dangling = 0usize;
    let mut first_failure: Option<Lookup> = None;
    for entry in WalkDir::new(&base).follow_links(false).sort_by_file_name() {
        let entry = match entry {
            Ok(entry) => entry,
            Err(error) => {
                let path = error.path().map(Path::to_path_buf).unwrap_or_else(|| base.clone());
                let reason = error.io_error().map(io_reason).unwrap_or_else(|| error.to_string());
                first_failure.get_or_insert(Lookup::Failed { path, reason });
                continue;
            }
        };
        let path = strip_dot_prefix(entry.path(), &base, pattern);
        if entry.depth() == 0 || entry.file_type().is_dir() || !matcher.is_match(&path) {
            continue;
        }
        // A temporary file of a run in progress (this one's `--prom-file` included) is no job's
        // output, and neither is the textfile this sentinel writes.
        if crate::atomic_write::is_temp_name(entry.file_name())
            || own_output.is_some_and(|own| crate::atomic_write::same_destination(&path, own))
        {
            continue;
        }
        match inspect(&path) {
            Lookup::Found(facts) => {
                if newest
                    .as_ref()
                    .is_none_or(|best| (facts.modified, &facts.path) > (best.modified, &best.path))
                {
                    newest = Some(facts);
                }
            }
            Lookup::Missing(_) => dangling += 1,
            out_of_range @ Lookup::OutOfRange { .. } if matches!(&out_of_range, Lookup::OutOfRange { error, .. } if error.is_future()) =>
            {
                beyond_range.get_or_insert(out_of_range);
            }
            failure @ (Lookup::Failed { .. } | Lookup::OutOfRange { .. }) => {
                first_failure.get_or_insert(failure);
            }
        }
    }
    if let Some(beyond) = beyond_range {
        return beyond;
    }
    match (newest, first_failure) {
        (Some(facts), _) => Lookup::Found(facts),
        (None, Some(failure)) => failure,
        (None, None) if dangling > 0 => {
            Lookup::Missing(format!("no file matches {pattern} ({dangling} dangling symlink(s) match)"))
        }
        (None, None) => Lookup::Missing(format!("no file matches {pattern}")),
    }
}

/// The folder to walk for a glob: its leading components without glob characters.
fn literal_prefix(pattern: &str) -> PathBuf {
    let mut base = PathBuf::new();
    let components: Vec<Component> = Path::new(pattern).components().collect();
    for component in &components[..components.len().saturating_sub(1)] {
        if component.as_os_str().to_string_lossy().contains(['*', '?', '[', '{']) {
            break;
        }
        base.push(component);
    }
    if base.as_os_str().is_empty() { PathBuf::from(".") } else { base }
}

/// walkdir yields `./x` when the base is `.`; the pattern `x/*.json` must still match.
fn strip_dot_prefix(path: &Path, base: &Path, pattern: &str) -> PathBuf {
    if base == Path::new(".") && !pattern.starts_with("./") {
        path.strip_prefix(".").unwrap_or(path).to_path_buf()
    } else {
        path.to_path_buf()
    }
}

fn io_reason(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_rfc3339;

    fn task(max_age_hours: u64) -> Task {
        Task {
            name: "t".into(),
            artifact: "a.json".into(),
            max_age: Some(Duration::from_secs(max_age_hours * 3600)),
            schedule: None,
            warn_age: None,
            timestamp: Timestamp::Mtime,
            max_size: None,
            min_size: None,
            enabled: true,
            paused_until: None,
        }
    }

    fn found(modified: &str, size: u64) -> Lookup {
        let modified = parse_rfc3339(modified).unwrap();
        Lookup::Found(FileFacts { path: "a.json".into(), modified, size, time: modified })
    }

    fn now() -> DateTime<Utc> {
        parse_rfc3339("2025-10-11T12:00:00Z").unwrap()
    }

    #[test]
    fn age_at_the_limit_is_fresh_one_second_more_is_stale() {
        let at_limit = classify(&task(36), found("2025-10-10T00:00:00Z", 1), now());
        assert_eq!((at_limit.status, at_limit.age_seconds), (Status::Fresh, Some(36 * 3600)));
        let over = classify(&task(36), found("2025-10-09T23:59:59Z", 1), now());
        assert_eq!(over.status, Status::Stale);
        assert_eq!(over.message.as_deref(), Some("1s older than max_age 1d 12h"));
    }

    #[test]
    fn future_beyond_tolerance_fails() {
        assert_eq!(classify(&task(1), found("2025-10-11T12:05:00Z", 1), now()).status, Status::Fresh);
        let future = classify(&task(1), found("2025-10-11T12:05:01Z", 1), now());
        assert_eq!((future.status, future.age_seconds), (Status::Future, Some(-301)));
    }

    // Regression: an mtime in year 262,000 (tmpfs stores it) panicked with "No such local time".
    #[test]
    fn mtime_beyond_the_representable_range_is_future_or_error_not_a_panic() {
        use std::time::{Duration, SystemTime};
        let ahead = SystemTime::UNIX_EPOCH + Duration::from_secs(9_000_000_000_000);
        let finding = classify(&task(1), file_lookup(Path::new("a.json"), ahead, 1), now());
        assert_eq!((finding.status, finding.file, finding.age_seconds), (Status::Future, None, None));
        assert_eq!(
            finding.message.as_deref(),
            Some(
                "a.json: modification time 9000000000000 seconds since 1970 is after +262142-12-31T23:59:59Z, outside the range of dates mmops handles; a clock is wrong, freshness cannot be trusted"
            )
        );
        let behind = SystemTime::UNIX_EPOCH - Duration::from_secs(9_000_000_000_000);
        let finding = classify(&task(1), file_lookup(Path::new("a.json"), behind, 1), now());
        assert_eq!(finding.status, Status::Error);
        assert!(
            finding
                .message
                .unwrap()
                .starts_with("cannot check a.json: its modification time -9000000000000 seconds")
        );
    }

    fn scheduled(expression: &str, zone: chrono_tz::Tz, grace_minutes: u64) -> Task {
        let mut task = task(1);
        task.max_age = None;
        task.schedule = Some(super::super::config::Scheduled {
            schedule: super::super::schedule::Schedule::parse(expression).unwrap(),
            zone,
            grace: Duration::from_secs(grace_minutes * 60),
        });
        task
    }

    // The Monday-morning false alarm: a weekday job checked with max_age cries wolf after the
    // weekend; with its schedule it is fresh until Monday's run is due.
    #[test]
    fn weekday_schedule_is_fresh_over_the_weekend_and_stale_after_a_missed_run() {
        let task = scheduled("0 2 * * 1-5", chrono_tz::Europe::London, 60);
        let friday_output = found("2026-11-27T02:20:00Z", 1);
        let monday_morning = parse_rfc3339("2026-11-30T02:30:00Z").unwrap();
        let finding = classify(&task, friday_output.clone(), monday_morning);
        assert_eq!((finding.status, finding.message), (Status::Fresh, None));
        assert_eq!(finding.last_due, Some(parse_rfc3339("2026-11-27T02:00:00Z").unwrap()));
        assert_eq!(finding.next_due, Some(parse_rfc3339("2026-12-01T02:00:00Z").unwrap()));
        let after_grace = parse_rfc3339("2026-11-30T03:00:00Z").unwrap();
        let finding = classify(&task, friday_output.clone(), after_grace);
        assert_eq!(finding.status, Status::Stale);
        assert_eq!(
            finding.message.as_deref(),
            Some("no output since the run due 2026-11-30 02:00 Europe/London (+1h grace)")
        );
        // Written exactly at the due instant is fresh.
        assert_eq!(classify(&task, found("2026-11-30T02:00:00Z", 1), after_grace).status, Status::Fresh);
    }

    #[test]
    fn warn_age_and_max_size() {
        let mut warned = task(10);
        warned.warn_age = Some(Duration::from_secs(3600));
        assert_eq!(classify(&warned, found("2025-10-11T10:59:59Z", 1), now()).status, Status::Warn);
        assert_eq!(classify(&warned, found("2025-10-11T11:00:00Z", 1), now()).status, Status::Fresh);
        warned.max_size = crate::units::parse_typed_size("10").ok();
        let large = classify(&warned, found("2025-10-11T11:00:00Z", 11), now());
        assert_eq!(
            (large.status, large.message.as_deref()),
            (Status::TooLarge, Some("size 11 B is above max_size 10 B"))
        );
    }

    #[test]
    fn small_file_is_empty() {
        let mut small = task(1);
        small.min_size = crate::units::parse_typed_size("10").ok();
        assert_eq!(classify(&small, found("2025-10-11T11:00:00Z", 9), now()).status, Status::Empty);
        assert_eq!(classify(&small, found("2025-10-11T11:00:00Z", 10), now()).status, Status::Fresh);
    }

    #[test]
    fn paused_wins_over_anything() {
        let mut paused = task(1);
        paused.enabled = false;
        let finding = classify(&paused, Lookup::Missing("gone".into()), now());
        assert_eq!(finding.status, Status::Paused);
        assert!(Status::Paused.passes(true) && Status::Fresh.passes(true) && !Status::Stale.passes(false));
        assert!(Status::Warn.passes(false) && !Status::Warn.passes(true));
    }

    #[test]
    fn literal_prefix_of_globs() {
        assert_eq!(literal_prefix("artifacts/reports/nightly_*.json"), PathBuf::from("artifacts/reports"));
        assert_eq!(literal_prefix("artifacts/**/x.json"), PathBuf::from("artifacts"));
        assert_eq!(literal_prefix("*.json"), PathBuf::from("."));
    }
}
