//! What the panels show, kept by the UI from engine events (no egui here).

pub mod approvals;
pub mod composer;
pub mod connections;
pub mod hints;
pub mod kv_view;
pub mod locations;
pub mod logs;
pub mod ordered_json;
pub mod rates;
pub mod replay_diff;
pub mod script;
pub mod services;
pub mod sessions;
pub mod timeline;
