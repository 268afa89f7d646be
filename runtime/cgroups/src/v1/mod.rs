//! The cgroup v1 driver, also used for the hybrid layout: one directory per mounted v1
//! hierarchy, plus (hybrid) a directory in the cgroup2 hierarchy that the process joins too,
//! as runc does, so tools that look at the unified hierarchy see the container.

mod resources;
mod stats;

use std::collections::BTreeMap;
use std::os::fd::BorrowedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use oci_spec::runtime::LinuxResources;

use crate::error::{Error, Result};
use crate::files;
use crate::hierarchy::{Host, Layout};
use crate::path::{CgroupPath, SubCgroup};
use crate::{CgroupState, Manager, SelfJoin, Stats, UNIFIED_KEY};

/// How long freeze and thaw may take before it is an error.
// Generous: the kernel takes long to freeze on a loaded machine, and the wait ends as soon
// as the state settles.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(20);

/// The container's directory in one hierarchy.
#[derive(Clone, Debug)]
struct HierarchyDir {
    /// v1 controllers of the hierarchy ("name=systemd" for a named one); empty for cgroup2.
    controllers: Vec<String>,
    /// The container's cgroup directory.
    dir: PathBuf,
    /// Where mkdir starts (the mountpoint).
    base: PathBuf,
}

/// A container's cgroups on a v1 or hybrid host.
pub(crate) struct V1Manager {
    layout: Layout,
    hierarchies: Vec<HierarchyDir>,
    /// Hybrid only: the cgroup2 directory the process joins as well.
    unified: Option<HierarchyDir>,
    /// Directories this manager made, outermost first.
    created: Vec<PathBuf>,
}

impl V1Manager {
    pub fn new(host: &Host, path: &CgroupPath) -> V1Manager {
        let hierarchies = host
            .v1
            .iter()
            .map(|h| HierarchyDir {
                controllers: h.controllers.clone(),
                dir: h.dir_of(&path.in_hierarchy(&h.own)),
                base: h.mountpoint.clone(),
            })
            .collect();
        let unified = host.unified.as_ref().map(|h| HierarchyDir {
            controllers: Vec::new(),
            dir: h.dir_of(&path.in_hierarchy(&h.own)),
            base: h.mountpoint.clone(),
        });
        V1Manager {
            layout: host.layout,
            hierarchies,
            unified,
            created: Vec::new(),
        }
    }

    pub fn load(saved: &CgroupState) -> Result<V1Manager> {
        let mut hierarchies: Vec<HierarchyDir> = Vec::new();
        let mut unified = None;
        for (key, dir) in &saved.paths {
            let entry = HierarchyDir {
                controllers: vec![key.clone()],
                dir: dir.clone(),
                base: dir.clone(),
            };
            if key == UNIFIED_KEY {
                unified = Some(entry);
            } else if let Some(existing) = hierarchies.iter_mut().find(|h| h.dir == *dir) {
                existing.controllers.push(key.clone());
            } else {
                hierarchies.push(entry);
            }
        }
        Ok(V1Manager {
            layout: saved.layout,
            hierarchies,
            unified,
            created: saved.created.clone(),
        })
    }

    /// The directory of the hierarchy carrying `controller`, if mounted.
    fn dir_of(&self, controller: &str) -> Option<&Path> {
        self.hierarchies
            .iter()
            .find(|h| h.controllers.iter().any(|c| c == controller))
            .map(|h| h.dir.as_path())
    }

    /// Like `dir_of`, but a missing hierarchy is an error naming `field`.
    fn require(&self, controller: &'static str, field: &'static str) -> Result<&Path> {
        self.dir_of(controller).ok_or_else(|| Error::MissingController {
            field,
            controller,
            detail: "no v1 hierarchy carries it (see /proc/self/mountinfo)".into(),
        })
    }

    /// The hybrid layout's cgroup2 directory.
    fn unified_dir(&self) -> Option<&Path> {
        self.unified.as_ref().map(|u| u.dir.as_path())
    }

    /// Every directory, v1 first, then the unified one.
    fn all_dirs(&self) -> impl Iterator<Item = &HierarchyDir> {
        self.hierarchies.iter().chain(self.unified.iter())
    }

    fn freezer(&self, operation: &'static str) -> Result<&Path> {
        self.dir_of("freezer").ok_or_else(|| Error::MissingController {
            field: operation,
            controller: "freezer",
            detail: "no v1 hierarchy carries it (see /proc/self/mountinfo)".into(),
        })
    }

    fn set_freezer(&self, state: &'static str, operation: &'static str) -> Result<()> {
        let dir = self.freezer(operation)?;
        // The v1 freezer can stay in FREEZING for good when it races a fork; as runc does,
        // give each attempt a short while, then thaw and freeze again, until the deadline.
        let deadline = std::time::Instant::now() + FREEZE_TIMEOUT;
        let attempt = Duration::from_millis(100);
        let mut settled = false;
        while !settled && std::time::Instant::now() < deadline {
            files::write(dir, "freezer.state", state, operation)?;
            settled = files::wait_until(attempt, || Ok(files::read(dir, "freezer.state")? == state))?;
            if !settled && state == "FROZEN" {
                files::write(dir, "freezer.state", "THAWED", operation)?;
            }
        }
        if settled {
            Ok(())
        } else {
            Err(Error::FreezeTimeout {
                path: dir.join("freezer.state"),
                wanted: state,
                millis: FREEZE_TIMEOUT.as_millis() as u64,
            })
        }
    }

    /// SIGKILL every process, freezing first so nothing forks between reading the list and
    /// killing it, then thaw so the kills are delivered, and wait until the cgroup is empty.
    fn kill_all(&self) -> Result<()> {
        // An empty cgroup (the usual case: the init has exited) has nothing to kill, and
        // nothing in it that could fork: no need to freeze it.
        if self.pids()?.is_empty() {
            return Ok(());
        }
        let frozen = self.dir_of("freezer").is_some() && self.freeze().is_ok();
        for pid in self.pids()? {
            crate::sys::kill(pid).map_err(|source| Error::Syscall {
                syscall: "kill",
                target: pid.to_string(),
                source,
            })?;
        }
        if frozen || self.is_frozen().unwrap_or(false) {
            self.thaw()?;
        }
        files::wait_until(Duration::from_secs(5), || Ok(self.pids().map_or(true, |p| p.is_empty())))?;
        Ok(())
    }
}

/// A new v1 cpuset cgroup starts with empty cpus and mems, and a process cannot join it
/// until they are set: copy them down from the parent, for each level we made. A parent that
/// is itself empty (made by a manager that never set it) is filled from its own parent
/// first, as runc does, up to the first one that has values.
fn init_cpuset(made: &[PathBuf]) -> Result<()> {
    for dir in made {
        for file in ["cpuset.cpus", "cpuset.mems"] {
            fill_cpuset(dir, file)?;
        }
    }
    Ok(())
}

/// Give `dir`'s `file` its parent's value if it is empty, filling the parent first; returns
/// the value it ends with, or None above the hierarchy's root (no such file there).
fn fill_cpuset(dir: &Path, file: &str) -> Result<Option<String>> {
    let Some(value) = files::read_optional(dir, file)? else { return Ok(None) };
    if !value.is_empty() {
        return Ok(Some(value));
    }
    let Some(inherited) = dir.parent().map(|parent| fill_cpuset(parent, file)).transpose()?.flatten() else {
        return Ok(Some(value));
    };
    files::write(dir, file, &inherited, "create (cpuset inherits its parent's cpus and mems)")?;
    Ok(Some(inherited))
}

impl Manager for V1Manager {
    fn state(&self) -> CgroupState {
        let mut paths = BTreeMap::new();
        for h in &self.hierarchies {
            for c in &h.controllers {
                paths.insert(c.clone(), h.dir.clone());
            }
        }
        if let Some(u) = &self.unified {
            paths.insert(UNIFIED_KEY.to_owned(), u.dir.clone());
        }
        CgroupState {
            layout: self.layout,
            paths,
            created: self.created.clone(),
            systemd_unit: None,
        }
    }

    fn create(&mut self) -> Result<()> {
        let mut made_all: Vec<PathBuf> = Vec::new();
        let result = (|| {
            for h in self.hierarchies.iter().chain(self.unified.iter()) {
                // 1. mkdir the missing levels of this hierarchy.
                let made = files::mkdir_all(&h.base, &h.dir)?;
                made_all.extend(made.iter().cloned());
                // 2. cpuset needs cpus and mems before anything can join.
                if h.controllers.iter().any(|c| c == "cpuset") {
                    init_cpuset(&made)?;
                }
            }
            Ok(())
        })();
        if let Err(e) = result {
            files::remove_dirs(&made_all);
            return Err(e);
        }
        self.created = made_all;
        Ok(())
    }

    fn apply(&self, r: &LinuxResources) -> Result<()> {
        resources::apply(self, r)
    }

    fn clone_into_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }

    fn add_task(&self, pid: i32) -> Result<()> {
        let pid = pid.to_string();
        for h in self.all_dirs() {
            files::write(&h.dir, "cgroup.procs", &pid, "add_task (cgroup.procs)")?;
        }
        Ok(())
    }

    fn self_join(&self) -> Result<Option<SelfJoin>> {
        let mut tasks = Vec::new();
        for h in &self.hierarchies {
            let path = h.dir.join("tasks");
            let file = std::fs::OpenOptions::new().write(true).custom_flags(libc::O_CLOEXEC).open(&path);
            let file = file.map_err(|source| Error::Write { path: path.clone(), value: "0".into(), field: "add_task (tasks)", source })?;
            tasks.push((path, file));
        }
        let unified = self.unified.as_ref().map(|u| crate::v2::open_dir_path(&u.dir)).transpose()?;
        Ok(Some(SelfJoin { tasks, unified }))
    }

    fn add_task_to_sub(&self, pid: i32, spec: &str) -> Result<()> {
        let sub = SubCgroup::parse(spec)?;
        // Resolve every directory first, so a missing one moves the process nowhere.
        let mut targets = Vec::new();
        for h in self.all_dirs() {
            let dir = if sub.applies_to(&h.controllers) && !h.controllers.is_empty() {
                h.dir.join(&sub.path)
            } else {
                h.dir.clone()
            };
            if !dir.is_dir() {
                return Err(Error::BadSubCgroup {
                    spec: spec.to_owned(),
                    reason: format!("{} does not exist", dir.display()),
                });
            }
            targets.push(dir);
        }
        for dir in targets {
            files::write(&dir, "cgroup.procs", &pid.to_string(), "exec --cgroup (cgroup.procs)")?;
        }
        Ok(())
    }

    fn freeze(&self) -> Result<()> {
        self.set_freezer("FROZEN", "pause (freezer.state)")
    }

    fn thaw(&self) -> Result<()> {
        self.set_freezer("THAWED", "resume (freezer.state)")
    }

    fn is_frozen(&self) -> Result<bool> {
        let dir = self.freezer("state (freezer.state)")?;
        Ok(files::read(dir, "freezer.state")? != "THAWED")
    }

    fn pids(&self) -> Result<Vec<i32>> {
        let h = self.hierarchies.first().ok_or_else(|| Error::NoDirectory {
            operation: "pids",
            hierarchy: "any v1".into(),
        })?;
        files::pids_recursive(&h.dir)
    }

    fn stats(&self) -> Result<Stats> {
        stats::read(self)
    }

    fn destroy(&self, kill_remaining: bool) -> Result<()> {
        // 1. Kill what is left, if asked and if the cgroup still exists.
        let exists = self.hierarchies.first().is_some_and(|h| h.dir.exists());
        if kill_remaining && exists {
            self.kill_all()?;
        }
        // 2. rmdir the cgroup in every hierarchy, then the levels we made above it.
        let mut first_error = None;
        for h in self.all_dirs() {
            if let Err(e) = files::rmdir_tree(&h.dir) {
                first_error.get_or_insert(e);
            }
        }
        // The levels made above the container's own directories (those are gone already).
        let above: Vec<PathBuf> = self.created.iter().filter(|made| !self.all_dirs().any(|h| &h.dir == *made)).cloned().collect();
        files::remove_dirs(&above);
        first_error.map_or(Ok(()), Err)
    }
}
