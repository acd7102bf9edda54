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

use super::config::Task;
use crate::clock;
use crate::sanitize::display_path;
use crate::units::{format_duration, format_size};

/// How far in the future a modification time may lie before the clock is distrusted.
pub(crate) const FUTURE_TOLERANCE: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub(crate) enum Status {
    Fresh,
    Stale,
    Missing,
    Empty,
    Error,
    Future,
    Paused,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Fresh,
        Status::Stale,
        Status::Missing,
        Status::Empty,
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
            Status::Paused => "PAUSED",
        }
    }

    /// Fresh and paused tasks do not fail the check.
    pub fn passes(self) -> bool {
        matches!(self, Status::Fresh | Status::Paused)
    }
}

/// The facts about the file that was checked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FileFacts {
    pub path: PathBuf,
    pub modified: DateTime<Utc>,
    pub size: u64,
}

/// What looking for the artifact found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lookup {
    Found(FileFacts),
    Missing(String),
    Failed {
        path: PathBuf,
        reason: String,
    },
    /// A regular file whose mtime names no representable instant (e.g. year 262,000 on tmpfs).
    OutOfRange {
        path: PathBuf,
        error: clock::OutOfRange,
    },
}

/// A classified task: status plus what a person needs to act on it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Finding {
    pub status: Status,
    pub file: Option<FileFacts>,
    /// Seconds since the file was modified; negative when it is dated in the future.
    pub age_seconds: Option<i64>,
    pub message: Option<String>,
}

/// Classifies a task from what was found on disk. Order of precedence: paused, then missing or
/// unreadable, then a future date (freshness cannot be trusted), then too small, then age.
pub(crate) fn classify(task: &Task, lookup: Lookup, now: DateTime<Utc>) -> Finding {
    let file = match &lookup {
        Lookup::Found(facts) => Some(facts.clone()),
        _ => None,
    };
    let age_seconds = file.as_ref().map(|facts| (now - facts.modified).num_seconds());
    let (status, message) = match (task.pause_at(now), lookup) {
        (Some(pause), _) => (Status::Paused, Some(pause.to_string())),
        (None, Lookup::Missing(reason)) => (Status::Missing, Some(reason)),
        (None, Lookup::Failed { path, reason }) => {
            (Status::Error, Some(format!("cannot check {}: {reason}", display_path(&path))))
        }
        (None, Lookup::Found(facts)) => classify_file(task, &facts, now),
        (None, Lookup::OutOfRange { path, error }) if error.is_future() => (
            Status::Future,
            Some(format!(
                "{}: modification time {error}; a clock is wrong, freshness cannot be trusted",
                display_path(&path)
            )),
        ),
        (None, Lookup::OutOfRange { path, error }) => (
            Status::Error,
            Some(format!("cannot check {}: its modification time {error}", display_path(&path))),
        ),
    };
    Finding { status, file, age_seconds, message }
}

fn classify_file(task: &Task, facts: &FileFacts, now: DateTime<Utc>) -> (Status, Option<String>) {
    let ahead = (facts.modified - now).to_std().unwrap_or_default();
    if ahead > FUTURE_TOLERANCE {
        return (
            Status::Future,
            Some(format!(
                "modified {} in the future; a clock is wrong, freshness cannot be trusted",
                format_duration(ahead)
            )),
        );
    }
    if let Some(min_size) = task.min_size.filter(|min| facts.size < *min) {
        return (
            Status::Empty,
            Some(format!("size {} is below min_size {}", format_size(facts.size), format_size(min_size))),
        );
    }
    let age = (now - facts.modified).to_std().unwrap_or_default();
    if age > task.max_age {
        return (
            Status::Stale,
            Some(format!(
                "{} older than max_age {}",
                format_duration(age - task.max_age),
                format_duration(task.max_age)
            )),
        );
    }
    (Status::Fresh, None)
}

/// Finds the file a task's artifact names: the path itself, or for a glob the newest match.
pub(crate) fn find_artifact(task: &Task) -> Lookup {
    if task.is_glob() { find_newest_match(&task.artifact) } else { inspect(Path::new(&task.artifact)) }
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
        Ok(modified) => Lookup::Found(FileFacts { path: path.to_path_buf(), modified, size }),
        Err(error) => Lookup::OutOfRange { path: path.to_path_buf(), error },
    }
}

/// Walks from the pattern's literal prefix and keeps the newest regular file that matches
/// (ties broken by path, so the choice is deterministic).
fn find_newest_match(pattern: &str) -> Lookup {
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
            Lookup::OutOfRange { path, error } if error.is_future() => {
                beyond_range.get_or_insert(Lookup::OutOfRange { path, error });
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
            max_age: Duration::from_secs(max_age_hours * 3600),
            min_size: None,
            enabled: true,
            paused_until: None,
        }
    }

    fn found(modified: &str, size: u64) -> Lookup {
        Lookup::Found(FileFacts { path: "a.json".into(), modified: parse_rfc3339(modified).unwrap(), size })
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

    #[test]
    fn small_file_is_empty() {
        let mut small = task(1);
        small.min_size = Some(10);
        assert_eq!(classify(&small, found("2025-10-11T11:00:00Z", 9), now()).status, Status::Empty);
        assert_eq!(classify(&small, found("2025-10-11T11:00:00Z", 10), now()).status, Status::Fresh);
    }

    #[test]
    fn paused_wins_over_anything() {
        let mut paused = task(1);
        paused.enabled = false;
        let finding = classify(&paused, Lookup::Missing("gone".into()), now());
        assert_eq!(finding.status, Status::Paused);
        assert!(Status::Paused.passes() && Status::Fresh.passes() && !Status::Stale.passes());
    }

    #[test]
    fn literal_prefix_of_globs() {
        assert_eq!(literal_prefix("artifacts/reports/nightly_*.json"), PathBuf::from("artifacts/reports"));
        assert_eq!(literal_prefix("artifacts/**/x.json"), PathBuf::from("artifacts"));
        assert_eq!(literal_prefix("*.json"), PathBuf::from("."));
    }
}
