//! JSON as a collapsible tree, pretty text, or a hex dump for binary frames.

use crate::core::events::Payload;
use crate::ui::model::composer::hex_dump;

/// Children shown per object or array before "… N more".
const MAX_CHILDREN: usize = 200;

/// How a payload is shown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PayloadView {
    /// JSON tree when the text is JSON, plain text otherwise.
    #[default]
    Tree,
    /// Pretty-printed JSON (or the raw text).
    Pretty,
    /// Hex dump (binary frames always use it).
    Hex,
}

/// Shows a payload in the chosen view.
pub fn payload_ui(
    ui: &mut egui::Ui,
    payload: &Payload,
    view: PayloadView,
    id_salt: impl egui::AsIdSalt,
) {
    match payload {
        Payload::Binary(bytes) => {
            ui.monospace(hex_dump(bytes));
        }
        Payload::Text(text) => {
            let parsed = serde_json::from_str::<serde_json::Value>(text).ok();
            match (view, parsed) {
                (PayloadView::Tree, Some(value)) => json_tree_ui(ui, &value, id_salt),
                (PayloadView::Pretty, Some(value)) => {
                    let pretty =
                        serde_json::to_string_pretty(&value).unwrap_or_else(|_| text.to_string());
                    ui.add(
                        egui::Label::new(egui::RichText::new(pretty).monospace()).selectable(true),
                    );
                }
                (PayloadView::Hex, _) => {
                    ui.monospace(hex_dump(text.as_bytes()));
                }
                (_, None) => {
                    ui.add(
                        egui::Label::new(egui::RichText::new(text.as_str()).monospace())
                            .selectable(true),
                    );
                }
            }
        }
    }
}

/// A collapsible tree of `value`.
pub fn json_tree_ui(ui: &mut egui::Ui, value: &serde_json::Value, id_salt: impl egui::AsIdSalt) {
    ui.push_id(id_salt, |ui| node_ui(ui, None, value, 0));
}

fn scalar_text(value: &serde_json::Value) -> egui::RichText {
    let text = egui::RichText::new(value.to_string()).monospace();
    match value {
        serde_json::Value::String(_) => text.color(egui::Color32::from_rgb(0x8b, 0xc3, 0x4a)),
        serde_json::Value::Number(_) => text.color(egui::Color32::from_rgb(0xff, 0xa7, 0x26)),
        serde_json::Value::Bool(_) | serde_json::Value::Null => {
            text.color(egui::Color32::from_rgb(0x64, 0xb5, 0xf6))
        }
        _ => text,
    }
}

fn node_ui(ui: &mut egui::Ui, key: Option<&str>, value: &serde_json::Value, depth: usize) {
    let label = |summary: String| match key {
        Some(key) => format!("{key}: {summary}"),
        None => summary,
    };
    match value {
        serde_json::Value::Object(map) => {
            egui::CollapsingHeader::new(label(format!("{{…}} {} keys", map.len())))
                .id_salt((depth, key))
                .default_open(depth < 2)
                .show(ui, |ui| {
                    for (child_key, child) in map.iter().take(MAX_CHILDREN) {
                        node_ui(ui, Some(child_key), child, depth + 1);
                    }
                    if map.len() > MAX_CHILDREN {
                        ui.weak(format!("… {} more", map.len() - MAX_CHILDREN));
                    }
                });
        }
        serde_json::Value::Array(items) => {
            egui::CollapsingHeader::new(label(format!("[…] {} items", items.len())))
                .id_salt((depth, key))
                .default_open(depth < 2)
                .show(ui, |ui| {
                    for (index, child) in items.iter().take(MAX_CHILDREN).enumerate() {
                        node_ui(ui, Some(&index.to_string()), child, depth + 1);
                    }
                    if items.len() > MAX_CHILDREN {
                        ui.weak(format!("… {} more", items.len() - MAX_CHILDREN));
                    }
                });
        }
        scalar => {
            ui.horizontal(|ui| {
                if let Some(key) = key {
                    ui.monospace(format!("{key}:"));
                }
                ui.label(scalar_text(scalar));
            });
        }
    }
}
