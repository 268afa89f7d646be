//! Layers stored plain, gzip or zstd unpack to the same tree, and a zstd
//! image exports to a docker archive with its layers decompressed.

mod support;

use std::fs;
use std::io::Write;

use support::{layer, sh, snapshot, Item, Scratch};

/// Write a one-layer OCI layout whose layer blob is `blob` of `media_type`.
fn layout_with(dir: &std::path::Path, tar: &[u8], blob: &[u8], media_type: &str) {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let put = |data: &[u8]| {
        let hex = support::sha256_hex(data);
        fs::write(blobs.join(&hex), data).unwrap();
        serde_json::json!({ "digest": format!("sha256:{hex}"), "size": data.len() })
    };
    let config = serde_json::json!({ "architecture": "amd64", "os": "linux", "config": { "Cmd": ["x"] }, "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{}", support::sha256_hex(tar))] } });
    let mut config_desc = put(&serde_json::to_vec(&config).unwrap());
    config_desc["mediaType"] = "application/vnd.oci.image.config.v1+json".into();
    let mut layer_desc = put(blob);
    layer_desc["mediaType"] = media_type.into();
    let manifest = serde_json::json!({ "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": config_desc, "layers": [layer_desc] });
    let mut manifest_desc = put(&serde_json::to_vec(&manifest).unwrap());
    manifest_desc["mediaType"] = "application/vnd.oci.image.manifest.v1+json".into();
    fs::write(
        dir.join("index.json"),
        serde_json::to_vec(
            &serde_json::json!({ "schemaVersion": 2, "manifests": [manifest_desc] }),
        )
        .unwrap(),
    )
    .unwrap();
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

#[test]
fn plain_gzip_and_zstd_layers_unpack_alike() {
    let scratch = Scratch::new();
    let big: Vec<u8> = (0..400_000u32).map(|i| (i % 251) as u8).collect();
    let tar = layer(&[
        Item::Dir("d", 0o755),
        Item::File("d/big", &big, 0o644),
        Item::Symlink("l", "d/big"),
        Item::File("small", b"s", 0o600),
    ]);
    let mut zstd_blob = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
    zstd_blob.write_all(&tar).unwrap();
    let zstd_blob = zstd_blob.finish().unwrap();
    let mut trees = Vec::new();
    for (name, blob, media) in [
        (
            "plain",
            tar.clone(),
            "application/vnd.oci.image.layer.v1.tar",
        ),
        (
            "gzip",
            support::gzip(&tar),
            "application/vnd.oci.image.layer.v1.tar+gzip",
        ),
        (
            "zstd",
            zstd_blob.clone(),
            "application/vnd.oci.image.layer.v1.tar+zstd",
        ),
    ] {
        let layout = scratch.path().join(format!("layout-{name}"));
        layout_with(&layout, &tar, &blob, media);
        scratch.ok(&["import", layout.to_str().unwrap(), &format!("c:{name}")]);
        let bundle = scratch.path().join(format!("bundle-{name}"));
        scratch.ok(&[
            "bundle",
            "--copy",
            &format!("c:{name}"),
            bundle.to_str().unwrap(),
        ]);
        trees.push((name, snapshot(&bundle.join("rootfs"), false)));
    }
    assert_eq!(
        fs::read(scratch.path().join("bundle-zstd/rootfs/d/big")).unwrap(),
        big
    );
    for (name, tree) in &trees[1..] {
        support::assert_same_tree(&trees[0].1, tree, name);
    }
    // A docker archive carries the zstd layer uncompressed, named by its diff_id.
    let archive = scratch.path().join("zstd.tar");
    scratch.ok(&[
        "export",
        "--format",
        "docker",
        "c:zstd",
        archive.to_str().unwrap(),
    ]);
    let listing = sh("tar", &["-tf", archive.to_str().unwrap()]);
    assert!(
        listing.contains(&format!("blobs/sha256/{}", support::sha256_hex(&tar))),
        "{listing}"
    );
    let inspect = sh(
        "skopeo",
        &["inspect", &format!("docker-archive:{}", archive.display())],
    );
    assert!(inspect.contains(&support::sha256_hex(&tar)), "{inspect}");
}
