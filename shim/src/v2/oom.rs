//! OOM notification on cgroup v1: an eventfd registered on the container's memory.oom_control
//! through cgroup.event_control. The kernel signals it on every OOM in the cgroup and once
//! more when the cgroup is removed, which ends the watcher.

use super::events::Events;
use containerd_shim::protos::events::task::TaskOOM;
use containerd_shim::protos::topics::TASK_OOM_EVENT_TOPIC;
use nix::sys::eventfd::{EfdFlags, EventFd};
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// The v1 memory cgroup directory of `pid`, if the memory controller is mounted as v1.
fn memory_cgroup_v1(pid: u32) -> Option<PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let relative = text.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        controllers.split(',').any(|c| c == "memory").then(|| path.to_owned())
    })?;
    let dir = Path::new("/sys/fs/cgroup/memory").join(relative.trim_start_matches('/'));
    dir.join("memory.oom_control").exists().then_some(dir)
}

/// Watch the memory cgroup of `pid` (the container's init) and queue a TaskOOM for
/// `container_id` on each OOM. Returns false where there is nothing to watch (cgroup v2, or no
/// memory controller); the caller then does without OOM events.
pub fn watch(container_id: &str, pid: u32, events: &Events) -> bool {
    let Some(dir) = memory_cgroup_v1(pid) else { return false };
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
            events.send(TASK_OOM_EVENT_TOPIC, TaskOOM { container_id: id.clone(), ..Default::default() });
        }
    });
    true
}
