//! Replaying a series through the rules: samples are grouped into windows (the last row of a
//! window counts) and each window's close is applied to the [`Machine`]. Pure and streaming: the
//! batch run, the sweep and the tests drive it with any sequence of samples.

use super::input::Sample;
use super::pins::Pin;
use super::rules::{Change, HeldBy, Machine, Reason, Rules};

/// One closed window and what it did.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WindowOutcome {
    /// Position among the windows seen (0-based).
    pub position: u64,
    /// The window's close, microseconds since 1970.
    pub close: i64,
    pub ema1h: f64,
    pub ema24h: f64,
    /// The state after the window (its profile is the one in force from this close on).
    pub machine: Machine,
    pub change: Option<Change>,
    /// A change that was due but held back (`min_dwell`, a pin).
    pub held: Option<(Change, HeldBy)>,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    index: i64,
    close: i64,
    ema1h: f64,
    ema24h: f64,
}

/// The rules applied to a stream of samples.
pub(crate) struct Simulation<'r> {
    rules: &'r Rules,
    pub machine: Machine,
    pending: Option<Pending>,
    /// Windows seen that ended in each profile (same index as the ladder).
    pub windows_per_profile: Vec<u64>,
    /// Changes that undid the change before them within [`FLAP_WINDOW_MICROS`].
    pub flaps: u64,
    last_change: Option<(i64, usize, usize)>,
    /// `--pins`, in time order; the ones before `next_pin` are applied.
    pins: &'r [Pin],
    next_pin: usize,
}

/// A change reversed within this long counts as a flap (6 h).
pub(crate) const FLAP_WINDOW_MICROS: i64 = 6 * 3_600_000_000;

impl<'r> Simulation<'r> {
    pub(crate) fn new(rules: &'r Rules) -> Simulation<'r> {
        Simulation {
            rules,
            machine: Machine::new(rules),
            pending: None,
            windows_per_profile: vec![0; rules.profiles.len()],
            flaps: 0,
            last_change: None,
            pins: &[],
            next_pin: 0,
        }
    }

    /// The same replay with operator pins applied as `--pin` would have applied them.
    pub(crate) fn with_pins(rules: &'r Rules, pins: &'r [Pin]) -> Simulation<'r> {
        Simulation { pins, ..Simulation::new(rules) }
    }

    /// Applies the pins that start by `close`, as the live `--pin` does: the profile is set and
    /// the change counted. Returns the change of the last pin applied, if it changed the profile.
    fn apply_pins(&mut self, close: i64) -> Option<Change> {
        let mut change = None;
        while let Some(pin) = self.pins.get(self.next_pin).filter(|pin| pin.from <= close) {
            self.next_pin += 1;
            if pin.until < close {
                // Over before this window closed (it fell in a gap): nothing to hold.
                continue;
            }
            let machine = &mut self.machine;
            if machine.profile != pin.profile {
                change = Some(Change {
                    from: machine.profile,
                    to: pin.profile,
                    reason: Reason::Pinned { until: pin.until },
                });
                machine.profile = pin.profile;
                machine.streak = 0;
                machine.recovery_streak = 0;
                machine.policy_applied_count = machine.policy_applied_count.saturating_add(1);
                if self.rules.uses_min_dwell() {
                    machine.entered_window = machine.last_window;
                }
            }
            machine.pinned_until = Some(pin.until);
        }
        change
    }

    /// Feeds one sample (timestamps never go backwards; the reader guarantees it).
    #[inline]
    pub(crate) fn feed(&mut self, sample: &Sample, on_window: &mut impl FnMut(&WindowOutcome)) {
        if let Some(pending) = &mut self.pending
            && sample.ts <= pending.close
        {
            // Same window: the last row counts.
            pending.ema1h = sample.ema1h;
            pending.ema24h = sample.ema24h;
            return;
        }
        self.close_pending(on_window);
        let index = self.rules.window_of(sample.ts);
        self.pending = Some(Pending {
            index,
            close: self.rules.close_of(index),
            ema1h: sample.ema1h,
            ema24h: sample.ema24h,
        });
    }

    /// Closes the last window; call once at the end of the input.
    pub(crate) fn finish(&mut self, on_window: &mut impl FnMut(&WindowOutcome)) {
        self.close_pending(on_window);
    }

    fn close_pending(&mut self, on_window: &mut impl FnMut(&WindowOutcome)) {
        let Some(pending) = self.pending.take() else { return };
        let position = self.machine.windows_seen;
        let pinned = self.apply_pins(pending.close);
        // Windows arrive in increasing order here, so `apply` cannot refuse one.
        let Ok(mut decision) = self.machine.decide(self.rules, pending.index, pending.ema1h, pending.ema24h)
        else {
            return;
        };
        if pinned.is_some() {
            // A pin in force holds every change of its first window, so the pin is the change.
            decision.change = decision.change.or(pinned);
        }
        self.windows_per_profile[self.machine.profile] += 1;
        if let Some(change) = decision.change {
            if let Some((close, from, to)) = self.last_change
                && change.from == to
                && change.to == from
                && pending.close - close <= FLAP_WINDOW_MICROS
            {
                self.flaps += 1;
            }
            self.last_change = Some((pending.close, change.from, change.to));
        }
        on_window(&WindowOutcome {
            position,
            close: pending.close,
            ema1h: pending.ema1h,
            ema24h: pending.ema24h,
            machine: self.machine,
            change: decision.change,
            held: decision.held,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge_sim::rules::tests::default_rules;

    const MINUTE: i64 = 60_000_000;

    #[test]
    fn several_rows_in_one_window_the_last_counts() {
        let rules = default_rules();
        let mut simulation = Simulation::new(&rules);
        let mut closed = Vec::new();
        let samples = [
            // Window closing at 30m: a negative row then a positive one -> positive counts.
            Sample { ts: 5 * MINUTE, ema1h: -1.0, ema24h: 0.0 },
            Sample { ts: 30 * MINUTE, ema1h: 1.0, ema24h: 0.0 },
            Sample { ts: 31 * MINUTE, ema1h: -1.0, ema24h: 0.0 },
            Sample { ts: 61 * MINUTE, ema1h: 1.0, ema24h: 0.0 },
            Sample { ts: 89 * MINUTE, ema1h: -1.0, ema24h: 0.0 },
        ];
        for sample in &samples {
            simulation.feed(sample, &mut |window| closed.push((window.close / MINUTE, window.ema1h)));
        }
        simulation.finish(&mut |window| closed.push((window.close / MINUTE, window.ema1h)));
        assert_eq!(closed, [(30, 1.0), (60, -1.0), (90, -1.0)]);
        assert_eq!(simulation.machine.windows_seen, 3);
        assert_eq!(simulation.machine.streak, 2);
        assert_eq!(simulation.windows_per_profile, [3, 0]);
    }

    #[test]
    fn a_change_undone_within_six_hours_is_a_flap() {
        let rules = default_rules();
        let mut simulation = Simulation::new(&rules);
        let window = 30 * MINUTE;
        // Degrade at window 3, recover at 4 (flap), degrade at 7 (flap), then 20 quiet
        // Conservative windows (10 h) before recovering: not a flap.
        let mut ema = |index: i64, ema1h: f64, ema24h: f64| {
            simulation.feed(&Sample { ts: index * window, ema1h, ema24h }, &mut |_| {});
        };
        for index in 1..=3 {
            ema(index, -1.0, 0.0);
        }
        ema(4, -1.0, 2.0);
        for index in 5..=7 {
            ema(index, -1.0, 0.0);
        }
        for index in 8..=27 {
            ema(index, -1.0, 1.0);
        }
        ema(28, 1.0, 2.0);
        simulation.finish(&mut |_| {});
        assert_eq!((simulation.machine.policy_applied_count, simulation.flaps), (4, 2));
    }
}
