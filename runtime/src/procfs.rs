//! procfs, reached only through a handle berth has verified itself.
//!
//! A container that can mount (its config, its image, or a process exec'd into it while the
//! init still works) could cover a /proc file with another: a write meant for
//! /proc/sys/net/... or /proc/self/attr/... would then land in a file of its choosing, such
//! as the host's /proc/sys/kernel/core_pattern (CVE-2019-16884, CVE-2025-52881). So berth
//! never writes to /proc by path. It takes /proc checked to be the root of a procfs, or where
//! it is not, a private procfs instance (fsopen + fsmount: a mount attached nowhere, that no
//! other mount can cover); it then walks below that handle without crossing any mount or
//! magic link and checks that what it opened is on procfs.

use crate::sys;
use nix::sys::statfs::{fstatfs, PROC_SUPER_MAGIC};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// procfs's root directory inode number (PROC_ROOT_INO).
const PROC_ROOT_INO: u64 = 1;

/// A failed procfs operation, naming the file below /proc.
#[derive(Debug, thiserror::Error)]
pub enum ProcfsError {
    /// A syscall on procfs failed.
    #[error("{op} /proc/{path}: {source}")]
    Syscall { op: &'static str, path: PathBuf, source: io::Error },
    /// What was opened is not on procfs: something is mounted over it.
    #[error("/proc/{path} is not on procfs (something is mounted over it)")]
    NotProcfs { path: PathBuf },
    /// Reopening a descriptor through /proc/thread-self/fd gave another file.
    #[error("reopening fd {fd} through /proc gave another file (something is mounted over it)")]
    Swapped { fd: i32 },
}

/// Which procfs files a private instance shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Files {
    /// Everything: /proc/sys, oom_score_adj, attr/ ...
    All,
    /// Only the process directories and self/thread-self (`subset=pid`): what may stay open
    /// while the container's processes could reach the descriptor through /proc/PID/fd.
    ProcessesOnly,
}

/// A verified procfs root.
#[derive(Debug)]
pub struct ProcFs {
    root: OwnedFd,
}

impl ProcFs {
    /// A procfs of the caller's pid namespace showing (at least) `files`: the mounted /proc
    /// when it is the root of a procfs, else a private instance.
    ///
    /// The mounted one comes first for speed: a private instance is a new superblock whose
    /// teardown waits for an RCU grace period (milliseconds on a busy host, on every
    /// `create`). Walking below a verified root without crossing a mount point is what keeps
    /// a container's mounts out either way.
    pub fn open(files: Files) -> Result<ProcFs, ProcfsError> {
        mounted_instance().or_else(|_| private_instance(files))
    }

    /// Open `path` (relative, below /proc) with `flags`, without crossing a mount point or
    /// following a magic link, and check that the result is on procfs.
    pub fn open_file(&self, path: &Path, flags: i32) -> Result<OwnedFd, ProcfsError> {
        let resolve = sys::RESOLVE_BENEATH | sys::RESOLVE_NO_XDEV | sys::RESOLVE_NO_MAGICLINKS;
        let fd = sys::openat2(self.root.as_fd(), path, flags, 0, resolve)
            .map_err(|source| ProcfsError::Syscall { op: "open", path: path.to_owned(), source })?;
        verify_procfs(fd.as_fd(), path)?;
        Ok(fd)
    }

    /// Write `value` to the procfs file `path` (relative, below /proc).
    pub fn write(&self, path: &Path, value: &[u8]) -> Result<(), ProcfsError> {
        let fd = self.open_file(path, libc::O_WRONLY)?;
        let written = nix::unistd::write(&fd, value).map_err(|e| ProcfsError::Syscall { op: "write", path: path.to_owned(), source: e.into() })?;
        if written != value.len() {
            let source = io::Error::new(io::ErrorKind::WriteZero, format!("wrote {written} of {} bytes", value.len()));
            return Err(ProcfsError::Syscall { op: "write", path: path.to_owned(), source });
        }
        Ok(())
    }

    /// Read the procfs file `path` (relative, below /proc) whole.
    pub fn read(&self, path: &Path) -> Result<String, ProcfsError> {
        use std::io::Read;
        let fd = self.open_file(path, libc::O_RDONLY)?;
        let mut text = String::new();
        std::fs::File::from(fd).read_to_string(&mut text).map_err(|source| ProcfsError::Syscall { op: "read", path: path.to_owned(), source })?;
        Ok(text)
    }

    /// This thread's descriptor table, /proc/thread-self/fd, opened now: reopening through it
    /// later needs no openat2 or fsopen, which a seccomp profile installed meanwhile may refuse.
    pub fn own_descriptors(&self) -> Result<OwnDescriptors, ProcfsError> {
        let dir = self.open_file(Path::new("thread-self/fd"), libc::O_PATH | libc::O_DIRECTORY)?;
        Ok(OwnDescriptors { dir })
    }

    /// The descriptor numbers this process has open, from /proc/thread-self/fd.
    pub fn open_descriptors(&self) -> Result<Vec<i32>, ProcfsError> {
        let path = Path::new("thread-self/fd");
        let dir = self.open_file(path, libc::O_RDONLY | libc::O_DIRECTORY)?;
        let listing = nix::dir::Dir::from_fd(dir).map_err(|e| ProcfsError::Syscall { op: "opendir", path: path.to_owned(), source: e.into() })?;
        let own = listing.as_raw_fd();
        let mut fds = Vec::new();
        for entry in listing {
            let entry = entry.map_err(|e| ProcfsError::Syscall { op: "readdir", path: path.to_owned(), source: e.into() })?;
            if let Some(fd) = entry.file_name().to_str().ok().and_then(|n| n.parse::<i32>().ok()) {
                if fd != own {
                    fds.push(fd);
                }
            }
        }
        Ok(fds)
    }
}

/// /proc/thread-self/fd of a verified procfs, held open.
#[derive(Debug)]
pub struct OwnDescriptors {
    dir: OwnedFd,
}

impl OwnDescriptors {
    /// Open the file behind our own descriptor `fd` anew with `flags` (an O_PATH fifo for
    /// writing), checking that it is still the same file.
    pub fn reopen(&self, fd: BorrowedFd<'_>, flags: i32) -> Result<OwnedFd, ProcfsError> {
        // The last step is the magic link itself, which openat2 would refuse: follow it with
        // openat from the verified directory and compare identities instead.
        let name = fd.as_raw_fd().to_string();
        let path = Path::new("thread-self/fd").join(&name);
        let reopened = nix::fcntl::openat(self.dir.as_fd(), name.as_str(), nix::fcntl::OFlag::from_bits_retain(flags | libc::O_CLOEXEC), nix::sys::stat::Mode::empty())
            .map_err(|e| ProcfsError::Syscall { op: "open", path: path.clone(), source: e.into() })?;
        let stat = |f: BorrowedFd<'_>| nix::sys::stat::fstat(f).map(|s| (s.st_dev, s.st_ino));
        match (stat(fd), stat(reopened.as_fd())) {
            (Ok(a), Ok(b)) if a == b => Ok(reopened),
            (Err(e), _) | (_, Err(e)) => Err(ProcfsError::Syscall { op: "fstat", path, source: e.into() }),
            _ => Err(ProcfsError::Swapped { fd: fd.as_raw_fd() }),
        }
    }
}

/// A procfs mounted nowhere, for the caller's pid namespace.
fn private_instance(files: Files) -> Result<ProcFs, ProcfsError> {
    let fail = |op| move |source| ProcfsError::Syscall { op, path: PathBuf::new(), source };
    let context = sys::fs_context(c"proc").map_err(fail("fsopen"))?;
    if files == Files::ProcessesOnly {
        sys::fs_context_set(context.as_fd(), c"subset", c"pid").map_err(fail("fsconfig subset=pid"))?;
    }
    let attributes = sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV | sys::MOUNT_ATTR_NOEXEC;
    let root = sys::fs_context_mount(context.as_fd(), attributes).map_err(fail("fsmount"))?;
    Ok(ProcFs { root })
}

/// The /proc of our mount namespace, if it is the root of a procfs.
fn mounted_instance() -> Result<ProcFs, ProcfsError> {
    let fail = |op| move |e: nix::Error| ProcfsError::Syscall { op, path: PathBuf::new(), source: e.into() };
    use nix::fcntl::OFlag;
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let root = nix::fcntl::open("/proc", flags, nix::sys::stat::Mode::empty()).map_err(fail("open"))?;
    verify_procfs(root.as_fd(), Path::new(""))?;
    let stat = nix::sys::stat::fstat(&root).map_err(fail("fstat"))?;
    if stat.st_ino != PROC_ROOT_INO {
        return Err(ProcfsError::NotProcfs { path: PathBuf::new() });
    }
    Ok(ProcFs { root })
}

fn verify_procfs(fd: BorrowedFd<'_>, path: &Path) -> Result<(), ProcfsError> {
    let stat = fstatfs(fd).map_err(|e| ProcfsError::Syscall { op: "fstatfs", path: path.to_owned(), source: e.into() })?;
    if stat.filesystem_type() != PROC_SUPER_MAGIC {
        return Err(ProcfsError::NotProcfs { path: path.to_owned() });
    }
    Ok(())
}
