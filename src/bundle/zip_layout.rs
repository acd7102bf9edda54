//! Reading a zip's structure without inflating anything, for `bundle verify`: the end record,
//! the central directory and every local header, with the raw name bytes, flags and attributes
//! the zip crate hides or decodes. Whatever makes the archive mean different things to different
//! readers is a problem here, before any entry is inflated:
//!
//! - entries whose bytes overlap (the "overlapped components" zip bomb: many directory entries
//!   pointing at one huge stream), or that run past the central directory;
//! - bytes before the first entry or between entries (a prepended stub, an inserted payload);
//! - a data-descriptor flag without a matching descriptor after the data;
//! - names that are not valid UTF-8, non-ASCII names without the UTF-8 flag (readers decode
//!   them differently), names repeated byte for byte, local names different from central ones;
//! - anything but regular files and folders with ordinary permission bits (symlinks, devices,
//!   FIFOs, setuid, setgid, sticky), encrypted entries, methods other than stored and deflate.
//!
//! At least as strict as `unzip -t`, which rejects or warns about each of these.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::sanitize::display_path;

const LOCAL_SIGNATURE: u32 = 0x0403_4b50;
const CENTRAL_SIGNATURE: u32 = 0x0201_4b50;
const END_SIGNATURE: u32 = 0x0605_4b50;
const ZIP64_END_SIGNATURE: u32 = 0x0606_4b50;
const ZIP64_LOCATOR_SIGNATURE: u32 = 0x0706_4b50;
const DESCRIPTOR_SIGNATURE: u32 = 0x0807_4b50;
const END_FIXED: u64 = 22;
const CENTRAL_FIXED: usize = 46;
const LOCAL_FIXED: u64 = 30;
const FLAG_ENCRYPTED: u16 = 1;
const FLAG_DESCRIPTOR: u16 = 1 << 3;
const FLAG_UTF8: u16 = 1 << 11;
/// A crafted archive can have a problem per entry; the report lists this many, then counts.
const PROBLEMS_SHOWN: usize = 20;
/// A central directory larger than this is not a release's (a million entries is ~100 MiB).
const CENTRAL_DIRECTORY_MAX: u64 = 256 << 20;

/// One central-directory entry, as stored.
#[derive(Debug, Clone)]
pub(crate) struct RawEntry {
    pub(crate) name: Vec<u8>,
    pub(crate) flags: u16,
    pub(crate) method: u16,
    pub(crate) crc32: u32,
    pub(crate) compressed_size: u64,
    pub(crate) size: u64,
    pub(crate) header_offset: u64,
    pub(crate) external_attributes: u32,
    /// The bytes this entry occupies: local header, data, and data descriptor if any.
    pub(crate) span: (u64, u64),
}

/// What reading the structure found.
#[derive(Debug, Default)]
pub(crate) struct Layout {
    pub(crate) entries: Vec<RawEntry>,
    pub(crate) problems: Vec<String>,
    /// Inflating would be unsafe or meaningless (overlaps, entries out of range, repeated or
    /// mismatched names): verify reports the problems and inflates nothing.
    pub(crate) unsafe_to_inflate: bool,
}

/// A raw entry name, printable (invalid UTF-8 as `\xNN`, control characters escaped).
pub(crate) fn display_name(name: &[u8]) -> String {
    display_path(Path::new(OsStr::from_bytes(name)))
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes"))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"))
}

fn read_at(file: &File, offset: u64, length: usize) -> Option<Vec<u8>> {
    let mut buffer = vec![0u8; length];
    file.read_exact_at(&mut buffer, offset).ok()?;
    Some(buffer)
}

/// Where the central directory is, from the end record(s).
struct End {
    entries: u64,
    directory_size: u64,
    directory_offset: u64,
    /// Where the central directory must end: the zip64 end record, or the end record.
    directory_end: u64,
}

/// Reads the structure of the zip in `file` of `size` bytes. `Err` when it is not a zip at all
/// (no end record), with a plain reason.
pub(crate) fn read_layout(file: &File, size: u64) -> Result<Layout, String> {
    let end = find_end(file, size)?;
    let mut layout = Layout::default();
    if end.directory_offset.checked_add(end.directory_size) != Some(end.directory_end) {
        let expected = end.directory_end.saturating_sub(end.directory_size);
        layout.problems.push(format!(
            "the central directory is at byte {expected}, but the end record says {}: bytes were added \
             before or inside the archive",
            end.directory_offset
        ));
        layout.unsafe_to_inflate = true;
        return Ok(layout);
    }
    if end.directory_size > CENTRAL_DIRECTORY_MAX {
        return Err(format!(
            "its central directory claims {} bytes, more than any bundle has",
            end.directory_size
        ));
    }
    let directory = read_at(file, end.directory_offset, end.directory_size as usize)
        .ok_or_else(|| "its central directory cannot be read".to_string())?;
    let mut at = 0usize;
    while at < directory.len() {
        let Some(entry) = parse_central(&directory, &mut at) else {
            layout
                .problems
                .push(format!("the central directory is malformed at entry #{}", layout.entries.len()));
            layout.unsafe_to_inflate = true;
            return Ok(layout);
        };
        layout.entries.push(entry);
    }
    if layout.entries.len() as u64 != end.entries {
        layout.problems.push(format!(
            "the end record counts {} entries, the central directory holds {}",
            end.entries,
            layout.entries.len()
        ));
        layout.unsafe_to_inflate = true;
    }
    let mut entry_problems = Vec::new();
    for index in 0..layout.entries.len() {
        check_local(file, end.directory_offset, &mut layout, index, &mut entry_problems);
    }
    // Overlaps first: they are why the rest of a zip bomb looks odd.
    check_spans(&mut layout, end.directory_offset);
    layout.problems.extend(entry_problems);
    check_names(&mut layout);
    for entry in &layout.entries {
        if let Some(problem) = attribute_problem(entry) {
            layout.problems.push(format!("{}: {problem}", display_name(&entry.name)));
        }
    }
    if layout.problems.len() > PROBLEMS_SHOWN {
        let more = layout.problems.len() - PROBLEMS_SHOWN;
        layout.problems.truncate(PROBLEMS_SHOWN);
        layout.problems.push(format!("... and {more} more problems with the archive's structure"));
    }
    Ok(layout)
}

fn find_end(file: &File, size: u64) -> Result<End, String> {
    const NOT_A_ZIP: &str = "is not a readable zip archive (no end-of-central-directory record)";
    if size < END_FIXED {
        return Err(NOT_A_ZIP.into());
    }
    // The end record is the last 22 bytes plus a comment of up to 64 KiB.
    let tail_length = size.min(END_FIXED + 0xFFFF);
    let tail_start = size - tail_length;
    let tail = read_at(file, tail_start, tail_length as usize).ok_or_else(|| NOT_A_ZIP.to_string())?;
    let position = (0..=tail.len() - END_FIXED as usize)
        .rev()
        .find(|&at| {
            u32_at(&tail, at) == END_SIGNATURE
                && at + END_FIXED as usize + u16_at(&tail, at + 20) as usize == tail.len()
        })
        .ok_or_else(|| NOT_A_ZIP.to_string())?;
    let record = &tail[position..];
    let end_offset = tail_start + position as u64;
    if u16_at(record, 4) != 0 || u16_at(record, 6) != 0 {
        return Err("is a multi-disk (split) zip archive, which bundles never are".into());
    }
    let entries = u16_at(record, 10) as u64;
    let directory_size = u32_at(record, 12) as u64;
    let directory_offset = u32_at(record, 16) as u64;
    let zip64 = entries == 0xFFFF || directory_size == 0xFFFF_FFFF || directory_offset == 0xFFFF_FFFF;
    if !zip64 {
        if u16_at(record, 8) as u64 != entries {
            return Err("its end record disagrees with itself about the number of entries".into());
        }
        return Ok(End { entries, directory_size, directory_offset, directory_end: end_offset });
    }
    let locator = end_offset
        .checked_sub(20)
        .and_then(|at| read_at(file, at, 20))
        .filter(|locator| u32_at(locator, 0) == ZIP64_LOCATOR_SIGNATURE)
        .ok_or_else(|| "its end record asks for a zip64 end record that is not there".to_string())?;
    let zip64_offset = u64_at(&locator, 8);
    let record = read_at(file, zip64_offset, 56)
        .filter(|record| u32_at(record, 0) == ZIP64_END_SIGNATURE)
        .ok_or_else(|| "its zip64 end record is missing or malformed".to_string())?;
    if zip64_offset.checked_add(12).and_then(|at| at.checked_add(u64_at(&record, 4))) != Some(end_offset - 20)
    {
        return Err("its zip64 end record is not where the locator says".into());
    }
    Ok(End {
        entries: u64_at(&record, 32),
        directory_size: u64_at(&record, 40),
        directory_offset: u64_at(&record, 48),
        directory_end: zip64_offset,
    })
}

fn parse_central(directory: &[u8], at: &mut usize) -> Option<RawEntry> {
    let start = *at;
    let fixed = directory.get(start..start + CENTRAL_FIXED)?;
    if u32_at(fixed, 0) != CENTRAL_SIGNATURE {
        return None;
    }
    let name_length = u16_at(fixed, 28) as usize;
    let extra_length = u16_at(fixed, 30) as usize;
    let comment_length = u16_at(fixed, 32) as usize;
    let name_start = start + CENTRAL_FIXED;
    let extra_start = name_start + name_length;
    let next = extra_start + extra_length + comment_length;
    let name = directory.get(name_start..extra_start)?.to_vec();
    let extra = directory.get(extra_start..extra_start + extra_length)?;
    directory.get(..next)?;
    let mut size = u32_at(fixed, 24) as u64;
    let mut compressed_size = u32_at(fixed, 20) as u64;
    let mut header_offset = u32_at(fixed, 42) as u64;
    if u16_at(fixed, 34) != 0 {
        return None; // another disk
    }
    // The zip64 extra holds, in this order, only the fields whose 32-bit value is 0xFFFFFFFF.
    let mut field = 0usize;
    let mut extra_at = 0usize;
    while extra_at + 4 <= extra.len() {
        let id = u16_at(extra, extra_at);
        let length = u16_at(extra, extra_at + 2) as usize;
        let data = extra.get(extra_at + 4..extra_at + 4 + length)?;
        if id == 0x0001 {
            for value in [&mut size, &mut compressed_size, &mut header_offset] {
                if *value == 0xFFFF_FFFF {
                    *value = u64_at(data.get(field..field + 8)?, 0);
                    field += 8;
                }
            }
        }
        extra_at += 4 + length;
    }
    *at = next;
    Some(RawEntry {
        name,
        flags: u16_at(fixed, 8),
        method: u16_at(fixed, 10),
        crc32: u32_at(fixed, 16),
        compressed_size,
        size,
        header_offset,
        external_attributes: u32_at(fixed, 38),
        span: (header_offset, header_offset),
    })
}

/// Reads the local header of entry `index`, sets its span, and checks it against the central one.
fn check_local(
    file: &File,
    directory_offset: u64,
    layout: &mut Layout,
    index: usize,
    problems: &mut Vec<String>,
) {
    let entry = &layout.entries[index];
    let shown = display_name(&entry.name);
    let header = read_at(file, entry.header_offset, LOCAL_FIXED as usize).filter(|header| {
        entry.header_offset + LOCAL_FIXED <= directory_offset && u32_at(header, 0) == LOCAL_SIGNATURE
    });
    let Some(header) = header else {
        problems.push(format!("{shown}: no local header at byte {}", entry.header_offset));
        layout.unsafe_to_inflate = true;
        return;
    };
    let name_length = u16_at(&header, 26) as u64;
    let extra_length = u16_at(&header, 28) as u64;
    let local_name = read_at(file, entry.header_offset + LOCAL_FIXED, name_length as usize);
    if local_name.as_deref() != Some(entry.name.as_slice()) {
        problems.push(format!("{shown}: the local header names it differently"));
        layout.unsafe_to_inflate = true;
    }
    if u16_at(&header, 6) & FLAG_DESCRIPTOR != entry.flags & FLAG_DESCRIPTOR {
        layout
            .problems
            .push(format!("{shown}: the local and central headers disagree about a data descriptor"));
    }
    let data_end = entry.header_offset + LOCAL_FIXED + name_length + extra_length + entry.compressed_size;
    let mut end = data_end;
    if entry.flags & FLAG_DESCRIPTOR != 0 {
        match descriptor_length(file, data_end, entry) {
            Some(length) => end += length,
            None => problems.push(format!(
                "{shown}: has the data-descriptor flag but no matching data descriptor after its data"
            )),
        }
    }
    if end > directory_offset {
        problems.push(format!("{shown}: its data runs past the start of the central directory"));
        layout.unsafe_to_inflate = true;
    }
    layout.entries[index].span = (entry.header_offset, end);
}

/// The length of a data descriptor at `at` that matches the entry's CRC and sizes, if there is
/// one (with or without its optional signature, 32- or 64-bit sizes).
fn descriptor_length(file: &File, at: u64, entry: &RawEntry) -> Option<u64> {
    let bytes = read_at(file, at, 24).or_else(|| read_at(file, at, 16)).or_else(|| read_at(file, at, 12))?;
    let with_signature = bytes.len() >= 4 && u32_at(&bytes, 0) == DESCRIPTOR_SIGNATURE;
    let base = if with_signature { 4 } else { 0 };
    let matches32 = bytes.len() >= base + 12
        && u32_at(&bytes, base) == entry.crc32
        && u32_at(&bytes, base + 4) as u64 == entry.compressed_size
        && u32_at(&bytes, base + 8) as u64 == entry.size;
    if matches32 {
        return Some(base as u64 + 12);
    }
    let matches64 = bytes.len() >= base + 20
        && u32_at(&bytes, base) == entry.crc32
        && u64_at(&bytes, base + 4) == entry.compressed_size
        && u64_at(&bytes, base + 12) == entry.size;
    matches64.then_some(base as u64 + 20)
}

/// Entries must tile the bytes before the central directory: no overlap, nothing before the
/// first, nothing between.
fn check_spans(layout: &mut Layout, directory_offset: u64) {
    let mut order: Vec<usize> = (0..layout.entries.len()).collect();
    order.sort_by_key(|&index| layout.entries[index].span);
    let mut covered_to = 0u64;
    let mut previous: Option<usize> = None;
    let mut overlaps = 0usize;
    for &index in &order {
        let (start, end) = layout.entries[index].span;
        if start < covered_to {
            overlaps += 1;
            if overlaps == 1 {
                let before = previous.map(|at| display_name(&layout.entries[at].name)).unwrap_or_default();
                layout.problems.push(format!(
                    "{}: overlaps {before} (bytes {start}..{}); entries sharing bytes are how zip bombs work",
                    display_name(&layout.entries[index].name),
                    covered_to.min(end)
                ));
            }
            layout.unsafe_to_inflate = true;
        } else if start > covered_to {
            let what = match previous {
                None => "before the first entry".to_string(),
                Some(at) => format!("after {}", display_name(&layout.entries[at].name)),
            };
            layout.problems.push(format!(
                "{} bytes {what} belong to no entry (something was prepended or inserted)",
                start - covered_to
            ));
        }
        if end > covered_to {
            covered_to = end;
            previous = Some(index);
        }
    }
    if overlaps > 1 {
        layout.problems.push(format!("{overlaps} entries in all overlap another one"));
    }
    if !layout.unsafe_to_inflate && covered_to < directory_offset {
        let after = previous.map_or("before the central directory".to_string(), |at| {
            format!("after {}", display_name(&layout.entries[at].name))
        });
        layout.problems.push(format!(
            "{} bytes {after} belong to no entry (something was inserted)",
            directory_offset - covered_to
        ));
    }
}

fn check_names(layout: &mut Layout) {
    let mut seen: BTreeMap<&[u8], usize> = BTreeMap::new();
    let mut problems = Vec::new();
    for entry in &layout.entries {
        let shown = display_name(&entry.name);
        if std::str::from_utf8(&entry.name).is_err() {
            problems.push(format!(
                "{shown}: entry name is not valid UTF-8 (readers would each decode it differently)"
            ));
        } else if !entry.name.is_ascii() && entry.flags & FLAG_UTF8 == 0 {
            problems.push(format!(
                "{shown}: entry name is not ASCII and lacks the UTF-8 flag (readers would decode it as CP437)"
            ));
        }
        *seen.entry(entry.name.as_slice()).or_insert(0) += 1;
    }
    for (name, count) in &seen {
        if *count > 1 {
            problems.push(format!(
                "{}: entry name appears {count} times; an extractor could write either copy",
                display_name(name)
            ));
            layout.unsafe_to_inflate = true;
        }
    }
    // Names that differ byte for byte can still be extracted to one file: `./VERSION`,
    // `deploy//x`, `deploy\x`, `x/` next to `x`, or `README.md` next to `readme.md` on a
    // case-insensitive file system. Whichever is written last wins, unseen by this check.
    let names: Vec<&str> = seen.keys().filter_map(|name| std::str::from_utf8(name).ok()).collect();
    for name in &names {
        if let Some(problem) = non_canonical_name(name) {
            problems.push(format!("{}: entry name {problem}", display_name(name.as_bytes())));
        }
    }
    problems.extend(extraction_clashes(&names, |name| display_name(name.as_bytes())));
    layout.problems.extend(problems);
}

/// Why a name is not in the one form mmops writes (`/`-separated, no empty or `.` parts; a
/// folder ends in one `/`), if it is not: extractors normalize such names, so two entries can
/// land on one file.
pub(crate) fn non_canonical_name(name: &str) -> Option<&'static str> {
    if name.contains('\\') {
        return Some("contains a backslash (Windows extractors treat it as a folder separator)");
    }
    let body = name.strip_suffix('/').unwrap_or(name);
    if !body.is_empty() && body.split('/').any(|part| part.is_empty() || part == ".") {
        return Some("has an empty or \".\" part (extractors write it under a shorter name)");
    }
    None
}

/// The file an extractor on a case-insensitive file system writes `name` to: `/` and `\`
/// separated, empty and `.` parts dropped, lower case.
pub(crate) fn extraction_key(name: &str) -> String {
    name.split(['/', '\\'])
        .filter(|part| !part.is_empty() && *part != ".")
        .collect::<Vec<_>>()
        .join("/")
        .to_lowercase()
}

/// One line per pair of distinct names that an extractor would write to the same file, or where
/// one is a file and the other needs a folder of that name; `show` prints a name.
pub(crate) fn extraction_clashes(names: &[&str], show: impl Fn(&str) -> String) -> Vec<String> {
    let mut by_key: BTreeMap<String, &str> = BTreeMap::new();
    let mut clashes = Vec::new();
    for &name in names {
        match by_key.entry(extraction_key(name)) {
            std::collections::btree_map::Entry::Occupied(first) => clashes.push(format!(
                "{}: is extracted to the same file as {} (names that differ only in case or in `.`, `/` or \
                 `\\` parts; whichever is written last wins)",
                show(name),
                show(first.get())
            )),
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(name);
            }
        }
    }
    for (key, &name) in &by_key {
        if name.ends_with('/') || key.is_empty() {
            continue;
        }
        let inside = format!("{key}/");
        if let Some((_, &other)) =
            by_key.range(inside.clone()..).next().filter(|(k, _)| k.starts_with(&inside))
        {
            clashes.push(format!(
                "{}: needs a folder named like the file {}; extracting one of them fails",
                show(other),
                show(name)
            ));
        }
    }
    clashes
}

/// Unix mode from the high half of the external attributes (0 when the writer set none).
fn attribute_problem(entry: &RawEntry) -> Option<String> {
    if entry.flags & FLAG_ENCRYPTED != 0 {
        return Some("is encrypted; releases are not".into());
    }
    if entry.method != 0 && entry.method != 8 {
        return Some(format!(
            "uses compression method {}; releases use stored (0) or deflate (8)",
            entry.method
        ));
    }
    let mode = entry.external_attributes >> 16;
    let is_folder_name = entry.name.ends_with(b"/");
    if mode == 0 {
        return None;
    }
    let kind = match mode & 0o170000 {
        // Permission bits without a type (Python's zipfile writes 0o600): a file or a folder by
        // its name.
        0 if is_folder_name => "folder",
        0 => "file",
        0o100000 if is_folder_name => {
            return Some("is a regular file with a folder's name (ending in /)".into());
        }
        0o100000 => "file",
        0o040000 if !is_folder_name => return Some("is a folder whose name does not end in /".into()),
        0o040000 => "folder",
        0o120000 => return Some("is a symbolic link; releases hold only regular files and folders".into()),
        0o020000 | 0o060000 => {
            return Some("is a device; releases hold only regular files and folders".into());
        }
        0o010000 => return Some("is a FIFO; releases hold only regular files and folders".into()),
        0o140000 => return Some("is a socket; releases hold only regular files and folders".into()),
        _ => return Some(format!("has an unknown file type in its mode {mode:o}")),
    };
    if mode & 0o7000 != 0 {
        let mut bits = Vec::new();
        for (bit, word) in [(0o4000, "setuid"), (0o2000, "setgid"), (0o1000, "sticky")] {
            if mode & bit != 0 {
                bits.push(word);
            }
        }
        return Some(format!(
            "is a {kind} with the {} bit{} set (mode {:o}); releases use ordinary permissions",
            bits.join(" and "),
            crate::units::plural_s(bits.len()),
            mode & 0o7777
        ));
    }
    None
}
