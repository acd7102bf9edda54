//! Seeded kill trials: run a command, SIGKILL it after a random delay, then check invariants.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Trials per writer: enough to hit the interesting moments, bounded so the suite takes seconds.
pub const TRIALS: usize = 30;

/// A small deterministic generator (xorshift64*), so a failure can be replayed from its seed.
pub struct Rng(u64);

impl Rng {
    /// Seeded from `MMOPS_CHAOS_SEED` when set, else from `default` (fixed per writer).
    pub fn from_env(default: u64) -> (Rng, u64) {
        let seed = std::env::var("MMOPS_CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(default);
        (Rng(seed.max(1)), seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A delay uniformly drawn from `0..=max`.
    pub fn delay(&mut self, max: Duration) -> Duration {
        let nanos = max.as_nanos().max(1) as u64;
        Duration::from_nanos(self.next() % (nanos + 1))
    }
}

/// How a trial ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// Killed before it finished.
    Killed,
    /// Finished on its own with this exit code before the kill.
    Exited(i32),
}

/// Runs `command` and SIGKILLs it after `delay` unless it has exited by then.
pub fn run_and_kill(mut command: Command, delay: Duration) -> Ending {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mmops");
    let deadline = Instant::now() + delay;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return Ending::Exited(status.code().unwrap_or(-1));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let status = child.wait().expect("reap");
            return match status.code() {
                Some(code) => Ending::Exited(code),
                None => Ending::Killed,
            };
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// How long one undisturbed run takes, so kill delays cover its whole lifetime.
pub fn time_one_run(mut command: Command) -> Duration {
    let start = Instant::now();
    let status = command.stdout(Stdio::null()).stderr(Stdio::null()).status().expect("run mmops");
    assert!(status.code().is_some(), "undisturbed run did not exit normally");
    start.elapsed()
}

/// Names of mmops temporary files left in `dir` (and below).
pub fn temp_files_under(dir: &Path) -> Vec<String> {
    walk(dir)
        .into_iter()
        .filter(|path| path.file_name().is_some_and(|n| n.to_string_lossy().starts_with(".mmops-tmp-")))
        .map(|path| path.display().to_string())
        .collect()
}

/// Every file below `dir`, sorted.
pub fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&path) else { continue };
        for entry in entries.flatten() {
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(entry.path());
            } else {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    files
}

/// The mmops binary with a clean environment, working in `dir`.
pub fn mmops(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mmops"));
    command.current_dir(dir);
    for var in ["CI_FAKE_UTC", "SOURCE_DATE_EPOCH", "NO_COLOR", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY"] {
        command.env_remove(var);
    }
    command
}
