//! The bridge between the scan and the retention planner ([`retention`]): turns the files of
//! each rule that uses `keep_*` periods, `companions`, `order` or `unit: dir` into items, plans
//! them, and maps the decision back onto files; then `--min-free` takes more, oldest first.
//!
//! Plain rules (`days`/`keep`/`max_size` only) stay with [`super::plan::plan`], unchanged and as
//! fast as before. Everything here is pure (no disk access): the free space comes in as a value.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::ffi::OsStrExt;

use super::plan::{GroupSummary, Plan, PlanFile as _, Reason};
use super::policy::{Rule, Unit};
use super::retention::{self, Fate, Item, MinFree, Order, RulePolicy, Space};
use super::scan::{FileEntry, ROOT, Scan};

/// Nanoseconds in a day, for converting `days` limits.
const NANOS_PER_DAY: f64 = 86_400e9;

/// A selected `unit: dir` folder: deleted whole, after a re-check that nothing inside changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FolderUnit {
    /// Index into [`Scan::dirs`].
    pub dir: u32,
    /// Its files (indices into [`Scan::files`]), sorted.
    pub files: Vec<u32>,
}

/// Something `--min-free` may take: one file, a primary with its companions, or a folder.
#[derive(Debug, Clone, Copy)]
struct Offer {
    mtime_nanos: i128,
    /// The first member's index (scan order: oldest first, ties by path) breaks mtime ties.
    first: u32,
    bytes: u64,
    /// Its members: `members[start..start + count]`.
    start: u32,
    count: u32,
    /// The folder, for a `unit: dir` item.
    folder: Option<u32>,
}

/// What the shaped rules decided.
#[derive(Debug, Default)]
pub(crate) struct ShapedPlan {
    /// Selected files with their reason, in no particular order.
    pub selected: Vec<(u32, Reason)>,
    /// The summary of each shaped rule (replacing the plain planner's).
    pub groups: Vec<(usize, GroupSummary)>,
    /// Selected `unit: dir` folders.
    pub folders: Vec<FolderUnit>,
    /// Every companion with the root of its unit (file indices): a companion is deleted only
    /// after its root was.
    pub companions: Vec<(u32, u32)>,
    /// `unit: dir` folders kept because something inside is not a candidate (a hidden or
    /// excluded file, a symlink, a mount, an unreadable folder, a file of another rule), as
    /// relative paths.
    pub held_folders: Vec<String>,
    offers: Vec<Offer>,
    members: Vec<u32>,
}

/// The free-space outcome, for the report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct MinFreeView {
    /// The target as given (`10G`, `15%`).
    pub target: String,
    pub target_bytes: u64,
    pub total_bytes: u64,
    pub available_bytes: u64,
    /// Available once the run's deletions are done (by file sizes).
    pub projected_bytes: u64,
    /// Files selected to reach the target.
    pub selected_files: u64,
    pub selected_bytes: u64,
    /// Bytes still missing with everything `--min-free` may take; 0 when met.
    pub shortfall_bytes: u64,
}

/// A file as a retention item, with its scan position standing in for its path: files are
/// sorted by (mtime, path), so for `order: mtime` without companions the big-endian position
/// orders equal times exactly as the path would, at 4 bytes instead of the path.
/// 16 bytes an item: the scan's entry by reference, the position inline.
struct IndexedFile<'a> {
    file: &'a FileEntry,
    key: [u8; 4],
}

impl Item for IndexedFile<'_> {
    fn mtime_nanos(&self) -> i128 {
        self.file.mtime_nanos()
    }
    fn size(&self) -> u64 {
        self.file.size
    }
    fn path(&self) -> &[u8] {
        &self.key
    }
}

/// A file (with its real relative path) or a folder as a retention item.
struct PathItem<'a> {
    mtime_nanos: i128,
    size: u64,
    path: &'a [u8],
    protected: bool,
}

impl Item for PathItem<'_> {
    fn mtime_nanos(&self) -> i128 {
        self.mtime_nanos
    }
    fn size(&self) -> u64 {
        self.size
    }
    fn path(&self) -> &[u8] {
        self.path
    }
    fn protected(&self) -> bool {
        self.protected
    }
}

fn rule_policy(rule: &Rule) -> RulePolicy {
    RulePolicy {
        ttl_nanos: rule.limits.days.map(|days| (days * NANOS_PER_DAY).round() as i128),
        keep: rule.limits.keep,
        max_size: rule.limits.max_size,
        calendar: rule.shape.calendar,
        order: rule.shape.order,
        companions: rule.shape.companions.clone(),
    }
}

/// Plans every shaped rule. `files` must be sorted oldest first (ties by path), as the scan
/// leaves them. `offers` asks for the kept items `--min-free` may take.
pub(crate) fn plan_shaped(scan: &Scan, rules: &[Rule], now_nanos: i128, offers: bool) -> ShapedPlan {
    let mut plan = ShapedPlan::default();
    let shaped: Vec<bool> = rules.iter().map(Rule::is_shaped).collect();
    if !shaped.contains(&true) {
        return plan;
    }
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); rules.len()];
    for (index, file) in scan.files.iter().enumerate() {
        if let Some(rule) = file.rule().filter(|&rule| shaped[rule]) {
            members[rule].push(index as u32);
        }
    }
    for (rule_index, rule) in rules.iter().enumerate() {
        if !shaped[rule_index] {
            continue;
        }
        let group = std::mem::take(&mut members[rule_index]);
        let summary = match rule.shape.unit {
            Unit::File => plan_files(scan, rule_index, rule, &group, now_nanos, offers, &mut plan),
            Unit::Dir => plan_folders(scan, rule_index, rule, &group, now_nanos, offers, &mut plan),
        };
        plan.groups.push((rule_index, summary));
    }
    plan
}

/// One `unit: file` rule: each file an item, companions moving with their primary.
fn plan_files(
    scan: &Scan,
    rule_index: usize,
    rule: &Rule,
    group: &[u32],
    now_nanos: i128,
    offers: bool,
    plan: &mut ShapedPlan,
) -> GroupSummary {
    let policy = rule_policy(rule);
    let mut decision = if policy.companions.is_empty() && policy.order == Order::Mtime {
        let items: Vec<IndexedFile<'_>> = group
            .iter()
            .enumerate()
            .map(|(position, &index)| IndexedFile {
                file: &scan.files[index as usize],
                key: (position as u32).to_be_bytes(),
            })
            .collect();
        retention::plan_rule(&items, &policy, now_nanos)
    } else {
        let mut arena: Vec<u8> = Vec::new();
        let mut spans: Vec<(usize, usize)> = Vec::with_capacity(group.len());
        for &index in group {
            let file = &scan.files[index as usize];
            let start = arena.len();
            let dir = scan.dirs[file.dir as usize].relative.as_os_str().as_bytes();
            if !dir.is_empty() {
                arena.extend_from_slice(dir);
                arena.push(b'/');
            }
            arena.extend_from_slice(scan.name(file).as_bytes());
            spans.push((start, arena.len()));
        }
        let mut items: Vec<PathItem<'_>> = group
            .iter()
            .zip(&spans)
            .map(|(&index, &(start, end))| {
                let file = &scan.files[index as usize];
                PathItem {
                    mtime_nanos: file.mtime_nanos(),
                    size: file.size,
                    path: &arena[start..end],
                    protected: false,
                }
            })
            .collect();
        // Excluded companions join as protected stand-ins (after the real items): they hold
        // their primary and everything that moves with it.
        items.extend(
            scan.excluded_companions
                .iter()
                .filter(|(rule, _)| *rule == rule_index)
                .map(|(_, path)| PathItem { mtime_nanos: 0, size: 0, path, protected: true }),
        );
        let stand_ins = (items.len() - group.len()) as u64;
        let mut decision = retention::plan_rule(&items, &policy, now_nanos);
        decision.fates.truncate(group.len());
        decision.summary.files -= stand_ins;
        decision.summary.kept_files -= stand_ins;
        decision
    };
    if !rule.has_limit() {
        // A rule without limits protects its files, orphaned companions included.
        for fate in &mut decision.fates {
            *fate = Fate::Held;
        }
        let summary = &mut decision.summary;
        (summary.selected_files, summary.selected_bytes) = (0, 0);
        (summary.kept_files, summary.kept_bytes) = (summary.files, summary.bytes);
    }
    let mut kept_units: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    if let Some(roots) = &decision.roots {
        for (position, &root) in roots.iter().enumerate().take(group.len()) {
            if root as usize != position && (root as usize) < group.len() {
                plan.companions.push((group[position], group[root as usize]));
            }
        }
    }
    for (position, fate) in decision.fates.iter().enumerate() {
        match fate {
            Fate::Selected(reason) => plan.selected.push((group[position], *reason)),
            Fate::Kept if offers && rule.has_limit() => {
                let root = decision.roots.as_ref().map_or(position as u32, |roots| roots[position]);
                kept_units.entry(root).or_default().push(position as u32);
            }
            Fate::Kept | Fate::Held => {}
        }
    }
    for (root, positions) in kept_units {
        let files: Vec<u32> = positions.iter().map(|&position| group[position as usize]).collect();
        let root_file = &scan.files[group[root as usize] as usize];
        plan.offer(root_file.mtime_nanos(), &files, scan, None);
    }
    let mut summary = decision.summary;
    summary.newest_nanos = group.last().map(|&index| scan.files[index as usize].mtime_nanos());
    summary
}

/// One `unit: dir` rule: each folder the glob matches is one item (time = its newest file,
/// size = the total), deleted whole or kept whole.
fn plan_folders(
    scan: &Scan,
    rule_index: usize,
    rule: &Rule,
    group: &[u32],
    now_nanos: i128,
    offers: bool,
    plan: &mut ShapedPlan,
) -> GroupSummary {
    let Some(glob) = &rule.matcher else {
        // The command line has no `unit`; a catch-all folder rule cannot be written.
        return GroupSummary::default();
    };
    // The outermost folder the glob matches, per folder (ROOT never is an item).
    let mut unit_of_dir: HashMap<u32, Option<u32>> = HashMap::new();
    let mut unit_of = |dir: u32| -> Option<u32> {
        *unit_of_dir.entry(dir).or_insert_with(|| {
            let mut found = None;
            let mut current = dir;
            while current != ROOT {
                if glob.is_match(&scan.dirs[current as usize].relative) {
                    found = Some(current);
                }
                current = scan.dirs[current as usize].parent;
            }
            found
        })
    };
    let mut units: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for &index in group {
        if let Some(unit) = unit_of(scan.files[index as usize].dir) {
            units.entry(unit).or_default().push(index);
        }
    }
    let mut protected: std::collections::BTreeSet<u32> = std::collections::BTreeSet::new();
    for (dir, record) in scan.dirs.iter().enumerate() {
        if record.holds_skipped
            && let Some(unit) = unit_of(dir as u32)
        {
            protected.insert(unit);
        }
    }
    // A candidate inside that belongs to another rule (or to none) cannot go with the folder.
    for file in &scan.files {
        if file.rule() != Some(rule_index)
            && let Some(unit) = unit_of(file.dir)
        {
            protected.insert(unit);
        }
    }
    let folders: Vec<(u32, Vec<u32>)> = units.into_iter().collect();
    let items: Vec<PathItem<'_>> = folders
        .iter()
        .map(|(dir, files)| {
            let item = retention::dir_item(
                i128::MIN,
                files.iter().map(|&index| {
                    let file = &scan.files[index as usize];
                    (file.mtime_nanos(), file.size)
                }),
            );
            PathItem {
                mtime_nanos: item.newest_nanos,
                size: item.bytes,
                path: scan.dirs[*dir as usize].relative.as_os_str().as_bytes(),
                protected: protected.contains(dir),
            }
        })
        .collect();
    let decision = retention::plan_rule(&items, &rule_policy(rule), now_nanos);
    let mut summary = GroupSummary::default();
    for (((dir, files), item), fate) in folders.iter().zip(&items).zip(&decision.fates) {
        summary.files += files.len() as u64;
        summary.bytes += item.size;
        summary.future_files +=
            files.iter().filter(|&&index| scan.files[index as usize].mtime_nanos() > now_nanos).count()
                as u64;
        summary.newest_nanos = summary.newest_nanos.max(Some(item.mtime_nanos));
        match fate {
            Fate::Selected(reason) => {
                summary.selected_files += files.len() as u64;
                summary.selected_bytes += item.size;
                plan.selected.extend(files.iter().map(|&index| (index, *reason)));
                plan.folders.push(FolderUnit { dir: *dir, files: files.clone() });
            }
            Fate::Kept if offers && rule.has_limit() => plan.offer(item.mtime_nanos, files, scan, Some(*dir)),
            Fate::Held if item.protected => {
                plan.held_folders.push(crate::sanitize::display_path(&scan.dirs[*dir as usize].relative));
            }
            Fate::Kept | Fate::Held => {}
        }
    }
    summary.kept_files = summary.files - summary.selected_files;
    summary.kept_bytes = summary.bytes - summary.selected_bytes;
    if let Some(max_size) = rule.limits.max_size.filter(|&max_size| summary.kept_bytes > max_size) {
        summary.unmet.push(format!("max_size {max_size}"));
    }
    summary
}

impl ShapedPlan {
    fn offer(&mut self, mtime_nanos: i128, files: &[u32], scan: &Scan, folder: Option<u32>) {
        let start = self.members.len() as u32;
        self.members.extend_from_slice(files);
        self.offers.push(Offer {
            mtime_nanos,
            first: files.iter().copied().min().unwrap_or(u32::MAX),
            bytes: files.iter().map(|&index| scan.files[index as usize].size).sum(),
            start,
            count: files.len() as u32,
            folder,
        });
    }
}

/// Merges the shaped rules' decisions into the plain plan (selections and summaries).
pub(crate) fn merge(plan: &mut Plan, shaped: &mut ShapedPlan) {
    for (rule, summary) in std::mem::take(&mut shaped.groups) {
        plan.groups[rule] = summary;
    }
    plan.selected.append(&mut shaped.selected);
    // Scan order is oldest first, ties by path: the plan's order.
    plan.selected.sort_unstable_by_key(|(index, _)| *index);
}

/// `--min-free`: when the projected free space (available now plus what the plan frees) is
/// below the target, selects kept items of rules with a limit — plain rules' kept files and the
/// shaped rules' `Kept` items, never what a `keep_*` period keeps, a future-dated file or a rule
/// without limits — oldest first, until it is met. `plain_rules[r]` says whether plain rule `r`
/// offers its kept files. Selected folders join `shaped.folders`.
pub(crate) fn apply_min_free(
    plan: &mut Plan,
    shaped: &mut ShapedPlan,
    scan: &Scan,
    plain_rules: &[bool],
    now_nanos: i128,
    space: Space,
    min_free: MinFree,
) -> MinFreeView {
    let mut selected = vec![false; scan.files.len()];
    for (index, _) in &plan.selected {
        selected[*index as usize] = true;
    }
    for (index, file) in scan.files.iter().enumerate() {
        let offered = file.rule().is_some_and(|rule| plain_rules[rule]);
        if offered && !selected[index] && file.mtime_nanos() <= now_nanos {
            shaped.offer(file.mtime_nanos(), &[index as u32], scan, None);
        }
    }
    let mut offers = std::mem::take(&mut shaped.offers);
    offers.sort_unstable_by_key(|offer| (offer.mtime_nanos, offer.first));
    let already = plan.selected_bytes(&scan.files);
    let outcome = retention::min_free_take(offers.iter().map(|offer| offer.bytes), space, already, min_free);
    let mut view = MinFreeView {
        target: match min_free {
            MinFree::Bytes(bytes) => crate::units::format_size(bytes),
            MinFree::Percent(percent) => format!("{percent}%"),
        },
        target_bytes: min_free.target(space.total_bytes),
        total_bytes: space.total_bytes,
        available_bytes: space.available_bytes,
        projected_bytes: outcome.projected_bytes,
        selected_files: 0,
        selected_bytes: 0,
        shortfall_bytes: outcome.shortfall_bytes,
    };
    for offer in &offers[..outcome.take] {
        let files = &shaped.members[offer.start as usize..(offer.start + offer.count) as usize];
        plan.selected.extend(files.iter().map(|&index| (index, Reason::MinFree)));
        view.selected_files += files.len() as u64;
        view.selected_bytes += offer.bytes;
        if let Some(dir) = offer.folder {
            let mut files = files.to_vec();
            files.sort_unstable();
            shaped.folders.push(FolderUnit { dir, files });
        }
        for &index in files {
            let file = &scan.files[index as usize];
            if let Some(rule) = file.rule() {
                let group = &mut plan.groups[rule];
                group.selected_files += 1;
                group.selected_bytes += file.size;
                group.kept_files -= 1;
                group.kept_bytes -= file.size;
            }
        }
    }
    plan.selected.sort_unstable_by_key(|(index, _)| *index);
    view
}
