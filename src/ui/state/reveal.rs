//! Jumping to a `file:line` from any panel: the Script panel comes to the
//! front with that line in view — in the editor for the script, or with
//! the Module picker switched to the project file it names.

use std::path::PathBuf;

use super::{AppState, UiMessage};
use crate::core::events::ScriptLocation;

impl AppState {
    /// Shows `location` in the Script panel; says why not when it is in no
    /// file of the loaded handlers.
    pub fn reveal_location(&mut self, location: &ScriptLocation) {
        let entry = self.launch_config.script.path.clone();
        let entry_name = crate::script::script_module_name(&entry);
        if self.runs_services() {
            self.notify(
                format!(
                    "{location}: the Script panel shows no script while your services run; open {} in your editor",
                    location.file
                ),
                true,
            );
            return;
        }
        if location.file == entry_name {
            self.script.viewed_module = None;
            self.script.pending_reveal = None;
            self.reveal_script_line = Some(location.line);
            return;
        }
        let module = self.engine.as_ref().and_then(|engine| {
            engine
                .source_files()
                .into_iter()
                .find(|file| crate::script::script_module_name(file) == location.file)
        });
        let Some(module) = module else {
            self.notify(
                format!(
                    "{location}: {} is not a file of the loaded handlers; open it in your editor",
                    location.file
                ),
                true,
            );
            return;
        };
        if self
            .script
            .viewed_module
            .as_ref()
            .is_some_and(|(shown, _)| *shown == module)
        {
            self.reveal_script_line = Some(location.line);
            return;
        }
        self.script.pending_reveal = Some((module.clone(), location.line));
        self.read_module(module);
    }

    /// Reads another module of the project to show it in the Script panel.
    pub fn read_module(&self, path: PathBuf) {
        let read_from = path.clone();
        self.spawn_blocking(
            move || {
                std::fs::read_to_string(&read_from)
                    .map_err(|error| format!("cannot read {}: {error}", read_from.display()))
            },
            move |result| UiMessage::ModuleRead { path, result },
        );
    }
}
