//! The container's root: pivot_root (or MS_MOVE + chroot with --no-pivot),
//! root.readonly and rootfsPropagation.

use berth_e2e::binaries::deliberate_difference;
use berth_e2e::inspect::{mount_at, parse_mountinfo};
use berth_e2e::{fixture, run_script, Container};
use serde_json::json;

/// Writes a marker file into the bundle's rootfs so the container can prove
/// it sees this rootfs and not the host's.
fn plant_marker(bundle: &berth_e2e::Bundle) -> String {
    let marker = format!("rootfs of {}", bundle.path().display());
    std::fs::write(bundle.rootfs().join("marker"), &marker).unwrap();
    marker
}

#[test]
fn the_container_sees_its_own_rootfs_after_pivot_root() {
    let (runtime, mut bundle, id) = fixture("rootfs-pivot");
    let marker = plant_marker(&bundle);
    bundle.script("cat /marker; echo; ls /");
    let outcome = Container::new(&runtime, &bundle, &id).run(&[]);
    outcome.success();
    assert!(
        outcome.stdout.starts_with(&format!("{marker}\n")),
        "{outcome}"
    );
    // The host's root is gone: /work (this repo's home) is not in the container.
    assert!(
        !outcome.stdout.lines().any(|l| l == "work" || l == "home"),
        "{outcome}"
    );
}

#[test]
fn no_pivot_moves_the_rootfs_and_chroots() {
    let (runtime, mut bundle, id) = fixture("rootfs-nopivot");
    let marker = plant_marker(&bundle);
    bundle.script("cat /marker; echo; echo $$; ls /");
    let outcome = Container::new(&runtime, &bundle, &id).run(&["--no-pivot"]);
    outcome.success();
    let mut lines = outcome.stdout.lines();
    assert_eq!(lines.next(), Some(marker.as_str()), "{outcome}");
    assert_eq!(lines.next(), Some("1"), "{outcome}");
    assert!(!lines.any(|l| l == "work" || l == "home"), "{outcome}");
}

#[test]
fn readonly_root_refuses_writes() {
    let out = run_script(
        "rootfs-ro",
        "cat /proc/self/mountinfo; echo ---; touch /probe 2>/dev/null && echo writable || echo readonly",
        |_| {},
    );
    let (mountinfo, verdict) = out.split_once("---\n").unwrap();
    assert_eq!(verdict, "readonly\n");
    let root = mount_at(&parse_mountinfo(mountinfo), "/")
        .cloned()
        .expect("a / mount");
    assert!(root.has_option("ro"), "{root:?}");
}

#[test]
fn writable_root_takes_writes() {
    let (runtime, mut bundle, id) = fixture("rootfs-rw");
    bundle.edit(|c| c["root"]["readonly"] = json!(false));
    bundle.script("echo written > /probe && cat /probe");
    let outcome = Container::new(&runtime, &bundle, &id).run(&[]);
    outcome.success();
    assert_eq!(outcome.stdout, "written\n");
    assert_eq!(
        std::fs::read_to_string(bundle.rootfs().join("probe")).unwrap(),
        "written\n"
    );
}

/// The optional propagation fields of `/` inside a container with the given
/// rootfsPropagation.
fn root_propagation(tag: &str, propagation: &str) -> berth_e2e::inspect::MountEntry {
    let out = run_script(tag, "cat /proc/self/mountinfo", |b| {
        b.edit(|c| c["linux"]["rootfsPropagation"] = json!(propagation));
    });
    mount_at(&parse_mountinfo(&out), "/")
        .cloned()
        .expect("a / mount")
}

#[test]
fn rootfs_propagation_shared() {
    if deliberate_difference(
        "runc 1.1.5 leaves the container's / private; crun and berth apply rootfsPropagation to it",
    ) {
        return;
    }
    let root = root_propagation("rootfs-prop-shared", "shared");
    assert!(root.is_shared(), "{root:?}");
}

#[test]
fn rootfs_propagation_private() {
    let root = root_propagation("rootfs-prop-private", "private");
    assert!(!root.is_shared() && !root.is_slave(), "{root:?}");
}

#[test]
fn rootfs_propagation_unbindable() {
    if deliberate_difference(
        "runc 1.1.5 fails to bind an unbindable rootfs (EINVAL); crun and berth make / unbindable",
    ) {
        return;
    }
    let root = root_propagation("rootfs-prop-unbindable", "unbindable");
    assert!(root.optional.iter().any(|o| o == "unbindable"), "{root:?}");
}
