//! `--plot FILE.svg`: ema1h and ema24h over time on a background shaded by the profile in
//! force, the thresholds as dashed lines, and every profile change marked and labelled.
//!
//! Drawn with plotters' SVG backend (text is left to the SVG viewer's fonts). The recorder keeps
//! at most a few thousand points whatever the input length: when it fills up, neighbouring
//! points are merged (keeping the range of ema1h as a band), so memory stays flat.

use anyhow::{Result, anyhow};
use chrono::{DateTime, Utc};
use plotters::prelude::*;

use super::Transition;
use super::rules::Rules;
use super::simulate::WindowOutcome;

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
}

impl ChartRecorder {
    pub(crate) fn new() -> ChartRecorder {
        ChartRecorder { points: Vec::new(), stride: 1, in_point: 0 }
    }

    pub(crate) fn record(&mut self, window: &WindowOutcome) {
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

/// The chart as SVG text.
pub(crate) fn render(
    recorder: &ChartRecorder,
    rules: &Rules,
    transitions: &[Transition],
    title: &str,
) -> Result<String> {
    let points = &recorder.points;
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return Err(anyhow!("no windows to plot"));
    };
    let start = first.first_close - rules.window_micros;
    let end = last.close.max(start + rules.window_micros);

    let mut degrade_thresholds: Vec<f64> = Vec::new();
    let mut recover_thresholds: Vec<f64> = Vec::new();
    for (index, step) in rules.steps.iter().enumerate() {
        if index + 1 < rules.profiles.len() && !degrade_thresholds.contains(&step.ema1h_threshold) {
            degrade_thresholds.push(step.ema1h_threshold);
        }
        if index > rules.start && !recover_thresholds.contains(&step.ema24h_recovery_threshold) {
            recover_thresholds.push(step.ema24h_recovery_threshold);
        }
    }
    let values = points
        .iter()
        .flat_map(|point| [point.low1h, point.high1h, point.ema24h])
        .chain(degrade_thresholds.iter().copied())
        .chain(recover_thresholds.iter().copied());
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
        let date_format = if span_hours > 24.0 * 3.0 { "%m-%d" } else { "%m-%d %H:%M" };
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
        for transition in transitions {
            segments.push((from, transition.ts_micros, profile));
            from = transition.ts_micros;
            profile = rules.profile_index(&transition.to).unwrap_or(profile);
        }
        segments.push((from, end, profile));
        chart
            .draw_series(segments.iter().map(|&(from, to, profile)| {
                Rectangle::new(
                    [(instant(from), y_low), (instant(to), y_high)],
                    profile_colour(rules, profile).filled(),
                )
            }))
            .map_err(error)?;

        chart
            .configure_mesh()
            .x_labels(10)
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

        for threshold in &degrade_thresholds {
            chart
                .draw_series(DashedLineSeries::new(
                    [(instant(start), *threshold), (instant(end), *threshold)],
                    8,
                    5,
                    DEGRADE_COLOUR.stroke_width(2),
                ))
                .map_err(error)?
                .label(format!("degrade: ema1h < {threshold:?}"))
                .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], DEGRADE_COLOUR.stroke_width(2)));
        }
        for threshold in &recover_thresholds {
            chart
                .draw_series(DashedLineSeries::new(
                    [(instant(start), *threshold), (instant(end), *threshold)],
                    8,
                    5,
                    RECOVER_COLOUR.stroke_width(2),
                ))
                .map_err(error)?
                .label(format!("recover: ema24h >= {threshold:?}"))
                .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RECOVER_COLOUR.stroke_width(2)));
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
        let label_changes = transitions.len() <= 24;
        for transition in transitions {
            let at = instant(transition.ts_micros);
            let degraded = rules.profile_index(&transition.to) > rules.profile_index(&transition.from);
            let colour = if degraded { DEGRADE_COLOUR } else { RECOVER_COLOUR };
            chart
                .draw_series(LineSeries::new([(at, y_low), (at, y_high)], colour.mix(0.7).stroke_width(2)))
                .map_err(error)?;
            chart
                .draw_series(std::iter::once(Circle::new((at, transition.ema1h), 5, colour.filled())))
                .map_err(error)?;
            if label_changes {
                let arrow = if degraded { "▼" } else { "▲" };
                chart
                    .draw_series(std::iter::once(Text::new(
                        format!("{arrow} {} {}", transition.to, at.format("%m-%d %H:%M")),
                        (at, y_high - padding * 0.4),
                        ("sans-serif", 14).into_font().color(&colour),
                    )))
                    .map_err(error)?;
            }
        }

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
