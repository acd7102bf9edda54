//! Inputs refused before anything is written: missing files, bad versions, paths leaving the
//! repository, symlinks, FIFOs, control characters in names, bad lists.

use super::*;

#[test]
fn every_missing_required_file_is_listed_and_nothing_is_written() {
    let env = repo();
    fs::remove_file(env.path("README.md")).unwrap();
    fs::remove_file(env.path("deploy/policies/rollback.yaml")).unwrap();
    fs::remove_file(env.path("artifacts/reports/readiness.json")).unwrap(); // optional: not listed
    bundle(&env, &[])
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: 2 required files are missing, nothing was written: README.md, deploy/policies/rollback.yaml; \
             create them or change the list (--config)\n",
        )
        .run();
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
        let run = bundle(&env, &args)
            .code(2)
            .stdout_empty()
            .stderr_contains("mmops: error: bad release version from ")
            .stderr_contains(expected)
            .run();
        assert!(run.stderr.starts_with("mmops: error: bad release version from "), "{}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{file:?} {flag:?}: {}", run.stderr);
        assert!(!env.exists("artifacts/release"), "{file:?} {flag:?}");
    }
    // A missing VERSION file says where it looked and suggests -C, not creating it there.
    let env = repo();
    fs::remove_file(env.path("VERSION")).unwrap();
    bundle(&env, &[])
        .code(2)
        .stdout_empty()
        .stderr_is(&format!(
            "mmops: error: version file VERSION not found in {}; run mmops in the repository or pass -C DIR \
             (or --version X.Y.Z)\n",
            env.root().display()
        ))
        .run();
    // A 300 MB VERSION (sparse) is refused at the size limit while reading, not quoted whole; a
    // FIFO is refused without blocking.
    let env = repo();
    fs::File::create(env.path("VERSION")).unwrap().set_len(300_000_000).unwrap();
    bundle(&env, &[])
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: VERSION: the version file is larger than the 256 B limit for a version file; is this \
             the right file?\n",
        )
        .run();
    fs::remove_file(env.path("VERSION")).unwrap();
    assert!(Command::new("mkfifo").arg(env.path("VERSION")).status().unwrap().success());
    bundle(&env, &[])
        .code(2)
        .stdout_empty()
        .stderr_is("mmops: error: VERSION: the version file is a FIFO, not a regular file\n")
        .run();
    assert!(!env.exists("artifacts/release"));
    // --version overrides the file, and a pre-release is fine.
    let env = repo();
    let run = bundle(&env, &["--version", "1.5.0-rc.1"])
        .code(0)
        .stdout_contains("| bundle | OK | RELEASE_BUNDLE=artifacts/release/mm-bot-v1.5.0-rc.1.zip |\n")
        .stderr_is(
            "mmops: warning: --version 1.5.0-rc.1 differs from the VERSION file (1.4.0); a bundled VERSION still \
             says the latter\n",
        )
        .run();
    assert_eq!(run.last_line(), "| bundle | OK | RELEASE_BUNDLE=artifacts/release/mm-bot-v1.5.0-rc.1.zip |");
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
        let run = bundle(&env, &["--config", "bundle.yaml"])
            .code(2)
            .stdout_empty()
            .stderr_contains("mmops: error: ")
            .stderr_contains(expected)
            .run();
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert!(!env.exists("artifacts/release"), "{config}");
    }
    // Links are never followed, not even to a file inside the repository: the file a link
    // names when it is checked need not be the one it names when it is read.
    let env = repo();
    std::os::unix::fs::symlink("README.md", env.path("docs-link.md")).unwrap();
    env.write("bundle.yaml", "files:\n  - path: docs-link.md\n");
    bundle(&env, &["--config", "bundle.yaml"])
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: files[0]: docs-link.md is a symbolic link, or a folder on its way is; bundles take \
             only regular files and never follow links: list the file the link points to\n",
        )
        .run();
    assert!(!env.exists("artifacts/release"));
}

/// A FIFO where a listed file should be is refused at once (it used to be opened blocking), and
/// a Unix socket is named as what it is (it said only "No such device or address (os error 6)").
#[test]
fn a_fifo_or_socket_input_is_refused_without_hanging() {
    for kind in ["fifo", "socket"] {
        let env = repo();
        fs::remove_file(env.path("README.md")).unwrap();
        let _socket = if kind == "fifo" {
            assert!(Command::new("mkfifo").arg(env.path("README.md")).status().unwrap().success());
            None
        } else {
            Some(std::os::unix::net::UnixListener::bind(env.path("README.md")).unwrap())
        };
        bundle(&env, &[])
            .code(2)
            .stdout_empty()
            .stderr_is(
                "mmops: error: files[1]: README.md is not a regular file (a FIFO, device or socket); bundles \
                 take only regular files\n",
            )
            .run();
        assert!(!env.exists("artifacts/release"), "{kind}");
    }
}

/// `--prom-file` naming a file the release bundles replaced it in the working tree (exit 0);
/// refused before anything is written now, the input left as it was.
#[test]
fn a_prom_file_over_a_bundled_file_is_exit_2() {
    let env = repo();
    env.write("deploy/up.prom", "up 1\n");
    env.write("bundle.yaml", "files:\n  - path: VERSION\n  - path: deploy/up.prom\n");
    bundle(&env, &["--config", "bundle.yaml", "--prom-file", "./deploy/up.prom"])
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: --prom-file ./deploy/up.prom is a file this release bundles; give the Prometheus \
             file its own path\n",
        )
        .run();
    assert_eq!(env.read("deploy/up.prom"), "up 1\n");
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
        let run = bundle(&env, &["--config", "bundle.yaml"])
            .code(2)
            .stdout_empty()
            .stderr_contains(&format!("\"extra/{shown}\" has a control character"))
            .run();
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
        // Names an extractor on macOS or Windows writes to one file, or a file and a folder
        // of one name: `bundle verify` would fail the zip, so it is never made.
        (
            "files:\n  - path: VERSION\n  - path: README.md\n    dest: version\n",
            "two files would clash when the release is extracted: version: is extracted to the same file as VERSION",
        ),
        (
            "files:\n  - path: VERSION\n  - path: README.md\n    dest: VERSION/README.md\n",
            "two files would clash when the release is extracted: VERSION/README.md: needs a folder named like the file VERSION",
        ),
        (
            "files:\n  - path: VERSION\n    dest: manifest.json\n",
            "\"manifest.json\" is written by mmops itself",
        ),
        ("files:\n  - path: deploy\n", "is a folder; list its files, or use a glob"),
        ("files: [\n", "bundle.yaml:1:"),
        ("", "the file is empty"),
    ];
    for (config, expected) in cases {
        let env = repo();
        env.write("bundle.yaml", config);
        let run = bundle(&env, &["--config", "bundle.yaml"])
            .code(2)
            .stdout_empty()
            .stderr_contains("mmops: error: ")
            .stderr_contains(expected)
            .run();
        assert_eq!(run.stderr.lines().count(), 1, "{config}: {}", run.stderr);
        assert!(!env.exists("artifacts/release"), "{config}");
    }
    let env = repo();
    bundle(&env, &["--config", "nope.yaml"])
        .code(2)
        .stdout_empty()
        .stderr_contains("mmops: error: cannot read config file nope.yaml")
        .run();
    bundle(&env, &["--name", "../evil"]).code(2).stdout_empty().stderr_contains("--name \"../evil\"").run();
}

/// Every input stays open from resolution to the end of the run. mmops raises its soft
/// open-file limit to the hard one; when even that is too low, the error says what to do.
#[test]
fn more_inputs_than_open_files_allowed_is_a_clear_error() {
    let env = repo();
    for index in 0..200 {
        env.write(format!("many/f{index:03}.txt"), "x\n");
    }
    env.write("bundle.yaml", "files:\n  - path: VERSION\n  - glob: 'many/*'\n");
    let run_with_limit = |soft: u32, hard: u32| {
        let output = Command::new("sh")
            .args(["-c", &format!("ulimit -Sn {soft} && ulimit -Hn {hard} && exec \"$0\" \"$@\"")])
            .arg(env!("CARGO_BIN_EXE_mmops"))
            .args(["bundle", "--config", "bundle.yaml", "--no-reports"])
            .current_dir(env.root())
            .env("CI_FAKE_UTC", FAKE_NOW)
            .env_remove("SOURCE_DATE_EPOCH")
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    // A soft limit below the inputs, a hard one above: raised, and the bundle is made.
    let (code, stdout, stderr) = run_with_limit(64, 1024);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.ends_with(&format!("{MARKER}\n")), "{stdout}");
    assert_eq!(stderr, "");
    assert_eq!(entry_names(&env.path(ZIP)).len(), 203);
    fs::remove_dir_all(env.path("artifacts/release")).unwrap();
    // Both limits below: exit 2, what to do, nothing written.
    let (code, stdout, stderr) = run_with_limit(64, 64);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stdout, "");
    assert!(stderr.starts_with("mmops: error: files[1]: cannot open "), "{stderr}");
    assert!(
        stderr.ends_with(
            ": too many files open at once (every input stays open until it is bundled); raise the limit with \
             `ulimit -n` or list fewer files\n"
        ),
        "{stderr}"
    );
    assert!(!env.exists("artifacts/release"));
}
