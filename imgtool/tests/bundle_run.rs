//! Bundles run: images imported, bundled and run with `runc run` (or the
//! runtime named by $BERTH_IMG_TEST_RUNTIME, e.g. berth, which takes runc's
//! flags), checked from inside the container; config.json derived from the
//! image config; overlay bundles private and removable; gc keeps what live
//! bundles mount.

mod support;

use std::fs;
use std::path::Path;
use std::process::Command;

use support::{layer, write_layout, Item, Scratch, TestImage};

/// The runtime binary: runc unless $BERTH_IMG_TEST_RUNTIME names another.
fn runtime() -> String {
    std::env::var("BERTH_IMG_TEST_RUNTIME").unwrap_or_else(|_| "runc".to_string())
}

/// Runs a bundle with the runtime under a private --root; deletes the container on drop.
struct Container<'a> {
    root: std::path::PathBuf,
    id: String,
    bundle: &'a Path,
}

impl<'a> Container<'a> {
    fn new(scratch: &Scratch, bundle: &'a Path, tag: &str) -> Self {
        let suffix = scratch
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "");
        Self {
            root: scratch.path().join("runc"),
            id: format!("berth-img-{tag}-{suffix}"),
            bundle,
        }
    }

    /// `runc run`: the exit code and stdout.
    fn run(&self) -> (i32, String) {
        let out = Command::new(runtime())
            .arg("--root")
            .arg(&self.root)
            .args(["run", "--bundle"])
            .arg(self.bundle)
            .arg(&self.id)
            .output()
            .expect("run the runtime");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    }
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let _ = Command::new(runtime())
            .arg("--root")
            .arg(&self.root)
            .args(["delete", "--force", &self.id])
            .output();
    }
}

fn busybox_layout(scratch: &Scratch, docker: bool) -> std::path::PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bundles/make-busybox-image.sh");
    let out = if docker {
        scratch.path().join("busybox.tar")
    } else {
        scratch.path().join("busybox-oci")
    };
    let mut command = Command::new("sh");
    command.arg(&script);
    if docker {
        command.arg("--docker-archive");
    }
    let status = command.arg(&out).output().expect("make-busybox-image.sh");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    out
}

#[test]
fn shipped_busybox_image_runs_from_an_overlay_bundle() {
    let scratch = Scratch::new();
    for (docker, tag) in [(false, "oci"), (true, "docker")] {
        let source = busybox_layout(&scratch, docker);
        assert!(scratch
            .ok(&["import", source.to_str().unwrap()])
            .starts_with("busybox:latest"));
        let bundle = scratch.path().join(format!("bundle-{tag}"));
        scratch.ok(&[
            "bundle",
            "busybox",
            bundle.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            "hostname; id; echo pid $$; grep ' / / ' /proc/self/mountinfo; ls /bin/busybox",
        ]);
        let (code, out) = Container::new(&scratch, &bundle, tag).run();
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("berth\n"), "hostname: {out}");
        assert!(out.contains("uid=0(root) gid=0(root)"), "{out}");
        assert!(out.contains("pid 1\n"), "{out}");
        assert!(
            out.contains(" - overlay overlay "),
            "rootfs should be the overlay: {out}"
        );
        assert!(
            out.contains(
                &scratch
                    .store()
                    .join("layers")
                    .to_string_lossy()
                    .into_owned()
            ),
            "lowerdir in the store: {out}"
        );
        scratch.ok(&["unbundle", bundle.to_str().unwrap()]);
        assert!(!bundle.exists());
    }
}

/// An image from host busybox with a user, workdir, env, volume, ports, labels, stop signal.
fn configured_image(scratch: &Scratch) -> std::path::PathBuf {
    let busybox = fs::read("/bin/busybox").unwrap();
    let tar = layer(&[
        Item::Dir("bin", 0o755),
        Item::File("bin/busybox", &busybox, 0o755),
        Item::Symlink("bin/sh", "busybox"),
        Item::Symlink("bin/id", "busybox"),
        Item::Symlink("bin/pwd", "busybox"),
        Item::Symlink("bin/env", "busybox"),
        Item::Symlink("bin/cat", "busybox"),
        Item::Symlink("bin/hostname", "busybox"),
        Item::Symlink("bin/touch", "busybox"),
        Item::Dir("etc", 0o755),
        Item::File(
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/sh\n",
            0o644,
        ),
        Item::File("etc/group", b"root:x:0:\nwww:x:33:\nadm:x:4:www\n", 0o644),
        Item::Dir("var", 0o755),
        Item::Dir("var/www", 0o755),
        Item::Dir("srv", 0o777),
        Item::Dir("data", 0o1777),
    ]);
    let exec = serde_json::json!({
        "User": "www", "WorkingDir": "/srv", "Env": ["PATH=/bin", "GREETING=hello"],
        "Entrypoint": ["/bin/sh", "-c"], "Cmd": ["id; pwd; echo $GREETING $HOME; touch /data/x && echo volume-ok"],
        "Volumes": { "/data": {} }, "ExposedPorts": { "8080/tcp": {} }, "StopSignal": "SIGQUIT", "Labels": { "maintainer": "berth" }
    });
    let layout = scratch.path().join("configured");
    write_layout(
        &layout,
        "configured:1",
        &TestImage {
            layers: vec![tar],
            gzip: true,
            exec,
        },
    );
    layout
}

#[test]
fn config_json_follows_the_image_config() {
    let scratch = Scratch::new();
    let layout = configured_image(&scratch);
    scratch.ok(&["import", layout.to_str().unwrap(), "configured:1"]);
    let bundle = scratch.path().join("bundle");
    scratch.ok(&["bundle", "configured:1", bundle.to_str().unwrap()]);
    let spec: serde_json::Value =
        serde_json::from_slice(&fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        spec["process"]["user"],
        serde_json::json!({ "uid": 33, "gid": 33, "additionalGids": [4] })
    );
    assert_eq!(spec["process"]["cwd"], "/srv");
    assert_eq!(spec["process"]["terminal"], false);
    assert_eq!(
        spec["annotations"]["org.opencontainers.image.exposedPorts"],
        "8080/tcp"
    );
    assert_eq!(
        spec["annotations"]["org.opencontainers.image.stopSignal"],
        "SIGQUIT"
    );
    assert_eq!(spec["annotations"]["maintainer"], "berth");
    assert_eq!(
        spec["linux"]["maskedPaths"].as_array().map(Vec::len),
        Some(10)
    );
    let (code, out) = Container::new(&scratch, &bundle, "cfg").run();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("uid=33(www) gid=33(www) groups=4(adm)"),
        "{out}"
    );
    assert!(out.contains("/srv\n"), "{out}");
    assert!(out.contains("hello /var/www\n"), "{out}");
    assert!(out.contains("volume-ok"), "{out}");
    assert!(
        bundle.join(".berth/volumes/0/x").exists(),
        "the volume is backed by the bundle"
    );
    scratch.ok(&["unbundle", bundle.to_str().unwrap()]);
}

#[test]
fn overrides_replace_args_env_hostname_and_add_binds() {
    let scratch = Scratch::new();
    let layout = configured_image(&scratch);
    scratch.ok(&["import", layout.to_str().unwrap(), "configured:1"]);
    let shared = scratch.path().join("shared");
    fs::create_dir(&shared).unwrap();
    fs::write(shared.join("note"), "from the host\n").unwrap();
    let bundle = scratch.path().join("bundle");
    let bind = format!("{}:/mnt/host:ro", shared.display());
    scratch.ok(&[
        "bundle",
        "configured:1",
        bundle.to_str().unwrap(),
        "--hostname",
        "custom",
        "-e",
        "GREETING=bye",
        "--bind",
        &bind,
        "--",
        "/bin/sh",
        "-c",
        "hostname; echo $GREETING; cat /mnt/host/note; touch /mnt/host/x || echo read-only",
    ]);
    let (code, out) = Container::new(&scratch, &bundle, "ovr").run();
    assert_eq!(code, 0, "{out}");
    for expected in ["custom\n", "bye\n", "from the host\n", "read-only"] {
        assert!(out.contains(expected), "missing {expected:?}: {out}");
    }
    scratch.ok(&["unbundle", bundle.to_str().unwrap()]);
}

#[test]
fn overlay_bundles_are_private_and_gc_keeps_their_layers() {
    let scratch = Scratch::new();
    let layout = configured_image(&scratch);
    scratch.ok(&["import", layout.to_str().unwrap(), "configured:1"]);
    let one = scratch.path().join("one");
    let two = scratch.path().join("two");
    scratch.ok(&["bundle", "configured:1", one.to_str().unwrap()]);
    scratch.ok(&["bundle", "configured:1", two.to_str().unwrap()]);
    fs::write(one.join("rootfs/srv/written"), "x").unwrap();
    assert!(
        !two.join("rootfs/srv/written").exists(),
        "bundles share an upper dir"
    );
    assert!(one.join(".berth/upper/srv/written").exists());
    // A bundle that exists already is refused.
    let error = scratch.fails(&["bundle", "configured:1", one.to_str().unwrap()]);
    assert!(error.contains("exists and is not empty"), "{error}");
    // With the image removed, gc keeps the layers the bundles mount...
    scratch.ok(&["rm", "configured:1"]);
    scratch.ok(&["gc"]);
    assert_eq!(
        fs::read_dir(scratch.store().join("layers"))
            .unwrap()
            .count(),
        1
    );
    assert!(two.join("rootfs/bin/busybox").exists());
    // ...and drops them once the bundles are gone.
    scratch.ok(&["unbundle", one.to_str().unwrap()]);
    scratch.ok(&["bundle", "--rm", two.to_str().unwrap()]);
    assert!(!fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .contains(&scratch.path().to_string_lossy().into_owned()));
    scratch.ok(&["gc"]);
    assert_eq!(
        fs::read_dir(scratch.store().join("layers"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(
        fs::read_dir(scratch.store().join("blobs/sha256"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn rootfs_tar_imports_as_a_one_layer_image() {
    let scratch = Scratch::new();
    let tar = layer(&[
        Item::Dir("etc", 0o755),
        Item::File("etc/os-release", b"ID=berth\n", 0o644),
    ]);
    let path = scratch.path().join("rootfs.tar.gz");
    fs::write(&path, support::gzip(&tar)).unwrap();
    assert!(scratch
        .ok(&["import", path.to_str().unwrap(), "plain:1"])
        .starts_with("plain:1 sha256:"));
    let inspect: serde_json::Value =
        serde_json::from_str(&scratch.ok(&["inspect", "plain:1"])).unwrap();
    assert_eq!(
        inspect["manifest"]["layers"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(
        inspect["config"]["rootfs"]["diff_ids"][0],
        format!("sha256:{}", support::sha256_hex(&tar))
    );
    let bundle = scratch.path().join("bundle");
    let error = scratch.fails(&["bundle", "plain:1", bundle.to_str().unwrap()]);
    assert!(error.contains("no Entrypoint or Cmd"), "{error}");
    assert!(!bundle.exists());
    scratch.ok(&[
        "bundle",
        "plain:1",
        bundle.to_str().unwrap(),
        "--",
        "/bin/true",
    ]);
    assert_eq!(
        fs::read_to_string(bundle.join("rootfs/etc/os-release")).unwrap(),
        "ID=berth\n"
    );
    scratch.ok(&["unbundle", bundle.to_str().unwrap()]);
}
