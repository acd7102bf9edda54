//! What to delete, decided without touching the disk.
//!
//! Files are ordered oldest modification time first, ties broken by relative path. Within each
//! rule's group the three limits each select a prefix of that order: TTL (age strictly greater
//! than N days), count (all but the N newest) and size (oldest first until the kept total is at
//! most the limit). The union is the longest prefix, and each selected file carries the first
//! limit that selects it (`ttl`, then `count`, then `size`). Files dated in the future are never
//! selected: a clock running behind must not destroy fresh data.

use std::cmp::Ordering;

use serde::Serialize;

/// Nanoseconds in a day, for converting `days` limits.
const NANOS_PER_DAY: f64 = 86_400e9;

/// The limits of one rule; `None` means "not given". `Some(0)` is a real value.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Limits {
    pub days: Option<f64>,
    pub keep: Option<u64>,
    pub max_size: Option<u64>,
}

impl Limits {
    pub fn is_empty(&self) -> bool {
        self.days.is_none() && self.keep.is_none() && self.max_size.is_none()
    }
}

/// Why a file was selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Reason {
    Ttl,
    Count,
    Size,
    /// Not kept by any `keep_*` period of a rule that has one.
    Retention,
    /// A companion (`.sha256`, ...) whose primary file is gone.
    Orphan,
    /// Taken by `--min-free` to reach the free-space target.
    MinFree,
}

impl Reason {
    pub fn label(self) -> &'static str {
        match self {
            Reason::Ttl => "ttl",
            Reason::Count => "count",
            Reason::Size => "size",
            Reason::Retention => "retention",
            Reason::Orphan => "orphan",
            Reason::MinFree => "min_free",
        }
    }
}

/// What the planner needs to know about a candidate file.
pub(crate) trait PlanFile {
    /// Modification time in nanoseconds since the Unix epoch.
    fn mtime_nanos(&self) -> i128;
    fn size(&self) -> u64;
    /// Index of the rule the file belongs to, `None` when no rule covers it (kept).
    fn rule(&self) -> Option<usize>;
}

/// Totals for one rule (or for the files no rule covers).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct GroupSummary {
    pub files: u64,
    pub bytes: u64,
    pub selected_files: u64,
    pub selected_bytes: u64,
    pub kept_files: u64,
    pub kept_bytes: u64,
    /// Files dated after "now", kept whatever the limits say.
    pub future_files: u64,
    /// Limits the kept files still exceed because future-dated files cannot be deleted.
    pub unmet: Vec<String>,
    /// The newest file's mtime, for the guards' messages.
    #[serde(skip)]
    pub newest_nanos: Option<i128>,
}

/// The decision: which files go, in oldest-first order, and the per-rule totals.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    /// Indices into the candidate list with their reason, oldest first.
    pub selected: Vec<(u32, Reason)>,
    /// Indices of files dated in the future, oldest first.
    pub future: Vec<u32>,
    /// One summary per rule, in rule order.
    pub groups: Vec<GroupSummary>,
    /// Files no rule covers (kept).
    pub uncovered: GroupSummary,
}

impl Plan {
    pub fn selected_bytes<F: PlanFile>(&self, files: &[F]) -> u64 {
        self.selected.iter().map(|(index, _)| files[*index as usize].size()).sum()
    }
}

/// `all 3 files`, or `the only file` for one.
fn all_of(files: u64, noun: &str) -> String {
    if files == 1 { format!("the only {noun}") } else { format!("all {files} {noun}s") }
}

/// Plans one run. `tie` orders files with equal mtimes (by relative path); `now_nanos` is the
/// run's "now". `files.len()` must fit in `u32`.
pub(crate) fn plan<F: PlanFile>(
    files: &[F],
    tie: impl Fn(&F, &F) -> Ordering,
    rules: &[Limits],
    now_nanos: i128,
) -> Plan {
    let mut order: Vec<u32> = (0..files.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| {
        let (left, right) = (&files[a as usize], &files[b as usize]);
        left.mtime_nanos().cmp(&right.mtime_nanos()).then_with(|| tie(left, right))
    });

    let mut members: Vec<Vec<u32>> = vec![Vec::new(); rules.len()];
    let mut uncovered = GroupSummary::default();
    for &index in &order {
        let file = &files[index as usize];
        match file.rule() {
            Some(rule) => members[rule].push(index),
            None => {
                uncovered.files += 1;
                uncovered.bytes += file.size();
                if file.mtime_nanos() > now_nanos {
                    uncovered.future_files += 1;
                }
            }
        }
    }
    uncovered.kept_files = uncovered.files;
    uncovered.kept_bytes = uncovered.bytes;

    let mut reasons: Vec<Option<Reason>> = vec![None; files.len()];
    let mut groups = Vec::with_capacity(rules.len());
    for (limits, group) in rules.iter().zip(&members) {
        groups.push(plan_group(files, group, limits, now_nanos, &mut reasons));
    }

    let mut selected = Vec::new();
    let mut future = Vec::new();
    for &index in &order {
        if let Some(reason) = reasons[index as usize] {
            selected.push((index, reason));
        } else if files[index as usize].mtime_nanos() > now_nanos {
            future.push(index);
        }
    }
    Plan { selected, future, groups, uncovered }
}

/// Applies one rule's limits to its files (already oldest first) and records the reasons.
fn plan_group<F: PlanFile>(
    files: &[F],
    group: &[u32],
    limits: &Limits,
    now_nanos: i128,
    reasons: &mut [Option<Reason>],
) -> GroupSummary {
    let mtime = |position: usize| files[group[position] as usize].mtime_nanos();
    let size = |position: usize| files[group[position] as usize].size();
    let total_files = group.len();
    let total_bytes: u64 = (0..total_files).map(size).sum();
    // Future-dated files sit at the end of the order; no prefix may reach into them.
    let deletable = group.partition_point(|&index| files[index as usize].mtime_nanos() <= now_nanos);

    let ttl_prefix = limits.days.map_or(0, |days| {
        let max_age = (days * NANOS_PER_DAY).round() as i128;
        (0..deletable).take_while(|&position| now_nanos - mtime(position) > max_age).count()
    });
    let count_prefix = limits.keep.map_or(0, |keep| {
        let excess = total_files.saturating_sub(usize::try_from(keep).unwrap_or(usize::MAX));
        excess.min(deletable)
    });
    let size_prefix = limits.max_size.map_or(0, |max_size| {
        let mut kept = total_bytes;
        let mut prefix = 0;
        while kept > max_size && prefix < deletable {
            kept -= size(prefix);
            prefix += 1;
        }
        prefix
    });

    let selected = ttl_prefix.max(count_prefix).max(size_prefix);
    let mut selected_bytes = 0;
    for position in 0..selected {
        let reason = if position < ttl_prefix {
            Reason::Ttl
        } else if position < count_prefix {
            Reason::Count
        } else {
            Reason::Size
        };
        reasons[group[position] as usize] = Some(reason);
        selected_bytes += size(position);
    }

    let kept_files = (total_files - selected) as u64;
    let kept_bytes = total_bytes - selected_bytes;
    let mut unmet = Vec::new();
    if let Some(keep) = limits.keep.filter(|&keep| kept_files > keep) {
        unmet.push(format!("keep {keep}"));
    }
    if let Some(max_size) = limits.max_size.filter(|&max_size| kept_bytes > max_size) {
        unmet.push(format!("max_size {max_size}"));
    }
    GroupSummary {
        files: total_files as u64,
        bytes: total_bytes,
        selected_files: selected as u64,
        selected_bytes,
        kept_files,
        kept_bytes,
        future_files: (total_files - deletable) as u64,
        unmet,
        newest_nanos: group.last().map(|&index| files[index as usize].mtime_nanos()),
    }
}

/// Why a real run must not go ahead.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Refusal {
    /// Every candidate would go (a clock far ahead makes every file look old).
    DeleteAll { files: u64 },
    /// More than `--max-delete`.
    TooMany { files: u64, max_delete: u64 },
    /// A rule with an age limit would lose every file of its group.
    GroupDeleteAll { rule: String, files: u64, newest_age_days: f64 },
    /// The newest file of the whole tree is older than the smallest age limit in force: the
    /// clock jumped ahead, or every writer stopped; either way a person should look first.
    AllStale {
        newest: String,
        newest_age_days: f64,
        rule: String,
        limit_days: f64,
        limit_field: &'static str,
    },
}

impl Refusal {
    /// The one-line explanation with the override.
    pub fn message(&self) -> String {
        match self {
            Refusal::DeleteAll { files } => format!(
                "refusing to delete {} (a clock far ahead or a limit of 0 makes \
                 every file look old); check the clock and the limits, or pass --allow-delete-all",
                all_of(*files, "candidate file")
            ),
            Refusal::TooMany { files, max_delete } => format!(
                "refusing to delete {files} files, more than --max-delete {max_delete}; check the limits, \
                 or raise --max-delete"
            ),
            Refusal::GroupDeleteAll { rule, files, newest_age_days } => format!(
                "refusing to delete {} of rule {rule}: even its newest file is \
                 {newest_age_days:.1} days old (the clock jumped ahead, or its writer stopped); check the \
                 clock and the writer, or pass --allow-delete-all",
                all_of(*files, "file")
            ),
            Refusal::AllStale { newest, newest_age_days, rule, limit_days, limit_field } => format!(
                "refusing to run: the newest file of the whole tree ({newest}) is {newest_age_days:.1} days \
                 old, older than the smallest age limit in force ({limit_field} {} of rule {rule}), so the \
                 clock jumped ahead or every writer stopped; check the clock, or pass --allow-delete-all",
                if *limit_field == "days" { limit_days.to_string() } else { format!("{limit_days}d") }
            ),
        }
    }
}

/// One rule as the guards see it.
pub(crate) struct GuardRule<'a> {
    pub label: &'a str,
    pub limits: Limits,
    /// `keep_within` in days when it is the rule's only `keep_*` field: then it is an age limit
    /// exactly as `days` is (the field `days` combines with none), and a clock far ahead makes
    /// it select every file just the same.
    pub within_days: Option<f64>,
    pub summary: &'a GroupSummary,
}

impl GuardRule<'_> {
    /// The rule's age limit in days and the field that set it.
    fn age_limit(&self) -> Option<(f64, &'static str)> {
        match (self.limits.days, self.within_days) {
            (Some(days), _) => Some((days, "days")),
            (None, Some(within)) => Some((within, "keep_within")),
            (None, None) => None,
        }
    }
}

/// What the guards need to know about the run, besides the plan.
pub(crate) struct GuardInput<'a> {
    pub selected: u64,
    pub candidates: u64,
    pub rules: Vec<GuardRule<'a>>,
    /// The newest candidate's path (as printed) and mtime, when there is any candidate.
    pub newest: Option<(String, i128)>,
    pub now_nanos: i128,
    pub allow_delete_all: bool,
    pub max_delete: Option<u64>,
}

fn age_days(now_nanos: i128, mtime_nanos: i128) -> f64 {
    (now_nanos - mtime_nanos) as f64 / NANOS_PER_DAY
}

/// The safety guards, checked after planning and before anything is deleted.
pub(crate) fn check_guards(input: &GuardInput<'_>) -> Option<Refusal> {
    if let Some(max_delete) = input.max_delete.filter(|&max| input.selected > max) {
        return Some(Refusal::TooMany { files: input.selected, max_delete });
    }
    if input.allow_delete_all || input.selected == 0 {
        return None;
    }
    if input.selected == input.candidates {
        return Some(Refusal::DeleteAll { files: input.selected });
    }
    for rule in &input.rules {
        let summary = rule.summary;
        if rule.age_limit().is_some() && summary.files > 0 && summary.selected_files == summary.files {
            let newest_age_days =
                summary.newest_nanos.map_or(0.0, |newest| age_days(input.now_nanos, newest));
            return Some(Refusal::GroupDeleteAll {
                rule: rule.label.to_string(),
                files: summary.files,
                newest_age_days,
            });
        }
    }
    let smallest = input
        .rules
        .iter()
        .filter(|rule| rule.summary.files > 0)
        .filter_map(|rule| rule.age_limit().map(|(days, field)| (days, field, rule.label)))
        .min_by(|a, b| a.0.total_cmp(&b.0));
    if let (Some((limit_days, limit_field, rule)), Some((newest, mtime))) = (smallest, &input.newest) {
        let newest_age_days = age_days(input.now_nanos, *mtime);
        if newest_age_days > limit_days {
            return Some(Refusal::AllStale {
                newest: newest.clone(),
                newest_age_days,
                rule: rule.to_string(),
                limit_days,
                limit_field,
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: i128 = 86_400_000_000_000;
    const NOW: i128 = 1_000 * DAY;

    #[derive(Debug, Clone)]
    struct File {
        path: String,
        mtime: i128,
        size: u64,
        rule: Option<usize>,
    }

    impl PlanFile for File {
        fn mtime_nanos(&self) -> i128 {
            self.mtime
        }
        fn size(&self) -> u64 {
            self.size
        }
        fn rule(&self) -> Option<usize> {
            self.rule
        }
    }

    fn file(path: &str, age_days: f64, size: u64) -> File {
        File { path: path.into(), mtime: NOW - (age_days * DAY as f64) as i128, size, rule: Some(0) }
    }

    fn run(files: &[File], limits: Limits) -> Vec<(String, Reason)> {
        plan(files, |a, b| a.path.cmp(&b.path), &[limits], NOW)
            .selected
            .iter()
            .map(|(index, reason)| (files[*index as usize].path.clone(), *reason))
            .collect()
    }

    fn names(selected: &[(String, Reason)]) -> Vec<&str> {
        selected.iter().map(|(path, _)| path.as_str()).collect()
    }

    #[test]
    fn ttl_is_strict_and_zero_selects_everything_older_than_now() {
        let files = [file("a", 7.0, 1), file("b", 7.5, 1), file("c", 0.0, 1), file("d", 0.001, 1)];
        assert_eq!(names(&run(&files, Limits { days: Some(7.0), ..Limits::default() })), ["b"]);
        assert_eq!(names(&run(&files, Limits { days: Some(0.0), ..Limits::default() })), ["b", "a", "d"]);
    }

    #[test]
    fn keep_counts_newest_and_zero_keeps_none() {
        let files = [file("a", 3.0, 1), file("b", 1.0, 1), file("c", 2.0, 1)];
        assert_eq!(
            run(&files, Limits { keep: Some(1), ..Limits::default() }),
            [("a".into(), Reason::Count), ("c".into(), Reason::Count)]
        );
        assert_eq!(names(&run(&files, Limits { keep: Some(0), ..Limits::default() })), ["a", "c", "b"]);
        assert!(run(&files, Limits { keep: Some(5), ..Limits::default() }).is_empty());
    }

    #[test]
    fn size_deletes_oldest_until_total_fits() {
        let files = [file("a", 3.0, 100), file("b", 2.0, 50), file("c", 1.0, 30)];
        assert_eq!(names(&run(&files, Limits { max_size: Some(79), ..Limits::default() })), ["a", "b"]);
        assert_eq!(names(&run(&files, Limits { max_size: Some(80), ..Limits::default() })), ["a"]);
        assert_eq!(
            names(&run(&files, Limits { max_size: Some(180), ..Limits::default() })),
            Vec::<&str>::new()
        );
        assert_eq!(names(&run(&files, Limits { max_size: Some(0), ..Limits::default() })), ["a", "b", "c"]);
    }

    #[test]
    fn union_carries_first_reason() {
        let files = [file("a", 10.0, 10), file("b", 5.0, 10), file("c", 4.0, 10), file("d", 1.0, 10)];
        let limits = Limits { days: Some(7.0), keep: Some(3), max_size: Some(10) };
        assert_eq!(
            run(&files, limits),
            [("a".into(), Reason::Ttl), ("b".into(), Reason::Size), ("c".into(), Reason::Size)]
        );
        let limits = Limits { days: Some(7.0), keep: Some(2), max_size: None };
        assert_eq!(run(&files, limits), [("a".into(), Reason::Ttl), ("b".into(), Reason::Count)]);
    }

    #[test]
    fn ties_are_broken_by_path() {
        let files = [file("b", 2.0, 1), file("a", 2.0, 1), file("c", 2.0, 1)];
        assert_eq!(names(&run(&files, Limits { keep: Some(1), ..Limits::default() })), ["a", "b"]);
    }

    #[test]
    fn future_files_are_never_selected_and_limits_report_unmet() {
        let files = [file("old", 30.0, 10), file("future", -2.0, 100)];
        let result =
            plan(&files, |a, b| a.path.cmp(&b.path), &[Limits { keep: Some(0), ..Limits::default() }], NOW);
        assert_eq!(result.selected, [(0, Reason::Count)]);
        assert_eq!(result.future, [1]);
        assert_eq!(result.groups[0].unmet, ["keep 0"]);
        assert_eq!(result.groups[0].future_files, 1);
        let result =
            plan(&files, |a, b| a.path.cmp(&b.path), &[Limits { days: Some(0.0), ..Limits::default() }], NOW);
        assert_eq!(result.selected, [(0, Reason::Ttl)]);
    }

    #[test]
    fn rules_apply_within_their_group_and_uncovered_files_are_kept() {
        let mut files =
            vec![file("logs/a", 3.0, 1), file("logs/b", 2.0, 1), file("rep/a", 9.0, 1), file("x", 99.0, 1)];
        files[2].rule = Some(1);
        files[3].rule = None;
        let rules =
            [Limits { keep: Some(1), ..Limits::default() }, Limits { days: Some(10.0), ..Limits::default() }];
        let result = plan(&files, |a, b| a.path.cmp(&b.path), &rules, NOW);
        assert_eq!(result.selected, [(0, Reason::Count)]);
        assert_eq!(result.uncovered.kept_files, 1);
        assert_eq!(result.groups[1].kept_files, 1);
    }

    fn guards(selected: u64, candidates: u64, allow: bool, max: Option<u64>) -> Option<Refusal> {
        check_guards(&GuardInput {
            selected,
            candidates,
            rules: Vec::new(),
            newest: None,
            now_nanos: NOW,
            allow_delete_all: allow,
            max_delete: max,
        })
    }

    #[test]
    fn guards_refuse_delete_all_and_too_many() {
        assert_eq!(guards(3, 3, false, None), Some(Refusal::DeleteAll { files: 3 }));
        assert_eq!(guards(3, 3, true, None), None);
        assert_eq!(guards(0, 0, false, None), None);
        assert_eq!(guards(2, 3, false, Some(1)), Some(Refusal::TooMany { files: 2, max_delete: 1 }));
        assert_eq!(guards(2, 3, false, Some(2)), None);
    }

    #[test]
    fn guards_refuse_a_group_losing_every_file_and_a_tree_older_than_the_smallest_age_limit() {
        // One kept file elsewhere (a keep rule) used to disable the global guard for good.
        let mut files = vec![file("logs/a", 40.0, 1), file("logs/b", 35.0, 1), file("release/r", 400.0, 1)];
        files[2].rule = Some(1);
        let rules =
            [Limits { days: Some(7.0), ..Limits::default() }, Limits { keep: Some(10), ..Limits::default() }];
        let result = plan(&files, |a, b| a.path.cmp(&b.path), &rules, NOW);
        let input = |newest_age: f64, allow| GuardInput {
            selected: result.selected.len() as u64,
            candidates: 3,
            rules: vec![
                GuardRule {
                    label: "logs/**",
                    limits: rules[0],
                    within_days: None,
                    summary: &result.groups[0],
                },
                GuardRule {
                    label: "release/**",
                    limits: rules[1],
                    within_days: None,
                    summary: &result.groups[1],
                },
            ],
            newest: Some(("logs/b".to_string(), NOW - (newest_age * DAY as f64) as i128)),
            now_nanos: NOW,
            allow_delete_all: allow,
            max_delete: None,
        };
        let refusal = check_guards(&input(35.0, false)).unwrap();
        assert_eq!(
            refusal,
            Refusal::GroupDeleteAll { rule: "logs/**".into(), files: 2, newest_age_days: 35.0 }
        );
        assert!(refusal.message().contains("rule logs/**") && refusal.message().contains("35.0 days old"));
        assert_eq!(check_guards(&input(35.0, true)), None);
        // Nothing would be deleted by the age rule, but the newest file is older than 7 days.
        let files = [file("logs/a", 3.0, 1), file("logs/b", 8.0, 1)];
        let result = plan(&files, |a, b| a.path.cmp(&b.path), &rules[..1], NOW);
        let input = GuardInput {
            selected: 1,
            candidates: 2,
            rules: vec![GuardRule {
                label: "logs/**",
                limits: rules[0],
                within_days: None,
                summary: &result.groups[0],
            }],
            newest: Some(("logs/a".to_string(), NOW - 8 * DAY)),
            now_nanos: NOW,
            allow_delete_all: false,
            max_delete: None,
        };
        let refusal = check_guards(&input).unwrap();
        assert!(matches!(refusal, Refusal::AllStale { limit_days, .. } if limit_days == 7.0), "{refusal:?}");
        assert!(refusal.message().contains("(logs/a) is 8.0 days old"), "{}", refusal.message());
    }

    fn arbitrary_files() -> impl Strategy<Value = Vec<File>> {
        prop::collection::vec(
            (0u8..20, -3i64..60, 0u64..5_000, prop::option::weighted(0.9, 0usize..3)),
            0..60,
        )
        .prop_map(|specs| {
            specs
                .into_iter()
                .enumerate()
                .map(|(index, (dir, age_hours, size, rule))| File {
                    path: format!("d{dir}/f{index}"),
                    mtime: NOW - i128::from(age_hours) * DAY / 24 * 6,
                    size,
                    rule,
                })
                .collect()
        })
    }

    fn arbitrary_limits() -> impl Strategy<Value = Limits> {
        (
            prop::option::of(prop::sample::select(vec![0.0, 0.5, 1.0, 3.0, 7.0, 30.0])),
            prop::option::of(0u64..20),
            prop::option::of(0u64..40_000),
        )
            .prop_map(|(days, keep, max_size)| Limits { days, keep, max_size })
    }

    proptest! {
        /// After rotation every group's kept files satisfy every limit (unless future-dated
        /// files make that impossible, which is then reported), nothing uncovered or future is
        /// selected, and each selected file is justified by its reason.
        #[test]
        fn kept_files_satisfy_every_limit(files in arbitrary_files(), rules in prop::collection::vec(arbitrary_limits(), 3)) {
            let result = plan(&files, |a, b| a.path.cmp(&b.path), &rules, NOW);
            let selected: std::collections::BTreeMap<u32, Reason> = result.selected.iter().copied().collect();
            prop_assert_eq!(selected.len(), result.selected.len(), "a file was selected twice");
            for (rule_index, limits) in rules.iter().enumerate() {
                let kept: Vec<&File> = files.iter().enumerate()
                    .filter(|(index, file)| file.rule == Some(rule_index) && !selected.contains_key(&(*index as u32)))
                    .map(|(_, file)| file).collect();
                let future = kept.iter().filter(|file| file.mtime > NOW).count() as u64;
                let future_bytes: u64 = kept.iter().filter(|file| file.mtime > NOW).map(|file| file.size).sum();
                if let Some(days) = limits.days {
                    let max_age = (days * DAY as f64).round() as i128;
                    prop_assert!(kept.iter().all(|file| NOW - file.mtime <= max_age));
                }
                if let Some(keep) = limits.keep {
                    prop_assert!(kept.len() as u64 <= keep.max(future));
                }
                if let Some(max_size) = limits.max_size {
                    let total: u64 = kept.iter().map(|file| file.size).sum();
                    prop_assert!(total <= max_size.max(future_bytes));
                }
                let summary = &result.groups[rule_index];
                prop_assert_eq!(summary.kept_files, kept.len() as u64);
                prop_assert_eq!(summary.unmet.is_empty(),
                    limits.keep.is_none_or(|keep| kept.len() as u64 <= keep)
                    && limits.max_size.is_none_or(|max| kept.iter().map(|file| file.size).sum::<u64>() <= max));
            }
            for (&index, reason) in &selected {
                let file = &files[index as usize];
                prop_assert!(file.mtime <= NOW, "a future-dated file was selected");
                let rule = file.rule.expect("an uncovered file was selected");
                let limits = &rules[rule];
                match reason {
                    Reason::Ttl => prop_assert!(NOW - file.mtime > (limits.days.unwrap() * DAY as f64).round() as i128),
                    Reason::Count => prop_assert!(limits.keep.is_some()),
                    Reason::Size => prop_assert!(limits.max_size.is_some()),
                    Reason::Retention | Reason::Orphan | Reason::MinFree => {
                        prop_assert!(false, "plan() gave {:?}, which only retention rules give", reason)
                    }
                }
            }
            // Oldest first, ties by path.
            let keys: Vec<(i128, &str)> = result.selected.iter()
                .map(|(index, _)| (files[*index as usize].mtime, files[*index as usize].path.as_str())).collect();
            prop_assert!(keys.windows(2).all(|pair| pair[0] <= pair[1]));
        }

        /// Minimality: a file is kept only if deleting everything up to it would overshoot every
        /// limit (i.e. the planner never deletes more than the union of the three prefixes).
        #[test]
        fn selection_is_a_prefix_of_each_group(mut files in arbitrary_files(), limits in arbitrary_limits()) {
            for file in &mut files {
                file.rule = file.rule.map(|_| 0);
            }
            let result = plan(&files, |a, b| a.path.cmp(&b.path), &[limits], NOW);
            let selected: std::collections::BTreeSet<u32> = result.selected.iter().map(|(index, _)| *index).collect();
            let mut order: Vec<usize> = (0..files.len()).filter(|&index| files[index].rule == Some(0)).collect();
            order.sort_by(|&a, &b| files[a].mtime.cmp(&files[b].mtime).then(files[a].path.cmp(&files[b].path)));
            let flags: Vec<bool> = order.iter().map(|&index| selected.contains(&(index as u32))).collect();
            prop_assert!(flags.windows(2).all(|pair| pair[0] || !pair[1]), "selection is not a prefix: {:?}", flags);
        }
    }
}
