//! Mounts from config.json, checked in the container's /proc/self/mountinfo:
//! bind and rbind, tmpfs, proc, sysfs, mqueue, devpts, cgroup, their flags,
//! recursive read-only, and destinations that try to leave the rootfs.

use std::path::Path;
use std::process::Command;

use berth_e2e::inspect::{host_mounts_under, mount_at, parse_mountinfo, MountEntry};
use berth_e2e::{fixture, run_script, Container, TempDir};
use serde_json::json;

/// The container's mountinfo after `edit`, parsed.
fn mounts_with(tag: &str, edit: impl FnOnce(&mut berth_e2e::Bundle)) -> Vec<MountEntry> {
    parse_mountinfo(&run_script(tag, "cat /proc/self/mountinfo", edit))
}

#[track_caller]
fn mount<'a>(mounts: &'a [MountEntry], point: &str) -> &'a MountEntry {
    mount_at(mounts, point).unwrap_or_else(|| panic!("no mount at {point} in {mounts:#?}"))
}

/// A host directory holding `file` and, mounted on `sub/`, a tmpfs holding
/// `subfile`: a tree for bind and rbind to copy. The tmpfs is ours and goes
/// when the TempDir is dropped.
fn host_tree(tag: &str) -> TempDir {
    let dir = TempDir::new(tag);
    std::fs::write(dir.path().join("file"), "from the host\n").unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "e2e-sub"])
        .arg(dir.path().join("sub"))
        .status()
        .expect("spawn mount");
    assert!(status.success(), "mounting the test's own tmpfs failed");
    std::fs::write(dir.path().join("sub/subfile"), "below a submount\n").unwrap();
    dir
}

fn bind(destination: &str, source: &Path, options: &[&str]) -> serde_json::Value {
    json!({ "destination": destination, "type": "bind", "source": source, "options": options })
}

#[test]
fn bind_mount_read_only_shows_host_files_and_refuses_writes() {
    let host = host_tree("mnt-bind-src");
    let out = run_script(
        "mnt-bind",
        "cat /mnt/bind/file; touch /mnt/bind/new 2>/dev/null && echo writable || echo readonly; \
         ls /mnt/bind/sub; echo ---; cat /proc/self/mountinfo",
        |b| {
            b.add_mount(bind("/mnt/bind", host.path(), &["bind", "ro"]));
        },
    );
    let (head, mountinfo) = out.split_once("---\n").unwrap();
    // A plain bind does not carry the submount: sub/ is the empty directory below it.
    assert_eq!(head, "from the host\nreadonly\n");
    let mounts = parse_mountinfo(mountinfo);
    assert!(mount(&mounts, "/mnt/bind").has_option("ro"));
    assert!(
        mount_at(&mounts, "/mnt/bind/sub").is_none(),
        "bind is not recursive"
    );
    assert!(!host.path().join("new").exists());
}

#[test]
fn rbind_mount_carries_submounts() {
    let host = host_tree("mnt-rbind-src");
    let out = run_script(
        "mnt-rbind",
        "cat /mnt/r/sub/subfile; echo ---; cat /proc/self/mountinfo",
        |b| {
            b.add_mount(bind("/mnt/r", host.path(), &["rbind"]));
        },
    );
    let (head, mountinfo) = out.split_once("---\n").unwrap();
    assert_eq!(head, "below a submount\n");
    let mounts = parse_mountinfo(mountinfo);
    assert_eq!(mount(&mounts, "/mnt/r/sub").fstype, "tmpfs");
}

#[test]
fn rro_makes_submounts_read_only_too() {
    let host = host_tree("mnt-rro-src");
    let mounts = mounts_with("mnt-rro", |b| {
        b.add_mount(bind("/mnt/rro", host.path(), &["rbind", "rro"]));
        b.add_mount(bind("/mnt/ro", host.path(), &["rbind", "ro"]));
    });
    assert!(mount(&mounts, "/mnt/rro").has_option("ro"));
    assert!(
        mount(&mounts, "/mnt/rro/sub").has_option("ro"),
        "rro must reach the submount"
    );
    // Plain ro changes only the top mount, which is why rro exists.
    assert!(mount(&mounts, "/mnt/ro").has_option("ro"));
    assert!(mount(&mounts, "/mnt/ro/sub").has_option("rw"));
    // The host's own submount is untouched.
    let host_sub = host.path().join("sub");
    let host_mounts = berth_e2e::inspect::host_mounts();
    assert!(mount(&host_mounts, host_sub.to_str().unwrap()).has_option("rw"));
}

#[test]
fn tmpfs_takes_size_mode_and_flags() {
    let out = run_script(
        "mnt-tmpfs",
        "stat -c %a /mnt/t; echo ---; cat /proc/self/mountinfo",
        |b| {
            b.add_mount(json!({
                "destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs",
                "options": ["size=1m", "mode=700", "nosuid", "nodev", "noexec"]
            }));
        },
    );
    let (mode, mountinfo) = out.split_once("---\n").unwrap();
    assert_eq!(mode, "700\n");
    let mounts = parse_mountinfo(mountinfo);
    let t = mount(&mounts, "/mnt/t");
    assert_eq!(t.fstype, "tmpfs");
    assert!(t.has_super_option("size=1024k"), "{t:?}");
    assert!(t.has_super_option("mode=700"), "{t:?}");
    for flag in ["rw", "nosuid", "nodev", "noexec"] {
        assert!(t.has_option(flag), "{flag} missing: {t:?}");
    }
}

#[test]
fn ro_tmpfs_is_read_only() {
    let out = run_script(
        "mnt-tmpfs-ro",
        "touch /mnt/t/x 2>/dev/null && echo writable || echo readonly",
        |b| {
            b.add_mount(json!({
                "destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs", "options": ["ro"]
            }));
        },
    );
    assert_eq!(out, "readonly\n");
}

#[test]
fn atime_options_reach_the_mount() {
    let mounts = mounts_with("mnt-atime", |b| {
        for (point, option) in [
            ("/mnt/strict", "strictatime"),
            ("/mnt/noatime", "noatime"),
            ("/mnt/relatime", "relatime"),
        ] {
            b.add_mount(json!({
                "destination": point, "type": "tmpfs", "source": "tmpfs", "options": [option]
            }));
        }
    });
    let strict = mount(&mounts, "/mnt/strict");
    assert!(
        !strict.has_option("relatime") && !strict.has_option("noatime"),
        "{strict:?}"
    );
    assert!(mount(&mounts, "/mnt/noatime").has_option("noatime"));
    assert!(mount(&mounts, "/mnt/relatime").has_option("relatime"));
}

#[test]
fn propagation_options_reach_the_mount() {
    let mounts = mounts_with("mnt-propagation", |b| {
        for (point, option) in [
            ("/mnt/shared", "shared"),
            ("/mnt/private", "private"),
            ("/mnt/unbindable", "unbindable"),
        ] {
            b.add_mount(json!({
                "destination": point, "type": "tmpfs", "source": "tmpfs", "options": [option]
            }));
        }
    });
    assert!(mount(&mounts, "/mnt/shared").is_shared());
    let private = mount(&mounts, "/mnt/private");
    assert!(!private.is_shared() && !private.is_slave(), "{private:?}");
    assert!(mount(&mounts, "/mnt/unbindable")
        .optional
        .iter()
        .any(|o| o == "unbindable"));
}

#[test]
fn default_mounts_have_their_types_and_flags() {
    let mounts = mounts_with("mnt-defaults", |_| {});
    let proc = mount(&mounts, "/proc");
    assert_eq!(proc.fstype, "proc");
    let dev = mount(&mounts, "/dev");
    assert_eq!(dev.fstype, "tmpfs");
    assert!(
        dev.has_option("nosuid") && dev.has_super_option("mode=755"),
        "{dev:?}"
    );
    let pts = mount(&mounts, "/dev/pts");
    assert_eq!(pts.fstype, "devpts");
    assert!(
        pts.has_option("noexec") && pts.has_option("nosuid"),
        "{pts:?}"
    );
    for wanted in ["gid=5", "mode=620", "ptmxmode=666"] {
        assert!(pts.has_super_option(wanted), "{wanted}: {pts:?}");
    }
    let shm = mount(&mounts, "/dev/shm");
    assert_eq!(shm.fstype, "tmpfs");
    assert!(
        shm.has_option("nodev") && shm.has_super_option("size=65536k"),
        "{shm:?}"
    );
    let mqueue = mount(&mounts, "/dev/mqueue");
    assert_eq!(mqueue.fstype, "mqueue");
    assert!(mqueue.has_option("noexec"), "{mqueue:?}");
    let sys = mount(&mounts, "/sys");
    assert_eq!(sys.fstype, "sysfs");
    assert!(sys.has_option("ro") && sys.has_option("nosuid"), "{sys:?}");
    // A cgroup mount: cgroup v1 hierarchies under a tmpfs, or one cgroup2.
    let cgroups: Vec<&MountEntry> = mounts
        .iter()
        .filter(|m| m.mount_point.starts_with("/sys/fs/cgroup") && m.fstype.starts_with("cgroup"))
        .collect();
    assert!(
        !cgroups.is_empty(),
        "no cgroup mount under /sys/fs/cgroup: {mounts:#?}"
    );
    for cgroup in cgroups {
        assert!(
            cgroup.has_option("ro") && cgroup.has_option("nosuid"),
            "{cgroup:?}"
        );
    }
}

#[test]
fn cgroup_mount_shows_the_container_own_cgroup_as_root() {
    let out = run_script(
        "mnt-cgroup-own",
        "ls /sys/fs/cgroup/memory/ | grep -c '^cgroup.procs$'; cat /sys/fs/cgroup/memory/cgroup.procs; true",
        |_| {},
    );
    // cgroup.procs at the mount's root lists the container's own processes
    // only: the shell (pid 1) and cat.
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("1"), "{out}");
    let pids: Vec<&str> = lines.collect();
    assert!(pids.contains(&"1") && pids.len() == 2, "{out}");
}

#[test]
fn mqueue_and_sysfs_mounts_of_their_own() {
    let mounts = mounts_with("mnt-types", |b| {
        b.add_mount(json!({ "destination": "/mnt/mq", "type": "mqueue", "source": "mqueue", "options": ["nosuid"] }));
        b.add_mount(json!({ "destination": "/mnt/sys", "type": "sysfs", "source": "sysfs", "options": ["ro", "nodev"] }));
        b.add_mount(json!({ "destination": "/mnt/proc", "type": "proc", "source": "proc", "options": ["nosuid"] }));
    });
    assert_eq!(mount(&mounts, "/mnt/mq").fstype, "mqueue");
    assert!(mount(&mounts, "/mnt/sys").has_option("ro"));
    assert_eq!(mount(&mounts, "/mnt/proc").fstype, "proc");
}

/// A destination through a symlink that points out of the rootfs must never
/// become a mount on the host: the runtime either resolves it inside the
/// rootfs (runc does) or refuses it (berth does), and the host target stays
/// untouched.
fn assert_symlink_escape_is_contained(tag: &str, link_target: impl Fn(&Path) -> String) {
    let (runtime, mut bundle, id) = fixture(tag);
    let outside = TempDir::new(&format!("{tag}-outside"));
    std::fs::write(outside.path().join("keep"), "host data\n").unwrap();
    let target = link_target(outside.path());
    std::os::unix::fs::symlink(&target, bundle.rootfs().join("escape")).unwrap();
    bundle.add_mount(json!({
        "destination": "/escape/mnt", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]
    }));
    bundle.script("true");
    let outcome = Container::new(&runtime, &bundle, &id).run(&[]);
    assert!(
        host_mounts_under(outside.path()).is_empty(),
        "host mount made:\n{outcome}"
    );
    let entries: Vec<_> = std::fs::read_dir(outside.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        entries,
        ["keep"],
        "host dir changed through {target}:\n{outcome}"
    );
    if !outcome.status.success() {
        outcome.one_line_error_naming(&["/escape/mnt"]);
    }
    berth_e2e::leftovers::assert_nothing_left(&runtime, &id, bundle.path(), &id);
}

#[test]
fn mount_through_an_absolute_symlink_stays_in_the_rootfs() {
    assert_symlink_escape_is_contained("mnt-escape-abs", |outside| outside.display().to_string());
}

#[test]
fn mount_through_a_dotdot_symlink_stays_in_the_rootfs() {
    assert_symlink_escape_is_contained("mnt-escape-dotdot", |outside| {
        format!("../../../../../../../../..{}", outside.display())
    });
}

#[test]
fn masked_and_readonly_paths_apply() {
    let out = run_script(
        "mnt-masked",
        "wc -c < /proc/keys; wc -c < /proc/timer_list; ls /sys/firmware | wc -l; \
         echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo writable || echo readonly; \
         echo ---; cat /proc/self/mountinfo",
        |_| {},
    );
    let (head, mountinfo) = out.split_once("---\n").unwrap();
    // Masked files read as /dev/null (the host's /proc/timer_list is never
    // empty), /sys/firmware is an empty directory, /proc/sys refuses writes.
    assert_eq!(
        head.split_whitespace().collect::<Vec<_>>(),
        ["0", "0", "0", "readonly"]
    );
    let mounts = parse_mountinfo(mountinfo);
    assert!(mount(&mounts, "/proc/sys").has_option("ro"));
    assert!(mount(&mounts, "/sys/firmware").has_option("ro"));
}

#[test]
fn sysctls_are_written_in_the_containers_namespaces() {
    let out = run_script(
        "sysctl",
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax",
        |b| {
            b.edit(|c| {
                c["linux"]["sysctl"] =
                    json!({ "net.ipv4.ip_forward": "1", "kernel.msgmax": "4321" });
            });
        },
    );
    assert_eq!(out, "1\n4321\n");
    let host = std::fs::read_to_string("/proc/sys/kernel/msgmax").unwrap();
    assert_ne!(host.trim(), "4321", "the host's ipc namespace changed");
}
