//! `--base-dir` given more than once (issue 17): every root planned before any is touched, each
//! rotated under its own lock, one report with a section per root, the worst status; and the
//! attacks on it (a root swapped for a symlink after planning, an interrupt, a kill).

use std::process::{Child, Stdio};
use std::time::Instant;

use super::mirror::{
    ErrorDocument, FailedRoot, Group, NotRunRoot, RootSection, RootsDocument, Status, Totals,
};
use super::*;
use crate::prom_tools::{PROMTOOL_INSTALL, promtool};
use crate::support::{Check, Expect, tool_available};

/// `mmops rotate ARGS` at NOW, checked with the builder.
fn rotate_check<'a>(env: &'a TestEnv, args: &[&str]) -> Check<'a> {
    let mut all = vec!["rotate"];
    all.extend_from_slice(args);
    env.check(all).env("CI_FAKE_UTC", NOW)
}

/// Writes `<root>/<relative>` with `size` bytes, dated `age_days` before NOW.
fn root_file(env: &TestEnv, root: &str, relative: &str, size: usize, age_days: f64) {
    let path = format!("{root}/{relative}");
    env.write(&path, vec![b'x'; size]);
    env.set_mtime(&path, days_ago(age_days));
}

/// Two roots `a` and `b`, each with one file past `--days 7` and one within it.
fn two_roots(env: &TestEnv) {
    roots(env, &["a", "b"]);
}

/// Each of `names` with `old.log` (30 days, 2 B) and `new.log` (1 day, 1 B).
fn roots(env: &TestEnv, names: &[&str]) {
    for root in names {
        root_file(env, root, "old.log", 2, 30.0);
        root_file(env, root, "new.log", 1, 1.0);
    }
}

/// What `--days 7` prints for one root made by [`two_roots`] and rotated.
fn done_section(root: &str) -> String {
    format!(
        "== base dir {root} ==\n\
         scanned {root}: 2 files, 3 B in 1 folder\n\
         limits (days 7): 2 files, 1 selected, 1 kept (1 B)\n\
         deleted       old.log  2 B  30.0 days  ttl\n\
         freed 1 file, 2 B; kept 1 file, 1 B\n"
    )
}

fn totals(deleted: u64, kept: u64) -> Totals {
    Totals {
        selected_files: deleted,
        selected_bytes: 2 * deleted,
        deleted_files: deleted,
        deleted_bytes: 2 * deleted,
        kept_files: kept,
        kept_bytes: kept,
        vanished: 0,
        changed: 0,
        failed: 0,
        interrupted: 0,
        quarantined: 0,
    }
}

#[test]
fn two_roots_are_rotated_in_the_order_given_one_section_each() {
    let env = TestEnv::new();
    two_roots(&env);
    // A dry run lists the roots in the order given, not sorted.
    let dry = |section: String| {
        section
            .replace("deleted       ", "would delete  ")
            .replace("freed 1 file, 2 B; kept", "would free 1 file, 2 B; would keep")
    };
    rotate_check(&env, &["--base-dir", "b", "--base-dir", "a", "--days", "7", "--dry-run"])
        .code(0)
        .stdout_is(&format!(
            "{}\n{}| rotate | OK | ROTATE=DRYRUN |\n",
            dry(done_section("b")),
            dry(done_section("a"))
        ))
        .stderr_empty()
        .run();
    for root in ["a", "b"] {
        assert_eq!(listing(&env.path(root)), ["new.log", "old.log"], "{root}");
    }
    rotate_check(&env, &["--base-dir", "a", "--base-dir", "b", "--days", "7"])
        .code(0)
        .stdout_is(&format!("{}\n{}| rotate | OK | ROTATE=DONE |\n", done_section("a"), done_section("b")))
        .stderr_empty()
        .run();
    for root in ["a", "b"] {
        assert_eq!(listing(&env.path(root)), [".mmops-rotate.lock", "new.log"], "{root}");
    }
    // --quiet on a passing run prints nothing, as with one root.
    rotate_check(&env, &["--base-dir", "a", "--base-dir", "b", "--days", "7", "--quiet"])
        .code(0)
        .stdout_empty()
        .stderr_empty()
        .run();
}

#[test]
fn json_has_one_section_per_root_each_with_its_status() {
    let env = TestEnv::new();
    two_roots(&env);
    let run = rotate_check(&env, &["--base-dir", "a", "--base-dir", "b", "--days", "7", "--format", "json"])
        .code(0)
        .stdout(Expect::Anything)
        .stderr_empty()
        .run();
    let document: RootsDocument = run.json_as();
    assert_eq!(
        (document.tool.as_str(), document.status, document.marker.as_str(), document.roots.len()),
        ("rotate", Status::Ok, "ROTATE=DONE", 2)
    );
    for (section, root) in document.roots.iter().zip(["a", "b"]) {
        let ran = section.ran();
        assert_eq!((ran.base_dir.as_str(), ran.status, ran.dry_run), (root, Status::Ok, false));
        assert_eq!(ran.totals, totals(1, 1));
        assert_eq!(ran.rows(), [("old.log".to_string(), Reason::Ttl, FileResult::Deleted)]);
        let row = &ran.files[0];
        assert_eq!((row.size, row.rule.as_str(), row.error.as_deref()), (2, "*", None));
        assert_eq!((ran.now.as_str(), row.mtime.as_str(), row.age_days), (NOW, "2025-09-11T12:00:00Z", 30.0));
        assert!(
            ran.policy.is_none()
                && !ran.default_policy
                && ran.refusal.is_none()
                && ran.output_error.is_none()
        );
        assert!(ran.warnings.is_empty() && ran.left_in_quarantine.is_empty() && !ran.base_dir_removed);
        assert!(ran.archive.is_none() && ran.would_archive.is_none() && ran.pruned_dirs.is_empty());
        assert!(ran.future_dated.is_empty() && ran.rules.len() == 1 && ran.by_reason.len() == 1);
        assert!(ran.min_free.is_none());
        // The rule `*` covers every file: nothing is left uncovered.
        assert_eq!(
            ran.uncovered,
            Group {
                files: 0,
                bytes: 0,
                selected_files: 0,
                selected_bytes: 0,
                kept_files: 0,
                kept_bytes: 0,
                future_files: 0,
                unmet: vec![],
            }
        );
        assert_eq!((ran.scan.files, ran.scan.bytes, ran.scan.dirs), (2, 3, 1));
        assert!(ran.scan.errors.is_empty());
    }
    // With one --base-dir the document is today's, with no "roots" (byte-for-byte in the other tests).
    root_file(&env, "a", "older.log", 2, 40.0);
    let run = rotate_check(&env, &["--base-dir", "a", "--days", "7", "--format", "json"])
        .code(0)
        .stdout(Expect::Anything)
        .stderr_empty()
        .run();
    let single: Document = run.json_as();
    assert_eq!((single.base_dir.as_str(), single.marker.as_str()), ("a", "ROTATE=DONE"));
    assert_eq!(single.rows(), [("older.log".to_string(), Reason::Ttl, FileResult::Deleted)]);
}

#[test]
fn a_missing_root_refuses_the_whole_run_and_no_root_is_touched() {
    let env = TestEnv::new();
    two_roots(&env);
    let before = snapshot(&env.path("a"));
    rotate_check(&env, &["--base-dir", "a", "--base-dir", "missing", "--days", "7"])
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: --base-dir missing (2 of 2); no base dir was touched: base dir missing does not \
             exist; check --base-dir (default: artifacts) and -C\n",
        )
        .run();
    assert_eq!(snapshot(&env.path("a")), before, "the first root was touched");
    // JSON: one error document, as a single run prints.
    let run =
        rotate_check(&env, &["--base-dir", "a", "--base-dir", "missing", "--days", "7", "--format", "json"])
            .code(2)
            .stdout(Expect::Anything)
            .stderr_contains("base dir missing does not exist")
            .run();
    assert_eq!(
        run.json_as::<ErrorDocument>(),
        ErrorDocument {
            status: "error".into(),
            exit_code: 2,
            error: "--base-dir missing (2 of 2); no base dir was touched: base dir missing does not exist; check \
                    --base-dir (default: artifacts) and -C"
                .into(),
            location: None,
        }
    );
    // A file where a folder is expected, and a bad policy, are refused the same way.
    env.write("file", "x");
    rotate_check(&env, &["--base-dir", "a", "--base-dir", "file", "--days", "7"])
        .code(2)
        .stdout_empty()
        .stderr_is("mmops: error: --base-dir file (2 of 2); no base dir was touched: base dir file is not a folder; check --base-dir\n")
        .run();
    env.write("policy.yaml", "rules:\n  - glob: '*'\n    dayz: 3\n");
    rotate_check(&env, &["--base-dir", "a", "--base-dir", "b", "--policy", "policy.yaml"])
        .code(2)
        .stdout_empty()
        .stderr_contains("policy.yaml:3:")
        .run();
    assert_eq!(snapshot(&env.path("a")), before, "the first root was touched");
}

#[test]
fn the_same_root_twice_or_one_inside_another_is_refused_before_anything_changes() {
    let env = TestEnv::new();
    two_roots(&env);
    root_file(&env, "a", "sub/old.log", 2, 30.0);
    symlink("a", env.path("link_to_a")).unwrap();
    let before = snapshot(env.root());
    let same = |first: &str, second: &str| {
        format!(
            "mmops: error: --base-dir {first} and --base-dir {second} are the same folder; give it once; no base dir was touched\n"
        )
    };
    let inside = |inner: &str, outer: &str| {
        format!(
            "mmops: error: --base-dir {inner} lies inside --base-dir {outer}: its files would be planned twice; \
             give only the outer one (with --exclude for what it must keep) or two folders side by side; no base \
             dir was touched\n"
        )
    };
    for (roots, message) in [
        (vec!["a", "a"], same("a", "a")),
        (vec!["a", "b", "./a/"], same("a", "./a/")),
        (vec!["link_to_a", "a"], same("link_to_a", "a")),
        (vec!["a", "a/sub"], inside("a/sub", "a")),
        (vec!["a/sub", "b", "a"], inside("a/sub", "a")),
        (vec!["link_to_a/sub", "link_to_a"], inside("link_to_a/sub", "link_to_a")),
    ] {
        let mut args: Vec<&str> = roots.iter().flat_map(|root| ["--base-dir", root]).collect();
        args.extend(["--days", "7"]);
        rotate_check(&env, &args).code(2).stdout_empty().stderr_is(&message).run();
    }
    assert_eq!(snapshot(env.root()), before);
}

#[test]
fn a_root_that_is_a_symlink_is_opened_as_one_base_dir_is() {
    // Today's single --base-dir may be a symlink (tree.rs); several roots keep that rule, and the
    // same-folder check above catches a symlink naming another root.
    let env = TestEnv::new();
    two_roots(&env);
    symlink("b", env.path("link_to_b")).unwrap();
    rotate_check(&env, &["--base-dir", "a", "--base-dir", "link_to_b", "--days", "7"])
        .code(0)
        .stdout_is(&format!(
            "{}\n{}| rotate | OK | ROTATE=DONE |\n",
            done_section("a"),
            done_section("link_to_b")
        ))
        .stderr_empty()
        .run();
    assert_eq!(listing(&env.path("b")), [".mmops-rotate.lock", "new.log"]);
    assert!(fs::symlink_metadata(env.path("link_to_b")).unwrap().is_symlink());
}

#[test]
fn a_guard_refusing_one_root_refuses_the_run_before_any_root_is_touched() {
    let env = TestEnv::new();
    two_roots(&env);
    root_file(&env, "b", "older.log", 2, 40.0);
    let before = snapshot(env.root());
    rotate_check(&env, &["--base-dir", "a", "--base-dir", "b", "--days", "7", "--max-delete", "1"])
        .code(2)
        .stdout_empty()
        .stderr_contains("mmops: error: --base-dir b: ")
        .stderr_contains("--max-delete 1")
        .stderr_contains("nothing was deleted under any --base-dir")
        .run();
    assert_eq!(snapshot(env.root()), before);
    // A dry run prints every root's plan, the refusal in b's section, and exits 2 as one root does.
    let run = rotate_check(
        &env,
        &["--base-dir", "a", "--base-dir", "b", "--days", "7", "--max-delete", "1", "--dry-run"],
    )
    .code(2)
    .stdout_contains("== base dir a ==\n")
    .stdout_contains("== base dir b ==\n")
    .stdout_contains("a real run would stop here: ")
    .stdout_contains("| rotate | FAIL | ROTATE=REFUSED |\n")
    .stderr_contains("mmops: error: a real run would be refused: --base-dir b: ")
    .run();
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert_eq!(snapshot(env.root()), before);
}

#[test]
fn min_free_over_two_roots_on_one_filesystem_is_refused_and_object_storage_does_not_mix() {
    let env = TestEnv::new();
    two_roots(&env);
    let before = snapshot(env.root());
    rotate_check(&env, &["--base-dir", "a", "--base-dir", "b", "--days", "7", "--min-free", "1%"])
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: --min-free with --base-dir a and --base-dir b: both are on one filesystem, whose free \
             space each would count as its own; give one --base-dir above both, or run them one after another; \
             no base dir was touched\n",
        )
        .run();
    rotate_check(&env, &["--base-dir", "a", "--base-dir", "s3://bucket/prefix/", "--days", "7"])
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: --base-dir s3://bucket/prefix/: an object-store prefix cannot be combined with other \
             --base-dir values (each store has its own lease and listing); run one rotate per prefix; nothing \
             was deleted\n",
        )
        .run();
    rotate_check(&env, &["--base-dir", "a", "--base-dir", "b", "--days", "7", "--explain", "a/old.log"])
        .code(2)
        .stdout_empty()
        .stderr_is("mmops: error: --explain looks at one base dir: give a single --base-dir with it\n")
        .run();
    assert_eq!(snapshot(env.root()), before);
}

/// `--min-free` over two roots on two filesystems (the temp folder and a tmpfs): each root's
/// section carries its own filesystem's `min_free`. Under `CI=true` a missing tmpfs, or one on
/// the temp folder's filesystem, fails the test instead of skipping it.
#[test]
fn min_free_over_roots_on_two_filesystems_reports_each_filesystem() {
    let env = TestEnv::new();
    let shm = match tempfile::Builder::new().prefix("mmops-test-").tempdir_in("/dev/shm") {
        Ok(dir) => dir,
        Err(error) => {
            assert!(!crate::support::skip_or_fail(
                &format!("no tmpfs at /dev/shm ({error})"),
                "mount a tmpfs on /dev/shm"
            ));
            return;
        }
    };
    let tmpfs = shm.path().to_str().unwrap().to_string();
    root_file(&env, "a", "old.log", 2, 30.0);
    root_file(&env, "a", "new.log", 1, 1.0);
    root_file(&env, &tmpfs, "old.log", 2, 30.0);
    root_file(&env, &tmpfs, "new.log", 1, 1.0);
    if fs::metadata(env.path("a")).unwrap().dev() == fs::metadata(&tmpfs).unwrap().dev() {
        assert!(!crate::support::skip_or_fail(
            "the temp folder is on the tmpfs at /dev/shm",
            "set TMPDIR to a folder on another filesystem"
        ));
        return;
    }
    let run = rotate_check(
        &env,
        &["--base-dir", "a", "--base-dir", &tmpfs, "--days", "7", "--min-free", "1B", "--format", "json"],
    )
    .code(0)
    .stdout(Expect::Anything)
    .stderr_empty()
    .run();
    let document: RootsDocument = run.json_as();
    assert_eq!(
        (document.status, document.marker.as_str(), document.roots.len()),
        (Status::Ok, "ROTATE=DONE", 2)
    );
    for (section, root) in document.roots.iter().zip(["a", tmpfs.as_str()]) {
        let ran = section.ran();
        assert_eq!((ran.base_dir.as_str(), ran.status, &ran.totals), (root, Status::Ok, &totals(1, 1)));
        assert_eq!(ran.rows(), [("old.log".to_string(), Reason::Ttl, FileResult::Deleted)]);
        let min_free = ran.min_free.as_ref().unwrap_or_else(|| panic!("{root}: no min_free"));
        // The target is met before any delete: nothing is selected for it, nothing is short.
        assert_eq!(
            (
                min_free.target.as_str(),
                min_free.target_bytes,
                min_free.selected_files,
                min_free.shortfall_bytes
            ),
            ("1 B", 1, 0, 0),
            "{root}"
        );
        assert!(
            0 < min_free.available_bytes
                && min_free.available_bytes <= min_free.total_bytes
                && min_free.available_bytes <= min_free.projected_bytes,
            "{root}: {min_free:?}"
        );
    }
    assert_eq!(listing(&env.path("a")), [".mmops-rotate.lock", "new.log"]);
    assert_eq!(listing(shm.path()), [".mmops-rotate.lock", "new.log"]);
}

/// Holds `<root>/.mmops-rotate.lock` as another live run would (an OS lock by this process).
fn hold_lock(env: &TestEnv, root: &str) -> fs::File {
    let lock = fs::File::create(env.path(format!("{root}/.mmops-rotate.lock"))).unwrap();
    lock.lock().unwrap();
    lock
}

#[test]
fn a_root_whose_lock_is_held_is_reported_and_the_other_roots_still_rotate() {
    let env = TestEnv::new();
    roots(&env, &["a", "b", "c"]);
    let lock = hold_lock(&env, "b");
    let message = "another rotation holds the lock b/.mmops-rotate.lock; did not wait (no --wait-lock); nothing \
                   was deleted — let it finish, or wait for it with --wait-lock 10m";
    // a and c rotated, b locked: something was deleted before and after the failure, so PARTIAL.
    rotate_check(&env, &["--base-dir", "a", "--base-dir", "b", "--base-dir", "c", "--days", "7"])
        .code(1)
        .stdout_is(&format!(
            "{}\n== base dir b ==\nnot rotated: {message}\n\n{}| rotate | FAIL | ROTATE=PARTIAL |\n",
            done_section("a"),
            done_section("c")
        ))
        .stderr_is(&format!("mmops: error: --base-dir b: {message}\n"))
        .run();
    assert_eq!(listing(&env.path("b")), [".mmops-rotate.lock", "new.log", "old.log"]);
    assert_eq!(listing(&env.path("c")), [".mmops-rotate.lock", "new.log"]);
    // Nothing left to delete in a and c: the run changed nothing, so the worst root's value, LOCKED.
    let run = rotate_check(
        &env,
        &["--base-dir", "a", "--base-dir", "b", "--base-dir", "c", "--days", "7", "--format", "json"],
    )
    .code(1)
    .stdout(Expect::Anything)
    .stderr_is(&format!("mmops: error: --base-dir b: {message}\n"))
    .run();
    let document: RootsDocument = run.json_as();
    assert_eq!((document.status, document.marker.as_str()), (Status::Fail, "ROTATE=LOCKED"));
    let locked = document.roots[1].locked();
    assert_eq!(
        (locked.base_dir.as_str(), locked.lock.as_str(), locked.holder.as_str(), locked.waited_seconds),
        ("b", "b/.mmops-rotate.lock", "", 0.0)
    );
    assert_eq!((locked.error.as_str(), locked.status), (message, Status::Fail));
    let ran = document.roots[2].ran();
    assert_eq!((ran.base_dir.as_str(), ran.status, ran.totals.deleted_files), ("c", Status::Ok, 0));
    // --quiet: only the failing root's section and the marker row.
    rotate_check(&env, &["--base-dir", "a", "--base-dir", "b", "--days", "7", "--quiet"])
        .code(1)
        .stdout_is(&format!("== base dir b ==\nnot rotated: {message}\n| rotate | FAIL | ROTATE=LOCKED |\n"))
        .stderr_is(&format!("mmops: error: --base-dir b: {message}\n"))
        .run();
    drop(lock);
    rotate_check(&env, &["--base-dir", "a", "--base-dir", "b", "--days", "7", "--quiet"])
        .code(0)
        .stdout_empty()
        .stderr_empty()
        .run();
    assert_eq!(listing(&env.path("b")), [".mmops-rotate.lock", "new.log"]);
}

#[test]
fn the_prom_file_has_a_series_per_root_and_passes_promtool() {
    let env = TestEnv::new();
    roots(&env, &["a", "b", "c"]);
    let lock = hold_lock(&env, "c");
    env.mkdir("textfile");
    rotate_check(
        &env,
        &[
            "--base-dir",
            "a",
            "--base-dir",
            "b",
            "--base-dir",
            "c",
            "--days",
            "7",
            "--prom-file",
            "textfile/rotate.prom",
        ],
    )
    .code(1)
    .stdout_contains("| rotate | FAIL | ROTATE=PARTIAL |\n")
    .stderr_contains("another rotation holds the lock c/.mmops-rotate.lock")
    .run();
    drop(lock);
    let text = env.read("textfile/rotate.prom");
    let samples: Vec<&str> = text.lines().filter(|line| !line.starts_with('#')).collect();
    assert_eq!(
        samples,
        [
            "mmops_rotate_deleted_files{base_dir=\"a\"} 1",
            "mmops_rotate_deleted_files{base_dir=\"b\"} 1",
            "mmops_rotate_deleted_bytes{base_dir=\"a\"} 2",
            "mmops_rotate_deleted_bytes{base_dir=\"b\"} 2",
            "mmops_rotate_kept_files{base_dir=\"a\"} 1",
            "mmops_rotate_kept_files{base_dir=\"b\"} 1",
            "mmops_rotate_kept_bytes{base_dir=\"a\"} 1",
            "mmops_rotate_kept_bytes{base_dir=\"b\"} 1",
            "mmops_rotate_failures{base_dir=\"a\"} 0",
            "mmops_rotate_failures{base_dir=\"b\"} 0",
            "mmops_rotate_failures{base_dir=\"c\"} 1",
            "mmops_rotate_success{base_dir=\"a\"} 1",
            "mmops_rotate_success{base_dir=\"b\"} 1",
            "mmops_rotate_success{base_dir=\"c\"} 0",
            "mmops_rotate_last_run_timestamp_seconds{base_dir=\"a\"} 1760184000",
            "mmops_rotate_last_run_timestamp_seconds{base_dir=\"b\"} 1760184000",
        ]
    );
    if !tool_available("promtool", PROMTOOL_INSTALL) {
        return;
    }
    let checked = promtool(&["check", "metrics"], text.as_bytes());
    assert_eq!((checked.code, checked.stdout.as_str(), checked.stderr.as_str()), (0, "", ""), "{text}");
}

/// Starts `mmops rotate ARGS` at NOW in the background, stdout and stderr captured.
fn spawn_rotate(env: &TestEnv, args: &[&str]) -> Child {
    env.command()
        .arg("rotate")
        .args(args)
        .env("CI_FAKE_UTC", NOW)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until `child` has `<root>/.mmops-rotate.lock` open: it planned every root and is now
/// waiting for that root's lock (the test holds it).
fn wait_for_lock_wait(env: &TestEnv, child: &Child, root: &str) {
    let lock = fs::canonicalize(env.path(format!("{root}/.mmops-rotate.lock"))).unwrap();
    let started = Instant::now();
    loop {
        let fds = fs::read_dir(format!("/proc/{}/fd", child.id())).unwrap();
        if fds.filter_map(Result::ok).any(|fd| fs::read_link(fd.path()).is_ok_and(|target| target == lock)) {
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "mmops never waited for {root}'s lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

fn finish(child: Child) -> Run {
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn a_root_swapped_for_a_symlink_after_planning_is_never_followed() {
    // Attack: plan a and b, then, while mmops waits for a's lock, move b away and put a symlink
    // to a victim folder in its place. b must not be rotated at all (its path now leads
    // elsewhere), the victim and the moved folder must stay as they were, a rotates.
    let env = TestEnv::new();
    two_roots(&env);
    root_file(&env, "victim", "precious.log", 2, 300.0);
    let lock = hold_lock(&env, "a");
    let child =
        spawn_rotate(&env, &["--base-dir", "a", "--base-dir", "b", "--days", "7", "--wait-lock", "60s"]);
    wait_for_lock_wait(&env, &child, "a");
    fs::rename(env.path("b"), env.path("b.planned")).unwrap();
    symlink("victim", env.path("b")).unwrap();
    let victim = snapshot(&env.path("victim"));
    let planned = snapshot(&env.path("b.planned"));
    drop(lock);
    let run = finish(child);
    let why = "its path leads to another folder than the one planned (renamed, replaced or swapped for a \
               symlink since the run started); not rotated";
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (
            1,
            format!(
                "{}\n== base dir b ==\nnot rotated: {why}\n| rotate | FAIL | ROTATE=PARTIAL |\n",
                done_section("a")
            )
            .as_str(),
            format!("mmops: error: --base-dir b: {why}\n").as_str()
        )
    );
    assert_eq!(snapshot(&env.path("victim")), victim);
    assert_eq!(snapshot(&env.path("b.planned")), planned);
    assert_eq!(listing(&env.path("a")), [".mmops-rotate.lock", "new.log"]);

    // The swap after b's own check, while mmops waits for b's lock: b is rotated through the
    // handle it planned (the moved folder), never through the symlink.
    fs::remove_file(env.path("b")).unwrap();
    fs::rename(env.path("b.planned"), env.path("b")).unwrap();
    root_file(&env, "a", "old.log", 2, 30.0);
    let lock = hold_lock(&env, "b");
    let child =
        spawn_rotate(&env, &["--base-dir", "a", "--base-dir", "b", "--days", "7", "--wait-lock", "60s"]);
    wait_for_lock_wait(&env, &child, "b");
    fs::rename(env.path("b"), env.path("b.planned")).unwrap();
    symlink("victim", env.path("b")).unwrap();
    drop(lock);
    let run = finish(child);
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (
            0,
            format!("{}\n{}| rotate | OK | ROTATE=DONE |\n", done_section("a"), done_section("b")).as_str(),
            ""
        )
    );
    assert_eq!(snapshot(&env.path("victim")), victim);
    assert_eq!(listing(&env.path("b.planned")), [".mmops-rotate.lock", "new.log"]);
}

#[test]
fn an_interrupt_stops_after_the_current_root_and_reports_the_rest_as_not_run() {
    let env = TestEnv::new();
    roots(&env, &["a", "b", "c"]);
    let lock = hold_lock(&env, "b");
    let child = spawn_rotate(
        &env,
        &[
            "--base-dir",
            "a",
            "--base-dir",
            "b",
            "--base-dir",
            "c",
            "--days",
            "7",
            "--wait-lock",
            "60s",
            "--format",
            "json",
        ],
    );
    wait_for_lock_wait(&env, &child, "b");
    let started = Instant::now();
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let run = finish(child);
    // It did not wait out its --wait-lock.
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    drop(lock);
    assert_eq!(run.code, 130, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        run.stderr,
        "mmops: error: --base-dir b: interrupted while waiting for its lock; nothing was deleted in it\n\
         mmops: error: --base-dir c: interrupted before this base dir was started; nothing was deleted in it\n"
    );
    let document: RootsDocument = run.json_as();
    assert_eq!((document.status, document.marker.as_str()), (Status::Fail, "ROTATE=INTERRUPTED"));
    let ran = document.roots[0].ran();
    assert_eq!((ran.status, ran.totals.deleted_files), (Status::Ok, 1));
    let not_run = |base_dir: &str, not_run: &str| {
        RootSection::NotRun(NotRunRoot {
            base_dir: base_dir.into(),
            not_run: format!("{not_run}; nothing was deleted in it"),
            status: Status::Fail,
        })
    };
    assert_eq!(document.roots[1], not_run("b", "interrupted while waiting for its lock"));
    assert_eq!(document.roots[2], not_run("c", "interrupted before this base dir was started"));
    assert_eq!(listing(&env.path("a")), [".mmops-rotate.lock", "new.log"]);
    assert_eq!(listing(&env.path("b")), [".mmops-rotate.lock", "new.log", "old.log"]);
    assert_eq!(listing(&env.path("c")), ["new.log", "old.log"]);
}

#[test]
fn a_kill_between_roots_leaves_the_first_rotated_and_the_rest_untouched() {
    // SIGKILL cannot be caught: whatever root was done stays done, the others stay as they were,
    // and the next run finishes the job (the single-root guarantees, root by root).
    let env = TestEnv::new();
    two_roots(&env);
    let lock = hold_lock(&env, "b");
    let mut child =
        spawn_rotate(&env, &["--base-dir", "a", "--base-dir", "b", "--days", "7", "--wait-lock", "60s"]);
    wait_for_lock_wait(&env, &child, "b");
    child.kill().unwrap();
    let run = finish(child);
    drop(lock);
    assert_eq!((run.code, run.stdout.as_str(), run.stderr.as_str()), (-1, "", ""));
    assert_eq!(listing(&env.path("a")), [".mmops-rotate.lock", "new.log"]);
    assert_eq!(listing(&env.path("b")), [".mmops-rotate.lock", "new.log", "old.log"]);
    rotate_check(&env, &["--base-dir", "a", "--base-dir", "b", "--days", "7", "--summary"])
        .code(0)
        .stdout_contains("== base dir b ==\n")
        .stdout_contains("freed 1 file, 2 B; kept 1 file, 1 B\n| rotate | OK | ROTATE=DONE |\n")
        .stderr_empty()
        .run();
    assert_eq!(listing(&env.path("b")), [".mmops-rotate.lock", "new.log"]);
}

/// The entry names of a zip.
fn zip_names(path: &Path) -> Vec<String> {
    let mut archive = zip::ZipArchive::new(fs::File::open(path).unwrap()).unwrap();
    (0..archive.len()).map(|index| archive.by_index(index).unwrap().name().unwrap().into_owned()).collect()
}

#[test]
fn each_root_archives_into_its_own_zip_and_a_dry_run_names_them_as_the_real_run_does() {
    let env = TestEnv::new();
    two_roots(&env);
    root_file(&env, "b", "older.log", 2, 40.0);
    let first = "archive/artifacts-20251011T120000Z.zip";
    let second = "archive/artifacts-20251011T120000Z-2.zip";
    rotate_check(&env, &["--base-dir", "a", "--base-dir", "b", "--days", "7", "--archive", "archive", "--dry-run"])
        .code(0)
        .stdout_contains(&format!("== base dir a ==\nscanned a: 2 files, 3 B in 1 folder\nlimits (days 7): 2 files, 1 selected, 1 kept (1 B)\nwould archive 1 file (2 B) into {first}\n"))
        .stdout_contains(&format!("would archive 2 files (4 B) into {second}\n"))
        .stderr_empty()
        .run();
    assert!(!env.exists("archive"));
    rotate_check(&env, &["--base-dir", "a", "--base-dir", "b", "--days", "7", "--archive", "archive"])
        .code(0)
        .stdout_contains(&format!("archived 1 file (2 B) into {first}\n"))
        .stdout_contains(&format!("archived 2 files (4 B) into {second}\n"))
        .stdout_contains("| rotate | OK | ROTATE=DONE |\n")
        .stderr_empty()
        .run();
    assert_eq!(zip_names(&env.path(first)), ["old.log"]);
    assert_eq!(zip_names(&env.path(second)), ["old.log", "older.log"]);
    assert_eq!(listing(&env.path("b")), [".mmops-rotate.lock", "new.log"]);
}

#[test]
fn warnings_name_their_root_and_a_root_that_cannot_run_with_nothing_changed_exits_2() {
    let env = TestEnv::new();
    two_roots(&env);
    root_file(&env, "b", "future.log", 1, -3.0);
    // Nothing to delete in a; b swapped for a symlink after planning: nothing changed anywhere,
    // so exit 2 as a single refused run, after the report.
    fs::remove_file(env.path("a/old.log")).unwrap();
    let lock = hold_lock(&env, "a");
    let child =
        spawn_rotate(&env, &["--base-dir", "a", "--base-dir", "b", "--days", "7", "--wait-lock", "60s"]);
    wait_for_lock_wait(&env, &child, "a");
    fs::rename(env.path("b"), env.path("b.planned")).unwrap();
    env.mkdir("elsewhere");
    symlink("elsewhere", env.path("b")).unwrap();
    drop(lock);
    let run = finish(child);
    let why = "its path leads to another folder than the one planned (renamed, replaced or swapped for a \
               symlink since the run started); not rotated";
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (
            2,
            format!(
                "== base dir a ==\nscanned a: 1 file, 1 B in 1 folder\nlimits (days 7): 1 file, 0 selected, 1 kept \
                 (1 B)\nfreed 0 files, 0 B; kept 1 file, 1 B\n\n== base dir b ==\nnot rotated: {why}\n| rotate | \
                 FAIL | ROTATE=REFUSED |\n"
            )
            .as_str(),
            format!(
                "mmops: error: --base-dir b: {why}\nmmops: error: --base-dir b could not be rotated; nothing was \
                 deleted under any --base-dir\n"
            )
            .as_str()
        )
    );
    assert_eq!(listing(&env.path("b.planned")), ["future.log", "new.log", "old.log"]);
    assert!(listing(&env.path("elsewhere")).is_empty());
    // In JSON the root's section carries the error and its status.
    fs::remove_file(env.path("b")).unwrap();
    fs::rename(env.path("b.planned"), env.path("b")).unwrap();
    let lock = hold_lock(&env, "a");
    let child = spawn_rotate(
        &env,
        &["--base-dir", "a", "--base-dir", "b", "--days", "7", "--wait-lock", "60s", "--format", "json"],
    );
    wait_for_lock_wait(&env, &child, "a");
    fs::rename(env.path("b"), env.path("b.planned")).unwrap();
    symlink("elsewhere", env.path("b")).unwrap();
    drop(lock);
    let run = finish(child);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    let document: RootsDocument = run.json_as();
    assert_eq!((document.status, document.marker.as_str()), (Status::Fail, "ROTATE=REFUSED"));
    assert_eq!(document.roots[0].ran().status, Status::Ok);
    assert_eq!(
        document.roots[1],
        RootSection::Failed(FailedRoot { base_dir: "b".into(), error: why.into(), status: Status::Fail })
    );
    // A symlink put in its place that leads to the very folder planned is the same root.
    fs::remove_file(env.path("b")).unwrap();
    symlink("b.planned", env.path("b")).unwrap();
    // A warning on stderr says which root it is about.
    rotate_check(&env, &["--base-dir", "a", "--base-dir", "b", "--days", "7"])
        .code(0)
        .stdout_contains("== base dir b ==\n")
        .stderr_is(
            "mmops: warning: --base-dir b: 1 file is dated in the future (clock skew?) and kept: future.log\n",
        )
        .run();
    assert_eq!(listing(&env.path("b.planned")), [".mmops-rotate.lock", "future.log", "new.log"]);
}

#[test]
fn a_root_bind_mounted_inside_another_is_refused_as_planned_twice() {
    // Attack: the `..` walk cannot see that c is b/sub mounted elsewhere; b's scan walks b/sub,
    // so c's files would be planned twice (found by the attack, before the fix both ran).
    let env = TestEnv::new();
    root_file(&env, "b", "sub/old.log", 2, 30.0);
    root_file(&env, "b", "sub/new.log", 1, 1.0);
    root_file(&env, "b", "new.log", 1, 1.0);
    env.mkdir("c");
    let script = "mount --bind b/sub c || exit 99\n\
                  \"$MMOPS\" rotate --base-dir b --base-dir c --days 7 --dry-run 2>&1; echo \"exit $?\"\n\
                  \"$MMOPS\" rotate --base-dir c --base-dir b --days 7 2>&1; echo \"exit $?\"";
    let before = snapshot(env.root());
    let Some(run) = crate::support::run_in_mount_namespace(&env, script, NOW) else { return };
    let refused = |inner: &str, outer: &str| {
        format!(
            "mmops: error: --base-dir {inner} is the folder b/sub of --base-dir {outer} (a bind mount or another \
             path to it): its files would be planned twice; give only one of them; no base dir was touched\nexit 2\n"
        )
    };
    assert_eq!(
        (run.code, run.stdout.clone(), run.stderr.as_str()),
        (0, format!("{}{}", refused("c", "b"), refused("c", "b")), "")
    );
    assert_eq!(snapshot(env.root()), before);
}

#[test]
fn headings_escape_the_root_and_a_fifo_root_is_refused_without_blocking() {
    let env = TestEnv::new();
    two_roots(&env);
    root_file(&env, "new\nline\u{202e}", "old.log", 2, 30.0);
    root_file(&env, "new\nline\u{202e}", "new.log", 1, 1.0);
    rotate_check(&env, &["--base-dir", "a", "--base-dir", "new\nline\u{202e}", "--days", "7"])
        .code(0)
        .stdout_is(&format!(
            "{}\n{}| rotate | OK | ROTATE=DONE |\n",
            done_section("a"),
            done_section("new\\nline\\u{202e}")
        ))
        .stderr_empty()
        .run();
    let fifo = env.path("fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let before = snapshot(&env.path("b"));
    rotate_check(&env, &["--base-dir", "b", "--base-dir", "fifo", "--days", "7"])
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: --base-dir fifo (2 of 2); no base dir was touched: base dir fifo is not a folder; check \
             --base-dir\n",
        )
        .run();
    assert_eq!(snapshot(&env.path("b")), before);
}

#[test]
fn a_bad_lock_file_in_a_later_root_stops_the_run_before_any_root_is_touched() {
    // The real run of `b` refuses its symlinked lock file (exit 2): that was found only at `b`'s
    // turn, after `a` was rotated (exit 1, PARTIAL), and a dry run said exit 0.
    let env = TestEnv::new();
    two_roots(&env);
    symlink(env.path("elsewhere"), env.path("b/.mmops-rotate.lock")).unwrap();
    let before = snapshot(&env.path("a"));
    let refusal = "mmops: error: --base-dir b (2 of 2); no base dir was touched: b/.mmops-rotate.lock: the lock \
                   file is a symlink, not a regular file; remove it (rotate creates the lock file itself)\n";
    for dry_run in [true, false] {
        let mut args = vec!["--days", "7", "--base-dir", "a", "--base-dir", "b"];
        if dry_run {
            args.push("--dry-run");
        }
        rotate_check(&env, &args).code(2).stdout_empty().stderr_is(refusal).run();
        assert_eq!(snapshot(&env.path("a")), before, "nothing changed under a (dry run {dry_run})");
    }
    assert!(!env.exists("elsewhere"));
    // One base dir: its dry run exits 2 as its real run does.
    rotate_check(&env, &["--days", "7", "--base-dir", "b", "--dry-run"])
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: b/.mmops-rotate.lock: the lock file is a symlink, not a regular file; remove it (rotate \
             creates the lock file itself)\n",
        )
        .run();
}

#[test]
fn a_bad_archive_lock_file_makes_the_dry_run_exit_2_as_the_real_run() {
    // The real run refuses the symlinked archive lock (exit 2, nothing deleted); its dry run
    // never looked at it and said exit 0.
    let env = TestEnv::new();
    two_roots(&env);
    fs::create_dir(env.path("archive")).unwrap();
    symlink(env.path("elsewhere"), env.path("archive/.mmops-rotate-archive.lock")).unwrap();
    let reason = "archive/.mmops-rotate-archive.lock: the lock file is a symlink, not a regular file; remove it \
                  (rotate creates the lock file itself)\n";
    for dry_run in [true, false] {
        let mut args = vec!["--days", "7", "--archive", "archive", "--base-dir", "a", "--base-dir", "b"];
        if dry_run {
            args.push("--dry-run");
        }
        rotate_check(&env, &args)
            .code(2)
            .stdout_empty()
            .stderr_is(&format!("mmops: error: --base-dir a (1 of 2); no base dir was touched: {reason}"))
            .run();
    }
    rotate_check(&env, &["--days", "7", "--archive", "archive", "--base-dir", "a", "--dry-run"])
        .code(2)
        .stdout_empty()
        .stderr_is(&format!("mmops: error: {reason}"))
        .run();
    assert!(env.exists("a/old.log") && env.exists("b/old.log") && !env.exists("elsewhere"));
}
