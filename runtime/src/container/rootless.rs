//! berth run by an unprivileged user (or as root of a user namespace, as rootless podman runs
//! it): the state root defaults under $XDG_RUNTIME_DIR, and a cgroup the user may not create
//! (none delegated to it) is skipped, with a debug record, unless limits were asked for.

use super::ContainerError;
use berth_cgroups::{CgroupState, Manager, Stats};
use std::os::fd::BorrowedFd;
use std::path::PathBuf;

/// Is berth running without the host's privileges (see [`crate::userns::unprivileged`])?
pub fn unprivileged() -> bool {
    crate::userns::unprivileged()
}

/// The default state root: /run/berth for root on the host, $XDG_RUNTIME_DIR/berth for an
/// unprivileged caller (as runc uses $XDG_RUNTIME_DIR/runc); None when that is unset.
pub fn default_state_root() -> Option<PathBuf> {
    if !unprivileged() {
        return Some(PathBuf::from("/run/berth"));
    }
    std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()).map(|d| PathBuf::from(d).join("berth"))
}

/// Did creating the cgroup fail only because the caller may not (no delegated cgroup)?
pub fn not_delegated(error: &berth_cgroups::Error) -> bool {
    let denied = |e: &std::io::Error| matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM | libc::EROFS));
    match error {
        berth_cgroups::Error::Mkdir { source, .. } | berth_cgroups::Error::Write { source, .. } => denied(source),
        _ => false,
    }
}

/// Does config.json ask for any limit (anything in linux.resources but device rules, which
/// the devices a rootless container can reach already bound)?
pub fn limits_requested(linux: &oci_spec::runtime::Linux) -> bool {
    let Some(resources) = linux.resources() else { return false };
    let mut without_devices = resources.clone();
    without_devices.set_devices(None);
    without_devices != oci_spec::runtime::LinuxResources::default()
}

/// The refusal when limits were asked for and no cgroup is delegated.
pub fn limits_need_delegation(error: berth_cgroups::Error) -> ContainerError {
    ContainerError::CgroupNotDelegated(Box::new(error))
}

/// The container's cgroup when the caller has none it may use: nothing to create, join,
/// limit or remove. Its processes stay in the caller's cgroup.
pub struct NoCgroup;

impl Manager for NoCgroup {
    fn state(&self) -> CgroupState {
        CgroupState { layout: berth_cgroups::layout().unwrap_or(berth_cgroups::Layout::V2), paths: Default::default(), created: Vec::new(), systemd_unit: None }
    }
    fn create(&mut self) -> Result<(), berth_cgroups::Error> {
        Ok(())
    }
    fn apply(&self, _: &oci_spec::runtime::LinuxResources) -> Result<(), berth_cgroups::Error> {
        Ok(())
    }
    fn clone_into_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }
    fn add_task(&self, _: i32) -> Result<(), berth_cgroups::Error> {
        Ok(())
    }
    fn add_task_to_sub(&self, _: i32, _: &str) -> Result<(), berth_cgroups::Error> {
        Ok(())
    }
    fn freeze(&self) -> Result<(), berth_cgroups::Error> {
        Ok(())
    }
    fn thaw(&self) -> Result<(), berth_cgroups::Error> {
        Ok(())
    }
    fn is_frozen(&self) -> Result<bool, berth_cgroups::Error> {
        Ok(false)
    }
    fn pids(&self) -> Result<Vec<i32>, berth_cgroups::Error> {
        Ok(Vec::new())
    }
    fn stats(&self) -> Result<Stats, berth_cgroups::Error> {
        Ok(Stats::default())
    }
    fn destroy(&self, _: bool) -> Result<(), berth_cgroups::Error> {
        Ok(())
    }
}
