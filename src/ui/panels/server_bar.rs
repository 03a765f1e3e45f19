//! The bar at the top: status, URLs, start/stop, address, what handles the
//! sockets (the script or the user's services), counts, recording, view.
//! One row: a bar that wraps pushes the panes down whenever it changes.

use crate::ui::model::services::services_title;
use crate::ui::state::{AppState, ServerStatus};

/// Widest the script's or the project's name gets in the bar.
const HANDLERS_MAX_WIDTH: f32 = 200.0;

/// Below this width the address fields fold into a menu and the counts
/// into one label, so Record and View stay on the row at 900 px.
const COMPACT_BELOW_WIDTH: f32 = 1180.0;

/// Server bar UI state.
#[derive(Default)]
pub struct ServerBar {
    port_text: Option<String>,
    /// How wide everything after the URLs was last drawn: the room the URLs
    /// of several sockets have is what is left of the row.
    after_urls_width: f32,
}

/// How the URLs of several sockets fit into the row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SocketsShown {
    /// `chat ws://127.0.0.1:4001`, each.
    Urls,
    /// `chat :4001`, each; the URL on hover.
    Ports,
    /// Only in the Copy URL menu.
    InMenu,
}

/// Draws the bar. Returns whether the user asked to reset the layout.
pub fn ui(ui: &mut egui::Ui, state: &mut AppState, bar: &mut ServerBar) -> bool {
    let mut reset_layout = false;
    let width = ui.available_width();
    let is_compact = width < COMPACT_BELOW_WIDTH;
    // Recording adds "Stop recording" and the REC counts: the address
    // folds into its menu sooner to make room for them.
    let folds_address =
        is_compact || (state.sessions.recording.is_some() && width < COMPACT_BELOW_WIDTH + 220.0);
    ui.horizontal(|ui| {
        if !is_compact {
            ui.strong("sockscope");
            ui.separator();
        }
        status_ui(ui, state);
        urls_ui(ui, state, bar.after_urls_width);
        let after_urls_x = ui.cursor().min.x;
        start_stop_ui(ui, state);
        ui.separator();
        if folds_address {
            let address = format!("{}:{}", state.settings.bind, state.settings.port);
            ui.menu_button("Address", |ui| {
                ui.horizontal(|ui| address_ui(ui, state, bar));
            })
            .response
            .on_hover_text(address);
        } else {
            address_ui(ui, state, bar);
        }
        ui.separator();
        let mode_x = ui.cursor().min.x;
        mode_ui(ui, state);
        // The Mode menu shares the handlers' room, so the row keeps its width.
        let mode_width = ui.cursor().min.x - mode_x;
        handlers_ui(ui, state, is_compact, mode_width);
        ui.separator();
        counts_ui(ui, state, is_compact);
        ui.separator();
        recording_ui(ui, state, is_compact);
        ui.separator();
        reset_layout = view_menu_ui(ui, state);
        let after_urls_width = ui.cursor().min.x - after_urls_x;
        if after_urls_width > bar.after_urls_width + 1.0 {
            // The URLs were laid out for more room than there is: again.
            ui.ctx().request_discard("server bar: room for the URLs");
        }
        bar.after_urls_width = after_urls_width;
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

fn status_ui(ui: &mut egui::Ui, state: &AppState) {
    let (status_text, status_color) = match &state.status {
        ServerStatus::Running => ("listening", super::RUNNING_COLOR),
        ServerStatus::Starting => ("starting...", ui.visuals().warn_fg_color),
        ServerStatus::Stopping => ("stopping...", ui.visuals().warn_fg_color),
        ServerStatus::Stopped => ("stopped", ui.visuals().weak_text_color()),
        ServerStatus::Failed(_) => ("failed", ui.visuals().error_fg_color),
    };
    ui.colored_label(status_color, status_text);
}

/// The URL clients connect to and Copy URL; with several sockets (each on
/// a port of its own) every socket's URL, as the row's room allows.
fn urls_ui(ui: &mut egui::Ui, state: &mut AppState, after_urls_width: f32) {
    let sockets: Vec<(String, String, u16)> = match (&state.engine, state.sockets.len()) {
        (Some(_), 2..) => state
            .sockets
            .iter()
            .map(|listener| {
                (
                    listener.socket.to_string(),
                    format!("ws://{}", listener.local_addr),
                    listener.local_addr.port(),
                )
            })
            .collect(),
        _ => Vec::new(),
    };
    if sockets.is_empty() {
        let url = state.server_url();
        ui.monospace(&url);
        if ui.button("Copy URL").clicked() {
            copy_url(ui, state, url);
        }
        return;
    }
    let spacing = ui.spacing().item_spacing.x;
    let width_of = |ui: &egui::Ui, text: &str, style: egui::TextStyle| {
        let font_id = style.resolve(ui.style());
        let galley = ui.fonts_mut(|fonts| {
            fonts.layout_no_wrap(text.to_owned(), font_id, egui::Color32::WHITE)
        });
        galley.size().x + spacing
    };
    let names_width: f32 = sockets
        .iter()
        .map(|(socket, _, _)| width_of(ui, socket, egui::TextStyle::Body))
        .sum();
    let urls_width: f32 = sockets
        .iter()
        .map(|(_, url, _)| width_of(ui, url, egui::TextStyle::Monospace))
        .sum();
    let ports_width: f32 = sockets
        .iter()
        .map(|(_, _, port)| width_of(ui, &format!(":{port}"), egui::TextStyle::Monospace))
        .sum();
    // The Copy URL menu after them.
    let room = ui.available_width() - after_urls_width - 90.0;
    let shown = if names_width + urls_width <= room {
        SocketsShown::Urls
    } else if names_width + ports_width <= room {
        SocketsShown::Ports
    } else {
        SocketsShown::InMenu
    };
    for (socket, url, port) in &sockets {
        match shown {
            SocketsShown::Urls => {
                ui.weak(socket);
                ui.monospace(url);
            }
            SocketsShown::Ports => {
                ui.weak(socket).on_hover_text(url);
                ui.monospace(format!(":{port}")).on_hover_text(url);
            }
            SocketsShown::InMenu => {}
        }
    }
    let menu_title = match shown {
        SocketsShown::InMenu => format!("{} sockets", sockets.len()),
        SocketsShown::Urls | SocketsShown::Ports => "Copy URL".to_owned(),
    };
    let mut copied = None;
    ui.menu_button(menu_title, |ui| {
        for (socket, url, _) in &sockets {
            if ui.button(format!("Copy {socket}: {url}")).clicked() {
                copied = Some(url.clone());
                ui.close();
            }
        }
    });
    if let Some(url) = copied {
        copy_url(ui, state, url);
    }
}

fn copy_url(ui: &egui::Ui, state: &mut AppState, url: String) {
    ui.ctx().copy_text(url.clone());
    state.notify(format!("copied {url}"), false);
}

fn start_stop_ui(ui: &mut egui::Ui, state: &mut AppState) {
    match state.status {
        ServerStatus::Running => {
            if ui
                .button("Stop")
                .on_hover_text("Close every client (1001) and stop listening")
                .clicked()
            {
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
}

/// Bind and Port, and Apply once they differ from what the server uses.
fn address_ui(ui: &mut egui::Ui, state: &mut AppState, bar: &mut ServerBar) {
    let bind_label = ui.label("Bind");
    ui.add(egui::TextEdit::singleline(&mut state.settings.bind).desired_width(90.0))
        .labelled_by(bind_label.id)
        .on_hover_text("Listen address. Anything but 127.0.0.1 makes handlers and kv reachable from the network.");
    let port_label = ui.label("Port");
    let port_text = bar
        .port_text
        .get_or_insert_with(|| state.settings.port.to_string());
    let port_response = ui
        .add(egui::TextEdit::singleline(port_text).desired_width(48.0))
        .labelled_by(port_label.id)
        .on_hover_text("0 picks a free port");
    let port_is_valid = port_text.trim().parse::<u16>().is_ok();
    if port_response.changed()
        && let Ok(port) = port_text.trim().parse()
    {
        state.settings.port = port;
    }
    if !port_is_valid {
        ui.colored_label(ui.visuals().error_fg_color, "not a port");
    }
    let needs_restart = state.engine.as_ref().is_some_and(|engine| {
        let local = engine.local_addr();
        state.settings.bind != local.ip().to_string()
            || (state.settings.port != 0 && state.settings.port != local.port())
    });
    // Only while the fields differ from the running server: the room is
    // worth more to the rest of the row than a greyed-out button.
    let is_down = matches!(
        state.status,
        ServerStatus::Stopped | ServerStatus::Failed(_)
    );
    if (needs_restart || is_down)
        && ui
            .add_enabled(needs_restart && port_is_valid, egui::Button::new("Apply"))
            .on_hover_text("Restart the server on this address")
            .clicked()
    {
        state.start_engine();
    }
}

/// Mode: run handlers, or proxy every connection to a URL.
fn mode_ui(ui: &mut egui::Ui, state: &mut AppState) {
    let hover = if state.is_proxy() {
        "Mode: proxy to URL (or run handlers)"
    } else {
        "Mode: run handlers (or proxy to URL)"
    };
    let menu = ui.menu_button("Mode", |ui| {
        if ui
            .radio(!state.is_proxy(), "run handlers")
            .on_hover_text("The script or your services handle every connection")
            .clicked()
        {
            state.switch_to_handlers();
            ui.close();
        }
        let mut is_proxy_chosen = state.is_proxy();
        ui.radio_value(&mut is_proxy_chosen, true, "proxy to URL")
            .on_hover_text(
                "Forward every connection to another websocket server and inspect its traffic",
            );
        ui.horizontal(|ui| {
            let label = ui.label("Target");
            let field = ui
                .add(
                    egui::TextEdit::singleline(&mut state.settings.proxy_target)
                        .hint_text("ws://host:port/path")
                        .desired_width(240.0),
                )
                .labelled_by(label.id);
            let submitted =
                field.lost_focus() && ui.input(|input| input.key_pressed(egui::Key::Enter));
            let is_current = state
                .launch_config
                .proxy
                .as_ref()
                .is_some_and(|proxy| proxy.target.url() == state.settings.proxy_target.trim());
            let apply = ui
                .add_enabled(
                    !is_current && !state.settings.proxy_target.trim().is_empty(),
                    egui::Button::new("Proxy"),
                )
                .on_hover_text("Restart the server as a proxy to this URL");
            if apply.clicked() || (submitted && !is_current) {
                state.switch_to_proxy();
                ui.close();
            }
        });
    });
    menu.response.on_hover_text(hover);
}

/// What handles the sockets: the proxy's target, the script's name, or
/// the project and its services.
fn handlers_ui(ui: &mut egui::Ui, state: &AppState, is_compact: bool, mode_width: f32) {
    let max_width = if is_compact {
        HANDLERS_MAX_WIDTH / 2.0
    } else {
        HANDLERS_MAX_WIDTH - mode_width
    };
    if let Some(proxy) = &state.launch_config.proxy {
        let url = proxy.target.url();
        let text = egui::RichText::new(format!("→ {url}")).monospace();
        truncated_ui(
            ui,
            text,
            format!("every connection goes to {url}"),
            max_width,
        );
        return;
    }
    let Some(services) = &state.launch_config.services else {
        let path = &state.launch_config.script.path;
        ui.label("Script").on_hover_text(path.display().to_string());
        let name = egui::RichText::new(crate::script::script_module_name(path)).monospace();
        truncated_ui(ui, name, path.display().to_string(), max_width);
        return;
    };
    let title = services_title(services, state.services.project.as_ref());
    let mut hover: Vec<String> = state
        .services
        .project
        .iter()
        .map(|project| project.dir.display().to_string())
        .collect();
    hover.extend(
        services
            .services
            .iter()
            .map(|service| format!("{}: {}", service.name, service.command_line())),
    );
    if let Some(address) = services.service_address {
        hover.push(format!("services started by hand: {address}"));
    }
    truncated_ui(ui, title.into(), hover.join("\n"), max_width);
}

/// A label cut with "…" past `max_width`, all of it on hover.
fn truncated_ui(ui: &mut egui::Ui, text: egui::RichText, hover: String, max_width: f32) {
    ui.scope(|ui| {
        ui.set_max_width(max_width);
        ui.add(egui::Label::new(text).truncate())
            .on_hover_text(hover);
    });
}

fn counts_ui(ui: &mut egui::Ui, state: &AppState, is_compact: bool) {
    let open = state.connections.open_count();
    let (rate_in, rate_out) = state.rates.latest().map_or((0.0, 0.0), |sample| {
        (sample.in_per_second, sample.out_per_second)
    });
    let rates = format!(
        "in {}/s out {}/s",
        super::format_count(rate_in.round() as u64),
        super::format_count(rate_out.round() as u64)
    );
    let live = format!("{} live", super::format_count(open as u64));
    // Fixed widths: a count that grows under load must not move the row.
    if is_compact {
        fixed_width_label(ui, live, 56.0).on_hover_text(rates);
    } else {
        fixed_width_label(ui, live, 56.0);
        fixed_width_label(ui, rates, 120.0);
    }
}

/// A label in a box of `width`, cut with "…" if it needs more.
fn fixed_width_label(ui: &mut egui::Ui, text: String, width: f32) -> egui::Response {
    let height = ui.spacing().interact_size.y;
    ui.add_sized([width, height], egui::Label::new(text).truncate())
}

fn recording_ui(ui: &mut egui::Ui, state: &mut AppState, is_compact: bool) {
    let Some(recording) = &state.sessions.recording else {
        if ui
            .add_enabled(state.engine.is_some(), egui::Button::new("Record"))
            .on_hover_text("Record every connection into a new file in the sessions folder")
            .clicked()
        {
            state.start_recording();
        }
        return;
    };
    let status = recording.status();
    if ui
        .add(egui::Button::new(
            egui::RichText::new("Stop recording").color(egui::Color32::LIGHT_RED),
        ))
        .on_hover_text(recording.path().display().to_string())
        .clicked()
    {
        state.stop_recording();
        return;
    }
    let text = format!(
        "REC {} conn, {} msg",
        super::format_count(status.connections as u64),
        super::format_count(status.messages as u64)
    );
    // In a narrow bar the button alone says it records ("REC" as its
    // text, the counts on hover); the row must keep View in sight.
    let width = if is_compact { 40.0 } else { 130.0 };
    // A failure is a notice too; here it only colours the counts.
    let (color, hover) = match &status.failure {
        Some(failure) => (ui.visuals().error_fg_color, format!("{text}: {failure}")),
        None => (egui::Color32::LIGHT_RED, text.clone()),
    };
    let height = ui.spacing().interact_size.y;
    let shown = if is_compact { "REC".to_owned() } else { text };
    ui.add_sized(
        [width, height],
        egui::Label::new(egui::RichText::new(shown).color(color)).truncate(),
    )
    .on_hover_text(hover);
}

/// The theme and the layout, in a menu. Returns whether the user asked to
/// reset the layout.
fn view_menu_ui(ui: &mut egui::Ui, state: &mut AppState) -> bool {
    let mut reset_layout = false;
    ui.menu_button("View", |ui| {
        let theme_label = if state.settings.is_dark {
            "Light theme"
        } else {
            "Dark theme"
        };
        if ui.button(theme_label).clicked() {
            state.settings.is_dark = !state.settings.is_dark;
            ui.close();
        }
        if ui
            .button("Reset layout")
            .on_hover_text("Every panel back in its first place")
            .clicked()
        {
            reset_layout = true;
            ui.close();
        }
    });
    reset_layout
}
