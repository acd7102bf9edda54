//! The pre-live config: its file format and the checked plan built from it before anything runs.
//!
//! ```yaml
//! steps:
//!   - name: bundle_dry
//!     run: [mmops, bundle, --dry-run]
//!     timeout: 120s
//!   - name: secrets
//!     check: secret-scan
//!     waive: {until: 2026-12-31, reason: "…"}
//! waiver_horizon: 90d   # optional: how far ahead a waiver may reach
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, bail};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::units;

/// Default timeout of an external step.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// Default of `waiver_horizon`: a waiver is a short-term exception, renewed as it runs out.
pub(crate) const DEFAULT_WAIVER_HORIZON: Duration = Duration::from_secs(90 * 86_400);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    steps: Vec<StepFile>,
    #[serde(default, deserialize_with = "units::deserialize_optional_duration")]
    waiver_horizon: Option<Duration>,
    #[serde(default)]
    scoring: Option<Spanned<ScoringFile>>,
    #[serde(default)]
    canary: Option<CanaryFile>,
}

/// `canary:`: the rollout plan `--tag-rc` writes into CANARY_CHECKLIST.md.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CanaryFile {
    stages: Spanned<Vec<Spanned<StageFile>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StageFile {
    traffic: u32,
    #[serde(deserialize_with = "units::deserialize_duration")]
    hold: Duration,
}

/// One canary stage: the share of traffic on the candidate, and how long it must hold there
/// with no rollback trigger firing before the next stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stage {
    /// Percent of traffic, 1..=100.
    pub traffic: u32,
    pub hold: Duration,
}

/// The default rollout: 5 % → 25 % → 50 % → 100 %, each held long enough for the soak alerts'
/// `for:` windows (up to 30m) to fire twice, the last a day of full traffic.
pub(crate) const DEFAULT_STAGES: [Stage; 4] = [
    Stage { traffic: 5, hold: Duration::from_secs(3600) },
    Stage { traffic: 25, hold: Duration::from_secs(2 * 3600) },
    Stage { traffic: 50, hold: Duration::from_secs(4 * 3600) },
    Stage { traffic: 100, hold: Duration::from_secs(24 * 3600) },
];

/// Most canary stages, and the longest hold of one.
const MAX_STAGES: usize = 10;
const MAX_HOLD: Duration = Duration::from_secs(14 * 86_400);

fn check_canary(canary: CanaryFile, origin: &str) -> Result<Vec<Stage>> {
    let at =
        |location: &serde_saphyr::Location| format!("{origin}:{}:{}", location.line(), location.column());
    let list = canary.stages;
    if list.value.is_empty() || list.value.len() > MAX_STAGES {
        bail!(
            "{}: canary.stages: give 1 to {MAX_STAGES} stages, the last at traffic 100",
            at(&list.referenced)
        );
    }
    let mut stages: Vec<Stage> = Vec::new();
    for (index, stage) in list.value.iter().enumerate() {
        let here = format!("{}: canary.stages[{index}]", at(&stage.referenced));
        let (traffic, hold) = (stage.value.traffic, stage.value.hold);
        if !(1..=100).contains(&traffic) {
            bail!("{here}: traffic {traffic} is outside 1..100 (percent of traffic on the candidate)");
        }
        if let Some(previous) = stages.last()
            && traffic <= previous.traffic
        {
            bail!(
                "{here}: traffic {traffic} is not above the previous stage's {}; stages only widen",
                previous.traffic
            );
        }
        if hold.is_zero() || hold > MAX_HOLD {
            bail!(
                "{here}: hold {} must be more than 0 and at most {}",
                units::format_duration(hold),
                units::format_duration(MAX_HOLD)
            );
        }
        stages.push(Stage { traffic, hold });
    }
    if stages.last().is_some_and(|stage| stage.traffic != 100) {
        bail!(
            "{}: canary.stages: the last stage must be traffic 100 (the full rollout)",
            at(&list.referenced)
        );
    }
    Ok(stages)
}

/// `scoring:`: opt-in rules over the same six sections. Absent = the reference formula.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScoringFile {
    #[serde(default)]
    go_at: Option<Spanned<f64>>,
    #[serde(default)]
    marginal_at: Option<Spanned<f64>>,
    #[serde(default)]
    min_reports: Option<Spanned<u32>>,
    /// Largest fall of the score since the baseline (`--baseline`, `--baseline-tag`).
    #[serde(default)]
    max_drop: Option<Spanned<f64>>,
    #[serde(default)]
    sections: Option<SectionsFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SectionsFile {
    #[serde(default)]
    chaos: Option<SectionFile>,
    #[serde(default)]
    edge: Option<SectionFile>,
    #[serde(default)]
    guards: Option<SectionFile>,
    #[serde(default)]
    latency: Option<SectionFile>,
    #[serde(default)]
    taker: Option<SectionFile>,
    #[serde(default)]
    tests: Option<SectionFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SectionFile {
    #[serde(default)]
    weight: Option<Spanned<f64>>,
    #[serde(default)]
    critical: Option<Spanned<StrictBool>>,
    /// Largest fall of this section since the baseline.
    #[serde(default)]
    max_drop: Option<Spanned<f64>>,
}

/// The checked `scoring:` section.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scoring {
    /// Raw weights in section key order (default: the section's maximum, i.e. today's shares).
    pub weights: [f64; 6],
    /// Section names (key order) whose shortfall forces BLOCKED.
    pub critical: Vec<&'static str>,
    /// `None`: `--min-score` decides.
    pub go_at: Option<f64>,
    /// `None`: equal to go_at (no MARGINAL band).
    pub marginal_at: Option<f64>,
    pub min_reports: u32,
    /// Largest fall of the score since the baseline; `None`: any.
    pub max_drop: Option<f64>,
    /// Largest fall of each section (key order) since the baseline; `None`: any.
    pub section_max_drop: [Option<f64>; 6],
}

/// Everything the config file holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Config {
    pub steps: Vec<Step>,
    pub scoring: Option<Scoring>,
    /// The canary stages (`canary:`, else [`DEFAULT_STAGES`]).
    pub stages: Vec<Stage>,
}

fn check_scoring(scoring: Spanned<ScoringFile>, origin: &str) -> Result<Scoring> {
    let at =
        |location: &serde_saphyr::Location| format!("{origin}:{}:{}", location.line(), location.column());
    let file = scoring.value;
    let threshold = |value: &Option<Spanned<f64>>, key: &str| -> Result<Option<f64>> {
        match value {
            Some(spanned) if !(spanned.value.is_finite() && (0.0..=100.0).contains(&spanned.value)) => bail!(
                "{}: scoring.{key} {} is outside 0..100; the score is out of 100",
                at(&spanned.referenced),
                spanned.value
            ),
            Some(spanned) => Ok(Some(spanned.value)),
            None => Ok(None),
        }
    };
    let go_at = threshold(&file.go_at, "go_at")?;
    let marginal_at = threshold(&file.marginal_at, "marginal_at")?;
    if let Some(marginal) = &file.marginal_at {
        match go_at {
            None => bail!(
                "{}: scoring.marginal_at needs go_at: the MARGINAL band lies between the two",
                at(&marginal.referenced)
            ),
            Some(go_at) if marginal.value > go_at => bail!(
                "{}: scoring.marginal_at {} is above go_at {go_at}; MARGINAL is the band below go_at",
                at(&marginal.referenced),
                marginal.value
            ),
            Some(_) => {}
        }
    }
    let min_reports = match &file.min_reports {
        Some(count) if count.value as usize > super::reports::WINDOW => bail!(
            "{}: scoring.min_reports {} is more than the {} reports scored",
            at(&count.referenced),
            count.value,
            super::reports::WINDOW
        ),
        Some(count) => count.value,
        None => 0,
    };
    let max_drop = match &file.max_drop {
        Some(drop) if !(drop.value.is_finite() && (0.0..=100.0).contains(&drop.value)) => bail!(
            "{}: scoring.max_drop {} is outside 0..100; the score is out of 100",
            at(&drop.referenced),
            drop.value
        ),
        Some(drop) => Some(drop.value),
        None => None,
    };
    let sections = file.sections.unwrap_or_default();
    let listed = [
        ("chaos", sections.chaos),
        ("edge", sections.edge),
        ("guards", sections.guards),
        ("latency", sections.latency),
        ("taker", sections.taker),
        ("tests", sections.tests),
    ];
    let mut weights = [0.0; 6];
    let mut section_max_drop = [None; 6];
    let mut critical = Vec::new();
    for ((((name, section), slot), drop_slot), (_, maximum)) in listed
        .into_iter()
        .zip(weights.iter_mut())
        .zip(section_max_drop.iter_mut())
        .zip(crate::readiness_doc::SECTION_MAXIMA)
    {
        *slot = maximum;
        let Some(section) = section else { continue };
        if let Some(drop) = &section.max_drop {
            if !(drop.value.is_finite() && (0.0..=maximum).contains(&drop.value)) {
                bail!(
                    "{}: scoring.sections.{name}.max_drop {} is outside 0..{maximum} (the section's maximum)",
                    at(&drop.referenced),
                    drop.value
                );
            }
            *drop_slot = Some(drop.value);
        }
        if let Some(weight) = &section.weight {
            if !(weight.value.is_finite() && (0.0..=1000.0).contains(&weight.value)) {
                bail!(
                    "{}: scoring.sections.{name}.weight {} must be a number in 0..1000 (weights are normalised)",
                    at(&weight.referenced),
                    weight.value
                );
            }
            *slot = weight.value;
        }
        if section.critical.as_ref().is_some_and(|flag| flag.value.0) {
            critical.push(name);
        }
    }
    if weights.iter().sum::<f64>() <= 0.0 {
        bail!(
            "{}: scoring.sections: every weight is 0; give at least one section a weight",
            at(&scoring.referenced)
        );
    }
    Ok(Scoring { weights, critical, go_at, marginal_at, min_reports, max_drop, section_max_drop })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFile {
    /// Spanned, so a bad or repeated name is reported at its own line and column.
    name: Spanned<String>,
    #[serde(default)]
    run: Option<Vec<String>>,
    #[serde(default)]
    check: Option<BuiltinCheck>,
    #[serde(default, deserialize_with = "units::deserialize_optional_duration")]
    timeout: Option<Duration>,
    #[serde(default)]
    dir: Option<PathBuf>,
    #[serde(default)]
    alerts: Option<PathBuf>,
    #[serde(default)]
    policy: Option<PathBuf>,
    #[serde(default)]
    files: Option<Vec<PathBuf>>,
    #[serde(default)]
    waive: Option<WaiverFile>,
    #[serde(default)]
    retries: Option<Spanned<u32>>,
    #[serde(default)]
    retry_delay: Option<Spanned<ConfigDuration>>,
    #[serde(default)]
    report_only: Option<Spanned<StrictBool>>,
}

/// A duration as config files write it (`10ms`, `5s`), in a form `Spanned` can wrap so a bad
/// value's message carries its line and column.
#[derive(Debug, Clone, Copy)]
struct ConfigDuration(Duration);

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<ConfigDuration, D::Error> {
        units::deserialize_duration(deserializer).map(ConfigDuration)
    }
}

/// `true` or `false` only: serde-saphyr would read `"yes"`, `"no"` or `off` as booleans.
#[derive(Debug, Clone, Copy)]
struct StrictBool(bool);

impl<'de> Deserialize<'de> for StrictBool {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<StrictBool, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = StrictBool;
            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("true or false")
            }
            fn visit_bool<E>(self, value: bool) -> Result<StrictBool, E> {
                Ok(StrictBool(value))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WaiverFile {
    until: Spanned<String>,
    reason: String,
}

/// The dry checks built into mmops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum BuiltinCheck {
    RollbackVsAlerts,
    SecretScan,
}

/// A waiver: until this time a failing step does not block.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Waiver {
    /// The first instant the waiver no longer holds: the end of a `YYYY-MM-DD` day (inclusive,
    /// UTC), or an RFC 3339 instant itself.
    pub ends: DateTime<Utc>,
    /// `until` as written, for messages.
    pub until: String,
    pub reason: String,
}

/// `until`: a plain `YYYY-MM-DD` (four-digit year; chrono alone would accept `+99999-12-31`) or
/// an RFC 3339 instant. Returns when the waiver stops holding.
fn parse_until(text: &str) -> Option<DateTime<Utc>> {
    let bytes = text.as_bytes();
    let plain_date = bytes.len() == 10
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            4 | 7 => *byte == b'-',
            _ => byte.is_ascii_digit(),
        });
    if plain_date {
        let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
        return Some(day.succ_opt()?.and_hms_opt(0, 0, 0)?.and_utc());
    }
    DateTime::parse_from_rfc3339(text).ok().map(|instant| instant.with_timezone(&Utc))
}

fn check_waiver(
    waiver: WaiverFile,
    now: DateTime<Utc>,
    horizon: Duration,
    origin: &str,
    label: &str,
) -> Result<Waiver> {
    let at = label;
    let location = &waiver.until.referenced;
    let here = format!("{origin}:{}:{}", location.line(), location.column());
    let text = waiver.until.value.trim().to_string();
    let shown = crate::sanitize::display_text(&text.chars().take(40).collect::<String>(), false);
    let Some(ends) = parse_until(&text) else {
        bail!(
            "{here}: {at}: waive.until {shown:?} is not a date: write YYYY-MM-DD (e.g. 2026-12-31) or an RFC 3339 time (e.g. 2026-12-31T18:00:00Z)"
        );
    };
    // A day waiver ends at the end of its day; measure the horizon to that day's start.
    let limit = chrono::TimeDelta::from_std(horizon).ok().and_then(|horizon| now.checked_add_signed(horizon));
    let measured = if text.len() == 10 { ends - chrono::TimeDelta::days(1) } else { ends };
    if limit.is_none_or(|limit| measured > limit) {
        bail!(
            "{here}: {at}: waive.until {shown} is more than {} ahead (waiver_horizon); waive for a shorter time and renew it, or raise waiver_horizon",
            match horizon.as_secs() {
                seconds if seconds % 86_400 == 0 => format!("{} days", seconds / 86_400),
                _ => units::format_duration(horizon),
            }
        );
    }
    if waiver.reason.trim().is_empty() {
        bail!("{origin}: {label}: waive.reason is empty; say why the failure is acceptable");
    }
    Ok(Waiver { ends, until: text, reason: waiver.reason })
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    /// argv (no shell); `mmops` as program means this binary.
    Command {
        argv: Vec<String>,
        dir: Option<PathBuf>,
        timeout: Duration,
    },
    RollbackVsAlerts {
        alerts: PathBuf,
        policy: PathBuf,
    },
    /// `files: None` = the files `mmops bundle` would pack (asked of `mmops bundle --dry-run`).
    SecretScan {
        files: Option<Vec<PathBuf>>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Step {
    pub name: String,
    pub action: Action,
    pub waiver: Option<Waiver>,
    /// Extra attempts after a failure (0 = run once); each attempt is shown.
    pub retries: u32,
    /// Pause between attempts.
    pub retry_delay: Duration,
    /// Run and shown, never blocks: a check under evaluation.
    pub report_only: bool,
}

/// Most extra attempts a step may have: a check that needs more is broken, not flaky.
pub(crate) const MAX_RETRIES: u32 = 10;
/// Pause between attempts when `retry_delay` is not given.
pub(crate) const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(1);
/// Longest `retry_delay`: the pack must not sit idle for long.
pub(crate) const MAX_RETRY_DELAY: Duration = Duration::from_secs(300);

pub(crate) const DEFAULT_ALERTS: &str = "deploy/prometheus/alerts_soak.yml";
pub(crate) const DEFAULT_POLICY: &str = "deploy/policies/rollback.yaml";

/// Loads and checks the config; every error names the file and the step. `now` bounds waivers.
pub(crate) fn load(path: &Path, now: DateTime<Utc>) -> Result<Config> {
    let file: ConfigFile = crate::config_file::load(path)?;
    plan_config(file, &path.display().to_string(), now)
}

/// Parses config text (for tests and `load`).
#[cfg(test)]
fn parse_config(text: &str, now: DateTime<Utc>) -> Result<Config> {
    plan_config(crate::config_file::parse(text, "make_ready.yaml")?, "make_ready.yaml", now)
}

#[cfg(test)]
fn parse(text: &str, now: DateTime<Utc>) -> Result<Vec<Step>> {
    parse_config(text, now).map(|config| config.steps)
}

fn plan_config(mut file: ConfigFile, origin: &str, now: DateTime<Utc>) -> Result<Config> {
    let scoring = match file.scoring.take() {
        Some(scoring) => Some(check_scoring(scoring, origin)?),
        None => None,
    };
    let stages = match file.canary.take() {
        Some(canary) => check_canary(canary, origin)?,
        None => DEFAULT_STAGES.to_vec(),
    };
    Ok(Config { steps: plan(file, origin, now)?, scoring, stages })
}

fn plan(file: ConfigFile, origin: &str, now: DateTime<Utc>) -> Result<Vec<Step>> {
    let horizon = file.waiver_horizon.unwrap_or(DEFAULT_WAIVER_HORIZON);
    if file.steps.is_empty() {
        bail!("{origin}: steps: the list is empty; add at least one step");
    }
    let mut steps: Vec<Step> = Vec::new();
    for (index, step) in file.steps.into_iter().enumerate() {
        let label = format!("steps[{index}] ({})", step.name.value);
        let at = format!("{origin}: {label}");
        let name_at =
            format!("{origin}:{}:{}: {label}", step.name.referenced.line(), step.name.referenced.column());
        let valid_name = !step.name.value.is_empty()
            && step.name.value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
        if !valid_name {
            bail!("{name_at}: name must be non-empty letters, digits, '_', '-' or '.'");
        }
        if matches!(step.name.value.as_str(), "pre_live_pack" | "readiness" | "make_ready") {
            bail!(
                "{name_at}: name {:?} is reserved for make-ready's own rows; choose another",
                step.name.value
            );
        }
        if let Some(first) = steps.iter().position(|seen| seen.name == step.name.value) {
            bail!("{name_at}: name is used twice (first by steps[{first}]); step names must be unique");
        }
        let waiver = match step.waive {
            Some(waiver) => Some(check_waiver(waiver, now, horizon, origin, &label)?),
            None => None,
        };
        let located = |location: &serde_saphyr::Location| {
            format!("{origin}:{}:{}: {label}", location.line(), location.column())
        };
        let retries = match &step.retries {
            Some(retries) if retries.value > MAX_RETRIES => bail!(
                "{}: retries {} is more than {MAX_RETRIES}; a check that fails that often is broken, not flaky",
                located(&retries.referenced),
                retries.value
            ),
            Some(retries) => retries.value,
            None => 0,
        };
        let retry_delay = match &step.retry_delay {
            Some(delay) if retries == 0 => {
                bail!("{}: retry_delay needs retries: N (N ≥ 1)", located(&delay.referenced))
            }
            Some(delay) if delay.value.0 > MAX_RETRY_DELAY => bail!(
                "{}: retry_delay {} is longer than {}",
                located(&delay.referenced),
                units::format_duration(delay.value.0),
                units::format_duration(MAX_RETRY_DELAY)
            ),
            Some(delay) => delay.value.0,
            None => DEFAULT_RETRY_DELAY,
        };
        let report_only = step.report_only.as_ref().is_some_and(|flag| flag.value.0);
        if let (Some(flag), true) = (&step.report_only, waiver.is_some()) {
            bail!(
                "{}: report_only and waive together: a report-only step never blocks, so drop the waiver",
                located(&flag.referenced)
            );
        }
        let action = match (step.run, step.check) {
            (Some(_), Some(_)) => bail!("{at}: give either run (a command) or check (a built-in), not both"),
            (None, None) => {
                bail!("{at}: needs run: [program, args…] or check: rollback-vs-alerts | secret-scan")
            }
            (Some(argv), None) => {
                if argv.first().is_none_or(|program| program.is_empty()) {
                    bail!("{at}: run: the argv list is empty; its first item is the program");
                }
                if step.alerts.is_some() || step.policy.is_some() || step.files.is_some() {
                    bail!("{at}: alerts, policy and files belong to built-in checks, not to run steps");
                }
                Action::Command { argv, dir: step.dir, timeout: step.timeout.unwrap_or(DEFAULT_TIMEOUT) }
            }
            (None, Some(check)) => {
                if step.timeout.is_some() || step.dir.is_some() {
                    bail!("{at}: timeout and dir apply to run steps only");
                }
                match check {
                    BuiltinCheck::RollbackVsAlerts => {
                        if step.files.is_some() {
                            bail!("{at}: files belongs to check: secret-scan");
                        }
                        Action::RollbackVsAlerts {
                            alerts: step.alerts.unwrap_or_else(|| DEFAULT_ALERTS.into()),
                            policy: step.policy.unwrap_or_else(|| DEFAULT_POLICY.into()),
                        }
                    }
                    BuiltinCheck::SecretScan => {
                        if step.alerts.is_some() || step.policy.is_some() {
                            bail!("{at}: alerts and policy belong to check: rollback-vs-alerts");
                        }
                        if step.files.as_ref().is_some_and(Vec::is_empty) {
                            bail!(
                                "{at}: files is empty; list the files to scan or omit it for the bundle inputs"
                            );
                        }
                        Action::SecretScan { files: step.files }
                    }
                }
            }
        };
        steps.push(Step { name: step.name.value, action, waiver, retries, retry_delay, report_only });
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        crate::clock::parse_rfc3339("2026-11-28T12:00:00Z").unwrap()
    }

    fn error(text: &str) -> String {
        parse(text, now()).unwrap_err().to_string()
    }

    #[test]
    fn parses_commands_checks_defaults_and_waivers() {
        let steps = parse(
            "steps:\n  - name: a\n    run: [sh, -c, 'true']\n    timeout: 5s\n  - name: b\n    check: secret-scan\n    waive: {until: 2026-12-31, reason: known}\n",
            now(),
        )
        .unwrap();
        assert_eq!(
            steps[0].action,
            Action::Command {
                argv: vec!["sh".into(), "-c".into(), "true".into()],
                dir: None,
                timeout: Duration::from_secs(5)
            }
        );
        assert_eq!(steps[1].action, Action::SecretScan { files: None });
        let waiver = steps[1].waiver.as_ref().unwrap();
        assert_eq!(
            (waiver.until.as_str(), waiver.ends.to_rfc3339().as_str()),
            ("2026-12-31", "2027-01-01T00:00:00+00:00")
        );
    }

    #[test]
    fn waiver_until_is_a_plain_date_or_rfc3339_within_the_horizon() {
        let config = |until: &str| {
            format!("steps:\n  - name: a\n    run: [x]\n    waive: {{until: {until}, reason: r}}\n")
        };
        let waiver = |until: &str| parse(&config(until), now()).unwrap()[0].waiver.clone().unwrap();
        assert_eq!(waiver("\"2026-12-01T18:00:00+02:00\"").ends.to_rfc3339(), "2026-12-01T16:00:00+00:00");
        // 90 days after 2026-11-28 is 2027-02-26.
        assert_eq!(waiver("2027-02-26").until, "2027-02-26");
        for bad in ["\"+99999-12-31\"", "2026-1-5", "\"tomorrow\"", "20261231", "2026-12-31x"] {
            let text = error(&config(bad));
            assert!(text.starts_with("make_ready.yaml:4:20: steps[0] (a): waive.until "), "{bad}: {text}");
            assert!(text.contains("is not a date: write YYYY-MM-DD"), "{bad}: {text}");
        }
        assert_eq!(
            error(&config("2027-02-27")),
            "make_ready.yaml:4:20: steps[0] (a): waive.until 2027-02-27 is more than 90 days ahead (waiver_horizon); waive for a shorter time and renew it, or raise waiver_horizon"
        );
        let longer = format!("waiver_horizon: 400d\n{}", config("2027-12-01"));
        assert_eq!(parse(&longer, now()).unwrap()[0].waiver.as_ref().unwrap().until, "2027-12-01");
    }

    #[test]
    fn retries_and_report_only_are_checked_and_located() {
        let steps = parse(
            "steps:\n  - name: a\n    run: [x]\n    retries: 2\n    retry_delay: 10ms\n  - name: b\n    run: [y]\n    report_only: true\n",
            now(),
        )
        .unwrap();
        assert_eq!(
            (steps[0].retries, steps[0].retry_delay, steps[0].report_only),
            (2, Duration::from_millis(10), false)
        );
        assert_eq!(
            (steps[1].retries, steps[1].retry_delay, steps[1].report_only),
            (0, DEFAULT_RETRY_DELAY, true)
        );
        assert_eq!(
            error("steps:\n  - name: a\n    run: [x]\n    retries: 11\n"),
            "make_ready.yaml:4:14: steps[0] (a): retries 11 is more than 10; a check that fails that often is broken, not flaky"
        );
        assert!(
            error("steps:\n  - name: a\n    run: [x]\n    retries: -1\n")
                .starts_with("make_ready.yaml:4:14: ")
        );
        assert_eq!(
            error("steps:\n  - name: a\n    run: [x]\n    retry_delay: 1s\n"),
            "make_ready.yaml:4:18: steps[0] (a): retry_delay needs retries: N (N ≥ 1)"
        );
        assert_eq!(
            error("steps:\n  - name: a\n    run: [x]\n    retries: 1\n    retry_delay: 6m\n"),
            "make_ready.yaml:5:18: steps[0] (a): retry_delay 6m is longer than 5m"
        );
        assert_eq!(
            error(
                "steps:\n  - name: a\n    run: [x]\n    report_only: true\n    waive: {until: 2026-12-01, reason: r}\n"
            ),
            "make_ready.yaml:4:18: steps[0] (a): report_only and waive together: a report-only step never blocks, so drop the waiver"
        );
        for text in ["\"yes\"", "\"off\"", "1"] {
            let message = error(&format!("steps:\n  - name: a\n    run: [x]\n    report_only: {text}\n"));
            assert!(
                message.starts_with("make_ready.yaml:4:") && message.contains("true or false"),
                "{text}: {message}"
            );
        }
    }

    #[test]
    fn canary_stages_default_to_5_25_50_100_and_are_configurable() {
        let steps = "steps:\n  - name: a\n    run: [x]\n";
        assert_eq!(parse_config(steps, now()).unwrap().stages, DEFAULT_STAGES);
        let stages = parse_config(
            &format!("{steps}canary:\n  stages:\n    - {{traffic: 1, hold: 90m}}\n    - {{traffic: 100, hold: 2d}}\n"),
            now(),
        )
        .unwrap()
        .stages;
        assert_eq!(
            stages,
            [
                Stage { traffic: 1, hold: Duration::from_secs(5400) },
                Stage { traffic: 100, hold: Duration::from_secs(2 * 86_400) }
            ]
        );
        assert_eq!(
            parse_config(&format!("{steps}canary:\n  stages:\n    - {{traffic: 100, hold: 0s}}\n"), now())
                .unwrap_err()
                .to_string(),
            "make_ready.yaml:6:28: duration \"0s\" must be greater than zero"
        );
    }

    #[test]
    fn shipped_config_parses_into_the_release_checks() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/release/make_ready.yaml");
        let steps = load(&path, now()).unwrap().steps;
        let names: Vec<&str> = steps.iter().map(|step| step.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "bundle_dry",
                "rotate_policy_dry",
                "cron_sentinel_config",
                "edge_sim_replay",
                "rollback_vs_alerts",
                "secret_scan"
            ]
        );
        // Every external step runs this binary; none is a shell placeholder.
        for step in &steps {
            if let Action::Command { argv, .. } = &step.action {
                assert_eq!(argv[0], "mmops", "{}", step.name);
            }
            assert!(step.waiver.is_none(), "the shipped config must not waive {}", step.name);
        }
        // The scan's file list comes from the bundle config, not a copy here.
        assert_eq!(steps[5].action, Action::SecretScan { files: None });
    }

    #[test]
    fn rejects_ambiguous_or_empty_steps() {
        assert!(error("steps: []\n").contains("the list is empty"));
        assert!(error("steps:\n  - name: a\n").contains("needs run"));
        assert!(error("steps:\n  - name: a\n    run: []\n").contains("argv list is empty"));
        assert!(error("steps:\n  - name: a\n    run: [x]\n    check: secret-scan\n").contains("not both"));
        assert!(
            error("steps:\n  - name: a\n    run: [x]\n  - name: a\n    run: [y]\n").contains("used twice")
        );
        assert!(error("steps:\n  - name: make_ready\n    run: [x]\n").contains("reserved"));
        assert!(
            error("steps:\n  - name: a\n    check: secret-scan\n    timeout: 3s\n")
                .contains("run steps only")
        );
        assert!(error("steps:\n  - name: a\n    check: nope\n").contains("make_ready.yaml:3:"));
    }

    #[test]
    fn scoring_section_is_parsed_with_defaults_and_every_bad_setting_located() {
        let steps = "steps:\n  - name: a\n    run: [x]\n";
        let config = |scoring: &str| format!("{steps}scoring:\n{scoring}");
        assert_eq!(parse_config(steps, now()).unwrap().scoring, None);
        let scoring = parse_config(
            &config("  go_at: 90\n  marginal_at: 80\n  min_reports: 5\n  sections:\n    edge: {weight: 40, critical: true}\n    tests: {critical: false}\n"),
            now(),
        )
        .unwrap()
        .scoring
        .unwrap();
        assert_eq!(
            scoring,
            Scoring {
                weights: [10.0, 40.0, 10.0, 25.0, 15.0, 10.0],
                critical: vec!["edge"],
                go_at: Some(90.0),
                marginal_at: Some(80.0),
                min_reports: 5,
                max_drop: None,
                section_max_drop: [None; 6],
            }
        );
        let empty = parse_config(&config("  min_reports: 0\n"), now()).unwrap().scoring.unwrap();
        assert_eq!(
            (empty.weights, empty.go_at, empty.marginal_at),
            ([10.0, 30.0, 10.0, 25.0, 15.0, 10.0], None, None)
        );
        let cases = [
            (
                "  go_at: 120\n",
                "make_ready.yaml:5:10: scoring.go_at 120 is outside 0..100; the score is out of 100",
            ),
            (
                "  go_at: 80\n  marginal_at: 90\n",
                "make_ready.yaml:6:16: scoring.marginal_at 90 is above go_at 80; MARGINAL is the band below go_at",
            ),
            (
                "  marginal_at: 90\n",
                "make_ready.yaml:5:16: scoring.marginal_at needs go_at: the MARGINAL band lies between the two",
            ),
            (
                "  min_reports: 8\n",
                "make_ready.yaml:5:16: scoring.min_reports 8 is more than the 7 reports scored",
            ),
            (
                "  sections:\n    edge: {weight: -1}\n",
                "make_ready.yaml:6:20: scoring.sections.edge.weight -1 must be a number in 0..1000 (weights are normalised)",
            ),
            (
                "  sections:\n    edge: {weight: .nan}\n",
                "make_ready.yaml:6:20: scoring.sections.edge.weight NaN must be a number in 0..1000 (weights are normalised)",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(error(&config(text)), expected, "{text}");
        }
        let zero = "  sections:\n    chaos: {weight: 0}\n    edge: {weight: 0}\n    guards: {weight: 0}\n    latency: {weight: 0}\n    taker: {weight: 0}\n    tests: {weight: 0}\n";
        assert!(
            error(&config(zero))
                .ends_with("scoring.sections: every weight is 0; give at least one section a weight")
        );
        assert!(error(&config(zero)).starts_with("make_ready.yaml:5:"), "{}", error(&config(zero)));
        for (text, needle) in [
            ("  sections:\n    edgy: {weight: 1}\n", "edgy"),
            ("  sections:\n    edge: {critical: \"yes\"}\n", "true or false"),
            ("  sections:\n    edge: {wieght: 1}\n", "wieght"),
            ("  go_at: high\n", "yaml:5:10: "),
            ("  min_reports: -1\n", "yaml:5:16: "),
            ("  gоat: 1\n", "unknown"),
        ] {
            let message = error(&config(text));
            assert!(message.starts_with("make_ready.yaml:") && message.contains(needle), "{text}: {message}");
            assert!(message.split(':').nth(1).is_some_and(|line| line.parse::<u32>().is_ok()), "{message}");
        }
    }
}
