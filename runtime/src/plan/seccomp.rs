//! linux.seccomp: the OCI profile compiled to BPF (with seccompiler) in the caller's process,
//! installed by the init just before it execs.
//!
//! seccompiler builds filters with one match action each, while an OCI profile gives every
//! syscall group its own action. The kernel runs every installed filter and keeps the most
//! restrictive answer, so the profile becomes a stack of filters:
//!
//! - a base filter: every syscall the profile names (with its argument conditions) is
//!   allowed, anything else gets `defaultAction`;
//! - one filter per other action: the syscalls of that action's groups get it, anything else
//!   is allowed (and so left to the other filters).
//!
//! This is exact unless one syscall is listed under two different actions, where the kernel's
//! precedence (kill > trap > errno > trace > log > allow) picks instead of list order.

use super::SpecError;
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator};
use seccompiler::{BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch};
use std::collections::BTreeMap;
use std::str::FromStr;

/// The compiled profile: BPF programs to install in order, and the seccomp(2) flags.
#[derive(Debug, Clone)]
pub struct SeccompPlan {
    pub programs: Vec<BpfProgram>,
    pub flags: u32,
    /// The program whose SCMP_ACT_NOTIFY syscalls go to the listener, and the listener.
    pub notify: Option<(usize, SeccompListener)>,
}

/// linux.seccomp.listenerPath, connected while validating (so an agent that is not there
/// fails before anything is made), and listenerMetadata. The init sends it the notify fd
/// with the container's state over SCM_RIGHTS, as runc does.
#[derive(Debug, Clone)]
pub struct SeccompListener {
    pub path: std::path::PathBuf,
    pub metadata: String,
    pub socket: std::sync::Arc<std::os::fd::OwnedFd>,
}

/// seccompiler has no user-notification action: NOTIFY groups are compiled as ERRNO with this
/// value, and their return instructions rewritten to SECCOMP_RET_USER_NOTIF afterwards.
const NOTIFY_STAND_IN: u32 = 4095;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
const SECCOMP_RET_USER_NOTIF: u32 = 0x7fc0_0000;

type Rules = BTreeMap<i64, Vec<SeccompRule>>;

/// The actions [`compile`] accepts (`berth features` lists them).
pub const ACTIONS: &[&str] = &[
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
];

/// The argument operators [`compile`] accepts (all of the runtime-spec's).
pub const OPERATORS: &[&str] =
    &["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"];

/// The filter flags [`compile`] accepts; the runtime-spec knows one more it refuses.
pub const SUPPORTED_FLAGS: &[&str] = &["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"];
pub const KNOWN_FLAGS: &[&str] =
    &["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"];

/// The one architecture the filters are compiled for.
pub const ARCHITECTURES: &[&str] = &["SCMP_ARCH_X86_64"];

fn invalid(field: String, message: impl Into<String>) -> SpecError {
    SpecError::invalid(field, message)
}

/// Compile linux.seccomp for this machine (x86_64).
pub fn compile(profile: &LinuxSeccomp) -> Result<SeccompPlan, SpecError> {
    if profile.default_action() == LinuxSeccompAction::ScmpActNotify {
        return Err(invalid("linux.seccomp.defaultAction".into(), "SCMP_ACT_NOTIFY cannot be the default action (berth itself would stop at its next syscall)"));
    }
    let default = action(profile.default_action(), profile.default_errno_ret(), "linux.seccomp.defaultAction")?;
    let mut base: Rules = BTreeMap::new();
    let mut by_action: Vec<(SeccompAction, Rules)> = Vec::new();
    for (i, group) in profile.syscalls().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.syscalls[{i}]");
        let act = action(group.action(), group.errno_ret(), &format!("{field}.action"))?;
        let rule = conditions(group.args().as_deref().unwrap_or_default(), &field)?;
        for name in group.names() {
            // Profiles list syscalls of other architectures and kernels; like runc, skip them.
            let Ok(nr) = syscalls::Sysno::from_str(name) else { continue };
            let nr = nr.id() as i64;
            add(&mut base, nr, rule.clone());
            if act != SeccompAction::Allow {
                let index = match by_action.iter().position(|(a, _)| *a == act) {
                    Some(index) => index,
                    None => {
                        by_action.push((act.clone(), BTreeMap::new()));
                        by_action.len() - 1
                    }
                };
                add(&mut by_action[index].1, nr, rule.clone());
            }
        }
    }
    // The base filter goes in last: once it is in place, seccomp(2) itself is usually refused.
    let mut programs = Vec::new();
    let mut notify_program = None;
    for (act, rules) in by_action {
        let mut program = build(rules, SeccompAction::Allow, act.clone())?;
        if act == SeccompAction::Errno(NOTIFY_STAND_IN) {
            for instruction in program.iter_mut().filter(|i| i.code == 0x06 && i.k == SECCOMP_RET_ERRNO | NOTIFY_STAND_IN) {
                instruction.k = SECCOMP_RET_USER_NOTIF;
            }
            notify_program = Some(programs.len());
        }
        programs.push(program);
    }
    if default != SeccompAction::Allow {
        programs.push(build(base, default, SeccompAction::Allow)?);
    }
    let mut flags = 0;
    for flag in profile.flags().iter().flatten() {
        flags |= match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            // berth's init is single-threaded: there are no other threads to synchronise.
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => 0,
            other => return Err(invalid("linux.seccomp.flags".into(), format!("{other} is not supported"))),
        } as u32;
    }
    let notify = match notify_program {
        Some(index) => Some((index, listener(profile)?)),
        None => None,
    };
    Ok(SeccompPlan { programs, flags, notify })
}

/// The listener a profile with SCMP_ACT_NOTIFY needs, connected.
fn listener(profile: &LinuxSeccomp) -> Result<SeccompListener, SpecError> {
    let field = "linux.seccomp.listenerPath";
    let Some(path) = profile.listener_path().clone().filter(|p| !p.as_os_str().is_empty()) else {
        return Err(invalid(field.into(), "SCMP_ACT_NOTIFY in linux.seccomp needs a listenerPath to send the notify fd to"));
    };
    if !path.is_absolute() {
        return Err(invalid(field.into(), format!("{} is not an absolute path", path.display())));
    }
    let stream = std::os::unix::net::UnixStream::connect(&path)
        .map_err(|e| invalid(field.into(), format!("connect {}: {e}", path.display())))?;
    let metadata = profile.listener_metadata().clone().unwrap_or_default();
    Ok(SeccompListener { path, metadata, socket: std::sync::Arc::new(stream.into()) })
}

/// Add `rule` for syscall `nr`. In seccompiler an empty rule list matches the syscall
/// unconditionally, so an unconditional entry (`None`) absorbs any conditional ones.
fn add(rules: &mut Rules, nr: i64, rule: Option<SeccompRule>) {
    match (rules.get_mut(&nr), rule) {
        (None, None) => {
            rules.insert(nr, Vec::new());
        }
        (None, Some(rule)) => {
            rules.insert(nr, vec![rule]);
        }
        (Some(list), None) => list.clear(),
        (Some(list), Some(_)) if list.is_empty() => {}
        (Some(list), Some(rule)) => list.push(rule),
    }
}

fn build(rules: Rules, mismatch: SeccompAction, matched: SeccompAction) -> Result<BpfProgram, SpecError> {
    let filter = SeccompFilter::new(rules, mismatch, matched, TargetArch::x86_64)
        .map_err(|e| invalid("linux.seccomp".into(), e.to_string()))?;
    filter.try_into().map_err(|e: seccompiler::BackendError| invalid("linux.seccomp".into(), e.to_string()))
}

fn action(act: LinuxSeccompAction, errno: Option<u32>, field: &str) -> Result<SeccompAction, SpecError> {
    Ok(match act {
        LinuxSeccompAction::ScmpActAllow => SeccompAction::Allow,
        LinuxSeccompAction::ScmpActErrno if errno == Some(NOTIFY_STAND_IN) => {
            return Err(invalid(format!("{field}Ret"), format!("errno {NOTIFY_STAND_IN} is reserved by berth for SCMP_ACT_NOTIFY")))
        }
        LinuxSeccompAction::ScmpActErrno => SeccompAction::Errno(errno.unwrap_or(libc::EPERM as u32)),
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => SeccompAction::KillThread,
        LinuxSeccompAction::ScmpActKillProcess => SeccompAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => SeccompAction::Trap,
        LinuxSeccompAction::ScmpActTrace => SeccompAction::Trace(errno.unwrap_or(libc::EPERM as u32)),
        LinuxSeccompAction::ScmpActLog => SeccompAction::Log,
        LinuxSeccompAction::ScmpActNotify => SeccompAction::Errno(NOTIFY_STAND_IN),
    })
}

/// The argument conditions of one group (all must hold), or None when it has none.
fn conditions(args: &[oci_spec::runtime::LinuxSeccompArg], field: &str) -> Result<Option<SeccompRule>, SpecError> {
    if args.is_empty() {
        return Ok(None);
    }
    let mut list = Vec::new();
    for (j, arg) in args.iter().enumerate() {
        let arg_field = format!("{field}.args[{j}]");
        let (op, value) = match arg.op() {
            LinuxSeccompOperator::ScmpCmpNe => (SeccompCmpOp::Ne, arg.value()),
            LinuxSeccompOperator::ScmpCmpLt => (SeccompCmpOp::Lt, arg.value()),
            LinuxSeccompOperator::ScmpCmpLe => (SeccompCmpOp::Le, arg.value()),
            LinuxSeccompOperator::ScmpCmpEq => (SeccompCmpOp::Eq, arg.value()),
            LinuxSeccompOperator::ScmpCmpGe => (SeccompCmpOp::Ge, arg.value()),
            LinuxSeccompOperator::ScmpCmpGt => (SeccompCmpOp::Gt, arg.value()),
            // (arg & value) == valueTwo
            LinuxSeccompOperator::ScmpCmpMaskedEq => (SeccompCmpOp::MaskedEq(arg.value()), arg.value_two().unwrap_or(0)),
        };
        let index = u8::try_from(arg.index()).map_err(|_| invalid(format!("{arg_field}.index"), "must be 0..5"))?;
        let condition = SeccompCondition::new(index, SeccompCmpArgLen::Qword, op, value)
            .map_err(|e| invalid(arg_field.clone(), e.to_string()))?;
        list.push(condition);
    }
    SeccompRule::new(list).map(Some).map_err(|e| invalid(field.to_owned(), e.to_string()))
}
