//! The bytes of the zip container, as pure functions: local and central headers, the end record,
//! DOS timestamps, and which inputs are stored rather than deflated.
//!
//! mmops writes the container itself (the zip crate reads it back in `bundle verify` and in tests)
//! because zip 9 can only add pre-compressed entries whose whole compressed data sits in memory;
//! writing the headers here lets large files stream through the parallel compressor with bounded
//! memory. Every field that could vary between machines is fixed: "made by" Unix, mode 0644, no
//! extra fields, no comments, the build time in every entry, entries in list order.

use anyhow::{Result, bail};
use chrono::{DateTime, Datelike, Timelike, Utc};

/// The largest offset or size a zip without zip64 records can hold.
pub(crate) const ZIP32_LIMIT: u64 = 0xFFFF_FFFF;

/// Size of a local file header before the name.
pub(crate) const LOCAL_HEADER_FIXED: usize = 30;
/// Offset of the CRC-32 inside a local file header (CRC, compressed size, size follow).
pub(crate) const LOCAL_HEADER_CRC_OFFSET: u64 = 14;

const LOCAL_SIGNATURE: u32 = 0x0403_4b50;
const CENTRAL_SIGNATURE: u32 = 0x0201_4b50;
const END_SIGNATURE: u32 = 0x0605_4b50;
/// Version 2.0 (deflate), made on Unix (3), so readers apply the Unix mode in the attributes.
const VERSION_MADE_BY: u16 = (3 << 8) | 20;
/// Regular file, rw-r--r--, in the high half of the external attributes (Unix convention).
const EXTERNAL_ATTRIBUTES: u32 = 0o100644 << 16;
/// General-purpose flag bit 11: the name is UTF-8.
const FLAG_UTF8: u16 = 1 << 11;

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

/// An MS-DOS date and time, as zip stores them (local time without a zone: mmops stores UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DosTime {
    pub(crate) time: u16,
    pub(crate) date: u16,
}

impl DosTime {
    /// The DOS form of an instant, clamped to the range DOS can express (1980-01-01 to
    /// 2107-12-31); seconds are rounded down to even, the format's resolution.
    pub(crate) fn from_utc(instant: DateTime<Utc>) -> DosTime {
        let year = instant.year();
        if year < 1980 {
            return DosTime { time: 0, date: (1 << 5) | 1 };
        }
        if year > 2107 {
            return DosTime { time: (23 << 11) | (59 << 5) | 29, date: (127 << 9) | (12 << 5) | 31 };
        }
        let time = ((instant.hour() as u16) << 11)
            | ((instant.minute() as u16) << 5)
            | (instant.second() as u16 / 2);
        let date = (((year - 1980) as u16) << 9) | ((instant.month() as u16) << 5) | instant.day() as u16;
        DosTime { time, date }
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
}

fn flags(name: &str) -> u16 {
    if name.is_ascii() { 0 } else { FLAG_UTF8 }
}

fn to_u32(value: u64, what: &str) -> Result<u32> {
    if value >= ZIP32_LIMIT {
        bail!("{what} reaches 4 GiB; bundles that large need zip64, which mmops does not write");
    }
    Ok(value as u32)
}

fn name_length(name: &str) -> Result<u16> {
    u16::try_from(name.len()).map_err(|_| anyhow::anyhow!("entry name {name:?} is longer than 65535 bytes"))
}

/// The local header of an entry. With `record` absent the CRC and sizes are zero placeholders,
/// patched once the data is written (see [`local_header_sizes`]).
pub(crate) fn local_header(name: &str, method: Method, time: DosTime) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(LOCAL_HEADER_FIXED + name.len());
    put_u32(&mut out, LOCAL_SIGNATURE);
    put_u16(&mut out, method.version_needed());
    put_u16(&mut out, flags(name));
    put_u16(&mut out, method.code());
    put_u16(&mut out, time.time);
    put_u16(&mut out, time.date);
    put_u32(&mut out, 0); // CRC-32, patched
    put_u32(&mut out, 0); // compressed size, patched
    put_u32(&mut out, 0); // size, patched
    put_u16(&mut out, name_length(name)?);
    put_u16(&mut out, 0); // no extra fields
    out.extend_from_slice(name.as_bytes());
    Ok(out)
}

/// The 12 bytes (CRC-32, compressed size, size) written over the local header's placeholders.
pub(crate) fn local_header_sizes(record: &EntryRecord) -> Result<[u8; 12]> {
    let mut out = [0u8; 12];
    out[0..4].copy_from_slice(&record.crc32.to_le_bytes());
    out[4..8].copy_from_slice(&to_u32(record.compressed_size, &record.name)?.to_le_bytes());
    out[8..12].copy_from_slice(&to_u32(record.size, &record.name)?.to_le_bytes());
    Ok(out)
}

/// The central directory followed by the end record; `start` is where it begins in the file.
pub(crate) fn central_directory(records: &[EntryRecord], time: DosTime, start: u64) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for record in records {
        put_u32(&mut out, CENTRAL_SIGNATURE);
        put_u16(&mut out, VERSION_MADE_BY);
        put_u16(&mut out, record.method.version_needed());
        put_u16(&mut out, flags(&record.name));
        put_u16(&mut out, record.method.code());
        put_u16(&mut out, time.time);
        put_u16(&mut out, time.date);
        put_u32(&mut out, record.crc32);
        put_u32(&mut out, to_u32(record.compressed_size, &record.name)?);
        put_u32(&mut out, to_u32(record.size, &record.name)?);
        put_u16(&mut out, name_length(&record.name)?);
        put_u16(&mut out, 0); // extra fields
        put_u16(&mut out, 0); // comment
        put_u16(&mut out, 0); // disk number
        put_u16(&mut out, 0); // internal attributes
        put_u32(&mut out, EXTERNAL_ATTRIBUTES);
        put_u32(&mut out, to_u32(record.header_offset, "the bundle")?);
        out.extend_from_slice(record.name.as_bytes());
    }
    let count = u16::try_from(records.len())
        .ok()
        .filter(|count| *count < u16::MAX)
        .ok_or_else(|| anyhow::anyhow!("a bundle holds at most 65534 entries without zip64"))?;
    let size = out.len() as u64;
    put_u32(&mut out, END_SIGNATURE);
    put_u16(&mut out, 0); // this disk
    put_u16(&mut out, 0); // disk with the central directory
    put_u16(&mut out, count);
    put_u16(&mut out, count);
    put_u32(&mut out, to_u32(size, "the central directory")?);
    put_u32(&mut out, to_u32(start, "the bundle")?);
    put_u16(&mut out, 0); // comment length
    Ok(out)
}

fn put_u16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_rfc3339;

    #[test]
    fn dos_time_encodes_and_clamps() {
        let time = DosTime::from_utc(parse_rfc3339("2025-10-11T12:34:57Z").unwrap());
        assert_eq!(time.date, (45 << 9) | (10 << 5) | 11);
        assert_eq!(time.time, (12 << 11) | (34 << 5) | 28);
        // CI_FAKE_UTC=1970-01-01 is common in CI: it must become the zip minimum, not wrap.
        let epoch = DosTime::from_utc(parse_rfc3339("1970-01-01T00:00:00Z").unwrap());
        assert_eq!(epoch, DosTime { time: 0, date: (1 << 5) | 1 });
        let far = DosTime::from_utc(parse_rfc3339("2200-01-01T00:00:00Z").unwrap());
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

    #[test]
    fn headers_have_fixed_fields() {
        let time = DosTime { time: 1, date: 33 };
        let local = local_header("a.txt", Method::Deflated, time).unwrap();
        assert_eq!(local.len(), LOCAL_HEADER_FIXED + 5);
        assert_eq!(&local[0..4], &[0x50, 0x4b, 0x03, 0x04]);
        assert_eq!(&local[8..10], &[8, 0]);
        assert_eq!(&local[14..26], &[0; 12]);
        let record = EntryRecord {
            name: "a.txt".into(),
            method: Method::Deflated,
            crc32: 0xAABBCCDD,
            compressed_size: 7,
            size: 9,
            header_offset: 0,
        };
        assert_eq!(
            &local_header_sizes(&record).unwrap()[..],
            &[0xDD, 0xCC, 0xBB, 0xAA, 7, 0, 0, 0, 9, 0, 0, 0]
        );
        let central = central_directory(&[record], time, 100).unwrap();
        assert_eq!(&central[4..6], &[20, 3]);
        assert_eq!(&central[38..42], &(0o100644u32 << 16).to_le_bytes());
        assert_eq!(central.len(), 46 + 5 + 22);
    }

    #[test]
    fn refuses_what_needs_zip64() {
        let record = EntryRecord {
            name: "big".into(),
            method: Method::Stored,
            crc32: 0,
            compressed_size: ZIP32_LIMIT,
            size: ZIP32_LIMIT,
            header_offset: 0,
        };
        assert!(local_header_sizes(&record).unwrap_err().to_string().contains("zip64"));
    }
}
