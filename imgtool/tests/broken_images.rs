//! Broken images, bad references and bad options (issue 12): berth-img
//! verifies what an image claims. Each case is refused with one line naming
//! what is wrong, and the store is byte for byte as it was (every file's
//! content, mode, owner and mtime hashed before and after).

mod support;

use std::fs;
use std::path::Path;

use serde_json::json;
use support::{
    gzip, layer, sha256_hex, snapshot, write_layout_raw, Item, LayerBlob as Layer, Scratch,
};

const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// A gzip layer whose diff_id is right.
fn gzip_layer(tar: &[u8]) -> Layer {
    Layer {
        blob: gzip(tar),
        media_type: OCI_LAYER_GZIP,
        diff_id: format!("sha256:{}", sha256_hex(tar)),
    }
}

fn small_tar() -> Vec<u8> {
    layer(&[
        Item::Dir("etc", 0o755),
        Item::File("etc/hostname", b"box\n", 0o644),
    ])
}

/// Write an OCI layout by hand (any `oci-layout` version, any `ref.name`).
fn write_oci(dir: &Path, layers: &[Layer], ref_name: Option<&str>, version: &str) -> String {
    write_layout_raw(dir, layers, &json!({ "Cmd": ["sh"] }), ref_name, version)
}

/// Write a legacy `docker save` archive of one uncompressed layer.
fn write_docker_archive(path: &Path, tar: &[u8], diff_id: &str, repo_tags: &[&str]) {
    let config = json!({ "architecture": "amd64", "os": "linux", "config": { "Cmd": ["sh"] },
                         "rootfs": { "type": "layers", "diff_ids": [diff_id] } });
    let config = serde_json::to_vec(&config).unwrap();
    let config_name = format!("{}.json", sha256_hex(&config));
    let manifest =
        json!([{ "Config": config_name, "RepoTags": repo_tags, "Layers": ["l1/layer.tar"] }]);
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in [
        (config_name.as_str(), config.as_slice()),
        ("l1/layer.tar", tar),
        ("manifest.json", &serde_json::to_vec(&manifest).unwrap()),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, data).unwrap();
    }
    fs::write(path, builder.into_inner().unwrap()).unwrap();
}

/// A scratch store already holding a good image (`good:1`), so the lock
/// file and layout exist and "unchanged" means something.
fn store_with_good_image() -> Scratch {
    let scratch = Scratch::new();
    let layout = scratch.path().join("good");
    write_oci(
        &layout,
        &[gzip_layer(&small_tar())],
        Some("good:1"),
        "1.0.0",
    );
    scratch.ok(&["import", layout.to_str().unwrap()]);
    scratch
}

/// Run `args`, insist on a one-line refusal mentioning each of `expect`,
/// and on the store being exactly as it was.
fn refused(scratch: &Scratch, args: &[&str], expect: &[&str]) -> String {
    let before = snapshot(&scratch.store(), false);
    let error = scratch.fails(args);
    for word in expect {
        assert!(
            error.contains(word),
            "error should mention {word:?}: {error}"
        );
    }
    assert!(
        !error.trim_end().bytes().any(|b| b < 0x20),
        "control characters in the error: {error:?}"
    );
    support::assert_same_tree(&before, &snapshot(&scratch.store(), false), "store");
    error
}

#[test]
fn a_layer_whose_diff_id_is_wrong_is_refused_in_an_oci_layout() {
    let scratch = store_with_good_image();
    let tar = layer(&[Item::File("x", b"x", 0o644)]);
    let wrong = format!("sha256:{}", sha256_hex(b"not the layer"));
    for media_type in [OCI_LAYER_GZIP, OCI_LAYER] {
        let dir = scratch.path().join(format!("bad-{}", media_type.len()));
        let blob = if media_type == OCI_LAYER {
            tar.clone()
        } else {
            gzip(&tar)
        };
        let bad = Layer {
            blob: blob.clone(),
            media_type,
            diff_id: wrong.clone(),
        };
        write_oci(
            &dir,
            &[gzip_layer(&small_tar()), bad],
            Some("bad:1"),
            "1.0.0",
        );
        let layer_digest = format!("sha256:{}", sha256_hex(&blob));
        refused(
            &scratch,
            &["import", dir.to_str().unwrap()],
            &["diff_id", &layer_digest, &wrong],
        );
    }
}

#[test]
fn a_layer_whose_diff_id_is_wrong_is_refused_in_a_docker_archive() {
    let scratch = store_with_good_image();
    let archive = scratch.path().join("bad.tar");
    let tar = small_tar();
    let wrong = format!("sha256:{}", sha256_hex(b"not the layer"));
    write_docker_archive(&archive, &tar, &wrong, &["bad:1"]);
    refused(
        &scratch,
        &["import", archive.to_str().unwrap()],
        &["diff_id"],
    );
    // The same archive with the right diff_id imports.
    write_docker_archive(
        &archive,
        &tar,
        &format!("sha256:{}", sha256_hex(&tar)),
        &["ok:1"],
    );
    scratch.ok(&["import", archive.to_str().unwrap()]);
}

#[test]
fn an_unknown_image_layout_version_is_refused() {
    let scratch = store_with_good_image();
    let dir = scratch.path().join("future");
    write_oci(&dir, &[gzip_layer(&small_tar())], Some("future:1"), "9.9.9");
    refused(
        &scratch,
        &["import", dir.to_str().unwrap()],
        &["imageLayoutVersion", "9.9.9"],
    );
}

#[test]
fn docker_repo_tags_that_are_not_references_are_refused() {
    let scratch = store_with_good_image();
    let archive = scratch.path().join("tags.tar");
    let tar = small_tar();
    let diff_id = format!("sha256:{}", sha256_hex(&tar));
    write_docker_archive(&archive, &tar, &diff_id, &["Not A/Reference:\u{1b}[31m"]);
    refused(
        &scratch,
        &["import", archive.to_str().unwrap()],
        &["RepoTags", "Not A/Reference"],
    );
}

#[test]
fn a_registry_port_out_of_range_is_refused() {
    let scratch = store_with_good_image();
    refused(&scratch, &["pull", "localhost:99999/x"], &["99999"]);
    // clap reports a bad NAME argument itself (two lines, exit 2), naming the port.
    let before = snapshot(&scratch.store(), false);
    let out = scratch.run(&["tag", "good:1", "localhost:99999/x:1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("port \"99999\""));
    support::assert_same_tree(&before, &snapshot(&scratch.store(), false), "store");
}

#[test]
fn an_empty_blob_declared_gzip_is_refused() {
    let scratch = store_with_good_image();
    let dir = scratch.path().join("empty");
    let empty = Layer {
        blob: Vec::new(),
        media_type: OCI_LAYER_GZIP,
        diff_id: format!("sha256:{}", sha256_hex(b"")),
    };
    write_oci(&dir, &[empty], Some("empty:1"), "1.0.0");
    refused(
        &scratch,
        &["import", dir.to_str().unwrap()],
        &["declares gzip", "empty"],
    );
}

#[test]
fn layers_that_are_not_tar_are_refused_with_their_bytes_escaped() {
    let scratch = store_with_good_image();
    // A "tar" header full of control characters and newlines, then junk.
    let mut junk = b"evil\n\x1b[2Jname\r\x07".repeat(40);
    junk.resize(2048, b'\n');
    let cases = [
        (junk.clone(), OCI_LAYER),
        (gzip(&junk), OCI_LAYER_GZIP),
        (
            b"\x1f\x8b\x08\x00garbage\n\x1b[31m".to_vec(),
            OCI_LAYER_GZIP,
        ),
    ];
    for (i, (blob, media_type)) in cases.into_iter().enumerate() {
        let dir = scratch.path().join(format!("junk{i}"));
        let diff_id = format!("sha256:{}", sha256_hex(&blob));
        write_oci(
            &dir,
            &[Layer {
                blob,
                media_type,
                diff_id,
            }],
            Some("junk:1"),
            "1.0.0",
        );
        refused(
            &scratch,
            &["import", dir.to_str().unwrap()],
            &["layer sha256:"],
        );
    }
}

#[test]
fn bundle_with_a_bad_env_leaves_nothing() {
    let scratch = store_with_good_image();
    let dir = scratch.path().join("bundle");
    for env in ["=x", "NOEQUALS"] {
        refused(
            &scratch,
            &["bundle", "good:1", dir.to_str().unwrap(), "-e", env],
            &[env],
        );
        assert!(!dir.exists(), "bundle dir left behind");
    }
}

#[test]
fn a_bare_ref_name_tag_names_the_image_and_untagged_images_are_listed() {
    let scratch = store_with_good_image();
    // skopeo `oci:DIR:big` and umoci write the bare tag.
    let dir = scratch.path().join("big");
    write_oci(&dir, &[gzip_layer(&small_tar())], Some("big"), "1.0.0");
    let out = scratch.ok(&["import", dir.to_str().unwrap()]);
    assert!(out.starts_with("big:latest "), "{out}");
    let bundle = scratch.path().join("big-bundle");
    scratch.ok(&["bundle", "big", bundle.to_str().unwrap()]);
    assert_eq!(
        fs::read(bundle.join("rootfs/etc/hostname")).unwrap(),
        b"box\n"
    );
    scratch.ok(&["unbundle", bundle.to_str().unwrap()]);

    // No name at all: listed as <none>, reachable by id and digest prefix.
    let other = layer(&[Item::File("other", b"2", 0o644)]);
    let dir = scratch.path().join("nameless");
    let digest = write_oci(&dir, &[gzip_layer(&other)], None, "1.0.0");
    let out = scratch.ok(&["import", dir.to_str().unwrap()]);
    assert!(out.starts_with("<none> "), "{out}");
    let images = scratch.ok(&["images"]);
    let hex = &digest["sha256:".len()..];
    let row = images
        .lines()
        .find(|l| l.contains(&hex[..12]))
        .unwrap_or_else(|| panic!("untagged image not listed: {images}"));
    assert!(row.starts_with("<none>"), "{row}");
    for name in [
        &hex[..8],
        &format!("sha256:{}", &hex[..10]),
        digest.as_str(),
    ] {
        let inspect = scratch.ok(&["inspect", name]);
        assert!(inspect.contains(&digest), "{inspect}");
    }
    let bundle = scratch.path().join("nameless-bundle");
    scratch.ok(&["bundle", &hex[..8], bundle.to_str().unwrap()]);
    assert_eq!(fs::read(bundle.join("rootfs/other")).unwrap(), b"2");
    scratch.ok(&["unbundle", bundle.to_str().unwrap()]);
    scratch.ok(&["tag", &hex[..8], "named:1"]);
    scratch.ok(&["rm", &hex[..8]]);
    assert!(!scratch.ok(&["images"]).contains(&hex[..12]));
}

/// Not broken: an image whose every blob and diff_id is sha512 imports,
/// bundles and is collected like any other.
#[test]
fn an_all_sha512_image_imports() {
    use berth_img::oci::{Algorithm, Hasher};
    let sha512 = |data: &[u8]| {
        let mut hasher = Hasher::new(Algorithm::Sha512);
        hasher.update(data);
        hasher.finish()
    };
    let scratch = store_with_good_image();
    let dir = scratch.path().join("sha512");
    let blobs = dir.join("blobs/sha512");
    fs::create_dir_all(&blobs).unwrap();
    let put = |data: &[u8]| {
        let digest = sha512(data);
        fs::write(blobs.join(digest.hex()), data).unwrap();
        (digest.to_string(), data.len())
    };
    let tar = small_tar();
    let (layer, layer_size) = put(&gzip(&tar));
    let config = json!({ "architecture": "amd64", "os": "linux", "config": { "Cmd": ["sh"] },
                         "rootfs": { "type": "layers", "diff_ids": [sha512(&tar).to_string()] } });
    let (config, config_size) = put(&serde_json::to_vec(&config).unwrap());
    let manifest = json!({ "schemaVersion": 2,
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_size },
        "layers": [{ "mediaType": OCI_LAYER_GZIP, "digest": layer, "size": layer_size }] });
    let (manifest, manifest_size) = put(&serde_json::to_vec(&manifest).unwrap());
    let index = json!({ "schemaVersion": 2, "manifests": [{ "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": manifest, "size": manifest_size, "annotations": { "org.opencontainers.image.ref.name": "wide:1" } }] });
    fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    scratch.ok(&["import", dir.to_str().unwrap()]);
    assert!(scratch
        .store()
        .join("blobs/sha512")
        .join(&manifest[7..])
        .is_file());
    let bundle = scratch.path().join("wide-bundle");
    scratch.ok(&["bundle", "wide:1", bundle.to_str().unwrap()]);
    assert_eq!(
        fs::read(bundle.join("rootfs/etc/hostname")).unwrap(),
        b"box\n"
    );
    scratch.ok(&["unbundle", bundle.to_str().unwrap()]);
    scratch.ok(&[
        "export",
        "wide:1",
        scratch.path().join("wide.tar").to_str().unwrap(),
        "--format",
        "docker",
    ]);
    scratch.ok(&["rm", "wide:1"]);
    scratch.ok(&["gc"]);
    assert_eq!(
        fs::read_dir(scratch.store().join("blobs/sha512"))
            .unwrap()
            .count(),
        0
    );
}
