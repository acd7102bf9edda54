//! The three limits (days, keep, max size), their union, ties and future-dated files.

use super::*;

#[test]
fn ttl_is_strict_and_dry_run_lists_what_would_go() {
    let env = TestEnv::new();
    file(&env, "old.log", 5, 10.0);
    file(&env, "exactly7.log", 5, 7.0);
    file(&env, "new.log", 2048, 1.0);
    rotate(&env, &["--dry-run", "--days", "7"])
        .code(0)
        .stdout_is(
            "scanned artifacts: 3 files, 2.0 KiB in 1 folder\n\
             limits (days 7): 3 files, 1 selected, 2 kept (2.0 KiB)\n\
             would delete  old.log  5 B  10.0 days  ttl\n\
             would free 1 file, 5 B; would keep 2 files, 2.0 KiB\n\
             | rotate | OK | ROTATE=DRYRUN |\n",
        )
        .stderr_empty()
        .run();
    assert_eq!(listing(&env.path("artifacts")), ["exactly7.log", "new.log", "old.log"]);
}

#[test]
fn real_run_deletes_and_reports_done() {
    let env = TestEnv::new();
    file(&env, "a/old.log", 5, 10.0);
    file(&env, "new.log", 5, 1.0);
    rotate(&env, &["--days", "7"])
        .code(0)
        .stdout_is(
            "scanned artifacts: 2 files, 10 B in 2 folders\n\
             limits (days 7): 2 files, 1 selected, 1 kept (5 B)\n\
             deleted       a/old.log  5 B  10.0 days  ttl\n\
             freed 1 file, 5 B; kept 1 file, 5 B\n\
             | rotate | OK | ROTATE=DONE |\n",
        )
        .stderr_empty()
        .run();
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
    let document = rotate_document(&env, &["--dry-run", "--keep", "2", "--format", "json"]);
    // The whole document once, every field (the other tests pick the fields they are about).
    let row = |path: &str, mtime: &str, age_days: f64| mirror::FileRow {
        path: path.into(),
        size: 1,
        mtime: mtime.into(),
        age_days,
        rule: "*".into(),
        reason: Reason::Count,
        result: FileResult::WouldDelete,
        error: None,
    };
    let no_files = mirror::Group {
        files: 0,
        bytes: 0,
        selected_files: 0,
        selected_bytes: 0,
        kept_files: 0,
        kept_bytes: 0,
        future_files: 0,
        unmet: vec![],
    };
    assert_eq!(
        document,
        Document {
            base_dir: "artifacts".into(),
            dry_run: true,
            now: NOW.into(),
            policy: None,
            default_policy: false,
            rules: vec![mirror::RuleRow {
                glob: "*".into(),
                days: None,
                keep: Some(2),
                max_size: None,
                keep_last: None,
                keep_hourly: None,
                keep_daily: None,
                keep_weekly: None,
                keep_monthly: None,
                keep_yearly: None,
                keep_within_seconds: None,
                tz: None,
                companions: vec![],
                unit: None,
                order: None,
                files: 4,
                bytes: 4,
                selected_files: 2,
                selected_bytes: 2,
                kept_files: 2,
                kept_bytes: 2,
                future_files: 0,
                unmet: vec![],
            }],
            uncovered: no_files,
            scan: mirror::ScanView {
                files: 4,
                bytes: 4,
                dirs: 1,
                skipped: mirror::Skipped::default(),
                errors: vec![]
            },
            files: vec![row("a", "2025-10-06T12:00:00Z", 5.0), row("b", "2025-10-07T12:00:00Z", 4.0)],
            totals: mirror::Totals {
                selected_files: 2,
                selected_bytes: 2,
                kept_files: 2,
                kept_bytes: 2,
                ..mirror::Totals::default()
            },
            future_dated: vec![],
            archive: None,
            would_archive: None,
            by_reason: vec![mirror::ReasonCount {
                rule: "*".into(),
                reason: Reason::Count,
                result: FileResult::WouldDelete,
                files: 2,
                bytes: 2
            }],
            pruned_dirs: vec![],
            refusal: None,
            base_dir_removed: false,
            left_in_quarantine: vec![],
            output_error: None,
            min_free: None,
            warnings: vec![],
            tool: "rotate".into(),
            status: mirror::Status::Ok,
            marker: "ROTATE=DRYRUN".into(),
        }
    );

    // --keep 0 keeps none (and a real run needs --allow-delete-all for that, so does a dry run
    // that should exit 0).
    let all = ["--dry-run", "--allow-delete-all", "--format", "json"];
    let dry_all = |limit: &[&str]| -> Document {
        rotate(&env, &[&all[..], limit].concat())
            .code(0)
            .stdout(Expect::Anything)
            .stderr_empty()
            .run()
            .json_as()
    };
    assert_eq!(dry_all(&["--keep", "0"]).rows().len(), 4);
    // --days 0 selects every file older than now: all of them here.
    assert_eq!(dry_all(&["--days", "0"]).paths(), ["a", "b", "c", "d"]);
    // --max-size 0 deletes everything too.
    assert_eq!(dry_all(&["--max-size", "0"]).rows().len(), 4);
    // Without --allow-delete-all the JSON dry run is one document with the plan AND the refusal
    // (issue 10 audit 10: it was only the error document), exit 2 as the real run.
    let refusal = "refusing to delete all 4 candidate files (a clock far ahead or a limit of 0 makes every file \
                   look old); check the clock and the limits, or pass --allow-delete-all";
    let document: Document = rotate(&env, &["--dry-run", "--keep", "0", "--format", "json"])
        .code(2)
        .stdout(Expect::Anything)
        .stderr_is(&format!("mmops: error: a real run would be refused: {refusal}\n"))
        .run()
        .json_as();
    assert_eq!((document.marker.as_str(), document.status), ("ROTATE=REFUSED", mirror::Status::Fail));
    assert_eq!(document.rows().len(), 4);
    assert_eq!(document.refusal.as_deref(), Some(refusal));
    assert!(document.dry_run);
}

#[test]
fn max_size_deletes_oldest_until_the_kept_total_fits_and_accepts_units() {
    let env = TestEnv::new();
    file(&env, "a", 1024, 5.0);
    file(&env, "b", 1024, 4.0);
    file(&env, "c", 1024, 3.0);
    let dry = |max_size: &str| -> Document {
        rotate(&env, &["--dry-run", "--max-size", max_size, "--format", "json"])
            .code(0)
            .stdout(Expect::Anything)
            .stderr_empty()
            .run()
            .json_as()
    };
    let document = dry("2K");
    assert_eq!(document.rows(), [("a".into(), Reason::Size, FileResult::WouldDelete)]);
    assert_eq!(document.rules[0].max_size, Some(2048));
    // 2KB = 2000 bytes: two files must go.
    let document = dry("2KB");
    assert_eq!(document.rows().len(), 2);
    assert_eq!(document.rules[0].max_size, Some(2000));
    assert_eq!(dry("1.5K").rows().len(), 2);
    // A flag's value is checked by clap: its own error format (no `mmops:` prefix), exit 2.
    rotate(&env, &["--dry-run", "--max-size", "2X"])
        .code(2)
        .stdout_empty()
        .stderr_is(
            "error: invalid value '2X' for '--max-size <SIZE>': unknown size unit \"X\" in \"2X\"; use bytes or a \
             number with a unit such as 500M, 1.5G, 2GiB or 2GB\n\nFor more information, try '--help'.\n",
        )
        .run();
}

#[test]
fn combined_limits_select_the_union_with_the_first_reason() {
    let env = TestEnv::new();
    file(&env, "a", 10, 10.0);
    file(&env, "b", 10, 5.0);
    file(&env, "c", 10, 4.0);
    file(&env, "d", 10, 1.0);
    let document =
        rotate_document(&env, &["--days", "7", "--keep", "3", "--max-size", "10", "--format", "json"]);
    assert_eq!(
        document.rows(),
        [
            ("a".into(), Reason::Ttl, FileResult::Deleted),
            ("b".into(), Reason::Size, FileResult::Deleted),
            ("c".into(), Reason::Size, FileResult::Deleted)
        ]
    );
    assert_eq!((document.marker.as_str(), document.status), ("ROTATE=DONE", mirror::Status::Ok));
    assert_eq!(
        document.totals,
        mirror::Totals {
            selected_files: 3,
            selected_bytes: 30,
            deleted_files: 3,
            deleted_bytes: 30,
            kept_files: 1,
            kept_bytes: 10,
            ..mirror::Totals::default()
        }
    );
    assert_eq!(
        document.files[0],
        mirror::FileRow {
            path: "a".into(),
            size: 10,
            mtime: "2025-10-01T12:00:00Z".into(),
            age_days: 10.0,
            rule: "*".into(),
            reason: Reason::Ttl,
            result: FileResult::Deleted,
            error: None,
        }
    );
    assert_eq!(
        document.by_reason,
        [
            mirror::ReasonCount {
                rule: "*".into(),
                reason: Reason::Ttl,
                result: FileResult::Deleted,
                files: 1,
                bytes: 10
            },
            mirror::ReasonCount {
                rule: "*".into(),
                reason: Reason::Size,
                result: FileResult::Deleted,
                files: 2,
                bytes: 20
            },
        ]
    );
    assert_eq!(listing(&env.path("artifacts")), [".mmops-rotate.lock", "d"]);
}

#[test]
fn ties_in_mtime_are_broken_by_path() {
    let env = TestEnv::new();
    for name in ["b", "a/z", "c", "a/b"] {
        file(&env, name, 1, 3.0);
    }
    let document = rotate_document(&env, &["--dry-run", "--keep", "1", "--format", "json"]);
    assert_eq!(document.paths(), ["a/b", "a/z", "b"]);
}

#[test]
fn future_files_are_kept_with_a_clock_skew_warning() {
    let env = TestEnv::new();
    file(&env, "old", 1, 3.0);
    file(&env, "future", 1, -2.0);
    rotate(&env, &["--keep", "0", "--allow-delete-all"])
        .code(0)
        .stdout_contains("deleted       old  1 B  3.0 days  count\n")
        .stdout_contains("| rotate | OK | ROTATE=DONE |\n")
        .stderr_is(
            "mmops: warning: 1 file is dated in the future (clock skew?) and kept: future\n\
             mmops: warning: rule *: the kept files still exceed keep 0 because future-dated files are never \
             deleted\n",
        )
        .run();
    assert_eq!(listing(&env.path("artifacts")), [".mmops-rotate.lock", "future"]);
    // The JSON report names the limit still exceeded in the rule's `unmet`.
    file(&env, "old", 1, 3.0);
    let document: Document =
        rotate(&env, &["--dry-run", "--keep", "0", "--allow-delete-all", "--format", "json"])
            .code(0)
            .stdout(Expect::Anything)
            .stderr_is(
                "mmops: warning: 1 file is dated in the future (clock skew?) and kept: future\n\
             mmops: warning: rule *: the kept files still exceed keep 0 because future-dated files are never \
             deleted\n",
            )
            .run()
            .json_as();
    let rule = &document.rules[0];
    assert_eq!((rule.future_files, rule.kept_files, rule.unmet.clone()), (1, 1, vec!["keep 0".to_string()]));
    assert_eq!(document.paths(), ["old"]);
    assert_eq!(document.future_dated, ["future"]);
    fs::remove_file(env.path("artifacts/old")).unwrap();
    let run = rotate(&env, &["--dry-run", "--days", "0", "--format", "json"])
        .code(0)
        .stdout(Expect::Anything)
        .stderr_is("mmops: warning: 1 file is dated in the future (clock skew?) and kept: future\n")
        .run();
    let document: Document = run.json_as();
    assert_eq!(document.future_dated, ["future"]);
    assert_eq!(document.warnings, ["1 file is dated in the future (clock skew?) and kept: future"]);
    assert_eq!(document.rules[0].future_files, 1);
    assert_eq!(run.stderr, document.warning_lines());
}
