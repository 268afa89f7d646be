//! `berth exec`: a new process in a live container's namespaces and cgroup.
//!
//! The parent opens the init's namespace files and clones a helper that stays in the host's
//! pid namespace, where no process of the container can see it. The helper blanks its copy of
//! the host's environment and joins every namespace (mount last but for user: it moves our
//! root and cwd into the container); only then does it clone the process, as a child of the
//! parent (CLONE_PARENT), into the container's pid namespace, report its pid and exit. So the
//! container never sees a process of ours with the host's environment, root or cwd, and the
//! binary behind /proc/PID/exe is the sealed view (see crate::seal).
//!
//! The process waits until the parent has put it in the container's cgroup, takes on the
//! process's identity and execs. Its end of the sync socket is close-on-exec, so the parent
//! learns of a successful exec by the socket closing, and of a failure by a report.

use super::init::{become_process, exec_process, find_executable, step, syscall, InitError, Step};
use super::spawn::{place_and_await, ConsoleTarget, KillOnDrop, SpawnError, Success};
use super::sync::{channel_pair, Channel, SyncError, ToChild, ToParent};
use crate::plan::ProcessPlan;
use crate::sys::{self, Forked};
use crate::{security, tty};
use berth_cgroups::{Manager, SelfJoin};
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
    // clone3 can only place the process in the container's own cgroup.
    let cgroup_fd = if opts.sub_cgroup.is_none() { opts.cgroup.clone_into_fd() } else { None };
    let in_cgroup_at_clone = cgroup_fd.is_some();
    // On v1 and hybrid the process puts itself in the container's cgroup (SelfJoin), as the
    // init does; a sub-cgroup (--cgroup) is still written from here.
    let self_join = if in_cgroup_at_clone || opts.sub_cgroup.is_some() { None } else { opts.cgroup.self_join()? };
    let joins_itself = self_join.is_some();
    // 1. The helper: joins the namespaces, clones the process, says its pid, exits.
    let forked = sys::clone_process(0, None).map_err(|source| SpawnError::Syscall { op: "clone3", what: "exec helper".into(), source })?;
    let helper_pid = match forked {
        Forked::Child => {
            drop(parent_end);
            helper(opts, child_end, &joins, ExecCgroup { whole: cgroup_fd, self_join }, console_socket)
        }
        Forked::Parent(pid) => pid,
    };
    drop(self_join);
    drop(child_end);
    let helper_reaper = KillOnDrop::new(helper_pid);
    let pid = match parent_end.recv::<ToParent>()? {
        ToParent::Spawned { pid } => pid,
        ToParent::Failed { step, message } => return Err(SpawnError::InitFailed { step, message }),
        _ => return Err(SyncError::Unexpected("a message other than Spawned").into()),
    };
    let reaper = KillOnDrop::new(pid);
    // The helper has exited: reap it.
    drop(helper_reaper);
    // 2. The process, now our child: into its cgroup, then its verdict.
    if let Some(spec) = opts.sub_cgroup {
        opts.cgroup.add_task_to_sub(pid, spec)?;
    }
    let add_task = !in_cgroup_at_clone && opts.sub_cgroup.is_none() && !joins_itself;
    place_and_await(pid, opts.cgroup, add_task, &parent_end, Success::SocketClosed, None)?;
    reaper.defuse();
    Ok(pid)
}

/// How the exec'd process gets into the container's cgroup, where the parent does not put it.
struct ExecCgroup<'a> {
    /// Pure v2: cloned into the whole cgroup.
    whole: Option<std::os::fd::BorrowedFd<'a>>,
    /// v1 and hybrid: joins the v1 hierarchies itself, first thing (and on hybrid is cloned
    /// into the cgroup2 part).
    self_join: Option<SelfJoin>,
}

impl ExecCgroup<'_> {
    fn clone_into(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.whole.or_else(|| self.self_join.as_ref().and_then(SelfJoin::clone_into_fd))
    }
}

/// The helper: out of the container's sight, become part of it, then clone the process into
/// its pid namespace. Never returns.
fn helper(opts: &ExecSpawn<'_>, channel: Channel, joins: &[(CloneFlags, &str, File)], cgroup: ExecCgroup<'_>, console: Option<tty::ConsoleSocket>) -> ! {
    let Err((step_name, error)) = join_and_clone(opts, &channel, joins, cgroup, console);
    let _ = channel.send(&ToParent::Failed { step: step_name.to_owned(), message: error.to_string() });
    // Wait for the parent to read the report and hang up (see init::run).
    while channel.recv::<ToChild>().is_ok() {}
    sys::exit_immediately(1)
}

fn join_and_clone(opts: &ExecSpawn<'_>, channel: &Channel, joins: &[(CloneFlags, &str, File)], cgroup: ExecCgroup<'_>, console: Option<tty::ConsoleSocket>) -> Step<std::convert::Infallible> {
    // A copy of the host's berth: nothing of the host's environment goes further, and nothing
    // may reach it through /proc (CVE-2019-5736).
    sys::scrub_environment();
    step("set non-dumpable", nix::sys::prctl::set_dumpable(false).map_err(syscall("prctl", "PR_SET_DUMPABLE")))?;
    // pid and time act on children only; the others on us. Mount moves our root and cwd.
    for (flag, name, file) in joins {
        step("join namespaces", setns(file.as_fd(), *flag).map_err(syscall("setns", format!("{name} namespace"))))?;
    }
    let flags = libc::CLONE_PARENT as u64;
    let forked = step("clone the process", sys::clone_process(flags, cgroup.clone_into()).map_err(|source| InitError::Syscall { op: "clone3", what: "exec process".into(), source }))?;
    match forked {
        Forked::Child => child(opts, channel, cgroup.self_join, console),
        Forked::Parent(pid) => {
            step("report the process", channel.send(&ToParent::Spawned { pid }))?;
            sys::exit_immediately(0)
        }
    }
}

/// The process, inside the container: into its cgroup, then exec. Never returns.
fn child(opts: &ExecSpawn<'_>, channel: &Channel, self_join: Option<SelfJoin>, console: Option<tty::ConsoleSocket>) -> ! {
    let joined = self_join.map_or(Ok(()), |cgroup| step("join cgroup", cgroup.join()));
    let Err((step_name, error)) = joined.and_then(|()| enter_and_exec(opts, channel, console));
    let _ = channel.send(&ToParent::Failed { step: step_name.to_owned(), message: error.to_string() });
    // Wait for the parent to read the report and hang up (see init::run).
    while channel.recv::<ToChild>().is_ok() {}
    sys::exit_immediately(1)
}

fn enter_and_exec(opts: &ExecSpawn<'_>, channel: &Channel, console: Option<tty::ConsoleSocket>) -> Step<std::convert::Infallible> {
    match channel.recv::<ToChild>() {
        Ok(ToChild::CgroupJoined { .. }) => {}
        Ok(other) => return Err(("wait for cgroup", InitError::from(super::sync::SyncError::Unexpected(other.name())))),
        Err(e) => return Err(("wait for cgroup", InitError::from(e))),
    }
    if let Some(socket) = &console {
        step("set up console", tty::setup_console(socket, false))?;
    }
    step("set rlimits", security::apply_rlimits(&opts.process.rlimits))?;
    let program = step("find executable", find_executable(opts.process))?;
    become_process(opts.process, opts.preserve_fds)?;
    exec_process(opts.process, &program)
}
