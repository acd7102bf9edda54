//! Releases in object storage: `mmops bundle --publish s3://bucket/releases/` and
//! `mmops bundle verify s3://bucket/releases/mm-bot-v0.1.0.zip`.
//!
//! A published release is immutable like a local one: every file goes up with a create-only
//! conditional put (`If-None-Match: *`; a large zip is staged under a hidden key in multipart
//! parts and copied to its final key with a create-only copy). An object already there with the
//! same bytes is success (`published (already there)`); different bytes are refused (exit 1)
//! unless `--force`. After each upload the object is read back (streamed) and its size and
//! SHA-256 compared with the local file's. The zip goes first and its sidecar after it, so a
//! sidecar in the bucket means the zip next to it is complete.
//!
//! `verify` streams the object and its sidecar into a private temporary folder (never into
//! memory) and runs the same checks as on a local file.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::cli::BundleVerifyArgs;
use crate::context::Context;
use crate::object_storage::{Put, Store, StoreUrl};
use crate::outcome::{CheckFailed, Partial, Verdict};

/// Files published next to the zip when they exist beside it: the provenance statement and the
/// signatures `bundle --sign` writes (the same names `bundle verify` looks for).
const COMPANION_SUFFIXES: &[&str] = &[".intoto.json", ".intoto.json.minisig", ".minisig"];

/// What happened to one published file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum PublishOutcome {
    Published,
    AlreadyThere,
    Replaced,
}

impl PublishOutcome {
    pub(super) fn word(self) -> &'static str {
        match self {
            PublishOutcome::Published => "published",
            PublishOutcome::AlreadyThere => "published (already there)",
            PublishOutcome::Replaced => "published (replaced, --force)",
        }
    }
}

/// One file in the bucket, as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Published {
    pub url: String,
    pub outcome: PublishOutcome,
    pub size: u64,
    pub sha256: String,
}

/// A checked destination, connected before anything is built.
pub(super) struct Publisher {
    store: Store,
}

impl Publisher {
    /// Parses `--publish` and checks that the store answers for the zip's key, so a wrong URL,
    /// bucket or credential fails (exit 2) before the bundle is written.
    pub(super) fn prepare(destination: &Path, zip_name: &str) -> Result<Publisher> {
        let url = match StoreUrl::from_path(destination) {
            Some(url) => url?,
            None => bail!(
                "--publish {}: not an object-store URL; use s3://bucket/releases/",
                destination.display()
            ),
        };
        let store = Store::connect(&url)?;
        store.head(&url.key(zip_name)).map_err(|error| anyhow!("--publish: {error}; nothing was written"))?;
        Ok(Publisher { store })
    }

    /// Uploads the zip, then its sidecar, then any companions found beside the zip.
    pub(super) fn publish(&self, zip: &Path, sidecar: &Path, force: bool) -> Result<Vec<Published>> {
        let mut files = vec![zip.to_path_buf(), sidecar.to_path_buf()];
        for suffix in COMPANION_SUFFIXES {
            let mut companion = zip.as_os_str().to_os_string();
            companion.push(suffix);
            let companion = PathBuf::from(companion);
            if companion.is_file() {
                files.push(companion);
            }
        }
        let mut published = Vec::new();
        for file in &files {
            match self.publish_one(file, force) {
                Ok(one) => published.push(one),
                Err(error)
                    if published
                        .iter()
                        .any(|one: &Published| one.outcome != PublishOutcome::AlreadyThere) =>
                {
                    // Something is in the bucket already: say what, exit 1.
                    let done: Vec<String> =
                        published.iter().map(|one| format!("{} {}", one.url, one.outcome.word())).collect();
                    let message = crate::output::error_line(&error);
                    if error.chain().any(|cause| cause.is::<CheckFailed>()) {
                        return Err(anyhow!(CheckFailed(format!(
                            "{message}; already done: {}",
                            done.join(", ")
                        ))));
                    }
                    return Err(anyhow!(Partial(format!("{message}; already done: {}", done.join(", ")))));
                }
                Err(error) => return Err(error),
            }
        }
        Ok(published)
    }

    fn publish_one(&self, file: &Path, force: bool) -> Result<Published> {
        let url = &self.store.url;
        let name = file
            .file_name()
            .and_then(|name| name.to_str())
            .ok_or_else(|| anyhow!("{}: not a UTF-8 file name", file.display()))?;
        let key = url.key(name);
        let shown = url.show(&key);
        let (local_sha, local_size) = hash_file(file)?;
        let staging = url.key(&format!(".mmops-upload-{}-{name}", std::process::id()));
        let outcome = match self.store.sha256(&key)? {
            Some((sha, _)) if sha == local_sha => {
                return Ok(Published {
                    url: shown,
                    outcome: PublishOutcome::AlreadyThere,
                    size: local_size,
                    sha256: sha,
                });
            }
            Some(_) if force => {
                self.store.upload_file(&key, &staging, file, false)?;
                PublishOutcome::Replaced
            }
            Some((sha, _)) => {
                return Err(anyhow!(CheckFailed(format!(
                    "{shown} already exists with different content (sha256 {sha}, this build {local_sha}); releases are \
                     immutable: bump the version, or pass --force to replace it"
                ))));
            }
            None => match self.store.upload_file(&key, &staging, file, true)? {
                Put::Written(_) => PublishOutcome::Published,
                // Another run published it between our check and our put: judge what is there.
                Put::Refused => return self.publish_one(file, force),
            },
        };
        match self.store.sha256(&key)? {
            Some((sha, size)) if sha == local_sha && size == local_size => {
                Ok(Published { url: shown, outcome, size, sha256: sha })
            }
            Some((sha, size)) => Err(anyhow!(Partial(format!(
                "FAIL: {shown} reads back as {size} bytes, sha256 {sha}; the local file is {local_size} bytes, sha256 \
                 {local_sha}; do not use this release"
            )))),
            None => Err(anyhow!(Partial(format!("FAIL: {shown} is gone right after it was uploaded")))),
        }
    }
}

/// A publishing failure comes after the local bundle is in place: never "nothing changed".
/// The message names the local zip, so nobody thinks the refused run left nothing behind; a
/// refusal by the bucket stays a FAIL, anything else is PARTIAL.
pub(super) fn after_local_bundle(error: anyhow::Error, zip: &str) -> anyhow::Error {
    let message = format!("{zip} is in place, but publishing failed: {}", crate::output::error_line(&error));
    if error.chain().any(|cause| cause.is::<CheckFailed>()) {
        return anyhow!(CheckFailed(message));
    }
    anyhow!(Partial(message))
}

fn hash_file(path: &Path) -> Result<(String, u64)> {
    let mut file =
        std::fs::File::open(path).map_err(|error| anyhow!("cannot read {}: {error}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let count =
            file.read(&mut buffer).map_err(|error| anyhow!("cannot read {}: {error}", path.display()))?;
        if count == 0 {
            break;
        }
        size += count as u64;
        hasher.update(&buffer[..count]);
    }
    Ok((super::manifest::hex(&hasher.finalize()), size))
}

/// `mmops bundle verify s3://…/x.zip`: the object and its sidecar are streamed into a private
/// temporary folder under their own names, then checked exactly as local files are.
pub(super) fn verify_remote(args: &BundleVerifyArgs, context: &Context, url: StoreUrl) -> Result<Verdict> {
    let prom_file = args
        .prom_file
        .as_deref()
        .map(|path| crate::prometheus::PromFile::create_apart(path, &[("ZIP", args.zip.as_path())]))
        .transpose()?;
    let key = url.prefix.clone();
    let name = key.rsplit('/').next().unwrap_or_default().to_string();
    if name.is_empty() {
        bail!("{}: name the zip, e.g. s3://bucket/releases/mm-bot-v0.1.0.zip", args.zip.display());
    }
    let store = Store::connect(&StoreUrl { bucket: url.bucket.clone(), prefix: String::new() })?;
    let folder = tempfile::Builder::new()
        .prefix("mmops-verify-")
        .tempdir()
        .map_err(|error| anyhow!("cannot make a temporary folder to check {}: {error}", url.show(&key)))?;
    let local_zip = folder.path().join(&name);
    if !download(&store, &key, &local_zip)? {
        bail!("{} does not exist; check the URL", url.show(&key));
    }
    if !args.no_sidecar {
        download(&store, &format!("{key}.sha256"), &folder.path().join(format!("{name}.sha256")))?;
    }
    // The provenance and signatures beside it, when they were published: checked as on disk.
    for suffix in COMPANION_SUFFIXES {
        download(&store, &format!("{key}{suffix}"), &folder.path().join(format!("{name}{suffix}")))?;
    }
    let mut report = super::verify::check(&local_zip, args, context)?;
    report.set_bundle(url.show(&key));
    if let Some(file) = prom_file {
        file.commit(&super::metrics::verify_exposition(&report, &args.zip, context.now)?)?;
    }
    context.printer.emit(&report)
}

/// Streams an object into a local file; false when the object does not exist.
#[allow(
    clippy::disallowed_methods,
    reason = "a copy in this run's private temporary folder, checked and removed, never a final name"
)]
fn download(store: &Store, key: &str, path: &Path) -> Result<bool> {
    let Some(mut reader) = store.open(key)? else { return Ok(false) };
    let mut file =
        std::fs::File::create(path).map_err(|error| anyhow!("cannot write {}: {error}", path.display()))?;
    std::io::copy(&mut reader, &mut file).map_err(|error| anyhow!("{error}"))?;
    Ok(true)
}
