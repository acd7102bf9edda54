//! Entry points for the fuzz targets (`fuzz/`) and their regression tests: each takes arbitrary
//! bytes and must return (never panic, hang or allocate without bound), whatever the input.
//! They reach parsers that are otherwise private to their subcommand. Parsers that read files
//! get the bytes through a scratch file private to this process.

use std::path::PathBuf;

use crate::cli::{ColorChoice, Format};
use crate::context::Context;
use crate::output::Printer;

/// Duration and size parsing (also `--days`).
pub fn units(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = crate::units::parse_duration(&text);
    let _ = crate::units::parse_duration_allow_zero(&text);
    let _ = crate::units::parse_size(&text);
    let _ = crate::units::parse_days(&text);
}

/// Every conversion from a raw time into an instant (`crate::clock`): the first 12 bytes are
/// seconds (i64) and nanoseconds (u32), little-endian; the whole input is also tried as text.
/// A conversion may fail but must never panic, and what converts must round-trip.
pub fn time_conversions(data: &[u8]) {
    use std::time::{Duration, SystemTime};
    let mut raw = [0u8; 12];
    let len = data.len().min(12);
    raw[..len].copy_from_slice(&data[..len]);
    let seconds = i64::from_le_bytes(raw[..8].try_into().expect("8 bytes"));
    let nanos = u32::from_le_bytes(raw[8..].try_into().expect("4 bytes"));
    if let Ok(instant) = crate::clock::from_unix(seconds, nanos) {
        assert_eq!((instant.timestamp(), instant.timestamp_subsec_nanos()), (seconds, nanos));
        let text = crate::clock::format_utc(instant);
        // RFC 3339 has four-digit years only; beyond them format_utc writes ISO 8601's expanded
        // form (`+262142-…`), which is for people, not for parsing back.
        if (0..=9999).contains(&chrono::Datelike::year(&instant)) {
            let back = crate::clock::parse_rfc3339(&text).map(|back| back.timestamp()).ok();
            assert_eq!(back, Some(seconds), "{text}");
        }
    }
    let offset = Duration::new(seconds.unsigned_abs(), nanos % 1_000_000_000);
    let system_time = if seconds >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(offset)
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(offset)
    };
    if let Some(system_time) = system_time {
        match crate::clock::from_system_time(system_time) {
            Ok(instant) => assert_eq!(SystemTime::from(instant), system_time),
            Err(error) => assert!(!error.to_string().is_empty()),
        }
    }
    let text = String::from_utf8_lossy(data);
    if let Ok(instant) = crate::clock::parse_rfc3339(&text) {
        let _ = crate::clock::format_utc(instant);
    }
}

/// Cron schedules: the first line is the expression, the second a zone name, the third Unix
/// seconds; parsing and searching must not panic or spin, and every start found must lie on
/// the right side of the instant.
pub fn cron_schedule(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.lines();
    let expression = lines.next().unwrap_or("");
    let zone = lines.next().unwrap_or("UTC");
    let seconds = lines.next().and_then(|line| line.trim().parse::<i64>().ok()).unwrap_or(1_764_000_000);
    if let Ok((next, latest)) = crate::cron_sentinel::schedule_probe(expression, zone, seconds) {
        assert!(next.is_none_or(|next| next > seconds - 86_400), "next start far before the instant");
        assert!(latest.is_none_or(|latest| latest <= seconds + 86_400), "latest start far after the instant");
    }
}

/// The cron-sentinel task list.
pub fn cron_sentinel_config(data: &[u8]) {
    crate::cron_sentinel::fuzz_config(&String::from_utf8_lossy(data));
}

/// The rotation policy file.
pub fn rotation_policy(data: &[u8]) {
    crate::rotate::fuzz_policy(&scratch_file("policy.yaml", data));
}

/// The bundle file list.
pub fn bundle_config(data: &[u8]) {
    crate::bundle::fuzz_config(&scratch_file("bundle.yaml", data));
}

/// The edge-sim rules and profiles.
pub fn edge_config(data: &[u8]) {
    crate::edge_sim::fuzz_config(&scratch_file("edge.yaml", data));
}

/// The edge-sim CSV / JSON Lines reader.
pub fn edge_input(data: &[u8]) {
    crate::edge_sim::fuzz_input(data);
}

/// The make-ready config.
pub fn make_ready_config(data: &[u8]) {
    crate::make_ready::fuzz_config(&scratch_file("make_ready.yaml", data));
}

/// A soak report, read and scored as make-ready's readiness component does.
pub fn soak_report(data: &[u8]) {
    let path = scratch_file("reports/REPORT_SOAK_20251011.json", data);
    crate::make_ready::fuzz_reports(path.parent().expect("scratch file has a folder"));
}

/// `bundle verify` on arbitrary bytes as the zip.
pub fn bundle_verify(data: &[u8]) {
    let path = scratch_file("release/mm-bot-v1.0.0.zip", data);
    let context = Context {
        printer: Printer::new(Format::Text, true, ColorChoice::Never),
        now: chrono::DateTime::UNIX_EPOCH,
    };
    crate::bundle::fuzz_verify(&path, &context);
}

/// Writes `data` to `name` in a folder private to this process (reused across calls).
#[allow(
    clippy::disallowed_methods,
    reason = "a fuzz input in the harness's private scratch folder, not an output of a tool"
)]
fn scratch_file(name: &str, data: &[u8]) -> PathBuf {
    let path = std::env::temp_dir().join(format!("mmops-fuzz-{}", std::process::id())).join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create the fuzz scratch folder");
    }
    std::fs::write(&path, data).expect("write the fuzz scratch file");
    path
}
