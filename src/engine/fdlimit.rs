//! The open-file limit: every connection is a file descriptor, and the
//! usual soft limit (1024) would cap the server at about a thousand clients.

/// Descriptors the process needs besides connections (listener, kv file,
/// epoll, eventfds, stdio, the script file watcher).
pub const RESERVED_DESCRIPTORS: u64 = 64;

/// Raises the soft open-file limit to the hard limit. Returns the limit in
/// force afterwards, or `None` where the platform has no such limit.
pub fn raise_open_file_limit() -> Option<u64> {
    platform::raise()
}

/// Raises the limit and warns (tracing) when it cannot hold
/// `max_connections` connections.
pub(crate) fn raise_for(max_connections: usize) {
    let Some(limit) = raise_open_file_limit() else {
        return;
    };
    let wanted = (max_connections as u64).saturating_add(RESERVED_DESCRIPTORS);
    if limit < wanted {
        tracing::warn!(
            target: "sockscope::server",
            "the open-file hard limit is {limit}: about {} connections fit, not the {max_connections} \
             allowed by --max-connections; raise it with `ulimit -Hn` (or LimitNOFILE=) before starting",
            limit.saturating_sub(RESERVED_DESCRIPTORS)
        );
    } else {
        tracing::debug!(target: "sockscope::server", "open-file limit {limit}");
    }
}

#[cfg(unix)]
mod platform {
    pub(super) fn raise() -> Option<u64> {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct it is given.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            // SAFETY: setrlimit only reads the struct it is given. It fails
            // (and changes nothing) if the hard limit is above the kernel's
            // nr_open, e.g. RLIM_INFINITY; the old soft limit stays then.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
                let raised_to: u64 = raised.rlim_cur;
                return Some(raised_to);
            }
        }
        let current: u64 = limit.rlim_cur;
        Some(current)
    }
}

#[cfg(not(unix))]
mod platform {
    pub(super) fn raise() -> Option<u64> {
        None
    }
}

#[cfg(test)]
mod tests {
    #[cfg(unix)]
    #[test]
    fn soft_limit_ends_at_the_hard_limit() {
        let raised = super::raise_open_file_limit().expect("unix has a limit");
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct it is given.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
            0
        );
        let current: u64 = limit.rlim_cur;
        assert_eq!(current, raised);
        assert!(raised > 0);
    }
}
