//! OCI hooks: programs run at fixed points of the lifecycle, each with the container's state
//! as JSON on its stdin. Docker's network setup is a prestart hook, CDI injects
//! createContainer hooks.
//!
//! | hook             | who runs it            | when                                      |
//! |------------------|------------------------|-------------------------------------------|
//! | prestart         | berth create (host)    | mounts made, before pivot_root            |
//! | createRuntime    | berth create (host)    | same point, after prestart                |
//! | createContainer  | the init (container)   | after createRuntime, before pivot_root    |
//! | startContainer   | the init (container)   | after `start`, before the program execs   |
//! | poststart        | berth start            | once the program runs                     |
//! | poststop         | berth delete           | after the container is gone               |
//!
//! A failing hook before the program runs fails the container; poststart and poststop
//! failures are logged as warnings and the remaining hooks still run, as the runtime spec
//! asks. createContainer hooks run with the container's root as their working directory.

pub use crate::plan::Stage;
use oci_spec::runtime::{Hook, Hooks};
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A hook that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("hooks.{stage}[{index}] {path}: {source}")]
    Spawn { stage: &'static str, index: usize, path: String, source: std::io::Error },
    #[error("hooks.{stage}[{index}] {path}: exited with {status}")]
    Failed { stage: &'static str, index: usize, path: String, status: std::process::ExitStatus },
    #[error("hooks.{stage}[{index}] {path}: killed after its timeout of {seconds} s")]
    TimedOut { stage: &'static str, index: usize, path: String, seconds: i64 },
}

/// Run every hook of `stage` in order, each with `state` (the state JSON) on stdin; the
/// first failure stops the stage and is returned.
pub fn run(stage: Stage, hooks: &Hooks, state: &[u8]) -> Result<(), HookError> {
    run_with_env(stage, hooks, state, &[])
}

/// `run`, where a hook without an `env` of its own gets `default_env`: startContainer hooks
/// inherit the process's environment, as in runc.
pub fn run_with_env(stage: Stage, hooks: &Hooks, state: &[u8], default_env: &[String]) -> Result<(), HookError> {
    for (index, hook) in stage.of(hooks).iter().enumerate() {
        run_one(stage.name(), index, hook, state, default_env)?;
    }
    Ok(())
}

/// Run every hook of `stage` (poststart, poststop), logging a warning for each one that
/// fails and going on with the rest, as the runtime spec asks.
pub fn run_warning(stage: Stage, hooks: &Hooks, state: &[u8]) {
    for (index, hook) in stage.of(hooks).iter().enumerate() {
        if let Err(e) = run_one(stage.name(), index, hook, state, &[]) {
            log::warn!("{e}");
        }
    }
}

fn run_one(stage: &'static str, index: usize, hook: &Hook, state: &[u8], default_env: &[String]) -> Result<(), HookError> {
    let path = hook.path().display().to_string();
    let spawn_error = |source| HookError::Spawn { stage, index, path: path.clone(), source };
    let args = hook.args().clone().unwrap_or_default();
    let mut command = Command::new(hook.path());
    // args[0] is the hook's argv[0], as in execve.
    if let Some((arg0, rest)) = args.split_first() {
        command.arg0(arg0).args(rest);
    }
    command.env_clear().stdin(Stdio::piped());
    // A hook ends with the berth (or init) that started it: a create killed part-way leaves
    // no hook running.
    crate::sys::die_with_parent(&mut command);
    for var in hook.env().as_deref().unwrap_or(default_env) {
        if let Some((name, value)) = var.split_once('=') {
            command.env(name, value);
        }
    }
    let mut child = command.spawn().map_err(spawn_error)?;
    // A hook that does not read its stdin is not an error, and must not kill berth with
    // SIGPIPE when it exits before we have written.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = crate::sys::without_sigpipe(|| stdin.write_all(state));
    }
    let pidfd = crate::sys::pidfd_open(child.id() as i32).map_err(spawn_error)?;
    if let Some(seconds) = hook.timeout() {
        let mut fds = [nix::poll::PollFd::new(pidfd.as_fd(), nix::poll::PollFlags::POLLIN)];
        let timeout = nix::poll::PollTimeout::try_from(Duration::from_secs(seconds as u64)).unwrap_or(nix::poll::PollTimeout::MAX);
        if nix::poll::poll(&mut fds, timeout).unwrap_or(0) == 0 {
            let _ = child.kill();
            let _ = child.wait();
            return Err(HookError::TimedOut { stage, index, path, seconds });
        }
    }
    let status = child.wait().map_err(spawn_error)?;
    if status.success() {
        Ok(())
    } else {
        Err(HookError::Failed { stage, index, path, status })
    }
}
