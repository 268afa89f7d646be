//! The crate's one door to the kernel for calls the standard library does not wrap:
//! bpf(2) for the v2 device program, kill(2), eventfd(2) and inotify(7) for OOM events.
//! Every `unsafe` block of the crate is here.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use crate::devices::ebpf::Insn;

// From linux/bpf.h.
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
/// Several programs may be attached to one cgroup; each must allow.
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The BPF_PROG_LOAD member of `union bpf_attr` (fields up to expected_attach_type).
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// The BPF_PROG_ATTACH / BPF_PROG_DETACH member.
#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// The BPF_PROG_QUERY member.
#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

/// The BPF_PROG_GET_FD_BY_ID member.
#[repr(C)]
#[derive(Default)]
struct GetFdByIdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// bpf(cmd, attr, sizeof attr); returns the non-negative result.
///
/// # Safety
/// `attr` must be the attribute struct of `cmd`, and every pointer stored in it must be valid
/// for the kernel to read (or write, for output buffers) for the duration of the call.
unsafe fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    let size = std::mem::size_of::<T>();
    // SAFETY: attr is a live, exclusively borrowed struct of `size` bytes; the caller vouches
    // that it is the right layout for `cmd` and that the pointers inside it are valid.
    let ret = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, size) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Turn a returned fd number into an owned fd.
fn owned_fd(raw: libc::c_long) -> io::Result<OwnedFd> {
    let raw = i32::try_from(raw).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel just returned this fd to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Load a BPF_PROG_TYPE_CGROUP_DEVICE program. On failure the verifier's log is returned
/// with the error (a second load with logging on produces it).
pub(crate) fn bpf_load_device_program(insns: &[Insn]) -> Result<OwnedFd, (io::Error, String)> {
    let license = c"Apache-2.0";
    let load = |log: &mut [u8]| -> io::Result<OwnedFd> {
        let mut attr = ProgLoadAttr {
            prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
            insn_cnt: u32::try_from(insns.len()).map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?,
            insns: insns.as_ptr() as u64,
            license: license.as_ptr() as u64,
            expected_attach_type: BPF_CGROUP_DEVICE,
            ..Default::default()
        };
        if !log.is_empty() {
            attr.log_level = 1;
            attr.log_size = u32::try_from(log.len()).unwrap_or(u32::MAX);
            attr.log_buf = log.as_mut_ptr() as u64;
        }
        // SAFETY: attr is the BPF_PROG_LOAD layout; insns, license and log point to live
        // buffers of the stated lengths that outlive the call.
        let fd = unsafe { bpf(BPF_PROG_LOAD, &mut attr) }?;
        owned_fd(fd)
    };
    load(&mut []).map_err(|err| {
        let mut log = vec![0u8; 64 * 1024];
        let _ = load(&mut log);
        let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
        (err, String::from_utf8_lossy(&log[..end]).trim().to_owned())
    })
}

/// Attach a device program to a cgroup directory (BPF_F_ALLOW_MULTI).
pub(crate) fn bpf_attach_device_program(cgroup: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> io::Result<()> {
    let mut attr = AttachAttr {
        target_fd: fd_u32(cgroup),
        attach_bpf_fd: fd_u32(prog),
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    // SAFETY: attr is the BPF_PROG_ATTACH layout and holds no pointers; both fds are open
    // for the duration of the call (they are borrowed).
    unsafe { bpf(BPF_PROG_ATTACH, &mut attr) }.map(drop)
}

/// Detach one device program from a cgroup directory.
pub(crate) fn bpf_detach_device_program(cgroup: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> io::Result<()> {
    let mut attr = AttachAttr {
        target_fd: fd_u32(cgroup),
        attach_bpf_fd: fd_u32(prog),
        attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    // SAFETY: attr is the BPF_PROG_DETACH layout and holds no pointers; both fds are open.
    unsafe { bpf(BPF_PROG_DETACH, &mut attr) }.map(drop)
}

/// The ids of the device programs attached directly to a cgroup directory.
pub(crate) fn bpf_query_device_programs(cgroup: BorrowedFd<'_>) -> io::Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    let mut attr = QueryAttr {
        target_fd: fd_u32(cgroup),
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: u32::try_from(ids.len()).unwrap_or(0),
        ..Default::default()
    };
    // SAFETY: attr is the BPF_PROG_QUERY layout; prog_ids points to a live buffer of
    // prog_cnt u32s that the kernel may fill.
    unsafe { bpf(BPF_PROG_QUERY, &mut attr) }?;
    ids.truncate(attr.prog_cnt as usize);
    Ok(ids)
}

/// An fd for a loaded program, by id (to detach it).
pub(crate) fn bpf_prog_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    let mut attr = GetFdByIdAttr {
        prog_id: id,
        ..Default::default()
    };
    // SAFETY: attr is the BPF_PROG_GET_FD_BY_ID layout and holds no pointers.
    let fd = unsafe { bpf(BPF_PROG_GET_FD_BY_ID, &mut attr) }?;
    owned_fd(fd)
}

fn fd_u32(fd: BorrowedFd<'_>) -> u32 {
    // An open fd is never negative.
    fd.as_raw_fd() as u32
}

/// Send SIGKILL to a process; a process that is already gone is not an error.
pub(crate) fn kill(pid: i32) -> io::Result<()> {
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A new eventfd (close-on-exec), for v1 memory.oom_control notifications.
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers; a non-negative result is a new fd we own.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    owned_fd(libc::c_long::from(fd))
}

/// A new inotify instance watching `path` for modification (v2 memory.events).
pub(crate) fn inotify_watch_modify(path: &std::path::Path) -> io::Result<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: inotify_init1 takes no pointers; a non-negative result is a new fd we own.
    let raw = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = owned_fd(libc::c_long::from(raw))?;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: fd is our open inotify fd; c_path is a NUL-terminated string alive for the call.
    let wd = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), c_path.as_ptr(), libc::IN_MODIFY) };
    if wd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// Block until `fd` is readable or `timeout_ms` passes (negative: forever); true if readable.
pub(crate) fn wait_readable(fd: BorrowedFd<'_>, timeout_ms: i32) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: pfd is one live pollfd and we pass a count of 1.
        let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        return Ok(n > 0);
    }
}

/// Read and discard what is pending on an eventfd or inotify fd.
pub(crate) fn drain(fd: BorrowedFd<'_>) -> io::Result<()> {
    let mut buf = [0u8; 4096];
    // SAFETY: buf is a live, writable buffer of buf.len() bytes.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
