//! Paths inside the container's root, resolved by file descriptor.
//!
//! Every lookup goes through openat2(RESOLVE_IN_ROOT): `..` and symlinks, absolute or relative,
//! are resolved as if the rootfs were `/`, so a hostile rootfs can never steer a mount, a device
//! node or a directory we create onto the host. Mounts then target `/proc/self/fd/N`, the exact
//! inode we resolved, not a path that could be swapped in between.

use crate::sys;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

const RESOLVE: u64 = sys::RESOLVE_IN_ROOT | sys::RESOLVE_NO_MAGICLINKS;

/// Open `path` (absolute, inside the container) under `root` with O_PATH.
pub fn open_path(root: BorrowedFd<'_>, path: &Path) -> io::Result<OwnedFd> {
    sys::openat2(root, path, libc::O_PATH, 0, RESOLVE)
}

/// Open the directory `path` (absolute, inside the container) under `root` for reading.
pub fn open_dir(root: BorrowedFd<'_>, path: &Path) -> io::Result<OwnedFd> {
    sys::openat2(root, path, libc::O_RDONLY | libc::O_DIRECTORY, 0, RESOLVE)
}

/// The magic-link path through which mount(2) reaches exactly the inode behind `fd`.
pub fn proc_fd_path(fd: &impl AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Create the directory `path` and its missing parents inside `root`; return it opened O_PATH.
/// `.` and `..` components are dropped, as if `path` were written without them.
pub fn mkdir_all(root: BorrowedFd<'_>, path: &Path, mode: u32) -> io::Result<OwnedFd> {
    let mut normal = PathBuf::from("/");
    normal.extend(path.components().filter(|c| matches!(c, Component::Normal(_))));
    mkdir_normal(root, &normal, mode)
}

/// [`mkdir_all`] of a path made only of normal components. Most directories (and the parents
/// of the rest) already exist, so the whole path is tried first: one lookup instead of one
/// per component, and only the missing tail is walked and made.
fn mkdir_normal(root: BorrowedFd<'_>, path: &Path, mode: u32) -> io::Result<OwnedFd> {
    match sys::openat2(root, path, libc::O_PATH | libc::O_DIRECTORY, 0, RESOLVE) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        found => return found,
    }
    let (parent, name) = split(path)?;
    let parent = mkdir_normal(root, parent, mode)?;
    match nix::sys::stat::mkdirat(parent.as_fd(), name, nix::sys::stat::Mode::from_bits_truncate(mode)) {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
        Err(e) => return Err(e.into()),
    }
    // Looked up again through the root: whatever is there now, even if something raced the
    // mkdir, is resolved inside it.
    sys::openat2(root, path, libc::O_PATH | libc::O_DIRECTORY, 0, RESOLVE)
}

/// Split an absolute container path into its parent and final name.
pub fn split(path: &Path) -> io::Result<(&Path, &std::ffi::OsStr)> {
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => Ok((parent, name)),
        _ => Err(io::Error::new(io::ErrorKind::InvalidInput, "path has no final component")),
    }
}

/// Make sure a regular file exists at `path` inside `root` (a bind-mount target for a file);
/// return it opened O_PATH.
pub fn ensure_file(root: BorrowedFd<'_>, path: &Path) -> io::Result<OwnedFd> {
    if let Ok(fd) = open_path(root, path) {
        return Ok(fd);
    }
    let (parent, name) = split(path)?;
    // O_PATH descriptors serve as the dirfd of *at calls.
    let dir = mkdir_all(root, parent, 0o755)?;
    use nix::fcntl::{openat, OFlag};
    let flags = OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
    match openat(dir.as_fd(), name, flags, nix::sys::stat::Mode::from_bits_truncate(0o644)) {
        Ok(_) | Err(nix::errno::Errno::EEXIST) => {}
        Err(e) => return Err(e.into()),
    }
    open_path(root, path)
}
