//! Where a container's cgroup goes: linux.cgroupsPath in its three forms.
//!
//! - Absolute (`/a/b`): that path from the root of every hierarchy.
//! - Relative (`a/b`) or unset: below the CALLER's own cgroup, per hierarchy (on v1 the
//!   memory cgroup may be `/process_api/x` while cpu is `/`). Unset means `<own>/<id>`,
//!   which is what runc does.
//! - systemd (`slice:prefix:name`, with `--systemd-cgroup`): when systemd is running (on a
//!   v2 host) systemd itself creates the unit over D-Bus (see `systemd`), at the path its
//!   slice and name give: the slice expands by its dashes (`a-b.slice` is
//!   `/a.slice/a-b.slice`, `-.slice` is the root, an empty slice is `system.slice`) and the
//!   unit is `prefix-name.scope` (`name.scope` with no prefix; a name ending in `.slice` is
//!   used as is). When systemd is not running, nobody manages that tree, so berth maps the
//!   same path below the CALLER's own cgroup, like a relative path
//!   (`<own>/system.slice/berth-<id>.scope`): the container stays inside the limits its
//!   caller runs under, and no slice appears at a hierarchy's root.

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// Where the container's cgroup lives, before it is mapped onto each hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CgroupPath {
    /// A path from the root of each hierarchy.
    Absolute(PathBuf),
    /// A path below the caller's own cgroup in each hierarchy.
    Nested(PathBuf),
}

impl CgroupPath {
    /// The cgroup path within a hierarchy in which the caller sits at `own`.
    pub fn in_hierarchy(&self, own: &Path) -> PathBuf {
        match self {
            CgroupPath::Absolute(p) => p.clone(),
            CgroupPath::Nested(p) => own.join(p),
        }
    }
}

/// The prefix berth gives its scopes when `--systemd-cgroup` is used without a cgroupsPath.
const SYSTEMD_DEFAULT_PREFIX: &str = "berth";

/// Turn linux.cgroupsPath (and --systemd-cgroup) into a [`CgroupPath`]. Without a running
/// systemd, the systemd form becomes its unit's path below the caller's own cgroup.
pub(crate) fn parse(cgroups_path: Option<&str>, systemd: bool, id: &str) -> Result<CgroupPath> {
    let given = cgroups_path.filter(|p| !p.is_empty());
    if systemd {
        let unit = systemd_unit(cgroups_path, id)?;
        let below = unit.path.strip_prefix("/").unwrap_or(&unit.path).to_owned();
        return Ok(CgroupPath::Nested(below));
    }
    match given {
        None => Ok(CgroupPath::Nested(clean(id, id)?)),
        Some(p) if p.starts_with('/') => Ok(CgroupPath::Absolute(Path::new("/").join(clean(p, p)?))),
        Some(p) => Ok(CgroupPath::Nested(clean(p, p)?)),
    }
}

/// Whether systemd is the running init (sd_booted's test).
pub(crate) fn systemd_running() -> bool {
    Path::new("/run/systemd/system").exists()
}

/// A systemd unit for the container, from `slice:prefix:name` (or the default form).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SystemdUnit {
    /// The slice the unit goes in ("system.slice", "-.slice" for the root).
    pub slice: String,
    /// The unit name ("berth-<id>.scope").
    pub unit: String,
    /// Its cgroup path from the root.
    pub path: PathBuf,
}

/// Parse the systemd form of linux.cgroupsPath; unset means `system.slice:berth:<id>`.
pub(crate) fn systemd_unit(cgroups_path: Option<&str>, id: &str) -> Result<SystemdUnit> {
    let spec = cgroups_path
        .filter(|p| !p.is_empty())
        .map_or_else(|| format!("system.slice:{SYSTEMD_DEFAULT_PREFIX}:{id}"), str::to_owned);
    let path = systemd_to_path(&spec)?;
    let (slice, _) = spec.split_once(':').unwrap_or(("", ""));
    let slice = if slice.is_empty() { "system.slice" } else { slice };
    let unit = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(SystemdUnit {
        slice: slice.to_owned(),
        unit,
        path,
    })
}

/// Normalise a path: drop empty and `.` components; refuse `..` and the root itself.
fn clean(path: &str, shown: &str) -> Result<PathBuf> {
    let bad = |reason| Error::BadPath {
        path: shown.to_owned(),
        reason,
    };
    if path.contains('\0') {
        return Err(bad("contains a NUL byte"));
    }
    let mut out = PathBuf::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(c) => out.push(c),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir => return Err(bad("must not contain '..'")),
            Component::Prefix(_) => return Err(bad("has a prefix component")),
        }
    }
    if out.as_os_str().is_empty() {
        return Err(bad("names the root cgroup itself"));
    }
    Ok(out)
}

/// Map `slice:prefix:name` onto the cgroupfs path systemd would use.
fn systemd_to_path(spec: &str) -> Result<PathBuf> {
    let bad = |reason| Error::BadPath {
        path: spec.to_owned(),
        reason,
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let [slice, prefix, name] = parts[..] else {
        return Err(bad("with --systemd-cgroup it must have the form slice:prefix:name"));
    };
    if name.is_empty() || name.contains('/') {
        return Err(bad("the systemd unit name must be non-empty and contain no '/'"));
    }
    if prefix.contains('/') {
        return Err(bad("the systemd prefix must contain no '/'"));
    }
    let slice = if slice.is_empty() { "system.slice" } else { slice };
    let mut path = Path::new("/").join(expand_slice(slice).ok_or_else(|| {
        bad("the slice must be a name ending in .slice, without '/', leading, trailing or doubled dashes")
    })?);
    let unit = if name.ends_with(".slice") {
        name.to_owned()
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    path.push(unit);
    Ok(path)
}

/// `a-b-c.slice` -> `a.slice/a-b.slice/a-b-c.slice`; `-.slice` -> the root (empty path).
fn expand_slice(slice: &str) -> Option<PathBuf> {
    let stem = slice.strip_suffix(".slice")?;
    if stem == "-" {
        return Some(PathBuf::new());
    }
    if stem.is_empty()
        || stem.contains('/')
        || stem.starts_with('-')
        || stem.ends_with('-')
        || stem.contains("--")
    {
        return None;
    }
    let mut path = PathBuf::new();
    let mut prefix = String::new();
    for part in stem.split('-') {
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        path.push(format!("{prefix}.slice"));
    }
    Some(path)
}

/// `exec --cgroup` values: `path` or (v1) `controller[,controller...]:path`, the path relative
/// to the container's cgroup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SubCgroup {
    /// The controllers it applies to; None for all.
    pub controllers: Option<Vec<String>>,
    /// The path below the container's cgroup.
    pub path: PathBuf,
}

impl SubCgroup {
    pub fn parse(spec: &str) -> Result<SubCgroup> {
        let bad = |reason: &str| Error::BadSubCgroup {
            spec: spec.to_owned(),
            reason: reason.to_owned(),
        };
        let (controllers, path) = match spec.split_once(':') {
            Some((list, path)) => {
                let list: Vec<String> = list.split(',').filter(|c| !c.is_empty()).map(str::to_owned).collect();
                (if list.is_empty() { None } else { Some(list) }, path)
            }
            None => (None, spec),
        };
        if path.starts_with('/') {
            return Err(bad("the path is relative to the container's cgroup"));
        }
        let path = clean(path, spec).map_err(|_| bad("the path must name a sub-cgroup, without '..'"))?;
        Ok(SubCgroup { controllers, path })
    }

    /// Whether it applies to a hierarchy carrying `controllers`.
    pub fn applies_to(&self, controllers: &[String]) -> bool {
        match &self.controllers {
            None => true,
            Some(list) => list.iter().any(|c| controllers.contains(c)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_sub_cgroups_parse_and_stay_inside() {
        let sub = SubCgroup::parse("memory,pids:a/b").unwrap();
        assert_eq!(sub.path, PathBuf::from("a/b"));
        assert!(sub.applies_to(&["pids".into()]));
        assert!(!sub.applies_to(&["cpu".into()]));
        assert!(SubCgroup::parse("x").unwrap().applies_to(&["cpu".into()]));
        for bad in ["../x", "/x", "", "memory:.."] {
            assert!(SubCgroup::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn unset_path_nests_the_id_under_the_callers_cgroup() {
        let p = parse(None, false, "web").unwrap();
        assert_eq!(p.in_hierarchy(Path::new("/process_api/x")), PathBuf::from("/process_api/x/web"));
    }

    #[test]
    fn relative_path_nests_and_absolute_does_not() {
        let rel = parse(Some("pods/./a"), false, "id").unwrap();
        assert_eq!(rel.in_hierarchy(Path::new("/me")), PathBuf::from("/me/pods/a"));
        let abs = parse(Some("//pods/a/"), false, "id").unwrap();
        assert_eq!(abs.in_hierarchy(Path::new("/me")), PathBuf::from("/pods/a"));
    }

    #[test]
    fn dotdot_and_root_are_refused() {
        assert!(matches!(parse(Some("a/../../b"), false, "id"), Err(Error::BadPath { .. })));
        assert!(matches!(parse(Some("/"), false, "id"), Err(Error::BadPath { .. })));
        assert!(matches!(parse(None, false, ".."), Err(Error::BadPath { .. })));
    }

    #[test]
    fn systemd_form_maps_onto_the_units_cgroupfs_path() {
        assert_eq!(
            systemd_to_path("machine-pod-a.slice:berth:c1").unwrap(),
            PathBuf::from("/machine.slice/machine-pod.slice/machine-pod-a.slice/berth-c1.scope")
        );
        assert_eq!(systemd_to_path(":runc:x").unwrap(), PathBuf::from("/system.slice/runc-x.scope"));
        assert_eq!(systemd_to_path("-.slice::x").unwrap(), PathBuf::from("/x.scope"));
        assert_eq!(
            systemd_to_path("user.slice:p:sub.slice").unwrap(),
            PathBuf::from("/user.slice/sub.slice")
        );
    }

    #[test]
    fn the_systemd_unit_names_its_slice_and_scope() {
        let unit = systemd_unit(Some("machine.slice:berth:c1"), "c1").unwrap();
        assert_eq!(unit.slice, "machine.slice");
        assert_eq!(unit.unit, "berth-c1.scope");
        let default = systemd_unit(None, "c2").unwrap();
        assert_eq!(default.slice, "system.slice");
        assert_eq!(default.path, PathBuf::from("/system.slice/berth-c2.scope"));
    }

    #[test]
    fn malformed_systemd_forms_are_refused() {
        for spec in ["a:b", "nodot:p:n", "a--b.slice:p:n", "-a.slice:p:n", "a/b.slice:p:n", "x.slice:p:", "x.slice:p:a/b"] {
            assert!(systemd_to_path(spec).is_err(), "{spec} accepted");
        }
    }
}
