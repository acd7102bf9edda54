//! `--tag-rc`: the release-candidate tag. Planned before anything runs (git present, a clean
//! work tree, a commit at HEAD, the next `v<VERSION>-rc<N>`, the canary's rollback triggers), so
//! every refusal is exit 2 with nothing run, tagged or written; created after the outputs are
//! prepared and before any is committed, so a tag git refuses (the name appeared meanwhile) is
//! still exit 2 with nothing changed. mmops never pushes.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::baseline::{Comparison, TAG_READINESS_LINE};
use super::checks::CanaryPolicy;
use super::config::Stage;
use super::git;
use super::pre_live::StepResult;
use super::readiness::{ReadinessDoc, SECTION_MAXIMA};
use crate::sanitize::{display_path, display_text};

/// Where `mmops bundle` writes releases, and where the canary checklist goes.
pub(crate) const RELEASE_DIR: &str = "artifacts/release";
pub(crate) const CHECKLIST: &str = "artifacts/release/CANARY_CHECKLIST.md";

/// Everything `--tag-rc` checked before the run.
#[derive(Debug, Clone)]
pub(crate) struct TagPlan {
    pub name: String,
    pub version: String,
    /// The commit the tag will name: HEAD when the run started.
    pub commit: String,
    /// The `v<VERSION>-rc*` tags that existed then, sorted.
    pub existing: Vec<String>,
    pub stages: Vec<Stage>,
    pub policy: CanaryPolicy,
    pub policy_path: PathBuf,
    pub alerts_path: PathBuf,
    pub dry_run: bool,
}

/// Most uncommitted paths named in a refusal.
const CHANGES_SHOWN: usize = 10;

/// The checks `--tag-rc` makes before anything runs.
pub(crate) fn plan(
    version: &str,
    stages: Vec<Stage>,
    alerts_path: &Path,
    policy_path: &Path,
    dry_run: bool,
) -> Result<TagPlan> {
    let repository = git::repository()?;
    refuse_changes(&git::uncommitted_changes()?, "the work tree has uncommitted changes")?;
    let prefix = format!("v{version}-rc");
    if !git::valid_tag_name(&format!("{prefix}1"))? {
        bail!(
            "VERSION {version:?} cannot name a git tag (v{version}-rc1 is not a valid tag name); fix VERSION"
        );
    }
    let existing = rc_tags(&git::tags()?, version);
    let number = next_number(&existing, version);
    let policy = super::checks::canary_triggers(alerts_path, policy_path)
        .with_context(|| "cannot read the canary's rollback triggers".to_string())?;
    Ok(TagPlan {
        name: format!("{prefix}{number}"),
        version: version.to_string(),
        commit: repository.head,
        existing,
        stages,
        policy,
        policy_path: policy_path.to_path_buf(),
        alerts_path: alerts_path.to_path_buf(),
        dry_run,
    })
}

fn refuse_changes(changes: &[String], what: &str) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let mut shown: Vec<&str> = changes.iter().take(CHANGES_SHOWN).map(String::as_str).collect();
    let more = changes.len().saturating_sub(CHANGES_SHOWN);
    let more_text = format!("and {more} more");
    if more > 0 {
        shown.push(&more_text);
    }
    bail!(
        "{what} ({}); commit or stash them first: an RC tag names a commit, not a work tree",
        shown.join(", ")
    )
}

/// The tags `v<VERSION>-rc<digits>`, sorted.
pub(crate) fn rc_tags(tags: &[String], version: &str) -> Vec<String> {
    let prefix = format!("v{version}-rc");
    let mut matching: Vec<String> = tags
        .iter()
        .filter(|tag| {
            tag.strip_prefix(&prefix)
                .is_some_and(|number| !number.is_empty() && number.bytes().all(|byte| byte.is_ascii_digit()))
        })
        .cloned()
        .collect();
    matching.sort();
    matching
}

/// 1 + the highest existing RC number (rc1 when there is none).
pub(crate) fn next_number(existing: &[String], version: &str) -> u64 {
    let prefix = format!("v{version}-rc");
    existing
        .iter()
        .filter_map(|tag| tag.strip_prefix(&prefix)?.parse::<u64>().ok())
        .max()
        .map_or(1, |highest| highest.saturating_add(1))
}

/// Right before creating the tag: HEAD still names the planned commit, the tree is still
/// clean (make-ready's own temporary outputs aside), and no RC tag of this version appeared.
pub(crate) fn recheck(plan: &TagPlan) -> Result<()> {
    let repository = git::repository()?;
    if repository.head != plan.commit {
        bail!(
            "HEAD moved while make-ready ran ({} → {}); nothing tagged: run make-ready again on the commit to release",
            short(&plan.commit),
            short(&repository.head)
        );
    }
    refuse_changes(&git::uncommitted_changes()?, "the work tree changed while make-ready ran")?;
    let now = rc_tags(&git::tags()?, &plan.version);
    if now != plan.existing {
        let appeared: Vec<&str> =
            now.iter().filter(|tag| !plan.existing.contains(tag)).map(String::as_str).collect();
        if appeared.is_empty() {
            bail!(
                "the v{}-rc* tags changed while make-ready ran (some were deleted); nothing tagged: run make-ready again",
                plan.version
            );
        }
        bail!(
            "tag {} appeared while make-ready ran (another release run?); nothing tagged: run make-ready again",
            appeared.join(", ")
        );
    }
    Ok(())
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

/// A release bundle of this version found in `artifacts/release/`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct Bundle {
    pub file: String,
    pub sha256: String,
}

/// The bundles `<name>-v<VERSION>.zip` in `artifacts/release/` (regular files only; a symlink
/// or FIFO there is refused), each hashed while streaming, sorted by name. A `.sha256` sidecar
/// that disagrees is an error: the tag must not record a bundle that fails its own check.
pub(crate) fn bundles(version: &str) -> Result<Vec<Bundle>> {
    let suffix = format!("-v{version}.zip");
    let dir = Path::new(RELEASE_DIR);
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error).with_context(|| format!("cannot list {RELEASE_DIR}")),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {RELEASE_DIR}"))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.ends_with(&suffix) || name.len() == suffix.len() {
            continue;
        }
        found.push(name.to_string());
    }
    found.sort();
    found.into_iter().map(|name| hash_bundle(&dir.join(&name), &name)).collect()
}

fn hash_bundle(path: &Path, name: &str) -> Result<Bundle> {
    let shown = display_path(path);
    let file = crate::limits::open_regular(path, true, "release bundle")?;
    let mut hasher = Sha256::new();
    let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = reader.read(&mut buffer).with_context(|| format!("cannot read {shown}"))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    let sha256: String = hasher.finalize().iter().map(|byte| format!("{byte:02x}")).collect();
    let sidecar = path.with_file_name(format!("{name}.sha256"));
    if let Ok(text) =
        crate::limits::read_string_limited(&sidecar, crate::limits::SIDECAR_MAX, "bundle sidecar")
    {
        let recorded = text.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
        if recorded != sha256 {
            bail!(
                "release bundle {shown} does not match its sidecar ({} says {}, the file hashes to {sha256}); run mmops bundle verify {shown}",
                display_path(&sidecar),
                display_text(&crate::sanitize::excerpt(&recorded, 64), false)
            );
        }
    }
    Ok(Bundle { file: name.to_string(), sha256 })
}

/// The facts a tag message and the checklist record.
pub(crate) struct Facts<'a> {
    pub plan: &'a TagPlan,
    pub utc: &'a str,
    /// `OK` or `OK_SIGNED_OFF`.
    pub verdict: &'a str,
    pub document: &'a ReadinessDoc,
    pub min_score: f64,
    pub readiness_file: &'a str,
    pub steps: &'a [StepResult],
    pub bundles: &'a [Bundle],
    pub baseline: Option<&'a Comparison>,
    /// The readiness JSON exactly as written.
    pub readiness_json: &'a [u8],
}

/// `chaos 10/10, edge 30/30, …`.
pub(crate) fn sections_line(document: &ReadinessDoc) -> String {
    SECTION_MAXIMA
        .iter()
        .zip(document.sections.named())
        .map(|((name, maximum), (_, value))| format!("{name} {value}/{maximum}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The annotated tag's message: the KPI summary, one fact a line, then the readiness JSON on
/// the line after `readiness.json:` so `--baseline-tag` reads it back. Every line from outside
/// (step notes, sign-off) is one line with control characters escaped.
pub(crate) fn message(facts: &Facts) -> String {
    let plan = facts.plan;
    let document = facts.document;
    let one = |text: &str| display_text(text, false);
    let mut text = format!(
        "mmops make-ready: release candidate {}\n\nversion: {}\ncommit: {}\nmade: {}\nverdict: MAKE_READY={} (readiness {})\nscore: {} (min {})\nsections: {}\n",
        plan.name,
        one(&plan.version),
        plan.commit,
        facts.utc,
        facts.verdict,
        document.verdict.label(),
        document.score,
        document.scoring.as_ref().map_or(facts.min_score, |scoring| scoring.go_at),
        sections_line(document)
    );
    match &document.sign_off {
        Some(sign_off) => {
            text.push_str(&format!("sign-off: {}: {}\n", one(&sign_off.name), one(&sign_off.reason)))
        }
        None => text.push_str("sign-off: none\n"),
    }
    if let Some(comparison) = facts.baseline {
        text.push_str(&format!("baseline: {}\n", one(&comparison.summary())));
    }
    if facts.bundles.is_empty() {
        text.push_str(&format!("bundle: none in {RELEASE_DIR} yet (mmops bundle builds it from this tag)\n"));
    }
    for bundle in facts.bundles {
        text.push_str(&format!("bundle: {} sha256 {}\n", one(&bundle.file), bundle.sha256));
    }
    text.push_str("pre-live:\n");
    for step in facts.steps {
        let notes = step.notes();
        let detail = if notes.is_empty() { String::new() } else { format!(" ({})", one(&notes.join("; "))) };
        text.push_str(&format!("  {}: {}{detail}\n", step.name, step.status.label()));
    }
    text.push_str(&format!("readiness file: {}\n\n{TAG_READINESS_LINE}\n", one(facts.readiness_file)));
    text.push_str(&String::from_utf8_lossy(facts.readiness_json));
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// What the report says about the tag.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ReleaseTag {
    /// `TAGGED`, `DRY_RUN` (nothing created) or `NOT_TAGGED` (the release is blocked).
    pub status: &'static str,
    pub tag: Option<String>,
    pub commit: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checklist: Option<String>,
    pub bundles: Vec<Bundle>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn rc_numbers_follow_the_highest_existing_tag_of_this_version_only() {
        let tags = names(&[
            "v1.4.0-rc1",
            "v1.4.0-rc10",
            "v1.4.0-rc9",
            "v1.4.0",
            "v1.4.0-rc2x",
            "v1.4.0-rc",
            "v1.4.00-rc50",
            "v1.4.0-rc3/x",
            "v2.0.0-rc7",
        ]);
        let existing = rc_tags(&tags, "1.4.0");
        assert_eq!(existing, ["v1.4.0-rc1", "v1.4.0-rc10", "v1.4.0-rc9"]);
        assert_eq!(next_number(&existing, "1.4.0"), 11);
        assert_eq!(next_number(&[], "1.4.0"), 1);
        // A huge number does not wrap around to rc1.
        assert_eq!(next_number(&names(&["v1-rc18446744073709551615"]), "1"), u64::MAX);
    }

    use proptest::prelude::*;

    proptest! {
        /// Whatever tags exist, the next RC is new and above every RC of this version, and
        /// tags of other versions or other shapes never count.
        #[test]
        fn the_next_rc_is_above_every_existing_one_of_its_version(
            numbers in prop::collection::vec(0u64..200, 0..12),
            noise in prop::collection::vec("[a-z0-9.-]{0,8}", 0..6),
        ) {
            let mut tags: Vec<String> = numbers.iter().map(|n| format!("v1.4.0-rc{n}")).collect();
            tags.extend(noise.iter().map(|suffix| format!("v1.4.0{suffix}x")));
            tags.extend(numbers.iter().map(|n| format!("v1.4.1-rc{}", n + 500)));
            let existing = rc_tags(&tags, "1.4.0");
            let next = next_number(&existing, "1.4.0");
            let name = format!("v1.4.0-rc{next}");
            prop_assert!(!tags.contains(&name));
            prop_assert!(numbers.iter().all(|n| *n < next));
            prop_assert_eq!(next, numbers.iter().max().map_or(1, |n| n + 1));
        }
    }

    #[test]
    fn refusal_names_the_first_changes_and_counts_the_rest() {
        let changes: Vec<String> = (0..12).map(|index| format!("?? f{index:02}")).collect();
        let message = refuse_changes(&changes, "dirty").unwrap_err().to_string();
        assert!(message.starts_with("dirty (?? f00, ?? f01,"), "{message}");
        assert!(message.contains("?? f09, and 2 more); commit or stash them first"), "{message}");
        assert!(refuse_changes(&[], "dirty").is_ok());
    }
}
