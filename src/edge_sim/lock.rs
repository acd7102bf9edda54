//! The lock that serialises live steps on one state file: `<state>.lock` beside it.
//!
//! The state file itself cannot carry the lock: every step replaces it by a rename, so a second
//! writer would lock the new inode while the first still holds the old one. The sibling lock
//! file is never replaced. It is opened without following a link and without blocking (a FIFO
//! planted there must not hang the bot), must be a regular file with one link (a hard link to
//! some other file would have us scribble on it), and is never truncated: the holder's pid and
//! start time are written as a fixed-width record at its start, so a waiting step can name it.

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use std::os::unix::fs::MetadataExt;

use rustix::fs::{FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use crate::outcome::CheckFailed;
use crate::sanitize::display_path;

/// Bytes of the holder record: a pid, a start time and padding, one line.
const HOLDER_RECORD: usize = 80;
/// Between two tries while another step holds the lock.
const RETRY: Duration = Duration::from_millis(5);

/// An exclusive lock on a state file, held until dropped (closing the file releases it).
pub(crate) struct StateLock {
    file: std::fs::File,
}

/// The holder record is blanked (in place, still under the lock) before the lock is released:
/// a finished step must not be named as the holder by a step that waits on the next one.
impl Drop for StateLock {
    fn drop(&mut self) {
        let mut blank = vec![b' '; HOLDER_RECORD - 1];
        blank.push(b'\n');
        let _ = self.file.seek(SeekFrom::Start(0)).and_then(|_| self.file.write_all(&blank));
    }
}

/// `s.json` → `s.json.lock`.
pub(crate) fn lock_path(state: &Path) -> PathBuf {
    let mut name = state.as_os_str().to_os_string();
    name.push(".lock");
    PathBuf::from(name)
}

impl StateLock {
    /// Takes the lock of `state`, waiting at most `wait` for another step to finish. `holder`
    /// is written into the lock file for waiting steps to report (e.g. `pid 42 since …`).
    /// Gives up with a [`CheckFailed`] (exit 1) naming the holder.
    pub(crate) fn acquire(state: &Path, wait: Duration, holder: &str) -> Result<StateLock> {
        let path = lock_path(state);
        let name = display_path(&path);
        let fd = open_lock_file(&path).with_context(|| format!("cannot open the lock file {name}"))?;
        let started = crate::clock::monotonic();
        loop {
            match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => break,
                Err(Errno::WOULDBLOCK) if started.elapsed() < wait => std::thread::sleep(RETRY),
                Err(Errno::WOULDBLOCK) => {
                    let held_by = read_holder(&fd).unwrap_or_else(|| "an unknown process".to_string());
                    return Err(anyhow!(CheckFailed(format!(
                        "the state file {} is locked by another edge-sim step ({held_by}); gave up after \
                         waiting {wait:?}; nothing was changed — retry, or raise --lock-wait",
                        display_path(state),
                    ))));
                }
                Err(Errno::INTR) => {}
                Err(errno) => {
                    return Err(anyhow!(std::io::Error::from(errno)))
                        .with_context(|| format!("cannot lock {name}"));
                }
            }
        }
        let mut file = std::fs::File::from(fd);
        let mut record = format!("{holder}\n").into_bytes();
        record.truncate(HOLDER_RECORD - 1);
        record.resize(HOLDER_RECORD - 1, b' ');
        record.push(b'\n');
        // Overwritten in place, never truncated; a failure here only loses the holder's name.
        let _ = file.seek(SeekFrom::Start(0)).and_then(|_| file.write_all(&record));
        Ok(StateLock { file })
    }
}

fn open_lock_file(path: &Path) -> Result<OwnedFd> {
    let flags = OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = rustix::fs::open(path, flags, Mode::from_raw_mode(0o644)).map_err(|errno| match errno {
        Errno::LOOP => anyhow!("it is a symbolic link; remove it (edge-sim creates the lock file itself)"),
        errno => anyhow!(std::io::Error::from(errno)),
    })?;
    let file = std::fs::File::from(fd);
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        bail!(
            "it is {}, not a regular file; remove it (edge-sim creates the lock file itself)",
            crate::limits::describe_kind(&metadata.file_type())
        );
    }
    if metadata.nlink() != 1 {
        bail!(
            "it has {} hard links, so writing to it would change another file; remove it (edge-sim creates \
             the lock file itself)",
            metadata.nlink()
        );
    }
    Ok(OwnedFd::from(file))
}

/// The holder record of a lock file, trimmed, if it reads as text.
fn read_holder(fd: &OwnedFd) -> Option<String> {
    let mut file = std::fs::File::from(fd.as_fd().try_clone_to_owned().ok()?);
    file.seek(SeekFrom::Start(0)).ok()?;
    let mut bytes = Vec::with_capacity(HOLDER_RECORD);
    file.take(crate::limits::LOCK_INFO_MAX).read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let line = text.lines().next()?.trim();
    (!line.is_empty()).then(|| crate::sanitize::display_text(line, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_waits_then_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s.json");
        let first = StateLock::acquire(&state, Duration::ZERO, "pid 1 since 2026-01-01T00:00:00Z").unwrap();
        let started = crate::clock::monotonic();
        let error = StateLock::acquire(&state, Duration::from_millis(50), "pid 2").err().unwrap();
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert!(error.is::<CheckFailed>() || error.chain().any(|cause| cause.is::<CheckFailed>()));
        assert!(
            error.to_string().contains("locked by another edge-sim step (pid 1 since 2026-01-01T00:00:00Z)"),
            "{error}"
        );
        drop(first);
        let third = StateLock::acquire(&state, Duration::ZERO, "pid 3").unwrap();
        // The record was overwritten in place: still one fixed-width line.
        let text = std::fs::read_to_string(lock_path(&state)).unwrap();
        assert_eq!((text.len(), text.trim_end()), (HOLDER_RECORD, "pid 3"));
        drop(third);
    }

    /// Audit gap 8: a finished step's record stayed in the lock file, so a step waiting on the
    /// next holder (between its flock and its record write) named a pid that was long gone.
    #[test]
    fn a_released_lock_names_no_holder() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s.json");
        drop(StateLock::acquire(&state, Duration::ZERO, "pid 1 since 2026-01-01T00:00:00Z").unwrap());
        let text = std::fs::read_to_string(lock_path(&state)).unwrap();
        assert_eq!((text.len(), text.trim()), (HOLDER_RECORD, ""));
        let fd = open_lock_file(&lock_path(&state)).unwrap();
        assert_eq!(read_holder(&fd), None);
    }

    #[test]
    fn odd_lock_files_are_refused_not_followed_or_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s.json");
        let outside = dir.path().join("precious");
        std::fs::write(&outside, b"keep me").unwrap();
        std::os::unix::fs::symlink(&outside, lock_path(&state)).unwrap();
        let error = format!("{:#}", StateLock::acquire(&state, Duration::ZERO, "x").err().unwrap());
        assert!(error.ends_with("it is a symbolic link; remove it (edge-sim creates the lock file itself)"));
        std::fs::remove_file(lock_path(&state)).unwrap();
        std::fs::hard_link(&outside, lock_path(&state)).unwrap();
        let error = format!("{:#}", StateLock::acquire(&state, Duration::ZERO, "x").err().unwrap());
        assert!(error.contains("it has 2 hard links"), "{error}");
        assert_eq!(std::fs::read(&outside).unwrap(), b"keep me");
        std::fs::remove_file(lock_path(&state)).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            lock_path(&state),
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let error = format!("{:#}", StateLock::acquire(&state, Duration::ZERO, "x").err().unwrap());
        assert!(error.ends_with(
            "it is a FIFO, not a regular file; remove it (edge-sim creates the lock file itself)"
        ));
    }
}
