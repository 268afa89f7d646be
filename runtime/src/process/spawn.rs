//! Parent side of container creation: clone the init into its namespaces and cgroup, and
//! drive it through the sync protocol until it is ready or has failed.

use super::init::{self, InitContext};
use super::sync::{channel_pair, Channel, SyncError, ToChild, ToParent};
use crate::hooks::{self, HookError, Stage};
use oci_spec::runtime::Hooks;
use crate::namespaces::NamespaceError;
use crate::plan::Plan;
use crate::state::process_start_time;
use crate::tty::ConsoleSocket;
use crate::sys::{self, Forked};
use crate::userns;
use berth_cgroups::{Manager, SelfJoin};
use nix::fcntl::OFlag;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

/// Why the init could not be started or set up.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error(transparent)]
    Namespace(#[from] NamespaceError),
    #[error(transparent)]
    Cgroup(#[from] berth_cgroups::Error),
    #[error(transparent)]
    UserNamespace(#[from] crate::userns::UserNamespaceError),
    #[error(transparent)]
    Idmap(#[from] crate::idmap::IdmapError),
    /// A syscall of the parent failed.
    #[error("{op} {what}: {source}")]
    Syscall { op: &'static str, what: String, source: std::io::Error },
    /// The init reported a failed setup step.
    #[error("container init: {step}: {message}")]
    InitFailed { step: String, message: String },
    /// A prestart or createRuntime hook failed.
    #[error(transparent)]
    Hook(#[from] HookError),
    /// The init died without a word.
    #[error("container init exited during setup")]
    InitDied,
    /// The init's pid could not be recorded in the state directory.
    #[error(transparent)]
    Record(#[from] crate::state::StateError),
}

/// The container's first process, set up and waiting for `start`. Until
/// [`Init::outlive_creator`], it dies with this process (and is killed if this is dropped).
pub struct Init {
    /// Host pid.
    pub pid: i32,
    /// Its start time, to tell it from a later process with the same pid.
    pub start_time: u64,
    channel: Channel,
    reaper: KillOnDrop,
}

impl Init {
    /// The creator has recorded the container: tell the init to stop dying with it, and wait
    /// until it has (its parent-death signal must be off before this process exits).
    pub fn outlive_creator(self) -> Result<(), SpawnError> {
        self.channel.send(&ToChild::Recorded)?;
        match self.channel.recv::<ToParent>() {
            Ok(ToParent::Disarmed) => {}
            Ok(ToParent::Failed { step, message }) => return Err(SpawnError::InitFailed { step, message }),
            Ok(_) => return Err(SyncError::Unexpected("a message other than Disarmed").into()),
            Err(SyncError::Closed) => return Err(SpawnError::InitDied),
            Err(e) => return Err(e.into()),
        }
        self.reaper.defuse();
        Ok(())
    }
}

/// How to spawn.
pub struct SpawnOptions<'a> {
    pub plan: &'a Plan,
    /// The container's state JSON for its hooks, given the init's pid (status "creating").
    pub hook_state: &'a dyn Fn(i32) -> String,
    /// Record the init's pid and start time in the state directory, right after the clone.
    pub record_init: &'a dyn Fn(i32, u64) -> Result<(), crate::state::StateError>,
    pub cgroup: &'a dyn Manager,
    pub exec_fifo: &'a Path,
    pub no_pivot: bool,
    pub preserve_fds: i32,
    /// Where the pty master goes, when process.terminal is set.
    pub console: Option<ConsoleTarget<'a>>,
}

/// Where the pty master of process.terminal is sent.
#[derive(Clone, Copy)]
pub enum ConsoleTarget<'a> {
    /// `--console-socket`: a manager listens on this unix socket.
    Socket(&'a Path),
    /// berth's own socket pair, when `run` or `exec` relays the terminal itself.
    Connected(BorrowedFd<'a>),
}

impl ConsoleTarget<'_> {
    /// The socket for the container's process to send the master over.
    pub(super) fn connect(self) -> Result<ConsoleSocket, SpawnError> {
        Ok(match self {
            ConsoleTarget::Socket(path) => ConsoleSocket { socket: connect_console(path)?, size: None },
            ConsoleTarget::Connected(fd) => ConsoleSocket {
                socket: fd.try_clone_to_owned().map_err(|source| SpawnError::Syscall { op: "dup", what: "console socket".into(), source })?,
                size: crate::tty::host_window_size(),
            },
        })
    }
}

/// Clone the init and wait until it reports ready. On failure the init is killed and reaped.
///
/// Must be called while the process is single-threaded (see [`sys::clone_process`]).
pub fn spawn(opts: &SpawnOptions<'_>) -> Result<Init, SpawnError> {
    let plan = opts.plan;
    let (parent_end, child_end) = channel_pair()?;
    let exec_fifo = nix::fcntl::open(opts.exec_fifo, OFlag::O_PATH | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
        .map_err(|e| SpawnError::Syscall { op: "open", what: opts.exec_fifo.display().to_string(), source: e.into() })?;
    let console_socket = opts.console.map(ConsoleTarget::connect).transpose()?;
    let cgroup_fd = opts.cgroup.clone_into_fd();
    let in_cgroup_at_clone = cgroup_fd.is_some();
    let flags = plan.namespaces.clone_flags(in_cgroup_at_clone);
    // On v1 and hybrid the init puts itself in its cgroup first thing (SelfJoin): no
    // cgroup.procs write from here, whose global lock can wait out an RCU grace period.
    let mut self_join = if in_cgroup_at_clone { None } else { opts.cgroup.self_join()? };
    let joins_itself = self_join.is_some();
    let clone_fd = cgroup_fd.or_else(|| self_join.as_ref().and_then(SelfJoin::clone_into_fd));

    // Idmapped mounts are made here, on the host, as detached trees the init attaches.
    let detached = crate::idmap::prepare(plan)?;
    // With a user namespace, namespaces joined by path are entered by a joiner that then
    // clones the init (crate::userns); it also points its children at a joined pid namespace.
    let joiner = userns::needs_joiner(plan.user.as_ref(), &plan.namespaces.joins);
    let children_namespaces = plan.namespaces.enter_for_children(!joiner)?;
    let forked = if joiner {
        userns::clone_through_joiner(&plan.namespaces.joins, flags, clone_fd)?
    } else {
        sys::clone_process(flags, clone_fd)
            .map_err(|source| SpawnError::Syscall { op: "clone3", what: "container init".into(), source })?
    };
    let pid = match forked {
        Forked::Child => {
            drop(parent_end);
            init::run(InitContext {
                plan,
                channel: child_end,
                exec_fifo,
                no_pivot: opts.no_pivot,
                preserve_fds: opts.preserve_fds,
                unshare_cgroup_namespace: plan.namespaces.child_unshares_cgroup(in_cgroup_at_clone),
                console_socket,
                cgroup_dirs: opts.cgroup.state().paths.into_values().collect(),
                joined_before_clone: joiner,
                detached: &detached,
                self_join: self_join.take(),
            })
        }
        Forked::Parent(pid) => pid,
    };
    drop(children_namespaces);
    drop(child_end);
    drop(detached);
    drop(self_join);
    let reaper = KillOnDrop::new(pid);
    // Record the init before anything else, so a kill from here on leaves it findable (it
    // also dies with us until the creator has recorded it as created).
    let start_time = process_start_time(pid).map(|(t, _)| t).ok_or(SpawnError::InitDied)?;
    (opts.record_init)(pid, start_time)?;
    // A new user namespace gets its maps before the init does anything else. A failed send
    // means the init died; its report (or its silence) is read below.
    if let Some(user) = plan.user.as_ref().filter(|u| !u.joined) {
        userns::write_mappings(pid, user)?;
        let _ = parent_end.send(&ToChild::IdsMapped);
    }
    // The state goes to the init for its own hooks and for a seccomp listener.
    let no_hooks = Hooks::default();
    let listener = plan.process.seccomp.as_ref().is_some_and(|s| s.notify.is_some());
    let hooks = (plan.hooks.is_some() || listener).then(|| (plan.hooks.as_ref().unwrap_or(&no_hooks), (opts.hook_state)(pid)));
    place_and_await(pid, opts.cgroup, !in_cgroup_at_clone && !joins_itself, &parent_end, Success::Ready, hooks)?;
    Ok(Init { pid, start_time, channel: parent_end, reaper })
}

/// How a child tells the parent it got through: the init says `Ready` and stays; an exec'd
/// process execs, which closes its close-on-exec end of the socket.
#[derive(Clone, Copy)]
pub(super) enum Success {
    Ready,
    SocketClosed,
}

/// Parent side after any clone: put `pid` in its cgroup unless clone3 already did or the
/// child joins it itself, tell the child, and wait for its verdict.
///
/// A cgroup.procs write can wait for an RCU grace period; the child is busy with its own setup
/// meanwhile, so the two overlap instead of adding up.
/// `hooks` are the container's hooks and their state JSON, when it has any.
pub(super) fn place_and_await(
    pid: i32,
    cgroup: &dyn Manager,
    add_task: bool,
    channel: &Channel,
    success: Success,
    hooks: Option<(&Hooks, String)>,
) -> Result<(), SpawnError> {
    if add_task {
        cgroup.add_task(pid)?;
    }
    // The child may have failed and gone before it needed this message; its report is then
    // already queued on the socket, so read that before judging the send.
    let hook_state = hooks.as_ref().map(|(_, state)| state.clone());
    let sent = channel.send(&ToChild::CgroupJoined { hook_state });
    loop {
        return match (channel.recv::<ToParent>(), success) {
            (Ok(ToParent::RunHooks), _) => {
                let (hooks, state) = hooks.as_ref().ok_or(SyncError::Unexpected("RunHooks"))?;
                hooks::run(Stage::Prestart, hooks, state.as_bytes())?;
                hooks::run(Stage::CreateRuntime, hooks, state.as_bytes())?;
                channel.send(&ToChild::HooksDone)?;
                continue;
            }
            (Ok(ToParent::Ready), Success::Ready) | (Err(SyncError::Closed), Success::SocketClosed) => Ok(sent?),
            (Ok(ToParent::Failed { step, message }), _) => Err(SpawnError::InitFailed { step, message }),
            (Err(SyncError::Closed), Success::Ready) => Err(SpawnError::InitDied),
            (Ok(ToParent::Ready), Success::SocketClosed) => Err(SyncError::Closed.into()),
            (Ok(ToParent::Disarmed), _) => Err(SyncError::Unexpected("Disarmed").into()),
            (Ok(ToParent::Spawned { .. }), _) => Err(SyncError::Unexpected("Spawned").into()),
            (Err(e), _) => Err(e.into()),
        };
    }
}

fn connect_console(path: &Path) -> Result<OwnedFd, SpawnError> {
    let stream = std::os::unix::net::UnixStream::connect(path)
        .map_err(|source| SpawnError::Syscall { op: "connect --console-socket", what: path.display().to_string(), source })?;
    Ok(stream.into())
}

/// Kills and reaps a child unless defused: a failed create or exec leaves no process behind.
pub(super) struct KillOnDrop(Option<i32>);

impl KillOnDrop {
    pub(super) fn new(pid: i32) -> KillOnDrop {
        KillOnDrop(Some(pid))
    }

    pub(super) fn defuse(mut self) {
        self.0 = None;
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let pid = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
        }
    }
}
