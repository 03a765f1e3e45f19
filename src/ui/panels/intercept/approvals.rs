//! "Hold new connections": a breakpoint on connect. Held connections wait
//! for Accept or Deny (Deny answers 401) with a countdown to the automatic
//! deny; below them, how every wait ended.

use egui_extras::{Column, TableBuilder};

use super::super::{cell, combo_ui, format_clock, format_duration};
use crate::core::events::{ApprovalDecision, ApprovalOutcome, ApprovalStage};
use crate::core::query::format_query;
use crate::engine::EngineHandle;
use crate::engine::command::Command;
use crate::ui::model::approvals::ApprovalRecord;
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
        // One wrapped row each, buttons first: a grid is as wide as its
        // widest row and ran past a narrow pane, dragging what follows.
        for waiting in pending {
            ui.separator();
            ui.horizontal_wrapped(|ui| {
                if ui.button("Accept").clicked() {
                    state.resolve_approval(waiting.connection_id, ApprovalDecision::Accept);
                }
                if ui.button("Deny").clicked() {
                    state.resolve_approval(
                        waiting.connection_id,
                        ApprovalDecision::Deny(DENY_REASON.to_owned()),
                    );
                }
                let target = path_and_query(&waiting.path, &format_query(&waiting.query));
                ui.monospace(target).on_hover_text(format!(
                    "connection {} from {}, held {}",
                    waiting.connection_id,
                    waiting.remote_addr,
                    waiting.stage.label()
                ));
                ui.weak(format!(
                    "waiting {}, denied in {}",
                    format_duration(now - waiting.since),
                    format_duration(waiting.deadline - now)
                ));
            });
        }
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
            // Columns fitted to the pane, the decision last and cut at its
            // edge (all of it on hover).
            let row_height = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
            let records: Vec<&ApprovalRecord> = state.approvals.records().collect();
            TableBuilder::new(ui)
                .id_salt("approval_history_table")
                .striped(true)
                .vscroll(false)
                .column(Column::exact(64.0))
                .column(Column::initial(120.0).at_least(60.0).clip(true))
                .column(Column::exact(72.0))
                .column(Column::remainder().at_least(60.0).clip(true))
                .header(row_height, |mut header| {
                    for title in ["when", "path and query", "by", "decision"] {
                        header.col(|ui| {
                            ui.strong(title);
                        });
                    }
                })
                .body(|body| {
                    body.rows(row_height, records.len(), |mut row| {
                        let Some(record) = records.get(row.index()) else {
                            return;
                        };
                        row.col(|ui| {
                            cell(ui, format_clock(record.at));
                        });
                        row.col(|ui| {
                            cell(ui, path_and_query(&record.path, &record.query)).on_hover_text(
                                format!(
                                    "connection {}, held {}",
                                    record.connection_id,
                                    record.stage.label()
                                ),
                            );
                        });
                        row.col(|ui| {
                            cell(ui, record.resolution.by.label());
                        });
                        row.col(|ui| {
                            let decision = match &record.resolution.outcome {
                                ApprovalOutcome::Denied(reason) => format!("denied: {reason}"),
                                _ => record.resolution.outcome_label().to_owned(),
                            };
                            cell(ui, decision).on_hover_text(record.resolution.to_string());
                        });
                    });
                });
        });
    }
}

/// `/chat?name=ann`, or the path alone.
fn path_and_query(path: &str, query: &str) -> String {
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}
