//! `<zip>.intoto.json`: an in-toto Statement v1 whose predicate is SLSA Provenance v1, saying
//! which bytes (the zip's SHA-256) were built from which inputs (every file's SHA-256, the same
//! list as MANIFEST.json, and the git commit), how (the bundle recipe), and by what (mmops and its
//! version, at `SOURCE_DATE_EPOCH`). Keys sorted, pretty-printed, deterministic.
//!
//! The recipe under `externalParameters` is everything `mmops bundle verify --rebuild` needs to
//! build the same zip again from a checkout.

use std::process::{Command, Stdio};

use anyhow::{Result, anyhow};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::inputs::BundleConfig;
use super::manifest::ManifestFile;
use crate::sanitize::display_text;

pub(crate) const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub(crate) const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";
/// What kind of build this is; the recipe's fields are documented in docs/bundle.md.
pub(crate) const BUILD_TYPE: &str = "urn:mmops:bundle:v1";
/// The builder: mmops itself, run by whoever ran it (its version is in `builder.version`).
pub(crate) const BUILDER_ID: &str = "urn:mmops:builder:bundle";
/// The annotation on the source commit when the work tree had uncommitted changes.
const GIT_URI: &str = "git+file:.";

/// How the bundle was made: enough to make it again (`--rebuild`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Recipe {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) level: u32,
    /// The file list (the built-in one, or `--config`'s), as loaded.
    pub(crate) config: BundleConfig,
    /// Where the list came from, for people: the built-in list or a path.
    pub(crate) config_origin: String,
    pub(crate) include_reports: bool,
    pub(crate) reports_dir: String,
    pub(crate) out_dir: String,
}

/// The commit the tree was at, when it is a git work tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SourceCommit {
    pub(crate) commit: String,
    pub(crate) dirty: bool,
}

/// `git rev-parse HEAD` and `git status --porcelain` in the working folder; `None` when it is
/// not a git work tree (or git is missing: the provenance then says nothing about a commit).
pub(crate) fn source_commit() -> Option<SourceCommit> {
    let run = |args: &[&str]| {
        Command::new("git")
            .args(args)
            // git may run configured programs (fsmonitor, hooks): they get no signing password,
            // and `git status` must not take the index lock or refresh it (read only).
            .env_remove(super::signing::PASSWORD_VAR)
            .env("GIT_OPTIONAL_LOCKS", "0")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| output.stdout)
    };
    let inside = run(&["rev-parse", "--is-inside-work-tree"])?;
    if inside.trim_ascii() != b"true" {
        return None;
    }
    let head = run(&["rev-parse", "--verify", "HEAD"])?;
    let commit = std::str::from_utf8(head.trim_ascii()).ok()?.to_string();
    if !(commit.len() == 40 || commit.len() == 64) || !commit.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    let status = run(&["status", "--porcelain"])?;
    Some(SourceCommit { commit, dirty: !status.is_empty() })
}

/// Everything the statement says.
pub(crate) struct Statement<'a> {
    pub(crate) zip_name: &'a str,
    pub(crate) zip_sha256: &'a str,
    pub(crate) recipe: &'a Recipe,
    pub(crate) files: &'a [ManifestFile],
    pub(crate) source: Option<&'a SourceCommit>,
    pub(crate) created_at: &'a str,
    pub(crate) source_date_epoch: i64,
}

impl Statement<'_> {
    /// The exact bytes of `<zip>.intoto.json`: sorted keys, two-space indent, trailing newline.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut dependencies: Vec<Value> = Vec::new();
        if let Some(source) = self.source {
            dependencies.push(json!({
                "uri": GIT_URI,
                "digest": { "gitCommit": source.commit },
                "annotations": { "dirty": source.dirty },
            }));
        }
        dependencies.extend(
            self.files.iter().map(|file| json!({ "name": file.path, "digest": { "sha256": file.sha256 } })),
        );
        let statement = json!({
            "_type": STATEMENT_TYPE,
            "subject": [{ "name": self.zip_name, "digest": { "sha256": self.zip_sha256 } }],
            "predicateType": PREDICATE_TYPE,
            "predicate": {
                "buildDefinition": {
                    "buildType": BUILD_TYPE,
                    "externalParameters": self.recipe,
                    "resolvedDependencies": dependencies,
                },
                "runDetails": {
                    "builder": {
                        "id": BUILDER_ID,
                        "version": { "mmops": env!("CARGO_PKG_VERSION") },
                    },
                    "metadata": {
                        "startedOn": self.created_at,
                        "finishedOn": self.created_at,
                        "sourceDateEpoch": self.source_date_epoch,
                    },
                },
            },
        });
        // serde_json's map is a BTreeMap (no `preserve_order`): keys come out sorted.
        let mut text = serde_json::to_string_pretty(&statement).expect("a statement always serializes");
        text.push('\n');
        text.into_bytes()
    }
}

/// A statement read back, as far as verify and rebuild need it.
#[derive(Debug, Deserialize)]
struct ReadStatement {
    #[serde(rename = "_type")]
    statement_type: String,
    subject: Vec<ReadSubject>,
    #[serde(rename = "predicateType")]
    predicate_type: String,
    predicate: ReadPredicate,
}

#[derive(Debug, Deserialize)]
struct ReadSubject {
    name: String,
    digest: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReadPredicate {
    build_definition: ReadBuildDefinition,
    run_details: ReadRunDetails,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReadBuildDefinition {
    build_type: String,
    external_parameters: Value,
    #[serde(default)]
    resolved_dependencies: Vec<ReadDependency>,
}

#[derive(Debug, Deserialize)]
struct ReadDependency {
    name: Option<String>,
    uri: Option<String>,
    #[serde(default)]
    digest: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReadRunDetails {
    metadata: ReadMetadata,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReadMetadata {
    source_date_epoch: i64,
}

/// What a statement found on disk says, once parsed.
pub(crate) struct Parsed {
    statement: ReadStatement,
}

/// Parses a statement; the problem in words when it is not one mmops wrote.
pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed, String> {
    let statement: ReadStatement = serde_json::from_slice(bytes)
        .map_err(|error| format!("is not an mmops provenance statement: {error}"))?;
    if statement.statement_type != STATEMENT_TYPE {
        return Err(format!(
            "_type is {:?}, not {STATEMENT_TYPE}",
            display_text(&statement.statement_type, false)
        ));
    }
    if statement.predicate_type != PREDICATE_TYPE {
        return Err(format!(
            "predicateType is {:?}, not {PREDICATE_TYPE}",
            display_text(&statement.predicate_type, false)
        ));
    }
    if statement.predicate.build_definition.build_type != BUILD_TYPE {
        return Err(format!(
            "buildType is {:?}, not {BUILD_TYPE}",
            display_text(&statement.predicate.build_definition.build_type, false)
        ));
    }
    Ok(Parsed { statement })
}

impl Parsed {
    /// The recipe and `SOURCE_DATE_EPOCH` to rebuild with.
    pub(crate) fn recipe(&self) -> Result<(Recipe, i64)> {
        let recipe: Recipe =
            serde_json::from_value(self.statement.predicate.build_definition.external_parameters.clone())
                .map_err(|error| anyhow!("its externalParameters are not an mmops bundle recipe: {error}"))?;
        Ok((recipe, self.statement.predicate.run_details.metadata.source_date_epoch))
    }

    /// Problems between the statement and the zip (name, digest) and its manifest (version,
    /// every file's digest, in order).
    pub(crate) fn check(
        &self,
        zip_name: &str,
        zip_sha256: &str,
        manifest_version: Option<&str>,
        manifest_files: Option<&[ManifestFile]>,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        match self.statement.subject.as_slice() {
            [subject] => {
                if subject.name != zip_name {
                    problems.push(format!(
                        "its subject is {:?}, not {zip_name:?}: provenance of another release",
                        display_text(&subject.name, false)
                    ));
                }
                match subject.digest.get("sha256") {
                    Some(digest) if digest.eq_ignore_ascii_case(zip_sha256) => {}
                    Some(digest) => problems.push(format!(
                        "its subject digest is sha256 {}, but the zip's is {zip_sha256}",
                        display_text(digest, false)
                    )),
                    None => problems.push("its subject has no sha256 digest".into()),
                }
            }
            subjects => problems.push(format!("it has {} subjects; an mmops bundle has one", subjects.len())),
        }
        let recipe_version = self
            .statement
            .predicate
            .build_definition
            .external_parameters
            .get("version")
            .and_then(Value::as_str);
        if let (Some(manifest_version), Some(recipe_version)) = (manifest_version, recipe_version)
            && manifest_version != recipe_version
        {
            problems.push(format!(
                "it says version {}, MANIFEST.json says {}",
                display_text(recipe_version, false),
                display_text(manifest_version, false)
            ));
        }
        let Some(manifest_files) = manifest_files else { return problems };
        let recorded: Vec<(&str, &str)> = self
            .statement
            .predicate
            .build_definition
            .resolved_dependencies
            .iter()
            .filter(|dependency| dependency.uri.is_none())
            .map(|dependency| {
                (
                    dependency.name.as_deref().unwrap_or(""),
                    dependency.digest.get("sha256").map_or("", String::as_str),
                )
            })
            .collect();
        for index in 0..recorded.len().max(manifest_files.len()) {
            match (recorded.get(index), manifest_files.get(index)) {
                (Some((name, digest)), Some(file)) if *name == file.path => {
                    if !digest.eq_ignore_ascii_case(&file.sha256) {
                        problems.push(format!(
                            "{}: it records sha256 {}, MANIFEST.json says {}",
                            display_text(name, false),
                            display_text(digest, false),
                            display_text(&file.sha256, false)
                        ));
                    }
                }
                (Some((name, _)), Some(file)) => {
                    problems.push(format!(
                        "input {} is {} in it, {} in MANIFEST.json",
                        index + 1,
                        display_text(name, false),
                        display_text(&file.path, false)
                    ));
                    break;
                }
                (Some((name, _)), None) => {
                    problems.push(format!("{}: in it but not in MANIFEST.json", display_text(name, false)));
                }
                (None, Some(file)) => {
                    problems
                        .push(format!("{}: in MANIFEST.json but not in it", display_text(&file.path, false)));
                }
                (None, None) => unreachable!("the loop stays below the longer length"),
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe() -> Recipe {
        Recipe {
            name: "mm-bot".into(),
            version: "1.4.0".into(),
            level: 6,
            config: BundleConfig { files: Vec::new(), reports: Vec::new() },
            config_origin: "built-in".into(),
            include_reports: true,
            reports_dir: "artifacts/reports".into(),
            out_dir: "artifacts/release".into(),
        }
    }

    fn files() -> Vec<ManifestFile> {
        vec![ManifestFile {
            path: "VERSION".into(),
            sha256: "aa".into(),
            size: 6,
            description: String::new(),
        }]
    }

    #[test]
    fn statement_is_sorted_and_reads_back() {
        let recipe = recipe();
        let files = files();
        let source = SourceCommit { commit: "c".repeat(40), dirty: true };
        let statement = Statement {
            zip_name: "mm-bot-v1.4.0.zip",
            zip_sha256: "ff",
            recipe: &recipe,
            files: &files,
            source: Some(&source),
            created_at: "2025-10-11T12:00:00Z",
            source_date_epoch: 1_760_184_000,
        };
        let bytes = statement.to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.starts_with("{\n  \"_type\": \"https://in-toto.io/Statement/v1\",\n  \"predicate\": {"),
            "{text}"
        );
        assert!(text.contains("\"dirty\": true"));
        let parsed = parse(&bytes).unwrap();
        assert_eq!(parsed.recipe().unwrap(), (recipe, 1_760_184_000));
        assert!(parsed.check("mm-bot-v1.4.0.zip", "ff", Some("1.4.0"), Some(&files)).is_empty());
        let problems = parsed.check("mm-bot-v1.4.1.zip", "ee", Some("1.4.1"), Some(&[]));
        assert_eq!(problems.len(), 4, "{problems:?}");
    }
}
