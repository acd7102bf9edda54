//! What a bundle holds: the list in order, the manifest, the summary, JSON output, acceptance
//! by real tools, and byte-identical output across machines and runs.

use super::*;

#[test]
fn bundle_holds_the_list_in_order_with_a_manifest_of_independent_hashes() {
    let env = repo();
    let run = bundle(&env, &[]).code(0).stdout_contains(&format!("\n{MARKER}\n")).stderr_empty().run();
    assert_eq!(run.last_line(), MARKER);
    assert_eq!(entry_names(&env.path(ZIP)), EXPECTED_ORDER);

    let manifest = manifest_of(&env.path(ZIP));
    assert_eq!(manifest.version, "1.4.0");
    assert_eq!(manifest.created_at, FAKE_NOW);
    assert_eq!(manifest.generator.tool, "mmops");
    assert_eq!(manifest.generator.tool_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(manifest.generator.level, 6);
    assert!(manifest.generator.compressor.starts_with("zlib-rs 0.6.8 raw deflate"));
    let files = &manifest.files;
    let listed: Vec<&str> = files.iter().map(|file| file.path.as_str()).collect();
    assert_eq!(listed, EXPECTED_ORDER[..10]);
    let sources: Vec<&str> = REPO_FILES.iter().chain(REPORTS.iter()).map(|(path, _)| *path).collect();
    for (file, source) in files.iter().zip(&sources) {
        let bytes = fs::read(env.path(source)).unwrap();
        assert_eq!(file.sha256, sha256_hex(&bytes), "{source}");
        assert_eq!(file.size, bytes.len() as u64, "{source}");
    }
    let summary = read_entry(&env.path(ZIP), "RELEASE_SUMMARY.md");
    assert_eq!(files[9].sha256, sha256_hex(&summary));
    let descriptions: Vec<&str> = files.iter().map(|file| file.description.as_str()).collect();
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
    // Nothing but the release, its provenance and its sidecar is left in the folder.
    assert_eq!(files_in(&env, "artifacts/release"), RELEASE_FILES);
}

#[test]
fn summary_has_readiness_and_soak_medians() {
    let env = repo();
    bundle(&env, &[]).code(0).stdout_contains(MARKER).stderr_empty().run();
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
    let document: CreateDoc =
        bundle(&env, &["--format", "json"]).code(0).stdout(Expect::Anything).stderr_empty().run().json_as();
    let zip_bytes = fs::read(env.path(ZIP)).unwrap();
    assert_eq!(document.bundle, ZIP);
    assert_eq!(document.sidecar, SIDECAR);
    assert_eq!(document.provenance, PROVENANCE);
    assert_eq!(document.sha256.as_deref(), Some(sha256_hex(&zip_bytes).as_str()));
    assert_eq!(document.size, Some(zip_bytes.len() as u64));
    assert_eq!(document.outcome, Outcome::Created);
    assert_eq!(document.tool, "bundle");
    assert_eq!(document.status, Status::Ok);
    assert_eq!(document.marker, format!("RELEASE_BUNDLE={ZIP}"));
    // Unsigned, not a dry run, not published: those fields are left out.
    assert_eq!(
        (&document.signature, &document.provenance_signature, &document.key_id, &document.summary),
        (&None, &None, &None, &None)
    );
    assert!(document.published.is_empty());
    let manifest = manifest_of(&env.path(ZIP));
    assert_eq!(document.version, manifest.version);
    assert_eq!(document.created_at, manifest.created_at);
    assert_eq!(document.generator, manifest.generator);
    assert_eq!(document.files, manifest.files);
}

#[test]
fn real_sha256sum_unzip_and_python_accept_the_bundle() {
    let env = repo();
    bundle(&env, &[]).code(0).stdout_contains(MARKER).stderr_empty().run();
    let release = env.path("artifacts/release");
    // A missing tool is a skip with the install hint locally, a failure under CI=true.
    if !tool_available("sha256sum", "apt-get install coreutils")
        || !tool_available("unzip", "apt-get install unzip")
    {
        return;
    }
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
    if tool_available("python3", "apt-get install python3") {
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
    for (env, umask, time_zone) in [(&first, "022", "UTC"), (&second, "077", "Asia/Kathmandu")] {
        let run = bundle_with_umask(env, umask, time_zone, &["--config", "bundle.yaml"]);
        assert_eq!((run.code, run.last_line(), run.stderr.as_str()), (0, MARKER, ""), "{}", run.stdout);
    }
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
    // An empty CI_FAKE_UTC counts as unset (the fixture pins it otherwise).
    let document = bundle_json_at(&env, "1700000000", "");
    assert_eq!(document.created_at, "2023-11-14T22:13:20Z");
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
    let document = bundle_json_at(&env, "1700000000", "1970-01-01T00:00:00Z");
    assert_eq!(document.created_at, "1970-01-01T00:00:00Z");
    let mut archive = open_zip(&env.path(ZIP));
    let time = archive.by_index(0).unwrap().last_modified().unwrap();
    assert_eq!((time.year(), time.month(), time.day(), time.hour()), (1980, 1, 1, 0));
}
