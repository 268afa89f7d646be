//! berth-img killed part-way (issue 12): import, pull, bundle, gc and rm are
//! SIGKILLed at each named step (`BERTH_IMG_KILL_AT`, debug builds), then
//! the store must be consistent without repair: the next command works, an
//! image is listed only once complete, gc reclaims the staging, and
//! `unbundle` (or `bundle` again to the same path) removes a half-made
//! bundle, mounts included.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::registry::Registry;
use support::{berth_img, layer, write_layout, Item, Scratch, TestImage};

/// The steps of a store transaction (import and pull), in order.
const COMMIT_STEPS: [&str; 5] = [
    "layer:entry-written",
    "commit:unpacked",
    "commit:blobs-moved",
    "commit:layers-moved",
    "store:write-synced",
];

/// Run berth-img with `store`, killed at `step`; insist it was (SIGKILL).
fn killed_at(store: &Path, step: &str, args: &[&str]) {
    let out = Command::new(berth_img())
        .arg("--store")
        .arg(store)
        .args(args)
        .env("BERTH_IMG_KILL_AT", step)
        .output()
        .expect("run berth-img");
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGKILL),
        "berth-img {args:?} was not killed at {step}: {out:?}"
    );
}

fn image(marker: &[u8]) -> TestImage {
    TestImage {
        layers: vec![
            layer(&[
                Item::Dir("etc", 0o755),
                Item::File("etc/base", b"base\n", 0o644),
                Item::File("big", &[1u8; 200_000], 0o644),
            ]),
            layer(&[Item::File("etc/marker", marker, 0o644)]),
        ],
        gzip: true,
        exec: serde_json::json!({ "Cmd": ["/bin/sh"] }),
    }
}

fn names(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Mount points at or below `dir`.
fn mounts_below(dir: &Path) -> Vec<String> {
    let root = dir.to_string_lossy().into_owned();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&root))
        .map(str::to_owned)
        .collect()
}

/// After gc, the store holds exactly what its images use and no staging;
/// `images` lists exactly `listed`.
fn assert_clean_after_gc(scratch: &Scratch, listed: &[&str], step: &str) {
    scratch.ok(&["gc"]);
    let store = scratch.store();
    assert!(
        names(&store.join("tmp")).is_empty(),
        "{step}: staging left after gc: {:?}",
        names(&store.join("tmp"))
    );
    let images = scratch.ok(&["images"]);
    let rows: Vec<&str> = images.lines().skip(1).collect();
    assert_eq!(rows.len(), listed.len(), "{step}: images: {images}");
    for name in listed {
        assert!(images.contains(name), "{step}: {name} not listed: {images}");
    }
    // A second gc finds nothing: the first reclaimed everything unused.
    let again = scratch.ok(&["gc"]);
    assert!(again.starts_with("removed 0 blobs"), "{step}: {again}");
    assert!(again.contains(" 0 unpacked layers"), "{step}: {again}");
}

/// The image `name` is complete: a bundle of it shows both layers' files.
fn assert_bundles(scratch: &Scratch, name: &str, marker: &[u8]) {
    let dir = scratch
        .path()
        .join(format!("check-{}", name.replace([':', '/'], "-")));
    scratch.ok(&["bundle", name, dir.to_str().unwrap()]);
    assert_eq!(fs::read(dir.join("rootfs/etc/base")).unwrap(), b"base\n");
    assert_eq!(fs::read(dir.join("rootfs/etc/marker")).unwrap(), marker);
    assert_eq!(fs::metadata(dir.join("rootfs/big")).unwrap().len(), 200_000);
    scratch.ok(&["unbundle", dir.to_str().unwrap()]);
}

fn store_with(scratch: &Scratch, name: &str, marker: &[u8]) -> PathBuf {
    let layout = scratch
        .path()
        .join(format!("layout-{}", name.replace(':', "-")));
    write_layout(&layout, name, &image(marker));
    scratch.ok(&["import", layout.to_str().unwrap()]);
    layout
}

#[test]
fn import_killed_at_each_step_leaves_the_store_consistent() {
    for step in COMMIT_STEPS {
        let scratch = Scratch::new();
        store_with(&scratch, "good:1", b"good");
        let layout = scratch.path().join("new");
        write_layout(&layout, "new:1", &image(b"new"));
        killed_at(
            &scratch.store(),
            step,
            &["import", layout.to_str().unwrap()],
        );
        // Not listed, and the store works as it is.
        assert!(!scratch.ok(&["images"]).contains("new"), "{step}");
        assert_bundles(&scratch, "good:1", b"good");
        assert_clean_after_gc(&scratch, &["good"], step);
        // The same import then succeeds, completely.
        scratch.ok(&["import", layout.to_str().unwrap()]);
        assert_bundles(&scratch, "new:1", b"new");
    }
}

#[test]
fn pull_killed_at_each_step_leaves_the_store_consistent() {
    let source = Scratch::new();
    let registry = Registry::start(source.path());
    store_with(&source, "src:1", b"pulled");
    let remote = format!("127.0.0.1:{}/kill/img:1", registry.port);
    source.ok(&["push", "src:1", &remote]);
    for step in COMMIT_STEPS {
        let scratch = Scratch::new();
        store_with(&scratch, "good:1", b"good");
        killed_at(&scratch.store(), step, &["pull", &remote]);
        assert!(!scratch.ok(&["images"]).contains("kill/img"), "{step}");
        assert_clean_after_gc(&scratch, &["good"], step);
        scratch.ok(&["pull", &remote]);
        assert_bundles(&scratch, &remote, b"pulled");
    }
}

#[test]
fn bundle_killed_at_each_step_is_removed_by_unbundle_or_a_new_bundle() {
    for step in ["bundle:recorded", "store:write-synced", "bundle:mounted"] {
        for repair in ["unbundle", "bundle"] {
            let scratch = Scratch::new();
            store_with(&scratch, "good:1", b"good");
            let dir = scratch.path().join("bundle");
            killed_at(
                &scratch.store(),
                step,
                &["bundle", "good:1", dir.to_str().unwrap()],
            );
            assert!(dir.exists(), "{step}: nothing was made");
            match repair {
                "unbundle" => {
                    scratch.ok(&["unbundle", dir.to_str().unwrap()]);
                    assert!(!dir.exists(), "{step}: unbundle left {dir:?}");
                }
                _ => {
                    scratch.ok(&["bundle", "good:1", dir.to_str().unwrap()]);
                    assert_eq!(fs::read(dir.join("rootfs/etc/marker")).unwrap(), b"good");
                    scratch.ok(&["unbundle", dir.to_str().unwrap()]);
                }
            }
            assert_eq!(mounts_below(scratch.path()), Vec::<String>::new(), "{step}");
            assert!(
                names(&scratch.store().join("bundles")).is_empty(),
                "{step}/{repair}: bundle record left"
            );
            assert_clean_after_gc(&scratch, &["good"], step);
        }
    }
}

#[test]
fn gc_and_rm_killed_part_way_leave_the_store_consistent() {
    for step in ["gc:blobs-removed", "gc:layer-moved"] {
        let scratch = Scratch::new();
        store_with(&scratch, "good:1", b"good");
        store_with(&scratch, "doomed:1", b"doomed");
        scratch.ok(&["rm", "doomed:1"]);
        killed_at(&scratch.store(), step, &["gc"]);
        assert_bundles(&scratch, "good:1", b"good");
        assert_clean_after_gc(&scratch, &["good"], step);
    }
    let scratch = Scratch::new();
    store_with(&scratch, "good:1", b"good");
    store_with(&scratch, "other:1", b"other");
    killed_at(&scratch.store(), "store:write-synced", &["rm", "other:1"]);
    // The index was not replaced: rm had not happened, and can now.
    assert!(scratch.ok(&["images"]).contains("other"));
    scratch.ok(&["rm", "other:1"]);
    assert_clean_after_gc(&scratch, &["good"], "rm");
}
