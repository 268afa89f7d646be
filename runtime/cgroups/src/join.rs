//! A process putting itself in a container's cgroup, on v1 and hybrid hosts.
//!
//! Writing a pid to cgroup.procs takes the kernel's global cgroup_threadgroup_rwsem for
//! writing, and when no one has taken it for a while that waits for a full RCU grace period:
//! 9-15 ms on this project's 2-core VM, on every `run` and `exec` that does not follow another
//! within a few milliseconds, for berth as for runc and crun. A thread moving itself (writing
//! "0" to a v1 `tasks` file) needs no such lock (Linux 6.1+, "cgroup: Optimize single thread
//! migration"), and takes 4-30 µs. A single-threaded process that moves its only thread moves
//! the whole process. cgroup2 refuses to move a lone thread out of its domain, so the hybrid
//! layout's cgroup2 directory is entered by clone3(CLONE_INTO_CGROUP) instead, which only
//! takes that lock for reading.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use crate::error::Error;

/// What a process needs to join a container's cgroup by itself: opened by the runtime before
/// it clones the process, used by the process first thing (see [`SelfJoin::join`]).
pub struct SelfJoin {
    /// Each v1 hierarchy's `tasks` file of the cgroup, open for writing.
    pub(crate) tasks: Vec<(PathBuf, File)>,
    /// The cgroup2 directory of the hybrid layout, for clone3(CLONE_INTO_CGROUP).
    pub(crate) unified: Option<OwnedFd>,
}

impl SelfJoin {
    /// The directory to clone the process into (the hybrid layout's cgroup2 one), if any.
    pub fn clone_into_fd(&self) -> Option<BorrowedFd<'_>> {
        self.unified.as_ref().map(AsFd::as_fd)
    }

    /// Move the calling thread into the cgroup in every v1 hierarchy, and close the files.
    /// Called by a process that is single-threaded, so the whole process moves; the kernel
    /// checks the permission against whoever opened the files (the runtime), not the caller.
    pub fn join(self) -> Result<(), Error> {
        for (path, mut file) in self.tasks {
            file.write_all(b"0").map_err(|source| Error::Write {
                path,
                value: "0".into(),
                field: "add_task (tasks, the process itself)",
                source,
            })?;
        }
        Ok(())
    }
}
