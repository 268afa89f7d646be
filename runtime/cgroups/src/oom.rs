//! OOM notifications for `events`: v1 registers an eventfd on memory.oom_control through
//! cgroup.event_control; v2 watches memory.events with inotify and reports when its
//! `oom_kill` count grows.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::files;
use crate::sys;
use crate::{CgroupState, Layout, UNIFIED_KEY};

/// Waits for OOM events of one container's memory cgroup.
pub struct OomWatcher {
    fd: OwnedFd,
    kind: Kind,
}

enum Kind {
    /// v1: the eventfd fires once per OOM.
    V1,
    /// v2: memory.events changed; compare its oom_kill count with the last one seen.
    V2 { dir: PathBuf, seen: u64 },
}

impl OomWatcher {
    /// Start watching the memory cgroup recorded in `state`.
    pub fn new(state: &CgroupState) -> Result<OomWatcher> {
        let key = if state.layout == Layout::V2 { UNIFIED_KEY } else { "memory" };
        let dir = state.paths.get(key).ok_or_else(|| Error::NoDirectory {
            operation: "events (OOM watch)",
            hierarchy: key.to_owned(),
        })?;
        if state.layout == Layout::V2 {
            let events = dir.join("memory.events");
            let fd = sys::inotify_watch_modify(&events).map_err(|source| Error::Syscall {
                syscall: "inotify_add_watch",
                target: events.display().to_string(),
                source,
            })?;
            let seen = oom_kills(dir)?;
            Ok(OomWatcher {
                fd,
                kind: Kind::V2 { dir: dir.clone(), seen },
            })
        } else {
            Ok(OomWatcher {
                fd: register_v1(dir)?,
                kind: Kind::V1,
            })
        }
    }

    /// Wait up to `timeout` (None: forever) for an OOM; true if one happened.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<bool> {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        loop {
            let remaining_ms = match deadline {
                None => -1,
                Some(d) => i32::try_from(d.saturating_duration_since(std::time::Instant::now()).as_millis()).unwrap_or(i32::MAX),
            };
            let ready = sys::wait_readable(self.fd.as_fd(), remaining_ms).map_err(|source| self.error("poll", source))?;
            if !ready {
                return Ok(false);
            }
            sys::drain(self.fd.as_fd()).map_err(|source| self.error("read", source))?;
            match &mut self.kind {
                Kind::V1 => return Ok(true),
                Kind::V2 { dir, seen } => {
                    let now = oom_kills(dir)?;
                    if now > *seen {
                        *seen = now;
                        return Ok(true);
                    }
                }
            }
            if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                return Ok(false);
            }
        }
    }

    fn error(&self, syscall: &'static str, source: std::io::Error) -> Error {
        Error::Syscall {
            syscall,
            target: format!("OOM watch fd {}", self.fd.as_raw_fd()),
            source,
        }
    }
}

/// "<eventfd> <fd of memory.oom_control>" into cgroup.event_control.
fn register_v1(dir: &Path) -> Result<OwnedFd> {
    let control_path = dir.join("memory.oom_control");
    let control = std::fs::File::open(&control_path).map_err(|source| Error::Read {
        path: control_path.clone(),
        source,
    })?;
    let event = sys::eventfd().map_err(|source| Error::Syscall {
        syscall: "eventfd",
        target: dir.display().to_string(),
        source,
    })?;
    let line = format!("{} {}", event.as_raw_fd(), control.as_raw_fd());
    files::write(dir, "cgroup.event_control", &line, "events (OOM notification)")?;
    // The kernel holds its own reference to memory.oom_control from here on.
    Ok(event)
}

fn oom_kills(dir: &Path) -> Result<u64> {
    Ok(files::keyed(&files::read_keyed(dir, "memory.events")?, "oom_kill"))
}

/// How many processes the OOM killer has killed in the memory cgroup recorded in `state`
/// (v1 memory.oom_control, v2 memory.events): why a container's first process died, say.
pub fn kill_count(state: &CgroupState) -> Result<u64> {
    let key = if state.layout == Layout::V2 { UNIFIED_KEY } else { "memory" };
    let dir = state.paths.get(key).ok_or_else(|| Error::NoDirectory { operation: "OOM kill count", hierarchy: key.to_owned() })?;
    let file = if state.layout == Layout::V2 { "memory.events" } else { "memory.oom_control" };
    Ok(files::keyed(&files::read_keyed(dir, file)?, "oom_kill"))
}
