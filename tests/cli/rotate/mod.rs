//! `mmops rotate` end to end: real trees in temporary folders with mtimes set explicitly, "now"
//! pinned with CI_FAKE_UTC, and exit code, stdout, stderr and the files left on disk checked
//! together.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};

use crate::support::{Check, Expect, Run, TestEnv, utc};
use mirror::{Document, FileResult, Reason};

mod archive;
mod failures;
mod guards;
mod limits;
mod lock;
pub(crate) mod mirror;
mod outputs;
mod policy;
mod property;
mod retention;
mod roots;
mod safety;
mod tree;

const NOW: &str = "2025-10-11T12:00:00Z";

fn days_ago(days: f64) -> DateTime<Utc> {
    utc(NOW) - Duration::milliseconds((days * 86_400_000.0) as i64)
}

/// Writes `artifacts/<relative>` with `size` bytes, dated `age_days` before NOW.
fn file(env: &TestEnv, relative: &str, size: usize, age_days: f64) {
    let path = format!("artifacts/{relative}");
    env.write(&path, vec![b'x'; size]);
    env.set_mtime(&path, days_ago(age_days));
}

/// `mmops rotate ARGS` at NOW: the caller states exit code, stdout and stderr, then `.run()`.
fn rotate<'a>(env: &'a TestEnv, args: &[&str]) -> Check<'a> {
    let mut all = vec!["rotate"];
    all.extend_from_slice(args);
    env.check(all).env("CI_FAKE_UTC", NOW)
}

/// `mmops rotate ARGS` (with `--format json` among them) at NOW that must exit 0 with nothing on
/// stderr: its document.
#[track_caller]
fn rotate_document(env: &TestEnv, args: &[&str]) -> Document {
    rotate(env, args).code(0).stdout(Expect::Anything).stderr_empty().run().json_as()
}

/// Relative paths of the regular files and symlinks left under `dir`.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .map(|entry| entry.unwrap())
        .filter(|entry| !entry.file_type().is_dir())
        .map(|entry| entry.path().strip_prefix(dir).unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Everything about a tree that a dry run must not change: kinds, contents, modes, mtimes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u32, i64, i64, Vec<u8>)> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|entry| entry.unwrap())
        .map(|entry| {
            let meta = entry.path().symlink_metadata().unwrap();
            let content = if meta.is_file() {
                fs::read(entry.path()).unwrap()
            } else if meta.is_symlink() {
                fs::read_link(entry.path()).unwrap().into_os_string().into_vec()
            } else {
                Vec::new()
            };
            (entry.path().to_path_buf(), (meta.mode(), meta.mtime(), meta.mtime_nsec(), content))
        })
        .collect()
}

/// The pid of a process that has exited (for temp and quarantine names of a "killed" run).
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}
