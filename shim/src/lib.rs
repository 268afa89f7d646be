//! berth-shim: the process that stays with a container after the runtime has returned.
//!
//! It holds the container's stdio, writes its logs, reaps it as a subreaper and reports how it
//! ended: to containerd over the shim v2 API (`containerd-shim-berth-v2`), or to people and
//! conmon-style managers through its own CLI (`berth-shim`, [`keeper`]).
//!
//! Concepts both shims use live at the top: [`reaper`], [`console`] (the pty master over the
//! runtime's console socket), [`container_log`] (CRI and JSON log files with rotation), and
//! [`sys`], the one module with `unsafe`.

pub mod console;
pub mod container_log;
pub mod keeper;
pub mod reaper;
pub mod sys;
pub mod v2;
