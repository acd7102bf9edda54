//! Reading the soak reports: the last 7 `REPORT_SOAK_*.json` by name, each parsed or named as
//! unusable (the original skipped those silently).

use std::path::Path;

use anyhow::{Context as _, Result};
use chrono::{DateTime, NaiveDate, Utc};

use super::readiness::SoakDay;

/// How many reports (a week) the score looks at.
pub(crate) const WINDOW: usize = 7;

/// The reports the score was computed from.
#[derive(Debug, Default)]
pub(crate) struct Evidence {
    /// File names of the last 7 reports, in name order.
    pub considered: Vec<String>,
    pub days: Vec<SoakDay>,
    /// File name of each of `days`, in the same order.
    pub usable: Vec<String>,
    /// `name: why` for each report counted as absent.
    pub unusable: Vec<String>,
    /// The newest usable report and when it was made: its name's date (end of that UTC day),
    /// else its mtime.
    pub newest: Option<(DateTime<Utc>, String)>,
    /// `name: why` for usable reports whose time cannot count as fresh evidence (an mtime
    /// beyond what a date can hold, e.g. year 262,000 on tmpfs).
    pub undated: Vec<String>,
}

/// Lists and parses the window's reports. A folder that is not there (a dangling symlink
/// included: make-ready checks plain absence first, with the `-C` hint) is an error, never "no
/// reports"; an empty one is no reports (the caller holds).
pub(crate) fn load(dir: &Path) -> Result<Evidence> {
    let mut names = Vec::new();
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list reports folder {}", crate::sanitize::display_path(dir)))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list reports folder {}", dir.display()))?;
        if let Some(name) = entry.file_name().to_str()
            && name.starts_with("REPORT_SOAK_")
            && name.ends_with(".json")
        {
            names.push(name.to_string());
        }
    }
    names.sort();
    let considered = names.split_off(names.len().saturating_sub(WINDOW));
    let mut evidence = Evidence { considered, ..Evidence::default() };
    for name in &evidence.considered {
        let path = dir.join(name);
        let parsed = crate::limits::read_limited(&path, crate::limits::SOAK_REPORT_MAX, "soak report")
            .map_err(|error| crate::output::error_line(&error))
            .and_then(|bytes| {
                serde_json::from_slice::<serde_json::Value>(&bytes).map_err(|error| error.to_string())
            })
            .and_then(|value| SoakDay::from_json(&value).ok_or_else(|| "not a JSON object".to_string()));
        match parsed {
            Ok(day) => {
                evidence.days.push(day);
                evidence.usable.push(name.clone());
                let made = match date_from_name(name) {
                    Some(made) => Some(made),
                    None => match modified(&path) {
                        Ok(made) => Some(made),
                        Err(why) => {
                            evidence.undated.push(format!("{name}: {why}"));
                            None
                        }
                    },
                };
                if let Some(made) = made
                    && evidence.newest.as_ref().is_none_or(|(newest, _)| made >= *newest)
                {
                    evidence.newest = Some((made, name.clone()));
                }
            }
            Err(why) => evidence.unusable.push(format!("{name}: {why}")),
        }
    }
    Ok(evidence)
}

/// `REPORT_SOAK_20261127.json` → the end of 2026-11-27 UTC (a day's soak report covers that day).
pub(crate) fn date_from_name(name: &str) -> Option<DateTime<Utc>> {
    let digits = name.strip_prefix("REPORT_SOAK_")?.get(..8)?;
    let date = NaiveDate::parse_from_str(digits, "%Y%m%d").ok()?;
    Some(date.succ_opt()?.and_hms_opt(0, 0, 0)?.and_utc())
}

/// The file's mtime, fallibly: `DateTime::from(SystemTime)` panics on times chrono cannot hold.
fn modified(path: &Path) -> Result<DateTime<Utc>, String> {
    let mtime = std::fs::metadata(path)
        .and_then(|metadata| metadata.modified())
        .map_err(|error| format!("cannot read its mtime: {error}"))?;
    from_system_time(mtime)
}

/// `SystemTime` → UTC without panicking; out of range is FUTURE (or before year −262,143).
/// The fuzzed conversion in `clock.rs`; this only words its error for a soak report.
pub(crate) fn from_system_time(time: std::time::SystemTime) -> Result<DateTime<Utc>, String> {
    crate::clock::from_system_time(time).map_err(|_| {
        "mtime is out of range (FUTURE or before year -262143); set a real date with touch".to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_date_is_the_end_of_the_named_day() {
        assert_eq!(
            date_from_name("REPORT_SOAK_20261127.json").unwrap().to_rfc3339(),
            "2026-11-28T00:00:00+00:00"
        );
        assert_eq!(date_from_name("REPORT_SOAK_latest.json"), None);
        assert_eq!(date_from_name("REPORT_SOAK_20261340.json"), None);
    }

    #[test]
    fn extreme_system_times_are_errors_not_panics() {
        use std::time::{Duration, UNIX_EPOCH};
        // Year ~262,000 and beyond: chrono cannot hold it; `DateTime::from` would panic.
        for seconds in [8_210_266_876_800u64, 1 << 62, u64::MAX / 4] {
            let far = UNIX_EPOCH + Duration::from_secs(seconds);
            assert!(from_system_time(far).unwrap_err().contains("FUTURE"), "{seconds}");
        }
        let before = UNIX_EPOCH - Duration::from_millis(1500);
        assert_eq!(from_system_time(before).unwrap().timestamp_millis(), -1500);
        assert_eq!(
            from_system_time(UNIX_EPOCH + Duration::from_secs(86_400)).unwrap().to_rfc3339(),
            "1970-01-02T00:00:00+00:00"
        );
    }
}
