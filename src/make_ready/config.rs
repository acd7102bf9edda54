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
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, bail};
use chrono::NaiveDate;
use serde::Deserialize;

use crate::units;

/// Default timeout of an external step.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    steps: Vec<StepFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFile {
    name: String,
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
    waive: Option<Waiver>,
}

/// The dry checks built into mmops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum BuiltinCheck {
    RollbackVsAlerts,
    SecretScan,
}

/// A waiver: until this date (inclusive, UTC) a failing step does not block.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Waiver {
    #[serde(deserialize_with = "deserialize_date")]
    pub until: NaiveDate,
    pub reason: String,
}

/// `2026-12-31` (a UTC calendar day).
fn deserialize_date<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<NaiveDate, D::Error> {
    let text = String::deserialize(deserializer)?;
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
        serde::de::Error::custom(format!("invalid date {text:?}: write it as YYYY-MM-DD, e.g. 2026-12-31"))
    })
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
    SecretScan {
        files: Vec<PathBuf>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Step {
    pub name: String,
    pub action: Action,
    pub waiver: Option<Waiver>,
}

/// The files that go into the release bundle (scanned for secrets by default).
pub(crate) const BUNDLE_INPUTS: [&str; 6] = [
    "VERSION",
    "README.md",
    "CHANGELOG.md",
    "deploy/prometheus/alerts_soak.yml",
    "deploy/policies/rollback.yaml",
    "deploy/grafana/dashboards/mm_operability.json",
];
pub(crate) const DEFAULT_ALERTS: &str = "deploy/prometheus/alerts_soak.yml";
pub(crate) const DEFAULT_POLICY: &str = "deploy/policies/rollback.yaml";

/// Loads and checks the config; every error names the file and the step.
pub(crate) fn load(path: &Path) -> Result<Vec<Step>> {
    let file: ConfigFile = crate::config_file::load(path)?;
    plan(file, &path.display().to_string())
}

/// Parses config text (for tests and `load`).
#[cfg(test)]
fn parse(text: &str) -> Result<Vec<Step>> {
    plan(crate::config_file::parse(text, "make_ready.yaml")?, "make_ready.yaml")
}

fn plan(file: ConfigFile, origin: &str) -> Result<Vec<Step>> {
    if file.steps.is_empty() {
        bail!("{origin}: steps: the list is empty; add at least one step");
    }
    let mut steps: Vec<Step> = Vec::new();
    for (index, step) in file.steps.into_iter().enumerate() {
        let at = format!("{origin}: steps[{index}] ({})", step.name);
        let valid_name = !step.name.is_empty()
            && step.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
        if !valid_name {
            bail!("{at}: name must be non-empty letters, digits, '_', '-' or '.'");
        }
        if matches!(step.name.as_str(), "pre_live_pack" | "readiness" | "make_ready") {
            bail!("{at}: name {:?} is reserved for make-ready's own rows; choose another", step.name);
        }
        if steps.iter().any(|seen| seen.name == step.name) {
            bail!("{at}: name is used twice; step names must be unique");
        }
        if let Some(waiver) = &step.waive
            && waiver.reason.trim().is_empty()
        {
            bail!("{at}: waive.reason is empty; say why the failure is acceptable");
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
                        let files =
                            step.files.unwrap_or_else(|| BUNDLE_INPUTS.iter().map(PathBuf::from).collect());
                        if files.is_empty() {
                            bail!(
                                "{at}: files is empty; list the files to scan or omit it for the bundle inputs"
                            );
                        }
                        Action::SecretScan { files }
                    }
                }
            }
        };
        steps.push(Step { name: step.name, action, waiver: step.waive });
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands_checks_defaults_and_waivers() {
        let steps = parse(
            "steps:\n  - name: a\n    run: [sh, -c, 'true']\n    timeout: 5s\n  - name: b\n    check: secret-scan\n    waive: {until: 2026-12-31, reason: known}\n",
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
        assert_eq!(
            steps[1].action,
            Action::SecretScan { files: BUNDLE_INPUTS.iter().map(PathBuf::from).collect() }
        );
        assert_eq!(steps[1].waiver.as_ref().unwrap().until, NaiveDate::from_ymd_opt(2026, 12, 31).unwrap());
    }

    #[test]
    fn shipped_config_parses_into_the_release_checks() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/release/make_ready.yaml");
        let steps = load(&path).unwrap();
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
        assert_eq!(
            steps[5].action,
            Action::SecretScan { files: BUNDLE_INPUTS.iter().map(PathBuf::from).collect() }
        );
    }

    #[test]
    fn rejects_ambiguous_or_empty_steps() {
        let error = |text: &str| parse(text).unwrap_err().to_string();
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
}
