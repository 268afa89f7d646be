//! The container's filesystem view: mounts, /dev, the pivot into the rootfs, masked and
//! read-only paths. Runs in the container's init, inside its new mount namespace.

mod copyup;
mod devices;
mod masks;
mod mounts;
pub mod paths;

use crate::plan::{Plan, Propagation};
use crate::procfs::{Files, ProcFs};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// A failed step of building the container's filesystem, naming the field and path.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// A mount listed in config.json failed.
    #[error("{field}: mount {fstype} on {destination}: {source}")]
    Mount { field: String, fstype: String, destination: PathBuf, source: io::Error },
    /// The host's cgroup hierarchies could not be read for a cgroup mount.
    #[error("{field}: {source}")]
    Hierarchies { field: String, source: Box<berth_cgroups::Error> },
    /// procfs or sysfs asked onto a symlink or a file: it would not be where berth and the
    /// container's LSM look for it (CVE-2019-16884, CVE-2019-19921).
    #[error("{field}: {destination} must be a real directory in the rootfs, not a symlink or a file")]
    NotRealDirectory { field: String, destination: PathBuf },
    /// A mount whose destination lands inside procfs, which would redirect writes meant for
    /// a procfs file (CVE-2025-52881).
    #[error("{field}: {destination} is inside procfs: only the files lxcfs provides may be mounted over there")]
    OverProcfs { field: String, destination: PathBuf },
    /// The container's /dev/null, which masks files, is not the null device (CVE-2025-31133).
    #[error("linux.maskedPaths: /dev/null in the container is not the null device (char 1:3)")]
    FakeDevNull,
    #[error(transparent)]
    Procfs(#[from] crate::procfs::ProcfsError),
    /// Another filesystem operation failed.
    #[error("{op} {path}: {source}")]
    Op { op: &'static str, path: PathBuf, source: io::Error },
}

pub(crate) fn op_error<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> RootfsError + 'a {
    move |source| RootfsError::Op { op, path: path.to_owned(), source }
}

fn nix_op<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(nix::Error) -> RootfsError + 'a {
    move |e| RootfsError::Op { op, path: path.to_owned(), source: e.into() }
}

/// Build the container's filesystem and make it the root: the kernel recipe, in order.
/// [`finalize`] locks it down once the init has written what it needs (sysctls) through it.
pub fn prepare(plan: &Plan, cgroup_dirs: &[PathBuf], detached: &crate::idmap::DetachedMounts) -> Result<(), RootfsError> {
    let rootfs = plan.rootfs.as_path();
    // Steps 1 and 2 set up a mount namespace of the container's own; in an inherited or
    // joined one they would change a namespace that is not ours (runc makes the host's /
    // rslave there), so the mounts go straight under the rootfs and the init chroots.
    if plan.namespaces.has_new(libc::CLONE_NEWNS) {
        own_root(plan, detached)?;
    }
    let root = nix::fcntl::open(rootfs, nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
        .map_err(nix_op("open", rootfs))?;
    mount_all(plan, cgroup_dirs, detached, root.as_fd())
}

/// Steps 1 and 2 of [`prepare`]: the propagation of the copied host tree, and the rootfs as a
/// mount point of its own.
fn own_root(plan: &Plan, detached: &crate::idmap::DetachedMounts) -> Result<(), RootfsError> {
    let rootfs = plan.rootfs.as_path();
    // 1. Nothing we mount from here on may propagate back to the host: the host's tree
    //    becomes rslave in our namespace, unless rootfsPropagation asks for another mode (as
    //    in runc). rshared keeps shared host mounts peers, so a container's mount below an
    //    rshared bind of one reaches the host (bidirectional propagation).
    //    Unbindable would forbid the rootfs bind below: it is applied after pivot_root only.
    let root_flags = match plan.rootfs_propagation {
        Propagation::Unbindable | Propagation::RUnbindable => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        other => MsFlags::from_bits_retain(other.flags()),
    };
    mount(None::<&str>, "/", None::<&str>, root_flags, None::<&str>).map_err(nix_op("set the propagation of /", Path::new("/")))?;
    if matches!(plan.rootfs_propagation, Propagation::Shared | Propagation::RShared) {
        // pivot_root refuses a shared parent, and the rootfs bind below must not reach the
        // host: / and the mount holding the rootfs become private (not their submounts).
        for point in [Path::new("/"), &mount_point_of(rootfs)] {
            mount(None::<&str>, point, None::<&str>, MsFlags::MS_PRIVATE, None::<&str>).map_err(nix_op("make private", point))?;
        }
    }
    // 2. The rootfs must be a mount point of its own for pivot_root (and for MS_MOVE): an
    //    idmapped copy the parent made, or the rootfs bound onto itself.
    match &detached.rootfs {
        Some(tree) => {
            let target = nix::fcntl::open(rootfs, nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
                .map_err(nix_op("open", rootfs))?;
            crate::sys::attach_tree(tree.as_fd(), target.as_fd()).map_err(op_error("attach the idmapped rootfs (move_mount)", rootfs))?
        }
        None => mount(Some(rootfs), rootfs, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
            .map_err(nix_op("bind the rootfs onto itself", rootfs))?,
    }
    Ok(())
}

/// Steps 3 and 4 of [`prepare`]: config.json's mounts and /dev, under `root`.
fn mount_all(plan: &Plan, cgroup_dirs: &[PathBuf], detached: &crate::idmap::DetachedMounts, root: std::os::fd::BorrowedFd<'_>) -> Result<(), RootfsError> {
    // 3. The mounts of config.json, in order, each resolved inside the rootfs.
    // In a user namespace, ours or the one an unprivileged caller runs us in, the kernel
    // refuses mknod and fresh mounts of filesystems tied to namespaces it does not own.
    let in_user_namespace = plan.user.is_some() || crate::userns::unprivileged();
    let view = mounts::CgroupView {
        own_namespace: plan.namespaces.has_new(libc::CLONE_NEWCGROUP),
        dirs: cgroup_dirs,
        in_user_namespace,
        own_network: plan.namespaces.has_new(libc::CLONE_NEWNET),
    };
    for (i, m) in plan.mounts.iter().enumerate() {
        mounts::mount_entry(root.as_fd(), m, &view, detached.mount(i))?;
    }
    // 4. /dev: device nodes and the standard links.
    devices::populate(root.as_fd(), &plan.devices, in_user_namespace)?;
    // 5. A terminal's /dev/console: the file the init binds its pty over (see tty), made now
    //    while the rootfs may still be written to.
    if plan.process.terminal {
        paths::ensure_file(root.as_fd(), Path::new("/dev/console")).map_err(op_error("create (inside rootfs)", Path::new("/dev/console")))?;
    }
    Ok(())
}

/// The mount point of the mount that holds `path` (the longest mount point that is a prefix
/// of it, in /proc/self/mountinfo); "/" if none is found.
fn mount_point_of(path: &Path) -> PathBuf {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|point| PathBuf::from(berth_cgroups::unescape_mountinfo(point)))
        .filter(|point| path.starts_with(point))
        .max_by_key(|point| point.as_os_str().len())
        .unwrap_or_else(|| PathBuf::from("/"))
}


/// Make the prepared rootfs the root and let go of the host's tree.
pub fn enter(plan: &Plan, no_pivot: bool) -> Result<(), RootfsError> {
    let rootfs = plan.rootfs.as_path();
    // 5. Stand in the rootfs, then pivot (or move and chroot) into it.
    nix::unistd::chdir(rootfs).map_err(nix_op("chdir", rootfs))?;
    if no_pivot {
        move_root(rootfs)?;
    } else {
        pivot_root(rootfs)?;
    }
    Ok(())
}

/// Lock the new root down: masked and read-only paths, the root's propagation, and a
/// read-only root if asked.
pub fn finalize(plan: &Plan, own_root: bool) -> Result<(), RootfsError> {
    // 6. Hide and freeze what the container must not change (paths inside the new root,
    //    resolved and mounted by descriptor).
    let root = nix::fcntl::open("/", nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
        .map_err(nix_op("open", Path::new("/")))?;
    let mut null = masks::NullDevice::default();
    for path in &plan.masked_paths {
        masks::mask(root.as_fd(), &mut null, path)?;
    }
    for path in &plan.readonly_paths {
        masks::make_readonly(root.as_fd(), path)?;
    }
    // 7. Propagation of the container's root as asked, then read-only if asked; only for a
    //    root of its own (a chroot's / is a directory of a mount that is not the container's).
    if own_root && plan.rootfs_propagation != Propagation::RSlave {
        mount(None::<&str>, "/", None::<&str>, MsFlags::from_bits_retain(plan.rootfs_propagation.flags()), None::<&str>)
            .map_err(nix_op("set rootfsPropagation on", Path::new("/")))?;
    }
    if plan.dev_readonly {
        mounts::remount_readonly(Path::new("/dev"))?;
    }
    if own_root && plan.rootfs_readonly {
        mounts::remount_readonly(Path::new("/"))?;
    }
    Ok(())
}

/// Detach every mount below `rootfs` (not the rootfs itself) in this mount namespace,
/// deepest first: what a container sharing the host's mount namespace mounted there. Each is
/// found by a descriptor resolved inside the rootfs, so a symlink the container left in a
/// mount point's path cannot turn the unmount onto a host mount. Best effort.
pub fn detach_below(rootfs: &Path) {
    let Ok(root) = nix::fcntl::open(rootfs, nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty()) else {
        return;
    };
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|point| PathBuf::from(berth_cgroups::unescape_mountinfo(point)))
        .filter(|point| point.starts_with(rootfs) && point != rootfs)
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for point in points {
        let Ok(inside) = point.strip_prefix(rootfs) else { continue };
        if let Ok(fd) = paths::open_path(root.as_fd(), &Path::new("/").join(inside)) {
            let _ = umount2(&paths::proc_fd_path(&fd), MntFlags::MNT_DETACH);
        }
    }
}

/// pivot_root(".", "."): the old root ends up stacked on the new one and is detached at once,
/// so no directory for it is needed inside the rootfs (runc's way).
fn pivot_root(rootfs: &Path) -> Result<(), RootfsError> {
    use nix::fcntl::OFlag;
    let old_root = nix::fcntl::open("/", OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
        .map_err(nix_op("open", Path::new("/")))?;
    nix::unistd::pivot_root(".", ".").map_err(nix_op("pivot_root", rootfs))?;
    // Stand in the old root, now stacked on the new one: "." must name it, not the new root,
    // or the rslave below would also turn the container's shared mounts into slaves.
    nix::unistd::fchdir(&old_root).map_err(nix_op("chdir to old root", rootfs))?;
    // The old root may be shared with the host: make it slave before detaching it, so the
    // unmount does not propagate back.
    mount(None::<&str>, ".", None::<&str>, MsFlags::MS_SLAVE | MsFlags::MS_REC, None::<&str>)
        .map_err(nix_op("make old root rslave", rootfs))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(nix_op("detach old root", rootfs))?;
    nix::unistd::chdir("/").map_err(nix_op("chdir", Path::new("/")))
}

/// --no-pivot: move the rootfs mount over / and chroot into it (for ramfs roots).
fn move_root(rootfs: &Path) -> Result<(), RootfsError> {
    // The host's mounts stay in this namespace, under the moved root. The kernel lets a new
    // user namespace mount a fresh procfs or sysfs only while a fully visible one exists in
    // its mount namespace: the host's would be one, and the fresh mount would show what the
    // container's masks hide. Detach every procfs and sysfs outside the rootfs (runc does too).
    let mountinfo = ProcFs::open(Files::All)?.read(Path::new("thread-self/mountinfo"))?;
    let host_mounts = berth_cgroups::mount_points_of_type(&mountinfo, &["proc", "sysfs"]);
    // Deepest first; `/` is rslave since prepare, so nothing propagates back to the host.
    for mount_point in host_mounts.iter().rev().filter(|p| !p.starts_with(rootfs)) {
        match umount2(mount_point, MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOENT) => {}
            Err(e) => return Err(nix_op("detach the host's", mount_point)(e)),
        }
    }
    mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>).map_err(nix_op("move rootfs to /", rootfs))?;
    nix::unistd::chroot(".").map_err(nix_op("chroot", rootfs))?;
    nix::unistd::chdir("/").map_err(nix_op("chdir", Path::new("/")))
}
