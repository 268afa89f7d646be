//! The client commands: `ps`, `wait`, `kill`, `rm` and `attach`.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use super::error::Error;
use super::protocol::{self, Reply, Request, MAX_PAYLOAD};
use super::state::{self, StateDir, Status};
use super::terminal::RawTerminal;
use super::runtime::RuntimeCli;
use crate::sys;

/// One line of `ps`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Entry {
    pub id: String,
    pub status: String,
    pub exit_code: Option<i32>,
    pub pid: Option<i32>,
    pub bundle: Option<std::path::PathBuf>,
    pub created: Option<String>,
}

/// Every container kept under `root`.
pub fn ps(root: &Path) -> Result<Vec<Entry>, Error> {
    let mut entries = Vec::new();
    for id in state::list(root)? {
        // A directory removed meanwhile (rm, --rm) is simply no longer listed.
        let Ok(state) = StateDir::open(root, &id) else { continue };
        let Ok(status) = state.status() else { continue };
        let record = state.record().ok();
        entries.push(Entry {
            id,
            status: match status {
                Status::Exited(_) => "exited".to_owned(),
                other => other.to_string(),
            },
            exit_code: match status {
                Status::Exited(code) => Some(code),
                _ => None,
            },
            pid: state.pid().filter(|_| status == Status::Running),
            bundle: record.as_ref().map(|r| r.bundle.clone()),
            created: record.map(|r| r.created),
        });
    }
    Ok(entries)
}

/// Connects to the keeper of `state`'s container; None if it no longer listens.
fn connect(state: &StateDir) -> Result<Option<OwnedFd>, Error> {
    match protocol::connect_to(&state.socket()) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::ENOENT | Errno::ECONNREFUSED) => Ok(None),
        Err(e) => Err(Error::Io { path: state.file("attach.sock"), op: "connect", source: e.into() }),
    }
}

/// The exit code of a container whose keeper is gone.
fn final_code(state: &StateDir) -> Result<i32, Error> {
    state.exit_code().ok_or_else(|| {
        let problem = std::fs::read_to_string(state.file("keeper.err")).unwrap_or_default();
        let last = problem.lines().last().unwrap_or("it left no note");
        Error::KeeperGone { id: state.id().to_owned(), path: state.file("exit"), problem: last.to_owned() }
    })
}

/// Receives the next reply; None when the keeper hung up.
fn next_reply(fd: &OwnedFd, buf: &mut [u8]) -> Result<Option<Reply>, Error> {
    loop {
        match protocol::recv_packet(fd, buf) {
            Ok(Some(packet)) => return Ok(Reply::decode(packet)),
            Ok(None) => return Ok(None),
            Err(Errno::EINTR) => continue,
            Err(Errno::ECONNRESET) => return Ok(None),
            Err(e) => return Err(Error::sys("recv from keeper")(e)),
        }
    }
}

/// Waits for the container to end and returns its exit code.
pub fn wait(root: &Path, id: &str) -> Result<i32, Error> {
    let state = StateDir::open(root, id)?;
    if let Some(code) = state.exit_code() {
        return Ok(code);
    }
    let Some(fd) = connect(&state)? else { return final_code(&state) };
    protocol::send_blocking(&fd, &Request::Wait.encode()).map_err(Error::sys("send to keeper"))?;
    let mut buf = vec![0u8; MAX_PAYLOAD + 1];
    while let Some(reply) = next_reply(&fd, &mut buf)? {
        if let Reply::Exit(code) = reply {
            return Ok(code);
        }
    }
    final_code(&state)
}

/// Sends `signal` to the container's init through its keeper (which, as the init's parent,
/// knows the pid is still the container's).
pub fn kill(root: &Path, id: &str, signal: Signal) -> Result<(), Error> {
    let state = StateDir::open(root, id)?;
    let not_running = || Error::NotRunning { id: id.to_owned() };
    let Some(fd) = connect(&state)? else { return Err(not_running()) };
    protocol::send_blocking(&fd, &Request::Kill(signal as i32).encode()).map_err(Error::sys("send to keeper"))?;
    let mut buf = vec![0u8; MAX_PAYLOAD + 1];
    match next_reply(&fd, &mut buf)? {
        Some(Reply::Done) => Ok(()),
        Some(Reply::Failed(message)) => Err(Error::Keeper { id: id.to_owned(), message }),
        _ => Err(not_running()),
    }
}

/// Removes an ended container's state (and its default log). A running one is refused unless
/// `force`, which kills it first.
pub fn rm(root: &Path, id: &str, force: bool) -> Result<(), Error> {
    let state = StateDir::open(root, id)?;
    if matches!(state.status()?, Status::Running | Status::Creating) {
        if !force {
            return Err(Error::StillRunning { id: id.to_owned() });
        }
        // It may end by itself meanwhile; the wait below covers both.
        let _ = kill(root, id, Signal::SIGKILL);
        wait(root, id)?;
    }
    // The keeper deletes the runtime's container after writing the exit code; let it finish.
    if !state.wait_keeper_gone(Duration::from_secs(10))? {
        return Err(Error::StillRunning { id: id.to_owned() });
    }
    // A keeper that died without cleaning up (status lost) leaves the runtime's container.
    if let Ok(record) = state.record() {
        if state.exit_code().is_none() {
            let runtime = RuntimeCli { program: record.runtime, root: record.runtime_root, log: state.file("runtime.log") };
            runtime.delete(id);
        }
    }
    state.remove()
}

/// Options of `attach`.
#[derive(Debug, Clone)]
pub struct AttachOptions {
    /// Send our stdin to the container.
    pub stdin: bool,
    /// The key sequence that detaches (bytes), empty for none.
    pub detach_keys: Vec<u8>,
}

/// How an attach session ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Detached {
    /// The container ended with this code.
    Exited(i32),
    /// The user typed the detach keys.
    ByKeys,
}

/// Relays our stdin to the container and its output to our stdout and stderr until the
/// container ends or the detach keys are typed.
pub fn attach(root: &Path, id: &str, options: &AttachOptions) -> Result<Detached, Error> {
    let state = StateDir::open(root, id)?;
    let record = state.record()?;
    let Some(fd) = connect(&state)? else { return Ok(Detached::Exited(final_code(&state)?)) };
    let send = |request: Request| protocol::send_blocking(&fd, &request.encode()).map_err(Error::sys("send to keeper"));
    let stdin_wanted = options.stdin && record.stdin;
    send(Request::Attach { stdin: stdin_wanted })?;
    // Window changes reach us as SIGWINCH, read from a signalfd like the keeper's signals.
    let mut winch = SigSet::empty();
    winch.add(Signal::SIGWINCH);
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&winch), None).map_err(Error::sys("sigprocmask"))?;
    let signals = SignalFd::with_flags(&winch, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).map_err(Error::sys("signalfd"))?;
    let stdin = std::io::stdin();
    let tty = record.tty && sys::window_size(stdin.as_fd()).is_ok();
    let send_size = || {
        if let Ok(size) = sys::window_size(stdin.as_fd()) {
            let _ = send(Request::Resize { rows: size.rows, cols: size.cols });
        }
    };
    if record.tty {
        send_size();
    }
    let _raw = (tty && stdin_wanted).then(RawTerminal::enter).flatten();
    let mut keys = DetachMatcher::new(&options.detach_keys);
    let mut stdin_open = stdin_wanted;
    let mut buf = vec![0u8; MAX_PAYLOAD + 1];
    loop {
        let mut fds = vec![PollFd::new(fd.as_fd(), PollFlags::POLLIN), PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(Error::sys("poll")(e)),
        }
        let ready = |i: usize| fds.get(i).and_then(PollFd::revents).is_some_and(|r| !r.is_empty());
        let (socket_ready, signal_ready, stdin_ready) = (ready(0), ready(1), ready(2));
        drop(fds);
        if signal_ready {
            while let Ok(Some(_)) = signals.read_signal() {}
            send_size();
        }
        if stdin_ready {
            let mut chunk = [0u8; 8192];
            match nix::unistd::read(stdin.as_fd(), &mut chunk) {
                Ok(0) | Err(Errno::EIO) => stdin_open = false,
                Ok(n) => {
                    let (pass, detach) = keys.feed(&chunk[..n]);
                    if !pass.is_empty() {
                        send(Request::Stdin(pass))?;
                    }
                    if detach {
                        return Ok(Detached::ByKeys);
                    }
                }
                Err(_) => {}
            }
        }
        if socket_ready {
            match next_reply(&fd, &mut buf)? {
                Some(Reply::Stdout(data)) => {
                    let mut out = std::io::stdout().lock();
                    let _ = out.write_all(&data).and_then(|()| out.flush());
                }
                Some(Reply::Stderr(data)) => {
                    let _ = std::io::stderr().write_all(&data);
                }
                Some(Reply::Exit(code)) => return Ok(Detached::Exited(code)),
                Some(_) => {}
                None => return Ok(Detached::Exited(final_code(&state)?)),
            }
        }
    }
}

/// Spots the detach key sequence in typed input, holding back a partial match until it is
/// decided.
struct DetachMatcher<'a> {
    keys: &'a [u8],
    matched: usize,
}

impl<'a> DetachMatcher<'a> {
    fn new(keys: &'a [u8]) -> DetachMatcher<'a> {
        DetachMatcher { keys, matched: 0 }
    }

    /// Returns the bytes to pass on and whether the sequence is complete.
    fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut pass = Vec::with_capacity(input.len());
        if self.keys.is_empty() {
            return (input.to_vec(), false);
        }
        for &byte in input {
            if byte == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return (pass, true);
                }
            } else {
                pass.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
                if byte == self.keys[0] {
                    self.matched = 1;
                } else {
                    pass.push(byte);
                }
            }
        }
        (pass, false)
    }
}

/// Parses Docker's detach-keys notation: comma-separated `ctrl-<x>` or single characters.
pub fn parse_detach_keys(text: &str) -> Result<Vec<u8>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|key| match key.strip_prefix("ctrl-") {
            Some(name) if name.len() == 1 => {
                let c = name.as_bytes()[0].to_ascii_lowercase();
                match c {
                    b'a'..=b'z' => Ok(c - b'a' + 1),
                    b'@' => Ok(0),
                    b'[' => Ok(27),
                    b'\\' => Ok(28),
                    b']' => Ok(29),
                    b'^' => Ok(30),
                    b'_' => Ok(31),
                    _ => Err(format!("{key:?} is not a control key")),
                }
            }
            None if key.len() == 1 => Ok(key.as_bytes()[0]),
            _ => Err(format!("{key:?} is neither ctrl-<key> nor one character")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_are_parsed_and_matched_across_reads() {
        let keys = parse_detach_keys("ctrl-p,ctrl-q").unwrap();
        assert_eq!(keys, vec![16, 17]);
        let mut matcher = DetachMatcher::new(&keys);
        assert_eq!(matcher.feed(b"ab\x10"), (b"ab".to_vec(), false));
        assert_eq!(matcher.feed(b"x"), (b"\x10x".to_vec(), false));
        assert_eq!(matcher.feed(b"\x10"), (Vec::new(), false));
        assert_eq!(matcher.feed(b"\x11rest"), (Vec::new(), true));
        assert!(parse_detach_keys("ctrl-1").is_err());
    }
}
