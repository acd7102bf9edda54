//! Why a rebuilt release differs from the one already released under its name: only the build
//! time (say so and name `SOURCE_DATE_EPOCH` with the value that reproduces it), the tool or
//! level that made it, or the first entry whose bytes differ.
//!
//! Also `mmops bundle verify ZIP --rebuild`, the reproducible-builds rebuilder check: build the
//! release again from the working tree with the recipe and `SOURCE_DATE_EPOCH` its provenance
//! records, in a temporary folder, and compare the bytes; on a difference, name the first entry
//! that differs and how (order, content digest, metadata, compression).

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use anyhow::{Context as _, Result, anyhow};

use serde::Deserialize;

use super::inputs::{self, MANIFEST_NAME, SUMMARY_NAME};
use super::manifest::{Generator, Manifest, ManifestFile};
use super::provenance;
use super::zip_layout::{self, RawEntry, display_name};
use crate::clock;
use crate::context::Context;
use crate::limits;
use crate::progress::Progress;
use crate::sanitize::{display_path, display_text};

/// Rebuilds the release at `zip` from the working tree with the recipe in `<zip>.intoto.json`
/// and compares the bytes. `Ok(Err(why))` is a difference (or a recipe that cannot be rebuilt),
/// named; `Err` is a failure to run (an unreadable file, no temporary folder).
/// `released` is the zip verify opened (at `zip`): the rebuild is compared with those bytes.
pub(crate) fn rebuild_and_compare(
    zip: &Path,
    released: &File,
    context: &Context,
) -> Result<Result<(), String>> {
    let mut provenance_name = zip.as_os_str().to_owned();
    provenance_name.push(".intoto.json");
    let provenance_path = Path::new(&provenance_name);
    let shown = display_path(provenance_path);
    if std::fs::symlink_metadata(provenance_path).is_err() {
        return Ok(Err(format!("{shown} is missing; --rebuild rebuilds from the recipe it records")));
    }
    let bytes = limits::read_limited(provenance_path, limits::PROVENANCE_MAX, "provenance statement")?;
    let recipe =
        provenance::parse(&bytes).map_err(|problem| anyhow!("{shown} {problem}")).and_then(|parsed| {
            let (recipe, epoch) = parsed.recipe().map_err(|error| anyhow!("{shown}: {error:#}"))?;
            inputs::check_name(&recipe.name)
                .map_err(|error| anyhow!("{shown}: the recorded name: {error:#}"))?;
            inputs::check_config(&recipe.config, &format!("the file list recorded in {shown}"))?;
            let time = chrono::DateTime::from_timestamp(epoch, 0)
                .filter(|_| epoch >= 0)
                .ok_or_else(|| anyhow!("{shown}: sourceDateEpoch {epoch} is out of range"))?;
            Ok((recipe, time))
        });
    let (recipe, build_time) = match recipe {
        Ok(found) => found,
        Err(error) => return Ok(Err(format!("{error:#}"))),
    };
    let recorded_name = format!("{}-v{}.zip", recipe.name, recipe.version);
    let zip_name = zip.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    if recorded_name != zip_name {
        return Ok(Err(format!(
            "{shown} records a build of {}, not of {}",
            display_text(&recorded_name, false),
            display_text(&zip_name, false)
        )));
    }
    // A private temporary folder, removed when this returns (also on error).
    let folder = tempfile::Builder::new()
        .prefix(&format!("{}{}-rebuild-", crate::atomic_write::TEMP_PREFIX, std::process::id()))
        .tempdir()
        .context("cannot create a temporary folder to rebuild in")?;
    let plan = match super::plan_recipe(recipe, folder.path(), build_time) {
        Ok(plan) => plan,
        Err(error) => return Ok(Err(format!("this tree cannot rebuild it: {error:#}"))),
    };
    let rebuilt_path = folder.path().join(&zip_name);
    #[allow(
        clippy::disallowed_methods,
        reason = "a scratch zip in this run's private temporary folder, compared and removed, never placed"
    )]
    let mut rebuilt = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&rebuilt_path)
        .context("cannot create the rebuilt zip in the temporary folder")?;
    let total: u64 = plan.inputs.iter().map(|input| input.size).sum();
    let progress = Progress::bytes(&context.printer, total, 4 << 20, "rebuilding");
    let built = super::build_zip(&plan, &mut rebuilt, &progress, &std::sync::atomic::AtomicBool::new(false));
    progress.finish();
    let (manifest, _) = match built {
        Ok(built) => built,
        Err(error) => return Ok(Err(format!("this tree cannot rebuild it: {error:#}"))),
    };
    let released = released.try_clone().with_context(|| format!("cannot read {}", display_path(zip)))?;
    if same_bytes(&released, &rebuilt).context("cannot compare the rebuilt zip")? {
        return Ok(Ok(()));
    }
    Ok(Err(first_difference(released, &rebuilt, &manifest)))
}

fn same_bytes(one: &File, two: &File) -> std::io::Result<bool> {
    if one.metadata()?.len() != two.metadata()?.len() {
        return Ok(false);
    }
    let (mut one, mut two) = (BufReader::new(one), BufReader::new(two));
    one.seek(SeekFrom::Start(0))?;
    two.seek(SeekFrom::Start(0))?;
    let (mut a, mut b) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let read = one.read(&mut a)?;
        if read == 0 {
            return Ok(true);
        }
        two.read_exact(&mut b[..read])?;
        if a[..read] != b[..read] {
            return Ok(false);
        }
    }
}

/// The first entry that differs between the release and the rebuild, and how.
fn first_difference(released: File, rebuilt: &File, built: &Manifest) -> String {
    let layouts = (
        released.metadata().ok().and_then(|metadata| zip_layout::read_layout(&released, metadata.len()).ok()),
        rebuilt.metadata().ok().and_then(|metadata| zip_layout::read_layout(rebuilt, metadata.len()).ok()),
    );
    let (Some(old), Some(new)) = layouts else {
        return format!("the rebuilt zip differs; {}", explain(released, built));
    };
    for index in 0..old.entries.len().max(new.entries.len()) {
        let (Some(a), Some(b)) = (old.entries.get(index), new.entries.get(index)) else {
            return format!("the entries differ in number; {}", explain(released, built));
        };
        if a.name != b.name {
            let mut names_a: Vec<&[u8]> = old.entries.iter().map(|entry| entry.name.as_slice()).collect();
            let mut names_b: Vec<&[u8]> = new.entries.iter().map(|entry| entry.name.as_slice()).collect();
            names_a.sort();
            names_b.sort();
            if names_a == names_b {
                return format!(
                    "order: entry {} is {} in the release, {} in the rebuild (the same entries in another order)",
                    index + 1,
                    display_name(&a.name),
                    display_name(&b.name)
                );
            }
            return format!("entry {} differs: {}", index + 1, explain(released, built));
        }
        let name = display_name(&a.name);
        if a.crc32 != b.crc32 || a.size != b.size {
            return format!(
                "the first entry that differs is {name}: content digest (crc32 {:08x}, {} bytes in the release;                  {:08x}, {} bytes in the rebuild); {}",
                a.crc32,
                a.size,
                b.crc32,
                b.size,
                explain(released, built)
            );
        }
        if let Some(how) = metadata_difference(&released, a, rebuilt, b) {
            return format!("the first entry that differs is {name}: same content, {how}");
        }
    }
    "every entry is identical; the central directory or the archive comment differs".to_string()
}

/// How two entries with the same content differ in their stored form, if they do.
fn metadata_difference(released: &File, a: &RawEntry, rebuilt: &File, b: &RawEntry) -> Option<String> {
    let fields = [
        ("general-purpose flags", u64::from(a.flags), u64::from(b.flags)),
        ("compression method", u64::from(a.method), u64::from(b.method)),
        (
            "external attributes (permissions)",
            u64::from(a.external_attributes),
            u64::from(b.external_attributes),
        ),
    ];
    for (field, one, two) in fields {
        if one != two {
            return Some(format!("metadata: {field} {one:#x} in the release, {two:#x} in the rebuild"));
        }
    }
    let header = |file: &File, entry: &RawEntry| -> Option<Vec<u8>> {
        let mut bytes = vec![0u8; 30];
        let mut reader = file;
        reader.seek(SeekFrom::Start(entry.span.0)).ok()?;
        reader.read_exact(&mut bytes).ok()?;
        Some(bytes)
    };
    let (one, two) = (header(released, a)?, header(rebuilt, b)?);
    if one[10..14] != two[10..14] {
        return Some("metadata: modification time (the build time: SOURCE_DATE_EPOCH)".into());
    }
    if one != two {
        return Some("metadata: local header".into());
    }
    if a.compressed_size != b.compressed_size {
        return Some(format!(
            "compressed differently ({} bytes in the release, {} in the rebuild: another compressor or level)",
            a.compressed_size, b.compressed_size
        ));
    }
    let same = same_range(released, a.span, rebuilt, b.span).unwrap_or(false);
    (!same).then(|| "compressed differently (another compressor or level)".to_string())
}

/// Whether two byte ranges of two files are equal.
fn same_range(one: &File, a: (u64, u64), two: &File, b: (u64, u64)) -> std::io::Result<bool> {
    if a.1 - a.0 != b.1 - b.0 {
        return Ok(false);
    }
    let mut one = BufReader::new(one);
    let mut two = BufReader::new(two);
    one.seek(SeekFrom::Start(a.0))?;
    two.seek(SeekFrom::Start(b.0))?;
    let (mut x, mut y) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    let mut left = a.1 - a.0;
    while left > 0 {
        let chunk = left.min(x.len() as u64) as usize;
        one.read_exact(&mut x[..chunk])?;
        two.read_exact(&mut y[..chunk])?;
        if x[..chunk] != y[..chunk] {
            return Ok(false);
        }
        left -= chunk as u64;
    }
    Ok(true)
}

/// The released zip's manifest can be no larger than this to be compared.
const MANIFEST_LIMIT: u64 = 64 << 20;

#[derive(Debug, Deserialize)]
struct ReleasedManifest {
    created_at: String,
    generator: Option<Generator>,
    files: Vec<ManifestFile>,
}

/// One sentence on how the release at `existing` differs from `built`.
pub(crate) fn explain(existing: File, built: &Manifest) -> String {
    match read_manifest(existing) {
        Ok(released) => compare(&released, built),
        Err(reason) => format!("the existing file {reason}, so it cannot be compared entry by entry"),
    }
}

fn read_manifest(existing: File) -> Result<ReleasedManifest, String> {
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(existing))
        .map_err(|_| "is not a readable zip".to_string())?;
    let mut entry = archive.by_name(MANIFEST_NAME).map_err(|_| format!("has no {MANIFEST_NAME}"))?;
    let mut bytes = Vec::new();
    entry
        .by_ref()
        .take(MANIFEST_LIMIT)
        .read_to_end(&mut bytes)
        .map_err(|_| format!("has an unreadable {MANIFEST_NAME}"))?;
    serde_json::from_slice(&bytes).map_err(|_| format!("has a {MANIFEST_NAME} mmops cannot read"))
}

fn compare(released: &ReleasedManifest, built: &Manifest) -> String {
    let content = |files: &[ManifestFile]| -> Vec<(String, String, u64)> {
        files
            .iter()
            .filter(|file| file.path != SUMMARY_NAME)
            .map(|file| (file.path.clone(), file.sha256.to_ascii_lowercase(), file.size))
            .collect()
    };
    let (old, new) = (content(&released.files), content(&built.files));
    for index in 0..old.len().max(new.len()) {
        match (old.get(index), new.get(index)) {
            (Some(a), Some(b)) if a == b => continue,
            (Some(a), Some(b)) if a.0 == b.0 => {
                return format!(
                    "the first entry that differs is {}: sha256 {} ({} bytes) in the release, {} ({} bytes) in this build",
                    display_text(&a.0, false),
                    display_text(&a.1, false),
                    a.2,
                    b.1,
                    b.2
                );
            }
            (Some(a), Some(b)) => {
                return format!(
                    "the first entry that differs is number {}: {} in the release, {} in this build",
                    index + 1,
                    display_text(&a.0, false),
                    display_text(&b.0, false)
                );
            }
            (Some(a), None) => {
                return format!("{} is in the release but not in this build", display_text(&a.0, false));
            }
            (None, Some(b)) => {
                return format!("{} is in this build but not in the release", display_text(&b.0, false));
            }
            (None, None) => unreachable!("the loop stays below the longer length"),
        }
    }
    if let Some(generator) = &released.generator
        && generator != &built.generator
    {
        return format!(
            "every file is the same, but the release was made by {} and this build by {}",
            display_text(&generator.short(), false),
            built.generator.short()
        );
    }
    if released.created_at != built.created_at {
        let reproduce = clock::parse_rfc3339(&released.created_at)
            .map(|instant| {
                format!("; rebuild with SOURCE_DATE_EPOCH={} to get its bytes", instant.timestamp())
            })
            .unwrap_or_default();
        return format!(
            "the two differ only in build time ({} in the release, {} in this build){reproduce}",
            display_text(&released.created_at, false),
            built.created_at
        );
    }
    format!("every file is the same; the first entry that differs is {SUMMARY_NAME}")
}

/// Opens an existing release without following a link and without blocking on a FIFO;
/// `None` when there is none.
pub(crate) fn open_existing(path: &Path) -> std::io::Result<Option<File>> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY;
    match rustix::fs::open(path, flags, Mode::empty()) {
        Ok(fd) => Ok(Some(File::from(fd))),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(errno) => Err(errno.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, sha256: &str) -> ManifestFile {
        ManifestFile { path: path.into(), sha256: sha256.into(), size: 1, description: String::new() }
    }

    fn built(created_at: &str, files: Vec<ManifestFile>) -> Manifest {
        Manifest {
            version: "1.0.0".into(),
            created_at: created_at.into(),
            generator: Generator::current(6),
            files,
        }
    }

    fn released(created_at: &str, files: Vec<ManifestFile>) -> ReleasedManifest {
        ReleasedManifest { created_at: created_at.into(), generator: Some(Generator::current(6)), files }
    }

    #[test]
    fn names_the_build_time_or_the_first_differing_entry() {
        let same = vec![file("VERSION", "aa"), file(SUMMARY_NAME, "s1")];
        let moved = vec![file("VERSION", "aa"), file(SUMMARY_NAME, "s2")];
        assert_eq!(
            compare(&released("2025-10-11T12:00:00Z", same.clone()), &built("2025-10-12T12:00:00Z", moved)),
            "the two differ only in build time (2025-10-11T12:00:00Z in the release, 2025-10-12T12:00:00Z in \
             this build); rebuild with SOURCE_DATE_EPOCH=1760184000 to get its bytes"
        );
        let changed = vec![file("VERSION", "bb"), file(SUMMARY_NAME, "s1")];
        assert!(
            compare(&released("t", same.clone()), &built("t", changed)).starts_with(
                "the first entry that differs is VERSION: sha256 aa (1 bytes) in the release, bb"
            )
        );
        let more = vec![file("VERSION", "aa"), file("extra", "cc")];
        assert_eq!(
            compare(&released("t", same.clone()), &built("t", more)),
            "extra is in this build but not in the release"
        );
        let mut older = released("t", same.clone());
        older.generator = Some(Generator::current(9));
        assert!(compare(&older, &built("t", same)).contains("the release was made by mmops"));
    }
}
