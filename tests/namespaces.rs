//! Namespaces from config.json: new ones isolate, listed paths are joined,
//! and what is not listed is shared with the caller.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use berth_e2e::binaries::deliberate_difference;
use berth_e2e::{run_script, Bundle};
use serde_json::json;

/// The caller's namespace of `kind` as `readlink /proc/self/ns/<kind>` shows it.
fn host_ns(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}"))
        .unwrap_or_else(|e| panic!("readlink /proc/self/ns/{kind}: {e}"))
        .to_string_lossy()
        .into_owned()
}

/// The container's namespace of `kind`, read inside it.
fn container_ns(tag: &str, kind: &str, edit: impl FnOnce(&mut Bundle)) -> String {
    run_script(tag, &format!("readlink /proc/$$/ns/{kind}"), edit)
        .trim()
        .to_owned()
}

#[test]
fn pid_namespace_makes_the_process_pid_1() {
    let out = run_script(
        "ns-pid",
        "echo $$; cat /proc/1/cmdline | tr '\\0' ' '",
        |_| {},
    );
    assert_eq!(out, "1\nsh -c echo $$; cat /proc/1/cmdline | tr '\\0' ' ' ");
    assert_ne!(container_ns("ns-pid2", "pid", |_| {}), host_ns("pid"));
}

#[test]
fn uts_namespace_sets_hostname_and_domainname() {
    let out = run_script("ns-uts", "hostname; cat /proc/sys/kernel/domainname", |b| {
        b.edit(|c| {
            c["hostname"] = json!("e2e-host");
            c["domainname"] = json!("e2e.example");
        });
    });
    let (hostname, domainname) = out.split_once('\n').expect("two lines");
    assert_eq!(hostname, "e2e-host");
    if !deliberate_difference("runc 1.1.5 ignores `domainname` (added in runc 1.2)") {
        assert_eq!(domainname, "e2e.example\n");
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_ne!(host.trim(), "e2e-host", "the host's hostname changed");
    assert_ne!(container_ns("ns-uts2", "uts", |_| {}), host_ns("uts"));
}

#[test]
fn ipc_namespace_is_new() {
    assert_ne!(container_ns("ns-ipc", "ipc", |_| {}), host_ns("ipc"));
}

#[test]
fn ipc_namespace_is_shared_when_not_listed() {
    assert_eq!(
        container_ns("ns-ipc-shared", "ipc", |b| {
            b.without_namespace("ipc");
        }),
        host_ns("ipc")
    );
}

#[test]
fn network_namespace_has_only_loopback() {
    let out = run_script("ns-net", "tail -n +3 /proc/net/dev | cut -d: -f1", |_| {});
    let interfaces: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(interfaces, ["lo"]);
    assert_ne!(container_ns("ns-net2", "net", |_| {}), host_ns("net"));
}

#[test]
fn mount_namespace_is_new_and_container_mounts_stay_inside() {
    let (runtime, mut bundle, id) = berth_e2e::fixture("ns-mnt");
    bundle.script("readlink /proc/$$/ns/mnt");
    let outcome = berth_e2e::Container::new(&runtime, &bundle, &id).run(&[]);
    outcome.success();
    assert_ne!(outcome.stdout.trim(), host_ns("mnt"));
    assert!(berth_e2e::inspect::host_mounts_under(bundle.path()).is_empty());
}

#[test]
fn cgroup_namespace_shows_the_container_cgroup_as_root() {
    let out = run_script("ns-cgroup", "cat /proc/self/cgroup", |b| {
        b.namespace("cgroup", None);
    });
    assert!(!out.is_empty());
    for line in out.lines() {
        assert!(
            line.ends_with(":/"),
            "cgroup namespace root should be '/': {line}\n{out}"
        );
    }
}

#[test]
fn without_cgroup_namespace_the_full_cgroup_path_shows() {
    let (runtime, mut bundle, id) = berth_e2e::fixture("ns-cgroup-none");
    bundle.script("cat /proc/self/cgroup");
    let outcome = berth_e2e::Container::new(&runtime, &bundle, &id).run(&[]);
    outcome.success();
    assert!(
        outcome
            .stdout
            .lines()
            .any(|l| l.ends_with(&format!("/{id}"))),
        "expected the container's own cgroup {id}:\n{outcome}"
    );
}

#[test]
fn time_namespace_applies_boottime_and_monotonic_offsets() {
    if deliberate_difference("runc 1.1.5 has no time namespace (added in runc 1.2)") {
        return;
    }
    const YEAR: u64 = 365 * 24 * 3600;
    let host_uptime = || -> f64 {
        let text = std::fs::read_to_string("/proc/uptime").unwrap();
        text.split_whitespace().next().unwrap().parse().unwrap()
    };
    let before = host_uptime();
    let out = run_script("ns-time", "cat /proc/uptime", |b| {
        b.namespace("time", None).edit(|c| {
            c["linux"]["timeOffsets"] = json!({
                "boottime": { "secs": YEAR, "nanosecs": 0 },
                "monotonic": { "secs": YEAR, "nanosecs": 0 }
            });
        });
    });
    let after = host_uptime();
    let inside: f64 = out.split_whitespace().next().unwrap().parse().unwrap();
    let shift = inside - before;
    assert!(
        shift >= YEAR as f64 && inside <= after + YEAR as f64,
        "uptime inside {inside} is not the host's ({before}..{after}) plus a year"
    );
}

/// A process holding a fresh namespace of its own, killed on drop.
struct NamespaceHolder {
    child: Child,
}

impl NamespaceHolder {
    fn new(unshare_flag: &str) -> NamespaceHolder {
        let child = Command::new("unshare")
            .args([unshare_flag, "--", "sleep", "600"])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn unshare");
        let holder = NamespaceHolder { child };
        // unshare(1) unshares, then execs sleep: wait until it has.
        let pid = holder.child.id();
        berth_e2e::poll::until(berth_e2e::poll::STATE_TIMEOUT, || {
            let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
            exe.to_string_lossy().contains("sleep").then_some(())
        })
        .expect("unshare never ran sleep");
        holder
    }

    fn ns_path(&self, kind: &str) -> String {
        format!("/proc/{}/ns/{kind}", self.child.id())
    }
}

impl Drop for NamespaceHolder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn network_namespace_is_joined_by_path() {
    let holder = NamespaceHolder::new("--net");
    let path = holder.ns_path("net");
    let wanted = std::fs::read_link(&path)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_ne!(wanted, host_ns("net"));
    let seen = container_ns("ns-join-net", "net", |b| {
        b.namespace("network", Some(Path::new(&path)));
    });
    assert_eq!(seen, wanted);
}

#[test]
fn uts_namespace_is_joined_by_path() {
    let holder = NamespaceHolder::new("--uts");
    let path = holder.ns_path("uts");
    let wanted = std::fs::read_link(&path)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let seen = container_ns("ns-join-uts", "uts", |b| {
        b.namespace("uts", Some(Path::new(&path)));
    });
    assert_eq!(seen, wanted);
}
