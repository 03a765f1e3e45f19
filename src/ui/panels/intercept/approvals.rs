//! "Hold new connections": a breakpoint on connect. Held connections wait
//! for Accept or Deny (Deny answers 401) with a countdown to the automatic
//! deny; below them, how every wait ended.

use super::super::{combo_ui, format_clock, format_duration, short_id};
use crate::core::events::{ApprovalDecision, ApprovalOutcome, ApprovalStage};
use crate::core::query::format_query;
use crate::engine::EngineHandle;
use crate::engine::command::Command;
use crate::ui::state::AppState;

/// What a denied client reads in the 401.
const DENY_REASON: &str = "not approved in the sockscope window";

/// Connection approvals UI state.
#[derive(Default)]
pub struct ApprovalsSection;

fn stage_hint(stage: ApprovalStage) -> &'static str {
    match stage {
        ApprovalStage::BeforeConnectHandler => {
            "The connect handler runs only once you accept; Deny leaves no trace in the handlers."
        }
        ApprovalStage::AfterConnectHandler => {
            "The connect handler already ran and accepted; Deny runs the disconnect handler."
        }
    }
}

impl ApprovalsSection {
    pub fn ui(&mut self, ui: &mut egui::Ui, state: &mut AppState, engine: &EngineHandle) {
        let mut holding = engine.is_holding_connections();
        let stage = engine.approval_stage();
        ui.horizontal_wrapped(|ui| {
            if ui
                .checkbox(&mut holding, "Hold new connections")
                .on_hover_text("Every new connection waits here for your decision")
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
            let mut chosen = stage;
            combo_ui(ui, "approval_stage", "wait", stage.label(), |ui| {
                for stage in [
                    ApprovalStage::BeforeConnectHandler,
                    ApprovalStage::AfterConnectHandler,
                ] {
                    ui.selectable_value(&mut chosen, stage, stage.label());
                }
            })
            .on_hover_text(stage_hint(stage));
            if chosen != stage {
                state.settings.approval_stage = chosen;
                state.command(
                    format!("hold connections {}", chosen.label()),
                    Command::SetApprovalStage(chosen),
                );
            }
            let timeout_label = ui.label("deny undecided after");
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
        });
        ui.weak(stage_hint(stage));
        self.pending_ui(ui, state, engine, holding);
        self.history_ui(ui, state);
    }

    fn pending_ui(
        &mut self,
        ui: &mut egui::Ui,
        state: &mut AppState,
        engine: &EngineHandle,
        holding: bool,
    ) {
        let pending = engine.pending_approvals();
        if pending.is_empty() {
            ui.weak(if holding {
                "Nobody is waiting."
            } else {
                "Connections are not held; turning holding off lets waiting ones in."
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
            state.command("accept all held connections", Command::AcceptAllApprovals);
        }
        let now = chrono::Utc::now();
        // Who it is, then the decision: the buttons stay in view in a
        // narrow pane; where it came from last.
        egui::Grid::new("approvals")
            .striped(true)
            .num_columns(6)
            .show(ui, |ui| {
                for title in ["id", "query", "", "waiting", "path", "from"] {
                    ui.strong(title);
                }
                ui.end_row();
                for waiting in pending {
                    ui.monospace(short_id(&waiting.connection_id))
                        .on_hover_text(waiting.connection_id.to_string());
                    ui.label(format_query(&waiting.query));
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
                    ui.label(format!(
                        "{} (denied in {})",
                        format_duration(now - waiting.since),
                        format_duration(waiting.deadline - now)
                    ))
                    .on_hover_text(format!("held {}", waiting.stage.label()));
                    ui.label(&waiting.path);
                    ui.label(waiting.remote_addr.to_string());
                    ui.end_row();
                }
            });
    }

    fn history_ui(&mut self, ui: &mut egui::Ui, state: &mut AppState) {
        let count = state.approvals.records().len();
        let header = egui::CollapsingHeader::new(format!("Decisions ({count})"))
            .id_salt("approval_history")
            .default_open(true);
        header.show(ui, |ui| {
            if state.approvals.is_empty() {
                ui.weak("How each held connection's wait ended shows here, newest first.");
                return;
            }
            if ui.small_button("Clear decisions").clicked() {
                state.approvals.clear();
                return;
            }
            // The decision last, cut at the pane's edge (a deny's reason can
            // be long; all of it on hover).
            egui::Grid::new("approval_history_grid")
                .striped(true)
                .num_columns(5)
                .show(ui, |ui| {
                    for title in ["when", "connection", "path and query", "by", "decision"] {
                        ui.strong(title);
                    }
                    ui.end_row();
                    for record in state.approvals.records() {
                        ui.label(format_clock(record.at));
                        ui.monospace(short_id(&record.connection_id))
                            .on_hover_text(record.connection_id.to_string());
                        let target = if record.query.is_empty() {
                            record.path.clone()
                        } else {
                            format!("{}?{}", record.path, record.query)
                        };
                        ui.label(target)
                            .on_hover_text(format!("held {}", record.stage.label()));
                        ui.label(record.resolution.by.label());
                        let decision = match &record.resolution.outcome {
                            ApprovalOutcome::Denied(reason) => format!("denied: {reason}"),
                            _ => record.resolution.outcome_label().to_owned(),
                        };
                        ui.add(egui::Label::new(decision).truncate())
                            .on_hover_text(record.resolution.to_string());
                        ui.end_row();
                    }
                });
        });
    }
}
