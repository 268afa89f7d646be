//! berth runtime library: an OCI runtime organised by concept.
//!
//! - [`plan`]: config.json to a validated plan (all validation happens here).
//! - [`container`]: the verbs (create, start, state, kill, delete, list, run).
//! - [`process`]: spawning the init and the typed parent/child sync protocol.
//! - [`namespaces`], [`rootfs`], [`security`], [`tty`]: what the init sets up.
//! - [`state`]: the state directory.
//! - [`sys`]: the one door to raw syscalls and `unsafe`.
//! - [`cli`]: runc's command line, translated into library calls.

pub mod cli;
pub mod container;
pub mod error;
pub mod hooks;
pub mod log;
pub mod namespaces;
pub mod process;
pub mod rootfs;
pub mod security;
pub mod plan;
pub mod state;
pub mod sys;
pub mod tty;

pub use error::Error;
