//! `mmops bundle` and `mmops bundle verify` end to end: real zips checked by the zip crate, by
//! `sha256sum -c`, `unzip -t` and Python's zipfile, and tampered copies caught by verify.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;
use sha2::{Digest, Sha256};
use zip::ZipArchive;
use zip::write::SimpleFileOptions;

use crate::support::{Run, TestEnv, utc};

const FAKE_NOW: &str = "2025-10-11T12:00:00Z";
const ZIP: &str = "artifacts/release/mm-bot-v1.4.0.zip";
const SIDECAR: &str = "artifacts/release/mm-bot-v1.4.0.zip.sha256";
const MARKER: &str = "| bundle | OK | RELEASE_BUNDLE=artifacts/release/mm-bot-v1.4.0.zip |";

/// The six files every release needs, plus the three optional reports.
const REPO_FILES: [(&str, &str); 6] = [
    ("VERSION", "1.4.0\n"),
    ("README.md", "# mm-bot\n"),
    ("CHANGELOG.md", "## 1.4.0\n- faster\n"),
    ("deploy/prometheus/alerts_soak.yml", "groups:\n  - name: soak_test_alerts\n"),
    ("deploy/policies/rollback.yaml", "hard_gates: rollback\n"),
    ("deploy/grafana/dashboards/mm_operability.json", "{\"title\": \"MM Bot Operability\"}\n"),
];
const REPORTS: [(&str, &str); 3] = [
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

fn bundle(env: &TestEnv, args: &[&str]) -> Run {
    let mut all = vec!["bundle"];
    all.extend_from_slice(args);
    env.run_with_env(all, &[("CI_FAKE_UTC", FAKE_NOW)])
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

fn tool_exists(name: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success()
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

#[test]
fn bundle_holds_the_list_in_order_with_a_manifest_of_independent_hashes() {
    let env = repo();
    let run = bundle(&env, &[]);
    run.expect_code(0);
    assert_eq!(run.last_line(), MARKER);
    assert_eq!(run.stderr, "");
    assert_eq!(entry_names(&env.path(ZIP)), EXPECTED_ORDER);

    let manifest: Value = serde_json::from_slice(&read_entry(&env.path(ZIP), "MANIFEST.json")).unwrap();
    assert_eq!(manifest["version"], "1.4.0");
    assert_eq!(manifest["created_at"], FAKE_NOW);
    assert_eq!(manifest["generator"]["tool"], "mmops");
    assert_eq!(manifest["generator"]["level"], 6);
    assert!(manifest["generator"]["compressor"].as_str().unwrap().starts_with("zlib-rs 0.6.8 raw deflate"));
    let files = manifest["files"].as_array().unwrap();
    let listed: Vec<&str> = files.iter().map(|file| file["path"].as_str().unwrap()).collect();
    assert_eq!(listed, EXPECTED_ORDER[..10]);
    let sources: Vec<&str> = REPO_FILES.iter().chain(REPORTS.iter()).map(|(path, _)| *path).collect();
    for (file, source) in files.iter().zip(&sources) {
        let bytes = fs::read(env.path(source)).unwrap();
        assert_eq!(file["sha256"], sha256_hex(&bytes), "{source}");
        assert_eq!(file["size"], bytes.len() as u64, "{source}");
    }
    let summary = read_entry(&env.path(ZIP), "RELEASE_SUMMARY.md");
    assert_eq!(files[9]["sha256"], sha256_hex(&summary));
    let descriptions: Vec<&str> = files.iter().map(|file| file["description"].as_str().unwrap()).collect();
    assert_eq!(
        descriptions,
        [
            "Version file",
            "Main README",
            "Changelog",
            "Deploy config: alerts_soak.yml",
            "Deploy config: rollback.yaml",
            "Deploy config: mm_operability.json",
            "Report: SOAK_RESULTS.md",
            "Report: soak_metrics.json",
            "Report: readiness.json",
            "Release summary",
        ]
    );

    // The manifest file itself: pretty JSON, trailing newline, `/` separators.
    let text = String::from_utf8(read_entry(&env.path(ZIP), "MANIFEST.json")).unwrap();
    assert!(text.starts_with("{\n  \"version\": \"1.4.0\",\n  \"created_at\": \"2025-10-11T12:00:00Z\",\n"));
    assert!(text.ends_with("}\n") && !text.contains('\\'));

    let zip_bytes = fs::read(env.path(ZIP)).unwrap();
    assert_eq!(env.read(SIDECAR), format!("{}  mm-bot-v1.4.0.zip\n", sha256_hex(&zip_bytes)));
    assert!(run.stdout.contains(&format!("sha256:  {}\n", sha256_hex(&zip_bytes))), "{}", run.stdout);
    assert!(run.stdout.starts_with("VERSION "), "{}", run.stdout);
    // Nothing but the release and its sidecar is left in the folder.
    assert_eq!(files_in(&env, "artifacts/release"), ["mm-bot-v1.4.0.zip", "mm-bot-v1.4.0.zip.sha256"]);
}

#[test]
fn summary_has_readiness_and_soak_medians() {
    let env = repo();
    bundle(&env, &[]).expect_code(0);
    let summary = String::from_utf8(read_entry(&env.path(ZIP), "RELEASE_SUMMARY.md")).unwrap();
    assert!(
        summary
            .starts_with("# Release mm-bot v1.4.0\n\n- Version: `1.4.0`\n- Created: 2025-10-11T12:00:00Z\n")
    );
    assert!(summary.contains("| VERSION | 6 B | `"), "{summary}");
    assert!(
        summary.contains("Verdict: **GO**, score 100 / 100 (from `reports/readiness.json`)"),
        "{summary}"
    );
    assert!(summary.contains("| edge | 30 |"));
    assert!(summary.contains("Medians over 2 soak runs"));
    assert!(
        summary.contains("| edge_net_bps | 2.9 |\n| order_age_p95_ms | 310 |\n| taker_share_pct | 11 |\n"),
        "{summary}"
    );
}

#[test]
fn json_output_is_the_manifest_plus_bundle_hash_and_size() {
    let env = repo();
    let run = bundle(&env, &["--format", "json"]);
    run.expect_code(0);
    let document = run.json();
    let zip_bytes = fs::read(env.path(ZIP)).unwrap();
    assert_eq!(document["bundle"], ZIP);
    assert_eq!(document["sha256"], sha256_hex(&zip_bytes));
    assert_eq!(document["size"], zip_bytes.len() as u64);
    assert_eq!(document["outcome"], "created");
    assert_eq!(document["status"], "OK");
    assert_eq!(document["marker"], format!("RELEASE_BUNDLE={ZIP}"));
    let manifest: Value = serde_json::from_slice(&read_entry(&env.path(ZIP), "MANIFEST.json")).unwrap();
    for key in ["version", "created_at", "generator", "files"] {
        assert_eq!(document[key], manifest[key], "{key}");
    }
}

#[test]
fn real_sha256sum_unzip_and_python_accept_the_bundle() {
    let env = repo();
    bundle(&env, &[]).expect_code(0);
    let release = env.path("artifacts/release");
    assert!(tool_exists("sha256sum") && tool_exists("unzip"), "install coreutils and unzip (.ci/run does)");
    let check = Command::new("sha256sum")
        .args(["-c", "mm-bot-v1.4.0.zip.sha256"])
        .current_dir(&release)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
    assert_eq!(String::from_utf8_lossy(&check.stdout), "mm-bot-v1.4.0.zip: OK\n");
    let test =
        Command::new("unzip").args(["-t", "mm-bot-v1.4.0.zip"]).current_dir(&release).output().unwrap();
    let stdout = String::from_utf8_lossy(&test.stdout);
    assert!(test.status.success(), "{stdout}");
    assert!(stdout.contains("No errors detected in compressed data of mm-bot-v1.4.0.zip."), "{stdout}");
    if tool_exists("python3") {
        let script = "import sys, zipfile\n\
                      z = zipfile.ZipFile(sys.argv[1])\n\
                      assert z.testzip() is None\n\
                      i = z.getinfo('VERSION')\n\
                      print(z.namelist()[0], z.namelist()[-1], oct(i.external_attr >> 16), i.date_time, i.create_system)\n";
        let python = Command::new("python3")
            .args(["-c", script, "mm-bot-v1.4.0.zip"])
            .current_dir(&release)
            .output()
            .unwrap();
        assert!(python.status.success(), "{}", String::from_utf8_lossy(&python.stderr));
        assert_eq!(
            String::from_utf8_lossy(&python.stdout),
            "VERSION MANIFEST.json 0o100644 (2025, 10, 11, 12, 0, 0) 3\n"
        );
    }
}

/// Runs `mmops bundle` under a umask and time zone, through `sh` (the crate forbids the unsafe
/// `pre_exec` a direct umask would need).
fn bundle_with_umask(env: &TestEnv, umask: &str, time_zone: &str, extra: &[&str]) -> Run {
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_mmops"))
        .arg("bundle")
        .args(extra)
        .current_dir(env.root())
        .env_remove("SOURCE_DATE_EPOCH")
        .env("CI_FAKE_UTC", FAKE_NOW)
        .env("TZ", time_zone)
        .output()
        .unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn byte_identical_across_mtimes_umask_time_zone_and_creation_order() {
    let glob_config = "files:\n  - path: VERSION\n  - glob: 'data/**/*.csv'\n    description: Data\n";
    let first = TestEnv::new();
    let second = TestEnv::new();
    first.write("VERSION", "1.4.0\n");
    first.write("bundle.yaml", glob_config);
    // Same files, created in opposite orders (directory listing order differs) with different mtimes.
    let names = ["data/b.csv", "data/a.csv", "data/sub/z.csv", "data/c.csv"];
    for (index, name) in names.iter().enumerate() {
        first.write(name, format!("{name},{index}\n").repeat(50));
        first.set_mtime(name, utc("2020-01-01T00:00:00Z"));
    }
    for name in names.iter().rev() {
        let index = names.iter().position(|other| other == name).unwrap();
        second.write(name, format!("{name},{index}\n").repeat(50));
        second.set_mtime(name, utc("2024-06-30T23:59:59Z"));
    }
    second.write("bundle.yaml", glob_config);
    second.write("VERSION", "1.4.0\n");
    bundle_with_umask(&first, "022", "UTC", &["--config", "bundle.yaml"]).expect_code(0);
    bundle_with_umask(&second, "077", "Asia/Kathmandu", &["--config", "bundle.yaml"]).expect_code(0);
    let one = fs::read(first.path(ZIP)).unwrap();
    let two = fs::read(second.path(ZIP)).unwrap();
    assert!(one == two, "bundles differ");
    assert_eq!(first.read(SIDECAR), second.read(SIDECAR));
    assert_eq!(
        entry_names(&first.path(ZIP)),
        [
            "VERSION",
            "data/a.csv",
            "data/b.csv",
            "data/c.csv",
            "data/sub/z.csv",
            "RELEASE_SUMMARY.md",
            "MANIFEST.json"
        ]
    );
}

#[test]
fn timestamps_come_from_the_build_time_clamped_to_1980() {
    let env = repo();
    let run = env.run_with_env(["bundle", "--format", "json"], &[("SOURCE_DATE_EPOCH", "1700000000")]);
    run.expect_code(0);
    assert_eq!(run.json()["created_at"], "2023-11-14T22:13:20Z");
    let mut archive = open_zip(&env.path(ZIP));
    for index in 0..archive.len() {
        let entry = archive.by_index(index).unwrap();
        let time = entry.last_modified().unwrap();
        assert_eq!(
            (time.year(), time.month(), time.day(), time.hour(), time.minute(), time.second()),
            (2023, 11, 14, 22, 13, 20)
        );
        assert_eq!(entry.unix_mode(), Some(0o100644));
        assert!(entry.extra_data().is_none_or(|extra| extra.is_empty()));
    }
    // CI_FAKE_UTC wins over SOURCE_DATE_EPOCH; 1970 is below the zip minimum and is clamped.
    let env = repo();
    let run = env.run_with_env(
        ["bundle", "--format", "json"],
        &[("SOURCE_DATE_EPOCH", "1700000000"), ("CI_FAKE_UTC", "1970-01-01T00:00:00Z")],
    );
    run.expect_code(0);
    assert_eq!(run.json()["created_at"], "1970-01-01T00:00:00Z");
    let mut archive = open_zip(&env.path(ZIP));
    let time = archive.by_index(0).unwrap().last_modified().unwrap();
    assert_eq!((time.year(), time.month(), time.day(), time.hour()), (1980, 1, 1, 0));
}

#[test]
fn every_missing_required_file_is_listed_and_nothing_is_written() {
    let env = repo();
    fs::remove_file(env.path("README.md")).unwrap();
    fs::remove_file(env.path("deploy/policies/rollback.yaml")).unwrap();
    fs::remove_file(env.path("artifacts/reports/readiness.json")).unwrap(); // optional: not listed
    let run = bundle(&env, &[]);
    run.expect_code(2);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "mmops: error: 2 required files are missing, nothing was written: README.md, deploy/policies/rollback.yaml; \
         create them or change the list (--config)\n"
    );
    assert!(!env.exists("artifacts/release"));
}

#[test]
fn bad_versions_are_refused_before_anything_is_written() {
    let cases: [(&str, Option<&str>, &str); 6] = [
        ("1.0\n", None, "\"1.0\" is not SemVer like 0.1.0 or 1.4.0-rc.1"),
        ("\n", None, "\"\" is not SemVer"),
        ("1.4.0\n", Some("../1.0.0"), "\"../1.0.0\" is not SemVer"),
        ("1.4.0\n", Some("1.0.0/x"), "\"1.0.0/x\" is not SemVer"),
        ("1.4.0\n", Some("1.0.0 beta"), "\"1.0.0 beta\" is not SemVer"),
        ("v1.4.0\n", None, "drop the leading v"),
    ];
    for (file, flag, expected) in cases {
        let env = repo();
        env.write("VERSION", file);
        let mut args = vec![];
        if let Some(flag) = flag {
            args.extend(["--version", flag]);
        }
        let run = bundle(&env, &args);
        run.expect_code(2);
        assert!(run.stderr.starts_with("mmops: error: bad release version from "), "{}", run.stderr);
        assert!(run.stderr.contains(expected), "{file:?} {flag:?}: {}", run.stderr);
        assert!(!env.exists("artifacts/release"), "{file:?} {flag:?}");
    }
    // A missing VERSION file says how to fix it.
    let env = repo();
    fs::remove_file(env.path("VERSION")).unwrap();
    let run = bundle(&env, &[]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("cannot read VERSION (the release version); create it or pass --version"),
        "{}",
        run.stderr
    );
    // A 300 MB VERSION (sparse) is refused at the size limit while reading, not quoted whole; a
    // FIFO is refused without blocking.
    let env = repo();
    fs::File::create(env.path("VERSION")).unwrap().set_len(300_000_000).unwrap();
    let run = bundle(&env, &[]);
    run.expect_code(2);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "mmops: error: VERSION: the version file is larger than the 256 B limit for a version file; is this \
         the right file?\n"
    );
    fs::remove_file(env.path("VERSION")).unwrap();
    assert!(Command::new("mkfifo").arg(env.path("VERSION")).status().unwrap().success());
    let run = bundle(&env, &[]);
    run.expect_code(2);
    assert_eq!(run.stderr, "mmops: error: VERSION: the version file is a FIFO, not a regular file\n");
    assert!(!env.exists("artifacts/release"));
    // --version overrides the file, and a pre-release is fine.
    let env = repo();
    let run = bundle(&env, &["--version", "1.5.0-rc.1"]);
    run.expect_code(0);
    assert_eq!(run.last_line(), "| bundle | OK | RELEASE_BUNDLE=artifacts/release/mm-bot-v1.5.0-rc.1.zip |");
    assert_eq!(
        run.stderr,
        "mmops: warning: --version 1.5.0-rc.1 differs from the VERSION file (1.4.0); a bundled VERSION still says the latter\n"
    );
}

#[test]
fn paths_escaping_the_repository_are_refused() {
    let outside = TestEnv::new();
    outside.write("secret.txt", "private key\n");
    let cases = [
        ("files:\n  - path: /etc/hostname\n", "files[0].path: \"/etc/hostname\" is absolute"),
        ("files:\n  - path: ../secret.txt\n", "files[0].path: \"../secret.txt\" contains \"..\""),
        (
            "files:\n  - path: VERSION\nreports:\n  - glob: '../*'\n",
            "reports[0].glob: \"../*\" contains \"..\"",
        ),
        ("files:\n  - path: link.txt\n", "link.txt is a symbolic link, or a folder on its way is"),
        ("files:\n  - path: VERSION\n  - glob: 'lin*'\n", "link.txt is a symbolic link"),
        (
            "files:\n  - path: linkdir/secret.txt\n",
            "linkdir/secret.txt is a symbolic link, or a folder on its way is",
        ),
    ];
    for (config, expected) in cases {
        let env = repo();
        std::os::unix::fs::symlink(outside.path("secret.txt"), env.path("link.txt")).unwrap();
        std::os::unix::fs::symlink(outside.root(), env.path("linkdir")).unwrap();
        env.write("bundle.yaml", config);
        let run = bundle(&env, &["--config", "bundle.yaml"]);
        run.expect_code(2);
        assert!(run.stderr.contains(expected), "{config}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert!(!env.exists("artifacts/release"), "{config}");
    }
    // Links are never followed, not even to a file inside the repository: the file a link
    // names when it is checked need not be the one it names when it is read.
    let env = repo();
    std::os::unix::fs::symlink("README.md", env.path("docs-link.md")).unwrap();
    env.write("bundle.yaml", "files:\n  - path: docs-link.md\n");
    let run = bundle(&env, &["--config", "bundle.yaml"]);
    run.expect_code(2);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "mmops: error: files[0]: docs-link.md is a symbolic link, or a folder on its way is; bundles take \
         only regular files and never follow links: list the file the link points to\n"
    );
    assert!(!env.exists("artifacts/release"));
}

/// A FIFO where a listed file should be is refused at once (it used to be opened blocking).
#[test]
fn a_fifo_input_is_refused_without_hanging() {
    let env = repo();
    fs::remove_file(env.path("README.md")).unwrap();
    let status = Command::new("mkfifo").arg(env.path("README.md")).status().unwrap();
    assert!(status.success());
    let run = bundle(&env, &[]);
    run.expect_code(2);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "mmops: error: files[1]: README.md is not a regular file (a FIFO, device or socket); bundles take \
         only regular files\n"
    );
    assert!(!env.exists("artifacts/release"));
}

/// Names with control characters are refused at bundle time, escaped in the message (the ESC
/// used to reach the terminal raw, and bundle's own verify then failed the release).
#[test]
fn input_names_with_control_characters_are_refused_escaped() {
    for (name, shown) in [
        ("a\nb.txt", "a\\nb.txt"),
        ("tab\there.txt", "tab\\there.txt"),
        ("esc\u{1b}[31m.txt", "esc\\x1b[31m.txt"),
    ] {
        let env = repo();
        env.write(format!("extra/{name}"), "x\n");
        env.write("bundle.yaml", "files:\n  - path: VERSION\n  - glob: 'extra/*'\n");
        let run = bundle(&env, &["--config", "bundle.yaml"]);
        run.expect_code(2);
        assert_eq!(run.stdout, "");
        assert!(
            run.stderr.contains(&format!("\"extra/{shown}\" has a control character")),
            "{name:?}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains('\u{1b}'), "{}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert!(!env.exists("artifacts/release"));
    }
}

#[test]
fn bad_configs_are_exit_2_with_the_spot() {
    let cases = [
        ("files:\n  - path: VERSION\n    requird: true\n", "bundle.yaml:3:5: unknown field \"requird\""),
        (
            "files:\n  - path: VERSION\n    glob: '*'\n",
            "bundle.yaml: files[0]: give either path or glob, not both",
        ),
        ("files:\n  - description: x\n", "bundle.yaml: files[0]: needs a path (one file) or a glob"),
        ("files:\n  - path: VERSION\n    dest: MANIFEST.json\n", "files[0].dest"),
        (
            "files:\n  - path: VERSION\n  - path: README.md\n    dest: VERSION\n",
            "two files would be bundled as VERSION",
        ),
        ("files:\n  - path: deploy\n", "is a folder; list its files, or use a glob"),
        ("files: [\n", "bundle.yaml:1:"),
        ("", "the file is empty"),
    ];
    for (config, expected) in cases {
        let env = repo();
        env.write("bundle.yaml", config);
        let run = bundle(&env, &["--config", "bundle.yaml"]);
        run.expect_code(2);
        assert!(run.stderr.contains(expected), "{config}: {}", run.stderr);
        assert!(!env.exists("artifacts/release"), "{config}");
    }
    let env = repo();
    let run = bundle(&env, &["--config", "nope.yaml"]);
    run.expect_code(2);
    assert!(run.stderr.contains("cannot read config file nope.yaml"), "{}", run.stderr);
    let run = bundle(&env, &["--name", "../evil"]);
    run.expect_code(2);
    assert!(run.stderr.contains("--name \"../evil\""), "{}", run.stderr);
}

#[test]
fn shipped_list_gives_the_same_bytes_as_the_built_in_one() {
    let env = repo();
    env.write("deploy/release/bundle.yaml", include_str!("../../deploy/release/bundle.yaml"));
    bundle(&env, &[]).expect_code(0);
    let built_in = fs::read(env.path(ZIP)).unwrap();
    let run = bundle(&env, &["--config", "deploy/release/bundle.yaml", "--out-dir", "other"]);
    run.expect_code(0);
    assert!(fs::read(env.path("other/mm-bot-v1.4.0.zip")).unwrap() == built_in);
}

#[test]
fn existing_release_is_unchanged_refused_or_replaced_with_force() {
    let env = repo();
    bundle(&env, &[]).expect_code(0);
    let original = fs::read(env.path(ZIP)).unwrap();

    // Same inputs: unchanged, exit 0; a lost sidecar is restored.
    fs::remove_file(env.path(SIDECAR)).unwrap();
    let run = bundle(&env, &["--format", "json"]);
    run.expect_code(0);
    assert_eq!(run.json()["outcome"], "unchanged");
    assert_eq!(run.stderr, format!("mmops: warning: {SIDECAR} was missing or wrong; rewrote it\n"));
    assert_eq!(env.read(SIDECAR), format!("{}  mm-bot-v1.4.0.zip\n", sha256_hex(&original)));

    // Different inputs: refused with exit 1, the release untouched, no temp file left.
    env.write("README.md", "# mm-bot, edited\n");
    let run = bundle(&env, &[]);
    run.expect_code(1);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("already exists with different content"), "{}", run.stderr);
    assert!(run.stderr.contains("pass --force to replace it"), "{}", run.stderr);
    // The message names the first entry that differs.
    assert!(
        run.stderr.contains(&format!(
            "the first entry that differs is README.md: sha256 {} (9 bytes) in the release, {} (17 bytes) in this build",
            sha256_hex(b"# mm-bot\n"),
            sha256_hex(b"# mm-bot, edited\n")
        )),
        "{}",
        run.stderr
    );
    assert!(fs::read(env.path(ZIP)).unwrap() == original);
    assert_eq!(files_in(&env, "artifacts/release"), ["mm-bot-v1.4.0.zip", "mm-bot-v1.4.0.zip.sha256"]);

    // --force replaces both.
    let run = bundle(&env, &["--force", "--format", "json"]);
    run.expect_code(0);
    assert_eq!(run.json()["outcome"], "replaced");
    let replaced = fs::read(env.path(ZIP)).unwrap();
    assert!(replaced != original);
    assert_eq!(env.read(SIDECAR), format!("{}  mm-bot-v1.4.0.zip\n", sha256_hex(&replaced)));
}

/// A rebuild at another time differs only in its build time: the refusal says so and gives the
/// SOURCE_DATE_EPOCH that reproduces the release, which then rebuilds it byte for byte.
#[test]
fn a_rebuild_at_another_time_names_source_date_epoch() {
    let env = repo();
    bundle(&env, &[]).expect_code(0);
    let original = fs::read(env.path(ZIP)).unwrap();
    let run = env.run_with_env(["bundle"], &[("CI_FAKE_UTC", "2025-10-12T08:00:00Z")]);
    run.expect_code(1);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        format!(
            "mmops: error: {ZIP} already exists with different content (sha256 {}, this build {}): the two \
             differ only in build time (2025-10-11T12:00:00Z in the release, 2025-10-12T08:00:00Z in this \
             build); rebuild with SOURCE_DATE_EPOCH=1760184000 to get its bytes; releases are immutable: \
             bump the version, or pass --force to replace it\n",
            sha256_hex(&original),
            run.stderr.split("this build ").nth(1).unwrap().split(')').next().unwrap()
        )
    );
    let run = env.run_with_env(["bundle", "--format", "json"], &[("SOURCE_DATE_EPOCH", "1760184000")]);
    run.expect_code(0);
    assert_eq!(run.json()["outcome"], "unchanged");
    assert!(fs::read(env.path(ZIP)).unwrap() == original);
}

/// A final name that is a FIFO, a folder or a symlink (dangling or not) is refused with a true
/// message before anything is written; the FIFO used to hang the run and leave a temp file, the
/// dangling symlink gave "created by another run". The same holds for the sidecar's name.
#[test]
fn final_names_that_are_not_regular_files_are_refused() {
    let cases: [(&str, &str, &str); 5] = [
        (ZIP, "fifo", "a FIFO"),
        (ZIP, "dir", "a folder"),
        (ZIP, "dangling", "a symbolic link pointing nowhere"),
        (ZIP, "link", "a symbolic link"),
        (SIDECAR, "dir", "a folder"),
    ];
    for (name, kind, word) in cases {
        let env = repo();
        env.mkdir("artifacts/release");
        let path = env.path(name);
        match kind {
            "fifo" => assert!(Command::new("mkfifo").arg(&path).status().unwrap().success()),
            "dir" => fs::create_dir(&path).unwrap(),
            "dangling" => std::os::unix::fs::symlink("nowhere.zip", &path).unwrap(),
            _ => std::os::unix::fs::symlink("../../README.md", &path).unwrap(),
        }
        let mut command = env.command();
        command.arg("bundle").env("CI_FAKE_UTC", FAKE_NOW);
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                child.kill().unwrap();
                panic!("{name} as {kind}: bundle hung");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{name} as {kind}");
        assert_eq!(String::from_utf8_lossy(&output.stdout), "");
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            format!("mmops: error: {name} is {word}, not a regular file; remove it or choose another path\n"),
            "{name} as {kind}"
        );
        let other = if name == ZIP { "mm-bot-v1.4.0.zip.sha256" } else { "mm-bot-v1.4.0.zip" };
        let left: Vec<String> = files_in(&env, "artifacts/release");
        assert_eq!(left, [path.file_name().unwrap().to_string_lossy().into_owned()], "{name} as {kind}");
        assert!(!left.iter().any(|file| file == other));
        assert!(fs::read_to_string(env.path("README.md")).unwrap() == "# mm-bot\n");
    }
}

#[test]
fn dry_run_prints_the_manifest_and_summary_and_writes_nothing() {
    let env = repo();
    let run = bundle(&env, &["--dry-run"]);
    run.expect_code(0);
    assert_eq!(run.last_line(), MARKER);
    assert!(!env.exists("artifacts/release"));
    let json = bundle(&env, &["--dry-run", "--format", "json"]);
    json.expect_code(0);
    let document = json.json();
    assert_eq!(document["outcome"], "dry_run");
    assert_eq!(document["sha256"], Value::Null);
    assert!(!env.exists("artifacts/release"));

    // The dry run's manifest and summary are exactly what a real run puts in the zip.
    bundle(&env, &[]).expect_code(0);
    let manifest_text = String::from_utf8(read_entry(&env.path(ZIP), "MANIFEST.json")).unwrap();
    let summary_text = String::from_utf8(read_entry(&env.path(ZIP), "RELEASE_SUMMARY.md")).unwrap();
    assert!(run.stdout.starts_with(&format!("{manifest_text}\n{summary_text}\n")), "{}", run.stdout);
    assert_eq!(document["summary"], summary_text.as_str());
    let manifest: Value = serde_json::from_str(&manifest_text).unwrap();
    assert_eq!(document["files"], manifest["files"]);
}

#[test]
fn no_reports_level_and_precompressed_inputs() {
    let env = repo();
    let run = bundle(&env, &["--no-reports"]);
    run.expect_code(0);
    let names = entry_names(&env.path(ZIP));
    assert_eq!(names.len(), 8);
    assert!(!names.iter().any(|name| name.starts_with("reports/")));

    let env = repo();
    env.write("artifacts/reports/logs.tar.gz", [0x1f, 0x8b, 8, 0, 1, 2, 3]);
    env.write("bundle.yaml", "files:\n  - path: VERSION\nreports:\n  - glob: '*'\n");
    bundle(&env, &["--config", "bundle.yaml"]).expect_code(0);
    let mut archive = open_zip(&env.path(ZIP));
    assert_eq!(archive.by_name("reports/logs.tar.gz").unwrap().compression(), zip::CompressionMethod::Stored);
    assert_eq!(
        archive.by_name("reports/readiness.json").unwrap().compression(),
        zip::CompressionMethod::Deflated
    );
    drop(archive);

    let env = repo();
    bundle(&env, &["--level", "0"]).expect_code(0);
    let mut archive = open_zip(&env.path(ZIP));
    for index in 0..archive.len() {
        assert_eq!(archive.by_index(index).unwrap().compression(), zip::CompressionMethod::Stored);
    }
    let run = bundle(&env, &["--level", "10"]);
    run.expect_code(2);
}

#[test]
fn multi_chunk_inputs_round_trip() {
    // Larger than several 1 MiB chunks, so the parallel chunked stream and CRC combination run.
    let env = repo();
    let mut data = Vec::new();
    let mut n: u64 = 1;
    while data.len() < 3_500_000 {
        n = n.wrapping_mul(6364136223846793005).wrapping_add(1);
        data.extend_from_slice(format!("{},{}\n", n >> 33, n % 1000).as_bytes());
    }
    env.write("artifacts/reports/soak_metrics.json", &data);
    env.write("CHANGELOG.md", ""); // an empty entry is still one deflate stream
    bundle(&env, &[]).expect_code(0);
    assert!(read_entry(&env.path(ZIP), "reports/soak_metrics.json") == data);
    assert_eq!(read_entry(&env.path(ZIP), "CHANGELOG.md"), b"");
    env.run(["bundle", "verify", ZIP]).expect_code(0);
}

#[test]
fn a_killed_run_leaves_no_file_under_a_final_name() {
    let env = repo();
    // A 2 GB sparse report keeps the run busy long enough to be killed mid-write.
    let file = fs::File::create(env.path("artifacts/reports/soak_metrics.json")).unwrap();
    file.set_len(2_000_000_000).unwrap();
    drop(file);
    let mut child =
        env.command().args(["bundle"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    // Wait until the temporary zip exists and has data, then SIGKILL.
    let started = std::time::Instant::now();
    loop {
        let temp_size = files_in(&env, "artifacts/release")
            .iter()
            .filter(|name| name.starts_with(".mmops-tmp-"))
            .map(|name| fs::metadata(env.path(format!("artifacts/release/{name}"))).map_or(0, |m| m.len()))
            .sum::<u64>();
        if temp_size > 0 {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be killed");
        assert!(started.elapsed().as_secs() < 60, "no temporary file appeared");
        std::thread::sleep(std::time::Duration::from_millis(2)); // polling, not waiting for time to pass
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let names = files_in(&env, "artifacts/release");
    assert!(!names.iter().any(|name| name.starts_with("mm-bot")), "{names:?}");
    let leftovers: Vec<String> =
        names.iter().filter(|name| name.starts_with(".mmops-tmp-")).cloned().collect();
    assert_eq!(leftovers.len(), 2, "the zip's and the sidecar's temporary files: {names:?}");
    // The next run removes the dead run's leftovers, says so once per file, and still works.
    fs::write(env.path("artifacts/reports/soak_metrics.json"), "[]\n").unwrap();
    let run = bundle(&env, &[]);
    run.expect_code(0);
    let pid = child.id();
    let expected: String = leftovers
        .iter()
        .map(|name| {
            format!(
                "mmops: warning: removed artifacts/release/{name}, a temporary file of mmops process {pid}, \
                 which was killed before it finished\n"
            )
        })
        .collect();
    assert_eq!(run.stderr, expected);
    assert_eq!(files_in(&env, "artifacts/release"), ["mm-bot-v1.4.0.zip", "mm-bot-v1.4.0.zip.sha256"]);
}

// ---- verify ----

fn verify(env: &TestEnv, args: &[&str]) -> Run {
    let mut all = vec!["bundle", "verify", ZIP];
    all.extend_from_slice(args);
    env.run(all)
}

/// Rewrites the bundle through the zip crate: `change` may rename, alter or drop each entry;
/// `extra` entries are appended. The sidecar is rewritten to match, so only the intended
/// problem shows.
fn rewrite(
    env: &TestEnv,
    change: impl Fn(&str, Vec<u8>) -> Option<(String, Vec<u8>)>,
    extra: &[(&str, &[u8])],
) {
    let mut archive = open_zip(&env.path(ZIP));
    let mut entries = Vec::new();
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).unwrap();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        entries.push((entry.name().unwrap().into_owned(), bytes));
    }
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default();
    for (name, bytes) in entries {
        if let Some((name, bytes)) = change(&name, bytes) {
            writer.start_file(name, options).unwrap();
            writer.write_all(&bytes).unwrap();
        }
    }
    for (name, bytes) in extra {
        writer.start_file(*name, options).unwrap();
        writer.write_all(bytes).unwrap();
    }
    let bytes = writer.finish().unwrap().into_inner();
    fs::write(env.path(ZIP), &bytes).unwrap();
    fs::write(env.path(SIDECAR), format!("{}  mm-bot-v1.4.0.zip\n", sha256_hex(&bytes))).unwrap();
}

fn problems(run: &Run) -> Vec<String> {
    run.stdout.lines().filter_map(|line| line.strip_prefix("FAIL ")).map(str::to_string).collect()
}

const VERIFY_FAIL: &str = "| bundle_verify | FAIL | BUNDLE_VERIFY=FAIL |";

#[test]
fn verify_passes_a_fresh_bundle() {
    let env = repo();
    bundle(&env, &[]).expect_code(0);
    let run = verify(&env, &[]);
    run.expect_code(0);
    let zip_bytes = fs::read(env.path(ZIP)).unwrap();
    assert_eq!(
        run.stdout,
        format!(
            "checked {ZIP}: 11 entries, {}, sha256 {}\nversion: 1.4.0\nsidecar: ok\n| bundle_verify | OK | BUNDLE_VERIFY=OK |\n",
            format_kib(zip_bytes.len()),
            sha256_hex(&zip_bytes)
        )
    );
    assert_eq!(run.stderr, "");
    let json = verify(&env, &["--format", "json"]);
    json.expect_code(0);
    assert_eq!(json.json()["problems"], serde_json::json!([]));
    assert_eq!(json.json()["sidecar"], "ok");
}

fn format_kib(bytes: usize) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

#[test]
fn verify_catches_a_flipped_byte_in_an_entry() {
    let env = repo();
    bundle(&env, &["--level", "0"]).expect_code(0);
    // Flip one byte of README.md's stored data, then fix the sidecar so only the entry is wrong.
    let mut bytes = fs::read(env.path(ZIP)).unwrap();
    let offset = {
        let mut archive = open_zip(&env.path(ZIP));
        archive.by_name("README.md").unwrap().data_start().unwrap() as usize
    };
    bytes[offset] ^= 0x20;
    fs::write(env.path(ZIP), &bytes).unwrap();
    fs::write(env.path(SIDECAR), format!("{}  mm-bot-v1.4.0.zip\n", sha256_hex(&bytes))).unwrap();
    let run = verify(&env, &[]);
    run.expect_code(1);
    assert_eq!(problems(&run), ["README.md: CRC-32 mismatch: the data is corrupted"]);
    assert_eq!(run.last_line(), VERIFY_FAIL);
}

#[test]
fn verify_catches_removed_added_and_renamed_entries() {
    let env = repo();
    bundle(&env, &[]).expect_code(0);
    rewrite(
        &env,
        |name, bytes| (name != "CHANGELOG.md").then(|| (name.to_string(), bytes)),
        &[("extra.sh", b"rm -rf /\n")],
    );
    let run = verify(&env, &[]);
    run.expect_code(1);
    assert_eq!(
        problems(&run),
        [
            "CHANGELOG.md: listed in MANIFEST.json but not in the zip",
            "extra.sh: in the zip but not listed in MANIFEST.json"
        ]
    );

    let env = repo();
    bundle(&env, &[]).expect_code(0);
    rewrite(&env, |name, bytes| Some((name.to_string(), bytes)), &[("../evil", b"x")]);
    let run = verify(&env, &[]);
    run.expect_code(1);
    assert_eq!(
        problems(&run),
        [
            "../evil: entry name contains \"..\" (extracting it could write outside the target folder)",
            "../evil: in the zip but not listed in MANIFEST.json"
        ]
    );
}

#[test]
fn verify_catches_a_repeated_entry_name() {
    let env = repo();
    bundle(&env, &[]).expect_code(0);
    rewrite(&env, |name, bytes| Some((name.to_string(), bytes)), &[("dup-1", b"one"), ("dup-2", b"two")]);
    // Rename the second extra entry onto the first, in its local and central headers.
    let bytes = fs::read(env.path(ZIP)).unwrap();
    let patched: Vec<u8> = {
        let text = bytes.iter().map(|&b| b as char).collect::<String>().replace("dup-2", "dup-1");
        text.chars().map(|c| c as u8).collect()
    };
    fs::write(env.path(ZIP), &patched).unwrap();
    fs::write(env.path(SIDECAR), format!("{}  mm-bot-v1.4.0.zip\n", sha256_hex(&patched))).unwrap();
    let run = verify(&env, &[]);
    run.expect_code(1);
    let found = problems(&run);
    // Repeated raw names make the entries ambiguous: reported, and nothing is inflated.
    assert_eq!(
        found,
        [
            "dup-1: entry name appears 2 times; an extractor could write either copy",
            "nothing was inflated: the archive's structure is unsafe"
        ]
    );
}

#[test]
fn verify_catches_a_tampered_manifest_and_a_missing_one() {
    let env = repo();
    bundle(&env, &[]).expect_code(0);
    let real_hash = sha256_hex(REPO_FILES[1].1.as_bytes());
    let fake_hash = "0".repeat(64);
    rewrite(
        &env,
        |name, bytes| {
            if name == "MANIFEST.json" {
                let text = String::from_utf8(bytes).unwrap().replace(&real_hash, &fake_hash);
                Some((name.to_string(), text.into_bytes()))
            } else {
                Some((name.to_string(), bytes))
            }
        },
        &[],
    );
    let run = verify(&env, &[]);
    run.expect_code(1);
    assert_eq!(
        problems(&run),
        [format!("README.md: sha256 {real_hash} in the zip, MANIFEST.json says {fake_hash}")]
    );

    let env = repo();
    bundle(&env, &[]).expect_code(0);
    rewrite(&env, |name, bytes| (name != "MANIFEST.json").then(|| (name.to_string(), bytes)), &[]);
    let run = verify(&env, &[]);
    run.expect_code(1);
    assert_eq!(problems(&run), ["MANIFEST.json: missing from the zip"]);

    let env = repo();
    bundle(&env, &[]).expect_code(0);
    rewrite(
        &env,
        |name, bytes| {
            Some((name.to_string(), if name == "MANIFEST.json" { b"{\"files\": 3}".to_vec() } else { bytes }))
        },
        &[],
    );
    let run = verify(&env, &[]);
    run.expect_code(1);
    assert!(
        problems(&run)[0].starts_with("MANIFEST.json: cannot be read as a bundle manifest"),
        "{}",
        run.stdout
    );
}

#[test]
fn verify_checks_the_sidecar() {
    let env = repo();
    bundle(&env, &[]).expect_code(0);
    let zip_hash = sha256_hex(&fs::read(env.path(ZIP)).unwrap());
    let other = "f".repeat(64);
    fs::write(env.path(SIDECAR), format!("{other}  mm-bot-v1.4.0.zip\n")).unwrap();
    let run = verify(&env, &[]);
    run.expect_code(1);
    assert_eq!(problems(&run), [format!("{SIDECAR}: says sha256 {other}, but the zip's is {zip_hash}")]);
    // --no-sidecar skips the check.
    verify(&env, &["--no-sidecar"]).expect_code(0);

    fs::write(env.path(SIDECAR), format!("{zip_hash}  other.zip\n")).unwrap();
    let run = verify(&env, &[]);
    run.expect_code(1);
    assert_eq!(problems(&run), [format!("{SIDECAR}: names \"other.zip\", not \"mm-bot-v1.4.0.zip\"")]);

    fs::remove_file(env.path(SIDECAR)).unwrap();
    let run = verify(&env, &[]);
    run.expect_code(1);
    assert_eq!(problems(&run), [format!("{SIDECAR}: missing (pass --no-sidecar to check without it)")]);
    assert!(run.stdout.contains("sidecar: missing\n"));
    let run = verify(&env, &["--no-sidecar", "--format", "json"]);
    run.expect_code(0);
    assert_eq!(run.json()["sidecar"], "skipped");
}

#[test]
fn verify_catches_a_renamed_release() {
    let env = repo();
    bundle(&env, &[]).expect_code(0);
    let renamed = "artifacts/release/mm-bot-v1.5.0.zip";
    fs::rename(env.path(ZIP), env.path(renamed)).unwrap();
    let run = env.run(["bundle", "verify", "--no-sidecar", renamed]);
    run.expect_code(1);
    assert_eq!(
        problems(&run),
        ["mm-bot-v1.5.0.zip: the file name says version 1.5.0, MANIFEST.json says 1.4.0"]
    );
}

#[test]
fn verify_of_a_non_zip_or_missing_file_is_exit_2() {
    let env = repo();
    env.write(ZIP, "not a zip at all");
    let run = verify(&env, &[]);
    run.expect_code(2);
    assert!(
        run.stderr.starts_with(&format!("mmops: error: {ZIP} is not a readable zip archive")),
        "{}",
        run.stderr
    );
    let run = env.run(["bundle", "verify", "nope.zip"]);
    run.expect_code(2);
    assert!(run.stderr.contains("cannot open nope.zip"), "{}", run.stderr);
    // A folder or a FIFO given as the zip: a plain message, no "os error 22", no hang.
    env.mkdir("folder.zip");
    let run = env.run(["bundle", "verify", "folder.zip"]);
    run.expect_code(2);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "mmops: error: folder.zip is a folder, not a zip file; give the path of the release's .zip\n"
    );
    assert!(Command::new("mkfifo").arg(env.path("fifo.zip")).status().unwrap().success());
    let run = env.run(["bundle", "verify", "fifo.zip"]);
    run.expect_code(2);
    assert_eq!(run.stderr, "mmops: error: fifo.zip is a FIFO, not a zip file\n");
    // Create flags do not mix with verify.
    let run = env.run(["bundle", "--force", "verify", ZIP]);
    run.expect_code(2);
}

#[test]
fn verify_never_extracts() {
    let env = repo();
    bundle(&env, &[]).expect_code(0);
    fs::remove_dir_all(env.path("deploy")).unwrap();
    fs::remove_file(env.path("README.md")).unwrap();
    let before = files_in(&env, ".");
    verify(&env, &[]).expect_code(0);
    assert_eq!(files_in(&env, "."), before);
    assert!(!env.exists("deploy"));
}

/// The hostile zips kept for fuzzing (absolute and `..` names, duplicates, bad CRC, truncated
/// central directory, huge declared sizes, a zip bomb, not a zip) never pass verification.
#[test]
fn crafted_zips_never_verify() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/bundle_verify");
    let env = TestEnv::new();
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let run = env.run(["bundle", "verify", "--no-sidecar", path.to_str().unwrap()]);
        match run.code {
            1 => assert_eq!(
                run.last_line(),
                "| bundle_verify | FAIL | BUNDLE_VERIFY=FAIL |",
                "{}",
                path.display()
            ),
            2 => assert!(run.stderr.starts_with("mmops: error: "), "{}: {}", path.display(), run.stderr),
            other => panic!("{} verified with exit {other}:\n{}", path.display(), run.stdout),
        }
        checked += 1;
    }
    assert!(checked >= 9, "only {checked} crafted zips found");
}

/// The crafted zips of `fuzz/make_verify_regressions.py`: each is consistent but for one
/// defect, which verify names exactly (each passed verify, or hung it, before). `unzip -t`
/// accepts most of them, so verify is the stricter check.
#[test]
fn crafted_zips_are_failed_for_exactly_their_defect() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/bundle_verify");
    let unsafe_structure = "nothing was inflated: the archive's structure is unsafe";
    let cases: [(&str, &[&str]); 9] = [
        (
            "invalid_utf8_names.zip",
            &[
                "a\\xff: entry name is not valid UTF-8 (readers would each decode it differently)",
                "a\\xfe: entry name is not valid UTF-8 (readers would each decode it differently)",
                "a\u{fffd}: listed in MANIFEST.json but not in the zip",
                "a\u{fffd}: listed twice in MANIFEST.json",
                "a\\xff: in the zip but not listed in MANIFEST.json",
                "a\\xfe: in the zip but not listed in MANIFEST.json",
            ],
        ),
        (
            "invalid_utf8_names_flagged.zip",
            &[
                "a\\xff: entry name is not valid UTF-8 (readers would each decode it differently)",
                "a\u{fffd}: listed in MANIFEST.json but not in the zip",
                "a\\xff: in the zip but not listed in MANIFEST.json",
            ],
        ),
        (
            "non_ascii_without_utf8_flag.zip",
            &[
                "café.txt: entry name is not ASCII and lacks the UTF-8 flag (readers would decode it as CP437)",
            ],
        ),
        ("symlink_entry.zip", &["link: is a symbolic link; releases hold only regular files and folders"]),
        (
            "setuid_entry.zip",
            &["run.sh: is a file with the setuid bit set (mode 4755); releases use ordinary permissions"],
        ),
        ("device_entry.zip", &["null: is a device; releases hold only regular files and folders"]),
        (
            "data_descriptor_flag_without_descriptor.zip",
            &["VERSION: has the data-descriptor flag but no matching data descriptor after its data"],
        ),
        (
            "prepended_bytes.zip",
            &[
                "the central directory is at byte 349, but the end record says 332: bytes were added before \
                 or inside the archive",
                unsafe_structure,
            ],
        ),
        (
            "overlapping_entries.zip",
            &[
                "bomb001: overlaps bomb000 (bytes 0..65266); entries sharing bytes are how zip bombs work",
                "199 entries in all overlap another one",
            ],
        ),
    ];
    let env = TestEnv::new();
    for (name, expected) in cases {
        let path = dir.join(name);
        let started = std::time::Instant::now();
        let run = env.run(["bundle", "verify", "--no-sidecar", "--format", "json", path.to_str().unwrap()]);
        assert!(started.elapsed().as_secs() < 20, "{name}: took {:?}", started.elapsed());
        run.expect_code(1);
        assert_eq!(run.stderr, "", "{name}");
        let problems: Vec<String> = run.json()["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|problem| problem.as_str().unwrap().to_string())
            .collect();
        if name == "overlapping_entries.zip" {
            // 200 entries, one stream: the overlap comes first, the listing is capped.
            assert_eq!(&problems[..2], expected, "{name}");
            assert_eq!(problems.len(), 22, "{name}: {problems:?}");
            assert_eq!(problems[20], "... and 182 more problems with the archive's structure");
            assert_eq!(problems[21], unsafe_structure);
        } else {
            assert_eq!(problems, expected, "{name}");
        }
    }
}
