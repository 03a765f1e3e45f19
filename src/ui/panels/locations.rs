//! `file:line` as links wherever a text names a place in a script (the Log,
//! Messages, a replay's lost updates and handler failures): a click brings
//! the Script panel forward on that line, switching its Module picker when
//! the place is in another file of the project.

use crate::core::events::ScriptLocation;
use crate::ui::model::locations::{Segment, segments};
use crate::ui::state::AppState;

const LINK_HOVER: &str = "Show this line in the Script panel";

/// Draws `text` with each place in it a link, on one line (`wrap` false) or
/// wrapped; `style` dresses each piece. Returns the place clicked.
pub fn text_with_links_ui(
    ui: &mut egui::Ui,
    text: &str,
    wrap: bool,
    style: impl Fn(&str) -> egui::RichText,
) -> Option<ScriptLocation> {
    let mut clicked = None;
    let add = |ui: &mut egui::Ui| {
        ui.spacing_mut().item_spacing.x = 0.0;
        for segment in segments(text) {
            match segment {
                Segment::Text(words) => {
                    ui.label(style(words));
                }
                Segment::Location { text, location } => {
                    if ui.link(style(text)).on_hover_text(LINK_HOVER).clicked() {
                        clicked = Some(location);
                    }
                }
            }
        }
    };
    if wrap {
        ui.horizontal_wrapped(add);
    } else {
        ui.horizontal(add);
    }
    clicked
}

/// Draws one compact link per place `text` names (`at handler.js:5`), for
/// a row whose text is cut short; returns the place clicked.
pub fn place_links_ui(ui: &mut egui::Ui, text: &str) -> Option<ScriptLocation> {
    let mut clicked = None;
    for segment in segments(text) {
        if let Segment::Location { text, location } = segment
            && ui
                .link(egui::RichText::new(format!("at {text}")).monospace())
                .on_hover_text(LINK_HOVER)
                .clicked()
        {
            clicked = Some(location);
        }
    }
    clicked
}

/// Jumps to `clicked`, if a link was clicked.
pub fn reveal_clicked(state: &mut AppState, clicked: Option<ScriptLocation>) {
    if let Some(location) = clicked {
        state.reveal_location(&location);
    }
}
