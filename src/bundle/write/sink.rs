//! The zip file being written: its position, the finished entries' records, and the SHA-256 of
//! the bytes so far.
//!
//! The local header of each entry is written with zero CRC and sizes and patched once the entry
//! is complete (no data descriptors, which some streaming readers refuse for stored entries); the
//! bytes of a finished entry are then read back from the page cache into the bundle's SHA-256,
//! so the sidecar hash costs no second pass over the inputs.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;

use anyhow::{Context as _, Result};
use sha2::{Digest, Sha256};

use super::deflate::deflate_chunk;
use super::{MemoryEntry, ZipDigest};
use crate::bundle::manifest::{CHUNK_SIZE, hex};
use crate::bundle::zip_format::{
    DosTime, EntryRecord, Method, central_directory, local_header, local_header_patches, needs_zip64,
};

/// The zip file being written: position, finished entries, and the hash of the bytes so far.
pub(crate) struct ZipSink<'f> {
    file: &'f mut File,
    offset: u64,
    hashed_to: u64,
    hasher: Sha256,
    records: Vec<EntryRecord>,
    time: DosTime,
    read_back: Vec<u8>,
    /// Zip64 fields for every entry and the end record, to test them without 4 GiB of data.
    pub(crate) force_zip64: bool,
}

impl<'f> ZipSink<'f> {
    pub(crate) fn new(file: &'f mut File, time: DosTime) -> ZipSink<'f> {
        ZipSink {
            file,
            offset: 0,
            hashed_to: 0,
            hasher: Sha256::new(),
            records: Vec::new(),
            time,
            read_back: Vec::new(),
            force_zip64: false,
        }
    }

    pub(super) fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.file.write_all(bytes).context("cannot write the bundle")?;
        self.offset += bytes.len() as u64;
        Ok(())
    }

    /// Writes a local header; returns its offset and whether it has zip64 sizes.
    pub(super) fn begin_entry(&mut self, name: &str, method: Method, size: u64) -> Result<(u64, bool)> {
        let header_offset = self.offset;
        let zip64 = self.force_zip64 || needs_zip64(size);
        let header = local_header(name, method, self.time, zip64)?;
        self.write(&header)?;
        Ok((header_offset, zip64))
    }

    /// Patches the local header and hashes the finished entry's bytes.
    pub(super) fn end_entry(&mut self, record: EntryRecord) -> Result<()> {
        for (offset, bytes) in local_header_patches(&record)? {
            self.file
                .write_all_at(&bytes, record.header_offset + offset)
                .context("cannot write the bundle")?;
        }
        self.records.push(record);
        self.hash_written()
    }

    fn hash_written(&mut self) -> Result<()> {
        self.read_back.resize(CHUNK_SIZE, 0);
        while self.hashed_to < self.offset {
            let length = ((self.offset - self.hashed_to) as usize).min(CHUNK_SIZE);
            let buffer = &mut self.read_back[..length];
            self.file.read_exact_at(buffer, self.hashed_to).context("cannot read back the bundle")?;
            self.hasher.update(&*buffer);
            self.hashed_to += length as u64;
        }
        Ok(())
    }

    /// Adds a small entry made in memory.
    pub(crate) fn add_memory_entry(&mut self, entry: &MemoryEntry, level: u32) -> Result<()> {
        let method = Method::for_entry(&entry.name, level);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&entry.bytes);
        let (header_offset, zip64) = self.begin_entry(&entry.name, method, entry.bytes.len() as u64)?;
        let compressed_size = match method {
            Method::Stored => {
                self.write(&entry.bytes)?;
                entry.bytes.len() as u64
            }
            Method::Deflated => {
                let mut out = Vec::new();
                deflate_chunk(level, None, &entry.bytes, true, &mut out)?;
                self.write(&out)?;
                out.len() as u64
            }
        };
        self.end_entry(EntryRecord {
            name: entry.name.clone(),
            method,
            crc32: crc.finalize(),
            compressed_size,
            size: entry.bytes.len() as u64,
            header_offset,
            zip64,
        })
    }

    /// Writes the central directory and returns the zip's hash and size.
    pub(crate) fn finish(mut self) -> Result<ZipDigest> {
        self.hash_written()?;
        let central = central_directory(&self.records, self.time, self.offset, self.force_zip64)?;
        self.write(&central)?;
        self.hasher.update(&central);
        self.hashed_to = self.offset;
        self.file.flush().context("cannot write the bundle")?;
        Ok(ZipDigest { sha256: hex(&self.hasher.finalize()), size: self.offset })
    }
}
