//! User namespaces at run time: the parent writes the id mappings of a new one (itself when it
//! may, through newuidmap/newgidmap when it may not), the child becomes the namespace's root,
//! and a joined user namespace is entered through a short-lived "joiner" process.
//!
//! The kernel's ordering: a user namespace owns the namespaces created while a process is in
//! it, and capabilities count only in the user namespace that owns the object. So
//! - a new user namespace comes with the same clone as the other new namespaces (the kernel
//!   makes the user namespace first and the others owned by it);
//! - a joined user namespace must be entered *before* the other new namespaces are made, and
//!   namespaces joined by path must be entered while we still hold the host's capabilities.
//!   Both call for a process that joins first and then clones: the joiner. It clones the init
//!   with CLONE_PARENT, so the init is berth's own child as in the plain case, and exits.

use crate::plan::{IdMap, Join, UserPlan};
use crate::sys::{self, Forked};
use nix::sched::{setns, CloneFlags};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::process::Command;

/// A failed user namespace step, naming the file, field or helper.
#[derive(Debug, thiserror::Error)]
pub enum UserNamespaceError {
    /// Writing a map (or setgroups) of the init failed.
    #[error("{field}: {source}")]
    WriteMap { field: &'static str, source: crate::procfs::ProcfsError },
    /// newuidmap / newgidmap is not installed.
    #[error("{field}: mapping more than the caller's own id needs {helper} (Debian package uidmap): {source}")]
    HelperMissing { helper: &'static str, field: &'static str, source: io::Error },
    /// newuidmap / newgidmap refused the mapping (usually: not in /etc/subuid or /etc/subgid).
    #[error("{field}: {helper} refused the mapping ({status}): {stderr}")]
    HelperFailed { helper: &'static str, field: &'static str, status: std::process::ExitStatus, stderr: String },
    /// The init could not become root of its user namespace.
    #[error("become root of the user namespace ({call}): {source} (is id 0 mapped in linux.{field}?)")]
    BecomeRoot { call: &'static str, field: &'static str, source: nix::Error },
    /// A joined user namespace does not map what config.json says it maps.
    #[error("{field}: the joined user namespace maps {found:?}, config.json says {wanted:?}")]
    Mismatch { field: &'static str, wanted: String, found: String },
    /// Reading our own map in a joined user namespace failed.
    #[error("read /proc/self/{file}: {source}")]
    ReadMap { file: &'static str, source: io::Error },
    /// The joiner could not enter a namespace by path.
    #[error("setns {kind} namespace {path}: {source}")]
    Join { kind: &'static str, path: String, source: io::Error },
    /// A syscall of the joiner or of its parent failed.
    #[error("{op} (joining namespaces before the clone): {source}")]
    Joiner { op: &'static str, source: io::Error },
}

/// Is this process without the host's privileges: not root, or root of a user namespace other
/// than the initial one (whose uid_map maps all 2^32 ids onto themselves), as under rootless
/// podman? Then mknod is refused and cgroups are the user's at most.
pub fn unprivileged() -> bool {
    if !nix::unistd::geteuid().is_root() {
        return true;
    }
    let map = std::fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
    map.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"]
}

/// Parent side, right after the clone: give the init's new user namespace its mappings.
///
/// A caller with CAP_SETUID / CAP_SETGID over its own user namespace (root, or root of the
/// namespace rootless podman runs us in) writes them itself. An unprivileged caller writes
/// only a map of its own id alone (for gids after denying setgroups, which the kernel
/// requires), and hands anything larger to the setuid helpers newuidmap / newgidmap, which
/// check /etc/subuid and /etc/subgid.
pub fn write_mappings(pid: i32, user: &UserPlan) -> Result<(), UserNamespaceError> {
    let privileged = nix::unistd::geteuid().is_root();
    // Every write into /proc goes through a verified procfs handle (see procfs).
    let procfs = crate::procfs::ProcFs::open(crate::procfs::Files::ProcessesOnly).map_err(|source| UserNamespaceError::WriteMap { field: "linux.uidMappings", source })?;
    let write_proc = |file: &str, text: &str, field| write_proc(&procfs, pid, file, text, field);
    let (uid, gid) = (nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw());
    // gid_map first: newgidmap and the setgroups file both act before uid_map makes the
    // namespace's root a different user.
    if privileged || user.gid_map.is_single(gid) {
        if !privileged {
            write_proc("setgroups", "deny", "linux.gidMappings")?;
        }
        write_proc("gid_map", &user.gid_map.to_proc_format(), "linux.gidMappings")?;
    } else {
        run_helper("newgidmap", "linux.gidMappings", pid, &user.gid_map)?;
    }
    if privileged || user.uid_map.is_single(uid) {
        write_proc("uid_map", &user.uid_map.to_proc_format(), "linux.uidMappings")
    } else {
        run_helper("newuidmap", "linux.uidMappings", pid, &user.uid_map)
    }
}

fn write_proc(procfs: &crate::procfs::ProcFs, pid: i32, file: &str, text: &str, field: &'static str) -> Result<(), UserNamespaceError> {
    // One write(2) with the whole map (ProcFs::write makes exactly one): the kernel accepts a
    // map only once, in one write.
    let path = std::path::PathBuf::from(format!("{pid}/{file}"));
    procfs.write(&path, text.as_bytes()).map_err(|source| UserNamespaceError::WriteMap { field, source })
}

fn run_helper(helper: &'static str, field: &'static str, pid: i32, map: &IdMap) -> Result<(), UserNamespaceError> {
    let out = Command::new(helper)
        .arg(pid.to_string())
        .args(map.to_args())
        .output()
        .map_err(|source| UserNamespaceError::HelperMissing { helper, field, source })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().replace('\n', "; ");
        return Err(UserNamespaceError::HelperFailed { helper, field, status: out.status, stderr });
    }
    Ok(())
}

/// Child side, once its user namespace has mappings: become uid and gid 0 of it, so what
/// the init creates (directories, /dev, the pty) belongs to the container's root. The
/// capabilities the namespace gave us stay, as for any change to uid 0.
pub fn become_root() -> Result<(), UserNamespaceError> {
    let root_gid = nix::unistd::Gid::from_raw(0);
    nix::unistd::setresgid(root_gid, root_gid, root_gid)
        .map_err(|source| UserNamespaceError::BecomeRoot { call: "setresgid", field: "gidMappings", source })?;
    let root = nix::unistd::Uid::from_raw(0);
    nix::unistd::setresuid(root, root, root)
        .map_err(|source| UserNamespaceError::BecomeRoot { call: "setresuid", field: "uidMappings", source })
}

/// Child side, in a joined user namespace: when config.json also gives mappings (containerd
/// does), they must be the ones the namespace has.
pub fn check_joined_mappings(user: &UserPlan) -> Result<(), UserNamespaceError> {
    for (file, field, wanted) in [("uid_map", "linux.uidMappings", &user.uid_map), ("gid_map", "linux.gidMappings", &user.gid_map)] {
        if wanted.0.is_empty() {
            continue;
        }
        let text = std::fs::read_to_string(format!("/proc/self/{file}")).map_err(|source| UserNamespaceError::ReadMap { file, source })?;
        let found: Vec<Vec<&str>> = text.lines().map(|l| l.split_whitespace().collect()).collect();
        let wanted_text = wanted.to_proc_format();
        let wanted_lines: Vec<Vec<&str>> = wanted_text.lines().map(|l| l.split_whitespace().collect()).collect();
        if found != wanted_lines {
            return Err(UserNamespaceError::Mismatch { field, wanted: wanted_text.trim().replace('\n', ", "), found: text.trim().replace('\n', ", ") });
        }
    }
    Ok(())
}

/// Does this container's init have to come from a joiner (see the module docs)? When a user
/// namespace is involved and any namespace is joined by path.
pub fn needs_joiner(user: Option<&UserPlan>, joins: &[Join]) -> bool {
    user.is_some() && !joins.is_empty()
}

/// The joiner's report: 0 and the init's pid, or the 1-based index of the join that failed
/// (or `CLONE_FAILED`) and the errno.
const CLONE_FAILED: i32 = -1;

/// Clone the init through a joiner: it enters `joins` (the user namespace last, with every
/// other one entered while it still holds the host's capabilities), then clones the init
/// with `flags` as a child of ours. Returns like [`sys::clone_process`].
///
/// Must be called while the process is single-threaded (see [`sys::clone_process`]).
pub fn clone_through_joiner(joins: &[Join], flags: u64, cgroup: Option<BorrowedFd<'_>>) -> Result<Forked, UserNamespaceError> {
    let joiner_error = |op| move |e: nix::Error| UserNamespaceError::Joiner { op, source: e.into() };
    let mut order: Vec<&Join> = joins.iter().filter(|j| j.flag != CloneFlags::CLONE_NEWUSER).collect();
    order.extend(joins.iter().filter(|j| j.flag == CloneFlags::CLONE_NEWUSER));
    let (reader, writer) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(joiner_error("pipe2"))?;
    let joiner = match sys::clone_process(0, None).map_err(|source| UserNamespaceError::Joiner { op: "clone3", source })? {
        Forked::Parent(pid) => pid,
        Forked::Child => {
            drop(reader);
            let mut writer = std::fs::File::from(writer);
            let mut report = |status: i32, value: i32| {
                let mut bytes = [0u8; 8];
                bytes[..4].copy_from_slice(&status.to_ne_bytes());
                bytes[4..].copy_from_slice(&value.to_ne_bytes());
                let _ = writer.write_all(&bytes);
            };
            for (i, join) in order.iter().enumerate() {
                // A joined pid namespace applies to our children: the init.
                if let Err(e) = setns(join.file.as_fd(), join.flag) {
                    report(i as i32 + 1, e as i32);
                    sys::exit_immediately(1);
                }
            }
            match sys::clone_process(flags | libc::CLONE_PARENT as u64, cgroup) {
                Ok(Forked::Child) => return Ok(Forked::Child),
                Ok(Forked::Parent(pid)) => report(0, pid),
                Err(e) => report(CLONE_FAILED, e.raw_os_error().unwrap_or(0)),
            }
            sys::exit_immediately(0);
        }
    };
    drop(writer);
    let mut bytes = [0u8; 8];
    let read = std::fs::File::from(reader).read_exact(&mut bytes);
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(joiner), None);
    read.map_err(|source| UserNamespaceError::Joiner { op: "read the joiner's report", source })?;
    let status = i32::from_ne_bytes(bytes[..4].try_into().expect("4 bytes"));
    let value = i32::from_ne_bytes(bytes[4..].try_into().expect("4 bytes"));
    match status {
        0 => Ok(Forked::Parent(value)),
        CLONE_FAILED => Err(UserNamespaceError::Joiner { op: "clone3", source: io::Error::from_raw_os_error(value) }),
        i => {
            let join = order[(i - 1) as usize];
            Err(UserNamespaceError::Join { kind: join.kind, path: join.path.display().to_string(), source: io::Error::from_raw_os_error(value) })
        }
    }
}

/// A user namespace that exists only to carry `uid_map` / `gid_map` for an idmapped mount:
/// a child is cloned into a new one, given the maps, and its namespace opened; the child
/// then exits (the open file keeps the namespace alive for mount_setattr).
///
/// Must be called while the process is single-threaded (see [`sys::clone_process`]).
pub fn namespace_with_maps(uid_map: &IdMap, gid_map: &IdMap) -> Result<std::fs::File, UserNamespaceError> {
    let joiner_error = |op| move |e: nix::Error| UserNamespaceError::Joiner { op, source: e.into() };
    let (reader, writer) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(joiner_error("pipe2"))?;
    let pid = match sys::clone_process(libc::CLONE_NEWUSER as u64, None).map_err(|source| UserNamespaceError::Joiner { op: "clone3", source })? {
        Forked::Child => {
            // Wait for the parent to be done with our namespace (it closes its end), then go.
            drop(writer);
            let _ = std::fs::File::from(reader).read(&mut [0u8; 1]);
            sys::exit_immediately(0);
        }
        Forked::Parent(pid) => pid,
    };
    drop(reader);
    let user = UserPlan { joined: false, uid_map: uid_map.clone(), gid_map: gid_map.clone() };
    let opened = write_mappings(pid, &user).and_then(|()| {
        let path = format!("/proc/{pid}/ns/user");
        std::fs::File::open(&path).map_err(|source| UserNamespaceError::ReadMap { file: "ns/user", source })
    });
    drop(writer);
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    opened
}
