//! Console output and script errors, with a level filter.

use super::{format_time, short_id};
use crate::core::events::LogLevel;
use crate::ui::state::AppState;

/// Log panel UI state.
pub struct LogPanel {
    min_level: LogLevel,
    only_selected_connection: bool,
}

impl Default for LogPanel {
    fn default() -> Self {
        Self {
            min_level: LogLevel::Debug,
            only_selected_connection: false,
        }
    }
}

fn level_label(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    }
}

impl LogPanel {
    /// Draws the panel (and marks errors as seen).
    pub fn ui(&mut self, ui: &mut egui::Ui, state: &mut AppState) {
        state.logs.mark_seen();
        ui.horizontal(|ui| {
            super::combo_ui(
                ui,
                "log_level",
                "Level at least",
                level_label(self.min_level),
                |ui| {
                    for level in [
                        LogLevel::Debug,
                        LogLevel::Info,
                        LogLevel::Warn,
                        LogLevel::Error,
                    ] {
                        ui.selectable_value(&mut self.min_level, level, level_label(level));
                    }
                },
            );
            ui.add_enabled(
                state.selected_connection.is_some(),
                egui::Checkbox::new(
                    &mut self.only_selected_connection,
                    "Selected connection only",
                ),
            );
            if ui.button("Clear").clicked() {
                state.logs.clear();
            }
        });
        let connection = if self.only_selected_connection {
            state.selected_connection
        } else {
            None
        };
        let lines = state.logs.filtered(self.min_level, connection);
        let row_height = ui.text_style_height(&egui::TextStyle::Monospace) + 2.0;
        let colors = [
            ui.visuals().weak_text_color(),
            ui.visuals().text_color(),
            ui.visuals().warn_fg_color,
            ui.visuals().error_fg_color,
        ];
        egui::ScrollArea::vertical()
            .stick_to_bottom(true)
            .auto_shrink([false, false])
            .show_rows(ui, row_height, lines.len(), |ui, range| {
                for line in &lines[range] {
                    let color = colors[line.level as usize];
                    let connection = line.connection_id.as_ref().map_or("-".to_owned(), short_id);
                    let location = line
                        .location
                        .as_ref()
                        .map_or(String::new(), |location| format!(" at {location}"));
                    ui.colored_label(
                        color,
                        egui::RichText::new(format!(
                            "{} {:5} {connection:8} {}{location}",
                            format_time(line.at),
                            level_label(line.level),
                            line.message
                        ))
                        .monospace(),
                    );
                }
            });
    }
}
