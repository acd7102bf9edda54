//! The cron-sentinel task list: parsing and checking `deploy/cron/sentinel.yaml`.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};
use chrono::{DateTime, Utc};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use chrono_tz::Tz;

use super::schedule::Schedule;
use crate::clock;
use crate::config_file;
use crate::units;

/// The whole config file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SentinelConfig {
    #[serde(deserialize_with = "deserialize_tasks")]
    tasks: Vec<serde_saphyr::Spanned<Task>>,
}

impl SentinelConfig {
    /// The tasks, once their names are known to be unique; a repeated name is reported at the
    /// repeat's own `file:line:column` (a [`crate::outcome::Located`] error, so JSON carries it).
    pub(crate) fn into_tasks(self, origin: &str) -> Result<Vec<Task>> {
        // Names seen so far and where: a map, so 1,000 tasks are not a million comparisons.
        let mut seen: std::collections::HashMap<&str, (usize, u64)> =
            std::collections::HashMap::with_capacity(self.tasks.len());
        for (index, task) in self.tasks.iter().enumerate() {
            let at = &task.referenced;
            if let Some((first, first_line)) = seen.insert(task.value.name.as_str(), (index, at.line())) {
                return Err(anyhow::Error::new(crate::outcome::Located {
                    file: origin.to_string(),
                    line: at.line() as usize,
                    column: at.column() as usize,
                    message: format!(
                        "duplicate task name {:?} (task #{} repeats task #{} at line {first_line}); names must be unique",
                        task.value.name,
                        index + 1,
                        first + 1
                    ),
                }));
            }
        }
        Ok(self.tasks.into_iter().map(|task| task.value).collect())
    }
}

/// One scheduled job whose output file must stay fresh: the fields as written, checked
/// together by `TryFrom` (serde puts the location on the error).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskFields {
    name: String,
    artifact: String,
    #[serde(default, deserialize_with = "units::deserialize_optional_duration")]
    max_age: Option<Duration>,
    #[serde(default, deserialize_with = "deserialize_schedule")]
    schedule: Option<Schedule>,
    #[serde(default, deserialize_with = "deserialize_zone")]
    tz: Option<Tz>,
    #[serde(default, deserialize_with = "units::deserialize_optional_duration")]
    grace: Option<Duration>,
    #[serde(default, deserialize_with = "units::deserialize_optional_duration")]
    warn_age: Option<Duration>,
    #[serde(default, deserialize_with = "deserialize_timestamp")]
    timestamp: Option<Timestamp>,
    #[serde(default, deserialize_with = "units::deserialize_optional_typed_size")]
    min_size: Option<units::TypedSize>,
    #[serde(default, deserialize_with = "units::deserialize_optional_typed_size")]
    max_size: Option<units::TypedSize>,
    #[serde(default = "enabled_by_default", deserialize_with = "deserialize_strict_bool")]
    enabled: bool,
    #[serde(default, deserialize_with = "deserialize_instant")]
    paused_until: Option<DateTime<Utc>>,
}

/// A checked task.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "TaskFields")]
pub(crate) struct Task {
    /// Unique name, used by `--task` and as the Prometheus label.
    pub name: String,
    /// Path or glob, relative to the working directory.
    pub artifact: String,
    pub max_age: Option<Duration>,
    /// When the job is due, in which zone, and how long it may take to write its file.
    pub schedule: Option<Scheduled>,
    /// Older than this (but otherwise fresh) is `WARN`.
    pub warn_age: Option<Duration>,
    pub timestamp: Timestamp,
    /// A file smaller than this is `EMPTY` (a job that ran but wrote nothing useful). Kept as
    /// typed, so messages say `max_size 50M (50 MiB)`.
    pub min_size: Option<units::TypedSize>,
    /// A file larger than this is `TOO_LARGE` (a runaway job).
    pub max_size: Option<units::TypedSize>,
    pub enabled: bool,
    /// Planned maintenance: until this instant the task is `PAUSED`, never failing.
    pub paused_until: Option<DateTime<Utc>>,
}

/// A task's schedule with its zone and grace resolved.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scheduled {
    pub schedule: Schedule,
    pub zone: Tz,
    pub grace: Duration,
}

/// Where the artifact's time comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum Timestamp {
    #[default]
    Mtime,
    /// A JSON pointer into the file: an RFC 3339 string or epoch seconds.
    Json(String),
}

impl fmt::Display for Timestamp {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timestamp::Mtime => formatter.write_str("mtime"),
            Timestamp::Json(pointer) => write!(formatter, "json:{pointer}"),
        }
    }
}

/// The grace when none is given: an hour, or the schedule's shortest interval if shorter.
const DEFAULT_GRACE: Duration = Duration::from_secs(3600);

impl TryFrom<TaskFields> for Task {
    type Error = String;

    fn try_from(fields: TaskFields) -> Result<Task, String> {
        let name = &fields.name;
        if fields.max_age.is_none() && fields.schedule.is_none() {
            return Err(format!(
                "task {name:?} needs max_age (e.g. 36h), schedule (e.g. \"0 2 * * *\"), or both"
            ));
        }
        if fields.schedule.is_none() {
            for (given, field) in [(fields.tz.is_some(), "tz"), (fields.grace.is_some(), "grace")] {
                if given {
                    return Err(format!("task {name:?}: {field} needs a schedule"));
                }
            }
        }
        if let (Some(warn), Some(max)) = (fields.warn_age, fields.max_age)
            && warn >= max
        {
            return Err(format!(
                "task {name:?}: warn_age {} must be shorter than max_age {}",
                units::format_duration(warn),
                units::format_duration(max)
            ));
        }
        if let (Some(min), Some(max)) = (&fields.min_size, &fields.max_size)
            && min.bytes > max.bytes
        {
            return Err(format!(
                "task {name:?}: min_size {} is larger than max_size {}",
                min.describe(),
                max.describe()
            ));
        }
        let schedule = match fields.schedule {
            None => None,
            Some(schedule) => {
                let zone = fields.tz.unwrap_or(Tz::UTC);
                // The exact interval scans years of days; the bound from the times of day
                // settles most tasks without it (1,000 tasks must load in milliseconds).
                let at_least = schedule.shortest_interval_lower_bound().to_std().unwrap_or_default();
                let shortest = || schedule.shortest_interval().to_std().unwrap_or_default();
                let grace = match fields.grace {
                    Some(grace) if grace <= at_least => grace,
                    Some(grace) => {
                        let shortest = shortest();
                        if grace > shortest {
                            return Err(format!(
                                "task {name:?}: grace {} is longer than the {} between runs of {:?}; a missed run would go unnoticed",
                                units::format_duration(grace),
                                units::format_duration(shortest),
                                schedule.text()
                            ));
                        }
                        grace
                    }
                    None if at_least >= DEFAULT_GRACE => DEFAULT_GRACE,
                    None => DEFAULT_GRACE.min(shortest()),
                };
                Some(Scheduled { schedule, zone, grace })
            }
        };
        Ok(Task {
            name: fields.name,
            artifact: fields.artifact,
            max_age: fields.max_age,
            schedule,
            warn_age: fields.warn_age,
            timestamp: fields.timestamp.unwrap_or_default(),
            min_size: fields.min_size,
            max_size: fields.max_size,
            enabled: fields.enabled,
            paused_until: fields.paused_until,
        })
    }
}

fn enabled_by_default() -> bool {
    true
}

/// Why a task is not checked right now, if it is not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) enum Pause {
    Disabled,
    Until(String),
}

impl fmt::Display for Pause {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pause::Disabled => formatter.write_str("disabled in the config"),
            Pause::Until(until) => write!(formatter, "paused until {until}"),
        }
    }
}

impl Task {
    /// Whether the artifact is a glob pattern rather than one path.
    pub fn is_glob(&self) -> bool {
        self.artifact.contains(['*', '?', '[', '{'])
    }

    /// The pause in force at `now`; an expired `paused_until` no longer pauses.
    pub fn pause_at(&self, now: DateTime<Utc>) -> Option<Pause> {
        if !self.enabled {
            return Some(Pause::Disabled);
        }
        self.paused_until.filter(|until| *until > now).map(|until| Pause::Until(clock::format_utc(until)))
    }
}

/// Loads the config and keeps only the tasks named by `--task` (all when none are named).
pub(crate) fn load(path: &Path, selected: &[String]) -> Result<Vec<Task>> {
    if config_file::is_absent(path) {
        let what =
            if path == Path::new(crate::cli::DEFAULT_SENTINEL_CONFIG) { "default config" } else { "config" };
        return Err(config_file::missing_default(what, path, Some("--config FILE")));
    }
    let config: SentinelConfig = config_file::load(path)?;
    select(config.into_tasks(&crate::sanitize::display_path(path))?, selected, path)
}

fn select(tasks: Vec<Task>, selected: &[String], path: &Path) -> Result<Vec<Task>> {
    if selected.is_empty() {
        return Ok(tasks);
    }
    let unknown: Vec<&str> = selected
        .iter()
        .filter(|name| !tasks.iter().any(|task| &task.name == *name))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = tasks.iter().map(|task| task.name.as_str()).collect();
        bail!(
            "unknown task {} in --task; {} defines: {}",
            unknown.iter().map(|name| format!("{name:?}")).collect::<Vec<_>>().join(", "),
            path.display(),
            known.join(", ")
        );
    }
    Ok(tasks.into_iter().filter(|task| selected.contains(&task.name)).collect())
}

/// Reads the task list and rejects what would make the report meaningless: no tasks, blank
/// names, blank artifacts (serde-saphyr puts the location on these errors). Repeated names are
/// checked by [`SentinelConfig::into_tasks`], which knows each task's own location.
fn deserialize_tasks<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<serde_saphyr::Spanned<Task>>, D::Error> {
    let tasks = Vec::<serde_saphyr::Spanned<Task>>::deserialize(deserializer)?;
    if tasks.is_empty() {
        return Err(de::Error::custom("no tasks: list at least one task under \"tasks:\""));
    }
    for (index, task) in tasks.iter().enumerate() {
        let task = &task.value;
        if task.name.trim().is_empty() {
            return Err(de::Error::custom(format!("task #{} has an empty name", index + 1)));
        }
        if task.artifact.trim().is_empty() {
            return Err(de::Error::custom(format!("task {:?} has an empty artifact path", task.name)));
        }
    }
    Ok(tasks)
}

/// A YAML/JSON boolean and nothing else: `"no"`, `"false"`, `off`, `n` are refused rather than
/// read as false (the config parser already treats unquoted `no`/`off`/`n` as text).
fn deserialize_strict_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    struct StrictBool;
    impl de::Visitor<'_> for StrictBool {
        type Value = bool;
        fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
            formatter.write_str("true or false, unquoted")
        }
        fn visit_bool<E: de::Error>(self, value: bool) -> Result<bool, E> {
            Ok(value)
        }
        fn visit_str<E: de::Error>(self, value: &str) -> Result<bool, E> {
            Err(refused(format!("the text {:?}", crate::sanitize::display_text(value, false))))
        }
        fn visit_u64<E: de::Error>(self, value: u64) -> Result<bool, E> {
            Err(refused(format!("the number {value}")))
        }
        fn visit_i64<E: de::Error>(self, value: i64) -> Result<bool, E> {
            Err(refused(format!("the number {value}")))
        }
        fn visit_f64<E: de::Error>(self, value: f64) -> Result<bool, E> {
            Err(refused(format!("the number {value}")))
        }
        fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
            Err(refused("empty".into()))
        }
    }
    fn refused<E: de::Error>(what: String) -> E {
        E::custom(format!("enabled must be true or false, unquoted, not {what}"))
    }
    deserializer.deserialize_any(StrictBool)
}

fn deserialize_schedule<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Schedule>, D::Error> {
    let text = String::deserialize(deserializer)?;
    Schedule::parse(&text).map(Some).map_err(de::Error::custom)
}

fn deserialize_zone<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Tz>, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse::<Tz>().map(Some).map_err(|_| {
        de::Error::custom(format!(
            "unknown time zone {:?} in tz; use an IANA name such as Europe/London, America/New_York or UTC",
            crate::sanitize::excerpt(&text, 64)
        ))
    })
}

fn deserialize_timestamp<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Timestamp>, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text == "mtime" {
        return Ok(Some(Timestamp::Mtime));
    }
    match text.strip_prefix("json:") {
        Some(pointer) if pointer.starts_with('/') => Ok(Some(Timestamp::Json(pointer.to_string()))),
        _ => Err(de::Error::custom(format!(
            "timestamp {:?} is neither mtime nor json:<JSON pointer> such as json:/runtime/utc",
            crate::sanitize::excerpt(&text, 64)
        ))),
    }
}

fn deserialize_instant<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    let text = String::deserialize(deserializer)?;
    clock::parse_rfc3339(&text).map(Some).map_err(|error| {
        de::Error::custom(format!(
            "paused_until {text:?} is not an RFC 3339 instant such as 2026-12-01T06:00:00Z ({error})"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Task>> {
        config_file::parse::<SentinelConfig>(text, "s.yaml")?.into_tasks("s.yaml")
    }

    #[test]
    fn full_task() {
        let tasks = parse(
            "tasks:\n  - name: a\n    artifact: x/*.json\n    max_age: 36h\n    min_size: 1K\n    enabled: false\n    paused_until: 2026-12-01T06:00:00Z\n",
        )
        .unwrap();
        let task = &tasks[0];
        assert_eq!(task.max_age, Some(Duration::from_secs(36 * 3600)));
        assert_eq!(task.min_size.as_ref().map(|size| size.bytes), Some(1024));
        assert_eq!(task.min_size.as_ref().map(units::TypedSize::describe).as_deref(), Some("1K (1 KiB)"));
        assert!(task.is_glob());
        assert_eq!(task.pause_at(Utc::now()), Some(Pause::Disabled));
    }

    #[test]
    fn bare_number_max_age_means_hours() {
        let tasks = parse("tasks:\n  - {name: a, artifact: x, max_age: 24}\n").unwrap();
        assert_eq!(tasks[0].max_age, Some(Duration::from_secs(24 * 3600)));
        assert!(tasks[0].enabled);
    }

    #[test]
    fn pause_expires() {
        let tasks =
            parse("tasks:\n  - {name: a, artifact: x, max_age: 1h, paused_until: '2025-01-01T00:00:00Z'}\n")
                .unwrap();
        let before = clock::parse_rfc3339("2024-12-31T00:00:00Z").unwrap();
        let after = clock::parse_rfc3339("2025-01-02T00:00:00Z").unwrap();
        assert_eq!(tasks[0].pause_at(before), Some(Pause::Until("2025-01-01T00:00:00Z".into())));
        assert_eq!(tasks[0].pause_at(after), None);
    }

    #[test]
    fn rejects_bad_lists() {
        let cases = [
            ("tasks: []\n", "no tasks"),
            (
                "tasks:\n  - {name: a, artifact: x, max_age: 1h}\n  - {name: a, artifact: y, max_age: 1h}\n",
                "s.yaml:3:5: duplicate task name \"a\" (task #2 repeats task #1 at line 2); names must be unique",
            ),
            ("tasks:\n  - {name: a, artifact: x, max_age: 0h}\n", "must be greater than zero"),
            ("tasks:\n  - {name: a, artifact: x, max_age: soon}\n", "invalid duration \"soon\""),
            ("tasks:\n  - {name: ' ', artifact: x, max_age: 1h}\n", "empty name"),
            ("tasks:\n  - {name: a, artifact: x, max_age: 1h, paused_until: tomorrow}\n", "not an RFC 3339"),
        ];
        for (text, needle) in cases {
            let error = parse(text).unwrap_err().to_string();
            assert!(error.starts_with("s.yaml:"), "{error}");
            assert!(error.contains(needle), "{text}: {error}");
        }
    }

    // Regression: `enabled: "no"` (and off, n, "false") silently disabled the task.
    #[test]
    fn enabled_takes_only_booleans() {
        for value in ["\"no\"", "\"false\"", "n", "off", "'true'", "yes"] {
            let text = format!("tasks:\n  - {{name: a, artifact: x, max_age: 1h, enabled: {value}}}\n");
            let error = parse(&text).unwrap_err().to_string();
            let bare = value.trim_matches(['"', '\'']);
            assert_eq!(
                error,
                format!("s.yaml:2:50: enabled must be true or false, unquoted, not the text \"{bare}\""),
                "{value}"
            );
        }
        assert_eq!(
            error_of_number(),
            "s.yaml:2:50: enabled must be true or false, unquoted, not the number 0"
        );
        for (value, expected) in [("true", true), ("false", false), ("False", false), ("TRUE", true)] {
            let text = format!("tasks:\n  - {{name: a, artifact: x, max_age: 1h, enabled: {value}}}\n");
            assert_eq!(parse(&text).unwrap()[0].enabled, expected, "{value}");
        }
        let json =
            "{\"tasks\": [{\"name\": \"a\", \"artifact\": \"x\", \"max_age\": \"1h\", \"enabled\": false}]}";
        assert!(!parse(json).unwrap()[0].enabled);
    }

    fn error_of_number() -> String {
        parse("tasks:\n  - {name: a, artifact: x, max_age: 1h, enabled: 0}\n").unwrap_err().to_string()
    }

    #[test]
    fn select_rejects_unknown_names() {
        let tasks = parse(
            "tasks:\n  - {name: a, artifact: x, max_age: 1h}\n  - {name: b, artifact: y, max_age: 1h}\n",
        )
        .unwrap();
        let chosen = select(tasks.clone(), &["b".into()], Path::new("s.yaml")).unwrap();
        assert_eq!(chosen.len(), 1);
        let error = select(tasks, &["zz".into()], Path::new("s.yaml")).unwrap_err().to_string();
        assert_eq!(error, "unknown task \"zz\" in --task; s.yaml defines: a, b");
    }
}
