//! The small numeric helpers several tools share, one home each: the median (Python's
//! `statistics.median`, which the reference formulas use), rounding to 6 decimals, and how many
//! workers a parallel step may start.

/// `statistics.median`: the middle value, or the mean of the two middle values for an even
/// count; `None` when there are no values. NaN sorts last (`total_cmp`), so callers filter it.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 { sorted[middle] } else { (sorted[middle - 1] + sorted[middle]) / 2.0 })
}

/// Rounds to 6 decimals, as the reference formula does for each readiness section and the score.
pub fn round6(value: f64) -> f64 {
    (value * 1e6).round() / 1e6
}

/// The CPUs this process may use (1 when the system cannot say).
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// [`available_cores`] kept within `min..=max`: the default worker count of a parallel step.
pub fn worker_count(min: usize, max: usize) -> usize {
    available_cores().clamp(min, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_rounding_match_the_reference() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(round6(1.0 / 3.0), 0.333333);
        assert_eq!(round6(2.5), 2.5);
        assert!((1..=8).contains(&worker_count(1, 8)));
        assert_eq!(worker_count(3, 3), 3);
    }
}
