//! The Intercept tab: everything that waits for the user. Connection
//! approvals (hold new connections before or after their connect handler,
//! with the history of how each wait ended), then message breakpoints and
//! the messages they hold.

mod approvals;
mod breakpoints;

use crate::ui::state::AppState;

/// Intercept tab UI state.
#[derive(Default)]
pub struct InterceptPanel {
    approvals: approvals::ApprovalsSection,
    breakpoints: breakpoints::BreakpointsSection,
}

impl InterceptPanel {
    /// Draws the tab.
    pub fn ui(&mut self, ui: &mut egui::Ui, state: &mut AppState) {
        egui::ScrollArea::vertical()
            .auto_shrink([false; 2])
            .show(ui, |ui| {
                let Some(engine) = state.engine.clone() else {
                    ui.weak("The server is not running.");
                    return;
                };
                ui.heading("Connections");
                self.approvals.ui(ui, state, &engine);
                ui.separator();
                ui.heading("Messages");
                self.breakpoints.ui(ui, state, &engine);
            });
    }
}

/// What waits for a decision now: held connections and held messages
/// (the tab's badge).
pub fn waiting_count(state: &AppState) -> usize {
    state.engine.as_ref().map_or(0, |engine| {
        engine.pending_approvals().len() + engine.held_frames().len()
    })
}
