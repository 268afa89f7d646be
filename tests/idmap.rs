//! Idmapped mounts (runc's tests/integration/idmap.bats): `mounts[].uidMappings` /
//! `gidMappings`, the "idmap" and "ridmap" options with and without a user namespace, berth's
//! idmapped rootfs, and which filesystems this kernel refuses, in one line naming them.
//!
//! runc 1.1 has no idmapped mounts (1.2 has): against it these tests say so and stop.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use berth_e2e::binaries::deliberate_difference;
use berth_e2e::{fixture, run_foreground, run_script, Bundle, Container, TempDir};
use serde_json::{json, Value};

const NO_IDMAP_IN_RUNC_1_1: &str = "runc 1.1 ignores mounts[].uidMappings and the idmap options (runc 1.2 has idmapped mounts)";

/// A new user namespace mapping container 0.. to host 100000.., with the rootfs handed over.
fn with_userns(bundle: &mut Bundle) {
    bundle.namespace("user", None);
    bundle.edit(|c| {
        c["linux"]["uidMappings"] = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
        c["linux"]["gidMappings"] = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
        c["root"]["readonly"] = json!(false);
    });
    let status = std::process::Command::new("chown").args(["-R", "-h", "100000:100000"]).arg(bundle.rootfs()).status().unwrap();
    assert!(status.success());
}

/// A bind mount of `source` at `destination` with `extra` merged in.
fn idmapped(source: &Path, destination: &str, extra: Value) -> Value {
    let mut m = json!({ "source": source, "destination": destination, "options": ["bind"] });
    for (k, v) in extra.as_object().expect("an object") {
        m[k] = v.clone();
    }
    m
}

fn maps(uid: (u32, u32, u32), gid: (u32, u32, u32)) -> Value {
    json!({
        "uidMappings": [{ "containerID": uid.0, "hostID": uid.1, "size": uid.2 }],
        "gidMappings": [{ "containerID": gid.0, "hostID": gid.1, "size": gid.2 }],
    })
}

/// A directory of files with the owners runc's idmap.bats gives "source-multi1" / "-multi2".
fn owned_files(dir: &Path, owners: [(u32, u32); 3]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, (uid, gid)) in ["foo.txt", "bar.txt", "baz.txt"].into_iter().zip(owners) {
        let path = dir.join(name);
        std::fs::write(&path, "").unwrap();
        std::os::unix::fs::chown(&path, Some(uid), Some(gid)).unwrap();
    }
}

/// A host bind mount the test makes (to give a source submounts), detached on drop.
struct HostMount(PathBuf);

impl HostMount {
    fn bind(source: &Path, target: &Path) -> HostMount {
        let (s, t) = (CString::new(source.as_os_str().as_bytes()).unwrap(), CString::new(target.as_os_str().as_bytes()).unwrap());
        // SAFETY: both strings are NUL-terminated and alive for the call.
        let rc = unsafe { libc::mount(s.as_ptr(), t.as_ptr(), std::ptr::null(), libc::MS_BIND, std::ptr::null()) };
        assert_eq!(rc, 0, "bind {} on {}: {}", source.display(), target.display(), std::io::Error::last_os_error());
        HostMount(target.to_owned())
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = berth_e2e::leftovers::detach(&self.0);
    }
}

/// runc's mnt-subtree: top-level files owned 100:211, 200:222, 300:233, and two submounts
/// whose files are owned 100..102 and 200..202.
fn subtree(dir: &TempDir) -> (PathBuf, [HostMount; 2]) {
    let root = dir.path().join("mnt-subtree");
    owned_files(&root, [(100, 211), (200, 222), (300, 233)]);
    owned_files(&dir.path().join("multi1"), [(100, 211), (101, 222), (102, 233)]);
    owned_files(&dir.path().join("multi2"), [(200, 211), (201, 222), (202, 233)]);
    std::fs::create_dir(root.join("multi1")).unwrap();
    std::fs::create_dir(root.join("multi2")).unwrap();
    let m1 = HostMount::bind(&dir.path().join("multi1"), &root.join("multi1"));
    let m2 = HostMount::bind(&dir.path().join("multi2"), &root.join("multi2"));
    (root, [m1, m2])
}

const STAT_TREE: &str = "for f in /tmp/tree/foo.txt /tmp/tree/bar.txt /tmp/tree/baz.txt /tmp/tree/multi1/foo.txt /tmp/tree/multi1/bar.txt /tmp/tree/multi2/baz.txt; do stat -c %n=%u:%g $f; done";

fn overflow() -> String {
    let read = |f: &str| std::fs::read_to_string(format!("/proc/sys/kernel/{f}")).unwrap().trim().to_owned();
    format!("{}:{}", read("overflowuid"), read("overflowgid"))
}

#[test]
fn simple_idmap_mount_with_and_without_a_user_namespace() {
    if deliberate_difference(NO_IDMAP_IN_RUNC_1_1) {
        return;
    }
    let dir = TempDir::new("idmap-simple");
    std::fs::write(dir.path().join("foo.txt"), "").unwrap();
    let mount = idmapped(dir.path(), "/tmp/m", maps((0, 100000, 65536), (0, 100000, 65536)));
    let out = run_script("idmap-simple-userns", "stat -c %u:%g /tmp/m/foo.txt", |b| {
        with_userns(b);
        b.add_mount(mount.clone());
    });
    assert_eq!(out, "0:0\n", "on-disk root shows as the container's root");
    let out = run_script("idmap-simple-host", "stat -c %u:%g /tmp/m/foo.txt", |b| {
        b.add_mount(mount.clone());
    });
    assert_eq!(out, "100000:100000\n", "without a user namespace the container sees the mapped ids");
}

#[test]
fn writing_through_an_idmap_mount_stores_the_on_disk_ids() {
    if deliberate_difference(NO_IDMAP_IN_RUNC_1_1) {
        return;
    }
    let dir = TempDir::new("idmap-write");
    let mount = idmapped(dir.path(), "/tmp/m", maps((0, 100000, 65536), (0, 100000, 65536)));
    let out = run_script("idmap-write-userns", "touch /tmp/m/bar && stat -c %u:%g /tmp/m/bar", |b| {
        with_userns(b);
        b.add_mount(mount.clone());
    });
    assert_eq!(out, "0:0\n");
    let meta = std::fs::metadata(dir.path().join("bar")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (0, 0), "the container's root writes on-disk id 0 through the mapping");
    // Without a user namespace, host root (0) has no id on the mount: the kernel refuses.
    let outcome = run_foreground("idmap-write-host", |b| {
        b.add_mount(mount.clone());
        b.script("touch /tmp/m/baz");
    });
    outcome.failure();
    assert!(outcome.stderr.contains("Value too large"), "EOVERFLOW expected:\n{outcome}");
}

#[test]
fn idmap_maps_the_top_of_a_tree_and_ridmap_every_mount_of_it() {
    if deliberate_difference(NO_IDMAP_IN_RUNC_1_1) {
        return;
    }
    let dir = TempDir::new("idmap-tree");
    let (root, _mounts) = subtree(&dir);
    let ranges = json!({
        "uidMappings": [
            { "containerID": 100, "hostID": 101000, "size": 3 },
            { "containerID": 200, "hostID": 102000, "size": 3 },
            { "containerID": 300, "hostID": 103000, "size": 3 }
        ],
        "gidMappings": [
            { "containerID": 210, "hostID": 101100, "size": 10 },
            { "containerID": 220, "hostID": 102200, "size": 10 },
            { "containerID": 230, "hostID": 103300, "size": 10 }
        ]
    });
    let run = |tag: &str, option: &str| {
        let mut mount = idmapped(&root, "/tmp/tree", ranges.clone());
        mount["options"] = json!(["rbind", option]);
        run_script(tag, STAT_TREE, |b| {
            with_userns(b);
            b.add_mount(mount);
        })
    };
    let top = ["/tmp/tree/foo.txt=1000:1101", "/tmp/tree/bar.txt=2000:2202", "/tmp/tree/baz.txt=3000:3303"];
    let out = run("idmap-tree-idmap", "idmap");
    let of = overflow();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..3], top, "{out}");
    for line in &lines[3..] {
        assert!(line.ends_with(&format!("={of}")), "submounts stay unmapped with idmap:\n{out}");
    }
    let out = run("idmap-tree-ridmap", "ridmap");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..3], top, "{out}");
    assert_eq!(lines[3..], ["/tmp/tree/multi1/foo.txt=1000:1101", "/tmp/tree/multi1/bar.txt=1001:2202", "/tmp/tree/multi2/baz.txt=2002:3303"], "{out}");
}

#[test]
fn idmap_without_mappings_uses_the_containers_user_namespace() {
    if deliberate_difference(NO_IDMAP_IN_RUNC_1_1) {
        return;
    }
    let dir = TempDir::new("idmap-implied");
    let (root, _mounts) = subtree(&dir);
    let out = run_script("idmap-implied", STAT_TREE, |b| {
        with_userns(b);
        b.add_mount(json!({ "source": root, "destination": "/tmp/tree", "options": ["rbind", "ridmap"] }));
    });
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        ["/tmp/tree/foo.txt=100:211", "/tmp/tree/bar.txt=200:222", "/tmp/tree/baz.txt=300:233", "/tmp/tree/multi1/foo.txt=100:211", "/tmp/tree/multi1/bar.txt=101:222", "/tmp/tree/multi2/baz.txt=202:233"],
        "{out}"
    );
}

#[test]
fn idmap_without_mappings_in_a_joined_user_namespace() {
    if deliberate_difference(NO_IDMAP_IN_RUNC_1_1) {
        return;
    }
    let (runtime, mut bundle, id) = fixture("idmap-join-target");
    with_userns(&mut bundle);
    bundle.args(&["sleep", "600"]);
    let target = Container::new(&runtime, &bundle, &id);
    target.run(&["--detach"]).success();
    let userns = format!("/proc/{}/ns/user", target.pid());
    let dir = TempDir::new("idmap-join");
    owned_files(dir.path(), [(100, 211), (200, 222), (300, 233)]);
    let out = run_script("idmap-join", "stat -c %u:%g /tmp/m/foo.txt /tmp/m/baz.txt", |b| {
        let status = std::process::Command::new("chown").args(["-R", "-h", "100000:100000"]).arg(b.rootfs()).status().unwrap();
        assert!(status.success());
        b.namespace("user", Some(Path::new(&userns)));
        b.add_mount(json!({ "source": dir.path(), "destination": "/tmp/m", "options": ["bind", "idmap"] }));
    });
    assert_eq!(out, "100:211\n300:233\n");
}

#[test]
fn an_idmapped_rootfs_needs_no_chown() {
    if deliberate_difference("the rootfs idmap annotation is berth's own") {
        return;
    }
    // The rootfs stays owned by on-disk root; the container's root (host 100000) owns it
    // through the mapping, and what it writes is stored as on-disk root.
    let (runtime, mut bundle, id) = fixture("idmap-rootfs");
    bundle.namespace("user", None);
    bundle.edit(|c| {
        c["linux"]["uidMappings"] = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
        c["linux"]["gidMappings"] = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
        c["root"]["readonly"] = json!(false);
        c["annotations"] = json!({ "org.berth.rootfs.idmap": "ridmap" });
    });
    bundle.script("stat -c %u:%g /bin/busybox /etc; mkdir /made && stat -c %u:%g /made");
    let outcome = Container::new(&runtime, &bundle, &id).run(&[]);
    outcome.success();
    assert_eq!(outcome.stdout, "0:0\n0:0\n0:0\n", "{outcome}");
    let meta = std::fs::metadata(bundle.rootfs().join("made")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (0, 0), "stored as on-disk root");
    assert_eq!(std::fs::metadata(bundle.rootfs().join("bin/busybox")).unwrap().uid(), 0, "the rootfs was not chowned");
}

#[test]
fn filesystems_this_kernel_idmaps_and_one_it_refuses() {
    if deliberate_difference(NO_IDMAP_IN_RUNC_1_1) {
        return;
    }
    // ext4 (the bundle's disk) and tmpfs (/dev/shm, Linux 6.3+) take an idmap; overlay
    // (idmapped layers yes, an idmapped overlay mount no) and proc refuse one, and berth
    // says so naming the mount and the filesystem.
    let shm = tempfile_in("/dev/shm", "idmap-tmpfs");
    std::fs::write(shm.join("foo.txt"), "").unwrap();
    let ext4 = TempDir::new("idmap-ext4");
    std::fs::write(ext4.path().join("foo.txt"), "").unwrap();
    let overlay = TempDir::new("idmap-overlay");
    for d in ["lower", "upper", "work", "merged"] {
        std::fs::create_dir(overlay.path().join(d)).unwrap();
    }
    std::fs::write(overlay.path().join("lower/foo.txt"), "").unwrap();
    let merged = overlay.path().join("merged");
    let _overlay_mount = mount_overlay(overlay.path());
    let mapping = maps((0, 100000, 65536), (0, 100000, 65536));
    let out = run_script("idmap-fs", "stat -c %u:%g /tmp/ext4/foo.txt /tmp/tmpfs/foo.txt", |b| {
        b.add_mount(idmapped(ext4.path(), "/tmp/ext4", mapping.clone()));
        b.add_mount(idmapped(&shm, "/tmp/tmpfs", mapping.clone()));
    });
    assert_eq!(out, "100000:100000\n100000:100000\n");
    for (source, name) in [(merged.as_path(), "overlay filesystem"), (Path::new("/proc"), "proc filesystem")] {
        let (runtime, mut bundle, id) = fixture("idmap-refused");
        bundle.add_mount(idmapped(source, "/tmp/refused", mapping.clone()));
        let outcome = Container::new(&runtime, &bundle, &id).run(&[]);
        outcome.failure();
        outcome.one_line_error_naming(&["mounts[7]", &source.display().to_string(), name, "MOUNT_ATTR_IDMAP"]);
        assert!(runtime.exec(["list", "-q"]).stdout.trim().is_empty(), "a refused container was left behind");
    }
    let _ = std::fs::remove_dir_all(&shm);
}

/// A fresh directory under `base` (for a tmpfs-backed source).
fn tempfile_in(base: &str, tag: &str) -> PathBuf {
    let path = Path::new(base).join(format!("berth-e2e-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    std::fs::create_dir(&path).unwrap();
    path
}

fn mount_overlay(dir: &Path) -> HostMount {
    let data = format!("lowerdir={0}/lower,upperdir={0}/upper,workdir={0}/work", dir.display());
    let (data, target) = (CString::new(data).unwrap(), CString::new(dir.join("merged").as_os_str().as_bytes()).unwrap());
    // SAFETY: every string is NUL-terminated and alive for the call.
    let rc = unsafe { libc::mount(c"overlay".as_ptr(), target.as_ptr(), c"overlay".as_ptr(), 0, data.as_ptr().cast()) };
    assert_eq!(rc, 0, "mount overlay: {}", std::io::Error::last_os_error());
    HostMount(dir.join("merged"))
}

#[test]
fn bad_idmap_configs_are_refused_naming_the_field() {
    if deliberate_difference(NO_IDMAP_IN_RUNC_1_1) {
        return;
    }
    let dir = TempDir::new("idmap-bad");
    let cases: [(&str, Value); 3] = [
        ("mounts[7].options", json!({ "source": dir.path(), "destination": "/tmp/m", "options": ["bind", "idmap"] })),
        ("mounts[7].gidMappings", idmapped(dir.path(), "/tmp/m", json!({ "uidMappings": [{ "containerID": 0, "hostID": 1, "size": 1 }] }))),
        ("mounts[7].options", json!({ "type": "tmpfs", "source": "tmpfs", "destination": "/tmp/m", "options": ["idmap"] })),
    ];
    for (field, mount) in cases {
        let (runtime, mut bundle, id) = fixture("idmap-bad");
        assert_eq!(bundle.config()["mounts"].as_array().unwrap().len(), 7, "the example bundle's mounts changed");
        bundle.add_mount(mount);
        let outcome = Container::new(&runtime, &bundle, &id).run(&[]);
        outcome.failure();
        outcome.one_line_error_naming(&[field]);
    }
}
