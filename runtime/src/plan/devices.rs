//! config.json `linux.devices` (the nodes made in the container's /dev) and the device
//! cgroup rules every container gets.

use super::SpecError;
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use std::path::{Component, Path, PathBuf};

/// The largest device major and minor numbers the kernel has (12 and 20 bits).
const MAJOR_MAX: i64 = (1 << 12) - 1;
const MINOR_MAX: i64 = (1 << 20) - 1;

/// `path` with `.` and `..` resolved lexically (`/dev/../etc/x` is `/etc/x`), as the kernel
/// would walk it; `..` at the root stays at the root.
fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::Normal(name) => out.push(name),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// A device node to create in the container's /dev.
#[derive(Debug, Clone)]
pub struct DevicePlan {
    /// Absolute path inside the container.
    pub path: PathBuf,
    /// S_IFCHR, S_IFBLK or S_IFIFO.
    pub kind: libc::mode_t,
    pub major: u64,
    pub minor: u64,
    /// Permission bits.
    pub mode: libc::mode_t,
    pub uid: u32,
    pub gid: u32,
}

/// The devices runc gives every container, whatever the config says.
const DEFAULT_DEVICES: [(&str, u64, u64); 6] =
    [("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7), ("/dev/random", 1, 8), ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0)];

pub(super) fn device_plans(devices: &[LinuxDevice]) -> Result<Vec<DevicePlan>, SpecError> {
    let mut plans: Vec<DevicePlan> = DEFAULT_DEVICES
        .iter()
        .map(|&(path, major, minor)| DevicePlan {
            path: path.into(),
            kind: libc::S_IFCHR,
            major,
            minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
        })
        .collect();
    for (i, dev) in devices.iter().enumerate() {
        let field = format!("linux.devices[{i}]");
        super::path_fits(&format!("{field}.path"), dev.path())?;
        let path = &clean(dev.path());
        if !dev.path().is_absolute() || !path.starts_with("/dev") || path == Path::new("/dev") {
            return Err(SpecError::invalid(format!("{field}.path"), format!("{:?} is not under /dev", dev.path())));
        }
        // The kernel's device numbers: 12 bits of major, 20 of minor; more would be truncated
        // into another device's number.
        for (name, number, max) in [("major", dev.major(), MAJOR_MAX), ("minor", dev.minor(), MINOR_MAX)] {
            if !(0..=max).contains(&number) {
                return Err(SpecError::invalid(format!("{field}.{name}"), format!("{number} is outside the kernel's range 0..={max}")));
            }
        }
        let kind = match dev.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
            LinuxDeviceType::B => libc::S_IFBLK,
            LinuxDeviceType::P => libc::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(SpecError::invalid(format!("{field}.type"), "\"a\" is only valid in cgroup device rules"))
            }
        };
        let plan = DevicePlan {
            path: path.clone(),
            kind,
            major: dev.major() as u64,
            minor: dev.minor() as u64,
            mode: dev.file_mode().unwrap_or(0o666) & 0o7777,
            uid: dev.uid().unwrap_or(0),
            gid: dev.gid().unwrap_or(0),
        };
        // A configured device replaces a default one at the same path.
        plans.retain(|p| p.path != plan.path);
        plans.push(plan);
    }
    Ok(plans)
}

/// Device cgroup rules every container gets after its own (runc's list): creating any node,
/// and using the default devices, the pty devices and /dev/net/tun.
const DEFAULT_DEVICE_RULES: &[(LinuxDeviceType, Option<i64>, Option<i64>, &str)] = &[
    (LinuxDeviceType::C, None, None, "m"),
    (LinuxDeviceType::B, None, None, "m"),
    (LinuxDeviceType::C, Some(1), Some(3), "rwm"),
    (LinuxDeviceType::C, Some(1), Some(5), "rwm"),
    (LinuxDeviceType::C, Some(1), Some(7), "rwm"),
    (LinuxDeviceType::C, Some(1), Some(8), "rwm"),
    (LinuxDeviceType::C, Some(1), Some(9), "rwm"),
    (LinuxDeviceType::C, Some(5), Some(0), "rwm"),
    (LinuxDeviceType::C, Some(5), Some(1), "rwm"),
    (LinuxDeviceType::C, Some(5), Some(2), "rwm"),
    (LinuxDeviceType::C, Some(136), None, "rwm"),
    (LinuxDeviceType::C, Some(10), Some(200), "rwm"),
];

/// The resources to give the cgroup driver: config.json's, with the device rules completed by
/// the defaults. As in runc, a node listed in linux.devices is created but not allowed by
/// that alone: the manager says which devices the container may use in resources.devices.
pub fn cgroup_resources(linux: &oci_spec::runtime::Linux) -> oci_spec::runtime::LinuxResources {
    use oci_spec::runtime::LinuxDeviceCgroup;
    let mut resources = linux.resources().clone().unwrap_or_default();
    let mut rules = resources.devices().clone().unwrap_or_default();
    let rule = |typ: LinuxDeviceType, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(true);
        r.set_typ(Some(typ));
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(Some(access.to_owned()));
        r
    };
    rules.extend(DEFAULT_DEVICE_RULES.iter().map(|&(typ, major, minor, access)| rule(typ, major, minor, access)));
    resources.set_devices(Some(rules));
    resources
}
