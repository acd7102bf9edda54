//! The run lock: held by another run, left by a killed one, and lock files that are traps.

use super::*;

#[test]
fn a_lock_held_by_another_process_exits_1_naming_the_lock() {
    let env = TestEnv::new();
    file(&env, "old", 1, 30.0);
    file(&env, "new", 1, 0.1);
    let lock = fs::File::create(env.path("artifacts/.mmops-rotate.lock")).unwrap();
    lock.lock().unwrap();
    // Issue 12 item 5: it says it waited and for how long, and ends with a marker row.
    let started = std::time::Instant::now();
    let run = rotate(&env, &["--days", "7", "--wait-lock", "150ms"]);
    assert!(started.elapsed() >= std::time::Duration::from_millis(150));
    run.expect_code(1);
    assert_eq!(run.stdout, "| rotate | FAIL | ROTATE=LOCKED |\n");
    assert_eq!(
        run.stderr,
        "mmops: error: another rotation holds the lock artifacts/.mmops-rotate.lock; gave up after waiting \
         150ms (--wait-lock); nothing was deleted — let it finish, or wait longer with --wait-lock\n"
    );
    // Without --wait-lock it says it did not wait; JSON gets a document with the facts.
    fs::write(env.path("artifacts/.mmops-rotate.lock"), "pid 4242\n").unwrap();
    let run = rotate(&env, &["--days", "7", "--format", "json"]);
    run.expect_code(1);
    let message = "another rotation holds the lock artifacts/.mmops-rotate.lock (pid 4242); did not wait (no \
                   --wait-lock); nothing was deleted — let it finish, or wait for it with --wait-lock 10m";
    assert_eq!(run.stderr, format!("mmops: error: {message}\n"));
    assert_eq!(
        run.json(),
        serde_json::json!({"base_dir": "artifacts", "lock": "artifacts/.mmops-rotate.lock", "holder": "pid 4242",
            "waited_seconds": 0.0, "error": message, "tool": "rotate", "status": "FAIL", "marker": "ROTATE=LOCKED"})
    );
    // --quiet still prints the marker row of a failing run.
    let run = rotate(&env, &["--days", "7", "--quiet"]);
    run.expect_code(1);
    assert_eq!(run.stdout, "| rotate | FAIL | ROTATE=LOCKED |\n");
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
    let dead = dead_pid();
    env.write(format!("archive/.mmops-tmp-{dead}-abc123"), "half a zip");
    let run = rotate(&env, &["--days", "7", "--archive", "archive"]);
    run.expect_code(0);
    assert_eq!(
        run.stderr,
        format!(
            "mmops: removed archive/.mmops-tmp-{dead}-abc123, a temporary file of mmops process {dead}, which \
             was killed before it finished\n"
        )
    );
    assert_eq!(
        listing(&env.path("archive")),
        [".mmops-rotate-archive.lock", "artifacts-20251011T120000Z.zip"]
    );
    assert!(!env.exists("artifacts/old"));
}

#[test]
fn a_killed_runs_quarantine_is_put_back_never_deleted() {
    // What a SIGKILL between "moved into the quarantine" and "unlinked" leaves: the next run puts
    // the file back under its name; one whose folder is gone stays, reported.
    let env = TestEnv::new();
    file(&env, "sub/other", 1, 0.1);
    let quarantine = format!("artifacts/.mmops-quarantine-{}-0badc0de", dead_pid());
    env.write(format!("{quarantine}/0.origin"), "sub");
    env.write(format!("{quarantine}/0/restored.log"), "was being deleted");
    env.set_mtime(format!("{quarantine}/0/restored.log"), days_ago(1.0));
    env.write(format!("{quarantine}/1.origin"), "gone/folder");
    env.write(format!("{quarantine}/1/stranded.log"), "its folder is gone");
    let run = rotate(&env, &["--days", "7"]);
    run.expect_code(0);
    assert_eq!(
        run.stderr,
        format!(
            "mmops: warning: put back 1 file that an interrupted run had moved into its quarantine folder in \
             artifacts\nmmops: error: artifacts/{quarantine_name}/1/stranded.log stays in the quarantine of an \
             interrupted run: its name is taken or its folder is gone; move it back by hand\n",
            quarantine_name = quarantine.strip_prefix("artifacts/").unwrap()
        )
    );
    assert_eq!(env.read("artifacts/sub/restored.log"), "was being deleted");
    assert_eq!(env.read(format!("{quarantine}/1/stranded.log")), "its folder is gone");
    assert!(!env.exists(format!("{quarantine}/0")));
    assert!(run.stdout.ends_with("| rotate | OK | ROTATE=DONE |\n"), "{}", run.stdout);
}
