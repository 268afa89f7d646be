//! berth runtime library: an OCI runtime organised by concept.
//!
//! - [`plan`]: config.json to a validated plan (all validation happens here).
//! - [`container`]: the verbs (create, start, state, kill, delete, list, run).
//! - [`process`]: spawning the init and the typed parent/child sync protocol.
//! - [`namespaces`], [`rootfs`], [`security`], [`tty`]: what the init sets up.
//! - [`state`]: the state directory.
//! - [`quote`]: untrusted text made safe for one line of an error or log record.
//! - `sys`: the one door to raw syscalls and `unsafe`.
//!
//! Warnings and debug records go through the `log` facade; the `berth` binary writes them
//! to its --log file.

pub mod container;
pub mod features;
mod hooks;
mod idmap;
mod namespaces;
pub mod plan;
mod process;
mod procfs;
pub mod quote;
pub mod seal;
mod rootfs;
mod security;
pub mod state;
mod sys;
mod tty;
mod userns;

pub use sys::restore_default_sigpipe;

/// mountinfo's fields as the kernel escapes them (`\040` for a space): the one decoder, which
/// berth-img's gc uses too.
pub mod mountinfo {
    pub use berth_cgroups::unescape_mountinfo as unescape;
}

/// openat2(2) with its RESOLVE_* flags, retrying EAGAIN: the one wrapper, which berth-img's
/// safe unpacking uses too.
pub mod openat2 {
    pub use crate::sys::{openat2 as open, RESOLVE_BENEATH, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS, RESOLVE_NO_XDEV};
}
