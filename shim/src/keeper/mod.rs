//! The standalone keeper: `berth-shim run` and the client commands that reach a kept container.
//!
//! `run` drives a runc-compatible runtime binary (`create`, then `start`), holds the
//! container's stdio, writes its log, reaps it as a subreaper, writes the exit code, and
//! answers clients on a socket in the container's state directory. `ps`, `logs`, `attach`,
//! `wait`, `kill` and `rm` are those clients ([`client`], [`logs`]).

pub mod client;
mod detach;
mod error;
mod launch;
pub mod logs;
mod plan;
pub mod protocol;
mod runtime;
mod serve;
pub mod state;
mod terminal;

pub use error::Error;
pub use plan::{Plan, RunOptions};
pub use state::{Status, DEFAULT_ROOT};
pub use terminal::RawTerminal;

use std::os::fd::AsFd;
use std::path::PathBuf;

use nix::sys::signal::SigmaskHow;

use crate::container_log::{Format, LogWriter};
use crate::reaper;
use crate::sys;
use detach::Side;
use runtime::RuntimeCli;
use serve::{Foreground, Keeper};
use state::{Record, StateDir};

/// `berth-shim run`: runs the container and keeps it. In the foreground, returns the
/// container's exit code; detached, returns 0 once the container has started.
pub fn run(options: &RunOptions) -> Result<i32, Error> {
    // 1. Check everything that can be checked before anything is made.
    let plan = Plan::new(options)?;
    // 2. Claim the id: the state directory, and the lock the keeper holds while it lives.
    let (state, lock) = StateDir::claim(&plan.root, &plan.id)?;
    // 3. Detached: the rest happens in a keeper that outlives us; we wait for its report.
    let report = if plan.detach {
        match detach::detach() {
            Ok(Side::Caller(outcome)) => {
                return outcome.map(|()| 0).map_err(|message| Error::Keeper { id: plan.id.clone(), message })
            }
            Ok(Side::Keeper(report)) => Some(report),
            Err(e) => {
                let _ = state.remove();
                return Err(e);
            }
        }
    } else {
        None
    };
    let result = keep(&plan, &state, report);
    drop(lock);
    result
}

/// Everything the keeper does from its own process: start the container, serve it, clean up.
fn keep(plan: &Plan, state: &StateDir, report: Option<detach::Report>) -> Result<i32, Error> {
    let started = start(plan, state);
    let (keeper, runtime) = match started {
        Ok(started) => {
            if let Some(report) = report {
                report.send(Ok(()));
            }
            started
        }
        Err(e) => {
            // Nothing may stay behind from a container that did not start.
            let _ = state.remove();
            if let Some(report) = report {
                report.send(Err(&e));
            }
            return Err(e);
        }
    };
    // The caller's terminal goes raw while its keystrokes go to the container's terminal.
    let raw = (!plan.detach && plan.tty && plan.stdin).then(RawTerminal::enter).flatten();
    let mut exit_files = vec![state.file("exit")];
    exit_files.extend(plan.exit_file.clone());
    let served = keeper.serve(&exit_files);
    if let Err(e) = &served {
        serve::note_problem(&state.file("keeper.err"), e);
    }
    drop(raw);
    // The runtime's record of the container goes; the keeper's state stays for ps, logs, wait.
    runtime.delete(&plan.id);
    let _ = std::fs::remove_file(state.file("attach.sock"));
    if plan.remove {
        let _ = state.remove();
    }
    Ok(served?.code())
}

/// Steps 4 to 7: become the subreaper, open the log, create and start the container, listen.
fn start(plan: &Plan, state: &StateDir) -> Result<(Keeper, RuntimeCli), Error> {
    // 4. Orphans of the container (its init, once the runtime exits) become our children, and
    //    the signals we relay wait in a signalfd instead of killing us while we set up.
    reaper::become_subreaper().map_err(Error::sys("prctl PR_SET_CHILD_SUBREAPER"))?;
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&serve::handled_signals()), None)
        .map_err(Error::sys("sigprocmask"))?;
    // 5. The record clients read, and the log (opened before the container can write).
    let log_path = plan.log.as_ref().map(|(path, _)| path.clone().unwrap_or_else(|| state.file("container.log")));
    let log_format = plan.log.as_ref().map(|(_, format)| *format);
    state.write_record(&Record {
        id: plan.id.clone(),
        bundle: plan.bundle.clone(),
        runtime: plan.runtime.clone(),
        runtime_root: plan.runtime_root.clone(),
        log: log_path.clone(),
        log_format: match log_format {
            Some(Format::Cri) => "cri",
            Some(Format::Json) => "json",
            None => "none",
        }
        .to_owned(),
        tty: plan.tty,
        stdin: plan.stdin,
        keeper_pid: std::process::id() as i32,
        created: crate::container_log::rfc3339_nano(std::time::SystemTime::now()),
    })?;
    let log = match (&log_path, log_format) {
        (Some(path), Some(format)) => Some(LogWriter::open(path, format, plan.rotation)?),
        _ => None,
    };
    // 6. The socket clients attach to, before the container runs, so none finds it missing.
    let listener = protocol::listen_at(&state.socket())
        .map_err(|e| Error::Io { path: state.file("attach.sock"), op: "listen", source: e.into() })?;
    // 7. Create and start the container with stdio we hold.
    let runtime = RuntimeCli {
        program: plan.runtime.clone(),
        root: plan.runtime_root.clone(),
        log: state.file("runtime.log"),
    };
    let foreground = (!plan.detach).then_some(Foreground { stdin: plan.stdin, tty: plan.tty });
    let size = if foreground.is_some() && plan.tty { sys::window_size(std::io::stdin().as_fd()).ok() } else { None };
    let (pid, io) = launch::launch(plan, state, &runtime, size)?;
    if let Some(pid_file) = &plan.pid_file {
        state::write_atomic(pid_file, pid.to_string().as_bytes())?;
    }
    let keeper = Keeper::new(pid, io, listener, log, foreground, state.file("keeper.err"))?;
    Ok((keeper, runtime))
}

/// The default log of a container whose state directory is `dir`.
pub fn default_log(dir: &std::path::Path) -> PathBuf {
    dir.join("container.log")
}
