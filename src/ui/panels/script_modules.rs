//! The other modules of a project in the Script panel: a picker, and the
//! chosen module read-only, its error line marked, so an error at
//! `resources/index.ts:5` can be seen where it is.

use std::path::PathBuf;

use crate::ui::highlight::{Palette, highlight};
use crate::ui::state::AppState;

/// The module picker; shown when the handlers are made of several files.
pub(super) fn picker_ui(ui: &mut egui::Ui, state: &mut AppState) {
    let Some(engine) = &state.engine else {
        return;
    };
    let entry = state.launch_config.script.path.clone();
    let entry_absolute = std::path::absolute(&entry).unwrap_or_else(|_| entry.clone());
    let others: Vec<PathBuf> = engine
        .source_files()
        .into_iter()
        .filter(|file| *file != entry_absolute)
        .collect();
    if others.is_empty() {
        state.script.viewed_module = None;
        return;
    }
    let name = |path: &std::path::Path| crate::script::script_module_name(path);
    let shown = state
        .script
        .viewed_module
        .as_ref()
        .map_or_else(|| name(&entry), |(path, _)| name(path));
    let label = ui.label("Module");
    let mut picked: Option<Option<PathBuf>> = None;
    egui::ComboBox::from_id_salt("script module")
        .selected_text(shown)
        .show_ui(ui, |ui| {
            if ui
                .selectable_label(state.script.viewed_module.is_none(), name(&entry))
                .clicked()
            {
                picked = Some(None);
            }
            for file in &others {
                let is_shown = state
                    .script
                    .viewed_module
                    .as_ref()
                    .is_some_and(|(path, _)| path == file);
                if ui.selectable_label(is_shown, name(file)).clicked() {
                    picked = Some(Some(file.clone()));
                }
            }
        })
        .response
        .labelled_by(label.id);
    match picked {
        Some(None) => state.script.viewed_module = None,
        Some(Some(path)) => state.read_module(path),
        None => {}
    }
}

/// The chosen module, read-only; `true` when one is shown (instead of the
/// editor).
pub(super) fn viewer_ui(ui: &mut egui::Ui, state: &mut AppState) -> bool {
    if state.script.viewed_module.is_none() {
        return false;
    }
    let reveal = state.reveal_script_line.take();
    let Some((path, text)) = &state.script.viewed_module else {
        return false;
    };
    let name = crate::script::script_module_name(path);
    let error_line = [&state.script.failure, &state.script.runtime_error]
        .into_iter()
        .flatten()
        .filter_map(|failure| failure.location.as_ref())
        .find(|location| location.file == name)
        .map(|location| location.line);
    ui.weak("Read-only here: edit it in your editor; saving it reloads the handlers.");
    let palette = Palette::for_dark_mode(ui.visuals().dark_mode);
    let font_id = egui::TextStyle::Monospace.resolve(ui.style());
    let numbered: String = text
        .lines()
        .enumerate()
        .map(|(index, line)| format!("{:>4}  {line}\n", index + 1))
        .collect();
    let row_height = ui.fonts_mut(|fonts| fonts.row_height(&font_id));
    let job = highlight(&numbered, font_id, &palette, error_line);
    egui::ScrollArea::both()
        .id_salt("script_module_view")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            let response = ui.add(egui::Label::new(job).extend());
            if let Some(line) = reveal {
                let top = response.rect.top() + row_height * line.saturating_sub(1) as f32;
                let line_rect = egui::Rect::from_min_size(
                    egui::pos2(response.rect.left(), top),
                    egui::vec2(1.0, row_height),
                );
                ui.scroll_to_rect(line_rect, Some(egui::Align::Center));
            }
        });
    true
}
