//! Namespaces: which to create, which to join by path, and the order to do it in.
//!
//! New namespaces come from the clone flags of the container's init, except two that act on
//! children only: a joined pid namespace and a new time namespace are entered by the parent
//! just before the clone (setns / unshare "for children") and left again right after.
//! Joined namespaces of other types are entered by the child first thing.

use crate::plan::NamespacePlan;
use nix::sched::{setns, unshare, CloneFlags};
use std::fs::File;
use std::os::fd::AsFd;
use std::path::PathBuf;

/// A failed namespace operation, naming the namespace and syscall.
#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    /// setns or unshare refused.
    #[error("{syscall} {kind} namespace{}: {source}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Enter { syscall: &'static str, kind: &'static str, path: Option<PathBuf>, source: nix::Error },
    /// /proc/self/timens_offsets could not be written.
    #[error("linux.timeOffsets: {0}")]
    TimeOffsets(crate::procfs::ProcfsError),
    /// The caller's own namespace could not be opened to return to it.
    #[error("open {path}: {source}")]
    OpenOwn { path: &'static str, source: std::io::Error },
}

impl NamespacePlan {
    /// Parent side, just before the clone: point this process's children at a joined pid
    /// namespace (unless `pid` is false: a joiner does it then, see crate::userns) and at a
    /// new time namespace with its offsets. The guard undoes it on drop.
    pub fn enter_for_children(&self, pid: bool) -> Result<ChildrenNamespaces, NamespaceError> {
        let mut guard = ChildrenNamespaces { own_pid: None, own_time: None };
        if let Some(join) = self.joins.iter().find(|j| pid && j.flag == CloneFlags::CLONE_NEWPID) {
            guard.own_pid = Some(open_own("/proc/self/ns/pid")?);
            setns(join.file.as_fd(), CloneFlags::CLONE_NEWPID)
                .map_err(|source| enter_error("setns", join.kind, Some(&join.path), source))?;
        }
        if let Some(offsets) = &self.time_offsets {
            guard.own_time = Some(open_own("/proc/self/ns/time_for_children")?);
            let newtime = CloneFlags::from_bits_retain(libc::CLONE_NEWTIME);
            unshare(newtime).map_err(|source| enter_error("unshare", "time", None, source))?;
            // Through a verified procfs handle, as every write into /proc (see procfs). A time
            // namespace without offsets needs no write (and the kernel refuses an empty one).
            if !offsets.is_empty() {
                crate::procfs::ProcFs::open(crate::procfs::Files::All)
                    .and_then(|procfs| procfs.write(std::path::Path::new("self/timens_offsets"), offsets.as_bytes()))
                    .map_err(NamespaceError::TimeOffsets)?;
            }
        }
        Ok(guard)
    }

    /// Child side, first thing after the clone: join the namespaces given by path, except the
    /// pid namespace, which the clone already put us in.
    pub fn join_in_child(&self) -> Result<(), NamespaceError> {
        for join in self.joins.iter().filter(|j| j.flag != CloneFlags::CLONE_NEWPID) {
            setns(join.file.as_fd(), join.flag).map_err(|source| enter_error("setns", join.kind, Some(&join.path), source))?;
        }
        Ok(())
    }
}

fn enter_error(syscall: &'static str, kind: &'static str, path: Option<&PathBuf>, source: nix::Error) -> NamespaceError {
    NamespaceError::Enter { syscall, kind, path: path.cloned(), source }
}

fn open_own(path: &'static str) -> Result<File, NamespaceError> {
    File::open(path).map_err(|source| NamespaceError::OpenOwn { path, source })
}

/// Restores the caller's pid and time namespaces for children when dropped.
#[must_use]
pub struct ChildrenNamespaces {
    own_pid: Option<File>,
    own_time: Option<File>,
}

impl Drop for ChildrenNamespaces {
    fn drop(&mut self) {
        // Best effort: failing here only affects children this process makes later (none in
        // the normal flow), and there is no caller to report to from a destructor.
        if let Some(file) = &self.own_pid {
            let _ = setns(file.as_fd(), CloneFlags::CLONE_NEWPID);
        }
        if let Some(file) = &self.own_time {
            let _ = setns(file.as_fd(), CloneFlags::from_bits_retain(libc::CLONE_NEWTIME));
        }
    }
}
