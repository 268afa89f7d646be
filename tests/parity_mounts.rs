//! Mount behaviour managers rely on (runc's mounts.bats, mounts_propagation.bats, dev.bats;
//! podman's --tmpfs and --read-only, buildah's -v): tmpcopyup, empty options, a tmpfs taking
//! the mode of the directory it covers, a read-only /dev, and rshared root propagation.

use berth_e2e::inspect::{mount_at, parse_mountinfo};
use berth_e2e::{fixture, run_script, Container, TempDir};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

fn tmpfs(destination: &str, options: &[&str]) -> serde_json::Value {
    json!({ "destination": destination, "type": "tmpfs", "source": "tmpfs", "options": options })
}

#[test]
fn tmpcopyup_starts_the_tmpfs_with_what_the_directory_held() {
    let out = run_script(
        "mnt-copyup",
        "cat /opt/data/file; readlink /opt/data/link; stat -c '%a %u' /opt/data/sub; cat /opt/data/sub/inner; \
         grep ' /opt/data ' /proc/self/mountinfo | grep -c tmpfs",
        |b| {
            let dir = b.rootfs().join("opt/data");
            std::fs::create_dir_all(dir.join("sub")).unwrap();
            std::fs::write(dir.join("file"), "image file\n").unwrap();
            std::fs::write(dir.join("sub/inner"), "nested\n").unwrap();
            std::os::unix::fs::symlink("/etc/passwd", dir.join("link")).unwrap();
            std::fs::set_permissions(dir.join("sub"), std::fs::Permissions::from_mode(0o750)).unwrap();
            std::os::unix::fs::chown(dir.join("sub"), Some(42), None).unwrap();
            b.add_mount(tmpfs("/opt/data", &["tmpcopyup", "nosuid"]));
        },
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, ["image file", "/etc/passwd", "750 42", "nested", "1"], "{out}");
}

#[test]
fn empty_mount_options_are_skipped() {
    // buildah -v sends empty strings among the options.
    let out = run_script("mnt-empty-opt", "grep ' /mnt/e ' /proc/self/mountinfo", |b| {
        b.add_mount(tmpfs("/mnt/e", &["", "nosuid", ""]));
    });
    assert!(out.contains("nosuid"), "{out}");
}

#[test]
fn a_tmpfs_takes_the_mode_of_the_directory_it_covers() {
    let out = run_script("mnt-tmpfs-mode", "stat -c %a /covered /explicit", |b| {
        for dir in ["covered", "explicit"] {
            let path = b.rootfs().join(dir);
            std::fs::create_dir_all(&path).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o710)).unwrap();
        }
        b.add_mount(tmpfs("/covered", &[]));
        // An explicit mode= still wins.
        b.add_mount(tmpfs("/explicit", &["mode=755"]));
    });
    let modes: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(modes[0], "710", "{out}");
    if !berth_e2e::binaries::deliberate_difference("runc 1.1 chmods the tmpfs to the covered mode even over mode= (runc 1.2 lets mode= win)") {
        assert_eq!(modes[1], "755", "{out}");
    }
}

#[test]
fn a_read_only_dev_still_gets_its_devices() {
    // runc's dev.bats "runc run [redundant default /dev/tty]" family: /dev mounted "ro".
    let out = run_script("mnt-ro-dev", "ls /dev/null /dev/zero; touch /dev/x 2>/dev/null && echo writable || echo readonly; grep ' /dev ' /proc/self/mountinfo", |b| {
        b.edit(|c| {
            for m in c["mounts"].as_array_mut().unwrap() {
                if m["destination"] == "/dev" {
                    m["options"].as_array_mut().unwrap().push(json!("ro"));
                }
            }
        });
    });
    assert!(out.contains("/dev/null") && out.contains("/dev/zero"), "{out}");
    assert!(out.contains("readonly"), "{out}");
    let mounts = parse_mountinfo(out.lines().last().unwrap_or_default());
    assert!(mount_at(&mounts, "/dev").is_some_and(|m| m.has_option("ro")), "{out}");
}

/// A host directory that is a shared mount of its own; lazily unmounted (with whatever
/// propagated into it) when the TempDir drops.
fn shared_host_dir(tag: &str) -> TempDir {
    let dir = TempDir::new(tag);
    let run = |args: &[&str]| {
        let status = Command::new("mount").args(args).arg(dir.path()).status().expect("spawn mount");
        assert!(status.success(), "mount {args:?} failed");
    };
    run(&["--bind", dir.path().to_str().unwrap()]);
    run(&["--make-shared"]);
    dir
}

#[test]
fn rshared_root_propagation_carries_container_mounts_to_the_host() {
    // Bidirectional propagation (docker's rshared volumes): with rootfsPropagation rshared,
    // a mount the container makes below an rshared bind of a shared host mount appears on
    // the host.
    let host = shared_host_dir("mnt-rshared");
    let (runtime, mut bundle, id) = fixture("mnt-rshared");
    bundle.add_mount(json!({ "destination": "/shared", "type": "bind", "source": host.path(), "options": ["rbind", "rshared"] }));
    bundle.edit(|c| {
        c["linux"]["rootfsPropagation"] = json!("rshared");
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set].as_array_mut().unwrap().push(json!("CAP_SYS_ADMIN"));
        }
    });
    bundle.script("mkdir -p /shared/sub && mount -t tmpfs -o size=1m e2e-rshared /shared/sub && echo hi > /shared/sub/from-container; sleep 600");
    let container = Container::new(&runtime, &bundle, &id);
    container.run(&["--detach"]).success();
    let seen = berth_e2e::poll::until(berth_e2e::poll::STATE_TIMEOUT, || {
        std::fs::read_to_string(host.path().join("sub/from-container")).ok()
    });
    container.kill(&[], Some("KILL")).success();
    assert_eq!(seen.as_deref(), Some("hi\n"), "the container's mount never reached the host");
    let root = parse_mountinfo(&run_script("mnt-rshared-root", "cat /proc/self/mountinfo", |b| {
        b.edit(|c| c["linux"]["rootfsPropagation"] = json!("rshared"));
    }));
    if !berth_e2e::binaries::deliberate_difference("runc 1.1.5 leaves this read-only / without a peer group (the propagation to the host above works)") {
        assert!(mount_at(&root, "/").is_some_and(|m| m.is_shared()), "/ is not shared: {root:#?}");
    }
}

#[test]
fn mounts_in_the_hosts_mount_namespace_are_made_and_removed_on_delete() {
    // runc's host-mntns.bats "runc run [host mount ns + hooks]". Not run against runc here:
    // runc makes the host's / rslave in that case, which would change this shared machine.
    if berth_e2e::binaries::deliberate_difference("runc changes the host's / propagation without a mount namespace") {
        return;
    }
    let (runtime, mut bundle, id) = fixture("mnt-hostns");
    let hook_dir = TempDir::new("mnt-hostns-hook");
    let marker = hook_dir.path().join("createRuntime");
    bundle.without_namespace("mount");
    bundle.script("grep -c . /proc/self/mountinfo >/dev/null && ls /dev/null && echo hello");
    bundle.edit(|c| {
        c["linux"]["maskedPaths"] = json!([]);
        c["linux"]["readonlyPaths"] = json!([]);
        c["hooks"] = json!({ "createRuntime": [{ "path": "/bin/sh", "args": ["sh", "-c", format!("touch {}", marker.display())] }] });
    });
    let container = Container::new(&runtime, &bundle, &id);
    let outcome = container.run(&[]);
    outcome.success();
    assert!(outcome.stdout.contains("hello"), "{outcome}");
    assert!(marker.exists(), "the createRuntime hook did not run");
    let left = berth_e2e::inspect::host_mounts_under(bundle.path());
    assert!(left.is_empty(), "mounts left on the host: {left:#?}");
}

#[test]
fn mounts_go_into_a_mount_namespace_joined_by_path() {
    if berth_e2e::binaries::deliberate_difference("runc 1.1 pivots in a joined mount namespace and fails (EBUSY)") {
        return;
    }
    let (runtime, _bundle, first) = berth_e2e::sleeper("mnt-join-a");
    first.run(&["--detach"]).success();
    let (_, mut bundle, id) = fixture("mnt-join-b");
    // The pid namespace too: mounts go through /proc/self/fd, which must be ours in the
    // joined namespace's /proc.
    for (kind, name) in [("mount", "mnt"), ("pid", "pid")] {
        bundle.namespace(kind, Some(std::path::Path::new(&format!("/proc/{}/ns/{name}", first.pid()))));
    }
    bundle.script("echo from-b > /tmp/b; sleep 600");
    bundle.edit(|c| {
        c["root"] = json!({ "path": "/", "readonly": false });
        c["mounts"] = json!([tmpfs("/tmp", &["size=1m"])]);
        c["linux"]["maskedPaths"] = json!([]);
        c["linux"]["readonlyPaths"] = json!([]);
    });
    let second = Container::new(&runtime, &bundle, &id);
    second.run(&["--detach"]).success();
    let seen = berth_e2e::poll::until(berth_e2e::poll::STATE_TIMEOUT, || {
        let out = runtime.exec(["exec", first.id(), "cat", "/tmp/b"]);
        out.status.success().then(|| out.stdout.clone())
    });
    assert_eq!(seen.as_deref(), Some("from-b\n"), "the joined container's tmpfs is not in the first one's namespace");
}
