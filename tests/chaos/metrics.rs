//! mmops killed with SIGKILL while node_exporter is serving its textfile folder: a scraper
//! running the whole time never sees `node_textfile_scrape_error 1` or a half-written family,
//! because the exporter reads only `*.prom` names and mmops renames complete files into them.

use std::fmt::Write as _;
use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::harness::{Ending, Rng, TRIALS, mmops, run_and_kill, temp_files_under, time_one_run};
use crate::prom_tools::{
    NODE_EXPORTER, NODE_EXPORTER_INSTALL, NodeExporter, PROMTOOL_INSTALL, parse_exposition, promtool,
    value_of,
};

/// What one scrape must show: no scrape error, and every mmops family that is there complete.
fn check_scrape(text: &str) -> Result<(), String> {
    let families = parse_exposition(text);
    if value_of(&families, "node_textfile_scrape_error") != Some(0.0) {
        return Err("node_textfile_scrape_error is not 0".into());
    }
    let tasks = families.iter().find(|family| family.name == "mmops_cron_sentinel_task_max_age_seconds");
    if let Some(family) = tasks
        && family.samples.len() != 1000
    {
        return Err(format!("{} of 1000 cron tasks exposed", family.samples.len()));
    }
    Ok(())
}

#[test]
fn killed_writers_never_cause_a_scrape_error() {
    if !crate::support::tool_available(NODE_EXPORTER, NODE_EXPORTER_INSTALL) {
        return;
    }
    let (mut rng, seed) = Rng::from_env(0x005C_4A9E);
    let dir = tempfile::tempdir().unwrap();
    let textfiles = dir.path().join("textfiles");
    fs::create_dir_all(&textfiles).unwrap();
    // Many tasks make the cron-sentinel file large, so kills land while it is being written.
    let mut config = String::from("tasks:\n");
    for index in 0..1000 {
        let _ = writeln!(config, "  - {{name: task_{index}, artifact: 'out/*_{index}.json', max_age: 1h}}");
    }
    fs::write(dir.path().join("sentinel.yaml"), config).unwrap();
    let check_with_promtool = crate::support::tool_available("promtool", PROMTOOL_INSTALL);
    let exporter = Arc::new(NodeExporter::start(&textfiles));

    let stop = Arc::new(AtomicBool::new(false));
    let problems = Arc::new(Mutex::new(Vec::new()));
    let scraper = {
        let (exporter, stop, problems) = (Arc::clone(&exporter), Arc::clone(&stop), Arc::clone(&problems));
        std::thread::spawn(move || {
            let mut scrapes = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if let Err(problem) = check_scrape(&exporter.scrape()) {
                    problems.lock().unwrap().push(format!("scrape {scrapes}: {problem}"));
                }
                scrapes += 1;
                // Leave the two cores to the writers now and then.
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            scrapes
        })
    };

    let cron = || {
        let mut command = mmops(dir.path());
        command.args([
            "cron-sentinel",
            "--config",
            "sentinel.yaml",
            "--prom-file",
            "textfiles/mmops_cron.prom",
        ]);
        command.env("CI_FAKE_UTC", "2025-10-11T12:00:00Z");
        command
    };
    let edge = |window: usize| {
        let mut command = mmops(dir.path());
        let ts = (window * 1800).to_string();
        let ema1h = if window.is_multiple_of(4) { "1" } else { "-1" };
        command.args(["edge-sim", "--state", "edge.json", "--ts", &ts, "--ema1h", ema1h, "--ema24h", "2"]);
        command.args(["--prom-file", "textfiles/mmops_edge_sim.prom"]);
        command
    };
    let cron_time = time_one_run(cron());
    let edge_time = time_one_run(edge(1));
    let mut killed = 0;
    for trial in 0..TRIALS {
        for (command, full) in [(cron(), cron_time), (edge(trial + 2), edge_time)] {
            let ending = run_and_kill(command, rng.delay(full.mul_f64(1.2)));
            killed += usize::from(ending == Ending::Killed);
            if let Err(problem) = check_scrape(&exporter.scrape()) {
                problems.lock().unwrap().push(format!("trial {trial} after the kill: {problem}"));
            }
        }
        // What a killed run left under the final names is a whole file that promtool accepts.
        for name in ["mmops_cron.prom", "mmops_edge_sim.prom"].iter().filter(|_| check_with_promtool) {
            let Ok(text) = fs::read(textfiles.join(name)) else { continue };
            let run = promtool(&["check", "metrics"], &text);
            if (run.code, run.stdout.as_str(), run.stderr.as_str()) != (0, "", "") {
                problems.lock().unwrap().push(format!(
                    "trial {trial}: promtool check metrics {name}: {}{}",
                    run.stdout, run.stderr
                ));
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let scrapes = scraper.join().unwrap();
    let problems = problems.lock().unwrap().clone();
    assert_eq!(problems, Vec::<String>::new(), "seed {seed}");
    assert!(killed > 0, "seed {seed}: no run was killed mid-run ({cron_time:?}, {edge_time:?})");
    eprintln!(
        "textfile scrapes during SIGKILLs: {} runs ({TRIALS} trials x 2 writers), {killed} killed mid-run, \
         {} scrapes, 0 scrape errors (seed {seed})",
        TRIALS * 2,
        scrapes + TRIALS as u64 * 2
    );
    // A complete rerun of each writer removes what the killed ones left.
    assert_eq!(run_and_kill(cron(), std::time::Duration::from_secs(60)), Ending::Exited(1));
    assert_eq!(run_and_kill(edge(TRIALS + 2), std::time::Duration::from_secs(60)), Ending::Exited(0));
    assert_eq!(
        temp_files_under(&textfiles),
        Vec::<String>::new(),
        "seed {seed}: temp files left after rerun"
    );
    assert!(check_scrape(&exporter.scrape()).is_ok());
}
