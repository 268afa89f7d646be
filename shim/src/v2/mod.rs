//! The containerd shim v2 (`containerd-shim-berth-v2`, runtime type io.containerd.berth.v2).
//!
//! Built on the containerd-shim crate in its synchronous mode: it owns the ttrpc server, the
//! Task service types, event publishing and the SIGCHLD reaper, so this module is only what is
//! berth's: running the runtime, serving stdio, tracking processes and OOM.
//!
//! - `shim`: start/delete actions and grouping (one shim per pod);
//! - `service`: the Task RPCs; `container` and `process`: the recipes and state;
//! - `runtime`: the berth binary (or BinaryName); `stdio`: fifos, file://, binary://, pty;
//! - `events`: ordered publishing; `cgroup`: where the container's cgroup is;
//!   `oom`: OOM events (v1 eventfd, v2 memory.events); `stats`: metrics (v1 and v2).

mod cgroup;
mod container;
mod events;
mod oom;
mod options;
mod process;
mod runtime;
mod service;
mod shim;
mod stats;
mod stdio;

pub use service::Service;
pub use shim::Shim;

/// The runtime type containerd names the shim by (binary containerd-shim-berth-v2).
pub const RUNTIME_ID: &str = "io.containerd.berth.v2";

/// Run the shim binary: parse containerd's flags and do the action they ask for.
pub fn main() {
    containerd_shim::run::<Shim>(RUNTIME_ID, None);
}
