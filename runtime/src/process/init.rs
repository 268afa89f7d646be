//! The container's init: runs in the child of the clone, sets the container up, reports to
//! the parent, waits for `start` on the exec fifo, and execs the container's process.
//!
//! It never returns: it either execs or exits. It runs on a copy of the parent's memory, in
//! a process that was single-threaded at the clone, so allocating here is safe.

use super::sync::{Channel, SyncError, ToChild, ToParent};
use crate::hooks::{self, HookError, Stage};
use crate::namespaces::NamespaceError;
use crate::rootfs::RootfsError;
use crate::security::{self, SecurityError};
use crate::plan::{Plan, ProcessPlan};
use crate::procfs::{Files, OwnDescriptors, ProcFs, ProcfsError};
use crate::{sys, tty};
use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// What the init needs besides the plan.
pub struct InitContext<'a> {
    pub plan: &'a Plan,
    /// The child's end of the sync socket.
    pub channel: Channel,
    /// The exec fifo, opened O_PATH by the parent; reopened for writing to block until start.
    pub exec_fifo: OwnedFd,
    /// --no-pivot.
    pub no_pivot: bool,
    /// --preserve-fds: fds 3 .. 3+N pass through to the process.
    pub preserve_fds: i32,
    /// Unshare the cgroup namespace (after the parent's CgroupJoined).
    pub unshare_cgroup_namespace: bool,
    /// The container's cgroup directories, for cgroup mounts without a cgroup namespace.
    pub cgroup_dirs: Vec<PathBuf>,
    /// --console-socket, connected by the parent, when process.terminal is set.
    pub console_socket: Option<tty::ConsoleSocket>,
    /// A joiner entered the namespaces given by path before cloning us (crate::userns).
    pub joined_before_clone: bool,
    /// Idmapped trees the parent made, to attach at their destinations (crate::idmap).
    pub detached: &'a crate::idmap::DetachedMounts,
    /// On v1 and hybrid: the cgroup files through which the init joins its cgroup itself,
    /// before anything else (closed once used).
    pub self_join: Option<berth_cgroups::SelfJoin>,
}

/// Why setup failed inside the container.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Namespace(#[from] NamespaceError),
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    #[error(transparent)]
    Security(#[from] SecurityError),
    #[error(transparent)]
    Sync(#[from] super::sync::SyncError),
    #[error(transparent)]
    Tty(#[from] tty::TtyError),
    #[error(transparent)]
    Hook(#[from] HookError),
    #[error(transparent)]
    UserNamespace(#[from] crate::userns::UserNamespaceError),
    #[error(transparent)]
    Procfs(#[from] ProcfsError),
    #[error(transparent)]
    Cgroup(#[from] berth_cgroups::Error),
    /// process.cwd resolved to a directory outside the container's root (through an
    /// inherited descriptor, /proc/self/fd/N: CVE-2024-21626).
    #[error("process.cwd {0}: outside the container's root")]
    CwdOutsideRoot(PathBuf),
    /// process.args[0] is not an executable in the container.
    #[error("exec: {0:?}: executable file not found in $PATH")]
    NotInPath(String),
    /// An explicit path in process.args[0] does not name an executable file.
    #[error("exec: {path}: {reason}")]
    NotExecutable { path: PathBuf, reason: String },
    /// Another syscall failed.
    #[error("{op} {what}: {source}")]
    Syscall { op: &'static str, what: String, source: std::io::Error },
}

pub(super) fn syscall(op: &'static str, what: impl Into<String>) -> impl FnOnce(nix::Error) -> InitError {
    let what = what.into();
    move |e| InitError::Syscall { op, what, source: e.into() }
}

/// Run the init. Never returns.
pub fn run(mut ctx: InitContext<'_>) -> ! {
    // Into the cgroup before anything is done or allocated for the container.
    let joined = ctx.self_join.take().map_or(Ok(()), |cgroup| step("join cgroup", cgroup.join()));
    let (step, error) = match joined.and_then(|()| setup(&ctx)) {
        Ok((program, hook_state, own_fds)) => match wait_for_start_and_exec(&ctx, program, hook_state, own_fds) {
            // Setup was reported fine; there is no one to report to any more but stderr.
            Err((step, error)) => {
                let _ = writeln!(std::io::stderr(), "berth init: {step}: {}", crate::quote::escape_controls(&error.to_string()));
                sys::exit_immediately(127)
            }
        },
        Err(failure) => failure,
    };
    // The report names what failed, and may quote a config value of any length: keep it
    // within one packet. If it cannot be sent, the parent is gone or will see us die.
    let message = shortened(error.to_string(), MAX_REPORT);
    if ctx.channel.send(&ToParent::Failed { step: step.to_owned(), message }).is_err() {
        sys::exit_immediately(1);
    }
    // Exiting now could discard a message the parent has in flight to us, and a socket closed
    // with unread data resets the connection before the parent reads our report. Wait for the
    // parent to hang up (it kills us right after reading).
    while ctx.channel.recv::<ToChild>().is_ok() {}
    sys::exit_immediately(1)
}

/// The longest failure report the init sends, in bytes.
const MAX_REPORT: usize = 4096;

/// `text` cut to at most `max` bytes at a character boundary, marked when cut.
fn shortened(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("... (cut)");
    }
    text
}

/// A step's result: the error carries the name of the step that failed.
pub(super) type Step<T> = Result<T, (&'static str, InitError)>;

pub(super) fn step<T, E: Into<InitError>>(name: &'static str, result: Result<T, E>) -> Step<T> {
    result.map_err(|e| (name, e.into()))
}

/// The container's setup, in the order the kernel needs it. Returns the program to exec,
/// the state JSON for the startContainer hooks and the descriptor table to reopen the fifo by.
fn setup(ctx: &InitContext<'_>) -> Step<(CString, Option<String>, OwnDescriptors)> {
    let plan = ctx.plan;
    // 0. A new user namespace first gets its maps: an unprivileged parent writes our
    //    /proc/PID/{uid,gid}_map and setgroups, which are its own only while we are dumpable.
    //    Nothing of the container runs before the maps exist.
    if plan.user.as_ref().is_some_and(|u| !u.joined) {
        step("wait for id mappings", wait_ids_mapped(&ctx.channel))?;
    }
    // Nothing of the host's environment goes further than berth itself: blank our copy, which
    // /proc/1/environ would otherwise show a process exec'd into the container.
    sys::scrub_environment();
    // Until execve replaces it, this process is a copy of the host's berth binary: keep other
    // processes (the container's, once it runs) from reaching it through /proc/PID/exe or
    // ptrace (CVE-2019-5736). The kernel makes the exec'd program dumpable again.
    step("set non-dumpable", nix::sys::prctl::set_dumpable(false).map_err(syscall("prctl", "PR_SET_DUMPABLE")))?;
    // Until `create` has recorded the container, a create killed part-way takes us with it.
    step("die with the creator", die_with_creator(&ctx.channel))?;
    // Exact modes for the nodes and directories we create; the process's umask comes later.
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    // 1. Join the namespaces given by path (the new ones came with the clone), unless a joiner
    //    did before cloning us; then become root of the user namespace.
    if !ctx.joined_before_clone {
        step("join namespaces", plan.namespaces.join_in_child())?;
    }
    if let Some(user) = &plan.user {
        step("enter user namespace", enter_user_namespace(user))?;
        // Changing our uid cleared the parent-death signal: set it again.
        step("die with the creator", die_with_creator(&ctx.channel))?;
    }
    // 2. A new cgroup namespace is rooted at the cgroup we are in: wait until we are in ours.
    //    Hooks need the state JSON that comes with the same message, before the mounts.
    let mut joined = None;
    if ctx.unshare_cgroup_namespace || plan.hooks.is_some() {
        joined = Some(step("wait for cgroup", wait_cgroup_joined(&ctx.channel))?);
    }
    if ctx.unshare_cgroup_namespace {
        step("unshare cgroup namespace", nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP).map_err(syscall("unshare", "cgroup namespace")))?;
    }
    // 3. Host and domain name, in the new uts namespace.
    if let Some(name) = &plan.hostname {
        step("set hostname", nix::unistd::sethostname(name).map_err(syscall("sethostname", name.as_str())))?;
    }
    if let Some(name) = &plan.domainname {
        step("set domainname", sys::set_domainname(name).map_err(|source| InitError::Syscall { op: "setdomainname", what: name.clone(), source }))?;
    }
    // 4. Process limits. Every write into /proc goes through a procfs handle of our own, which
    //    no mount of the container can cover (see procfs); it is closed before the container
    //    could reach it through /proc/1/fd.
    let procfs = match plan.process.oom_score_adj.is_some() || !plan.sysctl.is_empty() {
        true => Some(step("open procfs", ProcFs::open(Files::All))?),
        false => None,
    };
    if let (Some(adj), Some(procfs)) = (plan.process.oom_score_adj, &procfs) {
        step("set oom_score_adj (process.oomScoreAdj)", procfs.write(Path::new("thread-self/oom_score_adj"), adj.to_string().as_bytes()))?;
    }
    step("set rlimits", security::apply_rlimits(&plan.process.rlimits))?;
    // 5. The filesystem: mounts and /dev; the hooks that run before pivot_root; pivot_root.
    //    Without a mount namespace of its own, the mounts (if any) go under the rootfs in the
    //    inherited or joined one, and the init chroots.
    let own_mounts = plan.namespaces.has_new(libc::CLONE_NEWNS);
    let mounts_here = own_mounts || !plan.mounts.is_empty();
    if mounts_here {
        step("prepare rootfs", crate::rootfs::prepare(plan, &ctx.cgroup_dirs, ctx.detached))?;
    }
    if let (Some(hooks), Some(Some(state))) = (&plan.hooks, &joined) {
        step("prestart and createRuntime hooks", run_parent_hooks(&ctx.channel, hooks))?;
        // In the container's namespaces, with its root as the working directory (runc's).
        step("createContainer hooks", nix::unistd::chdir(&plan.rootfs).map_err(syscall("chdir", plan.rootfs.display().to_string())))?;
        step("createContainer hooks", hooks::run(Stage::CreateContainer, hooks, state.as_bytes()))?;
    }
    if own_mounts {
        step("pivot_root", crate::rootfs::enter(plan, ctx.no_pivot))?;
    } else {
        step("chroot", nix::unistd::chroot(&plan.rootfs).map_err(syscall("chroot", plan.rootfs.display().to_string())))?;
        step("chroot", nix::unistd::chdir("/").map_err(syscall("chdir", "/")))?;
    }
    // 6. Kernel parameters, in the container's own /proc, while /proc/sys is still writable.
    if let Some(procfs) = &procfs {
        for (key, value) in &plan.sysctl {
            let path = Path::new("sys").join(key.replace('.', "/"));
            step("set sysctl (linux.sysctl)", procfs.write(&path, value.as_bytes()))?;
        }
    }
    drop(procfs);
    // 6b. Masked and read-only paths, read-only root.
    if mounts_here {
        step("finalize rootfs", crate::rootfs::finalize(plan, own_mounts))?;
    }
    // 7. A terminal, handed to whoever listens on the console socket.
    if let Some(console) = &ctx.console_socket {
        step("set up console", tty::setup_console(console, own_mounts))?;
    }
    // 8. The program must exist in the container before we say we are ready.
    let program = step("find executable", find_executable(&plan.process))?;
    // 9. Nothing of the container runs before it is in its cgroup.
    if joined.is_none() {
        step("wait for cgroup", wait_cgroup_joined(&ctx.channel))?;
    }
    // 10. Our descriptor table, opened now through the verified procfs handle, for reopening
    //     the exec fifo after `start`: the container may have mounted over its /proc by then
    //     (a process exec'd into it), and a seccomp profile may refuse openat2. Were a private
    //     instance needed, it would show processes only, since the container can reach this
    //     descriptor through /proc/1/fd meanwhile.
    let own_fds = step("open /proc/thread-self/fd", ProcFs::open(Files::ProcessesOnly).and_then(|p| p.own_descriptors()))?;
    // 11. Who the process is and what it may do.
    become_process(&plan.process, ctx.preserve_fds)?;
    step("die with the creator", die_with_creator(&ctx.channel))?;
    // 12. Ready: the parent records the container as created, then we may outlive it.
    step("report ready", ctx.channel.send(&ToParent::Ready))?;
    step("wait until recorded", outlive_creator(&ctx.channel))?;
    Ok((program, joined.flatten(), own_fds))
}

/// Die (SIGKILL) when the creator does, and make sure it has not already: its end of the sync
/// socket is closed when it exits, before the kernel would send the parent-death signal, so a
/// creator that died before the prctl shows as a closed socket. The kernel clears the setting
/// when our uid or gid changes; callers set it again after each change.
fn die_with_creator(channel: &Channel) -> Result<(), InitError> {
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).map_err(syscall("prctl", "PR_SET_PDEATHSIG"))?;
    if channel.peer_gone() {
        sys::exit_immediately(1);
    }
    Ok(())
}

/// Wait until the creator has recorded the container, then stop dying with it and say so.
fn outlive_creator(channel: &Channel) -> Result<(), InitError> {
    match channel.recv::<ToChild>()? {
        ToChild::Recorded => {}
        other => return Err(SyncError::Unexpected(other.name()).into()),
    }
    nix::sys::prctl::set_pdeathsig(None).map_err(syscall("prctl", "PR_SET_PDEATHSIG"))?;
    Ok(channel.send(&ToParent::Disarmed)?)
}

/// Wait until the parent has written our new user namespace's maps.
fn wait_ids_mapped(channel: &Channel) -> Result<(), InitError> {
    match channel.recv::<ToChild>()? {
        ToChild::IdsMapped => Ok(()),
        other => Err(SyncError::Unexpected(other.name()).into()),
    }
}

/// In a joined user namespace, check the maps config.json expects; then become the
/// namespace's root.
fn enter_user_namespace(user: &crate::plan::UserPlan) -> Result<(), InitError> {
    if user.joined {
        crate::userns::check_joined_mappings(user)?;
    }
    Ok(crate::userns::become_root()?)
}

/// Wait for the parent's CgroupJoined; returns the hooks' state JSON it carries.
fn wait_cgroup_joined(channel: &Channel) -> Result<Option<String>, InitError> {
    match channel.recv::<ToChild>()? {
        ToChild::CgroupJoined { hook_state } => {
            // A seccomp listener gets this state with the notify fd.
            if let Some(state) = &hook_state {
                security::remember_container_state(state);
            }
            Ok(hook_state)
        }
        other => Err(SyncError::Unexpected(other.name()).into()),
    }
}

/// Ask the parent to run the host-side hooks (prestart, createRuntime) and wait until it has.
fn run_parent_hooks(channel: &Channel, hooks: &oci_spec::runtime::Hooks) -> Result<(), InitError> {
    if Stage::Prestart.of(hooks).is_empty() && Stage::CreateRuntime.of(hooks).is_empty() {
        return Ok(());
    }
    channel.send(&ToParent::RunHooks)?;
    match channel.recv::<ToChild>()? {
        ToChild::HooksDone => Ok(()),
        other => Err(SyncError::Unexpected(other.name()).into()),
    }
}

/// Block on the exec fifo until `berth start` opens it, then exec the process.
fn wait_for_start_and_exec(ctx: &InitContext<'_>, program: CString, hook_state: Option<String>, own_fds: OwnDescriptors) -> Step<std::convert::Infallible> {
    let plan = ctx.plan;
    // Reopen the O_PATH fifo for writing through our own fd table: the open blocks until
    // `start` opens the other end.
    let fifo = step("wait for start", own_fds.reopen(ctx.exec_fifo.as_fd(), libc::O_WRONLY))?;
    drop(own_fds);
    // The startContainer hooks run before the byte that lets `start` return, so that when it
    // returns they have run (and a failing one makes `start` fail, the init gone).
    if let (Some(hooks), Some(state)) = (&plan.hooks, &hook_state) {
        step("startContainer hooks", hooks::run_with_env(Stage::StartContainer, hooks, state.as_bytes(), &plan.process.env))?;
    }
    step("wait for start", nix::unistd::write(&fifo, &[0]).map_err(syscall("write", "exec fifo")))?;
    drop(fifo);
    exec_process(&plan.process, &program)
}

/// Take on the process's identity: inherited fds, cwd, bounding set, user and groups,
/// capabilities.
pub(super) fn become_process(process: &ProcessPlan, preserve_fds: i32) -> Step<()> {
    // Inherited fds close at exec; marked now, before seccomp (a strict profile may refuse
    // close_range) and before the cwd is entered.
    step("pass file descriptors", pass_fds(preserve_fds))?;
    // The LSM labels for execve, while fsopen and openat2 are still allowed (see procfs).
    step("set security labels", security::set_exec_labels(process))?;
    // The cwd first while still root, as runc: a cwd only root can enter still works. If
    // root may not enter it (a volume only the container's user can read), try again as
    // that user below.
    let cwd = &process.cwd;
    // Each chdir is checked to have stayed inside the root (CVE-2024-21626).
    let chdir = || {
        nix::unistd::chdir(cwd).map_err(syscall("chdir", format!("{} (process.cwd)", cwd.display())))?;
        check_cwd_inside_root(cwd)
    };
    let cwd_later = match nix::unistd::chdir(cwd) {
        Ok(()) => {
            step("chdir", check_cwd_inside_root(cwd))?;
            false
        }
        Err(nix::errno::Errno::EACCES | nix::errno::Errno::EPERM) => true,
        Err(_) => return step("chdir", chdir()),
    };
    // Without no_new_privs, installing a filter needs CAP_SYS_ADMIN, which is about to go:
    // install it now (as runc does); the profile must then allow the few syscalls left.
    if let (Some(seccomp), false) = (&process.seccomp, process.no_new_privileges) {
        step("install seccomp", security::install_seccomp(seccomp))?;
    }
    step("drop capabilities", security::limit_bounding_set(process))?;
    step("switch user", security::switch_user(process))?;
    step("set capabilities", security::apply_capabilities(process))?;
    if cwd_later {
        step("chdir", chdir())?;
    }
    Ok(())
}

/// The kernel names a cwd outside our root "(unreachable)/...", which getcwd(3) reports as
/// ENOENT: such a cwd came through a descriptor of the host (CVE-2024-21626).
fn check_cwd_inside_root(cwd: &Path) -> Result<(), InitError> {
    match nix::unistd::getcwd() {
        Ok(path) if path.is_absolute() => Ok(()),
        Ok(_) | Err(nix::errno::Errno::ENOENT) => Err(InitError::CwdOutsideRoot(cwd.to_owned())),
        Err(e) => Err(syscall("getcwd", format!("{} (process.cwd)", cwd.display()))(e)),
    }
}

/// The last steps before the program runs: umask, signal dispositions and mask, then
/// no_new_privs and seccomp, then execve. Returns only on failure.
pub(super) fn exec_process(process: &ProcessPlan, program: &CString) -> Step<std::convert::Infallible> {
    let umask = process.umask.unwrap_or(0o022);
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(umask));
    // The program starts with every signal at its default action and none blocked, whatever
    // its manager ignored or berth run blocked to forward them.
    sys::reset_signal_dispositions();
    step("reset signal mask", nix::sys::signal::sigprocmask(nix::sys::signal::SigmaskHow::SIG_SETMASK, Some(&nix::sys::signal::SigSet::empty()), None).map_err(syscall("sigprocmask", "")))?;
    let args: Vec<CString> = process.args.iter().map(|a| CString::new(a.as_bytes()).unwrap_or_default()).collect();
    let env: Vec<CString> = process.env.iter().map(|e| CString::new(e.as_bytes()).unwrap_or_default()).collect();
    if process.no_new_privileges {
        step("set no_new_privs", security::set_no_new_privs())?;
        // With no_new_privs any process may install a filter: do it last, so that only
        // execve runs under it before the container's program (a strict profile need not
        // allow what berth itself calls).
        if let Some(seccomp) = &process.seccomp {
            step("install seccomp", security::install_seccomp(seccomp))?;
        }
    }
    let err = nix::unistd::execve(program, &args, &env).unwrap_err();
    Err(("exec", syscall("execve", program.to_string_lossy().into_owned())(err)))
}

/// fds 3 .. 3+N stay open across exec; everything above is closed by it.
fn pass_fds(preserve: i32) -> Result<(), InitError> {
    for fd in 3..3 + preserve {
        // The caller handed these over; clear close-on-exec so they survive. A number the
        // caller left closed is not an error (runc skips it too).
        let _ = sys::clear_close_on_exec(fd);
    }
    let first = 3 + preserve;
    if sys::close_range_on_exec(first as u32).is_ok() {
        return Ok(());
    }
    // Refused (an old kernel, a seccomp profile inherited from the caller): walk the fd table.
    let procfs = ProcFs::open(Files::ProcessesOnly)?;
    for fd in procfs.open_descriptors()?.into_iter().filter(|&fd| fd >= first) {
        sys::set_close_on_exec(fd).map_err(|source| InitError::Syscall { op: "fcntl(FD_CLOEXEC)", what: format!("fd {fd}"), source })?;
    }
    Ok(())
}

/// Look process.args[0] up on the container's PATH, as execvp would, inside the new root.
pub(super) fn find_executable(process: &ProcessPlan) -> Result<CString, InitError> {
    use std::os::unix::fs::PermissionsExt;
    let name = &process.args[0];
    let executable = |p: &Path| std::fs::metadata(p).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false);
    let found = if name.contains('/') {
        let path = process.cwd.join(name);
        match std::fs::metadata(&path) {
            Err(e) => return Err(InitError::NotExecutable { path, reason: e.to_string() }),
            Ok(_) if !executable(&path) => return Err(InitError::NotExecutable { path, reason: "not an executable file".into() }),
            Ok(_) => path,
        }
    } else {
        process
            .search_path()
            .split(':')
            .map(|dir| Path::new(if dir.is_empty() { "." } else { dir }).join(name))
            .find(|candidate| executable(candidate))
            .ok_or_else(|| InitError::NotInPath(name.clone()))?
    };
    CString::new(found.as_os_str().as_bytes()).map_err(|_| InitError::NotInPath(name.clone()))
}
