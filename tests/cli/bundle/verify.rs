//! `mmops bundle verify`: fresh bundles pass; tampered, renamed and crafted zips fail with the
//! problem named; nothing is extracted.

use super::*;

/// `mmops bundle verify ZIP ARGS`; the caller states exit code, stdout and stderr.
fn verify<'a>(env: &'a TestEnv, args: &[&str]) -> Check<'a> {
    let mut all = vec!["bundle", "verify", ZIP];
    all.extend_from_slice(args);
    env.check(all)
}

/// `verify` of a zip with a defect in text mode: exit 1, the FAIL marker, nothing on stderr.
fn verify_fails(env: &TestEnv, args: &[&str]) -> Run {
    verify(env, args).code(1).stdout_contains(&format!("\n{VERIFY_FAIL}\n")).stderr_empty().run()
}

/// A fresh release at [`FAKE_NOW`].
fn released(args: &[&str]) -> TestEnv {
    let env = repo();
    bundle(&env, args).code(0).stdout_contains(MARKER).stderr_empty().run();
    env
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
    // The provenance names the old bytes; without it only the intended problem shows.
    let _ = fs::remove_file(env.path(PROVENANCE));
    fs::write(env.path(SIDECAR), format!("{}  mm-bot-v1.4.0.zip\n", sha256_hex(&bytes))).unwrap();
}

fn problems(run: &Run) -> Vec<String> {
    run.stdout.lines().filter_map(|line| line.strip_prefix("FAIL ")).map(str::to_string).collect()
}

#[test]
fn verify_passes_a_fresh_bundle() {
    let env = released(&[]);
    let zip_bytes = fs::read(env.path(ZIP)).unwrap();
    verify(&env, &[])
        .code(0)
        .stdout_is(&format!(
            "checked {ZIP}: 11 entries, {}, sha256 {}\nversion: 1.4.0\nsidecar: ok\n\
             signature: not checked (no --pubkey or --pubkey-file): authenticity was not checked; the sidecar only \
             shows the bytes were not damaged, not who made them\nprovenance: ok\n| bundle_verify | OK | BUNDLE_VERIFY=OK |\n",
            format_kib(zip_bytes.len()),
            sha256_hex(&zip_bytes)
        ))
        .stderr_empty()
        .run();
    let document: VerifyDoc =
        verify(&env, &["--format", "json"]).code(0).stdout(Expect::Anything).stderr_empty().run().json_as();
    assert_eq!(document.bundle, ZIP);
    assert_eq!(document.sha256, sha256_hex(&zip_bytes));
    assert_eq!(document.size, zip_bytes.len() as u64);
    assert_eq!(document.version.as_deref(), Some("1.4.0"));
    assert_eq!(document.entries, 11);
    assert_eq!(document.problems, Vec::<String>::new());
    assert_eq!(document.sidecar, "ok");
    assert_eq!(document.signature, "not checked");
    assert_eq!(document.provenance, "ok");
    // No key, so no key id or trusted comment; no --rebuild.
    assert_eq!((&document.key_id, &document.trusted_comment, &document.rebuild), (&None, &None, &None));
    assert_eq!(document.tool, "bundle_verify");
    assert_eq!(document.status, Status::Ok);
    assert_eq!(document.marker, "BUNDLE_VERIFY=OK");
}

fn format_kib(bytes: usize) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

#[test]
fn verify_catches_a_flipped_byte_in_an_entry() {
    let env = released(&["--level", "0"]);
    // Flip one byte of README.md's stored data, then fix the sidecar so only the entry is wrong.
    let mut bytes = fs::read(env.path(ZIP)).unwrap();
    let offset = {
        let mut archive = open_zip(&env.path(ZIP));
        archive.by_name("README.md").unwrap().data_start().unwrap() as usize
    };
    bytes[offset] ^= 0x20;
    fs::write(env.path(ZIP), &bytes).unwrap();
    let _ = fs::remove_file(env.path(PROVENANCE));
    fs::write(env.path(SIDECAR), format!("{}  mm-bot-v1.4.0.zip\n", sha256_hex(&bytes))).unwrap();
    let run = verify_fails(&env, &[]);
    assert_eq!(problems(&run), ["README.md: CRC-32 mismatch: the data is corrupted"]);
    assert_eq!(run.last_line(), VERIFY_FAIL);
}

#[test]
fn verify_catches_removed_added_and_renamed_entries() {
    let env = released(&[]);
    rewrite(
        &env,
        |name, bytes| (name != "CHANGELOG.md").then(|| (name.to_string(), bytes)),
        &[("extra.sh", b"rm -rf /\n")],
    );
    let run = verify_fails(&env, &[]);
    assert_eq!(
        problems(&run),
        [
            "CHANGELOG.md: listed in MANIFEST.json but not in the zip",
            "extra.sh: in the zip but not listed in MANIFEST.json"
        ]
    );

    let env = released(&[]);
    rewrite(&env, |name, bytes| Some((name.to_string(), bytes)), &[("../evil", b"x")]);
    let run = verify_fails(&env, &[]);
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
    let env = released(&[]);
    rewrite(&env, |name, bytes| Some((name.to_string(), bytes)), &[("dup-1", b"one"), ("dup-2", b"two")]);
    // Rename the second extra entry onto the first, in its local and central headers.
    let bytes = fs::read(env.path(ZIP)).unwrap();
    let patched: Vec<u8> = {
        let text = bytes.iter().map(|&b| b as char).collect::<String>().replace("dup-2", "dup-1");
        text.chars().map(|c| c as u8).collect()
    };
    fs::write(env.path(ZIP), &patched).unwrap();
    fs::write(env.path(SIDECAR), format!("{}  mm-bot-v1.4.0.zip\n", sha256_hex(&patched))).unwrap();
    let run = verify_fails(&env, &[]);
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

/// Entries with distinct bytes that an extractor writes to one file (`./VERSION` after
/// `VERSION`: the last one wins), listed in the manifest with their own hashes, used to pass:
/// every check compared names byte for byte.
#[test]
fn verify_catches_names_extracted_to_the_same_file() {
    let cases: [(&str, &[&str]); 6] = [
        (
            "./VERSION",
            &[
                "./VERSION: entry name has an empty or \".\" part (extractors write it under a shorter name)",
                "VERSION: is extracted to the same file as ./VERSION (names that differ only in case or in `.`, \
                 `/` or `\\` parts; whichever is written last wins)",
            ],
        ),
        (
            "deploy//policies/rollback.yaml",
            &[
                "deploy//policies/rollback.yaml: entry name has an empty or \".\" part (extractors write it under \
                 a shorter name)",
                "deploy/policies/rollback.yaml: is extracted to the same file as deploy//policies/rollback.yaml \
                 (names that differ only in case or in `.`, `/` or `\\` parts; whichever is written last wins)",
            ],
        ),
        (
            "readme.md",
            &[
                "readme.md: is extracted to the same file as README.md (names that differ only in case or in `.`, \
               `/` or `\\` parts; whichever is written last wins)",
            ],
        ),
        (
            "manifest.json",
            &[
                "manifest.json: is extracted to the same file as MANIFEST.json (names that differ only in case or \
               in `.`, `/` or `\\` parts; whichever is written last wins)",
            ],
        ),
        (
            "deploy\\policies\\rollback.yaml",
            &[
                "deploy\\\\policies\\\\rollback.yaml: entry name contains a backslash (Windows extractors treat it \
                 as a folder separator)",
                "deploy\\\\policies\\\\rollback.yaml: is extracted to the same file as deploy/policies/rollback.yaml \
                 (names that differ only in case or in `.`, `/` or `\\` parts; whichever is written last wins)",
            ],
        ),
        (
            "VERSION/evil",
            &["VERSION/evil: needs a folder named like the file VERSION; extracting one of them fails"],
        ),
    ];
    for (name, expected) in cases {
        let env = released(&[]);
        let evil = b"6.6.6\n";
        rewrite(
            &env,
            |entry, bytes| {
                if entry != "MANIFEST.json" {
                    return Some((entry.to_string(), bytes));
                }
                // Listed with its own hash and size, so only the clash is wrong.
                let mut manifest: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                manifest["files"].as_array_mut().unwrap().push(serde_json::json!({
                    "path": name, "sha256": sha256_hex(evil), "size": evil.len(), "description": "x"
                }));
                Some((entry.to_string(), serde_json::to_vec(&manifest).unwrap()))
            },
            &[(name, evil)],
        );
        let run = verify_fails(&env, &[]);
        assert_eq!(problems(&run), expected, "{name}");
    }
}

#[test]
fn verify_catches_a_tampered_manifest_and_a_missing_one() {
    let env = released(&[]);
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
    let run = verify_fails(&env, &[]);
    assert_eq!(
        problems(&run),
        [format!("README.md: sha256 {real_hash} in the zip, MANIFEST.json says {fake_hash}")]
    );

    let env = released(&[]);
    rewrite(&env, |name, bytes| (name != "MANIFEST.json").then(|| (name.to_string(), bytes)), &[]);
    let run = verify_fails(&env, &[]);
    assert_eq!(problems(&run), ["MANIFEST.json: missing from the zip"]);

    let env = released(&[]);
    rewrite(
        &env,
        |name, bytes| {
            Some((name.to_string(), if name == "MANIFEST.json" { b"{\"files\": 3}".to_vec() } else { bytes }))
        },
        &[],
    );
    let run = verify_fails(&env, &[]);
    assert!(
        problems(&run)[0].starts_with("MANIFEST.json: cannot be read as a bundle manifest"),
        "{}",
        run.stdout
    );

    // A zip of nothing but a manifest listing nothing, with a matching sidecar, passed: an
    // empty release is not a release.
    let env = released(&[]);
    rewrite(
        &env,
        |name, _| {
            (name == "MANIFEST.json")
                .then(|| (name.to_string(), b"{\"version\": \"1.4.0\", \"files\": []}".to_vec()))
        },
        &[],
    );
    let run = verify_fails(&env, &[]);
    assert_eq!(
        problems(&run),
        ["MANIFEST.json: lists no files: nothing was checked, and a release always holds RELEASE_SUMMARY.md"]
    );
}

#[test]
fn verify_checks_the_sidecar() {
    let env = released(&[]);
    let zip_hash = sha256_hex(&fs::read(env.path(ZIP)).unwrap());
    let other = "f".repeat(64);
    fs::write(env.path(SIDECAR), format!("{other}  mm-bot-v1.4.0.zip\n")).unwrap();
    let run = verify_fails(&env, &[]);
    assert_eq!(problems(&run), [format!("{SIDECAR}: says sha256 {other}, but the zip's is {zip_hash}")]);
    // --no-sidecar skips the check.
    verify(&env, &["--no-sidecar"])
        .code(0)
        .stdout_contains("\nsidecar: skipped\n")
        .stdout_contains(&format!("\n{VERIFY_OK}\n"))
        .stderr_empty()
        .run();

    fs::write(env.path(SIDECAR), format!("{zip_hash}  other.zip\n")).unwrap();
    let run = verify_fails(&env, &[]);
    assert_eq!(problems(&run), [format!("{SIDECAR}: names \"other.zip\", not \"mm-bot-v1.4.0.zip\"")]);

    fs::remove_file(env.path(SIDECAR)).unwrap();
    let run = verify_fails(&env, &[]);
    assert_eq!(problems(&run), [format!("{SIDECAR}: missing (pass --no-sidecar to check without it)")]);
    assert!(run.stdout.contains("sidecar: missing\n"));
    let document: VerifyDoc = verify(&env, &["--no-sidecar", "--format", "json"])
        .code(0)
        .stdout(Expect::Anything)
        .stderr_empty()
        .run()
        .json_as();
    assert_eq!(document.sidecar, "skipped");
    assert_eq!(document.problems, Vec::<String>::new());
}

/// A sidecar or provenance that is there but is no file (a FIFO, a folder, a dangling link)
/// was exit 2, "could not run", which leaves the `--prom-file` of the last run in place — a
/// success, for a release whose sidecar is now broken. It is a failed check, like a missing one.
#[test]
fn a_sidecar_or_provenance_that_is_no_file_fails_the_check() {
    let env = released(&[]);
    fs::remove_file(env.path(SIDECAR)).unwrap();
    assert!(Command::new("mkfifo").arg(env.path(SIDECAR)).status().unwrap().success());
    let run = verify(&env, &["--prom-file", "verify.prom"])
        .code(1)
        .stdout_contains("\nsidecar: malformed\n")
        .stdout_contains(&format!("\n{VERIFY_FAIL}\n"))
        .stderr_empty()
        .run();
    assert_eq!(problems(&run), [format!("{SIDECAR}: the sidecar is a FIFO, not a regular file")]);
    assert!(
        env.read("verify.prom").contains("\nmmops_bundle_verify_success{bundle=\"mm-bot-v1.4.0.zip\"} 0\n"),
        "{}",
        env.read("verify.prom")
    );

    fs::remove_file(env.path(SIDECAR)).unwrap();
    std::os::unix::fs::symlink("nowhere", env.path(SIDECAR)).unwrap();
    let run = verify_fails(&env, &[]);
    assert_eq!(problems(&run), [format!("{SIDECAR}: is a symbolic link pointing nowhere")]);

    let env = released(&[]);
    fs::remove_file(env.path(PROVENANCE)).unwrap();
    fs::create_dir(env.path(PROVENANCE)).unwrap();
    let run = verify(&env, &[]).code(1).stdout_contains("\nprovenance: mismatch\n").stderr_empty().run();
    assert_eq!(
        problems(&run),
        [format!("{PROVENANCE}: the provenance statement is a folder, not a regular file")]
    );
}

#[test]
fn verify_catches_a_renamed_release() {
    let env = released(&[]);
    let renamed = "artifacts/release/mm-bot-v1.5.0.zip";
    fs::rename(env.path(ZIP), env.path(renamed)).unwrap();
    let run = env
        .check(["bundle", "verify", "--no-sidecar", renamed])
        .code(1)
        .stdout_contains(&format!("\n{VERIFY_FAIL}\n"))
        .stderr_empty()
        .run();
    assert_eq!(
        problems(&run),
        ["mm-bot-v1.5.0.zip: the file name says version 1.5.0, MANIFEST.json says 1.4.0"]
    );
}

/// A file that is there but is not a zip (truncated, overwritten) is a failed verification,
/// exit 1 with the problem named — it used to be exit 2, which left the textfile's last good
/// result in place. A path that is not a file at all is exit 2 (could not run).
#[test]
fn verify_of_a_non_zip_fails_and_of_a_missing_file_is_exit_2() {
    let env = released(&[]);
    let good = fs::read(env.path(ZIP)).unwrap();
    fs::write(env.path(ZIP), &good[..good.len() / 2]).unwrap();
    let run = verify_fails(&env, &["--no-sidecar"]);
    let found = problems(&run);
    assert_eq!(found[0], format!("{ZIP} is not a readable zip archive (no end-of-central-directory record)"));
    // The provenance written with the bundle names the old bytes, so it no longer matches either.
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[1].starts_with(&format!("{ZIP}.intoto.json: its subject digest is sha256 ")), "{found:?}");
    assert_eq!(run.last_line(), VERIFY_FAIL);
    let document: VerifyDoc =
        verify(&env, &["--format", "json"]).code(1).stdout(Expect::Anything).stderr_empty().run().json_as();
    assert_eq!(document.entries, 0);
    assert_eq!(document.version, None);
    assert_eq!(document.size, good.len() as u64 / 2);
    assert_eq!(document.sha256, sha256_hex(&good[..good.len() / 2]));
    assert_eq!(document.sidecar, "mismatch");
    assert_eq!(document.provenance, "mismatch");
    assert_eq!(document.problems.len(), 3, "{:?}", document.problems);
    assert_eq!((document.status, document.marker.as_str()), (Status::Fail, "BUNDLE_VERIFY=FAIL"));
    // --rebuild of a zip that cannot be read is not attempted, and says so.
    let document: VerifyDoc = verify(&env, &["--format", "json", "--rebuild"])
        .code(1)
        .stdout(Expect::Anything)
        .stderr_empty()
        .run()
        .json_as();
    assert_eq!(document.rebuild.as_deref(), Some("not attempted: the zip is not readable"));
    assert_eq!(document.problems.len(), 3, "{:?}", document.problems);
    env.write(ZIP, "not a zip at all");
    let run = verify_fails(&env, &["--no-sidecar"]);
    let found = problems(&run);
    assert_eq!(found[0], format!("{ZIP} is not a readable zip archive (no end-of-central-directory record)"));
    // The provenance written with the bundle names the old bytes, so it no longer matches either.
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[1].starts_with(&format!("{ZIP}.intoto.json: its subject digest is sha256 ")), "{found:?}");
    env.check(["bundle", "verify", "nope.zip"])
        .code(2)
        .stdout_empty()
        .stderr_contains("mmops: error: cannot open nope.zip")
        .run();
    // A folder or a FIFO given as the zip: a plain message, no "os error 22", no hang.
    env.mkdir("folder.zip");
    env.check(["bundle", "verify", "folder.zip"])
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: folder.zip is a folder, not a zip file; give the path of the release's .zip\n",
        )
        .run();
    assert!(Command::new("mkfifo").arg(env.path("fifo.zip")).status().unwrap().success());
    env.check(["bundle", "verify", "fifo.zip"])
        .code(2)
        .stdout_empty()
        .stderr_is("mmops: error: fifo.zip is a FIFO, not a zip file\n")
        .run();
    // Create flags do not mix with verify.
    env.check(["bundle", "--force", "verify", ZIP])
        .code(2)
        .stdout_empty()
        .stderr_contains("error: the subcommand 'verify' cannot be used with '--force'\n")
        .run();
}

#[test]
fn verify_never_extracts() {
    let env = released(&[]);
    fs::remove_dir_all(env.path("deploy")).unwrap();
    fs::remove_file(env.path("README.md")).unwrap();
    let before = files_in(&env, ".");
    verify(&env, &[]).code(0).stdout_contains(&format!("\n{VERIFY_OK}\n")).stderr_empty().run();
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
        // Every one is a failed verification (exit 1), never a run that could not start: each
        // is a file, and what is wrong with it is a finding, not an error.
        env.check(["bundle", "verify", "--no-sidecar", path.to_str().unwrap()])
            .code(1)
            .stdout_contains(&format!("\n{VERIFY_FAIL}\n"))
            .stdout_contains("\nFAIL ")
            .stderr_empty()
            .run();
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
        let document: VerifyDoc = env
            .check(["bundle", "verify", "--no-sidecar", "--format", "json", path.to_str().unwrap()])
            .code(1)
            .stdout(Expect::Anything)
            .stderr_empty()
            .run()
            .json_as();
        assert!(started.elapsed().as_secs() < 20, "{name}: took {:?}", started.elapsed());
        assert_eq!((document.sidecar.as_str(), document.status), ("skipped", Status::Fail), "{name}");
        let problems = document.problems;
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

/// Audit gap 2: `bundle verify X --prom-file X` replaced the zip being verified with the
/// textfile (a zip whose name ends in `.prom`); the two paths are compared first.
#[test]
fn verify_refuses_a_prom_file_that_is_the_zip_itself() {
    let env = released(&[]);
    fs::copy(env.path(ZIP), env.path("release.prom")).unwrap();
    let before = fs::read(env.path("release.prom")).unwrap();
    env.check(["bundle", "verify", "release.prom", "--no-sidecar", "--prom-file", "./release.prom"])
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: --prom-file ./release.prom is also the ZIP file; give the Prometheus file its own path\n",
        )
        .run();
    assert!(fs::read(env.path("release.prom")).unwrap() == before, "the zip is untouched");
}
