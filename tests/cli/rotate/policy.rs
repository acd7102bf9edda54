//! Policy files: the default policy, the shipped one, rule order and policy errors.

use super::*;

#[test]
fn no_limit_and_no_default_policy_is_an_error_naming_the_flags() {
    let env = TestEnv::new();
    env.mkdir("artifacts");
    rotate(&env, &["--dry-run"])
        .code(2)
        .stdout_empty()
        .stderr_is(&format!(
            "mmops: error: no retention limit given, and the default policy deploy/ops/rotation.yaml not found \
             in {}; run mmops in the repository or pass -C DIR (or --days, --max-size, --keep, --keep-daily (or another --keep-*) or --policy FILE)\n",
            env.root().display()
        ))
        .run();
}

#[test]
fn default_policy_is_used_and_announced_when_no_limit_is_given() {
    let env = TestEnv::new();
    env.write("deploy/ops/rotation.yaml", "rules:\n  - glob: 'logs/**'\n    days: 7\n");
    file(&env, "logs/old.log", 3, 8.0);
    file(&env, "logs/new.log", 3, 1.0);
    file(&env, "other", 3, 800.0);
    rotate(&env, &["--dry-run"])
        .code(0)
        .stdout_is(
            "scanned artifacts: 3 files, 9 B in 2 folders\n\
             policy deploy/ops/rotation.yaml (the default: no --days, --keep, --max-size or --policy given)\n\
             \x20 rule logs/** (days 7): 2 files, 1 selected, 1 kept (3 B)\n\
             \x20 not covered by any rule (kept): 1 file, 3 B\n\
             would delete  logs/old.log  3 B  8.0 days  ttl\n\
             would free 1 file, 3 B; would keep 2 files, 6 B\n\
             | rotate | OK | ROTATE=DRYRUN |\n",
        )
        .stderr_empty()
        .run();
    // The JSON document says which policy and that it was the default.
    let document = rotate_document(&env, &["--dry-run", "--format", "json"]);
    assert_eq!(document.policy.as_deref(), Some("deploy/ops/rotation.yaml"));
    assert!(document.default_policy);
    assert_eq!(
        document.uncovered,
        mirror::Group {
            files: 1,
            bytes: 3,
            selected_files: 0,
            selected_bytes: 0,
            kept_files: 1,
            kept_bytes: 3,
            future_files: 0,
            unmet: vec![]
        }
    );
}

#[test]
fn shipped_policy_validates_with_a_dry_run_as_make_ready_does() {
    // make-ready runs exactly this as a pre-live step; it must pass on a real-looking tree.
    let env = TestEnv::new();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/ops/rotation.yaml");
    file(&env, "release/mm-bot-v1.0.0.zip", 10, 40.0);
    file(&env, "reports/readiness.json", 10, 40.0);
    file(&env, "reports/old.json", 10, 40.0);
    file(&env, "logs/bot.log", 10, 8.0);
    file(&env, "logs/today.log", 10, 0.2);
    file(&env, "reports/today.json", 10, 0.2);
    file(&env, "REPORT_SOAK_1.json", 10, 40.0);
    let base = env.path("artifacts");
    let args = ["--dry-run", "--policy", shipped.to_str().unwrap(), "--base-dir", base.to_str().unwrap()];
    rotate(&env, &args)
        .code(0)
        // reports/readiness.json is protected by the policy's exclude: not a candidate.
        .stdout_contains("; skipped 1 excluded\n")
        .stdout_contains(
            "would free 2 files, 20 B; would keep 4 files, 40 B\n| rotate | OK | ROTATE=DRYRUN |\n",
        )
        .stderr_empty()
        .run();
    let document: Document = rotate(&env, &[&args[..], &["--format", "json"]].concat())
        .code(0)
        .stdout(Expect::Anything)
        .stderr_empty()
        .run()
        .json_as();
    assert_eq!(document.scan.skipped, mirror::Skipped { excluded: 1, ..mirror::Skipped::default() });
    let mut selected = document.paths();
    selected.sort();
    assert_eq!(selected, ["logs/bot.log", "reports/old.json"]);
}

#[test]
fn policy_rules_take_the_first_matching_glob_and_flags_are_the_catch_all() {
    let env = TestEnv::new();
    env.write(
        "policy.yaml",
        "rules:\n  - glob: 'logs/keep/**'\n  - glob: 'logs/**'\n    keep: 1\n  - glob: '**/*.log'\n    days: 1\n",
    );
    file(&env, "logs/keep/a.log", 1, 50.0);
    file(&env, "logs/b.log", 1, 50.0);
    file(&env, "logs/c.log", 1, 40.0);
    file(&env, "other/d.log", 1, 2.0);
    file(&env, "other/e.txt", 1, 50.0);
    file(&env, "other/f.log", 1, 0.5);
    file(&env, "other/g.txt", 1, 1.0);
    let document = rotate_document(&env, &["--dry-run", "--policy", "policy.yaml", "--format", "json"]);
    assert_eq!(
        document.rows(),
        [
            ("logs/b.log".into(), Reason::Count, FileResult::WouldDelete),
            ("other/d.log".into(), Reason::Ttl, FileResult::WouldDelete)
        ]
    );
    assert_eq!(document.files[0].rule, "logs/**");
    assert_eq!(document.files[1].rule, "**/*.log");
    assert_eq!(document.uncovered.files, 2);
    let globs: Vec<&str> = document.rules.iter().map(|rule| rule.glob.as_str()).collect();
    assert_eq!(globs, ["logs/keep/**", "logs/**", "**/*.log"]);
    // A rule without limits: every limit null, its file kept.
    let protecting = &document.rules[0];
    assert_eq!((protecting.days, protecting.keep, protecting.max_size), (None, None, None));
    assert_eq!((protecting.files, protecting.kept_files), (1, 1));
    // Command-line limits then cover what no rule matched.
    let document =
        rotate_document(&env, &["--dry-run", "--policy", "policy.yaml", "--days", "30", "--format", "json"]);
    assert_eq!(document.paths(), ["logs/b.log", "other/e.txt", "other/d.log"]);
    assert_eq!(document.files[1].rule, "*");
    assert_eq!(document.uncovered.files, 0);
}

#[test]
fn bad_policy_file_exits_2_with_line_and_column_and_deletes_nothing() {
    let env = TestEnv::new();
    file(&env, "old", 1, 50.0);
    env.write("policy.yaml", "rules:\n  - glob: 'logs/**'\n    days: seven\n");
    rotate(&env, &["--policy", "policy.yaml"])
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: cannot load retention policy policy.yaml: policy.yaml:3:11: invalid number of days \
             \"seven\"; use a number of days such as 7 or 0.5, or a duration such as 7d or 36h\n",
        )
        .run();
    env.write("policy.yaml", "rules:\n  - glob: 'logs/**'\n    keeep: 3\n");
    let unknown = "cannot load retention policy policy.yaml: policy.yaml:3:5: unknown field \"keeep\", expected one \
                   of glob, days, keep, max_size, keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, \
                   keep_yearly, keep_within, tz, companions, unit, order; did you mean \"keep\"?";
    rotate(&env, &["--policy", "policy.yaml"])
        .code(2)
        .stdout_empty()
        .stderr_is(&format!("mmops: error: {unknown}\n"))
        .run();
    // With --format json: the error document, with the file, line and column.
    let error: mirror::ErrorDocument = rotate(&env, &["--policy", "policy.yaml", "--format", "json"])
        .code(2)
        .stdout(Expect::Anything)
        .stderr_is(&format!("mmops: error: {unknown}\n"))
        .run()
        .json_as();
    assert_eq!(
        error,
        mirror::ErrorDocument {
            status: "error".into(),
            exit_code: 2,
            error: unknown.into(),
            location: Some(mirror::Location { file: "policy.yaml".into(), line: 3, column: 5 }),
        }
    );
    rotate(&env, &["--policy", "missing.yaml"])
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: cannot load retention policy missing.yaml: cannot read config file missing.yaml: No such \
             file or directory (os error 2)\n",
        )
        .run();
    assert!(env.exists("artifacts/old"));
    assert!(!env.exists("artifacts/.mmops-rotate.lock"));
}
