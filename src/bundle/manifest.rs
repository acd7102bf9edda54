//! `MANIFEST.json`: the bundle's table of contents with a SHA-256 per file, and the record of
//! what produced the bytes (mmops version, compressor, level), since another compressor or level
//! would produce a different zip from the same files.

use serde::{Deserialize, Serialize};

/// The deflate implementation mmops compresses with. Kept in step with Cargo.lock by a test.
pub(crate) const COMPRESSOR_CRATE: &str = "zlib-rs";
pub(crate) const COMPRESSOR_VERSION: &str = "0.6.8";
/// Inputs are deflated in chunks of this size in parallel; each chunk after the first is primed
/// with the 32 KiB before it, so the stream matches what one compressor would mostly produce.
pub(crate) const CHUNK_SIZE: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub(crate) version: String,
    pub(crate) created_at: String,
    pub(crate) generator: Generator,
    pub(crate) files: Vec<ManifestFile>,
}

/// What made the bundle, so a byte difference between two builds can be explained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Generator {
    pub(crate) tool: String,
    pub(crate) tool_version: String,
    /// e.g. `zlib-rs 0.6.8 raw deflate, 1 MiB chunks primed with the previous 32 KiB`.
    pub(crate) compressor: String,
    pub(crate) level: u32,
}

impl Generator {
    pub(crate) fn current(level: u32) -> Generator {
        Generator {
            tool: "mmops".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            compressor: format!(
                "{COMPRESSOR_CRATE} {COMPRESSOR_VERSION} raw deflate, {} KiB chunks primed with the previous 32 KiB, \
                 chunks whose first 64 KiB saves under 2% at level 1 stored",
                CHUNK_SIZE / 1024
            ),
            level,
        }
    }

    /// `mmops 0.1.0, zlib-rs 0.6.8 deflate level 6` for the summary.
    pub(crate) fn short(&self) -> String {
        format!(
            "{} {}, {COMPRESSOR_CRATE} {COMPRESSOR_VERSION} deflate level {}",
            self.tool, self.tool_version, self.level
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ManifestFile {
    pub(crate) path: String,
    pub(crate) sha256: String,
    pub(crate) size: u64,
    pub(crate) description: String,
}

impl Manifest {
    /// Pretty JSON with a trailing newline: the exact bytes of `MANIFEST.json`.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut text = serde_json::to_string_pretty(self).expect("a manifest always serializes");
        text.push('\n');
        text.into_bytes()
    }
}

/// Lowercase hex of a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The SHA-256 (lowercase hex) of everything `reader` yields, read in 1 MiB chunks;
/// `on_read` sees each chunk's length (for progress). The one streaming file hash of bundle
/// and bundle verify.
pub(crate) fn sha256_hex_of(
    reader: &mut impl std::io::Read,
    mut on_read: impl FnMut(usize),
) -> std::io::Result<String> {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => return Ok(hex(&hasher.finalize())),
            Ok(read) => {
                hasher.update(&buffer[..read]);
                on_read(read);
            }
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressor_constant_matches_the_locked_crate() {
        // The manifest promises which compressor made the bytes; bumping zlib-rs in Cargo.lock
        // without updating the constant would make that promise false.
        let lock = include_str!("../../Cargo.lock");
        let expected = format!("name = \"{COMPRESSOR_CRATE}\"\nversion = \"{COMPRESSOR_VERSION}\"\n");
        assert!(lock.contains(&expected), "Cargo.lock does not lock {COMPRESSOR_CRATE} {COMPRESSOR_VERSION}");
    }

    #[test]
    fn manifest_bytes_are_pretty_ordered_with_newline() {
        let manifest = Manifest {
            version: "1.0.0".into(),
            created_at: "2025-10-11T12:00:00Z".into(),
            generator: Generator::current(6),
            files: vec![ManifestFile {
                path: "VERSION".into(),
                sha256: "ab".into(),
                size: 6,
                description: "Version file".into(),
            }],
        };
        let text = String::from_utf8(manifest.to_bytes()).unwrap();
        assert!(text.starts_with(
            "{\n  \"version\": \"1.0.0\",\n  \"created_at\": \"2025-10-11T12:00:00Z\",\n  \"generator\": {"
        ));
        assert!(text.ends_with("\n    }\n  ]\n}\n"));
        let back: Manifest = serde_json::from_str(&text).unwrap();
        assert_eq!(back, manifest);
    }
}
