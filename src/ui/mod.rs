//! The inspector window (eframe/egui). It reads snapshots and events of the
//! engine and sends it commands; it never blocks on the engine.

pub mod app;
pub mod highlight;
pub mod model;
pub mod panels;
pub mod test_client;

use crate::engine::config::EngineConfig;

/// Opens the window and runs until it is closed. The engine runs on
/// `runtime`; eframe keeps the calling (main) thread.
pub fn run(
    runtime: &tokio::runtime::Runtime,
    mut engine_config: EngineConfig,
) -> Result<(), eframe::Error> {
    // The window shows a broken script's error instead of refusing to
    // start, and picks up edits made in another editor.
    engine_config.start_with_broken_script = true;
    engine_config.watch_script = true;
    let _entered = runtime.enter();
    let handle = runtime.handle().clone();
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("sockscope")
            .with_app_id("sockscope")
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([720.0, 420.0]),
        ..Default::default()
    };
    eframe::run_native(
        "sockscope",
        options,
        Box::new(move |cc| Ok(Box::new(app::SockscopeApp::new(cc, handle, engine_config)))),
    )
}
