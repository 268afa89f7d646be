//! config.json `linux.namespaces` and `linux.timeOffsets`: which namespaces to create and
//! which to join by path (opened now, so a bad path fails before anything is made).

use super::SpecError;
use nix::sched::CloneFlags;
use oci_spec::runtime::{Linux, LinuxNamespaceType};
use std::fs::File;
use std::path::PathBuf;

/// A namespace to join, opened while validating so a bad path fails early.
#[derive(Debug)]
pub struct Join {
    pub flag: CloneFlags,
    pub kind: &'static str,
    pub path: PathBuf,
    pub file: File,
}

/// The validated `linux.namespaces` and `linux.timeOffsets`.
#[derive(Debug)]
pub struct NamespacePlan {
    /// CLONE_NEW* flags of the namespaces to create (time excluded, see module docs).
    new: CloneFlags,
    /// Namespaces to join, in the order they are entered (mount last).
    pub joins: Vec<Join>,
    /// Create a time namespace with these lines for /proc/self/timens_offsets.
    pub time_offsets: Option<String>,
}

fn describe(typ: LinuxNamespaceType) -> (CloneFlags, &'static str) {
    match typ {
        LinuxNamespaceType::Mount => (CloneFlags::CLONE_NEWNS, "mount"),
        LinuxNamespaceType::Cgroup => (CloneFlags::CLONE_NEWCGROUP, "cgroup"),
        LinuxNamespaceType::Uts => (CloneFlags::CLONE_NEWUTS, "uts"),
        LinuxNamespaceType::Ipc => (CloneFlags::CLONE_NEWIPC, "ipc"),
        LinuxNamespaceType::User => (CloneFlags::CLONE_NEWUSER, "user"),
        LinuxNamespaceType::Pid => (CloneFlags::CLONE_NEWPID, "pid"),
        LinuxNamespaceType::Network => (CloneFlags::CLONE_NEWNET, "network"),
        LinuxNamespaceType::Time => (CloneFlags::from_bits_retain(libc::CLONE_NEWTIME), "time"),
    }
}

impl NamespacePlan {
    /// Validate the namespaces of `linux`.
    pub fn new(linux: &Linux) -> Result<NamespacePlan, SpecError> {
        let mut plan = NamespacePlan { new: CloneFlags::empty(), joins: Vec::new(), time_offsets: None };
        let mut seen = CloneFlags::empty();
        let mut new_time = false;
        for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
            let field = format!("linux.namespaces[{i}]");
            let (flag, kind) = describe(ns.typ());
            if seen.contains(flag) {
                return Err(SpecError::invalid(format!("{field}.type"), format!("{kind} namespace listed twice")));
            }
            seen |= flag;
            match ns.path() {
                Some(path) if !path.as_os_str().is_empty() => {
                    let file = File::open(path).map_err(|e| {
                        SpecError::invalid(format!("{field}.path"), format!("open {}: {e}", path.display()))
                    })?;
                    plan.joins.push(Join { flag, kind, path: path.clone(), file });
                }
                _ if ns.typ() == LinuxNamespaceType::Time => new_time = true,
                _ => plan.new |= flag,
            }
        }
        // Enter the mount namespace last: the others are found by path before it changes. The
        // user namespace is joined before all of them (see crate::userns for how).
        plan.joins.sort_by_key(|j| (j.flag != CloneFlags::CLONE_NEWUSER, j.flag == CloneFlags::CLONE_NEWNS));
        let offsets = linux.time_offsets().clone().unwrap_or_default();
        if !offsets.is_empty() && !new_time {
            return Err(SpecError::invalid("linux.timeOffsets", "needs a new time namespace"));
        }
        if new_time {
            let mut lines = String::new();
            for (clock, offset) in &offsets {
                if clock != "monotonic" && clock != "boottime" {
                    return Err(SpecError::invalid(
                        format!("linux.timeOffsets.{clock}"),
                        "only monotonic and boottime clocks can be offset",
                    ));
                }
                let nanos = offset.nanosecs().unwrap_or(0);
                if nanos >= 1_000_000_000 {
                    return Err(SpecError::invalid(format!("linux.timeOffsets.{clock}.nanosecs"), "must be below 1e9"));
                }
                lines.push_str(&format!("{clock} {} {nanos}\n", offset.secs().unwrap_or(0)));
            }
            plan.time_offsets = Some(lines);
        }
        Ok(plan)
    }

    /// Does the container get a new namespace of this CLONE_NEW* type?
    pub fn has_new(&self, flag: libc::c_int) -> bool {
        self.new.contains(CloneFlags::from_bits_retain(flag))
    }

    /// Does the container get a namespace of this CLONE_NEW* type, new or joined by path?
    pub fn has(&self, flag: libc::c_int) -> bool {
        let flag = CloneFlags::from_bits_retain(flag);
        self.new.contains(flag) || self.joins.iter().any(|j| j.flag == flag)
    }

    /// The flags for clone: every new namespace except cgroup, which the child unshares itself
    /// once it is inside its cgroup (the namespace's root is the cgroup it is created in),
    /// unless `in_cgroup_at_clone` says clone itself places it there.
    pub fn clone_flags(&self, in_cgroup_at_clone: bool) -> u64 {
        let mut flags = self.new;
        if !in_cgroup_at_clone {
            flags.remove(CloneFlags::CLONE_NEWCGROUP);
        }
        flags.bits() as u64
    }

    /// Must the child unshare its cgroup namespace itself (see [`Self::clone_flags`])?
    pub fn child_unshares_cgroup(&self, in_cgroup_at_clone: bool) -> bool {
        !in_cgroup_at_clone && self.new.contains(CloneFlags::CLONE_NEWCGROUP)
    }
}
