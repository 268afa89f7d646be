//! From config.json to a validated [`Plan`].
//!
//! All validation of the bundle happens here, in the caller's process, before anything is
//! created: a bad field is reported with its JSON path and nothing is left behind. The plan
//! holds resolved values (clone flags, mount flags, rlimit numbers, capability sets), so the
//! container's init only carries them out.

mod default;
mod devices;
mod document;
mod hooks;
pub mod lsm;
mod mounts;
mod namespaces;
mod process;
mod rootless;
pub mod seccomp;
mod sysctl;
mod userns;

pub use default::default_config;
pub use rootless::to_rootless;
pub use devices::{cgroup_resources, DevicePlan};
pub use hooks::Stage;
pub use mounts::{option_names as mount_option_names, MountKind, MountPlan, Propagation};
pub use namespaces::{Join, NamespacePlan};
pub use process::{CapsPlan, ProcessPlan, Rlimit};
pub use seccomp::SeccompPlan;
pub use userns::{IdMap, IdRange, IdmapSource, MountIdmap, UserPlan, ROOTFS_IDMAP_ANNOTATION};

use devices::device_plans;
use oci_spec::runtime::Spec;
use std::path::{Path, PathBuf};

/// Why a bundle cannot be run. Every message names the file, field or path at fault.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// config.json could not be opened.
    #[error("open {path}: {source}")]
    Open { path: PathBuf, source: std::io::Error },
    /// config.json is not valid JSON, or a field has the wrong shape.
    #[error("{path}: {field}: {message}")]
    Parse { path: PathBuf, field: String, message: String },
    /// A field is present and well-formed but its value cannot be used.
    #[error("config.json: {field}: {message}")]
    Invalid { field: String, message: String },
    /// linux.resources that no cgroup could take (a device rule's access string, say).
    #[error("config.json: {0}")]
    Resources(berth_cgroups::Error),
    /// root.path does not name a directory.
    #[error("config.json: root.path: rootfs {path} does not exist or is not a directory")]
    MissingRootfs { path: PathBuf },
}

impl SpecError {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        SpecError::Invalid { field: field.into(), message: message.into() }
    }
}

/// Read and parse `<bundle>/config.json`, naming the JSON path of any field that does not fit.
pub fn load(bundle: &Path) -> Result<Spec, SpecError> {
    let path = bundle.join("config.json");
    let bytes = std::fs::read(&path).map_err(|source| SpecError::Open { path: path.clone(), source })?;
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let spec = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let field = err.path().to_string();
        SpecError::Parse {
            path: path.clone(),
            field: if field == "." { "(document)".into() } else { crate::quote::escape_controls(&field).into_owned() },
            // serde quotes the offending value as it was written, control characters and all.
            message: crate::quote::escape_controls(&err.into_inner().to_string()).into_owned(),
        }
    })?;
    // What the typed spec cannot see (missing REQUIRED numbers, NUL bytes): from the same
    // bytes as plain JSON, which they parsed as already.
    let document: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|err| SpecError::Parse { path, field: "(document)".into(), message: err.to_string() })?;
    document::check(&document)?;
    Ok(spec)
}

/// Everything the runtime will do for one container, resolved and validated.
#[derive(Debug)]
pub struct Plan {
    /// Absolute path of the bundle directory.
    pub bundle: PathBuf,
    /// Absolute path of the root filesystem.
    pub rootfs: PathBuf,
    /// Remount the root read-only at the end of setup.
    pub rootfs_readonly: bool,
    /// Show the rootfs through the container's user namespace (berth's annotation).
    pub rootfs_idmap: Option<MountIdmap>,
    /// Propagation of the container's / (rootfsPropagation); rslave when unset, as runc.
    pub rootfs_propagation: Propagation,
    pub namespaces: NamespacePlan,
    /// The user namespace and its id mappings, when the container has one.
    pub user: Option<UserPlan>,
    pub mounts: Vec<MountPlan>,
    /// linux.devices plus the default devices every container gets.
    pub devices: Vec<DevicePlan>,
    /// The /dev mount asked for "ro": remount it read-only once the devices are made.
    pub dev_readonly: bool,
    pub masked_paths: Vec<PathBuf>,
    pub readonly_paths: Vec<PathBuf>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub sysctl: Vec<(String, String)>,
    pub process: ProcessPlan,
    /// config.json `hooks`, validated.
    pub hooks: Option<oci_spec::runtime::Hooks>,
}

impl Plan {
    /// Validate `spec` (loaded from `bundle`) and resolve it into a plan.
    pub fn new(spec: &Spec, bundle: &Path) -> Result<Plan, SpecError> {
        let bundle = std::path::absolute(bundle)
            .map_err(|e| SpecError::invalid("--bundle", format!("{}: {e}", bundle.display())))?;
        let root = spec.root().as_ref().ok_or_else(|| SpecError::invalid("root", "missing"))?;
        let rootfs = bundle.join(root.path());
        path_fits("root.path", &rootfs)?;
        if !rootfs.is_dir() {
            return Err(SpecError::MissingRootfs { path: rootfs });
        }
        let process = spec.process().as_ref().ok_or_else(|| SpecError::invalid("process", "missing"))?;
        let linux = spec.linux().clone().unwrap_or_default();
        if let Some(hooks) = spec.hooks() {
            hooks::validate(hooks)?;
        }
        let namespaces = NamespacePlan::new(&linux)?;
        if let Some(rules) = linux.resources().as_ref().and_then(|r| r.devices().as_ref()) {
            berth_cgroups::check_device_rules(rules).map_err(SpecError::Resources)?;
        }
        if linux.intel_rdt().is_some() {
            let resctrl = std::fs::read_to_string("/proc/filesystems").is_ok_and(|list| list.lines().any(|l| l.ends_with("\tresctrl")));
            let why = if resctrl { "berth does not support Intel RDT yet" } else { "Intel RDT is not supported on this host (no resctrl filesystem)" };
            return Err(SpecError::invalid("linux.intelRdt", why));
        }
        let user = UserPlan::new(&linux, namespaces.has(libc::CLONE_NEWUSER), !namespaces.has_new(libc::CLONE_NEWUSER))?;
        let hostname = spec.hostname().clone().filter(|h| !h.is_empty());
        name_fits("hostname", &hostname)?;
        name_fits("domainname", spec.domainname())?;
        if hostname.is_some() && !namespaces.has(libc::CLONE_NEWUTS) {
            return Err(SpecError::invalid("hostname", "setting the hostname needs a uts namespace of the container's own"));
        }
        let domainname = spec.domainname().clone().filter(|h| !h.is_empty());
        if domainname.is_some() && !namespaces.has(libc::CLONE_NEWUTS) {
            return Err(SpecError::invalid("domainname", "setting the domainname needs a uts namespace of the container's own"));
        }
        let mut mounts = match spec.mounts() {
            Some(list) => list
                .iter()
                .enumerate()
                .map(|(i, m)| MountPlan::new(i, m, &bundle))
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        // linux.mountLabel: the SELinux context of every filesystem mounted fresh (runc's
        // FormatMountLabel); binds keep their own.
        if let Some(label) = lsm::label("linux.mountLabel", linux.mount_label().as_ref(), false)? {
            for m in mounts.iter_mut().filter(|m| matches!(m.kind, MountKind::Fresh(_))) {
                let context = format!("context={label:?}");
                m.data = if m.data.is_empty() { context } else { format!("{},{context}", m.data) };
            }
        }
        // A read-only /dev is mounted writable, filled with the device nodes, and made
        // read-only at the end, as runc does.
        let mut dev_readonly = false;
        for m in mounts.iter_mut().filter(|m| m.destination == Path::new("/dev") && m.flags & libc::MS_RDONLY != 0) {
            m.flags &= !libc::MS_RDONLY;
            dev_readonly = true;
        }
        // Without a mount namespace of its own the mounts are made in the inherited or joined
        // one, under the rootfs, as runc makes them.
        let rootfs_idmap = userns::check_idmaps(spec.annotations().as_ref(), &mounts, user.as_ref())?;
        let rootfs_propagation = match linux.rootfs_propagation().as_deref() {
            None | Some("") => Propagation::RSlave,
            Some(name) => Propagation::parse(name)
                .ok_or_else(|| SpecError::invalid("linux.rootfsPropagation", format!("unknown propagation {name:?}")))?,
        };
        let sysctl = sysctl::plan(&linux.sysctl().clone().unwrap_or_default(), &namespaces, hostname.is_some())?;
        Ok(Plan {
            rootfs_readonly: root.readonly().unwrap_or(false),
            rootfs_idmap,
            rootfs_propagation,
            devices: device_plans(linux.devices().as_deref().unwrap_or_default())?,
            dev_readonly,
            masked_paths: container_paths("linux.maskedPaths", linux.masked_paths())?,
            readonly_paths: container_paths("linux.readonlyPaths", linux.readonly_paths())?,
            process: ProcessPlan::new(process)?.with_seccomp(&linux)?,
            namespaces,
            user,
            mounts,
            hostname,
            domainname,
            sysctl,
            hooks: spec.hooks().clone(),
            rootfs,
            bundle,
        })
    }
}

/// The kernel takes no path longer than PATH_MAX (4096 bytes with its NUL): refuse one in the
/// plan, naming the field, rather than carry a megabyte string into the init.
pub(crate) fn path_fits(field: &str, path: &Path) -> Result<(), SpecError> {
    const PATH_MAX: usize = 4096;
    let len = path.as_os_str().len();
    if len >= PATH_MAX {
        return Err(SpecError::invalid(field, format!("a path of {len} bytes is longer than the kernel's limit of {}", PATH_MAX - 1)));
    }
    Ok(())
}

/// The kernel's limit on a host or domain name (HOST_NAME_MAX).
const HOST_NAME_MAX: usize = 64;

fn name_fits(field: &str, name: &Option<String>) -> Result<(), SpecError> {
    match name {
        Some(name) if name.len() > HOST_NAME_MAX => {
            Err(SpecError::invalid(field, format!("{} bytes is longer than the kernel's limit of {HOST_NAME_MAX}", name.len())))
        }
        _ => Ok(()),
    }
}

fn container_paths(field: &str, paths: &Option<Vec<String>>) -> Result<Vec<PathBuf>, SpecError> {
    let mut out = Vec::new();
    for (i, p) in paths.iter().flatten().enumerate() {
        if !p.starts_with('/') {
            return Err(SpecError::invalid(format!("{field}[{i}]"), format!("{p:?} is not an absolute path")));
        }
        path_fits(&format!("{field}[{i}]"), Path::new(p))?;
        out.push(PathBuf::from(p));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
