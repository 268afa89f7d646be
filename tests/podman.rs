//! podman drives berth through conmon, as `podman --runtime berth`: create with a pid
//! file, start, exec, kill and delete, with podman's own seccomp profile and sysctls.
//!
//! Each test uses its own podman root and runroot under a temporary directory, and removes
//! its containers and unmounts podman's storage when it ends.

use berth_e2e::binaries::runtime_under_test;
use berth_e2e::TempDir;
use std::process::{Command, Output, Stdio};

struct Podman {
    dir: TempDir,
    /// podman's libpod_parent/conmon cgroups, gone again after the last test of this file.
    _cgroups: berth_e2e::leftovers::ManagerCgroups,
}

impl Podman {
    fn new(tag: &str) -> Podman {
        let _cgroups = berth_e2e::leftovers::ManagerCgroups::hold(&PODMAN_CGROUPS);
        let me = Podman { dir: TempDir::new(tag), _cgroups };
        let archive = berth_e2e::images::busybox_docker_archive(me.dir.path());
        let loaded = me.podman(&["load", "-i", archive.to_str().unwrap()]);
        assert!(loaded.status.success(), "podman load: {}", String::from_utf8_lossy(&loaded.stderr));
        me
    }

    fn podman(&self, args: &[&str]) -> Output {
        let d = self.dir.path();
        Command::new("timeout")
            .args(["120", "podman", "--root"])
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("runroot"))
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file", "--runtime"])
            .arg(runtime_under_test())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("podman is installed (tests/run-all.sh installs it)")
    }

    /// `podman run` flags every test uses: no network setup, and resource limits no higher
    /// than this machine lets a process raise (its sandbox withholds CAP_SYS_RESOURCE).
    fn run(&self, flags: &[&str], command: &[&str]) -> Output {
        let mut args = vec!["run", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];
        args.extend_from_slice(flags);
        args.push("busybox:latest");
        args.extend_from_slice(command);
        self.podman(&args)
    }
}

/// The parent cgroups podman's cgroupfs manager makes for conmon, in every hierarchy.
const PODMAN_CGROUPS: [&str; 2] = ["libpod_parent", "libpod_parent/conmon"];

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.podman(&["rm", "--all", "--force", "--time", "0"]);
        for mount in berth_e2e::inspect::host_mounts_under(self.dir.path()).into_iter().rev() {
            let _ = berth_e2e::leftovers::detach(&mount);
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn podman_run_applies_its_seccomp_profile_and_sysctls() {
    let podman = Podman::new("podman-run");
    let script = "echo from-berth-under-podman; grep '^Seccomp:' /proc/self/status; cat /proc/sys/net/ipv4/ping_group_range; exit 4";
    let out = podman.run(&["--rm"], &["sh", "-c", script]);
    assert_eq!(out.status.code(), Some(4), "stdout: {}\nstderr: {}", text(&out.stdout), text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("from-berth-under-podman"), "{stdout}");
    assert!(stdout.contains("Seccomp:\t2"), "podman's seccomp profile is not in force:\n{stdout}");
    assert!(stdout.contains("0\t0"), "podman's ping_group_range sysctl was not written:\n{stdout}");
}

#[test]
fn podman_exec_stop_and_rm() {
    let podman = Podman::new("podman-exec");
    let started = podman.run(&["-d", "--name", "e2e-podman"], &["sleep", "600"]);
    assert!(started.status.success(), "podman run -d: {}", text(&started.stderr));
    let exec = podman.podman(&["exec", "e2e-podman", "sh", "-c", "echo podman-exec-ok; exit 2"]);
    assert_eq!(exec.status.code(), Some(2), "{}", text(&exec.stderr));
    assert!(text(&exec.stdout).contains("podman-exec-ok"));
    let stopped = podman.podman(&["stop", "--time", "1", "e2e-podman"]);
    assert!(stopped.status.success(), "podman stop: {}", text(&stopped.stderr));
    let removed = podman.podman(&["rm", "e2e-podman"]);
    assert!(removed.status.success(), "podman rm: {}", text(&removed.stderr));
}
