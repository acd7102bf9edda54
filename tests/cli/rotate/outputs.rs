//! Outputs: --prom-file, --quiet, --format json, and outputs that fail.

use super::*;

#[test]
fn prom_file_records_deleted_kept_and_failures() {
    let env = TestEnv::new();
    file(&env, "old", 7, 30.0);
    file(&env, "new", 3, 0.1);
    rotate(&env, &["--days", "7", "--prom-file", "metrics/rotate.prom", "--quiet"])
        .code(0)
        .stdout_empty()
        .stderr_empty()
        .run();
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
    rotate(&env, &["--days", "7", "--quiet"]).code(0).stdout_empty().stderr_empty().run();
    assert!(!env.exists("artifacts/old"));
    file(&env, "old2", 1, 30.0);
    rotate(&env, &["--days", "7", "--marker-only"])
        .code(0)
        .stdout_is("| rotate | OK | ROTATE=DONE |\n")
        .stderr_empty()
        .run();
    assert!(!env.exists("artifacts/old2"));
}

/// Runs rotate with `--prom-file metrics/rotate.prom` over 2000 old files, stops it (SIGSTOP)
/// once its temporary prom file exists, puts a folder at the final name and lets it go on: the
/// commit fails after the deletions.
fn rotate_with_prom_blocked_mid_run(env: &TestEnv, extra: &[&str]) -> std::process::Output {
    for index in 0..2000 {
        file(env, &format!("d{}/f{index:04}", index % 4), 1, 30.0);
    }
    file(env, "new", 1, 0.1);
    let _ = fs::remove_dir_all(env.path("metrics"));
    env.mkdir("metrics");
    let mut command = env.command();
    command.args(["rotate", "--days", "7", "--prom-file", "metrics/rotate.prom"]).args(extra);
    command.env("CI_FAKE_UTC", NOW).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let child = command.spawn().unwrap();
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    let temp_exists = || {
        fs::read_dir(env.path("metrics"))
            .unwrap()
            .flatten()
            .any(|entry| entry.file_name().to_string_lossy().starts_with(".mmops-tmp-"))
    };
    let started = std::time::Instant::now();
    while !temp_exists() {
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "the prom temp file never appeared");
    }
    rustix::process::kill_process(pid, rustix::process::Signal::STOP).unwrap();
    assert!(temp_exists(), "the run committed before it could be stopped");
    env.mkdir("metrics/rotate.prom/in-the-way");
    rustix::process::kill_process(pid, rustix::process::Signal::CONT).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn a_prom_file_failing_after_the_deletions_makes_the_report_itself_partial() {
    // Issue 10 audit 1: a folder appearing at the --prom-file's name mid-run made stdout print
    // the whole report ending `| rotate | OK | ROTATE=DONE |`, then exit 1 with PARTIAL on stderr
    // only. The outputs are now committed before the report is printed, and the report says so.
    let env = TestEnv::new();
    let output = rotate_with_prom_blocked_mid_run(&env, &["--format", "json"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    // Spawned by hand (stopped mid-run), so not through `Check`: all three streams asserted here.
    let report: Document = serde_json::from_slice(&output.stdout).expect("stdout is the rotate document");
    assert_eq!((report.marker.as_str(), report.status), ("ROTATE=PARTIAL", mirror::Status::Fail));
    assert_eq!(report.totals.deleted_files, 2000);
    assert_eq!(report.totals.kept_files, 1);
    let error = report.output_error.as_deref().unwrap();
    assert!(error.starts_with("cannot move the new file into place at metrics/rotate.prom"), "{error}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("mmops: error: "), "{stderr}");
    assert!(stderr.ends_with("; 2000 files were deleted (2.0 KiB); ROTATE=PARTIAL\n"), "{stderr}");
    assert!(env.path("metrics/rotate.prom/in-the-way").is_dir());
    assert_eq!(listing(&env.path("metrics")), Vec::<String>::new(), "no temporary file is left");

    // In text the report itself ends PARTIAL and says which output failed.
    let output = rotate_with_prom_blocked_mid_run(&env, &[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("mmops: error: "), "{stderr}");
    assert!(stderr.ends_with("; 2000 files were deleted (2.0 KiB); ROTATE=PARTIAL\n"), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains("ROTATE=DONE"), "{stdout}");
    let lines: Vec<&str> = stdout.lines().rev().take(2).collect();
    assert_eq!(lines[0], "| rotate | FAIL | ROTATE=PARTIAL |");
    assert!(
        lines[1]
            .starts_with("output not written: cannot move the new file into place at metrics/rotate.prom"),
        "{stdout}"
    );
}

/// Issue 12 item 5: rows are column-aligned, the archive line comes before the delete lines, and a
/// dry run with --archive names the zip it would write (and writes nothing).
#[test]
fn rows_align_and_the_archive_line_comes_first_also_on_a_dry_run() {
    let env = TestEnv::new();
    file(&env, "a.log", 5, 10.0);
    file(&env, "logs/deep/a-much-longer-name.log", 2048, 9.0);
    file(&env, "b", 300, 8.0);
    file(&env, "new", 1, 0.1);
    let before = snapshot(env.root());
    rotate(&env, &["--dry-run", "--days", "7", "--archive", "archive"])
        .code(0)
        .stdout_is(
            "scanned artifacts: 4 files, 2.3 KiB in 3 folders\n\
             limits (days 7): 4 files, 3 selected, 1 kept (1 B)\n\
             would archive 3 files (2.3 KiB) into archive/artifacts-20251011T120000Z.zip\n\
             would delete  a.log                                 5 B  10.0 days  ttl\n\
             would delete  logs/deep/a-much-longer-name.log  2.0 KiB   9.0 days  ttl\n\
             would delete  b                                   300 B   8.0 days  ttl\n\
             would free 3 files, 2.3 KiB; would keep 1 file, 1 B\n\
             | rotate | OK | ROTATE=DRYRUN |\n",
        )
        .stderr_empty()
        .run();
    assert_eq!(snapshot(env.root()), before, "a dry run writes nothing, not even the archive folder");

    rotate(&env, &["--days", "7", "--archive", "archive"])
        .code(0)
        .stdout_is(
            "scanned artifacts: 4 files, 2.3 KiB in 3 folders\n\
             limits (days 7): 4 files, 3 selected, 1 kept (1 B)\n\
             archived 3 files (2.3 KiB) into archive/artifacts-20251011T120000Z.zip\n\
             deleted       a.log                                 5 B  10.0 days  ttl\n\
             deleted       logs/deep/a-much-longer-name.log  2.0 KiB   9.0 days  ttl\n\
             deleted       b                                   300 B   8.0 days  ttl\n\
             freed 3 files, 2.3 KiB; kept 1 file, 1 B\n\
             | rotate | OK | ROTATE=DONE |\n",
        )
        .stderr_empty()
        .run();
    assert!(env.exists("archive/artifacts-20251011T120000Z.zip"));
    // The next dry run names the next free archive name, as the real run would.
    file(&env, "c", 1, 20.0);
    rotate(&env, &["--dry-run", "--days", "7", "--archive", "archive"])
        .code(0)
        .stdout_contains("would archive 1 file (1 B) into archive/artifacts-20251011T120000Z-2.zip\n")
        .stdout_contains("| rotate | OK | ROTATE=DRYRUN |\n")
        .stderr_empty()
        .run();
    // The JSON dry run names it as `would_archive`, and `archive` stays null.
    let document =
        rotate_document(&env, &["--dry-run", "--days", "7", "--archive", "archive", "--format", "json"]);
    assert_eq!(
        document.would_archive,
        Some(mirror::Archive { path: "archive/artifacts-20251011T120000Z-2.zip".into(), files: 1, bytes: 1 })
    );
    assert_eq!(document.archive, None);
    assert!(document.dry_run);
}

/// Issue 12 item 5: --summary prints counts per rule and reason instead of a line per file.
#[test]
fn summary_counts_per_rule_and_reason_without_a_line_per_file() {
    let env = TestEnv::new();
    for day in 0..40 {
        file(&env, &format!("logs/bot-{day:02}.log"), 100, 1.0 + f64::from(day));
    }
    file(&env, "reports/r1.json", 1000, 30.0);
    file(&env, "reports/r2.json", 1000, 2.0);
    env.write(
        "policy.yaml",
        "rules:\n  - glob: \"logs/**\"\n    days: 30\n    keep: 20\n  - glob: \"**\"\n    days: 7\n",
    );
    rotate(&env, &["--dry-run", "--policy", "policy.yaml", "--summary"])
        .code(0)
        .stdout_is(
            "scanned artifacts: 42 files, 5.9 KiB in 3 folders\n\
             policy policy.yaml\n\
             \x20 rule logs/** (days 30, keep 20): 40 files, 20 selected, 20 kept (2.0 KiB)\n\
             \x20 rule ** (days 7): 2 files, 1 selected, 1 kept (1000 B)\n\
             would delete  10 files  1000 B  rule logs/**  ttl\n\
             would delete  10 files  1000 B  rule logs/**  count\n\
             would delete   1 file   1000 B  rule **       ttl\n\
             would free 21 files, 2.9 KiB; would keep 21 files, 2.9 KiB\n\
             | rotate | OK | ROTATE=DRYRUN |\n",
        )
        .stderr_empty()
        .run();
    // JSON carries the same counts (and still every file).
    let document =
        rotate_document(&env, &["--dry-run", "--policy", "policy.yaml", "--summary", "--format", "json"]);
    assert_eq!(document.files.len(), 21);
    let count = |rule: &str, reason, files, bytes| mirror::ReasonCount {
        rule: rule.into(),
        reason,
        result: FileResult::WouldDelete,
        files,
        bytes,
    };
    assert_eq!(
        document.by_reason,
        [
            count("logs/**", Reason::Ttl, 10, 1000),
            count("logs/**", Reason::Count, 10, 1000),
            count("**", Reason::Ttl, 1, 1000)
        ]
    );
    assert_eq!(document.policy.as_deref(), Some("policy.yaml"));
    assert!(!document.default_policy);
    // A real run: the same rows with "deleted".
    rotate(&env, &["--policy", "policy.yaml", "--summary"])
        .code(0)
        .stdout_contains("\ndeleted        1 file   1000 B  rule **       ttl\n")
        .stdout_contains("| rotate | OK | ROTATE=DONE |\n")
        .stderr_empty()
        .run();
}

/// Issue 12 item 5: --explain PATH says why one file is kept or selected, and touches nothing.
#[test]
fn explain_says_why_one_file_is_kept_or_selected() {
    let env = TestEnv::new();
    file(&env, "logs/old.log", 10, 12.0);
    file(&env, "logs/mid.log", 10, 3.0);
    file(&env, "logs/new.log", 10, 1.0);
    file(&env, "keep.me", 10, 50.0);
    file(&env, ".hidden", 10, 50.0);
    let before = snapshot(env.root());
    let limits = ["--days", "7", "--keep", "2", "--max-size", "25B", "--exclude", "*.me"];
    let explain = |path: &str| rotate(&env, &[&limits[..], &["--explain", path]].concat());
    let explain_json =
        |path: &str| rotate(&env, &[&limits[..], &["--explain", path, "--format", "json"]].concat());
    explain("artifacts/logs/old.log")
        .code(0)
        .stdout_is(
            "logs/old.log: selected by rule * (ttl)\n  12.0 days old, older than days 7\n\
             | rotate | OK | ROTATE=EXPLAINED |\n",
        )
        .stderr_empty()
        .run();
    explain("logs/new.log")
        .code(0)
        .stdout_is(
            "logs/new.log: kept by rule *\n\
             \x20 1.0 days old, within days 7\n\
             \x20 number 1 counting from the newest of the rule's 3 files, within keep 2\n\
             \x20 it and the newer files of its rule total 10 B, within max size 25B (25 B)\n\
             | rotate | OK | ROTATE=EXPLAINED |\n",
        )
        .stderr_empty()
        .run();
    explain("keep.me")
        .code(0)
        .stdout_is(
            "keep.me: not a candidate\n  protected by exclude *.me\n| rotate | OK | ROTATE=EXPLAINED |\n",
        )
        .stderr_empty()
        .run();
    explain(".hidden")
        .code(0)
        .stdout_is(
            ".hidden: not a candidate\n  hidden (a name starting with `.` on its path): pass --include-hidden to \
             consider it\n\
             | rotate | OK | ROTATE=EXPLAINED |\n",
        )
        .stderr_empty()
        .run();
    // The JSON form: the same decision as a typed document.
    let explained: mirror::Explained =
        explain_json("logs/old.log").code(0).stdout(Expect::Anything).stderr_empty().run().json_as();
    assert_eq!(
        explained,
        mirror::Explained {
            path: "logs/old.log".into(),
            decision: "selected".into(),
            rule: Some("*".into()),
            reason: Some(Reason::Ttl),
            why: vec!["12.0 days old, older than days 7".into()],
            tool: "rotate".into(),
            status: mirror::Status::Ok,
            marker: "ROTATE=EXPLAINED".into(),
        }
    );
    let not_found = "--explain nope: cannot find it under artifacts (No such file or directory (os error 2)); \
                     give a path relative to the base dir";
    explain("nope").code(2).stdout_empty().stderr_is(&format!("mmops: error: {not_found}\n")).run();
    // With --format json the error is a document too.
    let error: mirror::ErrorDocument = explain_json("nope")
        .code(2)
        .stdout(Expect::Anything)
        .stderr_is(&format!("mmops: error: {not_found}\n"))
        .run()
        .json_as();
    assert_eq!(
        error,
        mirror::ErrorDocument {
            status: "error".into(),
            exit_code: 2,
            error: not_found.into(),
            location: None
        }
    );
    // Nothing outside the base dir is looked at: `..` is refused, a symlinked folder is not entered.
    explain("../artifacts/logs/old.log")
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: --explain ../artifacts/logs/old.log: give a file inside the base dir artifacts \
             (relative to it, or starting with it), without ..\n",
        )
        .run();
    // Read only: no lock file, nothing deleted, even without --dry-run.
    assert_eq!(snapshot(env.root()), before);
    env.mkdir("elsewhere");
    env.write("elsewhere/x.log", "x");
    symlink(env.path("elsewhere"), env.path("artifacts/linked")).unwrap();
    explain("linked/x.log")
        .code(0)
        .stdout_is(
            "linked/x.log: not a candidate\n  below the symlink linked: symlinks are never followed\n\
             | rotate | OK | ROTATE=EXPLAINED |\n",
        )
        .stderr_empty()
        .run();
}

/// Attack on the aligned rows: random trees of names with non-ASCII, bidi, control characters and
/// names past the 100-column cap. Every row whose printed path fits the cap has its `days` column
/// at the same place. Seeded (`MMOPS_ALIGN_SEED` replays); prints its trial count.
#[test]
fn aligned_rows_hold_for_hostile_names() {
    let seed: u64 = std::env::var("MMOPS_ALIGN_SEED").ok().and_then(|text| text.parse().ok()).unwrap_or(12);
    let mut state = seed;
    let mut next = move |bound: u64| {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) % bound
    };
    let alphabet = ['a', 'Z', '7', '-', '.', 'é', '\u{202e}', '\u{200b}', '\u{1}', '\\', ' ', '日'];
    let trials = 25;
    for trial in 0..trials {
        let env = TestEnv::new();
        let count = 1 + next(6);
        for index in 0..count {
            let long = next(4) == 0;
            let length = 1 + next(if long { 130 } else { 20 }) as usize;
            let mut name: String =
                (0..length).map(|_| alphabet[next(alphabet.len() as u64) as usize]).collect();
            name.insert_str(0, &format!("f{index}"));
            let folder = if next(2) == 0 { "" } else { "sub/" };
            file(&env, &format!("{folder}{name}"), 1 + next(5000) as usize, 8.0 + next(300) as f64 / 10.0);
        }
        file(&env, "new", 1, 0.1);
        let run = rotate(&env, &["--dry-run", "--days", "7"])
            .code(0)
            .stdout(Expect::Anything) // its rows are checked one by one below
            .stderr_empty()
            .run();
        let rows: Vec<&str> = run.stdout.lines().filter(|line| line.starts_with("would delete  ")).collect();
        assert_eq!(rows.len() as u64, count, "seed {seed} trial {trial}: {}", run.stdout);
        // The printed paths, from the JSON document (the same escaping, the same order).
        let paths = rotate(&env, &["--dry-run", "--days", "7", "--format", "json"])
            .code(0)
            .stdout(Expect::Anything)
            .stderr_empty()
            .run()
            .json_as::<Document>()
            .paths();
        // Where " days" starts, for every row whose printed path fits the 100-column cap.
        let fitting: Vec<usize> = rows
            .iter()
            .zip(&paths)
            .filter(|(row, path)| {
                assert!(row[14..].starts_with(path.as_str()), "seed {seed}: {row:?} does not print {path:?}");
                path.chars().count() <= 100
            })
            .map(|(row, _)| {
                let chars: Vec<char> = row.chars().collect();
                (0..chars.len())
                    .rev()
                    .find(|&at| chars[at..].starts_with(&[' ', 'd', 'a', 'y', 's']))
                    .unwrap()
            })
            .collect();
        if fitting.iter().any(|days| *days != fitting[0]) {
            panic!("seed {seed} trial {trial}: the days column moves:\n{}", run.stdout);
        }
        assert!(!run.stdout.contains('\u{202e}') && !run.stdout.contains('\u{1}'), "seed {seed}: unescaped");
    }
    #[allow(clippy::print_stderr)] // the trial count, as every seeded test prints it
    {
        eprintln!("aligned rows: {trials} random trees (seed {seed})");
    }
}
