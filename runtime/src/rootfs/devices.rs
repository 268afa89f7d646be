//! Device nodes and the standard links in the container's /dev.

use super::paths::{ensure_file, mkdir_all, open_path, proc_fd_path, split};
use super::{op_error, RootfsError};
use crate::plan::DevicePlan;
use nix::errno::Errno;
use nix::sys::stat::{mknodat, Mode, SFlag};
use nix::unistd::{fchownat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

/// Links every Linux system has in /dev, pointing into the container's own /proc.
const LINKS: [(&str, &str); 5] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
];

/// Create the device nodes (replacing what the image had at those paths) and the links.
/// The init runs with umask 0 during setup, so the modes are exactly the planned ones.
/// In a user namespace the kernel refuses mknod, so `bind` makes each node a bind mount of
/// the host's node at the same path instead (as runc does).
pub fn populate(root: BorrowedFd<'_>, devices: &[DevicePlan], bind: bool) -> Result<(), RootfsError> {
    for dev in devices {
        if bind {
            bind_node(root, dev)?;
        } else {
            make_node(root, dev)?;
        }
    }
    let dev = mkdir_all(root, Path::new("/dev"), 0o755).map_err(op_error("mkdir (inside rootfs)", Path::new("/dev")))?;
    let has_pts = open_path(root, Path::new("/dev/pts/ptmx")).is_ok();
    for (name, target) in LINKS {
        if name == "ptmx" {
            if !has_pts {
                continue;
            }
            // A ptmx node from the image would bypass the container's own devpts instance.
            let _ = unlinkat(dev.as_fd(), name, UnlinkatFlags::NoRemoveDir);
        }
        match symlinkat(target, dev.as_fd(), name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(op_error("symlink", &Path::new("/dev").join(name))(e.into())),
        }
    }
    Ok(())
}

/// Bind the host's node at `dev.path` onto an empty file at the same path in the container.
/// Its owner and mode stay the host's: a container root cannot chown the host's node.
fn bind_node(root: BorrowedFd<'_>, dev: &DevicePlan) -> Result<(), RootfsError> {
    let (parent, name) = split(&dev.path).map_err(op_error("bind device", &dev.path))?;
    let dir = mkdir_all(root, parent, 0o755).map_err(op_error("mkdir (inside rootfs)", parent))?;
    // Whatever the image had there (a node it cannot use, a file) makes way for the target.
    let _ = unlinkat(dir.as_fd(), name, UnlinkatFlags::NoRemoveDir);
    let target = ensure_file(root, &dev.path).map_err(op_error("create (inside rootfs)", &dev.path))?;
    nix::mount::mount(Some(dev.path.as_path()), &proc_fd_path(&target), None::<&str>, nix::mount::MsFlags::MS_BIND, None::<&str>)
        .map_err(|e| op_error("bind device (user namespace)", &dev.path)(e.into()))
}

fn make_node(root: BorrowedFd<'_>, dev: &DevicePlan) -> Result<(), RootfsError> {
    let (parent, name) = split(&dev.path).map_err(op_error("mknod", &dev.path))?;
    let dir = mkdir_all(root, parent, 0o755).map_err(op_error("mkdir (inside rootfs)", parent))?;
    let kind = SFlag::from_bits_truncate(dev.kind);
    let mode = Mode::from_bits_truncate(dev.mode);
    let number = nix::sys::stat::makedev(dev.major, dev.minor);
    match mknodat(dir.as_fd(), name, kind, mode, number) {
        Ok(()) => {}
        Err(Errno::EEXIST) => {
            unlinkat(dir.as_fd(), name, UnlinkatFlags::NoRemoveDir).map_err(|e| op_error("unlink", &dev.path)(e.into()))?;
            mknodat(dir.as_fd(), name, kind, mode, number).map_err(|e| op_error("mknod", &dev.path)(e.into()))?;
        }
        Err(e) => return Err(op_error("mknod", &dev.path)(e.into())),
    }
    if dev.uid != 0 || dev.gid != 0 {
        fchownat(dir.as_fd(), name, Some(Uid::from_raw(dev.uid)), Some(Gid::from_raw(dev.gid)), nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
            .map_err(|e| op_error("chown", &dev.path)(e.into()))?;
    }
    Ok(())
}
