//! Which limits apply to which file: the command-line limits, a `--policy` file of ordered rules,
//! or the shipped default policy, resolved once into [`Retention`] before anything is scanned.
//!
//! Globs are matched against the path relative to the base dir with `/` as separator; `*` stays
//! within one folder and `**` crosses folders. A glob without any `/` (such as `*.keep`) is also
//! matched against the bare file name, so it works at any depth, as in `.gitignore`.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
use globset::{Glob, GlobBuilder, GlobMatcher};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use crate::cli::RotateArgs;
use crate::config_file;
use crate::units;

use super::plan::Limits;

/// Policy used when no limit flag and no `--policy` is given (relative to the working directory).
pub(crate) const DEFAULT_POLICY: &str = "deploy/ops/rotation.yaml";

/// Where the limits of this run came from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Source {
    /// `--days`, `--keep` and `--max-size` only.
    Flags,
    /// A policy file; `default` when it was picked because no limit was given.
    Policy { path: PathBuf, default: bool },
}

/// One retention rule: files whose relative path matches `glob` share `limits`.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    /// The glob as written, or `*` for the command-line catch-all.
    pub label: String,
    /// `None` for the catch-all rule built from the command-line limits.
    pub matcher: Option<PathGlob>,
    pub limits: Limits,
}

/// Everything that decides what is a candidate and which limits apply to it.
#[derive(Debug)]
pub(crate) struct Retention {
    pub source: Source,
    pub rules: Vec<Rule>,
    pub excludes: Vec<PathGlob>,
}

impl Retention {
    /// The rule a file belongs to (the first whose glob matches), or `None` when no rule covers it
    /// and it is therefore kept.
    pub fn rule_for(&self, relative: &Path) -> Option<usize> {
        self.rules.iter().position(|rule| rule.matcher.as_ref().is_none_or(|glob| glob.is_match(relative)))
    }

    pub fn is_excluded(&self, relative: &Path) -> bool {
        self.excludes.iter().any(|glob| glob.is_match(relative))
    }

    /// Whether classifying a file needs its relative path at all (the scan skips building it
    /// when only command-line limits and no excludes are given).
    pub fn needs_paths(&self) -> bool {
        !self.excludes.is_empty() || self.rules.iter().any(|rule| rule.matcher.is_some())
    }
}

/// A glob over relative paths; see the module docs for the matching rules.
#[derive(Debug, Clone)]
pub(crate) struct PathGlob {
    text: String,
    matcher: GlobMatcher,
    name_only: bool,
}

impl PathGlob {
    pub fn new(text: &str) -> Result<PathGlob, String> {
        if text.trim().is_empty() {
            return Err("empty glob".to_string());
        }
        let glob: Glob = GlobBuilder::new(text)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|error| format!("invalid glob {text:?}: {}", error.kind()))?;
        Ok(PathGlob {
            text: text.to_string(),
            matcher: glob.compile_matcher(),
            name_only: !text.contains('/'),
        })
    }

    pub fn is_match(&self, relative: &Path) -> bool {
        self.matcher.is_match(relative)
            || (self.name_only && relative.file_name().is_some_and(|name| self.matcher.is_match(name)))
    }
}

impl fmt::Display for PathGlob {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.text)
    }
}

/// The policy file format (YAML or JSON).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    /// Ordered rules; a file belongs to the first whose glob matches.
    rules: Vec<RuleConfig>,
    /// Globs protecting files from every rule (added to `--exclude`).
    #[serde(default)]
    exclude: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleConfig {
    glob: String,
    #[serde(default, deserialize_with = "deserialize_optional_days")]
    days: Option<f64>,
    #[serde(default, deserialize_with = "deserialize_optional_keep")]
    keep: Option<u64>,
    #[serde(default, deserialize_with = "units::deserialize_optional_size")]
    max_size: Option<u64>,
}

/// Turns the flags (and the policy file they name, or the default one) into rules. Fails with a
/// one-line message naming the flag, or the file and field, on anything invalid.
pub(crate) fn resolve(args: &RotateArgs) -> Result<Retention> {
    let flag_limits = Limits { days: args.days, keep: args.keep, max_size: args.max_size };
    let mut excludes = args
        .excludes
        .iter()
        .map(|text| PathGlob::new(text).map_err(|error| anyhow!("--exclude: {error}")))
        .collect::<Result<Vec<_>>>()?;

    let (source, mut rules) = match &args.policy {
        Some(path) => {
            (Source::Policy { path: path.clone(), default: false }, load_policy(path, &mut excludes)?)
        }
        None if flag_limits.is_empty() => {
            let path = PathBuf::from(DEFAULT_POLICY);
            if !path.exists() {
                bail!(
                    "no retention limit given: pass --days, --max-size, --keep or --policy FILE \
                     (the default policy {DEFAULT_POLICY} does not exist in {})",
                    std::env::current_dir()
                        .map(|dir| dir.display().to_string())
                        .unwrap_or_else(|_| ".".into())
                );
            }
            (Source::Policy { path: path.clone(), default: true }, load_policy(&path, &mut excludes)?)
        }
        None => (Source::Flags, Vec::new()),
    };
    if !flag_limits.is_empty() {
        rules.push(Rule { label: "*".to_string(), matcher: None, limits: flag_limits });
    }
    Ok(Retention { source, rules, excludes })
}

pub(crate) fn load_policy(path: &Path, excludes: &mut Vec<PathGlob>) -> Result<Vec<Rule>> {
    let file: PolicyFile = config_file::load(path)
        .with_context(|| format!("cannot load retention policy {}", path.display()))?;
    let origin = path.display();
    if file.rules.is_empty() {
        bail!("{origin}: rules: the policy has no rules; add at least one rule with a glob and a limit");
    }
    if file.rules.len() >= usize::from(u16::MAX) {
        bail!("{origin}: rules: too many rules ({})", file.rules.len());
    }
    for (index, text) in file.exclude.iter().enumerate() {
        excludes.push(PathGlob::new(text).map_err(|error| anyhow!("{origin}: exclude[{index}]: {error}"))?);
    }
    file.rules
        .into_iter()
        .enumerate()
        .map(|(index, rule)| {
            let glob = PathGlob::new(&rule.glob)
                .map_err(|error| anyhow!("{origin}: rules[{index}].glob: {error}"))?;
            Ok(Rule {
                label: rule.glob,
                matcher: Some(glob),
                limits: Limits { days: rule.days, keep: rule.keep, max_size: rule.max_size },
            })
        })
        .collect()
}

/// `keep: 10`: a whole number of files (the parser's own words would be "invalid u64").
fn deserialize_optional_keep<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    struct KeepVisitor;

    impl Visitor<'_> for KeepVisitor {
        type Value = u64;

        fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
            formatter.write_str("a whole number of files such as 10")
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<u64, E> {
            Ok(value)
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<u64, E> {
            u64::try_from(value)
                .map_err(|_| E::custom(format!("keep {value}: use a whole number of files such as 10")))
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<u64, E> {
            value
                .trim()
                .parse()
                .map_err(|_| E::custom(format!("keep {value:?}: use a whole number of files such as 10")))
        }
    }

    deserializer.deserialize_any(KeepVisitor).map(Some)
}

/// `days: 7`, `days: 0.5` or `days: "7"`, through the same parser as `--days`.
fn deserialize_optional_days<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    struct DaysVisitor;

    impl Visitor<'_> for DaysVisitor {
        type Value = f64;

        fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
            formatter.write_str("a number of days such as 7 or 0.5")
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<f64, E> {
            units::parse_days(value).map_err(E::custom)
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<f64, E> {
            self.visit_str(&value.to_string())
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<f64, E> {
            self.visit_str(&value.to_string())
        }

        fn visit_f64<E: de::Error>(self, value: f64) -> Result<f64, E> {
            if value < 0.0 || !value.is_finite() {
                return Err(E::custom(format!(
                    "invalid number of days {value}; use a number such as 7 or 0.5"
                )));
            }
            self.visit_str(&value.to_string())
        }
    }

    deserializer.deserialize_any(DaysVisitor).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Rule>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.yaml");
        std::fs::write(&path, text).unwrap();
        load_policy(&path, &mut Vec::new()).map_err(|error| {
            anyhow!("{}", crate::output::error_line(&error).replace(&*dir.path().to_string_lossy(), "DIR"))
        })
    }

    #[test]
    fn globs_stay_in_folders_and_bare_names_match_anywhere() {
        let glob = PathGlob::new("reports/*").unwrap();
        assert!(glob.is_match(Path::new("reports/a.json")));
        assert!(!glob.is_match(Path::new("reports/sub/a.json")));
        let deep = PathGlob::new("reports/**").unwrap();
        assert!(deep.is_match(Path::new("reports/sub/a.json")));
        assert!(!deep.is_match(Path::new("logs/reports/a.json")));
        let name = PathGlob::new("*.keep").unwrap();
        assert!(name.is_match(Path::new("a/b/c.keep")));
        assert!(!name.is_match(Path::new("a/b.keep/c")));
        assert!(PathGlob::new("a[").is_err());
        assert!(PathGlob::new(" ").is_err());
    }

    #[test]
    fn policy_rules_parse_with_all_limit_forms() {
        let rules = parse("rules:\n  - glob: 'logs/**'\n    days: 7\n    max_size: 1G\n  - glob: 'release/**'\n    keep: 10\n  - glob: x\n    days: '0.5'\n").unwrap();
        assert_eq!(rules.len(), 3);
        assert_eq!(rules[0].limits, Limits { days: Some(7.0), keep: None, max_size: Some(1 << 30) });
        assert_eq!(rules[1].limits, Limits { days: None, keep: Some(10), max_size: None });
        assert_eq!(rules[2].limits.days, Some(0.5));
    }

    #[test]
    fn bad_policies_name_file_line_and_field() {
        let error = parse("rules:\n  - glob: 'logs/**'\n    dayz: 7\n").unwrap_err().to_string();
        assert!(
            error.starts_with(
                "cannot load retention policy DIR/policy.yaml: DIR/policy.yaml:3:5: unknown field \"dayz\""
            ),
            "{error}"
        );
        let error = parse("rules:\n  - glob: 'a['\n    days: 1\n").unwrap_err().to_string();
        assert_eq!(
            error,
            "DIR/policy.yaml: rules[0].glob: invalid glob \"a[\": unclosed character class; missing ']'"
        );
        let error = parse("rules: []\n").unwrap_err().to_string();
        assert!(error.contains("rules: the policy has no rules"), "{error}");
        let error = parse("rules:\n  - glob: a\n    days: -3\n").unwrap_err().to_string();
        assert!(error.contains("policy.yaml:3:"), "{error}");
        // In the policy's terms, not the parser's ("invalid u64", "use Option<String>").
        let error = parse("rules:\n  - glob: a\n    keep: x\n").unwrap_err().to_string();
        assert!(
            error.ends_with("policy.yaml:3:11: keep \"x\": use a whole number of files such as 10"),
            "{error}"
        );
        let error = parse("rules:\n  - glob:\n    days: 3\n").unwrap_err().to_string();
        assert!(error.ends_with("policy.yaml:2:9: this field needs text, not an empty value"), "{error}");
        let error = parse("rules:\n  - glob: a\n    max_size: 2X\n").unwrap_err().to_string();
        assert!(error.contains("policy.yaml:3:") && error.contains("unknown size unit"), "{error}");
    }
}
