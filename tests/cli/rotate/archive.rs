//! `--archive`: the zip holds exactly what is deleted, and a failing archive deletes nothing.

use super::*;

pub(super) fn zip_contents(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(fs::File::open(path).unwrap()).unwrap();
    (0..archive.len())
        .map(|index| {
            let mut entry = archive.by_index(index).unwrap();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            (entry.name().unwrap().to_string(), bytes)
        })
        .collect()
}

#[test]
fn archive_holds_exactly_the_deleted_files_before_they_go() {
    let env = TestEnv::new();
    env.write("artifacts/logs/a.log", "alpha");
    env.set_mtime("artifacts/logs/a.log", days_ago(30.0));
    env.write("artifacts/b.json", "{\"b\":1}");
    env.set_mtime("artifacts/b.json", days_ago(20.0));
    file(&env, "new", 1, 0.1);
    let document =
        rotate_document(&env, &["--days", "7", "--archive", "artifacts/archive", "--format", "json"]);
    assert_eq!(
        document.archive,
        Some(mirror::Archive {
            path: "artifacts/archive/artifacts-20251011T120000Z.zip".into(),
            files: 2,
            bytes: 12
        })
    );
    assert_eq!(document.would_archive, None);
    assert_eq!(
        document.rows(),
        [
            ("logs/a.log".into(), Reason::Ttl, FileResult::Deleted),
            ("b.json".into(), Reason::Ttl, FileResult::Deleted)
        ]
    );
    assert_eq!(
        zip_contents(&env.path("artifacts/archive/artifacts-20251011T120000Z.zip")),
        [("b.json".to_string(), b"{\"b\":1}".to_vec()), ("logs/a.log".to_string(), b"alpha".to_vec())]
    );
    assert!(!env.exists("artifacts/logs/a.log") && !env.exists("artifacts/b.json"));

    // A second run the same second never overwrites the first archive, and the archive folder
    // inside the base dir is not scanned (its zip is not a candidate).
    env.write("artifacts/c", "gamma");
    env.set_mtime("artifacts/c", days_ago(20.0));
    let document =
        rotate_document(&env, &["--days", "7", "--archive", "artifacts/archive", "--format", "json"]);
    assert_eq!(document.scan.skipped, mirror::Skipped { archive_dir: 1, ..mirror::Skipped::default() });
    assert_eq!(document.rows(), [("c".into(), Reason::Ttl, FileResult::Deleted)]);
    assert_eq!(document.archive.unwrap().path, "artifacts/archive/artifacts-20251011T120000Z-2.zip");
    assert_eq!(
        zip_contents(&env.path("artifacts/archive/artifacts-20251011T120000Z-2.zip")),
        [("c".to_string(), b"gamma".to_vec())]
    );
    assert_eq!(zip_contents(&env.path("artifacts/archive/artifacts-20251011T120000Z.zip")).len(), 2);
}

#[test]
fn a_failing_archive_dir_deletes_nothing() {
    if !crate::support::nobody_available() {
        return;
    }
    let env = TestEnv::new();
    file(&env, "old", 1, 30.0);
    file(&env, "new", 1, 0.1);
    env.write("not_a_dir", "x");
    rotate(&env, &["--days", "7", "--archive", "not_a_dir/sub"])
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: cannot stat the archive folder not_a_dir/sub: Not a directory (os error 20)\n",
        )
        .run();
    assert!(env.exists("artifacts/old"));

    // An archive folder the (unprivileged) user cannot write into: found out after planning,
    // while writing the zip; still nothing is deleted.
    for path in ["artifacts", "artifacts/old", "artifacts/new"] {
        env.give_to_nobody(path);
    }
    env.mkdir("archive");
    fs::set_permissions(env.path("archive"), fs::Permissions::from_mode(0o555)).unwrap();
    // As nobody: not through `Check`, so all three streams are asserted here.
    let run = env
        .run_as_nobody_with_env(["rotate", "--days", "7", "--archive", "archive"], &[("CI_FAKE_UTC", NOW)]);
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        "mmops: error: cannot open the lock file archive/.mmops-rotate-archive.lock: Permission denied (os error 13)\n"
    );
    assert_eq!(run.stdout, "");
    assert!(env.exists("artifacts/old"));
    assert_eq!(listing(&env.path("archive")), Vec::<String>::new());
    fs::set_permissions(env.path("archive"), fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn archive_into_the_base_dir_itself_is_refused() {
    let env = TestEnv::new();
    file(&env, "old", 1, 30.0);
    file(&env, "new", 1, 0.1);
    rotate(&env, &["--days", "7", "--archive", "artifacts"])
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: --archive must not be the base dir itself (its zips would become candidates); use a \
             folder such as artifacts/archive or one outside it\n",
        )
        .run();
    assert!(env.exists("artifacts/old"));
}

#[test]
fn non_utf8_names_stop_an_archiving_run_before_anything_is_deleted() {
    let env = TestEnv::new();
    env.mkdir("artifacts");
    let path = env.path("artifacts").join(OsStr::from_bytes(b"x\xff"));
    fs::write(&path, "x").unwrap();
    filetime::set_file_mtime(&path, filetime::FileTime::from_unix_time(days_ago(30.0).timestamp(), 0))
        .unwrap();
    file(&env, "old", 1, 30.0);
    file(&env, "new", 1, 0.1);
    rotate(&env, &["--days", "7", "--archive", "archive"])
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: nothing was deleted: cannot archive x\\xff: the name is not valid UTF-8, which zip cannot \
             store; rename it or protect it with --exclude\n",
        )
        .run();
    assert!(path.exists() && env.exists("artifacts/old"));
    assert_eq!(listing(&env.path("archive")), [".mmops-rotate-archive.lock"]);
    // Exit 2 means nothing changed: no quarantine folder is left in the base dir either (issue 10
    // audit 5: it was made before archiving and stayed).
    assert_eq!(hidden_entries(&env.path("artifacts")), Vec::<String>::new());
}

/// Names starting with "." directly in `dir`, other than the run lock.
pub(super) fn hidden_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.') && name != ".mmops-rotate.lock")
        .collect();
    names.sort();
    names
}

#[test]
fn a_live_runs_temporary_file_in_the_archive_folder_is_left_alone() {
    // The archive folder's cleanup used to delete every .mmops-tmp-*, including the live temp
    // file of a concurrent run (which then failed after its deletions).
    let env = TestEnv::new();
    file(&env, "old", 1, 30.0);
    file(&env, "new", 1, 0.1);
    let live = std::process::id(); // this test process: alive for the whole run
    let dead = super::dead_pid();
    env.write(format!("archive/.mmops-tmp-{live}-concurrent"), "a zip being written");
    env.write(format!("archive/.mmops-tmp-{dead}-killed"), "half a zip");
    rotate(&env, &["--days", "7", "--archive", "archive"])
        .code(0)
        .stdout_contains("archived 1 file (1 B) into archive/artifacts-20251011T120000Z.zip\n")
        .stdout_contains("| rotate | OK | ROTATE=DONE |\n")
        .stderr_is(&format!(
            "mmops: removed archive/.mmops-tmp-{dead}-killed, a temporary file of mmops process {dead}, which was \
             killed before it finished\n"
        ))
        .run();
    assert_eq!(env.read(format!("archive/.mmops-tmp-{live}-concurrent")), "a zip being written");
    assert!(!env.exists(format!("archive/.mmops-tmp-{dead}-killed")));
    assert!(!env.exists("artifacts/old"));
}

#[test]
fn a_base_dir_where_the_quarantine_cannot_be_made_fails_before_the_archive_is_written() {
    // The quarantine folder is made before the archive: a base dir rotate cannot write into
    // fails with exit 2 and nothing changed, not with an archive written and nothing deleted.
    let env = TestEnv::new();
    file(&env, "old", 1, 30.0);
    file(&env, "new", 1, 0.1);
    env.write("artifacts/.mmops-rotate.lock", "");
    env.give_to_nobody("artifacts/.mmops-rotate.lock");
    env.mkdir("archive");
    env.give_to_nobody("archive");
    // As nobody: not through `Check`, so all three streams are asserted here.
    let run = env
        .run_as_nobody_with_env(["rotate", "--days", "7", "--archive", "archive"], &[("CI_FAKE_UTC", NOW)]);
    run.expect_code(2);
    assert!(
        run.stderr
            .starts_with("mmops: error: cannot create the quarantine folder artifacts/.mmops-quarantine-"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.ends_with(": Permission denied (os error 13)\n"), "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert!(env.exists("artifacts/old"));
    assert_eq!(listing(&env.path("archive")), [".mmops-rotate-archive.lock"]);
    assert_eq!(hidden_entries(&env.path("artifacts")), Vec::<String>::new());
}
