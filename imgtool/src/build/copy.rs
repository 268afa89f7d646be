//! COPY and ADD: finding sources (globs, `.dockerignore`, `--exclude`) in the
//! context or another root, checksumming what they read (for the cache), and
//! writing them into a stage's root with BuildKit's rules: a directory's
//! contents (not the directory) are copied, a destination ending in `/` or
//! naming an existing directory receives sources by their base name,
//! symlinks inside directories are kept, context files become root-owned
//! unless `--chown`, modes are kept unless `--chmod`, times are kept.
//!
//! The destination root is an image's filesystem: every path in it is
//! resolved by fd inside it (openat2 RESOLVE_IN_ROOT), and entries are
//! created relative to directory fds, never through a symlink. A source
//! root other than the context is resolved the same way.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::digests::ContextDigests;
use super::ignore::{clean, Ignore};
use super::BuildError;
use crate::sys::{self, Errno, OFlag, Resolve};

/// Where sources are read.
pub struct SourceRoot {
    /// The directory.
    pub dir: PathBuf,
    /// An fd of it (sources in a hostile root are resolved through it).
    fd: OwnedFd,
    /// Ownership is kept (another stage or image); otherwise files become root's.
    pub keep_owner: bool,
    /// Context-relative paths that are ignored.
    pub ignore: Option<Ignore>,
}

/// A resolved source: a path openable on the host, and its name.
pub struct Resolved {
    /// Host path (through /proc/self/fd for resolved roots).
    pub path: PathBuf,
    /// Path relative to the source root (for ignore patterns and names).
    pub rel: String,
    /// Keeps the resolved fd open while `path` is used.
    _fd: Option<OwnedFd>,
}

fn errno_io(call: &'static str, path: &Path) -> impl FnOnce(Errno) -> BuildError {
    let path = path.to_path_buf();
    move |errno| BuildError::Io {
        call,
        path,
        source: io::Error::from_raw_os_error(errno as i32),
    }
}

fn io_err(call: &'static str, path: &Path) -> impl FnOnce(io::Error) -> BuildError {
    let path = path.to_path_buf();
    move |source| BuildError::Io { call, path, source }
}

impl SourceRoot {
    /// A source root at `dir`.
    pub fn open(dir: &Path, keep_owner: bool, ignore: Option<Ignore>) -> Result<Self, BuildError> {
        let fd = sys::open_dir(dir).map_err(errno_io("open", dir))?;
        Ok(SourceRoot {
            dir: dir.to_path_buf(),
            fd,
            keep_owner,
            ignore,
        })
    }

    fn ignored(&self, rel: &str) -> bool {
        self.ignore.as_ref().is_some_and(|i| i.ignores(rel))
    }

    /// Resolve one path inside the root (symlinks resolved as inside it).
    fn resolve_one(&self, rel: &str) -> Option<Resolved> {
        let fd = sys::open_below(
            self.fd.as_fd(),
            Path::new(rel),
            OFlag::O_PATH,
            Resolve::InRoot,
        )
        .ok()?;
        Some(Resolved {
            path: PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())),
            rel: rel.to_string(),
            _fd: Some(fd),
        })
    }

    /// The sources a pattern names: the path itself, or every match of a glob.
    pub fn resolve(&self, pattern: &str) -> Result<Vec<Resolved>, String> {
        let cleaned = clean(&format!("/{pattern}"));
        let rel = cleaned.trim_start_matches('/').to_string();
        let rel = if rel.is_empty() { ".".to_string() } else { rel };
        if !rel.contains(['*', '?', '[']) {
            if rel != "." && self.ignored(&rel) {
                return Err(format!(
                    "{pattern:?}: not found (excluded by .dockerignore)"
                ));
            }
            return self
                .resolve_one(&rel)
                .map(|r| vec![r])
                .ok_or_else(|| format!("{pattern:?}: not found"));
        }
        // Walk component by component, matching each against its glob.
        let mut found = vec![String::new()];
        for part in rel.split('/') {
            let mut next = Vec::new();
            for base in &found {
                let Some(dir) = self.resolve_one(if base.is_empty() { "." } else { base }) else {
                    continue;
                };
                let Ok(entries) = fs::read_dir(&dir.path) else {
                    continue;
                };
                let mut names: Vec<String> = entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                names.sort();
                for name in names {
                    if glob_match(part, &name) {
                        next.push(if base.is_empty() {
                            name
                        } else {
                            format!("{base}/{name}")
                        });
                    }
                }
            }
            found = next;
        }
        let out: Vec<Resolved> = found
            .into_iter()
            .filter(|r| !self.ignored(r))
            .filter_map(|r| self.resolve_one(&r))
            .collect();
        if out.is_empty() {
            return Err(format!("{pattern:?}: no source files were specified"));
        }
        Ok(out)
    }
}

/// Go's filepath.Match for one path component: `*`, `?`, `[...]`, `\` escapes.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|i| go(&p[1..], &n[i..])),
            Some('?') => !n.is_empty() && go(&p[1..], &n[1..]),
            Some('[') => {
                let Some(c) = n.first() else { return false };
                let mut i = 1;
                let negate = p.get(1) == Some(&'^') || p.get(1) == Some(&'!');
                if negate {
                    i += 1;
                }
                let mut matched = false;
                let mut first = true;
                while i < p.len() && (p[i] != ']' || first) {
                    first = false;
                    let lo = if p[i] == '\\' && i + 1 < p.len() {
                        i += 1;
                        p[i]
                    } else {
                        p[i]
                    };
                    let mut hi = lo;
                    if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|c| *c != ']') {
                        hi = p[i + 2];
                        i += 2;
                    }
                    if lo <= *c && *c <= hi {
                        matched = true;
                    }
                    i += 1;
                }
                if i >= p.len() {
                    return false;
                }
                matched != negate && go(&p[i + 1..], &n[1..])
            }
            Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && go(&p[2..], &n[1..]),
            Some(c) => n.first() == Some(c) && go(&p[1..], &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

/// Feed a source tree into `hasher`: names, kinds, modes, owners (when kept),
/// sizes, content digests (remembered in `digests` while a file's stat is
/// unchanged) and link targets; not times.
pub fn checksum(
    source: &SourceRoot,
    resolved: &Resolved,
    excludes: &Ignore,
    digests: &ContextDigests,
    hasher: &mut Sha256,
) -> io::Result<()> {
    let meta = fs::metadata(&resolved.path)?;
    let mut entries = vec![(PathBuf::new(), meta)];
    if entries[0].1.is_dir() {
        entries.extend(super::snapshot::walk(&resolved.path)?);
    }
    for (rel, meta) in entries {
        let context_rel = format!("{}/{}", resolved.rel, rel.display());
        if !rel.as_os_str().is_empty()
            && (source.ignored(&context_rel) || excludes.ignores(&rel.to_string_lossy()))
        {
            continue;
        }
        hasher.update(rel.as_os_str().as_bytes());
        hasher.update([0]);
        hasher.update(meta.mode().to_le_bytes());
        if source.keep_owner {
            hasher.update(meta.uid().to_le_bytes());
            hasher.update(meta.gid().to_le_bytes());
        }
        let path = if rel.as_os_str().is_empty() {
            resolved.path.clone()
        } else {
            resolved.path.join(&rel)
        };
        if meta.file_type().is_symlink() {
            hasher.update(fs::read_link(&path)?.as_os_str().as_bytes());
        } else if meta.is_file() {
            hasher.update(meta.len().to_le_bytes());
            hasher.update(digests.digest(context_rel.as_bytes(), &path, &meta)?);
        }
        hasher.update([0xff]);
    }
    Ok(())
}

/// Who owns what a COPY writes.
#[derive(Clone, Copy, Debug)]
pub struct Owner {
    /// uid.
    pub uid: u32,
    /// gid.
    pub gid: u32,
}

/// How entries are written.
pub struct WriteOptions<'a> {
    /// `--chown` (or root for context sources); `None` keeps the source's owner.
    pub owner: Option<Owner>,
    /// `--chmod`.
    pub chmod: Option<u32>,
    /// `--exclude` patterns, relative to the source.
    pub excludes: &'a Ignore,
    /// The source root (ignore rules).
    pub source: &'a SourceRoot,
}

/// The destination root, resolved by fd.
pub struct DestRoot {
    fd: OwnedFd,
    dir: PathBuf,
}

fn split_parent(path: &str) -> (String, OsString) {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rfind('/') {
        Some(at) => (
            trimmed[..at].to_string(),
            OsString::from(&trimmed[at + 1..]),
        ),
        None => (String::new(), OsString::from(trimmed)),
    }
}

impl DestRoot {
    /// The root at `dir`.
    pub fn open(dir: &Path) -> Result<Self, BuildError> {
        Ok(DestRoot {
            fd: sys::open_dir(dir).map_err(errno_io("open", dir))?,
            dir: dir.to_path_buf(),
        })
    }

    /// The root's fd.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    fn open_dir(&self, path: &str) -> Result<OwnedFd, Errno> {
        sys::open_below(
            self.fd.as_fd(),
            Path::new(path.trim_start_matches('/')),
            OFlag::O_DIRECTORY | OFlag::O_RDONLY,
            Resolve::InRoot,
        )
    }

    /// Whether `path` is an existing directory (following links inside the root).
    pub fn is_dir(&self, path: &str) -> bool {
        self.open_dir(path).is_ok()
    }

    /// `mkdir -p` inside the root; created directories get mode 0755 and `owner`.
    pub fn make_dirs(&self, path: &str, owner: Option<Owner>) -> Result<OwnedFd, BuildError> {
        let mut current = String::new();
        let mut fd = self.open_dir("/").map_err(errno_io("open", &self.dir))?;
        for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
            current = format!("{current}/{part}");
            match self.open_dir(&current) {
                Ok(next) => fd = next,
                Err(Errno::ENOENT) => {
                    let name = OsStr::new(part);
                    sys::mkdir(fd.as_fd(), name, 0o755)
                        .map_err(errno_io("mkdir", &self.dir.join(&current[1..])))?;
                    let created = sys::open_entry(
                        fd.as_fd(),
                        name,
                        OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_RDONLY,
                    )
                    .map_err(errno_io("open", &self.dir.join(&current[1..])))?;
                    sys::fchmod(created.as_fd(), 0o755)
                        .map_err(errno_io("chmod", &self.dir.join(&current[1..])))?;
                    if let Some(o) = owner {
                        sys::fchown(created.as_fd(), o.uid, o.gid)
                            .map_err(errno_io("chown", &self.dir.join(&current[1..])))?;
                    }
                    fd = created;
                }
                Err(e) => {
                    return Err(errno_io(
                        "open",
                        &self.dir.join(current.trim_start_matches('/')),
                    )(e))
                }
            }
        }
        Ok(fd)
    }

    /// Copy `source` to `dest` (an absolute path; a trailing `/` or an existing
    /// directory means "into"), by BuildKit's rules.
    pub fn copy(
        &self,
        source: &Resolved,
        dest: &str,
        options: &WriteOptions<'_>,
    ) -> Result<(), BuildError> {
        let meta = fs::metadata(&source.path).map_err(io_err("stat", Path::new(&source.rel)))?;
        if meta.is_dir() {
            // A directory's contents go into dest.
            let dir = self.make_dirs(dest, options.owner)?;
            self.copy_children(
                &source.path,
                &source.rel,
                Path::new(""),
                dir.as_fd(),
                options,
                &mut HashMap::new(),
            )
        } else {
            let into = dest.ends_with('/') || self.is_dir(dest);
            let (parent, name) = if into {
                let base = Path::new(&source.rel)
                    .file_name()
                    .map(OsStr::to_os_string)
                    .unwrap_or_default();
                (dest.trim_end_matches('/').to_string(), base)
            } else {
                split_parent(dest)
            };
            let dir = self.make_dirs(&parent, options.owner)?;
            self.copy_entry(
                &source.path,
                &meta,
                dir.as_fd(),
                &name,
                options,
                &mut HashMap::new(),
            )
        }
    }

    /// Write a file with `content` (COPY heredocs, ADD downloads).
    pub fn write_file(
        &self,
        dest: &str,
        name: &str,
        content: &[u8],
        mode: u32,
        owner: Owner,
        mtime: Option<i64>,
    ) -> Result<(), BuildError> {
        let into = dest.ends_with('/') || self.is_dir(dest);
        let (parent, name) = if into {
            (dest.trim_end_matches('/').to_string(), OsString::from(name))
        } else {
            split_parent(dest)
        };
        let dir = self.make_dirs(&parent, Some(owner))?;
        let path = self.dir.join(parent.trim_start_matches('/')).join(&name);
        remove_existing(dir.as_fd(), &name, false).map_err(errno_io("unlink", &path))?;
        let fd = sys::create_file(dir.as_fd(), &name, 0o600).map_err(errno_io("create", &path))?;
        let mut file = File::from(fd);
        io::Write::write_all(&mut file, content).map_err(io_err("write", &path))?;
        sys::fchown(file.as_fd(), owner.uid, owner.gid).map_err(errno_io("chown", &path))?;
        sys::fchmod(file.as_fd(), mode).map_err(errno_io("chmod", &path))?;
        if let Some(t) = mtime {
            sys::set_times(file.as_fd(), t, 0).map_err(errno_io("utimens", &path))?;
        }
        Ok(())
    }

    fn copy_children(
        &self,
        src_dir: &Path,
        src_rel: &str,
        rel: &Path,
        dest_dir: BorrowedFd<'_>,
        options: &WriteOptions<'_>,
        links: &mut HashMap<(u64, u64), (OwnedFd, OsString)>,
    ) -> Result<(), BuildError> {
        let mut names: Vec<OsString> = fs::read_dir(src_dir)
            .map_err(io_err("readdir", src_dir))?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        names.sort();
        for name in names {
            let child_rel = rel.join(&name);
            let context_rel = format!("{src_rel}/{}", child_rel.display());
            if options.source.ignored(&context_rel)
                && !options
                    .source
                    .ignore
                    .as_ref()
                    .is_some_and(Ignore::has_exclusions)
            {
                continue;
            }
            if options.excludes.ignores(&child_rel.to_string_lossy()) {
                continue;
            }
            let path = src_dir.join(&name);
            let meta = fs::symlink_metadata(&path).map_err(io_err("lstat", &path))?;
            if options.source.ignored(&context_rel) && !meta.is_dir() {
                continue;
            }
            self.copy_entry(&path, &meta, dest_dir, &name, options, links)?;
            if meta.is_dir() {
                let sub = sys::open_entry(
                    dest_dir,
                    &name,
                    OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_RDONLY,
                )
                .map_err(errno_io("open", &path))?;
                self.copy_children(&path, src_rel, &child_rel, sub.as_fd(), options, links)?;
                set_meta(sub.as_fd(), &meta, options, &path)?;
            }
        }
        Ok(())
    }

    fn copy_entry(
        &self,
        path: &Path,
        meta: &fs::Metadata,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        options: &WriteOptions<'_>,
        links: &mut HashMap<(u64, u64), (OwnedFd, OsString)>,
    ) -> Result<(), BuildError> {
        let ft = meta.file_type();
        let shown = Path::new(name);
        if ft.is_dir() {
            match sys::mkdir(dir, name, 0o755) {
                Ok(()) => {}
                Err(Errno::EEXIST) => {
                    let existing = sys::lstat_at(dir, name).map_err(errno_io("lstat", shown))?;
                    if existing.st_mode & libc::S_IFMT != libc::S_IFDIR {
                        remove_existing(dir, name, false).map_err(errno_io("unlink", shown))?;
                        sys::mkdir(dir, name, 0o755).map_err(errno_io("mkdir", shown))?;
                    }
                }
                Err(e) => return Err(errno_io("mkdir", shown)(e)),
            }
            // Metadata is set after the children (by the caller) or now for a lone dir.
            let fd = sys::open_entry(
                dir,
                name,
                OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_RDONLY,
            )
            .map_err(errno_io("open", shown))?;
            return set_meta(fd.as_fd(), meta, options, path);
        }
        remove_existing(dir, name, true).map_err(errno_io("unlink", shown))?;
        if ft.is_file() {
            if meta.nlink() > 1 {
                if let Some((first_dir, first_name)) = links.get(&(meta.dev(), meta.ino())) {
                    if sys::hardlink(first_dir.as_fd(), first_name, dir, name).is_ok() {
                        return Ok(());
                    }
                }
                if let Ok(dup) = dir.try_clone_to_owned() {
                    links.insert((meta.dev(), meta.ino()), (dup, name.to_os_string()));
                }
            }
            let fd = sys::create_file(dir, name, 0o600).map_err(errno_io("create", shown))?;
            let mut out = File::from(fd);
            let mut input = File::open(path).map_err(io_err("open", path))?;
            io::copy(&mut input, &mut out).map_err(io_err("copy", path))?;
            copy_xattrs(path, out.as_fd());
            return set_meta(out.as_fd(), meta, options, path);
        }
        if ft.is_symlink() {
            let target = fs::read_link(path).map_err(io_err("readlink", path))?;
            sys::symlink(target.as_os_str(), dir, name).map_err(errno_io("symlink", shown))?;
            let (uid, gid) = owner_of(meta, options);
            sys::lchown_at(dir, name, uid, gid).map_err(errno_io("lchown", shown))?;
            let _ = sys::set_times_at(dir, name, meta.mtime(), meta.mtime_nsec());
            return Ok(());
        }
        let kind = if ft.is_fifo() {
            sys::NodeKind::Fifo
        } else if ft.is_char_device() {
            sys::NodeKind::Char
        } else if ft.is_block_device() {
            sys::NodeKind::Block
        } else {
            return Ok(());
        };
        let (major, minor) = (
            libc::major(meta.rdev()).into(),
            libc::minor(meta.rdev()).into(),
        );
        sys::mknod(dir, name, kind, meta.mode() & 0o7777, major, minor)
            .map_err(errno_io("mknod", shown))?;
        let (uid, gid) = owner_of(meta, options);
        sys::lchown_at(dir, name, uid, gid).map_err(errno_io("lchown", shown))?;
        Ok(())
    }
}

fn owner_of(meta: &fs::Metadata, options: &WriteOptions<'_>) -> (u32, u32) {
    match options.owner {
        Some(o) => (o.uid, o.gid),
        None => (meta.uid(), meta.gid()),
    }
}

fn set_meta(
    fd: BorrowedFd<'_>,
    meta: &fs::Metadata,
    options: &WriteOptions<'_>,
    path: &Path,
) -> Result<(), BuildError> {
    let (uid, gid) = owner_of(meta, options);
    sys::fchown(fd, uid, gid).map_err(errno_io("chown", path))?;
    let mode = options.chmod.unwrap_or(meta.mode() & 0o7777);
    sys::fchmod(fd, mode).map_err(errno_io("chmod", path))?;
    sys::set_times(fd, meta.mtime(), meta.mtime_nsec()).map_err(errno_io("utimens", path))?;
    Ok(())
}

fn copy_xattrs(path: &Path, fd: BorrowedFd<'_>) {
    for key in sys::list_xattrs(path).unwrap_or_default() {
        if key.starts_with(b"trusted.overlay.") {
            continue;
        }
        if let Ok(value) = sys::get_xattr(path, &key) {
            let _ = sys::set_xattr_fd(fd, &key, &value);
        }
    }
}

/// Remove what is at `name` so a new entry can take its place (a directory
/// only when `dirs` and it is being replaced by a non-directory).
fn remove_existing(dir: BorrowedFd<'_>, name: &OsStr, dirs: bool) -> Result<(), Errno> {
    match sys::lstat_at(dir, name) {
        Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(e),
        Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {
            if dirs {
                let path = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name);
                fs::remove_dir_all(&path)
                    .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
            } else {
                Err(Errno::EISDIR)
            }
        }
        Ok(_) => sys::unlink(dir, name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*.txt", "a.txt"));
        assert!(!glob_match("*.txt", "a.txt.bak"));
        assert!(glob_match("file?", "file1"));
        assert!(glob_match("[a-c]*", "beta"));
        assert!(!glob_match("[!a-c]*", "beta"));
        assert!(glob_match("a\\*", "a*"));
    }
}
