//! berth run by an unprivileged user: a user made for the test (name prefixed `rtuserns`,
//! with subuid/subgid ranges, removed on drop, also when the test fails), state under its
//! $XDG_RUNTIME_DIR, `spec --rootless`, newuidmap/newgidmap for more than its own id, no
//! cgroup when none is delegated, and a one-line error naming the privilege limits need.

use berth_e2e::binaries::deliberate_difference;
use berth_e2e::users::{chown, chown_tree, TestUser};
use serde_json::json;

#[test]
fn an_unprivileged_user_runs_a_container_with_state_under_xdg_runtime_dir() {
    let user = TestUser::new("a");
    let bundle = user.bundle("rootless-run", "id -u; id -g; cat /proc/self/uid_map; ls /sys/class/net | grep -c .");
    let id = "rootless-run";
    let outcome = user.berth(&["run", "--bundle", &bundle.path().display().to_string(), id], bundle.path());
    outcome.success();
    let lines: Vec<&str> = outcome.stdout.lines().collect();
    assert_eq!(lines[..2], ["0", "0"], "root of its user namespace:\n{outcome}");
    assert_eq!(lines[2].split_whitespace().collect::<Vec<_>>(), ["0", &user.uid.to_string(), "1"], "{outcome}");
    // The template keeps the host's network (no netns) and binds /sys: the host's interfaces.
    assert_ne!(lines[3], "0", "{outcome}");
    if !deliberate_difference("runc keeps its state in $XDG_RUNTIME_DIR/runc") {
        assert!(user.xdg_runtime_dir().join("berth").is_dir(), "no state root under $XDG_RUNTIME_DIR");
        assert!(!user.xdg_runtime_dir().join("berth").join(id).exists(), "the container's state was left behind");
    }
}

#[test]
fn the_rootless_template_is_runcs() {
    let user = TestUser::new("b");
    let dir = user.home.path().join("spec");
    std::fs::create_dir(&dir).unwrap();
    chown(&dir, user.uid, user.gid);
    user.berth(&["spec", "--rootless"], &dir).success();
    let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let namespaces: Vec<&str> = config["linux"]["namespaces"].as_array().unwrap().iter().filter_map(|n| n["type"].as_str()).collect();
    assert!(namespaces.contains(&"user") && !namespaces.contains(&"network"), "{namespaces:?}");
    assert_eq!(config["linux"]["uidMappings"], json!([{ "containerID": 0, "hostID": user.uid, "size": 1 }]));
    assert_eq!(config["linux"]["gidMappings"], json!([{ "containerID": 0, "hostID": user.gid, "size": 1 }]));
    assert!(config["linux"]["resources"].is_null() || config["linux"]["resources"].get("devices").is_some(), "{config}");
    let sys = config["mounts"].as_array().unwrap().iter().find(|m| m["destination"] == "/sys").expect("a /sys mount");
    assert!(sys["options"].as_array().unwrap().contains(&json!("rbind")), "{sys}");
    assert!(!config.to_string().contains("gid=5"), "uid=/gid= options need ids the one-id map lacks");
}

#[test]
fn newuidmap_maps_the_users_subordinate_ids() {
    let user = TestUser::new("c");
    let mut bundle = user.bundle("rootless-subids", "cat /proc/self/uid_map /proc/self/gid_map; id -u");
    bundle.edit(|c| {
        c["linux"]["uidMappings"] = json!([
            { "containerID": 0, "hostID": user.uid, "size": 1 },
            { "containerID": 1, "hostID": user.subid_base, "size": 65536 }
        ]);
        c["linux"]["gidMappings"] = json!([
            { "containerID": 0, "hostID": user.gid, "size": 1 },
            { "containerID": 1, "hostID": user.subid_base, "size": 65536 }
        ]);
        c["process"]["user"] = json!({ "uid": 1000, "gid": 1000 });
    });
    chown_tree(bundle.path(), user.uid, user.gid);
    let outcome = user.berth(&["run", "--bundle", &bundle.path().display().to_string(), "rootless-subids"], bundle.path());
    outcome.success();
    let lines: Vec<Vec<&str>> = outcome.stdout.lines().map(|l| l.split_whitespace().collect()).collect();
    let (uid, base) = (user.uid.to_string(), user.subid_base.to_string());
    assert_eq!(lines[0], ["0", uid.as_str(), "1"], "{outcome}");
    assert_eq!(lines[1], ["1", base.as_str(), "65536"], "{outcome}");
    assert_eq!(lines[4], ["1000"], "a subordinate id runs the process:\n{outcome}");
}

#[test]
fn limits_without_a_delegated_cgroup_are_refused_naming_the_privilege() {
    let user = TestUser::new("d");
    let mut bundle = user.bundle("rootless-limits", "true");
    bundle.edit(|c| c["linux"]["resources"] = json!({ "pids": { "limit": 10 } }));
    chown_tree(bundle.path(), user.uid, user.gid);
    let outcome = user.berth(&["run", "--bundle", &bundle.path().display().to_string(), "rootless-limits"], bundle.path());
    outcome.failure();
    if !deliberate_difference("runc's message does not name the missing delegation") {
        outcome.one_line_error_naming(&["linux.resources", "delegated cgroup"]);
        let state = user.xdg_runtime_dir().join("berth");
        assert!(!state.join("rootless-limits").exists(), "a refused container left its state");
    }
}

#[test]
fn mappings_beyond_the_users_ranges_are_refused_by_newuidmap() {
    let user = TestUser::new("e");
    let mut bundle = user.bundle("rootless-badmap", "true");
    bundle.edit(|c| {
        c["linux"]["uidMappings"] = json!([{ "containerID": 0, "hostID": 0, "size": 1 }]);
    });
    chown_tree(bundle.path(), user.uid, user.gid);
    let outcome = user.berth(&["run", "--bundle", &bundle.path().display().to_string(), "rootless-badmap"], bundle.path());
    outcome.failure();
    if !deliberate_difference("runc's message differs") {
        outcome.one_line_error_naming(&["linux.uidMappings", "newuidmap"]);
        assert!(!user.xdg_runtime_dir().join("berth/rootless-badmap").exists(), "a refused container left its state");
    }
}

/// Deletes a container of the user's when dropped, also when the test failed.
struct Deleted<'a> {
    user: &'a TestUser,
    id: &'a str,
    cwd: &'a std::path::Path,
}

impl Drop for Deleted<'_> {
    fn drop(&mut self) {
        let _ = self.user.berth(&["delete", "--force", self.id], self.cwd);
    }
}

/// CVE-2019-5736 for an unprivileged caller, to whom the mount API (the read-only view of
/// berth's binary) is refused: the waiting init runs from a write-sealed memfd copy instead.
#[test]
fn an_unprivileged_users_init_runs_from_a_sealed_copy_of_the_runtime() {
    let user = TestUser::new("e");
    let bundle = user.bundle("rootless-sealed", "true");
    let id = "rootless-sealed";
    let _delete = Deleted { user: &user, id, cwd: bundle.path() };
    user.berth(&["create", "--bundle", &bundle.path().display().to_string(), id], bundle.path()).success();
    let state = user.berth(&["state", id], bundle.path());
    state.success();
    let state: serde_json::Value = serde_json::from_str(&state.stdout).expect("state prints JSON");
    let pid = state["pid"].as_i64().expect("state has the init's pid") as i32;
    let exe = berth_e2e::inspect::exe_protection(pid);
    assert!(exe.is_sealed(), "the init runs from a writable binary: {exe:?}");
    if !deliberate_difference("runc 1.1 copies its binary whoever runs it") {
        assert!(exe.write_sealed && exe.link.starts_with("/memfd:"), "not the sealed copy: {exe:?}");
    }
}
