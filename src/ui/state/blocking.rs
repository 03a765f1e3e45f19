//! Blocking work (file and kv I/O) off the runtime's async threads, its
//! result delivered to the UI as a [`UiMessage`].

use super::{AppState, UiMessage};

impl AppState {
    /// Runs `work` on a blocking thread and delivers `into_message` of its
    /// result. A thread that panicked arrives as an `Err` too, so the user
    /// hears about it.
    pub(crate) fn spawn_blocking<T, Work, IntoMessage>(&self, work: Work, into_message: IntoMessage)
    where
        T: Send + 'static,
        Work: FnOnce() -> Result<T, String> + Send + 'static,
        IntoMessage: FnOnce(Result<T, String>) -> UiMessage + Send + 'static,
    {
        self.spawn(async move {
            let result = match tokio::task::spawn_blocking(work).await {
                Ok(result) => result,
                Err(error) => Err(format!("the background work failed: {error}")),
            };
            into_message(result)
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::mpsc;

    use super::*;
    use crate::launch::LaunchConfig;
    use crate::ui::state::Settings;

    #[test]
    fn a_panic_in_blocking_work_reaches_the_user_as_an_error() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let (sender, mut receiver) = mpsc::unbounded_channel();
        let state = AppState::new(
            runtime.handle().clone(),
            Arc::new(|| {}),
            LaunchConfig::new("unused.js"),
            Settings::default(),
            sender,
        );
        state.spawn_blocking(
            || -> Result<String, String> { panic!("disk on fire") },
            UiMessage::SessionFileWritten,
        );
        let message = runtime.block_on(receiver.recv());
        let Some(UiMessage::SessionFileWritten(Err(error))) = message else {
            panic!("expected the panic as an error");
        };
        assert!(error.contains("panicked"), "{error}");
    }
}
