//! The container side runs from a sealed view of berth's binary (CVE-2019-5736).
//!
//! berth's init is a clone of berth, and berth's exec helper too: until they execve the
//! container's program, /proc/PID/exe of each is berth's own binary, and so is the
//! interpreter the kernel runs for a `#!/proc/self/exe` script they exec. A container process
//! that gets hold of that file (an O_PATH open of /proc/PID/exe, with CAP_SYS_PTRACE if the
//! process is not dumpable) could reopen it for writing once berth has exited, and replace
//! the host's berth. Non-dumpable is not enough.
//!
//! So `create`, `run` and `exec` first re-execute berth from a view of its binary that
//! cannot be written through: a detached, read-only bind mount of exactly that file
//! (open_tree + mount_setattr, attached nowhere, gone with the last process that runs it),
//! or where the mount API is refused (an unprivileged caller), a sealed memfd copy. Every
//! clone of the re-executed berth has that view as its /proc/PID/exe.

use crate::sys;
use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;

/// The kernel's `struct mount_attr`, for berth's entry point, which makes the same view with
/// raw system calls before libc starts.
pub use crate::sys::MountAttr;

/// The read-only view's mount attributes: read-only, and neither setuid nor devices.
pub const VIEW_ATTRIBUTES: u64 = sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV;

/// Why berth could not re-execute itself from a sealed view.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("seal berth's binary (CVE-2019-5736): {op}: {source}")]
    Syscall { op: &'static str, source: io::Error },
}

fn failed(op: &'static str) -> impl FnOnce(io::Error) -> SealError {
    move |source| SealError::Syscall { op, source }
}

/// Re-execute berth from a sealed view of its binary unless it already runs from one.
/// Returns only when it already does, or with the error that stopped it.
pub fn reexec_sealed() -> Result<(), SealError> {
    let exe = nix::fcntl::open("/proc/self/exe", nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
        .map_err(|e| failed("open /proc/self/exe")(e.into()))?;
    if is_sealed(exe.as_fd())? {
        return Ok(());
    }
    let view = read_only_view().or_else(|_| sealed_copy(exe.as_fd()))?;
    let to_cstrings = |list: Vec<OsString>| list.into_iter().map(|s| CString::new(s.into_vec()).unwrap_or_default()).collect::<Vec<_>>();
    let argv = to_cstrings(std::env::args_os().collect());
    let envp = to_cstrings(std::env::vars_os().map(|(k, v)| {
        let mut kv = k;
        kv.push("=");
        kv.push(v);
        kv
    }).collect());
    Err(failed("execveat")(sys::exec_fd(view.as_fd(), &argv, &envp)))
}

/// Does the running binary sit on a read-only mount, or in a write-sealed memfd?
fn is_sealed(exe: std::os::fd::BorrowedFd<'_>) -> Result<bool, SealError> {
    let stat = nix::sys::statvfs::fstatvfs(exe).map_err(|e| failed("fstatvfs /proc/self/exe")(e.into()))?;
    if stat.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY) {
        return Ok(true);
    }
    Ok(sys::get_seals(exe).is_ok_and(|seals| seals & libc::F_SEAL_WRITE != 0))
}

/// A read-only bind mount of the running binary, attached nowhere.
fn read_only_view() -> Result<OwnedFd, SealError> {
    let view = sys::clone_file_mount(c"/proc/self/exe").map_err(failed("open_tree /proc/self/exe"))?;
    sys::set_mount_attributes(view.as_fd(), VIEW_ATTRIBUTES).map_err(failed("mount_setattr read-only"))?;
    Ok(view)
}

/// A memfd copy of the running binary, sealed against every change.
fn sealed_copy(exe: std::os::fd::BorrowedFd<'_>) -> Result<OwnedFd, SealError> {
    let copy = sys::sealable_memfd(c"berth").map_err(failed("memfd_create"))?;
    let size = nix::sys::stat::fstat(exe).map_err(|e| failed("fstat /proc/self/exe")(e.into()))?.st_size as usize;
    let mut done = 0;
    while done < size {
        match sys::copy_file_bytes(copy.as_fd(), exe, size - done).map_err(failed("sendfile"))? {
            0 => break,
            n => done += n,
        }
    }
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    sys::add_seals(copy.as_fd(), seals).map_err(failed("seal the copy"))?;
    Ok(copy)
}
