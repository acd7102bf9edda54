//! `mmops edge-sim`: replay an edge-metrics series through the edge sentinel's profile rules,
//! tune them with `--sweep`, chart them with `--plot`, or apply one window live for the bot.
//!
//! Layout: [`rules`] is the pure state machine, [`simulate`] groups samples into windows,
//! [`ema`] averages raw samples, [`input`] streams CSV / JSON Lines, [`config`] turns the config
//! file and sweep settings into checked rules. [`timeline`], [`plot`], [`state`] and [`sweep`]
//! are the parts that write files or spread work over threads.

mod config;
mod ema;
mod input;
mod lock;
mod metrics;
mod pins;
mod plot;
mod rules;
mod simulate;
mod state;
mod sweep;
mod timeline;
mod transitions;

use std::io::{self, Write};
use std::path::Path;

use anyhow::{Context as _, Result};
use serde::Serialize;

use crate::atomic_write::AtomicFile;
use crate::cli::EdgeSimArgs;
use crate::context::Context;
use crate::outcome::{Partial, Verdict};
use crate::output::{Marker, Report, Style};
use crate::sanitize::display_path;

use crate::clock::format_micros;
use config::ConfigFile;
use input::{InputFormat, SeriesKind};
use rules::{Change, Profile, Rules};
use simulate::{Simulation, WindowOutcome};
use transitions::{StoredChange, TransitionLog};

const TOOL: &str = "edge_sim";
const MARKER_KEY: &str = "EDGE_PROFILE";

pub fn run(args: &EdgeSimArgs, context: &Context) -> Result<Verdict> {
    let (config, origin) = ConfigFile::load(args.config.as_deref())?;
    let rules = config.rules(&origin)?;
    if let Some(state_path) = &args.state {
        let action = state::LiveAction::from_args(args)?;
        let prom_file = args
            .prom_file
            .as_deref()
            .map(|path| crate::prometheus::PromFile::create_apart(path, &[("--state", state_path)]))
            .transpose()?;
        let report = state::run_live(&rules, state_path, &action, context.now)?;
        // clap allows --prom-file only with a plain step (not --shadow, --pin or --unpin).
        if let (Some(file), state::LiveAction::Step(step)) = (prom_file, &action) {
            let done = format!("applied the window to {}", display_path(state_path));
            let exposition =
                metrics::live_exposition(&rules, step, &report, context.now).map_err(|error| {
                    error.context(crate::outcome::Partial(format!(
                        "{done}, but the Prometheus file was not updated"
                    )))
                })?;
            file.commit_after(&exposition, &done)?;
        }
        return context.printer.emit(&report);
    }
    let input_path = args.input.as_ref().context("--input FILE is required (or --state for a live step)")?;
    if !args.sweeps.is_empty() {
        let plan = sweep::SweepPlan::new(&config, &origin, &args.sweeps)?;
        let report = sweep::run(&plan, input_path)?;
        return context.printer.emit(&report);
    }
    let inputs: Vec<(&str, &Path)> = [
        Some(("the input file", input_path.as_path())),
        args.config.as_deref().map(|config| ("the --config file", config)),
        args.pins.as_deref().map(|pins| ("the --pins file", pins)),
    ]
    .into_iter()
    .flatten()
    .collect();
    refuse_overwriting_the_input(&inputs, args.timeline.as_deref(), args.plot.as_deref())?;
    let pins = args.pins.as_deref().map(|path| pins::load(path, &rules)).transpose()?.unwrap_or_default();
    let report =
        simulate_file(&rules, &origin, input_path, &pins, args.timeline.as_deref(), args.plot.as_deref())?;
    context.printer.emit(&report)
}

/// `--timeline` and `--plot` replace their files; pointing one at an input — the series, the
/// `--config` (replaced by the timeline with exit 0) or the `--pins` file — or both at the same
/// file would silently destroy data, so it is refused before anything is read.
fn refuse_overwriting_the_input(
    inputs: &[(&str, &Path)],
    timeline: Option<&Path>,
    plot: Option<&Path>,
) -> Result<()> {
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => crate::atomic_write::same_destination(a, b),
    };
    for (flag, output) in [("--timeline", timeline), ("--plot", plot)] {
        let Some(output) = output else { continue };
        for &(what, input) in inputs {
            if input != Path::new("-") && same(input, output) {
                anyhow::bail!("{flag} {} is {what}; choose another output path", display_path(output));
            }
        }
    }
    let outputs: Vec<(&str, &Path)> = [("--timeline", timeline), ("--plot", plot)]
        .into_iter()
        .filter_map(|(flag, path)| Some((flag, path?)))
        .collect();
    crate::atomic_write::refuse_shared_outputs(&outputs)
}

/// The plain replay: one pass over the input, optional timeline and chart.
fn simulate_file(
    rules: &Rules,
    origin: &str,
    input_path: &Path,
    pins: &[pins::Pin],
    timeline_path: Option<&Path>,
    plot_path: Option<&Path>,
) -> Result<SimulationReport> {
    let (source, input_name, format) = input::open(input_path)?;
    // Every output gets its temporary file before anything is read, so a bad --plot path fails
    // before the timeline exists; both are put in place only at the end.
    let mut timeline = timeline_path.map(|path| timeline::TimelineWriter::create(path, rules)).transpose()?;
    let mut chart = plot_path
        .map(|path| {
            AtomicFile::create(path)
                .with_context(|| format!("cannot create the chart {}", display_path(path)))
                .map(|file| (file, plot::ChartRecorder::new()))
        })
        .transpose()?;
    let mut simulation = Simulation::with_pins(rules, pins);
    let mut transitions = TransitionLog::new(rules);
    let mut first_close = None;
    let mut last_close = None;
    let mut write_error: Option<anyhow::Error> = None;
    let mut on_window = |window: &WindowOutcome| {
        first_close.get_or_insert(window.close);
        last_close = Some(window.close);
        if let Some(change) = window.change
            && write_error.is_none()
            && let Err(error) = transitions.push(StoredChange::of(window, change))
        {
            write_error = Some(error);
        }
        if let Some(writer) = timeline.as_mut()
            && write_error.is_none()
            && let Err(error) = writer.row(rules, window)
        {
            write_error = Some(error);
        }
        if let Some((_, recorder)) = chart.as_mut() {
            recorder.record(window);
        }
    };
    let info = input::read_series(source, &input_name, format, |batch| {
        for sample in batch {
            simulation.feed(sample, &mut on_window);
        }
        Ok(())
    })?;
    simulation.finish(&mut on_window);
    if let Some(error) = write_error {
        return Err(error);
    }
    transitions.finish()?;
    let chart = match (chart, plot_path) {
        (Some((mut file, recorder)), Some(path)) => {
            let machine = simulation.machine;
            let title = format!(
                "Edge sentinel replay of {input_name}: {} windows of {}, {} profile changes, final {}",
                machine.windows_seen,
                rules.window_label(),
                machine.policy_applied_count,
                rules.profiles[machine.profile].name
            );
            let svg = plot::render(&recorder, rules, &transitions, &title)?;
            file.write_all(svg.as_bytes())
                .with_context(|| format!("cannot write the chart {}", display_path(path)))?;
            Some(file)
        }
        _ => None,
    };
    let timeline = timeline.map(timeline::TimelineWriter::finish).transpose()?;
    commit_all([timeline, chart].into_iter().flatten())?;

    let machine = simulation.machine;
    let windows_seen = machine.windows_seen;
    let time_share = rules
        .profiles
        .iter()
        .zip(&simulation.windows_per_profile)
        .map(|(profile, &windows)| ProfileShare {
            profile: profile.name.clone(),
            windows,
            share: if windows_seen == 0 { 0.0 } else { round6(windows as f64 / windows_seen as f64) },
        })
        .collect();
    let final_profile = rules.profiles[machine.profile].clone();
    Ok(SimulationReport {
        input: input_name,
        config: origin.to_string(),
        format: info.format,
        series: info.kind,
        rows: info.rows,
        window: rules.window_label(),
        windows_seen,
        first_window: first_close.map(format_micros),
        last_window: last_close.map(format_micros),
        gaps: machine.gaps,
        missing_windows: machine.missing_windows,
        policy_applied_count: machine.policy_applied_count,
        time_share,
        final_profile: final_profile.name.clone(),
        final_profile_config: final_profile,
        transitions,
        timeline: timeline_path.map(display_path),
        plot: plot_path.map(display_path),
    })
}

/// Puts finished outputs in place, in order. Once one is committed a failure can no longer mean
/// "nothing changed": it is reported as [`Partial`] (exit 1) naming what was written.
fn commit_all(files: impl IntoIterator<Item = AtomicFile>) -> Result<()> {
    let mut committed: Vec<String> = Vec::new();
    for file in files {
        let name = display_path(file.path());
        if let Err(error) = file.commit() {
            if committed.is_empty() {
                return Err(error);
            }
            return Err(anyhow::Error::new(Partial(format!(
                "PARTIAL: {} written, but {name} could not be: {}",
                committed.join(" and "),
                crate::output::error_line(&error)
            ))));
        }
        committed.push(name);
    }
    Ok(())
}

use crate::stats::round6;
use crate::units::count_noun as count;

/// One applied profile change, as printed and as in `--format json`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Transition {
    /// The close of the window that caused it.
    pub ts: String,
    #[serde(skip)]
    pub ts_micros: i64,
    /// Position of that window among the windows seen (0-based).
    pub window_index: u64,
    pub from: String,
    pub to: String,
    pub reason: String,
    pub ema1h: f64,
    pub ema24h: f64,
    pub profile: Profile,
    /// The rule that fired; only in outputs of rules with an anti-flap rule, or for a pin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<&'static str>,
}

impl Transition {
    fn new(rules: &Rules, window: &WindowOutcome, change: Change) -> Transition {
        Transition::from_stored(rules, &StoredChange::of(window, change))
    }

    fn from_stored(rules: &Rules, stored: &StoredChange) -> Transition {
        let change = stored.change;
        Transition {
            ts: format_micros(stored.close),
            ts_micros: stored.close,
            window_index: stored.position,
            from: rules.profiles[change.from].name.clone(),
            to: rules.profiles[change.to].name.clone(),
            reason: change.reason.describe(&rules.window_label()),
            ema1h: stored.ema1h,
            ema24h: stored.ema24h,
            profile: rules.profiles[change.to].clone(),
            rule: (rules.extended() || matches!(change.reason, rules::Reason::Pinned { .. }))
                .then(|| change.reason.rule()),
        }
    }

    /// `2025-10-11T14:30:00Z EDGE_POLICY_APPLIED Moderate -> Conservative (…) spread_multiplier=…`
    pub(crate) fn log_line(&self, style: &Style) -> String {
        let rule = self.rule.map(|rule| format!(" rule={rule}")).unwrap_or_default();
        format!(
            "{} {} {} -> {} ({}) {}{rule}",
            self.ts,
            style.bold("EDGE_POLICY_APPLIED"),
            self.from,
            self.to,
            self.reason,
            self.profile.settings()
        )
    }
}

#[derive(Debug, Serialize)]
struct ProfileShare {
    profile: String,
    windows: u64,
    /// Fraction of the windows seen that ended in this profile (6 decimals).
    share: f64,
}

#[derive(Debug, Serialize)]
struct SimulationReport {
    input: String,
    config: String,
    format: InputFormat,
    series: SeriesKind,
    rows: u64,
    window: String,
    windows_seen: u64,
    first_window: Option<String>,
    last_window: Option<String>,
    gaps: u64,
    missing_windows: u64,
    policy_applied_count: u64,
    time_share: Vec<ProfileShare>,
    final_profile: String,
    final_profile_config: Profile,
    transitions: TransitionLog,
    timeline: Option<String>,
    plot: Option<String>,
}

impl Report for SimulationReport {
    fn marker(&self) -> Marker {
        Marker::new(TOOL, Verdict::Pass, MARKER_KEY, self.final_profile.clone())
    }

    /// The transitions are read back from their scratch file while the document is written: a
    /// replay that switches half a million times would otherwise build a gigabyte of JSON values.
    fn streams_json(&self) -> bool {
        true
    }

    fn write_text(&self, out: &mut dyn Write, style: &Style) -> io::Result<()> {
        self.transitions.each(|transition| Ok(writeln!(out, "{}", transition.log_line(style))?)).map_err(
            |error| match error.downcast::<io::Error>() {
                Ok(error) => error,
                Err(error) => io::Error::other(crate::output::error_line(&error)),
            },
        )?;
        if !self.transitions.is_empty() {
            writeln!(out)?;
        }
        let series = match self.series {
            SeriesKind::Emas => "pre-computed EMAs",
            SeriesKind::RawSamples => "raw edge samples, averaged",
        };
        writeln!(out, "{:<22} {} ({}, {series})", "input", self.input, count(self.rows, "row"))?;
        let span = match (&self.first_window, &self.last_window) {
            (Some(first), Some(last)) => format!(", closing {first} .. {last}"),
            _ => String::new(),
        };
        writeln!(out, "{:<22} {} of {}{span}", "windows seen", self.windows_seen, self.window)?;
        let gaps = format!("{} ({} missing)", self.gaps, count(self.missing_windows, "window"));
        let gaps = if self.gaps > 0 { style.warning(&gaps) } else { gaps };
        writeln!(out, "{:<22} {gaps}", "gaps")?;
        writeln!(out, "{:<22} {}", "policy_applied_count", self.policy_applied_count)?;
        let shares: Vec<String> = self
            .time_share
            .iter()
            .map(|share| {
                format!("{} {:.1}% ({})", share.profile, share.share * 100.0, count(share.windows, "window"))
            })
            .collect();
        writeln!(out, "{:<22} {}", "time share", shares.join(", "))?;
        writeln!(
            out,
            "{:<22} {} ({})",
            "final profile",
            style.bold(&self.final_profile),
            self.final_profile_config.settings()
        )?;
        if let Some(path) = &self.timeline {
            writeln!(out, "{:<22} {path}", "timeline")?;
        }
        if let Some(path) = &self.plot {
            writeln!(out, "{:<22} {path}", "chart")?;
        }
        Ok(())
    }
}

/// Parses an edge config and builds its rules; the fuzz target's way in.
pub(crate) fn fuzz_config(path: &std::path::Path) {
    if let Ok((config, origin)) = config::ConfigFile::load(Some(path)) {
        let _ = config.rules(&origin);
    }
}

/// Reads a metrics series in every format; the fuzz target's way in.
pub(crate) fn fuzz_input(data: &[u8]) {
    for format in [None, Some(input::InputFormat::Csv), Some(input::InputFormat::JsonLines)] {
        let _ = input::read_series(data, "fuzz", format, |_| Ok(()));
    }
}
