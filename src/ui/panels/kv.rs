//! The kv store: stores, keys (sorted, prefix filter, recent changes
//! highlighted), the selected value as a tree, and editing as JSON
//! (validated before it is saved).

use std::time::Instant;

use egui_extras::{Column, TableBuilder};

use super::json_view::{count_label, json_tree_ui};
use super::{cell, format_bytes};
use crate::engine::command::Command;
use crate::ui::model::kv_view::KvEntry;
use crate::ui::model::ordered_json::JsonNode;
use crate::ui::state::AppState;

/// Below this pane width the value shows under the key table, not beside it.
const SIDE_BY_SIDE_WIDTH: f32 = 600.0;

/// KV panel UI state.
#[derive(Default)]
pub struct KvPanel {
    prefix: String,
    selected_key: Option<String>,
    editor: String,
    editor_key: Option<String>,
    editor_error: Option<String>,
    new_key: String,
    new_value: String,
    new_error: Option<String>,
    is_editing: bool,
}

impl KvPanel {
    /// Draws the panel.
    pub fn ui(&mut self, ui: &mut egui::Ui, state: &mut AppState) {
        if state.engine.is_none() {
            ui.weak("The server is not running.");
            return;
        }
        ui.horizontal(|ui| {
            let stores = state.kv.stores().to_vec();
            let selected = state.kv.selected_store().unwrap_or("").to_owned();
            super::combo_ui(
                ui,
                "kv_store",
                "Store",
                if selected.is_empty() {
                    "(no stores yet)"
                } else {
                    selected.as_str()
                },
                |ui| {
                    for store in &stores {
                        if ui.selectable_label(*store == selected, store).clicked()
                            && *store != selected
                        {
                            state.kv.select_store(store);
                            state.load_kv_store(store.clone());
                            self.selected_key = None;
                        }
                    }
                },
            );
            let prefix_label = ui.label("Key prefix");
            ui.add(egui::TextEdit::singleline(&mut self.prefix).desired_width(140.0))
                .labelled_by(prefix_label.id);
            if ui.button("Refresh").clicked() {
                state.refresh_kv();
            }
        });
        if let Some(error) = &state.kv.load_error {
            ui.colored_label(
                ui.visuals().error_fg_color,
                format!("Cannot read the kv store: {error}"),
            );
        }
        let Some(store) = state.kv.selected_store().map(str::to_owned) else {
            ui.weak("No kv store has been written yet. Handlers create stores with kv(name).allow(...).set(...).");
            return;
        };
        // The Add row sits above the key list, which takes the rest of the
        // panel: below it, it was pushed out of sight by a long list.
        self.add_ui(ui, state, &store);
        ui.label(count_label(
            state.kv.entries_with_prefix(&self.prefix).count(),
            "key",
            "keys",
        ));
        ui.separator();
        // The key list takes the larger share: it is the Redis-GUI style
        // table (key, type, size, value preview) users scan. A narrow pane
        // puts the value under the table, so the table keeps its width.
        let value_margin = egui::Margin::symmetric(6, 4);
        if ui.available_width() >= SIDE_BY_SIDE_WIDTH {
            egui_extras::StripBuilder::new(ui)
                .size(egui_extras::Size::relative(0.62))
                .size(egui_extras::Size::remainder())
                .horizontal(|mut strip| {
                    strip.cell(|ui| self.keys_ui(ui, state, &store));
                    strip.cell(|ui| {
                        egui::Frame::new()
                            .inner_margin(value_margin)
                            .show(ui, |ui| {
                                self.value_ui(ui, state, &store);
                            });
                    });
                });
        } else {
            egui_extras::StripBuilder::new(ui)
                .size(egui_extras::Size::relative(0.55))
                .size(egui_extras::Size::remainder())
                .vertical(|mut strip| {
                    strip.cell(|ui| self.keys_ui(ui, state, &store));
                    strip.cell(|ui| {
                        ui.separator();
                        egui::Frame::new()
                            .inner_margin(value_margin)
                            .show(ui, |ui| {
                                self.value_ui(ui, state, &store);
                            });
                    });
                });
        }
    }

    /// The key table: key, JSON type, size and a one-line value preview,
    /// virtualised, with keys handlers just changed lit up.
    fn keys_ui(&mut self, ui: &mut egui::Ui, state: &mut AppState, store: &str) {
        let now = Instant::now();
        let highlight = ui.visuals().warn_fg_color;
        let weak = ui.visuals().weak_text_color();
        let row_height = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
        let entries: Vec<(&String, &KvEntry)> =
            state.kv.entries_with_prefix(&self.prefix).collect();
        let mut clicked = None;
        egui::ScrollArea::horizontal()
            .id_salt("kv_keys_hscroll")
            .show(ui, |ui| {
                TableBuilder::new(ui)
                    .id_salt("kv_key_columns")
                    .striped(true)
                    .resizable(true)
                    .sense(egui::Sense::click())
                    .auto_shrink([false, false])
                    .column(Column::initial(100.0).at_least(50.0).clip(true))
                    .column(Column::initial(52.0).at_least(36.0).clip(true))
                    .column(Column::initial(56.0).at_least(36.0).clip(true))
                    .column(Column::remainder().at_least(80.0).clip(true))
                    .header(row_height, |mut header| {
                        for (title, hover) in [
                            ("key", "Sorted; filter them with Key prefix"),
                            ("type", "The value's JSON type"),
                            ("size", "Size of the stored JSON"),
                            (
                                "value",
                                "The value on one line (select the key for all of it)",
                            ),
                        ] {
                            header.col(|ui| {
                                ui.strong(title).on_hover_text(hover);
                            });
                        }
                    })
                    .body(|body| {
                        body.rows(row_height, entries.len(), |mut table_row| {
                            let Some(&(key, entry)) = entries.get(table_row.index()) else {
                                return;
                            };
                            table_row
                                .set_selected(self.selected_key.as_deref() == Some(key.as_str()));
                            let strength = state.kv.highlight(store, key, now);
                            let lost = state.kv.lost_update(store, key);
                            table_row.col(|ui| {
                                let shown = if lost.is_some() {
                                    format!("{key} (lost update)")
                                } else {
                                    key.clone()
                                };
                                let mut text = egui::RichText::new(shown).monospace();
                                if strength > 0.0 {
                                    text = text
                                        .background_color(highlight.gamma_multiply(strength * 0.5));
                                }
                                if lost.is_some() {
                                    text = text.color(ui.visuals().warn_fg_color);
                                }
                                let cell = cell(ui, text);
                                match lost {
                                    Some(warning) => cell.on_hover_text(warning),
                                    None => cell.on_hover_text(key.as_str()),
                                };
                            });
                            table_row.col(|ui| {
                                cell(ui, egui::RichText::new(entry.kind.label()).color(weak));
                            });
                            table_row.col(|ui| {
                                cell(ui, format_bytes(entry.size_bytes() as u64));
                            });
                            table_row.col(|ui| {
                                cell(ui, egui::RichText::new(&entry.preview).monospace());
                            });
                            if table_row.response().clicked() {
                                clicked = Some(key.clone());
                            }
                        });
                    });
            });
        if let Some(key) = clicked {
            self.selected_key = Some(key);
            self.is_editing = false;
        }
    }

    fn value_ui(&mut self, ui: &mut egui::Ui, state: &mut AppState, store: &str) {
        let Some(key) = self.selected_key.clone() else {
            ui.weak("Select a key to see its value.");
            return;
        };
        let Some(value) = state.kv.value(&key).cloned() else {
            ui.weak(format!("'{key}' was deleted."));
            return;
        };
        // The buttons first: a long key (a connection id) would push them
        // out of a narrow column.
        ui.horizontal(|ui| {
            if ui
                .button(if self.is_editing { "View" } else { "Edit" })
                .clicked()
            {
                self.is_editing = !self.is_editing;
            }
            if ui.button("Delete").clicked() {
                state.command(
                    format!("delete {store}/{key}"),
                    Command::KvDelete {
                        store: store.to_owned(),
                        key: key.clone(),
                    },
                );
            }
        });
        ui.add(egui::Label::new(egui::RichText::new(&key).strong().monospace()).wrap());
        if !self.is_editing {
            egui::ScrollArea::both().id_salt("kv_value").show(ui, |ui| {
                match JsonNode::parse(&value) {
                    Some(node) => json_tree_ui(ui, &node, ("kv", &key)),
                    None => {
                        ui.monospace(value.as_ref());
                    }
                }
            });
            return;
        }
        if self.editor_key.as_deref() != Some(key.as_str()) {
            self.editor =
                JsonNode::parse(&value).map_or_else(|| value.to_string(), |node| node.to_pretty());
            self.editor_key = Some(key.clone());
            self.editor_error = None;
        }
        let value_label = ui.label("Value (JSON)");
        ui.add(
            egui::TextEdit::multiline(&mut self.editor)
                .code_editor()
                .desired_rows(8)
                .desired_width(f32::INFINITY),
        )
        .labelled_by(value_label.id);
        ui.horizontal(|ui| {
            if ui.button("Save value").clicked() {
                match serde_json::from_str::<serde_json::Value>(&self.editor) {
                    Ok(parsed) => {
                        self.editor_error = None;
                        state.command(
                            format!("set {store}/{key}"),
                            Command::KvSet {
                                store: store.to_owned(),
                                key: key.clone(),
                                value: parsed,
                            },
                        );
                    }
                    Err(error) => {
                        self.editor_error = Some(format!("not valid JSON, not saved: {error}"))
                    }
                }
            }
        });
        if let Some(error) = &self.editor_error {
            error_ui(ui, error);
        }
    }

    fn add_ui(&mut self, ui: &mut egui::Ui, state: &mut AppState, store: &str) {
        // Wrapped, so a narrow pane moves Add to a second line instead of
        // clipping it.
        ui.horizontal_wrapped(|ui| {
            let key_label = ui.label("New key");
            ui.add(egui::TextEdit::singleline(&mut self.new_key).desired_width(120.0))
                .labelled_by(key_label.id);
            let value_label = ui.label("New value (JSON)");
            let value_edit = ui
                .add(
                    egui::TextEdit::singleline(&mut self.new_value)
                        .hint_text("{\"name\": \"ann\"}")
                        .desired_width(
                            (ui.available_size_before_wrap().x - 50.0).clamp(80.0, 260.0),
                        ),
                )
                .labelled_by(value_label.id);
            if ui.button("Add").clicked()
                || (value_edit.lost_focus()
                    && ui.input(|input| input.key_pressed(egui::Key::Enter)))
            {
                if self.new_key.is_empty() {
                    self.new_error = Some("the key must not be empty".to_owned());
                } else {
                    match serde_json::from_str::<serde_json::Value>(&self.new_value) {
                        Ok(value) => {
                            self.new_error = None;
                            state.command(
                                format!("set {store}/{}", self.new_key),
                                Command::KvSet {
                                    store: store.to_owned(),
                                    key: self.new_key.clone(),
                                    value,
                                },
                            );
                            self.selected_key = Some(std::mem::take(&mut self.new_key));
                            self.new_value.clear();
                        }
                        Err(error) => self.new_error = Some(format!("not valid JSON: {error}")),
                    }
                }
            }
        });
        if let Some(error) = &self.new_error {
            error_ui(ui, error);
        }
    }
}

/// An error that wraps inside its column instead of running past it.
fn error_ui(ui: &mut egui::Ui, error: &str) {
    ui.add(egui::Label::new(egui::RichText::new(error).color(ui.visuals().error_fg_color)).wrap());
}
