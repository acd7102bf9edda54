//! The part that changes the disk: the run lock, re-checking and deleting planned files relative
//! to an open handle of their folder, and pruning folders the run left empty.

use std::collections::BinaryHeap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use rustix::fs::{
    AtFlags, Dir, FileType, Mode, OFlags, RenameFlags, ResolveFlags, Stat, StatxFlags, fstat, mkdirat,
    openat, openat2, renameat_with, statat, statx, unlinkat,
};
use rustix::io::Errno;
use serde::Serialize;

use super::scan::{BaseDir, FileEntry, Identity, LOCK_FILE_NAME, QUARANTINE_PREFIX, ROOT, Scan, statx_mount};

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
    /// Replaced while being deleted, and its name taken again before it could go back: kept in
    /// the quarantine folder (never deleted), for the operator to move back.
    Quarantined,
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
            FileResult::Quarantined => "quarantined",
        }
    }
}

use crate::limits::LOCK_INFO_MAX;

/// The exclusive lock of a real run, held until dropped. The lock is an OS lock on the open
/// file, so a lock file left behind by a killed run is harmless: the kernel released its lock.
pub(crate) struct RunLock {
    _file: File,
}

/// Another run held the lock for all of `--wait-lock`: exit 1, reported with its own marker row
/// (`ROTATE=LOCKED`), nothing deleted.
#[derive(Debug)]
pub(crate) struct LockHeld {
    /// What is held: `lock` (a lock file) or `lease` (the lease object of an `s3://` base dir).
    pub kind: &'static str,
    /// The lock file (or lease object) as printed.
    pub lock: String,
    /// What the holder wrote into it (`pid 4242`), escaped; empty when unknown.
    pub holder: String,
    /// How long this run waited (its `--wait-lock`).
    pub waited: Duration,
}

impl std::fmt::Display for LockHeld {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let holder = if self.holder.is_empty() { String::new() } else { format!(" ({})", self.holder) };
        write!(formatter, "another rotation holds the {} {}{holder}; ", self.kind, self.lock)?;
        if self.waited.is_zero() {
            write!(
                formatter,
                "did not wait (no --wait-lock); nothing was deleted — let it finish, or wait for it with --wait-lock 10m"
            )
        } else {
            // The requested wait, not the measured one: the message stays the same run to run.
            let waited = humantime::format_duration(self.waited);
            write!(
                formatter,
                "gave up after waiting {waited} (--wait-lock); nothing was deleted — let it finish, or wait longer with --wait-lock"
            )
        }
    }
}

impl std::error::Error for LockHeld {}

/// The wait for a run lock ended early because the run was interrupted.
#[derive(Debug)]
pub(crate) struct LockWaitStopped;

impl std::fmt::Display for LockWaitStopped {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("interrupted while waiting for its lock")
    }
}

impl std::error::Error for LockWaitStopped {}

/// The longest `--wait-lock` accepted: beyond it a typo (or an overflow) rather than a plan.
pub(crate) const MAX_WAIT_LOCK: Duration = Duration::from_secs(7 * 86_400);

impl RunLock {
    /// Takes the lock inside the base dir, waiting up to `wait` for another run to finish.
    /// A lock still held after that is a [`LockHeld`] error naming the lock file and the wait
    /// (`waited`, the `--wait-lock` that `deadline` came from).
    /// `stop` ends the wait early (an interrupt during a run with several base dirs): a
    /// [`LockWaitStopped`] error.
    pub fn acquire(
        base: &BaseDir,
        deadline: Instant,
        waited: Duration,
        stop: &dyn Fn() -> bool,
    ) -> Result<RunLock> {
        let lock_path = base.path.join(LOCK_FILE_NAME);
        let shown = crate::sanitize::display_path(&lock_path);
        let mut file = open_lock_file(base.handle.as_fd(), OsStr::new(LOCK_FILE_NAME), &shown)?;
        if !wait_for_lock_unless(&file, deadline, stop)
            .map_err(|error| anyhow!("cannot lock {shown}: {error}"))?
        {
            if stop() {
                return Err(anyhow::Error::new(LockWaitStopped));
            }
            let holder = read_holder(&mut file);
            return Err(anyhow::Error::new(LockHeld {
                kind: "lock",
                lock: shown,
                holder,
                waited: waited.min(MAX_WAIT_LOCK),
            }));
        }
        // Who holds it, for the message a second run prints. Best effort: the lock is what counts.
        // Safe to write: `open_lock_file` proved it is a regular file with no other name.
        let _ = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "pid {}", std::process::id()));
        Ok(RunLock { _file: file })
    }
}

/// When a run stops waiting for its locks: `--wait-lock` from now (capped by the caller; an
/// overflow never panics). One deadline covers the run lock and the archive lock together.
pub(crate) fn lock_deadline(wait: Duration) -> Instant {
    let now = crate::clock::monotonic();
    now.checked_add(wait.min(MAX_WAIT_LOCK)).unwrap_or(now)
}

/// Takes the OS lock on `file`, trying again every [`LOCK_POLL`] until `deadline`. `Ok(false)`
/// when another process still holds it then: no lock of mmops ever blocks without a bound.
pub(crate) fn wait_for_lock(file: &File, deadline: Instant) -> std::io::Result<bool> {
    wait_for_lock_unless(file, deadline, &|| false)
}

/// [`wait_for_lock`] that also gives up (`Ok(false)`) as soon as `stop` says so.
fn wait_for_lock_unless(file: &File, deadline: Instant, stop: &dyn Fn() -> bool) -> std::io::Result<bool> {
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(true),
            Err(std::fs::TryLockError::WouldBlock) if crate::clock::monotonic() < deadline && !stop() => {
                std::thread::sleep(
                    LOCK_POLL.min(deadline.saturating_duration_since(crate::clock::monotonic())),
                );
            }
            Err(std::fs::TryLockError::WouldBlock) => return Ok(false),
            Err(std::fs::TryLockError::Error(error)) => return Err(error),
        }
    }
}

/// At most [`LOCK_INFO_MAX`] bytes of who holds a lock, escaped for printing.
pub(crate) fn read_holder(file: &mut File) -> String {
    let mut bytes = Vec::new();
    let _ = file.rewind().and_then(|_| file.take(LOCK_INFO_MAX).read_to_end(&mut bytes));
    crate::sanitize::display_text(String::from_utf8_lossy(&bytes).trim(), false)
}

/// Opens (creating it when missing) a lock file in `dir` without trusting what is there: never
/// through a symlink, never a FIFO or a device (a FIFO would block the read for ever, a device
/// could be read until memory runs out), never a file with a second name elsewhere (writing the
/// holder info would change that other file). Anything else is refused, exit 2, before a byte is
/// read or written.
pub(crate) fn open_lock_file(dir: BorrowedFd<'_>, name: &OsStr, shown: &str) -> Result<File> {
    let cannot = |errno: Errno| anyhow!("cannot open the lock file {shown}: {}", std::io::Error::from(errno));
    let flags = OFlags::RDWR | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    for _ in 0..8 {
        match openat(dir, name, flags | OFlags::CREATE | OFlags::EXCL, Mode::from_raw_mode(0o644)) {
            Ok(handle) => return Ok(File::from(handle)),
            Err(Errno::EXIST) => {}
            Err(errno) => return Err(cannot(errno)),
        }
        // It exists: look at it without opening it for reading or writing (O_PATH opens neither
        // a device nor a FIFO, and with O_NOFOLLOW it opens a symlink itself).
        let probe = match openat(dir, name, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
        {
            Ok(probe) => probe,
            Err(Errno::NOENT) => continue, // removed meanwhile: create it
            Err(errno) => return Err(cannot(errno)),
        };
        let seen = fstat(&probe).map_err(cannot)?;
        check_lock_stat(&seen, shown)?;
        let handle = match openat(dir, name, flags, Mode::empty()) {
            Ok(handle) => handle,
            Err(Errno::NOENT) => continue,
            Err(Errno::LOOP) => {
                bail!("{shown}: the lock file is a symlink; remove it (rotate creates the lock file itself)")
            }
            Err(errno) => return Err(cannot(errno)),
        };
        let opened = fstat(&handle).map_err(cannot)?;
        check_lock_stat(&opened, shown)?;
        if Identity::of(&opened) == Identity::of(&seen) {
            return Ok(File::from(handle));
        }
        // Swapped between the two opens: look again.
    }
    bail!("{shown}: the lock file keeps being replaced while it is opened; find what rewrites it")
}

/// Refuses, before anything is changed anywhere, a lock file in the base dir that the real run
/// would refuse to open (a symlink, a FIFO, a hard link …): checked without creating or opening
/// it, so a dry run and the first roots of a run with several `--base-dir` stop with exit 2 as
/// the real run of that base dir would, instead of rotating the others first.
pub(crate) fn check_lock_file(base: &BaseDir) -> Result<()> {
    check_lock_at(base.handle.as_fd(), Path::new(LOCK_FILE_NAME), &base.path.join(LOCK_FILE_NAME))
}

/// [`check_lock_file`] for the lock file at `path` relative to `dir` (shown as `shown`).
pub(crate) fn check_lock_at(dir: BorrowedFd<'_>, path: &Path, shown: &Path) -> Result<()> {
    let shown = crate::sanitize::display_path(shown);
    match statat(dir, path, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => check_lock_stat(&stat, &shown),
        Err(Errno::NOENT) => Ok(()),
        Err(errno) => Err(anyhow!("cannot look at the lock file {shown}: {}", std::io::Error::from(errno))),
    }
}

fn check_lock_stat(stat: &Stat, shown: &str) -> Result<()> {
    let kind = match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile => None,
        FileType::Symlink => Some("a symlink"),
        FileType::Fifo => Some("a FIFO"),
        FileType::CharacterDevice => Some("a character device"),
        FileType::BlockDevice => Some("a block device"),
        FileType::Socket => Some("a socket"),
        FileType::Directory => Some("a folder"),
        FileType::Unknown => Some("of an unknown kind"),
    };
    if let Some(kind) = kind {
        bail!(
            "{shown}: the lock file is {kind}, not a regular file; remove it (rotate creates the lock file itself)"
        );
    }
    if stat.st_nlink != 1 {
        bail!(
            "{shown}: the lock file has {} hard links (another name, maybe outside this folder, is the same file); \
             remove it (rotate creates the lock file itself)",
            stat.st_nlink
        );
    }
    Ok(())
}

/// Whether `openat2` works here; cleared on the first `ENOSYS` (kernels before 5.6).
static OPENAT2_AVAILABLE: AtomicBool = AtomicBool::new(true);

/// Opens the folder `name` (one component) inside `parent`: never through a symlink, never
/// across a mount, never outside `parent`.
fn open_component(parent: BorrowedFd<'_>, name: &OsStr) -> Result<OwnedFd, Errno> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    if OPENAT2_AVAILABLE.load(Ordering::Relaxed) {
        let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_XDEV;
        match openat2(parent, name, flags, Mode::empty(), resolve) {
            Err(Errno::NOSYS) => OPENAT2_AVAILABLE.store(false, Ordering::Relaxed),
            // Retried by the kernel's own rule when a rename raced the lookup.
            Err(Errno::AGAIN) => return openat(parent, name, flags, Mode::empty()),
            other => return other,
        }
    }
    openat(parent, name, flags, Mode::empty())
}

/// Opens scanned folders from the base dir's handle one component at a time, each checked to be
/// the folder that was scanned (same device and inode, same mount as the base dir). A symlink or
/// a mount swapped in at any depth is therefore never followed, and no path is ever longer than
/// one name, so depth has no length limit (PATH_MAX). Keeps the handles of the last folder's
/// chain, so folder-by-folder visits open each folder once.
pub(crate) struct DirOpener<'a> {
    base: &'a BaseDir,
    scan: &'a Scan,
    chain: Vec<(u32, OwnedFd)>,
}

impl<'a> DirOpener<'a> {
    pub fn new(base: &'a BaseDir, scan: &'a Scan) -> DirOpener<'a> {
        DirOpener { base, scan, chain: Vec::new() }
    }

    /// The handle of scanned folder `dir`, `Ok(None)` when it vanished or is no longer the
    /// scanned folder (its files are then kept).
    pub fn open(&mut self, dir: u32) -> std::io::Result<Option<BorrowedFd<'_>>> {
        if dir == ROOT {
            return Ok(Some(self.base.handle.as_fd()));
        }
        let mut path = Vec::new();
        let mut current = dir;
        while current != ROOT {
            path.push(current);
            current = self.scan.dirs[current as usize].parent;
        }
        path.reverse();
        let common = self.chain.iter().zip(&path).take_while(|((open, _), wanted)| open == *wanted).count();
        self.chain.truncate(common);
        for &wanted in &path[common..] {
            let record = &self.scan.dirs[wanted as usize];
            let parent = self.chain.last().map_or(self.base.handle.as_fd(), |(_, handle)| handle.as_fd());
            let Some(name) = record.relative.file_name() else { return Ok(None) };
            let handle = match open_component(parent, name) {
                Ok(handle) => handle,
                Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP | Errno::XDEV) => return Ok(None),
                Err(errno) => return Err(errno.into()),
            };
            let found =
                statx(&handle, "", AtFlags::EMPTY_PATH, StatxFlags::BASIC_STATS | StatxFlags::MNT_ID)?;
            let identity = Identity {
                device: rustix::fs::makedev(found.stx_dev_major, found.stx_dev_minor),
                inode: found.stx_ino,
            };
            if identity != record.identity || !self.base.same_mount(statx_mount(&found)) {
                return Ok(None);
            }
            self.chain.push((wanted, handle));
        }
        Ok(self.chain.last().map(|(_, handle)| handle.as_fd()))
    }
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

/// A private folder at the top of the base dir, `.mmops-quarantine-<pid>-<random>` (mode 0700,
/// hidden, never scanned), where a planned file is moved before it is unlinked: a name is only
/// unlinked after the inode under it was checked, and nobody else can put a file under a name
/// in here. One subfolder `<n>` per source folder (per piece of one, when threads share a large
/// folder) keeps the original names; `<n>.origin`, written before `<n>` exists, holds the source
/// folder's path relative to the base dir, so a killed run's quarantine can be put back by the
/// next run. Dropping it removes the folder when it is
/// empty, on every path out of the run (an error after it was made included).
pub(crate) struct Quarantine<'a> {
    base: BorrowedFd<'a>,
    handle: OwnedFd,
    name: String,
    next_folder: AtomicU32,
}

impl<'a> Quarantine<'a> {
    pub fn create(base: &'a BaseDir) -> Result<Quarantine<'a>> {
        let random = std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), 0u8);
        let name = format!("{QUARANTINE_PREFIX}{}-{:08x}", std::process::id(), random as u32);
        let shown = crate::sanitize::display_path(&base.path.join(&name));
        mkdirat(&base.handle, name.as_str(), Mode::from_raw_mode(0o700)).map_err(|errno| {
            anyhow!("cannot create the quarantine folder {shown}: {}", std::io::Error::from(errno))
        })?;
        let handle = open_component(base.handle.as_fd(), OsStr::new(&name)).map_err(|errno| {
            anyhow!("cannot open the quarantine folder {shown}: {}", std::io::Error::from(errno))
        })?;
        Ok(Quarantine { base: base.handle.as_fd(), handle, name, next_folder: AtomicU32::new(0) })
    }

    /// The quarantine's name, relative to the base dir.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A new subfolder for the files of source folder `relative`.
    fn folder_for(&self, relative: &Path) -> std::io::Result<(OwnedFd, String)> {
        let number = self.next_folder.fetch_add(1, Ordering::Relaxed);
        let folder = number.to_string();
        let origin = format!("{number}.origin");
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let record = openat(&self.handle, origin.as_str(), flags, Mode::from_raw_mode(0o600))?;
        File::from(record).write_all(relative.as_os_str().as_encoded_bytes())?;
        mkdirat(&self.handle, folder.as_str(), Mode::from_raw_mode(0o700))?;
        Ok((open_component(self.handle.as_fd(), OsStr::new(&folder))?, folder))
    }

    /// Removes what this run no longer needs. Returns what is left inside (files whose name was
    /// taken meanwhile, anything else found there), as paths relative to the base dir, sorted;
    /// the folder itself goes on drop when it is empty.
    pub fn finish(self) -> Vec<PathBuf> {
        tidy_quarantine(self.handle.as_fd(), Path::new(&self.name))
    }
}

impl Drop for Quarantine<'_> {
    fn drop(&mut self) {
        // Only an empty folder can be removed: whatever is still inside stays for the operator.
        let _ = unlinkat(self.base, self.name.as_str(), AtFlags::REMOVEDIR);
    }
}

/// Whether `name` is a quarantine subfolder name this code makes: a decimal number.
fn is_slot_number(name: &[u8]) -> bool {
    !name.is_empty() && name.len() <= 10 && name.iter().all(u8::is_ascii_digit)
}

/// The quarantine's own entries: `<n>` subfolders and `<n>.origin` records (n a number), and
/// everything else found in it (never touched, reported).
struct QuarantineEntries {
    folders: Vec<std::ffi::OsString>,
    origins: Vec<std::ffi::OsString>,
    foreign: Vec<std::ffi::OsString>,
}

fn read_quarantine(handle: BorrowedFd<'_>) -> QuarantineEntries {
    let mut entries = QuarantineEntries { folders: Vec::new(), origins: Vec::new(), foreign: Vec::new() };
    let Ok(mut reader) = Dir::read_from(handle) else { return entries };
    while let Some(Ok(entry)) = reader.read() {
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        match name.strip_suffix(b".origin") {
            Some(number) if is_slot_number(number) => {
                entries.origins.push(OsStr::from_bytes(number).to_os_string());
            }
            _ if is_slot_number(name) => entries.folders.push(OsStr::from_bytes(name).to_os_string()),
            _ => entries.foreign.push(OsStr::from_bytes(name).to_os_string()),
        }
    }
    entries.folders.sort();
    entries.origins.sort();
    entries
}

/// Removes empty `<n>` subfolders and their `<n>.origin` records (only those: a name of any other
/// form is not ours and stays); returns what is still inside, sorted.
fn tidy_quarantine(handle: BorrowedFd<'_>, shown_as: &Path) -> Vec<PathBuf> {
    let QuarantineEntries { folders, origins, foreign } = read_quarantine(handle);
    let mut left: Vec<PathBuf> = foreign.iter().map(|name| shown_as.join(name)).collect();
    // A record whose folder was never made (killed between the two steps) guards nothing.
    for number in origins.iter().filter(|number| !folders.contains(number)) {
        let mut origin = number.clone();
        origin.push(".origin");
        let _ = unlinkat(handle, origin.as_os_str(), AtFlags::empty());
    }
    for folder in folders {
        match unlinkat(handle, folder.as_os_str(), AtFlags::REMOVEDIR) {
            Ok(()) => {
                let mut origin = folder.clone();
                origin.push(".origin");
                let _ = unlinkat(handle, origin.as_os_str(), AtFlags::empty());
            }
            Err(_) => {
                let before = left.len();
                if let Ok(sub) = open_component(handle, &folder)
                    && let Ok(mut reader) = Dir::read_from(&sub)
                {
                    while let Some(Ok(entry)) = reader.read() {
                        let name = entry.file_name().to_bytes();
                        if name != b"." && name != b".." {
                            left.push(shown_as.join(&folder).join(OsStr::from_bytes(name)));
                        }
                    }
                }
                if left.len() == before {
                    // Not a folder we can read (a file named like a subfolder): name it whole.
                    left.push(shown_as.join(&folder));
                }
            }
        }
    }
    left.sort();
    left
}

/// What the next run did with the quarantine of a run that was killed.
#[derive(Debug, Default)]
pub(crate) struct Restored {
    /// Files moved back to the name they had.
    pub restored: u64,
    /// Files that stay in a quarantine (name taken, folder gone): relative to the base dir.
    pub left: Vec<PathBuf>,
    /// Quarantines of a process that still exists (left alone), relative to the base dir.
    pub live: Vec<PathBuf>,
    /// Folders named like a quarantine that this user did not make as one (another owner, a
    /// mode other than 0700, a malformed name, not a folder): left alone, never entered.
    pub foreign: Vec<(PathBuf, &'static str)>,
}

/// Why a folder named like a quarantine is not treated as one, or `None` when it looks like
/// ours: `.mmops-quarantine-<pid>-<8 hex digits>`, a folder owned by this user, mode 0700.
fn not_our_quarantine(name: &OsStr, stat: Option<&Stat>) -> Option<&'static str> {
    let well_formed =
        name.to_str().and_then(|name| name.strip_prefix(QUARANTINE_PREFIX)).is_some_and(|rest| {
            rest.split_once('-').is_some_and(|(pid, random)| {
                is_slot_number(pid.as_bytes())
                    && random.len() == 8
                    && random.bytes().all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
            })
        });
    if !well_formed {
        return Some("its name is not one rotate makes");
    }
    let Some(stat) = stat else { return Some("it is not a folder rotate can open") };
    if stat.st_uid != rustix::process::geteuid().as_raw() {
        return Some("it belongs to another user");
    }
    if stat.st_mode & 0o7777 != 0o700 {
        return Some("its mode is not 0700");
    }
    None
}

/// The most a quarantine origin record holds (a path of 256 levels of 255-byte names).
const ORIGIN_MAX: u64 = 128 * 1024;

/// Puts back the files of quarantines left by runs that were killed (their process is gone):
/// each file returns to the folder and name it came from, never replacing anything. Nothing in a
/// quarantine is ever deleted. Called with the run lock held, so no other rotation is running.
pub(crate) fn restore_dead_quarantines(base: &BaseDir) -> Restored {
    let mut restored = Restored::default();
    let Ok(mut reader) = Dir::read_from(&base.handle) else { return restored };
    let mut names = Vec::new();
    while let Some(Ok(entry)) = reader.read() {
        let name = OsStr::from_bytes(entry.file_name().to_bytes());
        if name.as_bytes().starts_with(QUARANTINE_PREFIX.as_bytes()) {
            let pid = name
                .to_str()
                .and_then(|name| name.strip_prefix(QUARANTINE_PREFIX))
                .and_then(|rest| rest.split_once('-'))
                .and_then(|(pid, _)| pid.parse::<i32>().ok());
            names.push((name.to_os_string(), pid));
        }
    }
    names.sort();
    for (name, pid) in names {
        // Whether it is ours at all comes first: a folder rotate did not make is never entered,
        // whatever pid its name carries.
        let quarantine = open_component(base.handle.as_fd(), &name).ok();
        let stat = quarantine.as_ref().and_then(|handle| fstat(handle).ok());
        if let Some(reason) = not_our_quarantine(&name, stat.as_ref()) {
            restored.foreign.push((PathBuf::from(&name), reason));
            continue;
        }
        let alive = pid.is_some_and(|pid| {
            pid == std::process::id() as i32
                || rustix::process::Pid::from_raw(pid)
                    .is_some_and(|pid| !matches!(rustix::process::test_kill_process(pid), Err(Errno::SRCH)))
        });
        if alive {
            restored.live.push(PathBuf::from(&name));
            continue;
        }
        let Some(quarantine) = quarantine else { continue };
        restore_quarantine(base, quarantine.as_fd(), &mut restored);
        let left = tidy_quarantine(quarantine.as_fd(), Path::new(&name));
        if left.is_empty() {
            let _ = unlinkat(&base.handle, name.as_os_str(), AtFlags::REMOVEDIR);
        }
        restored.left.extend(left);
    }
    restored.left.sort();
    restored
}

fn restore_quarantine(base: &BaseDir, quarantine: BorrowedFd<'_>, restored: &mut Restored) {
    for folder in read_quarantine(quarantine).origins {
        let mut origin_name = folder.clone();
        origin_name.push(".origin");
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let Ok(origin) = openat(quarantine, origin_name.as_os_str(), flags, Mode::empty()) else { continue };
        let mut bytes = Vec::new();
        if File::from(origin).take(ORIGIN_MAX).read_to_end(&mut bytes).is_err() {
            continue;
        }
        let Ok(source) = open_component(quarantine, &folder) else { continue };
        // Walk to the source folder one name at a time, as the deleter does.
        let mut target: Option<OwnedFd> = None;
        let mut reachable = true;
        for component in Path::new(OsStr::from_bytes(&bytes)).components() {
            let std::path::Component::Normal(component) = component else {
                reachable = false;
                break;
            };
            let parent = target.as_ref().map_or(base.handle.as_fd(), |handle| handle.as_fd());
            match open_component(parent, component) {
                Ok(handle) => target = Some(handle),
                Err(_) => {
                    reachable = false;
                    break;
                }
            }
        }
        if !reachable {
            continue;
        }
        let target = target.as_ref().map_or(base.handle.as_fd(), |handle| handle.as_fd());
        let Ok(mut entries) = Dir::read_from(&source) else { continue };
        let mut files = Vec::new();
        while let Some(Ok(entry)) = entries.read() {
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." {
                files.push(OsStr::from_bytes(name).to_os_string());
            }
        }
        for file in files {
            if renameat_with(&source, file.as_os_str(), target, file.as_os_str(), RenameFlags::NOREPLACE)
                .is_ok()
            {
                restored.restored += 1;
            }
        }
    }
}

/// Where one folder's planned files go before they are unlinked; the subfolder is made on the
/// first file that needs it.
struct QuarantineSlot<'q> {
    quarantine: &'q Quarantine<'q>,
    folder: Option<(OwnedFd, String)>,
}

impl QuarantineSlot<'_> {
    /// Removes the subfolder and its origin record once the folder's files are done. Only an
    /// empty subfolder goes (rmdir refuses otherwise); one holding a file stays for
    /// [`Quarantine::finish`] to report.
    fn release(&mut self) {
        let Some((handle, folder)) = self.folder.take() else { return };
        drop(handle);
        if unlinkat(&self.quarantine.handle, folder.as_str(), AtFlags::REMOVEDIR).is_ok() {
            let _ = unlinkat(&self.quarantine.handle, format!("{folder}.origin").as_str(), AtFlags::empty());
        }
    }
}

/// Re-checks and deletes one file relative to its folder's handle: stat (a file already
/// replaced is left where it is), rename into the quarantine, check the moved inode there, and
/// only then unlink it. A file that is not the planned one (renamed over the planned name in
/// between) goes back under its name without replacing anything, or stays in the quarantine
/// when that name was taken meanwhile.
fn delete_file(
    dir: BorrowedFd<'_>,
    relative: &Path,
    name: &OsStr,
    file: &FileEntry,
    device: u64,
    slot: &mut QuarantineSlot<'_>,
) -> Attempt {
    let failed = |errno: Errno| (FileResult::Failed, Some(std::io::Error::from(errno).to_string()));
    match statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Err(Errno::NOENT) => return (FileResult::Vanished, None),
        Err(errno) => return failed(errno),
        Ok(stat) if !is_same_file(&stat, file, device) => return (FileResult::Changed, None),
        Ok(_) => {}
    }
    quarantine_and_unlink(dir, relative, name, file, device, slot, || {})
}

/// The part of [`delete_file`] after the pre-check: the planned name may hold any file by now.
/// `after_move` runs while the file sits in the quarantine (tests race there).
fn quarantine_and_unlink(
    dir: BorrowedFd<'_>,
    relative: &Path,
    name: &OsStr,
    file: &FileEntry,
    device: u64,
    slot: &mut QuarantineSlot<'_>,
    after_move: impl FnOnce(),
) -> Attempt {
    let failed = |errno: Errno| (FileResult::Failed, Some(std::io::Error::from(errno).to_string()));
    if slot.folder.is_none() {
        match slot.quarantine.folder_for(relative) {
            Ok(folder) => slot.folder = Some(folder),
            // The file went too (the base dir removed with the quarantine in it): gone, not failed.
            Err(_) if matches!(statat(dir, name, AtFlags::SYMLINK_NOFOLLOW), Err(Errno::NOENT)) => {
                return (FileResult::Vanished, None);
            }
            Err(error) => {
                return (FileResult::Failed, Some(format!("cannot prepare the quarantine: {error}")));
            }
        }
    }
    let Some((quarantine, folder)) = &slot.folder else { unreachable!("set above") };
    match renameat_with(dir, name, quarantine, name, RenameFlags::NOREPLACE) {
        Ok(()) => {}
        Err(Errno::NOENT) => return (FileResult::Vanished, None),
        Err(errno) => return failed(errno),
    }
    after_move();
    let unlink_error = match statat(quarantine, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) if is_same_file(&stat, file, device) => match unlinkat(quarantine, name, AtFlags::empty()) {
            Ok(()) => return (FileResult::Deleted, None),
            // Removed from under us (the whole base dir going, say): gone, not ours to report.
            Err(Errno::NOENT) => return (FileResult::Vanished, None),
            Err(errno) => Some(errno),
        },
        Err(Errno::NOENT) => return (FileResult::Vanished, None),
        _ => None,
    };
    // Not the planned file (someone renamed another file over the name after the stat above),
    // or the planned one could not be unlinked: either way it goes back under its name.
    match renameat_with(quarantine, name, dir, name, RenameFlags::NOREPLACE) {
        Ok(()) => match unlink_error {
            Some(errno) => failed(errno),
            None => (FileResult::Changed, None),
        },
        // The file left the quarantine meanwhile (removed with the base dir): nothing is kept.
        Err(Errno::NOENT)
            if matches!(statat(quarantine, name, AtFlags::SYMLINK_NOFOLLOW), Err(Errno::NOENT)) =>
        {
            (FileResult::Vanished, None)
        }
        Err(errno) => {
            let kept =
                crate::sanitize::display_path(&Path::new(slot.quarantine.name()).join(folder).join(name));
            let why = match unlink_error {
                Some(unlink) => format!(
                    "it could not be unlinked in the quarantine ({}) nor moved back ({})",
                    std::io::Error::from(unlink),
                    std::io::Error::from(errno)
                ),
                None if errno == Errno::EXIST => {
                    "it was replaced while being deleted and its name is taken again".to_string()
                }
                None => format!(
                    "it was replaced while being deleted and could not be moved back ({})",
                    std::io::Error::from(errno)
                ),
            };
            (FileResult::Quarantined, Some(format!("{why}; kept as {kept}")))
        }
    }
}

/// Below this many files one thread deletes them all (a second thread costs more than it saves).
const PARALLEL_THRESHOLD: usize = 4_096;

/// At most this many deleting threads. Moving a file into the quarantine is a cross-folder rename,
/// which the kernel serialises per filesystem; a thread or two more than the cores keeps a core
/// busy with checks and unlinks while another thread waits for that lock.
const MAX_DELETE_THREADS: usize = 4;

/// The most files of one folder a thread takes at a time.
const FILES_PER_UNIT: usize = 2_048;

/// Deletes the given files (indices into `scan.files`), folder by folder, and returns one
/// attempt per entry of `selected`, in the same order. `on_each` is called after each file and
/// returns whether to go on; once it says stop, the remaining files are `Interrupted` and kept.
/// Large runs share the folders between threads, each taking the next folder when it is done
/// with one (the quarantine checks cost syscalls that `find -delete` does not make; the other
/// cores pay for them). The attempts land by position, so the report does not depend on which
/// thread did what.
pub(crate) fn delete_files(
    base: &BaseDir,
    scan: &Scan,
    quarantine: &Quarantine<'_>,
    selected: &[u32],
    on_each: impl Fn() -> bool + Sync,
) -> Vec<Attempt> {
    let mut attempts: Vec<Attempt> = vec![(FileResult::Interrupted, None); selected.len()];
    // Visit folder by folder so each folder is opened (and checked) once.
    let mut by_dir: Vec<usize> = (0..selected.len()).collect();
    by_dir.sort_by_key(|&position| {
        let file = &scan.files[selected[position] as usize];
        (file.dir, file.walk_order)
    });
    let dir_of = |position: usize| scan.files[selected[position] as usize].dir;
    // Work units: a folder's files, a large folder cut into pieces so that one flat folder of
    // 100,000 logs keeps every thread busy too (each piece gets its own quarantine subfolder).
    let folders: Vec<&[usize]> = by_dir
        .chunk_by(|&left, &right| dir_of(left) == dir_of(right))
        .flat_map(|folder| folder.chunks(FILES_PER_UNIT))
        .collect();
    let stop = AtomicBool::new(false);
    let go_on = || {
        let going = !stop.load(Ordering::Relaxed) && on_each();
        if !going {
            stop.store(true, Ordering::Relaxed);
        }
        going
    };
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        let mut opener = DirOpener::new(base, scan);
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(positions) = folders.get(index) else { break };
            if !delete_folder_files(
                base,
                scan,
                quarantine,
                selected,
                positions,
                &mut opener,
                &go_on,
                &mut done,
            ) {
                break;
            }
        }
        done
    };
    let threads = if by_dir.len() < PARALLEL_THRESHOLD {
        1
    } else {
        crate::stats::worker_count(2, MAX_DELETE_THREADS).min(folders.len())
    };
    let parts: Vec<Vec<(usize, Attempt)>> = if threads <= 1 {
        vec![work()]
    } else {
        std::thread::scope(|scope| {
            let others: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
            let mut parts = vec![work()];
            // A panic in another thread is a bug: surface it rather than report a guess.
            parts.extend(
                others
                    .into_iter()
                    .map(|other| other.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))),
            );
            parts
        })
    };
    for (position, attempt) in parts.into_iter().flatten() {
        attempts[position] = attempt;
    }
    attempts
}

/// Deletes one folder's files at `positions` (in walk order), pushing their attempts to `done`;
/// returns false once `go_on` says stop. The folder's quarantine subfolder is removed as soon as
/// its files are done (while the other threads work), so the run's end has little left to tidy.
#[allow(clippy::too_many_arguments)]
fn delete_folder_files(
    base: &BaseDir,
    scan: &Scan,
    quarantine: &Quarantine<'_>,
    selected: &[u32],
    positions: &[usize],
    opener: &mut DirOpener<'_>,
    go_on: &impl Fn() -> bool,
    done: &mut Vec<(usize, Attempt)>,
) -> bool {
    let Some(&first) = positions.first() else { return true };
    let dir = scan.files[selected[first] as usize].dir;
    let relative = &scan.dirs[dir as usize].relative;
    let handle = opener.open(dir);
    let mut slot = QuarantineSlot { quarantine, folder: None };
    let mut going = true;
    for &position in positions {
        let file = &scan.files[selected[position] as usize];
        let attempt = match &handle {
            Ok(Some(handle)) => {
                delete_file(*handle, relative, scan.name(file), file, base.identity.device, &mut slot)
            }
            Ok(None) => (FileResult::Changed, None),
            Err(error) => (FileResult::Failed, Some(format!("cannot open its folder: {error}"))),
        };
        done.push((position, attempt));
        if !go_on() {
            going = false;
            break;
        }
    }
    slot.release();
    going
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
    let mut opener = DirOpener::new(base, scan);
    while let Some((_, dir)) = queue.pop() {
        let record = &scan.dirs[dir as usize];
        let Ok(Some(parent)) = opener.open(record.parent) else { continue };
        let Some(name) = record.relative.file_name() else { continue };
        match statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) if Identity::of(&stat) == record.identity => {}
            _ => continue, // replaced or gone: not the folder we emptied
        }
        match unlinkat(parent, name, AtFlags::REMOVEDIR) {
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

/// What deleting one `unit: dir` folder did.
pub(crate) struct FolderOutcome {
    /// One attempt per file of the unit, in the unit's order.
    pub attempts: Vec<Attempt>,
    /// Folders removed (the unit and the folders inside it), relative to the base dir.
    pub removed: Vec<PathBuf>,
    /// Why the folder (or part of it) is still there, when it is.
    pub problem: Option<String>,
}

/// Deletes one `unit: dir` folder whole: first re-reads every folder inside it and checks that
/// it holds exactly the planned files (same inode, size, mtime) and folders, nothing more or
/// less; if anything changed the whole folder is kept and every file reported `changed`. Then
/// each file goes through the same quarantine-and-check as any planned file, and the emptied
/// folders are removed deepest first (a file written in after the check keeps its folder).
pub(crate) fn delete_folder_unit(
    base: &BaseDir,
    scan: &Scan,
    quarantine: &Quarantine,
    children: &[Vec<u32>],
    unit_dir: u32,
    files: &[u32],
    on_each: impl Fn() -> bool + Sync,
) -> FolderOutcome {
    // The unit folder first, then every folder below it.
    let mut subtree = vec![unit_dir];
    let mut next = 0;
    while next < subtree.len() {
        subtree.extend_from_slice(&children[subtree[next] as usize]);
        next += 1;
    }
    let shown = crate::sanitize::display_path(&scan.dirs[unit_dir as usize].relative);
    if let Err(why) = check_folder_unchanged(base, scan, &subtree, files) {
        return FolderOutcome {
            attempts: vec![
                (
                    FileResult::Changed,
                    Some(format!("its folder {shown} changed during the run ({why}); kept whole"))
                );
                files.len()
            ],
            removed: Vec::new(),
            problem: Some(format!("folder {shown} changed during the run ({why}); kept whole")),
        };
    }
    let attempts = delete_files(base, scan, quarantine, files, on_each);
    let mut outcome = FolderOutcome { attempts, removed: Vec::new(), problem: None };
    if outcome
        .attempts
        .iter()
        .any(|(result, _)| !matches!(result, FileResult::Deleted | FileResult::Vanished))
    {
        outcome.problem = Some(format!("folder {shown} was not deleted whole: some of its files were kept"));
        return outcome;
    }
    subtree.sort_by_key(|&dir| std::cmp::Reverse(scan.dirs[dir as usize].depth));
    let mut opener = DirOpener::new(base, scan);
    for dir in subtree {
        let record = &scan.dirs[dir as usize];
        let (Ok(Some(parent)), Some(name)) = (opener.open(record.parent), record.relative.file_name()) else {
            outcome.problem = Some(format!(
                "folder {shown}: cannot open {}",
                crate::sanitize::display_path(&record.relative)
            ));
            break;
        };
        match statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) if Identity::of(&stat) == record.identity => {}
            _ => {
                outcome.problem = Some(format!(
                    "folder {shown}: {} was replaced during the run; kept",
                    crate::sanitize::display_path(&record.relative)
                ));
                break;
            }
        }
        match unlinkat(parent, name, AtFlags::REMOVEDIR) {
            Ok(()) => outcome.removed.push(record.relative.clone()),
            Err(Errno::NOTEMPTY | Errno::EXIST) => {
                outcome.problem = Some(format!(
                    "folder {shown}: something was written into {} during the run; it is kept",
                    crate::sanitize::display_path(&record.relative)
                ));
                break;
            }
            Err(errno) => {
                outcome.problem = Some(format!(
                    "folder {shown}: cannot remove {}: {}",
                    crate::sanitize::display_path(&record.relative),
                    std::io::Error::from(errno)
                ));
                break;
            }
        }
    }
    outcome
}

/// Each scanned folder's subfolders (indices into [`Scan::dirs`]), built once per run.
pub(crate) fn folder_children(scan: &Scan) -> Vec<Vec<u32>> {
    let mut children = vec![Vec::new(); scan.dirs.len()];
    for (index, dir) in scan.dirs.iter().enumerate().skip(1) {
        children[dir.parent as usize].push(index as u32);
    }
    children
}

/// Whether the folders `subtree` hold exactly the planned `files` and each other, unchanged.
fn check_folder_unchanged(base: &BaseDir, scan: &Scan, subtree: &[u32], files: &[u32]) -> Result<(), String> {
    let mut expected_files: std::collections::HashMap<(u32, &[u8]), &FileEntry> =
        std::collections::HashMap::new();
    for &index in files {
        let file = &scan.files[index as usize];
        expected_files.insert((file.dir, scan.name(file).as_bytes()), file);
    }
    let mut expected_dirs: std::collections::HashMap<(u32, &[u8]), Identity> =
        std::collections::HashMap::new();
    for &dir in subtree.iter().skip(1) {
        let record = &scan.dirs[dir as usize];
        if let Some(name) = record.relative.file_name() {
            expected_dirs.insert((record.parent, name.as_bytes()), record.identity);
        }
    }
    let mut expected_counts: std::collections::HashMap<u32, usize> = std::collections::HashMap::new();
    for (parent, _) in expected_files.keys().chain(expected_dirs.keys()) {
        *expected_counts.entry(*parent).or_default() += 1;
    }
    let mut opener = DirOpener::new(base, scan);
    for &dir in subtree {
        let path = || crate::sanitize::display_path(&scan.dirs[dir as usize].relative);
        let handle = match opener.open(dir) {
            Ok(Some(handle)) => handle,
            Ok(None) => return Err(format!("{} was replaced or removed", path())),
            Err(error) => return Err(format!("cannot open {}: {error}", path())),
        };
        let mut reader = Dir::read_from(handle)
            .map_err(|errno| format!("cannot read {}: {}", path(), std::io::Error::from(errno)))?;
        let mut seen = 0usize;
        while let Some(entry) = reader.read() {
            let entry =
                entry.map_err(|errno| format!("cannot read {}: {}", path(), std::io::Error::from(errno)))?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let shown = || {
                crate::sanitize::display_path(&scan.dirs[dir as usize].relative.join(OsStr::from_bytes(name)))
            };
            let stat = match statat(handle, OsStr::from_bytes(name), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(stat) => stat,
                Err(Errno::NOENT) => continue,
                Err(errno) => {
                    return Err(format!("cannot stat {}: {}", shown(), std::io::Error::from(errno)));
                }
            };
            let matches = match FileType::from_raw_mode(stat.st_mode) {
                FileType::Directory => expected_dirs.get(&(dir, name)) == Some(&Identity::of(&stat)),
                FileType::RegularFile => expected_files
                    .get(&(dir, name))
                    .is_some_and(|file| is_same_file(&stat, file, base.identity.device)),
                _ => false,
            };
            if !matches {
                return Err(format!("{} is new or was rewritten", shown()));
            }
            seen += 1;
        }
        let expected = expected_counts.get(&dir).copied().unwrap_or(0);
        if seen != expected {
            return Err(format!("something in {} was removed", path()));
        }
    }
    Ok(())
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
    use crate::rotate::policy::Retention;
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
        let retention = Retention::select_everything();
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
            delete_files(&base, &scan, &Quarantine::create(&base).unwrap(), &selected, || true)
                .into_iter()
                .map(|(r, _)| r)
                .collect();
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
        let results = delete_files(&base, &scan, &Quarantine::create(&base).unwrap(), &selected, || true);
        assert_eq!(results[0].0, FileResult::Changed);
        assert!(outside.path().join("victim").exists());
        assert!(dir.path().join("moved/victim").exists());
    }

    #[test]
    fn a_file_renamed_over_the_planned_name_after_the_check_goes_back_or_stays_in_quarantine() {
        // The window of the old code: the planned name checked, then another file renamed over
        // it, then unlinked by name. Here the other file is already in place when the quarantine
        // step runs, as if the rename had landed right after the pre-check.
        let (dir, base, scan) = setup(&["a/first", "a/second"]);
        let quarantine = Quarantine::create(&base).unwrap();
        let handle = open_component(base.handle.as_fd(), OsStr::new("a")).unwrap();
        for name in ["first", "second"] {
            fs::write(dir.path().join("a/new"), format!("unplanned {name}")).unwrap();
            fs::rename(dir.path().join("a/new"), dir.path().join("a").join(name)).unwrap();
        }
        let mut slot = QuarantineSlot { quarantine: &quarantine, folder: None };
        let first = &scan.files[index_of(&scan, "a/first") as usize];
        let attempt = quarantine_and_unlink(
            handle.as_fd(),
            Path::new("a"),
            OsStr::new("first"),
            first,
            base.identity.device,
            &mut slot,
            || {},
        );
        assert_eq!(attempt, (FileResult::Changed, None));
        assert_eq!(fs::read_to_string(dir.path().join("a/first")).unwrap(), "unplanned first");

        // The name is taken again before the file can go back: it stays in the quarantine.
        let second = &scan.files[index_of(&scan, "a/second") as usize];
        let taken = quarantine_and_unlink(
            handle.as_fd(),
            Path::new("a"),
            OsStr::new("second"),
            second,
            base.identity.device,
            &mut slot,
            || fs::write(dir.path().join("a/second"), "arrived meanwhile").unwrap(),
        );
        assert_eq!(taken.0, FileResult::Quarantined, "{taken:?}");
        let kept = dir.path().join(quarantine.name()).join("0/second");
        assert_eq!(fs::read_to_string(&kept).unwrap(), "unplanned second");
        assert!(taken.1.unwrap().ends_with(&format!("kept as {}/0/second", quarantine.name())));
        // Finishing keeps the quarantine (it is not empty) and names the file in it.
        let left = quarantine.finish();
        assert_eq!(left.len(), 1);
        assert!(kept.exists());
        assert_eq!(fs::read_to_string(dir.path().join("a/second")).unwrap(), "arrived meanwhile");
    }

    #[test]
    fn a_file_removed_from_the_quarantine_after_the_move_is_vanished_not_kept() {
        // The base dir (quarantine included) removed between the move and the check: the file
        // is gone, and the report must not say it was kept in the quarantine.
        let (dir, base, scan) = setup(&["a/first"]);
        let quarantine = Quarantine::create(&base).unwrap();
        let handle = open_component(base.handle.as_fd(), OsStr::new("a")).unwrap();
        let mut slot = QuarantineSlot { quarantine: &quarantine, folder: None };
        let first = &scan.files[index_of(&scan, "a/first") as usize];
        let moved = dir.path().join(quarantine.name()).join("0/first");
        let attempt = quarantine_and_unlink(
            handle.as_fd(),
            Path::new("a"),
            OsStr::new("first"),
            first,
            base.identity.device,
            &mut slot,
            || fs::remove_file(&moved).unwrap(),
        );
        assert_eq!(attempt, (FileResult::Vanished, None));
        slot.release();
        assert_eq!(quarantine.finish(), Vec::<PathBuf>::new());
    }

    #[test]
    fn prune_leaves_a_folder_something_else_wrote_into() {
        let (dir, base, scan) = setup(&["x/old", "y/old"]);
        let selected = [index_of(&scan, "x/old"), index_of(&scan, "y/old")];
        let results = delete_files(&base, &scan, &Quarantine::create(&base).unwrap(), &selected, || true);
        assert!(results.iter().all(|(result, _)| *result == FileResult::Deleted));
        fs::write(dir.path().join("y/new"), "arrived meanwhile").unwrap();
        let touched: Vec<u32> = selected.iter().map(|&index| scan.files[index as usize].dir).collect();
        let (removed, problems) = prune_empty_dirs(&base, &scan, &touched);
        assert_eq!(removed, [PathBuf::from("x")]);
        assert!(problems.is_empty());
        assert!(dir.path().join("y/new").exists());
    }

    fn dir_of(scan: &Scan, relative: &str) -> u32 {
        scan.dirs.iter().position(|dir| dir.relative == Path::new(relative)).unwrap() as u32
    }

    fn unit_files(scan: &Scan, prefix: &str) -> Vec<u32> {
        (0..scan.files.len() as u32)
            .filter(|&index| scan.relative_path(&scan.files[index as usize]).starts_with(prefix))
            .collect()
    }

    #[test]
    fn a_folder_unit_goes_whole_when_nothing_inside_changed() {
        let (dir, base, scan) = setup(&["run/a", "run/sub/b", "run/sub/deeper/c", "other/d"]);
        let files = unit_files(&scan, "run");
        let quarantine = Quarantine::create(&base).unwrap();
        let outcome = delete_folder_unit(
            &base,
            &scan,
            &quarantine,
            &folder_children(&scan),
            dir_of(&scan, "run"),
            &files,
            || true,
        );
        assert!(
            outcome.attempts.iter().all(|(result, _)| *result == FileResult::Deleted),
            "{:?}",
            outcome.attempts
        );
        assert_eq!(outcome.problem, None);
        let mut removed = outcome.removed.clone();
        removed.sort();
        assert_eq!(
            removed,
            [PathBuf::from("run"), PathBuf::from("run/sub"), PathBuf::from("run/sub/deeper")]
        );
        assert!(!dir.path().join("run").exists() && dir.path().join("other/d").exists());
        assert!(quarantine.finish().is_empty());
    }

    /// Issue 17: a folder unit with a file written into it mid-run (after the scan) is kept
    /// whole, as is one where a file was rewritten, one removed, or a subfolder swapped for a
    /// symlink.
    #[test]
    fn a_folder_unit_that_changed_after_the_scan_is_kept_whole() {
        type Change = (&'static str, fn(&Path));
        let changes: [Change; 4] = [
            ("a file written in", |root| fs::write(root.join("run/sub/new"), "mid-run").unwrap()),
            ("a file rewritten", |root| fs::write(root.join("run/sub/b"), "rewritten, longer").unwrap()),
            ("a file removed", |root| fs::remove_file(root.join("run/a")).unwrap()),
            ("a folder swapped for a symlink", |root| {
                fs::rename(root.join("run/sub"), root.join("elsewhere")).unwrap();
                std::os::unix::fs::symlink(root.join("elsewhere"), root.join("run/sub")).unwrap();
            }),
        ];
        for (what, change) in changes {
            let (dir, base, scan) = setup(&["run/a", "run/sub/b"]);
            let files = unit_files(&scan, "run");
            change(dir.path());
            let before: Vec<PathBuf> = walkdir::WalkDir::new(dir.path())
                .into_iter()
                .map(|entry| entry.unwrap().into_path())
                .collect();
            let quarantine = Quarantine::create(&base).unwrap();
            let outcome = delete_folder_unit(
                &base,
                &scan,
                &quarantine,
                &folder_children(&scan),
                dir_of(&scan, "run"),
                &files,
                || true,
            );
            assert!(
                outcome.attempts.iter().all(|(result, _)| *result == FileResult::Changed),
                "{what}: {:?}",
                outcome.attempts
            );
            assert!(
                outcome.problem.as_deref().is_some_and(|problem| problem.contains("kept whole")),
                "{what}"
            );
            assert!(outcome.removed.is_empty(), "{what}");
            assert!(quarantine.finish().is_empty());
            let after: Vec<PathBuf> = walkdir::WalkDir::new(dir.path())
                .into_iter()
                .map(|entry| entry.unwrap().into_path())
                .collect();
            assert_eq!(before, after, "{what}: the tree changed");
        }
    }

    /// A writer racing the deletion of a folder unit: whatever the timing, the file it writes
    /// is never deleted (the folder is kept whole, or the file keeps its folder). Seeded.
    #[test]
    #[allow(clippy::print_stderr)] // the trial count is the test's report
    fn a_file_written_while_a_folder_unit_is_deleted_survives() {
        const TRIALS: u32 = 150;
        let seed = std::env::var("MMOPS_RACE_SEED").ok().and_then(|seed| seed.parse().ok()).unwrap_or(17u64);
        let mut state = seed;
        let (mut kept_whole, mut written_in) = (0, 0);
        for trial in 0..TRIALS {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let delay_micros = (state >> 33) % 120;
            let names: Vec<String> = (0..20).map(|index| format!("run/d{}/f{index}", index % 3)).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let (dir, base, scan) = setup(&refs);
            let files = unit_files(&scan, "run");
            let target = dir.path().join(format!("run/d{}/late", trial % 3));
            let quarantine = Quarantine::create(&base).unwrap();
            let outcome = std::thread::scope(|scope| {
                let writer = scope.spawn(|| {
                    let start = Instant::now();
                    while start.elapsed() < Duration::from_micros(delay_micros) {
                        std::hint::spin_loop();
                    }
                    fs::write(&target, "written mid-run")
                });
                std::thread::sleep(Duration::from_micros(60));
                let outcome = delete_folder_unit(
                    &base,
                    &scan,
                    &quarantine,
                    &folder_children(&scan),
                    dir_of(&scan, "run"),
                    &files,
                    || true,
                );
                (outcome, writer.join().unwrap())
            });
            let (outcome, written) = outcome;
            if written.is_ok() {
                written_in += 1;
                assert_eq!(
                    fs::read_to_string(&target).ok().as_deref(),
                    Some("written mid-run"),
                    "seed {seed} trial {trial}: the late file was lost"
                );
            }
            kept_whole +=
                u32::from(outcome.attempts.iter().all(|(result, _)| *result == FileResult::Changed));
            assert!(quarantine.finish().is_empty(), "seed {seed} trial {trial}");
        }
        eprintln!(
            "folder unit vs a late writer: {TRIALS} trials, {written_in} written in before the folder went, \
             {kept_whole} kept whole (seed {seed})"
        );
    }
}
