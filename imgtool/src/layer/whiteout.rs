//! Whiteout entries: `.wh.NAME` deletes NAME of the layers below, and
//! `.wh..wh..opq` hides everything the layers below have in its directory.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::sys::OFlag;

use super::tree;
use crate::sys::{self, Errno};

const PREFIX: &[u8] = b".wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";

/// What a whiteout entry asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Whiteout<'a> {
    /// Delete this name of the lower layers.
    Remove(&'a OsStr),
    /// Hide the lower layers' contents of the directory.
    Opaque,
    /// Other aufs metadata (`.wh..wh.plnk`, ...): nothing to do.
    Ignored,
}

/// None: not a whiteout. Some(None): a malformed one (`.wh.`, `.wh..`).
pub fn parse(name: &[u8]) -> Option<Option<Whiteout<'_>>> {
    let rest = name.strip_prefix(PREFIX)?;
    if name == OPAQUE {
        return Some(Some(Whiteout::Opaque));
    }
    if rest.starts_with(PREFIX) {
        return Some(Some(Whiteout::Ignored));
    }
    if rest.is_empty() || rest == b"." || rest == b".." {
        return Some(None);
    }
    Some(Some(Whiteout::Remove(OsStr::from_bytes(rest))))
}

/// For an opaque directory `dir` (at `path`): remove what the layers below
/// put there, keeping what this layer `written`, recursively.
pub fn remove_lower(
    dir: OwnedFd,
    path: &Path,
    written: &HashSet<std::path::PathBuf>,
) -> Result<(), Errno> {
    let (dir, names) = tree::dir_names(dir)?;
    for name in names {
        let child = path.join(&name);
        if !written.contains(&child) {
            tree::remove_entry(dir.as_fd(), &name)?;
            continue;
        }
        let is_dir = sys::lstat_at(dir.as_fd(), &name)?.st_mode & libc::S_IFMT == libc::S_IFDIR;
        if is_dir {
            let sub = sys::open_entry(dir.as_fd(), &name, OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
            remove_lower(sub, &child, written)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_whiteout_names() {
        assert_eq!(parse(b"file"), None);
        assert_eq!(
            parse(b".wh.file"),
            Some(Some(Whiteout::Remove(OsStr::new("file"))))
        );
        assert_eq!(parse(b".wh..wh..opq"), Some(Some(Whiteout::Opaque)));
        assert_eq!(parse(b".wh..wh.plnk"), Some(Some(Whiteout::Ignored)));
        assert_eq!(parse(b".wh."), Some(None));
        assert_eq!(parse(b".wh.."), Some(None));
    }
}
