//! The cgroup v2 drivers on a real pure-v2 kernel: this machine is hybrid v1, so boot
//! Debian's cloud kernel under qemu (TCG) from an initramfs built by tests/vm/ and read the
//! verdicts it writes to its second serial port.
//!
//! In the VM: runc runs a busybox bundle with memory, pids, cpu and device limits and the
//! container prints its own cgroup files; a detached container is paused, resumed, updated,
//! asked for stats and ps, and deleted; a process over its memory limit is OOM-killed and
//! fork fails past the pids limit; berth-cgroups' own test executables run against the
//! VM's cgroupfs (create, limits, freeze, stats, OOM, the eBPF device program, destroy); and
//! nothing may be left in /sys/fs/cgroup afterwards.
//!
//! containerd runs in the VM too (private socket and root, the busybox image imported into
//! its native snapshotter), and both containerd-shim-runc-v2 (with runc) and berth's
//! containerd-shim-berth-v2 go through the same steps: a task over its memory limit exits
//! 137 with a /tasks/oom event (memory.events on v2), and `ctr task metrics` of a running
//! task shows cgroup v2 Metrics (`<shim>_shim_oom`, `<shim>_shim_metrics`).
//!
//! A second boot runs systemd as the guest's init and checks the systemd driver over D-Bus.
//!
//! The runtime under test (`$BERTH_RUNTIME` or the newest built `berth`) goes in as /bin/berth
//! and must pass the same tests as runc (`berth_limits`, `berth_lifecycle`, `berth_behaviour`);
//! `BERTH_VM_WITH_BERTH=0` leaves it out, to check the harness on runc alone.

use std::path::{Path, PathBuf};
use std::process::Command;

use berth_e2e::TempDir;

/// qemu's hard limit; the guest's own watchdog fires earlier.
const VM_TIMEOUT_SECONDS: &str = "420";

/// The verdicts every run must contain; a test missing from the output is a failure too.
const REQUIRED_RESULTS: [&str; 11] = [
    "cgroup2_mounted",
    "runc_limits",
    "runc_lifecycle",
    "runc_behaviour",
    "containerd_up",
    "runc_shim_oom",
    "runc_shim_metrics",
    "containerd_down",
    "berth_cgroups",
    "cgroupfs",
    "no_cgroups_left",
];

/// containerd, ctr and the runc shim from the host, at the guest paths the tests call.
const CONTAINERD_BINARIES: [(&str, &str); 3] =
    [("containerd", "/bin/containerd"), ("ctr", "/bin/ctr"), ("containerd-shim-runc-v2", "/bin/containerd-shim-runc-v2")];

#[test]
fn cgroup_v2_drivers_and_runc_limits_in_a_pure_v2_vm() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"));

    // 1. The test executables of berth-cgroups, built in a target dir of their own so this
    //    nested cargo never waits on the outer one's lock.
    let mut binaries: Vec<String> = vec!["/usr/sbin/runc=/bin/runc".into()];
    let mut required: Vec<&str> = REQUIRED_RESULTS.to_vec();
    for (name, guest) in CONTAINERD_BINARIES {
        let host = berth_e2e::binaries::on_path(name).unwrap_or_else(|| panic!("{name} is not installed (apt-get install containerd)"));
        binaries.push(format!("{}={guest}", host.display()));
    }
    // The image the shim tests run, made here as tests/containerd_shim.rs makes it.
    let images = TempDir::new("cgroup-v2-vm-images");
    let busybox = berth_e2e::images::busybox_docker_archive(images.path());
    binaries.push(format!("{}=/images/busybox.tar", busybox.display()));
    // berth itself runs in the VM unless BERTH_VM_WITH_BERTH=0 (to check the harness on runc),
    // and berth's shim beside it (where the shim looks for berth).
    if std::env::var_os("BERTH_VM_WITH_BERTH").is_none_or(|v| v != "0") {
        let berth = berth_e2e::binaries::runtime_under_test();
        binaries.push(format!("{}=/bin/berth", berth.display()));
        let shim = berth_e2e::containerd::berth_shim_binary();
        binaries.push(format!("{}=/bin/containerd-shim-berth-v2", shim.display()));
        required.extend(["berth_limits", "berth_lifecycle", "berth_behaviour", "berth_shim_oom", "berth_shim_metrics"]);
    }
    for (name, exe) in cgroup_test_executables(workspace) {
        binaries.push(format!("{}=/tests/{name}", exe.display()));
    }

    // 2. Build the initramfs and boot it; 3. every required result passed.
    let vm = boot(workspace, &binaries, false);
    vm.assert_passed(&required);
}

/// The systemd driver for real: the guest boots systemd as its init, and berth-cgroups'
/// systemd test asks it over D-Bus for a delegated scope, limits it, freezes and removes it.
#[test]
fn systemd_driver_in_a_v2_vm_booted_with_systemd() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"));
    let binaries: Vec<String> = cgroup_test_executables(workspace)
        .into_iter()
        .filter(|(name, _)| name == "cgroupfs")
        .map(|(name, exe)| format!("{}=/tests/{name}", exe.display()))
        .collect();
    let vm = boot(workspace, &binaries, true);
    vm.assert_passed(&["systemd_running", "systemd_scope"]);
}

/// What one VM boot reported.
struct VmRun {
    results: String,
    console_tail: String,
    _work: TempDir,
}

impl VmRun {
    /// Every required result is there and passed, and the summary says so.
    fn assert_passed(&self, required: &[&str]) {
        let (text, console_tail) = (&self.results, &self.console_tail);
        let summary = text.lines().find(|l| l.starts_with("SUMMARY"));
        assert!(
            summary.is_some_and(|s| s.contains("failed=0")),
            "the VM did not report success (missing SUMMARY means it crashed or hung)\n\
             results:\n{text}\nconsole tail:\n{console_tail}"
        );
        for name in required {
            assert!(
                text.lines().any(|l| l == format!("RESULT {name} PASS")),
                "{name} did not pass in the VM\nresults:\n{text}\nconsole tail:\n{console_tail}"
            );
        }
        assert!(!text.contains(" FAIL"), "results:\n{text}");
    }
}

/// Build an initramfs with `binaries` (SRC=DEST), boot it (with systemd as init if asked)
/// and collect what it reported.
fn boot(workspace: &Path, binaries: &[String], systemd: bool) -> VmRun {
    let vm_dir = workspace.join("tests/vm");
    let work = TempDir::new(if systemd { "cgroup-v2-vm-systemd" } else { "cgroup-v2-vm" });
    let initrd = work.path().join("initrd.cpio.gz");
    run_checked(
        Command::new(vm_dir.join("build-initramfs.sh"))
            .env("WITH_SYSTEMD", if systemd { "1" } else { "0" })
            .arg(&initrd)
            .arg(work.path())
            .args(binaries),
    );
    let results = work.path().join("results.txt");
    let console = work.path().join("console.txt");
    run_checked(
        Command::new(vm_dir.join("run-vm.sh"))
            .env("EXTRA_APPEND", if systemd { "berth_init=systemd" } else { "" })
            .arg(&initrd)
            .arg(&results)
            .arg(&console)
            .arg(VM_TIMEOUT_SECONDS),
    );
    VmRun {
        results: std::fs::read_to_string(&results).unwrap_or_default().replace('\r', ""),
        console_tail: tail(&console, 60),
        _work: work,
    }
}

/// Build berth-cgroups' tests (without running them) and return (target name, executable).
fn cgroup_test_executables(workspace: &Path) -> Vec<(String, PathBuf)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(workspace)
        .env("CARGO_TARGET_DIR", workspace.join("target/vm-guest"))
        .args(["test", "-p", "berth-cgroups", "--no-run", "--message-format=json"])
        .output()
        .expect("run cargo");
    assert!(
        output.status.success(),
        "cargo test --no-run -p berth-cgroups failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut found = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let is_test = message["reason"] == "compiler-artifact" && message["profile"]["test"] == true;
        if let (true, Some(exe), Some(name)) = (is_test, message["executable"].as_str(), message["target"]["name"].as_str()) {
            found.push((name.to_owned(), PathBuf::from(exe)));
        }
    }
    assert!(found.len() >= 2, "expected the unit and cgroupfs test executables, got {found:?}");
    found
}

fn run_checked(command: &mut Command) {
    let output = command.output().unwrap_or_else(|e| panic!("run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default().replace('\r', "");
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
