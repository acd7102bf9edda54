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

/// Live (non-zombie) processes whose environment holds `MMOPS_TEST_MARKER=marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let needle = format!("MMOPS_TEST_MARKER={marker}");
    let live = |pid: &str| {
        fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| stat.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')))
    };
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str().map(str::to_string))
        .filter(|pid| pid.chars().all(|c| c.is_ascii_digit()) && live(pid))
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|environ| environ.split(|byte| *byte == 0).any(|var| var == needle.as_bytes()))
        })
        .collect()
}

#[test]
fn killed_make_ready_leaves_no_step_process_behind() {
    // SIGKILL at a random moment: before the launchers start, while they arm PR_SET_PDEATHSIG,
    // while the steps fork (one into a new session with setsid), or once all are running.
    let (mut rng, seed) = Rng::from_env(0x0DEA7);
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("VERSION"), "0.1.0\n").unwrap();
    // The reports folder (a missing one is exit 2 before any step starts).
    fs::create_dir(dir.path().join("artifacts")).unwrap();
    let step = "[sh, -c, 'setsid sleep 300 & (sleep 300 &); sleep 300 & wait']";
    fs::write(
        dir.path().join("make_ready.yaml"),
        format!("steps:\n  - name: a\n    run: {step}\n    timeout: 10m\n  - name: b\n    run: {step}\n    timeout: 10m\n"),
    )
    .unwrap();
    let (mut killed, mut seen_running, mut orphans) = (0, 0, 0);
    for trial in 0..TRIALS {
        let marker = format!("chaos-{}-{trial}", std::process::id());
        let mut command = mmops(dir.path());
        command
            .args([
                "make-ready",
                "--config",
                "make_ready.yaml",
                "--jobs",
                "2",
                "--out-json",
                "out/readiness.json",
            ])
            .env("MMOPS_TEST_MARKER", &marker);
        // Half the trials in the first 30 ms (process start, launchers arming), half later.
        let window = if trial % 2 == 0 { 30 } else { 250 };
        let delay = rng.delay(Duration::from_millis(window));
        let ending = run_and_kill(command, delay);
        killed += usize::from(ending == Ending::Killed);
        assert_eq!(ending, Ending::Killed, "seed {seed} trial {trial}: make-ready ended on its own");
        let before = processes_with(&marker).len();
        seen_running += usize::from(before > 0);
        let mut left = before;
        for _ in 0..500 {
            left = processes_with(&marker).len();
            if left == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        orphans += left;
        assert_eq!(
            left,
            0,
            "seed {seed} trial {trial} (kill after {delay:?}): {:?}",
            processes_with(&marker)
        );
    }
    eprintln!(
        "make-ready orphans: {TRIALS} trials, {killed} killed, {seen_running} with step processes still there right after the kill, {orphans} processes left behind (seed {seed})"
    );
}
