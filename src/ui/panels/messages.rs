//! The timeline of every frame and lifecycle event: filters, pause, and the
//! selected row in detail. Rows are virtualised, so a million rows cost what
//! the visible ones cost.

use egui_extras::{Column, TableBuilder};

use super::json_view::{PayloadView, copy_buttons_ui, payload_text, payload_ui};
use super::locations::{place_links_ui, reveal_clicked, text_with_links_ui};
use super::{cell, format_bytes, format_count, format_time, short_id};
use crate::ui::model::locations::has_location;
use crate::ui::model::timeline::{Direction, DirectionFilter, EntryBody, TimelineFilter};
use crate::ui::state::AppState;

/// Characters of a payload shown in its row.
const PREVIEW_CHARS: usize = 160;

/// Below this width the table leaves out kind and size (a 900 px window
/// gives the Messages pane about 500 px).
const COMPACT_TABLE_WIDTH: f32 = 560.0;

/// Messages panel UI state.
pub struct MessagesPanel {
    filter_text: String,
    is_regex: bool,
    direction: DirectionFilter,
    only_selected_connection: bool,
    filter_error: Option<String>,
    follow: bool,
    selected_seq: Option<u64>,
    view: PayloadView,
    /// The filter last asked of the timeline.
    asked_filter: Option<TimelineFilter>,
    /// Rows there were when Follow last scrolled to the newest one.
    followed_rows: Option<usize>,
}

impl Default for MessagesPanel {
    fn default() -> Self {
        Self {
            filter_text: String::new(),
            is_regex: false,
            direction: DirectionFilter::All,
            only_selected_connection: false,
            filter_error: None,
            follow: true,
            selected_seq: None,
            view: PayloadView::Tree,
            followed_rows: None,
            asked_filter: None,
        }
    }
}

fn direction_label(filter: DirectionFilter) -> &'static str {
    match filter {
        DirectionFilter::All => "All",
        DirectionFilter::In => "In (client to server)",
        DirectionFilter::Out => "Out (server to client)",
        DirectionFilter::Frames => "Frames only",
        DirectionFilter::Lifecycle => "Lifecycle only",
    }
}

impl MessagesPanel {
    /// Draws the panel.
    pub fn ui(&mut self, ui: &mut egui::Ui, state: &mut AppState) {
        self.toolbar_ui(ui, state);
        let wanted = TimelineFilter {
            connection_id: if self.only_selected_connection {
                state.selected_connection
            } else {
                None
            },
            direction: self.direction,
            text: self.filter_text.clone(),
            is_regex: self.is_regex,
        };
        // Compared with what was last asked for, not with what is in force:
        // a bad regex puts in force a filter without text.
        let changed = self.asked_filter.as_ref().is_none_or(|asked| {
            asked.connection_id != wanted.connection_id
                || asked.direction != wanted.direction
                || asked.text != wanted.text
                || asked.is_regex != wanted.is_regex
        });
        if changed {
            self.asked_filter = Some(wanted.clone());
            self.filter_error = match state.timeline.set_filter(wanted.clone()) {
                Ok(()) => None,
                Err(error) => {
                    // Every row but for the other filters, as the notice says.
                    let without_text = TimelineFilter {
                        text: String::new(),
                        is_regex: false,
                        ..wanted
                    };
                    let _ = state.timeline.set_filter(without_text);
                    Some(error.to_string())
                }
            };
        }
        if let Some(error) = &self.filter_error {
            ui.add(
                egui::Label::new(
                    egui::RichText::new(format!(
                        "Bad regex, text filter off (every row shown): {error}"
                    ))
                    .color(ui.visuals().error_fg_color),
                )
                .wrap(),
            );
        }
        let dropped = state.timeline.dropped();
        if dropped > 0 {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!(
                    "{} older messages dropped (history limit); the newest are kept",
                    format_count(dropped)
                ),
            );
        }
        // Only the server's own lifecycle rows: nobody has connected yet.
        if state.connections.rows().is_empty() && state.timeline.len() <= 2 {
            super::empty_state_ui(
                ui,
                state,
                "No messages yet: every frame in and out, and each connect and close, appears here.",
            );
        }
        let has_detail = self
            .selected_seq
            .is_some_and(|seq| state.timeline.by_seq(seq).is_some());
        let table_height = if has_detail {
            ui.available_height() * 0.6
        } else {
            ui.available_height()
        };
        ui.push_id("messages_table", |ui| {
            ui.set_max_height(table_height);
            self.table_ui(ui, state);
        });
        if let Some(entry) = self
            .selected_seq
            .and_then(|seq| state.timeline.by_seq(seq))
            .cloned()
        {
            ui.separator();
            // Wrapped: at 900 px the view and copy buttons go to a second
            // line instead of past the edge.
            ui.horizontal_wrapped(|ui| {
                ui.strong(format!("#{} {}", entry.seq, format_time(entry.at)));
                if let Some(connection_id) = entry.connection_id {
                    ui.monospace(short_id(&connection_id))
                        .on_hover_text(connection_id.to_string());
                }
                ui.label(entry.kind_label());
                if matches!(entry.body, EntryBody::Frame(_)) {
                    ui.label(format_bytes(entry.size_bytes() as u64));
                }
                ui.separator();
                ui.selectable_value(&mut self.view, PayloadView::Tree, "Tree");
                ui.selectable_value(&mut self.view, PayloadView::Pretty, "Pretty");
                ui.selectable_value(&mut self.view, PayloadView::Hex, "Hex");
                if let EntryBody::Frame(payload) = &entry.body {
                    ui.separator();
                    copy_buttons_ui(ui, payload);
                }
            });
            // Ctrl-C copies the selected message unless a text field or a
            // text selection has the keyboard.
            if let EntryBody::Frame(payload) = &entry.body
                && ui.memory(|memory| memory.focused().is_none())
                && ui.input(|input| {
                    input
                        .events
                        .iter()
                        .any(|event| matches!(event, egui::Event::Copy))
                })
            {
                ui.ctx().copy_text(payload_text(payload));
            }
            egui::ScrollArea::both()
                .id_salt("message_detail")
                .auto_shrink([false, false])
                .show(ui, |ui| match &entry.body {
                    EntryBody::Frame(payload) => payload_ui(ui, payload, self.view, entry.seq),
                    _ => {
                        let clicked =
                            text_with_links_ui(ui, &entry.preview(usize::MAX), true, |text| {
                                egui::RichText::new(text)
                            });
                        reveal_clicked(state, clicked);
                    }
                });
        }
    }

    fn toolbar_ui(&mut self, ui: &mut egui::Ui, state: &mut AppState) {
        ui.horizontal_wrapped(|ui| {
            let filter_label = ui.label("Filter");
            ui.add(
                egui::TextEdit::singleline(&mut self.filter_text)
                    .hint_text(if self.is_regex {
                        "regular expression"
                    } else {
                        "text"
                    })
                    .desired_width(180.0),
            )
            .labelled_by(filter_label.id);
            ui.checkbox(&mut self.is_regex, "Regex");
            super::combo_ui(
                ui,
                "messages_direction",
                "Direction",
                direction_label(self.direction),
                |ui| {
                    for filter in [
                        DirectionFilter::All,
                        DirectionFilter::In,
                        DirectionFilter::Out,
                        DirectionFilter::Frames,
                        DirectionFilter::Lifecycle,
                    ] {
                        ui.selectable_value(&mut self.direction, filter, direction_label(filter));
                    }
                },
            );
            ui.add_enabled(
                state.selected_connection.is_some(),
                egui::Checkbox::new(
                    &mut self.only_selected_connection,
                    "Selected connection only",
                ),
            )
            .on_disabled_hover_text("Select a connection in the Connections panel first");
            ui.toggle_value(&mut self.follow, "Follow")
                .on_hover_text("Keep the newest message in view");
            if ui.button("Clear").clicked() {
                state.timeline.clear();
                self.selected_seq = None;
            }
            ui.weak(format!(
                "{} of {} rows",
                format_count(state.timeline.visible_len() as u64),
                format_count(state.timeline.len() as u64)
            ));
        });
    }

    fn table_ui(&mut self, ui: &mut egui::Ui, state: &mut AppState) {
        let timeline = &state.timeline;
        let row_height = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
        let total_rows = timeline.visible_len();
        let mut clicked = None;
        let mut jump_to = None;
        let (in_color, out_color) = super::direction_colors(ui.visuals());
        let colors = (
            in_color,
            out_color,
            ui.visuals().weak_text_color(),
            ui.visuals().warn_fg_color,
        );
        // Jump to the newest row only when rows arrive (or Follow was just
        // turned on): asking every frame keeps the scroll area animating, so
        // an idle window repainted continuously. A jump asks for the next
        // frame (which shows the rows this one laid out), so during a flood
        // sticking to the bottom does it instead: the newest rows show one
        // flood frame later, and a flood frame asks for no other.
        let jumps_to_newest = self.follow
            && !state.is_flooded
            && total_rows > 0
            && self.followed_rows != Some(total_rows);
        // In a narrow pane (a 900 px window) kind and size give their width
        // to the preview; the selected message's header still shows both.
        let is_compact = ui.available_width() < COMPACT_TABLE_WIDTH;
        let mut table = TableBuilder::new(ui)
            .id_salt(if is_compact {
                "messages_compact"
            } else {
                "messages_full"
            })
            .striped(true)
            .resizable(true)
            .sense(egui::Sense::click())
            .auto_shrink([false, false])
            .stick_to_bottom(self.follow)
            // Without a slide: an animated jump draws frames at 60 a second
            // for up to 0.3 s, and nobody reads rows sliding by.
            .animate_scrolling(!self.follow)
            .column(Column::initial(95.0))
            .column(Column::initial(40.0))
            .column(Column::initial(70.0));
        if !is_compact {
            table = table
                .column(Column::initial(50.0))
                .column(Column::initial(65.0));
        }
        table = table.column(Column::remainder().clip(true));
        if jumps_to_newest {
            table = table.scroll_to_row(total_rows - 1, Some(egui::Align::BOTTOM));
        }
        self.followed_rows = self.follow.then_some(total_rows);
        table
            .header(row_height, |mut header| {
                for title in ["time", "dir", "connection", "kind", "size", "preview"] {
                    if is_compact && matches!(title, "kind" | "size") {
                        continue;
                    }
                    header.col(|ui| {
                        ui.strong(title);
                    });
                }
            })
            .body(|body| {
                body.rows(row_height, total_rows, |mut row| {
                    let index = row.index();
                    let Some(entry) = timeline.visible(index) else {
                        return;
                    };
                    row.set_selected(self.selected_seq == Some(entry.seq));
                    let (arrow, color) = match entry.direction {
                        Direction::In => ("in", colors.0),
                        Direction::Out => ("out", colors.1),
                        Direction::Lifecycle => ("-", colors.2),
                    };
                    row.col(|ui| {
                        cell(ui, egui::RichText::new(format_time(entry.at)).monospace());
                    });
                    row.col(|ui| {
                        cell(ui, egui::RichText::new(arrow).color(color));
                    });
                    row.col(|ui| {
                        if let Some(connection_id) = entry.connection_id {
                            cell(
                                ui,
                                egui::RichText::new(short_id(&connection_id)).monospace(),
                            )
                            .on_hover_text(connection_id.to_string());
                        }
                    });
                    if !is_compact {
                        row.col(|ui| {
                            cell(ui, entry.kind_label());
                        });
                        row.col(|ui| {
                            if matches!(entry.body, EntryBody::Frame(_)) {
                                cell(ui, format_bytes(entry.size_bytes() as u64));
                            }
                        });
                    }
                    row.col(|ui| {
                        let preview = entry.preview(PREVIEW_CHARS);
                        match &entry.body {
                            EntryBody::Missed(_) => {
                                cell(ui, egui::RichText::new(preview).color(colors.3));
                            }
                            // A handler failure's place first, as a link:
                            // the text after it is cut to the column.
                            EntryBody::Lifecycle(text) if has_location(text) => {
                                ui.horizontal(|ui| {
                                    jump_to = jump_to.take().or(place_links_ui(ui, text));
                                    cell(ui, egui::RichText::new(preview).monospace());
                                });
                            }
                            _ => {
                                cell(ui, egui::RichText::new(preview).monospace());
                            }
                        }
                    });
                    let response = row.response();
                    if response.clicked() {
                        clicked = Some(entry.seq);
                    }
                    if let EntryBody::Frame(payload) = &entry.body {
                        response.context_menu(|ui| {
                            if copy_buttons_ui(ui, payload) {
                                ui.close();
                            }
                        });
                    }
                });
            });
        if jump_to.is_some() {
            reveal_clicked(state, jump_to);
        } else if let Some(seq) = clicked {
            self.selected_seq = if self.selected_seq == Some(seq) {
                None
            } else {
                Some(seq)
            };
            // Reading a row means looking back: stop following.
            self.follow = self.selected_seq.is_none() && self.follow;
        }
    }
}
