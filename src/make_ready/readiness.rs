//! The readiness score: the reference formula over up to 7 soak reports, whether the evidence
//! is complete enough for GO, and the verdict rule the validator applies. Pure: no files, no
//! clock; `reports.rs` reads the disk and `crate::readiness_doc` owns the document's shape.

use serde_json::Value;

pub(crate) use crate::readiness_doc::{
    ReadinessDoc, ReadinessVerdict, Runtime, SECTION_MAXIMA, ScoringRecord, Sections, SignOff, round6,
    weighted_score,
};

use super::config::Scoring;

/// The fields the formula scores, in the order problems are reported.
pub(crate) const SCORED_FIELDS: [&str; 7] = [
    "edge_net_bps",
    "order_age_p95_ms",
    "taker_share_pct",
    "reg_guard.reason",
    "drift.reason",
    "chaos_result",
    "bug_bash",
];

/// Why a report's scored field is not evidence GO can rest on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Problem {
    Missing,
    NotANumber,
    NotText,
    Negative,
    Above100,
}

impl Problem {
    /// `(singular, plural)` verb phrase before the field name.
    fn phrase(self) -> (&'static str, &'static str) {
        match self {
            Problem::Missing => ("lacks", "lack"),
            Problem::NotANumber => ("has a non-numeric", "have a non-numeric"),
            Problem::NotText => ("has a non-text", "have a non-text"),
            Problem::Negative => ("has a negative", "have a negative"),
            Problem::Above100 => ("has a percentage above 100 in", "have a percentage above 100 in"),
        }
    }
}

/// One soak report's fields as the formula sees them (missing/non-finite numbers are 0,
/// missing reasons are `NONE`, missing results are `OK`), plus what was missing or invalid.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SoakDay {
    pub edge_net_bps: f64,
    pub order_age_p95_ms: f64,
    pub taker_share_pct: f64,
    pub reg_guard_reason: String,
    pub drift_reason: String,
    pub chaos_result: String,
    pub bug_bash: String,
    /// `(index into SCORED_FIELDS, problem)`; empty = complete evidence.
    pub problems: Vec<(usize, Problem)>,
}

impl SoakDay {
    /// Reads the formula's fields from a parsed report; the score stays lenient exactly where the
    /// original was, while `problems` records every gap so GO can refuse to rest on it.
    pub(crate) fn from_json(value: &Value) -> Option<SoakDay> {
        let object = value.as_object()?;
        let mut problems = Vec::new();
        let mut number = |index: usize, lowest_ok: Option<f64>, percentage: bool| {
            let key = SCORED_FIELDS[index];
            match object.get(key) {
                None | Some(Value::Null) => problems.push((index, Problem::Missing)),
                Some(Value::Number(number)) => match number.as_f64().filter(|n| n.is_finite()) {
                    None => problems.push((index, Problem::NotANumber)),
                    Some(n) if lowest_ok.is_some_and(|low| n < low) => {
                        problems.push((index, Problem::Negative))
                    }
                    Some(n) if percentage && n > 100.0 => problems.push((index, Problem::Above100)),
                    Some(_) => {}
                },
                // "9999" is text, not a measurement.
                Some(_) => problems.push((index, Problem::NotANumber)),
            }
            object.get(key).and_then(Value::as_f64).filter(|n| n.is_finite()).unwrap_or(0.0)
        };
        let edge_net_bps = number(0, None, false);
        let order_age_p95_ms = number(1, Some(0.0), false);
        let taker_share_pct = number(2, Some(0.0), true);
        let text = |value: Option<&Value>, missing: &str| match value {
            None | Some(Value::Null) => missing.to_string(),
            Some(Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
        };
        let mut check_text = |index: usize, value: Option<&Value>| match value {
            None | Some(Value::Null) => problems.push((index, Problem::Missing)),
            Some(Value::String(_)) => {}
            Some(_) => problems.push((index, Problem::NotText)),
        };
        let reason_of = |key: &str| object.get(key).and_then(|section| section.get("reason"));
        check_text(3, reason_of("reg_guard"));
        check_text(4, reason_of("drift"));
        check_text(5, object.get("chaos_result"));
        check_text(6, object.get("bug_bash"));
        Some(SoakDay {
            edge_net_bps,
            order_age_p95_ms,
            taker_share_pct,
            reg_guard_reason: text(reason_of("reg_guard"), "NONE"),
            drift_reason: text(reason_of("drift"), "NONE"),
            chaos_result: text(object.get("chaos_result"), "OK"),
            bug_bash: text(object.get("bug_bash"), "OK"),
            problems,
        })
    }

    fn guards_ok(&self) -> bool {
        self.reg_guard_reason == "NONE" && (self.drift_reason == "NONE" || self.drift_reason.is_empty())
    }
}

/// Hold reasons for incomplete evidence, one per field and problem, naming the reports:
/// `3 reports lack order_age_p95_ms (REPORT_SOAK_20261101.json, …)`. `names[i]` names `days[i]`.
pub(crate) fn evidence_gaps(days: &[SoakDay], names: &[String]) -> Vec<String> {
    let mut grouped: std::collections::BTreeMap<(usize, Problem), Vec<&str>> = Default::default();
    for (day, name) in days.iter().zip(names) {
        for problem in &day.problems {
            grouped.entry(*problem).or_default().push(name);
        }
    }
    grouped
        .into_iter()
        .map(|((field, problem), reports)| {
            let (one, many) = problem.phrase();
            let (noun, verb) = if reports.len() == 1 { ("report", one) } else { ("reports", many) };
            format!("{} {noun} {verb} {} ({})", reports.len(), SCORED_FIELDS[field], reports.join(", "))
        })
        .collect()
}

/// `statistics.median`; 0 when empty (the reference formula's rule for a column with no reports).
fn median(values: &[f64]) -> f64 {
    crate::stats::median(values).unwrap_or(0.0)
}

/// The reference formula. With no days: 60 (latency, taker, chaos and tests full).
pub(crate) fn score(days: &[SoakDay]) -> Sections {
    let column = |pick: fn(&SoakDay) -> f64| median(&days.iter().map(pick).collect::<Vec<_>>());
    let edge = 30.0 * (column(|day| day.edge_net_bps) / 2.5).clamp(0.0, 1.0);
    let age = column(|day| day.order_age_p95_ms);
    let latency = if age <= 350.0 { 25.0 } else { 25.0 * (350.0 / age).clamp(0.0, 1.0) };
    let taker_share = column(|day| day.taker_share_pct);
    let taker = if taker_share <= 15.0 { 15.0 } else { 15.0 * (15.0 / taker_share).clamp(0.0, 1.0) };
    let ok_days = days.iter().filter(|day| day.guards_ok()).count();
    // The divisor is always 7: fewer reports than a week cannot earn full guard marks.
    let guards = 10.0 * ok_days as f64 / 7.0;
    let chaos = if days.iter().all(|day| day.chaos_result == "OK") { 10.0 } else { 0.0 };
    let tests = if days.iter().all(|day| day.bug_bash.contains("OK")) { 10.0 } else { 0.0 };
    Sections {
        edge: round6(edge),
        latency: round6(latency),
        taker: round6(taker),
        guards: round6(guards),
        chaos: round6(chaos),
        tests: round6(tests),
    }
}

/// `GO` or `HOLD`.
pub(crate) fn verdict_of(go: bool) -> ReadinessVerdict {
    if go { ReadinessVerdict::Go } else { ReadinessVerdict::Hold }
}

/// The readiness document in the reference shape.
pub(crate) fn document(sections: &Sections, verdict_go: bool, utc: &str, version: &str) -> ReadinessDoc {
    ReadinessDoc {
        runtime: Runtime { utc: utc.to_string(), version: version.to_string() },
        score: sections.total(),
        scoring: None,
        sections: *sections,
        sign_off: None,
        verdict: verdict_of(verdict_go),
    }
}

/// The record of a `scoring:` section as the document carries it: weights normalised (rounded
/// to 6 decimals), thresholds resolved (`go_at` defaults to `--min-score`, `marginal_at` to
/// `go_at`).
pub(crate) fn record(scoring: &Scoring, min_score: f64) -> ScoringRecord {
    let total: f64 = scoring.weights.iter().sum();
    let [chaos, edge, guards, latency, taker, tests] = scoring.weights.map(|weight| round6(weight / total));
    let go_at = scoring.go_at.unwrap_or(min_score);
    ScoringRecord {
        critical: scoring.critical.iter().map(|name| name.to_string()).collect(),
        go_at,
        marginal_at: scoring.marginal_at.unwrap_or(go_at),
        min_reports: scoring.min_reports,
        weights: Sections { chaos, edge, guards, latency, taker, tests },
    }
}

/// Critical sections below their maximum: `critical section edge is 15 of 30`.
pub(crate) fn critical_shortfalls(record: &ScoringRecord, sections: &Sections) -> Vec<String> {
    SECTION_MAXIMA
        .iter()
        .zip(sections.named())
        .filter(|((name, maximum), (_, value))| record.critical.iter().any(|c| c == name) && value < maximum)
        .map(|((name, maximum), (_, value))| format!("critical section {name} is {value} of {maximum}"))
        .collect()
}

/// A scored document: `score` is the weighted score of `sections` under `record`.
pub(crate) fn scored_document(
    sections: &Sections,
    record: ScoringRecord,
    verdict: ReadinessVerdict,
    sign_off: Option<SignOff>,
    utc: &str,
    version: &str,
) -> ReadinessDoc {
    ReadinessDoc {
        runtime: Runtime { utc: utc.to_string(), version: version.to_string() },
        score: weighted_score(sections, &record.weights),
        scoring: Some(record),
        sections: *sections,
        sign_off,
        verdict,
    }
}

/// A verdict and why.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Judged {
    pub document: ReadinessDoc,
    /// Why the verdict is not GO (score reasons first, then `evidence_reasons`); empty when a
    /// MARGINAL verdict was signed off.
    pub hold_reasons: Vec<String>,
    /// Recorded only on a MARGINAL verdict.
    pub sign_off: Option<SignOff>,
}

/// The verdict over `days`. `evidence_reasons` (gaps, stale evidence) always hold/block.
/// Without `record` this is the reference rule: GO when score ≥ `min_score` and no evidence
/// reason, else HOLD. With it: BLOCKED for any evidence reason, a critical section below its
/// maximum, fewer than `min_reports` readable reports or a score below `marginal_at`; else
/// MARGINAL below `go_at`; else GO.
pub(crate) fn judge(
    days: &[SoakDay],
    evidence_reasons: Vec<String>,
    record: Option<ScoringRecord>,
    min_score: f64,
    sign_off: Option<SignOff>,
    utc: &str,
    version: &str,
) -> Judged {
    let sections = score(days);
    let Some(record) = record else {
        let score = sections.total();
        let mut hold_reasons = Vec::new();
        if score < min_score {
            hold_reasons.push(format!("score {score} is below {min_score}"));
        }
        hold_reasons.extend(evidence_reasons);
        let document = document(&sections, hold_reasons.is_empty(), utc, version);
        return Judged { document, hold_reasons, sign_off: None };
    };
    let score = weighted_score(&sections, &record.weights);
    let mut hold_reasons = Vec::new();
    if score < record.marginal_at {
        hold_reasons.push(format!("score {score} is below marginal_at {}", record.marginal_at));
    }
    hold_reasons.extend(critical_shortfalls(&record, &sections));
    if days.len() < record.min_reports as usize {
        hold_reasons.push(format!(
            "{} of {} required reports (scoring.min_reports)",
            days.len(),
            record.min_reports
        ));
    }
    hold_reasons.extend(evidence_reasons);
    let verdict = if !hold_reasons.is_empty() {
        ReadinessVerdict::Blocked
    } else if score < record.go_at {
        ReadinessVerdict::Marginal
    } else {
        ReadinessVerdict::Go
    };
    let sign_off = sign_off.filter(|_| verdict == ReadinessVerdict::Marginal);
    if verdict == ReadinessVerdict::Marginal && sign_off.is_none() {
        hold_reasons.push(format!(
            "score {score} is MARGINAL (marginal_at {} ≤ score < go_at {}): passes only with --sign-off \"name: reason\"",
            record.marginal_at, record.go_at
        ));
    }
    let document = scored_document(&sections, record, verdict, sign_off.clone(), utc, version);
    Judged { document, hold_reasons, sign_off }
}

/// The Markdown twin: a `| section | score |` table.
pub(crate) fn markdown(document: &ReadinessDoc) -> String {
    let mut text = format!(
        "# Readiness\n\n- utc: {}\n- version: {}\n\n| section | score |\n|---|---|\n",
        document.runtime.utc, document.runtime.version
    );
    let Some(scoring) = &document.scoring else {
        for ((name, maximum), (_, value)) in SECTION_MAXIMA.iter().zip(document.sections.named()) {
            text.push_str(&format!("| {name} | {value} / {maximum} |\n"));
        }
        text.push_str(&format!(
            "| **score** | **{}** / 100 |\n\nVerdict: **{}**\n",
            document.score,
            document.verdict.label()
        ));
        return text;
    };
    // Scored: the same table with each section's weight, then the rules and any sign-off.
    text = text.replace("| section | score |\n|---|---|\n", "| section | score | weight |\n|---|---|---|\n");
    for (((name, maximum), (_, value)), (_, weight)) in
        SECTION_MAXIMA.iter().zip(document.sections.named()).zip(scoring.weights.named())
    {
        let critical = if scoring.critical.iter().any(|c| c == name) { " (critical)" } else { "" };
        text.push_str(&format!("| {name} | {value} / {maximum} | {weight}{critical} |\n"));
    }
    text.push_str(&format!(
        "| **weighted score** | **{}** / 100 | |\n\nScoring: GO at {}, MARGINAL at {}, at least {} reports.\n\nVerdict: **{}**\n",
        document.score,
        scoring.go_at,
        scoring.marginal_at,
        scoring.min_reports,
        document.verdict.label()
    ));
    if let Some(sign_off) = &document.sign_off {
        text.push_str(&format!(
            "\nSigned off by **{}**: {}\n",
            sign_off.name.replace('|', "\\|"),
            sign_off.reason.replace('|', "\\|")
        ));
    }
    text
}

/// What the validator expects of the verdict.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VerdictRule {
    /// GO requires score ≥ this; HOLD is invalid at or above it (unless `hold_allowed`).
    pub min_score: f64,
    /// A HOLD forced by something outside the score (stale or incomplete evidence) is consistent.
    pub hold_allowed: bool,
}

/// Parses a readiness file and checks its verdict against the rule: the document's own checks
/// (`crate::readiness_doc`) plus the original validator's verdict consistency. Returns the
/// document when it parsed, and every error found (empty = valid).
pub(crate) fn validate(bytes: &[u8], rule: VerdictRule) -> (Option<ReadinessDoc>, Vec<String>) {
    let document = match ReadinessDoc::parse(bytes) {
        Ok(document) => document,
        Err(errors) => return (None, errors),
    };
    let mut errors = Vec::new();
    let score = document.score;
    if let Some(scoring) = &document.scoring {
        // A scored document is judged by the rules it records; BLOCKED is always consistent
        // (evidence rules outside the score may force it).
        let shortfalls = critical_shortfalls(scoring, &document.sections);
        let (go_at, marginal_at) = (scoring.go_at, scoring.marginal_at);
        match document.verdict {
            ReadinessVerdict::Go if score < go_at => {
                errors.push(format!("verdict GO requires score ≥ go_at {go_at}, got {score}"))
            }
            ReadinessVerdict::Marginal if score < marginal_at || score >= go_at => errors.push(format!(
                "verdict MARGINAL requires marginal_at {marginal_at} ≤ score < go_at {go_at}, got {score}"
            )),
            ReadinessVerdict::Go | ReadinessVerdict::Marginal if !shortfalls.is_empty() => errors.push(
                format!("verdict {} is inconsistent with a {}", document.verdict.label(), shortfalls[0]),
            ),
            _ => {}
        }
        return (Some(document), errors);
    }
    match document.verdict {
        ReadinessVerdict::Go if score < rule.min_score => {
            errors.push(format!("verdict GO requires score ≥ {}, got {score}", rule.min_score));
        }
        ReadinessVerdict::Hold if score >= rule.min_score && !rule.hold_allowed => {
            errors.push(format!("verdict HOLD is inconsistent with score {score} (≥ {})", rule.min_score));
        }
        _ => {}
    }
    (Some(document), errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn perfect() -> SoakDay {
        SoakDay::from_json(&json!({
            "edge_net_bps": 2.5, "order_age_p95_ms": 350, "taker_share_pct": 15,
            "reg_guard": {"reason": "NONE"}, "drift": {"reason": ""}, "chaos_result": "OK", "bug_bash": "PASS OK"
        }))
        .unwrap()
    }

    fn week(change: impl Fn(&mut SoakDay)) -> Vec<SoakDay> {
        (0..7)
            .map(|_| {
                let mut day = perfect();
                change(&mut day);
                day
            })
            .collect()
    }

    #[test]
    fn no_reports_score_60() {
        let sections = score(&[]);
        assert_eq!(sections.total(), 60.0);
        assert_eq!((sections.edge, sections.guards), (0.0, 0.0));
    }

    #[test]
    fn seven_perfect_days_at_the_thresholds_score_100() {
        assert_eq!(score(&week(|_| {})).total(), 100.0);
    }

    #[test]
    fn edge_scales_linearly_below_2_5_and_clamps() {
        assert_eq!(score(&week(|day| day.edge_net_bps = 1.25)).edge, 15.0);
        assert_eq!(score(&week(|day| day.edge_net_bps = 2.4999999)).edge, 29.999999);
        assert_eq!(score(&week(|day| day.edge_net_bps = 9.0)).edge, 30.0);
        assert_eq!(score(&week(|day| day.edge_net_bps = -1.0)).edge, 0.0);
    }

    #[test]
    fn latency_full_at_350_then_proportional() {
        assert_eq!(score(&week(|day| day.order_age_p95_ms = 350.0)).latency, 25.0);
        assert_eq!(score(&week(|day| day.order_age_p95_ms = 351.0)).latency, 24.928775);
        assert_eq!(score(&week(|day| day.order_age_p95_ms = 700.0)).latency, 12.5);
    }

    #[test]
    fn taker_full_at_15_then_proportional() {
        assert_eq!(score(&week(|day| day.taker_share_pct = 15.0)).taker, 15.0);
        assert_eq!(score(&week(|day| day.taker_share_pct = 15.1)).taker, 14.900662);
        assert_eq!(score(&week(|day| day.taker_share_pct = 30.0)).taker, 7.5);
    }

    #[test]
    fn guards_count_ok_days_over_seven() {
        let mut days = week(|_| {});
        days[0].reg_guard_reason = "VOLATILITY".into();
        days[1].drift_reason = "DRIFT".into();
        assert_eq!(score(&days).guards, 7.142857);
        // Fewer than 7 reports: the divisor stays 7.
        assert_eq!(score(&days[2..5]).guards, 4.285714);
    }

    #[test]
    fn chaos_and_tests_are_all_or_nothing() {
        let mut days = week(|_| {});
        days[3].chaos_result = "FAIL".into();
        days[4].bug_bash = "2 failures".into();
        let sections = score(&days);
        assert_eq!((sections.chaos, sections.tests), (0.0, 0.0));
    }

    #[test]
    fn median_of_even_count_is_mean_of_middle_pair() {
        assert_eq!(median(&[1.0, 4.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[5.0]), 5.0);
    }

    #[test]
    fn missing_and_non_numeric_fields_follow_the_reference_defaults() {
        let day = SoakDay::from_json(&json!({"edge_net_bps": "high"})).unwrap();
        assert_eq!(day.edge_net_bps, 0.0);
        assert!(day.guards_ok());
        assert_eq!((day.chaos_result.as_str(), day.bug_bash.as_str()), ("OK", "OK"));
        assert!(SoakDay::from_json(&json!([1])).is_none());
    }

    #[test]
    fn incomplete_or_invalid_evidence_is_named_per_field_and_report() {
        let bare = SoakDay::from_json(&json!({"edge_net_bps": 2.5})).unwrap();
        let texty = SoakDay::from_json(&json!({
            "edge_net_bps": 2.5, "order_age_p95_ms": "9999", "taker_share_pct": -1e9,
            "reg_guard": {"reason": "NONE"}, "drift": {"reason": 0}, "chaos_result": "OK", "bug_bash": "OK"
        }))
        .unwrap();
        assert!(perfect().problems.is_empty());
        let names = ["a.json".to_string(), "b.json".to_string(), "c.json".to_string()];
        assert_eq!(
            evidence_gaps(&[bare.clone(), texty, bare], &names),
            [
                "2 reports lack order_age_p95_ms (a.json, c.json)",
                "1 report has a non-numeric order_age_p95_ms (b.json)",
                "2 reports lack taker_share_pct (a.json, c.json)",
                "1 report has a negative taker_share_pct (b.json)",
                "2 reports lack reg_guard.reason (a.json, c.json)",
                "2 reports lack drift.reason (a.json, c.json)",
                "1 report has a non-text drift.reason (b.json)",
                "2 reports lack chaos_result (a.json, c.json)",
                "2 reports lack bug_bash (a.json, c.json)",
            ]
        );
        // The score itself keeps the reference defaults: seven bare reports still add up to 100.
        assert_eq!(
            score(&vec![SoakDay::from_json(&json!({"edge_net_bps": 2.5})).unwrap(); 7]).total(),
            100.0
        );
        let over = SoakDay::from_json(&json!({"taker_share_pct": 101, "order_age_p95_ms": -1})).unwrap();
        assert!(
            over.problems.contains(&(2, Problem::Above100))
                && over.problems.contains(&(1, Problem::Negative))
        );
    }

    const STRICT: VerdictRule = VerdictRule { min_score: 100.0, hold_allowed: false };

    #[test]
    fn document_is_compact_sorted_and_valid() {
        let sections = score(&week(|_| {}));
        let document = document(&sections, true, "1970-01-01T00:00:00Z", "1.2.3");
        let bytes = document.to_bytes();
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            "{\"runtime\":{\"utc\":\"1970-01-01T00:00:00Z\",\"version\":\"1.2.3\"},\"score\":100.0,\"sections\":{\"chaos\":10.0,\"edge\":30.0,\"guards\":10.0,\"latency\":25.0,\"taker\":15.0,\"tests\":10.0},\"verdict\":\"GO\"}\n"
        );
        assert!(validate(&bytes, STRICT).1.is_empty());
    }

    #[test]
    fn validator_reports_each_invalid_shape() {
        let valid: Value =
            serde_json::to_value(document(&score(&week(|_| {})), true, "2026-01-01T00:00:00Z", "v")).unwrap();
        let broken = |change: &dyn Fn(&mut Value)| {
            let mut copy = valid.clone();
            change(&mut copy);
            validate(copy.to_string().as_bytes(), STRICT).1
        };
        assert_eq!(
            broken(&|doc| drop(doc.as_object_mut().unwrap().remove("score"))),
            ["missing required key \"score\""]
        );
        assert_eq!(
            broken(&|doc| doc["sections"]["edge"] = json!("x")),
            ["section \"edge\" must be a number"]
        );
        assert_eq!(
            broken(&|doc| doc["sections"]["edge"] = json!(31.0)),
            ["section \"edge\" = 31 is outside 0..30"]
        );
        assert_eq!(
            broken(&|doc| drop(doc["sections"].as_object_mut().unwrap().remove("tests"))),
            ["missing section \"tests\""]
        );
        assert_eq!(broken(&|doc| doc["score"] = json!(101.0)), ["score 101 is outside 0..100"]);
        assert_eq!(
            broken(&|doc| doc["verdict"] = json!("HOLD")),
            ["verdict HOLD is inconsistent with score 100 (≥ 100)"]
        );
        assert_eq!(broken(&|doc| doc["verdict"] = json!("MAYBE")), ["verdict must be \"GO\" or \"HOLD\""]);
        assert_eq!(
            broken(&|doc| doc["runtime"] = json!(1)),
            ["runtime must be an object with utc and version"]
        );
        assert_eq!(
            broken(&|doc| {
                doc["score"] = json!(90.0);
                doc["sections"]["edge"] = json!(20.0);
            }),
            ["verdict GO requires score ≥ 100, got 90"]
        );
        assert_eq!(validate(b"[]", STRICT).1, ["the document is not a JSON object"]);
    }

    fn scoring(
        weights: [f64; 6],
        critical: &[&'static str],
        go_at: f64,
        marginal_at: f64,
        min_reports: u32,
    ) -> Scoring {
        Scoring {
            weights,
            critical: critical.to_vec(),
            go_at: Some(go_at),
            marginal_at: Some(marginal_at),
            min_reports,
            max_drop: None,
            section_max_drop: [None; 6],
        }
    }

    /// Today's shares as weights: chaos, edge, guards, latency, taker, tests.
    const SHARES: [f64; 6] = [10.0, 30.0, 10.0, 25.0, 15.0, 10.0];

    fn judged(days: &[SoakDay], scoring: Option<&Scoring>, sign_off: Option<SignOff>) -> Judged {
        judge(
            days,
            Vec::new(),
            scoring.map(|s| record(s, 100.0)),
            100.0,
            sign_off,
            "2026-01-01T00:00:00Z",
            "1",
        )
    }

    fn ana() -> Option<SignOff> {
        Some(SignOff { name: "Ana".into(), reason: "holiday week".into() })
    }

    #[test]
    fn weights_are_normalised_and_today_s_shares_give_today_s_score() {
        let days = week(|day| day.edge_net_bps = 1.25);
        let default = judged(&days, None, None);
        let shares = judged(&days, Some(&scoring(SHARES, &[], 100.0, 100.0, 0)), None);
        assert_eq!((default.document.score, shares.document.score), (85.0, 85.0));
        assert_eq!(shares.document.scoring.as_ref().unwrap().weights.edge, 0.3);
        // Doubling every weight changes nothing; only the proportions count.
        let doubled = judged(&days, Some(&scoring(SHARES.map(|w| w * 2.0), &[], 100.0, 100.0, 0)), None);
        assert_eq!(doubled.document.score, 85.0);
        // Edge alone: half its maximum is half the score.
        let edge_only =
            judged(&days, Some(&scoring([0.0, 1.0, 0.0, 0.0, 0.0, 0.0], &[], 100.0, 100.0, 0)), None);
        assert_eq!(edge_only.document.score, 50.0);
    }

    #[test]
    fn go_marginal_blocked_by_thresholds_critical_and_min_reports() {
        let days = week(|day| day.edge_net_bps = 1.25); // score 85, edge 15 of 30
        let band = scoring(SHARES, &[], 90.0, 80.0, 0);
        let marginal = judged(&days, Some(&band), None);
        assert_eq!(marginal.document.verdict, ReadinessVerdict::Marginal);
        assert_eq!(
            marginal.hold_reasons,
            [
                "score 85 is MARGINAL (marginal_at 80 ≤ score < go_at 90): passes only with --sign-off \"name: reason\""
            ]
        );
        let signed = judged(&days, Some(&band), ana());
        assert_eq!((signed.document.verdict, signed.hold_reasons.len()), (ReadinessVerdict::Marginal, 0));
        assert_eq!(signed.document.sign_off, ana());
        assert!(String::from_utf8(signed.document.to_bytes()).unwrap().contains(
            "\"sign_off\":{\"name\":\"Ana\",\"reason\":\"holiday week\"},\"verdict\":\"MARGINAL\""
        ));
        assert_eq!(judged(&days, Some(&scoring(SHARES, &[], 85.0, 80.0, 0)), ana()).sign_off, None);
        let below = judged(&days, Some(&scoring(SHARES, &[], 95.0, 90.0, 0)), ana());
        assert_eq!(below.document.verdict, ReadinessVerdict::Blocked);
        assert_eq!(
            (below.hold_reasons.as_slice(), below.sign_off),
            (&["score 85 is below marginal_at 90".to_string()][..], None)
        );
        let critical = judged(&days, Some(&scoring(SHARES, &["edge"], 80.0, 80.0, 0)), None);
        assert_eq!(critical.document.verdict, ReadinessVerdict::Blocked);
        assert_eq!(critical.hold_reasons, ["critical section edge is 15 of 30"]);
        let few = judged(&days[..3], Some(&scoring(SHARES, &[], 0.0, 0.0, 7)), None);
        assert_eq!(few.document.verdict, ReadinessVerdict::Blocked);
        assert_eq!(few.hold_reasons, ["3 of 7 required reports (scoring.min_reports)"]);
        // Evidence reasons block a scored verdict too.
        let gaps = judge(
            &days,
            vec!["gap".into()],
            Some(record(&band, 100.0)),
            100.0,
            None,
            "2026-01-01T00:00:00Z",
            "1",
        );
        assert_eq!(
            (gaps.document.verdict, gaps.hold_reasons),
            (ReadinessVerdict::Blocked, vec!["gap".to_string()])
        );
    }

    #[test]
    fn scored_documents_validate_by_their_own_rules() {
        let days = week(|day| day.edge_net_bps = 1.25);
        for (band, sign_off) in
            [(scoring(SHARES, &[], 90.0, 80.0, 0), ana()), (scoring(SHARES, &["edge"], 80.0, 80.0, 7), None)]
        {
            let bytes = judged(&days, Some(&band), sign_off).document.to_bytes();
            let (document, errors) = validate(&bytes, STRICT);
            assert!(errors.is_empty(), "{errors:?}");
            assert_eq!(document.unwrap().to_bytes(), bytes, "round trip");
        }
        let valid: Value = serde_json::to_value(
            judged(&days, Some(&scoring(SHARES, &["chaos"], 90.0, 80.0, 0)), ana()).document,
        )
        .unwrap();
        let broken = |change: &dyn Fn(&mut Value)| {
            let mut copy = valid.clone();
            change(&mut copy);
            validate(copy.to_string().as_bytes(), STRICT).1
        };
        assert_eq!(
            broken(&|doc| {
                doc["verdict"] = json!("GO");
                drop(doc.as_object_mut().unwrap().remove("sign_off"));
            }),
            ["verdict GO requires score ≥ go_at 90, got 85"]
        );
        assert_eq!(
            broken(&|doc| doc["verdict"] = json!("HOLD")),
            [
                "verdict must be \"GO\", \"MARGINAL\" or \"BLOCKED\" (the document has scoring)",
                "sign_off belongs to a MARGINAL verdict only"
            ]
        );
        assert_eq!(
            broken(&|doc| doc["scoring"]["go_at"] = json!(85.0)),
            ["verdict MARGINAL requires marginal_at 80 ≤ score < go_at 85, got 85"]
        );
        assert_eq!(
            broken(&|doc| {
                doc["sections"]["chaos"] = json!(0.0);
                doc["score"] = json!(75.0);
                doc["scoring"]["marginal_at"] = json!(70.0);
            }),
            ["verdict MARGINAL is inconsistent with a critical section chaos is 0 of 10"]
        );
        assert_eq!(
            broken(&|doc| doc["score"] = json!(90.0)),
            ["score 90 is not the weighted score of the sections (85)"]
        );
        assert_eq!(
            broken(&|doc| doc["scoring"]["weights"]["edge"] = json!(0.9)),
            ["scoring.weights must add up to 1"]
        );
        assert_eq!(
            broken(&|doc| doc["scoring"]["critical"] = json!(["nope"])),
            ["scoring.critical must list section names"]
        );
        assert_eq!(
            broken(&|doc| doc["sign_off"]["name"] = json!(" ")),
            ["sign_off.name must be a non-empty string"]
        );
        assert_eq!(
            broken(&|doc| drop(doc["scoring"].as_object_mut().unwrap().remove("min_reports"))),
            ["missing key \"scoring.min_reports\""]
        );
        assert_eq!(
            broken(&|doc| doc["verdict"] = json!("BLOCKED")),
            ["sign_off belongs to a MARGINAL verdict only"]
        );
        // A reference-shaped document may not claim the new verdicts.
        let reference: Value =
            serde_json::to_value(document(&score(&days), false, "2026-01-01T00:00:00Z", "1")).unwrap();
        let mut marginal = reference.clone();
        marginal["verdict"] = json!("MARGINAL");
        assert_eq!(
            validate(marginal.to_string().as_bytes(), STRICT).1,
            ["verdict must be \"GO\" or \"HOLD\""]
        );
    }

    /// A soak report with arbitrary, sometimes missing or malformed, scored fields.
    fn arbitrary_report() -> impl Strategy<Value = Value> {
        let number = || {
            prop_oneof![
                Just(Value::Null),
                (-5.0f64..1000.0).prop_map(|n| json!(n)),
                prop::sample::select(vec![json!(0), json!(2.5), json!(350), json!(15), json!("9")]),
            ]
        };
        let text = || {
            prop::sample::select(vec![
                Value::Null,
                json!("NONE"),
                json!(""),
                json!("OK"),
                json!("FAIL"),
                json!("2 OK"),
                json!(1),
            ])
        };
        (number(), number(), number(), text(), text(), text(), text()).prop_map(
            |(edge, age, taker, reg, drift, chaos, bugs)| {
                let mut report = serde_json::Map::new();
                for (key, value) in [
                    ("edge_net_bps", edge),
                    ("order_age_p95_ms", age),
                    ("taker_share_pct", taker),
                    ("chaos_result", chaos),
                    ("bug_bash", bugs),
                ] {
                    if !value.is_null() {
                        report.insert(key.into(), value);
                    }
                }
                if !reg.is_null() {
                    report.insert("reg_guard".into(), json!({"reason": reg}));
                }
                if !drift.is_null() {
                    report.insert("drift".into(), json!({"reason": drift}));
                }
                Value::Object(report)
            },
        )
    }

    use proptest::prelude::*;

    proptest! {
        /// Without `scoring:` the verdict, reasons and bytes are the reference rule's exactly:
        /// `document(score(days), score ≥ min && no evidence gap)`.
        #[test]
        fn default_path_is_the_reference_formula(
            reports in prop::collection::vec(arbitrary_report(), 0..=7),
            min_score in prop::sample::select(vec![0.0, 50.0, 60.0, 85.0, 99.999999, 100.0]),
        ) {
            let days: Vec<SoakDay> = reports.iter().map(|report| SoakDay::from_json(report).unwrap()).collect();
            let names: Vec<String> = (0..days.len()).map(|index| format!("r{index}.json")).collect();
            let gaps = evidence_gaps(&days, &names);
            let sections = score(&days);
            let go = sections.total() >= min_score && gaps.is_empty();
            let reference = document(&sections, go, "2026-01-01T00:00:00Z", "1.0").to_bytes();
            let judged = judge(&days, gaps.clone(), None, min_score, ana(), "2026-01-01T00:00:00Z", "1.0");
            prop_assert_eq!(judged.document.to_bytes(), reference);
            prop_assert_eq!(judged.sign_off, None);
            prop_assert_eq!(judged.hold_reasons.is_empty(), go);
            // Adopting scoring with today's shares and go_at = min_score moves the score by at most
            // rounding and maps GO to GO and HOLD to BLOCKED away from the threshold.
            let shares = Scoring { weights: SHARES, critical: Vec::new(), go_at: None, marginal_at: None, min_reports: 0, max_drop: None, section_max_drop: [None; 6] };
            let scored = judge(&days, gaps, Some(record(&shares, min_score)), min_score, None, "2026-01-01T00:00:00Z", "1.0");
            prop_assert!((scored.document.score - sections.total()).abs() <= 2e-6);
            if (sections.total() - min_score).abs() > 1e-5 {
                let expected = if go { ReadinessVerdict::Go } else { ReadinessVerdict::Blocked };
                prop_assert_eq!(scored.document.verdict, expected);
            }
            prop_assert!(validate(&scored.document.to_bytes(), STRICT).1.is_empty());
        }
    }
}
