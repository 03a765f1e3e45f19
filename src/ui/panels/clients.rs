//! Built-in test clients: connect to the embedded server or any ws:// URL
//! with a query string, send text / JSON / binary, read the replies.

use super::format_time;
use crate::core::events::Payload;
use crate::ui::model::composer::{ComposeMode, compose};
use crate::ui::state::AppState;
use crate::ui::test_client::{ClientState, TestClient};

/// Clients panel UI state.
pub struct ClientsPanel {
    url: String,
    /// Which socket a new client connects to, when several are served.
    socket: Option<String>,
    path: String,
    query: Vec<(String, String)>,
    selected: usize,
    compose_mode: ComposeMode,
    compose_text: String,
    /// The last send error and the client it happened on.
    compose_error: Option<(String, String)>,
}

impl Default for ClientsPanel {
    fn default() -> Self {
        Self {
            url: String::new(),
            socket: None,
            path: "/".to_owned(),
            query: vec![("name".to_owned(), "tester".to_owned())],
            selected: 0,
            compose_mode: ComposeMode::Text,
            compose_text: String::new(),
            compose_error: None,
        }
    }
}

impl ClientsPanel {
    /// The URL a new client connects to.
    fn target_url(&self, state: &AppState) -> String {
        let chosen = self.socket.as_deref().and_then(|socket| {
            state
                .sockets
                .iter()
                .find(|listener| &*listener.socket == socket)
        });
        let base = if let (true, Some(listener)) = (self.url.trim().is_empty(), chosen) {
            format!("ws://{}", listener.local_addr)
        } else if self.url.trim().is_empty() {
            state.server_url()
        } else {
            self.url.trim().to_owned()
        };
        let mut query = crate::core::query::Query::new();
        for (key, value) in self.query.iter().filter(|(key, _)| !key.is_empty()) {
            query.entry(key.clone()).or_default().push(value.clone());
        }
        format!(
            "{}{}",
            base.trim_end_matches('/'),
            crate::core::query::path_and_query(&self.path, &query)
        )
    }

    /// Draws the panel.
    pub fn ui(&mut self, ui: &mut egui::Ui, state: &mut AppState) {
        self.new_client_ui(ui, state);
        ui.separator();
        if state.clients.is_empty() {
            ui.weak("No clients yet: Connect opens one to the URL above.");
            return;
        }
        ui.horizontal_wrapped(|ui| {
            for (index, client) in state.clients.iter().enumerate() {
                let marker = match client.state {
                    ClientState::Open => "open",
                    ClientState::Connecting => "connecting",
                    ClientState::Closed { .. } => "closed",
                    ClientState::Failed(_) => "failed",
                };
                ui.selectable_value(
                    &mut self.selected,
                    index,
                    format!("{} ({marker})", client.label),
                );
            }
            if ui.button("Remove closed").clicked() {
                state.clients.retain(|client| {
                    matches!(client.state, ClientState::Open | ClientState::Connecting)
                });
                self.selected = 0;
            }
        });
        self.selected = self.selected.min(state.clients.len().saturating_sub(1));
        let runtime = state.runtime.clone();
        let repaint = std::sync::Arc::clone(&state.repaint);
        let Some(client) = state.clients.get_mut(self.selected) else {
            return;
        };
        if self
            .compose_error
            .as_ref()
            .is_some_and(|(label, _)| *label != client.label)
        {
            // An error belongs to the client it happened on.
            self.compose_error = None;
        }
        if self.client_ui(ui, client) {
            *client =
                TestClient::connect(&runtime, client.label.clone(), client.url.clone(), repaint);
        }
    }

    fn new_client_ui(&mut self, ui: &mut egui::Ui, state: &mut AppState) {
        ui.horizontal(|ui| {
            let url_label = ui.label("Server");
            ui.add(
                egui::TextEdit::singleline(&mut self.url)
                    .hint_text(state.server_url())
                    .desired_width(190.0),
            )
            .labelled_by(url_label.id)
            .on_hover_text("Empty: the embedded server. Or any ws:// URL.");
            self.socket_picker_ui(ui, state);
            let path_label = ui.label("Path");
            ui.add(egui::TextEdit::singleline(&mut self.path).desired_width(70.0))
                .labelled_by(path_label.id);
        });
        ui.label("Query");
        let mut remove = None;
        for (index, (key, value)) in self.query.iter_mut().enumerate() {
            ui.horizontal(|ui| {
                ui.add(
                    egui::TextEdit::singleline(key)
                        .hint_text("key")
                        .desired_width(90.0),
                );
                ui.label("=");
                ui.add(
                    egui::TextEdit::singleline(value)
                        .hint_text("value")
                        .desired_width(140.0),
                );
                if ui
                    .button("Remove")
                    .on_hover_text("Remove this query parameter")
                    .clicked()
                {
                    remove = Some(index);
                }
            });
        }
        if let Some(index) = remove {
            self.query.remove(index);
        }
        // Wrapped: a long URL running past a narrow pane widened everything
        // under it, and the Send button went out of sight.
        ui.horizontal_wrapped(|ui| {
            if ui.button("Add parameter").clicked() {
                self.query.push((String::new(), String::new()));
            }
            let url = self.target_url(state);
            if ui.button("Connect").on_hover_text(&url).clicked() {
                state.clients_created += 1;
                let label = format!("client {}", state.clients_created);
                let client = TestClient::connect(
                    &state.runtime,
                    label,
                    url.clone(),
                    std::sync::Arc::clone(&state.repaint),
                );
                state.clients.push(client);
                self.selected = state.clients.len() - 1;
            }
            ui.monospace(url);
        });
    }

    /// With several sockets (each on its own port), which one to connect to.
    fn socket_picker_ui(&mut self, ui: &mut egui::Ui, state: &AppState) {
        if state.sockets.len() < 2 || !self.url.trim().is_empty() {
            return;
        }
        let known = |name: &str| {
            state
                .sockets
                .iter()
                .any(|listener| &*listener.socket == name)
        };
        if !self.socket.as_deref().is_some_and(known) {
            self.socket = state
                .sockets
                .first()
                .map(|listener| listener.socket.to_string());
        }
        let label = ui.label("Socket");
        egui::ComboBox::from_id_salt("client socket")
            .selected_text(self.socket.clone().unwrap_or_default())
            .show_ui(ui, |ui| {
                for listener in &state.sockets {
                    let name = listener.socket.to_string();
                    let text = format!("{name}  :{}", listener.local_addr.port());
                    ui.selectable_value(&mut self.socket, Some(name), text);
                }
            })
            .response
            .labelled_by(label.id);
    }

    /// Draws one client; returns whether the user asked to reconnect it.
    fn client_ui(&mut self, ui: &mut egui::Ui, client: &mut TestClient) -> bool {
        let mut reconnect = false;
        ui.horizontal_wrapped(|ui| {
            ui.strong(&client.label);
            ui.monospace(&client.url);
            match &client.state {
                ClientState::Failed(why) => {
                    ui.colored_label(ui.visuals().error_fg_color, format!("failed: {why}"));
                    reconnect = ui.button("Reconnect").clicked();
                }
                ClientState::Closed { code, reason } => {
                    ui.weak(format!(
                        "closed {} {reason}",
                        code.map_or("without code".to_owned(), |code| code.to_string())
                    ));
                    reconnect = ui.button("Reconnect").clicked();
                }
                ClientState::Connecting => {
                    ui.weak("connecting...");
                }
                ClientState::Open => {
                    if ui.button("Disconnect").clicked() {
                        client.close(crate::core::close_code::NORMAL, String::new());
                    }
                }
            }
        });
        ui.add_enabled_ui(client.is_open(), |ui| {
            ui.horizontal_wrapped(|ui| {
                super::combo_ui(
                    ui,
                    "client_compose_mode",
                    "Send as",
                    self.compose_mode.label(),
                    |ui| {
                        for mode in ComposeMode::ALL {
                            ui.selectable_value(&mut self.compose_mode, mode, mode.label());
                        }
                    },
                );
                let message_label = ui.label("Message");
                let response = ui
                    .add(
                        egui::TextEdit::singleline(&mut self.compose_text)
                            .desired_width((ui.available_size_before_wrap().x - 60.0).max(120.0)),
                    )
                    .labelled_by(message_label.id);
                let submitted =
                    response.lost_focus() && ui.input(|input| input.key_pressed(egui::Key::Enter));
                // An empty field would send a 0-byte frame nobody meant.
                let has_text = !self.compose_text.is_empty();
                let send = ui
                    .add_enabled(has_text, egui::Button::new("Send"))
                    .on_disabled_hover_text("Type a message first");
                if has_text && (send.clicked() || submitted) {
                    self.compose_error = compose(self.compose_mode, &self.compose_text)
                        .and_then(|payload| client.send(payload))
                        .err()
                        .map(|error| (client.label.clone(), error));
                }
            });
        });
        if let Some((_, error)) = &self.compose_error {
            ui.colored_label(ui.visuals().error_fg_color, error);
        }
        let row_height = ui.text_style_height(&egui::TextStyle::Monospace) + 2.0;
        let log = client.log();
        egui::ScrollArea::vertical()
            .id_salt(("client_log", &client.label))
            .stick_to_bottom(true)
            .auto_shrink([false, false])
            .show_rows(ui, row_height, log.len(), |ui, range| {
                for line in log.range(range) {
                    let text = match &line.payload {
                        Some(Payload::Text(text)) => text.to_string(),
                        Some(payload) => payload.preview(200),
                        None => line.note.clone(),
                    };
                    // "sent"/"recv" as in session files: the Messages panel's
                    // in/out are the server's view, the opposite of a client's.
                    let direction = match (&line.payload, line.is_outgoing) {
                        (None, _) => "   -",
                        (Some(_), true) => "sent",
                        (Some(_), false) => "recv",
                    };
                    ui.monospace(format!("{} {direction} {text}", format_time(line.at)));
                }
            });
        reconnect
    }
}
