//! Message breakpoints, below the connection approvals: rules that hold
//! matching frames (in every lane) — on text, a regex or a JSON path — and
//! the held frames with a countdown, to forward, edit or drop. Rules for
//! any connection are saved and re-applied whenever the server starts.

use super::super::{combo_ui, format_duration, short_id};
use crate::core::events::{FrameDirection, HeldFrame, HoldDecision, Payload};
use crate::engine::EngineHandle;
use crate::engine::breakpoints::{
    BreakpointRule, HoldSettings, OnTimeout, PayloadMatch, PayloadPattern,
};
use crate::engine::command::Command;
use crate::ui::model::composer::{ComposeMode, compose};
use crate::ui::state::AppState;

/// Longest preview of a held frame in the list.
const PREVIEW_CHARS: usize = 80;

/// What the pattern field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PatternKind {
    Contains,
    Regex,
    JsonPath,
}

impl PatternKind {
    const ALL: [PatternKind; 3] = [
        PatternKind::Contains,
        PatternKind::Regex,
        PatternKind::JsonPath,
    ];

    fn label(self) -> &'static str {
        match self {
            PatternKind::Contains => "contains",
            PatternKind::Regex => "matches regex",
            PatternKind::JsonPath => "JSON path",
        }
    }

    fn hint(self) -> &'static str {
        match self {
            PatternKind::Contains => "empty: every message",
            PatternKind::Regex => r#""type":\s*"buy""#,
            PatternKind::JsonPath => r#"$.type == "chat""#,
        }
    }

    fn pattern(self, text: &str) -> PayloadPattern {
        match self {
            _ if text.is_empty() => PayloadPattern::Any,
            PatternKind::Contains => PayloadPattern::Contains(text.to_owned()),
            PatternKind::Regex => PayloadPattern::Regex(text.to_owned()),
            PatternKind::JsonPath => PayloadPattern::JsonPath(text.to_owned()),
        }
    }
}

/// Breakpoints UI state.
pub struct BreakpointsSection {
    direction: Option<FrameDirection>,
    is_selected_connection_only: bool,
    pattern: String,
    kind: PatternKind,
    rule_error: Option<String>,
    /// The held frame being edited, and its text.
    editing: Option<(u64, String)>,
    edit_mode: ComposeMode,
    edit_error: Option<String>,
}

impl Default for BreakpointsSection {
    fn default() -> Self {
        Self {
            direction: None,
            is_selected_connection_only: false,
            pattern: String::new(),
            kind: PatternKind::Contains,
            rule_error: None,
            editing: None,
            edit_mode: ComposeMode::Text,
            edit_error: None,
        }
    }
}

fn direction_label(direction: Option<FrameDirection>) -> &'static str {
    match direction {
        None => "in and out",
        Some(FrameDirection::In) => "in (from the client)",
        Some(FrameDirection::Out) => "out (to the client)",
    }
}

impl BreakpointsSection {
    /// Draws the rules and the held frames.
    pub fn ui(&mut self, ui: &mut egui::Ui, state: &mut AppState, engine: &EngineHandle) {
        self.new_rule_ui(ui, state, engine);
        let rules = engine.breakpoints();
        for (index, rule) in rules.iter().enumerate() {
            // Remove first: a long rule wraps instead of pushing it away.
            ui.horizontal_wrapped(|ui| {
                if ui.button("Remove").clicked() {
                    let mut rules = rules.clone();
                    rules.remove(index);
                    set_rules(state, "remove a breakpoint", rules);
                }
                ui.label(format!("holds {}", rule.summary()));
            });
        }
        if rules.is_empty() {
            ui.weak("No breakpoint: every message flows.");
        }
        settings_ui(ui, state, engine.hold_settings());
        let held = engine.held_frames();
        ui.horizontal(|ui| {
            ui.strong(format!("Held messages ({})", held.len()));
            if ui
                .add_enabled(!held.is_empty(), egui::Button::new("Forward all"))
                .clicked()
            {
                state.command("forward all held messages", Command::ForwardAllHeld);
            }
        });
        if held.is_empty() {
            ui.weak("Held messages wait here; the messages behind one on its connection wait too.");
            return;
        }
        // The countdowns tick once a second while anything is held.
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_secs(1));
        self.held_ui(ui, state, &held, engine.hold_settings());
    }

    fn new_rule_ui(&mut self, ui: &mut egui::Ui, state: &mut AppState, engine: &EngineHandle) {
        ui.horizontal_wrapped(|ui| {
            combo_ui(
                ui,
                "breakpoint_direction",
                "Hold",
                direction_label(self.direction),
                |ui| {
                    for direction in [None, Some(FrameDirection::In), Some(FrameDirection::Out)] {
                        ui.selectable_value(
                            &mut self.direction,
                            direction,
                            direction_label(direction),
                        );
                    }
                },
            );
            let selected = state.selected_connection;
            ui.add_enabled(
                selected.is_some(),
                egui::Checkbox::new(
                    &mut self.is_selected_connection_only,
                    "selected connection only",
                ),
            );
            combo_ui(ui, "breakpoint_kind", "payload", self.kind.label(), |ui| {
                for kind in PatternKind::ALL {
                    ui.selectable_value(&mut self.kind, kind, kind.label());
                }
            });
            let label = ui.label("pattern");
            ui.add(
                egui::TextEdit::singleline(&mut self.pattern)
                    .hint_text(self.kind.hint())
                    .desired_width(180.0),
            )
            .labelled_by(label.id)
            .on_hover_text(
                "JSON path: $.type holds JSON messages that have it; $.type == \"chat\" those where it equals the value",
            );
            if ui.button("Add breakpoint").clicked() {
                match PayloadMatch::parse(&self.kind.pattern(&self.pattern)) {
                    Ok(payload) => {
                        let rule = BreakpointRule {
                            direction: self.direction,
                            connection_id: selected.filter(|_| self.is_selected_connection_only),
                            payload,
                        };
                        let mut rules = engine.breakpoints();
                        if rules.iter().any(|old| old.summary() == rule.summary()) {
                            self.rule_error = Some("that breakpoint is there already".to_owned());
                        } else {
                            self.rule_error = None;
                            rules.push(rule);
                            set_rules(state, "add a breakpoint", rules);
                        }
                    }
                    Err(error) => self.rule_error = Some(error),
                }
            }
        });
        if let Some(error) = &self.rule_error {
            ui.colored_label(ui.visuals().error_fg_color, error);
        }
    }

    fn held_ui(
        &mut self,
        ui: &mut egui::Ui,
        state: &mut AppState,
        held: &[HeldFrame],
        settings: HoldSettings,
    ) {
        let then = match settings.on_timeout {
            OnTimeout::Forward => "forwarded",
            OnTimeout::Drop => "dropped",
        };
        let now = chrono::Utc::now();
        // One wrapped row each, buttons first: a grid is as wide as its
        // widest row and ran past a narrow pane.
        for frame in held {
            ui.separator();
            ui.horizontal_wrapped(|ui| {
                self.decision_buttons_ui(ui, state, frame);
                ui.label(format!("#{} {}", frame.hold_id, frame.direction.label()));
                ui.monospace(short_id(&frame.connection_id))
                    .on_hover_text(frame.connection_id.to_string());
                ui.weak(format!(
                    "waiting {}, {then} in {}",
                    format_duration(now - frame.since),
                    format_duration(frame.deadline - now)
                ));
                ui.monospace(frame.payload.preview(PREVIEW_CHARS));
            });
        }
        self.editor_ui(ui, state, held);
    }

    fn decision_buttons_ui(&mut self, ui: &mut egui::Ui, state: &mut AppState, frame: &HeldFrame) {
        let decide = |state: &mut AppState, decision| {
            state.command(
                "decide on a held message",
                Command::ResolveHold {
                    hold_id: frame.hold_id,
                    decision,
                },
            );
        };
        if ui.button("Forward").clicked() {
            decide(state, HoldDecision::Forward);
        }
        if ui.button("Edit").clicked() {
            self.edit_mode = match frame.payload {
                Payload::Text(_) => ComposeMode::Text,
                Payload::Binary(_) => ComposeMode::Hex,
            };
            let text = match &frame.payload {
                Payload::Text(text) => text.to_string(),
                Payload::Binary(bytes) => bytes
                    .iter()
                    .map(|byte| format!("{byte:02x}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            };
            self.editing = Some((frame.hold_id, text));
            self.edit_error = None;
        }
        if ui.button("Drop").clicked() {
            decide(state, HoldDecision::Drop);
        }
    }

    fn editor_ui(&mut self, ui: &mut egui::Ui, state: &mut AppState, held: &[HeldFrame]) {
        let Some((hold_id, text)) = &mut self.editing else {
            return;
        };
        let hold_id = *hold_id;
        if !held.iter().any(|frame| frame.hold_id == hold_id) {
            // Decided elsewhere, or timed out.
            self.editing = None;
            return;
        }
        ui.separator();
        ui.horizontal(|ui| {
            ui.strong(format!("Edit held message #{hold_id}"));
            combo_ui(ui, "held_edit_mode", "as", self.edit_mode.label(), |ui| {
                for mode in ComposeMode::ALL {
                    ui.selectable_value(&mut self.edit_mode, mode, mode.label());
                }
            });
        });
        let label = ui.label("Held message");
        ui.add(
            egui::TextEdit::multiline(text)
                .code_editor()
                .desired_rows(4)
                .desired_width(f32::INFINITY),
        )
        .labelled_by(label.id);
        if ui.button("Forward edited").clicked() {
            match compose(self.edit_mode, text) {
                Ok(payload) => {
                    state.command(
                        "forward an edited message",
                        Command::ResolveHold {
                            hold_id,
                            decision: HoldDecision::Edited(payload),
                        },
                    );
                    self.editing = None;
                    self.edit_error = None;
                }
                Err(error) => self.edit_error = Some(error),
            }
        }
        if let Some(error) = &self.edit_error {
            ui.colored_label(ui.visuals().error_fg_color, error);
        }
    }
}

/// Puts `rules` in force and keeps those that outlive a server run.
fn set_rules(state: &mut AppState, what: &str, rules: Vec<BreakpointRule>) {
    state.settings.save_breakpoints(&rules);
    state.command(what, Command::SetBreakpoints(rules));
}

fn settings_ui(ui: &mut egui::Ui, state: &mut AppState, settings: HoldSettings) {
    ui.horizontal(|ui| {
        let label = ui.label("Undecided after");
        let mut timeout_secs = settings.timeout.as_secs();
        let mut changed = ui
            .add(
                egui::DragValue::new(&mut timeout_secs)
                    .range(1..=3600)
                    .suffix(" s"),
            )
            .labelled_by(label.id)
            .on_hover_text("Drag or type the seconds a held message waits")
            .changed();
        let mut on_timeout = settings.on_timeout;
        let then = match on_timeout {
            OnTimeout::Forward => "forward",
            OnTimeout::Drop => "drop",
        };
        combo_ui(ui, "hold_on_timeout", "then", then, |ui| {
            changed |= ui
                .selectable_value(&mut on_timeout, OnTimeout::Forward, "forward")
                .changed();
            changed |= ui
                .selectable_value(&mut on_timeout, OnTimeout::Drop, "drop")
                .changed();
        });
        if changed {
            state.settings.hold_timeout_secs = timeout_secs.max(1);
            state.settings.hold_on_timeout = on_timeout;
            state.command(
                "set the hold timeout",
                Command::SetHoldSettings(state.settings.hold_settings()),
            );
        }
    });
}
