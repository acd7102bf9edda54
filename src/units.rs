//! Durations and sizes: parsing what operators type, and printing them back for humans.
//!
//! One grammar for every duration and size, in flags and configs alike (the table is in
//! README.md, "Units"):
//! - Durations follow humantime (`36h`, `7d`, `1h 30m`, `2w`). In config files a bare number
//!   means hours, because that is what the old toolkit's configs used; on the command line a bare
//!   number is refused (`--wait-lock 2` would be two hours to some and two seconds to others),
//!   except for `--days`, whose bare number is days.
//! - Day counts (`--days`, policy `days`) take a bare number of days or any duration (`7d`, `36h`).
//! - Sizes follow coreutils: `K`/`KiB` are powers of 1024, `KB` powers of 1000.
//! - Counts (`--keep`, policy `keep`) are whole numbers, never negative.
//! - Reports echo a size as typed next to its binary value: `max size 2GB (1.86 GiB)`.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};

/// The hint for a duration in a config file, where a bare number is hours.
const DURATION_HINT: &str = "use a number with a unit such as 36h, 7d, 30m, 45s, 1h 30m or 2w \
                             (a bare number means hours)";
/// The hint for a duration on the command line, where a bare number is refused.
const FLAG_DURATION_HINT: &str = "use a number with a unit such as 30s, 10m, 36h, 7d, 1h 30m or 2w";
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
    parse_any_duration(text, DURATION_HINT)
}

/// The config-file grammar (a bare number is hours), with `hint` in its messages.
fn parse_any_duration(text: &str, hint: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(format!("empty duration; {hint}"));
    }
    if trimmed.starts_with('-') {
        return Err(format!("duration {text:?} is negative; a duration must not be negative"));
    }
    if let Some(hours) = parse_plain_number(trimmed) {
        return Duration::try_from_secs_f64(hours * 3600.0)
            .map_err(|_| format!("duration {text:?} is out of range"));
    }
    humantime::parse_duration(trimmed).map_err(|error| format!("invalid duration {text:?} ({error}); {hint}"))
}

/// Parses a duration flag (or a `--sweep` value): like [`parse_duration`], but a bare number is
/// refused, since on the command line nobody agrees what unit it would be.
pub fn parse_flag_duration(text: &str) -> Result<Duration, String> {
    let duration = parse_flag_duration_allow_zero(text)?;
    if duration.is_zero() {
        return Err(format!("duration {text:?} must be greater than zero"));
    }
    Ok(duration)
}

/// [`parse_flag_duration`] for flags where zero is meaningful ("do not wait").
pub fn parse_flag_duration_allow_zero(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    // A bare 0 is zero in every unit (`min_dwell=0,2h`); any other bare number is ambiguous.
    if !trimmed.starts_with('-') && parse_plain_number(trimmed).is_some_and(|number| number != 0.0) {
        return Err(format!("{text:?} has no unit; write it with one, such as {trimmed}s or {trimmed}m"));
    }
    parse_any_duration(text, FLAG_DURATION_HINT)
}

/// The largest day count accepted: past this, "days" is a typo, not a retention period.
const MAX_DAYS: f64 = 1e7;

/// Parses a non-negative number of days: a bare number of days (`7`, `0.5`) or any duration
/// (`7d`, `36h`, `1w`).
pub fn parse_days(text: &str) -> Result<f64, String> {
    let trimmed = text.trim();
    if trimmed.starts_with('-') {
        return Err(format!("{text:?} days is negative; the number of days must not be negative"));
    }
    let days = match parse_plain_number(trimmed) {
        Some(days) => days,
        None => match humantime::parse_duration(trimmed) {
            Ok(duration) => duration.as_secs_f64() / 86_400.0,
            Err(_) => {
                return Err(format!(
                    "invalid number of days {text:?}; use a number of days such as 7 or 0.5, or a duration such as 7d or 36h"
                ));
            }
        },
    };
    if days > MAX_DAYS {
        return Err(format!("{text:?} days is out of range (at most {MAX_DAYS} days)"));
    }
    Ok(days)
}

/// A size as the operator typed it, with its value: reports echo `2GB (1.86 GiB)`, so a
/// decimal/binary unit mix-up shows at a glance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedSize {
    pub bytes: u64,
    pub typed: String,
}

impl TypedSize {
    /// `2GB (1.86 GiB)`, `500M (500 MiB)`, `100 B`.
    pub fn describe(&self) -> String {
        let binary = format_size_exact(self.bytes);
        if self.typed == binary || self.typed == self.bytes.to_string() && self.bytes < 1024 {
            binary
        } else {
            format!("{} ({binary})", self.typed)
        }
    }
}

/// [`parse_size`], keeping the text (trimmed) for [`TypedSize::describe`].
pub fn parse_typed_size(text: &str) -> Result<TypedSize, String> {
    Ok(TypedSize { bytes: parse_size(text)?, typed: text.trim().to_string() })
}

/// Bytes in binary units with up to two decimals, whole numbers without: `2 GiB`, `1.86 GiB`.
pub fn format_size_exact(bytes: u64) -> String {
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
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} {}", UNITS[unit])
}

/// Parses a count of files: a whole, non-negative number.
pub fn parse_count(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    if trimmed.starts_with('-') {
        return Err(format!("{text:?} is negative; the number of files must not be negative"));
    }
    trimmed.parse::<u64>().map_err(|_| match parse_plain_number(trimmed) {
        Some(_) => format!("{text:?} is not a whole number; use a whole number of files, such as 10"),
        None => format!("invalid count {text:?}; use a whole number of files, such as 10"),
    })
}

/// Parses a size in bytes: `K`, `M`, `G`, `T` and `KiB`…`TiB` are powers of 1024; `KB`…`TB` are
/// powers of 1000; case-insensitive; decimals allowed; a bare number is bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    if trimmed.starts_with('-') {
        return Err(format!("size {text:?} is negative; a size must not be negative"));
    }
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
    let mut out = String::with_capacity(12);
    push_size(&mut out, bytes);
    out
}

/// [`format_size`] appended to `out`, for report rows that reuse one buffer.
pub fn push_size(out: &mut String, bytes: u64) {
    use std::fmt::Write as _;
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        let _ = write!(out, "{bytes} B");
        return;
    }
    let mut unit = 0;
    let mut divisor: u64 = 1024;
    while bytes / divisor >= 1024 && unit + 1 < UNITS.len() {
        divisor *= 1024;
        unit += 1;
    }
    if bytes < 1 << 53 {
        // bytes / 1024^k is exact in f64 here, so rounding the tenths half to even in integers
        // prints exactly what `{:.1}` of the float would (31.25 -> 31.2), without float formatting.
        let scaled = u128::from(bytes) * 10;
        let (divisor_wide, mut tenths) = (u128::from(divisor), scaled / u128::from(divisor));
        let twice_rest = 2 * (scaled % divisor_wide);
        if twice_rest > divisor_wide || (twice_rest == divisor_wide && tenths % 2 == 1) {
            tenths += 1;
        }
        let _ = write!(out, "{}.{} {}", tenths / 10, tenths % 10, UNITS[unit]);
    } else {
        let value = bytes as f64 / divisor as f64;
        let _ = write!(out, "{value:.1} {}", UNITS[unit]);
    }
}

/// `format_size(bytes).len()` without formatting: report rows size their columns in a first pass
/// over 100,000s of files, where formatting every size twice showed in the rotate benchmark.
pub fn format_size_width(bytes: u64) -> usize {
    fn digits(mut number: u64) -> usize {
        let mut count = 1;
        while number >= 10 {
            number /= 10;
            count += 1;
        }
        count
    }
    if bytes < 1024 {
        return digits(bytes) + 2;
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < 5 {
        value /= 1024.0;
        unit += 1;
    }
    // `{:.1}`: the whole part after rounding to tenths (a tie is x.x5, never x.95, so it never
    // changes the whole part's digits), the point and one decimal, a space and a three-letter unit.
    let tenths = (value * 10.0).round() as u64;
    digits(tenths / 10) + 2 + 4
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

/// Like [`deserialize_size`], keeping the text as written (a number stays a number of bytes).
pub fn deserialize_optional_typed_size<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<TypedSize>, D::Error> {
    deserializer
        .deserialize_any(TextOrNumber { parse: parse_typed_size, expecting: "a size such as 500M or 2GB" })
        .map(Some)
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

/// `1 file`, `2 files`: a count and its noun, the plural made by adding `s`.
pub fn count_noun(number: u64, noun: &str) -> String {
    format!("{number} {noun}{}", plural_s(number))
}

/// `""` for one, `"s"` otherwise: for sentences that put the count and the noun apart.
pub fn plural_s(count: impl TryInto<u64>) -> &'static str {
    if count.try_into().is_ok_and(|count| count == 1) { "" } else { "s" }
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
    fn size_widths_match_the_formatted_sizes() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut sizes: Vec<u64> =
            vec![0, 9, 10, 1023, 1024, 10_188, 10_189, 102_348, 1_048_524, 1_048_575, 1_048_576, u64::MAX];
        for exponent in 0..64 {
            let power = 1u64 << exponent;
            sizes.extend([power.saturating_sub(1), power, power.saturating_add(1)]);
        }
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            sizes.push(state >> (state % 60));
        }
        for size in sizes {
            let text = format_size(size);
            assert_eq!(format_size_width(size), text.len(), "{size}");
            // The float rendering the integer path replaced, for every size above 1 KiB.
            if size >= 1024 {
                let (mut value, mut unit) = (size as f64 / 1024.0, 0);
                while value >= 1024.0 && unit < 4 {
                    value /= 1024.0;
                    unit += 1;
                }
                let reference = format!("{value:.1} {}", ["KiB", "MiB", "GiB", "TiB", "PiB"][unit]);
                assert_eq!(text, reference, "{size}");
            }
        }
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
    fn days_accept_decimals_zero_and_durations() {
        assert_eq!(parse_days("0"), Ok(0.0));
        assert_eq!(parse_days("7"), Ok(7.0));
        assert_eq!(parse_days("0.5"), Ok(0.5));
        assert_eq!(parse_days("7d"), Ok(7.0));
        assert_eq!(parse_days("36h"), Ok(1.5));
        assert_eq!(parse_days("1w"), Ok(7.0));
        assert_eq!(
            parse_days("-1").unwrap_err(),
            "\"-1\" days is negative; the number of days must not be negative"
        );
        assert!(parse_days("seven").is_err());
        assert!(parse_days("inf").is_err());
        assert!(parse_days("99999999").is_err());
    }

    #[test]
    fn flag_durations_need_a_unit() {
        assert_eq!(parse_flag_duration_allow_zero("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_flag_duration_allow_zero("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_flag_duration_allow_zero("0"), Ok(Duration::ZERO));
        assert_eq!(
            parse_flag_duration_allow_zero("2").unwrap_err(),
            "\"2\" has no unit; write it with one, such as 2s or 2m"
        );
        assert!(parse_flag_duration("1.5").is_err());
        // The flag hint does not mention the config-file reading of a bare number.
        let error = parse_flag_duration_allow_zero("abc").unwrap_err();
        assert!(
            error.ends_with("use a number with a unit such as 30s, 10m, 36h, 7d, 1h 30m or 2w"),
            "{error}"
        );
        assert_eq!(
            parse_flag_duration_allow_zero("-1").unwrap_err(),
            "duration \"-1\" is negative; a duration must not be negative"
        );
        assert_eq!(parse_flag_duration("0s").unwrap_err(), "duration \"0s\" must be greater than zero");
        assert_eq!(parse_flag_duration("3d"), Ok(Duration::from_secs(3 * 86_400)));
    }

    #[test]
    fn counts_are_whole_numbers() {
        assert_eq!(parse_count("0"), Ok(0));
        assert_eq!(parse_count("10"), Ok(10));
        assert_eq!(
            parse_count("10.5").unwrap_err(),
            "\"10.5\" is not a whole number; use a whole number of files, such as 10"
        );
        assert_eq!(
            parse_count("-1").unwrap_err(),
            "\"-1\" is negative; the number of files must not be negative"
        );
        assert!(parse_count("ten").is_err());
    }

    #[test]
    fn human_formats() {
        assert_eq!(format_size(512), "512 B");
        assert_eq!(format_size(1536), "1.5 KiB");
        assert_eq!(format_size(2 << 30), "2.0 GiB");
        assert_eq!(format_size_exact(2_000_000_000), "1.86 GiB");
        assert_eq!(format_size_exact(2 << 30), "2 GiB");
        assert_eq!(parse_typed_size(" 2GB ").unwrap().describe(), "2GB (1.86 GiB)");
        assert_eq!(parse_typed_size("500M").unwrap().describe(), "500M (500 MiB)");
        assert_eq!(parse_typed_size("100").unwrap().describe(), "100 B");
        assert_eq!(parse_typed_size("2048").unwrap().describe(), "2048 (2 KiB)");
        assert_eq!(parse_size("-1G").unwrap_err(), "size \"-1G\" is negative; a size must not be negative");
        assert_eq!(format_duration(Duration::from_secs(0)), "0s");
        assert_eq!(format_duration(Duration::from_secs(45)), "45s");
        assert_eq!(format_duration(Duration::from_secs(3 * 3600 + 12 * 60 + 5)), "3h 12m");
        assert_eq!(format_duration(Duration::from_secs(2 * 86_400 + 3600)), "2d 1h");
        assert_eq!(format_duration(Duration::from_secs(86_400 + 30)), "1d");
    }
}
