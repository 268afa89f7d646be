//! The container verbs: create, start, state, kill, delete, list, and run (create + start +
//! wait). Each reads like the lifecycle it implements; the details live in the modules.

mod exec;
mod foreground;
mod resources;
pub mod rootless;

pub use exec::{exec, CommandOverrides, ExecOptions, ExecProcess};
pub use resources::{events, pause, pids, resume, stats, update, Event};

use crate::process::{self, ConsoleTarget, SpawnError, SpawnOptions};
use foreground::Foreground;
use crate::plan::{self, Plan, SpecError};
use crate::state::{self, Creator, State, StateDir, StateError, Status};
use berth_cgroups::{CgroupRequest, Manager};
use nix::sys::signal::Signal;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A failed container operation.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    /// berth's own relay of the container's terminal failed.
    #[error(transparent)]
    Tty(#[from] crate::tty::TtyError),
    #[error(transparent)]
    Cgroup(#[from] berth_cgroups::Error),
    /// The verb does not apply in the container's current status. The message is runc's,
    /// word for word: containerd and other managers match some of these texts.
    #[error("{}", wrong_status_message(id, *verb, *status))]
    WrongStatus { id: String, verb: Verb, status: Status },
    /// The cgroup the container would join is frozen: its init would hang there.
    #[error("container's cgroup unexpectedly frozen: {0}")]
    CgroupFrozen(String),
    /// The container's state records no cgroup (a state.json berth did not write, or a
    /// rootless container with no delegated cgroup).
    #[error("container {0} has no cgroup")]
    NoCgroup(String),
    /// Limits were asked for, but an unprivileged caller has no cgroup it may create.
    #[error("linux.resources: setting limits as an unprivileged user needs a delegated cgroup (systemd's Delegate=yes, or a cgroup the user owns): {0}")]
    CgroupNotDelegated(Box<berth_cgroups::Error>),
    /// A signal name or number that does not exist.
    #[error("invalid signal: {0}")]
    BadSignal(String),
    /// A syscall failed.
    #[error("{op} {what}: {source}")]
    Syscall { op: &'static str, what: String, source: std::io::Error },
    /// The OOM killer ended the init during setup: the memory limit is too small to start.
    #[error("linux.resources.memory.limit: the container's init was OOM-killed during setup: a limit of {limit} bytes is too small to start it")]
    InitOomKilled { limit: i64 },
    /// process.terminal is set but there is nowhere to send the terminal.
    #[error("process.terminal: cannot allocate a tty without --console-socket when detached")]
    TerminalWithoutSocket,
}

/// A verb that only applies to a container in some states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Start,
    Exec,
    Kill,
    Delete,
    Pause,
    Resume,
    Ps,
    Events,
    Update,
}

/// runc's message for `verb` refused in `status`.
fn wrong_status_message(id: &str, verb: Verb, status: Status) -> String {
    match (verb, status) {
        (Verb::Start, Status::Stopped) => "cannot start a container that has stopped".into(),
        (Verb::Start, Status::Running) => "cannot start an already running container".into(),
        (Verb::Start, other) => format!("cannot start a container in the {} state", other.as_str()),
        (Verb::Exec, Status::Paused) => "cannot exec in a paused container (use --ignore-paused to override)".into(),
        (Verb::Exec, _) => "cannot exec in a stopped container".into(),
        (Verb::Delete, other) => format!("cannot delete container {id} that is not stopped: {}", other.as_str()),
        (Verb::Resume, _) => "container not paused".into(),
        _ => "container not running".into(),
    }
}

impl ContainerError {
    fn wrong_status(state: &State, verb: Verb, status: Status) -> ContainerError {
        ContainerError::WrongStatus { id: state.id.clone(), verb, status }
    }
}

fn syscall(op: &'static str, what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ContainerError {
    let what = what.into();
    move |source| ContainerError::Syscall { op, what, source }
}

/// Options of `create` (and `run`).
#[derive(Debug, Default, Clone)]
pub struct CreateOptions {
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub preserve_fds: i32,
    pub systemd_cgroup: bool,
}

/// A container that `create` made, with what `run` needs to drive it further.
pub struct Created {
    pub state: State,
    pub dir: StateDir,
    /// process.terminal: its pty master went to the console socket (or berth's own relay).
    pub terminal: bool,
}

/// Create a container: validate the bundle, claim the id, make the cgroup, spawn the init
/// and wait until it is set up. Anything made along the way is undone if a later step fails.
pub fn create(root: &Path, opts: &CreateOptions) -> Result<Created, ContainerError> {
    create_with_relay(root, opts, None)
}

/// `create`, with `relay` the socket of berth's own terminal relay (foreground `run`), used
/// when process.terminal is set and there is no --console-socket.
fn create_with_relay(root: &Path, opts: &CreateOptions, relay: Option<&OwnedFd>) -> Result<Created, ContainerError> {
    // 1. Validate everything before touching anything.
    state::validate_id(&opts.id)?;
    let spec = plan::load(&opts.bundle)?;
    let plan = Plan::new(&spec, &opts.bundle)?;
    let console = console_target(plan.process.terminal, opts.console_socket.as_deref(), relay)?;
    log::debug!("create {}: {} is valid ({} mounts)", opts.id, plan.bundle.display(), plan.mounts.len());
    // 2. Where the cgroup goes; nothing is made yet.
    let linux = spec.linux().clone().unwrap_or_default();
    let cgroups_path = linux.cgroups_path().as_ref().map(|p| p.to_string_lossy().into_owned());
    let cgroup = berth_cgroups::resolve(&CgroupRequest {
        cgroups_path: cgroups_path.as_deref(),
        systemd: opts.systemd_cgroup,
        container_id: &opts.id,
    })?;
    let resources = plan::cgroup_resources(&linux);
    // 3. Claim the id with an intent record (bundle, the cgroup levels about to be made, this
    //    creator), so that from here
    //    on a kill at any point leaves a container `delete --force` can find and remove; then
    //    the exec fifo the init will wait on.
    let mut state = State {
        oci_version: spec.version().clone(),
        id: opts.id.clone(),
        pid: 0,
        bundle: plan.bundle.clone(),
        rootfs: plan.rootfs.clone(),
        created: state::rfc3339_now(),
        owner: String::new(),
        annotations: spec.annotations().clone().unwrap_or_default(),
        init_start_time: 0,
        cgroup: Some(berth_cgroups::CgroupState { created: cgroup.state().missing_levels(), ..cgroup.state() }),
        hooks: plan.hooks.clone(),
        resources: Some(resources.clone()),
        creating: Some(Creator::current()),
        mounts_on_host: !plan.mounts.is_empty() && !plan.namespaces.has(libc::CLONE_NEWNS),
    };
    let dir = StateDir::claim(root, &opts.id, &state)?;
    let mut undo = Undo { dir: Some(dir.clone()), cgroup: None, kill_remaining: true };
    let exec_fifo = dir.make_exec_fifo()?;
    // 4. The cgroup, recorded with the levels it made, and its limits, before any process is in it.
    let cgroup = undo.cgroup.insert(cgroup);
    let intended = state.cgroup.clone();
    match cgroup.create() {
        Ok(()) => state.cgroup = Some(cgroup.state()),
        // An unprivileged caller without a delegated cgroup runs the container in its own
        // cgroup, as runc does rootless; only limits it cannot set make that an error.
        Err(e) if rootless::unprivileged() && rootless::not_delegated(&e) => {
            if rootless::limits_requested(&linux) {
                return Err(rootless::limits_need_delegation(e));
            }
            log::debug!("create {}: no cgroup delegated to this user ({e}); the container stays in the caller's cgroup", opts.id);
            *cgroup = Box::new(rootless::NoCgroup);
            state.cgroup = None;
        }
        Err(e) => return Err(e.into()),
    }
    // Usually it made exactly the levels the intent record names; rewrite only if not.
    if !same_levels(state.cgroup.as_ref(), intended.as_ref()) {
        dir.save(&state)?;
    }
    let cgroup = &**cgroup;
    if state.cgroup.is_some() {
        // A cgroup someone froze would freeze the init mid-setup and hang create: refuse
        // it. One that already holds processes is used, with runc 1.1's warning, and a
        // failed create leaves those processes alone.
        if cgroup.is_frozen()? {
            return Err(ContainerError::CgroupFrozen(cgroup_display(cgroup)));
        }
        // A cgroup this create made itself (every directory of it) holds no process yet.
        let made_here = state.cgroup.as_ref().is_some_and(|c| c.paths.values().all(|dir| c.created.contains(dir)));
        let present = if made_here { 0 } else { cgroup.pids().map(|pids| pids.len()).unwrap_or(0) };
        if present > 0 {
            log::warn!("container's cgroup is not empty: {present} process(es) found in {}", cgroup_display(cgroup));
            undo.kill_remaining = false;
        }
        cgroup.apply(&resources)?;
    }
    log::debug!("create {}: cgroup {:?} made", opts.id, cgroup.state().paths);
    // 5. The init, in its namespaces and cgroup, recorded as soon as it exists, set up and
    //    waiting for start. Until step 6 it dies with this process.
    let hook_state = |pid| state.hook_json(pid, "creating");
    let record_init = |pid, start_time| {
        let mut with_init = state.clone();
        with_init.pid = pid;
        with_init.init_start_time = start_time;
        dir.save(&with_init)
    };
    let init = process::spawn(&SpawnOptions {
        plan: &plan,
        hook_state: &hook_state,
        record_init: &record_init,
        cgroup,
        exec_fifo: &exec_fifo,
        no_pivot: opts.no_pivot,
        preserve_fds: opts.preserve_fds,
        console,
    })
    .map_err(|e| explain_init_death(e, cgroup, &resources))?;
    log::debug!("create {}: init {} is set up and waits for start", opts.id, init.pid);
    // 6. Record it as created, then let the init outlive us.
    state.pid = init.pid;
    state.init_start_time = init.start_time;
    state.creating = None;
    dir.save(&state)?;
    if let Some(path) = &opts.pid_file {
        write_pid_file(path, init.pid)?;
    }
    init.outlive_creator()?;
    undo.defuse();
    Ok(Created { state, dir, terminal: plan.process.terminal })
}

/// Do two records name the same cgroup directories, created ones included (in any order:
/// both orders list a parent before its children)?
fn same_levels(made: Option<&berth_cgroups::CgroupState>, intended: Option<&berth_cgroups::CgroupState>) -> bool {
    let sorted = |created: &[PathBuf]| {
        let mut created = created.to_vec();
        created.sort();
        created
    };
    match (made, intended) {
        (Some(made), Some(intended)) => {
            made.layout == intended.layout
                && made.paths == intended.paths
                && made.systemd_unit == intended.systemd_unit
                && sorted(&made.created) == sorted(&intended.created)
        }
        (None, None) => true,
        _ => false,
    }
}

/// An init that died during setup in a cgroup whose OOM killer struck was killed for the
/// memory limit: say so, naming the field, rather than "exited during setup".
fn explain_init_death(error: SpawnError, cgroup: &dyn Manager, resources: &oci_spec::runtime::LinuxResources) -> ContainerError {
    let limit = resources.memory().as_ref().and_then(|m| m.limit());
    let died = matches!(error, SpawnError::InitDied | SpawnError::InitFailed { .. } | SpawnError::Sync(_));
    match limit {
        Some(limit) if died && berth_cgroups::oom::kill_count(&cgroup.state()).is_ok_and(|n| n > 0) => ContainerError::InitOomKilled { limit },
        _ => error.into(),
    }
}

/// The cgroup's directory for messages: its freezer's, else any of its hierarchies.
fn cgroup_display(cgroup: &dyn Manager) -> String {
    let paths = cgroup.state().paths;
    paths.get("freezer").or_else(|| paths.values().next()).map(|p| p.display().to_string()).unwrap_or_default()
}

/// Where a process's pty master goes: nowhere without process.terminal, else the
/// --console-socket, else berth's own relay; a terminal with neither is refused.
fn console_target<'a>(terminal: bool, socket: Option<&'a Path>, relay: Option<&'a OwnedFd>) -> Result<Option<ConsoleTarget<'a>>, ContainerError> {
    match (terminal, socket, relay) {
        (false, _, _) => Ok(None),
        (true, Some(path), _) => Ok(Some(ConsoleTarget::Socket(path))),
        (true, None, Some(fd)) => Ok(Some(ConsoleTarget::Connected(fd.as_fd()))),
        (true, None, None) => Err(ContainerError::TerminalWithoutSocket),
    }
}

/// Release a created container's init: open the exec fifo, read the byte the init writes
/// once it is unblocked, and remove the fifo (which marks the container running).
pub fn start(root: &Path, id: &str) -> Result<(), ContainerError> {
    let dir = StateDir::open(root, id)?;
    let state = dir.load()?;
    match status(&state, &dir) {
        Status::Created => {}
        other => return Err(ContainerError::wrong_status(&state, Verb::Start, other)),
    }
    release(&state, &dir)?;
    log::debug!("start {id}: init {} released", state.pid);
    poststart(&state);
    Ok(())
}

/// Run the poststart hooks; per the runtime spec their failure is only a warning.
fn poststart(state: &State) {
    if let Some(hooks) = &state.hooks {
        crate::hooks::run_warning(crate::hooks::Stage::Poststart, hooks, state.hook_json(state.pid, "running").as_bytes());
    }
}

fn release(state: &State, dir: &StateDir) -> Result<(), ContainerError> {
    use nix::fcntl::OFlag;
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let fifo_path = dir.exec_fifo();
    // The init holds a pidfd-watched open for writing; a non-blocking read open never hangs
    // even if the init has died, and poll tells us which of the two happened.
    let pidfd = crate::sys::pidfd_open(state.pid).map_err(syscall("pidfd_open", format!("pid {}", state.pid)))?;
    if !state.init_alive() {
        return Err(ContainerError::wrong_status(state, Verb::Start, Status::Stopped));
    }
    let fifo = nix::fcntl::open(&fifo_path, OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
        .map_err(|e| syscall("open", fifo_path.display().to_string())(e.into()))?;
    let mut fds = [PollFd::new(fifo.as_fd(), PollFlags::POLLIN), PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    loop {
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(syscall("poll", "exec fifo")(e.into())),
            Ok(_) => break,
        }
    }
    let mut byte = [0u8; 1];
    let got = nix::unistd::read(fifo.as_fd(), &mut byte).unwrap_or(0);
    if got != 1 {
        return Err(ContainerError::wrong_status(state, Verb::Start, Status::Stopped));
    }
    std::fs::remove_file(&fifo_path).map_err(syscall("remove", fifo_path.display().to_string()))
}

/// The container's status now.
pub fn status(state: &State, dir: &StateDir) -> Status {
    // A create that is still at work, or one killed before it finished: that container
    // never became `created`, and its init dies with its creator.
    if let Some(creator) = &state.creating {
        return if creator.alive() { Status::Creating } else { Status::Stopped };
    }
    if !state.init_alive() {
        return Status::Stopped;
    }
    // Frozen first: a created container can be paused too (runc's order).
    let frozen = state
        .cgroup
        .as_ref()
        .and_then(|saved| berth_cgroups::load(saved).ok())
        .is_some_and(|cg| cg.is_frozen().unwrap_or(false));
    if frozen {
        Status::Paused
    } else if dir.exec_fifo().exists() {
        Status::Created
    } else {
        Status::Running
    }
}

/// Load a container and its status.
pub fn load(root: &Path, id: &str) -> Result<(State, Status, StateDir), ContainerError> {
    let dir = StateDir::open(root, id)?;
    let state = dir.load()?;
    let status = status(&state, &dir);
    Ok((state, status, dir))
}

/// Parse a signal as runc does: a number (0 checks that the process exists, 1-64 include
/// the real-time signals), or a name with or without SIG.
pub fn parse_signal(text: &str) -> Result<i32, ContainerError> {
    if let Ok(n) = text.parse::<i32>() {
        return if (0..=libc::SIGRTMAX()).contains(&n) { Ok(n) } else { Err(ContainerError::BadSignal(text.to_owned())) };
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    name.parse::<Signal>().map(|s| s as i32).map_err(|_| ContainerError::BadSignal(text.to_owned()))
}

/// Send `signal` to the container's init, or with `all` to every process in its cgroup.
/// `all` also applies to a stopped container, whose init is gone but whose cgroup may still
/// hold processes (runc 1.1's `kill --all`; a cgroup already gone holds nothing to signal).
pub fn kill(root: &Path, id: &str, signal: i32, all: bool) -> Result<(), ContainerError> {
    let (state, status, _) = load(root, id)?;
    if status == Status::Creating {
        return Err(ContainerError::wrong_status(&state, Verb::Kill, status));
    }
    // SIGKILL to an init that is not pid 1 of a namespace of its own would leave the other
    // processes running (the kernel kills a namespace's processes with its pid 1 only): kill
    // everything in the cgroup instead, even once the init is gone (runc 1.2's rule).
    // Without a cgroup (rootless) that is not possible: only the init is signalled, as runc.
    let all = all || (signal == libc::SIGKILL && state.cgroup.is_some() && !own_pid_namespace(&state));
    if all {
        let pids = match saved_cgroup(&state)?.pids() {
            Ok(pids) => pids,
            Err(_) if status == Status::Stopped => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        log::debug!("kill {id}: signal {signal} to {} processes of its cgroup", pids.len());
        for pid in pids {
            let _ = crate::sys::kill(pid, signal);
        }
        return Ok(());
    }
    if status == Status::Stopped {
        return Err(ContainerError::wrong_status(&state, Verb::Kill, status));
    }
    signal_init(&state, signal)
}

/// Does the container have a pid namespace of its own (from its config.json; assumed so if
/// that can no longer be read)?
fn own_pid_namespace(state: &State) -> bool {
    let Ok(spec) = plan::load(&state.bundle) else { return true };
    let namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().clone()).unwrap_or_default();
    namespaces.iter().any(|ns| ns.typ() == oci_spec::runtime::LinuxNamespaceType::Pid && ns.path().as_ref().is_none_or(|p| p.as_os_str().is_empty()))
}

/// Signal the init through a pidfd opened and then checked against the recorded start time,
/// so a recycled pid is never signalled.
fn signal_init(state: &State, signal: i32) -> Result<(), ContainerError> {
    let pidfd = crate::sys::pidfd_open(state.pid).map_err(syscall("pidfd_open", format!("pid {}", state.pid)))?;
    if !state.init_alive() {
        return Err(ContainerError::wrong_status(state, Verb::Kill, Status::Stopped));
    }
    log::debug!("kill {}: signal {signal} to init {}", state.id, state.pid);
    crate::sys::pidfd_send_signal(pidfd.as_fd(), signal).map_err(syscall("kill", format!("pid {}", state.pid)))
}

fn saved_cgroup(state: &State) -> Result<Box<dyn Manager>, ContainerError> {
    match &state.cgroup {
        Some(saved) => Ok(berth_cgroups::load(saved)?),
        None => Err(ContainerError::NoCgroup(state.id.clone())),
    }
}

/// Delete a container: a stopped or created one always, a running or paused one only with
/// `force` (killing it). An unknown id with `force` is not an error, as in runc.
pub fn delete(root: &Path, id: &str, force: bool) -> Result<(), ContainerError> {
    let (state, status, dir) = match load(root, id) {
        Ok(found) => found,
        Err(ContainerError::State(StateError::NotFound(_))) if force => return Ok(()),
        Err(e) => return Err(e),
    };
    match status {
        Status::Stopped | Status::Created => {}
        Status::Running | Status::Paused | Status::Creating if force => {}
        other => return Err(ContainerError::wrong_status(&state, Verb::Delete, other)),
    }
    // A half-made container's init may still be dying with its creator.
    if status != Status::Stopped || state.creating.is_some() {
        kill_and_wait(&state);
    }
    destroy(&state, &dir)
}

/// Remove what the container owns on the host: its cgroup (killing stragglers) and state,
/// then run the poststop hooks (a failure there is only a warning, per the runtime spec).
fn destroy(state: &State, dir: &StateDir) -> Result<(), ContainerError> {
    if state.mounts_on_host {
        crate::rootfs::detach_below(&state.rootfs);
    }
    log::debug!("delete {}: removing its cgroup and state directory", state.id);
    if let Some(saved) = &state.cgroup {
        berth_cgroups::load(saved)?.destroy(true)?;
    }
    dir.remove()?;
    if let Some(hooks) = &state.hooks {
        crate::hooks::run_warning(crate::hooks::Stage::Poststop, hooks, state.hook_json(state.pid, "stopped").as_bytes());
    }
    Ok(())
}

/// SIGKILL the init (thawing it first if frozen, so it can die) and wait until it is gone.
fn kill_and_wait(state: &State) {
    let Ok(pidfd) = crate::sys::pidfd_open(state.pid) else { return };
    if !state.init_alive() {
        return;
    }
    if let Some(cg) = state.cgroup.as_ref().and_then(|s| berth_cgroups::load(s).ok()) {
        let _ = cg.thaw();
    }
    let _ = crate::sys::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL);
    // A pidfd polls readable once its process has exited.
    let mut fds = [nix::poll::PollFd::new(pidfd.as_fd(), nix::poll::PollFlags::POLLIN)];
    let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::try_from(Duration::from_secs(10)).unwrap_or(nix::poll::PollTimeout::NONE));
    // If we are its parent (run, or a failed create), reap it.
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(state.pid), Some(nix::sys::wait::WaitPidFlag::WNOHANG));
}

/// Every container under `root`, with its status.
pub fn list(root: &Path) -> Result<Vec<(State, Status)>, ContainerError> {
    let mut out = Vec::new();
    for id in state::list_ids(root)? {
        // A container deleted while we list is simply not listed.
        if let Ok((state, status, _)) = load(root, &id) {
            out.push((state, status));
        }
    }
    Ok(out)
}

/// How `run` ends.
#[derive(Debug, Default, Clone, Copy)]
pub struct RunMode {
    /// Return once the process runs (`--detach`).
    pub detach: bool,
    /// Do not delete the container once it has exited (`--keep`): it stays, stopped.
    pub keep: bool,
}

/// `run`: create, start, and unless detached, wait for the container's exit, forwarding
/// signals, then delete it unless kept. Returns the exit code to exit with (128+N for signal
/// N).
pub fn run(root: &Path, opts: &CreateOptions, mode: RunMode) -> Result<i32, ContainerError> {
    let detach = mode.detach;
    // Block forwarded signals before the clone so none is lost; the init unblocks them.
    let foreground = if detach { None } else { Some(Foreground::prepare(opts.console_socket.is_none())?) };
    let relay = foreground.as_ref().and_then(|f| f.console_peer.as_ref());
    let created = create_with_relay(root, opts, relay)?;
    if let Err(e) = release(&created.state, &created.dir) {
        kill_and_wait(&created.state);
        let _ = destroy(&created.state, &created.dir);
        return Err(e);
    }
    poststart(&created.state);
    let Some(mut foreground) = foreground else { return Ok(0) };
    if !created.terminal {
        foreground.no_terminal();
    }
    let code = foreground.wait(created.state.pid)?;
    if !mode.keep {
        destroy(&created.state, &created.dir)?;
    }
    Ok(code)
}

/// Write the init's pid to `path` atomically, as runc does (managers read it while we write).
fn write_pid_file(path: &Path, pid: i32) -> Result<(), StateError> {
    let tmp = path.with_file_name(format!(".{}.tmp", path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()));
    std::fs::write(&tmp, pid.to_string())
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| StateError::Io { op: "write pid file", path: path.to_owned(), source })
}

/// Undoes a half-made create: removes the cgroup and the state directory.
struct Undo {
    dir: Option<StateDir>,
    cgroup: Option<Box<dyn Manager>>,
    /// Kill what is in the cgroup: false when it held processes before this create.
    kill_remaining: bool,
}

impl Undo {
    fn defuse(&mut self) {
        self.dir = None;
        self.cgroup = None;
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        if let Some(cgroup) = &self.cgroup {
            let _ = cgroup.destroy(self.kill_remaining);
        }
        if let Some(dir) = &self.dir {
            let _ = dir.remove();
        }
    }
}
