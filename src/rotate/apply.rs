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
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use rustix::fs::{
    AtFlags, Dir, FileType, Mode, OFlags, RenameFlags, ResolveFlags, Stat, StatxFlags, fstat, mkdirat,
    openat, openat2, renameat_with, statat, statx, unlinkat,
};
use rustix::io::Errno;
use serde::Serialize;

use crate::outcome::CheckFailed;

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

/// The longest `--wait-lock` accepted: beyond it a typo (or an overflow) rather than a plan.
pub(crate) const MAX_WAIT_LOCK: Duration = Duration::from_secs(7 * 86_400);

impl RunLock {
    /// Takes the lock inside the base dir, waiting up to `wait` for another run to finish.
    /// A lock still held after that is a [`CheckFailed`] (exit 1) naming the lock file.
    pub fn acquire(base: &BaseDir, wait: Duration) -> Result<RunLock> {
        let lock_path = base.path.join(LOCK_FILE_NAME);
        let shown = crate::sanitize::display_path(&lock_path);
        let mut file = open_lock_file(base.handle.as_fd(), OsStr::new(LOCK_FILE_NAME), &shown)?;
        // `wait` is capped by the caller; `checked_add` keeps an overflow from ever panicking.
        let deadline = crate::clock::monotonic()
            .checked_add(wait.min(MAX_WAIT_LOCK))
            .unwrap_or_else(crate::clock::monotonic);
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if crate::clock::monotonic() < deadline => {
                    std::thread::sleep(
                        LOCK_POLL.min(deadline.saturating_duration_since(crate::clock::monotonic())),
                    );
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    let holder = read_holder(&mut file);
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
        // Safe to write: `open_lock_file` proved it is a regular file with no other name.
        let _ = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "pid {}", std::process::id()));
        Ok(RunLock { _file: file })
    }
}

/// At most [`LOCK_INFO_MAX`] bytes of who holds a lock, escaped for printing.
fn read_holder(file: &mut File) -> String {
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
/// in here. One subfolder `<n>` per source folder keeps the original names; `<n>.origin`, written
/// before `<n>` exists, holds the source folder's path relative to the base dir, so a killed
/// run's quarantine can be put back by the next run.
pub(crate) struct Quarantine {
    handle: OwnedFd,
    name: String,
    next_folder: AtomicU32,
}

impl Quarantine {
    pub fn create(base: &BaseDir) -> Result<Quarantine> {
        let random = std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), 0u8);
        let name = format!("{QUARANTINE_PREFIX}{}-{:08x}", std::process::id(), random as u32);
        let shown = crate::sanitize::display_path(&base.path.join(&name));
        mkdirat(&base.handle, name.as_str(), Mode::from_raw_mode(0o700)).map_err(|errno| {
            anyhow!("cannot create the quarantine folder {shown}: {}", std::io::Error::from(errno))
        })?;
        let handle = open_component(base.handle.as_fd(), OsStr::new(&name)).map_err(|errno| {
            anyhow!("cannot open the quarantine folder {shown}: {}", std::io::Error::from(errno))
        })?;
        Ok(Quarantine { handle, name, next_folder: AtomicU32::new(0) })
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

    /// Removes what this run no longer needs. Returns the files left inside (the name they came
    /// from was taken meanwhile), as paths relative to the base dir, sorted.
    pub fn finish(self, base: &BaseDir) -> Vec<PathBuf> {
        let left = tidy_quarantine(self.handle.as_fd(), Path::new(&self.name));
        if left.is_empty() {
            let _ = unlinkat(&base.handle, self.name.as_str(), AtFlags::REMOVEDIR);
        }
        left
    }
}

/// Removes empty subfolders and their origin records; returns the files still inside, sorted.
fn tidy_quarantine(handle: BorrowedFd<'_>, shown_as: &Path) -> Vec<PathBuf> {
    let mut left = Vec::new();
    let Ok(mut reader) = Dir::read_from(handle) else { return left };
    let mut folders = Vec::new();
    let mut origins = Vec::new();
    while let Some(Ok(entry)) = reader.read() {
        let name = entry.file_name().to_bytes();
        if let Some(number) = name.strip_suffix(b".origin") {
            origins.push(OsStr::from_bytes(number).to_os_string());
        } else if name != b"." && name != b".." {
            folders.push(OsStr::from_bytes(name).to_os_string());
        }
    }
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
    /// Quarantines of a process that still exists (left alone).
    pub live: Vec<String>,
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
        if let Some(rest) = name.to_str().and_then(|name| name.strip_prefix(QUARANTINE_PREFIX)) {
            let pid = rest.split_once('-').and_then(|(pid, _)| pid.parse::<i32>().ok());
            names.push((name.to_os_string(), pid));
        }
    }
    names.sort();
    for (name, pid) in names {
        let alive = pid.is_some_and(|pid| {
            pid == std::process::id() as i32
                || rustix::process::Pid::from_raw(pid)
                    .is_some_and(|pid| !matches!(rustix::process::test_kill_process(pid), Err(Errno::SRCH)))
        });
        if alive {
            restored.live.push(crate::sanitize::display_path(Path::new(&name)));
            continue;
        }
        let Ok(quarantine) = open_component(base.handle.as_fd(), &name) else { continue };
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
    let Ok(mut reader) = Dir::read_from(quarantine) else { return };
    let mut folders = Vec::new();
    while let Some(Ok(entry)) = reader.read() {
        let name = entry.file_name().to_bytes();
        if let Some(number) = name.strip_suffix(b".origin") {
            folders.push(OsStr::from_bytes(number).to_os_string());
        }
    }
    for folder in folders {
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
    quarantine: &'q Quarantine,
    folder: Option<(OwnedFd, String)>,
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
    match statat(quarantine, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) if is_same_file(&stat, file, device) => {
            return match unlinkat(quarantine, name, AtFlags::empty()) {
                Ok(()) => (FileResult::Deleted, None),
                Err(errno) => failed(errno),
            };
        }
        _ => {}
    }
    // Not the planned file: someone renamed another file over the name after the stat above.
    match renameat_with(quarantine, name, dir, name, RenameFlags::NOREPLACE) {
        Ok(()) => (FileResult::Changed, None),
        Err(errno) => {
            let kept = Path::new(slot.quarantine.name()).join(folder).join(name);
            (
                FileResult::Quarantined,
                Some(format!(
                    "it was replaced while being deleted and its name is taken again ({}); kept as {}",
                    std::io::Error::from(errno),
                    crate::sanitize::display_path(&kept)
                )),
            )
        }
    }
}

/// Below this many files one thread deletes them all (a second thread costs more than it saves).
const PARALLEL_THRESHOLD: usize = 4_096;

/// Deletes the given files (indices into `scan.files`), folder by folder, and returns one
/// attempt per entry of `selected`, in the same order. `on_each` is called after each file and
/// returns whether to go on; once it says stop, the remaining files are `Interrupted` and kept.
/// Large runs split the folders between two threads (the quarantine checks cost syscalls that
/// `find -delete` does not make; a second core pays for them).
pub(crate) fn delete_files(
    base: &BaseDir,
    scan: &Scan,
    quarantine: &Quarantine,
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
    // Split at a folder boundary near the middle.
    let mut split = by_dir.len() / 2;
    while split > 0 && split < by_dir.len() && dir_of(by_dir[split]) == dir_of(by_dir[split - 1]) {
        split += 1;
    }
    let stop = AtomicBool::new(false);
    let go_on = || {
        let going = !stop.load(Ordering::Relaxed) && on_each();
        if !going {
            stop.store(true, Ordering::Relaxed);
        }
        going
    };
    let parts: Vec<Vec<(usize, Attempt)>> =
        if by_dir.len() < PARALLEL_THRESHOLD || split == 0 || split >= by_dir.len() {
            vec![delete_in_order(base, scan, quarantine, selected, &by_dir, &go_on)]
        } else {
            let (first, second) = by_dir.split_at(split);
            std::thread::scope(|scope| {
                let other = scope.spawn(|| delete_in_order(base, scan, quarantine, selected, second, &go_on));
                let mine = delete_in_order(base, scan, quarantine, selected, first, &go_on);
                // A panic in the other thread is a bug: surface it rather than report a guess.
                vec![mine, other.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))]
            })
        };
    for (position, attempt) in parts.into_iter().flatten() {
        attempts[position] = attempt;
    }
    attempts
}

/// Deletes the files at `positions` (already in folder order) and returns their attempts.
fn delete_in_order(
    base: &BaseDir,
    scan: &Scan,
    quarantine: &Quarantine,
    selected: &[u32],
    positions: &[usize],
    go_on: &(impl Fn() -> bool + Sync),
) -> Vec<(usize, Attempt)> {
    let mut attempts = Vec::with_capacity(positions.len());
    let mut opener = DirOpener::new(base, scan);
    let mut start = 0;
    while start < positions.len() {
        let dir = scan.files[selected[positions[start]] as usize].dir;
        let end = start
            + positions[start..].iter().take_while(|&&p| scan.files[selected[p] as usize].dir == dir).count();
        let relative = &scan.dirs[dir as usize].relative;
        let handle = opener.open(dir);
        let mut slot = QuarantineSlot { quarantine, folder: None };
        for &position in &positions[start..end] {
            let file = &scan.files[selected[position] as usize];
            let attempt = match &handle {
                Ok(Some(handle)) => {
                    delete_file(*handle, relative, scan.name(file), file, base.identity.device, &mut slot)
                }
                Ok(None) => (FileResult::Changed, None),
                Err(error) => (FileResult::Failed, Some(format!("cannot open its folder: {error}"))),
            };
            attempts.push((position, attempt));
            if !go_on() {
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
        let left = quarantine.finish(&base);
        assert_eq!(left.len(), 1);
        assert!(kept.exists());
        assert_eq!(fs::read_to_string(dir.path().join("a/second")).unwrap(), "arrived meanwhile");
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
}
