//! `mmops cron-sentinel` end to end: every status, exit code and bad input.

use std::os::unix::fs::symlink;

use crate::global::mirror::ErrorDocument;
use crate::support::{Check, Expect, TestEnv, utc};
use mirror::{ConfigDocument, ConfiguredTask, Document, ExplainDocument, Start, Status, TaskStatus};

const NOW: &str = "2025-10-11T12:00:00Z";

/// Typed mirrors of every `--format json` document cron-sentinel writes (the check,
/// `--check-config`, `--explain`), read back whole: a contract, not a substring. Every optional
/// field of these documents is always written, `null` when unset (`src/cron_sentinel/report.rs`
/// has no `skip_serializing_if`), so each is read with `nullable`: its key missing is an error.
// Every field is mirrored so each document is checked whole; not every test reads every field.
#[allow(dead_code)]
pub(crate) mod mirror {
    use serde::Deserialize;

    /// The `status` every report document carries (one definition for every subcommand).
    pub use crate::global::mirror::Status;
    use crate::global::mirror::nullable;

    /// A task row's status (`check.rs` `Status`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum TaskStatus {
        Fresh,
        Stale,
        Missing,
        Empty,
        Error,
        Future,
        TooLarge,
        Warn,
        Paused,
    }

    /// The check: one row per task and the counts.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Document {
        pub tool: String,
        pub status: Status,
        pub marker: String,
        pub config: String,
        pub now: String,
        pub tasks: Vec<TaskRow>,
        pub summary: Summary,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct TaskRow {
        pub name: String,
        pub artifact: String,
        #[serde(deserialize_with = "nullable")]
        pub path: Option<String>,
        pub status: TaskStatus,
        #[serde(deserialize_with = "nullable")]
        pub age_seconds: Option<i64>,
        #[serde(deserialize_with = "nullable")]
        pub max_age_seconds: Option<u64>,
        #[serde(deserialize_with = "nullable")]
        pub warn_age_seconds: Option<u64>,
        #[serde(deserialize_with = "nullable")]
        pub schedule: Option<String>,
        #[serde(deserialize_with = "nullable")]
        pub tz: Option<String>,
        #[serde(deserialize_with = "nullable")]
        pub grace_seconds: Option<u64>,
        #[serde(deserialize_with = "nullable")]
        pub last_due: Option<String>,
        #[serde(deserialize_with = "nullable")]
        pub next_due: Option<String>,
        pub timestamp: String,
        #[serde(deserialize_with = "nullable")]
        pub artifact_time: Option<String>,
        #[serde(deserialize_with = "nullable")]
        pub mtime: Option<String>,
        #[serde(deserialize_with = "nullable")]
        pub size: Option<u64>,
        #[serde(deserialize_with = "nullable")]
        pub message: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Summary {
        pub total: usize,
        pub fresh: usize,
        pub stale: usize,
        pub missing: usize,
        pub empty: usize,
        pub error: usize,
        pub future: usize,
        pub too_large: usize,
        pub warn: usize,
        pub paused: usize,
    }

    /// `--format json cron-sentinel --check-config`: the tasks as configured, no file looked at.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ConfigDocument {
        pub tool: String,
        pub status: Status,
        pub marker: String,
        pub config: String,
        pub tasks: Vec<ConfiguredTask>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ConfiguredTask {
        pub name: String,
        pub artifact: String,
        #[serde(deserialize_with = "nullable")]
        pub max_age_seconds: Option<u64>,
        #[serde(deserialize_with = "nullable")]
        pub warn_age_seconds: Option<u64>,
        #[serde(deserialize_with = "nullable")]
        pub schedule: Option<String>,
        #[serde(deserialize_with = "nullable")]
        pub tz: Option<String>,
        #[serde(deserialize_with = "nullable")]
        pub grace_seconds: Option<u64>,
        pub timestamp: String,
        #[serde(deserialize_with = "nullable")]
        pub max_size: Option<u64>,
        #[serde(deserialize_with = "nullable")]
        pub min_size: Option<u64>,
        pub enabled: bool,
        #[serde(deserialize_with = "nullable")]
        pub paused_until: Option<String>,
    }

    /// `--format json cron-sentinel --explain TASK`: a schedule's last and next starts.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ExplainDocument {
        pub tool: String,
        pub status: Status,
        pub marker: String,
        pub task: String,
        pub schedule: String,
        pub tz: String,
        pub grace_seconds: u64,
        #[serde(deserialize_with = "nullable")]
        pub last: Option<Start>,
        pub next: Vec<Start>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Start {
        pub local: String,
        pub utc: String,
    }
}

fn env_with_config(config: &str) -> TestEnv {
    let env = TestEnv::new();
    env.write("deploy/cron/sentinel.yaml", config);
    env
}

/// `mmops ARGS` with "now" at [`NOW`], for the caller to state what it expects.
fn run_at<'a>(env: &'a TestEnv, args: &[&str]) -> Check<'a> {
    env.check(args).env("CI_FAKE_UTC", NOW)
}

/// `--format json cron-sentinel ARGS` at [`NOW`]: exit `code`, nothing on stderr, the document.
#[track_caller]
fn document(env: &TestEnv, args: &[&str], code: i32) -> Document {
    document_at(env, NOW, args, code)
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
    run_at(&env, &["cron-sentinel"])
        .code(0)
        .stdout_is(
            "TASK     STATUS  AGE     MAX AGE  ARTIFACT\n\
             nightly  FRESH   3h 12m  1d 12h   reports/nightly.json\n\
             soak     FRESH   2d      1w       reports/soak.json\n\
             2 tasks: 2 fresh\n\
             | cron_sentinel | OK | CRON_SENTINEL=OK |\n",
        )
        .stderr_empty()
        .run();
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
    let doc = document(&env, &[], 1);
    assert_eq!(
        (doc.tool.as_str(), doc.status, doc.marker.as_str()),
        ("cron_sentinel", Status::Fail, "CRON_SENTINEL=FAIL")
    );
    assert_eq!((doc.config.as_str(), doc.now.as_str()), ("deploy/cron/sentinel.yaml", NOW));
    let statuses: Vec<(&str, TaskStatus)> = doc.tasks.iter().map(|t| (t.name.as_str(), t.status)).collect();
    assert_eq!(
        statuses,
        [
            ("fresh", TaskStatus::Fresh),
            ("stale", TaskStatus::Stale),
            ("missing", TaskStatus::Missing),
            ("empty", TaskStatus::Empty),
            ("future", TaskStatus::Future),
            ("directory", TaskStatus::Error),
            ("disabled", TaskStatus::Paused),
            ("maintenance", TaskStatus::Paused),
            ("pause_over", TaskStatus::Stale),
        ]
    );
    let by_name = |name: &str| doc.tasks.iter().find(|t| t.name == name).unwrap();
    let stale = by_name("stale");
    assert_eq!(stale.age_seconds, Some(7200));
    assert_eq!(stale.max_age_seconds, Some(3600));
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

    let text = run_at(&env, &["cron-sentinel"])
        .code(1)
        .stdout_contains("9 tasks: 1 fresh, 2 stale, 1 missing, 1 empty, 1 error, 1 future, 2 paused\n")
        .stderr_empty()
        .run();
    assert_eq!(text.last_line(), "| cron_sentinel | FAIL | CRON_SENTINEL=FAIL |");
}

#[test]
fn paused_tasks_do_not_fail_the_check() {
    let env =
        env_with_config("tasks:\n  - {name: off, artifact: nothing.json, max_age: 1h, enabled: false}\n");
    run_at(&env, &["cron-sentinel"])
        .code(0)
        .stdout_is(
            "TASK  STATUS  AGE  MAX AGE  ARTIFACT\n\
             off   PAUSED  -    1h       nothing.json\n  \
             ↳ disabled in the config\n\
             1 task: 1 paused\n\
             | cron_sentinel | OK | CRON_SENTINEL=OK |\n",
        )
        .stderr_empty()
        .run();
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
    let doc = document(&env, &[], 1);
    assert_eq!(doc.tasks[0].status, TaskStatus::Fresh);
    assert_eq!(doc.tasks[0].path.as_deref(), Some("reports/nightly_20251011.json"));
    assert_eq!(doc.tasks[1].status, TaskStatus::Missing);
    assert_eq!(doc.tasks[1].message.as_deref(), Some("no file matches reports/weekly_*.json"));
}

/// A task watching the textfile folder (`textfile/*.prom`) found the sentinel's own
/// `--prom-file`, rewritten on every run, as its newest match: FRESH forever, OK. Its own
/// textfile and any `.mmops-tmp-*` file never match now; a task naming it exactly is exit 2.
#[test]
fn the_sentinels_own_prom_file_never_keeps_a_task_fresh() {
    let env = env_with_config("tasks:\n  - {name: backup_metrics, artifact: 'textfile/*', max_age: 1d}\n");
    env.write("textfile/backup.prom", "backup_ok 1\n");
    env.set_mtime("textfile/backup.prom", utc("2025-10-01T00:00:00Z"));
    env.write("textfile/.mmops-tmp-1-abc", "");
    for _ in 0..2 {
        let doc = document(&env, &["--prom-file", "textfile/cron.prom"], 1);
        assert_eq!(doc.tasks[0].status, TaskStatus::Stale);
        assert_eq!(doc.tasks[0].path.as_deref(), Some("textfile/backup.prom"));
    }
    let env = env_with_config("tasks:\n  - {name: own, artifact: textfile/cron.prom, max_age: 1d}\n");
    env.write("textfile/cron.prom", "old\n");
    run_at(&env, &["cron-sentinel", "--prom-file", "./textfile/cron.prom"])
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: --prom-file ./textfile/cron.prom is the artifact of task \"own\"; the sentinel would \
             keep it fresh itself: give the Prometheus file its own path\n",
        )
        .run();
    assert_eq!(env.read("textfile/cron.prom"), "old\n");
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
    let doc = document(&env, &[], 1);
    assert_eq!((doc.tasks[0].status, doc.tasks[0].age_seconds), (TaskStatus::Fresh, Some(3600)));
    assert_eq!(doc.tasks[1].status, TaskStatus::Missing);
    assert_eq!(doc.tasks[1].message.as_deref(), Some("broken.json is a dangling symlink to real/gone.json"));
}

#[test]
fn task_filter_checks_only_named_tasks() {
    let env = env_with_config(
        "tasks:\n  - {name: a, artifact: a.json, max_age: 1h}\n  - {name: b, artifact: b.json, max_age: 1h}\n  - {name: c, artifact: c.json, max_age: 1h}\n",
    );
    env.write("b.json", "{}");
    env.set_mtime("b.json", utc("2025-10-11T11:59:00Z"));
    let doc = document(&env, &["--task", "b"], 0);
    assert_eq!(doc.tasks.len(), 1);
    assert_eq!(doc.tasks[0].name, "b");
    let doc = document(&env, &["--task", "c", "--task", "a"], 1);
    let names: Vec<&str> = doc.tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["a", "c"], "config order, not flag order");

    run_at(&env, &["cron-sentinel", "--task", "zz"])
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: unknown task \"zz\" in --task; deploy/cron/sentinel.yaml defines: a, b, c\n",
        )
        .run();
}

#[test]
fn chdir_resolves_config_and_artifacts_there() {
    let env = TestEnv::new();
    env.write("ops/deploy/cron/sentinel.yaml", "tasks:\n  - {name: a, artifact: out/a.json, max_age: 1h}\n");
    env.write("ops/out/a.json", "{}");
    env.set_mtime("ops/out/a.json", utc("2025-10-11T11:00:00Z"));
    run_at(&env, &["-C", "ops", "cron-sentinel"])
        .code(0)
        .stdout_is(
            "TASK  STATUS  AGE  MAX AGE  ARTIFACT\n\
             a     FRESH   1h   1h       out/a.json\n\
             1 task: 1 fresh\n\
             | cron_sentinel | OK | CRON_SENTINEL=OK |\n",
        )
        .stderr_empty()
        .run();
    run_at(&env, &["cron-sentinel"])
        .code(2)
        .stdout_empty()
        .stderr_contains("mmops: error: default config deploy/cron/sentinel.yaml not found in ")
        .run();
}

#[test]
fn fake_clock_decides_freshness() {
    let env = env_with_config("tasks:\n  - {name: a, artifact: a.json, max_age: 1h}\n");
    env.write("a.json", "{}");
    env.set_mtime("a.json", utc("2025-10-11T11:00:00Z"));
    for (now, code, verdict) in [("2025-10-11T12:00:00Z", 0, "OK"), ("2025-10-11T12:00:01Z", 1, "FAIL")] {
        env.check(["--marker-only", "cron-sentinel"])
            .env("CI_FAKE_UTC", now)
            .code(code)
            .stdout_is(&format!("| cron_sentinel | {verdict} | CRON_SENTINEL={verdict} |\n"))
            .stderr_empty()
            .run();
    }
    // Without the fake clock (set empty: counted as unset) the real "now", years later, makes it
    // stale.
    env.check(["--marker-only", "cron-sentinel"])
        .env("CI_FAKE_UTC", "")
        .code(1)
        .stdout_is("| cron_sentinel | FAIL | CRON_SENTINEL=FAIL |\n")
        .stderr_empty()
        .run();
}

#[test]
fn marker_only_prints_only_the_marker() {
    let env = env_with_config("tasks:\n  - {name: a, artifact: a.json, max_age: 1h}\n");
    run_at(&env, &["--marker-only", "cron-sentinel"])
        .code(1)
        .stdout_is("| cron_sentinel | FAIL | CRON_SENTINEL=FAIL |\n")
        .stderr_empty()
        .run();
}

#[test]
fn no_color_and_pipes_get_plain_text() {
    let env = env_with_config("tasks:\n  - {name: a, artifact: a.json, max_age: 1h}\n");
    let plain = "TASK  STATUS   AGE  MAX AGE  ARTIFACT\n\
                 a     MISSING  -    1h       a.json\n  \
                 ↳ a.json does not exist\n\
                 1 task: 1 missing\n\
                 | cron_sentinel | FAIL | CRON_SENTINEL=FAIL |\n";
    run_at(&env, &["cron-sentinel"]).env("NO_COLOR", "1").code(1).stdout_is(plain).stderr_empty().run();
    // A pipe without NO_COLOR is plain too.
    run_at(&env, &["cron-sentinel"]).code(1).stdout_is(plain).stderr_empty().run();
    let forced = run_at(&env, &["--color", "always", "cron-sentinel"])
        .code(1)
        .stdout_contains("\x1b[31m| cron_sentinel | FAIL |")
        .stderr_empty()
        .run();
    assert_ne!(forced.stdout, plain);
}

#[test]
fn prom_file_has_exact_exposition() {
    let env = env_with_config(
        "tasks:\n  - {name: fresh, artifact: a.json, max_age: 1h}\n  - {name: 'we\"ird', artifact: b.json, max_age: 2h}\n  - {name: daily, artifact: a.json, schedule: '0 11 * * *', warn_age: 20m}\n",
    );
    env.write("a.json", "{}");
    env.set_mtime("a.json", utc("2025-10-11T11:30:00Z"));
    run_at(&env, &["cron-sentinel", "--prom-file", "metrics/cron.prom"])
        .code(1)
        .stdout_contains("| cron_sentinel | FAIL | CRON_SENTINEL=FAIL |\n")
        .stderr_empty()
        .run();
    assert_eq!(
        env.read("metrics/cron.prom"),
        "# HELP mmops_cron_sentinel_task_fresh 1 when the task's artifact is fresh (WARN included), 0 when stale, missing, empty, unreadable, future-dated or paused.
# TYPE mmops_cron_sentinel_task_fresh gauge
mmops_cron_sentinel_task_fresh{task=\"fresh\"} 1
mmops_cron_sentinel_task_fresh{task=\"we\\\"ird\"} 0
mmops_cron_sentinel_task_fresh{task=\"daily\"} 1
# HELP mmops_cron_sentinel_task_paused 1 when the task is disabled or paused for maintenance.
# TYPE mmops_cron_sentinel_task_paused gauge
mmops_cron_sentinel_task_paused{task=\"fresh\"} 0
mmops_cron_sentinel_task_paused{task=\"we\\\"ird\"} 0
mmops_cron_sentinel_task_paused{task=\"daily\"} 0
# HELP mmops_cron_sentinel_task_age_seconds Seconds since the task's artifact was modified (absent when no file was found).
# TYPE mmops_cron_sentinel_task_age_seconds gauge
mmops_cron_sentinel_task_age_seconds{task=\"fresh\"} 1800
mmops_cron_sentinel_task_age_seconds{task=\"daily\"} 1800
# HELP mmops_cron_sentinel_task_max_age_seconds The task's configured max_age in seconds.
# TYPE mmops_cron_sentinel_task_max_age_seconds gauge
mmops_cron_sentinel_task_max_age_seconds{task=\"fresh\"} 3600
mmops_cron_sentinel_task_max_age_seconds{task=\"we\\\"ird\"} 7200
# HELP mmops_cron_sentinel_task_warn 1 when the task is WARN: older than warn_age but otherwise fresh.
# TYPE mmops_cron_sentinel_task_warn gauge
mmops_cron_sentinel_task_warn{task=\"fresh\"} 0
mmops_cron_sentinel_task_warn{task=\"we\\\"ird\"} 0
mmops_cron_sentinel_task_warn{task=\"daily\"} 1
# HELP mmops_cron_sentinel_task_last_due_timestamp_seconds Unix time of the latest scheduled start whose grace has run out (scheduled tasks).
# TYPE mmops_cron_sentinel_task_last_due_timestamp_seconds gauge
mmops_cron_sentinel_task_last_due_timestamp_seconds{task=\"daily\"} 1760180400
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
    run_at(&env, &["cron-sentinel", "--check-config"])
        .code(0)
        .stdout_is(
            "deploy/cron/sentinel.yaml: 1 task, valid\n  a: never-there.json within 1d 12h\n| cron_sentinel | OK | CRON_SENTINEL=CONFIG_OK |\n",
        )
        .stderr_empty()
        .run();
}

// The --check-config and --explain documents had no JSON test at all: every field, typed.
#[test]
fn check_config_and_explain_json_documents() {
    let env = env_with_config(concat!(
        "tasks:\n",
        "  - {name: nightly, artifact: a.json, schedule: '30 1 * * *', tz: Europe/London, min_size: 1K, max_size: 2MB}\n",
        "  - {name: plain, artifact: b.json, max_age: 1h, warn_age: 20m, enabled: false}\n",
        "  - {name: later, artifact: c.json, max_age: 1h, paused_until: '2026-10-30T00:00:00Z', timestamp: 'json:/runtime/utc'}\n",
    ));
    let config: ConfigDocument = env
        .check(["--format", "json", "cron-sentinel", "--check-config"])
        .code(0)
        .stdout(Expect::Anything)
        .stderr_empty()
        .run()
        .json_as();
    assert_eq!(
        (config.tool.as_str(), config.status, config.marker.as_str(), config.config.as_str()),
        ("cron_sentinel", Status::Ok, "CRON_SENTINEL=CONFIG_OK", "deploy/cron/sentinel.yaml")
    );
    let task = |name: &str, artifact: &str| ConfiguredTask {
        name: name.into(),
        artifact: artifact.into(),
        max_age_seconds: None,
        warn_age_seconds: None,
        schedule: None,
        tz: None,
        grace_seconds: None,
        timestamp: "mtime".into(),
        max_size: None,
        min_size: None,
        enabled: true,
        paused_until: None,
    };
    assert_eq!(
        config.tasks,
        [
            ConfiguredTask {
                schedule: Some("30 1 * * *".into()),
                tz: Some("Europe/London".into()),
                grace_seconds: Some(3600),
                max_size: Some(2_000_000),
                min_size: Some(1024),
                ..task("nightly", "a.json")
            },
            ConfiguredTask {
                max_age_seconds: Some(3600),
                warn_age_seconds: Some(1200),
                enabled: false,
                ..task("plain", "b.json")
            },
            ConfiguredTask {
                max_age_seconds: Some(3600),
                paused_until: Some("2026-10-30T00:00:00Z".into()),
                timestamp: "json:/runtime/utc".into(),
                ..task("later", "c.json")
            },
        ]
    );

    let explain: ExplainDocument = env
        .check(["--format", "json", "cron-sentinel", "--explain", "nightly", "--runs", "2"])
        .env("CI_FAKE_UTC", "2026-10-24T12:00:00Z")
        .code(0)
        .stdout(Expect::Anything)
        .stderr_empty()
        .run()
        .json_as();
    assert_eq!(
        (explain.tool.as_str(), explain.status, explain.marker.as_str()),
        ("cron_sentinel", Status::Ok, "CRON_SENTINEL=EXPLAINED")
    );
    assert_eq!(
        (explain.task.as_str(), explain.schedule.as_str(), explain.tz.as_str(), explain.grace_seconds),
        ("nightly", "30 1 * * *", "Europe/London", 3600)
    );
    let start = |local: &str, utc: &str| Start { local: local.into(), utc: utc.into() };
    assert_eq!(explain.last, Some(start("2026-10-24T01:30:00+01:00", "2026-10-24T00:30:00Z")));
    assert_eq!(
        explain.next,
        [
            start("2026-10-25T01:30:00+01:00", "2026-10-25T00:30:00Z"),
            start("2026-10-26T01:30:00+00:00", "2026-10-26T01:30:00Z"),
        ]
    );
}

#[test]
fn shipped_config_is_valid() {
    let env = TestEnv::new();
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/cron/sentinel.yaml");
    let run = env
        .check(["cron-sentinel", "--check-config", "--config", shipped])
        .code(0)
        .stdout_contains("| cron_sentinel | OK | CRON_SENTINEL=CONFIG_OK |\n")
        .stderr_empty()
        .run();
    for task in [
        "nightly_tests: artifacts/reports/nightly_results.json after each run of 0 2 * * MON-FRI Europe/London (+2h grace)",
        "soak_metrics: artifacts/reports/soak_metrics.json after each run of 0 1 * * SUN UTC (+8h grace)",
        "readiness_score: artifacts/reports/readiness.json within 1d",
    ] {
        assert!(run.stdout.contains(task), "{}", run.stdout);
    }
}

#[test]
fn bad_inputs_exit_2_and_name_the_problem() {
    let cases: &[(&str, Option<&str>, &str)] = &[
        ("missing config", None, "mmops: error: default config deploy/cron/sentinel.yaml not found in /tmp/"),
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
            "deploy/cron/sentinel.yaml:3:5: duplicate task name \"a\" (task #2 repeats task #1 at line 2); names must be unique",
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
        // Regression: these read as false and silently disabled the task.
        (
            "quoted no",
            Some("tasks:\n  - name: a\n    artifact: a.json\n    max_age: 1h\n    enabled: \"no\"\n"),
            "mmops: error: deploy/cron/sentinel.yaml:5:14: enabled must be true or false, unquoted, not the text \"no\"",
        ),
        (
            "quoted false",
            Some("tasks:\n  - name: a\n    artifact: a.json\n    max_age: 1h\n    enabled: 'false'\n"),
            "mmops: error: deploy/cron/sentinel.yaml:5:14: enabled must be true or false, unquoted, not the text \"false\"",
        ),
        (
            "bare n",
            Some("tasks:\n  - name: a\n    artifact: a.json\n    max_age: 1h\n    enabled: n\n"),
            "mmops: error: deploy/cron/sentinel.yaml:5:14: enabled must be true or false, unquoted, not the text \"n\"",
        ),
        (
            "bare off",
            Some("tasks:\n  - name: a\n    artifact: a.json\n    max_age: 1h\n    enabled: off\n"),
            "mmops: error: deploy/cron/sentinel.yaml:5:14: enabled must be true or false, unquoted, not the text \"off\"",
        ),
        (
            "json string",
            Some(
                "{\"tasks\": [{\"name\": \"a\", \"artifact\": \"a.json\", \"max_age\": \"1h\", \"enabled\": \"false\"}]}",
            ),
            "mmops: error: deploy/cron/sentinel.yaml:1:76: enabled must be true or false, unquoted, not the text \"false\"",
        ),
    ];
    for (what, config, needle) in cases {
        let env = TestEnv::new();
        if let Some(config) = config {
            env.write("deploy/cron/sentinel.yaml", config);
        }
        let run = run_at(&env, &["cron-sentinel", "--prom-file", "out.prom"])
            .code(2)
            .stdout_empty()
            .stderr_contains(needle)
            .stderr_contains("mmops: error: ")
            .run();
        assert!(run.stderr.starts_with("mmops: error: "), "{what}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{what}: one error line");
        assert!(!env.exists("out.prom"), "{what}: nothing written");
    }
}

#[test]
fn bad_fake_clock_is_exit_2() {
    let env = env_with_config("tasks:\n  - {name: a, artifact: a.json, max_age: 1h}\n");
    env.check(["cron-sentinel"])
        .env("CI_FAKE_UTC", "2025-13-01T00:00:00Z")
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: CI_FAKE_UTC=\"2025-13-01T00:00:00Z\" is not an RFC 3339 instant; set it like \
             1970-01-01T00:00:00Z or unset it: input is out of range\n",
        )
        .run();
}

/// Permission bits do not stop root, so the unreadable case runs as `nobody` via setpriv.
#[test]
fn unreadable_artifact_is_error_with_reason() {
    if !crate::support::nobody_available() {
        return;
    }
    let env = env_with_config("tasks:\n  - {name: locked, artifact: vault/a.json, max_age: 1h}\n");
    env.write("vault/a.json", "{}");
    std::fs::set_permissions(env.path("vault"), std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let run = env.run_as_nobody_with_env(["--format", "json", "cron-sentinel"], &[("CI_FAKE_UTC", NOW)]);
    std::fs::set_permissions(env.path("vault"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // Not a `Check` (that runs as the current user): all three streams asserted here.
    run.expect_code(1);
    assert_eq!(run.stderr, "", "JSON mode printed diagnostics");
    let doc: Document = run.json_as();
    assert_eq!(doc.tasks[0].status, TaskStatus::Error);
    assert_eq!(doc.tasks[0].message.as_deref(), Some("cannot check vault/a.json: permission denied"));
}

/// A temporary folder on tmpfs, which stores mtimes far beyond year 9999 (ext4 stops at 2446).
/// Under `CI=true` a missing tmpfs fails the test instead of skipping it.
#[allow(clippy::print_stderr, reason = "a local skip must say so on stderr")]
fn tmpfs_dir() -> Option<tempfile::TempDir> {
    let made = tempfile::Builder::new().prefix("mmops-test-").tempdir_in("/dev/shm");
    match made {
        Ok(dir) => Some(dir),
        Err(error) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("/dev/shm (tmpfs) is required under CI=true: {error}")
        }
        Err(error) => {
            eprintln!("skipped: no tmpfs at /dev/shm ({error})");
            None
        }
    }
}

// Regression: a file dated year 262,000 (kept by tmpfs) crashed cron-sentinel with exit 101
// ("No such local time"); now it is FUTURE, and one dated before year -262,000 is ERROR.
#[test]
fn mtime_beyond_the_representable_range_is_future_not_a_panic() {
    let Some(shm) = tmpfs_dir() else { return };
    let ahead = shm.path().join("ahead.json");
    let behind = shm.path().join("behind.json");
    for (path, seconds) in [(&ahead, 9_000_000_000_000_i64), (&behind, -9_000_000_000_000)] {
        std::fs::write(path, "{}").unwrap();
        filetime::set_file_mtime(path, filetime::FileTime::from_unix_time(seconds, 0)).unwrap();
        assert_eq!(
            filetime::FileTime::from_last_modification_time(&path.metadata().unwrap()).unix_seconds(),
            seconds
        );
    }
    let env = env_with_config(&format!(
        "tasks:\n  - {{name: ahead, artifact: '{}', max_age: 1h}}\n  - {{name: behind, artifact: '{}', max_age: 1h}}\n  - {{name: glob, artifact: '{}/*.json', max_age: 1h}}\n",
        ahead.display(),
        behind.display(),
        shm.path().display()
    ));
    let run = run_at(&env, &["cron-sentinel"]).code(1).stdout(Expect::Anything).stderr_empty().run();
    let range =
        "seconds since 1970 is after +262142-12-31T23:59:59Z, outside the range of dates mmops handles";
    let expected = format!(
        "TASK    STATUS  AGE  MAX AGE  ARTIFACT\n\
         ahead   FUTURE  -    1h       {ahead}\n  \
         ↳ {ahead}: modification time 9000000000000 {range}; a clock is wrong, freshness cannot be trusted\n\
         behind  ERROR   -    1h       {behind}\n  \
         ↳ cannot check {behind}: its modification time -9000000000000 seconds since 1970 is before -262143-01-01T00:00:00Z, outside the range of dates mmops handles\n\
         glob    FUTURE  -    1h       {dir}/*.json\n  \
         ↳ {ahead}: modification time 9000000000000 {range}; a clock is wrong, freshness cannot be trusted\n\
         3 tasks: 1 error, 2 future\n\
         | cron_sentinel | FAIL | CRON_SENTINEL=FAIL |\n",
        ahead = ahead.display(),
        behind = behind.display(),
        dir = shm.path().display()
    );
    assert_eq!(run.stdout, expected);
}

// Regression (issue 11 item 13): a config from /dev/zero grew cron-sentinel to 6.9 GB; a
// config larger than the limit and a FIFO must fail fast, with nothing written.
#[test]
fn config_from_a_device_a_huge_file_or_a_fifo_fails_fast() {
    let env = TestEnv::new();
    env.check(["cron-sentinel", "--config", "/dev/zero", "--prom-file", "out.prom"])
        .code(2)
        .stdout_empty()
        .stderr_is("mmops: error: /dev/zero: the config file is a character device, not a regular file\n")
        .run();
    std::os::unix::fs::symlink("/dev/zero", env.path("zero.yaml")).unwrap();
    env.check(["cron-sentinel", "--config", "zero.yaml"])
        .code(2)
        .stdout_empty()
        .stderr_is("mmops: error: zero.yaml: the config file is a character device, not a regular file\n")
        .run();
    let mut huge = "tasks:\n  - {name: a, artifact: a.json, max_age: 1h}\n".to_string();
    huge.push_str(&"#".repeat(4 * 1024 * 1024));
    env.write("huge.yaml", huge);
    env.check(["cron-sentinel", "--config", "huge.yaml", "--prom-file", "out.prom"])
        .code(2)
        .stdout_empty()
        .stderr_is("mmops: error: huge.yaml: the config file is larger than the 4.0 MiB limit for a config file; is this the right file?\n")
        .run();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        env.path("fifo.yaml"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let mut child = env
        .command()
        .args(["cron-sentinel", "--config", "fifo.yaml"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("cron-sentinel hung on a FIFO config");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "mmops: error: fifo.yaml: the config file is a FIFO, not a regular file\n"
    );
    assert!(!env.exists("out.prom"));
}

/// A small seeded generator (splitmix64), so a failing case can be replayed with its seed.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn between(&mut self, low: u32, high: u32) -> u32 {
        low + self.below(u64::from(high - low + 1)) as u32
    }
}

/// One random cron field: mostly valid syntax (star, step, value, range, range/step, list,
/// names), sometimes invalid, biased to the early-morning hours where clocks change.
fn random_field(rng: &mut SplitMix, low: u32, high: u32, names: &[&str], hot: Option<(u32, u32)>) -> String {
    let value = |rng: &mut SplitMix| -> String {
        let number = match hot {
            Some((hot_low, hot_high)) if rng.below(2) == 0 => rng.between(hot_low, hot_high),
            _ => rng.between(low, high),
        };
        let name_base = if names.len() == 12 { 1 } else { 0 };
        if !names.is_empty() && rng.below(4) == 0 && (number - name_base) < names.len() as u32 {
            let name = names[(number - name_base) as usize];
            if rng.below(2) == 0 { name.to_lowercase() } else { name.to_string() }
        } else {
            number.to_string()
        }
    };
    let range = |rng: &mut SplitMix| -> String {
        let a = rng.between(low, high);
        let b = rng.between(a, high);
        format!("{a}-{b}")
    };
    match rng.below(20) {
        0..=4 => "*".into(),
        5 | 6 => format!("*/{}", rng.between(1, (high - low).max(1))),
        7..=10 => value(rng),
        11 | 12 => range(rng),
        13 => format!("{}/{}", range(rng), rng.between(1, 10)),
        14 | 15 => {
            let count = rng.between(2, 4);
            (0..count)
                .map(|_| if rng.below(3) == 0 { range(rng) } else { value(rng) })
                .collect::<Vec<_>>()
                .join(",")
        }
        16 => format!("{}/{}", rng.between(low, high), rng.between(1, 15)),
        17 => format!("{}", high + 1),
        18 => ["*/0", "", "1-", "-1", "a", "2-1"][rng.below(6) as usize].to_string(),
        _ => value(rng),
    }
}

fn random_expression(rng: &mut SplitMix) -> String {
    const MONTHS: [&str; 12] =
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
    const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
    let month_hot = Some((3, 4)); // the spring changes; October/November come via the range
    let minute_hot = if rng.below(3) == 0 { (0, 1) } else { (28, 32) };
    [
        random_field(rng, 0, 59, &[], Some(minute_hot)),
        random_field(rng, 0, 23, &[], Some((0, 3))),
        random_field(rng, 1, 31, &[], Some((1, 8))),
        if rng.below(2) == 0 {
            random_field(rng, 1, 12, &MONTHS, month_hot)
        } else {
            random_field(rng, 9, 12, &MONTHS, None)
        },
        random_field(rng, 0, 7, &DAYS, None),
    ]
    .join(" ")
}

/// The Python to run cronsim with: `MMOPS_TEST_PYTHON` (CI's virtualenv), else the local
/// `target/test-venv`. None (test skipped, or failed under CI=true) when cronsim is missing.
fn cronsim_python() -> Option<String> {
    let default = concat!(env!("CARGO_MANIFEST_DIR"), "/target/test-venv/bin/python").to_string();
    let python = std::env::var("MMOPS_TEST_PYTHON").unwrap_or(default);
    let works = std::process::Command::new(&python)
        .args(["-c", "import cronsim"])
        .output()
        .is_ok_and(|output| output.status.success());
    let install = "python3 -m venv target/test-venv && target/test-venv/bin/pip install cronsim, or set MMOPS_TEST_PYTHON";
    if works || crate::support::skip_or_fail(&format!("{python} cannot import cronsim"), install) {
        Some(python)
    } else {
        None
    }
}

/// Differential test: mmops's schedule evaluation against cronsim, on seeded random
/// expressions in five zones at instants around their daylight-saving changes. Every case
/// must agree on validity, the next start and the latest start. `MMOPS_CRON_SEED` replays.
#[test]
fn schedules_agree_with_cronsim_across_zones_and_dst_changes() {
    let Some(python) = cronsim_python() else { return };
    let seed: u64 =
        std::env::var("MMOPS_CRON_SEED").ok().and_then(|seed| seed.parse().ok()).unwrap_or(20261201);
    let mut rng = SplitMix(seed);
    // Local dates of clock changes (2025-2026); instants are drawn within two days of them.
    let zones: [(&str, &[&str]); 5] = [
        ("Europe/London", &["2025-03-30", "2025-10-26", "2026-03-29", "2026-10-25"]),
        ("America/New_York", &["2025-03-09", "2025-11-02", "2026-03-08", "2026-11-01"]),
        ("Australia/Lord_Howe", &["2025-04-06", "2025-10-05", "2026-04-05", "2026-10-04"]),
        ("Asia/Kolkata", &["2025-06-01", "2026-01-01"]),
        ("UTC", &["2025-12-31", "2026-02-28"]),
    ];
    let expressions = 3000;
    let mut cases = Vec::new();
    for _ in 0..expressions {
        let expression = random_expression(&mut rng);
        for (zone, dates) in zones {
            let date = dates[rng.below(dates.len() as u64) as usize];
            let base = utc(&format!("{date}T00:00:00Z")).timestamp();
            let mut at = base + rng.below(4 * 86400) as i64 - 2 * 86400;
            if rng.below(2) == 0 {
                at -= at % 60; // on a minute boundary, where off-by-one errors live
            }
            cases.push(serde_json::json!({"expression": expression, "zone": zone, "at": at}));
        }
    }
    let mut child = std::process::Command::new(&python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cli/cron_reference.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run the cronsim reference");
    let input = serde_json::to_vec(&cases).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &input));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(output.status.success(), "cron_reference.py failed");
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Reference {
        valid: bool,
        next: Option<i64>,
        latest: Option<i64>,
    }
    let references: Vec<Reference> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(references.len(), cases.len());
    let show = |unix: Option<i64>| {
        unix.map_or("none".to_string(), |unix| {
            chrono::DateTime::from_timestamp(unix, 0).unwrap().to_rfc3339()
        })
    };
    let mut failures = Vec::new();
    let mut valid = 0;
    for (case, reference) in cases.iter().zip(&references) {
        let (expression, zone, at) = (
            case["expression"].as_str().unwrap(),
            case["zone"].as_str().unwrap(),
            case["at"].as_i64().unwrap(),
        );
        let ours = mmops::cron_sentinel::schedule_probe(expression, zone, at);
        let agrees = match &ours {
            Ok((next, latest)) => reference.valid && *next == reference.next && *latest == reference.latest,
            Err(_) => !reference.valid,
        };
        valid += usize::from(reference.valid);
        if !agrees {
            failures.push(format!(
                "{expression:?} in {zone} at {}: mmops {}, cronsim {}",
                show(Some(at)),
                match &ours {
                    Ok((next, latest)) => format!("next {} latest {}", show(*next), show(*latest)),
                    Err(error) => format!("invalid ({error})"),
                },
                if reference.valid {
                    format!("next {} latest {}", show(reference.next), show(reference.latest))
                } else {
                    "invalid".into()
                }
            ));
        }
    }
    #[allow(clippy::print_stderr, reason = "trial counts are part of the test's evidence")]
    {
        eprintln!(
            "cronsim differential: seed {seed}, {} cases ({valid} valid), {} disagree",
            cases.len(),
            failures.len()
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases disagree with cronsim:\n{}",
        failures.len(),
        cases.len(),
        failures[..failures.len().min(30)].join("\n")
    );
}

/// Monday 2026-11-30 02:30 in London (UTC+0): the weekday job last ran on Friday, and
/// today's 02:00 run still has its grace hour.
const MONDAY: &str = "2026-11-30T02:30:00Z";

fn scheduled_env() -> TestEnv {
    let env = env_with_config(concat!(
        "tasks:\n",
        "  - {name: weekday_maxage, artifact: reports/nightly.json, max_age: 36h}\n",
        "  - {name: weekday, artifact: reports/nightly.json, schedule: '0 2 * * MON-FRI', tz: Europe/London, grace: 1h}\n",
        "  - {name: missed, artifact: reports/old.json, schedule: '0 2 * * *', tz: Europe/London}\n",
        "  - {name: restored, artifact: reports/restored.json, schedule: '@daily', timestamp: 'json:/runtime/utc'}\n",
        "  - {name: epoch, artifact: reports/epoch.json, max_age: 1d, warn_age: 2h, timestamp: 'json:/t'}\n",
        "  - {name: runaway, artifact: reports/nightly.json, max_age: 7d, max_size: 2}\n",
    ));
    env.write("reports/nightly.json", "{\"ok\": true}");
    env.set_mtime("reports/nightly.json", utc("2026-11-27T02:20:00Z"));
    env.write("reports/old.json", "{}");
    env.set_mtime("reports/old.json", utc("2026-11-28T02:10:00Z"));
    // Copied this morning, but its contents say it was written two days ago.
    env.write("reports/restored.json", "{\"runtime\": {\"utc\": \"2026-11-28T00:05:00+00:00\"}}");
    env.set_mtime("reports/restored.json", utc("2026-11-30T08:00:00Z"));
    env.write("reports/epoch.json", "{\"t\": 1795995000}");
    env
}

#[test]
fn schedules_know_the_weekend_and_name_the_missed_run() {
    let env = scheduled_env();
    let run = env
        .check(["cron-sentinel"])
        .env("CI_FAKE_UTC", MONDAY)
        .code(1)
        .stdout_is(
            "TASK            STATUS     AGE    MAX AGE  ARTIFACT
weekday_maxage  STALE      3d     1d 12h   reports/nightly.json
  ↳ 1d 12h older than max_age 1d 12h
weekday         FRESH      3d     -        reports/nightly.json
  ↳ due 11-27 02:00+00:00, next 12-01 02:00+00:00
missed          STALE      2d     -        reports/old.json
  ↳ no output since the run due 2026-11-29 02:00 Europe/London (+1h grace)
  ↳ due 11-29 02:00+00:00, next 12-01 02:00+00:00
restored        STALE      2d 2h  -        reports/restored.json
  ↳ no output since the run due 2026-11-30 00:00 UTC (+1h grace)
  ↳ due 11-30 00:00+00:00, next 12-01 00:00+00:00
epoch           WARN       3h     1d       reports/epoch.json
  ↳ 1h older than warn_age 2h
runaway         TOO_LARGE  3d     1w       reports/nightly.json
  ↳ size 12 B is above max_size 2 B
6 tasks: 1 fresh, 1 warn, 3 stale, 1 too large
| cron_sentinel | FAIL | CRON_SENTINEL=FAIL |
",
        )
        .stderr_empty()
        .run();
    assert_eq!(run.code, 1);
    let document =
        document_at(&env, MONDAY, &["--task", "weekday", "--task", "epoch", "--task", "restored"], 1);
    let weekday = &document.tasks[0];
    assert_eq!(
        (weekday.schedule.as_deref(), weekday.tz.as_deref(), weekday.grace_seconds),
        (Some("0 2 * * MON-FRI"), Some("Europe/London"), Some(3600))
    );
    assert_eq!(
        (weekday.last_due.as_deref(), weekday.next_due.as_deref()),
        (Some("2026-11-27T02:00:00+00:00"), Some("2026-12-01T02:00:00+00:00"))
    );
    assert_eq!((weekday.timestamp.as_str(), weekday.max_age_seconds), ("mtime", None));
    let restored = &document.tasks[1];
    assert_eq!(
        (restored.timestamp.as_str(), restored.artifact_time.as_deref(), restored.mtime.as_deref()),
        ("json:/runtime/utc", Some("2026-11-28T00:05:00Z"), Some("2026-11-30T08:00:00Z"))
    );
    let epoch = &document.tasks[2];
    assert_eq!(
        (epoch.status, epoch.warn_age_seconds, epoch.age_seconds),
        (TaskStatus::Warn, Some(7200), Some(10800))
    );
    assert_eq!((document.summary.warn, document.summary.too_large, document.summary.stale), (1, 0, 1));
    // WARN alone passes, unless --fail-on-warn.
    env.check(["--marker-only", "cron-sentinel", "--task", "epoch"])
        .env("CI_FAKE_UTC", MONDAY)
        .code(0)
        .stdout_is("| cron_sentinel | OK | CRON_SENTINEL=OK |\n")
        .stderr_empty()
        .run();
    env.check(["--marker-only", "cron-sentinel", "--task", "epoch", "--fail-on-warn"])
        .env("CI_FAKE_UTC", MONDAY)
        .code(1)
        .stdout_is("| cron_sentinel | FAIL | CRON_SENTINEL=FAIL |\n")
        .stderr_empty()
        .run();
}

/// `--format json cron-sentinel ARGS` at `now`: exit `code`, nothing on stderr, the document.
#[track_caller]
fn document_at(env: &TestEnv, now: &str, args: &[&str], code: i32) -> Document {
    let mut all = vec!["--format", "json", "cron-sentinel"];
    all.extend_from_slice(args);
    env.check(all).env("CI_FAKE_UTC", now).code(code).stdout(Expect::Anything).stderr_empty().run().json_as()
}

#[test]
fn explain_prints_the_next_runs_in_the_zone_and_in_utc() {
    let env = env_with_config(
        "tasks:\n  - {name: nightly, artifact: a.json, schedule: '30 1 * * *', tz: Europe/London}\n  - {name: plain, artifact: a.json, max_age: 1h}\n",
    );
    // Across the October change: 01:30 happens twice on 10-25 and runs once, at the first.
    env.check(["cron-sentinel", "--explain", "nightly", "--runs", "3"])
        .env("CI_FAKE_UTC", "2026-10-24T12:00:00Z")
        .code(0)
        .stdout_is(
            "nightly: 30 1 * * * in Europe/London (+1h grace)
last  2026-10-24T01:30:00+01:00  2026-10-24T00:30:00Z
next  2026-10-25T01:30:00+01:00  2026-10-25T00:30:00Z
next  2026-10-26T01:30:00+00:00  2026-10-26T01:30:00Z
next  2026-10-27T01:30:00+00:00  2026-10-27T01:30:00Z
| cron_sentinel | OK | CRON_SENTINEL=EXPLAINED |
",
        )
        .stderr_empty()
        .run();
    env.check(["cron-sentinel", "--explain", "nope"])
        .code(2)
        .stdout_empty()
        .stderr_is("mmops: error: unknown task \"nope\" in --task; deploy/cron/sentinel.yaml defines: nightly, plain\n")
        .run();
    env.check(["cron-sentinel", "--explain", "plain"])
        .code(2)
        .stdout_empty()
        .stderr_is("mmops: error: task \"plain\" in deploy/cron/sentinel.yaml has no schedule to explain; add schedule: \"<cron expression>\"\n")
        .run();
}

#[test]
fn bad_schedules_zones_graces_and_timestamps_are_exit_2_with_location() {
    let cases = [
        (
            "schedule: '0 25 * * *'",
            "deploy/cron/sentinel.yaml:2:51: schedule \"0 25 * * *\": hour field \"25\" is invalid: 25 is outside 0-23; allowed: 0-23, *, lists (1,5), ranges (1-5) and steps (*/15)",
        ),
        (
            "schedule: '0 2 * * FUN'",
            "deploy/cron/sentinel.yaml:2:51: schedule \"0 2 * * FUN\": day-of-week field \"FUN\" is invalid: \"FUN\" is not a number; allowed: 0-7 (0 and 7 are Sunday) or SUN-SAT, *, lists (1,5), ranges (1-5) and steps (*/15)",
        ),
        (
            "schedule: '@daily', tz: Europe/Londn",
            "deploy/cron/sentinel.yaml:2:65: unknown time zone \"Europe/Londn\" in tz; use an IANA name such as Europe/London, America/New_York or UTC",
        ),
        (
            "schedule: '*/15 * * * *', grace: 20m",
            "grace 20m is longer than the 15m between runs of \"*/15 * * * *\"; a missed run would go unnoticed",
        ),
        ("tz: UTC", "task \"a\" needs max_age (e.g. 36h), schedule (e.g. \"0 2 * * *\"), or both"),
        ("max_age: 1h, grace: 1h", "task \"a\": grace needs a schedule"),
        ("max_age: 1h, warn_age: 2h", "task \"a\": warn_age 2h must be shorter than max_age 1h"),
        (
            "max_age: 1h, timestamp: 'json:runtime'",
            "timestamp \"json:runtime\" is neither mtime nor json:<JSON pointer> such as json:/runtime/utc",
        ),
    ];
    for (fields, needle) in cases {
        let env = env_with_config(&format!("tasks:\n  - {{name: a, artifact: reports/a.json, {fields}}}\n"));
        let run = env
            .check(["cron-sentinel", "--prom-file", "out.prom"])
            .code(2)
            .stdout_empty()
            .stderr_contains(needle)
            .stderr_contains("mmops: error: deploy/cron/sentinel.yaml:")
            .run();
        assert_eq!(run.stderr.lines().count(), 1, "{fields}");
        assert!(!env.exists("out.prom"), "{fields}");
    }
}

#[test]
fn json_timestamps_that_cannot_be_read_are_errors_naming_file_and_pointer() {
    let env = env_with_config(concat!(
        "tasks:\n",
        "  - {name: absent, artifact: a.json, max_age: 1h, timestamp: 'json:/runtime/utc'}\n",
        "  - {name: wrong_type, artifact: b.json, max_age: 1h, timestamp: 'json:/runtime/utc'}\n",
        "  - {name: bad_time, artifact: c.json, max_age: 1h, timestamp: 'json:/runtime/utc'}\n",
        "  - {name: not_json, artifact: d.json, max_age: 1h, timestamp: 'json:/runtime/utc'}\n",
        "  - {name: far, artifact: e.json, max_age: 1h, timestamp: 'json:/t'}\n",
    ));
    env.write("a.json", "{\"runtime\": {}}");
    env.write("b.json", "{\"runtime\": {\"utc\": true}}");
    env.write("c.json", "{\"runtime\": {\"utc\": \"yesterday\"}}");
    env.write("d.json", "not json");
    env.write("e.json", "{\"t\": 1e300}");
    let document = document_at(&env, MONDAY, &[], 1);
    let messages: Vec<(TaskStatus, &str)> =
        document.tasks.iter().map(|task| (task.status, task.message.as_deref().unwrap_or(""))).collect();
    assert_eq!(
        messages,
        [
            (
                TaskStatus::Error,
                "cannot check a.json: timestamp json:/runtime/utc: the file has no value at /runtime/utc"
            ),
            (
                TaskStatus::Error,
                "cannot check b.json: timestamp json:/runtime/utc: the value is a boolean, not an RFC 3339 string or epoch seconds"
            ),
            (
                TaskStatus::Error,
                "cannot check c.json: timestamp json:/runtime/utc: \"yesterday\" is not an RFC 3339 time (premature end of input)"
            ),
            (
                TaskStatus::Error,
                "cannot check d.json: timestamp json:/runtime/utc: not valid JSON (expected ident at line 1 column 2)"
            ),
            (
                TaskStatus::Error,
                "cannot check e.json: timestamp json:/t: 1e+300 is not a usable number of epoch seconds"
            ),
        ]
    );
}

/// Issue 12 item 9: a repeated task name is reported at the repeat's own line and column (JSON
/// carries the location), not at the task list.
#[test]
fn a_duplicate_task_name_is_reported_where_the_duplicate_is() {
    let env = TestEnv::new();
    env.write(
        "deploy/cron/sentinel.yaml",
        "tasks:\n  - name: nightly\n    artifact: a.json\n    max_age: 1h\n  - name: soak\n    artifact: b.json\n    max_age: 1h\n  - artifact: c.json\n    name: nightly\n    max_age: 2h\n",
    );
    let message = "deploy/cron/sentinel.yaml:8:5: duplicate task name \"nightly\" (task #3 repeats task #1 at line 2); \
                   names must be unique";
    env.check(["cron-sentinel", "--check-config"])
        .code(2)
        .stdout_empty()
        .stderr_is(&format!("mmops: error: {message}\n"))
        .run();
    let run = env
        .check(["--format", "json", "cron-sentinel", "--check-config"])
        .code(2)
        .stdout(Expect::Anything)
        .stderr_is(&format!("mmops: error: {message}\n"))
        .run();
    let document: ErrorDocument = run.json_as();
    assert_eq!(
        (document.status.as_str(), document.exit_code, document.error.as_str()),
        ("error", 2, message)
    );
    let location = document.location.expect("a location");
    assert_eq!((location.file.as_str(), location.line, location.column), ("deploy/cron/sentinel.yaml", 8, 5));
}

/// Issue 12 item 2: sizes are echoed as typed next to their binary value, in the check and in the
/// config error; a plain small byte count stays as it was.
#[test]
fn sizes_are_echoed_as_typed() {
    let env = env_with_config(concat!(
        "tasks:\n",
        "  - {name: big, artifact: big.bin, max_age: 1d, max_size: 2KB}\n",
        "  - {name: small, artifact: small.bin, max_age: 1d, min_size: 1.5K}\n",
    ));
    env.write("big.bin", vec![b'x'; 2048]);
    env.write("small.bin", vec![b'x'; 1000]);
    // An hour before the Check's pinned "now".
    env.set_mtime("big.bin", utc("2025-12-31T23:00:00Z"));
    env.set_mtime("small.bin", utc("2025-12-31T23:00:00Z"));
    let doc: Document = env
        .check(["--format", "json", "cron-sentinel"])
        .code(1)
        .stdout(Expect::Anything)
        .stderr_empty()
        .run()
        .json_as();
    let messages: Vec<String> =
        doc.tasks.iter().map(|task| task.message.clone().unwrap_or_default()).collect();
    assert_eq!(
        messages,
        ["size 2.0 KiB is above max_size 2KB (1.95 KiB)", "size 1000 B is below min_size 1.5K (1.5 KiB)"]
    );
    env.write(
        "deploy/cron/sentinel.yaml",
        "tasks:\n  - {name: x, artifact: x, max_age: 1h, min_size: 1M, max_size: 1MB}\n",
    );
    env.check(["cron-sentinel", "--check-config"])
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: deploy/cron/sentinel.yaml:2:5: task \"x\": min_size 1M (1 MiB) is larger than max_size 1MB (976.56 KiB)\n",
        )
        .run();
}

/// Audit gap 4: a 3 MB `schedule`, `max_age` or `enabled` value became a 3,000,185-byte error
/// line (twice that in JSON); errors quote at most a short excerpt, with the value's length.
#[test]
fn a_huge_config_value_gives_a_short_error() {
    let big = "x".repeat(3_000_000);
    for (field, line, column, says) in [
        ("schedule", 4, 15, "schedule \"xxxx"),
        ("max_age", 4, 14, "invalid duration \"xxxx"),
        ("enabled", 5, 14, "enabled must be true or false, unquoted, not the text \"xxxx"),
    ] {
        let extra = if field == "max_age" { String::new() } else { "    max_age: 1h\n".to_string() };
        let (first, second) = if field == "enabled" {
            (extra, format!("    enabled: \"{big}\"\n"))
        } else {
            (format!("    {field}: \"{big}\"\n"), extra)
        };
        let env = env_with_config(&format!("tasks:\n  - name: a\n    artifact: a\n{first}{second}"));
        let run = env
            .check(["cron-sentinel"])
            .code(2)
            .stdout_empty()
            .stderr_contains(&format!("mmops: error: deploy/cron/sentinel.yaml:{line}:{column}: {says}"))
            .stderr_contains("…\" (3000000 characters)")
            .run();
        assert!(run.stderr.len() < 1024, "{field}: {} bytes", run.stderr.len());
        let json = env
            .check(["--format", "json", "cron-sentinel"])
            .code(2)
            .stdout(Expect::Anything)
            .stderr_contains("(3000000 characters)")
            .run();
        assert!(json.stdout.len() < 2048, "{field}: JSON {} bytes", json.stdout.len());
        let document: ErrorDocument = json.json_as();
        assert_eq!(format!("mmops: error: {}\n", document.error), json.stderr, "{field}");
        let location = document.location.expect("a location");
        assert_eq!((location.line, location.column), (line, column), "{field}");
    }
}

/// Audit gap 8: `timestamp: json:` epoch seconds beyond the representable range (8267000000000,
/// also as a float or above i64) were ERROR while the same instant as an mtime is FUTURE; they
/// agree now. Negative ones stay ERROR, as for mtimes.
#[test]
fn json_epoch_beyond_the_representable_range_is_future_like_an_mtime() {
    let env = env_with_config(
        "tasks:\n  - {name: a, artifact: a.json, max_age: 1h, timestamp: 'json:/ts'}\n  \
         - {name: b, artifact: b.json, max_age: 1h, timestamp: 'json:/ts'}\n  \
         - {name: c, artifact: c.json, max_age: 1h, timestamp: 'json:/ts'}\n  \
         - {name: d, artifact: d.json, max_age: 1h, timestamp: 'json:/ts'}\n",
    );
    env.write("a.json", "{\"ts\": 8267000000000}");
    env.write("b.json", "{\"ts\": 8.267e12}");
    env.write("c.json", "{\"ts\": 18446744073709551615}");
    env.write("d.json", "{\"ts\": -9000000000000}");
    let range = "outside the range of dates mmops handles";
    env.check(["cron-sentinel"])
        .code(1)
        .stdout_is(&format!(
            "TASK  STATUS  AGE  MAX AGE  ARTIFACT\n\
             a     FUTURE  -    1h       a.json\n  \
             ↳ a.json: time at json:/ts 8267000000000 seconds since 1970 is after +262142-12-31T23:59:59Z, {range}; a clock is wrong, freshness cannot be trusted\n\
             b     FUTURE  -    1h       b.json\n  \
             ↳ b.json: time at json:/ts 8267000000000 seconds since 1970 is after +262142-12-31T23:59:59Z, {range}; a clock is wrong, freshness cannot be trusted\n\
             c     FUTURE  -    1h       c.json\n  \
             ↳ c.json: time at json:/ts 18446744073709551615 seconds since 1970 is after +262142-12-31T23:59:59Z, {range}; a clock is wrong, freshness cannot be trusted\n\
             d     ERROR   -    1h       d.json\n  \
             ↳ cannot check d.json: its time at json:/ts -9000000000000 seconds since 1970 is before -262143-01-01T00:00:00Z, {range}\n\
             4 tasks: 1 error, 3 future\n\
             | cron_sentinel | FAIL | CRON_SENTINEL=FAIL |\n"
        ))
        .stderr_empty()
        .run();
}
