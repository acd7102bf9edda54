//! `mmops cron-sentinel` end to end: every status, exit code and bad input.

use std::os::unix::fs::symlink;

use serde::Deserialize;

use crate::support::{TestEnv, utc};

const NOW: &str = "2025-10-11T12:00:00Z";

/// The JSON document, read back into types (a contract, not a substring).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    tool: String,
    status: String,
    marker: String,
    config: String,
    now: String,
    tasks: Vec<TaskRow>,
    summary: Summary,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskRow {
    name: String,
    artifact: String,
    path: Option<String>,
    status: String,
    age_seconds: Option<i64>,
    max_age_seconds: u64,
    mtime: Option<String>,
    size: Option<u64>,
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Summary {
    total: usize,
    fresh: usize,
    stale: usize,
    missing: usize,
    empty: usize,
    error: usize,
    future: usize,
    paused: usize,
}

fn env_with_config(config: &str) -> TestEnv {
    let env = TestEnv::new();
    env.write("deploy/cron/sentinel.yaml", config);
    env
}

fn run_at(env: &TestEnv, args: &[&str]) -> crate::support::Run {
    env.run_with_env(args, &[("CI_FAKE_UTC", NOW)])
}

fn document(env: &TestEnv, args: &[&str]) -> (i32, Document) {
    let mut all = vec!["--format", "json", "cron-sentinel"];
    all.extend_from_slice(args);
    let run = run_at(env, &all);
    assert_eq!(run.stderr, "", "JSON mode printed diagnostics");
    let document: Document = serde_json::from_str(&run.stdout).expect("stdout is the JSON document");
    (run.code, document)
}

#[test]
fn all_fresh_is_ok_with_table_summary_and_marker() {
    let env = env_with_config(
        "tasks:\n  - {name: nightly, artifact: reports/nightly.json, max_age: 36h}\n  - {name: soak, artifact: reports/soak.json, max_age: 7d}\n",
    );
    env.write("reports/nightly.json", "{}");
    env.set_mtime("reports/nightly.json", utc("2025-10-11T08:48:00Z"));
    env.write("reports/soak.json", "{}");
    env.set_mtime("reports/soak.json", utc("2025-10-09T12:00:00Z"));
    let run = run_at(&env, &["cron-sentinel"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "TASK     STATUS  AGE     MAX AGE  ARTIFACT\n\
         nightly  FRESH   3h 12m  1d 12h   reports/nightly.json\n\
         soak     FRESH   2d      1w       reports/soak.json\n\
         2 tasks: 2 fresh\n\
         | cron_sentinel | OK | CRON_SENTINEL=OK |\n"
    );
    assert_eq!(run.stderr, "");
}

#[test]
fn every_failing_status_with_its_message() {
    let env = env_with_config(
        "tasks:
  - {name: fresh, artifact: fresh.json, max_age: 1h}
  - {name: stale, artifact: stale.json, max_age: 1h}
  - {name: missing, artifact: missing.json, max_age: 1h}
  - {name: empty, artifact: empty.json, max_age: 1h, min_size: 10}
  - {name: future, artifact: future.json, max_age: 1h}
  - {name: directory, artifact: adir, max_age: 1h}
  - {name: disabled, artifact: missing.json, max_age: 1h, enabled: false}
  - {name: maintenance, artifact: stale.json, max_age: 1h, paused_until: '2025-10-12T00:00:00Z'}
  - {name: pause_over, artifact: stale.json, max_age: 1h, paused_until: '2025-10-11T00:00:00Z'}
",
    );
    for (file, mtime) in [
        ("fresh.json", "2025-10-11T11:30:00Z"),
        ("stale.json", "2025-10-11T10:00:00Z"),
        ("empty.json", "2025-10-11T11:59:00Z"),
        ("future.json", "2025-10-11T12:10:00Z"),
    ] {
        env.write(file, if file == "empty.json" { "tiny" } else { "{\"ok\": true}" });
        env.set_mtime(file, utc(mtime));
    }
    env.mkdir("adir");
    let (code, doc) = document(&env, &[]);
    assert_eq!(code, 1);
    assert_eq!(
        (doc.tool.as_str(), doc.status.as_str(), doc.marker.as_str()),
        ("cron_sentinel", "FAIL", "CRON_SENTINEL=FAIL")
    );
    assert_eq!((doc.config.as_str(), doc.now.as_str()), ("deploy/cron/sentinel.yaml", NOW));
    let statuses: Vec<(&str, &str)> =
        doc.tasks.iter().map(|t| (t.name.as_str(), t.status.as_str())).collect();
    assert_eq!(
        statuses,
        [
            ("fresh", "FRESH"),
            ("stale", "STALE"),
            ("missing", "MISSING"),
            ("empty", "EMPTY"),
            ("future", "FUTURE"),
            ("directory", "ERROR"),
            ("disabled", "PAUSED"),
            ("maintenance", "PAUSED"),
            ("pause_over", "STALE"),
        ]
    );
    let by_name = |name: &str| doc.tasks.iter().find(|t| t.name == name).unwrap();
    let stale = by_name("stale");
    assert_eq!(stale.age_seconds, Some(7200));
    assert_eq!(stale.max_age_seconds, 3600);
    assert_eq!(stale.mtime.as_deref(), Some("2025-10-11T10:00:00Z"));
    assert_eq!(stale.path.as_deref(), Some("stale.json"));
    assert_eq!(stale.size, Some(12));
    assert_eq!(stale.message.as_deref(), Some("1h older than max_age 1h"));
    let missing = by_name("missing");
    assert_eq!((missing.age_seconds, missing.mtime.as_deref(), missing.path.as_deref()), (None, None, None));
    assert_eq!(missing.message.as_deref(), Some("missing.json does not exist"));
    assert_eq!(by_name("empty").message.as_deref(), Some("size 4 B is below min_size 10 B"));
    assert_eq!(by_name("future").age_seconds, Some(-600));
    assert!(by_name("future").message.as_deref().unwrap().starts_with("modified 10m in the future"));
    assert_eq!(by_name("directory").message.as_deref(), Some("cannot check adir: not a regular file"));
    assert_eq!(by_name("maintenance").message.as_deref(), Some("paused until 2025-10-12T00:00:00Z"));
    assert_eq!(by_name("disabled").message.as_deref(), Some("disabled in the config"));
    assert_eq!(by_name("fresh").message, None);
    assert_eq!(by_name("fresh").artifact, "fresh.json");
    let s = &doc.summary;
    assert_eq!(
        (s.total, s.fresh, s.stale, s.missing, s.empty, s.error, s.future, s.paused),
        (9, 1, 2, 1, 1, 1, 1, 2)
    );

    let text = run_at(&env, &["cron-sentinel"]);
    text.expect_code(1);
    assert!(
        text.stdout.contains("9 tasks: 1 fresh, 2 stale, 1 missing, 1 empty, 1 error, 1 future, 2 paused\n")
    );
    assert_eq!(text.last_line(), "| cron_sentinel | FAIL | CRON_SENTINEL=FAIL |");
}

#[test]
fn paused_tasks_do_not_fail_the_check() {
    let env =
        env_with_config("tasks:\n  - {name: off, artifact: nothing.json, max_age: 1h, enabled: false}\n");
    let run = run_at(&env, &["cron-sentinel"]);
    run.expect_code(0);
    assert!(run.stdout.contains("off   PAUSED"), "{}", run.stdout);
}

#[test]
fn glob_takes_newest_match_and_no_match_is_missing() {
    let env = env_with_config(
        "tasks:\n  - {name: nightly, artifact: 'reports/nightly_*.json', max_age: 36h}\n  - {name: none, artifact: 'reports/weekly_*.json', max_age: 7d}\n",
    );
    env.write("reports/nightly_20251009.json", "{}");
    env.set_mtime("reports/nightly_20251009.json", utc("2025-10-09T01:00:00Z"));
    env.write("reports/nightly_20251011.json", "{}");
    env.set_mtime("reports/nightly_20251011.json", utc("2025-10-11T01:00:00Z"));
    env.write("reports/sub/nightly_x.json", "{}"); // `*` does not cross folders
    env.set_mtime("reports/sub/nightly_x.json", utc("2025-10-11T11:00:00Z"));
    let (code, doc) = document(&env, &[]);
    assert_eq!(code, 1);
    assert_eq!(doc.tasks[0].status, "FRESH");
    assert_eq!(doc.tasks[0].path.as_deref(), Some("reports/nightly_20251011.json"));
    assert_eq!(doc.tasks[1].status, "MISSING");
    assert_eq!(doc.tasks[1].message.as_deref(), Some("no file matches reports/weekly_*.json"));
}

#[test]
fn symlinks_are_followed_and_dangling_ones_are_missing() {
    let env = env_with_config(
        "tasks:\n  - {name: linked, artifact: current.json, max_age: 1h}\n  - {name: dangling, artifact: broken.json, max_age: 1h}\n",
    );
    env.write("real/2025-10-11.json", "{}");
    env.set_mtime("real/2025-10-11.json", utc("2025-10-11T11:00:00Z"));
    symlink("real/2025-10-11.json", env.path("current.json")).unwrap();
    env.set_mtime("current.json", utc("2020-01-01T00:00:00Z")); // the link's own date must not count
    symlink("real/gone.json", env.path("broken.json")).unwrap();
    let (_, doc) = document(&env, &[]);
    assert_eq!((doc.tasks[0].status.as_str(), doc.tasks[0].age_seconds), ("FRESH", Some(3600)));
    assert_eq!(doc.tasks[1].status, "MISSING");
    assert_eq!(doc.tasks[1].message.as_deref(), Some("broken.json is a dangling symlink to real/gone.json"));
}

#[test]
fn task_filter_checks_only_named_tasks() {
    let env = env_with_config(
        "tasks:\n  - {name: a, artifact: a.json, max_age: 1h}\n  - {name: b, artifact: b.json, max_age: 1h}\n  - {name: c, artifact: c.json, max_age: 1h}\n",
    );
    env.write("b.json", "{}");
    env.set_mtime("b.json", utc("2025-10-11T11:59:00Z"));
    let (code, doc) = document(&env, &["--task", "b"]);
    assert_eq!(code, 0);
    assert_eq!(doc.tasks.len(), 1);
    assert_eq!(doc.tasks[0].name, "b");
    let (code, doc) = document(&env, &["--task", "c", "--task", "a"]);
    assert_eq!(code, 1);
    let names: Vec<&str> = doc.tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["a", "c"], "config order, not flag order");

    let run = run_at(&env, &["cron-sentinel", "--task", "zz"]);
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        "mmops: error: unknown task \"zz\" in --task; deploy/cron/sentinel.yaml defines: a, b, c\n"
    );
    assert_eq!(run.stdout, "");
}

#[test]
fn chdir_resolves_config_and_artifacts_there() {
    let env = TestEnv::new();
    env.write("ops/deploy/cron/sentinel.yaml", "tasks:\n  - {name: a, artifact: out/a.json, max_age: 1h}\n");
    env.write("ops/out/a.json", "{}");
    env.set_mtime("ops/out/a.json", utc("2025-10-11T11:00:00Z"));
    run_at(&env, &["-C", "ops", "cron-sentinel"]).expect_code(0);
    run_at(&env, &["cron-sentinel"]).expect_code(2);
}

#[test]
fn fake_clock_decides_freshness() {
    let env = env_with_config("tasks:\n  - {name: a, artifact: a.json, max_age: 1h}\n");
    env.write("a.json", "{}");
    env.set_mtime("a.json", utc("2025-10-11T11:00:00Z"));
    env.run_with_env(["cron-sentinel"], &[("CI_FAKE_UTC", "2025-10-11T12:00:00Z")]).expect_code(0);
    env.run_with_env(["cron-sentinel"], &[("CI_FAKE_UTC", "2025-10-11T12:00:01Z")]).expect_code(1);
    // Without the fake clock the real "now" (years later) makes it stale.
    env.run(["cron-sentinel"]).expect_code(1);
}

#[test]
fn marker_only_prints_only_the_marker() {
    let env = env_with_config("tasks:\n  - {name: a, artifact: a.json, max_age: 1h}\n");
    let run = run_at(&env, &["--marker-only", "cron-sentinel"]);
    run.expect_code(1);
    assert_eq!(run.stdout, "| cron_sentinel | FAIL | CRON_SENTINEL=FAIL |\n");
    assert_eq!(run.stderr, "");
}

#[test]
fn no_color_and_pipes_get_plain_text() {
    let env = env_with_config("tasks:\n  - {name: a, artifact: a.json, max_age: 1h}\n");
    let run = env.run_with_env(["cron-sentinel"], &[("CI_FAKE_UTC", NOW), ("NO_COLOR", "1")]);
    assert!(!run.stdout.contains('\x1b'));
    let forced = run_at(&env, &["--color", "always", "cron-sentinel"]);
    assert!(forced.stdout.contains("\x1b[31m| cron_sentinel | FAIL |"), "{}", forced.stdout);
}

#[test]
fn prom_file_has_exact_exposition() {
    let env = env_with_config(
        "tasks:\n  - {name: fresh, artifact: a.json, max_age: 1h}\n  - {name: 'we\"ird', artifact: b.json, max_age: 2h}\n",
    );
    env.write("a.json", "{}");
    env.set_mtime("a.json", utc("2025-10-11T11:30:00Z"));
    let run = run_at(&env, &["cron-sentinel", "--prom-file", "metrics/cron.prom"]);
    run.expect_code(1);
    assert_eq!(
        env.read("metrics/cron.prom"),
        "# HELP mmops_cron_sentinel_task_fresh 1 when the task's artifact is fresh, 0 when stale, missing, empty, unreadable, future-dated or paused.
# TYPE mmops_cron_sentinel_task_fresh gauge
mmops_cron_sentinel_task_fresh{task=\"fresh\"} 1
mmops_cron_sentinel_task_fresh{task=\"we\\\"ird\"} 0
# HELP mmops_cron_sentinel_task_paused 1 when the task is disabled or paused for maintenance.
# TYPE mmops_cron_sentinel_task_paused gauge
mmops_cron_sentinel_task_paused{task=\"fresh\"} 0
mmops_cron_sentinel_task_paused{task=\"we\\\"ird\"} 0
# HELP mmops_cron_sentinel_task_age_seconds Seconds since the task's artifact was modified (absent when no file was found).
# TYPE mmops_cron_sentinel_task_age_seconds gauge
mmops_cron_sentinel_task_age_seconds{task=\"fresh\"} 1800
# HELP mmops_cron_sentinel_task_max_age_seconds The task's configured max_age in seconds.
# TYPE mmops_cron_sentinel_task_max_age_seconds gauge
mmops_cron_sentinel_task_max_age_seconds{task=\"fresh\"} 3600
mmops_cron_sentinel_task_max_age_seconds{task=\"we\\\"ird\"} 7200
# HELP mmops_cron_sentinel_last_run_timestamp_seconds Unix time of the last cron-sentinel run.
# TYPE mmops_cron_sentinel_last_run_timestamp_seconds gauge
mmops_cron_sentinel_last_run_timestamp_seconds 1760184000
"
    );
    let leftovers: Vec<_> =
        std::fs::read_dir(env.path("metrics")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, ["cron.prom"], "no temporary file left behind");
}

#[test]
fn check_config_validates_without_looking_at_files() {
    let env = env_with_config("tasks:\n  - {name: a, artifact: never-there.json, max_age: 36h}\n");
    let run = run_at(&env, &["cron-sentinel", "--check-config"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "deploy/cron/sentinel.yaml: 1 task, valid\n  a: never-there.json within 1d 12h\n| cron_sentinel | OK | CRON_SENTINEL=CONFIG_OK |\n"
    );
}

#[test]
fn shipped_config_is_valid() {
    let env = TestEnv::new();
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/cron/sentinel.yaml");
    let run = env.run(["cron-sentinel", "--check-config", "--config", shipped]);
    run.expect_code(0);
    for task in ["nightly_tests", "soak_metrics", "readiness_score"] {
        assert!(run.stdout.contains(task), "{}", run.stdout);
    }
}

#[test]
fn bad_inputs_exit_2_and_name_the_problem() {
    let cases: &[(&str, Option<&str>, &str)] = &[
        (
            "missing config",
            None,
            "mmops: error: cannot read config file deploy/cron/sentinel.yaml: No such file or directory",
        ),
        (
            "bad yaml",
            Some("tasks:\n  - name: a\n     artifact: x\n"),
            "mmops: error: deploy/cron/sentinel.yaml:3:14: mapping values are not allowed",
        ),
        (
            "unclosed quote",
            Some("tasks:\n  - name: a\n    artifact: \"x\n"),
            "mmops: error: deploy/cron/sentinel.yaml:3:15: unclosed quote",
        ),
        (
            "wrong type",
            Some("tasks:\n  - name: a\n    artifact: [x]\n    max_age: 1h\n"),
            "mmops: error: deploy/cron/sentinel.yaml:3:15: expected string scalar",
        ),
        (
            "unknown field",
            Some("tasks:\n  - name: a\n    artifact: a.json\n    max_ag: 1h\n"),
            "mmops: error: deploy/cron/sentinel.yaml:4:5: unknown field \"max_ag\", expected one of name, artifact, max_age",
        ),
        (
            "duplicate names",
            Some(
                "tasks:\n  - {name: a, artifact: a.json, max_age: 1h}\n  - {name: a, artifact: b.json, max_age: 1h}\n",
            ),
            "duplicate task name \"a\" (tasks #1 and #2); names must be unique",
        ),
        (
            "bad duration",
            Some("tasks:\n  - {name: a, artifact: a.json, max_age: 3 fortnights}\n"),
            "invalid duration \"3 fortnights\"",
        ),
        (
            "zero duration",
            Some("tasks:\n  - {name: a, artifact: a.json, max_age: 0}\n"),
            "duration \"0\" must be greater than zero",
        ),
        ("zero tasks", Some("tasks: []\n"), "no tasks: list at least one task under \"tasks:\""),
        ("empty file", Some(""), "deploy/cron/sentinel.yaml: the file is empty"),
        ("no tasks key", Some("jobs: []\n"), "unknown field \"jobs\""),
    ];
    for (what, config, needle) in cases {
        let env = TestEnv::new();
        if let Some(config) = config {
            env.write("deploy/cron/sentinel.yaml", config);
        }
        let run = run_at(&env, &["cron-sentinel", "--prom-file", "out.prom"]);
        assert_eq!(run.code, 2, "{what}: {run:?}");
        assert!(run.stderr.contains(needle), "{what}: stderr {:?} lacks {needle:?}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{what}: one error line");
        assert_eq!(run.stdout, "", "{what}");
        assert!(!env.exists("out.prom"), "{what}: nothing written");
    }
}

#[test]
fn bad_fake_clock_is_exit_2() {
    let env = env_with_config("tasks:\n  - {name: a, artifact: a.json, max_age: 1h}\n");
    let run = env.run_with_env(["cron-sentinel"], &[("CI_FAKE_UTC", "2025-13-01T00:00:00Z")]);
    run.expect_code(2);
    assert!(run.stderr.contains("CI_FAKE_UTC=\"2025-13-01T00:00:00Z\" is not an RFC 3339 instant"));
}

/// Permission bits do not stop root, so the unreadable case runs as `nobody` via setpriv.
#[test]
fn unreadable_artifact_is_error_with_reason() {
    let env = env_with_config("tasks:\n  - {name: locked, artifact: vault/a.json, max_age: 1h}\n");
    env.write("vault/a.json", "{}");
    std::fs::set_permissions(env.path("vault"), std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let run = env.run_as_nobody_with_env(["--format", "json", "cron-sentinel"], &[("CI_FAKE_UTC", NOW)]);
    std::fs::set_permissions(env.path("vault"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    run.expect_code(1);
    let doc: Document = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc.tasks[0].status, "ERROR");
    assert_eq!(doc.tasks[0].message.as_deref(), Some("cannot check vault/a.json: permission denied"));
}
