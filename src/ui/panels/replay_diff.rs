//! A replay's result as a side-by-side diff per connection: both columns
//! visible at any width (resizable, scrolled sideways when widened), every
//! differing row marked, Previous/Next difference, and the selected row in
//! full below the table.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use egui_extras::{Column, TableBuilder};

use crate::session::ReplayReport;
use crate::session::compare::IgnoreRules;
use crate::session::format::IgnoreRule;
use crate::session::ids::IdMap;
use crate::ui::model::replay_diff::{DiffRow, diff_rows, next_difference};

/// Rows the table shows before it scrolls.
const VISIBLE_ROWS: usize = 12;

/// Widths of the step number and message number columns.
const STEP_WIDTH: f32 = 40.0;
const MESSAGE_WIDTH: f32 = 70.0;

/// The narrowest a side may be before the table scrolls sideways.
const SIDE_MIN_WIDTH: f32 = 100.0;

/// Characters of a step shown in its cell (the full text is below the table
/// and in the hover text).
const CELL_CHARS: usize = 300;

/// The diff rows of the result on screen, remade when the result changes.
#[derive(Default)]
pub struct ReplayDiffView {
    computed_for: Option<(PathBuf, u64)>,
    rows: Vec<Vec<DiffRow>>,
    /// Selected row per connection label.
    selected: HashMap<String, usize>,
    /// The width the tables were last laid out for.
    laid_out_width: Option<f32>,
}

impl ReplayDiffView {
    /// Draws every connection of `report` (the result for `path`, replayed
    /// as `generation`).
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        path: &Path,
        generation: u64,
        report: &ReplayReport,
        ignore: &[IgnoreRule],
    ) {
        let key = (path.to_path_buf(), generation);
        if self.computed_for.as_ref() != Some(&key) {
            // The rules were checked when saved; a file edited by hand with
            // a bad rule shows its rows compared without rules.
            let rules = IgnoreRules::compile(ignore).unwrap_or_default();
            let mut ids = IdMap::new(
                report
                    .id_mappings
                    .iter()
                    .map(|(recorded, _)| recorded.clone()),
            );
            self.rows = report
                .connections
                .iter()
                .map(|connection| diff_rows(connection, &rules, &mut ids))
                .collect();
            self.selected.clear();
            self.computed_for = Some(key);
        }
        // Column widths are remembered while the user resizes them; when
        // the pane itself changes width (or the window opens with widths a
        // bigger window saved) they are laid out anew, so both sides fit.
        let width = ui.available_width();
        let is_resized = self
            .laid_out_width
            .is_none_or(|laid_out| (laid_out - width).abs() > 1.0);
        self.laid_out_width = Some(width);
        for (connection, rows) in report.connections.iter().zip(&self.rows) {
            let differing = rows.iter().filter(|row| row.differs).count();
            let status = match differing {
                0 => "matches".to_owned(),
                1 => "1 row differs".to_owned(),
                rows => format!("{rows} rows differ"),
            };
            egui::CollapsingHeader::new(format!(
                "{} {} ({status})",
                connection.label, connection.path_and_query
            ))
            .id_salt(("connection_diff", &connection.label))
            .default_open(differing > 0)
            .show(ui, |ui| {
                let selected = self.selected.get(&connection.label).copied();
                let selected = connection_ui(ui, &connection.label, rows, selected, is_resized);
                if let Some(row) = selected {
                    self.selected.insert(connection.label.clone(), row);
                }
                if let Some(divergence) = &connection.divergence {
                    let text = match &divergence.json_path {
                        Some(json_path) => format!("differs at {json_path}: {}", divergence.detail),
                        None => divergence.detail.clone(),
                    };
                    ui.colored_label(ui.visuals().error_fg_color, text);
                }
            });
        }
    }
}

/// Draws one connection's table; returns the selected row.
fn connection_ui(
    ui: &mut egui::Ui,
    label: &str,
    rows: &[DiffRow],
    mut selected: Option<usize>,
    is_resized: bool,
) -> Option<usize> {
    let mut scroll_to = None;
    ui.horizontal(|ui| {
        let has_differences = rows.iter().any(|row| row.differs);
        if ui
            .add_enabled(has_differences, egui::Button::new("Previous difference"))
            .clicked()
        {
            selected = next_difference(rows, selected, false);
            scroll_to = selected;
        }
        if ui
            .add_enabled(has_differences, egui::Button::new("Next difference"))
            .clicked()
        {
            selected = next_difference(rows, selected, true);
            scroll_to = selected;
        }
    });
    let row_height = ui.text_style_height(&egui::TextStyle::Monospace) + 6.0;
    // The two sides share what the step and message columns, the gaps
    // between columns and the table's scroll bar leave; "actual" takes the
    // exact remainder, so it is never cut.
    let spacing = ui.spacing().item_spacing.x;
    let fixed = STEP_WIDTH + MESSAGE_WIDTH + 3.0 * spacing + ui.spacing().scroll.allocated_width();
    let side_width = ((ui.available_width() - fixed) / 2.0).max(SIDE_MIN_WIDTH);
    let highlight = ui.visuals().error_fg_color;
    let mut clicked = None;
    egui::ScrollArea::horizontal()
        .id_salt(("diff_hscroll", label))
        .show(ui, |ui| {
            let mut table = TableBuilder::new(ui)
                .id_salt(("diff_table", label))
                .striped(true)
                .resizable(true)
                .sense(egui::Sense::click())
                .max_scroll_height(row_height * VISIBLE_ROWS as f32)
                .column(Column::exact(STEP_WIDTH))
                .column(Column::initial(MESSAGE_WIDTH).clip(true))
                .column(
                    Column::initial(side_width)
                        .at_least(SIDE_MIN_WIDTH)
                        .clip(true),
                )
                .column(Column::remainder().at_least(SIDE_MIN_WIDTH).clip(true));
            if is_resized {
                table.reset();
            }
            if let Some(row) = scroll_to {
                table = table.scroll_to_row(row, Some(egui::Align::Center));
            }
            table
                .header(row_height, |mut header| {
                    for title in ["step", "message", "expected (recorded)", "actual (replay)"] {
                        header.col(|ui| {
                            ui.strong(title);
                        });
                    }
                })
                .body(|body| {
                    body.rows(row_height, rows.len(), |mut table_row| {
                        let Some(row) = rows.get(table_row.index()) else {
                            return;
                        };
                        let is_selected = selected == Some(table_row.index());
                        table_row.set_selected(is_selected);
                        // Red does not read on the selection's blue; the line
                        // under the table says whether the selected row differs.
                        let is_marked = row.differs && !is_selected;
                        let side = |ui: &mut egui::Ui, text: &Option<String>| {
                            let shown = text.as_deref().unwrap_or("(nothing)");
                            let mut rich = egui::RichText::new(crate::session::compare::shorten(
                                shown, CELL_CHARS,
                            ))
                            .monospace();
                            if is_marked {
                                rich = rich.color(highlight);
                            }
                            ui.add(egui::Label::new(rich).truncate().selectable(false));
                        };
                        table_row.col(|ui| {
                            let mut step = egui::RichText::new(row.step_index.to_string());
                            if is_marked {
                                step = step.color(highlight).strong();
                            }
                            ui.label(step).on_hover_text(if row.differs {
                                "differs"
                            } else {
                                "matches"
                            });
                        });
                        table_row.col(|ui| {
                            if let Some(message) = row.message_index {
                                ui.label(format!("message {message}"));
                            }
                        });
                        table_row.col(|ui| side(ui, &row.expected));
                        table_row.col(|ui| side(ui, &row.actual));
                        if table_row.response().clicked() {
                            clicked = Some(table_row.index());
                        }
                    });
                });
        });
    if clicked.is_some() {
        selected = clicked;
    }
    if let Some(row) = selected.and_then(|index| rows.get(index)) {
        selected_row_ui(ui, row);
    }
    selected
}

/// The selected row in full, the two sides next to each other.
fn selected_row_ui(ui: &mut egui::Ui, row: &DiffRow) {
    let title = match row.message_index {
        Some(message) => format!("step {}, message {message}", row.step_index),
        None => format!("step {}", row.step_index),
    };
    ui.strong(if row.differs {
        format!("{title}: differs")
    } else {
        format!("{title}: matches")
    });
    ui.columns(2, |columns| {
        for (ui, (heading, text)) in columns.iter_mut().zip([
            ("expected (recorded)", &row.expected),
            ("actual (replay)", &row.actual),
        ]) {
            ui.weak(heading);
            ui.add(
                egui::Label::new(
                    egui::RichText::new(text.as_deref().unwrap_or("(nothing)")).monospace(),
                )
                .wrap(),
            );
        }
    });
}
