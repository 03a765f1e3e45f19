//! "Hold new connections": a breakpoint on connect. Held connections wait
//! here for Accept or Deny (Deny answers 401), or time out.

use super::{format_duration, short_id};
use crate::core::events::ApprovalDecision;
use crate::core::query::format_query;
use crate::engine::command::Command;
use crate::ui::state::AppState;

/// What a denied client reads in the 401.
const DENY_REASON: &str = "denied in the sockscope window";

/// Approvals panel UI state.
#[derive(Default)]
pub struct ApprovalsPanel;

impl ApprovalsPanel {
    /// Draws the panel.
    pub fn ui(&mut self, ui: &mut egui::Ui, state: &mut AppState) {
        let Some(engine) = state.engine.clone() else {
            ui.weak("The server is not running.");
            return;
        };
        let mut holding = engine.is_holding_connections();
        ui.horizontal(|ui| {
            if ui
                .checkbox(&mut holding, "Hold new connections")
                .on_hover_text(
                    "Every connection the connect handler accepts waits here for your decision",
                )
                .changed()
            {
                state.command(
                    if holding {
                        "hold new connections"
                    } else {
                        "stop holding connections"
                    },
                    Command::SetHoldConnections(holding),
                );
            }
            ui.separator();
            let timeout_label = ui.label("Deny undecided after");
            let mut timeout_secs = engine.approval_timeout().as_secs();
            if ui
                .add(
                    egui::DragValue::new(&mut timeout_secs)
                        .range(1..=3600)
                        .suffix(" s"),
                )
                .labelled_by(timeout_label.id)
                .on_hover_text("Drag or type the seconds a held connection waits")
                .changed()
            {
                state.settings.approval_timeout_secs = timeout_secs;
                state.command(
                    "set the approval timeout",
                    Command::SetApprovalTimeout(std::time::Duration::from_secs(timeout_secs)),
                );
            }
            ui.weak("turning holding off lets waiting connections in");
        });
        let pending = engine.pending_approvals();
        if pending.is_empty() {
            ui.weak(if holding {
                "Nobody is waiting."
            } else {
                "Connections are not held."
            });
            return;
        }
        // The countdowns below tick once a second while anyone waits.
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_secs(1));
        if ui
            .button(format!("Accept all ({})", pending.len()))
            .clicked()
        {
            for waiting in &pending {
                state.resolve_approval(waiting.connection_id, ApprovalDecision::Accept);
            }
        }
        let timeout = chrono::Duration::from_std(engine.approval_timeout()).unwrap_or_default();
        let now = chrono::Utc::now();
        egui::Grid::new("approvals")
            .striped(true)
            .num_columns(6)
            .show(ui, |ui| {
                for title in ["id", "from", "path", "query", "waiting", ""] {
                    ui.strong(title);
                }
                ui.end_row();
                for waiting in pending {
                    ui.monospace(short_id(&waiting.connection_id))
                        .on_hover_text(waiting.connection_id.to_string());
                    ui.label(waiting.remote_addr.to_string());
                    ui.label(&waiting.path);
                    ui.label(format_query(&waiting.query));
                    let waited = now - waiting.since;
                    ui.label(format!(
                        "{} (denied in {})",
                        format_duration(waited),
                        format_duration(timeout - waited)
                    ));
                    ui.horizontal(|ui| {
                        if ui.button("Accept").clicked() {
                            state.resolve_approval(waiting.connection_id, ApprovalDecision::Accept);
                        }
                        if ui.button("Deny").clicked() {
                            state.resolve_approval(
                                waiting.connection_id,
                                ApprovalDecision::Deny(DENY_REASON.to_owned()),
                            );
                        }
                    });
                    ui.end_row();
                }
            });
    }
}
