//! Helpers shared by the end-to-end tests and the benchmarks.
//!
//! Every test talks to a real runtime binary (berth, or runc/crun for
//! comparison) through its command line, with its own `--root` and its own
//! bundle in a throwaway directory, so tests run in parallel and clean up
//! after themselves even when they panic:
//!
//! - [`binaries`] finds the runtime under test (`$BERTH_RUNTIME`, else the
//!   newest `target/{debug,release}/berth`);
//! - [`tempdir`] makes throwaway directories;
//! - [`bundle`] copies the example busybox bundle and edits its config.json;
//! - [`runtime`] runs runtime commands with a timeout and captures their output;
//! - [`container`] is the guard that runs `delete --force` when dropped;
//! - [`leftovers`] checks that nothing (state, cgroup, process, mount) is left;
//! - [`inspect`] parses what containers print (`/proc/self/status`, mountinfo);
//! - [`poll`] waits for a condition without fixed sleeps.

pub mod binaries;
pub mod bundle;
pub mod container;
pub mod containerd;
pub mod images;
pub mod inspect;
pub mod leftovers;
pub mod poll;
pub mod runtime;
pub mod tempdir;
pub mod users;

pub use bundle::Bundle;
pub use container::Container;
pub use runtime::{Outcome, Runtime};
pub use tempdir::TempDir;

/// A container id unique to this test process and call, readable in `ps` and
/// in leftover cgroup names: `e2e-<tag>-<pid>-<n>`.
pub fn unique_id(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("e2e-{tag}-{}-{n}", std::process::id())
}

/// A runtime with a fresh root, a fresh busybox bundle and a unique id: the
/// start of almost every test.
pub fn fixture(tag: &str) -> (Runtime, Bundle, String) {
    (Runtime::under_test(), Bundle::busybox(tag), unique_id(tag))
}

/// A fixture whose process is `sleep 600`, so it stays up until killed, with
/// its container handle (not yet created).
pub fn sleeper(tag: &str) -> (Runtime, Bundle, Container) {
    let (runtime, mut bundle, id) = fixture(tag);
    bundle.args(&["sleep", "600"]);
    let container = Container::new(&runtime, &bundle, &id);
    (runtime, bundle, container)
}

/// Runs the bundle in the foreground (`run`) with `edit` applied, as a
/// container that is deleted afterwards, and returns what it printed.
pub fn run_foreground(tag: &str, edit: impl FnOnce(&mut Bundle)) -> Outcome {
    let (runtime, mut bundle, id) = fixture(tag);
    edit(&mut bundle);
    let container = Container::new(&runtime, &bundle, &id);
    container.run(&[])
}

/// Like [`run_foreground`] with `script` as the container's `sh -c` command;
/// panics unless it succeeds, and returns its stdout.
#[track_caller]
pub fn run_script(tag: &str, script: &str, edit: impl FnOnce(&mut Bundle)) -> String {
    let outcome = run_foreground(tag, |bundle| {
        edit(bundle);
        bundle.script(script);
    });
    outcome.success();
    outcome.stdout.clone()
}
