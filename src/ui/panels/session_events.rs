//! A session file's events as a timeline: time, connection, event and what
//! it carried, virtualised (a recording can hold millions of lines).
//! Connections that were open when the recording started are marked.

use egui_extras::{Column, TableBuilder};

use crate::session::Session;
use crate::session::format::{SessionEvent, SessionLine};

/// Characters of a message shown in its row.
const PREVIEW_CHARS: usize = 200;

/// Rows shown before the timeline scrolls.
const VISIBLE_ROWS: usize = 10;

/// What one line did, in words.
fn describe(line: &SessionLine) -> (&'static str, String) {
    match &line.event {
        SessionEvent::Connect { path, query } => {
            ("connect", crate::core::query::path_and_query(path, query))
        }
        SessionEvent::Accepted { id } => ("accepted", id.clone().unwrap_or_default()),
        SessionEvent::Rejected { status } => ("rejected", format!("HTTP {status}")),
        SessionEvent::Send(frame) => (
            "send",
            crate::session::compare::shorten(&frame.display(), PREVIEW_CHARS),
        ),
        SessionEvent::Recv(frame) => (
            "recv",
            crate::session::compare::shorten(&frame.display(), PREVIEW_CHARS),
        ),
        SessionEvent::Close { code, by } => (
            "close",
            match code {
                Some(code) => format!("{code} by {}", by.label()),
                None => format!("without a close frame, by {}", by.label()),
            },
        ),
    }
}

/// The collapsible timeline of `session`.
pub fn events_ui(ui: &mut egui::Ui, session: &Session) {
    let open_at_start = &session.header.open_at_start;
    egui::CollapsingHeader::new(format!("Events ({})", session.lines.len()))
        .id_salt("session_events")
        .show(ui, |ui| {
            if !open_at_start.is_empty() {
                ui.weak(format!(
                    "{} were open when the recording started (marked *): their connect is at t 0, what they did before is not here.",
                    open_at_start.join(", ")
                ));
            }
            let row_height = ui.text_style_height(&egui::TextStyle::Monospace) + 4.0;
            TableBuilder::new(ui)
                .id_salt("session_events_table")
                .striped(true)
                .resizable(true)
                .max_scroll_height(row_height * VISIBLE_ROWS as f32)
                .column(Column::initial(70.0).at_least(40.0))
                .column(Column::initial(50.0).at_least(30.0))
                .column(Column::initial(70.0).at_least(40.0))
                .column(Column::remainder().at_least(80.0).clip(true))
                .header(row_height, |mut header| {
                    for title in ["t (ms)", "conn", "event", "what"] {
                        header.col(|ui| {
                            ui.strong(title);
                        });
                    }
                })
                .body(|body| {
                    body.rows(row_height, session.lines.len(), |mut row| {
                        let Some(line) = session.lines.get(row.index()) else {
                            return;
                        };
                        let (event, what) = describe(line);
                        let marker = if open_at_start.contains(&line.conn) {
                            "*"
                        } else {
                            ""
                        };
                        row.col(|ui| {
                            ui.monospace(line.t.to_string());
                        });
                        row.col(|ui| {
                            ui.monospace(format!("{}{marker}", line.conn));
                        });
                        row.col(|ui| {
                            ui.label(event);
                        });
                        row.col(|ui| {
                            ui.add(
                                egui::Label::new(egui::RichText::new(what).monospace()).truncate(),
                            );
                        });
                    });
                });
        });
}
