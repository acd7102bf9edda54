//! Durations and sizes: parsing what operators type, and printing them back for humans.
//!
//! Durations follow humantime (`36h`, `7d`, `1h 30m`, `2w`); a bare number means hours because
//! that is what the old toolkit's configs used. Sizes follow coreutils: `K`/`KiB` are powers of
//! 1024, `KB` powers of 1000.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};

const DURATION_HINT: &str = "use a number with a unit such as 36h, 7d, 30m, 45s, 1h 30m or 2w \
                             (a bare number means hours)";
const SIZE_HINT: &str = "use bytes or a number with a unit such as 500M, 1.5G, 2GiB or 2GB";

/// Parses a strictly positive duration.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = parse_duration_allow_zero(text)?;
    if duration.is_zero() {
        return Err(format!("duration {text:?} must be greater than zero"));
    }
    Ok(duration)
}

/// Parses a duration that may be zero (e.g. "do not wait").
pub fn parse_duration_allow_zero(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(format!("empty duration; {DURATION_HINT}"));
    }
    if trimmed.starts_with('-') {
        return Err(format!("duration {text:?} is negative; {DURATION_HINT}"));
    }
    if let Some(hours) = parse_plain_number(trimmed) {
        return Duration::try_from_secs_f64(hours * 3600.0)
            .map_err(|_| format!("duration {text:?} is out of range"));
    }
    humantime::parse_duration(trimmed)
        .map_err(|error| format!("invalid duration {text:?} ({error}); {DURATION_HINT}"))
}

/// Parses a whole or decimal, non-negative, finite number of days.
pub fn parse_days(text: &str) -> Result<f64, String> {
    match parse_plain_number(text.trim()) {
        Some(days) if days <= 1e7 => Ok(days),
        Some(_) => Err(format!("{text:?} days is out of range")),
        None => Err(format!("invalid number of days {text:?}; use a number such as 7 or 0.5")),
    }
}

/// Parses a size in bytes: `K`, `M`, `G`, `T` and `KiB`…`TiB` are powers of 1024; `KB`…`TB` are
/// powers of 1000; case-insensitive; decimals allowed; a bare number is bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let value = parse_plain_number(number).ok_or_else(|| format!("invalid size {text:?}; {SIZE_HINT}"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return Err(format!("unknown size unit {unit:?} in {text:?}; {SIZE_HINT}")),
    };
    let bytes = (value * multiplier as f64).round();
    if bytes >= u64::MAX as f64 {
        return Err(format!("size {text:?} is too large"));
    }
    if multiplier == 1 && number.contains('.') {
        return Err(format!("size {text:?} has a fraction of a byte; {SIZE_HINT}"));
    }
    Ok(bytes as u64)
}

/// A plain decimal number: digits with at most one dot, no sign, no exponent, finite.
fn parse_plain_number(text: &str) -> Option<f64> {
    let valid = !text.is_empty()
        && text.chars().all(|c| c.is_ascii_digit() || c == '.')
        && text.chars().filter(|&c| c == '.').count() <= 1
        && text.chars().any(|c| c.is_ascii_digit());
    if !valid {
        return None;
    }
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Bytes for humans, binary units: `512 B`, `1.5 KiB`, `2.0 GiB`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A duration for humans, two largest units: `45s`, `3h 12m`, `2d 4h`, `3w 1d`.
pub fn format_duration(duration: Duration) -> String {
    let total = duration.as_secs();
    let parts = [
        (total / 604_800, "w"),
        (total % 604_800 / 86_400, "d"),
        (total % 86_400 / 3_600, "h"),
        (total % 3_600 / 60, "m"),
        (total % 60, "s"),
    ];
    let Some(first) = parts.iter().position(|(value, _)| *value > 0) else {
        return "0s".to_string();
    };
    parts[first..]
        .iter()
        .take(2)
        .filter(|(value, _)| *value > 0)
        .map(|(value, unit)| format!("{value}{unit}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Deserializes a positive duration from a config file: a string (`36h`) or a number of hours.
pub fn deserialize_duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    deserializer
        .deserialize_any(TextOrNumber { parse: parse_duration, expecting: "a duration such as 36h or 7d" })
}

/// Deserializes a size from a config file: a string (`1G`) or a number of bytes.
pub fn deserialize_size<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    deserializer.deserialize_any(TextOrNumber { parse: parse_size, expecting: "a size such as 500M or 2GB" })
}

/// Like [`deserialize_duration`], for optional fields (use with `#[serde(default)]`).
pub fn deserialize_optional_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    deserialize_duration(deserializer).map(Some)
}

/// Like [`deserialize_size`], for optional fields (use with `#[serde(default)]`).
pub fn deserialize_optional_size<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u64>, D::Error> {
    deserialize_size(deserializer).map(Some)
}

/// Accepts a scalar written either as text or as a number and runs it through one parser, so
/// `max_age: 36` and `max_age: "36h"` share one set of rules and messages.
struct TextOrNumber<T> {
    parse: fn(&str) -> Result<T, String>,
    expecting: &'static str,
}

impl<'de, T> Visitor<'de> for TextOrNumber<T> {
    type Value = T;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<T, E> {
        (self.parse)(value).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<T, E> {
        self.visit_str(&value.to_string())
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<T, E> {
        self.visit_str(&value.to_string())
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<T, E> {
        self.visit_str(&value.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_with_units() {
        assert_eq!(parse_duration("36h"), Ok(Duration::from_secs(36 * 3600)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("45s"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2w"), Ok(Duration::from_secs(14 * 86_400)));
    }

    #[test]
    fn bare_number_means_hours() {
        assert_eq!(parse_duration("36"), Ok(Duration::from_secs(36 * 3600)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_secs(5400)));
    }

    #[test]
    fn zero_negative_and_malformed_durations_name_the_text() {
        for bad in ["0", "0h", "-5h", "-1", "", "  ", "abc", "5 parsecs", "1e3", "NaN", "h"] {
            let error = parse_duration(bad).unwrap_err();
            assert!(error.contains(&format!("{bad:?}")) || bad.trim().is_empty(), "{bad}: {error}");
        }
        assert_eq!(parse_duration_allow_zero("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn sizes_binary_and_decimal() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("2gb"), Ok(2_000_000_000));
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert_eq!(parse_size("500M"), Ok(500 << 20));
        assert_eq!(parse_size("1K"), Ok(1024));
        assert_eq!(parse_size("1KB"), Ok(1000));
        assert_eq!(parse_size("3T"), Ok(3 << 40));
        assert_eq!(parse_size("1TB"), Ok(1_000_000_000_000));
        assert_eq!(parse_size("10B"), Ok(10));
    }

    #[test]
    fn malformed_sizes_are_errors() {
        for bad in ["", "G", "-1G", "1.2.3G", "2X", "2 GBs", "1e9", "1.5", "99999999999T", "NaN"] {
            assert!(parse_size(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn days_accept_decimals_and_zero() {
        assert_eq!(parse_days("0"), Ok(0.0));
        assert_eq!(parse_days("7"), Ok(7.0));
        assert_eq!(parse_days("0.5"), Ok(0.5));
        assert!(parse_days("-1").is_err());
        assert!(parse_days("seven").is_err());
        assert!(parse_days("inf").is_err());
    }

    #[test]
    fn human_formats() {
        assert_eq!(format_size(512), "512 B");
        assert_eq!(format_size(1536), "1.5 KiB");
        assert_eq!(format_size(2 << 30), "2.0 GiB");
        assert_eq!(format_duration(Duration::from_secs(0)), "0s");
        assert_eq!(format_duration(Duration::from_secs(45)), "45s");
        assert_eq!(format_duration(Duration::from_secs(3 * 3600 + 12 * 60 + 5)), "3h 12m");
        assert_eq!(format_duration(Duration::from_secs(2 * 86_400 + 3600)), "2d 1h");
        assert_eq!(format_duration(Duration::from_secs(86_400 + 30)), "1d");
    }
}
