//! The example busybox image, for the tests that hand an image to a manager (containerd,
//! podman) rather than a bundle to the runtime.

use crate::binaries::workspace_root;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Write the busybox example image as a docker save archive into `dir`; returns its path.
#[track_caller]
pub fn busybox_docker_archive(dir: &Path) -> PathBuf {
    let archive = dir.join("busybox.tar");
    let made = Command::new(workspace_root().join("bundles/make-busybox-image.sh"))
        .arg("--docker-archive")
        .arg(&archive)
        .stdout(Stdio::null())
        .status()
        .expect("run bundles/make-busybox-image.sh");
    assert!(
        made.success(),
        "bundles/make-busybox-image.sh --docker-archive failed"
    );
    archive
}
