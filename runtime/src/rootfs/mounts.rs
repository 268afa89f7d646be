//! One entry of config.json `mounts[]` onto the rootfs, and the masked / read-only paths.

use super::copyup;
use super::paths::{ensure_file, mkdir_all, open_dir, open_path, proc_fd_path};
use super::{op_error, RootfsError};
use crate::plan::{MountKind, MountPlan};
use crate::sys;
use berth_cgroups::MountedHierarchy;
use nix::mount::{mount, MsFlags};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

fn mount_error(m: &MountPlan, fstype: &str) -> impl FnOnce(nix::Error) -> RootfsError {
    let (field, fstype, destination) = (m.field.clone(), fstype.to_owned(), m.destination.clone());
    move |e| RootfsError::Mount { field, fstype, destination, source: e.into() }
}

fn flags(bits: libc::c_ulong) -> MsFlags {
    MsFlags::from_bits_retain(bits)
}

/// Flags that only make sense on the first mount call, not on a remount.
const NOT_FOR_REMOUNT: libc::c_ulong = libc::MS_BIND | libc::MS_REC | libc::MS_REMOUNT;

/// What a cgroup mount should show: with a cgroup namespace of its own the kernel roots
/// fresh cgroup mounts at the container's cgroup; without one, the container's own cgroup
/// directories are bind-mounted so it never sees the host's tree.
pub struct CgroupView<'a> {
    pub own_namespace: bool,
    /// The container's cgroup directory in each host hierarchy.
    pub dirs: &'a [std::path::PathBuf],
    /// The container has a user namespace (new or joined).
    pub in_user_namespace: bool,
    /// The container has a network namespace of its own.
    pub own_network: bool,
}

/// Mount one entry under `root`.
/// `idmapped` is the detached tree the parent made for it, when it is an idmapped mount.
pub fn mount_entry(root: BorrowedFd<'_>, m: &MountPlan, view: &CgroupView<'_>, idmapped: Option<BorrowedFd<'_>>) -> Result<(), RootfsError> {
    match &m.kind {
        MountKind::Bind => bind(root, m, idmapped)?,
        MountKind::Cgroup => cgroup(root, m, view)?,
        MountKind::Fresh(fstype) if fstype == "tmpfs" => tmpfs(root, m)?,
        MountKind::Fresh(fstype) => {
            let target = match fstype.as_str() {
                "proc" | "sysfs" => real_directory(root, m)?,
                _ => destination_dir(root, m)?,
            };
            refuse_inside_procfs(root, m, target.as_fd())?;
            let source = m.source.as_deref().unwrap_or(Path::new(fstype));
            let data = (!m.data.is_empty()).then_some(m.data.as_str());
            let fallback = view.in_user_namespace.then(|| host_view_of(fstype)).flatten();
            match fallback {
                // sysfs shows the network namespace the mounter is in, and the kernel lets a
                // user namespace mount it only over one it owns: without a network namespace
                // of its own, the container sees the host's /sys as runc gives it.
                Some(host) if fstype == "sysfs" && !view.own_network => bind_host_view(root, m, host)?,
                _ => match mount(Some(source), &proc_fd_path(&target), Some(fstype.as_str()), flags(m.flags), data) {
                    // A joined namespace the user namespace does not own (mqueue: ipc; sysfs:
                    // network) refuses a fresh mount: show the host's view instead.
                    Err(nix::errno::Errno::EPERM) if fallback.is_some() => bind_host_view(root, m, fallback.unwrap_or_default())?,
                    other => other.map_err(mount_error(m, fstype))?,
                },
            }
        }
    }
    finish(root, m)
}

/// A tmpfs: over an existing directory it takes that directory's mode (an explicit mode=
/// still wins, coming later in the data) and, with tmpcopyup, a copy of its contents, as
/// runc does.
fn tmpfs(root: BorrowedFd<'_>, m: &MountPlan) -> Result<(), RootfsError> {
    let covered = open_dir(root, &m.destination).ok();
    let mut data = m.data.clone();
    if let Some(dir) = &covered {
        let mode = nix::sys::stat::fstat(dir).map_err(|e| op_error("stat", &m.destination)(e.into()))?.st_mode & 0o7777;
        data = if data.is_empty() { format!("mode={mode:04o}") } else { format!("mode={mode:04o},{data}") };
    }
    let target = destination_dir(root, m)?;
    let source = m.source.as_deref().unwrap_or(Path::new("tmpfs"));
    let data = (!data.is_empty()).then_some(data.as_str());
    mount(Some(source), &proc_fd_path(&target), Some("tmpfs"), flags(m.flags), data).map_err(mount_error(m, "tmpfs"))?;
    if let (true, Some(covered)) = (m.copy_up, covered) {
        let mounted = reopen(root, m)?;
        copyup::copy_tree(covered.as_fd(), mounted.as_fd()).map_err(|e| RootfsError::Mount {
            field: format!("{}.options", m.field),
            fstype: "tmpcopyup".into(),
            destination: m.destination.clone(),
            source: e.into(),
        })?;
    }
    Ok(())
}

/// The host directory a user namespace binds instead of mounting `fstype` fresh, for the
/// filesystems whose fresh mount needs a namespace the user namespace may not own.
fn host_view_of(fstype: &str) -> Option<&'static str> {
    match fstype {
        "sysfs" => Some("/sys"),
        "mqueue" => Some("/dev/mqueue"),
        _ => None,
    }
}

/// rbind the host's `host` directory at the mount's destination, with the entry's flags
/// (ro, nosuid, ...) applied by a bind remount.
fn bind_host_view(root: BorrowedFd<'_>, m: &MountPlan, host: &str) -> Result<(), RootfsError> {
    let target = destination_dir(root, m)?;
    mount(Some(host), &proc_fd_path(&target), None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        .map_err(mount_error(m, "rbind (user namespace)"))?;
    remount_bind_flags(root, m)
}

/// Apply the entry's ro/nosuid/... to the bind mount just made at its destination: the kernel
/// ignores them on the bind itself, so they take a bind remount.
fn remount_bind_flags(root: BorrowedFd<'_>, m: &MountPlan) -> Result<(), RootfsError> {
    let extra = m.flags & !NOT_FOR_REMOUNT;
    if extra != 0 {
        let mounted = reopen(root, m)?;
        mount(None::<&str>, &proc_fd_path(&mounted), None::<&str>, flags(extra | libc::MS_BIND | libc::MS_REMOUNT), None::<&str>)
            .map_err(mount_error(m, "bind remount"))?;
    }
    Ok(())
}

fn destination_dir(root: BorrowedFd<'_>, m: &MountPlan) -> Result<OwnedFd, RootfsError> {
    mkdir_all(root, &m.destination, 0o755).map_err(op_error("mkdir (inside rootfs)", &m.destination))
}

/// The destination of a procfs or sysfs mount: a directory reached without any symlink, so
/// /proc is where the kernel's users (and berth's LSM writes) expect it.
fn real_directory(root: BorrowedFd<'_>, m: &MountPlan) -> Result<OwnedFd, RootfsError> {
    let resolve = sys::RESOLVE_IN_ROOT | sys::RESOLVE_NO_SYMLINKS;
    let open = || sys::openat2(root, &m.destination, libc::O_PATH | libc::O_DIRECTORY, 0, resolve);
    let not_real = || RootfsError::NotRealDirectory { field: m.field.clone(), destination: m.destination.clone() };
    match open() {
        Ok(fd) => Ok(fd),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            drop(destination_dir(root, m)?);
            open().map_err(|_| not_real())
        }
        Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) => Err(not_real()),
        Err(e) => Err(op_error("open (inside rootfs)", &m.destination)(e)),
    }
}

/// Files lxcfs emulates by bind mounts over procfs, which runc allows too.
const LXCFS_FILES: [&str; 10] = [
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

/// Refuse a mount whose resolved destination is on procfs (by its filesystem, not its name,
/// so a symlink in the rootfs cannot hide it), unless it is one of lxcfs's files named
/// directly. A procfs on /proc itself is not such a mount: /proc is not procfs before it.
fn refuse_inside_procfs(root: BorrowedFd<'_>, m: &MountPlan, target: BorrowedFd<'_>) -> Result<(), RootfsError> {
    let on_procfs = nix::sys::statfs::fstatfs(target)
        .map(|s| s.filesystem_type() == nix::sys::statfs::PROC_SUPER_MAGIC)
        .map_err(|e| op_error("fstatfs (inside rootfs)", &m.destination)(e.into()))?;
    if !on_procfs {
        return Ok(());
    }
    let named_directly = || sys::openat2(root, &m.destination, libc::O_PATH, 0, sys::RESOLVE_IN_ROOT | sys::RESOLVE_NO_SYMLINKS).is_ok();
    if LXCFS_FILES.iter().any(|f| Path::new(f) == m.destination) && named_directly() {
        return Ok(());
    }
    Err(RootfsError::OverProcfs { field: m.field.clone(), destination: m.destination.clone() })
}

/// Bind or rbind a host path, then apply ro/nosuid/... with a bind remount (the kernel
/// ignores them on the bind itself).
fn bind(root: BorrowedFd<'_>, m: &MountPlan, idmapped: Option<BorrowedFd<'_>>) -> Result<(), RootfsError> {
    let source = m.source.as_deref().expect("validated: binds have a source");
    let is_dir = std::fs::metadata(source).map_err(op_error("stat", source))?.is_dir();
    let target = if is_dir {
        destination_dir(root, m)?
    } else {
        ensure_file(root, &m.destination).map_err(op_error("create (inside rootfs)", &m.destination))?
    };
    refuse_inside_procfs(root, m, target.as_fd())?;
    match idmapped {
        Some(tree) => sys::attach_tree(tree, target.as_fd()).map_err(|source| RootfsError::Mount {
            field: m.field.clone(),
            fstype: "idmapped bind (move_mount)".into(),
            destination: m.destination.clone(),
            source,
        })?,
        None => {
            let bind_flags = libc::MS_BIND | (m.flags & libc::MS_REC);
            mount(Some(source), &proc_fd_path(&target), None::<&str>, flags(bind_flags), None::<&str>)
                .map_err(mount_error(m, "bind"))?;
        }
    }
    remount_bind_flags(root, m)
}

/// The destination again, now resolving to the root of what was just mounted there.
fn reopen(root: BorrowedFd<'_>, m: &MountPlan) -> Result<OwnedFd, RootfsError> {
    open_path(root, &m.destination).map_err(op_error("open (inside rootfs)", &m.destination))
}

/// Propagation and recursive read-only, which act on the finished mount.
fn finish(root: BorrowedFd<'_>, m: &MountPlan) -> Result<(), RootfsError> {
    if m.propagation.is_empty() && !m.recursive_readonly {
        return Ok(());
    }
    let mounted = reopen(root, m)?;
    for p in &m.propagation {
        mount(None::<&str>, &proc_fd_path(&mounted), None::<&str>, flags(p.flags()), None::<&str>)
            .map_err(mount_error(m, "propagation"))?;
    }
    if m.recursive_readonly {
        sys::make_tree_readonly(mounted.as_fd()).map_err(|source| RootfsError::Mount {
            field: format!("{}.options", m.field),
            fstype: "rro (mount_setattr)".into(),
            destination: m.destination.clone(),
            source,
        })?;
    }
    Ok(())
}

/// A cgroup filesystem that matches the host: cgroup2 on a unified host; on v1 and hybrid
/// hosts a tmpfs with one cgroup mount per hierarchy, as runc lays it out.
fn cgroup(root: BorrowedFd<'_>, m: &MountPlan, view: &CgroupView<'_>) -> Result<(), RootfsError> {
    let hierarchies = berth_cgroups::mounted_hierarchies().map_err(|source| RootfsError::Hierarchies {
        field: m.field.clone(),
        source: Box::new(source),
    })?;
    let unified_only = hierarchies.iter().all(|h| h.unified) && !hierarchies.is_empty();
    if unified_only {
        return mount_hierarchy(root, &m.destination, m, view, &hierarchies[0]);
    }
    let target = destination_dir(root, m)?;
    let tmpfs_flags = m.flags & !libc::MS_RDONLY;
    mount(Some("tmpfs"), &proc_fd_path(&target), Some("tmpfs"), flags(tmpfs_flags), Some("mode=755"))
        .map_err(mount_error(m, "tmpfs"))?;
    for h in &hierarchies {
        let name = hierarchy_name(h);
        mount_hierarchy(root, &m.destination.join(&name), m, view, h)?;
        // "cpu,cpuacct" is also reachable as "cpu" and "cpuacct".
        if name.contains(',') {
            let dir = open_path(root, &m.destination).map_err(op_error("open (inside rootfs)", &m.destination))?;
            for alias in name.split(',') {
                match nix::unistd::symlinkat(name.as_str(), dir.as_fd(), alias) {
                    Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
                    Err(e) => return Err(op_error("symlink", &m.destination.join(alias))(e.into())),
                }
            }
        }
    }
    if m.flags & libc::MS_RDONLY != 0 {
        let mounted = reopen(root, m)?;
        let ro = tmpfs_flags | libc::MS_RDONLY | libc::MS_REMOUNT | libc::MS_BIND;
        mount(None::<&str>, &proc_fd_path(&mounted), None::<&str>, flags(ro), None::<&str>)
            .map_err(mount_error(m, "tmpfs remount"))?;
    }
    Ok(())
}

/// Mount one hierarchy at `dest` (inside the rootfs): fresh in a cgroup namespace, else the
/// container's own directory of it, read-only if asked. A hierarchy the container has no
/// directory in stays an empty directory.
fn mount_hierarchy(root: BorrowedFd<'_>, dest: &Path, m: &MountPlan, view: &CgroupView<'_>, h: &MountedHierarchy) -> Result<(), RootfsError> {
    let target = mkdir_all(root, dest, 0o755).map_err(op_error("mkdir (inside rootfs)", dest))?;
    if view.own_namespace {
        let fstype = if h.unified { "cgroup2" } else { "cgroup" };
        let options = h.controllers.join(",");
        let data = (!options.is_empty()).then_some(options.as_str());
        return mount(Some(fstype), &proc_fd_path(&target), Some(fstype), flags(m.flags), data).map_err(mount_error(m, fstype));
    }
    let Some(dir) = view.dirs.iter().find(|d| d.starts_with(&h.mount_point)) else { return Ok(()) };
    mount(Some(dir.as_path()), &proc_fd_path(&target), None::<&str>, MsFlags::MS_BIND, None::<&str>)
        .map_err(mount_error(m, "bind cgroup"))?;
    let mounted = open_path(root, dest).map_err(op_error("open (inside rootfs)", dest))?;
    let bits = (m.flags & !NOT_FOR_REMOUNT) | libc::MS_BIND | libc::MS_REMOUNT;
    mount(None::<&str>, &proc_fd_path(&mounted), None::<&str>, flags(bits), None::<&str>)
        .map_err(mount_error(m, "bind cgroup remount"))
}

/// The directory a hierarchy gets under the container's cgroup mount: the host's name for it
/// ("memory", "cpu,cpuacct", "unified").
fn hierarchy_name(h: &MountedHierarchy) -> String {
    h.mount_point.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| h.controllers.join(","))
}

/// Remount the mount at `path` read-only, keeping nosuid/nodev/noexec/atime flags it has.
pub fn remount_readonly(path: &Path) -> Result<(), RootfsError> {
    let current = nix::sys::statvfs::statvfs(path).map_err(|e| op_error("statvfs", path)(e.into()))?;
    // ST_* and MS_* share their values for the per-mount flags.
    let keep = current.flags().bits() as libc::c_ulong
        & (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_NOATIME | libc::MS_NODIRATIME | libc::MS_RELATIME);
    let bits = keep | libc::MS_RDONLY | libc::MS_REMOUNT | libc::MS_BIND | libc::MS_REC;
    mount(None::<&str>, path, None::<&str>, flags(bits), None::<&str>)
        .map_err(|e| op_error("remount read-only", path)(e.into()))
}
