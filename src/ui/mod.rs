//! The inspector window (eframe/egui). It reads snapshots and events of the
//! engine and sends it commands; it never blocks on the engine.

//! Layers inside the window, bottom first: `model` (what is shown) and
//! `test_client`, `state` (the app state and the work it starts), `panels`
//! (drawing), `app` (the eframe app and layout).

pub mod highlight;
pub mod model;
pub mod test_client;

pub mod state;

pub mod panels;

pub mod app;

use crate::launch::LaunchConfig;

/// Opens the window and runs until it is closed. The engine runs on
/// `runtime`; eframe keeps the calling (main) thread.
pub fn run(
    runtime: &tokio::runtime::Runtime,
    mut launch_config: LaunchConfig,
) -> Result<(), eframe::Error> {
    // The window shows a broken script's error instead of refusing to
    // start, and picks up edits made in another editor.
    launch_config.script.start_with_broken_script = true;
    launch_config.script.watch = true;
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
        Box::new(move |cc| Ok(Box::new(app::SockscopeApp::new(cc, handle, launch_config)))),
    )
}
