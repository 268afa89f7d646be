//! `features`: the runtime-spec features JSON, each claim checked against behaviour. What it
//! lists must work in a container; what it leaves out (among the things checked here) must
//! be refused or have no effect. Runs against runc too (runc 1.1 has `features`).

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;

use berth_e2e::{fixture, run_foreground, run_script, Bundle, Container, Runtime, TempDir};
use serde_json::{json, Value};

fn features() -> Value {
    let outcome = Runtime::under_test().exec(["features"]);
    outcome.success();
    serde_json::from_str(&outcome.stdout).unwrap_or_else(|e| panic!("features is not JSON ({e}):\n{outcome}"))
}

fn strings(value: &Value) -> Vec<String> {
    value.as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

#[test]
fn the_document_has_the_runtime_spec_shape() {
    let f = features();
    for key in ["ociVersionMin", "ociVersionMax"] {
        assert!(f[key].as_str().is_some_and(|v| v.starts_with("1.")), "{key}: {f}");
    }
    for key in ["hooks", "mountOptions"] {
        assert!(!strings(&f[key]).is_empty(), "{key} is empty: {f}");
    }
    for key in ["namespaces", "capabilities"] {
        assert!(!strings(&f["linux"][key]).is_empty(), "linux.{key} is empty: {f}");
    }
    assert!(f["linux"]["seccomp"]["enabled"].is_boolean(), "{f}");
}

#[test]
fn every_listed_hook_runs() {
    let hooks = strings(&features()["hooks"]);
    let dir = TempDir::new("features-hooks");
    let log = dir.path().join("ran");
    let (runtime, mut bundle, id) = fixture("features-hooks");
    bundle.edit(|c| {
        c["root"]["readonly"] = json!(false);
        for stage in &hooks {
            // startContainer runs in the container, after pivot_root: it writes into the rootfs.
            let line = format!("echo {stage} >> {} 2>/dev/null || echo {stage} >> /hooklog", log.display());
            c["hooks"][stage] = json!([{ "path": "/bin/sh", "args": ["sh", "-c", line] }]);
        }
    });
    bundle.args(&["true"]);
    let container = Container::new(&runtime, &bundle, &id);
    container.run(&[]).success();
    drop(container);
    let mut ran: BTreeSet<String> = std::fs::read_to_string(&log).unwrap_or_default().lines().map(str::to_owned).collect();
    ran.extend(std::fs::read_to_string(bundle.rootfs().join("hooklog")).unwrap_or_default().lines().map(str::to_owned));
    let listed: BTreeSet<String> = hooks.into_iter().collect();
    assert_eq!(ran, listed, "hooks listed but not run (or run but not listed)");
}

#[test]
fn every_listed_namespace_is_made() {
    let namespaces = strings(&features()["linux"]["namespaces"]);
    let link = |kind: &str| if kind == "network" { "net" } else if kind == "mount" { "mnt" } else { kind }.to_owned();
    let script: String = namespaces.iter().map(|ns| format!("echo {ns}=$(readlink /proc/self/ns/{});", link(ns))).collect();
    let out = run_script("features-ns", &script, |b| {
        for ns in &namespaces {
            b.namespace(ns, None);
        }
        if namespaces.iter().any(|n| n == "user") {
            b.edit(|c| {
                c["linux"]["uidMappings"] = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
                c["linux"]["gidMappings"] = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
            });
            let status = std::process::Command::new("chown").args(["-R", "-h", "100000:100000"]).arg(b.rootfs()).status().unwrap();
            assert!(status.success());
        }
    });
    for ns in &namespaces {
        let host = std::fs::read_link(format!("/proc/self/ns/{}", link(ns))).unwrap();
        let line = out.lines().find(|l| l.starts_with(&format!("{ns}="))).unwrap_or_else(|| panic!("no {ns} line:\n{out}"));
        assert_ne!(line[ns.len() + 1..], *host.to_string_lossy(), "{ns} is listed but the container shares the host's");
    }
}

#[test]
fn every_listed_mount_option_is_accepted_on_a_bind_mount() {
    let f = features();
    let idmap = f["linux"]["mountExtensions"]["idmap"]["enabled"] == json!(true);
    let options = strings(&f["mountOptions"]);
    let dir = TempDir::new("features-mountopts");
    std::fs::write(dir.path().join("f"), "").unwrap();
    let (runtime, mut bundle, id) = fixture("features-mountopts");
    for (i, option) in options.iter().enumerate() {
        let mut mount = json!({ "source": dir.path(), "destination": format!("/mnt/{i}"), "options": ["rbind", option] });
        if option.contains("idmap") {
            if !idmap {
                continue;
            }
            mount["uidMappings"] = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
            mount["gidMappings"] = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
        }
        bundle.add_mount(mount);
    }
    bundle.args(&["true"]);
    let outcome = Container::new(&runtime, &bundle, &id).run(&[]);
    if berth_e2e::binaries::deliberate_difference("runc 1.1 lists mount options a bind mount refuses (ratime, ...)") {
        return;
    }
    assert!(outcome.status.success(), "a listed mount option was refused ({options:?}):\n{outcome}");
}

#[test]
fn idmapped_mounts_work_exactly_when_listed() {
    let enabled = features()["linux"]["mountExtensions"]["idmap"]["enabled"] == json!(true);
    let dir = TempDir::new("features-idmap");
    std::fs::write(dir.path().join("f"), "").unwrap();
    assert_eq!(std::fs::metadata(dir.path().join("f")).unwrap().uid(), 0);
    let out = run_script("features-idmap", "stat -c %u /mnt/f", |b| {
        b.add_mount(json!({
            "source": dir.path(), "destination": "/mnt", "options": ["bind"],
            "uidMappings": [{ "containerID": 0, "hostID": 100000, "size": 65536 }],
            "gidMappings": [{ "containerID": 0, "hostID": 100000, "size": 65536 }],
        }));
    });
    assert_eq!(out.trim(), if enabled { "100000" } else { "0" }, "idmap listed: {enabled}");
}

#[test]
fn every_listed_capability_can_be_held() {
    let capabilities = strings(&features()["linux"]["capabilities"]);
    if berth_e2e::binaries::deliberate_difference("runc lists every capability it knows, also those this host withholds (CAP_SYS_RESOURCE here), and then fails to grant them") {
        return;
    }
    let out = run_script("features-caps", "grep -E 'Cap(Bnd|Eff)' /proc/self/status", |b| {
        b.edit(|c| {
            for set in ["bounding", "effective", "permitted"] {
                c["process"]["capabilities"][set] = json!(capabilities);
            }
        });
    });
    for line in out.lines() {
        let mask = u64::from_str_radix(line.split_whitespace().nth(1).expect("a mask"), 16).expect("hex");
        assert_eq!(mask.count_ones() as usize, capabilities.len(), "{line}: listed {capabilities:?}");
    }
}

/// A container whose profile gives `action` to mkdir; returns what `mkdir` made of it.
fn mkdir_under(tag: &str, action: &str) -> berth_e2e::Outcome {
    run_foreground(tag, |b: &mut Bundle| {
        b.edit(|c| {
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{ "names": ["mkdir", "mkdirat"], "action": action }]
            });
            c["root"]["readonly"] = json!(false);
        });
        b.script("mkdir /tmp/probe; echo rc=$?");
    })
}

#[test]
fn every_listed_seccomp_action_acts_and_others_are_refused() {
    let seccomp = &features()["linux"]["seccomp"];
    assert_eq!(seccomp["enabled"], json!(true));
    let listed = strings(&seccomp["actions"]);
    let all = [
        "SCMP_ACT_ALLOW",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_TRAP",
        "SCMP_ACT_TRACE",
        "SCMP_ACT_LOG",
        "SCMP_ACT_NOTIFY",
    ];
    for action in all {
        let tag = format!("features-{}", action.to_lowercase().replace('_', "-"));
        if !listed.iter().any(|a| a == action) {
            let outcome = mkdir_under(&tag, action);
            assert!(!outcome.status.success(), "{action} is not listed but was accepted:\n{outcome}");
            continue;
        }
        if action == "SCMP_ACT_NOTIFY" {
            // Needs a listener (tests/seccomp_notify.rs); without one it must be refused.
            let outcome = mkdir_under(&tag, action);
            assert!(!outcome.status.success(), "SCMP_ACT_NOTIFY without listenerPath was accepted:\n{outcome}");
            continue;
        }
        let outcome = mkdir_under(&tag, action);
        let rc = outcome.stdout.trim().strip_prefix("rc=").unwrap_or_else(|| panic!("{action}: {outcome}")).to_owned();
        let expected = match action {
            "SCMP_ACT_ALLOW" | "SCMP_ACT_LOG" => "0",
            // ERRNO: EPERM; TRACE with no tracer: ENOSYS. mkdir fails either way.
            "SCMP_ACT_ERRNO" | "SCMP_ACT_TRACE" => "1",
            // Killed by SIGSYS (31), as the shell reports it.
            _ => "159",
        };
        assert_eq!(rc, expected, "{action}:\n{outcome}");
    }
}

#[test]
fn every_listed_seccomp_operator_and_flag_is_accepted() {
    let seccomp = &features()["linux"]["seccomp"];
    let operators = strings(&seccomp["operators"]);
    let flags = strings(&seccomp["supportedFlags"]);
    let groups: Vec<Value> = operators
        .iter()
        .map(|op| json!({ "names": ["personality"], "action": "SCMP_ACT_ERRNO", "args": [{ "index": 0, "value": 0xdead, "valueTwo": 0xdead, "op": op }] }))
        .collect();
    let out = run_script("features-operators", "echo ok", |b| {
        b.edit(|c| c["linux"]["seccomp"] = json!({ "defaultAction": "SCMP_ACT_ALLOW", "flags": flags, "syscalls": groups }));
    });
    assert_eq!(out, "ok\n");
    let known = strings(&seccomp["knownFlags"]);
    for flag in known.iter().filter(|f| !flags.contains(f)) {
        let outcome = run_foreground("features-flag", |b| {
            b.edit(|c| c["linux"]["seccomp"] = json!({ "defaultAction": "SCMP_ACT_ALLOW", "flags": [flag], "syscalls": [] }));
        });
        assert!(!outcome.status.success(), "{flag} is known but not supported, yet accepted:\n{outcome}");
    }
}

#[test]
fn the_cgroup_claims_match_the_host() {
    let cgroup = &features()["linux"]["cgroup"];
    let v1_host = std::fs::read_to_string("/proc/self/mountinfo").unwrap().lines().any(|l| l.contains(" - cgroup "));
    if v1_host {
        assert_eq!(cgroup["v1"], json!(true), "this host has v1 hierarchies: {cgroup}");
        let out = run_script("features-v1", "cat /sys/fs/cgroup/pids/pids.max", |b| {
            b.edit(|c| c["linux"]["resources"] = json!({ "pids": { "limit": 42 } }));
        });
        assert_eq!(out.trim(), "42");
    }
}

#[test]
fn lsm_labels_are_refused_exactly_when_not_listed() {
    let linux = &features()["linux"];
    for (module, field, value) in [("apparmor", "apparmorProfile", "unconfined"), ("selinux", "selinuxLabel", "system_u:system_r:container_t:s0")] {
        if linux[module]["enabled"] == json!(true) {
            continue;
        }
        let outcome = run_foreground("features-lsm", |b| {
            b.edit(|c| c["process"][field] = json!(value));
            b.args(&["true"]);
        });
        if berth_e2e::binaries::deliberate_difference("runc 1.1 ignores a label for a module the host does not run") {
            continue;
        }
        outcome.failure();
        outcome.one_line_error_naming(&[&format!("process.{field}")]);
    }
}
