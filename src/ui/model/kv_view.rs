//! What the KV panel shows: the stores, the selected store's entries, and
//! which keys handlers changed recently (highlighted as they happen).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::core::events::{Event, KvChange, LogLevel, Payload};

/// Characters of a value the key list shows.
const PREVIEW_CHARS: usize = 120;

/// A stored value's JSON type, as the key list names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonKind {
    Object,
    Array,
    String,
    Number,
    Boolean,
    Null,
    /// Not JSON (a store written by something other than the SDK).
    Other,
}

impl JsonKind {
    /// From the first character: the store holds serialised JSON, so that
    /// is enough, and a large value is not parsed for a list row.
    fn of(value: &str) -> Self {
        match value.trim_start().as_bytes().first() {
            Some(b'{') => JsonKind::Object,
            Some(b'[') => JsonKind::Array,
            Some(b'"') => JsonKind::String,
            Some(b't' | b'f') => JsonKind::Boolean,
            Some(b'n') => JsonKind::Null,
            Some(b'-' | b'0'..=b'9') => JsonKind::Number,
            _ => JsonKind::Other,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            JsonKind::Object => "object",
            JsonKind::Array => "array",
            JsonKind::String => "string",
            JsonKind::Number => "number",
            JsonKind::Boolean => "boolean",
            JsonKind::Null => "null",
            JsonKind::Other => "text",
        }
    }
}

/// One key's value, with what its row in the key list shows.
#[derive(Clone, Debug)]
pub struct KvEntry {
    /// The value as stored (serialised JSON).
    pub value: Arc<str>,
    pub kind: JsonKind,
    /// One line, at most [`PREVIEW_CHARS`] characters.
    pub preview: String,
}

impl KvEntry {
    fn new(value: Arc<str>) -> Self {
        let preview = Payload::Text(value.as_ref().into()).preview(PREVIEW_CHARS);
        Self {
            kind: JsonKind::of(&value),
            preview,
            value,
        }
    }

    /// Size of the stored JSON text.
    pub fn size_bytes(&self) -> usize {
        self.value.len()
    }
}

/// The store and key of a `lost update: kv('S') key 'K': …` warning.
fn lost_update_key(message: &str) -> Option<(String, String)> {
    let rest = message.strip_prefix("lost update: kv('")?;
    let (store, rest) = rest.split_once("') key '")?;
    let (key, _) = rest.split_once("': ")?;
    Some((store.to_owned(), key.to_owned()))
}

/// How long a changed key stays highlighted.
pub const HIGHLIGHT_FOR: Duration = Duration::from_secs(3);

/// The panel's data.
#[derive(Default)]
pub struct KvView {
    stores: Vec<String>,
    selected_store: Option<String>,
    entries: BTreeMap<String, KvEntry>,
    changed_at: HashMap<(String, String), Instant>,
    /// Keys that lost an update, with the last warning about each.
    lost_updates: HashMap<(String, String), String>,
    /// The last load failed with this message.
    pub load_error: Option<String>,
}

impl KvView {
    /// Replaces the list of stores (from a load).
    pub fn set_stores(&mut self, stores: Vec<String>) {
        self.stores = stores;
        self.stores.sort();
        if self.selected_store.is_none() {
            self.selected_store = self.stores.first().cloned();
        }
    }

    /// Replaces the selected store's entries (from a load).
    pub fn set_entries(&mut self, store: &str, entries: Vec<(String, String)>) {
        if self.selected_store.as_deref() == Some(store) {
            self.entries = entries
                .into_iter()
                .map(|(key, value)| (key, KvEntry::new(Arc::from(value))))
                .collect();
        }
    }

    /// Applies an engine event: kv changes, highlighted from now, and
    /// lost-update warnings, which mark their key.
    pub fn on_event(&mut self, event: &Event) {
        match event {
            Event::KvChanged {
                store, key, change, ..
            } => self.apply(store, key, change, Instant::now()),
            Event::Log {
                level: LogLevel::Warn,
                message,
                ..
            } => {
                if let Some(slot) = lost_update_key(message) {
                    self.lost_updates.insert(slot, message.clone());
                }
            }
            _ => {}
        }
    }

    /// The last lost-update warning about `key` of `store`, if any.
    pub fn lost_update(&self, store: &str, key: &str) -> Option<&str> {
        self.lost_updates
            .get(&(store.to_owned(), key.to_owned()))
            .map(String::as_str)
    }

    /// Applies a change reported by the engine.
    pub fn apply(&mut self, store: &str, key: &str, change: &KvChange, now: Instant) {
        if let Err(position) = self
            .stores
            .binary_search_by(|known| known.as_str().cmp(store))
        {
            self.stores.insert(position, store.to_owned());
            if self.selected_store.is_none() {
                self.selected_store = Some(store.to_owned());
            }
        }
        self.changed_at
            .insert((store.to_owned(), key.to_owned()), now);
        if self.selected_store.as_deref() != Some(store) {
            return;
        }
        match change {
            KvChange::Set(value) => {
                self.entries
                    .insert(key.to_owned(), KvEntry::new(Arc::clone(value)));
            }
            KvChange::Deleted => {
                self.entries.remove(key);
            }
        }
    }

    /// Selects a store; the caller loads its entries.
    pub fn select_store(&mut self, store: &str) {
        if self.selected_store.as_deref() != Some(store) {
            self.selected_store = Some(store.to_owned());
            self.entries.clear();
        }
    }

    /// The selected store.
    pub fn selected_store(&self) -> Option<&str> {
        self.selected_store.as_deref()
    }

    /// Every store, sorted.
    pub fn stores(&self) -> &[String] {
        &self.stores
    }

    /// Entries of the selected store whose key starts with `prefix`, sorted.
    pub fn entries_with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a String, &'a KvEntry)> + 'a {
        self.entries
            .range(prefix.to_owned()..)
            .take_while(move |(key, _)| key.starts_with(prefix))
    }

    /// A value of the selected store.
    pub fn value(&self, key: &str) -> Option<&Arc<str>> {
        self.entries.get(key).map(|entry| &entry.value)
    }

    /// How strongly to highlight `key` (1 just changed → 0 after [`HIGHLIGHT_FOR`]).
    pub fn highlight(&self, store: &str, key: &str, now: Instant) -> f32 {
        self.changed_at
            .get(&(store.to_owned(), key.to_owned()))
            .map(|at| 1.0 - now.duration_since(*at).as_secs_f32() / HIGHLIGHT_FOR.as_secs_f32())
            .unwrap_or(0.0)
            .clamp(0.0, 1.0)
    }

    /// Whether any highlight is still fading (the panel must keep repainting).
    pub fn is_animating(&mut self, now: Instant) -> bool {
        self.changed_at
            .retain(|_, at| now.duration_since(*at) < HIGHLIGHT_FOR);
        !self.changed_at.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_update_warning_marks_its_key() {
        let mut view = KvView::default();
        view.on_event(&Event::Log {
            connection_id: None,
            level: LogLevel::Warn,
            message: "lost update: kv('connections') key 'list': connection a read it, …"
                .to_owned(),
            location: None,
            at: chrono::Utc::now(),
        });
        assert!(view.lost_update("connections", "list").is_some());
        assert!(view.lost_update("connections", "other").is_none());
    }

    #[test]
    fn each_entry_knows_its_type_size_and_one_line_preview() {
        let mut view = KvView::default();
        let now = Instant::now();
        let long = format!("{{\"text\":\"{}\"}}", "x".repeat(300));
        for (key, value) in [
            ("object", "{\"name\":\"ann\",\n\"n\":1}"),
            ("array", "[1,2]"),
            ("string", "\"hi\""),
            ("number", "-3.5"),
            ("boolean", "false"),
            ("null", "null"),
            ("long", long.as_str()),
        ] {
            view.apply("s", key, &KvChange::Set(value.into()), now);
        }
        let entry = |key: &str| {
            view.entries_with_prefix(key)
                .next()
                .map(|(_, entry)| entry.clone())
                .expect("an entry")
        };
        assert_eq!(entry("object").kind, JsonKind::Object);
        assert_eq!(entry("object").preview, "{\"name\":\"ann\",\\n\"n\":1}");
        assert_eq!(entry("object").size_bytes(), 21);
        for kind in ["array", "string", "number", "boolean", "null"] {
            assert_eq!(entry(kind).kind.label(), kind);
        }
        assert_eq!(entry("long").preview.chars().count(), PREVIEW_CHARS + 1);
        assert!(entry("long").preview.ends_with('…'));
        assert_eq!(entry("long").size_bytes(), long.len());
    }

    #[test]
    fn changes_update_the_selected_store_and_are_highlighted() {
        let mut view = KvView::default();
        let now = Instant::now();
        view.apply("members", "b", &KvChange::Set("{\"n\":1}".into()), now);
        view.apply("members", "a", &KvChange::Set("{}".into()), now);
        view.apply("other", "x", &KvChange::Set("{}".into()), now);
        assert_eq!(view.stores(), ["members", "other"]);
        assert_eq!(view.selected_store(), Some("members"));
        let keys: Vec<&String> = view.entries_with_prefix("").map(|(key, _)| key).collect();
        assert_eq!(keys, ["a", "b"]);
        assert!(view.highlight("members", "a", now) > 0.9);
        view.apply("members", "a", &KvChange::Deleted, now);
        assert!(view.value("a").is_none());
        assert_eq!(view.highlight("members", "a", now + HIGHLIGHT_FOR), 0.0);
    }
}
