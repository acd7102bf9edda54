//! `mmops bundle` and `mmops bundle verify` end to end: real zips checked by the zip crate, by
//! `sha256sum -c`, `unzip -t` and Python's zipfile, and tampered copies caught by verify. This
//! file holds the fixture repository and helpers; the tests are grouped by theme:
//!
//! - [`contents`]: what a bundle holds, its summary and JSON, real tools, reproducible bytes;
//! - [`inputs`]: inputs refused before anything is written (missing, bad version, escaping
//!   paths, symlinks, FIFOs, control characters, bad lists);
//! - [`release`]: placing the release: existing releases, final names, dry run, kills;
//! - [`verify`]: `mmops bundle verify` on good, tampered and crafted zips.

mod contents;
mod inputs;
pub(crate) mod mirror;
mod release;
mod signing;
mod verify;

use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};
use zip::ZipArchive;
use zip::write::SimpleFileOptions;

use crate::support::{Check, Expect, Run, TestEnv, tool_available, utc};
use mirror::{CreateDoc, Manifest, Outcome, Status, VerifyDoc};

const FAKE_NOW: &str = "2025-10-11T12:00:00Z";
const ZIP: &str = "artifacts/release/mm-bot-v1.4.0.zip";
const SIDECAR: &str = "artifacts/release/mm-bot-v1.4.0.zip.sha256";
const PROVENANCE: &str = "artifacts/release/mm-bot-v1.4.0.zip.intoto.json";
/// What an unsigned release leaves in its folder.
const RELEASE_FILES: [&str; 3] =
    ["mm-bot-v1.4.0.zip", "mm-bot-v1.4.0.zip.intoto.json", "mm-bot-v1.4.0.zip.sha256"];
const MARKER: &str = "| bundle | OK | RELEASE_BUNDLE=artifacts/release/mm-bot-v1.4.0.zip |";
const VERIFY_OK: &str = "| bundle_verify | OK | BUNDLE_VERIFY=OK |";
const VERIFY_FAIL: &str = "| bundle_verify | FAIL | BUNDLE_VERIFY=FAIL |";

/// The six files every release needs, plus the three optional reports; also the release
/// inputs of the docs examples (`docs.rs`) and of the publish tests (`object_storage.rs`).
pub(crate) const REPO_FILES: [(&str, &str); 6] = [
    ("VERSION", "1.4.0\n"),
    ("README.md", "# mm-bot\n"),
    ("CHANGELOG.md", "## 1.4.0\n- faster\n"),
    ("deploy/prometheus/alerts_soak.yml", "groups:\n  - name: soak_test_alerts\n"),
    ("deploy/policies/rollback.yaml", "hard_gates: rollback\n"),
    ("deploy/grafana/dashboards/mm_operability.json", "{\"title\": \"MM Bot Operability\"}\n"),
];
pub(crate) const REPORTS: [(&str, &str); 3] = [
    ("artifacts/reports/SOAK_RESULTS.md", "# Soak\nall green\n"),
    (
        "artifacts/reports/soak_metrics.json",
        "[{\"edge_net_bps\": 2.7, \"order_age_p95_ms\": 300, \"taker_share_pct\": 12},\n \
         {\"edge_net_bps\": 3.1, \"order_age_p95_ms\": 320, \"taker_share_pct\": 10}]\n",
    ),
    (
        "artifacts/reports/readiness.json",
        "{\"runtime\":{\"utc\":\"2025-10-11T12:00:00Z\",\"version\":\"1.4.0\"},\"score\":100.0,\
         \"sections\":{\"chaos\":10.0,\"edge\":30.0,\"guards\":10.0,\"latency\":25.0,\"taker\":15.0,\"tests\":10.0},\
         \"verdict\":\"GO\"}\n",
    ),
];

fn repo() -> TestEnv {
    let env = TestEnv::new();
    for (path, text) in REPO_FILES.iter().chain(REPORTS.iter()) {
        env.write(path, text);
    }
    env
}

/// `mmops bundle ARGS` at [`FAKE_NOW`]; the caller states exit code, stdout and stderr.
fn bundle<'a>(env: &'a TestEnv, args: &[&str]) -> Check<'a> {
    let mut all = vec!["bundle"];
    all.extend_from_slice(args);
    env.check(all).env("CI_FAKE_UTC", FAKE_NOW)
}

/// `mmops bundle --format json` built at `SOURCE_DATE_EPOCH=epoch` with `CI_FAKE_UTC=fake_utc`
/// (empty: unset), which must succeed quietly; its document.
fn bundle_json_at(env: &TestEnv, epoch: &str, fake_utc: &str) -> CreateDoc {
    env.check(["bundle", "--format", "json"])
        .env("SOURCE_DATE_EPOCH", epoch)
        .env("CI_FAKE_UTC", fake_utc)
        .code(0)
        .stdout(Expect::Anything)
        .stderr_empty()
        .run()
        .json_as()
}

/// `MANIFEST.json` of the zip at `path`, read into its typed mirror.
fn manifest_of(path: &Path) -> Manifest {
    serde_json::from_slice(&read_entry(path, "MANIFEST.json")).expect("MANIFEST.json matches its mirror")
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|byte| format!("{byte:02x}")).collect()
}

fn open_zip(path: &Path) -> ZipArchive<fs::File> {
    ZipArchive::new(fs::File::open(path).expect("open zip")).expect("a valid zip")
}

fn entry_names(path: &Path) -> Vec<String> {
    let archive = open_zip(path);
    (0..archive.len()).map(|index| archive.name_for_index(index).unwrap().unwrap().into_owned()).collect()
}

fn read_entry(path: &Path, name: &str) -> Vec<u8> {
    let mut archive = open_zip(path);
    let mut entry = archive.by_name(name).expect("entry exists");
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes).expect("entry reads");
    bytes
}

fn files_in(env: &TestEnv, dir: &str) -> Vec<String> {
    let mut names: Vec<String> = match fs::read_dir(env.path(dir)) {
        Ok(entries) => {
            entries.map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned()).collect()
        }
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

const EXPECTED_ORDER: [&str; 11] = [
    "VERSION",
    "README.md",
    "CHANGELOG.md",
    "deploy/prometheus/alerts_soak.yml",
    "deploy/policies/rollback.yaml",
    "deploy/grafana/dashboards/mm_operability.json",
    "reports/SOAK_RESULTS.md",
    "reports/soak_metrics.json",
    "reports/readiness.json",
    "RELEASE_SUMMARY.md",
    "MANIFEST.json",
];
