//! Outputs: --prom-file, --quiet, --format json, and outputs that fail.

use super::*;

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
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["marker"], "ROTATE=PARTIAL");
    assert_eq!(report["status"], "FAIL");
    assert_eq!(report["totals"]["deleted_files"], 2000);
    let error = report["output_error"].as_str().unwrap();
    assert!(error.starts_with("cannot move the new file into place at metrics/rotate.prom"), "{error}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.ends_with("; 2000 files were deleted (2.0 KiB); ROTATE=PARTIAL\n"), "{stderr}");
    assert!(env.path("metrics/rotate.prom/in-the-way").is_dir());
    assert_eq!(listing(&env.path("metrics")), Vec::<String>::new(), "no temporary file is left");

    // In text the report itself ends PARTIAL and says which output failed.
    let output = rotate_with_prom_blocked_mid_run(&env, &[]);
    assert_eq!(output.status.code(), Some(1));
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
