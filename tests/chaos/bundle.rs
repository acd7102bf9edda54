//! `bundle` under attack: killed at random (no zip or `.sha256` under a final name is ever
//! partial; after a rerun the bundle verifies and no temporary file is left), built again and
//! again with several workers and with one (one hash), and run while `README.md` is rewritten in
//! place or flipped to a symlink to a file outside the repository (never a bad bundle).

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::harness::{Ending, Rng, TRIALS, mmops, run_and_kill, temp_files_under, time_one_run};

fn build_repo(root: &Path) {
    build_repo_with_report(root, 24 << 20);
}

/// Deterministic, compressible text of `size` bytes; `salt` gives another text of the same size.
fn text(size: usize, salt: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 64);
    let mut state = 7u64 ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    while out.len() < size {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        out.extend_from_slice(
            format!("{{\"ts\": {}, \"edge_bps\": {}}}\n", state >> 40, state % 1000).as_bytes(),
        );
    }
    out.truncate(size);
    out
}

fn build_repo_with_report(root: &Path, report_size: usize) {
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
    fs::create_dir_all(root.join("artifacts/reports")).unwrap();
    fs::write(root.join("artifacts/reports/soak_metrics.json"), text(report_size, 0)).unwrap();
}

#[test]
fn killed_bundle_leaves_no_partial_release() {
    let (mut rng, seed) = Rng::from_env(0xB0D1E);
    let dir = tempfile::tempdir().unwrap();
    build_repo(dir.path());
    let out = dir.path().join("artifacts/release");
    let zip = out.join("mm-bot-v1.2.3.zip");
    let sidecar = out.join("mm-bot-v1.2.3.zip.sha256");
    let provenance = out.join("mm-bot-v1.2.3.zip.intoto.json");
    let command = || {
        let mut command = mmops(dir.path());
        command.arg("bundle").env("SOURCE_DATE_EPOCH", "1760184000");
        command
    };
    let full = time_one_run(command());
    let good_zip = fs::read(&zip).unwrap();
    let good_sidecar = fs::read(&sidecar).unwrap();
    let good_provenance = fs::read(&provenance).unwrap();
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
            // The sidecar is placed last: its presence means the provenance is complete too.
            assert!(
                fs::read(&provenance).is_ok_and(|bytes| bytes == good_provenance),
                "seed {seed} trial {trial}: sidecar present without the complete provenance"
            );
        }
        if let Ok(bytes) = fs::read(&provenance) {
            assert!(bytes == good_provenance, "seed {seed} trial {trial}: partial provenance");
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

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Item 1 of issue 11: 200 builds of the same inputs gave two hashes with several workers. The
/// same >1 MiB inputs built 50 times with the default workers and 50 times pinned to one core
/// (one worker) must give one hash.
#[test]
fn bundle_bytes_do_not_depend_on_workers() {
    if !crate::support::tool_available("taskset", "apt-get install util-linux") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    build_repo_with_report(dir.path(), 3 << 20);
    let out = dir.path().join("artifacts/release");
    let zip = out.join("mm-bot-v1.2.3.zip");
    let mut hashes: BTreeMap<String, usize> = BTreeMap::new();
    let runs = 100usize;
    for run in 0..runs {
        fs::remove_dir_all(&out).ok();
        let mut command = if run.is_multiple_of(2) {
            mmops(dir.path())
        } else {
            let mut pinned = std::process::Command::new("taskset");
            pinned.args(["-c", "0", env!("CARGO_BIN_EXE_mmops")]).current_dir(dir.path());
            for var in ["CI_FAKE_UTC", "NO_COLOR", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY"] {
                pinned.env_remove(var);
            }
            pinned
        };
        let output = command.arg("bundle").env("SOURCE_DATE_EPOCH", "1760184000").output().unwrap();
        assert_eq!(output.status.code(), Some(0), "run {run}: {}", String::from_utf8_lossy(&output.stderr));
        *hashes.entry(sha256_hex(&fs::read(&zip).unwrap())).or_insert(0) += 1;
    }
    eprintln!(
        "bundle reproducibility: {runs} builds (half pinned to one core), {} distinct hash(es)",
        hashes.len()
    );
    assert_eq!(hashes.len(), 1, "{hashes:?}");
}

/// The bytes bundled as `entry`, or `None` without a zip.
fn bundled(zip: &Path, entry: &str) -> Option<Vec<u8>> {
    let file = fs::File::open(zip).ok()?;
    let mut archive = zip::ZipArchive::new(file).expect("a zip under the final name is complete");
    let mut bytes = Vec::new();
    archive.by_name(entry).expect("the entry is there").read_to_end(&mut bytes).unwrap();
    Some(bytes)
}

/// Item 2: `README.md` rewritten in place (same size, 64 KiB pieces like `dd conv=notrunc`)
/// while bundles are built. Every bundle that exits 0 holds one whole version; every other run
/// exits 2 naming the file, with no zip placed.
#[test]
fn a_file_rewritten_during_the_run_never_makes_a_bad_bundle() {
    let (mut rng, seed) = Rng::from_env(0x5EED_D0D0);
    let dir = tempfile::tempdir().unwrap();
    build_repo_with_report(dir.path(), 64 << 10);
    let size = 2 << 20;
    let versions = [text(size, 1), text(size, 2)];
    let readme = dir.path().join("README.md");
    fs::write(&readme, &versions[0]).unwrap();
    let out = dir.path().join("artifacts/release");
    let zip = out.join("mm-bot-v1.2.3.zip");
    let stop = Arc::new(AtomicBool::new(false));
    let mut writer_rng = Rng::from_env(seed ^ 0xFFFF).0;
    let rewriter = {
        let stop = Arc::clone(&stop);
        let versions = versions.clone();
        let readme = readme.clone();
        std::thread::spawn(move || {
            let file = fs::OpenOptions::new().write(true).open(&readme).unwrap();
            let mut rewrites = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let version = &versions[(writer_rng.next() % 2) as usize];
                for (index, piece) in version.chunks(64 << 10).enumerate() {
                    file.write_at(piece, (index * (64 << 10)) as u64).unwrap();
                }
                rewrites += 1;
                std::thread::sleep(writer_rng.delay(Duration::from_millis(20)));
            }
            rewrites
        })
    };
    let trials = 5 * TRIALS;
    let (mut packed, mut refused) = (0, 0);
    for trial in 0..trials {
        fs::remove_dir_all(&out).ok();
        std::thread::sleep(rng.delay(Duration::from_millis(10)));
        let output = mmops(dir.path()).arg("bundle").env("SOURCE_DATE_EPOCH", "1760184000").output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        match output.status.code() {
            Some(0) => {
                let bytes = bundled(&zip, "README.md").unwrap();
                assert!(
                    versions.contains(&bytes),
                    "seed {seed} trial {trial}: packed bytes match neither version"
                );
                packed += 1;
            }
            Some(2) => {
                assert!(
                    stderr.starts_with("mmops: error: README.md changed while it was being bundled ("),
                    "seed {seed} trial {trial}: {stderr}"
                );
                assert!(!zip.exists(), "seed {seed} trial {trial}: a zip was placed by a refused run");
                refused += 1;
            }
            other => panic!("seed {seed} trial {trial}: exit {other:?}: {stderr}"),
        }
        assert_eq!(temp_files_under(dir.path()), Vec::<String>::new(), "seed {seed} trial {trial}");
    }
    stop.store(true, Ordering::Relaxed);
    let rewrites = rewriter.join().unwrap();
    eprintln!(
        "bundle rewrite race: {trials} trials, {packed} whole versions packed, {refused} refused, 0 bad \
         ({rewrites} rewrites, seed {seed})"
    );
}

/// Item 3: `README.md` flipped between a file and a symlink to a secret outside the repository
/// (atomic renames) while bundles are built. No bundle ever holds the secret.
#[test]
fn a_symlink_flip_never_packs_a_file_from_outside() {
    let (mut rng, seed) = Rng::from_env(0xF11F);
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    build_repo_with_report(dir.path(), 64 << 10);
    let secret = b"-----BEGIN PRIVATE KEY-----\n".to_vec();
    fs::write(outside.path().join("secret"), &secret).unwrap();
    let inside = b"# mm-bot\n".to_vec();
    let readme = dir.path().join("README.md");
    fs::write(&readme, &inside).unwrap();
    let out = dir.path().join("artifacts/release");
    let zip = out.join("mm-bot-v1.2.3.zip");
    let stop = Arc::new(AtomicBool::new(false));
    let mut flipper_rng = Rng::from_env(seed ^ 0xABCD).0;
    let flipper = {
        let stop = Arc::clone(&stop);
        let root = dir.path().to_path_buf();
        let target = outside.path().join("secret");
        let inside = inside.clone();
        std::thread::spawn(move || {
            let mut flips = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let staged = root.join("README.staged");
                if flips.is_multiple_of(2) {
                    std::os::unix::fs::symlink(&target, &staged).unwrap();
                } else {
                    fs::write(&staged, &inside).unwrap();
                }
                fs::rename(&staged, root.join("README.md")).unwrap();
                flips += 1;
                std::thread::sleep(flipper_rng.delay(Duration::from_micros(500)));
            }
            flips
        })
    };
    let trials = 8 * TRIALS;
    let (mut packed, mut refused) = (0, 0);
    for trial in 0..trials {
        fs::remove_dir_all(&out).ok();
        std::thread::sleep(rng.delay(Duration::from_millis(2)));
        let output = mmops(dir.path()).arg("bundle").env("SOURCE_DATE_EPOCH", "1760184000").output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        match output.status.code() {
            Some(0) => {
                let bytes = bundled(&zip, "README.md").unwrap();
                assert!(
                    bytes == inside,
                    "seed {seed} trial {trial}: packed {:?}",
                    String::from_utf8_lossy(&bytes)
                );
                packed += 1;
            }
            Some(2) => {
                // Refused at resolution (a link), or while reading (the file opened was renamed
                // over, which changes its status-change time).
                assert!(
                    stderr.starts_with("mmops: error: files[1]: README.md is a symbolic link")
                        || stderr.starts_with("mmops: error: README.md changed while it was being bundled ("),
                    "seed {seed} trial {trial}: {stderr}"
                );
                assert!(!zip.exists(), "seed {seed} trial {trial}");
                refused += 1;
            }
            other => panic!("seed {seed} trial {trial}: exit {other:?}: {stderr}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let flips = flipper.join().unwrap();
    eprintln!(
        "bundle symlink flip: {trials} trials, {packed} packed the inside file, {refused} refused the link, 0 \
         outside ({flips} flips, seed {seed})"
    );
}

/// `bundle verify` while the zip is swapped (atomic renames) between the release its sidecar
/// names and another build with one more entry. verify used to open the zip by name for each
/// part of the check, so the hash could come from one file and the entries from the other: OK
/// with the sidecar's hash and the other build's entries. An OK must describe one file, the one
/// at the name when verify ends.
#[test]
fn a_zip_swapped_during_verify_is_never_a_mixed_ok() {
    let (mut rng, seed) = Rng::from_env(0x5A5A_0717);
    let dir = tempfile::tempdir().unwrap();
    let build = |extra: bool| -> (Vec<u8>, Vec<u8>) {
        let repo = tempfile::tempdir().unwrap();
        build_repo_with_report(repo.path(), 4 << 20);
        if extra {
            fs::write(repo.path().join("artifacts/reports/SOAK_RESULTS.md"), text(1 << 20, 9)).unwrap();
        }
        let output =
            mmops(repo.path()).arg("bundle").env("SOURCE_DATE_EPOCH", "1760184000").output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
        let zip = repo.path().join("artifacts/release/mm-bot-v1.2.3.zip");
        (
            fs::read(&zip).unwrap(),
            fs::read(repo.path().join("artifacts/release/mm-bot-v1.2.3.zip.sha256")).unwrap(),
        )
    };
    let ((released, sidecar), (other, _)) = (build(false), build(true));
    let released_entries = zip::ZipArchive::new(std::io::Cursor::new(&released)).unwrap().len();
    let released_hash = sha256_hex(&released);
    let other_entries = zip::ZipArchive::new(std::io::Cursor::new(&other)).unwrap().len();
    assert_ne!(released_entries, other_entries);
    let zip = dir.path().join("mm-bot-v1.2.3.zip");
    fs::write(&zip, &released).unwrap();
    fs::write(dir.path().join("mm-bot-v1.2.3.zip.sha256"), &sidecar).unwrap();
    let copies = [dir.path().join("released.copy"), dir.path().join("other.copy")];
    fs::write(&copies[0], &released).unwrap();
    fs::write(&copies[1], &other).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut swapper_rng = Rng::from_env(seed ^ 0x0717).0;
    let swapper = {
        let (stop, zip, copies) = (Arc::clone(&stop), zip.clone(), copies.clone());
        std::thread::spawn(move || {
            let staged = zip.with_extension("staged");
            let mut swaps = 0usize;
            while !stop.load(Ordering::Relaxed) {
                fs::hard_link(&copies[swaps % 2], &staged).unwrap();
                fs::rename(&staged, &zip).unwrap();
                // The release stays in place longer at times, so some runs see it alone.
                let still = if swaps.is_multiple_of(2) { 60 } else { 3 };
                swaps += 1;
                std::thread::sleep(swapper_rng.delay(Duration::from_millis(still)));
            }
            swaps
        })
    };
    let trials = 4 * TRIALS;
    let (mut passed, mut failed) = (0, 0);
    for trial in 0..trials {
        std::thread::sleep(rng.delay(Duration::from_millis(3)));
        let output = mmops(dir.path())
            .args(["bundle", "verify", "mm-bot-v1.2.3.zip", "--format", "json"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let report: serde_json::Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|error| panic!("seed {seed} trial {trial}: {error}: {stdout} {stderr}"));
        match output.status.code() {
            Some(0) => {
                assert_eq!(report["sha256"], released_hash.as_str(), "seed {seed} trial {trial}");
                assert_eq!(
                    report["entries"], released_entries,
                    "seed {seed} trial {trial}: OK with the sidecar's hash but another zip's entries"
                );
                passed += 1;
            }
            Some(1) => {
                assert_ne!(report["problems"], serde_json::json!([]), "seed {seed} trial {trial}");
                failed += 1;
            }
            other => panic!("seed {seed} trial {trial}: exit {other:?}: {stderr}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    assert!(passed > 0, "seed {seed}: no run saw the release alone; the trial checks nothing");
    eprintln!(
        "bundle verify swap race: {trials} trials, {passed} OK (all one file), {failed} failed, 0 mixed \
         ({swaps} swaps, seed {seed})"
    );
}
