//! `mmops rotate` with `--base-dir` given more than once: every root is opened, checked and
//! planned before any is touched; then each is rotated in the order given, under its own lock,
//! quarantine and guards, exactly as a run with one `--base-dir` rotates it ([`super::run_root`]);
//! one report with a section per root, ending with the worst status.
//!
//! Bad input for any root (missing, not a folder, the same folder twice, one inside another, a
//! guard that refuses its plan) stops the run before anything changes under any root: exit 2.
//! Once rotating, a root that cannot be rotated (its lock held, its path now leading elsewhere,
//! an error) is reported and the next root still runs; an interrupt stops after the current
//! root's current file and the roots not reached are reported as not run.

use std::cell::OnceCell;
use std::io::{self, Write};

use anyhow::{Context as _, Result, bail};
use rustix::fs::{AtFlags, CWD, Mode, OFlags, fstat, openat, statat};
use serde::Serialize;
use serde::ser::SerializeMap;

use crate::atomic_write::AtomicFile;
use crate::cli::RotateArgs;
use crate::context::Context;
use crate::interrupt::Watch;
use crate::outcome::Verdict;
use crate::output::{Marker, Report, Style};
use crate::sanitize::display_path;

use super::report::{LockedReport, RotateReport};
use super::scan::{BaseDir, DirRecord, Identity};
use super::{RootEnd, RootOptions, check_root, plan_root, policy};

/// How many folders up the nesting check walks from a root before it gives up (a deeper tree
/// is not a real one).
const MAX_DEPTH: usize = 4096;

/// A root opened and checked: its handle is the one rotated, whatever its path leads to later.
struct Root {
    base: BaseDir,
    archive_identity: Option<Identity>,
    shown: String,
}

pub(super) fn run(args: &RotateArgs, context: &Context, retention: &policy::Retention) -> Result<Verdict> {
    let printer = &context.printer;
    let count = args.base_dirs.len();
    if let Some(url) =
        args.base_dirs.iter().find(|dir| crate::object_storage::StoreUrl::from_path(dir).is_some())
    {
        bail!(
            "--base-dir {}: an object-store prefix cannot be combined with other --base-dir values (each \
             store has its own lease and listing); run one rotate per prefix; nothing was deleted",
            display_path(url)
        );
    }
    if args.explain.is_some() {
        bail!("--explain looks at one base dir: give a single --base-dir with it");
    }
    if args.no_lock {
        bail!("--no-lock applies to object storage only; a local run always takes its lock file");
    }

    // Every root opened and checked before any is planned: a typo in the last one must not
    // leave the first rotated.
    let mut roots = Vec::with_capacity(count);
    for (index, dir) in args.base_dirs.iter().enumerate() {
        let shown = display_path(dir);
        let name = || format!("--base-dir {shown} ({} of {count}); no base dir was touched", index + 1);
        let base = BaseDir::open(dir).with_context(name)?;
        let archive_identity = check_root(args, &base).with_context(name)?;
        roots.push(Root { base, archive_identity, shown });
    }
    refuse_overlaps(&roots)?;
    if retention.min_free.is_some() {
        refuse_shared_filesystems(&roots)?;
    }

    // Every root planned before any is touched (read only: no lock, no quarantine restore).
    // Each root is planned again under its lock when its turn comes, as a single run does.
    if !args.dry_run {
        let mut walked = Vec::with_capacity(count);
        for root in &roots {
            let planned = plan_root(args, context, retention, &root.base, root.archive_identity, false)
                .with_context(|| format!("--base-dir {}; no base dir was touched", root.shown))?;
            if let Some(refusal) = planned.refusal {
                bail!(
                    "--base-dir {}: {}; nothing was deleted under any --base-dir",
                    root.shown,
                    refusal.message()
                );
            }
            walked.push(planned.scan.dirs);
        }
        refuse_walked_overlaps(&roots, &walked)?;
    }

    // The one --prom-file, prepared before the first delete so a bad path changes nothing.
    let mut prom_output = match (&args.prom_file, args.dry_run) {
        (Some(path), false) => Some(AtomicFile::create(path).context("--prom-file: nothing was deleted")?),
        _ => None,
    };
    // Started by the first root that reaches its deletes, then kept for the rest of the run.
    let watch: OnceCell<Watch> = OnceCell::new();
    let mut sections = Vec::with_capacity(count);
    let mut archives_taken: Vec<String> = Vec::new();
    for root in &roots {
        if watch.get().is_some_and(Watch::requested) {
            let not_run = "interrupted before this base dir was started; nothing was deleted in it";
            printer.problem(format!("--base-dir {}: {not_run}", root.shown));
            sections.push(Section::NotRun { base_dir: root.shown.clone(), not_run: not_run.to_string() });
            continue;
        }
        if let Some(why) = moved_since_planned(root) {
            printer.problem(format!("--base-dir {}: {why}", root.shown));
            sections.push(Section::Failed { base_dir: root.shown.clone(), error: why });
            continue;
        }
        let prefix = format!("--base-dir {}: ", root.shown);
        let options = RootOptions {
            watch: Some(&watch),
            prepare_prom: false,
            warning_prefix: Some(&prefix),
            archives_taken: &archives_taken,
        };
        match super::run_root(args, context, retention, &root.base, root.archive_identity, &options) {
            Ok(RootEnd::Ran(run)) => {
                archives_taken.extend(run.report.would_archive.as_ref().map(|archive| archive.path.clone()));
                sections.push(Section::Ran(Box::new(run.report)));
            }
            Ok(RootEnd::Locked(locked)) => sections.push(Section::Locked(locked)),
            Ok(RootEnd::Explained(_)) => bail!("--explain looks at one base dir"),
            Ok(RootEnd::Stopped) => {
                let not_run = "interrupted while waiting for its lock; nothing was deleted in it";
                printer.problem(format!("--base-dir {}: {not_run}", root.shown));
                sections.push(Section::NotRun { base_dir: root.shown.clone(), not_run: not_run.to_string() });
            }
            // A dry run changed nothing anywhere: an error is the whole run's.
            Err(error) if args.dry_run => {
                return Err(error.context(format!("--base-dir {}; nothing was changed", root.shown)));
            }
            Err(error) => {
                let line = crate::output::error_line(&error);
                printer.problem(format!("--base-dir {}: {line}", root.shown));
                sections.push(Section::Failed { base_dir: root.shown.clone(), error: line });
            }
        }
    }
    if args.dry_run {
        // A dry run plans each root once, in its turn: the overlap its scans show is checked
        // before anything is printed.
        let walked: Vec<&[DirRecord]> = sections
            .iter()
            .map(|section| match section {
                Section::Ran(report) => report.files.scan.dirs.as_slice(),
                _ => &[],
            })
            .collect();
        refuse_walked_overlaps(&roots, &walked)?;
    }
    let mut report = RootsReport { roots: sections };

    if let Some(atomic) = prom_output.take() {
        let ran: Vec<&RotateReport> = report.ran().collect();
        let not_run: Vec<&str> = report.roots.iter().filter_map(Section::not_rotated).collect();
        let text = super::prom_text(&ran, &not_run, context);
        if let Err(message) = super::commit_prom(atomic, &text) {
            printer.problem(format!("{message}; {}; ROTATE=PARTIAL", report.done_line()));
            for section in &mut report.roots {
                if let Section::Ran(ran) = section {
                    ran.output_error = Some(message.clone());
                }
            }
        }
    }

    let changed_disk = report.changed_disk();
    let verdict = match printer.emit(&report) {
        Ok(verdict) => verdict,
        Err(error) if changed_disk => {
            // The report is lost: the paths deleted go to stderr (bounded), then PARTIAL.
            for (root, section) in roots.iter().zip(&report.roots) {
                if let Section::Ran(ran) = section {
                    super::print_deleted(printer, &root.base, ran);
                }
            }
            printer.problem(format!("{}; | rotate | FAIL | ROTATE=PARTIAL |", report.done_line()));
            return Err(super::partial(error));
        }
        Err(error) => return Err(error),
    };
    // Exit 2 after the report, as a single run does: a dry run whose real run would be refused,
    // or a root that could not be rotated while nothing changed under any root.
    if let Some((root, refusal)) =
        report.ran().find_map(|ran| ran.refusal.as_ref().map(|refusal| (&ran.base_dir, refusal)))
    {
        let message = format!("a real run would be refused: --base-dir {root}: {refusal}");
        return Err(anyhow::Error::new(crate::outcome::Reported(message)));
    }
    if !changed_disk
        && verdict != Verdict::Interrupted
        && let Some(Section::Failed { base_dir, .. }) =
            report.roots.iter().find(|section| matches!(section, Section::Failed { .. }))
    {
        let message =
            format!("--base-dir {base_dir} could not be rotated; nothing was deleted under any --base-dir");
        return Err(anyhow::Error::new(crate::outcome::Reported(message)));
    }
    Ok(verdict)
}

/// Refuses the same folder given twice (by identity, whatever the paths) and a root inside
/// another on the same mount (its files would be planned twice, by two locks).
fn refuse_overlaps(roots: &[Root]) -> Result<()> {
    let ancestors: Vec<Vec<Identity>> =
        roots.iter().map(|root| ancestors(&root.base)).collect::<Result<_>>()?;
    for (later, root) in roots.iter().enumerate() {
        for earlier in &roots[..later] {
            if earlier.base.identity == root.base.identity {
                bail!(
                    "--base-dir {} and --base-dir {} are the same folder; give it once; no base dir was touched",
                    earlier.shown,
                    root.shown
                );
            }
        }
        for other in roots.iter().filter(|other| other.base.identity != root.base.identity) {
            if ancestors[later].contains(&other.base.identity) && other.base.same_mount(root.base.mount) {
                bail!(
                    "--base-dir {} lies inside --base-dir {}: its files would be planned twice; give only the \
                     outer one (with --exclude for what it must keep) or two folders side by side; no base dir \
                     was touched",
                    root.shown,
                    other.shown
                );
            }
        }
    }
    Ok(())
}

/// Refuses a root whose folder another root's scan walked through: a folder of one root
/// bind-mounted (or otherwise reachable) as another, which the walk up through `..` cannot
/// see. Its files would be planned twice.
fn refuse_walked_overlaps(roots: &[Root], walked: &[impl AsRef<[DirRecord]>]) -> Result<()> {
    for root in roots {
        for (other, dirs) in roots.iter().zip(walked) {
            let Some(dir) = dirs
                .as_ref()
                .iter()
                .find(|dir| !dir.relative.as_os_str().is_empty() && dir.identity == root.base.identity)
            else {
                continue;
            };
            bail!(
                "--base-dir {} is the folder {} of --base-dir {} (a bind mount or another path to it): its files \
                 would be planned twice; give only one of them; no base dir was touched",
                root.shown,
                display_path(&other.base.path.join(&dir.relative)),
                other.shown
            );
        }
    }
    Ok(())
}

/// The folders above `base`, nearest first, found through its handle (`..`, not its path).
fn ancestors(base: &BaseDir) -> Result<Vec<Identity>> {
    let mut found = Vec::new();
    let mut current =
        openat(&base.handle, "..", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty());
    let mut previous = base.identity;
    for _ in 0..MAX_DEPTH {
        let handle = current.map_err(|errno| {
            anyhow::anyhow!(
                "cannot open the folder above {}: {}",
                display_path(&base.path),
                io::Error::from(errno)
            )
        })?;
        let identity = Identity::of(&fstat(&handle)?);
        if identity == previous {
            // `/..` is `/`.
            return Ok(found);
        }
        found.push(identity);
        previous = identity;
        current = openat(&handle, "..", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty());
    }
    bail!("{} lies more than {MAX_DEPTH} folders deep", display_path(&base.path))
}

/// `--min-free` is a target for a filesystem: two roots on one would each count the same free
/// space (and each delete for it), so that is refused rather than guessed at.
fn refuse_shared_filesystems(roots: &[Root]) -> Result<()> {
    for (later, root) in roots.iter().enumerate() {
        if let Some(earlier) =
            roots[..later].iter().find(|earlier| earlier.base.identity.device == root.base.identity.device)
        {
            bail!(
                "--min-free with --base-dir {} and --base-dir {}: both are on one filesystem, whose free space each \
                 would count as its own; give one --base-dir above both, or run them one after another; no base \
                 dir was touched",
                earlier.shown,
                root.shown
            );
        }
    }
    Ok(())
}

/// Why a root's path no longer leads to the folder that was opened and planned (renamed,
/// removed, swapped for a symlink to somewhere else); `None` when it still does. The root is
/// then not rotated at all: its planned handle is never used for a folder the operator did not
/// name at the time of rotating.
fn moved_since_planned(root: &Root) -> Option<String> {
    match statat(CWD, &root.base.path, AtFlags::empty()) {
        Ok(stat) if Identity::of(&stat) == root.base.identity => None,
        Ok(_) => Some(
            "its path leads to another folder than the one planned (renamed, replaced or swapped for a symlink \
             since the run started); not rotated"
                .to_string(),
        ),
        Err(errno) => Some(format!(
            "cannot stat it again before rotating: {}; not rotated",
            io::Error::from(errno)
        )),
    }
}

/// One root's part of the report.
enum Section {
    Ran(Box<RotateReport>),
    Locked(LockedReport),
    /// Not started: the run was interrupted before it.
    NotRun {
        base_dir: String,
        not_run: String,
    },
    /// Not rotated: an error before anything was deleted under it.
    Failed {
        base_dir: String,
        error: String,
    },
}

impl Section {
    fn marker(&self) -> Marker {
        match self {
            Section::Ran(report) => report.marker(),
            Section::Locked(locked) => locked.marker(),
            Section::NotRun { .. } => Marker::new("rotate", Verdict::Interrupted, "ROTATE", "INTERRUPTED"),
            Section::Failed { .. } => Marker::new("rotate", Verdict::Fail, "ROTATE", "REFUSED"),
        }
    }

    fn base_dir(&self) -> &str {
        match self {
            Section::Ran(report) => &report.base_dir,
            Section::Locked(locked) => &locked.base_dir,
            Section::NotRun { base_dir, .. } | Section::Failed { base_dir, .. } => base_dir,
        }
    }

    /// The base dir of a root that was not rotated (for its failure series in `--prom-file`).
    fn not_rotated(&self) -> Option<&str> {
        match self {
            Section::Ran(_) => None,
            other => Some(other.base_dir()),
        }
    }

    fn write_line(&self, out: &mut dyn Write, style: &Style) -> io::Result<()> {
        match self {
            Section::Ran(_) => Ok(()),
            Section::Locked(locked) => writeln!(out, "{} {}", style.bad("not rotated:"), locked.error),
            Section::NotRun { not_run, .. } => writeln!(out, "{} {not_run}", style.bad("not run:")),
            Section::Failed { error, .. } => writeln!(out, "{} {error}", style.bad("not rotated:")),
        }
    }
}

/// A section in the JSON document: the root's own document (as a run with one `--base-dir`
/// prints it, without `tool` and `marker`) with its own `status`.
impl Serialize for Section {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct WithStatus<'a, T> {
            #[serde(flatten)]
            document: &'a T,
            status: &'static str,
        }
        let status = self.marker().verdict.label();
        match self {
            Section::Ran(report) => WithStatus { document: report.as_ref(), status }.serialize(serializer),
            Section::Locked(locked) => WithStatus { document: locked, status }.serialize(serializer),
            Section::NotRun { base_dir, not_run } => {
                let mut map = serializer.serialize_map(Some(3))?;
                map.serialize_entry("base_dir", base_dir)?;
                map.serialize_entry("not_run", not_run)?;
                map.serialize_entry("status", status)?;
                map.end()
            }
            Section::Failed { base_dir, error } => {
                let mut map = serializer.serialize_map(Some(3))?;
                map.serialize_entry("base_dir", base_dir)?;
                map.serialize_entry("error", error)?;
                map.serialize_entry("status", status)?;
                map.end()
            }
        }
    }
}

/// The report of a run with several `--base-dir`: one section per root, in the order given.
#[derive(Serialize)]
struct RootsReport {
    roots: Vec<Section>,
}

/// The order failing roots' marker values rank in, worst first (after `INTERRUPTED`).
const FAILURE_RANK: [&str; 4] = ["PARTIAL", "LOCKED", "REFUSED", "MIN_FREE_UNMET"];

impl RootsReport {
    fn ran(&self) -> impl Iterator<Item = &RotateReport> {
        self.roots.iter().filter_map(|section| match section {
            Section::Ran(report) => Some(report.as_ref()),
            _ => None,
        })
    }

    fn changed_disk(&self) -> bool {
        self.ran().any(RotateReport::changed_disk)
    }

    /// What the whole run did, for the lines that must say so when its report is incomplete.
    fn done_line(&self) -> String {
        let parts: Vec<String> =
            self.ran().map(|report| format!("{}: {}", report.base_dir, super::done_line(report))).collect();
        parts.join("; ")
    }

    fn write_sections(&self, out: &mut dyn Write, style: &Style, problems_only: bool) -> io::Result<()> {
        let mut first = true;
        for section in &self.roots {
            if problems_only && section.marker().verdict.passed() {
                continue;
            }
            if !first {
                writeln!(out)?;
            }
            first = false;
            writeln!(out, "{}", style.bold(&format!("== base dir {} ==", section.base_dir())))?;
            match section {
                Section::Ran(report) if problems_only => report.write_problems(out, style)?,
                Section::Ran(report) => report.write_text(out, style)?,
                other => other.write_line(out, style)?,
            }
        }
        Ok(())
    }
}

impl Report for RootsReport {
    /// The worst of the roots: `INTERRUPTED` first; `PARTIAL` once any root changed the disk and
    /// another failed; `REFUSED` when a root could not be rotated and nothing changed (the run
    /// then exits 2); else the worst failing root's value; `DONE`/`DRYRUN` when all passed.
    fn marker(&self) -> Marker {
        let markers: Vec<Marker> = self.roots.iter().map(Section::marker).collect();
        let value = |value: &str| Marker::new("rotate", Verdict::Fail, "ROTATE", value);
        if let Some(interrupted) = markers.iter().find(|marker| marker.verdict == Verdict::Interrupted) {
            return interrupted.clone();
        }
        if let Some(failing) = markers.iter().filter(|marker| !marker.verdict.passed()).min_by_key(|marker| {
            FAILURE_RANK.iter().position(|rank| *rank == marker.value).unwrap_or(FAILURE_RANK.len())
        }) {
            // A root that could not be rotated while nothing changed anywhere: exit 2, REFUSED.
            let could_not_run = self.roots.iter().any(|section| matches!(section, Section::Failed { .. }));
            return match (self.changed_disk(), could_not_run) {
                (true, _) => value("PARTIAL"),
                (false, true) => value("REFUSED"),
                (false, false) => failing.clone(),
            };
        }
        markers.into_iter().next().unwrap_or_else(|| value("REFUSED"))
    }

    fn write_text(&self, out: &mut dyn Write, style: &Style) -> io::Result<()> {
        self.write_sections(out, style, false)
    }

    fn write_problems(&self, out: &mut dyn Write, style: &Style) -> io::Result<()> {
        self.write_sections(out, style, true)
    }

    fn streams_json(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn locked(base_dir: &str) -> Section {
        Section::Locked(LockedReport {
            base_dir: base_dir.into(),
            lock: format!("{base_dir}/.mmops-rotate.lock"),
            holder: String::new(),
            waited_seconds: 0.0,
            error: "held".into(),
        })
    }

    fn failed(base_dir: &str) -> Section {
        Section::Failed { base_dir: base_dir.into(), error: "moved".into() }
    }

    fn not_run(base_dir: &str) -> Section {
        Section::NotRun { base_dir: base_dir.into(), not_run: "interrupted".into() }
    }

    #[test]
    fn the_marker_is_the_worst_root_interrupted_first() {
        let marker = |roots: Vec<Section>| {
            let marker = RootsReport { roots }.marker();
            (marker.verdict, marker.value)
        };
        assert_eq!(marker(vec![failed("a"), locked("b")]), (Verdict::Fail, "REFUSED".to_string()));
        assert_eq!(marker(vec![locked("a"), locked("b")]), (Verdict::Fail, "LOCKED".to_string()));
        assert_eq!(marker(vec![failed("a")]), (Verdict::Fail, "REFUSED".to_string()));
        assert_eq!(
            marker(vec![locked("a"), not_run("b")]),
            (Verdict::Interrupted, "INTERRUPTED".to_string())
        );
    }

    #[test]
    fn sections_serialize_with_their_own_status() {
        let document = serde_json::to_value(RootsReport { roots: vec![not_run("a"), failed("b")] }).unwrap();
        assert_eq!(
            document,
            serde_json::json!({"roots": [
                {"base_dir": "a", "not_run": "interrupted", "status": "FAIL"},
                {"base_dir": "b", "error": "moved", "status": "FAIL"},
            ]})
        );
    }

    #[test]
    fn ancestors_are_found_through_the_handle() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("outer/inner")).unwrap();
        let outer = BaseDir::open(&dir.path().join("outer")).unwrap();
        let inner = BaseDir::open(&dir.path().join("outer/inner")).unwrap();
        let above = ancestors(&inner).unwrap();
        assert_eq!(above.first(), Some(&outer.identity));
        assert!(!ancestors(&outer).unwrap().contains(&inner.identity));
        // It ends at `/`, whose `..` is itself.
        let root = BaseDir::open(Path::new("/")).unwrap();
        assert!(ancestors(&root).unwrap().is_empty());
    }
}
