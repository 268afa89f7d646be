//! Cgroup drivers for berth: v1, v2 and the hybrid layout (v1 controllers plus a cgroup2
//! mount), behind one [`Manager`] trait.
//!
//! The runtime resolves where a container's cgroup goes with [`resolve`], creates it, applies
//! `linux.resources` (device rules included: v1 devices.allow/deny, a v2 eBPF device program),
//! moves processes in, and later freezes, reads stats of and destroys it. Everything a later
//! invocation needs is in [`CgroupState`], which the runtime stores in state.json and hands
//! back to [`load`].
//!
//! Where the cgroup goes (linux.cgroupsPath):
//! - unset: `<caller's own cgroup>/<id>` in every hierarchy (runc does the same); relative:
//!   below the caller's own cgroup, per hierarchy; absolute: from each hierarchy's root;
//! - `slice:prefix:name` with `--systemd-cgroup`: with systemd running (cgroup v2 only), systemd
//!   creates the scope unit `prefix-name.scope` in the slice over D-Bus (`Delegate=yes`) when
//!   the first process is added, and berth writes the limits into it. Without a running
//!   systemd the unit's path (`a-b.slice:p:n` is `a.slice/a-b.slice/p-n.scope`, an empty
//!   slice is `system.slice`) goes below the caller's own cgroup, like a relative path, so the
//!   container stays within its caller's limits.
//!
//! Layouts:
//! - v2: one directory; on create every controller the parents offer is enabled in their
//!   `cgroup.subtree_control` (one by one, so one refusal does not hide the rest); device rules
//!   become a BPF_PROG_TYPE_CGROUP_DEVICE program attached with BPF_F_ALLOW_MULTI (an update
//!   attaches the new program before detaching the old one).
//! - v1: one directory per mounted hierarchy (named ones such as name=systemd included); a new
//!   cpuset cgroup copies its parent's cpus and mems; device rules go to devices.allow/deny.
//! - hybrid: v1, plus a directory in the cgroup2 hierarchy that the process joins too (as
//!   runc does). berth never changes the cgroup2 root's subtree_control there, so a v2-only
//!   controller (hugetlb on the development machine) is used only if already enabled; else a
//!   hugepage limit is an error naming the field.
//!
//! Nothing is ignored silently: a field the host cannot honour, a controller that is missing,
//! or a value the kernel refuses is an [`Error`] naming the `linux.resources` field and the file.

#![deny(missing_docs)]

mod convert;
mod devices;
mod error;
mod files;
mod hierarchy;
mod join;
pub mod oom;
mod path;
mod stats;
mod sys;
mod systemd;
pub mod update;
mod v1;
mod v2;

use std::collections::BTreeMap;
use std::os::fd::BorrowedFd;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use error::Error;
pub use join::SelfJoin;
pub use hierarchy::{mount_points_of_type, unescape_octal as unescape_mountinfo, Layout};
pub use systemd::dbus::DbusError;
pub use stats::{Blkio, BlkioEntry, Cpu, CpuUsage, Hugetlb, Memory, MemoryEntry, Pids, Stats, Throttling};

use hierarchy::Host;

/// What config.json and the command line ask for.
#[derive(Clone, Copy, Debug)]
pub struct CgroupRequest<'a> {
    /// linux.cgroupsPath: absolute, relative, unset, or "slice:prefix:name" with `systemd`.
    pub cgroups_path: Option<&'a str>,
    /// `--systemd-cgroup` was given.
    pub systemd: bool,
    /// The container id (the cgroup's name when the path is unset).
    pub container_id: &'a str,
}

/// The container's cgroup directories, saved in state.json and handed back to [`load`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct CgroupState {
    /// The host's layout when the cgroup was made.
    pub layout: Layout,
    /// The cgroup directory per hierarchy: v1 controller names ("memory", "cpu",
    /// "name=systemd"; co-mounted controllers repeat the same directory) and "unified" for
    /// the cgroup2 hierarchy (pure v2, or hybrid's process-tracking cgroup).
    pub paths: BTreeMap<String, PathBuf>,
    /// Directories this manager created, outermost first; destroy removes them innermost first.
    #[serde(default)]
    pub created: Vec<PathBuf>,
    /// With the systemd driver: the container's scope unit, stopped on destroy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd_unit: Option<String>,
}

impl CgroupState {
    /// The directories of this cgroup that do not exist yet, outermost first, each once: what
    /// [`Manager::create`] is about to make. A runtime records them as `created` before it
    /// creates, so a create killed between two mkdirs leaves nothing `destroy` would miss.
    pub fn missing_levels(&self) -> Vec<PathBuf> {
        let mut missing = Vec::new();
        for leaf in self.paths.values() {
            let mut levels: Vec<PathBuf> = leaf.ancestors().take_while(|dir| !dir.exists()).map(PathBuf::from).collect();
            levels.reverse();
            for level in levels {
                if !missing.contains(&level) {
                    missing.push(level);
                }
            }
        }
        missing
    }
}

/// The key of the cgroup2 hierarchy in [`CgroupState::paths`].
pub const UNIFIED_KEY: &str = "unified";

/// One container's cgroup, on whichever layout the host has.
pub trait Manager: Send {
    /// What to save in state.json.
    fn state(&self) -> CgroupState;
    /// mkdir the cgroup in every hierarchy, remembering what it made; on failure nothing
    /// it made is left.
    fn create(&mut self) -> Result<(), Error>;
    /// Write linux.resources. `resources.devices`, when present, is the complete rule list
    /// (the runtime's default devices included). Fields this host cannot honour are an error
    /// naming the field.
    fn apply(&self, resources: &oci_spec::runtime::LinuxResources) -> Result<(), Error>;
    /// On pure v2, after create: an O_PATH directory fd of the cgroup for
    /// clone3(CLONE_INTO_CGROUP). None on v1 and hybrid.
    fn clone_into_fd(&self) -> Option<BorrowedFd<'_>>;
    /// Move a process (all its threads) into the cgroup in every hierarchy.
    fn add_task(&self, pid: i32) -> Result<(), Error>;
    /// After create, where the layout allows it (v1 and hybrid): what a new, single-threaded
    /// process needs to join the cgroup by itself, without the global lock and RCU wait of
    /// [`Manager::add_task`] (see [`SelfJoin`]). None: use `clone_into_fd` or `add_task`.
    fn self_join(&self) -> Result<Option<SelfJoin>, Error> {
        Ok(None)
    }
    /// `exec --cgroup SPEC`: move a process into an existing sub-cgroup of the container's
    /// cgroup (`path`, or on v1 `controller[,controller...]:path` for some hierarchies, the
    /// others getting the container's cgroup).
    fn add_task_to_sub(&self, pid: i32, spec: &str) -> Result<(), Error>;
    /// Freeze every process of the cgroup, and wait until the kernel says it is frozen.
    fn freeze(&self) -> Result<(), Error>;
    /// Thaw the cgroup.
    fn thaw(&self) -> Result<(), Error>;
    /// Whether the cgroup is frozen (or freezing).
    fn is_frozen(&self) -> Result<bool, Error>;
    /// The pids of every process in the cgroup and its sub-cgroups.
    fn pids(&self) -> Result<Vec<i32>, Error>;
    /// Current resource usage.
    fn stats(&self) -> Result<Stats, Error>;
    /// Kill what is left if asked (thawing first), then rmdir every directory of the cgroup
    /// and those it created above it. A cgroup that is already gone is fine.
    fn destroy(&self, kill_remaining: bool) -> Result<(), Error>;
}

/// One cgroup hierarchy mounted on this host, as a container's cgroup mount reproduces it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountedHierarchy {
    /// Where the host mounts it (/sys/fs/cgroup/memory, /sys/fs/cgroup/unified).
    pub mount_point: PathBuf,
    /// The cgroup2 hierarchy rather than a v1 one.
    pub unified: bool,
    /// v1: the controllers bound to it, as mount options ("cpu", "cpuacct", "name=systemd").
    pub controllers: Vec<String>,
}

/// The hierarchies mounted on this host, each once (bind mounts of one are skipped), v1
/// ones first.
pub fn mounted_hierarchies() -> Result<Vec<MountedHierarchy>, Error> {
    let host = Host::detect()?;
    let v1 = host.v1.into_iter().map(|h| MountedHierarchy { mount_point: h.mountpoint, unified: false, controllers: h.controllers });
    let unified = host.unified.map(|h| MountedHierarchy { mount_point: h.mountpoint, unified: true, controllers: Vec::new() });
    Ok(v1.chain(unified).collect())
}

/// The host's cgroup layout, detected from /proc/self/mountinfo.
pub fn layout() -> Result<Layout, Error> {
    Ok(Host::detect()?.layout)
}

/// Work out where the container's cgroup goes on this host. Reads /proc/self/cgroup and
/// /proc/self/mountinfo and changes nothing; see the `path` module docs for the path forms.
pub fn resolve(req: &CgroupRequest<'_>) -> Result<Box<dyn Manager>, Error> {
    let host = Host::detect()?;
    if req.systemd && path::systemd_running() {
        let unified = match (&host.layout, &host.unified) {
            (Layout::V2, Some(unified)) => unified,
            (layout, _) => return Err(Error::SystemdNeedsV2 { layout: *layout }),
        };
        let unit = path::systemd_unit(req.cgroups_path, req.container_id)?;
        return Ok(Box::new(systemd::SystemdManager::new(unified, unit)));
    }
    let path = path::parse(req.cgroups_path, req.systemd, req.container_id)?;
    Ok(match host.layout {
        Layout::V2 => {
            let unified = host.unified.as_ref().ok_or(Error::NoCgroupFs)?;
            Box::new(v2::V2Manager::new(unified, &path))
        }
        Layout::V1 | Layout::Hybrid => Box::new(v1::V1Manager::new(&host, &path)),
    })
}

/// Check linux.resources.devices as [`Manager::apply`] will read it (types, numbers, access
/// strings), without a cgroup: the runtime's plan refuses a bad rule before anything is made.
pub fn check_device_rules(rules: &[oci_spec::runtime::LinuxDeviceCgroup]) -> Result<(), Error> {
    devices::DeviceRules::fold(rules).map(drop)
}

/// Rebuild a manager from what [`Manager::state`] returned in an earlier invocation.
pub fn load(saved: &CgroupState) -> Result<Box<dyn Manager>, Error> {
    if let Some(unit) = &saved.systemd_unit {
        return Ok(Box::new(systemd::SystemdManager::load(saved, unit)?));
    }
    Ok(match saved.layout {
        Layout::V2 => Box::new(v2::V2Manager::load(saved)?),
        Layout::V1 | Layout::Hybrid => Box::new(v1::V1Manager::load(saved)?),
    })
}
