//! `mmops bundle verify ZIP`: checks a bundle against its `.sha256` sidecar and its own
//! `MANIFEST.json` without extracting anything: every listed file present with the listed size
//! and SHA-256, nothing unlisted, no unsafe or repeated names, every CRC good.
//!
//! The zip's own hash and the entries are checked at the same time on separate threads, so
//! verification runs at the speed of the disk or the inflater. Every part of the check reads the
//! one handle opened first (each thread at its own offset), and the name is checked to still hold
//! that file, unchanged, at the end: an OK describes one file, the one at the name.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context as _, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zip::ZipArchive;

use super::inputs::{Identity, MANIFEST_NAME};
use super::manifest::{ManifestFile, hex};
use super::provenance;
use super::signing::{self, PublicKey};
use super::zip_layout::{self, display_name};
use crate::cli::BundleVerifyArgs;
use crate::context::Context;
use crate::limits;
use crate::outcome::Verdict;
use crate::output::{Marker, Report, Style};
use crate::progress::Progress;
use crate::sanitize::{display_path, display_text};
use crate::units::format_size;

/// A manifest as read back: `generator` and unknown fields are tolerated, so bundles from older
/// tools can be checked too.
#[derive(Debug, Deserialize)]
struct ReadManifest {
    version: String,
    files: Vec<ManifestFile>,
}

/// What reading one entry found.
#[derive(Debug, Clone)]
pub(crate) struct EntryCheck {
    /// The name's bytes as stored: compared byte for byte, never decoded first.
    pub(crate) name: Vec<u8>,
    pub(crate) sha256: Option<String>,
    pub(crate) size: u64,
    pub(crate) error: Option<String>,
}

/// The `--format json` document and the text report.
#[derive(Debug, Serialize)]
pub(crate) struct VerifyReport {
    bundle: String,
    sha256: String,
    size: u64,
    version: Option<String>,
    entries: usize,
    /// `ok`, `mismatch`, `missing`, `malformed` or `skipped` (--no-sidecar).
    sidecar: String,
    /// `ok`, `missing`, `invalid`, or `not checked` (no public key given).
    signature: String,
    /// With a key: the id of the key the signature was checked against.
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<String>,
    /// The signature's trusted comment, when it verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    trusted_comment: Option<String>,
    /// `ok`, `absent` (no <ZIP>.intoto.json) or `mismatch`; with a key, followed by
    /// `, signature ok|missing|invalid`.
    provenance: String,
    /// With --rebuild: `identical` or `differs`.
    #[serde(skip_serializing_if = "Option::is_none")]
    rebuild: Option<String>,
    problems: Vec<String>,
}

impl VerifyReport {
    pub(crate) fn passed(&self) -> bool {
        self.problems.is_empty()
    }

    /// Names the bundle as the operator gave it (an object-store URL checked from a spool copy).
    pub(crate) fn set_bundle(&mut self, shown: String) {
        self.bundle = shown;
    }
}

impl Report for VerifyReport {
    fn marker(&self) -> Marker {
        let verdict = Verdict::from_passed(self.problems.is_empty());
        Marker::new("bundle_verify", verdict, "BUNDLE_VERIFY", verdict.label())
    }

    fn write_text(&self, out: &mut dyn Write, style: &Style) -> io::Result<()> {
        writeln!(
            out,
            "checked {}: {} entries, {}, sha256 {}",
            self.bundle,
            self.entries,
            format_size(self.size),
            self.sha256
        )?;
        if let Some(version) = &self.version {
            writeln!(out, "version: {version}")?;
        }
        writeln!(out, "sidecar: {}", self.sidecar)?;
        match (&self.key_id, &self.trusted_comment) {
            (None, _) => writeln!(
                out,
                "signature: {} (no --pubkey or --pubkey-file): authenticity was not checked; the sidecar \
                 only shows the bytes were not damaged, not who made them",
                style.warning("not checked")
            )?,
            (Some(key_id), Some(comment)) => {
                writeln!(out, "signature: {}, key id {key_id}, trusted comment: {comment}", self.signature)?
            }
            (Some(key_id), None) => writeln!(out, "signature: {}, key id {key_id}", self.signature)?,
        }
        writeln!(out, "provenance: {}", self.provenance)?;
        if let Some(rebuild) = &self.rebuild {
            writeln!(out, "rebuild: {rebuild}")?;
        }
        for problem in &self.problems {
            writeln!(out, "{} {problem}", style.bad("FAIL"))?;
        }
        Ok(())
    }
}

pub(crate) fn run(args: &BundleVerifyArgs, context: &Context) -> Result<Verdict> {
    if let Some(url) = crate::object_storage::StoreUrl::from_path(&args.zip) {
        return super::publish::verify_remote(args, context, url?);
    }
    let prom_file = args
        .prom_file
        .as_deref()
        .map(|path| crate::prometheus::PromFile::create_apart(path, &[("ZIP", args.zip.as_path())]))
        .transpose()?;
    let report = check(&args.zip, args, context)?;
    if let Some(file) = prom_file {
        file.commit(&super::metrics::verify_exposition(&report, &args.zip, context.now)?)?;
    }
    context.printer.emit(&report)
}

/// Every check `bundle verify` makes of the zip at `zip` (a local file, or the copy of an
/// object): structure and hashes, sidecar, signature and provenance with a key, `--rebuild`.
pub(crate) fn check(zip: &Path, args: &BundleVerifyArgs, context: &Context) -> Result<VerifyReport> {
    let key = match (&args.pubkey, &args.pubkey_file) {
        (Some(text), _) => Some(PublicKey::from_base64(text)?),
        (None, Some(path)) => Some(PublicKey::from_file(path)?),
        (None, None) => None,
    };
    let file = open_zip_file(zip)?;
    let opened = Identity::of(&file).with_context(|| format!("cannot read {}", display_path(zip)))?;
    let mut report =
        verify(zip, &file, &Options { no_sidecar: args.no_sidecar, key: key.as_ref() }, context)?;
    if args.rebuild && report.entries == 0 && !report.passed() {
        // Nothing recorded can be read back from a zip that is not one: the problem is named.
        report.rebuild = Some("not attempted: the zip is not readable".into());
    } else if args.rebuild {
        match super::rebuild::rebuild_and_compare(zip, &file, context)? {
            Ok(()) => report.rebuild = Some("identical: rebuilt from this tree, byte for byte".into()),
            Err(problem) => {
                report.rebuild = Some("differs".into());
                report.problems.push(format!("rebuild: {problem}"));
            }
        }
    }
    if let Some(problem) = changed_while_verified(zip, &file, &opened) {
        report.problems.push(problem);
    }
    Ok(report)
}

/// A problem when the file verified changed meanwhile (written, linked, its mode changed), or its name now holds another file:
/// then the report describes no file that is there (a swap mid-run used to mix two zips).
fn changed_while_verified(path: &Path, file: &File, opened: &Identity) -> Option<String> {
    let shown = display_path(path);
    if Identity::of(file).ok().as_ref() != Some(opened) {
        return Some(format!(
            "{shown} changed while it was verified (written, or its status changed): verify it again once it \
             is complete"
        ));
    }
    let now = std::fs::symlink_metadata(path).ok().map(|metadata| Identity::of_metadata(&metadata));
    (now.as_ref() != Some(opened)).then(|| {
        format!(
            "{shown} was replaced while it was verified (another file is at that name now): verify it again"
        )
    })
}

/// Reads the one open zip at an offset of its own (`pread`), so the hasher and each worker read
/// the very file verify opened, whatever is renamed over its name meanwhile.
struct Positioned<'a> {
    file: &'a File,
    position: u64,
    size: u64,
}

impl<'a> Positioned<'a> {
    fn new(file: &'a File, size: u64) -> Positioned<'a> {
        Positioned { file, position: 0, size }
    }
}

impl Read for Positioned<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let read = self.file.read_at(buffer, self.position)?;
        self.position += read as u64;
        Ok(read)
    }
}

impl Seek for Positioned<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let position = match to {
            SeekFrom::Start(offset) => Some(offset),
            SeekFrom::End(delta) => self.size.checked_add_signed(delta),
            SeekFrom::Current(delta) => self.position.checked_add_signed(delta),
        };
        let position =
            position.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        self.position = position;
        Ok(position)
    }
}

fn open_archive<'a>(file: &'a File, size: u64, shown: &str) -> Result<ZipArchive<BufReader<Positioned<'a>>>> {
    ZipArchive::new(BufReader::with_capacity(256 * 1024, Positioned::new(file, size)))
        .map_err(|error| anyhow!("{shown} is not a readable zip archive: {error}"))
}

/// Opens the zip without blocking on a FIFO and refuses anything but a regular file, with a
/// plain message (a folder used to give "Invalid argument (os error 22)").
fn open_zip_file(path: &Path) -> Result<File> {
    let shown = display_path(path);
    let flags = rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC | rustix::fs::OFlags::NONBLOCK;
    let file = rustix::fs::open(path, flags, rustix::fs::Mode::empty())
        .map(File::from)
        .map_err(io::Error::from)
        .with_context(|| format!("cannot open {shown}"))?;
    let kind = file.metadata().with_context(|| format!("cannot read {shown}"))?.file_type();
    if kind.is_dir() {
        bail!("{shown} is a folder, not a zip file; give the path of the release's .zip");
    }
    if !kind.is_file() {
        bail!("{shown} is {}, not a zip file", limits::describe_kind(&kind));
    }
    Ok(file)
}

/// What `verify` checks besides the zip itself.
pub(crate) struct Options<'a> {
    pub(crate) no_sidecar: bool,
    /// The public key the release must be signed with; `None`: authenticity is not checked.
    pub(crate) key: Option<&'a PublicKey>,
}

/// Checks the zip opened as `file` (found at `path`, whose name the sidecar and signatures
/// are found by).
pub(crate) fn verify(path: &Path, file: &File, options: &Options, context: &Context) -> Result<VerifyReport> {
    let no_sidecar = options.no_sidecar;
    let shown = display_path(path);
    let size = file.metadata().with_context(|| format!("cannot read {shown}"))?.len();
    let layout = zip_layout::read_layout(file, size);
    let zip_file_name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    // Hashes the zip and checks what needs none of its entries (sidecar, signature, provenance),
    // for a zip whose entries cannot be trusted: `first` problems go before those, `last` after.
    let without_entries = |entries: usize, first: Vec<String>, last: Vec<String>| -> Result<VerifyReport> {
        let progress = Progress::bytes(&context.printer, size, 8 << 20, "verifying");
        let zip_hash = hash_file(file, size, &shown, &progress)?;
        progress.finish();
        let mut problems = first;
        let sidecar = check_sidecar(path, &zip_file_name, &zip_hash, no_sidecar, &mut problems)?;
        let authenticity =
            check_authenticity(path, &zip_file_name, &zip_hash, None, options.key, &mut problems)?;
        problems.extend(last);
        Ok(VerifyReport {
            bundle: shown.clone(),
            sha256: zip_hash,
            size,
            version: None,
            entries,
            sidecar,
            signature: authenticity.signature,
            key_id: options.key.map(|key| key.key_id.clone()),
            trusted_comment: authenticity.trusted_comment,
            provenance: authenticity.provenance,
            rebuild: None,
            problems,
        })
    };
    let layout = match layout {
        Ok(layout) => layout,
        // A file that is there but is not a readable zip (truncated, overwritten, the wrong
        // file) is a failed verification, not "could not run": the deployed bundle is broken,
        // and the textfile must say so (an exit 2 would leave the last good result in place).
        Err(reason) => return without_entries(0, vec![format!("{shown} {reason}")], Vec::new()),
    };
    if layout.unsafe_to_inflate {
        // Nothing is inflated: overlapping entries can expand to any size.
        let mut last = layout.problems;
        last.push("nothing was inflated: the archive's structure is unsafe".to_string());
        return without_entries(layout.entries.len(), Vec::new(), last);
    }
    let mut archive = match open_archive(file, size, &shown) {
        Ok(archive) => archive,
        Err(error) => return without_entries(0, vec![format!("{error}")], Vec::new()),
    };
    let count = archive.len();
    let mut structure_problems = layout.problems;
    if count != layout.entries.len() {
        structure_problems.push(format!(
            "the zip library sees {count} entries where the central directory holds {}: names that decode alike",
            layout.entries.len()
        ));
    }
    let header_problem = archive.validate_header_consistency().err().map(|error| error.to_string());
    let manifest_bytes = read_manifest_bytes(&mut archive);
    // Largest entries first, so one big file started last does not leave a core idle at the end.
    let mut order: Vec<(u64, usize)> = (0..count)
        .map(|index| (archive.by_index_raw(index).map_or(0, |entry| entry.size()), index))
        .collect();
    order.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    drop(archive);

    let progress = Progress::bytes(&context.printer, size, 8 << 20, "verifying");
    let workers = crate::stats::worker_count(1, 4);
    let next = AtomicUsize::new(0);
    let checks: Mutex<Vec<Option<EntryCheck>>> = Mutex::new(vec![None; count]);
    let (zip_hash, worker_errors) = std::thread::scope(|scope| {
        let hasher = scope.spawn(|| hash_file(file, size, &shown, &progress));
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    let mut archive = open_archive(file, size, &shown)?;
                    loop {
                        let position = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&(_, index)) = order.get(position) else {
                            return Ok(());
                        };
                        let check = check_entry(&mut archive, index);
                        checks.lock().map_err(|_| anyhow!("a verify worker panicked"))?[index] = Some(check);
                    }
                })
            })
            .collect();
        let errors: Vec<anyhow::Error> = handles
            .into_iter()
            .filter_map(|handle| {
                handle.join().unwrap_or_else(|_| Err(anyhow!("a verify worker panicked"))).err()
            })
            .collect();
        (hasher.join().unwrap_or_else(|_| Err(anyhow!("the hashing thread panicked"))), errors)
    });
    progress.finish();
    let zip_hash = zip_hash?;
    if let Some(error) = worker_errors.into_iter().next() {
        return Err(error);
    }
    let checks: Vec<EntryCheck> = checks
        .into_inner()
        .map_err(|_| anyhow!("a verify worker panicked"))?
        .into_iter()
        .map(|check| check.expect("every index was checked"))
        .collect();

    let mut problems = Vec::new();
    let sidecar = check_sidecar(path, &zip_file_name, &zip_hash, no_sidecar, &mut problems)?;
    problems.extend(structure_problems);
    if let Some(problem) = header_problem {
        problems.push(format!("local headers disagree with the central directory: {problem}"));
    }
    let manifest = match manifest_bytes {
        Err(problem) => {
            problems.push(problem);
            None
        }
        Ok(bytes) => match serde_json::from_slice::<ReadManifest>(&bytes) {
            Ok(manifest) if manifest.files.is_empty() => {
                // Nothing listed means nothing checked: an empty release never passes.
                problems.push(format!(
                    "{MANIFEST_NAME}: lists no files: nothing was checked, and a release always holds {}",
                    super::inputs::SUMMARY_NAME
                ));
                Some(manifest)
            }
            Ok(manifest) => Some(manifest),
            Err(error) => {
                problems.push(format!("{MANIFEST_NAME}: cannot be read as a bundle manifest: {error}"));
                None
            }
        },
    };
    problems.extend(compare(manifest.as_ref().map(|m| m.files.as_slice()), &checks));
    if let Some(manifest) = &manifest
        && let Some(problem) = name_version_problem(&zip_file_name, &manifest.version)
    {
        problems.push(problem);
    }
    let authenticity =
        check_authenticity(path, &zip_file_name, &zip_hash, manifest.as_ref(), options.key, &mut problems)?;
    Ok(VerifyReport {
        bundle: shown,
        sha256: zip_hash,
        size,
        version: manifest.map(|manifest| display_text(&manifest.version, false)),
        entries: count,
        sidecar,
        signature: authenticity.signature,
        key_id: options.key.map(|key| key.key_id.clone()),
        trusted_comment: authenticity.trusted_comment,
        provenance: authenticity.provenance,
        rebuild: None,
        problems,
    })
}

/// What the signature and provenance checks found.
struct Authenticity {
    signature: String,
    trusted_comment: Option<String>,
    provenance: String,
}

/// With a key: `<ZIP>.minisig` must verify and its trusted comment name this zip's file name,
/// version and SHA-256. `<ZIP>.intoto.json`, when present, must match the zip and the manifest,
/// and (with a key) its own signature must verify. Problems are added to `problems`.
fn check_authenticity(
    path: &Path,
    zip_file_name: &str,
    zip_hash: &str,
    manifest: Option<&ReadManifest>,
    key: Option<&PublicKey>,
    problems: &mut Vec<String>,
) -> Result<Authenticity> {
    let version = manifest.map(|manifest| manifest.version.as_str());
    let mut signature = "not checked".to_string();
    let mut trusted_comment = None;
    if let Some(key) = key {
        match check_signature(key, path, zip_file_name, version, zip_hash)? {
            Ok(comment) => {
                signature = "ok".into();
                trusted_comment = Some(display_text(&comment, false));
            }
            Err((status, problem)) => {
                signature = status.into();
                problems.push(problem);
            }
        }
    }
    let provenance_path = with_suffix(path, ".intoto.json");
    let shown = display_path(&provenance_path);
    if std::fs::symlink_metadata(&provenance_path).is_err_and(|error| error.kind() == io::ErrorKind::NotFound)
    {
        return Ok(Authenticity { signature, trusted_comment, provenance: "absent".into() });
    }
    let bytes = match limits::read_limited(&provenance_path, limits::PROVENANCE_MAX, "provenance statement") {
        Ok(bytes) => bytes,
        Err(error) => {
            problems.push(unreadable_companion(&provenance_path, &error));
            return Ok(Authenticity { signature, trusted_comment, provenance: "mismatch".into() });
        }
    };
    let found = match provenance::parse(&bytes) {
        Err(problem) => vec![problem],
        Ok(parsed) => {
            parsed.check(zip_file_name, zip_hash, version, manifest.map(|manifest| manifest.files.as_slice()))
        }
    };
    let matches = found.is_empty();
    problems.extend(found.into_iter().map(|problem| format!("{shown}: {problem}")));
    let mut provenance = if matches { "ok" } else { "mismatch" }.to_string();
    if let Some(key) = key {
        let provenance_name = format!("{zip_file_name}.intoto.json");
        let digest = hex(&Sha256::digest(&bytes));
        match check_signature(key, &provenance_path, &provenance_name, version, &digest)? {
            Ok(_) if matches => provenance = "ok, signature ok".into(),
            Ok(_) => provenance = "mismatch, signature ok".into(),
            Err((status, problem)) => {
                // Listed before the statement's own problems: an unsigned change explains them.
                let at = problems.len()
                    - problems.iter().rev().take_while(|line| line.starts_with(&shown)).count();
                problems.insert(at, problem);
                provenance = format!("{}, signature {status}", if matches { "ok" } else { "mismatch" });
            }
        }
    }
    Ok(Authenticity { signature, trusted_comment, provenance })
}

/// Checks `<signed>.minisig` over `signed` with `key`; the trusted comment, or a status word and
/// the problem line.
fn check_signature(
    key: &PublicKey,
    signed: &Path,
    file_name: &str,
    version: Option<&str>,
    sha256: &str,
) -> Result<Result<String, (&'static str, String)>> {
    let signature_path = with_suffix(signed, ".minisig");
    let shown = display_path(&signature_path);
    if std::fs::symlink_metadata(&signature_path).is_err_and(|error| error.kind() == io::ErrorKind::NotFound)
    {
        return Ok(Err((
            "missing",
            format!("{shown}: missing; a key was given, so the release must be signed"),
        )));
    }
    let data = signing::open_signed(signed)?;
    let comment = match signing::verify(key, &signature_path, data) {
        Ok(Ok(comment)) => comment,
        Ok(Err(problem)) => return Ok(Err(("invalid", format!("{shown}: {problem}")))),
        // A signature that is there but is no file (a FIFO, a folder, a dangling link) fails.
        Err(error) => return Ok(Err(("invalid", unreadable_companion(&signature_path, &error)))),
    };
    if let Some(problem) = signing::check_trusted_comment(&comment, file_name, version, sha256) {
        return Ok(Err(("invalid", format!("{shown}: {problem}"))));
    }
    Ok(Ok(comment))
}

/// The problem line for a file next to the zip that exists but cannot be read as one.
fn unreadable_companion(path: &Path, error: &anyhow::Error) -> String {
    let shown = display_path(path);
    if std::fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_symlink())
        && std::fs::metadata(path).is_err()
    {
        return format!("{shown}: is a symbolic link pointing nowhere");
    }
    let reason = crate::sanitize::bounded_message(&format!("{error:#}"));
    // The limits' messages name the path already; don't name it twice.
    let named = format!("{shown}: ");
    match reason.rfind(&named) {
        Some(at) => format!("{shown}: {}", &reason[at + named.len()..]),
        None => format!("{shown}: {reason}"),
    }
}

/// `<path><suffix>`.
fn with_suffix(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    std::path::PathBuf::from(name)
}

/// The manifest's bytes, or the problem line saying why there are none.
fn read_manifest_bytes(archive: &mut ZipArchive<impl Read + Seek>) -> Result<Vec<u8>, String> {
    const LIMIT: u64 = 64 << 20;
    let mut entry =
        archive.by_name(MANIFEST_NAME).map_err(|_| format!("{MANIFEST_NAME}: missing from the zip"))?;
    if entry.size() > LIMIT {
        return Err(format!("{MANIFEST_NAME}: {} is too large for a manifest", format_size(entry.size())));
    }
    let mut bytes = Vec::new();
    entry
        .by_ref()
        .take(LIMIT)
        .read_to_end(&mut bytes)
        .map_err(|error| format!("{MANIFEST_NAME}: cannot be read: {error}"))?;
    Ok(bytes)
}

/// Reads one entry through SHA-256; the zip crate checks the CRC at the end of the data.
fn check_entry(archive: &mut ZipArchive<impl Read + Seek>, index: usize) -> EntryCheck {
    let listed_name = archive
        .name_for_index(index)
        .and_then(Result::ok)
        .map(|name| name.into_owned().into_bytes())
        .unwrap_or_else(|| format!("entry #{index}").into_bytes());
    let mut entry = match archive.by_index(index) {
        Ok(entry) => entry,
        Err(error) => {
            return EntryCheck {
                name: listed_name,
                sha256: None,
                size: 0,
                error: Some(format!("cannot be read: {error}")),
            };
        }
    };
    let name = entry.name_raw().to_vec();
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        match entry.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => {
                hasher.update(&buffer[..read]);
                size += read as u64;
            }
            Err(error) => {
                let text = error.to_string();
                let message = if text.to_ascii_lowercase().contains("checksum") {
                    "CRC-32 mismatch: the data is corrupted".to_string()
                } else {
                    format!("cannot be decompressed: {text}")
                };
                return EntryCheck { name, sha256: None, size, error: Some(message) };
            }
        }
    }
    EntryCheck { name, sha256: Some(hex(&hasher.finalize())), size, error: None }
}

fn hash_file(file: &File, size: u64, shown: &str, progress: &Progress) -> Result<String> {
    super::manifest::sha256_hex_of(&mut Positioned::new(file, size), |read| progress.advance(read as u64))
        .with_context(|| format!("cannot read {shown}"))
}

/// Checks `<ZIP>.sha256`; returns its status word and adds problem lines.
fn check_sidecar(
    path: &Path,
    zip_file_name: &str,
    zip_hash: &str,
    no_sidecar: bool,
    problems: &mut Vec<String>,
) -> Result<String> {
    let mut sidecar_path = path.as_os_str().to_owned();
    sidecar_path.push(".sha256");
    let sidecar_path = Path::new(&sidecar_path);
    let shown = display_path(sidecar_path);
    if no_sidecar {
        return Ok("skipped".into());
    }
    if std::fs::symlink_metadata(sidecar_path).is_err_and(|error| error.kind() == io::ErrorKind::NotFound) {
        problems.push(format!("{shown}: missing (pass --no-sidecar to check without it)"));
        return Ok("missing".into());
    }
    // Something is there but cannot be read as a file (a FIFO, a folder, a dangling link): the
    // release's sidecar is broken, a failed check like a missing one — not "could not run",
    // which would leave the last `--prom-file` result (perhaps a success) in place.
    let text = match limits::read_limited(sidecar_path, limits::SIDECAR_MAX, "sidecar") {
        Ok(text) => text,
        Err(error) => {
            problems.push(unreadable_companion(sidecar_path, &error));
            return Ok("malformed".into());
        }
    };
    match parse_sidecar(&text, zip_file_name) {
        Err(problem) => {
            problems.push(format!("{shown}: {problem}"));
            Ok("malformed".into())
        }
        Ok(expected) if expected != zip_hash => {
            problems.push(format!("{shown}: says sha256 {expected}, but the zip's is {zip_hash}"));
            Ok("mismatch".into())
        }
        Ok(_) => Ok("ok".into()),
    }
}

/// `<64 hex>  <file name>\n`, the `sha256sum` format, naming this zip. Returns the hash.
pub(crate) fn parse_sidecar(bytes: &[u8], zip_file_name: &str) -> Result<String, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "is not text".to_string())?;
    let line = text.strip_suffix('\n').unwrap_or(text);
    if line.contains('\n') {
        return Err("has more than one line; expected `<sha256>  <zip file name>`".into());
    }
    let (hash, name) = line
        .split_once("  ")
        .or_else(|| line.split_once(" *"))
        .ok_or_else(|| "is not in the `<sha256>  <zip file name>` format".to_string())?;
    if hash.len() != 64 || !hash.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(format!("{:?} is not a SHA-256 in hex", display_text(hash, false)));
    }
    if name != zip_file_name {
        return Err(format!("names {:?}, not {zip_file_name:?}", display_text(name, false)));
    }
    Ok(hash.to_ascii_lowercase())
}

/// A release renamed after the fact (`mm-bot-v1.5.0.zip` holding a 1.4.0 manifest) would deploy
/// the wrong version under the right name.
pub(crate) fn name_version_problem(zip_file_name: &str, manifest_version: &str) -> Option<String> {
    let stem = zip_file_name.strip_suffix(".zip")?;
    let (_, named) = stem.rsplit_once("-v")?;
    semver::Version::parse(named).ok()?;
    (named != manifest_version).then(|| {
        format!(
            "{}: the file name says version {named}, {MANIFEST_NAME} says {}",
            display_text(zip_file_name, false),
            display_text(manifest_version, false)
        )
    })
}

/// Why an entry name is unsafe to extract, if it is.
pub(crate) fn unsafe_name(name: &str) -> Option<&'static str> {
    let bytes = name.as_bytes();
    if name.is_empty() {
        return Some("is empty");
    }
    if name.starts_with('/') || name.starts_with('\\') || (bytes.len() >= 2 && bytes[1] == b':') {
        return Some("is absolute");
    }
    if name.split(['/', '\\']).any(|part| part == "..") {
        return Some("contains \"..\" (extracting it could write outside the target folder)");
    }
    if name.chars().any(char::is_control) {
        return Some("contains control characters");
    }
    None
}

/// Compares what the zip holds with what the manifest lists; one line per problem, in zip order
/// then manifest order.
pub(crate) fn compare(manifest: Option<&[ManifestFile]>, checks: &[EntryCheck]) -> Vec<String> {
    let mut problems = Vec::new();
    for check in checks {
        let shown = display_name(&check.name);
        if let Some(reason) = unsafe_name(&String::from_utf8_lossy(&check.name)) {
            problems.push(format!("{shown}: entry name {reason}"));
        }
        if let Some(error) = &check.error {
            problems.push(format!("{shown}: {error}"));
        }
    }
    let Some(files) = manifest else {
        return problems;
    };
    // Byte for byte: `a\xff` and `a\xfe` are two entries, neither of them the listed `a\u{fffd}`.
    let in_zip: BTreeMap<&[u8], &EntryCheck> =
        checks.iter().map(|check| (check.name.as_slice(), check)).collect();
    let mut listed = BTreeSet::new();
    for file in files {
        let shown = display_text(&file.path, false);
        if !listed.insert(file.path.as_bytes()) {
            problems.push(format!("{shown}: listed twice in {MANIFEST_NAME}"));
            continue;
        }
        let Some(check) = in_zip.get(file.path.as_bytes()) else {
            problems.push(format!("{shown}: listed in {MANIFEST_NAME} but not in the zip"));
            continue;
        };
        if check.error.is_some() {
            continue; // already reported; its hash is unknown
        }
        if check.size != file.size {
            problems.push(format!(
                "{shown}: {} bytes in the zip, {MANIFEST_NAME} says {}",
                check.size, file.size
            ));
        }
        if let Some(sha256) = &check.sha256
            && !sha256.eq_ignore_ascii_case(&file.sha256)
        {
            problems.push(format!(
                "{shown}: sha256 {sha256} in the zip, {MANIFEST_NAME} says {}",
                display_text(&file.sha256, false)
            ));
        }
    }
    for check in checks {
        if check.name != MANIFEST_NAME.as_bytes() && !listed.contains(check.name.as_slice()) {
            problems
                .push(format!("{}: in the zip but not listed in {MANIFEST_NAME}", display_name(&check.name)));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The end-of-check look: the same file untouched passes; written in place, or another file
    /// renamed over its name, is a problem naming which.
    #[test]
    fn a_zip_changed_or_replaced_while_verified_is_a_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.zip");
        std::fs::write(&path, b"one").unwrap();
        let file = File::open(&path).unwrap();
        let opened = Identity::of(&file).unwrap();
        assert_eq!(changed_while_verified(&path, &file, &opened), None);

        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"two").unwrap();
        let problem = changed_while_verified(&path, &file, &opened).unwrap();
        assert!(problem.contains("r.zip changed while it was verified"), "{problem}");

        let other = dir.path().join("other.zip");
        std::fs::write(&other, b"one").unwrap();
        std::fs::rename(&other, &path).unwrap();
        let opened = Identity::of(&file).unwrap();
        let problem = changed_while_verified(&path, &file, &opened).unwrap();
        assert!(problem.contains("r.zip was replaced while it was verified"), "{problem}");
    }

    fn file(path: &str, sha256: &str, size: u64) -> ManifestFile {
        ManifestFile { path: path.into(), sha256: sha256.into(), size, description: String::new() }
    }

    fn check(name: &str, sha256: &str, size: u64) -> EntryCheck {
        EntryCheck { name: name.as_bytes().to_vec(), sha256: Some(sha256.into()), size, error: None }
    }

    #[test]
    fn sidecar_format() {
        let hash = "a".repeat(64);
        assert_eq!(parse_sidecar(format!("{hash}  b.zip\n").as_bytes(), "b.zip").unwrap(), hash);
        assert!(parse_sidecar(format!("{hash}  c.zip\n").as_bytes(), "b.zip").unwrap_err().contains("names"));
        assert!(parse_sidecar(b"abc  b.zip\n", "b.zip").unwrap_err().contains("not a SHA-256"));
        assert!(parse_sidecar(format!("{hash} b.zip").as_bytes(), "b.zip").unwrap_err().contains("format"));
    }

    #[test]
    fn file_name_version_must_match_the_manifest() {
        assert_eq!(name_version_problem("mm-bot-v1.4.0.zip", "1.4.0"), None);
        assert_eq!(name_version_problem("mm-bot-v1.4.0-rc.1.zip", "1.4.0-rc.1"), None);
        assert_eq!(
            name_version_problem("mm-bot-v1.5.0.zip", "1.4.0").unwrap(),
            "mm-bot-v1.5.0.zip: the file name says version 1.5.0, MANIFEST.json says 1.4.0"
        );
        // Names without a version are not judged.
        assert_eq!(name_version_problem("release.zip", "1.4.0"), None);
        assert_eq!(name_version_problem("my-very-old.zip", "1.4.0"), None);
    }

    #[test]
    fn unsafe_names() {
        assert_eq!(unsafe_name("reports/a.json"), None);
        assert!(unsafe_name("../evil").is_some());
        assert!(unsafe_name("a/../../evil").is_some());
        assert!(unsafe_name("/etc/passwd").is_some());
        assert!(unsafe_name("C:/x").is_some());
        assert!(unsafe_name("a\\..\\b").is_some());
        assert_eq!(unsafe_name("a..b"), None);
    }

    #[test]
    fn compare_finds_each_kind_of_difference() {
        let manifest = vec![file("a", "11", 1), file("b", "22", 2), file("gone", "33", 3)];
        let checks = vec![
            check("a", "11", 1),
            check("b", "99", 2),
            check("extra", "44", 4),
            check(MANIFEST_NAME, "55", 5),
            EntryCheck {
                name: b"../evil".to_vec(),
                sha256: None,
                size: 0,
                error: Some("cannot be read".into()),
            },
        ];
        assert_eq!(
            compare(Some(&manifest), &checks),
            [
                "../evil: entry name contains \"..\" (extracting it could write outside the target folder)",
                "../evil: cannot be read",
                "b: sha256 99 in the zip, MANIFEST.json says 22",
                "gone: listed in MANIFEST.json but not in the zip",
                "extra: in the zip but not listed in MANIFEST.json",
                "../evil: in the zip but not listed in MANIFEST.json",
            ]
        );
        assert!(compare(Some(&manifest[..2]), &checks[..2])[0].starts_with("b: sha256"));
    }
}
