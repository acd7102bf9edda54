//! Failures the run survives: unreadable folders, files that cannot be deleted.

use super::*;

#[test]
fn unreadable_folder_is_reported_and_the_run_goes_on_with_exit_1() {
    if !crate::support::nobody_available() {
        return;
    }
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
    if !crate::support::nobody_available() {
        return;
    }
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
