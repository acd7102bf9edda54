//! The readiness document (`readiness.json`): one typed shape that make-ready writes and
//! validates and that bundle's release summary reads. Keeping it here (shared layer) means the
//! two subcommands agree on the format without calling each other's internals.
//!
//! Reading is strict: duplicate keys are an error (serde_json would silently keep the last one),
//! unknown keys are an error, the score must equal the sum of its sections, and `runtime.utc`
//! must be an RFC 3339 instant. Every error names the field.

use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Maximum of each section, in the document's (sorted) key order.
pub const SECTION_MAXIMA: [(&str, f64); 6] =
    [("chaos", 10.0), ("edge", 30.0), ("guards", 10.0), ("latency", 25.0), ("taker", 15.0), ("tests", 10.0)];

/// The whole document. Field order is the serialized key order (sorted, as the original wrote it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadinessDoc {
    pub runtime: Runtime,
    pub score: f64,
    /// Present only when the config has a `scoring:` section; then `score` is the weighted
    /// score and the verdict is GO, MARGINAL or BLOCKED. Absent keeps the reference bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scoring: Option<ScoringRecord>,
    pub sections: Sections,
    /// Who accepted a MARGINAL verdict, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_off: Option<SignOff>,
    pub verdict: ReadinessVerdict,
}

/// The scoring rules a scored document was judged by, so a validator can recompute it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoringRecord {
    /// Sections that veto: below their maximum means BLOCKED. Sorted.
    pub critical: Vec<String>,
    pub go_at: f64,
    pub marginal_at: f64,
    pub min_reports: u32,
    /// Normalised weights (sum 1, rounded to 6 decimals), in section key order.
    pub weights: Sections,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignOff {
    pub name: String,
    pub reason: String,
}

/// `round6(100 × Σ weightᵢ × sectionᵢ / maximumᵢ)`, clamped to 0..100: the weighted score. The
/// writer and the validator both use this, so a valid document recomputes to its exact bytes.
pub fn weighted_score(sections: &Sections, weights: &Sections) -> f64 {
    let sum: f64 = SECTION_MAXIMA
        .iter()
        .zip(sections.named())
        .zip(weights.named())
        .map(|(((_, maximum), (_, value)), (_, weight))| weight * value / maximum)
        .sum();
    round6((100.0 * sum).clamp(0.0, 100.0))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runtime {
    /// RFC 3339, seconds precision, `Z`.
    pub utc: String,
    pub version: String,
}

/// The six section scores, each rounded to 6 decimals.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sections {
    pub chaos: f64,
    pub edge: f64,
    pub guards: f64,
    pub latency: f64,
    pub taker: f64,
    pub tests: f64,
}

impl Sections {
    /// The score: the sum of the (already rounded) sections, rounded to 6 decimals, summed in the
    /// reference formula's order so the bytes match the original toolkit's.
    pub fn total(&self) -> f64 {
        round6(self.edge + self.latency + self.taker + self.guards + self.chaos + self.tests)
    }

    /// `(name, value)` in key order, matching [`SECTION_MAXIMA`].
    pub fn named(&self) -> [(&'static str, f64); 6] {
        [
            ("chaos", self.chaos),
            ("edge", self.edge),
            ("guards", self.guards),
            ("latency", self.latency),
            ("taker", self.taker),
            ("tests", self.tests),
        ]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadinessVerdict {
    #[serde(rename = "GO")]
    Go,
    #[serde(rename = "HOLD")]
    Hold,
    /// Scored documents only: between `marginal_at` and `go_at`; passes with a sign-off.
    #[serde(rename = "MARGINAL")]
    Marginal,
    /// Scored documents only.
    #[serde(rename = "BLOCKED")]
    Blocked,
}

impl ReadinessVerdict {
    pub fn label(self) -> &'static str {
        match self {
            ReadinessVerdict::Go => "GO",
            ReadinessVerdict::Hold => "HOLD",
            ReadinessVerdict::Marginal => "MARGINAL",
            ReadinessVerdict::Blocked => "BLOCKED",
        }
    }
}

pub use crate::stats::round6;

impl ReadinessDoc {
    /// Compact, keys sorted, trailing newline: the reference file's exact bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec(self).expect("a readiness document always serializes");
        bytes.push(b'\n');
        bytes
    }

    /// Parses and checks a readiness file. `Err` lists every problem found, each naming the field.
    pub fn parse(bytes: &[u8]) -> Result<ReadinessDoc, Vec<String>> {
        if let Err(error) = reject_duplicate_keys(bytes) {
            return Err(vec![error]);
        }
        let value: Value =
            serde_json::from_slice(bytes).map_err(|error| vec![format!("not valid JSON: {error}")])?;
        let errors = check_value(&value);
        if !errors.is_empty() {
            return Err(errors);
        }
        // The field checks above cover every shape the typed form refuses; this is the contract.
        serde_json::from_value(value).map_err(|error| vec![error.to_string()])
    }
}

/// Every problem of a parsed document, each naming its field; empty = well formed.
fn check_value(document: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let Some(object) = document.as_object() else {
        return vec!["the document is not a JSON object".into()];
    };
    for key in ["runtime", "score", "sections", "verdict"] {
        if !object.contains_key(key) {
            errors.push(format!("missing required key \"{key}\""));
        }
    }
    for key in object.keys() {
        if !["runtime", "score", "scoring", "sections", "sign_off", "verdict"].contains(&key.as_str()) {
            errors.push(format!("unknown key \"{}\"", crate::sanitize::excerpt(key, EXCERPT_CHARS)));
        }
    }
    match object.get("runtime") {
        Some(Value::Object(runtime)) => check_runtime(runtime, &mut errors),
        Some(_) => errors.push("runtime must be an object with utc and version".into()),
        None => {}
    }
    let score = match object.get("score") {
        Some(value) => match value.as_f64() {
            Some(score) if !(0.0..=100.0).contains(&score) => {
                errors.push(format!("score {score} is outside 0..100"));
                None
            }
            Some(score) => Some(score),
            None => {
                errors.push("score must be a number".into());
                None
            }
        },
        None => None,
    };
    let sections = match object.get("sections") {
        Some(Value::Object(sections)) => check_sections(sections, &mut errors),
        Some(_) => {
            errors.push("sections must be an object with 6 numeric sections".into());
            None
        }
        None => None,
    };
    let scoring = match object.get("scoring") {
        None => None,
        Some(Value::Object(scoring)) => check_scoring(scoring, &mut errors),
        Some(_) => {
            errors.push(
                "scoring must be an object with critical, go_at, marginal_at, min_reports and weights".into(),
            );
            None
        }
    };
    if let (Some(score), Some(sections)) = (score, sections) {
        match (&scoring, object.contains_key("scoring")) {
            (None, false) => {
                let sum = sections.total();
                // Both sides are rounded to 6 decimals; allow only float noise below that.
                if (score - sum).abs() > 1e-9 {
                    errors.push(format!("score {score} is not the sum of the sections ({sum})"));
                }
            }
            (Some(scoring), _) => {
                let weighted = weighted_score(&sections, &scoring.weights);
                if (score - weighted).abs() > 1e-9 {
                    errors.push(format!(
                        "score {score} is not the weighted score of the sections ({weighted})"
                    ));
                }
            }
            (None, true) => {}
        }
    }
    let scored = object.contains_key("scoring");
    match object.get("verdict") {
        Some(Value::String(text)) if !scored && (text == "GO" || text == "HOLD") => {}
        Some(Value::String(text)) if scored && ["GO", "MARGINAL", "BLOCKED"].contains(&text.as_str()) => {}
        Some(_) if scored => errors
            .push("verdict must be \"GO\", \"MARGINAL\" or \"BLOCKED\" (the document has scoring)".into()),
        Some(_) => errors.push("verdict must be \"GO\" or \"HOLD\"".into()),
        None => {}
    }
    match object.get("sign_off") {
        None => {}
        Some(Value::Object(sign_off)) => {
            for key in ["name", "reason"] {
                if sign_off.get(key).and_then(Value::as_str).is_none_or(|text| text.trim().is_empty()) {
                    errors.push(format!("sign_off.{key} must be a non-empty string"));
                }
            }
            for key in sign_off.keys() {
                if key != "name" && key != "reason" {
                    errors.push(format!(
                        "unknown key \"sign_off.{}\"",
                        crate::sanitize::excerpt(key, EXCERPT_CHARS)
                    ));
                }
            }
            if object.get("verdict").and_then(Value::as_str) != Some("MARGINAL") {
                errors.push("sign_off belongs to a MARGINAL verdict only".into());
            }
        }
        Some(_) => errors.push("sign_off must be an object with name and reason".into()),
    }
    errors
}

/// Checks the `scoring` record; returns it when well formed (for the weighted-score check).
fn check_scoring(scoring: &Map<String, Value>, errors: &mut Vec<String>) -> Option<ScoringRecord> {
    let before = errors.len();
    for key in ["critical", "go_at", "marginal_at", "min_reports", "weights"] {
        if !scoring.contains_key(key) {
            errors.push(format!("missing key \"scoring.{key}\""));
        }
    }
    for key in scoring.keys() {
        if !["critical", "go_at", "marginal_at", "min_reports", "weights"].contains(&key.as_str()) {
            errors.push(format!("unknown key \"scoring.{}\"", crate::sanitize::excerpt(key, EXCERPT_CHARS)));
        }
    }
    let threshold = |key: &str, errors: &mut Vec<String>| match scoring.get(key).map(Value::as_f64) {
        Some(Some(value)) if (0.0..=100.0).contains(&value) => Some(value),
        Some(_) => {
            errors.push(format!("scoring.{key} must be a number in 0..100"));
            None
        }
        None => None,
    };
    let go_at = threshold("go_at", errors);
    let marginal_at = threshold("marginal_at", errors);
    if let (Some(go_at), Some(marginal_at)) = (go_at, marginal_at)
        && marginal_at > go_at
    {
        errors.push(format!("scoring.marginal_at {marginal_at} is above go_at {go_at}"));
    }
    let min_reports = match scoring.get("min_reports").map(Value::as_u64) {
        Some(Some(count)) if count <= 7 => Some(count as u32),
        Some(_) => {
            errors.push("scoring.min_reports must be a whole number in 0..7".into());
            None
        }
        None => None,
    };
    let mut critical = Vec::new();
    match scoring.get("critical") {
        Some(Value::Array(names)) => {
            for name in names {
                match name.as_str() {
                    Some(name) if SECTION_MAXIMA.iter().any(|(known, _)| *known == name) => {
                        critical.push(name.to_string())
                    }
                    _ => errors.push("scoring.critical must list section names".into()),
                }
            }
            if !critical.windows(2).all(|pair| pair[0] < pair[1]) {
                errors.push("scoring.critical must be sorted and without repeats".into());
            }
        }
        Some(_) => errors.push("scoring.critical must be a list of section names".into()),
        None => {}
    }
    let weights = match scoring.get("weights") {
        Some(Value::Object(weights)) => {
            let mut values = [0.0; 6];
            for ((name, _), slot) in SECTION_MAXIMA.iter().zip(values.iter_mut()) {
                match weights.get(*name).map(Value::as_f64) {
                    Some(Some(value)) if (0.0..=1.0).contains(&value) => *slot = value,
                    _ => errors.push(format!("scoring.weights.{name} must be a number in 0..1")),
                }
            }
            for name in weights.keys() {
                if !SECTION_MAXIMA.iter().any(|(known, _)| known == name) {
                    errors.push(format!(
                        "unknown key \"scoring.weights.{}\"",
                        crate::sanitize::excerpt(name, EXCERPT_CHARS)
                    ));
                }
            }
            // Normalised weights are rounded to 6 decimals each, so their sum is 1 within 6e-6.
            if (values.iter().sum::<f64>() - 1.0).abs() > 1e-5 {
                errors.push("scoring.weights must add up to 1".into());
            }
            let [chaos, edge, guards, latency, taker, tests] = values;
            Some(Sections { chaos, edge, guards, latency, taker, tests })
        }
        Some(_) => {
            errors.push("scoring.weights must be an object with the 6 sections".into());
            None
        }
        None => None,
    };
    if errors.len() != before {
        return None;
    }
    Some(ScoringRecord {
        critical,
        go_at: go_at?,
        marginal_at: marginal_at?,
        min_reports: min_reports?,
        weights: weights?,
    })
}

fn check_runtime(runtime: &Map<String, Value>, errors: &mut Vec<String>) {
    for key in ["utc", "version"] {
        if !runtime.get(key).is_some_and(Value::is_string) {
            errors.push(format!("runtime.{key} must be a string"));
        }
    }
    if let Some(Value::String(utc)) = runtime.get("utc")
        && crate::clock::parse_rfc3339(utc).is_err()
    {
        errors.push(format!(
            "runtime.utc {} is not an RFC 3339 time such as 2026-11-28T12:00:00Z",
            quote_excerpt(utc)
        ));
    }
    for key in runtime.keys() {
        if key != "utc" && key != "version" {
            errors.push(format!("unknown key \"runtime.{}\"", crate::sanitize::excerpt(key, EXCERPT_CHARS)));
        }
    }
}

/// Checks the six sections; returns them when all are valid numbers (for the sum check).
fn check_sections(sections: &Map<String, Value>, errors: &mut Vec<String>) -> Option<Sections> {
    let before = errors.len();
    let mut values = [0.0; 6];
    for ((name, maximum), slot) in SECTION_MAXIMA.iter().zip(values.iter_mut()) {
        match sections.get(*name).map(Value::as_f64) {
            None => errors.push(format!("missing section \"{name}\"")),
            Some(None) => errors.push(format!("section \"{name}\" must be a number")),
            Some(Some(value)) if !(0.0..=*maximum).contains(&value) => {
                errors.push(format!("section \"{name}\" = {value} is outside 0..{maximum}"));
            }
            Some(Some(value)) => *slot = value,
        }
    }
    for name in sections.keys() {
        if !SECTION_MAXIMA.iter().any(|(known, _)| known == name) {
            errors.push(format!("unknown section \"{}\"", crate::sanitize::excerpt(name, EXCERPT_CHARS)));
        }
    }
    let [chaos, edge, guards, latency, taker, tests] = values;
    (errors.len() == before).then_some(Sections { chaos, edge, guards, latency, taker, tests })
}

/// How much of an input string a message may quote.
const EXCERPT_CHARS: usize = 40;

/// A short quoted excerpt of input text for a message (never the whole input).
fn quote_excerpt(text: &str) -> String {
    format!("\"{}\"", crate::sanitize::excerpt(text, EXCERPT_CHARS))
}

/// Walks the JSON once and fails on the first object with a key given twice, naming the key's
/// path (`runtime.utc`, `sections.edge`); serde_json's own `Value` keeps the last silently.
fn reject_duplicate_keys(bytes: &[u8]) -> Result<(), String> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    match (DuplicateCheck { path: String::new() }).deserialize(&mut deserializer) {
        Ok(()) => Ok(()),
        // Syntax errors are reported by the real parse that follows, with its own position.
        Err(error) if error.is_syntax() || error.is_eof() => Ok(()),
        Err(error) => Err(error.to_string()),
    }
}

struct DuplicateCheck {
    path: String,
}

impl DuplicateCheck {
    fn child(&self, key: &str) -> DuplicateCheck {
        let key = crate::sanitize::excerpt(key, EXCERPT_CHARS);
        DuplicateCheck { path: if self.path.is_empty() { key } else { format!("{}.{key}", self.path) } }
    }
}

impl<'de> DeserializeSeed<'de> for DuplicateCheck {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DuplicateCheck {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0usize;
        while seq.next_element_seed(DuplicateCheck { path: format!("{}[{index}]", self.path) })?.is_some() {
            index += 1;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let child = self.child(&key);
            if !seen.insert(key) {
                return Err(de::Error::custom(format!(
                    "duplicate key \"{}\" (each key may appear only once)",
                    child.path
                )));
            }
            map.next_value_seed(child)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERFECT: &str = "{\"runtime\":{\"utc\":\"2026-11-28T12:00:00Z\",\"version\":\"1.4.0\"},\"score\":100.0,\"sections\":{\"chaos\":10.0,\"edge\":30.0,\"guards\":10.0,\"latency\":25.0,\"taker\":15.0,\"tests\":10.0},\"verdict\":\"GO\"}\n";

    fn errors_of(text: &str) -> Vec<String> {
        ReadinessDoc::parse(text.as_bytes()).unwrap_err()
    }

    #[test]
    fn round_trips_the_reference_bytes() {
        let document = ReadinessDoc::parse(PERFECT.as_bytes()).unwrap();
        assert_eq!(document.verdict, ReadinessVerdict::Go);
        assert_eq!(String::from_utf8(document.to_bytes()).unwrap(), PERFECT);
    }

    #[test]
    fn duplicate_keys_are_named_with_their_path() {
        let text = PERFECT.replace("\"score\":100.0", "\"score\":10.0,\"score\":100.0");
        let errors = errors_of(&text);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("duplicate key \"score\" (each key may appear only once) at line 1"),
            "{errors:?}"
        );
        let text = PERFECT.replace("\"edge\":30.0", "\"edge\":30.0,\"edge\":30.0");
        assert!(errors_of(&text)[0].starts_with("duplicate key \"sections.edge\""));
    }

    #[test]
    fn score_must_be_the_sum_of_the_sections() {
        let text = PERFECT.replace(
            "\"chaos\":10.0,\"edge\":30.0,\"guards\":10.0,\"latency\":25.0,\"taker\":15.0,\"tests\":10.0",
            "\"chaos\":0,\"edge\":0,\"guards\":0,\"latency\":0,\"taker\":0,\"tests\":0",
        );
        assert_eq!(errors_of(&text), ["score 100 is not the sum of the sections (0)"]);
    }

    #[test]
    fn runtime_utc_must_be_rfc3339_and_quoted_briefly() {
        let text = PERFECT.replace("2026-11-28T12:00:00Z", "not a time");
        assert_eq!(
            errors_of(&text),
            ["runtime.utc \"not a time\" is not an RFC 3339 time such as 2026-11-28T12:00:00Z"]
        );
        let long = "x".repeat(10_000);
        let error = &errors_of(&PERFECT.replace("2026-11-28T12:00:00Z", &long))[0];
        assert!(error.len() < 200, "{error}");
    }

    #[test]
    fn unknown_keys_and_bad_shapes_are_named() {
        let text = PERFECT.replace("\"verdict\":\"GO\"", "\"verdict\":\"MAYBE\",\"extra\":1");
        assert_eq!(errors_of(&text), ["unknown key \"extra\"", "verdict must be \"GO\" or \"HOLD\""]);
        assert_eq!(errors_of("[]"), ["the document is not a JSON object"]);
        assert!(errors_of("{not json")[0].starts_with("not valid JSON: "));
    }
}
