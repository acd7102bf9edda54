//! The test fixture: a temporary folder to build trees in, and the real `mmops` binary run
//! inside it with a clean environment. Tests compare exit code, stdout and stderr together.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Utc};
use tempfile::TempDir;

/// Environment variables a test must never inherit from the shell that runs it.
const INHERITED_VARS: &[&str] = &[
    "CI_FAKE_UTC",
    "SOURCE_DATE_EPOCH",
    "NO_COLOR",
    "CLICOLOR_FORCE",
    "GITHUB_ACTIONS",
    "GITHUB_STEP_SUMMARY",
    "TZ",
];

/// A temporary working folder; every path given to its methods is relative to it.
pub struct TestEnv {
    dir: TempDir,
}

/// What one run of the binary produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The last line of stdout (the marker row in text mode).
    pub fn last_line(&self) -> &str {
        self.stdout.lines().last().unwrap_or("")
    }

    /// Parses stdout as the `--format json` document.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    /// Asserts the exit code, printing everything on mismatch.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "unexpected exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

impl TestEnv {
    pub fn new() -> TestEnv {
        TestEnv { dir: tempfile::Builder::new().prefix("mmops-test-").tempdir().expect("create temp dir") }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Writes a file (creating its folders) and returns its absolute path.
    pub fn write(&self, relative: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent folders");
        }
        fs::write(&path, contents).expect("write file");
        path
    }

    pub fn mkdir(&self, relative: impl AsRef<Path>) -> PathBuf {
        let path = self.path(relative);
        fs::create_dir_all(&path).expect("create folder");
        path
    }

    pub fn read(&self, relative: impl AsRef<Path>) -> String {
        fs::read_to_string(self.path(relative)).expect("read file")
    }

    pub fn exists(&self, relative: impl AsRef<Path>) -> bool {
        self.path(relative).symlink_metadata().is_ok()
    }

    /// Sets a file's modification time (without following symlinks) to an instant.
    pub fn set_mtime(&self, relative: impl AsRef<Path>, instant: DateTime<Utc>) {
        let time = filetime::FileTime::from_unix_time(instant.timestamp(), instant.timestamp_subsec_nanos());
        filetime::set_symlink_file_times(self.path(relative), time, time).expect("set mtime");
    }

    /// The `mmops` binary with the working folder set to this env and a clean environment.
    pub fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mmops"));
        command.current_dir(self.root());
        for var in INHERITED_VARS {
            command.env_remove(var);
        }
        command
    }

    /// Runs `mmops ARGS` here with extra environment variables.
    pub fn run_with_env<I, S>(&self, args: I, env: &[(&str, &str)]) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = self.command();
        command.args(args);
        for (key, value) in env {
            command.env(key, value);
        }
        let output = command.output().expect("run mmops");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs `mmops ARGS` here.
    pub fn run<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.run_with_env(args, &[])
    }
}

/// An RFC 3339 instant, for readable test setup.
pub fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("valid RFC 3339").with_timezone(&Utc)
}

impl TestEnv {
    /// Runs `mmops ARGS` here as the unprivileged user `nobody` (through `setpriv` when the tests
    /// run as root, as in CI, where permission bits would not stop anything), so permission
    /// cases are really exercised. The temporary root is opened up to 0755 so nobody can reach it.
    pub fn run_as_nobody_with_env<I, S>(&self, args: I, env: &[(&str, &str)]) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(self.root(), fs::Permissions::from_mode(0o755)).expect("open up the test root");
        let mut command = if rustix::process::geteuid().is_root() {
            let mut command = Command::new("setpriv");
            command.args([
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                env!("CARGO_BIN_EXE_mmops"),
            ]);
            command
        } else {
            Command::new(env!("CARGO_BIN_EXE_mmops"))
        };
        command.current_dir(self.root());
        for var in INHERITED_VARS {
            command.env_remove(var);
        }
        command.args(args);
        for (key, value) in env {
            command.env(key, value);
        }
        let output = command.output().expect("run mmops as nobody");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Gives a path (not following symlinks) to the user `nobody` when running as root.
    pub fn give_to_nobody(&self, relative: impl AsRef<Path>) {
        if rustix::process::geteuid().is_root() {
            std::os::unix::fs::lchown(self.path(relative), Some(65534), Some(65534))
                .expect("chown to nobody");
        }
    }
}
