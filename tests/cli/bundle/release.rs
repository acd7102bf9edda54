//! Placing the release: existing releases (unchanged, refused with the reason, replaced), final
//! names that are not regular files, dry runs, large and precompressed inputs, killed runs.

use super::*;

#[test]
fn shipped_list_gives_the_same_bytes_as_the_built_in_one() {
    let env = repo();
    env.write("deploy/release/bundle.yaml", include_str!("../../../deploy/release/bundle.yaml"));
    bundle(&env, &[]).code(0).stdout_contains(MARKER).stderr_empty().run();
    let built_in = fs::read(env.path(ZIP)).unwrap();
    bundle(&env, &["--config", "deploy/release/bundle.yaml", "--out-dir", "other"])
        .code(0)
        .stdout_contains("| bundle | OK | RELEASE_BUNDLE=other/mm-bot-v1.4.0.zip |\n")
        .stderr_empty()
        .run();
    assert!(fs::read(env.path("other/mm-bot-v1.4.0.zip")).unwrap() == built_in);
}

#[test]
fn existing_release_is_unchanged_refused_or_replaced_with_force() {
    let env = repo();
    bundle(&env, &[]).code(0).stdout_contains(MARKER).stderr_empty().run();
    let original = fs::read(env.path(ZIP)).unwrap();

    // Same inputs: unchanged, exit 0; a lost sidecar is restored.
    fs::remove_file(env.path(SIDECAR)).unwrap();
    let document: CreateDoc = bundle(&env, &["--format", "json"])
        .code(0)
        .stdout(Expect::Anything)
        .stderr_is(&format!("mmops: warning: {SIDECAR} was missing or wrong; rewrote it\n"))
        .run()
        .json_as();
    assert_eq!(document.outcome, Outcome::Unchanged);
    assert_eq!(document.sha256.as_deref(), Some(sha256_hex(&original).as_str()));
    assert_eq!(env.read(SIDECAR), format!("{}  mm-bot-v1.4.0.zip\n", sha256_hex(&original)));

    // Different inputs: refused with exit 1, the release untouched, no temp file left.
    env.write("README.md", "# mm-bot, edited\n");
    bundle(&env, &[])
        .code(1)
        .stdout_empty()
        .stderr_contains(&format!("mmops: error: {ZIP} already exists with different content"))
        .stderr_contains("pass --force to replace it\n")
        // The message names the first entry that differs.
        .stderr_contains(&format!(
            "the first entry that differs is README.md: sha256 {} (9 bytes) in the release, {} (17 bytes) in this build",
            sha256_hex(b"# mm-bot\n"),
            sha256_hex(b"# mm-bot, edited\n")
        ))
        .run();
    assert!(fs::read(env.path(ZIP)).unwrap() == original);
    assert_eq!(files_in(&env, "artifacts/release"), RELEASE_FILES);

    // --force replaces both.
    let document: CreateDoc = bundle(&env, &["--force", "--format", "json"])
        .code(0)
        .stdout(Expect::Anything)
        .stderr_empty()
        .run()
        .json_as();
    assert_eq!(document.outcome, Outcome::Replaced);
    let replaced = fs::read(env.path(ZIP)).unwrap();
    assert_eq!(document.sha256.as_deref(), Some(sha256_hex(&replaced).as_str()));
    assert!(replaced != original);
    assert_eq!(env.read(SIDECAR), format!("{}  mm-bot-v1.4.0.zip\n", sha256_hex(&replaced)));
}

/// A rebuild at another time differs only in its build time: the refusal says so and gives the
/// SOURCE_DATE_EPOCH that reproduces the release, which then rebuilds it byte for byte.
#[test]
fn a_rebuild_at_another_time_names_source_date_epoch() {
    let env = repo();
    bundle(&env, &[]).code(0).stdout_contains(MARKER).stderr_empty().run();
    let original = fs::read(env.path(ZIP)).unwrap();
    // The exact text is compared below: it quotes this build's hash, known only from the run.
    let run = env
        .check(["bundle"])
        .env("CI_FAKE_UTC", "2025-10-12T08:00:00Z")
        .code(1)
        .stdout_empty()
        .stderr_contains(&format!("mmops: error: {ZIP} already exists with different content"))
        .run();
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
    let document = bundle_json_at(&env, "1760184000", "");
    assert_eq!(document.outcome, Outcome::Unchanged);
    assert_eq!(document.created_at, "2025-10-11T12:00:00Z");
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
    let run = bundle(&env, &["--dry-run"])
        .code(0)
        .stdout_contains(&format!("dry run: would write {ZIP}, {PROVENANCE} and {SIDECAR}\n"))
        .stderr_empty()
        .run();
    assert_eq!(run.last_line(), MARKER);
    assert!(!env.exists("artifacts/release"));
    // --sign makes no sense without writing: refused by the command line (exit 2).
    bundle(&env, &["--dry-run", "--sign", "key"])
        .code(2)
        .stdout_empty()
        .stderr_contains("error: the argument '--dry-run' cannot be used with")
        .run();
    let document: CreateDoc = bundle(&env, &["--dry-run", "--format", "json"])
        .code(0)
        .stdout(Expect::Anything)
        .stderr_empty()
        .run()
        .json_as();
    assert_eq!(document.outcome, Outcome::DryRun);
    assert_eq!((document.sha256, document.size), (None, None));
    assert!(!env.exists("artifacts/release"));

    // The dry run's manifest and summary are exactly what a real run puts in the zip.
    bundle(&env, &[]).code(0).stdout_contains(MARKER).stderr_empty().run();
    let manifest_text = String::from_utf8(read_entry(&env.path(ZIP), "MANIFEST.json")).unwrap();
    let summary_text = String::from_utf8(read_entry(&env.path(ZIP), "RELEASE_SUMMARY.md")).unwrap();
    assert!(run.stdout.starts_with(&format!("{manifest_text}\n{summary_text}\n")), "{}", run.stdout);
    assert_eq!(document.summary.as_deref(), Some(summary_text.as_str()));
    let manifest: Manifest = serde_json::from_str(&manifest_text).unwrap();
    assert_eq!(document.files, manifest.files);
}

#[test]
fn no_reports_level_and_precompressed_inputs() {
    let env = repo();
    bundle(&env, &["--no-reports"]).code(0).stdout_contains(MARKER).stderr_empty().run();
    let names = entry_names(&env.path(ZIP));
    assert_eq!(names.len(), 8);
    assert!(!names.iter().any(|name| name.starts_with("reports/")));

    let env = repo();
    env.write("artifacts/reports/logs.tar.gz", [0x1f, 0x8b, 8, 0, 1, 2, 3]);
    env.write("bundle.yaml", "files:\n  - path: VERSION\nreports:\n  - glob: '*'\n");
    bundle(&env, &["--config", "bundle.yaml"]).code(0).stdout_contains(MARKER).stderr_empty().run();
    let mut archive = open_zip(&env.path(ZIP));
    assert_eq!(archive.by_name("reports/logs.tar.gz").unwrap().compression(), zip::CompressionMethod::Stored);
    assert_eq!(
        archive.by_name("reports/readiness.json").unwrap().compression(),
        zip::CompressionMethod::Deflated
    );
    drop(archive);

    let env = repo();
    bundle(&env, &["--level", "0"]).code(0).stdout_contains(MARKER).stderr_empty().run();
    let mut archive = open_zip(&env.path(ZIP));
    for index in 0..archive.len() {
        assert_eq!(archive.by_index(index).unwrap().compression(), zip::CompressionMethod::Stored);
    }
    bundle(&env, &["--level", "10"])
        .code(2)
        .stdout_empty()
        .stderr_contains("error: invalid value '10' for '--level <N>': 10 is not in 0..=9\n")
        .run();
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
    bundle(&env, &[]).code(0).stdout_contains(MARKER).stderr_empty().run();
    assert!(read_entry(&env.path(ZIP), "reports/soak_metrics.json") == data);
    assert_eq!(read_entry(&env.path(ZIP), "CHANGELOG.md"), b"");
    env.check(["bundle", "verify", ZIP])
        .code(0)
        .stdout_contains(&format!("\n{VERIFY_OK}\n"))
        .stderr_empty()
        .run();
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
    assert_eq!(
        leftovers.len(),
        3,
        "the zip's, the provenance's and the sidecar's temporary files: {names:?}"
    );
    // The next run removes the dead run's leftovers, says so once per file, and still works.
    fs::write(env.path("artifacts/reports/soak_metrics.json"), "[]\n").unwrap();
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
    bundle(&env, &[]).code(0).stdout_contains(MARKER).stderr_is(&expected).run();
    assert_eq!(files_in(&env, "artifacts/release"), RELEASE_FILES);
}

/// Item 17: the files beside the zip cannot be written (ENOSPC: a tmpfs exactly as large as the
/// zip; the provenance is the first of them) → exit 2 and nothing under a final name; they are
/// written to their temporary files before the zip is placed.
#[test]
fn a_full_disk_while_writing_the_sidecar_leaves_no_zip_and_exits_2() {
    let env = repo();
    bundle(&env, &["--out-dir", "sizing"])
        .code(0)
        .stdout_contains("| bundle | OK | RELEASE_BUNDLE=sizing/mm-bot-v1.4.0.zip |\n")
        .stderr_empty()
        .run();
    let zip_size = fs::metadata(env.path("sizing/mm-bot-v1.4.0.zip")).unwrap().len();
    let pages = zip_size.div_ceil(4096);
    env.mkdir("artifacts/release");
    let script = format!(
        "mount -t tmpfs -o size={}k mmops-full artifacts/release && exec \"$MMOPS\" bundle",
        pages * 4
    );
    let Some(run) = crate::support::run_in_mount_namespace(&env, &script, FAKE_NOW) else { return };
    run.expect_code(2);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "mmops: error: cannot write artifacts/release/mm-bot-v1.4.0.zip.intoto.json: No space left on device (os error 28)\n"
    );
    // The namespace's tmpfs is gone; the folder below it holds nothing either.
    assert_eq!(files_in(&env, "artifacts/release"), Vec::<String>::new());
}

/// Audit gap 1: `--prom-file` failing after the zip and sidecar were placed ended exit 2 ("nothing
/// changed") because PARTIAL was attached as context; it is PARTIAL, exit 1, the release kept.
#[test]
fn a_prom_file_failing_after_the_release_is_placed_is_partial_exit_1() {
    let env = repo();
    env.mkdir("textfiles");
    // Fill a one-page tmpfs: the textfile's temporary file is made, its first write fails.
    let script = "mount -t tmpfs -o size=4k mmops-full textfiles && \
                  (head -c 4096 /dev/zero > textfiles/filler; true) && \
                  exec \"$MMOPS\" bundle --prom-file textfiles/mmops_bundle.prom";
    let Some(run) = crate::support::run_in_mount_namespace(&env, script, FAKE_NOW) else { return };
    run.expect_code(1);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "mmops: error: artifacts/release/mm-bot-v1.4.0.zip is in place, but the Prometheus file was not \
         updated: cannot write the Prometheus file textfiles/mmops_bundle.prom (--prom-file): No space \
         left on device (os error 28)\n"
    );
    assert_eq!(
        files_in(&env, "artifacts/release"),
        ["mm-bot-v1.4.0.zip", "mm-bot-v1.4.0.zip.intoto.json", "mm-bot-v1.4.0.zip.sha256"]
    );
    // The release placed is complete: verify accepts it.
    bundle(&env, &["verify", ZIP]).code(0).stdout_contains(&format!("\n{VERIFY_OK}\n")).stderr_empty().run();
}

/// Audit gap 6: SIGTERM during a build ended bundle by the default action (exit 143, no word);
/// it is the one interrupt path now: exit 130, an `interrupted` error, no final name, no
/// temporary file, and the folder the run made is gone.
#[test]
fn sigterm_during_a_build_is_interrupted_exit_130_with_nothing_left() {
    let env = repo();
    let file = fs::File::create(env.path("artifacts/reports/soak_metrics.json")).unwrap();
    file.set_len(2_000_000_000).unwrap();
    drop(file);
    let child = env
        .command()
        .args(["bundle"])
        .env("CI_FAKE_UTC", FAKE_NOW)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let mut child = child;
    while !files_in(&env, "artifacts/release").iter().any(|name| {
        name.starts_with(".mmops-tmp-")
            && fs::metadata(env.path(format!("artifacts/release/{name}"))).is_ok_and(|m| m.len() > 0)
    }) {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before the signal");
        assert!(started.elapsed().as_secs() < 60, "no temporary file appeared");
        std::thread::sleep(std::time::Duration::from_millis(2)); // polling for the build to start
    }
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "mmops: error: interrupted while building the bundle; nothing was written\n"
    );
    assert!(!env.exists("artifacts/release"), "{:?}", files_in(&env, "artifacts/release"));
}
