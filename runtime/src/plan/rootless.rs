//! `berth spec --rootless`: the default config turned into one an unprivileged user can run,
//! the changes runc's rootless template makes.

use serde_json::{json, Value};

/// Turn `config` (the default config) into the rootless template for the user `uid`:`gid`:
/// a user namespace mapping that user alone to root, no network namespace (an unprivileged
/// user cannot connect one), /sys bound from the host instead of mounted (sysfs needs a
/// network namespace the user namespace owns), no uid=/gid= mount options (ids the one-id
/// map lacks), and no resources (limits need a delegated cgroup).
pub fn to_rootless(config: &mut Value, uid: u32, gid: u32) {
    let linux = &mut config["linux"];
    if let Some(namespaces) = linux["namespaces"].as_array_mut() {
        namespaces.retain(|ns| ns["type"] != "network" && ns["type"] != "user");
        namespaces.push(json!({ "type": "user" }));
    }
    linux["uidMappings"] = json!([{ "containerID": 0, "hostID": uid, "size": 1 }]);
    linux["gidMappings"] = json!([{ "containerID": 0, "hostID": gid, "size": 1 }]);
    if let Some(object) = linux.as_object_mut() {
        object.remove("resources");
    }
    if let Some(mounts) = config["mounts"].as_array_mut() {
        mounts.retain(|m| !m["destination"].as_str().is_some_and(|d| d == "/sys" || d.starts_with("/sys/")));
        for m in mounts.iter_mut() {
            if let Some(options) = m["options"].as_array_mut() {
                options.retain(|o| !o.as_str().is_some_and(|o| o.starts_with("uid=") || o.starts_with("gid=")));
            }
        }
        mounts.push(json!({
            "destination": "/sys", "type": "none", "source": "/sys",
            "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]
        }));
    }
}
