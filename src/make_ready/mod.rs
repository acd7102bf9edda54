//! `mmops make-ready`: the release gate. Two components — the pre-live pack (dry runs of
//! everything the release depends on, run in parallel) and the readiness score (the reference
//! formula over the last week of soak reports) — give one verdict, `MAKE_READY=OK` or `BLOCKED`.
//!
//! Order of work: build the whole plan (config, VERSION, flags) before running anything, so a
//! bad config is exit 2 with nothing run; then run the pack and score; then prepare every output
//! (readiness JSON and Markdown, JUnit) as a temporary file and commit them all at the end, so
//! exit 2 still means nothing changed. A failure after the first commit is PARTIAL (exit 1).
//!
//! `--tag-rc` (`release.rs`) fits the same order: its checks (git, a clean tree, the next
//! `v<VERSION>-rc<N>`, the canary's triggers) are part of the plan; the tag is created after
//! every output, the canary checklist included, is prepared and before the first is committed,
//! so the tag is the run's first irreversible step and a failure after it is PARTIAL naming it.

mod baseline;
mod canary;
mod capture;
mod checks;
mod config;
mod git;
mod github;
mod junit;
mod launcher;
mod metrics;
mod pre_live;
mod readiness;
mod release;
mod report;
mod reports;

use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use crate::atomic_write::AtomicFile;
use crate::cli::{MakeReadyArgs, StepLauncherArgs};
use crate::context::Context;
use crate::limits;
use crate::outcome::Verdict;
use crate::output::Printer;
use crate::sanitize::display_path;
use pre_live::StepStatus;
use readiness::{ReadinessDoc, VerdictRule};
use report::{MakeReadyReport, PackSummary, ReadinessDetail, ValidateReport};

/// An output may not be one of the run's inputs: `--out-json artifacts/REPORT_SOAK_20261126.json`
/// replaced the soak report it had just scored (exit 0, the evidence gone), and a new
/// `REPORT_SOAK_*.json` in the reports folder would be scored as a soak report by the next run;
/// `--junit` onto the config replaced it too. Refused before anything runs.
fn refuse_outputs_over_inputs(args: &MakeReadyArgs, outputs: &[(&str, &Path)]) -> Result<()> {
    for &(flag, output) in outputs {
        let Some(name) = output.file_name() else { continue };
        let name_text = name.to_string_lossy();
        let soak_name = name_text.starts_with("REPORT_SOAK_") && name_text.ends_with(".json");
        if soak_name && crate::atomic_write::same_destination(output, &args.reports_dir.join(name)) {
            bail!(
                "{flag} {} would be a soak report in the reports folder {} (REPORT_SOAK_*.json are the \
                 evidence make-ready scores); choose another path",
                display_path(output),
                display_path(&args.reports_dir)
            );
        }
        if crate::atomic_write::same_destination(output, &args.config) {
            bail!("{flag} {} is the make-ready config (--config); choose another path", display_path(output));
        }
        // --out-json over --baseline is the usual round (compare with the last, then replace
        // it); any other output there would replace the baseline with something else.
        if flag != "--out-json"
            && let Some(baseline) = &args.baseline
            && crate::atomic_write::same_destination(output, baseline)
        {
            bail!("{flag} {} is the --baseline file; choose another path", display_path(output));
        }
    }
    Ok(())
}

pub fn run(args: &MakeReadyArgs, context: &Context) -> Result<Verdict> {
    if !(args.min_score.is_finite() && (0.0..=100.0).contains(&args.min_score)) {
        bail!("--min-score {} is outside 0..100; the score is out of 100", args.min_score);
    }
    if let Some(file) = &args.validate {
        return validate_file(file, args.min_score, context);
    }
    let plan = plan(args, context)?;
    // A --prom-file that node_exporter would ignore, or that names another output, is refused
    // before anything runs; it is written with the other outputs at the end.
    // Two outputs naming one file would leave only the last written (the JUnit XML under
    // --out-json, exit 0): every pair is compared before anything runs.
    let twin = markdown_twin(&args.out_json);
    let step_summary =
        std::env::var_os("GITHUB_STEP_SUMMARY").filter(|value| !value.is_empty()).map(PathBuf::from);
    let mut other_outputs = vec![
        ("--out-json", args.out_json.as_path()),
        ("readiness Markdown (--out-json with .md)", twin.as_path()),
    ];
    other_outputs.extend(args.junit.as_deref().map(|junit| ("--junit", junit)));
    other_outputs.extend(step_summary.as_deref().map(|path| ("GITHUB_STEP_SUMMARY", path)));
    crate::atomic_write::refuse_shared_outputs(&other_outputs)?;
    refuse_outputs_over_inputs(args, &other_outputs)?;
    let prom_file = args
        .prom_file
        .as_deref()
        .map(|path| crate::prometheus::PromFile::create_apart(path, &other_outputs))
        .transpose()?;
    let printer = &context.printer;

    // From here SIGINT/SIGTERM (Ctrl-C, a cancelled CI job) only set a flag: the runner stops
    // the steps (each launcher kills its whole tree) and the run ends INTERRUPTED, exit 130.
    let watch = crate::interrupt::Watch::start()?;
    let interrupted = watch.flag();
    let pack = plan.steps.as_ref().map(|steps| {
        printer.note(format!(
            "pre-live pack: {}, {} at a time",
            crate::units::count_noun(steps.len() as u64, "step"),
            plan.jobs.min(steps.len())
        ));
        let started = crate::clock::monotonic();
        let results = pre_live::run_all(steps, plan.jobs, context.now, printer, &interrupted);
        (results, started.elapsed().as_secs_f64())
    });
    let summary = pack.as_ref().map(|(results, wall)| PackSummary::new(results, *wall));
    let steps = pack.map(|(results, _)| results).unwrap_or_default();
    if watch.requested() {
        return printer.emit(&MakeReadyReport::interrupted(steps, summary));
    }
    if summary.is_none() {
        printer.warn("pre-live pack skipped (--skip-pre-live): MAKE_READY reflects the readiness score only");
    }

    printer.note(format!(
        "readiness: scoring the last {} soak reports in {}",
        reports::WINDOW,
        display_path(&args.reports_dir)
    ));
    let scored = score_readiness(args, &plan, context)?;
    if watch.requested() {
        return printer.emit(&MakeReadyReport::interrupted(steps, summary));
    }

    let readiness_bytes = scored.document.to_bytes();
    let mut markdown = readiness::markdown(&scored.document);
    if let Some(comparison) = &scored.detail.baseline {
        markdown.push_str(&comparison.markdown());
    }
    if plan.tag.as_ref().is_some_and(|tag| tag.dry_run) {
        // --dry-run writes nothing: the document is validated in memory, the tag only shown.
        let (_, validation_errors) = readiness::validate(
            &readiness_bytes,
            VerdictRule { min_score: args.min_score, hold_allowed: scored.forced_hold },
        );
        let mut report = MakeReadyReport::finished(
            steps,
            summary,
            scored.document,
            ReadinessDetail { validation_errors, ..scored.detail },
        );
        report.release = Some(release_for(&report, &plan, &readiness_bytes, args, context)?.0);
        return printer.emit(&report);
    }

    // Every output is written to its temporary file before any final name changes.
    let mut outputs = Outputs::default();
    let mut json = outputs.prepare(&args.out_json, "readiness JSON", &readiness_bytes)?;
    let twin = markdown_twin(&args.out_json);
    outputs.prepare_into(&twin, "readiness Markdown", markdown.as_bytes())?;
    // Validate what is on disk, not what we meant to write.
    let written = read_back(&mut json, &args.out_json)?;
    let (_, validation_errors) = readiness::validate(
        &written,
        VerdictRule { min_score: args.min_score, hold_allowed: scored.forced_hold },
    );
    outputs.files.insert(0, (json, "readiness JSON"));
    let report = MakeReadyReport::finished(
        steps,
        summary,
        scored.document,
        ReadinessDetail { validation_errors, ..scored.detail },
    );
    if let Some(path) = &args.junit {
        let failure = report.readiness_failure();
        let detail = report.readiness_detail.as_ref().map(ReadinessDetail::summary).unwrap_or_default();
        let case = junit::ReadinessCase { failure: failure.as_deref(), detail: &detail };
        outputs.prepare_into(path, "JUnit report", junit::render(&report.steps, &case).as_bytes())?;
    }
    if let Some(file) = prom_file {
        let exposition = metrics::exposition(&report, &plan.version, &metrics::current_branch(), context.now);
        outputs.files.push((file.prepared(&exposition)?, "Prometheus file"));
    }
    let mut report = report;
    // The RC tag: created after every output is prepared (the checklist too) and before any is
    // committed, so a refusal up to here is exit 2 with nothing changed, and a failure after it
    // is PARTIAL naming the tag.
    let mut done = Vec::new();
    if plan.tag.is_some() {
        let (release, checklist) = release_for(&report, &plan, &written, args, context)?;
        if let (Some(tag_plan), Some(checklist), Some(message)) = (&plan.tag, checklist, &release.message) {
            outputs.prepare_into(Path::new(release::CHECKLIST), "canary checklist", checklist.as_bytes())?;
            // The last moment to stop with nothing changed: an interrupt before it never tags.
            if watch.requested() {
                let pack = report.pre_live_pack.take();
                return printer.emit(&MakeReadyReport::interrupted(std::mem::take(&mut report.steps), pack));
            }
            release::recheck(tag_plan)?;
            match git::create_annotated_tag(&tag_plan.name, &tag_plan.commit, message) {
                Ok(()) => done.push(format!("tag {}", tag_plan.name)),
                Err(git::TagError::Exists(why)) => bail!(
                    "tag {} appeared between the check and the create (git: {why}); nothing tagged, nothing written: run make-ready again",
                    tag_plan.name
                ),
                Err(git::TagError::Other(error)) => {
                    return Err(error.context(format!(
                        "cannot create tag {}; nothing tagged, nothing written",
                        tag_plan.name
                    )));
                }
            }
        }
        report.release = Some(release);
    }
    let committed = match outputs.commit_all(done) {
        Ok(committed) => committed,
        Err(Failure::NothingChanged(error)) => return Err(error),
        Err(Failure::Partial(message)) => return partial(report, message, printer),
    };
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|value| !value.is_empty()) {
        // GitHub owns this file and the protocol is to append, so it cannot be a temporary file
        // renamed into place; it comes last, and a failure here is PARTIAL.
        if let Err(error) = github::append_summary(Path::new(&path), &report.markdown_summary()) {
            let message =
                format!("{}; already written: {}", crate::output::error_line(&error), committed.join(", "));
            report.verdict = "PARTIAL";
            return partial(report, message, printer);
        }
    }
    if std::env::var_os("GITHUB_ACTIONS").is_some_and(|value| value == "true") {
        annotate(&report, printer);
    }
    printer.emit(&report)
}

/// The steps hidden subcommand `__step-launcher`: see `launcher.rs`.
pub fn launch_step(args: &StepLauncherArgs, printer: &Printer) -> ! {
    launcher::run(args, printer)
}

/// What `--tag-rc` does with this run's result: the tag and its message when the release
/// passed (plus the checklist to write), `NOT_TAGGED` when it did not.
fn release_for(
    report: &MakeReadyReport,
    plan: &Plan,
    readiness_json: &[u8],
    args: &MakeReadyArgs,
    context: &Context,
) -> Result<(release::ReleaseTag, Option<String>)> {
    let tag_plan = plan.tag.as_ref().context("--tag-rc was not planned")?;
    let (Some(document), Some(detail)) = (&report.readiness, &report.readiness_detail) else {
        bail!("no readiness result to tag");
    };
    if !matches!(report.verdict, "OK" | "OK_SIGNED_OFF") {
        let not_tagged = release::ReleaseTag {
            status: "NOT_TAGGED",
            tag: None,
            commit: tag_plan.commit.clone(),
            message: None,
            checklist: None,
            bundles: Vec::new(),
        };
        return Ok((not_tagged, None));
    }
    let bundles = release::bundles(&plan.version)?;
    let utc = crate::clock::format_utc(context.now);
    let facts = release::Facts {
        plan: tag_plan,
        utc: &utc,
        verdict: report.verdict,
        document,
        min_score: args.min_score,
        readiness_file: &detail.file,
        steps: &report.steps,
        bundles: &bundles,
        baseline: detail.baseline.as_ref(),
        readiness_json,
    };
    let message = release::message(&facts);
    let checklist = canary::checklist(&facts);
    let tag = release::ReleaseTag {
        status: if tag_plan.dry_run { "DRY_RUN" } else { "TAGGED" },
        tag: Some(tag_plan.name.clone()),
        commit: tag_plan.commit.clone(),
        message: Some(message),
        // A dry run writes no checklist, so the report names none.
        checklist: (!tag_plan.dry_run).then(|| release::CHECKLIST.to_string()),
        bundles,
    };
    Ok((tag, Some(checklist)))
}

fn annotate(report: &MakeReadyReport, printer: &Printer) {
    for step in report.steps.iter().filter(|step| step.status == StepStatus::Fail) {
        let why = step.reason.as_deref().unwrap_or("failed");
        printer.annotation(&github::error_annotation(&format!("make-ready step {}", step.name), why));
    }
    if let Some(failure) = report.readiness_failure() {
        printer.annotation(&github::error_annotation("make-ready readiness", &failure));
    }
}

/// A failure after a final name changed: said on stderr, and the report ends `MAKE_READY=PARTIAL`
/// (exit 1) so the marker row never claims a verdict for files that are half in place.
fn partial(mut report: MakeReadyReport, message: String, printer: &Printer) -> Result<Verdict> {
    printer.problem(&message);
    report.verdict = "PARTIAL";
    report.partial = Some(message);
    printer.emit(&report)
}

/// How committing the outputs failed.
enum Failure {
    /// Before the first rename: nothing changed, exit 2.
    NothingChanged(anyhow::Error),
    /// After it: the message says what is already in place.
    Partial(String),
}

/// The outputs of one run, written to temporary files and committed together at the end.
#[derive(Default)]
struct Outputs {
    files: Vec<(AtomicFile, &'static str)>,
}

impl Outputs {
    fn prepare(&mut self, path: &Path, what: &'static str, contents: &[u8]) -> Result<AtomicFile> {
        let mut file = AtomicFile::create(path)
            .with_context(|| format!("cannot write {what} {}", display_path(path)))?;
        file.write_all(contents).with_context(|| format!("cannot write {what} {}", display_path(path)))?;
        Ok(file)
    }

    fn prepare_into(&mut self, path: &Path, what: &'static str, contents: &[u8]) -> Result<()> {
        let file = self.prepare(path, what, contents)?;
        self.files.push((file, what));
        Ok(())
    }

    /// Commits in order. Before the first rename nothing changed (exit 2 on failure) unless
    /// `done` lists something irreversible already done (the tag); after it a failure is PARTIAL
    /// and names what is already in place. Returns `done` and the committed paths.
    fn commit_all(self, done: Vec<String>) -> Result<Vec<String>, Failure> {
        let mut committed = done;
        for (file, what) in self.files {
            let shown = display_path(file.path());
            if let Err(error) = file.commit() {
                let error = error.context(format!("cannot write {what} {shown}"));
                if committed.is_empty() {
                    return Err(Failure::NothingChanged(error));
                }
                return Err(Failure::Partial(format!(
                    "{}; already written: {}",
                    crate::output::error_line(&error),
                    committed.join(", ")
                )));
            }
            committed.push(shown);
        }
        Ok(committed)
    }
}

/// The temporary file's bytes, as a reader of the final file will see them.
fn read_back(file: &mut AtomicFile, path: &Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let handle = file.file_mut();
    handle
        .rewind()
        .and_then(|()| handle.take(limits::READINESS_MAX + 1).read_to_end(&mut bytes))
        .with_context(|| format!("cannot read back readiness JSON {}", display_path(path)))?;
    Ok(bytes)
}

/// Everything checked before anything runs.
struct Plan {
    steps: Option<Vec<config::Step>>,
    scoring: Option<config::Scoring>,
    sign_off: Option<readiness::SignOff>,
    jobs: usize,
    version: String,
    baseline: Option<baseline::Baseline>,
    /// `--tag-rc`: checked before anything runs.
    tag: Option<release::TagPlan>,
}

/// Longest `--sign-off` name and reason: a record, not an essay.
const SIGN_OFF_NAME_MAX: usize = 80;
const SIGN_OFF_REASON_MAX: usize = 500;

/// `--sign-off "name: reason"`: both parts non-empty, one line, no control characters.
fn parse_sign_off(text: &str) -> Result<readiness::SignOff> {
    let usage =
        "write --sign-off \"name: reason\", e.g. --sign-off \"Ana Ruiz: edge dip is the holiday week\"";
    if text.chars().any(char::is_control) {
        bail!("--sign-off contains a control character or line break; {usage}");
    }
    let Some((name, reason)) = text.split_once(':') else {
        bail!("--sign-off has no ':' between name and reason; {usage}");
    };
    let (name, reason) = (name.trim(), reason.trim());
    if name.is_empty() || reason.is_empty() {
        bail!("--sign-off needs both a name and a reason; {usage}");
    }
    if name.chars().count() > SIGN_OFF_NAME_MAX || reason.chars().count() > SIGN_OFF_REASON_MAX {
        bail!(
            "--sign-off is too long: at most {SIGN_OFF_NAME_MAX} characters of name and {SIGN_OFF_REASON_MAX} of reason"
        );
    }
    Ok(readiness::SignOff { name: name.to_string(), reason: reason.to_string() })
}

fn plan(args: &MakeReadyArgs, context: &Context) -> Result<Plan> {
    let sign_off = args.sign_off.as_deref().map(parse_sign_off).transpose()?;
    // With --skip-pre-live the steps do not run, but a scoring: section still applies; a
    // missing config then simply means the reference formula.
    let load = !args.skip_pre_live || std::fs::symlink_metadata(&args.config).is_ok();
    if load && crate::config_file::is_absent(&args.config) {
        let what = if args.config == Path::new(crate::cli::DEFAULT_MAKE_READY_CONFIG) {
            "default config"
        } else {
            "config"
        };
        return Err(crate::config_file::missing_default(what, &args.config, Some("--config FILE")));
    }
    let config = if load {
        Some(config::load(&args.config, context.now).with_context(|| {
            format!("invalid make-ready config {} (choose another with --config)", args.config.display())
        })?)
    } else {
        None
    };
    let scoring = config.as_ref().and_then(|config| config.scoring.clone());
    if sign_off.is_some() && scoring.is_none() {
        bail!(
            "--sign-off accepts a MARGINAL verdict, which needs a scoring: section with marginal_at in {}",
            args.config.display()
        );
    }
    let stages = config.as_ref().map(|config| config.stages.clone()).unwrap_or_default();
    // The canary reads the policy and alert rules the rollback-vs-alerts step checks.
    let (alerts_path, policy_path) = config
        .as_ref()
        .and_then(|config| {
            config.steps.iter().find_map(|step| match &step.action {
                config::Action::RollbackVsAlerts { alerts, policy } => Some((alerts.clone(), policy.clone())),
                _ => None,
            })
        })
        .unwrap_or_else(|| (config::DEFAULT_ALERTS.into(), config::DEFAULT_POLICY.into()));
    let steps = if args.skip_pre_live { None } else { config.map(|config| config.steps) };
    if crate::config_file::is_absent(Path::new("VERSION")) {
        return Err(crate::config_file::missing_default("version file", Path::new("VERSION"), None));
    }
    let version = limits::read_version_file(Path::new("VERSION"))
        .context("cannot read VERSION (runtime.version comes from it)")?;
    // No soak reports folder is a wrong folder or a typo, not "no evidence" (score 60).
    if crate::config_file::is_absent(&args.reports_dir) {
        return Err(crate::config_file::missing_default(
            "reports folder",
            &args.reports_dir,
            Some("--reports-dir DIR holding the REPORT_SOAK_*.json soak reports"),
        ));
    }
    if version.is_empty() || version.contains(char::is_whitespace) {
        bail!(
            "VERSION must hold one version such as 1.4.0, found \"{}\"",
            crate::sanitize::excerpt(&version, 40)
        );
    }
    let jobs = match args.jobs {
        Some(jobs) => jobs as usize,
        None => crate::stats::available_cores(),
    };
    let baseline = match (&args.baseline, &args.baseline_tag) {
        (Some(path), _) => Some(baseline::from_file(path)?),
        (None, Some(tag)) => Some(baseline::from_tag(tag)?),
        (None, None) => None,
    };
    let drop_rules = scoring.as_ref().is_some_and(|scoring| {
        scoring.max_drop.is_some() || scoring.section_max_drop.iter().any(Option::is_some)
    });
    if drop_rules && baseline.is_none() {
        context.printer.warn(format!(
            "{} sets max_drop but no --baseline or --baseline-tag was given: nothing to compare with",
            args.config.display()
        ));
    }
    let tag = if args.tag_rc {
        Some(release::plan(&version, stages, &alerts_path, &policy_path, args.dry_run)?)
    } else {
        None
    };
    Ok(Plan { steps, scoring, sign_off, jobs, version, baseline, tag })
}

/// The readiness document about to be written and the detail shown with it.
struct Scored {
    document: ReadinessDoc,
    detail: ReadinessDetail,
    /// HOLD for a reason outside the score (stale or incomplete evidence).
    forced_hold: bool,
}

fn score_readiness(args: &MakeReadyArgs, plan: &Plan, context: &Context) -> Result<Scored> {
    let version = plan.version.as_str();
    let evidence = reports::load(&args.reports_dir)?;
    for unusable in &evidence.unusable {
        context.printer.warn(format!(
            "soak report {} (counted as absent)",
            crate::sanitize::display_text(unusable, false)
        ));
    }
    for undated in &evidence.undated {
        context.printer.warn(format!(
            "soak report {} (its time does not count as fresh evidence)",
            crate::sanitize::display_text(undated, false)
        ));
    }
    // GO must rest on measurements, not on the formula's defaults for missing fields.
    let mut hold_reasons = readiness::evidence_gaps(&evidence.days, &evidence.usable);
    // No report at all is not evidence of anything: the formula's floor (60) must never be GO,
    // whatever --min-score says.
    if evidence.considered.is_empty() {
        hold_reasons.insert(
            0,
            format!("no soak reports: {} holds no REPORT_SOAK_*.json", display_path(&args.reports_dir)),
        );
    }
    let mut forced_hold = !hold_reasons.is_empty();
    if let Some(limit) = args.max_evidence_age {
        let limit_text = crate::units::format_duration(limit);
        match &evidence.newest {
            None => {
                forced_hold = true;
                hold_reasons.push(format!("stale evidence: no usable soak report (limit {limit_text})"));
            }
            // A time beyond tomorrow cannot be a finished soak day: a clock or mtime gone wrong
            // (year 262,000 on tmpfs) must not pass for the freshest evidence there is.
            Some((made, name)) if *made > context.now + chrono::TimeDelta::days(1) => {
                forced_hold = true;
                hold_reasons.push(format!(
                    "stale evidence: newest soak report {name} is dated in the future ({}); fix its date",
                    crate::clock::format_utc(*made)
                ));
            }
            Some((made, name)) => {
                let age = (context.now - *made).to_std().unwrap_or_default();
                if age > limit {
                    forced_hold = true;
                    hold_reasons.push(format!(
                        "stale evidence: newest soak report {name} is {} old (limit {limit_text})",
                        crate::units::format_duration(age)
                    ));
                }
            }
        }
    }
    let utc = crate::clock::format_utc(context.now);
    let record = plan.scoring.as_ref().map(|scoring| readiness::record(scoring, args.min_score));
    let judge = |reasons: Vec<String>| {
        readiness::judge(
            &evidence.days,
            reasons,
            record.clone(),
            args.min_score,
            plan.sign_off.clone(),
            &utc,
            version,
        )
    };
    let mut judged = judge(hold_reasons.clone());
    let comparison = plan
        .baseline
        .as_ref()
        .map(|baseline| baseline::compare(baseline, &judged.document, plan.scoring.as_ref()));
    if let Some(comparison) = comparison.as_ref().filter(|comparison| !comparison.drops.is_empty()) {
        // A release that got worse by more than max_drop is BLOCKED, whatever its score.
        forced_hold = true;
        hold_reasons.extend(comparison.drops.iter().cloned());
        judged = judge(hold_reasons);
    }
    if let (Some(_), None) = (&plan.sign_off, &judged.sign_off) {
        context.printer.warn(format!(
            "--sign-off not recorded: the verdict is {}, not MARGINAL",
            judged.document.verdict.label()
        ));
    }
    let readiness::Judged { document, hold_reasons, sign_off } = judged;
    let score = document.score;
    let detail = ReadinessDetail {
        status: document.verdict.label(),
        sign_off,
        score,
        min_score: args.min_score,
        file: display_path(&args.out_json),
        reports: evidence.considered,
        unusable_reports: evidence.unusable,
        hold_reasons,
        validation_errors: Vec::new(),
        baseline: comparison,
    };
    Ok(Scored { document, detail, forced_hold })
}

/// `readiness.json` → `readiness.md`.
fn markdown_twin(path: &Path) -> PathBuf {
    path.with_extension("md")
}

fn validate_file(path: &Path, min_score: f64, context: &Context) -> Result<Verdict> {
    let bytes = limits::read_limited(path, limits::READINESS_MAX, "readiness JSON")?;
    let (document, errors) = readiness::validate(&bytes, VerdictRule { min_score, hold_allowed: false });
    let signed_off = document.as_ref().and_then(|document| document.sign_off.clone());
    let verdict = document.map(|document| document.verdict.label().to_string());
    context.printer.emit(&ValidateReport { file: display_path(path), verdict, signed_off, errors })
}

/// Parses a make-ready config; the fuzz target's way in.
pub(crate) fn fuzz_config(path: &std::path::Path) {
    let now = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
    let _ = config::load(path, now);
}

/// Reads a folder of soak reports and scores them; the fuzz target's way in.
pub(crate) fn fuzz_reports(dir: &std::path::Path) {
    if let Ok(evidence) = reports::load(dir) {
        let _ = readiness::judge(&evidence.days, Vec::new(), None, 100.0, None, "", "");
        let _ = readiness::evidence_gaps(&evidence.days, &evidence.usable);
    }
}
