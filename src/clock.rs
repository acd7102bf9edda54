//! "Now", in one place: the real UTC time unless `CI_FAKE_UTC` pins it for deterministic runs;
//! and every conversion from a raw time (file mtimes, epoch seconds) into an instant, fallible,
//! because a file can be dated far outside what chrono represents (tmpfs takes year 262,000).

use std::fmt;
use std::time::{Duration, SystemTime};

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
        None => Ok(system_now()),
        Some(raw) => {
            let text = raw.to_string_lossy();
            parse_rfc3339(&text).with_context(|| {
                format!("{FAKE_UTC_VAR}={text:?} is not an RFC 3339 instant; set it like 1970-01-01T00:00:00Z or unset it")
            })
        }
    }
}

/// The one read of the wall clock behind [`now`].
#[allow(clippy::disallowed_methods, reason = "clock.rs owns \"now\"; everything else reads Context::now")]
fn system_now() -> DateTime<Utc> {
    Utc::now()
}

/// The real system time, never `CI_FAKE_UTC`: only to judge file times, which are real (a file
/// changed "just now" while a bundle reads it). Stamping outputs uses [`now`].
#[allow(
    clippy::disallowed_methods,
    reason = "clock.rs owns the clock; file times are compared with the real one"
)]
pub fn real_system_time() -> SystemTime {
    SystemTime::now()
}

/// Monotonic time, for durations, timeouts and lock waits only. It is not "now" (it cannot be
/// printed or stored, and `CI_FAKE_UTC` does not apply): clippy.toml forbids `Instant::now`
/// elsewhere so every clock read is in this file.
#[allow(clippy::disallowed_methods, reason = "clock.rs owns the clock, monotonic time included")]
pub fn monotonic() -> std::time::Instant {
    std::time::Instant::now()
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

/// A raw time that names no instant mmops can represent (chrono's range is about ±262,143
/// years). Carries the raw value so a message can name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutOfRange {
    /// Seconds since 1970 (negative before), as given.
    pub seconds: i128,
    /// The nanoseconds part as given (may itself be the invalid part).
    pub nanos: u32,
}

impl OutOfRange {
    /// Whether the raw time lies after the latest representable instant (rather than before
    /// the earliest, or with an invalid nanosecond part).
    pub fn is_future(&self) -> bool {
        self.seconds > 0 && self.nanos < 1_000_000_000
    }
}

impl fmt::Display for OutOfRange {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos >= 1_000_000_000 {
            return write!(formatter, "{} nanoseconds is not a valid fraction of a second", self.nanos);
        }
        let side = if self.seconds > 0 {
            format!("after {}", format_utc(DateTime::<Utc>::MAX_UTC))
        } else {
            format!("before {}", format_utc(DateTime::<Utc>::MIN_UTC))
        };
        write!(
            formatter,
            "{} seconds since 1970 is {side}, outside the range of dates mmops handles",
            self.seconds
        )
    }
}

impl std::error::Error for OutOfRange {}

/// The instant `seconds` (+ `nanos`) after 1970-01-01T00:00:00Z, if chrono can represent it.
pub fn from_unix(seconds: i64, nanos: u32) -> Result<DateTime<Utc>, OutOfRange> {
    DateTime::from_timestamp(seconds, nanos).ok_or(OutOfRange { seconds: i128::from(seconds), nanos })
}

/// A `SystemTime` (a file's mtime) as an instant; never panics, unlike chrono's `From`.
pub fn from_system_time(time: SystemTime) -> Result<DateTime<Utc>, OutOfRange> {
    let (seconds, nanos) = match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => (i128::from(after.as_secs()), after.subsec_nanos()),
        Err(before) => negative_parts(before.duration()),
    };
    let out_of_range = OutOfRange { seconds, nanos };
    let whole = i64::try_from(seconds).map_err(|_| out_of_range.clone())?;
    from_unix(whole, nanos).map_err(|_| out_of_range)
}

/// `-duration` as whole seconds (floor) plus a non-negative nanosecond part.
fn negative_parts(duration: Duration) -> (i128, u32) {
    let seconds = -i128::from(duration.as_secs());
    match duration.subsec_nanos() {
        0 => (seconds, 0),
        nanos => (seconds - 1, 1_000_000_000 - nanos),
    }
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
    fn unix_conversions_are_fallible_at_the_edges() {
        assert_eq!(format_utc(from_unix(0, 0).unwrap()), "1970-01-01T00:00:00Z");
        let max = DateTime::<Utc>::MAX_UTC;
        assert_eq!(from_unix(max.timestamp(), 0).unwrap().timestamp(), max.timestamp());
        let beyond = from_unix(max.timestamp() + 1, 0).unwrap_err();
        assert!(beyond.is_future());
        assert_eq!(
            beyond.to_string(),
            format!(
                "{} seconds since 1970 is after +262142-12-31T23:59:59Z, outside the range of dates mmops handles",
                max.timestamp() + 1
            )
        );
        assert!(!from_unix(i64::MIN, 0).unwrap_err().is_future());
        let bad_nanos = from_unix(0, 2_000_000_000).unwrap_err();
        assert!(!bad_nanos.is_future());
        assert_eq!(bad_nanos.to_string(), "2000000000 nanoseconds is not a valid fraction of a second");
    }

    // Regression: chrono's `From<SystemTime>` panicked ("No such local time") on an mtime in
    // year 262,000, which tmpfs stores.
    #[test]
    fn system_time_far_ahead_or_behind_is_an_error_not_a_panic() {
        let year_262000 = SystemTime::UNIX_EPOCH + Duration::from_secs(9_000_000_000_000);
        let error = from_system_time(year_262000).unwrap_err();
        assert_eq!((error.seconds, error.is_future()), (9_000_000_000_000, true));
        let far_past = SystemTime::UNIX_EPOCH - Duration::from_secs(9_000_000_000_000);
        assert!(!from_system_time(far_past).unwrap_err().is_future());
        let just_before = SystemTime::UNIX_EPOCH - Duration::from_millis(1500);
        assert_eq!(from_system_time(just_before).unwrap(), from_unix(-2, 500_000_000).unwrap());
        if let Some(huge) = SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(u64::MAX / 2)) {
            assert_eq!(from_system_time(huge).unwrap_err().seconds, i128::from(u64::MAX / 2));
        }
    }

    proptest::proptest! {
        // The fuzz target's checks (no panic, round trips) over random seconds and nanoseconds,
        // so `cargo test` exercises them without cargo-fuzz.
        #[test]
        fn any_raw_time_converts_or_fails_cleanly(seconds: i64, nanos: u32, near in -9_000_000_000_000_i64..9_000_000_000_000) {
            for seconds in [seconds, near] {
                let mut raw = seconds.to_le_bytes().to_vec();
                raw.extend_from_slice(&nanos.to_le_bytes());
                crate::fuzzing::time_conversions(&raw);
                raw[8..].copy_from_slice(&(nanos % 1_000_000_000).to_le_bytes());
                crate::fuzzing::time_conversions(&raw);
            }
        }
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
