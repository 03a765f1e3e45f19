//! The persistent key-value store behind `kv(name)`: one redb file, one table
//! per store name, values kept as JSON text.
//!
//! Writes are durable (fsync'd) before anything that depends on them leaves
//! the process: [`KvStore::set`] commits on its own, and the script thread
//! groups the writes of the jobs it has queued into one [`KvBatch`] that it
//! commits before their replies go out. redb's copy-on-write commit means a
//! crash mid-write leaves the previous state, never a file that fails to open.

mod batch;
mod canonical;

pub use batch::KvBatch;
pub use canonical::{canonical_json, canonicalise};

use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::RwLock;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableError, TableHandle};

use crate::core::bus::EventBus;
use crate::core::config::KvLocation;
use crate::core::events::ConnectionId;

/// Errors from the kv store, with the store and key they concern.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    /// The file could not be created or opened.
    #[error("cannot open kv store {path}: {reason}")]
    Open { path: PathBuf, reason: redb::Error },
    /// Reading or writing failed.
    #[error("kv store '{store}': {reason}")]
    Storage { store: String, reason: redb::Error },
    /// The database as a whole failed (not one store).
    #[error("kv database: {0}")]
    Database(redb::Error),
    /// A store name must not be empty (redb cannot name a table "").
    #[error("a kv store name must not be empty")]
    EmptyStoreName,
    /// The engine stopped and closed the store.
    #[error("kv store is closed (the server stopped)")]
    Closed,
    /// A commit failed (disk full, an I/O error): its writes are lost.
    /// `after` says what became of the store: reopened at its last commit,
    /// or not.
    #[error("kv writes could not be made durable and are lost: {reason}; {after}")]
    Commit { reason: redb::Error, after: String },
    /// The store could not be reopened after a failed commit.
    #[error(
        "kv store is unavailable until the server restarts: reopening it after a failed commit failed: {0}"
    )]
    Unavailable(String),
    /// A value that is not JSON was offered.
    #[error("kv store '{store}', key '{key}': value is not valid JSON: {reason}")]
    InvalidJson {
        store: String,
        key: String,
        reason: serde_json::Error,
    },
}

/// Thread-safe handle to the store; clones share one database.
#[derive(Clone)]
pub struct KvStore {
    database: Arc<RwLock<Slot>>,
    location: KvLocation,
    bus: EventBus,
}

enum Slot {
    Open(Database),
    // Closed at shutdown: the file lock is released at a known moment, not
    // whenever the last clone happens to drop.
    Closed,
    // A failed commit left redb refusing every operation, and reopening
    // the file failed too.
    Lost(String),
}

fn open_database(location: &KvLocation) -> Result<Database, KvError> {
    match location {
        KvLocation::Memory => Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|error| KvError::Open {
                path: PathBuf::from(":memory:"),
                reason: error.into(),
            }),
        KvLocation::File(path) => {
            let open_error = |reason: redb::Error| KvError::Open {
                path: path.clone(),
                reason,
            };
            if let Some(parent) = path
                .parent()
                .filter(|parent| !parent.as_os_str().is_empty())
            {
                std::fs::create_dir_all(parent).map_err(|error| open_error(error.into()))?;
            }
            Database::create(path).map_err(|error| open_error(error.into()))
        }
    }
}

fn table(store: &str) -> Result<TableDefinition<'_, &'static str, &'static str>, KvError> {
    if store.is_empty() {
        return Err(KvError::EmptyStoreName);
    }
    Ok(TableDefinition::new(store))
}

fn validate_json(store: &str, key: &str, json: &str) -> Result<(), KvError> {
    serde_json::from_str::<serde::de::IgnoredAny>(json)
        .map(|_| ())
        .map_err(|reason| KvError::InvalidJson {
            store: store.to_owned(),
            key: key.to_owned(),
            reason,
        })
}

fn read_value(
    table: &impl ReadableTable<&'static str, &'static str>,
    store: &str,
    key: &str,
) -> Result<Option<String>, KvError> {
    let value = table
        .get(key)
        .map_err(|e| KvStore::storage_error(store)(e.into()))?;
    Ok(value.map(|guard| guard.value().to_owned()))
}

fn read_entries(
    table: &impl ReadableTable<&'static str, &'static str>,
    store: &str,
    prefix: &str,
) -> Result<Vec<(String, String)>, KvError> {
    let error = KvStore::storage_error(store);
    let mut entries = Vec::new();
    for entry in table.range::<&str>(prefix..).map_err(|e| error(e.into()))? {
        let (key, value) = entry.map_err(|e| error(e.into()))?;
        if !key.value().starts_with(prefix) {
            break;
        }
        entries.push((key.value().to_owned(), value.value().to_owned()));
    }
    Ok(entries)
}

impl KvStore {
    /// Opens (or creates) the store and publishes its changes on `bus`.
    pub fn open(location: &KvLocation, bus: EventBus) -> Result<Self, KvError> {
        let database = open_database(location)?;
        Ok(Self {
            database: Arc::new(RwLock::new(Slot::Open(database))),
            location: location.clone(),
            bus,
        })
    }

    /// Runs `operation` on the open database.
    fn with_database<T>(
        &self,
        operation: impl FnOnce(&Database) -> Result<T, KvError>,
    ) -> Result<T, KvError> {
        match &*self.database.read() {
            Slot::Open(database) => operation(database),
            Slot::Closed => Err(KvError::Closed),
            Slot::Lost(reason) => Err(KvError::Unavailable(reason.clone())),
        }
    }

    /// After a failed commit redb refuses every later operation until the
    /// database is reopened; reopening goes back to the last commit. An
    /// in-memory store cannot be reopened without losing everything, so it
    /// is left as it is.
    pub(crate) fn reopen_after_failure(&self) -> Result<(), KvError> {
        let KvLocation::File(_) = self.location else {
            return Ok(());
        };
        let mut slot = self.database.write();
        if !matches!(*slot, Slot::Open(_)) {
            return Ok(());
        }
        // The old handle must release the file before it can be opened again.
        *slot = Slot::Closed;
        match open_database(&self.location) {
            Ok(database) => {
                *slot = Slot::Open(database);
                Ok(())
            }
            Err(error) => {
                *slot = Slot::Lost(error.to_string());
                Err(error)
            }
        }
    }

    fn storage_error(store: &str) -> impl Fn(redb::Error) -> KvError + '_ {
        move |reason| KvError::Storage {
            store: store.to_owned(),
            reason,
        }
    }

    /// Closes the database file. Every later operation fails with
    /// [`KvError::Closed`]. Writes were already durable; this releases the
    /// file so another process (or a restart) can open it.
    pub fn close(&self) {
        *self.database.write() = Slot::Closed;
    }

    /// The JSON text stored under `key`, or `None`.
    pub fn get(&self, store: &str, key: &str) -> Result<Option<String>, KvError> {
        let error = Self::storage_error(store);
        self.with_database(|database| {
            let transaction = database.begin_read().map_err(|e| error(e.into()))?;
            let table = match transaction.open_table(table(store)?) {
                Ok(table) => table,
                Err(TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(other) => return Err(error(other.into())),
            };
            read_value(&table, store, key)
        })
    }

    /// Opens a group of writes that become durable together at
    /// [`KvBatch::commit`]. Other writers wait until it commits or drops.
    pub fn begin_batch(&self) -> Result<KvBatch, KvError> {
        let transaction = self.with_database(|database| {
            database
                .begin_write()
                .map_err(|e| KvError::Database(e.into()))
        })?;
        Ok(KvBatch::new(transaction, self.clone()))
    }

    /// Stores `json` (validated) under `key` and commits durably.
    pub fn set(
        &self,
        store: &str,
        key: &str,
        json: &str,
        connection_id: Option<ConnectionId>,
    ) -> Result<(), KvError> {
        let mut batch = self.begin_batch()?;
        batch.set(store, key, json, connection_id)?;
        batch.commit().map(|_| ())
    }

    /// Deletes `key`; returns whether it existed. Deleting a missing key is
    /// not an error (as in Nitric).
    pub fn delete(
        &self,
        store: &str,
        key: &str,
        connection_id: Option<ConnectionId>,
    ) -> Result<bool, KvError> {
        let mut batch = self.begin_batch()?;
        let existed = batch.delete(store, key, connection_id)?;
        batch.commit()?;
        Ok(existed)
    }

    /// Keys that start with `prefix`, in byte order.
    pub fn keys(&self, store: &str, prefix: &str) -> Result<Vec<String>, KvError> {
        Ok(self
            .entries(store, prefix)?
            .into_iter()
            .map(|(key, _)| key)
            .collect())
    }

    /// Key/value pairs whose key starts with `prefix`, in key order.
    pub fn entries(&self, store: &str, prefix: &str) -> Result<Vec<(String, String)>, KvError> {
        let error = Self::storage_error(store);
        self.with_database(|database| {
            let transaction = database.begin_read().map_err(|e| error(e.into()))?;
            let table = match transaction.open_table(table(store)?) {
                Ok(table) => table,
                Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                Err(other) => return Err(error(other.into())),
            };
            read_entries(&table, store, prefix)
        })
    }

    /// Names of all stores that were ever written, sorted.
    pub fn stores(&self) -> Result<Vec<String>, KvError> {
        let error = |e: redb::Error| KvError::Database(e);
        self.with_database(|database| {
            let transaction = database.begin_read().map_err(|e| error(e.into()))?;
            let mut names: Vec<String> = transaction
                .list_tables()
                .map_err(|e| error(e.into()))?
                .map(|handle| handle.name().to_owned())
                .collect();
            names.sort();
            Ok(names)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> KvStore {
        KvStore::open(&KvLocation::Memory, EventBus::new(16)).expect("in-memory store opens")
    }

    #[test]
    fn set_get_delete_round_trip() {
        let kv = store();
        assert_eq!(kv.get("users", "ann").expect("get"), None);
        kv.set("users", "ann", r#"{"age":3}"#, None).expect("set");
        assert_eq!(
            kv.get("users", "ann").expect("get").as_deref(),
            Some(r#"{"age":3}"#)
        );
        assert!(kv.delete("users", "ann", None).expect("delete"));
        assert!(!kv.delete("users", "ann", None).expect("delete again"));
        assert_eq!(kv.get("users", "ann").expect("get"), None);
    }

    #[test]
    fn keys_filter_by_prefix_in_order() {
        let kv = store();
        for key in ["room:b", "room:a", "user:z", "room"] {
            kv.set("s", key, "{}", None).expect("set");
        }
        assert_eq!(
            kv.keys("s", "room:").expect("keys"),
            vec!["room:a", "room:b"]
        );
        assert_eq!(kv.keys("s", "").expect("keys").len(), 4);
        assert_eq!(kv.keys("missing", "").expect("keys"), Vec::<String>::new());
        assert_eq!(kv.stores().expect("stores"), vec!["s"]);
    }

    #[test]
    fn invalid_json_is_refused() {
        let kv = store();
        let error = kv
            .set("s", "k", "{not json", None)
            .expect_err("must refuse");
        assert!(error.to_string().contains("not valid JSON"), "{error}");
    }

    #[test]
    fn an_empty_store_name_is_an_error_not_a_panic() {
        let kv = store();
        assert!(matches!(
            kv.set("", "k", "{}", None),
            Err(KvError::EmptyStoreName)
        ));
        assert!(matches!(kv.get("", "k"), Err(KvError::EmptyStoreName)));
    }

    #[test]
    fn a_batch_is_invisible_until_committed_and_lost_if_dropped() {
        let kv = store();
        let mut batch = kv.begin_batch().expect("batch");
        batch.set("s", "a", "1", None).expect("set");
        assert_eq!(batch.get("s", "a").expect("get").as_deref(), Some("1"));
        assert_eq!(kv.get("s", "a").expect("get"), None, "not yet committed");
        assert_eq!(batch.get("other", "x").expect("get"), None);
        assert!(!batch.delete("other", "x", None).expect("delete"));
        assert_eq!(batch.commit().expect("commit"), 1);
        assert_eq!(kv.get("s", "a").expect("get").as_deref(), Some("1"));
        assert_eq!(
            kv.stores().expect("stores"),
            vec!["s"],
            "reading or deleting in a batch creates no store"
        );

        let mut dropped = kv.begin_batch().expect("batch");
        dropped.set("s", "b", "2", None).expect("set");
        drop(dropped);
        assert_eq!(kv.get("s", "b").expect("get"), None);
    }
}
