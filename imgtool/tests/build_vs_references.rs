//! `berth-img build` against the references: the same multi-stage
//! Dockerfile (ARG before FROM, COPY --from, --chown, --chmod, symlinks,
//! hardlinks, a deleted and a replaced directory, .dockerignore with a
//! re-include, every config instruction) built by berth-img, by
//! `docker build` with BuildKit (a private dockerd this test starts) and by
//! `buildah bud` (private storage), from the same busybox-static base. The
//! root filesystems (paths, types, modes, owners, sizes, contents, link
//! targets, xattrs) and the configs must match BuildKit's; buildah differs
//! where noted, and BuildKit is followed.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{assert_same_tree, snapshot, Node, Scratch};

const DOCKERFILE: &str = r#"ARG BASE=busybox
FROM $BASE AS build
ARG GREETING=hello
ENV OUT=/out
WORKDIR $OUT
RUN echo "$GREETING world" > greeting && mkdir -p tree/a && echo x > tree/a/f && ln -s greeting link && ln greeting hard
COPY --chown=1:2 dir/ copied/
COPY --chmod=0600 keep.md ./

FROM busybox
LABEL org.example.title="cmp test" two=2
ENV A=1 B="two words"
ARG V=7
RUN rm -rf /etc/group && mkdir -p /etc/replaced && echo new > /etc/replaced/f && rm -rf /tmp && mkdir /tmp && chmod 1777 /tmp
COPY --from=build /out/ /srv/
COPY * /ctx/
RUN echo "$V $A $B $HOME" > /srv/env.txt
EXPOSE 8080 53/udp
VOLUME /data
USER 1000:1000
WORKDIR /home/app
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=30s --timeout=5s --retries=2 CMD wget -q localhost || exit 1
ONBUILD RUN echo triggered > /trigger
SHELL ["/bin/sh", "-e", "-c"]
ENTRYPOINT ["/bin/sh"]
CMD echo done
"#;

/// The config fields compared.
const FIELDS: [&str; 12] = [
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "ExposedPorts",
    "Volumes",
    "Labels",
    "StopSignal",
    "Shell",
    "Healthcheck",
    "OnBuild",
];

fn context(dir: &Path) {
    for sub in ["dir/sub", "ignored"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    fs::write(dir.join("Dockerfile"), DOCKERFILE).unwrap();
    fs::write(dir.join(".dockerignore"), "ignored\n*.md\n!keep.md\n").unwrap();
    fs::write(dir.join("dir/one.txt"), "one\n").unwrap();
    fs::write(dir.join("dir/sub/two.txt"), "two\n").unwrap();
    std::os::unix::fs::symlink("one.txt", dir.join("dir/link")).unwrap();
    fs::write(dir.join("ignored/x"), "secret\n").unwrap();
    fs::write(dir.join("keep.md"), "keep\n").unwrap();
    fs::write(dir.join("drop.md"), "drop\n").unwrap();
    fs::set_permissions(dir.join("dir/sub"), fs::Permissions::from_mode(0o751)).unwrap();
    fs::set_permissions(dir.join("dir/one.txt"), fs::Permissions::from_mode(0o640)).unwrap();
}

fn run(command: &mut Command) -> String {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn busybox(scratch: &Scratch) -> (PathBuf, PathBuf) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bundles/make-busybox-image.sh");
    let layout = scratch.path().join("busybox-oci");
    let archive = scratch.path().join("busybox.tar");
    run(Command::new("sh").arg(&script).arg(&layout));
    run(Command::new("sh")
        .arg(&script)
        .arg("--docker-archive")
        .arg(&archive));
    (layout, archive)
}

/// The flattened root filesystem of an image in the berth-img store, times left out.
fn rootfs(scratch: &Scratch, image: &str) -> BTreeMap<PathBuf, Node> {
    let dir = scratch
        .path()
        .join(format!("rootfs-{}", image.replace(':', "-")));
    scratch.ok(&["bundle", "--copy", image, dir.to_str().unwrap()]);
    let mut tree = snapshot(&dir.join("rootfs"), false);
    for node in tree.values_mut() {
        node.mtime = None;
    }
    scratch.ok(&["unbundle", dir.to_str().unwrap()]);
    tree
}

/// The image config's `config` section as stored.
fn config(scratch: &Scratch, image: &str) -> BTreeMap<String, Value> {
    let inspect: Value = serde_json::from_str(&scratch.ok(&["inspect", image])).unwrap();
    let digest = inspect["manifest"]["config"]["digest"].as_str().unwrap();
    let blob = scratch
        .store()
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"));
    let full: Value = serde_json::from_slice(&fs::read(blob).unwrap()).unwrap();
    FIELDS
        .iter()
        .map(|f| (f.to_string(), full["config"][f].clone()))
        .collect()
}

/// A dockerd of this test's own: private root, exec root, socket and pid file;
/// no bridge, no iptables. Stopped (SIGTERM, then SIGKILL) on drop.
struct Dockerd {
    child: Child,
    socket: PathBuf,
    /// dockerd's docker/buildkit cgroups, removed again once it has stopped.
    _cgroups: berth_e2e::leftovers::ManagerCgroups,
}

impl Dockerd {
    fn start(dir: &Path) -> Dockerd {
        let _cgroups = berth_e2e::leftovers::ManagerCgroups::hold(&["docker", "docker/buildkit"]);
        fs::create_dir_all(dir).unwrap();
        let socket = dir.join("docker.sock");
        let log = fs::File::create(dir.join("dockerd.log")).unwrap();
        let child = Command::new("dockerd")
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .args(["--bridge=none", "--iptables=false", "--ip-masq=false", "--ip-forward=false"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start dockerd");
        let dockerd = Dockerd { child, socket, _cgroups };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !dockerd
            .docker()
            .arg("info")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            assert!(
                Instant::now() < deadline,
                "dockerd did not come up: {}",
                fs::read_to_string(dir.join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        dockerd
    }

    /// The Debian client (not /usr/local/bin/docker), on our socket, with BuildKit.
    fn docker(&self) -> Command {
        let mut command = Command::new("/usr/bin/docker");
        command
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .env("DOCKER_BUILDKIT", "1");
        command
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // SAFETY-free: signal our own child by its pid.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn same_rootfs_and_config_as_buildkit_and_buildah() {
    let scratch = Scratch::new();
    let ctx = scratch.path().join("ctx");
    context(&ctx);
    let (layout, archive) = busybox(&scratch);
    scratch.ok(&["import", layout.to_str().unwrap(), "busybox:latest"]);

    // berth-img.
    scratch.ok(&["build", "-q", "-t", "cmp:berth", ctx.to_str().unwrap()]);

    // docker build with BuildKit, on a private dockerd.
    let dockerd = Dockerd::start(&scratch.path().join("docker"));
    run(dockerd.docker().args(["load", "-i"]).arg(&archive));
    run(dockerd
        .docker()
        .args(["build", "-q", "--network", "host", "-t", "cmp:docker"])
        .arg(&ctx));
    let saved = scratch.path().join("docker.tar");
    run(dockerd
        .docker()
        .args(["save", "-o"])
        .arg(&saved)
        .arg("cmp:docker"));
    drop(dockerd);
    scratch.ok(&["import", saved.to_str().unwrap(), "cmp:docker"]);

    // buildah bud, private storage; chroot isolation (its runc isolation needs
    // cgroup and network setup this host does not offer), docker format so
    // SHELL and HEALTHCHECK are kept.
    let root = scratch.path().join("buildah");
    let buildah = || {
        let mut c = Command::new("buildah");
        c.arg("--root")
            .arg(root.join("root"))
            .arg("--runroot")
            .arg(root.join("run"))
            .args(["--storage-driver", "vfs"]);
        c
    };
    run(buildah()
        .args(["pull", "-q"])
        .arg(format!("docker-archive:{}", archive.display())));
    run(buildah()
        .args([
            "bud",
            "-q",
            "--isolation",
            "chroot",
            "--format",
            "docker",
            "-t",
            "cmp:buildah",
        ])
        .arg(&ctx));
    let pushed = scratch.path().join("buildah.tar");
    run(buildah()
        .args(["push", "-q", "cmp:buildah"])
        .arg(format!("docker-archive:{}:cmp:buildah", pushed.display())));
    scratch.ok(&["import", pushed.to_str().unwrap(), "cmp:buildah"]);

    // The root filesystems: berth-img's is BuildKit's.
    let berth = rootfs(&scratch, "cmp:berth");
    let buildkit = rootfs(&scratch, "cmp:docker");
    assert_same_tree(&berth, &buildkit, "berth-img vs BuildKit");
    assert!(
        berth.contains_key(Path::new("srv/copied/link"))
            && !berth.contains_key(Path::new("etc/group"))
    );
    assert!(
        !berth.contains_key(Path::new("ctx/drop.md"))
            && berth.contains_key(Path::new("ctx/keep.md"))
    );
    // buildah leaves the stubs of its RUN mounts behind; BuildKit and berth-img do not.
    let mut from_buildah = rootfs(&scratch, "cmp:buildah");
    for stub in ["etc/hostname", "etc/hosts", "etc/resolv.conf", "run"] {
        from_buildah.remove(Path::new(stub));
    }
    assert_same_tree(
        &berth,
        &from_buildah,
        "berth-img vs buildah (less its RUN stubs)",
    );

    // The configs.
    let ours = config(&scratch, "cmp:berth");
    assert_eq!(
        ours,
        config(&scratch, "cmp:docker"),
        "config: berth-img vs BuildKit"
    );
    let theirs = config(&scratch, "cmp:buildah");
    for field in [
        "Env",
        "Entrypoint",
        "WorkingDir",
        "User",
        "ExposedPorts",
        "Volumes",
        "StopSignal",
        "Shell",
        "Healthcheck",
        "OnBuild",
    ] {
        assert_eq!(
            ours[field], theirs[field],
            "config {field}: berth-img vs buildah"
        );
    }
    // buildah runs a shell-form CMD through /bin/sh -c whatever SHELL says; BuildKit uses SHELL.
    assert_eq!(
        ours["Cmd"],
        serde_json::json!(["/bin/sh", "-e", "-c", "echo done"])
    );
}
