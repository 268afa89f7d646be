//! The typed protocol between `berth create` (the parent) and the container's init (the child).
//!
//! One SOCK_SEQPACKET socket pair; each message is one packet of JSON. The stages, in order:
//!
//! 0. (only with a new user namespace) parent → child `IdsMapped`: the parent has written the
//!    init's uid and gid maps; until then the init has no ids to create files with.
//! 1. parent → child `CgroupJoined`: the init is in its cgroup(s). The child waits for it
//!    before unsharing its cgroup namespace (when it must) and before it reports ready, so
//!    nothing of the container runs outside its cgroup. On cgroup v1 the join blocks for an
//!    RCU grace period, so the parent does it while the child is busy with its own setup.
//!    It carries the container's state JSON when the init runs hooks of its own.
//! 2. (only with prestart or createRuntime hooks) child → parent `RunHooks` once the mounts
//!    are made, before pivot_root; the parent runs them on the host and answers `HooksDone`.
//! 3. child → parent `Ready`, or `Failed` naming the step: setup is finished.
//! 4. parent → child `Recorded`: state.json says the container is created; child → parent
//!    `Disarmed`: the init no longer dies with its creator (it did from the clone on, so a
//!    create killed part-way leaves no init behind). The init then blocks on the exec fifo
//!    until `berth start`.

use serde::{Deserialize, Serialize};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

/// What the parent tells the child.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum ToChild {
    /// The init's new user namespace has its uid and gid maps.
    IdsMapped,
    /// The init has been placed in its cgroup(s); `hook_state` is the state JSON its own
    /// hooks (createContainer, startContainer) get on stdin, when it has any.
    CgroupJoined { hook_state: Option<String> },
    /// The parent ran the prestart and createRuntime hooks.
    HooksDone,
    /// The container is recorded as created: the init may outlive its creator now.
    Recorded,
}

impl ToChild {
    /// The message's name, for errors.
    pub fn name(&self) -> &'static str {
        match self {
            ToChild::IdsMapped => "IdsMapped",
            ToChild::CgroupJoined { .. } => "CgroupJoined",
            ToChild::HooksDone => "HooksDone",
            ToChild::Recorded => "Recorded",
        }
    }
}

/// What the child tells the parent.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToParent {
    /// Setup is complete; the init waits for `start`.
    Ready,
    /// The mounts are made: run the prestart and createRuntime hooks now.
    RunHooks,
    /// Setup failed at `step`; the init exits.
    Failed { step: String, message: String },
    /// The init's parent-death signal is off: it outlives its creator.
    Disarmed,
    /// `exec`'s helper has joined every namespace and cloned the process (host pid `pid`,
    /// a child of `berth exec`); the helper exits.
    Spawned { pid: i32 },
}

/// One end of the socket pair.
pub struct Channel {
    fd: OwnedFd,
}

/// A message could not be exchanged.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("sync socket {op}: {source}")]
    Io { op: &'static str, source: io::Error },
    #[error("sync socket: the other side closed it")]
    Closed,
    #[error("sync socket: malformed message: {0}")]
    Malformed(serde_json::Error),
    #[error("sync socket: unexpected {0} at this stage")]
    Unexpected(&'static str),
}

/// A connected pair: (parent's end, child's end). Both are close-on-exec.
pub fn channel_pair() -> Result<(Channel, Channel), SyncError> {
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    let (a, b) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
        .map_err(|e| SyncError::Io { op: "socketpair", source: e.into() })?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    /// Has the other end been closed (its process gone)? Does not wait.
    pub fn peer_gone(&self) -> bool {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::empty())];
        match poll(&mut fds, PollTimeout::ZERO) {
            Ok(_) => fds[0].revents().is_some_and(|r| r.contains(PollFlags::POLLHUP)),
            Err(_) => false,
        }
    }

    /// Send one message.
    pub fn send<T: Serialize>(&self, message: &T) -> Result<(), SyncError> {
        let bytes = serde_json::to_vec(message).map_err(SyncError::Malformed)?;
        nix::sys::socket::send(self.fd.as_raw_fd(), &bytes, nix::sys::socket::MsgFlags::MSG_NOSIGNAL)
            .map_err(|e| SyncError::Io { op: "send", source: e.into() })?;
        Ok(())
    }

    /// Wait for one message; `Closed` if the peer went away first.
    pub fn recv<T: for<'de> Deserialize<'de>>(&self) -> Result<T, SyncError> {
        use nix::sys::socket::{recv, MsgFlags};
        let io = |e: nix::errno::Errno| SyncError::Io { op: "recv", source: e.into() };
        // Each message is one packet: learn its size first (MSG_TRUNC reports the whole
        // length), so a long one (the hooks' state JSON with big annotations) is not cut.
        let size = loop {
            match recv(self.fd.as_raw_fd(), &mut [], MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC) {
                Err(nix::errno::Errno::EINTR) => continue,
                other => break other.map_err(io)?,
            }
        };
        let mut buf = vec![0u8; size.max(1)];
        let n = loop {
            match nix::unistd::read(self.fd.as_fd(), &mut buf) {
                Err(nix::errno::Errno::EINTR) => continue,
                other => break other.map_err(io)?,
            }
        };
        if n == 0 {
            return Err(SyncError::Closed);
        }
        serde_json::from_slice(&buf[..n]).map_err(SyncError::Malformed)
    }
}
