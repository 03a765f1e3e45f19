//! Messages per second in and out, and live connections, over the last minutes.

use egui_plot::{Legend, Line, Plot, PlotPoints};

use crate::ui::state::AppState;

/// Draws the plot.
pub fn ui(ui: &mut egui::Ui, state: &mut AppState) {
    let samples: Vec<_> = state.rates.samples().copied().collect();
    if samples.is_empty() {
        ui.weak("Collecting: one sample per second.");
        return;
    }
    let series = |value: fn(&crate::ui::model::rates::RateSample) -> f64| -> PlotPoints<'static> {
        samples
            .iter()
            .map(|sample| [sample.seconds, value(sample)])
            .collect()
    };
    let half = ui.available_height() / 2.0 - 8.0;
    ui.label("Messages per second");
    Plot::new("rates")
        .height(half.max(80.0))
        .legend(Legend::default())
        .include_y(0.0)
        .allow_scroll(false)
        .x_axis_label("seconds")
        .show(ui, |plot| {
            plot.line(Line::new(
                "in (client to server)",
                series(|sample| sample.in_per_second),
            ));
            plot.line(Line::new(
                "out (server to client)",
                series(|sample| sample.out_per_second),
            ));
        });
    ui.label("Live connections");
    Plot::new("connections")
        .height(half.max(80.0))
        .include_y(0.0)
        .allow_scroll(false)
        .x_axis_label("seconds")
        .show(ui, |plot| {
            plot.line(Line::new(
                "connections",
                series(|sample| sample.connections as f64),
            ));
        });
}
