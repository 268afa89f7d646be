//! Reaping as a child subreaper.
//!
//! The runtime's `create` forks the container's init and exits, so the init would be adopted by
//! the host's pid 1. A process that has set `PR_SET_CHILD_SUBREAPER` before running the runtime
//! adopts it instead, gets its exit status, and reaps any other orphan of the container (one
//! without a pid namespace) so none stays a zombie.

use std::collections::HashMap;

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// It called exit with this code.
    Code(i32),
    /// A signal killed it.
    Signal(i32),
}

impl Exit {
    /// The shell's convention (and containerd's, conmon's): the code, or 128+N for signal N.
    pub fn code(self) -> i32 {
        match self {
            Exit::Code(code) => code,
            Exit::Signal(signal) => 128 + signal,
        }
    }
}

/// Makes this process the subreaper of its descendants.
pub fn become_subreaper() -> nix::Result<()> {
    nix::sys::prctl::set_child_subreaper(true)
}

/// Exit statuses collected by `waitpid(-1)`, kept until someone asks for them.
#[derive(Debug, Default)]
pub struct Reaper {
    exits: HashMap<i32, Exit>,
}

impl Reaper {
    pub fn new() -> Reaper {
        Reaper::default()
    }

    /// Reaps every child that has ended, without blocking, and remembers how each ended.
    ///
    /// Only call this while no `std::process::Child` is being waited for: it would take that
    /// child's status.
    pub fn reap(&mut self) {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => {
                    self.exits.insert(pid.as_raw(), Exit::Code(code));
                }
                Ok(WaitStatus::Signaled(pid, signal, _)) => {
                    self.exits.insert(pid.as_raw(), Exit::Signal(signal as i32));
                }
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return,
                Ok(_) | Err(Errno::EINTR) => continue,
                Err(_) => return,
            }
        }
    }

    /// How `pid` ended, if it has been reaped; forgets every other orphan's status.
    pub fn take(&mut self, pid: i32) -> Option<Exit> {
        let exit = self.exits.remove(&pid);
        self.exits.clear();
        exit
    }
}
