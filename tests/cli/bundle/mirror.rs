//! Typed mirrors of every document `mmops bundle` writes: the `--format json` documents of
//! `bundle`, `bundle verify` and `bundle keygen`, and `MANIFEST.json` inside the zip. Each uses
//! `deny_unknown_fields`, so a field added, renamed or dropped fails the tests that read it.
//! Optional fields the binary leaves out when they do not apply are `Option` (or a defaulted
//! `Vec`); their presence is asserted by the tests that expect them. Fields always written but
//! possibly `null` are read through `nullable`, so a dropped key fails.

use serde::Deserialize;

use crate::global::mirror::nullable;

/// What happened to the release on disk (`outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Outcome {
    Created,
    Unchanged,
    Replaced,
    DryRun,
}

/// The `status` every report document carries (one definition for every subcommand).
pub use crate::global::mirror::Status;

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
    #[serde(deserialize_with = "nullable")]
    pub sha256: Option<String>,
    #[serde(deserialize_with = "nullable")]
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

/// One file `--publish` put in object storage (read by the publish runs against a real S3
/// server in `object_storage.rs`).
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
    #[serde(deserialize_with = "nullable")]
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

/// `<zip>.intoto.json`: an in-toto Statement v1 with an SLSA Provenance v1 predicate.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    #[serde(rename = "_type")]
    pub statement_type: String,
    pub subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    pub predicate: Predicate,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subject {
    pub name: String,
    pub digest: Sha256Digest,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sha256Digest {
    pub sha256: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Predicate {
    pub build_definition: BuildDefinition,
    pub run_details: RunDetails,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BuildDefinition {
    pub build_type: String,
    pub external_parameters: Recipe,
    pub resolved_dependencies: Vec<Dependency>,
}

/// How the bundle was made: enough for `bundle verify --rebuild` to make it again.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    pub name: String,
    pub version: String,
    pub level: u32,
    pub config: BundleConfig,
    pub config_origin: String,
    pub include_reports: bool,
    pub reports_dir: String,
    pub out_dir: String,
}

/// The file list as loaded (the built-in one or `--config`'s).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleConfig {
    pub files: Vec<EntrySpec>,
    pub reports: Vec<EntrySpec>,
}

/// One list entry; what the list left out is left out here too.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntrySpec {
    pub path: Option<String>,
    pub glob: Option<String>,
    pub dest: Option<String>,
    pub description: Option<String>,
    pub required: Option<bool>,
}

/// The source commit (first, in a git work tree) or one input file: whichever of the two
/// shapes (each with `deny_unknown_fields`) the entry matches.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Dependency {
    Commit(CommitDependency),
    Input(InputDependency),
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitDependency {
    pub uri: String,
    pub digest: CommitDigest,
    pub annotations: Annotations,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputDependency {
    pub name: String,
    pub digest: Sha256Digest,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommitDigest {
    pub git_commit: String,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Annotations {
    pub dirty: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunDetails {
    pub builder: Builder,
    pub metadata: Metadata,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Builder {
    pub id: String,
    pub version: BuilderVersion,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuilderVersion {
    pub mmops: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    pub started_on: String,
    pub finished_on: String,
    pub source_date_epoch: i64,
}
