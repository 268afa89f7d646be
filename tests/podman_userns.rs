//! podman and buildah drive berth with user namespaces: `podman run --uidmap` as root, and
//! rootless podman and buildah run by an unprivileged user the test creates (with
//! subuid/subgid ranges, removed on drop), each with its own storage under a temp dir.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use berth_e2e::binaries::runtime_under_test;
use berth_e2e::users::{chown_tree, TestUser};
use berth_e2e::TempDir;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `tool` (podman or buildah) with its storage under `dir`, berth as its runtime, as root or
/// as `user`.
fn tool(tool: &str, dir: &Path, user: Option<&TestUser>, args: &[&str]) -> Output {
    let runtime = user.map(|u| u.runtime.clone()).unwrap_or_else(runtime_under_test);
    let mut command = Command::new("timeout");
    command.args(["180", tool, "--root"]).arg(dir.join("root")).arg("--runroot").arg(dir.join("runroot"));
    if tool == "podman" {
        command.args(["--cgroup-manager", "cgroupfs", "--events-backend", "file", "--runtime"]).arg(&runtime);
    }
    command.args(args).stdin(Stdio::null());
    if tool == "buildah" {
        command.env("BUILDAH_RUNTIME", &runtime);
    }
    if let Some(user) = user {
        let xdg = user.xdg_runtime_dir();
        if !xdg.exists() {
            std::fs::create_dir(&xdg).unwrap();
            berth_e2e::users::chown(&xdg, user.uid, user.gid);
        }
        command
            .current_dir(user.home.path())
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("HOME", user.home.path())
            .env("USER", &user.name)
            .env("XDG_RUNTIME_DIR", &xdg)
            .env("XDG_CONFIG_HOME", user.home.path().join("config"))
            .uid(user.uid)
            .gid(user.gid);
        if tool == "buildah" {
            command.env("BUILDAH_RUNTIME", &runtime);
        }
    }
    command.output().expect("podman and buildah are installed (tests/run-all.sh installs them)")
}

/// Storage for one test, with the busybox image loaded, owned by `user` when given.
fn storage(tag: &str, tool_name: &str, user: Option<&TestUser>) -> TempDir {
    let dir = TempDir::new(tag);
    let archive = berth_e2e::images::busybox_docker_archive(dir.path());
    if let Some(user) = user {
        chown_tree(dir.path(), user.uid, user.gid);
    }
    let source = format!("docker-archive:{}", archive.display());
    let loaded = match tool_name {
        "podman" => tool("podman", dir.path(), user, &["load", "-i", archive.to_str().unwrap()]),
        _ => tool("buildah", dir.path(), user, &["pull", "--quiet", &source]),
    };
    assert!(loaded.status.success(), "{tool_name} load: {}", text(&loaded.stderr));
    dir
}

/// Removes what a podman test left, as whoever ran it.
struct Cleanup<'a> {
    dir: &'a Path,
    user: Option<&'a TestUser>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = tool("podman", self.dir, self.user, &["rm", "--all", "--force", "--time", "0"]);
        if let Some(user) = self.user {
            // Rootless storage lives in the user's namespace; podman unshare removes it there.
            let _ = tool("podman", self.dir, Some(user), &["system", "reset", "--force"]);
        }
        for mount in berth_e2e::inspect::host_mounts_under(self.dir).into_iter().rev() {
            let _ = berth_e2e::leftovers::detach(&mount);
        }
    }
}

const RUN_FLAGS: [&str; 6] = ["--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];

#[test]
fn podman_run_with_uidmap_as_root() {
    // podman as root makes libpod_parent/conmon cgroups; gone again when this test ends.
    let _cgroups = berth_e2e::leftovers::ManagerCgroups::hold(&["libpod_parent", "libpod_parent/conmon"]);
    let dir = storage("podman-uidmap", "podman", None);
    let _cleanup = Cleanup { dir: dir.path(), user: None };
    let mut args = vec!["run", "--rm", "--uidmap", "0:100000:65536", "--gidmap", "0:100000:65536"];
    args.extend(RUN_FLAGS);
    args.extend(["busybox:latest", "sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; stat -c %u /bin/busybox"]);
    let out = tool("podman", dir.path(), None, &args);
    assert!(out.status.success(), "podman run --uidmap: {}", text(&out.stderr));
    let lines: Vec<Vec<String>> = text(&out.stdout).lines().map(|l| l.split_whitespace().map(str::to_owned).collect()).collect();
    assert_eq!(lines[0], ["0", "100000", "65536"], "{}", text(&out.stdout));
    assert_eq!(lines[1], ["0", "100000", "65536"], "{}", text(&out.stdout));
    assert_eq!(lines[2], ["0"], "{}", text(&out.stdout));
    assert_eq!(lines[3], ["0"], "the image's files belong to the container's root:\n{}", text(&out.stdout));
}

#[test]
fn rootless_podman_runs_a_container_with_berth() {
    let user = TestUser::new("p");
    let dir = storage("podman-rootless", "podman", Some(&user));
    let _cleanup = Cleanup { dir: dir.path(), user: Some(&user) };
    let mut args = vec!["run", "--rm"];
    args.extend(RUN_FLAGS);
    args.extend(["busybox:latest", "sh", "-c", "echo rootless-ok; id -u; cat /proc/self/uid_map"]);
    let out = tool("podman", dir.path(), Some(&user), &args);
    assert!(out.status.success(), "rootless podman run: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("rootless-ok\n0\n"), "{stdout}");
    // podman's user namespace: the user's own id as root, then its subordinate range.
    assert!(stdout.contains(&user.uid.to_string()) && stdout.contains(&user.subid_base.to_string()), "{stdout}");
}

#[test]
fn rootless_buildah_runs_a_step_with_berth() {
    let user = TestUser::new("q");
    let dir = storage("buildah-rootless", "buildah", Some(&user));
    let from = tool("buildah", dir.path(), Some(&user), &["from", "--quiet", "--pull=never", "busybox:latest"]);
    assert!(from.status.success(), "buildah from: {}", text(&from.stderr));
    let container = text(&from.stdout).trim().to_owned();
    let run = tool("buildah", dir.path(), Some(&user), &["run", "--isolation", "oci", "--network", "none", &container, "--", "sh", "-c", "echo built-with-berth > /made; id -u"]);
    let removed = tool("buildah", dir.path(), Some(&user), &["rm", &container]);
    assert!(run.status.success(), "rootless buildah run: {}", text(&run.stderr));
    assert_eq!(text(&run.stdout).trim(), "0");
    assert!(removed.status.success(), "buildah rm: {}", text(&removed.stderr));
}
