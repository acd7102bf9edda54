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
use super::rules::{Change, Machine, Profile, Reason, Rules};
use super::simulate::WindowOutcome;
use super::{MARKER_KEY, TOOL, Transition};
use crate::cli::EdgeSimArgs;
use crate::clock::{format_micros, parse_timestamp};
use crate::outcome::Verdict;
use crate::output::{Marker, Report, Style};
use crate::sanitize::{display_path, display_text};

const FORMAT_TAG: &str = "mmops-edge-sim-state/1";

/// The window the bot reports.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LiveStep {
    pub ts: i64,
    pub ema1h: f64,
    pub ema24h: f64,
    /// How long to wait for another step holding the state's lock.
    pub lock_wait: Duration,
    /// `--shadow`: compute and report, save nothing.
    pub shadow: bool,
}

/// What one `--state` run does: a window, or an operator's pin or unpin.
#[derive(Debug, Clone)]
pub(crate) enum LiveAction {
    Step(LiveStep),
    Pin { profile: String, until: i64, reason: String, by: String, lock_wait: Duration },
    Unpin { reason: String, by: String, lock_wait: Duration },
}

/// Longest `--reason` kept in the audit log.
const MAX_REASON_CHARS: usize = 500;
/// Audit entries kept in the state file; older ones are dropped (and counted).
pub(crate) const AUDIT_MAX: usize = 64;

impl LiveAction {
    pub(crate) fn from_args(args: &EdgeSimArgs) -> Result<LiveAction> {
        // Who runs a pin: the sudo caller when there is one.
        let by = || {
            let user = std::env::var("USER").ok().filter(|user| !user.is_empty());
            match (std::env::var("SUDO_USER").ok().filter(|user| !user.is_empty()), user) {
                (Some(sudo), Some(user)) if sudo != user => format!("{sudo} (as {user} via sudo)"),
                (Some(sudo), _) => sudo,
                (None, Some(user)) => user,
                (None, None) => "unknown (USER is not set)".to_string(),
            }
        };
        let reason = || -> Result<String> {
            let text = args.reason.as_deref().map(str::trim).unwrap_or_default();
            if text.is_empty() {
                bail!("--reason TEXT is required with --pin and --unpin; it goes into the state's audit log");
            }
            if text.chars().count() > MAX_REASON_CHARS {
                bail!("--reason is longer than {MAX_REASON_CHARS} characters; keep it to a sentence");
            }
            // One line in the audit log and the report: a newline could forge a marker row.
            if let Some(bad) = text.chars().find(|c| c.is_control()) {
                bail!(
                    "--reason contains the control character {:?}; write it on one line without control characters",
                    bad
                );
            }
            Ok(text.to_string())
        };
        if let Some(profile) = &args.pin {
            let text = args.until.as_deref().context("--until T is required with --pin")?;
            let until = parse_timestamp(text.trim().as_bytes()).ok_or_else(|| {
                anyhow!(
                    "--until {text:?} is not a timestamp; use RFC 3339 (2025-10-11T14:30:00Z) or Unix seconds"
                )
            })?;
            return Ok(LiveAction::Pin {
                profile: profile.clone(),
                until,
                reason: reason()?,
                by: by(),
                lock_wait: args.lock_wait,
            });
        }
        if args.unpin {
            return Ok(LiveAction::Unpin { reason: reason()?, by: by(), lock_wait: args.lock_wait });
        }
        if args.reason.is_some() {
            bail!("--reason goes with --pin or --unpin; a window step takes none");
        }
        LiveStep::from_args(args).map(LiveAction::Step)
    }
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
            shadow: args.shadow,
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
    /// Pins, unpins and expiries, oldest first, at most [`AUDIT_MAX`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    audit: Vec<AuditEntry>,
    /// Older audit entries dropped to keep the file small.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    audit_dropped: u64,
    /// Profile switches the bot was told to make, re-sends and pins included. Unlike
    /// `current.policy_applied_count` (replayed from `before_last_window` when a window is sent
    /// again, so it can go down) it never decreases: the Prometheus counter. Written only when
    /// above `current.policy_applied_count` (read as the larger of the two), so a state whose
    /// re-sends never undid a change keeps its bytes.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    profile_switches: u64,
}

/// Profile switches after a step that leaves the bot on `profile`: one more whenever it differs
/// from the profile the last step gave the bot, a re-send that undoes (or redoes) a change
/// included.
fn switches_after(loaded: Option<&Loaded>, rules: &Rules, profile: usize) -> u64 {
    let (running, before) =
        loaded.map_or((rules.start, 0), |loaded| (loaded.current.profile, loaded.profile_switches));
    before.saturating_add(u64::from(profile != running))
}

/// What the state file stores for `switches` after a run that ends in `current`.
fn stored_switches(switches: u64, current: &Machine) -> u64 {
    if switches > current.policy_applied_count { switches } else { 0 }
}

/// One operator action (or a pin's expiry) in the state's audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditEntry {
    /// `pin`, `unpin` or `expired`.
    pub action: String,
    pub profile: String,
    /// The pin's end (for `pin` and `expired`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    pub reason: String,
    pub by: String,
    /// When: "now" of the run for pin/unpin, the window close for an expiry.
    pub at: String,
}

fn is_zero_u64(value: &u64) -> bool {
    *value == 0
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
    last_input: Option<LastInput>,
    audit: Vec<AuditEntry>,
    audit_dropped: u64,
    /// See [`StateFile::profile_switches`]; never below `current.policy_applied_count`.
    profile_switches: u64,
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
    Ok(Some(Loaded {
        profile_switches: state.profile_switches.max(current.policy_applied_count),
        current,
        before_last_window,
        last_input: state.last_input,
        audit: state.audit,
        audit_dropped: state.audit_dropped,
    }))
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

/// Checks the state path and takes its lock (before the lock file is made beside it, a FIFO or
/// device is refused: `--state /dev/zero` must not create /dev/zero.lock).
fn lock_state(path: &Path, wait: Duration, now: DateTime<Utc>) -> Result<StateLock> {
    let name = display_path(path);
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create the folder of the state file {name}"))?;
    }
    refuse_special_file(path)?;
    let holder = format!("pid {} since {}", std::process::id(), crate::clock::format_utc(now));
    StateLock::acquire(path, wait, &holder)
}

fn refuse_special_file(path: &Path) -> Result<()> {
    if let Ok(metadata) = std::fs::metadata(path)
        && !metadata.is_file()
    {
        bail!(
            "{}: the state file is {}, not a regular file; point --state at a file edge-sim may replace",
            display_path(path),
            crate::limits::describe_kind(&metadata.file_type())
        );
    }
    Ok(())
}

/// Writes the state atomically.
fn save(path: &Path, state: StateFile) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(&state)?;
    bytes.push(b'\n');
    crate::atomic_write::write_atomically(path, &bytes)
        .with_context(|| format!("cannot write the state file {}", display_path(path)))
}

fn push_audit(audit: &mut Vec<AuditEntry>, dropped: &mut u64, entry: AuditEntry) {
    audit.push(entry);
    if audit.len() > AUDIT_MAX {
        let excess = audit.len() - AUDIT_MAX;
        audit.drain(..excess);
        *dropped = dropped.saturating_add(excess as u64);
    }
}

/// Runs one `--state` action and returns what to print.
pub(crate) fn run_live(
    rules: &Rules,
    path: &Path,
    action: &LiveAction,
    now: DateTime<Utc>,
) -> Result<LiveReport> {
    match action {
        LiveAction::Step(step) => run_live_step(rules, path, step, now),
        LiveAction::Pin { profile, until, reason, by, lock_wait } => {
            run_pin(rules, path, Some((profile, *until)), reason, by, *lock_wait, now)
        }
        LiveAction::Unpin { reason, by, lock_wait } => {
            run_pin(rules, path, None, reason, by, *lock_wait, now)
        }
    }
}

/// `--pin PROFILE --until T` (`pin` is `Some`) or `--unpin` (`None`).
fn run_pin(
    rules: &Rules,
    path: &Path,
    pin: Option<(&String, i64)>,
    reason: &str,
    by: &str,
    lock_wait: Duration,
    now: DateTime<Utc>,
) -> Result<LiveReport> {
    let name = display_path(path);
    let now_micros = now.timestamp_micros();
    let target = match pin {
        None => None,
        Some((profile, until)) => {
            let index = rules.profile_index(profile).ok_or_else(|| {
                let known: Vec<&str> = rules.profiles.iter().map(|profile| profile.name.as_str()).collect();
                anyhow!("--pin {profile:?} is not a profile of the rules in use ({})", known.join(", "))
            })?;
            if until <= now_micros {
                bail!(
                    "--until {} is not in the future (now is {}); {name} is unchanged",
                    format_micros(until),
                    format_micros(now_micros)
                );
            }
            if until - now_micros > rules.max_pin_micros {
                bail!(
                    "--until {} is more than max_pin {} ahead; pin for less (or raise max_pin in the config); {name} is unchanged",
                    format_micros(until),
                    crate::units::format_duration(Duration::from_micros(rules.max_pin_micros as u64))
                );
            }
            Some((index, until))
        }
    };
    let _lock = lock_state(path, lock_wait, now)?;
    let loaded = load(path, rules)?;
    let (mut current, mut before, last_input, mut audit, mut audit_dropped, mut switches) = match loaded {
        Some(loaded) => (
            loaded.current,
            loaded.before_last_window,
            loaded.last_input,
            loaded.audit,
            loaded.audit_dropped,
            loaded.profile_switches,
        ),
        None => (Machine::new(rules), None, None, Vec::new(), 0, 0),
    };
    let mut change = None;
    let entry = match target {
        Some((index, until)) => {
            if index != current.profile {
                change = Some(Change { from: current.profile, to: index, reason: Reason::Pinned { until } });
                current.profile = index;
                current.streak = 0;
                current.recovery_streak = 0;
                current.policy_applied_count = current.policy_applied_count.saturating_add(1);
                switches = switches.saturating_add(1);
                // The pinned profile's dwell starts at the last window applied.
                if rules.uses_min_dwell() {
                    current.entered_window = current.last_window;
                }
            }
            current.pinned_until = Some(until);
            // A resend of the last window replays from the state before it: under the pin too,
            // with the pin's change counted and its streaks reset there as well.
            if let Some(before) = &mut before {
                if change.is_some() && before.profile != index {
                    before.streak = 0;
                    before.recovery_streak = 0;
                    before.policy_applied_count = before.policy_applied_count.saturating_add(1);
                    if rules.uses_min_dwell() {
                        before.entered_window = current.last_window;
                    }
                }
                before.profile = index;
                before.pinned_until = Some(until);
            }
            AuditEntry {
                action: "pin".into(),
                profile: rules.profiles[index].name.clone(),
                until: Some(format_micros(until)),
                reason: reason.to_string(),
                by: by.to_string(),
                at: crate::clock::format_utc(now),
            }
        }
        None => {
            if current.pinned_until.is_none() {
                bail!("{name} has no pin in force; nothing to unpin, {name} is unchanged");
            }
            current.pinned_until = None;
            if let Some(before) = &mut before {
                before.pinned_until = None;
            }
            AuditEntry {
                action: "unpin".into(),
                profile: rules.profiles[current.profile].name.clone(),
                until: None,
                reason: reason.to_string(),
                by: by.to_string(),
                at: crate::clock::format_utc(now),
            }
        }
    };
    push_audit(&mut audit, &mut audit_dropped, entry.clone());
    save(
        path,
        StateFile {
            format: FORMAT_TAG.to_string(),
            window_seconds: rules.window_micros / 1_000_000,
            current: Snapshot::of(rules, &current),
            last_input,
            before_last_window: before.map(|before| Snapshot::of(rules, &before)),
            audit,
            audit_dropped,
            profile_switches: stored_switches(switches, &current),
        },
    )?;
    let close = current.last_window.map_or(now_micros, |last| rules.close_of(last));
    let outcome = WindowOutcome {
        position: current.windows_seen,
        close,
        ema1h: f64::NAN,
        ema24h: f64::NAN,
        machine: current,
        change,
        held: None,
    };
    let mut report = LiveReport::new(rules, &name, &outcome, false, false);
    report.profile_switches = switches;
    report.window = None;
    report.operator = Some(entry);
    Ok(report)
}

/// Applies one window, writes the state, and returns what to print. The whole read-modify-write
/// runs under the state's lock, so concurrent steps queue instead of losing a window. With
/// `--shadow` nothing is locked or written.
pub(crate) fn run_live_step(
    rules: &Rules,
    path: &Path,
    step: &LiveStep,
    now: DateTime<Utc>,
) -> Result<LiveReport> {
    let name = display_path(path);
    let window = rules.window_of(step.ts);
    // The state records the window's close in RFC 3339, which has four-digit years: a close
    // outside 0000..9999 was written as `+10000-01-01T00:00:00Z`, a state every later step
    // then refused as corrupt. Refused here, before the lock file or the state is touched.
    let close = rules.close_of(window);
    if crate::clock::parse_timestamp(format_micros(close).as_bytes()) != Some(close) {
        bail!(
            "--ts {} falls in the window closing {}, outside the years 0000 to 9999 the state file can \
             record; {name} is unchanged (stamp the step with the window's real time)",
            format_micros(step.ts),
            format_micros(close)
        );
    }
    let _lock = if step.shadow {
        refuse_special_file(path)?;
        None
    } else {
        Some(lock_state(path, step.lock_wait, now)?)
    };
    let loaded = load(path, rules)?;
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
    let close = rules.close_of(window);
    let switches = switches_after(loaded.as_ref(), rules, machine.profile);
    let (mut audit, mut audit_dropped) =
        loaded.as_ref().map(|loaded| (loaded.audit.clone(), loaded.audit_dropped)).unwrap_or_default();
    let mut expired = None;
    if decision.pin_expired {
        let entry = AuditEntry {
            action: "expired".into(),
            // The profile that was pinned, not the one a change in this same window moves to.
            profile: rules.profiles[base.profile].name.clone(),
            until: base.pinned_until.map(format_micros),
            reason: "the pin reached its --until".into(),
            by: "edge-sim".into(),
            at: format_micros(close),
        };
        // A resend of this window expires the pin again: log it once.
        if audit.last() != Some(&entry) {
            push_audit(&mut audit, &mut audit_dropped, entry.clone());
        }
        expired = Some(entry);
    }
    if !step.shadow {
        save(
            path,
            StateFile {
                format: FORMAT_TAG.to_string(),
                window_seconds: rules.window_micros / 1_000_000,
                current: Snapshot::of(rules, &machine),
                last_input: Some(LastInput {
                    ts: format_micros(step.ts),
                    ema1h: step.ema1h,
                    ema24h: step.ema24h,
                }),
                before_last_window: Some(Snapshot::of(rules, &base)),
                audit,
                audit_dropped,
                profile_switches: stored_switches(switches, &machine),
            },
        )?;
    }
    let outcome = WindowOutcome {
        position: base.windows_seen,
        close,
        ema1h: step.ema1h,
        ema24h: step.ema24h,
        machine,
        change: decision.change,
        held: decision.held,
    };
    let mut report = LiveReport::new(rules, &name, &outcome, replaced_window, step.shadow);
    report.pin_expired = expired;
    report.profile_switches = switches;
    Ok(report)
}

/// The live step's output: the profile to run with, and the change if there was one.
#[derive(Debug, Serialize)]
pub(crate) struct LiveReport {
    state: String,
    /// The close of the window just applied (`None` for a pin or unpin).
    window: Option<String>,
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
    /// Profile switches since the state file was created, re-sends and pins included: never
    /// decreases (`policy_applied_count` replays a re-sent window, so it can).
    profile_switches: u64,
    windows_seen: u64,
    gaps: u64,
    // The fields below appear only when they say something, so a plain step's document keeps
    // its bytes.
    /// The pin in force after this run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pinned_until: Option<String>,
    /// A change that was due but held back (by a pin or `min_dwell`).
    #[serde(skip_serializing_if = "Option::is_none")]
    held: Option<HeldChange>,
    /// The pin that ended at this window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pin_expired: Option<AuditEntry>,
    /// The pin or unpin this run recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    operator: Option<AuditEntry>,
    /// `--shadow`: computed only; the state file was not changed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    shadow: bool,
}

/// The change a pin or `min_dwell` kept from happening.
#[derive(Debug, Serialize)]
struct HeldChange {
    from: String,
    to: String,
    reason: String,
    /// `pin` or `min_dwell`.
    held_by: &'static str,
}

impl LiveReport {
    fn new(
        rules: &Rules,
        name: &str,
        outcome: &WindowOutcome,
        replaced_window: bool,
        shadow: bool,
    ) -> LiveReport {
        let machine = outcome.machine;
        let step_rules = rules.steps[machine.profile];
        LiveReport {
            state: name.to_string(),
            window: Some(format_micros(outcome.close)),
            ema1h: outcome.ema1h,
            ema24h: outcome.ema24h,
            profile: rules.profiles[machine.profile].clone(),
            changed: outcome.change.is_some(),
            transition: outcome.change.map(|change| Transition::new(rules, outcome, change)),
            replaced_window,
            streak: machine.streak,
            streak_needed: (machine.profile + 1 < rules.profiles.len())
                .then(|| rules.degrade_windows(machine.profile, machine.backoff_level)),
            recovery_streak: machine.recovery_streak,
            recovery_streak_needed: (machine.profile > rules.start).then_some(step_rules.recovery_windows),
            policy_applied_count: machine.policy_applied_count,
            profile_switches: machine.policy_applied_count,
            windows_seen: machine.windows_seen,
            gaps: machine.gaps,
            pinned_until: machine.pinned_until.map(format_micros),
            held: outcome.held.map(|(change, by)| HeldChange {
                from: rules.profiles[change.from].name.clone(),
                to: rules.profiles[change.to].name.clone(),
                reason: change.reason.describe(&rules.window_label()),
                held_by: by.rule(),
            }),
            pin_expired: None,
            operator: None,
            shadow,
        }
    }
}

impl Report for LiveReport {
    fn marker(&self) -> Marker {
        Marker::new(TOOL, Verdict::Pass, MARKER_KEY, self.profile.name.clone())
    }

    fn write_text(&self, out: &mut dyn Write, style: &Style) -> io::Result<()> {
        if let Some(entry) = &self.operator {
            let until = entry.until.as_deref().map(|until| format!(" until {until}")).unwrap_or_default();
            writeln!(
                out,
                "{} {}{until} by {}: {}",
                entry.action,
                entry.profile,
                display_text(&entry.by, false),
                display_text(&entry.reason, false)
            )?;
        }
        if let Some(entry) = &self.pin_expired {
            writeln!(
                out,
                "pin of {} until {} expired",
                entry.profile,
                entry.until.as_deref().unwrap_or("?")
            )?;
        }
        if let Some(transition) = &self.transition {
            writeln!(out, "{}", transition.log_line(style))?;
        }
        if let Some(held) = &self.held {
            let by = if held.held_by == "pin" {
                format!("pinned until {}", self.pinned_until.as_deref().unwrap_or("?"))
            } else {
                "held by min_dwell".to_string()
            };
            writeln!(out, "{by}: would have changed {} -> {} ({})", held.from, held.to, held.reason)?;
        } else if let Some(until) = &self.pinned_until
            && self.operator.is_none()
        {
            writeln!(out, "pinned until {until}")?;
        }
        writeln!(out, "profile {} {}", style.bold(&self.profile.name), self.profile.settings())?;
        if let Some(window) = &self.window {
            let replaced =
                if self.replaced_window { " (replaces the earlier send of this window)" } else { "" };
            let mut parts = Vec::new();
            if let Some(needed) = self.streak_needed {
                parts.push(format!("streak {}/{needed}", self.streak));
            }
            if let Some(needed) = self.recovery_streak_needed {
                parts.push(format!("recovery streak {}/{needed}", self.recovery_streak));
            }
            parts.push(format!("policy_applied_count {}", self.policy_applied_count));
            writeln!(out, "window {window}{replaced}: {}", parts.join(", "))?;
        }
        if self.shadow {
            writeln!(out, "shadow: {} was not changed", self.state)?;
        }
        Ok(())
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
                // The switch counter never goes down (the Prometheus counter), re-sends included,
                // and reads back from what the file stores.
                let previous = loaded.as_ref().map_or(0, |loaded| loaded.profile_switches);
                let switches = switches_after(loaded.as_ref(), &rules, machine.profile);
                prop_assert!(switches >= previous && switches >= machine.policy_applied_count);
                let read_back = stored_switches(switches, &machine).max(machine.policy_applied_count);
                prop_assert_eq!(read_back, switches);
                loaded = Some(Loaded {
                    current: machine,
                    before_last_window: Some(base),
                    last_input: None,
                    audit: Vec::new(),
                    audit_dropped: 0,
                    profile_switches: read_back,
                });
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

    proptest! {
        // Each case writes and fsyncs real files.
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Issue 19: a shadow step leaves the state file's bytes exactly as they were, and
        /// reports what the real step then does.
        #[test]
        fn shadow_steps_leave_the_state_bytes_unchanged(
            sends in proptest::collection::vec((0i64..3, -2.0f64..2.0, 0.0f64..3.0, proptest::bool::ANY), 1..25)
        ) {
            let rules = default_rules();
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("s.json");
            let now = chrono::DateTime::from_timestamp(1_760_000_000, 0).unwrap();
            let mut ts = 1_760_140_800_000_000i64;
            for (step, ema1h, ema24h, shadow) in sends {
                ts += step * rules.window_micros;
                let live = LiveStep { ts, ema1h, ema24h, lock_wait: Duration::ZERO, shadow };
                let before = std::fs::read(&path).ok();
                let report = run_live_step(&rules, &path, &live, now).unwrap();
                if shadow {
                    prop_assert_eq!(std::fs::read(&path).ok(), before.clone());
                    let real = run_live_step(&rules, &path, &LiveStep { shadow: false, ..live }, now).unwrap();
                    prop_assert_eq!(real.profile.name, report.profile.name);
                    prop_assert_eq!(real.changed, report.changed);
                    std::fs::write(&path, before.unwrap_or_default()).unwrap();
                    if std::fs::read(&path).unwrap().is_empty() {
                        std::fs::remove_file(&path).unwrap();
                    }
                }
            }
        }

        /// Issue 19: a pin never outlives its --until, and nothing changes the profile while it
        /// is in force.
        #[test]
        fn pins_never_outlive_until(
            windows in proptest::collection::vec((1i64..3, -2.0f64..1.0, 0.0f64..3.0), 1..80),
            pin_windows in 0i64..40,
        ) {
            let rules = default_rules();
            let mut machine = Machine::new(&rules);
            let until = rules.close_of(pin_windows) + 1;
            machine.pinned_until = Some(until);
            machine.profile = 1;
            let mut index = 0;
            for (step, ema1h, ema24h) in windows {
                index += step;
                let decision = machine.decide(&rules, index, ema1h, ema24h).unwrap();
                if rules.close_of(index) > until {
                    prop_assert_eq!(machine.pinned_until, None);
                } else {
                    prop_assert_eq!(machine.pinned_until, Some(until));
                    prop_assert_eq!(decision.change, None);
                    prop_assert_eq!(machine.profile, 1);
                }
            }
        }
    }

    #[test]
    fn the_audit_log_is_bounded() {
        let (mut audit, mut dropped) = (Vec::new(), 0);
        for index in 0..AUDIT_MAX + 10 {
            let entry = AuditEntry {
                action: "pin".into(),
                profile: "Conservative".into(),
                until: None,
                reason: index.to_string(),
                by: "ops".into(),
                at: "t".into(),
            };
            push_audit(&mut audit, &mut dropped, entry);
        }
        assert_eq!((audit.len(), dropped), (AUDIT_MAX, 10));
        assert_eq!(audit[0].reason, "10");
    }

    #[test]
    fn older_windows_are_refused() {
        let rules = default_rules();
        let mut current = Machine::new(&rules);
        current.apply(&rules, 10, 0.0, 0.0).unwrap();
        let loaded = Loaded {
            current,
            before_last_window: Some(Machine::new(&rules)),
            last_input: None,
            audit: Vec::new(),
            audit_dropped: 0,
            profile_switches: 0,
        };
        assert_eq!(base_for(Some(&loaded), &rules, 9), Err(10));
        assert_eq!(base_for(Some(&loaded), &rules, 10), Ok((Machine::new(&rules), true)));
        assert_eq!(base_for(Some(&loaded), &rules, 11), Ok((current, false)));
    }
}
