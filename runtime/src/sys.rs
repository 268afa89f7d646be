//! The one door to the kernel.
//!
//! Every raw syscall the runtime makes that nix does not wrap safely lives here, behind a
//! safe function that returns `io::Result`. This is the only module with `unsafe`; each block
//! names the invariant that makes it sound. Callers add context (path, field, step) to errors.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// Turn a libc-style return value into `io::Result`, reading errno on -1.
fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn cstring(path: &Path) -> io::Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// Which side of a clone we are on.
pub enum Forked {
    /// In the parent, with the child's pid (as seen from the parent's pid namespace).
    Parent(i32),
    /// In the child.
    Child,
}

/// The kernel's `struct clone_args` (linux/sched.h), version 2 (with cgroup).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// `CLONE_INTO_CGROUP` from linux/sched.h (not yet in every libc crate release).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Fork-like clone3: the child runs on a copy-on-write copy of this process, starting in the
/// namespaces named by `namespace_flags`, and in the cgroup `cgroup_dir` when given (v2 only).
///
/// The caller must be single-threaded: the child inherits only the calling thread, so a lock
/// held by another thread (the allocator's, stdio's) would stay locked forever in the child.
pub fn clone_process(namespace_flags: u64, cgroup_dir: Option<BorrowedFd<'_>>) -> io::Result<Forked> {
    // With CLONE_PARENT the child is our parent's, and the kernel gives it our own exit signal
    // (clone3 refuses one given alongside).
    let exit_signal = if namespace_flags & libc::CLONE_PARENT as u64 != 0 { 0 } else { libc::SIGCHLD as u64 };
    let mut args = CloneArgs {
        flags: namespace_flags,
        exit_signal,
        ..Default::default()
    };
    if let Some(fd) = cgroup_dir {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd.as_raw_fd() as u64;
    }
    // SAFETY: `args` is a valid, initialised clone_args of the size we pass. With no CLONE_VM
    // and a zero stack the child gets a private copy of our memory and continues on it, exactly
    // like fork(2); the single-threaded precondition is documented above and upheld by callers.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match check(ret)? {
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as i32)),
    }
}

/// `struct open_how` for openat2(2).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// Resolve every component as if `dirfd` were the root: `..` and absolute symlinks stay inside.
pub const RESOLVE_IN_ROOT: u64 = 0x10;
/// Refuse /proc magic links (/proc/self/fd/N and the like) during resolution.
pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
/// Refuse to cross any mount point, bind mounts included.
pub const RESOLVE_NO_XDEV: u64 = 0x01;
/// Refuse every symlink.
pub const RESOLVE_NO_SYMLINKS: u64 = 0x04;
/// Every component must stay beneath `dirfd`: `..` above it or an absolute symlink fails.
pub const RESOLVE_BENEATH: u64 = 0x08;

/// openat2(2): open `path` relative to `dirfd` with `resolve` restrictions.
///
/// The kernel answers EAGAIN when a rename or mount elsewhere raced with a RESOLVE_IN_ROOT
/// or RESOLVE_BENEATH lookup (it cannot then prove the walk stayed inside); the lookup is
/// simply tried again, as openat2(2) advises.
pub fn openat2(dirfd: BorrowedFd<'_>, path: &Path, flags: i32, mode: u32, resolve: u64) -> io::Result<OwnedFd> {
    loop {
        match openat2_once(dirfd, path, flags, mode, resolve) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EINTR)) => continue,
            other => return other,
        }
    }
}

fn openat2_once(dirfd: BorrowedFd<'_>, path: &Path, flags: i32, mode: u32, resolve: u64) -> io::Result<OwnedFd> {
    let cpath = cstring(path)?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: u64::from(mode),
        resolve,
    };
    // SAFETY: `cpath` is a NUL-terminated string and `how` a valid open_how, both alive for the
    // call; the kernel copies them and returns a new descriptor or -1.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dirfd.as_raw_fd(),
            cpath.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    let fd = check(ret)? as RawFd;
    // SAFETY: openat2 just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `struct mount_attr` for mount_setattr(2).
#[repr(C)]
pub struct MountAttr {
    pub attr_set: u64,
    pub attr_clr: u64,
    pub propagation: u64,
    pub userns_fd: u64,
}

pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
const AT_RECURSIVE: libc::c_int = 0x8000;

/// Make the mount at `fd` and every mount below it read-only (mount_setattr, Linux 5.12+).
pub fn make_tree_readonly(fd: BorrowedFd<'_>) -> io::Result<()> {
    let attr = MountAttr { attr_set: MOUNT_ATTR_RDONLY, attr_clr: 0, propagation: 0, userns_fd: 0 };
    // SAFETY: the empty path is a valid C string, `attr` a valid mount_attr alive for the call,
    // and AT_EMPTY_PATH makes the kernel act on `fd` itself.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    check(ret).map(drop)
}

/// pidfd_open(2): a descriptor that refers to process `pid` for as long as it is held.
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain integer arguments; the kernel returns a new descriptor or -1.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = check(ret)? as RawFd;
    // SAFETY: pidfd_open just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// pidfd_send_signal(2): signal the process behind `pidfd`, immune to pid reuse.
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: i32) -> io::Result<()> {
    // SAFETY: a valid descriptor, a signal number, a null siginfo (allowed) and zero flags.
    let ret = unsafe {
        libc::syscall(libc::SYS_pidfd_send_signal, pidfd.as_raw_fd(), signal, std::ptr::null::<libc::siginfo_t>(), 0)
    };
    check(ret).map(drop)
}

/// kill(2) with any signal number, real-time ones included (nix's Signal has no names for
/// them); 0 only checks that `pid` exists.
pub fn kill(pid: i32, signal: i32) -> io::Result<()> {
    // SAFETY: plain integer arguments; the kernel checks both.
    let ret = unsafe { libc::kill(pid, signal) };
    check(ret.into()).map(drop)
}

/// setdomainname(2); nix wraps sethostname but not this one.
pub fn set_domainname(name: &str) -> io::Result<()> {
    // SAFETY: the pointer and length describe `name`'s bytes, alive for the call; the kernel
    // copies at most `len` bytes and needs no terminator.
    let ret = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    check(ret.into()).map(drop)
}

/// The highest capability number this kernel knows. Capabilities are numbered without gaps
/// and PR_CAPBSET_READ answers EINVAL past the last, so a binary search over 0..64 finds it
/// in six calls instead of one per capability.
pub fn last_capability() -> u8 {
    let known = |cap: u8| {
        // SAFETY: PR_CAPBSET_READ only reads the calling thread's bounding set.
        unsafe { libc::prctl(libc::PR_CAPBSET_READ, libc::c_ulong::from(cap), 0, 0, 0) >= 0 }
    };
    // Capability 0 (CAP_CHOWN) is known to every kernel; 64 to none.
    let (mut known_up_to, mut unknown_from) = (0u8, 64u8);
    while unknown_from - known_up_to > 1 {
        let middle = known_up_to + (unknown_from - known_up_to) / 2;
        if known(middle) {
            known_up_to = middle;
        } else {
            unknown_from = middle;
        }
    }
    known_up_to
}

/// Drop from the calling thread's bounding set each capability up to `last` that `keep`
/// refuses: one PR_CAPBSET_DROP apiece, with no read before it (dropping a capability that
/// is not there is no error).
pub fn drop_bounding(last: u8, keep: impl Fn(u8) -> bool) -> io::Result<()> {
    for cap in (0..=last).filter(|&cap| !keep(cap)) {
        // SAFETY: PR_CAPBSET_DROP takes a capability number and changes only this thread's
        // bounding set.
        let ret = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0) };
        check(ret.into())?;
    }
    Ok(())
}

/// Make the calling thread's ambient set exactly `raise`: clear it in one call, then raise
/// each (the kernel keeps one only if it is permitted and inheritable).
pub fn set_ambient(raise: impl IntoIterator<Item = u8>) -> io::Result<()> {
    let ambient = |op: libc::c_int, cap: u8| {
        // SAFETY: PR_CAP_AMBIENT changes only this thread's ambient set.
        let ret = unsafe { libc::prctl(libc::PR_CAP_AMBIENT, op as libc::c_ulong, libc::c_ulong::from(cap), 0, 0) };
        check(ret.into()).map(drop)
    };
    ambient(libc::PR_CAP_AMBIENT_CLEAR_ALL, 0)?;
    for cap in raise {
        ambient(libc::PR_CAP_AMBIENT_RAISE, cap)?;
    }
    Ok(())
}

/// setrlimit(2) with the raw resource number from the spec's RLIMIT_* name.
pub fn set_rlimit(resource: libc::c_int, soft: u64, hard: u64) -> io::Result<()> {
    let limit = libc::rlimit { rlim_cur: soft, rlim_max: hard };
    // SAFETY: `limit` is a valid rlimit alive for the call; the resource is checked by the kernel.
    let ret = unsafe { libc::setrlimit(resource as _, &limit) };
    check(ret.into()).map(drop)
}

/// Send `fds` over the connected unix socket `socket` as SCM_RIGHTS, with `payload` bytes.
pub fn send_fds(socket: BorrowedFd<'_>, payload: &[u8], fds: &[RawFd]) -> io::Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let iov = [io::IoSlice::new(payload)];
    let cmsg = [ControlMessage::ScmRights(fds)];
    sendmsg::<()>(socket.as_raw_fd(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None)?;
    Ok(())
}

/// berth's own stdin, stdout or stderr (`fd` 0, 1 or 2), borrowed for the life of the process.
pub fn stdio(fd: RawFd) -> BorrowedFd<'static> {
    assert!((0..=2).contains(&fd), "not a standard descriptor: {fd}");
    // SAFETY: berth never closes its standard descriptors, so the number stays valid (open,
    // or closed by our caller before we started, which only makes calls on it fail with
    // EBADF) for the whole life of the process.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// Receive one descriptor sent as SCM_RIGHTS on the connected unix socket `socket`.
pub fn recv_fd(socket: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut payload = [0u8; 4096];
    let mut iov = [io::IoSliceMut::new(&mut payload)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(socket.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)?;
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            if let Some(&fd) = fds.first() {
                // SAFETY: the kernel just installed this descriptor in our table for this
                // message alone; nothing else owns it.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Err(io::Error::new(io::ErrorKind::InvalidData, "no descriptor in the message"))
}

/// ioctl(TIOCGWINSZ): the window size of the terminal behind `fd`.
pub fn window_size(fd: BorrowedFd<'_>) -> io::Result<libc::winsize> {
    let mut size = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one winsize into the valid, exclusively borrowed `size`.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut size as *mut libc::winsize) };
    check(ret.into()).map(|_| size)
}

/// ioctl(TIOCSWINSZ): give the terminal behind `fd` this window size.
pub fn set_window_size(fd: BorrowedFd<'_>, size: &libc::winsize) -> io::Result<()> {
    // SAFETY: TIOCSWINSZ only reads one winsize from `size`, valid for the call.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, size as *const libc::winsize) };
    check(ret.into()).map(drop)
}

/// Leave the process at once with `code`, without running destructors or atexit handlers.
/// Used by the container's init after a fork, where unwinding into the parent's code is wrong.
pub fn exit_immediately(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no Rust state.
    unsafe { libc::_exit(code) }
}

/// close_range(first, ~0, CLOSE_RANGE_CLOEXEC): every fd from `first` up closes at exec.
pub fn close_range_on_exec(first: u32) -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: plain integer arguments; marking descriptors close-on-exec affects no memory.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    check(ret).map(drop)
}

/// ioctl(TIOCSCTTY): make the terminal behind `fd` our controlling terminal.
pub fn set_controlling_terminal(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument (0: do not steal), no pointers.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) };
    check(ret.into()).map(drop)
}

/// Clear FD_CLOEXEC on `fd`, a descriptor number the caller handed us (--preserve-fds).
pub fn clear_close_on_exec(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl(F_SETFD) on any integer is memory-safe; an fd that is not open gives EBADF.
    let ret = unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    check(ret.into()).map(drop)
}

/// Set FD_CLOEXEC on `fd`, a number read from /proc/thread-self/fd (the close_range fallback).
pub fn set_close_on_exec(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl(F_SETFD) on any integer is memory-safe; an fd closed meanwhile gives EBADF.
    let ret = unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    check(ret.into()).map(drop)
}

/// seccomp(SECCOMP_SET_MODE_FILTER, flags, prog): install one BPF filter on this thread.
/// The caller has no_new_privs set or holds CAP_SYS_ADMIN, or the kernel refuses (EACCES).
/// With SECCOMP_FILTER_FLAG_NEW_LISTENER in `flags` the kernel returns the filter's
/// notify fd, given back here.
pub fn seccomp_set_filter(program: &[seccompiler::sock_filter], flags: u32) -> io::Result<Option<OwnedFd>> {
    let prog = libc::sock_fprog {
        len: program.len() as u16,
        // The kernel only reads the instructions; the cast drops a const it does not need.
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points at `program`, which outlives the call; seccompiler's sock_filter
    // and libc's share the kernel's layout (u16 code, u8 jt, u8 jf, u32 k), and the kernel
    // copies the program before returning.
    let ret = unsafe {
        libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, flags, &prog as *const libc::sock_fprog)
    };
    let fd = check(ret)? as RawFd;
    if flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32 == 0 {
        return Ok(None);
    }
    // SAFETY: with NEW_LISTENER, seccomp just returned this new (close-on-exec) descriptor;
    // nothing else owns it.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Put SIGPIPE back to its default action. Rust's runtime ignores it before main, which
/// would make `berth state | head` fail with EPIPE instead of ending quietly, and, since an
/// ignored signal stays ignored across execve, would hand the container's program an ignored
/// SIGPIPE too.
pub fn restore_default_sigpipe() {
    // SAFETY: setting a signal to SIG_DFL installs no handler, so no handler can run with
    // broken invariants; we are single-threaded at this point (first thing in main).
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Run `write` with SIGPIPE ignored, then put the previous disposition back: a write to a
/// pipe whose reader has gone (a hook that exits without reading its stdin) then fails with
/// EPIPE instead of killing berth. berth is single-threaded where it runs hooks, so no other
/// thread sees the change.
pub fn without_sigpipe<T>(write: impl FnOnce() -> T) -> T {
    // SAFETY: sigaction is plain data, for which all zeroes is a valid value (SIG_DFL, an
    // empty mask, no flags).
    let mut ignore: libc::sigaction = unsafe { std::mem::zeroed() };
    ignore.sa_sigaction = libc::SIG_IGN;
    let mut previous = ignore;
    // SAFETY: SIG_IGN installs no handler; both structs are valid and alive for the call.
    unsafe { libc::sigaction(libc::SIGPIPE, &ignore, &mut previous) };
    let result = write();
    // SAFETY: reinstalls the disposition the kernel just gave us, unchanged.
    unsafe {
        libc::sigaction(libc::SIGPIPE, &previous, std::ptr::null_mut());
    }
    result
}

/// Give every signal its default action, so the container's program does not inherit signals
/// its manager (or a Rust parent) chose to ignore; execve keeps ignored signals ignored.
///
/// This goes to rt_sigaction directly: glibc's signal() refuses the two real-time signals it
/// reserves for itself (32 and 33), which a caller may still have ignored.
pub fn reset_signal_dispositions() {
    /// The kernel's `struct sigaction` on x86_64 (handler, flags, restorer, mask).
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    let default = KernelSigaction { handler: libc::SIG_DFL, flags: 0, restorer: 0, mask: 0 };
    for signal in 1..=64 {
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        // SAFETY: `default` is a valid kernel sigaction alive for the call, installing no
        // handler; the old action pointer is null (not wanted) and 8 is the kernel's sigset
        // size on x86_64. A refused signal number only returns an error, ignored here.
        unsafe {
            libc::syscall(libc::SYS_rt_sigaction, signal, &default as *const KernelSigaction, std::ptr::null::<KernelSigaction>(), 8usize);
        }
    }
}

/// open_tree(2) flags and friends (linux/mount.h), spelled here so older libc crates do too.
const OPEN_TREE_CLONE: libc::c_uint = 0x1;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;

/// open_tree(OPEN_TREE_CLONE): a detached copy of the mount at `path` (with every mount below
/// it when `recursive`), not attached anywhere until [`attach_tree`] (Linux 5.2+).
pub fn clone_tree(path: &Path, recursive: bool) -> io::Result<OwnedFd> {
    let cpath = cstring(path)?;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    if recursive {
        flags |= AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: `cpath` is a NUL-terminated string alive for the call; the kernel returns a new
    // descriptor or -1.
    let ret = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, cpath.as_ptr(), flags) };
    let fd = check(ret)? as RawFd;
    // SAFETY: open_tree just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// open_tree(fd, "", OPEN_TREE_CLONE | AT_EMPTY_PATH): like [`clone_tree`], of exactly the
/// file or directory behind `fd`, which no later change to any path can swap.
pub fn clone_tree_of(fd: BorrowedFd<'_>, recursive: bool) -> io::Result<OwnedFd> {
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: the empty path is a valid C string; AT_EMPTY_PATH makes the kernel act on `fd`.
    let ret = unsafe { libc::syscall(libc::SYS_open_tree, fd.as_raw_fd(), c"".as_ptr(), flags) };
    let fd = check(ret)? as RawFd;
    // SAFETY: open_tree just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// fsopen(2): a filesystem context for `fstype`, to configure and then mount detached.
pub fn fs_context(fstype: &std::ffi::CStr) -> io::Result<OwnedFd> {
    const FSOPEN_CLOEXEC: libc::c_uint = 1;
    // SAFETY: `fstype` is a NUL-terminated string alive for the call; the kernel returns a new
    // descriptor or -1.
    let ret = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) };
    let fd = check(ret)? as RawFd;
    // SAFETY: fsopen just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// fsconfig(FSCONFIG_SET_STRING): set option `key` to `value` on a filesystem context.
pub fn fs_context_set(context: BorrowedFd<'_>, key: &std::ffi::CStr, value: &std::ffi::CStr) -> io::Result<()> {
    const FSCONFIG_SET_STRING: libc::c_uint = 1;
    // SAFETY: both strings are NUL-terminated and alive for the call; aux must be 0 here.
    let ret = unsafe { libc::syscall(libc::SYS_fsconfig, context.as_raw_fd(), FSCONFIG_SET_STRING, key.as_ptr(), value.as_ptr(), 0) };
    check(ret).map(drop)
}

/// Mount attributes for [`fs_context_mount`] (linux/mount.h).
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;

/// fsconfig(FSCONFIG_CMD_CREATE) then fsmount(2): the configured filesystem as a mount that
/// is attached nowhere, reachable only through the returned descriptor (gone when it closes).
pub fn fs_context_mount(context: BorrowedFd<'_>, attributes: u64) -> io::Result<OwnedFd> {
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    // SAFETY: CMD_CREATE takes no key, value or aux: null pointers and 0 are what it expects.
    let ret = unsafe {
        libc::syscall(libc::SYS_fsconfig, context.as_raw_fd(), FSCONFIG_CMD_CREATE, std::ptr::null::<libc::c_char>(), std::ptr::null::<libc::c_void>(), 0)
    };
    check(ret)?;
    // SAFETY: plain integer arguments; the kernel returns a new descriptor or -1.
    let ret = unsafe { libc::syscall(libc::SYS_fsmount, context.as_raw_fd(), FSMOUNT_CLOEXEC, attributes) };
    let fd = check(ret)? as RawFd;
    // SAFETY: fsmount just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}


/// mount_setattr(MOUNT_ATTR_IDMAP): make the detached tree at `tree` (its top mount, or every
/// mount with `recursive`) show file ids through the maps of the user namespace `userns`
/// (Linux 5.12+; each filesystem opts in, see README).
pub fn idmap_tree(tree: BorrowedFd<'_>, userns: BorrowedFd<'_>, recursive: bool) -> io::Result<()> {
    let attr = MountAttr { attr_set: MOUNT_ATTR_IDMAP, attr_clr: 0, propagation: 0, userns_fd: userns.as_raw_fd() as u64 };
    let flags = libc::AT_EMPTY_PATH | if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: the empty path is a valid C string, `attr` a valid mount_attr alive for the call,
    // and AT_EMPTY_PATH makes the kernel act on `tree` itself.
    let ret = unsafe {
        libc::syscall(libc::SYS_mount_setattr, tree.as_raw_fd(), c"".as_ptr(), flags, &attr as *const MountAttr, std::mem::size_of::<MountAttr>())
    };
    check(ret).map(drop)
}

/// move_mount(2): attach the detached tree `tree` on `target` (a destination opened O_PATH,
/// resolved inside the rootfs), descriptor to descriptor, so no path is looked up again.
pub fn attach_tree(tree: BorrowedFd<'_>, target: BorrowedFd<'_>) -> io::Result<()> {
    const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
    // SAFETY: both paths are the empty C string, alive for the call; the *_EMPTY_PATH flags
    // make the kernel act on the two descriptors themselves.
    let ret = unsafe {
        libc::syscall(libc::SYS_move_mount, tree.as_raw_fd(), c"".as_ptr(), target.as_raw_fd(), c"".as_ptr(), MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)
    };
    check(ret).map(drop)
}

/// statfs(2) f_type of the filesystem behind `fd`, to name it in errors.
pub fn filesystem_magic(fd: BorrowedFd<'_>) -> io::Result<i64> {
    let mut buf = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `buf` is writable storage for one statfs, which the kernel fills on success.
    let ret = unsafe { libc::fstatfs(fd.as_raw_fd(), buf.as_mut_ptr()) };
    check(ret.into())?;
    // SAFETY: fstatfs returned 0, so it initialised `buf`.
    let magic = unsafe { buf.assume_init() }.f_type;
    // glibc declares f_type signed, musl unsigned; the magic numbers fit either.
    #[allow(clippy::unnecessary_cast)]
    Ok(magic as i64)
}

/// Make the child that `command` spawns die (SIGKILL) with this process: the parent-death
/// signal is set between fork and exec, and a parent already gone by then (the child was
/// reparented) ends the child before it execs.
pub fn die_with_parent(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: getpid takes no arguments and cannot fail.
    let parent = unsafe { libc::getpid() };
    let arm = move || {
        // SAFETY: prctl(PR_SET_PDEATHSIG) is an async-signal-safe syscall on plain integers;
        // it neither allocates nor takes a lock, as the forked child requires.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) };
        // SAFETY: getppid takes no arguments and cannot fail.
        let parent_now = unsafe { libc::getppid() };
        if parent_now != parent {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        Ok(())
    };
    // SAFETY: the closure only makes the async-signal-safe calls above (see there).
    unsafe {
        command.pre_exec(arm);
    }
}

/// open_tree(AT_FDCWD, path, OPEN_TREE_CLONE): a detached bind mount of the file `path`
/// resolves to (through a magic link such as /proc/self/exe too).
pub fn clone_file_mount(path: &std::ffi::CStr) -> io::Result<OwnedFd> {
    let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    // SAFETY: `path` is a NUL-terminated string alive for the call; the kernel returns a new
    // descriptor or -1.
    let ret = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) };
    let fd = check(ret)? as RawFd;
    // SAFETY: open_tree just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// mount_setattr(2) on the detached mount `tree` alone: set `attributes` (MOUNT_ATTR_*).
pub fn set_mount_attributes(tree: BorrowedFd<'_>, attributes: u64) -> io::Result<()> {
    let attr = MountAttr { attr_set: attributes, attr_clr: 0, propagation: 0, userns_fd: 0 };
    // SAFETY: the empty path is a valid C string, `attr` a valid mount_attr alive for the call,
    // and AT_EMPTY_PATH makes the kernel act on `tree` itself.
    let ret = unsafe {
        libc::syscall(libc::SYS_mount_setattr, tree.as_raw_fd(), c"".as_ptr(), libc::AT_EMPTY_PATH, &attr as *const MountAttr, std::mem::size_of::<MountAttr>())
    };
    check(ret).map(drop)
}

/// memfd_create(2) with sealing allowed, close-on-exec.
pub fn sealable_memfd(name: &std::ffi::CStr) -> io::Result<OwnedFd> {
    // SAFETY: `name` is a NUL-terminated string alive for the call.
    let ret = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    let fd = check(ret.into())? as RawFd;
    // SAFETY: memfd_create just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// sendfile(2) `count` bytes from `from` to `to`; returns how many were copied.
pub fn copy_file_bytes(to: BorrowedFd<'_>, from: BorrowedFd<'_>, count: usize) -> io::Result<usize> {
    // SAFETY: two descriptors, a null offset (use and advance the file position) and a count.
    let ret = unsafe { libc::sendfile(to.as_raw_fd(), from.as_raw_fd(), std::ptr::null_mut(), count) };
    check(ret as libc::c_long).map(|n| n as usize)
}

/// fcntl(F_ADD_SEALS) / fcntl(F_GET_SEALS).
pub fn add_seals(fd: BorrowedFd<'_>, seals: libc::c_int) -> io::Result<()> {
    // SAFETY: fcntl with an integer argument on a descriptor we hold.
    let ret = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) };
    check(ret.into()).map(drop)
}

pub fn get_seals(fd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    // SAFETY: fcntl without argument on a descriptor we hold.
    let ret = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    check(ret.into()).map(|s| s as libc::c_int)
}

/// execveat(fd, "", argv, envp, AT_EMPTY_PATH): run the program behind `fd`. Returns only on
/// failure.
pub fn exec_fd(fd: BorrowedFd<'_>, argv: &[std::ffi::CString], envp: &[std::ffi::CString]) -> io::Error {
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut envp_ptrs: Vec<*const libc::c_char> = envp.iter().map(|e| e.as_ptr()).collect();
    envp_ptrs.push(std::ptr::null());
    // SAFETY: both arrays are NULL-terminated arrays of pointers to NUL-terminated strings
    // that outlive the call (`argv`, `envp` are borrowed); the empty path with AT_EMPTY_PATH
    // makes the kernel execute `fd` itself.
    unsafe {
        libc::syscall(libc::SYS_execveat, fd.as_raw_fd(), c"".as_ptr(), argv_ptrs.as_ptr(), envp_ptrs.as_ptr(), libc::AT_EMPTY_PATH);
    }
    io::Error::last_os_error()
}

/// Overwrite this process's environment strings with NUL bytes. A clone shares the text of
/// the host's environment with its parent (copy-on-write); once its own copy is blank,
/// /proc/PID/environ shows nothing of the host. The caller reads no variable afterwards.
pub fn scrub_environment() {
    extern "C" {
        static mut environ: *mut *mut libc::c_char;
    }
    // SAFETY: reading the `environ` pointer itself; this process is single-threaded here (a
    // fresh clone), so nothing changes it meanwhile.
    let mut entry = unsafe { environ };
    if entry.is_null() {
        return;
    }
    loop {
        // SAFETY: `entry` walks the NULL-terminated array libc keeps `environ` pointing at; we
        // stop at its NULL.
        let text = unsafe { *entry };
        if text.is_null() {
            return;
        }
        // SAFETY: `text` is a NUL-terminated string of this process's own writable memory (the
        // initial stack, or the heap for a variable set later); strlen stays inside it.
        let len = unsafe { libc::strlen(text) };
        // SAFETY: the `len` bytes before that NUL belong to the same string, so the write stays
        // inside it; no Rust reference to them exists.
        unsafe { std::ptr::write_bytes(text, 0, len) };
        // SAFETY: `entry` was not the terminating NULL, so the next element is in the array.
        entry = unsafe { entry.add(1) };
    }
}

/// ioctl(TIOCGPTPEER): open the slave of the pty master `master` without looking up its name.
pub fn pty_peer(master: BorrowedFd<'_>, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: TIOCGPTPEER takes the open flags as an integer argument, no pointers.
    let ret = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) };
    let fd = check(ret.into())? as RawFd;
    // SAFETY: the ioctl just returned this new descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_last_capability_is_the_kernels() {
        let text = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").expect("read cap_last_cap");
        assert_eq!(super::last_capability().to_string(), text.trim());
    }
}
