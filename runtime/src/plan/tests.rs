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
