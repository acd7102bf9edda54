//! `rotate` with several `--base-dir`, attacked: killed at random moments (roots are rotated in
//! the order given, so a root that lost a file means every root before it is finished; nothing
//! outside a root's plan ever goes; a rerun finishes every root), and a root swapped for a
//! symlink to a victim folder at random moments after mmops opened it (the victim never loses
//! a file).

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::harness::{Ending, Rng, TRIALS, mmops, run_and_kill, temp_files_under, time_one_run, walk};

const ROOTS: [&str; 3] = ["r1", "r2", "r3"];
const FILES: usize = 600;
const KEEP: usize = 150;
const NOW: i64 = 1_760_184_000; // 2025-10-11T12:00:00Z

/// Builds every root of ROOTS in `dir` afresh; returns the names each keeps (the same in each).
fn build_roots(dir: &Path) -> BTreeSet<String> {
    let mut keep = BTreeSet::new();
    for root in ROOTS {
        let _ = fs::remove_dir_all(dir.join(root));
        keep = build_root(&dir.join(root));
    }
    keep
}

/// Builds `root/` with FILES files, file i older than file i+1; returns the names kept.
fn build_root(root: &Path) -> BTreeSet<String> {
    let mut keep = BTreeSet::new();
    for index in 0..FILES {
        let name = format!("d{}/f{index:04}.log", index % 5);
        let path = root.join(&name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, format!("{name}\n")).unwrap();
        let mtime = filetime::FileTime::from_unix_time(NOW - 86_400 * 30 + index as i64 * 60, 0);
        filetime::set_file_mtime(&path, mtime).unwrap();
        if index >= FILES - KEEP {
            keep.insert(name);
        }
    }
    keep
}

fn remaining(root: &Path) -> BTreeSet<String> {
    walk(root)
        .into_iter()
        .map(|path| path.strip_prefix(root).unwrap().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.') && !name.contains("/.") && name.ends_with(".log"))
        .collect()
}

fn rotate_command(dir: &Path) -> std::process::Command {
    let mut command = mmops(dir);
    command.arg("rotate");
    for root in ROOTS {
        command.args(["--base-dir", root]);
    }
    command.args(["--keep", &KEEP.to_string()]).env("CI_FAKE_UTC", "2025-10-11T12:00:00Z");
    command
}

#[test]
fn killed_rotate_over_several_roots_finishes_roots_in_order_and_loses_nothing() {
    let (mut rng, seed) = Rng::from_env(0x0000_2007_5000);
    let dir = tempfile::tempdir().unwrap();
    let rebuild = || build_roots(dir.path());
    let keep = rebuild();
    let full = time_one_run(rotate_command(dir.path()));
    for root in ROOTS {
        assert_eq!(
            remaining(&dir.path().join(root)),
            keep,
            "an undisturbed run keeps the newest {KEEP} of {root}"
        );
    }
    let mut killed = 0;
    let mut killed_between = 0;
    for trial in 0..TRIALS {
        rebuild();
        let ending = run_and_kill(rotate_command(dir.path()), rng.delay(full.mul_f64(1.1)));
        killed += usize::from(ending == Ending::Killed);
        let left: Vec<BTreeSet<String>> =
            ROOTS.iter().map(|root| remaining(&dir.path().join(root))).collect();
        for (index, root) in ROOTS.iter().enumerate() {
            assert!(
                keep.is_subset(&left[index]),
                "seed {seed} trial {trial}: a file outside {root}'s plan is gone"
            );
            if left[index].len() < FILES {
                // This root was started: every root before it is finished.
                for earlier in 0..index {
                    assert_eq!(
                        left[earlier], keep,
                        "seed {seed} trial {trial}: {root} was started before {} was finished",
                        ROOTS[earlier]
                    );
                }
            }
        }
        let finished = left.iter().filter(|set| **set == keep).count();
        let untouched = left.iter().filter(|set| set.len() == FILES).count();
        killed_between +=
            usize::from(ending == Ending::Killed && finished + untouched == ROOTS.len() && finished > 0);
        // The rerun finishes every root, puts back any quarantine, leaves no temporary file.
        let rerun = run_and_kill(rotate_command(dir.path()), Duration::from_secs(120));
        assert_eq!(rerun, Ending::Exited(0), "seed {seed} trial {trial}: rerun did not complete");
        for root in ROOTS {
            let path = dir.path().join(root);
            assert_eq!(remaining(&path), keep, "seed {seed} trial {trial}: rerun did not finish {root}");
            let quarantines: Vec<String> = fs::read_dir(&path)
                .unwrap()
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with(".mmops-quarantine-"))
                .collect();
            assert!(quarantines.is_empty(), "seed {seed} trial {trial}: quarantine left in {root}");
        }
        assert!(temp_files_under(dir.path()).is_empty(), "seed {seed} trial {trial}: temp files left");
    }
    assert!(killed > 0, "seed {seed}: no trial was killed mid-run (run takes {full:?})");
    eprintln!(
        "rotate, {} roots: {TRIALS} trials, {killed} killed mid-run, {killed_between} of them between two roots \
         (seed {seed})",
        ROOTS.len()
    );
}

/// Whether `pid` has a handle open on the folder `path` (mmops opened that root).
fn has_open(pid: u32, path: &Path) -> bool {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else { return false };
    fds.filter_map(Result::ok).any(|fd| fs::read_link(fd.path()).is_ok_and(|target| target == path))
}

#[test]
fn a_root_swapped_for_a_symlink_mid_run_never_reaches_the_victim() {
    let (mut rng, seed) = Rng::from_env(0x53A9_0007);
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let build = || {
        for name in ["r1", "r2", "r3", "r2.moved", "victim"] {
            let _ = fs::remove_file(path(name));
            let _ = fs::remove_dir_all(path(name));
        }
        for root in ROOTS {
            build_root(&path(root));
        }
        // The victim looks like a root: the same old files, all of them past the limit.
        build_root(&path("victim"))
    };
    let keep = build();
    let victim_files = remaining(&path("victim"));
    let full = time_one_run(rotate_command(dir.path()));
    let (mut swapped_in_time, mut before_apply) = (0, 0);
    for trial in 0..TRIALS {
        build();
        let r2 = fs::canonicalize(path("r2")).unwrap();
        let mut child = rotate_command(dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // From the moment mmops holds r2 open (it opens every root before planning any).
        let started = Instant::now();
        while !has_open(child.id(), &r2) && child.try_wait().unwrap().is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "seed {seed} trial {trial}: r2 never opened"
            );
            std::thread::sleep(Duration::from_micros(100));
        }
        std::thread::sleep(rng.delay(full));
        let running = child.try_wait().unwrap().is_none();
        fs::rename(path("r2"), path("r2.moved")).unwrap();
        std::os::unix::fs::symlink("victim", path("r2")).unwrap();
        let output = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        swapped_in_time += usize::from(running);
        assert_eq!(
            remaining(&path("victim")),
            victim_files,
            "seed {seed} trial {trial}: the victim lost a file\n{stdout}"
        );
        // The moved folder lost only what its plan selected.
        let moved = remaining(&path("r2.moved"));
        assert!(
            moved.len() == FILES || keep.is_subset(&moved),
            "seed {seed} trial {trial}: r2 lost a kept file"
        );
        if stdout.contains("not rotated: its path leads to another folder") {
            before_apply += 1;
            assert_eq!(moved.len(), FILES, "seed {seed} trial {trial}: r2 reported not rotated but touched");
            assert_eq!(output.status.code(), Some(1), "seed {seed} trial {trial}\n{stdout}");
        }
    }
    eprintln!(
        "rotate, root swapped for a symlink: {TRIALS} trials, {swapped_in_time} swapped while mmops ran, \
         {before_apply} caught before r2 was rotated (seed {seed})"
    );
    assert!(swapped_in_time > 0, "seed {seed}: no swap landed while mmops ran (run takes {full:?})");
}

/// SIGTERM/SIGINT at a random moment: the run stops after the current file of the current root,
/// the roots after it are reported `not_run` and untouched, and each root's report lists exactly
/// the files that are gone from it.
#[test]
fn sigterm_over_several_roots_stops_in_the_current_root_and_reports_the_rest_as_not_run() {
    let (mut rng, seed) = Rng::from_env(0x5167_2007);
    let dir = tempfile::tempdir().unwrap();
    let rebuild = || build_roots(dir.path());
    let keep = rebuild();
    let full = time_one_run(rotate_command(dir.path()));
    let all: BTreeSet<String> = (0..FILES).map(|index| format!("d{}/f{index:04}.log", index % 5)).collect();
    let (mut interrupted, mut with_not_run) = (0, 0);
    for trial in 0..TRIALS {
        rebuild();
        let child = rotate_command(dir.path())
            .args(["--format", "json"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(full.mul_f64(0.2) + rng.delay(full.mul_f64(0.8)));
        let signal = if trial % 2 == 0 { "-TERM" } else { "-INT" };
        std::process::Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap();
        let output = child.wait_with_output().unwrap();
        let left: Vec<BTreeSet<String>> =
            ROOTS.iter().map(|root| remaining(&dir.path().join(root))).collect();
        for (index, root) in ROOTS.iter().enumerate() {
            assert!(
                keep.is_subset(&left[index]),
                "seed {seed} trial {trial}: a file outside {root}'s plan is gone"
            );
        }
        match output.status.code() {
            // Killed by the signal before any root reached its deletes (nothing was changed).
            None => {
                assert!(
                    left.iter().all(|set| set.len() == FILES),
                    "seed {seed} trial {trial}: killed after a change"
                );
                continue;
            }
            Some(0) => {
                assert!(
                    left.iter().all(|set| *set == keep),
                    "seed {seed} trial {trial}: exit 0 but not done"
                );
                continue;
            }
            Some(code) => assert_eq!(
                code,
                130,
                "seed {seed} trial {trial}: {}",
                String::from_utf8_lossy(&output.stderr)
            ),
        }
        interrupted += 1;
        let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(document["marker"], "ROTATE=INTERRUPTED", "seed {seed} trial {trial}");
        let roots = document["roots"].as_array().unwrap();
        let mut reached_not_run = false;
        for (index, section) in roots.iter().enumerate() {
            if section.get("not_run").is_some() {
                reached_not_run = true;
                assert_eq!(
                    left[index].len(),
                    FILES,
                    "seed {seed} trial {trial}: {} not run but touched",
                    ROOTS[index]
                );
                continue;
            }
            assert!(!reached_not_run, "seed {seed} trial {trial}: a root ran after one was not run");
            let reported: BTreeSet<String> = section["files"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|row| row["result"] == "deleted")
                .map(|row| row["path"].as_str().unwrap().to_string())
                .collect();
            let gone: BTreeSet<String> = all.difference(&left[index]).cloned().collect();
            assert_eq!(
                reported, gone,
                "seed {seed} trial {trial}: {} reports other files than are gone",
                ROOTS[index]
            );
        }
        with_not_run += usize::from(reached_not_run);
        // The locks were released: a rerun finishes every root.
        assert_eq!(run_and_kill(rotate_command(dir.path()), Duration::from_secs(120)), Ending::Exited(0));
        for root in ROOTS {
            assert_eq!(
                remaining(&dir.path().join(root)),
                keep,
                "seed {seed} trial {trial}: rerun left {root}"
            );
        }
    }
    eprintln!(
        "rotate, {} roots, SIGTERM/SIGINT: {TRIALS} trials, {interrupted} interrupted, {with_not_run} with roots \
         reported not run (seed {seed})",
        ROOTS.len()
    );
    assert!(interrupted > 0, "seed {seed}: no signal landed during the deletions (run takes {full:?})");
}
