//! The keeper's socket protocol (`attach.sock`, SOCK_SEQPACKET).
//!
//! Every packet is one message: a kind byte, then its payload. A client opens with one request
//! (attach, wait or kill) and the keeper answers on the same connection. SEQPACKET keeps message
//! boundaries, so no length framing is needed, and a message never exceeds [`MAX_PAYLOAD`]+1
//! bytes.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::sys::socket::{
    accept4, bind, connect, listen, recv, send, socket, AddressFamily, Backlog, MsgFlags, SockFlag,
    SockType, UnixAddr,
};

/// The largest payload of one message (output is sent in pieces this big).
pub const MAX_PAYLOAD: usize = 32 * 1024;

/// Client to keeper.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// Stream the container's output; with `stdin`, accept input too.
    Attach { stdin: bool },
    /// Answer with [`Reply::Exit`] when the container ends.
    Wait,
    /// Send this signal to the container's init.
    Kill(i32),
    /// Input for the container's stdin (after `Attach { stdin: true }`).
    Stdin(Vec<u8>),
    /// The attached terminal's new size.
    Resize { rows: u16, cols: u16 },
}

/// Keeper to client.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    /// The container ended with this code.
    Exit(i32),
    /// The request was done.
    Done,
    /// The request failed; the text says why.
    Failed(String),
}

impl Request {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Request::Attach { stdin } => vec![b'a', u8::from(*stdin)],
            Request::Wait => vec![b'w'],
            Request::Kill(signal) => tagged(b'k', &signal.to_le_bytes()),
            Request::Stdin(data) => tagged(b'i', data),
            Request::Resize { rows, cols } => {
                let mut out = vec![b'r'];
                out.extend_from_slice(&rows.to_le_bytes());
                out.extend_from_slice(&cols.to_le_bytes());
                out
            }
        }
    }

    pub fn decode(packet: &[u8]) -> Option<Request> {
        let (&kind, payload) = packet.split_first()?;
        Some(match kind {
            b'a' => Request::Attach { stdin: payload.first() == Some(&1) },
            b'w' => Request::Wait,
            b'k' => Request::Kill(i32::from_le_bytes(payload.try_into().ok()?)),
            b'i' => Request::Stdin(payload.to_vec()),
            b'r' if payload.len() == 4 => Request::Resize {
                rows: u16::from_le_bytes([payload[0], payload[1]]),
                cols: u16::from_le_bytes([payload[2], payload[3]]),
            },
            _ => return None,
        })
    }
}

impl Reply {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Reply::Stdout(data) => tagged(b'o', data),
            Reply::Stderr(data) => tagged(b'e', data),
            Reply::Exit(code) => tagged(b'x', &code.to_le_bytes()),
            Reply::Done => vec![b'd'],
            Reply::Failed(text) => tagged(b'!', text.as_bytes()),
        }
    }

    pub fn decode(packet: &[u8]) -> Option<Reply> {
        let (&kind, payload) = packet.split_first()?;
        Some(match kind {
            b'o' => Reply::Stdout(payload.to_vec()),
            b'e' => Reply::Stderr(payload.to_vec()),
            b'x' => Reply::Exit(i32::from_le_bytes(payload.try_into().ok()?)),
            b'd' => Reply::Done,
            b'!' => Reply::Failed(String::from_utf8_lossy(payload).into_owned()),
            _ => return None,
        })
    }
}

fn tagged(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 1);
    out.push(kind);
    out.extend_from_slice(payload);
    out
}

fn seqpacket() -> nix::Result<OwnedFd> {
    socket(AddressFamily::Unix, SockType::SeqPacket, SockFlag::SOCK_CLOEXEC, None)
}

/// A listening socket at `path` (non-blocking, close-on-exec).
pub fn listen_at(path: &Path) -> nix::Result<OwnedFd> {
    let fd = socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )?;
    bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &UnixAddr::new(path)?)?;
    listen(&fd, Backlog::new(16)?)?;
    Ok(fd)
}

/// Accepts one client, non-blocking and close-on-exec.
pub fn accept(listener: &OwnedFd) -> nix::Result<OwnedFd> {
    let fd = accept4(
        std::os::fd::AsRawFd::as_raw_fd(listener),
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
    )?;
    Ok(crate::sys::adopt_received_fd(fd))
}

/// Connects to the keeper's socket at `path` (blocking).
pub fn connect_to(path: &Path) -> nix::Result<OwnedFd> {
    let fd = seqpacket()?;
    connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &UnixAddr::new(path)?)?;
    Ok(fd)
}

/// Sends one packet; `Ok(false)` when the socket is full (non-blocking) and nothing was sent.
pub fn send_packet(fd: impl AsFd, packet: &[u8]) -> nix::Result<bool> {
    let flags = MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT;
    match send(std::os::fd::AsRawFd::as_raw_fd(&fd.as_fd()), packet, flags) {
        Ok(_) => Ok(true),
        Err(nix::errno::Errno::EAGAIN) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Sends one packet, waiting for room.
pub fn send_blocking(fd: impl AsFd, packet: &[u8]) -> nix::Result<()> {
    send(std::os::fd::AsRawFd::as_raw_fd(&fd.as_fd()), packet, MsgFlags::MSG_NOSIGNAL).map(drop)
}

/// Receives one packet into `buf`; `Ok(None)` at end of stream.
pub fn recv_packet(fd: impl AsFd, buf: &mut [u8]) -> nix::Result<Option<&[u8]>> {
    let n = recv(std::os::fd::AsRawFd::as_raw_fd(&fd.as_fd()), buf, MsgFlags::empty())?;
    Ok((n > 0).then(|| &buf[..n]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        for request in [
            Request::Attach { stdin: true },
            Request::Wait,
            Request::Kill(15),
            Request::Stdin(b"ls\n".to_vec()),
            Request::Resize { rows: 40, cols: 120 },
        ] {
            assert_eq!(Request::decode(&request.encode()), Some(request));
        }
        for reply in [Reply::Stdout(b"x".to_vec()), Reply::Exit(137), Reply::Done, Reply::Failed("no".into())] {
            assert_eq!(Reply::decode(&reply.encode()), Some(reply));
        }
    }
}
