//! The rearrangeable layout: panes in egui_tiles tabs, remembered between runs.

use egui_tiles::{Behavior, SimplificationOptions, TileId, Tiles, Tree, UiResponse};

use crate::ui::panels::Panels;
use crate::ui::state::AppState;

/// One dockable panel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Pane {
    /// Live and closed connections.
    Connections,
    /// Every frame and lifecycle event.
    Messages,
    /// The kv store.
    Kv,
    /// The handler script.
    Script,
    /// Held connections.
    Approvals,
    /// Built-in test clients.
    Clients,
    /// Console output and errors.
    Log,
    /// Rates over time.
    Plot,
    /// Recorded sessions and replays.
    Sessions,
}

impl Pane {
    /// Every panel, so a saved layout can be checked for ones it lacks.
    pub const ALL: [Pane; 9] = [
        Pane::Connections,
        Pane::Messages,
        Pane::Kv,
        Pane::Script,
        Pane::Approvals,
        Pane::Clients,
        Pane::Log,
        Pane::Plot,
        Pane::Sessions,
    ];
}

/// A saved layout if it still shows every panel (one saved by an older
/// version lacks newer panels), otherwise the default layout.
pub fn restored_tree(saved: Option<Tree<Pane>>) -> Tree<Pane> {
    match saved {
        Some(tree)
            if Pane::ALL
                .iter()
                .all(|pane| tree.tiles.find_pane(pane).is_some()) =>
        {
            tree
        }
        _ => default_tree(),
    }
}

/// The layout a new user sees: connections and tools on the left, the
/// timeline and the rest on the right.
pub fn default_tree() -> Tree<Pane> {
    let mut tiles = Tiles::default();
    let left: Vec<TileId> = [Pane::Connections, Pane::Clients, Pane::Approvals]
        .into_iter()
        .map(|pane| tiles.insert_pane(pane))
        .collect();
    let right: Vec<TileId> = [
        Pane::Messages,
        Pane::Kv,
        Pane::Script,
        Pane::Log,
        Pane::Sessions,
        Pane::Plot,
    ]
    .into_iter()
    .map(|pane| tiles.insert_pane(pane))
    .collect();
    let left = tiles.insert_tab_tile(left);
    let right = tiles.insert_tab_tile(right);
    let root = tiles.insert_horizontal_tile(vec![left, right]);
    // Previews of messages need the width more than the connection table.
    if let Some(egui_tiles::Tile::Container(egui_tiles::Container::Linear(linear))) =
        tiles.get_mut(root)
    {
        linear.shares.set_share(left, 0.44);
        linear.shares.set_share(right, 0.56);
    }
    Tree::new(egui::Id::unique("sockscope_layout"), root, tiles)
}

/// Draws panes with access to the app state.
pub struct PaneBehavior<'a> {
    /// Shared state.
    pub state: &'a mut AppState,
    /// Per-panel UI state.
    pub panels: &'a mut Panels,
}

impl Behavior<Pane> for PaneBehavior<'_> {
    fn pane_ui(&mut self, ui: &mut egui::Ui, _tile_id: TileId, pane: &mut Pane) -> UiResponse {
        egui::Frame::new().inner_margin(6.0).show(ui, |ui| {
            let panels = &mut *self.panels;
            let state = &mut *self.state;
            match pane {
                Pane::Connections => panels.connections.ui(ui, state),
                Pane::Messages => panels.messages.ui(ui, state),
                Pane::Kv => panels.kv.ui(ui, state),
                Pane::Script => panels.script.ui(ui, state),
                Pane::Approvals => panels.approvals.ui(ui, state),
                Pane::Clients => panels.clients.ui(ui, state),
                Pane::Log => panels.log.ui(ui, state),
                Pane::Plot => crate::ui::panels::plot::ui(ui, state),
                Pane::Sessions => panels.sessions.ui(ui, state),
            }
        });
        UiResponse::None
    }

    fn tab_title_for_pane(&mut self, pane: &Pane) -> egui::WidgetText {
        match pane {
            Pane::Connections => {
                format!("Connections ({})", self.state.connections.open_count()).into()
            }
            Pane::Messages => "Messages".into(),
            Pane::Kv => "KV".into(),
            Pane::Script => match (&self.state.script.failure, self.state.script.is_dirty()) {
                (Some(_), _) => egui::RichText::new("Script (error)")
                    .color(egui::Color32::LIGHT_RED)
                    .into(),
                (None, true) => "Script (unsaved)".into(),
                (None, false) => "Script".into(),
            },
            Pane::Approvals => match self
                .state
                .engine
                .as_ref()
                .map(|engine| engine.pending_approvals().len())
            {
                Some(waiting) if waiting > 0 => {
                    egui::RichText::new(format!("Approvals ({waiting} waiting)"))
                        .color(egui::Color32::YELLOW)
                        .into()
                }
                _ => "Approvals".into(),
            },
            Pane::Clients => format!("Clients ({})", self.state.clients.len()).into(),
            Pane::Log => match self.state.logs.unseen_errors() {
                0 => "Log".into(),
                errors => egui::RichText::new(format!("Log ({errors} errors)"))
                    .color(egui::Color32::LIGHT_RED)
                    .into(),
            },
            Pane::Plot => "Plot".into(),
            Pane::Sessions => match &self.state.sessions.recording {
                Some(_) => egui::RichText::new("Sessions (recording)")
                    .color(egui::Color32::LIGHT_RED)
                    .into(),
                None => "Sessions".into(),
            },
        }
    }

    fn simplification_options(&self) -> SimplificationOptions {
        SimplificationOptions {
            all_panes_must_have_tabs: true,
            ..SimplificationOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_layout_without_a_newer_panel_is_replaced() {
        let old = Tree::new_tabs(
            egui::Id::unique("old"),
            vec![Pane::Connections, Pane::Messages],
        );
        let restored = restored_tree(Some(old));
        assert!(
            Pane::ALL
                .iter()
                .all(|pane| restored.tiles.find_pane(pane).is_some())
        );
        let complete = default_tree();
        let kept = restored_tree(Some(complete.clone()));
        assert_eq!(kept.root, complete.root);
    }
}
