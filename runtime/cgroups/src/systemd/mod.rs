//! The systemd driver (cgroup v2, systemd running): systemd creates the container's scope
//! unit over D-Bus with `Delegate=yes`, and berth then writes the limits into the delegated
//! cgroup itself, as runc and crun do.
//!
//! A scope needs a process when it is started, while the runtime creates the cgroup and
//! applies limits before the container's process exists. So `create` only checks systemd is
//! reachable, `apply` keeps the resources until the scope exists, and the first `add_task`
//! starts the scope with that pid and then applies them. `clone_into_fd` is None here.

pub mod dbus;

use std::sync::Mutex;
use std::time::Duration;

use oci_spec::runtime::LinuxResources;

use crate::error::{Error, Result};
use crate::files;
use crate::hierarchy::Hierarchy;
use crate::path::{CgroupPath, SystemdUnit};
use crate::v2::V2Manager;
use crate::{CgroupState, Manager, Stats};
use dbus::{Arg, Connection, DbusError, Variant};

const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER_INTERFACE: &str = "org.freedesktop.systemd1.Manager";

/// A container's scope unit under systemd.
pub(crate) struct SystemdManager {
    unit: String,
    slice: String,
    inner: V2Manager,
    started: Mutex<Started>,
}

struct Started {
    /// The scope exists.
    running: bool,
    /// Resources applied before it did.
    pending: Option<LinuxResources>,
}

impl SystemdManager {
    pub fn new(unified: &Hierarchy, unit: SystemdUnit) -> SystemdManager {
        SystemdManager {
            inner: V2Manager::new(unified, &CgroupPath::Absolute(unit.path.clone())),
            unit: unit.unit,
            slice: unit.slice,
            started: Mutex::new(Started {
                running: false,
                pending: None,
            }),
        }
    }

    pub fn load(saved: &CgroupState, unit: &str) -> Result<SystemdManager> {
        Ok(SystemdManager {
            inner: V2Manager::load(saved)?,
            unit: unit.to_owned(),
            slice: String::new(),
            started: Mutex::new(Started {
                running: true,
                pending: None,
            }),
        })
    }

    fn error(&self, source: DbusError) -> Error {
        Error::Systemd {
            unit: self.unit.clone(),
            source,
        }
    }

    fn call(&self, member: &str, args: &[Arg<'_>]) -> Result<Vec<u8>> {
        let mut conn = Connection::system().map_err(|e| self.error(e))?;
        conn.call(MANAGER_PATH, MANAGER_INTERFACE, member, args).map_err(|e| self.error(e))
    }

    /// StartTransientUnit with the first process, then wait until it is in the scope's cgroup.
    fn start_scope(&self, pid: i32) -> Result<()> {
        let properties = [
            ("Description", Variant::Str(format!("berth container {}", self.unit))),
            ("Slice", Variant::Str(self.slice.clone())),
            ("Delegate", Variant::Bool(true)),
            ("DefaultDependencies", Variant::Bool(false)),
            ("CollectMode", Variant::Str("inactive-or-failed".into())),
            ("PIDs", Variant::U32Array(vec![pid as u32])),
        ];
        self.call(
            "StartTransientUnit",
            &[Arg::Str(&self.unit), Arg::Str("replace"), Arg::Properties(&properties), Arg::NoAuxUnits],
        )?;
        let dir = self.inner.dir().to_owned();
        let joined = files::wait_until(Duration::from_secs(10), || {
            Ok(files::read_optional(&dir, "cgroup.procs")?
                .is_some_and(|procs| procs.lines().any(|l| l == pid.to_string())))
        })?;
        if joined {
            Ok(())
        } else {
            Err(Error::Read {
                path: dir.join("cgroup.procs"),
                source: std::io::Error::new(std::io::ErrorKind::TimedOut, "systemd did not put the process in its scope"),
            })
        }
    }
}

impl Manager for SystemdManager {
    fn state(&self) -> CgroupState {
        CgroupState {
            systemd_unit: Some(self.unit.clone()),
            ..self.inner.state()
        }
    }

    fn create(&mut self) -> Result<()> {
        // systemd makes the cgroup when the scope starts; check now that it answers.
        Connection::system().map(drop).map_err(|e| self.error(e))
    }

    fn apply(&self, resources: &LinuxResources) -> Result<()> {
        let mut started = self.started.lock().unwrap_or_else(|p| p.into_inner());
        if started.running {
            return self.inner.apply(resources);
        }
        started.pending = Some(match started.pending.take() {
            Some(earlier) => crate::update::merge(&earlier, resources),
            None => resources.clone(),
        });
        Ok(())
    }

    fn clone_into_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        None
    }

    fn add_task(&self, pid: i32) -> Result<()> {
        let mut started = self.started.lock().unwrap_or_else(|p| p.into_inner());
        if started.running {
            return self.inner.add_task(pid);
        }
        self.start_scope(pid)?;
        started.running = true;
        match started.pending.take() {
            Some(resources) => self.inner.apply(&resources),
            None => Ok(()),
        }
    }

    fn add_task_to_sub(&self, pid: i32, spec: &str) -> Result<()> {
        self.inner.add_task_to_sub(pid, spec)
    }

    fn freeze(&self) -> Result<()> {
        self.inner.freeze()
    }

    fn thaw(&self) -> Result<()> {
        self.inner.thaw()
    }

    fn is_frozen(&self) -> Result<bool> {
        self.inner.is_frozen()
    }

    fn pids(&self) -> Result<Vec<i32>> {
        self.inner.pids()
    }

    fn stats(&self) -> Result<Stats> {
        self.inner.stats()
    }

    fn destroy(&self, kill_remaining: bool) -> Result<()> {
        // Kill what is left and remove the delegated cgroup tree. An emptied scope is
        // deactivated and garbage-collected by systemd itself (CollectMode=inactive-or-failed),
        // so no StopUnit round trip is needed; a scope whose cgroup could not be emptied makes
        // this fail before that point.
        self.inner.destroy(kill_remaining)
    }
}
