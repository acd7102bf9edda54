//! "Now", in one place: the real UTC time unless `CI_FAKE_UTC` pins it for deterministic runs.

use anyhow::{Context as _, Result, bail};
use chrono::{DateTime, SecondsFormat, Utc};

/// Environment variable that replaces the wall clock everywhere.
pub const FAKE_UTC_VAR: &str = "CI_FAKE_UTC";
/// Reproducible-builds convention for timestamps stamped into artifacts.
pub const SOURCE_DATE_EPOCH_VAR: &str = "SOURCE_DATE_EPOCH";

/// A variable that is set and not empty; `CI_FAKE_UTC=` counts as unset, like `NO_COLOR=`.
fn set_var(name: &str) -> Option<std::ffi::OsString> {
    std::env::var_os(name).filter(|value| !value.is_empty())
}

/// The current instant: `CI_FAKE_UTC` when set (RFC 3339), else the system clock.
pub fn now() -> Result<DateTime<Utc>> {
    match set_var(FAKE_UTC_VAR) {
        None => Ok(Utc::now()),
        Some(raw) => {
            let text = raw.to_string_lossy();
            parse_rfc3339(&text).with_context(|| {
                format!("{FAKE_UTC_VAR}={text:?} is not an RFC 3339 instant; set it like 1970-01-01T00:00:00Z or unset it")
            })
        }
    }
}

/// The timestamp to stamp into reproducible artifacts: `CI_FAKE_UTC`, else `SOURCE_DATE_EPOCH`,
/// else `now` (already read from the clock by the caller).
pub fn build_time(now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    if set_var(FAKE_UTC_VAR).is_some() {
        return Ok(now);
    }
    let Some(raw) = set_var(SOURCE_DATE_EPOCH_VAR) else {
        return Ok(now);
    };
    let text = raw.to_string_lossy();
    let seconds: i64 = text.trim().parse().ok().filter(|s| *s >= 0).with_context(|| {
        format!(
            "{SOURCE_DATE_EPOCH_VAR}={text:?} is not a whole number of seconds since 1970; fix or unset it"
        )
    })?;
    DateTime::from_timestamp(seconds, 0)
        .with_context(|| format!("{SOURCE_DATE_EPOCH_VAR}={text:?} is out of range"))
}

/// Parses an RFC 3339 instant and converts it to UTC.
pub fn parse_rfc3339(text: &str) -> Result<DateTime<Utc>> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        bail!("empty timestamp");
    }
    Ok(DateTime::parse_from_rfc3339(trimmed)?.with_timezone(&Utc))
}

/// Formats an instant as `2025-10-11T12:00:00Z` (seconds precision, `Z` suffix).
pub fn format_utc(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_rfc3339() {
        let instant = parse_rfc3339("2025-10-11T14:30:00+02:00").unwrap();
        assert_eq!(format_utc(instant), "2025-10-11T12:30:00Z");
        assert_eq!(format_utc(parse_rfc3339("1970-01-01T00:00:00Z").unwrap()), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn rejects_non_rfc3339() {
        for bad in ["", "yesterday", "2025-10-11", "2025-10-11 12:00", "1700000000"] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
    }
}
