//! Creating and starting the container with the keeper holding its stdio.

use std::os::fd::{AsFd, OwnedFd};
use std::process::Stdio;

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::unistd::pipe2;

use super::error::Error;
use super::plan::Plan;
use super::runtime::{CreateStdio, RuntimeCli};
use super::state::StateDir;
use crate::console::ConsoleSocket;
use crate::sys::{self, WindowSize};

/// The keeper's ends of the container's stdio, all non-blocking and close-on-exec.
#[derive(Debug, Default)]
pub struct ContainerIo {
    /// Whether `output` is a pty master (then it carries both streams, and input too).
    pub tty: bool,
    /// The stdout pipe's read end, or the pty master.
    pub output: Option<OwnedFd>,
    /// The stderr pipe's read end (pipes only).
    pub errors: Option<OwnedFd>,
    /// The stdin pipe's write end, or a second descriptor of the pty master (with -i).
    pub input: Option<OwnedFd>,
}

/// Creates the container through the runtime with stdio the keeper holds, and starts it.
/// Returns the init's pid. On failure the runtime's container is deleted again.
pub fn launch(
    plan: &Plan,
    state: &StateDir,
    runtime: &RuntimeCli,
    size: Option<WindowSize>,
) -> Result<(i32, ContainerIo), Error> {
    let io = create(plan, state, runtime, size).inspect_err(|_| runtime.delete(&plan.id))?;
    let pid_path = state.file("pid");
    let started = state.pid().ok_or_else(|| Error::BadState {
        path: pid_path.clone(),
        reason: "the runtime wrote no pid".into(),
    });
    let pid = started
        .and_then(|pid| runtime.start(&plan.id).map(|()| pid))
        .inspect_err(|_| runtime.delete(&plan.id))?;
    Ok((pid, io))
}

fn create(
    plan: &Plan,
    state: &StateDir,
    runtime: &RuntimeCli,
    size: Option<WindowSize>,
) -> Result<ContainerIo, Error> {
    let pid_file = state.file("pid");
    if plan.tty {
        // 1. A console socket for the runtime to send the pty master to.
        let socket = ConsoleSocket::bind(&state.file("console.sock"))?;
        // 2. create, with nothing of ours as its stdio.
        let stdio = CreateStdio { stdin: Stdio::null(), stdout: Stdio::null(), stderr: Stdio::null() };
        let child = runtime.spawn_create(&plan.id, &plan.bundle, &pid_file, Some(socket.path()), stdio)?;
        // 3. Take the master while create runs; a create that fails never connects.
        let pidfd = sys::pidfd_open(child.id() as i32).map_err(Error::io(socket.path(), "pidfd_open"))?;
        let received = socket.receive(&pidfd);
        runtime.finish(&plan.id, "create", child)?;
        let master = received?;
        if let Some(size) = size {
            sys::set_window_size(master.as_fd(), size).map_err(Error::io(socket.path(), "TIOCSWINSZ"))?;
        }
        set_nonblocking(&master)?;
        let input = if plan.stdin {
            Some(master.try_clone().map_err(Error::io(socket.path(), "dup"))?)
        } else {
            None
        };
        return Ok(ContainerIo { tty: true, output: Some(master), errors: None, input });
    }
    // 1. Pipes: the container gets the blocking ends (a fast writer waits rather than loses
    //    data), the keeper keeps the other ends, non-blocking.
    let (stdout_read, stdout_write) = pipe()?;
    let (stderr_read, stderr_write) = pipe()?;
    let (stdin_child, input) = if plan.stdin {
        let (read, write) = pipe()?;
        (Stdio::from(read), Some(write))
    } else {
        (Stdio::null(), None)
    };
    // 2. create passes its stdio on to the init; our copies of those ends close with `stdio`.
    let stdio = CreateStdio { stdin: stdin_child, stdout: stdout_write.into(), stderr: stderr_write.into() };
    let child = runtime.spawn_create(&plan.id, &plan.bundle, &pid_file, None, stdio)?;
    runtime.finish(&plan.id, "create", child)?;
    for fd in [Some(&stdout_read), Some(&stderr_read), input.as_ref()].into_iter().flatten() {
        set_nonblocking(fd)?;
    }
    Ok(ContainerIo { tty: false, output: Some(stdout_read), errors: Some(stderr_read), input })
}

fn pipe() -> Result<(OwnedFd, OwnedFd), Error> {
    pipe2(OFlag::O_CLOEXEC).map_err(Error::sys("pipe2"))
}

pub fn set_nonblocking(fd: &OwnedFd) -> Result<(), Error> {
    let flags = fcntl(fd, FcntlArg::F_GETFL).map_err(Error::sys("fcntl F_GETFL"))?;
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    fcntl(fd, FcntlArg::F_SETFL(flags)).map_err(Error::sys("fcntl F_SETFL")).map(drop)
}
