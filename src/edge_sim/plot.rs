//! `--plot FILE.svg`: ema1h and ema24h over time on a background shaded by the profile in
//! force, the thresholds as dashed lines, and every profile change marked and labelled.
//!
//! Drawn with plotters' SVG backend (text is left to the SVG viewer's fonts). The recorder keeps
//! at most a few thousand points whatever the input length: when it fills up, neighbouring
//! points are merged (keeping the range of ema1h as a band), so memory stays flat.

use anyhow::{Result, anyhow};
use chrono::{DateTime, Utc};
use plotters::prelude::*;

use super::rules::Rules;
use super::simulate::WindowOutcome;
use super::transitions::TransitionLog;

/// Points kept before neighbours are merged.
const MAX_POINTS: usize = 2048;
const WIDTH: u32 = 1400;
const HEIGHT: u32 = 720;

#[derive(Debug, Clone, Copy)]
struct Point {
    /// Close of the first and last window in this point.
    first_close: i64,
    close: i64,
    ema1h: f64,
    ema24h: f64,
    low1h: f64,
    high1h: f64,
}

/// Collects the windows for the chart, merging neighbours to stay under [`MAX_POINTS`].
pub(crate) struct ChartRecorder {
    points: Vec<Point>,
    /// Windows per point.
    stride: u64,
    in_point: u64,
    /// Closes of the first and last window of each pinned stretch (at most one per pin).
    pinned: Vec<(i64, i64)>,
    last_pinned: bool,
}

impl ChartRecorder {
    pub(crate) fn new() -> ChartRecorder {
        ChartRecorder { points: Vec::new(), stride: 1, in_point: 0, pinned: Vec::new(), last_pinned: false }
    }

    pub(crate) fn record(&mut self, window: &WindowOutcome) {
        let pinned = window.machine.pinned_until.is_some();
        match self.pinned.last_mut() {
            Some((_, last)) if pinned && self.last_pinned => *last = window.close,
            _ if pinned => self.pinned.push((window.close, window.close)),
            _ => {}
        }
        self.last_pinned = pinned;
        if self.in_point == 0 {
            if self.points.len() == MAX_POINTS {
                self.halve();
            }
            self.points.push(Point {
                first_close: window.close,
                close: window.close,
                ema1h: window.ema1h,
                ema24h: window.ema24h,
                low1h: window.ema1h,
                high1h: window.ema1h,
            });
        } else if let Some(point) = self.points.last_mut() {
            point.close = window.close;
            point.ema1h = window.ema1h;
            point.ema24h = window.ema24h;
            point.low1h = point.low1h.min(window.ema1h);
            point.high1h = point.high1h.max(window.ema1h);
        }
        self.in_point = (self.in_point + 1) % self.stride;
    }

    fn halve(&mut self) {
        let merged = self
            .points
            .chunks(2)
            .map(|pair| {
                let (first, last) = (pair[0], pair[pair.len() - 1]);
                Point {
                    first_close: first.first_close,
                    close: last.close,
                    ema1h: last.ema1h,
                    ema24h: last.ema24h,
                    low1h: first.low1h.min(last.low1h),
                    high1h: first.high1h.max(last.high1h),
                }
            })
            .collect();
        self.points = merged;
        self.stride *= 2;
    }
}

fn add_threshold<'a>(list: &mut Vec<(f64, Vec<&'a str>)>, value: f64, profile: &'a str) {
    match list.iter_mut().find(|(threshold, _)| *threshold == value) {
        Some((_, profiles)) => profiles.push(profile),
        None => list.push((value, vec![profile])),
    }
}

fn instant(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

/// Background colour of each profile: calm green at the start profile, warmer the more
/// conservative, blue for profiles more aggressive than the start.
fn profile_colour(rules: &Rules, profile: usize) -> RGBColor {
    const WARM: [RGBColor; 4] =
        [RGBColor(255, 236, 204), RGBColor(255, 214, 170), RGBColor(255, 190, 170), RGBColor(240, 170, 190)];
    match profile.cmp(&rules.start) {
        std::cmp::Ordering::Equal => RGBColor(226, 242, 226),
        std::cmp::Ordering::Less => RGBColor(218, 232, 250),
        std::cmp::Ordering::Greater => WARM[(profile - rules.start - 1).min(WARM.len() - 1)],
    }
}

const EMA1H_COLOUR: RGBColor = RGBColor(31, 90, 200);
const EMA24H_COLOUR: RGBColor = RGBColor(90, 40, 130);
const DEGRADE_COLOUR: RGBColor = RGBColor(200, 40, 40);
const RECOVER_COLOUR: RGBColor = RGBColor(20, 140, 60);
const GAP_COLOUR: RGBColor = RGBColor(200, 200, 200);
const PIN_COLOUR: RGBColor = RGBColor(110, 60, 160);

/// The chart as SVG text.
pub(crate) fn render(
    recorder: &ChartRecorder,
    rules: &Rules,
    transitions: &TransitionLog,
    title: &str,
) -> Result<String> {
    let points = &recorder.points;
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return Err(anyhow!("no windows to plot"));
    };
    let start = first.first_close - rules.window_micros;
    let end = last.close.max(start + rules.window_micros);

    // Distinct thresholds, each with the profiles it is the exit rule of.
    let mut degrade_thresholds: Vec<(f64, Vec<&str>)> = Vec::new();
    let mut recover_thresholds: Vec<(f64, Vec<&str>)> = Vec::new();
    for (index, step) in rules.steps.iter().enumerate() {
        let name = rules.profiles[index].name.as_str();
        if index + 1 < rules.profiles.len() {
            add_threshold(&mut degrade_thresholds, step.ema1h_threshold, name);
        }
        if index > rules.start {
            add_threshold(&mut recover_thresholds, step.ema24h_recovery_threshold, name);
        }
    }
    let values = points
        .iter()
        .flat_map(|point| [point.low1h, point.high1h, point.ema24h])
        .chain(degrade_thresholds.iter().map(|(threshold, _)| *threshold))
        .chain(recover_thresholds.iter().map(|(threshold, _)| *threshold));
    let (low, high) =
        values.fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), v| (low.min(v), high.max(v)));
    let padding = ((high - low) * 0.08).max(0.1);
    let (y_low, y_high) = (low - padding, high + padding * 2.5);

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let error = |error: DrawingAreaErrorKind<_>| anyhow!("cannot draw the chart: {error:?}");
        root.fill(&WHITE).map_err(error)?;
        let span_hours = (end - start) as f64 / 3.6e9;
        let date_format = match span_hours {
            hours if hours > 24.0 * 300.0 => "%Y-%m-%d",
            hours if hours > 24.0 * 3.0 => "%m-%d",
            _ => "%m-%d %H:%M",
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22).into_font())
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(instant(start)..instant(end), y_low..y_high)
            .map_err(error)?;

        // Profile shading first, so everything else draws over it.
        let mut segments = Vec::new();
        let mut profile = rules.start;
        let mut from = start;
        transitions.each_stored(|stored| {
            segments.push((from, stored.close, profile));
            from = stored.close;
            profile = stored.change.to;
            Ok(())
        })?;
        segments.push((from, end, profile));
        chart
            .draw_series(segments.iter().map(|&(from, to, profile)| {
                Rectangle::new(
                    [(instant(from), y_low), (instant(to), y_high)],
                    profile_colour(rules, profile).filled(),
                )
            }))
            .map_err(error)?;

        // Pinned stretches: tinted over the profile shading, under the lines, from the pin's first window to its expiry.
        for (index, &(from, to)) in recorder.pinned.iter().enumerate() {
            let to = (to + rules.window_micros).min(end);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(instant(from), y_low), (instant(to), y_high)],
                    PIN_COLOUR.mix(0.8).stroke_width(1),
                )))
                .map_err(error)?;
            let series = chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(instant(from), y_low), (instant(to), y_high)],
                    PIN_COLOUR.mix(0.22).filled(),
                )))
                .map_err(error)?;
            if index == 0 {
                series.label("pinned by an operator").legend(|(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 20, y + 6)], PIN_COLOUR.mix(0.22).filled())
                });
            }
        }

        chart
            .configure_mesh()
            .x_labels(16)
            .y_labels(10)
            .x_label_formatter(&|instant| instant.format(date_format).to_string())
            .y_label_formatter(&|value| format!("{value:.1}"))
            .x_desc("window close (UTC)")
            .y_desc("edge (bps)")
            .light_line_style(RGBAColor(0, 0, 0, 0.0))
            .bold_line_style(RGBAColor(0, 0, 0, 0.14))
            .axis_desc_style(("sans-serif", 15))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(error)?;

        // Zero line: the sign of the edge is what matters most.
        chart
            .draw_series(LineSeries::new(
                [(instant(start), 0.0), (instant(end), 0.0)],
                BLACK.mix(0.35).stroke_width(1),
            ))
            .map_err(error)?;

        // One dash pattern per distinct threshold, so two recovery lines stay tell-apart.
        const DASHES: [(u32, u32); 3] = [(8, 5), (3, 4), (16, 4)];
        let threshold_lines = degrade_thresholds
            .iter()
            .enumerate()
            .map(|(index, entry)| {
                (index, entry, DEGRADE_COLOUR, "degrade", "ema1h <", degrade_thresholds.len())
            })
            .chain(recover_thresholds.iter().enumerate().map(|(index, entry)| {
                (index, entry, RECOVER_COLOUR, "recover", "ema24h >=", recover_thresholds.len())
            }));
        for (index, (threshold, names), colour, action, test, distinct) in threshold_lines {
            let (dash, gap) = DASHES[index % DASHES.len()];
            let whose = if distinct > 1 { format!(" (from {})", names.join(", ")) } else { String::new() };
            chart
                .draw_series(DashedLineSeries::new(
                    [(instant(start), *threshold), (instant(end), *threshold)],
                    dash,
                    gap,
                    colour.stroke_width(2),
                ))
                .map_err(error)?
                .label(format!("{action}{whose}: {test} {threshold:?}"))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 8, y), (x + 12, y), (x + 20, y)], colour.stroke_width(2))
                });
        }

        // Lines break across missing windows instead of bridging them; the gap is greyed out.
        let mut runs: Vec<&[Point]> = Vec::new();
        let mut gaps = Vec::new();
        let mut run_start = 0;
        for index in 1..=points.len() {
            if index == points.len()
                || points[index].first_close - points[index - 1].close > rules.window_micros
            {
                runs.push(&points[run_start..index]);
                run_start = index;
                if index < points.len() {
                    gaps.push((points[index - 1].close, points[index].first_close - rules.window_micros));
                }
            }
        }
        for (index, &(from, to)) in gaps.iter().enumerate() {
            let series = chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(instant(from), y_low), (instant(to), y_high)],
                    GAP_COLOUR.filled(),
                )))
                .map_err(error)?;
            if index == 0 {
                series
                    .label("missing windows")
                    .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 20, y + 6)], GAP_COLOUR.filled()));
            }
        }
        if recorder.stride > 1 {
            for run in &runs {
                let band = run
                    .iter()
                    .map(|point| (instant(point.close), point.high1h))
                    .chain(run.iter().rev().map(|point| (instant(point.close), point.low1h)));
                chart
                    .draw_series(std::iter::once(Polygon::new(
                        band.collect::<Vec<_>>(),
                        EMA1H_COLOUR.mix(0.18).filled(),
                    )))
                    .map_err(error)?;
            }
        }
        for (index, run) in runs.iter().enumerate() {
            let series = chart
                .draw_series(LineSeries::new(
                    run.iter().map(|point| (instant(point.close), point.ema1h)),
                    EMA1H_COLOUR.stroke_width(2),
                ))
                .map_err(error)?;
            if index == 0 {
                series
                    .label("ema1h")
                    .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], EMA1H_COLOUR.stroke_width(3)));
            }
        }
        for (index, run) in runs.iter().enumerate() {
            let series = chart
                .draw_series(LineSeries::new(
                    run.iter().map(|point| (instant(point.close), point.ema24h)),
                    EMA24H_COLOUR.stroke_width(3),
                ))
                .map_err(error)?;
            if index == 0 {
                series
                    .label("ema24h")
                    .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], EMA24H_COLOUR.stroke_width(3)));
            }
        }

        // Change points: a vertical rule, a marker on ema1h, and the new profile's name.
        // Labels go on up to four rows at the top, each on the first row where it does not
        // overlap its neighbour; near the right edge they are drawn left of their line.
        let label_changes = transitions.len() <= 40;
        let plot_width = f64::from(WIDTH - 2 * 16 - 64);
        let row_height = (y_high - y_low) * 18.0 / f64::from(HEIGHT - 130);
        let mut row_ends = [f64::NEG_INFINITY; 4];
        transitions.each(|transition| {
            let at = instant(transition.ts_micros);
            let degraded = rules.profile_index(&transition.to) > rules.profile_index(&transition.from);
            let colour = if degraded { DEGRADE_COLOUR } else { RECOVER_COLOUR };
            if label_changes {
                // With many changes the shading already shows them; rules would hide the lines.
                chart
                    .draw_series(LineSeries::new(
                        [(at, y_low), (at, y_high)],
                        colour.mix(0.7).stroke_width(2),
                    ))
                    .map_err(error)?;
            }
            chart
                .draw_series(std::iter::once(Circle::new((at, transition.ema1h), 5, colour.filled())))
                .map_err(error)?;
            if label_changes {
                let arrow = if degraded { "▼" } else { "▲" };
                // The rule that fired, when the rules have anti-flap options (else it is the streak).
                let rule = transition.rule.map(|rule| format!(" [{rule}]")).unwrap_or_default();
                let text = format!("{arrow} {} {}{rule}", transition.to, at.format("%m-%d %H:%M"));
                let width = text.chars().count() as f64 * 7.5 + 6.0;
                let x = (transition.ts_micros - start) as f64 / (end - start) as f64 * plot_width;
                let left = if x + width > plot_width { x - width } else { x + 3.0 };
                let row = (0..row_ends.len()).find(|&row| left >= row_ends[row] + 8.0).unwrap_or_else(|| {
                    (0..row_ends.len()).min_by(|&a, &b| row_ends[a].total_cmp(&row_ends[b])).unwrap_or(0)
                });
                row_ends[row] = left + width;
                let left_instant = start + (left / plot_width * (end - start) as f64) as i64;
                chart
                    .draw_series(std::iter::once(Text::new(
                        text,
                        (instant(left_instant), y_high - padding * 0.3 - row as f64 * row_height),
                        ("sans-serif", 14).into_font().color(&colour),
                    )))
                    .map_err(error)?;
            }
            Ok(())
        })?;

        // Legend entries for the shading.
        let mut shown: Vec<usize> = segments.iter().map(|&(_, _, profile)| profile).collect();
        shown.sort_unstable();
        shown.dedup();
        for profile in shown {
            let colour = profile_colour(rules, profile);
            chart
                .draw_series(std::iter::empty::<Rectangle<(DateTime<Utc>, f64)>>())
                .map_err(error)?
                .label(format!("profile {}", rules.profiles[profile].name))
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 20, y + 6)], colour.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.3))
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(error)?;
        root.present().map_err(error)?;
    }
    Ok(svg)
}
