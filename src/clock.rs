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

// edge-sim's instants: microseconds since 1970, parsed from RFC 3339 or Unix seconds.

/// An instant as `2025-10-11T14:30:00Z` (with fractional seconds when it has them).
pub fn format_micros(ts: i64) -> String {
    match chrono::DateTime::from_timestamp_micros(ts) {
        Some(instant) if ts % 1_000_000 == 0 => instant.to_rfc3339_opts(SecondsFormat::Secs, true),
        Some(instant) => instant.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        None => format!("{ts}us"),
    }
}

/// RFC 3339 or Unix seconds (integer or decimal, up to microseconds; finer digits are dropped)
/// to microseconds since 1970.
pub fn parse_timestamp(text: &[u8]) -> Option<i64> {
    if let Some(micros) = parse_unix_seconds(text) {
        return Some(micros);
    }
    if text.len() >= 10 && text[4] == b'-' {
        let text = std::str::from_utf8(text).ok()?;
        return chrono::DateTime::parse_from_rfc3339(text).ok().map(|instant| instant.timestamp_micros());
    }
    None
}

fn parse_unix_seconds(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, text),
    };
    let (whole, fraction) = match memchr::memchr(b'.', digits) {
        Some(dot) => (&digits[..dot], &digits[dot + 1..]),
        None => (digits, &[][..]),
    };
    if whole.is_empty() || whole.len() > 12 || !whole.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if !fraction.iter().all(u8::is_ascii_digit) || (fraction.is_empty() && digits.len() != whole.len()) {
        return None;
    }
    let seconds = whole.iter().fold(0i64, |acc, digit| acc * 10 + i64::from(digit - b'0'));
    let mut micros = 0i64;
    for position in 0..6 {
        micros = micros * 10 + fraction.get(position).map_or(0, |digit| i64::from(digit - b'0'));
    }
    let value = seconds * 1_000_000 + micros;
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod micros_tests {
    use super::*;

    const T0: i64 = 1_760_191_200_000_000; // 2025-10-11T14:00:00Z

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp(b"1760191200"), Some(T0));
        assert_eq!(parse_timestamp(b"1760191200.0000019"), Some(T0 + 1));
        assert_eq!(parse_timestamp(b"2025-10-11T16:00:00+02:00"), Some(T0));
        assert_eq!(parse_timestamp(b"1760191200."), None);
        assert_eq!(parse_timestamp(b"1.7e9"), None);
        assert_eq!(format_micros(T0), "2025-10-11T14:00:00Z");
    }
}
