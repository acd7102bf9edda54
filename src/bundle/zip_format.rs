//! The bytes of the zip container, as pure functions: local and central headers, the end record,
//! DOS timestamps, and which inputs are stored rather than deflated.
//!
//! mmops writes the container itself (the zip crate reads it back in `bundle verify` and in tests)
//! because zip 9 can only add pre-compressed entries whose whole compressed data sits in memory;
//! writing the headers here lets large files stream through the parallel compressor with bounded
//! memory. Every field that could vary between machines is fixed: "made by" Unix, mode 0644, no
//! extra fields, no comments, the build time in every entry, entries in list order.

pub(crate) use crate::zip_time::{DosTime, dos_time};
use anyhow::{Result, bail};

/// Sizes and offsets from this value up are stored in zip64 fields.
pub(crate) const ZIP32_LIMIT: u64 = 0xFFFF_FFFF;
/// Entry counts from this value up need the zip64 end record.
const ZIP32_ENTRY_LIMIT: usize = 0xFFFF;

/// Size of a local file header before the name.
pub(crate) const LOCAL_HEADER_FIXED: usize = 30;
/// Offset of the CRC-32 inside a local file header (CRC, compressed size, size follow).
const LOCAL_HEADER_CRC_OFFSET: u64 = 14;

const LOCAL_SIGNATURE: u32 = 0x0403_4b50;
const CENTRAL_SIGNATURE: u32 = 0x0201_4b50;
const END_SIGNATURE: u32 = 0x0605_4b50;
const ZIP64_END_SIGNATURE: u32 = 0x0606_4b50;
const ZIP64_LOCATOR_SIGNATURE: u32 = 0x0706_4b50;
const ZIP64_EXTRA_ID: u16 = 0x0001;
/// Made on Unix (3), so readers apply the Unix mode in the attributes.
const MADE_BY_UNIX: u16 = 3 << 8;
const VERSION_ZIP64: u16 = 45;
/// Regular file, rw-r--r--, in the high half of the external attributes (Unix convention).
const EXTERNAL_ATTRIBUTES: u32 = 0o100644 << 16;
/// General-purpose flag bit 11: the name is UTF-8.
const FLAG_UTF8: u16 = 1 << 11;

/// Whether an entry of `size` bytes gets zip64 sizes in its local header. Decided before the
/// data is written, from the size alone (so it is reproducible), with room for deflate's worst
/// case growth on incompressible data.
pub(crate) fn needs_zip64(size: u64) -> bool {
    size.saturating_add(size / 1000).saturating_add(1 << 16) >= ZIP32_LIMIT
}

/// How an entry's data is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Stored,
    Deflated,
}

impl Method {
    fn code(self) -> u16 {
        match self {
            Method::Stored => 0,
            Method::Deflated => 8,
        }
    }

    fn version_needed(self) -> u16 {
        match self {
            Method::Stored => 10,
            Method::Deflated => 20,
        }
    }

    /// Deflate unless the level is 0 or the file is already compressed (deflating a `.gz` again
    /// costs CPU and gains nothing).
    pub(crate) fn for_entry(name: &str, level: u32) -> Method {
        if level == 0 || is_already_compressed(name) { Method::Stored } else { Method::Deflated }
    }
}

/// File extensions whose content is already compressed.
const COMPRESSED_EXTENSIONS: &[&str] = &[
    "7z", "apk", "avif", "br", "bz2", "docx", "gif", "gz", "heic", "jar", "jpeg", "jpg", "lz", "lz4", "lzma",
    "mkv", "mov", "mp3", "mp4", "ogg", "parquet", "png", "rar", "tbz2", "tgz", "txz", "webm", "webp", "whl",
    "woff", "woff2", "xlsx", "xz", "zip", "zst",
];

pub(crate) fn is_already_compressed(name: &str) -> bool {
    let file_name = name.rsplit('/').next().unwrap_or(name);
    match file_name.rsplit_once('.') {
        Some((stem, extension)) if !stem.is_empty() => {
            COMPRESSED_EXTENSIONS.iter().any(|known| extension.eq_ignore_ascii_case(known))
        }
        _ => false,
    }
}

/// What the central directory records about one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryRecord {
    pub(crate) name: String,
    pub(crate) method: Method,
    pub(crate) crc32: u32,
    pub(crate) compressed_size: u64,
    pub(crate) size: u64,
    pub(crate) header_offset: u64,
    /// The local header carries zip64 sizes (see [`needs_zip64`]); the central one then does too.
    pub(crate) zip64: bool,
}

fn flags(name: &str) -> u16 {
    if name.is_ascii() { 0 } else { FLAG_UTF8 }
}

fn name_length(name: &str) -> Result<u16> {
    u16::try_from(name.len()).map_err(|_| anyhow::anyhow!("entry name {name:?} is longer than 65535 bytes"))
}

/// A value for a 32-bit field, or the 0xFFFFFFFF marker when it goes in a zip64 field.
fn field32(value: u64, in_zip64: bool) -> u32 {
    if in_zip64 { ZIP32_LIMIT as u32 } else { value as u32 }
}

/// The local header of an entry, with zero CRC and sizes to be patched once the data is written
/// (see [`local_header_patches`]).
pub(crate) fn local_header(name: &str, method: Method, time: DosTime, zip64: bool) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(LOCAL_HEADER_FIXED + name.len() + 20);
    put_u32(&mut out, LOCAL_SIGNATURE);
    put_u16(&mut out, if zip64 { VERSION_ZIP64 } else { method.version_needed() });
    put_u16(&mut out, flags(name));
    put_u16(&mut out, method.code());
    put_u16(&mut out, time.time);
    put_u16(&mut out, time.date);
    put_u32(&mut out, 0); // CRC-32, patched
    put_u32(&mut out, field32(0, zip64)); // compressed size, patched unless zip64
    put_u32(&mut out, field32(0, zip64)); // size, patched unless zip64
    put_u16(&mut out, name_length(name)?);
    put_u16(&mut out, if zip64 { 20 } else { 0 });
    out.extend_from_slice(name.as_bytes());
    if zip64 {
        put_u16(&mut out, ZIP64_EXTRA_ID);
        put_u16(&mut out, 16);
        put_u64(&mut out, 0); // size, patched
        put_u64(&mut out, 0); // compressed size, patched
    }
    Ok(out)
}

/// The bytes written over a local header's placeholders: `(offset from the header's start, bytes)`.
pub(crate) fn local_header_patches(record: &EntryRecord) -> Result<Vec<(u64, Vec<u8>)>> {
    let crc = record.crc32.to_le_bytes().to_vec();
    if record.zip64 {
        let mut sizes = Vec::with_capacity(16);
        put_u64(&mut sizes, record.size);
        put_u64(&mut sizes, record.compressed_size);
        let extra_data = (LOCAL_HEADER_FIXED + record.name.len() + 4) as u64;
        return Ok(vec![(LOCAL_HEADER_CRC_OFFSET, crc), (extra_data, sizes)]);
    }
    if record.compressed_size >= ZIP32_LIMIT || record.size >= ZIP32_LIMIT {
        // needs_zip64 leaves a margin that deflate cannot exceed; this is a safety net.
        bail!("{} grew past 4 GiB while it was being bundled; rerun when it is stable", record.name);
    }
    let mut fields = crc;
    put_u32(&mut fields, record.compressed_size as u32);
    put_u32(&mut fields, record.size as u32);
    Ok(vec![(LOCAL_HEADER_CRC_OFFSET, fields)])
}

/// The central directory followed by the end record(s); `start` is where it begins in the file.
/// Zip64 fields and records appear only where a value does not fit (or the local header used
/// them), so small bundles are plain zip files.
pub(crate) fn central_directory(
    records: &[EntryRecord],
    time: DosTime,
    start: u64,
    force_zip64: bool,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for record in records {
        let size_64 = record.zip64 || record.size >= ZIP32_LIMIT;
        let compressed_64 = record.zip64 || record.compressed_size >= ZIP32_LIMIT;
        let offset_64 = record.header_offset >= ZIP32_LIMIT;
        let mut extra = Vec::new();
        if size_64 {
            put_u64(&mut extra, record.size);
        }
        if compressed_64 {
            put_u64(&mut extra, record.compressed_size);
        }
        if offset_64 {
            put_u64(&mut extra, record.header_offset);
        }
        let any_64 = !extra.is_empty();
        let version = if any_64 { VERSION_ZIP64 } else { record.method.version_needed() };
        put_u32(&mut out, CENTRAL_SIGNATURE);
        put_u16(&mut out, MADE_BY_UNIX | version.max(20));
        put_u16(&mut out, version);
        put_u16(&mut out, flags(&record.name));
        put_u16(&mut out, record.method.code());
        put_u16(&mut out, time.time);
        put_u16(&mut out, time.date);
        put_u32(&mut out, record.crc32);
        put_u32(&mut out, field32(record.compressed_size, compressed_64));
        put_u32(&mut out, field32(record.size, size_64));
        put_u16(&mut out, name_length(&record.name)?);
        put_u16(&mut out, if any_64 { extra.len() as u16 + 4 } else { 0 });
        put_u16(&mut out, 0); // comment
        put_u16(&mut out, 0); // disk number
        put_u16(&mut out, 0); // internal attributes
        put_u32(&mut out, EXTERNAL_ATTRIBUTES);
        put_u32(&mut out, field32(record.header_offset, offset_64));
        out.extend_from_slice(record.name.as_bytes());
        if any_64 {
            put_u16(&mut out, ZIP64_EXTRA_ID);
            put_u16(&mut out, extra.len() as u16);
            out.extend_from_slice(&extra);
        }
    }
    let size = out.len() as u64;
    let count = records.len();
    let end_64 = force_zip64 || count >= ZIP32_ENTRY_LIMIT || size >= ZIP32_LIMIT || start >= ZIP32_LIMIT;
    if end_64 {
        let zip64_end_offset = start + size;
        put_u32(&mut out, ZIP64_END_SIGNATURE);
        put_u64(&mut out, 44); // size of the rest of this record
        put_u16(&mut out, MADE_BY_UNIX | VERSION_ZIP64);
        put_u16(&mut out, VERSION_ZIP64);
        put_u32(&mut out, 0); // this disk
        put_u32(&mut out, 0); // disk with the central directory
        put_u64(&mut out, count as u64);
        put_u64(&mut out, count as u64);
        put_u64(&mut out, size);
        put_u64(&mut out, start);
        put_u32(&mut out, ZIP64_LOCATOR_SIGNATURE);
        put_u32(&mut out, 0); // disk with the zip64 end record
        put_u64(&mut out, zip64_end_offset);
        put_u32(&mut out, 1); // total disks
    }
    let count16 = if end_64 { 0xFFFF } else { count as u16 };
    put_u32(&mut out, END_SIGNATURE);
    put_u16(&mut out, 0); // this disk
    put_u16(&mut out, 0); // disk with the central directory
    put_u16(&mut out, count16);
    put_u16(&mut out, count16);
    put_u32(&mut out, field32(size, end_64));
    put_u32(&mut out, field32(start, end_64));
    put_u16(&mut out, 0); // comment length
    Ok(out)
}

fn put_u16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_rfc3339;

    #[test]
    fn dos_time_encodes_and_clamps() {
        let time = dos_time(parse_rfc3339("2025-10-11T12:34:57Z").unwrap());
        assert_eq!(time.date, (45 << 9) | (10 << 5) | 11);
        assert_eq!(time.time, (12 << 11) | (34 << 5) | 28);
        // CI_FAKE_UTC=1970-01-01 is common in CI: it must become the zip minimum, not wrap.
        let epoch = dos_time(parse_rfc3339("1970-01-01T00:00:00Z").unwrap());
        assert_eq!(epoch, DosTime { time: 0, date: (1 << 5) | 1 });
        let far = dos_time(parse_rfc3339("2200-01-01T00:00:00Z").unwrap());
        assert_eq!(far.date >> 9, 127);
    }

    #[test]
    fn compressed_extensions_are_stored() {
        assert_eq!(Method::for_entry("reports/logs.tar.gz", 6), Method::Stored);
        assert_eq!(Method::for_entry("chart.PNG", 6), Method::Stored);
        assert_eq!(Method::for_entry("reports/soak_metrics.json", 6), Method::Deflated);
        assert_eq!(Method::for_entry("reports/soak_metrics.json", 0), Method::Stored);
        // A dotfile named like an extension is not a compressed file.
        assert_eq!(Method::for_entry("dir/.gz", 6), Method::Deflated);
        assert_eq!(Method::for_entry("gz", 6), Method::Deflated);
    }

    fn record(size: u64, header_offset: u64, zip64: bool) -> EntryRecord {
        EntryRecord {
            name: "a.txt".into(),
            method: Method::Deflated,
            crc32: 0xAABBCCDD,
            compressed_size: 7,
            size,
            header_offset,
            zip64,
        }
    }

    #[test]
    fn headers_have_fixed_fields() {
        let time = DosTime { time: 1, date: 33 };
        let local = local_header("a.txt", Method::Deflated, time, false).unwrap();
        assert_eq!(local.len(), LOCAL_HEADER_FIXED + 5);
        assert_eq!(&local[0..4], &[0x50, 0x4b, 0x03, 0x04]);
        assert_eq!(&local[8..10], &[8, 0]);
        assert_eq!(&local[14..26], &[0; 12]);
        assert_eq!(
            local_header_patches(&record(9, 0, false)).unwrap(),
            [(14, vec![0xDD, 0xCC, 0xBB, 0xAA, 7, 0, 0, 0, 9, 0, 0, 0])]
        );
        let central = central_directory(&[record(9, 0, false)], time, 100, false).unwrap();
        assert_eq!(&central[4..6], &[20, 3]);
        assert_eq!(&central[38..42], &(0o100644u32 << 16).to_le_bytes());
        assert_eq!(central.len(), 46 + 5 + 22);
    }

    #[test]
    fn zip64_only_where_needed() {
        assert!(!needs_zip64(4_000_000_000));
        assert!(needs_zip64(4_294_000_000));
        let time = DosTime { time: 1, date: 33 };
        let local = local_header("a.txt", Method::Deflated, time, true).unwrap();
        assert_eq!(local.len(), LOCAL_HEADER_FIXED + 5 + 20);
        assert_eq!(&local[18..26], &[0xFF; 8]);
        let big = 5_000_000_000u64;
        let patches = local_header_patches(&record(big, 0, true)).unwrap();
        assert_eq!(patches[1].0, 30 + 5 + 4);
        assert_eq!(&patches[1].1[..8], &big.to_le_bytes());
        // An offset past 4 GiB alone: only the offset goes in the zip64 extra, plus the end records.
        let central = central_directory(&[record(9, big, false)], time, big + 100, false).unwrap();
        assert_eq!(&central[42..46], &[0xFF; 4]);
        assert_eq!(&central[51..55], &[1, 0, 8, 0]);
        assert_eq!(&central[55..63], &big.to_le_bytes());
        assert_eq!(central.len(), 46 + 5 + 12 + 56 + 20 + 22);
        // A non-zip64 entry that somehow grew past 4 GiB is an error, never a wrapped size.
        assert!(local_header_patches(&record(ZIP32_LIMIT, 0, false)).is_err());
    }
}
