//! Console output and script errors, with a level filter.

use super::{format_time, short_id};
use crate::core::events::LogLevel;
use crate::ui::state::AppState;

/// Log panel UI state.
pub struct LogPanel {
    min_level: LogLevel,
    only_selected_connection: bool,
    search: String,
}

impl Default for LogPanel {
    fn default() -> Self {
        Self {
            min_level: LogLevel::Debug,
            only_selected_connection: false,
            search: String::new(),
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
        // Wrapped: at 900 px Search and Clear went past the pane's edge.
        ui.horizontal_wrapped(|ui| {
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
            let search_label = ui.label("Search");
            ui.add(
                egui::TextEdit::singleline(&mut self.search)
                    .hint_text("text in the message or location")
                    .desired_width(160.0),
            )
            .labelled_by(search_label.id);
            if ui.button("Clear").clicked() {
                state.logs.clear();
            }
        });
        let connection = if self.only_selected_connection {
            state.selected_connection
        } else {
            None
        };
        let mut lines = state.logs.filtered(self.min_level, connection);
        let search = self.search.trim().to_lowercase();
        if !search.is_empty() {
            lines.retain(|line| {
                line.message.to_lowercase().contains(&search)
                    || line
                        .location
                        .as_ref()
                        .is_some_and(|location| location.to_string().contains(&search))
            });
        }
        let row_height = ui.text_style_height(&egui::TextStyle::Monospace) + 2.0;
        let colors = [
            ui.visuals().weak_text_color(),
            ui.visuals().text_color(),
            ui.visuals().warn_fg_color,
            ui.visuals().error_fg_color,
        ];
        let mut jump_to = None;
        // Sideways too: a long line (a lost update names three places) is
        // not cut at the pane's edge.
        egui::ScrollArea::both()
            .stick_to_bottom(true)
            .auto_shrink([false, false])
            .show_rows(ui, row_height, lines.len(), |ui, range| {
                for line in &lines[range] {
                    let color = colors[line.level as usize];
                    let connection = line.connection_id.as_ref().map_or("-".to_owned(), short_id);
                    ui.horizontal(|ui| {
                        ui.colored_label(
                            color,
                            egui::RichText::new(format!(
                                "{} {:5} {connection:8}",
                                format_time(line.at),
                                level_label(line.level),
                            ))
                            .monospace(),
                        );
                        // The location before the message: a long message
                        // would push the link out of sight.
                        if let Some(location) = &line.location {
                            let link = ui
                                .link(egui::RichText::new(format!("at {location}")).monospace())
                                .on_hover_text("Show this line in the Script panel");
                            if link.clicked() {
                                jump_to = Some(location.clone());
                            }
                        }
                        // Places named in the text (a lost update names
                        // three) are links too.
                        let clicked = super::locations::text_with_links_ui(
                            ui,
                            &line.message,
                            false,
                            |text| egui::RichText::new(text).monospace().color(color),
                        );
                        jump_to = jump_to.take().or(clicked);
                    });
                }
            });
        if let Some(location) = jump_to {
            state.reveal_location(&location);
        }
    }
}
