//! Typed mirrors of every document `mmops bundle` writes: the `--format json` documents of
//! `bundle`, `bundle verify` and `bundle keygen`, and `MANIFEST.json` inside the zip. Each uses
//! `deny_unknown_fields`, so a field added, renamed or dropped fails the tests that read it.
//! Optional fields the binary leaves out when they do not apply are `Option` (or a defaulted
//! `Vec`); their presence is asserted by the tests that expect them.

use serde::Deserialize;

/// What happened to the release on disk (`outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Outcome {
    Created,
    Unchanged,
    Replaced,
    DryRun,
}

/// The `status` every document carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Status {
    #[serde(rename = "OK")]
    Ok,
    #[serde(rename = "FAIL")]
    Fail,
}

/// `mmops bundle --format json`: the manifest's fields (flattened in the binary, listed here
/// because serde cannot combine `flatten` with `deny_unknown_fields`) plus where the release is.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateDoc {
    pub version: String,
    pub created_at: String,
    pub generator: Generator,
    pub files: Vec<ManifestFile>,
    pub bundle: String,
    pub sidecar: String,
    pub provenance: String,
    /// With `--sign` only.
    pub signature: Option<String>,
    pub provenance_signature: Option<String>,
    pub key_id: Option<String>,
    /// Always present; `null` in a dry run.
    pub sha256: Option<String>,
    pub size: Option<u64>,
    pub outcome: Outcome,
    /// RELEASE_SUMMARY.md, in a dry run only.
    pub summary: Option<String>,
    /// With `--publish` only (left out when empty).
    #[serde(default)]
    pub published: Vec<Published>,
    pub tool: String,
    pub status: Status,
    pub marker: String,
}

/// One file `--publish` put in object storage. The publish runs are tested against a real S3
/// server in `object_storage.rs`; no test in this folder reads these fields yet, but the
/// document still has to match them.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Published {
    pub url: String,
    pub outcome: PublishOutcome,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PublishOutcome {
    Published,
    AlreadyThere,
    Replaced,
}

/// `MANIFEST.json` inside the zip (the same fields open [`CreateDoc`]).
#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub version: String,
    pub created_at: String,
    pub generator: Generator,
    pub files: Vec<ManifestFile>,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Generator {
    pub tool: String,
    pub tool_version: String,
    pub compressor: String,
    pub level: u32,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    pub path: String,
    pub sha256: String,
    pub size: u64,
    pub description: String,
}

/// `mmops bundle verify --format json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyDoc {
    pub bundle: String,
    pub sha256: String,
    pub size: u64,
    /// `null` when no manifest could be read.
    pub version: Option<String>,
    pub entries: usize,
    /// `ok`, `mismatch`, `missing`, `malformed` or `skipped`.
    pub sidecar: String,
    /// `ok`, `missing`, `invalid` or `not checked`.
    pub signature: String,
    /// With a public key only.
    pub key_id: Option<String>,
    /// When the signature verified only.
    pub trusted_comment: Option<String>,
    /// `ok`, `absent` or `mismatch`, with a key followed by `, signature …`.
    pub provenance: String,
    /// With `--rebuild` only: `identical` or `differs`.
    pub rebuild: Option<String>,
    pub problems: Vec<String>,
    pub tool: String,
    pub status: Status,
    pub marker: String,
}

/// `mmops bundle keygen --format json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeygenDoc {
    pub secret_key: String,
    pub public_key: String,
    pub key_id: String,
    pub public_key_base64: String,
    pub encrypted: bool,
    pub tool: String,
    pub status: Status,
    pub marker: String,
}
