//! `berth features`: the runtime-spec features document (the one runc 1.2 prints and
//! containerd reads), built from the same tables the plan validates against, so it lists
//! what this binary accepts and nothing else (tests/features.rs checks each claim).

use crate::plan::{self, seccomp, Stage};
use serde_json::{json, Value};

/// The features document of this binary on this host.
pub fn document() -> Value {
    // What a container can be given here: the capabilities this kernel has that are still in
    // our own bounding set (a host may withhold some, as this project's does CAP_SYS_RESOURCE).
    let bounding = caps::read(None, caps::CapSet::Bounding).unwrap_or_default();
    let mut capabilities: Vec<String> =
        caps::runtime::thread_all_supported().into_iter().filter(|c| bounding.contains(c)).map(|c| c.to_string()).collect();
    capabilities.sort();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": Stage::ALL.iter().map(|s| s.name()).collect::<Vec<_>>(),
        "mountOptions": plan::mount_option_names(),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": capabilities,
            "cgroup": { "v1": true, "v2": true, "systemd": true, "systemdUser": false, "rdma": true },
            "seccomp": {
                "enabled": true,
                "actions": seccomp::ACTIONS,
                "operators": seccomp::OPERATORS,
                "archs": seccomp::ARCHITECTURES,
                "knownFlags": seccomp::KNOWN_FLAGS,
                "supportedFlags": seccomp::SUPPORTED_FLAGS,
            },
            // Labels are applied where the host runs the module and refused where it does not.
            "apparmor": { "enabled": plan::lsm::apparmor_enabled() },
            "selinux": { "enabled": plan::lsm::selinux_enabled() },
            "intelRdt": { "enabled": false },
            "mountExtensions": { "idmap": { "enabled": true } },
        },
        "annotations": {
            "org.berth.version": env!("CARGO_PKG_VERSION"),
            // berth's own config annotations and what they take.
            plan::ROOTFS_IDMAP_ANNOTATION: "idmap|ridmap",
        },
    })
}
