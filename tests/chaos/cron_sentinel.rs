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
