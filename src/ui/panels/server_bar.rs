//! The bar at the top: URL, status, start/stop, address, script, counts.

use crate::ui::state::{AppState, ServerStatus};

/// Server bar UI state.
#[derive(Default)]
pub struct ServerBar {
    port_text: Option<String>,
}

/// Draws the bar. Returns whether the user asked to reset the layout.
pub fn ui(ui: &mut egui::Ui, state: &mut AppState, bar: &mut ServerBar) -> bool {
    let mut reset_layout = false;
    ui.horizontal_wrapped(|ui| {
        ui.strong("sockscope");
        ui.separator();
        let url = state.server_url();
        let (status_text, status_color) = match &state.status {
            ServerStatus::Running => ("listening", egui::Color32::from_rgb(0x4c, 0xaf, 0x50)),
            ServerStatus::Starting => ("starting...", ui.visuals().warn_fg_color),
            ServerStatus::Stopping => ("stopping...", ui.visuals().warn_fg_color),
            ServerStatus::Stopped => ("stopped", ui.visuals().weak_text_color()),
            ServerStatus::Failed(_) => ("failed", ui.visuals().error_fg_color),
        };
        ui.colored_label(status_color, status_text);
        ui.monospace(&url);
        if ui.button("Copy URL").clicked() {
            ui.ctx().copy_text(url.clone());
            state.notify(format!("copied {url}"), false);
        }
        match state.status {
            ServerStatus::Running => {
                if ui.button("Stop").on_hover_text("Close every client (1001) and stop listening").clicked() {
                    state.stop_engine();
                }
            }
            ServerStatus::Starting | ServerStatus::Stopping => {
                ui.add_enabled(false, egui::Button::new("Stop"));
            }
            ServerStatus::Stopped | ServerStatus::Failed(_) => {
                if ui.button("Start").clicked() {
                    state.start_engine();
                }
            }
        }
        ui.separator();

        let bind_label = ui.label("Bind");
        ui.add(egui::TextEdit::singleline(&mut state.settings.bind).desired_width(90.0))
            .labelled_by(bind_label.id)
            .on_hover_text("Listen address. Anything but 127.0.0.1 makes handlers and kv reachable from the network.");
        let port_label = ui.label("Port");
        let port_text = bar.port_text.get_or_insert_with(|| state.settings.port.to_string());
        let port_response = ui
            .add(egui::TextEdit::singleline(port_text).desired_width(48.0))
            .labelled_by(port_label.id)
            .on_hover_text("0 picks a free port");
        let port_is_valid = port_text.trim().parse::<u16>().is_ok();
        if port_response.changed() {
            if let Ok(port) = port_text.trim().parse() {
                state.settings.port = port;
            }
        }
        if !port_is_valid {
            ui.colored_label(ui.visuals().error_fg_color, "not a port");
        }
        let needs_restart = state.engine.as_ref().is_some_and(|engine| {
            let local = engine.local_addr();
            state.settings.bind != local.ip().to_string()
                || (state.settings.port != 0 && state.settings.port != local.port())
        });
        if ui
            .add_enabled(needs_restart && port_is_valid, egui::Button::new("Apply"))
            .on_hover_text("Restart the server on this address")
            .clicked()
        {
            state.start_engine();
        }
        ui.separator();

        let script_name = crate::script::script_module_name(&state.launch_config.script.path);
        ui.label("Script").on_hover_text(state.launch_config.script.path.display().to_string());
        ui.monospace(script_name);
        ui.separator();

        let open = state.connections.open_count();
        let (rate_in, rate_out) = state
            .rates
            .latest()
            .map_or((0.0, 0.0), |sample| (sample.in_per_second, sample.out_per_second));
        ui.label(format!("{open} live"));
        ui.label(format!("in {rate_in:.0}/s"));
        ui.label(format!("out {rate_out:.0}/s"));
        ui.separator();

        match &state.sessions.recording {
            Some(recording) => {
                let status = recording.status();
                if ui
                    .add(egui::Button::new(egui::RichText::new("Stop recording").color(egui::Color32::LIGHT_RED)))
                    .on_hover_text(recording.path().display().to_string())
                    .clicked()
                {
                    state.stop_recording();
                } else {
                    let text = format!("REC {} conn, {} msg", status.connections, status.messages);
                    match status.failure {
                        Some(failure) => ui.colored_label(ui.visuals().error_fg_color, format!("{text}: {failure}")),
                        None => ui.colored_label(egui::Color32::LIGHT_RED, text),
                    };
                }
            }
            None => {
                if ui
                    .add_enabled(state.engine.is_some(), egui::Button::new("Record"))
                    .on_hover_text("Record every connection into a new file in the sessions folder")
                    .clicked()
                {
                    state.start_recording();
                }
            }
        }
        ui.separator();
        let theme_label = if state.settings.is_dark { "Light theme" } else { "Dark theme" };
        if ui.button(theme_label).clicked() {
            state.settings.is_dark = !state.settings.is_dark;
        }
        if ui.button("Reset layout").clicked() {
            reset_layout = true;
        }
    });
    if let ServerStatus::Failed(why) = &state.status {
        ui.colored_label(
            ui.visuals().error_fg_color,
            format!("The server did not start: {why}"),
        );
        if why.contains("in use") {
            ui.label("Another program (or another sockscope) uses this port: set Port to 0 for any free port, then Start.");
        }
    }
    if !state.settings.bind.starts_with("127.") && state.settings.bind != "::1" {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            "Not bound to loopback: handlers and the kv store are reachable from the network.",
        );
    }
    reset_layout
}
