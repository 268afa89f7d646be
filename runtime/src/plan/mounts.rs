//! config.json `mounts[]`: option strings to mount flags, propagation and data.

use super::SpecError;
use oci_spec::runtime::Mount;
use std::path::{Path, PathBuf};

/// Mount propagation of one mount point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Private,
    RPrivate,
    Shared,
    RShared,
    Slave,
    RSlave,
    Unbindable,
    RUnbindable,
}

impl Propagation {
    /// Parse a propagation option ("rslave", "shared", ...).
    pub fn parse(name: &str) -> Option<Propagation> {
        Some(match name {
            "private" => Propagation::Private,
            "rprivate" => Propagation::RPrivate,
            "shared" => Propagation::Shared,
            "rshared" => Propagation::RShared,
            "slave" => Propagation::Slave,
            "rslave" => Propagation::RSlave,
            "unbindable" => Propagation::Unbindable,
            "runbindable" => Propagation::RUnbindable,
            _ => return None,
        })
    }

    /// The mount(2) flags that set this propagation.
    pub fn flags(self) -> libc::c_ulong {
        match self {
            Propagation::Private => libc::MS_PRIVATE,
            Propagation::RPrivate => libc::MS_PRIVATE | libc::MS_REC,
            Propagation::Shared => libc::MS_SHARED,
            Propagation::RShared => libc::MS_SHARED | libc::MS_REC,
            Propagation::Slave => libc::MS_SLAVE,
            Propagation::RSlave => libc::MS_SLAVE | libc::MS_REC,
            Propagation::Unbindable => libc::MS_UNBINDABLE,
            Propagation::RUnbindable => libc::MS_UNBINDABLE | libc::MS_REC,
        }
    }
}

/// What kind of mount an entry makes; the kinds that need more than one mount(2) call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountKind {
    /// A bind mount of a host path (rbind when `flags` has MS_REC).
    Bind,
    /// cgroup or cgroup2: mounted to match the host's cgroup layout.
    Cgroup,
    /// Any other filesystem type, mounted fresh.
    Fresh(String),
}

/// One validated entry of `mounts[]`.
#[derive(Debug, Clone)]
pub struct MountPlan {
    /// "mounts[3]", for error messages.
    pub field: String,
    pub kind: MountKind,
    /// Host path for binds (absolute, relative ones resolved against the bundle); device or
    /// a free-form name for other kinds.
    pub source: Option<PathBuf>,
    /// Absolute path inside the container.
    pub destination: PathBuf,
    /// MS_* flags for the mount itself.
    pub flags: libc::c_ulong,
    /// Filesystem-specific data (size=, mode=, ...), comma-separated.
    pub data: String,
    /// Propagation options, applied after the mount in order.
    pub propagation: Vec<Propagation>,
    /// "rro": make the whole tree read-only with mount_setattr.
    pub recursive_readonly: bool,
    /// An idmapped mount (uidMappings/gidMappings, "idmap", "ridmap"), see super::userns.
    pub idmap: Option<super::MountIdmap>,
    /// "tmpcopyup" (runc's extension, podman's --tmpfs and --read-only): a tmpfs starts with
    /// a copy of what the directory it covers holds.
    pub copy_up: bool,
}

/// Option name, flags it sets, flags it clears.
const FLAG_OPTIONS: &[(&str, libc::c_ulong, libc::c_ulong)] = &[
    ("defaults", 0, 0),
    ("ro", libc::MS_RDONLY, 0),
    ("rw", 0, libc::MS_RDONLY),
    ("nosuid", libc::MS_NOSUID, 0),
    ("suid", 0, libc::MS_NOSUID),
    ("nodev", libc::MS_NODEV, 0),
    ("dev", 0, libc::MS_NODEV),
    ("noexec", libc::MS_NOEXEC, 0),
    ("exec", 0, libc::MS_NOEXEC),
    ("sync", libc::MS_SYNCHRONOUS, 0),
    ("async", 0, libc::MS_SYNCHRONOUS),
    ("dirsync", libc::MS_DIRSYNC, 0),
    ("remount", libc::MS_REMOUNT, 0),
    ("mand", libc::MS_MANDLOCK, 0),
    ("nomand", 0, libc::MS_MANDLOCK),
    ("atime", 0, libc::MS_NOATIME),
    ("noatime", libc::MS_NOATIME, 0),
    ("diratime", 0, libc::MS_NODIRATIME),
    ("nodiratime", libc::MS_NODIRATIME, 0),
    ("relatime", libc::MS_RELATIME, 0),
    ("norelatime", 0, libc::MS_RELATIME),
    ("strictatime", libc::MS_STRICTATIME, 0),
    ("nostrictatime", 0, libc::MS_STRICTATIME),
    ("lazytime", libc::MS_LAZYTIME, 0),
    ("nolazytime", 0, libc::MS_LAZYTIME),
    ("silent", libc::MS_SILENT, 0),
    ("loud", 0, libc::MS_SILENT),
    ("bind", libc::MS_BIND, 0),
    ("rbind", libc::MS_BIND | libc::MS_REC, 0),
];

/// Every option `mounts[].options` may hold besides filesystem data (`berth features`).
pub fn option_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = FLAG_OPTIONS.iter().map(|(name, _, _)| *name).collect();
    names.extend(["private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable"]);
    names.extend(["rro", "rrw", "idmap", "ridmap"]);
    names
}

impl MountPlan {
    /// Validate entry `index` of `mounts[]`.
    pub fn new(index: usize, mount: &Mount, bundle: &Path) -> Result<MountPlan, SpecError> {
        let field = format!("mounts[{index}]");
        let destination = mount.destination().clone();
        super::path_fits(&format!("{field}.destination"), &destination)?;
        if let Some(source) = mount.source() {
            super::path_fits(&format!("{field}.source"), source)?;
        }
        if !destination.is_absolute() {
            return Err(SpecError::invalid(
                format!("{field}.destination"),
                format!("{destination:?} is not an absolute path"),
            ));
        }
        if destination.components().any(|c| c == std::path::Component::ParentDir) {
            return Err(SpecError::invalid(
                format!("{field}.destination"),
                format!("{destination:?} contains '..'"),
            ));
        }
        let mut flags: libc::c_ulong = 0;
        let mut data = Vec::new();
        let mut propagation = Vec::new();
        let mut recursive_readonly = false;
        let mut idmap_option = None;
        let mut copy_up = false;
        for option in mount.options().iter().flatten() {
            if let Some(&(_, set, clear)) = FLAG_OPTIONS.iter().find(|(name, _, _)| name == option) {
                flags = (flags & !clear) | set;
            } else if let Some(p) = Propagation::parse(option) {
                propagation.push(p);
            } else if option == "rro" {
                recursive_readonly = true;
            } else if option == "rrw" {
                recursive_readonly = false;
            } else if option == "idmap" || option == "ridmap" {
                idmap_option = Some(option == "ridmap");
            } else if option.is_empty() {
                // buildah's -v sends empty strings; runc skips them.
            } else if option == "tmpcopyup" {
                copy_up = true;
            } else {
                data.push(option.as_str());
            }
        }
        let typ = mount.typ().as_deref().unwrap_or("");
        let is_bind = flags & libc::MS_BIND != 0;
        let kind = match typ {
            _ if is_bind => MountKind::Bind,
            "bind" => {
                flags |= libc::MS_BIND;
                MountKind::Bind
            }
            "cgroup" | "cgroup2" => MountKind::Cgroup,
            "" | "none" => {
                return Err(SpecError::invalid(format!("{field}.type"), "missing type (and no bind option)"));
            }
            other if !filesystem_known(other) => {
                return Err(SpecError::invalid(
                    format!("{field}.type"),
                    format!("unknown filesystem type {other:?} for {destination:?} (not in /proc/filesystems)"),
                ));
            }
            other => MountKind::Fresh(other.to_owned()),
        };
        let source = match (&kind, mount.source()) {
            (MountKind::Bind, None) => {
                return Err(SpecError::invalid(format!("{field}.source"), "a bind mount needs a source"));
            }
            (MountKind::Bind, Some(src)) => {
                let src = if src.is_absolute() { src.clone() } else { bundle.join(src) };
                if std::fs::symlink_metadata(&src).is_err() {
                    return Err(SpecError::invalid(
                        format!("{field}.source"),
                        format!("{src:?} does not exist"),
                    ));
                }
                Some(src)
            }
            (_, src) => src.clone(),
        };
        let idmap = super::MountIdmap::new(&field, mount, idmap_option)?;
        if idmap.is_some() && kind != MountKind::Bind {
            return Err(SpecError::invalid(format!("{field}.options"), "idmapped mounts are made of bind mounts only"));
        }
        let copy_up = copy_up && matches!(&kind, MountKind::Fresh(fstype) if fstype == "tmpfs");
        Ok(MountPlan {
            idmap,
            field,
            kind,
            source,
            destination,
            flags,
            data: data.join(","),
            propagation,
            recursive_readonly,
            copy_up,
        })
    }
}

/// Is `fstype` a filesystem this kernel knows (listed in /proc/filesystems)?
fn filesystem_known(fstype: &str) -> bool {
    static FILESYSTEMS: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    match FILESYSTEMS.get_or_init(|| std::fs::read_to_string("/proc/filesystems").ok()) {
        Some(list) => list.lines().any(|line| line.split_whitespace().last() == Some(fstype)),
        // Without /proc we cannot tell; let mount(2) decide.
        None => true,
    }
}
