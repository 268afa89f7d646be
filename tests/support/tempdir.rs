//! Throwaway directories, removed on drop.

use std::path::{Path, PathBuf};

/// A directory under `$TMPDIR/berth-e2e/`, removed with its contents on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Makes a fresh directory whose name starts with `tag`.
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let base = std::env::temp_dir().join("berth-e2e");
        std::fs::create_dir_all(&base).unwrap_or_else(|e| panic!("mkdir {}: {e}", base.display()));
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = base.join(format!("{tag}-{}-{n}", std::process::id()));
        // A leftover from an earlier run with the same pid is ours to replace.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        TempDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Detach anything a faulty runtime mounted below us before deleting,
        // so removal never reaches into a mounted host directory.
        for mount_point in crate::inspect::host_mounts_under(&self.path)
            .into_iter()
            .rev()
        {
            let _ = crate::leftovers::detach(&mount_point);
        }
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
