//! The baseline: the readiness JSON of a previous release (`--baseline FILE`, or the one recorded
//! in an RC tag's message with `--baseline-tag TAG`), each section's change since, and the
//! `max_drop` rules that block a release which got worse by more than allowed.

use std::path::Path;

use anyhow::{Result, bail};
use serde::Serialize;

use super::config::Scoring;
use super::readiness::{ReadinessDoc, SECTION_MAXIMA, round6};
use crate::limits;
use crate::sanitize::display_path;

/// The line of an RC tag's message after which the readiness JSON follows, on one line.
pub(crate) const TAG_READINESS_LINE: &str = "readiness.json:";

/// A baseline, read and validated.
#[derive(Debug, Clone)]
pub(crate) struct Baseline {
    /// Where it came from: `file old.json` or `tag v1.4.0-rc1`.
    pub source: String,
    pub document: ReadinessDoc,
}

/// Reads `--baseline FILE`: a readiness JSON, validated as `--validate` would parse it.
pub(crate) fn from_file(path: &Path) -> Result<Baseline> {
    let shown = display_path(path);
    let bytes = limits::read_limited(path, limits::READINESS_MAX, "baseline readiness JSON")?;
    let document = parse(&bytes, &format!("--baseline {shown}"))?;
    Ok(Baseline { source: format!("file {shown}"), document })
}

/// Reads `--baseline-tag TAG`: the readiness JSON in the tag's message.
pub(crate) fn from_tag(tag: &str) -> Result<Baseline> {
    if !super::git::valid_tag_name(tag)? {
        bail!("--baseline-tag {tag:?} is not a valid tag name");
    }
    let message = super::git::tag_message(tag)?;
    let document = from_message(&message).map_err(|why| anyhow::anyhow!("--baseline-tag {tag}: {why}"))?;
    let document = parse(document.as_bytes(), &format!("--baseline-tag {tag}"))?;
    Ok(Baseline { source: format!("tag {tag}"), document })
}

/// The readiness JSON line of a tag message written by `--tag-rc`.
pub(crate) fn from_message(message: &str) -> Result<String, String> {
    let mut lines = message.lines();
    if !lines.any(|line| line == TAG_READINESS_LINE) {
        return Err(format!(
            "the tag message has no \"{TAG_READINESS_LINE}\" line; only tags made by make-ready --tag-rc carry a readiness JSON"
        ));
    }
    match lines.next() {
        Some(line) if line.starts_with('{') => Ok(format!("{line}\n")),
        _ => Err(format!("the line after \"{TAG_READINESS_LINE}\" is not a JSON object")),
    }
}

fn parse(bytes: &[u8], what: &str) -> Result<ReadinessDoc> {
    match ReadinessDoc::parse(bytes) {
        Ok(document) => Ok(document),
        Err(errors) => bail!("{what} is not a valid readiness JSON: {}", errors.join("; ")),
    }
}

/// One number then and now.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Change {
    pub name: &'static str,
    pub baseline: f64,
    pub current: f64,
    /// `current - baseline`, rounded to 6 decimals: negative is worse.
    pub change: f64,
    /// The configured `max_drop`, when any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_drop: Option<f64>,
}

impl Change {
    fn new(name: &'static str, baseline: f64, current: f64, max_drop: Option<f64>) -> Change {
        Change { name, baseline, current, change: round6(current - baseline), max_drop }
    }

    /// `edge 30 → 15 (-15)`.
    pub(crate) fn describe(&self) -> String {
        format!("{} {} → {} ({})", self.name, self.baseline, self.current, signed(self.change))
    }

    /// Why this change blocks, when it fell by more than its `max_drop`.
    fn excess(&self, setting: &str) -> Option<String> {
        let limit = self.max_drop?;
        let drop = -self.change;
        (drop > limit).then(|| {
            format!(
                "{} dropped {drop} since the baseline ({} → {}); {setting} is {limit}",
                self.name, self.baseline, self.current
            )
        })
    }
}

/// `+5`, `-15`, `0`.
pub(crate) fn signed(value: f64) -> String {
    if value > 0.0 {
        format!("+{value}")
    } else if value == 0.0 {
        "0".into()
    } else {
        format!("{value}")
    }
}

/// The current run against the baseline.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Comparison {
    pub source: String,
    pub version: String,
    pub utc: String,
    pub verdict: &'static str,
    pub score: Change,
    /// In section key order.
    pub sections: Vec<Change>,
    /// The two scores were computed by different rules (weights, or one reference-shaped): the
    /// score's change mixes formulas, so compare sections.
    pub different_rules: bool,
    /// Each `max_drop` exceeded; any blocks the release.
    pub drops: Vec<String>,
}

/// Compares `current` with the baseline under the `max_drop` rules of `scoring`.
pub(crate) fn compare(baseline: &Baseline, current: &ReadinessDoc, scoring: Option<&Scoring>) -> Comparison {
    let then = &baseline.document;
    let score = Change::new("score", then.score, current.score, scoring.and_then(|s| s.max_drop));
    let sections: Vec<Change> = SECTION_MAXIMA
        .iter()
        .enumerate()
        .zip(then.sections.named().into_iter().zip(current.sections.named()))
        .map(|((index, (name, _)), ((_, before), (_, now)))| {
            Change::new(name, before, now, scoring.and_then(|s| s.section_max_drop[index]))
        })
        .collect();
    // A reference-shaped document weighs each section by its maximum (the same as scoring's
    // default weights), so only truly different weights make the scores incomparable.
    let weights = |document: &ReadinessDoc| {
        document
            .scoring
            .as_ref()
            .map(|scoring| scoring.weights.named().map(|(_, weight)| weight))
            .unwrap_or(SECTION_MAXIMA.map(|(_, maximum)| round6(maximum / 100.0)))
    };
    let mut drops: Vec<String> = score.excess("scoring.max_drop").into_iter().collect();
    for change in &sections {
        drops.extend(change.excess(&format!("scoring.sections.{}.max_drop", change.name)));
    }
    Comparison {
        source: baseline.source.clone(),
        version: then.runtime.version.clone(),
        utc: then.runtime.utc.clone(),
        verdict: then.verdict.label(),
        different_rules: weights(then) != weights(current),
        score,
        sections,
        drops,
    }
}

impl Comparison {
    /// One line: `baseline tag v1.4.0-rc1 (1.4.0, GO): score 100 → 85 (-15); edge 30 → 15 (-15)`,
    /// unchanged sections left out.
    pub(crate) fn summary(&self) -> String {
        let mut text = format!(
            "baseline {} ({}, {}): {}",
            self.source,
            self.version,
            self.verdict,
            self.score.describe()
        );
        let changed: Vec<String> =
            self.sections.iter().filter(|change| change.change != 0.0).map(Change::describe).collect();
        if changed.is_empty() {
            text.push_str("; no section changed");
        } else {
            text.push_str("; ");
            text.push_str(&changed.join(", "));
        }
        if self.different_rules {
            text.push_str(" (scored with different weights: compare the sections)");
        }
        text
    }

    /// The Markdown table for the readiness twin.
    pub(crate) fn markdown(&self) -> String {
        let mut text = format!(
            "\n## Change since the baseline\n\nBaseline: {} (version {}, {}, verdict {}).\n\n| section | baseline | now | change | max_drop |\n|---|---|---|---|---|\n",
            self.source.replace('|', "\\|"),
            self.version.replace('|', "\\|"),
            self.utc,
            self.verdict
        );
        for change in self.sections.iter().chain(std::iter::once(&self.score)) {
            let limit = change.max_drop.map(|limit| limit.to_string()).unwrap_or_default();
            text.push_str(&format!(
                "| {} | {} | {} | {} | {limit} |\n",
                change.name,
                change.baseline,
                change.current,
                signed(change.change)
            ));
        }
        if self.different_rules {
            text.push_str("\nThe two scores were computed with different weights: compare the sections.\n");
        }
        for drop in &self.drops {
            text.push_str(&format!("\n**Blocked:** {}\n", drop.replace('|', "\\|")));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readiness_doc::{ReadinessVerdict, Runtime, Sections};

    fn document(edge: f64, tests: f64) -> ReadinessDoc {
        let sections = Sections { chaos: 10.0, edge, guards: 10.0, latency: 25.0, taker: 15.0, tests };
        ReadinessDoc {
            runtime: Runtime { utc: "2026-11-01T00:00:00Z".into(), version: "1.3.0".into() },
            score: sections.total(),
            scoring: None,
            sections,
            sign_off: None,
            verdict: ReadinessVerdict::Go,
        }
    }

    fn scoring(max_drop: Option<f64>, edge: Option<f64>) -> Scoring {
        let mut section_max_drop = [None; 6];
        section_max_drop[1] = edge;
        Scoring {
            weights: [10.0, 30.0, 10.0, 25.0, 15.0, 10.0],
            critical: Vec::new(),
            go_at: None,
            marginal_at: None,
            min_reports: 0,
            max_drop,
            section_max_drop,
        }
    }

    #[test]
    fn each_section_change_is_shown_and_max_drop_blocks_only_beyond_its_limit() {
        let baseline = Baseline { source: "tag v1.3.0-rc1".into(), document: document(30.0, 0.0) };
        let now = document(15.0, 10.0);
        let free = compare(&baseline, &now, None);
        assert_eq!(free.score.change, -5.0);
        assert_eq!(
            free.summary(),
            "baseline tag v1.3.0-rc1 (1.3.0, GO): score 90 → 85 (-5); edge 30 → 15 (-15), tests 0 → 10 (+10)"
        );
        assert!(free.drops.is_empty());
        // Exactly the limit passes; beyond it blocks, naming the setting.
        assert!(compare(&baseline, &now, Some(&scoring(Some(5.0), Some(15.0)))).drops.is_empty());
        assert_eq!(
            compare(&baseline, &now, Some(&scoring(Some(4.5), Some(10.0)))).drops,
            [
                "score dropped 5 since the baseline (90 → 85); scoring.max_drop is 4.5",
                "edge dropped 15 since the baseline (30 → 15); scoring.sections.edge.max_drop is 10",
            ]
        );
        // A rise never blocks, even with max_drop 0.
        let better = compare(
            &Baseline { document: document(15.0, 0.0), ..baseline.clone() },
            &now,
            Some(&scoring(Some(0.0), Some(0.0))),
        );
        assert!(better.drops.is_empty(), "{:?}", better.drops);
        assert!(compare(&baseline, &document(30.0, 0.0), None).summary().ends_with("; no section changed"));
    }

    #[test]
    fn the_readiness_line_is_found_in_a_tag_message() {
        let message =
            "mmops make-ready: release candidate v1-rc1\n\nscore: 100\n\nreadiness.json:\n{\"a\":1}\n";
        assert_eq!(from_message(message).unwrap(), "{\"a\":1}\n");
        assert!(from_message("just a tag\n").unwrap_err().contains("only tags made by make-ready --tag-rc"));
        assert!(from_message("readiness.json:\nnot json\n").unwrap_err().contains("not a JSON object"));
    }
}
