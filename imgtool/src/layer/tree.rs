//! Paths inside the target: cleaning entry names, opening parents below the
//! root (never through a symlink that leads out), and removing subtrees by fd.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::sys::OFlag;

use crate::sys::{self, Errno, Resolve};

/// Why an entry name is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum NameError {
    /// It is absolute.
    Absolute,
    /// It has a `..` component.
    DotDot,
    /// It is too long.
    TooLong,
}

impl NameError {
    /// The reason as the error message says it.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Absolute => "absolute path",
            Self::DotDot => "'..' component leads out of the layer",
            Self::TooLong => "path longer than the limit",
        }
    }
}

/// The relative path an entry name denotes (None: the root itself).
pub fn clean_name(name: &[u8], max: usize) -> Result<Option<PathBuf>, NameError> {
    if name.len() > max {
        return Err(NameError::TooLong);
    }
    if name.starts_with(b"/") {
        return Err(NameError::Absolute);
    }
    let mut clean = PathBuf::new();
    for component in Path::new(OsStr::from_bytes(name)).components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(NameError::DotDot),
            Component::RootDir | Component::Prefix(_) => return Err(NameError::Absolute),
        }
    }
    Ok((!clean.as_os_str().is_empty()).then_some(clean))
}

/// Open directory `path` below `root`: every step stays beneath it.
/// EXDEV means a symlink on the way leads out.
pub fn open_dir_below(root: BorrowedFd<'_>, path: &Path, flags: OFlag) -> Result<OwnedFd, Errno> {
    sys::open_below(root, path, flags | OFlag::O_DIRECTORY, Resolve::Beneath)
}

/// Open directory `path` below `root`, creating missing directories (0755,
/// owned by us) on the way, as tar does for entries without parents.
pub fn open_or_make_dir(root: BorrowedFd<'_>, path: &Path) -> Result<OwnedFd, Errno> {
    match open_dir_below(root, path, OFlag::O_PATH) {
        Err(Errno::ENOENT) => {}
        other => return other,
    }
    let mut current = PathBuf::new();
    let mut fd = open_dir_below(root, Path::new(""), OFlag::O_PATH)?;
    for part in path.iter() {
        current.push(part);
        fd = match open_dir_below(root, &current, OFlag::O_PATH) {
            Err(Errno::ENOENT) => {
                match sys::mkdir(fd.as_fd(), part, 0o755) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(e),
                }
                open_dir_below(root, &current, OFlag::O_PATH)?
            }
            other => other?,
        };
    }
    Ok(fd)
}

/// Remove `name` in `dir`, whatever it is, without following symlinks.
/// A missing entry is not an error.
pub fn remove_entry(dir: BorrowedFd<'_>, name: &OsStr) -> Result<(), Errno> {
    match sys::unlink(dir, name) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(Errno::EISDIR | Errno::EPERM) => {
            let child = sys::open_entry(dir, name, OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
            empty_dir(child)?;
            sys::rmdir(dir, name)
        }
        Err(e) => Err(e),
    }
}

/// Remove everything inside the open directory `dir`.
pub fn empty_dir(dir: OwnedFd) -> Result<(), Errno> {
    let (dir, names) = dir_names(dir)?;
    for name in names {
        remove_entry(dir.as_fd(), &name)?;
    }
    Ok(())
}

/// The names in directory `dir` (without `.` and `..`), and the fd back.
pub fn dir_names(dir: OwnedFd) -> Result<(OwnedFd, Vec<OsString>), Errno> {
    sys::dir_names(dir)
}

/// Remove a directory tree we made (a target after a failed unpack),
/// without following any symlink inside it.
pub fn remove_path(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_entry_names() {
        let clean = |name: &str| clean_name(name.as_bytes(), 4096);
        assert_eq!(clean("./a/b/"), Ok(Some(PathBuf::from("a/b"))));
        assert_eq!(clean("a//./b"), Ok(Some(PathBuf::from("a/b"))));
        assert_eq!(clean("./"), Ok(None));
        assert_eq!(clean(""), Ok(None));
        assert_eq!(clean("/etc/passwd"), Err(NameError::Absolute));
        assert_eq!(clean("a/../../b"), Err(NameError::DotDot));
        assert_eq!(clean(".."), Err(NameError::DotDot));
        assert_eq!(clean("a..b/..c"), Ok(Some(PathBuf::from("a..b/..c"))));
        assert_eq!(clean_name(&[b'a'; 5000], 4096), Err(NameError::TooLong));
    }
}
