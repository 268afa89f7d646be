//! OOM notification, publishing TaskOOM for each OOM kill in the container's cgroup.
//!
//! - cgroup v1: an eventfd registered on memory.oom_control through cgroup.event_control. The
//!   kernel signals it on every OOM in the cgroup and once more when the cgroup is removed,
//!   which ends the watcher.
//! - cgroup v2 (as containerd-shim-runc-v2 does it): inotify on memory.events, whose
//!   `oom_kill` count grows with each kill, and on cgroup.events, whose `populated` turns 0
//!   when the last process has left, which ends the watcher.

use super::cgroup::{self, Cgroup};
use super::events::Events;
use containerd_shim::protos::events::task::TaskOOM;
use containerd_shim::protos::topics::TASK_OOM_EVENT_TOPIC;
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Watch `cgroup` (the container's, found from its init) and queue a TaskOOM for
/// `container_id` on each OOM kill. Returns false where there is nothing to watch (no cgroup,
/// no memory controller); the caller then does without OOM events.
pub fn watch(container_id: &str, cgroup: Option<&Cgroup>, events: &Events) -> bool {
    match cgroup {
        Some(Cgroup::V1Memory(dir)) => watch_v1(container_id, dir.clone(), events),
        Some(Cgroup::Unified(dir)) => watch_v2(container_id, dir.clone(), events),
        None => false,
    }
}

fn oom_event(container_id: &str) -> TaskOOM {
    TaskOOM { container_id: container_id.to_owned(), ..Default::default() }
}

fn watch_v1(container_id: &str, dir: PathBuf, events: &Events) -> bool {
    let Ok(eventfd) = EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC) else { return false };
    let Ok(oom_control) = File::open(dir.join("memory.oom_control")) else { return false };
    let registration = format!("{} {}", eventfd.as_raw_fd(), oom_control.as_raw_fd());
    let registered = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("cgroup.event_control"))
        .and_then(|mut control| control.write_all(registration.as_bytes()));
    if registered.is_err() {
        return false;
    }
    let id = container_id.to_owned();
    let events = events.clone();
    std::thread::spawn(move || {
        let _keep_open = oom_control;
        while eventfd.read().is_ok() {
            // The last notification comes from the cgroup's removal.
            if !dir.exists() {
                break;
            }
            events.send(TASK_OOM_EVENT_TOPIC, oom_event(&id));
        }
    });
    true
}

fn oom_kills(dir: &Path) -> Option<u64> {
    cgroup::read_keyed(dir, "memory.events").ok()?.get("oom_kill").copied()
}

/// Whether processes are left in the cgroup (false once it is empty or gone).
fn populated(dir: &Path) -> bool {
    cgroup::read_keyed(dir, "cgroup.events").is_ok_and(|events| events.get("populated").is_some_and(|n| *n > 0))
}

fn watch_v2(container_id: &str, dir: PathBuf, events: &Events) -> bool {
    // 1. One inotify for both files; the kernel marks each modified when its counts change.
    let Ok(inotify) = Inotify::init(InitFlags::IN_CLOEXEC) else { return false };
    for file in ["memory.events", "cgroup.events"] {
        if inotify.add_watch(&dir.join(file), AddWatchFlags::IN_MODIFY).is_err() {
            return false;
        }
    }
    // 2. Count from what is there now: only kills from here on are this container's news.
    let Some(mut seen) = oom_kills(&dir) else { return false };
    let id = container_id.to_owned();
    let events = events.clone();
    std::thread::spawn(move || loop {
        // 3. On every change: report new kills first (a kill precedes the exit that empties
        //    the cgroup), then stop once no process is left.
        if let Some(now) = oom_kills(&dir).filter(|now| *now > seen) {
            seen = now;
            events.send(TASK_OOM_EVENT_TOPIC, oom_event(&id));
        }
        if !populated(&dir) || inotify.read_events().is_err() {
            break;
        }
    });
    true
}
