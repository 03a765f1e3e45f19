//! Session files: record (server bar), list, replay against a fresh server,
//! this window's server or any URL, with live progress; the result as a
//! side-by-side diff; ignore rules edited and saved into the header.

use std::path::PathBuf;

use crate::core::events::ScriptLocation;
use crate::session::format::IgnoreRule;
use crate::session::runner::ReplayResult;
use crate::session::{ReplayReport, Timing};
use crate::ui::model::sessions::{ReplayTarget, safe_session_file_name};
use crate::ui::state::{AppState, UiMessage};

use super::replay_diff::ReplayDiffView;

/// Sessions panel UI state.
pub struct SessionsPanel {
    selected: Option<PathBuf>,
    target: ReplayTarget,
    url: String,
    timing: Timing,
    speed: f64,
    rename_to: String,
    rules_text: String,
    rules_for: Option<PathBuf>,
    rules_error: Option<String>,
    path_input: String,
    diff: ReplayDiffView,
    /// Runs of "Replay ×N (interleavings)".
    interleavings: u32,
}

impl Default for SessionsPanel {
    fn default() -> Self {
        Self {
            selected: None,
            target: ReplayTarget::FreshServer,
            url: "ws://127.0.0.1:4001".to_owned(),
            timing: Timing::Fast,
            speed: 1.0,
            rename_to: String::new(),
            rules_text: String::new(),
            rules_for: None,
            rules_error: None,
            path_input: String::new(),
            diff: ReplayDiffView::default(),
            interleavings: 20,
        }
    }
}

fn target_label(target: &ReplayTarget, runs_services: bool) -> &'static str {
    match target {
        ReplayTarget::FreshServer if runs_services => "fresh server (new copies of the services)",
        ReplayTarget::FreshServer => "fresh server (session's script)",
        ReplayTarget::ThisServer => "this window's server",
        ReplayTarget::Url(_) => "URL",
    }
}

/// Ignore rules as the editor shows them: one per line, `regex: …` for regexes.
fn rules_to_text(rules: &[IgnoreRule]) -> String {
    rules
        .iter()
        .map(|rule| match rule {
            IgnoreRule::Path(path) => path.clone(),
            IgnoreRule::Regex { regex } => format!("regex: {regex}"),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Parses the editor's text; each line must be a JSON path or `regex: …`.
fn rules_from_text(text: &str) -> Result<Vec<IgnoreRule>, String> {
    let rules: Vec<IgnoreRule> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .enumerate()
        .map(|(index, line)| {
            if let Some(regex) = line.strip_prefix("regex:") {
                Ok(IgnoreRule::Regex {
                    regex: regex.trim().to_owned(),
                })
            } else if line.starts_with('$') {
                Ok(IgnoreRule::Path(line.to_owned()))
            } else {
                Err(format!(
                    "line {}: '{line}' is neither a JSON path ($..name) nor 'regex: pattern'",
                    index + 1
                ))
            }
        })
        .collect::<Result<_, _>>()?;
    crate::session::compare::IgnoreRules::compile(&rules).map_err(|error| error.to_string())?;
    Ok(rules)
}

impl SessionsPanel {
    /// Draws the panel.
    pub fn ui(&mut self, ui: &mut egui::Ui, state: &mut AppState) {
        self.toolbar_ui(ui, state);
        self.replay_controls_ui(ui, state);
        ui.separator();
        // The list takes what its rows need, up to a third of the panel:
        // the selected session's replay diff needs the rest.
        let list_height = (ui.available_height() * 0.3).max(64.0);
        ui.push_id("sessions_list", |ui| {
            ui.set_max_height(list_height);
            self.list_ui(ui, state);
        });
        ui.separator();
        if let Some(path) = self.selected.clone() {
            egui::ScrollArea::vertical()
                .id_salt("session_detail")
                .auto_shrink([false, false])
                .show(ui, |ui| self.detail_ui(ui, state, path));
        } else {
            ui.weak("Select a session to see its details and its last replay.");
        }
    }

    fn toolbar_ui(&mut self, ui: &mut egui::Ui, state: &mut AppState) {
        ui.horizontal_wrapped(|ui| {
            ui.label(format!("Folder: {}", state.sessions.folder.display()));
            if ui.button("Refresh").clicked() {
                state.list_sessions();
            }
            if ui.button("Open...").clicked() {
                state.spawn_dialog(
                    rfd::AsyncFileDialog::new()
                        .add_filter("sockscope session", &["jsonl"])
                        .pick_file(),
                    UiMessage::SessionPicked,
                );
            }
            if ui.button("Import HAR...").clicked() {
                state.spawn_dialog(
                    rfd::AsyncFileDialog::new()
                        .add_filter("HAR", &["har"])
                        .pick_file(),
                    UiMessage::HarPicked,
                );
            }
            let path_label = ui.label("or path");
            ui.add(egui::TextEdit::singleline(&mut self.path_input).desired_width(160.0))
                .labelled_by(path_label.id)
                .on_hover_text("A .jsonl session to open or a .har file to import");
            if ui.button("Open path").clicked() && !self.path_input.trim().is_empty() {
                let path = PathBuf::from(self.path_input.trim());
                if !path.is_file() {
                    state.notify(format!("{} is not a file", path.display()), true);
                } else if path.extension().is_some_and(|extension| extension == "har") {
                    state.import_har(path);
                } else {
                    if !state.sessions.extra_files.contains(&path) {
                        state.sessions.extra_files.push(path);
                    }
                    state.list_sessions();
                }
            }
        });
    }

    fn replay_controls_ui(&mut self, ui: &mut egui::Ui, state: &mut AppState) {
        let runs_services = state.runs_services();
        ui.horizontal_wrapped(|ui| {
            super::combo_ui(
                ui,
                "replay_target",
                "Replay against",
                target_label(&self.target, runs_services),
                |ui| {
                    ui.selectable_value(
                        &mut self.target,
                        ReplayTarget::FreshServer,
                        target_label(&ReplayTarget::FreshServer, runs_services),
                    );
                    ui.selectable_value(
                        &mut self.target,
                        ReplayTarget::ThisServer,
                        target_label(&ReplayTarget::ThisServer, runs_services),
                    );
                    let is_url = matches!(self.target, ReplayTarget::Url(_));
                    if ui.selectable_label(is_url, "URL").clicked() {
                        self.target = ReplayTarget::Url(self.url.clone());
                    }
                },
            );
            if let ReplayTarget::Url(url) = &mut self.target {
                let url_label = ui.label("URL");
                if ui
                    .add(egui::TextEdit::singleline(&mut self.url).desired_width(170.0))
                    .labelled_by(url_label.id)
                    .changed()
                {
                    *url = self.url.clone();
                }
            }
            super::combo_ui(
                ui,
                "replay_timing",
                "Timing",
                if self.timing == Timing::Fast {
                    "fast"
                } else {
                    "recorded"
                },
                |ui| {
                    ui.selectable_value(&mut self.timing, Timing::Fast, "fast")
                        .on_hover_text("Send as soon as the replies recorded before have arrived");
                    ui.selectable_value(&mut self.timing, Timing::Recorded, "recorded")
                        .on_hover_text("Keep the recorded gaps (divided by the speed)");
                },
            );
            if self.timing == Timing::Recorded {
                let speed_label = ui.label("Speed");
                ui.add(
                    egui::DragValue::new(&mut self.speed)
                        .range(0.1..=100.0)
                        .speed(0.1)
                        .prefix("x"),
                )
                .labelled_by(speed_label.id);
            }
            let busy = state.sessions.is_replaying;
            let selected = self.selected.clone();
            if ui
                .add_enabled(
                    !busy && selected.is_some(),
                    egui::Button::new("Replay selected"),
                )
                .clicked()
            {
                state.replay(
                    selected.iter().cloned().collect(),
                    self.target.clone(),
                    self.timing,
                    self.speed,
                );
            }
            let readable: Vec<PathBuf> = state
                .sessions
                .listing
                .iter()
                .filter(|summary| summary.session.is_some())
                .map(|summary| summary.path.clone())
                .collect();
            if ui
                .add_enabled(
                    !busy && !readable.is_empty(),
                    egui::Button::new("Replay all"),
                )
                .clicked()
            {
                state.replay(readable, self.target.clone(), self.timing, self.speed);
            }
            let fresh = matches!(self.target, ReplayTarget::FreshServer);
            let button = ui
                .add_enabled(
                    !busy && fresh && selected.is_some(),
                    egui::Button::new(format!("Replay ×{} (interleavings)", self.interleavings)),
                )
                .on_hover_text(
                    "Replays the selected session against fresh servers, each settling the handlers' kv and socket calls in another order; stops at the first run that diverges or loses an update and names its seed",
                );
            ui.add(
                egui::DragValue::new(&mut self.interleavings)
                    .range(1..=1000)
                    .prefix("×"),
            )
            .on_hover_text("how many interleavings");
            if button.clicked()
                && let Some(path) = selected.clone()
            {
                state.replay_interleavings(path, self.interleavings, self.timing, self.speed);
            }
        });
        let progress_now = state.sessions.progress.lock().clone();
        if let Some((path, progress)) = progress_now {
            let fraction = progress.steps_done as f32 / progress.steps_total.max(1) as f32;
            ui.add(egui::ProgressBar::new(fraction).text(format!(
                "{}: {}/{} steps",
                path.display(),
                progress.steps_done,
                progress.steps_total
            )));
        }
    }

    fn list_ui(&mut self, ui: &mut egui::Ui, state: &mut AppState) {
        if state.sessions.listing.is_empty() {
            ui.weak("No sessions yet: press Record in the bar above, or open a file.");
            return;
        }
        let pass = egui::Color32::from_rgb(0x4c, 0xaf, 0x50);
        let fail = ui.visuals().error_fg_color;
        egui::ScrollArea::vertical()
            .auto_shrink([false, true])
            .show(ui, |ui| {
                egui::Grid::new("sessions_grid")
                    .striped(true)
                    .num_columns(6)
                    .show(ui, |ui| {
                        for title in [
                            "file",
                            "connections",
                            "messages",
                            "duration",
                            "last replay",
                            "note",
                        ] {
                            ui.strong(title);
                        }
                        ui.end_row();
                        for summary in &state.sessions.listing {
                            let is_selected = self.selected.as_ref() == Some(&summary.path);
                            if ui
                                .selectable_label(is_selected, summary.file_name())
                                .clicked()
                            {
                                self.selected = Some(summary.path.clone());
                            }
                            ui.label(summary.connections.to_string());
                            ui.label(summary.messages.to_string());
                            ui.label(format!("{:.1} s", summary.duration_ms as f64 / 1000.0));
                            match state.sessions.results.get(&summary.path) {
                                Some(result) => {
                                    let verdict = result.verdict();
                                    let color = if verdict.is_pass() { pass } else { fail };
                                    ui.colored_label(color, verdict.label());
                                }
                                None => {
                                    ui.weak("-");
                                }
                            }
                            match &summary.problem {
                                Some(problem) => {
                                    ui.colored_label(ui.visuals().warn_fg_color, problem)
                                }
                                None => ui.label(""),
                            };
                            ui.end_row();
                        }
                    });
            });
    }

    /// The selected session: its last replay first (the verdict and the
    /// diff are what a replay is for, so they lead, reachable in a short
    /// window), then the file — header, rename, ignore rules, events.
    fn detail_ui(&mut self, ui: &mut egui::Ui, state: &mut AppState, path: PathBuf) {
        let Some(session) = state.session_at(&path).cloned() else {
            ui.weak(format!(
                "{} cannot be read; see its note above.",
                path.display()
            ));
            return;
        };
        let is_replayed = state.sessions.results.contains_key(&path);
        let mut jump_to = None;
        match state.sessions.results.get(&path) {
            None => {
                ui.weak("Not replayed in this window yet.");
            }
            Some(ReplayResult::Error(error)) => {
                ui.colored_label(
                    ui.visuals().error_fg_color,
                    format!("The replay could not run: {error}"),
                );
            }
            Some(ReplayResult::Report(report)) => {
                verdict_ui(ui, report);
                jump_to = problems_ui(ui, report);
                self.diff.ui(
                    ui,
                    &path,
                    state.sessions.results_generation,
                    report,
                    &session.header.ignore,
                );
            }
        }
        super::locations::reveal_clicked(state, jump_to);
        ui.separator();
        egui::CollapsingHeader::new(format!("File: {}", path.display()))
            .id_salt(("session_file", is_replayed))
            .default_open(!is_replayed)
            .show(ui, |ui| self.file_ui(ui, state, &path, &session));
        super::session_events::events_ui(ui, &session);
    }

    fn file_ui(
        &mut self,
        ui: &mut egui::Ui,
        state: &mut AppState,
        path: &std::path::Path,
        session: &crate::session::Session,
    ) {
        ui.horizontal_wrapped(|ui| {
            ui.label(format!(
                "created {}, source {}",
                session.header.created, session.header.source
            ));
            if let Some(script) = &session.header.script {
                ui.label(format!("script {script}"));
            }
        });
        ui.horizontal_wrapped(|ui| {
            let rename_label = ui.label("Rename to");
            ui.add(
                egui::TextEdit::singleline(&mut self.rename_to)
                    .hint_text("new name")
                    .desired_width(160.0),
            )
            .labelled_by(rename_label.id);
            if ui.button("Rename").clicked() {
                match safe_session_file_name(&self.rename_to) {
                    Ok(name) => {
                        let folder = path.parent().map_or_else(
                            || state.sessions.folder.clone(),
                            std::path::Path::to_path_buf,
                        );
                        let target = folder.join(name);
                        if target.exists() {
                            state.notify(format!("{} exists already", target.display()), true);
                        } else {
                            state.write_session_copy(path, target.clone(), true);
                            self.selected = Some(target);
                            self.rename_to.clear();
                        }
                    }
                    Err(why) => state.notify(format!("cannot rename: {why}"), true),
                }
            }
            if ui.button("Save as...").clicked() {
                let from = path.to_path_buf();
                state.spawn_dialog(
                    rfd::AsyncFileDialog::new()
                        .add_filter("sockscope session", &["jsonl"])
                        .set_file_name("session.jsonl")
                        .save_file(),
                    |picked| UiMessage::SessionSaveTarget { from, picked },
                );
            }
        });
        if self.rules_for.as_deref() != Some(path) {
            self.rules_text = rules_to_text(&session.header.ignore);
            self.rules_for = Some(path.to_path_buf());
            self.rules_error = None;
        }
        let rules_label = ui
            .label("Ignore rules (one per line: a JSON path like $..timestamp, or regex: pattern)");
        ui.add(
            egui::TextEdit::multiline(&mut self.rules_text)
                .code_editor()
                .desired_rows(3)
                .desired_width(f32::INFINITY),
        )
        .labelled_by(rules_label.id);
        ui.horizontal(|ui| {
            if ui.button("Save rules").clicked() {
                match rules_from_text(&self.rules_text) {
                    Ok(rules) => {
                        self.rules_error = None;
                        state.save_ignore_rules(path.to_path_buf(), rules);
                    }
                    Err(error) => self.rules_error = Some(error),
                }
            }
            if let Some(error) = &self.rules_error {
                ui.colored_label(ui.visuals().error_fg_color, error);
            }
        });
    }
}

/// What went wrong in the handlers meanwhile: lost updates and handler
/// failures, each `file:line` in them a link. Returns the place clicked.
fn problems_ui(ui: &mut egui::Ui, report: &ReplayReport) -> Option<ScriptLocation> {
    let mut clicked = None;
    let warn = ui.visuals().warn_fg_color;
    let error = ui.visuals().error_fg_color;
    for (title, lines, color) in [
        ("Lost updates", &report.lost_updates, warn),
        ("Handler failures", &report.handler_failures, error),
    ] {
        if lines.is_empty() {
            continue;
        }
        egui::CollapsingHeader::new(format!("{title} ({})", lines.len()))
            .id_salt(("replay_problems", title))
            .default_open(true)
            .show(ui, |ui| {
                for line in lines {
                    let link = super::locations::text_with_links_ui(ui, line, true, |text| {
                        egui::RichText::new(text).color(color)
                    });
                    clicked = clicked.take().or(link);
                }
            });
    }
    clicked
}

/// The verdict line above the diff.
fn verdict_ui(ui: &mut egui::Ui, report: &ReplayReport) {
    match &report.divergence {
        None => {
            ui.colored_label(
                egui::Color32::from_rgb(0x4c, 0xaf, 0x50),
                format!(
                    "PASS: {} connections, {} messages, {} ms",
                    report.connections.len(),
                    report.messages,
                    report.elapsed_ms
                ),
            );
        }
        Some(divergence) => {
            ui.colored_label(
                ui.visuals().error_fg_color,
                format!("FAIL: first divergence at {divergence}"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignore_rules_round_trip_through_the_editor_text() {
        let rules = vec![
            IgnoreRule::Path("$..timestamp".to_owned()),
            IgnoreRule::Regex {
                regex: r"\d+".to_owned(),
            },
        ];
        assert_eq!(rules_from_text(&rules_to_text(&rules)), Ok(rules));
        assert!(rules_from_text("timestamp").unwrap_err().contains("line 1"));
        assert!(
            rules_from_text("regex: (").is_err(),
            "a bad regex is refused before saving"
        );
    }
}
