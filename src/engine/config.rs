//! What an engine is told at start: where to listen and with which limits.
//! Which handlers run behind it is decided above the engine (`crate::launch`).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use super::breakpoints::{BreakpointRule, HoldSettings};
use crate::core::config::{KvLocation, Limits};
use crate::core::events::ApprovalStage;

/// Everything the server side of an engine needs.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Address to listen on (127.0.0.1 unless told otherwise).
    pub bind: IpAddr,
    /// Port of the first socket; 0 picks a free one.
    pub port: u16,
    pub kv: KvLocation,
    pub limits: Limits,
    /// How far a lossy bus subscriber may lag before it loses events.
    pub bus_capacity: usize,
    /// Origins (`scheme://host[:port]`) whose pages may connect. Empty means
    /// any origin (and no `Origin` header) is accepted; otherwise an upgrade
    /// whose `Origin` is missing or not listed gets HTTP 403.
    pub allowed_origins: Vec<String>,
    pub deny_answer: DenyAnswer,
    /// Ports pinned per socket name (`local.nitric.yaml`'s `websockets`).
    pub pinned_ports: BTreeMap<String, u16>,
    /// The interceptions in force from the start (the window re-applies
    /// its saved ones on every start); commands change them later.
    pub intercept: InterceptConfig,
}

/// Where held connections wait, and the message breakpoints with their
/// timeout.
#[derive(Clone, Debug, Default)]
pub struct InterceptConfig {
    pub approval_stage: ApprovalStage,
    pub breakpoints: Vec<BreakpointRule>,
    pub hold_settings: HoldSettings,
}

/// How a connect the handlers refused (or failed on) is answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DenyAnswer {
    /// HTTP 500 with the body `Connection Refused` for both, as `nitric
    /// start` answers; the reason is still in the log and the window.
    #[default]
    NitricStart,
    /// `--deny-status N`: a denial gets status `denied`, a failure 500, and
    /// the body names the reason.
    Explained { denied: u16 },
}

impl Default for EngineConfig {
    /// 127.0.0.1:4001, in-memory kv, default limits.
    fn default() -> Self {
        Self {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 4001,
            kv: KvLocation::Memory,
            limits: Limits::default(),
            bus_capacity: 65_536,
            allowed_origins: Vec::new(),
            deny_answer: DenyAnswer::NitricStart,
            pinned_ports: BTreeMap::new(),
            intercept: InterceptConfig::default(),
        }
    }
}
