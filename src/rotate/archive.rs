//! `--archive DIR`: the selected files go into one zip before any of them is deleted.
//!
//! The zip is written under a temporary name in DIR, read back and checked entry by entry (name,
//! size, SHA-256 of the content), and only then fsynced and renamed to
//! `artifacts-<UTC timestamp>.zip`. Files that changed or vanished since planning are left out
//! of the zip and therefore kept. Writers into one archive folder take a lock there, so the
//! `.mmops-tmp-*` files a killed run left behind can be removed safely by the next run.

use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
use chrono::{DateTime, Datelike, Timelike, Utc};
use rustix::io::Errno;
use serde::Serialize;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use crate::atomic_write::{AtomicFile, TEMP_PREFIX};
use crate::sanitize::display_path;

use super::apply::{FileResult, open_planned_file, open_scanned_dir};
use super::scan::{BaseDir, Scan};

/// Lock taken in the archive folder while a zip is being written there.
const ARCHIVE_LOCK_NAME: &str = ".mmops-rotate-archive.lock";

/// What went into the archive.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ArchiveSummary {
    pub path: String,
    pub files: u64,
    pub bytes: u64,
    /// Temporary files of a killed earlier run that were removed from the archive folder.
    pub stale_temp_files_removed: Vec<String>,
}

/// The archive folder, locked against other rotations writing into it, with the leftovers of
/// killed runs already removed.
pub(crate) struct ArchiveDir {
    path: PathBuf,
    _lock: File,
    /// `.mmops-tmp-*` files of a killed earlier run, removed on opening.
    pub stale_temp_files_removed: Vec<String>,
}

impl ArchiveDir {
    /// Locks the archive folder (creating it when `create`) and removes stale temporary files.
    /// `Ok(None)` when the folder does not exist and `create` is false.
    pub fn open(path: &Path, create: bool) -> Result<Option<ArchiveDir>> {
        let shown = path.display();
        if create {
            fs::create_dir_all(path).with_context(|| format!("cannot create the archive folder {shown}"))?;
        } else if !path.is_dir() {
            return Ok(None);
        }
        let lock = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path.join(ARCHIVE_LOCK_NAME))
            .with_context(|| format!("cannot open the archive lock in {shown}"))?;
        lock.lock().with_context(|| format!("cannot lock the archive folder {shown}"))?;
        let stale_temp_files_removed = remove_stale_temp_files(path)?;
        Ok(Some(ArchiveDir { path: path.to_path_buf(), _lock: lock, stale_temp_files_removed }))
    }
}

/// Writes `selected` (indices into `scan.files`) into a new zip in the archive folder. Files
/// that changed or vanished get that result in `results` (same order as `selected`) and are left
/// out. On error nothing is in place under the final name and the caller must delete nothing.
pub(crate) fn write_archive(
    archive: &ArchiveDir,
    now: DateTime<Utc>,
    base: &BaseDir,
    scan: &Scan,
    selected: &[u32],
    results: &mut [Option<(FileResult, Option<String>)>],
) -> Result<ArchiveSummary> {
    let archive_dir = archive.path.as_path();
    let final_path = free_archive_name(archive_dir, now);
    let mut atomic = AtomicFile::create(&final_path)?;
    let shown = final_path.display().to_string();

    // Entries in path order; the folder handle is reused while consecutive files share it.
    let mut order: Vec<usize> = (0..selected.len()).collect();
    order.sort_by(|&a, &b| {
        scan.compare_paths(&scan.files[selected[a] as usize], &scan.files[selected[b] as usize])
    });
    let mut written: Vec<(String, u64, [u8; 32])> = Vec::new();
    {
        let mut zip = ZipWriter::new(atomic.file_mut());
        let mut open_dir: Option<(u32, Option<OwnedFd>)> = None;
        for position in order {
            let file = &scan.files[selected[position] as usize];
            let relative = scan.relative_path(file);
            let name = relative.to_str().ok_or_else(|| {
                anyhow!(
                    "cannot archive {}: the name is not valid UTF-8, which zip cannot store; rename it or \
                     protect it with --exclude; nothing was deleted",
                    display_path(&relative)
                )
            })?;
            if open_dir.as_ref().is_none_or(|(dir, _)| *dir != file.dir) {
                let handle = open_scanned_dir(base, scan, file.dir)
                    .with_context(|| format!("cannot open the folder of {}", display_path(&relative)))?;
                open_dir = Some((file.dir, handle));
            }
            let Some((_, Some(dir_handle))) = &open_dir else {
                results[position] = Some((FileResult::Changed, None));
                continue;
            };
            let mut source =
                match open_planned_file(dir_handle.as_fd(), scan.name(file), file, base.identity.device) {
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
                .last_modified_time(zip_time(file.mtime_seconds))
                .unix_permissions(
                    source
                        .metadata()
                        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
                        .unwrap_or(0o644),
                )
                .large_file(file.size >= u64::from(u32::MAX));
            zip.start_file(name, options).with_context(|| format!("cannot add {name} to {shown}"))?;
            let mut hashing = HashingReader { inner: &mut source, hasher: Sha256::new(), bytes: 0 };
            io::copy(&mut hashing, &mut zip).with_context(|| format!("cannot copy {name} into {shown}"))?;
            if hashing.bytes != file.size {
                bail!("{name} changed while it was being archived; nothing was deleted; run again");
            }
            written.push((name.to_string(), file.size, hashing.hasher.finalize().into()));
        }
        zip.finish().with_context(|| format!("cannot finish {shown}"))?;
    }
    verify(atomic.file_mut(), &written)
        .with_context(|| format!("the archive {shown} did not read back correctly; nothing was deleted"))?;
    atomic.commit()?;
    Ok(ArchiveSummary {
        path: shown,
        files: written.len() as u64,
        bytes: written.iter().map(|(_, size, _)| size).sum(),
        stale_temp_files_removed: archive.stale_temp_files_removed.clone(),
    })
}

/// `artifacts-20251011T120000Z.zip`, or `…-2.zip`, `…-3.zip` when that name is taken: an
/// existing archive is never overwritten.
fn free_archive_name(archive_dir: &Path, now: DateTime<Utc>) -> PathBuf {
    let stamp = now.format("%Y%m%dT%H%M%SZ");
    let mut path = archive_dir.join(format!("artifacts-{stamp}.zip"));
    let mut counter = 2;
    while path.symlink_metadata().is_ok() {
        path = archive_dir.join(format!("artifacts-{stamp}-{counter}.zip"));
        counter += 1;
    }
    path
}

/// Removes `.mmops-tmp-*` regular files from the archive folder: with the archive lock held, no
/// live writer owns one, so they are leftovers of a killed run.
fn remove_stale_temp_files(archive_dir: &Path) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    let entries = fs::read_dir(archive_dir)
        .with_context(|| format!("cannot list the archive folder {}", archive_dir.display()))?;
    for entry in entries {
        let entry =
            entry.with_context(|| format!("cannot list the archive folder {}", archive_dir.display()))?;
        let name = entry.file_name();
        if !name.as_encoded_bytes().starts_with(TEMP_PREFIX.as_bytes())
            || !entry.file_type().is_ok_and(|t| t.is_file())
        {
            continue;
        }
        let path = entry.path();
        fs::remove_file(&path)
            .with_context(|| format!("cannot remove the stale temporary file {}", path.display()))?;
        removed.push(display_path(Path::new(&name)));
    }
    removed.sort();
    Ok(removed)
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

/// A file's mtime as a zip timestamp (2-second resolution, years 1980–2107, clamped).
fn zip_time(mtime_seconds: i64) -> zip::DateTime {
    let Some(instant) = DateTime::<Utc>::from_timestamp(mtime_seconds, 0) else {
        return zip::DateTime::default();
    };
    let year = instant.year().clamp(1980, 2107) as u16;
    zip::DateTime::from_date_and_time(
        year,
        instant.month() as u8,
        instant.day() as u8,
        instant.hour() as u8,
        instant.minute() as u8,
        instant.second() as u8,
    )
    .unwrap_or_default()
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
