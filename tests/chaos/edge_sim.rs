//! `edge-sim --state` killed at random: the state file is always the old state or the new one,
//! never a mix, and the run after a kill continues from whichever it is.

use std::fs;
use std::time::Duration;

use crate::harness::{Ending, Rng, TRIALS, mmops, run_and_kill, temp_files_under, time_one_run};

/// The i-th window of a series that degrades, then recovers.
fn window(index: usize) -> [String; 3] {
    let close = 1_760_140_800 + 1800 * (index as i64 + 1);
    let ema1h = if (5..12).contains(&index) { -0.5 } else { 0.8 };
    let ema24h = if index >= 16 { 1.8 } else { 1.0 };
    [close.to_string(), ema1h.to_string(), ema24h.to_string()]
}

fn step(dir: &std::path::Path, index: usize) -> std::process::Command {
    let [ts, ema1h, ema24h] = window(index);
    let mut command = mmops(dir);
    command.args(["edge-sim", "--state", "state.json", "--ts", &ts, "--ema1h", &ema1h, "--ema24h", &ema24h]);
    command
}

#[test]
fn state_file_is_old_or_new_never_a_mix() {
    let (mut rng, seed) = Rng::from_env(0xED6E);
    // Reference: the state after each window, from undisturbed runs.
    let reference = tempfile::tempdir().unwrap();
    let mut states = Vec::new();
    let mut longest = Duration::ZERO;
    for index in 0..TRIALS {
        longest = longest.max(time_one_run(step(reference.path(), index)));
        states.push(fs::read(reference.path().join("state.json")).unwrap());
    }
    assert!(states.windows(2).any(|pair| pair[0] != pair[1]), "the series must change the state");

    let dir = tempfile::tempdir().unwrap();
    let mut killed = 0;
    for index in 0..TRIALS {
        if index > 0 {
            fs::write(dir.path().join("state.json"), &states[index - 1]).unwrap();
        }
        let ending = run_and_kill(step(dir.path(), index), rng.delay(longest.mul_f64(1.2)));
        killed += usize::from(ending == Ending::Killed);
        match fs::read(dir.path().join("state.json")) {
            Ok(bytes) => {
                let old = index > 0 && bytes == states[index - 1];
                assert!(
                    old || bytes == states[index],
                    "seed {seed} window {index}: state is neither old nor new"
                );
            }
            Err(_) => assert_eq!(index, 0, "seed {seed} window {index}: state file vanished"),
        }
        // Whatever survived, sending the window again ends in the reference state.
        assert_eq!(run_and_kill(step(dir.path(), index), Duration::from_secs(60)), Ending::Exited(0));
        assert_eq!(
            fs::read(dir.path().join("state.json")).unwrap(),
            states[index],
            "seed {seed} window {index}"
        );
    }
    assert_eq!(temp_files_under(dir.path()), Vec::<String>::new(), "seed {seed}: temp files left");
    eprintln!("edge-sim --state: {TRIALS} trials, {killed} killed mid-run (seed {seed})");
}

/// Issue 11 item 15: two steps at once (windows W and W+1) both read the old state and one
/// window was lost, both exiting 0. Under the lock every step that exits 0 is counted; the only
/// other outcome is W refused (exit 2) because W+1 got the lock first.
#[test]
fn two_concurrent_writers_never_lose_a_window() {
    let (mut rng, seed) = Rng::from_env(0x2ED6E);
    let dir = tempfile::tempdir().unwrap();
    let trials = 3 * TRIALS;
    let (mut accepted, mut refused, mut both_accepted) = (0u64, 0u64, 0u64);
    for trial in 0..trials {
        let (first, second) = (2 * trial, 2 * trial + 1);
        let mut commands = [step(dir.path(), first), step(dir.path(), second)];
        // Either may start first, a little apart or at once.
        if rng.next() % 2 == 0 {
            commands.swap(0, 1);
        }
        let gap = rng.delay(Duration::from_millis(2));
        let mut children = Vec::new();
        for (index, command) in commands.iter_mut().enumerate() {
            if index == 1 {
                std::thread::sleep(gap);
            }
            let child = command
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn mmops");
            children.push(child);
        }
        let mut codes = Vec::new();
        for child in children {
            let output = child.wait_with_output().unwrap();
            codes.push((output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned()));
        }
        for (code, stderr) in &codes {
            match code {
                Some(0) => accepted += 1,
                Some(2) if stderr.contains("older than the state's last window") => refused += 1,
                other => panic!("seed {seed} trial {trial}: unexpected exit {other:?}: {stderr}"),
            }
        }
        both_accepted += u64::from(codes.iter().all(|(code, _)| *code == Some(0)));
        let state: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.path().join("state.json")).unwrap()).unwrap();
        assert_eq!(
            state["current"]["windows_seen"].as_u64(),
            Some(accepted),
            "seed {seed} trial {trial}: a window that exited 0 is missing from the state"
        );
        assert_eq!(state["current"]["last_window"].as_str().map(String::from), Some(close_text(second)));
    }
    assert_eq!(accepted + refused, 2 * trials as u64);
    assert_eq!(temp_files_under(dir.path()), Vec::<String>::new(), "seed {seed}: temp files left");
    eprintln!(
        "edge-sim two writers: {trials} trials, {} steps, {accepted} counted, {refused} refused as older, \
         {both_accepted} trials with both counted, 0 lost (seed {seed})",
        2 * trials
    );
}

/// The close of window `index` as the state file writes it.
fn close_text(index: usize) -> String {
    let close = 1_760_140_800 + 1800 * (index as i64 + 1);
    chrono::DateTime::from_timestamp(close, 0).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Issue 19: a stress test of four steps at once, round after round, with anti-flap rules on.
/// Every step that exits 0 is in the final window count; the others were refused as older
/// (exit 2, named) because a later window won the lock first. None is lost.
#[test]
fn four_concurrent_writers_under_anti_flap_rules_lose_nothing() {
    let (mut rng, seed) = Rng::from_env(0x4ED6E);
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("rules.yaml"),
        "min_dwell: 1h\ngap_policy: hold\ncooldown_backoff: {factor: 2, max_windows: 12, reset_after: 6h}\n",
    )
    .unwrap();
    let rounds = TRIALS;
    let writers = 4;
    let (mut accepted, mut refused) = (0u64, 0u64);
    for round in 0..rounds {
        let mut children = Vec::new();
        for writer in 0..writers {
            let mut command = step(dir.path(), round * writers + writer);
            command.args(["--config", "rules.yaml"]);
            std::thread::sleep(rng.delay(Duration::from_micros(500)));
            children.push(
                command
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("spawn mmops"),
            );
        }
        for child in children {
            let output = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            match output.status.code() {
                Some(0) => accepted += 1,
                Some(2) if stderr.contains("older than the state's last window") => refused += 1,
                other => panic!("seed {seed} round {round}: unexpected exit {other:?}: {stderr}"),
            }
        }
        let state: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.path().join("state.json")).unwrap()).unwrap();
        assert_eq!(
            state["current"]["windows_seen"].as_u64(),
            Some(accepted),
            "seed {seed} round {round}: a step that exited 0 is missing from the state"
        );
    }
    assert_eq!(accepted + refused, (rounds * writers) as u64);
    assert_eq!(temp_files_under(dir.path()), Vec::<String>::new(), "seed {seed}: temp files left");
    eprintln!(
        "edge-sim four writers: {rounds} rounds, {} steps, {accepted} counted = final windows_seen, {refused} \
         refused as older, 0 lost (seed {seed})",
        rounds * writers
    );
}
