//! The handler script in an editor: JavaScript highlighting, the error line
//! marked, save and hot reload (Ctrl-S), open another script or a Nitric
//! project (whose services then run instead).

use std::path::PathBuf;

use crate::ui::highlight::{Palette, highlight};
use crate::ui::state::{AppState, UiMessage};

/// Script panel UI state.
#[derive(Default)]
pub struct ScriptPanel;

impl ScriptPanel {
    /// Draws the panel.
    pub fn ui(&mut self, ui: &mut egui::Ui, state: &mut AppState) {
        let runs_services = state.runs_services();
        ui.horizontal_wrapped(|ui| {
            if !runs_services {
                ui.monospace(state.launch_config.script.path.display().to_string());
                let dirty = state.script.is_dirty();
                if ui
                    .add_enabled(dirty, egui::Button::new("Save and reload"))
                    .on_hover_text(
                        "Ctrl-S. Open connections stay; new events use the new handlers.",
                    )
                    .clicked()
                {
                    state.save_script();
                }
                if ui.add_enabled(dirty, egui::Button::new("Revert")).clicked() {
                    state.script.text = state.script.saved_text.clone();
                }
            }
            open_handlers_ui(ui, state);
        });
        if !runs_services {
            ui.horizontal(|ui| super::script_modules::picker_ui(ui, state));
        }
        if runs_services {
            ui.add_space(8.0);
            ui.label(
                "Your Nitric services run instead of a script (see Services). Open a script to switch back.",
            );
            return;
        }
        // A failure in another module of the project is not marked here.
        let shown = crate::script::script_module_name(&state.launch_config.script.path);
        let line_here = |failure: &crate::core::events::ScriptFailure| {
            failure
                .location
                .as_ref()
                .filter(|location| location.file == shown)
                .map(|location| location.line)
        };
        let error_line = match (&state.script.failure, &state.script.runtime_error) {
            (Some(failure), _) => {
                ui.colored_label(
                    ui.visuals().error_fg_color,
                    format!("Not loaded, the previous handlers keep running: {failure}"),
                );
                line_here(failure)
            }
            (None, Some(failure)) => {
                ui.colored_label(
                    ui.visuals().warn_fg_color,
                    format!("Last handler error: {failure}"),
                );
                line_here(failure)
            }
            (None, None) => {
                match state.script.loaded_at {
                    Some(at) => {
                        ui.weak(format!("Running. Reloaded at {}.", super::format_time(at)))
                    }
                    None => ui.weak("Running."),
                };
                None
            }
        };
        if super::script_modules::viewer_ui(ui, state) {
            return;
        }
        editor_ui(ui, state, error_line);
    }
}

/// The editor's inner margin, which the gutter matches so that its numbers
/// sit on the lines.
const EDITOR_MARGIN: f32 = 4.0;

/// The editor: a gutter of line numbers (the error line in red), no soft
/// wrap (a wrapped line would look like two), scrolled to a line another
/// panel asked for.
fn editor_ui(ui: &mut egui::Ui, state: &mut AppState, error_line: Option<u32>) {
    let palette = Palette::for_dark_mode(ui.visuals().dark_mode);
    let font_id = egui::TextStyle::Monospace.resolve(ui.style());
    let mut layouter = |ui: &egui::Ui, text: &dyn egui::TextBuffer, _wrap_width: f32| {
        let mut job = highlight(text.as_str(), font_id.clone(), &palette, error_line);
        job.wrap.max_width = f32::INFINITY;
        ui.fonts_mut(|fonts| fonts.layout_job(job))
    };
    let editor_id = egui::Id::unique("script_editor_text");
    let reveal = state.reveal_script_line.take();
    if let Some(line) = reveal {
        place_cursor_at_line(ui.ctx(), editor_id, &state.script.text, line);
    }
    let line_count = state.script.text.split('\n').count().max(1);
    let gutter = gutter_job(line_count, error_line, &font_id, ui.visuals());
    let row_height = ui.fonts_mut(|fonts| fonts.row_height(&font_id));
    egui::ScrollArea::both()
        .id_salt("script_editor")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            ui.horizontal_top(|ui| {
                ui.vertical(|ui| {
                    ui.add_space(EDITOR_MARGIN);
                    ui.add(egui::Label::new(gutter).selectable(false));
                });
                let response = ui
                    .add(
                        egui::TextEdit::multiline(&mut state.script.text)
                            .id(editor_id)
                            .code_editor()
                            .margin(egui::Margin::same(EDITOR_MARGIN as i8))
                            .desired_width(f32::INFINITY)
                            .desired_rows(30)
                            .layouter(&mut layouter)
                            .hint_text("handler script"),
                    )
                    .accessible_name("Script editor");
                if let Some(line) = reveal {
                    let top = response.rect.top()
                        + EDITOR_MARGIN
                        + row_height * (line.saturating_sub(1)) as f32;
                    let line_rect = egui::Rect::from_min_size(
                        egui::pos2(response.rect.left(), top),
                        egui::vec2(1.0, row_height),
                    );
                    ui.scroll_to_rect(line_rect, Some(egui::Align::Center));
                }
            });
        });
}

/// Right-aligned line numbers, one per line of the buffer.
fn gutter_job(
    line_count: usize,
    error_line: Option<u32>,
    font_id: &egui::FontId,
    visuals: &egui::Visuals,
) -> egui::text::LayoutJob {
    let width = line_count.to_string().len();
    let mut job = egui::text::LayoutJob::default();
    for line in 1..=line_count {
        let is_error = error_line.is_some_and(|error| error as usize == line);
        let color = if is_error {
            visuals.error_fg_color
        } else {
            visuals.weak_text_color()
        };
        let separator = if line == line_count { "" } else { "\n" };
        job.append(
            &format!("{line:>width$}{separator}"),
            0.0,
            egui::TextFormat::simple(font_id.clone(), color),
        );
    }
    job
}

/// Puts the editor's cursor at the start of `line` (1-based) and gives it
/// the keyboard.
fn place_cursor_at_line(ctx: &egui::Context, editor_id: egui::Id, text: &str, line: u32) {
    let char_index: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1) as usize)
        .map(|line| line.chars().count())
        .sum();
    let mut editor = egui::TextEdit::load_state(ctx, editor_id).unwrap_or_default();
    let cursor = egui::text::CCursor::new(char_index);
    editor
        .cursor
        .set_char_range(Some(egui::text::CCursorRange::one(cursor)));
    editor.store(ctx, editor_id);
    ctx.memory_mut(|memory| memory.request_focus(editor_id));
}

/// "Open script…", "Open project…" and the typed path that does their job
/// when no dialog can be shown: a file opens as the script, a folder as a
/// Nitric project.
fn open_handlers_ui(ui: &mut egui::Ui, state: &mut AppState) {
    let can_switch = state.can_switch_handlers();
    let wait_hint = "Wait until the server has started or stopped";
    if ui
        .add_enabled(can_switch, egui::Button::new("Open script…"))
        .on_hover_text("Run a handler script in the embedded engine")
        .on_disabled_hover_text(wait_hint)
        .clicked()
    {
        state.spawn_dialog(
            rfd::AsyncFileDialog::new()
                .add_filter(
                    "JavaScript or TypeScript",
                    &["js", "mjs", "cjs", "ts", "mts", "cts"],
                )
                .set_title("Open a handler script")
                .pick_file(),
            UiMessage::ScriptPicked,
        );
    }
    if ui
        .add_enabled(can_switch, egui::Button::new("Open project…"))
        .on_hover_text("Run a Nitric project's own services (the folder with nitric.yaml)")
        .on_disabled_hover_text(wait_hint)
        .clicked()
    {
        state.pick_project_folder();
    }
    ui.checkbox(&mut state.project_options.embedded, "embedded")
        .on_hover_text(
            "Run the project's service files in the embedded engine (no Node needed) instead of their start commands",
        );
    let path_label = ui.label("or path");
    let response = ui
        .add(egui::TextEdit::singleline(&mut state.script.path_input).desired_width(180.0))
        .labelled_by(path_label.id)
        .on_hover_text("A script file, or a project folder with nitric.yaml");
    let submitted = response.lost_focus() && ui.input(|input| input.key_pressed(egui::Key::Enter));
    let open_clicked = ui
        .add_enabled(can_switch, egui::Button::new("Open path"))
        .on_disabled_hover_text(wait_hint)
        .clicked();
    let typed = state.script.path_input.trim();
    if (open_clicked || submitted) && !typed.is_empty() {
        state.open_path(PathBuf::from(typed));
    }
}
