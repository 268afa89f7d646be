//! linux.maskedPaths and linux.readonlyPaths, applied by descriptor.
//!
//! Each path is resolved inside the new root with openat2, and every mount is made with the
//! new mount API from descriptor to descriptor (open_tree, fsmount, move_mount), so no path
//! is looked up twice and nothing the container placed in between can be swapped in. Files
//! are covered with the container's /dev/null only once it is known by descriptor to be the
//! real null device (CVE-2025-31133).

use super::paths::open_path;
use super::{op_error, RootfsError};
use crate::sys;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// The null device's numbers (1, 3).
const NULL_MAJOR: u64 = 1;
const NULL_MINOR: u64 = 3;

/// The container's /dev/null, opened once it is needed and checked to be the null device.
#[derive(Default)]
pub struct NullDevice(Option<OwnedFd>);

impl NullDevice {
    fn get(&mut self, root: BorrowedFd<'_>) -> Result<BorrowedFd<'_>, RootfsError> {
        if self.0.is_none() {
            let path = Path::new("/dev/null");
            let resolve = sys::RESOLVE_IN_ROOT | sys::RESOLVE_NO_SYMLINKS;
            let fd = sys::openat2(root, path, libc::O_PATH, 0, resolve).map_err(|_| RootfsError::FakeDevNull)?;
            let stat = nix::sys::stat::fstat(&fd).map_err(|e| op_error("fstat", path)(e.into()))?;
            let is_char = stat.st_mode & libc::S_IFMT == libc::S_IFCHR;
            let (major, minor) = (libc::major(stat.st_rdev) as u64, libc::minor(stat.st_rdev) as u64);
            if !is_char || (major, minor) != (NULL_MAJOR, NULL_MINOR) {
                return Err(RootfsError::FakeDevNull);
            }
            self.0 = Some(fd);
        }
        Ok(self.0.as_ref().map(AsFd::as_fd).expect("opened above"))
    }
}

/// Hide `path`: the verified /dev/null over a file, an empty read-only tmpfs over a
/// directory. A path that does not exist needs no hiding.
pub fn mask(root: BorrowedFd<'_>, null: &mut NullDevice, path: &Path) -> Result<(), RootfsError> {
    let failed = |e| op_error("mask (linux.maskedPaths)", path)(e);
    let target = match open_path(root, path) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(failed(e)),
    };
    let is_dir = nix::sys::stat::fstat(&target).map_err(|e| failed(e.into()))?.st_mode & libc::S_IFMT == libc::S_IFDIR;
    let cover = if is_dir {
        let context = sys::fs_context(c"tmpfs").map_err(failed)?;
        sys::fs_context_mount(context.as_fd(), sys::MOUNT_ATTR_RDONLY).map_err(failed)?
    } else {
        sys::clone_tree_of(null.get(root)?, false).map_err(failed)?
    };
    sys::attach_tree(cover.as_fd(), target.as_fd()).map_err(failed)
}

/// Make `path` read-only, with everything mounted below it: a recursive bind of exactly
/// what `path` resolved to, made read-only while still detached, then put over it.
pub fn make_readonly(root: BorrowedFd<'_>, path: &Path) -> Result<(), RootfsError> {
    let failed = |e| op_error("bind read-only (linux.readonlyPaths)", path)(e);
    let target = match open_path(root, path) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(failed(e)),
    };
    let copy = sys::clone_tree_of(target.as_fd(), true).map_err(failed)?;
    sys::make_tree_readonly(copy.as_fd()).map_err(failed)?;
    sys::attach_tree(copy.as_fd(), target.as_fd()).map_err(failed)
}
