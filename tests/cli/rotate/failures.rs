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
    // As nobody: not through `Check`, so all three streams are asserted here.
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
    // The JSON report names the folder it could not read in `scan.errors` (no test read it).
    let run =
        env.run_as_nobody_with_env(["rotate", "--days", "7", "--format", "json"], &[("CI_FAKE_UTC", NOW)]);
    run.expect_code(1);
    assert_eq!(run.stderr, "mmops: error: cannot read artifacts/locked: Permission denied (os error 13)\n");
    let document: Document = run.json_as();
    assert_eq!(
        document.scan.errors,
        [mirror::PathError { path: "locked".into(), error: "Permission denied (os error 13)".into() }]
    );
    assert_eq!((document.marker.as_str(), document.status), ("ROTATE=PARTIAL", mirror::Status::Fail));
    assert!(document.files.is_empty(), "{:?}", document.files);
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
    // As nobody: not through `Check`, so all three streams are asserted here (stdout typed below).
    let run =
        env.run_as_nobody_with_env(["rotate", "--days", "7", "--format", "json"], &[("CI_FAKE_UTC", NOW)]);
    run.expect_code(1);
    assert_eq!(
        run.stderr,
        "mmops: error: cannot delete artifacts/root_owned/old: Permission denied (os error 13)\n"
    );
    let document: Document = run.json_as();
    assert_eq!((document.marker.as_str(), document.status), ("ROTATE=PARTIAL", mirror::Status::Fail));
    assert_eq!(
        document.rows(),
        [
            ("root_owned/old".into(), Reason::Ttl, FileResult::Failed),
            ("mine/old".into(), Reason::Ttl, FileResult::Deleted)
        ]
    );
    assert_eq!(document.files[0].error.as_deref(), Some("Permission denied (os error 13)"));
    assert_eq!(document.files[1].error, None);
    assert_eq!(
        document.totals,
        mirror::Totals {
            selected_files: 2,
            selected_bytes: 2,
            deleted_files: 1,
            deleted_bytes: 1,
            // The file that could not be deleted is kept, and counted so.
            kept_files: 2,
            kept_bytes: 2,
            failed: 1,
            ..mirror::Totals::default()
        }
    );
    // The failure is on stderr and in the row, not a warning.
    assert_eq!(document.warnings, Vec::<String>::new());
    assert!(env.exists("artifacts/root_owned/old"));
    assert!(!env.exists("artifacts/mine/old"));
    fs::set_permissions(env.path("artifacts/root_owned"), fs::Permissions::from_mode(0o755)).unwrap();
}
