//! `--pins FILE`: operator pins replayed with the series, so the simulator shows what a pin
//! would have held (or did hold) before anyone types `--pin` on the live state.
//!
//! ```yaml
//! pins:
//!   - {profile: Conservative, from: 2025-10-11T00:00:00Z, until: 2025-10-11T06:00:00Z, reason: incident 42}
//! ```
//! A pin takes effect at the first window closing at or after `from`, exactly as `--pin` does
//! on the live state (the profile is set, the change counted with rule `pin`), and expires at the
//! first window closing after `until`.

use std::path::Path;

use anyhow::{Result, bail};
use serde::{Deserialize, Deserializer};

use super::rules::Rules;
use crate::clock::{format_micros, parse_timestamp};
use crate::sanitize::display_path;

/// More pins than this in one file is not an operator's history.
const MAX_PINS: usize = 10_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PinsFile {
    pins: Vec<PinEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PinEntry {
    profile: String,
    #[serde(deserialize_with = "timestamp")]
    from: i64,
    #[serde(deserialize_with = "timestamp")]
    until: i64,
    /// Free text for the reader of the file; not used by the replay.
    #[serde(default)]
    #[allow(dead_code, reason = "documentation inside the pins file")]
    reason: Option<String>,
}

/// An RFC 3339 time or Unix seconds, as `--until` takes them.
fn timestamp<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(i64),
        Text(String),
    }
    let micros = match Raw::deserialize(deserializer)? {
        Raw::Seconds(seconds) => seconds.checked_mul(1_000_000),
        Raw::Text(text) => parse_timestamp(text.trim().as_bytes()),
    };
    micros.ok_or_else(|| {
        serde::de::Error::custom(
            "not a timestamp; use RFC 3339 (2025-10-11T14:30:00Z) or Unix seconds".to_string(),
        )
    })
}

/// One checked pin: `profile` held from the window closing at or after `from` until `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pin {
    pub profile: usize,
    pub from: i64,
    pub until: i64,
}

/// Reads and checks a pins file: known profiles, `from` before `until`, at most `max_pin` long,
/// in time order without overlaps.
pub(crate) fn load(path: &Path, rules: &Rules) -> Result<Vec<Pin>> {
    let file: PinsFile = crate::config_file::load(path)?;
    check(file, rules, &display_path(path))
}

fn check(file: PinsFile, rules: &Rules, origin: &str) -> Result<Vec<Pin>> {
    if file.pins.len() > MAX_PINS {
        bail!("{origin}: {} pins; at most {MAX_PINS} fit in one file", file.pins.len());
    }
    let mut pins: Vec<Pin> = Vec::with_capacity(file.pins.len());
    for (index, entry) in file.pins.iter().enumerate() {
        let at = format!("{origin}: pins[{index}]");
        let Some(profile) = rules.profile_index(&entry.profile) else {
            let known: Vec<&str> = rules.profiles.iter().map(|profile| profile.name.as_str()).collect();
            bail!(
                "{at}: profile {:?} is not a profile of the rules in use ({})",
                crate::sanitize::excerpt(&entry.profile, 64),
                known.join(", ")
            );
        };
        if entry.until <= entry.from {
            bail!(
                "{at}: until {} is not after from {}",
                format_micros(entry.until),
                format_micros(entry.from)
            );
        }
        if entry.until - entry.from > rules.max_pin_micros {
            bail!(
                "{at}: pinned for longer than max_pin {} (from {} until {}); --pin would refuse it",
                crate::units::format_duration(std::time::Duration::from_micros(rules.max_pin_micros as u64)),
                format_micros(entry.from),
                format_micros(entry.until)
            );
        }
        if let Some(previous) = pins.last()
            && entry.from <= previous.until
        {
            bail!(
                "{at}: starts at {}, before pins[{}] ends at {}; list pins in time order without overlaps",
                format_micros(entry.from),
                index - 1,
                format_micros(previous.until)
            );
        }
        pins.push(Pin { profile, from: entry.from, until: entry.until });
    }
    Ok(pins)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge_sim::rules::tests::default_rules;

    fn parse(text: &str) -> Result<Vec<Pin>> {
        let file: PinsFile = crate::config_file::parse(text, "pins.yaml")?;
        check(file, &default_rules(), "pins.yaml")
    }

    #[test]
    fn pins_are_checked_against_the_rules_and_each_other() {
        let ok = parse("pins:\n  - {profile: Conservative, from: 2025-10-11T00:00:00Z, until: 1760148000}\n")
            .unwrap();
        assert_eq!(ok, [Pin { profile: 1, from: 1_760_140_800_000_000, until: 1_760_148_000_000_000 }]);
        let error = |text: &str| parse(text).unwrap_err().to_string();
        assert!(
            error("pins:\n  - {profile: Wild, from: 0, until: 60}\n")
                .starts_with("pins.yaml: pins[0]: profile \"Wild\" is not a profile of the rules in use (Moderate, Conservative)")
        );
        assert!(error("pins:\n  - {profile: Moderate, from: 60, until: 60}\n").contains("is not after from"));
        assert!(
            error("pins:\n  - {profile: Moderate, from: 0, until: 90000}\n")
                .contains("longer than max_pin 1d")
        );
        assert!(
            error("pins:\n  - {profile: Moderate, from: 0, until: 600}\n  - {profile: Conservative, from: 300, until: 900}\n")
                .contains("pins[1]: starts at 1970-01-01T00:05:00Z, before pins[0] ends")
        );
        assert!(
            error("pins:\n  - {profile: Moderate, from: yesterday, until: 600}\n")
                .starts_with("pins.yaml:2:")
        );
        assert!(
            error("pins:\n  - {profile: Moderate, from: 0, until: 600, colour: red}\n").contains("colour")
        );
    }
}
