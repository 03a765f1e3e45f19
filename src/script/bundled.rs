//! The example scripts shipped inside the binary, so `sockscope` works from
//! any folder (not only a checkout with `assets/`).

use std::path::{Path, PathBuf};

/// `assets/examples/chat.js`.
pub const CHAT_JS: &str = include_str!("../../assets/examples/chat.js");
/// `assets/examples/echo.js`.
pub const ECHO_JS: &str = include_str!("../../assets/examples/echo.js");
/// `assets/examples/connections.js`.
pub const CONNECTIONS_JS: &str = include_str!("../../assets/examples/connections.js");

/// The script used when none is given: `assets/examples/chat.js` when run
/// from a checkout, otherwise a copy written to `.sockscope/examples/chat.js`
/// (written only if missing, so a user's edits survive).
pub fn default_script_path() -> std::io::Result<PathBuf> {
    let in_checkout = Path::new("assets/examples/chat.js");
    if in_checkout.is_file() {
        return Ok(in_checkout.to_path_buf());
    }
    let copy = Path::new(".sockscope/examples/chat.js");
    if !copy.is_file() {
        std::fs::create_dir_all(".sockscope/examples")?;
        std::fs::write(copy, CHAT_JS)?;
    }
    Ok(copy.to_path_buf())
}
