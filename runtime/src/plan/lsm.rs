//! AppArmor and SELinux settings: `process.apparmorProfile`, `process.selinuxLabel` and
//! `linux.mountLabel`. Each is used where the host runs that security module and refused
//! with the field named where it does not: a label silently dropped would run the container
//! without the confinement its manager asked for.

use super::SpecError;

/// Where the kernel says whether AppArmor is on (runc checks the same two files).
const APPARMOR_ENABLED: &str = "/sys/module/apparmor/parameters/enabled";
const APPARMOR_FS: &str = "/sys/kernel/security/apparmor";
/// selinuxfs, mounted where the SELinux tools and runc look for it.
const SELINUX_FS: &str = "/sys/fs/selinux/enforce";

/// Is AppArmor enabled on this host?
pub fn apparmor_enabled() -> bool {
    std::path::Path::new(APPARMOR_FS).exists()
        && std::fs::read(APPARMOR_ENABLED).is_ok_and(|flag| flag.first() == Some(&b'Y'))
}

/// Is SELinux enabled on this host (selinuxfs mounted)?
pub fn selinux_enabled() -> bool {
    std::path::Path::new(SELINUX_FS).exists()
}

/// An AppArmor profile or SELinux label to use, checked against the host.
pub(super) fn label(field: &str, value: Option<&String>, apparmor: bool) -> Result<Option<String>, SpecError> {
    let Some(value) = value.filter(|v| !v.is_empty()) else { return Ok(None) };
    if value.contains('\0') || value.contains('\n') {
        return Err(SpecError::invalid(field, format!("{value:?} is not a valid label")));
    }
    let (enabled, module, witness) =
        if apparmor { (apparmor_enabled(), "AppArmor", APPARMOR_ENABLED) } else { (selinux_enabled(), "SELinux", SELINUX_FS) };
    if !enabled {
        return Err(SpecError::invalid(field, format!("{value:?} needs {module}, which is not enabled on this host (see {witness})")));
    }
    Ok(Some(value.clone()))
}
