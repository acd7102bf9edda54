//! `--archive DIR`: the selected files go into one zip before any of them is deleted.
//!
//! The zip is written under a temporary name in DIR, read back and checked entry by entry (name,
//! size, SHA-256 of the content), and only then fsynced and renamed to
//! `artifacts-<UTC timestamp>.zip`. Files that changed or vanished since planning are left out
//! of the zip and therefore kept. Writers into one archive folder take a lock there (checked like
//! the run lock: never a symlink, FIFO, device or hard link); temporary files a killed run left
//! behind are removed by the one policy of `atomic_write` (only when their owner is gone).

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, Result, anyhow, bail};
use chrono::{DateTime, Utc};
use rustix::io::Errno;
use serde::Serialize;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use crate::atomic_write::{self, AtomicFile};
use crate::outcome::CheckFailed;
use crate::sanitize::display_path;

use super::apply::{DirOpener, FileResult, open_lock_file, open_planned_file, read_holder, wait_for_lock};
use super::scan::{BaseDir, Scan};

/// Lock taken in the archive folder while a zip is being written there.
pub(crate) const ARCHIVE_LOCK_NAME: &str = ".mmops-rotate-archive.lock";

/// What went into the archive.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ArchiveSummary {
    pub path: String,
    pub files: u64,
    pub bytes: u64,
}

/// The archive folder, locked against other rotations writing into it, with the leftovers of
/// killed runs already removed.
pub(crate) struct ArchiveDir {
    path: PathBuf,
    _lock: File,
    /// Temporary files of killed runs removed on opening (the shared policy: owner gone).
    pub stale_temp_files_removed: Vec<PathBuf>,
}

impl ArchiveDir {
    /// Locks the archive folder (creating it when `create`) and removes stale temporary files.
    /// `Ok(None)` when the folder does not exist and `create` is false. Another rotation writing
    /// there is waited for until `deadline` (`--wait-lock`), then it is a [`CheckFailed`] (exit 1)
    /// naming the lock, as for the run lock.
    pub fn open(path: &Path, create: bool, deadline: Instant) -> Result<Option<ArchiveDir>> {
        let shown = display_path(path);
        if create {
            fs::create_dir_all(path).with_context(|| format!("cannot create the archive folder {shown}"))?;
        } else if !path.is_dir() {
            return Ok(None);
        }
        let flags = rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC;
        let handle = rustix::fs::openat(rustix::fs::CWD, path, flags, rustix::fs::Mode::empty())
            .map_err(|errno| anyhow!("cannot open the archive folder {shown}: {}", io::Error::from(errno)))?;
        let lock_shown = display_path(&path.join(ARCHIVE_LOCK_NAME));
        let mut lock = open_lock_file(handle.as_fd(), OsStr::new(ARCHIVE_LOCK_NAME), &lock_shown)?;
        let locked = wait_for_lock(&lock, deadline)
            .with_context(|| format!("cannot lock the archive folder {shown} ({lock_shown})"))?;
        if !locked {
            let holder = read_holder(&mut lock);
            let holder = if holder.is_empty() { String::new() } else { format!(" ({holder})") };
            return Err(anyhow::Error::new(CheckFailed(format!(
                "another rotation is writing into the archive folder {shown}: it holds the lock {lock_shown}{holder}; \
                 nothing was deleted; let it finish, or wait for it with --wait-lock 10m"
            ))));
        }
        let stale_temp_files_removed = atomic_write::clean_stale_temp_files(path);
        Ok(Some(ArchiveDir { path: path.to_path_buf(), _lock: lock, stale_temp_files_removed }))
    }

    /// Prepares the zip's temporary file in the archive folder (before anything is deleted).
    pub fn prepare(&self, now: DateTime<Utc>) -> Result<AtomicFile> {
        AtomicFile::create(&free_archive_name(&self.path, now))
    }
}

/// Writes `selected` (indices into `scan.files`) into a new zip in the archive folder. Files
/// that changed or vanished get that result in `results` (same order as `selected`) and are left
/// out. On error nothing is in place under the final name and the caller must delete nothing.
pub(crate) fn write_archive(
    mut atomic: AtomicFile,
    base: &BaseDir,
    scan: &Scan,
    selected: &[u32],
    results: &mut [Option<(FileResult, Option<String>)>],
) -> Result<ArchiveSummary> {
    let shown = atomic.path().display().to_string();
    // Entries in path order; the folder handle is reused while consecutive files share it.
    let mut order: Vec<usize> = (0..selected.len()).collect();
    order.sort_by(|&a, &b| {
        scan.compare_paths(&scan.files[selected[a] as usize], &scan.files[selected[b] as usize])
    });
    let mut written: Vec<(String, u64, [u8; 32])> = Vec::new();
    let mut zip = ZipWriter::new(QuietAfterError::new(atomic.file_mut()));
    let filled = fill_zip(&mut zip, &shown, base, scan, selected, &order, results, &mut written);
    // Finished explicitly on every path: the writer then never finalizes from its Drop, which
    // prints its own line on stderr when that fails (a full disk).
    let finished = zip.finish();
    let first_error = match &finished {
        Ok(writer) => writer.error.as_ref().map(|error| io::Error::new(error.kind(), error.to_string())),
        Err(_) => None,
    };
    filled
        .and_then(|()| finished.map(drop).with_context(|| format!("cannot finish {shown}")))
        .and_then(|()| match first_error {
            Some(error) => Err(anyhow::Error::new(error).context(format!("cannot write {shown}"))),
            None => Ok(()),
        })
        .context("nothing was deleted")?;
    verify(atomic.file_mut(), &written)
        .with_context(|| format!("the archive {shown} did not read back correctly; nothing was deleted"))?;
    atomic.commit().context("nothing was deleted")?;
    Ok(ArchiveSummary {
        path: shown,
        files: written.len() as u64,
        bytes: written.iter().map(|(_, size, _)| size).sum(),
    })
}

/// Copies the planned files into the zip, each checked to be the planned file through its open
/// handle; folders are reached handle by handle from the base dir, so depth has no limit.
#[allow(clippy::too_many_arguments)]
fn fill_zip(
    zip: &mut ZipWriter<QuietAfterError<&mut File>>,
    shown: &str,
    base: &BaseDir,
    scan: &Scan,
    selected: &[u32],
    order: &[usize],
    results: &mut [Option<(FileResult, Option<String>)>],
    written: &mut Vec<(String, u64, [u8; 32])>,
) -> Result<()> {
    let mut opener = DirOpener::new(base, scan);
    for &position in order {
        let file = &scan.files[selected[position] as usize];
        let relative = scan.relative_path(file);
        let name = relative.to_str().ok_or_else(|| {
            anyhow!(
                "cannot archive {}: the name is not valid UTF-8, which zip cannot store; rename it or \
                 protect it with --exclude",
                display_path(&relative)
            )
        })?;
        let dir_handle = opener
            .open(file.dir)
            .with_context(|| format!("cannot open the folder of {}", display_path(&relative)))?;
        let Some(dir_handle) = dir_handle else {
            results[position] = Some((FileResult::Changed, None));
            continue;
        };
        let mut source = match open_planned_file(dir_handle, scan.name(file), file, base.identity.device) {
            Ok(Some(source)) => source,
            Ok(None) => {
                results[position] = Some((FileResult::Changed, None));
                continue;
            }
            Err(Errno::NOENT) => {
                results[position] = Some((FileResult::Vanished, None));
                continue;
            }
            Err(errno) => {
                let reason = format!("cannot read it for the archive: {}", io::Error::from(errno));
                results[position] = Some((FileResult::Failed, Some(reason)));
                continue;
            }
        };
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .last_modified_time(dos_time(file.mtime_seconds))
            .unix_permissions(
                source
                    .metadata()
                    .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
                    .unwrap_or(0o644),
            )
            .large_file(file.size >= u64::from(u32::MAX));
        zip.start_file(name, options)
            .with_context(|| format!("cannot add {} to {shown}", display_path(&relative)))?;
        let mut hashing = HashingReader { inner: &mut source, hasher: Sha256::new(), bytes: 0 };
        io::copy(&mut hashing, zip)
            .with_context(|| format!("cannot copy {} into {shown}", display_path(&relative)))?;
        if hashing.bytes != file.size {
            bail!("{} changed while it was being archived; run again", display_path(&relative));
        }
        written.push((name.to_string(), file.size, hashing.hasher.finalize().into()));
    }
    Ok(())
}

/// `artifacts-20251011T120000Z.zip`, or `…-2.zip`, `…-3.zip` when that name is taken: an
/// existing archive is never overwritten.
pub(crate) fn free_archive_name(archive_dir: &Path, now: DateTime<Utc>) -> PathBuf {
    free_archive_name_besides(archive_dir, now, &[])
}

/// [`free_archive_name`], also passing over the names (as printed) in `taken`: the zips that the
/// earlier roots of a dry run with several `--base-dir` would write.
pub(crate) fn free_archive_name_besides(archive_dir: &Path, now: DateTime<Utc>, taken: &[String]) -> PathBuf {
    let stamp = now.format("%Y%m%dT%H%M%SZ");
    let mut path = archive_dir.join(format!("artifacts-{stamp}.zip"));
    let mut counter = 2;
    while path.symlink_metadata().is_ok() || taken.contains(&crate::sanitize::display_path(&path)) {
        path = archive_dir.join(format!("artifacts-{stamp}-{counter}.zip"));
        counter += 1;
    }
    path
}

/// Reads the written zip back: the same entries in the same order, each with the right size and
/// SHA-256 (reading to the end also checks each entry's CRC-32).
fn verify(file: &mut File, written: &[(String, u64, [u8; 32])]) -> Result<()> {
    file.flush()?;
    file.rewind()?;
    let mut archive = ZipArchive::new(file)?;
    if archive.len() != written.len() {
        bail!("it holds {} entries instead of {}", archive.len(), written.len());
    }
    for (index, (name, size, digest)) in written.iter().enumerate() {
        let mut entry = archive.by_index(index)?;
        let entry_name = entry.name()?.into_owned();
        if entry_name != *name || entry.size() != *size {
            bail!("entry {index} is {entry_name} ({} bytes) instead of {name} ({size} bytes)", entry.size());
        }
        let mut hashing = HashingReader { inner: &mut entry, hasher: Sha256::new(), bytes: 0 };
        io::copy(&mut hashing, &mut io::sink()).with_context(|| format!("cannot read {name} back"))?;
        let actual: [u8; 32] = hashing.hasher.finalize().into();
        if actual != *digest {
            bail!("{name} does not match the file it was written from");
        }
    }
    Ok(())
}

/// A file's mtime as an MS-DOS (zip) timestamp: 2-second resolution, local fields taken in UTC,
/// years 1980–2107. Earlier times become 1980-01-01 00:00:00 and later ones 2107-12-31 23:59:58
/// (clamping only the year would store 1969-12-31 as 1980-12-31).
pub(crate) fn dos_time(mtime_seconds: i64) -> zip::DateTime {
    let earliest = zip::DateTime::from_date_and_time(1980, 1, 1, 0, 0, 0).unwrap_or_default();
    let Some(instant) = DateTime::<Utc>::from_timestamp(mtime_seconds, 0) else {
        // Beyond chrono's range, so beyond DOS's too: clamped the same way.
        return if mtime_seconds < 0 { earliest } else { latest_or(earliest) };
    };
    let dos = crate::zip_time::dos_time(instant);
    zip::DateTime::try_from_msdos(dos.date, dos.time).unwrap_or(earliest)
}

fn latest_or(earliest: zip::DateTime) -> zip::DateTime {
    zip::DateTime::from_date_and_time(2107, 12, 31, 23, 59, 58).unwrap_or(earliest)
}

/// A writer that reports its first error and then pretends to work, discarding everything while
/// keeping a consistent position: once a write failed the zip is abandoned anyway, and this way
/// the zip writer's own attempts to finish it (on `finish` or on drop) cannot print anything.
struct QuietAfterError<W> {
    inner: W,
    error: Option<io::Error>,
    position: u64,
    end: u64,
}

impl<W> QuietAfterError<W> {
    fn new(inner: W) -> QuietAfterError<W> {
        QuietAfterError { inner, error: None, position: 0, end: 0 }
    }

    fn fail(&mut self, error: io::Error) -> io::Error {
        let copy = io::Error::new(error.kind(), error.to_string());
        self.error.get_or_insert(error);
        copy
    }
}

impl<W: Write> Write for QuietAfterError<W> {
    fn write(&mut self, buffer: &[u8]) -> io::Result<usize> {
        let count = if self.error.is_some() {
            buffer.len()
        } else {
            self.inner.write(buffer).map_err(|error| self.fail(error))?
        };
        self.position += count as u64;
        self.end = self.end.max(self.position);
        Ok(count)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.error.is_some() {
            return Ok(());
        }
        self.inner.flush().map_err(|error| self.fail(error))
    }
}

impl<W: Seek> Seek for QuietAfterError<W> {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        if self.error.is_none() {
            self.position = self.inner.seek(to).map_err(|error| self.fail(error))?;
        } else {
            let target = match to {
                io::SeekFrom::Start(offset) => Some(offset),
                io::SeekFrom::Current(delta) => self.position.checked_add_signed(delta),
                io::SeekFrom::End(delta) => self.end.checked_add_signed(delta),
            };
            self.position = target.ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        }
        self.end = self.end.max(self.position);
        Ok(self.position)
    }
}

/// Hashes and counts what passes through.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let count = self.inner.read(buffer)?;
        self.hasher.update(&buffer[..count]);
        self.bytes += count as u64;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(time: zip::DateTime) -> (u16, u8, u8, u8, u8, u8) {
        (time.year(), time.month(), time.day(), time.hour(), time.minute(), time.second())
    }

    #[test]
    fn dos_time_clamps_before_1980_and_after_2107_instead_of_mangling_the_date() {
        // 1969-12-31T23:59:59Z was stored as 1980-12-31 when only the year was clamped.
        assert_eq!(fields(dos_time(-1)), (1980, 1, 1, 0, 0, 0));
        assert_eq!(fields(dos_time(i64::MIN)), (1980, 1, 1, 0, 0, 0));
        assert_eq!(fields(dos_time(315_532_800)), (1980, 1, 1, 0, 0, 0));
        assert_eq!(fields(dos_time(1_760_184_001)), (2025, 10, 11, 12, 0, 0));
        assert_eq!(fields(dos_time(4_354_819_200)), (2107, 12, 31, 23, 59, 58)); // 2108-01-01
    }
}
