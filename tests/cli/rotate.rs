//! `mmops rotate` end to end: real trees in temporary folders with mtimes set explicitly, "now"
//! pinned with CI_FAKE_UTC, and exit code, stdout, stderr and the files left on disk checked
//! together.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};

use crate::support::{Run, TestEnv, utc};

const NOW: &str = "2025-10-11T12:00:00Z";

fn days_ago(days: f64) -> DateTime<Utc> {
    utc(NOW) - Duration::milliseconds((days * 86_400_000.0) as i64)
}

/// Writes `artifacts/<relative>` with `size` bytes, dated `age_days` before NOW.
fn file(env: &TestEnv, relative: &str, size: usize, age_days: f64) {
    let path = format!("artifacts/{relative}");
    env.write(&path, vec![b'x'; size]);
    env.set_mtime(&path, days_ago(age_days));
}

fn rotate(env: &TestEnv, args: &[&str]) -> Run {
    let mut all = vec!["rotate"];
    all.extend_from_slice(args);
    env.run_with_env(all, &[("CI_FAKE_UTC", NOW)])
}

/// Relative paths of the regular files and symlinks left under `dir`.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .map(|entry| entry.unwrap())
        .filter(|entry| !entry.file_type().is_dir())
        .map(|entry| entry.path().strip_prefix(dir).unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Everything about a tree that a dry run must not change: kinds, contents, modes, mtimes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u32, i64, i64, Vec<u8>)> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|entry| entry.unwrap())
        .map(|entry| {
            let meta = entry.path().symlink_metadata().unwrap();
            let content = if meta.is_file() {
                fs::read(entry.path()).unwrap()
            } else if meta.is_symlink() {
                fs::read_link(entry.path()).unwrap().into_os_string().into_vec()
            } else {
                Vec::new()
            };
            (entry.path().to_path_buf(), (meta.mode(), meta.mtime(), meta.mtime_nsec(), content))
        })
        .collect()
}

use std::os::unix::ffi::OsStringExt;

fn file_rows(run: &Run) -> Vec<(String, String, String)> {
    run.json()["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["path"].as_str().unwrap().to_string(),
                row["reason"].as_str().unwrap().to_string(),
                row["result"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

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

    // --keep 0 keeps none (and a real run needs --allow-delete-all for that).
    let run = rotate(&env, &["--dry-run", "--keep", "0", "--format", "json"]);
    assert_eq!(file_rows(&run).len(), 4);
    // --days 0 selects every file older than now: all of them here.
    let run = rotate(&env, &["--dry-run", "--days", "0", "--format", "json"]);
    assert_eq!(file_rows(&run).iter().map(|row| row.0.as_str()).collect::<Vec<_>>(), ["a", "b", "c", "d"]);
    // --max-size 0 deletes everything too.
    let run = rotate(&env, &["--dry-run", "--max-size", "0", "--format", "json"]);
    assert_eq!(file_rows(&run).len(), 4);
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

#[test]
fn hidden_files_and_folders_are_skipped_unless_asked() {
    let env = TestEnv::new();
    file(&env, ".hidden", 1, 30.0);
    file(&env, ".cache/a", 1, 30.0);
    file(&env, "sub/.dot", 1, 30.0);
    file(&env, "visible", 1, 30.0);
    file(&env, "fresh", 1, 0.5);
    let run = rotate(&env, &["--dry-run", "--days", "7", "--format", "json"]);
    assert_eq!(run.json()["scan"]["skipped"]["hidden"], 3);
    assert_eq!(file_rows(&run).iter().map(|row| row.0.as_str()).collect::<Vec<_>>(), ["visible"]);
    let run = rotate(&env, &["--dry-run", "--days", "7", "--include-hidden", "--format", "json"]);
    assert_eq!(
        file_rows(&run).iter().map(|row| row.0.as_str()).collect::<Vec<_>>(),
        [".cache/a", ".hidden", "sub/.dot", "visible"]
    );
}

#[test]
fn lock_file_is_never_a_candidate_even_with_include_hidden() {
    let env = TestEnv::new();
    file(&env, "a", 1, 30.0);
    file(&env, "b", 1, 0.1);
    rotate(&env, &["--days", "7"]).expect_code(0);
    env.set_mtime("artifacts/.mmops-rotate.lock", days_ago(100.0));
    let run = rotate(&env, &["--dry-run", "--days", "7", "--include-hidden", "--format", "json"]);
    assert_eq!(run.json()["scan"]["files"], 1);
    assert!(file_rows(&run).is_empty());
}

#[test]
fn exclude_globs_protect_files() {
    let env = TestEnv::new();
    file(&env, "logs/a.log", 1, 30.0);
    file(&env, "logs/deep/b.log", 1, 30.0);
    file(&env, "logs/pin.keep", 1, 30.0);
    file(&env, "reports/r.json", 1, 30.0);
    file(&env, "new", 1, 0.1);
    let run = rotate(
        &env,
        &[
            "--dry-run",
            "--days",
            "7",
            "--exclude",
            "logs/**/*.log",
            "--exclude",
            "*.keep",
            "--format",
            "json",
        ],
    );
    assert_eq!(run.json()["scan"]["skipped"]["excluded"], 3);
    assert_eq!(file_rows(&run).iter().map(|row| row.0.as_str()).collect::<Vec<_>>(), ["reports/r.json"]);
    // `*` stays inside one folder.
    let run = rotate(&env, &["--dry-run", "--days", "7", "--exclude", "logs/*", "--format", "json"]);
    assert_eq!(
        file_rows(&run).iter().map(|row| row.0.as_str()).collect::<Vec<_>>(),
        ["logs/deep/b.log", "reports/r.json"]
    );
    let run = rotate(&env, &["--dry-run", "--days", "7", "--exclude", "logs/[a"]);
    run.expect_code(2);
    assert!(run.stderr.starts_with("mmops: error: --exclude: invalid glob \"logs/[a\""), "{}", run.stderr);
}

#[test]
fn symlinks_are_never_followed_or_removed_and_nothing_outside_is_touched() {
    let env = TestEnv::new();
    file(&env, "real/old", 1, 30.0);
    file(&env, "keepme", 1, 0.1);
    env.write("outside/victim", "precious");
    env.set_mtime("outside/victim", days_ago(90.0));
    env.write("outside/dir/victim2", "precious");
    env.set_mtime("outside/dir/victim2", days_ago(90.0));
    let base = env.path("artifacts");
    symlink(env.path("outside/victim"), base.join("to_outside_file")).unwrap();
    symlink(env.path("outside/dir"), base.join("to_outside_dir")).unwrap();
    symlink("real/old", base.join("to_inside_file")).unwrap();
    symlink("real", base.join("to_inside_dir")).unwrap();
    symlink("loop_b", base.join("loop_a")).unwrap();
    symlink("loop_a", base.join("loop_b")).unwrap();
    symlink(".", base.join("real/self")).unwrap();
    for link in [
        "to_outside_file",
        "to_outside_dir",
        "to_inside_file",
        "to_inside_dir",
        "loop_a",
        "loop_b",
        "real/self",
    ] {
        env.set_mtime(format!("artifacts/{link}"), days_ago(90.0));
    }
    let run = rotate(&env, &["--days", "7", "--format", "json"]);
    run.expect_code(0);
    let json = run.json();
    assert_eq!(json["scan"]["skipped"]["symlinks"], 7);
    assert_eq!(file_rows(&run), [("real/old".into(), "ttl".into(), "deleted".into())]);
    assert_eq!(
        listing(&base),
        [
            ".mmops-rotate.lock",
            "keepme",
            "loop_a",
            "loop_b",
            "real/self",
            "to_inside_dir",
            "to_inside_file",
            "to_outside_dir",
            "to_outside_file"
        ]
    );
    assert_eq!(env.read("outside/victim"), "precious");
    assert_eq!(env.read("outside/dir/victim2"), "precious");
}

#[test]
fn base_dir_may_itself_be_a_symlink() {
    let env = TestEnv::new();
    env.write("data/artifacts/old", "x");
    env.set_mtime("data/artifacts/old", days_ago(30.0));
    env.write("data/artifacts/new", "x");
    env.set_mtime("data/artifacts/new", days_ago(1.0));
    symlink("data/artifacts", env.path("artifacts")).unwrap();
    let run = rotate(&env, &["--days", "7", "--format", "json"]);
    run.expect_code(0);
    assert_eq!(file_rows(&run), [("old".into(), "ttl".into(), "deleted".into())]);
    assert!(!env.exists("data/artifacts/old"));
    assert!(env.path("artifacts").symlink_metadata().unwrap().is_symlink());
}

#[test]
fn missing_base_dir_is_an_error_and_an_empty_one_is_fine() {
    let env = TestEnv::new();
    let run = rotate(&env, &["--dry-run", "--days", "7", "--base-dir", "artefacts"]);
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        "mmops: error: base dir artefacts does not exist; check --base-dir (default: artifacts) and -C\n"
    );
    assert_eq!(run.stdout, "");
    env.write("not_a_dir", "x");
    let run = rotate(&env, &["--dry-run", "--days", "7", "--base-dir", "not_a_dir"]);
    run.expect_code(2);
    assert!(run.stderr.contains("is not a folder"), "{}", run.stderr);
    env.mkdir("artifacts");
    let run = rotate(&env, &["--days", "7"]);
    run.expect_code(0);
    assert_eq!(run.last_line(), "| rotate | OK | ROTATE=DONE |");
}

#[test]
fn no_limit_and_no_default_policy_is_an_error_naming_the_flags() {
    let env = TestEnv::new();
    env.mkdir("artifacts");
    let run = rotate(&env, &["--dry-run"]);
    run.expect_code(2);
    assert!(
        run.stderr.starts_with(
            "mmops: error: no retention limit given: pass --days, --max-size, --keep or --policy FILE \
             (the default policy deploy/ops/rotation.yaml does not exist in "
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn default_policy_is_used_and_announced_when_no_limit_is_given() {
    let env = TestEnv::new();
    env.write("deploy/ops/rotation.yaml", "rules:\n  - glob: 'logs/**'\n    days: 7\n");
    file(&env, "logs/old.log", 3, 8.0);
    file(&env, "other", 3, 800.0);
    let run = rotate(&env, &["--dry-run"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "scanned artifacts: 2 files, 6 B in 2 folders\n\
         policy deploy/ops/rotation.yaml (the default: no --days, --keep, --max-size or --policy given)\n\
         \x20 rule logs/** (days 7): 1 file, 1 selected, 0 kept (0 B)\n\
         \x20 not covered by any rule (kept): 1 file, 3 B\n\
         would delete  logs/old.log  3 B  8.0 days  ttl\n\
         would free 1 file, 3 B; would keep 1 file, 3 B\n\
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
    assert_eq!(run.json()["uncovered"]["files"], 1);
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

#[test]
fn non_utf8_names_are_deleted_and_printed_escaped() {
    let env = TestEnv::new();
    env.mkdir("artifacts");
    let name = OsStr::from_bytes(b"bad\xffname\n| rotate | OK |");
    let path = env.path("artifacts").join(name);
    fs::write(&path, "x").unwrap();
    filetime::set_file_mtime(&path, filetime::FileTime::from_unix_time(days_ago(30.0).timestamp(), 0))
        .unwrap();
    file(&env, "new", 1, 0.1);
    let run = rotate(&env, &["--days", "7"]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("deleted       bad\\xffname\\n| rotate | OK |  1 B  30.0 days  ttl\n"),
        "{}",
        run.stdout
    );
    assert!(!path.exists());
}

#[test]
fn dry_run_leaves_the_tree_byte_for_byte_unchanged() {
    let env = TestEnv::new();
    file(&env, "a/old", 3, 30.0);
    file(&env, "b/c/old", 3, 30.0);
    file(&env, "new", 3, 0.1);
    symlink("a", env.path("artifacts/link")).unwrap();
    env.mkdir("artifacts/empty");
    let before = snapshot(env.root());
    for args in [
        vec![
            "--dry-run",
            "--days",
            "7",
            "--archive",
            "artifacts/archive",
            "--prune-empty-dirs",
            "--prom-file",
            "rotate.prom",
        ],
        vec!["--dry-run", "--keep", "0"],
    ] {
        let run = rotate(&env, &args);
        run.expect_code(0);
    }
    assert_eq!(snapshot(env.root()), before);
}

#[test]
fn delete_all_guard_refuses_unless_allowed_and_dry_run_warns() {
    let env = TestEnv::new();
    file(&env, "a", 1, 30.0);
    file(&env, "b", 1, 20.0);
    let run = rotate(&env, &["--days", "7"]);
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        "mmops: error: refusing to delete all 2 candidate files (a clock far ahead or a limit of 0 makes every \
         file look old); check the clock and the limits, or pass --allow-delete-all; nothing was deleted\n"
    );
    assert_eq!(run.stdout, "");
    assert_eq!(listing(&env.path("artifacts")), [".mmops-rotate.lock", "a", "b"]);

    let run = rotate(&env, &["--dry-run", "--days", "7"]);
    run.expect_code(0);
    assert!(
        run.stderr.starts_with("mmops: warning: a real run would be refused: refusing to delete all 2"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("a real run would stop here: refusing"), "{}", run.stdout);

    let run = rotate(&env, &["--days", "7", "--allow-delete-all"]);
    run.expect_code(0);
    assert_eq!(listing(&env.path("artifacts")), [".mmops-rotate.lock"]);
}

#[test]
fn max_delete_refuses_a_larger_run() {
    let env = TestEnv::new();
    for index in 0..5 {
        file(&env, &format!("f{index}"), 1, 30.0 - f64::from(index));
    }
    let run = rotate(&env, &["--keep", "1", "--max-delete", "3"]);
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        "mmops: error: refusing to delete 4 files, more than --max-delete 3; check the limits, or raise \
         --max-delete; nothing was deleted\n"
    );
    assert_eq!(listing(&env.path("artifacts")).len(), 6);
    rotate(&env, &["--keep", "1", "--max-delete", "4"]).expect_code(0);
    assert_eq!(listing(&env.path("artifacts")), [".mmops-rotate.lock", "f4"]);
}

#[test]
fn a_lock_held_by_another_process_exits_1_naming_the_lock() {
    let env = TestEnv::new();
    file(&env, "old", 1, 30.0);
    file(&env, "new", 1, 0.1);
    let lock = fs::File::create(env.path("artifacts/.mmops-rotate.lock")).unwrap();
    lock.lock().unwrap();
    let run = rotate(&env, &["--days", "7", "--wait-lock", "150ms"]);
    run.expect_code(1);
    assert_eq!(
        run.stderr,
        "mmops: error: another rotation holds the lock artifacts/.mmops-rotate.lock; let it finish, or wait \
         for it with --wait-lock 10m\n"
    );
    assert!(env.exists("artifacts/old"));
    // A dry run takes no lock and is not blocked.
    rotate(&env, &["--dry-run", "--days", "7"]).expect_code(0);
    drop(lock);
    rotate(&env, &["--days", "7"]).expect_code(0);
    assert!(!env.exists("artifacts/old"));
}

#[test]
fn a_killed_run_is_recovered_by_running_again() {
    // What a SIGKILL leaves behind: a lock file with content (no OS lock any more) and a
    // half-written archive under its temporary name.
    let env = TestEnv::new();
    file(&env, "old", 4, 30.0);
    file(&env, "new", 1, 0.1);
    env.write("artifacts/.mmops-rotate.lock", "pid 4242\n");
    env.write("archive/.mmops-tmp-abc123", "half a zip");
    let run = rotate(&env, &["--days", "7", "--archive", "archive"]);
    run.expect_code(0);
    assert_eq!(
        run.stderr,
        "mmops: removed .mmops-tmp-abc123, a temporary file left by an interrupted run, from archive\n"
    );
    assert_eq!(
        listing(&env.path("archive")),
        [".mmops-rotate-archive.lock", "artifacts-20251011T120000Z.zip"]
    );
    assert!(!env.exists("artifacts/old"));
}

fn zip_contents(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(fs::File::open(path).unwrap()).unwrap();
    (0..archive.len())
        .map(|index| {
            let mut entry = archive.by_index(index).unwrap();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            (entry.name().unwrap().to_string(), bytes)
        })
        .collect()
}

#[test]
fn archive_holds_exactly_the_deleted_files_before_they_go() {
    let env = TestEnv::new();
    env.write("artifacts/logs/a.log", "alpha");
    env.set_mtime("artifacts/logs/a.log", days_ago(30.0));
    env.write("artifacts/b.json", "{\"b\":1}");
    env.set_mtime("artifacts/b.json", days_ago(20.0));
    file(&env, "new", 1, 0.1);
    let run = rotate(&env, &["--days", "7", "--archive", "artifacts/archive", "--format", "json"]);
    run.expect_code(0);
    let json = run.json();
    assert_eq!(json["archive"]["path"], "artifacts/archive/artifacts-20251011T120000Z.zip");
    assert_eq!(json["archive"]["files"], 2);
    assert_eq!(json["archive"]["bytes"], 12);
    assert_eq!(
        zip_contents(&env.path("artifacts/archive/artifacts-20251011T120000Z.zip")),
        [("b.json".to_string(), b"{\"b\":1}".to_vec()), ("logs/a.log".to_string(), b"alpha".to_vec())]
    );
    assert!(!env.exists("artifacts/logs/a.log") && !env.exists("artifacts/b.json"));

    // A second run the same second never overwrites the first archive, and the archive folder
    // inside the base dir is not scanned (its zip is not a candidate).
    env.write("artifacts/c", "gamma");
    env.set_mtime("artifacts/c", days_ago(20.0));
    let run = rotate(&env, &["--days", "7", "--archive", "artifacts/archive", "--format", "json"]);
    run.expect_code(0);
    assert_eq!(run.json()["scan"]["skipped"]["archive_dir"], 1);
    assert_eq!(file_rows(&run), [("c".into(), "ttl".into(), "deleted".into())]);
    assert_eq!(
        zip_contents(&env.path("artifacts/archive/artifacts-20251011T120000Z-2.zip")),
        [("c".to_string(), b"gamma".to_vec())]
    );
    assert_eq!(zip_contents(&env.path("artifacts/archive/artifacts-20251011T120000Z.zip")).len(), 2);
}

#[test]
fn a_failing_archive_dir_deletes_nothing() {
    let env = TestEnv::new();
    file(&env, "old", 1, 30.0);
    file(&env, "new", 1, 0.1);
    env.write("not_a_dir", "x");
    let run = rotate(&env, &["--days", "7", "--archive", "not_a_dir/sub"]);
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        "mmops: error: cannot stat the archive folder not_a_dir/sub: Not a directory (os error 20)\n"
    );
    assert_eq!(run.stdout, "");
    assert!(env.exists("artifacts/old"));

    // An archive folder the (unprivileged) user cannot write into: found out after planning,
    // while writing the zip; still nothing is deleted.
    for path in ["artifacts", "artifacts/old", "artifacts/new"] {
        env.give_to_nobody(path);
    }
    env.mkdir("archive");
    fs::set_permissions(env.path("archive"), fs::Permissions::from_mode(0o555)).unwrap();
    let run = env
        .run_as_nobody_with_env(["rotate", "--days", "7", "--archive", "archive"], &[("CI_FAKE_UTC", NOW)]);
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        "mmops: error: cannot open the archive lock in archive: Permission denied (os error 13)\n"
    );
    assert!(env.exists("artifacts/old"));
    assert_eq!(listing(&env.path("archive")), Vec::<String>::new());
    fs::set_permissions(env.path("archive"), fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn archive_into_the_base_dir_itself_is_refused() {
    let env = TestEnv::new();
    file(&env, "old", 1, 30.0);
    file(&env, "new", 1, 0.1);
    let run = rotate(&env, &["--days", "7", "--archive", "artifacts"]);
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        "mmops: error: --archive must not be the base dir itself (its zips would become candidates); use a \
         folder such as artifacts/archive or one outside it\n"
    );
    assert!(env.exists("artifacts/old"));
}

#[test]
fn non_utf8_names_stop_an_archiving_run_before_anything_is_deleted() {
    let env = TestEnv::new();
    env.mkdir("artifacts");
    let path = env.path("artifacts").join(OsStr::from_bytes(b"x\xff"));
    fs::write(&path, "x").unwrap();
    filetime::set_file_mtime(&path, filetime::FileTime::from_unix_time(days_ago(30.0).timestamp(), 0))
        .unwrap();
    file(&env, "old", 1, 30.0);
    file(&env, "new", 1, 0.1);
    let run = rotate(&env, &["--days", "7", "--archive", "archive"]);
    run.expect_code(2);
    assert!(run.stderr.contains("cannot archive x\\xff: the name is not valid UTF-8"), "{}", run.stderr);
    assert!(path.exists() && env.exists("artifacts/old"));
    assert_eq!(listing(&env.path("archive")), [".mmops-rotate-archive.lock"]);
}

#[test]
fn prune_removes_only_folders_this_run_emptied() {
    let env = TestEnv::new();
    file(&env, "a/b/c/old", 1, 30.0);
    file(&env, "d/old", 1, 30.0);
    file(&env, "d/.hidden", 1, 30.0);
    file(&env, "e/old", 1, 30.0);
    file(&env, "e/new", 1, 0.1);
    env.mkdir("artifacts/already_empty");
    env.mkdir("artifacts/f/already_empty_inside");
    file(&env, "f/old", 1, 30.0);
    let run = rotate(&env, &["--days", "7", "--prune-empty-dirs"]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("removed empty folder a\nremoved empty folder a/b\nremoved empty folder a/b/c\n"),
        "{}",
        run.stdout
    );
    assert!(!env.exists("artifacts/a"));
    assert!(env.exists("artifacts/d/.hidden"));
    assert!(env.exists("artifacts/e/new"));
    assert!(env.exists("artifacts/already_empty"));
    assert!(env.exists("artifacts/f/already_empty_inside"));
    assert!(env.exists("artifacts"));
}

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

#[test]
fn unreadable_folder_is_reported_and_the_run_goes_on_with_exit_1() {
    let env = TestEnv::new();
    file(&env, "locked/secret", 1, 30.0);
    file(&env, "open/old", 1, 30.0);
    file(&env, "new", 1, 0.1);
    for path in ["artifacts", "artifacts/open", "artifacts/open/old", "artifacts/new"] {
        env.give_to_nobody(path);
    }
    // 0o000 stops nobody (the folder is root's) and, when the tests do not run as root, the owner.
    fs::set_permissions(env.path("artifacts/locked"), fs::Permissions::from_mode(0o000)).unwrap();
    let run = env.run_as_nobody_with_env(["rotate", "--days", "7"], &[("CI_FAKE_UTC", NOW)]);
    run.expect_code(1);
    assert_eq!(run.stderr, "mmops: error: cannot read artifacts/locked: Permission denied (os error 13)\n");
    assert_eq!(
        run.stdout,
        "scanned artifacts: 2 files, 2 B in 2 folders\n\
         limits (days 7): 2 files, 1 selected, 1 kept (1 B)\n\
         deleted       open/old  1 B  30.0 days  ttl\n\
         freed 1 file, 1 B; kept 1 file, 1 B\n\
         | rotate | FAIL | ROTATE=PARTIAL |\n"
    );
    assert!(!env.exists("artifacts/open/old"));
    fs::set_permissions(env.path("artifacts/locked"), fs::Permissions::from_mode(0o755)).unwrap();
    assert!(env.exists("artifacts/locked/secret"));
}

#[test]
fn a_file_that_cannot_be_deleted_is_reported_and_the_run_continues() {
    let env = TestEnv::new();
    file(&env, "root_owned/old", 1, 30.0);
    file(&env, "mine/old", 1, 29.0);
    file(&env, "new", 1, 0.1);
    for path in ["artifacts", "artifacts/mine", "artifacts/mine/old", "artifacts/new"] {
        env.give_to_nobody(path);
    }
    // Readable but not writable for the runner (nobody, or the owner when not root): the delete fails.
    fs::set_permissions(env.path("artifacts/root_owned"), fs::Permissions::from_mode(0o555)).unwrap();
    let run =
        env.run_as_nobody_with_env(["rotate", "--days", "7", "--format", "json"], &[("CI_FAKE_UTC", NOW)]);
    run.expect_code(1);
    assert_eq!(
        run.stderr,
        "mmops: error: cannot delete artifacts/root_owned/old: Permission denied (os error 13)\n"
    );
    let json = run.json();
    assert_eq!(json["marker"], "ROTATE=PARTIAL");
    assert_eq!(json["status"], "FAIL");
    assert_eq!(json["files"][0]["path"], "root_owned/old");
    assert_eq!(json["files"][0]["result"], "failed");
    assert_eq!(json["files"][0]["error"], "Permission denied (os error 13)");
    assert_eq!(json["files"][1]["result"], "deleted");
    assert_eq!(json["totals"]["failed"], 1);
    assert!(env.exists("artifacts/root_owned/old"));
    assert!(!env.exists("artifacts/mine/old"));
    fs::set_permissions(env.path("artifacts/root_owned"), fs::Permissions::from_mode(0o755)).unwrap();
}

mod property {
    //! Random trees through the real binary: after a real run the kept candidates satisfy every
    //! limit, and nothing that was not a candidate (hidden, excluded, symlink) is touched.

    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    struct Spec {
        folder: u8,
        kind: u8,
        age_hours: i64,
        size: usize,
    }

    fn specs() -> impl Strategy<Value = Vec<Spec>> {
        prop::collection::vec(
            (0u8..4, 0u8..10, -48i64..2_000, 0usize..3_000)
                .prop_map(|(folder, kind, age_hours, size)| Spec { folder, kind, age_hours, size }),
            1..25,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        #[test]
        fn kept_candidates_satisfy_every_limit_and_nothing_else_is_touched(
            specs in specs(),
            days in prop::option::of(prop::sample::select(vec!["0", "0.5", "3", "30"])),
            keep in prop::option::of(0u64..10),
            max_size in prop::option::of(0u64..20_000),
        ) {
            let env = TestEnv::new();
            env.mkdir("artifacts");
            env.write("outside", "precious");
            let mut protected = Vec::new();
            let mut candidates = Vec::new();
            for (index, spec) in specs.iter().enumerate() {
                let folder = format!("d{}", spec.folder);
                // kind 0: hidden file, 1: excluded file, 2: symlink, else a candidate.
                let name = match spec.kind {
                    0 => format!("{folder}/.hidden{index}"),
                    1 => format!("{folder}/pinned{index}.keep"),
                    _ => format!("{folder}/f{index}"),
                };
                let relative = format!("artifacts/{name}");
                if spec.kind == 2 {
                    env.mkdir(format!("artifacts/{folder}"));
                    symlink(env.path("outside"), env.path(&relative)).unwrap();
                } else {
                    env.write(&relative, vec![b'x'; spec.size]);
                }
                env.set_mtime(&relative, utc(NOW) - Duration::hours(spec.age_hours));
                if spec.kind <= 2 { protected.push(relative) } else { candidates.push((relative, spec.clone())) }
            }
            let mut args = vec!["--allow-delete-all".to_string(), "--exclude".into(), "*.keep".into(), "--format".into(), "json".into()];
            if let Some(days) = days { args.extend(["--days".into(), days.to_string()]); }
            if let Some(keep) = keep { args.extend(["--keep".into(), keep.to_string()]); }
            if let Some(max_size) = max_size { args.extend(["--max-size".into(), max_size.to_string()]); }
            if days.is_none() && keep.is_none() && max_size.is_none() { args.extend(["--keep".into(), "3".into()]); }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let run = rotate(&env, &args);
            prop_assert_eq!(run.code, 0, "stderr: {}", run.stderr);

            for path in &protected {
                prop_assert!(env.exists(path), "{} was touched", path);
            }
            prop_assert_eq!(env.read("outside"), "precious");
            let kept: Vec<&Spec> = candidates.iter().filter(|(path, _)| env.exists(path)).map(|(_, spec)| spec).collect();
            let future: Vec<&&Spec> = kept.iter().filter(|spec| spec.age_hours < 0).collect();
            if let Some(days) = days {
                let days: f64 = days.parse().unwrap();
                prop_assert!(kept.iter().all(|spec| (spec.age_hours as f64) <= days * 24.0));
            }
            if let Some(keep) = keep {
                prop_assert!(kept.len() as u64 <= keep.max(future.len() as u64));
            }
            if let Some(max_size) = max_size {
                let total: u64 = kept.iter().map(|spec| spec.size as u64).sum();
                let future_total: u64 = future.iter().map(|spec| spec.size as u64).sum();
                prop_assert!(total <= max_size.max(future_total));
            }
            // The report names exactly the files that are gone.
            let json = run.json();
            let mut reported: Vec<String> = json["files"].as_array().unwrap().iter()
                .map(|row| format!("artifacts/{}", row["path"].as_str().unwrap())).collect();
            reported.sort();
            let mut gone: Vec<String> = candidates.iter().filter(|(path, _)| !env.exists(path)).map(|(path, _)| path.clone()).collect();
            gone.sort();
            prop_assert_eq!(reported, gone);
        }
    }
}

#[test]
fn other_filesystems_mounted_below_the_base_dir_are_not_entered() {
    // Needs a private mount namespace (root or CAP_SYS_ADMIN); where the kernel refuses one,
    // there is no mount to test against and the test has nothing to check.
    let env = TestEnv::new();
    file(&env, "old", 1, 30.0);
    file(&env, "new", 1, 0.1);
    env.mkdir("artifacts/mnt");
    let script = format!(
        "mount -t tmpfs mmops-test artifacts/mnt || exit 97; \
         echo x > artifacts/mnt/old_on_tmpfs && touch -d '2025-01-01T00:00:00Z' artifacts/mnt/old_on_tmpfs && \
         exec {} rotate --days 7 --format json",
        env!("CARGO_BIN_EXE_mmops")
    );
    let mut command = std::process::Command::new("unshare");
    command.args(["-m", "sh", "-c", &script]).current_dir(env.root()).env("CI_FAKE_UTC", NOW);
    let Ok(output) = command.output() else { return };
    if output.status.code() == Some(97) || (!output.status.success() && output.stdout.is_empty()) {
        return; // no mount namespace here
    }
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    run.expect_code(0);
    assert_eq!(run.json()["scan"]["skipped"]["mounts"], 1);
    assert_eq!(file_rows(&run), [("old".into(), "ttl".into(), "deleted".into())]);
}
