//! Bad input: a truncated or corrupt blob, a wrong digest, a missing layer,
//! an unknown reference. Each gives a one-line error naming what is wrong, a
//! non-zero exit, and leaves the store unchanged.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use support::{layer, listing, write_layout, Item, Scratch, TestImage};

/// A good layout (one gzip layer) and the path of its layer blob.
fn good_layout(scratch: &Scratch) -> (PathBuf, PathBuf) {
    let layout = scratch.path().join("layout");
    let tar = layer(&[
        Item::Dir("etc", 0o755),
        Item::File("etc/hostname", b"box\n", 0o644),
        Item::File("data", &[7u8; 100_000], 0o644),
    ]);
    write_layout(
        &layout,
        "good:latest",
        &TestImage {
            layers: vec![tar.clone()],
            gzip: true,
            exec: serde_json::json!({ "Cmd": ["sh"] }),
        },
    );
    let blob = layout
        .join("blobs/sha256")
        .join(support::sha256_hex(&support::gzip(&tar)));
    assert!(blob.is_file());
    (layout, blob)
}

fn assert_refused(scratch: &Scratch, layout: &Path, expect: &str) {
    scratch.ok(&["images"]);
    let before = listing(&scratch.store());
    let error = scratch.fails(&["import", layout.to_str().unwrap()]);
    assert!(
        error.contains(expect),
        "error should mention {expect:?}: {error}"
    );
    assert_eq!(listing(&scratch.store()), before, "store changed");
    assert!(!scratch.ok(&["images"]).contains("good"));
}

#[test]
fn truncated_blob_is_refused() {
    let scratch = Scratch::new();
    let (layout, blob) = good_layout(&scratch);
    let bytes = fs::read(&blob).unwrap();
    fs::write(&blob, &bytes[..bytes.len() / 2]).unwrap();
    assert_refused(&scratch, &layout, "does not match its descriptor");
}

#[test]
fn corrupt_blob_is_refused() {
    let scratch = Scratch::new();
    let (layout, blob) = good_layout(&scratch);
    let mut bytes = fs::read(&blob).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(&blob, &bytes).unwrap();
    assert_refused(&scratch, &layout, "does not match its descriptor");
}

#[test]
fn wrong_digest_in_manifest_is_refused() {
    let scratch = Scratch::new();
    let (layout, blob) = good_layout(&scratch);
    // The manifest names the layer by a digest its bytes do not have (a file
    // of that name holds them).
    let wrong = "ab".repeat(32);
    fs::copy(&blob, blob.with_file_name(&wrong)).unwrap();
    let mut index: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest_hex = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("blobs/sha256").join(manifest_hex)).unwrap())
            .unwrap();
    manifest["layers"][0]["digest"] = serde_json::json!(format!("sha256:{wrong}"));
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let hex = support::sha256_hex(&bytes);
    fs::write(layout.join("blobs/sha256").join(&hex), &bytes).unwrap();
    index["manifests"][0]["digest"] = serde_json::json!(format!("sha256:{hex}"));
    index["manifests"][0]["size"] = serde_json::json!(bytes.len());
    fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    assert_refused(
        &scratch,
        &layout,
        &format!("blob sha256:{wrong}: content does not match its descriptor"),
    );
}

#[test]
fn missing_layer_is_refused() {
    let scratch = Scratch::new();
    let (layout, blob) = good_layout(&scratch);
    fs::remove_file(&blob).unwrap();
    assert_refused(&scratch, &layout, "is missing");
}

#[test]
fn invalid_digest_string_is_refused() {
    let scratch = Scratch::new();
    let (layout, _) = good_layout(&scratch);
    let index = fs::read_to_string(layout.join("index.json")).unwrap();
    let start = index.find("sha256:").unwrap();
    let bad = format!(
        "{}sha256:../../../../etc/passwd{}",
        &index[..start],
        &index[start + 71..]
    );
    fs::write(layout.join("index.json"), bad).unwrap();
    assert_refused(&scratch, &layout, "64 lowercase hex digits");
}

#[test]
fn corrupt_gzip_stream_is_refused() {
    // The blob matches its digest but is not valid gzip: found while unpacking.
    let scratch = Scratch::new();
    let layout = scratch.path().join("layout");
    let mut gz = support::gzip(&layer(&[Item::File("f", &[1u8; 50_000], 0o644)]));
    let middle = gz.len() / 2;
    gz[middle..middle + 16].fill(0xaa);
    let blobs = layout.join("blobs/sha256");
    write_layout(
        &layout,
        "good:latest",
        &TestImage {
            layers: vec![],
            gzip: true,
            exec: serde_json::json!({}),
        },
    );
    // Rewrite the layout with the broken blob as its one layer.
    fs::remove_dir_all(&layout).unwrap();
    fs::create_dir_all(&blobs).unwrap();
    let hex = support::sha256_hex(&gz);
    fs::write(blobs.join(&hex), &gz).unwrap();
    let config = serde_json::json!({ "architecture": "amd64", "os": "linux", "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{}", "0".repeat(64))] } });
    let config = serde_json::to_vec(&config).unwrap();
    fs::write(blobs.join(support::sha256_hex(&config)), &config).unwrap();
    let manifest = serde_json::json!({ "schemaVersion": 2, "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{}", support::sha256_hex(&config)), "size": config.len() },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": format!("sha256:{hex}"), "size": gz.len() }] });
    let manifest = serde_json::to_vec(&manifest).unwrap();
    fs::write(blobs.join(support::sha256_hex(&manifest)), &manifest).unwrap();
    let index = serde_json::json!({ "schemaVersion": 2, "manifests": [{ "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{}", support::sha256_hex(&manifest)), "size": manifest.len(), "annotations": { "org.opencontainers.image.ref.name": "good:latest" } }] });
    fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    assert_refused(&scratch, &layout, "corrupt");
}

#[test]
fn unknown_reference_is_refused() {
    let scratch = Scratch::new();
    scratch.ok(&["images"]);
    let before = listing(&scratch.store());
    let bundle = scratch.path().join("bundle");
    let error = scratch.fails(&["bundle", "nosuch:image", bundle.to_str().unwrap()]);
    assert!(error.contains("\"nosuch:image\" not found"), "{error}");
    assert!(!bundle.exists(), "bundle dir left behind");
    for verb in [
        &["inspect", "nosuch"][..],
        &["rm", "nosuch"],
        &["tag", "nosuch", "other"],
        &["export", "nosuch", "/tmp/x.tar"],
    ] {
        let error = scratch.fails(verb);
        assert!(error.contains("not found"), "{verb:?}: {error}");
    }
    assert_eq!(listing(&scratch.store()), before);
}

#[test]
fn blob_corrupted_in_the_store_is_caught_on_read() {
    let scratch = Scratch::new();
    let (layout, _) = good_layout(&scratch);
    scratch.ok(&["import", "--no-unpack", layout.to_str().unwrap()]);
    // Corrupt the stored layer blob: bundle must refuse to unpack it.
    let manifest: serde_json::Value =
        serde_json::from_str(&scratch.ok(&["inspect", "good"])).unwrap();
    let digest = manifest["manifest"]["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let blob = scratch.store().join("blobs/sha256").join(&digest);
    let mut bytes = fs::read(&blob).unwrap();
    let last = bytes.len() - 20;
    bytes[last] ^= 1;
    fs::write(&blob, bytes).unwrap();
    let bundle = scratch.path().join("bundle");
    let error = scratch.fails(&["bundle", "good", bundle.to_str().unwrap()]);
    assert!(
        error.contains("does not match its descriptor") || error.contains("corrupt"),
        "{error}"
    );
    assert!(!bundle.exists());
    assert_eq!(
        fs::read_dir(scratch.store().join("layers"))
            .unwrap()
            .count(),
        0,
        "a half layer was left"
    );
    // A flattened copy fails the same way and leaves no half-written bundle.
    let error = scratch.fails(&["bundle", "--copy", "good", bundle.to_str().unwrap()]);
    assert!(
        error.contains("does not match its descriptor") || error.contains("corrupt"),
        "{error}"
    );
    assert!(!bundle.exists());
    assert_eq!(
        fs::read_dir(scratch.store().join("tmp")).unwrap().count(),
        0,
        "staging left behind"
    );
}
