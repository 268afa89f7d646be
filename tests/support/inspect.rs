//! Parsing what containers print and what the host shows: mountinfo and
//! `/proc/<pid>/status`.

use std::path::{Path, PathBuf};

/// A shell snippet printing the shell's own `/proc/<pid>/status` with builtins
/// only: `cat` would show the status of `cat`, whose capabilities are
/// recomputed by execve.
pub const SHELL_STATUS: &str =
    r#"while IFS= read -r line; do echo "$line"; done < /proc/$$/status"#;

/// The value of `Key:` in a `/proc/<pid>/status` text, whitespace trimmed.
pub fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        (name == key).then(|| value.trim())
    })
}

/// One line of `/proc/<pid>/mountinfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountEntry {
    /// Mount id.
    pub id: u32,
    /// Parent mount id.
    pub parent: u32,
    /// The root of the mount within its filesystem.
    pub root: String,
    /// Where it is mounted, as seen by the reader.
    pub mount_point: String,
    /// Per-mount options (ro, nosuid, nodev, noexec, relatime...).
    pub mount_options: Vec<String>,
    /// Optional fields: `shared:N`, `master:N`, `unbindable`.
    pub optional: Vec<String>,
    /// Filesystem type.
    pub fstype: String,
    /// Mount source.
    pub source: String,
    /// Per-superblock options (size=, mode=, controllers...).
    pub super_options: Vec<String>,
}

impl MountEntry {
    /// Whether the per-mount options include `option`.
    pub fn has_option(&self, option: &str) -> bool {
        self.mount_options.iter().any(|o| o == option)
    }

    /// Whether the superblock options include `option`.
    pub fn has_super_option(&self, option: &str) -> bool {
        self.super_options.iter().any(|o| o == option)
    }

    /// Whether it propagates as shared (`shared:N`).
    pub fn is_shared(&self) -> bool {
        self.optional.iter().any(|o| o.starts_with("shared:"))
    }

    /// Whether it receives from a master (`master:N`, i.e. slave).
    pub fn is_slave(&self) -> bool {
        self.optional.iter().any(|o| o.starts_with("master:"))
    }
}

/// Parses a mountinfo text; malformed lines are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines().filter_map(parse_mountinfo_line).collect()
}

fn parse_mountinfo_line(line: &str) -> Option<MountEntry> {
    let (head, tail) = line.split_once(" - ")?;
    let mut fields = head.split(' ');
    let id = fields.next()?.parse().ok()?;
    let parent = fields.next()?.parse().ok()?;
    let _device = fields.next()?;
    let root = unescape(fields.next()?);
    let mount_point = unescape(fields.next()?);
    let mount_options = fields.next()?.split(',').map(str::to_owned).collect();
    let optional = fields.map(str::to_owned).collect();
    let mut tail = tail.split(' ');
    let fstype = tail.next()?.to_owned();
    let source = unescape(tail.next()?);
    let super_options = tail
        .next()
        .unwrap_or("")
        .split(',')
        .map(str::to_owned)
        .collect();
    Some(MountEntry {
        id,
        parent,
        root,
        mount_point,
        mount_options,
        optional,
        fstype,
        source,
        super_options,
    })
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The topmost mount at `mount_point` (the last one listed there).
pub fn mount_at<'a>(mounts: &'a [MountEntry], mount_point: &str) -> Option<&'a MountEntry> {
    mounts.iter().rev().find(|m| m.mount_point == mount_point)
}

/// The test process's own mounts.
pub fn host_mounts() -> Vec<MountEntry> {
    parse_mountinfo(&std::fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo"))
}

/// Mount points in the test's mount namespace at or below `dir`, in
/// mountinfo order.
pub fn host_mounts_under(dir: &Path) -> Vec<PathBuf> {
    host_mounts()
        .into_iter()
        .map(|m| PathBuf::from(m.mount_point))
        .filter(|point| point.starts_with(dir))
        .collect()
}

/// Whether `pid` has exited: no longer in /proc, or a zombie waiting for its
/// (possibly reparented) parent to reap it.
pub fn is_gone_or_zombie(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/status")) {
        Ok(status) => status_field(&status, "State").is_some_and(|s| s.starts_with('Z')),
        Err(_) => true,
    }
}

/// How the binary a process runs (`/proc/<pid>/exe`) is protected against being written
/// through that link (CVE-2019-5736).
#[derive(Debug)]
pub struct ExeProtection {
    /// The link's text: "/memfd:NAME (deleted)" for a memfd copy.
    pub link: String,
    /// It sits on a read-only mount.
    pub read_only_mount: bool,
    /// It is a memfd sealed against writes.
    pub write_sealed: bool,
}

impl ExeProtection {
    /// Whether nothing can write the file through this link.
    pub fn is_sealed(&self) -> bool {
        self.read_only_mount || self.write_sealed
    }
}

/// Open `/proc/<pid>/exe` (as root, from the host) and see what protects it.
pub fn exe_protection(pid: i32) -> ExeProtection {
    use std::os::fd::AsRawFd;
    let path = format!("/proc/{pid}/exe");
    let link = std::fs::read_link(&path).unwrap_or_else(|e| panic!("readlink {path}: {e}")).display().to_string();
    let exe = std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `stat` is writable storage for one statvfs, which the kernel fills on success.
    let ret = unsafe { libc::fstatvfs(exe.as_raw_fd(), stat.as_mut_ptr()) };
    assert_eq!(ret, 0, "fstatvfs {path}: {}", std::io::Error::last_os_error());
    // SAFETY: fstatvfs returned 0, so it initialised `stat`.
    let read_only_mount = unsafe { stat.assume_init() }.f_flag & libc::ST_RDONLY != 0;
    // SAFETY: F_GET_SEALS on a descriptor this function owns; it only reads the seals.
    let seals = unsafe { libc::fcntl(exe.as_raw_fd(), libc::F_GET_SEALS) };
    ExeProtection { link, read_only_mount, write_sealed: seals >= 0 && seals & libc::F_SEAL_WRITE != 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_parse_with_optional_fields_and_escapes() {
        let text = "65 43 254:0 /tmp/b/rootfs / ro,relatime shared:1 master:2 - ext4 /dev/vda rw,discard\n\
                    70 67 0:39 / /mnt/with\\040space rw,nosuid - tmpfs tmpfs rw,size=1024k,mode=700\n\
                    garbage line\n";
        let mounts = parse_mountinfo(text);
        assert_eq!(mounts.len(), 2);
        let root = &mounts[0];
        assert_eq!((root.id, root.parent), (65, 43));
        assert_eq!(root.root, "/tmp/b/rootfs");
        assert!(root.has_option("ro") && root.is_shared() && root.is_slave());
        assert_eq!(root.fstype, "ext4");
        assert!(root.has_super_option("discard"));
        let tmpfs = mount_at(&mounts, "/mnt/with space").expect("unescaped mount point");
        assert!(tmpfs.optional.is_empty() && !tmpfs.is_shared());
        assert!(tmpfs.has_super_option("size=1024k") && tmpfs.has_super_option("mode=700"));
    }

    #[test]
    fn status_fields_are_found_by_exact_name() {
        let status =
            "Name:\tsh\nUid:\t1000\t1000\t1000\t1000\nGroups:\t\nCapEff:\t0000000000000020\n";
        assert_eq!(status_field(status, "Uid"), Some("1000\t1000\t1000\t1000"));
        assert_eq!(status_field(status, "Groups"), Some(""));
        assert_eq!(status_field(status, "Cap"), None);
        assert_eq!(status_field(status, "CapEff"), Some("0000000000000020"));
    }
}
