//! Lost-update detection. Handlers interleave at every `await`, as in Node,
//! so the docs' read-modify-write of one kv key loses updates when two
//! connections run it at once. Every key an unfinished handler read carries
//! a version; a handler that writes a key it read, after another handler
//! wrote it, overwrites that write: a lost update, reported with both
//! handlers and the three places (the read, the write in between, the
//! write that loses it).

use std::fmt;

use rustc_hash::FxHashMap;

use crate::core::events::{ConnectionId, ScriptLocation};

/// One run of one handler chain (an event of one connection).
pub(crate) type InvocationId = u64;

/// Who did something to a key, and where in the script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Site {
    pub connection_id: ConnectionId,
    pub location: Option<ScriptLocation>,
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "connection {}", self.connection_id)?;
        match &self.location {
            Some(location) => write!(f, " at {}:{}", location.file, location.line),
            None => Ok(()),
        }
    }
}

/// A write that overwrote another handler's write it never saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LostUpdate {
    pub store: String,
    pub key: String,
    /// Where the losing handler read the key.
    pub read: Site,
    /// The write in between, which is lost.
    pub lost: Site,
    /// The write made from the stale read.
    pub write: Site,
}

impl fmt::Display for LostUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "lost update: kv('{}') key '{}': {} read it, {} wrote it, then {} wrote it from the stale read, so the write of connection {} is lost",
            self.store, self.key, self.read, self.lost, self.write, self.lost.connection_id,
        )
    }
}

#[derive(Default)]
struct KeyState {
    version: u64,
    last_write: Option<(InvocationId, Site)>,
}

struct Read {
    version: u64,
    location: Option<ScriptLocation>,
}

struct Invocation {
    connection_id: ConnectionId,
    reads: FxHashMap<(String, String), Read>,
}

/// Versions of the keys unfinished handlers read, and what they read.
#[derive(Default)]
pub(crate) struct Races {
    keys: FxHashMap<(String, String), KeyState>,
    invocations: FxHashMap<InvocationId, Invocation>,
}

impl Races {
    /// A handler chain starts running for `connection_id`.
    pub(crate) fn begin(&mut self, invocation: InvocationId, connection_id: ConnectionId) {
        self.invocations.insert(
            invocation,
            Invocation {
                connection_id,
                reads: FxHashMap::default(),
            },
        );
    }

    /// The chain settled: its reads can no longer go stale.
    pub(crate) fn end(&mut self, invocation: InvocationId) {
        self.invocations.remove(&invocation);
        if self.invocations.is_empty() {
            // Versions only matter against a read some handler still holds.
            self.keys.clear();
        }
    }

    /// `invocation` read the key (found or not) at `location`.
    pub(crate) fn read(
        &mut self,
        invocation: Option<InvocationId>,
        store: &str,
        key: &str,
        location: Option<ScriptLocation>,
    ) {
        let Some(running) = invocation.and_then(|id| self.invocations.get_mut(&id)) else {
            return;
        };
        let slot = (store.to_owned(), key.to_owned());
        let version = self.keys.get(&slot).map_or(0, |state| state.version);
        running.reads.insert(slot, Read { version, location });
    }

    /// `invocation` wrote (or deleted) the key at `location`; a lost update
    /// when it had read the key and another handler wrote it since.
    pub(crate) fn write(
        &mut self,
        invocation: Option<InvocationId>,
        store: &str,
        key: &str,
        location: Option<ScriptLocation>,
    ) -> Option<LostUpdate> {
        let slot = (store.to_owned(), key.to_owned());
        let running = invocation.and_then(|id| Some((id, self.invocations.get_mut(&id)?)));
        let Some((id, running)) = running else {
            if let Some(state) = self.keys.get_mut(&slot) {
                state.version += 1;
                state.last_write = None;
            }
            return None;
        };
        let state = self.keys.entry(slot.clone()).or_default();
        let site = Site {
            connection_id: running.connection_id,
            location,
        };
        let lost = match (running.reads.get(&slot), &state.last_write) {
            (Some(read), Some((writer, lost)))
                if read.version != state.version && *writer != id =>
            {
                Some(LostUpdate {
                    store: store.to_owned(),
                    key: key.to_owned(),
                    read: Site {
                        connection_id: running.connection_id,
                        location: read.location.clone(),
                    },
                    lost: lost.clone(),
                    write: site.clone(),
                })
            }
            _ => None,
        };
        state.version += 1;
        state.last_write = Some((id, site));
        if let Some(read) = running.reads.get_mut(&slot) {
            read.version = state.version;
        }
        lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: u32) -> Option<ScriptLocation> {
        Some(ScriptLocation {
            file: "list.js".to_owned(),
            line,
            column: None,
        })
    }

    #[test]
    fn a_write_from_a_read_another_handler_overtook_is_a_lost_update() {
        let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let mut races = Races::default();
        races.begin(1, a);
        races.begin(2, b);
        races.read(Some(1), "connections", "list", at(3));
        races.read(Some(2), "connections", "list", at(3));
        assert_eq!(races.write(Some(1), "connections", "list", at(7)), None);
        let lost = races
            .write(Some(2), "connections", "list", at(7))
            .expect("b's write overwrites a's");
        assert_eq!(lost.read.connection_id, b);
        assert_eq!(lost.lost.connection_id, a);
        let text = lost.to_string();
        assert!(
            text.starts_with("lost update: kv('connections') key 'list'"),
            "{text}"
        );
        assert!(
            text.contains("list.js:3") && text.contains("list.js:7"),
            "{text}"
        );
    }

    #[test]
    fn writes_in_turn_and_writes_without_a_read_are_not() {
        let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let mut races = Races::default();
        races.begin(1, a);
        races.read(Some(1), "s", "k", at(1));
        assert_eq!(races.write(Some(1), "s", "k", at(2)), None);
        assert_eq!(
            races.write(Some(1), "s", "k", at(3)),
            None,
            "its own writes"
        );
        races.end(1);
        races.begin(2, b);
        races.begin(3, a);
        races.read(Some(2), "s", "k", at(1));
        assert_eq!(races.write(Some(3), "s", "k", at(9)), None, "a blind write");
        races.end(3);
        races.end(2);
        assert!(
            races.keys.is_empty(),
            "nothing is kept once no handler runs"
        );
    }
}
