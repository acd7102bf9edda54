//! Time-aware exponential moving averages of raw edge samples, as the bot computes its
//! `mm_edge_bps_ema1h` / `mm_edge_bps_ema24h` gauges.
//!
//! A new sample `x` arriving `Δt` after the previous one moves the average by a weight of
//! `1 - exp(-Δt/τ)`: `ema += (1 - exp(-Δt/τ)) · (x - ema)`, with τ = 1 h and 24 h. The first
//! sample seeds both averages. Samples usually come at a fixed interval, so the two weights are
//! cached per Δt and the exponentials are only computed when the interval changes.

/// τ of the short average, in microseconds.
const ONE_HOUR_MICROS: f64 = 3_600_000_000.0;
/// τ of the long average, in microseconds.
const ONE_DAY_MICROS: f64 = 24.0 * ONE_HOUR_MICROS;

/// The pair of averages over one stream of samples.
#[derive(Debug, Clone)]
pub(crate) struct EdgeEmas {
    last_ts: Option<i64>,
    ema1h: f64,
    ema24h: f64,
    cached_interval: i64,
    weight1h: f64,
    weight24h: f64,
}

impl EdgeEmas {
    pub(crate) fn new() -> EdgeEmas {
        EdgeEmas { last_ts: None, ema1h: 0.0, ema24h: 0.0, cached_interval: 0, weight1h: 0.0, weight24h: 0.0 }
    }

    /// Feeds a sample at `ts` (microseconds, never earlier than the previous one) and returns
    /// `(ema1h, ema24h)` after it.
    #[inline]
    pub(crate) fn update(&mut self, ts: i64, edge_bps: f64) -> (f64, f64) {
        match self.last_ts {
            None => {
                self.ema1h = edge_bps;
                self.ema24h = edge_bps;
            }
            Some(last) => {
                let interval = ts - last;
                if interval != self.cached_interval {
                    self.cached_interval = interval;
                    self.weight1h = weight(interval, ONE_HOUR_MICROS);
                    self.weight24h = weight(interval, ONE_DAY_MICROS);
                }
                self.ema1h = step(self.ema1h, self.weight1h, edge_bps);
                self.ema24h = step(self.ema24h, self.weight24h, edge_bps);
            }
        }
        self.last_ts = Some(ts);
        (self.ema1h, self.ema24h)
    }
}

/// `ema + weight · (x - ema)`. For samples near ±f64::MAX the difference overflows to ±inf and
/// the average became inf, then NaN for good — and NaN compares false with every threshold, so
/// a series of hugely negative edge never switched. Then the same average is taken as the
/// convex combination `(1 - weight) · ema + weight · x`, which stays between the two finite
/// values; ordinary samples keep their exact bits.
#[inline]
fn step(ema: f64, weight: f64, sample: f64) -> f64 {
    let next = ema + weight * (sample - ema);
    if next.is_finite() { next } else { (1.0 - weight) * ema + weight * sample }
}

/// `1 - exp(-Δt/τ)`, computed as `-expm1(-Δt/τ)` so tiny intervals keep their precision.
fn weight(interval_micros: i64, tau_micros: f64) -> f64 {
    -(-(interval_micros as f64) / tau_micros).exp_m1()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000_000;

    #[test]
    fn samples_near_the_largest_double_stay_finite() {
        let mut emas = EdgeEmas::new();
        emas.update(0, 1e308);
        for minute in 1..=10 {
            let (ema1h, ema24h) = emas.update(minute * 30 * MINUTE, -1e308);
            assert!(ema1h.is_finite() && ema24h.is_finite(), "{minute}: {ema1h} {ema24h}");
        }
        let (ema1h, ema24h) = emas.update(330 * MINUTE, -1e308);
        assert!(ema1h < -9e307 && ema24h < 7e307, "{ema1h} {ema24h}");
        // A repeated timestamp (weight 0) keeps the average.
        assert_eq!(emas.update(330 * MINUTE, f64::MAX), (ema1h, ema24h));
    }

    #[test]
    fn seeded_by_the_first_sample() {
        let mut emas = EdgeEmas::new();
        assert_eq!(emas.update(0, 2.5), (2.5, 2.5));
    }

    // Values computed by hand: after one hour, a step from 0 to 1 moves ema1h by 1 - e^-1
    // = 0.6321205588285577 and ema24h by 1 - e^(-1/24) = 0.040810542890861806
    #[test]
    fn one_hour_step_matches_closed_form() {
        let mut emas = EdgeEmas::new();
        emas.update(0, 0.0);
        let (ema1h, ema24h) = emas.update(60 * MINUTE, 1.0);
        assert!((ema1h - 0.632_120_558_828_557_7).abs() < 1e-15, "{ema1h}");
        assert!((ema24h - 0.040_810_542_890_861_806).abs() < 1e-15, "{ema24h}");
    }

    #[test]
    fn irregular_intervals_use_their_own_weights() {
        // Two 30-minute steps equal one 60-minute step for a constant input.
        let mut split = EdgeEmas::new();
        split.update(0, 0.0);
        split.update(30 * MINUTE, 1.0);
        let (a, b) = split.update(60 * MINUTE, 1.0);
        assert!((a - 0.632_120_558_828_557_7).abs() < 1e-15);
        assert!((b - 0.040_810_542_890_861_806).abs() < 1e-15);
        // A repeated timestamp has weight 0: the sample does not move the averages.
        assert_eq!(split.update(60 * MINUTE, 100.0), (a, b));
    }
}
