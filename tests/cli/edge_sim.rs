//! `mmops edge-sim` end to end: the default rules on hand-made series, raw samples, a ladder,
//! every bad-input case, the live step, the sweep, the timeline and the chart.

use crate::support::{Expect, TestEnv};
use mirror::{LiveStep, Simulation, StateFile, Status, Sweep};

/// Typed mirrors of every JSON document edge-sim writes: the replay report, the sweep report,
/// the live step's report and the state file. `deny_unknown_fields` everywhere, so a field
/// added, renamed or dropped fails a test instead of passing silently. A field always written
/// but possibly `null` goes through `nullable` (its key missing fails); a plain `Option` is one
/// the binary leaves out when it says nothing.
// Every field is mirrored so each document is checked whole; not every test reads every field.
#[allow(dead_code)]
pub(crate) mod mirror {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    pub use crate::global::mirror::Status;
    use crate::global::mirror::nullable;

    /// `--format json edge-sim --input …`: the replay of a series.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Simulation {
        pub input: String,
        pub config: String,
        /// `csv` or `json_lines`.
        pub format: String,
        /// `emas` or `raw_samples`.
        pub series: String,
        pub rows: u64,
        pub window: String,
        pub windows_seen: u64,
        #[serde(deserialize_with = "nullable")]
        pub first_window: Option<String>,
        #[serde(deserialize_with = "nullable")]
        pub last_window: Option<String>,
        pub gaps: u64,
        pub missing_windows: u64,
        pub policy_applied_count: u64,
        pub time_share: Vec<ProfileShare>,
        pub final_profile: String,
        pub final_profile_config: Profile,
        pub transitions: Vec<Transition>,
        #[serde(deserialize_with = "nullable")]
        pub timeline: Option<String>,
        #[serde(deserialize_with = "nullable")]
        pub plot: Option<String>,
        pub tool: String,
        pub status: Status,
        pub marker: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ProfileShare {
        pub profile: String,
        pub windows: u64,
        pub share: f64,
    }

    #[derive(Debug, Clone, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Profile {
        pub name: String,
        pub spread_multiplier: f64,
        pub max_inflight: u64,
        pub backoff_ms: u64,
    }

    /// One applied change, in the replay and in the live step alike.
    #[derive(Debug, Clone, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Transition {
        pub ts: String,
        pub window_index: u64,
        pub from: String,
        pub to: String,
        pub reason: String,
        /// `null` for the change a live `--pin` makes (no window applied; a replayed pin has
        /// the window's).
        #[serde(deserialize_with = "nullable")]
        pub ema1h: Option<f64>,
        #[serde(deserialize_with = "nullable")]
        pub ema24h: Option<f64>,
        pub profile: Profile,
        /// Absent under the default rules (their bytes as before), set with an anti-flap rule
        /// or for a pin.
        pub rule: Option<String>,
    }

    /// `--format json edge-sim --sweep …`.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Sweep {
        pub input: String,
        pub rows: u64,
        pub series: String,
        pub keys: Vec<String>,
        pub combinations: Vec<Combination>,
        pub tool: String,
        pub status: Status,
        pub marker: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Combination {
        /// Swept key → value as typed; the keys are whatever `--sweep` named.
        pub settings: BTreeMap<String, String>,
        pub policy_applied_count: u64,
        pub windows_seen: u64,
        pub gaps: u64,
        pub conservative_windows: u64,
        pub conservative_share: f64,
        pub conservative_seconds: u64,
        pub flaps: u64,
        pub final_profile: String,
    }

    /// `--format json edge-sim --state …`: one live step (or a pin/unpin).
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct LiveStep {
        pub state: String,
        #[serde(deserialize_with = "nullable")]
        pub window: Option<String>,
        /// `null` for a pin or unpin, which applies no window.
        #[serde(deserialize_with = "nullable")]
        pub ema1h: Option<f64>,
        #[serde(deserialize_with = "nullable")]
        pub ema24h: Option<f64>,
        pub profile: Profile,
        pub changed: bool,
        #[serde(deserialize_with = "nullable")]
        pub transition: Option<Transition>,
        pub replaced_window: bool,
        pub streak: u32,
        #[serde(deserialize_with = "nullable")]
        pub streak_needed: Option<u32>,
        pub recovery_streak: u32,
        #[serde(deserialize_with = "nullable")]
        pub recovery_streak_needed: Option<u32>,
        pub policy_applied_count: u64,
        pub profile_switches: u64,
        pub windows_seen: u64,
        pub gaps: u64,
        /// The optional fields below are absent (not null) when they say nothing.
        pub pinned_until: Option<String>,
        pub held: Option<HeldChange>,
        pub pin_expired: Option<AuditEntry>,
        pub operator: Option<AuditEntry>,
        #[serde(default)]
        pub shadow: bool,
        pub tool: String,
        pub status: Status,
        pub marker: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct HeldChange {
        pub from: String,
        pub to: String,
        pub reason: String,
        pub held_by: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct AuditEntry {
        pub action: String,
        pub profile: String,
        pub until: Option<String>,
        pub reason: String,
        pub by: String,
        pub at: String,
    }

    /// The live step's state file (`mmops-edge-sim-state/1`).
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct StateFile {
        pub format: String,
        pub window_seconds: i64,
        pub current: Snapshot,
        #[serde(deserialize_with = "nullable")]
        pub last_input: Option<LastInput>,
        #[serde(deserialize_with = "nullable")]
        pub before_last_window: Option<Snapshot>,
        #[serde(default)]
        pub audit: Vec<AuditEntry>,
        #[serde(default)]
        pub audit_dropped: u64,
        #[serde(default)]
        pub profile_switches: u64,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Snapshot {
        pub profile: String,
        pub streak: u32,
        pub recovery_streak: u32,
        #[serde(deserialize_with = "nullable")]
        pub last_window: Option<String>,
        pub policy_applied_count: u64,
        pub windows_seen: u64,
        pub gaps: u64,
        pub missing_windows: u64,
        pub entered_window: Option<String>,
        #[serde(default)]
        pub backoff_level: u32,
        pub backoff_anchor: Option<String>,
        pub pinned_until: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct LastInput {
        pub ts: String,
        pub ema1h: f64,
        pub ema24h: f64,
    }
}

/// 2025-10-11T00:00:00Z, a window close.
const DAY: i64 = 1_760_140_800;
const WINDOW: i64 = 1800;

/// A CSV of pre-computed EMAs, one row per adjacent window starting at the close `DAY + 30m`.
fn ema_csv(windows: &[(f64, f64)]) -> String {
    let mut text = String::from("ts,ema1h,ema24h\n");
    for (index, (ema1h, ema24h)) in windows.iter().enumerate() {
        text.push_str(&format!("{},{ema1h},{ema24h}\n", DAY + WINDOW * (index as i64 + 1)));
    }
    text
}

/// `(ts, from, to)` of every change in a replay.
fn transitions(doc: &Simulation) -> Vec<(String, String, String)> {
    doc.transitions.iter().map(|t| (t.ts.clone(), t.from.clone(), t.to.clone())).collect()
}

/// Replays `csv` (written to `in.csv`) with the default rules: exit 0, nothing on stderr.
fn simulate_json(env: &TestEnv, csv: &str) -> Simulation {
    env.write("in.csv", csv);
    simulate_json_with(env, &[])
}

/// Runs `mmops ARGS`, which must fail with exit 2, nothing on stdout and exactly this error line.
#[track_caller]
fn fails_with(env: &TestEnv, args: &[&str], error: &str) {
    env.check(args).code(2).stdout_empty().stderr_is(&format!("{error}\n")).run();
}

/// The state file, read into its mirror.
fn read_state(env: &TestEnv) -> StateFile {
    serde_json::from_str(&env.read("s.json")).expect("the state file matches its mirror")
}

#[test]
fn exactly_three_negative_windows_switch_with_the_documented_line() {
    let env = TestEnv::new();
    env.write("in.csv", ema_csv(&[(-0.1, 1.0), (-0.2, 1.0), (-0.3, 1.0), (0.5, 1.2)]));
    let run = env
        .check(["edge-sim", "--input", "in.csv"])
        .code(0)
        .stdout_contains("\npolicy_applied_count   1\n")
        .stdout_contains(
            "\ntime share             Moderate 50.0% (2 windows), Conservative 50.0% (2 windows)\n",
        )
        .stdout_contains("\ngaps                   0 (0 windows missing)\n")
        .stderr_empty()
        .run();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "2025-10-11T01:30:00Z EDGE_POLICY_APPLIED Moderate -> Conservative (ema1h < 0.0 for 3 consecutive 30m windows) \
         spread_multiplier=1.5 max_inflight=5 backoff_ms=200"
    );
    assert_eq!(run.last_line(), "| edge_sim | OK | EDGE_PROFILE=Conservative |");

    let two = simulate_json(&env, &ema_csv(&[(-0.1, 1.0), (-0.2, 1.0), (0.1, 1.0), (-0.3, 1.0)]));
    assert_eq!(transitions(&two), []);
    assert_eq!(two.final_profile, "Moderate");
    assert_eq!(two.marker, "EDGE_PROFILE=Moderate");
    assert_eq!((two.tool.as_str(), two.status), ("edge_sim", Status::Ok));
    assert_eq!((two.format.as_str(), two.series.as_str(), two.window.as_str()), ("csv", "emas", "30m"));
    assert_eq!(
        (two.first_window.as_deref(), two.last_window.as_deref()),
        (Some("2025-10-11T00:30:00Z"), Some("2025-10-11T02:00:00Z"))
    );
    assert_eq!((two.input.as_str(), two.config.as_str()), ("in.csv", "the built-in rules"));
    assert_eq!((two.timeline.as_deref(), two.plot.as_deref()), (None, None));
    assert_eq!(two.final_profile_config.name, "Moderate");
}

#[test]
fn zero_is_not_negative_and_one_and_a_half_recovers() {
    let env = TestEnv::new();
    let zero = simulate_json(&env, &ema_csv(&[(0.0, 0.0), (0.0, 0.0), (0.0, 0.0)]));
    assert_eq!(transitions(&zero), []);
    let run =
        simulate_json(&env, &ema_csv(&[(-1.0, 0.0), (-1.0, 0.0), (-1.0, 0.0), (-1.0, 1.4999), (-1.0, 1.5)]));
    assert_eq!(
        transitions(&run),
        [
            ("2025-10-11T01:30:00Z".into(), "Moderate".into(), "Conservative".into()),
            ("2025-10-11T02:30:00Z".into(), "Conservative".into(), "Moderate".into()),
        ]
    );
    let recovery = &run.transitions[1];
    assert_eq!(recovery.reason, "ema24h >= 1.5");
    assert_eq!(recovery.window_index, 4);
    assert_eq!((recovery.ema1h, recovery.ema24h), (Some(-1.0), Some(1.5)));
    assert_eq!(recovery.profile.max_inflight, 10);
    assert_eq!(recovery.rule, None, "default rules: no rule named");
    assert_eq!(run.policy_applied_count, 2);
}

#[test]
fn a_gap_breaks_the_streak() {
    let env = TestEnv::new();
    // Windows closing at 00:30, 01:00, (01:30 missing), 02:00.
    let csv = format!(
        "ts,ema1h,ema24h\n{},-1,0\n{},-1,0\n{},-1,0\n",
        DAY + WINDOW,
        DAY + 2 * WINDOW,
        DAY + 4 * WINDOW
    );
    let run = simulate_json(&env, &csv);
    assert_eq!(transitions(&run), []);
    assert_eq!((run.gaps, run.missing_windows, run.windows_seen), (1, 1, 3));
}

// The original toolkit never reset its streak: one bad window after a recovery sent it straight
// back to Conservative.
#[test]
fn no_relapse_right_after_recovery() {
    let env = TestEnv::new();
    let run = simulate_json(
        &env,
        &ema_csv(&[(-1.0, 0.0), (-1.0, 0.0), (-1.0, 0.0), (-1.0, 2.0), (-1.0, 0.0), (-1.0, 0.0)]),
    );
    let to: Vec<String> = transitions(&run).into_iter().map(|(_, _, to)| to).collect();
    assert_eq!(to, ["Conservative", "Moderate"]);
}

#[test]
fn several_rows_in_one_window_the_last_counts() {
    let env = TestEnv::new();
    // Three windows, each with an early negative row and a final positive one: no switch.
    let mut csv = String::from("ts,ema1h,ema24h\n");
    for window in 1..=3 {
        let close = DAY + WINDOW * window;
        csv.push_str(&format!("{},-5,0\n{},-5,0\n{close},0.1,0\n", close - 1700, close - 900));
    }
    let run = simulate_json(&env, &csv);
    assert_eq!(transitions(&run), []);
    assert_eq!(run.windows_seen, 3);
    assert_eq!(run.rows, 9);
}

#[test]
fn raw_samples_produce_the_expected_emas() {
    let env = TestEnv::new();
    // Irregular samples; expected values computed independently with exp() (the code uses expm1).
    let samples: [(i64, f64); 6] =
        [(0, 2.0), (600, -1.0), (1500, 3.0), (1800, 0.5), (2400, -2.0), (5400, 1.25)];
    let mut csv = String::from("ts,edge_bps\n");
    for (offset, edge) in samples {
        csv.push_str(&format!("{},{edge}\n", DAY + offset));
    }
    env.write("raw.csv", &csv);
    env.check(["edge-sim", "--input", "raw.csv", "--timeline", "t.csv"])
        .code(0)
        .stdout_contains("| edge_sim | OK | EDGE_PROFILE=Moderate |\n")
        .stderr_empty()
        .run();
    let (mut ema1h, mut ema24h) = (2.0f64, 2.0f64);
    let mut expected_at_close = Vec::new();
    for pair in samples.windows(2) {
        let dt = (pair[1].0 - pair[0].0) as f64;
        ema1h += (1.0 - (-dt / 3600.0).exp()) * (pair[1].1 - ema1h);
        ema24h += (1.0 - (-dt / 86400.0).exp()) * (pair[1].1 - ema24h);
        if pair[1].0 == 1800 || pair[1].0 == 5400 {
            expected_at_close.push((ema1h, ema24h));
        }
    }
    let timeline = env.read("t.csv");
    let rows: Vec<Vec<&str>> = timeline.lines().skip(1).map(|line| line.split(',').collect()).collect();
    // Windows close at 00:00 (the first sample), 00:30 (its last sample is at 1800 s), 01:00
    // (2400 s) and 01:30 (5400 s); the EMAs are read at the 00:30 and 01:30 closes.
    assert_eq!(rows.len(), 4, "{timeline}");
    assert_eq!(rows[1][0], "2025-10-11T00:30:00Z");
    assert_eq!(rows[3][0], "2025-10-11T01:30:00Z");
    for (row, (ema1h, ema24h)) in [&rows[1], &rows[3]].iter().zip(expected_at_close) {
        let got1h: f64 = row[1].parse().unwrap();
        let got24h: f64 = row[2].parse().unwrap();
        assert!((got1h - ema1h).abs() < 1e-12, "{got1h} vs {ema1h}");
        assert!((got24h - ema24h).abs() < 1e-12, "{got24h} vs {ema24h}");
    }
}

/// Raw samples near ±f64::MAX (each finite, so accepted) made `x - ema` overflow: the averages
/// went to -inf, then NaN for good, NaN is never below a threshold, and a series of hugely
/// negative edge stayed Moderate with OK. The averages now stay finite and the switch happens.
#[test]
fn huge_raw_samples_keep_finite_averages_and_still_switch() {
    let env = TestEnv::new();
    let mut csv = String::from("ts,edge_bps\n");
    csv.push_str(&format!("{DAY},1e308\n"));
    for window in 1..=5 {
        csv.push_str(&format!("{},-1e308\n", DAY + window * 1800));
    }
    env.write("raw.csv", &csv);
    env.check(["edge-sim", "--input", "raw.csv", "--timeline", "t.csv"])
        .code(0)
        .stdout_contains(
            "2025-10-11T02:00:00Z EDGE_POLICY_APPLIED Moderate -> Conservative (ema1h < 0.0 for 3 consecutive 30m windows)",
        )
        .stdout_contains("| edge_sim | OK | EDGE_PROFILE=")
        .stderr_empty()
        .run();
    let timeline = env.read("t.csv");
    assert!(!timeline.contains("NaN") && !timeline.contains("inf"), "{timeline}");
}

/// A JSON Lines row naming a key twice was read with the last value (serde_json's choice; other
/// readers take the first), while a CSV header naming a column twice is refused: now both are.
#[test]
fn a_json_lines_key_given_twice_is_a_located_error() {
    let env = TestEnv::new();
    env.write("in.jsonl", "{\"ts\":1760184000,\"ema1h\":1,\"ema24h\":1}\n{\"ts\":1760185800,\"ema1h\":1,\"ema24h\":1,\"ema1h\":-5}\n");
    fails_with(
        &env,
        &["edge-sim", "--input", "in.jsonl", "--timeline", "t.csv"],
        "mmops: error: in.jsonl:2:45: not a JSON object: key \"ema1h\" appears twice (each key may appear only once)",
    );
    assert!(!env.exists("t.csv"));
}

#[test]
fn timeline_has_one_row_per_window() {
    let env = TestEnv::new();
    env.write("in.csv", ema_csv(&[(-1.0, 0.0), (-1.0, 0.0), (-1.0, 0.0), (0.5, 2.0)]));
    env.check(["edge-sim", "--input", "in.csv", "--timeline", "out/t.csv"])
        .code(0)
        .stdout_contains("| edge_sim | OK | EDGE_PROFILE=Moderate |\n")
        .stderr_empty()
        .run();
    assert_eq!(
        env.read("out/t.csv"),
        "ts,ema1h,ema24h,profile,streak,recovery_streak,changed\n\
         2025-10-11T00:30:00Z,-1,0,Moderate,1,0,0\n\
         2025-10-11T01:00:00Z,-1,0,Moderate,2,0,0\n\
         2025-10-11T01:30:00Z,-1,0,Conservative,0,0,1\n\
         2025-10-11T02:00:00Z,0.5,2,Moderate,0,0,1\n"
    );
}

#[test]
fn ladder_of_four_profiles() {
    let env = TestEnv::new();
    env.write(
        "ladder.yaml",
        "start_profile: Moderate\nconsecutive_windows: 2\nprofiles:\n\
         - {name: Aggressive, spread_multiplier: 0.8, max_inflight: 20, backoff_ms: 50}\n\
         - {name: Moderate, spread_multiplier: 1.0, max_inflight: 10, backoff_ms: 100}\n\
         - {name: Conservative, spread_multiplier: 1.5, max_inflight: 5, backoff_ms: 200, ema1h_threshold: -1.0}\n\
         - {name: Ultra-Conservative, spread_multiplier: 3.0, max_inflight: 1, backoff_ms: 1000, ema24h_recovery_threshold: 0.5}\n",
    );
    env.write(
        "in.csv",
        ema_csv(&[
            (-0.5, 0.0),
            (-0.5, 0.0),
            (-0.5, 0.0),
            (-2.0, 0.0),
            (-2.0, 0.0),
            (-2.0, 0.6),
            (1.0, 1.0),
            (1.0, 1.6),
        ]),
    );
    let json = simulate_json_with(&env, &["--config", "ladder.yaml"]);
    let steps: Vec<String> =
        json.transitions.iter().map(|t| format!("{} {}->{}", t.window_index, t.from, t.to)).collect();
    assert_eq!(
        steps,
        [
            "1 Moderate->Conservative",
            "4 Conservative->Ultra-Conservative",
            "5 Ultra-Conservative->Conservative",
            "7 Conservative->Moderate"
        ]
    );
    assert_eq!(json.transitions[1].reason, "ema1h < -1.0 for 2 consecutive 30m windows");
    assert_eq!(json.transitions[2].reason, "ema24h >= 0.5");
    assert_eq!(json.final_profile, "Moderate");
    assert_eq!(json.config, "ladder.yaml");
    let shares: Vec<(&str, u64)> = json.time_share.iter().map(|s| (s.profile.as_str(), s.windows)).collect();
    assert_eq!(shares, [("Aggressive", 0), ("Moderate", 2), ("Conservative", 5), ("Ultra-Conservative", 1)]);
    assert_eq!(json.time_share[2].share, 0.625);
}

#[test]
fn bad_input_names_line_and_column() {
    let env = TestEnv::new();
    let header = "ts,ema1h,ema24h\n";
    let good = format!("{},0,0\n", DAY + WINDOW);
    let cases: Vec<(String, String)> = vec![
        (format!("{header}{good}{},abc,0\n", DAY + 2 * WINDOW), "in.csv:3: column 2 \"ema1h\": \"abc\" is not a number".into()),
        (format!("{header}{good}{},1,NaN\n", DAY + 2 * WINDOW), "in.csv:3: column 3 \"ema24h\": \"NaN\" is not a finite number".into()),
        (format!("{header}{good}{},-inf,1\n", DAY + 2 * WINDOW), "in.csv:3: column 2 \"ema1h\": \"-inf\" is not a finite number".into()),
        (format!("{header}{good}{},,1\n", DAY + 2 * WINDOW), "in.csv:3: column 2 \"ema1h\" is empty; every row needs a number there".into()),
        (format!("{header}{good}{},1\n", DAY + 2 * WINDOW), "in.csv:3: column 3 \"ema24h\" is missing (the row has 2 columns, the header 3)".into()),
        (
            format!("{header}{good},1,1\n"),
            "in.csv:3: column 1 \"ts\" is empty; use RFC 3339 (2025-10-11T14:30:00Z) or Unix seconds (1760193000 or 1760193000.25)".into(),
        ),
        (
            format!("{header}{good}soon,1,1\n"),
            "in.csv:3: column 1 \"ts\": \"soon\" is not a timestamp; use RFC 3339 (2025-10-11T14:30:00Z) or Unix seconds (1760193000 or 1760193000.25)".into(),
        ),
        (
            format!("{header}{good}{},1,1\n", DAY),
            "in.csv:3: column 1 \"ts\" 2025-10-11T00:00:00Z is earlier than 2025-10-11T00:30:00Z on line 2; timestamps must not go backwards (sort the input by time)".into(),
        ),
        (
            "ts,ema1h\n1,1\n".into(),
            "in.csv:1: the header has no \"ema24h\" column; expected columns ts,ema1h,ema24h (pre-computed EMAs) or ts,edge_bps (raw samples)".into(),
        ),
        ("ts,ema1h,ema24h\n".into(), "in.csv: no data rows after the header; nothing to simulate".into()),
    ];
    for (csv, expected) in cases {
        env.write("in.csv", &csv);
        fails_with(&env, &["edge-sim", "--input", "in.csv"], &format!("mmops: error: {expected}"));
    }
    env.write(
        "in.jsonl",
        format!(
            "{{\"ts\":{},\"ema1h\":0,\"ema24h\":0}}\n{{\"ts\":{},\"ema1h\":true,\"ema24h\":0}}\n",
            DAY,
            DAY + 1
        ),
    );
    fails_with(
        &env,
        &["edge-sim", "--input", "in.jsonl"],
        "mmops: error: in.jsonl:2: field \"ema1h\": true is not a number",
    );
    fails_with(
        &env,
        &["edge-sim", "--input", "missing.csv"],
        "mmops: error: cannot open input missing.csv: No such file or directory (os error 2)",
    );
}

#[test]
fn bad_config_names_the_field_and_writes_nothing() {
    let env = TestEnv::new();
    env.write("in.csv", ema_csv(&[(0.0, 0.0)]));
    let cases = [
        ("windows: 30m\n", "mmops: error: c.yaml:1:1: unknown field \"windows\""),
        ("window: 0m\n", "mmops: error: c.yaml:1:9: duration \"0m\" must be greater than zero"),
        (
            "consecutive_windows: 0\n",
            "mmops: error: c.yaml: consecutive_windows must be a whole number of windows, at least 1 (got 0)",
        ),
        (
            "profiles:\n  - {name: Only, spread_multiplier: 1, max_inflight: 1, backoff_ms: 1}\n",
            "mmops: error: c.yaml: profiles must list at least two profiles (a ladder from least to most conservative); found 1",
        ),
    ];
    for (config, expected) in cases {
        env.write("c.yaml", config);
        let run = env
            .check(["edge-sim", "--config", "c.yaml", "--input", "in.csv", "--timeline", "t.csv"])
            .code(2)
            .stdout_empty()
            .stderr_contains(expected)
            .run();
        assert!(run.stderr.starts_with(expected), "{config}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{config}: one error line");
        assert!(!env.exists("t.csv"));
    }
}

#[test]
fn json_lines_from_stdin() {
    let env = TestEnv::new();
    let mut lines = String::new();
    for index in 1..=3 {
        lines.push_str(&format!("{{\"ts\":\"2025-10-11T0{index}:00:00Z\",\"ema1h\":-1,\"ema24h\":0}}\n"));
    }
    let json: Simulation = env
        .check(["--format", "json", "edge-sim", "--input", "-"])
        .stdin(lines)
        .code(0)
        .stdout(Expect::Anything)
        .stderr_empty()
        .run()
        .json_as();
    assert_eq!(json.format, "json_lines");
    assert_eq!(json.input, "<stdin>");
    // Windows an hour apart are not adjacent: two gaps, no switch.
    assert_eq!((json.gaps, json.missing_windows), (2, 2));
    assert_eq!(json.final_profile, "Moderate");
}

/// The live step on `s.json` in JSON mode, for the caller to state what it expects.
fn live<'a>(env: &'a TestEnv, ts: &str, ema1h: f64, ema24h: f64) -> crate::support::Check<'a> {
    env.check([
        "--format",
        "json",
        "edge-sim",
        "--state",
        "s.json",
        "--ts",
        ts,
        "--ema1h",
        &ema1h.to_string(),
        "--ema24h",
        &ema24h.to_string(),
    ])
}

/// A live step that must succeed quietly: its report, read into the mirror.
#[track_caller]
fn live_ok(env: &TestEnv, ts: &str, ema1h: f64, ema24h: f64) -> LiveStep {
    live(env, ts, ema1h, ema24h).code(0).stdout(Expect::Anything).stderr_empty().run().json_as()
}

#[test]
fn live_steps_match_the_batch_simulation() {
    let env = TestEnv::new();
    let series = [
        (-1.0, 0.0),
        (-1.0, 0.0),
        (-1.0, 0.0),
        (-1.0, 1.0),
        (-1.0, 1.7),
        (-0.5, 1.0),
        (0.2, 1.0),
        (-1.0, 1.0),
    ];
    let batch = simulate_json(&env, &ema_csv(&series));
    let mut live_transitions = Vec::new();
    let mut last = None;
    for (index, (ema1h, ema24h)) in series.iter().enumerate() {
        let ts = (DAY + WINDOW * (index as i64 + 1)).to_string();
        let step = live_ok(&env, &ts, *ema1h, *ema24h);
        assert_eq!(step.changed, step.transition.is_some(), "{step:?}");
        live_transitions.extend(step.transition.clone());
        last = Some(step);
    }
    let last = last.expect("eight steps");
    // Every field agrees, window positions and profile configs included.
    assert_eq!(live_transitions.len(), 2);
    assert_eq!(live_transitions, batch.transitions);
    assert_eq!(last.profile.name, batch.final_profile);
    assert_eq!(last.profile, batch.final_profile_config);
    assert_eq!(last.policy_applied_count, batch.policy_applied_count);
    assert_eq!(last.profile_switches, 2);
    assert_eq!((last.windows_seen, last.gaps), (batch.windows_seen, batch.gaps));
    assert_eq!((last.state.as_str(), last.window.as_deref()), ("s.json", Some("2025-10-11T04:00:00Z")));
    assert_eq!((last.ema1h, last.ema24h), (Some(-1.0), Some(1.0)));
    assert_eq!(
        (last.streak, last.streak_needed, last.recovery_streak, last.recovery_streak_needed),
        (1, Some(3), 0, None)
    );
    assert!(!last.replaced_window && !last.shadow);
    assert!(
        last.pinned_until.is_none()
            && last.held.is_none()
            && last.pin_expired.is_none()
            && last.operator.is_none()
    );
    assert_eq!((last.tool.as_str(), last.status), ("edge_sim", Status::Ok));
    assert_eq!(last.marker, "EDGE_PROFILE=Moderate");

    // The text form: profile config, and the EDGE_POLICY_APPLIED line only on a change.
    env.check(step_args(&(DAY + 9 * WINDOW).to_string(), "-1", "0", &[]))
        .code(0)
        .stdout_is(
            "profile Moderate spread_multiplier=1.0 max_inflight=10 backoff_ms=100\n\
             window 2025-10-11T04:30:00Z: streak 2/3, policy_applied_count 2\n\
             | edge_sim | OK | EDGE_PROFILE=Moderate |\n",
        )
        .stderr_empty()
        .run();
    let text = env
        .check(step_args("2025-10-11T05:00:00Z", "-1", "0", &[]))
        .code(0)
        .stdout_contains("| edge_sim | OK | EDGE_PROFILE=Conservative |\n")
        .stderr_empty()
        .run();
    assert_eq!(
        text.stdout.lines().next().unwrap(),
        "2025-10-11T05:00:00Z EDGE_POLICY_APPLIED Moderate -> Conservative (ema1h < 0.0 for 3 consecutive 30m windows) \
         spread_multiplier=1.5 max_inflight=5 backoff_ms=200"
    );
    let state = read_state(&env);
    assert_eq!(state.format, "mmops-edge-sim-state/1");
    assert_eq!(state.window_seconds, 1800);
    assert_eq!(state.current.profile, "Conservative");
    assert_eq!(state.current.streak, 0);
    assert_eq!(state.current.last_window.as_deref(), Some("2025-10-11T05:00:00Z"));
    assert_eq!(state.current.policy_applied_count, 3);
    assert_eq!(state.last_input.as_ref().map(|input| input.ts.as_str()), Some("2025-10-11T05:00:00Z"));
    assert_eq!(state.before_last_window.as_ref().map(|before| before.streak), Some(2));
    assert!(state.audit.is_empty() && state.audit_dropped == 0);
}

#[test]
fn live_step_resending_a_window_replaces_it() {
    let env = TestEnv::new();
    live_ok(&env, "2025-10-11T00:30:00Z", -1.0, 0.0);
    live_ok(&env, "2025-10-11T01:00:00Z", -1.0, 0.0);
    let first = live_ok(&env, "2025-10-11T01:30:00Z", -1.0, 0.0);
    assert_eq!(first.profile.name, "Conservative");
    assert!(first.changed && !first.replaced_window);
    // Same window, corrected value (a row at 01:20 belongs to the window closing 01:30).
    let json = live_ok(&env, "2025-10-11T01:20:00Z", 0.5, 0.0);
    assert_eq!(json.profile.name, "Moderate");
    assert_eq!(json.window.as_deref(), Some("2025-10-11T01:30:00Z"));
    assert!(json.replaced_window);
    assert_eq!(json.policy_applied_count, 0);
    // The bot was told Conservative, and is now told Moderate again: two switches.
    assert_eq!(json.profile_switches, 2);
    assert_eq!(json.streak, 0);
    assert_eq!(json.windows_seen, 3);
}

/// `--ts 9999-12-31T23:59:59Z` (a clock gone wrong) was applied and reported OK, but its window
/// closes at `+10000-01-01T00:00:00Z`, which the state file cannot hold: every later step was
/// refused as "corrupt". Refused up front now, with neither the state nor its lock created.
#[test]
fn live_step_refuses_a_window_the_state_cannot_record() {
    let env = TestEnv::new();
    for ts in ["9999-12-31T23:59:59Z", "999999999999"] {
        let run = env
            .check(["edge-sim", "--state", "s.json", &format!("--ts={ts}"), "--ema1h", "1", "--ema24h", "1"])
            .code(2)
            .stdout_empty()
            .stderr_contains("outside the years 0000 to 9999 the state file can record; s.json is unchanged")
            .run();
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert!(!env.exists("s.json") && !env.exists("s.json.lock"));
    }
    // The last window the state can hold still works, and the state reads back.
    for ts in ["9999-12-31T23:00:00Z", "9999-12-31T23:29:59Z"] {
        env.check(["edge-sim", "--state", "s.json", "--ts", ts, "--ema1h", "1", "--ema24h", "1"])
            .code(0)
            .stdout_contains("| edge_sim | OK | EDGE_PROFILE=Moderate |\n")
            .stderr_empty()
            .run();
    }
}

#[test]
fn live_step_refuses_older_windows_and_corrupt_state_leaving_the_file_alone() {
    let env = TestEnv::new();
    live_ok(&env, "2025-10-11T01:00:00Z", -1.0, 0.0);
    let before = env.read("s.json");
    let refused = "--ts 2025-10-11T00:10:00Z falls in the window closing 2025-10-11T00:30:00Z, older than the \
                   state's last window 2025-10-11T01:00:00Z; refused, s.json is unchanged (windows must be sent in \
                   time order)";
    let older = live(&env, "2025-10-11T00:10:00Z", -1.0, 0.0)
        .code(2)
        .stdout(Expect::Anything)
        .stderr_is(&format!("mmops: error: {refused}\n"))
        .run();
    assert_error_document(&older, refused);
    assert_eq!(env.read("s.json"), before);

    for corrupt in ["{\"format\": \"mmops-edge-sim-state/1\", \"current\": ", "", "{\"format\":\"x\"}"] {
        env.write("s.json", corrupt);
        let run = live(&env, "2025-10-11T02:00:00Z", -1.0, 0.0)
            .code(2)
            .stdout_contains("\"status\": \"error\"")
            .stderr_contains("mmops: error: the state file s.json is corrupt (")
            .stderr_contains("it was left untouched")
            .run();
        assert!(run.stderr.starts_with("mmops: error: the state file s.json is corrupt ("), "{}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert_eq!(env.read("s.json"), corrupt);
    }
    // A state written under another ladder is not corrupt, but it does not fit: refused, kept.
    env.write("ladder.yaml", "profiles:\n- {name: Calm, spread_multiplier: 1, max_inflight: 9, backoff_ms: 1}\n- {name: Careful, spread_multiplier: 2, max_inflight: 2, backoff_ms: 9}\n");
    std::fs::remove_file(env.path("s.json")).unwrap();
    live_ok(&env, "2025-10-11T01:00:00Z", -1.0, 0.0);
    let written = env.read("s.json");
    fails_with(
        &env,
        &[
            "edge-sim",
            "--config",
            "ladder.yaml",
            "--state",
            "s.json",
            "--ts",
            "2025-10-11T01:30:00Z",
            "--ema1h",
            "0",
            "--ema24h",
            "0",
        ],
        "mmops: error: the state file s.json names the profile \"Moderate\", which the rules in use do not have \
         (Calm, Careful); it was left untouched — use the same --config, or delete the state file to start again",
    );
    assert_eq!(env.read("s.json"), written);
    std::fs::remove_file(env.path("ladder.yaml")).unwrap();

    let mut names: Vec<String> = std::fs::read_dir(env.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["s.json", "s.json.lock"], "no temporary files left behind");

    fails_with(
        &env,
        &["edge-sim", "--state", "t.json", "--ts", "1", "--ema1h", "NaN", "--ema24h", "0"],
        "mmops: error: --ema1h NaN is not a finite number",
    );
    assert!(!env.exists("t.json"));
}

#[test]
fn sweep_agrees_with_separate_runs() {
    let env = TestEnv::new();
    let series: Vec<(f64, f64)> = (0..200)
        .map(|i| {
            let x = i as f64;
            ((x * 0.37).sin() * 1.5 - 0.2, (x * 0.05).cos() * 1.2 + 1.0)
        })
        .collect();
    env.write("in.csv", ema_csv(&series));
    let json = sweep_json(
        &env,
        &[
            "--sweep",
            "ema1h_threshold=-0.5,0",
            "--sweep",
            "consecutive_windows=2,3",
            "--sweep",
            "ema24h_recovery_threshold=1.5,2",
        ],
    );
    assert_eq!(json.marker, "EDGE_SWEEP=8_combinations");
    assert_eq!((json.tool.as_str(), json.status), ("edge_sim", Status::Ok));
    assert_eq!((json.input.as_str(), json.rows, json.series.as_str()), ("in.csv", 200, "emas"));
    assert_eq!(json.keys, ["ema1h_threshold", "consecutive_windows", "ema24h_recovery_threshold"]);
    let combinations = &json.combinations;
    assert_eq!(combinations.len(), 8);
    let mut changes_seen = std::collections::BTreeSet::new();
    for combination in combinations {
        let settings = &combination.settings;
        assert_eq!(
            settings.keys().collect::<Vec<_>>(),
            ["consecutive_windows", "ema1h_threshold", "ema24h_recovery_threshold"]
        );
        let config = format!(
            "ema1h_threshold: {}\nconsecutive_windows: {}\nema24h_recovery_threshold: {}\n",
            settings["ema1h_threshold"],
            settings["consecutive_windows"],
            settings["ema24h_recovery_threshold"]
        );
        env.write("c.yaml", config);
        let single = simulate_json_with(&env, &["--config", "c.yaml"]);
        assert_eq!(combination.policy_applied_count, single.policy_applied_count, "{settings:?}");
        assert_eq!(combination.final_profile, single.final_profile, "{settings:?}");
        assert_eq!(combination.conservative_windows, single.time_share[1].windows, "{settings:?}");
        assert_eq!(combination.conservative_share, single.time_share[1].share, "{settings:?}");
        assert_eq!(combination.conservative_seconds, combination.conservative_windows * 1800, "{settings:?}");
        assert_eq!(
            (combination.windows_seen, combination.gaps),
            (single.windows_seen, single.gaps),
            "{settings:?}"
        );
        changes_seen.insert(single.policy_applied_count);
    }
    assert!(changes_seen.len() > 2, "the series should tell the combinations apart: {changes_seen:?}");
    // First key varies slowest.
    assert_eq!(combinations[0].settings["ema1h_threshold"], "-0.5");
    assert_eq!(combinations[7].settings["ema1h_threshold"], "0");

    let text = env
        .check(["edge-sim", "--input", "in.csv", "--sweep", "consecutive_windows=2,3"])
        .code(0)
        .stdout(Expect::Anything)
        .stderr_empty()
        .run();
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "consecutive_windows  changes  flaps  conservative  time conservative  final profile"
    );
    assert_eq!(lines.len(), 5);
    assert_eq!(text.last_line(), "| edge_sim | OK | EDGE_SWEEP=2_combinations |");

    fails_with(
        &env,
        &["edge-sim", "--input", "in.csv", "--sweep", "streak=2"],
        "mmops: error: --sweep unknown sweep key \"streak\"; use one of ema1h_threshold, consecutive_windows, \
         ema24h_recovery_threshold, recovery_windows, window, min_dwell, gap_policy, max_gap, \
         cooldown_backoff.factor, cooldown_backoff.max_windows, cooldown_backoff.reset_after (or PROFILE.key)",
    );
    fails_with(
        &env,
        &["edge-sim", "--input", "in.csv", "--sweep", "consecutive_windows=2,0"],
        "mmops: error: the built-in rules with --sweep consecutive_windows=0: consecutive_windows must be a whole \
         number of windows, at least 1 (got 0)",
    );
}

/// A minimal XML well-formedness check: every opened tag is closed in order.
fn assert_well_formed(svg: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = svg;
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').expect("unclosed <") + start;
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name.trim()), "mismatched </{name}>");
        } else if !tag.ends_with('/') {
            stack.push(tag.split_whitespace().next().unwrap().to_string());
        }
    }
    assert!(stack.is_empty(), "unclosed tags: {stack:?}");
}

#[test]
fn plot_is_well_formed_svg_with_the_series() {
    let env = TestEnv::new();
    let series: Vec<(f64, f64)> =
        (0..48).map(|i| if (20..26).contains(&i) { (-1.0, 1.0) } else { (1.0, 2.0) }).collect();
    env.write("in.csv", ema_csv(&series));
    env.check(["edge-sim", "--input", "in.csv", "--plot", "charts/edge.svg"])
        .code(0)
        .stdout_contains("| edge_sim | OK | EDGE_PROFILE=Moderate |\n")
        .stderr_empty()
        .run();
    let svg = env.read("charts/edge.svg");
    assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
    assert_well_formed(&svg);
    for text in [
        "ema1h",
        "ema24h",
        "degrade: ema1h &lt; 0.0",
        "recover: ema24h &gt;= 1.5",
        "Conservative",
        "window close (UTC)",
    ] {
        assert!(svg.contains(text), "missing {text:?}");
    }
    // The ema1h line (its colour) has one point per window.
    let ema1h_line =
        svg.lines().find(|line| line.contains("<polyline") && line.contains("#1F5AC8")).expect("ema1h line");
    let points = ema1h_line.split("points=\"").nth(1).unwrap().split('"').next().unwrap();
    assert_eq!(points.split_whitespace().count(), 48);
    // Deterministic: the same input draws the same bytes.
    env.check(["edge-sim", "--input", "in.csv", "--plot", "again.svg"])
        .code(0)
        .stdout_contains("| edge_sim | OK | EDGE_PROFILE=Moderate |\n")
        .stderr_empty()
        .run();
    assert_eq!(env.read("again.svg"), svg);
    assert!(!svg.contains("[streak]"), "default rules: labels as before");
    // With an anti-flap rule each change label names the rule that fired.
    env.write("rules.yaml", "gap_policy: hold\n");
    env.check(["edge-sim", "--config", "rules.yaml", "--input", "in.csv", "--plot", "rules.svg"])
        .code(0)
        .stdout_contains("| edge_sim | OK | EDGE_PROFILE=Moderate |\n")
        .stderr_empty()
        .run();
    let svg = env.read("rules.svg");
    assert_well_formed(&svg);
    assert!(
        svg.contains("Conservative 10-11 11:30 [streak]") && svg.contains("[recovery]"),
        "rule labels missing"
    );
}

#[test]
fn shipped_config_and_sample_pass_as_make_ready_runs_them() {
    let env = TestEnv::new();
    let root = env!("CARGO_MANIFEST_DIR");
    let config = format!("{root}/deploy/edge/sentinel.yaml");
    let input = format!("{root}/deploy/edge/sample_windows.csv");
    let run = env
        .check(["edge-sim", "--config", &config, "--input", &input])
        .code(0)
        .stdout(Expect::Anything)
        .stderr_empty()
        .run();
    let changes: Vec<&str> =
        run.stdout.lines().filter(|line| line.contains(" EDGE_POLICY_APPLIED ")).collect();
    assert_eq!(changes.len(), 2, "{}", run.stdout);
    assert!(changes[0].contains("Moderate -> Conservative"));
    assert!(changes[1].contains("Conservative -> Moderate"));
    assert_eq!(run.last_line(), "| edge_sim | OK | EDGE_PROFILE=Moderate |");
}

// Regression guard: the timeline is renamed over its path at the end, which would have replaced
// the input itself when both named the same file.
#[test]
fn outputs_may_not_replace_the_input() {
    let env = TestEnv::new();
    let csv = ema_csv(&[(0.0, 0.0)]);
    env.write("in.csv", &csv);
    fails_with(
        &env,
        &["edge-sim", "--input", "in.csv", "--timeline", "./in.csv"],
        "mmops: error: --timeline ./in.csv is the input file; choose another output path",
    );
    fails_with(
        &env,
        &["edge-sim", "--input", "in.csv", "--timeline", "o", "--plot", "o"],
        "mmops: error: --plot o is also the --timeline file; give each output its own path",
    );
    assert_eq!(env.read("in.csv"), csv);
    assert!(!env.exists("o"));
    // The config was replaced by the timeline with exit 0; the pins file likewise.
    let config = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/edge/sentinel.yaml"),
    )
    .unwrap();
    env.write("rules.yaml", &config);
    fails_with(
        &env,
        &["edge-sim", "--config", "rules.yaml", "--input", "in.csv", "--timeline", "rules.yaml"],
        "mmops: error: --timeline rules.yaml is the --config file; choose another output path",
    );
    env.write("pins.yaml", "pins: []\n");
    fails_with(
        &env,
        &["edge-sim", "--input", "in.csv", "--pins", "pins.yaml", "--plot", "./pins.yaml"],
        "mmops: error: --plot ./pins.yaml is the --pins file; choose another output path",
    );
    assert_eq!(env.read("rules.yaml"), config);
    assert_eq!(env.read("pins.yaml"), "pins: []\n");
}

/// Found by fuzzing: a 20-digit timestamp overflowed the fast CSV path (a panic in debug
/// builds). It must be a located exit-2 error.
#[test]
fn twenty_digit_timestamp_is_a_located_error() {
    let env = TestEnv::new();
    env.write("series.csv", "ts,ema1h,ema24h\n99999999999999999999,1,1\n");
    let run = env
        .check(["edge-sim", "--input", "series.csv"])
        .code(2)
        .stdout_empty()
        .stderr_contains("mmops: error: series.csv:2: column 1 \"ts\"")
        .run();
    assert!(run.stderr.starts_with("mmops: error: series.csv:2: column 1 \"ts\""), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
}

// Issue 11 item 21: `"a,b"` was split at its comma, so the EMA columns moved one to the right.
#[test]
fn a_quoted_comma_stays_in_its_field() {
    let env = TestEnv::new();
    let csv = format!(
        "ts,note,ema1h,ema24h\n{},\"a,b\",-1,1\n{},\"c,\"\"d\"\"\",-1,1\n{},plain,-1,1\n",
        DAY + WINDOW,
        DAY + 2 * WINDOW,
        DAY + 3 * WINDOW
    );
    let run = simulate_json(&env, &csv);
    assert_eq!((run.rows, run.windows_seen), (3, 3));
    assert_eq!(run.marker, "EDGE_PROFILE=Conservative");
    assert_eq!(
        transitions(&run),
        [("2025-10-11T01:30:00Z".into(), "Moderate".into(), "Conservative".into())]
    );
    assert_eq!(env.read("in.csv"), csv, "the input is only read");
}

// Issue 11 item 15: two steps at once both read the old state and one window was lost. While
// another process holds the lock, a step waits --lock-wait, then exits 1 naming the holder.
#[test]
fn a_locked_state_makes_the_step_wait_then_fail_naming_the_holder() {
    let env = TestEnv::new();
    live_ok(&env, "2025-10-11T00:30:00Z", -1.0, 0.0);
    let before = env.read("s.json");
    let lock = std::fs::OpenOptions::new().read(true).write(true).open(env.path("s.json.lock")).unwrap();
    lock.lock().unwrap();
    std::fs::write(env.path("s.json.lock"), "pid 4242 since 2026-01-01T00:00:00Z\n").unwrap();
    let started = std::time::Instant::now();
    env.check(step_args("2025-10-11T01:00:00Z", "-1", "0", &["--lock-wait", "300ms"]))
        .code(1)
        .stdout_empty()
        .stderr_is(
            "mmops: error: the state file s.json is locked by another edge-sim step (pid 4242 since \
             2026-01-01T00:00:00Z); gave up after waiting 300ms; nothing was changed — retry, or raise --lock-wait\n",
        )
        .run();
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    assert_eq!(env.read("s.json"), before);
    drop(lock);
    live_ok(&env, "2025-10-11T01:00:00Z", -1.0, 0.0);
    assert_eq!(live_ok(&env, "2025-10-11T01:30:00Z", -1.0, 0.0).windows_seen, 3);
}

// Issue 11 item 13: `--state /dev/zero` grew to 5.5 GB; a config from /dev/zero likewise.
#[test]
fn state_and_config_from_devices_or_huge_files_fail_fast() {
    let env = TestEnv::new();
    let live_args = |state: &str| {
        vec!["edge-sim", "--state", state, "--ts", "2025-10-11T00:30:00Z", "--ema1h", "0", "--ema24h", "0"]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    env.check(live_args("/dev/zero"))
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: /dev/zero: the state file is a character device, not a regular file; point --state at \
             a file edge-sim may replace\n",
        )
        .run();
    assert!(!std::path::Path::new("/dev/zero.lock").exists());
    let huge = format!("{{\"format\": \"{}\"}}", " ".repeat(4 * 1024 * 1024));
    env.write("big.json", &huge);
    env.check(live_args("big.json"))
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: big.json: the state file is larger than the 4.0 MiB limit for a state file; is this the \
             right file?\n",
        )
        .run();
    assert_eq!(env.read("big.json"), huge);
    env.check(["edge-sim", "--config", "/dev/zero", "--input", "in.csv"])
        .code(2)
        .stdout_empty()
        .stderr_contains("/dev/zero: the config file is a character device, not a regular file")
        .run();
}

// The contract (issue 11): the timeline was committed, then --plot failed with exit 2 although
// a file had changed. Every output is now prepared first: a bad --plot leaves no timeline.
#[test]
fn a_bad_plot_path_fails_before_the_timeline_is_written() {
    let env = TestEnv::new();
    env.write("in.csv", ema_csv(&[(-1.0, 0.0), (-1.0, 0.0), (-1.0, 0.0)]));
    env.write("file", "not a folder");
    env.check(["edge-sim", "--input", "in.csv", "--timeline", "t.csv", "--plot", "file/p.svg"])
        .code(2)
        .stdout_empty()
        .stderr_contains("mmops: error: cannot create the chart file/p.svg")
        .run();
    assert!(!env.exists("t.csv"));
    assert_eq!(env.read("file"), "not a folder");
}

// Exit 2 means nothing changed: the folders made for an output that was never written (a bad
// --plot path, an input refused halfway) were left behind, empty.
#[test]
fn a_refused_run_leaves_no_folder_it_made() {
    let env = TestEnv::new();
    env.write("in.csv", ema_csv(&[(-1.0, 0.0), (-1.0, 0.0), (-1.0, 0.0)]));
    env.write("file", "not a folder");
    env.check(["edge-sim", "--input", "in.csv", "--timeline", "new/deeper/t.csv", "--plot", "file/p.svg"])
        .code(2)
        .stdout_empty()
        .stderr_contains("mmops: error: cannot create the chart file/p.svg")
        .run();
    assert!(!env.exists("new"));
    env.write("backwards.csv", "ts,ema1h,ema24h\n1760184000,1,1\n1760183000,1,1\n");
    env.check(["edge-sim", "--input", "backwards.csv", "--timeline", "new/t.csv", "--plot", "new/p.svg"])
        .code(2)
        .stdout_empty()
        .stderr_contains("timestamps must not go backwards")
        .run();
    assert!(!env.exists("new"));
}

// A failure after the timeline is in place is PARTIAL (exit 1) and says what was written: here
// the chart's final name turns into a folder while the input is still being read from stdin.
#[test]
fn a_chart_failing_after_the_timeline_was_committed_is_partial() {
    use std::io::Write as _;
    let env = TestEnv::new();
    let csv = ema_csv(&[(-1.0, 0.0), (-1.0, 0.0), (-1.0, 0.0)]);
    let mut child = env
        .command()
        .args(["edge-sim", "--input", "-", "--timeline", "t.csv", "--plot", "p.svg"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&csv.as_bytes()[..20]).unwrap();
    stdin.flush().unwrap();
    // Both temporary files exist once the first bytes are being read.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::fs::read_dir(env.root())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with(".mmops-tmp-"))
        .count()
        < 2
    {
        assert!(std::time::Instant::now() < deadline, "the temporary files never appeared");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    env.mkdir("p.svg/inside");
    stdin.write_all(&csv.as_bytes()[20..]).unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(String::from_utf8(output.stdout).unwrap(), "");
    assert!(
        stderr.starts_with("mmops: error: PARTIAL: t.csv written, but p.svg could not be: cannot move the new file into place at p.svg"),
        "{stderr}"
    );
    assert_eq!(env.read("t.csv").lines().count(), 4);
    assert!(env.path("p.svg/inside").is_dir());
    let mut names: Vec<String> = std::fs::read_dir(env.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["p.svg", "t.csv"], "no temporary file is left");
}

// Issue 19: with an anti-flap rule configured, every change names the rule that fired (text,
// JSON, timeline), and a change held by min_dwell is marked in the timeline.
#[test]
fn anti_flap_rules_name_the_rule_in_every_output() {
    let env = TestEnv::new();
    env.write("rules.yaml", "min_dwell: 2h\n");
    // Degrade at 01:30, recovery due at 02:00 but held until 03:30 (2h after 01:30).
    let series: Vec<(f64, f64)> = vec![
        (-1.0, 0.0),
        (-1.0, 0.0),
        (-1.0, 0.0),
        (1.0, 2.0),
        (1.0, 2.0),
        (1.0, 2.0),
        (1.0, 2.0),
        (1.0, 2.0),
    ];
    env.write("in.csv", ema_csv(&series));
    let run = env
        .check(["edge-sim", "--config", "rules.yaml", "--input", "in.csv", "--timeline", "t.csv"])
        .code(0)
        .stdout_contains(
            "2025-10-11T01:30:00Z EDGE_POLICY_APPLIED Moderate -> Conservative (ema1h < 0.0 for 3 consecutive 30m \
             windows) spread_multiplier=1.5 max_inflight=5 backoff_ms=200 rule=streak\n\
             2025-10-11T03:30:00Z EDGE_POLICY_APPLIED Conservative -> Moderate (ema24h >= 1.5) \
             spread_multiplier=1.0 max_inflight=10 backoff_ms=100 rule=recovery\n",
        )
        .stderr_empty()
        .run();
    assert_eq!(run.last_line(), "| edge_sim | OK | EDGE_PROFILE=Moderate |");
    let timeline = env.read("t.csv");
    let lines: Vec<&str> = timeline.lines().collect();
    assert_eq!(lines[0], "ts,ema1h,ema24h,profile,streak,recovery_streak,changed,rule");
    assert_eq!(lines[3], "2025-10-11T01:30:00Z,-1,0,Conservative,0,0,1,streak");
    assert_eq!(lines[4], "2025-10-11T02:00:00Z,1,2,Conservative,0,1,0,held_by_min_dwell");
    assert_eq!(lines[7], "2025-10-11T03:30:00Z,1,2,Moderate,0,0,1,recovery");
    assert_eq!(lines[8], "2025-10-11T04:00:00Z,1,2,Moderate,0,0,0,");
    let json = simulate_json_with(&env, &["--config", "rules.yaml"]);
    let rules: Vec<Option<&str>> = json.transitions.iter().map(|t| t.rule.as_deref()).collect();
    assert_eq!(rules, [Some("streak"), Some("recovery")]);
    // Without the option the same series has no rule anywhere (bytes as before).
    let plain = simulate_json(&env, &ema_csv(&series));
    assert!(plain.transitions.iter().all(|t| t.rule.is_none()), "{:?}", plain.transitions);
    // Untyped on purpose: absent is the contract here, and the mirror reads absent and null alike.
    let plain = env
        .check(["--format", "json", "edge-sim", "--input", "in.csv"])
        .code(0)
        .stdout(Expect::Anything)
        .stderr_empty()
        .run()
        .json();
    assert!(plain["transitions"][0].get("rule").is_none());
}

/// A live-step command line for `s.json`.
fn step_args(ts: &str, ema1h: &str, ema24h: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> =
        ["edge-sim", "--state", "s.json", "--ts", ts, "--ema1h", ema1h, "--ema24h", ema24h]
            .map(String::from)
            .to_vec();
    args.extend(extra.iter().map(|arg| arg.to_string()));
    args
}

// Issue 19: an operator pins a profile during an incident; the live step reports the pin and the
// change it would have made, the pin expires on its own, and every action is in the audit log.
#[test]
fn pin_holds_the_profile_reports_the_held_change_and_expires() {
    let env = TestEnv::new();
    let now = "2025-10-11T00:45:00Z";
    env.check(step_args("2025-10-11T00:30:00Z", "1", "2", &[]))
        .env("CI_FAKE_UTC", now)
        .code(0)
        .stdout_contains("| edge_sim | OK | EDGE_PROFILE=Moderate |\n")
        .stderr_empty()
        .run();
    let pin = |until: &str| {
        [
            "edge-sim",
            "--state",
            "s.json",
            "--pin",
            "Conservative",
            "--until",
            until,
            "--reason",
            "incident 42",
        ]
        .map(String::from)
        .to_vec()
    };
    // More than max_pin (24h) ahead, or in the past: refused, state unchanged.
    let before = env.read("s.json");
    env.check(pin("2025-10-12T01:00:00Z"))
        .env("CI_FAKE_UTC", now)
        .code(2)
        .stdout_empty()
        .stderr_is("mmops: error: --until 2025-10-12T01:00:00Z is more than max_pin 1d ahead; pin for less (or raise max_pin in the config); s.json is unchanged\n")
        .run();
    env.check(pin("2025-10-11T00:00:00Z"))
        .env("CI_FAKE_UTC", now)
        .code(2)
        .stdout_empty()
        .stderr_contains("is not in the future")
        .run();
    assert_eq!(env.read("s.json"), before);

    env.check(pin("2025-10-11T02:00:00Z"))
        .env("CI_FAKE_UTC", now)
        .env("USER", "root")
        .env("SUDO_USER", "alice")
        .code(0)
        .stdout_is(
            "pin Conservative until 2025-10-11T02:00:00Z by alice (as root via sudo): incident 42\n\
             2025-10-11T00:30:00Z EDGE_POLICY_APPLIED Moderate -> Conservative (pinned until 2025-10-11T02:00:00Z) \
             spread_multiplier=1.5 max_inflight=5 backoff_ms=200 rule=pin\n\
             profile Conservative spread_multiplier=1.5 max_inflight=5 backoff_ms=200\n\
             | edge_sim | OK | EDGE_PROFILE=Conservative |\n",
        )
        .stderr_empty()
        .run();
    // Recovery evidence while pinned: reported, not applied.
    env.check(step_args("2025-10-11T01:00:00Z", "1", "2", &[]))
        .env("CI_FAKE_UTC", now)
        .code(0)
        .stdout_is(
            "pinned until 2025-10-11T02:00:00Z: would have changed Conservative -> Moderate (ema24h >= 1.5)\n\
             profile Conservative spread_multiplier=1.5 max_inflight=5 backoff_ms=200\n\
             window 2025-10-11T01:00:00Z: recovery streak 1/1, policy_applied_count 1\n\
             | edge_sim | OK | EDGE_PROFILE=Conservative |\n",
        )
        .stderr_empty()
        .run();
    // --shadow: the same report for the next window, and the state's bytes untouched.
    let pinned_state = env.read("s.json");
    env.check(step_args("2025-10-11T01:30:00Z", "1", "2", &["--shadow"]))
        .code(0)
        .stdout_contains("would have changed Conservative -> Moderate")
        .stdout_contains("shadow: s.json was not changed\n")
        .stderr_empty()
        .run();
    assert_eq!(env.read("s.json"), pinned_state);
    // The window closing after --until: the pin expires and the rules apply again.
    let run = env
        .check(
            ["--format", "json"]
                .map(String::from)
                .into_iter()
                .chain(step_args("2025-10-11T02:30:00Z", "1", "2", &[]))
                .collect::<Vec<_>>(),
        )
        .code(0)
        .stdout(Expect::Anything)
        .stderr_empty()
        .run();
    let json: LiveStep = run.json_as();
    let expired = json.pin_expired.as_ref().expect("pin_expired");
    assert_eq!(expired.until.as_deref(), Some("2025-10-11T02:00:00Z"));
    // The pinned profile, not the one the same window then moves to.
    assert_eq!(expired.profile, "Conservative");
    assert_eq!((expired.action.as_str(), expired.by.as_str()), ("expired", "edge-sim"));
    assert_eq!(json.transition.as_ref().map(|t| t.to.as_str()), Some("Moderate"));
    assert!(json.changed);
    assert!(json.pinned_until.is_none());
    assert!(json.operator.is_none());
    let state = read_state(&env);
    let actions: Vec<(&str, &str)> =
        state.audit.iter().map(|entry| (entry.action.as_str(), entry.by.as_str())).collect();
    assert_eq!(actions, [("pin", "alice (as root via sudo)"), ("expired", "edge-sim")]);
    // Nothing to unpin now; a new pin can be ended early.
    env.check(["edge-sim", "--state", "s.json", "--unpin", "--reason", "done"])
        .code(2)
        .stdout_empty()
        .stderr_is("mmops: error: s.json has no pin in force; nothing to unpin, s.json is unchanged\n")
        .run();
    env.check(pin("2025-10-11T05:00:00Z"))
        .env("CI_FAKE_UTC", "2025-10-11T03:00:00Z")
        .env("USER", "bob")
        .env("SUDO_USER", "")
        .code(0)
        .stdout_contains("by bob: incident 42")
        .stderr_empty()
        .run();
    env.check(["edge-sim", "--state", "s.json", "--unpin", "--reason", "resolved"])
        .env("USER", "bob")
        .env("SUDO_USER", "")
        .code(0)
        .stdout_is("unpin Conservative by bob: resolved\nprofile Conservative spread_multiplier=1.5 max_inflight=5 backoff_ms=200\n| edge_sim | OK | EDGE_PROFILE=Conservative |\n")
        .stderr_empty()
        .run();
    let state = read_state(&env);
    assert_eq!(state.audit.len(), 4);
    assert!(state.current.pinned_until.is_none());
    // A pin's JSON document: no window applied, so `window` and the EMAs (of the document and
    // of the transition the pin makes) are written as null; the operator's entry.
    let json: LiveStep = env
        .check([
            "--format",
            "json",
            "edge-sim",
            "--state",
            "s.json",
            "--pin",
            "Moderate",
            "--until",
            "2025-10-11T05:00:00Z",
            "--reason",
            "drill",
        ])
        .env("CI_FAKE_UTC", "2025-10-11T03:30:00Z")
        .env("USER", "bob")
        .env("SUDO_USER", "")
        .code(0)
        .stdout(Expect::Anything)
        .stderr_empty()
        .run()
        .json_as();
    assert_eq!((json.window.as_deref(), json.ema1h, json.ema24h), (None, None, None));
    assert_eq!(json.pinned_until.as_deref(), Some("2025-10-11T05:00:00Z"));
    assert!(json.changed);
    let transition = json.transition.as_ref().expect("the pin's transition");
    assert_eq!(
        (
            transition.from.as_str(),
            transition.to.as_str(),
            transition.rule.as_deref(),
            transition.ema1h,
            transition.ema24h
        ),
        ("Conservative", "Moderate", Some("pin"), None, None)
    );
    let operator = json.operator.as_ref().expect("operator");
    assert_eq!(
        (
            operator.action.as_str(),
            operator.profile.as_str(),
            operator.until.as_deref(),
            operator.reason.as_str(),
            operator.by.as_str(),
            operator.at.as_str()
        ),
        ("pin", "Moderate", Some("2025-10-11T05:00:00Z"), "drill", "bob", "2025-10-11T03:30:00Z")
    );
    assert_eq!(
        (json.profile.name.as_str(), json.status, json.marker.as_str()),
        ("Moderate", Status::Ok, "EDGE_PROFILE=Moderate")
    );
    assert_eq!(read_state(&env).audit.len(), 5);
}

// A reason or user with a newline cannot forge a marker row: control characters in --reason are
// refused, and USER is printed escaped.
#[test]
fn pin_reasons_and_users_cannot_forge_report_lines() {
    let env = TestEnv::new();
    let now = "2025-10-11T00:45:00Z";
    env.check(step_args("2025-10-11T00:30:00Z", "1", "2", &[]))
        .env("CI_FAKE_UTC", now)
        .code(0)
        .stdout_contains("| edge_sim | OK | EDGE_PROFILE=Moderate |\n")
        .stderr_empty()
        .run();
    let before = env.read("s.json");
    let pin = |reason: &str| {
        [
            "edge-sim",
            "--state",
            "s.json",
            "--pin",
            "Conservative",
            "--until",
            "2025-10-11T02:00:00Z",
            "--reason",
            reason,
        ]
        .map(String::from)
        .to_vec()
    };
    env.check(pin("x\n| edge_sim | OK | EDGE_PROFILE=Moderate |"))
        .env("CI_FAKE_UTC", now)
        .code(2)
        .stdout_empty()
        .stderr_is("mmops: error: --reason contains the control character '\\n'; write it on one line without control characters\n")
        .run();
    assert_eq!(env.read("s.json"), before);
    env.check(pin("incident 7"))
        .env("CI_FAKE_UTC", now)
        .env("USER", "eve\n| edge_sim | OK | EDGE_PROFILE=Moderate |")
        .env("SUDO_USER", "")
        .code(0)
        .stdout_contains("by eve\\n| edge_sim | OK | EDGE_PROFILE=Moderate |: incident 7\n")
        .stderr_empty()
        .run();
}

// A pin between a window and its resend: the resend replays under the pin, and the pin's change
// stays counted (it used to drop from policy_applied_count).
#[test]
fn a_resent_window_after_a_pin_keeps_the_pins_change() {
    let env = TestEnv::new();
    let now = "2025-10-11T00:45:00Z";
    env.check(step_args("2025-10-11T00:30:00Z", "1", "2", &[]))
        .env("CI_FAKE_UTC", now)
        .code(0)
        .stdout_contains("| edge_sim | OK | EDGE_PROFILE=Moderate |\n")
        .stderr_empty()
        .run();
    env.check([
        "edge-sim",
        "--state",
        "s.json",
        "--pin",
        "Conservative",
        "--until",
        "2025-10-11T02:00:00Z",
        "--reason",
        "incident",
    ])
    .env("CI_FAKE_UTC", now)
    .code(0)
    .stdout_contains("pin Conservative until 2025-10-11T02:00:00Z by ")
    .stdout_contains("| edge_sim | OK | EDGE_PROFILE=Conservative |\n")
    .stderr_empty()
    .run();
    let count = |env: &TestEnv| {
        let state = read_state(env);
        (state.current.policy_applied_count, state.current.profile)
    };
    assert_eq!(count(&env), (1, "Conservative".to_string()));
    // The same window again, with good numbers: still pinned, the change still counted.
    env.check(step_args("2025-10-11T00:30:00Z", "1", "2", &[]))
        .env("CI_FAKE_UTC", now)
        .code(0)
        .stdout_contains("| edge_sim | OK | EDGE_PROFILE=Conservative |\n")
        .stderr_empty()
        .run();
    assert_eq!(count(&env), (1, "Conservative".to_string()));
}

// Issue 19: the sweep takes the anti-flap fields and reports flaps and time in Conservative, so
// tuning trades reaction time against flapping with numbers.
#[test]
fn sweep_of_min_dwell_trades_flaps_for_reaction_time() {
    let env = TestEnv::new();
    // Three bad windows, one good, repeated: the default rules flap every two hours.
    let series: Vec<(f64, f64)> =
        (0..48).map(|index| if index % 4 == 3 { (1.0, 2.0) } else { (-1.0, 0.0) }).collect();
    env.write("in.csv", ema_csv(&series));
    let json = sweep_json(&env, &["--sweep", "min_dwell=0,2h,4h"]);
    let combos = &json.combinations;
    let flaps: Vec<u64> = combos.iter().map(|c| c.flaps).collect();
    let changes: Vec<u64> = combos.iter().map(|c| c.policy_applied_count).collect();
    assert_eq!(
        flaps[0],
        changes[0] - 1,
        "without min_dwell every change after the first undoes the one before"
    );
    assert!(flaps[0] > flaps[1] && flaps[1] >= flaps[2], "{flaps:?}");
    assert!(changes[0] > changes[1] && changes[1] > changes[2], "{changes:?}");
    let seconds: Vec<u64> = combos.iter().map(|c| c.conservative_seconds).collect();
    let windows: Vec<u64> = combos.iter().map(|c| c.conservative_windows).collect();
    assert_eq!(seconds, windows.iter().map(|w| w * 1800).collect::<Vec<_>>());
    // The swept value behaves as the same value in a config file.
    env.write("c.yaml", "min_dwell: 2h\n");
    let single = simulate_json_with(&env, &["--config", "c.yaml"]);
    assert_eq!(single.policy_applied_count, combos[1].policy_applied_count);
    assert_eq!(single.time_share[1].windows, combos[1].conservative_windows);
}

/// `--format json edge-sim --input in.csv EXTRA…`: exit 0, nothing on stderr, the replay report.
#[track_caller]
fn simulate_json_with(env: &TestEnv, extra: &[&str]) -> Simulation {
    let mut args = vec!["--format", "json", "edge-sim", "--input", "in.csv"];
    args.extend_from_slice(extra);
    env.check(args).code(0).stdout(Expect::Anything).stderr_empty().run().json_as()
}

/// `--format json edge-sim --input in.csv EXTRA…` with `--sweep`s: the sweep report.
#[track_caller]
fn sweep_json(env: &TestEnv, extra: &[&str]) -> Sweep {
    let mut args = vec!["--format", "json", "edge-sim", "--input", "in.csv"];
    args.extend_from_slice(extra);
    env.check(args).code(0).stdout(Expect::Anything).stderr_empty().run().json_as()
}

/// A `--format json` run that failed: stdout is the error document, naming the same error as
/// stderr's line.
#[track_caller]
fn assert_error_document(run: &crate::support::Run, error: &str) {
    let document: crate::global::mirror::ErrorDocument = run.json_as();
    assert_eq!((document.status.as_str(), document.exit_code, document.error.as_str()), ("error", 2, error));
    assert!(document.location.is_none(), "{document:?}");
}

// Issue 19: a replay with `--pins` holds changes as the live `--pin` would, counts a pin that
// changes the profile as a change of its own (rule `pin`), and the chart marks the pinned stretch.
#[test]
fn pins_replayed_with_the_series_hold_changes_and_are_marked_on_the_chart() {
    let env = TestEnv::new();
    env.write("in.csv", ema_csv(&[(-1.0, 0.0); 10]));
    let unpinned = simulate_json_with(&env, &[]);
    assert_eq!(unpinned.transitions[0].ts, "2025-10-11T01:30:00Z");
    // Held in Moderate until 02:40: the degradation waits for the first window after it.
    env.write("hold.yaml", "pins:\n  - {profile: Moderate, from: 2025-10-11T00:00:00Z, until: 2025-10-11T02:40:00Z, reason: release}\n");
    let held = simulate_json_with(&env, &["--pins", "hold.yaml", "--plot", "chart.svg"]);
    let changes = &held.transitions;
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].ts, "2025-10-11T03:00:00Z");
    assert_eq!(changes[0].to, "Conservative");
    assert_eq!(held.plot.as_deref(), Some("chart.svg"));
    let svg = env.read("chart.svg");
    assert!(svg.contains("pinned by an operator"), "the chart has no pinned stretch");
    // Pinned to Conservative on good data: the pin is a change, recovery waits for its expiry.
    env.write("in.csv", ema_csv(&[(1.0, 2.0); 6]));
    env.write(
        "cons.json",
        r#"{"pins": [{"profile": "Conservative", "from": 1760140800, "until": "2025-10-11T01:10:00Z"}]}"#,
    );
    let pinned = simulate_json_with(&env, &["--pins", "cons.json"]);
    let summary: Vec<(String, String, String)> = pinned
        .transitions
        .iter()
        .map(|t| (t.ts.clone(), t.to.clone(), t.rule.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        summary,
        [
            ("2025-10-11T00:30:00Z".to_string(), "Conservative".to_string(), "pin".to_string()),
            // Default rules: only the pin names its rule (the other changes keep today's bytes).
            ("2025-10-11T01:30:00Z".to_string(), "Moderate".to_string(), String::new()),
        ]
    );
    assert_eq!(pinned.policy_applied_count, 2);
    // A bad pins file: exit 2, the pin and the problem named, no chart written.
    env.write("bad.yaml", "pins:\n  - {profile: Wild, from: 0, until: 60}\n");
    env.check(["edge-sim", "--input", "in.csv", "--pins", "bad.yaml", "--plot", "bad.svg"])
        .code(2)
        .stdout_empty()
        .stderr_is("mmops: error: bad.yaml: pins[0]: profile \"Wild\" is not a profile of the rules in use (Moderate, Conservative)\n")
        .run();
    assert!(!env.exists("bad.svg"));
}

// A sweep over gap_policy and max_gap: max_gap applies to the degrade combinations only, so the
// others run without it (shown as `-`, once each) instead of failing the whole sweep.
#[test]
fn a_sweep_of_gap_policies_with_max_gap_runs_each_policy_once() {
    let env = TestEnv::new();
    env.write("in.csv", ema_csv(&[(-1.0, 0.0), (1.0, 2.0), (-1.0, 0.0)]));
    let json = sweep_json(&env, &["--sweep", "max_gap=2h,4h", "--sweep", "gap_policy=reset,hold,degrade"]);
    assert_eq!(json.keys, ["max_gap", "gap_policy"]);
    let settings: Vec<(String, String)> = json
        .combinations
        .iter()
        .map(|c| (c.settings["max_gap"].clone(), c.settings["gap_policy"].clone()))
        .collect();
    let expected: Vec<(String, String)> =
        [("-", "reset"), ("-", "hold"), ("2h", "degrade"), ("4h", "degrade")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
    assert_eq!(settings, expected);
}

/// Audit gap 1: a live step whose `--prom-file` fails (ENOSPC) after the state file was replaced
/// ended exit 2 ("nothing changed"); the window is applied, so it is PARTIAL, exit 1.
#[test]
fn a_prom_file_failing_after_the_state_was_written_is_partial_exit_1() {
    let env = TestEnv::new();
    env.mkdir("textfiles");
    let script = "mount -t tmpfs -o size=4k mmops-full textfiles && \
                  (head -c 4096 /dev/zero > textfiles/filler; true) && \
                  exec \"$MMOPS\" edge-sim --state s.json --ts 1800 --ema1h 0 --ema24h 0 \
                  --prom-file textfiles/edge.prom";
    let Some(run) = crate::support::run_in_mount_namespace(&env, script, "2026-01-01T00:00:00Z") else {
        return;
    };
    run.expect_code(1);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "mmops: error: applied the window to s.json, but the Prometheus file was not updated: cannot write \
         the Prometheus file textfiles/edge.prom (--prom-file): No space left on device (os error 28)\n"
    );
    let state = read_state(&env);
    assert_eq!(state.current.last_window.as_deref(), Some("1970-01-01T00:30:00Z"));
}

/// Audit gap 2: `--timeline` and `--plot` naming one file by two spellings (`out/t.csv` and
/// `out/../out/t.csv`, folder not made yet) passed the check, and the chart replaced the timeline.
#[test]
fn timeline_and_plot_naming_one_file_by_two_spellings_are_refused() {
    let env = TestEnv::new();
    env.write("in.csv", ema_csv(&[(1.0, 1.0)]));
    env.check(["edge-sim", "--input", "in.csv", "--timeline", "out/t.csv", "--plot", "out/../out/t.csv"])
        .code(2)
        .stdout_empty()
        .stderr_is("mmops: error: --plot out/../out/t.csv is also the --timeline file; give each output its own path\n")
        .run();
    assert!(!env.exists("out"));
}

/// Audit gap 4: a 60 KB CSV field was quoted whole in the error line.
#[test]
fn a_huge_csv_field_gives_a_short_error() {
    let env = TestEnv::new();
    env.write("in.csv", format!("ts,ema1h,ema24h\n1800,{},1\n", "1".repeat(60_000)));
    let run = env
        .check(["edge-sim", "--input", "in.csv"])
        .code(2)
        .stdout_empty()
        .stderr_contains("mmops: error: in.csv:2: column 2 \"ema1h\": \"1111")
        .stderr_contains("…\" (60000 characters)")
        .run();
    assert!(run.stderr.len() < 1024, "{} bytes", run.stderr.len());
}
