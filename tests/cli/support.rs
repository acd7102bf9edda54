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

    /// Reads stdout, the `--format json` document, into a typed mirror of it. Mirrors use
    /// `#[serde(deny_unknown_fields)]`, so a field added, renamed or dropped fails the test
    /// that reads it instead of passing silently.
    #[track_caller]
    pub fn json_as<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout does not match the typed mirror {} ({e}):\n{}",
                std::any::type_name::<T>(),
                self.stdout
            )
        })
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

    /// Runs `mmops ARGS` here with extra environment variables. "Now" is pinned to
    /// [`PINNED_NOW`] unless `env` sets `CI_FAKE_UTC` itself, so no test reads the real clock by
    /// accident; `("CI_FAKE_UTC", "")` (counted as unset) tests the clock or `SOURCE_DATE_EPOCH`.
    pub fn run_with_env<I, S>(&self, args: I, env: &[(&str, &str)]) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = self.command();
        command.args(args);
        command.env("CI_FAKE_UTC", PINNED_NOW);
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
            // Callers check `nobody_available` first; this names the fix if one did not.
            assert!(on_path("setpriv"), "setpriv is not installed; install: apt-get install util-linux");
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

/// Whether [`TestEnv::run_as_nobody_with_env`] can work: as root it needs `setpriv`. Same rule
/// as [`tool_available`].
pub fn nobody_available() -> bool {
    !rustix::process::geteuid().is_root() || tool_available("setpriv", "apt-get install util-linux")
}

/// Whether an external tool a test needs is on PATH. Missing under `CI=true` is a failure (CI
/// installs every tool, so a missing one is a broken CI script, not a reason to pass); elsewhere
/// the test prints that it was skipped and how to install the tool, and returns early.
pub fn tool_available(tool: &str, install: &str) -> bool {
    if on_path(tool) {
        return true;
    }
    skip_or_fail(&format!("{tool} is not installed"), install)
}

/// Whether this process may make a private mount namespace (`unshare -m`), for the mount cases.
/// Same rule as [`tool_available`]: refused under `CI=true` is a failure.
pub fn mount_namespace_available() -> bool {
    if !tool_available("unshare", "apt-get install util-linux")
        || !tool_available("mount", "apt-get install mount")
    {
        return false;
    }
    let works = Command::new("unshare")
        .args(["-m", "--propagation", "private", "true"])
        .status()
        .is_ok_and(|status| status.success());
    works || skip_or_fail("mount namespaces are refused here (unshare -m failed)", "run the tests as root")
}

/// Under `CI=true`, panics with the reason; otherwise prints `skipped: …` and returns false.
/// The line goes to the process's stderr itself, not through `eprintln!`: the test harness
/// captures that (and shows it only for a failing test), so a skip would go unseen.
pub fn skip_or_fail(reason: &str, install: &str) -> bool {
    if std::env::var("CI").is_ok_and(|value| value == "true") {
        panic!("{reason}, and CI=true requires it; install: {install}");
    }
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "skipped: {reason} (install: {install})");
    false
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            let candidate = dir.join(tool);
            candidate.metadata().is_ok_and(|metadata| {
                use std::os::unix::fs::PermissionsExt;
                metadata.is_file() && metadata.permissions().mode() & 0o111 != 0
            })
        })
    })
}

/// The instant every [`Check`] pins as "now" unless the test sets `CI_FAKE_UTC` itself.
pub const PINNED_NOW: &str = "2026-01-01T00:00:00Z";

/// What a stream must look like.
#[derive(Debug, Clone)]
pub enum Expect {
    Empty,
    Exact(String),
    Contains(Vec<String>),
    /// Any content: the test says so explicitly (e.g. stdout checked by a later JSON parse).
    Anything,
}

impl Expect {
    fn matches(&self, actual: &str) -> bool {
        match self {
            Expect::Empty => actual.is_empty(),
            Expect::Exact(text) => actual == text,
            Expect::Contains(parts) => parts.iter().all(|part| actual.contains(part.as_str())),
            Expect::Anything => true,
        }
    }
}

/// A run of `mmops` whose exit code, stdout and stderr must all be stated before [`Check::run`]
/// (as just's test builder does): an unexpected warning or a silent stdout fails the test.
pub struct Check<'a> {
    env: &'a TestEnv,
    args: Vec<std::ffi::OsString>,
    vars: Vec<(String, String)>,
    stdin: Option<Vec<u8>>,
    code: Option<i32>,
    stdout: Option<Expect>,
    stderr: Option<Expect>,
}

impl TestEnv {
    /// Starts a [`Check`] of `mmops ARGS` in this folder.
    pub fn check<I, S>(&self, args: I) -> Check<'_>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Check {
            env: self,
            args: args.into_iter().map(|arg| arg.as_ref().to_os_string()).collect(),
            vars: Vec::new(),
            stdin: None,
            code: None,
            stdout: None,
            stderr: None,
        }
    }
}

impl Check<'_> {
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.vars.push((key.to_string(), value.to_string()));
        self
    }

    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    pub fn code(mut self, code: i32) -> Self {
        self.code = Some(code);
        self
    }

    pub fn stdout(mut self, expect: Expect) -> Self {
        self.stdout = Some(expect);
        self
    }

    pub fn stdout_is(self, text: &str) -> Self {
        self.stdout(Expect::Exact(text.to_string()))
    }

    pub fn stdout_contains(self, part: &str) -> Self {
        self.add_stdout_part(part)
    }

    pub fn stdout_empty(self) -> Self {
        self.stdout(Expect::Empty)
    }

    pub fn stderr(mut self, expect: Expect) -> Self {
        self.stderr = Some(expect);
        self
    }

    pub fn stderr_is(self, text: &str) -> Self {
        self.stderr(Expect::Exact(text.to_string()))
    }

    pub fn stderr_contains(mut self, part: &str) -> Self {
        self.stderr = Some(match self.stderr.take() {
            Some(Expect::Contains(mut parts)) => {
                parts.push(part.to_string());
                Expect::Contains(parts)
            }
            _ => Expect::Contains(vec![part.to_string()]),
        });
        self
    }

    pub fn stderr_empty(self) -> Self {
        self.stderr(Expect::Empty)
    }

    fn add_stdout_part(mut self, part: &str) -> Self {
        self.stdout = Some(match self.stdout.take() {
            Some(Expect::Contains(mut parts)) => {
                parts.push(part.to_string());
                Expect::Contains(parts)
            }
            _ => Expect::Contains(vec![part.to_string()]),
        });
        self
    }

    /// Runs the binary and checks all three expectations, printing both streams on a mismatch.
    #[track_caller]
    pub fn run(self) -> Run {
        let (Some(code), Some(stdout), Some(stderr)) = (self.code, self.stdout.clone(), self.stderr.clone())
        else {
            panic!("a Check must state .code(), a stdout expectation and a stderr expectation before .run()");
        };
        let mut command = self.env.command();
        command.args(&self.args);
        if !self.vars.iter().any(|(key, _)| key == "CI_FAKE_UTC") {
            command.env("CI_FAKE_UTC", PINNED_NOW);
        }
        for (key, value) in &self.vars {
            command.env(key, value);
        }
        let output = match &self.stdin {
            None => command.stdin(std::process::Stdio::null()).output().expect("run mmops"),
            Some(bytes) => {
                use std::io::Write as _;
                command.stdin(std::process::Stdio::piped());
                command.stdout(std::process::Stdio::piped());
                command.stderr(std::process::Stdio::piped());
                let mut child = command.spawn().expect("run mmops");
                child.stdin.take().expect("stdin").write_all(bytes).expect("write stdin");
                child.wait_with_output().expect("wait for mmops")
            }
        };
        let run = Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        let problems: Vec<String> = [
            (run.code != code).then(|| format!("exit code: expected {code}, got {}", run.code)),
            (!stdout.matches(&run.stdout)).then(|| format!("stdout: expected {stdout:?}")),
            (!stderr.matches(&run.stderr)).then(|| format!("stderr: expected {stderr:?}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        assert!(
            problems.is_empty(),
            "mmops {:?}\n{}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.args,
            problems.join("\n"),
            run.stdout,
            run.stderr
        );
        run
    }
}

/// Runs `script` with `sh` in a private mount namespace with the env's root as working folder
/// (`$MMOPS` is the binary, `CI_FAKE_UTC` pinned to `now`), for the cases that need a tiny
/// tmpfs (ENOSPC) or a bind mount. `None` where mount namespaces are refused (skipped, or a
/// failure under `CI=true`, as [`mount_namespace_available`] decides).
pub fn run_in_mount_namespace(env: &TestEnv, script: &str, now: &str) -> Option<Run> {
    if !mount_namespace_available() {
        return None;
    }
    let mut command = Command::new("unshare");
    command.args(["-m", "--propagation", "private", "sh", "-c", script]).current_dir(env.root());
    for var in INHERITED_VARS {
        command.env_remove(var);
    }
    let output = command
        .env("MMOPS", env!("CARGO_BIN_EXE_mmops"))
        .env("CI_FAKE_UTC", now)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run unshare");
    Some(Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}
