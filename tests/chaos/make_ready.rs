//! `make-ready` killed at random while writing the readiness JSON and its Markdown twin: each is
//! absent, the old file or the complete new one, and a rerun leaves no temporary file.

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::harness::{Ending, Rng, TRIALS, mmops, run_and_kill, temp_files_under, time_one_run};

fn command(dir: &Path) -> std::process::Command {
    let soak = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/examples/soak/good");
    let mut command = mmops(dir);
    command
        .args(["make-ready", "--skip-pre-live", "--reports-dir", soak, "--out-json", "out/readiness.json"])
        .env("CI_FAKE_UTC", "2026-11-28T00:00:00Z");
    command
}

#[test]
fn readiness_files_are_never_partial() {
    let (mut rng, seed) = Rng::from_env(0x4EAD);
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("VERSION"), "0.1.0\n").unwrap();
    let full = time_one_run(command(dir.path()));
    let json = fs::read(dir.path().join("out/readiness.json")).unwrap();
    let markdown = fs::read(dir.path().join("out/readiness.md")).unwrap();
    serde_json::from_slice::<serde_json::Value>(&json).expect("readiness JSON parses");
    let mut killed = 0;
    for trial in 0..TRIALS {
        for name in ["out/readiness.json", "out/readiness.md"] {
            if trial % 2 == 0 {
                fs::remove_file(dir.path().join(name)).ok();
            } else {
                fs::write(dir.path().join(name), "old\n").unwrap();
            }
        }
        let ending = run_and_kill(command(dir.path()), rng.delay(full.mul_f64(1.2)));
        killed += usize::from(ending == Ending::Killed);
        for (name, complete) in [("out/readiness.json", &json), ("out/readiness.md", &markdown)] {
            if let Ok(bytes) = fs::read(dir.path().join(name)) {
                assert!(bytes == *complete || bytes == b"old\n", "seed {seed} trial {trial}: partial {name}");
            }
        }
        assert_eq!(run_and_kill(command(dir.path()), Duration::from_secs(60)), Ending::Exited(0));
        assert_eq!(
            fs::read(dir.path().join("out/readiness.json")).unwrap(),
            json,
            "seed {seed} trial {trial}"
        );
        assert_eq!(
            temp_files_under(dir.path()),
            Vec::<String>::new(),
            "seed {seed} trial {trial}: temp files left"
        );
    }
    eprintln!("make-ready: {TRIALS} trials, {killed} killed mid-run (seed {seed})");
}
