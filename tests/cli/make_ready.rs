//! `mmops make-ready` end to end: readiness scoring and validation, the pre-live pack (failures,
//! timeouts, parallelism, waivers, built-in checks), JUnit, GitHub summary, config errors.

use std::path::Path;

use mmops::readiness_doc::{ReadinessDoc, ReadinessVerdict};

use crate::support::{Run, TestEnv, utc};

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

fn readiness_only(env: &TestEnv, extra: &[&str]) -> Run {
    let mut args = vec!["make-ready", "--skip-pre-live"];
    args.extend_from_slice(extra);
    env.run_with_env(args, &[("CI_FAKE_UTC", NOW)])
}

/// Runs the pre-live pack of `config` with 7 perfect reports, so readiness is GO.
fn pack(env: &TestEnv, config: &str, extra: &[&str]) -> Run {
    for day in 1..=7 {
        env.write(format!("artifacts/REPORT_SOAK_202611{day:02}.json"), soak(3.0, 10.0));
    }
    if !env.exists("VERSION") {
        env.write("VERSION", "1.4.0\n");
    }
    env.write("make_ready.yaml", config);
    let mut args = vec!["make-ready", "--config", "make_ready.yaml"];
    args.extend_from_slice(extra);
    env.run_with_env(args, &[("CI_FAKE_UTC", NOW)])
}

fn score_of(env: &TestEnv) -> f64 {
    let document: serde_json::Value =
        serde_json::from_str(&env.read("artifacts/reports/readiness.json")).unwrap();
    document["score"].as_f64().unwrap()
}

#[test]
fn no_reports_score_60_and_hold() {
    let env = TestEnv::new();
    env.write("VERSION", "1.4.0\n");
    let run = readiness_only(&env, &[]);
    run.expect_code(1);
    assert_eq!(run.last_line(), "| make_ready | FAIL | MAKE_READY=BLOCKED |");
    assert_eq!(
        env.read("artifacts/reports/readiness.json"),
        "{\"runtime\":{\"utc\":\"2026-11-28T12:00:00Z\",\"version\":\"1.4.0\"},\"score\":60.0,\"sections\":{\"chaos\":10.0,\"edge\":0.0,\"guards\":0.0,\"latency\":25.0,\"taker\":15.0,\"tests\":10.0},\"verdict\":\"HOLD\"}\n"
    );
}

#[test]
fn seven_perfect_reports_go_with_exact_bytes_and_markdown_twin() {
    let env = env_with_reports(7);
    let run = readiness_only(&env, &[]);
    run.expect_code(0);
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
    readiness_only(&env, &[]).expect_code(0);
    assert_eq!(env.read("artifacts/reports/readiness.json"), PERFECT_JSON);
}

#[test]
fn shipped_examples_go_and_hold() {
    let env = TestEnv::new();
    env.write("VERSION", "1.4.0\n");
    let good = format!("{REPO}/deploy/examples/soak/good");
    readiness_only(&env, &["--reports-dir", &good]).expect_code(0);
    assert_eq!(score_of(&env), 100.0);
    let degraded = format!("{REPO}/deploy/examples/soak/degraded");
    let run = readiness_only(&env, &["--reports-dir", &degraded]);
    run.expect_code(1);
    assert!(score_of(&env) < 100.0);
}

#[test]
fn only_the_last_seven_reports_by_name_count() {
    let env = env_with_reports(7);
    // Sorts before the others by name: outside the window, so its bad edge is ignored.
    env.write("artifacts/REPORT_SOAK_20261031.json", soak(0.0, 90.0));
    readiness_only(&env, &[]).expect_code(0);
    assert_eq!(score_of(&env), 100.0);
    // Sorts last: it enters the window and pushes the oldest perfect one out.
    for day in 8..=11 {
        env.write(format!("artifacts/REPORT_SOAK_202611{day:02}.json"), soak(0.0, 30.0));
    }
    readiness_only(&env, &[]).expect_code(1);
    // 4 of 7 at edge 0 → median 0; taker median 30 → 7.5.
    assert_eq!(score_of(&env), 100.0 - 30.0 - 7.5);
}

#[test]
fn malformed_report_is_named_and_counts_as_absent() {
    let env = env_with_reports(6);
    env.write("artifacts/REPORT_SOAK_20261107.json", "{not json");
    let run = readiness_only(&env, &[]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("mmops: warning: soak report REPORT_SOAK_20261107.json: key must be a string"),
        "{}",
        run.stderr
    );
    // 6 ok guard days out of 7.
    assert_eq!(score_of(&env), 98.571429);
}

#[test]
fn min_score_lowers_the_go_bar() {
    let env = TestEnv::new();
    env.write("VERSION", "1.4.0\n");
    let degraded = format!("{REPO}/deploy/examples/soak/degraded");
    readiness_only(&env, &["--reports-dir", &degraded, "--min-score", "65"]).expect_code(0);
    let written: serde_json::Value =
        serde_json::from_str(&env.read("artifacts/reports/readiness.json")).unwrap();
    assert_eq!(written["verdict"], "GO");
    readiness_only(&env, &["--reports-dir", &degraded, "--min-score", "66"]).expect_code(1);
    readiness_only(&env, &["--min-score", "101"]).expect_code(2);
}

#[test]
fn stale_evidence_holds_even_at_100() {
    let env = env_with_reports(7);
    // Newest report covers 2026-11-07, i.e. ends 2026-11-08T00:00Z; now is 2026-11-28.
    let run = readiness_only(&env, &["--max-evidence-age", "7d"]);
    run.expect_code(1);
    assert!(
        run.stdout
            .contains("stale evidence: newest soak report REPORT_SOAK_20261107.json is 2w 6d old (limit 1w)"),
        "{}",
        run.stdout
    );
    let written: serde_json::Value =
        serde_json::from_str(&env.read("artifacts/reports/readiness.json")).unwrap();
    assert_eq!((written["score"].as_f64(), written["verdict"].as_str()), (Some(100.0), Some("HOLD")));
    readiness_only(&env, &["--max-evidence-age", "21d"]).expect_code(0);
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
    readiness_only(&env, &["--max-evidence-age", "12h"]).expect_code(0);
    readiness_only(&env, &["--max-evidence-age", "5h"]).expect_code(1);
}

#[test]
fn validate_accepts_go_and_rejects_hold_and_each_invalid_shape() {
    let env = TestEnv::new();
    env.write("go.json", PERFECT_JSON);
    let run = env.run(["make-ready", "--validate", "go.json"]);
    run.expect_code(0);
    assert_eq!(run.stdout, "go.json: valid, verdict GO\n| readiness | OK | READINESS=GO |\n");

    let hold = PERFECT_JSON
        .replace("100.0,\"sections\"", "90.0,\"sections\"")
        .replace("\"edge\":30.0", "\"edge\":20.0")
        .replace("\"GO\"", "\"HOLD\"");
    env.write("hold.json", hold);
    let run = env.run(["make-ready", "--validate", "hold.json"]);
    run.expect_code(1);
    assert_eq!(run.last_line(), "| readiness | FAIL | READINESS=HOLD |");

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
        let run = env.run(["make-ready", "--validate", "go.json"]);
        run.expect_code(1);
        assert_eq!(run.stdout, format!("{expected}\n| readiness | FAIL | READINESS=INVALID |\n"));
    }
    let run = env.run(["make-ready", "--validate", "missing.json"]);
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        "mmops: error: cannot read readiness JSON missing.json: No such file or directory (os error 2)\n"
    );
}

#[test]
fn failing_step_blocks_and_shows_its_last_lines() {
    let env = TestEnv::new();
    let config = "steps:\n  - name: ok_step\n    run: [sh, -c, 'echo fine']\n  - name: broken\n    run: [sh, -c, 'echo first; echo boom >&2; exit 3']\n";
    let run = pack(&env, config, &[]);
    run.expect_code(1);
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

#[test]
fn all_steps_passing_with_go_is_ok() {
    let env = TestEnv::new();
    let run =
        pack(&env, "steps:\n  - name: a\n    run: [sh, -c, 'exit 0']\n  - name: b\n    run: [true]\n", &[]);
    run.expect_code(0);
    assert!(run.stdout.contains("| pre_live_pack | OK | PRE_LIVE_PACK=DRYRUN |\n"), "{}", run.stdout);
    assert_eq!(run.last_line(), "| make_ready | OK | MAKE_READY=OK |");
}

#[test]
fn program_not_found_fails_rather_than_passing() {
    let env = TestEnv::new();
    let run = pack(&env, "steps:\n  - name: ghost\n    run: [mmops-no-such-program-xyz]\n", &[]);
    run.expect_code(1);
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
    let run = pack(&env, config, &[]);
    run.expect_code(1);
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
    pack(&env, config, &["--jobs", "2"]).expect_code(0);
    assert!(env.exists("left.started") && env.exists("right.started"));
}

#[test]
fn jobs_one_runs_steps_one_after_another() {
    let env = TestEnv::new();
    // With one job the second step starts only after the first finished and left its file.
    let config = "steps:\n  - name: first\n    run: [sh, -c, 'touch first.done']\n  - name: second\n    run: [sh, -c, 'test -f first.done']\n";
    pack(&env, config, &["--jobs", "1"]).expect_code(0);
}

#[test]
fn waiver_holds_until_its_date_then_is_ignored() {
    let env = TestEnv::new();
    let config = "steps:\n  - name: flaky\n    run: [sh, -c, 'exit 1']\n    waive: {until: 2026-11-28, reason: upstream outage INC-42}\n";
    let run = pack(&env, config, &[]);
    run.expect_code(0);
    assert!(
        run.stdout.contains(" | exit 1 | waived until 2026-11-28: upstream outage INC-42 |\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("| flaky | WAIVED | "), "{}", run.stdout);
    let run = env.run_with_env(
        ["make-ready", "--config", "make_ready.yaml"],
        &[("CI_FAKE_UTC", "2026-11-29T00:00:00Z")],
    );
    run.expect_code(1);
    assert!(run.stdout.contains("| flaky | FAIL | "), "{}", run.stdout);
    assert!(run.stdout.contains("waiver expired on 2026-11-28 and is ignored"), "{}", run.stdout);
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
    let run = pack(
        &env,
        "steps:\n  - name: rollback\n    check: rollback-vs-alerts\n  - name: secrets\n    check: secret-scan\n",
        &[],
    );
    run.expect_code(0);
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
    let run = pack(&env, "steps:\n  - name: secrets\n    check: secret-scan\n", &[]);
    run.expect_code(1);
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
    let run = pack(&env, "steps:\n  - name: secrets\n    check: secret-scan\n", &[]);
    run.expect_code(1);
    // The list comes from `mmops bundle --dry-run`, which refuses a missing required file.
    assert!(
        run.stdout.contains("| secrets | FAIL | ")
            && run.stdout.contains(" | cannot run the check |\n    > cannot list the bundle's files with `mmops bundle --dry-run`: exit 2: mmops: error: 1 required file is missing, nothing was written: CHANGELOG.md;"),
        "{}",
        run.stdout
    );
    // A listed file given explicitly is still read directly.
    let run =
        pack(&env, "steps:\n  - name: secrets\n    check: secret-scan\n    files: [CHANGELOG.md]\n", &[]);
    run.expect_code(1);
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
    let run = pack(&env, "steps:\n  - name: rollback\n    check: rollback-vs-alerts\n", &[]);
    run.expect_code(1);
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
    let run = pack(&env, config, &["--junit", "out/junit.xml"]);
    run.expect_code(1);
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
    let run = env.run_with_env(
        ["make-ready", "--config", "make_ready.yaml"],
        &[
            ("CI_FAKE_UTC", NOW),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
            ("GITHUB_ACTIONS", "true"),
        ],
    );
    run.expect_code(1);
    let text = env.read("summary.md");
    assert!(text.starts_with("# earlier job output\n## mmops make-ready: MAKE_READY=BLOCKED\n"), "{text}");
    assert!(text.contains("| bad | FAIL | ") && text.contains("| exit 4 |\n"), "{text}");
    assert!(run.stderr.contains("::error title=make-ready step bad::exit 4\n"), "{}", run.stderr);
}

#[test]
fn json_output_lists_steps_readiness_and_verdict() {
    let env = TestEnv::new();
    let run =
        pack(&env, "steps:\n  - name: a\n    run: [sh, -c, 'echo hi; exit 2']\n", &["--format", "json"]);
    run.expect_code(1);
    let json = run.json();
    assert_eq!(json["verdict"], "BLOCKED");
    assert_eq!(json["marker"], "MAKE_READY=BLOCKED");
    let step = &json["steps"][0];
    assert_eq!(
        (step["name"].as_str(), step["status"].as_str(), step["exit_code"].as_i64()),
        (Some("a"), Some("FAIL"), Some(2))
    );
    assert_eq!(step["output_tail"], serde_json::json!(["hi"]));
    assert!(step["duration"].as_f64().unwrap() >= 0.0);
    let readiness: serde_json::Value = serde_json::from_str(PERFECT_JSON).unwrap();
    assert_eq!(json["readiness"], readiness);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
}

#[test]
fn bad_config_is_exit_2_with_its_line_and_runs_nothing() {
    let env = TestEnv::new();
    env.write("VERSION", "1.4.0\n");
    env.write(
        "make_ready.yaml",
        "steps:\n  - name: first\n    run: [sh, -c, 'touch ran']\n  - name: second\n    comand: [true]\n",
    );
    let run = env.run(["make-ready", "--config", "make_ready.yaml"]);
    run.expect_code(2);
    assert!(run.stderr.starts_with("mmops: error: invalid make-ready config make_ready.yaml (choose another with --config): make_ready.yaml:5:"), "{}", run.stderr);
    assert!(run.stderr.contains("comand"), "{}", run.stderr);
    assert!(!env.exists("ran") && !env.exists("artifacts"));

    let run = env.run(["make-ready"]);
    run.expect_code(2);
    assert!(run.stderr.contains("deploy/release/make_ready.yaml"), "{}", run.stderr);
}

#[test]
fn sigterm_kills_running_steps_and_gives_no_verdict() {
    // Regression: steps run in their own process groups, so a cancelled CI job (SIGTERM to
    // mmops) used to leave them running.
    let env = TestEnv::new();
    env.write("VERSION", "1.4.0\n");
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
        stderr.starts_with("mmops: pre-live pack: 1 steps, 1 at a time\nmmops:   hang FAIL (")
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
        .stderr_contains("mmops: warning: pre-live pack skipped")
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
        .stderr_contains("mmops: warning: pre-live pack skipped")
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
        .stderr_contains("mmops: warning: soak report REPORT_SOAK_20261107.json: artifacts/REPORT_SOAK_20261107.json: the soak report is larger than the 16.0 MiB limit for a soak report; is this the right file? (counted as absent)\n")
        .stderr_contains("mmops: warning: pre-live pack skipped")
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
    assert!(stderr.starts_with("mmops: pre-live pack: 1 steps"), "{stderr}");
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
        .stderr_contains("mmops: pre-live pack: 1 steps, 1 at a time\n")
        .run();
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
    let run = env
        .check(["make-ready", "--config", "make_ready.yaml", "--format", "json"])
        .env("CI_FAKE_UTC", NOW)
        .code(0)
        .stdout_contains("\"marker\": \"MAKE_READY=OK\"")
        .stderr_empty()
        .run();
    assert_eq!(env.read("count"), "3\n");
    let step = &run.json()["steps"][0];
    assert_eq!(step["status"], "OK");
    let reasons: Vec<_> = step["attempts"].as_array().unwrap().iter().map(|a| a["reason"].clone()).collect();
    assert_eq!(reasons, [serde_json::json!("exit 1"), serde_json::json!("exit 1"), serde_json::Value::Null]);
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
                .stderr_contains("pre-live pack skipped")
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
        .stderr_contains("pre-live pack: 1 steps")
        .run();
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
        .stderr_contains("pre-live pack: 1 steps")
        .run();
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
        .stderr_contains("pre-live pack skipped")
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
        .stderr_contains("pre-live pack skipped")
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
