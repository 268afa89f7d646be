//! config.json `linux.sysctl`: only kernel parameters a namespace of the container's own
//! isolates may be set, with runc's rules; any other would be written to the host's kernel.
//!
//! - the System V IPC ones (`kernel.msgmax`, `kernel.msgmnb`, `kernel.msgmni`, `kernel.sem`,
//!   `kernel.shmall`, `kernel.shmmax`, `kernel.shmmni`, `kernel.shm_rmid_forced`) and
//!   `fs.mqueue.*`: with an ipc namespace;
//! - `net.*`: with a network namespace that is not the host's (a new one, or one joined by
//!   path that is not the one berth itself runs in);
//! - `kernel.domainname`, and `kernel.hostname` when config.json sets no `hostname`: with a
//!   uts namespace;
//! - everything else (`vm.*`, `fs.*`, the rest of `kernel.*`) is refused.
//!
//! Names may use `/` for `.` (as /proc/sys paths do, where an interface name like `eth0.100`
//! keeps its dot); the rules read them dotted, the plan keeps them as written.

use super::{NamespacePlan, SpecError};
use std::os::unix::fs::MetadataExt;

const IPC_SYSCTLS: [&str; 8] =
    ["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"];

/// Validate `linux.sysctl` against the container's namespaces; returns (name, value) pairs.
pub(super) fn plan(
    sysctl: &std::collections::HashMap<String, String>,
    namespaces: &NamespacePlan,
    hostname_set: bool,
) -> Result<Vec<(String, String)>, SpecError> {
    let mut planned = Vec::with_capacity(sysctl.len());
    for (key, value) in sysctl {
        let field = || format!("linux.sysctl.{key}");
        let name = key.replace('/', ".");
        if name.is_empty() || name.split('.').any(|part| part.is_empty() || part == "..") {
            return Err(SpecError::invalid(field(), "not a valid sysctl name"));
        }
        if value.len() > 4096 {
            return Err(SpecError::invalid(field(), "value longer than a page (4096 bytes)"));
        }
        isolated(&name, namespaces, hostname_set).map_err(|why| SpecError::invalid(field(), why))?;
        planned.push((key.clone(), value.clone()));
    }
    // One order whatever the map's: the writes are reproducible.
    planned.sort();
    Ok(planned)
}

/// Ok when a namespace of the container's own isolates `name`; else why not.
fn isolated(name: &str, namespaces: &NamespacePlan, hostname_set: bool) -> Result<(), String> {
    let needs = |flag: libc::c_int, kind: &str| {
        if namespaces.has(flag) {
            Ok(())
        } else {
            Err(format!("is not allowed in the host's {kind} namespace (the container has none of its own)"))
        }
    };
    if IPC_SYSCTLS.contains(&name) || name.starts_with("fs.mqueue.") {
        return needs(libc::CLONE_NEWIPC, "ipc");
    }
    if name.starts_with("net.") {
        needs(libc::CLONE_NEWNET, "network")?;
        return if joins_host_network(namespaces) {
            Err("is not allowed: the network namespace joined by path is the host's".into())
        } else {
            Ok(())
        };
    }
    match name {
        "kernel.domainname" => needs(libc::CLONE_NEWUTS, "uts"),
        "kernel.hostname" if hostname_set => Err("conflicts with the hostname field; set one of the two".into()),
        "kernel.hostname" => needs(libc::CLONE_NEWUTS, "uts"),
        _ => Err("is not in a separate kernel namespace: it would change the host's kernel".into()),
    }
}

/// Is the network namespace the container joins by path the one berth runs in?
fn joins_host_network(namespaces: &NamespacePlan) -> bool {
    let Some(join) = namespaces.joins.iter().find(|j| j.flag == nix::sched::CloneFlags::CLONE_NEWNET) else {
        return false;
    };
    let (Ok(joined), Ok(own)) = (join.file.metadata(), std::fs::metadata("/proc/self/ns/net")) else {
        // Cannot tell: assume the worst, as this decides whether the host's stack is changed.
        return true;
    };
    joined.dev() == own.dev() && joined.ino() == own.ino()
}
