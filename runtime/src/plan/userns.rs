//! config.json `linux.uidMappings` / `linux.gidMappings` and `mounts[].uidMappings` /
//! `gidMappings`: id mappings, checked the way the kernel will check them when they are
//! written to /proc/PID/uid_map, so a bad range is refused with its field before anything runs.

use super::SpecError;
use oci_spec::runtime::LinuxIdMapping;

/// The kernel accepts at most this many lines in one uid_map or gid_map (since Linux 4.15).
const MAX_LINES: usize = 340;

/// One line of a uid_map or gid_map: `size` ids from `container` inside map to `host` outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    pub container: u32,
    pub host: u32,
    pub size: u32,
}

/// A validated uid or gid mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdMap(pub Vec<IdRange>);

impl IdMap {
    /// Validate `ranges` (config.json field `field`): non-empty sizes, no range running past
    /// 2^32, no two ranges overlapping inside or outside, at most 340 lines.
    pub fn new(field: &str, ranges: &[LinuxIdMapping]) -> Result<IdMap, SpecError> {
        if ranges.len() > MAX_LINES {
            return Err(SpecError::invalid(field, format!("{} ranges; the kernel takes at most {MAX_LINES}", ranges.len())));
        }
        let mut out: Vec<IdRange> = Vec::with_capacity(ranges.len());
        for (i, r) in ranges.iter().enumerate() {
            let range = IdRange { container: r.container_id(), host: r.host_id(), size: r.size() };
            let at = format!("{field}[{i}]");
            if range.size == 0 {
                return Err(SpecError::invalid(format!("{at}.size"), "must be at least 1"));
            }
            if u64::from(range.container) + u64::from(range.size) > 1 << 32 {
                return Err(SpecError::invalid(format!("{at}.containerID"), "the range runs past the last id (4294967295)"));
            }
            if u64::from(range.host) + u64::from(range.size) > 1 << 32 {
                return Err(SpecError::invalid(format!("{at}.hostID"), "the range runs past the last id (4294967295)"));
            }
            for (j, other) in out.iter().enumerate() {
                let overlaps = |a: u32, b: u32| {
                    let (a, b, sa, sb) = (u64::from(a), u64::from(b), u64::from(range.size), u64::from(other.size));
                    a < b + sb && b < a + sa
                };
                if overlaps(range.container, other.container) {
                    return Err(SpecError::invalid(format!("{at}.containerID"), format!("overlaps {field}[{j}]")));
                }
                if overlaps(range.host, other.host) {
                    return Err(SpecError::invalid(format!("{at}.hostID"), format!("overlaps {field}[{j}]")));
                }
            }
            out.push(range);
        }
        Ok(IdMap(out))
    }

    /// The text the kernel expects in /proc/PID/{uid,gid}_map.
    pub fn to_proc_format(&self) -> String {
        self.0.iter().map(|r| format!("{} {} {}\n", r.container, r.host, r.size)).collect()
    }

    /// The host id that container id `id` maps to, if it is mapped.
    pub fn to_host(&self, id: u32) -> Option<u32> {
        self.0.iter().find(|r| id >= r.container && id - r.container < r.size).map(|r| r.host + (id - r.container))
    }

    /// Does this map only `host_id` (one line of size 1)? An unprivileged caller may write
    /// such a map of its own id itself; anything more needs newuidmap/newgidmap.
    pub fn is_single(&self, host_id: u32) -> bool {
        matches!(self.0.as_slice(), [r] if r.size == 1 && r.host == host_id)
    }

    /// The mapping as newuidmap/newgidmap take it on their command line.
    pub fn to_args(&self) -> Vec<String> {
        self.0.iter().flat_map(|r| [r.container.to_string(), r.host.to_string(), r.size.to_string()]).collect()
    }
}

/// The container's user namespace, new or joined by path (the join itself is in
/// [`super::NamespacePlan::joins`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPlan {
    /// True when the user namespace is joined by path rather than made.
    pub joined: bool,
    /// For a new namespace, the maps to write; for a joined one, what it must already map
    /// (checked once joined), or empty when config.json gives none.
    pub uid_map: IdMap,
    pub gid_map: IdMap,
}

impl UserPlan {
    /// Validate the mappings against the namespaces: a new user namespace needs both maps,
    /// and maps need a user namespace.
    pub fn new(linux: &oci_spec::runtime::Linux, has_user: bool, joined: bool) -> Result<Option<UserPlan>, SpecError> {
        let uid_map = IdMap::new("linux.uidMappings", linux.uid_mappings().as_deref().unwrap_or_default())?;
        let gid_map = IdMap::new("linux.gidMappings", linux.gid_mappings().as_deref().unwrap_or_default())?;
        if !has_user {
            if !uid_map.0.is_empty() {
                return Err(SpecError::invalid("linux.uidMappings", "given without a user namespace in linux.namespaces"));
            }
            if !gid_map.0.is_empty() {
                return Err(SpecError::invalid("linux.gidMappings", "given without a user namespace in linux.namespaces"));
            }
            return Ok(None);
        }
        if !joined {
            if uid_map.0.is_empty() {
                return Err(SpecError::invalid("linux.uidMappings", "a new user namespace needs uid mappings"));
            }
            if gid_map.0.is_empty() {
                return Err(SpecError::invalid("linux.gidMappings", "a new user namespace needs gid mappings"));
            }
        }
        Ok(Some(UserPlan { joined, uid_map, gid_map }))
    }
}

/// Whose ids an idmapped mount shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdmapSource {
    /// mounts[].uidMappings / gidMappings: on-disk id `containerID` shows as `hostID`.
    Maps { uid_map: IdMap, gid_map: IdMap },
    /// "idmap" / "ridmap" without mappings: the container's own user namespace (its maps
    /// when new, the namespace itself when joined), so files owned by on-disk id N show as
    /// the container's N.
    ContainerNamespace,
}

/// An idmapped bind mount (or rootfs), made by the parent with mount_setattr(MOUNT_ATTR_IDMAP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountIdmap {
    pub source: IdmapSource,
    /// "ridmap": every mount of the tree is idmapped, not only its top (rbind).
    pub recursive: bool,
}

impl MountIdmap {
    /// The idmap of `mounts[i]` (`field`), given its option ("idmap" = false, "ridmap" = true).
    pub fn new(field: &str, mount: &oci_spec::runtime::Mount, option: Option<bool>) -> Result<Option<MountIdmap>, SpecError> {
        let uids = mount.uid_mappings().as_deref().unwrap_or_default();
        let gids = mount.gid_mappings().as_deref().unwrap_or_default();
        let source = match (uids.is_empty(), gids.is_empty()) {
            (true, true) if option.is_none() => return Ok(None),
            (true, true) => IdmapSource::ContainerNamespace,
            (false, false) => IdmapSource::Maps {
                uid_map: IdMap::new(&format!("{field}.uidMappings"), uids)?,
                gid_map: IdMap::new(&format!("{field}.gidMappings"), gids)?,
            },
            (true, false) => return Err(SpecError::invalid(format!("{field}.uidMappings"), "gidMappings given without uidMappings")),
            (false, true) => return Err(SpecError::invalid(format!("{field}.gidMappings"), "uidMappings given without gidMappings")),
        };
        Ok(Some(MountIdmap { source, recursive: option.unwrap_or(false) }))
    }
}

/// berth's annotation for an idmapped rootfs: "idmap" or "ridmap" (the rootfs tree shown
/// through the container's user namespace, so a rootfs owned by on-disk root serves a
/// container whose root is an unprivileged host id, without a chown).
pub const ROOTFS_IDMAP_ANNOTATION: &str = "org.berth.rootfs.idmap";

/// The rootfs idmap the annotations ask for, checked against the user namespace; and each
/// mount's implied ("idmap" without mappings) idmap checked likewise.
pub fn check_idmaps(
    annotations: Option<&std::collections::HashMap<String, String>>,
    mounts: &[super::MountPlan],
    user: Option<&UserPlan>,
) -> Result<Option<MountIdmap>, SpecError> {
    for m in mounts {
        if m.idmap.as_ref().is_some_and(|i| i.source == IdmapSource::ContainerNamespace) && user.is_none() {
            return Err(SpecError::invalid(format!("{}.options", m.field), "idmap without uidMappings uses the container's user namespace, and there is none"));
        }
    }
    let field = format!("annotations.{ROOTFS_IDMAP_ANNOTATION}");
    let recursive = match annotations.and_then(|a| a.get(ROOTFS_IDMAP_ANNOTATION)).map(String::as_str) {
        None => return Ok(None),
        Some("idmap") => false,
        Some("ridmap") => true,
        Some(other) => return Err(SpecError::invalid(field, format!("{other:?} is neither \"idmap\" nor \"ridmap\""))),
    };
    if user.is_none() {
        return Err(SpecError::invalid(field, "an idmapped rootfs needs a user namespace"));
    }
    Ok(Some(MountIdmap { source: IdmapSource::ContainerNamespace, recursive }))
}
