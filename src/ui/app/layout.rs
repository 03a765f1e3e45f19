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
    /// Held connections and messages: approvals, breakpoints, history.
    /// Layouts saved before it was renamed call it `Approvals`.
    #[serde(alias = "Approvals")]
    Intercept,
    /// Built-in test clients.
    Clients,
    /// Console output and errors.
    Log,
    /// Rates over time.
    Plot,
    /// Recorded sessions and replays.
    Sessions,
    /// The user's own services (the real-runtime lane).
    Services,
}

impl Pane {
    /// Every panel, so a saved layout can be checked for ones it lacks.
    pub const ALL: [Pane; 10] = [
        Pane::Connections,
        Pane::Messages,
        Pane::Kv,
        Pane::Script,
        Pane::Intercept,
        Pane::Clients,
        Pane::Log,
        Pane::Plot,
        Pane::Sessions,
        Pane::Services,
    ];
}

/// A saved layout, with any panel it lacks (one saved by an older version
/// lacks newer panels) added as a tab beside the Script panel; the default
/// layout if there is none or nowhere to add them.
pub fn restored_tree(saved: Option<Tree<Pane>>) -> Tree<Pane> {
    let Some(mut tree) = saved else {
        return default_tree();
    };
    for pane in Pane::ALL {
        if tree.tiles.find_pane(&pane).is_none() && !add_beside_script(&mut tree, pane) {
            return default_tree();
        }
    }
    tree
}

/// Adds `pane` to the container of the Script panel (or of the first panel
/// found); false if no panel sits in a container.
fn add_beside_script(tree: &mut Tree<Pane>, pane: Pane) -> bool {
    let neighbours = std::iter::once(Pane::Script).chain(Pane::ALL);
    let Some(parent) = neighbours
        .filter_map(|neighbour| tree.tiles.find_pane(&neighbour))
        .find_map(|tile| tree.tiles.parent_of(tile))
    else {
        return false;
    };
    let added = tree.tiles.insert_pane(pane);
    match tree.tiles.get_mut(parent) {
        Some(egui_tiles::Tile::Container(container)) => {
            container.add_child(added);
            true
        }
        _ => false,
    }
}

/// The layout a new user sees: connections and tools on the left, the
/// timeline and the rest on the right.
pub fn default_tree() -> Tree<Pane> {
    let mut tiles = Tiles::default();
    let left: Vec<TileId> = [Pane::Connections, Pane::Clients, Pane::Intercept]
        .into_iter()
        .map(|pane| tiles.insert_pane(pane))
        .collect();
    let right: Vec<TileId> = [
        Pane::Messages,
        Pane::Kv,
        Pane::Script,
        Pane::Services,
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
                Pane::Intercept => panels.intercept.ui(ui, state),
                Pane::Clients => panels.clients.ui(ui, state),
                Pane::Log => panels.log.ui(ui, state),
                Pane::Plot => crate::ui::panels::plot::ui(ui, state),
                Pane::Sessions => panels.sessions.ui(ui, state),
                Pane::Services => panels.services.ui(ui, state),
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
            Pane::Intercept => match crate::ui::panels::intercept::waiting_count(self.state) {
                0 => "Intercept".into(),
                waiting => egui::RichText::new(format!("Intercept ({waiting} waiting)"))
                    .color(egui::Color32::YELLOW)
                    .into(),
            },
            Pane::Clients => format!("Clients ({})", self.state.clients.len()).into(),
            Pane::Log => match self.state.logs.unseen_errors() {
                0 => "Log".into(),
                1 => egui::RichText::new("Log (1 error)")
                    .color(egui::Color32::LIGHT_RED)
                    .into(),
                errors => egui::RichText::new(format!("Log ({errors} errors)"))
                    .color(egui::Color32::LIGHT_RED)
                    .into(),
            },
            Pane::Plot => "Plot".into(),
            Pane::Services => "Services".into(),
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
    fn a_saved_layout_without_a_newer_panel_gets_it_as_a_tab() {
        let old = Tree::new_tabs(
            egui::Id::unique("old"),
            vec![Pane::Connections, Pane::Messages],
        );
        let old_root = old.root;
        let restored = restored_tree(Some(old));
        assert_eq!(restored.root, old_root, "the saved arrangement is kept");
        assert!(
            Pane::ALL
                .iter()
                .all(|pane| restored.tiles.find_pane(pane).is_some())
        );
        let complete = default_tree();
        let kept = restored_tree(Some(complete.clone()));
        assert_eq!(kept.root, complete.root);
    }

    #[test]
    fn a_layout_saved_before_the_services_panel_keeps_its_shape_and_gains_it_beside_script() {
        let mut saved = default_tree();
        let services = saved
            .tiles
            .find_pane(&Pane::Services)
            .expect("in the default");
        saved.remove_recursively(services);
        let restored = restored_tree(Some(saved.clone()));
        let added = restored
            .tiles
            .find_pane(&Pane::Services)
            .expect("added back");
        let script = restored.tiles.find_pane(&Pane::Script).expect("script");
        assert_eq!(
            restored.tiles.parent_of(added),
            restored.tiles.parent_of(script)
        );
        assert_eq!(restored.root, saved.root);
    }

    #[test]
    fn a_layout_saved_with_the_approvals_tab_loads_it_as_intercept() {
        let saved = default_tree();
        let json = serde_json::to_string(&saved)
            .expect("serialise")
            .replace("\"Intercept\"", "\"Approvals\"");
        assert!(
            json.contains("\"Approvals\""),
            "the old name is in the saved form"
        );
        let read: Tree<Pane> = serde_json::from_str(&json).expect("an old layout reads");
        let restored = restored_tree(Some(read));
        assert_eq!(restored.root, saved.root, "the saved arrangement is kept");
        let intercept = restored
            .tiles
            .find_pane(&Pane::Intercept)
            .expect("the tab is there");
        assert_eq!(
            restored.tiles.parent_of(intercept),
            saved
                .tiles
                .parent_of(saved.tiles.find_pane(&Pane::Intercept).expect("saved"))
        );
    }

    #[test]
    fn a_saved_layout_read_back_from_json_still_loads() {
        // What eframe's storage holds is the serde form of the tree.
        let mut saved = default_tree();
        let services = saved
            .tiles
            .find_pane(&Pane::Services)
            .expect("in the default");
        saved.remove_recursively(services);
        let json = serde_json::to_string(&saved).expect("serialise");
        let read: Tree<Pane> = serde_json::from_str(&json).expect("deserialise");
        let restored = restored_tree(Some(read));
        assert!(restored.tiles.find_pane(&Pane::Services).is_some());
    }
}
