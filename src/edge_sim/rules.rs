//! The edge sentinel's rules as a pure state machine: a ladder of profiles, a degradation streak
//! and a recovery streak, one decision per closed window.
//!
//! Nothing here reads files or clocks, so the batch simulation, the sweep and the bot's live step
//! all run the very same code, and the rules are unit-tested on hand-made windows.

use serde::{Deserialize, Serialize};

/// One quoting profile the bot can run with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Profile {
    pub name: String,
    pub spread_multiplier: f64,
    pub max_inflight: u64,
    pub backoff_ms: u64,
}

impl Profile {
    /// `spread_multiplier=1.5 max_inflight=5 backoff_ms=200`, as printed after each change.
    pub(crate) fn settings(&self) -> String {
        format!(
            "spread_multiplier={:?} max_inflight={} backoff_ms={}",
            self.spread_multiplier, self.max_inflight, self.backoff_ms
        )
    }
}

/// The thresholds for leaving one profile: toward the conservative end (degradation) or one step
/// back toward the start profile (recovery).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct StepRules {
    /// Degrade when ema1h is strictly below this…
    pub ema1h_threshold: f64,
    /// …at the close of this many adjacent windows.
    pub consecutive_windows: u32,
    /// Recover when ema24h is at least this…
    pub ema24h_recovery_threshold: f64,
    /// …at the close of this many adjacent windows.
    pub recovery_windows: u32,
    /// No change out of this profile until it has been in force this long (0 = none).
    pub min_dwell_micros: i64,
}

/// `cooldown_backoff`: each recovery raises a level; a degradation then needs more windows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Backoff {
    /// Each level multiplies the windows needed by this (at least one more window per level).
    pub factor: f64,
    /// The windows needed never exceed this.
    pub max_windows: u32,
    /// One level is forgiven for every this many windows without a change.
    pub reset_after_windows: i64,
}

/// What a missing window does to the streaks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum GapPolicy {
    /// Restart both streaks (adjacent means adjacent).
    Reset,
    /// Keep both streaks as they were: the gap neither breaks nor counts.
    Hold,
    /// A gap longer than this (microseconds) counts as one negative window (no data is not good
    /// news); a shorter one resets as [`GapPolicy::Reset`] does.
    Degrade { max_gap_micros: i64 },
}

/// A checked rule set: the ladder (least to most conservative), where it starts, and the
/// thresholds for leaving each profile.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rules {
    /// Window length in microseconds (the unit of every timestamp in edge-sim).
    pub window_micros: i64,
    pub profiles: Vec<Profile>,
    /// Per profile, the rules for leaving it (same index as `profiles`).
    pub steps: Vec<StepRules>,
    pub start: usize,
    pub backoff: Option<Backoff>,
    pub gap_policy: GapPolicy,
    /// The longest `--pin` accepted, in microseconds.
    pub max_pin_micros: i64,
}

impl Rules {
    /// Whether any anti-flap rule is configured. Only then do the outputs carry the `rule` that
    /// fired: with the defaults they stay byte-identical to earlier versions, whose reasons
    /// already name the rule (a streak or a recovery).
    pub(crate) fn extended(&self) -> bool {
        self.backoff.is_some()
            || self.gap_policy != GapPolicy::Reset
            || self.steps.iter().any(|step| step.min_dwell_micros > 0)
    }

    pub(crate) fn uses_min_dwell(&self) -> bool {
        self.steps.iter().any(|step| step.min_dwell_micros > 0)
    }

    /// Windows of adjacent evidence needed to degrade from `profile` at backoff `level`: the
    /// configured count, times the factor per level, at least one more per level, capped.
    pub(crate) fn degrade_windows(&self, profile: usize, level: u32) -> u32 {
        let base = self.steps[profile].consecutive_windows;
        let Some(backoff) = self.backoff else { return base };
        let cap = backoff.max_windows.max(base);
        let mut needed = base;
        for _ in 0..level {
            if needed >= cap {
                break;
            }
            let scaled = (f64::from(needed) * backoff.factor).ceil();
            let next = if scaled >= f64::from(cap) { cap } else { (scaled as u32).max(needed + 1) };
            needed = next.min(cap);
        }
        needed
    }

    /// The window a timestamp belongs to: windows are `(close - length, close]`, numbered by
    /// their close, so a row stamped exactly at 14:30 is the close of the 14:00–14:30 window.
    pub(crate) fn window_of(&self, ts_micros: i64) -> i64 {
        ts_micros.div_euclid(self.window_micros) + i64::from(ts_micros.rem_euclid(self.window_micros) != 0)
    }

    /// The close of window `index`, in microseconds.
    pub(crate) fn close_of(&self, index: i64) -> i64 {
        index.saturating_mul(self.window_micros)
    }

    /// The window length for humans (`30m`).
    pub(crate) fn window_label(&self) -> String {
        crate::units::format_duration(std::time::Duration::from_micros(self.window_micros as u64))
    }

    /// Whether a profile is more conservative than the start (what the sweep's share counts).
    pub(crate) fn is_conservative(&self, profile: usize) -> bool {
        profile > self.start
    }

    pub(crate) fn profile_index(&self, name: &str) -> Option<usize> {
        self.profiles.iter().position(|profile| profile.name == name)
    }
}

/// Why a change happened.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Reason {
    Degraded {
        threshold: f64,
        windows: u32,
    },
    /// A degradation that needed more windows because of `cooldown_backoff`.
    BackedOff {
        threshold: f64,
        windows: u32,
        level: u8,
    },
    Recovered {
        threshold: f64,
        windows: u32,
    },
    /// `gap_policy: degrade`: a gap of `missing` windows, longer than `max_gap_micros`.
    GapDegraded {
        max_gap_micros: i64,
        missing: u32,
    },
    /// `--pin`: an operator held the profile until this instant (microseconds).
    Pinned {
        until: i64,
    },
}

impl Reason {
    /// `ema1h < 0.0 for 3 consecutive 30m windows` / `ema24h >= 1.5`.
    pub(crate) fn describe(&self, window_label: &str) -> String {
        match *self {
            Reason::Degraded { threshold, windows } => {
                format!("ema1h < {threshold:?} for {windows} consecutive {window_label} windows")
            }
            Reason::BackedOff { threshold, windows, level } => format!(
                "ema1h < {threshold:?} for {windows} consecutive {window_label} windows (cooldown_backoff level {level})"
            ),
            Reason::Recovered { threshold, windows: 1 } => format!("ema24h >= {threshold:?}"),
            Reason::Recovered { threshold, windows } => {
                format!("ema24h >= {threshold:?} for {windows} consecutive {window_label} windows")
            }
            Reason::GapDegraded { max_gap_micros, missing } => format!(
                "{missing} missing {window_label} windows, a gap longer than max_gap {}, counted as a negative \
                 window (gap_policy degrade)",
                crate::units::format_duration(std::time::Duration::from_micros(max_gap_micros.max(0) as u64))
            ),
            Reason::Pinned { until } => format!("pinned until {}", crate::clock::format_micros(until)),
        }
    }

    /// The rule that fired, as named in the config and the outputs.
    pub(crate) fn rule(&self) -> &'static str {
        match self {
            Reason::Degraded { .. } => "streak",
            Reason::BackedOff { .. } => "cooldown_backoff",
            Reason::Recovered { .. } => "recovery",
            Reason::GapDegraded { .. } => "gap_policy",
            Reason::Pinned { .. } => "pin",
        }
    }

    /// The reason as plain numbers `(kind, value, windows, extra)`, for the change log's
    /// scratch file.
    pub(crate) fn encode(&self) -> (u8, f64, u32, u8) {
        match *self {
            Reason::Degraded { threshold, windows } => (0, threshold, windows, 0),
            Reason::Recovered { threshold, windows } => (1, threshold, windows, 0),
            Reason::BackedOff { threshold, windows, level } => (2, threshold, windows, level),
            Reason::GapDegraded { max_gap_micros, missing } => (3, max_gap_micros as f64, missing, 0),
            Reason::Pinned { until } => (4, until as f64, 0, 0),
        }
    }

    pub(crate) fn decode(kind: u8, value: f64, windows: u32, extra: u8) -> Option<Reason> {
        match kind {
            0 => Some(Reason::Degraded { threshold: value, windows }),
            1 => Some(Reason::Recovered { threshold: value, windows }),
            2 => Some(Reason::BackedOff { threshold: value, windows, level: extra }),
            3 => Some(Reason::GapDegraded { max_gap_micros: value as i64, missing: windows }),
            4 => Some(Reason::Pinned { until: value as i64 }),
            _ => None,
        }
    }
}

/// What kept a due change from happening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeldBy {
    /// The profile has not been in force for its `min_dwell` yet.
    MinDwell,
    /// An operator's `--pin` is in force.
    Pin,
}

impl HeldBy {
    pub(crate) fn rule(self) -> &'static str {
        match self {
            HeldBy::MinDwell => "min_dwell",
            HeldBy::Pin => "pin",
        }
    }
}

/// Everything one window decided.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Decision {
    pub change: Option<Change>,
    /// A change that was due but held back, and by what.
    pub held: Option<(Change, HeldBy)>,
    /// The pin in force ended at this window's close.
    pub pin_expired: bool,
}

/// A profile change decided at a window's close.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Change {
    pub from: usize,
    pub to: usize,
    pub reason: Reason,
}

/// A window that cannot be applied because it is not after the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WindowNotAfterLast {
    pub window: i64,
    pub last: i64,
}

/// Everything the sentinel remembers between windows. Small and `Copy`, so the live step can
/// keep the state from before its last window and replay that window when it is sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Machine {
    pub profile: usize,
    /// Adjacent windows so far meeting the degradation condition of the current profile.
    pub streak: u32,
    /// Adjacent windows so far meeting the recovery condition of the current profile.
    pub recovery_streak: u32,
    /// The last window applied (by index), if any.
    pub last_window: Option<i64>,
    pub windows_seen: u64,
    /// Breaks in the series (a window missing between two seen ones), and how many were missing.
    pub gaps: u64,
    pub missing_windows: u64,
    pub policy_applied_count: u64,
    /// The window the current profile came into force (tracked only when `min_dwell` is used).
    pub entered_window: Option<i64>,
    /// `cooldown_backoff`: the level, and the window its decay is counted from.
    pub backoff_level: u32,
    pub backoff_anchor: Option<i64>,
    /// An operator's pin: no change until this instant (microseconds, inclusive).
    pub pinned_until: Option<i64>,
}

impl Machine {
    pub(crate) fn new(rules: &Rules) -> Machine {
        Machine {
            profile: rules.start,
            streak: 0,
            recovery_streak: 0,
            last_window: None,
            windows_seen: 0,
            gaps: 0,
            missing_windows: 0,
            policy_applied_count: 0,
            entered_window: None,
            backoff_level: 0,
            backoff_anchor: None,
            pinned_until: None,
        }
    }

    /// Applies the close of window `window` with its EMAs and returns the change it caused, if
    /// any (see [`Machine::decide`]).
    #[cfg(test)]
    pub(crate) fn apply(
        &mut self,
        rules: &Rules,
        window: i64,
        ema1h: f64,
        ema24h: f64,
    ) -> Result<Option<Change>, WindowNotAfterLast> {
        self.decide(rules, window, ema1h, ema24h).map(|decision| decision.change)
    }

    /// Applies the close of window `window`. At most one change per window; degradation wins
    /// over recovery when both are due (fresh bad evidence beats a slow average). Every change
    /// restarts both streaks, so a recovery is never followed by an instant relapse on the
    /// evidence that came before it. A change held by `min_dwell` or a pin keeps its streaks, so
    /// it happens at the first window it is allowed if the evidence still holds.
    pub(crate) fn decide(
        &mut self,
        rules: &Rules,
        window: i64,
        ema1h: f64,
        ema24h: f64,
    ) -> Result<Decision, WindowNotAfterLast> {
        let mut decision = Decision::default();
        let mut gap_missing = None;
        if let Some(last) = self.last_window {
            if window <= last {
                return Err(WindowNotAfterLast { window, last });
            }
            if window > last + 1 {
                let missing = (window - last - 1) as u64;
                self.gaps = self.gaps.saturating_add(1);
                self.missing_windows = self.missing_windows.saturating_add(missing);
                match rules.gap_policy {
                    GapPolicy::Hold => {}
                    GapPolicy::Degrade { max_gap_micros }
                        if (missing as i64).saturating_mul(rules.window_micros) > max_gap_micros =>
                    {
                        gap_missing = Some(u32::try_from(missing).unwrap_or(u32::MAX));
                    }
                    // A missing window breaks adjacency: evidence on either side does not add up.
                    GapPolicy::Reset | GapPolicy::Degrade { .. } => {
                        self.streak = 0;
                        self.recovery_streak = 0;
                    }
                }
            }
        }
        self.last_window = Some(window);
        self.windows_seen = self.windows_seen.saturating_add(1);
        if let Some(until) = self.pinned_until
            && rules.close_of(window) > until
        {
            self.pinned_until = None;
            decision.pin_expired = true;
        }
        if let (Some(backoff), Some(anchor)) = (rules.backoff, self.backoff_anchor) {
            let periods = (window - anchor) / backoff.reset_after_windows;
            if periods > 0 && self.backoff_level > 0 {
                let forgiven = u32::try_from(periods).unwrap_or(u32::MAX).min(self.backoff_level);
                self.backoff_level -= forgiven;
                self.backoff_anchor = Some(anchor + i64::from(forgiven) * backoff.reset_after_windows);
            }
        }

        let step = rules.steps[self.profile];
        let can_degrade = self.profile + 1 < rules.profiles.len();
        let can_recover = self.profile > rules.start;
        let needed = rules.degrade_windows(self.profile, self.backoff_level);
        let degradation = |threshold: f64| {
            if self.backoff_level > 0 && rules.backoff.is_some() {
                Reason::BackedOff { threshold, windows: needed, level: self.backoff_level.min(255) as u8 }
            } else {
                Reason::Degraded { threshold, windows: needed }
            }
        };
        let mut due = None;
        if let Some(missing) = gap_missing {
            // The gap is one negative window of its own; the window's data then counts as usual.
            self.recovery_streak = 0;
            if can_degrade {
                self.streak = self.streak.saturating_add(1);
                if self.streak >= needed
                    && let GapPolicy::Degrade { max_gap_micros } = rules.gap_policy
                {
                    due = Some(Change {
                        from: self.profile,
                        to: self.profile + 1,
                        reason: Reason::GapDegraded { max_gap_micros, missing },
                    });
                }
            }
        }
        if due.is_none() {
            self.streak =
                if can_degrade && ema1h < step.ema1h_threshold { self.streak.saturating_add(1) } else { 0 };
            self.recovery_streak = if can_recover && ema24h >= step.ema24h_recovery_threshold {
                self.recovery_streak.saturating_add(1)
            } else {
                0
            };
            due = if can_degrade && self.streak >= needed {
                Some(Change {
                    from: self.profile,
                    to: self.profile + 1,
                    reason: degradation(step.ema1h_threshold),
                })
            } else if can_recover && self.recovery_streak >= step.recovery_windows {
                Some(Change {
                    from: self.profile,
                    to: self.profile - 1,
                    reason: Reason::Recovered {
                        threshold: step.ema24h_recovery_threshold,
                        windows: step.recovery_windows,
                    },
                })
            } else {
                None
            };
        }
        let Some(change) = due else { return Ok(decision) };
        let dwelt = self.entered_window.is_none_or(|entered| {
            (window - entered).saturating_mul(rules.window_micros) >= step.min_dwell_micros
        });
        if self.pinned_until.is_some() {
            decision.held = Some((change, HeldBy::Pin));
            return Ok(decision);
        }
        if !dwelt {
            decision.held = Some((change, HeldBy::MinDwell));
            return Ok(decision);
        }
        self.profile = change.to;
        self.streak = 0;
        self.recovery_streak = 0;
        self.policy_applied_count = self.policy_applied_count.saturating_add(1);
        if rules.uses_min_dwell() {
            self.entered_window = Some(window);
        }
        if rules.backoff.is_some() {
            if change.to < change.from {
                self.backoff_level = self.backoff_level.saturating_add(1).min(64);
            }
            // Decay is counted from the last change: a quiet spell forgives, a flap does not.
            self.backoff_anchor = Some(window);
        }
        decision.change = Some(change);
        Ok(decision)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn profile(name: &str, spread_multiplier: f64, max_inflight: u64, backoff_ms: u64) -> Profile {
        Profile { name: name.into(), spread_multiplier, max_inflight, backoff_ms }
    }

    pub(crate) const DEFAULT_STEP: StepRules = StepRules {
        ema1h_threshold: 0.0,
        consecutive_windows: 3,
        ema24h_recovery_threshold: 1.5,
        recovery_windows: 1,
        min_dwell_micros: 0,
    };

    pub(crate) fn default_rules() -> Rules {
        Rules {
            window_micros: 1_800_000_000,
            profiles: vec![profile("Moderate", 1.0, 10, 100), profile("Conservative", 1.5, 5, 200)],
            steps: vec![DEFAULT_STEP; 2],
            start: 0,
            backoff: None,
            gap_policy: GapPolicy::Reset,
            max_pin_micros: 24 * 3_600_000_000,
        }
    }

    /// Runs windows `(index, ema1h, ema24h)` and returns the profile name after each.
    fn profiles_after(rules: &Rules, windows: &[(i64, f64, f64)]) -> Vec<String> {
        let mut machine = Machine::new(rules);
        windows
            .iter()
            .map(|&(index, ema1h, ema24h)| {
                machine.apply(rules, index, ema1h, ema24h).unwrap();
                rules.profiles[machine.profile].name.clone()
            })
            .collect()
    }

    fn names(text: &str) -> Vec<String> {
        text.split_whitespace()
            .map(|short| match short {
                "M" => "Moderate",
                "C" => "Conservative",
                other => other,
            })
            .map(String::from)
            .collect()
    }

    #[test]
    fn exactly_three_negative_windows_switch_and_two_do_not() {
        let rules = default_rules();
        let three = [(1, -0.1, 0.0), (2, -0.1, 0.0), (3, -0.1, 0.0)];
        assert_eq!(profiles_after(&rules, &three), names("M M C"));
        let two_then_positive = [(1, -0.1, 0.0), (2, -0.1, 0.0), (3, 0.2, 0.0), (4, -0.1, 0.0)];
        assert_eq!(profiles_after(&rules, &two_then_positive), names("M M M M"));
    }

    #[test]
    fn zero_is_not_negative() {
        let rules = default_rules();
        let windows = [(1, 0.0, 0.0), (2, 0.0, 0.0), (3, 0.0, 0.0), (4, -0.0, 0.0)];
        assert_eq!(profiles_after(&rules, &windows), names("M M M M"));
    }

    #[test]
    fn ema24h_of_exactly_one_and_a_half_recovers() {
        let rules = default_rules();
        let windows = [(1, -1.0, 0.0), (2, -1.0, 0.0), (3, -1.0, 0.0), (4, -1.0, 1.49), (5, -1.0, 1.5)];
        assert_eq!(profiles_after(&rules, &windows), names("M M C C M"));
    }

    #[test]
    fn a_gap_breaks_the_streak() {
        let rules = default_rules();
        let windows = [(1, -1.0, 0.0), (2, -1.0, 0.0), (4, -1.0, 0.0), (5, -1.0, 0.0), (6, -1.0, 0.0)];
        assert_eq!(profiles_after(&rules, &windows), names("M M M M C"));
        let mut machine = Machine::new(&rules);
        for (index, ema1h, ema24h) in windows {
            machine.apply(&rules, index, ema1h, ema24h).unwrap();
        }
        assert_eq!((machine.gaps, machine.missing_windows, machine.windows_seen), (1, 1, 5));
    }

    // The original toolkit never reset its counter: right after recovering, one more negative
    // window sent it straight back to Conservative.
    #[test]
    fn no_relapse_right_after_recovery() {
        let rules = default_rules();
        let windows = [
            (1, -1.0, 0.0),
            (2, -1.0, 0.0),
            (3, -1.0, 0.0), // -> C
            (4, -1.0, 2.0), // -> M (streak restarts)
            (5, -1.0, 2.0),
            (6, -1.0, 2.0),
            (7, -1.0, 2.0), // third negative window since the recovery -> C
        ];
        assert_eq!(profiles_after(&rules, &windows), names("M M C M M M C"));
    }

    #[test]
    fn at_most_one_change_per_window() {
        // A three-step ladder with one-window streaks and both conditions often met: every window
        // moves at most one rung (Ultra recovers to C, never straight back to M).
        let mut rules = default_rules();
        rules.profiles.push(profile("Ultra", 3.0, 1, 1000));
        rules.steps = vec![StepRules { consecutive_windows: 1, ..DEFAULT_STEP }; 3];
        let windows = [(1, -1.0, 5.0), (2, -1.0, 5.0), (3, -1.0, 5.0), (4, 1.0, 5.0), (5, 1.0, 5.0)];
        assert_eq!(profiles_after(&rules, &windows), names("C Ultra C M M"));
    }

    #[test]
    fn ladder_of_four_steps_one_at_a_time_with_its_own_thresholds() {
        let rules = Rules {
            window_micros: 1_800_000_000,
            profiles: vec![
                profile("Aggressive", 0.8, 20, 50),
                profile("Moderate", 1.0, 10, 100),
                profile("Conservative", 1.5, 5, 200),
                profile("Ultra", 3.0, 1, 1000),
            ],
            steps: vec![
                DEFAULT_STEP,
                StepRules { consecutive_windows: 2, ..DEFAULT_STEP },
                StepRules { ema1h_threshold: -1.0, consecutive_windows: 2, ..DEFAULT_STEP },
                StepRules { ema24h_recovery_threshold: 0.5, ..DEFAULT_STEP },
            ],
            start: 1,
            ..default_rules()
        };
        let windows = [
            (1, -0.5, 0.0),
            (2, -0.5, 0.0), // Moderate -> Conservative after 2
            (3, -0.5, 0.0), // -0.5 is not below -1.0
            (4, -2.0, 0.0),
            (5, -2.0, 0.0), // -> Ultra
            (6, -2.0, 0.6), // Ultra recovers at 0.5 -> Conservative
            (7, -2.0, 1.0), // Conservative needs 1.5; streak restarted -> stays
            (8, -2.0, 1.6), // both due: degradation wins -> Ultra
        ];
        let got = profiles_after(&rules, &windows);
        assert_eq!(got, names("Moderate C C C Ultra C C Ultra"));
        // Recovery stops at the start profile: Aggressive is never entered from Moderate.
        let windows = [(1, 5.0, 5.0), (2, 5.0, 5.0)];
        assert_eq!(profiles_after(&rules, &windows), names("Moderate Moderate"));
    }

    proptest::proptest! {
        /// Every degradation is backed by N adjacent windows below the threshold, none of which
        /// saw a change; every recovery by an ema24h at or above its threshold; one rung at a time.
        #[test]
        fn changes_are_always_backed_by_fresh_adjacent_evidence(
            windows in proptest::collection::vec((1i64..3, -2.0f64..1.0, 0.0f64..3.0), 1..120)
        ) {
            let rules = default_rules();
            let mut machine = Machine::new(&rules);
            let mut index = 0;
            // (window, ema1h, changed) of every window so far.
            let mut history: Vec<(i64, f64, bool)> = Vec::new();
            let mut changes = 0;
            for (step, ema1h, ema24h) in windows {
                index += step;
                let before = machine.profile;
                let change = machine.apply(&rules, index, ema1h, ema24h).unwrap();
                if let Some(change) = change {
                    changes += 1;
                    proptest::prop_assert_eq!(change.from, before);
                    proptest::prop_assert_eq!(change.from.abs_diff(change.to), 1);
                    proptest::prop_assert_eq!((machine.streak, machine.recovery_streak), (0, 0));
                    if change.to > change.from {
                        let needed = rules.steps[before].consecutive_windows as usize;
                        proptest::prop_assert!(history.len() + 1 >= needed);
                        let evidence = &history[history.len() + 1 - needed..];
                        for (offset, (window, earlier_ema1h, changed)) in evidence.iter().enumerate() {
                            proptest::prop_assert_eq!(*window, index - (needed - 1 - offset) as i64);
                            proptest::prop_assert!(*earlier_ema1h < 0.0 && !changed);
                        }
                        proptest::prop_assert!(ema1h < 0.0);
                    } else {
                        proptest::prop_assert!(ema24h >= 1.5);
                    }
                }
                history.push((index, ema1h, change.is_some()));
            }
            proptest::prop_assert_eq!(machine.policy_applied_count, changes);
        }
    }

    // Issue 11 item 15: counters loaded from a state file at their maximum wrapped to 0 (or
    // panicked in a debug build); they stay at the maximum.
    #[test]
    fn counters_saturate_instead_of_wrapping() {
        let mut rules = default_rules();
        rules.steps = vec![StepRules { consecutive_windows: u32::MAX, ..DEFAULT_STEP }; 2];
        let mut machine = Machine {
            streak: u32::MAX,
            last_window: Some(1),
            windows_seen: u64::MAX,
            gaps: u64::MAX,
            missing_windows: u64::MAX - 1,
            policy_applied_count: u64::MAX,
            ..Machine::new(&rules)
        };
        // The streak stays at u32::MAX, which is what this step needs.
        let change = machine.apply(&rules, 2, -1.0, 0.0).unwrap();
        assert_eq!(change.map(|change| change.to), Some(1));
        machine.apply(&rules, 5, -1.0, 0.0).unwrap();
        assert_eq!(
            (machine.windows_seen, machine.gaps, machine.missing_windows, machine.policy_applied_count),
            (u64::MAX, u64::MAX, u64::MAX, u64::MAX)
        );
    }

    /// The rules before the anti-flap options, verbatim, as the reference for "defaults change
    /// nothing".
    fn old_apply(
        machine: &mut Machine,
        rules: &Rules,
        window: i64,
        ema1h: f64,
        ema24h: f64,
    ) -> Option<Change> {
        if let Some(last) = machine.last_window
            && window > last + 1
        {
            machine.gaps += 1;
            machine.missing_windows += (window - last - 1) as u64;
            machine.streak = 0;
            machine.recovery_streak = 0;
        }
        machine.last_window = Some(window);
        machine.windows_seen += 1;
        let step = rules.steps[machine.profile];
        let can_degrade = machine.profile + 1 < rules.profiles.len();
        let can_recover = machine.profile > rules.start;
        machine.streak = if can_degrade && ema1h < step.ema1h_threshold { machine.streak + 1 } else { 0 };
        machine.recovery_streak = if can_recover && ema24h >= step.ema24h_recovery_threshold {
            machine.recovery_streak + 1
        } else {
            0
        };
        let change = if can_degrade && machine.streak >= step.consecutive_windows {
            Some(Change {
                from: machine.profile,
                to: machine.profile + 1,
                reason: Reason::Degraded {
                    threshold: step.ema1h_threshold,
                    windows: step.consecutive_windows,
                },
            })
        } else if can_recover && machine.recovery_streak >= step.recovery_windows {
            Some(Change {
                from: machine.profile,
                to: machine.profile - 1,
                reason: Reason::Recovered {
                    threshold: step.ema24h_recovery_threshold,
                    windows: step.recovery_windows,
                },
            })
        } else {
            None
        };
        if let Some(change) = change {
            machine.profile = change.to;
            machine.streak = 0;
            machine.recovery_streak = 0;
            machine.policy_applied_count += 1;
        }
        change
    }

    fn random_windows() -> impl proptest::strategy::Strategy<Value = Vec<(i64, f64, f64)>> {
        proptest::collection::vec((1i64..4, -2.0f64..1.0, 0.0f64..3.0), 1..150)
    }

    proptest::proptest! {
        /// Issue 19: with the default options every window decides exactly what it decided
        /// before them (so the outputs, built from these decisions, keep their bytes).
        #[test]
        fn defaults_decide_exactly_as_before(windows in random_windows(), three_rungs in proptest::bool::ANY) {
            let mut rules = default_rules();
            if three_rungs {
                rules.profiles.push(profile("Ultra", 3.0, 1, 1000));
                rules.steps = vec![StepRules { consecutive_windows: 2, ..DEFAULT_STEP }; 3];
            }
            proptest::prop_assert!(!rules.extended());
            let (mut new, mut old) = (Machine::new(&rules), Machine::new(&rules));
            let mut index = 0;
            for (step, ema1h, ema24h) in windows {
                index += step;
                let decision = new.decide(&rules, index, ema1h, ema24h).unwrap();
                proptest::prop_assert_eq!(decision.change, old_apply(&mut old, &rules, index, ema1h, ema24h));
                proptest::prop_assert_eq!(decision.held, None);
                proptest::prop_assert_eq!(new, old);
            }
        }

        /// With `min_dwell`, no two changes are closer than it.
        #[test]
        fn min_dwell_spaces_every_change(windows in random_windows(), dwell_windows in 0i64..8) {
            let mut rules = default_rules();
            for step in &mut rules.steps {
                *step = StepRules { consecutive_windows: 1, min_dwell_micros: dwell_windows * rules.window_micros, ..DEFAULT_STEP };
            }
            let mut machine = Machine::new(&rules);
            let mut index = 0;
            let mut last_change: Option<i64> = None;
            for (step, ema1h, ema24h) in windows {
                index += step;
                if machine.decide(&rules, index, ema1h, ema24h).unwrap().change.is_some() {
                    if let Some(last) = last_change {
                        proptest::prop_assert!((index - last) * rules.window_micros >= dwell_windows * rules.window_micros);
                    }
                    last_change = Some(index);
                }
            }
        }

        /// Backoff: each recovery strictly lengthens the streak the next degradation needs
        /// (until the cap), and quiet windows bring it back down.
        #[test]
        fn backoff_lengthens_after_each_recovery_and_decays(factor in 1.0f64..3.0, base in 1u32..5, cap in 1u32..40, reset in 300i64..400) {
            let mut rules = default_rules();
            rules.steps = vec![StepRules { consecutive_windows: base, ..DEFAULT_STEP }; 2];
            rules.backoff = Some(Backoff { factor, max_windows: cap, reset_after_windows: reset });
            let mut machine = Machine::new(&rules);
            let mut index = 0;
            let mut needed_before = rules.degrade_windows(0, 0);
            for _ in 0..6 {
                // Degrade, then recover at once: a flap.
                loop {
                    index += 1;
                    if machine.decide(&rules, index, -1.0, 0.0).unwrap().change.is_some() { break; }
                }
                index += 1;
                let change = machine.decide(&rules, index, 1.0, 2.0).unwrap().change.unwrap();
                proptest::prop_assert!(change.to < change.from);
                let needed = rules.degrade_windows(0, machine.backoff_level);
                if needed_before < cap.max(base) {
                    proptest::prop_assert!(needed > needed_before, "{} then {}", needed_before, needed);
                } else {
                    proptest::prop_assert_eq!(needed, cap.max(base));
                }
                needed_before = needed;
            }
            let level = machine.backoff_level;
            // Quiet, good windows: one level forgiven per `reset` windows.
            index += reset;
            machine.decide(&rules, index, 1.0, 2.0).unwrap();
            proptest::prop_assert_eq!(machine.backoff_level, level - 1);
            index += reset * 100;
            machine.decide(&rules, index, 1.0, 2.0).unwrap();
            proptest::prop_assert_eq!(machine.backoff_level, 0);
            proptest::prop_assert_eq!(rules.degrade_windows(0, 0), base);
        }
    }

    #[test]
    fn each_gap_policy_on_a_hand_made_series() {
        // Two negative windows, a gap of two windows, one negative window.
        let series = [(1, -1.0, 0.0), (2, -1.0, 0.0), (5, -1.0, 0.0)];
        let run = |gap_policy| {
            let rules = Rules { gap_policy, ..default_rules() };
            let mut machine = Machine::new(&rules);
            let changes: Vec<Option<Reason>> = series
                .iter()
                .map(|&(index, ema1h, ema24h)| {
                    machine.decide(&rules, index, ema1h, ema24h).unwrap().change.map(|c| c.reason)
                })
                .collect();
            (changes, machine.streak, machine.gaps)
        };
        // reset: the gap restarts the streak, so the third negative window is only the first.
        assert_eq!(run(GapPolicy::Reset), (vec![None, None, None], 1, 1));
        // hold: the streak survives the gap, so the third negative window degrades.
        let degraded = Some(Reason::Degraded { threshold: 0.0, windows: 3 });
        assert_eq!(run(GapPolicy::Hold), (vec![None, None, degraded], 0, 1));
        // degrade, gap (2 windows) longer than max_gap (1 window): the gap is the third negative
        // window and degrades on its own.
        let window = default_rules().window_micros;
        assert_eq!(
            run(GapPolicy::Degrade { max_gap_micros: window }),
            (vec![None, None, Some(Reason::GapDegraded { max_gap_micros: window, missing: 2 })], 0, 1)
        );
        // degrade, gap not longer than max_gap: like reset.
        assert_eq!(run(GapPolicy::Degrade { max_gap_micros: 2 * window }), (vec![None, None, None], 1, 1));
        // After a good window a gap is still bad news, but one negative window is not three.
        let rules = Rules { gap_policy: GapPolicy::Degrade { max_gap_micros: 0 }, ..default_rules() };
        let mut machine = Machine::new(&rules);
        machine.decide(&rules, 1, 1.0, 0.0).unwrap();
        machine.decide(&rules, 3, 1.0, 0.0).unwrap();
        assert_eq!(machine.streak, 0, "a good window after the gap ends the streak the gap began");
    }

    #[test]
    fn a_held_change_happens_once_it_is_allowed() {
        let mut rules = default_rules();
        rules.steps[1].min_dwell_micros = 3 * rules.window_micros;
        let mut machine = Machine::new(&rules);
        for index in 1..=3 {
            machine.decide(&rules, index, -1.0, 0.0).unwrap();
        }
        assert_eq!((machine.profile, machine.entered_window), (1, Some(3)));
        let held = machine.decide(&rules, 4, 1.0, 2.0).unwrap();
        assert_eq!(held.held.map(|(change, by)| (change.to, by)), Some((0, HeldBy::MinDwell)));
        assert_eq!(machine.decide(&rules, 5, 1.0, 2.0).unwrap().change, None);
        assert_eq!(machine.decide(&rules, 6, 1.0, 2.0).unwrap().change.map(|c| c.to), Some(0));
    }

    #[test]
    fn windows_must_move_forward() {
        let rules = default_rules();
        let mut machine = Machine::new(&rules);
        machine.apply(&rules, 5, 0.0, 0.0).unwrap();
        assert_eq!(machine.apply(&rules, 5, 0.0, 0.0), Err(WindowNotAfterLast { window: 5, last: 5 }));
        assert_eq!(machine.apply(&rules, 4, 0.0, 0.0), Err(WindowNotAfterLast { window: 4, last: 5 }));
    }

    #[test]
    fn windows_are_numbered_by_their_close() {
        let rules = default_rules();
        let minute = 60_000_000;
        assert_eq!(rules.window_of(30 * minute), 1);
        assert_eq!(rules.window_of(30 * minute + 1), 2);
        assert_eq!(rules.window_of(1), 1);
        assert_eq!(rules.window_of(0), 0);
        assert_eq!(rules.window_of(-1), 0);
        assert_eq!(rules.close_of(2), 60 * minute);
        assert_eq!(rules.window_label(), "30m");
    }

    #[test]
    fn reasons_read_like_the_log_line() {
        let reason = Reason::Degraded { threshold: 0.0, windows: 3 };
        assert_eq!(reason.describe("30m"), "ema1h < 0.0 for 3 consecutive 30m windows");
        assert_eq!(Reason::Recovered { threshold: 1.5, windows: 1 }.describe("30m"), "ema24h >= 1.5");
        assert_eq!(
            Reason::Recovered { threshold: 1.5, windows: 2 }.describe("1h"),
            "ema24h >= 1.5 for 2 consecutive 1h windows"
        );
    }
}
