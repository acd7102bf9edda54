//! `mmops rotate --explain PATH`: why one file would be kept or selected, in the terms of the
//! limits that decide it (its age against `days`, its rank against `keep`, the total of it and
//! the newer files of its rule against `max_size`), or why it is not a candidate at all. Read
//! only: it runs after the plan and before anything is archived or deleted.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use serde::Serialize;

use crate::outcome::Verdict;
use crate::output::{Marker, Report, Style};
use crate::sanitize::display_path;
use crate::units::format_size;

use super::plan::{Limits, Plan, PlanFile as _, Reason};
use super::policy::Retention;
use super::scan::Scan;

const NANOS_PER_DAY: f64 = 86_400e9;

/// What `--explain` prints: one decision and the facts behind it.
#[derive(Serialize, Debug, PartialEq)]
pub(crate) struct ExplainReport {
    pub path: String,
    /// `selected`, `kept` or `not_a_candidate`.
    pub decision: &'static str,
    pub rule: Option<String>,
    pub reason: Option<Reason>,
    /// One sentence per fact that decides it.
    pub why: Vec<String>,
}

impl Report for ExplainReport {
    fn marker(&self) -> Marker {
        Marker::new("rotate", Verdict::Pass, "ROTATE", "EXPLAINED")
    }

    fn write_text(&self, out: &mut dyn Write, _style: &Style) -> io::Result<()> {
        let rule = self.rule.as_deref().map_or(String::new(), |rule| format!(" by rule {rule}"));
        let headline = match (self.decision, self.reason) {
            ("selected", Some(reason)) => format!("selected{rule} ({})", reason.label()),
            ("selected", None) => format!("selected{rule}"),
            ("kept", _) => format!("kept{rule}"),
            _ => "not a candidate".to_string(),
        };
        writeln!(out, "{}: {headline}", self.path)?;
        for line in &self.why {
            writeln!(out, "  {line}")?;
        }
        Ok(())
    }
}

/// The path relative to the base dir: `artifacts/logs/a.log` and `logs/a.log` both name
/// `logs/a.log` when the base dir is `artifacts`.
pub(crate) fn relative_target(base_dir: &Path, path: &Path) -> PathBuf {
    let stripped = path.strip_prefix(base_dir).ok().filter(|rest| !rest.as_os_str().is_empty());
    let stripped = stripped.or_else(|| {
        let base = std::fs::canonicalize(base_dir).ok()?;
        path.strip_prefix(&base).ok().filter(|rest| !rest.as_os_str().is_empty())
    });
    let relative = stripped.unwrap_or(path);
    relative.components().filter(|part| !matches!(part, std::path::Component::CurDir)).collect()
}

/// Explains `target` (relative to the base dir) against the finished plan.
pub(crate) fn explain(
    base_dir: &Path,
    target: &Path,
    scan: &Scan,
    plan: &Plan,
    retention: &Retention,
    now_nanos: i128,
) -> Result<ExplainReport> {
    let shown = display_path(target);
    if target.as_os_str().is_empty()
        || target.components().any(|part| !matches!(part, std::path::Component::Normal(_)))
    {
        bail!(
            "--explain {shown}: give a file inside the base dir {} (relative to it, or starting with it), without ..",
            display_path(base_dir)
        );
    }
    let Some(index) = scan.files.iter().position(|file| scan.relative_path(file) == target) else {
        return not_a_candidate(base_dir, target, shown, retention);
    };
    let file = &scan.files[index];
    let age_days = (now_nanos - file.mtime_nanos()) as f64 / NANOS_PER_DAY;
    let age = format!("{:.1} days old", age_days);
    let Some(rule_index) = file.rule() else {
        let globs: Vec<&str> = retention.rules.iter().map(|rule| rule.label.as_str()).collect();
        return Ok(ExplainReport {
            path: shown,
            decision: "kept",
            rule: None,
            reason: None,
            why: vec![format!(
                "no rule covers it (rules: {}); files no rule covers are kept",
                globs.join(", ")
            )],
        });
    };
    let rule = &retention.rules[rule_index];
    let limits = rule.limits;
    // The rule's files oldest first, as the planner saw them (the scan is sorted that way).
    let members: Vec<usize> =
        (0..scan.files.len()).filter(|&other| scan.files[other].rule() == Some(rule_index)).collect();
    let position = members.iter().position(|&other| other == index).unwrap_or(0);
    let rank = members.len() - position;
    let newer_total: u64 = members[position..].iter().map(|&other| scan.files[other].size).sum();
    let max_size_text = |max_size: u64| match &rule.max_size_typed {
        Some(typed) => crate::units::TypedSize { bytes: max_size, typed: typed.clone() }.describe(),
        None => crate::units::format_size_exact(max_size),
    };
    let index = index as u32;
    if let Some((_, reason)) = plan.selected.iter().find(|(selected, _)| *selected == index) {
        let why = match reason {
            Reason::Ttl => format!("{age}, older than days {}", limits.days.unwrap_or_default()),
            Reason::Count => format!(
                "number {rank} counting from the newest of the rule's {} files, beyond keep {}",
                members.len(),
                limits.keep.unwrap_or_default()
            ),
            Reason::Size => format!(
                "it and the newer files of its rule total {}, above max size {}",
                format_size(newer_total),
                max_size_text(limits.max_size.unwrap_or_default())
            ),
            Reason::Retention => "not kept by any keep_* period of its rule".to_string(),
            Reason::Orphan => "a companion whose primary file is gone".to_string(),
            Reason::MinFree => "taken, oldest first, to reach the --min-free target".to_string(),
        };
        return Ok(ExplainReport {
            path: shown,
            decision: "selected",
            rule: Some(rule.label.clone()),
            reason: Some(*reason),
            why: vec![why],
        });
    }
    let why = if file.mtime_nanos() > now_nanos {
        vec![format!(
            "dated {:.1} days in the future (clock skew?); future-dated files are never deleted",
            -age_days
        )]
    } else if rule.is_shaped() {
        // keep_* periods, companions and folder units decide together; the plan is their answer.
        vec![format!(
            "{age}; kept by its rule's keep_* periods, companions or folder unit (--dry-run shows the whole plan)"
        )]
    } else {
        kept_because(&limits, &age, age_days, rank, members.len(), newer_total, max_size_text)
    };
    Ok(ExplainReport { path: shown, decision: "kept", rule: Some(rule.label.clone()), reason: None, why })
}

/// One sentence per limit the kept file is within.
fn kept_because(
    limits: &Limits,
    age: &str,
    age_days: f64,
    rank: usize,
    rule_files: usize,
    newer_total: u64,
    max_size_text: impl Fn(u64) -> String,
) -> Vec<String> {
    let mut why = Vec::new();
    if let Some(days) = limits.days {
        let verb = if age_days > days { "older than" } else { "within" };
        why.push(format!("{age}, {verb} days {days}"));
    }
    if let Some(keep) = limits.keep {
        why.push(format!(
            "number {rank} counting from the newest of the rule's {rule_files} files, within keep {keep}"
        ));
    }
    if let Some(max_size) = limits.max_size {
        why.push(format!(
            "it and the newer files of its rule total {}, within max size {}",
            format_size(newer_total),
            max_size_text(max_size)
        ));
    }
    if why.is_empty() {
        why.push("its rule has no limits: its files are kept".to_string());
    }
    why
}

/// Why a path the scan did not list is not a candidate, from what is on disk now.
fn not_a_candidate(
    base_dir: &Path,
    target: &Path,
    shown: String,
    retention: &Retention,
) -> Result<ExplainReport> {
    // A folder on the way that is a symlink: the scan never goes there (checked name by name,
    // so nothing outside the base dir is looked at).
    let mut walked = base_dir.to_path_buf();
    let parts: Vec<_> = target.components().collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        walked.push(part);
        if std::fs::symlink_metadata(&walked).is_ok_and(|metadata| metadata.file_type().is_symlink()) {
            let why = format!(
                "below the symlink {}: symlinks are never followed",
                display_path(walked.strip_prefix(base_dir).unwrap_or(&walked))
            );
            return Ok(ExplainReport {
                path: shown,
                decision: "not_a_candidate",
                rule: None,
                reason: None,
                why: vec![why],
            });
        }
    }
    let on_disk = base_dir.join(target);
    let metadata = match std::fs::symlink_metadata(&on_disk) {
        Ok(metadata) => metadata,
        Err(error) => bail!(
            "--explain {shown}: cannot find it under {} ({error}); give a path relative to the base dir",
            display_path(base_dir)
        ),
    };
    let kind = metadata.file_type();
    let hidden = target.components().any(|part| part.as_os_str().as_encoded_bytes().starts_with(b"."));
    let why = if kind.is_symlink() {
        "a symlink: never followed or deleted".to_string()
    } else if kind.is_dir() {
        "a folder: rotate deletes files (and, with --prune-empty-dirs, folders it emptied)".to_string()
    } else if retention.is_excluded(target) {
        let globs: Vec<String> = retention
            .excludes
            .iter()
            .filter(|glob| glob.is_match(target))
            .map(|glob| glob.to_string())
            .collect();
        format!("protected by exclude {}", globs.join(", "))
    } else if hidden {
        "hidden (a name starting with `.` on its path): pass --include-hidden to consider it".to_string()
    } else if !kind.is_file() {
        "a special file (FIFO, socket or device): never deleted".to_string()
    } else {
        "skipped by the scan: on another filesystem, in the archive folder, or unreadable".to_string()
    };
    Ok(ExplainReport { path: shown, decision: "not_a_candidate", rule: None, reason: None, why: vec![why] })
}
