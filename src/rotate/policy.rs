//! Which limits apply to which file: the command-line limits, a `--policy` file of ordered rules,
//! or the shipped default policy, resolved once into [`Retention`] before anything is scanned.
//!
//! Globs are matched against the path relative to the base dir with `/` as separator; `*` stays
//! within one folder and `**` crosses folders. A glob without any `/` (such as `*.keep`) is also
//! matched against the bare file name, so it works at any depth, as in `.gitignore`.

use std::collections::HashMap;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
use globset::{Glob, GlobBuilder, GlobMatcher};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use crate::cli::RotateArgs;
use crate::config_file;
use crate::units;

use super::plan::Limits;
use super::retention::{Calendar, MinFree, Order};

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
    /// The `keep_*` periods, companions, unit and order (all default for a plain rule).
    pub shape: Shape,
    /// `max_size` as the operator wrote it (`2GB`), echoed in the report.
    pub max_size_typed: Option<String>,
}

impl Rule {
    /// Whether the rule needs the retention planner (`retention.rs`) rather than the plain one.
    pub fn is_shaped(&self) -> bool {
        self.shape != Shape::default()
    }

    /// Whether `--min-free` may take the files this rule keeps: a rule with no limit protects
    /// its files.
    pub fn has_limit(&self) -> bool {
        !self.limits.is_empty() || self.shape.calendar.is_active()
    }

    /// `keep_within` in days when it is the rule's only `keep_*` field: an age limit as `days`
    /// is, for the guards (a clock far ahead selects every file of such a rule).
    pub fn within_only_days(&self) -> Option<f64> {
        let calendar = &self.shape.calendar;
        let periods = calendar.last.is_some() || calendar.period_counts().iter().any(Option::is_some);
        match calendar.within_nanos {
            Some(within) if !periods => Some(within as f64 / 86_400e9),
            _ => None,
        }
    }
}

/// Everything that decides what is a candidate and which limits apply to it.
#[derive(Debug)]
pub(crate) struct Retention {
    pub source: Source,
    pub rules: Vec<Rule>,
    pub excludes: Vec<PathGlob>,
    /// `--min-free`, or else the policy's `min_free`.
    pub min_free: Option<MinFree>,
}

/// How many companion suffixes one rule may list.
const MAX_COMPANIONS: usize = 64;

/// How many companion suffixes deep a chain is followed (`x.zip.sha256.minisig` is 2).
const MAX_COMPANION_CHAIN: usize = 8;

impl Retention {
    /// One catch-all rule from the command line with `keep: 0` (every file a candidate): the
    /// retention the unit tests of the scan and the delete start from.
    #[cfg(test)]
    pub(crate) fn select_everything() -> Retention {
        Retention {
            source: Source::Flags,
            rules: vec![Rule {
                label: "*".into(),
                matcher: None,
                limits: super::plan::Limits { keep: Some(0), ..super::plan::Limits::default() },
                shape: Default::default(),
                max_size_typed: None,
            }],
            excludes: Vec::new(),
            min_free: None,
        }
    }

    /// The rule a file belongs to, or `None` when no rule covers it and it is therefore kept:
    /// - a companion (its path is a file path of a rule with `companions` plus one of them)
    ///   belongs to its primary's rule, whatever its own name matches, so the two never split;
    /// - otherwise the first rule whose glob matches: the file's path for a file rule, one of
    ///   the file's folders for a `unit: dir` rule.
    pub fn rule_for(&self, relative: &Path) -> Option<usize> {
        if self.rules.iter().any(|rule| !rule.shape.companions.is_empty())
            && let Some(rule) = self.companion_rule(relative.as_os_str().as_bytes(), 0, &mut HashMap::new())
        {
            return Some(rule);
        }
        self.own_rule(relative)
    }

    /// The rule a file is a companion in (by its name), when there is one.
    pub fn companion_rule_of(&self, relative: &Path) -> Option<usize> {
        if !self.rules.iter().any(|rule| !rule.shape.companions.is_empty()) {
            return None;
        }
        self.companion_rule(relative.as_os_str().as_bytes(), 0, &mut HashMap::new())
    }

    /// The first rule whose glob matches the file (or, for `unit: dir`, one of its folders).
    fn own_rule(&self, relative: &Path) -> Option<usize> {
        self.rules.iter().position(|rule| match (&rule.matcher, rule.shape.unit) {
            (None, _) => true,
            (Some(glob), Unit::File) => glob.is_match(relative),
            (Some(glob), Unit::Dir) => unit_folder(glob, relative).is_some(),
        })
    }

    /// The rule of the primary `path` is a companion of, when that rule lists the suffix.
    /// `memo` holds the answers by (path length, depth): the stems of one path are its prefixes,
    /// so suffixes that end in each other (`a`, `aa`, `aaa`, ...) cannot make the search
    /// exponential.
    fn companion_rule(
        &self,
        path: &[u8],
        depth: usize,
        memo: &mut HashMap<(usize, usize), Option<usize>>,
    ) -> Option<usize> {
        if depth >= MAX_COMPANION_CHAIN {
            return None;
        }
        if let Some(&known) = memo.get(&(path.len(), depth)) {
            return known;
        }
        let mut best: Option<(usize, usize)> = None; // (suffix length, rule)
        for (index, rule) in self.rules.iter().enumerate() {
            for suffix in &rule.shape.companions {
                let Some(stem) = path.strip_suffix(suffix.as_slice()) else { continue };
                if stem.is_empty() || stem.ends_with(b"/") {
                    continue;
                }
                if best.is_some_and(|(length, _)| length >= suffix.len()) {
                    continue;
                }
                let stem_path = Path::new(std::ffi::OsStr::from_bytes(stem));
                let primary_rule =
                    self.companion_rule(stem, depth + 1, memo).or_else(|| self.own_rule(stem_path));
                if primary_rule == Some(index) {
                    best = Some((suffix.len(), index));
                }
            }
        }
        let answer = best.map(|(_, rule)| rule);
        memo.insert((path.len(), depth), answer);
        answer
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

/// The outermost folder of `relative` (a file's path) that `glob` matches: the item a file of a
/// `unit: dir` rule belongs to.
pub(crate) fn unit_folder<'a>(glob: &PathGlob, relative: &'a Path) -> Option<&'a Path> {
    relative
        .ancestors()
        .skip(1)
        .filter(|folder| !folder.as_os_str().is_empty())
        .filter(|folder| glob.is_match(folder))
        .last()
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
    #[serde(default, deserialize_with = "deserialize_globs")]
    exclude: Vec<String>,
    /// Free space to reach on the base dir's filesystem (`10G`, `15%`).
    #[serde(default, deserialize_with = "deserialize_optional_min_free")]
    min_free: Option<MinFree>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RuleFields")]
struct RuleConfig {
    glob: String,
    days: Option<f64>,
    keep: Option<u64>,
    max_size: Option<units::TypedSize>,
    shape: Shape,
}

/// What an item is for a rule (`unit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Unit {
    /// Each file is an item.
    #[default]
    File,
    /// Each folder the glob matches is one item, deleted whole.
    Dir,
}

/// The retention fields of a rule beyond `days`/`keep`/`max_size` (issue 17), validated.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Shape {
    pub calendar: Calendar,
    pub companions: Vec<Vec<u8>>,
    pub unit: Unit,
    pub order: Order,
}

/// A rule as written; checked as a whole into [`RuleConfig`] (so a bad combination is reported
/// at the rule's place in the file).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFields {
    #[serde(deserialize_with = "deserialize_glob")]
    glob: String,
    #[serde(default, deserialize_with = "deserialize_optional_days")]
    days: Option<f64>,
    #[serde(default, deserialize_with = "deserialize_optional_keep")]
    keep: Option<u64>,
    #[serde(default, deserialize_with = "units::deserialize_optional_typed_size")]
    max_size: Option<units::TypedSize>,
    #[serde(default, deserialize_with = "deserialize_optional_keep_last")]
    keep_last: Option<u64>,
    #[serde(default, deserialize_with = "deserialize_optional_keep_hourly")]
    keep_hourly: Option<u64>,
    #[serde(default, deserialize_with = "deserialize_optional_keep_daily")]
    keep_daily: Option<u64>,
    #[serde(default, deserialize_with = "deserialize_optional_keep_weekly")]
    keep_weekly: Option<u64>,
    #[serde(default, deserialize_with = "deserialize_optional_keep_monthly")]
    keep_monthly: Option<u64>,
    #[serde(default, deserialize_with = "deserialize_optional_keep_yearly")]
    keep_yearly: Option<u64>,
    #[serde(default, deserialize_with = "units::deserialize_optional_duration")]
    keep_within: Option<std::time::Duration>,
    #[serde(default, deserialize_with = "deserialize_optional_tz")]
    tz: Option<chrono_tz::Tz>,
    #[serde(default, deserialize_with = "deserialize_optional_companions")]
    companions: Option<Vec<Vec<u8>>>,
    #[serde(default, deserialize_with = "deserialize_unit")]
    unit: Unit,
    #[serde(default)]
    order: Order,
}

impl TryFrom<RuleFields> for RuleConfig {
    type Error = String;

    fn try_from(fields: RuleFields) -> Result<RuleConfig, String> {
        let calendar = Calendar {
            last: fields.keep_last,
            hourly: fields.keep_hourly,
            daily: fields.keep_daily,
            weekly: fields.keep_weekly,
            monthly: fields.keep_monthly,
            yearly: fields.keep_yearly,
            within_nanos: fields.keep_within.map(|within| within.as_nanos() as i128),
            tz: fields.tz.unwrap_or(chrono_tz::Tz::UTC),
        };
        if calendar.is_active() && fields.days.is_some() {
            return Err(format!(
                "rule {:?}: days cannot be combined with keep_* periods; use keep_within (such as \
                 keep_within: 7d) to keep everything younger than an age",
                fields.glob
            ));
        }
        if fields.keep.is_some() && calendar.is_active() {
            let hint = if fields.keep_last.is_some() {
                "they are the same limit"
            } else {
                "keep_last is keep among keep_* periods"
            };
            return Err(format!(
                "rule {:?}: keep cannot be combined with keep_* fields ({hint}); use keep_last",
                fields.glob
            ));
        }
        if fields.tz.is_some() && calendar.period_counts().iter().all(Option::is_none) {
            return Err(format!(
                "rule {:?}: tz only affects keep_hourly/daily/weekly/monthly/yearly; add one or remove tz",
                fields.glob
            ));
        }
        let companions = fields.companions.unwrap_or_default();
        if fields.unit == Unit::Dir && !companions.is_empty() {
            return Err(format!(
                "rule {:?}: companions apply to files; a unit: dir rule deletes each folder whole, so remove companions",
                fields.glob
            ));
        }
        Ok(RuleConfig {
            glob: fields.glob,
            days: fields.days,
            keep: fields.keep,
            max_size: fields.max_size,
            shape: Shape { calendar, companions, unit: fields.unit, order: fields.order },
        })
    }
}

/// Turns the flags (and the policy file they name, or the default one) into rules. Fails with a
/// one-line message naming the flag, or the file and field, on anything invalid.
pub(crate) fn resolve(args: &RotateArgs) -> Result<Retention> {
    let flag_limits =
        Limits { days: args.days, keep: args.keep, max_size: args.max_size.as_ref().map(|size| size.bytes) };
    let flag_shape = flag_shape(args)?;
    let flag_min_free = args
        .min_free
        .as_deref()
        .map(|text| MinFree::parse(text).map_err(|error| anyhow!("--min-free: {error}")))
        .transpose()?;
    let flags_given = !flag_limits.is_empty() || flag_shape.calendar.is_active();
    let mut excludes = args
        .excludes
        .iter()
        .map(|text| PathGlob::new(text).map_err(|error| anyhow!("--exclude: {error}")))
        .collect::<Result<Vec<_>>>()?;

    let (source, mut rules) = match &args.policy {
        Some(path) => {
            (Source::Policy { path: path.clone(), default: false }, load_policy(path, &mut excludes)?)
        }
        None if !flags_given => {
            let path = PathBuf::from(DEFAULT_POLICY);
            if config_file::is_absent(&path) {
                return Err(config_file::missing_default(
                    "no retention limit given, and the default policy",
                    &path,
                    Some("--days, --max-size, --keep, --keep-daily (or another --keep-*) or --policy FILE"),
                ));
            }
            (Source::Policy { path: path.clone(), default: true }, load_policy(&path, &mut excludes)?)
        }
        None => (Source::Flags, ShapedPolicy { rules: Vec::new(), min_free: None }),
    };
    if flags_given {
        rules.rules.push(Rule {
            label: "*".to_string(),
            matcher: None,
            limits: flag_limits,
            shape: flag_shape,
            max_size_typed: args.max_size.as_ref().map(|size| size.typed.clone()),
        });
    } else if flag_shape != Shape::default() {
        bail!("--tz and --order apply to the command-line limits; add --keep, --keep-daily or another limit");
    }
    let ShapedPolicy { rules, min_free } = rules;
    Ok(Retention { source, rules, excludes, min_free: flag_min_free.or(min_free) })
}

/// The command-line catch-all rule's `keep_*` periods, zone and order, checked as a policy rule is.
fn flag_shape(args: &RotateArgs) -> Result<Shape> {
    let tz = match &args.tz {
        Some(name) => Some(parse_tz(name).map_err(|error| anyhow!("--tz: {error}"))?),
        None => None,
    };
    let calendar = Calendar {
        last: args.keep_last,
        hourly: args.keep_hourly,
        daily: args.keep_daily,
        weekly: args.keep_weekly,
        monthly: args.keep_monthly,
        yearly: args.keep_yearly,
        within_nanos: args.keep_within.map(|within| within.as_nanos() as i128),
        tz: tz.unwrap_or(chrono_tz::Tz::UTC),
    };
    if calendar.is_active() && args.days.is_some() {
        bail!(
            "--days cannot be combined with --keep-* periods; use --keep-within (such as --keep-within 7d) \
             to keep everything younger than an age"
        );
    }
    if calendar.is_active() && args.keep.is_some() {
        bail!("--keep cannot be combined with --keep-* periods; use --keep-last");
    }
    if tz.is_some() && calendar.period_counts().iter().all(Option::is_none) {
        bail!("--tz only affects --keep-hourly/daily/weekly/monthly/yearly; add one or remove --tz");
    }
    let order = match args.order.as_deref() {
        None | Some("mtime") => Order::Mtime,
        Some("name") => Order::Name,
        Some(_) => Order::NameNumeric,
    };
    Ok(Shape { calendar, companions: Vec::new(), unit: Unit::File, order })
}

/// Loads a policy: its rules (with their [`Shape`]) and its `min_free`.
pub(crate) fn load_policy(path: &Path, excludes: &mut Vec<PathGlob>) -> Result<ShapedPolicy> {
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
    let rules = file
        .rules
        .into_iter()
        .enumerate()
        .map(|(index, rule)| {
            let glob = PathGlob::new(&rule.glob)
                .map_err(|error| anyhow!("{origin}: rules[{index}].glob: {error}"))?;
            let limits = Limits {
                days: rule.days,
                keep: rule.keep,
                max_size: rule.max_size.as_ref().map(|size| size.bytes),
            };
            let max_size_typed = rule.max_size.map(|size| size.typed);
            Ok(Rule { label: rule.glob, matcher: Some(glob), limits, shape: rule.shape, max_size_typed })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(ShapedPolicy { rules, min_free: file.min_free })
}

/// A policy: its rules in order and its `min_free`.
#[derive(Debug)]
pub(crate) struct ShapedPolicy {
    pub rules: Vec<Rule>,
    pub min_free: Option<MinFree>,
}

/// An IANA zone name, with the nearest name for a typo.
fn parse_tz(name: &str) -> Result<chrono_tz::Tz, String> {
    name.parse::<chrono_tz::Tz>().map_err(|_| {
        let names = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
        let hint = match config_file::nearest_name(name, names) {
            Some(nearest) => format!("did you mean {nearest:?}?"),
            None => "use an IANA zone name such as UTC or Europe/Berlin".to_string(),
        };
        format!("unknown time zone {:?}; {hint}", crate::sanitize::excerpt(name, 60))
    })
}

/// `tz: Europe/Berlin`: an IANA zone name, with the nearest name for a typo.
fn deserialize_optional_tz<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<chrono_tz::Tz>, D::Error> {
    let name = String::deserialize(deserializer)?;
    parse_tz(&name).map(Some).map_err(de::Error::custom)
}

/// `companions: [".sha256", ".minisig"]`: suffixes of file names, each once.
fn deserialize_optional_companions<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<Vec<u8>>>, D::Error> {
    let suffixes = Vec::<String>::deserialize(deserializer)?;
    // Every candidate is checked against every suffix: a typo'd generated list must not make
    // a scan of 200,000 files crawl.
    if suffixes.len() > MAX_COMPANIONS {
        return Err(de::Error::custom(format!(
            "{} companion suffixes; at most {MAX_COMPANIONS} are accepted",
            suffixes.len()
        )));
    }
    let mut seen = std::collections::BTreeSet::new();
    for suffix in &suffixes {
        let shown = crate::sanitize::excerpt(suffix, 60);
        if suffix.is_empty() || suffix.contains(['/', '\0']) || suffix.len() > 255 {
            return Err(de::Error::custom(format!(
                "companion suffix {shown:?} must be 1 to 255 bytes of a file name (no \"/\"), such as \".sha256\""
            )));
        }
        if !seen.insert(suffix.as_str()) {
            return Err(de::Error::custom(format!("companion suffix {shown:?} is listed twice")));
        }
    }
    Ok(Some(suffixes.into_iter().map(String::into_bytes).collect()))
}

/// `min_free: 10G` or `min_free: 15%`.
fn deserialize_optional_min_free<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<MinFree>, D::Error> {
    struct MinFreeVisitor;

    impl Visitor<'_> for MinFreeVisitor {
        type Value = MinFree;

        fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
            formatter.write_str("a size such as 10G or a percentage such as 15%")
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<MinFree, E> {
            MinFree::parse(value).map_err(E::custom)
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<MinFree, E> {
            Ok(MinFree::Bytes(value))
        }
    }

    deserializer.deserialize_any(MinFreeVisitor).map(Some)
}

/// `keep: 10`: a whole number of files (the parser's own words would be "invalid u64").
fn deserialize_optional_keep<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    deserializer
        .deserialize_any(CountVisitor { field: "keep", example: "a whole number of files such as 10" })
        .map(Some)
}

/// The `keep_*` counts of a rule, each named in its own message.
macro_rules! count_fields {
    ($($name:ident => $field:literal),* $(,)?) => {$(
        fn $name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
            deserializer.deserialize_any(CountVisitor { field: $field, example: "a whole number such as 7" }).map(Some)
        }
    )*};
}

count_fields! {
    deserialize_optional_keep_last => "keep_last",
    deserialize_optional_keep_hourly => "keep_hourly",
    deserialize_optional_keep_daily => "keep_daily",
    deserialize_optional_keep_weekly => "keep_weekly",
    deserialize_optional_keep_monthly => "keep_monthly",
    deserialize_optional_keep_yearly => "keep_yearly",
}

/// A count field (`keep`, `keep_daily`, …): a whole number of 0 or more, written as a number or
/// as text; anything else is an error naming the field and what to write.
struct CountVisitor {
    field: &'static str,
    example: &'static str,
}

impl CountVisitor {
    fn wrong<E: de::Error>(&self, found: impl fmt::Display) -> E {
        E::custom(format!("{} {found}: use {}", self.field, self.example))
    }
}

impl Visitor<'_> for CountVisitor {
    type Value = u64;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str(self.example)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<u64, E> {
        Ok(value)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<u64, E> {
        if self.field == "keep" {
            return self.visit_str(&value.to_string());
        }
        u64::try_from(value).map_err(|_| self.wrong(value))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<u64, E> {
        if self.field == "keep" {
            return self.visit_str(&value.to_string());
        }
        Err(self.wrong(value))
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<u64, E> {
        Err(self.wrong(value))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<u64, E> {
        if self.field == "keep" {
            // One parser with `--keep`: "not a whole number", "negative", the same words.
            return units::parse_count(&crate::sanitize::excerpt(value, 60))
                .map_err(|error| E::custom(format!("keep: {error}")));
        }
        value.trim().parse().map_err(|_| self.wrong(format!("{:?}", crate::sanitize::excerpt(value, 60))))
    }
}

/// `glob: 'logs/**'`: text only. A number or `true` would otherwise become the glob "5" or
/// "true" without a word; a quoted '5' is text and accepted.
fn deserialize_glob<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    deserializer.deserialize_any(GlobVisitor)
}

/// `exclude: ['*.keep']`: a list of globs, each text.
fn deserialize_globs<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    struct Globs(String);

    impl<'de> Deserialize<'de> for Globs {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Globs, D::Error> {
            deserialize_glob(deserializer).map(Globs)
        }
    }

    Ok(Vec::<Globs>::deserialize(deserializer)?.into_iter().map(|glob| glob.0).collect())
}

struct GlobVisitor;

impl GlobVisitor {
    fn not_text<E: de::Error>(found: impl fmt::Display) -> E {
        E::custom(format!(
            "a glob must be text, found {found}; quote it ('{found}') if that is the name to match"
        ))
    }
}

impl Visitor<'_> for GlobVisitor {
    type Value = String;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a glob such as 'logs/**' (text)")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<String, E> {
        Ok(value.to_string())
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<String, E> {
        Err(Self::not_text(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<String, E> {
        Err(Self::not_text(value))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<String, E> {
        Err(Self::not_text(value))
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<String, E> {
        Err(Self::not_text(value))
    }
}

/// `unit: file` or `unit: dir`, named in the message when it is anything else.
fn deserialize_unit<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Unit, D::Error> {
    struct UnitVisitor;

    impl Visitor<'_> for UnitVisitor {
        type Value = Unit;

        fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
            formatter.write_str("file or dir")
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<Unit, E> {
            match value {
                "file" => Ok(Unit::File),
                "dir" => Ok(Unit::Dir),
                other => Err(E::custom(format!(
                    "unit {:?}: use file (each file is an item) or dir (each matched folder is one item)",
                    crate::sanitize::excerpt(other, 60)
                ))),
            }
        }
    }

    deserializer.deserialize_any(UnitVisitor)
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
        load_policy(&path, &mut Vec::new()).map(|policy| policy.rules).map_err(|error| {
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
            error.ends_with(
                "policy.yaml:3:11: keep: invalid count \"x\"; use a whole number of files, such as 10"
            ),
            "{error}"
        );
        // The same words as --keep: "not negative", "a whole number".
        let error = parse("rules:\n  - glob: a\n    keep: -1\n").unwrap_err().to_string();
        assert!(
            error.ends_with(
                "policy.yaml:3:11: keep: \"-1\" is negative; the number of files must not be negative"
            ),
            "{error}"
        );
        let error = parse("rules:\n  - glob: a\n    keep: 10.5\n").unwrap_err().to_string();
        assert!(
            error.ends_with("keep: \"10.5\" is not a whole number; use a whole number of files, such as 10"),
            "{error}"
        );
        let error = parse("rules:\n  - glob:\n    days: 3\n").unwrap_err().to_string();
        assert!(
            error
                .ends_with("policy.yaml:2:5: expected a glob such as 'logs/**' (text), found an empty value"),
            "{error}"
        );
        // Issue 10 audit 6: no parser words ("invalid u64", "expected sequence start",
        // "externally tagged enum"), and a glob that is not text is refused, not stringified.
        for (text, expected) in [
            (
                "rules:\n  - glob: a\n    keep_daily: x\n",
                "policy.yaml:3:17: keep_daily \"x\": use a whole number such as 7",
            ),
            ("rules: 5\n", "policy.yaml:1:8: expected a list here (one \"- item\" per line, or [a, b])"),
            ("exclude: 3\nrules:\n  - glob: a\n    keep: 1\n", "policy.yaml:1:10: expected a list here"),
            (
                "rules:\n  - glob: a\n    keep: 1\n    companions: x\n",
                "policy.yaml:4:17: expected a list here",
            ),
            (
                "rules:\n  - glob: a\n    keep: 1\n    unit: [1]\n",
                "policy.yaml:4:5: expected file or dir, found a list",
            ),
            ("\tx\n", "policy.yaml:1:2: expected fields here (\"name: value\" lines)"),
            (
                "rules:\n  - glob: 5\n    keep: 1\n",
                "policy.yaml:2:11: a glob must be text, found 5; quote it ('5')",
            ),
            (
                "rules:\n  - glob: a\n    keep: 1\nexclude: [true]\n",
                "policy.yaml:4:11: a glob must be text, found true",
            ),
        ] {
            let error = parse(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text:?}: {error}");
            for library in ["invalid u64", "sequence start", "mapping start", "externally tagged", "Option<"]
            {
                assert!(!error.contains(library), "{text:?}: {error}");
            }
        }
        assert_eq!(parse("rules:\n  - glob: '5'\n    keep: 1\n").unwrap()[0].label, "5");
        let error = parse("rules:\n  - glob: a\n    max_size: 2X\n").unwrap_err().to_string();
        assert!(error.contains("policy.yaml:3:") && error.contains("unknown size unit"), "{error}");
    }

    fn shapes(text: &str) -> Result<ShapedPolicy> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.yaml");
        std::fs::write(&path, text).unwrap();
        load_policy(&path, &mut Vec::new()).map_err(|error| {
            anyhow!("{}", crate::output::error_line(&error).replace(&*dir.path().to_string_lossy(), "DIR"))
        })
    }

    #[test]
    fn retention_fields_parse() {
        let ShapedPolicy { rules, min_free } = shapes(
            "min_free: 15%\nrules:\n  - glob: 'soak/*'\n    keep_last: 2\n    keep_daily: 7\n    keep_weekly: '4'\n    \
             keep_within: 36h\n    tz: Europe/Berlin\n    order: name-numeric\n  - glob: 'release/*'\n    keep: 3\n    \
             companions: ['.sha256', '.minisig']\n  - glob: 'runs/RUN_*'\n    unit: dir\n    keep_monthly: 0\n",
        )
        .unwrap();
        assert_eq!(min_free, Some(MinFree::Percent(15.0)));
        let calendar = &rules[0].shape.calendar;
        assert_eq!((calendar.last, calendar.daily, calendar.weekly), (Some(2), Some(7), Some(4)));
        assert_eq!(calendar.within_nanos, Some(36 * 3_600_000_000_000));
        assert_eq!(calendar.tz, chrono_tz::Europe::Berlin);
        assert_eq!(rules[0].shape.order, Order::NameNumeric);
        assert_eq!(rules[1].shape.companions, [b".sha256".to_vec(), b".minisig".to_vec()]);
        assert_eq!(rules[1].limits.keep, Some(3));
        assert_eq!((rules[2].shape.unit, rules[2].shape.calendar.monthly), (Unit::Dir, Some(0)));
        assert_eq!(rules[2].shape.calendar.tz, chrono_tz::Tz::UTC);
        assert_eq!(shapes("rules:\n  - glob: a\n    days: 1\n").unwrap().rules[0].shape, Shape::default());
    }

    #[test]
    fn bad_retention_fields_name_file_line_and_column() {
        let error_of = |text: &str| shapes(text).unwrap_err().to_string();
        let error = error_of("rules:\n  - glob: a\n    days: 7\n    keep_daily: 7\n");
        assert!(error.contains("DIR/policy.yaml:2:") && error.contains("use keep_within"), "{error}");
        let error = error_of("rules:\n  - glob: a\n    keep: 7\n    keep_last: 7\n");
        assert!(
            error.contains("DIR/policy.yaml:2:")
                && error.contains("(they are the same limit); use keep_last"),
            "{error}"
        );
        let error = error_of("rules:\n  - glob: a\n    keep_daily: 7\n    tz: Europe/Berln\n");
        assert!(
            error.contains(
                "policy.yaml:4:9: unknown time zone \"Europe/Berln\"; did you mean \"Europe/Berlin\"?"
            ),
            "{error}"
        );
        let error = error_of("rules:\n  - glob: a\n    keep_daily: -1\n");
        assert!(error.contains("policy.yaml:3:"), "{error}");
        let error = error_of("rules:\n  - glob: a\n    keep: 1\n    order: numeric\n");
        assert!(error.contains("policy.yaml:4:") && error.contains("name-numeric"), "{error}");
        let error = error_of("rules:\n  - glob: a\n    keep: 1\n    companions: ['.sha256', 'x/y']\n");
        assert!(error.contains("policy.yaml:4:") && error.contains("no \"/\""), "{error}");
        let many: Vec<String> = (0..65).map(|index| format!("'.s{index}'")).collect();
        let error =
            error_of(&format!("rules:\n  - glob: a\n    keep: 1\n    companions: [{}]\n", many.join(", ")));
        assert!(
            error.contains("policy.yaml:4:") && error.contains("65 companion suffixes; at most 64"),
            "{error}"
        );
        let error = error_of("rules:\n  - glob: a\n    keep: 1\n    companions: ['.a', '.a']\n");
        assert!(error.contains("policy.yaml:4:") && error.contains("listed twice"), "{error}");
        let error = error_of("rules:\n  - glob: a\n    keep: 1\n    unit: dir\n    companions: ['.a']\n");
        assert!(error.contains("policy.yaml:2:") && error.contains("remove companions"), "{error}");
        let error = error_of("rules:\n  - glob: a\n    keep: 1\n    tz: UTC\n");
        assert!(error.contains("tz only affects"), "{error}");
        let error = error_of("min_free: 120%\nrules:\n  - glob: a\n    keep: 1\n");
        assert!(error.contains("policy.yaml:1:") && error.contains("from 0 to 100"), "{error}");
        let error = error_of("rules:\n  - glob: a\n    keep_within: 0s\n");
        assert!(error.contains("policy.yaml:3:") && error.contains("greater than zero"), "{error}");
    }

    fn retention(rules: &str) -> Retention {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.yaml");
        std::fs::write(&path, rules).unwrap();
        let ShapedPolicy { rules, min_free } = load_policy(&path, &mut Vec::new()).unwrap();
        Retention { source: Source::Flags, rules, excludes: Vec::new(), min_free }
    }

    /// A sidecar belongs to its primary's rule even when its own name matches an earlier rule
    /// (or none): counted apart, zips and sidecars drifted.
    #[test]
    fn companions_follow_their_primary_and_folders_match_dir_rules() {
        let policy = retention(
            "rules:\n  - glob: '**/*.sha256'\n    keep: 1\n  - glob: 'release/*.zip'\n    keep: 3\n    \
             companions: ['.sha256', '.minisig', '.intoto.json']\n  - glob: 'runs/RUN_*'\n    unit: dir\n    \
             keep_last: 2\n  - glob: 'release/**'\n    keep: 9\n",
        );
        let rule = |path: &str| policy.rule_for(Path::new(path));
        assert_eq!(rule("release/a.zip"), Some(1));
        assert_eq!(rule("release/a.zip.sha256"), Some(1));
        assert_eq!(rule("release/a.zip.sha256.minisig"), Some(1));
        assert_eq!(rule("release/a.zip.intoto.json"), Some(1));
        // An orphan sidecar too: its would-be primary's name is the rule's.
        assert_eq!(rule("release/gone.zip.minisig"), Some(1));
        assert_eq!(rule("release/sub/a.zip.sha256"), Some(0));
        assert_eq!(rule("release/notes.txt.minisig"), Some(3));
        assert_eq!(rule("runs/RUN_1/a.log"), Some(2));
        assert_eq!(rule("runs/RUN_1/deep/er/a.log"), Some(2));
        assert_eq!(rule("runs/RUN_1"), None);
        assert_eq!(rule("runs/other/a.log"), None);
        assert_eq!(
            unit_folder(&PathGlob::new("RUN_*").unwrap(), Path::new("a/RUN_1/RUN_2/x")),
            Some(Path::new("a/RUN_1"))
        );
    }

    /// Regression (attack): companion suffixes that end in each other made classifying one
    /// file take exponential time.
    #[test]
    fn suffixes_ending_in_each_other_classify_in_linear_time() {
        let suffixes: Vec<String> = (1..=40).map(|length| format!("'{}'", "a".repeat(length))).collect();
        let policy = retention(&format!(
            "rules:\n  - glob: 'x*'\n    keep: 1\n    companions: [{}]\n",
            suffixes.join(", ")
        ));
        let start = std::time::Instant::now();
        let path = format!("x{}", "a".repeat(200));
        assert_eq!(policy.rule_for(Path::new(&path)), Some(0));
        assert_eq!(policy.rule_for(Path::new(&format!("y{}", "a".repeat(200)))), None);
        assert!(start.elapsed() < std::time::Duration::from_secs(2), "took {:?}", start.elapsed());
    }
}
