//! The keeper's event loop: one thread, one epoll set.
//!
//! It relays the container's output to the log, to the caller's terminal (in the foreground)
//! and to attached clients; relays input from the caller and from clients to the container;
//! answers wait and kill requests; forwards signals; and reaps. When the init has been reaped it
//! drains what is left in the pipes, syncs the log, writes the exit file and only then tells
//! waiters the code, so whoever learns the exit code can read the complete log.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::time::SystemTime;

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;

use super::error::Error;
use super::launch::ContainerIo;
use super::protocol::{self, Reply, Request, MAX_PAYLOAD};
use crate::container_log::{LogWriter, Stream};
use crate::reaper::{Exit, Reaper};
use crate::sys;

const SIGNALS: u64 = 0;
const LISTENER: u64 = 1;
const OUTPUT: u64 = 2;
const ERRORS: u64 = 3;
const INPUT: u64 = 4;
const OWN_STDIN: u64 = 5;
const FIRST_CLIENT: u64 = 16;

/// Input queued for the container beyond which the keeper stops reading more.
const INPUT_LIMIT: usize = 1 << 20;
/// Output queued for one client beyond which that client is dropped (it is not reading).
const CLIENT_LIMIT: usize = 16 << 20;

/// Signals the keeper handles itself (blocked, read from a signalfd).
pub fn handled_signals() -> SigSet {
    let mut set = SigSet::empty();
    for signal in [
        Signal::SIGCHLD,
        Signal::SIGWINCH,
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
    ] {
        set.add(signal);
    }
    set
}

/// The caller's own stdio, when the keeper runs in the foreground.
#[derive(Debug, Clone, Copy)]
pub struct Foreground {
    /// Relay stdin to the container (-i).
    pub stdin: bool,
    /// The container has a tty: follow the caller's window size.
    pub tty: bool,
}

struct Client {
    fd: OwnedFd,
    attached: bool,
    stdin: bool,
    waiting: bool,
    outbox: VecDeque<Vec<u8>>,
    queued: usize,
}

/// The state of the loop.
pub struct Keeper {
    epoll: Epoll,
    signals: SignalFd,
    listener: Option<OwnedFd>,
    io: ContainerIo,
    input_queue: Vec<u8>,
    close_input_when_flushed: bool,
    log: Option<LogWriter>,
    foreground: Option<Foreground>,
    own_stdin_open: bool,
    own_stdout_open: bool,
    clients: HashMap<u64, Client>,
    next_token: u64,
    interest: HashMap<u64, EpollFlags>,
    reaper: Reaper,
    pid: i32,
    exit: Option<Exit>,
    buffer: Vec<u8>,
    /// Where problems that do not stop the keeper are written down (keeper.err).
    problems: PathBuf,
}

/// Appends one line about a problem the keeper lives with to `path`, for `ps` and `wait` to show.
pub fn note_problem(path: &std::path::Path, problem: &dyn std::fmt::Display) {
    if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = writeln!(file, "{problem}");
    }
}

impl Keeper {
    /// `signals` must already be blocked (before the container was created, so none is lost).
    pub fn new(
        pid: i32,
        io: ContainerIo,
        listener: OwnedFd,
        log: Option<LogWriter>,
        foreground: Option<Foreground>,
        problems: PathBuf,
    ) -> Result<Keeper, Error> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(Error::sys("epoll_create1"))?;
        let signals = SignalFd::with_flags(&handled_signals(), SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
            .map_err(Error::sys("signalfd"))?;
        let own_stdin_open = foreground.is_some_and(|f| f.stdin) && io.input.is_some();
        Ok(Keeper {
            epoll,
            signals,
            listener: Some(listener),
            io,
            input_queue: Vec::new(),
            close_input_when_flushed: false,
            log,
            foreground,
            own_stdin_open,
            own_stdout_open: foreground.is_some(),
            clients: HashMap::new(),
            next_token: FIRST_CLIENT,
            interest: HashMap::new(),
            reaper: Reaper::new(),
            pid,
            exit: None,
            buffer: Vec::new(),
            problems,
        })
    }

    /// Runs until the container has ended and everyone has been told; returns how it ended.
    pub fn serve(mut self, exit_files: &[PathBuf]) -> Result<Exit, Error> {
        // A SIGCHLD may have come and gone while the container was being created.
        self.reap();
        let mut events = vec![EpollEvent::empty(); 32];
        while self.exit.is_none() {
            self.update_interest()?;
            let ready = match self.epoll.wait(&mut events, EpollTimeout::NONE) {
                Ok(n) => n,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(Error::sys("epoll_wait")(e)),
            };
            for event in &events[..ready] {
                self.dispatch(event.data(), event.events())?;
            }
        }
        let exit = self.exit.expect("the loop ends on exit");
        self.finish(exit, exit_files)?;
        Ok(exit)
    }

    fn dispatch(&mut self, token: u64, flags: EpollFlags) -> Result<(), Error> {
        match token {
            SIGNALS => self.handle_signals(),
            LISTENER => self.accept_clients(),
            OUTPUT => self.relay_output(Stream::Stdout, false),
            ERRORS => self.relay_output(Stream::Stderr, false),
            INPUT => {
                self.flush_input();
                Ok(())
            }
            OWN_STDIN => {
                self.read_own_stdin();
                Ok(())
            }
            client => {
                self.serve_client(client, flags);
                Ok(())
            }
        }
    }

    /// Registers, changes or removes each descriptor's interest to match the current state.
    fn update_interest(&mut self) -> Result<(), Error> {
        let input_full = self.input_queue.len() >= INPUT_LIMIT;
        let stdin = std::io::stdin();
        let mut wanted: Vec<(u64, std::os::fd::BorrowedFd<'_>, EpollFlags)> = Vec::new();
        let readable = EpollFlags::EPOLLIN;
        wanted.push((SIGNALS, self.signals.as_fd(), readable));
        if let Some(listener) = &self.listener {
            wanted.push((LISTENER, listener.as_fd(), readable));
        }
        if let Some(fd) = &self.io.output {
            wanted.push((OUTPUT, fd.as_fd(), readable));
        }
        if let Some(fd) = &self.io.errors {
            wanted.push((ERRORS, fd.as_fd(), readable));
        }
        if let Some(fd) = &self.io.input {
            let flags = if self.input_queue.is_empty() { EpollFlags::empty() } else { EpollFlags::EPOLLOUT };
            wanted.push((INPUT, fd.as_fd(), flags));
        }
        if self.own_stdin_open {
            let flags = if input_full { EpollFlags::empty() } else { readable };
            wanted.push((OWN_STDIN, stdin.as_fd(), flags));
        }
        for (&token, client) in &self.clients {
            let mut flags = if input_full { EpollFlags::empty() } else { readable };
            if !client.outbox.is_empty() {
                flags |= EpollFlags::EPOLLOUT;
            }
            wanted.push((token, client.fd.as_fd(), flags));
        }
        let mut seen = Vec::with_capacity(wanted.len());
        for (token, fd, flags) in wanted {
            let current = self.interest.get(&token).copied();
            if flags.is_empty() {
                // Paused: out of the set entirely, so no HUP or ERR can spin the loop.
                if current.is_some() {
                    self.epoll.delete(fd).map_err(Error::sys("epoll_ctl DEL"))?;
                }
                continue;
            }
            seen.push(token);
            match current {
                Some(current) if current == flags => {}
                Some(_) => {
                    self.epoll.modify(fd, &mut EpollEvent::new(flags, token)).map_err(Error::sys("epoll_ctl MOD"))?;
                }
                None => self.epoll.add(fd, EpollEvent::new(flags, token)).map_err(Error::sys("epoll_ctl ADD"))?,
            }
            self.interest.insert(token, flags);
        }
        self.interest.retain(|token, _| seen.contains(token));
        Ok(())
    }

    /// Takes a descriptor out of the epoll set before it is closed: epoll only forgets a
    /// descriptor by itself when every copy of its open file is closed (the pty master has two).
    fn unregister(&mut self, token: u64, fd: Option<&OwnedFd>) {
        if let (Some(fd), Some(_)) = (fd, self.interest.remove(&token)) {
            let _ = self.epoll.delete(fd);
        }
    }

    fn handle_signals(&mut self) -> Result<(), Error> {
        while let Ok(Some(info)) = self.signals.read_signal() {
            let Ok(signal) = Signal::try_from(info.ssi_signo as i32) else { continue };
            match signal {
                Signal::SIGCHLD => self.reap(),
                Signal::SIGWINCH => self.follow_window_size(),
                other => {
                    if self.exit.is_none() {
                        let _ = kill(Pid::from_raw(self.pid), other);
                    }
                }
            }
        }
        Ok(())
    }

    fn reap(&mut self) {
        self.reaper.reap();
        if let Some(exit) = self.reaper.take(self.pid) {
            self.exit = Some(exit);
        }
    }

    /// The caller's terminal changed size: pass it on to the container's.
    fn follow_window_size(&mut self) {
        if !self.foreground.is_some_and(|f| f.tty) {
            return;
        }
        if let (Ok(size), Some(master)) = (sys::window_size(std::io::stdin().as_fd()), &self.io.output) {
            let _ = sys::set_window_size(master.as_fd(), size);
        }
    }

    fn accept_clients(&mut self) -> Result<(), Error> {
        let Some(listener) = &self.listener else { return Ok(()) };
        loop {
            match protocol::accept(listener) {
                Ok(fd) => {
                    let token = self.next_token;
                    self.next_token += 1;
                    self.clients.insert(
                        token,
                        Client { fd, attached: false, stdin: false, waiting: false, outbox: VecDeque::new(), queued: 0 },
                    );
                }
                Err(Errno::EAGAIN) => return Ok(()),
                Err(Errno::EINTR | Errno::ECONNABORTED) => continue,
                Err(e) => return Err(Error::sys("accept4")(e)),
            }
        }
    }

    /// Reads what the container wrote on one stream and passes it on. With `drain`, reads until
    /// the pipe is empty; otherwise at most a few chunks, so one busy stream cannot starve the
    /// rest of the loop.
    fn relay_output(&mut self, stream: Stream, drain: bool) -> Result<(), Error> {
        if self.buffer.is_empty() {
            self.buffer = vec![0; 64 * 1024];
        }
        let mut rounds = 0;
        loop {
            let fd = match stream {
                Stream::Stdout => self.io.output.as_ref(),
                Stream::Stderr => self.io.errors.as_ref(),
            };
            let Some(fd) = fd else { return Ok(()) };
            let n = match nix::unistd::read(fd, &mut self.buffer) {
                Ok(0) | Err(Errno::EIO) => {
                    // End of output (a pty master reads EIO once the last slave is closed).
                    self.close_output(stream);
                    return Ok(());
                }
                Ok(n) => n,
                Err(Errno::EAGAIN) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(Error::sys("read container output")(e)),
            };
            let data = std::mem::take(&mut self.buffer);
            let result = self.deliver(stream, &data[..n]);
            self.buffer = data;
            result?;
            rounds += 1;
            if !drain && rounds >= 8 {
                return Ok(());
            }
        }
    }

    fn close_output(&mut self, stream: Stream) {
        let (token, fd) = match stream {
            Stream::Stdout => (OUTPUT, self.io.output.take()),
            Stream::Stderr => (ERRORS, self.io.errors.take()),
        };
        self.unregister(token, fd.as_ref());
    }

    fn close_input(&mut self) {
        let fd = self.io.input.take();
        self.unregister(INPUT, fd.as_ref());
    }

    /// One chunk of output: to the log first, then the caller and attached clients.
    fn deliver(&mut self, stream: Stream, data: &[u8]) -> Result<(), Error> {
        if let Some(log) = &mut self.log {
            if let Err(e) = log.write_chunk(stream, data, SystemTime::now()) {
                // A full disk must not take the container's keeper down: note it, go on.
                note_problem(&self.problems, &e);
                self.log = None;
            }
        }
        if self.own_stdout_open {
            let written = match stream {
                Stream::Stdout => std::io::stdout().write_all(data).and_then(|()| std::io::stdout().flush()),
                Stream::Stderr => std::io::stderr().write_all(data),
            };
            if written.is_err() {
                // The caller's stdout is gone (a closed pipe): keep the container going.
                self.own_stdout_open = false;
            }
        }
        let mut dropped = Vec::new();
        for (&token, client) in self.clients.iter_mut().filter(|(_, c)| c.attached) {
            for piece in data.chunks(MAX_PAYLOAD) {
                let reply = match stream {
                    Stream::Stdout => Reply::Stdout(piece.to_vec()),
                    Stream::Stderr => Reply::Stderr(piece.to_vec()),
                };
                if !client.queue(reply.encode()) {
                    dropped.push(token);
                    break;
                }
            }
        }
        for token in dropped {
            self.remove_client(token);
        }
        Ok(())
    }

    fn remove_client(&mut self, token: u64) {
        if let Some(client) = self.clients.remove(&token) {
            self.unregister(token, Some(&client.fd));
        }
    }

    fn read_own_stdin(&mut self) {
        let mut chunk = [0u8; 16 * 1024];
        match nix::unistd::read(std::io::stdin().as_fd(), &mut chunk) {
            Ok(0) | Err(Errno::EIO | Errno::EBADF) => {
                self.own_stdin_open = false;
                if self.interest.remove(&OWN_STDIN).is_some() {
                    let _ = self.epoll.delete(std::io::stdin().as_fd());
                }
                self.close_input_when_flushed = !self.io.tty;
                self.flush_input();
            }
            Ok(n) => {
                self.input_queue.extend_from_slice(&chunk[..n]);
                self.flush_input();
            }
            Err(_) => {}
        }
    }

    /// Writes queued input to the container as far as it takes it.
    fn flush_input(&mut self) {
        let Some(fd) = &self.io.input else {
            self.input_queue.clear();
            return;
        };
        while !self.input_queue.is_empty() {
            match nix::unistd::write(fd, &self.input_queue) {
                Ok(n) => {
                    self.input_queue.drain(..n);
                }
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return,
                Err(_) => {
                    // The container closed its stdin: drop what it will never read.
                    self.input_queue.clear();
                    self.close_input();
                    return;
                }
            }
        }
        if self.close_input_when_flushed {
            self.close_input();
        }
    }

    fn serve_client(&mut self, token: u64, flags: EpollFlags) {
        let mut keep = true;
        if flags.contains(EpollFlags::EPOLLOUT) {
            keep = self.clients.get_mut(&token).is_some_and(Client::flush);
        }
        if keep && flags.intersects(EpollFlags::EPOLLIN | EpollFlags::EPOLLHUP | EpollFlags::EPOLLERR) {
            keep = self.read_requests(token);
        }
        if !keep {
            self.remove_client(token);
        }
    }

    /// Handles every request waiting on a client's socket; false once the client is gone.
    fn read_requests(&mut self, token: u64) -> bool {
        let mut packet = vec![0u8; MAX_PAYLOAD + 1];
        loop {
            let Some(client) = self.clients.get(&token) else { return false };
            let request = match protocol::recv_packet(&client.fd, &mut packet) {
                Ok(Some(bytes)) => Request::decode(bytes),
                Ok(None) => return false,
                Err(Errno::EAGAIN) => return true,
                Err(Errno::EINTR) => continue,
                Err(_) => return false,
            };
            match request {
                Some(request) => {
                    if !self.handle_request(token, request) {
                        return false;
                    }
                }
                None => return false,
            }
        }
    }

    fn handle_request(&mut self, token: u64, request: Request) -> bool {
        let tty = self.io.tty;
        let accepts_input = self.io.input.is_some();
        let Some(client) = self.clients.get_mut(&token) else { return false };
        match request {
            Request::Attach { stdin } => {
                client.attached = true;
                client.stdin = stdin;
                true
            }
            Request::Wait => {
                client.waiting = true;
                true
            }
            Request::Kill(signal) => {
                let reply = match Signal::try_from(signal) {
                    Err(_) => Reply::Failed(format!("signal {signal} is not a signal")),
                    Ok(signal) => match kill(Pid::from_raw(self.pid), signal) {
                        Ok(()) => Reply::Done,
                        Err(e) => Reply::Failed(format!("kill {} {signal}: {e}", self.pid)),
                    },
                };
                client.queue(reply.encode())
            }
            Request::Stdin(data) => {
                if client.stdin && accepts_input {
                    self.input_queue.extend_from_slice(&data);
                    self.flush_input();
                }
                true
            }
            Request::Resize { rows, cols } => {
                if let (true, Some(master)) = (tty, &self.io.output) {
                    let _ = sys::set_window_size(master.as_fd(), sys::WindowSize { rows, cols });
                }
                true
            }
        }
    }

    /// The init has been reaped.
    fn finish(&mut self, exit: Exit, exit_files: &[PathBuf]) -> Result<(), Error> {
        // 1. Whatever the container wrote before it ended is still in the pipes: read it all.
        self.relay_output(Stream::Stdout, true)?;
        self.relay_output(Stream::Stderr, true)?;
        // 2. The log reaches the disk before anyone can learn the exit code.
        if let Some(log) = &mut self.log {
            if let Err(e) = log.sync() {
                note_problem(&self.problems, &e);
            }
        }
        // 3. The exit files (the state directory's first: clients read it once the socket is gone).
        //    One that cannot be written is noted; the clients below still learn the code.
        for path in exit_files {
            if let Err(e) = super::state::write_atomic(path, exit.code().to_string().as_bytes()) {
                note_problem(&self.problems, &e);
            }
        }
        // 4. No new clients; tell attached and waiting ones, and give each a moment to take
        //    what is queued for it.
        self.listener = None;
        let code = exit.code();
        for client in self.clients.values_mut() {
            if client.attached || client.waiting {
                client.queue(Reply::Exit(code).encode());
            }
            client.flush_before_leaving();
        }
        self.clients.clear();
        Ok(())
    }
}

impl Client {
    /// Queues a packet and tries to send; false when the client should be dropped.
    fn queue(&mut self, packet: Vec<u8>) -> bool {
        self.queued += packet.len();
        self.outbox.push_back(packet);
        self.queued <= CLIENT_LIMIT && self.flush()
    }

    /// Sends what the socket takes; false when the client is gone.
    fn flush(&mut self) -> bool {
        while let Some(packet) = self.outbox.front() {
            match protocol::send_packet(&self.fd, packet) {
                Ok(true) => {
                    self.queued -= packet.len();
                    self.outbox.pop_front();
                }
                Ok(false) => return true,
                Err(Errno::EINTR) => continue,
                Err(_) => return false,
            }
        }
        true
    }

    /// At the end: wait up to two seconds in all for the client to take its queue.
    fn flush_before_leaving(&mut self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while self.flush() && !self.outbox.is_empty() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return;
            }
            let mut fds = [nix::poll::PollFd::new(self.fd.as_fd(), nix::poll::PollFlags::POLLOUT)];
            let timeout = nix::poll::PollTimeout::try_from(left).unwrap_or(nix::poll::PollTimeout::MAX);
            if nix::poll::poll(&mut fds, timeout).is_err() {
                return;
            }
        }
    }
}
