//! `exec`: run another process in a live container.

use super::foreground::Foreground;
use super::{console_target, load, write_pid_file, ContainerError, Verb};
use crate::process::{self, ExecSpawn};
use crate::plan::{self, ProcessPlan};
use crate::state::Status;
use nix::sched::CloneFlags;
use oci_spec::runtime::Process;
use std::path::{Path, PathBuf};

/// Which process to run: a full process.json, or a command laid over the container's own
/// process (its env, cwd, user, capabilities), as runc's exec flags do.
pub enum ExecProcess {
    /// An OCI process object (`exec --process FILE`), used as it is.
    Spec(Box<Process>),
    /// A command and the flags that change the container's defaults.
    Command(CommandOverrides),
}

/// `exec` flags laid over the container's process.
#[derive(Debug, Default)]
pub struct CommandOverrides {
    pub args: Vec<String>,
    /// NAME=value entries added to (or replacing in) the container's env.
    pub env: Vec<String>,
    pub cwd: Option<PathBuf>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub additional_gids: Vec<u32>,
    pub terminal: bool,
    pub no_new_privileges: bool,
    /// Capabilities added to the bounding, effective, permitted and ambient sets (never to the
    /// inheritable one: CVE-2022-29162).
    pub caps: Vec<String>,
}

/// Options of `exec`.
pub struct ExecOptions {
    pub process: ExecProcess,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub preserve_fds: i32,
    /// `--cgroup`: a sub-cgroup of the container's to put the process in.
    pub sub_cgroup: Option<String>,
    /// `--ignore-paused`: exec into a paused container (the process starts frozen).
    pub ignore_paused: bool,
}

/// Run a process in container `id`; returns its exit code, or 0 once it runs with `detach`.
pub fn exec(root: &Path, id: &str, opts: ExecOptions) -> Result<i32, ContainerError> {
    let (state, status, _) = load(root, id)?;
    match status {
        Status::Running | Status::Created => {}
        Status::Paused if opts.ignore_paused => {}
        other => return Err(ContainerError::WrongStatus { id: id.to_owned(), verb: Verb::Exec, status: other }),
    }
    let config = plan::load(&state.bundle)?;
    let process = match opts.process {
        ExecProcess::Spec(process) => *process,
        ExecProcess::Command(overrides) => lay_over(config.process().clone().unwrap_or_default(), overrides)?,
    };
    // The container's seccomp profile binds every process in it, not only its init: an exec'd
    // process (kubectl exec, exec probes) must not escape the profile.
    let mut plan = ProcessPlan::new(&process)?;
    if let Some(linux) = config.linux() {
        plan = plan.with_seccomp(linux)?;
    }
    let relayed = plan.terminal && opts.console_socket.is_none() && !opts.detach;
    let mut namespaces = CloneFlags::empty();
    for ns in config.linux().as_ref().and_then(|l| l.namespaces().clone()).unwrap_or_default() {
        namespaces |= CloneFlags::from_bits_retain(ns.typ() as libc::c_int);
    }
    let saved = state.cgroup.as_ref().ok_or_else(|| ContainerError::NoCgroup(id.to_owned()))?;
    let cgroup = berth_cgroups::load(saved)?;
    let foreground = if opts.detach { None } else { Some(Foreground::prepare(relayed)?) };
    let relay = foreground.as_ref().and_then(|f| f.console_peer.as_ref());
    let console = console_target(plan.terminal, opts.console_socket.as_deref(), relay)?;
    let pid = process::spawn_exec(&ExecSpawn {
        init_pid: state.pid,
        namespaces,
        cgroup: cgroup.as_ref(),
        process: &plan,
        preserve_fds: opts.preserve_fds,
        console,
        sub_cgroup: opts.sub_cgroup.as_deref(),
    })?;
    log::debug!("exec {id}: process {pid} runs {:?}", plan.args);
    if let Some(path) = &opts.pid_file {
        write_pid_file(path, pid)?;
    }
    match foreground {
        None => Ok(0),
        Some(foreground) => foreground.wait(pid),
    }
}

/// The container's process with the command line's changes.
fn lay_over(mut process: Process, o: CommandOverrides) -> Result<Process, ContainerError> {
    if o.args.is_empty() {
        return Err(plan::SpecError::invalid("exec", "name the command to run").into());
    }
    process.set_args(Some(o.args));
    let mut env = process.env().clone().unwrap_or_default();
    for var in o.env {
        let name = var.split('=').next().unwrap_or_default().to_owned();
        env.retain(|existing| existing.split('=').next() != Some(name.as_str()));
        env.push(var);
    }
    process.set_env(Some(env));
    if let Some(cwd) = o.cwd {
        process.set_cwd(cwd);
    }
    let mut user = process.user().clone();
    if let Some(uid) = o.uid {
        user.set_uid(uid);
    }
    if let Some(gid) = o.gid {
        user.set_gid(gid);
    }
    if !o.additional_gids.is_empty() {
        user.set_additional_gids(Some(o.additional_gids));
    }
    process.set_user(user);
    process.set_terminal(Some(o.terminal));
    if o.no_new_privileges {
        process.set_no_new_privileges(Some(true));
    }
    if !o.caps.is_empty() {
        let mut caps = process.capabilities().clone().unwrap_or_default();
        let extra: oci_spec::runtime::Capabilities = serde_json::from_value(serde_json::json!(o.caps))
            .map_err(|e| plan::SpecError::invalid("exec --cap", e.to_string()))?;
        let add = |set: &Option<oci_spec::runtime::Capabilities>| {
            let mut set = set.clone().unwrap_or_default();
            set.extend(extra.iter().copied());
            Some(set)
        };
        caps.set_bounding(add(caps.bounding()));
        caps.set_effective(add(caps.effective()));
        caps.set_permitted(add(caps.permitted()));
        // Not inheritable: an inheritable capability survives execve into a program with file
        // capabilities and grows there (CVE-2022-29162); ambient without inheritable is
        // dropped when applied, as runc does.
        caps.set_ambient(add(caps.ambient()));
        process.set_capabilities(Some(caps));
    }
    Ok(process)
}
