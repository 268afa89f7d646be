//! Receiving a container's pty master over the runtime's `--console-socket`.
//!
//! For a process with `terminal: true` the runtime makes the pty inside the container and
//! sends the master end over a unix socket named by `--console-socket` (SCM_RIGHTS), as runc
//! does. The receiver must accept while `create` runs, and give up if `create` exits without
//! connecting (it failed), so it waits on both the socket and a pidfd of the runtime process.

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

/// What went wrong receiving the pty master.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("console socket {path}: bind: {source}")]
    Bind { path: PathBuf, source: std::io::Error },
    #[error("console socket {path}: {step}: {source}")]
    Receive { path: PathBuf, step: &'static str, source: std::io::Error },
    #[error("console socket {path}: the runtime exited without sending the terminal")]
    RuntimeExited { path: PathBuf },
    #[error("console socket {path}: the runtime connected but sent no file descriptor")]
    NoDescriptor { path: PathBuf },
}

/// A bound console socket, removed from the file system on drop.
#[derive(Debug)]
pub struct ConsoleSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ConsoleSocket {
    /// Binds a listening socket at `path` (which must not exist).
    pub fn bind(path: &Path) -> Result<ConsoleSocket, Error> {
        let listener =
            UnixListener::bind(path).map_err(|source| Error::Bind { path: path.to_owned(), source })?;
        Ok(ConsoleSocket { listener, path: path.to_owned() })
    }

    /// The socket's path, for the runtime's `--console-socket`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits for the runtime to connect and send the pty master; fails once `runtime` (a pidfd
    /// of the runtime process) becomes readable, meaning it exited without connecting.
    pub fn receive(&self, runtime: &OwnedFd) -> Result<OwnedFd, Error> {
        let err = |step, source| Error::Receive { path: self.path.clone(), step, source };
        loop {
            let mut fds = [
                PollFd::new(self.listener.as_fd(), PollFlags::POLLIN),
                PollFd::new(runtime.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(err("poll", e.into())),
            }
            let connected = fds[0].revents().is_some_and(|r| r.contains(PollFlags::POLLIN));
            let exited = fds[1].revents().is_some_and(|r| !r.is_empty());
            if connected {
                let (stream, _) = self.listener.accept().map_err(|e| err("accept", e))?;
                return receive_fd(stream.as_raw_fd())
                    .map_err(|e| err("recvmsg", e))?
                    .ok_or_else(|| Error::NoDescriptor { path: self.path.clone() });
            }
            if exited {
                return Err(Error::RuntimeExited { path: self.path.clone() });
            }
        }
    }
}

impl ConsoleSocket {
    /// The pty master of a runtime command that has already returned successfully: its
    /// connection waits in the listen backlog. Fails at once if it never connected.
    pub fn receive_sent(&self) -> Result<OwnedFd, Error> {
        let err = |step, source| Error::Receive { path: self.path.clone(), step, source };
        self.listener.set_nonblocking(true).map_err(|e| err("set nonblocking", e))?;
        let (stream, _) = match self.listener.accept() {
            Ok(connection) => connection,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                return Err(Error::RuntimeExited { path: self.path.clone() })
            }
            Err(e) => return Err(err("accept", e)),
        };
        stream.set_nonblocking(false).map_err(|e| err("set blocking", e))?;
        receive_fd(stream.as_raw_fd())
            .map_err(|e| err("recvmsg", e))?
            .ok_or_else(|| Error::NoDescriptor { path: self.path.clone() })
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Reads one message from a connected socket and adopts the first descriptor it carries.
fn receive_fd(socket: RawFd) -> std::io::Result<Option<OwnedFd>> {
    let mut name = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut name)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(socket, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)?;
    let mut received = None;
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            for fd in fds {
                let owned = crate::sys::adopt_received_fd(fd);
                if received.is_none() {
                    received = Some(owned);
                }
            }
        }
    }
    Ok(received)
}
