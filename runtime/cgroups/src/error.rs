//! The crate's error type: every message names the cgroup file (or syscall) and the
//! `linux.resources` field that led to it, so a refused limit is easy to trace.

use std::path::PathBuf;

/// Everything that can go wrong while resolving, creating, configuring or removing cgroups.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading /proc/self/mountinfo or /proc/self/cgroup failed.
    #[error("cgroup: read {path}: {source}")]
    ReadProc {
        /// The proc file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// No cgroup filesystem is mounted at all.
    #[error("cgroup: no cgroup or cgroup2 filesystem is mounted (checked /proc/self/mountinfo)")]
    NoCgroupFs,
    /// The caller's own cgroup is not listed for a mounted hierarchy.
    #[error("cgroup: /proc/self/cgroup has no entry for the hierarchy mounted at {mountpoint}")]
    OwnCgroupUnknown {
        /// Where the hierarchy is mounted.
        mountpoint: PathBuf,
    },
    /// linux.cgroupsPath is not acceptable.
    #[error("cgroup: linux.cgroupsPath {path:?}: {reason}")]
    BadPath {
        /// The path as given.
        path: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// `exec --cgroup` named an unusable sub-cgroup.
    #[error("cgroup: exec --cgroup {spec:?}: {reason}")]
    BadSubCgroup {
        /// The value given.
        spec: String,
        /// Why it was refused.
        reason: String,
    },
    /// systemd runs, but this host's cgroups are not pure v2 (berth's systemd driver is v2 only).
    #[error("cgroup: --systemd-cgroup: systemd is running but the cgroup layout is {layout:?}; berth's systemd driver needs cgroup v2")]
    SystemdNeedsV2 {
        /// The layout found.
        layout: crate::Layout,
    },
    /// Talking to systemd failed.
    #[error("cgroup: --systemd-cgroup unit {unit}: {source}")]
    Systemd {
        /// The unit.
        unit: String,
        /// What went wrong.
        source: crate::systemd::dbus::DbusError,
    },
    /// mkdir of a cgroup directory failed.
    #[error("cgroup: mkdir {path}: {source}")]
    Mkdir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// rmdir of a cgroup directory failed (after retries).
    #[error("cgroup: rmdir {path}: {source}")]
    Rmdir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A write to a cgroup file was refused by the kernel.
    #[error("cgroup: write {path} = {value:?}: {source} ({field})")]
    Write {
        /// The cgroup file.
        path: PathBuf,
        /// What was written.
        value: String,
        /// The config field (or operation) that asked for it.
        field: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// A read of a cgroup file failed.
    #[error("cgroup: read {path}: {source}")]
    Read {
        /// The cgroup file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A cgroup file held something that is not in the expected format.
    #[error("cgroup: parse {path}: unexpected content {content:?}")]
    Parse {
        /// The cgroup file.
        path: PathBuf,
        /// The offending text.
        content: String,
    },
    /// The resource asks for a controller this host does not provide to the container's cgroup.
    #[error("cgroup: {field}: the {controller} controller is not available here ({detail})")]
    MissingController {
        /// The config field that needs it.
        field: &'static str,
        /// The controller name.
        controller: &'static str,
        /// Where we looked.
        detail: String,
    },
    /// The resource has no equivalent on this cgroup version.
    #[error("cgroup: {field}: not supported on cgroup {version} ({reason})")]
    Unsupported {
        /// The config field.
        field: &'static str,
        /// "v1" or "v2".
        version: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// A value in linux.resources is invalid by itself.
    #[error("cgroup: {field}: {reason}")]
    InvalidValue {
        /// The config field.
        field: String,
        /// Why it was refused.
        reason: String,
    },
    /// A key of linux.resources.unified is not acceptable.
    #[error("cgroup: linux.resources.unified key {key:?}: {reason}")]
    BadUnifiedKey {
        /// The key.
        key: String,
        /// Why.
        reason: &'static str,
    },
    /// Freezing or thawing did not settle in time.
    #[error("cgroup: {path} did not reach state {wanted} within {millis} ms")]
    FreezeTimeout {
        /// The freezer file.
        path: PathBuf,
        /// The wanted state.
        wanted: &'static str,
        /// How long we waited.
        millis: u64,
    },
    /// The cgroup was not created by this manager, so it has no directory to act on.
    #[error("cgroup: {operation}: the cgroup has no directory for hierarchy {hierarchy}")]
    NoDirectory {
        /// What was attempted.
        operation: &'static str,
        /// Which hierarchy.
        hierarchy: String,
    },
    /// A syscall behind the sys module failed.
    #[error("cgroup: {syscall}({target}): {source}")]
    Syscall {
        /// The syscall (and command, e.g. "bpf(BPF_PROG_LOAD)").
        syscall: &'static str,
        /// What it acted on.
        target: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The kernel's verifier refused the device program.
    #[error("cgroup: bpf(BPF_PROG_LOAD) of the device program for {path}: {source}; verifier log: {log}")]
    BpfLoad {
        /// The cgroup directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
        /// The verifier's log.
        log: String,
    },
}

/// Shorthand used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;
