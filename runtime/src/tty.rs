//! process.terminal: a pseudo-terminal made inside the container, whose master end goes to
//! the manager over --console-socket (SCM_RIGHTS, as runc sends it) and whose slave end
//! becomes the process's stdio and controlling terminal.

use crate::sys;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::termios::{SetArg, Termios};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// A failed terminal step, naming the syscall.
#[derive(Debug, thiserror::Error)]
pub enum TtyError {
    #[error("console: {op}: {source}")]
    Syscall { op: &'static str, source: std::io::Error },
}

fn err(op: &'static str) -> impl FnOnce(nix::Error) -> TtyError {
    move |e| TtyError::Syscall { op, source: e.into() }
}

/// Where the container's process sends its pty master: the connected console socket, and
/// the window size to give the pty first (berth's own, when berth relays the terminal, so the
/// program never sees a 0x0 terminal).
pub struct ConsoleSocket {
    pub socket: OwnedFd,
    pub size: Option<libc::winsize>,
}

/// The window size of berth's own terminal (its stderr, stdout or stdin, runc's order).
pub fn host_window_size() -> Option<libc::winsize> {
    [sys::stdio(2), sys::stdio(1), sys::stdio(0)].into_iter().find_map(|fd| sys::window_size(fd).ok())
}

/// devpts's filesystem magic (linux/magic.h).
const DEVPTS_SUPER_MAGIC: i64 = 0x1cd1;

/// Make the pty (in the container's devpts), send its master to the console socket, and make
/// the slave this process's controlling terminal and stdio; for the init (`dev_console`), bind
/// the slave over /dev/console, as the runtime spec asks.
///
/// The slave is opened from the master (TIOCGPTPEER), not by its name in /dev/pts, and checked
/// to be a pty on devpts; /dev/console gets exactly that descriptor's file (open_tree,
/// move_mount), so nothing the container put at a path can be bound there instead
/// (CVE-2025-52565).
pub fn setup_console(console: &ConsoleSocket, dev_console: bool) -> Result<(), TtyError> {
    let socket = console.socket.as_fd();
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC).map_err(err("open /dev/ptmx"))?;
    nix::pty::grantpt(&master).map_err(err("grantpt"))?;
    nix::pty::unlockpt(&master).map_err(err("unlockpt"))?;
    let name = nix::pty::ptsname_r(&master).map_err(err("ptsname"))?;
    if let Some(size) = &console.size {
        sys::set_window_size(master.as_fd(), size).map_err(|source| TtyError::Syscall { op: "ioctl(TIOCSWINSZ)", source })?;
    }
    let slave = sys::pty_peer(master.as_fd(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC)
        .map_err(|source| TtyError::Syscall { op: "ioctl(TIOCGPTPEER)", source })?;
    verify_pty(slave.as_fd())?;
    if dev_console {
        bind_dev_console(slave.as_fd())?;
    }
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

/// The slave must be a character device on devpts.
fn verify_pty(slave: BorrowedFd<'_>) -> Result<(), TtyError> {
    let stat = nix::sys::stat::fstat(slave).map_err(err("fstat pty slave"))?;
    let fs = nix::sys::statfs::fstatfs(slave).map_err(err("fstatfs pty slave"))?;
    if stat.st_mode & libc::S_IFMT != libc::S_IFCHR || fs.filesystem_type().0 as i64 != DEVPTS_SUPER_MAGIC {
        let source = std::io::Error::other("not a pty on devpts");
        return Err(TtyError::Syscall { op: "check pty slave", source });
    }
    Ok(())
}

/// Bind the pty slave over the container's /dev/console (made by rootfs::prepare).
fn bind_dev_console(slave: BorrowedFd<'_>) -> Result<(), TtyError> {
    let failed = |op| move |source| TtyError::Syscall { op, source };
    let root = nix::fcntl::open("/", OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty()).map_err(err("open /"))?;
    let target = crate::rootfs::paths::open_path(root.as_fd(), std::path::Path::new("/dev/console")).map_err(failed("open /dev/console"))?;
    let tree = sys::clone_tree_of(slave, false).map_err(failed("open_tree pty slave"))?;
    sys::attach_tree(tree.as_fd(), target.as_fd()).map_err(failed("bind pty slave on /dev/console"))
}

/// `run` and `exec` with process.terminal and no --console-socket: berth keeps the pty master
/// itself and relays it to its own stdio, as runc does. While it runs, berth's stdin (when it
/// is a terminal) is in raw mode, so keys reach the container's terminal unchanged, and the
/// container's terminal follows berth's window size.
pub struct ConsoleRelay {
    master: OwnedFd,
    /// berth's own terminal (its stderr, stdout or stdin, runc's order), if it has one, and
    /// the settings to restore on it.
    host: Option<(BorrowedFd<'static>, Termios)>,
    /// Still relaying berth's stdin to the container (until it reaches end of file).
    stdin_open: bool,
    /// Still relaying the container's output (until every slave end is closed).
    master_open: bool,
}

impl ConsoleRelay {
    /// Take the master that the container's process sent over `socket` and start relaying.
    pub fn receive(socket: BorrowedFd<'_>) -> Result<ConsoleRelay, TtyError> {
        let master = sys::recv_fd(socket).map_err(|source| TtyError::Syscall { op: "receive the pty master", source })?;
        let host = [sys::stdio(2), sys::stdio(1), sys::stdio(0)]
            .into_iter()
            .find_map(|fd| nix::sys::termios::tcgetattr(fd).ok().map(|settings| (fd, settings)));
        if let Some((fd, saved)) = &host {
            let mut raw = saved.clone();
            nix::sys::termios::cfmakeraw(&mut raw);
            nix::sys::termios::tcsetattr(fd, SetArg::TCSANOW, &raw).map_err(err("make the terminal raw"))?;
        }
        let relay = ConsoleRelay { master, host, stdin_open: true, master_open: true };
        relay.resize();
        Ok(relay)
    }

    /// Give the container's terminal berth's window size (at start and on SIGWINCH).
    pub fn resize(&self) {
        // Without a terminal of its own berth has no size to copy; the pty keeps its own.
        if let Some(size) = self.host.as_ref().and_then(|(fd, _)| sys::window_size(*fd).ok()) {
            let _ = sys::set_window_size(self.master.as_fd(), &size);
        }
    }

    /// The descriptors to poll: berth's stdin while it is open, and the master.
    pub fn poll_fds(&self) -> Vec<PollFd<'_>> {
        let mut fds = Vec::with_capacity(2);
        if self.master_open {
            fds.push(PollFd::new(self.master.as_fd(), PollFlags::POLLIN));
        }
        if self.stdin_open {
            fds.push(PollFd::new(stdin_fd(), PollFlags::POLLIN));
        }
        fds
    }

    /// Move whatever `poll_fds` reported ready; `ready` holds their revents in the same order.
    pub fn pump(&mut self, ready: &[Option<PollFlags>]) {
        let mut ready = ready.iter();
        if self.master_open && ready.next().copied().flatten().is_some_and(|r| !r.is_empty()) {
            self.master_open = copy_once(self.master.as_fd(), sys::stdio(1));
        }
        if self.stdin_open && ready.next().copied().flatten().is_some_and(|r| !r.is_empty()) {
            self.stdin_open = copy_once(stdin_fd(), self.master.as_fd());
        }
    }

    /// After the process has exited: relay the output still buffered in the pty.
    pub fn drain(&mut self) {
        while self.master_open {
            let mut fds = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
            if nix::poll::poll(&mut fds, PollTimeout::ZERO).unwrap_or(0) == 0 {
                return;
            }
            self.master_open = copy_once(self.master.as_fd(), sys::stdio(1));
        }
    }
}

impl Drop for ConsoleRelay {
    fn drop(&mut self) {
        if let Some((fd, saved)) = &self.host {
            let _ = nix::sys::termios::tcsetattr(*fd, SetArg::TCSANOW, saved);
        }
    }
}

fn stdin_fd() -> BorrowedFd<'static> {
    sys::stdio(0)
}

/// One read from `from` written whole to `to`; false once `from` is done (end of file, or EIO
/// from a master whose slave ends are all closed) or `to` is gone.
fn copy_once(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> bool {
    let mut buf = [0u8; 8192];
    let n = loop {
        match nix::unistd::read(from, &mut buf) {
            Err(nix::errno::Errno::EINTR) => continue,
            Ok(0) | Err(_) => return false,
            Ok(n) => break n,
        }
    };
    let mut rest = &buf[..n];
    while !rest.is_empty() {
        match nix::unistd::write(to, rest) {
            Err(nix::errno::Errno::EINTR) => continue,
            Ok(0) | Err(_) => return false,
            Ok(written) => rest = &rest[written..],
        }
    }
    true
}
