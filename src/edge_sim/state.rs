//! The bot's live step: `--state FILE --ts T --ema1h X --ema24h Y` applies one window to a small
//! JSON state file and writes it back atomically.
//!
//! The file keeps the state after the last window *and* the state before it, so a window sent
//! twice (a retry, or several rows in one window) replaces the earlier send instead of counting
//! twice — the same "last row of a window counts" rule as the batch replay, which is why a
//! series applied window by window ends exactly where `edge-sim --input` ends. A window older
//! than the last one, or a state file that does not parse or does not fit the rules, is refused
//! (exit 2) and the file is left as it was. Concurrent steps take turns through [`StateLock`].

use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::lock::StateLock;
use super::rules::{Machine, Profile, Rules};
use super::simulate::WindowOutcome;
use super::{MARKER_KEY, TOOL, Transition};
use crate::cli::EdgeSimArgs;
use crate::clock::{format_micros, parse_timestamp};
use crate::outcome::Verdict;
use crate::output::{Marker, Report, Style};
use crate::sanitize::display_path;

const FORMAT_TAG: &str = "mmops-edge-sim-state/1";

/// The window the bot reports.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LiveStep {
    pub ts: i64,
    pub ema1h: f64,
    pub ema24h: f64,
    /// How long to wait for another step holding the state's lock.
    pub lock_wait: Duration,
}

impl LiveStep {
    pub(crate) fn from_args(args: &EdgeSimArgs) -> Result<LiveStep> {
        let text = args.ts.as_deref().context("--ts is required with --state")?;
        let ts = parse_timestamp(text.trim().as_bytes()).ok_or_else(|| {
            anyhow!("--ts {text:?} is not a timestamp; use RFC 3339 (2025-10-11T14:30:00Z) or Unix seconds")
        })?;
        let finite = |flag: &str, value: Option<f64>| -> Result<f64> {
            match value {
                Some(number) if number.is_finite() => Ok(number),
                Some(number) => bail!("{flag} {number} is not a finite number"),
                None => bail!("{flag} is required with --state"),
            }
        };
        Ok(LiveStep {
            ts,
            ema1h: finite("--ema1h", args.ema1h)?,
            ema24h: finite("--ema24h", args.ema24h)?,
            lock_wait: args.lock_wait,
        })
    }
}

/// The state file as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    format: String,
    window_seconds: i64,
    /// After the last window: what the bot runs with now.
    current: Snapshot,
    /// The last window as sent.
    last_input: Option<LastInput>,
    /// Before the last window, to replay it if it is sent again.
    before_last_window: Option<Snapshot>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Snapshot {
    profile: String,
    streak: u32,
    recovery_streak: u32,
    /// The close of the last window applied.
    last_window: Option<String>,
    policy_applied_count: u64,
    windows_seen: u64,
    gaps: u64,
    missing_windows: u64,
    // Written only when the rules use them, so a state under the default rules keeps its bytes.
    /// `min_dwell`: the close of the window the profile came into force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    entered_window: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    backoff_level: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    backoff_anchor: Option<String>,
    /// An operator's `--pin`: the profile is held until this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pinned_until: Option<String>,
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LastInput {
    ts: String,
    ema1h: f64,
    ema24h: f64,
}

impl Snapshot {
    fn of(rules: &Rules, machine: &Machine) -> Snapshot {
        Snapshot {
            profile: rules.profiles[machine.profile].name.clone(),
            streak: machine.streak,
            recovery_streak: machine.recovery_streak,
            last_window: machine.last_window.map(|index| format_micros(rules.close_of(index))),
            policy_applied_count: machine.policy_applied_count,
            windows_seen: machine.windows_seen,
            gaps: machine.gaps,
            missing_windows: machine.missing_windows,
            entered_window: machine.entered_window.map(|index| format_micros(rules.close_of(index))),
            backoff_level: machine.backoff_level,
            backoff_anchor: machine.backoff_anchor.map(|index| format_micros(rules.close_of(index))),
            pinned_until: machine.pinned_until.map(format_micros),
        }
    }

    fn machine(&self, rules: &Rules) -> Result<Machine, String> {
        let profile = rules.profile_index(&self.profile).ok_or_else(|| {
            format!("its profile {:?} is not in the ladder of the rules in use", self.profile)
        })?;
        let window_field = |field: &str, value: &Option<String>| -> Result<Option<i64>, String> {
            let Some(text) = value else { return Ok(None) };
            let close = parse_timestamp(text.as_bytes())
                .ok_or_else(|| format!("{field} {text:?} is not a timestamp"))?;
            if close.rem_euclid(rules.window_micros) != 0 {
                return Err(format!("{field} {text} is not a window close"));
            }
            Ok(Some(close.div_euclid(rules.window_micros)))
        };
        let last_window = window_field("last_window", &self.last_window)?;
        let entered_window = window_field("entered_window", &self.entered_window)?;
        let backoff_anchor = window_field("backoff_anchor", &self.backoff_anchor)?;
        let pinned_until = match &self.pinned_until {
            None => None,
            Some(text) => Some(
                parse_timestamp(text.as_bytes())
                    .ok_or_else(|| format!("pinned_until {text:?} is not a timestamp"))?,
            ),
        };
        Ok(Machine {
            profile,
            streak: self.streak,
            recovery_streak: self.recovery_streak,
            last_window,
            windows_seen: self.windows_seen,
            gaps: self.gaps,
            missing_windows: self.missing_windows,
            policy_applied_count: self.policy_applied_count,
            entered_window,
            backoff_level: self.backoff_level,
            backoff_anchor,
            pinned_until,
        })
    }
}

/// What a loaded state file says, checked against the rules.
struct Loaded {
    current: Machine,
    before_last_window: Option<Machine>,
}

fn load(path: &Path, rules: &Rules) -> Result<Option<Loaded>> {
    let name = display_path(path);
    let bytes = match crate::limits::read_limited(path, crate::limits::STATE_MAX, "state file") {
        Ok(bytes) => bytes,
        Err(error)
            if error
                .root_cause()
                .downcast_ref::<io::Error>()
                .is_some_and(|error| error.kind() == io::ErrorKind::NotFound) =>
        {
            return Ok(None);
        }
        Err(error) => return Err(error),
    };
    let corrupt = |why: String| {
        anyhow!(
            "the state file {name} is corrupt ({why}); it was left untouched — restore it, or delete it \
             to start again from the start profile"
        )
    };
    let state: StateFile = serde_json::from_slice(&bytes).map_err(|error| corrupt(error.to_string()))?;
    if state.format != FORMAT_TAG {
        return Err(corrupt(format!("format {:?}, expected {FORMAT_TAG:?}", state.format)));
    }
    let window_seconds = rules.window_micros / 1_000_000;
    if state.window_seconds != window_seconds {
        bail!(
            "the state file {name} was written with {}s windows but the rules use {}s windows; it was left \
             untouched — use the same --config, or delete the state file to start again",
            state.window_seconds,
            window_seconds
        );
    }
    let known: Vec<&str> = rules.profiles.iter().map(|profile| profile.name.as_str()).collect();
    for snapshot in [Some(&state.current), state.before_last_window.as_ref()].into_iter().flatten() {
        if !known.contains(&snapshot.profile.as_str()) {
            bail!(
                "the state file {name} names the profile {:?}, which the rules in use do not have ({}); it was \
                 left untouched — use the same --config, or delete the state file to start again",
                snapshot.profile,
                known.join(", ")
            );
        }
    }
    let current = state.current.machine(rules).map_err(corrupt)?;
    let before_last_window =
        state.before_last_window.map(|snapshot| snapshot.machine(rules)).transpose().map_err(corrupt)?;
    if current.last_window.is_some() && before_last_window.is_none() {
        return Err(corrupt("it has a last window but no before_last_window".into()));
    }
    Ok(Some(Loaded { current, before_last_window }))
}

/// The state a window applies to, and whether it replaces the last window (sent again). Refuses
/// (with the last window) a window older than the last one.
fn base_for(loaded: Option<&Loaded>, rules: &Rules, window: i64) -> Result<(Machine, bool), i64> {
    let Some(loaded) = loaded else { return Ok((Machine::new(rules), false)) };
    match (loaded.current.last_window, loaded.before_last_window) {
        (Some(last), _) if window < last => Err(last),
        // The same window again: replay it from the state before it (the last send counts).
        (Some(last), Some(before)) if window == last => Ok((before, true)),
        _ => Ok((loaded.current, false)),
    }
}

/// Applies one window, writes the state, and returns what to print. The whole read-modify-write
/// runs under the state's lock, so concurrent steps queue instead of losing a window.
pub(crate) fn run_live_step(
    rules: &Rules,
    path: &Path,
    step: &LiveStep,
    now: DateTime<Utc>,
) -> Result<LiveReport> {
    let name = display_path(path);
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create the folder of the state file {name}"))?;
    }
    // Refused before the lock file is made beside it (`--state /dev/zero` must not create
    // /dev/zero.lock); the read under the lock checks again.
    if let Ok(metadata) = std::fs::metadata(path)
        && !metadata.is_file()
    {
        bail!(
            "{name}: the state file is {}, not a regular file; point --state at a file edge-sim may replace",
            crate::limits::describe_kind(&metadata.file_type())
        );
    }
    let holder = format!("pid {} since {}", std::process::id(), crate::clock::format_utc(now));
    let _lock = StateLock::acquire(path, step.lock_wait, &holder)?;
    let loaded = load(path, rules)?;
    let window = rules.window_of(step.ts);
    let (base, replaced_window) = base_for(loaded.as_ref(), rules, window).map_err(|last| {
        anyhow!(
            "--ts {} falls in the window closing {}, older than the state's last window {}; refused, \
             {name} is unchanged (windows must be sent in time order)",
            format_micros(step.ts),
            format_micros(rules.close_of(window)),
            format_micros(rules.close_of(last))
        )
    })?;
    let mut machine = base;
    let decision = machine.decide(rules, window, step.ema1h, step.ema24h).map_err(|refused| {
        anyhow!("window {} is not after {}; {name} is unchanged", refused.window, refused.last)
    })?;
    let state = StateFile {
        format: FORMAT_TAG.to_string(),
        window_seconds: rules.window_micros / 1_000_000,
        current: Snapshot::of(rules, &machine),
        last_input: Some(LastInput { ts: format_micros(step.ts), ema1h: step.ema1h, ema24h: step.ema24h }),
        before_last_window: Some(Snapshot::of(rules, &base)),
    };
    let mut bytes = serde_json::to_vec_pretty(&state)?;
    bytes.push(b'\n');
    crate::atomic_write::write_atomically(path, &bytes)
        .with_context(|| format!("cannot write the state file {name}"))?;

    let outcome = WindowOutcome {
        position: base.windows_seen,
        close: rules.close_of(window),
        ema1h: step.ema1h,
        ema24h: step.ema24h,
        machine,
        change: decision.change,
        held: decision.held,
    };
    let change = decision.change;
    let step_rules = rules.steps[machine.profile];
    Ok(LiveReport {
        state: name,
        window: format_micros(outcome.close),
        ema1h: step.ema1h,
        ema24h: step.ema24h,
        profile: rules.profiles[machine.profile].clone(),
        changed: change.is_some(),
        transition: change.map(|change| Transition::new(rules, &outcome, change)),
        replaced_window,
        streak: machine.streak,
        streak_needed: (machine.profile + 1 < rules.profiles.len()).then_some(step_rules.consecutive_windows),
        recovery_streak: machine.recovery_streak,
        recovery_streak_needed: (machine.profile > rules.start).then_some(step_rules.recovery_windows),
        policy_applied_count: machine.policy_applied_count,
        windows_seen: machine.windows_seen,
        gaps: machine.gaps,
    })
}

/// The live step's output: the profile to run with, and the change if there was one.
#[derive(Debug, Serialize)]
pub(crate) struct LiveReport {
    state: String,
    /// The close of the window just applied.
    window: String,
    ema1h: f64,
    ema24h: f64,
    profile: Profile,
    changed: bool,
    transition: Option<Transition>,
    /// The window had been applied before; this send replaced it.
    replaced_window: bool,
    streak: u32,
    /// Windows needed to degrade from here; `None` at the conservative end of the ladder.
    streak_needed: Option<u32>,
    recovery_streak: u32,
    /// Windows needed to recover from here; `None` at the start profile.
    recovery_streak_needed: Option<u32>,
    policy_applied_count: u64,
    windows_seen: u64,
    gaps: u64,
}

impl Report for LiveReport {
    fn marker(&self) -> Marker {
        Marker::new(TOOL, Verdict::Pass, MARKER_KEY, self.profile.name.clone())
    }

    fn write_text(&self, out: &mut dyn Write, style: &Style) -> io::Result<()> {
        if let Some(transition) = &self.transition {
            writeln!(out, "{}", transition.log_line(style))?;
        }
        writeln!(out, "profile {} {}", style.bold(&self.profile.name), self.profile.settings())?;
        let replaced = if self.replaced_window { " (replaces the earlier send of this window)" } else { "" };
        let mut parts = Vec::new();
        if let Some(needed) = self.streak_needed {
            parts.push(format!("streak {}/{needed}", self.streak));
        }
        if let Some(needed) = self.recovery_streak_needed {
            parts.push(format!("recovery streak {}/{needed}", self.recovery_streak));
        }
        parts.push(format!("policy_applied_count {}", self.policy_applied_count));
        writeln!(out, "window {}{replaced}: {}", self.window, parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge_sim::rules::tests::default_rules;
    use proptest::prelude::*;

    proptest! {
        /// Sent one by one (with resends of the same window and gaps), windows end in exactly
        /// the state the batch replay reaches with "last row of a window counts".
        #[test]
        fn live_steps_equal_the_batch_replay(
            sends in proptest::collection::vec((0i64..3, -2.0f64..2.0, 0.0f64..3.0), 1..80)
        ) {
            let rules = default_rules();
            // Live: base_for + apply, keeping (current, before) as the state file does.
            let mut loaded: Option<Loaded> = None;
            let mut window = 100;
            let mut batch_windows: Vec<(i64, f64, f64)> = Vec::new();
            for (step, ema1h, ema24h) in sends {
                window += step; // 0 = the same window again
                let (base, replaced) = base_for(loaded.as_ref(), &rules, window).unwrap();
                prop_assert_eq!(replaced, batch_windows.last().is_some_and(|last| last.0 == window));
                let mut machine = base;
                machine.apply(&rules, window, ema1h, ema24h).unwrap();
                // The snapshot written to disk reads back as the same machine.
                prop_assert_eq!(Snapshot::of(&rules, &machine).machine(&rules).unwrap(), machine);
                loaded = Some(Loaded { current: machine, before_last_window: Some(base) });
                match batch_windows.last_mut() {
                    Some(last) if last.0 == window => *last = (window, ema1h, ema24h),
                    _ => batch_windows.push((window, ema1h, ema24h)),
                }
            }
            let mut batch = Machine::new(&rules);
            for (window, ema1h, ema24h) in batch_windows {
                batch.apply(&rules, window, ema1h, ema24h).unwrap();
            }
            prop_assert_eq!(loaded.unwrap().current, batch);
        }
    }

    #[test]
    fn older_windows_are_refused() {
        let rules = default_rules();
        let mut current = Machine::new(&rules);
        current.apply(&rules, 10, 0.0, 0.0).unwrap();
        let loaded = Loaded { current, before_last_window: Some(Machine::new(&rules)) };
        assert_eq!(base_for(Some(&loaded), &rules, 9), Err(10));
        assert_eq!(base_for(Some(&loaded), &rules, 10), Ok((Machine::new(&rules), true)));
        assert_eq!(base_for(Some(&loaded), &rules, 11), Ok((current, false)));
    }
}
