//! The store's verbs on a real store: images, inspect, tag, rm, gc, and
//! the layout on disk staying an OCI image layout that umoci can read.

mod support;

use std::fs;

use support::{layer, sh, write_layout, Item, Scratch, TestImage};

fn count(dir: &std::path::Path) -> usize {
    fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn tag_list_inspect_remove_and_gc() {
    let scratch = Scratch::new();
    let layout = scratch.path().join("layout");
    write_layout(
        &layout,
        "one:1",
        &TestImage {
            layers: vec![
                layer(&[Item::File("a", b"a", 0o644)]),
                layer(&[Item::File("b", b"b", 0o644)]),
            ],
            gzip: true,
            exec: serde_json::json!({ "Cmd": ["a"] }),
        },
    );
    let digest = scratch
        .ok(&["import", layout.to_str().unwrap()])
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    assert!(digest.starts_with("sha256:"));
    let id = &digest[7..19];

    scratch.ok(&["tag", "one:1", "two"]);
    let table = scratch.ok(&["images"]);
    assert!(
        table.contains("one")
            && table.contains("two")
            && table.contains("latest")
            && table.contains(id),
        "{table}"
    );
    assert_eq!(
        scratch.ok(&["images", "-q"]).trim(),
        id,
        "one image id for two names"
    );
    let listed: serde_json::Value =
        serde_json::from_str(&scratch.ok(&["images", "--format", "json"])).unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(2));

    // inspect by name, by digest and by id prefix agree.
    let by_name: serde_json::Value =
        serde_json::from_str(&scratch.ok(&["inspect", "two:latest"])).unwrap();
    let by_id: serde_json::Value =
        serde_json::from_str(&scratch.ok(&["inspect", &id[..6]])).unwrap();
    let by_digest: serde_json::Value =
        serde_json::from_str(&scratch.ok(&["inspect", &digest])).unwrap();
    assert_eq!(by_name, by_id);
    assert_eq!(by_name, by_digest);
    assert_eq!(
        by_name["references"],
        serde_json::json!(["one:1", "two:latest"])
    );

    // The store is an OCI layout umoci reads.
    sh(
        "umoci",
        &[
            "unpack",
            "--image",
            &format!("{}:one:1", scratch.store().display()),
            scratch.path().join("umoci").to_str().unwrap(),
        ],
    );
    assert_eq!(
        fs::read(scratch.path().join("umoci/rootfs/b")).unwrap(),
        b"b"
    );

    // rm drops a name; gc keeps what a name still uses.
    assert_eq!(scratch.ok(&["rm", "one:1"]).trim(), "untagged one:1");
    assert!(scratch.ok(&["gc"]).starts_with("removed 0 blobs"));
    assert_eq!(count(&scratch.store().join("layers")), 2);
    // rm by id drops the rest; gc removes blobs and layers.
    assert_eq!(scratch.ok(&["rm", id]).trim(), "untagged two:latest");
    assert!(scratch.ok(&["gc"]).starts_with("removed 4 blobs"));
    assert_eq!(count(&scratch.store().join("layers")), 0);
    assert_eq!(count(&scratch.store().join("blobs/sha256")), 0);
    assert_eq!(scratch.ok(&["images", "-q"]).trim(), "");
    // A malformed name is a usage error (clap's exit code 2), naming the problem.
    let out = scratch.run(&["tag", "two", "Bad Name"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid name"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_multi_arch_index_imports_this_platform_only() {
    let scratch = Scratch::new();
    let layout = scratch.path().join("layout");
    let manifest_digest = write_layout(
        &layout,
        "multi:1",
        &TestImage {
            layers: vec![layer(&[Item::File("amd64", b"x", 0o644)])],
            gzip: true,
            exec: serde_json::json!({ "Cmd": ["a"] }),
        },
    );
    // Wrap the manifest in an index next to another platform's, whose blobs are absent.
    let blobs = layout.join("blobs/sha256");
    let size = fs::metadata(blobs.join(&manifest_digest[7..]))
        .unwrap()
        .len();
    let index = serde_json::json!({ "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        { "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{}", "e".repeat(64)), "size": 100, "platform": { "architecture": "arm64", "os": "linux" } },
        { "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest, "size": size, "platform": { "architecture": "amd64", "os": "linux" } } ] });
    let bytes = serde_json::to_vec(&index).unwrap();
    let hex = support::sha256_hex(&bytes);
    fs::write(blobs.join(&hex), &bytes).unwrap();
    let top = serde_json::json!({ "schemaVersion": 2, "manifests": [{ "mediaType": "application/vnd.oci.image.index.v1+json", "digest": format!("sha256:{hex}"), "size": bytes.len(), "annotations": { "org.opencontainers.image.ref.name": "multi:1" } }] });
    fs::write(layout.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    let out = scratch.ok(&["import", layout.to_str().unwrap()]);
    assert_eq!(
        out.trim(),
        format!("multi:1 {manifest_digest}"),
        "the amd64 manifest is what gets the name"
    );
    let bundle = scratch.path().join("bundle");
    scratch.ok(&["bundle", "--copy", "multi:1", bundle.to_str().unwrap()]);
    assert!(bundle.join("rootfs/amd64").is_file());
}
