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

/// A pause image for pod sandboxes, built here (no registry to pull one from): busybox-static
/// as /bin/sleep, whose entrypoint sleeps until the pod is stopped. Written as a docker save
/// archive tagged `tag` into `dir`; returns its path.
#[track_caller]
pub fn pause_docker_archive(dir: &Path, tag: &str) -> PathBuf {
    let work = dir.join("pause-image");
    let root = work.join("rootfs");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("busybox-static is installed");
    std::os::unix::fs::symlink("busybox", root.join("bin/sleep")).unwrap();
    let sh = |script: &str| {
        let out = Command::new("sh").arg("-c").arg(script).current_dir(&work).output().expect("run sh");
        assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    sh("tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C rootfs -cf layer.tar .");
    let diff_id = sh("sha256sum layer.tar | cut -d' ' -f1");
    let config = format!(
        "{{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{{\"Entrypoint\":[\"/bin/sleep\",\"infinity\"]}},\
         \"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[\"sha256:{diff_id}\"]}}}}"
    );
    std::fs::write(work.join("config.json"), config).unwrap();
    let manifest = format!("[{{\"Config\":\"config.json\",\"RepoTags\":[\"{tag}\"],\"Layers\":[\"layer.tar\"]}}]");
    std::fs::write(work.join("manifest.json"), manifest).unwrap();
    let archive = dir.join("pause.tar");
    sh(&format!("tar -cf {} manifest.json config.json layer.tar", archive.display()));
    archive
}
