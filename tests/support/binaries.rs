//! Where the binaries under test are.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The workspace root (the root package is `berth-e2e`).
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The runtime under test: `$BERTH_RUNTIME` if set, else the newest `berth`
/// among the target directories this test could have been built into.
///
/// Panics with a clear message when neither exists, since every end-to-end
/// test needs it.
pub fn runtime_under_test() -> PathBuf {
    if let Some(path) = std::env::var_os("BERTH_RUNTIME") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "BERTH_RUNTIME={} does not name a file",
            path.display()
        );
        return path;
    }
    newest_built("berth").unwrap_or_else(|| {
        panic!(
            "no berth binary: looked in {:?}; build it with `cargo build -p berth-runtime` \
             or set BERTH_RUNTIME=/path/to/runtime",
            candidate_target_dirs()
        )
    })
}

/// The newest `<target>/{debug,release,berth-release}/<name>` over the candidate target dirs
/// (berth-release is where `cargo berth-static` puts the shipped berth).
pub fn newest_built(name: &str) -> Option<PathBuf> {
    candidate_target_dirs()
        .into_iter()
        .flat_map(|dir| ["debug", "release", "berth-release"].map(|profile| dir.join(profile).join(name)))
        .filter_map(|path| Some((modified(&path)?, path)))
        .max_by_key(|(mtime, _)| *mtime)
        .map(|(_, path)| path)
}

/// `$CARGO_TARGET_DIR`, the target dir this test binary lives in, and the
/// workspace's own `target/`.
fn candidate_target_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        dirs.push(PathBuf::from(dir));
    }
    // A test binary lives at <target>/<profile>/deps/<name>-<hash>.
    if let Ok(exe) = std::env::current_exe() {
        if let Some(target) = exe.ancestors().nth(3) {
            dirs.push(target.to_path_buf());
        }
    }
    dirs.push(workspace_root().join("target"));
    dirs.dedup();
    dirs
}

fn modified(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    meta.is_file().then(|| meta.modified().ok()).flatten()
}

/// A binary on `$PATH` (runc, crun, ip), if installed.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Whether the runtime under test is a reference runtime (runc or crun)
/// rather than berth, judged by its file name.
pub fn testing_reference_runtime() -> bool {
    let runtime = runtime_under_test();
    let name = runtime
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    name.starts_with("runc") || name.starts_with("crun")
}

/// Marks a check where berth deliberately differs from runc: returns true
/// (so the caller skips the berth-only check) when testing runc or crun, and
/// says so on stderr with the reason. Against berth it returns false.
pub fn deliberate_difference(why: &str) -> bool {
    let reference = testing_reference_runtime();
    if reference {
        eprintln!("deliberate difference from the reference runtime: {why}");
    }
    reference
}
