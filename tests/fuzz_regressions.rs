//! Replays every input kept under `fuzz/regressions/<target>/` (crashes once found by fuzzing,
//! and hostile inputs written by hand) through the same entry point the fuzz target uses. CI
//! runs this instead of fuzzing; `fuzz/run` does the fuzzing.

use std::fs;
use std::path::Path;

fn replay(target: &str, run_target: fn(&[u8])) {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut count = 0;
    for source in ["regressions", "seeds"] {
        let Ok(entries) = fs::read_dir(fuzz.join(source).join(target)) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            run_target(&fs::read(&path).unwrap());
            count += 1;
        }
    }
    assert!(count > 0, "no inputs for {target} under {}/{{regressions,seeds}}", fuzz.display());
}

#[test]
fn units() {
    replay("units", mmops::fuzzing::units);
}

#[test]
fn cron_sentinel_config() {
    replay("cron_sentinel_config", mmops::fuzzing::cron_sentinel_config);
}

#[test]
fn rotation_policy() {
    replay("rotation_policy", mmops::fuzzing::rotation_policy);
}

#[test]
fn bundle_config() {
    replay("bundle_config", mmops::fuzzing::bundle_config);
}

#[test]
fn edge_config() {
    replay("edge_config", mmops::fuzzing::edge_config);
}

#[test]
fn edge_input() {
    replay("edge_input", mmops::fuzzing::edge_input);
}

#[test]
fn make_ready_config() {
    replay("make_ready_config", mmops::fuzzing::make_ready_config);
}

#[test]
fn soak_report() {
    replay("soak_report", mmops::fuzzing::soak_report);
}

#[test]
fn bundle_verify() {
    replay("bundle_verify", mmops::fuzzing::bundle_verify);
}
