//! `bundle` killed at random: no zip or `.sha256` under a final name is ever partial; after a
//! rerun the bundle verifies and no temporary file is left.

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::harness::{Ending, Rng, TRIALS, mmops, run_and_kill, temp_files_under, time_one_run};

fn build_repo(root: &Path) {
    let files = [
        ("VERSION", "1.2.3\n".to_string()),
        ("README.md", "# mm-bot\n".to_string()),
        ("CHANGELOG.md", "# Changelog\n".to_string()),
        ("deploy/prometheus/alerts_soak.yml", "groups: []\n".to_string()),
        ("deploy/policies/rollback.yaml", "gates: []\n".to_string()),
        ("deploy/grafana/dashboards/mm_operability.json", "{}\n".to_string()),
    ];
    for (name, text) in files {
        let path = root.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    // A large report makes the write long enough for kills to land inside it.
    let mut big = Vec::with_capacity(24 << 20);
    let mut state = 7u64;
    while big.len() < 24 << 20 {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        big.extend_from_slice(
            format!("{{\"ts\": {}, \"edge_bps\": {}}}\n", state >> 40, state % 1000).as_bytes(),
        );
    }
    fs::create_dir_all(root.join("artifacts/reports")).unwrap();
    fs::write(root.join("artifacts/reports/soak_metrics.json"), big).unwrap();
}

#[test]
fn killed_bundle_leaves_no_partial_release() {
    let (mut rng, seed) = Rng::from_env(0xB0D1E);
    let dir = tempfile::tempdir().unwrap();
    build_repo(dir.path());
    let out = dir.path().join("artifacts/release");
    let zip = out.join("mm-bot-v1.2.3.zip");
    let sidecar = out.join("mm-bot-v1.2.3.zip.sha256");
    let command = || {
        let mut command = mmops(dir.path());
        command.arg("bundle").env("SOURCE_DATE_EPOCH", "1760184000");
        command
    };
    let full = time_one_run(command());
    let good_zip = fs::read(&zip).unwrap();
    let good_sidecar = fs::read(&sidecar).unwrap();
    let mut killed = 0;
    for trial in 0..TRIALS {
        fs::remove_dir_all(&out).ok();
        let ending = run_and_kill(command(), rng.delay(full.mul_f64(1.1)));
        killed += usize::from(ending == Ending::Killed);
        if let Ok(bytes) = fs::read(&zip) {
            assert!(bytes == good_zip, "seed {seed} trial {trial}: partial zip under the final name");
        }
        if let Ok(bytes) = fs::read(&sidecar) {
            assert!(bytes == good_sidecar, "seed {seed} trial {trial}: partial sidecar");
            assert!(zip.exists(), "seed {seed} trial {trial}: sidecar written before the zip");
        }
        let rerun = run_and_kill(command(), Duration::from_secs(120));
        assert_eq!(rerun, Ending::Exited(0), "seed {seed} trial {trial}: rerun failed");
        assert_eq!(fs::read(&zip).unwrap(), good_zip, "seed {seed} trial {trial}");
        assert_eq!(fs::read(&sidecar).unwrap(), good_sidecar, "seed {seed} trial {trial}");
        let mut verify = mmops(dir.path());
        verify.args(["bundle", "verify", "artifacts/release/mm-bot-v1.2.3.zip"]);
        assert_eq!(
            run_and_kill(verify, Duration::from_secs(60)),
            Ending::Exited(0),
            "seed {seed} trial {trial}"
        );
        assert_eq!(
            temp_files_under(dir.path()),
            Vec::<String>::new(),
            "seed {seed} trial {trial}: temp files left"
        );
    }
    assert!(killed > 0, "seed {seed}: no trial was killed mid-run (run takes {full:?})");
    eprintln!("bundle: {TRIALS} trials, {killed} killed mid-run (seed {seed})");
}
