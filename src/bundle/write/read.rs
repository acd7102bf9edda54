//! Reading one input through the handle opened when the list was resolved. Each input is read
//! with positional reads (the handle is shared), hashed as it goes, and checked through the same
//! handle before and after: a size, modification time, status-change time or inode different
//! from the one seen at resolution means the file was rewritten while it was read (a same-size
//! `dd conv=notrunc` included), and the run stops with the file named before anything is placed.

use std::os::unix::fs::FileExt;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result, anyhow};
use sha2::{Digest, Sha256};

use super::FileDigest;
use crate::bundle::inputs::{Identity, Input};
use crate::bundle::manifest::{CHUNK_SIZE, hex};
use crate::progress::Progress;
use crate::sanitize::display_path;

/// Reads `input` in chunks, hashing as it goes; `on_chunk(data, first, last)` gets each chunk.
pub(crate) fn read_input(
    input: &Input,
    mut on_chunk: impl FnMut(Vec<u8>, bool, bool) -> Result<()>,
) -> Result<FileDigest> {
    let shown = display_path(&input.source);
    check_unchanged(input, &shown)?;
    let mut hasher = Sha256::new();
    let mut total: u64 = 0;
    let mut first = true;
    loop {
        let wanted = (input.size - total).min(CHUNK_SIZE as u64) as usize;
        let mut buffer = vec![0u8; wanted];
        input.file.read_exact_at(&mut buffer, total).map_err(|error| match error.kind() {
            std::io::ErrorKind::UnexpectedEof => changed_error(&shown, "it became shorter"),
            _ => anyhow!(error).context(format!("cannot read {shown}")),
        })?;
        total += wanted as u64;
        let last = total == input.size;
        if last {
            let mut probe = [0u8; 1];
            if input.file.read_at(&mut probe, total).with_context(|| format!("cannot read {shown}"))? != 0 {
                return Err(changed_error(&shown, "it grew"));
            }
            // Checked before the last chunk is handed on, so a changed file never completes an
            // entry.
            check_unchanged(input, &shown)?;
        }
        hasher.update(&buffer);
        if last && input.identity.changed_recently(wall_clock_now(), RECENT) {
            let first_read = hasher.clone().finalize();
            if hash_again(input, &shown)? != first_read.as_slice() {
                return Err(changed_error(&shown, "its content, while a recent write was finishing"));
            }
        }
        on_chunk(buffer, first, last)?;
        first = false;
        if last {
            return Ok(FileDigest { sha256: hex(&hasher.finalize()), size: total });
        }
    }
}

/// A file changed this recently when the list was resolved is read twice and both reads must
/// agree: a write already under way when the handle was first examined updates the times at its
/// start, so the times alone cannot show the rest of it landing during the read.
const RECENT: Duration = Duration::from_secs(2);

/// The real time, to judge a file's status-change time (never `CI_FAKE_UTC`: that is for
/// stamping outputs, and file times are real).
fn wall_clock_now() -> SystemTime {
    crate::clock::real_system_time()
}

/// The SHA-256 of the whole input, read again through its handle.
fn hash_again(input: &Input, shown: &str) -> Result<Vec<u8>> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; CHUNK_SIZE];
    let mut offset = 0u64;
    while offset < input.size {
        let length = ((input.size - offset) as usize).min(CHUNK_SIZE);
        input.file.read_exact_at(&mut buffer[..length], offset).map_err(|error| match error.kind() {
            std::io::ErrorKind::UnexpectedEof => changed_error(shown, "it became shorter"),
            _ => anyhow!(error).context(format!("cannot read {shown}")),
        })?;
        hasher.update(&buffer[..length]);
        offset += length as u64;
    }
    check_unchanged(input, shown)?;
    Ok(hasher.finalize().to_vec())
}

/// The handle's identity now against the one seen when the list was resolved.
fn check_unchanged(input: &Input, shown: &str) -> Result<()> {
    let now = Identity::of(&input.file).with_context(|| format!("cannot read {shown}"))?;
    match input.identity.difference(&now) {
        Some(what) => Err(changed_error(shown, &what)),
        None => Ok(()),
    }
}

fn changed_error(shown: &str, what: &str) -> anyhow::Error {
    anyhow!(
        "{shown} changed while it was being bundled ({what}); nothing was written, rerun when it is stable"
    )
}

/// `--dry-run`: hashes every input without compressing or writing anything.
pub(crate) fn hash_inputs(inputs: &[Input], progress: &Progress) -> Result<Vec<FileDigest>> {
    inputs
        .iter()
        .map(|input| {
            read_input(input, |chunk, _, _| {
                progress.advance(chunk.len() as u64);
                Ok(())
            })
        })
        .collect()
}

/// The whole of a small input, read again through its handle (for the release summary) and
/// checked against the digest taken while bundling, so the summary describes the bundled bytes.
pub(crate) fn read_again(input: &Input, digest: &FileDigest) -> Result<Vec<u8>> {
    let shown = display_path(&input.source);
    let mut bytes = vec![0u8; input.size as usize];
    input.file.read_exact_at(&mut bytes, 0).with_context(|| format!("cannot read {shown}"))?;
    if hex(&Sha256::digest(&bytes)) != digest.sha256 {
        return Err(changed_error(&shown, "its content"));
    }
    check_unchanged(input, &shown)?;
    Ok(bytes)
}
