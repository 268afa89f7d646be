//! The one door to the kernel for berth-shim.
//!
//! Every syscall nix does not wrap safely lives here behind a safe function returning
//! `io::Result`; this is the only module of the crate with `unsafe`, and each block names the
//! invariant that makes it sound. Callers add context (path, step) to the errors.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Turn a libc-style return value into `io::Result`, reading errno on -1.
fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Which side of a fork we are on.
pub enum Forked {
    /// In the parent, with the child's pid.
    Parent(i32),
    /// In the child.
    Child,
}

/// `fork()`. The caller must be single-threaded: the child inherits only the calling thread,
/// so a lock held by another thread (the allocator's, stdio's) would stay locked forever.
pub fn fork_single_threaded() -> io::Result<Forked> {
    // SAFETY: the caller guarantees that no other thread exists, so the child starts with every
    // lock of this process free; fork has no memory-safety preconditions beyond that.
    let pid = check(unsafe { libc::fork() } as libc::c_long)?;
    Ok(if pid == 0 { Forked::Child } else { Forked::Parent(pid as i32) })
}

/// `pidfd_open(pid, 0)`: a descriptor that becomes readable when `pid` exits.
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes two integers and returns a new descriptor or -1.
    let fd = check(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Adopt a descriptor received over SCM_RIGHTS.
///
/// `fd` must be a descriptor the kernel has just installed for this process (from `recvmsg`)
/// and that nothing else owns yet.
pub fn adopt_received_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: per this function's contract the descriptor was just installed by recvmsg and
    // has no other owner, so wrapping it hands its ownership to the returned OwnedFd.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// `flock(fd, LOCK_EX [| LOCK_NB])`. Returns false when `nonblocking` and another open file
/// holds the lock. A raw call rather than nix's `Flock`, whose Drop unlocks: the keeper's lock
/// is shared across a fork and must outlive the process that took it.
pub fn lock_exclusive(fd: BorrowedFd<'_>, nonblocking: bool) -> io::Result<bool> {
    let op = libc::LOCK_EX | if nonblocking { libc::LOCK_NB } else { 0 };
    // SAFETY: the fd is borrowed, so it is open for the whole call; flock touches no memory.
    match check(unsafe { libc::flock(fd.as_raw_fd(), op) } as libc::c_long) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(false),
        Err(e) => Err(e),
    }
}

/// A terminal's size in character cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowSize {
    pub rows: u16,
    pub cols: u16,
}

/// `ioctl(TIOCGWINSZ)`: the size of the terminal `fd`.
pub fn window_size(fd: BorrowedFd<'_>) -> io::Result<WindowSize> {
    let mut size = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: the fd is open for the call and TIOCGWINSZ writes one `winsize` into `size`,
    // which lives on this stack frame for the whole call.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut size) } as libc::c_long)?;
    Ok(WindowSize { rows: size.ws_row, cols: size.ws_col })
}

/// `ioctl(TIOCSWINSZ)`: resize the terminal `fd` (its foreground process group gets SIGWINCH).
pub fn set_window_size(fd: BorrowedFd<'_>, size: WindowSize) -> io::Result<()> {
    let size = libc::winsize { ws_row: size.rows, ws_col: size.cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: the fd is open for the call and TIOCSWINSZ only reads the `winsize` we pass,
    // which lives on this stack frame for the whole call.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &size) } as libc::c_long)?;
    Ok(())
}

/// Restore SIGPIPE's default action (Rust ignores it), so a client whose stdout is a closed
/// pipe ends like any Unix tool, and so children the keeper spawns start with it default too.
pub fn restore_default_sigpipe() {
    // SAFETY: SIG_DFL is a valid disposition for SIGPIPE; no handler code is installed.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}

/// `_exit(code)`: leave a forked child without running the parent's atexit handlers or
/// flushing buffers it copied from the parent.
pub fn exit_immediately(code: i32) -> ! {
    // SAFETY: _exit never returns and has no preconditions.
    unsafe { libc::_exit(code) }
}

/// Make `command`'s child find each descriptor of `fds` at the number paired with it (as
/// logging binaries expect their pipes at 3, 4 and 5).
///
/// The sources are first moved to numbers at or above 10 so no dup2 in the child overwrites a
/// source that a later dup2 still needs.
pub fn map_fds_on_exec(command: &mut std::process::Command, fds: Vec<(OwnedFd, RawFd)>) -> io::Result<()> {
    use std::os::unix::process::CommandExt;
    let mut moved = Vec::with_capacity(fds.len());
    for (fd, target) in fds {
        let high = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(10)).map_err(io::Error::from)?;
        // SAFETY: fcntl(F_DUPFD_CLOEXEC) just returned this new descriptor; nothing else owns it.
        moved.push((unsafe { OwnedFd::from_raw_fd(high) }, target));
    }
    // SAFETY: the closure runs in the forked child before exec and calls only dup2, which is
    // async-signal-safe; the descriptors it reads stay open because `moved` is owned by the
    // closure, which the Command keeps alive until spawn returns.
    unsafe {
        command.pre_exec(move || {
            for (fd, target) in &moved {
                dup_onto(fd.as_fd(), *target)?;
            }
            Ok(())
        });
    }
    Ok(())
}

/// dup2: make `target` refer to `fd`'s file (and be inherited across exec).
fn dup_onto(fd: BorrowedFd<'_>, target: RawFd) -> io::Result<()> {
    // SAFETY: `fd` is open for the duration of the borrow; dup2 only replaces `target`, which
    // the caller chose (in a child about to exec, where nothing else owns that number).
    check(unsafe { libc::dup2(fd.as_raw_fd(), target) } as libc::c_long)?;
    Ok(())
}

/// mallopt(M_ARENA_MAX, 1): every thread allocates from the main arena. glibc otherwise
/// gives each new thread an arena of its own (up to eight per core), each touching pages of
/// its own; the shim's threads mostly wait and allocate little, so the pages are the cost.
pub fn one_malloc_arena() {
    // SAFETY: mallopt takes two integers and changes only the allocator's tuning; called
    // before the threads it concerns exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Drop from this process's page tables the pages of its own binary's code and constants
/// (the loadable segments that are neither writable nor written by relocation at start-up,
/// PT_GNU_RELRO). Those pages are clean and backed by the file, so MADV_DONTNEED only unmaps
/// them here (the page cache keeps them) and the next use is a minor fault; a keeper per
/// container that mostly waits then holds only what its waiting touches. Writable segments
/// and RELRO are left alone: dropping a page written since the file was mapped would lose it.
pub fn release_clean_text_pages() {
    extern "C" fn each(info: *mut libc::dl_phdr_info, _size: libc::size_t, _data: *mut libc::c_void) -> libc::c_int {
        // SAFETY: dl_iterate_phdr passes a valid dl_phdr_info for the duration of the call.
        let info = unsafe { &*info };
        if info.dlpi_phdr.is_null() {
            return 1;
        }
        // SAFETY: dlpi_phdr points at dlpi_phnum program headers of the loaded object.
        let headers = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
        let page = 4096usize;
        let base = info.dlpi_addr as usize;
        let span = |h: &libc::Elf64_Phdr| (base + h.p_vaddr as usize, base + (h.p_vaddr + h.p_memsz) as usize);
        let relro: Vec<(usize, usize)> = headers.iter().filter(|h| h.p_type == libc::PT_GNU_RELRO).map(span).collect();
        for header in headers.iter().filter(|h| h.p_type == libc::PT_LOAD && h.p_flags & libc::PF_W == 0) {
            let (start, end) = span(header);
            // Whole pages inside the segment only: a page shared with a neighbour stays.
            let (start, end) = (start.div_ceil(page) * page, end / page * page);
            if end <= start || relro.iter().any(|&(r_start, r_end)| r_start < end && start < r_end) {
                continue;
            }
            // SAFETY: [start, end) lies inside a read-only, never-written file mapping of this
            // binary (checked above); MADV_DONTNEED there only unmaps clean page-cache pages,
            // which refault unchanged on their next use.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
            }
        }
        // The first object is the executable itself; nothing else is mapped in a static binary
        // that we would want to touch.
        1
    }
    // SAFETY: `each` matches dl_iterate_phdr's callback type and keeps no pointer past its call.
    unsafe {
        libc::dl_iterate_phdr(Some(each), std::ptr::null_mut());
    }
}
