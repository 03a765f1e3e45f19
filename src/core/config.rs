//! Settings shared by every layer: where kv lives, the limits a client or
//! handler can hit, how many socket threads to run.

use std::path::PathBuf;
use std::time::Duration;

/// Where the kv store lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvLocation {
    /// A redb file, created if missing (its folder too).
    File(PathBuf),
    /// Nothing survives the process (`--kv :memory:`).
    Memory,
}

impl KvLocation {
    /// `:memory:` means in-memory; anything else is a file path.
    pub fn parse(raw: &str) -> Self {
        if raw == ":memory:" {
            KvLocation::Memory
        } else {
            KvLocation::File(PathBuf::from(raw))
        }
    }
}

impl std::fmt::Display for KvLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KvLocation::File(path) => write!(f, "{}", path.display()),
            KvLocation::Memory => f.write_str(":memory:"),
        }
    }
}

/// Whether `origin` (an `Origin` header value, if any) may connect under
/// `allowed`: an empty list allows everything; otherwise the origin must be
/// listed (compared case-insensitively, a trailing `/` ignored).
pub fn origin_allowed(allowed: &[String], origin: Option<&str>) -> bool {
    if allowed.is_empty() {
        return true;
    }
    let Some(origin) = origin else {
        return false;
    };
    let origin = origin.trim().trim_end_matches('/');
    allowed.iter().any(|candidate| {
        candidate
            .trim()
            .trim_end_matches('/')
            .eq_ignore_ascii_case(origin)
    })
}

/// Resource limits. Every limit a client or script can hit is here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest message accepted from a client; larger ones close with 1009.
    pub max_message_bytes: usize,
    /// Connections beyond this get HTTP 503 before the connect chain runs.
    pub max_connections: usize,
    /// Time one handler chain may run before it is interrupted.
    pub handler_timeout: Duration,
    /// Memory cap of the script runtime.
    pub script_memory_bytes: usize,
    /// Unsent bytes per connection before a non-reading client gets 1008.
    pub outbound_queue_bytes: usize,
    /// A client that sends nothing for this long is closed (1001); `None` = never.
    pub idle_timeout: Option<Duration>,
    /// Time a client has to finish its HTTP upgrade request.
    pub handshake_timeout: Duration,
    /// Time the server waits for the client's close reply after its own close frame.
    pub close_timeout: Duration,
    /// Time a held connection waits for Accept/Deny before it is denied.
    pub approval_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 1024 * 1024,
            max_connections: 16_384,
            handler_timeout: Duration::from_millis(1000),
            script_memory_bytes: 256 * 1024 * 1024,
            outbound_queue_bytes: 16 * 1024 * 1024,
            idle_timeout: None,
            handshake_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(2),
            approval_timeout: Duration::from_secs(60),
        }
    }
}

/// Every CPU, for commands that run no script thread of their own.
pub fn all_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// Threads for sockets when nobody says: every CPU but one, because the
/// script thread keeps one busy whenever traffic flows (and at least one).
/// With two CPUs, a second socket thread only took turns with the script
/// thread: 32-byte echo throughput was about 20% lower with it.
///
/// The proxy has no script thread but takes the same number: its target and
/// its clients usually share the machine, and every proxied message wakes
/// it twice (client side, target side), each wake of an idle runtime also
/// waking a second thread (2.3 futex calls per message). With two CPUs and
/// a light trickle of 32-byte messages, one thread used 24–28 µs of CPU per
/// message against 32–41 with two; at the maximum rate the two are within
/// the noise (`cargo bench --bench proxy -- --also-io-threads 2`).
pub fn default_io_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |cpus| cpus.get().saturating_sub(1).max(1))
}

#[cfg(test)]
mod tests {
    use super::{default_io_threads, origin_allowed};

    #[test]
    fn the_script_thread_gets_a_cpu_of_its_own_when_there_are_two() {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let threads = default_io_threads();
        assert!(threads >= 1);
        if cpus >= 2 {
            assert_eq!(threads, cpus - 1);
        }
    }

    #[test]
    fn empty_allow_list_accepts_everything() {
        assert!(origin_allowed(&[], None));
        assert!(origin_allowed(&[], Some("https://evil.example")));
    }

    #[test]
    fn listed_origins_only() {
        let allowed = vec![
            "http://localhost:3000".to_owned(),
            "https://app.example/".to_owned(),
        ];
        assert!(origin_allowed(&allowed, Some("http://localhost:3000")));
        assert!(origin_allowed(&allowed, Some("HTTPS://APP.example")));
        assert!(!origin_allowed(&allowed, Some("http://localhost:3001")));
        assert!(!origin_allowed(
            &allowed,
            Some("https://app.example.evil.example")
        ));
        assert!(!origin_allowed(&allowed, Some("null")));
        assert!(!origin_allowed(&allowed, None));
    }
}
