//! One tar entry to disk, per kind: regular files, directories, symlinks,
//! hardlinks, device nodes and fifos, then ownership, mode, xattrs and times.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::sys::OFlag;
use tar::EntryType;

use super::tree::{self, NameError};
use super::whiteout::{self, Whiteout};
use super::{LayerError, UnpackOptions, UnpackStats, Whiteouts};
use crate::sys::{self, Errno, NodeKind};

/// The metadata of an entry, PAX records applied over the ustar header.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: (i64, i64),
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Xattrs a layer may not set: overlayfs reads its own from the lower
/// directories, so a layer carrying them could forge whiteouts and redirects;
/// SELinux labels belong to the host.
fn xattr_allowed(key: &[u8]) -> bool {
    !(key.starts_with(b"trusted.overlay.")
        || key.starts_with(b"user.overlay.")
        || key == b"security.selinux")
}

/// A directory whose mode and times are set once its children are written.
struct DirFinish {
    path: PathBuf,
    mode: u32,
    mtime: (i64, i64),
}

/// Writes the entries of one layer below one target directory.
pub(super) struct Unpacker<'a> {
    root: OwnedFd,
    options: &'a UnpackOptions,
    layer: &'a str,
    as_root: bool,
    umask: u32,
    parent: Option<(PathBuf, OwnedFd)>,
    removed: bool,
    dirs: Vec<DirFinish>,
    /// Paths this layer wrote (Apply mode: an opaque marker keeps them).
    written: HashSet<PathBuf>,
    buffer: Vec<u8>,
    pub(super) stats: UnpackStats,
}

impl<'a> Unpacker<'a> {
    pub(super) fn new(
        target: &Path,
        options: &'a UnpackOptions,
        layer: &'a str,
    ) -> Result<Self, LayerError> {
        let root = sys::open_dir(target).map_err(|errno| LayerError::Target {
            call: "open",
            path: target.to_path_buf(),
            errno,
        })?;
        Ok(Self {
            root,
            options,
            layer,
            as_root: sys::is_root(),
            umask: sys::umask(),
            parent: None,
            removed: false,
            dirs: Vec::new(),
            written: HashSet::new(),
            buffer: vec![0; 256 << 10],
            stats: UnpackStats::default(),
        })
    }

    fn syscall(&self, entry: &Path, call: &'static str) -> impl FnOnce(Errno) -> LayerError + '_ {
        let entry = entry.display().to_string();
        move |errno| match errno {
            Errno::EXDEV => LayerError::Escape {
                layer: self.layer.to_string(),
                entry,
                reason: "its path goes through a symlink that leads out of the layer",
            },
            errno => LayerError::Syscall {
                layer: self.layer.to_string(),
                entry,
                call,
                errno,
            },
        }
    }

    fn escape(&self, name: &[u8], error: NameError) -> LayerError {
        LayerError::Escape {
            layer: self.layer.to_string(),
            entry: String::from_utf8_lossy(name).into_owned(),
            reason: error.reason(),
        }
    }

    /// Write one entry.
    pub(super) fn apply<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
    ) -> Result<(), LayerError> {
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            EntryType::XGlobalHeader
                | EntryType::XHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink
        ) {
            return Ok(());
        }
        let raw_name = entry.path_bytes().into_owned();
        let max = self.options.limits.max_path_bytes;
        let path = tree::clean_name(&raw_name, max).map_err(|e| self.escape(&raw_name, e))?;
        let meta = self.meta(entry, &raw_name)?;
        self.stats.entries += 1;
        // The root entry ("./") only carries the root's metadata.
        let Some(path) = path else {
            if kind == EntryType::Directory {
                self.dirs.push(DirFinish {
                    path: PathBuf::new(),
                    mode: meta.mode,
                    mtime: meta.mtime,
                });
                let root = tree::open_dir_below(self.root.as_fd(), Path::new(""), OFlag::O_RDONLY)
                    .map_err(self.syscall(Path::new("."), "openat2"))?;
                self.set_owner_xattrs(root.as_fd(), Path::new("."), &meta)?;
            }
            return Ok(());
        };
        let name = path.file_name().map(OsStr::to_owned).unwrap_or_default();
        let parent_path = path.parent().unwrap_or(Path::new("")).to_path_buf();
        if let Some(whiteout) = whiteout::parse(name.as_bytes()) {
            let whiteout = whiteout.ok_or_else(|| LayerError::BadWhiteout {
                layer: self.layer.to_string(),
                entry: path.display().to_string(),
            })?;
            return self.whiteout(&parent_path, &path, whiteout);
        }
        let parent_fd = self.take_parent(&parent_path, &path)?;
        let parent = parent_fd.as_fd();
        match kind {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.write_file(parent, &path, &name, entry, &meta)?
            }
            EntryType::Directory => self.make_dir(parent, &path, &name, &meta)?,
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                self.make_symlink(parent, &path, &name, &target, &meta)?
            }
            EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                self.make_hardlink(parent, &path, &name, &target)?
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                self.make_node(parent, &path, &name, kind, entry, &meta)?
            }
            other => {
                return Err(LayerError::Unsupported {
                    layer: self.layer.to_string(),
                    entry: path.display().to_string(),
                    kind: char::from(other.as_byte()),
                })
            }
        }
        self.keep_parent(parent_path, parent_fd);
        if self.options.whiteouts == Whiteouts::Apply {
            self.written.insert(path);
        }
        Ok(())
    }

    /// Set the deferred modes and times of directories, deepest first.
    pub(super) fn finish(&mut self) -> Result<(), LayerError> {
        self.parent = None;
        let mut dirs = std::mem::take(&mut self.dirs);
        dirs.sort_by_key(|d| std::cmp::Reverse(d.path.components().count()));
        for dir in dirs {
            let fd = tree::open_dir_below(self.root.as_fd(), &dir.path, OFlag::O_RDONLY);
            // A later entry may have replaced the directory: nothing to finish.
            let Ok(fd) = fd else { continue };
            sys::fchmod(fd.as_fd(), dir.mode).map_err(self.syscall(&dir.path, "fchmod"))?;
            sys::set_times(fd.as_fd(), dir.mtime.0, dir.mtime.1)
                .map_err(self.syscall(&dir.path, "futimens"))?;
        }
        Ok(())
    }

    fn meta<R: Read>(
        &self,
        entry: &mut tar::Entry<'_, R>,
        name: &[u8],
    ) -> Result<Meta, LayerError> {
        let header = entry.header();
        let bad = |field| LayerError::Header {
            layer: self.layer.to_string(),
            entry: String::from_utf8_lossy(name).into_owned(),
            field,
        };
        // An empty numeric field (all NUL or spaces) reads as 0, as Go's
        // archive/tar reads it; anything else that is not a number is an error.
        let old = header.as_old();
        let number = |value: std::io::Result<u64>, raw: &[u8], field| match value {
            Ok(n) => Ok(n),
            Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Ok(0),
            Err(_) => Err(bad(field)),
        };
        let mode = number(header.mode().map(u64::from), &old.mode, "mode")? as u32 & 0o7777;
        let mut uid = number(header.uid(), &old.uid, "uid")?;
        let mut gid = number(header.gid(), &old.gid, "gid")?;
        let mut mtime = (number(header.mtime(), &old.mtime, "mtime")? as i64, 0);
        let mut xattrs = Vec::new();
        if let Some(pax) = entry.pax_extensions().map_err(|_| bad("pax"))? {
            for record in pax {
                let record = record.map_err(|_| bad("pax"))?;
                let key = record.key_bytes();
                let value = record.value_bytes();
                let number = || {
                    std::str::from_utf8(value)
                        .ok()
                        .and_then(|v| v.parse::<u64>().ok())
                };
                match key {
                    b"uid" => uid = number().ok_or_else(|| bad("pax uid"))?,
                    b"gid" => gid = number().ok_or_else(|| bad("pax gid"))?,
                    b"mtime" => mtime = parse_pax_time(value).ok_or_else(|| bad("pax mtime"))?,
                    _ => {
                        if let Some(xattr) = key.strip_prefix(b"SCHILY.xattr.") {
                            if xattr_allowed(xattr) {
                                xattrs.push((xattr.to_vec(), value.to_vec()));
                            }
                        }
                    }
                }
            }
        }
        let uid = u32::try_from(uid).map_err(|_| bad("uid"))?;
        let gid = u32::try_from(gid).map_err(|_| bad("gid"))?;
        Ok(Meta {
            mode,
            uid,
            gid,
            mtime,
            xattrs,
        })
    }

    /// The parent directory of an entry, opened below the root; reused from
    /// the entry before when it is the same (tar streams list a directory's
    /// entries together).
    fn take_parent(&mut self, parent: &Path, entry: &Path) -> Result<OwnedFd, LayerError> {
        match self.parent.take() {
            Some((cached, fd)) if cached == parent => Ok(fd),
            _ => tree::open_or_make_dir(self.root.as_fd(), parent)
                .map_err(self.syscall(entry, "openat2 parent")),
        }
    }

    /// Keep the parent fd for the next entry, unless something was removed
    /// (which may have been on the cached path).
    fn keep_parent(&mut self, parent: PathBuf, fd: OwnedFd) {
        if !std::mem::take(&mut self.removed) {
            self.parent = Some((parent, fd));
        }
    }

    /// Make an entry with `make`; when the name is taken, remove what is
    /// there (a later entry replaces an earlier one) and make it again.
    fn create_or_replace<T>(
        &mut self,
        parent: BorrowedFd<'_>,
        path: &Path,
        name: &OsStr,
        call: &'static str,
        make: impl Fn() -> Result<T, Errno>,
    ) -> Result<T, LayerError> {
        match make() {
            Err(Errno::EEXIST) => {
                self.clear(parent, path, name)?;
                make().map_err(self.syscall(path, call))
            }
            other => other.map_err(self.syscall(path, call)),
        }
    }

    /// Clear the way for a new entry.
    fn clear(
        &mut self,
        parent: BorrowedFd<'_>,
        path: &Path,
        name: &OsStr,
    ) -> Result<(), LayerError> {
        match sys::unlink(parent, name) {
            Err(Errno::ENOENT) => Ok(()),
            Ok(()) => {
                self.removed = true;
                Ok(())
            }
            Err(_) => {
                self.removed = true;
                tree::remove_entry(parent, name).map_err(self.syscall(path, "unlinkat"))
            }
        }
    }

    fn set_owner_xattrs(
        &self,
        fd: BorrowedFd<'_>,
        path: &Path,
        meta: &Meta,
    ) -> Result<(), LayerError> {
        if self.needs_chown(meta) {
            sys::fchown(fd, meta.uid, meta.gid).map_err(self.syscall(path, "fchown"))?;
        }
        for (key, value) in &meta.xattrs {
            sys::set_xattr_fd(fd, key, value).map_err(self.syscall(path, "fsetxattr"))?;
        }
        Ok(())
    }

    /// Ownership must be set unless it is what a new entry gets anyway:
    /// as root, in a target this unpack made (no setgid directory yet, as
    /// directory modes are set at the end), 0:0 needs no call.
    fn needs_chown(&self, meta: &Meta) -> bool {
        self.as_root
            && !(self.options.whiteouts == Whiteouts::Overlay && meta.uid == 0 && meta.gid == 0)
    }

    fn write_file<R: Read>(
        &mut self,
        parent: BorrowedFd<'_>,
        path: &Path,
        name: &OsStr,
        data: &mut R,
        meta: &Meta,
    ) -> Result<(), LayerError> {
        let fd = self.create_or_replace(parent, path, name, "openat create", || {
            sys::create_file(parent, name, meta.mode)
        })?;
        let mut file = std::fs::File::from(fd);
        loop {
            let n = match data.read(&mut self.buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(LayerError::Write {
                        layer: self.layer.to_string(),
                        entry: path.display().to_string(),
                        source,
                    })
                }
            };
            file.write_all(&self.buffer[..n])
                .map_err(|source| LayerError::Write {
                    layer: self.layer.to_string(),
                    entry: path.display().to_string(),
                    source,
                })?;
        }
        self.set_owner_xattrs(file.as_fd(), path, meta)?;
        // After chown, which clears setuid and setgid; not needed when the
        // create mode survived the umask whole.
        if meta.mode & 0o7000 != 0 || meta.mode & self.umask != 0 {
            sys::fchmod(file.as_fd(), meta.mode).map_err(self.syscall(path, "fchmod"))?;
        }
        sys::set_times(file.as_fd(), meta.mtime.0, meta.mtime.1)
            .map_err(self.syscall(path, "futimens"))
    }

    fn make_dir(
        &mut self,
        parent: BorrowedFd<'_>,
        path: &Path,
        name: &OsStr,
        meta: &Meta,
    ) -> Result<(), LayerError> {
        // A directory that is there already (an earlier entry, or made as a
        // parent) is kept, and may have another owner.
        let mut other_owner = false;
        match sys::mkdir(parent, name, 0o700) {
            Ok(()) => {}
            Err(Errno::EEXIST) => {
                let existing =
                    sys::lstat_at(parent, name).map_err(self.syscall(path, "fstatat"))?;
                if existing.st_mode & libc::S_IFMT != libc::S_IFDIR {
                    self.clear(parent, path, name)?;
                    sys::mkdir(parent, name, 0o700).map_err(self.syscall(path, "mkdirat"))?;
                } else {
                    other_owner = (existing.st_uid, existing.st_gid) != (meta.uid, meta.gid);
                }
            }
            Err(e) => return Err(self.syscall(path, "mkdirat")(e)),
        }
        let fd = sys::open_entry(parent, name, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
            .map_err(self.syscall(path, "openat"))?;
        if other_owner && self.as_root {
            sys::fchown(fd.as_fd(), meta.uid, meta.gid).map_err(self.syscall(path, "fchown"))?;
        }
        self.set_owner_xattrs(fd.as_fd(), path, meta)?;
        self.dirs.push(DirFinish {
            path: path.to_path_buf(),
            mode: meta.mode,
            mtime: meta.mtime,
        });
        Ok(())
    }

    fn make_symlink(
        &mut self,
        parent: BorrowedFd<'_>,
        path: &Path,
        name: &OsStr,
        target: &[u8],
        meta: &Meta,
    ) -> Result<(), LayerError> {
        if target.is_empty() || target.len() > self.options.limits.max_path_bytes {
            return Err(LayerError::Header {
                layer: self.layer.to_string(),
                entry: path.display().to_string(),
                field: "linkname",
            });
        }
        self.create_or_replace(parent, path, name, "symlinkat", || {
            sys::symlink(OsStr::from_bytes(target), parent, name)
        })?;
        if self.needs_chown(meta) {
            sys::lchown_at(parent, name, meta.uid, meta.gid)
                .map_err(self.syscall(path, "fchownat"))?;
        }
        for (key, value) in &meta.xattrs {
            sys::set_xattr_at(parent, name, key, value).map_err(self.syscall(path, "lsetxattr"))?;
        }
        sys::set_times_at(parent, name, meta.mtime.0, meta.mtime.1)
            .map_err(self.syscall(path, "utimensat"))
    }

    fn make_hardlink(
        &mut self,
        parent: BorrowedFd<'_>,
        path: &Path,
        name: &OsStr,
        target: &[u8],
    ) -> Result<(), LayerError> {
        let max = self.options.limits.max_path_bytes;
        let target_path = tree::clean_name(target, max)
            .map_err(|e| LayerError::Escape {
                layer: self.layer.to_string(),
                entry: path.display().to_string(),
                reason: hardlink_reason(&e),
            })?
            .ok_or_else(|| LayerError::Header {
                layer: self.layer.to_string(),
                entry: path.display().to_string(),
                field: "linkname",
            })?;
        if target_path == path {
            return Ok(());
        }
        let target_parent = target_path.parent().unwrap_or(Path::new(""));
        let target_name = target_path.file_name().unwrap_or_default();
        let source_dir = tree::open_dir_below(self.root.as_fd(), target_parent, OFlag::O_PATH)
            .map_err(self.syscall(path, "openat2 link target"))?;
        // The target must be a regular file of this layer, not a directory or a symlink's destination.
        let stat = sys::lstat_at(source_dir.as_fd(), target_name)
            .map_err(self.syscall(path, "fstatat link target"))?;
        if stat.st_mode & libc::S_IFMT == libc::S_IFDIR {
            return Err(LayerError::Escape {
                layer: self.layer.to_string(),
                entry: path.display().to_string(),
                reason: "hardlink to a directory",
            });
        }
        self.create_or_replace(parent, path, name, "linkat", || {
            sys::hardlink(source_dir.as_fd(), target_name, parent, name)
        })
    }

    fn make_node<R: Read>(
        &mut self,
        parent: BorrowedFd<'_>,
        path: &Path,
        name: &OsStr,
        kind: EntryType,
        entry: &tar::Entry<'_, R>,
        meta: &Meta,
    ) -> Result<(), LayerError> {
        let node = match kind {
            EntryType::Char => NodeKind::Char,
            EntryType::Block => NodeKind::Block,
            _ => NodeKind::Fifo,
        };
        // Without root, device nodes cannot be made (and must not be asked for): skip them.
        if !self.as_root && !matches!(node, NodeKind::Fifo) {
            self.stats.skipped_devices += 1;
            return Ok(());
        }
        let header = entry.header();
        let bad = |field| LayerError::Header {
            layer: self.layer.to_string(),
            entry: path.display().to_string(),
            field,
        };
        // A fifo has no device numbers (archivers leave the fields empty).
        let (major, minor) = match node {
            NodeKind::Fifo => (0, 0),
            _ => (
                header
                    .device_major()
                    .map_err(|_| bad("devmajor"))?
                    .unwrap_or(0),
                header
                    .device_minor()
                    .map_err(|_| bad("devminor"))?
                    .unwrap_or(0),
            ),
        };
        self.create_or_replace(parent, path, name, "mknodat", || {
            sys::mknod(parent, name, node, 0o600, major.into(), minor.into())
        })?;
        if self.needs_chown(meta) {
            sys::lchown_at(parent, name, meta.uid, meta.gid)
                .map_err(self.syscall(path, "fchownat"))?;
        }
        sys::chmod_at(parent, name, meta.mode).map_err(self.syscall(path, "fchmodat"))?;
        for (key, value) in &meta.xattrs {
            sys::set_xattr_at(parent, name, key, value).map_err(self.syscall(path, "lsetxattr"))?;
        }
        sys::set_times_at(parent, name, meta.mtime.0, meta.mtime.1)
            .map_err(self.syscall(path, "utimensat"))
    }

    fn whiteout(
        &mut self,
        parent_path: &Path,
        path: &Path,
        whiteout: Whiteout<'_>,
    ) -> Result<(), LayerError> {
        let parent = tree::open_or_make_dir(self.root.as_fd(), parent_path)
            .map_err(self.syscall(path, "openat2 parent"))?;
        self.parent = None;
        match (whiteout, self.options.whiteouts) {
            (Whiteout::Opaque, Whiteouts::Overlay) => {
                let dir = tree::open_dir_below(self.root.as_fd(), parent_path, OFlag::O_RDONLY)
                    .map_err(self.syscall(path, "openat2"))?;
                sys::set_xattr_fd(dir.as_fd(), b"trusted.overlay.opaque", b"y")
                    .map_err(self.syscall(path, "fsetxattr trusted.overlay.opaque"))
            }
            (Whiteout::Opaque, Whiteouts::Apply) => {
                let dir = tree::open_dir_below(self.root.as_fd(), parent_path, OFlag::O_RDONLY)
                    .map_err(self.syscall(path, "openat2"))?;
                whiteout::remove_lower(dir, parent_path, &self.written)
                    .map_err(self.syscall(path, "remove opaque directory contents"))
            }
            // A whiteout hides the layers below, never this layer's own entry
            // of the same name (in a fresh store layer, whatever exists is ours).
            (Whiteout::Remove(name), Whiteouts::Overlay) => {
                match sys::mknod(parent.as_fd(), name, NodeKind::Char, 0, 0, 0) {
                    Ok(()) | Err(Errno::EEXIST) => Ok(()),
                    Err(e) => Err(self.syscall(path, "mknodat whiteout")(e)),
                }
            }
            (Whiteout::Remove(name), Whiteouts::Apply) => {
                if self.written.contains(&parent_path.join(name)) {
                    return Ok(());
                }
                tree::remove_entry(parent.as_fd(), name).map_err(self.syscall(path, "unlinkat"))
            }
            (Whiteout::Ignored, _) => Ok(()),
        }
    }
}

fn hardlink_reason(error: &NameError) -> &'static str {
    match error {
        NameError::Absolute => "hardlink to an absolute path",
        NameError::DotDot => "hardlink target leads out of the layer",
        NameError::TooLong => "hardlink target longer than the limit",
    }
}

/// A PAX time: seconds with an optional fraction.
fn parse_pax_time(value: &[u8]) -> Option<(i64, i64)> {
    let text = std::str::from_utf8(value).ok()?;
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    let secs = secs.parse::<i64>().ok()?;
    let digits: String = frac.chars().take(9).collect();
    let nanos = if digits.is_empty() {
        0
    } else {
        digits.parse::<i64>().ok()? * 10i64.pow(9 - digits.len() as u32)
    };
    Some((secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pax_times() {
        assert_eq!(parse_pax_time(b"1700000000"), Some((1_700_000_000, 0)));
        assert_eq!(
            parse_pax_time(b"1700000000.5"),
            Some((1_700_000_000, 500_000_000))
        );
        assert_eq!(parse_pax_time(b"x"), None);
    }
}
