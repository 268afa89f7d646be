//! The containerd shim v2 (`containerd-shim-berth-v2`, runtime type io.containerd.berth.v2).
//!
//! Built on the containerd-shim crate in its synchronous mode: it gives the start and delete
//! actions, the Task service types, the exit fan-out and event publishing, so this module is
//! mostly what is berth's: running the runtime, serving stdio, tracking processes and OOM. The
//! serving process is ours (`serve`), to answer the Task service under containerd 2's name too.
//!
//! - `shim`: start/delete actions and grouping (one shim per pod);
//! - `serve`: the serving process, with the Task service as both v2 and v3;
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
mod serve;
mod service;
mod shim;
mod stats;
mod stdio;

pub use service::Service;
pub use shim::Shim;

/// The runtime type containerd names the shim by (binary containerd-shim-berth-v2).
pub const RUNTIME_ID: &str = "io.containerd.berth.v2";

/// Run the shim binary: parse containerd's flags and do the action they ask for. `start` and
/// `delete` are the containerd-shim crate's; serving is ours (see `serve` for why).
pub fn main() {
    let args: Vec<_> = std::env::args_os().collect();
    match containerd_shim::parse(&args[1..]) {
        Ok(flags) if flags.action.is_empty() => {
            if let Err(e) = serve::serve(RUNTIME_ID, flags) {
                eprintln!("{RUNTIME_ID}: {e}");
                std::process::exit(1);
            }
        }
        _ => containerd_shim::run::<Shim>(RUNTIME_ID, None),
    }
}
