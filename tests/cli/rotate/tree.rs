//! What the scan takes and leaves: hidden files, excludes, symlinks, mounts, odd names, dry runs.

use super::*;

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
    for (code, args) in [
        (
            0,
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
        ),
        // Refused by the delete-all guard: the dry run fails as the real run would.
        (2, vec!["--dry-run", "--keep", "0"]),
    ] {
        let run = rotate(&env, &args);
        run.expect_code(code);
    }
    assert_eq!(snapshot(env.root()), before);
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
fn other_filesystems_mounted_below_the_base_dir_are_not_entered() {
    // Needs a private mount namespace (root or CAP_SYS_ADMIN): skipped where refused, and a
    // failure under CI=true (it returned silently even in CI).
    if !crate::support::mount_namespace_available() {
        return;
    }
    let env = TestEnv::new();
    file(&env, "old", 1, 30.0);
    file(&env, "new", 1, 0.1);
    env.mkdir("artifacts/mnt");
    let script = "mount -t tmpfs mmops-test artifacts/mnt && \
         echo x > artifacts/mnt/old_on_tmpfs && touch -d '2025-01-01T00:00:00Z' artifacts/mnt/old_on_tmpfs && \
         exec \"$MMOPS\" rotate --days 7 --format json";
    // Skipped with a word where mount namespaces are refused; a failure under CI=true.
    let Some(run) = crate::support::run_in_mount_namespace(&env, script, NOW) else { return };
    run.expect_code(0);
    assert_eq!(run.json()["scan"]["skipped"]["mounts"], 1);
    assert_eq!(file_rows(&run), [("old".into(), "ttl".into(), "deleted".into())]);
}
