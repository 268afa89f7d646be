//! config.json `process`: what the container's first process is and what it may do.

use super::SpecError;
use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::{Capabilities, PosixRlimitType, Process};
use std::path::PathBuf;

/// One resource limit, resolved to the kernel's RLIMIT_* number.
#[derive(Debug, Clone, Copy)]
pub struct Rlimit {
    pub resource: libc::c_int,
    pub soft: u64,
    pub hard: u64,
}

/// The five capability sets of the process; `None` leaves a set as inherited.
#[derive(Debug, Clone, Default)]
pub struct CapsPlan {
    pub bounding: CapsHashSet,
    pub effective: CapsHashSet,
    pub permitted: CapsHashSet,
    pub inheritable: CapsHashSet,
    pub ambient: CapsHashSet,
}

/// The validated `process` object.
#[derive(Debug, Clone)]
pub struct ProcessPlan {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub umask: Option<u32>,
    pub rlimits: Vec<Rlimit>,
    pub oom_score_adj: Option<i32>,
    pub no_new_privileges: bool,
    /// `None` when the config has no capabilities object: then every set is emptied, as runc.
    pub capabilities: CapsPlan,
    pub terminal: bool,
    /// linux.seccomp, compiled; it applies to the init and to every exec'd process.
    pub seccomp: Option<super::SeccompPlan>,
    /// process.apparmorProfile, on a host with AppArmor: the profile the program runs under.
    pub apparmor_profile: Option<String>,
    /// process.selinuxLabel, on a host with SELinux: the program's process label.
    pub selinux_label: Option<String>,
}

impl ProcessPlan {
    /// Validate `process`.
    pub fn new(process: &Process) -> Result<ProcessPlan, SpecError> {
        let args = process.args().clone().unwrap_or_default();
        if args.is_empty() || args[0].is_empty() {
            return Err(SpecError::invalid("process.args", "must name the program to run"));
        }
        if let Some(i) = args.iter().position(|a| a.contains('\0')) {
            return Err(SpecError::invalid(format!("process.args[{i}]"), "contains a NUL byte"));
        }
        let cwd = process.cwd().clone();
        super::path_fits("process.cwd", &cwd)?;
        if !cwd.is_absolute() {
            return Err(SpecError::invalid("process.cwd", format!("{cwd:?} is not an absolute path")));
        }
        let env = process.env().clone().unwrap_or_default();
        for (i, var) in env.iter().enumerate() {
            if !var.contains('=') || var.starts_with('=') || var.contains('\0') {
                return Err(SpecError::invalid(format!("process.env[{i}]"), format!("{var:?} is not NAME=value")));
            }
        }
        let mut rlimits = Vec::new();
        for (i, limit) in process.rlimits().iter().flatten().enumerate() {
            if limit.soft() > limit.hard() {
                return Err(SpecError::invalid(
                    format!("process.rlimits[{i}]"),
                    format!("soft limit {} is above hard limit {}", limit.soft(), limit.hard()),
                ));
            }
            rlimits.push(Rlimit { resource: rlimit_number(limit.typ()), soft: limit.soft(), hard: limit.hard() });
        }
        if let Some(adj) = process.oom_score_adj() {
            if !(-1000..=1000).contains(&adj) {
                return Err(SpecError::invalid("process.oomScoreAdj", format!("{adj} is outside -1000..1000")));
            }
        }
        let user = process.user();
        if let Some(umask) = user.umask() {
            if umask > 0o777 {
                return Err(SpecError::invalid("process.user.umask", format!("{umask:o} is not a permission mask")));
            }
        }
        let capabilities = match process.capabilities() {
            None => CapsPlan::default(),
            Some(c) => CapsPlan {
                bounding: cap_set("bounding", c.bounding()),
                effective: cap_set("effective", c.effective()),
                permitted: cap_set("permitted", c.permitted()),
                inheritable: cap_set("inheritable", c.inheritable()),
                ambient: cap_set("ambient", c.ambient()),
            },
        };
        capabilities.check()?;
        Ok(ProcessPlan {
            args,
            env,
            cwd,
            uid: user.uid(),
            gid: user.gid(),
            additional_gids: user.additional_gids().clone().unwrap_or_default(),
            umask: user.umask(),
            rlimits,
            oom_score_adj: process.oom_score_adj(),
            no_new_privileges: process.no_new_privileges().unwrap_or(false),
            capabilities,
            terminal: process.terminal().unwrap_or(false),
            seccomp: None,
            apparmor_profile: super::lsm::label("process.apparmorProfile", process.apparmor_profile().as_ref(), true)?,
            selinux_label: super::lsm::label("process.selinuxLabel", process.selinux_label().as_ref(), false)?,
        })
    }

    /// Attach the container's linux.seccomp profile, compiled.
    pub fn with_seccomp(mut self, linux: &oci_spec::runtime::Linux) -> Result<ProcessPlan, SpecError> {
        self.seccomp = linux.seccomp().as_ref().map(super::seccomp::compile).transpose()?;
        Ok(self)
    }

    /// The value of PATH in the process environment, or the default search path.
    pub fn search_path(&self) -> &str {
        self.env
            .iter()
            .rev()
            .find_map(|var| var.strip_prefix("PATH="))
            .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    }
}

impl CapsPlan {
    /// The set named `set`.
    pub fn get(&self, set: CapSet) -> &CapsHashSet {
        match set {
            CapSet::Bounding => &self.bounding,
            CapSet::Effective => &self.effective,
            CapSet::Permitted => &self.permitted,
            CapSet::Inheritable => &self.inheritable,
            CapSet::Ambient => &self.ambient,
        }
    }
}

/// The capabilities this kernel knows (found once per process, not once per set).
fn known_capabilities() -> &'static CapsHashSet {
    static KNOWN: std::sync::OnceLock<CapsHashSet> = std::sync::OnceLock::new();
    KNOWN.get_or_init(|| {
        let last = crate::sys::last_capability();
        caps::all().into_iter().filter(|cap| cap.index() <= last).collect()
    })
}

/// Map the spec's capability names onto the caps crate's. A name this kernel does not know
/// is left out, as runc does, and said so in the log (a name no kernel knows does not parse).
fn cap_set(set_name: &str, set: &Option<Capabilities>) -> CapsHashSet {
    let known = known_capabilities();
    let mut out = CapsHashSet::new();
    for cap in set.iter().flatten() {
        let name = serde_json::to_value(cap).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        match name.parse::<Capability>() {
            Ok(parsed) if known.contains(&parsed) => {
                out.insert(parsed);
            }
            _ => log::warn!("process.capabilities.{set_name}: {name:?} is not known to this kernel; left out"),
        }
    }
    out
}

/// The names of the capabilities of `set` that are not in `within`, sorted.
fn outside_of(set: &CapsHashSet, within: &CapsHashSet) -> Vec<String> {
    let mut extra: Vec<String> = set.difference(within).map(|c| c.to_string()).collect();
    extra.sort();
    extra
}

impl CapsPlan {
    /// Refuse sets the kernel would refuse late, at capset in the init: effective capabilities
    /// must be permitted, inheritable ones within the bounding set. An ambient capability that
    /// is not both permitted and inheritable is left out, as runc does (`runc spec` itself asks
    /// for ambient capabilities it does not make inheritable), and said so in the debug log.
    fn check(&self) -> Result<(), SpecError> {
        let raisable: CapsHashSet = self.permitted.intersection(&self.inheritable).copied().collect();
        let left_out = outside_of(&self.ambient, &raisable);
        if !left_out.is_empty() {
            log::debug!("process.capabilities.ambient: {} not both permitted and inheritable; left out", left_out.join(", "));
        }
        let rules = [("effective", &self.effective, "permitted", &self.permitted), ("inheritable", &self.inheritable, "bounding", &self.bounding)];
        for (set, caps, within_name, within) in rules {
            let extra = outside_of(caps, within);
            if !extra.is_empty() {
                return Err(SpecError::invalid(
                    format!("process.capabilities.{set}"),
                    format!("{} not in {within_name} (the kernel refuses that)", extra.join(", ")),
                ));
            }
        }
        Ok(())
    }
}

fn rlimit_number(typ: PosixRlimitType) -> libc::c_int {
    let number = match typ {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    };
    number as libc::c_int
}
