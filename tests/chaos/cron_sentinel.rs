//! `cron-sentinel --prom-file` killed at random: the textfile is absent, the old one, or a
//! complete new one — never half written — and a rerun leaves no temporary file.

use std::fmt::Write as _;
use std::fs;

use crate::harness::{Ending, Rng, TRIALS, mmops, run_and_kill, temp_files_under, time_one_run};

#[test]
fn prom_file_is_never_partial() {
    let (mut rng, seed) = Rng::from_env(0xC0FFEE);
    let dir = tempfile::tempdir().unwrap();
    // Many tasks make the run long enough for kills to land at every stage.
    let mut config = String::from("tasks:\n");
    for index in 0..3000 {
        let _ = writeln!(config, "  - {{name: task_{index}, artifact: 'out/*_{index}.json', max_age: 1h}}");
    }
    fs::write(dir.path().join("sentinel.yaml"), config).unwrap();
    fs::create_dir_all(dir.path().join("out")).unwrap();
    fs::write(dir.path().join("out/a_1.json"), "{}").unwrap();
    let command = || {
        let mut command = mmops(dir.path());
        command.args(["cron-sentinel", "--config", "sentinel.yaml", "--prom-file", "metrics/cron.prom"]);
        command.env("CI_FAKE_UTC", "2025-10-11T12:00:00Z");
        command
    };
    let full = time_one_run(command());
    let complete = fs::read_to_string(dir.path().join("metrics/cron.prom")).unwrap();
    let mut killed = 0;
    for trial in 0..TRIALS {
        fs::remove_file(dir.path().join("metrics/cron.prom")).ok();
        if trial % 2 == 1 {
            fs::write(dir.path().join("metrics/cron.prom"), "# old\n").unwrap();
        }
        let ending = run_and_kill(command(), rng.delay(full.mul_f64(1.2)));
        killed += usize::from(ending == Ending::Killed);
        match fs::read_to_string(dir.path().join("metrics/cron.prom")) {
            Ok(text) => assert!(
                text == complete || text == "# old\n",
                "seed {seed} trial {trial}: partial prom file ({} bytes)",
                text.len()
            ),
            Err(error) => assert_eq!(error.kind(), std::io::ErrorKind::NotFound, "seed {seed} trial {trial}"),
        }
    }
    assert!(killed > 0, "seed {seed}: no trial was killed mid-run (run takes {full:?})");
    eprintln!("cron-sentinel --prom-file: {TRIALS} trials, {killed} killed mid-run (seed {seed})");
    assert_eq!(run_and_kill(command(), std::time::Duration::from_secs(60)), Ending::Exited(1));
    assert_eq!(
        temp_files_under(dir.path()),
        Vec::<String>::new(),
        "seed {seed}: temp files left after rerun"
    );
}

/// A job rewriting its JSON report in place (truncate, then write in pieces) and renaming
/// new versions over it while cron-sentinel reads the time from inside the file
/// (`timestamp: json:…`): every run must end with a verdict (exit 0 or 1), each task FRESH or
/// ERROR with a reason — never a crash, a hang, a parse of half a file as a time, or exit 2.
#[test]
fn json_timestamp_read_while_the_job_rewrites_the_file() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let (mut rng, seed) = Rng::from_env(0x005E_ED14);
    let dir = tempfile::tempdir().unwrap();
    let mut config = String::from("tasks:\n");
    for index in 0..40 {
        let _ = writeln!(
            config,
            "  - {{name: t{index}, artifact: out/report.json, schedule: '*/15 * * * *', tz: Europe/London, timestamp: 'json:/runtime/utc'}}"
        );
    }
    fs::write(dir.path().join("sentinel.yaml"), config).unwrap();
    fs::create_dir_all(dir.path().join("out")).unwrap();
    let report = |pad: u64| {
        format!(
            "{{\"runtime\": {{\"utc\": \"2025-10-11T11:55:00Z\"}}, \"pad\": \"{}\"}}",
            "x".repeat(pad as usize)
        )
    };
    fs::write(dir.path().join("out/report.json"), report(10)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, root) = (Arc::clone(&stop), dir.path().to_path_buf());
        let mut state = rng.next().max(1);
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        std::thread::spawn(move || {
            let target = root.join("out/report.json");
            let mut rewrites = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let text = report(next() % 50_000);
                if next() % 2 == 0 {
                    // In place: readers can see it empty or half written.
                    use std::io::Write as _;
                    let mut file = fs::File::create(&target).unwrap();
                    for chunk in text.as_bytes().chunks(4096) {
                        file.write_all(chunk).unwrap();
                    }
                } else {
                    let temp = root.join("out/.report.tmp");
                    fs::write(&temp, &text).unwrap();
                    fs::rename(&temp, &target).unwrap();
                }
                rewrites += 1;
            }
            rewrites
        })
    };
    let mut errors = 0;
    let mut fresh = 0;
    for trial in 0..TRIALS {
        let output = mmops(dir.path())
            .args(["--format", "json", "cron-sentinel", "--config", "sentinel.yaml"])
            .env("CI_FAKE_UTC", "2025-10-11T12:00:00Z")
            .output()
            .unwrap();
        let code = output.status.code();
        assert!(
            matches!(code, Some(0 | 1)),
            "seed {seed} trial {trial}: exit {code:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            output.stderr.is_empty(),
            "seed {seed} trial {trial}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        for task in document["tasks"].as_array().unwrap() {
            match task["status"].as_str().unwrap() {
                "FRESH" => {
                    assert_eq!(task["artifact_time"], "2025-10-11T11:55:00Z", "seed {seed} trial {trial}");
                    fresh += 1;
                }
                "ERROR" => {
                    let message = task["message"].as_str().unwrap();
                    assert!(
                        message.starts_with("cannot check out/report.json: timestamp json:/runtime/utc: "),
                        "seed {seed} trial {trial}: {message}"
                    );
                    errors += 1;
                }
                other => panic!("seed {seed} trial {trial}: status {other}: {task}"),
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let rewrites = writer.join().unwrap();
    eprintln!(
        "cron-sentinel json timestamp vs rewriter: {TRIALS} runs x 40 tasks, {fresh} fresh, {errors} errors (torn reads), {rewrites} rewrites (seed {seed})"
    );
    assert!(fresh > 0, "seed {seed}: no read saw a whole file");
}
