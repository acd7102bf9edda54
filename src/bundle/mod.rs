//! `mmops bundle`: a reproducible release zip with a SHA-256 manifest, a release summary and a
//! `.sha256` sidecar; and `mmops bundle verify`, which checks one without extracting it.
//!
//! The run is planned before anything is written — version, file list, every input opened once
//! inside the repository — then the zip and its sidecar are streamed to temporary files in the
//! output folder, compared with any existing release of the same name (releases are immutable),
//! and renamed into place, the sidecar last.
//!
//! - [`inputs`]: the file list (built-in = `deploy/release/bundle.yaml`, or `--config`), version
//!   and name checks, opening each input beneath its root without following links.
//! - [`manifest`], [`summary`], [`zip_format`]: pure — the bytes of MANIFEST.json,
//!   RELEASE_SUMMARY.md and the zip headers.
//! - [`write`]: the parallel read, hash and deflate pipeline.
//! - [`rebuild`]: why a rebuilt release differs from the released one.
//! - [`verify`] and [`zip_layout`]: `mmops bundle verify`, the structure checked before any entry
//!   is inflated.
//! - [`signing`] and [`keygen`]: minisign keys and the `.minisig` of `--sign`.
//! - [`provenance`]: the `<zip>.intoto.json` in-toto/SLSA statement every bundle gets.

mod inputs;
mod keygen;
mod manifest;
mod metrics;
mod provenance;
mod publish;
mod rebuild;
mod signing;
mod summary;
mod verify;
mod write;
mod zip_format;
mod zip_layout;

use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::atomic_write::{self, AtomicFile};
use crate::cli::{BundleAction, BundleArgs, BundleCreateArgs};
use crate::clock;
use crate::context::Context;
use crate::limits;
use crate::outcome::{CheckFailed, Partial, Verdict};
use crate::output::{Marker, Report, Style};
use crate::progress::Progress;
use crate::sanitize::{display_path, display_text};
use crate::units::format_size;

use inputs::{Input, MANIFEST_NAME, Roots, SUMMARY_NAME};
use manifest::{Generator, Manifest, ManifestFile, hex};
use provenance::{Recipe, SourceCommit};
use signing::{KeyPermissions, SigningKey};
use write::{FileDigest, MemoryEntry, ZipDigest, ZipSink};
use zip_format::{DosTime, dos_time};

/// Bundles at least this large get a progress bar on a terminal.
const PROGRESS_THRESHOLD: u64 = 4 << 20;
/// Reports larger than this are bundled but not parsed for the summary.
const SUMMARY_REPORT_LIMIT: u64 = 16 << 20;

pub fn run(args: &BundleArgs, context: &Context) -> Result<Verdict> {
    match &args.action {
        Some(BundleAction::Verify(verify_args)) => verify::run(verify_args, context),
        Some(BundleAction::Keygen(keygen_args)) => keygen::run(keygen_args, context),
        None => create(&args.create, context),
    }
}

/// The checked plan of one `mmops bundle` run.
struct Plan {
    name: String,
    version: String,
    created_at: String,
    time: DosTime,
    inputs: Vec<Input>,
    generator: Generator,
    level: u32,
    zip_path: PathBuf,
    sidecar_path: PathBuf,
    provenance_path: PathBuf,
    /// What the provenance records: how to build this again, from which commit, at which time.
    recipe: Recipe,
    source: Option<SourceCommit>,
    source_date_epoch: i64,
    /// With `--sign`: the decrypted key (loaded before anything is written).
    signing_key: Option<SigningKey>,
}

/// `<path><suffix>`: the sidecar, signature and provenance names next to the zip.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The plan of a build from a recipe at `build_time`: inputs resolved and opened, names fixed.
/// Shared by `mmops bundle` and `mmops bundle verify --rebuild`.
fn plan_recipe(recipe: Recipe, out_dir: &Path, build_time: chrono::DateTime<chrono::Utc>) -> Result<Plan> {
    let roots = Roots {
        repository: PathBuf::from("."),
        reports: PathBuf::from(&recipe.reports_dir),
        include_reports: recipe.include_reports,
        exclude: Some(PathBuf::from(&recipe.out_dir)),
    };
    let inputs = inputs::resolve(&recipe.config, &roots)?;
    let file_name = format!("{}-v{}.zip", recipe.name, recipe.version);
    let zip_path = out_dir.join(&file_name);
    Ok(Plan {
        name: recipe.name.clone(),
        version: recipe.version.clone(),
        created_at: clock::format_utc(build_time),
        time: dos_time(build_time),
        inputs,
        generator: Generator::current(recipe.level),
        level: recipe.level,
        sidecar_path: with_suffix(&zip_path, ".sha256"),
        provenance_path: with_suffix(&zip_path, PROVENANCE_SUFFIX),
        zip_path,
        recipe,
        source: None,
        source_date_epoch: build_time.timestamp(),
        signing_key: None,
    })
}

const PROVENANCE_SUFFIX: &str = ".intoto.json";
const SIGNATURE_SUFFIX: &str = ".minisig";

fn plan(args: &BundleCreateArgs, context: &Context) -> Result<Plan> {
    inputs::check_name(&args.name)?;
    let version = inputs::resolve_version(args.version.as_deref(), Path::new("VERSION"))?;
    if args.version.is_some()
        && let Ok(file_version) = limits::read_version_file(Path::new("VERSION"))
        && file_version != version
    {
        context.printer.warn(format!(
            "--version {version} differs from the VERSION file ({}); a bundled VERSION still says the latter",
            display_text(&file_version, false)
        ));
    }
    let (config, origin) = inputs::load_config(args.config.as_deref())?;
    let recipe = Recipe {
        name: args.name.clone(),
        version,
        level: args.level,
        config,
        config_origin: origin,
        include_reports: !args.no_reports,
        reports_dir: utf8_path(&args.reports_dir, "--reports-dir")?,
        out_dir: utf8_path(&args.out_dir, "--out-dir")?,
    };
    let build_time = clock::build_time(context.now)?;
    let mut plan = plan_recipe(recipe, &args.out_dir, build_time)?;
    // The key (and its password) before anything is written: a bad one is exit 2, nothing done.
    if let Some(key_path) = &args.sign {
        let permissions = if args.strict_key_perms { KeyPermissions::Strict } else { KeyPermissions::Warn };
        let password = signing::PasswordSource { file: args.password_file.clone() };
        plan.signing_key = Some(signing::load_signing_key(key_path, &password, permissions, &|message| {
            context.printer.warn(message)
        })?);
    }
    if !args.dry_run {
        plan.source = provenance::source_commit();
    }
    Ok(plan)
}

/// A path the provenance records as text; one that is not UTF-8 could not be rebuilt from it.
fn utf8_path(path: &Path, flag: &str) -> Result<String> {
    path.to_str().map(str::to_string).ok_or_else(|| {
        anyhow!("{flag} {} is not UTF-8; the provenance records it as text", display_path(path))
    })
}

/// What happened to the release on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Outcome {
    Created,
    Unchanged,
    Replaced,
    DryRun,
}

impl Outcome {
    fn word(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Unchanged => "unchanged, already released with the same bytes",
            Outcome::Replaced => "replaced (--force)",
            Outcome::DryRun => "dry run, nothing written",
        }
    }
}

/// The `--format json` document: the manifest plus where the bundle is and what it hashes to.
#[derive(Debug, Serialize)]
struct CreateReport {
    #[serde(flatten)]
    manifest: Manifest,
    bundle: String,
    sidecar: String,
    /// The in-toto/SLSA provenance statement next to the zip.
    provenance: String,
    /// With `--sign`: the zip's and the provenance's `.minisig`, and the signing key's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    signature: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    provenance_signature: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<String>,
    /// The zip's SHA-256 and size (absent in a dry run, which writes no zip).
    sha256: Option<String>,
    size: Option<u64>,
    outcome: Outcome,
    /// RELEASE_SUMMARY.md, in a dry run.
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<String>,
    /// What `--publish` put in object storage.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    published: Vec<publish::Published>,
}

impl Report for CreateReport {
    fn marker(&self) -> Marker {
        Marker::new("bundle", Verdict::Pass, "RELEASE_BUNDLE", self.bundle.clone())
    }

    fn write_text(&self, out: &mut dyn Write, style: &Style) -> io::Result<()> {
        if let Some(summary) = &self.summary {
            out.write_all(&self.manifest.to_bytes())?;
            writeln!(out)?;
            out.write_all(summary.as_bytes())?;
            writeln!(out)?;
            writeln!(
                out,
                "{}: would write {}, {} and {}",
                style.bold("dry run"),
                self.bundle,
                self.provenance,
                self.sidecar
            )?;
            return Ok(());
        }
        let width = self.manifest.files.iter().map(|file| file.path.chars().count()).max().unwrap_or(0);
        for file in &self.manifest.files {
            writeln!(
                out,
                "{:<width$}  {:>10}  {}",
                file.path,
                format_size(file.size),
                style.dim(summary::short_hash(&file.sha256))
            )?;
        }
        writeln!(out, "bundle:  {} ({})", self.bundle, self.outcome.word())?;
        if let (Some(size), Some(sha256)) = (self.size, &self.sha256) {
            writeln!(out, "size:    {} ({size} bytes)", format_size(size))?;
            writeln!(out, "sha256:  {sha256}")?;
        }
        writeln!(out, "provenance: {}", self.provenance)?;
        if let (Some(signature), Some(provenance_signature), Some(key_id)) =
            (&self.signature, &self.provenance_signature, &self.key_id)
        {
            writeln!(out, "signature: {signature} (key id {key_id})")?;
            writeln!(out, "provenance signature: {provenance_signature}")?;
        }
        writeln!(out, "sidecar: {}", self.sidecar)?;
        for published in &self.published {
            writeln!(out, "{}: {}", published.outcome.word(), published.url)?;
        }
        Ok(())
    }
}

/// `--prom-file deploy/x.prom` where the list bundles `deploy/x.prom` replaced that input in the
/// working tree with the textfile (exit 0): the release then held a file the tree no longer has.
fn refuse_prom_file_over_an_input(prom: &Path, plan: &Plan, config: Option<&Path>) -> Result<()> {
    let inputs = plan.inputs.iter().map(|input| ("a file this release bundles", input.source.as_path()));
    for (what, input) in config.map(|config| ("the --config file", config)).into_iter().chain(inputs) {
        if crate::atomic_write::same_destination(prom, input) {
            bail!("--prom-file {} is {what}; give the Prometheus file its own path", display_path(prom));
        }
    }
    Ok(())
}

fn create(args: &BundleCreateArgs, context: &Context) -> Result<Verdict> {
    let plan = plan(args, context)?;
    let zip_name =
        plan.zip_path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let publisher =
        args.publish.as_deref().map(|url| publish::Publisher::prepare(url, &zip_name)).transpose()?;
    tidy_leftovers(&args.out_dir, args.dry_run, context);
    if let Some(prom) = args.prom_file.as_deref() {
        refuse_prom_file_over_an_input(prom, &plan, args.config.as_deref())?;
    }
    let prom_file = args.prom_file.as_deref().map(crate::prometheus::PromFile::create).transpose()?;
    let total: u64 = plan.inputs.iter().map(|input| input.size).sum();
    let progress = Progress::bytes(&context.printer, total, PROGRESS_THRESHOLD, "bundling");
    let report = if args.dry_run {
        let digests = write::hash_inputs(&plan.inputs, &progress)?;
        progress.finish();
        let (manifest, summary_text) = manifest_and_summary(&plan, &digests)?;
        CreateReport {
            manifest,
            bundle: display_path(&plan.zip_path),
            sidecar: display_path(&plan.sidecar_path),
            provenance: display_path(&plan.provenance_path),
            signature: None,
            provenance_signature: None,
            key_id: None,
            sha256: None,
            size: None,
            outcome: Outcome::DryRun,
            summary: Some(summary_text),
            published: Vec::new(),
        }
    } else {
        let out_dir_existed = args.out_dir.is_dir();
        // From here SIGINT/SIGTERM only set a flag: the build stops before its next chunk and
        // the run ends INTERRUPTED (exit 130) with no final name touched; one that arrives after
        // the zip was placed lets the run finish (the sidecar and report take milliseconds).
        let watch = crate::interrupt::Watch::start()?;
        let result = build_and_place(&plan, args.force, &progress, context, &watch);
        progress.finish();
        if result.is_err() && !out_dir_existed {
            // We made the folder for this run; leave no trace of a run that failed.
            let _ = fs::remove_dir(&args.out_dir);
        }
        let Placed { manifest, digest, outcome } = result?;
        let signed = plan.signing_key.as_ref();
        if outcome == Outcome::Replaced && signed.is_none() {
            // Never deleted (another key's signature is not ours to remove), but never silent.
            for stale in [
                with_suffix(&plan.zip_path, SIGNATURE_SUFFIX),
                with_suffix(&plan.provenance_path, SIGNATURE_SUFFIX),
            ] {
                if fs::symlink_metadata(&stale).is_ok() {
                    context.printer.warn(format!(
                        "{} signs the replaced release and no longer matches; sign again with --sign, or remove it",
                        display_path(&stale)
                    ));
                }
            }
        }
        CreateReport {
            manifest,
            bundle: display_path(&plan.zip_path),
            sidecar: display_path(&plan.sidecar_path),
            provenance: display_path(&plan.provenance_path),
            signature: signed.map(|_| display_path(&with_suffix(&plan.zip_path, SIGNATURE_SUFFIX))),
            provenance_signature: signed
                .map(|_| display_path(&with_suffix(&plan.provenance_path, SIGNATURE_SUFFIX))),
            key_id: signed.map(SigningKey::key_id),
            sha256: Some(digest.sha256),
            size: Some(digest.size),
            outcome,
            summary: None,
            published: match &publisher {
                Some(publisher) => publisher
                    .publish(&plan.zip_path, &plan.sidecar_path, args.force)
                    .map_err(|error| publish::after_local_bundle(error, &display_path(&plan.zip_path)))?,
                None => Vec::new(),
            },
        }
    };
    if let Some(file) = prom_file {
        let exposition = metrics::create_exposition(&report, &plan.name, &plan.zip_path, context.now);
        file.commit_after(&exposition, &format!("{} is in place", report.bundle))?;
    }
    context.printer.emit(&report)
}

/// Streams the bundle into `file`: the inputs, the summary, the manifest.
/// `stop` set (SIGINT/SIGTERM) ends the build before its next chunk.
fn build_zip(
    plan: &Plan,
    file: &mut File,
    progress: &Progress,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<(Manifest, ZipDigest)> {
    let workers = crate::stats::worker_count(1, 8);
    let mut sink = ZipSink::new(file, plan.time);
    // Errors name their file: an input that changed, or "cannot write the bundle".
    let digests = write::write_inputs(&mut sink, &plan.inputs, plan.level, workers, progress, stop)?;
    let (manifest, summary_text) = manifest_and_summary(plan, &digests)?;
    sink.add_memory_entry(
        &MemoryEntry { name: SUMMARY_NAME.into(), bytes: summary_text.into_bytes() },
        plan.level,
    )?;
    sink.add_memory_entry(
        &MemoryEntry { name: MANIFEST_NAME.into(), bytes: manifest.to_bytes() },
        plan.level,
    )?;
    Ok((manifest, sink.finish()?))
}

/// One small file written next to the zip (provenance, a signature, the sidecar): prepared as a
/// temporary file before the first rename, placed after the zip.
struct Companion {
    file: AtomicFile,
    text: Vec<u8>,
}

impl Companion {
    fn prepare(path: &Path) -> Result<Companion> {
        Ok(Companion { file: AtomicFile::create(path)?, text: Vec::new() })
    }

    fn fill(&mut self, text: Vec<u8>) -> Result<()> {
        let shown = display_path(self.file.path());
        self.file.write_all(&text).with_context(|| format!("cannot write {shown}"))?;
        self.text = text;
        Ok(())
    }
}

/// What was placed next to the zip, for the report.
struct Placed {
    manifest: Manifest,
    digest: ZipDigest,
    outcome: Outcome,
}

/// Writes the zip and its companions (provenance, signatures with `--sign`, the sidecar) to
/// temporary files, then puts them in place unless the release already exists. Nothing appears
/// under a final name before all are complete; a failure after the zip is in place is reported
/// as partial (exit 1), never as "nothing written".
fn build_and_place(
    plan: &Plan,
    force: bool,
    progress: &Progress,
    context: &Context,
    watch: &crate::interrupt::Watch,
) -> Result<Placed> {
    // Every output first: a final name that is not a regular file (a FIFO, a folder, a dangling
    // symlink) is refused here, before anything is written.
    let mut temp = AtomicFile::create(&plan.zip_path)?;
    let zip_signature_path = with_suffix(&plan.zip_path, SIGNATURE_SUFFIX);
    let provenance_signature_path = with_suffix(&plan.provenance_path, SIGNATURE_SUFFIX);
    let mut provenance = Companion::prepare(&plan.provenance_path)?;
    let mut signatures = match &plan.signing_key {
        Some(_) => {
            Some((Companion::prepare(&provenance_signature_path)?, Companion::prepare(&zip_signature_path)?))
        }
        None => None,
    };
    let mut sidecar = Companion::prepare(&plan.sidecar_path)?;
    let (manifest, digest) = build_zip(plan, temp.file_mut(), progress, &watch.flag())?;
    let zip_name =
        plan.zip_path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let provenance_bytes = provenance::Statement {
        zip_name: &zip_name,
        zip_sha256: &digest.sha256,
        recipe: &plan.recipe,
        files: &manifest.files,
        source: plan.source.as_ref(),
        created_at: &plan.created_at,
        source_date_epoch: plan.source_date_epoch,
    }
    .to_bytes();
    if let (Some(key), Some((provenance_signature, zip_signature))) = (&plan.signing_key, &mut signatures) {
        let shown = display_path(&plan.zip_path);
        let file = temp.file_mut();
        file.seek(io::SeekFrom::Start(0)).with_context(|| format!("cannot read back the new {shown}"))?;
        let zip_hash =
            signing::prehash(&mut *file).with_context(|| format!("cannot read back the new {shown}"))?;
        let comment =
            signing::trusted_comment(&zip_name, &plan.version, &digest.sha256, plan.source_date_epoch);
        zip_signature.fill(key.sign(&zip_hash, &comment).into_bytes())?;
        let provenance_name = format!("{zip_name}{PROVENANCE_SUFFIX}");
        let comment = signing::trusted_comment(
            &provenance_name,
            &plan.version,
            &hex(&Sha256::digest(&provenance_bytes)),
            plan.source_date_epoch,
        );
        let provenance_hash =
            signing::prehash(provenance_bytes.as_slice()).expect("reading memory cannot fail");
        provenance_signature.fill(key.sign(&provenance_hash, &comment).into_bytes())?;
    }
    provenance.fill(provenance_bytes)?;
    sidecar.fill(format!("{}  {zip_name}\n", digest.sha256).into_bytes())?;
    // In the order they are placed: the sidecar last, its presence means all is complete.
    let mut companions = vec![provenance];
    if let Some((provenance_signature, zip_signature)) = signatures {
        companions.push(provenance_signature);
        companions.push(zip_signature);
    }
    companions.push(sidecar);

    let shown = display_path(&plan.zip_path);
    if watch.requested() {
        return Err(anyhow!(crate::outcome::Interrupted(
            "interrupted before the release was placed; nothing was written".into()
        )));
    }
    let outcome = match hash_existing(&plan.zip_path)? {
        None => Outcome::Created,
        Some((existing, _)) if existing == digest.sha256 => {
            drop(temp);
            place_missing_companions(companions, context)?;
            return Ok(Placed { manifest, digest, outcome: Outcome::Unchanged });
        }
        Some(_) if force => Outcome::Replaced,
        Some((existing, file)) => {
            return Err(anyhow!(CheckFailed(format!(
                "{shown} already exists with different content (sha256 {existing}, this build {}): {}; \
                 releases are immutable: bump the version, or pass --force to replace it",
                digest.sha256,
                rebuild::explain(file, &manifest)
            ))));
        }
    };
    match outcome {
        // Another run may create the same release between our check and our rename: never
        // replace it silently; judge it like any existing release instead.
        Outcome::Created => {
            if let Err(error) = temp.commit_new() {
                let raced = error
                    .root_cause()
                    .downcast_ref::<io::Error>()
                    .is_some_and(|io| io.kind() == io::ErrorKind::AlreadyExists);
                if !raced {
                    return Err(error);
                }
                return match hash_existing(&plan.zip_path)? {
                    Some((existing, _)) if existing == digest.sha256 => {
                        place_missing_companions(companions, context)?;
                        Ok(Placed { manifest, digest, outcome: Outcome::Unchanged })
                    }
                    _ => Err(anyhow!(CheckFailed(format!(
                        "{shown} was created by another run while this one was writing, with different \
                         content; releases are immutable: rerun with --force to replace it"
                    )))),
                };
            }
        }
        _ => temp.commit()?,
    }
    // The zip is in place now, so a failure here is partial, not "nothing written".
    let mut placed = Vec::new();
    for companion in companions {
        let path = companion.file.path().to_path_buf();
        if let Err(error) = companion.file.commit() {
            let done = if placed.is_empty() { String::new() } else { format!(" and {}", placed.join(", ")) };
            return Err(anyhow!(Partial(format!(
                "{shown}{done} were placed, but {} could not be: {error:#}; fix the cause and rerun the same \
                 command to write it",
                display_path(&path)
            ))));
        }
        placed.push(display_path(&path));
    }
    Ok(Placed { manifest, digest, outcome })
}

/// The release already exists with the same bytes: companions that are missing or say something
/// else are written (each with a note), the others left as they are.
fn place_missing_companions(companions: Vec<Companion>, context: &Context) -> Result<()> {
    for companion in companions {
        let path = companion.file.path().to_path_buf();
        if !sidecar_matches(&path, &companion.text) {
            companion.file.commit()?;
            context.printer.warn(format!("{} was missing or wrong; rewrote it", display_path(&path)));
        }
    }
    Ok(())
}

/// Whether the sidecar on disk already says `expected` (read no further than that).
fn sidecar_matches(path: &Path, expected: &[u8]) -> bool {
    let Ok(Some(file)) = rebuild::open_existing(path) else { return false };
    let mut bytes = Vec::new();
    file.take(expected.len() as u64 + 1).read_to_end(&mut bytes).is_ok() && bytes == expected
}

/// The SHA-256 of an existing release and a handle on it, or `None` when there is none.
fn hash_existing(path: &Path) -> Result<Option<(String, File)>> {
    let shown = display_path(path);
    let mut file = match rebuild::open_existing(path) {
        Err(error) => return Err(error).with_context(|| format!("cannot read the existing {shown}")),
        Ok(None) => return Ok(None),
        Ok(Some(file)) => file,
    };
    if !file.metadata().with_context(|| format!("cannot read the existing {shown}"))?.is_file() {
        bail!("{shown} is not a regular file; nothing was written: remove it or choose another --out-dir");
    }
    let sha256 = manifest::sha256_hex_of(&mut file, |_| {})
        .with_context(|| format!("cannot read the existing {shown}"))?;
    file.seek(io::SeekFrom::Start(0)).with_context(|| format!("cannot read the existing {shown}"))?;
    Ok(Some((sha256, file)))
}

/// The manifest and the summary text, from the inputs' digests.
fn manifest_and_summary(plan: &Plan, digests: &[FileDigest]) -> Result<(Manifest, String)> {
    let mut files: Vec<ManifestFile> = plan
        .inputs
        .iter()
        .zip(digests)
        .map(|(input, digest)| ManifestFile {
            path: input.dest.clone(),
            sha256: digest.sha256.clone(),
            size: digest.size,
            description: input.description.clone(),
        })
        .collect();
    let readiness = report_bytes(plan, digests, "readiness.json")?;
    let soak_metrics = report_bytes(plan, digests, "soak_metrics.json")?;
    let soak_results = find_report(plan, "SOAK_RESULTS.md").map(|index| plan.inputs[index].dest.as_str());
    let summary_text = summary::render(&summary::SummaryInputs {
        name: &plan.name,
        version: &plan.version,
        created_at: &plan.created_at,
        generator: &plan.generator,
        files: &files,
        readiness: readiness.as_ref().map(|(name, bytes)| (name.as_str(), bytes.as_slice())),
        soak_metrics: soak_metrics.as_ref().map(|(name, bytes)| (name.as_str(), bytes.as_slice())),
        soak_results,
    });
    files.push(ManifestFile {
        path: SUMMARY_NAME.into(),
        sha256: hex(&Sha256::digest(summary_text.as_bytes())),
        size: summary_text.len() as u64,
        description: "Release summary".into(),
    });
    let manifest = Manifest {
        version: plan.version.clone(),
        created_at: plan.created_at.clone(),
        generator: plan.generator.clone(),
        files,
    };
    Ok((manifest, summary_text))
}

/// The input bundled under a name whose last part is `file_name` (first one in bundle order).
fn find_report(plan: &Plan, file_name: &str) -> Option<usize> {
    plan.inputs.iter().position(|input| input.dest.rsplit('/').next() == Some(file_name))
}

/// A bundled report's bytes for the summary, checked against the hash the bundle recorded, so
/// the summary describes exactly the bytes in the zip.
fn report_bytes(plan: &Plan, digests: &[FileDigest], file_name: &str) -> Result<Option<(String, Vec<u8>)>> {
    let Some(index) = find_report(plan, file_name) else { return Ok(None) };
    let input = &plan.inputs[index];
    if input.size > SUMMARY_REPORT_LIMIT {
        return Ok(None);
    }
    let bytes = write::read_again(input, &digests[index])?;
    Ok(Some((input.dest.clone(), bytes)))
}

/// Temporary files in the output folder: those of killed runs are removed (the one temp-file
/// policy, [`atomic_write::clean_stale_temp_files`]), those of running ones are left alone; each
/// gets a note. A dry run removes nothing.
fn tidy_leftovers(out_dir: &Path, dry_run: bool, context: &Context) {
    if !dry_run {
        for path in atomic_write::clean_stale_temp_files(out_dir) {
            context.printer.warn(atomic_write::temp_file_note(&path, true));
        }
    }
    for path in atomic_write::live_temp_files(out_dir) {
        context.printer.warn(atomic_write::temp_file_note(&path, false));
    }
}

/// Parses and checks a bundle file list; the fuzz target's way in.
pub(crate) fn fuzz_config(path: &std::path::Path) {
    if let Ok((config, origin)) = inputs::load_config(Some(path)) {
        let _ = inputs::check_config(&config, &origin);
    }
}

/// Verifies arbitrary bytes as a bundle; the fuzz target's way in.
/// A bundle that passes must hold only names that every reader decodes alike: valid UTF-8,
/// flagged when not ASCII, unique byte for byte, safe to extract.
pub(crate) fn fuzz_verify(path: &std::path::Path, context: &Context) {
    let options = verify::Options { no_sidecar: true, key: None };
    let Ok(file) = File::open(path) else { return };
    let Ok(report) = verify::verify(path, &file, &options, context) else { return };
    if !report.passed() {
        return;
    }
    let size = file.metadata().expect("a verified zip has metadata").len();
    let layout = zip_layout::read_layout(&file, size).expect("a verified zip has a readable structure");
    assert!(layout.problems.is_empty(), "verified despite {:?}", layout.problems);
    let mut names = std::collections::BTreeSet::new();
    for entry in &layout.entries {
        let name = std::str::from_utf8(&entry.name).expect("a verified name is UTF-8");
        assert!(name.is_ascii() || entry.flags & (1 << 11) != 0, "{name:?} verified without the UTF-8 flag");
        assert!(verify::unsafe_name(name).is_none(), "{name:?} verified although unsafe");
        assert!(names.insert(entry.name.clone()), "{name:?} verified twice");
    }
}
