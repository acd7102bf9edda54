//! The readiness score: the reference formula over up to 7 soak reports, whether the evidence
//! is complete enough for GO, and the verdict rule the validator applies. Pure: no files, no
//! clock; `reports.rs` reads the disk and `crate::readiness_doc` owns the document's shape.

use serde_json::Value;

pub(crate) use crate::readiness_doc::{
    ReadinessDoc, ReadinessVerdict, Runtime, SECTION_MAXIMA, Sections, round6,
};

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

/// `statistics.median`: mean of the two middle values for an even count; 0 when empty.
fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 { sorted[middle] } else { (sorted[middle - 1] + sorted[middle]) / 2.0 }
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
        sections: *sections,
        verdict: verdict_of(verdict_go),
    }
}

/// The Markdown twin: a `| section | score |` table.
pub(crate) fn markdown(document: &ReadinessDoc) -> String {
    let mut text = format!(
        "# Readiness\n\n- utc: {}\n- version: {}\n\n| section | score |\n|---|---|\n",
        document.runtime.utc, document.runtime.version
    );
    for ((name, maximum), (_, value)) in SECTION_MAXIMA.iter().zip(document.sections.named()) {
        text.push_str(&format!("| {name} | {value} / {maximum} |\n"));
    }
    text.push_str(&format!(
        "| **score** | **{}** / 100 |\n\nVerdict: **{}**\n",
        document.score,
        document.verdict.label()
    ));
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
}
