//! Restic-grade retention for one rule's group, decided without touching the disk: calendar
//! periods and `keep_within` with restic `forget` semantics, the `order` comparators, companion
//! files that live and die with their primary, folders as items, and the free-space target.
//!
//! Semantics (restic `forget`, checked against restic itself by the oracle test below):
//! - items are walked newest first; for each of `keep_hourly`/`daily`/`weekly`/`monthly`/`yearly`
//!   the first item seen in a period that differs from the previous kept one of that rule is kept,
//!   until the rule's count is used up — so "the newest item of each of the last N periods that
//!   contain an item". Periods are local wall-clock periods in `tz`; weeks are ISO weeks (a week
//!   belongs to the year of its Thursday); the hour repeated when summer time ends is one period.
//! - `keep_last N` keeps the N last items of the rule's `order` (newest for `order: mtime`).
//! - `keep_within D` keeps items strictly younger than D relative to "now" (restic measures from
//!   the newest snapshot; the oracle passes that as "now"). D is an exact duration: `7d` is 168 h
//!   even across a summer-time change, where restic would count calendar days.
//! - an item kept by any rule is kept; every other item is selected with reason `retention`.
//! - equal times (restic leaves the order of equal-time snapshots to its storage order): the item
//!   that comes later in the rule's order — by relative path for `order: mtime` — counts as the
//!   newer one, so it is the one a period keeps.
//! - items dated after "now" and protected items are set aside first: kept, and they take no
//!   place in any count or period (a clock running behind must not push out real history).
//! - `max_size` applies after the periods: kept items go first-in-order until the kept total
//!   (set-aside items included, since they use the disk too) fits, with reason `size`.

use std::cmp::Ordering;
use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDateTime, TimeZone, Timelike};
use chrono_tz::Tz;

use super::plan::{GroupSummary, Reason};

const NANOS_PER_SECOND: i128 = 1_000_000_000;
/// About ±253,000 years: inside chrono's range even after adding a zone offset.
const SECONDS_LIMIT: i128 = 8_000_000_000_000;

/// The `keep_*` fields of one rule. `None` means "not given"; `Some(0)` keeps nothing by that
/// field (but still makes the rule a retention rule).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Calendar {
    pub last: Option<u64>,
    pub hourly: Option<u64>,
    pub daily: Option<u64>,
    pub weekly: Option<u64>,
    pub monthly: Option<u64>,
    pub yearly: Option<u64>,
    /// `keep_within` in nanoseconds.
    pub within_nanos: Option<i128>,
    /// The zone periods are computed in.
    pub tz: Tz,
}

impl Default for Calendar {
    fn default() -> Calendar {
        Calendar {
            last: None,
            hourly: None,
            daily: None,
            weekly: None,
            monthly: None,
            yearly: None,
            within_nanos: None,
            tz: Tz::UTC,
        }
    }
}

impl Calendar {
    /// Whether any `keep_*` field is given (the rule then selects every item no field keeps).
    pub fn is_active(&self) -> bool {
        self.last.is_some() || self.within_nanos.is_some() || self.period_counts().iter().any(Option::is_some)
    }

    pub fn period_counts(&self) -> [Option<u64>; 5] {
        [self.hourly, self.daily, self.weekly, self.monthly, self.yearly]
    }
}

/// Which `keep_*` field kept an item, as bits (an item can be kept by several).
pub(crate) mod kept_by {
    pub const LAST: u8 = 1;
    pub const HOURLY: u8 = 2;
    pub const DAILY: u8 = 4;
    pub const WEEKLY: u8 = 8;
    pub const MONTHLY: u8 = 16;
    pub const YEARLY: u8 = 32;
    pub const WITHIN: u8 = 64;
    /// In period-count order: hourly, daily, weekly, monthly, yearly.
    pub const PERIODS: [u8; 5] = [HOURLY, DAILY, WEEKLY, MONTHLY, YEARLY];
}

/// The local wall-clock time of an instant in `tz`; times outside chrono's range are clamped
/// (they all fall in one far-away period, which is what restic would make of them too).
fn local_time(tz: Tz, nanos: i128) -> NaiveDateTime {
    let seconds = nanos.div_euclid(NANOS_PER_SECOND).clamp(-SECONDS_LIMIT, SECONDS_LIMIT) as i64;
    let utc = DateTime::from_timestamp(seconds, 0).unwrap_or(DateTime::UNIX_EPOCH).naive_utc();
    tz.from_utc_datetime(&utc).naive_local()
}

/// restic's period numbers (`ymdh`, `ymd`, `yw`, `ym`, `y`) for period kind 0..5.
fn period(kind: usize, local: &NaiveDateTime) -> i64 {
    let (year, month, day) = (i64::from(local.year()), i64::from(local.month()), i64::from(local.day()));
    match kind {
        0 => ((year * 100 + month) * 100 + day) * 100 + i64::from(local.hour()),
        1 => (year * 100 + month) * 100 + day,
        2 => {
            let week = local.iso_week();
            i64::from(week.year()) * 100 + i64::from(week.week())
        }
        3 => year * 100 + month,
        _ => year,
    }
}

/// Marks what the calendar keeps, as [`kept_by`] bits per index into `times`.
///
/// `newest_first` lists the items to consider, time descending, equal times with the later one
/// in the rule's order first. `last_first` lists the same items in the rule's order, last first
/// (`keep_last` counts there; pass `newest_first` again for `order: mtime`).
pub(crate) fn calendar_keep(
    calendar: &Calendar,
    times: &[i128],
    newest_first: &[u32],
    last_first: &[u32],
    now_nanos: i128,
) -> Vec<u8> {
    let mut flags = vec![0u8; times.len()];
    if let Some(last) = calendar.last {
        for &index in last_first.iter().take(usize::try_from(last).unwrap_or(usize::MAX)) {
            flags[index as usize] |= kept_by::LAST;
        }
    }
    let mut remaining = calendar.period_counts().map(|count| count.unwrap_or(0));
    let mut previous: [Option<i64>; 5] = [None; 5];
    for &index in newest_first {
        let time = times[index as usize];
        if calendar.within_nanos.is_some_and(|within| now_nanos - time < within) {
            flags[index as usize] |= kept_by::WITHIN;
        }
        if remaining.iter().all(|&count| count == 0) {
            continue;
        }
        let local = local_time(calendar.tz, time);
        for kind in 0..5 {
            if remaining[kind] == 0 {
                continue;
            }
            let value = period(kind, &local);
            if previous[kind] != Some(value) {
                previous[kind] = Some(value);
                remaining[kind] -= 1;
                flags[index as usize] |= kept_by::PERIODS[kind];
            }
        }
    }
    flags
}

/// The order `keep`, `keep_last` and `max_size` use within a rule (policy field `order`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Order {
    /// Oldest modification time first; equal times by relative path.
    #[default]
    Mtime,
    /// Relative path, byte by byte.
    Name,
    /// Relative path with digit runs compared as numbers (`RUN_9` before `RUN_10`).
    NameNumeric,
}

impl Order {
    pub fn compare(self, left: (i128, &[u8]), right: (i128, &[u8])) -> Ordering {
        match self {
            Order::Mtime => left.0.cmp(&right.0).then_with(|| left.1.cmp(right.1)),
            Order::Name => left.1.cmp(right.1),
            Order::NameNumeric => compare_name_numeric(left.1, right.1),
        }
    }
}

/// Natural order: runs of ASCII digits compare as numbers, everything else byte by byte. A digit
/// run against another byte compares as a digit would (digits are one contiguous byte range, so
/// this stays a total order). Equal numbers with different leading zeros, then the raw bytes,
/// break the remaining ties, so only equal names compare equal.
pub(crate) fn compare_name_numeric(left: &[u8], right: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    let mut zeros = Ordering::Equal;
    while i < left.len() && j < right.len() {
        if left[i].is_ascii_digit() && right[j].is_ascii_digit() {
            let run_end = |text: &[u8], start: usize| {
                start + text[start..].iter().take_while(|byte| byte.is_ascii_digit()).count()
            };
            let (left_end, right_end) = (run_end(left, i), run_end(right, j));
            let strip = |run: &'_ [u8]| -> usize { run.iter().take_while(|&&byte| byte == b'0').count() };
            let (left_zeros, right_zeros) = (strip(&left[i..left_end]), strip(&right[j..right_end]));
            let (left_digits, right_digits) =
                (&left[i + left_zeros..left_end], &right[j + right_zeros..right_end]);
            let by_value =
                left_digits.len().cmp(&right_digits.len()).then_with(|| left_digits.cmp(right_digits));
            if by_value != Ordering::Equal {
                return by_value;
            }
            if zeros == Ordering::Equal {
                zeros = left_zeros.cmp(&right_zeros);
            }
            (i, j) = (left_end, right_end);
        } else {
            match left[i].cmp(&right[j]) {
                Ordering::Equal => (i, j) = (i + 1, j + 1),
                other => return other,
            }
        }
    }
    (left.len() - i).cmp(&(right.len() - j)).then(zeros).then_with(|| left.cmp(right))
}

/// Where each item hangs: the index of its unit's root (itself for a primary) and whether that
/// root is an orphan (its name ends with a companion suffix but its primary is not there).
///
/// A file whose path is another item's path plus one of `suffixes` moves with that item, and so
/// on down a chain (`x.zip.sha256.minisig` → `x.zip.sha256` → `x.zip`). The longest matching
/// suffix whose primary exists wins, so `.intoto.json` beats `.json`.
pub(crate) fn companion_roots(paths: &[&[u8]], suffixes: &[Vec<u8>]) -> Vec<(u32, bool)> {
    let mut suffixes: Vec<&[u8]> = suffixes.iter().map(Vec::as_slice).filter(|s| !s.is_empty()).collect();
    suffixes.sort_by_key(|suffix| std::cmp::Reverse(suffix.len()));
    let index: HashMap<&[u8], u32> = paths.iter().enumerate().map(|(i, path)| (*path, i as u32)).collect();
    // A parent's path is strictly shorter, so shortest first resolves every parent before its
    // companions.
    let mut by_length: Vec<u32> = (0..paths.len() as u32).collect();
    by_length.sort_by_key(|&i| paths[i as usize].len());
    let mut roots: Vec<(u32, bool)> = vec![(0, false); paths.len()];
    for i in by_length {
        let path = paths[i as usize];
        roots[i as usize] = match stems(path, &suffixes).find_map(|stem| index.get(stem).copied()) {
            Some(parent) => roots[parent as usize],
            None => (i, stems(path, &suffixes).next().is_some()),
        };
    }
    roots
}

/// `path` without each suffix it ends with, where what is left can name a file.
fn stems<'a>(path: &'a [u8], suffixes: &'a [&'a [u8]]) -> impl Iterator<Item = &'a [u8]> + 'a {
    suffixes.iter().filter_map(move |suffix| {
        let stem = path.strip_suffix(*suffix)?;
        (!stem.is_empty() && !stem.ends_with(b"/")).then_some(stem)
    })
}

/// One folder as an item (`unit: dir`): time = newest file inside (the folder's own time when it
/// holds no file), size = total. `files` is the count, which with the other two fields is the
/// fingerprint re-checked before the folder is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DirItem {
    pub newest_nanos: i128,
    pub bytes: u64,
    pub files: u64,
}

/// Folds the `(mtime, size)` of every file under a folder into its [`DirItem`].
pub(crate) fn dir_item(own_mtime_nanos: i128, files: impl IntoIterator<Item = (i128, u64)>) -> DirItem {
    let mut item = DirItem { newest_nanos: i128::MIN, bytes: 0, files: 0 };
    for (mtime, size) in files {
        item.newest_nanos = item.newest_nanos.max(mtime);
        item.bytes = item.bytes.saturating_add(size);
        item.files += 1;
    }
    if item.files == 0 {
        item.newest_nanos = own_mtime_nanos;
    }
    item
}

/// What the rule planner needs about an item (a file, or a folder with `unit: dir`).
pub(crate) trait Item {
    fn mtime_nanos(&self) -> i128;
    fn size(&self) -> u64;
    /// The relative path with `/` separators.
    fn path(&self) -> &[u8];
    /// Must not be deleted, and nothing that moves with it either (e.g. an excluded companion).
    fn protected(&self) -> bool {
        false
    }
}

/// The limits of one rule, everything the planner reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RulePolicy {
    /// `days` as nanoseconds: items strictly older are selected (`ttl`).
    pub ttl_nanos: Option<i128>,
    /// `keep`: all but the N last in `order` are selected (`count`).
    pub keep: Option<u64>,
    pub max_size: Option<u64>,
    pub calendar: Calendar,
    pub order: Order,
    pub companions: Vec<Vec<u8>>,
}

/// What happens to an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    Selected(Reason),
    /// Kept, and `--min-free` may still take it.
    Kept,
    /// Kept and staying: a `keep_*` field keeps it, or it is dated in the future or protected
    /// (or moves with something that is).
    Held,
}

/// The decision for one rule's group.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RuleDecision {
    /// One per item, in input order; every member of a unit shares its root's fate.
    pub fates: Vec<Fate>,
    /// Each item's unit root (index into the items), when the rule has companions.
    pub roots: Option<Vec<u32>>,
    pub summary: GroupSummary,
}

/// One unit: a primary and the companions that move with it.
struct Unit {
    root: u32,
    bytes: u64,
    set_aside: bool,
    orphan: bool,
}

/// Plans one rule over its items; see the module docs for the rules.
///
/// With companions, `items` must hold every primary its companions could hang on: a caller must
/// route a companion to its primary's rule, or a sidecar whose primary sits in another rule's
/// group would look orphaned here.
pub(crate) fn plan_rule<I: Item>(items: &[I], policy: &RulePolicy, now_nanos: i128) -> RuleDecision {
    // The path list only when companions need it (16 bytes an item at 200,000 files).
    let roots = (!policy.companions.is_empty()).then(|| {
        let paths: Vec<&[u8]> = items.iter().map(Item::path).collect();
        companion_roots(&paths, &policy.companions)
    });
    let mut unit_of: Vec<u32> = vec![0; items.len()];
    let mut units: Vec<Unit> = Vec::new();
    let mut unit_by_root: HashMap<u32, u32> = HashMap::new();
    for (index, item) in items.iter().enumerate() {
        let (root, orphan) = roots.as_ref().map_or((index as u32, false), |roots| roots[index]);
        let unit = match &roots {
            None => {
                units.push(Unit { root, bytes: 0, set_aside: false, orphan });
                units.len() as u32 - 1
            }
            Some(_) => *unit_by_root.entry(root).or_insert_with(|| {
                units.push(Unit { root, bytes: 0, set_aside: false, orphan });
                units.len() as u32 - 1
            }),
        };
        unit_of[index] = unit;
        let unit = &mut units[unit as usize];
        unit.bytes = unit.bytes.saturating_add(item.size());
        unit.set_aside |= item.mtime_nanos() > now_nanos || item.protected();
    }

    let root_key = |unit: u32| {
        let item = &items[units[unit as usize].root as usize];
        (item.mtime_nanos(), item.path())
    };
    let mut unit_fates: Vec<Fate> = vec![Fate::Kept; units.len()];
    let mut ordered: Vec<u32> = Vec::with_capacity(units.len());
    for (position, unit) in units.iter().enumerate() {
        if unit.set_aside {
            unit_fates[position] = Fate::Held;
        } else if unit.orphan {
            unit_fates[position] = Fate::Selected(Reason::Orphan);
        } else {
            ordered.push(position as u32);
        }
    }
    ordered.sort_unstable_by(|&a, &b| {
        policy.order.compare(root_key(a), root_key(b)).then_with(|| root_key(a).1.cmp(root_key(b).1))
    });

    if policy.calendar.is_active() {
        let times: Vec<i128> = ordered.iter().map(|&unit| root_key(unit).0).collect();
        let last_first: Vec<u32> = (0..ordered.len() as u32).rev().collect();
        let mut newest_first = last_first.clone();
        if policy.order != Order::Mtime {
            // Stable: equal times keep "later in the order first".
            newest_first.sort_by(|&a, &b| times[b as usize].cmp(&times[a as usize]));
        }
        let flags = calendar_keep(&policy.calendar, &times, &newest_first, &last_first, now_nanos);
        for (position, &unit) in ordered.iter().enumerate() {
            unit_fates[unit as usize] =
                if flags[position] != 0 { Fate::Held } else { Fate::Selected(Reason::Retention) };
        }
    } else {
        let excess = policy
            .keep
            .map_or(0, |keep| ordered.len().saturating_sub(usize::try_from(keep).unwrap_or(usize::MAX)));
        for (position, &unit) in ordered.iter().enumerate() {
            let too_old = policy.ttl_nanos.is_some_and(|ttl| now_nanos - root_key(unit).0 > ttl);
            if too_old {
                unit_fates[unit as usize] = Fate::Selected(Reason::Ttl);
            } else if position < excess {
                unit_fates[unit as usize] = Fate::Selected(Reason::Count);
            }
        }
    }

    let total_bytes: u64 = units.iter().map(|unit| unit.bytes).sum();
    let selected_bytes = |fates: &[Fate]| -> u64 {
        units
            .iter()
            .zip(fates)
            .filter(|(_, fate)| matches!(fate, Fate::Selected(_)))
            .map(|(u, _)| u.bytes)
            .sum()
    };
    if let Some(max_size) = policy.max_size {
        let mut kept = total_bytes - selected_bytes(&unit_fates);
        for &unit in &ordered {
            if kept <= max_size {
                break;
            }
            if !matches!(unit_fates[unit as usize], Fate::Selected(_)) {
                unit_fates[unit as usize] = Fate::Selected(Reason::Size);
                kept -= units[unit as usize].bytes;
            }
        }
    }

    let fates: Vec<Fate> = unit_of.iter().map(|&unit| unit_fates[unit as usize]).collect();
    let summary = summarize(items, &fates, policy, now_nanos);
    RuleDecision {
        fates,
        roots: roots.map(|roots| roots.into_iter().map(|(root, _)| root).collect()),
        summary,
    }
}

fn summarize<I: Item>(items: &[I], fates: &[Fate], policy: &RulePolicy, now_nanos: i128) -> GroupSummary {
    let mut summary = GroupSummary::default();
    for (item, fate) in items.iter().zip(fates) {
        summary.files += 1;
        summary.bytes += item.size();
        if matches!(fate, Fate::Selected(_)) {
            summary.selected_files += 1;
            summary.selected_bytes += item.size();
        }
        if item.mtime_nanos() > now_nanos {
            summary.future_files += 1;
        }
    }
    summary.kept_files = summary.files - summary.selected_files;
    summary.kept_bytes = summary.bytes - summary.selected_bytes;
    if let Some(max_size) = policy.max_size.filter(|&max_size| summary.kept_bytes > max_size) {
        summary.unmet.push(format!("max_size {max_size}"));
    }
    summary
}

/// `--min-free` / policy `min_free`: bytes, or a percentage of the filesystem's size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum MinFree {
    Bytes(u64),
    Percent(f64),
}

impl MinFree {
    /// Parses `10G`, `500M`, `12.5%`.
    pub fn parse(text: &str) -> Result<MinFree, String> {
        match text.trim().strip_suffix('%') {
            Some(number) => match number.trim().parse::<f64>() {
                Ok(percent) if (0.0..=100.0).contains(&percent) => Ok(MinFree::Percent(percent)),
                _ => Err(format!(
                    "invalid free-space percentage {text:?}; use a number from 0 to 100 such as 10%"
                )),
            },
            None => crate::units::parse_size(text).map(MinFree::Bytes),
        }
    }

    /// The target in bytes on a filesystem of `total_bytes`.
    pub fn target(self, total_bytes: u64) -> u64 {
        match self {
            MinFree::Bytes(bytes) => bytes,
            MinFree::Percent(percent) => (total_bytes as f64 * percent / 100.0).ceil() as u64,
        }
    }
}

/// Space on the filesystem holding a base dir (from `statvfs`, or injected by tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Space {
    pub total_bytes: u64,
    /// What an unprivileged writer can still use.
    pub available_bytes: u64,
}

/// How far the free-space target got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MinFreeOutcome {
    /// How many of the offered units to take, from the front.
    pub take: usize,
    /// Available space once the policy's and these deletions are done.
    pub projected_bytes: u64,
    /// Bytes still missing when every offered unit is taken; 0 when the target is met.
    pub shortfall_bytes: u64,
}

/// Takes units from `offered` (their byte sizes, oldest first, only units `--min-free` may take)
/// until the projected free space (available now + what the policy already frees + what is
/// taken) meets the target.
pub(crate) fn min_free_take(
    offered: impl IntoIterator<Item = u64>,
    space: Space,
    already_freed: u64,
    min_free: MinFree,
) -> MinFreeOutcome {
    let target = min_free.target(space.total_bytes);
    let mut projected = space.available_bytes.saturating_add(already_freed);
    let mut take = 0;
    let mut offered = offered.into_iter();
    while projected < target {
        let Some(bytes) = offered.next() else { break };
        projected = projected.saturating_add(bytes);
        take += 1;
    }
    MinFreeOutcome { take, projected_bytes: projected, shortfall_bytes: target.saturating_sub(projected) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HOUR: i128 = 3_600 * NANOS_PER_SECOND;
    const DAY: i128 = 24 * HOUR;

    /// Nanoseconds of a UTC wall-clock time.
    fn at(text: &str) -> i128 {
        let time = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap().and_utc();
        i128::from(time.timestamp()) * NANOS_PER_SECOND
    }

    #[derive(Debug, Clone)]
    struct File {
        path: String,
        mtime: i128,
        size: u64,
        protected: bool,
    }

    impl Item for File {
        fn mtime_nanos(&self) -> i128 {
            self.mtime
        }
        fn size(&self) -> u64 {
            self.size
        }
        fn path(&self) -> &[u8] {
            self.path.as_bytes()
        }
        fn protected(&self) -> bool {
            self.protected
        }
    }

    fn file(path: &str, mtime: i128, size: u64) -> File {
        File { path: path.into(), mtime, size, protected: false }
    }

    /// The paths selected, with their reasons, in input order.
    fn selected(files: &[File], policy: &RulePolicy, now: i128) -> Vec<(String, Reason)> {
        let decision = plan_rule(files, policy, now);
        files
            .iter()
            .zip(&decision.fates)
            .filter_map(|(file, fate)| match fate {
                Fate::Selected(reason) => Some((file.path.clone(), *reason)),
                _ => None,
            })
            .collect()
    }

    fn kept_names(files: &[File], policy: &RulePolicy, now: i128) -> Vec<String> {
        let decision = plan_rule(files, policy, now);
        files
            .iter()
            .zip(&decision.fates)
            .filter(|(_, fate)| !matches!(fate, Fate::Selected(_)))
            .map(|(file, _)| file.path.clone())
            .collect()
    }

    fn calendar(edit: impl FnOnce(&mut Calendar)) -> RulePolicy {
        let mut policy = RulePolicy::default();
        edit(&mut policy.calendar);
        policy
    }

    #[test]
    fn daily_keeps_the_newest_of_each_of_the_last_days_that_have_files() {
        let files = [
            file("mon-early", at("2026-01-05 01:00:00"), 1),
            file("mon-late", at("2026-01-05 23:00:00"), 1),
            file("wed", at("2026-01-07 12:00:00"), 1),
            file("thu-a", at("2026-01-08 08:00:00"), 1),
            file("thu-b", at("2026-01-08 09:00:00"), 1),
        ];
        let now = at("2026-01-10 00:00:00");
        let policy = calendar(|calendar| calendar.daily = Some(3));
        assert_eq!(kept_names(&files, &policy, now), ["mon-late", "wed", "thu-b"]);
        assert_eq!(
            selected(&files, &policy, now),
            [("mon-early".into(), Reason::Retention), ("thu-a".into(), Reason::Retention)]
        );
        // Days without files do not use up the count (restic: "periods that contain a file").
        let policy = calendar(|calendar| calendar.daily = Some(2));
        assert_eq!(kept_names(&files, &policy, now), ["wed", "thu-b"]);
    }

    #[test]
    fn periods_are_local_to_tz() {
        // 23:30 UTC on Jan 5 is already Jan 6 in Berlin.
        let files = [file("a", at("2026-01-05 22:00:00"), 1), file("b", at("2026-01-05 23:30:00"), 1)];
        let now = at("2026-01-07 00:00:00");
        let utc = calendar(|calendar| calendar.daily = Some(2));
        assert_eq!(kept_names(&files, &utc, now), ["b"]);
        let berlin = calendar(|calendar| {
            calendar.daily = Some(2);
            calendar.tz = chrono_tz::Europe::Berlin;
        });
        assert_eq!(kept_names(&files, &berlin, now), ["a", "b"]);
    }

    #[test]
    fn the_repeated_hour_at_the_end_of_summer_time_is_one_hourly_period() {
        // Berlin, 2026-10-25: 02:00-03:00 happens twice (00:xx and 01:xx UTC).
        let files = [
            file("first-0215", at("2026-10-25 00:15:00"), 1),
            file("second-0215", at("2026-10-25 01:15:00"), 1),
            file("0315", at("2026-10-25 02:15:00"), 1),
        ];
        let now = at("2026-10-26 00:00:00");
        let policy = calendar(|calendar| {
            calendar.hourly = Some(3);
            calendar.tz = chrono_tz::Europe::Berlin;
        });
        assert_eq!(kept_names(&files, &policy, now), ["second-0215", "0315"]);
        let utc = calendar(|calendar| calendar.hourly = Some(3));
        assert_eq!(kept_names(&files, &utc, now), ["first-0215", "second-0215", "0315"]);
    }

    #[test]
    fn weeks_are_iso_weeks_across_the_year_end() {
        // 2026-12-31 (Thu) and 2027-01-03 (Sun) are both in ISO week 2026-W53.
        let files = [
            file("w52", at("2026-12-27 12:00:00"), 1),
            file("w53-thu", at("2026-12-31 12:00:00"), 1),
            file("w53-sun", at("2027-01-03 12:00:00"), 1),
            file("w01", at("2027-01-04 12:00:00"), 1),
        ];
        let now = at("2027-01-05 00:00:00");
        let policy = calendar(|calendar| calendar.weekly = Some(3));
        assert_eq!(kept_names(&files, &policy, now), ["w52", "w53-sun", "w01"]);
        let yearly = calendar(|calendar| calendar.yearly = Some(5));
        assert_eq!(kept_names(&files, &yearly, now), ["w53-thu", "w01"]);
        let monthly = calendar(|calendar| calendar.monthly = Some(1));
        assert_eq!(kept_names(&files, &monthly, now), ["w01"]);
    }

    #[test]
    fn rules_combine_as_a_union_and_within_is_strict_relative_to_now() {
        let now = at("2026-03-10 00:00:00");
        let files = [
            file("old-year", at("2024-06-01 00:00:00"), 1),
            file("last-year", at("2025-06-01 00:00:00"), 1),
            file("exactly-2d", now - 2 * DAY, 1),
            file("inside-2d", now - 2 * DAY + 1, 1),
            file("newest", now - HOUR, 1),
        ];
        let policy = calendar(|calendar| {
            calendar.last = Some(1);
            calendar.yearly = Some(2);
            calendar.within_nanos = Some(2 * DAY);
        });
        assert_eq!(kept_names(&files, &policy, now), ["last-year", "inside-2d", "newest"]);
        // keep_last 0 still makes the rule a retention rule: everything else goes.
        let nothing = calendar(|calendar| calendar.last = Some(0));
        assert!(kept_names(&files, &nothing, now).is_empty());
        assert!(!RulePolicy::default().calendar.is_active());
    }

    /// The documented tie-break: among equal times, the later relative path counts as newer.
    #[test]
    fn equal_times_keep_the_later_path() {
        let time = at("2026-01-05 12:00:00");
        let files = [file("b", time, 1), file("c", time, 1), file("a", time, 1)];
        let now = at("2026-01-06 00:00:00");
        assert_eq!(kept_names(&files, &calendar(|calendar| calendar.daily = Some(1)), now), ["c"]);
        assert_eq!(kept_names(&files, &calendar(|calendar| calendar.last = Some(2)), now), ["b", "c"]);
        // With a name order, keep_last follows the order and the period keeps the later name.
        let mut policy = calendar(|calendar| calendar.daily = Some(1));
        policy.order = Order::NameNumeric;
        let files = [file("r10", time, 1), file("r9", time, 1)];
        assert_eq!(kept_names(&files, &policy, now), ["r10"]);
    }

    #[test]
    fn future_and_protected_items_are_kept_and_take_no_period() {
        let now = at("2026-01-10 00:00:00");
        let files = [
            File { protected: true, ..file("protected", at("2026-01-09 12:00:00"), 1) },
            file("real", at("2026-01-09 06:00:00"), 1),
            file("older", at("2026-01-08 06:00:00"), 1),
            file("future", at("2027-01-01 00:00:00"), 1),
        ];
        let policy = calendar(|calendar| calendar.daily = Some(1));
        assert_eq!(kept_names(&files, &policy, now), ["protected", "real", "future"]);
        let decision = plan_rule(&files, &policy, now);
        assert_eq!(decision.fates, [Fate::Held, Fate::Held, Fate::Selected(Reason::Retention), Fate::Held]);
        assert_eq!(decision.summary.future_files, 1);
    }

    /// Clocks far off (mtimes near the ends of i64 seconds) must not panic in the zone math.
    #[test]
    fn extreme_times_fall_into_far_away_periods() {
        let (low, high) = (i128::from(i64::MIN) * NANOS_PER_SECOND, i128::from(i64::MAX) * NANOS_PER_SECOND);
        let times = [high, 0, low];
        let calendar = Calendar {
            hourly: Some(9),
            weekly: Some(9),
            yearly: Some(9),
            within_nanos: Some(i128::from(u64::MAX) * NANOS_PER_SECOND),
            tz: chrono_tz::Australia::Lord_Howe,
            ..Calendar::default()
        };
        let flags = calendar_keep(&calendar, &times, &[0, 1, 2], &[0, 1, 2], high);
        assert!(flags.iter().all(|flag| flag & kept_by::YEARLY != 0), "{flags:?}");
        assert_eq!(flags[2] & kept_by::WITHIN, 0);
        assert_ne!(flags[1] & kept_by::WITHIN, 0);
    }

    #[test]
    fn max_size_applies_after_the_periods() {
        let now = at("2026-01-10 00:00:00");
        let files = [
            file("d7", at("2026-01-07 12:00:00"), 50),
            file("d8", at("2026-01-08 12:00:00"), 50),
            file("d9", at("2026-01-09 12:00:00"), 50),
        ];
        let mut policy = calendar(|calendar| calendar.daily = Some(3));
        policy.max_size = Some(100);
        assert_eq!(selected(&files, &policy, now), [("d7".into(), Reason::Size)]);
        let decision = plan_rule(&files, &policy, now);
        assert_eq!(decision.summary.kept_bytes, 100);
        assert!(decision.summary.unmet.is_empty());
    }

    #[test]
    fn order_decides_what_keep_and_size_take_first() {
        let now = at("2026-01-10 00:00:00");
        let files = [
            file("ITER_SUMMARY_10", at("2026-01-01 00:00:00"), 10),
            file("ITER_SUMMARY_9", at("2026-01-02 00:00:00"), 10),
            file("ITER_SUMMARY_11", at("2026-01-03 00:00:00"), 10),
        ];
        let keep = |order| RulePolicy { keep: Some(1), order, ..RulePolicy::default() };
        assert_eq!(kept_names(&files, &keep(Order::Mtime), now), ["ITER_SUMMARY_11"]);
        assert_eq!(kept_names(&files, &keep(Order::Name), now), ["ITER_SUMMARY_9"]);
        assert_eq!(kept_names(&files, &keep(Order::NameNumeric), now), ["ITER_SUMMARY_11"]);
        let size = RulePolicy { max_size: Some(20), order: Order::NameNumeric, ..RulePolicy::default() };
        assert_eq!(selected(&files, &size, now), [("ITER_SUMMARY_9".into(), Reason::Size)]);
        let ttl = RulePolicy { ttl_nanos: Some(8 * DAY), ..keep(Order::Name) };
        assert_eq!(
            selected(&files, &ttl, now),
            [("ITER_SUMMARY_10".into(), Reason::Ttl), ("ITER_SUMMARY_11".into(), Reason::Count)]
        );
    }

    #[test]
    fn name_numeric_compares_digit_runs_as_numbers() {
        let mut names =
            vec!["r10", "r9", "r010", "r1a", "r1", "s", "r", "r0009", "r1.5", "r1-5", "a10b2", "a10b10"];
        names.sort_by(|a, b| compare_name_numeric(a.as_bytes(), b.as_bytes()));
        assert_eq!(
            names,
            ["a10b2", "a10b10", "r", "r1", "r1-5", "r1.5", "r1a", "r9", "r0009", "r10", "r010", "s"]
        );
        assert_eq!(compare_name_numeric(b"x", b"x"), Ordering::Equal);
        assert_eq!(
            compare_name_numeric(b"99999999999999999999999999", b"100000000000000000000000000"),
            Ordering::Less
        );
    }

    #[test]
    fn companions_hang_on_their_primary_and_orphans_are_marked() {
        let paths: Vec<&[u8]> = vec![
            b"rel/a.zip",
            b"rel/a.zip.sha256",
            b"rel/a.zip.sha256.minisig",
            b"rel/a.zip.intoto.json",
            b"rel/b.zip.sha256",
            b"rel/b.zip.sha256.minisig",
            b"rel/.sha256",
            b"rel/c.json",
        ];
        let suffixes: Vec<Vec<u8>> =
            [".sha256", ".minisig", ".json", ".intoto.json"].iter().map(|s| s.as_bytes().to_vec()).collect();
        let roots = companion_roots(&paths, &suffixes);
        assert_eq!(
            roots,
            [(0, false), (0, false), (0, false), (0, false), (4, true), (4, true), (6, false), (7, true)]
        );
    }

    #[test]
    fn an_orphaned_companion_is_selected_and_a_unit_moves_whole() {
        let now = at("2026-01-10 00:00:00");
        let files = [
            file("a.zip", at("2026-01-01 00:00:00"), 100),
            file("a.zip.sha256", at("2026-01-09 00:00:00"), 1),
            file("b.zip", at("2026-01-02 00:00:00"), 100),
            file("b.zip.minisig", at("2026-01-02 00:00:00"), 1),
            file("gone.zip.sha256", at("2026-01-09 00:00:00"), 1),
        ];
        let policy = RulePolicy {
            keep: Some(1),
            companions: vec![b".sha256".to_vec(), b".minisig".to_vec()],
            ..RulePolicy::default()
        };
        // Units count once: a.zip (with its newer sidecar) is the older unit by its primary.
        assert_eq!(
            selected(&files, &policy, now),
            [
                ("a.zip".into(), Reason::Count),
                ("a.zip.sha256".into(), Reason::Count),
                ("gone.zip.sha256".into(), Reason::Orphan)
            ]
        );
        // A protected companion holds its primary.
        let mut files = files.to_vec();
        files[1].protected = true;
        assert_eq!(selected(&files, &policy, now), [("gone.zip.sha256".into(), Reason::Orphan)]);
        // A future-dated orphan is not selected.
        files[4].mtime = at("2027-01-01 00:00:00");
        assert!(selected(&files, &policy, now).is_empty());
    }

    #[test]
    fn a_folder_item_is_as_new_as_its_newest_file() {
        assert_eq!(
            dir_item(5, [(10, 1), (30, 2), (20, 4)]),
            DirItem { newest_nanos: 30, bytes: 7, files: 3 }
        );
        assert_eq!(dir_item(5, []), DirItem { newest_nanos: 5, bytes: 0, files: 0 });
    }

    #[test]
    fn min_free_takes_oldest_until_the_target_is_met_or_reports_the_shortfall() {
        let space = Space { total_bytes: 1000, available_bytes: 50 };
        let outcome = min_free_take([30, 40, 50], space, 10, MinFree::Percent(10.0));
        assert_eq!(outcome, MinFreeOutcome { take: 2, projected_bytes: 130, shortfall_bytes: 0 });
        let outcome = min_free_take([30], space, 0, MinFree::Bytes(200));
        assert_eq!(outcome, MinFreeOutcome { take: 1, projected_bytes: 80, shortfall_bytes: 120 });
        let outcome = min_free_take([30], space, 0, MinFree::Bytes(50));
        assert_eq!(outcome.take, 0);
        assert_eq!(MinFree::parse("12.5%"), Ok(MinFree::Percent(12.5)));
        assert_eq!(MinFree::parse("1K"), Ok(MinFree::Bytes(1024)));
        assert!(MinFree::parse("101%").unwrap_err().contains("from 0 to 100"));
        assert!(MinFree::parse("x").is_err());
    }

    /// The model of natural order: tokens (digit runs by value, other bytes), then the
    /// leading-zero counts, then bytes.
    /// A token: its first byte (`b'0'` for a digit run), the run's significant length and digits.
    type Token = (u8, usize, Vec<u8>);

    fn natural_key(text: &[u8]) -> (Vec<Token>, Vec<usize>, Vec<u8>) {
        let mut tokens = Vec::new();
        let mut zeros = Vec::new();
        let mut i = 0;
        while i < text.len() {
            if text[i].is_ascii_digit() {
                let end = i + text[i..].iter().take_while(|b| b.is_ascii_digit()).count();
                let run = &text[i..end];
                let leading = run.iter().take_while(|&&b| b == b'0').count();
                tokens.push((b'0', run.len() - leading, run[leading..].to_vec()));
                zeros.push(leading);
                i = end;
            } else {
                tokens.push((text[i], 0, Vec::new()));
                i += 1;
            }
        }
        (tokens, zeros, text.to_vec())
    }

    fn arbitrary_name() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(prop::sample::select(b"0012989a._-/Z~".to_vec()), 0..10)
    }

    /// Random groups: files `fN.zip` with random sidecars, some orphaned, some protected.
    fn arbitrary_tree() -> impl Strategy<Value = Vec<File>> {
        prop::collection::vec((0u8..8, 0u8..4, -5i64..400, 0u64..100, prop::bool::weighted(0.05)), 0..40)
            .prop_map(|specs| {
                let suffixes = ["", ".sha256", ".minisig", ".sha256.minisig"];
                let mut files: Vec<File> = specs
                    .into_iter()
                    .map(|(stem, suffix, hours, size, protected)| File {
                        path: format!("d/f{stem}.zip{}", suffixes[suffix as usize]),
                        mtime: at("2026-01-10 00:00:00") - i128::from(hours) * HOUR * 6,
                        size,
                        protected,
                    })
                    .collect();
                files.sort_by(|a, b| a.path.cmp(&b.path));
                files.dedup_by(|a, b| a.path == b.path);
                files
            })
    }

    fn arbitrary_policy() -> impl Strategy<Value = RulePolicy> {
        let count = || prop::option::of(0u64..6);
        (
            (count(), count(), count(), count(), count(), count()),
            prop::option::of(0i128..30),
            prop::option::of(0u64..500),
            prop::sample::select(vec![Order::Mtime, Order::Name, Order::NameNumeric]),
            prop::option::of(0i128..60),
        )
            .prop_map(
                |((last, hourly, daily, weekly, monthly, keep), within_days, max_size, order, ttl_days)| {
                    let calendar = Calendar {
                        last,
                        hourly,
                        daily,
                        weekly,
                        monthly,
                        yearly: None,
                        within_nanos: within_days.map(|days| days * DAY),
                        tz: chrono_tz::Europe::Berlin,
                    };
                    RulePolicy {
                        ttl_nanos: if calendar.is_active() { None } else { ttl_days.map(|days| days * DAY) },
                        keep: if calendar.is_active() { None } else { keep },
                        max_size,
                        calendar,
                        order,
                        companions: vec![b".sha256".to_vec(), b".minisig".to_vec()],
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn name_numeric_is_the_token_model(a in arbitrary_name(), b in arbitrary_name(), c in arbitrary_name()) {
            prop_assert_eq!(compare_name_numeric(&a, &b), natural_key(&a).cmp(&natural_key(&b)));
            prop_assert_eq!(compare_name_numeric(&a, &b), compare_name_numeric(&b, &a).reverse());
            prop_assert_eq!(compare_name_numeric(&a, &b) == Ordering::Equal, a == b);
            if compare_name_numeric(&a, &b).is_le() && compare_name_numeric(&b, &c).is_le() {
                prop_assert!(compare_name_numeric(&a, &c).is_le());
            }
        }

        /// A primary and its companions are always selected together or kept together, an
        /// orphan is selected unless it is future-dated or protected, and nothing future-dated
        /// or protected is ever selected.
        #[test]
        fn companions_never_split(files in arbitrary_tree(), policy in arbitrary_policy()) {
            let now = at("2026-01-10 00:00:00");
            let decision = plan_rule(&files, &policy, now);
            let selected = |path: &str| files.iter().zip(&decision.fates)
                .find(|(file, _)| file.path == path)
                .map(|(_, fate)| matches!(fate, Fate::Selected(_)));
            for (file, fate) in files.iter().zip(&decision.fates) {
                let is_selected = matches!(fate, Fate::Selected(_));
                prop_assert!(!(is_selected && (file.protected || file.mtime > now)), "{} selected", file.path);
                for suffix in [".sha256", ".minisig"] {
                    if let Some(primary) = file.path.strip_suffix(suffix)
                        && let Some(primary_selected) = selected(primary) {
                        prop_assert_eq!(is_selected, primary_selected, "{} split from {}", file.path, primary);
                    }
                }
                let is_orphan = file.path.ends_with(".zip.sha256") && selected(file.path.trim_end_matches(".sha256")).is_none()
                    || file.path.ends_with(".zip.minisig") && selected(file.path.trim_end_matches(".minisig")).is_none();
                if is_orphan && !is_selected {
                    // Kept only because it or something moving with it is set aside.
                    let stem = file.path.trim_end_matches(".minisig");
                    let held = files.iter().filter(|other| other.path.starts_with(stem))
                        .any(|other| other.protected || other.mtime > now);
                    prop_assert!(held, "orphan {} kept", file.path);
                }
            }
            // max_size holds, unless only set-aside units (or what moves with them) are left.
            if let Some(max_size) = policy.max_size {
                prop_assert_eq!(decision.summary.unmet.is_empty(), decision.summary.kept_bytes <= max_size);
                if decision.summary.kept_bytes > max_size {
                    let roots = decision.roots.as_ref().unwrap();
                    for (index, fate) in decision.fates.iter().enumerate() {
                        let held = files.iter().zip(roots).any(|(other, root)| {
                            *root == roots[index] && (other.protected || other.mtime > now)
                        });
                        prop_assert!(matches!(fate, Fate::Selected(_)) || held, "{} kept over max_size", files[index].path);
                    }
                }
            }
        }

        /// A daily-only rule keeps exactly the newest eligible file of each of the N newest local
        /// days that have one (a direct model of the restic rule), plus the set-aside files.
        #[test]
        fn daily_matches_the_direct_model(files in arbitrary_tree(), days in 0u64..6) {
            let now = at("2026-01-10 00:00:00");
            let policy = RulePolicy {
                calendar: Calendar { daily: Some(days), tz: chrono_tz::Europe::Berlin, ..Calendar::default() },
                ..RulePolicy::default()
            };
            let decision = plan_rule(&files, &policy, now);
            let eligible = |file: &File| !file.protected && file.mtime <= now;
            let mut newest_per_day: std::collections::BTreeMap<chrono::NaiveDate, &File> = Default::default();
            for file in files.iter().filter(|file| eligible(file)) {
                let day = local_time(policy.calendar.tz, file.mtime).date();
                let entry = newest_per_day.entry(day).or_insert(file);
                if (file.mtime, &file.path) > (entry.mtime, &entry.path) {
                    *entry = file;
                }
            }
            let expected: std::collections::BTreeSet<&str> = newest_per_day.values().rev().take(days as usize)
                .map(|file| file.path.as_str())
                .chain(files.iter().filter(|file| !eligible(file)).map(|file| file.path.as_str()))
                .collect();
            let kept: std::collections::BTreeSet<&str> = files.iter().zip(&decision.fates)
                .filter(|(_, fate)| !matches!(fate, Fate::Selected(_)))
                .map(|(file, _)| file.path.as_str()).collect();
            prop_assert_eq!(kept, expected);
            prop_assert!(decision.fates.iter().all(|fate| matches!(fate, Fate::Held | Fate::Selected(Reason::Retention))));
        }

        /// Min-free takes the shortest prefix that meets the target.
        #[test]
        fn min_free_takes_the_shortest_prefix(offered in prop::collection::vec(0u64..1000, 0..30),
            total in 1u64..100_000, available in 0u64..100_000, freed in 0u64..5_000, percent in 0.0f64..100.0) {
            let space = Space { total_bytes: total, available_bytes: available.min(total) };
            let outcome = min_free_take(offered.iter().copied(), space, freed, MinFree::Percent(percent));
            let target = MinFree::Percent(percent).target(total);
            let projected = |take: usize| space.available_bytes + freed + offered[..take].iter().sum::<u64>();
            prop_assert_eq!(outcome.projected_bytes, projected(outcome.take));
            if outcome.shortfall_bytes == 0 {
                prop_assert!(outcome.projected_bytes >= target);
                prop_assert!(outcome.take == 0 || projected(outcome.take - 1) < target);
            } else {
                prop_assert_eq!(outcome.take, offered.len());
                prop_assert_eq!(outcome.shortfall_bytes, target - outcome.projected_bytes);
            }
        }
    }
}

#[cfg(test)]
#[path = "retention_oracle.rs"]
mod restic_oracle;
