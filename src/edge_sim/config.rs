//! The `--config` file (YAML or JSON) and `--sweep` overrides, turned into checked [`Rules`].
//!
//! Every field is optional and defaults to the built-in rules, which `deploy/edge/sentinel.yaml`
//! spells out. The top-level thresholds apply to every step of the ladder; a profile may override
//! them for leaving that profile. Semantic errors name the file (or `--sweep`) and the field.

use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};
use serde::Deserialize;

use super::rules::{Backoff, GapPolicy, Profile, Rules, StepRules};
use crate::config_file;

/// The config file as written, before defaults and checks.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfigFile {
    #[serde(default, deserialize_with = "crate::units::deserialize_optional_duration")]
    window: Option<Duration>,
    ema1h_threshold: Option<f64>,
    consecutive_windows: Option<i64>,
    ema24h_recovery_threshold: Option<f64>,
    recovery_windows: Option<i64>,
    start_profile: Option<String>,
    profiles: Option<Vec<ProfileEntry>>,
    /// No change out of a profile until it has been in force this long (default: none).
    #[serde(default, deserialize_with = "crate::units::deserialize_optional_duration")]
    min_dwell: Option<Duration>,
    cooldown_backoff: Option<BackoffEntry>,
    gap_policy: Option<GapPolicyName>,
    /// With `gap_policy: degrade`, gaps longer than this count as a negative window.
    #[serde(default, deserialize_with = "crate::units::deserialize_optional_duration")]
    max_gap: Option<Duration>,
    /// The longest `--pin` accepted.
    #[serde(default, deserialize_with = "crate::units::deserialize_optional_duration")]
    max_pin: Option<Duration>,
}

/// `cooldown_backoff: {factor: 2, max_windows: 48, reset_after: 24h}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct BackoffEntry {
    factor: f64,
    max_windows: i64,
    #[serde(deserialize_with = "crate::units::deserialize_duration")]
    reset_after: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum GapPolicyName {
    Reset,
    Hold,
    Degrade,
}

/// One rung of the ladder, with optional thresholds for leaving it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileEntry {
    name: String,
    spread_multiplier: f64,
    max_inflight: u64,
    backoff_ms: u64,
    ema1h_threshold: Option<f64>,
    consecutive_windows: Option<i64>,
    ema24h_recovery_threshold: Option<f64>,
    recovery_windows: Option<i64>,
    #[serde(default, deserialize_with = "crate::units::deserialize_optional_duration")]
    min_dwell: Option<Duration>,
}

const DEFAULT_MAX_PIN: Duration = Duration::from_secs(24 * 3600);

const DEFAULT_WINDOW: Duration = Duration::from_secs(30 * 60);
const DEFAULT_EMA1H_THRESHOLD: f64 = 0.0;
const DEFAULT_CONSECUTIVE_WINDOWS: i64 = 3;
const DEFAULT_EMA24H_RECOVERY_THRESHOLD: f64 = 1.5;
const DEFAULT_RECOVERY_WINDOWS: i64 = 1;

/// The keys `--sweep` accepts (also as `PROFILE.key` for one profile's override).
pub(crate) const SWEEP_KEYS: &[&str] = &[
    "ema1h_threshold",
    "consecutive_windows",
    "ema24h_recovery_threshold",
    "recovery_windows",
    "window",
    "min_dwell",
    "gap_policy",
    "max_gap",
    "cooldown_backoff.factor",
    "cooldown_backoff.max_windows",
    "cooldown_backoff.reset_after",
];

fn default_profiles() -> Vec<ProfileEntry> {
    let entry = |name: &str, spread_multiplier, max_inflight, backoff_ms| ProfileEntry {
        name: name.into(),
        spread_multiplier,
        max_inflight,
        backoff_ms,
        ema1h_threshold: None,
        consecutive_windows: None,
        ema24h_recovery_threshold: None,
        recovery_windows: None,
        min_dwell: None,
    };
    vec![entry("Moderate", 1.0, 10, 100), entry("Conservative", 1.5, 5, 200)]
}

impl ConfigFile {
    /// Reads `--config FILE`, or the built-in rules when no file is given.
    pub(crate) fn load(path: Option<&Path>) -> Result<(ConfigFile, String)> {
        match path {
            None => Ok((ConfigFile::default(), "the built-in rules".to_string())),
            Some(path) => {
                let origin = crate::sanitize::display_path(path);
                Ok((config_file::load(path)?, origin))
            }
        }
    }

    /// Applies one `--sweep` setting. A top-level key replaces the value for every profile
    /// (per-profile overrides included), so the swept value is the one that is used.
    /// In a sweep over `gap_policy`, `max_gap` belongs to the `degrade` combinations only: it is
    /// dropped from the others (returns whether it was).
    pub(crate) fn drop_max_gap_unless_degrade(&mut self) -> bool {
        let dropped = self.max_gap.is_some() && self.gap_policy != Some(GapPolicyName::Degrade);
        if dropped {
            self.max_gap = None;
        }
        dropped
    }

    pub(crate) fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let duration = |allow_zero: bool| -> Result<Duration> {
            let parsed = if allow_zero {
                crate::units::parse_flag_duration_allow_zero(value)
            } else {
                crate::units::parse_flag_duration(value)
            };
            parsed.map_err(|error| anyhow::anyhow!("{key}={value}: {error}"))
        };
        if let Some(field) = key.strip_prefix("cooldown_backoff.") {
            let backoff = self.cooldown_backoff.get_or_insert(BackoffEntry {
                factor: 2.0,
                max_windows: 48,
                reset_after: Duration::from_secs(24 * 3600),
            });
            match field {
                "factor" => {
                    backoff.factor = value
                        .trim()
                        .parse::<f64>()
                        .map_err(|_| anyhow::anyhow!("{key}={value}: {value:?} is not a number"))?
                }
                "max_windows" => {
                    backoff.max_windows = value
                        .trim()
                        .parse::<i64>()
                        .map_err(|_| anyhow::anyhow!("{key}={value}: {value:?} is not a whole number"))?
                }
                "reset_after" => backoff.reset_after = duration(false)?,
                _ => bail!(
                    "unknown sweep key {key:?}; cooldown_backoff's keys are factor, max_windows, reset_after"
                ),
            }
            return Ok(());
        }
        let (profile, field) = match key.split_once('.') {
            Some((profile, field)) => (Some(profile), field),
            None => (None, key),
        };
        let number = || -> Result<f64> {
            match value.trim().parse::<f64>() {
                Ok(number) if number.is_finite() => Ok(number),
                _ => bail!("{key}={value}: {value:?} is not a finite number"),
            }
        };
        let count = || -> Result<i64> {
            value
                .trim()
                .parse::<i64>()
                .map_err(|_| anyhow::anyhow!("{key}={value}: {value:?} is not a whole number"))
        };
        if let Some(name) = profile {
            let profiles = self.profiles.get_or_insert_with(default_profiles);
            let known: Vec<&str> = profiles.iter().map(|entry| entry.name.as_str()).collect();
            let known = known.join(", ");
            let Some(entry) = profiles.iter_mut().find(|entry| entry.name == name) else {
                bail!("{key}={value}: there is no profile {name:?} (profiles: {known})");
            };
            match field {
                "ema1h_threshold" => entry.ema1h_threshold = Some(number()?),
                "consecutive_windows" => entry.consecutive_windows = Some(count()?),
                "ema24h_recovery_threshold" => entry.ema24h_recovery_threshold = Some(number()?),
                "recovery_windows" => entry.recovery_windows = Some(count()?),
                "min_dwell" => entry.min_dwell = Some(duration(true)?),
                _ => bail!(
                    "unknown sweep key {key:?}; a profile's keys are ema1h_threshold, consecutive_windows, \
                     ema24h_recovery_threshold, recovery_windows, min_dwell"
                ),
            }
            return Ok(());
        }
        let clear = |config: &mut ConfigFile, clear_entry: fn(&mut ProfileEntry)| {
            if let Some(profiles) = config.profiles.as_mut() {
                profiles.iter_mut().for_each(clear_entry);
            }
        };
        match field {
            "ema1h_threshold" => {
                self.ema1h_threshold = Some(number()?);
                clear(self, |entry| entry.ema1h_threshold = None);
            }
            "consecutive_windows" => {
                self.consecutive_windows = Some(count()?);
                clear(self, |entry| entry.consecutive_windows = None);
            }
            "ema24h_recovery_threshold" => {
                self.ema24h_recovery_threshold = Some(number()?);
                clear(self, |entry| entry.ema24h_recovery_threshold = None);
            }
            "recovery_windows" => {
                self.recovery_windows = Some(count()?);
                clear(self, |entry| entry.recovery_windows = None);
            }
            "window" => {
                self.window = Some(duration(false)?);
            }
            "min_dwell" => {
                self.min_dwell = Some(duration(true)?);
                clear(self, |entry| entry.min_dwell = None);
            }
            "max_gap" => self.max_gap = Some(duration(true)?),
            "gap_policy" => {
                self.gap_policy = Some(match value.trim() {
                    "reset" => GapPolicyName::Reset,
                    "hold" => GapPolicyName::Hold,
                    "degrade" => GapPolicyName::Degrade,
                    _ => bail!("{key}={value}: gap_policy is reset, hold or degrade"),
                })
            }
            _ => bail!("unknown sweep key {key:?}; use one of {} (or PROFILE.key)", SWEEP_KEYS.join(", ")),
        }
        Ok(())
    }

    /// Fills defaults and checks meaning; `origin` names the file (or the sweep) in errors.
    pub(crate) fn rules(&self, origin: &str) -> Result<Rules> {
        let window = self.window.unwrap_or(DEFAULT_WINDOW);
        if window < Duration::from_secs(1) {
            bail!("{origin}: window must be at least 1s (got {window:?})");
        }
        if window.subsec_nanos() != 0 {
            bail!("{origin}: window must be a whole number of seconds (got {window:?})");
        }
        let window_micros = i64::try_from(window.as_micros())
            .ok()
            .filter(|micros| *micros <= 366 * 86_400 * 1_000_000)
            .ok_or_else(|| anyhow::anyhow!("{origin}: window must be at most a year"))?;

        let default_step = StepRules {
            ema1h_threshold: finite(
                origin,
                "ema1h_threshold",
                self.ema1h_threshold,
                DEFAULT_EMA1H_THRESHOLD,
            )?,
            consecutive_windows: positive(
                origin,
                "consecutive_windows",
                self.consecutive_windows,
                DEFAULT_CONSECUTIVE_WINDOWS,
            )?,
            ema24h_recovery_threshold: finite(
                origin,
                "ema24h_recovery_threshold",
                self.ema24h_recovery_threshold,
                DEFAULT_EMA24H_RECOVERY_THRESHOLD,
            )?,
            recovery_windows: positive(
                origin,
                "recovery_windows",
                self.recovery_windows,
                DEFAULT_RECOVERY_WINDOWS,
            )?,
            min_dwell_micros: 0,
        };

        let entries = self.profiles.clone().unwrap_or_else(default_profiles);
        if entries.len() < 2 {
            bail!(
                "{origin}: profiles must list at least two profiles (a ladder from least to most \
                 conservative); found {}",
                entries.len()
            );
        }
        let mut profiles = Vec::with_capacity(entries.len());
        let mut steps = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let field = |name: &str| format!("profiles[{index}].{name}");
            let valid_name = !entry.name.is_empty()
                && entry.name.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"-_".contains(&byte));
            if !valid_name {
                bail!(
                    "{origin}: {} {:?} must be letters, digits, '-' or '_' (it is printed in log lines and markers)",
                    field("name"),
                    entry.name
                );
            }
            if entries[..index].iter().any(|earlier| earlier.name == entry.name) {
                bail!(
                    "{origin}: {} {:?} appears twice; profile names must be unique",
                    field("name"),
                    entry.name
                );
            }
            if !(entry.spread_multiplier.is_finite() && entry.spread_multiplier > 0.0) {
                bail!(
                    "{origin}: {} must be a positive number (got {})",
                    field("spread_multiplier"),
                    entry.spread_multiplier
                );
            }
            profiles.push(Profile {
                name: entry.name.clone(),
                spread_multiplier: entry.spread_multiplier,
                max_inflight: entry.max_inflight,
                backoff_ms: entry.backoff_ms,
            });
            steps.push(StepRules {
                ema1h_threshold: finite(
                    origin,
                    &field("ema1h_threshold"),
                    entry.ema1h_threshold,
                    default_step.ema1h_threshold,
                )?,
                consecutive_windows: positive(
                    origin,
                    &field("consecutive_windows"),
                    entry.consecutive_windows,
                    i64::from(default_step.consecutive_windows),
                )?,
                ema24h_recovery_threshold: finite(
                    origin,
                    &field("ema24h_recovery_threshold"),
                    entry.ema24h_recovery_threshold,
                    default_step.ema24h_recovery_threshold,
                )?,
                recovery_windows: positive(
                    origin,
                    &field("recovery_windows"),
                    entry.recovery_windows,
                    i64::from(default_step.recovery_windows),
                )?,
                min_dwell_micros: micros(origin, &field("min_dwell"), entry.min_dwell.or(self.min_dwell))?,
            });
        }
        let start = match &self.start_profile {
            None => 0,
            Some(name) => profiles.iter().position(|profile| &profile.name == name).ok_or_else(|| {
                let known: Vec<&str> = profiles.iter().map(|profile| profile.name.as_str()).collect();
                anyhow::anyhow!(
                    "{origin}: start_profile {name:?} is not one of the profiles ({})",
                    known.join(", ")
                )
            })?,
        };
        let backoff = match &self.cooldown_backoff {
            None => None,
            Some(entry) => {
                if !(entry.factor.is_finite() && entry.factor >= 1.0) {
                    bail!(
                        "{origin}: cooldown_backoff.factor must be a number of at least 1 (got {})",
                        entry.factor
                    );
                }
                let max_windows =
                    positive(origin, "cooldown_backoff.max_windows", Some(entry.max_windows), 1)?;
                let reset_after = micros(origin, "cooldown_backoff.reset_after", Some(entry.reset_after))?;
                if reset_after < window_micros {
                    bail!(
                        "{origin}: cooldown_backoff.reset_after must be at least one window ({})",
                        self.window_label(window)
                    );
                }
                Some(Backoff {
                    factor: entry.factor,
                    max_windows,
                    reset_after_windows: reset_after / window_micros,
                })
            }
        };
        if self.max_gap.is_some() && self.gap_policy != Some(GapPolicyName::Degrade) {
            bail!("{origin}: max_gap only applies with gap_policy: degrade; remove it or set gap_policy");
        }
        let gap_policy = match self.gap_policy.unwrap_or(GapPolicyName::Reset) {
            GapPolicyName::Reset => GapPolicy::Reset,
            GapPolicyName::Hold => GapPolicy::Hold,
            GapPolicyName::Degrade => GapPolicy::Degrade {
                max_gap_micros: micros(origin, "max_gap", Some(self.max_gap.unwrap_or(window)))?,
            },
        };
        let max_pin_micros = micros(origin, "max_pin", Some(self.max_pin.unwrap_or(DEFAULT_MAX_PIN)))?;
        Ok(Rules { window_micros, profiles, steps, start, backoff, gap_policy, max_pin_micros })
    }

    fn window_label(&self, window: Duration) -> String {
        crate::units::format_duration(window)
    }
}

/// A duration in microseconds, at most ten years (longer is a typo).
fn micros(origin: &str, field: &str, value: Option<Duration>) -> Result<i64> {
    let Some(value) = value else { return Ok(0) };
    match i64::try_from(value.as_micros()) {
        Ok(micros) if micros <= 3653 * 86_400 * 1_000_000 => Ok(micros),
        _ => {
            bail!("{origin}: {field} must be at most 10 years (got {})", crate::units::format_duration(value))
        }
    }
}

fn finite(origin: &str, field: &str, value: Option<f64>, default: f64) -> Result<f64> {
    match value {
        None => Ok(default),
        Some(number) if number.is_finite() => Ok(number),
        Some(number) => bail!("{origin}: {field} must be a finite number (got {number})"),
    }
}

fn positive(origin: &str, field: &str, value: Option<i64>, default: i64) -> Result<u32> {
    let number = value.unwrap_or(default);
    match u32::try_from(number) {
        Ok(count) if count >= 1 => Ok(count),
        _ => bail!("{origin}: {field} must be a whole number of windows, at least 1 (got {number})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge_sim::rules::tests::default_rules;

    fn rules_of(text: &str) -> Result<Rules> {
        config_file::parse::<ConfigFile>(text, "s.yaml")?.rules("s.yaml")
    }

    fn error_of(text: &str) -> String {
        crate::output::error_line(&rules_of(text).unwrap_err())
    }

    #[test]
    fn built_in_rules_are_the_documented_defaults() {
        assert_eq!(ConfigFile::default().rules("x").unwrap(), default_rules());
    }

    #[test]
    fn shipped_sentinel_yaml_equals_the_built_in_rules() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/edge/sentinel.yaml");
        let (config, origin) = ConfigFile::load(Some(&path)).unwrap();
        assert_eq!(config.rules(&origin).unwrap(), default_rules());
    }

    #[test]
    fn bad_fields_are_named() {
        assert!(
            error_of("windw: 30m\n").starts_with("s.yaml:1:1: unknown field \"windw\""),
            "{}",
            error_of("windw: 30m\n")
        );
        assert_eq!(
            error_of("consecutive_windows: 0\n"),
            "s.yaml: consecutive_windows must be a whole number of windows, at least 1 (got 0)"
        );
        assert_eq!(
            error_of("consecutive_windows: -2\n"),
            "s.yaml: consecutive_windows must be a whole number of windows, at least 1 (got -2)"
        );
        assert!(
            error_of("window: 0s\n").contains("must be greater than zero"),
            "{}",
            error_of("window: 0s\n")
        );
        assert!(error_of("window: -30m\n").contains("negative"), "{}", error_of("window: -30m\n"));
        assert_eq!(
            error_of("profiles:\n  - {name: Solo, spread_multiplier: 1, max_inflight: 1, backoff_ms: 1}\n"),
            "s.yaml: profiles must list at least two profiles (a ladder from least to most conservative); found 1"
        );
        assert_eq!(
            error_of("ema1h_threshold: .nan\n"),
            "s.yaml: ema1h_threshold must be a finite number (got NaN)"
        );
        assert_eq!(
            error_of("start_profile: Calm\n"),
            "s.yaml: start_profile \"Calm\" is not one of the profiles (Moderate, Conservative)"
        );
    }

    #[test]
    fn anti_flap_options_are_read_and_checked() {
        let rules = rules_of(
            "min_dwell: 2h\ngap_policy: degrade\nmax_gap: 1h\nmax_pin: 4h\n\
             cooldown_backoff: {factor: 2, max_windows: 12, reset_after: 24h}\nprofiles:\n\
             - {name: A, spread_multiplier: 1, max_inflight: 1, backoff_ms: 1, min_dwell: 30m}\n\
             - {name: B, spread_multiplier: 2, max_inflight: 1, backoff_ms: 1}\n",
        )
        .unwrap();
        let hour = 3_600_000_000;
        let dwell: Vec<i64> = rules.steps.iter().map(|step| step.min_dwell_micros).collect();
        assert_eq!(dwell, [hour / 2, 2 * hour]);
        assert_eq!(rules.gap_policy, GapPolicy::Degrade { max_gap_micros: hour });
        assert_eq!(rules.backoff, Some(Backoff { factor: 2.0, max_windows: 12, reset_after_windows: 48 }));
        assert_eq!(rules.max_pin_micros, 4 * hour);
        assert!(rules.extended());
        assert_eq!(error_of("gap_policy: sometimes\n").split(": ").next(), Some("s.yaml:1:13"));
        assert_eq!(
            error_of("max_gap: 1h\n"),
            "s.yaml: max_gap only applies with gap_policy: degrade; remove it or set gap_policy"
        );
        assert_eq!(
            error_of("cooldown_backoff: {factor: 0.5, max_windows: 4, reset_after: 1h}\n"),
            "s.yaml: cooldown_backoff.factor must be a number of at least 1 (got 0.5)"
        );
        let mut config = ConfigFile::default();
        config.set("min_dwell", "0").unwrap();
        assert!(!config.rules("s").unwrap().extended());
        config.set("cooldown_backoff.factor", "3").unwrap();
        config.set("gap_policy", "hold").unwrap();
        let rules = config.rules("s").unwrap();
        assert_eq!((rules.backoff.unwrap().factor, rules.gap_policy), (3.0, GapPolicy::Hold));
        assert_eq!(
            config.set("gap_policy", "maybe").unwrap_err().to_string(),
            "gap_policy=maybe: gap_policy is reset, hold or degrade"
        );
    }

    #[test]
    fn profile_overrides_and_sweep_settings() {
        let text = "consecutive_windows: 4\nprofiles:\n\
            - {name: A, spread_multiplier: 1, max_inflight: 10, backoff_ms: 100}\n\
            - {name: B, spread_multiplier: 2, max_inflight: 5, backoff_ms: 200, consecutive_windows: 2}\n\
            - {name: C, spread_multiplier: 3, max_inflight: 0, backoff_ms: 900}\n";
        let mut config = config_file::parse::<ConfigFile>(text, "s.yaml").unwrap();
        let rules = config.rules("s.yaml").unwrap();
        let counts: Vec<u32> = rules.steps.iter().map(|step| step.consecutive_windows).collect();
        assert_eq!(counts, [4, 2, 4]);

        config.set("C.consecutive_windows", "7").unwrap();
        let counts: Vec<u32> =
            config.rules("s").unwrap().steps.iter().map(|s| s.consecutive_windows).collect();
        assert_eq!(counts, [4, 2, 7]);
        // A top-level sweep value wins over every per-profile override.
        config.set("consecutive_windows", "5").unwrap();
        let counts: Vec<u32> =
            config.rules("s").unwrap().steps.iter().map(|s| s.consecutive_windows).collect();
        assert_eq!(counts, [5, 5, 5]);
        config.set("window", "1h").unwrap();
        assert_eq!(config.rules("s").unwrap().window_micros, 3_600_000_000);

        assert_eq!(
            config.set("Z.ema1h_threshold", "1").unwrap_err().to_string(),
            "Z.ema1h_threshold=1: there is no profile \"Z\" (profiles: A, B, C)"
        );
        assert!(config.set("ema1h", "1").unwrap_err().to_string().starts_with("unknown sweep key \"ema1h\""));
        assert_eq!(
            config.set("ema1h_threshold", "nan").unwrap_err().to_string(),
            "ema1h_threshold=nan: \"nan\" is not a finite number"
        );
    }
}
