//! Writes that hit a file-size limit (`ulimit -f`, like a full disk for the writer): a clear
//! "File too large" error, a non-zero exit, no file under a final name and no temp file left.

use std::fs;
use std::path::Path;
use std::process::Output;

use crate::harness::{temp_files_under, walk};

/// Runs mmops under `ulimit -f BLOCKS` (512-byte blocks).
fn run_limited(dir: &Path, blocks: u32, args: &[&str]) -> Output {
    let script = format!("ulimit -f {blocks}; exec \"$0\" \"$@\"");
    let mut command = std::process::Command::new("sh");
    command.arg("-c").arg(script).arg(env!("CARGO_BIN_EXE_mmops")).args(args).current_dir(dir);
    command.env("CI_FAKE_UTC", "2025-10-11T12:00:00Z").env_remove("SOURCE_DATE_EPOCH");
    command.output().expect("run mmops under ulimit")
}

/// Bytes deflate cannot shrink (xorshift64), so the compressed output really exceeds the limit.
fn incompressible(length: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 32) as u8
        })
        .collect()
}

#[track_caller]
fn assert_clean_failure(output: &Output, dir: &Path, final_path: &Path) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(matches!(output.status.code(), Some(1 | 2)), "exit {:?}, stderr {stderr}", output.status);
    assert!(stderr.contains("File too large"), "no clear error: {stderr}");
    assert!(!final_path.exists(), "{} exists after a failed write", final_path.display());
    assert_eq!(temp_files_under(dir), Vec::<String>::new(), "temp files left behind");
}

#[test]
fn bundle_over_the_limit_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("VERSION", "1.0.0\n"),
        ("README.md", "# r\n"),
        ("CHANGELOG.md", "# c\n"),
        ("deploy/prometheus/alerts_soak.yml", "groups: []\n"),
        ("deploy/policies/rollback.yaml", "gates: []\n"),
        ("deploy/grafana/dashboards/mm_operability.json", "{}\n"),
    ] {
        let path = dir.path().join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    fs::create_dir_all(dir.path().join("artifacts/reports")).unwrap();
    let noise = incompressible(400_000, 1);
    fs::write(dir.path().join("artifacts/reports/soak_metrics.json"), noise).unwrap();
    let output = run_limited(dir.path(), 200, &["bundle"]);
    assert_clean_failure(&output, dir.path(), &dir.path().join("artifacts/release/mm-bot-v1.0.0.zip"));
    assert!(!dir.path().join("artifacts/release/mm-bot-v1.0.0.zip.sha256").exists());
}

#[test]
fn readiness_over_the_limit_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("VERSION"), "1.0.0\n").unwrap();
    let soak = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/examples/soak/good");
    let output = run_limited(
        dir.path(),
        0,
        &["make-ready", "--skip-pre-live", "--reports-dir", soak, "--out-json", "out/r.json"],
    );
    assert_clean_failure(&output, dir.path(), &dir.path().join("out/r.json"));
    assert!(!dir.path().join("out/r.md").exists());
}

#[test]
fn archive_over_the_limit_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("artifacts");
    fs::create_dir_all(&base).unwrap();
    for index in 0..20u32 {
        let path = base.join(format!("old-{index:02}.bin"));
        let noise = incompressible(50_000, u64::from(index) + 1);
        fs::write(&path, noise).unwrap();
        filetime::set_file_mtime(&path, filetime::FileTime::from_unix_time(1_700_000_000, 0)).unwrap();
    }
    let data_files = |base: &Path| {
        walk(base).into_iter().filter(|path| path.extension().is_some_and(|ext| ext == "bin")).count()
    };
    assert_eq!(data_files(&base), 20);
    let output = run_limited(
        dir.path(),
        100,
        &["rotate", "--days", "1", "--allow-delete-all", "--archive", "archive"],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(matches!(output.status.code(), Some(1 | 2)), "exit {:?}, stderr {stderr}", output.status);
    assert!(stderr.contains("File too large"), "no clear error: {stderr}");
    assert_eq!(data_files(&base), 20, "files were deleted although archiving failed");
    let archives: Vec<_> = walk(&dir.path().join("archive"))
        .into_iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "zip"))
        .collect();
    assert_eq!(archives, Vec::<std::path::PathBuf>::new(), "a partial archive under a final name");
    assert_eq!(temp_files_under(dir.path()), Vec::<String>::new(), "temp files left behind");
}
