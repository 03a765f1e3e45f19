//! The handler script in an editor: JavaScript highlighting, the error line
//! marked, save and hot reload (Ctrl-S), open another script.

use crate::ui::highlight::{Palette, highlight};
use crate::ui::state::{AppState, UiMessage};

/// Script panel UI state.
#[derive(Default)]
pub struct ScriptPanel;

impl ScriptPanel {
    /// Draws the panel.
    pub fn ui(&mut self, ui: &mut egui::Ui, state: &mut AppState) {
        let path = state.launch_config.script.path.clone();
        ui.horizontal_wrapped(|ui| {
            ui.monospace(path.display().to_string());
            let dirty = state.script.is_dirty();
            if ui
                .add_enabled(dirty, egui::Button::new("Save and reload"))
                .on_hover_text("Ctrl-S. Open connections stay; new events use the new handlers.")
                .clicked()
            {
                state.save_script();
            }
            if ui.add_enabled(dirty, egui::Button::new("Revert")).clicked() {
                state.script.text = state.script.saved_text.clone();
            }
            if ui.button("Open...").clicked() {
                state.spawn(async {
                    let picked = rfd::AsyncFileDialog::new()
                        .add_filter("JavaScript", &["js", "mjs"])
                        .set_title("Open a handler script")
                        .pick_file()
                        .await;
                    UiMessage::ScriptPicked(Ok(picked.map(|file| file.path().to_path_buf())))
                });
            }
            let path_label = ui.label("or path");
            let response = ui
                .add(egui::TextEdit::singleline(&mut state.script.path_input).desired_width(180.0))
                .labelled_by(path_label.id);
            let submitted =
                response.lost_focus() && ui.input(|input| input.key_pressed(egui::Key::Enter));
            if (ui.button("Open path").clicked() || submitted)
                && !state.script.path_input.trim().is_empty()
            {
                let typed = std::path::PathBuf::from(state.script.path_input.trim());
                if typed.is_file() {
                    state.open_script(typed);
                } else {
                    state.notify(format!("{} is not a file", typed.display()), true);
                }
            }
        });
        let error_line = match (&state.script.failure, &state.script.runtime_error) {
            (Some(failure), _) => {
                ui.colored_label(
                    ui.visuals().error_fg_color,
                    format!("Not loaded, the previous handlers keep running: {failure}"),
                );
                failure.location.as_ref().map(|location| location.line)
            }
            (None, Some(failure)) => {
                ui.colored_label(
                    ui.visuals().warn_fg_color,
                    format!("Last handler error: {failure}"),
                );
                failure.location.as_ref().map(|location| location.line)
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
        let palette = Palette::for_dark_mode(ui.visuals().dark_mode);
        let font_id = egui::TextStyle::Monospace.resolve(ui.style());
        let mut layouter = |ui: &egui::Ui, text: &dyn egui::TextBuffer, wrap_width: f32| {
            let mut job = highlight(text.as_str(), font_id.clone(), &palette, error_line);
            job.wrap.max_width = wrap_width;
            ui.fonts_mut(|fonts| fonts.layout_job(job))
        };
        egui::ScrollArea::both()
            .id_salt("script_editor")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                ui.add(
                    egui::TextEdit::multiline(&mut state.script.text)
                        .code_editor()
                        .desired_width(f32::INFINITY)
                        .desired_rows(30)
                        .layouter(&mut layouter)
                        .hint_text("handler script"),
                )
                .accessible_name("Script editor");
            });
    }
}
