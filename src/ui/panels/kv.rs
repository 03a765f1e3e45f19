//! The kv store: stores, keys (sorted, prefix filter, recent changes
//! highlighted), the selected value as a tree, and editing as JSON
//! (validated before it is saved).

use std::time::Instant;

use super::json_view::{count_label, json_tree_ui};
use crate::engine::command::Command;
use crate::ui::model::ordered_json::JsonNode;
use crate::ui::state::AppState;

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
        let now = Instant::now();
        let highlight = ui.visuals().warn_fg_color;
        ui.columns(2, |columns| {
            let [keys_ui, value_ui] = columns else { return };
            egui::ScrollArea::vertical()
                .id_salt("kv_keys")
                .auto_shrink([false, false])
                .show(keys_ui, |ui| {
                    for (key, _) in state.kv.entries_with_prefix(&self.prefix) {
                        let strength = state.kv.highlight(&store, key, now);
                        let lost = state.kv.lost_update(&store, key).map(str::to_owned);
                        let shown = if lost.is_some() {
                            format!("{key} (lost update)")
                        } else {
                            key.clone()
                        };
                        let mut text = egui::RichText::new(shown).monospace();
                        if strength > 0.0 {
                            text = text.background_color(highlight.gamma_multiply(strength * 0.5));
                        }
                        if lost.is_some() {
                            text = text.color(ui.visuals().warn_fg_color);
                        }
                        let is_selected = self.selected_key.as_deref() == Some(key.as_str());
                        let row = ui.selectable_label(is_selected, text);
                        let row = match &lost {
                            Some(warning) => row.on_hover_text(warning),
                            None => row,
                        };
                        if row.clicked() {
                            self.selected_key = Some(key.clone());
                            self.is_editing = false;
                        }
                    }
                });
            self.value_ui(value_ui, state, &store);
        });
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
        ui.horizontal(|ui| {
            ui.strong(&key);
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
        ui.horizontal(|ui| {
            let key_label = ui.label("New key");
            ui.add(egui::TextEdit::singleline(&mut self.new_key).desired_width(120.0))
                .labelled_by(key_label.id);
            let value_label = ui.label("New value (JSON)");
            let value_edit = ui
                .add(
                    egui::TextEdit::singleline(&mut self.new_value)
                        .hint_text("{\"name\": \"ann\"}")
                        .desired_width((ui.available_width() - 50.0).clamp(80.0, 260.0)),
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
