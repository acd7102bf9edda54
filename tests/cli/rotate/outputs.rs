//! Outputs: --prom-file, --quiet, --format json, and outputs that fail.

use super::*;

#[test]
fn prom_file_records_deleted_kept_and_failures() {
    let env = TestEnv::new();
    file(&env, "old", 7, 30.0);
    file(&env, "new", 3, 0.1);
    rotate(&env, &["--days", "7", "--prom-file", "metrics/rotate.prom", "--quiet"]).expect_code(0);
    assert_eq!(
        env.read("metrics/rotate.prom"),
        "# HELP mmops_rotate_deleted_files Files deleted by the last rotation.\n\
         # TYPE mmops_rotate_deleted_files gauge\n\
         mmops_rotate_deleted_files{base_dir=\"artifacts\"} 1\n\
         # HELP mmops_rotate_deleted_bytes Bytes freed by the last rotation.\n\
         # TYPE mmops_rotate_deleted_bytes gauge\n\
         mmops_rotate_deleted_bytes{base_dir=\"artifacts\"} 7\n\
         # HELP mmops_rotate_kept_files Candidate files kept by the last rotation.\n\
         # TYPE mmops_rotate_kept_files gauge\n\
         mmops_rotate_kept_files{base_dir=\"artifacts\"} 1\n\
         # HELP mmops_rotate_kept_bytes Bytes of candidate files kept by the last rotation.\n\
         # TYPE mmops_rotate_kept_bytes gauge\n\
         mmops_rotate_kept_bytes{base_dir=\"artifacts\"} 3\n\
         # HELP mmops_rotate_failures Files or folders the last rotation could not read or delete.\n\
         # TYPE mmops_rotate_failures gauge\n\
         mmops_rotate_failures{base_dir=\"artifacts\"} 0\n\
         # HELP mmops_rotate_success 1 when the last rotation finished without failures, else 0.\n\
         # TYPE mmops_rotate_success gauge\n\
         mmops_rotate_success{base_dir=\"artifacts\"} 1\n\
         # HELP mmops_rotate_last_run_timestamp_seconds When the last rotation ran (Unix seconds).\n\
         # TYPE mmops_rotate_last_run_timestamp_seconds gauge\n\
         mmops_rotate_last_run_timestamp_seconds{base_dir=\"artifacts\"} 1760184000\n"
    );
}

#[test]
fn quiet_is_silent_on_success_and_marker_only_prints_the_row() {
    let env = TestEnv::new();
    file(&env, "old", 1, 30.0);
    file(&env, "new", 1, 0.1);
    let run = rotate(&env, &["--days", "7", "--quiet"]);
    run.expect_code(0);
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr, "");
    assert!(!env.exists("artifacts/old"));
    file(&env, "old2", 1, 30.0);
    let run = rotate(&env, &["--days", "7", "--marker-only"]);
    run.expect_code(0);
    assert_eq!(run.stdout, "| rotate | OK | ROTATE=DONE |\n");
    assert_eq!(run.stderr, "");
}

/// Issue 12 item 5: rows are column-aligned, the archive line comes before the delete lines, and a
/// dry run with --archive names the zip it would write (and writes nothing).
#[test]
fn rows_align_and_the_archive_line_comes_first_also_on_a_dry_run() {
    let env = TestEnv::new();
    file(&env, "a.log", 5, 10.0);
    file(&env, "logs/deep/a-much-longer-name.log", 2048, 9.0);
    file(&env, "b", 300, 8.0);
    file(&env, "new", 1, 0.1);
    let before = snapshot(env.root());
    let run = rotate(&env, &["--dry-run", "--days", "7", "--archive", "archive"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "scanned artifacts: 4 files, 2.3 KiB in 3 folders\n\
         limits (days 7): 4 files, 3 selected, 1 kept (1 B)\n\
         would archive 3 files (2.3 KiB) into archive/artifacts-20251011T120000Z.zip\n\
         would delete  a.log                                 5 B  10.0 days  ttl\n\
         would delete  logs/deep/a-much-longer-name.log  2.0 KiB   9.0 days  ttl\n\
         would delete  b                                   300 B   8.0 days  ttl\n\
         would free 3 files, 2.3 KiB; would keep 1 file, 1 B\n\
         | rotate | OK | ROTATE=DRYRUN |\n"
    );
    assert_eq!(run.stderr, "");
    assert_eq!(snapshot(env.root()), before, "a dry run writes nothing, not even the archive folder");

    let run = rotate(&env, &["--days", "7", "--archive", "archive"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "scanned artifacts: 4 files, 2.3 KiB in 3 folders\n\
         limits (days 7): 4 files, 3 selected, 1 kept (1 B)\n\
         archived 3 files (2.3 KiB) into archive/artifacts-20251011T120000Z.zip\n\
         deleted       a.log                                 5 B  10.0 days  ttl\n\
         deleted       logs/deep/a-much-longer-name.log  2.0 KiB   9.0 days  ttl\n\
         deleted       b                                   300 B   8.0 days  ttl\n\
         freed 3 files, 2.3 KiB; kept 1 file, 1 B\n\
         | rotate | OK | ROTATE=DONE |\n"
    );
    assert_eq!(run.stderr, "");
    assert!(env.exists("archive/artifacts-20251011T120000Z.zip"));
    // The next dry run names the next free archive name, as the real run would.
    file(&env, "c", 1, 20.0);
    let run = rotate(&env, &["--dry-run", "--days", "7", "--archive", "archive"]);
    assert!(
        run.stdout.contains("would archive 1 file (1 B) into archive/artifacts-20251011T120000Z-2.zip\n"),
        "{}",
        run.stdout
    );
}

/// Issue 12 item 5: --summary prints counts per rule and reason instead of a line per file.
#[test]
fn summary_counts_per_rule_and_reason_without_a_line_per_file() {
    let env = TestEnv::new();
    for day in 0..40 {
        file(&env, &format!("logs/bot-{day:02}.log"), 100, 1.0 + f64::from(day));
    }
    file(&env, "reports/r1.json", 1000, 30.0);
    file(&env, "reports/r2.json", 1000, 2.0);
    env.write(
        "policy.yaml",
        "rules:\n  - glob: \"logs/**\"\n    days: 30\n    keep: 20\n  - glob: \"**\"\n    days: 7\n",
    );
    let run = rotate(&env, &["--dry-run", "--policy", "policy.yaml", "--summary"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "scanned artifacts: 42 files, 5.9 KiB in 3 folders\n\
         policy policy.yaml\n\
         \x20 rule logs/** (days 30, keep 20): 40 files, 20 selected, 20 kept (2.0 KiB)\n\
         \x20 rule ** (days 7): 2 files, 1 selected, 1 kept (1000 B)\n\
         would delete  10 files  1000 B  rule logs/**  ttl\n\
         would delete  10 files  1000 B  rule logs/**  count\n\
         would delete   1 file   1000 B  rule **       ttl\n\
         would free 21 files, 2.9 KiB; would keep 21 files, 2.9 KiB\n\
         | rotate | OK | ROTATE=DRYRUN |\n"
    );
    assert_eq!(run.stderr, "");
    // JSON carries the same counts (and still every file).
    let run = rotate(&env, &["--dry-run", "--policy", "policy.yaml", "--summary", "--format", "json"]);
    let document = run.json();
    assert_eq!(document["files"].as_array().unwrap().len(), 21);
    assert_eq!(
        document["by_reason"][1],
        serde_json::json!({"rule": "logs/**", "reason": "count", "result": "would_delete", "files": 10, "bytes": 1000})
    );
    // A real run: the same rows with "deleted".
    let run = rotate(&env, &["--policy", "policy.yaml", "--summary"]);
    run.expect_code(0);
    assert!(run.stdout.contains("\ndeleted        1 file   1000 B  rule **       ttl\n"), "{}", run.stdout);
    assert_eq!(run.stderr, "");
}

/// Issue 12 item 5: --explain PATH says why one file is kept or selected, and touches nothing.
#[test]
fn explain_says_why_one_file_is_kept_or_selected() {
    let env = TestEnv::new();
    file(&env, "logs/old.log", 10, 12.0);
    file(&env, "logs/mid.log", 10, 3.0);
    file(&env, "logs/new.log", 10, 1.0);
    file(&env, "keep.me", 10, 50.0);
    file(&env, ".hidden", 10, 50.0);
    let before = snapshot(env.root());
    let explain = |path: &str| {
        rotate(
            &env,
            &["--days", "7", "--keep", "2", "--max-size", "25B", "--exclude", "*.me", "--explain", path],
        )
    };
    let run = explain("artifacts/logs/old.log");
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "logs/old.log: selected by rule * (ttl)\n  12.0 days old, older than days 7\n| rotate | OK | ROTATE=EXPLAINED |\n"
    );
    assert_eq!(run.stderr, "");
    let run = explain("logs/new.log");
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "logs/new.log: kept by rule *\n\
         \x20 1.0 days old, within days 7\n\
         \x20 number 1 counting from the newest of the rule's 3 files, within keep 2\n\
         \x20 it and the newer files of its rule total 10 B, within max size 25B (25 B)\n\
         | rotate | OK | ROTATE=EXPLAINED |\n"
    );
    let run = explain("keep.me");
    assert_eq!(
        run.stdout,
        "keep.me: not a candidate\n  protected by exclude *.me\n| rotate | OK | ROTATE=EXPLAINED |\n"
    );
    let run = explain(".hidden");
    assert_eq!(
        run.stdout,
        ".hidden: not a candidate\n  hidden (a name starting with `.` on its path): pass --include-hidden to consider it\n\
         | rotate | OK | ROTATE=EXPLAINED |\n"
    );
    let run = explain("nope");
    run.expect_code(2);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "mmops: error: --explain nope: cannot find it under artifacts (No such file or directory (os error 2)); \
         give a path relative to the base dir\n"
    );
    // Nothing outside the base dir is looked at: `..` is refused, a symlinked folder is not entered.
    let run = explain("../artifacts/logs/old.log");
    run.expect_code(2);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "mmops: error: --explain ../artifacts/logs/old.log: give a file inside the base dir artifacts (relative \
         to it, or starting with it), without ..\n"
    );
    // Read only: no lock file, nothing deleted, even without --dry-run.
    assert_eq!(snapshot(env.root()), before);
    env.mkdir("elsewhere");
    env.write("elsewhere/x.log", "x");
    symlink(env.path("elsewhere"), env.path("artifacts/linked")).unwrap();
    let run = explain("linked/x.log");
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "linked/x.log: not a candidate\n  below the symlink linked: symlinks are never followed\n\
         | rotate | OK | ROTATE=EXPLAINED |\n"
    );
}
