//! JSON as a collapsible tree, pretty text, or a hex dump for binary frames.

use crate::core::events::Payload;
use crate::ui::model::composer::hex_dump;
use crate::ui::model::ordered_json::JsonNode;

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
            selectable_monospace(ui, hex_dump(bytes));
        }
        Payload::Text(text) => match (view, JsonNode::parse(text)) {
            (PayloadView::Tree, Some(node)) => json_tree_ui(ui, &node, id_salt),
            (PayloadView::Pretty, Some(node)) => selectable_monospace(ui, node.to_pretty()),
            (PayloadView::Hex, _) => selectable_monospace(ui, hex_dump(text.as_bytes())),
            (_, None) => selectable_monospace(ui, text.to_string()),
        },
    }
}

fn selectable_monospace(ui: &mut egui::Ui, text: String) {
    ui.add(egui::Label::new(egui::RichText::new(text).monospace()).selectable(true));
}

/// The payload as text: a text frame as sent, a binary frame decoded as
/// UTF-8 where it can be.
pub fn payload_text(payload: &Payload) -> String {
    match payload {
        Payload::Text(text) => text.to_string(),
        Payload::Binary(bytes) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// The payload as indented JSON (keys in their order), if it is JSON.
pub fn payload_json(payload: &Payload) -> Option<String> {
    match payload {
        Payload::Text(text) => JsonNode::parse(text).map(|node| node.to_pretty()),
        Payload::Binary(_) => None,
    }
}

/// The payload's bytes as a hex dump.
pub fn payload_hex(payload: &Payload) -> String {
    match payload {
        Payload::Text(text) => hex_dump(text.as_bytes()),
        Payload::Binary(bytes) => hex_dump(bytes),
    }
}

/// "Copy as text / JSON / hex" buttons (in a toolbar or a context menu).
/// Returns whether something was copied.
pub fn copy_buttons_ui(ui: &mut egui::Ui, payload: &Payload) -> bool {
    let mut copied = None;
    if ui.button("Copy text").clicked() {
        copied = Some(payload_text(payload));
    }
    let json = payload_json(payload);
    let is_json = json.is_some();
    if ui
        .add_enabled(is_json, egui::Button::new("Copy JSON"))
        .on_disabled_hover_text("This message is not JSON")
        .clicked()
    {
        copied = json;
    }
    if ui.button("Copy hex").clicked() {
        copied = Some(payload_hex(payload));
    }
    match copied {
        Some(text) => {
            ui.ctx().copy_text(text);
            true
        }
        None => false,
    }
}

/// `1 key`, `2 keys`.
pub fn count_label(count: usize, one: &str, many: &str) -> String {
    if count == 1 {
        format!("1 {one}")
    } else {
        format!("{count} {many}")
    }
}

/// A collapsible tree of `node`, keys in their written order.
pub fn json_tree_ui(ui: &mut egui::Ui, node: &JsonNode, id_salt: impl egui::AsIdSalt) {
    ui.push_id(id_salt, |ui| node_ui(ui, None, node, 0));
}

fn scalar_text(node: &JsonNode) -> egui::RichText {
    let text = egui::RichText::new(node.to_compact()).monospace();
    match node {
        JsonNode::String(_) => text.color(egui::Color32::from_rgb(0x8b, 0xc3, 0x4a)),
        JsonNode::Number(_) => text.color(egui::Color32::from_rgb(0xff, 0xa7, 0x26)),
        JsonNode::Bool(_) | JsonNode::Null => text.color(egui::Color32::from_rgb(0x64, 0xb5, 0xf6)),
        _ => text,
    }
}

fn node_ui(ui: &mut egui::Ui, key: Option<&str>, node: &JsonNode, depth: usize) {
    let label = |summary: String| match key {
        Some(key) => format!("{key}: {summary}"),
        None => summary,
    };
    // Siblings may repeat a key: the position keeps their ids apart.
    match node {
        JsonNode::Object(entries) => {
            egui::CollapsingHeader::new(label(format!(
                "{{…}} {}",
                count_label(entries.len(), "key", "keys")
            )))
            .id_salt((depth, key))
            .default_open(depth < 2)
            .show(ui, |ui| {
                for (index, (child_key, child)) in entries.iter().take(MAX_CHILDREN).enumerate() {
                    ui.push_id(index, |ui| node_ui(ui, Some(child_key), child, depth + 1));
                }
                if entries.len() > MAX_CHILDREN {
                    ui.weak(format!("… {} more", entries.len() - MAX_CHILDREN));
                }
            });
        }
        JsonNode::Array(items) => {
            egui::CollapsingHeader::new(label(format!(
                "[…] {}",
                count_label(items.len(), "item", "items")
            )))
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
                ui.add(egui::Label::new(scalar_text(scalar)).selectable(true));
            });
        }
    }
}
