//! The part that changes the disk: the run lock, re-checking and deleting planned files relative
//! to an open handle of their folder, and pruning folders the run left empty.

use std::collections::BinaryHeap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat, fstat, openat, statat, unlinkat};
use rustix::io::Errno;
use serde::Serialize;

use crate::outcome::CheckFailed;

use super::scan::{BaseDir, FileEntry, Identity, LOCK_FILE_NAME, ROOT, Scan};

/// How often a run waiting for the lock tries again.
const LOCK_POLL: Duration = Duration::from_millis(100);

/// What happened to one selected file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FileResult {
    WouldDelete,
    Deleted,
    /// Gone before we got to it: someone else removed it.
    Vanished,
    /// No longer the file that was planned (replaced, rewritten, turned into a symlink): kept.
    Changed,
    /// Could not be deleted (permission denied, read-only filesystem).
    Failed,
    /// Not attempted: SIGINT or SIGTERM arrived first. Kept.
    Interrupted,
}

impl FileResult {
    pub fn label(self) -> &'static str {
        match self {
            FileResult::WouldDelete => "would delete",
            FileResult::Deleted => "deleted",
            FileResult::Vanished => "vanished",
            FileResult::Changed => "changed, kept",
            FileResult::Failed => "failed",
            FileResult::Interrupted => "interrupted",
        }
    }
}

/// The exclusive lock of a real run, held until dropped. The lock is an OS lock on the open
/// file, so a lock file left behind by a killed run is harmless: the kernel released its lock.
pub(crate) struct RunLock {
    _file: File,
}

impl RunLock {
    /// Takes the lock inside the base dir, waiting up to `wait` for another run to finish.
    /// A lock still held after that is a [`CheckFailed`] (exit 1) naming the lock file.
    pub fn acquire(base: &BaseDir, wait: Duration) -> Result<RunLock> {
        let lock_path = base.path.join(LOCK_FILE_NAME);
        let shown = lock_path.display();
        let flags = OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let handle = openat(&base.handle, LOCK_FILE_NAME, flags, Mode::from_raw_mode(0o644))
            .map_err(|errno| anyhow!("cannot open the lock file {shown}: {}", std::io::Error::from(errno)))?;
        let mut file = File::from(handle);
        let deadline = Instant::now() + wait;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(LOCK_POLL.min(deadline.saturating_duration_since(Instant::now())));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    let mut holder = String::new();
                    let _ = file.read_to_string(&mut holder);
                    let holder = holder.trim();
                    let holder = if holder.is_empty() { String::new() } else { format!(" ({holder})") };
                    return Err(anyhow::Error::new(CheckFailed(format!(
                        "another rotation holds the lock {shown}{holder}; let it finish, or wait for it with --wait-lock 10m"
                    ))));
                }
                Err(std::fs::TryLockError::Error(error)) => {
                    return Err(anyhow!("cannot lock {shown}: {error}"));
                }
            }
        }
        // Who holds it, for the message a second run prints. Best effort: the lock is what counts.
        let _ = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "pid {}", std::process::id()));
        Ok(RunLock { _file: file })
    }
}

/// Opens a scanned folder relative to the base dir's handle and checks it is still the folder
/// that was scanned; `Ok(None)` when it vanished or was replaced (its files are then kept).
pub(crate) fn open_scanned_dir(base: &BaseDir, scan: &Scan, dir: u32) -> std::io::Result<Option<OwnedFd>> {
    let record = &scan.dirs[dir as usize];
    let relative: &Path = if dir == ROOT { Path::new(".") } else { &record.relative };
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let handle = match openat(&base.handle, relative, flags, Mode::empty()) {
        Ok(handle) => handle,
        Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => return Ok(None),
        Err(errno) => return Err(errno.into()),
    };
    // Any component swapped for a symlink leads to another folder, with another identity.
    let identity = Identity::of(&fstat(&handle)?);
    Ok((identity == record.identity).then_some(handle))
}

/// Whether `stat` still describes the planned file: same regular file, size and mtime.
// `Stat` field types differ between architectures, hence the casts.
#[allow(clippy::unnecessary_cast)]
pub(crate) fn is_same_file(stat: &Stat, file: &FileEntry, device: u64) -> bool {
    FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile
        && stat.st_dev == device
        && stat.st_ino == file.inode
        && stat.st_size as u64 == file.size
        && stat.st_mtime as i64 == file.mtime_seconds
        && stat.st_mtime_nsec as u32 == file.mtime_nanos
}

/// The outcome of one deletion attempt, with the reason when it failed.
pub(crate) type Attempt = (FileResult, Option<String>);

/// Re-checks and deletes one file relative to its folder's handle.
pub(crate) fn delete_file(dir: BorrowedFd<'_>, name: &OsStr, file: &FileEntry, device: u64) -> Attempt {
    match statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Err(Errno::NOENT) => return (FileResult::Vanished, None),
        Err(errno) => return (FileResult::Failed, Some(std::io::Error::from(errno).to_string())),
        Ok(stat) if !is_same_file(&stat, file, device) => return (FileResult::Changed, None),
        Ok(_) => {}
    }
    match unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) => (FileResult::Deleted, None),
        Err(Errno::NOENT) => (FileResult::Vanished, None),
        Err(errno) => (FileResult::Failed, Some(std::io::Error::from(errno).to_string())),
    }
}

/// Deletes the given files (indices into `scan.files`), folder by folder, and returns one
/// attempt per entry of `selected`, in the same order. `on_each` is called after each file and
/// returns whether to go on; once it says stop, the remaining files are `Interrupted` and kept.
pub(crate) fn delete_files(
    base: &BaseDir,
    scan: &Scan,
    selected: &[u32],
    mut on_each: impl FnMut() -> bool,
) -> Vec<Attempt> {
    let mut attempts: Vec<Attempt> = vec![(FileResult::Interrupted, None); selected.len()];
    // Visit folder by folder so each folder is opened (and checked) once.
    let mut by_dir: Vec<usize> = (0..selected.len()).collect();
    by_dir.sort_by_key(|&position| {
        let file = &scan.files[selected[position] as usize];
        (file.dir, file.walk_order)
    });
    let mut start = 0;
    while start < by_dir.len() {
        let dir = scan.files[selected[by_dir[start]] as usize].dir;
        let end = start
            + by_dir[start..].iter().take_while(|&&p| scan.files[selected[p] as usize].dir == dir).count();
        let handle = open_scanned_dir(base, scan, dir);
        for &position in &by_dir[start..end] {
            let file = &scan.files[selected[position] as usize];
            attempts[position] = match &handle {
                Ok(Some(handle)) => delete_file(handle.as_fd(), scan.name(file), file, base.identity.device),
                Ok(None) => (FileResult::Changed, None),
                Err(error) => (FileResult::Failed, Some(format!("cannot open its folder: {error}"))),
            };
            if !on_each() {
                return attempts;
            }
        }
        start = end;
    }
    attempts
}

/// Removes folders this run left empty: folders it deleted files from, then their parents as
/// they empty in turn, deepest first. Never the base dir; a folder something else wrote into
/// meanwhile is not empty and stays (rmdir refuses). Returns the removed folders, sorted, and
/// the folders that could not be removed for another reason.
pub(crate) fn prune_empty_dirs(base: &BaseDir, scan: &Scan, touched: &[u32]) -> (Vec<PathBuf>, Vec<String>) {
    let mut queue: BinaryHeap<(u32, u32)> =
        touched.iter().filter(|&&dir| dir != ROOT).map(|&dir| (scan.dirs[dir as usize].depth, dir)).collect();
    let mut queued: std::collections::BTreeSet<u32> = touched.iter().copied().collect();
    let mut removed = Vec::new();
    let mut problems = Vec::new();
    while let Some((_, dir)) = queue.pop() {
        let record = &scan.dirs[dir as usize];
        let Ok(Some(parent)) = open_scanned_dir(base, scan, record.parent) else { continue };
        let Some(name) = record.relative.file_name() else { continue };
        match statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) if Identity::of(&stat) == record.identity => {}
            _ => continue, // replaced or gone: not the folder we emptied
        }
        match unlinkat(&parent, name, AtFlags::REMOVEDIR) {
            Ok(()) => {
                removed.push(record.relative.clone());
                if record.parent != ROOT && queued.insert(record.parent) {
                    queue.push((scan.dirs[record.parent as usize].depth, record.parent));
                }
            }
            Err(Errno::NOTEMPTY | Errno::EXIST | Errno::NOENT) => {}
            Err(errno) => problems.push(format!(
                "cannot remove empty folder {}: {}",
                crate::sanitize::display_path(&record.relative),
                std::io::Error::from(errno)
            )),
        }
    }
    removed.sort();
    (removed, problems)
}

/// Opens a planned file for reading (for the archive), checking it is still the planned file.
pub(crate) fn open_planned_file(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    file: &FileEntry,
    device: u64,
) -> Result<Option<File>, Errno> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK;
    let handle = match openat(dir, name, flags, Mode::empty()) {
        Ok(handle) => handle,
        Err(Errno::NOENT) => return Err(Errno::NOENT),
        Err(Errno::LOOP) => return Ok(None),
        Err(errno) => return Err(errno),
    };
    let stat = fstat(&handle)?;
    Ok(is_same_file(&stat, file, device).then(|| File::from(handle)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rotate::plan::Limits;
    use crate::rotate::policy::{Retention, Rule, Source};
    use crate::rotate::scan::{ScanOptions, scan};
    use std::fs;

    fn setup(files: &[&str]) -> (tempfile::TempDir, BaseDir, Scan) {
        let dir = tempfile::tempdir().unwrap();
        for name in files {
            let path = dir.path().join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, "planned").unwrap();
        }
        let base = BaseDir::open(dir.path()).unwrap();
        let retention = Retention {
            source: Source::Flags,
            rules: vec![Rule {
                label: "*".into(),
                matcher: None,
                limits: Limits { keep: Some(0), ..Limits::default() },
            }],
            excludes: Vec::new(),
        };
        let scanned =
            scan(&base, &ScanOptions { include_hidden: false, retention: &retention, archive_dir: None });
        (dir, base, scanned)
    }

    fn index_of(scan: &Scan, relative: &str) -> u32 {
        scan.files.iter().position(|file| scan.relative_path(file) == Path::new(relative)).unwrap() as u32
    }

    #[test]
    fn a_file_replaced_between_plan_and_delete_is_kept_and_reported_changed() {
        let (dir, base, scan) = setup(&["a/replaced", "a/rewritten", "a/gone", "a/fine", "a/to_link"]);
        let selected: Vec<u32> = ["a/replaced", "a/rewritten", "a/gone", "a/fine", "a/to_link"]
            .iter()
            .map(|p| index_of(&scan, p))
            .collect();
        // Replaced by a new file (new inode), rewritten in place (new size), removed by
        // someone else, and swapped for a symlink to a file outside.
        let replacement = dir.path().join("a/replaced.new");
        fs::write(&replacement, "planned").unwrap();
        fs::rename(&replacement, dir.path().join("a/replaced")).unwrap();
        fs::write(dir.path().join("a/rewritten"), "new content, longer").unwrap();
        fs::remove_file(dir.path().join("a/gone")).unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("precious"), "x").unwrap();
        fs::remove_file(dir.path().join("a/to_link")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("precious"), dir.path().join("a/to_link")).unwrap();

        let results: Vec<FileResult> =
            delete_files(&base, &scan, &selected, || true).into_iter().map(|(r, _)| r).collect();
        assert_eq!(
            results,
            [
                FileResult::Changed,
                FileResult::Changed,
                FileResult::Vanished,
                FileResult::Deleted,
                FileResult::Changed
            ]
        );
        assert!(dir.path().join("a/replaced").exists());
        assert!(dir.path().join("a/rewritten").exists());
        assert!(!dir.path().join("a/fine").exists());
        assert!(dir.path().join("a/to_link").symlink_metadata().unwrap().is_symlink());
        assert!(outside.path().join("precious").exists());
    }

    #[test]
    fn a_folder_swapped_for_a_symlink_cannot_redirect_the_delete() {
        let (dir, base, scan) = setup(&["sub/victim"]);
        let selected = [index_of(&scan, "sub/victim")];
        // Someone moves the folder away and puts a symlink to a look-alike folder in its place.
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("victim"), "planned").unwrap();
        fs::rename(dir.path().join("sub"), dir.path().join("moved")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("sub")).unwrap();
        let results = delete_files(&base, &scan, &selected, || true);
        assert_eq!(results[0].0, FileResult::Changed);
        assert!(outside.path().join("victim").exists());
        assert!(dir.path().join("moved/victim").exists());
    }

    #[test]
    fn prune_leaves_a_folder_something_else_wrote_into() {
        let (dir, base, scan) = setup(&["x/old", "y/old"]);
        let selected = [index_of(&scan, "x/old"), index_of(&scan, "y/old")];
        let results = delete_files(&base, &scan, &selected, || true);
        assert!(results.iter().all(|(result, _)| *result == FileResult::Deleted));
        fs::write(dir.path().join("y/new"), "arrived meanwhile").unwrap();
        let touched: Vec<u32> = selected.iter().map(|&index| scan.files[index as usize].dir).collect();
        let (removed, problems) = prune_empty_dirs(&base, &scan, &touched);
        assert_eq!(removed, [PathBuf::from("x")]);
        assert!(problems.is_empty());
        assert!(dir.path().join("y/new").exists());
    }
}
