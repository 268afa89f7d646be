//! What the container's process may do: its user and groups, capabilities, resource limits,
//! no_new_privs. Applied by the init, in the order the kernel needs.

use crate::plan::{ProcessPlan, Rlimit, SeccompPlan};
use crate::procfs::{Files, ProcFs, ProcfsError};
use crate::sys;
use std::path::Path;
use caps::CapSet;
use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};

/// A failed security setting, naming the field of config.json and the syscall.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// The procfs handle for the labels could not be had.
    #[error(transparent)]
    Procfs(#[from] ProcfsError),
    /// An LSM label could not be written.
    #[error("{field}: {source}")]
    Label { field: &'static str, source: ProcfsError },
    /// A syscall on the process's credentials failed.
    #[error("{field}: {syscall}: {source}")]
    Syscall { field: &'static str, syscall: &'static str, source: std::io::Error },
    /// The caps crate refused a capability set.
    #[error("process.capabilities.{set}: {source}")]
    Caps { set: &'static str, source: caps::errors::CapsError },
}

fn syscall_error(field: &'static str, syscall: &'static str) -> impl FnOnce(nix::Error) -> SecurityError {
    move |e| SecurityError::Syscall { field, syscall, source: e.into() }
}

/// Apply process.rlimits.
pub fn apply_rlimits(limits: &[Rlimit]) -> Result<(), SecurityError> {
    for limit in limits {
        sys::set_rlimit(limit.resource, limit.soft, limit.hard)
            .map_err(|source| SecurityError::Syscall { field: "process.rlimits", syscall: "setrlimit", source })?;
    }
    Ok(())
}

/// Shrink the bounding set to what the config allows; needs CAP_SETPCAP, so it comes first.
pub fn limit_bounding_set(process: &ProcessPlan) -> Result<(), SecurityError> {
    let wanted = &process.capabilities.bounding;
    sys::drop_bounding(sys::last_capability(), |cap| wanted.iter().any(|c| c.index() == cap)).map_err(|source| {
        SecurityError::Syscall { field: "process.capabilities.bounding", syscall: "prctl(PR_CAPBSET_DROP)", source }
    })
}

/// Become process.user, keeping the permitted capabilities across the uid change so that
/// [`apply_capabilities`] can then set exactly the configured ones.
pub fn switch_user(process: &ProcessPlan) -> Result<(), SecurityError> {
    nix::sys::prctl::set_keepcaps(true).map_err(syscall_error("process.user", "prctl(PR_SET_KEEPCAPS)"))?;
    let groups: Vec<Gid> = process.additional_gids.iter().map(|&g| Gid::from_raw(g)).collect();
    match setgroups(&groups) {
        // A user namespace mapped by an unprivileged caller has setgroups denied (the kernel
        // requires it); with no groups asked for, the empty list we would set is moot.
        Err(nix::errno::Errno::EPERM) if groups.is_empty() && setgroups_denied() => {}
        other => other.map_err(syscall_error("process.user.additionalGids", "setgroups"))?,
    }
    let gid = Gid::from_raw(process.gid);
    setresgid(gid, gid, gid).map_err(syscall_error("process.user.gid", "setresgid"))?;
    let uid = Uid::from_raw(process.uid);
    setresuid(uid, uid, uid).map_err(syscall_error("process.user.uid", "setresuid"))?;
    nix::sys::prctl::set_keepcaps(false).map_err(syscall_error("process.user", "prctl(PR_SET_KEEPCAPS)"))
}

/// Is setgroups(2) denied in our user namespace (/proc/self/setgroups says "deny")?
fn setgroups_denied() -> bool {
    std::fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny")
}

/// Set the capability sets. Each capset must keep effective inside permitted and inheritable
/// inside inheritable+bounding, so the order is: inheritable and effective while the permitted
/// set is still full, then permitted, then ambient (which needs both permitted and inheritable).
pub fn apply_capabilities(process: &ProcessPlan) -> Result<(), SecurityError> {
    let c = &process.capabilities;
    // The kernel holds an ambient capability only while it is both permitted and inheritable;
    // like runc, raise those and leave the rest out rather than fail (`runc spec` lists ambient
    // capabilities without inheritable ones).
    let ambient: Vec<caps::Capability> =
        c.ambient.iter().filter(|cap| c.inheritable.contains(cap) && c.permitted.contains(cap)).copied().collect();
    let steps = [
        (CapSet::Inheritable, "inheritable", &c.inheritable),
        (CapSet::Effective, "effective", &c.effective),
        (CapSet::Permitted, "permitted", &c.permitted),
    ];
    for (which, name, value) in steps {
        caps::set(None, which, value).map_err(|source| SecurityError::Caps { set: name, source })?;
    }
    // One call to clear and one per raised capability (the caps crate spends one per
    // capability the kernel knows).
    sys::set_ambient(ambient.iter().map(|cap| cap.index()))
        .map_err(|source| SecurityError::Syscall { field: "process.capabilities.ambient", syscall: "prctl(PR_CAP_AMBIENT)", source })
}

/// process.noNewPrivileges: from here on, exec cannot gain privileges (setuid bits, file caps).
pub fn set_no_new_privs() -> Result<(), SecurityError> {
    nix::sys::prctl::set_no_new_privs().map_err(syscall_error("process.noNewPrivileges", "prctl(PR_SET_NO_NEW_PRIVS)"))
}

/// Install the compiled linux.seccomp filters on this process (they survive exec).
pub fn install_seccomp(plan: &SeccompPlan) -> Result<(), SecurityError> {
    for (i, program) in plan.programs.iter().enumerate() {
        let listener = plan.notify.as_ref().filter(|(index, _)| *index == i).map(|(_, listener)| listener);
        let flags = plan.flags | if listener.is_some() { libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32 } else { 0 };
        let notify_fd = sys::seccomp_set_filter(program, flags)
            .map_err(|source| SecurityError::Syscall { field: "linux.seccomp", syscall: "seccomp(SECCOMP_SET_MODE_FILTER)", source })?;
        if let (Some(listener), Some(fd)) = (listener, notify_fd) {
            send_to_listener(listener, fd)?;
        }
    }
    Ok(())
}

/// The container's state JSON ("creating"), for the seccomp listener; the init records it
/// when the parent sends it (with CgroupJoined).
static CONTAINER_STATE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Record the container's state for [`install_seccomp`]'s listener message.
pub fn remember_container_state(state: &str) {
    let _ = CONTAINER_STATE.set(state.to_owned());
}

/// Send the notify fd to the listener with runc's message: the container process state
/// (ociVersion, fds naming the fd, pid, metadata, state), over SCM_RIGHTS.
fn send_to_listener(listener: &crate::plan::seccomp::SeccompListener, fd: std::os::fd::OwnedFd) -> Result<(), SecurityError> {
    use std::os::fd::{AsFd, AsRawFd};
    let state: serde_json::Value = CONTAINER_STATE.get().and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default();
    let message = serde_json::json!({
        "ociVersion": "1.2.0",
        "fds": ["seccompFd"],
        "pid": state["pid"],
        "metadata": listener.metadata,
        "state": state,
    });
    sys::send_fds(listener.socket.as_fd(), message.to_string().as_bytes(), &[fd.as_raw_fd()])
        .map_err(|source| SecurityError::Syscall { field: "linux.seccomp.listenerPath", syscall: "sendmsg(SCM_RIGHTS) of the notify fd", source })
}

/// process.apparmorProfile and process.selinuxLabel: the labels the kernel gives the
/// program at its execve (the plan has checked that the host runs these modules). Written
/// through a verified procfs handle: a container mount over /proc/thread-self/attr would
/// otherwise swallow the label, or redirect the write (CVE-2019-16884).
pub fn set_exec_labels(process: &ProcessPlan) -> Result<(), SecurityError> {
    if process.apparmor_profile.is_none() && process.selinux_label.is_none() {
        return Ok(());
    }
    let procfs = ProcFs::open(Files::All)?;
    if let Some(profile) = &process.apparmor_profile {
        // Kernels with stacked LSMs have AppArmor's own directory; older ones only attr/exec.
        let own = Path::new("thread-self/attr/apparmor/exec");
        let path = if procfs.open_file(own, libc::O_PATH).is_ok() { own } else { Path::new("thread-self/attr/exec") };
        procfs.write(path, format!("exec {profile}").as_bytes()).map_err(|source| SecurityError::Label { field: "process.apparmorProfile", source })?;
    }
    if let Some(label) = &process.selinux_label {
        procfs.write(Path::new("thread-self/attr/exec"), label.as_bytes()).map_err(|source| SecurityError::Label { field: "process.selinuxLabel", source })?;
    }
    Ok(())
}
