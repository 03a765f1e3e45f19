//! Messages per second in and out, and live connections, over the last
//! minutes, against the wall clock.

use egui_plot::{Corner, GridMark, Legend, Line, Plot, PlotPoints};

use crate::ui::model::rates::RateSample;
use crate::ui::state::AppState;

/// Draws the plot.
pub fn ui(ui: &mut egui::Ui, state: &mut AppState) {
    let samples: Vec<_> = state.rates.samples().copied().collect();
    if samples.is_empty() {
        ui.weak("Collecting: one sample per second while traffic flows.");
        return;
    }
    // Unix seconds on the x axis, shown as local clock times.
    let started_at = state.rates.started_at().timestamp_millis() as f64 / 1000.0;
    let series = |value: fn(&RateSample) -> f64| -> PlotPoints<'static> {
        samples
            .iter()
            .map(|sample| [started_at + sample.seconds, value(sample)])
            .collect()
    };
    let highest = |value: fn(&RateSample) -> f64| samples.iter().map(value).fold(0.0_f64, f64::max);
    // Two plots, each under a label, fill the panel without running past it.
    let label_height = ui.text_style_height(&egui::TextStyle::Body);
    let spacing = ui.spacing().item_spacing.y;
    let half = (ui.available_height() - 2.0 * label_height - 4.0 * spacing) / 2.0;
    let (in_color, out_color) = super::direction_colors(ui.visuals());
    let rates_top = highest(|sample| sample.in_per_second.max(sample.out_per_second));
    ui.label("Messages per second");
    // No margin below zero (rates are never negative) and the legend on the
    // left, away from the newest samples on the right.
    Plot::new("rates")
        .height(half.max(80.0))
        .legend(Legend::default().position(Corner::LeftTop))
        .set_margin_fraction(egui::vec2(0.02, 0.0))
        .include_y(0.0)
        .include_y(rates_top * 1.15 + 1.0)
        .allow_scroll(false)
        .x_axis_formatter(clock_label)
        .show(ui, |plot| {
            plot.line(
                Line::new(
                    "in (client to server)",
                    series(|sample| sample.in_per_second),
                )
                .color(in_color),
            );
            plot.line(
                Line::new(
                    "out (server to client)",
                    series(|sample| sample.out_per_second),
                )
                .color(out_color),
            );
        });
    let connections_top = highest(|sample| sample.connections as f64);
    ui.label("Live connections");
    Plot::new("connections")
        .height(half.max(80.0))
        .set_margin_fraction(egui::vec2(0.02, 0.0))
        .include_y(0.0)
        .include_y(connections_top * 1.15 + 1.0)
        .allow_scroll(false)
        .x_axis_formatter(clock_label)
        .show(ui, |plot| {
            plot.line(Line::new(
                "connections",
                series(|sample| sample.connections as f64),
            ));
        });
}

fn clock_label(mark: GridMark, _range: &std::ops::RangeInclusive<f64>) -> String {
    let millis = (mark.value * 1000.0) as i64;
    chrono::DateTime::from_timestamp_millis(millis).map_or_else(String::new, |at| {
        at.with_timezone(&chrono::Local)
            .format("%H:%M:%S")
            .to_string()
    })
}
