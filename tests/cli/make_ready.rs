//! `mmops make-ready` end to end: readiness scoring and validation, the pre-live pack (failures,
//! timeouts, parallelism, waivers, built-in checks), JUnit, GitHub summary, config errors.

mod mirror;

use std::path::Path;

use mmops::readiness_doc::{ReadinessDoc, ReadinessVerdict};

use crate::support::{Check, Expect, Run, TestEnv, utc};
use mirror::{MakeReadyDoc, MakeReadyVerdict, Readiness, Status, StepStatus, ValidateDoc};

const NOW: &str = "2026-11-28T12:00:00Z";
const REPO: &str = env!("CARGO_MANIFEST_DIR");
const PERFECT_JSON: &str = "{\"runtime\":{\"utc\":\"2026-11-28T12:00:00Z\",\"version\":\"1.4.0\"},\"score\":100.0,\"sections\":{\"chaos\":10.0,\"edge\":30.0,\"guards\":10.0,\"latency\":25.0,\"taker\":15.0,\"tests\":10.0},\"verdict\":\"GO\"}\n";

/// A soak report with the given edge and taker share; everything else perfect.
fn soak(edge: f64, taker: f64) -> String {
    format!(
        "{{\"edge_net_bps\": {edge}, \"order_age_p95_ms\": 300, \"taker_share_pct\": {taker}, \"reg_guard\": {{\"reason\": \"NONE\"}}, \"drift\": {{\"reason\": \"NONE\"}}, \"chaos_result\": \"OK\", \"bug_bash\": \"OK\"}}"
    )
}

/// An env with VERSION and `count` perfect reports named 20261101.. in `artifacts`.
fn env_with_reports(count: u32) -> TestEnv {
    let env = TestEnv::new();
    env.write("VERSION", "1.4.0\n");
    for day in 1..=count {
        env.write(format!("artifacts/REPORT_SOAK_202611{day:02}.json"), soak(3.0, 10.0));
    }
    env
}

/// The closing rows of a run that passed and of one that is blocked.
const MAKE_READY_OK: &str = "\n| make_ready | OK | MAKE_READY=OK |\n";
const MAKE_READY_BLOCKED: &str = "\n| make_ready | FAIL | MAKE_READY=BLOCKED |\n";

/// `mmops make-ready --skip-pre-live EXTRA` at [`NOW`]; the caller states exit code, stdout and
/// stderr.
fn readiness_only<'a>(env: &'a TestEnv, extra: &[&str]) -> Check<'a> {
    let mut args = vec!["make-ready", "--skip-pre-live"];
    args.extend_from_slice(extra);
    env.check(args).env("CI_FAKE_UTC", NOW)
}

/// Runs the pre-live pack of `config` with 7 perfect reports, so readiness is GO; the caller
/// states exit code, stdout and stderr.
fn pack<'a>(env: &'a TestEnv, config: &str, extra: &[&str]) -> Check<'a> {
    for day in 1..=7 {
        env.write(format!("artifacts/REPORT_SOAK_202611{day:02}.json"), soak(3.0, 10.0));
    }
    if !env.exists("VERSION") {
        env.write("VERSION", "1.4.0\n");
    }
    env.write("make_ready.yaml", config);
    let mut args = vec!["make-ready", "--config", "make_ready.yaml"];
    args.extend_from_slice(extra);
    env.check(args).env("CI_FAKE_UTC", NOW)
}

/// `artifacts/reports/readiness.json`, read into its typed mirror.
fn written(env: &TestEnv) -> Readiness {
    serde_json::from_str(&env.read("artifacts/reports/readiness.json"))
        .expect("readiness.json matches its mirror")
}

/// The stderr of text-mode runs, which report progress there.
trait Progress {
    /// `--skip-pre-live`: exactly its warning, then the readiness line naming the reports folder.
    fn stderr_skipped_pack(self, reports_dir: &str) -> Self;
    /// Runs a text-mode pack run whose stderr is its progress and nothing else: the plan, one
    /// line per step as it ends (its status and time; in the order the steps end), the readiness
    /// line, then exactly the lines of `tail`. The times vary, so the lines are compared by shape.
    fn run_pack(self, steps: &[(&str, &str)], tail: &[&str]) -> Run;
}

impl Progress for Check<'_> {
    fn stderr_skipped_pack(self, reports_dir: &str) -> Self {
        self.stderr_is(&format!(
            "mmops: warning: pre-live pack skipped (--skip-pre-live): MAKE_READY reflects the readiness score \
             only\nmmops: readiness: scoring the last 7 soak reports in {reports_dir}\n"
        ))
    }

    #[track_caller]
    fn run_pack(self, steps: &[(&str, &str)], tail: &[&str]) -> Run {
        let plan = match steps.len() {
            1 => "mmops: pre-live pack: 1 step, ".to_string(),
            count => format!("mmops: pre-live pack: {count} steps, "),
        };
        let mut check = self.stderr_contains(&plan);
        for (name, status) in steps {
            check = check.stderr_contains(&format!("\nmmops:   {name} {status} ("));
        }
        let run =
            check.stderr_contains("\nmmops: readiness: scoring the last 7 soak reports in artifacts\n").run();
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert!(lines.len() == steps.len() + 2 + tail.len(), "unexpected stderr lines:\n{}", run.stderr);
        assert!(lines[0].starts_with(&plan) && lines[0].ends_with(" at a time"), "{}", run.stderr);
        let mut ended: Vec<String> = lines[1..=steps.len()]
            .iter()
            .map(|line| {
                let time = line.rsplit_once(" (").map(|(_, time)| time).unwrap_or_default();
                let seconds = time.strip_suffix("s)").unwrap_or_default();
                assert!(seconds.parse::<f64>().is_ok(), "not a step line: {line:?}\n{}", run.stderr);
                line[..line.len() - time.len() - 2].to_string()
            })
            .collect();
        ended.sort();
        let mut expected: Vec<String> =
            steps.iter().map(|(name, status)| format!("mmops:   {name} {status}")).collect();
        expected.sort();
        assert_eq!(ended, expected, "{}", run.stderr);
        assert_eq!(
            lines[steps.len() + 1..],
            [&["mmops: readiness: scoring the last 7 soak reports in artifacts"], tail].concat(),
            "{}",
            run.stderr
        );
        run
    }
}

fn score_of(env: &TestEnv) -> f64 {
    written(env).score
}

/// Issue 12 item 4: a missing reports folder is a wrong folder or a typo (exit 2, nothing
/// written, the folder named); an empty one is HOLD with a reason naming the folder and the glob,
/// shown under --quiet and never GO whatever --min-score says.
#[test]
fn missing_reports_folder_is_exit_2_and_an_empty_one_holds_with_a_reason() {
    let env = TestEnv::new();
    env.write("VERSION", "1.4.0\n");
    let root = env.root().display().to_string();
    env.check(["make-ready", "--skip-pre-live"])
        .env("CI_FAKE_UTC", NOW)
        .code(2)
        .stdout_empty()
        .stderr_is(&format!(
            "mmops: error: reports folder artifacts not found in {root}; run mmops in the repository or pass -C DIR \
             (or --reports-dir DIR holding the REPORT_SOAK_*.json soak reports)\n"
        ))
        .run();
    assert!(!env.exists("artifacts"));
    env.check(["--format", "json", "make-ready", "--skip-pre-live", "--reports-dir", "typo"])
        .env("CI_FAKE_UTC", NOW)
        .code(2)
        .stdout_contains("\"error\": \"reports folder typo not found in ")
        .stderr_contains("mmops: error: reports folder typo not found in ")
        .run();

    // A dangling symlink is not an empty folder either.
    std::os::unix::fs::symlink("gone", env.path("artifacts")).unwrap();
    env.check(["--quiet", "make-ready", "--skip-pre-live"])
        .env("CI_FAKE_UTC", NOW)
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: cannot list reports folder artifacts: No such file or directory (os error 2)\n",
        )
        .run();
    std::fs::remove_file(env.path("artifacts")).unwrap();

    env.mkdir("artifacts");
    let run = env
        .check(["--quiet", "make-ready", "--skip-pre-live", "--min-score", "50"])
        .env("CI_FAKE_UTC", NOW)
        .code(1)
        .stdout_is(
            "readiness: artifacts/reports/readiness.json (score 60; chaos 10/10, edge 0/30, guards 0/10, latency 25/25, taker 15/15, tests 10/10)\n\
             | readiness | FAIL | READINESS=HOLD |\n\
             \x20   > no soak reports: artifacts holds no REPORT_SOAK_*.json\n\
             \n\
             | component | status | detail |\n\
             |---|---|---|\n\
             | pre_live_pack | SKIPPED | skipped (--skip-pre-live) |\n\
             | readiness | HOLD | score 60 (min 50) from 0 of 7 reports: HOLD; no soak reports: artifacts holds no REPORT_SOAK_*.json |\n\
             | make_ready | FAIL | MAKE_READY=BLOCKED |\n",
        )
        .stderr_empty()
        .run();
    assert_eq!(run.last_line(), "| make_ready | FAIL | MAKE_READY=BLOCKED |");
    assert_eq!(
        env.read("artifacts/reports/readiness.json"),
        "{\"runtime\":{\"utc\":\"2026-11-28T12:00:00Z\",\"version\":\"1.4.0\"},\"score\":60.0,\"sections\":{\"chaos\":10.0,\"edge\":0.0,\"guards\":0.0,\"latency\":25.0,\"taker\":15.0,\"tests\":10.0},\"verdict\":\"HOLD\"}\n"
    );
}

#[test]
fn seven_perfect_reports_go_with_exact_bytes_and_markdown_twin() {
    let env = env_with_reports(7);
    let run = readiness_only(&env, &[])
        .code(0)
        .stdout_contains(MAKE_READY_OK)
        .stderr_skipped_pack("artifacts")
        .run();
    assert_eq!(run.last_line(), "| make_ready | OK | MAKE_READY=OK |");
    assert!(run.stdout.contains("| readiness | OK | READINESS=GO |\n"), "{}", run.stdout);
    assert_eq!(env.read("artifacts/reports/readiness.json"), PERFECT_JSON);
    let markdown = env.read("artifacts/reports/readiness.md");
    assert!(
        markdown.contains("| section | score |\n") && markdown.contains("| edge | 30 / 30 |\n"),
        "{markdown}"
    );
    assert!(markdown.contains("Verdict: **GO**"), "{markdown}");
    // Deterministic: a second run writes the same bytes.
    readiness_only(&env, &[]).code(0).stdout_contains(MAKE_READY_OK).stderr_skipped_pack("artifacts").run();
    assert_eq!(env.read("artifacts/reports/readiness.json"), PERFECT_JSON);
}

#[test]
fn shipped_examples_go_and_hold() {
    let env = TestEnv::new();
    env.write("VERSION", "1.4.0\n");
    let good = format!("{REPO}/deploy/examples/soak/good");
    readiness_only(&env, &["--reports-dir", &good])
        .code(0)
        .stdout_contains(MAKE_READY_OK)
        .stderr_skipped_pack(&good)
        .run();
    assert_eq!(score_of(&env), 100.0);
    let degraded = format!("{REPO}/deploy/examples/soak/degraded");
    readiness_only(&env, &["--reports-dir", &degraded])
        .code(1)
        .stdout_contains(MAKE_READY_BLOCKED)
        .stderr_skipped_pack(&degraded)
        .run();
    assert!(score_of(&env) < 100.0);
}

#[test]
fn only_the_last_seven_reports_by_name_count() {
    let env = env_with_reports(7);
    // Sorts before the others by name: outside the window, so its bad edge is ignored.
    env.write("artifacts/REPORT_SOAK_20261031.json", soak(0.0, 90.0));
    readiness_only(&env, &[]).code(0).stdout_contains(MAKE_READY_OK).stderr_skipped_pack("artifacts").run();
    assert_eq!(score_of(&env), 100.0);
    // Sorts last: it enters the window and pushes the oldest perfect one out.
    for day in 8..=11 {
        env.write(format!("artifacts/REPORT_SOAK_202611{day:02}.json"), soak(0.0, 30.0));
    }
    readiness_only(&env, &[])
        .code(1)
        .stdout_contains(MAKE_READY_BLOCKED)
        .stderr_skipped_pack("artifacts")
        .run();
    // 4 of 7 at edge 0 → median 0; taker median 30 → 7.5.
    assert_eq!(score_of(&env), 100.0 - 30.0 - 7.5);
}

#[test]
fn malformed_report_is_named_and_counts_as_absent() {
    let env = env_with_reports(6);
    env.write("artifacts/REPORT_SOAK_20261107.json", "{not json");
    readiness_only(&env, &[]).code(1).stdout_contains(MAKE_READY_BLOCKED).stderr_is(
            "mmops: warning: pre-live pack skipped (--skip-pre-live): MAKE_READY reflects the readiness score only\n\
             mmops: readiness: scoring the last 7 soak reports in artifacts\n\
             mmops: warning: soak report REPORT_SOAK_20261107.json: key must be a string at line 1 column 2 \
             (counted as absent)\n",
        ).run();
    // 6 ok guard days out of 7.
    assert_eq!(score_of(&env), 98.571429);
}

#[test]
fn min_score_lowers_the_go_bar() {
    let env = TestEnv::new();
    env.write("VERSION", "1.4.0\n");
    let degraded = format!("{REPO}/deploy/examples/soak/degraded");
    readiness_only(&env, &["--reports-dir", &degraded, "--min-score", "65"])
        .code(0)
        .stdout_contains(MAKE_READY_OK)
        .stderr_skipped_pack(&degraded)
        .run();
    assert_eq!(written(&env).verdict, mirror::ReadinessVerdict::Go);
    readiness_only(&env, &["--reports-dir", &degraded, "--min-score", "66"])
        .code(1)
        .stdout_contains(MAKE_READY_BLOCKED)
        .stderr_skipped_pack(&degraded)
        .run();
    readiness_only(&env, &["--min-score", "101"])
        .code(2)
        .stdout_empty()
        .stderr_is("mmops: error: --min-score 101 is outside 0..100; the score is out of 100\n")
        .run();
}

#[test]
fn stale_evidence_holds_even_at_100() {
    let env = env_with_reports(7);
    // Newest report covers 2026-11-07, i.e. ends 2026-11-08T00:00Z; now is 2026-11-28.
    let run = readiness_only(&env, &["--max-evidence-age", "7d"])
        .code(1)
        .stdout_contains(MAKE_READY_BLOCKED)
        .stderr_skipped_pack("artifacts")
        .run();
    assert!(
        run.stdout
            .contains("stale evidence: newest soak report REPORT_SOAK_20261107.json is 2w 6d old (limit 1w)"),
        "{}",
        run.stdout
    );
    let document = written(&env);
    assert_eq!((document.score, document.verdict), (100.0, mirror::ReadinessVerdict::Hold));
    readiness_only(&env, &["--max-evidence-age", "21d"])
        .code(0)
        .stdout_contains(MAKE_READY_OK)
        .stderr_skipped_pack("artifacts")
        .run();
}

#[test]
fn stale_evidence_uses_mtime_when_the_name_has_no_date() {
    let env = TestEnv::new();
    env.write("VERSION", "1.4.0\n");
    for day in 1..=7 {
        let name = format!("artifacts/REPORT_SOAK_run{day}.json");
        env.write(&name, soak(3.0, 10.0));
        env.set_mtime(&name, utc("2026-11-28T06:00:00Z"));
    }
    readiness_only(&env, &["--max-evidence-age", "12h"])
        .code(0)
        .stdout_contains(MAKE_READY_OK)
        .stderr_skipped_pack("artifacts")
        .run();
    readiness_only(&env, &["--max-evidence-age", "5h"])
        .code(1)
        .stdout_contains(MAKE_READY_BLOCKED)
        .stderr_skipped_pack("artifacts")
        .run();
}

#[test]
fn validate_accepts_go_and_rejects_hold_and_each_invalid_shape() {
    let env = TestEnv::new();
    env.write("go.json", PERFECT_JSON);
    env.check(["make-ready", "--validate", "go.json"])
        .code(0)
        .stdout_is("go.json: valid, verdict GO\n| readiness | OK | READINESS=GO |\n")
        .stderr_empty()
        .run();
    let document: ValidateDoc = env
        .check(["--format", "json", "make-ready", "--validate", "go.json"])
        .code(0)
        .stdout(Expect::Anything)
        .stderr_empty()
        .run()
        .json_as();
    assert_eq!(document.file, "go.json");
    assert_eq!(document.verdict.as_deref(), Some("GO"));
    assert_eq!((document.signed_off, document.errors), (None, Vec::<String>::new()));
    assert_eq!(document.tool, "readiness");
    assert_eq!((document.status, document.marker.as_str()), (Status::Ok, "READINESS=GO"));

    let hold = PERFECT_JSON
        .replace("100.0,\"sections\"", "90.0,\"sections\"")
        .replace("\"edge\":30.0", "\"edge\":20.0")
        .replace("\"GO\"", "\"HOLD\"");
    env.write("hold.json", hold);
    env.check(["make-ready", "--validate", "hold.json"])
        .code(1)
        .stdout_is("hold.json: valid, verdict HOLD\n| readiness | FAIL | READINESS=HOLD |\n")
        .stderr_empty()
        .run();

    let cases = [
        (PERFECT_JSON.replace("\"score\":100.0,", ""), "go.json: missing required key \"score\""),
        (
            PERFECT_JSON.replace("\"edge\":30.0", "\"edge\":\"30\""),
            "go.json: section \"edge\" must be a number",
        ),
        (
            PERFECT_JSON.replace("\"edge\":30.0", "\"edge\":30.5"),
            "go.json: section \"edge\" = 30.5 is outside 0..30",
        ),
        (
            PERFECT_JSON.replace("\"tests\":10.0", "\"bonus\":1"),
            "go.json: missing section \"tests\"\ngo.json: unknown section \"bonus\"",
        ),
        (
            PERFECT_JSON.replace("\"GO\"", "\"HOLD\""),
            "go.json: verdict HOLD is inconsistent with score 100 (≥ 100)",
        ),
        (
            PERFECT_JSON
                .replace("100.0,\"sections\"", "99.0,\"sections\"")
                .replace("\"tests\":10.0", "\"tests\":9.0"),
            "go.json: verdict GO requires score ≥ 100, got 99",
        ),
        (
            PERFECT_JSON.replace("100.0,\"sections\"", "-1,\"sections\""),
            "go.json: score -1 is outside 0..100",
        ),
        // Regression: each of these used to be "valid, verdict GO".
        (
            PERFECT_JSON.replace(
                "\"chaos\":10.0,\"edge\":30.0,\"guards\":10.0,\"latency\":25.0,\"taker\":15.0,\"tests\":10.0",
                "\"chaos\":0,\"edge\":0,\"guards\":0,\"latency\":0,\"taker\":0,\"tests\":0",
            ),
            "go.json: score 100 is not the sum of the sections (0)",
        ),
        (
            PERFECT_JSON.replace("2026-11-28T12:00:00Z", "not a time"),
            "go.json: runtime.utc \"not a time\" is not an RFC 3339 time such as 2026-11-28T12:00:00Z",
        ),
        (
            PERFECT_JSON.replace("\"score\":100.0", "\"score\":0,\"score\":100.0"),
            "go.json: duplicate key \"score\" (each key may appear only once) at line 1 column 77",
        ),
        (
            PERFECT_JSON.replace("\"version\":\"1.4.0\"", "\"version\":\"1.4.0\",\"version\":\"9\""),
            "go.json: duplicate key \"runtime.version\" (each key may appear only once) at line 1 column 68",
        ),
        ("[]".to_string(), "go.json: the document is not a JSON object"),
        ("{oops".to_string(), "go.json: not valid JSON: key must be a string at line 1 column 2"),
    ];
    for (text, expected) in cases {
        env.write("go.json", text);
        env.check(["make-ready", "--validate", "go.json"])
            .code(1)
            .stdout_is(&format!("{expected}\n| readiness | FAIL | READINESS=INVALID |\n"))
            .stderr_empty()
            .run();
        let document: ValidateDoc = env
            .check(["--format", "json", "make-ready", "--validate", "go.json"])
            .code(1)
            .stdout(Expect::Anything)
            .stderr_empty()
            .run()
            .json_as();
        let errors: Vec<String> =
            expected.lines().map(|line| line.strip_prefix("go.json: ").unwrap().into()).collect();
        assert_eq!(document.errors, errors);
        assert_eq!((document.status, document.marker.as_str()), (Status::Fail, "READINESS=INVALID"));
    }
    env.check(["make-ready", "--validate", "missing.json"])
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: cannot read readiness JSON missing.json: No such file or directory (os error 2)\n",
        )
        .run();
}

#[test]
fn failing_step_blocks_and_shows_its_last_lines() {
    let env = TestEnv::new();
    let config = "steps:\n  - name: ok_step\n    run: [sh, -c, 'echo fine']\n  - name: broken\n    run: [sh, -c, 'echo first; echo boom >&2; exit 3']\n";
    let run = pack(&env, config, &[])
        .code(1)
        .stdout_contains(MAKE_READY_BLOCKED)
        .run_pack(&[("ok_step", "OK"), ("broken", "FAIL")], &[]);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with("| ok_step | OK | "), "{}", run.stdout);
    assert!(
        lines[1].starts_with("| broken | FAIL | ") && lines[1].ends_with("s | exit 3 |"),
        "{}",
        run.stdout
    );
    assert_eq!(
        &lines[2..5],
        ["    > first", "    > boom", "| pre_live_pack | FAIL | PRE_LIVE_PACK=FAILED |"]
    );
    assert_eq!(run.last_line(), "| make_ready | FAIL | MAKE_READY=BLOCKED |");
}

/// A failing step that prints make-ready's own verdict (`MAKE_READY=OK`, `READINESS=GO`) into
/// its output: quoted, it made `grep MAKE_READY=OK` (the documented CI grep) pass a BLOCKED run.
#[test]
fn a_step_printing_the_ok_marker_cannot_forge_the_verdict() {
    let env = TestEnv::new();
    let config = "steps:\n  - name: forger\n    run: [sh, -c, 'echo \"| make_ready | OK | MAKE_READY=OK |\"; echo READINESS=GO PRE_LIVE_PACK=DRYRUN; exit 3']\n";
    let run = pack(&env, config, &[])
        .code(1)
        .stdout_contains(
            "\n    > | make_ready | OK | MAKE_READY\\=OK |\n    > READINESS\\=GO PRE_LIVE_PACK\\=DRYRUN\n",
        )
        .stdout_contains(MAKE_READY_BLOCKED)
        .run_pack(&[("forger", "FAIL")], &[]);
    assert!(!run.stdout.contains("MAKE_READY=OK"), "{}", run.stdout);
    assert_eq!(run.last_line(), "| make_ready | FAIL | MAKE_READY=BLOCKED |");
    let document = pack(&env, config, &["--format", "json"])
        .code(1)
        .stdout(Expect::Anything)
        .stderr(Expect::Anything)
        .run();
    assert!(!document.stdout.contains("MAKE_READY=OK"), "{}", document.stdout);
}

/// `--out-json artifacts/REPORT_SOAK_20261107.json` replaced the soak report the run had just
/// scored, with exit 0; `--junit` onto the config replaced the config. Outputs over inputs are
/// refused before anything runs, and the inputs keep their bytes.
#[test]
fn an_output_over_a_soak_report_or_the_config_is_exit_2() {
    let env = env_with_reports(7);
    env.write("make_ready.yaml", "steps:\n  - name: ok\n    run: [sh, -c, 'true']\n");
    env.write("prev.json", PERFECT_JSON);
    let before = env.read("artifacts/REPORT_SOAK_20261107.json");
    for (flag, path, expected) in [
        (
            "--out-json",
            "artifacts/REPORT_SOAK_20261107.json",
            "mmops: error: --out-json artifacts/REPORT_SOAK_20261107.json would be a soak report in the reports \
             folder artifacts (REPORT_SOAK_*.json are the evidence make-ready scores); choose another path\n",
        ),
        (
            "--junit",
            "artifacts/./REPORT_SOAK_20261108.json",
            "mmops: error: --junit artifacts/./REPORT_SOAK_20261108.json would be a soak report in the reports \
             folder artifacts (REPORT_SOAK_*.json are the evidence make-ready scores); choose another path\n",
        ),
        (
            "--junit",
            "make_ready.yaml",
            "mmops: error: --junit make_ready.yaml is the make-ready config (--config); choose another path\n",
        ),
        (
            "--junit",
            "prev.json",
            "mmops: error: --junit prev.json is the --baseline file; choose another path\n",
        ),
    ] {
        env.check(["make-ready", "--config", "make_ready.yaml", "--baseline", "prev.json", flag, path])
            .env("CI_FAKE_UTC", NOW)
            .code(2)
            .stdout_empty()
            .stderr_is(expected)
            .run();
    }
    assert_eq!(env.read("artifacts/REPORT_SOAK_20261107.json"), before);
    assert!(!env.exists("artifacts/REPORT_SOAK_20261108.json") && !env.exists("artifacts/reports"));
    assert_eq!(env.read("make_ready.yaml"), "steps:\n  - name: ok\n    run: [sh, -c, 'true']\n");
    assert_eq!(env.read("prev.json"), PERFECT_JSON);
}

#[test]
fn all_steps_passing_with_go_is_ok() {
    let env = TestEnv::new();
    let run =
        pack(&env, "steps:\n  - name: a\n    run: [sh, -c, 'exit 0']\n  - name: b\n    run: [true]\n", &[])
            .code(0)
            .stdout_contains(MAKE_READY_OK)
            .run_pack(&[("a", "OK"), ("b", "OK")], &[]);
    assert!(run.stdout.contains("| pre_live_pack | OK | PRE_LIVE_PACK=DRYRUN |\n"), "{}", run.stdout);
    assert_eq!(run.last_line(), "| make_ready | OK | MAKE_READY=OK |");
}

#[test]
fn program_not_found_fails_rather_than_passing() {
    let env = TestEnv::new();
    let run = pack(&env, "steps:\n  - name: ghost\n    run: [mmops-no-such-program-xyz]\n", &[])
        .code(1)
        .stdout_contains(MAKE_READY_BLOCKED)
        .run_pack(&[("ghost", "FAIL")], &[]);
    assert!(run.stdout.contains("| ghost | FAIL | "), "{}", run.stdout);
    assert!(
        run.stdout.contains("cannot start mmops-no-such-program-xyz: No such file or directory"),
        "{}",
        run.stdout
    );
}

fn process_is_gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // A zombie has exited; only its parent's bookkeeping remains.
        Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

#[test]
fn timed_out_step_is_killed_with_its_children_and_blocks() {
    let env = TestEnv::new();
    let config = "steps:\n  - name: hang\n    run: [sh, -c, 'sleep 300 & echo $! > child.pid; echo started; wait']\n    timeout: 300ms\n";
    let run = pack(&env, config, &[])
        .code(1)
        .stdout_contains(MAKE_READY_BLOCKED)
        .run_pack(&[("hang", "FAIL")], &[]);
    assert!(
        run.stdout.contains("timed out after 300ms; killed with its process group |\n    > started\n"),
        "{}",
        run.stdout
    );
    let child = env.read("child.pid");
    let child = child.trim();
    // The kill is synchronous; allow the kernel a moment to tear the orphan down.
    let gone = (0..200).any(|_| {
        std::thread::yield_now();
        process_is_gone(child) || {
            std::thread::sleep(std::time::Duration::from_millis(10));
            process_is_gone(child)
        }
    });
    assert!(gone, "the timed-out step's child {child} is still running");
}

#[test]
fn steps_really_run_in_parallel() {
    // Each step waits for the other's file: they can only both pass when running at once.
    let env = TestEnv::new();
    let config = "steps:\n  - name: left\n    run: [sh, -c, 'touch left.started; while [ ! -f right.started ]; do sleep 0.01; done']\n    timeout: 20s\n  - name: right\n    run: [sh, -c, 'touch right.started; while [ ! -f left.started ]; do sleep 0.01; done']\n    timeout: 20s\n";
    pack(&env, config, &["--jobs", "2"])
        .code(0)
        .stdout_contains(MAKE_READY_OK)
        .run_pack(&[("left", "OK"), ("right", "OK")], &[]);
    assert!(env.exists("left.started") && env.exists("right.started"));
}

#[test]
fn jobs_one_runs_steps_one_after_another() {
    let env = TestEnv::new();
    // With one job the second step starts only after the first finished and left its file.
    let config = "steps:\n  - name: first\n    run: [sh, -c, 'touch first.done']\n  - name: second\n    run: [sh, -c, 'test -f first.done']\n";
    pack(&env, config, &["--jobs", "1"])
        .code(0)
        .stdout_contains(MAKE_READY_OK)
        .run_pack(&[("first", "OK"), ("second", "OK")], &[]);
}

#[test]
fn waiver_holds_until_its_date_then_is_ignored() {
    let env = TestEnv::new();
    let config = "steps:\n  - name: flaky\n    run: [sh, -c, 'exit 1']\n    waive: {until: 2026-11-28, reason: upstream outage INC-42}\n";
    let run =
        pack(&env, config, &[]).code(0).stdout_contains(MAKE_READY_OK).run_pack(&[("flaky", "WAIVED")], &[]);
    assert!(
        run.stdout.contains(" | exit 1 | waived until 2026-11-28: upstream outage INC-42 |\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("| flaky | WAIVED | "), "{}", run.stdout);
    env.check(["make-ready", "--config", "make_ready.yaml"])
        .env("CI_FAKE_UTC", "2026-11-29T00:00:00Z")
        .code(1)
        .stdout_contains("| flaky | FAIL | ")
        .stdout_contains("waiver expired on 2026-11-28 and is ignored")
        .stdout_contains(MAKE_READY_BLOCKED)
        .run_pack(&[("flaky", "FAIL")], &[]);
}

/// Writes the six bundle inputs (clean copies of the repository's deploy files).
fn bundle_inputs(env: &TestEnv) {
    env.write("VERSION", "1.4.0\n");
    env.write("README.md", "# mm-bot\n\nSet the API token in the vault; never commit it.\n");
    env.write("CHANGELOG.md", "# Changelog\n");
    for file in [
        "deploy/prometheus/alerts_soak.yml",
        "deploy/policies/rollback.yaml",
        "deploy/grafana/dashboards/mm_operability.json",
    ] {
        env.write(file, std::fs::read(Path::new(REPO).join(file)).unwrap());
    }
}

#[test]
fn builtin_checks_pass_on_the_shipped_deploy_files() {
    let env = TestEnv::new();
    bundle_inputs(&env);
    pack(
        &env,
        "steps:\n  - name: rollback\n    check: rollback-vs-alerts\n  - name: secrets\n    check: secret-scan\n",
        &[],
    ).code(0).stdout_contains(MAKE_READY_OK).run_pack(&[("rollback", "OK"), ("secrets", "OK")], &[]);
}

#[test]
fn planted_secrets_in_bundle_inputs_are_found_and_not_echoed() {
    let env = TestEnv::new();
    bundle_inputs(&env);
    env.write("README.md", "# mm-bot\n\naws_key_id AKIAIOSFODNN7EXAMPLE here\n");
    env.write("CHANGELOG.md", "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n");
    env.write(
        "deploy/grafana/dashboards/mm_operability.json",
        "{\n  \"title\": \"MM Bot Operability\",\n  \"grafana_api_token\": \"glsa_0123456789abcdef\"\n}\n",
    );
    let run = pack(&env, "steps:\n  - name: secrets\n    check: secret-scan\n", &[])
        .code(1)
        .stdout_contains(MAKE_READY_BLOCKED)
        .run_pack(&[("secrets", "FAIL")], &[]);
    assert!(run.stdout.contains("| secrets | FAIL | "), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("    > README.md:3: AWS access key id\n    > CHANGELOG.md:1: private key block\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "    > deploy/grafana/dashboards/mm_operability.json:3: secret assigned in config (token/password/key)\n"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("| secrets | FAIL | 0.") && run.stdout.contains("s | 3 findings |\n"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("AKIAIOSFODNN7EXAMPLE") && !run.stdout.contains("glsa_"), "{}", run.stdout);
}

#[test]
fn missing_bundle_input_fails_the_secret_scan() {
    let env = TestEnv::new();
    bundle_inputs(&env);
    std::fs::remove_file(env.path("CHANGELOG.md")).unwrap();
    let run = pack(&env, "steps:\n  - name: secrets\n    check: secret-scan\n", &[])
        .code(1)
        .stdout_contains(MAKE_READY_BLOCKED)
        .run_pack(&[("secrets", "FAIL")], &[]);
    // The list comes from `mmops bundle --dry-run`, which refuses a missing required file.
    assert!(
        run.stdout.contains("| secrets | FAIL | ")
            && run.stdout.contains(" | cannot run the check |\n    > cannot list the bundle's files with `mmops bundle --dry-run`: exit 2: mmops: error: 1 required file is missing, nothing was written: CHANGELOG.md;"),
        "{}",
        run.stdout
    );
    // A listed file given explicitly is still read directly.
    let run =
        pack(&env, "steps:\n  - name: secrets\n    check: secret-scan\n    files: [CHANGELOG.md]\n", &[])
            .code(1)
            .stdout_contains(MAKE_READY_BLOCKED)
            .run_pack(&[("secrets", "FAIL")], &[]);
    assert!(
        run.stdout.contains(
            "    > cannot read file to scan CHANGELOG.md: No such file or directory (os error 2)\n"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn inconsistent_rollback_policy_is_found() {
    let env = TestEnv::new();
    bundle_inputs(&env);
    let policy = std::fs::read_to_string(env.path("deploy/policies/rollback.yaml")).unwrap();
    let policy = policy
        .replace(
            "{alert: MMWsLagHigh, severity: soft, action: notify}",
            "{alert: MMWsLagHigh, severity: soft, action: rollback}",
        )
        .replace("{alert: MMGuardTrips, severity: hard", "{alert: MMGuardTripped, severity: hard");
    env.write("deploy/policies/rollback.yaml", policy);
    let run = pack(&env, "steps:\n  - name: rollback\n    check: rollback-vs-alerts\n", &[])
        .code(1)
        .stdout_contains(MAKE_READY_BLOCKED)
        .run_pack(&[("rollback", "FAIL")], &[]);
    let tail: Vec<&str> = run.stdout.lines().filter(|line| line.starts_with("    > ")).collect();
    assert_eq!(
        tail,
        [
            "    > deploy/policies/rollback.yaml: gate MMGuardTripped: no alert of that name in the alert rules",
            "    > deploy/policies/rollback.yaml: gate MMWsLagHigh: a soft gate must notify, not rollback",
            "    > deploy/policies/rollback.yaml: alert MMGuardTrips (hard) has no gate",
        ]
    );
}

#[test]
fn junit_report_is_valid_xml_with_a_case_per_step_and_readiness() {
    let env = TestEnv::new();
    let config = "steps:\n  - name: good\n    run: [true]\n  - name: bad\n    run: [sh, -c, 'echo \"<oops> & \\\"quotes\\\"\"; exit 1']\n";
    pack(&env, config, &["--junit", "out/junit.xml"])
        .code(1)
        .stdout_contains(MAKE_READY_BLOCKED)
        .run_pack(&[("good", "OK"), ("bad", "FAIL")], &[]);
    let xml = env.read("out/junit.xml");
    let document = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("invalid XML ({e}):\n{xml}"));
    let cases: Vec<_> = document.descendants().filter(|node| node.has_tag_name("testcase")).collect();
    let names: Vec<_> = cases.iter().map(|case| case.attribute("name").unwrap()).collect();
    assert_eq!(names, ["good", "bad", "readiness_score"]);
    let failure = cases[1].children().find(|node| node.has_tag_name("failure")).unwrap();
    assert_eq!(failure.attribute("message"), Some("exit 1"));
    assert_eq!(failure.text(), Some("<oops> & \"quotes\"\n"));
    assert!(cases[0].children().all(|node| !node.has_tag_name("failure")));
    assert!(cases[2].children().all(|node| !node.has_tag_name("failure")));
    let suite = document.descendants().find(|node| node.has_tag_name("testsuite")).unwrap();
    assert_eq!((suite.attribute("tests"), suite.attribute("failures")), (Some("3"), Some("1")));
}

#[test]
fn github_step_summary_is_appended_and_errors_annotated() {
    let env = TestEnv::new();
    env.write("summary.md", "# earlier job output\n");
    let summary = env.path("summary.md");
    for day in 1..=7 {
        env.write(format!("artifacts/REPORT_SOAK_202611{day:02}.json"), soak(3.0, 10.0));
    }
    env.write("VERSION", "1.4.0\n");
    env.write("make_ready.yaml", "steps:\n  - name: bad\n    run: [sh, -c, 'exit 4']\n");
    env.check(["make-ready", "--config", "make_ready.yaml"])
        .env("CI_FAKE_UTC", NOW)
        .env("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())
        .env("GITHUB_ACTIONS", "true")
        .code(1)
        .stdout_contains(MAKE_READY_BLOCKED)
        .run_pack(&[("bad", "FAIL")], &["::error title=make-ready step bad::exit 4"]);
    let text = env.read("summary.md");
    assert!(text.starts_with("# earlier job output\n## mmops make-ready: MAKE_READY=BLOCKED\n"), "{text}");
    assert!(text.contains("| bad | FAIL | ") && text.contains("| exit 4 |\n"), "{text}");
}

#[test]
fn json_output_lists_steps_readiness_and_verdict() {
    let env = TestEnv::new();
    let document: MakeReadyDoc =
        pack(&env, "steps:\n  - name: a\n    run: [sh, -c, 'echo hi; exit 2']\n", &["--format", "json"])
            .code(1)
            .stdout(Expect::Anything)
            .stderr_empty()
            .run()
            .json_as();
    assert_eq!(document.verdict, MakeReadyVerdict::Blocked);
    assert!(document.partial.is_none() && document.release.is_none());
    assert_eq!(document.tool, "make_ready");
    assert_eq!((document.status, document.marker.as_str()), (Status::Fail, "MAKE_READY=BLOCKED"));
    let [step] = &document.steps[..] else { panic!("one step: {:?}", document.steps) };
    assert_eq!((step.name.as_str(), step.status, step.exit_code), ("a", StepStatus::Fail, Some(2)));
    assert_eq!((step.reason.as_deref(), step.waiver.as_deref()), (Some("exit 2"), None));
    assert_eq!(step.output_tail, ["hi"]);
    assert_eq!((step.output_bytes, step.output_elided_bytes), (3, 0));
    assert!(step.attempts.is_empty());
    assert!(step.duration >= 0.0);
    let pack = document.pre_live_pack.expect("the pack ran");
    assert_eq!(
        (pack.status.as_str(), pack.ok, pack.waived, pack.failed, pack.report_only),
        ("FAIL", 0, 0, 1, 0)
    );
    assert!(pack.wall_time >= 0.0 && pack.serial_time >= step.duration - 0.001, "{pack:?}");
    let readiness: Readiness = serde_json::from_str(PERFECT_JSON).unwrap();
    assert_eq!(document.readiness, Some(readiness));
    let detail = document.readiness_detail.expect("readiness was scored");
    assert_eq!((detail.status.as_str(), detail.score, detail.min_score), ("GO", 100.0, 100.0));
    assert_eq!(detail.file, "artifacts/reports/readiness.json");
    assert_eq!(
        detail.reports,
        (1..=7).map(|day| format!("REPORT_SOAK_202611{day:02}.json")).collect::<Vec<_>>()
    );
    assert!(detail.unusable_reports.is_empty() && detail.hold_reasons.is_empty());
    assert!(detail.validation_errors.is_empty());
    assert!(detail.sign_off.is_none() && detail.baseline.is_none());
}

#[test]
fn bad_config_is_exit_2_with_its_line_and_runs_nothing() {
    let env = TestEnv::new();
    env.write("VERSION", "1.4.0\n");
    env.write(
        "make_ready.yaml",
        "steps:\n  - name: first\n    run: [sh, -c, 'touch ran']\n  - name: second\n    comand: [true]\n",
    );
    let run = env
        .check(["make-ready", "--config", "make_ready.yaml"])
        .code(2)
        .stdout_empty()
        .stderr_contains("comand")
        .run();
    assert!(run.stderr.starts_with("mmops: error: invalid make-ready config make_ready.yaml (choose another with --config): make_ready.yaml:5:"), "{}", run.stderr);
    assert!(!env.exists("ran") && !env.exists("artifacts"));

    env.check(["make-ready"])
        .code(2)
        .stdout_empty()
        .stderr_contains("mmops: error: ")
        .stderr_contains("deploy/release/make_ready.yaml")
        .run();
}

#[test]
fn sigterm_kills_running_steps_and_gives_no_verdict() {
    // Regression: steps run in their own process groups, so a cancelled CI job (SIGTERM to
    // mmops) used to leave them running.
    let env = TestEnv::new();
    env.write("VERSION", "1.4.0\n");
    env.mkdir("artifacts");
    env.write(
        "make_ready.yaml",
        "steps:\n  - name: hang\n    run: [sh, -c, 'sleep 300 & echo $! > child.pid; wait']\n    timeout: 10m\n",
    );
    let mut command = env.command();
    command.args(["make-ready", "--config", "make_ready.yaml"]);
    command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mmops = command.spawn().unwrap();
    // Wait (bounded) for the step's child to exist before interrupting.
    let started = std::time::Instant::now();
    while !env.path("child.pid").exists() || env.read("child.pid").trim().is_empty() {
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "the step never started");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let status =
        std::process::Command::new("kill").args(["-TERM", &mmops.id().to_string()]).status().unwrap();
    assert!(status.success());
    let output = mmops.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    // One interrupt path for every tool: exit 130, marker INTERRUPTED, what was done listed.
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stdout.contains(" | interrupted; killed with its process group |\n"), "{stdout}");
    assert!(stdout.ends_with("| make_ready | FAIL | MAKE_READY=INTERRUPTED |\n"), "{stdout}");
    assert!(stdout.contains("no readiness written"), "{stdout}");
    assert!(
        stderr.starts_with("mmops: pre-live pack: 1 step, 1 at a time\nmmops:   hang FAIL (")
            && stderr.lines().count() == 2,
        "{stderr}"
    );
    let child = env.read("child.pid");
    let child = child.trim();
    let gone = (0..500).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        process_is_gone(child)
    });
    assert!(gone, "the interrupted step's child {child} is still running");
    assert!(!env.exists("artifacts/reports/readiness.json"));
}

/// The names `env_with_reports` gives its reports, joined as the hold reasons list them.
fn report_names(count: u32) -> String {
    (1..=count).map(|day| format!("REPORT_SOAK_202611{day:02}.json")).collect::<Vec<_>>().join(", ")
}

#[test]
fn reports_without_latency_or_taker_evidence_hold_naming_fields() {
    // Regression: seven reports of {"edge_net_bps": 2.5} scored 100 and said GO.
    let env = TestEnv::new();
    env.write("VERSION", "1.4.0\n");
    for day in 1..=7 {
        env.write(format!("artifacts/REPORT_SOAK_202611{day:02}.json"), "{\"edge_net_bps\": 2.5}");
    }
    let names = report_names(7);
    let run = env
        .check(["make-ready", "--skip-pre-live"])
        .env("CI_FAKE_UTC", NOW)
        .code(1)
        .stdout_contains("| readiness | FAIL | READINESS=HOLD |\n")
        .stdout_contains(&format!("    > 7 reports lack order_age_p95_ms ({names})\n"))
        .stdout_contains(&format!("    > 7 reports lack taker_share_pct ({names})\n"))
        .stdout_contains(&format!("    > 7 reports lack bug_bash ({names})\n"))
        .stdout_contains("| make_ready | FAIL | MAKE_READY=BLOCKED |\n")
        .stderr_skipped_pack("artifacts")
        .run();
    assert!(!run.stdout.contains("READINESS=GO"), "{}", run.stdout);
    // The score keeps the reference formula's numbers; only the verdict changes.
    let document = ReadinessDoc::parse(env.read("artifacts/reports/readiness.json").as_bytes()).unwrap();
    assert_eq!((document.score, document.verdict), (100.0, ReadinessVerdict::Hold));
    // What was written is consistent by the validator's rule (HOLD forced by missing evidence).
    assert!(
        run.stdout.contains("score 100 (min 100) from 7 of 7 reports: HOLD; 7 reports lack"),
        "{}",
        run.stdout
    );
}

#[test]
fn text_and_negative_measurements_are_invalid_evidence() {
    // Regression: "9999" (text) and -1e9 counted as 0 and as a perfect latency: GO.
    let env = env_with_reports(7);
    env.write(
        "artifacts/REPORT_SOAK_20261102.json",
        soak(3.0, 10.0).replace("\"order_age_p95_ms\": 300", "\"order_age_p95_ms\": \"9999\""),
    );
    env.write(
        "artifacts/REPORT_SOAK_20261105.json",
        soak(3.0, 10.0).replace("\"order_age_p95_ms\": 300", "\"order_age_p95_ms\": -1e9"),
    );
    env.write("artifacts/REPORT_SOAK_20261106.json", soak(3.0, -5.0));
    env.check(["make-ready", "--skip-pre-live"])
        .env("CI_FAKE_UTC", NOW)
        .code(1)
        .stdout_contains("    > 1 report has a non-numeric order_age_p95_ms (REPORT_SOAK_20261102.json)\n")
        .stdout_contains("    > 1 report has a negative order_age_p95_ms (REPORT_SOAK_20261105.json)\n")
        .stdout_contains("    > 1 report has a negative taker_share_pct (REPORT_SOAK_20261106.json)\n")
        .stdout_contains("| make_ready | FAIL | MAKE_READY=BLOCKED |\n")
        .stderr_skipped_pack("artifacts")
        .run();
    let document = ReadinessDoc::parse(env.read("artifacts/reports/readiness.json").as_bytes()).unwrap();
    assert_eq!(document.verdict, ReadinessVerdict::Hold);
}

#[test]
fn validate_refuses_dev_zero_and_huge_files_within_the_limit() {
    // Regression: --validate /dev/zero grew to 5.5 GB.
    let env = TestEnv::new();
    env.check(["make-ready", "--validate", "/dev/zero"])
        .code(2)
        .stdout_empty()
        .stderr_is("mmops: error: /dev/zero: the readiness JSON is a character device, not a regular file\n")
        .run();
    let big = std::fs::File::create(env.path("big.json")).unwrap();
    big.set_len(5 * 1024 * 1024).unwrap();
    env.check(["make-ready", "--validate", "big.json"])
        .code(2)
        .stdout_empty()
        .stderr_is("mmops: error: big.json: the readiness JSON is larger than the 4.0 MiB limit for a readiness JSON; is this the right file?\n")
        .run();
    // An error quotes a short excerpt, never the whole input.
    env.write("long.json", PERFECT_JSON.replace("2026-11-28T12:00:00Z", &"x".repeat(100_000)));
    let run = env
        .check(["make-ready", "--validate", "long.json"])
        .code(1)
        .stdout_contains("long.json: runtime.utc \"xxxxxxxx")
        .stdout_contains("…\" is not an RFC 3339 time")
        .stderr_empty()
        .run();
    assert!(run.stdout.len() < 300, "{}", run.stdout.len());
}

#[test]
fn huge_soak_report_counts_as_absent_without_reading_it_whole() {
    // Regression: a 60 MB soak report took 1 GB of memory.
    let env = env_with_reports(7);
    let big = std::fs::File::create(env.path("artifacts/REPORT_SOAK_20261107.json")).unwrap();
    big.set_len(60 * 1024 * 1024).unwrap();
    env.check(["make-ready", "--skip-pre-live"])
        .env("CI_FAKE_UTC", NOW)
        .code(1)
        .stdout_contains("| readiness | FAIL | READINESS=HOLD |\n")
        .stderr_is(
            "mmops: warning: pre-live pack skipped (--skip-pre-live): MAKE_READY reflects the readiness score only\n\
             mmops: readiness: scoring the last 7 soak reports in artifacts\n\
             mmops: warning: soak report REPORT_SOAK_20261107.json: artifacts/REPORT_SOAK_20261107.json: the soak \
             report is larger than the 16.0 MiB limit for a soak report; is this the right file? (counted as absent)\n",
        )
        .run();
}

#[test]
fn extreme_mtimes_on_tmpfs_hold_instead_of_panicking() {
    // Regression: a report dated year 262,000 (possible on tmpfs) crashed make-ready (exit 101).
    let shm = Path::new("/dev/shm");
    if !shm.is_dir() {
        assert!(!crate::support::skip_or_fail("/dev/shm (tmpfs) is missing", "mount a tmpfs on /dev/shm"));
        return;
    }
    let reports = tempfile::tempdir_in(shm).unwrap();
    let env = TestEnv::new();
    env.write("VERSION", "1.4.0\n");
    let report = reports.path().join("REPORT_SOAK_latest.json");
    std::fs::write(&report, soak(3.0, 10.0)).unwrap();
    let dir = reports.path().to_str().unwrap();
    // Year 261,976 (chrono can hold it) and year ~280,000 (it cannot).
    for (seconds, expected) in [
        (8_205_000_000_000i64, "dated in the future (+261976-02-06T18:40:00Z)"),
        (1i64 << 43, "no usable soak report"),
    ] {
        let time = filetime::FileTime::from_unix_time(seconds, 0);
        if filetime::set_file_mtime(&report, time).is_err() {
            assert!(!crate::support::skip_or_fail("tmpfs refuses extreme mtimes", "a tmpfs on /dev/shm"));
            return;
        }
        let mut check = env
            .check(["make-ready", "--skip-pre-live", "--reports-dir", dir, "--max-evidence-age", "2d"])
            .env("CI_FAKE_UTC", NOW)
            .code(1)
            .stdout_contains(expected)
            .stdout_contains("| make_ready | FAIL | MAKE_READY=BLOCKED |\n")
            .stderr_contains("mmops: warning: pre-live pack skipped");
        if seconds == 1 << 43 {
            check = check.stderr_contains(
                "mmops: warning: soak report REPORT_SOAK_latest.json: mtime is out of range (FUTURE",
            );
        }
        check.run();
    }
}

#[test]
fn waiver_until_far_ahead_or_not_a_date_is_a_located_error_and_runs_nothing() {
    // Regression: until: "+99999-12-31" waived a step for 97,000 years.
    let env = TestEnv::new();
    env.write("VERSION", "1.4.0\n");
    for (until, message) in [
        ("\"+99999-12-31\"", "waive.until \"+99999-12-31\" is not a date: write YYYY-MM-DD"),
        ("2027-06-01", "waive.until 2027-06-01 is more than 90 days ahead (waiver_horizon)"),
    ] {
        env.write(
            "make_ready.yaml",
            format!("steps:\n  - name: flaky\n    run: [sh, -c, 'touch ran']\n    waive: {{until: {until}, reason: vendor}}\n"),
        );
        env.check(["make-ready", "--config", "make_ready.yaml"])
            .env("CI_FAKE_UTC", NOW)
            .code(2)
            .stdout_empty()
            .stderr_contains(&format!("make_ready.yaml:4:20: steps[0] (flaky): {message}"))
            .run();
        assert!(!env.exists("ran") && !env.exists("artifacts"), "nothing may run or be written");
    }
}

/// Peak resident memory (VmHWM, KiB) of a running process, if it is still there to ask.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn a_step_printing_200_mb_costs_bounded_memory_and_is_elided_in_junit() {
    // Regression: all step output was kept in memory (2 GiB of output peaked at 4.2 GB).
    let env = TestEnv::new();
    for day in 1..=7 {
        env.write(format!("artifacts/REPORT_SOAK_202611{day:02}.json"), soak(3.0, 10.0));
    }
    env.write("VERSION", "1.4.0\n");
    env.write(
        "make_ready.yaml",
        "steps:\n  - name: chatty\n    run: [sh, -c, 'echo first; yes | head -c 200000000; echo; echo last; exit 3']\n    timeout: 120s\n",
    );
    let mut command = env.command();
    command
        .args(["make-ready", "--config", "make_ready.yaml", "--junit", "junit.xml"])
        .env("CI_FAKE_UTC", NOW)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = command.spawn().unwrap();
    let pid = child.id();
    let sampler = std::thread::spawn(move || {
        let mut peak = 0;
        while let Some(kib) = peak_rss_kib(pid) {
            peak = peak.max(kib);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        peak
    });
    let output = child.wait_with_output().unwrap();
    let peak = sampler.join().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("| chatty | FAIL | ") && stdout.contains(" | exit 3 |\n"), "{stdout}");
    assert!(stdout.contains("    > y\n    > last\n| pre_live_pack | FAIL |"), "{stdout}");
    assert!(stderr.starts_with("mmops: pre-live pack: 1 step"), "{stderr}");
    assert!(peak > 0 && peak < 64 * 1024, "make-ready peaked at {peak} KiB");
    let xml = env.read("junit.xml");
    let document = roxmltree::Document::parse(&xml).unwrap();
    let failure = document.descendants().find(|node| node.has_tag_name("failure")).unwrap();
    let text = failure.text().unwrap();
    let elided = 200_000_000 + 6 + 1 + 5 - 2 * 65_536;
    assert!(text.starts_with("first\ny\ny\n"), "{}", &text[..20]);
    assert!(text.contains(&format!("\n[… {elided} bytes of output elided …]\n")), "{}", text.len());
    assert!(text.ends_with("y\ny\n\nlast\n"));
    assert!(xml.len() < 200_000, "{}", xml.len());
}

/// Pids of live processes whose environment holds `marker` (our own children and their heirs).
fn processes_with(marker: &str) -> Vec<String> {
    let needle = format!("MMOPS_TEST_MARKER={marker}");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str().map(str::to_string))
        .filter(|pid| pid.chars().all(|c| c.is_ascii_digit()))
        .filter(|pid| !process_is_gone(pid))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|environ| environ.split(|byte| *byte == 0).any(|var| var == needle.as_bytes()))
        })
        .collect()
}

/// Waits (bounded) until no process carries `marker`; returns the ones left.
fn survivors(marker: &str) -> Vec<String> {
    for _ in 0..500 {
        let left = processes_with(marker);
        if left.is_empty() {
            return left;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    processes_with(marker)
}

/// Writes 7 perfect reports, VERSION and `config` as make_ready.yaml, without running anything.
fn write_pack(env: &TestEnv, config: &str) {
    for day in 1..=7 {
        env.write(format!("artifacts/REPORT_SOAK_202611{day:02}.json"), soak(3.0, 10.0));
    }
    env.write("VERSION", "1.4.0\n");
    env.write("make_ready.yaml", config);
}

#[test]
fn a_step_that_calls_setsid_is_cleaned_up_when_it_ends() {
    // Regression: the group kill at the end of a step missed a `setsid` child, which kept
    // running after make-ready had finished.
    let env = TestEnv::new();
    let marker = format!("setsid-{}-{:?}", std::process::id(), std::thread::current().id());
    write_pack(
        &env,
        "steps:\n  - name: escape\n    run: [sh, -c, 'setsid sleep 300 & (sleep 300 &) ; echo started']\n",
    );
    env.check(["make-ready", "--config", "make_ready.yaml"])
        .env("CI_FAKE_UTC", NOW)
        .env("MMOPS_TEST_MARKER", &marker)
        .code(0)
        .stdout_contains("| escape | OK | ")
        .stdout_contains("| make_ready | OK | MAKE_READY=OK |\n")
        .run_pack(&[("escape", "OK")], &[]);
    assert_eq!(survivors(&marker), Vec::<String>::new(), "processes outlived their step");
}

#[test]
fn sigkill_of_make_ready_leaves_no_step_process_behind() {
    // Regression: `kill -KILL` of make-ready left each step's process group (and any setsid
    // child) running under PID 1 until the end of its sleep.
    let env = TestEnv::new();
    let marker = format!("sigkill-{}-{:?}", std::process::id(), std::thread::current().id());
    write_pack(
        &env,
        "steps:\n  - name: a\n    run: [sh, -c, 'setsid sleep 300 & sleep 300 & echo a >> started; wait']\n    timeout: 10m\n  - name: b\n    run: [sh, -c, 'sleep 300 & echo b >> started; wait']\n    timeout: 10m\n",
    );
    let mut command = env.command();
    command
        .args(["make-ready", "--config", "make_ready.yaml", "--jobs", "2"])
        .env("MMOPS_TEST_MARKER", &marker)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut mmops = command.spawn().unwrap();
    let started = std::time::Instant::now();
    while !env.exists("started") || env.read("started").lines().count() < 2 {
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "the steps never started");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // Both steps' shells and sleeps, the setsid one included, exist before the kill.
    assert!(processes_with(&marker).len() >= 6, "{:?}", processes_with(&marker));
    mmops.kill().unwrap();
    assert_eq!(mmops.wait().unwrap().code(), None);
    assert_eq!(survivors(&marker), Vec::<String>::new(), "processes outlived a killed make-ready");
    assert!(!env.exists("artifacts/reports/readiness.json"));
}

#[test]
fn an_unwritable_junit_path_is_exit_2_with_no_readiness_written() {
    // Regression: readiness.json was committed first, then the JUnit write failed: exit 2
    // although a file had changed. Every output is now prepared before the first commit.
    let env = TestEnv::new();
    write_pack(&env, "steps:\n  - name: good\n    run: [true]\n");
    env.mkdir("junit.xml");
    env.check(["make-ready", "--config", "make_ready.yaml", "--junit", "junit.xml"])
        .env("CI_FAKE_UTC", NOW)
        .code(2)
        .stdout_empty()
        .stderr_contains("mmops: error: cannot write JUnit report junit.xml: ")
        .run();
    assert!(!env.exists("artifacts/reports/readiness.json") && !env.exists("artifacts/reports/readiness.md"));
    assert!(std::fs::read_dir(env.path("artifacts/reports")).map_or(true, |dir| dir.count() == 0));
}

#[test]
fn a_failing_github_summary_after_the_commit_is_partial_exit_1() {
    let env = TestEnv::new();
    write_pack(&env, "steps:\n  - name: good\n    run: [true]\n");
    env.mkdir("summary.md");
    env.check(["make-ready", "--config", "make_ready.yaml", "--junit", "junit.xml"])
        .env("CI_FAKE_UTC", NOW)
        .env("GITHUB_STEP_SUMMARY", "summary.md")
        .code(1)
        .stdout_contains("| outputs | PARTIAL | cannot open GITHUB_STEP_SUMMARY file summary.md: ")
        .stdout_contains("; already written: artifacts/reports/readiness.json, artifacts/reports/readiness.md, junit.xml |\n")
        .stdout_contains("| make_ready | FAIL | MAKE_READY=PARTIAL |\n")
        .stderr_contains("mmops: error: cannot open GITHUB_STEP_SUMMARY file summary.md: ")
        .run();
    assert_eq!(env.read("artifacts/reports/readiness.json"), PERFECT_JSON);
    assert!(env.read("junit.xml").contains("<testcase classname=\"pre_live_pack\" name=\"good\""));
}

/// A step that fails until it has run `passes_on` times (a counter file), like a flaky check.
fn flaky_step(passes_on: u32, retries: u32) -> String {
    format!(
        "steps:\n  - name: flaky\n    run: [sh, -c, 'n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo attempt $n; [ $n -ge {passes_on} ]']\n    retries: {retries}\n    retry_delay: 10ms\n"
    )
}

#[test]
fn retries_run_a_flaky_step_again_and_show_every_attempt() {
    let env = TestEnv::new();
    write_pack(&env, &flaky_step(3, 2));
    let document: MakeReadyDoc = env
        .check(["make-ready", "--config", "make_ready.yaml", "--format", "json"])
        .env("CI_FAKE_UTC", NOW)
        .code(0)
        .stdout(Expect::Anything)
        .stderr_empty()
        .run()
        .json_as();
    assert_eq!(env.read("count"), "3\n");
    assert_eq!((document.verdict, document.marker.as_str()), (MakeReadyVerdict::Ok, "MAKE_READY=OK"));
    let step = &document.steps[0];
    assert_eq!((step.status, step.exit_code, step.reason.as_deref()), (StepStatus::Ok, Some(0), None));
    let attempts: Vec<_> =
        step.attempts.iter().map(|attempt| (attempt.exit_code, attempt.reason.as_deref())).collect();
    assert_eq!(attempts, [(Some(1), Some("exit 1")), (Some(1), Some("exit 1")), (Some(0), None)]);
    // The flaky pass is visible in the text row too.
    std::fs::remove_file(env.path("count")).unwrap();
    env.check(["make-ready", "--config", "make_ready.yaml"])
        .env("CI_FAKE_UTC", NOW)
        .code(0)
        .stdout_contains(" | 3 attempts: exit 1, exit 1, OK |\n")
        .stderr_contains("mmops:   flaky OK (")
        .run();
    // Not enough retries: the last attempt decides.
    std::fs::remove_file(env.path("count")).unwrap();
    write_pack(&env, &flaky_step(3, 1));
    env.check(["make-ready", "--config", "make_ready.yaml"])
        .env("CI_FAKE_UTC", NOW)
        .code(1)
        .stdout_contains(" | exit 1 | 2 attempts: exit 1, exit 1 |\n    > attempt 2\n")
        .stdout_contains("| make_ready | FAIL | MAKE_READY=BLOCKED |\n")
        .stderr_contains("mmops:   flaky FAIL (")
        .run();
    assert_eq!(env.read("count"), "2\n");
}

#[test]
fn a_report_only_step_runs_and_shows_but_never_blocks() {
    let env = TestEnv::new();
    write_pack(
        &env,
        "steps:\n  - name: candidate\n    run: [sh, -c, 'echo not yet; exit 4']\n    report_only: true\n  - name: good\n    run: [true]\n",
    );
    env.check(["make-ready", "--config", "make_ready.yaml", "--junit", "junit.xml"])
        .env("CI_FAKE_UTC", NOW)
        .code(0)
        .stdout_contains(" | REPORT_ONLY | ")
        .stdout_contains(" | exit 4 | report only: does not block |\n    > not yet\n")
        .stdout_contains("| pre_live_pack | OK | 1 ok, 0 waived, 0 failed, 1 report-only failing in ")
        .stdout_contains("| make_ready | OK | MAKE_READY=OK |\n")
        .stderr_contains("mmops:   candidate REPORT_ONLY (")
        .run();
    let xml = env.read("junit.xml");
    let document = roxmltree::Document::parse(&xml).unwrap();
    let skipped = document.descendants().find(|node| node.has_tag_name("skipped")).unwrap();
    assert_eq!(skipped.attribute("message"), Some("exit 4; report only: does not block"));
    let suite = document.descendants().find(|node| node.has_tag_name("testsuite")).unwrap();
    assert_eq!((suite.attribute("failures"), suite.attribute("skipped")), (Some("0"), Some("1")));
}

/// The readiness bytes the original formula writes for the shipped example weeks.
const GOOD_EXAMPLE_JSON: &str = PERFECT_JSON;
const DEGRADED_EXAMPLE_JSON: &str = "{\"runtime\":{\"utc\":\"2026-11-28T12:00:00Z\",\"version\":\"1.4.0\"},\"score\":65.580049,\"sections\":{\"chaos\":0.0,\"edge\":23.76,\"guards\":5.714286,\"latency\":22.551546,\"taker\":13.554217,\"tests\":0.0},\"verdict\":\"HOLD\"}\n";

#[test]
fn without_a_scoring_section_the_shipped_examples_keep_their_exact_bytes() {
    let env = TestEnv::new();
    env.write("VERSION", "1.4.0\n");
    let config = format!("{REPO}/deploy/release/make_ready.yaml");
    for (example, code, bytes, marker) in [
        ("good", 0, GOOD_EXAMPLE_JSON, "| make_ready | OK | MAKE_READY=OK |\n"),
        ("degraded", 1, DEGRADED_EXAMPLE_JSON, "| make_ready | FAIL | MAKE_READY=BLOCKED |\n"),
    ] {
        let dir = format!("{REPO}/deploy/examples/soak/{example}");
        // The shipped config (read for its scoring: section even with --skip-pre-live) and no config.
        for extra in [vec!["--config", config.as_str()], vec![]] {
            let mut args = vec!["make-ready", "--skip-pre-live", "--reports-dir", dir.as_str()];
            args.extend(extra);
            env.check(args)
                .env("CI_FAKE_UTC", NOW)
                .code(code)
                .stdout_contains(marker)
                .stderr_skipped_pack(&dir)
                .run();
            assert_eq!(env.read("artifacts/reports/readiness.json"), bytes, "{example}");
            let markdown = env.read("artifacts/reports/readiness.md");
            assert!(markdown.contains("| section | score |\n|---|---|\n") && !markdown.contains("weight"));
        }
    }
}

/// A pack config with one passing step and this `scoring:` section.
fn scored_config(scoring: &str) -> String {
    format!("steps:\n  - name: good\n    run: [true]\nscoring:\n{scoring}")
}

/// Seven reports with edge 1.25 bps: score 85 (edge 15 of 30), everything else full.
fn env_at_85() -> TestEnv {
    let env = TestEnv::new();
    env.write("VERSION", "1.4.0\n");
    for day in 1..=7 {
        env.write(format!("artifacts/REPORT_SOAK_202611{day:02}.json"), soak(1.25, 10.0));
    }
    env
}

#[test]
fn marginal_blocks_without_a_sign_off_and_passes_with_one_recorded_everywhere() {
    let env = env_at_85();
    env.write("make_ready.yaml", scored_config("  go_at: 90\n  marginal_at: 80\n"));
    env.check(["make-ready", "--config", "make_ready.yaml"])
        .env("CI_FAKE_UTC", NOW)
        .code(1)
        .stdout_contains("| readiness | FAIL | READINESS=MARGINAL |\n    > score 85 is MARGINAL (marginal_at 80 ≤ score < go_at 90): passes only with --sign-off \"name: reason\"\n")
        .stdout_contains("| make_ready | FAIL | MAKE_READY=BLOCKED |\n")
        .run_pack(&[("good", "OK")], &[]);
    let unsigned = env.read("artifacts/reports/readiness.json");
    assert_eq!(
        unsigned,
        "{\"runtime\":{\"utc\":\"2026-11-28T12:00:00Z\",\"version\":\"1.4.0\"},\"score\":85.0,\"scoring\":{\"critical\":[],\"go_at\":90.0,\"marginal_at\":80.0,\"min_reports\":0,\"weights\":{\"chaos\":0.1,\"edge\":0.3,\"guards\":0.1,\"latency\":0.25,\"taker\":0.15,\"tests\":0.1}},\"sections\":{\"chaos\":10.0,\"edge\":15.0,\"guards\":10.0,\"latency\":25.0,\"taker\":15.0,\"tests\":10.0},\"verdict\":\"MARGINAL\"}\n"
    );
    let run = env
        .check(["make-ready", "--config", "make_ready.yaml", "--sign-off", "Ana Ruiz: edge dip is the holiday week"])
        .env("CI_FAKE_UTC", NOW)
        .code(0)
        .stdout_contains("| readiness | OK | READINESS=MARGINAL |\n    > MARGINAL signed off by Ana Ruiz: edge dip is the holiday week\n\n")
        .stdout_contains("| make_ready | OK | MAKE_READY=OK_SIGNED_OFF |\n")
        .run_pack(&[("good", "OK")], &[]);
    assert_eq!(run.last_line(), "| make_ready | OK | MAKE_READY=OK_SIGNED_OFF |");
    let signed = env.read("artifacts/reports/readiness.json");
    assert_eq!(
        signed,
        unsigned.replace(
            ",\"verdict\"",
            ",\"sign_off\":{\"name\":\"Ana Ruiz\",\"reason\":\"edge dip is the holiday week\"},\"verdict\""
        )
    );
    let markdown = env.read("artifacts/reports/readiness.md");
    assert!(markdown.contains("| edge | 15 / 30 | 0.3 |\n"), "{markdown}");
    assert!(markdown.contains("Signed off by **Ana Ruiz**: edge dip is the holiday week\n"), "{markdown}");
    // The typed document reads it; --validate accepts a signed MARGINAL and says so.
    let document = ReadinessDoc::parse(signed.as_bytes()).unwrap();
    assert_eq!(
        (document.verdict, document.sign_off.unwrap().name.as_str()),
        (ReadinessVerdict::Marginal, "Ana Ruiz")
    );
    env.check(["make-ready", "--validate", "artifacts/reports/readiness.json"])
        .code(0)
        .stdout_contains("| readiness | OK | READINESS=MARGINAL |")
        .stderr_empty()
        .run();
    env.write("unsigned.json", &unsigned);
    env.check(["make-ready", "--validate", "unsigned.json"])
        .code(1)
        .stdout_contains("| readiness | FAIL | READINESS=MARGINAL |")
        .stderr_empty()
        .run();
}

#[test]
fn critical_sections_min_reports_and_weights_decide_with_scoring() {
    let env = env_at_85();
    // Edge is critical: 15 of 30 blocks even with a sign-off and a low go_at.
    env.write("make_ready.yaml", scored_config("  go_at: 50\n  sections:\n    edge: {critical: true}\n"));
    env.check(["make-ready", "--config", "make_ready.yaml", "--skip-pre-live", "--sign-off", "Ana: ok"])
        .env("CI_FAKE_UTC", NOW)
        .code(1)
        .stdout_contains(
            "| readiness | FAIL | READINESS=BLOCKED |\n    > critical section edge is 15 of 30\n",
        )
        .stdout_contains("| make_ready | FAIL | MAKE_READY=BLOCKED |\n")
        .stderr_contains("--sign-off not recorded: the verdict is BLOCKED, not MARGINAL")
        .run();
    assert!(!env.read("artifacts/reports/readiness.json").contains("sign_off"));
    // Edge weighted 0: the rest is full, so GO at 100.
    env.write("make_ready.yaml", scored_config("  sections:\n    edge: {weight: 0}\n"));
    env.check(["make-ready", "--config", "make_ready.yaml", "--skip-pre-live"])
        .env("CI_FAKE_UTC", NOW)
        .code(0)
        .stdout_contains("readiness: artifacts/reports/readiness.json (score 100; ")
        .stdout_contains("| make_ready | OK | MAKE_READY=OK |\n")
        .stderr_skipped_pack("artifacts")
        .run();
    // Three readable reports of seven required.
    for day in 4..=7 {
        std::fs::remove_file(env.path(format!("artifacts/REPORT_SOAK_202611{day:02}.json"))).unwrap();
    }
    env.write("make_ready.yaml", scored_config("  go_at: 0\n  min_reports: 7\n"));
    env.check(["make-ready", "--config", "make_ready.yaml", "--skip-pre-live"])
        .env("CI_FAKE_UTC", NOW)
        .code(1)
        .stdout_contains("    > 3 of 7 required reports (scoring.min_reports)\n")
        .stdout_contains("| make_ready | FAIL | MAKE_READY=BLOCKED |\n")
        .stderr_skipped_pack("artifacts")
        .run();
}

#[test]
fn bad_scoring_settings_and_sign_offs_are_exit_2_with_nothing_written() {
    let env = env_at_85();
    let cases: [(&str, &[&str], &str); 5] = [
        (
            "  go_at: 90\n  marginal_at: 95\n",
            &[],
            "make_ready.yaml:6:16: scoring.marginal_at 95 is above go_at 90; MARGINAL is the band below go_at\n",
        ),
        ("  sections:\n    edgy: {weight: 1}\n", &[], "make_ready.yaml:6:5: "),
        ("  go_at: 90\n", &["--sign-off", "no colon here"], "--sign-off has no ':' between name and reason"),
        ("  go_at: 90\n", &["--sign-off", " : why"], "--sign-off needs both a name and a reason"),
        ("  go_at: 90\n", &["--sign-off", "Ana: one\nline"], "--sign-off contains a control character"),
    ];
    for (scoring, extra, message) in cases {
        env.write("make_ready.yaml", scored_config(scoring));
        for skip in [true, false] {
            let mut args = vec!["make-ready", "--config", "make_ready.yaml"];
            if skip {
                args.push("--skip-pre-live");
            }
            args.extend_from_slice(extra);
            env.check(args).env("CI_FAKE_UTC", NOW).code(2).stdout_empty().stderr_contains(message).run();
            assert!(!env.exists("artifacts/reports"), "{scoring}");
        }
    }
    // A sign-off needs a scoring: section to mean anything.
    env.write("plain.yaml", "steps:\n  - name: good\n    run: [true]\n");
    env.check(["make-ready", "--config", "plain.yaml", "--sign-off", "Ana: fine"])
        .env("CI_FAKE_UTC", NOW)
        .code(2)
        .stdout_empty()
        .stderr_contains("--sign-off accepts a MARGINAL verdict, which needs a scoring: section with marginal_at in plain.yaml")
        .run();
    assert!(!env.exists("artifacts/reports"));
}

// --- Release-candidate tags, baselines and the canary checklist (real git, temporary repos) ---

/// A fixed identity and no global or system git config, so the tests do not depend on the
/// machine's; dates pinned so tag objects are reproducible.
const GIT_ENV: [(&str, &str); 8] = [
    ("GIT_AUTHOR_NAME", "Release Bot"),
    ("GIT_AUTHOR_EMAIL", "release@example.com"),
    ("GIT_COMMITTER_NAME", "Release Bot"),
    ("GIT_COMMITTER_EMAIL", "release@example.com"),
    ("GIT_AUTHOR_DATE", "2026-11-28T12:00:00Z"),
    ("GIT_COMMITTER_DATE", "2026-11-28T12:00:00Z"),
    ("GIT_CONFIG_GLOBAL", "/dev/null"),
    ("GIT_CONFIG_NOSYSTEM", "1"),
];

/// `git ARGS` in `env`, which must succeed; its stdout.
fn git(env: &TestEnv, args: &[&str]) -> String {
    let output = std::process::Command::new("git")
        .current_dir(env.root())
        .args(["-c", "user.name=Release Bot", "-c", "user.email=release@example.com"])
        .args(["-c", "init.defaultBranch=main", "-c", "tag.gpgSign=false", "-c", "commit.gpgSign=false"])
        .args(args)
        .envs(GIT_ENV)
        .output()
        .expect("run git");
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn tags(env: &TestEnv) -> Vec<String> {
    git(env, &["tag", "--list"]).lines().map(str::to_string).collect()
}

/// One passing step and the rollback check over the repository's own deploy files.
const RELEASE_CONFIG: &str =
    "steps:\n  - name: good\n    run: [true]\n  - name: rollback_vs_alerts\n    check: rollback-vs-alerts\n";

/// A committed repository with VERSION 1.4.0, the shipped policy and alert rules, a pack
/// config, and seven perfect soak reports in the ignored `artifacts/`. `None` (skipped) when
/// git is not installed outside CI.
fn release_repo() -> Option<TestEnv> {
    if !crate::support::tool_available("git", "apt-get install git") {
        return None;
    }
    let env = env_with_reports(7);
    env.write(".gitignore", "/artifacts\n");
    for file in ["deploy/policies/rollback.yaml", "deploy/prometheus/alerts_soak.yml"] {
        env.write(file, std::fs::read(Path::new(REPO).join(file)).unwrap());
    }
    env.write("make_ready.yaml", RELEASE_CONFIG);
    git(&env, &["init", "-q"]);
    git(&env, &["add", "-A"]);
    git(&env, &["commit", "-q", "-m", "release 1.4.0"]);
    Some(env)
}

/// `mmops make-ready --config make_ready.yaml EXTRA` with the test git identity.
fn release_check<'a>(env: &'a TestEnv, extra: &[&str]) -> crate::support::Check<'a> {
    let mut args = vec!["make-ready", "--config", "make_ready.yaml"];
    args.extend_from_slice(extra);
    let mut check = env.check(args).env("CI_FAKE_UTC", NOW);
    for (key, value) in GIT_ENV {
        check = check.env(key, value);
    }
    check
}

/// The message of an annotated tag, read back with `git cat-file -p`.
fn tag_message(env: &TestEnv, tag: &str) -> String {
    let object = git(env, &["cat-file", "-p", tag]);
    assert!(object.contains(&format!("\ntag {tag}\n")), "{object}");
    object.split_once("\n\n").unwrap().1.to_string()
}

/// Nothing written by make-ready: no readiness files, no checklist.
#[track_caller]
fn assert_nothing_written(env: &TestEnv) {
    for file in [
        "artifacts/reports/readiness.json",
        "artifacts/reports/readiness.md",
        "artifacts/release/CANARY_CHECKLIST.md",
    ] {
        assert!(!env.exists(file), "{file} was written");
    }
}

#[test]
fn tag_rc_tags_head_after_the_highest_rc_and_the_message_reads_back() {
    let Some(env) = release_repo() else { return };
    // rc1 and rc3 exist (annotated and lightweight); other versions and look-alikes do not count.
    git(&env, &["tag", "-a", "-m", "old", "v1.4.0-rc1"]);
    git(&env, &["tag", "v1.4.0-rc3"]);
    git(&env, &["tag", "v1.4.0-rc3x"]);
    git(&env, &["tag", "v1.4.00-rc9"]);
    git(&env, &["tag", "v2.0.0-rc7"]);
    let head = git(&env, &["rev-parse", "HEAD"]).trim().to_string();
    let run = release_check(&env, &["--tag-rc"])
        .code(0)
        .stdout_contains("canary checklist: artifacts/release/CANARY_CHECKLIST.md\n| release_tag | OK | RELEASE_TAG=v1.4.0-rc4 |\n| make_ready | OK | MAKE_READY=OK |\n")
        .run_pack(&[("good", "OK"), ("rollback_vs_alerts", "OK")], &[]);
    assert_eq!(run.last_line(), "| make_ready | OK | MAKE_READY=OK |");
    assert_eq!(git(&env, &["rev-parse", "v1.4.0-rc4^{commit}"]).trim(), head);
    assert_eq!(git(&env, &["cat-file", "-t", "v1.4.0-rc4"]).trim(), "tag");
    let message = tag_message(&env, "v1.4.0-rc4");
    let written = env.read("artifacts/reports/readiness.json");
    assert_eq!(
        message,
        format!(
            "mmops make-ready: release candidate v1.4.0-rc4\n\nversion: 1.4.0\ncommit: {head}\nmade: 2026-11-28T12:00:00Z\nverdict: MAKE_READY=OK (readiness GO)\nscore: 100 (min 100)\nsections: chaos 10/10, edge 30/30, guards 10/10, latency 25/25, taker 15/15, tests 10/10\nsign-off: none\nbundle: none in artifacts/release yet (mmops bundle builds it from this tag)\npre-live:\n  good: OK\n  rollback_vs_alerts: OK\nreadiness file: artifacts/reports/readiness.json\n\nreadiness.json:\n{written}"
        )
    );
    assert_eq!(written, PERFECT_JSON);
    // mmops never pushes: no remote was touched or configured.
    assert_eq!(git(&env, &["remote"]), "");
    assert!(
        env.read("artifacts/release/CANARY_CHECKLIST.md").starts_with("# Canary checklist: v1.4.0-rc4\n")
    );
    // The next run counts the new tag: rc5, and its message reads back as a baseline.
    release_check(&env, &["--tag-rc", "--baseline-tag", "v1.4.0-rc4"])
        .code(0)
        .stdout_contains("baseline tag v1.4.0-rc4 (1.4.0, GO): score 100 → 100 (0); no section changed\n")
        .stdout_contains("| release_tag | OK | RELEASE_TAG=v1.4.0-rc5 |\n")
        .run_pack(&[("good", "OK"), ("rollback_vs_alerts", "OK")], &[]);
    assert!(tag_message(&env, "v1.4.0-rc5").contains(
        "\nbaseline: baseline tag v1.4.0-rc4 (1.4.0, GO): score 100 → 100 (0); no section changed\n"
    ));
}

#[test]
fn tag_rc_dry_run_prints_the_tag_and_message_and_writes_nothing() {
    let Some(env) = release_repo() else { return };
    git(&env, &["tag", "-a", "-m", "old", "v1.4.0-rc1"]);
    let document: MakeReadyDoc = release_check(&env, &["--tag-rc", "--dry-run", "--format", "json"])
        .code(0)
        .stdout(Expect::Anything)
        .stderr_empty()
        .run()
        .json_as();
    assert_eq!((document.verdict, document.marker.as_str()), (MakeReadyVerdict::Ok, "MAKE_READY=OK"));
    let release = document.release.expect("--tag-rc reports the tag");
    assert_eq!((release.status.as_str(), release.tag.as_deref()), ("DRY_RUN", Some("v1.4.0-rc2")));
    assert_eq!(release.commit, git(&env, &["rev-parse", "HEAD"]).trim());
    assert!(release.message.unwrap().starts_with("mmops make-ready: release candidate v1.4.0-rc2\n"));
    // A dry run writes no checklist, so it names none (it used to name the file it did not write).
    assert_eq!(release.checklist, None);
    assert!(release.bundles.is_empty());
    release_check(&env, &["--tag-rc", "--dry-run"])
        .code(0)
        .stdout_contains("tag v1.4.0-rc2 on ")
        .stdout_contains(
            " (dry run: not created), message:\n    mmops make-ready: release candidate v1.4.0-rc2\n",
        )
        .stdout_contains("    readiness.json:\n    {\"runtime\":")
        .stdout_contains(
            "| release_tag | OK | RELEASE_TAG_DRY_RUN=v1.4.0-rc2 |\n| make_ready | OK | MAKE_READY=OK |\n",
        )
        .run_pack(&[("good", "OK"), ("rollback_vs_alerts", "OK")], &[]);
    assert_eq!(tags(&env), ["v1.4.0-rc1"]);
    assert_nothing_written(&env);
    assert!(!env.exists("artifacts/reports") && !env.exists("artifacts/release"));
    // --dry-run means nothing without --tag-rc.
    release_check(&env, &["--dry-run"]).code(2).stdout_empty().stderr_contains("--tag-rc").run();
}

#[test]
fn tag_rc_refusals_are_exit_2_with_nothing_run_tagged_or_written() {
    let Some(env) = release_repo() else { return };
    // Each refusal happens before any step runs: the step would leave a file behind.
    let witness = "steps:\n  - name: witness\n    run: [sh, -c, 'echo ran > ran.txt']\n";
    env.write("make_ready.yaml", witness);
    git(&env, &["commit", "-q", "-am", "witness step"]);
    let refused = |env: &TestEnv, message: &str, extra: &[(&str, &str)]| {
        let mut check = release_check(env, &["--tag-rc"]).code(2).stdout_empty().stderr_contains(message);
        for (key, value) in extra {
            check = check.env(key, value);
        }
        check.run();
        assert!(!env.exists("ran.txt"), "a step ran before the refusal: {message}");
        assert_nothing_written(env);
    };
    // Uncommitted changes: a modified tracked file, a staged file, an untracked file.
    env.write("VERSION", "1.4.0\n\n");
    refused(&env, "the work tree has uncommitted changes (M VERSION); commit or stash them first", &[]);
    git(&env, &["checkout", "--", "VERSION"]);
    env.write("staged.txt", "x");
    git(&env, &["add", "staged.txt"]);
    refused(&env, "(A staged.txt)", &[]);
    git(&env, &["rm", "-q", "--cached", "staged.txt"]);
    refused(&env, "(?? staged.txt)", &[]);
    std::fs::remove_file(env.path("staged.txt")).unwrap();
    // git not installed: a PATH without it.
    let empty = env.mkdir("empty-path");
    refused(&env, "git is not installed (not found on PATH)", &[("PATH", empty.to_str().unwrap())]);
    std::fs::remove_dir(&empty).unwrap();
    // No tagger identity.
    let no_identity =
        [("GIT_COMMITTER_NAME", ""), ("GIT_COMMITTER_EMAIL", ""), ("EMAIL", ""), ("HOME", "/nonexistent")];
    refused(&env, "git has no tagger identity", &no_identity);
    // A VERSION git cannot put in a tag name (committed, so the tree is clean).
    env.write("VERSION", "1.4.0~beta\n");
    git(&env, &["commit", "-q", "-am", "odd version"]);
    refused(&env, "VERSION \"1.4.0~beta\" cannot name a git tag", &[]);
    // No VERSION at all.
    git(&env, &["rm", "-q", "VERSION"]);
    git(&env, &["commit", "-q", "-m", "no version"]);
    refused(&env, "version file VERSION not found in ", &[]);
    // A policy with no hard gate gives the canary no rollback trigger.
    env.write("VERSION", "1.4.0\n");
    let policy = env
        .read("deploy/policies/rollback.yaml")
        .replace("severity: hard, action: rollback", "severity: soft, action: notify");
    env.write("deploy/policies/rollback.yaml", policy);
    git(&env, &["add", "-A"]);
    git(&env, &["commit", "-q", "-m", "soft only"]);
    refused(
        &env,
        "deploy/policies/rollback.yaml: no hard gate: a canary needs at least one rollback trigger",
        &[],
    );
    assert!(tags(&env).is_empty());
    // Not a git repository, and a repository with no commit.
    std::fs::remove_dir_all(env.path(".git")).unwrap();
    refused(&env, "not a git work tree", &[]);
    git(&env, &["init", "-q"]);
    refused(&env, "the repository has no commit at HEAD", &[]);
    // --tag-rc records each step's result, so it cannot skip them.
    release_check(&env, &["--tag-rc", "--skip-pre-live"])
        .code(2)
        .stdout_empty()
        .stderr_contains("'--tag-rc' cannot be used with '--skip-pre-live'")
        .run();
}

#[test]
fn a_blocked_release_never_tags() {
    let Some(env) = release_repo() else { return };
    for day in 1..=7 {
        env.write(format!("artifacts/REPORT_SOAK_202611{day:02}.json"), soak(1.0, 10.0));
    }
    release_check(&env, &["--tag-rc"])
        .code(1)
        .stdout_contains("| release_tag | FAIL | RELEASE_TAG=NONE |\n    > not tagged: the release is not ready (MAKE_READY is not OK)\n| make_ready | FAIL | MAKE_READY=BLOCKED |\n")
        .run_pack(&[("good", "OK"), ("rollback_vs_alerts", "OK")], &[]);
    assert!(tags(&env).is_empty());
    assert!(!env.exists("artifacts/release/CANARY_CHECKLIST.md"));
    // The readiness files are still written, as without --tag-rc.
    assert!(env.read("artifacts/reports/readiness.json").contains("\"verdict\":\"HOLD\""));
    // A failing step blocks too.
    env.write("make_ready.yaml", "steps:\n  - name: bad\n    run: [false]\n");
    git(&env, &["commit", "-q", "-am", "bad step"]);
    for day in 1..=7 {
        env.write(format!("artifacts/REPORT_SOAK_202611{day:02}.json"), soak(3.0, 10.0));
    }
    release_check(&env, &["--tag-rc", "--dry-run"])
        .code(1)
        .stdout_contains("| release_tag | FAIL | RELEASE_TAG=NONE |\n")
        .stderr_contains("mmops:   bad FAIL")
        .run();
    assert!(tags(&env).is_empty());
}

#[test]
fn a_tag_that_appears_while_make_ready_runs_is_refused_with_nothing_written() {
    let Some(env) = release_repo() else { return };
    // The race made real: a pre-live step creates the very tag make-ready planned (rc1), as a
    // second release run would.
    let racing = |command: &str| {
        format!(
            "steps:\n  - name: racer\n    run: [sh, -c, '{command}']\n  - name: rollback_vs_alerts\n    check: rollback-vs-alerts\n"
        )
    };
    env.write("make_ready.yaml", racing("git tag v1.4.0-rc1"));
    git(&env, &["commit", "-q", "-am", "racer"]);
    release_check(&env, &["--tag-rc"])
        .code(2)
        .stdout_empty()
        .stderr_contains("mmops: error: tag v1.4.0-rc1 appeared while make-ready ran (another release run?); nothing tagged: run make-ready again\n")
        .run();
    assert_eq!(tags(&env), ["v1.4.0-rc1"]);
    assert_eq!(git(&env, &["cat-file", "-t", "v1.4.0-rc1"]).trim(), "commit", "ours would be annotated");
    assert_nothing_written(&env);
    // git itself refuses (its ref lock is taken, as by a concurrent `git tag`): exit 2 with its message.
    git(&env, &["tag", "-d", "v1.4.0-rc1"]);
    env.write("make_ready.yaml", racing("mkdir -p .git/refs/tags && touch .git/refs/tags/v1.4.0-rc1.lock"));
    git(&env, &["commit", "-q", "-am", "locker"]);
    release_check(&env, &["--tag-rc"])
        .code(2)
        .stdout_empty()
        .stderr_contains("mmops: error: cannot create tag v1.4.0-rc1; nothing tagged, nothing written: git tag --annotate --cleanup=verbatim --file=<message> v1.4.0-rc1 ")
        .stderr_contains(".lock")
        .run();
    assert!(tags(&env).is_empty());
    assert_nothing_written(&env);
    std::fs::remove_file(env.path(".git/refs/tags/v1.4.0-rc1.lock")).unwrap();
    // HEAD moves during the run: the planned commit is no longer the release.
    env.write("make_ready.yaml", racing("git commit -q --allow-empty -m moved"));
    git(&env, &["commit", "-q", "-am", "mover"]);
    release_check(&env, &["--tag-rc"])
        .code(2)
        .stdout_empty()
        .stderr_contains("mmops: error: HEAD moved while make-ready ran (")
        .run();
    // A step that dirties the tree.
    env.write("make_ready.yaml", racing("echo x >> VERSION"));
    git(&env, &["commit", "-q", "-am", "dirtier"]);
    release_check(&env, &["--tag-rc"])
        .code(2)
        .stdout_empty()
        .stderr_contains("mmops: error: the work tree changed while make-ready ran (M VERSION)")
        .run();
    assert!(tags(&env).is_empty());
    assert_nothing_written(&env);
}

#[test]
fn a_write_failing_after_the_tag_is_partial_and_names_the_tag() {
    let Some(env) = release_repo() else { return };
    // git runs this hook inside `git tag`, after make-ready prepared its outputs and before it
    // commits them: it puts a folder where the readiness JSON goes, so the rename fails.
    env.write(
        ".git/hooks/reference-transaction",
        "#!/bin/sh\n[ \"$1\" = committed ] && mkdir -p artifacts/reports/readiness.json/blocker\nexit 0\n",
    );
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(
        env.path(".git/hooks/reference-transaction"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    release_check(&env, &["--tag-rc"])
        .code(1)
        .stdout_contains("| outputs | PARTIAL | cannot write readiness JSON artifacts/reports/readiness.json: ")
        .stdout_contains("; already written: tag v1.4.0-rc1 |\n| release_tag | OK | RELEASE_TAG=v1.4.0-rc1 |\n| make_ready | FAIL | MAKE_READY=PARTIAL |\n")
        .stderr_contains("mmops: error: cannot write readiness JSON artifacts/reports/readiness.json: ")
        .run();
    assert_eq!(tags(&env), ["v1.4.0-rc1"]);
}

#[test]
fn an_unwritable_checklist_is_exit_2_before_anything_is_tagged() {
    let Some(env) = release_repo() else { return };
    env.mkdir("artifacts/release/CANARY_CHECKLIST.md");
    release_check(&env, &["--tag-rc"])
        .code(2)
        .stdout_empty()
        .stderr_contains(
            "mmops: error: cannot write canary checklist artifacts/release/CANARY_CHECKLIST.md: ",
        )
        .run();
    assert!(tags(&env).is_empty());
    assert!(!env.exists("artifacts/reports/readiness.json"));
}

/// A MARGINAL week (score 85) under go_at 90 / marginal_at 80.
const MARGINAL_CONFIG: &str = "steps:\n  - name: good\n    run: [true]\n  - name: rollback_vs_alerts\n    check: rollback-vs-alerts\nscoring:\n  go_at: 90\n  marginal_at: 80\ncanary:\n  stages:\n    - {traffic: 10, hold: 45m}\n    - {traffic: 100, hold: 12h}\n";

#[test]
fn a_signed_off_release_records_the_sign_off_and_the_bundle_hash() {
    let Some(env) = release_repo() else { return };
    env.write("make_ready.yaml", MARGINAL_CONFIG);
    git(&env, &["commit", "-q", "-am", "scored"]);
    for day in 1..=7 {
        env.write(format!("artifacts/REPORT_SOAK_202611{day:02}.json"), soak(1.25, 10.0));
    }
    // Unsigned MARGINAL: blocked, untagged.
    release_check(&env, &["--tag-rc"])
        .code(1)
        .stdout_contains("| release_tag | FAIL | RELEASE_TAG=NONE |\n")
        .run_pack(&[("good", "OK"), ("rollback_vs_alerts", "OK")], &[]);
    // A bundle of this version (and one of another version, ignored) with a matching sidecar.
    env.write("artifacts/release/mm-bot-v1.4.0.zip", "zip bytes");
    let sha = "9d43b8fb82b5c2c3e6e5b7bc1fa5c1f47ad7b2d4d5e0aa6f9c29c3c0de8c1f4a";
    let real = {
        use std::process::Command;
        let out =
            Command::new("sha256sum").arg(env.path("artifacts/release/mm-bot-v1.4.0.zip")).output().unwrap();
        String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_string()
    };
    assert_ne!(real, sha);
    env.write("artifacts/release/mm-bot-v1.4.0.zip.sha256", format!("{real}  mm-bot-v1.4.0.zip\n"));
    env.write("artifacts/release/mm-bot-v1.3.0.zip", "older");
    release_check(&env, &["--tag-rc", "--sign-off", "Ana Ruiz: edge dip is the holiday week"])
        .code(0)
        .stdout_contains(
            "| release_tag | OK | RELEASE_TAG=v1.4.0-rc1 |\n| make_ready | OK | MAKE_READY=OK_SIGNED_OFF |\n",
        )
        .run_pack(&[("good", "OK"), ("rollback_vs_alerts", "OK")], &[]);
    let message = tag_message(&env, "v1.4.0-rc1");
    assert!(
        message.contains("\nverdict: MAKE_READY=OK_SIGNED_OFF (readiness MARGINAL)\nscore: 85 (min 90)\n"),
        "{message}"
    );
    assert!(message.contains("\nsign-off: Ana Ruiz: edge dip is the holiday week\n"), "{message}");
    assert!(
        message.contains(&format!("\nbundle: mm-bot-v1.4.0.zip sha256 {real}\npre-live:\n")),
        "{message}"
    );
    assert!(!message.contains("mm-bot-v1.3.0"), "{message}");
    let checklist = env.read("artifacts/release/CANARY_CHECKLIST.md");
    assert!(
        checklist.contains("- MARGINAL signed off by Ana Ruiz: edge dip is the holiday week\n"),
        "{checklist}"
    );
    assert!(checklist.contains(&format!("- bundle: `mm-bot-v1.4.0.zip` sha256 `{real}`\n")), "{checklist}");
    // The configured stages, in order, with their holds and a sign-off line each.
    assert!(checklist.contains("| 1 | 10 % | 45m | | | |\n| 2 | 100 % | 12h | | | |\n\n"), "{checklist}");
    assert!(
        checklist.contains("- [ ] 10 % held 45m with no trigger firing: name ________ time (UTC) ________\n")
    );
    // The readiness JSON in the tag is the signed document, valid as a baseline.
    let document = ReadinessDoc::parse(mmops_tag_readiness(&message).as_bytes()).unwrap();
    assert_eq!(
        (document.verdict, document.sign_off.unwrap().name.as_str()),
        (ReadinessVerdict::Marginal, "Ana Ruiz")
    );
    // A sidecar that disagrees with the bundle: refused before tagging.
    env.write("artifacts/release/mm-bot-v1.4.0.zip.sha256", format!("{sha}  mm-bot-v1.4.0.zip\n"));
    release_check(&env, &["--tag-rc", "--sign-off", "Ana Ruiz: again"])
        .code(2)
        .stdout_empty()
        .stderr_contains(
            "mmops: error: release bundle artifacts/release/mm-bot-v1.4.0.zip does not match its sidecar",
        )
        .run();
    assert_eq!(tags(&env), ["v1.4.0-rc1"]);
}

/// The line after `readiness.json:` in a tag message.
fn mmops_tag_readiness(message: &str) -> String {
    let mut lines = message.lines().skip_while(|line| *line != "readiness.json:");
    lines.next();
    format!("{}\n", lines.next().expect("a readiness line"))
}

/// `(alert, severity)` of each hard gate, in order, read from a policy file with a YAML parser.
fn hard_gates(policy: &str) -> Vec<(String, String)> {
    let document: serde_json::Value = serde_saphyr::from_str(policy).unwrap();
    document["gates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|gate| gate["severity"] == "hard")
        .map(|gate| {
            (gate["alert"].as_str().unwrap().to_string(), gate["action"].as_str().unwrap().to_string())
        })
        .collect()
}

/// `(alert, action)` of each row of the checklist's trigger table.
fn checklist_triggers(checklist: &str) -> Vec<(String, String)> {
    let table = checklist.split("## Rollback triggers").nth(1).unwrap().split("\n\n").nth(2).unwrap();
    table
        .lines()
        .skip(2)
        .map(|row| {
            let cells: Vec<&str> = row.split(" | ").collect();
            assert_eq!(cells[1], "hard", "{row}");
            (cells[0].trim_start_matches("| ").to_string(), cells[2].to_string())
        })
        .collect()
}

#[test]
fn the_checklist_triggers_are_the_policy_hard_gates_with_their_alerts() {
    let Some(env) = release_repo() else { return };
    release_check(&env, &["--tag-rc"])
        .code(0)
        .stdout_contains("RELEASE_TAG=v1.4.0-rc1")
        .stderr_contains("pre-live")
        .run();
    let checklist = env.read("artifacts/release/CANARY_CHECKLIST.md");
    let shipped = std::fs::read_to_string(Path::new(REPO).join("deploy/policies/rollback.yaml")).unwrap();
    assert_eq!(checklist_triggers(&checklist), hard_gates(&shipped));
    assert_eq!(hard_gates(&shipped).len(), 6);
    // Each row carries its alert rule's expression and `for:`.
    assert!(checklist.contains("| MMEdgeEma24hLow | hard | rollback | `mm_edge_bps_ema24h < 2.0` | 30m | 24h edge EMA below 2.0 bps |\n"), "{checklist}");
    assert!(
        checklist
            .contains("Soft gates notify only and do not stop the canary: MMMakerShareLow, MMWsLagHigh.\n")
    );
    assert!(checklist.contains(
        "| 1 | 5 % | 1h | | | |\n| 2 | 25 % | 2h | | | |\n| 3 | 50 % | 4h | | | |\n| 4 | 100 % | 1d | | | |\n"
    ));
    // Read, not copied: demote one hard gate (and its alert) to soft, and the checklist follows.
    let policy = shipped.replace(
        "{alert: MMGuardTrips, severity: hard, action: rollback}",
        "{alert: MMGuardTrips, severity: soft, action: notify}",
    );
    env.write("deploy/policies/rollback.yaml", &policy);
    let alerts = env.read("deploy/prometheus/alerts_soak.yml");
    let guard = alerts.find("alert: MMGuardTrips").unwrap();
    let severity = guard + alerts[guard..].find("severity: hard").unwrap();
    env.write(
        "deploy/prometheus/alerts_soak.yml",
        format!("{}severity: soft{}", &alerts[..severity], &alerts[severity + 14..]),
    );
    git(&env, &["commit", "-q", "-am", "guard trips notify only"]);
    release_check(&env, &["--tag-rc"])
        .code(0)
        .stdout_contains("RELEASE_TAG=v1.4.0-rc2")
        .stderr_contains("pre-live")
        .run();
    let checklist = env.read("artifacts/release/CANARY_CHECKLIST.md");
    assert_eq!(checklist_triggers(&checklist), hard_gates(&policy));
    assert_eq!(hard_gates(&policy).len(), 5);
    assert!(checklist.contains(": MMGuardTrips, MMMakerShareLow, MMWsLagHigh.\n"), "{checklist}");
}

#[test]
fn baseline_file_shows_each_change_and_max_drop_blocks() {
    let env = env_at_85();
    env.write("old.json", PERFECT_JSON);
    // Without scoring: the change is shown and nothing blocks on it (reference verdict).
    let run = env
        .check([
            "make-ready",
            "--skip-pre-live",
            "--min-score",
            "80",
            "--baseline",
            "old.json",
            "--format",
            "json",
        ])
        .env("CI_FAKE_UTC", NOW)
        .code(0)
        .stdout(Expect::Anything)
        // JSON mode prints no progress; the warning stays.
        .stderr_is(
            "mmops: warning: pre-live pack skipped (--skip-pre-live): MAKE_READY reflects the readiness score only\n",
        )
        .run();
    let document: MakeReadyDoc = run.json_as();
    assert_eq!((document.verdict, document.marker.as_str()), (MakeReadyVerdict::Ok, "MAKE_READY=OK"));
    assert_eq!(document.pre_live_pack.map(|pack| pack.status), None, "--skip-pre-live");
    let baseline =
        document.readiness_detail.and_then(|detail| detail.baseline).expect("a baseline comparison");
    assert_eq!(baseline.source, "file old.json");
    assert_eq!(
        (baseline.version.as_str(), baseline.utc.as_str(), baseline.verdict.as_str()),
        ("1.4.0", NOW, "GO")
    );
    assert_eq!(
        baseline.score,
        mirror::Change {
            name: "score".into(),
            baseline: 100.0,
            current: 85.0,
            change: -15.0,
            max_drop: None
        }
    );
    assert_eq!(
        baseline.sections[1],
        mirror::Change { name: "edge".into(), baseline: 30.0, current: 15.0, change: -15.0, max_drop: None }
    );
    let names: Vec<&str> = baseline.sections.iter().map(|change| change.name.as_str()).collect();
    assert_eq!(names, ["chaos", "edge", "guards", "latency", "taker", "tests"]);
    assert!(!baseline.different_rules);
    assert!(baseline.drops.is_empty());
    let markdown = env.read("artifacts/reports/readiness.md");
    assert!(markdown.contains("| edge | 30 | 15 | -15 |  |\n"), "{markdown}");
    // The readiness JSON itself keeps its shape.
    assert!(!env.read("artifacts/reports/readiness.json").contains("baseline"));
    // max_drop per section and total.
    env.write(
        "make_ready.yaml",
        scored_config("  go_at: 80\n  max_drop: 20\n  sections:\n    edge: {max_drop: 10}\n"),
    );
    env.check(["make-ready", "--config", "make_ready.yaml", "--skip-pre-live", "--baseline", "old.json"])
        .env("CI_FAKE_UTC", NOW)
        .code(1)
        .stdout_contains("baseline file old.json (1.4.0, GO): score 100 → 85 (-15); edge 30 → 15 (-15)\n| readiness | FAIL | READINESS=BLOCKED |\n    > edge dropped 15 since the baseline (30 → 15); scoring.sections.edge.max_drop is 10\n")
        .stdout_contains("| make_ready | FAIL | MAKE_READY=BLOCKED |\n")
        .stderr_skipped_pack("artifacts")
        .run();
    let markdown = env.read("artifacts/reports/readiness.md");
    assert!(
        markdown.contains("| edge | 30 | 15 | -15 | 10 |\n")
            && markdown.contains("| score | 100 | 85 | -15 | 20 |\n"),
        "{markdown}"
    );
    assert!(markdown.contains("**Blocked:** edge dropped 15 since the baseline"), "{markdown}");
    // The BLOCKED document validates (evidence outside the score may block).
    env.check(["make-ready", "--validate", "artifacts/reports/readiness.json"])
        .code(1)
        .stdout_contains("READINESS=BLOCKED")
        .stderr_empty()
        .run();
    // Within the limits: GO, and the change is still shown.
    env.write(
        "make_ready.yaml",
        scored_config("  go_at: 80\n  max_drop: 15\n  sections:\n    edge: {max_drop: 15}\n"),
    );
    env.check(["make-ready", "--config", "make_ready.yaml", "--skip-pre-live", "--baseline", "old.json"])
        .env("CI_FAKE_UTC", NOW)
        .code(0)
        .stdout_contains("baseline file old.json (1.4.0, GO): score 100 → 85 (-15); edge 30 → 15 (-15)\n| readiness | OK | READINESS=GO |\n")
        .stderr_skipped_pack("artifacts")
        .run();
    // max_drop with nothing to compare: said, not silently ignored.
    env.check(["make-ready", "--config", "make_ready.yaml", "--skip-pre-live"])
        .env("CI_FAKE_UTC", NOW)
        .code(0)
        .stdout_contains("| make_ready | OK | MAKE_READY=OK |\n")
        .stderr_contains(
            "mmops: warning: make_ready.yaml sets max_drop but no --baseline or --baseline-tag was given",
        )
        .run();
}

#[test]
fn bad_baselines_and_drop_or_canary_settings_are_exit_2_with_nothing_written() {
    let env = env_at_85();
    env.write("bad.json", PERFECT_JSON.replace("\"score\":100.0", "\"score\":90.0"));
    env.write("dup.json", PERFECT_JSON.replace("{\"runtime\"", "{\"score\":1,\"runtime\""));
    let cases: [(&[&str], &str); 4] = [
        (&["--baseline", "missing.json"], "missing.json"),
        (&["--baseline", "bad.json"], "--baseline bad.json is not a valid readiness JSON: "),
        (&["--baseline", "dup.json"], "--baseline dup.json is not a valid readiness JSON: "),
        (&["--baseline", "/dev/zero"], "/dev/zero"),
    ];
    for (extra, message) in cases {
        let mut args = vec!["make-ready", "--skip-pre-live"];
        args.extend_from_slice(extra);
        env.check(args).env("CI_FAKE_UTC", NOW).code(2).stdout_empty().stderr_contains(message).run();
        assert!(!env.exists("artifacts/reports"), "{message}");
    }
    env.write("old.json", PERFECT_JSON);
    let settings = [
        (
            "scoring:\n  max_drop: 101\n",
            "make_ready.yaml:5:13: scoring.max_drop 101 is outside 0..100; the score is out of 100\n",
        ),
        (
            "scoring:\n  sections:\n    edge: {max_drop: 31}\n",
            "make_ready.yaml:6:22: scoring.sections.edge.max_drop 31 is outside 0..30 (the section's maximum)\n",
        ),
        (
            "scoring:\n  sections:\n    edge: {max_drop: -1}\n",
            "make_ready.yaml:6:22: scoring.sections.edge.max_drop -1 is outside 0..30",
        ),
        (
            "canary:\n  stages:\n    - {traffic: 5, hold: 1h}\n    - {traffic: 5, hold: 1h}\n    - {traffic: 100, hold: 1h}\n",
            "make_ready.yaml:7:7: canary.stages[1]: traffic 5 is not above the previous stage's 5; stages only widen\n",
        ),
        (
            "canary:\n  stages:\n    - {traffic: 5, hold: 1h}\n    - {traffic: 50, hold: 1h}\n",
            "make_ready.yaml:6:5: canary.stages: the last stage must be traffic 100 (the full rollout)\n",
        ),
        (
            "canary:\n  stages:\n    - {traffic: 0, hold: 1h}\n    - {traffic: 100, hold: 1h}\n",
            "make_ready.yaml:6:7: canary.stages[0]: traffic 0 is outside 1..100",
        ),
        (
            "canary:\n  stages:\n    - {traffic: 100, hold: 15d}\n",
            "make_ready.yaml:6:7: canary.stages[0]: hold 2w 1d must be more than 0 and at most 2w\n",
        ),
        ("canary:\n  stages:\n    - {traffic: 100, hold: soon}\n", "make_ready.yaml:6:"),
        ("canary:\n  stages: []\n", "make_ready.yaml:5:11: canary.stages: give 1 to 10 stages"),
        ("canary:\n  stages:\n    - {traffic: 100, hold: 1h, pause: 2}\n", "make_ready.yaml:6:"),
    ];
    for (section, message) in settings {
        env.write("make_ready.yaml", format!("steps:\n  - name: good\n    run: [true]\n{section}"));
        for tag in [false, true] {
            let mut args = vec!["make-ready", "--config", "make_ready.yaml", "--baseline", "old.json"];
            if tag {
                args.push("--tag-rc");
            }
            env.check(args).env("CI_FAKE_UTC", NOW).code(2).stdout_empty().stderr_contains(message).run();
            assert!(!env.exists("artifacts/reports") && !env.exists("artifacts/release"), "{section}");
        }
    }
    env.check(["make-ready", "--skip-pre-live", "--baseline", "old.json", "--baseline-tag", "v1"])
        .code(2)
        .stdout_empty()
        .stderr_contains("'--baseline <FILE>' cannot be used with '--baseline-tag <TAG>'")
        .run();
}

#[test]
fn baseline_tag_must_be_an_annotated_tag_with_a_readiness_json() {
    let Some(env) = release_repo() else { return };
    git(&env, &["tag", "light"]);
    git(&env, &["tag", "-a", "-m", "hand-made release", "v1.3.0"]);
    git(&env, &["tag", "-a", "-m", "x\n\nreadiness.json:\n{\"score\":1}", "v1.3.1"]);
    for (tag, message) in [
        (
            "light",
            "mmops: error: tag \"light\" is a lightweight tag (commit): it has no message to read a readiness JSON from\n",
        ),
        ("nope", "mmops: error: no tag \"nope\" in this repository"),
        (
            "v1.3.0",
            "mmops: error: --baseline-tag v1.3.0: the tag message has no \"readiness.json:\" line; only tags made by make-ready --tag-rc carry a readiness JSON\n",
        ),
        (
            "v1.3.1",
            "mmops: error: --baseline-tag v1.3.1 is not a valid readiness JSON: missing required key \"runtime\"",
        ),
        ("../../HEAD", "mmops: error: --baseline-tag \"../../HEAD\" is not a valid tag name\n"),
    ] {
        release_check(&env, &["--baseline-tag", tag]).code(2).stdout_empty().stderr_contains(message).run();
        assert_nothing_written(&env);
    }
}

#[test]
fn hostile_bundles_and_step_text_cannot_hang_the_tag_or_forge_its_readiness() {
    let Some(env) = release_repo() else { return };
    // A FIFO or a symlink where the bundle goes: refused at once, nothing tagged or written.
    let fifo = env.path("artifacts/release/mm-bot-v1.4.0.zip");
    std::fs::create_dir_all(fifo.parent().unwrap()).unwrap();
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    release_check(&env, &["--tag-rc"])
        .code(2)
        .stdout_empty()
        .stderr_contains(
            "mmops: error: artifacts/release/mm-bot-v1.4.0.zip: the release bundle is a FIFO, not a regular file",
        )
        .run();
    std::fs::remove_file(&fifo).unwrap();
    env.write("artifacts/outside.zip", "x");
    std::os::unix::fs::symlink(env.path("artifacts/outside.zip"), &fifo).unwrap();
    release_check(&env, &["--tag-rc"])
        .code(2)
        .stdout_empty()
        .stderr_contains("mmops: error: cannot read the release bundle artifacts/release/mm-bot-v1.4.0.zip (a symlink is refused)")
        .run();
    std::fs::remove_file(&fifo).unwrap();
    assert!(tags(&env).is_empty());
    assert_nothing_written(&env);
    // A waiver reason (shown in the tag message) that tries to plant its own readiness JSON.
    let forged = PERFECT_JSON.trim_end().replace("\"", "\\\"").replace("1.4.0", "6.6.6");
    env.write(
        "make_ready.yaml",
        format!("steps:\n  - name: flaky\n    run: [\"false\"]\n    waive: {{until: 2026-12-31, reason: \"x\\nreadiness.json:\\n{forged}\"}}\n  - name: rollback_vs_alerts\n    check: rollback-vs-alerts\n"),
    );
    git(&env, &["commit", "-q", "-am", "waived step"]);
    release_check(&env, &["--tag-rc"])
        .code(0)
        .stdout_contains("| release_tag | OK | RELEASE_TAG=v1.4.0-rc1 |\n")
        .run_pack(&[("flaky", "WAIVED"), ("rollback_vs_alerts", "OK")], &[]);
    let message = tag_message(&env, "v1.4.0-rc1");
    assert!(
        message.contains("\n  flaky: WAIVED (exit 1; waived until 2026-12-31: x\\nreadiness.json:\\n{"),
        "{message}"
    );
    assert_eq!(mmops_tag_readiness(&message), env.read("artifacts/reports/readiness.json"));
    release_check(&env, &["--baseline-tag", "v1.4.0-rc1"])
        .code(0)
        .stdout_contains("baseline tag v1.4.0-rc1 (1.4.0, GO)")
        .run_pack(&[("flaky", "WAIVED"), ("rollback_vs_alerts", "OK")], &[]);
}

#[test]
fn a_tag_created_in_the_last_moment_before_git_tag_is_refused_by_git_and_reported() {
    let Some(env) = release_repo() else { return };
    // The narrowest race: another process creates the tag after make-ready's last check, just
    // before its `git tag` runs. A wrapper in front of the real git does exactly that, so the
    // real git is the one refusing.
    let real = String::from_utf8(
        std::process::Command::new("sh").args(["-c", "command -v git"]).output().unwrap().stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    env.write(
        "wrapper/git",
        format!("#!/bin/sh\nif [ \"$1\" = tag ] && [ \"$2\" = --annotate ]; then {real} tag \"$5\" \"$6\"; fi\nexec {real} \"$@\"\n"),
    );
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(env.path("wrapper/git"), std::fs::Permissions::from_mode(0o755)).unwrap();
    env.write(".git/info/exclude", "/wrapper\n");
    let path = format!("{}:{}", env.path("wrapper").display(), std::env::var("PATH").unwrap());
    release_check(&env, &["--tag-rc"])
        .env("PATH", &path)
        .code(2)
        .stdout_empty()
        .stderr_contains("mmops: error: tag v1.4.0-rc1 appeared between the check and the create (git: fatal: tag 'v1.4.0-rc1' already exists); nothing tagged, nothing written: run make-ready again\n")
        .run();
    assert_eq!(tags(&env), ["v1.4.0-rc1"]);
    assert_eq!(
        git(&env, &["cat-file", "-t", "v1.4.0-rc1"]).trim(),
        "commit",
        "the other process's tag is untouched"
    );
    assert_nothing_written(&env);
}

#[test]
fn concurrent_tag_rc_runs_never_share_or_skip_a_number() {
    let Some(env) = release_repo() else { return };
    // Seeded: MMOPS_RACE_SEED replays a failing run.
    let seed: u64 =
        std::env::var("MMOPS_RACE_SEED").ok().and_then(|text| text.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
        });
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (rounds, runners) = (4, 3);
    let mut tagged = 0;
    for _ in 0..rounds {
        let children: Vec<_> = (0..runners)
            .map(|_| {
                let delay_ms = next() % 40;
                let mut command = env.command();
                command
                    .args(["make-ready", "--config", "make_ready.yaml", "--tag-rc", "--quiet"])
                    .env("CI_FAKE_UTC", NOW)
                    .envs(GIT_ENV)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped());
                std::thread::sleep(std::time::Duration::from_millis(delay_ms));
                command.spawn().unwrap()
            })
            .collect();
        for child in children {
            let output = child.wait_with_output().unwrap();
            let (stdout, stderr) =
                (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
            match output.status.code() {
                Some(0) => {
                    tagged += 1;
                    assert_eq!(stdout, "", "seed {seed}: --quiet is silent when all is well");
                }
                Some(2) => assert!(
                    stderr.contains("appeared while make-ready ran")
                        || stderr.contains("appeared between the check and the create"),
                    "seed {seed}: {stderr}"
                ),
                other => panic!("seed {seed}: exit {other:?}\n{stdout}\n{stderr}"),
            }
        }
    }
    // Every success is one tag, numbered without gaps or repeats, each with a readable message.
    let expected: Vec<String> = (1..=tagged).map(|n| format!("v1.4.0-rc{n}")).collect();
    let mut found = tags(&env);
    found.sort_by_key(|tag| tag.trim_start_matches("v1.4.0-rc").parse::<u32>().unwrap());
    assert_eq!(found, expected, "seed {seed}");
    assert!(tagged >= rounds, "seed {seed}: each round tags at least once");
    for tag in &found {
        ReadinessDoc::parse(mmops_tag_readiness(&tag_message(&env, tag)).as_bytes()).unwrap();
    }
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "concurrent --tag-rc: seed {seed}, {} trials ({rounds} rounds of {runners}), {tagged} tags",
            rounds * runners
        );
    }
}

#[test]
fn the_tag_is_in_the_json_report_and_the_github_summary() {
    let Some(env) = release_repo() else { return };
    let document: MakeReadyDoc = release_check(&env, &["--tag-rc", "--format", "json"])
        .env("GITHUB_STEP_SUMMARY", "summary.md")
        .code(0)
        .stdout(Expect::Anything)
        .stderr_empty()
        .run()
        .json_as();
    assert_eq!((document.verdict, document.marker.as_str()), (MakeReadyVerdict::Ok, "MAKE_READY=OK"));
    let release = document.release.expect("--tag-rc reports the tag");
    let head = git(&env, &["rev-parse", "HEAD"]).trim().to_string();
    assert_eq!(
        (release.status.as_str(), release.tag.as_deref(), release.commit.as_str()),
        ("TAGGED", Some("v1.4.0-rc1"), head.as_str())
    );
    assert_eq!(release.checklist.as_deref(), Some("artifacts/release/CANARY_CHECKLIST.md"));
    assert_eq!(release.message.unwrap(), tag_message(&env, "v1.4.0-rc1"));
    assert_eq!(release.bundles, []);
    let summary = env.read("summary.md");
    assert!(summary.contains("| **release_tag** | **TAGGED** | | v1.4.0-rc1 |\n\n"), "{summary}");
    // The summary file is outside the ignored artifacts/: it made the tree dirty, so the next
    // run refuses, naming it.
    release_check(&env, &["--tag-rc"])
        .code(2)
        .stdout_empty()
        .stderr_contains("the work tree has uncommitted changes (?? summary.md)")
        .run();
}

/// Issue 12 item 9: a repeated step name is reported at the repeat's own line and column.
#[test]
fn a_duplicate_step_name_is_reported_where_the_duplicate_is() {
    let env = TestEnv::new();
    env.write("VERSION", "1.4.0\n");
    env.mkdir("artifacts");
    env.write(
        "make_ready.yaml",
        "steps:\n  - name: a\n    run: [x]\n  - name: b\n    run: [y]\n  - run: [z]\n    name: a\n",
    );
    env.check(["make-ready", "--config", "make_ready.yaml"])
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: invalid make-ready config make_ready.yaml (choose another with --config): \
             make_ready.yaml:7:11: steps[2] (a): name is used twice (first by steps[0]); step names must be unique\n",
        )
        .run();
    assert!(!env.exists("artifacts/reports"));
}

/// Audit gap 2: `--out-json out/a.json --junit out/a.json` exited 0 MAKE_READY=OK with the JUnit
/// XML in out/a.json; `--junit out/a.md` replaced the Markdown twin. Every pair of outputs is
/// compared before anything runs: exit 2 naming both, nothing written.
#[test]
fn two_outputs_of_one_run_naming_the_same_file_are_refused() {
    let env = env_with_reports(7);
    env.mkdir("out");
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 5] = [
        (
            &["--out-json", "out/a.json", "--junit", "out/a.json"],
            &[],
            "mmops: error: --junit out/a.json is also the --out-json file; give each output its own path\n",
        ),
        (
            &["--out-json", "out/a.json", "--junit", "out/./a.md"],
            &[],
            "mmops: error: --junit out/./a.md is also the readiness Markdown (--out-json with .md) file; \
             give each output its own path\n",
        ),
        (
            &["--out-json", "out/a.md"],
            &[],
            "mmops: error: readiness Markdown (--out-json with .md) out/a.md is also the --out-json file; \
             give each output its own path\n",
        ),
        (
            &["--out-json", "out/a.json", "--junit", "out/j.xml"],
            &[("GITHUB_STEP_SUMMARY", "out/../out/j.xml")],
            "mmops: error: GITHUB_STEP_SUMMARY out/../out/j.xml is also the --junit file; give each output \
             its own path\n",
        ),
        (
            &["--out-json", "out/a.json", "--prom-file", "out/a.prom", "--junit", "out/a.prom"],
            &[],
            "mmops: error: --prom-file out/a.prom is also the --junit file; give the Prometheus file its own path\n",
        ),
    ];
    for (extra, vars, message) in cases {
        let mut args = vec!["make-ready", "--skip-pre-live"];
        args.extend_from_slice(extra);
        let mut check = env.check(&args).code(2).stdout_empty();
        for (key, value) in vars {
            check = check.env(key, value);
        }
        check.stderr_is(message).run();
        assert_eq!(std::fs::read_dir(env.path("out")).unwrap().count(), 0, "{extra:?}: nothing written");
        assert!(!env.exists("artifacts/reports/readiness.json"));
    }
}
