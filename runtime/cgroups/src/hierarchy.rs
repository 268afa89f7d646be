//! Which cgroup hierarchies this host has, where they are mounted, and where the calling
//! process sits in each: read from /proc/self/mountinfo and /proc/self/cgroup.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How the host's cgroup filesystems are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Only v1 hierarchies (one mount per controller or controller group).
    V1,
    /// One cgroup2 hierarchy holding every controller.
    V2,
    /// v1 controllers plus a cgroup2 mount (systemd's "hybrid" mode); the container's process
    /// is put in the unified hierarchy too, as runc does.
    Hybrid,
}

/// One mounted hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Hierarchy {
    /// v1: the controllers bound to it ("cpu", "cpuacct", or "name=systemd"); v2: empty.
    pub controllers: Vec<String>,
    /// Where it is mounted.
    pub mountpoint: PathBuf,
    /// The cgroup path the mount shows at its mountpoint (not "/" inside a cgroup namespace
    /// or for a bind mount of a sub-cgroup).
    pub mount_root: PathBuf,
    /// The caller's own cgroup in this hierarchy, as /proc/self/cgroup names it.
    pub own: PathBuf,
}

impl Hierarchy {
    /// The directory of cgroup `path` (a path from the hierarchy's root) on the host.
    pub fn dir_of(&self, path: &Path) -> PathBuf {
        let rel = path.strip_prefix(&self.mount_root).unwrap_or(path);
        let rel = rel.strip_prefix("/").unwrap_or(rel);
        if rel.as_os_str().is_empty() {
            self.mountpoint.clone()
        } else {
            self.mountpoint.join(rel)
        }
    }

}

/// All hierarchies of the host, as the calling process sees them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Host {
    pub layout: Layout,
    /// v1 hierarchies (empty on pure v2).
    pub v1: Vec<Hierarchy>,
    /// The cgroup2 hierarchy, if mounted.
    pub unified: Option<Hierarchy>,
}

impl Host {
    /// Read /proc/self/mountinfo and /proc/self/cgroup.
    pub fn detect() -> Result<Host> {
        let mountinfo = read_proc("/proc/self/mountinfo")?;
        let cgroup = read_proc("/proc/self/cgroup")?;
        Host::parse(&mountinfo, &cgroup)
    }

    /// Build the host view from the text of mountinfo and /proc/self/cgroup.
    pub fn parse(mountinfo: &str, proc_cgroup: &str) -> Result<Host> {
        let own = parse_proc_cgroup(proc_cgroup);
        let mut v1: Vec<Hierarchy> = Vec::new();
        let mut unified = None;
        for mount in mountinfo.lines().filter_map(parse_mount_line) {
            match mount.fstype {
                "cgroup" => {
                    let mut controllers: Vec<String> = mount
                        .super_options
                        .split(',')
                        .filter(|o| is_v1_controller_option(o))
                        .map(str::to_owned)
                        .collect();
                    controllers.sort();
                    if controllers.is_empty() || v1.iter().any(|h| h.controllers == controllers) {
                        continue; // a bind mount of a hierarchy we already have
                    }
                    let own_path = own_path_for(&own, &controllers).ok_or_else(|| {
                        Error::OwnCgroupUnknown {
                            mountpoint: mount.mountpoint.clone(),
                        }
                    })?;
                    v1.push(Hierarchy {
                        controllers,
                        mountpoint: mount.mountpoint,
                        mount_root: mount.root,
                        own: own_path,
                    });
                }
                "cgroup2" if unified.is_none() => {
                    let own_path = own_path_for(&own, &[]).ok_or_else(|| Error::OwnCgroupUnknown {
                        mountpoint: mount.mountpoint.clone(),
                    })?;
                    unified = Some(Hierarchy {
                        controllers: Vec::new(),
                        mountpoint: mount.mountpoint,
                        mount_root: mount.root,
                        own: own_path,
                    });
                }
                _ => {}
            }
        }
        let layout = match (v1.is_empty(), unified.is_some()) {
            (true, true) => Layout::V2,
            (false, false) => Layout::V1,
            (false, true) => Layout::Hybrid,
            (true, false) => return Err(Error::NoCgroupFs),
        };
        Ok(Host {
            layout,
            v1,
            unified,
        })
    }

    /// The v1 hierarchy that carries `controller`.
    #[cfg(test)]
    pub fn v1_hierarchy(&self, controller: &str) -> Option<&Hierarchy> {
        self.v1
            .iter()
            .find(|h| h.controllers.iter().any(|c| c == controller))
    }
}

fn read_proc(path: &str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::ReadProc {
        path: path.into(),
        source,
    })
}

/// Mount options of a v1 cgroup mount that name a controller (or a named hierarchy).
fn is_v1_controller_option(option: &str) -> bool {
    !matches!(
        option,
        "rw" | "ro" | "noprefix" | "xattr" | "clone_children" | "cpuset_v2_mode" | "none" | ""
    ) && !option.starts_with("release_agent=")
}

/// One line of /proc/self/cgroup: (controllers, path); v2 has no controllers.
fn parse_proc_cgroup(text: &str) -> Vec<(Vec<String>, PathBuf)> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let mut list: Vec<String> = controllers
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect();
            list.sort();
            Some((list, PathBuf::from(path)))
        })
        .collect()
}

fn own_path_for(own: &[(Vec<String>, PathBuf)], controllers: &[String]) -> Option<PathBuf> {
    own.iter()
        .find(|(list, _)| list == controllers)
        .map(|(_, path)| path.clone())
}

struct Mount<'a> {
    root: PathBuf,
    mountpoint: PathBuf,
    fstype: &'a str,
    super_options: &'a str,
}

/// The mount points in `mountinfo` (the text of /proc/PID/mountinfo) whose filesystem type
/// is one of `fstypes`, in mount order. The runtime uses it to detach the host's procfs and
/// sysfs for --no-pivot; it lives here with the one mountinfo parser.
pub fn mount_points_of_type(mountinfo: &str, fstypes: &[&str]) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(parse_mount_line)
        .filter(|m| fstypes.contains(&m.fstype))
        .map(|m| m.mountpoint)
        .collect()
}

/// Parse one mountinfo line: "id parent maj:min root mountpoint opts [optional...] - fstype source superopts".
fn parse_mount_line(line: &str) -> Option<Mount<'_>> {
    let (before, after) = line.split_once(" - ")?;
    let fields: Vec<&str> = before.split(' ').collect();
    let mut after_fields = after.split(' ');
    let fstype = after_fields.next()?;
    let _source = after_fields.next()?;
    let super_options = after_fields.next().unwrap_or("");
    Some(Mount {
        root: PathBuf::from(unescape_octal(fields.get(3)?)),
        mountpoint: PathBuf::from(unescape_octal(fields.get(4)?)),
        fstype,
        super_options,
    })
}

/// mountinfo escapes space, tab, newline and backslash as \ooo. Shared with the runtime,
/// which reads mountinfo too.
pub fn unescape_octal(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| std::str::from_utf8(d).ok()).and_then(|d| u8::from_str_radix(d, 8).ok());
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

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const HYBRID_CGROUP: &str = "\
9:name=systemd:/
4:memory:/process_api/abc
2:cpuacct:/
1:cpu:/
0::/
";

    #[test]
    fn hybrid_is_detected_with_per_hierarchy_own_cgroups() {
        let host = Host::parse(HYBRID_MOUNTINFO, HYBRID_CGROUP).unwrap();
        assert_eq!(host.layout, Layout::Hybrid);
        assert_eq!(host.v1.len(), 4);
        let memory = host.v1_hierarchy("memory").unwrap();
        assert_eq!(memory.own, PathBuf::from("/process_api/abc"));
        assert_eq!(
            memory.dir_of(&memory.own),
            PathBuf::from("/sys/fs/cgroup/memory/process_api/abc")
        );
        assert!(host.v1_hierarchy("name=systemd").is_some());
        assert_eq!(host.unified.unwrap().mountpoint, PathBuf::from("/sys/fs/cgroup/unified"));
    }

    #[test]
    fn comounted_v1_controllers_share_one_hierarchy() {
        let mountinfo = "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpuacct,cpu\n";
        let host = Host::parse(mountinfo, "3:cpu,cpuacct:/x\n").unwrap();
        assert_eq!(host.layout, Layout::V1);
        assert_eq!(host.v1_hierarchy("cpu"), host.v1_hierarchy("cpuacct"));
        assert_eq!(
            host.v1_hierarchy("cpu").unwrap().dir_of(Path::new("/x/y")),
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/x/y")
        );
    }

    #[test]
    fn pure_v2_inside_a_cgroup_namespace_maps_paths_below_the_mount_root() {
        let mountinfo = "30 25 0:26 /ns /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let host = Host::parse(mountinfo, "0::/ns/me\n").unwrap();
        assert_eq!(host.layout, Layout::V2);
        let v2 = host.unified.unwrap();
        assert_eq!(v2.dir_of(&v2.own), PathBuf::from("/sys/fs/cgroup/me"));
    }

    #[test]
    fn escaped_mountpoints_are_decoded() {
        assert_eq!(unescape_octal("/a\\040b"), "/a b");
    }

    #[test]
    fn no_cgroup_mount_is_an_error() {
        let err = Host::parse("1 0 0:1 / / rw - ext4 /dev/sda rw\n", "0::/\n").unwrap_err();
        assert!(matches!(err, Error::NoCgroupFs));
    }

    #[test]
    fn this_machine_is_detected() {
        // Whatever this host is, detection must succeed and agree with /proc/self/cgroup.
        let host = Host::detect().unwrap();
        assert!(host.unified.is_some() || !host.v1.is_empty());
    }
}
