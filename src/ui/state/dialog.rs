//! Native file and folder dialogs (rfd), awaited in the background.
//!
//! rfd answers `None` both for Cancel and when no dialog could be shown
//! (no desktop portal and no zenity), so an answer faster than a person can
//! cancel counts as "no dialog": the window then says to type the path.

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{AppState, UiMessage};

/// Faster than anyone closes a dialog they saw.
const FASTEST_CANCEL: Duration = Duration::from_millis(300);

impl AppState {
    /// Awaits `dialog` in the background and delivers `into_message` of the
    /// path it picked: `Ok(None)` when the user cancelled, an error when no
    /// dialog appeared.
    pub fn spawn_dialog<Dialog, IntoMessage>(&self, dialog: Dialog, into_message: IntoMessage)
    where
        Dialog: Future<Output = Option<rfd::FileHandle>> + Send + 'static,
        IntoMessage: FnOnce(Result<Option<PathBuf>, String>) -> UiMessage + Send + 'static,
    {
        self.spawn(async move {
            let opened_at = Instant::now();
            let picked = dialog.await;
            into_message(answer(
                picked.map(|file| file.path().to_path_buf()),
                opened_at.elapsed(),
            ))
        });
    }
}

fn answer(picked: Option<PathBuf>, open_for: Duration) -> Result<Option<PathBuf>, String> {
    match picked {
        Some(path) => Ok(Some(path)),
        None if open_for < FASTEST_CANCEL => Err("no desktop portal or zenity answered".to_owned()),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instant_empty_answer_means_no_dialog_and_a_slow_one_a_cancel() {
        assert!(answer(None, Duration::from_millis(5)).is_err());
        assert_eq!(answer(None, Duration::from_secs(3)), Ok(None));
        assert_eq!(
            answer(Some(PathBuf::from("/a")), Duration::from_millis(5)),
            Ok(Some(PathBuf::from("/a")))
        );
    }
}
