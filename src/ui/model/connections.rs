//! The Connections table: live ones from events, closed and denied ones kept
//! (greyed) until cleared, traffic refreshed from the engine periodically.

use std::collections::HashMap;
use std::net::SocketAddr;

use chrono::{DateTime, Utc};

use crate::core::events::{ClosedBy, ConnectionId, Event};
use crate::core::query::{Query, format_query};
use crate::engine::registry::TrafficSnapshot;

/// How a connection stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectionState {
    /// Upgraded and open.
    Open,
    /// Ended.
    Closed {
        /// When.
        at: DateTime<Utc>,
        /// Close code, if a close frame was exchanged.
        code: Option<u16>,
        /// Who ended it.
        by: ClosedBy,
        /// Close reason or error.
        reason: String,
    },
    /// Refused before the upgrade.
    Denied {
        /// HTTP status sent.
        status: u16,
        /// Why.
        reason: String,
    },
}

/// One row of the table.
#[derive(Clone, Debug)]
pub struct ConnectionRow {
    /// Server id.
    pub connection_id: ConnectionId,
    /// Client address.
    pub remote_addr: SocketAddr,
    /// Request path.
    pub path: String,
    /// Query string as the client sent it (re-encoded).
    pub query_text: String,
    /// Parsed query.
    pub query: Query,
    /// When it connected (or was refused).
    pub connected_at: DateTime<Utc>,
    /// Open, closed or denied.
    pub state: ConnectionState,
    /// Latest traffic figures.
    pub traffic: TrafficSnapshot,
}

impl ConnectionRow {
    /// Whether the connection is still open.
    pub fn is_open(&self) -> bool {
        self.state == ConnectionState::Open
    }

    /// How long it was (or has been) connected, at `now`.
    pub fn connected_for(&self, now: DateTime<Utc>) -> chrono::Duration {
        match &self.state {
            ConnectionState::Closed { at, .. } => *at - self.connected_at,
            ConnectionState::Denied { .. } => chrono::Duration::zero(),
            ConnectionState::Open => now - self.connected_at,
        }
    }
}

/// All rows, in arrival order.
#[derive(Default)]
pub struct Connections {
    rows: Vec<ConnectionRow>,
    index: HashMap<ConnectionId, usize>,
}

impl Connections {
    /// Applies an engine event: connects, refusals and closes.
    pub fn on_event(&mut self, event: &Event) {
        match event {
            Event::ConnectionOpened {
                connection_id,
                remote_addr,
                path,
                query,
                at,
            } => self.opened(
                *connection_id,
                *remote_addr,
                path.clone(),
                query.clone(),
                *at,
            ),
            Event::ConnectionDenied {
                connection_id,
                remote_addr,
                path,
                query,
                status,
                reason,
                at,
            } => self.denied(
                *connection_id,
                *remote_addr,
                path.clone(),
                query.clone(),
                *at,
                *status,
                reason.clone(),
            ),
            Event::ConnectionClosed {
                connection_id,
                code,
                reason,
                by,
                traffic,
                at,
            } => {
                self.closed(*connection_id, *at, *code, *by, reason.clone());
                self.refresh_traffic(&HashMap::from([(*connection_id, *traffic)]));
            }
            _ => {}
        }
    }

    /// Adds an opened connection.
    pub fn opened(
        &mut self,
        connection_id: ConnectionId,
        remote_addr: SocketAddr,
        path: String,
        query: Query,
        at: DateTime<Utc>,
    ) {
        self.insert(
            connection_id,
            remote_addr,
            path,
            query,
            at,
            ConnectionState::Open,
        );
    }

    /// Adds a refused connection.
    #[allow(clippy::too_many_arguments)]
    pub fn denied(
        &mut self,
        connection_id: ConnectionId,
        remote_addr: SocketAddr,
        path: String,
        query: Query,
        at: DateTime<Utc>,
        status: u16,
        reason: String,
    ) {
        let state = ConnectionState::Denied { status, reason };
        self.insert(connection_id, remote_addr, path, query, at, state);
    }

    fn insert(
        &mut self,
        connection_id: ConnectionId,
        remote_addr: SocketAddr,
        path: String,
        query: Query,
        connected_at: DateTime<Utc>,
        state: ConnectionState,
    ) {
        self.index.insert(connection_id, self.rows.len());
        self.rows.push(ConnectionRow {
            connection_id,
            remote_addr,
            path,
            query_text: format_query(&query),
            query,
            connected_at,
            state,
            traffic: TrafficSnapshot::default(),
        });
    }

    /// Marks a connection closed (it stays listed).
    pub fn closed(
        &mut self,
        connection_id: ConnectionId,
        at: DateTime<Utc>,
        code: Option<u16>,
        by: ClosedBy,
        reason: String,
    ) {
        if let Some(row) = self
            .index
            .get(&connection_id)
            .and_then(|&index| self.rows.get_mut(index))
        {
            row.state = ConnectionState::Closed {
                at,
                code,
                by,
                reason,
            };
        }
    }

    /// Updates traffic figures of open connections.
    pub fn refresh_traffic(&mut self, traffic: &HashMap<ConnectionId, TrafficSnapshot>) {
        for (connection_id, snapshot) in traffic {
            if let Some(row) = self
                .index
                .get(connection_id)
                .and_then(|&index| self.rows.get_mut(index))
            {
                row.traffic = *snapshot;
            }
        }
    }

    /// Removes closed and denied rows.
    pub fn clear_ended(&mut self) {
        self.rows.retain(ConnectionRow::is_open);
        self.index = self
            .rows
            .iter()
            .enumerate()
            .map(|(index, row)| (row.connection_id, index))
            .collect();
    }

    /// All rows, in arrival order.
    pub fn rows(&self) -> &[ConnectionRow] {
        &self.rows
    }

    /// A row by id.
    pub fn get(&self, connection_id: &ConnectionId) -> Option<&ConnectionRow> {
        self.index
            .get(connection_id)
            .and_then(|&index| self.rows.get(index))
    }

    /// Open connections.
    pub fn open_count(&self) -> usize {
        self.rows.iter().filter(|row| row.is_open()).count()
    }

    /// Rows that ended (closed or denied).
    pub fn ended_count(&self) -> usize {
        self.rows.len() - self.open_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_brings_the_final_traffic_the_refresh_missed() {
        let mut connections = Connections::default();
        let connection_id = ConnectionId::new_v4();
        connections.opened(
            connection_id,
            "127.0.0.1:1".parse().expect("an address"),
            "/".to_owned(),
            Query::default(),
            Utc::now(),
        );
        let traffic = TrafficSnapshot {
            frames_in: 1,
            bytes_in: 2,
            frames_out: 1,
            bytes_out: 5,
        };
        connections.on_event(&Event::ConnectionClosed {
            connection_id,
            code: Some(1000),
            reason: String::new(),
            by: crate::core::events::ClosedBy::Client,
            traffic,
            at: Utc::now(),
        });
        let row = connections.get(&connection_id).expect("kept");
        assert!(!row.is_open());
        assert_eq!(row.traffic, traffic);
    }

    #[test]
    fn closed_rows_stay_until_cleared() {
        let mut connections = Connections::default();
        let addr: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        let (first, second) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        connections.opened(first, addr, "/".into(), Query::new(), Utc::now());
        connections.opened(second, addr, "/".into(), Query::new(), Utc::now());
        connections.closed(
            first,
            Utc::now(),
            Some(1000),
            ClosedBy::Client,
            String::new(),
        );
        assert_eq!((connections.rows().len(), connections.open_count()), (2, 1));
        connections.clear_ended();
        assert_eq!(connections.rows().len(), 1);
        assert!(connections.get(&second).is_some_and(ConnectionRow::is_open));
        assert!(connections.get(&first).is_none());
    }
}
