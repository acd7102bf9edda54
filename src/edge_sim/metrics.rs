//! `edge-sim --state … --prom-file`: the live step's state as a Prometheus textfile — which
//! profile the bot runs with (a 0/1 gauge per profile of the ladder), how many times the policy
//! changed, the current streaks, and the last window applied.
//!
//! The values come from the live step's report as its `--format json` document has them (the
//! same contract the bot reads), so this view cannot disagree with the printed one.

use anyhow::{Context as _, Result};
use chrono::{DateTime, Utc};

use super::rules::Rules;
use super::state::{LiveReport, LiveStep};
use crate::prometheus::{Exposition, MetricType, unix_seconds};

pub(super) fn live_exposition(
    rules: &Rules,
    step: &LiveStep,
    report: &LiveReport,
    now: DateTime<Utc>,
) -> Result<Exposition> {
    let document = serde_json::to_value(report).context("cannot turn the live step's report into metrics")?;
    let number = |key: &str| document[key].as_f64().unwrap_or(0.0);
    let current = document["profile"]["name"].as_str().unwrap_or_default();
    let mut names: Vec<&str> = rules.profiles.iter().map(|profile| profile.name.as_str()).collect();
    names.sort_unstable();
    let profiles: Vec<_> =
        names.iter().map(|name| (vec![("profile", *name)], f64::from(u8::from(*name == current)))).collect();
    let close_micros = rules.close_of(rules.window_of(step.ts));
    let mut exposition = Exposition::new();
    exposition
        .metric(
            "mmops_edge_sim_profile",
            "1 for the profile the edge sentinel runs with now, 0 for the other profiles of the ladder.",
            MetricType::Gauge,
            &profiles,
        )
        .single(
            "mmops_edge_sim_policy_changes_total",
            "Profile switches the live step gave the bot since the state file was created, re-sends and pins included; never decreases.",
            MetricType::Counter,
            number("profile_switches"),
        )
        .single(
            "mmops_edge_sim_degrade_streak_windows",
            "Adjacent windows so far with ema1h below the threshold (toward a more conservative profile).",
            MetricType::Gauge,
            number("streak"),
        )
        .single(
            "mmops_edge_sim_recovery_streak_windows",
            "Adjacent windows so far with ema24h at or above the recovery threshold (toward the start profile).",
            MetricType::Gauge,
            number("recovery_streak"),
        )
        .single(
            "mmops_edge_sim_windows_total",
            "Windows applied since the state file was created.",
            MetricType::Counter,
            number("windows_seen"),
        )
        .single(
            "mmops_edge_sim_gaps_total",
            "Gaps (one or more missing windows) since the state file was created.",
            MetricType::Counter,
            number("gaps"),
        )
        .single(
            "mmops_edge_sim_last_window_timestamp_seconds",
            "Close of the last window applied (Unix seconds).",
            MetricType::Gauge,
            close_micros as f64 / 1e6,
        )
        .single(
            "mmops_edge_sim_last_run_timestamp_seconds",
            "When the last live step ran (Unix seconds).",
            MetricType::Gauge,
            unix_seconds(now),
        );
    Ok(exposition)
}
