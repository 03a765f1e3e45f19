//! The user's own services (the real-runtime lane): the sockets they serve,
//! each process with its command, state, restarts and what it declared,
//! and Restart. With the embedded lane, how to get there.

use crate::engine::command::Command;
use crate::runtime::ServiceSummary;
use crate::ui::model::services::{is_not_served, services_title};
use crate::ui::state::{AppState, ServerStatus};

/// What the panel says while the embedded script runs.
pub const EMBEDDED_LANE_TEXT: &str = "Services run when you open a Nitric project (Open project…) or start sockscope with --project DIR / --run CMD";

/// A project run in the embedded lane: its service files, each in a
/// context of its own, and the sockets they serve.
fn embedded_services_ui(ui: &mut egui::Ui, state: &AppState) {
    let script = &state.launch_config.script;
    if script.other_services.is_empty() {
        return;
    }
    let count = script.other_services.len() + 1;
    ui.strong(format!(
        "{count} service files, embedded (a JavaScript context each, one kv)"
    ));
    for file in std::iter::once(&script.path).chain(&script.other_services) {
        ui.monospace(crate::script::script_module_name(file));
    }
    if !state.sockets.is_empty() {
        ui.horizontal_wrapped(|ui| {
            ui.label("Sockets:");
            for listener in &state.sockets {
                ui.monospace(format!("{} ws://{}", listener.socket, listener.local_addr));
            }
        });
    }
    ui.separator();
}

/// Services panel UI state.
#[derive(Default)]
pub struct ServicesPanel;

impl ServicesPanel {
    /// Draws the panel.
    pub fn ui(&mut self, ui: &mut egui::Ui, state: &mut AppState) {
        let Some(services) = &state.launch_config.services else {
            embedded_services_ui(ui, state);
            ui.label(EMBEDDED_LANE_TEXT);
            if ui
                .add_enabled(
                    state.can_switch_handlers(),
                    egui::Button::new("Open project…"),
                )
                .on_hover_text("Run a Nitric project's own services (the folder with nitric.yaml)")
                .clicked()
            {
                state.pick_project_folder();
            }
            return;
        };
        let title = services_title(services, state.services.project.as_ref());
        let startup_timeout_secs = services.startup_timeout.as_secs();
        ui.horizontal(|ui| {
            let title = ui.strong(title);
            if let Some(project) = &state.services.project {
                title.on_hover_text(project.dir.display().to_string());
            }
            let can_restart = state.engine.is_some() && !state.services.summaries.is_empty();
            if ui
                .add_enabled(can_restart, egui::Button::new("Restart all"))
                .on_hover_text(
                    "Stop every service and start it again (after editing its files). Open connections stay; their events wait for the new processes.",
                )
                .clicked()
            {
                state.command(
                    "restart the services",
                    Command::ReloadScript { source: None },
                );
            }
            if ui
                .add_enabled(
                    state.can_switch_handlers(),
                    egui::Button::new("Open project…"),
                )
                .on_hover_text("Run another Nitric project")
                .clicked()
            {
                state.pick_project_folder();
            }
        });
        match &state.status {
            ServerStatus::Starting => {
                ui.weak(format!(
                    "Starting: waiting up to {startup_timeout_secs} s for every service to register a websocket handler…"
                ));
            }
            ServerStatus::Failed(why) => {
                ui.colored_label(ui.visuals().error_fg_color, why);
            }
            ServerStatus::Stopped | ServerStatus::Stopping => {
                ui.weak("The server is not running.");
            }
            ServerStatus::Running => {}
        }
        if state.engine.is_some() {
            sockets_ui(ui, state);
        }
        if state.services.summaries.is_empty() {
            return;
        }
        ui.separator();
        let action = egui::ScrollArea::both()
            .id_salt("services_table")
            .auto_shrink([false, false])
            .show(ui, |ui| summaries_ui(ui, &state.services.summaries))
            .inner;
        if let Some((what, command)) = action {
            state.command(what, command);
        }
    }
}

/// Every socket the services registered and its URL (the server bar has
/// room for a few).
fn sockets_ui(ui: &mut egui::Ui, state: &mut AppState) {
    let mut copied = None;
    egui::Grid::new("service_sockets")
        .num_columns(3)
        .show(ui, |ui| {
            for listener in &state.sockets {
                let url = format!("ws://{}", listener.local_addr);
                if listener.socket.is_empty() {
                    ui.weak("(no socket registered yet)");
                } else {
                    ui.label(format!("socket {}", listener.socket));
                }
                ui.monospace(&url);
                if ui.small_button("Copy").on_hover_text(&url).clicked() {
                    copied = Some(url);
                }
                ui.end_row();
            }
        });
    if let Some(url) = copied {
        ui.ctx().copy_text(url.clone());
        state.notify(format!("copied {url}"), false);
    }
}

/// One row per service; its declarations one per line. A handful of
/// processes, so a grid rather than a virtualised table.
/// Returns the command a row's button asked for, with its wording.
fn summaries_ui(
    ui: &mut egui::Ui,
    summaries: &[ServiceSummary],
) -> Option<(&'static str, Command)> {
    let mut action = None;
    // Whole lines, scrolled sideways when narrow: a declaration wrapped
    // letter by letter in a squeezed column cannot be read.
    ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Extend);
    egui::Grid::new("services")
        .striped(true)
        .num_columns(6)
        .spacing([16.0, 4.0])
        .show(ui, |ui| {
            // The command last: it is the widest and the least looked at.
            for title in ["service", "", "state", "restarts", "declared", "command"] {
                ui.strong(title);
            }
            ui.end_row();
            for summary in summaries {
                ui.monospace(&summary.name);
                if summary.command.is_empty() {
                    // Started by hand: not sockscope's to stop or restart.
                    ui.label("");
                } else {
                    ui.horizontal(|ui| {
                        let name = summary.name.clone();
                        if ui
                            .small_button("Restart service")
                            .on_hover_text("Stop this service and start it again")
                            .clicked()
                        {
                            action = Some((
                                "restart the service",
                                Command::RestartService { name: name.clone() },
                            ));
                        }
                        if ui
                            .small_button("Stop service")
                            .on_hover_text("Stop this service; Restart starts it again")
                            .clicked()
                        {
                            action = Some(("stop the service", Command::StopService { name }));
                        }
                    });
                }
                state_ui(ui, &summary.state);
                ui.label(summary.restarts.to_string());
                match summary.declared.as_slice() {
                    [] => {
                        ui.weak("nothing yet");
                    }
                    [only] => declared_line_ui(ui, only),
                    several => {
                        ui.vertical(|ui| {
                            for line in several {
                                declared_line_ui(ui, line);
                            }
                        });
                    }
                }
                if summary.command.is_empty() {
                    ui.weak("started by hand");
                } else {
                    ui.monospace(&summary.command);
                }
                ui.end_row();
            }
        });
    action
}

fn state_ui(ui: &mut egui::Ui, state: &str) {
    let color = if state.starts_with("running") || state.starts_with("listening") {
        super::RUNNING_COLOR
    } else if state == "stopped" {
        ui.visuals().weak_text_color()
    } else {
        ui.visuals().error_fg_color
    };
    ui.colored_label(color, state);
}

fn declared_line_ui(ui: &mut egui::Ui, line: &str) {
    if is_not_served(line) {
        ui.colored_label(ui.visuals().warn_fg_color, line)
            .on_hover_text(
                "sockscope accepts this declaration but does not serve it: run the project under nitric start for it",
            );
    } else {
        ui.label(line);
    }
}
