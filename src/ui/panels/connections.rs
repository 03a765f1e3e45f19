//! Live connections (closed and denied ones greyed until cleared), the
//! selected connection's own frames, and Send / Close for it.

use egui_extras::{Column, TableBuilder};

use super::{
    cell, format_bytes, format_clock, format_count, format_duration, format_time, short_id,
};
use crate::core::events::{ConnectionId, close_summary};
use crate::engine::command::Command;
use crate::ui::model::composer::{ComposeMode, compose};
use crate::ui::model::connections::{ConnectionRow, ConnectionState};
use crate::ui::model::timeline::Direction;
use crate::ui::state::AppState;

/// Connections panel UI state.
pub struct ConnectionsPanel {
    compose_mode: ComposeMode,
    /// Proxy mode: send towards the target (as if from the client) rather
    /// than to the client.
    is_to_target: bool,
    compose_text: String,
    compose_error: Option<String>,
    close_code: String,
    close_reason: String,
}

impl Default for ConnectionsPanel {
    fn default() -> Self {
        Self {
            compose_mode: ComposeMode::Text,
            is_to_target: false,
            compose_text: String::new(),
            compose_error: None,
            close_code: "1000".to_owned(),
            close_reason: String::new(),
        }
    }
}

fn state_text(row: &ConnectionRow) -> String {
    match &row.state {
        ConnectionState::Open => "open".to_owned(),
        ConnectionState::Closed { code, .. } => {
            code.map_or("closed".to_owned(), |code| format!("closed {code}"))
        }
        ConnectionState::Denied { status, .. } => format!("denied {status}"),
    }
}

impl ConnectionsPanel {
    /// Draws the panel.
    pub fn ui(&mut self, ui: &mut egui::Ui, state: &mut AppState) {
        ui.horizontal(|ui| {
            ui.label(format!(
                "{} open, {} ended",
                state.connections.open_count(),
                state.connections.ended_count()
            ));
            if ui
                .add_enabled(
                    state.connections.ended_count() > 0,
                    egui::Button::new("Clear closed"),
                )
                .clicked()
            {
                state.connections.clear_ended();
                let connections = &state.connections;
                state
                    .timeline
                    .forget_connections(|connection_id| connections.get(connection_id).is_some());
                if state
                    .selected_connection
                    .is_some_and(|selected| state.connections.get(&selected).is_none())
                {
                    state.selected_connection = None;
                }
            }
        });
        if state.connections.rows().is_empty() {
            super::empty_state_ui(
                ui,
                state,
                "No connections yet: connect a client (or use the Clients tab) and it shows here.",
            );
            return;
        }
        let has_selection = state.selected_connection.is_some();
        let table_height = if has_selection {
            ui.available_height() * 0.45
        } else {
            ui.available_height()
        };
        ui.push_id("connections_table", |ui| {
            ui.set_max_height(table_height);
            self.table_ui(ui, state);
        });
        if let Some(connection_id) = state.selected_connection {
            ui.separator();
            self.detail_ui(ui, state, connection_id);
        }
    }

    fn table_ui(&mut self, ui: &mut egui::Ui, state: &mut AppState) {
        let now = chrono::Utc::now();
        let row_height = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
        let rows = state.connections.rows();
        let mut clicked: Option<ConnectionId> = None;
        let weak = ui.visuals().weak_text_color();
        // Columns by importance (what a row is, how it stands, what it
        // carries), resizable and remembered; sideways scroll when narrow.
        egui::ScrollArea::horizontal()
            .id_salt("connections_hscroll")
            .show(ui, |ui| {
                TableBuilder::new(ui)
                    .id_salt("connections_columns")
                    .striped(true)
                    .resizable(true)
                    .sense(egui::Sense::click())
                    .auto_shrink([false, false])
                    .column(Column::initial(66.0).at_least(40.0).clip(true))
                    .column(Column::initial(74.0).at_least(40.0).clip(true))
                    .column(Column::initial(80.0).at_least(40.0).clip(true))
                    .column(Column::initial(78.0).at_least(40.0).clip(true))
                    .column(Column::initial(78.0).at_least(40.0).clip(true))
                    .column(Column::initial(62.0).at_least(40.0).clip(true))
                    .column(Column::initial(40.0).at_least(30.0).clip(true))
                    .column(Column::remainder().at_least(100.0).clip(true))
                    .header(row_height, |mut header| {
                        for (title, hover) in [
                            ("id", "The server's connection id (full id on hover)"),
                            (
                                "state",
                                "open, closed with its code, or denied with its HTTP status",
                            ),
                            ("query", "The connect request's query"),
                            (
                                "in",
                                "Frames / bytes from the client (as the Messages panel's in)",
                            ),
                            (
                                "out",
                                "Frames / bytes to the client (as the Messages panel's out)",
                            ),
                            ("since", "When it connected (how long on hover)"),
                            ("path", "The connect request's path"),
                            ("remote", "The client's address"),
                        ] {
                            header.col(|ui| {
                                ui.strong(title).on_hover_text(hover);
                            });
                        }
                    })
                    .body(|body| {
                        body.rows(row_height, rows.len(), |mut table_row| {
                            let Some(row) = rows.get(table_row.index()) else {
                                return;
                            };
                            table_row
                                .set_selected(state.selected_connection == Some(row.connection_id));
                            let text = |value: String| {
                                let text = egui::RichText::new(value);
                                if row.is_open() {
                                    text
                                } else {
                                    text.color(weak)
                                }
                            };
                            table_row.col(|ui| {
                                cell(ui, text(short_id(&row.connection_id)).monospace())
                                    .on_hover_text(row.connection_id.to_string());
                            });
                            table_row.col(|ui| {
                                let state_text = state_text(row);
                                cell(ui, text(state_text.clone())).on_hover_text(state_text);
                            });
                            table_row.col(|ui| {
                                cell(ui, text(row.query_text.clone()))
                                    .on_hover_text(row.query_text.clone());
                            });
                            let frames_and_bytes = |frames: u64, bytes: u64| {
                                text(format!(
                                    "{} / {}",
                                    format_count(frames),
                                    format_bytes(bytes)
                                ))
                            };
                            table_row.col(|ui| {
                                let traffic = &row.traffic;
                                cell(ui, frames_and_bytes(traffic.frames_in, traffic.bytes_in));
                            });
                            table_row.col(|ui| {
                                let traffic = &row.traffic;
                                cell(ui, frames_and_bytes(traffic.frames_out, traffic.bytes_out));
                            });
                            // The time it connected, not a ticking duration:
                            // a column of ticking cells would repaint the
                            // window every second (the detail below ticks
                            // for the selected one).
                            table_row.col(|ui| {
                                cell(ui, text(format_clock(row.connected_at))).on_hover_text(
                                    format!("for {}", format_duration(row.connected_for(now))),
                                );
                            });
                            table_row.col(|ui| {
                                cell(ui, text(row.path.clone()));
                            });
                            table_row.col(|ui| {
                                cell(ui, text(row.remote_addr.to_string()));
                            });
                            if table_row.response().clicked() {
                                clicked = Some(row.connection_id);
                            }
                        });
                    });
            });
        if let Some(connection_id) = clicked {
            state.selected_connection = if state.selected_connection == Some(connection_id) {
                None
            } else {
                Some(connection_id)
            };
        }
    }

    fn detail_ui(&mut self, ui: &mut egui::Ui, state: &mut AppState, connection_id: ConnectionId) {
        let Some(row) = state.connections.get(&connection_id).cloned() else {
            state.selected_connection = None;
            return;
        };
        // Wrapped, and the short id: a row wider than the pane would widen
        // the rows below it too and push their buttons out of sight.
        ui.horizontal_wrapped(|ui| {
            ui.strong(format!("Connection {}", short_id(&connection_id)))
                .on_hover_text(connection_id.to_string());
            ui.label(format!(
                "since {} (for {})",
                format_time(row.connected_at),
                format_duration(row.connected_for(chrono::Utc::now()))
            ));
        });
        if row.is_open() {
            // The duration above ticks once a second, and only while shown;
            // the frames waiting are read at the same tick.
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_secs(1));
            let waiting = state
                .engine
                .as_ref()
                .and_then(|engine| engine.frames_waiting(&connection_id))
                .unwrap_or(0);
            if waiting > 0 {
                ui.label(frames_waiting_text(waiting)).on_hover_text(
                    "Sent, not yet written: the client reads slower than it is sent to, \
                     or the frames wait behind a held one",
                );
            }
        }
        match &row.state {
            ConnectionState::Closed {
                code, by, reason, ..
            } => {
                ui.weak(close_summary(*code, reason, *by));
            }
            ConnectionState::Denied { status, reason } => {
                ui.weak(format!("Denied with HTTP {status}: {reason}"));
            }
            ConnectionState::Open => self.actions_ui(ui, state, connection_id),
        }
        ui.label(format!(
            "Frames of this connection ({} kept)",
            state.timeline.connection_len(&connection_id)
        ));
        let row_height = ui.text_style_height(&egui::TextStyle::Monospace) + 2.0;
        let total = state.timeline.connection_len(&connection_id);
        egui::ScrollArea::vertical()
            .id_salt("connection_history")
            .stick_to_bottom(true)
            .auto_shrink([false, false])
            .show_rows(ui, row_height, total, |ui, range| {
                for index in range {
                    let Some(entry) = state.timeline.connection_entry(&connection_id, index) else {
                        continue;
                    };
                    let arrow = match entry.direction {
                        Direction::In => "in ",
                        Direction::Out => "out",
                        Direction::Lifecycle => " - ",
                    };
                    ui.monospace(format!(
                        "{} {arrow} {}",
                        format_time(entry.at),
                        entry.preview(200)
                    ));
                }
            });
    }

    fn actions_ui(&mut self, ui: &mut egui::Ui, state: &mut AppState, connection_id: ConnectionId) {
        ui.horizontal(|ui| {
            super::combo_ui(
                ui,
                "connection_compose_mode",
                "Send as",
                self.compose_mode.label(),
                |ui| {
                    for mode in ComposeMode::ALL {
                        ui.selectable_value(&mut self.compose_mode, mode, mode.label());
                    }
                },
            );
            if state.is_proxy() {
                let towards = if self.is_to_target {
                    "target"
                } else {
                    "client"
                };
                super::combo_ui(ui, "connection_send_towards", "to", towards, |ui| {
                    ui.selectable_value(&mut self.is_to_target, false, "client");
                    ui.selectable_value(&mut self.is_to_target, true, "target");
                });
            }
        });
        let is_to_target = self.is_to_target && state.is_proxy();
        // The Send button is laid out first (from the right), so a narrow
        // panel shortens the text field instead of pushing Send away.
        let row_size = egui::vec2(ui.available_width(), ui.spacing().interact_size.y);
        ui.allocate_ui_with_layout(
            row_size,
            egui::Layout::right_to_left(egui::Align::Center),
            |ui| {
                let send = ui.button("Send");
                let hint = if is_to_target {
                    "message to send to the target, as this client"
                } else {
                    "message to send to this connection"
                };
                const LABEL_WIDTH: f32 = 64.0;
                let response = ui.add(
                    egui::TextEdit::singleline(&mut self.compose_text)
                        .hint_text(hint)
                        .desired_width((ui.available_width() - LABEL_WIDTH).max(40.0)),
                );
                let label = ui.label("Message");
                let response = response.labelled_by(label.id);
                let submitted =
                    response.lost_focus() && ui.input(|input| input.key_pressed(egui::Key::Enter));
                if send.clicked() || submitted {
                    match compose(self.compose_mode, &self.compose_text) {
                        Ok(payload) => {
                            self.compose_error = None;
                            let command = if is_to_target {
                                Command::SendToTarget {
                                    connection_id,
                                    payload,
                                }
                            } else {
                                Command::SendToConnection {
                                    connection_id,
                                    payload,
                                }
                            };
                            state.command("send", command);
                        }
                        Err(error) => self.compose_error = Some(error),
                    }
                }
            },
        );
        if let Some(error) = &self.compose_error {
            ui.colored_label(ui.visuals().error_fg_color, error);
        }
        ui.horizontal_wrapped(|ui| {
            let code_label = ui.label("Close code");
            ui.add(egui::TextEdit::singleline(&mut self.close_code).desired_width(48.0))
                .labelled_by(code_label.id);
            let reason_label = ui.label("reason");
            ui.add(egui::TextEdit::singleline(&mut self.close_reason).desired_width(160.0))
                .labelled_by(reason_label.id);
            let code = self.close_code.trim().parse::<u16>();
            if ui
                .add_enabled(code.is_ok(), egui::Button::new("Close"))
                .clicked()
                && let Ok(code) = code
            {
                state.command(
                    "close connection",
                    Command::CloseConnection {
                        connection_id,
                        code,
                        reason: self.close_reason.clone(),
                    },
                );
            }
        });
    }
}

fn frames_waiting_text(waiting: u64) -> String {
    if waiting == 1 {
        "1 frame waits to be written to this client".to_owned()
    } else {
        format!(
            "{} frames wait to be written to this client",
            format_count(waiting)
        )
    }
}
