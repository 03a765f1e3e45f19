//! The eframe application: owns the state, the layout and the panels.

pub mod layout;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::launch::LaunchConfig;
use crate::ui::panels::{self, Panels};
use crate::ui::state::ingest::{FLOOD_FRAME_INTERVAL, Ingest, IngestPace};
use crate::ui::state::{AppState, Settings, UiMessage};
use layout::{Pane, PaneBehavior, default_tree};

const SETTINGS_KEY: &str = "sockscope_settings";
const LAYOUT_KEY: &str = "sockscope_layout";

/// How long notices stay at the bottom of the window.
const NOTICE_LIFETIME: Duration = Duration::from_secs(8);

/// The sockscope window.
pub struct SockscopeApp {
    /// Shared state (public for tests that drive the app).
    pub state: AppState,
    ingest: Ingest,
    messages: mpsc::UnboundedReceiver<UiMessage>,
    panels: Panels,
    tree: egui_tiles::Tree<Pane>,
    applied_dark_theme: Option<bool>,
}

impl SockscopeApp {
    /// Creates the app and starts the engine described by `launch_config`
    /// on `runtime`.
    pub fn new(
        cc: &eframe::CreationContext<'_>,
        runtime: tokio::runtime::Handle,
        launch_config: LaunchConfig,
    ) -> Self {
        let settings: Settings = cc
            .storage
            .and_then(|storage| eframe::get_value(storage, SETTINGS_KEY))
            .unwrap_or_default();
        Self::with_settings(cc, runtime, launch_config, settings)
    }

    /// [`SockscopeApp::new`] with these saved settings instead of the
    /// storage's (a window restarted in a test).
    pub fn with_settings(
        cc: &eframe::CreationContext<'_>,
        runtime: tokio::runtime::Handle,
        launch_config: LaunchConfig,
        mut settings: Settings,
    ) -> Self {
        settings.bind = launch_config.server.bind.to_string();
        settings.port = launch_config.server.port;
        let tree = layout::restored_tree(
            cc.storage
                .and_then(|storage| eframe::get_value(storage, LAYOUT_KEY)),
        );
        let (sender, messages) = mpsc::unbounded_channel();
        let egui_ctx = cc.egui_ctx.clone();
        let repaint: Arc<dyn Fn() + Send + Sync> = Arc::new(move || egui_ctx.request_repaint());
        let mut state = AppState::new(runtime, repaint, launch_config, settings, sender);
        // With --project/--run there may be no script file to show.
        if !state.runs_services() {
            state.load_script_file();
        }
        state.start_engine();
        state.list_sessions();
        Self {
            state,
            ingest: Ingest::default(),
            messages,
            panels: Panels::default(),
            tree,
            applied_dark_theme: None,
        }
    }

    /// Puts back the default layout (all panels, default places).
    pub fn reset_layout(&mut self) {
        self.tree = default_tree();
    }
}

impl eframe::App for SockscopeApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        while let Ok(message) = self.messages.try_recv() {
            self.state.apply_message(message, &mut self.ingest);
        }
        let now = Instant::now();
        let pace = self.state.ingest_frame(&mut self.ingest, now);
        self.state.refresh_periodic(&mut self.ingest, now);
        let mut client_activity = Vec::new();
        for client in &mut self.state.clients {
            let activity = client.drain();
            if !activity.is_empty() {
                client_activity.push((
                    client.label.clone(),
                    client.url.clone(),
                    client.close_requested(),
                    activity,
                ));
            }
        }
        for (label, url, close_requested, activity) in client_activity {
            self.state
                .record_client_activity(&label, &url, close_requested, &activity);
        }
        self.state
            .notices
            .retain(|notice| now.duration_since(notice.at) < NOTICE_LIFETIME);
        // Frames only when something on screen changes: every frame costs
        // tens of milliseconds under a software renderer. Events and
        // background results wake the window themselves; panels that show
        // a ticking time ask for their own next frame. A flood gets a few
        // frames a second: the server needs the CPU more than anyone needs
        // rows scrolling by faster than they can be read.
        match pace {
            IngestPace::Flood => ctx.request_repaint_after(FLOOD_FRAME_INTERVAL),
            IngestPace::CatchingUp => ctx.request_repaint(),
            IngestPace::Drained if self.state.kv.is_animating(now) => {
                ctx.request_repaint_after(Duration::from_millis(50));
            }
            IngestPace::Drained => {
                if let Some(due_in) = self.ingest.refresh_due_in(now) {
                    ctx.request_repaint_after(due_in);
                }
            }
        }
        if let Some(oldest) = self.state.notices.first() {
            ctx.request_repaint_after(
                NOTICE_LIFETIME.saturating_sub(now.duration_since(oldest.at)),
            );
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        if self.applied_dark_theme != Some(self.state.settings.is_dark) {
            let theme = if self.state.settings.is_dark {
                egui::Theme::Dark
            } else {
                egui::Theme::Light
            };
            ui.ctx().set_theme(theme);
            // egui's light selection is a saturated blue that coloured text
            // (the in/out arrows, JSON values) cannot be read on.
            ui.ctx().style_mut_of(egui::Theme::Light, |style| {
                style.visuals.selection.bg_fill = egui::Color32::from_rgb(0xc5, 0xdc, 0xf7);
                style.visuals.selection.stroke.color = egui::Color32::from_rgb(0x0d, 0x2b, 0x55);
            });
            self.applied_dark_theme = Some(self.state.settings.is_dark);
        }
        let save_shortcut = egui::KeyboardShortcut::new(egui::Modifiers::COMMAND, egui::Key::S);
        if ui
            .ctx()
            .input_mut(|input| input.consume_shortcut(&save_shortcut))
        {
            self.state.save_script();
        }
        let mut reset_layout = false;
        egui::Panel::top("server_bar").show(ui, |ui| {
            reset_layout = panels::server_bar::ui(ui, &mut self.state, &mut self.panels.server_bar);
        });
        egui::Panel::bottom("notices").show(ui, |ui| panels::notices_ui(ui, &self.state));
        egui::CentralPanel::default().show(ui, |ui| {
            let mut behavior = PaneBehavior {
                state: &mut self.state,
                panels: &mut self.panels,
            };
            self.tree.ui(&mut behavior, ui);
        });
        if reset_layout {
            self.reset_layout();
        }
        if self.state.reveal_script_line.is_some() {
            self.tree.make_active(|_, tile| {
                matches!(tile, egui_tiles::Tile::Pane(layout::Pane::Script))
            });
            ui.ctx().request_repaint();
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, SETTINGS_KEY, &self.state.settings);
        eframe::set_value(storage, LAYOUT_KEY, &self.tree);
    }
}
