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
