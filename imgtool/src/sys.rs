//! The one door to the kernel: every syscall berth-img makes goes through here,
//! and this is the only module with `unsafe`.
//!
//! Paths below a root are always opened by file descriptor with openat2, so
//! that no symlink or `..` can take a write outside of that root.

use std::ffi::{CString, OsStr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub use nix::errno::Errno;
use nix::fcntl;
pub use nix::fcntl::OFlag;
use nix::mount::{self, MntFlags, MsFlags};
use nix::sys::stat::{self, FileStat, Mode, SFlag};
use nix::sys::time::TimeSpec;
use nix::unistd::{self, Gid, Uid, UnlinkatFlags};

/// How a path below a directory fd is resolved.
#[derive(Clone, Copy, Debug)]
pub enum Resolve {
    /// Every step must stay beneath the directory: absolute symlinks and `..`
    /// above it fail with EXDEV (used while unpacking, where an escape is an attack).
    Beneath,
    /// The directory acts as `/`: symlinks resolve as they would in a container.
    InRoot,
}

/// Open `path` below `dir` with openat2, never through magic links (the runtime's one
/// openat2 wrapper, which retries the EAGAIN a racing rename or mount causes).
pub fn open_below(
    dir: BorrowedFd<'_>,
    path: &Path,
    flags: OFlag,
    resolve: Resolve,
) -> Result<OwnedFd, Errno> {
    use berth_runtime::openat2::{open, RESOLVE_BENEATH, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS};
    let scope = match resolve {
        Resolve::Beneath => RESOLVE_BENEATH,
        Resolve::InRoot => RESOLVE_IN_ROOT,
    };
    let path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    open(dir, path, flags.bits(), 0, scope | RESOLVE_NO_MAGICLINKS)
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
}

/// Open a directory by absolute or cwd-relative path (the roots we start from).
pub fn open_dir(path: &Path) -> Result<OwnedFd, Errno> {
    fcntl::open(
        path,
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// The names in directory `dir` (without `.` and `..`), and an fd of it back
/// (reading consumes the one given).
pub fn dir_names(dir: OwnedFd) -> Result<(OwnedFd, Vec<std::ffi::OsString>), Errno> {
    use std::os::unix::ffi::OsStringExt;
    let again = open_below(
        dir.as_fd(),
        Path::new("."),
        OFlag::O_RDONLY | OFlag::O_DIRECTORY,
        Resolve::Beneath,
    )?;
    let mut listing = nix::dir::Dir::from_fd(dir)?;
    let mut names = Vec::new();
    for entry in listing.iter() {
        let name = entry?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." {
            names.push(std::ffi::OsString::from_vec(name));
        }
    }
    Ok((again, names))
}

/// Create (exclusively) a regular file `name` in `dir` for writing.
pub fn create_file(dir: BorrowedFd<'_>, name: &OsStr, mode: u32) -> Result<OwnedFd, Errno> {
    let flags =
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    fcntl::openat(dir, name, flags, Mode::from_bits_truncate(mode & 0o777))
}

/// Open an existing entry of `dir` without following a symlink in its last component.
pub fn open_entry(dir: BorrowedFd<'_>, name: &OsStr, flags: OFlag) -> Result<OwnedFd, Errno> {
    fcntl::openat(
        dir,
        name,
        flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// mkdirat(2).
pub fn mkdir(dir: BorrowedFd<'_>, name: &OsStr, mode: u32) -> Result<(), Errno> {
    stat::mkdirat(dir, name, Mode::from_bits_truncate(mode & 0o7777))
}

/// symlinkat(2).
pub fn symlink(target: &OsStr, dir: BorrowedFd<'_>, name: &OsStr) -> Result<(), Errno> {
    unistd::symlinkat(target, dir, name)
}

/// linkat(2) without following a symlink at the source.
pub fn hardlink(
    src_dir: BorrowedFd<'_>,
    src: &OsStr,
    dir: BorrowedFd<'_>,
    name: &OsStr,
) -> Result<(), Errno> {
    unistd::linkat(src_dir, src, dir, name, fcntl::AtFlags::empty())
}

/// The kind of node [`mknod`] makes.
#[derive(Clone, Copy, Debug)]
pub enum NodeKind {
    /// A character device.
    Char,
    /// A block device.
    Block,
    /// A named pipe.
    Fifo,
}

/// mknodat(2).
pub fn mknod(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    kind: NodeKind,
    mode: u32,
    major: u64,
    minor: u64,
) -> Result<(), Errno> {
    let kind = match kind {
        NodeKind::Char => SFlag::S_IFCHR,
        NodeKind::Block => SFlag::S_IFBLK,
        NodeKind::Fifo => SFlag::S_IFIFO,
    };
    stat::mknodat(
        dir,
        name,
        kind,
        Mode::from_bits_truncate(mode & 0o7777),
        nix::sys::stat::makedev(major, minor),
    )
}

/// unlinkat(2) of a non-directory.
pub fn unlink(dir: BorrowedFd<'_>, name: &OsStr) -> Result<(), Errno> {
    unistd::unlinkat(dir, name, UnlinkatFlags::NoRemoveDir)
}

/// unlinkat(2) of an empty directory.
pub fn rmdir(dir: BorrowedFd<'_>, name: &OsStr) -> Result<(), Errno> {
    unistd::unlinkat(dir, name, UnlinkatFlags::RemoveDir)
}

/// fstatat(2) without following a final symlink.
pub fn lstat_at(dir: BorrowedFd<'_>, name: &OsStr) -> Result<FileStat, Errno> {
    stat::fstatat(dir, name, fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
}

/// fstat(2).
pub fn fstat(fd: BorrowedFd<'_>) -> Result<FileStat, Errno> {
    stat::fstat(fd)
}

/// fchownat(2) on an entry without following it.
pub fn lchown_at(dir: BorrowedFd<'_>, name: &OsStr, uid: u32, gid: u32) -> Result<(), Errno> {
    unistd::fchownat(
        dir,
        name,
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
        fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
}

/// fchmodat(2) on an entry that is not a symlink (the caller knows it is not).
pub fn chmod_at(dir: BorrowedFd<'_>, name: &OsStr, mode: u32) -> Result<(), Errno> {
    stat::fchmodat(
        dir,
        name,
        Mode::from_bits_truncate(mode & 0o7777),
        stat::FchmodatFlags::FollowSymlink,
    )
}

/// fchown(2) on an open file.
pub fn fchown(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> Result<(), Errno> {
    unistd::fchown(fd, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
}

/// fchmod(2) on an open file.
pub fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> Result<(), Errno> {
    stat::fchmod(fd, Mode::from_bits_truncate(mode & 0o7777))
}

/// Set access and modification time of an entry without following it.
pub fn set_times_at(dir: BorrowedFd<'_>, name: &OsStr, secs: i64, nanos: i64) -> Result<(), Errno> {
    let time = TimeSpec::new(secs, nanos);
    stat::utimensat(
        dir,
        name,
        &time,
        &time,
        stat::UtimensatFlags::NoFollowSymlink,
    )
}

/// Set access and modification time of an open file.
pub fn set_times(fd: BorrowedFd<'_>, secs: i64, nanos: i64) -> Result<(), Errno> {
    let time = TimeSpec::new(secs, nanos);
    stat::futimens(fd, &time, &time)
}

/// This process's umask, read from /proc/self/status (reading it with
/// umask(2) would change it for a moment under other threads); all bits set
/// when unknown, so callers fix modes explicitly.
pub fn umask() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        .unwrap_or(0o777)
}

/// The width in columns of the terminal `fd` is, if it is one.
pub fn terminal_columns(fd: BorrowedFd<'_>) -> Option<u16> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into `size`, which outlives the
    // call; the fd is borrowed, so it is open.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut size) };
    (rc == 0 && size.ws_col > 0).then_some(size.ws_col)
}

/// The effective uid is 0: ownership and device nodes can be applied.
pub fn is_root() -> bool {
    unistd::geteuid().is_root()
}

fn c_string(bytes: &[u8]) -> Result<CString, Errno> {
    CString::new(bytes).map_err(|_| Errno::EINVAL)
}

/// Set extended attribute `key` on an entry of `dir`, without following it.
///
/// There is no lsetxattrat(2) before Linux 6.13, so the entry is named through
/// its parent's /proc/self/fd link: the parent is an fd we hold, the name a
/// single component, so no symlink on the way is followed.
pub fn set_xattr_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    key: &[u8],
    value: &[u8],
) -> Result<(), Errno> {
    let mut path = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    path.extend_from_slice(name.as_bytes());
    let path = c_string(&path)?;
    let key = c_string(key)?;
    // SAFETY: path and key are NUL-terminated CStrings that outlive the call, and
    // value points to value.len() readable bytes.
    let rc = unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            key.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    Errno::result(rc).map(drop)
}

/// Set extended attribute `key` on an open file or directory.
pub fn set_xattr_fd(fd: BorrowedFd<'_>, key: &[u8], value: &[u8]) -> Result<(), Errno> {
    let key = c_string(key)?;
    // SAFETY: fd is a live descriptor borrowed for the call, key is a
    // NUL-terminated CString and value points to value.len() readable bytes.
    let rc = unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            key.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    Errno::result(rc).map(drop)
}

/// Mount an overlayfs on `target`.
pub fn mount_overlay(options: &str, target: &Path) -> Result<(), Errno> {
    mount::mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::empty(),
        Some(options),
    )
}

/// Unmount `target`; `detach` makes it lazy (MNT_DETACH).
pub fn unmount(target: &Path, detach: bool) -> Result<(), Errno> {
    let flags = if detach {
        MntFlags::MNT_DETACH
    } else {
        MntFlags::empty()
    };
    mount::umount2(target, flags)
}

/// Take an exclusive flock on `fd`, waiting for it.
pub fn lock_exclusive(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: fd is a live descriptor borrowed for the call; flock only reads it.
    let rc = unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX) };
    Errno::result(rc).map(drop)
}

/// Try an exclusive flock on `fd` without waiting; `Ok(false)` when another holds it.
pub fn try_lock_exclusive(fd: BorrowedFd<'_>) -> Result<bool, Errno> {
    // SAFETY: fd is a live descriptor borrowed for the call; flock only reads it.
    let rc = unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    match Errno::result(rc) {
        Ok(_) => Ok(true),
        Err(Errno::EWOULDBLOCK) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `path` is the root of a mount (its device differs from its parent's).
pub fn is_mount_point(path: &Path) -> bool {
    let (Ok(parent), Ok(me)) = (stat::lstat(&path.join("..")), stat::lstat(path)) else {
        return false;
    };
    parent.st_dev != me.st_dev
}

/// The extended attribute names of `path`, without following a final symlink.
pub fn list_xattrs(path: &Path) -> Result<Vec<Vec<u8>>, Errno> {
    let path = c_string(path.as_os_str().as_bytes())?;
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: path is a NUL-terminated CString and buf has buf.len() writable bytes.
        let rc = unsafe { libc::llistxattr(path.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        match Errno::result(rc) {
            Ok(n) => {
                buf.truncate(n as usize);
                return Ok(buf
                    .split(|b| *b == 0)
                    .filter(|n| !n.is_empty())
                    .map(<[u8]>::to_vec)
                    .collect());
            }
            Err(Errno::ERANGE) => buf.resize(buf.len() * 4, 0),
            Err(Errno::ENOTSUP) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        }
    }
}

/// The value of extended attribute `key` of `path`, not following a final symlink.
pub fn get_xattr(path: &Path, key: &[u8]) -> Result<Vec<u8>, Errno> {
    let path = c_string(path.as_os_str().as_bytes())?;
    let key = c_string(key)?;
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: path and key are NUL-terminated CStrings; buf has buf.len() writable bytes.
        let rc = unsafe {
            libc::lgetxattr(
                path.as_ptr(),
                key.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        match Errno::result(rc) {
            Ok(n) => {
                buf.truncate(n as usize);
                return Ok(buf);
            }
            Err(Errno::ERANGE) => buf.resize(buf.len() * 16, 0),
            Err(e) => return Err(e),
        }
    }
}

/// Remove extended attribute `key` of `path`, not following a final symlink.
pub fn remove_xattr(path: &Path, key: &[u8]) -> Result<(), Errno> {
    let path = c_string(path.as_os_str().as_bytes())?;
    let key = c_string(key)?;
    // SAFETY: path and key are NUL-terminated CStrings that outlive the call.
    let rc = unsafe { libc::lremovexattr(path.as_ptr(), key.as_ptr()) };
    Errno::result(rc).map(drop)
}

/// End this process with SIGKILL, as an operator's `kill -9` or the OOM
/// killer would (the kill points of tests, which debug builds alone have).
#[cfg(debug_assertions)]
pub fn kill_self() -> ! {
    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    std::process::abort()
}
