//! The three limits (days, keep, max size), their union, ties and future-dated files.

use super::*;

#[test]
fn ttl_is_strict_and_dry_run_lists_what_would_go() {
    let env = TestEnv::new();
    file(&env, "old.log", 5, 10.0);
    file(&env, "exactly7.log", 5, 7.0);
    file(&env, "new.log", 2048, 1.0);
    let run = rotate(&env, &["--dry-run", "--days", "7"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "scanned artifacts: 3 files, 2.0 KiB in 1 folder\n\
         limits (days 7): 3 files, 1 selected, 2 kept (2.0 KiB)\n\
         would delete  old.log  5 B  10.0 days  ttl\n\
         would free 1 file, 5 B; would keep 2 files, 2.0 KiB\n\
         | rotate | OK | ROTATE=DRYRUN |\n"
    );
    assert_eq!(run.stderr, "");
    assert_eq!(listing(&env.path("artifacts")), ["exactly7.log", "new.log", "old.log"]);
}

#[test]
fn real_run_deletes_and_reports_done() {
    let env = TestEnv::new();
    file(&env, "a/old.log", 5, 10.0);
    file(&env, "new.log", 5, 1.0);
    let run = rotate(&env, &["--days", "7"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "scanned artifacts: 2 files, 10 B in 2 folders\n\
         limits (days 7): 2 files, 1 selected, 1 kept (5 B)\n\
         deleted       a/old.log  5 B  10.0 days  ttl\n\
         freed 1 file, 5 B; kept 1 file, 5 B\n\
         | rotate | OK | ROTATE=DONE |\n"
    );
    assert_eq!(run.stderr, "");
    // The lock file stays (it is an OS lock, harmless) and the emptied folder stays without
    // --prune-empty-dirs.
    assert_eq!(listing(&env.path("artifacts")), [".mmops-rotate.lock", "new.log"]);
    assert!(env.exists("artifacts/a"));
}

#[test]
fn keep_counts_newest_and_zero_values_are_real() {
    let env = TestEnv::new();
    for (name, age) in [("a", 5.0), ("b", 4.0), ("c", 3.0), ("d", 2.0)] {
        file(&env, name, 1, age);
    }
    let run = rotate(&env, &["--dry-run", "--keep", "2", "--format", "json"]);
    run.expect_code(0);
    let rows = file_rows(&run);
    assert_eq!(
        rows,
        [
            ("a".into(), "count".into(), "would_delete".into()),
            ("b".into(), "count".into(), "would_delete".into())
        ]
    );

    // --keep 0 keeps none (and a real run needs --allow-delete-all for that, so does a dry run
    // that should exit 0).
    let all = ["--dry-run", "--allow-delete-all", "--format", "json"];
    let run = rotate(&env, &[&all[..], &["--keep", "0"]].concat());
    run.expect_code(0);
    assert_eq!(file_rows(&run).len(), 4);
    // --days 0 selects every file older than now: all of them here.
    let run = rotate(&env, &[&all[..], &["--days", "0"]].concat());
    assert_eq!(file_rows(&run).iter().map(|row| row.0.as_str()).collect::<Vec<_>>(), ["a", "b", "c", "d"]);
    // --max-size 0 deletes everything too.
    let run = rotate(&env, &[&all[..], &["--max-size", "0"]].concat());
    assert_eq!(file_rows(&run).len(), 4);
    // Without --allow-delete-all the JSON dry run is one document with the plan AND the refusal
    // (issue 10 audit 10: it was only the error document), exit 2 as the real run.
    let run = rotate(&env, &["--dry-run", "--keep", "0", "--format", "json"]);
    run.expect_code(2);
    let json = run.json();
    assert_eq!(json["marker"], "ROTATE=REFUSED");
    assert_eq!(json["status"], "FAIL");
    assert_eq!(file_rows(&run).len(), 4);
    assert!(json["refusal"].as_str().unwrap().starts_with("refusing to delete all 4"), "{json}");
    assert!(
        run.stderr.starts_with("mmops: error: a real run would be refused: refusing to delete all 4"),
        "{}",
        run.stderr
    );
}

#[test]
fn max_size_deletes_oldest_until_the_kept_total_fits_and_accepts_units() {
    let env = TestEnv::new();
    file(&env, "a", 1024, 5.0);
    file(&env, "b", 1024, 4.0);
    file(&env, "c", 1024, 3.0);
    let run = rotate(&env, &["--dry-run", "--max-size", "2K", "--format", "json"]);
    assert_eq!(file_rows(&run), [("a".into(), "size".into(), "would_delete".into())]);
    // 2KB = 2000 bytes: two files must go.
    let run = rotate(&env, &["--dry-run", "--max-size", "2KB", "--format", "json"]);
    assert_eq!(file_rows(&run).len(), 2);
    let run = rotate(&env, &["--dry-run", "--max-size", "1.5K", "--format", "json"]);
    assert_eq!(file_rows(&run).len(), 2);
    let run = rotate(&env, &["--dry-run", "--max-size", "2X"]);
    run.expect_code(2);
    assert!(run.stderr.contains("unknown size unit"), "{}", run.stderr);
}

#[test]
fn combined_limits_select_the_union_with_the_first_reason() {
    let env = TestEnv::new();
    file(&env, "a", 10, 10.0);
    file(&env, "b", 10, 5.0);
    file(&env, "c", 10, 4.0);
    file(&env, "d", 10, 1.0);
    let run = rotate(&env, &["--days", "7", "--keep", "3", "--max-size", "10", "--format", "json"]);
    run.expect_code(0);
    assert_eq!(
        file_rows(&run),
        [
            ("a".into(), "ttl".into(), "deleted".into()),
            ("b".into(), "size".into(), "deleted".into()),
            ("c".into(), "size".into(), "deleted".into())
        ]
    );
    let json = run.json();
    assert_eq!(json["marker"], "ROTATE=DONE");
    assert_eq!(json["totals"]["deleted_files"], 3);
    assert_eq!(json["totals"]["kept_files"], 1);
    assert_eq!(json["totals"]["kept_bytes"], 10);
    assert_eq!(json["files"][0]["size"], 10);
    assert_eq!(json["files"][0]["age_days"], 10.0);
    assert_eq!(json["files"][0]["mtime"], "2025-10-01T12:00:00Z");
    assert_eq!(listing(&env.path("artifacts")), [".mmops-rotate.lock", "d"]);
}

#[test]
fn ties_in_mtime_are_broken_by_path() {
    let env = TestEnv::new();
    for name in ["b", "a/z", "c", "a/b"] {
        file(&env, name, 1, 3.0);
    }
    let run = rotate(&env, &["--dry-run", "--keep", "1", "--format", "json"]);
    assert_eq!(file_rows(&run).iter().map(|row| row.0.as_str()).collect::<Vec<_>>(), ["a/b", "a/z", "b"]);
}

#[test]
fn future_files_are_kept_with_a_clock_skew_warning() {
    let env = TestEnv::new();
    file(&env, "old", 1, 3.0);
    file(&env, "future", 1, -2.0);
    let run = rotate(&env, &["--keep", "0", "--allow-delete-all"]);
    run.expect_code(0);
    assert_eq!(
        run.stderr,
        "mmops: warning: 1 file is dated in the future (clock skew?) and kept: future\n\
         mmops: warning: rule *: the kept files still exceed keep 0 because future-dated files are never deleted\n"
    );
    assert_eq!(listing(&env.path("artifacts")), [".mmops-rotate.lock", "future"]);
    let run = rotate(&env, &["--dry-run", "--days", "0", "--format", "json"]);
    assert_eq!(run.json()["future_dated"], serde_json::json!(["future"]));
}
