//! The readiness score: the reference formula over up to 7 soak reports, and the validator of
//! a readiness JSON. Pure: no files, no clock; `reports.rs` reads the disk.

use serde_json::{Map, Value, json};

/// One soak report's fields as the formula sees them (missing/non-finite numbers are 0,
/// missing reasons are `NONE`, missing results are `OK`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SoakDay {
    pub edge_net_bps: f64,
    pub order_age_p95_ms: f64,
    pub taker_share_pct: f64,
    pub reg_guard_reason: String,
    pub drift_reason: String,
    pub chaos_result: String,
    pub bug_bash: String,
}

impl SoakDay {
    /// Reads the formula's fields from a parsed report; lenient exactly where the original was.
    pub(crate) fn from_json(value: &Value) -> Option<SoakDay> {
        let object = value.as_object()?;
        let number =
            |key: &str| object.get(key).and_then(Value::as_f64).filter(|n| n.is_finite()).unwrap_or(0.0);
        let text = |value: Option<&Value>, missing: &str| match value {
            None | Some(Value::Null) => missing.to_string(),
            Some(Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
        };
        let reason = |key: &str| text(object.get(key).and_then(|section| section.get("reason")), "NONE");
        Some(SoakDay {
            edge_net_bps: number("edge_net_bps"),
            order_age_p95_ms: number("order_age_p95_ms"),
            taker_share_pct: number("taker_share_pct"),
            reg_guard_reason: reason("reg_guard"),
            drift_reason: reason("drift"),
            chaos_result: text(object.get("chaos_result"), "OK"),
            bug_bash: text(object.get("bug_bash"), "OK"),
        })
    }

    fn guards_ok(&self) -> bool {
        self.reg_guard_reason == "NONE" && (self.drift_reason == "NONE" || self.drift_reason.is_empty())
    }
}

/// The six section scores, each rounded to 6 decimals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sections {
    pub edge: f64,
    pub latency: f64,
    pub taker: f64,
    pub guards: f64,
    pub chaos: f64,
    pub tests: f64,
}

impl Sections {
    pub(crate) fn total(&self) -> f64 {
        round6(self.edge + self.latency + self.taker + self.guards + self.chaos + self.tests)
    }
}

/// Maximum of each section, in the JSON's (sorted) key order.
pub(crate) const SECTION_MAXIMA: [(&str, f64); 6] =
    [("chaos", 10.0), ("edge", 30.0), ("guards", 10.0), ("latency", 25.0), ("taker", 15.0), ("tests", 10.0)];

fn round6(value: f64) -> f64 {
    (value * 1e6).round() / 1e6
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
pub(crate) fn verdict_label(go: bool) -> &'static str {
    if go { "GO" } else { "HOLD" }
}

/// The readiness document in the reference shape.
pub(crate) fn document(sections: &Sections, verdict_go: bool, utc: &str, version: &str) -> Value {
    json!({
        "runtime": {"utc": utc, "version": version},
        "score": sections.total(),
        "sections": {
            "chaos": sections.chaos, "edge": sections.edge, "guards": sections.guards,
            "latency": sections.latency, "taker": sections.taker, "tests": sections.tests,
        },
        "verdict": verdict_label(verdict_go),
    })
}

/// Compact, keys sorted (serde_json's map is a BTreeMap), trailing newline.
pub(crate) fn to_bytes(document: &Value) -> Vec<u8> {
    let mut text = document.to_string();
    text.push('\n');
    text.into_bytes()
}

/// The Markdown twin: a `| section | score |` table.
pub(crate) fn markdown(sections: &Sections, verdict_go: bool, utc: &str, version: &str) -> String {
    let mut text =
        format!("# Readiness\n\n- utc: {utc}\n- version: {version}\n\n| section | score |\n|---|---|\n");
    let values =
        [sections.chaos, sections.edge, sections.guards, sections.latency, sections.taker, sections.tests];
    for ((name, maximum), value) in SECTION_MAXIMA.iter().zip(values) {
        text.push_str(&format!("| {name} | {value} / {maximum} |\n"));
    }
    text.push_str(&format!(
        "| **score** | **{}** / 100 |\n\nVerdict: **{}**\n",
        sections.total(),
        verdict_label(verdict_go)
    ));
    text
}

/// What the validator expects of the verdict.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VerdictRule {
    /// GO requires score ≥ this; HOLD is invalid at or above it (unless `hold_allowed`).
    pub min_score: f64,
    /// A HOLD forced by something outside the score (stale evidence) is consistent.
    pub hold_allowed: bool,
}

/// The original validator's checks: required keys, 6 numeric sections, ranges, verdict
/// consistent with the score. Returns every error found (empty = valid).
pub(crate) fn validate(document: &Value, rule: VerdictRule) -> Vec<String> {
    let mut errors = Vec::new();
    let Some(object) = document.as_object() else {
        return vec!["the document is not a JSON object".into()];
    };
    for key in ["runtime", "score", "sections", "verdict"] {
        if !object.contains_key(key) {
            errors.push(format!("missing required key \"{key}\""));
        }
    }
    match object.get("runtime") {
        Some(Value::Object(runtime)) => {
            for key in ["utc", "version"] {
                if !runtime.get(key).is_some_and(Value::is_string) {
                    errors.push(format!("runtime.{key} must be a string"));
                }
            }
        }
        Some(_) => errors.push("runtime must be an object with utc and version".into()),
        None => {}
    }
    let score = object.get("score").map(|value| (value, value.as_f64()));
    match score {
        Some((_, Some(score))) if !(0.0..=100.0).contains(&score) => {
            errors.push(format!("score {score} is outside 0..100"));
        }
        Some((_, None)) => errors.push("score must be a number".into()),
        _ => {}
    }
    match object.get("sections") {
        Some(Value::Object(sections)) => validate_sections(sections, &mut errors),
        Some(_) => errors.push("sections must be an object with 6 numeric sections".into()),
        None => {}
    }
    let score = score.and_then(|(_, number)| number);
    match (object.get("verdict").map(|value| value.as_str()), score) {
        (Some(Some("GO")), Some(score)) if score < rule.min_score => {
            errors.push(format!("verdict GO requires score ≥ {}, got {score}", rule.min_score));
        }
        (Some(Some("HOLD")), Some(score)) if score >= rule.min_score && !rule.hold_allowed => {
            errors.push(format!("verdict HOLD is inconsistent with score {score} (≥ {})", rule.min_score));
        }
        (Some(Some("GO" | "HOLD")), _) | (None, _) => {}
        (Some(_), _) => errors.push("verdict must be \"GO\" or \"HOLD\"".into()),
    }
    errors
}

fn validate_sections(sections: &Map<String, Value>, errors: &mut Vec<String>) {
    for (name, maximum) in SECTION_MAXIMA {
        match sections.get(name).map(Value::as_f64) {
            None => errors.push(format!("missing section \"{name}\"")),
            Some(None) => errors.push(format!("section \"{name}\" must be a number")),
            Some(Some(value)) if !(0.0..=maximum).contains(&value) => {
                errors.push(format!("section \"{name}\" = {value} is outside 0..{maximum}"));
            }
            Some(Some(_)) => {}
        }
    }
    for name in sections.keys() {
        if !SECTION_MAXIMA.iter().any(|(known, _)| known == name) {
            errors.push(format!("unknown section \"{name}\""));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    const STRICT: VerdictRule = VerdictRule { min_score: 100.0, hold_allowed: false };

    #[test]
    fn document_is_compact_sorted_and_valid() {
        let sections = score(&week(|_| {}));
        let document = document(&sections, true, "1970-01-01T00:00:00Z", "1.2.3");
        assert_eq!(
            String::from_utf8(to_bytes(&document)).unwrap(),
            "{\"runtime\":{\"utc\":\"1970-01-01T00:00:00Z\",\"version\":\"1.2.3\"},\"score\":100.0,\"sections\":{\"chaos\":10.0,\"edge\":30.0,\"guards\":10.0,\"latency\":25.0,\"taker\":15.0,\"tests\":10.0},\"verdict\":\"GO\"}\n"
        );
        assert!(validate(&document, STRICT).is_empty());
    }

    #[test]
    fn validator_reports_each_invalid_shape() {
        let valid = document(&score(&week(|_| {})), true, "t", "v");
        let broken = |change: &dyn Fn(&mut Value)| {
            let mut copy = valid.clone();
            change(&mut copy);
            validate(&copy, STRICT)
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
        assert_eq!(broken(&|doc| doc["score"] = json!(90.0)), ["verdict GO requires score ≥ 100, got 90"]);
        assert_eq!(validate(&json!([]), STRICT), ["the document is not a JSON object"]);
    }
}
