//! Entry points for the fuzz targets (`fuzz/`) and their regression tests: each takes arbitrary
//! bytes and must return (never panic, hang or allocate without bound), whatever the input.
//! They reach parsers that are otherwise private to their subcommand.

/// Duration and size parsing (also `--days`).
pub fn units(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = crate::units::parse_duration(&text);
    let _ = crate::units::parse_duration_allow_zero(&text);
    let _ = crate::units::parse_size(&text);
    let _ = crate::units::parse_days(&text);
}

/// The cron-sentinel task list.
pub fn cron_sentinel_config(data: &[u8]) {
    crate::cron_sentinel::fuzz_config(&String::from_utf8_lossy(data));
}
