//! runc's `tmpcopyup`: a fresh tmpfs starts with a copy of the directory it covers (podman's
//! `--tmpfs` and `--read-only` rely on it, so /tmp or /run keep what the image put there).
//!
//! The copy reads the covered directory through a descriptor opened before the mount and
//! writes into the new tmpfs with *at calls that never follow symlinks: what the image holds
//! is copied as it is (links stay links) and nothing outside the container is reached.

use nix::dir::Dir;
use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{fchmodat, fstatat, mkdirat, FchmodatFlags, Mode};
use nix::unistd::{fchownat, symlinkat, Gid, Uid};
use std::ffi::CStr;
use std::os::fd::{AsFd, BorrowedFd};

/// Copy everything under `from` (the covered directory, opened for reading) into `to` (the
/// new tmpfs), keeping modes and owners. Sockets and device nodes are left out.
pub fn copy_tree(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> nix::Result<()> {
    let mut dir = Dir::openat(from, c".", OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())?;
    let names: Vec<std::ffi::CString> = dir
        .iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_name() != c"." && e.file_name() != c"..")
        .map(|e| e.file_name().to_owned())
        .collect();
    for name in names {
        copy_entry(from, to, &name)?;
    }
    Ok(())
}

fn copy_entry(from: BorrowedFd<'_>, to: BorrowedFd<'_>, name: &CStr) -> nix::Result<()> {
    let stat = fstatat(from, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    let mode = Mode::from_bits_truncate(stat.st_mode & 0o7777);
    match stat.st_mode & libc::S_IFMT {
        libc::S_IFDIR => {
            mkdirat(to, name, mode)?;
            let source = openat(from, name, OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty())?;
            let target = openat(to, name, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty())?;
            copy_tree(source.as_fd(), target.as_fd())?;
        }
        libc::S_IFREG => {
            let source = openat(from, name, OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty())?;
            let target = openat(to, name, OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, mode)?;
            std::io::copy(&mut std::fs::File::from(source), &mut std::fs::File::from(target))
                .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
        }
        libc::S_IFLNK => {
            let target = readlinkat(from, name)?;
            symlinkat(target.as_os_str(), to, name)?;
        }
        // Device nodes, fifos and sockets are not copied, as in a tmpfs a manager asks for.
        _ => return Ok(()),
    }
    fchownat(to, name, Some(Uid::from_raw(stat.st_uid)), Some(Gid::from_raw(stat.st_gid)), AtFlags::AT_SYMLINK_NOFOLLOW)?;
    if stat.st_mode & libc::S_IFMT != libc::S_IFLNK {
        // The init's umask is 0, but set the exact bits anyway (setuid/setgid survive chown
        // only this way).
        fchmodat(to, name, mode, FchmodatFlags::FollowSymlink)?;
    }
    Ok(())
}
