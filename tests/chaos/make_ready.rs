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

/// A fixed identity and no global or system git config.
const GIT_ENV: [(&str, &str); 6] = [
    ("GIT_AUTHOR_NAME", "Release Bot"),
    ("GIT_AUTHOR_EMAIL", "release@example.com"),
    ("GIT_COMMITTER_NAME", "Release Bot"),
    ("GIT_COMMITTER_EMAIL", "release@example.com"),
    ("GIT_CONFIG_GLOBAL", "/dev/null"),
    ("GIT_CONFIG_NOSYSTEM", "1"),
];

fn git(dir: &Path, args: &[&str]) -> String {
    let output =
        std::process::Command::new("git").current_dir(dir).args(args).envs(GIT_ENV).output().unwrap();
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn tag_rc(dir: &Path) -> std::process::Command {
    let mut command = mmops(dir);
    command
        .args(["make-ready", "--config", "make_ready.yaml", "--tag-rc", "--quiet"])
        .env("CI_FAKE_UTC", "2026-11-28T00:00:00Z")
        .envs(GIT_ENV);
    command
}

#[test]
fn tag_rc_killed_at_random_leaves_whole_tags_and_a_whole_checklist() {
    if !crate::support::tool_available("git", "apt-get install git") {
        return;
    }
    let (mut rng, seed) = Rng::from_env(0x7A9);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    fs::write(root.join("VERSION"), "0.1.0\n").unwrap();
    fs::write(root.join(".gitignore"), "/artifacts\n").unwrap();
    fs::write(
        root.join("make_ready.yaml"),
        "steps:\n  - name: good\n    run: [\"true\"]\n  - name: rollback_vs_alerts\n    check: rollback-vs-alerts\n",
    )
    .unwrap();
    for file in ["deploy/policies/rollback.yaml", "deploy/prometheus/alerts_soak.yml"] {
        fs::create_dir_all(root.join(file).parent().unwrap()).unwrap();
        fs::copy(repo.join(file), root.join(file)).unwrap();
    }
    for entry in fs::read_dir(repo.join("deploy/examples/soak/good")).unwrap().flatten() {
        fs::create_dir_all(root.join("artifacts")).unwrap();
        fs::copy(entry.path(), root.join("artifacts").join(entry.file_name())).unwrap();
    }
    git(root, &["init", "-q"]);
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "release"]);
    let full = time_one_run(tag_rc(root));
    let mut killed = 0;
    for trial in 0..TRIALS {
        let ending = run_and_kill(tag_rc(root), rng.delay(full.mul_f64(1.2)));
        killed += usize::from(ending == Ending::Killed);
        // A git the killed run started finishes its tag on its own (a tag is made whole by git):
        // wait for it before counting the tags (it added one after the count at times), and a
        // rerun racing it would be refused by design ("a tag appeared").
        wait_for_git_in(root);
        // git creates a tag whole or not at all; each one's message holds a readable readiness.
        let tags: Vec<String> = git(root, &["tag", "--list"]).lines().map(str::to_string).collect();
        for tag in &tags {
            let object = git(root, &["cat-file", "-p", tag]);
            let json = object.split("\nreadiness.json:\n").nth(1).unwrap_or("");
            mmops::readiness_doc::ReadinessDoc::parse(json.as_bytes())
                .unwrap_or_else(|errors| panic!("seed {seed} trial {trial}: tag {tag}: {errors:?}"));
        }
        // The checklist is absent or complete, and names a tag that exists.
        if let Ok(checklist) = fs::read_to_string(root.join("artifacts/release/CANARY_CHECKLIST.md")) {
            let tag = checklist
                .strip_prefix("# Canary checklist: ")
                .and_then(|rest| rest.lines().next())
                .unwrap_or("");
            assert!(
                tags.iter().any(|known| known == tag),
                "seed {seed} trial {trial}: checklist for {tag:?}"
            );
            assert!(
                checklist.ends_with("release manager ________ time (UTC) ________\n"),
                "seed {seed} trial {trial}: partial checklist"
            );
        }
        // A rerun tags the next number and leaves no temporary file.
        let rerun = tag_rc(root).stdin(std::process::Stdio::null()).output().expect("rerun");
        assert_eq!(
            rerun.status.code(),
            Some(0),
            "seed {seed} trial {trial}: {}",
            String::from_utf8_lossy(&rerun.stderr)
        );
        let after: Vec<String> = git(root, &["tag", "--list"]).lines().map(str::to_string).collect();
        assert_eq!(after.len(), tags.len() + 1, "seed {seed} trial {trial}");
        assert_eq!(
            temp_files_under(root),
            Vec::<String>::new(),
            "seed {seed} trial {trial}: temp files left"
        );
    }
    eprintln!("make-ready --tag-rc: {TRIALS} trials, {killed} killed mid-run (seed {seed})");
}

/// Waits (at most 10 s) until no process works in `root`: a `git` started by a killed run, or
/// one still forked but not yet `git` (its name is then still mmops's), which would become it.
fn wait_for_git_in(root: &Path) {
    let root = root.canonicalize().unwrap();
    let busy = || {
        fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .any(|entry| fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(&root)))
    };
    let started = std::time::Instant::now();
    while busy() && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
}
