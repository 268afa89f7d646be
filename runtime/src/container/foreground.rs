//! `run` and `exec` in the foreground: berth waits for its child, forwarding the signals it
//! gets, and with process.terminal and no --console-socket relays the pty to its own stdio.

use super::{syscall, ContainerError};
use crate::tty::ConsoleRelay;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;

/// A foreground process being prepared: the signals blocked before the clone (so none is
/// lost before the signalfd reads them) and, for a terminal, berth's end of the socket pair
/// that receives the pty master.
pub(super) struct Foreground {
    forwarded: SigSet,
    console_end: Option<UnixStream>,
    /// The other end, handed to the container's process as its console socket.
    pub(super) console_peer: Option<OwnedFd>,
}

impl Foreground {
    /// Block the forwarded signals; with `terminal`, make the socket pair for the pty master.
    pub(super) fn prepare(terminal: bool) -> Result<Foreground, ContainerError> {
        let mut forwarded = SigSet::all();
        for never in [Signal::SIGKILL, Signal::SIGSTOP, Signal::SIGSEGV, Signal::SIGBUS, Signal::SIGILL, Signal::SIGFPE] {
            forwarded.remove(never);
        }
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(&forwarded), None).map_err(|e| syscall("sigprocmask", "")(e.into()))?;
        let (console_end, console_peer) = if terminal {
            let (ours, theirs) = UnixStream::pair().map_err(syscall("socketpair", "console"))?;
            (Some(ours), Some(OwnedFd::from(theirs)))
        } else {
            (None, None)
        };
        Ok(Foreground { forwarded, console_end, console_peer })
    }

    /// The process has no terminal after all: nothing will come over the socket pair.
    pub(super) fn no_terminal(&mut self) {
        self.console_end = None;
        self.console_peer = None;
    }

    /// Wait for our child `pid`, forwarding every signal we receive to it (SIGWINCH resizes
    /// the terminal instead, as in runc), relaying the terminal if there is one. Returns the
    /// exit code to exit with: the child's, or 128+N for signal N.
    pub(super) fn wait(mut self, pid: i32) -> Result<i32, ContainerError> {
        let child = nix::unistd::Pid::from_raw(pid);
        let signals = SignalFd::new(&self.forwarded).map_err(|e| syscall("signalfd", "")(e.into()))?;
        let mut relay = match self.console_end.take() {
            Some(end) => Some(ConsoleRelay::receive(end.as_fd())?),
            None => None,
        };
        loop {
            let exited = match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, code)) => Some(code),
                Ok(WaitStatus::Signaled(_, sig, _)) => Some(128 + sig as i32),
                Ok(_) => None,
                Err(nix::errno::Errno::ECHILD) => Some(0),
                Err(e) => return Err(syscall("waitpid", format!("pid {pid}"))(e.into())),
            };
            if let Some(code) = exited {
                if let Some(relay) = &mut relay {
                    relay.drain();
                }
                return Ok(code);
            }
            let relay_fds = relay.as_ref().map(ConsoleRelay::poll_fds).unwrap_or_default();
            let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
            fds.extend(relay_fds);
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(syscall("poll", "signalfd")(e.into())),
            }
            let ready: Vec<Option<PollFlags>> = fds.iter().map(PollFd::revents).collect();
            drop(fds);
            // Signals first: a resize the user made before typing reaches the container's
            // terminal before what was typed.
            if ready[0].is_some_and(|r| !r.is_empty()) {
                self.forward_one(&signals, child, relay.as_ref())?;
            }
            if let Some(relay) = &mut relay {
                relay.pump(&ready[1..]);
            }
        }
    }

    fn forward_one(&self, signals: &SignalFd, child: nix::unistd::Pid, relay: Option<&ConsoleRelay>) -> Result<(), ContainerError> {
        match signals.read_signal() {
            Ok(Some(info)) => match info.ssi_signo as i32 {
                libc::SIGCHLD => {}
                libc::SIGWINCH => {
                    if let Some(relay) = relay {
                        relay.resize();
                    }
                }
                signo => {
                    let _ = crate::sys::kill(child.as_raw(), signo);
                }
            },
            Ok(None) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(syscall("read", "signalfd")(e.into())),
        }
        Ok(())
    }
}
