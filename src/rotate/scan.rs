//! Walking the base dir: regular files become candidates, everything else is counted and skipped.
//!
//! The walk opens every folder relative to its parent's handle with `O_NOFOLLOW`, so a symlink
//! (or a folder swapped for one mid-walk) is never entered, and stats entries relative to that
//! handle. Folders and files on another mount are not entered: the test compares mount ids
//! (`statx` `STX_MNT_ID`), so a bind mount of the base dir's own filesystem, a read-only bind or
//! a self bind is skipped like any other mount (device numbers alone miss those). Memory matters at
//! hundreds of thousands of files: each file keeps only its folder index, its name and the facts
//! the planner and the deleter need.

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use rustix::fs::{AtFlags, CWD, Dir, FileType, Mode, OFlags, Stat, Statx, StatxFlags, fstat, openat, statx};
use rustix::io::Errno;

use super::plan::PlanFile;
use super::policy::Retention;
use super::stat_pool::{NameBatch, Pending, StatPool, submit, with_pool};

/// The lock file a real run holds, at the top of the base dir; the scan never lists it.
pub(crate) const LOCK_FILE_NAME: &str = ".mmops-rotate.lock";

/// Prefix of the per-run quarantine folder at the top of the base dir (see `apply`); the scan
/// never lists it, even with `--include-hidden`.
pub(crate) const QUARANTINE_PREFIX: &str = ".mmops-quarantine-";

/// Index of the base dir in [`Scan::dirs`].
pub(crate) const ROOT: u32 = 0;

/// The identity of a file or folder: a path that points elsewhere has another identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Identity {
    pub device: u64,
    pub inode: u64,
}

impl Identity {
    pub fn of(stat: &Stat) -> Identity {
        Identity { device: stat.st_dev, inode: stat.st_ino }
    }
}

/// The mount a file or folder belongs to (statx `STX_MNT_ID`), when the kernel reports it
/// (Linux 5.8 and later); older kernels fall back to comparing devices only.
pub(crate) fn mount_id(handle: rustix::fd::BorrowedFd<'_>) -> Result<Option<u64>, Errno> {
    let found = statx(handle, "", AtFlags::EMPTY_PATH, StatxFlags::MNT_ID)?;
    Ok(statx_mount(&found))
}

/// The mount id in a `statx` answer, when the kernel filled it in.
pub(crate) fn statx_mount(found: &Statx) -> Option<u64> {
    StatxFlags::from_bits_retain(found.stx_mask).contains(StatxFlags::MNT_ID).then_some(found.stx_mnt_id)
}

/// A folder seen by the scan.
#[derive(Debug)]
pub(crate) struct DirRecord {
    /// Path relative to the base dir (empty for the base dir itself).
    pub relative: PathBuf,
    pub identity: Identity,
    pub parent: u32,
    pub depth: u32,
    /// Something directly inside was skipped (hidden, excluded, symlink, special file, mount) or
    /// could not be read: a `unit: dir` folder holding it cannot be deleted whole.
    pub holds_skipped: bool,
}

/// A candidate: a regular file under the base dir that is neither hidden nor excluded.
/// Its name lives in [`Scan::names`] (one arena instead of one allocation per file: less memory
/// and better locality when hundreds of thousands of rows are printed).
#[derive(Debug)]
pub(crate) struct FileEntry {
    pub dir: u32,
    /// Index of the rule the file belongs to, or [`NO_RULE`].
    pub rule: u16,
    name_length: u16,
    name_start: u64,
    /// Position in the walk (directory order): deleting in that order is kinder to the
    /// filesystem's directory index than mtime order. Fits in what would be padding.
    pub walk_order: u32,
    pub size: u64,
    pub mtime_seconds: i64,
    pub mtime_nanos: u32,
    pub inode: u64,
}

/// [`FileEntry::rule`] for a file no rule covers.
pub(crate) const NO_RULE: u16 = u16::MAX;

impl PlanFile for FileEntry {
    fn mtime_nanos(&self) -> i128 {
        i128::from(self.mtime_seconds) * 1_000_000_000 + i128::from(self.mtime_nanos)
    }

    fn size(&self) -> u64 {
        self.size
    }

    fn rule(&self) -> Option<usize> {
        (self.rule != NO_RULE).then_some(usize::from(self.rule))
    }
}

/// What the scan skipped, by kind.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Skipped {
    /// Symlinks (to files or folders, inside or outside): never followed, never deleted.
    pub symlinks: u64,
    /// Files and folders whose name starts with `.` (a folder counts once).
    pub hidden: u64,
    /// Files matching `--exclude` or the policy's `exclude`.
    pub excluded: u64,
    /// Folders on another filesystem, not entered.
    pub mounts: u64,
    /// Sockets, pipes, devices.
    pub special: u64,
    /// The archive folder, when it lies inside the base dir.
    pub archive_dir: u64,
}

/// How deep the scan goes below the base dir (real artifact trees are a handful of levels).
pub(crate) const MAX_DEPTH: u32 = 256;

/// A folder or file the scan could not read; the run goes on and ends in FAIL.
#[derive(Debug, Clone)]
pub(crate) struct ScanError {
    pub path: PathBuf,
    pub message: String,
}

/// The result of walking the base dir.
#[derive(Debug)]
pub(crate) struct Scan {
    pub dirs: Vec<DirRecord>,
    pub files: Vec<FileEntry>,
    /// Every candidate's file name, back to back.
    names: Vec<u8>,
    pub skipped: Skipped,
    pub errors: Vec<ScanError>,
    /// Excluded files that are companions of a rule's files (rule index, relative path): they
    /// hold their primary, so an excluded `.sha256` never loses its zip.
    pub excluded_companions: Vec<(usize, Vec<u8>)>,
}

impl Scan {
    /// A candidate's file name.
    pub fn name(&self, file: &FileEntry) -> &OsStr {
        file_name(&self.names, file)
    }

    /// The path of a candidate relative to the base dir.
    pub fn relative_path(&self, file: &FileEntry) -> PathBuf {
        self.dirs[file.dir as usize].relative.join(self.name(file))
    }

    /// Orders two candidates by relative path, bytewise, without allocating.
    pub fn compare_paths(&self, left: &FileEntry, right: &FileEntry) -> Ordering {
        compare_paths(&self.dirs, &self.names, left, right)
    }

    /// Sorts the candidates oldest first, ties by relative path: the planner's order, so that
    /// planning and printing then walk the list front to back.
    pub fn sort_oldest_first(&mut self) {
        let (dirs, names) = (&self.dirs, &self.names);
        self.files.sort_unstable_by(|left, right| {
            left.mtime_nanos().cmp(&right.mtime_nanos()).then_with(|| compare_paths(dirs, names, left, right))
        });
    }

    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|file| file.size).sum()
    }
}

fn file_name<'a>(names: &'a [u8], file: &FileEntry) -> &'a OsStr {
    let start = file.name_start as usize;
    OsStr::from_bytes(&names[start..start + usize::from(file.name_length)])
}

fn compare_paths(dirs: &[DirRecord], names: &[u8], left: &FileEntry, right: &FileEntry) -> Ordering {
    fn bytes<'a>(
        dirs: &'a [DirRecord],
        names: &'a [u8],
        file: &'a FileEntry,
    ) -> impl Iterator<Item = u8> + 'a {
        let dir = dirs[file.dir as usize].relative.as_os_str().as_bytes();
        let separator: &[u8] = if dir.is_empty() { b"" } else { b"/" };
        dir.iter().chain(separator).chain(file_name(names, file).as_bytes()).copied()
    }
    bytes(dirs, names, left).cmp(bytes(dirs, names, right))
}

/// The base dir, opened once (following it if it is a symlink) and held for the whole run.
pub(crate) struct BaseDir {
    pub path: PathBuf,
    pub handle: OwnedFd,
    pub identity: Identity,
    /// The base dir's mount id; `None` on kernels without `STX_MNT_ID`.
    pub mount: Option<u64>,
}

impl BaseDir {
    /// Opens the base dir. A missing dir is an error: a typo must not look like "nothing to do".
    pub fn open(path: &Path) -> Result<BaseDir> {
        let shown = crate::sanitize::display_path(path);
        let handle = openat(CWD, path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|errno| match errno {
            Errno::NOENT => {
                anyhow!("base dir {shown} does not exist; check --base-dir (default: artifacts) and -C")
            }
            Errno::NOTDIR => anyhow!("base dir {shown} is not a folder; check --base-dir"),
            other => anyhow!("cannot open base dir {shown}: {}", std::io::Error::from(other)),
        })?;
        let stat = fstat(&handle)
            .map_err(|errno| anyhow!("cannot stat base dir {shown}: {}", std::io::Error::from(errno)))?;
        let mount = mount_id(handle.as_fd())
            .map_err(|errno| anyhow!("cannot stat base dir {shown}: {}", std::io::Error::from(errno)))?;
        Ok(BaseDir { path: path.to_path_buf(), handle, identity: Identity::of(&stat), mount })
    }

    /// Whether something with this mount id lies on the base dir's own mount.
    pub fn same_mount(&self, mount: Option<u64>) -> bool {
        self.mount.is_none() || mount == self.mount
    }
}

/// What the scan must leave out besides hidden and excluded files.
pub(crate) struct ScanOptions<'a> {
    pub include_hidden: bool,
    pub retention: &'a Retention,
    /// The archive folder's identity, when it exists (it may lie inside the base dir).
    pub archive_dir: Option<Identity>,
}

/// Walks the base dir and returns the candidates, what was skipped and what could not be read.
pub(crate) fn scan(base: &BaseDir, options: &ScanOptions<'_>) -> Scan {
    // The scanning thread mostly lists folders; one helper per core stats (none on one core).
    let cores = crate::stats::available_cores();
    let helpers = if cores > 1 { cores.min(MAX_SCAN_THREADS) } else { 0 };
    with_pool(helpers, |pool| walk_base(base, options, pool))
}

/// At most this many threads stat names.
const MAX_SCAN_THREADS: usize = 4;

/// Names handed over per batch: large enough to share between threads.
const STAT_BATCH: usize = 4_096;

/// At most this many names wait for their answers at a time, so a folder of millions of files
/// holds only this many answers (a few hundred bytes each) at once.
const MAX_PENDING_NAMES: usize = 2 * STAT_BATCH;

/// A batch of one folder's names with the helpers.
struct PendingBatch {
    dir_index: u32,
    names: NameBatch,
    answers: Pending,
}

fn walk_base(base: &BaseDir, options: &ScanOptions<'_>, pool: Option<&StatPool>) -> Scan {
    let mut walker = Walker {
        options,
        pool,
        pending: VecDeque::new(),
        pending_names: 0,
        needs_paths: options.retention.needs_paths(),
        root_device: base.identity.device,
        base,
        scan: Scan {
            dirs: vec![DirRecord {
                relative: PathBuf::new(),
                identity: base.identity,
                parent: ROOT,
                depth: 0,
                holds_skipped: false,
            }],
            files: Vec::new(),
            names: Vec::new(),
            skipped: Skipped::default(),
            errors: Vec::new(),
            excluded_companions: Vec::new(),
        },
        path_buffer: PathBuf::new(),
    };
    walker.walk(base.handle.as_fd(), ROOT);
    walker.file_all();
    let mut scan = walker.scan;
    scan.errors.sort_by(|a, b| a.path.cmp(&b.path));
    scan.files.shrink_to_fit();
    scan.names.shrink_to_fit();
    scan
}

struct Walker<'a> {
    options: &'a ScanOptions<'a>,
    /// Helper threads for the stats, when there is more than one core.
    pool: Option<&'a StatPool>,
    /// Batches handed to the helpers and not yet filed, oldest first.
    pending: VecDeque<PendingBatch>,
    /// How many names those batches hold (bounded: each answer is a few hundred bytes).
    pending_names: usize,
    needs_paths: bool,
    root_device: u64,
    base: &'a BaseDir,
    scan: Scan,
    path_buffer: PathBuf,
}

impl Walker<'_> {
    fn error(&mut self, path: PathBuf, errno: Errno) {
        self.scan.errors.push(ScanError { path, message: std::io::Error::from(errno).to_string() });
    }

    fn walk(&mut self, handle: rustix::fd::BorrowedFd<'_>, dir_index: u32) {
        let mut reader = match Dir::read_from(handle) {
            Ok(reader) => reader,
            Err(errno) => {
                let path = self.scan.dirs[dir_index as usize].relative.clone();
                self.scan.dirs[dir_index as usize].holds_skipped = true;
                return self.error(path, errno);
            }
        };
        let mut subdirs: Vec<Box<OsStr>> = Vec::new();
        // Something directly inside skipped or unreadable (what the stats find is noted when
        // their answers are filed).
        let mut skipped_here = false;
        // Names that need a stat (regular files, and entries whose type the folder does not
        // say), handed to the stat helpers a batch at a time while the walk goes on.
        let mut batch = NameBatch::default();
        let mut batch_has_unknown = false;
        while let Some(entry) = reader.read() {
            let entry = match entry {
                Ok(entry) => entry,
                Err(errno) => {
                    let path = self.scan.dirs[dir_index as usize].relative.clone();
                    self.error(path, errno);
                    skipped_here = true;
                    break;
                }
            };
            let name = OsStr::from_bytes(entry.file_name().to_bytes());
            if name == "." || name == ".." {
                continue;
            }
            if dir_index == ROOT
                && (name == LOCK_FILE_NAME || name.as_bytes().starts_with(QUARANTINE_PREFIX.as_bytes()))
            {
                continue;
            }
            if !self.options.include_hidden && name.as_bytes().first() == Some(&b'.') {
                self.scan.skipped.hidden += 1;
                skipped_here = true;
                continue;
            }
            match entry.file_type() {
                file_type @ (FileType::Unknown | FileType::RegularFile) => {
                    batch.push(entry.file_name());
                    batch_has_unknown |= file_type == FileType::Unknown;
                    if batch.len() >= STAT_BATCH {
                        let full = std::mem::take(&mut batch);
                        self.submit(
                            handle,
                            dir_index,
                            full,
                            std::mem::take(&mut batch_has_unknown),
                            &mut subdirs,
                        );
                    }
                }
                FileType::Symlink => {
                    self.scan.skipped.symlinks += 1;
                    skipped_here = true;
                }
                FileType::Directory => subdirs.push(name.into()),
                _ => {
                    self.scan.skipped.special += 1;
                    skipped_here = true;
                }
            }
        }
        drop(reader);
        if batch.len() > 0 {
            self.submit(handle, dir_index, batch, batch_has_unknown, &mut subdirs);
        }
        if skipped_here {
            self.scan.dirs[dir_index as usize].holds_skipped = true;
        }
        for name in subdirs {
            let before = (self.skipped_total(), self.scan.errors.len());
            let dirs_before = self.scan.dirs.len();
            self.enter(handle, dir_index, &name);
            // A subfolder not entered (a mount, a symlink swapped in, unreadable) stays behind.
            // (Not entered means no walk ran in between, so no other folder's answers were filed.)
            if self.scan.dirs.len() == dirs_before && before != (self.skipped_total(), self.scan.errors.len())
            {
                self.scan.dirs[dir_index as usize].holds_skipped = true;
            }
        }
    }

    /// Hands a batch of one folder's names to the stat helpers. The answers are filed in the
    /// order the batches were handed out, which is the order a single thread would file them;
    /// a batch with entries of unknown type is waited for at once, since some may be folders to
    /// walk into now.
    fn submit(
        &mut self,
        handle: rustix::fd::BorrowedFd<'_>,
        dir_index: u32,
        names: NameBatch,
        has_unknown: bool,
        subdirs: &mut Vec<Box<OsStr>>,
    ) {
        while self.pending_names + names.len() > MAX_PENDING_NAMES
            && let Some(oldest) = self.pending.pop_front()
        {
            self.file_answers(oldest, None);
        }
        self.pending_names += names.len();
        let answers = submit(self.pool, handle, &names);
        self.pending.push_back(PendingBatch { dir_index, names, answers });
        if has_unknown {
            while let Some(oldest) = self.pending.pop_front() {
                let is_this = self.pending.is_empty();
                self.file_answers(oldest, is_this.then_some(&mut *subdirs));
            }
        }
    }

    /// Files every batch still with the helpers (the end of the walk).
    fn file_all(&mut self) {
        while let Some(oldest) = self.pending.pop_front() {
            self.file_answers(oldest, None);
        }
    }

    /// Files one batch's answers, in the order the names were read. `subdirs` is given when the
    /// batch's folder is still being walked, so a name that turned out to be a folder is entered;
    /// a folder found later (a file replaced by a folder after the listing) is not entered, like
    /// anything created after the folder was read, and its folder is marked as holding
    /// something skipped.
    fn file_answers(&mut self, batch: PendingBatch, mut subdirs: Option<&mut Vec<Box<OsStr>>>) {
        let PendingBatch { dir_index, names, answers } = batch;
        self.pending_names -= names.len();
        let mut skipped_here = false;
        for (name, answer) in names.iter().zip(answers.wait()) {
            let name = OsStr::from_bytes(name.to_bytes());
            match answer {
                Ok(found) => match FileType::from_raw_mode(u32::from(found.stx_mode)) {
                    FileType::RegularFile => self.add_file(dir_index, name, &found),
                    FileType::Symlink => {
                        self.scan.skipped.symlinks += 1;
                        skipped_here = true;
                    }
                    FileType::Directory => match subdirs.as_mut() {
                        Some(subdirs) => subdirs.push(name.into()),
                        None => skipped_here = true,
                    },
                    _ => {
                        self.scan.skipped.special += 1;
                        skipped_here = true;
                    }
                },
                Err(Errno::NOENT) => {} // deleted while we looked: not our concern
                Err(errno) => {
                    let path = self.scan.dirs[dir_index as usize].relative.join(name);
                    self.error(path, errno);
                    skipped_here = true;
                }
            }
        }
        if skipped_here {
            self.scan.dirs[dir_index as usize].holds_skipped = true;
        }
    }

    fn skipped_total(&self) -> u64 {
        let skipped = &self.scan.skipped;
        skipped.symlinks
            + skipped.hidden
            + skipped.excluded
            + skipped.mounts
            + skipped.special
            + skipped.archive_dir
    }

    fn add_file(&mut self, dir_index: u32, name: &OsStr, stat: &Statx) {
        let device = rustix::fs::makedev(stat.stx_dev_major, stat.stx_dev_minor);
        if device != self.root_device || !self.base.same_mount(statx_mount(stat)) {
            // A file bind-mounted from elsewhere, from another filesystem or from this one.
            self.scan.skipped.mounts += 1;
            return;
        }
        let mut rule = NO_RULE;
        if self.needs_paths {
            self.path_buffer.clear();
            self.path_buffer.push(&self.scan.dirs[dir_index as usize].relative);
            self.path_buffer.push(name);
            let retention = self.options.retention;
            if retention.is_excluded(&self.path_buffer) {
                self.scan.skipped.excluded += 1;
                if let Some(rule) = retention.companion_rule_of(&self.path_buffer) {
                    self.scan
                        .excluded_companions
                        .push((rule, self.path_buffer.as_os_str().as_bytes().to_vec()));
                }
                return;
            }
            rule = retention.rule_for(&self.path_buffer).map_or(NO_RULE, |index| index as u16);
        } else if !self.options.retention.rules.is_empty() {
            rule = 0;
        }
        let name_start = self.scan.names.len() as u64;
        let walk_order = self.scan.files.len() as u32;
        self.scan.names.extend_from_slice(name.as_bytes());
        self.scan.files.push(FileEntry {
            dir: dir_index,
            rule,
            // Linux names are at most 255 bytes (NAME_MAX).
            name_length: name.len() as u16,
            name_start,
            walk_order,
            size: stat.stx_size,
            mtime_seconds: stat.stx_mtime.tv_sec,
            mtime_nanos: stat.stx_mtime.tv_nsec,
            inode: stat.stx_ino,
        });
    }

    fn enter(&mut self, parent_handle: rustix::fd::BorrowedFd<'_>, parent: u32, name: &OsStr) {
        let relative = self.scan.dirs[parent as usize].relative.join(name);
        if self.scan.dirs[parent as usize].depth >= MAX_DEPTH {
            // Each level holds an open folder handle and a stack frame; a hostile 10,000-deep
            // tree overflowed the stack. Not entered, reported, and the run ends in FAIL.
            self.scan.errors.push(ScanError {
                path: relative,
                message: format!(
                    "more than {MAX_DEPTH} folders deep; not entered, nothing below it is rotated"
                ),
            });
            return;
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let handle = match openat(parent_handle, name, flags, Mode::empty()) {
            Ok(handle) => handle,
            // Swapped for a symlink (or a file) since it was listed: never follow it.
            Err(Errno::LOOP | Errno::NOTDIR) => {
                self.scan.skipped.symlinks += 1;
                return;
            }
            Err(Errno::NOENT) => return,
            Err(errno) => return self.error(relative, errno),
        };
        let identity = match fstat(&handle) {
            Ok(stat) => Identity::of(&stat),
            Err(errno) => return self.error(relative, errno),
        };
        let mount = match mount_id(handle.as_fd()) {
            Ok(mount) => mount,
            Err(errno) => return self.error(relative, errno),
        };
        if identity.device != self.root_device || !self.base.same_mount(mount) {
            self.scan.skipped.mounts += 1;
            return;
        }
        if self.options.archive_dir == Some(identity) {
            self.scan.skipped.archive_dir += 1;
            return;
        }
        let Ok(index) = u32::try_from(self.scan.dirs.len()) else {
            return self.error(relative, Errno::NOMEM);
        };
        let depth = self.scan.dirs[parent as usize].depth + 1;
        self.scan.dirs.push(DirRecord { relative, identity, parent, depth, holds_skipped: false });
        self.walk(handle.as_fd(), index);
    }
}

/// Builds a [`Scan`] from an object-store listing, one key at a time, so the planner, the guards
/// and the report work on objects exactly as on files. A key's `/`-separated segments become
/// folders; a key with any segment starting with `.` is hidden (a hidden folder counts once);
/// the lease object at the top of the prefix is never a candidate. Folder records carry no
/// identity (objects have none): nothing on the object path opens them.
pub(crate) struct ListingScan<'a> {
    options: &'a ScanOptions<'a>,
    scan: Scan,
    dir_indices: std::collections::HashMap<Box<str>, u32>,
    hidden_dirs: std::collections::HashSet<Box<str>>,
}

impl<'a> ListingScan<'a> {
    pub fn new(options: &'a ScanOptions<'a>) -> ListingScan<'a> {
        let root = DirRecord {
            relative: PathBuf::new(),
            identity: Identity { device: 0, inode: 0 },
            parent: ROOT,
            depth: 0,
            holds_skipped: false,
        };
        ListingScan {
            options,
            scan: Scan {
                dirs: vec![root],
                files: Vec::new(),
                names: Vec::new(),
                skipped: Skipped::default(),
                errors: Vec::new(),
                excluded_companions: Vec::new(),
            },
            dir_indices: std::collections::HashMap::new(),
            hidden_dirs: std::collections::HashSet::new(),
        }
    }

    /// Adds one object by its key relative to the prefix; true when it became a candidate (its
    /// position in [`Scan::files`] is then the number of candidates added before it, its
    /// `walk_order`).
    pub fn add(&mut self, relative: &str, size: u64, mtime_nanos: i128) -> bool {
        let (folder, name) = relative.rsplit_once('/').unwrap_or(("", relative));
        if folder.is_empty() && (name == LOCK_FILE_NAME || name.starts_with(QUARANTINE_PREFIX)) {
            return false;
        }
        if name.is_empty() || folder.split('/').any(str::is_empty) && !folder.is_empty() {
            // "a/" (a folder marker object) or "a//b": not a file name the planner can show.
            self.scan.skipped.special += 1;
            return false;
        }
        if !self.options.include_hidden {
            if let Some(position) = hidden_folder_end(folder) {
                if self.hidden_dirs.insert(folder[..position].into()) {
                    self.scan.skipped.hidden += 1;
                }
                return false;
            }
            if name.starts_with('.') {
                self.scan.skipped.hidden += 1;
                return false;
            }
        }
        let retention = self.options.retention;
        let path = Path::new(relative);
        let mut rule = NO_RULE;
        if retention.needs_paths() {
            if retention.is_excluded(path) {
                self.scan.skipped.excluded += 1;
                return false;
            }
            rule = retention.rule_for(path).map_or(NO_RULE, |index| index as u16);
        } else if !retention.rules.is_empty() {
            rule = 0;
        }
        let (Ok(name_length), Ok(walk_order)) =
            (u16::try_from(name.len()), u32::try_from(self.scan.files.len()))
        else {
            self.scan.skipped.special += 1;
            return false;
        };
        let dir = self.folder(folder);
        let name_start = self.scan.names.len() as u64;
        self.scan.names.extend_from_slice(name.as_bytes());
        self.scan.files.push(FileEntry {
            dir,
            rule,
            name_length,
            name_start,
            walk_order,
            size,
            mtime_seconds: mtime_nanos.div_euclid(1_000_000_000) as i64,
            mtime_nanos: mtime_nanos.rem_euclid(1_000_000_000) as u32,
            inode: 0,
        });
        true
    }

    /// The index of a folder, recording it and its parents on first sight.
    fn folder(&mut self, folder: &str) -> u32 {
        if folder.is_empty() {
            return ROOT;
        }
        if let Some(&index) = self.dir_indices.get(folder) {
            return index;
        }
        let parent = match folder.rsplit_once('/') {
            Some((parent, _)) => self.folder(parent),
            None => ROOT,
        };
        let index = self.scan.dirs.len() as u32;
        let depth = self.scan.dirs[parent as usize].depth + 1;
        self.scan.dirs.push(DirRecord {
            relative: PathBuf::from(folder),
            identity: Identity { device: 0, inode: 0 },
            parent,
            depth,
            holds_skipped: false,
        });
        self.dir_indices.insert(folder.into(), index);
        index
    }

    pub fn finish(self) -> Scan {
        let mut scan = self.scan;
        scan.files.shrink_to_fit();
        scan.names.shrink_to_fit();
        scan
    }
}

/// The end of the first folder segment that starts with `.`, if any.
fn hidden_folder_end(folder: &str) -> Option<usize> {
    let mut start = 0;
    for segment in folder.split('/') {
        if segment.starts_with('.') {
            return Some(start + segment.len());
        }
        start += segment.len() + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rotate::policy::Retention;
    use std::fs;

    /// Everything a scan produced, as comparable text.
    fn summary(scan: &Scan) -> String {
        let dirs: Vec<String> = scan
            .dirs
            .iter()
            .map(|dir| {
                format!("{}<{}:{}:{}", dir.relative.display(), dir.parent, dir.depth, dir.holds_skipped)
            })
            .collect();
        let files: Vec<String> = scan
            .files
            .iter()
            .map(|file| {
                format!(
                    "{}@{}:{}:{}",
                    scan.relative_path(file).display(),
                    file.dir,
                    file.walk_order,
                    file.size
                )
            })
            .collect();
        let errors: Vec<String> = scan.errors.iter().map(|error| error.path.display().to_string()).collect();
        format!("{dirs:?}\n{files:?}\n{:?}\n{errors:?}", scan.skipped)
    }

    #[test]
    fn the_threaded_scan_equals_the_single_threaded_one() {
        // Folders large enough to be handed over (and one past a batch), small ones statted at
        // once, and in between the things a scan skips: hidden files, symlinks, FIFOs.
        let dir = tempfile::tempdir().unwrap();
        for (folder, count) in [("big", 5_000), ("mid", 300), ("small", 3), ("big/inner", 700)] {
            fs::create_dir_all(dir.path().join(folder)).unwrap();
            for index in 0..count {
                fs::write(dir.path().join(format!("{folder}/f{index:05}")), vec![b'x'; index % 7]).unwrap();
            }
        }
        fs::write(dir.path().join("mid/.hidden"), "h").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("mid/link")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            dir.path().join("small/fifo"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let base = BaseDir::open(dir.path()).unwrap();
        let retention = Retention::select_everything();
        let options = ScanOptions { include_hidden: false, retention: &retention, archive_dir: None };
        let alone = summary(&with_pool(0, |pool| walk_base(&base, &options, pool)));
        for helpers in 1..=3 {
            let shared = summary(&with_pool(helpers, |pool| walk_base(&base, &options, pool)));
            assert_eq!(shared, alone, "{helpers} helpers");
        }
        assert!(alone.contains("mid<0:1:true"), "{alone}");
        assert!(
            alone.contains("symlinks: 1") && alone.contains("hidden: 1") && alone.contains("special: 1"),
            "{alone}"
        );
    }
}
