//! Group commit: many writes in one redb transaction, made durable by one
//! fsync. The script thread keeps a batch open while it works through the
//! jobs that are already queued, and commits before any effect of those jobs
//! (a reply, an accepted handshake) reaches a client.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Utc;
use redb::{Table, WriteTransaction};

use super::{KvError, KvStore, read_entries, read_value, table, validate_json};
use crate::core::events::{ConnectionId, Event, KvChange};

/// Uncommitted writes. Reads through the batch see them; other readers see
/// the store as of the last commit. Dropping a batch discards its writes.
pub struct KvBatch {
    transaction: WriteTransaction,
    store: KvStore,
    // Stores this batch wrote: a read of any other store goes to the last
    // commit, because opening a table in a write transaction creates it.
    written: HashSet<String>,
    changes: Vec<Event>,
}

impl KvBatch {
    pub(super) fn new(transaction: WriteTransaction, store: KvStore) -> Self {
        Self {
            transaction,
            store,
            written: HashSet::new(),
            changes: Vec::new(),
        }
    }

    /// Writes made so far (events published at commit).
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    /// Whether no write changed anything yet.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Stores `json` (validated) under `key`, durable at [`KvBatch::commit`].
    pub fn set(
        &mut self,
        store: &str,
        key: &str,
        json: &str,
        connection_id: Option<ConnectionId>,
    ) -> Result<(), KvError> {
        validate_json(store, key, json)?;
        self.open_table(store)?
            .insert(key, json)
            .map_err(|e| KvStore::storage_error(store)(e.into()))?;
        self.written.insert(store.to_owned());
        self.changes.push(Event::KvChanged {
            store: store.to_owned(),
            key: key.to_owned(),
            change: KvChange::Set(Arc::from(json)),
            connection_id,
            at: Utc::now(),
        });
        Ok(())
    }

    /// Deletes `key`; returns whether it existed.
    pub fn delete(
        &mut self,
        store: &str,
        key: &str,
        connection_id: Option<ConnectionId>,
    ) -> Result<bool, KvError> {
        if !self.written.contains(store) && self.store.get(store, key)?.is_none() {
            // Nothing to delete: no table is created, nothing waits for a commit.
            return Ok(false);
        }
        let existed = self
            .open_table(store)?
            .remove(key)
            .map_err(|e| KvStore::storage_error(store)(e.into()))?
            .is_some();
        self.written.insert(store.to_owned());
        if existed {
            self.changes.push(Event::KvChanged {
                store: store.to_owned(),
                key: key.to_owned(),
                change: KvChange::Deleted,
                connection_id,
                at: Utc::now(),
            });
        }
        Ok(existed)
    }

    /// The JSON text under `key`, including this batch's writes.
    pub fn get(&self, store: &str, key: &str) -> Result<Option<String>, KvError> {
        match self.written_table(store)? {
            Some(table) => read_value(&table, store, key),
            None => self.store.get(store, key),
        }
    }

    /// Keys starting with `prefix`, in byte order, including this batch's
    /// writes.
    pub fn keys(&self, store: &str, prefix: &str) -> Result<Vec<String>, KvError> {
        match self.written_table(store)? {
            Some(table) => Ok(read_entries(&table, store, prefix)?
                .into_iter()
                .map(|(key, _)| key)
                .collect()),
            None => self.store.keys(store, prefix),
        }
    }

    /// This batch's table for `store` if the batch wrote to it; otherwise
    /// the last commit holds everything there is to read.
    fn written_table(
        &self,
        store: &str,
    ) -> Result<Option<Table<'_, &'static str, &'static str>>, KvError> {
        if !self.written.contains(store) {
            return Ok(None);
        }
        self.open_table(store).map(Some)
    }

    /// `store`'s table in this batch, created if it does not exist yet.
    fn open_table(&self, store: &str) -> Result<Table<'_, &'static str, &'static str>, KvError> {
        self.transaction
            .open_table(table(store)?)
            .map_err(|e| KvStore::storage_error(store)(e.into()))
    }

    /// Makes every write durable at once (one fsync for a file store), then
    /// publishes the changes in the order they were made.
    pub fn commit(self) -> Result<usize, KvError> {
        let Self {
            transaction,
            store,
            changes,
            ..
        } = self;
        if let Err(error) = transaction.commit() {
            let after = match store.reopen_after_failure() {
                Ok(()) => "the store is back at its last commit".to_owned(),
                Err(reopen) => format!(
                    "reopening the store failed too ({reopen}), so kv is unavailable until the server restarts"
                ),
            };
            return Err(KvError::Commit {
                reason: error.into(),
                after,
            });
        }
        let count = changes.len();
        for change in changes {
            store.bus.publish(change);
        }
        Ok(count)
    }
}

impl std::fmt::Debug for KvBatch {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("KvBatch")
            .field("writes", &self.changes.len())
            .field("stores", &self.written)
            .finish_non_exhaustive()
    }
}
