//! The cgroup v2 driver: one directory in the unified hierarchy.

mod resources;
pub(crate) mod stats;

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use oci_spec::runtime::LinuxResources;

use crate::error::{Error, Result};
use crate::files;
use crate::hierarchy::{Hierarchy, Layout};
use crate::path::{CgroupPath, SubCgroup};
use crate::{CgroupState, Manager, Stats, UNIFIED_KEY};

/// How long freeze and thaw may take before it is an error.
// Generous: the kernel takes long to freeze on a loaded machine, and the wait ends as soon
// as the state settles.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(20);

/// A container's cgroup on a pure v2 host.
pub(crate) struct V2Manager {
    /// The cgroup directory.
    dir: PathBuf,
    /// The hierarchy's mountpoint (where mkdir starts).
    mountpoint: PathBuf,
    /// The highest cgroup whose subtree_control create may change: the caller's own cgroup
    /// for a nested path (above it is someone else's business), the root for an absolute one.
    enable_from: PathBuf,
    /// Directories this manager made, outermost first.
    created: Vec<PathBuf>,
    /// O_PATH fd of `dir`, once it exists.
    dir_fd: Option<OwnedFd>,
}

impl V2Manager {
    pub fn new(unified: &Hierarchy, path: &CgroupPath) -> V2Manager {
        V2Manager {
            dir: unified.dir_of(&path.in_hierarchy(&unified.own)),
            mountpoint: unified.mountpoint.clone(),
            enable_from: match path {
                CgroupPath::Nested(_) => unified.dir_of(&unified.own),
                CgroupPath::Absolute(_) => unified.mountpoint.clone(),
            },
            created: Vec::new(),
            dir_fd: None,
        }
    }

    pub fn load(saved: &CgroupState) -> Result<V2Manager> {
        let dir = saved.paths.get(UNIFIED_KEY).cloned().ok_or_else(|| Error::NoDirectory {
            operation: "load",
            hierarchy: UNIFIED_KEY.to_owned(),
        })?;
        Ok(V2Manager {
            mountpoint: dir.clone(),
            enable_from: dir.clone(),
            dir_fd: open_dir_path(&dir).ok(),
            dir,
            created: saved.created.clone(),
        })
    }

    /// The cgroup directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// An O_PATH|O_DIRECTORY fd of a cgroup directory (for CLONE_INTO_CGROUP and bpf attach).
pub(crate) fn open_dir_path(dir: &Path) -> Result<OwnedFd> {
    File::options()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)
        .map(OwnedFd::from)
        .map_err(|source| Error::Read {
            path: dir.to_owned(),
            source,
        })
}

/// Enable in `dir`'s cgroup.subtree_control every controller its cgroup.controllers offers
/// that is not enabled yet, one at a time so one refusal does not block the others. A
/// controller that stays off shows up later as a clear "controller not available" error
/// naming the field that needed it.
pub(crate) fn enable_controllers(dir: &Path) -> Result<()> {
    let available = files::read(dir, "cgroup.controllers")?;
    let enabled = files::read(dir, "cgroup.subtree_control")?;
    for controller in available.split_whitespace() {
        if !enabled.split_whitespace().any(|c| c == controller) {
            let _ = files::write(dir, "cgroup.subtree_control", &format!("+{controller}"), "cgroup.subtree_control");
        }
    }
    Ok(())
}

/// Kill every process of a v2 cgroup: cgroup.kill where the kernel has it (5.14+), else
/// SIGKILL to each pid; then wait for them to be gone.
pub(crate) fn kill_all(dir: &Path) -> Result<()> {
    if files::exists(dir, "cgroup.kill") {
        files::write(dir, "cgroup.kill", "1", "destroy (cgroup.kill)")?;
    } else {
        for pid in files::pids_recursive(dir)? {
            crate::sys::kill(pid).map_err(|source| Error::Syscall {
                syscall: "kill",
                target: pid.to_string(),
                source,
            })?;
        }
    }
    files::wait_until(Duration::from_secs(5), || {
        Ok(files::pids_recursive(dir).map_or(true, |p| p.is_empty()))
    })?;
    Ok(())
}

impl Manager for V2Manager {
    fn state(&self) -> CgroupState {
        CgroupState {
            layout: Layout::V2,
            paths: BTreeMap::from([(UNIFIED_KEY.to_owned(), self.dir.clone())]),
            created: self.created.clone(),
            systemd_unit: None,
        }
    }

    fn create(&mut self) -> Result<()> {
        // 1. mkdir every missing level, remembering what we made.
        let made = files::mkdir_all(&self.mountpoint, &self.dir)?;
        // 2. Enable the controllers on every level above the leaf, from the top down.
        let mut ancestors: Vec<&Path> = self
            .dir
            .ancestors()
            .skip(1)
            .take_while(|a| a.starts_with(&self.enable_from))
            .collect();
        ancestors.reverse();
        for level in ancestors {
            if let Err(e) = enable_controllers(level) {
                files::remove_dirs(&made);
                return Err(e);
            }
        }
        // 3. Keep an O_PATH fd of the leaf for CLONE_INTO_CGROUP and the device program.
        match open_dir_path(&self.dir) {
            Ok(fd) => self.dir_fd = Some(fd),
            Err(e) => {
                files::remove_dirs(&made);
                return Err(e);
            }
        }
        self.created = made;
        Ok(())
    }

    fn apply(&self, resources: &LinuxResources) -> Result<()> {
        resources::apply(self, resources)
    }

    fn clone_into_fd(&self) -> Option<BorrowedFd<'_>> {
        self.dir_fd.as_ref().map(AsFd::as_fd)
    }

    fn add_task(&self, pid: i32) -> Result<()> {
        files::write(&self.dir, "cgroup.procs", &pid.to_string(), "add_task (cgroup.procs)")
    }

    fn add_task_to_sub(&self, pid: i32, spec: &str) -> Result<()> {
        let sub = SubCgroup::parse(spec)?;
        if sub.controllers.is_some() {
            return Err(Error::BadSubCgroup {
                spec: spec.to_owned(),
                reason: "cgroup v2 has one hierarchy: give a path without controllers".into(),
            });
        }
        let dir = self.dir.join(&sub.path);
        if !dir.is_dir() {
            return Err(Error::BadSubCgroup {
                spec: spec.to_owned(),
                reason: format!("{} does not exist", dir.display()),
            });
        }
        files::write(&dir, "cgroup.procs", &pid.to_string(), "exec --cgroup (cgroup.procs)")
    }

    fn freeze(&self) -> Result<()> {
        set_frozen(&self.dir, true)
    }

    fn thaw(&self) -> Result<()> {
        set_frozen(&self.dir, false)
    }

    fn is_frozen(&self) -> Result<bool> {
        Ok(files::read(&self.dir, "cgroup.freeze")? == "1")
    }

    fn pids(&self) -> Result<Vec<i32>> {
        files::pids_recursive(&self.dir)
    }

    fn stats(&self) -> Result<Stats> {
        stats::read(&self.dir)
    }

    fn destroy(&self, kill_remaining: bool) -> Result<()> {
        if !self.dir.exists() {
            files::remove_dirs(&self.created);
            return Ok(());
        }
        // 1. Kill what is left (a frozen v2 task still dies of SIGKILL), then thaw. systemd
        //    removes an emptied scope on its own, so a cgroup gone meanwhile is not an error.
        if kill_remaining {
            let killed = kill_all(&self.dir).and_then(|()| match self.is_frozen() {
                Ok(true) => self.thaw(),
                _ => Ok(()),
            });
            if let Err(e) = killed {
                if self.dir.exists() {
                    return Err(e);
                }
            }
        }
        if !self.dir.exists() {
            files::remove_dirs(&self.created);
            return Ok(());
        }
        // 2. rmdir the cgroup (and sub-cgroups), then the levels we made above it.
        files::rmdir_tree(&self.dir)?;
        files::remove_dirs(&self.created);
        Ok(())
    }
}

/// Write cgroup.freeze and wait for cgroup.events to agree.
pub(crate) fn set_frozen(dir: &Path, frozen: bool) -> Result<()> {
    let (value, wanted) = if frozen { ("1", "frozen 1") } else { ("0", "frozen 0") };
    files::write(dir, "cgroup.freeze", value, if frozen { "pause (cgroup.freeze)" } else { "resume (cgroup.freeze)" })?;
    let settled = files::wait_until(FREEZE_TIMEOUT, || {
        Ok(files::read(dir, "cgroup.events")?.lines().any(|l| l == wanted))
    })?;
    if settled {
        Ok(())
    } else {
        Err(Error::FreezeTimeout {
            path: dir.join("cgroup.events"),
            wanted,
            millis: FREEZE_TIMEOUT.as_millis() as u64,
        })
    }
}
