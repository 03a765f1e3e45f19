//! Reads and writes the panels ask for, in the background: the kv store's
//! contents and the script file.

use super::{AppState, UiMessage};

impl AppState {
    /// Reads the kv store names and the selected store's entries.
    pub fn refresh_kv(&mut self) {
        let Some(engine) = self.engine.clone() else {
            return;
        };
        let selected = self.kv.selected_store().map(str::to_owned);
        let kv = engine.kv().clone();
        self.spawn_blocking(
            move || kv.stores().map_err(|error| error.to_string()),
            UiMessage::KvStores,
        );
        if let Some(store) = selected {
            self.load_kv_store(store);
        }
    }

    /// Reads one store's entries.
    pub fn load_kv_store(&mut self, store: String) {
        let Some(engine) = self.engine.clone() else {
            return;
        };
        let kv = engine.kv().clone();
        let read_store = store.clone();
        self.spawn_blocking(
            move || {
                kv.entries(&read_store, "")
                    .map_err(|error| error.to_string())
            },
            |result| UiMessage::KvEntries { store, result },
        );
    }

    /// Reads the script file into the editor.
    pub fn load_script_file(&mut self) {
        let path = self.launch_config.script.path.clone();
        self.spawn(async move {
            UiMessage::ScriptRead(
                tokio::fs::read_to_string(&path)
                    .await
                    .map_err(|error| format!("cannot read {}: {error}", path.display())),
            )
        });
    }

    /// Writes the editor's buffer to the script file; the engine's file
    /// watcher then reloads it (and reports success or the error).
    pub fn save_script(&mut self) {
        if self.runs_services() {
            self.notify(
                "the project's services run, not the script: save their files in your editor and Restart them (Services)",
                true,
            );
            return;
        }
        let path = self.launch_config.script.path.clone();
        let text = self.script.text.clone();
        self.spawn(async move {
            UiMessage::ScriptSaved(
                tokio::fs::write(&path, text.as_bytes())
                    .await
                    .map_err(|error| format!("cannot write {}: {error}", path.display())),
            )
        });
    }
}
