//! Validation without root: each bad field refused with its JSON path, before anything is made.

use super::*;
use serde_json::json;

/// A bundle directory with an empty rootfs, removed on drop.
struct Bundle(PathBuf);

impl Bundle {
    fn new() -> Bundle {
        static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("berth-plan-test-{}-{n}", std::process::id()));
        std::fs::create_dir_all(dir.join("rootfs")).unwrap();
        Bundle(dir)
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The default config with `change` applied to its JSON, validated.
fn plan_with(change: impl FnOnce(&mut serde_json::Value)) -> Result<Plan, SpecError> {
    let bundle = Bundle::new();
    let mut config = default_config();
    change(&mut config);
    let spec: Spec = serde_json::from_value(config).expect("the test config parses");
    Plan::new(&spec, &bundle.0)
}

fn refused_field(change: impl FnOnce(&mut serde_json::Value)) -> String {
    match plan_with(change) {
        Err(SpecError::Invalid { field, .. }) => field,
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("accepted"),
    }
}

#[test]
fn the_default_config_is_valid() {
    let plan = plan_with(|_| {}).expect("default config");
    assert!(plan.namespaces.has_new(libc::CLONE_NEWNS));
    assert!(plan.devices.iter().any(|d| d.path == Path::new("/dev/null")));
}

#[test]
fn a_relative_hook_path_is_refused() {
    let field = refused_field(|c| c["hooks"] = json!({ "poststart": [{ "path": "bin/true" }] }));
    assert_eq!(field, "hooks.poststart[0].path");
}

#[test]
fn a_namespace_listed_twice_is_refused() {
    let field = refused_field(|c| c["linux"]["namespaces"].as_array_mut().unwrap().push(json!({ "type": "pid" })));
    assert_eq!(field, "linux.namespaces[6].type");
}

#[test]
fn a_device_of_type_a_is_refused() {
    let field = refused_field(|c| c["linux"]["devices"] = json!([{ "path": "/dev/x", "type": "a", "major": 1, "minor": 3 }]));
    assert_eq!(field, "linux.devices[0].type");
}

#[test]
fn a_sysctl_name_with_dotdot_is_refused() {
    let field = refused_field(|c| c["linux"]["sysctl"] = json!({ "net/../../x": "1" }));
    assert_eq!(field, "linux.sysctl.net/../../x");
}

#[test]
fn a_relative_mount_destination_is_refused() {
    let field = refused_field(|c| c["mounts"].as_array_mut().unwrap().push(json!({ "destination": "tmp", "type": "tmpfs" })));
    assert_eq!(field, "mounts[7].destination");
}

#[test]
fn seccomp_notify_is_refused_and_errno_compiles() {
    let field = refused_field(|c| c["linux"]["seccomp"] = json!({ "defaultAction": "SCMP_ACT_NOTIFY" }));
    assert_eq!(field, "linux.seccomp.defaultAction");
    let plan = plan_with(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{ "names": ["mkdir"], "action": "SCMP_ACT_ERRNO" }]
        })
    })
    .expect("a small profile compiles");
    assert_eq!(plan.process.seccomp.expect("compiled").programs.len(), 1);
}

#[test]
fn id_mappings_are_checked_as_the_kernel_will() {
    let userns = |c: &mut serde_json::Value, uids: serde_json::Value, gids: serde_json::Value| {
        c["linux"]["namespaces"].as_array_mut().unwrap().push(json!({ "type": "user" }));
        c["linux"]["uidMappings"] = uids;
        c["linux"]["gidMappings"] = gids;
    };
    let one = json!([{ "containerID": 0, "hostID": 1000, "size": 1 }]);
    let plan = plan_with(|c| userns(c, one.clone(), one.clone())).expect("a simple mapping is valid");
    let user = plan.user.expect("a user plan");
    assert_eq!(user.uid_map.to_proc_format(), "0 1000 1\n");
    assert!(user.uid_map.is_single(1000) && !user.uid_map.is_single(0));
    assert_eq!(user.uid_map.to_host(0), Some(1000));
    assert_eq!(user.uid_map.to_host(1), None);
    assert_eq!(refused_field(|c| userns(c, json!([]), one.clone())), "linux.uidMappings");
    assert_eq!(refused_field(|c| c["linux"]["uidMappings"] = one.clone()), "linux.uidMappings");
    let past_end = json!([{ "containerID": 4294967295u32, "hostID": 0, "size": 2 }]);
    assert_eq!(refused_field(|c| userns(c, past_end, one.clone())), "linux.uidMappings[0].containerID");
    let overlap = json!([{ "containerID": 0, "hostID": 1000, "size": 10 }, { "containerID": 100, "hostID": 1005, "size": 1 }]);
    assert_eq!(refused_field(|c| userns(c, one.clone(), overlap)), "linux.gidMappings[1].hostID");
}

#[test]
fn sysctls_follow_runcs_namespace_rules() {
    let without = |c: &mut serde_json::Value, kind: &str| c["linux"]["namespaces"].as_array_mut().unwrap().retain(|ns| ns["type"] != kind);
    let sysctl = |c: &mut serde_json::Value, key: &str| c["linux"]["sysctl"] = json!({ key: "1" });
    for host_only in ["vm.swappiness", "fs.file-max", "kernel.panic", "kernel/core_pattern"] {
        assert_eq!(refused_field(|c| sysctl(c, host_only)), format!("linux.sysctl.{host_only}"));
    }
    assert_eq!(refused_field(|c| { without(c, "ipc"); sysctl(c, "kernel.shmmax") }), "linux.sysctl.kernel.shmmax");
    assert_eq!(refused_field(|c| { without(c, "ipc"); sysctl(c, "fs.mqueue.msg_max") }), "linux.sysctl.fs.mqueue.msg_max");
    assert_eq!(refused_field(|c| { without(c, "network"); sysctl(c, "net.ipv4.ip_forward") }), "linux.sysctl.net.ipv4.ip_forward");
    let host_net = format!("/proc/{}/ns/net", std::process::id());
    assert_eq!(
        refused_field(|c| {
            without(c, "network");
            c["linux"]["namespaces"].as_array_mut().unwrap().push(json!({ "type": "network", "path": host_net }));
            sysctl(c, "net.ipv4.ip_forward")
        }),
        "linux.sysctl.net.ipv4.ip_forward"
    );
    assert_eq!(refused_field(|c| { c["hostname"] = json!("h"); sysctl(c, "kernel.hostname") }), "linux.sysctl.kernel.hostname");
    for namespaced in ["kernel.shmmax", "kernel.sem", "fs.mqueue.queues_max", "net.ipv4.ip_forward", "net/ipv4/conf/eth0.100/forwarding", "kernel.domainname"] {
        plan_with(|c| sysctl(c, namespaced)).unwrap_or_else(|e| panic!("{namespaced} refused: {e}"));
    }
}

#[test]
fn devices_stay_in_the_kernels_numbers_and_under_dev() {
    let device = |path: &'static str, major: i64, minor: i64| move |c: &mut serde_json::Value| c["linux"]["devices"] = json!([{ "path": path, "type": "c", "major": major, "minor": minor }]);
    assert_eq!(refused_field(device("/dev/x", 4096, 0)), "linux.devices[0].major");
    assert_eq!(refused_field(device("/dev/x", 1, 1 << 20)), "linux.devices[0].minor");
    assert_eq!(refused_field(device("/dev/x", -1, 0)), "linux.devices[0].major");
    assert_eq!(refused_field(device("/dev/../etc/x", 1, 3)), "linux.devices[0].path");
    assert_eq!(refused_field(device("/dev/..", 1, 3)), "linux.devices[0].path");
    let plan = plan_with(device("/dev/a/../b", 4095, (1 << 20) - 1)).expect("in range, under /dev");
    assert!(plan.devices.iter().any(|d| d.path == Path::new("/dev/b")), "the path is planned cleaned");
    let rule = |access: &str| {
        let access = access.to_owned();
        move |c: &mut serde_json::Value| c["linux"]["resources"]["devices"].as_array_mut().unwrap().push(json!({ "allow": true, "type": "c", "access": access }))
    };
    assert!(matches!(plan_with(rule("xyz")), Err(SpecError::Resources(_))));
    plan_with(rule("rw")).expect("rw is an access string");
}

#[test]
fn capabilities_the_kernel_would_refuse_are_refused() {
    let caps = |set: &'static str, cap: &'static str| move |c: &mut serde_json::Value| c["process"]["capabilities"][set].as_array_mut().unwrap().push(json!(cap));
    assert_eq!(refused_field(caps("effective", "CAP_SYS_ADMIN")), "process.capabilities.effective");
    let plan = plan_with(|c| c["process"]["capabilities"]["inheritable"] = json!(["CAP_SYS_ADMIN"]));
    assert!(matches!(plan, Err(SpecError::Invalid { ref field, .. }) if field == "process.capabilities.inheritable"));
    // runc spec's own default: ambient capabilities that are not inheritable.
    plan_with(caps("ambient", "CAP_SYS_ADMIN")).expect("ambient capabilities are left out, not refused");
}

#[test]
fn names_and_paths_longer_than_the_kernel_takes_are_refused() {
    assert_eq!(refused_field(|c| c["hostname"] = json!("h".repeat(65))), "hostname");
    plan_with(|c| c["hostname"] = json!("h".repeat(64))).expect("64 bytes is a hostname");
    assert_eq!(refused_field(|c| c["process"]["cwd"] = json!(format!("/{}", "d".repeat(5000)))), "process.cwd");
    let long = format!("/{}", "m".repeat(5000));
    assert_eq!(refused_field(|c| c["mounts"].as_array_mut().unwrap().push(json!({ "destination": long, "type": "tmpfs" }))), "mounts[7].destination");
}
