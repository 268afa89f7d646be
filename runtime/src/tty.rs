//! process.terminal: a pseudo-terminal made inside the container, whose master end goes to
//! the manager over --console-socket (SCM_RIGHTS, as runc sends it) and whose slave end
//! becomes the process's stdio and controlling terminal.

use crate::sys;
use nix::fcntl::OFlag;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

/// A failed terminal step, naming the syscall.
#[derive(Debug, thiserror::Error)]
pub enum TtyError {
    #[error("console: {op}: {source}")]
    Syscall { op: &'static str, source: std::io::Error },
}

fn err(op: &'static str) -> impl FnOnce(nix::Error) -> TtyError {
    move |e| TtyError::Syscall { op, source: e.into() }
}

/// Make the pty (in the container's devpts), send its master to `socket`, and make the slave
/// this process's controlling terminal and stdio.
pub fn setup_console(socket: BorrowedFd<'_>) -> Result<(), TtyError> {
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC).map_err(err("open /dev/ptmx"))?;
    nix::pty::grantpt(&master).map_err(err("grantpt"))?;
    nix::pty::unlockpt(&master).map_err(err("unlockpt"))?;
    let name = nix::pty::ptsname_r(&master).map_err(err("ptsname"))?;
    let slave = nix::fcntl::open(name.as_str(), OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
        .map_err(err("open pty slave"))?;
    sys::send_fds(socket, name.as_bytes(), &[master.as_raw_fd()])
        .map_err(|source| TtyError::Syscall { op: "send master to --console-socket", source })?;
    drop(master);
    nix::unistd::setsid().map_err(err("setsid"))?;
    sys::set_controlling_terminal(slave.as_fd()).map_err(|source| TtyError::Syscall { op: "ioctl(TIOCSCTTY)", source })?;
    nix::unistd::dup2_stdin(&slave).map_err(err("dup2 stdin"))?;
    nix::unistd::dup2_stdout(&slave).map_err(err("dup2 stdout"))?;
    nix::unistd::dup2_stderr(&slave).map_err(err("dup2 stderr"))?;
    Ok(())
}
