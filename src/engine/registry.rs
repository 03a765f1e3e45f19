//! The live connections: who is connected and how much they have sent.
//!
//! Touched under a lock only on connect and disconnect; per-frame counters
//! are atomics on the connection itself.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use parking_lot::RwLock;

use crate::core::events::ConnectionId;
pub use crate::core::events::TrafficSnapshot;
use crate::core::outbound::Outbound;
use crate::core::query::Query;
use crate::runtime::ConnectionDirectory;

/// Frame and byte counters of one connection, in one direction each.
#[derive(Default)]
pub struct TrafficCounters {
    frames_in: AtomicU64,
    bytes_in: AtomicU64,
    frames_out: AtomicU64,
    bytes_out: AtomicU64,
}

impl TrafficCounters {
    /// Counts a frame read from the client.
    pub fn record_in(&self, size_bytes: usize) {
        self.frames_in.fetch_add(1, Ordering::Relaxed);
        self.bytes_in
            .fetch_add(size_bytes as u64, Ordering::Relaxed);
    }

    /// Counts a frame written to the client.
    pub fn record_out(&self, size_bytes: usize) {
        self.frames_out.fetch_add(1, Ordering::Relaxed);
        self.bytes_out
            .fetch_add(size_bytes as u64, Ordering::Relaxed);
    }

    /// Current values.
    pub fn snapshot(&self) -> TrafficSnapshot {
        TrafficSnapshot {
            frames_in: self.frames_in.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            frames_out: self.frames_out.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
        }
    }
}

/// One accepted connection.
pub struct LiveConnection {
    /// Server-assigned id.
    pub connection_id: ConnectionId,
    pub remote_addr: SocketAddr,
    pub path: String,
    pub query: Query,
    /// When the upgrade completed.
    pub connected_at: DateTime<Utc>,
    /// Traffic so far.
    pub traffic: TrafficCounters,
    /// Queue frames or ask for a close.
    pub outbound: Outbound,
}

/// Copy of a [`LiveConnection`] for display.
#[derive(Clone, Debug)]
pub struct ConnectionSnapshot {
    /// Server-assigned id.
    pub connection_id: ConnectionId,
    pub remote_addr: SocketAddr,
    pub path: String,
    pub query: Query,
    /// When the upgrade completed.
    pub connected_at: DateTime<Utc>,
    /// Traffic so far.
    pub traffic: TrafficSnapshot,
}

/// All live (upgraded) connections, plus traffic totals over every
/// connection ever.
#[derive(Clone, Default)]
pub struct Registry {
    connections: Arc<RwLock<HashMap<ConnectionId, Arc<LiveConnection>>>>,
    totals: Arc<TrafficCounters>,
}

impl Registry {
    /// Adds an accepted connection.
    pub fn insert(&self, connection: Arc<LiveConnection>) {
        self.connections
            .write()
            .insert(connection.connection_id, connection);
    }

    /// Removes a connection that ended.
    pub fn remove(&self, connection_id: &ConnectionId) -> Option<Arc<LiveConnection>> {
        self.connections.write().remove(connection_id)
    }

    /// Looks a connection up.
    pub fn get(&self, connection_id: &ConnectionId) -> Option<Arc<LiveConnection>> {
        self.connections.read().get(connection_id).cloned()
    }

    /// The live connection a command names, or the command's error.
    pub fn for_command(
        &self,
        connection_id: ConnectionId,
    ) -> Result<Arc<LiveConnection>, super::command::CommandError> {
        self.get(&connection_id)
            .ok_or(super::command::CommandError::UnknownConnection(
                connection_id,
            ))
    }

    /// Number of live connections.
    pub fn len(&self) -> usize {
        self.connections.read().len()
    }

    /// Whether nobody is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every live connection, oldest first (ties broken by id, so the order
    /// is stable for display and tests).
    pub fn snapshot(&self) -> Vec<ConnectionSnapshot> {
        let mut snapshots: Vec<ConnectionSnapshot> = self
            .connections
            .read()
            .values()
            .map(|connection| ConnectionSnapshot {
                connection_id: connection.connection_id,
                remote_addr: connection.remote_addr,
                path: connection.path.clone(),
                query: connection.query.clone(),
                connected_at: connection.connected_at,
                traffic: connection.traffic.snapshot(),
            })
            .collect();
        snapshots.sort_by_key(|snapshot| (snapshot.connected_at, snapshot.connection_id));
        snapshots
    }

    /// Traffic of every live connection, without copying paths and queries
    /// (cheap enough to poll for thousands of connections).
    pub fn traffic(&self) -> HashMap<ConnectionId, TrafficSnapshot> {
        self.connections
            .read()
            .iter()
            .map(|(connection_id, connection)| (*connection_id, connection.traffic.snapshot()))
            .collect()
    }

    /// Frames and bytes over all connections since the engine started.
    pub fn totals(&self) -> TrafficSnapshot {
        self.totals.snapshot()
    }

    /// Counts a frame read from `connection`, in its counters and the totals.
    pub fn record_in(&self, connection: &LiveConnection, size_bytes: usize) {
        connection.traffic.record_in(size_bytes);
        self.totals.record_in(size_bytes);
    }

    /// Counts a frame written to `connection`, in its counters and the totals.
    pub fn record_out(&self, connection: &LiveConnection, size_bytes: usize) {
        connection.traffic.record_out(size_bytes);
        self.totals.record_out(size_bytes);
    }

    /// Every live connection's handle (for shutdown).
    pub fn all(&self) -> Vec<Arc<LiveConnection>> {
        self.connections.read().values().cloned().collect()
    }
}

impl ConnectionDirectory for Registry {
    fn outbound(&self, connection_id: &ConnectionId) -> Option<Outbound> {
        self.connections
            .read()
            .get(connection_id)
            .map(|connection| connection.outbound.clone())
    }
}
