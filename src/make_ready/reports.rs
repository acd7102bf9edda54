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
    /// `name: why` for each report counted as absent.
    pub unusable: Vec<String>,
    /// The newest usable report and when it was made: its name's date (end of that UTC day),
    /// else its mtime.
    pub newest: Option<(DateTime<Utc>, String)>,
}

/// Lists and parses the window's reports. A missing folder means no reports (score 60, HOLD).
pub(crate) fn load(dir: &Path) -> Result<Evidence> {
    let mut names = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Evidence::default()),
        Err(error) => {
            return Err(error).with_context(|| format!("cannot list reports folder {}", dir.display()));
        }
    };
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
        let parsed = std::fs::read(&path)
            .map_err(|error| error.to_string())
            .and_then(|bytes| {
                serde_json::from_slice::<serde_json::Value>(&bytes).map_err(|error| error.to_string())
            })
            .and_then(|value| SoakDay::from_json(&value).ok_or_else(|| "not a JSON object".to_string()));
        match parsed {
            Ok(day) => {
                evidence.days.push(day);
                if let Some(made) = date_from_name(name).or_else(|| modified(&path))
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

fn modified(path: &Path) -> Option<DateTime<Utc>> {
    std::fs::metadata(path).and_then(|metadata| metadata.modified()).ok().map(DateTime::<Utc>::from)
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
}
