//! gc never deletes what a live bundle uses: not when the image is gone from
//! the index, not when gc races the bundle being made, and not when a bundle
//! record cannot be read (gc stops instead, naming the record).

mod support;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use support::{berth_img, layer, write_layout, Item, Scratch, TestImage};

fn image() -> TestImage {
    TestImage {
        layers: vec![
            layer(&[
                Item::Dir("etc", 0o755),
                Item::File("big", &[5u8; 300_000], 0o644),
            ]),
            layer(&[Item::File("etc/marker", b"live\n", 0o644)]),
        ],
        gzip: true,
        exec: serde_json::json!({ "Cmd": ["/bin/sh"] }),
    }
}

/// Both layers are visible through the bundle's overlay.
fn assert_rootfs_whole(dir: &Path, what: &str) {
    let rootfs = dir.join("rootfs");
    assert_eq!(
        fs::read(rootfs.join("etc/marker")).ok().as_deref(),
        Some(&b"live\n"[..]),
        "{what}: top layer gone under the overlay"
    );
    assert_eq!(
        fs::read(rootfs.join("big")).map(|b| b.len()).ok(),
        Some(300_000),
        "{what}: base layer gone under the overlay"
    );
}

fn layer_count(scratch: &Scratch) -> usize {
    fs::read_dir(scratch.store().join("layers"))
        .unwrap()
        .count()
}

fn spawn(scratch: &Scratch, args: &[&str]) -> std::process::Child {
    Command::new(berth_img())
        .arg("--store")
        .arg(scratch.store())
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn berth-img")
}

fn wait(child: std::process::Child) -> Output {
    child.wait_with_output().expect("wait for berth-img")
}

#[test]
fn gc_keeps_the_layers_of_a_bundle_whose_image_is_gone() {
    let scratch = Scratch::new();
    let layout = scratch.path().join("layout");
    write_layout(&layout, "img:1", &image());
    scratch.ok(&["import", layout.to_str().unwrap()]);
    let dir = scratch.path().join("bundle");
    scratch.ok(&["bundle", "img:1", dir.to_str().unwrap()]);
    scratch.ok(&["rm", "img:1"]);
    let report = scratch.ok(&["gc"]);
    assert!(report.contains(" 0 unpacked layers"), "{report}");
    assert_eq!(layer_count(&scratch), 2);
    assert_rootfs_whole(&dir, "after gc");
    scratch.ok(&["unbundle", dir.to_str().unwrap()]);
    let report = scratch.ok(&["gc"]);
    assert!(report.contains(" 2 unpacked layers"), "{report}");
    assert_eq!(layer_count(&scratch), 0);
}

#[test]
fn gc_racing_bundle_creation_never_takes_a_mounted_layer() {
    let scratch = Scratch::new();
    let layout = scratch.path().join("layout");
    write_layout(&layout, "img:1", &image());
    let (mut made, mut refused) = (0, 0);
    for round in 0..12 {
        scratch.ok(&["import", layout.to_str().unwrap()]);
        let dir = scratch.path().join(format!("bundle{round}"));
        // The bundle, and at the same time the image removed and collected.
        let bundle = spawn(&scratch, &["bundle", "img:1", dir.to_str().unwrap()]);
        let rm = spawn(&scratch, &["rm", "img:1"]);
        let gcs: Vec<_> = (0..3).map(|_| spawn(&scratch, &["gc"])).collect();
        let bundle = wait(bundle);
        assert!(wait(rm).status.success());
        for gc in gcs {
            let out = wait(gc);
            assert!(out.status.success(), "gc: {out:?}");
        }
        if bundle.status.success() {
            made += 1;
            // A later gc with the image gone keeps the mounted layers too.
            scratch.ok(&["gc"]);
            assert_rootfs_whole(&dir, &format!("round {round}"));
            scratch.ok(&["unbundle", dir.to_str().unwrap()]);
        } else {
            // Lost the race cleanly: the image was gone before bundle looked.
            refused += 1;
            let error = String::from_utf8_lossy(&bundle.stderr);
            assert!(error.contains("not found in the store"), "{error}");
            assert!(!dir.exists(), "round {round}: half-made bundle left");
        }
    }
    scratch.ok(&["gc"]);
    assert_eq!(layer_count(&scratch), 0);
    eprintln!("bundles made {made}, refused after losing the race {refused}");
    assert_eq!(made + refused, 12);
}

#[test]
fn an_unreadable_bundle_record_stops_gc() {
    let scratch = Scratch::new();
    let layout = scratch.path().join("layout");
    write_layout(&layout, "img:1", &image());
    scratch.ok(&["import", layout.to_str().unwrap()]);
    scratch.ok(&["rm", "img:1"]);
    let record = scratch.store().join("bundles").join("0".repeat(64));
    fs::write(&record, b"{not json\n\x1b[31m").unwrap();
    let error = scratch.fails(&["gc"]);
    assert!(error.contains("bundle record"), "{error}");
    assert!(error.contains(&"0".repeat(64)), "{error}");
    assert_eq!(layer_count(&scratch), 2, "gc deleted layers anyway");
    fs::remove_file(&record).unwrap();
    scratch.ok(&["gc"]);
    assert_eq!(layer_count(&scratch), 0);
}
