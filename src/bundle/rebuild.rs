//! Why a rebuilt release differs from the one already released under its name: only the build
//! time (say so and name `SOURCE_DATE_EPOCH` with the value that reproduces it), the tool or
//! level that made it, or the first entry whose bytes differ.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use serde::Deserialize;

use super::inputs::{MANIFEST_NAME, SUMMARY_NAME};
use super::manifest::{Generator, Manifest, ManifestFile};
use crate::clock;
use crate::sanitize::display_text;

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
