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
    rotate(&env, &["--days", "7", "--wait-lock", "150ms"])
        .code(1)
        .stdout_is("| rotate | FAIL | ROTATE=LOCKED |\n")
        .stderr_is(
            "mmops: error: another rotation holds the lock artifacts/.mmops-rotate.lock; gave up after waiting \
             150ms (--wait-lock); nothing was deleted — let it finish, or wait longer with --wait-lock\n",
        )
        .run();
    assert!(started.elapsed() >= std::time::Duration::from_millis(150));
    // Without --wait-lock it says it did not wait; JSON gets a document with the facts.
    fs::write(env.path("artifacts/.mmops-rotate.lock"), "pid 4242\n").unwrap();
    let message = "another rotation holds the lock artifacts/.mmops-rotate.lock (pid 4242); did not wait (no \
                   --wait-lock); nothing was deleted — let it finish, or wait for it with --wait-lock 10m";
    let locked = rotate(&env, &["--days", "7", "--format", "json"])
        .code(1)
        .stdout(Expect::Anything)
        .stderr_is(&format!("mmops: error: {message}\n"))
        .run()
        .json_as::<mirror::Locked>();
    assert_eq!(
        locked,
        mirror::Locked {
            base_dir: "artifacts".into(),
            lock: "artifacts/.mmops-rotate.lock".into(),
            holder: "pid 4242".into(),
            waited_seconds: 0.0,
            error: message.into(),
            tool: "rotate".into(),
            status: mirror::Status::Fail,
            marker: "ROTATE=LOCKED".into(),
        }
    );
    // --quiet still prints the marker row of a failing run.
    rotate(&env, &["--days", "7", "--quiet"])
        .code(1)
        .stdout_is("| rotate | FAIL | ROTATE=LOCKED |\n")
        .stderr_is(&format!("mmops: error: {message}\n"))
        .run();
    assert!(env.exists("artifacts/old"));
    // A dry run takes no lock and is not blocked.
    rotate(&env, &["--dry-run", "--days", "7"])
        .code(0)
        .stdout_contains("would delete  old  1 B  30.0 days  ttl\n")
        .stdout_contains("| rotate | OK | ROTATE=DRYRUN |\n")
        .stderr_empty()
        .run();
    drop(lock);
    rotate(&env, &["--days", "7"])
        .code(0)
        .stdout_contains("deleted       old  1 B  30.0 days  ttl\n")
        .stdout_contains("| rotate | OK | ROTATE=DONE |\n")
        .stderr_empty()
        .run();
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
    rotate(&env, &["--days", "7", "--archive", "archive"])
        .code(0)
        .stdout_is(
            "scanned artifacts: 2 files, 5 B in 1 folder\n\
             limits (days 7): 2 files, 1 selected, 1 kept (1 B)\n\
             archived 1 file (4 B) into archive/artifacts-20251011T120000Z.zip\n\
             deleted       old  4 B  30.0 days  ttl\n\
             freed 1 file, 4 B; kept 1 file, 1 B\n\
             | rotate | OK | ROTATE=DONE |\n",
        )
        .stderr_is(&format!(
            "mmops: removed archive/.mmops-tmp-{dead}-abc123, a temporary file of mmops process {dead}, which \
             was killed before it finished\n"
        ))
        .run();
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
    // As rotate makes it: mode 0700 (anything else is not treated as a quarantine).
    fs::set_permissions(env.path(&quarantine), fs::Permissions::from_mode(0o700)).unwrap();
    env.write(format!("{quarantine}/0/restored.log"), "was being deleted");
    env.set_mtime(format!("{quarantine}/0/restored.log"), days_ago(1.0));
    env.write(format!("{quarantine}/1.origin"), "gone/folder");
    env.write(format!("{quarantine}/1/stranded.log"), "its folder is gone");
    let quarantine_name = quarantine.strip_prefix("artifacts/").unwrap();
    // A file stuck in a quarantine is a failure (issue 10 audit 4: it ended DONE, exit 0).
    let stranded = format!(
        "mmops: error: artifacts/{quarantine_name}/1/stranded.log stays in the quarantine of an interrupted run: \
         its name is taken or its folder is gone; move it back by hand\n"
    );
    let run = rotate(&env, &["--days", "7"])
        .code(1)
        .stdout(Expect::Anything) // its ending is asserted below
        .stderr_is(&format!(
            "{stranded}mmops: warning: put back 1 file that an interrupted run had moved into its quarantine \
             folder in artifacts\n"
        ))
        .run();
    assert_eq!(env.read("artifacts/sub/restored.log"), "was being deleted");
    assert_eq!(env.read(format!("{quarantine}/1/stranded.log")), "its folder is gone");
    assert!(!env.exists(format!("{quarantine}/0")));
    assert!(
        run.stdout.ends_with(&format!(
            "left in a quarantine folder: {quarantine_name}/1/stranded.log  (move it back by hand)\n\
             | rotate | FAIL | ROTATE=PARTIAL |\n"
        )),
        "{}",
        run.stdout
    );
    // The next run: nothing left to put back (no warning), the stranded file still stuck.
    let document: Document = rotate(&env, &["--days", "7", "--format", "json"])
        .code(1)
        .stdout(Expect::Anything)
        .stderr_is(&stranded)
        .run()
        .json_as();
    assert_eq!(document.left_in_quarantine, [format!("{quarantine_name}/1/stranded.log")]);
    assert_eq!((document.marker.as_str(), document.status), ("ROTATE=PARTIAL", mirror::Status::Fail));
    assert_eq!(document.warnings, Vec::<String>::new());
}

#[test]
fn only_what_rotate_makes_in_a_quarantine_is_ever_removed() {
    // Issue 10 audit 2: any "<x>.origin" in a dead quarantine without a matching folder was
    // unlinked, so base/.mmops-quarantine-999999-abcd/notes.origin (a file outside the plan)
    // went, unreported, exit 0.
    let env = TestEnv::new();
    file(&env, "old", 1, 30.0);
    file(&env, "new", 1, 0.1);
    let dead = dead_pid();
    // Named like a quarantine but not one rotate makes (the name's random part is not 8 hex
    // digits): never entered.
    let fake = "artifacts/.mmops-quarantine-999999-abcd";
    env.write(format!("{fake}/notes.origin"), "precious");
    env.write(format!("{fake}/0.origin"), "sub");
    // Well formed and dead, but mode 0755: not ours either.
    let open = format!("artifacts/.mmops-quarantine-{dead}-00000001");
    env.write(format!("{open}/0.origin"), "sub");
    // Ours (0700): its own "<n>.origin" record goes, a "notes.origin" stays and is reported.
    let ours = format!("artifacts/.mmops-quarantine-{dead}-00000002");
    env.write(format!("{ours}/notes.origin"), "precious");
    env.write(format!("{ours}/7.origin"), "sub");
    fs::set_permissions(env.path(&ours), fs::Permissions::from_mode(0o700)).unwrap();
    let ours_name = ours.strip_prefix("artifacts/").unwrap();
    let open_name = open.strip_prefix("artifacts/").unwrap();
    let run = rotate(&env, &["--days", "7"])
        .code(1)
        .stdout(Expect::Anything) // its ending is asserted below
        .stderr_is(&format!(
            "mmops: error: artifacts/{ours_name}/notes.origin stays in the quarantine of an interrupted run: its \
             name is taken or its folder is gone; move it back by hand\n\
             mmops: warning: artifacts/{open_name} is named like a quarantine folder but its mode is not 0700; left \
             alone (not entered, nothing in it touched)\n\
             mmops: warning: artifacts/.mmops-quarantine-999999-abcd is named like a quarantine folder but its \
             name is not one rotate makes; left alone (not entered, nothing in it touched)\n"
        ))
        .run();
    assert!(
        run.stdout.ends_with(&format!(
            "left in a quarantine folder: {ours_name}/notes.origin  (move it back by hand)\n\
             | rotate | FAIL | ROTATE=PARTIAL |\n"
        )),
        "{}",
        run.stdout
    );
    assert_eq!(env.read(format!("{fake}/notes.origin")), "precious");
    assert_eq!(env.read(format!("{fake}/0.origin")), "sub");
    assert_eq!(env.read(format!("{open}/0.origin")), "sub");
    assert_eq!(env.read(format!("{ours}/notes.origin")), "precious");
    assert!(!env.exists(format!("{ours}/7.origin")), "rotate's own stale record is tidied");
    assert!(!env.exists("artifacts/old"), "the run itself went on");
}

#[test]
fn the_archive_lock_is_waited_for_no_longer_than_wait_lock() {
    // Issue 10 audit 3: the archive folder's lock was taken with a blocking lock(), so a held
    // archive lock made `--wait-lock 1s` hang for ever.
    let env = TestEnv::new();
    file(&env, "old", 1, 30.0);
    file(&env, "new", 1, 0.1);
    env.mkdir("archive");
    let lock = fs::File::create(env.path("archive/.mmops-rotate-archive.lock")).unwrap();
    lock.lock().unwrap();
    let mut command = env.command();
    command.args(["rotate", "--days", "7", "--archive", "archive", "--wait-lock", "300ms"]);
    command.env("CI_FAKE_UTC", NOW).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let started = std::time::Instant::now();
    let mut child = command.spawn().unwrap();
    while child.try_wait().unwrap().is_none() && started.elapsed() < std::time::Duration::from_secs(20) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let waited = started.elapsed();
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    assert!(waited < std::time::Duration::from_secs(10), "hung for {waited:?} on the archive lock");
    assert!(waited >= std::time::Duration::from_millis(300), "did not wait: {waited:?}");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "mmops: error: another rotation is writing into the archive folder archive: it holds the lock \
         archive/.mmops-rotate-archive.lock; nothing was deleted; let it finish, or wait for it with --wait-lock 10m\n"
    );
    assert!(output.stdout.is_empty());
    assert!(env.exists("artifacts/old"));
    assert_eq!(super::archive::hidden_entries(&env.path("artifacts")), Vec::<String>::new());
    drop(lock);
    rotate(&env, &["--days", "7", "--archive", "archive", "--wait-lock", "300ms"])
        .code(0)
        .stdout_contains("archived 1 file (1 B) into archive/artifacts-20251011T120000Z.zip\n")
        .stdout_contains("| rotate | OK | ROTATE=DONE |\n")
        .stderr_empty()
        .run();
    assert!(!env.exists("artifacts/old"));
}

#[test]
fn a_folder_named_like_a_quarantine_is_named_escaped_once_and_left_alone() {
    let env = TestEnv::new();
    file(&env, "old", 1, 30.0);
    file(&env, "new", 1, 0.1);
    env.write("artifacts/.mmops-quarantine-1-\u{202e}\\/notes", "precious");
    rotate(&env, &["--days", "7"])
        .code(0)
        .stdout_contains("deleted       old  1 B  30.0 days  ttl\n")
        .stdout_contains("| rotate | OK | ROTATE=DONE |\n")
        .stderr_is(
            "mmops: warning: artifacts/.mmops-quarantine-1-\\u{202e}\\\\ is named like a quarantine folder but \
             its name is not one rotate makes; left alone (not entered, nothing in it touched)\n",
        )
        .run();
    assert_eq!(env.read("artifacts/.mmops-quarantine-1-\u{202e}\\/notes"), "precious");
    assert!(!env.exists("artifacts/old"));
}
