//! Size limits for every file mmops reads whole, checked while reading.
//!
//! A config from `/dev/zero`, a FIFO where a state file should be or a runaway report must end in
//! a clear error within a bounded amount of memory and time, never in an out-of-memory kill or a
//! hang. Each kind of file has one documented limit here; `docs/` quotes them.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use anyhow::{Context as _, Result, bail};

use crate::sanitize::display_path;
use crate::units::format_size;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// Every YAML/JSON config and policy file.
pub const CONFIG_MAX: u64 = 4 * MIB;
/// The edge-sim `--state` file.
pub const STATE_MAX: u64 = 4 * MIB;
/// A readiness JSON (`make-ready --validate`, the bundle summary).
pub const READINESS_MAX: u64 = 4 * MIB;
/// One `REPORT_SOAK_*.json`.
pub const SOAK_REPORT_MAX: u64 = 16 * MIB;
/// The `VERSION` file: one version string.
pub const VERSION_MAX: u64 = 256;
/// A `.sha256` sidecar.
pub const SIDECAR_MAX: u64 = 64 * KIB;
/// A minisign secret or public key file (a key is ~200 bytes).
pub const SIGNING_KEY_MAX: u64 = 4 * KIB;
/// A `.minisig` signature (four lines; the trusted comment names one file).
pub const SIGNATURE_MAX: u64 = 16 * KIB;
/// A `--password-file` (minisign accepts at most 1024 bytes of password).
pub const PASSWORD_FILE_MAX: u64 = 4 * KIB;
/// A `.intoto.json` provenance statement: one digest per bundled file, like MANIFEST.json.
pub const PROVENANCE_MAX: u64 = 64 * MIB;
/// Holder information inside a lock file.
pub const LOCK_INFO_MAX: u64 = 4 * KIB;

/// Reads a whole regular file of at most `max` bytes. `what` names the file's role in errors
/// ("config file", "state file"). A FIFO, device, socket or folder is refused after opening
/// without blocking, so a FIFO never hangs the run.
#[allow(
    clippy::disallowed_methods,
    reason = "limits.rs owns whole-file reads: opened read-only, O_NONBLOCK, size-limited below"
)]
pub fn read_limited(path: &Path, max: u64, what: &str) -> Result<Vec<u8>> {
    let shown = display_path(path);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .with_context(|| format!("cannot read {what} {shown}"))?;
    let metadata = file.metadata().with_context(|| format!("cannot read {what} {shown}"))?;
    let kind = metadata.file_type();
    if !kind.is_file() {
        bail!("{shown}: the {what} is {}, not a regular file", describe_kind(&kind));
    }
    read_open_limited(file, max, &shown, what)
}

/// Opens a regular file for reading without blocking on a FIFO and without becoming a terminal's
/// controlling process; with `no_follow`, a symlink at the last component is refused too. For
/// files read in a stream (a zip to hash, a key): the caller bounds what it reads.
#[allow(
    clippy::disallowed_methods,
    reason = "limits.rs owns opening files to read: read-only, O_NONBLOCK, regular files only"
)]
pub fn open_regular(path: &Path, no_follow: bool, what: &str) -> Result<File> {
    let shown = display_path(path);
    let mut flags = rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY;
    if no_follow {
        flags |= rustix::fs::OFlags::NOFOLLOW;
    }
    let file =
        std::fs::OpenOptions::new().read(true).custom_flags(flags.bits() as i32).open(path).with_context(
            || {
                let symlink = if no_follow { " (a symlink is refused)" } else { "" };
                format!("cannot read the {what} {shown}{symlink}")
            },
        )?;
    let kind = file.metadata().with_context(|| format!("cannot read the {what} {shown}"))?.file_type();
    if !kind.is_file() {
        bail!("{shown}: the {what} is {}, not a regular file", describe_kind(&kind));
    }
    Ok(file)
}

/// The `VERSION` file's text, trimmed: the one VERSION reader of `bundle` and `make-ready`
/// ([`VERSION_MAX`], a regular file, UTF-8). Each tool checks the version's form and says what
/// it is for.
pub fn read_version_file(path: &Path) -> Result<String> {
    Ok(read_string_limited(path, VERSION_MAX, "version file")?.trim().to_string())
}

/// [`read_limited`] as UTF-8 text.
pub fn read_string_limited(path: &Path, max: u64, what: &str) -> Result<String> {
    let bytes = read_limited(path, max, what)?;
    String::from_utf8(bytes).map_err(|error| {
        anyhow::anyhow!(
            "{}: the {what} is not UTF-8 text (invalid byte at offset {})",
            display_path(path),
            error.utf8_error().valid_up_to()
        )
    })
}

/// Reads an already opened file (checked by the caller) up to `max` bytes.
pub fn read_open_limited(file: File, max: u64, shown: &str, what: &str) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes).with_context(|| format!("cannot read {what} {shown}"))?;
    if bytes.len() as u64 > max {
        bail!(
            "{shown}: the {what} is larger than the {} limit for a {what}; is this the right file?",
            format_size(max)
        );
    }
    Ok(bytes)
}

/// "a FIFO", "a folder", … for messages about a file that is not a regular file.
pub fn describe_kind(kind: &std::fs::FileType) -> &'static str {
    if kind.is_dir() {
        "a folder"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_file() {
        "a regular file"
    } else {
        "an unknown kind of file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_small_files_and_refuses_large_ones_while_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(read_limited(&path, 3, "config file").unwrap(), b"abc");
        let error = read_limited(&path, 2, "config file").unwrap_err().to_string();
        assert!(error.ends_with("c.yaml: the config file is larger than the 2 B limit for a config file; is this the right file?"), "{error}");
    }

    #[test]
    fn dev_zero_ends_at_the_limit() {
        // A character device is refused before a single byte is read.
        let error = read_limited(Path::new("/dev/zero"), CONFIG_MAX, "config file").unwrap_err().to_string();
        assert_eq!(error, "/dev/zero: the config file is a character device, not a regular file");
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fifo");
        rustix::fs::mkfifoat(rustix::fs::CWD, &path, rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
        let error = read_limited(&path, CONFIG_MAX, "state file").unwrap_err().to_string();
        assert!(error.ends_with("fifo: the state file is a FIFO, not a regular file"), "{error}");
    }

    #[test]
    fn a_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let error = read_limited(dir.path(), CONFIG_MAX, "config file").unwrap_err().to_string();
        assert!(error.ends_with(": the config file is a folder, not a regular file"), "{error}");
    }
}
