//! The verbs that act on a live container's cgroup: pause, resume, ps, events, update.

use super::{load, ContainerError, Verb};
use crate::state::{State, Status};
use berth_cgroups::{Manager, Stats};
use oci_spec::runtime::LinuxResources;
use std::path::Path;
use std::time::Duration;

fn cgroup_of(state: &State) -> Result<Box<dyn Manager>, ContainerError> {
    match &state.cgroup {
        Some(saved) => Ok(berth_cgroups::load(saved)?),
        None => Err(ContainerError::NoCgroup(state.id.clone())),
    }
}

/// Freeze every process of a created or running container.
pub fn pause(root: &Path, id: &str) -> Result<(), ContainerError> {
    let (state, status, _) = load(root, id)?;
    // A created container can be paused too, as in runc.
    if !matches!(status, Status::Running | Status::Created) {
        return Err(ContainerError::wrong_status(&state, Verb::Pause, status));
    }
    Ok(cgroup_of(&state)?.freeze()?)
}

/// Thaw a paused container.
pub fn resume(root: &Path, id: &str) -> Result<(), ContainerError> {
    let (state, status, _) = load(root, id)?;
    if status != Status::Paused {
        return Err(ContainerError::wrong_status(&state, Verb::Resume, status));
    }
    Ok(cgroup_of(&state)?.thaw()?)
}

/// Host pids of every process in the container's cgroup.
pub fn pids(root: &Path, id: &str) -> Result<Vec<i32>, ContainerError> {
    // A stopped container lists what is left in its cgroup, usually nothing (runc's "ps after
    // the container stopped").
    let (state, status, _) = load(root, id)?;
    match cgroup_of(&state)?.pids() {
        Err(_) if status == Status::Stopped => Ok(Vec::new()),
        other => Ok(other?),
    }
}

/// One sample of the container's cgroup statistics.
pub fn stats(root: &Path, id: &str) -> Result<Stats, ContainerError> {
    let (state, status, _) = load(root, id)?;
    if status == Status::Stopped {
        return Err(ContainerError::wrong_status(&state, Verb::Events, status));
    }
    Ok(cgroup_of(&state)?.stats()?)
}

/// What `events` reports.
pub enum Event {
    /// A stats sample, every interval.
    Stats(Box<Stats>),
    /// The kernel OOM-killed a process of the container.
    Oom,
}

/// Stream events until the container stops: a stats sample every `interval` and an OOM
/// event whenever the memory cgroup reports one. `emit` returning false stops the stream.
pub fn events(root: &Path, id: &str, interval: Duration, mut emit: impl FnMut(Event) -> bool) -> Result<(), ContainerError> {
    let (state, status, dir) = load(root, id)?;
    if status == Status::Stopped {
        return Err(ContainerError::wrong_status(&state, Verb::Events, status));
    }
    let cgroup = cgroup_of(&state)?;
    let saved = state.cgroup.as_ref().expect("cgroup_of checked it");
    // A container without a memory controller still streams stats; it just has no OOM events.
    let mut oom = berth_cgroups::oom::OomWatcher::new(saved).ok();
    let mut next_sample = std::time::Instant::now();
    loop {
        if super::status(&state, &dir) == Status::Stopped {
            return Ok(());
        }
        let now = std::time::Instant::now();
        if now >= next_sample {
            if !emit(Event::Stats(Box::new(cgroup.stats()?))) {
                return Ok(());
            }
            next_sample = now + interval;
        }
        let wait = next_sample.saturating_duration_since(std::time::Instant::now()).min(Duration::from_millis(500));
        let fired = match &mut oom {
            Some(watcher) => watcher.wait(Some(wait))?,
            None => {
                std::thread::sleep(wait);
                false
            }
        };
        if fired && !emit(Event::Oom) {
            return Ok(());
        }
    }
}

/// Apply new limits to a created, running or paused container. The update is merged into the
/// resources the container has (on v2, swap is computed from swap and limit together), the
/// result applied and recorded for the next update, as runc keeps its config.
pub fn update(root: &Path, id: &str, update: &LinuxResources) -> Result<(), ContainerError> {
    let (mut state, status, dir) = load(root, id)?;
    if status == Status::Stopped {
        return Err(ContainerError::wrong_status(&state, Verb::Update, status));
    }
    let merged = berth_cgroups::update::merge(&state.resources.clone().unwrap_or_default(), update);
    cgroup_of(&state)?.apply(&merged)?;
    state.resources = Some(merged);
    Ok(dir.save(&state)?)
}
