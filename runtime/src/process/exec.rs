//! `berth exec`: a new process in a live container's namespaces and cgroup.
//!
//! The parent opens the init's namespace files, enters the pid and time namespaces for its
//! children, and clones; the child enters the other namespaces (mount last: it moves our root
//! into the container), waits until the parent has put it in the container's cgroup, takes on
//! the process's identity and execs. Its end of the sync socket is close-on-exec, so the
//! parent learns of a successful exec by the socket closing, and of a failure by a report.

use super::init::{become_process, exec_process, find_executable, step, syscall, InitError, Step};
use super::spawn::{place_and_await, ConsoleTarget, KillOnDrop, SpawnError, Success};
use super::sync::{channel_pair, Channel, ToChild, ToParent};
use crate::plan::ProcessPlan;
use crate::sys::{self, Forked};
use crate::{security, tty};
use berth_cgroups::Manager;
use nix::sched::{setns, CloneFlags};
use std::fs::File;
use std::os::fd::AsFd;

/// What to exec and where.
pub struct ExecSpawn<'a> {
    /// Host pid of the container's init, whose namespaces the process joins.
    pub init_pid: i32,
    /// The namespace types the container has (new or joined), as CLONE_NEW* flags.
    pub namespaces: CloneFlags,
    pub cgroup: &'a dyn Manager,
    pub process: &'a ProcessPlan,
    pub preserve_fds: i32,
    /// Where the pty master goes, when process.terminal is set.
    pub console: Option<ConsoleTarget<'a>>,
    /// `exec --cgroup`: a sub-cgroup of the container's instead of the container's own.
    pub sub_cgroup: Option<&'a str>,
}

/// Namespace types in the order they are entered; mount last but for user, because entering
/// it changes the root we resolve paths from. The user namespace comes after all: the others
/// are entered with the host's capabilities, whoever owns them (see crate::userns).
const ORDER: [(CloneFlags, &str); 8] = [
    (CloneFlags::CLONE_NEWPID, "pid"),
    (CloneFlags::from_bits_retain(libc::CLONE_NEWTIME), "time"),
    (CloneFlags::CLONE_NEWIPC, "ipc"),
    (CloneFlags::CLONE_NEWUTS, "uts"),
    (CloneFlags::CLONE_NEWNET, "net"),
    (CloneFlags::CLONE_NEWCGROUP, "cgroup"),
    (CloneFlags::CLONE_NEWNS, "mnt"),
    (CloneFlags::CLONE_NEWUSER, "user"),
];

/// Namespaces that act on children only, so the parent enters them before the clone.
const FOR_CHILDREN: CloneFlags = CloneFlags::CLONE_NEWPID.union(CloneFlags::from_bits_retain(libc::CLONE_NEWTIME));

/// Start the process; returns its host pid once it has exec'd.
///
/// Must be called while the process is single-threaded (see [`sys::clone_process`]).
pub fn spawn_exec(opts: &ExecSpawn<'_>) -> Result<i32, SpawnError> {
    let (parent_end, child_end) = channel_pair()?;
    let mut joins = Vec::new();
    for (flag, name) in ORDER {
        if opts.namespaces.contains(flag) {
            let path = format!("/proc/{}/ns/{name}", opts.init_pid);
            let file = File::open(&path).map_err(|source| SpawnError::Syscall { op: "open", what: path, source })?;
            joins.push((flag, name, file));
        }
    }
    let console_socket = opts.console.map(ConsoleTarget::connect).transpose()?;
    for (flag, name, file) in joins.iter().filter(|(flag, _, _)| FOR_CHILDREN.contains(*flag)) {
        setns(file.as_fd(), *flag).map_err(|e| SpawnError::Syscall { op: "setns", what: format!("{name} namespace"), source: e.into() })?;
    }
    // clone3 can only place the process in the container's own cgroup.
    let cgroup_fd = if opts.sub_cgroup.is_none() { opts.cgroup.clone_into_fd() } else { None };
    let in_cgroup_at_clone = cgroup_fd.is_some();
    let forked = sys::clone_process(0, cgroup_fd)
        .map_err(|source| SpawnError::Syscall { op: "clone3", what: "exec process".into(), source })?;
    let pid = match forked {
        Forked::Child => {
            drop(parent_end);
            let joins: Vec<_> = joins.into_iter().filter(|(flag, _, _)| !FOR_CHILDREN.contains(*flag)).collect();
            child(opts, &child_end, &joins, console_socket)
        }
        Forked::Parent(pid) => pid,
    };
    drop(child_end);
    let reaper = KillOnDrop::new(pid);
    if let Some(spec) = opts.sub_cgroup {
        opts.cgroup.add_task_to_sub(pid, spec)?;
    }
    let add_task = !in_cgroup_at_clone && opts.sub_cgroup.is_none();
    place_and_await(pid, opts.cgroup, add_task, &parent_end, Success::SocketClosed, None)?;
    reaper.defuse();
    Ok(pid)
}

/// The child: enter the container and exec. Never returns.
fn child(opts: &ExecSpawn<'_>, channel: &Channel, joins: &[(CloneFlags, &str, File)], console: Option<tty::ConsoleSocket>) -> ! {
    let Err((step_name, error)) = enter_and_exec(opts, channel, joins, console);
    let _ = channel.send(&ToParent::Failed { step: step_name.to_owned(), message: error.to_string() });
    // Wait for the parent to read the report and hang up (see init::run).
    while channel.recv::<ToChild>().is_ok() {}
    sys::exit_immediately(1)
}

fn enter_and_exec(opts: &ExecSpawn<'_>, channel: &Channel, joins: &[(CloneFlags, &str, File)], console: Option<tty::ConsoleSocket>) -> Step<std::convert::Infallible> {
    // A copy of the host's berth until execve: not reachable from the container (CVE-2019-5736).
    step("set non-dumpable", nix::sys::prctl::set_dumpable(false).map_err(syscall("prctl", "PR_SET_DUMPABLE")))?;
    for (flag, name, file) in joins {
        step("join namespaces", setns(file.as_fd(), *flag).map_err(syscall("setns", format!("{name} namespace"))))?;
    }
    match channel.recv::<ToChild>() {
        Ok(ToChild::CgroupJoined { .. }) => {}
        Ok(other) => return Err(("wait for cgroup", InitError::from(super::sync::SyncError::Unexpected(other.name())))),
        Err(e) => return Err(("wait for cgroup", InitError::from(e))),
    }
    if let Some(socket) = &console {
        step("set up console", tty::setup_console(socket))?;
    }
    step("set rlimits", security::apply_rlimits(&opts.process.rlimits))?;
    let program = step("find executable", find_executable(opts.process))?;
    become_process(opts.process, opts.preserve_fds)?;
    exec_process(opts.process, &program)
}
