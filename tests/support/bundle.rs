//! Throwaway OCI bundles made from the example busybox bundle.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Once};

use serde_json::{json, Value};

use crate::binaries::workspace_root;
use crate::tempdir::TempDir;

/// A private copy of `bundles/busybox` (rootfs and config.json) in a temp dir.
///
/// Each test gets its own rootfs, so a test that writes into it (mount points,
/// a symlink) cannot disturb another running in parallel.
#[derive(Debug)]
pub struct Bundle {
    /// Shared with the containers made from it, so the rootfs outlives them
    /// (and their `delete --force`) whatever order a test drops things in.
    dir: Arc<TempDir>,
    config: Value,
}

impl Bundle {
    /// Copies the example bundle, making it first with
    /// `bundles/make-busybox.sh` if its rootfs has not been generated.
    pub fn busybox(tag: &str) -> Bundle {
        let example = example_bundle();
        let dir = TempDir::new(tag);
        // make-busybox.sh swaps in a new rootfs under an exclusive lock on
        // the bundle directory; copy under a shared one.
        let _shared = lock(&example, libc::LOCK_SH);
        let status = Command::new("cp")
            .arg("-a")
            .arg(example.join("rootfs"))
            .arg(dir.path().join("rootfs"))
            .status()
            .expect("spawn cp");
        assert!(
            status.success(),
            "copying the example rootfs failed: {status}"
        );
        let text = std::fs::read_to_string(example.join("config.json"))
            .expect("read bundles/busybox/config.json");
        let config = serde_json::from_str(&text).expect("bundles/busybox/config.json is JSON");
        let bundle = Bundle {
            dir: Arc::new(dir),
            config,
        };
        bundle.save();
        bundle
    }

    /// The bundle directory (holds config.json and rootfs/).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A handle that keeps the bundle directory alive.
    pub fn keep_alive(&self) -> Arc<TempDir> {
        Arc::clone(&self.dir)
    }

    /// The rootfs directory.
    pub fn rootfs(&self) -> PathBuf {
        self.path().join("rootfs")
    }

    /// The config as last written.
    pub fn config(&self) -> &Value {
        &self.config
    }

    /// Changes the config and writes it to config.json.
    pub fn edit(&mut self, change: impl FnOnce(&mut Value)) -> &mut Bundle {
        change(&mut self.config);
        self.save();
        self
    }

    /// Sets `process.args`.
    pub fn args(&mut self, args: &[&str]) -> &mut Bundle {
        self.edit(|c| c["process"]["args"] = json!(args))
    }

    /// Runs `script` with the container's `sh -c` as its process, so pid 1 is
    /// that shell.
    pub fn script(&mut self, script: &str) -> &mut Bundle {
        self.args(&["sh", "-c", script])
    }

    /// Appends an entry to `mounts`.
    pub fn add_mount(&mut self, mount: Value) -> &mut Bundle {
        self.edit(|c| {
            c["mounts"]
                .as_array_mut()
                .expect("mounts is an array")
                .push(mount)
        })
    }

    /// Adds (or replaces) a namespace entry, with an optional `path` to join.
    pub fn namespace(&mut self, kind: &str, path: Option<&Path>) -> &mut Bundle {
        self.edit(|c| {
            let list = c["linux"]["namespaces"]
                .as_array_mut()
                .expect("namespaces is an array");
            list.retain(|ns| ns["type"] != kind);
            let mut entry = json!({ "type": kind });
            if let Some(path) = path {
                entry["path"] = json!(path);
            }
            list.push(entry);
        })
    }

    /// Removes a namespace entry, so the container shares the caller's.
    pub fn without_namespace(&mut self, kind: &str) -> &mut Bundle {
        self.edit(|c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .expect("namespaces is an array")
                .retain(|ns| ns["type"] != kind)
        })
    }

    /// Writes raw text as config.json (for bad-input tests); the in-memory
    /// config is left as it was.
    pub fn write_raw_config(&self, text: &str) {
        let path = self.path().join("config.json");
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    fn save(&self) {
        let text = serde_json::to_string_pretty(&self.config).expect("serialise config");
        self.write_raw_config(&text);
    }
}

/// `bundles/busybox`, with its rootfs generated if missing.
pub fn example_bundle() -> PathBuf {
    static MADE: Once = Once::new();
    let bundle = workspace_root().join("bundles/busybox");
    MADE.call_once(|| {
        // Test binaries may run at the same time (nextest): one makes it.
        let lock_path = std::env::temp_dir().join("berth-e2e-make-busybox.lock");
        std::fs::File::create(&lock_path)
            .unwrap_or_else(|e| panic!("create {}: {e}", lock_path.display()));
        let _lock = lock(&lock_path, libc::LOCK_EX);
        if !bundle.join("rootfs/bin/busybox").is_file() {
            let script = workspace_root().join("bundles/make-busybox.sh");
            let status = Command::new(&script)
                .status()
                .expect("spawn make-busybox.sh");
            assert!(status.success(), "{} failed: {status}", script.display());
        }
        // The lock is released when `_lock` is closed here.
    });
    bundle
}

/// Opens `path` (a file or a directory) and takes a `flock` of `kind` on it,
/// held until the returned file is dropped.
fn lock(path: &Path, kind: libc::c_int) -> std::fs::File {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    // SAFETY: the fd is open and owned by `file` for the whole call.
    let rc = unsafe { libc::flock(file.as_raw_fd(), kind) };
    assert_eq!(
        rc,
        0,
        "flock {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
    file
}
