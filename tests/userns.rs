//! User namespaces (runc's tests/integration/userns.bats, the runtime-spec's uid mappings):
//! the maps written before the process runs, container root as the mapped host user, what it
//! cannot touch on the host, devices bound from the host, sysfs and cgroups inside, joining a
//! user namespace by path, exec, and bad mappings refused.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use berth_e2e::binaries::deliberate_difference;
use berth_e2e::{fixture, run_foreground, run_script, Bundle, Container, TempDir};
use serde_json::json;

/// runc's userns.bats mapping: container 0.. to host 100000.. (uids) and 200000.. (gids).
const UID_BASE: u32 = 100_000;
const GID_BASE: u32 = 200_000;
const SIZE: u32 = 65_534;

/// Give the bundle a new user namespace with runc's mapping, and hand its rootfs to the
/// mapped ids (runc's remap-rootfs), as every user-namespaced bundle needs.
fn with_userns(bundle: &mut Bundle) {
    bundle.namespace("user", None);
    bundle.edit(|c| {
        c["linux"]["uidMappings"] = json!([{ "containerID": 0, "hostID": UID_BASE, "size": SIZE }]);
        c["linux"]["gidMappings"] = json!([{ "containerID": 0, "hostID": GID_BASE, "size": SIZE }]);
        // The tests write into the rootfs to see who owns what they make.
        c["root"]["readonly"] = json!(false);
    });
    remap(&bundle.rootfs(), UID_BASE, GID_BASE);
}

/// A running `sleep 600` container with a new user namespace, and its runtime.
fn userns_sleeper(tag: &str) -> (berth_e2e::Runtime, Container) {
    let (runtime, mut bundle, id) = fixture(tag);
    with_userns(&mut bundle);
    bundle.args(&["sleep", "600"]);
    let container = Container::new(&runtime, &bundle, &id);
    container.run(&["--detach"]).success();
    (runtime, container)
}

/// Shift every owner under `dir` (not following symlinks) by `uid` / `gid`.
fn remap(dir: &Path, uid: u32, gid: u32) {
    let meta = std::fs::symlink_metadata(dir).unwrap_or_else(|e| panic!("lstat {}: {e}", dir.display()));
    std::os::unix::fs::lchown(dir, Some(meta.uid() % 65536 + uid), Some(meta.gid() % 65536 + gid))
        .unwrap_or_else(|e| panic!("lchown {}: {e}", dir.display()));
    if meta.is_dir() {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("readdir {}: {e}", dir.display())) {
            remap(&entry.expect("dir entry").path(), uid, gid);
        }
    }
}

/// Join the user namespace at `path`. runc 1.1 wants the mappings repeated even then (runc
/// 1.2 and berth take the namespace's own); they are the namespace's, so berth accepts them.
fn join_userns(bundle: &mut Bundle, path: &str) {
    remap(&bundle.rootfs(), UID_BASE, GID_BASE);
    bundle.namespace("user", Some(Path::new(path)));
    if berth_e2e::binaries::testing_reference_runtime() {
        bundle.edit(|c| {
            c["linux"]["uidMappings"] = json!([{ "containerID": 0, "hostID": UID_BASE, "size": SIZE }]);
            c["linux"]["gidMappings"] = json!([{ "containerID": 0, "hostID": GID_BASE, "size": SIZE }]);
        });
    }
}

/// The overflow ids the kernel shows for an id not mapped in a user namespace.
fn overflow() -> (String, String) {
    let read = |f: &str| std::fs::read_to_string(format!("/proc/sys/kernel/{f}")).unwrap().trim().to_owned();
    (read("overflowuid"), read("overflowgid"))
}

#[test]
fn maps_are_written_and_the_process_is_root_of_its_namespace() {
    let out = run_script(
        "userns-maps",
        "cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g; readlink /proc/self/ns/user",
        with_userns,
    );
    let lines: Vec<Vec<&str>> = out.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines[0], ["0", "100000", "65534"], "uid_map:\n{out}");
    assert_eq!(lines[1], ["0", "200000", "65534"], "gid_map:\n{out}");
    assert_eq!(lines[2], ["0"], "the process is uid 0 of its namespace:\n{out}");
    assert_eq!(lines[3], ["0"], "gid 0:\n{out}");
    let host = std::fs::read_link("/proc/self/ns/user").unwrap();
    assert_ne!(lines[4][0], host.to_string_lossy(), "the container shares the host's user namespace");
}

#[test]
fn container_root_creates_files_as_the_mapped_host_ids() {
    let (runtime, mut bundle, id) = fixture("userns-owner");
    with_userns(&mut bundle);
    bundle.script("touch /tmp/made-inside && stat -c %u:%g /tmp/made-inside /dev/shm /dev/pts");
    let outcome = Container::new(&runtime, &bundle, &id).run(&[]);
    outcome.success();
    // Inside: root's own; the container's /dev/shm and devpts belong to its root too.
    let lines: Vec<&str> = outcome.stdout.lines().collect();
    assert_eq!(lines[0], "0:0", "inside:\n{outcome}");
    assert_eq!(lines[1], "0:0", "/dev/shm is the container root's:\n{outcome}");
    assert_eq!(lines[2], "0:0", "/dev/pts is the container root's:\n{outcome}");
    // Outside: the mapped host ids.
    let meta = std::fs::metadata(bundle.rootfs().join("tmp/made-inside")).expect("the file is in the rootfs");
    assert_eq!((meta.uid(), meta.gid()), (UID_BASE, GID_BASE));
}

#[test]
fn container_root_cannot_touch_host_owned_files() {
    // A host directory owned by host root, bind-mounted in; the container's root holds every
    // capability, but only over ids its namespace maps.
    let dir = TempDir::new("userns-hostfiles");
    std::fs::write(dir.path().join("secret"), "host data\n").unwrap();
    std::fs::set_permissions(dir.path().join("secret"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(dir.path().join("shared"), "readable\n").unwrap();
    std::fs::set_permissions(dir.path().join("shared"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ouid, ogid) = overflow();
    let script = "cd /host; stat -c %u:%g shared; cat shared; \
                  cat secret 2>/dev/null && echo READ-SECRET; \
                  echo x >> shared 2>/dev/null && echo WROTE; \
                  chown 0:0 shared 2>/dev/null && echo CHOWNED; \
                  chmod 666 secret 2>/dev/null && echo CHMODDED; \
                  rm -f shared 2>/dev/null && echo REMOVED; \
                  touch new 2>/dev/null && echo CREATED; \
                  grep CapEff /proc/self/status; echo done";
    let out = run_script("userns-hostfiles", script, |b| {
        with_userns(b);
        b.add_mount(json!({ "source": dir.path(), "destination": "/host", "options": ["bind"] }));
        b.edit(|c| {
            let all = json!(["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_SYS_ADMIN"]);
            for set in ["bounding", "effective", "permitted"] {
                c["process"]["capabilities"][set] = all.clone();
            }
        });
    });
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("{ouid}:{ogid}"), "host root shows as the overflow ids:\n{out}");
    assert_eq!(lines[1], "readable", "world-readable host files stay readable:\n{out}");
    for forbidden in ["READ-SECRET", "WROTE", "CHOWNED", "CHMODDED", "REMOVED", "CREATED"] {
        assert!(!out.contains(forbidden), "container root could {forbidden} on the host:\n{out}");
    }
    assert!(out.contains("CapEff:\t00000000002"), "the test gave root its capabilities inside:\n{out}");
    assert!(out.ends_with("done\n"), "{out}");
    assert_eq!(std::fs::read_to_string(dir.path().join("shared")).unwrap(), "readable\n");
    let meta = std::fs::metadata(dir.path().join("secret")).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (0, 0o600));
}

#[test]
fn devices_are_the_hosts_nodes_bound_in() {
    let script = "echo data > /dev/null && echo null-ok; head -c 4 /dev/zero | od -An -tx1; \
                  grep -E ' /dev/(null|zero|tty) ' /proc/self/mountinfo | wc -l";
    let out = run_script("userns-dev", script, with_userns);
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(lines[0], "null-ok", "{out}");
    assert_eq!(lines[1], "00 00 00 00", "{out}");
    // mknod is refused in a user namespace: each node is a bind mount of the host's.
    assert_eq!(lines[2], "3", "null, zero and tty are bind mounts:\n{out}");
}

#[test]
fn sysfs_is_fresh_with_a_network_namespace_and_the_hosts_without_one() {
    let script = "ls /sys/class/net | sort | tr '\\n' ' '; echo; grep ' /sys ' /proc/self/mountinfo";
    let own = run_script("userns-sysfs-net", script, with_userns);
    assert!(own.starts_with("lo \n"), "a network namespace of its own shows only lo:\n{own}");
    if deliberate_difference("runc 1.1 mounts sysfs fresh without a network namespace, which the kernel refuses (runc 1.2 binds /sys)") {
        return;
    }
    let host_ifaces: Vec<String> = std::fs::read_dir("/sys/class/net").unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    let shared = run_script("userns-sysfs-host", script, |b| {
        with_userns(b);
        b.without_namespace("network");
    });
    for iface in &host_ifaces {
        assert!(shared.contains(iface.as_str()), "the host's {iface} missing from /sys without a netns:\n{shared}");
    }
    assert!(shared.contains(" /sys ro,"), "/sys stays read-only:\n{shared}");
}

#[test]
fn cgroup_namespace_and_mount_work_inside() {
    let script = "cat /proc/self/cgroup | grep -v '::/$' | grep -vc ':/$'; ls /sys/fs/cgroup | wc -l";
    let out = run_script("userns-cgroupns", script, |b| {
        with_userns(b);
        b.namespace("cgroup", None);
    });
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(lines[0], "0", "every hierarchy is rooted at the container's cgroup:\n{out}");
    assert_ne!(lines[1], "0", "/sys/fs/cgroup is mounted:\n{out}");
    // Without a cgroup namespace (runc's "bind mount before a cgroupfs mount" case).
    let out = run_script("userns-cgroup-bind", "cat /sys/fs/cgroup/pids/tasks | wc -l", |b| {
        with_userns(b);
        b.without_namespace("cgroup");
    });
    assert_ne!(out.trim(), "0", "the container's own pids cgroup is bound in:\n{out}");
}

#[test]
fn join_the_user_namespace_of_another_container() {
    let (_runtime, target) = userns_sleeper("userns-target");
    let pid = target.pid();
    let userns = format!("/proc/{pid}/ns/user");
    let script = "cat /proc/self/uid_map /proc/self/gid_map; readlink /proc/self/ns/user; id -u";
    let out = run_script("userns-join", script, |b| join_userns(b, &userns));
    let lines: Vec<Vec<&str>> = out.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines[0], ["0", "100000", "65534"], "{out}");
    assert_eq!(lines[1], ["0", "200000", "65534"], "{out}");
    assert_eq!(lines[2][0], std::fs::read_link(&userns).unwrap().to_string_lossy(), "{out}");
    assert_eq!(lines[3], ["0"], "{out}");
}

#[test]
fn join_a_user_namespace_and_a_network_namespace_it_does_not_own() {
    // runc's "userns join external namespaces [wrong userns owner]": the host's network
    // namespace is owned by the host's user namespace, not the joined one.
    if deliberate_difference("runc 1.1 joins the user namespace before a network namespace it does not own, which the kernel then refuses (runc issue 4390, fixed in 1.2)") {
        return;
    }
    let (_runtime, target) = userns_sleeper("userns-owner-target");
    let userns = format!("/proc/{}/ns/user", target.pid());
    let out = run_script("userns-owner-join", "readlink /proc/self/ns/user; readlink /proc/self/ns/net", |b| {
        join_userns(b, &userns);
        b.namespace("network", Some(Path::new("/proc/self/ns/net")));
        b.edit(|c| {
            for m in c["mounts"].as_array_mut().unwrap() {
                if m["type"] == "sysfs" {
                    *m = json!({ "source": "/sys", "destination": "/sys", "type": "bind", "options": ["rbind", "ro"] });
                }
            }
        });
    });
    let host_net = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_eq!(out, format!("{}\n{}\n", std::fs::read_link(&userns).unwrap().display(), host_net.display()));
}

#[test]
fn exec_enters_the_user_namespace() {
    let (runtime, container) = userns_sleeper("userns-exec");
    let outcome = runtime.exec(["exec", container.id(), "sh", "-c", "id -u; cat /proc/self/uid_map; readlink /proc/self/ns/user"]);
    outcome.success();
    let lines: Vec<&str> = outcome.stdout.lines().collect();
    assert_eq!(lines[0], "0", "{outcome}");
    assert_eq!(lines[1].split_whitespace().collect::<Vec<_>>(), ["0", "100000", "65534"], "{outcome}");
    let init_ns = std::fs::read_link(format!("/proc/{}/ns/user", container.pid())).unwrap();
    assert_eq!(lines[2], init_ns.to_string_lossy(), "{outcome}");
}

#[test]
fn a_non_root_process_user_in_the_namespace() {
    let out = run_script("userns-user", "id -u; id -g; touch /tmp/x && stat -c %u:%g /tmp/x", |b| {
        with_userns(b);
        b.edit(|c| c["process"]["user"] = json!({ "uid": 1000, "gid": 1000 }));
    });
    assert_eq!(out, "1000\n1000\n1000:1000\n");
}

#[test]
fn bad_mappings_are_refused_naming_the_field() {
    type Case = (&'static str, fn(&mut Bundle));
    let cases: [Case; 4] = [
        ("linux.uidMappings", |b| {
            b.edit(|c| c["linux"]["uidMappings"] = json!([{ "containerID": 0, "hostID": UID_BASE, "size": 10 }]));
        }),
        ("linux.uidMappings", |b| {
            b.namespace("user", None);
            b.edit(|c| c["linux"]["gidMappings"] = json!([{ "containerID": 0, "hostID": GID_BASE, "size": 10 }]));
        }),
        ("linux.uidMappings[1].containerID", |b| {
            b.namespace("user", None);
            b.edit(|c| {
                c["linux"]["uidMappings"] = json!([
                    { "containerID": 0, "hostID": UID_BASE, "size": 10 },
                    { "containerID": 5, "hostID": UID_BASE + 100, "size": 10 }
                ]);
                c["linux"]["gidMappings"] = json!([{ "containerID": 0, "hostID": GID_BASE, "size": 10 }]);
            });
        }),
        ("linux.gidMappings[0].size", |b| {
            b.namespace("user", None);
            b.edit(|c| {
                c["linux"]["uidMappings"] = json!([{ "containerID": 0, "hostID": UID_BASE, "size": 10 }]);
                c["linux"]["gidMappings"] = json!([{ "containerID": 0, "hostID": GID_BASE, "size": 0 }]);
            });
        }),
    ];
    for (i, (field, edit)) in cases.into_iter().enumerate() {
        if i == 0 && deliberate_difference("runc 1.1 ignores uidMappings without a user namespace") {
            continue;
        }
        let (runtime, mut bundle, id) = fixture("userns-bad");
        edit(&mut bundle);
        let outcome = Container::new(&runtime, &bundle, &id).run(&[]);
        outcome.failure();
        if !deliberate_difference("berth refuses bad id mappings in one line naming the field") {
            outcome.one_line_error_naming(&[field]);
        }
        assert!(runtime.exec(["list", "-q"]).stdout.trim().is_empty(), "a refused container was left behind");
    }
}

#[test]
fn mappings_a_joined_namespace_does_not_have_are_refused() {
    let (_runtime, target) = userns_sleeper("userns-mismatch-target");
    let userns = format!("/proc/{}/ns/user", target.pid());
    let outcome = run_foreground("userns-mismatch", |b| {
        remap(&b.rootfs(), UID_BASE, GID_BASE);
        b.namespace("user", Some(Path::new(&userns)));
        b.edit(|c| {
            c["linux"]["uidMappings"] = json!([{ "containerID": 0, "hostID": 300_000, "size": SIZE }]);
            c["linux"]["gidMappings"] = json!([{ "containerID": 0, "hostID": GID_BASE, "size": SIZE }]);
        });
    });
    if !deliberate_difference("runc 1.1 ignores mappings given with a joined user namespace") {
        outcome.failure();
        outcome.one_line_error_naming(&["linux.uidMappings", "300000"]);
    }
}
