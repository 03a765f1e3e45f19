//! One module per panel. Each panel is a struct holding its own UI state
//! with `fn ui(&mut self, ui, state)`; panels change the engine only through
//! commands.

pub mod clients;
pub mod connections;
pub mod intercept;
pub mod json_view;
pub mod kv;
pub mod locations;
pub mod log;
pub mod messages;
pub mod plot;
pub mod replay_diff;
pub mod script;
mod script_modules;
pub mod server_bar;
pub mod services;
pub mod session_events;
pub mod sessions;

use crate::core::events::ConnectionId;
use crate::ui::state::AppState;
use crate::ui::state::ingest::FLOOD_FRAME_INTERVAL;

/// Per-panel UI state.
#[derive(Default)]
pub struct Panels {
    /// Server bar.
    pub server_bar: server_bar::ServerBar,
    /// Connections table.
    pub connections: connections::ConnectionsPanel,
    /// Messages timeline.
    pub messages: messages::MessagesPanel,
    /// KV browser.
    pub kv: kv::KvPanel,
    /// Script editor.
    pub script: script::ScriptPanel,
    /// Connection approvals, message breakpoints and held messages.
    pub intercept: intercept::InterceptPanel,
    /// Test clients.
    pub clients: clients::ClientsPanel,
    /// Log.
    pub log: log::LogPanel,
    /// Session files and replays.
    pub sessions: sessions::SessionsPanel,
    /// The user's services (the real-runtime lane).
    pub services: services::ServicesPanel,
}

/// What "listening" and "running" are drawn in.
pub const RUNNING_COLOR: egui::Color32 = egui::Color32::from_rgb(0x4c, 0xaf, 0x50);

/// The colours of "in" and "out" wherever traffic is drawn (Messages,
/// Plot); darker shades on the light theme, readable on its selection too.
pub fn direction_colors(visuals: &egui::Visuals) -> (egui::Color32, egui::Color32) {
    if visuals.dark_mode {
        (
            egui::Color32::from_rgb(0x64, 0xb5, 0xf6),
            egui::Color32::from_rgb(0x8b, 0xc3, 0x4a),
        )
    } else {
        (
            egui::Color32::from_rgb(0x0d, 0x47, 0xa1),
            egui::Color32::from_rgb(0x1b, 0x5e, 0x20),
        )
    }
}

/// A table cell: one line, cut with "…" when the column is too narrow, and
/// not selectable, so a click on it selects the row.
pub fn cell(ui: &mut egui::Ui, text: impl Into<egui::WidgetText>) -> egui::Response {
    ui.add(egui::Label::new(text).selectable(false).truncate())
}

/// First 8 hex digits of a connection id: enough to tell connections apart
/// on screen (the full id is in the hover text and the detail views).
pub fn short_id(connection_id: &ConnectionId) -> String {
    connection_id.simple().to_string()[..8].to_owned()
}

/// `1.2 KiB`, `3 B`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `4s`, `2m 05s`, `1h 02m`.
pub fn format_duration(duration: chrono::Duration) -> String {
    let seconds = duration.num_seconds().max(0);
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m {:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h {:02}m", seconds / 3600, (seconds % 3600) / 60),
    }
}

/// What an empty panel says: one line of hint, then the example client
/// command for the loaded script with a Copy button.
pub fn empty_state_ui(ui: &mut egui::Ui, state: &mut crate::ui::state::AppState, hint: &str) {
    ui.add_space(8.0);
    ui.weak(hint);
    if state.engine.is_none() || state.runs_services() && state.sockets.is_empty() {
        return;
    }
    // In proxy mode the script's own command names the wrong server: a
    // client goes to the proxy, which forwards it to the target.
    let proxy_target = state
        .launch_config
        .proxy
        .as_ref()
        .map(|proxy| proxy.target.url().to_owned());
    let command = match &proxy_target {
        Some(_) => crate::ui::model::hints::proxy_client_command(&state.server_url()),
        None => crate::ui::model::hints::example_client_command(
            &state.script.saved_text,
            &state.server_url(),
        ),
    };
    if let Some(target) = &proxy_target {
        ui.weak(format!(
            "Connect to the proxy: each connection goes on to {target}, with its path and query."
        ));
    }
    ui.horizontal_wrapped(|ui| {
        ui.weak("Try:");
        ui.add(egui::Label::new(egui::RichText::new(&command).monospace()).selectable(true));
        if ui.small_button("Copy").clicked() {
            ui.ctx().copy_text(command.clone());
            state.notify(format!("copied {command}"), false);
        }
    });
}

/// A label, then its combo box, named by the label for screen readers
/// (egui's own `ComboBox::new` puts the label after the box).
pub fn combo_ui<R>(
    ui: &mut egui::Ui,
    id_salt: impl egui::AsIdSalt,
    label: &str,
    selected_text: impl Into<egui::WidgetText>,
    add_contents: impl FnOnce(&mut egui::Ui) -> R,
) -> egui::Response {
    let label = ui.label(label);
    egui::ComboBox::from_id_salt(id_salt)
        .selected_text(selected_text)
        .show_ui(ui, add_contents)
        .response
        .labelled_by(label.id)
}

/// `1,000,000`: counts with thousands separators, as the log writes them.
pub use crate::core::logging::thousands as format_count;

/// Local wall-clock time to the second.
pub fn format_clock(at: chrono::DateTime<chrono::Utc>) -> String {
    at.with_timezone(&chrono::Local)
        .format("%H:%M:%S")
        .to_string()
}

/// Local wall-clock time with milliseconds.
pub fn format_time(at: chrono::DateTime<chrono::Utc>) -> String {
    at.with_timezone(&chrono::Local)
        .format("%H:%M:%S%.3f")
        .to_string()
}

/// The strip of recent notices at the bottom of the window.
pub fn notices_ui(ui: &mut egui::Ui, state: &AppState) {
    ui.horizontal(|ui| {
        match state.notices.last() {
            Some(notice) if notice.is_error => {
                ui.colored_label(ui.visuals().error_fg_color, &notice.text);
            }
            Some(notice) => {
                ui.label(&notice.text);
            }
            None => {
                ui.weak("Ready.");
            }
        }
        if state.missed_events > 0 || state.is_flooded {
            ui.separator();
            let skipped = format!("{} events skipped", format_count(state.missed_events));
            let text = if state.is_flooded {
                format!(
                    "flood: {} frames a second, a sample of the traffic; {skipped}",
                    1000 / FLOOD_FRAME_INTERVAL.as_millis().max(1)
                )
            } else {
                format!("{skipped}: the display fell behind")
            };
            ui.colored_label(ui.visuals().warn_fg_color, text)
                .on_hover_text(
                    "Events came faster than anyone can read them. The server, its log and \
                 recordings keep every one; only this window skipped them.",
                );
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_sizes_and_durations() {
        assert_eq!(format_bytes(3), "3 B");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_duration(chrono::Duration::seconds(125)), "2m 05s");
        assert_eq!(format_duration(chrono::Duration::seconds(3720)), "1h 02m");
        assert_eq!(format_count(0), "0");
        assert_eq!(format_count(999), "999");
        assert_eq!(format_count(1000), "1,000");
        assert_eq!(format_count(1_000_000), "1,000,000");
    }
}
