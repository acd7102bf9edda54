//! `--sweep KEY=V1,V2,…`: replay one input under every combination of settings.
//!
//! The input is read and parsed once; each batch of samples is shared (behind an `Arc`) with
//! worker threads, each of which runs its share of the combinations. Memory stays bounded: a
//! few batches in flight per worker, no copy of the series.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::sync_channel;

use anyhow::{Result, anyhow, bail};
use serde::Serialize;

use super::config::ConfigFile;
use super::input::{self, Sample, SeriesKind};
use super::rules::Rules;
use super::simulate::Simulation;
use super::{TOOL, round6};
use crate::outcome::Verdict;
use crate::output::{Marker, Report, Style};

/// More combinations than this is a typo, not a tuning session.
const MAX_COMBINATIONS: usize = 10_000;

/// The checked combinations, in the order the flags list them (first key varies slowest).
pub(crate) struct SweepPlan {
    keys: Vec<String>,
    combinations: Vec<Combination>,
}

struct Combination {
    values: Vec<String>,
    rules: Rules,
}

impl SweepPlan {
    pub(crate) fn new(config: &ConfigFile, origin: &str, sweeps: &[String]) -> Result<SweepPlan> {
        let mut axes: Vec<(String, Vec<String>)> = Vec::new();
        for sweep in sweeps {
            let Some((key, values)) = sweep.split_once('=') else {
                bail!("--sweep {sweep:?} needs the form KEY=V1,V2,… (e.g. consecutive_windows=2,3,4)");
            };
            let key = key.trim().to_string();
            if axes.iter().any(|(seen, _)| *seen == key) {
                bail!("--sweep {key} is given twice; list all its values in one flag");
            }
            let values: Vec<String> = values.split(',').map(|value| value.trim().to_string()).collect();
            if values.iter().any(String::is_empty) {
                bail!("--sweep {sweep:?} has an empty value; separate values with single commas");
            }
            // Check the key (and each value) once, with a message naming the flag.
            for value in &values {
                config.clone().set(&key, value).map_err(|error| anyhow!("--sweep {error}"))?;
            }
            axes.push((key, values));
        }
        let total = axes.iter().try_fold(1usize, |total, (_, values)| total.checked_mul(values.len()));
        match total {
            Some(total) if total <= MAX_COMBINATIONS => {}
            _ => bail!("--sweep gives more than {MAX_COMBINATIONS} combinations; sweep fewer values at once"),
        }
        let mut combinations = vec![Vec::new()];
        for (_, values) in &axes {
            combinations = combinations
                .into_iter()
                .flat_map(|prefix: Vec<String>| {
                    values.iter().map(move |value| {
                        let mut next = prefix.clone();
                        next.push(value.clone());
                        next
                    })
                })
                .collect();
        }
        let keys: Vec<String> = axes.into_iter().map(|(key, _)| key).collect();
        let combinations = combinations
            .into_iter()
            .map(|mut values| {
                let mut variant = config.clone();
                for (key, value) in keys.iter().zip(&values) {
                    variant.set(key, value)?;
                }
                if keys.iter().any(|key| key == "gap_policy") && variant.drop_max_gap_unless_degrade() {
                    // Shown as not applying rather than as a value the combination ignores.
                    if let Some(index) = keys.iter().position(|key| key == "max_gap") {
                        values[index] = "-".to_string();
                    }
                }
                let label: Vec<String> =
                    keys.iter().zip(&values).map(|(key, value)| format!("{key}={value}")).collect();
                let rules = variant.rules(&format!("{origin} with --sweep {}", label.join(" ")))?;
                Ok(Combination { values, rules })
            })
            .collect::<Result<Vec<_>>>()?;
        // Combinations that only differed in a dropped max_gap are one combination.
        let mut seen = std::collections::HashSet::new();
        let combinations: Vec<Combination> =
            combinations.into_iter().filter(|combination| seen.insert(combination.values.clone())).collect();
        Ok(SweepPlan { keys, combinations })
    }
}

/// What one combination ended with.
#[derive(Debug, Clone, Serialize)]
struct Outcome {
    settings: BTreeMap<String, String>,
    policy_applied_count: u64,
    windows_seen: u64,
    gaps: u64,
    /// Windows that ended in a profile more conservative than the start one.
    conservative_windows: u64,
    conservative_share: f64,
    /// Time spent in a profile more conservative than the start one (windows × window length).
    conservative_seconds: u64,
    /// Changes that undid the previous change within 6 h.
    flaps: u64,
    final_profile: String,
}

fn outcome(keys: &[String], combination: &Combination, simulation: &Simulation) -> Outcome {
    let rules = &combination.rules;
    let conservative_windows: u64 = simulation
        .windows_per_profile
        .iter()
        .enumerate()
        .filter(|(profile, _)| rules.is_conservative(*profile))
        .map(|(_, windows)| windows)
        .sum();
    let machine = simulation.machine;
    Outcome {
        settings: keys.iter().cloned().zip(combination.values.iter().cloned()).collect(),
        policy_applied_count: machine.policy_applied_count,
        windows_seen: machine.windows_seen,
        gaps: machine.gaps,
        conservative_windows,
        conservative_share: if machine.windows_seen == 0 {
            0.0
        } else {
            round6(conservative_windows as f64 / machine.windows_seen as f64)
        },
        conservative_seconds: conservative_windows.saturating_mul((rules.window_micros / 1_000_000) as u64),
        flaps: simulation.flaps,
        final_profile: rules.profiles[machine.profile].name.clone(),
    }
}

fn feed_all(simulations: &mut [(usize, Simulation)], batch: &[Sample]) {
    for (_, simulation) in simulations.iter_mut() {
        for sample in batch {
            simulation.feed(sample, &mut |_| {});
        }
    }
}

/// Reads the input once and runs every combination, spread over the available cores.
pub(crate) fn run(plan: &SweepPlan, input_path: &Path) -> Result<SweepReport> {
    let (source, input_name, format) = input::open(input_path)?;
    let cores = crate::stats::available_cores();
    let workers = cores.min(plan.combinations.len()).max(1);
    let mut outcomes: Vec<Option<Outcome>> = vec![None; plan.combinations.len()];
    let share = |worker: usize| -> Vec<(usize, Simulation)> {
        (worker..plan.combinations.len())
            .step_by(workers)
            .map(|index| (index, Simulation::new(&plan.combinations[index].rules)))
            .collect()
    };
    let info = if workers == 1 {
        let mut simulations = share(0);
        let info = input::read_series(source, &input_name, format, |batch| {
            feed_all(&mut simulations, batch);
            Ok(())
        })?;
        for (index, simulation) in &mut simulations {
            simulation.finish(&mut |_| {});
            outcomes[*index] = Some(outcome(&plan.keys, &plan.combinations[*index], simulation));
        }
        info
    } else {
        std::thread::scope(|scope| -> Result<_> {
            let mut senders = Vec::with_capacity(workers);
            let mut handles = Vec::with_capacity(workers);
            for worker in 0..workers {
                let (sender, receiver) = sync_channel::<Arc<Vec<Sample>>>(4);
                senders.push(sender);
                let mut simulations = share(worker);
                handles.push(scope.spawn(move || {
                    for batch in receiver {
                        feed_all(&mut simulations, &batch);
                    }
                    simulations
                        .iter_mut()
                        .map(|(index, simulation)| {
                            simulation.finish(&mut |_| {});
                            (*index, outcome(&plan.keys, &plan.combinations[*index], simulation))
                        })
                        .collect::<Vec<_>>()
                }));
            }
            let read = input::read_series(source, &input_name, format, |batch| {
                let shared = Arc::new(batch.to_vec());
                for sender in &senders {
                    sender.send(Arc::clone(&shared)).map_err(|_| anyhow!("a sweep worker stopped"))?;
                }
                Ok(())
            });
            drop(senders);
            for handle in handles {
                let results = handle.join().map_err(|_| anyhow!("a sweep worker panicked"))?;
                for (index, result) in results {
                    outcomes[index] = Some(result);
                }
            }
            read
        })?
    };
    Ok(SweepReport {
        input: input_name,
        rows: info.rows,
        series: info.kind,
        keys: plan.keys.clone(),
        combinations: outcomes.into_iter().map(|outcome| outcome.expect("every combination ran")).collect(),
    })
}

#[derive(Debug, Serialize)]
pub(crate) struct SweepReport {
    input: String,
    rows: u64,
    series: SeriesKind,
    keys: Vec<String>,
    combinations: Vec<Outcome>,
}

impl Report for SweepReport {
    fn marker(&self) -> Marker {
        Marker::new(TOOL, Verdict::Pass, "EDGE_SWEEP", format!("{}_combinations", self.combinations.len()))
    }

    fn write_text(&self, out: &mut dyn Write, style: &Style) -> io::Result<()> {
        let mut header: Vec<String> = self.keys.clone();
        header.extend(
            ["changes", "flaps", "conservative", "time conservative", "final profile"].map(String::from),
        );
        let rows: Vec<Vec<String>> = self
            .combinations
            .iter()
            .map(|outcome| {
                let mut row: Vec<String> =
                    self.keys.iter().map(|key| outcome.settings[key].clone()).collect();
                row.push(outcome.policy_applied_count.to_string());
                row.push(outcome.flaps.to_string());
                row.push(format!("{:.1}%", outcome.conservative_share * 100.0));
                row.push(crate::units::format_duration(std::time::Duration::from_secs(
                    outcome.conservative_seconds,
                )));
                row.push(outcome.final_profile.clone());
                row
            })
            .collect();
        let widths: Vec<usize> = (0..header.len())
            .map(|column| {
                rows.iter().map(|row| row[column].len()).chain([header[column].len()]).max().unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| -> String {
            cells
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        };
        writeln!(out, "{}", style.bold(&line(&header)))?;
        for row in &rows {
            writeln!(out, "{}", line(row))?;
        }
        writeln!(out, "{} combinations over {} rows of {}", self.combinations.len(), self.rows, self.input)
    }
}
