//! Policy files: the default policy, the shipped one, rule order and policy errors.

use super::*;

#[test]
fn no_limit_and_no_default_policy_is_an_error_naming_the_flags() {
    let env = TestEnv::new();
    env.mkdir("artifacts");
    let run = rotate(&env, &["--dry-run"]);
    run.expect_code(2);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        format!(
            "mmops: error: no retention limit given, and the default policy deploy/ops/rotation.yaml not found \
             in {}; run mmops in the repository or pass -C DIR (or --days, --max-size, --keep, --keep-daily (or another --keep-*) or --policy FILE)\n",
            env.root().display()
        )
    );
}

#[test]
fn default_policy_is_used_and_announced_when_no_limit_is_given() {
    let env = TestEnv::new();
    env.write("deploy/ops/rotation.yaml", "rules:\n  - glob: 'logs/**'\n    days: 7\n");
    file(&env, "logs/old.log", 3, 8.0);
    file(&env, "logs/new.log", 3, 1.0);
    file(&env, "other", 3, 800.0);
    let run = rotate(&env, &["--dry-run"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "scanned artifacts: 3 files, 9 B in 2 folders\n\
         policy deploy/ops/rotation.yaml (the default: no --days, --keep, --max-size or --policy given)\n\
         \x20 rule logs/** (days 7): 2 files, 1 selected, 1 kept (3 B)\n\
         \x20 not covered by any rule (kept): 1 file, 3 B\n\
         would delete  logs/old.log  3 B  8.0 days  ttl\n\
         would free 1 file, 3 B; would keep 2 files, 6 B\n\
         | rotate | OK | ROTATE=DRYRUN |\n"
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
    let run = env.run_with_env(
        ["rotate", "--dry-run", "--policy", shipped.to_str().unwrap(), "--base-dir", base.to_str().unwrap()],
        &[("CI_FAKE_UTC", NOW)],
    );
    run.expect_code(0);
    assert_eq!(run.last_line(), "| rotate | OK | ROTATE=DRYRUN |");
    assert_eq!(run.stderr, "");
    let run = env.run_with_env(
        [
            "rotate",
            "--dry-run",
            "--policy",
            shipped.to_str().unwrap(),
            "--base-dir",
            base.to_str().unwrap(),
            "--format",
            "json",
        ],
        &[("CI_FAKE_UTC", NOW)],
    );
    let mut selected: Vec<String> = file_rows(&run).into_iter().map(|row| row.0).collect();
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
    let run = rotate(&env, &["--dry-run", "--policy", "policy.yaml", "--format", "json"]);
    run.expect_code(0);
    assert_eq!(
        file_rows(&run),
        [
            ("logs/b.log".into(), "count".into(), "would_delete".into()),
            ("other/d.log".into(), "ttl".into(), "would_delete".into())
        ]
    );
    assert_eq!(run.json()["files"][0]["rule"], "logs/**");
    assert_eq!(run.json()["uncovered"]["files"], 2);
    // Command-line limits then cover what no rule matched.
    let run = rotate(&env, &["--dry-run", "--policy", "policy.yaml", "--days", "30", "--format", "json"]);
    let paths: Vec<String> = file_rows(&run).into_iter().map(|row| row.0).collect();
    assert_eq!(paths, ["logs/b.log", "other/e.txt", "other/d.log"]);
    assert_eq!(run.json()["files"][1]["rule"], "*");
}

#[test]
fn bad_policy_file_exits_2_with_line_and_column_and_deletes_nothing() {
    let env = TestEnv::new();
    file(&env, "old", 1, 50.0);
    env.write("policy.yaml", "rules:\n  - glob: 'logs/**'\n    days: seven\n");
    let run = rotate(&env, &["--policy", "policy.yaml"]);
    run.expect_code(2);
    assert!(
        run.stderr.starts_with("mmops: error: cannot load retention policy policy.yaml: policy.yaml:3:11: "),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("invalid number of days \"seven\""), "{}", run.stderr);
    env.write("policy.yaml", "rules:\n  - glob: 'logs/**'\n    keeep: 3\n");
    let run = rotate(&env, &["--policy", "policy.yaml"]);
    run.expect_code(2);
    assert!(run.stderr.contains("policy.yaml:3:5: unknown field \"keeep\""), "{}", run.stderr);
    let run = rotate(&env, &["--policy", "missing.yaml"]);
    run.expect_code(2);
    assert!(run.stderr.contains("cannot read config file missing.yaml"), "{}", run.stderr);
    assert!(env.exists("artifacts/old"));
    assert!(!env.exists("artifacts/.mmops-rotate.lock"));
}
